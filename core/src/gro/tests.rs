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

/// `Seg::ipv4_header_sum` is the sum of the header `finish_merged` writes (total length
/// replaced, checksum field zero), whatever the fields: TTL, TOS, DF, addresses, lengths and
/// every ID, so that the sums cover both folds and the all-ones sum.
#[test]
fn ipv4_header_sum_equals_the_written_header() {
    let (mut checked, mut all_ones) = (0, 0);
    for (ttl, tos, id, df) in [
        (64, 0, 1, true),
        (255, 0xFF, 0xFFFF, false),
        (1, 0xB8, 0, true),
    ] {
        for addrs in [
            [10, 0, 0, 1, 10, 0, 0, 2],
            [0xFF; 8],
            [0, 0, 0, 0, 0, 0, 0, 1],
        ] {
            let mut spec = PacketSpec::tcp4(100);
            spec.ttl = ttl;
            spec.tos = tos;
            spec.ip_id = id;
            spec.df = df;
            spec.src[..4].copy_from_slice(&addrs[..4]);
            spec.dst[..4].copy_from_slice(&addrs[4..]);
            let p = spec.build();
            let mut seg = classify(&p, &GroOptions::default()).expect("eligible");
            for len in [40, 140, 0x7FFF, 0xFFFF] {
                let mut header = p[..20].to_vec();
                header[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                header[10..12].fill(0);
                // Every ID (a stride under Miri): some make the sum 0xFFFF.
                for id in (0..=u16::MAX).step_by(if cfg!(miri) { 251 } else { 1 }) {
                    seg.id = id;
                    header[4..6].copy_from_slice(&id.to_be_bytes());
                    let want = csum::sum(&header);
                    assert_eq!(seg.ipv4_header_sum(len), want, "{header:02x?}");
                    all_ones += usize::from(want == 0xFFFF);
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 36);
    assert!(
        cfg!(miri) || all_ones >= 36,
        "the all-ones sum came up {all_ones} times"
    );
}
