//! Side-by-side benches of vnet-core and its peers (ARCHITECTURE.md, 'Performance targets'), in
//! one run so that ratios compare like with like. Every id is `<work>/<case>/<implementation>`: a
//! comparison is two ids that differ only in the last part. `bench/ratios.py` turns criterion's
//! estimates into the README table.
//!
//! Run: `cd bench && cargo bench --bench peers` (quick: add
//! `-- --warm-up-time 1 --measurement-time 2`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::time::{Duration, Instant};
use tun_rs::{GROTable, VIRTIO_NET_HDR_LEN};
use vnet_bench::cases::{
    gro_buffers, gro_cases, gso_cases, gso_header, gso_shape, restore_gro_buffers,
};
use vnet_bench::peers::to_tun_rs;
use vnet_core::check::{self, CheckOptions, Offload};
use vnet_core::csum::{self, Summer};
use vnet_core::gro::{Checksums, Gro, GroError, GroOptions, IovOutput, LINUX_HELD_FLOWS, Output};
use vnet_core::gso::{self, GsoOptions};
use vnet_core::hdr::VnetHdr;
use vnet_core::meta::{self, TxFlags, TxMetadata};
use vnet_host::fastsum::FastSum;
use vnet_packet::PacketSpec;

/// Counts heap allocations, so that the benches can state how many each implementation makes.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations made by `f`.
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let r = f();
    (ALLOCATIONS.load(Ordering::Relaxed) - before, r)
}

// ---------------------------------------------------------------------------------------------
// Checksum

/// 64-byte aligned storage, so that "offset 0" and "offset 1" mean what they say.
#[repr(C, align(64))]
struct Aligned([u8; 65536 + 64]);

/// `vnet` is what a Linux host of vnet-core runs: the sum `vnet_host::fastsum::FastSum` picks for
/// this CPU (AVX-512 where present, else AVX2, as tun-rs picks its AVX2 sum at run time);
/// `vnet-portable` is vnet-core's default build (SSE2 on x86-64), and `vnet-avx2`, `vnet-avx512`
/// its vector builds (where the CPU has them), shown as peer columns.
fn fast_sum() -> FastSum {
    let fast = FastSum::detect();
    eprintln!("vnet sums with {}", fast.name());
    fast
}

/// vnet-core's vector builds of its sum that this CPU can run, each its own column.
fn vector_builds() -> Vec<FastSum> {
    #[cfg(target_arch = "x86_64")]
    {
        use vnet_host::fastsum::{Avx2, Avx512};
        [
            Avx2::detect().map(FastSum::Avx2),
            Avx512::detect().map(FastSum::Avx512),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
    #[cfg(not(target_arch = "x86_64"))]
    Vec::new()
}

fn checksum(c: &mut Criterion) {
    let fast = fast_sum();
    let builds = vector_builds();
    let mut buf = Box::new(Aligned([0; 65536 + 64]));
    for (i, b) in buf.0.iter_mut().enumerate() {
        *b = (i.wrapping_mul(131) ^ (i >> 7)) as u8;
    }
    let mut g = c.benchmark_group("checksum");
    let sizes = [20usize, 40, 64, 576, 1500, 9000, 65535];
    let cases = sizes
        .iter()
        .map(|&n| (n.to_string(), 0, n))
        .chain([40, 1500, 65535].map(|n| (format!("{n}+1"), 1, n)));
    for (case, offset, len) in cases {
        let data = &buf.0[offset..offset + len];
        // All implementations agree (as folded sums) before any of them is timed.
        let want = csum::sum(data);
        assert_eq!(fast.sum(data), want);
        assert_eq!(tun_rs::checksum(data, 0), want);
        assert_eq!(!u16::from_be_bytes(internet_checksum::checksum(data)), want);
        assert_eq!(smoltcp::wire::checksum::data(data), want);
        let ep = etherparse::checksum::Sum16BitWords::new().add_slice(data);
        // etherparse sums native-endian words and leaves the result in native order.
        assert_eq!(!u16::from_be(ep.ones_complement()), want);

        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(format!("{case}/vnet"), |b| {
            b.iter(|| fast.sum(black_box(data)))
        });
        g.bench_function(format!("{case}/vnet-portable"), |b| {
            b.iter(|| csum::sum(black_box(data)))
        });
        for &build in &builds {
            assert_eq!(build.sum(data), want);
            g.bench_function(format!("{case}/vnet-{}", build.name()), |b| {
                b.iter(|| build.sum(black_box(data)))
            });
        }
        g.bench_function(format!("{case}/tun-rs"), |b| {
            b.iter(|| tun_rs::checksum(black_box(data), 0))
        });
        g.bench_function(format!("{case}/internet-checksum"), |b| {
            b.iter(|| internet_checksum::checksum(black_box(data)))
        });
        g.bench_function(format!("{case}/smoltcp"), |b| {
            b.iter(|| smoltcp::wire::checksum::data(black_box(data)))
        });
        g.bench_function(format!("{case}/etherparse"), |b| {
            b.iter(|| {
                etherparse::checksum::Sum16BitWords::new()
                    .add_slice(black_box(data))
                    .ones_complement()
            })
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// GSO

/// vnet's side of a GSO case: a header and the options it is checked and segmented under.
struct Split<'a> {
    hdr: &'a VnetHdr,
    copts: CheckOptions,
    gopts: GsoOptions,
}

impl Split<'_> {
    /// `check`, then `segment_into_with` into `views` with `summer`: the segment count.
    fn run<S: Summer>(
        &self,
        pkt: &[u8],
        views: &mut [&mut [u8]],
        lens: &mut [usize],
        summer: S,
    ) -> usize {
        match check::check(self.hdr, pkt, &self.copts) {
            Ok(Offload::Segment(req)) => {
                gso::segment_into_with(&req, pkt, &self.gopts, views, lens, summer).unwrap()
            }
            other => panic!("not a GSO request: {other:?}"),
        }
    }
}

fn gso(c: &mut Criterion) {
    let fast = fast_sum();
    let mut g = c.benchmark_group("gso");
    for (case, spec, mss) in gso_cases() {
        let pkt = spec.build();
        let (hdr, segments, seg_len) = gso_shape(&spec, mss);
        g.throughput(Throughput::Bytes(pkt.len() as u64));

        // vnet: validation (check) and segmentation, as tun-rs's gso_split validates too.
        let split = Split {
            hdr: &hdr,
            copts: CheckOptions::default(),
            gopts: GsoOptions::default(),
        };
        let mut vout = vec![vec![0u8; seg_len]; segments];
        let mut views: Vec<&mut [u8]> = vout.iter_mut().map(Vec::as_mut_slice).collect();
        let mut lens = vec![0usize; segments];
        assert_eq!(split.run(&pkt, &mut views, &mut lens, fast), segments);
        let portable: Vec<Vec<u8>> = views.iter().map(|v| v.to_vec()).collect();
        split.run(&pkt, &mut views, &mut lens, csum::Portable);
        assert!(portable.iter().zip(&views).all(|(a, b)| a[..] == b[..]));
        g.bench_function(format!("{case}/vnet"), |b| {
            b.iter(|| split.run(black_box(&pkt), &mut views, &mut lens, fast))
        });
        g.bench_function(format!("{case}/vnet-portable"), |b| {
            b.iter(|| split.run(black_box(&pkt), &mut views, &mut lens, csum::Portable))
        });

        // vnet-iovec: the same validation, then the iovec form (S6): only each segment's headers
        // are written (into one buffer, packed), payloads stay in the input and are summed in
        // place; walking the (header, payload slices) list a `sendmsg`/`writev` would take is
        // part of the work. vnet-iovec-sg: the packet in 4 KiB pieces (a descriptor chain).
        fn iovec<S: Summer>(
            hdr: &VnetHdr,
            whole: &[u8],
            pieces: &[&[u8]],
            copts: &CheckOptions,
            gopts: &GsoOptions,
            headers: &mut [u8],
            summer: S,
        ) -> usize {
            let Ok(Offload::Segment(req)) = check::check(hdr, whole, copts) else {
                panic!("not a GSO request");
            };
            let plan = gso::IovecPlan::new(&req, pieces, gopts).unwrap();
            let stride = plan.header_len();
            plan.write_headers_with(headers, stride, summer).unwrap();
            let mut iov = 0;
            for (header, payload) in plan.segments(headers, stride) {
                black_box(header);
                iov += 1;
                for piece in payload {
                    black_box(piece);
                    iov += 1;
                }
            }
            iov
        }
        let mut headers = vec![0u8; spec.hdr_len() * segments];
        let whole = [&pkt[..]];
        let sg: Vec<&[u8]> = pkt.chunks(4096).collect();
        assert_eq!(
            iovec(
                &hdr,
                &pkt,
                &whole,
                &split.copts,
                &split.gopts,
                &mut headers,
                fast
            ),
            2 * segments
        );
        for (i, (h, p)) in {
            let req = match check::check(&hdr, &pkt, &split.copts) {
                Ok(Offload::Segment(req)) => req,
                other => panic!("not a GSO request: {other:?}"),
            };
            let plan = gso::IovecPlan::new(&req, &sg, &split.gopts).unwrap();
            plan.write_headers(&mut headers, plan.header_len()).unwrap();
            plan.segments(&headers, plan.header_len())
                .map(|(h, p)| {
                    (
                        h.to_vec(),
                        p.flat_map(|s| s.iter().copied()).collect::<Vec<u8>>(),
                    )
                })
                .collect::<Vec<_>>()
        }
        .into_iter()
        .enumerate()
        {
            assert!(
                [h, p].concat() == portable[i][..lens[i]],
                "iovec segment {i} differs from segment_into's"
            );
        }
        g.bench_function(format!("{case}/vnet-iovec"), |b| {
            b.iter(|| {
                iovec(
                    &hdr,
                    black_box(&pkt),
                    &whole,
                    &split.copts,
                    &split.gopts,
                    &mut headers,
                    fast,
                )
            })
        });
        g.bench_function(format!("{case}/vnet-iovec-sg"), |b| {
            b.iter(|| {
                iovec(
                    &hdr,
                    black_box(&pkt),
                    &sg,
                    &split.copts,
                    &split.gopts,
                    &mut headers,
                    fast,
                )
            })
        });

        // The floor: only the copies any segmenter makes (headers and payload of every segment into
        // the same buffers), no checksum and no header fields. GSO of a 65 KB packet is bound by
        // this memory traffic; the other columns are read against it.
        let hdr_len = spec.hdr_len();
        let payload = &pkt[hdr_len..];
        g.bench_function(format!("{case}/copy-floor"), |b| {
            b.iter(|| {
                let payload = black_box(payload);
                for (view, chunk) in views.iter_mut().zip(payload.chunks(usize::from(mss))) {
                    view[..hdr_len].copy_from_slice(&pkt[..hdr_len]);
                    view[hdr_len..hdr_len + chunk.len()].copy_from_slice(chunk);
                }
            })
        });

        let mut input = pkt.clone();
        let th = to_tun_rs(&hdr);
        let mut out = vec![vec![0u8; seg_len]; segments];
        let mut sizes = vec![0usize; segments];
        let n = tun_rs::gso_split(&mut input, th, &mut out, &mut sizes, 0, spec.v6).unwrap();
        assert_eq!(n, segments);
        g.bench_function(format!("{case}/tun-rs"), |b| {
            b.iter(|| {
                tun_rs::gso_split(black_box(&mut input), th, &mut out, &mut sizes, 0, spec.v6)
                    .unwrap()
            })
        });
    }
    g.finish();
}

/// GSO for a tunnel: every segment with room before it for the tunnel's header (16 bytes, as
/// WireGuard's) and, for vnet, 16 after it for a tag. vnet: `batch::split_with_room` (check, then
/// segments at a stride into one buffer, S7); vnet-split: `batch::split` (the same without room,
/// packed), the cost of the room; tun-rs: `gso_split` with its `offset` of 16 into one buffer per
/// segment.
fn gso_room(c: &mut Criterion) {
    use vnet_host::batch::{self, Room};
    const ROOM: Room = Room { head: 16, tail: 16 };
    let mut g = c.benchmark_group("gso-room");
    for (case, spec, mss) in gso_cases() {
        // NEEDS_CSUM: the checksum fields hold the pseudo-header sum (C3), as both splitters expect.
        let pkt = spec.build_partial();
        let (hdr, segments, seg_len) = gso_shape(&spec, mss);
        g.throughput(Throughput::Bytes(pkt.len() as u64));

        let mut input = pkt.clone();
        let mut out = vec![0u8; segments * (seg_len + ROOM.head + ROOM.tail)];
        let spaced = batch::split_with_room(&hdr, &mut input, &mut out, ROOM).unwrap();
        assert_eq!(spaced.count, segments);
        let th = to_tun_rs(&hdr);
        let mut bufs = vec![vec![0u8; ROOM.head + seg_len]; segments];
        let mut sizes = vec![0usize; segments];
        let n =
            tun_rs::gso_split(&mut input, th, &mut bufs, &mut sizes, ROOM.head, spec.v6).unwrap();
        assert_eq!(n, segments);
        for (i, at) in spaced.packets().enumerate() {
            assert_eq!(
                out[at],
                bufs[i][ROOM.head..ROOM.head + sizes[i]],
                "{case}: segment {i}"
            );
        }
        // Timed after the comparison: `vnet-split` reuses `out`.
        g.bench_function(format!("{case}/vnet"), |b| {
            b.iter(|| batch::split_with_room(&hdr, black_box(&mut input), &mut out, ROOM).unwrap())
        });
        g.bench_function(format!("{case}/vnet-split"), |b| {
            b.iter(|| batch::split(&hdr, black_box(&mut input), &mut out).unwrap())
        });
        g.bench_function(format!("{case}/tun-rs"), |b| {
            b.iter(|| {
                tun_rs::gso_split(
                    black_box(&mut input),
                    th,
                    &mut bufs,
                    &mut sizes,
                    ROOM.head,
                    spec.v6,
                )
                .unwrap()
            })
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// GRO

/// Criterion's custom timing of an in-place coalescer: `iters` calls, each on the restored train
/// (the restoring is not timed).
fn time_restored<T>(
    iters: u64,
    bufs: &mut [Vec<u8>],
    train: &[Vec<u8>],
    mut call: impl FnMut(&mut [Vec<u8>]) -> T,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        restore_gro_buffers(bufs, train);
        let start = Instant::now();
        black_box(call(bufs));
        total += start.elapsed();
    }
    total
}

/// tun-rs's input: each packet behind room for its virtio header. Merged-away packets keep the
/// 0xFF header bytes (tun-rs writes a header only for what it hands over).
fn tun_rs_gro_input(train: &[Vec<u8>]) -> Vec<Vec<u8>> {
    train
        .iter()
        .map(|p| {
            let mut b = Vec::with_capacity(65536 + VIRTIO_NET_HDR_LEN);
            b.resize(VIRTIO_NET_HDR_LEN, 0xFF);
            b.extend_from_slice(p);
            b
        })
        .collect()
}

/// The iovec form's output lists for a train: packets, owners, payload slices, header bytes.
struct IovLists<'a> {
    out: Vec<IovOutput>,
    owner: Vec<usize>,
    slices: Vec<&'a [u8]>,
    headers: Vec<u8>,
}

impl<'a> IovLists<'a> {
    fn new(count: usize) -> Self {
        IovLists {
            out: vec![IovOutput::default(); count],
            owner: vec![0; count],
            slices: vec![&[]; count],
            headers: vec![0; 40 * count],
        }
    }

    /// One `coalesce_iov` of `train`.
    fn coalesce(
        &mut self,
        gro: &mut Gro<LINUX_HELD_FLOWS, FastSum>,
        train: &'a [Vec<u8>],
    ) -> Result<usize, GroError> {
        let IovLists {
            out,
            owner,
            slices,
            headers,
        } = self;
        gro.coalesce_iov(train, out, owner, slices, headers)
    }

    /// [`coalesce`](Self::coalesce), then a walk of the (header, payload slices) list a `writev`
    /// would take; returns that list's length.
    fn coalesce_and_walk(
        &mut self,
        gro: &mut Gro<LINUX_HELD_FLOWS, FastSum>,
        train: &'a [Vec<u8>],
    ) -> usize {
        let k = self.coalesce(gro, train).unwrap();
        let mut iov = 0;
        for o in &self.out[..k] {
            black_box(o.header(&self.headers));
            iov += 1;
            for piece in o.payload(&self.slices) {
                black_box(piece);
                iov += 1;
            }
        }
        iov
    }

    /// The bytes of output `k`: its header, then its payload slices.
    fn packet(&self, k: usize) -> Vec<u8> {
        let o = &self.out[k];
        [o.header(&self.headers), &o.payload(&self.slices).concat()].concat()
    }
}

fn gro(c: &mut Criterion) {
    let fast = fast_sum();
    let mut g = c.benchmark_group("gro");
    let mut table = GROTable::new();
    for (case, train) in gro_cases() {
        let bytes: usize = train.iter().map(Vec::len).sum();
        g.throughput(Throughput::Bytes(bytes as u64));

        // vnet: every buffer has room for a whole merged packet; inputs are restored (untimed)
        // before each call, since coalescing rewrites the buffers that hold outputs.
        let mut gro = Gro::<LINUX_HELD_FLOWS, FastSum>::with_summer(GroOptions::default(), fast);
        let mut portable = Gro::<LINUX_HELD_FLOWS>::new(GroOptions::default());
        let lens: Vec<usize> = train.iter().map(Vec::len).collect();
        let mut vbufs = gro_buffers(&train);
        let mut out = vec![Output::default(); train.len()];
        let mut owner = vec![0usize; train.len()];
        let (n, r) = allocations(|| gro.coalesce(&mut vbufs, &lens, &mut out, &mut owner));
        let produced = r.unwrap();
        assert_eq!(n, 0, "vnet's GRO allocated");
        eprintln!("gro/{case}/vnet: {produced} packets out, {n} heap allocations per call");
        g.bench_function(format!("{case}/vnet"), |b| {
            b.iter_custom(|iters| {
                time_restored(iters, &mut vbufs, &train, |bufs| {
                    gro.coalesce(bufs, &lens, &mut out, &mut owner).unwrap()
                })
            })
        });
        // The default build's sum, as a peer column; the same outputs.
        let fast_out = (out.clone(), owner.clone());
        restore_gro_buffers(&mut vbufs, &train);
        let m = portable
            .coalesce(&mut vbufs, &lens, &mut out, &mut owner)
            .unwrap();
        assert_eq!((m, (out.clone(), owner.clone())), (produced, fast_out));
        g.bench_function(format!("{case}/vnet-portable"), |b| {
            b.iter_custom(|iters| {
                time_restored(iters, &mut vbufs, &train, |bufs| {
                    portable
                        .coalesce(bufs, &lens, &mut out, &mut owner)
                        .unwrap()
                })
            })
        });

        // vnet-iovec: the iovec form (G9): the same decisions, the inputs read where they lie
        // (checksums verified in place), only each merged packet's headers written; walking the
        // (header, payload slices) list a `writev` would take is part of the work. Its packets
        // are vnet's, byte for byte.
        let contiguous: Vec<Vec<u8>> = out[..produced]
            .iter()
            .map(|o| vbufs[o.index][..o.len].to_vec())
            .collect();
        let mut lists = IovLists::new(train.len());
        let (n, r) = allocations(|| lists.coalesce(&mut gro, &train));
        assert_eq!((n, r), (0, Ok(produced)), "vnet-iovec allocated or differs");
        for (k, want) in contiguous.iter().enumerate() {
            assert!(
                lists.packet(k) == *want,
                "vnet-iovec packet {k} differs from vnet's"
            );
        }
        eprintln!("gro/{case}/vnet-iovec: {produced} packets out, {n} heap allocations per call");
        g.bench_function(format!("{case}/vnet-iovec"), |b| {
            b.iter(|| lists.coalesce_and_walk(&mut gro, black_box(&train)))
        });
        // vnet-iovec-trusted: the same with checksums trusted (G10), as the kernel takes packets
        // marked CHECKSUM_UNNECESSARY (an AEAD tunnel's decrypted packets); tun-rs verifies none.
        // No payload byte is read. Its packets are vnet-iovec's (the train's checksums hold).
        let opts = GroOptions::DEFAULT.with_checksums(Checksums::Trusted);
        let mut trusting = Gro::<LINUX_HELD_FLOWS, FastSum>::with_summer(opts, fast);
        let verified = lists.out[..produced].to_vec();
        assert_eq!(lists.coalesce(&mut trusting, &train), Ok(produced));
        assert_eq!(
            lists.out[..produced],
            verified[..],
            "vnet-iovec-trusted differs"
        );
        g.bench_function(format!("{case}/vnet-iovec-trusted"), |b| {
            b.iter(|| lists.coalesce_and_walk(&mut trusting, black_box(&train)))
        });

        // The floor of a copying coalescer: every segment's payload copied once, behind the
        // others (no checksum, no header, no decision). vnet is read against it; vnet-iovec
        // copies no payload.
        let hdr_len = 40;
        let mut merged = vec![0u8; bytes];
        g.bench_function(format!("{case}/copy-floor"), |b| {
            b.iter(|| {
                let mut at = 0;
                for p in black_box(&train) {
                    let payload = &p[hdr_len..];
                    merged[at..at + payload.len()].copy_from_slice(payload);
                    at += payload.len();
                }
                black_box(&merged);
            })
        });

        let mut bufs = tun_rs_gro_input(&train);
        let (n, r) = allocations(|| table.apply_gro(&mut bufs, VIRTIO_NET_HDR_LEN, true));
        r.unwrap();
        let heads = bufs.iter().filter(|b| b[0] != 0xFF).count();
        eprintln!("gro/{case}/tun-rs: {heads} packets out, {n} heap allocations per call");
        g.bench_function(format!("{case}/tun-rs"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    for (buf, p) in bufs.iter_mut().zip(&train) {
                        buf.truncate(VIRTIO_NET_HDR_LEN);
                        buf.fill(0xFF);
                        buf.extend_from_slice(p);
                    }
                    let start = Instant::now();
                    table
                        .apply_gro(&mut bufs, VIRTIO_NET_HDR_LEN, true)
                        .unwrap();
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// check

fn check(c: &mut Criterion) {
    let mut g = c.benchmark_group("check");
    let opts = CheckOptions::default();
    for (case, spec, mss) in gso_cases().into_iter().filter(|(_, _, m)| *m == 1448) {
        let pkt = spec.build();
        let hdr = gso_header(&spec, mss);
        check::check(&hdr, &pkt, &opts).unwrap();
        g.bench_function(format!("{case}/vnet"), |b| {
            b.iter(|| check::check(black_box(&hdr), black_box(&pkt), &opts))
        });
    }
    let plain = PacketSpec::tcp4(1448).build();
    let hdr = VnetHdr::default();
    g.bench_function("tcp4-1488-plain/vnet", |b| {
        b.iter(|| check::check(black_box(&hdr), black_box(&plain), &opts))
    });
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// TX metadata -> header

fn meta(c: &mut Criterion) {
    let mut g = c.benchmark_group("meta");
    let tso = TxMetadata {
        flags: TxFlags(
            TxFlags::IS_IPV4.0
                | TxFlags::OFFLOAD_TCP_SEGMENTATION.0
                | TxFlags::OFFLOAD_TCP_CHECKSUM.0
                | TxFlags::OFFLOAD_IP_HEADER_CHECKSUM.0,
        ),
        l2_len: 0,
        l3_len: 20,
        l4_len: 20,
        max_segment_size: 1448,
        vlan: None,
    };
    meta::to_header(&tso).unwrap();
    g.bench_function("tx-tcp4-tso/vnet", |b| {
        b.iter(|| meta::to_header(black_box(&tso)))
    });
    g.finish();
}

criterion_group!(benches, checksum, gso, gso_room, gro, meta, check);
criterion_main!(benches);
