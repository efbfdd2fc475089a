use super::*;
use std::vec;
use std::vec::Vec;
use vnet_packet::PacketSpec;

/// Rewrites the IPv4 header checksum of `p` (IHL from its first byte), if it has one.
fn fix_ip_checksum(p: &mut [u8]) {
    let ihl = usize::from(p[0] & 0x0F) * 4;
    if p[0] >> 4 != 4 || ihl < 20 || p.len() < ihl {
        return;
    }
    p[10..12].fill(0);
    let check = csum::finish(csum::sum(&p[..ihl]));
    p[10..12].copy_from_slice(&check.to_be_bytes());
}

/// The fast path accepts only what the general path accepts, with the same fields, and it
/// accepts every IPv4/TCP packet without options that the general path accepts: single-byte
/// changes to every header byte (with and without a fixed-up IP checksum) and truncations.
#[test]
fn classify_tcp4_agrees_with_the_general_path() {
    let mut bases = Vec::new();
    for (ip_options, tcp_options) in [(0, 0), (0, 12), (4, 0)] {
        let mut p = PacketSpec::tcp4(100);
        p.ip_options = vec![1; ip_options];
        p.tcp_options = vec![1; tcp_options];
        bases.push(p.build());
    }
    bases.push(PacketSpec::udp4(60).build());
    bases.push(PacketSpec::tcp6(60).build());
    let mut cases = Vec::new();
    for base in &bases {
        for len in 0..=base.len().min(80) {
            cases.push(base[..len].to_vec());
        }
        for at in 0..base.len().min(80) {
            for value in [0x00, 0xFF, 0x01, 0x40, 0x45, 0x50, 0x80] {
                for x in [value, base[at] ^ value] {
                    let mut p = base.clone();
                    p[at] = x;
                    cases.push(p.clone());
                    fix_ip_checksum(&mut p);
                    cases.push(p);
                }
            }
        }
    }
    let mut fast = 0;
    for p in &cases {
        for udp in [false, true] {
            let opts = GroOptions {
                udp,
                ..GroOptions::default()
            };
            let general = classify_any(p, &opts);
            match classify_tcp4(p) {
                Some(seg) => {
                    fast += 1;
                    assert_eq!(Some(seg), general, "{p:02x?}");
                }
                None => {
                    let common = general.is_some_and(|g| {
                        !g.key.v6 && g.tcp() && g.l4_offset == wire::IPV4_MIN_HEADER_LEN
                    });
                    assert!(!common, "the fast path missed {p:02x?}");
                }
            }
        }
    }
    assert!(fast > 100, "only {fast} cases took the fast path");
}
