//! L9: virtio feature negotiation and what an agreement implies (F2-F9), stated from the rules:
//! negotiation over any pair of 128-bit sets, the receive header both ways, the offer a backend's
//! support allows, the TUNSETOFFLOAD bits, and the transmit headers a device admits.

use std::num::NonZeroU16;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use vnet_core::hdr::{Flags, GsoType, VnetHdr};
use vnet_core::meta::{RxChecksumState, RxMetadata, TxOffloadSupport, TxRule};
use vnet_core::virtio::{self, Agreed, FeatureError, Features, Party};

/// L10a (F2, F3): `negotiate` succeeds exactly when the offer keeps every row of F2, the
/// acceptance is part of the offer and keeps F2 too; the agreed set is the acceptance; a failure
/// names the first broken check in that order.
pub fn negotiation(offer: Features, accept: Features) -> Result<(), TestCaseError> {
    let keeps = |f: Features| virtio::RULES.iter().all(|r| r.holds(f));
    let result = virtio::negotiate(offer, accept);
    if !keeps(offer) {
        prop_assert!(
            matches!(
                result,
                Err(FeatureError::Requires {
                    party: Party::Device,
                    ..
                })
            ),
            "{result:?}"
        );
    } else if accept.without(offer) != Features::EMPTY {
        prop_assert_eq!(result, Err(FeatureError::NotOffered(accept.without(offer))));
    } else if !keeps(accept) {
        prop_assert!(
            matches!(
                result,
                Err(FeatureError::Requires {
                    party: Party::Driver,
                    ..
                })
            ),
            "{result:?}"
        );
    } else {
        let agreed = result.map_err(|e| TestCaseError::fail(format!("refused: {e}")))?;
        prop_assert_eq!(agreed.features(), accept);
    }
    // The closure keeps F2 and takes nothing that was not there.
    let closed = accept.closure();
    prop_assert!(keeps(closed));
    prop_assert_eq!(closed.without(accept), Features::EMPTY);
    Ok(())
}

/// L10b (F8, F9): the driver reads back from the device's receive header exactly the part of the
/// metadata it carries: both checksums Good when GUEST_CSUM was agreed and both were valid, else
/// both Unknown; the protocol, offset, length and tag are not carried; `num_buffers` as given
/// with MRG_RXBUF, 1 without, 0 in the 10-byte layout.
pub fn rx_header_round_trip(
    agreed: Agreed,
    meta: &RxMetadata,
    num_buffers: NonZeroU16,
) -> Result<(), TestCaseError> {
    let hdr = agreed.rx_header(meta, num_buffers);
    let (back, n) = agreed
        .read_rx_header(&hdr)
        .map_err(|e| TestCaseError::fail(format!("{hdr:?} refused: {e}")))?;
    let valid = agreed.has(Features::GUEST_CSUM)
        && meta.ip_checksum.is_valid()
        && meta.l4_checksum.is_valid();
    let state = if valid {
        RxChecksumState::Good
    } else {
        RxChecksumState::Unknown
    };
    prop_assert_eq!(
        back,
        RxMetadata {
            ip_checksum: state,
            l4_checksum: state,
            ..RxMetadata::default()
        }
    );
    let legacy = !agreed
        .features()
        .intersects(Features::VERSION_1.with(Features::MRG_RXBUF))
        && !agreed.has(Features::HASH_REPORT)
        && !agreed.tunnel();
    let expected = if legacy {
        0
    } else if agreed.has(Features::MRG_RXBUF) {
        num_buffers.get()
    } else {
        1
    };
    prop_assert_eq!(n, expected);
    prop_assert_eq!(hdr.gso_type, GsoType::NONE);
    Ok(())
}

/// L10c (F5): a device offer made from an endpoint's support, fully accepted, never lets a guest
/// ask more than the support has.
pub fn offer_within_support(s: &TxOffloadSupport) -> Result<(), TestCaseError> {
    let offer = Features::device_offer(s);
    let agreed = virtio::negotiate(offer, offer)
        .map_err(|e| TestCaseError::fail(format!("{offer:?}: {e}")))?;
    let back = agreed.tx_offload_support();
    for (name, got, had) in [
        ("ipv4_header", back.ipv4_header, s.ipv4_header),
        ("tcp", back.tcp, s.tcp),
        ("udp", back.udp, s.udp),
        ("tso", back.tso, s.tso),
        ("uso", back.uso, s.uso),
    ] {
        prop_assert!(!got || had, "{name}: {s:?} -> {offer:?} -> {back:?}");
    }
    Ok(())
}

/// L10d (F7): the TUNSETOFFLOAD bits of any agreement keep TUN's acceptance rule (T10, written
/// out: known bits only; every other bit with CSUM; TSO_ECN with TSO4 or TSO6; USO4 and USO6
/// together; the tunnel bit with TSO4, TSO6 or USO; its checksum bit with it).
pub fn tap_offloads_keep_t10(agreed: Agreed) -> Result<(), TestCaseError> {
    let t = agreed.tap_offloads();
    prop_assert_eq!(t & !0x1ff, 0);
    prop_assert!(t == 0 || t & 0x01 != 0, "{t:#x}");
    prop_assert!(t & 0x08 == 0 || t & 0x06 != 0, "{t:#x}");
    prop_assert!(t & 0x60 == 0 || t & 0x60 == 0x60, "{t:#x}");
    prop_assert!(t & 0x80 == 0 || t & 0x66 != 0, "{t:#x}");
    prop_assert!(t & 0x100 == 0 || t & 0x80 != 0, "{t:#x}");
    prop_assert_eq!(t & 0x01 != 0, agreed.has(Features::GUEST_CSUM));
    Ok(())
}

/// L10e (F6): `admit` only refuses or clears: what it returns it returns unchanged a second time,
/// and a header that metadata makes (M2-M5) under an agreement with the HOST_ features its GSO
/// type needs is admitted as it is.
pub fn admit_clears_only(agreed: Agreed, hdr: &VnetHdr) -> Result<(), TestCaseError> {
    if let Ok(once) = agreed.admit(hdr) {
        prop_assert_eq!(agreed.admit(&once), Ok(once));
        prop_assert_eq!(once.num_buffers, 0);
        if !once.flags.contains(Flags::NEEDS_CSUM) {
            prop_assert_eq!((once.csum_start, once.csum_offset), (0, 0));
        }
    }
    Ok(())
}

/// L10e, the metadata side: `to_header(m)` is admitted unchanged when the agreement has CSUM and
/// the selected rule's HOST_ feature.
pub fn admit_keeps_metadata_headers(
    agreed: Agreed,
    m: &vnet_core::meta::TxMetadata,
) -> Result<(), TestCaseError> {
    let Ok(hdr) = vnet_core::meta::to_header(m) else {
        return Ok(());
    };
    let needed = match (TxRule::of(m), hdr.gso_type) {
        (TxRule::None, _) => Features::EMPTY,
        (TxRule::Tso, GsoType::TCPV4) => Features::CSUM.with(Features::HOST_TSO4),
        (TxRule::Tso, _) => Features::CSUM.with(Features::HOST_TSO6),
        (TxRule::Uso, _) => Features::CSUM.with(Features::HOST_USO),
        _ => Features::CSUM,
    };
    if agreed.has(needed) {
        prop_assert_eq!(agreed.admit(&hdr), Ok(hdr));
    } else {
        prop_assert!(agreed.admit(&hdr).is_err());
    }
    Ok(())
}
