//! Law L9 (F2-F9): virtio feature negotiation over any pair of 128-bit sets, and what an
//! agreement implies for headers, metadata and TUNSETOFFLOAD. Feature words are plain integers,
//! not parsed bytes: proptest over all pairs covers them (no fuzz target).

use std::num::NonZeroU16;

use proptest::prelude::*;
use vnet_core::meta::TxOffloadSupport;
use vnet_core::virtio::{self, Agreed, Features};
use vnet_spec::laws::virtio::{
    admit_clears_only, admit_keeps_metadata_headers, negotiation, offer_within_support,
    rx_header_round_trip, tap_offloads_keep_t10,
};
use vnet_spec::strategy::hdr::{vnet_hdr_any, vnet_hdr_plausible};
use vnet_spec::strategy::meta::tx_metadata_representable;
use vnet_spec::strategy::virtio::{features_valid, offer_and_accept, rx_metadata_any};

fn agreed(f: Features) -> Agreed {
    virtio::negotiate(f, f).expect("features_valid keeps F2")
}

proptest! {
    #![proptest_config(vnet_spec::config("l10_virtio"))]

    /// L10a (F2, F3): negotiate accepts exactly the valid pairs, and names the first broken check.
    #[test]
    fn l10a_negotiation((offer, accept) in offer_and_accept()) {
        negotiation(offer, accept)?;
    }

    /// L10b (F8, F9): receive metadata -> header -> metadata keeps what the header carries.
    #[test]
    fn l10b_rx_header_round_trip(f in features_valid(), m in rx_metadata_any(), n in 1u16..) {
        rx_header_round_trip(agreed(f), &m, NonZeroU16::new(n).unwrap())?;
    }

    /// L10d (F7): TUNSETOFFLOAD bits of any agreement keep T10.
    #[test]
    fn l10d_tap_offloads_keep_t10(f in features_valid()) {
        tap_offloads_keep_t10(agreed(f))?;
    }

    /// L10e (F6): admit refuses or clears, and keeps the headers metadata makes.
    #[test]
    fn l10e_admit(
        f in features_valid(),
        h in prop_oneof![vnet_hdr_any(), vnet_hdr_plausible()],
        m in tx_metadata_representable(),
    ) {
        admit_clears_only(agreed(f), &h)?;
        admit_keeps_metadata_headers(agreed(f), &m)?;
    }
}

/// L10c (F5), exhaustive over the 32 supports.
#[test]
fn l10c_offer_within_support() {
    for bits in 0u8..32 {
        let s = TxOffloadSupport {
            ipv4_header: bits & 1 != 0,
            tcp: bits & 2 != 0,
            udp: bits & 4 != 0,
            tso: bits & 8 != 0,
            uso: bits & 16 != 0,
        };
        offer_within_support(&s).unwrap();
    }
}

/// L10a-L10d, exhaustive over the dependency table's 17 bits (131,072 sets): every set is
/// negotiated against itself and the full offer, and every valid one through L10b and L10d.
#[test]
fn l10_every_combination_of_the_dependency_table() {
    let bits: Vec<u128> = (0..128u32)
        .map(|n| 1u128 << n)
        .filter(|b| Features::DEPENDENT.contains(Features(*b)))
        .collect();
    let meta = vnet_core::meta::RxMetadata {
        ip_checksum: vnet_core::meta::RxChecksumState::Good,
        l4_checksum: vnet_core::meta::RxChecksumState::Good,
        ..Default::default()
    };
    for combo in 0u32..(1 << bits.len()) {
        let set = Features(
            bits.iter()
                .enumerate()
                .filter(|(i, _)| combo & (1 << i) != 0)
                .map(|(_, b)| *b)
                .sum(),
        );
        negotiation(set, set).unwrap();
        negotiation(Features::DEPENDENT, set).unwrap();
        if let Ok(a) = virtio::negotiate(set, set) {
            rx_header_round_trip(a, &meta, NonZeroU16::MIN).unwrap();
            tap_offloads_keep_t10(a).unwrap();
        }
    }
}
