//! Strategies for offload metadata ([`TxMetadata`]), and frames that match it.

use proptest::prelude::*;
use proptest::sample::select;
use vnet_core::hdr::{Flags, GsoType, VnetHdr};
use vnet_core::meta::{self, TxFlags, TxMetadata, TxRule, VlanMetadata};
use vnet_core::wire::Link;
use vnet_packet::{L4, PacketSpec, tcp_flags, v6_dest_opts};

use super::hdr::bytes_any;
use crate::laws::meta::TxCase;

/// Any flag byte, the reserved bit included.
pub fn tx_flags_any() -> impl Strategy<Value = TxFlags> {
    any::<u8>().prop_map(TxFlags)
}

/// Any tag, or none.
pub fn vlan_any() -> impl Strategy<Value = Option<VlanMetadata>> {
    proptest::option::of(any::<u16>().prop_map(VlanMetadata))
}

/// Any metadata: every field any value. Most of it is inconsistent (M1).
pub fn tx_metadata_any() -> impl Strategy<Value = TxMetadata> {
    (
        tx_flags_any(),
        any::<u8>(),
        any::<u16>(),
        any::<u8>(),
        any::<u16>(),
        vlan_any(),
    )
        .prop_map(|(flags, l2_len, l3_len, l4_len, mss, vlan)| TxMetadata {
            flags,
            l2_len,
            l3_len,
            l4_len,
            max_segment_size: mss,
            vlan,
        })
}

/// Metadata that the header can carry (M1 holds) and that a frame can match: one IP version when
/// anything is offloaded; `l2_len` 0 (TUN), 14 or 18 (TAP, with a tag); `l3_len` an IPv4 header
/// with up to 40 bytes of options or an IPv6 header with up to 64 bytes of extension headers;
/// for TCP segmentation `l4_len` a TCP header with up to 40 bytes of options; a non-zero MSS for
/// segmentation. Flags of rules that lose to the selected one, the IPv4 header checksum flag
/// (with either version) and a tag are added at random; lengths a rule does not use are any value.
pub fn tx_metadata_representable() -> impl Strategy<Value = TxMetadata> {
    let rule = select(vec![
        TxFlags::OFFLOAD_TCP_SEGMENTATION,
        TxFlags::OFFLOAD_UDP_SEGMENTATION,
        TxFlags::OFFLOAD_TCP_CHECKSUM,
        TxFlags::OFFLOAD_UDP_CHECKSUM,
        TxFlags::EMPTY,
    ]);
    let version = select(vec![TxFlags::IS_IPV4, TxFlags::IS_IPV6]);
    (
        (rule, version, any::<u8>(), any::<bool>()),
        (select(vec![0u8, 14, 18]), 0u16..=10, 0u16..=8, 0u8..=10),
        (
            prop_oneof![1u16..=200, 1u16..=u16::MAX],
            any::<u8>(),
            any::<u16>(),
            vlan_any(),
        ),
    )
        .prop_map(
            |((rule, version, extra, no_version), (l2, v4_opts, v6_ext, tcp_opts), rest)| {
                let (mss, any_l4, any_mss, vlan) = rest;
                // The flags below the selected rule's bit in M2-M5's order may be set too.
                let losers = match rule {
                    TxFlags::OFFLOAD_TCP_SEGMENTATION => 0b0100_0110,
                    TxFlags::OFFLOAD_UDP_SEGMENTATION => 0b0000_0110,
                    TxFlags::OFFLOAD_TCP_CHECKSUM => 0b0000_0100,
                    _ => 0,
                };
                let ip_header = extra & TxFlags::OFFLOAD_IP_HEADER_CHECKSUM.0;
                let mut flags = rule.with(TxFlags((extra & losers) | ip_header));
                // Nothing offloaded: the version is optional.
                if rule != TxFlags::EMPTY || !no_version {
                    flags = flags.with(version);
                }
                let l3_len = if version == TxFlags::IS_IPV4 {
                    20 + 4 * v4_opts
                } else {
                    40 + 8 * v6_ext
                };
                let m = TxMetadata {
                    flags,
                    l2_len: l2,
                    l3_len,
                    l4_len: any_l4,
                    max_segment_size: any_mss,
                    vlan,
                };
                match TxRule::of(&m) {
                    TxRule::Tso => TxMetadata {
                        l4_len: 20 + 4 * tcp_opts,
                        max_segment_size: mss,
                        ..m
                    },
                    TxRule::Uso => TxMetadata {
                        max_segment_size: mss,
                        ..m
                    },
                    _ => m,
                }
            },
        )
}

/// A frame that matches representable metadata `m`, with `payload_len` bytes of payload: the link
/// header `l2_len` says (none on TUN, Ethernet with a tag at 18), an IP header of `l3_len` bytes
/// (IPv4 options as NOPs; IPv6 with one destination-options header), and the transport header
/// of the selected rule (TCP of `l4_len` bytes for segmentation, else 20; UDP 8). Built with
/// vnet-packet: lengths and checksums are right (the translations read neither checksum).
pub fn frame_for(m: &TxMetadata, payload_len: usize) -> (Vec<u8>, Link) {
    let v6 = m.flags.contains(TxFlags::IS_IPV6);
    let rule = TxRule::of(m);
    let offloading = rule != TxRule::None;
    let udp = matches!(rule, TxRule::Uso | TxRule::UdpChecksum);
    let l3 = match (offloading, v6) {
        (true, _) => usize::from(m.l3_len),
        (false, true) => 40,
        (false, false) => 20,
    };
    let l4 = match rule {
        TxRule::Tso => usize::from(m.l4_len),
        _ if udp => 8,
        _ => 20,
    };
    let mut spec = PacketSpec::of(v6, udp, 0);
    (spec.src_port, spec.dst_port) = (0xc001, 443);
    spec.payload = (0..payload_len).map(|i| (i * 31 + 7) as u8).collect();
    if !udp {
        spec.l4 = L4::Tcp {
            seq: 7,
            ack: 0,
            flags: tcp_flags::ACK,
            window: 0,
        };
        spec.tcp_options = vec![1; l4 - 20];
    }
    if v6 && l3 > 40 {
        spec.v6_ext = vec![v6_dest_opts(l3 - 40)];
    } else if !v6 {
        spec.ip_options = vec![1; l3 - 20];
    }
    let link = if m.l2_len == 0 { Link::Tun } else { Link::Tap };
    spec.ethernet = match m.l2_len {
        0 => None,
        18 => Some(Some(0x200a)),
        _ => Some(None),
    };
    (spec.build(), link)
}

/// Representable metadata with a frame that matches it and the frame's link.
pub fn tx_case_representable() -> impl Strategy<Value = TxCase> {
    (tx_metadata_representable(), 0usize..=300).prop_map(|(m, payload)| {
        let (frame, link) = frame_for(&m, payload);
        (m, frame, link)
    })
}

/// Frames for totality tests: any bytes, or a matching frame with a few bytes overwritten and
/// its end possibly cut off.
pub fn frame_any() -> impl Strategy<Value = Vec<u8>> {
    let damaged = (
        tx_case_representable(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        any::<prop::sample::Index>(),
    )
        .prop_map(|((_, mut frame, _), flips, cut)| {
            for (at, byte) in flips {
                let i = at.index(frame.len());
                frame[i] = byte;
            }
            let keep = cut.index(frame.len() + 1).max(frame.len() / 2);
            frame.truncate(keep);
            frame
        });
    prop_oneof![1 => bytes_any(200), 3 => damaged]
}

/// A header that comes from representable metadata, its frame and link, with at most one header
/// field changed to a nearby or arbitrary value: inputs that pass most of `check`'s and
/// `from_header`'s rules and then break one.
pub fn hdr_frame_near_valid() -> impl Strategy<Value = (VnetHdr, Vec<u8>, Link)> {
    let change = prop_oneof![
        2 => Just(None),
        3 => (0usize..6, any::<u16>(), any::<bool>()).prop_map(Some),
    ];
    (tx_case_representable(), change).prop_map(|((m, frame, link), change)| {
        let mut h = meta::to_header(&m).unwrap_or_default();
        if let Some((field, value, small)) = change {
            let bump = |v: u16| {
                if small {
                    v.wrapping_add(value % 9).wrapping_sub(4)
                } else {
                    value
                }
            };
            match field {
                0 => h.flags = Flags(bump(h.flags.0.into()) as u8),
                1 => h.gso_type = GsoType(bump(h.gso_type.0.into()) as u8),
                2 => h.hdr_len = bump(h.hdr_len),
                3 => h.gso_size = bump(h.gso_size),
                4 => h.csum_start = bump(h.csum_start),
                _ => h.csum_offset = bump(h.csum_offset),
            }
        }
        (h, frame, link)
    })
}
