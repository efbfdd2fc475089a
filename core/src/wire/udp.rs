//! UDP header (RFC 768): USO rewrites the length and checksum of every segment.

use core::ops::Range;

use super::{Error, Layer, ensure_len, get16, put_bytes};

/// Field offsets in the 8-byte header.
pub(crate) mod field {
    pub(crate) const SRC_PORT: usize = 0;
    pub(crate) const DST_PORT: usize = 2;
    /// Header plus payload.
    pub(crate) const LENGTH: usize = 4;
    pub(crate) const CHECKSUM: usize = 6;
}

/// Length of the UDP header.
pub const UDP_HEADER_LEN: usize = 8;

view!(
    /// A view over a UDP datagram (header and payload).
    UdpPacket,
    emit: "a stale `length` (use `new_unchecked`).",
    fixed: (Layer::Udp, UDP_HEADER_LEN),
);

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Checks every length an accessor relies on: the buffer holds the header, and
    /// `8 <= length <= buffer length`. The buffer may be longer; [`payload`](Self::payload) stops at
    /// `length`. (A zero `length`, as IPv6 jumbograms use, is rejected: not supported.)
    pub fn check_len(&self) -> Result<(), Error> {
        let have = self.fixed_header()?;
        let length = self.length();
        if usize::from(length) < UDP_HEADER_LEN {
            return Err(Error::BadUdpLength(length));
        }
        ensure_len(Layer::Udp, usize::from(length), have)?;
        Ok(())
    }

    getters! {
        /// Source port.
        src_port -> u16 = get16(field::SRC_PORT);
        /// Destination port.
        dst_port -> u16 = get16(field::DST_PORT);
        /// Length of header plus payload.
        length -> u16 = get16(field::LENGTH);
        /// The checksum field, as stored (0 means "none" over IPv4).
        checksum -> u16 = get16(field::CHECKSUM);
    }

    /// Header length: always 8 (for symmetry with the other views).
    pub fn header_len(&self) -> usize {
        UDP_HEADER_LEN
    }

    /// The payload: from the header to `length`.
    fn payload_range(&self) -> Range<usize> {
        UDP_HEADER_LEN..usize::from(self.length())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    setters! {
        /// Sets the length (USO: per segment).
        set_length(u16) = field::LENGTH;
        /// Sets the checksum field (a computed 0 must be written as 0xFFFF; that is the caller's
        /// job).
        set_checksum(u16) = field::CHECKSUM;
    }
}

#[cfg(test)]
mod tests {
    use super::super::golden::{
        IPV4_OPTS_UDP, IPV6_EXT_FRAG_UDP, for_each_variant, pseudo_v4, verifies,
    };
    use super::*;

    #[test]
    fn parse_v4() {
        let d = &IPV4_OPTS_UDP[24..];
        let p = UdpPacket::new_checked(d).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (5353, 5353));
        assert_eq!(p.length(), 12);
        assert_eq!(p.checksum(), 0xffa5);
        assert_eq!(p.header_len(), 8);
        assert_eq!(p.payload(), b"ping");
        let pseudo = pseudo_v4([192, 168, 1, 10], [93, 184, 216, 34], 17, d.len());
        assert!(verifies(d, pseudo));
    }

    #[test]
    fn parse_v6_after_extensions() {
        let p = UdpPacket::new_checked(&IPV6_EXT_FRAG_UDP[72..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (40000, 53));
        assert_eq!(p.length(), 24);
        assert_eq!(p.payload(), b"hello, fragment!");
    }

    #[test]
    fn trailing_bytes_excluded() {
        let mut b = [0xeeu8; 20];
        b[..12].copy_from_slice(&IPV4_OPTS_UDP[24..]);
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload(), b"ping");
    }

    #[test]
    fn setters() {
        let mut b = IPV4_OPTS_UDP;
        let mut p = UdpPacket::new_checked(&mut b[24..]).unwrap();
        p.set_length(10);
        p.set_checksum(0xffff);
        assert_eq!(p.payload_mut(), b"pi");
        assert_eq!(p.length(), 10);
        assert_eq!(p.checksum(), 0xffff);
        assert_eq!(b[28..32], [0, 10, 0xff, 0xff]);
    }

    #[test]
    fn errors() {
        let d = &IPV4_OPTS_UDP[24..];
        assert_eq!(
            UdpPacket::new_checked(&d[..7]),
            Err(Error::Truncated {
                layer: Layer::Udp,
                need: 8,
                have: 7
            })
        );
        assert_eq!(
            UdpPacket::new_checked(&d[..11]),
            Err(Error::Truncated {
                layer: Layer::Udp,
                need: 12,
                have: 11
            })
        );
        for len in 0..8u16 {
            let mut b = IPV4_OPTS_UDP;
            b[28..30].copy_from_slice(&len.to_be_bytes());
            assert_eq!(
                UdpPacket::new_checked(&b[24..]),
                Err(Error::BadUdpLength(len))
            );
        }
    }

    // Every truncation of every golden variant: 20-50 s under Miri; the `wire` fuzz target covers it.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn never_panics() {
        let mut ok = 0;
        for_each_variant(|b, _| {
            for start in [0, 24, 72] {
                let d = b.get(start..).unwrap_or(&[]);
                let u = UdpPacket::new_unchecked(d);
                let _ = (u.src_port(), u.dst_port(), u.checksum());
                assert!(u.payload().len() <= d.len());
                if let Ok(p) = UdpPacket::new_checked(d) {
                    ok += 1;
                    assert_eq!(p.payload().len() + 8, usize::from(p.length()));
                }
                let mut c = [0u8; 128];
                let mut p = UdpPacket::new_unchecked(&mut c[..d.len()]);
                p.set_length(0xffff);
                p.set_checksum(1);
                assert!(p.payload_mut().len() <= d.len());
            }
        });
        assert!(ok > 0);
    }
}
