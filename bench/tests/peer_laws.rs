//! The laws on a peer (ARCHITECTURE.md, 'Laws' and 'Peers'; issue 8): the laws of vnet-spec run
//! against tun-rs (GSO, GRO, checksum, header) and the checksum sums of internet-checksum, smoltcp
//! and etherparse.
//!
//! A peer is not ours, so a law it breaks is REPORTED, not a test failure: each law runs under
//! proptest's `TestRunner` (fixed seed, 256 cases, no failure persistence), a failure is shrunk to
//! a minimal counterexample, and the verdicts and counterexamples are printed as the markdown that
//! `spec/PEERS.md` carries. The test asserts only that every run worked (the runner did not abort,
//! the peers that must hold did hold on the control runs).
//!
//! Print:       `cd bench && cargo test --test peer_laws -- --nocapture`
//! Regenerate:  `cd bench && VNET_WRITE_PEERS=1 cargo test --test peer_laws`
//!              (rewrites the part of `spec/PEERS.md` between the GENERATED markers)

use std::fmt::Write as _;
use std::panic;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};
use vnet_bench::peers::{TunRs, TunRsGro, to_tun_rs};
use vnet_core::csum;
use vnet_core::gro::{GroOptions, Policy};
use vnet_core::gso::GsoOptions;
use vnet_core::hdr::{Endian, Flags, GsoType, Layout, VnetHdr};
use vnet_core::wire::Link;
use vnet_packet::{L4, PacketSpec, build_with_incrementing_ids, tcp_flags, v6_dest_opts};
use vnet_spec::laws::Core;
use vnet_spec::laws::csum::{Sum, finished_verifies, sum_matches};
use vnet_spec::laws::gro::{self as gro_laws, Coalesce};
use vnet_spec::laws::gso::{self as gso_laws, Segment};
use vnet_spec::laws::hdr::{codecs_agree, read_of_write, write_of_read};
use vnet_spec::model::Reference;
use vnet_spec::model::gro::ReferenceGro;
use vnet_spec::strategy::packet::{Kind, SuperPacket, gso_header, super_packet_with};
use vnet_spec::strategy::{hdr as hdr_strategy, train};

const CASES: u32 = 256;

/// One law on one peer: its verdict and, when it fails, the shrunk counterexample.
struct Verdict {
    peer: &'static str,
    law: &'static str,
    /// What the run covers (strategy and restrictions).
    scope: &'static str,
    /// `None`: holds on every case; `Some((reason, example))`: the first failure, shrunk.
    failure: Option<(String, String)>,
}

fn runner() -> TestRunner {
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        max_shrink_iters: 2048,
        max_global_rejects: 1 << 20,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

/// Runs `test` on `strategy` with a fixed seed; a failure is shrunk and shown with `show`.
fn run<S: Strategy>(
    peer: &'static str,
    law: &'static str,
    scope: &'static str,
    strategy: S,
    show: impl Fn(&S::Value) -> String,
    test: impl Fn(&S::Value) -> Result<(), String>,
) -> Verdict {
    let start = std::time::Instant::now();
    let result = runner().run(&strategy, |v| test(&v).map_err(TestCaseError::fail));
    eprintln!("{peer} / {law} / {scope}: {:?}", start.elapsed());
    let failure = match result {
        Ok(()) => None,
        Err(TestError::Fail(reason, value)) => Some((reason.to_string(), show(&value))),
        Err(TestError::Abort(why)) => panic!("{peer} {law}: the run aborted: {why}"),
    };
    Verdict {
        peer,
        law,
        scope,
        failure,
    }
}

/// A law's failure message (the reason alone, without proptest's "Case failed: ").
fn msg(e: TestCaseError) -> String {
    match e {
        TestCaseError::Fail(r) | TestCaseError::Reject(r) => r.message().to_string(),
    }
}

/// A law run so that a panic of the peer is its failure too, as a `Result`.
fn catch_law(f: impl FnOnce() -> Result<(), TestCaseError>) -> Result<(), String> {
    catch(|| f().map_err(msg)).and_then(|r| r)
}

/// A panic as a `Result`.
fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(panic::AssertUnwindSafe(f)).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into())
    })
}

fn hex(b: &[u8]) -> String {
    const MAX: usize = 96;
    let mut s: String = b.iter().take(MAX).map(|x| format!("{x:02x}")).collect();
    if b.len() > MAX {
        let _ = write!(s, "… ({} bytes)", b.len());
    }
    s
}

/// The 10-byte header as tun-rs encodes it (host order).
fn hdr_hex(h: &VnetHdr) -> String {
    let mut b = [0u8; tun_rs::VIRTIO_NET_HDR_LEN];
    to_tun_rs(h).encode(&mut b).unwrap();
    hex(&b)
}

fn hdr_short(h: &VnetHdr) -> String {
    format!(
        "flags {:#x} gso_type {:#x} hdr_len {} gso_size {} csum_start {} csum_offset {}",
        h.flags.0, h.gso_type.0, h.hdr_len, h.gso_size, h.csum_start, h.csum_offset
    )
}

fn lens(v: &[Vec<u8>]) -> String {
    format!("{:?}", v.iter().map(Vec::len).collect::<Vec<_>>())
}

// ---------------------------------------------------------------------------------------------
// GSO

/// What tun-rs's `gso_split` can be given: TUN framing, TCP or USO, NEEDS_CSUM (a TUN read of a
/// GSO packet always carries it; tun-rs reads `csum_start` as the IP header length), and vnet's
/// default segmentation options (no fixed-ID, no AccECN: the virtio header cannot ask for them).
fn gso_input() -> impl Strategy<Value = SuperPacket> {
    prop_oneof![super_packet_with(Kind::Tcp), super_packet_with(Kind::Uso)]
        .prop_filter("TUN framing, NEEDS_CSUM", |sp| {
            sp.opts.link == Link::Tun && sp.hdr.flags.contains(Flags::NEEDS_CSUM)
        })
        .prop_map(|mut sp| {
            sp.opts = GsoOptions {
                link: Link::Tun,
                ..GsoOptions::default()
            };
            sp
        })
}

fn show_gso(sp: &SuperPacket) -> String {
    let peer = TunRs.segment(&sp.hdr, &sp.pkt, &sp.opts);
    let model = Reference.segment(&sp.hdr, &sp.pkt, &sp.opts);
    let out = |r: &Result<Vec<Vec<u8>>, String>| match r {
        Ok(v) => format!(
            "{} packets, lengths {}{}",
            v.len(),
            lens(v),
            v.first()
                .map(|p| format!(", first `{}`", hex(p)))
                .unwrap_or_default()
        ),
        Err(e) => format!("error: {e}"),
    };
    format!(
        "header ({}) `{}`; packet ({} bytes) `{}`; tun-rs: {}; vnet model: {}",
        hdr_short(&sp.hdr),
        hdr_hex(&sp.hdr),
        sp.pkt.len(),
        hex(&sp.pkt),
        out(&peer),
        out(&model)
    )
}

fn gso_verdicts(v: &mut Vec<Verdict>) {
    let scope = "TCPv4/TCPv6/USO super-packets on TUN, NEEDS_CSUM, IPv4 options, IPv6 extension \
                 headers, TCP options, any gso_size";
    v.push(run(
        "tun-rs",
        "L4 GSO output valid",
        scope,
        gso_input(),
        show_gso,
        |sp| gso_laws::valid_output(&TunRs, &sp.hdr, &sp.pkt, &sp.opts).map_err(msg),
    ));
    v.push(run(
        "tun-rs",
        "GSO tun-rs == vnet model",
        scope,
        gso_input(),
        show_gso,
        |sp| gso_laws::agree(&TunRs, &Reference, &sp.hdr, &sp.pkt, &sp.opts).map_err(msg),
    ));
    // Control: the same laws on vnet-core over the same inputs must hold.
    v.push(run(
        "vnet-core (control)",
        "L4 GSO output valid",
        scope,
        gso_input(),
        show_gso,
        |sp| gso_laws::valid_output(&Core, &sp.hdr, &sp.pkt, &sp.opts).map_err(msg),
    ));
}

/// The header a sender attaches to `spec`'s super-packet, the pseudo-header sum in place (C3).
fn gso_request(spec: &PacketSpec, gso: u16) -> SuperPacket {
    let pkt = spec.build_partial();
    let hdr = gso_header(spec, gso);
    SuperPacket {
        spec: spec.clone(),
        pkt,
        hdr,
        opts: GsoOptions::default(),
    }
}

/// A USO super-packet whose first segment's UDP checksum computes to 0 (C4: written 0xFFFF).
fn udp_checksum_zero() -> SuperPacket {
    let mut spec = PacketSpec::udp4(200);
    let seg = spec.clone();
    let first = |spec: &PacketSpec| {
        let mut s = seg.clone();
        s.payload = spec.payload[..100].to_vec();
        s
    };
    // The sum of the first segment with its checksum field 0 and a payload word w = 0, then w set
    // so that the sum becomes 0xFFFF: the checksum is then !0xFFFF = 0.
    spec.payload[0..2].fill(0);
    let s1 = first(&spec);
    let mut b = s1.build();
    let l4 = s1.l4_offset();
    b[l4 + 6..l4 + 8].fill(0);
    let sum = csum::combine_at(s1.pseudo_header(b.len() - l4), csum::sum(&b[l4..]), 0);
    let w = 0xFFFFu16.wrapping_sub(sum);
    spec.payload[0..2].copy_from_slice(&w.to_be_bytes());
    gso_request(&spec, 100)
}

/// Named GSO probes (the suspects of ARCHITECTURE.md, 'Peers', and the GRO issue list).
fn gso_probes() -> Vec<(&'static str, SuperPacket)> {
    let mut v4opt = PacketSpec::tcp4(3000);
    v4opt.ip_options = vec![1, 1, 1, 0, 1, 1, 1, 0];
    let mut v6ext = PacketSpec::tcp6(3000);
    v6ext.v6_ext = vec![(0, v6_dest_opts(8).1), v6_dest_opts(16)];
    let mut flags = PacketSpec::tcp4(3000);
    if let L4::Tcp { flags: f, .. } = &mut flags.l4 {
        *f |= tcp_flags::CWR | tcp_flags::PSH | tcp_flags::FIN;
    }
    let mut ecn = gso_request(&flags, 1000);
    ecn.hdr.gso_type = GsoType(GsoType::TCPV4.0 | GsoType::ECN.0);
    let mut uso6 = PacketSpec::udp6(3000);
    uso6.v6_ext = vec![v6_dest_opts(8)];
    vec![
        ("GSO, IPv4 options", gso_request(&v4opt, 1000)),
        ("GSO, IPv6 extension headers", gso_request(&v6ext, 1000)),
        (
            "GSO, USO over IPv6 with a destination-options header",
            gso_request(&uso6, 1000),
        ),
        ("GSO, CWR/PSH/FIN placement", gso_request(&flags, 1000)),
        ("GSO, CWR/PSH/FIN placement with the ECN bit", ecn),
        ("GSO, a computed UDP checksum of 0", udp_checksum_zero()),
        (
            "GSO, no payload (V5: one plain packet)",
            gso_request(&PacketSpec::tcp4(0), 1000),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// GRO

fn tun_rs_gro() -> TunRsGro {
    TunRsGro::new(true)
}

/// The reference with tun-rs's options: Relaxed, UDP on, no held-flow bound (tun-rs holds every
/// flow of a batch).
fn model_for_tun_rs() -> ReferenceGro {
    ReferenceGro {
        opts: GroOptions {
            policy: Policy::Relaxed,
            udp: true,
            ..GroOptions::default()
        },
        flows: 64,
    }
}

fn show_outputs(outs: &[vnet_spec::model::gro::Coalesced]) -> String {
    outs.iter()
        .map(|(h, b, m)| {
            if h.gso_type == GsoType::NONE && *h == VnetHdr::default() {
                format!("{m:?} alone ({} B)", b.len())
            } else {
                format!("{m:?} as {} B [{}]", b.len(), hdr_short(h))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn show_batch_with(imp: &dyn Coalesce, batch: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for (i, p) in batch.iter().enumerate() {
        let _ = write!(s, "<br>in {i}: `{}`", hex(p));
    }
    let peer = catch(|| {
        let _ = write!(
            s,
            "<br>{}: {}",
            imp.name(),
            show_outputs(&imp.coalesce(batch))
        );
    });
    if let Err(e) = peer {
        let _ = write!(s, "<br>{}: panicked: {e}", imp.name());
    }
    let _ = write!(
        s,
        "<br>vnet model (Relaxed): {}",
        show_outputs(&model_for_tun_rs().coalesce(batch))
    );
    s
}

#[allow(clippy::ptr_arg)] // a strategy's value, as the runner hands it over
fn show_batch(batch: &Vec<Vec<u8>>) -> String {
    show_batch_with(&tun_rs_gro(), batch)
}

/// Fast == reference up to the order of the outputs (G8, completion order, set aside): the same
/// outputs, each with the same header, bytes and members.
fn agree_unordered(a: &dyn Coalesce, b: &dyn Coalesce, batch: &[Vec<u8>]) -> Result<(), String> {
    let sorted = |imp: &dyn Coalesce| {
        let mut o = imp.coalesce(batch);
        o.sort_by(|x, y| x.2.cmp(&y.2));
        o
    };
    catch(|| drop(sorted(a)))?;
    let (x, y) = (sorted(a), sorted(b));
    for (p, q) in x.iter().zip(&y) {
        if p != q {
            return Err(format!(
                "{} vs {}: inputs {:?} as {} B [{}] vs inputs {:?} as {} B [{}]",
                a.name(),
                b.name(),
                p.2,
                p.1.len(),
                hdr_short(&p.0),
                q.2,
                q.1.len(),
                hdr_short(&q.0)
            ));
        }
    }
    if x.len() != y.len() {
        return Err(format!(
            "{} vs {}: {} vs {} outputs",
            a.name(),
            b.name(),
            x.len(),
            y.len()
        ));
    }
    Ok(())
}

/// A batch without what every random train finds first (IPv4 IDs of DF-clear packets that do not
/// increment, IPv6 flow labels that change within a flow, IPv6 extension headers, which tun-rs
/// never merges), so that the run can find what lies behind them.
#[allow(clippy::ptr_arg)] // a strategy's value, as the filter hands it over
fn without_known(batch: &Vec<Vec<u8>>) -> bool {
    batch.iter().all(|p| match p[0] >> 4 {
        4 => p[6] & 0x40 != 0,
        _ => p[1] & 0x0f == 0x01 && p[2..4] == [0x23, 0x45] && (p[6] == 6 || p[6] == 17),
    })
}

/// An L6 failure's super-packet: its header and bytes, then (with `lens_too`) the lengths of the
/// segments vnet-core splits it into, and what `peer` and the model make of those segments.
fn show_super_packet(peer: &dyn Coalesce, h: &VnetHdr, p: &[u8], lens_too: bool) -> String {
    let segs = gro_laws::split(h, p);
    let split = if lens_too {
        format!(", split into {}", lens(&segs))
    } else {
        String::new()
    };
    format!(
        "super-packet header ({}) `{}` packet `{}`{split}{}",
        hdr_short(h),
        hdr_hex(h),
        hex(p),
        show_batch_with(peer, &segs)
    )
}

fn gro_verdicts(v: &mut Vec<Verdict>) {
    let scope = "train_any: 1-4 interleaved TCP/UDP flows over IPv4/IPv6, perturbed, reordered";
    let peer = tun_rs_gro();
    v.push(run(
        "tun-rs",
        "GRO invariants",
        scope,
        train::train_any(),
        show_batch,
        |b| catch_law(|| gro_laws::invariants(&peer, b).map(drop)),
    ));
    v.push(run(
        "tun-rs",
        "L5 GRO then GSO",
        scope,
        train::train_any(),
        show_batch,
        |b| catch_law(|| gro_laws::gro_then_gso(&peer, b)),
    ));
    v.push(run(
        "tun-rs",
        "L6 GSO then GRO",
        "train::super_packet_any: one flow, 2-20 segments of 1-199 bytes",
        train::super_packet_any(),
        |(h, p)| show_super_packet(&peer, h, p, true),
        |(h, p)| catch_law(|| gro_laws::gso_then_gro(&peer, h, p)),
    ));
    v.push(run(
        "tun-rs",
        "L6 GSO then GRO",
        "as above, IPv6 without extension headers (tun-rs never merges those)",
        train::super_packet_any().prop_filter("no IPv6 extension header", |(_, p)| {
            p[0] >> 4 == 4 || p[6] == 6 || p[6] == 17
        }),
        |(h, p)| show_super_packet(&peer, h, p, false),
        |(h, p)| catch_law(|| gro_laws::gso_then_gro(&peer, h, p)),
    ));
    let known = "train_any without DF-clear IPv4, flow-label changes, IPv6 extension headers \
                 (the divergences above)";
    v.push(run(
        "tun-rs",
        "GRO invariants",
        known,
        train::train_any().prop_filter("known divergences", without_known),
        show_batch,
        |b| catch_law(|| gro_laws::invariants(&peer, b).map(drop)),
    ));
    v.push(run(
        "tun-rs",
        "L5 GRO then GSO",
        known,
        train::train_any().prop_filter("known divergences", without_known),
        show_batch,
        |b| catch_law(|| gro_laws::gro_then_gso(&peer, b)),
    ));
    v.push(run(
        "tun-rs",
        "GRO tun-rs == vnet model (Relaxed)",
        scope,
        train::train_any(),
        show_batch,
        |b| catch_law(|| gro_laws::agree(&peer, &model_for_tun_rs(), b)),
    ));
    v.push(run(
        "tun-rs",
        "GRO tun-rs == vnet model (Relaxed), up to output order",
        known,
        train::train_any().prop_filter("known divergences", without_known),
        show_batch,
        |b| agree_unordered(&peer, &model_for_tun_rs(), b),
    ));
    // Control: vnet-core under Relaxed over the same trains.
    let core = gro_laws::CoreGro::<64>::new(model_for_tun_rs().opts);
    v.push(run(
        "vnet-core (control)",
        "L5 GRO then GSO",
        scope,
        train::train_any(),
        show_batch,
        |b| catch_law(|| gro_laws::gro_then_gso(&core, b)),
    ));
}

/// The gro.c template: TCP ACK, seq 100 + `off`, window 65535, TTL 8, DF, IPv4 ID 8 + index.
fn seg(v6: bool, len: usize, off: u32) -> PacketSpec {
    // Distinct payload bytes, so that each merged chunk can be traced back to its input.
    let mut s = PacketSpec::gro_selftest(v6, len, off);
    s.payload = vnet_packet::pattern(len);
    s
}

fn train_of(v6: bool, n: usize, len: usize) -> Vec<PacketSpec> {
    (0..n).map(|i| seg(v6, len, (i * len) as u32)).collect()
}

/// `n` IPv4/UDP datagrams of `len` payload bytes of one flow, IPv4 IDs counting up from 8.
fn udp_datagrams(n: u16, len: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut s = PacketSpec::udp4(len);
            s.ip_id = 8 + i;
            s.build()
        })
        .collect()
}

fn set_flags(s: &mut PacketSpec, f: u8) {
    if let L4::Tcp { flags, .. } = &mut s.l4 {
        *flags |= f;
    }
}

/// Named GRO probes: (name, batch, buffer capacity). The suspects of ARCHITECTURE.md, 'Peers', and
/// the GRO issue list, each as the smallest batch that shows it.
fn gro_probes() -> Vec<(&'static str, Vec<Vec<u8>>, usize)> {
    let cap = tun_rs::VIRTIO_NET_HDR_LEN + 65535;
    let mut p = Vec::new();
    let mut t = train_of(false, 2, 100);
    for s in &mut t {
        s.ip_options = vec![1, 1, 1, 0];
    }
    p.push((
        "IPv4 packets with options",
        build_with_incrementing_ids(&mut t),
        cap,
    ));
    let mut frag = build_with_incrementing_ids(&mut train_of(false, 2, 100));
    for b in &mut frag {
        b[6] |= 0x20;
        b[10..12].fill(0);
        let c = csum::finish(csum::sum(&b[..20]));
        b[10..12].copy_from_slice(&c.to_be_bytes());
    }
    p.push(("IPv4 fragments (MF)", frag, cap));
    for v6 in [false, true] {
        let mut t = train_of(v6, 2, 100);
        t[1].ttl = 9;
        p.push((
            if v6 {
                "different hop limit"
            } else {
                "different TTL"
            },
            build_with_incrementing_ids(&mut t),
            cap,
        ));
    }
    let mut t = train_of(true, 2, 100);
    t[1].flow_label = 7;
    p.push((
        "different IPv6 flow labels",
        build_with_incrementing_ids(&mut t),
        cap,
    ));
    for v6 in [false, true] {
        let mut t = train_of(v6, 2, 100);
        if let L4::Tcp { window, .. } = &mut t[1].l4 {
            *window = 1000;
        }
        p.push((
            if v6 {
                "different TCP window (IPv6)"
            } else {
                "different TCP window (IPv4)"
            },
            build_with_incrementing_ids(&mut t),
            cap,
        ));
    }
    // 46 × 1448 + 40 = 66648 > 65535: the merge must stop at 65535 (G5), whatever the buffers.
    p.push((
        "a merged datagram over 65535 bytes (buffers of 128 KiB)",
        build_with_incrementing_ids(&mut train_of(false, 46, 1448)),
        131072,
    ));
    p.push((
        "a merged datagram over 65535 bytes (buffers of HDR + 65535)",
        build_with_incrementing_ids(&mut train_of(false, 46, 1448)),
        cap,
    ));
    let mut bad = build_with_incrementing_ids(&mut train_of(false, 3, 100));
    bad[0][20 + 16] ^= 0x5a;
    p.push(("first item has a bad checksum", bad, cap));
    let mut bad = build_with_incrementing_ids(&mut train_of(false, 3, 100));
    bad[1][20 + 16] ^= 0x5a;
    p.push(("middle item has a bad checksum", bad, cap));
    let mut udp_bad = udp_datagrams(3, 100);
    udp_bad[0][27] ^= 0x5a;
    p.push(("UDP: first item has a bad checksum", udp_bad, cap));
    let mut acks = train_of(false, 3, 0);
    for s in &mut acks {
        if let L4::Tcp { seq, .. } = &mut s.l4 {
            *seq = 100;
        }
    }
    p.push(("pure ACKs", build_with_incrementing_ids(&mut acks), cap));
    p.push((
        "UDP: 70 datagrams (G4: at most 64 segments)",
        udp_datagrams(70, 10),
        cap,
    ));
    p.push((
        "UDP: 130 datagrams (this kernel's check: at most 128)",
        udp_datagrams(130, 10),
        cap,
    ));
    for (name, len, at, flag) in [
        ("PSH in the middle of a train", 4, 1, tcp_flags::PSH),
        ("CWR in the middle of a train", 3, 1, tcp_flags::CWR),
        ("FIN on the last segment", 3, 2, tcp_flags::FIN),
    ] {
        let mut t = train_of(false, len, 100);
        set_flags(&mut t[at], flag);
        p.push((name, build_with_incrementing_ids(&mut t), cap));
    }
    let mut t = train_of(true, 2, 100);
    for s in &mut t {
        s.v6_ext = vec![v6_dest_opts(8)];
    }
    p.push((
        "IPv6 with the same extension header",
        build_with_incrementing_ids(&mut t),
        cap,
    ));
    let mut t = vec![
        seg(false, 100, 100),
        seg(false, 100, 0),
        seg(false, 100, 200),
    ];
    let b = build_with_incrementing_ids(&mut t);
    p.push(("out of order: 100@100, 100@0, 100@200 (prepend)", b, cap));
    p
}

fn probe_verdicts(v: &mut Vec<Verdict>) {
    for (name, sp) in gso_probes() {
        let r = gso_laws::valid_output(&TunRs, &sp.hdr, &sp.pkt, &sp.opts).map_err(msg);
        // The probe is a valid input: vnet-core must pass it.
        gso_laws::valid_output(&Core, &sp.hdr, &sp.pkt, &sp.opts)
            .unwrap_or_else(|e| panic!("probe {name} is not valid for vnet-core: {e}"));
        v.push(Verdict {
            peer: "tun-rs",
            law: "L4 GSO output valid",
            scope: name,
            failure: r.err().map(|e| (e, show_gso(&sp))),
        });
    }
    for (name, batch, capacity) in gro_probes() {
        let peer = TunRsGro {
            capacity,
            udp: true,
        };
        let r = catch_law(|| gro_laws::gro_then_gso(&peer, &batch));
        catch_law(|| {
            gro_laws::gro_then_gso(
                &gro_laws::CoreGro::<64>::new(model_for_tun_rs().opts),
                &batch,
            )
        })
        .unwrap_or_else(|e| panic!("probe {name} fails vnet-core: {e}"));
        v.push(Verdict {
            peer: "tun-rs",
            law: "GRO invariants + L5",
            scope: name,
            failure: r.err().map(|e| (e, show_batch_with(&peer, &batch))),
        });
        let model = ReferenceGro {
            opts: GroOptions {
                // The probe's buffers bound tun-rs; the model merges up to G5 regardless.
                ..model_for_tun_rs().opts
            },
            flows: 64,
        };
        let r = agree_unordered(&peer, &model, &batch);
        v.push(Verdict {
            peer: "tun-rs",
            law: "GRO == vnet model (Relaxed), up to output order",
            scope: name,
            failure: r.err().map(|e| (e, show_batch_with(&peer, &batch))),
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Checksum and header

/// A peer that offers only a folded, uncomplemented sum: L2a is the law it can be run through.
struct SumOnly(fn(&[u8]) -> u16);

impl Sum for SumOnly {
    fn sum(&self, data: &[u8]) -> u16 {
        (self.0)(data)
    }
}

fn internet_checksum_sum(d: &[u8]) -> u16 {
    !u16::from_be_bytes(internet_checksum::checksum(d))
}

fn smoltcp_sum(d: &[u8]) -> u16 {
    smoltcp::wire::checksum::data(d)
}

fn etherparse_sum(d: &[u8]) -> u16 {
    // etherparse sums native-endian words and leaves the result in native order.
    !u16::from_be(
        etherparse::checksum::Sum16BitWords::new()
            .add_slice(d)
            .ones_complement(),
    )
}

/// Data of any length up to 9008 bytes (mostly short, sometimes all 0xFF), at any of 8
/// alignments.
fn data_any() -> impl Strategy<Value = (Vec<u8>, usize)> {
    (
        prop_oneof![
            hdr_strategy::bytes_any(9008),
            (0usize..9008).prop_map(|n| vec![0xFF; n]),
            proptest::collection::vec(any::<u8>(), 0..80),
        ],
        0usize..8,
    )
}

fn show_data((d, off): &(Vec<u8>, usize)) -> String {
    let d = &d[(*off).min(d.len())..];
    format!(
        "{} bytes at alignment {off}: `{}`; reference sum {:#06x}",
        d.len(),
        hex(d),
        Reference.sum(d)
    )
}

fn csum_verdicts(v: &mut Vec<Verdict>) {
    let scope = "0..9008 bytes, random / all 0xFF / short, 8 alignments";
    let peers: [(&'static str, SumOnly); 4] = [
        ("tun-rs", SumOnly(|d| tun_rs::checksum(d, 0))),
        ("internet-checksum", SumOnly(internet_checksum_sum)),
        ("smoltcp", SumOnly(smoltcp_sum)),
        ("etherparse", SumOnly(etherparse_sum)),
    ];
    for (name, peer) in peers {
        v.push(run(
            name,
            "L2a sum == reference",
            scope,
            data_any(),
            show_data,
            |(d, off)| {
                // Copied into a fresh buffer so that `off` is the alignment mod 8 of the data.
                let mut buf = vec![0u8; d.len() + 8];
                let base = buf.as_ptr() as usize % 8;
                let start = (8 - base) % 8 + off;
                let start = start.min(buf.len() - d.len());
                buf[start..start + d.len()].copy_from_slice(d);
                sum_matches(&peer, &Reference, &buf[start..start + d.len()]).map_err(msg)
            },
        ));
    }
    v.push(run(
        "tun-rs",
        "L2f finished checksums verify",
        "0..9008 bytes; field at any even offset; any pseudo-header seed (checksum(data, seed))",
        (hdr_strategy::bytes_any(9008), any::<usize>(), any::<u16>()),
        |(d, at, seed)| {
            format!(
                "{} bytes, field at {at}, seed {seed:#06x}: `{}`",
                d.len(),
                hex(d)
            )
        },
        |(d, at, seed)| finished_verifies(&TunRs, d, *at, *seed).map_err(msg),
    ));
    codec_verdicts(v);
}

/// L1a-L1c on tun-rs's codec, which has the 10-byte layout in host byte order only. Each law is
/// its own run and verdict; all draw (bytes, header) pairs and read the part they are about.
fn codec_verdicts(v: &mut Vec<Verdict>) {
    type Law = fn(&[u8], &VnetHdr) -> Result<(), TestCaseError>;
    const LEGACY: Layout = Layout::Legacy;
    const NATIVE: Endian = Endian::Native;
    let scope = "VirtioNetHdr: 10-byte layout, host byte order only";
    let laws: [(&str, &str, Law); 3] = [
        ("L1a read(write(h)) == h", scope, |_, h| {
            read_of_write(&TunRs, h, LEGACY, NATIVE)
        }),
        ("L1b write(read(b)) == b", scope, |b, _| {
            write_of_read(&TunRs, b, LEGACY, NATIVE)
        }),
        (
            "L1c tun-rs == vnet-core codec",
            "VirtioNetHdr: 10-byte layout, host byte order only; headers that fit it",
            |b, h| codecs_agree(&TunRs, &Core, b, h, LEGACY, NATIVE),
        ),
    ];
    for (law, scope, test) in laws {
        v.push(run(
            "tun-rs",
            law,
            scope,
            (
                hdr_strategy::bytes_any(24),
                hdr_strategy::vnet_hdr_with(LEGACY),
            ),
            |(b, h)| format!("bytes `{}`, header {h:?}", hex(b)),
            |(b, h)| test(b, h).map_err(msg),
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// The report

fn report(verdicts: &[Verdict]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Generated by `cd bench && VNET_WRITE_PEERS=1 cargo test --test peer_laws` (tun-rs {}, \
         {CASES} cases per law, fixed seed; a failure is proptest's shrunk counterexample).\n",
        tun_rs_version()
    );
    let _ = writeln!(s, "| peer | law | input | verdict |");
    let _ = writeln!(s, "|---|---|---|---|");
    for v in verdicts {
        let verdict = match &v.failure {
            None => "holds".to_string(),
            Some((reason, _)) => format!("**fails**: {}", one_line(reason)),
        };
        let _ = writeln!(s, "| {} | {} | {} | {} |", v.peer, v.law, v.scope, verdict);
    }
    let _ = writeln!(s, "\n### Minimal counterexamples\n");
    for v in verdicts {
        if let Some((reason, example)) = &v.failure {
            let _ = writeln!(
                s,
                "- **{} / {} / {}**: {}<br>{}\n",
                v.peer,
                v.law,
                v.scope,
                one_line(reason),
                example
            );
        }
    }
    s
}

fn one_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").replace('|', "\\|");
    if line.len() > 300 {
        format!("{}…", line.chars().take(300).collect::<String>())
    } else {
        line
    }
}

fn tun_rs_version() -> String {
    let lock = include_str!("../Cargo.lock");
    lock.split("[[package]]")
        .find(|p| p.contains("name = \"tun-rs\""))
        .and_then(|p| p.lines().find(|l| l.starts_with("version")))
        .map(|l| {
            l.trim_start_matches("version = ")
                .trim_matches('"')
                .to_string()
        })
        .unwrap_or_default()
}

const BEGIN: &str = "<!-- BEGIN GENERATED: bench/tests/peer_laws.rs -->";
const END: &str = "<!-- END GENERATED -->";

#[test]
fn peer_laws() {
    let start = std::time::Instant::now();
    // The laws panic on purpose when a peer breaks them; keep the log to the report.
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let mut verdicts = Vec::new();
    gso_verdicts(&mut verdicts);
    gro_verdicts(&mut verdicts);
    probe_verdicts(&mut verdicts);
    csum_verdicts(&mut verdicts);
    panic::set_hook(hook);

    let text = report(&verdicts);
    println!("{text}");
    eprintln!(
        "peer laws: {} runs in {:?}",
        verdicts.len(),
        start.elapsed()
    );

    // The run itself worked: the controls hold (so a peer's failure is the peer's, not the
    // harness's), and so do the checksum sums of every peer (no known divergence there).
    for v in &verdicts {
        if v.peer.starts_with("vnet-core") {
            assert!(
                v.failure.is_none(),
                "control failed: {} {:?}",
                v.law,
                v.failure
            );
        }
    }

    // spec/PEERS.md's tables are this run's verdicts: written with VNET_WRITE_PEERS=1, otherwise
    // compared, so that the page cannot drift from what the laws find (the seed is fixed).
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/PEERS.md");
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let (head, tail) = match (old.find(BEGIN), old.find(END)) {
        (Some(a), Some(b)) if a < b => (old[..a].to_string(), old[b + END.len()..].to_string()),
        _ => ("# Peers\n\n".to_string(), "\n".to_string()),
    };
    let new = format!("{head}{BEGIN}\n{text}{END}{tail}");
    if std::env::var_os("VNET_WRITE_PEERS").is_some() {
        std::fs::write(path, new).unwrap();
    } else {
        assert!(
            old == new,
            "spec/PEERS.md is stale: regenerate with `cd bench && VNET_WRITE_PEERS=1 cargo test --test peer_laws`"
        );
    }
}
