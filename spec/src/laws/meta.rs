//! L3: metadata and header translate into each other without loss, except for what the header
//! cannot carry, which [`representable_part`] names (M1-M8; ARCHITECTURE.md,
//! 'Metadata translation').

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use vnet_core::hdr::{Flags, GsoType, VnetHdr};
use vnet_core::meta::{
    self, L4Protocol, MetaError, RxChecksumState, RxMetadata, TxFlags, TxMetadata, TxRule,
};
use vnet_core::wire::Link;

use super::Core;

/// Translates between offload metadata and the virtio-net header.
pub trait MetaTranslator {
    /// Metadata -> the header to write (M1-M5).
    fn to_header(&self, meta: &TxMetadata) -> Result<VnetHdr, MetaError>;
    /// A guest's header and frame -> metadata (M6, M7).
    fn tx_metadata(&self, hdr: &VnetHdr, frame: &[u8], link: Link)
    -> Result<TxMetadata, MetaError>;
    /// A received header -> what the receiver learns (M8).
    fn rx_metadata(&self, hdr: &VnetHdr) -> RxMetadata;
}

impl MetaTranslator for Core {
    fn to_header(&self, m: &TxMetadata) -> Result<VnetHdr, MetaError> {
        meta::to_header(m)
    }

    fn tx_metadata(
        &self,
        hdr: &VnetHdr,
        frame: &[u8],
        link: Link,
    ) -> Result<TxMetadata, MetaError> {
        meta::from_header(hdr, frame, link)
    }

    fn rx_metadata(&self, hdr: &VnetHdr) -> RxMetadata {
        meta::rx_metadata(hdr)
    }
}

/// What of `m` survives metadata -> header -> metadata: exactly what the header carries, in the
/// form the guest direction (M6) gives it back.
///
/// Not carried, so lost: `vlan` (no header field; a tag in the frame shows up in `l2_len`);
/// the IPv4 header checksum request (no header field), which M6 sets for IPv4 segmentation
/// (per-segment headers) and never otherwise; the IP version when nothing is offloaded; every
/// flag of a rule that lost to an earlier one (M2-M5: first match wins); and the lengths the
/// selected rule does not use: all of them when nothing is offloaded, `l4_len` and
/// `max_segment_size` for checksum-only requests. Implied, so gained: the checksum flag of the
/// segmentation selected (TSO completes the TCP checksum, USO the UDP one), and `l4_len = 8` for
/// USO (the UDP header).
pub fn representable_part(m: &TxMetadata) -> TxMetadata {
    let version = m.flags.0 & (TxFlags::IS_IPV4.0 | TxFlags::IS_IPV6.0);
    let version = TxFlags(version);
    let ip_header = if m.flags.contains(TxFlags::IS_IPV4) {
        TxFlags::OFFLOAD_IP_HEADER_CHECKSUM
    } else {
        TxFlags::EMPTY
    };
    let (flags, l4_len, max_segment_size) = match TxRule::of(m) {
        TxRule::Tso => (
            TxFlags::OFFLOAD_TCP_SEGMENTATION
                .with(TxFlags::OFFLOAD_TCP_CHECKSUM)
                .with(ip_header),
            m.l4_len,
            m.max_segment_size,
        ),
        TxRule::Uso => (
            TxFlags::OFFLOAD_UDP_SEGMENTATION
                .with(TxFlags::OFFLOAD_UDP_CHECKSUM)
                .with(ip_header),
            8,
            m.max_segment_size,
        ),
        TxRule::TcpChecksum => (TxFlags::OFFLOAD_TCP_CHECKSUM, 0, 0),
        TxRule::UdpChecksum => (TxFlags::OFFLOAD_UDP_CHECKSUM, 0, 0),
        TxRule::None => return TxMetadata::default(),
    };
    TxMetadata {
        flags: flags.with(version),
        l2_len: m.l2_len,
        l3_len: m.l3_len,
        l4_len,
        max_segment_size,
        vlan: None,
    }
}

/// One case of L3a and L3b: representable metadata, a frame that matches it, and the link the
/// frame is on (what [`tx_case_representable`](crate::strategy::meta::tx_case_representable)
/// yields).
pub type TxCase = (TxMetadata, Vec<u8>, Link);

/// Representable metadata `m` to a header and, with `frame`, back to metadata: the header and
/// the metadata, neither step refused (L3a, L3b).
fn there_and_back<T: MetaTranslator>(
    t: &T,
    (m, frame, link): &TxCase,
) -> Result<(VnetHdr, TxMetadata), TestCaseError> {
    let hdr = t
        .to_header(m)
        .map_err(|e| TestCaseError::fail(format!("representable metadata rejected: {e}")))?;
    let back = t
        .tx_metadata(&hdr, frame, *link)
        .map_err(|e| TestCaseError::fail(format!("{hdr:?} on its own frame rejected: {e}")))?;
    Ok((hdr, back))
}

/// L3a: for representable metadata `m` and a frame that matches it, `from_header(to_header(m))`
/// is `representable_part(m)`.
pub fn metadata_round_trip<T: MetaTranslator>(t: &T, case: &TxCase) -> Result<(), TestCaseError> {
    let (hdr, back) = there_and_back(t, case)?;
    prop_assert_eq!(back, representable_part(&case.0), "header {:?}", hdr);
    Ok(())
}

/// L3b: a header that comes from metadata survives header -> metadata -> header unchanged.
pub fn header_round_trip<T: MetaTranslator>(t: &T, case: &TxCase) -> Result<(), TestCaseError> {
    let (hdr, back) = there_and_back(t, case)?;
    let again = t
        .to_header(&back)
        .map_err(|e| TestCaseError::fail(format!("{hdr:?} did not come back: {e}")))?;
    prop_assert_eq!(again, hdr);
    Ok(())
}

/// L3c: whatever header metadata becomes, it is one of M2-M5's shapes: no DATA_VALID, no
/// `num_buffers`, and either all zero or NEEDS_CSUM with `csum_start = l2 + l3` and the offset of
/// the selected protocol.
pub fn header_shape<T: MetaTranslator>(t: &T, m: &TxMetadata) -> Result<(), TestCaseError> {
    let Ok(hdr) = t.to_header(m) else {
        return Ok(());
    };
    prop_assert!(!hdr.flags.contains(Flags::DATA_VALID));
    prop_assert_eq!(hdr.num_buffers, 0);
    let rule = TxRule::of(m);
    if rule == TxRule::None {
        prop_assert_eq!(hdr, VnetHdr::default());
        return Ok(());
    }
    prop_assert_eq!(hdr.flags, Flags::NEEDS_CSUM);
    prop_assert_eq!(
        u32::from(hdr.csum_start),
        u32::from(m.l2_len) + u32::from(m.l3_len)
    );
    let tcp = matches!(rule, TxRule::Tso | TxRule::TcpChecksum);
    prop_assert_eq!(hdr.csum_offset, if tcp { 16 } else { 6 });
    let gso = matches!(rule, TxRule::Tso | TxRule::Uso);
    prop_assert_eq!(hdr.gso_type == GsoType::NONE, !gso);
    prop_assert_eq!(hdr.gso_size, if gso { m.max_segment_size } else { 0 });
    Ok(())
}

/// L3d (M8): the receive translation, stated from the rule: DATA_VALID makes both checksums Good,
/// anything else leaves both Unknown; the protocol is the GSO type's.
pub fn rx_rule<T: MetaTranslator>(t: &T, hdr: &VnetHdr) -> Result<(), TestCaseError> {
    let state = if hdr.flags.0 & Flags::DATA_VALID.0 != 0 {
        RxChecksumState::Good
    } else {
        RxChecksumState::Unknown
    };
    let protocol = match hdr.gso_type.0 & 0x1F {
        1 | 4 => L4Protocol::Tcp,
        3 | 5 => L4Protocol::Udp,
        _ => L4Protocol::Unknown,
    };
    prop_assert_eq!(
        t.rx_metadata(hdr),
        RxMetadata {
            ip_checksum: state,
            l4_checksum: state,
            l4_protocol: protocol,
            ..RxMetadata::default()
        }
    );
    Ok(())
}
