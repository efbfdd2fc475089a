//! The fastest checksum this CPU supports, for vnet-core's generic sums ([`Summer`]).
//!
//! vnet-core is `no_std` and cannot ask the CPU what it supports; it provides the AVX2 build of its
//! portable loops ([`vnet_core::csum::avx2`]), and this module decides at run time whether it may
//! be used. The one `unsafe` call is in `sys` ([`Avx2`]'s [`Summer`] impl).

use vnet_core::csum::{Portable, Summer};

#[cfg(target_arch = "x86_64")]
pub use crate::sys::Avx2;

/// The fastest [`Summer`] found at run time: AVX2 where the CPU has it, else the portable build.
///
/// A match per call (per payload, not per word), which the branch predictor learns at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FastSum {
    /// vnet-core's default build (SSE2 on x86-64).
    Portable(Portable),
    /// vnet-core's AVX2 build, on a CPU seen to have AVX2.
    #[cfg(target_arch = "x86_64")]
    Avx2(Avx2),
}

impl FastSum {
    /// Checks the CPU once and picks the fastest sum.
    pub fn detect() -> FastSum {
        #[cfg(target_arch = "x86_64")]
        if let Some(avx2) = Avx2::detect() {
            return FastSum::Avx2(avx2);
        }
        FastSum::Portable(Portable)
    }

    /// A name for logs and bench ids: `"avx2"` or `"portable"`.
    pub fn name(self) -> &'static str {
        match self {
            FastSum::Portable(_) => "portable",
            #[cfg(target_arch = "x86_64")]
            FastSum::Avx2(_) => "avx2",
        }
    }
}

impl Summer for FastSum {
    #[inline]
    fn sum(self, data: &[u8]) -> u16 {
        // Short data (headers) takes the inlined portable path whatever the CPU, before the match.
        if data.len() <= 64 {
            return vnet_core::csum::sum(data);
        }
        match self {
            FastSum::Portable(p) => p.sum(data),
            #[cfg(target_arch = "x86_64")]
            FastSum::Avx2(a) => a.sum(data),
        }
    }

    #[inline]
    fn copy_and_sum(self, dst: &mut [u8], src: &[u8]) -> Option<u16> {
        match self {
            FastSum::Portable(p) => p.copy_and_sum(dst, src),
            #[cfg(target_arch = "x86_64")]
            FastSum::Avx2(a) => a.copy_and_sum(dst, src),
        }
    }
}
