//! The relay's two offload steps, the only places that look inside packets. Both are
//! vnet-core's: `split` is core's gso, `coalesce` is core's gro; this module only adapts them to
//! the relay's buffers. With offloads off neither runs: packets cross one by one.

use std::fmt;

use vnet_core::check::{self, CheckOptions, Offload};
use vnet_core::hdr::VnetHdr;

/// What [`split`] made of one packet read from a TUN with offloads on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Split {
    /// The packet needs nothing: send it as it is.
    Whole,
    /// `count` packets, back to back in the output buffer (`len` bytes), each `stride` bytes
    /// long except the last, which may be shorter: exactly the shape of a UDP_SEGMENT train.
    #[allow(dead_code)] // made by core's gso, which has not landed yet
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
    /// The step needs a part of vnet-core that is not there yet.
    Missing(&'static str),
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Check(err) => write!(f, "check: {err}"),
            Self::Missing(what) => write!(f, "{what} is not in vnet-core yet"),
        }
    }
}

/// Step 1 (A side): a packet the kernel handed over with offloads on (a GSO super-packet, or a
/// packet with a partial checksum) becomes MTU-sized packets with complete checksums, written
/// into `out` (core: check, then gso).
/// `pkt` is mutable because completing a checksum happens in place.
pub(crate) fn split(hdr: &VnetHdr, pkt: &mut [u8], _out: &mut [u8]) -> Result<Split, StepError> {
    match check::check(hdr, &*pkt, &CheckOptions::default()).map_err(StepError::Check)? {
        Offload::Plain => Ok(Split::Whole),
        Offload::Checksum(_) | Offload::Segment(_) => Err(StepError::Missing("gso")),
    }
}

/// One packet for the TUN: the first `len` bytes of buffer `index`, with its header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Merged {
    pub(crate) index: usize,
    pub(crate) len: usize,
    pub(crate) hdr: VnetHdr,
    /// Received packets it carries.
    pub(crate) segments: usize,
}

/// Step 2 (B side): coalesces a batch of received packets into as few packets as the rules
/// allow (core: gro). Packet `i` is the first `lens[i]` bytes of `bufs[i]`; the rest of each
/// buffer is room for a merged packet to grow in place.
#[derive(Debug)]
pub(crate) struct Coalescer {
    out: Vec<Merged>,
}

impl Coalescer {
    pub(crate) fn new(batch: usize) -> Self {
        Self {
            out: Vec::with_capacity(batch),
        }
    }

    /// Coalesces and returns the packets to write, in order.
    pub(crate) fn coalesce(
        &mut self,
        bufs: &mut [Vec<u8>],
        lens: &[usize],
    ) -> Result<&[Merged], StepError> {
        // Until core's gro lands, every packet goes on alone with an all-zero header, which is
        // exactly what gro does with a packet it does not merge (G6).
        let _ = bufs;
        self.out.clear();
        self.out
            .extend(lens.iter().enumerate().map(|(index, &len)| Merged {
                index,
                len,
                hdr: VnetHdr::default(),
                segments: 1,
            }));
        Ok(&self.out)
    }
}
