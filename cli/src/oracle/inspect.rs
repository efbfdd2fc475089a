//! `vnet inspect`: a frame (header + packet) decoded for a person, with what `check` and `gso`
//! make of it.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use vnet_core::check::{self, CheckOptions, Offload};
use vnet_core::hdr::{Endian, VnetHdr};
use vnet_core::wire::{
    self, EthernetFrame, IpProtocol, IpVersion, Ipv4Packet, Ipv6Packet, Link, TcpPacket, UdpPacket,
};

use super::{Format, segment, split_frame};

/// The report, one fact per line.
pub fn inspect(frame: &[u8], format: &Format, opts: &CheckOptions) -> String {
    let mut out = String::new();
    let (hdr, pkt) = match split_frame(frame, format) {
        Ok(split) => split,
        Err(e) => return format!("error: {e}\n"),
    };
    describe_header(&mut out, &hdr, format);
    describe_packet(&mut out, pkt, opts.link);
    match check::check(&hdr, pkt, opts) {
        Err(e) => {
            let _ = writeln!(out, "check:   rejected: {e}");
        }
        Ok(Offload::Plain) => out.push_str("check:   plain packet, sent as it is\n"),
        Ok(Offload::Checksum(c)) => {
            let _ = writeln!(
                out,
                "check:   complete the checksum: sum from byte {} to the end, store at {}",
                c.start,
                usize::from(c.start) + usize::from(c.offset)
            );
        }
        Ok(Offload::Segment(req)) => {
            let _ = writeln!(
                out,
                "check:   segment ({:?}{}): gso_size {}, headers {} bytes (header said {}), payload {} bytes",
                req.kind,
                if req.tunnel.is_some() {
                    ", UDP tunnel"
                } else {
                    ""
                },
                req.gso_size,
                req.hdr_len,
                hdr.hdr_len,
                req.payload_len
            );
        }
    }
    if let Ok(segments) = segment(&hdr, pkt, opts) {
        let lens: Vec<String> = segments.iter().map(|s| s.len().to_string()).collect();
        let _ = writeln!(
            out,
            "gso:     {} packet(s) of {} bytes",
            segments.len(),
            lens.join(", ")
        );
    }
    out
}

fn describe_header(out: &mut String, hdr: &VnetHdr, format: &Format) {
    let order = match format.endian {
        Endian::Little => "little-endian",
        Endian::Big => "big-endian",
        Endian::Native => "native",
    };
    let _ = writeln!(
        out,
        "header:  {} bytes, {order}: flags {:?}, gso_type {:?}, hdr_len {}, gso_size {}, csum_start {}, csum_offset {}",
        format.layout.size(),
        hdr.flags,
        hdr.gso_type,
        hdr.hdr_len,
        hdr.gso_size,
        hdr.csum_start,
        hdr.csum_offset
    );
    if format.layout.size() >= 12 {
        let _ = writeln!(
            out,
            "         num_buffers {}, hash {:#010x} (report {}), outer_th_offset {}, inner_nh_offset {}",
            hdr.num_buffers,
            hdr.hash_value,
            hdr.hash_report,
            hdr.outer_th_offset,
            hdr.inner_nh_offset
        );
    }
}

fn describe_packet(out: &mut String, pkt: &[u8], link: Link) {
    let _ = writeln!(out, "packet:  {} bytes", pkt.len());
    if link == Link::Tap
        && let Ok(eth) = EthernetFrame::new_checked(pkt)
    {
        let _ = writeln!(
            out,
            "  ethernet: type {:#06x}{}",
            eth.ethertype().0,
            eth.vlan_id()
                .map_or(String::new(), |v| format!(", VLAN {v}"))
        );
    }
    let h = match wire::parse_headers(pkt, link) {
        Ok(h) => h,
        Err(e) => {
            let _ = writeln!(out, "  does not parse: {e}");
            return;
        }
    };
    let ip = pkt.get(h.l3_offset..).unwrap_or_default();
    match h.ip {
        IpVersion::V4 => {
            let p = Ipv4Packet::new_unchecked(ip);
            let _ = writeln!(
                out,
                "  ipv4: {} -> {}, header {} bytes, total_len {}, id {:#06x}{}{}, ttl {}, tos {:#04x}, checksum {:#06x}",
                Ipv4Addr::from(p.src_addr()),
                Ipv4Addr::from(p.dst_addr()),
                p.header_len(),
                p.total_len(),
                p.ident(),
                if p.dont_frag() { ", DF" } else { "" },
                if p.is_fragment() { ", fragment" } else { "" },
                p.ttl(),
                p.tos(),
                p.checksum()
            );
        }
        IpVersion::V6 => {
            let p = Ipv6Packet::new_unchecked(ip);
            let _ = writeln!(
                out,
                "  ipv6: {} -> {}, headers {} bytes, payload_len {}, hop limit {}, class {:#04x}, flow {:#07x}",
                Ipv6Addr::from(p.src_addr()),
                Ipv6Addr::from(p.dst_addr()),
                h.l3_len,
                p.payload_len(),
                p.hop_limit(),
                p.traffic_class(),
                p.flow_label()
            );
        }
    }
    let l4 = pkt.get(h.l4_offset..).unwrap_or_default();
    match h.protocol {
        IpProtocol::TCP => match TcpPacket::new_checked(l4) {
            Ok(t) => {
                let _ = writeln!(
                    out,
                    "  tcp: {} -> {}, seq {}, ack {}, flags {:?}, window {}, header {} bytes, payload {} bytes",
                    t.src_port(),
                    t.dst_port(),
                    t.seq_number(),
                    t.ack_number(),
                    t.flags(),
                    t.window(),
                    t.header_len(),
                    l4.len() - t.header_len()
                );
            }
            Err(e) => {
                let _ = writeln!(out, "  tcp: {e}");
            }
        },
        IpProtocol::UDP => {
            let u = UdpPacket::new_unchecked(l4);
            let _ = writeln!(
                out,
                "  udp: {} -> {}, length {}, checksum {:#06x}, payload {} bytes",
                u.src_port(),
                u.dst_port(),
                u.length(),
                u.checksum(),
                l4.len().saturating_sub(8)
            );
        }
        other => {
            let _ = writeln!(out, "  protocol {}", other.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tso_frame_reads_as_a_person_would_say_it() {
        let frame = super::super::tests::tso_frame();
        let text = inspect(&frame, &Format::default(), &CheckOptions::default());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "header:  12 bytes, little-endian: flags NEEDS_CSUM, gso_type TCPV4, hdr_len 40, gso_size 100, csum_start 20, csum_offset 16"
        );
        assert!(lines[3].starts_with("  ipv4: 192.0.2.1 -> 198.51.100.2, header 20 bytes"));
        assert!(lines[4].starts_with("  tcp: 51234 -> 443, seq 0, ack 0"));
        assert_eq!(
            lines[5],
            "check:   segment (Tcp): gso_size 100, headers 40 bytes (header said 40), payload 200 bytes"
        );
        assert_eq!(lines[6], "gso:     2 packet(s) of 140, 140 bytes");
    }
}
