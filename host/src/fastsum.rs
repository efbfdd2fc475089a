//! The fastest checksum this CPU supports, for vnet-core's generic sums ([`Summer`]).
//!
//! vnet-core is `no_std` and cannot ask the CPU what it supports; it provides AVX2 and AVX-512
//! builds of its portable loops ([`vnet_core::csum::avx2`], [`vnet_core::csum::avx512`]), and
//! this module decides at run time which may be used. The one `unsafe` call per build is in `sys`
//! ([`Avx2`]'s and [`Avx512`]'s [`Summer`] impls).

use vnet_core::csum::{Portable, Summer};

#[cfg(target_arch = "x86_64")]
pub use crate::sys::{Avx2, Avx512};

/// The fastest [`Summer`] found at run time: AVX-512 where the CPU has it, else AVX2, else the
/// portable build.
///
/// A match per call (per payload, not per word), which the branch predictor learns at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FastSum {
    /// vnet-core's default build (SSE2 on x86-64).
    Portable(Portable),
    /// vnet-core's AVX2 build, on a CPU seen to have AVX2.
    #[cfg(target_arch = "x86_64")]
    Avx2(Avx2),
    /// vnet-core's AVX-512 build, on a CPU seen to have AVX-512 F and BW.
    #[cfg(target_arch = "x86_64")]
    Avx512(Avx512),
}

impl FastSum {
    /// Checks the CPU once and picks the fastest sum.
    pub fn detect() -> FastSum {
        #[cfg(target_arch = "x86_64")]
        if let Some(avx512) = Avx512::detect() {
            return FastSum::Avx512(avx512);
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(avx2) = Avx2::detect() {
            return FastSum::Avx2(avx2);
        }
        FastSum::Portable(Portable)
    }

    /// A name for logs and bench ids: `"avx512"`, `"avx2"` or `"portable"`.
    pub fn name(self) -> &'static str {
        match self {
            FastSum::Portable(_) => "portable",
            #[cfg(target_arch = "x86_64")]
            FastSum::Avx2(_) => "avx2",
            #[cfg(target_arch = "x86_64")]
            FastSum::Avx512(_) => "avx512",
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
            #[cfg(target_arch = "x86_64")]
            FastSum::Avx512(a) => a.sum(data),
        }
    }

    #[inline]
    fn copy_and_sum(self, dst: &mut [u8], src: &[u8]) -> Option<u16> {
        match self {
            FastSum::Portable(p) => p.copy_and_sum(dst, src),
            #[cfg(target_arch = "x86_64")]
            FastSum::Avx2(a) => a.copy_and_sum(dst, src),
            #[cfg(target_arch = "x86_64")]
            FastSum::Avx512(a) => a.copy_and_sum(dst, src),
        }
    }
}
