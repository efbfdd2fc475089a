//! Golden packets shared by the wire tests, generated once by a short script (addresses from the
//! documentation ranges) with every checksum computed; the parse tests verify each checksum.

use vnet_packet::checksum;

// The addresses every golden packet of one IP version shares (documentation ranges).
const V4_SRC: [u8; 4] = [192, 168, 1, 10];
const V4_DST: [u8; 4] = [93, 184, 216, 34];
const V6_SRC: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6_DST: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// IPv4 (DF, ID 0xbeef, TTL 64) + a TCP SYN with Linux's usual options: MSS 1460, SACK permitted,
/// timestamps, NOP, window scale 7 (data offset 10).
pub(crate) const IPV4_TCP_SYN: [u8; 60] = layers(&[
    // IPv4: IHL 5, total length 60, ID 0xbeef, DF, TTL 64, TCP, checksum.
    &[
        0x45, 0x00, 0x00, 0x3c, 0xbe, 0xef, 0x40, 0x00, 0x40, 0x06, 0x84, 0x3f,
    ],
    &V4_SRC,
    &V4_DST,
    // TCP 51234 -> 443, seq 0x1a2b3c4d, data offset 10, SYN, window 64240, checksum.
    &[0xc8, 0x22, 0x01, 0xbb, 0x1a, 0x2b, 0x3c, 0x4d, 0, 0, 0, 0],
    &[0xa0, 0x02, 0xfa, 0xf0, 0x5e, 0x92, 0x00, 0x00],
    // MSS 1460, SACK permitted, timestamps (0x12d687, 0), NOP, window scale 7.
    &[
        0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x12, 0xd6, 0x87,
    ],
    &[0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07],
]);

/// IPv4 with a router-alert option (IHL 6) + UDP 5353 -> 5353 carrying "ping".
pub(crate) const IPV4_OPTS_UDP: [u8; 36] = layers(&[
    // IPv4: IHL 6, total length 36, ID 0x1234, TTL 1, UDP, checksum.
    &[
        0x46, 0x00, 0x00, 0x24, 0x12, 0x34, 0x00, 0x00, 0x01, 0x11, 0x1b, 0x04,
    ],
    &V4_SRC,
    &V4_DST,
    // Router alert.
    &[0x94, 0x04, 0x00, 0x00],
    // UDP: length 12, checksum.
    &[0x14, 0xe9, 0x14, 0xe9, 0x00, 0x0c, 0xff, 0xa5],
    b"ping",
]);

/// IPv6 (traffic class 0x2e, flow label 0x12345) + hop-by-hop (router alert, 8 bytes) +
/// destination options (PadN, 16 bytes) + fragment (offset 0, M set, id 0xdeadbeef) + UDP
/// 40000 -> 53. The UDP length and checksum cover this fragment only: a test vector, not a capture.
pub(crate) const IPV6_EXT_FRAG_UDP: [u8; 96] = layers(&[
    // IPv6: payload length 56, next header hop-by-hop, hop limit 64.
    &[0x62, 0xe1, 0x23, 0x45, 0x00, 0x38, 0x00, 0x40],
    &V6_SRC,
    &V6_DST,
    // Hop-by-hop -> destination options: router alert.
    &[0x3c, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00],
    // Destination options -> fragment: hdr_ext_len 1, PadN of 12.
    &[0x2c, 0x01, 0x01, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    // Fragment -> UDP: offset 0, M, identification.
    &[0x11, 0x00, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef],
    // UDP: length 24, checksum.
    &[0x9c, 0x40, 0x00, 0x35, 0x00, 0x18, 0xf0, 0x10],
    b"hello, fragment!",
]);

/// Ethernet + 802.1Q (PCP 5, VID 100) + IPv6 (hop limit 255) + TCP PSH|ACK with 5 bytes of payload.
pub(crate) const ETH_VLAN_IPV6_TCP: [u8; 83] = layers(&[
    // Ethernet: destination, source, 802.1Q.
    &[
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x81, 0x00,
    ],
    // Tag: TCI, then IPv6.
    &[0xa0, 0x64, 0x86, 0xdd],
    // IPv6: payload length 25, TCP, hop limit 255.
    &[0x60, 0x00, 0x00, 0x00, 0x00, 0x19, 0x06, 0xff],
    &V6_SRC,
    &V6_DST,
    // TCP 443 -> 51234, seq 0x01020304, ack 0x0a0b0c0d, data offset 5, PSH|ACK, checksum.
    &[
        0x01, 0xbb, 0xc8, 0x22, 0x01, 0x02, 0x03, 0x04, 0x0a, 0x0b, 0x0c, 0x0d,
    ],
    &[0x50, 0x18, 0x01, 0xf6, 0xa3, 0xfb, 0x00, 0x00],
    b"GET /",
]);

/// The bytes of `parts`, one after another: a golden packet written layer by layer. A length
/// other than `N` fails the build.
const fn layers<const N: usize>(parts: &[&[u8]]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut at = 0;
    let mut p = 0;
    while p < parts.len() {
        let mut i = 0;
        while i < parts[p].len() {
            out[at] = parts[p][i];
            at += 1;
            i += 1;
        }
        p += 1;
    }
    assert!(at == N, "the layers do not add up to the packet's length");
    out
}

/// True if the Internet checksum over `data` plus `seed` verifies (sums to 0xffff), by
/// vnet-packet's reference checksum rather than the `csum` under test.
pub(crate) fn verifies(data: &[u8], seed: u16) -> bool {
    checksum::combine(seed, checksum::sum(data)) == 0xffff
}

/// The pseudo-header sum for IPv4.
pub(crate) fn pseudo_v4(src: [u8; 4], dst: [u8; 4], proto: u8, len: usize) -> u16 {
    checksum::pseudo_header_v4(src, dst, proto, len as u16)
}

/// The pseudo-header sum for IPv6.
pub(crate) fn pseudo_v6(src: [u8; 16], dst: [u8; 16], proto: u8, len: usize) -> u16 {
    checksum::pseudo_header_v6(&src, &dst, proto, len as u32)
}

/// Every golden packet with its link type, for the never-panics loops.
pub(crate) const ALL: [(&[u8], super::Link); 4] = [
    (&IPV4_TCP_SYN, super::Link::Tun),
    (&IPV4_OPTS_UDP, super::Link::Tun),
    (&IPV6_EXT_FRAG_UDP, super::Link::Tun),
    (&ETH_VLAN_IPV6_TCP, super::Link::Tap),
];

/// Calls `f` on every prefix of every golden packet, and on every single-byte mutation (to a few
/// values chosen to hit length and version nibbles and fill bytes) of every golden packet.
pub(crate) fn for_each_variant(mut f: impl FnMut(&[u8], super::Link)) {
    let mut buf = [0u8; 128];
    for (pkt, link) in ALL {
        for n in 0..=pkt.len() {
            f(&pkt[..n], link);
        }
        for i in 0..pkt.len() {
            for v in [
                0x00,
                0xff,
                0x0f,
                0xf0,
                0x45,
                0x60,
                pkt[i] ^ 0x01,
                pkt[i] ^ 0x80,
            ] {
                let b = &mut buf[..pkt.len()];
                b.copy_from_slice(pkt);
                b[i] = v;
                f(b, link);
            }
        }
    }
}
