//! `wire`: the checked views and the layered parser on arbitrary bytes.

use crate::laws::hold;
use crate::laws::total::wire_views;
use vnet_core::wire::{
    ETHERNET_HEADER_LEN, ETHERNET_VLAN_HEADER_LEN, EtherType, EthernetFrame, Headers,
    IPV4_MIN_HEADER_LEN, IPV6_HEADER_LEN, IpVersion, Ipv4Packet, Ipv6Packet, Link,
    MAX_EXTENSION_HEADERS, TCP_MIN_HEADER_LEN, TcpFlags, TcpPacket, UDP_HEADER_LEN, UdpPacket,
    parse_headers,
};

/// Every view over `data` (and over the layers `parse_headers` finds in it, on TUN and TAP):
/// L7 on the views ([`wire_views`]: unchecked getters and setters never panic, slices stay in the
/// buffer); after `new_checked` the lengths it checked hold and every slice getter is the bytes
/// it names; a setter's value reads back; the parser's offsets are in bounds and agree with the
/// views.
pub fn wire(data: &[u8]) {
    hold(wire_views(data));
    views(data);
    for link in [Link::Tun, Link::Tap] {
        if let Ok(h) = parse_headers(data, link) {
            layers(data, link, &h);
        }
    }
}

/// All five views at the start of `data`.
fn views(data: &[u8]) {
    ethernet(data);
    ipv4(data);
    ipv6(data);
    tcp(data);
    udp(data);
}

fn ethernet(data: &[u8]) {
    let unchecked = EthernetFrame::new_unchecked(data);
    let tagged = unchecked.outer_ethertype() == EtherType::VLAN;
    assert_eq!(unchecked.is_tagged(), tagged);
    let Ok(eth) = EthernetFrame::new_checked(data) else {
        assert!(data.len() < ETHERNET_HEADER_LEN || tagged);
        return;
    };
    let header_len = if tagged {
        ETHERNET_VLAN_HEADER_LEN
    } else {
        ETHERNET_HEADER_LEN
    };
    assert_eq!(eth.header_len(), header_len);
    assert_eq!(eth.payload(), &data[header_len..]);
    assert_eq!(eth.dst_addr(), data[0..6]);
    assert_eq!(eth.src_addr(), data[6..12]);
    assert_eq!(eth.vlan_tci().is_some(), tagged);
    assert_eq!(eth.vlan_id(), eth.vlan_tci().map(|tci| tci & 0x0fff));
    if !tagged {
        assert_eq!(eth.ethertype(), eth.outer_ethertype());
    }

    let mut copy = data.to_vec();
    let mut eth = EthernetFrame::new_unchecked(&mut copy[..]);
    eth.set_dst_addr([1, 2, 3, 4, 5, 6]);
    eth.set_src_addr([7, 8, 9, 10, 11, 12]);
    assert_eq!(eth.dst_addr(), [1, 2, 3, 4, 5, 6]);
    assert_eq!(eth.src_addr(), [7, 8, 9, 10, 11, 12]);
    assert_eq!(eth.payload_mut().len(), data.len() - header_len);
}

fn ipv4(data: &[u8]) {
    let Ok(ip) = Ipv4Packet::new_checked(data) else {
        return;
    };
    let header_len = usize::from(ip.ihl()) * 4;
    let total_len = usize::from(ip.total_len());
    assert_eq!(ip.header_len(), header_len);
    assert!(IPV4_MIN_HEADER_LEN <= header_len && header_len <= total_len);
    assert!(total_len <= data.len());
    assert_eq!(ip.version(), data[0] >> 4);
    assert_eq!(ip.header(), &data[..header_len]);
    assert_eq!(ip.options(), &data[IPV4_MIN_HEADER_LEN..header_len]);
    assert_eq!(ip.payload(), &data[header_len..total_len]);
    assert_eq!(ip.ecn(), ip.tos() & 3);
    assert_eq!(
        ip.is_fragment(),
        ip.more_frags() || ip.frag_offset() != 0,
        "a fragment: MF, or a non-zero offset"
    );
    assert!(ip.frag_offset() < 1 << 13);

    let mut copy = data.to_vec();
    let mut ip = Ipv4Packet::new_unchecked(&mut copy[..]);
    ip.set_ident(0xbeef);
    ip.set_checksum(0x1234);
    ip.set_flags_frag(true, false, 0xffff);
    assert_eq!((ip.ident(), ip.checksum()), (0xbeef, 0x1234));
    assert!(ip.dont_frag() && !ip.more_frags());
    assert_eq!(ip.frag_offset(), 0x1fff, "the offset is masked to 13 bits");
    assert_eq!(ip.payload_mut().len(), total_len - header_len);
    ip.set_total_len(0x0abc);
    assert_eq!(ip.total_len(), 0x0abc);
}

fn ipv6(data: &[u8]) {
    let unchecked = Ipv6Packet::new_unchecked(data);
    let _ = (unchecked.payload(), unchecked.walk_extensions());
    let Ok(ip) = Ipv6Packet::new_checked(data) else {
        return;
    };
    let total_len = IPV6_HEADER_LEN + usize::from(ip.payload_len());
    assert_eq!(ip.total_len(), total_len);
    assert!(total_len <= data.len());
    assert_eq!(ip.payload(), &data[IPV6_HEADER_LEN..total_len]);
    assert_eq!(ip.version(), data[0] >> 4);
    assert!(ip.flow_label() < 1 << 20);
    assert_eq!(ip.src_addr(), data[8..24]);
    assert_eq!(ip.dst_addr(), data[24..40]);
    if let Ok(walk) = ip.walk_extensions() {
        assert!(IPV6_HEADER_LEN <= walk.header_len && walk.header_len <= total_len);
        assert!(walk.header_len <= IPV6_HEADER_LEN + MAX_EXTENSION_HEADERS * 2048);
        if walk.header_len == IPV6_HEADER_LEN {
            assert_eq!(walk.protocol, ip.next_header());
        }
        if let Some(frag) = walk.fragment {
            assert!(frag.header_offset >= IPV6_HEADER_LEN);
            assert!(frag.header_offset + 8 <= walk.header_len);
            assert!(frag.frag_offset < 1 << 13);
        }
    }

    let mut copy = data.to_vec();
    let mut ip = Ipv6Packet::new_unchecked(&mut copy[..]);
    assert_eq!(ip.payload_mut().len(), total_len - IPV6_HEADER_LEN);
    ip.set_payload_len(7);
    assert_eq!(ip.payload_len(), 7);
}

fn tcp(data: &[u8]) {
    let Ok(tcp) = TcpPacket::new_checked(data) else {
        return;
    };
    let header_len = usize::from(tcp.data_offset()) * 4;
    assert_eq!(tcp.header_len(), header_len);
    assert!(TCP_MIN_HEADER_LEN <= header_len && header_len <= data.len());
    assert_eq!(tcp.options(), &data[TCP_MIN_HEADER_LEN..header_len]);
    assert_eq!(tcp.payload(), &data[header_len..]);
    assert_eq!(
        tcp.flags().0 & !TcpFlags::ALL.0,
        0,
        "flags are the low 9 bits"
    );

    let mut copy = data.to_vec();
    let mut tcp = TcpPacket::new_unchecked(&mut copy[..]);
    let word = tcp.doff_flags_word();
    tcp.set_seq_number(0xdead_beef);
    tcp.set_checksum(0x4321);
    tcp.set_flags(TcpFlags(0xffff));
    assert_eq!((tcp.seq_number(), tcp.checksum()), (0xdead_beef, 0x4321));
    assert_eq!(tcp.flags(), TcpFlags::ALL);
    assert_eq!(
        tcp.data_offset(),
        (word >> 12) as u8,
        "set_flags keeps the offset"
    );
    assert_eq!(tcp.payload_mut().len(), data.len() - header_len);
}

fn udp(data: &[u8]) {
    let Ok(udp) = UdpPacket::new_checked(data) else {
        return;
    };
    let length = usize::from(udp.length());
    assert!(UDP_HEADER_LEN <= length && length <= data.len());
    assert_eq!(udp.header_len(), UDP_HEADER_LEN);
    assert_eq!(udp.payload(), &data[UDP_HEADER_LEN..length]);

    let mut copy = data.to_vec();
    let mut udp = UdpPacket::new_unchecked(&mut copy[..]);
    udp.set_checksum(0xffff);
    assert_eq!(udp.checksum(), 0xffff);
    assert_eq!(udp.payload_mut().len(), length - UDP_HEADER_LEN);
    udp.set_length(8);
    assert_eq!(udp.length(), 8);
}

/// `parse_headers` succeeded: its offsets lie in the packet and the views agree with them.
fn layers(data: &[u8], link: Link, h: &Headers) {
    assert_eq!(h.l4_offset, h.l3_offset + h.l3_len);
    assert!(h.l4_offset <= data.len());
    match link {
        Link::Tun => assert_eq!((h.l3_offset, h.vlan), (0, None)),
        Link::Tap => {
            let eth = EthernetFrame::new_checked(data).expect("a parsed frame");
            assert_eq!(h.l3_offset, eth.header_len());
            assert_eq!(h.vlan, eth.vlan_tci());
            let expected = match h.ip {
                IpVersion::V4 => EtherType::IPV4,
                IpVersion::V6 => EtherType::IPV6,
            };
            assert_eq!(eth.ethertype(), expected);
        }
    }
    let ip_bytes = &data[h.l3_offset..];
    // Where the IP datagram ends (Ethernet padding excluded).
    let ip_end = match h.ip {
        IpVersion::V4 => {
            let ip = Ipv4Packet::new_checked(ip_bytes).expect("a parsed IPv4 header");
            assert_eq!(ip.version(), 4);
            assert_eq!(h.l3_len, ip.header_len());
            assert_eq!((h.protocol, h.fragment), (ip.protocol(), ip.is_fragment()));
            h.l3_offset + usize::from(ip.total_len())
        }
        IpVersion::V6 => {
            let ip = Ipv6Packet::new_checked(ip_bytes).expect("a parsed IPv6 header");
            assert_eq!(ip.version(), 6);
            let walk = ip.walk_extensions().expect("a parsed extension chain");
            assert_eq!(h.l3_len, walk.header_len);
            assert_eq!(h.l3_len % 8, 0, "IPv6 headers come in 8-byte units");
            assert_eq!(
                (h.protocol, h.fragment),
                (walk.protocol, walk.fragment.is_some())
            );
            h.l3_offset + ip.total_len()
        }
    };
    // The transport layer, bounded by the IP length as the views' docs ask, and unbounded.
    assert!(h.l4_offset <= ip_end && ip_end <= data.len());
    views(&data[h.l4_offset..ip_end]);
    views(&data[h.l4_offset..]);
}
