//! The GSO laws (ARCHITECTURE.md, 'Laws': L4, fast == reference, L7) run against vnet-core and the
//! reference model.

use proptest::collection::vec;
use proptest::prelude::*;
use vnet_core::check::{self, Offload};
use vnet_spec::laws::Core;
use vnet_spec::laws::gso::{self as law, check_options};
use vnet_spec::model::Reference;
use vnet_spec::strategy::packet::{SuperPacket, super_packet_any, vnet_hdr_any};

fn request(sp: &SuperPacket) -> Option<check::GsoRequest> {
    match check::check(&sp.hdr, &sp.pkt, &check_options(&sp.opts)) {
        Ok(Offload::Segment(req)) => Some(req),
        _ => None,
    }
}

/// `pkt` with the byte at `at` (if it has any) set to `byte`.
fn with_byte(pkt: &[u8], at: prop::sample::Index, byte: u8) -> Vec<u8> {
    let mut pkt = pkt.to_vec();
    if !pkt.is_empty() {
        let i = at.index(pkt.len());
        pkt[i] = byte;
    }
    pkt
}

proptest! {
    #![proptest_config(vnet_spec::config("gso"))]

    /// L4: vnet-core's segments are valid and are what S1-S3 say.
    #[test]
    fn l4_core_segments_are_valid(sp in super_packet_any()) {
        law::valid_output(&Core, &sp.hdr, &sp.pkt, &sp.opts)?;
    }

    /// L4 holds for the model too (the reference is checked against the laws, not only trusted).
    #[test]
    fn l4_model_segments_are_valid(sp in super_packet_any()) {
        law::valid_output(&Reference, &sp.hdr, &sp.pkt, &sp.opts)?;
    }

    /// Fast == reference on valid super-packets, byte for byte.
    #[test]
    fn core_equals_model(sp in super_packet_any()) {
        law::agree(&Core, &Reference, &sp.hdr, &sp.pkt, &sp.opts)?;
    }

    /// Fast == reference, and L7, on a super-packet with one byte changed and any header: both
    /// transmit the same bytes or both refuse, and neither panics.
    #[test]
    fn core_equals_model_on_mutated_input(
        sp in super_packet_any(),
        hdr in vnet_hdr_any(),
        use_hdr in any::<bool>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let pkt = with_byte(&sp.pkt, at, byte);
        let h = if use_hdr { hdr } else { sp.hdr };
        law::total(&Core, &h, &pkt, &sp.opts)?;
        law::agree(&Core, &Reference, &h, &pkt, &sp.opts)?;
    }

    /// L7: arbitrary header and bytes never panic, and the output is bounded.
    #[test]
    fn l7_arbitrary_bytes(sp in super_packet_any(), hdr in vnet_hdr_any(), bytes in vec(any::<u8>(), 0..300)) {
        law::total(&Core, &hdr, &bytes, &sp.opts)?;
    }

    /// L7 + S5: any buffer sizes around the true ones, inside canaries; nothing written outside a
    /// buffer, nothing at all on failure, the cursor's bytes on success.
    #[test]
    fn l7_s5_buffers_and_canaries(
        sp in super_packet_any(),
        deltas in vec(prop_oneof![Just(0i8), -3i8..=3, any::<i8>()], 1..4),
        extra in -1i8..=1,
    ) {
        if let Some(req) = request(&sp) {
            law::canary(&req, &sp.pkt, &sp.opts, &deltas, extra)?;
        }
    }

    /// L9: the iovec form (S6) of a super-packet whole (one slice: its own path, the usual
    /// case) and cut anywhere into 1..=6 slices equals the contiguous form, refusals included;
    /// S5 for its header buffer and stride.
    #[test]
    fn l9_iovec_equals_contiguous(
        sp in super_packet_any(),
        cuts in vec(any::<usize>(), 0..6),
        gap in prop_oneof![Just(0usize), 1usize..40],
    ) {
        if let Some(req) = request(&sp) {
            law::iovec_equals_contiguous(&req, &sp.pkt, &[&sp.pkt], &sp.opts, gap)?;
            let pieces = law::cut(&sp.pkt, &cuts);
            law::iovec_equals_contiguous(&req, &sp.pkt, &pieces, &sp.opts, gap)?;
        }
    }

    /// L9 on refusals: the request of one packet applied to the same packet with one byte
    /// changed, or to another packet, cut anywhere: the iovec form refuses exactly when, and
    /// with what, the contiguous form does.
    #[test]
    fn l9_iovec_refusals_equal_contiguous(
        a in super_packet_any(),
        b in super_packet_any(),
        other in any::<bool>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cuts in vec(any::<usize>(), 0..6),
    ) {
        if let Some(req) = request(&a) {
            let pkt = with_byte(if other { &b.pkt } else { &a.pkt }, at, byte);
            let opts = if other { b.opts } else { a.opts };
            let pieces = law::cut(&pkt, &cuts);
            law::iovec_equals_contiguous(&req, &pkt, &pieces, &opts, 3)?;
        }
    }

    /// L7: a request from another packet (the caller may mix them up) is refused or honoured,
    /// never a panic or a write outside the buffers.
    #[test]
    fn l7_request_from_another_packet(
        a in super_packet_any(),
        b in super_packet_any(),
        deltas in vec(-2i8..=2, 1..3),
    ) {
        if let Some(req) = request(&a) {
            law::canary(&req, &b.pkt, &b.opts, &deltas, 0)?;
        }
    }
}

/// L4, fast == reference and L9 (the iovec form, whole and cut) on UDP-tunnel super-packets alone (S3b): outer IPv4/IPv6 on TAP
/// and TUN, inner TCPv4/TCPv6/USO, UDP_TUNNEL_CSUM on and off; most of them must really be
/// segmented.
#[test]
fn tunnel_l4_and_core_equals_model() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use vnet_core::hdr::{Flags, GsoType};
    let mut runner = TestRunner::deterministic();
    let strategy = vnet_spec::strategy::packet::super_packet_tunnel();
    let (mut segmented, mut csum, mut v6, mut tun) = (0, 0, 0, 0);
    for _ in 0..300 {
        let sp = strategy.new_tree(&mut runner).unwrap().current();
        law::valid_output(&Core, &sp.hdr, &sp.pkt, &sp.opts).unwrap();
        law::valid_output(&Reference, &sp.hdr, &sp.pkt, &sp.opts).unwrap();
        law::agree(&Core, &Reference, &sp.hdr, &sp.pkt, &sp.opts).unwrap();
        if let Some(req) = request(&sp) {
            for cuts in [&[][..], &[1, 77, 140][..], &[sp.pkt.len() / 2, 13][..]] {
                let pieces = law::cut(&sp.pkt, cuts);
                law::iovec_equals_contiguous(&req, &sp.pkt, &pieces, &sp.opts, 5).unwrap();
            }
            assert!(req.tunnel.is_some());
            segmented += 1;
            csum += usize::from(sp.hdr.flags.contains(Flags::UDP_TUNNEL_CSUM));
            v6 += usize::from(sp.hdr.gso_type.tunnel() == GsoType::UDP_TUNNEL_IPV6);
            tun += usize::from(sp.opts.link == vnet_core::wire::Link::Tun);
        }
    }
    assert!(
        segmented > 200 && csum > 50 && v6 > 50 && tun > 50,
        "{segmented} {csum} {v6} {tun}"
    );
}
