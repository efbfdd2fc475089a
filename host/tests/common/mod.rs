//! Shared by the kernel suites (law L8): a seeded PRNG, GSO inputs in the virtio convention, hex
//! for reproducible cases, and timing.

#![allow(dead_code, unreachable_pub, clippy::indexing_slicing)]

use std::fmt::Write as _;

use vnet_core::gro::{Gro, GroOptions, LINUX_HELD_FLOWS, Output};
use vnet_core::hdr::{Flags, GsoType, Layout, VnetHdr};
use vnet_core::kernel::Profile;
use vnet_spec::packet::{L4, PacketSpec};

/// SplitMix64: tiny, seedable, good enough to pick test cases. The seed is printed by every test,
/// and `VNET_SEED` replays one.
pub struct Rng(u64);

impl Rng {
    /// From `VNET_SEED` if set, else from `default`.
    pub fn from_env(default: u64) -> Self {
        let seed = std::env::var("VNET_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default);
        Self(seed)
    }

    pub fn seed(&self) -> u64 {
        self.0
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next() % den < num
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next() as usize % items.len()]
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// IPv4 options that a router forwards untouched: NOPs, maybe one experimental option (RFC 4727
/// type 0x9e, which Linux skips), then end-of-list bytes. Measured: the kernel rewrites every byte
/// after an end-of-list option to zero when it forwards (ip_options_compile), so random bytes
/// there would test forwarding, not segmentation.
pub fn ipv4_options(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut opts = vec![1u8; rng.range(0, len as u64 - 1) as usize];
    let room = len - opts.len();
    if room >= 3 && rng.chance(1, 2) {
        let olen = rng.range(2, room as u64) as usize;
        opts.extend([0x9e, olen as u8]);
        opts.extend(rng.bytes(olen - 2));
    }
    opts.resize(len, 0);
    opts
}

/// The body of an IPv6 options header of `len` bytes (after next-header and length): one
/// experimental option (RFC 4727 type 0x1e, "skip if unknown") filling it. Measured: a single
/// PadN longer than 7 bytes makes the kernel drop a hop-by-hop header on forwarding
/// (ip6_parse_tlv), so padding alone cannot fill a 16-byte header.
pub fn v6_experimental_options(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut body = vec![0x1e, (len - 4) as u8];
    body.extend(rng.bytes(len - 4));
    body
}

pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The 12-byte little-endian wire form of a header, as the TUN devices here use it.
pub fn hdr_hex(hdr: &VnetHdr) -> String {
    hdr_hex_in(hdr, Layout::V1)
}

/// The little-endian wire form of a header in `layout` (24 bytes for a UDP-tunnel header).
pub fn hdr_hex_in(hdr: &VnetHdr, layout: Layout) -> String {
    let mut bytes = [0u8; 24];
    match hdr.write(&mut bytes, layout, vnet_core::hdr::Endian::Little) {
        Ok(n) => hex(&bytes[..n]),
        Err(e) => format!("<unrepresentable: {e}>"),
    }
}

/// Prints to the real stderr, not the captured one: these tests report measurements.
#[macro_export]
macro_rules! report {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// One `#[test]` a line, each calling `$run` with its own name first (the name a suite prints,
/// and skips under without root): `named_tests!(run: kernel_gro_tcp_v4(false, 7););`.
#[macro_export]
macro_rules! named_tests {
    ($run:ident: $($name:ident($($arg:expr),* $(,)?);)+) => {
        $(
            #[test]
            fn $name() {
                $run(stringify!($name), $($arg),*);
            }
        )+
    };
}

/// Random IP and UDP/TCP fields that segmentation copies or rewrites: IP ID, DF (`df` chances
/// as `(num, den)`), TOS, TTL (2 or more, so forwarding keeps the packet), flow label, source port.
pub fn random_ip_fields(rng: &mut Rng, spec: &mut PacketSpec, df: (u64, u64)) {
    spec.ip_id = rng.next() as u16;
    spec.df = rng.chance(df.0, df.1);
    spec.tos = rng.next() as u8;
    spec.ttl = rng.range(2, 255) as u8;
    spec.flow_label = rng.next() as u32 & 0xf_ffff;
    spec.src_port = rng.next() as u16;
}

/// Random IP options for a generated super-packet, one time in three each: IPv6 a hop-by-hop
/// header (first, as it must be) and a destination-options header; IPv4 options.
pub fn random_ip_options(rng: &mut Rng, spec: &mut PacketSpec) {
    if spec.v6 {
        if rng.chance(1, 3) {
            let len = 8 * rng.range(1, 3) as usize;
            spec.v6_ext.push((0, v6_experimental_options(rng, len)));
        }
        if rng.chance(1, 3) {
            let len = 8 * rng.range(1, 4) as usize;
            spec.v6_ext.push((60, v6_experimental_options(rng, len)));
        }
    } else if rng.chance(1, 3) {
        let len = 4 * rng.range(1, 10) as usize;
        spec.ip_options = ipv4_options(rng, len);
    }
}

/// Random TCP fields for a generated super-packet: options (opaque to segmentation, S3) one
/// time in three, ACK plus each of PSH, FIN, CWR, ECE and URG one time in five, random
/// sequence, ack and window.
pub fn random_tcp(rng: &mut Rng, spec: &mut PacketSpec) {
    if rng.chance(1, 3) {
        let len = 4 * rng.range(1, 10) as usize;
        spec.tcp_options = rng.bytes(len);
    }
    let mut flags = vnet_spec::packet::tcp_flags::ACK;
    for f in [
        vnet_spec::packet::tcp_flags::PSH,
        vnet_spec::packet::tcp_flags::FIN,
        vnet_spec::packet::tcp_flags::CWR,
        vnet_spec::packet::tcp_flags::ECE,
        vnet_spec::packet::tcp_flags::URG,
    ] {
        if rng.chance(1, 5) {
            flags |= f;
        }
    }
    spec.l4 = L4::Tcp {
        seq: rng.next() as u32,
        ack: rng.next() as u32,
        flags,
        window: rng.next() as u16,
    };
}

/// The first difference between two segment lists, for the report.
pub fn first_difference(kernel: &[Vec<u8>], other: &[Vec<u8>]) -> String {
    if kernel.len() != other.len() {
        return format!("{} segments vs {}", kernel.len(), other.len());
    }
    for (i, (k, o)) in kernel.iter().zip(other).enumerate() {
        if k != o {
            let at = k
                .iter()
                .zip(o)
                .position(|(a, b)| a != b)
                .unwrap_or(k.len().min(o.len()));
            return format!(
                "segment {i}: lengths {} vs {}, first differing byte {at}: kernel {} vs {}",
                k.len(),
                o.len(),
                hex(&k[at.saturating_sub(4)..(at + 8).min(k.len())]),
                hex(&o[at.saturating_sub(4)..(at + 8).min(o.len())])
            );
        }
    }
    "equal".to_owned()
}

/// A random segment size (small, MTU-like or any) and a payload of 1-48 segments of it, the last
/// one partial, patterned or random bytes, leaving `room` bytes under 60,000 for headers around
/// the packet; returns the segment size.
pub fn random_gso_payload(rng: &mut Rng, spec: &mut PacketSpec, room: usize) -> usize {
    let gso_size = match rng.range(0, 3) {
        0 => rng.range(1, 64),
        1 => rng.range(500, 1500),
        _ => rng.range(1, 4000),
    } as usize;
    let max_payload = 60_000 - spec.hdr_len() - room;
    let segments = if rng.chance(1, 10) {
        1
    } else {
        rng.range(2, 48) as usize
    }
    .min(max_payload / gso_size)
    .max(1);
    let last = rng.range(1, gso_size as u64) as usize;
    spec.payload = vnet_spec::packet::pattern((segments - 1) * gso_size + last);
    if rng.chance(1, 2) {
        let len = spec.payload.len();
        spec.payload = rng.bytes(len);
    }
    gso_size
}

/// Whether an IPv6 packet carries a destination-options header, first or after a hop-by-hop
/// header (the only chains the generators make): K22's packets.
pub fn has_dest_opts(pkt: &[u8]) -> bool {
    const HOP_BY_HOP: u8 = 0;
    const DEST_OPTS: u8 = 60;
    pkt.first().is_some_and(|b| b >> 4 == 6)
        && match pkt.get(6) {
            Some(&DEST_OPTS) => true,
            Some(&HOP_BY_HOP) => pkt.get(40) == Some(&DEST_OPTS),
            _ => false,
        }
}

/// The running kernel's profile, probed once per test binary (never taken from the version
/// string: K15), printed with the release by every caller so that each test says what it ran on.
pub fn kernel(test: &str) -> Profile {
    let probed = probed();
    report!(
        "{test}: kernel {} (uname -r), profile {} {:?}",
        vnet_host::kernel::release(),
        probed.label(),
        probed.profile
    );
    probed.profile
}

/// What the probe found, without a report (see [`kernel`]).
pub fn probed() -> &'static vnet_host::kernel::Probed {
    static PROBED: std::sync::OnceLock<vnet_host::kernel::Probed> = std::sync::OnceLock::new();
    PROBED.get_or_init(|| vnet_host::kernel::probe().expect("kernel probe"))
}

/// `check`'s options for a TUN write on the probed kernel.
pub fn check_options() -> vnet_core::check::CheckOptions {
    vnet_core::check::CheckOptions {
        kernel: probed().profile,
        ..vnet_core::check::CheckOptions::default()
    }
}

/// What vnet-core transmits for (`hdr`, `pkt`): `check`, then the packet,
/// its completed checksum, or the segments; nothing when `check` or the segmenter refuses (the
/// kernel then refuses the write or drops the packet). `frag_id` is the IPv6 UFO identification
/// (K8). `copts` say whose rules (the probed kernel's, or another profile where a kernel
/// segments internally, past a TUN write's rules) and which header layout and link.
pub fn core_transmit(
    hdr: &VnetHdr,
    pkt: &[u8],
    frag_id: u32,
    copts: &vnet_core::check::CheckOptions,
) -> Vec<Vec<u8>> {
    use vnet_core::check::{self, Offload};
    use vnet_core::gso::{self, GsoOptions, Segmenter};
    let gopts = GsoOptions {
        frag_id,
        kernel: copts.kernel,
        ..GsoOptions::default()
    };
    match check::check(hdr, pkt, copts) {
        Err(_) => Vec::new(),
        Ok(Offload::Plain) => vec![pkt.to_vec()],
        Ok(Offload::Checksum(c)) => {
            let mut out = pkt.to_vec();
            match gso::complete_checksum(&mut out, c) {
                Ok(()) => vec![out],
                Err(_) => Vec::new(),
            }
        }
        Ok(Offload::Segment(req)) => {
            let Ok(mut seg) = Segmenter::new(&req, pkt, &gopts) else {
                return Vec::new();
            };
            let mut buf = vec![0u8; seg.max_segment_len()];
            let mut out = Vec::new();
            while let Some(r) = seg.next_into(&mut buf) {
                let len = r.expect("a buffer of max_segment_len fits every segment");
                out.push(buf[..len].to_vec());
            }
            out
        }
    }
}

/// A single packet B delivered with NEEDS_CSUM and a partial checksum (K13: packets the kernel
/// merged and then segmented again in software before B) as the packet it stands for: checksum
/// completed (S4), all-zero header.
pub fn complete_single(hdr: &VnetHdr, pkt: &[u8]) -> (VnetHdr, Vec<u8>) {
    use vnet_core::check::{self, Offload};
    let mut pkt = pkt.to_vec();
    match check::check(hdr, &pkt, &check_options()) {
        Ok(Offload::Checksum(c)) => {
            vnet_core::gso::complete_checksum(&mut pkt, c).expect("checksum request from check");
            (VnetHdr::default(), pkt)
        }
        other => panic!("a NEEDS_CSUM single the kernel delivered: {other:?} {hdr:?}"),
    }
}

/// vnet-core's GRO answer for `train` with `opts` (TUN framing), in its output order, headers with
/// `hdr_len` zeroed (the kernel's is a hint, T19). Every buffer has room for the largest datagram.
pub fn core_coalesce(train: &[Vec<u8>], opts: GroOptions) -> Vec<(VnetHdr, Vec<u8>)> {
    let (mut bufs, lens) = vnet_spec::strategy::train::gro_buffers(train);
    let mut out = vec![Output::default(); train.len()];
    let mut owner = vec![0; train.len()];
    let n = Gro::<LINUX_HELD_FLOWS>::new(opts)
        .coalesce(&mut bufs, &lens, &mut out, &mut owner)
        .expect("slices sized by the train");
    out[..n]
        .iter()
        .map(|o| {
            (
                VnetHdr {
                    hdr_len: 0,
                    ..o.hdr
                },
                bufs[o.index][..o.len].to_vec(),
            )
        })
        .collect()
}

/// Interleaves the flows' packets at random, keeping each flow's order.
pub fn interleave(rng: &mut Rng, per_flow: &[Vec<Vec<u8>>]) -> Vec<Vec<u8>> {
    let mut train = Vec::new();
    let mut next = vec![0usize; per_flow.len()];
    while next.iter().zip(per_flow).any(|(n, p)| *n < p.len()) {
        let f = rng.range(0, per_flow.len() as u64 - 1) as usize;
        if next[f] < per_flow[f].len() {
            train.push(per_flow[f][next[f]].clone());
            next[f] += 1;
        }
    }
    train
}

/// The number of cases to run: the environment variable `var` (e.g. `VNET_GSO_CASES`) if set to
/// a number, else `default`.
pub fn env_count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// What B delivered, made comparable with vnet-core's answer: the header normalized
/// (`normalize_gro_header`), forwarding undone (`undo_forwarding`), and a NEEDS_CSUM single
/// completed (`complete_single`, K13); the `bool` says whether it was such a single.
pub fn comparable_delivery(hdr: &VnetHdr, pkt: &[u8]) -> (VnetHdr, Vec<u8>, bool) {
    use vnet_host::kernel::{normalize_gro_header, undo_forwarding};
    let (h, p) = (normalize_gro_header(hdr), undo_forwarding(pkt));
    if h.gso_type == GsoType::NONE && h.flags.contains(Flags::NEEDS_CSUM) {
        let (h, p) = complete_single(&h, &p);
        (h, p, true)
    } else {
        (h, p, false)
    }
}

/// Prints the first 20 divergences and fails if there is any.
pub fn assert_no_divergences(divergences: &[String]) {
    for d in divergences.iter().take(20) {
        report!("DIVERGENCE {d}");
    }
    assert!(divergences.is_empty(), "{} divergences", divergences.len());
}
