//! K15-K17: the facts that differ between kernel lines, each under both values.

use super::fixtures::{checksum, csum_hdr, gso_hdr, in_tunnel, tunnel_hdr, with_dest_opts};
use super::*;
use crate::kernel::{LINUX_6_1, LINUX_6_12, LINUX_6_18, LINUX_6_18_DISSECT};
use std::vec;
use vnet_packet::PacketSpec;

fn under(kernel: Profile, hdr: &VnetHdr, pkt: &[u8]) -> Result<Offload, CheckError> {
    check(hdr, pkt, &CheckOptions::DEFAULT.with_kernel(kernel))
}

/// A GSO header without NEEDS_CSUM (as a sender that leaves the checksum to the segmenter
/// writes it).
fn no_csum(gso_type: GsoType, gso_size: u16) -> VnetHdr {
    VnetHdr {
        gso_type,
        gso_size,
        ..VnetHdr::default()
    }
}

/// The kernel-differential's case 28 (seed 1592640748): TCPV6 without NEEDS_CSUM over an
/// IPv6/UDP packet. A non-dissecting kernel accepts the write and its segmenter drops the
/// packet (S1); a dissecting one refuses the write (V9: UDP is not TCP).
#[test]
fn regression_k15_tcpv6_over_udp6() {
    let pkt = PacketSpec::udp6(1970).build();
    let hdr = VnetHdr {
        hdr_len: 100,
        csum_start: 1,
        ..no_csum(GsoType::TCPV6, 40)
    };
    let late = under(LINUX_6_18, &hdr, &pkt).unwrap_err();
    assert_eq!(late.rule(), "S1", "{late}");
    let refused = under(LINUX_6_18_DISSECT, &hdr, &pkt).unwrap_err();
    assert_eq!(
        refused,
        CheckError::Packet {
            rule: "V9",
            problem: Problem::ProtocolMismatch {
                expected: IpProtocol::TCP,
                found: IpProtocol::UDP
            }
        }
    );
}

/// The kernel-differential's case 93: TCPV4 over an IPv6/TCP packet. Dissecting kernels
/// read the version from the packet and refuse the mismatch at write time.
#[test]
fn regression_k15_tcpv4_over_ipv6() {
    let pkt = PacketSpec::tcp6(2036).build();
    let hdr = no_csum(GsoType::TCPV4, 100);
    assert_eq!(under(LINUX_6_18, &hdr, &pkt).unwrap_err().rule(), "S1");
    assert_eq!(
        under(LINUX_6_18_DISSECT, &hdr, &pkt),
        Err(CheckError::Packet {
            rule: "V9",
            problem: Problem::IpVersionMismatch {
                expected: IpVersion::V4,
                found: IpVersion::V6
            }
        })
    );
}

/// The GSO differential's case 38: IPv4 with 20 bytes of options, TSO without NEEDS_CSUM,
/// 16 payload bytes at gso_size 19. V5's estimate (from a 20-byte IP header) makes it GSO on
/// a non-dissecting kernel, whose segmenter then drops it (K2); a dissecting kernel finds the
/// real transport header, so the payload fits one segment: a plain packet, delivered.
#[test]
fn regression_k15_options_make_a_single_segment() {
    let pkt = PacketSpec {
        ip_options: vec![1; 20],
        ..PacketSpec::tcp4(16)
    }
    .build();
    let hdr = VnetHdr {
        hdr_len: 60,
        ..no_csum(GsoType::TCPV4, 19)
    };
    assert_eq!(under(LINUX_6_18, &hdr, &pkt).unwrap_err().rule(), "S1");
    assert_eq!(under(LINUX_6_18_DISSECT, &hdr, &pkt), Ok(Offload::Plain));
}

/// UFO names no IP version: a dissecting kernel reads the packet's, IPv6 here, and follows
/// its extension headers to UDP.
#[test]
fn k15_ufo_follows_the_packets_version() {
    let pkt = with_dest_opts(PacketSpec::udp6(1001), 24).build();
    let hdr = no_csum(GsoType::UDP, 26);
    for kernel in [LINUX_6_18, LINUX_6_18_DISSECT] {
        let Ok(Offload::Segment(req)) = under(kernel, &hdr, &pkt) else {
            panic!("UFO over IPv6 with options under {kernel:?}");
        };
        assert_eq!(req.headers.l4_offset, 64);
    }
}

/// K15 concerns TUN only: TAP frames are judged as before.
#[test]
fn k15_not_on_tap() {
    let pkt = PacketSpec {
        ethernet: Some(None),
        ..PacketSpec::udp6(1970)
    }
    .build();
    let opts = CheckOptions::DEFAULT
        .with_link(Link::Tap)
        .with_kernel(LINUX_6_18_DISSECT);
    let err = check(&no_csum(GsoType::TCPV6, 40), &pkt, &opts).unwrap_err();
    assert_eq!(err.rule(), "S1");
}

/// K16: a kernel without USO on TUN refuses UDP_L4 like an unknown type.
#[test]
fn k16_uso_unknown_before_6_2() {
    let pkt = PacketSpec::udp4(300).build_partial();
    let hdr = gso_hdr(GsoType::UDP_L4, 100, 20, 6);
    assert!(matches!(
        under(LINUX_6_18, &hdr, &pkt),
        Ok(Offload::Segment(_))
    ));
    assert_eq!(
        under(LINUX_6_1, &hdr, &pkt),
        Err(field(
            "V1",
            Field::GsoType,
            GsoType::UDP_L4.0,
            Bound::KnownGsoType
        ))
    );
}

/// K20: a kernel without UDP-tunnel GSO refuses the tunnel bits like an unknown type, even
/// with a 24-byte header and tunnel GSO negotiated as far as the caller knows.
#[test]
fn k20_tunnel_unknown_before_6_17() {
    let pkt = in_tunnel(&PacketSpec::tcp4(3000).build_partial());
    let hdr = tunnel_hdr();
    let opts = |kernel| {
        CheckOptions::DEFAULT
            .with_layout(Layout::V1HashTunnel)
            .with_kernel(kernel)
            .with_tunnel(true, true)
    };
    assert!(matches!(
        check(&hdr, &pkt, &opts(LINUX_6_18)),
        Ok(Offload::Segment(GsoRequest {
            tunnel: Some(_),
            ..
        }))
    ));
    for kernel in [LINUX_6_1, LINUX_6_12] {
        assert_eq!(
            check(&hdr, &pkt, &opts(kernel)),
            Err(field("V1", Field::GsoType, 0x21u8, Bound::KnownGsoType)),
            "{kernel:?}"
        );
    }
}

/// K24: a tunnel request whose payload fits in one segment (V5) is a checksum-only packet,
/// as for plain GSO: Linux accepts the write and sends the packet whole with its inner
/// checksum completed. (It keeps its tunnel GSO bits, so a TUN reader without tunnel offload
/// fails to read it: EINVAL on read, which an earlier reading of the differential mistook
/// for a refused write.) The UDP-tunnel differential's case 167 of seed 7: inner TCPv4 with
/// 5 payload bytes at gso_size 12; `sent` is what B's packet tap saw, forwarding undone.
#[test]
fn regression_k21_tunnel_single_segment_is_a_checksum() {
    use vnet_packet::unhex;
    let (hdr, _) = VnetHdr::read(
        &unhex("092100000c00480010000000000000000000000024003400"),
        Layout::V1HashTunnel,
        crate::hdr::Endian::Little,
    )
    .unwrap();
    let pkt = unhex(
        "49d900615a0e00008411dd28c0000201c6336402019e0776249ce0940000000000000000113c12b5003d\
         ec850800000000abcd00458d002dc2d50000a5061e2e0a010004c633640212c5bcb4313ffca0ee89966b\
         5011d863345a0000030a11181f",
    );
    let sent = unhex(
        "49d900615a0e00008411dd28c0000201c6336402019e0776249ce0940000000000000000113c12b5003d\
         ec850800000000abcd00458d002dc2d50000a5061e2e0a010004c633640212c5bcb4313ffca0ee89966b\
         5011d863edbe0000030a11181f",
    );
    let opts = CheckOptions::DEFAULT
        .with_layout(Layout::V1HashTunnel)
        .with_tunnel(true, true);
    let answer = check(&hdr, &pkt, &opts);
    assert_eq!(answer, checksum(72, 16));
    let Ok(Offload::Checksum(req)) = answer else {
        unreachable!()
    };
    let mut out = pkt.clone();
    crate::gso::complete_checksum(&mut out, req).unwrap();
    assert_eq!(out, sent);
}

/// K17: `csum_start` inside the IP header is refused only where the kernel bounds it.
#[test]
fn k17_csum_start_inside_the_ip_header() {
    let pkt = PacketSpec::udp4(64).build();
    let hdr = csum_hdr(10, 6);
    assert_eq!(under(LINUX_6_18, &hdr, &pkt).unwrap_err().rule(), "V3");
    assert_eq!(under(LINUX_6_1, &hdr, &pkt), checksum(10, 6));
}
