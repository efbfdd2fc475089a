//! The Internet checksum the obvious way (C1-C5): RFC 1071's 16-bit loop with an end-around carry
//! after every word, pseudo-headers laid out as bytes, and RFC 1624's update as written.

use super::Reference;
use crate::laws::csum::{Checksummer, Complete, Sum};

/// One ones'-complement addition of two 16-bit values.
fn add(a: u16, b: u16) -> u16 {
    let s = u32::from(a) + u32::from(b);
    ((s & 0xFFFF) + (s >> 16)) as u16
}

/// RFC 1071: the folded ones'-complement sum of big-endian 16-bit words, an odd last byte padded
/// with a zero low byte (C1).
pub fn sum(data: &[u8]) -> u16 {
    let mut acc = 0u16;
    let mut i = 0;
    while i < data.len() {
        let hi = u16::from(data[i]) << 8;
        let lo = if i + 1 < data.len() {
            u16::from(data[i + 1])
        } else {
            0
        };
        acc = add(acc, hi | lo);
        i += 2;
    }
    acc
}

/// The IPv4 pseudo-header, as its 12 bytes (C2).
pub fn pseudo_header_v4(src: [u8; 4], dst: [u8; 4], protocol: u8, l4_len: u16) -> u16 {
    let mut bytes = Vec::with_capacity(12);
    bytes.extend_from_slice(&src);
    bytes.extend_from_slice(&dst);
    bytes.push(0);
    bytes.push(protocol);
    bytes.extend_from_slice(&l4_len.to_be_bytes());
    sum(&bytes)
}

/// The IPv6 pseudo-header, as its 40 bytes (C2).
pub fn pseudo_header_v6(src: &[u8; 16], dst: &[u8; 16], protocol: u8, l4_len: u32) -> u16 {
    let mut bytes = Vec::with_capacity(40);
    bytes.extend_from_slice(src);
    bytes.extend_from_slice(dst);
    bytes.extend_from_slice(&l4_len.to_be_bytes());
    bytes.extend_from_slice(&[0, 0, 0, protocol]);
    sum(&bytes)
}

impl Sum for Reference {
    fn sum(&self, data: &[u8]) -> u16 {
        sum(data)
    }
}

impl Complete for Reference {
    /// At an odd offset the second piece's bytes sit in the other half of each word.
    fn combine_at(&self, a: u16, b: u16, offset: usize) -> u16 {
        if offset % 2 == 1 {
            add(a, b.rotate_left(8))
        } else {
            add(a, b)
        }
    }

    fn finish(&self, sum: u16) -> u16 {
        !sum
    }
}

impl Checksummer for Reference {
    fn copy_and_sum(&self, dst: &mut [u8], src: &[u8]) -> Option<u16> {
        if dst.len() != src.len() {
            return None;
        }
        dst.copy_from_slice(src);
        Some(sum(dst))
    }

    /// RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`.
    fn update(&self, check: u16, old: u16, new: u16) -> u16 {
        !add(add(!check, !old), new)
    }

    fn pseudo_header_v4(&self, src: [u8; 4], dst: [u8; 4], protocol: u8, l4_len: u16) -> u16 {
        pseudo_header_v4(src, dst, protocol, l4_len)
    }

    fn pseudo_header_v6(&self, src: &[u8; 16], dst: &[u8; 16], protocol: u8, l4_len: u32) -> u16 {
        pseudo_header_v6(src, dst, protocol, l4_len)
    }
}
