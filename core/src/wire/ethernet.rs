//! Ethernet II, with at most one 802.1Q tag: what a TAP device carries in front of the IP header.

use core::ops::Range;

use super::{Error, Layer, ensure_len, get_array, get16, put_bytes};

/// An Ethernet type. Every value is representable, so an unknown type is carried, not rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct EtherType(pub u16);

impl EtherType {
    /// IPv4.
    pub const IPV4: Self = Self(0x0800);
    /// IPv6.
    pub const IPV6: Self = Self(0x86DD);
    /// An 802.1Q VLAN tag follows.
    pub const VLAN: Self = Self(0x8100);
}

/// Field offsets: Ethernet II, then the optional 802.1Q tag.
mod field {
    use core::ops::Range;
    pub(crate) const DST: Range<usize> = 0..6;
    pub(crate) const SRC: Range<usize> = 6..12;
    /// The outer type: the payload's, or [`super::EtherType::VLAN`].
    pub(crate) const ETHERTYPE: usize = 12;
    /// With a tag: tag control information (PCP 3 bits, DEI 1, VID 12).
    pub(crate) const TCI: usize = 14;
    /// With a tag: the payload's type.
    pub(crate) const INNER_ETHERTYPE: usize = 16;
}

/// Length of an untagged Ethernet II header.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Length of an Ethernet II header with one 802.1Q tag.
pub const ETHERNET_VLAN_HEADER_LEN: usize = 18;

view!(
    /// A view over an Ethernet II frame with at most one 802.1Q tag.
    EthernetFrame,
    emit: "a stale type field (use `new_unchecked`).",
    fixed: (Layer::Ethernet, ETHERNET_HEADER_LEN),
);

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Checks that the buffer holds the header, including the tag if the outer type announces one.
    /// A second tag (QinQ) is not parsed: [`ethertype`](Self::ethertype) then returns `VLAN`.
    pub fn check_len(&self) -> Result<(), Error> {
        let have = self.fixed_header()?;
        if self.outer_ethertype() == EtherType::VLAN && have < ETHERNET_VLAN_HEADER_LEN {
            return Err(Error::Truncated {
                layer: Layer::Vlan,
                need: ETHERNET_VLAN_HEADER_LEN,
                have,
            });
        }
        Ok(())
    }

    getters! {
        /// Destination MAC address.
        dst_addr -> [u8; 6] = get_array(field::DST.start);
        /// Source MAC address.
        src_addr -> [u8; 6] = get_array(field::SRC.start);
    }

    /// The type right after the addresses: the payload's, or `VLAN` if tagged.
    pub fn outer_ethertype(&self) -> EtherType {
        EtherType(get16(self.buffer.as_ref(), field::ETHERTYPE))
    }

    /// True if the frame carries an 802.1Q tag.
    pub fn is_tagged(&self) -> bool {
        self.outer_ethertype() == EtherType::VLAN
    }

    /// The tag control information (PCP, DEI, VID) if tagged.
    pub fn vlan_tci(&self) -> Option<u16> {
        self.is_tagged()
            .then(|| get16(self.buffer.as_ref(), field::TCI))
    }

    /// The 12-bit VLAN identifier if tagged.
    pub fn vlan_id(&self) -> Option<u16> {
        self.vlan_tci().map(|tci| tci & 0x0fff)
    }

    /// The payload's type, after the tag if there is one.
    pub fn ethertype(&self) -> EtherType {
        if self.is_tagged() {
            EtherType(get16(self.buffer.as_ref(), field::INNER_ETHERTYPE))
        } else {
            self.outer_ethertype()
        }
    }

    /// Header length: 14, or 18 with a tag.
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            ETHERNET_VLAN_HEADER_LEN
        } else {
            ETHERNET_HEADER_LEN
        }
    }

    /// The payload: everything after the header.
    fn payload_range(&self) -> Range<usize> {
        self.header_len()..self.buffer.as_ref().len()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC address.
    pub fn set_dst_addr(&mut self, addr: [u8; 6]) {
        put_bytes(self.buffer.as_mut(), field::DST.start, &addr);
    }

    /// Sets the source MAC address.
    pub fn set_src_addr(&mut self, addr: [u8; 6]) {
        put_bytes(self.buffer.as_mut(), field::SRC.start, &addr);
    }
}

#[cfg(test)]
mod tests {
    use super::super::golden::ETH_VLAN_IPV6_TCP;
    use super::*;

    #[test]
    fn parse_vlan_frame() {
        let f = EthernetFrame::new_checked(&ETH_VLAN_IPV6_TCP[..]).unwrap();
        assert_eq!(f.dst_addr(), [2, 0, 0, 0, 0, 2]);
        assert_eq!(f.src_addr(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(f.outer_ethertype(), EtherType::VLAN);
        assert!(f.is_tagged());
        assert_eq!(f.vlan_tci(), Some((5 << 13) | 100));
        assert_eq!(f.vlan_id(), Some(100));
        assert_eq!(f.ethertype(), EtherType::IPV6);
        assert_eq!(f.header_len(), 18);
        assert_eq!(f.payload(), &ETH_VLAN_IPV6_TCP[18..]);
        assert_eq!(f.payload().first(), Some(&0x60));
    }

    #[test]
    fn parse_untagged() {
        let mut b = [0u8; 20];
        b[12..14].copy_from_slice(&[0x08, 0x00]);
        b[14] = 0x45;
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        assert!(!f.is_tagged());
        assert_eq!(f.vlan_tci(), None);
        assert_eq!(f.vlan_id(), None);
        assert_eq!(f.ethertype(), EtherType::IPV4);
        assert_eq!(f.header_len(), 14);
        assert_eq!(f.payload().len(), 6);
        // 14 bytes untagged is a complete header with an empty payload.
        let f = EthernetFrame::new_checked(&b[..14]).unwrap();
        assert_eq!(f.payload(), &[] as &[u8]);
    }

    #[test]
    fn set_addrs() {
        let mut b = ETH_VLAN_IPV6_TCP;
        let mut f = EthernetFrame::new_checked(&mut b[..]).unwrap();
        f.set_dst_addr([0xaa; 6]);
        f.set_src_addr([0xbb; 6]);
        f.payload_mut()[0] = 0x61;
        assert_eq!(f.dst_addr(), [0xaa; 6]);
        assert_eq!(f.src_addr(), [0xbb; 6]);
        assert_eq!(
            b[..12],
            [
                0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb
            ]
        );
        assert_eq!(b[18], 0x61);
        assert_eq!(b[12..18], ETH_VLAN_IPV6_TCP[12..18]);
        assert_eq!(b[19..], ETH_VLAN_IPV6_TCP[19..]);
    }

    #[test]
    fn truncated() {
        assert_eq!(
            EthernetFrame::new_checked(&ETH_VLAN_IPV6_TCP[..13]),
            Err(Error::Truncated {
                layer: Layer::Ethernet,
                need: 14,
                have: 13
            })
        );
        for n in 14..18 {
            assert_eq!(
                EthernetFrame::new_checked(&ETH_VLAN_IPV6_TCP[..n]),
                Err(Error::Truncated {
                    layer: Layer::Vlan,
                    need: 18,
                    have: n
                })
            );
        }
        assert!(EthernetFrame::new_checked(&ETH_VLAN_IPV6_TCP[..18]).is_ok());
    }

    #[test]
    fn unchecked_never_panics() {
        for n in 0..=ETH_VLAN_IPV6_TCP.len() {
            let f = EthernetFrame::new_unchecked(&ETH_VLAN_IPV6_TCP[..n]);
            let _ = (f.dst_addr(), f.src_addr(), f.vlan_tci(), f.ethertype());
            assert!(f.payload().len() <= n);
            let mut b = [0u8; 83];
            let mut f = EthernetFrame::new_unchecked(&mut b[..n]);
            f.set_dst_addr([1; 6]);
            f.set_src_addr([1; 6]);
            assert!(f.payload_mut().len() <= n);
        }
    }
}
