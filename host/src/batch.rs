//! Batched I/O on a device with offloads on: one read of a GSO super-packet becomes many
//! wire-sized packets (core's `gso`), and a batch of received packets becomes a few super-packets
//! written with their headers (core's `gro`). The packet logic is vnet-core's; this module only
//! moves bytes, in the quinn-udp style of "one syscall, many packets".

use vnet_core::check::{self, CheckOptions, Offload};
use vnet_core::gro::{Gro, GroOptions, LINUX_HELD_FLOWS, Output};
use vnet_core::gso::{self, GsoOptions};
use vnet_core::hdr::VnetHdr;

use crate::fastsum::FastSum;
use crate::{Device, Error, Result};

/// What one read from a device with offloads on gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// One packet of `len` bytes in the read buffer, ready for the wire (a partial checksum, if
    /// it had one, completed in place).
    Whole {
        /// Its length.
        len: usize,
    },
    /// A super-packet split into `count` packets, back to back in the output buffer (`len`
    /// bytes in all), each `stride` bytes long except the last: the shape `sendmsg` takes with
    /// `UDP_SEGMENT`.
    Segments {
        /// Bytes written into the output buffer.
        len: usize,
        /// Length of every packet but the last.
        stride: usize,
        /// How many packets.
        count: usize,
    },
}

/// Makes one (header, packet) pair handed over by the kernel ready for the wire: a super-packet
/// is segmented into `out` (which must hold every segment: 64 KiB plus the headers of each
/// segment is always enough), a partial checksum is completed in place. Checksums use the
/// fastest sum this CPU has ([`FastSum`]).
pub fn split(hdr: &VnetHdr, pkt: &mut [u8], out: &mut [u8]) -> Result<Received> {
    let len = pkt.len();
    let summer = FastSum::detect();
    match check::check(hdr, pkt, &CheckOptions::default()).map_err(Error::Check)? {
        Offload::Plain => Ok(Received::Whole { len }),
        Offload::Checksum(req) => {
            gso::complete_checksum_with(pkt, req, summer).map_err(Error::Gso)?;
            Ok(Received::Whole { len })
        }
        Offload::Segment(req) => {
            let packed = gso::segment_packed_with(&req, pkt, &GsoOptions::default(), out, summer)
                .map_err(Error::Gso)?;
            Ok(Received::Segments {
                len: packed.size,
                stride: packed.segment_size,
                count: packed.count,
            })
        }
    }
}

impl Device {
    /// Batched receive: one read into `buf`; a GSO super-packet is split by core's gso into
    /// `out`, a partial checksum completed in place (see [`split`]). To hand the super-packet up
    /// whole instead, use [`Device::recv`].
    pub fn recv_split(&self, buf: &mut [u8], out: &mut [u8]) -> Result<Received> {
        let (hdr, len) = self.recv(buf)?;
        split(&hdr, buf.get_mut(..len).unwrap_or_default(), out)
    }
}

/// Coalesces batches of received packets with core's gro (Linux policy by default), with its
/// output slots allocated once and the fastest sum this CPU has ([`FastSum`]).
#[derive(Debug)]
pub struct Coalescer {
    gro: Gro<LINUX_HELD_FLOWS, FastSum>,
    out: Vec<Output>,
    owner: Vec<usize>,
}

impl Coalescer {
    /// For batches of at most `batch` packets.
    pub fn new(batch: usize, opts: GroOptions) -> Self {
        Self {
            gro: Gro::with_summer(opts, FastSum::detect()),
            out: vec![Output::default(); batch],
            owner: vec![0; batch],
        }
    }

    /// Coalesces `bufs[i][..lens[i]]` in place and returns the packets to write, in order:
    /// `out.len` bytes of `bufs[out.index]` with `out.hdr`, carrying `out.segments` packets. The
    /// rest of each buffer is room for a merged packet to grow.
    pub fn coalesce<B: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        bufs: &mut [B],
        lens: &[usize],
    ) -> Result<&[Output]> {
        let n = self
            .gro
            .coalesce(bufs, lens, &mut self.out, &mut self.owner)
            .map_err(Error::Gro)?;
        Ok(self.out.get(..n).unwrap_or_default())
    }
}

impl Device {
    /// Batched send: coalesces the batch `bufs[i][..lens[i]]` and writes the few packets that
    /// result, each with its header. Returns how many writes were made.
    pub fn send_coalesced<B: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        coalescer: &mut Coalescer,
        bufs: &mut [B],
        lens: &[usize],
    ) -> Result<usize> {
        let outputs = coalescer.coalesce(bufs, lens)?;
        for o in outputs {
            let pkt = bufs
                .get(o.index)
                .and_then(|b| b.as_ref().get(..o.len))
                .unwrap_or_default();
            self.send(&o.hdr, pkt)?;
        }
        Ok(outputs.len())
    }
}
