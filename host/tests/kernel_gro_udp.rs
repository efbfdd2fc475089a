//! Law L8 for UDP GRO: what the kernel coalesces when UDP GRO forwarding is on
//! (`rx-udp-gro-forwarding` on A, set with `ethtool`), we coalesce identically with
//! `GroOptions { udp: true }` (G1, G4, G6).
//!
//! Random UDPv4/UDPv6 trains (interleaved flows; equal datagrams with a shorter one ending a
//! train, a larger one starting a new one, TTL changes, bad and zero checksums) go through
//! `KernelCoalescer`; what B delivers (after `undo_forwarding`; headers without `hdr_len` and
//! DATA_VALID) must equal `vnet_core::gro`'s answer, in order. Unstable trains (the kernel flushed
//! early) are set aside and counted. Without `ethtool` (CI installs it) the test says so and skips:
//! the kernel cannot be asked.

#![allow(clippy::indexing_slicing)]

mod common;

use std::time::Instant;

use common::{Rng, core_coalesce, hex, interleave};
use vnet_core::gro::GroOptions;
use vnet_core::hdr::VnetHdr;
use vnet_core::kernel::Profile;
use vnet_host::kernel::{Coalesced, KernelCoalescer};
use vnet_host::netns::require_root;
use vnet_spec::packet::PacketSpec;

/// A random train of `1..=3` interleaved UDP flows of one IP version.
fn random_train(rng: &mut Rng, v6: bool) -> Vec<Vec<u8>> {
    let flows = rng.range(1, 3) as usize;
    let mut per_flow = Vec::new();
    for f in 0..flows {
        let mut spec = PacketSpec::of(v6, true, 0);
        spec.src_port = 41000 + f as u16;
        spec.ttl = rng.range(3, 255) as u8;
        spec.ip_id = rng.next() as u16;
        let size = rng.range(1, 1400) as usize;
        let count = rng.range(1, 10) as usize;
        let mut pkts = Vec::new();
        for i in 0..count {
            let mut s = spec.clone();
            let len = match rng.range(0, 9) {
                0 => rng.range(1, size as u64) as usize,
                1 => size + rng.range(1, 50) as usize,
                _ => size,
            };
            if rng.chance(1, 15) {
                s.ttl = s.ttl.wrapping_sub(1).max(2);
            }
            s.ip_id = spec.ip_id.wrapping_add(i as u16);
            s.payload = rng.bytes(len);
            let mut pkt = s.build();
            let at = s.l4_offset() + 6;
            match rng.range(0, 19) {
                // A bad checksum (G1): delivered alone.
                0 => pkt[at] ^= 0x5a,
                // No checksum (IPv4 only; G1: never coalesced).
                1 if !v6 => pkt[at..at + 2].copy_from_slice(&[0, 0]),
                _ => {}
            }
            pkts.push(pkt);
        }
        per_flow.push(pkts);
    }
    interleave(rng, &per_flow)
}

fn run(test: &str, v6: bool, default_seed: u64) {
    if !require_root(test) {
        return;
    }
    let profile = common::kernel(test);
    let kernel = KernelCoalescer::new().expect("kernel coalescer");
    // K16: a kernel without USO on TUN cannot hand B a merged datagram, so it segments what its
    // GRO merged again on the way out; the comparison is then with vnet's GRO followed by vnet's
    // GSO of every merged packet (law L5 says that gives the datagrams back, IDs included).
    let resegmented = !profile.uso;
    if resegmented {
        eprintln!(
            "{test}: this kernel has no USO on TUN (K16): comparing with vnet's GRO then GSO"
        );
    }
    if !kernel.udp_gro_forwarding() {
        // Loud, and not a pass in disguise: CI installs ethtool, so there this never happens.
        eprintln!("SKIPPED: {test}: rx-udp-gro-forwarding could not be switched on (no ethtool?)");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to run {test}"
        );
        return;
    }
    let mut rng = Rng::from_env(default_seed);
    let seed = rng.seed();
    let trains = common::env_count("VNET_GRO_TRAINS", 150);
    let start = Instant::now();
    let (mut unstable, mut merged, mut delivered) = (0, 0, 0);
    let mut divergences = Vec::new();
    for t in 0..trains {
        let train = random_train(&mut rng, v6);
        let answer = match kernel.coalesce_checked(&train).expect("kernel answered") {
            Coalesced::Stable(answer) => answer,
            Coalesced::Unstable { .. } => {
                unstable += 1;
                continue;
            }
        };
        let theirs: Vec<(VnetHdr, Vec<u8>)> = answer
            .iter()
            .map(|(h, p)| {
                let (h, p, _) = common::comparable_delivery(h, p);
                (h, p)
            })
            .collect();
        delivered += theirs.len();
        let opts = GroOptions {
            udp: true,
            kernel: profile,
            ..GroOptions::default()
        };
        let mut ours = core_coalesce(&train, opts);
        merged += ours.iter().filter(|(h, _)| h.gso_size != 0).count();
        if resegmented {
            ours = ours
                .iter()
                .flat_map(|(h, p)| {
                    let hdr = VnetHdr { hdr_len: 0, ..*h };
                    // The kernel's own segmentation, past a TUN write's rules (USO allowed).
                    let internal = Profile {
                        uso: true,
                        ..profile
                    };
                    common::core_transmit(
                        &hdr,
                        p,
                        0,
                        &vnet_core::check::CheckOptions {
                            kernel: internal,
                            ..Default::default()
                        },
                    )
                    .into_iter()
                    .map(|s| (VnetHdr::default(), s))
                })
                .collect();
        }
        if ours != theirs {
            let packets: Vec<String> = train.iter().map(|p| hex(p)).collect();
            divergences.push(format!(
                "train {t}: kernel {:?} vnet {:?}; packets {}",
                theirs
                    .iter()
                    .map(|(h, p)| (h.gso_type, p.len()))
                    .collect::<Vec<_>>(),
                ours.iter()
                    .map(|(h, p)| (h.gso_type, p.len()))
                    .collect::<Vec<_>>(),
                packets.join(" ")
            ));
        }
    }
    eprintln!(
        "{test} (seed {seed}): {trains} trains in {:?}: unstable (set aside) {unstable}; \
         delivered {delivered} packets, {merged} merged by vnet; vnet_core::gro divergences {}",
        start.elapsed(),
        divergences.len()
    );
    for d in &divergences {
        eprintln!("DIVERGENCE {d}");
    }
    assert!(
        merged > 0,
        "the trains must make the kernel merge something"
    );
    assert!(divergences.is_empty(), "{} divergences", divergences.len());
}

named_tests!(run:
    kernel_gro_udp_v4(false, 0x0d9_0004);
    kernel_gro_udp_v6(true, 0x0d9_0006);
);
