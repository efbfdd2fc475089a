//! vnet-core on a Cortex-M4, run under QEMU (`mps2-an386`) by `.ci/firmware`: the firmware claim
//! (ARCHITECTURE.md, 'Footprint') proved by running it, not only by linking it.
//!
//! A TCPv4 super-packet of 4,540 bytes with a NEEDS_CSUM + TCPV4 header is validated
//! ([`check::check`]), segmented into five MSS pieces ([`gso::segment_into`]) and the pieces
//! coalesced back ([`Gro::coalesce`]); every step is checked against the input's bytes and the
//! header fields it must give, and two requests that must be refused are refused with their typed
//! error. All buffers are statics or stack; there is no allocator.
//!
//! Output goes through semihosting, one line per step; the exit status is 0 on success and 1 on
//! any mismatch (or panic: `panic-semihosting` exits non-zero). The last line is the measured
//! worst stack depth ([`stack`]).
#![no_std]
#![no_main]
#![deny(unsafe_code)] // Allowed in `stack` only; vnet-core itself forbids it.

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use panic_semihosting as _;

use vnet_core::check::{self, Bound, CheckError, CheckOptions, Field, GsoKind, Offload};
use vnet_core::csum;
use vnet_core::gro::{Gro, GroOptions, Output};
use vnet_core::gso::{self, GsoError, GsoOptions};
use vnet_core::hdr::{Flags, GsoType, VnetHdr};

mod stack;

/// TCP payload bytes per segment.
const MSS: usize = 1000;
/// Payload of the super-packet: four full segments and a short one.
const PAYLOAD: usize = 4 * MSS + 500;
/// IPv4 (20) and TCP (20) headers, no options.
const HDRS: usize = 40;
/// The super-packet.
const LEN: usize = HDRS + PAYLOAD;
/// Segments it becomes.
const SEGS: usize = 5;
const _: () = assert!(PAYLOAD.div_ceil(MSS) == SEGS);
/// The longest segment.
const SEG_LEN: usize = HDRS + MSS;

const SRC: [u8; 4] = [192, 0, 2, 1];
const DST: [u8; 4] = [198, 51, 100, 7];
const IP_ID: u16 = 0x1234;
const SEQ: u32 = 1000;
const ACK: u32 = 0x0102_0304;
const TCP_ACK: u8 = 0x10;
const TCP_PSH: u8 = 0x08;

/// What the super-packet asks for, and what GRO must give back (law L6).
const HDR: VnetHdr = VnetHdr {
    flags: Flags::NEEDS_CSUM,
    gso_type: GsoType::TCPV4,
    hdr_len: HDRS as u16,
    gso_size: MSS as u16,
    csum_start: 20,
    csum_offset: 16,
    ..VnetHdr::EMPTY
};

/// The options of every step: the defaults, as `const`s.
const CHECK: CheckOptions = CheckOptions::DEFAULT;
const GSO: GsoOptions = GsoOptions::DEFAULT;

/// A step that did not give what it must: its name and what differed.
struct Mismatch(&'static str, &'static str);

/// `Err(Mismatch(step, what))` unless `ok`.
fn ensure(ok: bool, step: &'static str, what: &'static str) -> Result<(), Mismatch> {
    if ok {
        Ok(())
    } else {
        Err(Mismatch(step, what))
    }
}

#[entry]
fn main() -> ! {
    // cortex-m-rt hands these to `main` as `&'static mut`: RAM that is neither heap nor stack.
    static mut PKT: [u8; LEN] = [0; LEN];
    // Segment 0 goes here and the merged packet grows here in place, so it holds all of it.
    static mut HEAD: [u8; LEN] = [0; LEN];
    static mut TAIL: [[u8; SEG_LEN]; SEGS - 1] = [[0; SEG_LEN]; SEGS - 1];
    // The default table holds what Linux holds (8 flows, G7).
    static mut GRO: Gro = Gro::new(GroOptions::DEFAULT);

    let mut probe = stack::Probe::paint();
    let status = match run(&mut probe, PKT, HEAD, TAIL, GRO) {
        Ok(()) => debug::EXIT_SUCCESS,
        Err(Mismatch(step, what)) => {
            hprintln!("FAIL {}: {}", step, what);
            debug::EXIT_FAILURE
        }
    };
    let worst = probe.finish();
    hprintln!(
        "stack: worst depth {} bytes of {} ({} words never touched)",
        worst.depth,
        worst.size,
        worst.untouched_words
    );
    debug::exit(status);
    #[allow(clippy::empty_loop)]
    loop {}
}

/// The workload; each core call is measured on its own (`probe.step`).
fn run(
    probe: &mut stack::Probe,
    pkt: &mut [u8; LEN],
    head: &mut [u8; LEN],
    tail: &mut [[u8; SEG_LEN]; SEGS - 1],
    gro: &mut Gro,
) -> Result<(), Mismatch> {
    build_super_packet(pkt);
    let pkt: &[u8; LEN] = pkt;
    hprintln!(
        "packet: TCPv4 {} bytes, NEEDS_CSUM + TCPV4, gso_size {}",
        LEN,
        MSS
    );

    // A bad header gets its typed error: GSO with no segment size (V2).
    let bad = VnetHdr { gso_size: 0, ..HDR };
    let (refused, depth) = probe.step(|| check::check(&bad, pkt, &CHECK));
    match refused {
        Err(
            e @ CheckError::Field {
                field: Field::GsoSize,
                bound: Bound::NonZero,
                ..
            },
        ) => hprintln!("refuse: gso_size 0 -> {} (stack {} B)", e, depth),
        _ => return Err(Mismatch("refuse", "gso_size 0 not refused as V2")),
    }

    let (checked, depth) = probe.step(|| check::check(&HDR, pkt, &CHECK));
    let Ok(Offload::Segment(req)) = checked else {
        return Err(Mismatch("check", "not a segmentation request"));
    };
    ensure(req.kind == GsoKind::Tcp, "check", "kind")?;
    ensure(usize::from(req.gso_size) == MSS, "check", "gso_size")?;
    ensure(req.hdr_len == HDRS, "check", "hdr_len")?;
    ensure(req.payload_len == PAYLOAD, "check", "payload_len")?;
    ensure(
        req.csum.is_some() && req.tunnel.is_none(),
        "check",
        "csum/tunnel",
    )?;
    hprintln!(
        "check: Segment, TCP, hdr_len {}, payload {} (stack {} B)",
        req.hdr_len,
        req.payload_len,
        depth
    );

    let [b1, b2, b3, b4] = tail;
    let mut bufs: [&mut [u8]; SEGS] = [head, b1, b2, b3, b4];
    let mut lens = [0usize; SEGS];

    // S5: one buffer short is refused before anything is written.
    let short = SEGS - 1;
    let (refused, depth) =
        probe.step(|| gso::segment_into(&req, pkt, &GSO, &mut bufs[..short], &mut lens[..short]));
    ensure(
        refused
            == Err(GsoError::TooFewBuffers {
                need: SEGS,
                have: short,
            }),
        "refuse",
        "one buffer short not refused as TooFewBuffers",
    )?;
    let untouched = bufs.iter().all(|b| b.iter().all(|&x| x == 0)) && lens == [0; SEGS];
    ensure(untouched, "refuse", "a refused segmentation wrote")?;
    hprintln!(
        "refuse: 4 buffers for 5 segments -> {} (nothing written; stack {} B)",
        GsoError::TooFewBuffers {
            need: SEGS,
            have: short
        },
        depth
    );

    let (n, depth) = probe.step(|| gso::segment_into(&req, pkt, &GSO, &mut bufs, &mut lens));
    ensure(n == Ok(SEGS), "gso", "segment count")?;
    for (i, (seg, &len)) in bufs.iter().zip(&lens).enumerate() {
        check_segment(pkt, i, seg.get(..len).unwrap_or_default())?;
    }
    hprintln!(
        "gso: {} segments of {:?} bytes, headers and checksums right (stack {} B)",
        SEGS,
        lens,
        depth
    );

    let mut out = [Output::default(); SEGS];
    let mut owner = [usize::MAX; SEGS];
    let (n, depth) = probe.step(|| gro.coalesce(&mut bufs, &lens, &mut out, &mut owner));
    ensure(n == Ok(1), "gro", "not one output")?;
    let [merged, ..] = out;
    ensure(
        merged.index == 0 && merged.len == LEN,
        "gro",
        "output place",
    )?;
    ensure(
        merged.segments == SEGS && owner == [0; SEGS],
        "gro",
        "members",
    )?;
    ensure(merged.hdr == HDR, "gro", "header differs from the input's")?;
    ensure(
        bufs[0].get(..LEN) == Some(&pkt[..]),
        "gro",
        "bytes differ from the input's",
    )?;
    hprintln!(
        "gro: 1 packet of {} bytes from {} segments, header {:?}/{}/{}/{}/{}, bytes equal the input (stack {} B)",
        merged.len,
        merged.segments,
        merged.hdr.gso_type,
        merged.hdr.hdr_len,
        merged.hdr.gso_size,
        merged.hdr.csum_start,
        merged.hdr.csum_offset,
        depth
    );
    hprintln!("all steps passed");
    Ok(())
}

/// Writes the super-packet: IPv4 (DF, ID 0x1234, checksum), TCP (ACK|PSH, the pseudo-header sum
/// in the checksum field, as NEEDS_CSUM wants it, C3) and a recognisable payload.
fn build_super_packet(pkt: &mut [u8; LEN]) {
    let (ip, rest) = pkt.split_at_mut(20);
    let (tcp, payload) = rest.split_at_mut(20);
    // IPv4: version 4, IHL 5, total length, ID, DF, TTL 64, protocol 6 (TCP), addresses.
    put(ip, 0, &[0x45, 0]);
    put(ip, 2, &(LEN as u16).to_be_bytes());
    put(ip, 4, &IP_ID.to_be_bytes());
    put(ip, 6, &[0x40, 0, 64, 6, 0, 0]);
    put(ip, 12, &SRC);
    put(ip, 16, &DST);
    put(ip, 10, &csum::finish(csum::sum(ip)).to_be_bytes());
    // TCP: ports 51234 -> 443, sequence and acknowledgment numbers, data offset 5, flags, window.
    put(tcp, 0, &51234u16.to_be_bytes());
    put(tcp, 2, &443u16.to_be_bytes());
    put(tcp, 4, &SEQ.to_be_bytes());
    put(tcp, 8, &ACK.to_be_bytes());
    put(tcp, 12, &[0x50, TCP_ACK | TCP_PSH, 0xfa, 0xf0]);
    let pseudo = csum::pseudo_header_v4(SRC, DST, 6, (LEN - 20) as u16);
    put(tcp, 16, &pseudo.to_be_bytes());
    put(tcp, 18, &[0, 0]);
    for (i, b) in payload.iter_mut().enumerate() {
        *b = (i.wrapping_mul(7) + 3) as u8;
    }
}

/// Writes `bytes` into `buf` at `at`.
fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Segment `i` as the kernel's TSO makes it: the super-packet's headers with its own lengths,
/// ID + i, sequence number + i * MSS, PSH on the last only, both checksums complete, and its
/// slice of the payload.
fn check_segment(pkt: &[u8; LEN], i: usize, seg: &[u8]) -> Result<(), Mismatch> {
    let be16 = |b: &[u8], at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    let be32 = |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let payload = MSS.min(PAYLOAD - i * MSS);
    ensure(seg.len() == HDRS + payload, "gso", "segment length")?;
    ensure(
        usize::from(be16(seg, 2)) == seg.len(),
        "gso",
        "IPv4 total length",
    )?;
    ensure(
        usize::from(be16(seg, 4)) == usize::from(IP_ID) + i,
        "gso",
        "IPv4 ID",
    )?;
    ensure(csum::verify(&seg[..20]), "gso", "IPv4 header checksum")?;
    ensure(
        be32(seg, 24) == SEQ + (i * MSS) as u32,
        "gso",
        "TCP sequence number",
    )?;
    let last = i == SEGS - 1;
    let flags = if last { TCP_ACK | TCP_PSH } else { TCP_ACK };
    ensure(seg[33] == flags, "gso", "TCP flags")?;
    let pseudo = csum::pseudo_header_v4(SRC, DST, 6, (seg.len() - 20) as u16);
    let tcp_sum = csum::combine(pseudo, csum::sum(&seg[20..]));
    ensure(tcp_sum == 0xffff, "gso", "TCP checksum")?;
    // Unchanged: TOS, flags/fragment, TTL, protocol, addresses, ports, ACK, offset, window.
    let same = |r: core::ops::Range<usize>| seg[r.clone()] == pkt[r];
    ensure(
        same(0..2) && same(6..10) && same(12..24),
        "gso",
        "IPv4 fields",
    )?;
    ensure(
        same(28..33) && same(34..36) && same(38..40),
        "gso",
        "TCP fields",
    )?;
    let from = HDRS + i * MSS;
    ensure(seg[HDRS..] == pkt[from..from + payload], "gso", "payload")
}
