//! Random receive batches for the GRO laws: a few flows (TCP/UDP over IPv4/IPv6, with or without
//! TCP options and IPv6 extension headers), each a run of consecutive segments with random
//! perturbations (PSH/FIN/URG/SYN/RST/CWR/ECE, option, TTL and TOS changes, IPv4 ID patterns, bad
//! checksums, pure ACKs, short segments, IPv4 options and fragments, IPv6 fragment headers,
//! flow-label and extension-header changes), interleaved and locally reordered.

use proptest::collection::vec;
use proptest::prelude::*;

use vnet_core::hdr::{Flags, GsoType, VnetHdr};

use crate::packet::{L4, PacketSpec, tcp_flags, v6_dest_opts};

/// One thing done to one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perturb {
    /// Nothing.
    None,
    /// OR these TCP flags in.
    Flags(u8),
    /// Different TCP option bytes.
    TcpOptions,
    /// TTL / hop limit - 1.
    Ttl,
    /// TOS / traffic class changed.
    Tos,
    /// IPv4 ID repeats the previous one.
    IdRepeat,
    /// IPv4 ID jumps.
    IdJump,
    /// L4 checksum broken.
    BadChecksum,
    /// No payload (a pure ACK for TCP).
    Empty,
    /// A payload shorter than the flow's segment size.
    Short,
    /// IPv4 options / IPv6: a different extension header.
    IpOptions,
    /// IPv4 MF bit / IPv6 fragment header.
    Fragment,
    /// IPv6 flow label changed.
    Label,
}

fn perturb_any() -> impl Strategy<Value = Perturb> {
    prop_oneof![
        12 => Just(Perturb::None),
        1 => prop::sample::select(vec![
            tcp_flags::PSH,
            tcp_flags::FIN,
            tcp_flags::URG,
            tcp_flags::SYN,
            tcp_flags::RST,
            tcp_flags::CWR,
            tcp_flags::ECE,
            tcp_flags::PSH | tcp_flags::FIN,
        ])
        .prop_map(Perturb::Flags),
        1 => prop::sample::select(vec![
            Perturb::TcpOptions,
            Perturb::Ttl,
            Perturb::Tos,
            Perturb::IdRepeat,
            Perturb::IdJump,
            Perturb::BadChecksum,
            Perturb::Empty,
            Perturb::Short,
            Perturb::IpOptions,
            Perturb::Fragment,
            Perturb::Label,
        ]),
    ]
}

/// How one flow's IPv4 IDs go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdPattern {
    /// + 1 per packet, DF set.
    IncDf,
    /// + 1 per packet, DF clear.
    Inc,
    /// All equal, DF set.
    FixedDf,
    /// All equal, DF clear.
    Fixed,
}

/// One flow of a train.
#[derive(Clone, Debug)]
pub struct FlowSpec {
    /// 0 TCP/IPv4, 1 TCP/IPv6, 2 UDP/IPv4, 3 UDP/IPv6.
    pub kind: u8,
    /// Payload per full segment.
    pub mss: usize,
    /// TCP timestamps option on every segment.
    pub tcp_options: bool,
    /// An IPv6 destination-options header on every segment.
    pub v6_ext: bool,
    /// IPv4 IDs.
    pub ids: IdPattern,
    /// First sequence number.
    pub seq: u32,
    /// One entry per segment.
    pub perturb: Vec<Perturb>,
}

fn flow_any() -> impl Strategy<Value = FlowSpec> {
    (
        0u8..4,
        1usize..48,
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec![
            IdPattern::IncDf,
            IdPattern::IncDf,
            IdPattern::Inc,
            IdPattern::FixedDf,
            IdPattern::Fixed,
        ]),
        prop_oneof![Just(u32::MAX - 60), any::<u32>()],
        vec(perturb_any(), 1..12),
    )
        .prop_map(
            |(kind, mss, tcp_options, v6_ext, ids, seq, perturb)| FlowSpec {
                kind,
                mss,
                tcp_options,
                v6_ext,
                ids,
                seq,
                perturb,
            },
        )
}

/// A train as `Gro::coalesce` takes it: each packet in a buffer with room to grow to
/// `MAX_DATAGRAM` (a merged packet grows in place), and the packets' lengths.
pub fn gro_buffers(train: &[Vec<u8>]) -> (Vec<Vec<u8>>, Vec<usize>) {
    train
        .iter()
        .map(|p| {
            let mut buf = p.clone();
            buf.resize(vnet_core::gro::MAX_DATAGRAM.max(p.len()), 0);
            (buf, p.len())
        })
        .unzip()
}

/// The packets of flow number `j`, in sequence order.
pub fn flow_packets(j: usize, f: &FlowSpec) -> Vec<Vec<u8>> {
    let mut base = match f.kind {
        0 => PacketSpec::tcp4(0),
        1 => PacketSpec::tcp6(0),
        2 => PacketSpec::udp4(0),
        _ => PacketSpec::udp6(0),
    };
    base.src_port = 20000 + j as u16;
    base.ip_id = 0xfffe - j as u16;
    base.df = matches!(f.ids, IdPattern::IncDf | IdPattern::FixedDf);
    base.flow_label = 0x12345;
    if f.tcp_options {
        base.tcp_options = vec![1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 0];
    }
    if base.v6 && f.v6_ext {
        base.v6_ext = vec![v6_dest_opts(8)];
    }
    let mut seq = f.seq;
    let mut id = base.ip_id;
    let mut out = Vec::new();
    for (k, p) in f.perturb.iter().enumerate() {
        let mut s = base.clone();
        let mut len = f.mss;
        let mut bad = false;
        let mut frag4 = false;
        match *p {
            Perturb::None => {}
            Perturb::Flags(b) => {
                if let L4::Tcp { flags, .. } = &mut s.l4 {
                    *flags |= b;
                }
            }
            Perturb::TcpOptions => s.tcp_options = vec![1, 3, 3, 0],
            Perturb::Ttl => s.ttl -= 1,
            Perturb::Tos => s.tos ^= 0x04,
            Perturb::IdRepeat => id = id.wrapping_sub(1),
            Perturb::IdJump => id = id.wrapping_add(100),
            Perturb::BadChecksum => bad = true,
            Perturb::Empty => len = if s.l4 == L4::Udp { 1 } else { 0 },
            Perturb::Short => len = (f.mss / 2).max(1),
            Perturb::IpOptions => {
                if s.v6 {
                    s.v6_ext = vec![(60, vec![1, 4, 0x11, 0x11, 0x11, 0x11])];
                } else {
                    s.ip_options = vec![1, 1, 1, 0];
                }
            }
            Perturb::Fragment => {
                if s.v6 {
                    s.v6_ext.push((44, vec![0; 6]));
                } else {
                    frag4 = true;
                }
            }
            Perturb::Label => s.flow_label ^= 1,
        }
        if k + 1 == f.perturb.len() && k % 3 == 2 {
            len = (f.mss / 3).max(1).min(len.max(1));
        }
        s.payload = crate::packet::pattern(len)
            .into_iter()
            .map(|b| b ^ j as u8)
            .collect();
        if let L4::Tcp { seq: q, .. } = &mut s.l4 {
            *q = seq;
        }
        if matches!(f.ids, IdPattern::IncDf | IdPattern::Inc) {
            s.ip_id = id;
            id = id.wrapping_add(1);
        }
        let mut b = s.build();
        let l4 = s.l4_offset();
        if bad {
            let at = l4 + if s.l4 == L4::Udp { 7 } else { 17 };
            b[at] ^= 0x5a;
        }
        if frag4 {
            b[6] |= 0x20;
            b[10..12].fill(0);
            let c = vnet_core::csum::finish(vnet_core::csum::sum(&b[..l4]));
            b[10..12].copy_from_slice(&c.to_be_bytes());
        }
        seq = seq.wrapping_add(len as u32);
        out.push(b);
    }
    out
}

/// A batch: 1-4 flows interleaved by `schedule`, then up to 3 adjacent swaps.
pub fn train_any() -> impl Strategy<Value = Vec<Vec<u8>>> {
    (
        vec(flow_any(), 1..5),
        vec(any::<u8>(), 64),
        vec(any::<prop::sample::Index>(), 0..4),
    )
        .prop_map(|(flows, schedule, swaps)| {
            let mut queues: Vec<std::collections::VecDeque<Vec<u8>>> = flows
                .iter()
                .enumerate()
                .map(|(j, f)| flow_packets(j, f).into())
                .collect();
            let mut batch = Vec::new();
            let mut pick = schedule.iter().cycle();
            while queues.iter().any(|q| !q.is_empty()) {
                let live: Vec<usize> = (0..queues.len())
                    .filter(|&j| !queues[j].is_empty())
                    .collect();
                let j = live[usize::from(*pick.next().unwrap_or(&0)) % live.len()];
                batch.extend(queues[j].pop_front());
            }
            for s in swaps {
                if batch.len() > 1 {
                    let i = s.index(batch.len() - 1);
                    batch.swap(i, i + 1);
                }
            }
            batch
        })
}

/// A super-packet as GRO produces it, for law L6: one flow's headers (TCP or UDP over IPv4 or
/// IPv6, with or without TCP options / an IPv6 extension header, PSH at random), `n - 1` segments
/// of `mss` bytes and a tail of 1..=mss, the pseudo-header sum in the checksum field (C3), and
/// its G6 header.
pub fn super_packet_any() -> impl Strategy<Value = (VnetHdr, Vec<u8>)> {
    (
        0u8..4,
        1usize..200,
        2usize..20,
        any::<prop::sample::Index>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(kind, mss, n, tail, psh, extras)| {
            let mut s = match kind {
                0 => PacketSpec::tcp4(0),
                1 => PacketSpec::tcp6(0),
                2 => PacketSpec::udp4(0),
                _ => PacketSpec::udp6(0),
            };
            if extras {
                if s.v6 {
                    s.v6_ext = vec![v6_dest_opts(16)];
                }
                if let L4::Tcp { .. } = s.l4 {
                    s.tcp_options = vec![1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 0];
                }
            }
            if let (L4::Tcp { flags, .. }, true) = (&mut s.l4, psh) {
                *flags |= tcp_flags::PSH;
            }
            s.payload = crate::packet::pattern((n - 1) * mss + tail.index(mss) + 1);
            let mut b = s.build();
            let l4 = s.l4_offset();
            let tcp = s.l4 != L4::Udp;
            let at = l4 + if tcp { 16 } else { 6 };
            let ps = s.pseudo_header(b.len() - l4);
            b[at..at + 2].copy_from_slice(&ps.to_be_bytes());
            let gso_type = match kind {
                0 => GsoType::TCPV4,
                1 => GsoType::TCPV6,
                _ => GsoType::UDP_L4,
            };
            let hdr = VnetHdr {
                flags: Flags::NEEDS_CSUM,
                gso_type,
                hdr_len: s.hdr_len() as u16,
                gso_size: mss as u16,
                csum_start: l4 as u16,
                csum_offset: if tcp { 16 } else { 6 },
                ..VnetHdr::default()
            };
            (hdr, b)
        })
}
