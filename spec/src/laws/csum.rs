//! L2: checksum arithmetic (C1-C5): the fast sum equals the reference at every length and
//! alignment, pieces combine into the whole, the fused copy sums what it copies, incremental
//! updates equal recomputation, pseudo-headers agree, and finished checksums verify.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use vnet_core::csum;

use super::{Core, CoreWith};

/// The bulk sum: what every checksum implementation has, and all L2a asks of a peer. Sums are
/// folded and not complemented, as in `vnet_core::csum`.
pub trait Sum {
    /// The ones'-complement sum of `data` as big-endian 16-bit words (C1).
    fn sum(&self, data: &[u8]) -> u16;
}

/// A sum that can be seeded and stored: what [`finished_verifies`] and [`combine_of_parts`] need.
pub trait Complete: Sum {
    /// Combines the sum `b` of a piece that starts `offset` bytes after the piece summed as `a`.
    fn combine_at(&self, a: u16, b: u16, offset: usize) -> u16;
    /// The value to store in a checksum field.
    fn finish(&self, sum: u16) -> u16;
}

/// vnet-core's whole checksum arithmetic (C1-C5).
pub trait Checksummer: Complete {
    /// Copies `src` into `dst` (same length, else `None`) and returns the sum of `src`.
    fn copy_and_sum(&self, dst: &mut [u8], src: &[u8]) -> Option<u16>;
    /// RFC 1624: the checksum field after one covered 16-bit word changed from `old` to `new` (C5).
    fn update(&self, check: u16, old: u16, new: u16) -> u16;
    /// The IPv4 pseudo-header sum (C2).
    fn pseudo_header_v4(&self, src: [u8; 4], dst: [u8; 4], protocol: u8, l4_len: u16) -> u16;
    /// The IPv6 pseudo-header sum (C2).
    fn pseudo_header_v6(&self, src: &[u8; 16], dst: &[u8; 16], protocol: u8, l4_len: u32) -> u16;
}

/// vnet-core's checksum traits, written once for [`Core`] and every [`CoreWith`]: the bulk sums
/// are the implementation's [`csum::Summer`]'s ([`Core`]'s is [`csum::Portable`], whose sums are
/// `csum::sum` and `csum::copy_and_sum`), the rest is the arithmetic no summer changes.
macro_rules! core_checksums {
    ($(impl[$($g:tt)*] for $t:ty;)+) => {$(
        impl<$($g)*> Sum for $t {
            fn sum(&self, data: &[u8]) -> u16 {
                csum::Summer::sum(self.summer(), data)
            }
        }

        impl<$($g)*> Complete for $t {
            fn combine_at(&self, a: u16, b: u16, offset: usize) -> u16 {
                csum::combine_at(a, b, offset)
            }

            fn finish(&self, sum: u16) -> u16 {
                csum::finish(sum)
            }
        }

        impl<$($g)*> Checksummer for $t {
            fn copy_and_sum(&self, dst: &mut [u8], src: &[u8]) -> Option<u16> {
                csum::Summer::copy_and_sum(self.summer(), dst, src)
            }

            fn update(&self, check: u16, old: u16, new: u16) -> u16 {
                csum::update(check, old, new)
            }

            fn pseudo_header_v4(&self, src: [u8; 4], dst: [u8; 4], protocol: u8, l4_len: u16) -> u16 {
                csum::pseudo_header_v4(src, dst, protocol, l4_len)
            }

            fn pseudo_header_v6(
                &self,
                src: &[u8; 16],
                dst: &[u8; 16],
                protocol: u8,
                l4_len: u32,
            ) -> u16 {
                csum::pseudo_header_v6(src, dst, protocol, l4_len)
            }
        }
    )+};
}

core_checksums! {
    impl[] for Core;
    impl[S: csum::Summer] for CoreWith<S>;
}

/// Whether two checksums mean the same: equal, or the two ones'-complement zeros 0x0000 and
/// 0xFFFF (RFC 1624 §3: an update may give either where recomputation gives the other).
pub fn same_checksum(a: u16, b: u16) -> bool {
    a == b || (a == 0 || a == 0xFFFF) && (b == 0 || b == 0xFFFF)
}

/// L2a: `fast.sum(data) == reference.sum(data)` (C1).
pub fn sum_matches<F: Sum, R: Sum>(
    fast: &F,
    reference: &R,
    data: &[u8],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        fast.sum(data),
        reference.sum(data),
        "length {}, address mod 8 {}",
        data.len(),
        data.as_ptr() as usize % 8
    );
    Ok(())
}

/// L2b: `copy_and_sum` copies exactly and returns the sum of what it copied; a destination of
/// another length gives `None` and is left alone. The destination starts `dst_offset` bytes into
/// a buffer (so that its address takes every alignment: implementations may align their stores),
/// and the bytes around it are left alone too.
pub fn copy_and_sum_is_sum<C: Checksummer>(
    c: &C,
    data: &[u8],
    dst_offset: usize,
) -> Result<(), TestCaseError> {
    const CANARY: u8 = 0x5A;
    let mut buf = vec![CANARY; dst_offset + data.len() + 8];
    let (before, rest) = buf.split_at_mut(dst_offset);
    let (dst, after) = rest.split_at_mut(data.len());
    prop_assert_eq!(c.copy_and_sum(dst, data), Some(c.sum(data)));
    prop_assert_eq!(&dst[..], data);
    prop_assert!(before.iter().chain(after.iter()).all(|&b| b == CANARY));
    let mut longer = vec![CANARY; data.len() + 1];
    prop_assert_eq!(c.copy_and_sum(&mut longer, data), None);
    prop_assert!(longer.iter().all(|&b| b == CANARY));
    Ok(())
}

/// The exhaustive L2 sweep: `check(data, dst_offset)` for every length in `lens` at every source
/// alignment 0..8, over fixed pseudo-random data and over all-0xFF data (the most carries).
/// `dst_offset` is where [`copy_and_sum_is_sum`] should put its destination: every offset in a
/// 64-byte window (a cache line, two 32-byte vector stores) as length and alignment vary.
pub fn sweep(
    lens: impl IntoIterator<Item = usize> + Clone,
    mut check: impl FnMut(&[u8], usize) -> Result<(), TestCaseError>,
) {
    let size = lens.clone().into_iter().max().unwrap_or(0) + 8;
    for data in [fixed_random(size), vec![0xFF; size]] {
        for offset in 0..8 {
            for len in lens.clone() {
                let dst_offset = (len * 7 + offset * 13) % 64;
                if let Err(e) = check(&data[offset..offset + len], dst_offset) {
                    panic!(
                        "length {len}, source offset {offset}, destination offset {dst_offset}: {e}"
                    );
                }
            }
        }
    }
}

/// A fixed pseudo-random buffer (xorshift), so that a sweep is the same on every run.
fn fixed_random(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 56) as u8
        })
        .collect()
}

/// L2c: the sums of the pieces of `data` cut at `cuts` (any offsets, odd ones included), combined
/// left to right at their offsets, equal the sum of the whole (C1, RFC 1071 §2(B)).
pub fn combine_of_parts<C: Complete>(
    c: &C,
    data: &[u8],
    cuts: &[usize],
) -> Result<(), TestCaseError> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&k| k % (data.len() + 1)).collect();
    cuts.sort_unstable();
    let mut acc = 0u16;
    let mut start = 0;
    for end in cuts.into_iter().chain([data.len()]) {
        acc = c.combine_at(acc, c.sum(&data[start..end]), start);
        start = end;
    }
    prop_assert_eq!(acc, c.sum(data));
    Ok(())
}

/// An even offset into `data` chosen by `at`, where a 16-bit word starts; `None` when `data`
/// holds no word.
fn word_at(data: &[u8], at: usize) -> Option<usize> {
    let words = data.len() / 2;
    (words > 0).then(|| (at % words) * 2)
}

/// L2d: changing the 16-bit word at even offset `at` of `data` to `new` and updating the finished
/// checksum incrementally gives the recomputed checksum, up to the two zeros (C5).
pub fn update_is_recomputation<C: Checksummer>(
    c: &C,
    data: &[u8],
    at: usize,
    new: u16,
) -> Result<(), TestCaseError> {
    let Some(at) = word_at(data, at) else {
        return Ok(());
    };
    let old = u16::from_be_bytes([data[at], data[at + 1]]);
    let check = c.finish(c.sum(data));
    let mut changed = data.to_vec();
    changed[at..at + 2].copy_from_slice(&new.to_be_bytes());
    let updated = c.update(check, old, new);
    let recomputed = c.finish(c.sum(&changed));
    prop_assert!(
        same_checksum(updated, recomputed),
        "updated {updated:#06x}, recomputed {recomputed:#06x}"
    );
    Ok(())
}

/// L2e: two implementations agree on both pseudo-headers (C2).
#[allow(clippy::too_many_arguments)]
pub fn pseudo_headers_agree<A: Checksummer, B: Checksummer>(
    a: &A,
    b: &B,
    src4: [u8; 4],
    dst4: [u8; 4],
    src6: &[u8; 16],
    dst6: &[u8; 16],
    protocol: u8,
    l4_len: u32,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        a.pseudo_header_v4(src4, dst4, protocol, l4_len as u16),
        b.pseudo_header_v4(src4, dst4, protocol, l4_len as u16)
    );
    prop_assert_eq!(
        a.pseudo_header_v6(src6, dst6, protocol, l4_len),
        b.pseudo_header_v6(src6, dst6, protocol, l4_len)
    );
    Ok(())
}

/// L2f: a checksum finished over `data` with its 16-bit field at even offset `at` zeroed, then
/// stored there, makes the data verify: it sums to 0xFFFF (C1). The same holds with a
/// pseudo-header sum `seed` folded in first (C3), as TCP and UDP store it.
pub fn finished_verifies<C: Complete>(
    c: &C,
    data: &[u8],
    at: usize,
    seed: u16,
) -> Result<(), TestCaseError> {
    let Some(at) = word_at(data, at) else {
        return Ok(());
    };
    let mut d = data.to_vec();
    d[at..at + 2].fill(0);
    let check = c.finish(c.sum(&d));
    d[at..at + 2].copy_from_slice(&check.to_be_bytes());
    prop_assert_eq!(c.sum(&d), 0xFFFF);

    d[at..at + 2].fill(0);
    let check = c.finish(c.combine_at(seed, c.sum(&d), 0));
    d[at..at + 2].copy_from_slice(&check.to_be_bytes());
    prop_assert_eq!(c.combine_at(seed, c.sum(&d), 0), 0xFFFF);
    Ok(())
}
