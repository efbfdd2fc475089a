//! A device for tokio (feature `tokio`): [`AsyncDevice`] puts a non-blocking [`Device`] in
//! tokio's `AsyncFd`, so a VPN awaits packets instead of writing its own readiness loop.
//!
//! Every method is the blocking one's twin: wait until the fd is ready, try, and on
//! [`Error::WouldBlock`] clear the readiness and wait again. The one `unsafe` call, tokio's
//! registration (the fd must outlive it), is in `sys`: a `Device` owns its fd for its whole life.
//!
//! ```no_run
//! # async fn run() -> vnet_host::Result<()> {
//! use vnet_host::tokio::AsyncDevice;
//! use vnet_host::{DeviceKind, Options};
//! let dev = AsyncDevice::new(Options::new(DeviceKind::Tun).name("vpn0").open()?)?;
//! let mut buf = vec![0u8; 65536];
//! loop {
//!     let (hdr, len) = dev.recv(&mut buf).await?;
//!     dev.send(&hdr, &buf[..len]).await?;
//! }
//! # }
//! ```

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;
use vnet_core::hdr::VnetHdr;

use crate::batch::{self, Coalescer, Received, Room, Spaced};
use crate::{Device, Error, Result};

/// A [`Device`] registered with the tokio reactor. Must be created and used inside a tokio
/// runtime with I/O enabled.
#[derive(Debug)]
pub struct AsyncDevice {
    inner: AsyncFd<Device>,
}

impl AsyncDevice {
    /// Makes `device` non-blocking and registers it for read and write readiness.
    pub fn new(device: Device) -> Result<Self> {
        device.set_nonblocking(true)?;
        let inner =
            crate::sys::register_with_tokio(device, Interest::READABLE | Interest::WRITABLE)
                .map_err(|(_, err)| Error::io("AsyncFd::register_with_interest")(err))?;
        Ok(Self { inner })
    }

    /// The device, for its configuration methods (`name`, `set_offloads`, `set_mtu`, ...).
    pub fn get_ref(&self) -> &Device {
        self.inner.get_ref()
    }

    /// Deregisters and gives the (still non-blocking) device back.
    pub fn into_inner(self) -> Device {
        self.inner.into_inner()
    }

    /// `op` on the device once it is ready for `interest`; on [`Error::WouldBlock`] the
    /// readiness is cleared and awaited again. The one readiness loop of every method here.
    async fn when_ready<T>(
        &self,
        interest: Interest,
        mut op: impl FnMut(&Device) -> Result<T>,
    ) -> Result<T> {
        loop {
            let mut ready = self
                .inner
                .ready(interest)
                .await
                .map_err(Error::io("AsyncFd::ready"))?;
            match op(ready.get_inner()) {
                Err(Error::WouldBlock) => ready.clear_ready(),
                done => return done,
            }
        }
    }

    /// Receives one packet: [`Device::recv`] once the device is readable.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<(VnetHdr, usize)> {
        self.when_ready(Interest::READABLE, |dev| dev.recv(buf))
            .await
    }

    /// Sends one packet: [`Device::send`] once the device is writable (a TUN write seldom
    /// waits: the packet goes into the stack).
    pub async fn send(&self, hdr: &VnetHdr, pkt: &[u8]) -> Result<usize> {
        self.when_ready(Interest::WRITABLE, |dev| dev.send(hdr, pkt))
            .await
    }

    /// [`Device::recv_split`] awaited: one read, a super-packet split into `out`
    /// ([`batch::split`]).
    pub async fn recv_split(&self, buf: &mut [u8], out: &mut [u8]) -> Result<Received> {
        let (hdr, len) = self.recv(buf).await?;
        batch::split(&hdr, buf.get_mut(..len).unwrap_or_default(), out)
    }

    /// One read, its packets placed in `out` with `room` around each for the tunnel's header and
    /// tag ([`batch::split_with_room`]).
    pub async fn recv_split_with_room(
        &self,
        buf: &mut [u8],
        out: &mut [u8],
        room: Room,
    ) -> Result<Spaced> {
        let (hdr, len) = self.recv(buf).await?;
        batch::split_with_room(&hdr, buf.get_mut(..len).unwrap_or_default(), out, room)
    }

    /// [`Device::send_coalesced`] awaited: coalesces `bufs[i][..lens[i]]` and sends the few
    /// packets that result, each with its header. Returns how many writes were made.
    pub async fn send_coalesced<B: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        coalescer: &mut Coalescer,
        bufs: &mut [B],
        lens: &[usize],
    ) -> Result<usize> {
        let outputs = coalescer.coalesce(bufs, lens)?;
        for (hdr, pkt) in batch::merged_packets(outputs, bufs) {
            self.send(hdr, pkt).await?;
        }
        Ok(outputs.len())
    }
}
