//! Strategies for GSO super-packets and their virtio-net headers, built with
//! [`PacketSpec`].

use proptest::collection::vec;
use proptest::prelude::*;
use vnet_core::gso::GsoOptions;
use vnet_core::hdr::{Flags, GsoType, VnetHdr};
use vnet_core::wire::Link;

use crate::packet::{L4, PacketSpec, v6_dest_opts};

/// The most bytes an IP packet may hold (IPv4 `total_len`, IPv6 `payload_len` + 40).
const IP_MAX: usize = 65535;

/// Segments per super-packet at most: keeps a case fast while still reaching every path (the
/// USO limit itself is 128).
const MAX_SEGMENTS: usize = 160;

/// What to segment: a valid super-packet, the header that asks for it, and the options.
#[derive(Clone, Debug)]
pub struct SuperPacket {
    /// The packet's description.
    pub spec: PacketSpec,
    /// The packet's bytes.
    pub pkt: Vec<u8>,
    /// The virtio-net header.
    pub hdr: VnetHdr,
    /// Segmentation options (the link matches the packet).
    pub opts: GsoOptions,
}

/// Which segmentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// TCP (TCPV4 / TCPV6).
    Tcp,
    /// USO (UDP_L4).
    Uso,
    /// UFO (UDP): IPv4 fragments, or IPv6 fragments with a fragment header (K7, K8).
    Ufo,
}

/// IPv4 options: NOPs ending in an end-of-options byte, 0..=40 bytes in steps of 4.
pub fn ipv4_options_any() -> impl Strategy<Value = Vec<u8>> {
    (0usize..=10).prop_map(|words| {
        let mut o = vec![1u8; words * 4];
        if let Some(last) = o.last_mut() {
            *last = 0;
        }
        o
    })
}

/// TCP options: a timestamp (with NOP padding), NOPs, or none; 0..=40 bytes in steps of 4.
pub fn tcp_options_any() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        (any::<u32>(), any::<u32>()).prop_map(|(a, b)| {
            let mut o = vec![1, 1, 8, 10];
            o.extend_from_slice(&a.to_be_bytes());
            o.extend_from_slice(&b.to_be_bytes());
            o
        }),
        (1usize..=10).prop_map(|words| vec![1u8; words * 4]),
    ]
}

/// IPv6 extension headers: an optional hop-by-hop header first, then up to two destination-options
/// headers, each 8..=32 bytes.
pub fn ipv6_extensions_any() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    (any::<bool>(), vec(1usize..=4, 0..=2)).prop_map(|(hbh, dests)| {
        let mut v = Vec::new();
        if hbh {
            let (_, body) = v6_dest_opts(8);
            v.push((0, body));
        }
        for units in dests {
            v.push(v6_dest_opts(units * 8));
        }
        v
    })
}

/// The link: TUN, TAP, or TAP with an 802.1Q tag.
pub fn ethernet_any() -> impl Strategy<Value = Option<Option<u16>>> {
    prop_oneof![
        Just(None),
        Just(Some(None)),
        any::<u16>().prop_map(|t| Some(Some(t)))
    ]
}

/// `gso_size`: mostly MTU-like, sometimes tiny, sometimes huge (1..=65534; 65535 is GSO_BY_FRAGS,
/// which V2 rejects).
pub fn gso_size_any() -> impl Strategy<Value = u16> {
    prop_oneof![1u16..=64, 500u16..=9000, 1u16..=65534]
}

/// A valid super-packet of `kind` with everything else free: IPv4 with options or IPv6 with
/// extension headers, TCP options, TUN or TAP (with or without a VLAN tag), any `gso_size` and any
/// payload that fits in an IP packet (and in at most 160 segments, 128 for USO). The header asks for
/// exactly this packet; NEEDS_CSUM (with the pseudo-header sum in the field, C3) or, for TCP and
/// UFO, not (V10); ECN sometimes for TCP; AccECN and fixed-ID options free.
pub fn super_packet_with(kind: Kind) -> impl Strategy<Value = SuperPacket> {
    let v6 = any::<bool>();
    (
        v6,
        ipv4_options_any(),
        ipv6_extensions_any(),
        tcp_options_any(),
        ethernet_any(),
        gso_size_any(),
        (any::<u32>(), any::<u32>(), any::<u8>(), any::<u16>()),
        (
            any::<u16>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
        any::<bool>(),
    )
        .prop_flat_map(
            move |(v6, ip_options, v6_ext, tcp_options, ethernet, gso, tcp, ipf, accecn)| {
                let mut spec = if v6 {
                    PacketSpec::tcp6(0)
                } else {
                    PacketSpec::tcp4(0)
                };
                let (seq, ack, flags, window) = tcp;
                spec.l4 = match kind {
                    Kind::Tcp => L4::Tcp {
                        seq,
                        ack,
                        flags,
                        window,
                    },
                    Kind::Uso | Kind::Ufo => L4::Udp,
                };
                if v6 {
                    spec.v6_ext = v6_ext;
                } else {
                    spec.ip_options = ip_options;
                }
                if kind == Kind::Tcp {
                    spec.tcp_options = tcp_options;
                }
                spec.ethernet = ethernet;
                (spec.ip_id, spec.df) = (ipf.0, ipf.1);
                let headers = spec.l3_len() + spec.l4_len();
                let fit = IP_MAX - headers;
                let cap = if kind == Kind::Uso { 128 } else { MAX_SEGMENTS };
                let max = fit.min(usize::from(gso) * cap);
                let meta = (ipf.2, ipf.3, accecn, tcp.0);
                (Just(spec), Just(gso), Just(meta), vec(any::<u8>(), 0..=max))
            },
        )
        .prop_map(
            move |(mut spec, gso, (no_csum, ecn_or_fixed, accecn, frag_id), payload)| {
                spec.payload = payload;
                let link = if spec.ethernet.is_some() {
                    Link::Tap
                } else {
                    Link::Tun
                };
                let needs_csum = kind == Kind::Uso || !no_csum;
                let (gso_type, offset) = match kind {
                    Kind::Tcp if spec.v6 => (GsoType::TCPV6, 16),
                    Kind::Tcp => (GsoType::TCPV4, 16),
                    Kind::Uso => (GsoType::UDP_L4, 6),
                    Kind::Ufo => (GsoType::UDP, 6),
                };
                let gso_type = if kind == Kind::Tcp && ecn_or_fixed {
                    GsoType(gso_type.0 | GsoType::ECN.0)
                } else {
                    gso_type
                };
                let mut pkt = spec.build();
                let start = spec.l4_offset();
                let gso = fit_v5_estimate(&spec, pkt.len(), gso, needs_csum, kind);
                let mut hdr = VnetHdr {
                    gso_type,
                    gso_size: gso,
                    hdr_len: spec.hdr_len() as u16,
                    ..VnetHdr::default()
                };
                if needs_csum {
                    // C3: the field holds the pseudo-header sum.
                    let at = start + offset;
                    let ph = spec.pseudo_header(pkt.len() - start);
                    pkt[at..at + 2].copy_from_slice(&ph.to_be_bytes());
                    hdr.flags = Flags::NEEDS_CSUM;
                    hdr.csum_start = start as u16;
                    hdr.csum_offset = offset as u16;
                }
                let opts = GsoOptions {
                    link,
                    accecn,
                    fixed_id: ecn_or_fixed,
                    frag_id,
                    ..GsoOptions::default()
                };
                SuperPacket {
                    spec,
                    pkt,
                    hdr,
                    opts,
                }
            },
        )
}

/// V5 judges "is this GSO?" from a minimal header (`csum_start + thlen`, or the minimal IP header
/// plus thlen from the start of the packet); when options put the real payload within one segment
/// while that estimate says otherwise, Linux drops the packet (K2). Such a header is not a valid
/// input, so raise `gso_size` to the estimate: the packet then goes out whole (V5).
fn fit_v5_estimate(spec: &PacketSpec, len: usize, gso: u16, needs_csum: bool, kind: Kind) -> u16 {
    let thlen = if kind == Kind::Tcp { 20 } else { 8 };
    let p_off = if needs_csum {
        spec.l4_offset() + thlen
    } else {
        (if kind == Kind::Tcp && spec.v6 { 40 } else { 20 }) + thlen
    };
    let nh_off = if kind == Kind::Ufo {
        p_off - thlen
    } else {
        p_off
    };
    let estimate = len.saturating_sub(nh_off);
    let payload = spec.payload.len() + if kind == Kind::Ufo { 8 } else { 0 };
    if payload <= usize::from(gso) && estimate > usize::from(gso) {
        u16::try_from(estimate)
            .unwrap_or(u16::MAX - 1)
            .min(u16::MAX - 1)
    } else {
        gso
    }
}

/// Bytes V7 wants before a tunnel packet's outer transport header beyond the outer IP minimum:
/// `outer_th >= 14 + 20` (or `14 + 40`), the Ethernet header counted even on TUN (measured: K20),
/// so a TUN frame's outer IPv4 header needs at least 16 bytes of options (a multiple of 4) and its
/// outer IPv6 header at least 16 bytes of extension headers (a multiple of 8).
pub const TUN_OUTER_EXTRA: usize = 16;

/// Wraps `sp`, a TUN super-packet with NEEDS_CSUM (V7), in a UDP tunnel: `outer` (a UDP
/// [`PacketSpec`]: its framing, IP version, options or extension headers, addresses and ports;
/// its payload is replaced) + UDP + [`TUNNEL_HDR`](crate::packet::TUNNEL_HDR) + the inner packet.
/// The 24-byte header's offsets point at the outer UDP and the inner IP header, the tunnel bit
/// names the outer version (as V7 reads it), `csum_start` and `hdr_len` move by the outer
/// headers, and the link is the outer's (TAP with an Ethernet header, else TUN).
///
/// With `outer_csum` (UDP_TUNNEL_CSUM) the outer UDP checksum field holds the pseudo-header sum
/// over the outer UDP length, as for any checksum a device completes (C3; the kernel trusts that
/// seed); without, it is 0.
pub fn tunnel_super_packet(
    mut sp: SuperPacket,
    outer: &PacketSpec,
    outer_csum: bool,
) -> SuperPacket {
    let mut outer = outer.clone();
    outer.l4 = L4::Udp;
    let nh = outer.hdr_len() + crate::packet::TUNNEL_HDR.len();
    sp.pkt = outer.encapsulate(&sp.pkt);
    let th = outer.l4_offset();
    if outer_csum {
        let seed = outer.pseudo_header(sp.pkt.len() - th);
        sp.pkt[th + 6..th + 8].copy_from_slice(&seed.to_be_bytes());
    }
    let tunnel_bit = if outer.v6 {
        GsoType::UDP_TUNNEL_IPV6
    } else {
        GsoType::UDP_TUNNEL_IPV4
    };
    let h = &mut sp.hdr;
    h.gso_type = GsoType(h.gso_type.0 | tunnel_bit.0);
    if outer_csum {
        h.flags = Flags(h.flags.0 | Flags::UDP_TUNNEL_CSUM.0);
    }
    h.csum_start += nh as u16;
    h.hdr_len += nh as u16;
    h.outer_th_offset = th as u16;
    h.inner_nh_offset = nh as u16;
    sp.opts.link = if outer.ethernet.is_some() {
        Link::Tap
    } else {
        Link::Tun
    };
    sp
}

/// A valid UDP-tunnel super-packet (V7, S3b): an inner TCPv4/TCPv6/USO super-packet from
/// [`super_packet_with`] on TUN (IPv4 options, IPv6 extension headers, TCP options) wrapped by
/// [`tunnel_super_packet`] in an outer IPv4 (with options) or IPv6 (with extension headers), UDP
/// and an 8-byte tunnel header, on TAP (Ethernet first) or TUN (the outer IP header first, with
/// at least [`TUN_OUTER_EXTRA`] bytes of options or extension headers, which V7 needs there);
/// UDP_TUNNEL_CSUM on or off.
pub fn super_packet_tunnel() -> impl Strategy<Value = SuperPacket> {
    let inner = prop_oneof![super_packet_with(Kind::Tcp), super_packet_with(Kind::Uso)]
        .prop_filter("TUN, NEEDS_CSUM (V7), small enough to wrap", |sp| {
            sp.spec.ethernet.is_none()
                && sp.pkt.len() <= IP_MAX - 200
                && sp.hdr.flags.contains(Flags::NEEDS_CSUM)
        });
    (
        inner,
        any::<bool>(),
        ipv4_options_any(),
        ipv6_extensions_any(),
        any::<bool>(),
        any::<u16>(),
        any::<bool>(),
    )
        .prop_map(|(sp, outer_v6, ip_options, v6_ext, outer_csum, id, tap)| {
            let mut outer = if outer_v6 {
                PacketSpec::udp6(0)
            } else {
                PacketSpec::udp4(0)
            };
            outer.ip_id = id;
            if outer_v6 {
                outer.v6_ext = v6_ext;
            } else {
                outer.ip_options = ip_options;
            }
            if tap {
                outer.ethernet = Some(None);
            } else if outer.l3_len() < outer.l3_len_min() + TUN_OUTER_EXTRA {
                // V7 counts an Ethernet header on TUN too: make room for it.
                if outer_v6 {
                    outer.v6_ext.push(v6_dest_opts(TUN_OUTER_EXTRA));
                } else {
                    outer.ip_options = vec![1; TUN_OUTER_EXTRA];
                    outer.ip_options.extend(vec![0; 4 * (id % 6) as usize]);
                }
            }
            tunnel_super_packet(sp, &outer, outer_csum)
        })
}

/// The header of a checksum-only request for `spec`'s packet (C3): NEEDS_CSUM at the transport
/// header, no GSO. Also the base of [`gso_header`].
pub fn csum_header(spec: &PacketSpec) -> VnetHdr {
    VnetHdr {
        flags: Flags::NEEDS_CSUM,
        csum_start: spec.l4_offset() as u16,
        csum_offset: spec.csum_offset() as u16,
        ..VnetHdr::default()
    }
}

/// The header of a GSO request for `spec`'s super-packet in the virtio convention (P3, P4, P6):
/// NEEDS_CSUM at the transport header, the GSO type of the packet (TCPV4, TCPV6 or UDP_L4),
/// exact `hdr_len`. Not a strategy: the kernel suites and the benches attach it to the packets
/// they build.
pub fn gso_header(spec: &PacketSpec, gso_size: u16) -> VnetHdr {
    let gso_type = match (spec.l4, spec.v6) {
        (L4::Udp, _) => GsoType::UDP_L4,
        (L4::Tcp { .. }, false) => GsoType::TCPV4,
        (L4::Tcp { .. }, true) => GsoType::TCPV6,
    };
    VnetHdr {
        gso_type,
        hdr_len: spec.hdr_len() as u16,
        gso_size,
        ..csum_header(spec)
    }
}

/// A valid super-packet of any kind: TCP, USO or UFO.
pub fn super_packet_any() -> impl Strategy<Value = SuperPacket> {
    prop_oneof![
        4 => super_packet_with(Kind::Tcp),
        3 => super_packet_with(Kind::Uso),
        1 => super_packet_with(Kind::Ufo),
        2 => super_packet_tunnel(),
    ]
}

/// Any virtio-net header: every field free, with a bias towards the GSO types and offsets that
/// reach the segmenter.
pub fn vnet_hdr_any() -> impl Strategy<Value = VnetHdr> {
    (
        prop_oneof![any::<u8>(), Just(1u8)],
        prop_oneof![
            any::<u8>(),
            Just(1u8),
            Just(4),
            Just(5),
            Just(3),
            Just(0x81)
        ],
        any::<u16>(),
        prop_oneof![any::<u16>(), 1u16..200],
        prop_oneof![any::<u16>(), Just(20u16), Just(40), Just(34), Just(58)],
        prop_oneof![any::<u16>(), Just(16u16), Just(6)],
    )
        .prop_map(
            |(flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)| VnetHdr {
                flags: Flags(flags),
                gso_type: GsoType(gso_type),
                hdr_len,
                gso_size,
                csum_start,
                csum_offset,
                ..VnetHdr::default()
            },
        )
}
