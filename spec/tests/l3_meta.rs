//! Law L3 (M1-M8): offload metadata and the virtio-net header translate into each other without
//! loss, except for what `laws::meta::representable_part` names.

use proptest::prelude::*;
use vnet_spec::laws::Core;
use vnet_spec::laws::meta::{header_round_trip, header_shape, metadata_round_trip, rx_rule};
use vnet_spec::strategy::hdr::{vnet_hdr_any, vnet_hdr_plausible};
use vnet_spec::strategy::meta::{tx_case_representable, tx_metadata_any};

vnet_spec::law_tests! {
    /// L3a (M1-M7): from_header(to_header(m), frame) == representable_part(m) for representable
    /// metadata and a frame that matches it.
    fn l3_metadata_round_trip(case in tx_case_representable()) {
        metadata_round_trip(&Core, &case)?;
    }

    /// L3b (M1-M7): header -> metadata -> header is the identity for headers from metadata.
    fn l3_header_round_trip(case in tx_case_representable()) {
        header_round_trip(&Core, &case)?;
    }

    /// L3c (M2-M5): any metadata that translates gives one of the four header shapes or zero.
    fn l3_header_shape(m in tx_metadata_any()) {
        header_shape(&Core, &m)?;
    }

    /// L3d (M8): DATA_VALID -> Good/Good, else Unknown/Unknown; protocol from the GSO type.
    fn l3_rx_metadata(hdr in prop_oneof![vnet_hdr_any(), vnet_hdr_plausible()]) {
        rx_rule(&Core, &hdr)?;
    }
}
