//! What a packet is to GRO: eligibility and its fields, read in place (G1), and the key and
//! state of a held flow (G2).

use super::*;
use crate::wire::field::ipv4::DF;

/// What identifies a flow (G2): IP version, addresses, protocol, ports, IPv6 flow label. IPv6
/// extension headers must also be byte-identical; they are compared against the held packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct Key {
    /// First: the derived `==` compares in field order, and flows that share addresses differ
    /// here, so a lookup among held flows rejects most of them on one word.
    pub(super) ports: u32,
    pub(super) v6: bool,
    pub(super) proto: u8,
    /// The addresses as whole words (the bytes in native order; IPv4: the first 4 bytes, zero
    /// extended), so that a key is built in registers: a lookup's wide loads must not straddle
    /// narrow stores (a store-forwarding stall cost a quarter of `coalesce`).
    pub(super) src: u128,
    pub(super) dst: u128,
    pub(super) label: u32,
}

/// [`Key::src`] / [`Key::dst`] of an IPv4 address.
pub(super) const fn v4_word(addr: [u8; 4]) -> u128 {
    u32::from_ne_bytes(addr) as u128
}

/// The fields of one eligible packet that the merge rules read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct Seg {
    pub(super) key: Key,
    /// Packet length (= IP length: G1 requires the two to agree).
    pub(super) len: usize,
    /// IP header length (IPv6: with extension headers).
    pub(super) l4_offset: usize,
    /// All headers: `l4_offset` + TCP header (with options) or 8.
    pub(super) hdr_len: usize,
    /// The network fields that must be equal (G2) as one word: TTL / hop limit, TOS / traffic
    /// class, DF (IPv6: false), see [`net_word`]. Whole words, so that a `Seg` is built in
    /// registers and stored without narrow stores a wide load would then have to wait for.
    pub(super) net: u32,
    /// IPv4 ID (IPv6: 0).
    pub(super) id: u16,
    /// TCP fields (zero for UDP): the sequence number, and the fields that must be equal but for
    /// FIN/PSH (G4) as one word, see [`tcp_word`].
    pub(super) seq: u32,
    pub(super) tcp: u64,
}

/// [`Seg::net`]: TTL, TOS and DF.
pub(super) const fn net_word(ttl: u8, tos: u8, df: bool) -> u32 {
    ttl as u32 | (tos as u32) << 8 | (df as u32) << 16
}

/// [`Seg::tcp`]: the acknowledgment number, the data offset and flags word, the window.
pub(super) const fn tcp_word(ack: u32, word: u16, window: u16) -> u64 {
    (ack as u64) << 32 | (word as u64) << 16 | window as u64
}

impl Seg {
    pub(super) fn tcp(&self) -> bool {
        self.key.proto == IpProtocol::TCP.0
    }

    pub(super) fn payload(&self) -> usize {
        self.len - self.hdr_len
    }

    pub(super) fn flags(&self) -> TcpFlags {
        TcpFlags(self.tcp_flags_word() & TcpFlags::ALL.0)
    }

    /// The TCP data offset and flags word.
    pub(super) const fn tcp_flags_word(&self) -> u16 {
        (self.tcp >> 16) as u16
    }

    /// IPv4 DF.
    pub(super) const fn df(&self) -> bool {
        self.net >> 16 & 1 != 0
    }

    /// IPv4: the folded sum of this segment's header with total length `len` and the checksum
    /// field zero, from the fields [`classify`] read: an eligible IPv4 header has no options and
    /// no flag but DF (G1), so they are all of it. From registers, not by re-reading the header
    /// just copied and patched.
    pub(super) fn ipv4_header_sum(&self, len: usize) -> u16 {
        let (ttl, tos) = (self.net & 0xFF, self.net >> 8 & 0xFF);
        let flags = if self.df() { DF as u32 } else { 0 };
        let (src, dst) = (self.key.src as u32, self.key.dst as u32);
        let addr = |a: u32| {
            let [b0, b1, b2, b3] = a.to_ne_bytes();
            u16::from_be_bytes([b0, b1]) as u64 + u16::from_be_bytes([b2, b3]) as u64
        };
        let words = (0x4500 | tos) as u64
            + (len & 0xFFFF) as u64
            + self.id as u64
            + flags as u64
            + (ttl << 8 | self.key.proto as u32) as u64
            + addr(src)
            + addr(dst);
        csum::fold(words)
    }

    /// The pseudo-header sum for an L4 segment of `l4_len` bytes (C2).
    pub(super) fn pseudo(&self, l4_len: usize) -> u16 {
        let k = &self.key;
        if k.v6 {
            let (src, dst) = (k.src.to_ne_bytes(), k.dst.to_ne_bytes());
            csum::pseudo_header_v6(&src, &dst, k.proto, l4_len as u32)
        } else {
            let four = |a: u128| (a as u32).to_ne_bytes();
            csum::pseudo_header_v4(four(k.src), four(k.dst), k.proto, l4_len as u16)
        }
    }
}

/// A held flow: the packet in `bufs[head]` with `count` segments merged so far.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Flow {
    /// The first segment's fields (its header bytes are not changed until completion; under
    /// [`Policy::Relaxed`] a prepended segment becomes the first).
    pub(super) first: Seg,
    /// Index into `bufs`: the buffer the merged packet grows in (the flow's first input).
    pub(super) head: usize,
    /// The input whose headers the merged packet takes: `head`, or the last segment put in
    /// front of it (G3, prepend).
    pub(super) first_at: usize,
    /// The member whose payload comes last: `head`, or the last segment appended (the end of
    /// the member chain, [`members`](super::run::members)).
    pub(super) tail: usize,
    /// FIN/PSH of the last merged segment (G4), carried onto the merged packet when it completes.
    pub(super) last_flags: u16,
    /// Bytes of the merged packet so far (for a fixed-ID train: of the train it would have been).
    pub(super) len: usize,
    /// Segments so far.
    pub(super) count: usize,
    /// The sequence number the next segment must carry (TCP).
    pub(super) next_seq: u32,
    /// [`Policy::Linux`]: a fixed-ID train. The kernel merges it and re-segments it before a TUN
    /// device, so its segments are delivered as they came; the train still decides what flushes.
    pub(super) fixed: bool,
}

/// TCP flags that complete a flow after merging, or keep a segment from being held (G4).
pub(super) const COMPLETE: TcpFlags = TcpFlags(
    TcpFlags::URG.0 | TcpFlags::PSH.0 | TcpFlags::RST.0 | TcpFlags::SYN.0 | TcpFlags::FIN.0,
);

/// TCP flags that may differ between merged segments (G4): carried by the last one.
pub(super) const LAST_ONLY: u16 = TcpFlags::FIN.0 | TcpFlags::PSH.0;

/// The fields of `pkt` if it is eligible for GRO (G1): IPv4 without options, not a fragment, with
/// a valid header checksum and reserved bit clear, or IPv6 without a fragment header; lengths that
/// agree with the buffer; TCP, or UDP when enabled, with a UDP length above 8 that agrees and a
/// non-zero UDP checksum (G1). The L4 checksum is verified later, by the caller.
#[inline(always)]
pub(super) fn classify(pkt: &[u8], opts: &GroOptions) -> Option<Seg> {
    classify_tcp4(pkt).or_else(|| classify_any(pkt, opts))
}

/// [`classify`] for every packet, through the general parser.
#[inline(never)]
pub(super) fn classify_any(pkt: &[u8], opts: &GroOptions) -> Option<Seg> {
    let h = wire::parse_headers(pkt, Link::Tun).ok()?;
    if h.fragment {
        return None;
    }
    let tcp = match h.protocol {
        IpProtocol::TCP => true,
        IpProtocol::UDP if opts.udp => false,
        _ => return None,
    };
    let mut seg = Seg {
        l4_offset: h.l4_offset,
        len: pkt.len(),
        ..Seg::default()
    };
    seg.key.proto = h.protocol.0;
    match h.ip {
        IpVersion::V4 => {
            let ip = Ipv4Packet::new_unchecked(pkt);
            if ip.header_len() != wire::IPV4_MIN_HEADER_LEN
                || ip.flags_frag_word() & !DF != 0
                || !csum::verify(ip.header())
                || usize::from(ip.total_len()) != pkt.len()
            {
                return None;
            }
            seg.key.src = v4_word(ip.src_addr());
            seg.key.dst = v4_word(ip.dst_addr());
            seg.net = net_word(ip.ttl(), ip.tos(), ip.dont_frag());
            seg.id = ip.ident();
        }
        IpVersion::V6 => {
            let ip = Ipv6Packet::new_unchecked(pkt);
            if ip.total_len() != pkt.len() {
                return None;
            }
            seg.key.v6 = true;
            seg.key.src = u128::from_ne_bytes(ip.src_addr());
            seg.key.dst = u128::from_ne_bytes(ip.dst_addr());
            seg.key.label = ip.flow_label();
            seg.net = net_word(ip.hop_limit(), ip.traffic_class(), false);
        }
    }
    let l4 = pkt.get(h.l4_offset..)?;
    if tcp {
        let t = TcpPacket::new_checked(l4).ok()?;
        seg.key.ports = u32::from(t.src_port()) << 16 | u32::from(t.dst_port());
        seg.hdr_len = h.l4_offset + t.header_len();
        seg.seq = t.seq_number();
        seg.tcp = tcp_word(t.ack_number(), t.doff_flags_word(), t.window());
    } else {
        let u = UdpPacket::new_checked(l4).ok()?;
        if usize::from(u.length()) != l4.len()
            || l4.len() <= wire::UDP_HEADER_LEN
            || u.checksum() == 0
        {
            return None;
        }
        seg.key.ports = u32::from(u.src_port()) << 16 | u32::from(u.dst_port());
        seg.hdr_len = h.l4_offset + wire::UDP_HEADER_LEN;
    }
    Some(seg)
}

/// The common case of [`classify`], read from two fixed-size views with no further length checks:
/// IPv4 without options (`0x45`), TCP, IP length equal to the buffer's, no fragment bits and the
/// reserved bit clear, a valid header checksum, a TCP header within the packet. Every packet it
/// accepts, the general path accepts with the same fields; `None` only means "not this case".
#[inline(always)]
pub(super) fn classify_tcp4(pkt: &[u8]) -> Option<Seg> {
    let ip = pkt.first_chunk::<{ wire::IPV4_MIN_HEADER_LEN }>()?;
    let [
        vihl,
        tos,
        len0,
        len1,
        id0,
        id1,
        ff0,
        ff1,
        ttl,
        proto,
        _,
        _,
        s0,
        s1,
        s2,
        s3,
        d0,
        d1,
        d2,
        d3,
    ] = *ip;
    let flags_frag = u16::from_be_bytes([ff0, ff1]);
    if vihl != 0x45
        || proto != IpProtocol::TCP.0
        || usize::from(u16::from_be_bytes([len0, len1])) != pkt.len()
        || flags_frag & !DF != 0
    {
        return None;
    }
    let tcp = pkt
        .get(wire::IPV4_MIN_HEADER_LEN..)?
        .first_chunk::<{ wire::TCP_MIN_HEADER_LEN }>()?;
    let [
        p0,
        p1,
        p2,
        p3,
        q0,
        q1,
        q2,
        q3,
        a0,
        a1,
        a2,
        a3,
        w0,
        w1,
        n0,
        n1,
        ..,
    ] = *tcp;
    let tcp_len = usize::from(w0 >> 4) * 4;
    if tcp_len < wire::TCP_MIN_HEADER_LEN
        || wire::IPV4_MIN_HEADER_LEN + tcp_len > pkt.len()
        || !csum::verify(ip)
    {
        return None;
    }
    let seg = Seg {
        len: pkt.len(),
        l4_offset: wire::IPV4_MIN_HEADER_LEN,
        hdr_len: wire::IPV4_MIN_HEADER_LEN + tcp_len,
        net: net_word(ttl, tos, flags_frag & DF != 0),
        id: u16::from_be_bytes([id0, id1]),
        seq: u32::from_be_bytes([q0, q1, q2, q3]),
        tcp: tcp_word(
            u32::from_be_bytes([a0, a1, a2, a3]),
            u16::from_be_bytes([w0, w1]),
            u16::from_be_bytes([n0, n1]),
        ),
        key: Key {
            v6: false,
            proto,
            src: v4_word([s0, s1, s2, s3]),
            dst: v4_word([d0, d1, d2, d3]),
            ports: u32::from_be_bytes([p0, p1, p2, p3]),
            label: 0,
        },
    };
    Some(seg)
}

/// Whether `seg`'s IPv6 extension headers are byte-identical to those of `flow`'s held packet,
/// whose bytes (headers at least) are `held` (G2). IPv4 packets have none (options are not
/// eligible).
pub(super) fn same_ext(held: &[u8], flow: &Flow, seg: &Seg, pkt: &[u8]) -> bool {
    if !seg.key.v6 {
        return true;
    }
    let range = wire::IPV6_HEADER_LEN..seg.l4_offset;
    flow.first.l4_offset == seg.l4_offset
        && held
            .get(range.clone())
            .is_some_and(|held| pkt.get(range).is_some_and(|mine| mine == held))
}

/// Whether `seg`'s L4 checksum verifies (G1), summing the packet where it lies.
pub(super) fn verify_in_place<S: Summer>(summer: S, seg: &Seg, pkt: &[u8]) -> bool {
    l4_verifies(summer, seg.pseudo(0), seg.l4_offset, pkt)
}

/// Whether the L4 bytes of `pkt` from `l4_at` verify (G1) against `pseudo`, a pseudo-header sum
/// without its length (the members of one flow share it).
#[inline]
pub(super) fn l4_verifies<S: Summer>(summer: S, pseudo: u16, l4_at: usize, pkt: &[u8]) -> bool {
    let l4 = pkt.get(l4_at..).unwrap_or(&[]);
    csum::combine(csum::with_len(pseudo, l4.len()), summer.sum(l4)) == 0xFFFF
}
