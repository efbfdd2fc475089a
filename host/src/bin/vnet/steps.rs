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
pub(crate) fn split(hdr: &VnetHdr, pkt: &[u8], _out: &mut [u8]) -> Result<Split, StepError> {
    match check::check(hdr, pkt, &CheckOptions::default()).map_err(StepError::Check)? {
        Offload::Plain => Ok(Split::Whole),
        Offload::Checksum(_) | Offload::Segment(_) => Err(StepError::Missing("gso")),
    }
}

/// Step 2 (B side): coalesces a batch of received packets (each a complete IP packet) into as
/// few packets as the rules allow, handing each to `emit` with its vnet header (core: gro).
/// Returns how many packets were emitted.
pub(crate) struct Coalescer {}

impl Coalescer {
    pub(crate) fn new() -> Self {
        Self {}
    }

    pub(crate) fn coalesce<E>(
        &mut self,
        batch: &[&[u8]],
        mut emit: impl FnMut(&VnetHdr, &[u8]) -> Result<(), E>,
    ) -> Result<usize, E> {
        // Until core's gro lands, every packet goes on alone with an all-zero header, which is
        // exactly what gro does with a packet it does not merge (G6).
        for pkt in batch {
            emit(&VnetHdr::default(), pkt)?;
        }
        Ok(batch.len())
    }
}
