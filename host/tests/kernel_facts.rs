//! Facts about the running kernel that vnet's rules depend on, measured, printed and asserted; and
//! the first kernel-differential test of `vnet_core::check` (law L8 for check): for the same
//! (header, packet), the kernel's TUN write and `check` must both accept or both refuse.

#![allow(clippy::indexing_slicing)]

mod common;

use std::io;
use std::time::Instant;

use common::{Rng, check_options, hdr_hex, hex};
use vnet_core::check::{self, Offload};
use vnet_core::hdr::{Flags, GsoType, VnetHdr};
use vnet_core::kernel::Profile;
use vnet_host::kernel::{Coalesced, KernelCoalescer, KernelSegmenter, is_merged};
use vnet_host::netns::require_root;
use vnet_spec::gro_selftest::held_flows_delivery;
use vnet_spec::packet::{L4, PacketSpec, tcp_flags};
use vnet_spec::strategy::packet::gso_header;

/// The kernel's verdict on a write: accepted, or refused with this errno.
fn kernel_verdict(seg: &KernelSegmenter, hdr: &VnetHdr, pkt: &[u8]) -> Result<(), i32> {
    match seg.write(hdr, pkt) {
        Ok(()) => Ok(()),
        Err(err) => Err(err.raw_os_error().unwrap_or_else(|| panic!("{err}"))),
    }
}

/// `check`'s verdict on the same write. Errors of the S rules are found when locating a GSO
/// request in the packet, i.e. at segmentation time: the kernel accepts such a write and drops the
/// packet later (K2, S1 (check)), so for the write they count as accepted.
fn check_verdict(hdr: &VnetHdr, pkt: &[u8]) -> Result<Option<&'static str>, &'static str> {
    match check::check(hdr, pkt, &check_options()) {
        Ok(_) => Ok(None),
        Err(e) if e.rule().starts_with('S') => Ok(Some(e.rule())),
        Err(e) => Err(e.rule()),
    }
}

/// Asserts that kernel and check agree on (hdr, pkt); returns the kernel's verdict.
fn agree(seg: &KernelSegmenter, what: &str, hdr: &VnetHdr, pkt: &[u8]) -> Result<(), i32> {
    let kernel = kernel_verdict(seg, hdr, pkt);
    let ours = check_verdict(hdr, pkt);
    report!(
        "fact {what}: kernel {} ; check {}",
        match kernel {
            Ok(()) => "accepts".to_owned(),
            Err(errno) => format!("refuses ({})", io::Error::from_raw_os_error(errno)),
        },
        match ours {
            Ok(None) => "accepts".to_owned(),
            Ok(Some(rule)) => format!("accepts the write ({rule}: dropped at segmentation)"),
            Err(rule) => format!("refuses ({rule})"),
        }
    );
    assert_eq!(
        kernel.is_ok(),
        ours.is_ok(),
        "{what}: kernel and check disagree; hdr {} pkt {}",
        hdr_hex(hdr),
        hex(pkt)
    );
    kernel
}

/// Runs `body` with what `open` makes (the kernel segmenter or coalescer) and the kernel's
/// profile, after the probe has reported the profile for `test` (skipped without root).
fn with_kernel<T, E: std::fmt::Debug>(
    test: &str,
    open: fn() -> Result<T, E>,
    body: impl FnOnce(&T, Profile),
) {
    if require_root(test) {
        let kernel = common::kernel(test);
        body(&open().expect("the kernel's GSO or GRO path"), kernel);
    }
}

#[test]
fn fact_a_accecn_gso_bit_is_refused() {
    with_kernel(
        "fact_a_accecn_gso_bit_is_refused",
        KernelSegmenter::new,
        |seg, _| {
            let spec = PacketSpec::tcp4(3000);
            let pkt = spec.build_partial();
            let base = gso_header(&spec, 1000);
            // The control: the same packet as plain TCPV4 is accepted, so any refusal is the bit's.
            assert_eq!(agree(seg, "(a) control gso_type 0x01", &base, &pkt), Ok(()));
            let accecn = VnetHdr {
                gso_type: GsoType(0x11),
                ..base
            };
            let verdict = agree(
                seg,
                "(a) gso_type 0x11 (AccECN 0x10 + TCPV4)",
                &accecn,
                &pkt,
            );
            assert_eq!(verdict, Err(libc::EINVAL));
        },
    );
}

/// K16 and K4: USO on a TUN, and its segment limit, at the limit the profile names: `check` and
/// the kernel agree one below, at and one above it (and one byte over), and at the limit the
/// kernel really delivers that many datagrams. A kernel without USO refuses all of them.
#[test]
fn fact_b_uso_segment_limit() {
    with_kernel(
        "fact_b_uso_segment_limit",
        KernelSegmenter::new,
        |seg, kernel| {
            let gso_size = 100u16;
            let limit = usize::from(kernel.udp_max_segments);
            let mut verdicts = Vec::new();
            for segments in [limit - 1, limit, limit + 1] {
                let spec = PacketSpec::udp4(segments * usize::from(gso_size));
                if spec.build().len() > 65535 {
                    continue;
                }
                let pkt = spec.build_partial();
                let hdr = gso_header(&spec, gso_size);
                let verdict = agree(seg, &format!("(b) USO {segments} segments"), &hdr, &pkt);
                verdicts.push((segments, verdict.is_ok()));
                if segments == limit && kernel.uso {
                    let out = seg.segment(&hdr, &pkt).unwrap();
                    report!(
                        "fact (b): USO {limit} segments -> kernel delivered {}",
                        out.len()
                    );
                    assert_eq!(out.len(), limit);
                }
            }
            // One byte over the limit is one more segment.
            let spec = PacketSpec::udp4(limit * usize::from(gso_size) + 1);
            let over = agree(
                seg,
                &format!("(b) USO {limit} segments + 1 byte"),
                &gso_header(&spec, gso_size),
                &spec.build_partial(),
            );
            report!(
                "fact (b): USO {} (limit {limit}): verdicts {verdicts:?}, +1 byte: {over:?}",
                kernel.uso
            );
            let want: Vec<(usize, bool)> = [limit - 1, limit, limit + 1]
                .into_iter()
                .filter(|&n| PacketSpec::udp4(n * usize::from(gso_size)).build().len() <= 65535)
                .map(|n| (n, kernel.uso && n <= limit))
                .collect();
            assert_eq!(verdicts, want);
            assert_eq!(over, Err(libc::EINVAL));
        },
    );
}

#[test]
fn fact_c_csum_start_below_ip_header_is_refused() {
    with_kernel(
        "fact_c_csum_start_below_ip_header_is_refused",
        KernelSegmenter::new,
        |seg, kernel| {
            let spec = PacketSpec::udp4(64);
            let pkt = spec.build();
            // K17: refused where the profile says so, accepted on kernels without the bound.
            let below = if kernel.csum_start_past_ip_header {
                Err(libc::EINVAL)
            } else {
                Ok(())
            };
            for (start, expected) in [(10u16, below), (19, below), (20, Ok(()))] {
                let hdr = VnetHdr {
                    flags: Flags::NEEDS_CSUM,
                    csum_start: start,
                    csum_offset: 6,
                    ..VnetHdr::default()
                };
                let verdict = agree(
                    seg,
                    &format!("(c) NEEDS_CSUM csum_start {start}"),
                    &hdr,
                    &pkt,
                );
                assert_eq!(verdict, expected, "csum_start {start}");
            }
        },
    );
}

#[test]
fn fact_d_hdr_len_beyond_packet_is_refused() {
    with_kernel(
        "fact_d_hdr_len_beyond_packet_is_refused",
        KernelSegmenter::new,
        |seg, kernel| {
            let spec = PacketSpec::tcp4(100);
            let pkt = spec.build();
            let len = pkt.len() as u16;
            let mut verdicts = Vec::new();
            for hdr_len in len..=len + 3 {
                let hdr = VnetHdr {
                    hdr_len,
                    ..VnetHdr::default()
                };
                let kernel = kernel_verdict(seg, &hdr, &pkt);
                let ours = check_verdict(&hdr, &pkt);
                report!(
                    "fact (d) hdr_len {hdr_len} for a {len}-byte packet (12-byte vnet header): kernel {kernel:?}, check {ours:?}"
                );
                assert_eq!(
                    kernel.is_ok(),
                    ours.is_ok(),
                    "hdr_len {hdr_len}: kernel and check"
                );
                verdicts.push((hdr_len - len, kernel.is_ok()));
            }
            // K1: where TUN compares hdr_len with what follows the first 10 header bytes, the 2 bytes of
            // num_buffers count as packet (6.18's tun_vnet_hdr_get reads 10 bytes, checks, then skips
            // the rest); older lines compare with the packet alone. check follows the profile and must
            // agree at every step.
            let slack = if kernel.hdr_len_counts_unparsed_header {
                2
            } else {
                0
            };
            let want: Vec<(u16, bool)> = (0..=3).map(|extra| (extra, extra <= slack)).collect();
            assert_eq!(verdicts, want);
            // With NEEDS_CSUM the checksum field itself must lie within the packet (V3,
            // skb_partial_csum_set), with no slack: check agrees here.
            for (offset, expected) in [(0u16, Ok(())), (1, Err(libc::EINVAL))] {
                let hdr = VnetHdr {
                    flags: Flags::NEEDS_CSUM,
                    csum_start: len - 2,
                    csum_offset: offset,
                    ..VnetHdr::default()
                };
                let what = format!("(d) NEEDS_CSUM field ending {offset} bytes past the packet");
                assert_eq!(agree(seg, &what, &hdr, &pkt), expected);
            }
        },
    );
}

/// The payload sizes of what B delivered: a merged packet counts as its whole payload.
fn payload_sizes(out: &[(VnetHdr, Vec<u8>)]) -> Vec<usize> {
    out.iter()
        .map(|(_, p)| {
            let ip = if p[0] >> 4 == 4 {
                usize::from(p[0] & 0xf) * 4
            } else {
                40
            };
            let doff = usize::from(p[ip + 12] >> 4) * 4;
            p.len() - ip - doff
        })
        .collect()
}

/// A train of TCP segments of one flow: `(payload, flags)`, sequence numbers following, IPv4 IDs
/// incrementing (DF set), valid checksums.
fn tcp_train(base: &PacketSpec, segs: &[(usize, u8)], id_step: u16) -> Vec<Vec<u8>> {
    let mut seq = 1000u32;
    segs.iter()
        .enumerate()
        .map(|(i, &(len, flags))| {
            let mut spec = base.clone();
            spec.payload = vnet_spec::packet::pattern(len);
            spec.ip_id = base.ip_id.wrapping_add(id_step.wrapping_mul(i as u16));
            let L4::Tcp { ack, window, .. } = base.l4 else {
                unreachable!("TCP base")
            };
            spec.l4 = L4::Tcp {
                seq,
                ack,
                flags: tcp_flags::ACK | flags,
                window,
            };
            seq = seq.wrapping_add(len as u32);
            spec.build()
        })
        .collect()
}

/// Runs a train until the kernel gives a stable answer (at most 5 tries); reports unstable runs.
fn stable(co: &KernelCoalescer, train: &[Vec<u8>], what: &str) -> Vec<(VnetHdr, Vec<u8>)> {
    for attempt in 1..=5 {
        match co.coalesce_checked(train).unwrap() {
            Coalesced::Stable(out) => return out,
            Coalesced::Unstable { first, second } => report!(
                "{what}: unstable run {attempt}: {:?} vs {:?}",
                payload_sizes(&first),
                payload_sizes(&second)
            ),
        }
    }
    panic!("{what}: the kernel never gave the same answer twice");
}

#[test]
fn fact_e_cwr_segments_are_delivered_alone() {
    with_kernel(
        "fact_e_cwr_segments_are_delivered_alone",
        KernelCoalescer::new,
        |co, kernel| {
            report!(
                "coalescer: B offloads {}, UDP GRO forwarding {}",
                co.offloads(),
                co.udp_gro_forwarding()
            );
            let cwr = tcp_flags::CWR;
            let segs = [(100, 0), (100, cwr), (100, cwr), (100, 0), (100, 0)];
            for (name, base) in [("v4", PacketSpec::tcp4(0)), ("v6", PacketSpec::tcp6(0))] {
                let out = stable(co, &tcp_train(&base, &segs, 1), "(e)");
                let sizes = payload_sizes(&out);
                let merged: Vec<bool> = out.iter().map(|(h, _)| is_merged(h)).collect();
                report!(
                    "fact (e) {name}: 100, CWR 100, CWR 100, 100, 100 -> {sizes:?} (merged {merged:?})"
                );
                // G3: a CWR segment completes the held packet and is held in its place; on 6.18 it then
                // takes nothing (K21: CWR must match), on older lines it takes what follows.
                let want: &[usize] = if kernel.gro_cwr_must_match {
                    &[100, 100, 100, 200]
                } else {
                    &[100, 100, 300]
                };
                assert_eq!(sizes, want, "{name}");
            }
            // The control: without CWR the same train is one packet, so the split above is CWR's.
            let plain = [(100, 0); 5];
            let out = stable(
                co,
                &tcp_train(&PacketSpec::tcp4(0), &plain, 1),
                "(e) control",
            );
            report!("fact (e) control: 5 x 100 -> {:?}", payload_sizes(&out));
            assert_eq!(payload_sizes(&out), [500]);
            assert!(is_merged(&out[0].0));
        },
    );
}

#[test]
fn fact_f_fixed_id_ipv4_pair_at_the_tun_boundary() {
    with_kernel(
        "fact_f_fixed_id_ipv4_pair_at_the_tun_boundary",
        KernelCoalescer::new,
        |co, _| {
            let mut rows = Vec::new();
            for (df, id_step) in [(true, 0u16), (false, 0), (true, 1)] {
                let base = PacketSpec {
                    df,
                    ..PacketSpec::tcp4(0)
                };
                let out = stable(co, &tcp_train(&base, &[(100, 0), (100, 0)], id_step), "(f)");
                let sizes = payload_sizes(&out);
                let ids: Vec<u16> = out
                    .iter()
                    .map(|(_, p)| u16::from_be_bytes([p[4], p[5]]))
                    .collect();
                let merged = out.iter().any(|(h, _)| is_merged(h));
                report!(
                    "fact (f): DF={} ids step {id_step}: delivered {sizes:?}, merged at B: {merged}, ids {ids:?}",
                    u8::from(df)
                );
                rows.push((df, id_step, merged));
            }
            // G3 (K5): a fixed-ID flow is not handed over merged at a TUN boundary (no FIXEDID bit in
            // the virtio header); an incrementing one is.
            assert_eq!(
                rows,
                [(true, 0, false), (false, 0, false), (true, 1, true)],
                "(df, id step, merged)"
            );
        },
    );
}

/// A random header over a valid packet: mostly plausible values near the rule boundaries, some
/// wild ones. Kinds: 0..=2 GSO-ish, 3 checksum-only, 4 anything.
fn random_case(rng: &mut Rng) -> (VnetHdr, Vec<u8>) {
    let mut spec = match rng.range(0, 3) {
        0 => PacketSpec::tcp4(rng.range(0, 3000) as usize),
        1 => PacketSpec::tcp6(rng.range(0, 3000) as usize),
        2 => PacketSpec::udp4(rng.range(0, 3000) as usize),
        _ => PacketSpec::udp6(rng.range(0, 3000) as usize),
    };
    if !spec.v6 && rng.chance(1, 4) {
        spec.ip_options = vec![1; 4 * rng.range(1, 3) as usize];
    }
    if rng.chance(1, 4) && matches!(spec.l4, L4::Tcp { .. }) {
        spec.tcp_options = vec![1; 4 * rng.range(1, 3) as usize];
    }
    let pkt = if rng.chance(1, 2) {
        spec.build_partial()
    } else {
        spec.build()
    };
    let mut hdr = gso_header(&spec, rng.range(1, 1500) as u16);
    let gso_types = [
        0u8, 1, 2, 3, 4, 5, 6, 0x10, 0x11, 0x14, 0x15, 0x80, 0x81, 0x84, 0x85,
    ];
    match rng.range(0, 4) {
        0 => {}
        1 => hdr.gso_type = GsoType(*rng.pick(&gso_types)),
        2 => {
            hdr.gso_type = GsoType(*rng.pick(&gso_types));
            hdr.gso_size = *rng.pick(&[0u16, 1, 8, 100, 0x7fff, 0xfffe, 0xffff]);
        }
        3 => {
            hdr.gso_type = GsoType::NONE;
            hdr.gso_size = 0;
        }
        _ => {}
    }
    if rng.chance(1, 3) {
        hdr.flags = Flags(*rng.pick(&[0u8, 1, 2, 3, 4, 8, 0x41]));
    }
    if rng.chance(1, 3) {
        hdr.csum_start = *rng.pick(&[0u16, 10, 19, 20, 39, 40, 44, 48, 60, 0xfffe, 0xffff]);
    }
    if rng.chance(1, 3) {
        hdr.csum_offset = *rng.pick(&[0u16, 1, 6, 16, 18, 100, 3000, 0xffff]);
    }
    if rng.chance(1, 4) {
        let len = pkt.len() as u16;
        hdr.hdr_len = *rng.pick(&[0u16, 20, len.saturating_sub(1), len, len + 1, 0xffff]);
    }
    if rng.chance(1, 10) {
        hdr = VnetHdr {
            flags: Flags(rng.next() as u8),
            gso_type: GsoType(rng.next() as u8 & 0x9f),
            hdr_len: rng.next() as u16,
            gso_size: rng.next() as u16,
            csum_start: rng.next() as u16 % 200,
            csum_offset: rng.next() as u16 % 64,
            ..VnetHdr::default()
        };
    }
    (hdr, pkt)
}

#[test]
fn check_agrees_with_the_kernel_on_random_headers() {
    with_kernel(
        "check_agrees_with_the_kernel_on_random_headers",
        KernelSegmenter::new,
        |seg, _| {
            let mut rng = Rng::from_env(0x5eed_c4ec);
            let seed = rng.seed();
            let start = Instant::now();
            let cases = 400;
            let (mut accepted, mut refused, mut late) = (0, 0, 0);
            let mut divergences = Vec::new();
            for i in 0..cases {
                let (hdr, pkt) = random_case(&mut rng);
                let kernel = kernel_verdict(seg, &hdr, &pkt);
                let ours = check_verdict(&hdr, &pkt);
                match (&kernel, &ours) {
                    (Ok(()), Ok(None)) => accepted += 1,
                    (Ok(()), Ok(Some(_))) => late += 1,
                    (Err(_), Err(_)) => refused += 1,
                    _ => divergences.push(format!(
                        "case {i}: kernel {kernel:?} check {ours:?} ({:?}): hdr {} pkt {}",
                        check::check(&hdr, &pkt, &check_options()).map(|o| match o {
                            Offload::Plain => "plain",
                            Offload::Checksum(_) => "checksum",
                            Offload::Segment(_) => "segment",
                        }),
                        hdr_hex(&hdr),
                        hex(&pkt)
                    )),
                }
            }
            report!(
                "check vs kernel (seed {seed}): {cases} cases in {:?}: both accept {accepted}, both refuse \
             {refused}, accepted on write but dropped at segmentation (S rules) {late}, \
             divergences {}",
                start.elapsed(),
                divergences.len()
            );
            for d in &divergences {
                report!("DIVERGENCE {d}");
            }
            assert!(
                accepted > 50 && refused > 50,
                "the cases must exercise both sides"
            );
            assert!(divergences.is_empty(), "{} divergences", divergences.len());
        },
    );
}

/// Interleaves per-flow trains: round `r` sends every flow's `r`-th segment, flows in the order
/// given.
fn interleave(flows: &[Vec<Vec<u8>>]) -> Vec<Vec<u8>> {
    let rounds = flows.iter().map(Vec::len).max().unwrap_or(0);
    (0..rounds)
        .flat_map(|r| flows.iter().filter_map(move |f| f.get(r).cloned()))
        .collect()
}

/// The source ports of what B delivered, with the payload size of each packet.
fn ports_and_sizes(out: &[(VnetHdr, Vec<u8>)]) -> Vec<(u16, usize)> {
    out.iter()
        .zip(payload_sizes(out))
        .map(|((_, p), size)| {
            let ip = if p[0] >> 4 == 4 {
                usize::from(p[0] & 0xf) * 4
            } else {
                40
            };
            (u16::from_be_bytes([p[ip], p[ip + 1]]), size)
        })
        .collect()
}

/// A flow of `segs` on source port `port`.
fn flow(v6: bool, port: u16, segs: &[(usize, u8)]) -> Vec<Vec<u8>> {
    let base = PacketSpec {
        src_port: port,
        ..if v6 {
            PacketSpec::tcp6(0)
        } else {
            PacketSpec::tcp4(0)
        }
    };
    tcp_train(&base, segs, 1)
}

#[test]
fn fact_g_end_of_batch_flushes_held_flows_oldest_first() {
    with_kernel(
        "fact_g_end_of_batch_flushes_held_flows_oldest_first",
        KernelCoalescer::new,
        |co, _| {
            for v6 in [false, true] {
                for ports in [[1000u16, 2000, 3000], [3000, 2000, 1000], [7, 40001, 555]] {
                    let flows: Vec<Vec<Vec<u8>>> = ports
                        .iter()
                        .map(|&p| flow(v6, p, &[(100, 0), (100, 0)]))
                        .collect();
                    let out = stable(co, &interleave(&flows), "(g)");
                    let got = ports_and_sizes(&out);
                    report!("fact (g) v6={v6}: flows {ports:?} x 2 segments -> {got:?}");
                    let want: Vec<(u16, usize)> = ports.iter().map(|&p| (p, 200)).collect();
                    assert_eq!(
                        got, want,
                        "held flows are flushed in the order they started"
                    );
                }
            }
        },
    );
}

#[test]
fn fact_h_eight_held_flows_oldest_completed_first() {
    with_kernel(
        "fact_h_eight_held_flows_oldest_completed_first",
        KernelCoalescer::new,
        |co, _| {
            for n in [8u16, 9, 10] {
                let flows: Vec<Vec<Vec<u8>>> = (0..n)
                    .map(|f| flow(false, 1000 + f, &[(100, 0), (100, 0)]))
                    .collect();
                let out = stable(co, &interleave(&flows), "(h)");
                let got = ports_and_sizes(&out);
                report!("fact (h): {n} flows x 2 segments -> {got:?}");
                // At most 8 held flows (one GRO bucket: a single-queue TUN leaves the hash 0).
                assert_eq!(got, held_flows_delivery(n), "{n} flows");
            }
        },
    );
}

#[test]
fn fact_i_a_single_overtakes_a_held_flow() {
    with_kernel(
        "fact_i_a_single_overtakes_a_held_flow",
        KernelCoalescer::new,
        |co, _| {
            let a = flow(false, 1000, &[(100, 0), (100, 0), (100, 0)]);
            let psh = flow(false, 2000, &[(100, tcp_flags::PSH)]);
            let ack = flow(false, 3000, &[(0, 0)]);
            let mut bad = flow(false, 4000, &[(100, 0)]);
            bad[0][36] ^= 0x5a;
            let train = vec![
                a[0].clone(),
                a[1].clone(),
                psh[0].clone(),
                ack[0].clone(),
                bad[0].clone(),
                a[2].clone(),
            ];
            let out = stable(co, &train, "(i)");
            let got = ports_and_sizes(&out);
            report!("fact (i): A 100, A 100, B PSH 100, C ack, D bad csum 100, A 100 -> {got:?}");
            // What is not held is handed on at once, ahead of the flow held before it.
            assert_eq!(got, [(2000, 100), (3000, 0), (4000, 100), (1000, 300)]);
        },
    );
}

/// K14: GRO does not compare the urgent pointer of segments without URG (`tcp_gro_receive`
/// compares the flags word, ack, and the options from byte 20 on; bytes 16-19 are checksum and
/// urgent pointer): two segments whose urgent pointers differ merge, and the merged packet keeps
/// the first's. So GRO then GSO cannot give the second's urgent pointer back: law L5 states this
/// one exception (meaningless without URG, RFC 9293 3.1).
#[test]
fn fact_j_urgent_pointer_without_urg_is_not_compared() {
    with_kernel(
        "fact_j_urgent_pointer_without_urg_is_not_compared",
        KernelCoalescer::new,
        |co, _| {
            let mut train = tcp_train(&PacketSpec::tcp4(0), &[(100, 0), (100, 0)], 1);
            // The second segment's urgent pointer becomes 6, its checksum updated (RFC 1624).
            let tcp = 20;
            let second = &mut train[1];
            let old = u16::from_be_bytes([second[tcp + 16], second[tcp + 17]]);
            let check = vnet_core::csum::update(old, 0, 6);
            second[tcp + 16..tcp + 18].copy_from_slice(&check.to_be_bytes());
            second[tcp + 18..tcp + 20].copy_from_slice(&6u16.to_be_bytes());
            let out = stable(co, &train, "(j)");
            let sizes = payload_sizes(&out);
            let urgent = out
                .first()
                .map(|(_, p)| u16::from_be_bytes([p[tcp + 18], p[tcp + 19]]));
            report!(
                "fact (j) urgent pointers 0 and 6, URG clear -> {sizes:?}, merged urgent pointer {urgent:?}"
            );
            assert_eq!(sizes, [200]);
            assert_eq!(urgent, Some(0));
        },
    );
}

/// K21: a CWR segment completes a held packet of its flow and is then held itself, like one that
/// finds none (the final flush test of `tcp_gro_receive` does not look at CWR); what follows
/// depends on whether GRO compares CWR between the held and the new segment (6.18) or masks it
/// out (6.1, 6.12).
#[test]
fn fact_k_cwr_without_a_held_flow() {
    with_kernel(
        "fact_k_cwr_without_a_held_flow",
        KernelCoalescer::new,
        |co, kernel| {
            let cwr = tcp_flags::CWR;
            // A CWR 100, then B PSH 100: B is not held; A's CWR segment is, so B overtakes it.
            let a = flow(false, 1000, &[(100, cwr)]);
            let b = flow(false, 2000, &[(100, tcp_flags::PSH)]);
            let out = stable(co, &[a[0].clone(), b[0].clone()], "(k) order");
            let order = ports_and_sizes(&out);
            report!("fact (k): A CWR 100, B PSH 100 -> {order:?}");
            assert_eq!(order, [(2000, 100), (1000, 100)]);
            // A 100, A CWR 100, B PSH 100: the CWR segment completes A's held packet and is held in its
            // place (not handed on alone), so B overtakes it too.
            let a2 = flow(false, 1000, &[(100, 0), (100, cwr)]);
            let out = stable(
                co,
                &[a2[0].clone(), a2[1].clone(), b[0].clone()],
                "(k) order 2",
            );
            let order = ports_and_sizes(&out);
            report!("fact (k): A 100, A CWR 100, B PSH 100 -> {order:?}");
            assert_eq!(order, [(1000, 100), (2000, 100), (1000, 100)]);
            // A CWR 100, A 100, A 100: merged into one packet (with the ECN GSO bit) where CWR is masked
            // out of the comparison; else the CWR segment goes alone and the rest merge.
            let train = flow(false, 1000, &[(100, cwr), (100, 0), (100, 0)]);
            let out = stable(co, &train, "(k) merge");
            let sizes = payload_sizes(&out);
            let gso: Vec<u8> = out.iter().map(|(h, _)| h.gso_type.0).collect();
            report!("fact (k): A CWR 100, A 100, A 100 -> {sizes:?} gso types {gso:x?}");
            if kernel.gro_cwr_must_match {
                assert_eq!(sizes, [100, 200]);
            } else {
                assert_eq!(sizes, [300]);
                assert_eq!(gso, [GsoType::TCPV4.0 | GsoType::ECN.0]);
            }
        },
    );
}
