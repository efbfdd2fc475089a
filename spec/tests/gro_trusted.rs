//! GRO with checksums trusted (G10), as the kernel's GRO treats CHECKSUM_UNNECESSARY packets:
//! law L16 (where every checksum holds, trusting changes nothing) and what trusting does to a
//! train with a bad checksum. Fast == reference and L11 under trust run in `gro.rs`, whose
//! option strategy draws `Checksums` too.

use proptest::prelude::*;
use vnet_core::gro::{Checksums, GroOptions, LINUX_HELD_FLOWS, Policy};
use vnet_core::hdr::VnetHdr;
use vnet_spec::laws::gro::{self as laws, Coalesce, CoreGro};
use vnet_spec::model::gro::{ReferenceGro, checksum_holds};
use vnet_spec::packet::{PacketSpec, build_with_incrementing_ids};
use vnet_spec::strategy::train::train_any;

type Gro = CoreGro<LINUX_HELD_FLOWS>;

fn trusted(opts: GroOptions) -> GroOptions {
    opts.with_checksums(Checksums::Trusted)
}

vnet_spec::law_tests! {
    /// L16: on a train whose checksums all hold, trusting them gives what verifying gives
    /// (outputs, order, headers, bytes), in vnet-core and in the reference model.
    fn l16_trusting_good_checksums_changes_nothing(
        mut batch in train_any(),
        relax in any::<bool>(),
        udp in any::<bool>(),
        kernel in 0u8..4,
    ) {
        batch.retain(|b| checksum_holds(b));
        let policy = if relax { Policy::Relaxed } else { Policy::Linux };
        let kernel = vnet_spec::kernels::kernel_from_index(kernel, 128);
        let opts = GroOptions::new().with_policy(policy).with_udp(udp).with_kernel(kernel);
        laws::agree(&Gro::new(opts), &Gro::new(trusted(opts)), &batch)?;
        laws::agree(&ReferenceGro::new(opts), &ReferenceGro::new(trusted(opts)), &batch)?;
    }
}

/// Three back-to-back segments of one flow.
fn train(v6: bool) -> Vec<Vec<u8>> {
    build_with_incrementing_ids(&mut [
        PacketSpec::gro_selftest(v6, 100, 0),
        PacketSpec::gro_selftest(v6, 100, 100),
        PacketSpec::gro_selftest(v6, 100, 200),
    ])
}

/// Verifying hands a segment whose checksum fails on alone (G1); trusting merges it with the
/// others into one packet with the header of a good train's merge (its partial checksum is the
/// pseudo-header's, G6, so nothing of the bad checksum survives), as the reference does.
#[test]
fn a_bad_checksum_is_merged_when_trusted_and_handed_on_when_verified() {
    for v6 in [false, true] {
        let good = train(v6);
        let mut batch = good.clone();
        let payload_at = if v6 { 40 } else { 20 } + 20;
        batch[1][payload_at] ^= 0x5a;
        assert!(!checksum_holds(&batch[1]));

        let verified = Gro::new(GroOptions::new()).coalesce(&batch);
        let members: Vec<&Vec<usize>> = verified.iter().map(|(_, _, m)| m).collect();
        assert!(
            verified
                .iter()
                .any(|(h, _, m)| *h == VnetHdr::default() && *m == vec![1]),
            "v6 {v6}: verified, the corrupted segment goes alone: {members:?}"
        );

        let opts = trusted(GroOptions::new());
        let merged = Gro::new(opts).coalesce(&batch);
        assert_eq!(merged, ReferenceGro::new(opts).coalesce(&batch), "v6 {v6}");
        let [(hdr, bytes, members)] = &merged[..] else {
            panic!("v6 {v6}: trusted, one merged packet: {merged:?}");
        };
        assert_eq!(members, &vec![0, 1, 2], "v6 {v6}");
        let clean = Gro::new(GroOptions::new()).coalesce(&good);
        assert_eq!(clean.len(), 1, "v6 {v6}: the good train merges");
        assert_eq!(*hdr, clean[0].0, "v6 {v6}: the good train's header");
        assert_eq!(bytes.len(), clean[0].1.len(), "v6 {v6}");
        assert_eq!(
            bytes[..payload_at],
            clean[0].1[..payload_at],
            "v6 {v6}: headers"
        );
    }
}
