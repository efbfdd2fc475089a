//! IPv4 header with options (RFC 791): the fields GSO rewrites per segment (total length, ID,
//! fragment word, checksum) and the ones GRO compares.

use core::ops::Range;

use super::{Error, IpProtocol, Layer, ensure_len, get_array, get8, get16, put_bytes};

/// Field offsets in the fixed 20-byte header; options follow up to IHL * 4.
pub(crate) mod field {
    use core::ops::Range;
    /// Version (high nibble) and IHL (low nibble, in 32-bit words).
    pub(crate) const VER_IHL: usize = 0;
    /// DSCP (6 bits) and ECN (2 bits).
    pub(crate) const TOS: usize = 1;
    pub(crate) const TOTAL_LEN: usize = 2;
    pub(crate) const IDENT: usize = 4;
    /// Reserved, DF, MF bits, then the 13-bit fragment offset.
    pub(crate) const FLAGS_FRAG: usize = 6;
    pub(crate) const TTL: usize = 8;
    pub(crate) const PROTOCOL: usize = 9;
    pub(crate) const CHECKSUM: usize = 10;
    pub(crate) const SRC: Range<usize> = 12..16;
    pub(crate) const DST: Range<usize> = 16..20;
    /// Bits of the [`FLAGS_FRAG`] word: don't fragment, more fragments, the offset (8-byte units).
    pub(crate) const DF: u16 = 0x4000;
    pub(crate) const MF: u16 = 0x2000;
    pub(crate) const FRAG_OFFSET_MASK: u16 = 0x1fff;
}

/// Length of an IPv4 header without options (IHL 5).
pub const IPV4_MIN_HEADER_LEN: usize = 20;

view!(
    /// A view over an IPv4 packet (header, options and payload).
    Ipv4Packet,
    emit: "stale IHL and `total_len` fields, which this would judge the buffer by (use \
           `new_unchecked`, then write the fields).",
    fixed: (Layer::Ipv4, IPV4_MIN_HEADER_LEN),
);

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Checks every length an accessor relies on: the buffer holds the fixed header, IHL is at
    /// least 5 and the buffer holds IHL * 4 bytes, and `IHL * 4 <= total_len <= buffer length`.
    /// The buffer may be longer than `total_len` (Ethernet padding); [`payload`](Self::payload)
    /// stops at `total_len`. The version nibble is not checked here (see `parse_headers`).
    pub fn check_len(&self) -> Result<(), Error> {
        self.check_len_within(self.buffer.as_ref().len())
    }

    /// [`check_len`](Self::check_len) for a buffer that holds the first bytes of a packet of
    /// `len` bytes (from this header on): the header must lie within the buffer, `total_len`
    /// within `len`. With `len` the buffer's length, the same check.
    pub(crate) fn check_len_within(&self, len: usize) -> Result<(), Error> {
        let have = self.fixed_header()?;
        let ihl = self.ihl();
        if ihl < 5 {
            return Err(Error::BadIhl(ihl));
        }
        let header_len = self.header_len();
        ensure_len(Layer::Ipv4, header_len, have)?;
        let total_len = self.total_len();
        if usize::from(total_len) < header_len {
            return Err(Error::BadTotalLen {
                total_len,
                header_len,
            });
        }
        ensure_len(Layer::Ipv4, usize::from(total_len), len)?;
        Ok(())
    }

    getters! {
        /// The TOS byte: DSCP (high 6 bits) and ECN (low 2 bits).
        tos -> u8 = get8(field::TOS);
        /// Total length of the datagram, header included.
        total_len -> u16 = get16(field::TOTAL_LEN);
        /// Identification.
        ident -> u16 = get16(field::IDENT);
        /// The raw flags and fragment-offset word (reserved bit, DF, MF, 13-bit offset).
        flags_frag_word -> u16 = get16(field::FLAGS_FRAG);
        /// Time to live.
        ttl -> u8 = get8(field::TTL);
        /// The header checksum field, as stored.
        checksum -> u16 = get16(field::CHECKSUM);
        /// Source address.
        src_addr -> [u8; 4] = get_array(field::SRC.start);
        /// Destination address.
        dst_addr -> [u8; 4] = get_array(field::DST.start);
    }

    /// The version nibble (4 for a real IPv4 packet).
    pub fn version(&self) -> u8 {
        get8(self.buffer.as_ref(), field::VER_IHL) >> 4
    }

    /// The IHL field: header length in 32-bit words (5..=15 after `check_len`).
    pub fn ihl(&self) -> u8 {
        get8(self.buffer.as_ref(), field::VER_IHL) & 0x0f
    }

    /// Header length in bytes, options included: IHL * 4 (20..=60 after `check_len`).
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }

    /// The ECN codepoint (low 2 bits of TOS).
    pub fn ecn(&self) -> u8 {
        self.tos() & 0x03
    }

    /// Don't Fragment.
    pub fn dont_frag(&self) -> bool {
        self.flags_frag_word() & field::DF != 0
    }

    /// More Fragments.
    pub fn more_frags(&self) -> bool {
        self.flags_frag_word() & field::MF != 0
    }

    /// Fragment offset in units of 8 bytes (multiply by 8 for bytes).
    pub fn frag_offset(&self) -> u16 {
        self.flags_frag_word() & field::FRAG_OFFSET_MASK
    }

    /// True if this is a fragment: MF set or a non-zero offset. Such packets are not offloaded.
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    /// The upper-layer protocol.
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(get8(self.buffer.as_ref(), field::PROTOCOL))
    }

    /// The whole header, options included: what the header checksum covers.
    pub fn header(&self) -> &[u8] {
        self.buffer.as_ref().get(..self.header_len()).unwrap_or(&[])
    }

    /// The option bytes (empty for IHL 5).
    pub fn options(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(IPV4_MIN_HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }

    /// The payload: from the end of the header to `total_len`.
    fn payload_range(&self) -> Range<usize> {
        self.header_len()..usize::from(self.total_len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    setters! {
        /// Sets the total length (GSO: per segment; GRO: of the merged datagram).
        set_total_len(u16) = field::TOTAL_LEN;
        /// Sets the identification (GSO: the first segment's ID plus the segment index).
        set_ident(u16) = field::IDENT;
        /// Sets the header checksum field (compute it with `csum` over [`header`](Self::header)
        /// with this field zeroed).
        set_checksum(u16) = field::CHECKSUM;
    }

    /// Sets DF, MF and the fragment offset (in 8-byte units, masked to 13 bits); the reserved bit
    /// is cleared.
    pub fn set_flags_frag(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut word = offset & field::FRAG_OFFSET_MASK;
        if dont_frag {
            word |= field::DF;
        }
        if more_frags {
            word |= field::MF;
        }
        put_bytes(self.buffer.as_mut(), field::FLAGS_FRAG, &word.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::super::golden::{IPV4_OPTS_UDP, IPV4_TCP_SYN, for_each_variant, verifies};
    use super::*;

    fn read_all<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> usize {
        let _ = (
            p.version(),
            p.tos(),
            p.ecn(),
            p.ident(),
            p.dont_frag(),
            p.more_frags(),
        );
        let _ = (
            p.frag_offset(),
            p.is_fragment(),
            p.ttl(),
            p.protocol(),
            p.checksum(),
        );
        let _ = (p.src_addr(), p.dst_addr(), p.flags_frag_word());
        p.header().len() + p.options().len() + p.payload().len()
    }

    #[test]
    fn parse_tcp_syn() {
        let p = Ipv4Packet::new_checked(&IPV4_TCP_SYN[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.ihl(), 5);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.tos(), 0);
        assert_eq!(p.total_len(), 60);
        assert_eq!(p.ident(), 0xbeef);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::TCP);
        assert_eq!(p.checksum(), 0x843f);
        assert_eq!(p.src_addr(), [192, 168, 1, 10]);
        assert_eq!(p.dst_addr(), [93, 184, 216, 34]);
        assert_eq!(p.options(), &[] as &[u8]);
        assert!(verifies(p.header(), 0));
        assert_eq!(p.payload(), &IPV4_TCP_SYN[20..]);
    }

    #[test]
    fn parse_options() {
        let p = Ipv4Packet::new_checked(&IPV4_OPTS_UDP[..]).unwrap();
        assert_eq!(p.ihl(), 6);
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(p.header().len(), 24);
        assert!(verifies(p.header(), 0));
        assert!(!p.dont_frag());
        assert_eq!(p.ttl(), 1);
        assert_eq!(p.protocol(), IpProtocol::UDP);
        assert_eq!(p.payload(), &IPV4_OPTS_UDP[24..]);
    }

    #[test]
    fn padding_excluded_from_payload() {
        let mut b = [0u8; 64];
        b[..36].copy_from_slice(&IPV4_OPTS_UDP);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload(), &IPV4_OPTS_UDP[24..]);
    }

    #[test]
    fn setters() {
        let mut b = IPV4_TCP_SYN;
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_total_len(40);
        p.set_ident(0x1234);
        p.set_flags_frag(false, true, 0xffff);
        p.set_checksum(0xabcd);
        assert_eq!(p.total_len(), 40);
        assert_eq!(p.payload().len(), 20);
        assert_eq!(p.payload_mut().len(), 20);
        assert_eq!(p.ident(), 0x1234);
        assert!(!p.dont_frag());
        assert!(p.more_frags());
        assert_eq!(p.frag_offset(), 0x1fff);
        assert!(p.is_fragment());
        assert_eq!(p.checksum(), 0xabcd);
        assert_eq!(b[2..12], [0, 40, 0x12, 0x34, 0x3f, 0xff, 64, 6, 0xab, 0xcd]);
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_flags_frag(true, false, 0);
        assert_eq!(p.flags_frag_word(), 0x4000);
        assert!(!p.is_fragment());
    }

    #[test]
    fn fragment_offset_alone_is_a_fragment() {
        let mut b = IPV4_OPTS_UDP;
        Ipv4Packet::new_unchecked(&mut b[..]).set_flags_frag(false, false, 3);
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.frag_offset(), 3);
        assert!(p.is_fragment());
    }

    #[test]
    fn errors() {
        let t = |need, have| Error::Truncated {
            layer: Layer::Ipv4,
            need,
            have,
        };
        assert_eq!(Ipv4Packet::new_checked(&IPV4_TCP_SYN[..19]), Err(t(20, 19)));
        assert_eq!(Ipv4Packet::new_checked(&[][..]), Err(t(20, 0)));
        // IHL below 5, for every such value.
        for ihl in 0..5 {
            let mut b = IPV4_TCP_SYN;
            b[0] = 0x40 | ihl;
            assert_eq!(Ipv4Packet::new_checked(&b[..]), Err(Error::BadIhl(ihl)));
        }
        // IHL 6 claims options the buffer does not hold.
        assert_eq!(
            Ipv4Packet::new_checked(&IPV4_OPTS_UDP[..23]),
            Err(t(24, 23))
        );
        // IHL 15 on a 60-byte buffer is fine as far as the header goes.
        let mut b = IPV4_TCP_SYN;
        b[0] = 0x4f;
        assert_eq!(Ipv4Packet::new_checked(&b[..]).unwrap().header_len(), 60);
        // total_len below the header length.
        let mut b = IPV4_OPTS_UDP;
        b[2..4].copy_from_slice(&23u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]),
            Err(Error::BadTotalLen {
                total_len: 23,
                header_len: 24
            })
        );
        // total_len beyond the buffer.
        assert_eq!(Ipv4Packet::new_checked(&IPV4_TCP_SYN[..59]), Err(t(60, 59)));
        assert_eq!(Ipv4Packet::new_checked(&IPV4_TCP_SYN[..20]), Err(t(60, 20)));
    }

    // Every truncation of every golden variant: 20-50 s under Miri; the `wire` fuzz target covers it.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn never_panics() {
        let mut ok = 0;
        for_each_variant(|b, _| {
            let unchecked = Ipv4Packet::new_unchecked(b);
            let n = read_all(&unchecked);
            if let Ok(p) = Ipv4Packet::new_checked(b) {
                ok += 1;
                assert!(p.header_len() >= 20 && p.header_len() <= b.len());
                assert_eq!(p.header().len(), p.header_len());
                assert_eq!(
                    p.payload().len(),
                    usize::from(p.total_len()) - p.header_len()
                );
                assert_eq!(read_all(&p), n);
            }
            let mut c = [0u8; 128];
            let c = &mut c[..b.len()];
            let mut p = Ipv4Packet::new_unchecked(&mut *c);
            p.set_total_len(1);
            p.set_ident(1);
            p.set_flags_frag(true, true, 1);
            p.set_checksum(1);
            assert!(p.payload_mut().len() <= b.len());
        });
        assert!(ok > 0);
    }
}
