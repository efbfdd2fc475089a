//! Law L7: vnet-core's public functions are total: on arbitrary bytes and headers they return
//! `Ok` (in bounds) or a typed error, and never panic.

use proptest::prelude::*;
use vnet_spec::laws::total::{check_every_option, header_read, meta_translations, wire_views};
use vnet_spec::strategy::hdr::{bytes_any, vnet_hdr_any, vnet_hdr_plausible};
use vnet_spec::strategy::meta::{
    frame_any, hdr_frame_near_valid, tx_metadata_any, tx_metadata_representable,
};

vnet_spec::law_tests! {
    /// L7 (R1-R14): VnetHdr::read on any bytes, every layout and byte order.
    fn l7_header_read(bytes in bytes_any(40)) {
        header_read(&bytes)?;
    }

    /// L7 (V1-V8, T14, P4-P9): check::check on any header and packet, every mode, link and option.
    fn l7_check(
        (hdr, pkt) in prop_oneof![
            (prop_oneof![vnet_hdr_any(), vnet_hdr_plausible()], frame_any()),
            hdr_frame_near_valid().prop_map(|(h, f, _)| (h, f)),
        ],
        udp_max_segments in any::<u16>(),
    ) {
        check_every_option(&hdr, &pkt, udp_max_segments)?;
    }

    /// L7: every wire view (checked and unchecked) and parse_headers on any bytes.
    fn l7_wire(bytes in frame_any()) {
        wire_views(&bytes)?;
    }

    /// L7 (M1-M10): the meta translations and fix-ups on any metadata, header and frame.
    fn l7_meta(
        m in prop_oneof![tx_metadata_any(), tx_metadata_representable()],
        (hdr, frame) in prop_oneof![
            (prop_oneof![vnet_hdr_any(), vnet_hdr_plausible()], frame_any()),
            hdr_frame_near_valid().prop_map(|(h, f, _)| (h, f)),
        ],
        l2_len in any::<usize>(),
    ) {
        meta_translations(&m, &hdr, &frame, l2_len)?;
    }
}
