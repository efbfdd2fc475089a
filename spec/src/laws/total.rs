//! L7: totality. vnet-core's public functions return `Ok` or a typed error for any input, never
//! panic, and what they return is in bounds. Each function here drives one area with arbitrary
//! input and checks the bounds that the `Ok` results promise.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use vnet_core::check::{self, CheckOptions, Mode, Offload};
use vnet_core::csum;
use vnet_core::hdr::{Endian, Layout, VnetHdr};
use vnet_core::meta::{self, TxMetadata};
use vnet_core::wire::{
    self, EthernetFrame, Ipv4Packet, Ipv6Packet, Link, TcpFlags, TcpPacket, UdpPacket,
};

/// `VnetHdr::read` in every layout and byte order: `Ok` exactly when the bytes hold the layout,
/// and then the rest is what follows it.
pub fn header_read(bytes: &[u8]) -> Result<(), TestCaseError> {
    for layout in Layout::ALL {
        for endian in [Endian::Little, Endian::Big, Endian::Native] {
            match VnetHdr::read(bytes, layout, endian) {
                Ok((_, rest)) => prop_assert_eq!(rest.len(), bytes.len() - layout.size()),
                Err(_) => prop_assert!(bytes.len() < layout.size()),
            }
        }
    }
    Ok(())
}

/// `check::check` under every mode, link, tunnel option and kernel profile, with `udp_max_segments`
/// as given and at its extremes: a checksum request lies within the packet; a segmentation request's headers
/// and payload are the packet.
pub fn check_every_option(
    hdr: &VnetHdr,
    pkt: &[u8],
    udp_max_segments: u16,
) -> Result<(), TestCaseError> {
    for mode in [Mode::Linux, Mode::Strict] {
        for link in [Link::Tun, Link::Tap] {
            for (tunnel, tunnel_csum) in [(false, false), (true, false), (true, true)] {
                for (segments, layout, index) in [udp_max_segments, 0, u16::MAX]
                    .into_iter()
                    .flat_map(|n| Layout::ALL.map(|layout| (n, layout)))
                    .flat_map(|(n, layout)| (0..4).map(move |i| (n, layout, i)))
                {
                    let opts = CheckOptions {
                        link,
                        layout,
                        mode,
                        kernel: crate::kernels::kernel_from_index(index, segments),
                        tunnel,
                        tunnel_csum,
                    };
                    match check::check(hdr, pkt, &opts) {
                        Ok(Offload::Checksum(c)) => prop_assert!(
                            usize::from(c.start) + usize::from(c.offset) + 2 <= pkt.len(),
                            "checksum field outside the packet: {c:?}"
                        ),
                        Ok(Offload::Segment(req)) => {
                            prop_assert_eq!(req.hdr_len + req.payload_len, pkt.len());
                            prop_assert!(req.gso_size > 0);
                        }
                        Ok(Offload::Plain) | Err(_) => {}
                    }
                }
            }
        }
    }
    Ok(())
}

/// Calls each named getter of an unchecked view and drops the value: any bytes must give every
/// getter an answer, never a panic (L7).
macro_rules! read_all {
    ($view:ident: $($getter:ident),+) => {
        $(let _ = $view.$getter();)+
    };
}

/// Every `wire` view, checked and unchecked, and `parse_headers` on both links: accessors return,
/// slices stay within the buffer, setters on unchecked views do not panic.
pub fn wire_views(bytes: &[u8]) -> Result<(), TestCaseError> {
    let n = bytes.len();
    for link in [Link::Tun, Link::Tap] {
        if let Ok(h) = wire::parse_headers(bytes, link) {
            prop_assert!(h.l4_offset <= n);
            prop_assert_eq!(h.l4_offset, h.l3_offset + h.l3_len);
        }
    }
    let checked = EthernetFrame::new_checked(bytes).is_ok();
    let eth = EthernetFrame::new_unchecked(bytes);
    read_all!(eth: dst_addr, src_addr, vlan_id, ethertype);
    prop_assert!(eth.payload().len() <= n);
    if checked {
        prop_assert!(eth.header_len() <= n);
    }

    let v4 = Ipv4Packet::new_unchecked(bytes);
    read_all!(v4: version, tos, ecn, ident, ttl, protocol, dont_frag, more_frags, frag_offset);
    read_all!(v4: checksum, src_addr, dst_addr, is_fragment);
    prop_assert!(v4.header().len() + v4.options().len() + v4.payload().len() <= 2 * n);
    if Ipv4Packet::new_checked(bytes).is_ok() {
        prop_assert_eq!(v4.header().len(), v4.header_len());
        prop_assert_eq!(
            v4.header_len() + v4.payload().len(),
            usize::from(v4.total_len())
        );
    }

    let v6 = Ipv6Packet::new_unchecked(bytes);
    read_all!(v6: version, traffic_class, flow_label, hop_limit, next_header, src_addr, dst_addr);
    prop_assert!(v6.payload().len() <= n);
    if let Ok(walk) = Ipv6Packet::new_checked(bytes).and_then(|p| p.walk_extensions()) {
        prop_assert!(walk.header_len <= v6.total_len());
    }

    let tcp = TcpPacket::new_unchecked(bytes);
    read_all!(tcp: src_port, dst_port, seq_number, ack_number);
    read_all!(tcp: flags, window, checksum, urgent_pointer);
    prop_assert!(tcp.options().len() + tcp.payload().len() <= n);
    if TcpPacket::new_checked(bytes).is_ok() {
        prop_assert_eq!(tcp.header_len() + tcp.payload().len(), n);
    }

    let udp = UdpPacket::new_unchecked(bytes);
    read_all!(udp: src_port, dst_port, length, checksum);
    prop_assert!(udp.payload().len() <= n);
    if UdpPacket::new_checked(bytes).is_ok() {
        prop_assert_eq!(
            udp.header_len() + udp.payload().len(),
            usize::from(udp.length())
        );
    }

    // Setters on unchecked views over a copy: they write in bounds or not at all.
    let mut copy = bytes.to_vec();
    let mut v4 = Ipv4Packet::new_unchecked(&mut copy[..]);
    v4.set_total_len(0xFFFF);
    v4.set_ident(1);
    v4.set_flags_frag(true, true, 0x1FFF);
    v4.set_checksum(2);
    let _ = v4.payload_mut().len();
    let mut v6 = Ipv6Packet::new_unchecked(&mut copy[..]);
    v6.set_payload_len(0xFFFF);
    let _ = v6.payload_mut().len();
    let mut tcp = TcpPacket::new_unchecked(&mut copy[..]);
    tcp.set_seq_number(3);
    tcp.set_flags(TcpFlags::FIN);
    tcp.set_checksum(4);
    let _ = tcp.payload_mut().len();
    let mut udp = UdpPacket::new_unchecked(&mut copy[..]);
    udp.set_length(0xFFFF);
    udp.set_checksum(5);
    let _ = udp.payload_mut().len();
    let mut eth = EthernetFrame::new_unchecked(&mut copy[..]);
    eth.set_dst_addr([6; 6]);
    eth.set_src_addr([7; 6]);
    let _ = eth.payload_mut().len();
    prop_assert_eq!(copy.len(), n);
    Ok(())
}

/// The meta translations and fix-ups on arbitrary metadata, headers and frames: a header from
/// metadata has NEEDS_CSUM or is all zero; metadata from a header places its headers within the
/// frame; a fix-up keeps the frame's length, and an IPv4 one leaves a header that verifies.
pub fn meta_translations(
    m: &TxMetadata,
    hdr: &VnetHdr,
    frame: &[u8],
    l2_len: usize,
) -> Result<(), TestCaseError> {
    if let Ok(h) = meta::to_header(m) {
        prop_assert!(h == VnetHdr::default() || h.flags == vnet_core::hdr::Flags::NEEDS_CSUM);
    }
    for link in [Link::Tun, Link::Tap] {
        if let Ok(back) = meta::from_header(hdr, frame, link) {
            let end =
                usize::from(back.l2_len) + usize::from(back.l3_len) + usize::from(back.l4_len);
            prop_assert!(end <= frame.len());
        }
    }
    let _ = meta::rx_metadata(hdr);
    for l2 in [l2_len, 0, 14, 18] {
        let mut copy = frame.to_vec();
        if meta::fixup_ipv4_header_checksum(&mut copy, l2).is_ok() {
            prop_assert_eq!(copy.len(), frame.len());
            let ip = Ipv4Packet::new_unchecked(&copy[l2..]);
            prop_assert!(csum::verify(ip.header()));
        }
        let mut copy = frame.to_vec();
        if let Ok(len) = meta::fixup_ipv6_payload_length(&mut copy, l2) {
            prop_assert_eq!(copy.len(), frame.len());
            prop_assert!(len == 0 || usize::from(len) == frame.len() - l2 - 40);
        }
    }
    Ok(())
}
