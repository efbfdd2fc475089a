//! IPv6 fixed header (RFC 8200) and a bounded walk of its extension-header chain: GSO copies the
//! extension headers into every segment, GRO compares them and refuses fragments.

use core::ops::Range;

use super::{Error, IpProtocol, Layer, ensure_len, get_array, get8, get16, get32, put_bytes};

/// Field offsets in the fixed 40-byte header.
pub(crate) mod field {
    use core::ops::Range;
    /// Version (4 bits), traffic class (8), flow label (20).
    pub(crate) const VER_TC_FLOW: usize = 0;
    /// Length of everything after the fixed header, extension headers included.
    pub(crate) const PAYLOAD_LEN: usize = 4;
    pub(crate) const NEXT_HEADER: usize = 6;
    pub(crate) const HOP_LIMIT: usize = 7;
    pub(crate) const SRC: Range<usize> = 8..24;
    pub(crate) const DST: Range<usize> = 24..40;
}

/// Field offsets inside an extension header, from its first byte.
pub(crate) mod ext_field {
    /// Every extension header starts with the next header's protocol number.
    pub(crate) const NEXT_HEADER: usize = 0;
    /// Hop-by-hop, routing, destination options: length in 8-byte units, not counting the first 8.
    pub(crate) const HDR_EXT_LEN: usize = 1;
    /// Fragment header: 13-bit offset (8-byte units), two reserved bits, M bit.
    pub(crate) const FRAG_WORD: usize = 2;
    /// Fragment header: identification.
    pub(crate) const FRAG_IDENT: usize = 4;
    /// The fragment header's fixed length.
    pub(crate) const FRAG_LEN: usize = 8;
}

/// Length of the IPv6 fixed header.
pub const IPV6_HEADER_LEN: usize = 40;

/// The most extension headers [`Ipv6Packet::walk_extensions`] follows; one more is
/// [`Error::ExtensionChainTooLong`]. RFC 8200's recommended order has at most 6 kinds (destination
/// options twice), so 8 leaves room while bounding the work per packet.
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// A fragment header found by the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6FragmentInfo {
    /// Where the fragment header starts, counted from the start of the IPv6 header.
    pub header_offset: usize,
    /// Fragment offset in 8-byte units (multiply by 8 for bytes).
    pub frag_offset: u16,
    /// The M ("more fragments") bit.
    pub more_frags: bool,
    /// Identification.
    pub ident: u32,
}

/// The result of walking an IPv6 extension-header chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExtWalk {
    /// The next header that ended the walk: the upper-layer protocol (TCP, UDP, ...), or any number
    /// the walk does not know (AH, ESP, "no next header", ...), reported rather than rejected.
    pub protocol: IpProtocol,
    /// Fixed header plus every extension header walked, in bytes: where `protocol`'s header starts.
    pub header_len: usize,
    /// The fragment header, if one was seen. After a fragment header with a non-zero offset the
    /// walk stops: what follows is the middle of a datagram, not a header.
    pub fragment: Option<Ipv6FragmentInfo>,
}

view!(
    /// A view over an IPv6 packet (fixed header, then extension headers and payload).
    Ipv6Packet,
    emit: "a stale `payload_len`, which this would judge the buffer by (use \
           `new_unchecked`, then write the fields).",
    fixed: (Layer::Ipv6, IPV6_HEADER_LEN),
);

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Checks that the buffer holds the fixed header and the `payload_len` bytes after it (more is
    /// allowed: Ethernet padding). Extension headers are checked by
    /// [`walk_extensions`](Self::walk_extensions). Jumbograms (`payload_len` 0 with a jumbo
    /// option) are not supported: their payload reads as empty. The version nibble is not checked
    /// here (see `parse_headers`).
    pub fn check_len(&self) -> Result<(), Error> {
        self.check_len_within(self.buffer.as_ref().len())
    }

    /// [`check_len`](Self::check_len) for a buffer that holds the first bytes of a packet of
    /// `len` bytes (from this header on): the fixed header must lie within the buffer, the
    /// `payload_len` bytes after it within `len`. With `len` the buffer's length, the same check.
    pub(crate) fn check_len_within(&self, len: usize) -> Result<(), Error> {
        self.fixed_header()?;
        let need = self.total_len();
        ensure_len(Layer::Ipv6, need, len)?;
        Ok(())
    }

    getters! {
        /// Payload length: everything after the fixed header, extension headers included.
        payload_len -> u16 = get16(field::PAYLOAD_LEN);
        /// Hop limit.
        hop_limit -> u8 = get8(field::HOP_LIMIT);
        /// Source address.
        src_addr -> [u8; 16] = get_array(field::SRC.start);
        /// Destination address.
        dst_addr -> [u8; 16] = get_array(field::DST.start);
    }

    fn first_word(&self) -> u32 {
        get32(self.buffer.as_ref(), field::VER_TC_FLOW)
    }

    /// The version nibble (6 for a real IPv6 packet).
    pub fn version(&self) -> u8 {
        (self.first_word() >> 28) as u8
    }

    /// Traffic class: DSCP (high 6 bits) and ECN (low 2 bits).
    pub fn traffic_class(&self) -> u8 {
        (self.first_word() >> 20) as u8
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.first_word() & 0x000f_ffff
    }

    /// Fixed header plus `payload_len`: the datagram's length.
    pub fn total_len(&self) -> usize {
        IPV6_HEADER_LEN + usize::from(self.payload_len())
    }

    /// The fixed header's next header: the first extension header or the upper-layer protocol.
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(get8(self.buffer.as_ref(), field::NEXT_HEADER))
    }

    /// The payload: everything after the fixed header up to `payload_len`.
    fn payload_range(&self) -> Range<usize> {
        IPV6_HEADER_LEN..self.total_len()
    }

    /// Walks the extension headers: hop-by-hop (0), routing (43) and destination options (60), each
    /// `(hdr_ext_len + 1) * 8` bytes, and fragment (44), 8 bytes. Any other next header ends the
    /// walk and is reported as the upper-layer protocol. The walk stays within `payload_len` (a
    /// header running past it is [`Error::Truncated`] with layer `Ipv6Ext`, counted from the start
    /// of the IPv6 header) and follows at most [`MAX_EXTENSION_HEADERS`] headers, so it always
    /// terminates. Where the hop-by-hop header appears is not checked (RFC 8200 wants it first).
    pub fn walk_extensions(&self) -> Result<ExtWalk, Error> {
        let buf = self.buffer.as_ref();
        let data = buf.get(..self.total_len()).unwrap_or(buf);
        let have = data.len();
        let truncated = |need| Error::Truncated {
            layer: Layer::Ipv6Ext,
            need,
            have,
        };
        let mut walk = ExtWalk {
            protocol: self.next_header(),
            header_len: IPV6_HEADER_LEN,
            fragment: None,
        };
        for _ in 0..MAX_EXTENSION_HEADERS {
            let offset = walk.header_len;
            let ext = data.get(offset..).unwrap_or(&[]);
            match walk.protocol {
                IpProtocol::HOP_BY_HOP | IpProtocol::ROUTING | IpProtocol::DESTINATION_OPTIONS => {
                    if ext.len() < 2 {
                        return Err(truncated(offset + 2));
                    }
                    let len = (usize::from(get8(ext, ext_field::HDR_EXT_LEN)) + 1) * 8;
                    if ext.len() < len {
                        return Err(truncated(offset + len));
                    }
                    walk.protocol = IpProtocol(get8(ext, ext_field::NEXT_HEADER));
                    walk.header_len += len;
                }
                IpProtocol::FRAGMENT => {
                    if ext.len() < ext_field::FRAG_LEN {
                        return Err(truncated(offset + ext_field::FRAG_LEN));
                    }
                    let word = get16(ext, ext_field::FRAG_WORD);
                    let info = Ipv6FragmentInfo {
                        header_offset: offset,
                        frag_offset: word >> 3,
                        more_frags: word & 1 != 0,
                        ident: get32(ext, ext_field::FRAG_IDENT),
                    };
                    walk.fragment = Some(info);
                    walk.protocol = IpProtocol(get8(ext, ext_field::NEXT_HEADER));
                    walk.header_len += ext_field::FRAG_LEN;
                    if info.frag_offset != 0 {
                        return Ok(walk);
                    }
                }
                _ => return Ok(walk),
            }
        }
        if is_extension(walk.protocol) {
            return Err(Error::ExtensionChainTooLong);
        }
        Ok(walk)
    }
}

/// True for the extension headers the walk follows.
fn is_extension(p: IpProtocol) -> bool {
    matches!(
        p,
        IpProtocol::HOP_BY_HOP
            | IpProtocol::ROUTING
            | IpProtocol::DESTINATION_OPTIONS
            | IpProtocol::FRAGMENT
    )
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    setters! {
        /// Sets the payload length (GSO: segment length - 40; GRO: of the merged datagram).
        set_payload_len(u16) = field::PAYLOAD_LEN;
    }
}

#[cfg(test)]
mod tests {
    use super::super::golden::{
        ETH_VLAN_IPV6_TCP, IPV6_EXT_FRAG_UDP, for_each_variant, pseudo_v6, verifies,
    };
    use super::*;

    const SRC: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const DST: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

    /// A packet with `n` destination-options headers (8 bytes each) and then UDP's number.
    fn chain(n: usize, buf: &mut [u8; 256]) -> &[u8] {
        let len = IPV6_HEADER_LEN + 8 * n;
        buf[..IPV6_HEADER_LEN].copy_from_slice(&IPV6_EXT_FRAG_UDP[..IPV6_HEADER_LEN]);
        buf[4..6].copy_from_slice(&((8 * n) as u16).to_be_bytes());
        buf[6] = if n == 0 { 17 } else { 60 };
        for i in 0..n {
            let at = IPV6_HEADER_LEN + 8 * i;
            buf[at..at + 8].copy_from_slice(&[
                if i + 1 == n { 17 } else { 60 },
                0,
                1,
                4,
                0,
                0,
                0,
                0,
            ]);
        }
        &buf[..len]
    }

    #[test]
    fn parse_fixed_header() {
        let p = Ipv6Packet::new_checked(&IPV6_EXT_FRAG_UDP[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0x2e);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 56);
        assert_eq!(p.total_len(), 96);
        assert_eq!(p.next_header(), IpProtocol::HOP_BY_HOP);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), SRC);
        assert_eq!(p.dst_addr(), DST);
        assert_eq!(p.payload(), &IPV6_EXT_FRAG_UDP[40..]);
    }

    #[test]
    fn walk_hbh_destopts_fragment() {
        let p = Ipv6Packet::new_checked(&IPV6_EXT_FRAG_UDP[..]).unwrap();
        let w = p.walk_extensions().unwrap();
        assert_eq!(
            w,
            ExtWalk {
                protocol: IpProtocol::UDP,
                header_len: 40 + 8 + 16 + 8,
                fragment: Some(Ipv6FragmentInfo {
                    header_offset: 64,
                    frag_offset: 0,
                    more_frags: true,
                    ident: 0xdead_beef,
                }),
            }
        );
        // The UDP header found by the walk verifies against the pseudo-header.
        let udp = &IPV6_EXT_FRAG_UDP[w.header_len..];
        assert!(verifies(udp, pseudo_v6(SRC, DST, 17, udp.len())));
    }

    #[test]
    fn walk_no_extensions() {
        let p = Ipv6Packet::new_checked(&ETH_VLAN_IPV6_TCP[18..]).unwrap();
        assert_eq!(
            p.walk_extensions().unwrap(),
            ExtWalk {
                protocol: IpProtocol::TCP,
                header_len: 40,
                fragment: None
            }
        );
        assert_eq!(p.hop_limit(), 255);
        assert_eq!(p.flow_label(), 0);
    }

    #[test]
    fn walk_routing_header() {
        // Routing header with hdr_ext_len 2: 24 bytes, then TCP's number.
        let mut b = [0u8; 64];
        b[..40].copy_from_slice(&IPV6_EXT_FRAG_UDP[..40]);
        b[4..6].copy_from_slice(&24u16.to_be_bytes());
        b[6] = 43;
        b[40] = 6;
        b[41] = 2;
        let w = Ipv6Packet::new_checked(&b[..])
            .unwrap()
            .walk_extensions()
            .unwrap();
        assert_eq!(
            (w.protocol, w.header_len, w.fragment),
            (IpProtocol::TCP, 64, None)
        );
    }

    #[test]
    fn walk_stops_after_non_first_fragment() {
        // Offset 5, then "destination options" that is really the middle of a datagram.
        let mut b = IPV6_EXT_FRAG_UDP;
        b[64] = 60; // the fragment header's next header
        b[66..68].copy_from_slice(&(5u16 << 3).to_be_bytes());
        let w = Ipv6Packet::new_checked(&b[..])
            .unwrap()
            .walk_extensions()
            .unwrap();
        assert_eq!(w.protocol, IpProtocol::DESTINATION_OPTIONS);
        assert_eq!(w.header_len, 72);
        let f = w.fragment.unwrap();
        assert_eq!((f.frag_offset, f.more_frags), (5, false));
    }

    #[test]
    fn walk_unknown_next_header_is_upper_layer() {
        for proto in [
            IpProtocol::NO_NEXT_HEADER,
            IpProtocol(50),
            IpProtocol(51),
            IpProtocol(255),
        ] {
            let mut b = IPV6_EXT_FRAG_UDP;
            b[64] = proto.0; // the fragment header's next header
            let w = Ipv6Packet::new_checked(&b[..])
                .unwrap()
                .walk_extensions()
                .unwrap();
            assert_eq!((w.protocol, w.header_len), (proto, 72));
        }
    }

    #[test]
    fn walk_chain_bound() {
        let mut buf = [0u8; 256];
        for n in 0..=MAX_EXTENSION_HEADERS {
            let w = Ipv6Packet::new_checked(chain(n, &mut buf))
                .unwrap()
                .walk_extensions()
                .unwrap();
            assert_eq!((w.protocol, w.header_len), (IpProtocol::UDP, 40 + 8 * n));
        }
        let p = Ipv6Packet::new_checked(chain(MAX_EXTENSION_HEADERS + 1, &mut buf)).unwrap();
        assert_eq!(p.walk_extensions(), Err(Error::ExtensionChainTooLong));
    }

    #[test]
    fn walk_truncated_by_payload_len() {
        let t = |need, have| {
            Err(Error::Truncated {
                layer: Layer::Ipv6Ext,
                need,
                have,
            })
        };
        // payload_len cuts the chain at each point; the buffer itself is complete.
        let mut b = IPV6_EXT_FRAG_UDP;
        for (pl, need) in [
            (0, 42),
            (1, 42),
            (2, 48),
            (7, 48),
            (8, 50),
            (9, 50),
            (10, 64),
            (24, 72),
            (31, 72),
        ] {
            b[4..6].copy_from_slice(&(pl as u16).to_be_bytes());
            let p = Ipv6Packet::new_checked(&b[..]).unwrap();
            assert_eq!(p.walk_extensions(), t(need, 40 + pl), "payload_len {pl}");
        }
        // Exactly the headers, no upper-layer bytes: the walk succeeds.
        b[4..6].copy_from_slice(&32u16.to_be_bytes());
        assert_eq!(
            Ipv6Packet::new_checked(&b[..])
                .unwrap()
                .walk_extensions()
                .unwrap()
                .header_len,
            72
        );
    }

    #[test]
    fn errors() {
        let t = |need, have| {
            Err(Error::Truncated {
                layer: Layer::Ipv6,
                need,
                have,
            })
        };
        assert_eq!(Ipv6Packet::new_checked(&IPV6_EXT_FRAG_UDP[..39]), t(40, 39));
        assert_eq!(Ipv6Packet::new_checked(&IPV6_EXT_FRAG_UDP[..40]), t(96, 40));
        assert_eq!(Ipv6Packet::new_checked(&IPV6_EXT_FRAG_UDP[..95]), t(96, 95));
    }

    #[test]
    fn set_payload_len_rewrites_the_field() {
        let mut b = IPV6_EXT_FRAG_UDP;
        let mut p = Ipv6Packet::new_checked(&mut b[..]).unwrap();
        p.set_payload_len(40);
        assert_eq!(p.payload_len(), 40);
        assert_eq!(p.payload_mut().len(), 40);
        assert_eq!(b[4..6], [0, 40]);
    }

    // Every truncation of every golden variant: 20-50 s under Miri; the `wire` fuzz target covers it.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn never_panics() {
        let mut walked = 0;
        for_each_variant(|b, _| {
            let u = Ipv6Packet::new_unchecked(b);
            let _ = (
                u.version(),
                u.traffic_class(),
                u.flow_label(),
                u.hop_limit(),
            );
            let _ = (
                u.src_addr(),
                u.dst_addr(),
                u.next_header(),
                u.payload().len(),
            );
            let unchecked_walk = u.walk_extensions();
            if let Ok(p) = Ipv6Packet::new_checked(b) {
                assert_eq!(p.payload().len(), usize::from(p.payload_len()));
                let walk = p.walk_extensions();
                assert_eq!(walk, unchecked_walk);
                if let Ok(w) = walk {
                    walked += 1;
                    assert!(w.header_len >= 40 && w.header_len <= p.total_len());
                    if let Some(f) = w.fragment {
                        assert!(f.header_offset + 8 <= w.header_len);
                    }
                }
            }
            let mut c = [0u8; 128];
            let mut p = Ipv6Packet::new_unchecked(&mut c[..b.len()]);
            p.set_payload_len(0xffff);
            assert!(p.payload_mut().len() <= b.len());
        });
        assert!(walked > 0);
    }
}
