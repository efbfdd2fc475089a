//! GRO: the acceptance table (the kernel selftest's gro.c cases, rules G1-G8, each as the
//! list of delivered payload sizes, for IPv4 and IPv6), named regressions for bugs peers shipped,
//! and the laws on random trains (L5, L6, L7, L11, fast == reference); every table case and
//! regression also runs the iovec form (L11).

use proptest::collection::vec;
use proptest::prelude::*;
use vnet_core::gro::{Checksums, GroOptions, LINUX_HELD_FLOWS, Policy};
use vnet_core::hdr::VnetHdr;
use vnet_core::wire::{self, IpProtocol, Link};
use vnet_spec::gro_selftest::{self, fragment, held_flows_delivery, ids, large};
use vnet_spec::laws::gro::{self as laws, Coalesce, CoreGro, CoreGroTable};
use vnet_spec::laws::hold;
use vnet_spec::model::gro::{Coalesced, ReferenceGro};
use vnet_spec::packet::{PacketSpec, build_with_incrementing_ids, tcp_flags};
use vnet_spec::strategy::train::{super_packet_any, train_any};

fn linux() -> GroOptions {
    GroOptions::default()
}

fn relaxed() -> GroOptions {
    GroOptions {
        policy: Policy::Relaxed,
        ..GroOptions::default()
    }
}

fn with_udp(o: GroOptions) -> GroOptions {
    GroOptions { udp: true, ..o }
}

/// The transport payload length of a TUN packet.
fn payload_len(p: &[u8]) -> usize {
    let h = wire::parse_headers(p, Link::Tun).unwrap();
    let l4 = &p[h.l4_offset..];
    let hl = match h.protocol {
        IpProtocol::TCP => wire::TcpPacket::new_checked(l4).unwrap().header_len(),
        _ => 8,
    };
    l4.len() - hl
}

/// Runs the batch through vnet-core and the model (which must agree), checks the invariants and
/// L5 on it, and returns the delivered payload sizes.
fn sizes_with(opts: GroOptions, batch: &[Vec<u8>]) -> Vec<usize> {
    sizes_on(LINUX_HELD_FLOWS, opts, batch)
}

/// [`sizes_with`] with a table of `flows` (G7).
fn sizes_on(flows: usize, opts: GroOptions, batch: &[Vec<u8>]) -> Vec<usize> {
    let core = CoreGroTable::new(flows, opts);
    let model = ReferenceGro { opts, flows };
    hold(laws::agree(&core, &model, batch));
    hold(laws::gro_then_gso(&core, batch));
    hold(laws::iovec_equals_contiguous(flows, opts, batch));
    core.coalesce(batch)
        .iter()
        .map(|(_, b, _)| payload_len(b))
        .collect()
}

fn sizes(batch: &[Vec<u8>]) -> Vec<usize> {
    sizes_with(linux(), batch)
}

/// The selftest's segment ([`PacketSpec::gro_selftest`]): `len` payload bytes at sequence
/// offset `off`.
fn seg(v6: bool, len: usize, off: u32) -> PacketSpec {
    PacketSpec::gro_selftest(v6, len, off)
}

/// The selftest's segments, each (payload length, sequence offset), built with IPv4 IDs 8, 9, ...
fn train(v6: bool, segs: &[(usize, u32)]) -> Vec<Vec<u8>> {
    let mut specs: Vec<PacketSpec> = segs.iter().map(|&(len, off)| seg(v6, len, off)).collect();
    build_with_incrementing_ids(&mut specs)
}

/// Breaks the TCP checksum of a selftest segment (no IP options or extension headers).
fn break_tcp_checksum(p: &mut [u8], v6: bool) {
    let l4 = if v6 {
        wire::IPV6_HEADER_LEN
    } else {
        wire::IPV4_MIN_HEADER_LEN
    };
    let mut tcp = wire::TcpPacket::new_unchecked(&mut p[l4..]);
    tcp.set_checksum(tcp.checksum() ^ 0x5a00);
}

fn both(case: impl Fn(bool) -> (Vec<Vec<u8>>, Vec<usize>)) {
    for v6 in [false, true] {
        let (batch, want) = case(v6);
        assert_eq!(sizes(&batch), want, "v6 = {v6}");
    }
}

/// Every case of the kernel selftest's table (`vnet_spec::gro_selftest`), on each version it runs
/// on: vnet delivers what Linux does. Every failing case is named.
#[test]
fn gro_selftest_cases() {
    let mut failed = Vec::new();
    for case in gro_selftest::cases() {
        for (v6, want) in case.versions() {
            let got = sizes(&(case.train)(v6));
            if got != want {
                failed.push(format!(
                    "{} (v6 = {v6}): {got:?}, Linux {want:?}",
                    case.name
                ));
            }
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

/// A CWR on the first segment stays on the first only: the merged packet carries the ECN bit.
#[test]
fn cwr_first_merges_with_ecn_bit() {
    let batch = build_with_incrementing_ids(&mut [
        seg(false, 100, 0).with_tcp_flags(tcp_flags::CWR),
        seg(false, 100, 100),
    ]);
    // A CWR segment starting a flow is delivered alone too (it is "never merged").
    assert_eq!(sizes(&batch), vec![100, 100]);
}

/// G3 under Linux, beyond the selftest's ip_id cases (in the table): after a fixed-ID train.
#[test]
fn ip_id_linux() {
    // The fixed-ID train decides what flushes: 9 ends it and starts anew, 10 joins 9.
    assert_eq!(
        sizes(&ids(true, &[8, 8, 9, 10])),
        vec![100, 100, 200],
        "fixed train then incrementing"
    );
}

/// G3 Relaxed: IDs of DF packets are ignored; DF-clear packets must still increment.
#[test]
fn ip_id_relaxed() {
    let r = |b: &[Vec<u8>]| sizes_with(relaxed(), b);
    assert_eq!(r(&ids(true, &[8, 8])), vec![200]);
    assert_eq!(r(&ids(true, &[8, 9, 9])), vec![300]);
    assert_eq!(r(&ids(true, &[8, 8, 9])), vec![300]);
    assert_eq!(r(&ids(true, &[8, 500, 3])), vec![300]);
    assert_eq!(r(&ids(false, &[8, 8])), vec![100, 100]);
    assert_eq!(r(&ids(false, &[8, 9])), vec![200]);
}

// ---- UDP (G1, G4, G6) ----

fn udp(v6: bool, len: usize, i: u16) -> PacketSpec {
    let mut s = if v6 {
        PacketSpec::udp6(len)
    } else {
        PacketSpec::udp4(len)
    };
    s.ip_id = 8 + i;
    s
}

#[test]
fn udp_trains() {
    for v6 in [false, true] {
        let b = |lens: &[usize]| -> Vec<Vec<u8>> {
            lens.iter()
                .enumerate()
                .map(|(i, &l)| udp(v6, l, i as u16).build())
                .collect()
        };
        let u = |lens: &[usize]| sizes_with(with_udp(linux()), &b(lens));
        assert_eq!(u(&[100, 100]), vec![200]);
        // A shorter datagram is merged and ends the train; a larger one starts anew (G4).
        assert_eq!(u(&[100, 50, 100]), vec![150, 100]);
        assert_eq!(u(&[50, 100, 100]), vec![50, 200]);
        // UDP GRO is off by default.
        assert_eq!(sizes(&b(&[100, 100])), vec![100, 100]);
    }
}

/// Regression: a merged UDP datagram with more segments than the kernel accepts (G4: 64).
#[test]
fn regression_udp_segment_cap() {
    let batch: Vec<Vec<u8>> = (0..70).map(|i| udp(false, 10, i).build()).collect();
    let core = CoreGro::<LINUX_HELD_FLOWS>::new(with_udp(linux()));
    let outs = core.coalesce(&batch);
    let counts: Vec<usize> = outs.iter().map(|(_, _, m)| m.len()).collect();
    assert_eq!(counts, vec![64, 6]);
    hold(laws::gro_then_gso(&core, &batch));
    let wide = GroOptions {
        udp_gro_max_segments: 128,
        ..with_udp(linux())
    };
    assert_eq!(sizes_with(wide, &batch), vec![700]);
}

/// Regression: UDP with a zero checksum (IPv4 "none") is never coalesced (G1).
#[test]
fn regression_udp_zero_checksum() {
    let mut batch: Vec<Vec<u8>> = (0..2).map(|i| udp(false, 100, i).build()).collect();
    for p in &mut batch {
        p[26..28].fill(0);
    }
    assert_eq!(sizes_with(with_udp(linux()), &batch), vec![100, 100]);
}

// ---- named regressions for bugs peers shipped ----

#[test]
fn regression_ipv4_options_not_merged() {
    let mut b = [
        PacketSpec {
            ip_options: vec![1, 1, 1, 0],
            ..seg(false, 100, 0)
        },
        PacketSpec {
            ip_options: vec![1, 1, 1, 0],
            ..seg(false, 100, 100)
        },
    ];
    assert_eq!(sizes(&build_with_incrementing_ids(&mut b)), vec![100, 100]);
}

#[test]
fn regression_fragments_not_merged() {
    for offset in [false, true] {
        let mut batch = train(false, &[(100, 0), (100, 100)]);
        for p in &mut batch {
            fragment(p, offset);
        }
        assert_eq!(sizes(&batch), vec![100, 100]);
        if offset {
            // An offset alone (MF clear: the last fragment) is a fragment too.
            for p in &mut batch {
                p[6] &= !0x20;
                fragment(p, true);
                p[6] &= !0x20;
                p[10..12].fill(0);
                let c = vnet_core::csum::finish(vnet_core::csum::sum(&p[..20]));
                p[10..12].copy_from_slice(&c.to_be_bytes());
            }
            assert_eq!(sizes(&batch), vec![100, 100]);
        }
    }
}

#[test]
fn regression_ttl_hop_limit_differ() {
    both(|v6| {
        let mut b = [seg(v6, 100, 0), seg(v6, 100, 100)];
        b[1].ttl = 9;
        (build_with_incrementing_ids(&mut b), vec![100, 100])
    });
}

#[test]
fn regression_v6_flow_labels_differ() {
    let mut b = [seg(true, 100, 0), seg(true, 100, 100), seg(true, 100, 200)];
    b[1].flow_label = 7;
    // Different labels are different flows (G2): the third merges with the first? No: its
    // sequence number does not follow the first's (100 is missing), so three singles.
    assert_eq!(
        sizes(&build_with_incrementing_ids(&mut b)),
        vec![100, 100, 100]
    );
    let mut c = [seg(true, 100, 0), seg(true, 100, 0), seg(true, 100, 100)];
    c[1].flow_label = 7;
    // Flow label 7 is its own flow; the third follows the first.
    assert_eq!(sizes(&build_with_incrementing_ids(&mut c)), vec![200, 100]);
}

#[test]
fn regression_datagram_over_65535() {
    for v6 in [false, true] {
        let batch = large(v6, 1);
        for (_, b, _) in CoreGro::<LINUX_HELD_FLOWS>::new(linux()).coalesce(&batch) {
            assert!(b.len() <= 65535);
        }
        assert_eq!(sizes(&batch)[0], 64576);
    }
}

/// Regression: a segment rejected for its checksum kept a stale header / disturbed the flow.
#[test]
fn regression_bad_checksum_no_stale_header() {
    for v6 in [false, true] {
        // The second segment arrives corrupted, then again intact (same ID, as a resend).
        let mut batch = train(v6, &[(100, 0), (100, 100)]);
        batch.push(batch[1].clone());
        break_tcp_checksum(&mut batch[1], v6);
        let outs = CoreGro::<LINUX_HELD_FLOWS>::new(linux()).coalesce(&batch);
        // The corrupted one is handed on at once, ahead of the held flow (G8).
        let want: Vec<Coalesced> = vec![
            (VnetHdr::default(), batch[1].clone(), vec![1]),
            (outs[1].0, outs[1].1.clone(), vec![0, 2]),
        ];
        assert_eq!(outs, want);
        assert_eq!(sizes(&batch), vec![100, 200]);
    }
}

#[test]
fn regression_pure_acks_not_merged() {
    both(|v6| (train(v6, &[(0, 0), (0, 0)]), vec![0, 0]));
}

/// A pure ACK of a held flow completes it (G4) and goes alone.
#[test]
fn pure_ack_completes_flow() {
    let batch = train(false, &[(100, 0), (0, 100), (100, 100)]);
    assert_eq!(sizes(&batch), vec![100, 0, 100]);
}

/// G1 before G4: a pure ACK that fails its checksum is handed on at once, ahead of the held flow
/// it does not complete (intact, it completes the flow and follows it: `pure_ack_completes_flow`).
/// A segment that cannot be held is verified at its step in the iovec form too.
#[test]
fn bad_pure_ack_leaves_flow_held() {
    for v6 in [false, true] {
        let mut batch = train(v6, &[(100, 0), (0, 100), (100, 100)]);
        break_tcp_checksum(&mut batch[1], v6);
        let outs = CoreGro::<LINUX_HELD_FLOWS>::new(linux()).coalesce(&batch);
        let members: Vec<Vec<usize>> = outs.iter().map(|o| o.2.clone()).collect();
        assert_eq!(members[0], vec![1], "v6 {v6}: the bad ACK first");
        assert_eq!(sizes(&batch)[0], 0, "v6 {v6}");
    }
}

/// The head's buffer has room for one more segment only: the train ends there, no allocation.
#[test]
fn buffer_capacity_ends_train() {
    let batch = train(false, &[(100, 0), (100, 100), (100, 200)]);
    let core = CoreGro::<LINUX_HELD_FLOWS> {
        opts: linux(),
        capacity: batch[0].len() + 100,
    };
    let got: Vec<usize> = core
        .coalesce(&batch)
        .iter()
        .map(|(_, b, _)| payload_len(b))
        .collect();
    assert_eq!(got, vec![200, 100]);
    hold(laws::invariants(&core, &batch));
}

/// A full flow table completes its oldest flow (G1); the model with the same capacity agrees.
#[test]
fn full_table_flushes_oldest() {
    let mut b = Vec::new();
    for k in 0..2u32 {
        for port in 0..3u16 {
            let mut s = seg(false, 100, 100 * k);
            s.src_port = 1000 + port;
            s.ip_id = 8 + k as u16;
            b.push(s.build());
        }
    }
    let core = CoreGro::<2>::new(linux());
    let model = ReferenceGro {
        opts: linux(),
        flows: 2,
    };
    hold(laws::agree(&core, &model, &b));
    let got: Vec<usize> = core
        .coalesce(&b)
        .iter()
        .map(|(_, p, _)| payload_len(p))
        .collect();
    // Flow 2 evicts flow 0; flow 0's second segment evicts flow 1, and so on: nothing merges.
    assert_eq!(got, vec![100; 6]);
    let wide: Vec<usize> = CoreGro::<3>::new(linux())
        .coalesce(&b)
        .iter()
        .map(|(_, p, _)| payload_len(p))
        .collect();
    assert_eq!(wide, vec![200; 3]);
}

/// The random trains are not vacuous: over a fixed sample, many merges of each kind happen.
#[test]
fn trains_merge_often() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let core = CoreGro::<LINUX_HELD_FLOWS>::new(with_udp(linux()));
    let (mut merged, mut tcp6, mut udp, mut singles) = (0, 0, 0, 0);
    for _ in 0..200 {
        let batch = train_any().new_tree(&mut runner).unwrap().current();
        for (h, _, m) in core.coalesce(&batch) {
            if m.len() > 1 {
                merged += 1;
                tcp6 += usize::from(h.gso_type == vnet_core::hdr::GsoType::TCPV6);
                udp += usize::from(h.gso_type == vnet_core::hdr::GsoType::UDP_L4);
            } else {
                singles += 1;
            }
        }
    }
    assert!(
        merged > 200 && tcp6 > 30 && udp > 30 && singles > 200,
        "{merged} {tcp6} {udp} {singles}"
    );
}

#[test]
fn merged_header_g6() {
    let batch = train(false, &[(100, 0), (60, 100)]);
    let outs = CoreGro::<LINUX_HELD_FLOWS>::new(linux()).coalesce(&batch);
    let (h, b, _) = &outs[0];
    assert_eq!(h.flags, vnet_core::hdr::Flags::NEEDS_CSUM);
    assert_eq!(h.gso_type, vnet_core::hdr::GsoType::TCPV4);
    assert_eq!(
        (h.gso_size, h.hdr_len, h.csum_start, h.csum_offset),
        (100, 40, 20, 16)
    );
    assert_eq!(b.len(), 200);
    assert_eq!(u16::from_be_bytes([b[2], b[3]]), 200);
    assert!(vnet_core::csum::verify(&b[..20]));
    let s = seg(false, 0, 0);
    assert_eq!(
        u16::from_be_bytes([b[36], b[37]]),
        s.pseudo_header(180),
        "pseudo-header sum over the merged L4 length"
    );
}

// ---- the laws on random trains ----

/// A flow-table size of `laws::TABLE_SIZES` and options: either policy, UDP on or off, any kernel
/// profile, checksums verified or trusted (G10).
fn table_and_options() -> impl Strategy<Value = (usize, GroOptions)> {
    (
        prop::sample::select(laws::TABLE_SIZES.to_vec()),
        any::<bool>(),
        any::<bool>(),
        0u8..4,
        any::<bool>(),
    )
        .prop_map(|(flows, udp, relax, kernel, trusted)| {
            let base = if relax { relaxed() } else { linux() };
            let kernel = vnet_spec::kernels::kernel_from_index(kernel, 128);
            let checksums = if trusted {
                Checksums::Trusted
            } else {
                Checksums::Verify
            };
            (
                flows,
                GroOptions {
                    udp,
                    kernel,
                    checksums,
                    ..base
                },
            )
        })
}

proptest! {
    #![proptest_config(vnet_spec::config("gro"))]

    #[test]
    fn fast_equals_reference(batch in train_any(), (flows, opts) in table_and_options()) {
        laws::agree(&CoreGroTable::new(flows, opts), &ReferenceGro { opts, flows }, &batch)?;
        laws::agree(&CoreGro::<64>::new(opts), &ReferenceGro { opts, flows: 64 }, &batch)?;
    }

    #[test]
    fn l5_gro_then_gso(batch in train_any(), relax in any::<bool>(), kernel in 0u8..4) {
        let kernel = vnet_spec::kernels::kernel_from_index(kernel, 128);
        let opts = GroOptions { kernel, ..with_udp(if relax { relaxed() } else { linux() }) };
        laws::gro_then_gso(&CoreGro::<LINUX_HELD_FLOWS>::new(opts), &batch)?;
        laws::gro_then_gso(&ReferenceGro::new(opts), &batch)?;
    }

    #[test]
    fn l6_gso_then_gro((hdr, pkt) in super_packet_any(), relax in any::<bool>()) {
        let opts = with_udp(if relax { relaxed() } else { linux() });
        laws::gso_then_gro(&CoreGro::<LINUX_HELD_FLOWS>::new(opts), &hdr, &pkt)?;
        laws::gso_then_gro(&ReferenceGro::new(opts), &hdr, &pkt)?;
    }

    /// L11: the iovec form (G9) equals the contiguous form on every train, table size, policy,
    /// UDP setting and kernel profile.
    #[test]
    fn l11_iovec_equals_contiguous(batch in train_any(), (flows, opts) in table_and_options()) {
        laws::iovec_equals_contiguous(flows, opts, &batch)?;
    }

    #[test]
    fn l7_totality(
        batch in train_any(),
        junk in vec(vec(any::<u8>(), 0..80), 0..4),
        spare in vec(0usize..300, 24),
        cut in vec(any::<prop::sample::Index>(), 0..3),
        udp in any::<bool>(),
    ) {
        let mut bufs: Vec<Vec<u8>> = batch.into_iter().chain(junk).collect();
        let mut lens: Vec<usize> = bufs.iter().map(Vec::len).collect();
        for (i, b) in bufs.iter_mut().enumerate() {
            b.resize(b.len() + spare[i % spare.len()], 0xee);
        }
        // Some lengths cut short (lengths that disagree with the headers), one maybe too long.
        for c in &cut {
            if !lens.is_empty() {
                let i = c.index(lens.len());
                lens[i] = c.index(lens[i] + 2);
            }
        }
        let opts = GroOptions { udp, ..linux() };
        laws::total::<64>(opts, &bufs, &lens)?;
        laws::total::<1>(opts, &bufs, &lens)?;
    }
}

// ---- completion order (G8) and prepend (G3, Relaxed) ----

/// (source port, payload size) of each output, in order.
fn ports_sizes(opts: GroOptions, batch: &[Vec<u8>]) -> Vec<(u16, usize)> {
    ports_sizes_on(LINUX_HELD_FLOWS, opts, batch)
}

/// [`ports_sizes`] with a table of `flows` (G7).
fn ports_sizes_on(flows: usize, opts: GroOptions, batch: &[Vec<u8>]) -> Vec<(u16, usize)> {
    sizes_on(flows, opts, batch);
    CoreGroTable::new(flows, opts)
        .coalesce(batch)
        .iter()
        .map(|(_, b, _)| {
            let h = wire::parse_headers(b, Link::Tun).unwrap();
            let port = u16::from_be_bytes([b[h.l4_offset], b[h.l4_offset + 1]]);
            (port, payload_len(b))
        })
        .collect()
}

/// Builds the specs with IPv4 IDs 8, 9, 10, ... per source port (per flow).
fn build_flows(specs: &mut [PacketSpec]) -> Vec<Vec<u8>> {
    let mut next = std::collections::HashMap::new();
    specs
        .iter_mut()
        .map(|s| {
            let id = next.entry(s.src_port).or_insert(8u16);
            s.ip_id = *id;
            *id += 1;
            s.build()
        })
        .collect()
}

fn on_port(mut s: PacketSpec, port: u16) -> PacketSpec {
    s.src_port = port;
    s
}

/// Measured (K11): A 100, A 100, B PSH 100, C pure ACK, D bad checksum, A 100 -> B, C, D, then A
/// (300): what is not held is handed on at once and overtakes the held flow.
#[test]
fn completion_order_singles_overtake_held_flows() {
    both(|v6| {
        let mut b = [
            on_port(seg(v6, 100, 0), 1000),
            on_port(seg(v6, 100, 100), 1000),
            on_port(seg(v6, 100, 0).with_tcp_flags(tcp_flags::PSH), 2000),
            on_port(seg(v6, 0, 0), 3000),
            on_port(seg(v6, 100, 0), 4000),
            on_port(seg(v6, 100, 200), 1000),
        ];
        let mut batch = build_flows(&mut b);
        let at = if v6 { 40 } else { 20 } + 16;
        batch[4][at] ^= 0x5a;
        let got = ports_sizes(linux(), &batch);
        assert_eq!(got, [(2000, 100), (3000, 0), (4000, 100), (1000, 300)]);
        (batch, vec![100, 0, 100, 300])
    });
}

/// A flow completed by its own segment (PSH) is handed on then, ahead of a flow held before it;
/// a flow completed by a segment that cannot join it, before that segment's own output.
#[test]
fn completion_order_follows_completion_not_first_input() {
    for v6 in [false, true] {
        let mut b = [
            on_port(seg(v6, 100, 0), 2000),
            on_port(seg(v6, 100, 0), 1000),
            on_port(seg(v6, 100, 100).with_tcp_flags(tcp_flags::PSH), 1000),
            on_port(seg(v6, 100, 300), 2000),
        ];
        let batch = build_flows(&mut b);
        assert_eq!(
            ports_sizes(linux(), &batch),
            [(1000, 200), (2000, 100), (2000, 100)],
            "v6 = {v6}"
        );
    }
}

/// Measured (K10): at the end of the batch the held flows are handed on oldest first, whatever
/// their ports.
#[test]
fn end_of_batch_flushes_oldest_first() {
    for v6 in [false, true] {
        for ports in [[1000u16, 2000, 3000], [3000, 2000, 1000], [7, 40001, 555]] {
            let mut b: Vec<PacketSpec> = (0..2u32)
                .flat_map(|k| ports.map(|p| on_port(seg(v6, 100, 100 * k), p)))
                .collect();
            let batch = build_flows(&mut b);
            let want: Vec<(u16, usize)> = ports.iter().map(|&p| (p, 200)).collect();
            assert_eq!(ports_sizes(linux(), &batch), want, "v6 = {v6}");
        }
    }
}

/// G3 Relaxed: a segment that ends where the held packet begins goes in front. 100@100, 100@0,
/// 100@200 becomes the merged packet the in-order train would have given (its first header is
/// the prepended segment's); Linux never prepends.
#[test]
fn relaxed_prepend() {
    for v6 in [false, true] {
        for df in [true, false] {
            let with_id = |off: u32, id: u16| PacketSpec {
                df,
                ip_id: id,
                ..seg(v6, 100, off)
            };
            let shuffled = [with_id(100, 9), with_id(0, 8), with_id(200, 10)];
            let in_order = [with_id(0, 8), with_id(100, 9), with_id(200, 10)];
            let batch: Vec<Vec<u8>> = shuffled.iter().map(PacketSpec::build).collect();
            let sorted: Vec<Vec<u8>> = in_order.iter().map(PacketSpec::build).collect();
            assert_eq!(sizes_with(relaxed(), &batch), vec![300], "v6 {v6} df {df}");
            let got = CoreGro::<LINUX_HELD_FLOWS>::new(relaxed()).coalesce(&batch);
            let want = CoreGro::<LINUX_HELD_FLOWS>::new(relaxed()).coalesce(&sorted);
            assert_eq!((&got[0].0, &got[0].1), (&want[0].0, &want[0].1));
            assert_eq!(got[0].2, vec![1, 0, 2], "members in payload order");
            assert_eq!(sizes(&batch), vec![100, 100, 100], "Linux: no prepend");
            // Two prepends in a row: 200, 100, 0 -> one packet.
            let desc = [with_id(200, 10), with_id(100, 9), with_id(0, 8)];
            let batch: Vec<Vec<u8>> = desc.iter().map(PacketSpec::build).collect();
            assert_eq!(sizes_with(relaxed(), &batch), vec![300]);
            assert_eq!(
                CoreGro::<LINUX_HELD_FLOWS>::new(relaxed()).coalesce(&batch)[0].2,
                vec![2, 1, 0]
            );
        }
    }
}

/// G1 under Relaxed: a segment that would go in front but fails its checksum is handed on at
/// once, and the others still merge. The iovec form verifies a flow's members as the flow
/// completes, those put in front among them (L11 compares it with the contiguous form).
#[test]
fn relaxed_prepend_of_a_bad_checksum() {
    for v6 in [false, true] {
        let mut segs = [seg(v6, 100, 100), seg(v6, 100, 0), seg(v6, 100, 200)];
        let mut batch = build_with_incrementing_ids(&mut segs);
        break_tcp_checksum(&mut batch[1], v6);
        assert_eq!(sizes_with(relaxed(), &batch), vec![100, 200], "v6 {v6}");
        let outs = CoreGro::<LINUX_HELD_FLOWS>::new(relaxed()).coalesce(&batch);
        assert_eq!(outs[0], (VnetHdr::default(), batch[1].clone(), vec![1]));
        assert_eq!(outs[1].2, vec![0, 2]);
    }
}

/// What a prepend must not do: a short segment (it would be a middle segment shorter than
/// gso_size), one carrying PSH (it belongs last), one that leaves a gap, and, where IDs count
/// (DF clear), one whose ID is not the first's minus one.
#[test]
fn relaxed_prepend_refusals() {
    for v6 in [false, true] {
        let psh = seg(v6, 100, 0).with_tcp_flags(tcp_flags::PSH);
        for (what, mut pair, want) in [
            ("short", [seg(v6, 100, 100), seg(v6, 50, 50)], [100, 50]),
            ("PSH", [seg(v6, 100, 100), psh], [100, 100]),
            ("gap", [seg(v6, 100, 150), seg(v6, 100, 0)], [100, 100]),
        ] {
            let batch = build_with_incrementing_ids(&mut pair);
            assert_eq!(sizes_with(relaxed(), &batch), want, "{what}, v6 {v6}");
        }
    }
    let id = |off: u32, id: u16| PacketSpec {
        df: false,
        ip_id: id,
        ..seg(false, 100, off)
    };
    let wrong: Vec<Vec<u8>> = [id(100, 9), id(0, 10)]
        .iter()
        .map(PacketSpec::build)
        .collect();
    assert_eq!(sizes_with(relaxed(), &wrong), vec![100, 100]);
    let right: Vec<Vec<u8>> = [id(100, 9), id(0, 8)]
        .iter()
        .map(PacketSpec::build)
        .collect();
    assert_eq!(sizes_with(relaxed(), &right), vec![200]);
}

/// Measured (K12): Linux holds at most 8 flows at a single-queue TUN. 8 interleaved flows of two
/// segments merge; a 9th completes the oldest, whose second segment then completes the next
/// oldest, and so on: nothing merges, and the singles come out in that order. A wider
/// table (`Gro<64>`) holds them all.
#[test]
fn linux_holds_eight_flows() {
    for v6 in [false, true] {
        for n in [8u16, 9, 10] {
            let mut b: Vec<PacketSpec> = (0..2u32)
                .flat_map(|k| (0..n).map(move |f| on_port(seg(v6, 100, 100 * k), 1000 + f)))
                .collect();
            let batch = build_flows(&mut b);
            assert_eq!(
                ports_sizes(linux(), &batch),
                held_flows_delivery(n),
                "v6 {v6}, {n} flows"
            );
            let all: Vec<(u16, usize)> = (0..n).map(|f| (1000 + f, 200)).collect();
            assert_eq!(
                ports_sizes_on(64, linux(), &batch),
                all,
                "v6 {v6}, {n} flows, 64 held"
            );
        }
    }
}
