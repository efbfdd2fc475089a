//! The kernel GRO selftest's cases (tools/testing/selftests/drivers/net/gro.c) as one table: each
//! case's name, its train for IPv4 and IPv6, and what Linux delivers at a TUN boundary (the
//! payload sizes of the packets GRO hands up, in order; rules G1-G8). `tests/gro.rs` checks vnet
//! against every row and the fuzz seeds (`fuzzing::seeds::gro_trains`) start from every train.
//!
//! Every segment is [`PacketSpec::gro_selftest`] (TCP ACK, seq 100 + offset, TTL 8, DF, payload
//! of 'a'), built with IPv4 IDs 8, 9, 10, ... unless the case is about IDs (G3).

use crate::packet::{PacketSpec, build_with_incrementing_ids, checksum, tcp_flags};

/// One case of the selftest.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// The selftest's name for it (`data_same`, `flags_psh`, ...).
    pub name: &'static str,
    /// The train: IPv4 for `false`, IPv6 for `true`.
    pub train: fn(bool) -> Vec<Vec<u8>>,
    /// What Linux delivers, for IPv4 and IPv6: the payload sizes, or `None` where the case does
    /// not run on that version.
    pub linux: [Option<&'static [usize]>; 2],
}

impl Case {
    /// (IPv6?, what Linux delivers) for each version the case runs on.
    pub fn versions(&self) -> impl Iterator<Item = (bool, &'static [usize])> + '_ {
        [false, true]
            .into_iter()
            .zip(self.linux)
            .filter_map(|(v6, want)| want.map(|w| (v6, w)))
    }
}

/// K12, beyond the selftest: what Linux delivers for `n` flows of two 100-byte segments each, on
/// ports 1000, 1001, ..., interleaved (every flow's first segment, then every flow's second), as
/// (port, payload) in order. It holds at most 8 flows at a single-queue TUN: up to 8 flows each
/// merge into one packet; a 9th completes the oldest, whose second segment then completes the next
/// oldest, and so on: nothing merges.
pub fn held_flows_delivery(n: u16) -> Vec<(u16, usize)> {
    if n <= 8 {
        (0..n).map(|f| (1000 + f, 200)).collect()
    } else {
        (0..2)
            .flat_map(|_| (0..n).map(|f| (1000 + f, 100)))
            .collect()
    }
}

/// The selftest's segment: `len` bytes at sequence offset `off`.
fn s(v6: bool, len: usize, off: u32) -> PacketSpec {
    PacketSpec::gro_selftest(v6, len, off)
}

/// Two segments: `first` bytes at sequence offset 0, then `second` bytes at offset `off`.
fn two(v6: bool, first: usize, second: usize, off: u32) -> Vec<Vec<u8>> {
    build_with_incrementing_ids(&mut [s(v6, first, 0), s(v6, second, off)])
}

/// Five segments of 100 bytes back to back, the third with the TCP flags `flags`; the selftest
/// sends that segment empty unless the flag is PSH, the one of its flags that carries data.
fn flagged(v6: bool, flags: u8) -> Vec<Vec<u8>> {
    let mut b: Vec<PacketSpec> = (0..5).map(|i| s(v6, 100, 100 * i as u32)).collect();
    let empty = flags != tcp_flags::PSH;
    b[2] = if empty { s(v6, 0, 0) } else { b[2].clone() }.with_tcp_flags(flags);
    build_with_incrementing_ids(&mut b)
}

/// A TCP timestamp option (TSval `tsval`) padded with two NOPs: before it, around it or after it.
pub fn ts(tsval: u32, layout: u8) -> Vec<u8> {
    let mut t = vec![8, 10];
    t.extend_from_slice(&tsval.to_be_bytes());
    t.extend_from_slice(&[0; 4]);
    match layout {
        0 => [vec![1, 1], t].concat(),
        1 => [vec![1], t, vec![1]].concat(),
        _ => [t, vec![1, 1]].concat(),
    }
}

/// The second of two segments changed by `change`.
fn second_changed(v6: bool, change: fn(&mut PacketSpec)) -> Vec<Vec<u8>> {
    let mut b = [s(v6, 100, 0), s(v6, 100, 100)];
    change(&mut b[1]);
    build_with_incrementing_ids(&mut b)
}

/// A 40-byte IPv4 timestamp option (IHL 15).
fn ts_option() -> Vec<u8> {
    let mut o = vec![68, 40, 5, 0];
    o.resize(40, 0);
    o
}

/// Sets MF (and, if `offset`, a fragment offset) on an IPv4 packet, fixing its header checksum.
pub fn fragment(p: &mut [u8], offset: bool) {
    p[6] |= 0x20;
    if offset {
        p[7] = 3;
    }
    p[10..12].fill(0);
    let ihl = usize::from(p[0] & 0xf) * 4;
    let c = checksum::finish(checksum::sum(&p[..ihl]));
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Two segments of 100 bytes with DF as given and these IPv4 IDs, in order.
pub fn ids(df: bool, ids: &[u16]) -> Vec<Vec<u8>> {
    ids.iter()
        .enumerate()
        .map(|(i, &id)| {
            let mut s = s(false, 100, 100 * i as u32);
            s.df = df;
            s.ip_id = id;
            s.build()
        })
        .collect()
}

/// Two segments with the same 8-byte destination-options header, or different ones.
fn v6ext(second_byte: u8) -> Vec<Vec<u8>> {
    let ext = |byte, off| PacketSpec {
        v6_ext: vec![(60, vec![byte; 6])],
        ..s(true, 100, off)
    };
    build_with_incrementing_ids(&mut [ext(0, 0), ext(second_byte, 100)])
}

/// The payload of a full-sized segment of the `large` cases.
const LARGE_MSS: usize = 4096 - 20 - 40;

/// Sixteen full segments, then two of the remainder to 64 KiB plus `extra`.
pub fn large(v6: bool, extra: usize) -> Vec<Vec<u8>> {
    let r = (65475 + if v6 { 0 } else { 20 }) % LARGE_MSS + extra;
    let mut b: Vec<PacketSpec> = (0..16)
        .map(|i| s(v6, LARGE_MSS, (i * LARGE_MSS) as u32))
        .collect();
    b.push(s(v6, r, (16 * LARGE_MSS) as u32));
    b.push(s(v6, r, (17 * LARGE_MSS) as u32));
    build_with_incrementing_ids(&mut b)
}

/// Both versions deliver `want`.
const fn both(want: &'static [usize]) -> [Option<&'static [usize]>; 2] {
    [Some(want), Some(want)]
}

/// Only IPv4 runs the case.
const fn v4(want: &'static [usize]) -> [Option<&'static [usize]>; 2] {
    [Some(want), None]
}

/// Only IPv6 runs the case.
const fn v6(want: &'static [usize]) -> [Option<&'static [usize]>; 2] {
    [None, Some(want)]
}

/// Every case, in the selftest's order.
pub fn cases() -> Vec<Case> {
    use tcp_flags::{CWR, PSH, RST, SYN, URG};
    let case = |name, train, linux| Case { name, train, linux };
    vec![
        case("data_same", |v6| two(v6, 100, 100, 100), both(&[200])),
        case("data_lrg_sml", |v6| two(v6, 100, 50, 100), both(&[150])),
        case("data_sml_lrg", |v6| two(v6, 50, 100, 50), both(&[50, 100])),
        // Pure ACKs are not merged; the third acknowledges more.
        case(
            "ack",
            |v6| {
                let mut third = s(v6, 0, 0);
                third.l4 = crate::packet::L4::Tcp {
                    seq: 100,
                    ack: 101,
                    flags: tcp_flags::ACK,
                    window: 65535,
                };
                build_with_incrementing_ids(&mut [s(v6, 0, 0), s(v6, 0, 0), third])
            },
            both(&[0, 0, 0]),
        ),
        // PSH ends the train it joins.
        case("flags_psh", |v6| flagged(v6, PSH), both(&[300, 200])),
        case("flags_syn", |v6| flagged(v6, SYN), both(&[200, 0, 200])),
        case("flags_rst", |v6| flagged(v6, RST), both(&[200, 0, 200])),
        case("flags_urg", |v6| flagged(v6, URG), both(&[200, 0, 200])),
        // Linux 6.18 at a TUN boundary (measured, G3): a CWR segment is never merged.
        case(
            "flags_cwr",
            |v6| {
                let mut b: Vec<PacketSpec> = (0..5).map(|i| s(v6, 100, 100 * i)).collect();
                b[1] = b[1].clone().with_tcp_flags(CWR);
                b[2] = b[2].clone().with_tcp_flags(CWR);
                build_with_incrementing_ids(&mut b)
            },
            both(&[100, 100, 100, 200]),
        ),
        // A bad checksum is not merged (the second segment's checksum one less).
        case(
            "tcp_csum",
            |v6| {
                let mut batch = two(v6, 100, 100, 100);
                let at = if v6 { 40 } else { 20 } + 16;
                let c = u16::from_be_bytes([batch[1][at], batch[1][at + 1]]).wrapping_sub(1);
                batch[1][at..at + 2].copy_from_slice(&c.to_be_bytes());
                batch
            },
            both(&[100, 100]),
        ),
        case("tcp_seq", |v6| two(v6, 100, 100, 101), both(&[100, 100])),
        // Timestamps: a changed TSval, or the same option laid out differently, is not merged.
        case(
            "tcp_ts",
            |v6| {
                let opts = [ts(0, 0), ts(0, 0), ts(100, 0), ts(100, 1), ts(100, 2)];
                let mut b: Vec<PacketSpec> = opts
                    .into_iter()
                    .enumerate()
                    .map(|(i, o)| PacketSpec {
                        tcp_options: o,
                        ..s(v6, 100, 100 * i as u32)
                    })
                    .collect();
                build_with_incrementing_ids(&mut b)
            },
            both(&[200, 100, 100, 100]),
        ),
        case(
            "tcp_opt",
            |v6| {
                let with = |o: Vec<u8>, off| PacketSpec {
                    tcp_options: o,
                    ..s(v6, 100, off)
                };
                build_with_incrementing_ids(&mut [
                    with(ts(0, 0), 0),
                    with(ts(0, 0), 100),
                    with(vec![1, 3, 3, 0], 200),
                ])
            },
            both(&[200, 100]),
        ),
        case(
            "ip_ecn",
            |v6| second_changed(v6, |s| s.tos ^= 0x02),
            both(&[100, 100]),
        ),
        case(
            "ip_tos",
            |v6| second_changed(v6, |s| s.tos = if s.v6 { 0xf0 } else { 1 }),
            both(&[100, 100]),
        ),
        case(
            "ip_ttl",
            |v6| second_changed(v6, |s| s.ttl = 7),
            both(&[100, 100]),
        ),
        case(
            "ip_opt",
            |_| {
                build_with_incrementing_ids(&mut [
                    s(false, 100, 0),
                    PacketSpec {
                        ip_options: ts_option(),
                        ..s(false, 100, 100)
                    },
                    s(false, 100, 200),
                ])
            },
            v4(&[100, 100, 100]),
        ),
        case(
            "ip_frag4",
            |_| {
                let mut batch = two(false, 100, 100, 100);
                fragment(&mut batch[1], false);
                batch
            },
            v4(&[100, 100]),
        ),
        // G3 under Linux: IDs must increment; a fixed-ID train is delivered as it came.
        case("ip_id_df1_inc", |_| ids(true, &[8, 9]), v4(&[200])),
        case("ip_id_df1_fixed", |_| ids(true, &[8, 8]), v4(&[100, 100])),
        case("ip_id_df0_inc", |_| ids(false, &[8, 9]), v4(&[200])),
        case("ip_id_df0_fixed", |_| ids(false, &[8, 8]), v4(&[100, 100])),
        case(
            "ip_id_df1_inc_fixed",
            |_| ids(true, &[8, 9, 9]),
            v4(&[200, 100]),
        ),
        case(
            "ip_id_df1_fixed_inc",
            |_| ids(true, &[8, 8, 9]),
            v4(&[100, 100, 100]),
        ),
        // The selftest pauses a second before the fragment to flush the held pair first; in one
        // batch the fragment bypasses GRO and overtakes the held pair (G8, K11), which then
        // completes when 300 does not follow it.
        case(
            "ip_frag6",
            |_| {
                build_with_incrementing_ids(&mut [
                    s(true, 100, 0),
                    s(true, 100, 100),
                    PacketSpec {
                        v6_ext: vec![(44, vec![0; 6])],
                        ..s(true, 100, 200)
                    },
                    s(true, 100, 300),
                ])
            },
            v6(&[100, 200, 100]),
        ),
        case("ip_v6ext_same", |_| v6ext(0), v6(&[200])),
        case("ip_v6ext_diff", |_| v6ext(0x11), v6(&[100, 100])),
        case(
            "large_max",
            |v6| large(v6, 0),
            [Some(&[65495, 919]), Some(&[65475, 899])],
        ),
        case(
            "large_rem",
            |v6| large(v6, 1),
            [Some(&[64576, 920, 920]), Some(&[64576, 900, 900])],
        ),
    ]
}
