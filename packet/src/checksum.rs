//! THE reference Internet checksum (C1-C5), written the obvious way: RFC 1071's sum of big-endian
//! 16-bit words, an odd last byte padded with a zero low byte, the end-around carry folded after
//! every word; pseudo-headers laid out as their bytes (C2). Slow and short on purpose: core's fast
//! paths, the peers and the kernel are checked against it, so it shares no code with them.

/// One ones'-complement addition of two 16-bit sums (the end-around carry folded back in).
pub fn combine(a: u16, b: u16) -> u16 {
    let s = u32::from(a) + u32::from(b);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// RFC 1071: the folded ones'-complement sum of `data`'s big-endian 16-bit words, an odd last
/// byte the high half of a word whose low half is zero (C1).
pub fn sum(data: &[u8]) -> u16 {
    data.chunks(2).fold(0, |acc, pair| {
        let word = match *pair {
            [hi, lo] => u16::from_be_bytes([hi, lo]),
            [hi] => u16::from_be_bytes([hi, 0]),
            _ => unreachable!("chunks(2) yields one or two bytes"),
        };
        combine(acc, word)
    })
}

/// The checksum field's value for a folded sum: its ones' complement (C1).
pub fn finish(sum: u16) -> u16 {
    !sum
}

/// The IPv4 pseudo-header's sum, from its 12 bytes (C2).
pub fn pseudo_header_v4(src: [u8; 4], dst: [u8; 4], protocol: u8, l4_len: u16) -> u16 {
    let mut bytes = Vec::with_capacity(12);
    bytes.extend_from_slice(&src);
    bytes.extend_from_slice(&dst);
    bytes.push(0);
    bytes.push(protocol);
    bytes.extend_from_slice(&l4_len.to_be_bytes());
    sum(&bytes)
}

/// The IPv6 pseudo-header's sum, from its 40 bytes (C2).
pub fn pseudo_header_v6(src: &[u8; 16], dst: &[u8; 16], protocol: u8, l4_len: u32) -> u16 {
    let mut bytes = Vec::with_capacity(40);
    bytes.extend_from_slice(src);
    bytes.extend_from_slice(dst);
    bytes.extend_from_slice(&l4_len.to_be_bytes());
    bytes.extend_from_slice(&[0, 0, 0, protocol]);
    sum(&bytes)
}

/// True if `data` (with its checksum field in place) sums to 0xffff: it verifies (C1).
pub fn verify(data: &[u8]) -> bool {
    sum(data) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 section 3's worked example, and the odd-length rule.
    #[test]
    fn rfc1071_example_and_odd_byte() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(sum(&[]), 0);
        assert_eq!(combine(0xffff, 1), 1);
        let mut stored = data.to_vec();
        stored.extend_from_slice(&finish(sum(&data)).to_be_bytes());
        assert!(verify(&stored));
    }
}
