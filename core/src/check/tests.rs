use super::fixtures::{checksum, csum_hdr, gso_hdr, in_tunnel, tcp4_with_options, tunnel_hdr};
use super::*;
use std::vec;
use vnet_packet::PacketSpec;

fn run(hdr: &VnetHdr, pkt: &[u8]) -> Result<Offload, CheckError> {
    check(hdr, pkt, &CheckOptions::default())
}

fn segment(hdr: &VnetHdr, pkt: &[u8]) -> GsoRequest {
    match run(hdr, pkt) {
        Ok(Offload::Segment(req)) => req,
        other => panic!("expected a GSO request, got {other:?}"),
    }
}

/// The packet problem `err` names, if it names one.
fn problem(err: CheckError) -> Option<Problem> {
    match err {
        CheckError::Packet { problem, .. } => Some(problem),
        _ => None,
    }
}

/// The read cases every TUN implementation must agree on (payload 200, gso_size 100).
#[test]
fn tun_read_cases() {
    let cases = [
        (PacketSpec::tcp4(200), GsoType::TCPV4, 40, 20, 16),
        (PacketSpec::tcp6(200), GsoType::TCPV6, 60, 40, 16),
        (PacketSpec::udp4(200), GsoType::UDP_L4, 28, 20, 6),
        (PacketSpec::udp6(200), GsoType::UDP_L4, 48, 40, 6),
    ];
    for (pkt, gso_type, hdr_len, start, offset) in cases {
        let hdr = VnetHdr {
            hdr_len,
            ..gso_hdr(gso_type, 100, start, offset)
        };
        let req = segment(&hdr, &pkt.build());
        assert_eq!(req.hdr_len, usize::from(hdr_len));
        assert_eq!(req.payload_len, 200);
        assert_eq!(req.csum, Some(CsumRequest { start, offset }));
    }
}

#[test]
fn hdr_len_is_recomputed_v6() {
    let pkt = tcp4_with_options(3000);
    let hdr = VnetHdr {
        hdr_len: 0,
        ..gso_hdr(GsoType::TCPV4, 1000, 28, 16)
    };
    let req = segment(&hdr, &pkt.build());
    assert_eq!(req.hdr_len, pkt.hdr_len());
    assert_eq!(req.headers.l4_offset, pkt.l4_offset());
    let strict = CheckOptions::DEFAULT.with_mode(Mode::Strict);
    assert_eq!(check(&hdr, &pkt.build(), &strict).unwrap_err().rule(), "P6");
}

#[test]
fn v1_unknown_types_rejected() {
    let pkt = PacketSpec::tcp4(200).build();
    for t in [2u8, 6, 7, 0x80, 0x10, 0x11, 0x81 | 0x10] {
        let err = run(&gso_hdr(GsoType(t), 100, 20, 16), &pkt).unwrap_err();
        assert_eq!(err.rule(), "V1", "gso_type {t:#x}");
    }
    // ECN with a known base type is fine.
    assert!(run(&gso_hdr(GsoType(0x81), 100, 20, 16), &pkt).is_ok());
}

#[test]
fn v2_gso_size() {
    let pkt = PacketSpec::tcp4(200).build();
    for size in [0, 0xffff] {
        let err = run(&gso_hdr(GsoType::TCPV4, size, 20, 16), &pkt).unwrap_err();
        assert_eq!(err.rule(), "V2");
    }
}

#[test]
fn v3_csum_bounds() {
    let pkt = PacketSpec::tcp4(200).build();
    // csum_start inside the IPv4 header: rejected even without GSO.
    assert_eq!(run(&csum_hdr(10, 16), &pkt).unwrap_err().rule(), "V3");
    // csum_start inside a 40-byte minimum for TCPV6.
    let v6 = PacketSpec::tcp6(200).build();
    let err = run(&gso_hdr(GsoType::TCPV6, 100, 20, 16), &v6).unwrap_err();
    assert_eq!(err.rule(), "V3");
    // The checksum field past the end (T14 sees the raised hdr_len first).
    let len = pkt.len() as u16;
    assert!(run(&csum_hdr(20, len - 21), &pkt).is_err());
    assert_eq!(run(&csum_hdr(20, 16), &pkt), checksum(20, 16));
}

#[test]
fn v4_uso_rules() {
    let pkt = PacketSpec::udp4(1000).build();
    let ok = gso_hdr(GsoType::UDP_L4, 100, 20, 6);
    assert!(matches!(run(&ok, &pkt), Ok(Offload::Segment(_))));
    let no_csum = VnetHdr {
        flags: Flags::EMPTY,
        ..ok
    };
    assert_eq!(run(&no_csum, &pkt).unwrap_err().rule(), "V4");
    let off16 = gso_hdr(GsoType::UDP_L4, 100, 20, 16);
    assert_eq!(run(&off16, &pkt).unwrap_err().rule(), "V4");
    let ecn = gso_hdr(GsoType(0x85), 100, 20, 6);
    assert_eq!(run(&ecn, &pkt).unwrap_err().rule(), "V4");
    // 129 segments of 8 bytes rejected, 128 accepted (this kernel's UDP_MAX_SEGMENTS).
    let max = PacketSpec::udp4(128 * 8).build();
    assert!(run(&gso_hdr(GsoType::UDP_L4, 8, 20, 6), &max).is_ok());
    let over = PacketSpec::udp4(128 * 8 + 1).build();
    let err = run(&gso_hdr(GsoType::UDP_L4, 8, 20, 6), &over).unwrap_err();
    assert_eq!(err.rule(), "V4");
}

#[test]
fn v4_tcp_offset_and_v5_small_is_plain() {
    let pkt = PacketSpec::tcp4(200).build();
    let err = run(&gso_hdr(GsoType::TCPV4, 100, 20, 6), &pkt).unwrap_err();
    assert_eq!(err.rule(), "V4");
    // TSO without NEEDS_CSUM is accepted by Linux (V10) but not in strict mode (P4).
    let no_csum = VnetHdr {
        flags: Flags::EMPTY,
        ..gso_hdr(GsoType::TCPV4, 100, 0, 0)
    };
    let req = segment(&no_csum, &pkt);
    assert_eq!(req.csum, None);
    let strict = CheckOptions::DEFAULT.with_mode(Mode::Strict);
    assert_eq!(check(&no_csum, &pkt, &strict).unwrap_err().rule(), "P4");
    // Payload == gso_size: a plain packet whose checksum is still to be completed.
    let small = run(&gso_hdr(GsoType::TCPV4, 200, 20, 16), &pkt);
    assert_eq!(small, checksum(20, 16));
}

#[test]
fn s1_packet_must_match_type() {
    let v6 = PacketSpec::tcp6(200).build();
    let err = run(&gso_hdr(GsoType::TCPV4, 100, 40, 16), &v6).unwrap_err();
    assert!(matches!(
        problem(err),
        Some(Problem::IpVersionMismatch { .. })
    ));
    let udp = PacketSpec::udp4(200).build();
    let err = run(&gso_hdr(GsoType::TCPV4, 100, 20, 16), &udp).unwrap_err();
    assert_eq!(err.rule(), "S1");
    let opts = PacketSpec {
        ip_options: vec![1; 8],
        ..PacketSpec::tcp4(200)
    };
    let err = run(&gso_hdr(GsoType::TCPV4, 100, 20, 16), &opts.build()).unwrap_err();
    assert!(matches!(
        problem(err),
        Some(Problem::CsumStartNotTransport { .. })
    ));
}

#[test]
fn t14_device_write() {
    let pkt = PacketSpec::tcp4(10).build();
    let hdr = VnetHdr {
        hdr_len: pkt.len() as u16 + 3,
        ..VnetHdr::default()
    };
    assert_eq!(run(&hdr, &pkt).unwrap_err().rule(), "T14");
    assert_eq!(
        run(&VnetHdr::default(), &[0x50; 40]).unwrap_err().rule(),
        "T14"
    );
    let tap = CheckOptions::DEFAULT.with_link(Link::Tap);
    assert_eq!(
        check(&VnetHdr::default(), &[0; 13], &tap)
            .unwrap_err()
            .rule(),
        "T14"
    );
    // A plain packet of any content is fine on TUN as long as it names IPv4 or IPv6.
    assert_eq!(run(&VnetHdr::default(), &[0x45]), Ok(Offload::Plain));
}

/// K1: TUN checks hdr_len against what follows the 10 header bytes it parsed.
#[test]
fn t14_bound_counts_unparsed_header_bytes() {
    let pkt = PacketSpec::tcp4(10).build();
    for (layout, slack) in [
        (Layout::Legacy, 0),
        (Layout::V1, 2),
        (Layout::V1Hash, 10),
        (Layout::V1HashTunnel, 0),
    ] {
        let opts = CheckOptions::DEFAULT.with_layout(layout);
        let with = |extra: usize| VnetHdr {
            hdr_len: (pkt.len() + extra) as u16,
            ..VnetHdr::default()
        };
        assert_eq!(check(&with(slack), &pkt, &opts), Ok(Offload::Plain));
        let err = check(&with(slack + 1), &pkt, &opts).unwrap_err();
        assert_eq!(err.rule(), "T14", "{layout:?}");
    }
}

/// K2: options push the real payload under gso_size although V5's estimate said GSO.
#[test]
fn single_segment_after_options_is_refused() {
    let pkt = PacketSpec {
        tcp_options: vec![1; 12],
        ..PacketSpec::tcp4(100)
    };
    let err = run(&gso_hdr(GsoType::TCPV4, 100, 20, 16), &pkt.build()).unwrap_err();
    assert!(matches!(problem(err), Some(Problem::SingleSegment { .. })));
}

#[test]
fn tap_with_vlan() {
    let pkt = PacketSpec {
        ethernet: Some(Some(100)),
        ..PacketSpec::tcp6(3000)
    };
    let tap = CheckOptions::DEFAULT.with_link(Link::Tap);
    let hdr = gso_hdr(GsoType::TCPV6, 1400, 58, 16);
    match check(&hdr, &pkt.build(), &tap) {
        Ok(Offload::Segment(req)) => {
            assert_eq!(req.headers.l3_offset, pkt.l3_offset());
            assert_eq!(req.hdr_len, pkt.hdr_len());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn messages_name_rule_field_and_bound() {
    let pkt = PacketSpec::tcp4(200).build();
    let msg = std::format!("{}", run(&csum_hdr(10, 16), &pkt).unwrap_err());
    assert_eq!(msg, "V3: csum_start 10 must be at least 20");
}

#[test]
fn strict_flags() {
    let strict = CheckOptions::DEFAULT.with_mode(Mode::Strict);
    let pkt = PacketSpec::tcp4(10).build();
    for flags in [Flags::DATA_VALID, Flags::RSC_INFO] {
        let hdr = VnetHdr {
            flags,
            ..VnetHdr::default()
        };
        assert_eq!(check(&hdr, &pkt, &strict).unwrap_err().rule(), "P9");
        assert_eq!(run(&hdr, &pkt), Ok(Offload::Plain), "Linux ignores it");
    }
}

#[test]
fn v7_tunnel() {
    // Ethernet + outer IPv4 + UDP + inner IPv4/TCP, as the spec's example offsets.
    let pkt = in_tunnel(&PacketSpec::tcp4(3000).build());
    let hdr = tunnel_hdr();
    let opts = CheckOptions::DEFAULT.with_tunnel(true, false);
    // Not negotiated: rejected.
    assert_eq!(run(&hdr, &pkt).unwrap_err().rule(), "V7");
    match check(&hdr, &pkt, &opts) {
        Ok(Offload::Segment(req)) => {
            assert_eq!(req.headers.l4_offset, 62);
            assert_eq!(req.hdr_len, 82);
            assert_eq!(req.tunnel.map(|t| t.outer_th), Some(34));
        }
        other => panic!("{other:?}"),
    }
    let both = VnetHdr {
        gso_type: GsoType(0x61),
        ..hdr
    };
    assert_eq!(check(&both, &pkt, &opts).unwrap_err().rule(), "V7");
    let low_outer = VnetHdr {
        outer_th_offset: 20,
        ..hdr
    };
    assert_eq!(check(&low_outer, &pkt, &opts).unwrap_err().rule(), "V7");
    let csum = VnetHdr {
        flags: Flags::NEEDS_CSUM.with(Flags::UDP_TUNNEL_CSUM),
        ..hdr
    };
    assert_eq!(check(&csum, &pkt, &opts).unwrap_err().rule(), "V7");
}
