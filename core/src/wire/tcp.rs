//! TCP header with options (RFC 9293): what GSO rewrites per segment (sequence number, flags,
//! checksum) and what GRO compares (flags word, options, ack).

use core::ops::Range;

use super::{Error, Layer, ensure_len, get8, get16, get32, put_bytes};

/// Field offsets in the fixed 20-byte header; options follow up to data offset * 4.
pub(crate) mod field {
    pub(crate) const SRC_PORT: usize = 0;
    pub(crate) const DST_PORT: usize = 2;
    pub(crate) const SEQ: usize = 4;
    pub(crate) const ACK: usize = 8;
    /// Data offset (4 bits), reserved (3), AE (1), then CWR ECE URG ACK PSH RST SYN FIN.
    pub(crate) const DOFF_FLAGS: usize = 12;
    pub(crate) const WINDOW: usize = 14;
    pub(crate) const CHECKSUM: usize = 16;
    pub(crate) const URGENT: usize = 18;
}

/// Length of a TCP header without options (data offset 5).
pub const TCP_MIN_HEADER_LEN: usize = 20;

/// The TCP flag bits, as the low 9 bits of the data-offset/flags word (AE included).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct TcpFlags(pub u16);

flag_set!(TcpFlags {
    /// No more data from sender.
    FIN = 0x001;
    /// Synchronize sequence numbers.
    SYN = 0x002;
    /// Reset the connection.
    RST = 0x004;
    /// Push.
    PSH = 0x008;
    /// The acknowledgment number is significant.
    ACK = 0x010;
    /// The urgent pointer is significant.
    URG = 0x020;
    /// ECN echo.
    ECE = 0x040;
    /// Congestion window reduced.
    CWR = 0x080;
    /// Accurate ECN (RFC 9768), formerly the NS nonce-sum bit (RFC 3540).
    AE = 0x100;
});
flag_ops!(TcpFlags, not within TcpFlags::ALL);

impl TcpFlags {
    /// Alias of [`AE`](Self::AE) under its old name.
    pub const NS: Self = Self::AE;
    /// Every flag bit; other bits of the word (reserved, data offset) are not flags.
    pub const ALL: Self = Self(0x1ff);
}

view!(
    /// A view over a TCP segment (header, options and payload).
    TcpPacket,
    emit: "a stale data offset (use `new_unchecked`).",
    fixed: (Layer::Tcp, TCP_MIN_HEADER_LEN),
);

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Checks every length an accessor relies on: the buffer holds the fixed header, the data
    /// offset is at least 5, and the buffer holds data offset * 4 bytes. The payload is the rest of
    /// the buffer: bound it by the IP length first (build the view over the IP payload).
    pub fn check_len(&self) -> Result<(), Error> {
        let have = self.fixed_header()?;
        let data_offset = self.data_offset();
        if data_offset < 5 {
            return Err(Error::BadDataOffset(data_offset));
        }
        let need = self.header_len();
        ensure_len(Layer::Tcp, need, have)?;
        Ok(())
    }

    getters! {
        /// Source port.
        src_port -> u16 = get16(field::SRC_PORT);
        /// Destination port.
        dst_port -> u16 = get16(field::DST_PORT);
        /// Sequence number.
        seq_number -> u32 = get32(field::SEQ);
        /// Acknowledgment number.
        ack_number -> u32 = get32(field::ACK);
        /// The raw data-offset/reserved/flags word, as GRO compares it.
        doff_flags_word -> u16 = get16(field::DOFF_FLAGS);
        /// Window.
        window -> u16 = get16(field::WINDOW);
        /// The checksum field, as stored.
        checksum -> u16 = get16(field::CHECKSUM);
        /// Urgent pointer.
        urgent_pointer -> u16 = get16(field::URGENT);
    }

    /// Data offset: header length in 32-bit words (5..=15 after `check_len`).
    pub fn data_offset(&self) -> u8 {
        get8(self.buffer.as_ref(), field::DOFF_FLAGS) >> 4
    }

    /// Header length in bytes, options included: data offset * 4.
    pub fn header_len(&self) -> usize {
        usize::from(self.data_offset()) * 4
    }

    /// The flags (AE and the eight classic bits; reserved bits excluded).
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.doff_flags_word() & TcpFlags::ALL.0)
    }

    /// The option bytes (empty for data offset 5).
    pub fn options(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(TCP_MIN_HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }

    /// The payload: everything after the header (bound the buffer by the IP length first).
    fn payload_range(&self) -> Range<usize> {
        self.header_len()..self.buffer.as_ref().len()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    setters! {
        /// Sets the sequence number (GSO: first segment's plus the bytes before this one).
        set_seq_number(u32) = field::SEQ;
        /// Sets the checksum field.
        set_checksum(u16) = field::CHECKSUM;
    }

    /// Sets the flag bits, keeping the data offset and reserved bits (GSO: FIN/PSH only on the
    /// last segment, CWR only on the first).
    pub fn set_flags(&mut self, flags: TcpFlags) {
        let word = (self.doff_flags_word() & !TcpFlags::ALL.0) | (flags.0 & TcpFlags::ALL.0);
        put_bytes(self.buffer.as_mut(), field::DOFF_FLAGS, &word.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::super::golden::{
        ETH_VLAN_IPV6_TCP, IPV4_TCP_SYN, for_each_variant, pseudo_v4, pseudo_v6, verifies,
    };
    use super::*;

    #[test]
    fn parse_syn_with_options() {
        let seg = &IPV4_TCP_SYN[20..];
        let p = TcpPacket::new_checked(seg).unwrap();
        assert_eq!(p.src_port(), 51234);
        assert_eq!(p.dst_port(), 443);
        assert_eq!(p.seq_number(), 0x1a2b_3c4d);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.data_offset(), 10);
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), TcpFlags::SYN);
        assert_eq!(p.doff_flags_word(), 0xa002);
        assert_eq!(p.window(), 64240);
        assert_eq!(p.urgent_pointer(), 0);
        assert_eq!(
            p.options(),
            &[
                2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0x12, 0xd6, 0x87, 0, 0, 0, 0, 1, 3, 3, 7
            ]
        );
        assert_eq!(p.payload(), &[] as &[u8]);
        let pseudo = pseudo_v4([192, 168, 1, 10], [93, 184, 216, 34], 6, seg.len());
        assert!(verifies(seg, pseudo));
        assert_eq!(p.checksum(), 0x5e92);
    }

    #[test]
    fn parse_psh_ack_with_payload() {
        let seg = &ETH_VLAN_IPV6_TCP[58..];
        let p = TcpPacket::new_checked(seg).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (443, 51234));
        assert_eq!(p.ack_number(), 0x0a0b_0c0d);
        assert_eq!(p.flags(), TcpFlags::PSH | TcpFlags::ACK);
        assert!(p.flags().contains(TcpFlags::ACK));
        assert!(!p.flags().intersects(TcpFlags::FIN | TcpFlags::SYN));
        assert_eq!(p.options(), &[] as &[u8]);
        assert_eq!(p.payload(), b"GET /");
        let src = ETH_VLAN_IPV6_TCP[26..42].try_into().unwrap();
        let dst = ETH_VLAN_IPV6_TCP[42..58].try_into().unwrap();
        assert!(verifies(seg, pseudo_v6(src, dst, 6, seg.len())));
    }

    #[test]
    fn flags_constants_and_ops() {
        let all = [
            TcpFlags::FIN,
            TcpFlags::SYN,
            TcpFlags::RST,
            TcpFlags::PSH,
            TcpFlags::ACK,
            TcpFlags::URG,
            TcpFlags::ECE,
            TcpFlags::CWR,
            TcpFlags::AE,
        ];
        let mut acc = TcpFlags::default();
        for (i, f) in all.iter().enumerate() {
            assert_eq!(f.0, 1 << i);
            acc |= *f;
        }
        assert_eq!(acc, TcpFlags::ALL);
        assert_eq!(TcpFlags::NS, TcpFlags::AE);
        assert_eq!(!TcpFlags::FIN & TcpFlags::ALL, TcpFlags(0x1fe));
        assert_eq!(
            (TcpFlags::SYN | TcpFlags::ACK) & TcpFlags::ACK,
            TcpFlags::ACK
        );
        // `!` stays within ALL; `Debug` names the set bits in order, then the rest in hex.
        assert_eq!(!TcpFlags(0), TcpFlags::ALL);
        assert_eq!(
            std::format!("{:?}", TcpFlags::ACK | TcpFlags::SYN | TcpFlags(0x200)),
            "SYN|ACK|0x200"
        );
        assert_eq!(std::format!("{:?}", TcpFlags(0)), "0x00");
    }

    #[test]
    fn setters_keep_data_offset_and_reserved() {
        let mut b = IPV4_TCP_SYN;
        b[32] |= 0x0e; // reserved bits set: must survive set_flags
        let mut p = TcpPacket::new_checked(&mut b[20..]).unwrap();
        p.set_seq_number(0xfeed_f00d);
        p.set_flags(TcpFlags::FIN | TcpFlags::AE | TcpFlags(0xfe00));
        p.set_checksum(0x1234);
        p.payload_mut(); // empty, must not panic
        assert_eq!(p.seq_number(), 0xfeed_f00d);
        assert_eq!(p.flags(), TcpFlags::FIN | TcpFlags::AE);
        assert_eq!(p.data_offset(), 10);
        assert_eq!(p.doff_flags_word(), 0xaf01);
        assert_eq!(p.checksum(), 0x1234);
        assert_eq!(b[24..28], [0xfe, 0xed, 0xf0, 0x0d]);
        assert_eq!(b[36..38], [0x12, 0x34]);
    }

    #[test]
    fn errors() {
        let seg = &IPV4_TCP_SYN[20..];
        assert_eq!(
            TcpPacket::new_checked(&seg[..19]),
            Err(Error::Truncated {
                layer: Layer::Tcp,
                need: 20,
                have: 19
            })
        );
        assert_eq!(
            TcpPacket::new_checked(&seg[..39]),
            Err(Error::Truncated {
                layer: Layer::Tcp,
                need: 40,
                have: 39
            })
        );
        for doff in 0..5 {
            let mut b = IPV4_TCP_SYN;
            b[32] = doff << 4;
            assert_eq!(
                TcpPacket::new_checked(&b[20..]),
                Err(Error::BadDataOffset(doff))
            );
        }
        let mut b = IPV4_TCP_SYN;
        b[32] = 0xf0; // 60 bytes claimed, 40 held
        assert_eq!(
            TcpPacket::new_checked(&b[20..]),
            Err(Error::Truncated {
                layer: Layer::Tcp,
                need: 60,
                have: 40
            })
        );
    }

    // Every truncation of every golden variant: 20-50 s under Miri; the `wire` fuzz target covers it.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn never_panics() {
        let mut ok = 0;
        for_each_variant(|b, _| {
            for start in [0, 20, 58] {
                let seg = b.get(start..).unwrap_or(&[]);
                let u = TcpPacket::new_unchecked(seg);
                let _ = (u.src_port(), u.dst_port(), u.seq_number(), u.ack_number());
                let _ = (u.flags(), u.window(), u.checksum(), u.urgent_pointer());
                assert!(u.options().len() + u.payload().len() <= seg.len());
                if let Ok(p) = TcpPacket::new_checked(seg) {
                    ok += 1;
                    assert_eq!(p.options().len() + 20, p.header_len());
                    assert_eq!(p.header_len() + p.payload().len(), seg.len());
                }
                let mut c = [0u8; 128];
                let mut p = TcpPacket::new_unchecked(&mut c[..seg.len()]);
                p.set_seq_number(1);
                p.set_flags(TcpFlags::ALL);
                p.set_checksum(1);
                assert!(p.payload_mut().len() <= seg.len());
            }
        });
        assert!(ok > 0);
    }
}
