//! Test-only packet builder: valid IPv4/IPv6 + TCP/UDP packets with correct lengths and checksums,
//! optional IPv4 options, IPv6 extension headers, TCP options and an Ethernet (+VLAN) header.

use std::vec::Vec;

use crate::csum;

/// What to build. Addresses come from the documentation ranges.
#[derive(Clone, Debug)]
pub(crate) struct Pkt {
    pub(crate) v6: bool,
    pub(crate) udp: bool,
    pub(crate) payload: Vec<u8>,
    /// IPv4 option bytes (a multiple of 4, at most 40).
    pub(crate) ip_options: usize,
    /// IPv6 destination-options header bytes (a multiple of 8, 0 for none).
    pub(crate) v6_ext: usize,
    /// TCP option bytes (a multiple of 4, at most 40).
    pub(crate) tcp_options: usize,
    pub(crate) seq: u32,
    pub(crate) tcp_flags: u8,
    pub(crate) ip_id: u16,
    /// Ethernet header before the IP header; with a VLAN tag if `vlan`.
    pub(crate) ethernet: bool,
    pub(crate) vlan: bool,
}

impl Pkt {
    pub(crate) fn tcp4(payload_len: usize) -> Pkt {
        Pkt {
            v6: false,
            udp: false,
            payload: (0..payload_len).map(|i| (i * 7 + 3) as u8).collect(),
            ip_options: 0,
            v6_ext: 0,
            tcp_options: 0,
            seq: 1000,
            tcp_flags: 0x10,
            ip_id: 0x1234,
            ethernet: false,
            vlan: false,
        }
    }

    pub(crate) fn tcp6(payload_len: usize) -> Pkt {
        Pkt {
            v6: true,
            ..Pkt::tcp4(payload_len)
        }
    }

    pub(crate) fn udp4(payload_len: usize) -> Pkt {
        Pkt {
            udp: true,
            ..Pkt::tcp4(payload_len)
        }
    }

    pub(crate) fn udp6(payload_len: usize) -> Pkt {
        Pkt {
            udp: true,
            v6: true,
            ..Pkt::tcp4(payload_len)
        }
    }

    /// Offset of the IP header.
    pub(crate) fn l3_offset(&self) -> usize {
        match (self.ethernet, self.vlan) {
            (false, _) => 0,
            (true, false) => 14,
            (true, true) => 18,
        }
    }

    /// Offset of the transport header.
    pub(crate) fn l4_offset(&self) -> usize {
        self.l3_offset()
            + if self.v6 {
                40 + self.v6_ext
            } else {
                20 + self.ip_options
            }
    }

    /// Length of the transport header.
    pub(crate) fn l4_len(&self) -> usize {
        if self.udp { 8 } else { 20 + self.tcp_options }
    }

    /// Bytes of headers before the payload.
    pub(crate) fn hdr_len(&self) -> usize {
        self.l4_offset() + self.l4_len()
    }

    /// The packet as a NEEDS_CSUM sender hands it over: the transport checksum field holds the
    /// pseudo-header sum (C3) instead of the complete checksum.
    pub(crate) fn build_partial(&self) -> Vec<u8> {
        let mut pkt = self.build();
        let l4 = self.l4_offset();
        let l4_len = pkt.len() - l4;
        let proto = if self.udp { 17 } else { 6 };
        let seed = if self.v6 {
            let (src, dst) = (
                pkt[self.l3_offset() + 8..][..16].to_vec(),
                pkt[self.l3_offset() + 24..][..16].to_vec(),
            );
            csum::pseudo_header_v6(
                src[..].try_into().unwrap(),
                dst[..].try_into().unwrap(),
                proto,
                l4_len as u32,
            )
        } else {
            let at = self.l3_offset();
            csum::pseudo_header_v4(
                pkt[at + 12..at + 16].try_into().unwrap(),
                pkt[at + 16..at + 20].try_into().unwrap(),
                proto,
                l4_len as u16,
            )
        };
        let field = l4 + if self.udp { 6 } else { 16 };
        pkt[field..field + 2].copy_from_slice(&seed.to_be_bytes());
        pkt
    }

    pub(crate) fn build(&self) -> Vec<u8> {
        let mut l4 = Vec::new();
        let l4_total = self.l4_len() + self.payload.len();
        if self.udp {
            l4.extend_from_slice(&[0x9c, 0x40, 0x00, 0x35]);
            l4.extend_from_slice(&(l4_total as u16).to_be_bytes());
            l4.extend_from_slice(&[0, 0]);
        } else {
            l4.extend_from_slice(&[0xc8, 0x22, 0x01, 0xbb]);
            l4.extend_from_slice(&self.seq.to_be_bytes());
            l4.extend_from_slice(&0x0102_0304u32.to_be_bytes());
            l4.push(((self.l4_len() / 4) as u8) << 4);
            l4.push(self.tcp_flags);
            l4.extend_from_slice(&[0xfa, 0xf0, 0, 0, 0, 0]);
            // NOPs then an end-of-options byte pattern that stays valid at any length.
            l4.extend((0..self.tcp_options).map(|_| 1u8));
        }
        l4.extend_from_slice(&self.payload);
        let proto = if self.udp { 17 } else { 6 };
        let src4 = [192, 0, 2, 1];
        let dst4 = [198, 51, 100, 2];
        let mut src6 = [0u8; 16];
        src6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        src6[15] = 1;
        let mut dst6 = src6;
        dst6[15] = 2;
        let pseudo = if self.v6 {
            csum::pseudo_header_v6(&src6, &dst6, proto, l4_total as u32)
        } else {
            csum::pseudo_header_v4(src4, dst4, proto, l4_total as u16)
        };
        let mut check = csum::finish(csum::combine(pseudo, csum::sum(&l4)));
        if self.udp && check == 0 {
            check = 0xffff;
        }
        let at = if self.udp { 6 } else { 16 };
        l4[at..at + 2].copy_from_slice(&check.to_be_bytes());

        let mut out = Vec::new();
        if self.ethernet {
            out.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
            if self.vlan {
                out.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
            }
            out.extend_from_slice(if self.v6 {
                &[0x86, 0xdd]
            } else {
                &[0x08, 0x00]
            });
        }
        if self.v6 {
            let next = if self.v6_ext > 0 { 60 } else { proto };
            out.extend_from_slice(&[0x60, 0, 0, 0]);
            out.extend_from_slice(&((self.v6_ext + l4.len()) as u16).to_be_bytes());
            out.extend_from_slice(&[next, 64]);
            out.extend_from_slice(&src6);
            out.extend_from_slice(&dst6);
            if self.v6_ext > 0 {
                out.extend_from_slice(&[proto, (self.v6_ext / 8 - 1) as u8, 1]);
                out.push((self.v6_ext - 4) as u8);
                out.extend((0..self.v6_ext - 4).map(|_| 0u8));
            }
        } else {
            let ihl = 5 + self.ip_options / 4;
            let total = (ihl * 4 + l4.len()) as u16;
            let start = out.len();
            out.push(0x40 | ihl as u8);
            out.push(0);
            out.extend_from_slice(&total.to_be_bytes());
            out.extend_from_slice(&self.ip_id.to_be_bytes());
            out.extend_from_slice(&[0x40, 0, 64, proto, 0, 0]);
            out.extend_from_slice(&src4);
            out.extend_from_slice(&dst4);
            out.extend((0..self.ip_options).map(|_| 1u8));
            let check = csum::finish(csum::sum(&out[start..]));
            out[start + 10..start + 12].copy_from_slice(&check.to_be_bytes());
        }
        out.extend_from_slice(&l4);
        out
    }
}

/// Bytes from hex (a regression case copied from a kernel-differential report).
pub(crate) fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}
