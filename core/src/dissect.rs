//! The kernel's flow dissector, reduced to what TUN's write path asks of it (K15).
//!
//! Kernels that dissect a GSO packet written without NEEDS_CSUM (`Profile::write_dissects_gso`)
//! call `skb_flow_dissect_flow_keys_basic` from `__virtio_net_hdr_to_skb` and use three of its
//! answers: the transport protocol, the transport offset and the last network protocol. This is `__skb_flow_dissect` for
//! those two keys, byte for byte: the IP version is taken from the caller (the GSO type), never
//! from the packet, so an IPv6 packet dissected as IPv4 is read with IPv4's layout, as the kernel
//! reads it.

use crate::wire::field::{ipv4, ipv6, ipv6_ext};
use crate::wire::{IPV4_MIN_HEADER_LEN, IPV6_HEADER_LEN, IpProtocol, get16};

/// What the dissector found: the last protocol it reached and where its header starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Keys {
    /// `keys.basic.ip_proto`.
    pub ip_proto: IpProtocol,
    /// `keys.control.thoff`: the transport offset, at most the packet's length.
    pub thoff: usize,
    /// `keys.basic.n_proto` is IPv6: the last IP header read was IPv6 (IP-in-IP changes it).
    pub v6: bool,
}

/// Headers the kernel follows before it stops (`MAX_FLOW_DISSECT_HDRS`).
const MAX_HEADERS: usize = 15;

/// The layer the dissector is reading.
#[derive(Clone, Copy)]
enum Layer {
    Ipv4,
    Ipv6,
}

/// IPv4-in-IP and IPv6-in-IP: the dissector follows both into the inner header.
const IPIP: IpProtocol = IpProtocol(4);
const IPV6_IN_IP: IpProtocol = IpProtocol(41);

/// Dissects `pkt` as an IPv6 (`v6`) or IPv4 packet from offset 0. `None` where the kernel's
/// dissector fails (a header cut short, an IPv4 IHL below 5).
///
/// Not followed (the kernel goes on; here the dissection ends at them, so the protocol is theirs):
/// GRE, MPLS, and the other tunnels `__skb_flow_dissect` knows besides IP-in-IP.
pub(crate) fn dissect(pkt: &[u8], v6: bool) -> Option<Keys> {
    let mut layer = if v6 { Layer::Ipv6 } else { Layer::Ipv4 };
    let mut nhoff = 0usize;
    let mut headers = 0usize;
    let ip_proto = 'dissect: loop {
        // proto_again: an IP header.
        let mut ip_proto = match layer {
            Layer::Ipv4 => {
                let ip = pkt.get(nhoff..nhoff + IPV4_MIN_HEADER_LEN)?;
                let ihl = usize::from(ip.get(ipv4::VER_IHL)? & 0x0f);
                if ihl < 5 {
                    return None;
                }
                let proto = IpProtocol(*ip.get(ipv4::PROTOCOL)?);
                let frag = get16(ip, ipv4::FLAGS_FRAG);
                nhoff += ihl * 4;
                // A fragment (MF or an offset) ends the dissection with its protocol: the kernel
                // is not asked to parse first fragments (no FLOW_DISSECTOR_F_PARSE_1ST_FRAG).
                if frag & (ipv4::MF | ipv4::FRAG_OFFSET_MASK) != 0 {
                    break 'dissect proto;
                }
                proto
            }
            Layer::Ipv6 => {
                let ip = pkt.get(nhoff..nhoff + IPV6_HEADER_LEN)?;
                let next = IpProtocol(*ip.get(ipv6::NEXT_HEADER)?);
                nhoff += IPV6_HEADER_LEN;
                next
            }
        };
        // ip_proto_again: what follows the IP header.
        loop {
            let under_v6 = matches!(layer, Layer::Ipv6);
            let again = match ip_proto {
                // IPv6 extension headers are stepped over only under IPv6: under IPv4 they end it.
                IpProtocol::HOP_BY_HOP | IpProtocol::ROUTING | IpProtocol::DESTINATION_OPTIONS
                    if under_v6 =>
                {
                    let next = IpProtocol(*pkt.get(nhoff + ipv6_ext::NEXT_HEADER)?);
                    let len = *pkt.get(nhoff + ipv6_ext::HDR_EXT_LEN)?;
                    nhoff += (usize::from(len) + 1) * 8;
                    ip_proto = next;
                    false
                }
                IpProtocol::FRAGMENT if under_v6 => {
                    pkt.get(nhoff..nhoff + ipv6_ext::FRAG_LEN)?;
                    let next = IpProtocol(*pkt.get(nhoff + ipv6_ext::NEXT_HEADER)?);
                    nhoff += ipv6_ext::FRAG_LEN;
                    // Any fragment, first or not, ends here (as IPv4's).
                    break 'dissect next;
                }
                IPIP => {
                    layer = Layer::Ipv4;
                    true
                }
                IPV6_IN_IP => {
                    layer = Layer::Ipv6;
                    true
                }
                other => break 'dissect other,
            };
            headers += 1;
            if headers > MAX_HEADERS {
                break 'dissect ip_proto;
            }
            if again {
                continue 'dissect;
            }
        }
    };
    Some(Keys {
        ip_proto,
        thoff: nhoff.min(pkt.len()),
        v6: matches!(layer, Layer::Ipv6),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use vnet_packet::{PacketSpec, v6_dest_opts};

    #[test]
    fn dissect_finds_the_transport_header() {
        for (spec, v6, thoff) in [
            (PacketSpec::tcp4(10), false, 20),
            (PacketSpec::tcp6(10), true, 40),
        ] {
            let keys = Keys {
                ip_proto: IpProtocol::TCP,
                thoff,
                v6,
            };
            assert_eq!(dissect(&spec.build(), v6), Some(keys));
        }
    }

    /// The dissector and `wire::parse_headers` agree on every packet of the test builder's space
    /// (both versions, TCP and UDP, every IPv4 option length, IPv6 destination options, any
    /// payload), and on every cut of one: where the kernel finds a transport header, it is the
    /// one vnet parses; a cut IP header fails both.
    #[test]
    fn dissect_agrees_with_parse_headers() {
        let mut checked = 0;
        for v6 in [false, true] {
            for udp in [false, true] {
                for extra in (0..=40).step_by(8) {
                    for payload in [0, 1, 100] {
                        let mut spec = match (v6, udp) {
                            (false, false) => PacketSpec::tcp4(payload),
                            (false, true) => PacketSpec::udp4(payload),
                            (true, false) => PacketSpec::tcp6(payload),
                            (true, true) => PacketSpec::udp6(payload),
                        };
                        if v6 && extra > 0 {
                            spec.v6_ext = vec![v6_dest_opts(extra)];
                        } else if !v6 {
                            spec.ip_options = vec![1; extra];
                        }
                        let pkt = spec.build();
                        let h = crate::wire::parse_headers(&pkt, crate::wire::Link::Tun).unwrap();
                        let keys = dissect(&pkt, v6).unwrap();
                        assert_eq!(
                            (keys.ip_proto, keys.thoff, keys.v6),
                            (h.protocol, h.l4_offset, v6)
                        );
                        for cut in 0..h.l4_offset {
                            let short = &pkt[..cut];
                            if let Some(k) = dissect(short, v6) {
                                // The IP header is whole; an extension header may be cut, and
                                // then the offset is clamped to the packet (`thoff` = len).
                                assert!(k.thoff <= cut, "{cut}: {k:?}");
                            } else {
                                assert!(
                                    crate::wire::parse_headers(short, crate::wire::Link::Tun)
                                        .is_err()
                                );
                            }
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 1000);
    }

    #[test]
    fn dissect_reads_the_version_it_is_told() {
        // IPv4 read as IPv6: next header is the IPv4 TTL (64), at offset 40.
        let v4 = PacketSpec::tcp4(40).build();
        let keys = dissect(&v4, true).unwrap();
        assert_eq!(keys.ip_proto, IpProtocol(v4[6]));
        // IPv6 read as IPv4: IHL is the traffic class's high nibble, 0 here: refused.
        let v6 = PacketSpec::tcp6(10).build();
        assert_eq!(dissect(&v6, false), None);
        // Too short for the header.
        assert_eq!(dissect(&v4[..19], false), None);
        assert_eq!(dissect(&v6[..39], true), None);
    }
}
