use super::*;
use crate::check::fixtures::with_dest_opts;
use std::string::ToString;
use std::vec;
use std::vec::Vec;
use vnet_packet::PacketSpec;

const V4: TxFlags = TxFlags::IS_IPV4;
const V6: TxFlags = TxFlags::IS_IPV6;
const TCP: TxFlags = TxFlags::OFFLOAD_TCP_CHECKSUM;
const UDP: TxFlags = TxFlags::OFFLOAD_UDP_CHECKSUM;
const TSO: TxFlags = TxFlags::OFFLOAD_TCP_SEGMENTATION;
const USO: TxFlags = TxFlags::OFFLOAD_UDP_SEGMENTATION;
const IP: TxFlags = TxFlags::OFFLOAD_IP_HEADER_CHECKSUM;

fn meta(flags: TxFlags, l2: u8, l3: u16, l4: u8, mss: u16) -> TxMetadata {
    TxMetadata {
        flags,
        l2_len: l2,
        l3_len: l3,
        l4_len: l4,
        max_segment_size: mss,
        vlan: None,
    }
}

fn hdr(
    flags: Flags,
    gso_type: GsoType,
    hdr_len: u16,
    gso_size: u16,
    start: u16,
    offset: u16,
) -> VnetHdr {
    VnetHdr {
        flags,
        gso_type,
        hdr_len,
        gso_size,
        csum_start: start,
        csum_offset: offset,
        ..VnetHdr::default()
    }
}

fn on_ethernet(pkt: PacketSpec) -> Vec<u8> {
    PacketSpec {
        ethernet: Some(None),
        ..pkt
    }
    .build()
}

// ---- M2-M5: metadata -> header (OpenVMM's TAP endpoint cases) ----

#[test]
fn tcp_checksum_to_header() {
    let h = to_header(&meta(TCP.with(V4), 14, 20, 0, 0)).unwrap();
    assert_eq!(h, hdr(Flags::NEEDS_CSUM, GsoType::NONE, 0, 0, 34, 16));
    assert!(!h.flags.contains(Flags::DATA_VALID));
}

#[test]
fn tso_to_header() {
    let h = to_header(&meta(TSO.with(TCP).with(V4), 14, 20, 32, 1460)).unwrap();
    assert_eq!(h, hdr(Flags::NEEDS_CSUM, GsoType::TCPV4, 66, 1460, 34, 16));
    let h6 = to_header(&meta(TSO.with(V6), 14, 40, 20, 1440)).unwrap();
    assert_eq!(h6, hdr(Flags::NEEDS_CSUM, GsoType::TCPV6, 74, 1440, 54, 16));
}

#[test]
fn no_offload_to_header_is_all_zero() {
    assert_eq!(to_header(&TxMetadata::default()), Ok(VnetHdr::default()));
    // The IPv4 header checksum alone has no place in the header (M5, M9).
    let ip_only = meta(IP.with(V4), 14, 20, 0, 0);
    assert_eq!(to_header(&ip_only), Ok(VnetHdr::default()));
}

#[test]
fn udp_checksum_to_header() {
    let h = to_header(&meta(UDP.with(V4), 14, 20, 0, 0)).unwrap();
    assert_eq!(h, hdr(Flags::NEEDS_CSUM, GsoType::NONE, 0, 0, 34, 6));
}

#[test]
fn uso_to_header() {
    let h = to_header(&meta(USO.with(UDP).with(V4), 14, 20, 0, 1472)).unwrap();
    assert_eq!(h, hdr(Flags::NEEDS_CSUM, GsoType::UDP_L4, 42, 1472, 34, 6));
}

#[test]
fn first_rule_wins() {
    let both = meta(TSO.with(USO).with(UDP).with(V4), 0, 20, 20, 100);
    assert_eq!(to_header(&both).unwrap().gso_type, GsoType::TCPV4);
    let csums = meta(TCP.with(UDP).with(V6), 0, 40, 0, 0);
    assert_eq!(to_header(&csums).unwrap().csum_offset, 16);
}

#[test]
fn to_header_errors() {
    let cases = [
        (
            meta(TCP.with(V4).with(V6), 14, 20, 0, 0),
            MetaError::BothIpVersions,
        ),
        (meta(V4.with(V6), 0, 0, 0, 0), MetaError::BothIpVersions),
        (meta(TSO, 14, 20, 20, 1460), MetaError::NoIpVersion),
        (meta(TCP, 14, 20, 0, 0), MetaError::NoIpVersion),
        (
            meta(TCP.with(V6), 18, 65528, 0, 0),
            MetaError::Overflow {
                field: Field::CsumStart,
                sum: 65546,
            },
        ),
        (
            meta(TSO.with(V6), 14, 65512, 20, 1000),
            MetaError::Overflow {
                field: Field::HdrLen,
                sum: 65546,
            },
        ),
        (
            meta(USO.with(V6), 14, 65520, 0, 1000),
            MetaError::Overflow {
                field: Field::HdrLen,
                sum: 65542,
            },
        ),
    ];
    for (m, e) in cases {
        assert_eq!(to_header(&m), Err(e), "{m:?}");
        assert_eq!(e.rule(), "M1");
    }
}

/// M1: a length out of its bounds is refused with the field, the value the metadata holds and
/// the bound; the cases by field.
#[test]
fn to_header_refuses_lengths_out_of_bounds() {
    let l2: &[_] = &[
        (meta(TCP.with(V4), 7, 20, 0, 0), Bound::OneOf(&[0, 14, 18])),
        (
            meta(TSO.with(V6), 255, 40, 20, 1460),
            Bound::OneOf(&[0, 14, 18]),
        ),
    ];
    let l3: &[_] = &[
        (meta(TSO.with(V4), 14, 0, 20, 1460), Bound::AtLeast(20)),
        (meta(UDP.with(V4), 14, 0, 0, 0), Bound::AtLeast(20)),
        (meta(TCP.with(V6), 14, 20, 0, 0), Bound::AtLeast(40)),
        (meta(TCP.with(V4), 14, 64, 0, 0), Bound::AtMost(60)),
        (meta(TCP.with(V4), 14, 22, 0, 0), Bound::MultipleOf(4)),
        (meta(TCP.with(V6), 14, 44, 0, 0), Bound::MultipleOf(8)),
    ];
    let l4: &[_] = &[
        (meta(TSO.with(V4), 14, 20, 0, 1460), Bound::AtLeast(20)),
        (meta(TSO.with(V4), 14, 20, 64, 1460), Bound::AtMost(60)),
        (meta(TSO.with(V4), 14, 20, 22, 1460), Bound::MultipleOf(4)),
    ];
    let mss: &[_] = &[
        (meta(TSO.with(V4), 14, 20, 20, 0), Bound::NonZero),
        (meta(USO.with(V6), 14, 40, 0, 0), Bound::NonZero),
    ];
    let by_field = [
        (Field::L2Len, l2),
        (Field::L3Len, l3),
        (Field::L4Len, l4),
        (Field::MaxSegmentSize, mss),
    ];
    for (field, cases) in by_field {
        for &(m, bound) in cases {
            let value = match field {
                Field::L2Len => u32::from(m.l2_len),
                Field::L3Len => u32::from(m.l3_len),
                Field::L4Len => u32::from(m.l4_len),
                _ => u32::from(m.max_segment_size),
            };
            let want = field_error("M1", field, value, bound);
            assert_eq!(to_header(&m), Err(want), "{field:?}: {m:?}");
        }
    }
}

// ---- M6-M7: a guest's header + frame -> metadata (OpenVMM's virtio device cases) ----

#[test]
fn guest_no_offloads() {
    let frame = on_ethernet(PacketSpec::tcp4(10));
    assert_eq!(
        from_header(&VnetHdr::default(), &frame, Link::Tap),
        Ok(TxMetadata::default())
    );
    // Unknown and receive-only flags are ignored (V8).
    let odd = hdr(Flags(0xF2), GsoType::NONE, 0, 0, 0, 0);
    assert_eq!(
        from_header(&odd, &frame, Link::Tap),
        Ok(TxMetadata::default())
    );
}

/// Checksum-only requests on TAP (M6): the checksum's place gives the protocol, the frame the
/// lengths; no IPv4 header checksum, which virtio guests compute themselves.
#[test]
fn guest_checksum() {
    let tcp4 = on_ethernet(PacketSpec::tcp4(100));
    let udp4 = on_ethernet(PacketSpec::udp4(100));
    let tcp6 = on_ethernet(PacketSpec::tcp6(100));
    let tagged = |pkt| {
        PacketSpec {
            ethernet: Some(Some(100)),
            ..pkt
        }
        .build()
    };
    let vlan4 = tagged(PacketSpec::tcp4(100));
    let vlan6 = tagged(PacketSpec::udp6(100));
    let cases = [
        ("TCP4", &tcp4, 34, 16, meta(TCP.with(V4), 14, 20, 0, 0)),
        ("UDP4", &udp4, 34, 6, meta(UDP.with(V4), 14, 20, 0, 0)),
        ("TCP6", &tcp6, 54, 16, meta(TCP.with(V6), 14, 40, 0, 0)),
        ("VLAN4", &vlan4, 38, 16, meta(TCP.with(V4), 18, 20, 0, 0)),
        ("VLAN6", &vlan6, 58, 6, meta(UDP.with(V6), 18, 40, 0, 0)),
    ];
    for (name, frame, start, offset, want) in cases {
        let h = hdr(Flags::NEEDS_CSUM, GsoType::NONE, 0, 0, start, offset);
        assert_eq!(from_header(&h, frame, Link::Tap), Ok(want), "{name}: {h:?}");
    }
}

#[test]
fn guest_tso4() {
    let frame = on_ethernet(PacketSpec {
        tcp_options: vec![1; 12],
        ..PacketSpec::tcp4(3000)
    });
    let h = hdr(Flags::NEEDS_CSUM, GsoType::TCPV4, 66, 1460, 34, 16);
    let m = from_header(&h, &frame, Link::Tap).unwrap();
    assert_eq!(m, meta(TSO.with(TCP).with(V4).with(IP), 14, 20, 32, 1460));
    // hdr_len is a hint (V6): Linux guests send the linear length; l4 comes from the frame.
    let linear = VnetHdr { hdr_len: 200, ..h };
    assert_eq!(from_header(&linear, &frame, Link::Tap), Ok(m));
    // The ECN bit is ignored.
    let ecn = VnetHdr {
        gso_type: GsoType(GsoType::TCPV4.0 | GsoType::ECN.0),
        ..h
    };
    assert_eq!(from_header(&ecn, &frame, Link::Tap), Ok(m));
}

#[test]
fn guest_tso6() {
    let frame = on_ethernet(PacketSpec::tcp6(3000));
    let h = hdr(Flags::NEEDS_CSUM, GsoType::TCPV6, 74, 1440, 54, 16);
    let m = from_header(&h, &frame, Link::Tap).unwrap();
    assert_eq!(m, meta(TSO.with(TCP).with(V6), 14, 40, 20, 1440));
    assert!(!m.flags.contains(IP));
}

#[test]
fn guest_uso() {
    let frame = on_ethernet(PacketSpec::udp4(3000));
    let h = hdr(Flags::NEEDS_CSUM, GsoType::UDP_L4, 42, 1472, 34, 6);
    assert_eq!(
        from_header(&h, &frame, Link::Tap),
        Ok(meta(USO.with(UDP).with(V4).with(IP), 14, 20, 8, 1472))
    );
    let frame6 = on_ethernet(PacketSpec::udp6(3000));
    let h6 = hdr(Flags::NEEDS_CSUM, GsoType::UDP_L4, 62, 1452, 54, 6);
    assert_eq!(
        from_header(&h6, &frame6, Link::Tap),
        Ok(meta(USO.with(UDP).with(V6), 14, 40, 8, 1452))
    );
}

#[test]
fn guest_tun_and_extension_headers() {
    let frame = with_dest_opts(PacketSpec::tcp6(100), 16).build();
    let h = hdr(Flags::NEEDS_CSUM, GsoType::NONE, 0, 0, 56, 16);
    assert_eq!(
        from_header(&h, &frame, Link::Tun),
        Ok(meta(TCP.with(V6), 0, 56, 0, 0))
    );
}

#[test]
fn from_header_errors() {
    let tcp4 = on_ethernet(PacketSpec::tcp4(100));
    let udp4 = on_ethernet(PacketSpec::udp4(100));
    let csum = |start, offset| hdr(Flags::NEEDS_CSUM, GsoType::NONE, 0, 0, start, offset);
    let tso = |gso, size, offset| hdr(Flags::NEEDS_CSUM, gso, 0, size, 34, offset);
    let mut arp = tcp4.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let mut frag = PacketSpec {
        ethernet: Some(None),
        ..PacketSpec::udp4(100)
    };
    frag.ip_id = 7;
    let mut frag = frag.build();
    frag[14 + 6] = 0x20; // MF
    // A UDP datagram whose IP header says the UDP header is cut short.
    let mut short_udp = udp4[..34 + 4].to_vec();
    short_udp[14 + 3] = 24;
    let cases: [(VnetHdr, &[u8], MetaError); 14] = [
        (
            hdr(Flags::EMPTY, GsoType::TCPV4, 0, 1460, 0, 0),
            &tcp4,
            field_error("M7", Field::Flags, 0, Bound::Present),
        ),
        (
            tso(GsoType::UDP, 1000, 6),
            &udp4,
            MetaError::UnsupportedGsoType(3),
        ),
        (
            tso(GsoType(0x21), 1000, 16),
            &tcp4,
            MetaError::UnsupportedGsoType(0x21),
        ),
        (
            tso(GsoType::TCPV4, 0, 16),
            &tcp4,
            field_error("M7", Field::GsoSize, 0, Bound::NonZero),
        ),
        (
            VnetHdr {
                hdr_len: 1000,
                ..csum(34, 16)
            },
            &tcp4,
            field_error("M7", Field::HdrLen, 1000, Bound::AtMost(154)),
        ),
        (
            csum(34, 10),
            &tcp4,
            field_error("M7", Field::CsumOffset, 10, Bound::OneOf(&[6, 16])),
        ),
        (
            tso(GsoType::TCPV4, 1000, 6),
            &tcp4,
            field_error("M7", Field::CsumOffset, 6, Bound::Equal(16)),
        ),
        (
            tso(GsoType::UDP_L4, 1000, 16),
            &udp4,
            field_error("M7", Field::CsumOffset, 16, Bound::Equal(6)),
        ),
        (
            csum(34, 16),
            &arp,
            m7_frame(Problem::Wire(wire::Error::UnsupportedEtherType(0x0806))),
        ),
        (
            tso(GsoType::TCPV6, 1000, 16),
            &tcp4,
            m7_frame(Problem::IpVersionMismatch {
                expected: IpVersion::V6,
                found: IpVersion::V4,
            }),
        ),
        (csum(34, 6), &frag, m7_frame(Problem::Fragment)),
        (
            csum(30, 16),
            &tcp4,
            field_error("M7", Field::CsumStart, 30, Bound::Equal(34)),
        ),
        (
            csum(34, 6),
            &tcp4,
            m7_frame(Problem::ProtocolMismatch {
                expected: IpProtocol::UDP,
                found: IpProtocol::TCP,
            }),
        ),
        (
            csum(34, 6),
            &short_udp,
            MetaError::Frame {
                rule: "M7",
                problem: Problem::Truncated { need: 42, have: 38 },
            },
        ),
    ];
    for (h, frame, e) in cases {
        assert_eq!(from_header(&h, frame, Link::Tap), Err(e), "{h:?}");
        assert_eq!(e.rule(), "M7");
    }
    // A TCP header cut short: its data offset says 60 bytes, the datagram holds 30 after IP.
    let mut short_tcp = on_ethernet(PacketSpec::tcp4(10));
    short_tcp[34 + 12] = 0xF0;
    assert_eq!(
        from_header(&csum(34, 16), &short_tcp, Link::Tap),
        Err(m7_frame(Problem::Wire(wire::Error::Truncated {
            layer: wire::Layer::Tcp,
            need: 60,
            have: 30
        })))
    );
    // Ethernet padding after the datagram does not count as TCP header.
    short_tcp.extend_from_slice(&[0; 40]);
    assert!(from_header(&csum(34, 16), &short_tcp, Link::Tap).is_err());
    // A frame cut inside the datagram.
    assert_eq!(
        from_header(&csum(34, 16), &tcp4[..40], Link::Tap),
        Err(m7_frame(Problem::Wire(wire::Error::Truncated {
            layer: wire::Layer::Ipv4,
            need: 140,
            have: 26
        })))
    );
}

// ---- M8: header -> receive metadata (OpenVMM's TAP endpoint cases) ----

#[test]
fn rx_metadata_follows_m8() {
    use L4Protocol as P;
    use RxChecksumState::{Good, Unknown};
    let rx = |flags, gso| rx_metadata(&hdr(flags, gso, 0, 0, 0, 0));
    let m = |ip, l4, p| RxMetadata {
        ip_checksum: ip,
        l4_checksum: l4,
        l4_protocol: p,
        ..RxMetadata::default()
    };
    assert_eq!(rx(Flags::DATA_VALID, GsoType::TCPV4), m(Good, Good, P::Tcp));
    assert_eq!(
        rx(Flags::NEEDS_CSUM, GsoType::TCPV6),
        m(Unknown, Unknown, P::Tcp)
    );
    assert_eq!(rx(Flags::EMPTY, GsoType::NONE), RxMetadata::default());
    assert_eq!(
        rx(Flags::EMPTY, GsoType::NONE),
        m(Unknown, Unknown, P::Unknown)
    );
    assert_eq!(rx(Flags::DATA_VALID, GsoType::UDP), m(Good, Good, P::Udp));
    assert_eq!(rx(Flags::EMPTY, GsoType::UDP_L4).l4_protocol, P::Udp);
    assert_eq!(rx(Flags::EMPTY, GsoType(0x81)).l4_protocol, P::Tcp);
    assert_eq!(rx(Flags::EMPTY, GsoType(2)).l4_protocol, P::Unknown);
}

#[test]
fn checksum_state_is_valid() {
    use RxChecksumState::*;
    assert!(Good.is_valid() && ValidatedButWrong.is_valid());
    assert!(!Unknown.is_valid() && !Bad.is_valid());
}

// ---- M9-M10: software fix-ups ----

/// A 34-byte Ethernet + IPv4 frame: TTL 64, TCP, 10.0.0.1 -> 10.0.0.2, checksum and total
/// length 0 (as an NDIS LSO sender leaves them).
fn bare_ipv4_frame() -> [u8; 34] {
    let mut f = [0u8; 34];
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[14 + 8] = 64;
    f[14 + 9] = 6;
    f[14 + 12..14 + 16].copy_from_slice(&[10, 0, 0, 1]);
    f[14 + 16..14 + 20].copy_from_slice(&[10, 0, 0, 2]);
    f
}

#[test]
fn ipv4_fixup() {
    let mut f = bare_ipv4_frame();
    let check = fixup_ipv4_header_checksum(&mut f, 14).unwrap();
    assert_ne!(check, 0);
    assert_eq!(csum::sum(&f[14..34]), 0xFFFF);
    assert_eq!(u16::from_be_bytes([f[14 + 10], f[14 + 11]]), check);
    assert_eq!(u16::from_be_bytes([f[16], f[17]]), 20);
}

#[test]
fn ipv4_fixup_options_and_lso_length() {
    let mut f = on_ethernet(PacketSpec {
        ip_options: vec![1; 8],
        ..PacketSpec::tcp4(3000)
    });
    f[14 + 2..14 + 4].copy_from_slice(&[0, 0]);
    f[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
    fixup_ipv4_header_checksum(&mut f, 14).unwrap();
    assert_eq!(
        usize::from(u16::from_be_bytes([f[16], f[17]])),
        f.len() - 14
    );
    assert!(
        csum::verify(&f[14..14 + 28]),
        "the checksum covers the options"
    );
    assert!(!csum::verify(&f[14..14 + 20]));
}

#[test]
fn ipv4_fixup_oversize_total_length_is_zero() {
    let mut f = std::vec![0u8; 14 + 70_000];
    f[..34].copy_from_slice(&bare_ipv4_frame());
    f[16..18].copy_from_slice(&[0xAB, 0xCD]);
    fixup_ipv4_header_checksum(&mut f, 14).unwrap();
    assert_eq!(f[16..18], [0, 0]);
    assert!(csum::verify(&f[14..34]));
}

#[test]
fn ipv6_fixup() {
    let mut f = on_ethernet(PacketSpec::tcp6(3000));
    let want = f.len() - 14 - 40;
    f[14 + 4..14 + 6].copy_from_slice(&[0, 0]);
    assert_eq!(fixup_ipv6_payload_length(&mut f, 14), Ok(want as u16));
    assert_eq!(usize::from(u16::from_be_bytes([f[18], f[19]])), want);
    let mut big = std::vec![0u8; 40 + 70_000];
    big[0] = 0x60;
    big[4] = 0xFF;
    assert_eq!(fixup_ipv6_payload_length(&mut big, 0), Ok(0));
    assert_eq!(big[4..6], [0, 0]);
}

/// M9, M10: a frame the fix-up cannot read is refused by name, and nothing is written.
#[test]
fn fixup_errors() {
    let truncated = |need, have| Problem::Truncated { need, have };
    let version = |expected, found| Problem::WrongIpVersion { expected, found };
    let v4 = bare_ipv4_frame();
    let first = |byte: u8| {
        let mut f = v4;
        f[14] = byte;
        f.to_vec()
    };
    let m9 = |problem| MetaError::Frame {
        rule: "M9",
        problem,
    };
    let ipv4_cases = [
        ("cut short", v4[..33].to_vec(), 14, m9(truncated(34, 33))),
        (
            "l3 past the end",
            v4.to_vec(),
            usize::MAX,
            m9(truncated(usize::MAX, 34)),
        ),
        (
            "IHL 4",
            first(0x44),
            14,
            field_error("M9", Field::Ihl, 4, Bound::AtLeast(5)),
        ),
        (
            "options past the end",
            first(0x46),
            14,
            m9(truncated(38, 34)),
        ),
        ("version 6", first(0x65), 14, m9(version(4, 6))),
    ];
    for (name, mut f, l3, want) in ipv4_cases {
        let before = f.clone();
        assert_eq!(fixup_ipv4_header_checksum(&mut f, l3), Err(want), "{name}");
        assert_eq!(want.rule(), "M9");
        assert_eq!(f, before, "{name}: nothing written on error");
    }
    let mut v6 = [0u8; 54];
    v6[14] = 0x45;
    let m10 = |problem| MetaError::Frame {
        rule: "M10",
        problem,
    };
    let ipv6_cases = [
        ("version 4", v6.to_vec(), m10(version(6, 4))),
        ("cut short", v6[..53].to_vec(), m10(truncated(54, 53))),
    ];
    for (name, mut f, want) in ipv6_cases {
        let before = f.clone();
        assert_eq!(fixup_ipv6_payload_length(&mut f, 14), Err(want), "{name}");
        assert_eq!(want.rule(), "M10");
        assert_eq!(f, before, "{name}: nothing written on error");
    }
}

// ---- types ----

#[test]
fn error_messages_name_field_and_bound() {
    let cases = [
        (
            field_error("M1", Field::L4Len, 22, Bound::MultipleOf(4)),
            "M1: l4_len 22 must be a multiple of 4",
        ),
        (
            field_error("M7", Field::CsumOffset, 10, Bound::OneOf(&[6, 16])),
            "M7: csum_offset 10 must be one of [6, 16]",
        ),
        (
            MetaError::Overflow {
                field: Field::HdrLen,
                sum: 65546,
            },
            "M1: hdr_len would be 65546, must be at most 65535",
        ),
        (
            MetaError::Frame {
                rule: "M7",
                problem: Problem::Truncated { need: 34, have: 33 },
            },
            "M7: packet of 33 bytes, needs 34",
        ),
        (
            MetaError::Frame {
                rule: "M10",
                problem: Problem::WrongIpVersion {
                    expected: 6,
                    found: 4,
                },
            },
            "M10: IP version is 4, must be 6",
        ),
        (
            m7_frame(Problem::ProtocolMismatch {
                expected: IpProtocol::UDP,
                found: IpProtocol::TCP,
            }),
            "M7: the header asks for IP protocol 17, the packet carries 6",
        ),
    ];
    for (e, msg) in cases {
        assert_eq!(e.to_string(), msg);
    }
    for e in [
        MetaError::BothIpVersions,
        MetaError::NoIpVersion,
        m7_frame(Problem::Wire(wire::Error::BadIhl(3))),
        MetaError::UnsupportedGsoType(3),
        m7_frame(Problem::IpVersionMismatch {
            expected: IpVersion::V4,
            found: IpVersion::V6,
        }),
        m7_frame(Problem::Fragment),
    ] {
        let _: &dyn core::error::Error = &e;
        assert!(e.to_string().starts_with(e.rule()), "{e}");
    }
    for b in [
        Bound::NonZero,
        Bound::Equal(6),
        Bound::AtLeast(1),
        Bound::AtMost(2),
        Bound::Present,
    ] {
        assert!(!b.to_string().is_empty());
    }
}

#[test]
fn flags_and_vlan() {
    assert_eq!(
        std::format!("{:?}", TSO.with(V4).with(TxFlags(0x80))),
        "TCP_SEGMENTATION|IS_IPV4|0x80"
    );
    assert_eq!(std::format!("{:?}", TxFlags::EMPTY), "0x00");
    assert!(TSO.with(V4).intersects(V4) && !TSO.intersects(V4));
    assert_eq!(TSO.with(V4).without(TSO), V4);
    let tag = VlanMetadata::new(5, true, 100);
    assert_eq!(tag, VlanMetadata(0xB064));
    assert_eq!(
        (tag.priority(), tag.drop_eligible(), tag.vlan_id()),
        (5, true, 100)
    );
    assert_eq!(TxRule::of(&TxMetadata::default()), TxRule::None);
}
