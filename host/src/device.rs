//! A TUN or TAP device with virtio-net headers: open or adopt, configure, read and write.
//!
//! The device always has IFF_NO_PI and IFF_VNET_HDR: every packet is preceded by a vnet header of
//! a fixed size (10, 12, 20 or 24 bytes) and nothing else. Encoding that header is vnet-core's job;
//! this module only moves bytes and talks to the kernel (the T rules of `spec/RULES.md`).

use std::fs::File;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use libc::c_int;
use vnet_core::hdr::{Endian, HdrError, Layout, VnetHdr};

use crate::error::{Error, Result};
use crate::offload::{self, Offloads};
use crate::sys;

/// Whether the device carries IP packets (TUN) or Ethernet frames (TAP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// Layer 3: packets start at the IP header.
    Tun,
    /// Layer 2: packets start at the Ethernet header.
    Tap,
}

impl DeviceKind {
    fn flag(self) -> c_int {
        match self {
            Self::Tun => libc::IFF_TUN,
            Self::Tap => libc::IFF_TAP,
        }
    }
}

/// How to open a device. `Options::new(DeviceKind::Tun).name("vnet0").open()`.
#[derive(Clone, Debug)]
pub struct Options {
    name: String,
    kind: DeviceKind,
    multi_queue: bool,
    napi: bool,
    layout: Layout,
    little_endian: bool,
    nonblocking: bool,
}

impl Options {
    /// Defaults: kernel-chosen name, single queue, no NAPI, 12-byte little-endian header (the
    /// virtio 1.0 layout, T18), blocking.
    pub fn new(kind: DeviceKind) -> Self {
        Self {
            name: String::new(),
            kind,
            multi_queue: false,
            napi: false,
            layout: Layout::V1,
            little_endian: true,
            nonblocking: false,
        }
    }

    /// The interface name (at most 15 bytes). Empty lets the kernel pick `tun%d`/`tap%d`.
    /// Opening an existing name attaches to that device.
    pub fn name(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// IFF_MULTI_QUEUE: each open of the same name adds a queue.
    pub fn multi_queue(mut self, on: bool) -> Self {
        self.multi_queue = on;
        self
    }

    /// IFF_NAPI: written packets go through NAPI, so the kernel's GRO sees them as batches.
    pub fn napi(mut self, on: bool) -> Self {
        self.napi = on;
        self
    }

    /// The vnet header layout, whose size goes to TUNSETVNETHDRSZ (10, 12, 20 or 24 bytes; the
    /// kernel would take any size >= 10, T12, but only these have a meaning).
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// TUNSETVNETLE: little-endian header fields (default on; off means host-native, T13).
    pub fn little_endian(mut self, on: bool) -> Self {
        self.little_endian = on;
        self
    }

    /// O_NONBLOCK: reads and writes return [`Error::WouldBlock`] instead of waiting.
    pub fn nonblocking(mut self, on: bool) -> Self {
        self.nonblocking = on;
        self
    }

    /// Opens the device: shorthand for [`Device::open`].
    pub fn open(&self) -> Result<Device> {
        Device::open(self)
    }
}

/// The IFF_* flags TUNGETFEATURES reports: what this kernel accepts in TUNSETIFF (T5). The
/// kernel silently ignores unknown TUNSETIFF flags, so this is the only way to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features(u32);

impl Features {
    /// The raw IFF_* bits.
    pub fn bits(self) -> u32 {
        self.0
    }
    /// IFF_VNET_HDR is supported.
    pub fn vnet_hdr(self) -> bool {
        self.has(libc::IFF_VNET_HDR)
    }
    /// IFF_MULTI_QUEUE is supported.
    pub fn multi_queue(self) -> bool {
        self.has(libc::IFF_MULTI_QUEUE)
    }
    /// IFF_NAPI is supported.
    pub fn napi(self) -> bool {
        self.has(libc::IFF_NAPI)
    }
    fn has(self, flag: c_int) -> bool {
        self.0 & flag as u32 != 0
    }
}

/// Asks the kernel which TUNSETIFF flags it supports, before opening anything.
pub fn probe_features() -> Result<Features> {
    let file = sys::open_tun().map_err(Error::io("open /dev/net/tun"))?;
    features_of(file.as_fd())
}

fn features_of(fd: BorrowedFd<'_>) -> Result<Features> {
    let bits = sys::tungetfeatures(fd).map_err(Error::ioctl("TUNGETFEATURES"))?;
    Ok(Features(bits))
}

/// An open TUN/TAP queue with a vnet header. Closing it (drop) removes a non-persistent device
/// once its last queue is closed.
#[derive(Debug)]
pub struct Device {
    file: File,
    name: String,
    kind: DeviceKind,
    flags: u32,
    layout: Layout,
    little_endian: bool,
}

impl Device {
    /// Opens `/dev/net/tun` and attaches it (TUNSETIFF with IFF_NO_PI | IFF_VNET_HDR | kind, plus
    /// the options' flags), then sets the header size and endianness.
    pub fn open(options: &Options) -> Result<Self> {
        if !options.name.is_empty() {
            check_name(&options.name)?;
        }
        let mut flags = libc::IFF_NO_PI | libc::IFF_VNET_HDR | options.kind.flag();
        if options.multi_queue {
            flags |= libc::IFF_MULTI_QUEUE;
        }
        if options.napi {
            flags |= libc::IFF_NAPI;
        }
        let file = sys::open_tun().map_err(Error::io("open /dev/net/tun"))?;
        let mut req = sys::ifreq(&options.name, flags);
        sys::tunsetiff(file.as_fd(), &mut req).map_err(Error::ioctl("TUNSETIFF"))?;
        // TUNGETIFF rather than trusting our request: the kernel filled in the name and may
        // have ignored flags it does not know (T5).
        let mut device = Self::from_fd(OwnedFd::from(file))?;
        device.set_layout(options.layout)?;
        device.set_little_endian(options.little_endian)?;
        if options.nonblocking {
            device.set_nonblocking(true)?;
        }
        Ok(device)
    }

    /// Adopts an fd that is already attached to a device (e.g. passed by a container runtime).
    /// Name, kind, header size and endianness are learnt from the kernel (TUNGETIFF,
    /// TUNGETVNETHDRSZ, TUNGETVNETLE). Without IFF_VNET_HDR the fd is refused with
    /// [`Error::NoVnetHeader`].
    ///
    /// IFF_NO_PI can only be checked halfway: TUNGETIFF reports IFF_NOFILTER (set while no
    /// socket filter is attached) in the same bit 0x1000 (T2), so a device *with* a packet-info
    /// prefix and no filter looks like one without. [`Error::PacketInfo`] is returned only when
    /// the bit is clear.
    pub fn from_fd(fd: OwnedFd) -> Result<Self> {
        let file = File::from(fd);
        let req = sys::tungetiff(file.as_fd()).map_err(Error::ioctl("TUNGETIFF"))?;
        let name = sys::ifreq_name(&req);
        let flags = sys::ifreq_flags(&req);
        let kind = if flags & libc::IFF_TAP != 0 {
            DeviceKind::Tap
        } else {
            DeviceKind::Tun
        };
        let flags = flags as u32;
        if flags & libc::IFF_VNET_HDR as u32 == 0 {
            return Err(Error::NoVnetHeader { name, flags });
        }
        if flags & libc::IFF_NO_PI as u32 == 0 {
            return Err(Error::PacketInfo { name, flags });
        }
        let size = sys::tungetvnethdrsz(file.as_fd()).map_err(Error::ioctl("TUNGETVNETHDRSZ"))?;
        let layout = usize::try_from(size)
            .ok()
            .and_then(Layout::from_size)
            .ok_or(Error::UnsupportedHeaderSize(size as usize))?;
        let little_endian =
            sys::tungetvnetle(file.as_fd()).map_err(Error::ioctl("TUNGETVNETLE"))?;
        Ok(Self {
            file,
            name,
            kind,
            flags,
            layout,
            little_endian,
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// TUN or TAP.
    pub fn kind(&self) -> DeviceKind {
        self.kind
    }

    /// The IFF_* flags TUNGETIFF reported when the device was opened or adopted.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// The vnet header layout, as the kernel reports its size.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The vnet header size in bytes: `layout().size()`.
    pub fn vnet_hdr_len(&self) -> usize {
        self.layout.size()
    }

    /// Whether header fields are little-endian (TUNSETVNETLE); otherwise host-native.
    pub fn is_little_endian(&self) -> bool {
        self.little_endian
    }

    /// The byte order of header fields, for vnet-core: `Little` after TUNSETVNETLE, else
    /// `Native` (TUNSETVNETBE, only on kernels with CONFIG_TUN_VNET_CROSS_LE, is not used, T13).
    pub fn endian(&self) -> Endian {
        if self.little_endian {
            Endian::Little
        } else {
            Endian::Native
        }
    }

    /// TUNGETFEATURES (see [`Features`]).
    pub fn features(&self) -> Result<Features> {
        features_of(self.file.as_fd())
    }

    /// TUNSETVNETHDRSZ, then reads it back with TUNGETVNETHDRSZ; a different answer is an error.
    pub fn set_layout(&mut self, layout: Layout) -> Result<()> {
        let len = layout.size();
        let fd = self.file.as_fd();
        sys::tunsetvnethdrsz(fd, len as c_int).map_err(Error::ioctl("TUNSETVNETHDRSZ"))?;
        let actual = sys::tungetvnethdrsz(fd).map_err(Error::ioctl("TUNGETVNETHDRSZ"))? as usize;
        if actual != len {
            return Err(Error::HeaderSizeMismatch {
                requested: len,
                actual,
            });
        }
        self.layout = layout;
        Ok(())
    }

    /// TUNSETVNETLE (T13).
    pub fn set_little_endian(&mut self, on: bool) -> Result<()> {
        sys::tunsetvnetle(self.file.as_fd(), on).map_err(Error::ioctl("TUNSETVNETLE"))?;
        self.little_endian = on;
        Ok(())
    }

    /// Sets or clears O_NONBLOCK. This flag belongs to the open file, so dups share it.
    pub fn set_nonblocking(&self, on: bool) -> Result<()> {
        sys::set_nonblocking(self.file.as_fd(), on).map_err(Error::io("fcntl O_NONBLOCK"))
    }

    /// TUNSETOFFLOAD after [`Offloads::validate`], so that a refused set names the broken rule.
    pub fn set_offloads(&self, offloads: Offloads) -> Result<()> {
        offloads.validate().map_err(Error::InvalidOffloads)?;
        self.set_offloads_unchecked(offloads)
    }

    /// TUNSETOFFLOAD without our own check: the kernel alone decides (EINVAL for a set it
    /// refuses, T9). For probing kernels whose rules differ; prefer [`Device::set_offloads`].
    pub fn set_offloads_unchecked(&self, offloads: Offloads) -> Result<()> {
        sys::tunsetoffload(self.file.as_fd(), offloads.bits())
            .map_err(Error::ioctl("TUNSETOFFLOAD"))
    }

    /// Sets the best offloads the kernel accepts, at most `wanted`: tries `wanted`, and on EINVAL
    /// drops USO, then all segmentation, then everything (as quinn-udp degrades UDP_SEGMENT).
    /// Returns what was set. `wanted` itself must be valid; errors other than EINVAL are returned.
    pub fn negotiate_offloads(&self, wanted: Offloads) -> Result<Offloads> {
        wanted.validate().map_err(Error::InvalidOffloads)?;
        let mut last = None;
        for candidate in offload::fallbacks(wanted) {
            match self.set_offloads_unchecked(candidate) {
                Ok(()) => return Ok(candidate),
                Err(err) if err.raw_os_error() == Some(libc::EINVAL) => last = Some(err),
                Err(err) => return Err(err),
            }
        }
        // Unreachable in practice (NONE is always accepted, T10), but no panic path.
        Err(
            last.unwrap_or(Error::InvalidOffloads(offload::OffloadRule::Unknown(
                wanted,
            ))),
        )
    }

    /// Writes one packet: one writev of the vnet header and the packet. Returns the packet's
    /// length. `hdr` must be exactly [`Device::vnet_hdr_len`] bytes; a short write is an error.
    pub fn write_packet(&self, hdr: &[u8], pkt: &[u8]) -> Result<usize> {
        self.check_hdr_buf(hdr.len())?;
        let bufs = [IoSlice::new(hdr), IoSlice::new(pkt)];
        let expected = hdr.len() + pkt.len();
        let written = sys::retry_if_interrupted(|| sys::writev(self.file.as_fd(), &bufs))
            .map_err(Error::io("writev"))?;
        if written != expected {
            return Err(Error::ShortWrite { written, expected });
        }
        Ok(pkt.len())
    }

    /// Reads one packet: one readv into `hdr_buf` (exactly [`Device::vnet_hdr_len`] bytes) and
    /// `buf`. Returns the packet's length.
    ///
    /// The kernel silently truncates a packet that does not fit (T17). A third, 1-byte iovec
    /// catches that: if it is reached, the packet was longer than `buf` and
    /// [`Error::Truncated`] is returned (the rest of the packet is lost either way).
    pub fn read_packet(&self, hdr_buf: &mut [u8], buf: &mut [u8]) -> Result<usize> {
        self.check_hdr_buf(hdr_buf.len())?;
        let capacity = buf.len();
        let mut canary = [0u8; 1];
        let mut bufs = [
            IoSliceMut::new(hdr_buf),
            IoSliceMut::new(buf),
            IoSliceMut::new(&mut canary),
        ];
        let read = sys::retry_if_interrupted(|| sys::readv(self.file.as_fd(), &mut bufs))
            .map_err(Error::io("readv"))?;
        let Some(len) = read.checked_sub(self.vnet_hdr_len()) else {
            return Err(Error::ShortRead { read });
        };
        if len > capacity {
            return Err(Error::Truncated { capacity });
        }
        Ok(len)
    }

    /// Sends one packet with a typed header: vnet-core encodes `hdr` in the device's layout and
    /// byte order, then [`Device::write_packet`]. A field the layout cannot hold is an error
    /// ([`HdrError::Unrepresentable`]), never silently dropped.
    pub fn send(&self, hdr: &VnetHdr, pkt: &[u8]) -> Result<usize> {
        let mut bytes = [0u8; MAX_HDR_LEN];
        let len = hdr.write(&mut bytes, self.layout, self.endian())?;
        self.write_packet(header_prefix(&mut bytes, len)?, pkt)
    }

    /// Receives one packet into `buf` with [`Device::read_packet`] and decodes its header with
    /// vnet-core. Returns the header and the packet's length.
    pub fn recv(&self, buf: &mut [u8]) -> Result<(VnetHdr, usize)> {
        let mut bytes = [0u8; MAX_HDR_LEN];
        let hdr_buf = header_prefix(&mut bytes, self.vnet_hdr_len())?;
        let len = self.read_packet(hdr_buf, buf)?;
        let (hdr, _) = VnetHdr::read(hdr_buf, self.layout, self.endian())?;
        Ok((hdr, len))
    }

    /// Waits until a packet can be read (`poll`), at most `timeout`; returns false on timeout.
    /// For non-blocking readers that must also notice a stop flag.
    pub fn wait_readable(&self, timeout: std::time::Duration) -> Result<bool> {
        let ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
        sys::poll_readable(self.file.as_fd(), ms).map_err(Error::io("poll"))
    }

    fn check_hdr_buf(&self, actual: usize) -> Result<()> {
        if actual == self.vnet_hdr_len() {
            Ok(())
        } else {
            Err(Error::HeaderBufferSize {
                expected: self.vnet_hdr_len(),
                actual,
            })
        }
    }
}

/// The event-loop integration point: poll/epoll/`AsyncFd` on this fd, then call the read and
/// write methods (which return [`Error::WouldBlock`] in non-blocking mode).
impl AsFd for Device {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for Device {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// Gives the fd back, e.g. to pass it to another process.
impl From<Device> for OwnedFd {
    fn from(device: Device) -> Self {
        device.file.into()
    }
}

/// The largest layout: a stack buffer of this size holds any header.
const MAX_HDR_LEN: usize = Layout::V1HashTunnel.size();

/// The first `len` bytes of a header buffer (`len` is a layout size, so always within it).
fn header_prefix(bytes: &mut [u8; MAX_HDR_LEN], len: usize) -> Result<&mut [u8]> {
    bytes.get_mut(..len).ok_or(Error::from(HdrError::Truncated {
        need: len,
        have: MAX_HDR_LEN,
    }))
}

fn check_name(name: &str) -> Result<()> {
    sys::check_if_name(name).map_err(|reason| Error::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        assert!(check_name("vnet0").is_ok());
        assert!(check_name("a23456789012345").is_ok());
        for bad in ["a234567890123456", "a\0b", "a/b", "a b", "a:b", ".", ".."] {
            assert!(
                matches!(check_name(bad), Err(Error::InvalidName { .. })),
                "{bad:?}"
            );
        }
    }
}
