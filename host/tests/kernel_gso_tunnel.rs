//! Law L8 for UDP-tunnel GSO: what the kernel segments, we segment identically.
//!
//! Random UDP-tunnel super-packets are written into a [`KernelSegmenter`] whose A reads the
//! 24-byte `virtio_net_hdr_v1_hash_tunnel` (K20): an outer IPv4 (with options) or IPv6 (with
//! extension headers) to a destination behind B, outer UDP, an 8-byte VXLAN-shaped header, and an
//! inner TCPv4/TCPv6 or USO (IPv4/IPv6) super-packet, with and without UDP_TUNNEL_CSUM. B has no
//! offloads, so the kernel segments in software (`skb_udp_tunnel_segment`). What B transmits is
//! read from B's packet tap (`KernelSegmenter::transmit`): a tunnel request that fits in one
//! segment goes out whole but keeps its tunnel GSO bits, and B's reader, without tunnel offload,
//! cannot read it (EINVAL on read, K24), so the tap is the only witness. The packets, with
//! forwarding undone on the outer header, are compared byte for byte with
//!
//! 1. `vnet_core::check` (24-byte layout, tunnel GSO and its checksum negotiated, the probed
//!    profile) + `vnet_core::gso::Segmenter`, and
//! 2. the reference model `vnet_spec::model::gso::transmit`;
//!
//! refusals included: a write the kernel refuses must be refused by `check` under a write-time
//! rule (V, T), and a write `check` refuses under such a rule must be refused by the kernel; a
//! packet the kernel accepts and then drops sends nothing, as vnet's S refusals do.
//!
//! The packets are built by `vnet_spec::strategy::packet::tunnel_super_packet`, the wrapper the
//! proptest strategy uses: the generators here only choose the inner and outer packets. On TUN the
//! outer IP header needs 16 bytes of options or extension headers (V7 counts an Ethernet header,
//! K20); a share of the outers is left shorter, for V7's refusal.
//!
//! The `wild` run keeps the packets but randomises the header: the other or both tunnel bits, an
//! inner type of NONE or UFO, NEEDS_CSUM dropped, ECN, flags Linux ignores, offsets moved off the
//! packet's headers, `gso_size` past the payload (V5: a checksum-only packet), a checksum seed in
//! the outer UDP field that is not the pseudo-header sum, a non-zero field without
//! UDP_TUNNEL_CSUM, any `hdr_len`.
//!
//! Every divergence is printed as a reproducible case: seed, case number, header (24-byte LE hex)
//! and packet (hex). `VNET_SEED=<n>` replays a run; `VNET_GSO_CASES=<n>` changes its size.

#![allow(clippy::indexing_slicing)]

mod common;

use std::time::Instant;

use common::{Rng, hdr_hex_in, hex, ipv4_options, v6_experimental_options};
use vnet_core::check::{self, CheckOptions, Offload};
use vnet_core::gso::GsoOptions;
use vnet_core::hdr::{Flags, GsoType, Layout, VnetHdr};
use vnet_core::wire::Link;
use vnet_host::kernel::{KernelSegmenter, undo_forwarding};
use vnet_host::netns::require_root;
use vnet_spec::model::gso::transmit;
use vnet_spec::packet::{L4, PacketSpec, tcp_flags};
use vnet_spec::strategy::packet::gso_header;
use vnet_spec::strategy::packet::{SuperPacket, TUN_OUTER_EXTRA, tunnel_super_packet};

const EINVAL: i32 = 22;

/// One random tunnel super-packet.
struct Case {
    inner: PacketSpec,
    outer: PacketSpec,
    hdr: VnetHdr,
    pkt: Vec<u8>,
    /// What the wild run changed, for the report.
    wild: Vec<&'static str>,
}

/// A random inner TCPv4/TCPv6 or USO super-packet with NEEDS_CSUM (V7) and its header, on TUN.
fn random_inner(rng: &mut Rng) -> SuperPacket {
    let udp = rng.chance(1, 2);
    let v6 = rng.chance(1, 2);
    let mut spec = PacketSpec::of(v6, udp, 0);
    // The inner addresses are not routed (only the outer is): any will do.
    spec.src[..4].copy_from_slice(&[10, 1, 0, rng.next() as u8]);
    spec.ip_id = rng.next() as u16;
    spec.df = rng.chance(3, 4);
    spec.tos = rng.next() as u8;
    spec.ttl = rng.next() as u8;
    spec.flow_label = rng.next() as u32 & 0xf_ffff;
    spec.src_port = rng.next() as u16;
    spec.dst_port = rng.next() as u16;
    common::random_ip_options(rng, &mut spec);
    if !udp {
        common::random_tcp(rng, &mut spec);
    }
    // Room for the outer headers (at most 40 + 40 of IP, 8 of UDP, 8 of tunnel header).
    let gso_size = common::random_gso_payload(rng, &mut spec, 100);
    let mut hdr = gso_header(&spec, gso_size as u16);
    if let L4::Tcp { flags, .. } = spec.l4
        && flags & tcp_flags::CWR != 0
        && rng.chance(1, 2)
    {
        hdr.gso_type = GsoType(hdr.gso_type.0 | GsoType::ECN.0);
    }
    let pkt = spec.build_partial();
    SuperPacket {
        spec,
        pkt,
        hdr,
        opts: GsoOptions::default(),
    }
}

/// A random outer UDP packet to a destination behind B (the documentation defaults), on TUN: its
/// IP header has at least [`TUN_OUTER_EXTRA`] bytes of options or extension headers, except in
/// one case of eight (V7 refuses those).
fn random_outer(rng: &mut Rng) -> PacketSpec {
    let v6 = rng.chance(1, 2);
    let mut outer = if v6 {
        PacketSpec::udp6(0)
    } else {
        PacketSpec::udp4(0)
    };
    common::random_ip_fields(rng, &mut outer, (1, 2));
    let any_port = rng.next() as u16;
    outer.dst_port = *rng.pick(&[4789, 6081, any_port]);
    let short = rng.chance(1, 8);
    if v6 {
        // Hop-by-hop first (it must be), then destination options: 16..=56 bytes, or 0..=8.
        let (lo, hi) = if short { (0, 1) } else { (2, 7) };
        let mut units = rng.range(lo, hi) as usize;
        if units > 0 && rng.chance(1, 2) {
            let hbh = rng.range(1, units.min(3) as u64) as usize;
            outer
                .v6_ext
                .push((0, v6_experimental_options(rng, 8 * hbh)));
            units -= hbh;
        }
        if units > 0 {
            outer
                .v6_ext
                .push((60, v6_experimental_options(rng, 8 * units)));
        }
    } else {
        let (lo, hi) = if short { (0, 3) } else { (4, 10) };
        let words = rng.range(lo, hi) as usize;
        if words > 0 {
            outer.ip_options = ipv4_options(rng, 4 * words);
        }
    }
    debug_assert!(short || outer.l3_len() >= outer.l3_len_min() + TUN_OUTER_EXTRA);
    outer
}

fn random_case(rng: &mut Rng, wild: bool) -> Case {
    let inner = random_inner(rng);
    let outer = random_outer(rng);
    let outer_csum = rng.chance(1, 2);
    let spec = inner.spec.clone();
    let sp = tunnel_super_packet(inner, &outer, outer_csum);
    let (mut hdr, mut pkt) = (sp.hdr, sp.pkt);
    // hdr_len is a hint (V6): sometimes zero or short.
    match rng.range(0, 3) {
        0 => hdr.hdr_len = 0,
        1 => hdr.hdr_len = rng.range(0, u64::from(hdr.hdr_len)) as u16,
        _ => {}
    }
    let mut changed = Vec::new();
    if wild {
        wild_header(rng, &mut hdr, &mut pkt, &mut changed);
    }
    Case {
        inner: spec,
        outer,
        hdr,
        pkt,
        wild: changed,
    }
}

/// `v` moved by 1 to `max` either way (not below 0).
fn moved(rng: &mut Rng, v: u16, max: u64) -> u16 {
    let delta = rng.range(1, max) as u16;
    if rng.chance(1, 2) {
        v.saturating_sub(delta)
    } else {
        v + delta
    }
}

/// The wild run's changes to a valid case (see the module doc); each is named in `changed`.
fn wild_header(rng: &mut Rng, hdr: &mut VnetHdr, pkt: &mut [u8], changed: &mut Vec<&'static str>) {
    let mut change = |rng: &mut Rng, num: u64, den: u64, name: &'static str| {
        let yes = rng.chance(num, den);
        if yes {
            changed.push(name);
        }
        yes
    };
    for bit in [0x02u8, 0x04, 0x10, 0x20, 0x40, 0x80] {
        if rng.chance(1, 8) {
            hdr.flags = Flags(hdr.flags.0 | bit);
        }
    }
    let th = usize::from(hdr.outer_th_offset);
    if hdr.flags.contains(Flags::UDP_TUNNEL_CSUM) {
        if change(rng, 1, 3, "outer seed") {
            pkt[th + 6..th + 8].copy_from_slice(&(rng.next() as u16).to_be_bytes());
        }
    } else if change(rng, 1, 2, "outer field") {
        pkt[th + 6..th + 8].copy_from_slice(&(rng.next() as u16).to_be_bytes());
    }
    if change(rng, 1, 8, "other tunnel bit") {
        hdr.gso_type = GsoType(hdr.gso_type.0 ^ GsoType::UDP_TUNNEL.0);
    }
    if change(rng, 1, 16, "both tunnel bits") {
        hdr.gso_type = GsoType(hdr.gso_type.0 | GsoType::UDP_TUNNEL.0);
    }
    if change(rng, 1, 16, "inner UFO or NONE") {
        let base = *rng.pick(&[GsoType::UDP.0, GsoType::NONE.0]);
        hdr.gso_type = GsoType((hdr.gso_type.0 & !0x0f) | base);
    }
    if change(rng, 1, 16, "no NEEDS_CSUM") {
        hdr.flags = hdr.flags.without(Flags::NEEDS_CSUM);
    }
    if change(rng, 1, 4, "ECN") {
        hdr.gso_type = GsoType(hdr.gso_type.0 | GsoType::ECN.0);
    }
    if change(rng, 1, 12, "outer_th moved") {
        hdr.outer_th_offset = moved(rng, hdr.outer_th_offset, 12);
    }
    if change(rng, 1, 12, "inner_nh moved") {
        hdr.inner_nh_offset = moved(rng, hdr.inner_nh_offset, 12);
    }
    if change(rng, 1, 16, "csum_start moved") {
        hdr.csum_start = moved(rng, hdr.csum_start, 24);
    }
    if change(rng, 1, 10, "gso_size past the payload") {
        hdr.gso_size = rng.range(u64::from(hdr.gso_size), 65534) as u16;
    }
    if rng.chance(1, 2) {
        hdr.hdr_len = rng.range(0, pkt.len() as u64) as u16;
    }
}

/// `check`'s options for this test: TUN, the 24-byte header, tunnel GSO and its checksum (on a TUN
/// write both come with the header size, K20), the probed kernel.
fn check_options() -> CheckOptions {
    CheckOptions {
        link: Link::Tun,
        layout: Layout::V1HashTunnel,
        tunnel: true,
        tunnel_csum: true,
        ..common::check_options()
    }
}

/// vnet-core's answer: nothing when `check` or the segmenter refuses.
fn core_segments(case: &Case) -> Vec<Vec<u8>> {
    common::core_transmit(&case.hdr, &case.pkt, 0, &check_options())
}

/// The reference model's answer (it checks with the tunnel options itself).
fn model_segments(case: &Case) -> Vec<Vec<u8>> {
    let opts = GsoOptions {
        kernel: common::probed().profile,
        ..GsoOptions::default()
    };
    transmit(&case.hdr, &case.pkt, &opts).unwrap_or_default()
}

/// `check`'s verdict on the write: `Err(rule)` for a rule the kernel applies when the packet is
/// written (V, T), `Ok` otherwise (the S rules stand for the kernel's drop at segmentation).
fn check_verdict(case: &Case) -> Result<(), &'static str> {
    match check::check(&case.hdr, &case.pkt, &check_options()) {
        Err(e) if !e.rule().starts_with('S') => Err(e.rule()),
        _ => Ok(()),
    }
}

fn describe(case: &Case) -> String {
    let (i, o) = (&case.inner, &case.outer);
    format!(
        "outer {} +{} B, inner {} {} +{} B, tcp_options {}, payload {}, gso_size {}, gso_type {:#x}, \
         flags {:#x}{}",
        if o.v6 { "IPv6" } else { "IPv4" },
        o.l3_len() - o.l3_len_min(),
        if i.v6 { "IPv6" } else { "IPv4" },
        if matches!(i.l4, L4::Udp) {
            "UDP"
        } else {
            "TCP"
        },
        i.l3_len() - i.l3_len_min(),
        i.tcp_options.len(),
        i.payload.len(),
        case.hdr.gso_size,
        case.hdr.gso_type.0,
        case.hdr.flags.0,
        if case.wild.is_empty() {
            String::new()
        } else {
            format!(", wild: {}", case.wild.join(", "))
        }
    )
}

/// Without K20 the test has nothing to compare: it says so, and checks that the kernel indeed
/// refuses a tunnel write (as `check` does under the probed profile).
fn without_tunnel_gso(test: &str, seg: &KernelSegmenter, rng: &mut Rng) {
    report!(
        "{test}: THE PROBED KERNEL HAS NO UDP-TUNNEL GSO ON TUN (K20: udp_tunnel_gso false; Linux \
         6.17+): no tunnel super-packet can be compared; checking only that a tunnel write is refused"
    );
    let case = random_case(rng, false);
    let kernel = seg.write(&case.hdr, &case.pkt);
    assert_eq!(
        kernel.as_ref().map_err(std::io::Error::raw_os_error),
        Err(Some(EINVAL)),
        "{test}: the kernel accepted a tunnel write although the probe said it has no tunnel GSO: \
         hdr {} pkt {}",
        hdr_hex_in(&case.hdr, Layout::V1HashTunnel),
        hex(&case.pkt)
    );
    assert_eq!(
        check::check(&case.hdr, &case.pkt, &check_options()).map_err(|e| e.rule()),
        Err("V1")
    );
}

fn run(test: &str, wild: bool, default_seed: u64, default_cases: usize) {
    if !require_root(test) {
        return;
    }
    let profile = common::kernel(test);
    let seg = KernelSegmenter::with_layout(Layout::V1HashTunnel).expect("kernel segmenter");
    let mut rng = Rng::from_env(default_seed);
    let seed = rng.seed();
    if !profile.udp_tunnel_gso {
        without_tunnel_gso(test, &seg, &mut rng);
        return;
    }
    let cases = common::env_count("VNET_GSO_CASES", default_cases);
    let start = Instant::now();
    let (mut segments, mut refused, mut dropped, mut segmented) = (0usize, 0usize, 0usize, 0usize);
    let (mut check_segments, mut outer_v6, mut outer_csum) = (0usize, 0usize, 0usize);
    let mut unreadable = 0usize;
    let mut divergences = Vec::new();
    for i in 0..cases {
        let case = random_case(&mut rng, wild);
        // EINVAL here is the write's: B's failed reads are counted in `unreadable`.
        let written = seg.transmit(&case.hdr, &case.pkt);
        let kernel_refused = matches!(&written, Err(e) if e.raw_os_error() == Some(EINVAL));
        let kernel: Vec<Vec<u8>> = match written {
            Ok(out) => {
                unreadable += out.unreadable;
                out.sent.iter().map(|s| undo_forwarding(s)).collect()
            }
            Err(_) if kernel_refused => Vec::new(),
            Err(e) => panic!(
                "{test} seed {seed} case {i}: write failed ({e}): hdr {} pkt {}",
                hdr_hex_in(&case.hdr, Layout::V1HashTunnel),
                hex(&case.pkt)
            ),
        };
        refused += usize::from(kernel_refused);
        segments += kernel.len();
        dropped += usize::from(kernel.is_empty() && !kernel_refused);
        segmented += usize::from(kernel.len() > 1);
        if let Ok(Offload::Segment(req)) = check::check(&case.hdr, &case.pkt, &check_options()) {
            check_segments += 1;
            outer_v6 += usize::from(case.outer.v6);
            outer_csum += usize::from(req.tunnel.is_some_and(|t| t.outer_csum));
        }
        let mut diverge = |against: &str, what: String| {
            divergences.push(format!(
                "{test} seed {seed} case {i} ({against}): {what}\n  {}\n  hdr {}\n  pkt {}",
                describe(&case),
                hdr_hex_in(&case.hdr, Layout::V1HashTunnel),
                hex(&case.pkt)
            ));
        };
        match (kernel_refused, check_verdict(&case)) {
            (true, Ok(())) => diverge(
                "check",
                "the kernel refuses the write, check accepts".into(),
            ),
            (false, Err(rule)) => diverge(
                "check",
                format!("check refuses the write ({rule}), the kernel accepts it"),
            ),
            _ => {}
        }
        let core = core_segments(&case);
        if kernel != core {
            diverge("vnet_core", common::first_difference(&kernel, &core));
        }
        let model = model_segments(&case);
        if kernel != model {
            diverge("spec model", common::first_difference(&kernel, &model));
        }
    }
    report!(
        "{test} (seed {seed}): {cases} tunnel super-packets ({check_segments} segmented by check: \
         {outer_v6} outer IPv6, {outer_csum} with UDP_TUNNEL_CSUM), {segmented} segmented by the \
         kernel into {segments} packets ({unreadable} of them unreadable by B's reader), \
         {refused} refused on write, {dropped} accepted and dropped, in {:?}; divergences (check \
         verdict + vnet_core + spec model): {}",
        start.elapsed(),
        divergences.len(),
    );
    common::assert_no_divergences(&divergences);
    // The wild run refuses about half its writes by design.
    let min_segmented = if wild { cases / 4 } else { cases / 2 };
    assert!(
        segmented > min_segmented && outer_v6 > cases / 8 && outer_csum > cases / 8,
        "too few segmented cases: {segmented} by the kernel, {outer_v6} outer IPv6, {outer_csum} \
         with UDP_TUNNEL_CSUM"
    );
    assert!(refused > 0, "no refusal exercised");
}

named_tests!(run:
    kernel_gso_tunnel(false, 0x6500_0020, 300);
    kernel_gso_tunnel_wild(true, 0x6500_0021, 300);
);
