//! Strategies for virtio feature sets (F rows) and receive metadata.

use proptest::prelude::*;
use vnet_core::meta::{L4Protocol, RxChecksumState, RxMetadata};
use vnet_core::virtio::Features;

use super::meta::vlan_any;

/// Any 128 bits: almost never a set that keeps F2.
pub fn features_any() -> impl Strategy<Value = Features> {
    any::<u128>().prop_map(Features)
}

/// Any subset of the bits vnet names, with any other bits added at random.
pub fn features_known() -> impl Strategy<Value = Features> {
    (any::<u128>(), any::<u128>(), any::<bool>()).prop_map(|(known, other, noise)| {
        let f = Features(known).and(Features::KNOWN);
        if noise { f.with(Features(other)) } else { f }
    })
}

/// A set that keeps F2: a known subset reduced by `Features::closure`.
pub fn features_valid() -> impl Strategy<Value = Features> {
    features_known().prop_map(Features::closure)
}

/// A device offer and a driver acceptance: any bits, known subsets, or a valid offer with a
/// subset of it (valid or not) accepted, so that every branch of `negotiate` is reached.
pub fn offer_and_accept() -> impl Strategy<Value = (Features, Features)> {
    prop_oneof![
        1 => (features_any(), features_any()),
        2 => (features_known(), features_known()),
        4 => (features_valid(), any::<u128>(), any::<bool>()).prop_map(|(offer, mask, close)| {
            let accept = offer.and(Features(mask));
            (offer, if close { accept.closure() } else { accept })
        }),
    ]
}

fn checksum_state() -> impl Strategy<Value = RxChecksumState> {
    prop_oneof![
        Just(RxChecksumState::Unknown),
        Just(RxChecksumState::Good),
        Just(RxChecksumState::Bad),
        Just(RxChecksumState::ValidatedButWrong),
    ]
}

/// Any receive metadata.
pub fn rx_metadata_any() -> impl Strategy<Value = RxMetadata> {
    (
        checksum_state(),
        checksum_state(),
        prop_oneof![
            Just(L4Protocol::Unknown),
            Just(L4Protocol::Tcp),
            Just(L4Protocol::Udp)
        ],
        any::<usize>(),
        any::<usize>(),
        vlan_any(),
    )
        .prop_map(
            |(ip_checksum, l4_checksum, l4_protocol, offset, len, vlan)| RxMetadata {
                ip_checksum,
                l4_checksum,
                l4_protocol,
                offset,
                len,
                vlan,
            },
        )
}
