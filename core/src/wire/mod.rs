//! Typed, checked views over the packet headers that the offloads touch: Ethernet (+ one 802.1Q
//! tag), IPv4 (with options), IPv6 (with its extension-header chain), TCP (with options) and UDP.
//!
//! Each protocol has a view `XxxPacket<T: AsRef<[u8]>>` in the style of smoltcp's `wire`:
//! `new_unchecked` wraps any buffer, `check_len` validates every length that an accessor relies on,
//! and `new_checked` is the two together. After a successful `check_len` no accessor can panic or
//! read out of bounds. Accessors never panic at all, in fact: on a buffer that was not checked, a
//! getter whose bytes are missing returns 0 (or an empty slice) and a setter whose bytes are missing
//! does nothing, so a missing `check_len` gives wrong values, never a crash.
//!
//! On an *emit* path (building a packet into a reused buffer) use `new_unchecked`: the old contents
//! may hold stale length fields, and `new_checked` would judge the buffer by them.
//!
//! [`parse_headers`] is the one layered parser that `check`, `gso` and `gro` share, so that no one
//! locates headers by hand.
//!
//! ```
//! use vnet_core::wire::{self, IpProtocol, IpVersion, Link, UdpPacket};
//! // IPv4 (20 bytes) + UDP (8 bytes, port 53) + 4 payload bytes, as a TUN device carries it.
//! let mut pkt = [0u8; 32];
//! pkt[..20].copy_from_slice(&[0x45, 0, 0, 32, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
//! pkt[20..28].copy_from_slice(&[0x30, 0x39, 0, 53, 0, 12, 0, 0]);
//! let h = wire::parse_headers(&pkt, Link::Tun)?;
//! assert_eq!((h.ip, h.protocol, h.l4_offset), (IpVersion::V4, IpProtocol::UDP, 20));
//! assert_eq!(UdpPacket::new_checked(&pkt[h.l4_offset..])?.dst_port(), 53);
//! // A packet cut inside its IPv4 header is a typed error.
//! assert!(wire::parse_headers(&pkt[..12], Link::Tun).is_err());
//! # Ok::<(), vnet_core::wire::Error>(())
//! ```

#[macro_use]
mod view;
mod ethernet;
mod ipv4;
mod ipv6;
mod tcp;
mod udp;

/// Field offsets (and the IPv4 flag bits) of every header, for code that reads or patches a
/// header in place without a view (`gso`'s per-segment patching, `dissect`): one home each.
pub(crate) mod field {
    pub(crate) use super::ipv4::field as ipv4;
    pub(crate) use super::ipv6::ext_field as ipv6_ext;
    pub(crate) use super::ipv6::field as ipv6;
    pub(crate) use super::tcp::field as tcp;
    pub(crate) use super::udp::field as udp;
}

/// The most bytes an IPv4 header (IHL 15) or a TCP header (data offset 15) can have.
pub(crate) const MAX_HEADER_LEN: usize = 60;

#[cfg(feature = "arbitrary")]
mod arbitrary_impls;
#[cfg(test)]
mod golden;

pub use ethernet::{ETHERNET_HEADER_LEN, ETHERNET_VLAN_HEADER_LEN, EtherType, EthernetFrame};
pub use ipv4::{IPV4_MIN_HEADER_LEN, Ipv4Packet};
pub use ipv6::{ExtWalk, IPV6_HEADER_LEN, Ipv6FragmentInfo, Ipv6Packet, MAX_EXTENSION_HEADERS};
pub use tcp::{TCP_MIN_HEADER_LEN, TcpFlags, TcpPacket};
pub use udp::{UDP_HEADER_LEN, UdpPacket};

use core::fmt;

/// An IP protocol number (IPv4 `protocol`, IPv6 `next_header`). Every value is representable, so an
/// unknown protocol is carried, not rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    /// IPv6 hop-by-hop options header.
    pub const HOP_BY_HOP: Self = Self(0);
    /// ICMP (IPv4).
    pub const ICMP: Self = Self(1);
    /// TCP.
    pub const TCP: Self = Self(6);
    /// UDP.
    pub const UDP: Self = Self(17);
    /// IPv6 routing header.
    pub const ROUTING: Self = Self(43);
    /// IPv6 fragment header.
    pub const FRAGMENT: Self = Self(44);
    /// ICMPv6.
    pub const ICMPV6: Self = Self(58);
    /// IPv6 "no next header".
    pub const NO_NEXT_HEADER: Self = Self(59);
    /// IPv6 destination options header.
    pub const DESTINATION_OPTIONS: Self = Self(60);
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        Self(v)
    }
}

impl From<IpProtocol> for u8 {
    fn from(p: IpProtocol) -> Self {
        p.0
    }
}

/// The protocol layer an [`Error`] refers to; part of the error vocabulary, so it grows with
/// the headers parsed (a new tunnel or extension header), like the error enums.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Layer {
    /// Ethernet II header (14 bytes).
    Ethernet,
    /// The 802.1Q tag after the Ethernet addresses (4 more bytes).
    Vlan,
    /// The IP layer before its version is known (a TUN packet's first byte).
    Ip,
    /// IPv4 header, options, or the datagram length `total_len` claims.
    Ipv4,
    /// IPv6 fixed header or the payload length `payload_len` claims.
    Ipv6,
    /// An IPv6 extension header.
    Ipv6Ext,
    /// TCP header and options.
    Tcp,
    /// UDP header or the datagram length `length` claims.
    Udp,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Ethernet => "Ethernet",
            Layer::Vlan => "802.1Q",
            Layer::Ip => "IP",
            Layer::Ipv4 => "IPv4",
            Layer::Ipv6 => "IPv6",
            Layer::Ipv6Ext => "IPv6 extension header",
            Layer::Tcp => "TCP",
            Layer::Udp => "UDP",
        })
    }
}

/// Why a buffer is not a well-formed header (or stack of headers). Each variant names the layer,
/// the field and the bound it broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The buffer holds `have` bytes from the start of `layer`, but `need` are required (by the fixed
    /// header, by a header-length field, or by a length field such as IPv4 `total_len`).
    Truncated {
        /// The layer being read.
        layer: Layer,
        /// Bytes required, counted from the start of that layer.
        need: usize,
        /// Bytes available, counted from the same place.
        have: usize,
    },
    /// The IP version nibble is not 4 or 6, or disagrees with the Ethernet type.
    BadVersion(u8),
    /// IPv4 IHL below 5 (the header is at least 20 bytes).
    BadIhl(u8),
    /// IPv4 `total_len` is smaller than the header length given by IHL.
    BadTotalLen {
        /// The `total_len` field.
        total_len: u16,
        /// IHL * 4.
        header_len: usize,
    },
    /// TCP data offset below 5 (the header is at least 20 bytes).
    BadDataOffset(u8),
    /// UDP `length` below 8 (the header alone is 8 bytes).
    BadUdpLength(u16),
    /// The Ethernet type (after at most one 802.1Q tag) is neither IPv4 nor IPv6; a second tag
    /// (QinQ) lands here too.
    UnsupportedEtherType(u16),
    /// The IPv6 extension-header chain is longer than [`MAX_EXTENSION_HEADERS`].
    ExtensionChainTooLong,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { layer, need, have } => {
                write!(f, "{layer}: truncated, need {need} bytes, have {have}")
            }
            Error::BadVersion(v) => write!(f, "IP: bad version {v}, expected 4 or 6"),
            Error::BadIhl(ihl) => write!(f, "IPv4: bad IHL {ihl}, expected 5..=15"),
            Error::BadTotalLen {
                total_len,
                header_len,
            } => write!(
                f,
                "IPv4: total_len {total_len} is below the header length {header_len}"
            ),
            Error::BadDataOffset(d) => write!(f, "TCP: bad data offset {d}, expected 5..=15"),
            Error::BadUdpLength(l) => write!(f, "UDP: bad length {l}, expected >= 8"),
            Error::UnsupportedEtherType(t) => write!(
                f,
                "Ethernet: unsupported ethertype {t:#06x}, expected IPv4 or IPv6 after at most one 802.1Q tag"
            ),
            Error::ExtensionChainTooLong => write!(
                f,
                "IPv6: more than {MAX_EXTENSION_HEADERS} extension headers"
            ),
        }
    }
}

impl core::error::Error for Error {}

/// Where a packet handed to [`parse_headers`] starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Link {
    /// A TUN device: the packet starts at the IP header; the version comes from its first nibble.
    Tun,
    /// A TAP device: the packet starts at the Ethernet header.
    Tap,
}

/// The IP version of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// Where the headers of a packet are, as found by [`parse_headers`]. All offsets count from the
/// start of the packet and are within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Headers {
    /// Start of the IP header: 0 (TUN), 14 (Ethernet) or 18 (Ethernet + 802.1Q).
    pub l3_offset: usize,
    /// IP version.
    pub ip: IpVersion,
    /// IP header length: IPv4 with options (IHL * 4), IPv6 with all extension headers walked.
    pub l3_len: usize,
    /// Upper-layer protocol: IPv4 `protocol`, or the next header that ended the IPv6 walk.
    pub protocol: IpProtocol,
    /// Start of the upper-layer header: `l3_offset + l3_len`.
    pub l4_offset: usize,
    /// The packet is (part of) a fragmented datagram: IPv4 MF set or fragment offset non-zero, or an
    /// IPv6 fragment header present (even an atomic one).
    pub fragment: bool,
    /// The 802.1Q tag control information (PCP, DEI, VID; VID = `tci & 0x0fff`), if tagged.
    pub vlan: Option<u16>,
}

/// Locate the Ethernet, IP and upper-layer headers of `pkt`.
///
/// Validates what the offsets rely on: the Ethernet header (and its tag), the IP version (against
/// the ethertype on TAP), the IPv4 IHL and `total_len`, the IPv6 `payload_len` and the extension
/// chain (bounded by [`MAX_EXTENSION_HEADERS`]). It does not look at the upper-layer header: build a
/// [`TcpPacket`] or [`UdpPacket`] over `pkt[l4_offset..]` for that.
pub fn parse_headers(pkt: &[u8], link: Link) -> Result<Headers, Error> {
    parse_headers_within(pkt, pkt.len(), link)
}

/// [`parse_headers`] over `head`, the first bytes of a packet of `len` bytes (e.g. its headers
/// gathered from scatter-gather pieces): every header must lie within `head`, the IP length
/// fields are judged against `len`. With `head` the whole packet, the same parse. Every
/// [`Error::Truncated`] it returns is about `head` when `head` is shorter than `len`.
pub(crate) fn parse_headers_within(pkt: &[u8], len: usize, link: Link) -> Result<Headers, Error> {
    let (l3_offset, expected, vlan) = match link {
        Link::Tun => (0, None, None),
        Link::Tap => {
            let eth = EthernetFrame::new_checked(pkt)?;
            let version = match eth.ethertype() {
                EtherType::IPV4 => IpVersion::V4,
                EtherType::IPV6 => IpVersion::V6,
                EtherType(other) => return Err(Error::UnsupportedEtherType(other)),
            };
            (eth.header_len(), Some(version), eth.vlan_tci())
        }
    };
    let ip = pkt.get(l3_offset..).unwrap_or(&[]);
    let ip_len = len.saturating_sub(l3_offset);
    let nibble = match ip.first() {
        Some(b) => b >> 4,
        None => {
            return Err(Error::Truncated {
                layer: Layer::Ip,
                need: 1,
                have: 0,
            });
        }
    };
    let version = match (nibble, expected) {
        (4, None | Some(IpVersion::V4)) => IpVersion::V4,
        (6, None | Some(IpVersion::V6)) => IpVersion::V6,
        (v, _) => return Err(Error::BadVersion(v)),
    };
    let (l3_len, protocol, fragment) = match version {
        IpVersion::V4 => {
            let p = Ipv4Packet::new_unchecked(ip);
            p.check_len_within(ip_len)?;
            (p.header_len(), p.protocol(), p.is_fragment())
        }
        IpVersion::V6 => {
            let p = Ipv6Packet::new_unchecked(ip);
            p.check_len_within(ip_len)?;
            let walk = p.walk_extensions()?;
            (walk.header_len, walk.protocol, walk.fragment.is_some())
        }
    };
    Ok(Headers {
        l3_offset,
        ip: version,
        l3_len,
        protocol,
        l4_offset: l3_offset + l3_len,
        fragment,
        vlan,
    })
}

/// `Ok` if `have` bytes hold the `need` bytes `layer` requires, else [`Error::Truncated`].
fn ensure_len(layer: Layer, need: usize, have: usize) -> Result<(), Error> {
    if have < need {
        return Err(Error::Truncated { layer, need, have });
    }
    Ok(())
}

/// Big-endian u16 at `at`, or 0 if the buffer is too short (only possible without `check_len`).
/// The one byte accessor of core: the views here, and `gso`, which patches headers in place.
/// Inline: `gso`'s per-segment loop calls it (and [`put16`]) and must stay branch-light.
#[inline]
pub(crate) fn get16(buf: &[u8], at: usize) -> u16 {
    buf.get(at..)
        .and_then(<[u8]>::first_chunk::<2>)
        .map_or(0, |b| u16::from_be_bytes(*b))
}

/// Big-endian u32 at `at`, or 0 if the buffer is too short (only possible without `check_len`).
#[inline]
pub(crate) fn get32(buf: &[u8], at: usize) -> u32 {
    buf.get(at..)
        .and_then(<[u8]>::first_chunk::<4>)
        .map_or(0, |b| u32::from_be_bytes(*b))
}

/// Writes `v` big-endian at `at`; does nothing if the buffer is too short, so no panic path.
#[inline]
pub(crate) fn put16(buf: &mut [u8], at: usize, v: u16) {
    if let Some(b) = buf.get_mut(at..).and_then(<[u8]>::first_chunk_mut::<2>) {
        *b = v.to_be_bytes();
    }
}

/// Byte at `at`, or 0 if the buffer is too short (only possible without `check_len`).
fn get8(buf: &[u8], at: usize) -> u8 {
    buf.get(at).copied().unwrap_or(0)
}

/// `N` bytes at `at`, or zeros if the buffer is too short (only possible without `check_len`).
fn get_array<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    buf.get(at..)
        .and_then(<[u8]>::first_chunk::<N>)
        .copied()
        .unwrap_or([0; N])
}

/// Write `bytes` at `at`; does nothing if the buffer is too short (only possible without
/// `check_len`), so setters cannot panic either.
fn put_bytes(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..).and_then(|b| b.get_mut(..bytes.len())) {
        dst.copy_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::golden::{
        ETH_VLAN_IPV6_TCP, IPV4_OPTS_UDP, IPV4_TCP_SYN, IPV6_EXT_FRAG_UDP, for_each_variant,
    };
    use super::*;
    use std::string::ToString;

    #[test]
    fn tun_ipv4_tcp() {
        let h = parse_headers(&IPV4_TCP_SYN, Link::Tun).unwrap();
        assert_eq!(
            h,
            Headers {
                l3_offset: 0,
                ip: IpVersion::V4,
                l3_len: 20,
                protocol: IpProtocol::TCP,
                l4_offset: 20,
                fragment: false,
                vlan: None,
            }
        );
        let tcp = TcpPacket::new_checked(&IPV4_TCP_SYN[h.l4_offset..]).unwrap();
        assert_eq!(tcp.header_len(), 40);
    }

    #[test]
    fn tun_ipv4_options_udp() {
        let h = parse_headers(&IPV4_OPTS_UDP, Link::Tun).unwrap();
        assert_eq!((h.ip, h.l3_len, h.l4_offset), (IpVersion::V4, 24, 24));
        assert_eq!(
            (h.protocol, h.fragment, h.vlan),
            (IpProtocol::UDP, false, None)
        );
    }

    #[test]
    fn tun_ipv4_fragments() {
        for (df, mf, off, frag) in [
            (true, false, 0, false),
            (false, true, 0, true),
            (false, false, 1, true),
        ] {
            let mut b = IPV4_OPTS_UDP;
            Ipv4Packet::new_unchecked(&mut b[..]).set_flags_frag(df, mf, off);
            assert_eq!(parse_headers(&b, Link::Tun).unwrap().fragment, frag);
        }
    }

    #[test]
    fn tun_ipv6_extensions() {
        let h = parse_headers(&IPV6_EXT_FRAG_UDP, Link::Tun).unwrap();
        assert_eq!(
            h,
            Headers {
                l3_offset: 0,
                ip: IpVersion::V6,
                l3_len: 72,
                protocol: IpProtocol::UDP,
                l4_offset: 72,
                fragment: true,
                vlan: None,
            }
        );
    }

    #[test]
    fn tap_vlan_ipv6_tcp() {
        let h = parse_headers(&ETH_VLAN_IPV6_TCP, Link::Tap).unwrap();
        assert_eq!(
            h,
            Headers {
                l3_offset: 18,
                ip: IpVersion::V6,
                l3_len: 40,
                protocol: IpProtocol::TCP,
                l4_offset: 58,
                fragment: false,
                vlan: Some(0xa064),
            }
        );
    }

    #[test]
    fn tap_untagged_ipv4() {
        let mut b = [0u8; 14 + 60];
        b[12..14].copy_from_slice(&EtherType::IPV4.0.to_be_bytes());
        b[14..].copy_from_slice(&IPV4_TCP_SYN);
        let h = parse_headers(&b, Link::Tap).unwrap();
        assert_eq!((h.l3_offset, h.l4_offset, h.vlan), (14, 34, None));
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_headers(&[], Link::Tun),
            Err(Error::Truncated {
                layer: Layer::Ip,
                need: 1,
                have: 0
            })
        );
        // A complete Ethernet header and nothing after it.
        assert_eq!(
            parse_headers(&ETH_VLAN_IPV6_TCP[..18], Link::Tap),
            Err(Error::Truncated {
                layer: Layer::Ip,
                need: 1,
                have: 0
            })
        );
        assert_eq!(
            parse_headers(&ETH_VLAN_IPV6_TCP[..10], Link::Tap),
            Err(Error::Truncated {
                layer: Layer::Ethernet,
                need: 14,
                have: 10
            })
        );
        for v in [0u8, 5, 7, 15] {
            let mut b = IPV4_TCP_SYN;
            b[0] = (v << 4) | 5;
            assert_eq!(parse_headers(&b, Link::Tun), Err(Error::BadVersion(v)));
        }
        // The version must agree with the ethertype.
        let mut b = ETH_VLAN_IPV6_TCP;
        b[16..18].copy_from_slice(&EtherType::IPV4.0.to_be_bytes());
        assert_eq!(parse_headers(&b, Link::Tap), Err(Error::BadVersion(6)));
        // ARP, and a second VLAN tag.
        for t in [0x0806u16, 0x8100, 0x88a8] {
            let mut b = ETH_VLAN_IPV6_TCP;
            b[16..18].copy_from_slice(&t.to_be_bytes());
            assert_eq!(
                parse_headers(&b, Link::Tap),
                Err(Error::UnsupportedEtherType(t))
            );
        }
        // Errors from the IP layer pass through.
        let mut b = IPV4_TCP_SYN;
        b[0] = 0x44;
        assert_eq!(parse_headers(&b, Link::Tun), Err(Error::BadIhl(4)));
        assert_eq!(
            parse_headers(&IPV6_EXT_FRAG_UDP[..50], Link::Tun),
            Err(Error::Truncated {
                layer: Layer::Ipv6,
                need: 96,
                have: 50
            })
        );
    }

    #[test]
    fn error_messages_name_layer_field_and_bound() {
        let cases = [
            (
                Error::Truncated {
                    layer: Layer::Vlan,
                    need: 18,
                    have: 15,
                },
                "802.1Q: truncated, need 18 bytes, have 15",
            ),
            (Error::BadVersion(5), "IP: bad version 5, expected 4 or 6"),
            (Error::BadIhl(3), "IPv4: bad IHL 3, expected 5..=15"),
            (
                Error::BadTotalLen {
                    total_len: 19,
                    header_len: 20,
                },
                "IPv4: total_len 19 is below the header length 20",
            ),
            (
                Error::BadDataOffset(4),
                "TCP: bad data offset 4, expected 5..=15",
            ),
            (Error::BadUdpLength(7), "UDP: bad length 7, expected >= 8"),
            (
                Error::UnsupportedEtherType(0x0806),
                "Ethernet: unsupported ethertype 0x0806, expected IPv4 or IPv6 after at most one 802.1Q tag",
            ),
            (
                Error::ExtensionChainTooLong,
                "IPv6: more than 8 extension headers",
            ),
        ];
        for (e, msg) in cases {
            assert_eq!(e.to_string(), msg);
            let _: &dyn core::error::Error = &e;
        }
        for l in [
            Layer::Ethernet,
            Layer::Ip,
            Layer::Ipv4,
            Layer::Ipv6,
            Layer::Ipv6Ext,
            Layer::Tcp,
            Layer::Udp,
        ] {
            assert!(!l.to_string().is_empty());
        }
    }

    // Every truncation of every golden variant: 20-50 s under Miri; the `wire` fuzz target covers it.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn never_panics_and_offsets_in_bounds() {
        let mut ok = 0;
        for_each_variant(|b, link| {
            for l in [link, Link::Tun, Link::Tap] {
                if let Ok(h) = parse_headers(b, l) {
                    ok += 1;
                    assert_eq!(h.l4_offset, h.l3_offset + h.l3_len);
                    assert!(h.l4_offset <= b.len());
                    assert!(h.l3_len >= 20);
                    assert_eq!(h.vlan.is_some(), h.l3_offset == 18);
                }
            }
        });
        assert!(ok > 0);
    }

    #[test]
    fn read_helpers_short_buffers() {
        assert_eq!(get16(&[1], 0), 0);
        assert_eq!(get16(&[1, 2], 0), 0x0102);
        assert_eq!(get32(&[1, 2, 3], 0), 0);
        assert_eq!(get8(&[], 5), 0);
        assert_eq!(get_array::<2>(&[9], 0), [0, 0]);
        let mut b = [0u8; 3];
        put_bytes(&mut b, 2, &[7, 7]);
        assert_eq!(b, [0, 0, 0]);
        put_bytes(&mut b, 1, &[7, 7]);
        assert_eq!(b, [0, 7, 7]);
        put_bytes(&mut b, usize::MAX, &[7]);
        assert_eq!(b, [0, 7, 7]);
        put16(&mut b, 2, 0xffff);
        assert_eq!(b, [0, 7, 7]);
        put16(&mut b, 0, 0x0102);
        assert_eq!(b, [1, 2, 7]);
    }
}
