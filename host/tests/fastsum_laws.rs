//! L2 and fast == reference for the checksum `vnet_host::fastsum` picks (AVX2 on a CPU that has
//! it): vnet-core's AVX2 build of its sums must equal the RFC 1071 reference exactly, at every
//! length and alignment, and GSO through it must write the portable build's bytes. Miri cannot run
//! AVX2, so these native runs are its proof; on a CPU without AVX2 they test the portable build.

use proptest::prelude::*;
use vnet_host::fastsum::FastSum;
use vnet_spec::laws::csum::{combine_of_parts, copy_and_sum_is_sum, sum_matches, sweep};
use vnet_spec::laws::gso as law;
use vnet_spec::laws::{Core, CoreWith};
use vnet_spec::model::Reference;
use vnet_spec::strategy::hdr::bytes_any;
use vnet_spec::strategy::packet::super_packet_any;

/// A jumbo frame's worth (9000) plus one, as in spec's L2 sweep.
const SWEEP: usize = 9001;

fn fast() -> CoreWith<FastSum> {
    let f = FastSum::detect();
    eprintln!("testing the {} sum", f.name());
    CoreWith(f)
}

/// On this CI machine (x86-64 with AVX2) the AVX2 build is what is under test.
#[test]
#[cfg(target_arch = "x86_64")]
fn avx2_is_detected_where_the_cpu_has_it() {
    if std::arch::is_x86_feature_detected!("avx2") {
        assert_eq!(FastSum::detect().name(), "avx2");
    }
}

/// L2a (C1), exhaustively: sum == reference for every length 0..=9001 at every alignment 0..8,
/// over fixed random data and all-0xFF data (the most carries).
#[test]
fn l2_fast_sum_every_length_and_alignment() {
    let f = fast();
    sweep(0..=SWEEP, |data, _| sum_matches(&f, &Reference, data));
}

/// L2b, exhaustively: copy_and_sum copies exactly and returns the sum, every length 0..=9001 at
/// every source alignment (the destination at one that varies with both), over random and
/// all-0xFF data.
#[test]
fn l2_fast_copy_and_sum_every_length() {
    let f = fast();
    sweep(0..=SWEEP, |data, dst_offset| {
        copy_and_sum_is_sum(&f, data, dst_offset)?;
        sum_matches(&f, &Reference, data)
    });
}

/// L2a at 64 KiB and beyond (a whole super-packet and more), all alignments.
#[test]
fn l2_fast_sum_large() {
    let f = fast();
    sweep(
        [65535, 65536, 65537, 131_071, 200_000],
        |data, dst_offset| {
            sum_matches(&f, &Reference, data)?;
            copy_and_sum_is_sum(&f, data, dst_offset)
        },
    );
}

proptest! {
    #![proptest_config(vnet_spec::config("fastsum_l2"))]

    /// L2a-c on random data: sum == reference, the fused copy, and pieces combined at any offset.
    #[test]
    fn l2_fast_random(data in bytes_any(SWEEP + 8), offset in 0usize..8, dst_offset in 0usize..64, cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let f = fast();
        let offset = offset.min(data.len());
        sum_matches(&f, &Reference, &data[offset..])?;
        copy_and_sum_is_sum(&f, &data[offset..], dst_offset)?;
        combine_of_parts(&f, &data[offset..], &cuts)?;
    }
}

proptest! {
    #![proptest_config(vnet_spec::config("fastsum_gso"))]

    /// GSO through the fast sum writes exactly the portable build's bytes (and so, by spec's
    /// laws, the reference model's), and its segments are valid (L4).
    #[test]
    fn gso_fast_equals_portable(sp in super_packet_any()) {
        let fast = CoreWith(FastSum::detect());
        let r = law::agree(&Core, &fast, &sp.hdr, &sp.pkt, &sp.opts);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
        let r = law::valid_output(&fast, &sp.hdr, &sp.pkt, &sp.opts);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}
