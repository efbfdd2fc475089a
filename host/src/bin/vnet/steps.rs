//! The relay's two offload steps, the only places that look inside packets. Both are
//! vnet-core's: `split` is core's gso, `coalesce` is core's gro; this module only adapts them to
//! the relay's buffers. With offloads off neither runs: packets cross one by one.

use std::fmt;

use vnet_core::check::{self, CheckOptions, Offload};
use vnet_core::gro::{self, Gro, GroOptions, Output};
use vnet_core::gso::{self, GsoOptions};
use vnet_core::hdr::VnetHdr;

/// What [`split`] made of one packet read from a TUN with offloads on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Split {
    /// The packet needs nothing: send it as it is.
    Whole,
    /// `count` packets, back to back in the output buffer (`len` bytes), each `stride` bytes
    /// long except the last, which may be shorter: exactly the shape of a UDP_SEGMENT train.
    Train {
        len: usize,
        stride: usize,
        count: usize,
    },
}

/// Why a packet could not be relayed.
#[derive(Debug)]
pub(crate) enum StepError {
    /// core's check refused the header/packet pair.
    Check(check::CheckError),
    /// core's gso refused to segment or to complete the checksum.
    Gso(gso::GsoError),
    /// core's gro refused the batch.
    Gro(gro::GroError),
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Check(err) => write!(f, "check: {err}"),
            Self::Gso(err) => write!(f, "gso: {err}"),
            Self::Gro(err) => write!(f, "gro: {err}"),
        }
    }
}

/// Step 1 (A side): a packet the kernel handed over with offloads on becomes MTU-sized packets
/// with complete checksums (core: check, then gso). A super-packet is segmented into `out`; a
/// packet with a partial checksum has it completed in place and goes on whole.
pub(crate) fn split(hdr: &VnetHdr, pkt: &mut [u8], out: &mut [u8]) -> Result<Split, StepError> {
    match check::check(hdr, pkt, &CheckOptions::default()).map_err(StepError::Check)? {
        Offload::Plain => Ok(Split::Whole),
        Offload::Checksum(req) => {
            gso::complete_checksum(pkt, req).map_err(StepError::Gso)?;
            Ok(Split::Whole)
        }
        Offload::Segment(req) => {
            let packed = gso::segment_packed(&req, pkt, &GsoOptions::default(), out)
                .map_err(StepError::Gso)?;
            Ok(Split::Train {
                len: packed.size,
                stride: packed.segment_size,
                count: packed.count,
            })
        }
    }
}

/// Step 2 (B side): coalesces a batch of received packets into as few packets as the rules
/// allow (core: gro, Linux policy). Packet `i` is the first `lens[i]` bytes of `bufs[i]`; the
/// rest of each buffer is room for a merged packet to grow in place.
#[derive(Debug)]
pub(crate) struct Coalescer {
    gro: Gro,
    out: Vec<Output>,
    owner: Vec<usize>,
}

impl Coalescer {
    /// For batches of at most `batch` packets.
    pub(crate) fn new(batch: usize) -> Self {
        Self {
            gro: Gro::new(GroOptions::default()),
            out: vec![Output::default(); batch],
            owner: vec![0; batch],
        }
    }

    /// Coalesces and returns the packets to write, in order: `out.len` bytes of
    /// `bufs[out.index]` with `out.hdr`, carrying `out.segments` received packets.
    pub(crate) fn coalesce(
        &mut self,
        bufs: &mut [Vec<u8>],
        lens: &[usize],
    ) -> Result<&[Output], StepError> {
        let n = self
            .gro
            .coalesce(bufs, lens, &mut self.out, &mut self.owner)
            .map_err(StepError::Gro)?;
        Ok(&self.out[..n])
    }
}
