//! vnet-packet: the one packet builder of vnet, and the one reference Internet checksum.
//!
//! Every unit test, law, strategy, fuzz seed, kernel-differential suite and bench builds its
//! packets here; no other crate writes IP, TCP or UDP headers by hand. [`PacketSpec`] is a builder
//! of valid IPv4/IPv6 + TCP/UDP packets, written the obvious way: every length and checksum
//! computed from the fields. Addresses default to the documentation ranges.
//!
//! The checksums are computed with [`checksum`], the reference Internet checksum (C1-C2), which
//! shares no code with vnet-core's: a packet built here checks core's checksum paths instead of
//! agreeing with them by construction. For the same reason this crate does not depend on
//! vnet-core, which takes it as a dev-dependency for its own unit tests.

#![forbid(unsafe_code)]

pub mod checksum;

use checksum as csum;

/// The transport protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L4 {
    /// TCP with the given flags byte (FIN 0x01 … CWR 0x80).
    Tcp {
        /// Sequence number.
        seq: u32,
        /// Acknowledgment number.
        ack: u32,
        /// The flags byte.
        flags: u8,
        /// Receive window.
        window: u16,
    },
    /// UDP.
    Udp,
}

/// What to build.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PacketSpec {
    /// IPv6 instead of IPv4.
    pub v6: bool,
    /// Source address (IPv4 uses the first 4 bytes).
    pub src: [u8; 16],
    /// Destination address (IPv4 uses the first 4 bytes).
    pub dst: [u8; 16],
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The transport.
    pub l4: L4,
    /// Transport payload.
    pub payload: Vec<u8>,
    /// IPv4 options (length a multiple of 4, at most 40).
    pub ip_options: Vec<u8>,
    /// IPv6 extension headers: (type, bytes after the 2-byte next/length prefix); each header's
    /// total length must be a multiple of 8.
    pub v6_ext: Vec<(u8, Vec<u8>)>,
    /// TCP options (length a multiple of 4, at most 40).
    pub tcp_options: Vec<u8>,
    /// IPv4 identification.
    pub ip_id: u16,
    /// IPv4 DF bit.
    pub df: bool,
    /// IPv4 TOS / IPv6 traffic class.
    pub tos: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
    /// IPv6 flow label (20 bits).
    pub flow_label: u32,
    /// Prepend an Ethernet header (TAP), with this 802.1Q TCI if `Some`.
    pub ethernet: Option<Option<u16>>,
}

const SRC4: [u8; 16] = [192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const DST4: [u8; 16] = [198, 51, 100, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const SRC6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const DST6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// TCP flag bits, for [`L4::Tcp`].
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;
}

impl PacketSpec {
    /// IPv4/TCP with `payload_len` bytes of patterned payload, ACK set, DF set.
    pub fn tcp4(payload_len: usize) -> PacketSpec {
        PacketSpec {
            v6: false,
            src: SRC4,
            dst: DST4,
            src_port: 51234,
            dst_port: 443,
            l4: L4::Tcp {
                seq: 1000,
                ack: 0x0102_0304,
                flags: tcp_flags::ACK,
                window: 0xfaf0,
            },
            payload: pattern(payload_len),
            ip_options: Vec::new(),
            v6_ext: Vec::new(),
            tcp_options: Vec::new(),
            ip_id: 0x1234,
            df: true,
            tos: 0,
            ttl: 64,
            flow_label: 0,
            ethernet: None,
        }
    }

    /// IPv6/TCP.
    pub fn tcp6(payload_len: usize) -> PacketSpec {
        PacketSpec {
            v6: true,
            src: SRC6,
            dst: DST6,
            ..PacketSpec::tcp4(payload_len)
        }
    }

    /// IPv4/UDP.
    pub fn udp4(payload_len: usize) -> PacketSpec {
        PacketSpec {
            l4: L4::Udp,
            src_port: 40000,
            dst_port: 4789,
            ..PacketSpec::tcp4(payload_len)
        }
    }

    /// IPv6/UDP.
    pub fn udp6(payload_len: usize) -> PacketSpec {
        PacketSpec {
            v6: true,
            src: SRC6,
            dst: DST6,
            ..PacketSpec::udp4(payload_len)
        }
    }

    /// IPv4 or IPv6 (`v6`), TCP or UDP (`udp`): [`tcp4`](Self::tcp4), [`tcp6`](Self::tcp6),
    /// [`udp4`](Self::udp4) or [`udp6`](Self::udp6).
    pub fn of(v6: bool, udp: bool, payload_len: usize) -> PacketSpec {
        match (v6, udp) {
            (false, false) => PacketSpec::tcp4(payload_len),
            (true, false) => PacketSpec::tcp6(payload_len),
            (false, true) => PacketSpec::udp4(payload_len),
            (true, true) => PacketSpec::udp6(payload_len),
        }
    }

    /// Offset of the IP header.
    pub fn l3_offset(&self) -> usize {
        match self.ethernet {
            None => 0,
            Some(None) => 14,
            Some(Some(_)) => 18,
        }
    }

    /// Length of the IP header with options or extension headers.
    pub fn l3_len(&self) -> usize {
        if self.v6 {
            40 + self.v6_ext.iter().map(|(_, b)| 2 + b.len()).sum::<usize>()
        } else {
            20 + self.ip_options.len()
        }
    }

    /// Length of a minimal IP header of this version (20 or 40).
    pub fn l3_len_min(&self) -> usize {
        if self.v6 { 40 } else { 20 }
    }

    /// Offset of the transport header.
    pub fn l4_offset(&self) -> usize {
        self.l3_offset() + self.l3_len()
    }

    /// Length of the transport header.
    pub fn l4_len(&self) -> usize {
        match self.l4 {
            L4::Udp => 8,
            L4::Tcp { .. } => 20 + self.tcp_options.len(),
        }
    }

    /// Bytes of headers before the payload.
    pub fn hdr_len(&self) -> usize {
        self.l4_offset() + self.l4_len()
    }

    /// The transport protocol number.
    pub fn protocol(&self) -> u8 {
        match self.l4 {
            L4::Udp => 17,
            L4::Tcp { .. } => 6,
        }
    }

    /// The pseudo-header sum for a transport segment of `l4_len` bytes (C2).
    pub fn pseudo_header(&self, l4_len: usize) -> u16 {
        if self.v6 {
            csum::pseudo_header_v6(&self.src, &self.dst, self.protocol(), l4_len as u32)
        } else {
            let four = |a: &[u8; 16]| [a[0], a[1], a[2], a[3]];
            csum::pseudo_header_v4(
                four(&self.src),
                four(&self.dst),
                self.protocol(),
                l4_len as u16,
            )
        }
    }

    /// The transport header and payload, with a correct checksum.
    pub fn transport(&self) -> Vec<u8> {
        let total = self.l4_len() + self.payload.len();
        let mut l4 = Vec::with_capacity(total);
        l4.extend_from_slice(&self.src_port.to_be_bytes());
        l4.extend_from_slice(&self.dst_port.to_be_bytes());
        let check_at = match self.l4 {
            L4::Udp => {
                l4.extend_from_slice(&(total as u16).to_be_bytes());
                l4.extend_from_slice(&[0, 0]);
                6
            }
            L4::Tcp {
                seq,
                ack,
                flags,
                window,
            } => {
                l4.extend_from_slice(&seq.to_be_bytes());
                l4.extend_from_slice(&ack.to_be_bytes());
                l4.push(((self.l4_len() / 4) as u8) << 4);
                l4.push(flags);
                l4.extend_from_slice(&window.to_be_bytes());
                l4.extend_from_slice(&[0, 0, 0, 0]);
                l4.extend_from_slice(&self.tcp_options);
                16
            }
        };
        l4.extend_from_slice(&self.payload);
        let mut check = csum::finish(csum::combine(self.pseudo_header(l4.len()), csum::sum(&l4)));
        if self.l4 == L4::Udp && check == 0 {
            check = 0xffff;
        }
        l4[check_at..check_at + 2].copy_from_slice(&check.to_be_bytes());
        l4
    }

    /// The whole packet: Ethernet (if asked), IP, transport, payload.
    pub fn build(&self) -> Vec<u8> {
        self.build_raw(self.protocol(), &self.transport())
    }

    /// The packet as a NEEDS_CSUM sender hands it over: the transport checksum field holds the
    /// pseudo-header sum (C3) instead of the complete checksum.
    pub fn build_partial(&self) -> Vec<u8> {
        let mut pkt = self.build();
        let l4_len = pkt.len() - self.l4_offset();
        let at = self.l4_offset() + self.csum_offset();
        pkt[at..at + 2].copy_from_slice(&self.pseudo_header(l4_len).to_be_bytes());
        pkt
    }

    /// Where the transport checksum field sits in the transport header (16 for TCP, 6 for UDP).
    pub fn csum_offset(&self) -> usize {
        match self.l4 {
            L4::Udp => 6,
            L4::Tcp { .. } => 16,
        }
    }

    /// This spec's Ethernet (if asked) and IP headers, carrying `transport` as is as protocol
    /// `protocol` (ICMP, no next header, a transport whose checksum the caller writes); the IP
    /// lengths count `transport`, and [`PacketSpec::l4`], its ports and payload are not used.
    pub fn build_raw(&self, protocol: u8, transport: &[u8]) -> Vec<u8> {
        let mut ip = Vec::with_capacity(self.l3_len() + transport.len());
        if self.v6 {
            self.ipv6_header(&mut ip, protocol, transport.len());
        } else {
            self.ipv4_header(&mut ip, protocol, transport.len());
        }
        ip.extend_from_slice(transport);
        match self.ethernet {
            None => ip,
            Some(tag) => {
                let ethertype = if self.v6 {
                    ETHERTYPE_IPV6
                } else {
                    ETHERTYPE_IPV4
                };
                ethernet(tag, ethertype, &ip)
            }
        }
    }

    fn ipv4_header(&self, out: &mut Vec<u8>, protocol: u8, l4_len: usize) {
        let start = out.len();
        let ihl = 5 + self.ip_options.len() / 4;
        out.push(0x40 | ihl as u8);
        out.push(self.tos);
        out.extend_from_slice(&((ihl * 4 + l4_len) as u16).to_be_bytes());
        out.extend_from_slice(&self.ip_id.to_be_bytes());
        out.extend_from_slice(&[if self.df { 0x40 } else { 0 }, 0, self.ttl]);
        out.extend_from_slice(&[protocol, 0, 0]);
        out.extend_from_slice(&self.src[..4]);
        out.extend_from_slice(&self.dst[..4]);
        out.extend_from_slice(&self.ip_options);
        let check = csum::finish(csum::sum(&out[start..]));
        out[start + 10..start + 12].copy_from_slice(&check.to_be_bytes());
    }

    fn ipv6_header(&self, out: &mut Vec<u8>, protocol: u8, l4_len: usize) {
        let first = self.v6_ext.first().map_or(protocol, |(t, _)| *t);
        let word = (6u32 << 28) | (u32::from(self.tos) << 20) | (self.flow_label & 0xf_ffff);
        out.extend_from_slice(&word.to_be_bytes());
        out.extend_from_slice(&((self.l3_len() - 40 + l4_len) as u16).to_be_bytes());
        out.extend_from_slice(&[first, self.ttl]);
        out.extend_from_slice(&self.src);
        out.extend_from_slice(&self.dst);
        for (i, (_, body)) in self.v6_ext.iter().enumerate() {
            let next = self.v6_ext.get(i + 1).map_or(protocol, |(t, _)| *t);
            out.push(next);
            out.push(((2 + body.len()) / 8).saturating_sub(1) as u8);
            out.extend_from_slice(body);
        }
    }
}

/// The 8-byte tunnel header [`PacketSpec::encapsulate`] puts between the outer UDP header and the
/// inner packet (VXLAN-shaped: flags 0x08, VNI 0x00abcd; its bytes are opaque to GSO).
pub const TUNNEL_HDR: [u8; 8] = [0x08, 0, 0, 0, 0x00, 0xab, 0xcd, 0];

impl PacketSpec {
    /// A UDP-tunnel packet: `self` is the outer packet (its transport must be UDP; its payload is
    /// replaced), carrying [`TUNNEL_HDR`] and then `inner` (an IP packet, as on a TUN device).
    /// Outer lengths are computed; the outer UDP checksum is 0 (valid for IPv4 and, for tunnels,
    /// what V7 and S3b allow when UDP_TUNNEL_CSUM is not asked for).
    pub fn encapsulate(&self, inner: &[u8]) -> Vec<u8> {
        let mut outer = self.clone();
        outer.l4 = L4::Udp;
        outer.payload = TUNNEL_HDR.to_vec();
        outer.payload.extend_from_slice(inner);
        let mut pkt = outer.build();
        let at = outer.l4_offset() + 6;
        pkt[at..at + 2].copy_from_slice(&[0, 0]);
        pkt
    }
}

impl PacketSpec {
    /// The kernel GRO selftest's segment (tools/testing/selftests/drivers/net/gro.c): TCP with
    /// ACK, seq 100 + `off`, ack 100, window 65535, TTL 8, DF, `len` bytes of 'a'.
    pub fn gro_selftest(v6: bool, len: usize, off: u32) -> PacketSpec {
        let mut s = if v6 {
            PacketSpec::tcp6(len)
        } else {
            PacketSpec::tcp4(len)
        };
        s.payload = vec![b'a'; len];
        s.l4 = L4::Tcp {
            seq: 100 + off,
            ack: 100,
            flags: tcp_flags::ACK,
            window: 65535,
        };
        s.ttl = 8;
        s
    }

    /// The same packet with the TCP flag bits `f` added (no change for UDP).
    pub fn with_tcp_flags(mut self, f: u8) -> PacketSpec {
        if let L4::Tcp { flags, .. } = &mut self.l4 {
            *flags |= f;
        }
        self
    }
}

/// Builds a train with IPv4 IDs 8, 9, 10, ...: the selftest sends fixed IDs, which do not merge
/// at a TUN boundary under Linux (G3), so a train that is not about IDs increments them.
pub fn build_with_incrementing_ids(specs: &mut [PacketSpec]) -> Vec<Vec<u8>> {
    specs
        .iter_mut()
        .enumerate()
        .map(|(i, s)| {
            s.ip_id = 8 + i as u16;
            s.build()
        })
        .collect()
}

/// `len` bytes of a recognisable pattern.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(7) + 3) as u8).collect()
}

/// An IPv6 destination-options extension header of `len` bytes (a multiple of 8, at least 8),
/// padded with one PadN option: `(60, body)` for [`PacketSpec::v6_ext`].
pub fn v6_dest_opts(len: usize) -> (u8, Vec<u8>) {
    let mut body = vec![1u8, (len - 4) as u8];
    body.resize(len - 2, 0);
    (60, body)
}

/// The IPv4 EtherType.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// The IPv6 EtherType.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// The 802.1Q (VLAN) EtherType.
pub const ETHERTYPE_VLAN: u16 = 0x8100;

/// An Ethernet frame (destination 02:00:00:00:00:02, source 02:00:00:00:00:01) carrying `payload`
/// as `ethertype`, behind an 802.1Q tag with this TCI if `tag` is `Some`.
pub fn ethernet(tag: Option<u16>, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(18 + payload.len());
    out.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    if let Some(tci) = tag {
        out.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        out.extend_from_slice(&tci.to_be_bytes());
    }
    out.extend_from_slice(&ethertype.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Bytes from hex (a regression case copied from a kernel-differential report). Panics on a
/// character that is not a hex digit.
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// A few specs that between them use every field a parser must walk (IPv4 options, two IPv6
/// extension headers, TCP options, Ethernet with an 802.1Q tag, empty and odd payloads): for
/// tests that hold the builder against a parser.
pub fn samples() -> Vec<PacketSpec> {
    let mut with_everything = PacketSpec::tcp6(300);
    with_everything.v6_ext = vec![v6_dest_opts(16), (0, vec![1, 4, 0, 0, 0, 0])];
    with_everything.tcp_options = vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0];
    with_everything.ethernet = Some(Some(100));
    let mut v4_opts = PacketSpec::udp4(77);
    v4_opts.ip_options = vec![1; 8];
    vec![
        PacketSpec::tcp4(0),
        PacketSpec::udp6(1),
        v4_opts,
        with_everything,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks the built bytes the way a receiver would (EtherType, IHL or the extension chain,
    /// TCP data offset) and verifies every checksum with [`checksum`].
    #[test]
    fn built_packets_parse_and_verify() {
        for spec in samples() {
            let pkt = spec.build();
            let mut l3 = 0;
            if spec.ethernet.is_some() {
                l3 = if pkt[12..14] == ETHERTYPE_VLAN.to_be_bytes() {
                    18
                } else {
                    14
                };
            }
            assert_eq!(l3, spec.l3_offset(), "{spec:?}");
            let (mut at, mut next) = if pkt[l3] >> 4 == 6 {
                (l3 + 40, pkt[l3 + 6])
            } else {
                assert!(checksum::verify(
                    &pkt[l3..l3 + usize::from(pkt[l3] & 0xf) * 4]
                ));
                (l3 + usize::from(pkt[l3] & 0xf) * 4, pkt[l3 + 9])
            };
            while matches!(next, 0 | 43 | 60) {
                (at, next) = (at + 8 * (1 + usize::from(pkt[at + 1])), pkt[at]);
            }
            assert_eq!(at, spec.l4_offset(), "{spec:?}");
            assert_eq!(next, spec.protocol());
            if next == 6 {
                assert_eq!(usize::from(pkt[at + 12] >> 4) * 4, spec.l4_len());
            }
            let l4 = &pkt[spec.l4_offset()..];
            assert_eq!(
                csum::combine(spec.pseudo_header(l4.len()), csum::sum(l4)),
                0xffff
            );
            let partial = spec.build_partial();
            let field = spec.l4_offset() + spec.csum_offset();
            assert_eq!(partial[..field], pkt[..field]);
            assert_eq!(
                partial[field..field + 2],
                spec.pseudo_header(l4.len()).to_be_bytes()
            );
        }
    }
}
