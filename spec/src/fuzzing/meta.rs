//! `meta`: the metadata translations and fix-ups (M1-M10) on any metadata, header and frame: never
//! panic, L3's round trips hold, and what the fix-ups write verifies.

use super::form;
use vnet_core::csum;
use vnet_core::hdr::{Flags, GsoType, VnetHdr};
use vnet_core::meta::{self, TxFlags, TxMetadata, TxRule, VlanMetadata};
use vnet_core::wire::{IPV6_HEADER_LEN, Ipv4Packet, Link};

use crate::laws::Core;
use crate::laws::meta as laws;
use crate::strategy::meta::frame_for;

/// One input of the `meta` target: metadata, a header, and a frame.
///
/// Its byte form is fixed: the metadata as flags (1 byte), `l2_len` (1), `l3_len` (2, little-endian),
/// `l4_len` (1), `max_segment_size` (2), a tag-present byte (bit 0) and the tag (2); the payload
/// length for the metadata's own frame (2, modulo 2048); the fix-ups' `l2_len` (1); the header as
/// the 24-byte layout in little-endian order; then the frame. [`Arbitrary`] reads exactly that
/// form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaInput {
    /// Metadata, any value.
    pub meta: TxMetadata,
    /// Payload bytes of the frame built for the representable part of `meta`.
    pub payload: u16,
    /// Where the fix-ups are told the IP header starts.
    pub l2_len: u8,
    /// A guest's header, any value.
    pub hdr: VnetHdr,
    /// The frame after it, any bytes.
    pub frame: Vec<u8>,
}

const META: usize = 10;
const FIXED: usize = META + 2 + 1 + form::HDR;

impl MetaInput {
    /// Decodes the byte form; `None` if it is shorter than the fixed part.
    pub fn from_bytes(data: &[u8]) -> Option<MetaInput> {
        let (&[f, l2, a, b, l4, s0, s1, tag, t0, t1, p0, p1, fix_l2], rest) =
            data.split_first_chunk::<13>()?;
        let (hdr, frame) = form::read_hdr(rest)?;
        Some(MetaInput {
            meta: TxMetadata {
                flags: TxFlags(f),
                l2_len: l2,
                l3_len: u16::from_le_bytes([a, b]),
                l4_len: l4,
                max_segment_size: u16::from_le_bytes([s0, s1]),
                vlan: (tag & 1 != 0).then_some(VlanMetadata(u16::from_le_bytes([t0, t1]))),
            },
            payload: u16::from_le_bytes([p0, p1]) % 2048,
            l2_len: fix_l2,
            hdr,
            frame: frame.to_vec(),
        })
    }

    /// The byte form that [`from_bytes`](Self::from_bytes) decodes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let m = &self.meta;
        let mut out = vec![m.flags.0, m.l2_len];
        out.extend_from_slice(&m.l3_len.to_le_bytes());
        out.push(m.l4_len);
        out.extend_from_slice(&m.max_segment_size.to_le_bytes());
        out.push(u8::from(m.vlan.is_some()));
        out.extend_from_slice(&m.vlan.map_or(0, |v| v.0).to_le_bytes());
        out.extend_from_slice(&self.payload.to_le_bytes());
        out.push(self.l2_len);
        form::push_hdr(&mut out, &self.hdr);
        out.extend_from_slice(&self.frame);
        out
    }
}

arbitrary_from_bytes!(MetaInput, fixed: FIXED, tail: frame);

/// `m` made representable (M1 holds, and a frame can match it), keeping what it asks for: one IP
/// version when anything is offloaded (IPv6 if its flag is set, else IPv4), `l2_len` 0, 14 or 18,
/// `l3_len` an IPv4 header of 20..=60 or an IPv6 one of 40..=104 bytes, a TCP header of 20..=60
/// for TCP segmentation, a non-zero MSS for segmentation.
pub fn representable(m: &TxMetadata) -> TxMetadata {
    let versions = TxFlags(TxFlags::IS_IPV4.0 | TxFlags::IS_IPV6.0);
    let v6 = m.flags.contains(TxFlags::IS_IPV6);
    let version = if v6 {
        TxFlags::IS_IPV6
    } else {
        TxFlags::IS_IPV4
    };
    let mut flags = m.flags.without(versions);
    let probe = TxMetadata { flags, ..*m };
    if TxRule::of(&probe) != TxRule::None || m.flags.intersects(versions) {
        flags = flags.with(version);
    }
    let mut r = TxMetadata {
        flags,
        l2_len: [0, 14, 18][usize::from(m.l2_len % 3)],
        l3_len: if v6 {
            40 + 8 * (m.l3_len % 9)
        } else {
            20 + 4 * (m.l3_len % 11)
        },
        ..*m
    };
    match TxRule::of(&r) {
        TxRule::Tso => {
            r.l4_len = 20 + 4 * (m.l4_len % 11);
            r.max_segment_size = m.max_segment_size.max(1);
        }
        TxRule::Uso => r.max_segment_size = m.max_segment_size.max(1),
        _ => {}
    }
    r
}

/// Asserts, on any input:
///
/// - `to_header` never panics, and what it gives has one of M2-M5's shapes (L3c);
/// - L3 on the representable part of the metadata ([`representable`]) and its own frame
///   ([`frame_for`]): `to_header` accepts it; metadata -> header -> metadata gives
///   [`representable_part`](laws::representable_part) (L3a); header -> metadata -> header gives
///   the header (L3b);
/// - `from_header` on the header and the frame, TUN and TAP, never panics; what it accepts lies in
///   the frame and translates back (`to_header`) into a header with the same checksum request,
///   GSO type (the ECN bit aside) and size;
/// - `rx_metadata` follows M8 (L3d);
/// - the fix-ups never panic; on success what they wrote verifies (the IPv4 header checksum, the
///   length fields) and no other byte changed; on failure no byte changed.
pub fn meta(input: &MetaInput) {
    let fail = |e: proptest::test_runner::TestCaseError| panic!("{e}");
    let m = &input.meta;
    laws::header_shape(&Core, m).unwrap_or_else(fail);

    let rep = representable(m);
    let (frame, link) = frame_for(&rep, usize::from(input.payload));
    let case = (rep, frame, link);
    let frame = &case.1;
    laws::metadata_round_trip(&Core, &case).unwrap_or_else(fail);
    laws::header_round_trip(&Core, &case).unwrap_or_else(fail);

    let hdr = &input.hdr;
    for link in [Link::Tun, Link::Tap] {
        from_header(hdr, &input.frame, link);
    }
    laws::rx_rule(&Core, hdr).unwrap_or_else(fail);

    for l2 in [0, 14, 18, usize::from(input.l2_len)] {
        fixup_ipv4(&input.frame, l2);
        fixup_ipv6(&input.frame, l2);
    }
    // The fix-ups on the metadata's own frame, whose IP header is where its l2_len says.
    let l2 = usize::from(rep.l2_len);
    fixup_ipv4(frame, l2);
    fixup_ipv6(frame, l2);
}

fn from_header(hdr: &VnetHdr, frame: &[u8], link: Link) {
    let Ok(m) = meta::from_header(hdr, frame, link) else {
        return;
    };
    if !hdr.flags.contains(Flags::NEEDS_CSUM) {
        assert_eq!(m, TxMetadata::default(), "M6: no NEEDS_CSUM asks nothing");
        return;
    }
    let rule = TxRule::of(&m);
    let l4 = usize::from(m.l2_len) + usize::from(m.l3_len);
    assert_eq!(
        l4,
        usize::from(hdr.csum_start),
        "M6: csum_start is the transport"
    );
    let l4_len = if matches!(rule, TxRule::Tso | TxRule::Uso) {
        usize::from(m.l4_len)
    } else {
        0
    };
    assert!(
        l4 + l4_len <= frame.len(),
        "M6: headers beyond the frame: {m:?}"
    );
    let back = meta::to_header(&m)
        .unwrap_or_else(|e| panic!("from_header's {m:?} refused by to_header: {e}"));
    assert_eq!(back.flags, Flags::NEEDS_CSUM);
    assert_eq!(
        (back.csum_start, back.csum_offset),
        (hdr.csum_start, hdr.csum_offset),
        "{m:?}"
    );
    assert_eq!(back.gso_type, GsoType(hdr.gso_type.0 & !GsoType::ECN.0));
    if back.gso_type != GsoType::NONE {
        assert_eq!(back.gso_size, hdr.gso_size);
        assert_eq!(usize::from(back.hdr_len), l4 + l4_len);
    }
}

/// The bytes of `a` and `b` (equally long) differ only inside `holes` (offset, length).
fn only_changed(a: &[u8], b: &[u8], holes: &[(usize, usize)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .enumerate()
            .all(|(i, (x, y))| x == y || holes.iter().any(|&(at, n)| (at..at + n).contains(&i)))
}

fn fixup_ipv4(frame: &[u8], l2: usize) {
    let mut copy = frame.to_vec();
    match meta::fixup_ipv4_header_checksum(&mut copy, l2) {
        Ok(check) => {
            let ip = Ipv4Packet::new_unchecked(&copy[l2..]);
            let total = u16::try_from(frame.len() - l2).unwrap_or(0);
            assert_eq!(ip.version(), 4);
            assert_eq!(ip.total_len(), total, "M9: total length");
            assert_eq!(ip.checksum(), check, "M9: the checksum returned is written");
            assert!(
                csum::verify(ip.header()),
                "M9: the header checksum verifies"
            );
            assert!(
                only_changed(&copy, frame, &[(l2 + 2, 2), (l2 + 10, 2)]),
                "M9: bytes other than the length and checksum changed"
            );
        }
        Err(e) => {
            assert!(!e.rule().is_empty());
            assert_eq!(copy, frame, "a failed IPv4 fix-up wrote");
        }
    }
}

fn fixup_ipv6(frame: &[u8], l2: usize) {
    let mut copy = frame.to_vec();
    match meta::fixup_ipv6_payload_length(&mut copy, l2) {
        Ok(len) => {
            let want = u16::try_from(frame.len() - l2 - IPV6_HEADER_LEN).unwrap_or(0);
            assert_eq!(len, want, "M10: the payload length");
            assert_eq!(copy[l2] >> 4, 6);
            assert_eq!(
                u16::from_be_bytes([copy[l2 + 4], copy[l2 + 5]]),
                len,
                "M10: the length returned is written"
            );
            assert!(
                only_changed(&copy, frame, &[(l2 + 4, 2)]),
                "M10: bytes other than the payload length changed"
            );
        }
        Err(e) => {
            assert!(!e.rule().is_empty());
            assert_eq!(copy, frame, "a failed IPv6 fix-up wrote");
        }
    }
}
