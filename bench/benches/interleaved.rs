//! The checksum, vnet's builds beside its peers, and GSO and GRO, vnet beside tun-rs (`gso_split`,
//! `GROTable::apply_gro`), timed alternately in one loop: each checksum round times a batch of
//! calls of each implementation in turn; each GSO and GRO round times one vnet call, then one tun-rs call (GRO: both inputs restored,
//! untimed, before). On a shared machine whose load changes during a criterion run, the ratio of
//! two quantiles taken from the same rounds is steadier than medians measured seconds apart. Same
//! cases and inputs as `peers` ([`vnet_bench::cases`]). Each case also times its floor, the memory
//! work any implementation does: GSO, the copies of every segment's headers and payload; GRO,
//! verify + append (per segment: its TCP header summed, its payload copied and summed in one pass).
//! GSO's iovec form (`vnet-iovec`, S6) is timed in the same rounds, against its own floor: every
//! segment's payload summed in place; `sum-whole`, the payload summed in one call, is the bound
//! of any form that checksums each byte once (no floor of its own).
//! GRO's iovec form (`vnet-iovec`, G9) is timed in the same rounds, against its own floor: verify
//! in place (every segment's L4 bytes summed, nothing copied); and with checksums trusted
//! (`vnet-iovec-trusted`, G10: no payload byte read, no floor).
//!
//! `gso-parts` times each part of GSO's iovec form alone, to show where its time goes.
//!
//! Run: `cargo bench --bench interleaved` (`ROUNDS=n`, default 3000; `ONLY=checksum`, `gso`,
//! `gso-parts` or `gro` for one part).

use std::hint::black_box;
use std::time::Instant;

use tun_rs::{GROTable, VIRTIO_NET_HDR_LEN};
use vnet_bench::cases::{gro_buffers, gro_cases, gso_cases, gso_shape, restore_gro_buffers};
use vnet_bench::peers::to_tun_rs;
use vnet_core::check::{self, CheckOptions, Offload};
use vnet_core::csum::{self, Summer};
use vnet_core::gro::{Checksums, Gro, GroOptions, IovOutput, LINUX_HELD_FLOWS, Output};
use vnet_core::gso::{self, GsoOptions};
use vnet_host::fastsum::FastSum;

/// Times of the rounds of one implementation, in nanoseconds.
#[derive(Default)]
struct Times(Vec<f64>);

impl Times {
    fn time<T>(&mut self, f: impl FnOnce() -> T) {
        let start = Instant::now();
        black_box(f());
        self.0.push(start.elapsed().as_nanos() as f64);
    }

    /// Minimum, 10th percentile, median.
    fn quantiles(mut self) -> [f64; 3] {
        self.0.sort_by(f64::total_cmp);
        let t = &self.0;
        [t[0], t[t.len() / 10], t[t.len() / 2]]
    }
}

/// One line: each implementation's quantiles in µs, and tun-rs / vnet at each quantile.
fn report(case: &str, vnet: Times, tun_rs: Times, floor: Times) {
    report_as(case, "vnet", vnet, tun_rs, Some(floor));
}

/// [`report`] for the implementation `name`; `floor` `None` where it has none (prints `-`).
fn report_as(case: &str, name: &str, vnet: Times, tun_rs: Times, floor: Option<Times>) {
    let (v, t) = (vnet.quantiles(), tun_rs.quantiles());
    let us = |q: [f64; 3]| format!("{:.2} {:.2} {:.2}", q[0] / 1e3, q[1] / 1e3, q[2] / 1e3);
    let floor = floor.map_or_else(|| "-".to_owned(), |f| us(f.quantiles()));
    println!(
        "{case}: {name} {} / tun-rs {} / floor {}; ratio min {:.2} p10 {:.2} median {:.2}",
        us(v),
        us(t),
        floor,
        t[0] / v[0],
        t[1] / v[1],
        t[2] / v[2],
    );
}

/// The bound of any checksum: every byte loaded once, nothing summed (the words OR-ed together,
/// which the compiler vectorises as it does the sum's adds), built with AVX-512 where the CPU
/// has it, as vnet's sum then is.
fn read_floor() -> fn(&[u8]) -> u16 {
    #[inline(always)]
    fn or_blocks(data: &[u8]) -> u16 {
        let (words, tail) = data.as_chunks::<8>();
        let word = words.iter().fold(0, |x, w| x | u64::from_ne_bytes(*w))
            | tail.iter().fold(0, |x, &b| x | u64::from(b));
        (word ^ word >> 16 ^ word >> 32 ^ word >> 48) as u16
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512bw")]
        fn or_blocks_avx512(data: &[u8]) -> u16 {
            or_blocks(data)
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
        {
            // SAFETY: the CPU has AVX-512 F and BW, checked just above.
            return |data| unsafe { or_blocks_avx512(data) };
        }
    }
    or_blocks
}

/// Checksum cases (`peers`' ids: length, `+1` for an odd start) and implementations, each round
/// timing a batch of calls of every implementation in turn (a single short sum is below the
/// clock's resolution); nanoseconds per call, and each one's time / vnet's at the minimum and the
/// median (above 1: vnet is faster).
fn checksum_round_robin(rounds: usize, fast: FastSum) {
    println!("checksum case: ns per call as min p10 median; (impl / vnet at min, median)");
    #[repr(C, align(64))]
    struct Aligned([u8; 65536 + 64]);
    let mut buf = Box::new(Aligned([0; 65536 + 64]));
    for (i, b) in buf.0.iter_mut().enumerate() {
        *b = (i.wrapping_mul(131) ^ (i >> 7)) as u8;
    }
    // vnet's builds: what `FastSum` picks, the portable build, then each vector build the CPU has.
    let mut vnet = vec![fast, FastSum::Portable(csum::Portable)];
    #[cfg(target_arch = "x86_64")]
    {
        use vnet_host::fastsum::{Avx2, Avx512};
        vnet.extend(Avx2::detect().map(FastSum::Avx2));
        vnet.extend(Avx512::detect().map(FastSum::Avx512));
    }
    let mut names: Vec<String> = vnet.iter().map(|f| format!("vnet-{}", f.name())).collect();
    names[0] = "vnet".into();
    names.extend(["tun-rs", "etherparse", "smoltcp", "read-floor"].map(String::from));
    let floor = read_floor();
    /// `calls` calls of `f`, each on an opaque `data`: inlined, as in `peers`.
    fn batch(f: impl Fn(&[u8]) -> u16, data: &[u8], calls: usize) {
        for _ in 0..calls {
            black_box(f(black_box(data)));
        }
    }
    for (case, offset, len) in [
        ("40", 0, 40),
        ("40+1", 1, 40),
        ("65535", 0, 65535),
        ("65535+1", 1, 65535),
    ] {
        let data = &buf.0[offset..offset + len];
        let calls = ((1usize << 18) / len).max(1);
        let mut times: Vec<Times> = names.iter().map(|_| Times::default()).collect();
        for _ in 0..rounds {
            let (ours, peers) = times.split_at_mut(vnet.len());
            for (&f, t) in vnet.iter().zip(ours) {
                t.time(|| batch(|d| f.sum(d), data, calls));
            }
            peers[0].time(|| batch(|d| tun_rs::checksum(d, 0), data, calls));
            peers[1].time(|| {
                batch(
                    |d| {
                        etherparse::checksum::Sum16BitWords::new()
                            .add_slice(d)
                            .ones_complement()
                    },
                    data,
                    calls,
                )
            });
            peers[2].time(|| batch(smoltcp::wire::checksum::data, data, calls));
            peers[3].time(|| batch(floor, data, calls));
        }
        let qs: Vec<[f64; 3]> = times
            .into_iter()
            .map(|t| t.quantiles().map(|q| q / calls as f64))
            .collect();
        let vnet = qs[0];
        println!("{case}:");
        for (name, q) in names.iter().zip(&qs) {
            println!(
                "  {name:14} {:9.2} {:9.2} {:9.2}  ({:.2}, {:.2})",
                q[0],
                q[1],
                q[2],
                q[0] / vnet[0],
                q[2] / vnet[2],
            );
        }
    }
}

fn gso_round_robin(rounds: usize, fast: FastSum) {
    println!("gso case: vnet (check + segment) / tun-rs / floor (copies only)");
    let (copts, gopts) = (CheckOptions::default(), GsoOptions::default());
    for (case, spec, mss) in gso_cases() {
        let pkt = spec.build();
        let (hdr, segments, seg_len) = gso_shape(&spec, mss);
        let hdr_len = spec.hdr_len();
        let mut out = vec![vec![0u8; seg_len]; segments];
        let mut views: Vec<&mut [u8]> = out.iter_mut().map(Vec::as_mut_slice).collect();
        let mut lens = vec![0usize; segments];
        let mut input = pkt.clone();
        let th = to_tun_rs(&hdr);
        let mut tun_out = vec![vec![0u8; seg_len]; segments];
        let mut sizes = vec![0usize; segments];
        let (mut tv, mut tt, mut tf) = (Times::default(), Times::default(), Times::default());
        let (mut ti, mut tfi, mut tfw) = (Times::default(), Times::default(), Times::default());
        let mut headers = vec![0u8; hdr_len * segments];
        let whole = [&pkt[..]];
        for _ in 0..rounds {
            tv.time(|| match check::check(&hdr, black_box(&pkt), &copts) {
                Ok(Offload::Segment(req)) => {
                    gso::segment_into_with(&req, &pkt, &gopts, &mut views, &mut lens, fast)
                }
                other => panic!("not a GSO request: {other:?}"),
            });
            tt.time(|| tun_rs::gso_split(&mut input, th, &mut tun_out, &mut sizes, 0, spec.v6));
            tf.time(|| {
                let payload = black_box(&pkt[hdr_len..]);
                for (view, chunk) in views.iter_mut().zip(payload.chunks(usize::from(mss))) {
                    view[..hdr_len].copy_from_slice(&pkt[..hdr_len]);
                    view[hdr_len..hdr_len + chunk.len()].copy_from_slice(chunk);
                }
            });
            // vnet-iovec (S6): check, then only the headers written, the payload summed where it
            // lies, and the (header, payload slices) list walked; its floor: each segment's
            // payload summed in place; and the whole payload summed in one call.
            ti.time(|| match check::check(&hdr, black_box(&pkt), &copts) {
                Ok(Offload::Segment(req)) => {
                    let plan = gso::IovecPlan::new(&req, &whole, &gopts).unwrap();
                    let stride = plan.header_len();
                    plan.write_headers_with(&mut headers, stride, fast).unwrap();
                    plan.segments(&headers, stride)
                        .map(|(h, p)| h.len() + p.count())
                        .sum::<usize>()
                }
                other => panic!("not a GSO request: {other:?}"),
            });
            tfi.time(|| {
                black_box(&pkt[hdr_len..])
                    .chunks(usize::from(mss))
                    .map(|c| u32::from(fast.sum(c)))
                    .sum::<u32>()
            });
            tfw.time(|| fast.sum(black_box(&pkt[hdr_len..])));
        }
        let (tt_iovec, tt_whole) = (Times(tt.0.clone()), Times(tt.0.clone()));
        report(&case, tv, tt, tf);
        report_as(&case, "vnet-iovec", ti, tt_iovec, Some(tfi));
        report_as(&case, "sum-whole", tfw, tt_whole, None);
    }
}

/// Where GSO's iovec form spends its time: each of its parts timed alone on every case (the timer's
/// own cost, an empty round, subtracted): `check`, the plan, the header writes (the payload sums
/// included), the walk over the (header, slices) list, and the payload sums alone.
fn gso_iovec_parts(rounds: usize, fast: FastSum) {
    println!("gso-parts case: ns at the 10th percentile");
    let (copts, gopts) = (CheckOptions::default(), GsoOptions::default());
    for (case, spec, mss) in gso_cases() {
        let pkt = spec.build();
        let (hdr, segments, _) = gso_shape(&spec, mss);
        let hdr_len = spec.hdr_len();
        let whole = [&pkt[..]];
        let Ok(Offload::Segment(req)) = check::check(&hdr, &pkt, &copts) else {
            panic!("not a GSO request");
        };
        let plan = gso::IovecPlan::new(&req, &whole, &gopts).unwrap();
        let mut headers = vec![0u8; hdr_len * segments];
        let mut t: [Times; 6] = Default::default();
        for _ in 0..rounds {
            t[0].time(|| ());
            t[1].time(|| check::check(&hdr, black_box(&pkt), &copts).is_ok());
            t[2].time(|| gso::IovecPlan::new(black_box(&req), &whole, &gopts).is_ok());
            t[3].time(|| black_box(&plan).write_headers_with(&mut headers, hdr_len, fast));
            t[4].time(|| {
                black_box(&plan)
                    .segments(&headers, hdr_len)
                    .map(|(h, p)| h.len() + p.count())
                    .sum::<usize>()
            });
            t[5].time(|| {
                black_box(&pkt[hdr_len..])
                    .chunks(usize::from(mss))
                    .map(|c| u32::from(fast.sum(c)))
                    .sum::<u32>()
            });
        }
        let [empty, check, plan, write, walk, sums] = t.map(|t| t.quantiles()[1]);
        let ns = |q: f64| q - empty;
        println!(
            "{case}: check {:.0}, plan {:.0}, headers {:.0} (sums {:.0} of it), walk {:.0}",
            ns(check),
            ns(plan),
            ns(write),
            ns(sums),
            ns(walk),
        );
    }
}

fn gro_round_robin(rounds: usize, fast: FastSum) {
    println!("gro case: vnet / tun-rs / floor (verify + append)");
    let mut table = GROTable::new();
    for (case, train) in gro_cases() {
        let count = train.len();
        let lens: Vec<usize> = train.iter().map(Vec::len).collect();
        let mut gro = Gro::<LINUX_HELD_FLOWS, FastSum>::with_summer(GroOptions::default(), fast);
        let mut vbufs = gro_buffers(&train);
        let mut out = vec![Output::default(); count];
        let mut owner = vec![0usize; count];
        let mut tbufs: Vec<Vec<u8>> = train
            .iter()
            .map(|_| Vec::with_capacity(65536 + VIRTIO_NET_HDR_LEN))
            .collect();
        let (mut tv, mut tt, mut tf) = (Times::default(), Times::default(), Times::default());
        let (mut ti, mut tfi, mut tit) = (Times::default(), Times::default(), Times::default());
        let trusted = GroOptions::DEFAULT.with_checksums(Checksums::Trusted);
        let mut trusting = Gro::<LINUX_HELD_FLOWS, FastSum>::with_summer(trusted, fast);
        let mut iout = vec![IovOutput::default(); count];
        let mut slices: Vec<&[u8]> = vec![&[]; count];
        let mut headers = vec![0u8; 40 * count];
        for _ in 0..rounds {
            restore_gro_buffers(&mut vbufs, &train);
            tv.time(|| {
                gro.coalesce(&mut vbufs, &lens, &mut out, &mut owner)
                    .unwrap()
            });

            for (buf, p) in tbufs.iter_mut().zip(&train) {
                buf.clear();
                buf.resize(VIRTIO_NET_HDR_LEN, 0xFF);
                buf.extend_from_slice(p);
            }
            tt.time(|| {
                table
                    .apply_gro(&mut tbufs, VIRTIO_NET_HDR_LEN, true)
                    .unwrap()
            });

            // The floor: every segment's L4 sum, its payload summed as it is appended to the first
            // buffer (restarting when 65535 bytes would be exceeded), with no parsing or flow logic.
            restore_gro_buffers(&mut vbufs, &train);
            tf.time(|| {
                let (head, rest) = vbufs.split_at_mut(1);
                let (mut len, mut acc) = (lens[0], 0u32);
                for (p, &plen) in rest.iter().zip(&lens[1..]) {
                    let payload = plen - 40;
                    if len + payload > 65535 {
                        len = lens[0];
                    }
                    acc += u32::from(fast.sum(&p[20..40]));
                    let dst = &mut head[0][len..len + payload];
                    acc += u32::from(fast.copy_and_sum(dst, &p[40..plen]).unwrap());
                    len += payload;
                }
                acc
            });

            // vnet-iovec: the inputs read where they lie; its floor: every segment's L4 bytes
            // summed in place.
            ti.time(|| {
                gro.coalesce_iov(&train, &mut iout, &mut owner, &mut slices, &mut headers)
                    .unwrap()
            });
            tfi.time(|| {
                train
                    .iter()
                    .map(|p| u32::from(fast.sum(&p[20..])))
                    .sum::<u32>()
            });
            // vnet-iovec-trusted: checksums trusted (G10), no payload byte read; no floor.
            tit.time(|| {
                trusting
                    .coalesce_iov(&train, &mut iout, &mut owner, &mut slices, &mut headers)
                    .unwrap()
            });
        }
        let (tt_iovec, tt_trusted) = (Times(tt.0.clone()), Times(tt.0.clone()));
        report(&case, tv, tt, tf);
        report_as(&case, "vnet-iovec", ti, tt_iovec, Some(tfi));
        report_as(&case, "vnet-iovec-trusted", tit, tt_trusted, None);
    }
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    // `vnet` is what a Linux host runs: summing with the sum `FastSum` picks for this CPU (as
    // tun-rs picks its AVX2 sum at run time); the floors sum the same way.
    let fast = FastSum::detect();
    println!(
        "vnet sums with {}; µs as min p10 median; ratio tun-rs/vnet",
        fast.name()
    );
    let only = std::env::var("ONLY").ok();
    let run = |part: &str| only.as_deref().is_none_or(|o| o == part);
    if run("checksum") {
        checksum_round_robin(rounds, fast);
    }
    if run("gso") {
        gso_round_robin(rounds, fast);
    }
    if run("gso-parts") {
        gso_iovec_parts(rounds, fast);
    }
    if run("gro") {
        gro_round_robin(rounds, fast);
    }
}
