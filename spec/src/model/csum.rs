//! The Internet checksum the obvious way (C1-C5): vnet-packet's reference [`sum`] (RFC 1071's
//! 16-bit loop with an end-around carry after every word) and pseudo-headers laid out as bytes,
//! and RFC 1624's update as written.

use super::Reference;
use crate::laws::csum::{Checksummer, Complete, Sum};

use vnet_packet::checksum::{combine as add, finish};
pub use vnet_packet::checksum::{pseudo_header_v4, pseudo_header_v6, sum};

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
        finish(sum)
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
