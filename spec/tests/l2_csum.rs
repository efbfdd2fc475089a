//! Law L2 (C1-C5): checksum arithmetic. vnet-core's fast sum against the RFC 1071 reference loop,
//! and every other law for both vnet-core and the reference model.

use proptest::prelude::*;
use vnet_spec::laws::Core;
use vnet_spec::laws::csum::{
    combine_of_parts, copy_and_sum_is_sum, finished_verifies, pseudo_headers_agree, sum_matches,
    sweep, update_is_recomputation,
};
use vnet_spec::model::Reference;
use vnet_spec::strategy::hdr::bytes_any;

/// A jumbo frame's worth (9000) plus the 8 alignments plus one.
const SWEEP: usize = 9001;

/// L2a (C1), exhaustively: fast sum == reference for every length 0..=9001 at every alignment
/// 0..8, over fixed random data and over all-0xFF data (the most carries).
#[test]
fn l2_sum_every_length_and_alignment() {
    sweep(0..=SWEEP, |data, _| sum_matches(&Core, &Reference, data));
}

/// L2b, exhaustively: copy_and_sum == sum for every length 0..=2048 at every source alignment,
/// the destination at an alignment that varies with both.
#[test]
fn l2_copy_and_sum_every_length() {
    sweep(0..=2048, |data, dst_offset| {
        copy_and_sum_is_sum(&Core, data, dst_offset)
    });
}

vnet_spec::law_tests! {
    /// L2a (C1): fast sum == reference on random data of random length and alignment.
    fn l2_sum_matches_reference(data in bytes_any(SWEEP + 8), offset in 0usize..8) {
        let offset = offset.min(data.len());
        sum_matches(&Core, &Reference, &data[offset..])?;
    }

    /// L2b: copy_and_sum copies exactly and returns the sum of what it copied.
    fn l2_copy_and_sum(data in bytes_any(4096), dst_offset in 0usize..64) {
        copy_and_sum_is_sum(&Core, &data, dst_offset)?;
        copy_and_sum_is_sum(&Reference, &data, dst_offset)?;
    }

    /// L2c (C1): sums of pieces cut anywhere (odd offsets too), combined, equal the whole's.
    fn l2_combine_of_parts(data in bytes_any(600), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        combine_of_parts(&Core, &data, &cuts)?;
        combine_of_parts(&Reference, &data, &cuts)?;
    }

    /// L2d (C5): an RFC 1624 update equals recomputation, up to 0x0000/0xFFFF.
    fn l2_incremental_update(data in bytes_any(200), at in any::<usize>(), new in any::<u16>()) {
        update_is_recomputation(&Core, &data, at, new)?;
        update_is_recomputation(&Reference, &data, at, new)?;
    }

    /// L2e (C2): vnet-core's IPv4 and IPv6 pseudo-headers == the model's byte layouts.
    fn l2_pseudo_headers(
        src4 in any::<[u8; 4]>(),
        dst4 in any::<[u8; 4]>(),
        src6 in any::<[u8; 16]>(),
        dst6 in any::<[u8; 16]>(),
        protocol in any::<u8>(),
        l4_len in any::<u32>(),
    ) {
        pseudo_headers_agree(&Core, &Reference, src4, dst4, &src6, &dst6, protocol, l4_len)?;
    }

    /// L2f (C1, C3): data with its finished checksum stored sums to 0xFFFF, with or without a
    /// pseudo-header seed.
    fn l2_finished_checksums_verify(data in bytes_any(300), at in any::<usize>(), seed in any::<u16>()) {
        finished_verifies(&Core, &data, at, seed)?;
        finished_verifies(&Reference, &data, at, seed)?;
    }
}
