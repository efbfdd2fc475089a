//! Seed inputs from real packet shapes, for every target: what `tests/fuzz_corpus.rs` writes to
//! `fuzz/corpus/<target>/seed-<name>` under `VNET_WRITE_SEEDS=1`, and checks in every run.
//!
//! The packets are built with vnet-packet's builder, in shapes from the RFCs: IPv4 with options,
//! IPv6 with hop-by-hop, routing, fragment and destination options headers, TCP with
//! MSS/window-scale/SACK-permitted/timestamp options, UDP, Ethernet with and without an 802.1Q
//! tag, and UDP tunnels. Transport checksum fields hold the pseudo-header sum,
//! as a NEEDS_CSUM packet does (C3).

use vnet_core::check::{CheckOptions, Mode, Offload};
use vnet_core::hdr::{Endian, Flags, GsoType, Layout, VnetHdr};
use vnet_core::kernel::Profile;
use vnet_core::wire::{EtherType, IpProtocol, Link};

use super::{
    CheckInput, FAULT_LEN_EXCEEDS, FAULT_LENS_LONG, FAULT_OUT_SHORT, FAULT_OWNER_SHORT,
    FLOW_IDS_SHIFT, FLOW_TCP_OPTIONS, FLOW_V6_EXT, FlowParams, GroGsoInput, GroInput, GroOp,
    GsoInput, MetaInput, representable,
};
use crate::packet::{L4, PacketSpec, tcp_flags};

/// One seed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seed {
    /// The target's directory name.
    pub target: &'static str,
    /// The file name (starts with `seed-`).
    pub name: String,
    /// The contents.
    pub bytes: Vec<u8>,
}

const SRC6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const DST6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// Real TCP options, 4-byte aligned: MSS 1460; NOP, window scale 7; SACK-permitted, NOP, NOP;
/// NOP, NOP, timestamps; NOP padding.
const TCP_OPTIONS: [u8; 40] = [
    2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 1, 1, 1, 1, 8, 10, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
];

/// IPv4 options: router alert (RFC 2113), then NOPs and an end-of-list.
const IPV4_OPTIONS: [u8; 40] = {
    let mut o = [1u8; 40];
    o[0] = 148;
    o[1] = 4;
    o[2] = 0;
    o[3] = 0;
    o[39] = 0;
    o
};

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

/// IPv4/TCP 40000 -> 443 with `options` bytes of [`TCP_OPTIONS`] (a multiple of 4, at most 40),
/// seq 1000, ack 1, PSH|ACK, window 65535, and `data` bytes; [`ipv4`] or [`ipv6`] builds it.
fn tcp(options: usize, data: usize) -> PacketSpec {
    PacketSpec {
        src_port: 40000,
        dst_port: 443,
        l4: L4::Tcp {
            seq: 1000,
            ack: 1,
            flags: tcp_flags::PSH | tcp_flags::ACK,
            window: 0xffff,
        },
        tcp_options: TCP_OPTIONS[..options].to_vec(),
        payload: payload(data),
        ..PacketSpec::tcp4(0)
    }
}

/// IPv4/UDP 12345 -> 4789 with `data` bytes.
fn udp(data: usize) -> PacketSpec {
    PacketSpec {
        src_port: 12345,
        payload: payload(data),
        ..PacketSpec::udp4(0)
    }
}

/// `l4` over IPv4 with `options` bytes of [`IPV4_OPTIONS`] (a multiple of 4), ID 0x1234, DF, its
/// transport checksum field holding the pseudo-header sum (C3).
fn ipv4(options: usize, mut l4: PacketSpec) -> Vec<u8> {
    l4.ip_options = IPV4_OPTIONS[..options].to_vec();
    l4.build_partial()
}

/// IPv4 (ID 0x1234, DF) carrying `l4` as is as protocol `proto`.
fn ipv4_raw(proto: IpProtocol, l4: &[u8]) -> Vec<u8> {
    PacketSpec::tcp4(0).build_raw(proto.0, l4)
}

/// An IPv6 extension header for [`PacketSpec::v6_ext`]: hop-by-hop with PadN, a type-4 (segment
/// routing) header with no segments left, an atomic fragment header, or 16 bytes of destination
/// options.
fn extension(kind: IpProtocol) -> (u8, Vec<u8>) {
    match kind {
        IpProtocol::FRAGMENT => (kind.0, vec![0, 0, 0xca, 0xfe, 0xf0, 0x0d]),
        IpProtocol::ROUTING => (kind.0, vec![4, 0, 0, 0, 0, 0]),
        IpProtocol::DESTINATION_OPTIONS => crate::packet::v6_dest_opts(16),
        _ => (kind.0, vec![1, 4, 0, 0, 0, 0]),
    }
}

/// `l4` over IPv6 with the extension headers `exts` (in order), its transport checksum field
/// holding the pseudo-header sum (C3).
fn ipv6(exts: &[IpProtocol], mut l4: PacketSpec) -> Vec<u8> {
    (l4.v6, l4.src, l4.dst) = (true, SRC6, DST6);
    l4.v6_ext = exts.iter().map(|&k| extension(k)).collect();
    l4.build_partial()
}

/// IPv6 with the extension headers `exts`, then `l4` as is as protocol `proto`.
fn ipv6_raw(exts: &[IpProtocol], proto: IpProtocol, l4: &[u8]) -> Vec<u8> {
    let mut s = PacketSpec::tcp6(0);
    s.v6_ext = exts.iter().map(|&k| extension(k)).collect();
    s.build_raw(proto.0, l4)
}

/// An Ethernet frame, with an 802.1Q tag (PCP 5, VID 100) if `vlan`.
fn ethernet(vlan: bool, ethertype: EtherType, payload: &[u8]) -> Vec<u8> {
    crate::packet::ethernet(vlan.then_some(0xa064), ethertype.0, payload)
}

fn ethertype_of(ip: &[u8]) -> EtherType {
    if ip.first().is_some_and(|b| b >> 4 == 6) {
        EtherType::IPV6
    } else {
        EtherType::IPV4
    }
}

/// The named packets the `wire` and `csum` seeds use: TUN packets (starting at IP) and TAP frames.
fn packets() -> Vec<(String, Vec<u8>)> {
    use IpProtocol as P;
    let mut out = vec![
        ("tcp4".into(), ipv4(0, tcp(0, 100))),
        ("tcp4-ipopt8-tcpopt12".into(), ipv4(8, tcp(12, 100))),
        ("tcp4-ipopt40-tcpopt40".into(), ipv4(40, tcp(40, 10))),
        ("udp4".into(), ipv4(0, udp(64))),
        ("udp4-ipopt4".into(), ipv4(4, udp(64))),
        ("icmp4".into(), ipv4_raw(P::ICMP, &[8, 0, 0, 0, 0, 1, 0, 1])),
        ("tcp6".into(), ipv6(&[], tcp(0, 100))),
        ("tcp6-tcpopt20".into(), ipv6(&[], tcp(20, 100))),
        ("udp6".into(), ipv6(&[], udp(64))),
        (
            "tcp6-hbh-dst".into(),
            ipv6(&[P::HOP_BY_HOP, P::DESTINATION_OPTIONS], tcp(12, 50)),
        ),
        (
            "udp6-hbh-rt-frag-dst".into(),
            ipv6(
                &[
                    P::HOP_BY_HOP,
                    P::ROUTING,
                    P::FRAGMENT,
                    P::DESTINATION_OPTIONS,
                ],
                udp(40),
            ),
        ),
        (
            "nonext6".into(),
            ipv6_raw(&[P::ROUTING], P::NO_NEXT_HEADER, &[]),
        ),
    ];
    let mut frag4 = ipv4(0, udp(64));
    frag4[6] = 0x20; // MF
    out.push(("udp4-mf".into(), frag4));
    let mut frag6 = ipv6(&[P::FRAGMENT], udp(32));
    frag6[42..44].copy_from_slice(&[0x00, 0x19]); // offset 3, M set
    out.push(("udp6-frag-offset".into(), frag6));
    let long_chain = ipv6(&[P::DESTINATION_OPTIONS; 9], tcp(0, 8));
    out.push(("tcp6-dst9-too-long".into(), long_chain));

    let tun: Vec<(String, Vec<u8>)> = out.clone();
    for (name, ip) in tun.iter().take(11) {
        out.push((format!("eth-{name}"), ethernet(false, ethertype_of(ip), ip)));
        out.push((format!("vlan-{name}"), ethernet(true, ethertype_of(ip), ip)));
    }
    out.push((
        "qinq-tcp4".into(),
        ethernet(true, EtherType::VLAN, &ipv4(0, tcp(0, 10))),
    ));
    out.push((
        "eth-arp".into(),
        ethernet(false, EtherType(0x0806), &[0; 28]),
    ));
    out
}

/// A header asking for a checksum at `start + offset`, with `gso_type` and `gso_size`.
fn gso(gso_type: GsoType, gso_size: u16, start: usize, offset: u16, hdr_len: usize) -> VnetHdr {
    VnetHdr {
        flags: Flags::NEEDS_CSUM,
        gso_type,
        gso_size,
        hdr_len: hdr_len as u16,
        csum_start: start as u16,
        csum_offset: offset,
        ..VnetHdr::default()
    }
}

/// The `check` seeds: every GSO type on TUN and TAP, with options, extension headers and VLAN tags,
/// plain and checksum-only packets, strict mode, and UDP tunnels over IPv4 and IPv6.
pub fn check_inputs() -> Vec<(String, CheckInput)> {
    use IpProtocol as P;
    let tso4 = GsoType::TCPV4;
    let tso6 = GsoType::TCPV6;
    let uso = GsoType::UDP_L4;
    let tso4_ecn = GsoType(GsoType::TCPV4.0 | GsoType::ECN.0);
    // (name, packet, gso type, gso_size, csum_start, csum_offset, hdr_len)
    let cases = [
        ("tso4", ipv4(0, tcp(0, 3000)), tso4, 1448, 20, 16, 40),
        ("tso4-opts", ipv4(8, tcp(12, 3000)), tso4, 1000, 28, 16, 60),
        (
            "tso4-ecn",
            ipv4(0, tcp(12, 4000)),
            tso4_ecn,
            1448,
            20,
            16,
            52,
        ),
        ("tso6", ipv6(&[], tcp(12, 3000)), tso6, 1428, 40, 16, 72),
        (
            "tso6-ext",
            ipv6(&[P::HOP_BY_HOP, P::DESTINATION_OPTIONS], tcp(0, 3000)),
            tso6,
            1400,
            64,
            16,
            84,
        ),
        ("uso4", ipv4(0, udp(4000)), uso, 1200, 20, 6, 28),
        (
            "uso6-rt",
            ipv6(&[P::ROUTING], udp(4000)),
            uso,
            1200,
            48,
            6,
            56,
        ),
        ("ufo4", ipv4(0, udp(4000)), GsoType::UDP, 1480, 20, 6, 28),
        (
            "csum-tcp4",
            ipv4(0, tcp(0, 100)),
            GsoType::NONE,
            0,
            20,
            16,
            0,
        ),
        ("csum-udp6", ipv6(&[], udp(100)), GsoType::NONE, 0, 40, 6, 0),
        ("small-tso4", ipv4(0, tcp(0, 500)), tso4, 1448, 20, 16, 40),
    ];
    let mut out = Vec::new();
    for (name, pkt, gso_type, size, start, offset, hdr_len) in cases {
        let hdr = gso(gso_type, size, start, offset, hdr_len);
        for (link, vlan) in [(Link::Tun, false), (Link::Tap, false), (Link::Tap, true)] {
            let (packet, shift, prefix) = match (link, vlan) {
                (Link::Tun, _) => (pkt.clone(), 0, "tun"),
                (Link::Tap, false) => (ethernet(false, ethertype_of(&pkt), &pkt), 14, "tap"),
                (Link::Tap, true) => (ethernet(true, ethertype_of(&pkt), &pkt), 18, "vlan"),
            };
            let shifted = VnetHdr {
                csum_start: hdr.csum_start + shift,
                hdr_len: if hdr.hdr_len == 0 {
                    0
                } else {
                    hdr.hdr_len + shift
                },
                ..hdr
            };
            let mut input = CheckInput::tun(shifted, packet);
            input.opts.link = link;
            out.push((format!("{prefix}-{name}"), input.clone()));
            if link == Link::Tun {
                input.opts.mode = Mode::Strict;
                out.push((format!("{prefix}-{name}-strict"), input));
            }
        }
    }

    let plain = ipv4(0, tcp(0, 100));
    out.push((
        "tun-plain".into(),
        CheckInput::tun(VnetHdr::default(), plain.clone()),
    ));
    let data_valid = VnetHdr {
        flags: Flags::DATA_VALID,
        ..VnetHdr::default()
    };
    out.push((
        "tun-data-valid".into(),
        CheckInput::tun(data_valid, plain.clone()),
    ));
    let no_csum = VnetHdr {
        gso_type: tso4,
        gso_size: 1448,
        ..VnetHdr::default()
    };
    let big = ipv4(0, tcp(0, 3000));
    out.push(("tun-tso4-no-csum".into(), CheckInput::tun(no_csum, big)));

    out.extend(tunnel_inputs());
    out
}

/// UDP-tunnel GSO on TAP: Ethernet, outer IPv4 or IPv6, outer UDP, and the inner packet right
/// after the outer UDP header at `inner_nh_offset`; with and without UDP_TUNNEL_CSUM.
fn tunnel_inputs() -> Vec<(String, CheckInput)> {
    let mut out = Vec::new();
    let cases = [
        (
            "tunnel4-tso4",
            false,
            ipv4(0, tcp(0, 3000)),
            GsoType::TCPV4,
            16,
        ),
        (
            "tunnel4-uso4",
            false,
            ipv4(0, udp(3000)),
            GsoType::UDP_L4,
            6,
        ),
        (
            "tunnel6-tso6",
            true,
            ipv6(&[], tcp(12, 3000)),
            GsoType::TCPV6,
            16,
        ),
        (
            "tunnel6-uso6",
            true,
            ipv6(&[], udp(3000)),
            GsoType::UDP_L4,
            6,
        ),
    ];
    for (name, outer_v6, inner, inner_type, offset) in cases {
        let mut outer_udp = udp(0);
        outer_udp.payload = inner.clone();
        let (outer_ip, bits, outer_l3) = if outer_v6 {
            (ipv6(&[], outer_udp), GsoType::UDP_TUNNEL_IPV6, 40)
        } else {
            (ipv4(0, outer_udp), GsoType::UDP_TUNNEL_IPV4, 20)
        };
        let frame = ethernet(false, ethertype_of(&outer_ip), &outer_ip);
        let outer_th = 14 + outer_l3;
        let inner_nh = outer_th + 8;
        let inner_l3 = if inner_type == GsoType::TCPV6 || inner[0] >> 4 == 6 {
            40
        } else {
            20
        };
        let hdr = VnetHdr {
            outer_th_offset: outer_th as u16,
            inner_nh_offset: inner_nh as u16,
            ..gso(
                GsoType(bits.0 | inner_type.0),
                1200,
                inner_nh + inner_l3,
                offset,
                0,
            )
        };
        let opts = CheckOptions {
            link: Link::Tap,
            tunnel: true,
            ..CheckInput::tun(hdr, vec![]).opts
        };
        out.push((
            name.to_string(),
            CheckInput {
                hdr,
                opts,
                packet: frame.clone(),
            },
        ));
        let with_csum = VnetHdr {
            flags: hdr.flags.with(Flags::UDP_TUNNEL_CSUM),
            ..hdr
        };
        out.push((
            format!("{name}-csum"),
            CheckInput {
                hdr: with_csum,
                opts: CheckOptions {
                    tunnel_csum: true,
                    ..opts
                },
                packet: frame,
            },
        ));
    }
    out
}

/// Headers of every kind the `hdr_read` seeds cover: each GSO type (with ECN and tunnel bits),
/// each flag, and the fields of the larger layouts.
fn headers() -> Vec<(String, VnetHdr)> {
    let types = [
        ("none", GsoType::NONE),
        ("tcpv4", GsoType::TCPV4),
        ("udp", GsoType::UDP),
        ("tcpv6", GsoType::TCPV6),
        ("udp-l4", GsoType::UDP_L4),
        ("tcpv4-ecn", GsoType(0x81)),
        ("tcpv6-ecn", GsoType(0x84)),
        ("tunnel4-tcpv4", GsoType(0x21)),
        ("tunnel6-tcpv6", GsoType(0x44)),
        ("tunnel4-udp-l4", GsoType(0x25)),
        ("unknown-0x02", GsoType(0x02)),
    ];
    let flags = [
        Flags::NEEDS_CSUM,
        Flags::DATA_VALID,
        Flags::RSC_INFO,
        Flags::NEEDS_CSUM.with(Flags::UDP_TUNNEL_CSUM),
    ];
    types
        .iter()
        .enumerate()
        .map(|(i, &(name, gso_type))| {
            let hdr = VnetHdr {
                flags: flags[i % flags.len()],
                gso_type,
                hdr_len: 54,
                gso_size: 1448,
                csum_start: 34,
                csum_offset: 16,
                num_buffers: 1,
                hash_value: 0x1234_5678,
                hash_report: 4,
                hash_padding: 0,
                outer_th_offset: 34,
                inner_nh_offset: 42,
            };
            (name.to_string(), hdr)
        })
        .collect()
}

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut push = |target, name: String, bytes| {
        seeds.push(Seed {
            target,
            name: format!("seed-{name}"),
            bytes,
        });
    };
    let tail = ipv4(0, tcp(0, 0));
    for (name, hdr) in headers() {
        for layout in Layout::ALL {
            // Clear what the layout has no room for, as a device of that layout would send.
            let mut h = hdr;
            if layout.size() < 24 {
                (h.outer_th_offset, h.inner_nh_offset) = (0, 0);
            }
            if layout.size() < 20 {
                (h.hash_value, h.hash_report) = (0, 0);
            }
            if layout.size() < 12 {
                h.num_buffers = 0;
            }
            for (order, endian) in [("le", Endian::Little), ("be", Endian::Big)] {
                let mut bytes = vec![0u8; layout.size()];
                h.write(&mut bytes, layout, endian).expect("cleared to fit");
                bytes.extend_from_slice(&tail);
                push(
                    "hdr_read",
                    format!("{name}-{}-{order}", layout.size()),
                    bytes,
                );
            }
        }
    }
    for (name, input) in check_inputs() {
        push("check", name, input.to_bytes());
    }
    let packets = packets();
    for (name, pkt) in &packets {
        push("wire", name.clone(), pkt.clone());
    }
    // csum: two bytes of cut (little-endian), then the data.
    for (i, (name, pkt)) in packets.iter().enumerate().take(8) {
        let cut = (i * 13 + 1) as u16;
        let mut bytes = cut.to_le_bytes().to_vec();
        bytes.extend_from_slice(pkt);
        push("csum", name.clone(), bytes);
    }
    let mut ones = vec![3, 0];
    ones.resize(2 + 4099, 0xff);
    push("csum", "all-ones-4099".into(), ones);
    push("csum", "empty".into(), vec![0, 0]);
    for (name, input) in gso_inputs() {
        push("gso", name.clone(), input.to_bytes());
        // The same byte form: `delta` and `extra` become cut points (see `gso_iovec::cuts`).
        push("gso_iovec", name, input.to_bytes());
    }
    for (name, input) in gro_inputs() {
        push("gro", name.clone(), input.to_bytes());
        // The same byte form (see `gro_iovec`).
        push("gro_iovec", name, input.to_bytes());
    }
    for (name, input) in meta_inputs() {
        push("meta", name, input.to_bytes());
    }
    for (name, input) in gro_gso_inputs() {
        push("gro_gso", name, input.to_bytes());
    }
    seeds
}

/// The `gso` seeds: every `check` seed that asks for segmentation or a checksum, under default
/// options and exact buffers, then with AccECN, fixed IDs, too small and too few buffers, spare
/// buffers, and a twisted request; IPv6 UFO with a fragment ID; a USO packet over the segment
/// limit.
pub fn gso_inputs() -> Vec<(String, GsoInput)> {
    use vnet_core::gso::GsoOptions;
    let mut out = Vec::new();
    for (i, (name, c)) in check_inputs()
        .into_iter()
        .filter(|(name, c)| {
            let offload = vnet_core::check::check(&c.hdr, &c.packet, &c.opts);
            !name.ends_with("-strict")
                && matches!(offload, Ok(Offload::Segment(_) | Offload::Checksum(_)))
        })
        .enumerate()
    {
        let base = GsoInput {
            hdr: c.hdr,
            opts: GsoOptions {
                link: c.opts.link,
                kernel: c.opts.kernel,
                ..GsoOptions::default()
            },
            delta: 0,
            extra: 0,
            twist: 0,
            packet: c.packet,
        };
        // Every other seed also comes with one knob turned, so each knob is seeded on several
        // shapes.
        let (suffix, input) = match i % 8 {
            1 => ("accecn-fixed-id", {
                let mut v = base.clone();
                v.opts.accecn = true;
                v.opts.fixed_id = true;
                v
            }),
            3 => (
                "buffers-short",
                GsoInput {
                    delta: -1,
                    extra: -1,
                    ..base.clone()
                },
            ),
            5 => (
                "buffers-spare",
                GsoInput {
                    delta: 9,
                    extra: 2,
                    ..base.clone()
                },
            ),
            7 => (
                "twisted",
                GsoInput {
                    twist: 1 + 8 * (i as u8 % 5),
                    ..base.clone()
                },
            ),
            _ => ("", base.clone()),
        };
        if !suffix.is_empty() {
            out.push((format!("{name}-{suffix}"), input));
        }
        out.push((name, base));
    }
    use IpProtocol as P;
    let ufo6 = ipv6(&[P::HOP_BY_HOP], udp(3000));
    out.push((
        "tun-ufo6-hbh".into(),
        GsoInput {
            hdr: gso(GsoType::UDP, 1232, 48, 6, 56),
            opts: GsoOptions {
                frag_id: 0xdead_beef,
                ..GsoOptions::default()
            },
            delta: 0,
            extra: 0,
            twist: 0,
            packet: ufo6,
        },
    ));
    out.push((
        "tun-uso4-over-limit".into(),
        GsoInput {
            hdr: gso(GsoType::UDP_L4, 100, 20, 6, 28),
            opts: GsoOptions {
                kernel: Profile {
                    udp_max_segments: 8,
                    ..Profile::NEWEST
                },
                ..GsoOptions::default()
            },
            delta: 0,
            extra: 0,
            twist: 0,
            packet: ipv4(0, udp(1000)),
        },
    ));
    out
}

fn build_owned(mut specs: Vec<PacketSpec>) -> Vec<Vec<u8>> {
    crate::packet::build_with_incrementing_ids(&mut specs)
}

/// The GRO trains: every case of the kernel selftest's table ([`crate::gro_selftest`]) on each
/// version it runs on, then UDP datagrams, two flows interleaved, and a train out of order.
pub fn gro_trains() -> Vec<(String, Vec<Vec<u8>>)> {
    let mut out = Vec::new();
    for v6 in [false, true] {
        let v = if v6 { "6" } else { "4" };
        for case in crate::gro_selftest::cases() {
            if case.linux[usize::from(v6)].is_some() {
                let name = case.name.replace('_', "-");
                out.push((format!("{name}{v}"), (case.train)(v6)));
            }
        }
        let s = |len, off| PacketSpec::gro_selftest(v6, len, off);
        let udp = |len: usize| {
            let mut u = if v6 {
                PacketSpec::udp6(len)
            } else {
                PacketSpec::udp4(len)
            };
            u.ttl = 8;
            u
        };
        out.push((
            format!("udp{v}"),
            build_owned(vec![udp(100), udp(100), udp(100), udp(40)]),
        ));
        // Two flows interleaved, and a prepend under Relaxed (the second segment first).
        let mut other = s(100, 0);
        other.src_port = 7;
        let mut other2 = s(100, 100);
        other2.src_port = 7;
        out.push((
            format!("two-flows{v}"),
            build_owned(vec![s(100, 0), other, s(100, 100), other2, s(100, 200)]),
        ));
        let mut rev = build_owned(vec![s(100, 0), s(100, 100), s(100, 200)]);
        rev.swap(0, 1);
        out.push((format!("reordered{v}"), rev));
    }
    out
}

/// The `gro` seeds: each selftest train as raw packets under Linux (UDP on for the UDP trains), a
/// few under Relaxed, with one table entry, with tight capacities, and with each fault; and
/// trains from the flow generator with mutations.
pub fn gro_inputs() -> Vec<(String, GroInput)> {
    use vnet_core::gro::{GroOptions, Policy};
    let base = GroInput {
        opts: GroOptions::default(),
        table: 3,
        tight: false,
        fault: (0, 0),
        flows: [FlowParams::default(); 4],
        ops: Vec::new(),
    };
    let mut out = Vec::new();
    for (i, (name, train)) in gro_trains().into_iter().enumerate() {
        let ops: Vec<GroOp> = train.into_iter().map(GroOp::Raw).collect();
        let mut input = GroInput {
            ops,
            ..base.clone()
        };
        input.opts.udp = name.starts_with("udp");
        out.push((name.clone(), input.clone()));
        let variant = match i % 6 {
            0 => Some(("relaxed", {
                let mut v = input.clone();
                v.opts.policy = Policy::Relaxed;
                v
            })),
            1 => Some((
                "table1",
                GroInput {
                    table: 0,
                    ..input.clone()
                },
            )),
            2 => Some(("tight", {
                let mut v = GroInput {
                    tight: true,
                    ..input.clone()
                };
                v.ops.insert(0, GroOp::Slack(150));
                v.ops.insert(1, GroOp::Slack(0));
                v
            })),
            3 => Some((
                "fault-out",
                GroInput {
                    fault: (FAULT_OUT_SHORT, 1),
                    ..input.clone()
                },
            )),
            4 => Some((
                "fault-len",
                GroInput {
                    fault: (FAULT_LEN_EXCEEDS, 1),
                    ..input.clone()
                },
            )),
            _ => None,
        };
        if let Some((suffix, v)) = variant {
            out.push((format!("{name}-{suffix}"), v));
        }
    }
    // Generated trains: four flows (TCP/UDP over IPv4/IPv6 with options and extension headers).
    let flows = [
        FlowParams {
            kind: 0,
            mss: 100,
            bits: FLOW_TCP_OPTIONS,
            seq: 1000,
        },
        FlowParams {
            kind: 1,
            mss: 60,
            bits: FLOW_V6_EXT,
            seq: u32::MAX - 90,
        },
        FlowParams {
            kind: 2,
            mss: 40,
            bits: 1 << FLOW_IDS_SHIFT,
            seq: 0,
        },
        FlowParams {
            kind: 3,
            mss: 30,
            bits: FLOW_V6_EXT,
            seq: 0,
        },
    ];
    let mut ops: Vec<GroOp> = (0..24u8)
        .map(|k| GroOp::Segment {
            flow: k % 4,
            perturb: 0,
        })
        .collect();
    let mut generated = GroInput {
        flows,
        ops: ops.clone(),
        ..base.clone()
    };
    generated.opts.udp = true;
    out.push(("generated-4-flows".into(), generated.clone()));
    for (k, code) in (13..32u8).enumerate() {
        ops[4 + k % 20] = GroOp::Segment {
            flow: (4 + k as u8) % 4,
            perturb: code,
        };
    }
    out.push((
        "generated-perturbed".into(),
        GroInput {
            ops: ops.clone(),
            ..generated.clone()
        },
    ));
    ops.push(GroOp::Mutate {
        packet: 5,
        offset: 8,
        xor: 1,
        fix: true,
    });
    ops.push(GroOp::Mutate {
        packet: 9,
        offset: 30,
        xor: 0x40,
        fix: false,
    });
    out.push((
        "generated-mutated".into(),
        GroInput {
            ops,
            ..generated.clone()
        },
    ));
    out.push((
        "generated-fault-lens".into(),
        GroInput {
            fault: (FAULT_LENS_LONG, 2),
            ..generated.clone()
        },
    ));
    out.push((
        "generated-fault-owner".into(),
        GroInput {
            fault: (FAULT_OWNER_SHORT, 0),
            ..generated
        },
    ));
    out
}

/// The `gro_gso` seeds: one flow of each kind, with TCP options, IPv6 extension headers, each IPv4
/// ID pattern and the flag perturbations; then two to four flows interleaved.
pub fn gro_gso_inputs() -> Vec<(String, GroGsoInput)> {
    let mut out = Vec::new();
    let kinds = ["tcp4", "tcp6", "udp4", "udp6"];
    for (kind, name) in kinds.iter().enumerate() {
        for (variant, bits, codes) in [
            ("plain", 0, vec![0; 8]),
            (
                "opts",
                FLOW_TCP_OPTIONS | FLOW_V6_EXT,
                vec![0, 0, 0, 14, 0, 0, 29, 0],
            ),
            ("ids-fixed", 2 << FLOW_IDS_SHIFT, vec![0; 6]),
            ("ids-nodf", 1 << FLOW_IDS_SHIFT, (13..32).collect()),
        ] {
            out.push((
                format!("{name}-{variant}"),
                GroGsoInput {
                    udp: kind >= 2,
                    max_flows: 8,
                    flows: vec![(
                        FlowParams {
                            kind: kind as u8,
                            mss: 120,
                            bits,
                            seq: 1 << 31,
                        },
                        codes,
                    )],
                    schedule: Vec::new(),
                },
            ));
        }
    }
    let flow = |kind, mss, seq| {
        (
            FlowParams {
                kind,
                mss,
                bits: FLOW_TCP_OPTIONS,
                seq,
            },
            vec![0; 10],
        )
    };
    out.push((
        "two-flows".into(),
        GroGsoInput {
            udp: false,
            max_flows: 8,
            flows: vec![flow(0, 200, 5), flow(1, 100, u32::MAX - 150)],
            schedule: vec![0, 1, 1, 0, 0, 0, 1],
        },
    ));
    out.push((
        "four-flows-two-held".into(),
        GroGsoInput {
            udp: true,
            max_flows: 2,
            flows: vec![
                flow(0, 50, 1),
                flow(1, 60, 2),
                flow(2, 70, 3),
                flow(3, 80, 4),
            ],
            schedule: vec![0, 1, 2, 3, 3, 2, 1, 0, 7, 9, 11, 13],
        },
    ));
    out
}

/// The `meta` seeds: metadata for each rule (TSO, USO, TCP and UDP checksum, nothing) over TUN,
/// TAP and VLAN, IPv4 with options and IPv6 with extension headers, each with its own frame and
/// header; then the `check` seeds' headers and frames.
pub fn meta_inputs() -> Vec<(String, MetaInput)> {
    use vnet_core::meta::{self, TxFlags, TxMetadata, VlanMetadata};
    let mut out = Vec::new();
    let rules = [
        (
            "tso",
            TxFlags::OFFLOAD_TCP_SEGMENTATION.with(TxFlags::OFFLOAD_TCP_CHECKSUM),
            32,
            1448,
        ),
        ("uso", TxFlags::OFFLOAD_UDP_SEGMENTATION, 8, 1200),
        ("tcp-csum", TxFlags::OFFLOAD_TCP_CHECKSUM, 0, 0),
        ("udp-csum", TxFlags::OFFLOAD_UDP_CHECKSUM, 0, 0),
        ("ip-csum", TxFlags::OFFLOAD_IP_HEADER_CHECKSUM, 0, 0),
    ];
    for (i, (rule, flags, l4, mss)) in rules.into_iter().enumerate() {
        for (j, (l2, link)) in [(0u8, "tun"), (14, "tap"), (18, "vlan")]
            .into_iter()
            .enumerate()
        {
            for (v, version, l3) in [("4", TxFlags::IS_IPV4, 28u16), ("6", TxFlags::IS_IPV6, 56)] {
                let m = TxMetadata {
                    flags: flags.with(version),
                    l2_len: l2,
                    l3_len: l3,
                    l4_len: l4,
                    max_segment_size: mss,
                    vlan: (j == 2).then_some(VlanMetadata::new(5, false, 100)),
                };
                let rep = representable(&m);
                let (frame, _) = crate::strategy::meta::frame_for(&rep, 300 + i * 7);
                let hdr = meta::to_header(&rep).unwrap_or_default();
                out.push((
                    format!("{rule}{v}-{link}"),
                    MetaInput {
                        meta: m,
                        payload: 300 + i as u16 * 7,
                        l2_len: l2,
                        hdr,
                        frame,
                    },
                ));
            }
        }
    }
    for (name, c) in check_inputs()
        .into_iter()
        .filter(|(name, _)| !name.ends_with("-strict"))
    {
        let l2 = if c.opts.link == Link::Tun { 0 } else { 14 };
        out.push((
            format!("hdr-{name}"),
            MetaInput {
                meta: TxMetadata::default(),
                payload: 0,
                l2_len: l2,
                hdr: c.hdr,
                frame: c.packet,
            },
        ));
    }
    out
}
