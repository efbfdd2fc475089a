//! Internet checksum arithmetic (RFC 1071; rules C1-C5).
//!
//! Sums here are *folded, non-complemented* 16-bit ones'-complement sums of big-endian words, the
//! value a NEEDS_CSUM checksum field holds for the pseudo-header (C3); [`finish`] complements a sum
//! into the value stored in a packet. Free functions for one-shot sums, and [`Checksum`] for data
//! that arrives in pieces of any length (it tracks byte parity, so pieces may start at odd offsets).
//!
//! The bulk sum reads 4-byte native-endian words into a 64-bit accumulator: a ones'-complement sum
//! is independent of byte order up to one final byte swap (RFC 1071 §2(B)), and the plain widening
//! loop is what the compiler vectorises.
//!
//! ```
//! use vnet_core::csum;
//! // An IPv4 header with its checksum field zeroed: the complemented sum goes there (C1) ...
//! let mut ip = [0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
//! let sum = csum::finish(csum::sum(&ip));
//! ip[10..12].copy_from_slice(&sum.to_be_bytes());
//! // ... and then the whole header sums to 0xffff.
//! assert!(csum::verify(&ip));
//! // Changing one 16-bit word updates the checksum incrementally (C5): TTL 64 -> 63.
//! let updated = csum::update(sum, 0x4011, 0x3f11);
//! ip[8] = 63;
//! ip[10..12].copy_from_slice(&updated.to_be_bytes());
//! assert!(csum::verify(&ip));
//! ```

/// The ones'-complement sum of `data` as big-endian 16-bit words, an odd last byte padded with zero
/// (C1). Folded, not complemented.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    to_network_order(fold(sum_native(data)))
}

/// Copies `src` into `dst` (which must have the same length, else nothing is copied and `None` is
/// returned) and returns `sum(src)`, reading each byte once: the fused pass that GSO and GRO use.
///
/// One loop loads an 8-byte word, stores it and adds it to the accumulators of [`sum`]'s bulk
/// loop, which the compiler vectorises as a whole (load, store, three vector operations).
pub fn copy_and_sum(dst: &mut [u8], src: &[u8]) -> Option<u16> {
    copy_and_sum_body(dst, src)
}

/// The body of [`copy_and_sum`], inlined into it and into the AVX2 and AVX-512 variants.
#[inline(always)]
fn copy_and_sum_body(dst: &mut [u8], src: &[u8]) -> Option<u16> {
    if dst.len() != src.len() {
        return None;
    }
    // The bytes before `dst`'s first 32-byte boundary go word by word, so that no vector store
    // below splits a cache line. An even count keeps both parts' 16-bit words aligned alike, so
    // their native-endian sums add.
    let lead = dst.as_ptr().addr().wrapping_neg() % 32;
    let lead = if lead.is_multiple_of(2) {
        lead.min(dst.len())
    } else {
        0
    };
    let (head, mut to) = dst.split_at_mut(lead);
    let (head_src, mut from) = src.split_at(lead);
    let (head_words, head_tail) = head.as_chunks_mut::<8>();
    let (src_words, src_tail) = head_src.as_chunks::<8>();
    let mut acc = sum_tail(src_tail);
    for (d, &s) in head_words.iter_mut().zip(src_words) {
        *d = s;
        acc += u64::from(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]));
        acc += u64::from(u32::from_ne_bytes([s[4], s[5], s[6], s[7]]));
    }
    copy_tail(head_tail, src_tail);
    // Blocks of fewer than 2^31 words keep both running sums of `copy_sum_words` below 2^63.
    const BLOCK: usize = (i32::MAX as usize).saturating_mul(8);
    while from.len() > BLOCK {
        let (block, after) = from.split_at(BLOCK);
        let (out, rest) = to.split_at_mut(BLOCK.min(to.len()));
        acc = add_end_around(
            acc,
            copy_sum_words(out.as_chunks_mut::<8>().0, block.as_chunks::<8>().0),
        );
        (to, from) = (rest, after);
    }
    let (out_words, out_tail) = to.as_chunks_mut::<8>();
    let (words, tail) = from.as_chunks::<8>();
    acc = add_end_around(acc, copy_sum_words(out_words, words));
    copy_tail(out_tail, tail);
    Some(to_network_order(fold(add_end_around(acc, sum_tail(tail)))))
}

/// Copies fewer than 8 bytes (`dst` and `src` of one length) in fixed-size pieces: a byte loop
/// here becomes a `memcpy` call, and `copy_from_slice` keeps a length-check panic path
/// (ARCHITECTURE.md, 'Footprint').
#[inline(always)]
fn copy_tail(dst: &mut [u8], src: &[u8]) {
    let ((quads, rest), (src_quads, src_rest)) = (dst.as_chunks_mut::<4>(), src.as_chunks::<4>());
    if let (Some(d), Some(s)) = (quads.first_mut(), src_quads.first()) {
        *d = *s;
    }
    let ((pairs, last), (src_pairs, src_last)) =
        (rest.as_chunks_mut::<2>(), src_rest.as_chunks::<2>());
    if let (Some(d), Some(s)) = (pairs.first_mut(), src_pairs.first()) {
        *d = *s;
    }
    if let (Some(d), Some(s)) = (last.first_mut(), src_last.first()) {
        *d = *s;
    }
}

/// The complement of a folded sum: the value to store in a checksum field.
pub const fn finish(sum: u16) -> u16 {
    !sum
}

/// Whether data that includes its checksum field verifies (sums to 0xFFFF, C1).
#[inline]
pub fn verify(data: &[u8]) -> bool {
    sum(data) == 0xFFFF
}

/// The ones'-complement sum of two folded sums of adjacent pieces, the second starting at an even
/// offset from the first. See [`combine_at`] for odd offsets.
pub const fn combine(a: u16, b: u16) -> u16 {
    let s = a as u32 + b as u32;
    ((s & 0xFFFF) + (s >> 16)) as u16
}

/// Combines the sum `b` of a piece that starts `offset` bytes after the start of the piece summed
/// as `a`: at an odd offset the piece's bytes sit in the other half of each word, so its sum is
/// byte-swapped first (RFC 1071 §2(B)).
pub const fn combine_at(a: u16, b: u16, offset: usize) -> u16 {
    if offset % 2 == 1 {
        combine(a, b.swap_bytes())
    } else {
        combine(a, b)
    }
}

/// The IPv4 pseudo-header sum (C2): addresses, zero, protocol and the L4 length.
pub fn pseudo_header_v4(src: [u8; 4], dst: [u8; 4], protocol: u8, l4_len: u16) -> u16 {
    let [s0, s1, s2, s3] = src;
    let [d0, d1, d2, d3] = dst;
    let [l0, l1] = l4_len.to_be_bytes();
    sum(&[s0, s1, s2, s3, d0, d1, d2, d3, 0, protocol, l0, l1])
}

/// The IPv6 pseudo-header sum (C2): addresses, the 32-bit L4 length and the final next header.
pub fn pseudo_header_v6(src: &[u8; 16], dst: &[u8; 16], protocol: u8, l4_len: u32) -> u16 {
    let mut tail = [0u8; 8];
    let (len, next) = tail.split_at_mut(4);
    len.copy_from_slice(&l4_len.to_be_bytes());
    if let Some(last) = next.last_mut() {
        *last = protocol;
    }
    combine(combine(sum(src), sum(dst)), sum(&tail))
}

/// A pseudo-header sum without its length (C2), with the length `l4_len` added as IPv6's
/// 32-bit field (for IPv4's 16-bit one the high word is zero, which adds nothing).
pub(crate) const fn with_len(base: u16, l4_len: usize) -> u16 {
    let len = l4_len as u32;
    combine(combine(base, (len >> 16) as u16), len as u16)
}

/// Updates a stored checksum field `check` after a 16-bit word of the covered data changed from
/// `old` to `new` (RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`, C5).
pub const fn update(check: u16, old: u16, new: u16) -> u16 {
    !combine(combine(!check, !old), new)
}

/// A running checksum over data added in pieces (C1, C3).
///
/// ```
/// use vnet_core::csum::{self, Checksum};
/// let data = b"\x45\x00\x00\x1c\xab";
/// let mut running = Checksum::new();
/// running.add(&data[..3]);
/// running.add(&data[3..]);
/// assert_eq!(running.sum(), csum::sum(data));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checksum {
    sum: u16,
    odd: bool,
}

impl Checksum {
    /// An empty sum.
    pub const fn new() -> Checksum {
        Checksum { sum: 0, odd: false }
    }

    /// Starts from a folded sum of data of even length, e.g. a pseudo-header.
    pub const fn from_sum(sum: u16) -> Checksum {
        Checksum { sum, odd: false }
    }

    /// Adds the bytes that follow everything added so far.
    pub fn add(&mut self, data: &[u8]) {
        self.add_sum(sum(data), data.len());
    }

    /// Adds the folded sum of `len` bytes that follow everything added so far.
    pub const fn add_sum(&mut self, piece: u16, len: usize) {
        self.sum = combine_at(self.sum, piece, self.odd as usize);
        self.odd ^= len % 2 == 1;
    }

    /// The folded sum of everything added.
    pub const fn sum(self) -> u16 {
        self.sum
    }

    /// The value to store in the checksum field: the complement of [`Checksum::sum`].
    pub const fn finish(self) -> u16 {
        finish(self.sum)
    }
}

/// A way to compute [`sum`] and [`copy_and_sum`]: what GSO (and any caller that sums payloads)
/// is generic over, so that a host can plug in a variant compiled for its CPU while the hot loop
/// stays monomorphised (one direct call per payload, no indirect call inside the loop).
///
/// An implementation must return exactly what [`sum`] and [`copy_and_sum`] return, for every
/// input: the laws (L2) check [`Portable`] and the AVX2 and AVX-512 variants against the RFC 1071
/// reference.
pub trait Summer: Copy {
    /// [`sum`]: the folded ones'-complement sum of `data` as big-endian 16-bit words.
    fn sum(self, data: &[u8]) -> u16;
    /// [`copy_and_sum`]: copies `src` into `dst` (same length, else `None`) and sums it.
    fn copy_and_sum(self, dst: &mut [u8], src: &[u8]) -> Option<u16>;
}

/// The portable sum: [`sum`] and [`copy_and_sum`] as compiled for the target (a default x86-64
/// build: SSE2). The default everywhere.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Portable;

impl Summer for Portable {
    #[inline]
    fn sum(self, data: &[u8]) -> u16 {
        sum(data)
    }

    #[inline]
    fn copy_and_sum(self, dst: &mut [u8], src: &[u8]) -> Option<u16> {
        copy_and_sum(dst, src)
    }
}

/// A module of [`sum`] and [`copy_and_sum`] built with more target features: the same portable
/// loops, which the compiler vectorises as wide as the features allow, but for the sum's `bulk`
/// (unfolded, any length). No `unsafe`; a function with `#[target_feature]` is safe to define, but
/// calling it on a CPU without the features is undefined behaviour, so only code that has checked
/// the CPU may call it (`vnet-host` does, behind `is_x86_feature_detected!`). `needs` names the
/// features in the docs, `detect` the runtime check.
macro_rules! wider_build {
    ($(#[$doc:meta])* $name:ident, enable: $enable:literal, needs: $needs:literal,
     detect: $detect:literal, bulk: $bulk:expr) => {
        $(#[$doc])*
        #[cfg(target_arch = "x86_64")]
        pub mod $name {
            #[doc = concat!("[`sum`](super::sum), compiled for ", $needs, ".")]
            ///
            /// # Safety
            ///
            #[doc = concat!(
                "Safe to call from code compiled with ", $needs, "; from any other code (the \
                 default x86-64 build), only once the CPU is known to support it (", $detect, ")."
            )]
            #[target_feature(enable = $enable)]
            pub fn sum(data: &[u8]) -> u16 {
                super::to_network_order(super::fold($bulk(data)))
            }

            #[doc = concat!("[`copy_and_sum`](super::copy_and_sum), compiled for ", $needs, ".")]
            ///
            /// # Safety
            ///
            #[doc = concat!("As for [`sum`]: the CPU must support ", $needs, ".")]
            #[target_feature(enable = $enable)]
            pub fn copy_and_sum(dst: &mut [u8], src: &[u8]) -> Option<u16> {
                super::copy_and_sum_body(dst, src)
            }
        }
    };
}

wider_build!(
    /// [`sum`] and [`copy_and_sum`] compiled with AVX2 enabled: vectorised 256 bits wide. For data
    /// of at most 64 bytes [`sum`] is as fast.
    avx2,
    enable: "avx2",
    needs: "AVX2",
    detect: "`is_x86_feature_detected!(\"avx2\")`",
    bulk: super::sum_long_body
);

wider_build!(
    /// [`sum`] and [`copy_and_sum`] compiled with AVX-512 (F and BW) enabled, 512 bits wide (`zmm`
    /// registers): the copy is the portable loop vectorised, the sum one loop of intrinsics with a
    /// single reduction (`lanes512`), which sums GRO's and GSO's 1.4 KB payloads faster. The
    /// AVX-512 target features and intrinsics need Rust 1.89.
    avx512,
    enable: "avx512f,avx512bw",
    needs: "AVX-512 F and BW",
    detect: "`is_x86_feature_detected!(\"avx512f\")` and `(\"avx512bw\")`",
    bulk: super::sum_avx512
);

#[cfg(target_arch = "x86_64")]
mod lanes512;

/// The unfolded sum of `data` for [`avx512::sum`]: short data as [`sum`] has it, the rest through
/// [`lanes512`] in blocks it cannot overflow.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn sum_avx512(data: &[u8]) -> u64 {
    let mut acc = 0;
    for block in data.chunks(lanes512::BLOCK) {
        let sum = if block.len() < SHORT {
            sum_short(block)
        } else {
            lanes512::sum(block)
        };
        acc = add_end_around(acc, sum);
    }
    acc
}

/// Up to this many bytes, a scalar loop beats setting up and reducing vector accumulators.
const SHORT: usize = 64;

/// The unfolded sum of `data` read as native-endian 16-bit words (in 32-bit pairs).
#[inline]
fn sum_native(data: &[u8]) -> u64 {
    if data.len() <= SHORT {
        sum_short(data)
    } else {
        sum_long(data)
    }
}

/// Short data (headers, pseudo-headers), at most [`SHORT`] bytes: straight-line code, no loop.
/// The length picks the pieces (32, 32, 16 and 8 bytes, then the tail of [`sum_tail`]), and each
/// piece is 64-bit words added into a 128-bit accumulator: one add per word on the sum, its carry
/// counted beside it (add, adc), instead of an end-around carry after each word (add, then adc
/// on the same register, two steps of one dependency chain). Folded once, at the end.
#[inline]
fn sum_short(data: &[u8]) -> u64 {
    // Two 32-byte pieces cover all of a short input.
    const _: () = assert!(SHORT == 64);
    let mut acc = 0u128;
    let mut rest = data;
    // One block per piece size, unrolled as written: still no loop.
    macro_rules! pieces {
        ($($n:literal),+) => {$(
            if let Some((piece, after)) = rest.split_first_chunk::<$n>() {
                acc = add_words(acc, piece);
                rest = after;
            }
        )+};
    }
    pieces!(32, 32, 16, 8);
    acc += u128::from(sum_tail(rest));
    add_end_around(acc as u64, (acc >> 64) as u64)
}

/// Adds the native-endian 64-bit words of `piece` (a multiple of 8 bytes) to `acc`. At most
/// eight words of [`sum_short`] are added, so `acc` stays below 2^68.
#[inline(always)]
fn add_words<const N: usize>(mut acc: u128, piece: &[u8; N]) -> u128 {
    for &word in piece.as_chunks::<8>().0 {
        acc += u128::from(u64::from_ne_bytes(word));
    }
    acc
}

/// Fewer than 8 bytes, at an even offset.
#[inline]
fn sum_tail(tail: &[u8]) -> u64 {
    let (quads, rest) = tail.as_chunks::<4>();
    let mut acc = quads
        .first()
        .map_or(0, |&q| u64::from(u32::from_ne_bytes(q)));
    let (pairs, last) = rest.as_chunks::<2>();
    if let Some(&pair) = pairs.first() {
        acc += u64::from(u16::from_ne_bytes(pair));
    }
    if let Some(&byte) = last.first() {
        // The odd byte is the high byte of a big-endian word whose low byte is zero.
        acc += u64::from(native_high_byte_word(byte));
    }
    acc
}

/// Long data: the vectorised loop of [`sum_words`], out of line.
fn sum_long(data: &[u8]) -> u64 {
    sum_long_body(data)
}

/// The body of [`sum_long`] (any length), inlined into it and into the AVX2 and AVX-512 variants.
///
/// The bulk, a multiple of 256 bytes, goes through [`sum_words`], whose vectorised loop then has
/// no scalar remainder to run; the last 0 to 255 bytes go through [`sum_rest`], straight-line
/// code on 64-byte blocks. For a 1468-byte TCP segment (GRO's verify, G1) that is 5 loop rounds,
/// 2 blocks and one masked block, where the loop's scalar remainder was 23 words and a tail.
#[inline(always)]
fn sum_long_body(data: &[u8]) -> u64 {
    // Blocks of fewer than 2^31 words keep both running sums of `sum_words` below 2^63.
    const BLOCK: usize = (i32::MAX as usize).saturating_mul(8);
    let mut acc = 0u64;
    let mut last = data;
    while last.len() > BLOCK {
        let (block, after) = last.split_at(BLOCK);
        let (words, _) = block.as_chunks::<8>();
        acc = add_end_around(acc, sum_words(words));
        last = after;
    }
    let (bulk, rest) = last.as_chunks::<256>();
    acc = add_end_around(acc, sum_words(bulk.as_flattened().as_chunks::<8>().0));
    add_end_around(acc, sum_rest(last, rest))
}

/// Flattened, bytes `kept..kept + 64` of it keep the last `kept` bytes of a 64-byte block.
static TAIL_MASK: [[u8; 64]; 2] = [[0; 64], [0xFF; 64]];

/// The sum of `rest`, the last `rest.len() % 256` bytes of `last`: up to three 64-byte blocks,
/// then the even bytes left (0 to 62) as the 64 bytes that end with them, read from `last` (they
/// overlap bytes already summed) and ANDed with a mask from [`TAIL_MASK`] that zeroes those: one
/// vector load and AND where a scalar tail took a loop. An odd last byte is added on its own.
/// A `last` of fewer than 64 bytes, which has no such block, goes to [`sum_short`].
///
/// Each block's words are added as their two 32-bit halves into eight lanes (at most 4 blocks,
/// so no lane reaches 2^36): one vector per lane array, one horizontal sum at the end.
#[inline(always)]
fn sum_rest(last: &[u8], rest: &[u8]) -> u64 {
    let mut lanes = [0u64; 8];
    let (blocks, tail) = rest.as_chunks::<64>();
    // Unrolled by hand: as a loop, the vectoriser turns the lanes into gathers.
    const ALL: [u8; 64] = [0xFF; 64];
    if let Some(block) = blocks.first() {
        add_halves(&mut lanes, block, &ALL);
    }
    if let Some(block) = blocks.get(1) {
        add_halves(&mut lanes, block, &ALL);
    }
    if let Some(block) = blocks.get(2) {
        add_halves(&mut lanes, block, &ALL);
    }
    let odd = tail.len() % 2;
    let even_end = last.len() - odd;
    let mut acc = 0;
    match (
        last.get(..even_end).and_then(<[u8]>::last_chunk::<64>),
        TAIL_MASK
            .as_flattened()
            .get(tail.len() - odd..)
            .and_then(<[u8]>::first_chunk::<64>),
    ) {
        (Some(block), Some(mask)) => {
            add_halves(&mut lanes, block, mask);
            if let (1, Some(&byte)) = (odd, tail.last()) {
                acc = u64::from(native_high_byte_word(byte));
            }
        }
        _ => acc = sum_short(tail),
    }
    add_end_around(acc, lanes.iter().sum())
}

/// Adds the 32-bit halves of the native-endian words of `block`, ANDed with `mask`'s, to `lanes`.
#[inline(always)]
fn add_halves(lanes: &mut [u64; 8], block: &[u8; 64], mask: &[u8; 64]) {
    let words = block.as_chunks::<8>().0.iter().zip(mask.as_chunks::<8>().0);
    for (lane, (&word, &mask)) in lanes.iter_mut().zip(words) {
        let x = u64::from_ne_bytes(word) & u64::from_ne_bytes(mask);
        *lane += (x & 0xFFFF_FFFF) + (x >> 32);
    }
}

/// The sum of the 32-bit halves of fewer than 2^31 native-endian 64-bit words, each half a pair
/// of 16-bit words (so the result is congruent to their sum modulo 0xFFFF).
///
/// The loop keeps two sums: all words added with wrap-around, and the high halves alone. The low
/// halves' sum is then `all - (high << 32)` modulo 2^64, exact because it is below 2^63. That is
/// three vector operations per 16 bytes (add, shift, add) and no widening shuffle, in a loop the
/// compiler vectorises with whatever vector width the target has (SSE2: two 64-bit lanes).
#[inline(always)]
fn sum_words(words: &[[u8; 8]]) -> u64 {
    let mut all = 0u64;
    let mut high = 0u64;
    for &word in words {
        let x = u64::from_ne_bytes(word);
        all = all.wrapping_add(x);
        high = high.wrapping_add(x >> 32);
    }
    add_end_around(all.wrapping_sub(high << 32), high)
}

/// [`sum_words`] of `src`, stored into `dst` (of the same length) in the same loop.
#[inline(always)]
fn copy_sum_words(dst: &mut [[u8; 8]], src: &[[u8; 8]]) -> u64 {
    let mut all = 0u64;
    let mut high = 0u64;
    // An opaque zero OR-ed into every stored word. Stores of plain loaded words are a memcpy to
    // the optimiser, which then splits the loop into a libc `memcpy` call and a second pass that
    // sums; with it, each word is loaded once, stored and summed in one vectorised loop, at the
    // cost of one OR per vector.
    let zero = core::hint::black_box(0u64);
    for (out, &word) in dst.iter_mut().zip(src) {
        let x = u64::from_ne_bytes(word);
        *out = (x | zero).to_ne_bytes();
        all = all.wrapping_add(x);
        high = high.wrapping_add(x >> 32);
    }
    add_end_around(all.wrapping_sub(high << 32), high)
}

/// Adds with the carry out of bit 63 fed back in: a ones'-complement sum modulo 2^64 - 1, which
/// 0xFFFF divides, so the folded 16-bit sum is unchanged.
const fn add_end_around(a: u64, b: u64) -> u64 {
    let (sum, carry) = a.overflowing_add(b);
    sum + carry as u64
}

/// The native-endian reading of the big-endian word `[byte, 0]`.
const fn native_high_byte_word(byte: u8) -> u16 {
    u16::from_ne_bytes([byte, 0])
}

/// Folds a 64-bit sum of 16-bit words into 16 bits with end-around carries, without branches:
/// the [`combine`] of all the words, whatever order they were added in.
pub(crate) const fn fold(acc: u64) -> u16 {
    let (half, carry) = (acc as u32).overflowing_add((acc >> 32) as u32);
    // A carry out leaves `half` at most 2^32 - 2, so adding it back cannot overflow.
    let half = half + carry as u32;
    let (word, carry) = (half as u16).overflowing_add((half >> 16) as u16);
    word + carry as u16
}

/// A folded sum of native-endian words, as the sum of the same bytes read as big-endian words.
const fn to_network_order(native: u16) -> u16 {
    u16::from_be(native)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: RFC 1071's 16-bit loop.
    fn reference(data: &[u8]) -> u16 {
        let mut acc = 0u32;
        for pair in data.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).copied().map_or(0, u32::from);
            acc += hi | lo;
            acc = (acc & 0xFFFF) + (acc >> 16);
        }
        acc as u16
    }

    /// A 20-byte IPv4 header whose stored checksum is 0xb861 (RFC 1071 style example).
    const IPV4: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    #[test]
    fn known_header() {
        assert!(verify(&IPV4));
        let mut zeroed = IPV4;
        zeroed[10] = 0;
        zeroed[11] = 0;
        assert_eq!(finish(sum(&zeroed)), 0xb861);
    }

    // ~2.4 million bytes summed three ways: minutes under Miri, where the shorter tests below and
    // the fuzz target `csum` cover the same paths.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn fast_equals_reference_all_lengths_and_offsets() {
        let data: std::vec::Vec<u8> = (0..600u32).map(|i| (i * 7919 % 251) as u8 ^ 0xA5).collect();
        for start in 0..8 {
            for end in start..data.len() {
                let piece = &data[start..end];
                assert_eq!(sum(piece), reference(piece), "start {start} end {end}");
                let mut copy = std::vec![0u8; piece.len()];
                assert_eq!(copy_and_sum(&mut copy, piece), Some(reference(piece)));
                assert_eq!(copy, piece);
            }
        }
    }

    #[test]
    fn all_ones_and_carries() {
        let ff = [0xFFu8; 4099];
        assert_eq!(sum(&ff), reference(&ff));
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[0x01]), 0x0100);
    }

    #[test]
    fn pieces_at_odd_offsets() {
        let data: std::vec::Vec<u8> = (0..97u8).collect();
        for cut in 0..data.len() {
            let (a, b) = data.split_at(cut);
            assert_eq!(combine_at(sum(a), sum(b), cut), sum(&data), "cut {cut}");
            let mut running = Checksum::new();
            running.add(a);
            running.add(b);
            assert_eq!(running.sum(), sum(&data));
        }
    }

    #[test]
    fn pseudo_headers() {
        let v4 = pseudo_header_v4([192, 0, 2, 1], [198, 51, 100, 2], 6, 40);
        assert_eq!(v4, reference(&[192, 0, 2, 1, 198, 51, 100, 2, 0, 6, 0, 40]));
        let src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let mut dst = src;
        dst[15] = 2;
        let mut bytes = std::vec::Vec::new();
        bytes.extend_from_slice(&src);
        bytes.extend_from_slice(&dst);
        bytes.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 17]);
        assert_eq!(pseudo_header_v6(&src, &dst, 17, 0x10000), reference(&bytes));
    }

    #[test]
    fn incremental_update() {
        let mut header = IPV4;
        let old_len = u16::from_be_bytes([header[2], header[3]]);
        let new_len: u16 = 1500;
        header[2..4].copy_from_slice(&new_len.to_be_bytes());
        let check = update(0xb861, old_len, new_len);
        header[10..12].copy_from_slice(&check.to_be_bytes());
        assert!(verify(&header));
        header[10] = 0;
        header[11] = 0;
        assert_eq!(check, finish(sum(&header)));
    }

    #[test]
    fn copy_and_sum_length_mismatch() {
        assert_eq!(copy_and_sum(&mut [0u8; 3], &[1, 2]), None);
    }
}
