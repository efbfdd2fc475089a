//! The bulk of [`avx512::sum`](super::avx512::sum), written with AVX-512 intrinsics rather than
//! left to the vectoriser: one loop and one reduction for every length. The portable loops, built
//! for AVX-512, keep three sets of accumulators (the 256-byte loop's, the 64-byte blocks', the
//! masked tail's) and reduce each; for GRO's 1468-byte segments, summed one by one, that was a
//! sixth of the time (64 of them: 1.48 against 1.24 µs). Still no `unsafe`: the intrinsics are
//! safe to call from a function compiled with their features, and a 64-byte block becomes a
//! vector by zerocopy's transmute.

use core::arch::x86_64::{
    __m512i, _mm512_add_epi64, _mm512_maskz_mov_epi8, _mm512_reduce_add_epi64,
    _mm512_setzero_si512, _mm512_slli_epi64, _mm512_srli_epi64, _mm512_sub_epi64,
};

/// The most bytes one [`sum`] may add: 2^26 vectors, so that no 64-bit lane can overflow
/// (each vector adds less than 2^33 to a lane, and the 8 lanes are added at the end: < 2^62).
pub(super) const BLOCK: usize = 1 << 32;

/// C1: the unfolded sum of `data` (64 to [`BLOCK`] bytes, an odd last byte padded with zero) as
/// native-endian 16-bit words, congruent modulo 0xFFFF to theirs.
///
/// Each 64-byte vector's eight 64-bit words are added whole into one accumulator and shifted
/// right by 32 into a second (add, shift, add), in four pairs of accumulators for four loads in
/// flight. The low halves' sum is then `all - (high << 32)`, exact because it is far below 2^64.
/// The even bytes after the last whole vector are the end of the 64 that finish them, their
/// first bytes (already added) masked off: one more vector, no scalar tail.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
pub(super) fn sum(data: &[u8]) -> u64 {
    let odd = data.len() % 2;
    let (even, last) = data.split_at(data.len() - odd);
    let (vectors, tail) = even.as_chunks::<64>();
    let zero = _mm512_setzero_si512();
    let mut all = [zero; 4];
    let mut high = [zero; 4];
    let (quads, rest) = vectors.as_chunks::<4>();
    for quad in quads {
        for ((all, high), v) in all.iter_mut().zip(&mut high).zip(quad) {
            add(all, high, load(v));
        }
    }
    for v in rest {
        add(&mut all[0], &mut high[0], load(v));
    }
    if let (false, Some(end)) = (tail.is_empty(), even.last_chunk::<64>()) {
        // Keeps the vector's last `tail.len()` bytes (1 to 63 of them).
        let keep = u64::MAX << (64 - tail.len());
        let v = _mm512_maskz_mov_epi8(keep, load(end));
        add(&mut all[1], &mut high[1], v);
    }
    let (all, high) = (total(all), total(high));
    let low = _mm512_sub_epi64(all, _mm512_slli_epi64::<32>(high));
    let lanes = _mm512_reduce_add_epi64(_mm512_add_epi64(low, high)) as u64;
    let odd_byte = last.first().map_or(0, |&b| super::native_high_byte_word(b));
    lanes + u64::from(odd_byte)
}

/// Adds vector `v` to a pair of accumulators: whole into `all`, its words' high halves into `high`.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn add(all: &mut __m512i, high: &mut __m512i, v: __m512i) {
    *all = _mm512_add_epi64(*all, v);
    *high = _mm512_add_epi64(*high, _mm512_srli_epi64::<32>(v));
}

/// The lane-wise sum of four accumulators.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn total([a, b, c, d]: [__m512i; 4]) -> __m512i {
    _mm512_add_epi64(_mm512_add_epi64(a, b), _mm512_add_epi64(c, d))
}

/// A 64-byte block as a vector (an unaligned load).
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn load(block: &[u8; 64]) -> __m512i {
    zerocopy::transmute!(*block)
}
