//! L2 and fast == reference for the checksums `vnet_host::fastsum` can pick: vnet-core's AVX2 and
//! AVX-512 builds of its sums must equal the RFC 1071 reference exactly, at every length and
//! alignment, and GSO through them must write the portable build's bytes. Miri cannot run AVX2 or
//! AVX-512, so these native runs are their proof. Each test runs on every build this CPU has and
//! says loudly (on stderr) which it skipped; on a CPU with neither, they test the portable build.

use proptest::prelude::*;
use vnet_host::fastsum::FastSum;
#[cfg(target_arch = "x86_64")]
use vnet_host::fastsum::{Avx2, Avx512};
use vnet_spec::laws::csum::{combine_of_parts, copy_and_sum_is_sum, sum_matches, sweep};
use vnet_spec::laws::gso as law;
use vnet_spec::laws::{Core, CoreWith};
use vnet_spec::model::Reference;
use vnet_spec::strategy::hdr::bytes_any;
use vnet_spec::strategy::packet::super_packet_any;

/// A jumbo frame's worth (9000) plus one, as in spec's L2 sweep.
const SWEEP: usize = 9001;

/// Every vector build this CPU can run (the portable build, which spec's L2 tests, if none).
fn builds() -> Vec<FastSum> {
    let mut all = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        match Avx2::detect() {
            Some(a) => all.push(FastSum::Avx2(a)),
            None => eprintln!("SKIPPED: this CPU has no AVX2, the avx2 sum is not tested"),
        }
        match Avx512::detect() {
            Some(a) => all.push(FastSum::Avx512(a)),
            None => {
                eprintln!("SKIPPED: this CPU has no AVX-512 F+BW, the avx512 sum is not tested")
            }
        }
    }
    if all.is_empty() {
        all.push(FastSum::detect());
    }
    all
}

/// Runs `test` on every build of [`builds`], naming each.
fn each(mut test: impl FnMut(CoreWith<FastSum>)) {
    for f in builds() {
        eprintln!("testing the {} sum", f.name());
        test(CoreWith(f));
    }
}

/// On this CI machine (x86-64 with AVX2, and AVX-512 on the development machine) the widest build
/// is what `detect` picks.
#[test]
#[cfg(target_arch = "x86_64")]
fn widest_build_is_detected_where_the_cpu_has_it() {
    let name = FastSum::detect().name();
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
    {
        assert_eq!(name, "avx512");
    } else if std::arch::is_x86_feature_detected!("avx2") {
        assert_eq!(name, "avx2");
    }
}

/// L2a (C1), exhaustively: sum == reference for every length 0..=9001 at every alignment 0..8,
/// over fixed random data and all-0xFF data (the most carries).
#[test]
fn l2_fast_sum_every_length_and_alignment() {
    each(|f| sweep(0..=SWEEP, |data, _| sum_matches(&f, &Reference, data)));
}

/// L2b, exhaustively: copy_and_sum copies exactly and returns the sum, every length 0..=9001 at
/// every source alignment (the destination at one that varies with both), over random and
/// all-0xFF data.
#[test]
fn l2_fast_copy_and_sum_every_length() {
    each(|f| {
        sweep(0..=SWEEP, |data, dst_offset| {
            copy_and_sum_is_sum(&f, data, dst_offset)?;
            sum_matches(&f, &Reference, data)
        })
    });
}

/// L2a at 64 KiB and beyond (a whole super-packet and more), all alignments.
#[test]
fn l2_fast_sum_large() {
    each(|f| {
        sweep(
            [65535, 65536, 65537, 131_071, 200_000],
            |data, dst_offset| {
                sum_matches(&f, &Reference, data)?;
                copy_and_sum_is_sum(&f, data, dst_offset)
            },
        )
    });
}

proptest! {
    #![proptest_config(vnet_spec::config("fastsum_l2"))]

    /// L2a-c on random data: sum == reference, the fused copy, and pieces combined at any offset.
    #[test]
    fn l2_fast_random(data in bytes_any(SWEEP + 8), offset in 0usize..8, dst_offset in 0usize..64, cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let offset = offset.min(data.len());
        for f in builds().into_iter().map(CoreWith) {
            sum_matches(&f, &Reference, &data[offset..])?;
            copy_and_sum_is_sum(&f, &data[offset..], dst_offset)?;
            combine_of_parts(&f, &data[offset..], &cuts)?;
        }
    }
}

proptest! {
    #![proptest_config(vnet_spec::config("fastsum_gso"))]

    /// GSO through each fast sum writes exactly the portable build's bytes (and so, by spec's
    /// laws, the reference model's), and its segments are valid (L4).
    #[test]
    fn gso_fast_equals_portable(sp in super_packet_any()) {
        for fast in builds().into_iter().map(CoreWith) {
            let r = law::agree(&Core, &fast, &sp.hdr, &sp.pkt, &sp.opts);
            prop_assert!(r.is_ok(), "{}: {}", fast.0.name(), r.unwrap_err());
            let r = law::valid_output(&fast, &sp.hdr, &sp.pkt, &sp.opts);
            prop_assert!(r.is_ok(), "{}: {}", fast.0.name(), r.unwrap_err());
        }
    }
}

/// The `csum` fuzz target's check of the vector builds (`vnet_spec::fuzzing::csum_with`) over its
/// committed corpus, as `spec/tests/fuzz_corpus.rs` replays the portable law.
#[test]
fn csum_corpus_through_every_build() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/csum");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the csum corpus")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    assert!(
        files.len() >= 10,
        "{}: only {} files",
        dir.display(),
        files.len()
    );
    each(|f| {
        for path in &files {
            vnet_spec::fuzzing::csum_with(f.0, &std::fs::read(path).unwrap());
        }
    });
    eprintln!("{} csum corpus files through each build", files.len());
}
