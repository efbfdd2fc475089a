//! GRO, vnet beside tun-rs `GROTable::apply_gro`, timed alternately in one loop: each round
//! restores both inputs (untimed), times one vnet call, then one tun-rs call. On a shared machine
//! whose load changes during a criterion run, the ratio of two quantiles taken from the same
//! rounds is steadier than medians measured seconds apart. Same cases and inputs as `peers` (gro).
//! Also times the floor: verify + append (per segment: its TCP header summed, its payload copied
//! and summed in one pass, as vnet does), nothing else.
//!
//! Run: `cargo bench --bench gro_interleaved` (`ROUNDS=n`, default 3000).

use std::hint::black_box;
use std::time::Instant;

use tun_rs::{GROTable, VIRTIO_NET_HDR_LEN};
use vnet_core::csum::Summer;
use vnet_core::gro::{Gro, GroOptions, Output};
use vnet_host::fastsum::FastSum;
use vnet_spec::packet::{L4, PacketSpec};

/// As `peers::gro_train`: `count` TCPv4 segments of `mss` bytes over `flows` flows, round robin.
fn gro_train(count: usize, mss: usize, flows: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let (flow, index) = (i % flows, i / flows);
            let mut spec = PacketSpec::tcp4(mss);
            spec.src_port = 40000 + flow as u16;
            spec.ip_id = 0x1000u16.wrapping_add(index as u16);
            if let L4::Tcp { seq, .. } = &mut spec.l4 {
                *seq = 1000 + (index * mss) as u32;
            }
            spec.build()
        })
        .collect()
}

fn quantiles(mut t: Vec<f64>) -> [f64; 3] {
    t.sort_by(f64::total_cmp);
    [t[0], t[t.len() / 10], t[t.len() / 2]]
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let mut table = GROTable::new();
    // `vnet` is what a Linux host runs: GRO summing with the sum `FastSum` picks for this CPU (as
    // tun-rs picks its AVX2 sum at run time); the floor sums the same way.
    let fast = FastSum::detect();
    println!("vnet sums with {}", fast.name());
    println!(
        "case: vnet / tun-rs / floor (verify + append) in µs as min p10 median; ratio tun-rs/vnet"
    );
    for (count, flows) in [(64, 1), (128, 1), (64, 8), (128, 8)] {
        let train = gro_train(count, 1448, flows);
        let lens: Vec<usize> = train.iter().map(Vec::len).collect();
        let mut gro = Gro::<64, FastSum>::with_summer(GroOptions::default(), fast);
        let mut vbufs: Vec<Vec<u8>> = train
            .iter()
            .map(|p| {
                let mut b = vec![0u8; 65536];
                b[..p.len()].copy_from_slice(p);
                b
            })
            .collect();
        let mut out = vec![Output::default(); count];
        let mut owner = vec![0usize; count];
        let mut tbufs: Vec<Vec<u8>> = train
            .iter()
            .map(|_| Vec::with_capacity(65536 + VIRTIO_NET_HDR_LEN))
            .collect();
        let (mut tv, mut tt, mut tf) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            for (buf, p) in vbufs.iter_mut().zip(&train) {
                buf[..p.len()].copy_from_slice(p);
            }
            let start = Instant::now();
            black_box(
                gro.coalesce(&mut vbufs, &lens, &mut out, &mut owner)
                    .unwrap(),
            );
            tv.push(start.elapsed().as_nanos() as f64);

            for (buf, p) in tbufs.iter_mut().zip(&train) {
                buf.clear();
                buf.resize(VIRTIO_NET_HDR_LEN, 0xFF);
                buf.extend_from_slice(p);
            }
            let start = Instant::now();
            table
                .apply_gro(&mut tbufs, VIRTIO_NET_HDR_LEN, true)
                .unwrap();
            tt.push(start.elapsed().as_nanos() as f64);

            // The floor: every segment's L4 sum, its payload summed as it is appended to the first
            // buffer (restarting when 65535 bytes would be exceeded), with no parsing or flow logic.
            for (buf, p) in vbufs.iter_mut().zip(&train) {
                buf[..p.len()].copy_from_slice(p);
            }
            let start = Instant::now();
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
            black_box(acc);
            tf.push(start.elapsed().as_nanos() as f64);
        }
        let (v, t, f) = (quantiles(tv), quantiles(tt), quantiles(tf));
        let us = |q: [f64; 3]| format!("{:.2} {:.2} {:.2}", q[0] / 1e3, q[1] / 1e3, q[2] / 1e3);
        println!(
            "tcp4-{count}x1448-{flows}flow{}: vnet {} / tun-rs {} / floor {}; ratio min {:.2} p10 {:.2} median {:.2}",
            if flows == 1 { "" } else { "s" },
            us(v),
            us(t),
            us(f),
            t[0] / v[0],
            t[1] / v[1],
            t[2] / v[2],
        );
    }
}
