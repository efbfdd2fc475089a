//! Receive coalescing (GRO): a batch of IP packets, as read from a TUN device with offloads off,
//! becomes fewer, larger packets with virtio-net headers that a TUN device with TSO/USO on accepts.
//!
//! The batch lives in caller buffers: `bufs[i]` holds packet `i` in its first `lens[i]` bytes, and
//! the bytes after that are spare capacity. A merged packet grows in place in the buffer of its
//! first segment; if that buffer has no room for the next segment, the train ends there (G5/G34:
//! flush, never allocate). Nothing is allocated: held flows live in a fixed-capacity table
//! (`FLOWS` entries, 64 by default); when it is full the oldest held flow is completed to make
//! room, as the kernel does when a GRO bucket overflows (G1).
//!
//! What merges and what flushes follows the kernel's GRO (rules G1-G6, kernel rules G10-G46), and
//! under [`Policy::Linux`] exactly what Linux 6.18 hands to a TUN device with TSO on. Every merge is
//! one that segmentation undoes exactly (law L5): every segment but the last carries exactly
//! `gso_size` bytes, FIN and PSH appear on the last segment only, CWR on the first only, IPv4 IDs
//! increment by one per segment (under [`Policy::Relaxed`]: IDs of DF packets are ignored). The
//! one field segmentation cannot give back is the urgent pointer of a segment without URG, which
//! Linux does not compare either (K14): it carries no meaning without URG.
//!
//! Each segment's payload is appended to the merged packet and summed in the same pass (the
//! [`Summer`]'s `copy_and_sum`; its headers are summed apart), and the sum decides whether the
//! append counts: a segment whose checksum fails is delivered as it came and does not disturb the
//! held flow (G30), though the head's spare capacity may hold its bytes. A segment that does not
//! merge is verified where it lies.
//!
//! Outputs come in the kernel's completion order (G8): a packet that is not held is handed on when
//! it arrives, a held flow when it completes, so a single may overtake a flow held before it. The
//! output slot of a held flow is assigned when it completes; while it is held, `owner` marks its
//! members with its head, resolved in one pass at the end (nothing allocated).
//!
//! ```
//! use vnet_core::gro::{Gro, Output};
//! // Two buffers with room to grow; these two packets are not IP, so they pass through as they are.
//! let mut bufs = [[0u8; 2048]; 2];
//! let lens = [3, 5];
//! let mut out = [Output::default(); 2];
//! let mut owner = [0usize; 2];
//! let n = Gro::<64>::default().coalesce(&mut bufs, &lens, &mut out, &mut owner).unwrap();
//! assert_eq!(n, 2);
//! assert_eq!((out[1].index, out[1].len, out[1].segments), (1, 5, 1));
//! assert_eq!(owner, [0, 1]); // input i is carried by output owner[i]
//! ```

use core::fmt;

use heapless::Vec as HVec;

use crate::csum::{self, Portable, Summer};
use crate::hdr::{Flags, GsoType, VnetHdr};
use crate::kernel::Profile;
use crate::wire::{
    self, IpProtocol, IpVersion, Ipv4Packet, Ipv6Packet, Link, TcpFlags, TcpPacket, UdpPacket,
};

/// The largest merged IP datagram, header included (G5, kernel G3: `GRO_LEGACY_MAX_SIZE` - 1).
pub const MAX_DATAGRAM: usize = 65535;

/// UDP segments per merged datagram by default (G4, kernel G45 `UDP_GRO_CNT_MAX`): accepted by
/// every kernel's USO path (V4).
pub const UDP_MAX_SEGMENTS: u16 = 64;

/// The capacity of a [`Gro`]'s flow table by default.
pub const DEFAULT_FLOWS: usize = 64;

/// Held flows at most by default (G7): Linux holds at most 8 per GRO bucket (`MAX_GRO_SKBS`), and
/// a single-queue TUN device leaves every packet's hash 0, so one bucket holds them all (K12).
pub const LINUX_HELD_FLOWS: usize = 8;

/// Whose behaviour to follow where implementations differ (G3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Policy {
    /// What Linux delivers to a TUN device with TSO on: IPv4 IDs must increment by one per
    /// segment (a fixed-ID train is delivered as the single packets it was: the virtio header has
    /// no FIXEDID bit), and a segment carrying CWR is never merged into a held packet: it ends
    /// that packet's train and is delivered alone; one that finds no held packet of its flow is
    /// held itself, and takes the segments that follow only where the kernel does not compare
    /// CWR ([`GroOptions::kernel`], K21).
    #[default]
    Linux,
    /// Peer-compatible (wireguard-go, tun-rs): the IPv4 IDs of DF packets are ignored (GSO
    /// renumbers them; RFC 6864 allows it), and a TCP segment that arrives after the segments it
    /// precedes may be put in front of them (prepend: same flow, otherwise mergeable, exactly
    /// `gso_size` bytes, no FIN/PSH, its sequence number plus its length is the held packet's
    /// first, and, where IDs count, its ID is the first's minus one); the merged packet then
    /// starts with its headers. Otherwise as [`Policy::Linux`].
    Relaxed,
}

/// How to coalesce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct GroOptions {
    /// Which behaviour to follow (G3).
    pub policy: Policy,
    /// Coalesce UDP too (UDP_L4). Off by default: Linux coalesces forwarded UDP only when asked
    /// (`rx-udp-gro-forwarding`), so a TUN reader sees single datagrams.
    pub udp: bool,
    /// The most UDP segments in one merged datagram (G4); at least 1, 0 is read as 1.
    pub udp_max_segments: u16,
    /// The most flows held at once (G7; also bounded by the table's `FLOWS`); at least 1, 0 is
    /// read as 1. Default [`LINUX_HELD_FLOWS`], what Linux holds for a single-queue TUN device.
    pub max_flows: usize,
    /// Which kernel's GRO [`Policy::Linux`] follows where kernel lines differ (K21).
    pub kernel: Profile,
}

impl Default for GroOptions {
    fn default() -> GroOptions {
        GroOptions {
            policy: Policy::Linux,
            udp: false,
            udp_max_segments: UDP_MAX_SEGMENTS,
            max_flows: LINUX_HELD_FLOWS,
            kernel: Profile::NEWEST,
        }
    }
}

/// One packet to hand on: the first `len` bytes of `bufs[index]`, with its header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Output {
    /// The buffer that holds the packet: the index of its first segment.
    pub index: usize,
    /// Its length in bytes.
    pub len: usize,
    /// Its virtio-net header (G6): GSO for a merged packet, all zero otherwise.
    pub hdr: VnetHdr,
    /// How many input packets it carries (1 if it was not merged).
    pub segments: usize,
}

/// Why a batch could not be coalesced. Nothing has been written when this is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroError {
    /// `lens` must have one entry per buffer.
    LensMismatch {
        /// Buffers given.
        bufs: usize,
        /// Lengths given.
        lens: usize,
    },
    /// `out` or `owner` must have room for one entry per buffer.
    SliceTooShort {
        /// `"out"` or `"owner"`.
        slice: &'static str,
        /// Entries needed: the number of buffers.
        need: usize,
        /// Entries given.
        have: usize,
    },
    /// `lens[index]` is larger than its buffer.
    LenExceedsBuffer {
        /// The packet.
        index: usize,
        /// Its claimed length.
        len: usize,
        /// Its buffer's length.
        capacity: usize,
    },
}

impl fmt::Display for GroError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            GroError::LensMismatch { bufs, lens } => {
                write!(
                    f,
                    "gro: {lens} lengths for {bufs} buffers, expected one each"
                )
            }
            GroError::SliceTooShort { slice, need, have } => {
                write!(
                    f,
                    "gro: `{slice}` has {have} entries, need one per buffer ({need})"
                )
            }
            GroError::LenExceedsBuffer {
                index,
                len,
                capacity,
            } => write!(
                f,
                "gro: lens[{index}] = {len} exceeds its buffer of {capacity} bytes"
            ),
        }
    }
}

impl core::error::Error for GroError {}

/// The coalescer: options and a table of at most `FLOWS` held flows (reused between batches, empty
/// between calls), summing with `S` ([`Portable`] by default; a host may plug in a sum compiled for
/// its CPU with [`Gro::with_summer`], monomorphised: no indirect call per segment).
#[derive(Clone, Debug, Default)]
pub struct Gro<const FLOWS: usize = DEFAULT_FLOWS, S: Summer = Portable> {
    opts: GroOptions,
    table: HVec<Flow, FLOWS>,
    summer: S,
}

/// What identifies a flow (G2): IP version, addresses, protocol, ports, IPv6 flow label. IPv6
/// extension headers must also be byte-identical; they are compared against the held packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Key {
    /// First: the derived `==` compares in field order, and flows that share addresses differ
    /// here, so a lookup among held flows rejects most of them on one word.
    ports: u32,
    v6: bool,
    proto: u8,
    /// The addresses as whole words (the bytes in native order; IPv4: the first 4 bytes, zero
    /// extended), so that a key is built in registers: a lookup's wide loads must not straddle
    /// narrow stores (a store-forwarding stall cost a quarter of `coalesce`).
    src: u128,
    dst: u128,
    label: u32,
}

/// [`Key::src`] / [`Key::dst`] of an IPv4 address.
const fn v4_word(addr: [u8; 4]) -> u128 {
    u32::from_ne_bytes(addr) as u128
}

/// The fields of one eligible packet that the merge rules read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Seg {
    key: Key,
    /// Packet length (= IP length: G1 requires the two to agree).
    len: usize,
    /// IP header length (IPv6: with extension headers).
    l4_offset: usize,
    /// All headers: `l4_offset` + TCP header (with options) or 8.
    hdr_len: usize,
    /// The network fields that must be equal (G2) as one word: TTL / hop limit, TOS / traffic
    /// class, DF (IPv6: false), see [`net_word`]. Whole words, so that a `Seg` is built in
    /// registers and stored without narrow stores a wide load would then have to wait for.
    net: u32,
    /// IPv4 ID (IPv6: 0).
    id: u16,
    /// TCP fields (zero for UDP): the sequence number, and the fields that must be equal but for
    /// FIN/PSH (G33) as one word, see [`tcp_word`].
    seq: u32,
    tcp: u64,
}

/// [`Seg::net`]: TTL, TOS and DF.
const fn net_word(ttl: u8, tos: u8, df: bool) -> u32 {
    ttl as u32 | (tos as u32) << 8 | (df as u32) << 16
}

/// [`Seg::tcp`]: the acknowledgment number, the data offset and flags word, the window.
const fn tcp_word(ack: u32, word: u16, window: u16) -> u64 {
    (ack as u64) << 32 | (word as u64) << 16 | window as u64
}

impl Seg {
    fn tcp(&self) -> bool {
        self.key.proto == IpProtocol::TCP.0
    }

    fn payload(&self) -> usize {
        self.len - self.hdr_len
    }

    fn flags(&self) -> TcpFlags {
        TcpFlags(self.tcp_flags_word() & TcpFlags::ALL.0)
    }

    /// The TCP data offset and flags word.
    const fn tcp_flags_word(&self) -> u16 {
        (self.tcp >> 16) as u16
    }

    /// IPv4 DF.
    const fn df(&self) -> bool {
        self.net >> 16 & 1 != 0
    }

    /// The pseudo-header sum for an L4 segment of `l4_len` bytes (C2).
    fn pseudo(&self, l4_len: usize) -> u16 {
        let k = &self.key;
        if k.v6 {
            let (src, dst) = (k.src.to_ne_bytes(), k.dst.to_ne_bytes());
            csum::pseudo_header_v6(&src, &dst, k.proto, l4_len as u32)
        } else {
            let four = |a: u128| (a as u32).to_ne_bytes();
            csum::pseudo_header_v4(four(k.src), four(k.dst), k.proto, l4_len as u16)
        }
    }
}

/// A held flow: the packet in `bufs[head]` with `count` segments merged so far.
#[derive(Clone, Copy, Debug, Default)]
struct Flow {
    /// The first segment's fields (its header bytes are not changed until completion; under
    /// [`Policy::Relaxed`] a prepended segment becomes the first).
    first: Seg,
    /// Index into `bufs`: the buffer the merged packet grows in.
    head: usize,
    /// The last input counted into the flow (a fixed-ID train is delivered from `head` to here).
    last: usize,
    /// Bytes of the merged packet so far (for a fixed-ID train: of the train it would have been).
    len: usize,
    /// Segments so far.
    count: usize,
    /// The sequence number the next segment must carry (TCP).
    next_seq: u32,
    /// [`Policy::Linux`]: a fixed-ID train. The kernel merges it and re-segments it before a TUN
    /// device, so its segments are delivered as they came; the train still decides what flushes.
    fixed: bool,
}

/// TCP flags that complete a flow after merging, or keep a segment from being held (G4, G34).
const COMPLETE: TcpFlags = TcpFlags(
    TcpFlags::URG.0 | TcpFlags::PSH.0 | TcpFlags::RST.0 | TcpFlags::SYN.0 | TcpFlags::FIN.0,
);

/// TCP flags that may differ between merged segments (G33): carried by the last one.
const LAST_ONLY: u16 = TcpFlags::FIN.0 | TcpFlags::PSH.0;

/// The IPv4 DF bit in the flags/fragment-offset word.
const DF: u16 = 0x4000;

impl<const FLOWS: usize> Gro<FLOWS> {
    /// A coalescer with these options.
    pub const fn new(opts: GroOptions) -> Self {
        Gro::with_summer(opts, Portable)
    }
}

impl<const FLOWS: usize, S: Summer> Gro<FLOWS, S> {
    /// A coalescer with these options that verifies checksums with `summer` (e.g. a host's AVX2
    /// sum); the same outputs as [`Gro::new`]'s.
    pub const fn with_summer(opts: GroOptions, summer: S) -> Self {
        Gro {
            opts,
            table: HVec::new(),
            summer,
        }
    }

    /// The options.
    pub const fn options(&self) -> &GroOptions {
        &self.opts
    }

    /// Coalesces the batch `bufs[i][..lens[i]]`, `i` in `0..bufs.len()`, in place.
    ///
    /// Writes the packets to hand on into `out[..n]` and returns `n`. They are in the order the
    /// kernel hands them on (G8): a packet that is not held (not eligible, a bad checksum, no
    /// payload, URG/PSH/RST/SYN/FIN, CWR) when it arrives, so it may overtake held flows; a held
    /// flow when it completes: when a segment of it ends its train or cannot be merged, when the
    /// table is full (the oldest), and at the end of the batch (oldest first). `out[k]` lives in
    /// `bufs[out[k].index]`. For every input `i`, `owner[i] = k` names the output that carries
    /// it: the inputs that output `k` absorbed are the `i` with `owner[i] == k`, and their
    /// payloads appear in it in sequence order, which is the order of `i` except under
    /// [`Policy::Relaxed`], where a segment may have been put in front (G3, prepend). Buffers of
    /// absorbed inputs are read, never written; a buffer that holds an output is changed within
    /// its first `out[k].len` bytes and, if it held a flow, in its spare capacity (a merged
    /// packet's tail, or a rejected segment's bytes).
    pub fn coalesce<B: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        bufs: &mut [B],
        lens: &[usize],
        out: &mut [Output],
        owner: &mut [usize],
    ) -> Result<usize, GroError> {
        let n = bufs.len();
        if lens.len() != n {
            return Err(GroError::LensMismatch {
                bufs: n,
                lens: lens.len(),
            });
        }
        for (slice, have) in [("out", out.len()), ("owner", owner.len())] {
            if have < n {
                return Err(GroError::SliceTooShort {
                    slice,
                    need: n,
                    have,
                });
            }
        }
        for (index, (buf, &len)) in bufs.iter().zip(lens).enumerate() {
            let capacity = buf.as_ref().len();
            if len > capacity {
                return Err(GroError::LenExceedsBuffer {
                    index,
                    len,
                    capacity,
                });
            }
        }
        self.table.clear();
        let mut run = Run {
            opts: self.opts,
            summer: self.summer,
            table: &mut self.table,
            lens,
            out,
            owner,
            n_out: 0,
        };
        for (i, &len) in lens.iter().enumerate() {
            run.step(bufs, i, len);
        }
        // The end of the batch completes the held flows, oldest first (K10).
        while !run.table.is_empty() {
            run.complete(bufs, 0);
        }
        // An absorbed input was marked with its flow's head (n + head, head < i); the head's
        // output is known now.
        for i in 0..n {
            let Some(&mark) = run.owner.get(i) else {
                break;
            };
            if let Some(head) = mark.checked_sub(n) {
                let k = run.owner.get(head).copied().unwrap_or(mark);
                if let Some(o) = run.owner.get_mut(i) {
                    *o = k;
                }
            }
        }
        Ok(run.n_out)
    }
}

/// The state of one `coalesce` call.
struct Run<'a, const FLOWS: usize, S: Summer> {
    opts: GroOptions,
    summer: S,
    table: &'a mut HVec<Flow, FLOWS>,
    lens: &'a [usize],
    out: &'a mut [Output],
    /// While running: `k` for an input handed on as output `k`, `n + head` for an input counted
    /// into the held flow whose head is `head` (resolved at the end), unspecified otherwise.
    owner: &'a mut [usize],
    n_out: usize,
}

impl<const FLOWS: usize, S: Summer> Run<'_, FLOWS, S> {
    /// The batch size: marks of absorbed inputs start here.
    fn n(&self) -> usize {
        self.lens.len()
    }

    /// Hands on input `i` as it is (a zero header) as the next output and returns its index.
    fn emit(&mut self, i: usize, len: usize) -> usize {
        self.emit_with(
            i,
            Output {
                index: i,
                len,
                hdr: VnetHdr::default(),
                segments: 1,
            },
        )
    }

    /// Hands on `o`, held in buffer `i`, as the next output (completion order) and returns its
    /// index.
    fn emit_with(&mut self, i: usize, o: Output) -> usize {
        let k = self.n_out;
        if let Some(slot) = self.out.get_mut(k) {
            *slot = o;
        }
        if let Some(slot) = self.owner.get_mut(i) {
            *slot = k;
        }
        self.n_out += 1;
        k
    }

    fn step<B: AsRef<[u8]> + AsMut<[u8]>>(&mut self, bufs: &mut [B], i: usize, len: usize) {
        let Some((before, rest)) = bufs.split_at_mut_checked(i) else {
            return;
        };
        let Some(pkt) = rest.first().and_then(|b| b.as_ref().get(..len)) else {
            return;
        };
        // G1: not eligible: handed on now, as it came; held flows are not disturbed (G30), so it
        // overtakes them (G8).
        let Some(seg) = &classify(pkt, &self.opts) else {
            self.emit(i, len);
            return;
        };
        let found = self
            .table
            .iter()
            .position(|f| f.first.key == seg.key && same_ext(before, f, seg, pkt));
        let Some(fi) = found else {
            if verify_in_place(self.summer, seg, pkt) {
                self.start(bufs, i, *seg);
            } else {
                self.emit(i, len);
            }
            return;
        };
        // The held flow is read in place (not copied): what the verdicts below need of it.
        let Some(flow) = self.table.get(fi) else {
            return;
        };
        let (held_len, held_head, held_l4) = (flow.len, flow.head, flow.first.l4_offset);
        let head_buf = before.get_mut(held_head).map(AsMut::as_mut);
        match self.judge(flow, seg, head_buf.as_deref(), pkt) {
            Verdict::Merge => {
                let Some(head) = head_buf else { return };
                let payload = pkt.get(seg.hdr_len..).unwrap_or(&[]);
                let dst = head
                    .get_mut(held_len..)
                    .and_then(|spare| spare.get_mut(..payload.len()));
                let Some(dst) = dst else {
                    self.emit(i, len);
                    return;
                };
                // One pass: the payload is summed as it is copied (the TCP header is summed apart;
                // it is a whole number of 4-byte words, so the payload starts at an even offset).
                let header = pkt.get(seg.l4_offset..seg.hdr_len).unwrap_or(&[]);
                let head_sum = csum::combine(seg.pseudo(len - seg.l4_offset), csum::sum(header));
                let ok = self
                    .summer
                    .copy_and_sum(dst, payload)
                    .is_some_and(|sum| csum::combine(head_sum, sum) == 0xFFFF);
                if !ok {
                    self.emit(i, len);
                    return;
                }
                let flags = seg.flags();
                if seg.tcp() && flags.0 & LAST_ONLY != 0 {
                    // G33: FIN/PSH of the last segment go on the merged packet.
                    let mut tcp =
                        TcpPacket::new_unchecked(head.get_mut(held_l4..).unwrap_or(&mut []));
                    let merged = TcpFlags(tcp.flags().0 | (flags.0 & LAST_ONLY));
                    tcp.set_flags(merged);
                }
                if self.absorb(fi, i, seg) {
                    self.complete(bufs, fi);
                }
            }
            Verdict::Prepend => {
                let Some(head) = head_buf else { return };
                if !verify_in_place(self.summer, seg, pkt) {
                    self.emit(i, len);
                    return;
                }
                // G3 (Relaxed): the held payload moves up by the segment's payload, which goes in
                // front, and the segment's headers become the merged packet's (same length).
                let m = seg.payload();
                let h = seg.hdr_len;
                // The held packet's bytes after its headers, with `m` spare bytes behind them.
                let region = head.get_mut(h..held_len + m);
                let held = region.as_ref().and_then(|r| r.len().checked_sub(m));
                let (Some(region), Some(held)) = (region, held) else {
                    self.emit(i, len);
                    return;
                };
                if pkt.len() != h + m {
                    self.emit(i, len);
                    return;
                }
                shift_up(region, held, m);
                if let (Some(dst), Some(src)) = (head.get_mut(..h + m), pkt.get(..h + m)) {
                    dst.copy_from_slice(src);
                }
                if let Some(f) = self.table.get_mut(fi) {
                    f.first = *seg;
                    f.len += m;
                    f.count += 1;
                    f.last = i;
                }
                if let Some(o) = self.owner.get_mut(i) {
                    *o = self.lens.len() + held_head;
                }
            }
            Verdict::Fixed => {
                if !verify_in_place(self.summer, seg, pkt) {
                    self.emit(i, len);
                    return;
                }
                if let Some(f) = self.table.get_mut(fi) {
                    f.fixed = true;
                }
                if self.absorb(fi, i, seg) {
                    self.complete(bufs, fi);
                }
            }
            Verdict::Flush => {
                if !verify_in_place(self.summer, seg, pkt) {
                    self.emit(i, len);
                    return;
                }
                self.complete(bufs, fi);
                self.start(bufs, i, *seg);
            }
        }
    }

    /// Whether `seg` merges into `flow` (G2-G5, kernel G12-G13, G23, G32, G44), and where.
    fn judge(&self, flow: &Flow, seg: &Seg, head: Option<&[u8]>, pkt: &[u8]) -> Verdict {
        let p = &flow.first;
        // Network level (G2, kernel G12/G23).
        if seg.net != p.net {
            return Verdict::Flush;
        }
        let payload = seg.payload();
        let mss = p.payload();
        let relaxed = self.opts.policy == Policy::Relaxed;
        // IPv4 IDs (G3): how far this segment's ID is from the first's, if IDs count at all.
        let ids_ignored = seg.key.v6 || (relaxed && p.df());
        let id_step = (!ids_ignored).then(|| seg.id.wrapping_sub(p.id));
        // G5: the merged datagram stays within 65535 bytes.
        if flow.len + payload > MAX_DATAGRAM {
            return Verdict::Flush;
        }
        if seg.tcp() {
            // CWR (G3): never merged into a held packet; whether the held packet's own CWR must
            // match is the kernel's (K21).
            let flags = seg.flags();
            let unmatched = if relaxed || self.opts.kernel.gro_cwr_must_match {
                LAST_ONLY
            } else {
                LAST_ONLY | TcpFlags::CWR.0
            };
            if flags.contains(TcpFlags::CWR)
                || (seg.tcp ^ p.tcp) & !(u64::from(unmatched) << 16) != 0
                || seg.hdr_len != p.hdr_len
                || payload == 0
                || payload > mss
            {
                return Verdict::Flush;
            }
            let opts_at = p.l4_offset + wire::TCP_MIN_HEADER_LEN;
            // Options must be byte-identical; most segments have none, and then no `memcmp`
            // call is made.
            let held = head.and_then(|h| h.get(opts_at..p.hdr_len));
            if held.is_none() || (opts_at < p.hdr_len && held != pkt.get(opts_at..p.hdr_len)) {
                return Verdict::Flush;
            }
            if seg.seq != flow.next_seq {
                // G3 (Relaxed): a full-sized segment that ends where the held packet begins goes
                // in front of it; it must not carry FIN/PSH (those belong to the last segment)
                // and, if IDs count, its ID must be the first's minus one.
                let prepend = relaxed
                    && !flow.fixed
                    && payload == mss
                    && flags.0 & LAST_ONLY == 0
                    && seg.seq.wrapping_add(payload as u32) == p.seq
                    && id_step.is_none_or(|d| d == u16::MAX)
                    && head.is_some_and(|h| flow.len + payload <= h.len());
                return if prepend {
                    Verdict::Prepend
                } else {
                    Verdict::Flush
                };
            }
        } else if payload > mss || flow.count >= usize::from(self.opts.udp_max_segments.max(1)) {
            // G44: a larger datagram ends the train; so does the segment limit (G4).
            return Verdict::Flush;
        }
        let mut fixed = flow.fixed;
        if let Some(d) = id_step {
            // K23: older kernels take a repeated ID as a fixed-ID train only with DF set.
            if flow.count == 1
                && d == 0
                && self.opts.policy == Policy::Linux
                && (p.df() || !self.opts.kernel.gro_fixed_id_needs_df)
            {
                fixed = true;
            }
            let want = if fixed { 0 } else { flow.count as u16 };
            if d != want {
                return Verdict::Flush;
            }
        }
        if fixed {
            return Verdict::Fixed;
        }
        // The buffer of the first segment must have room: else flush, never allocate.
        if head.is_none_or(|h| flow.len + payload > h.len()) {
            return Verdict::Flush;
        }
        Verdict::Merge
    }

    /// Counts `seg` (input `i`) into flow `fi`; true if the segment ends the flow's train.
    fn absorb(&mut self, fi: usize, i: usize, seg: &Seg) -> bool {
        let mark = self.n();
        let Some(f) = self.table.get_mut(fi) else {
            return false;
        };
        let payload = seg.payload();
        f.len += payload;
        f.count += 1;
        f.last = i;
        f.next_seq = seg.seq.wrapping_add(payload as u32);
        if let Some(o) = self.owner.get_mut(i) {
            *o = mark + f.head;
        }
        let mss = f.first.payload();
        if seg.tcp() {
            // G34: a short segment or one with URG/PSH/RST/SYN/FIN ends the train.
            payload < mss || seg.flags().intersects(COMPLETE)
        } else {
            // G45: a shorter datagram ends the train, as does the segment limit.
            payload < mss || f.count >= usize::from(self.opts.udp_max_segments.max(1))
        }
    }

    /// Holds `seg` (input `i`, verified) as a new flow, or hands it on now if it cannot start
    /// one (G34: no payload, URG/PSH/RST/SYN/FIN; G3: CWR under Relaxed; under Linux a CWR
    /// segment is held like any other, K21).
    fn start<B: AsRef<[u8]> + AsMut<[u8]>>(&mut self, bufs: &mut [B], i: usize, seg: Seg) {
        let relaxed = self.opts.policy == Policy::Relaxed;
        if seg.tcp()
            && (seg.payload() == 0
                || seg.flags().intersects(COMPLETE)
                || (relaxed && seg.flags().contains(TcpFlags::CWR)))
        {
            self.emit(i, seg.len);
            return;
        }
        if self.table.is_full() || self.table.len() >= self.opts.max_flows.max(1) {
            self.complete(bufs, 0);
        }
        let flow = Flow {
            first: seg,
            head: i,
            last: i,
            len: seg.len,
            count: 1,
            next_seq: seg.seq.wrapping_add(seg.payload() as u32),
            fixed: false,
        };
        // Cannot fail: a slot was just made free.
        let _ = self.table.push(flow);
    }

    /// Completes flow `fi` and hands it on (G6, G8): a single segment or a fixed-ID train as the
    /// packets they were, in order; a merged packet with its lengths, checksums and header.
    fn complete<B: AsRef<[u8]> + AsMut<[u8]>>(&mut self, bufs: &mut [B], fi: usize) {
        let Some(f) = self.table.get(fi).copied() else {
            return;
        };
        let _ = self.table.remove(fi);
        if f.count < 2 || f.fixed {
            self.emit(f.head, f.first.len);
            // The train's other members are the inputs marked with its head, up to its last.
            let mark = self.n() + f.head;
            for j in f.head + 1..=f.last {
                if self.owner.get(j) == Some(&mark) {
                    let len = self.lens.get(j).copied().unwrap_or(0);
                    self.emit(j, len);
                }
            }
            return;
        }
        let Some(buf) = bufs.get_mut(f.head).map(AsMut::as_mut) else {
            return;
        };
        let Some(pkt) = buf.get_mut(..f.len) else {
            return;
        };
        let s = &f.first;
        let l4_len = f.len - s.l4_offset;
        let pseudo = s.pseudo(l4_len);
        let (ip, l4) = pkt.split_at_mut(s.l4_offset.min(f.len));
        let mut gso_type;
        if s.key.v6 {
            Ipv6Packet::new_unchecked(&mut *ip)
                .set_payload_len((f.len - wire::IPV6_HEADER_LEN) as u16);
            gso_type = GsoType::TCPV6;
        } else {
            let mut v4 = Ipv4Packet::new_unchecked(&mut *ip);
            v4.set_total_len(f.len as u16);
            v4.set_checksum(0);
            let check = csum::finish(csum::sum(v4.header()));
            v4.set_checksum(check);
            gso_type = GsoType::TCPV4;
        }
        let csum_offset;
        if s.tcp() {
            let mut tcp = TcpPacket::new_unchecked(l4);
            tcp.set_checksum(pseudo);
            if s.flags().contains(TcpFlags::CWR) {
                gso_type = GsoType(gso_type.0 | GsoType::ECN.0);
            }
            csum_offset = 16;
        } else {
            let mut udp = UdpPacket::new_unchecked(l4);
            udp.set_length(l4_len as u16);
            udp.set_checksum(pseudo);
            gso_type = GsoType::UDP_L4;
            csum_offset = 6;
        }
        let hdr = VnetHdr {
            flags: Flags::NEEDS_CSUM,
            gso_type,
            hdr_len: s.hdr_len as u16,
            gso_size: s.payload() as u16,
            csum_start: s.l4_offset as u16,
            csum_offset,
            ..VnetHdr::default()
        };
        self.emit_with(
            f.head,
            Output {
                index: f.head,
                len: f.len,
                hdr,
                segments: f.count,
            },
        );
    }
}

/// What to do with a segment of a held flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Append it to the held packet.
    Merge,
    /// Put it in front of the held packet ([`Policy::Relaxed`], G3).
    Prepend,
    /// Count it into a fixed-ID train, delivered as it came ([`Policy::Linux`]).
    Fixed,
    /// Complete the held packet; the segment starts anew.
    Flush,
}

/// The fields of `pkt` if it is eligible for GRO (G1): IPv4 without options, not a fragment, with
/// a valid header checksum and reserved bit clear, or IPv6 without a fragment header; lengths that
/// agree with the buffer; TCP, or UDP when enabled, with a UDP length above 8 that agrees and a
/// non-zero UDP checksum (G40/G41). The L4 checksum is verified later, by the caller.
#[inline(always)]
fn classify(pkt: &[u8], opts: &GroOptions) -> Option<Seg> {
    classify_tcp4(pkt).or_else(|| classify_any(pkt, opts))
}

/// [`classify`] for every packet, through the general parser.
#[inline(never)]
fn classify_any(pkt: &[u8], opts: &GroOptions) -> Option<Seg> {
    let h = wire::parse_headers(pkt, Link::Tun).ok()?;
    if h.fragment {
        return None;
    }
    let tcp = match h.protocol {
        IpProtocol::TCP => true,
        IpProtocol::UDP if opts.udp => false,
        _ => return None,
    };
    let mut seg = Seg {
        l4_offset: h.l4_offset,
        len: pkt.len(),
        ..Seg::default()
    };
    seg.key.proto = h.protocol.0;
    match h.ip {
        IpVersion::V4 => {
            let ip = Ipv4Packet::new_unchecked(pkt);
            if ip.header_len() != wire::IPV4_MIN_HEADER_LEN
                || ip.flags_frag_word() & !DF != 0
                || !csum::verify(ip.header())
                || usize::from(ip.total_len()) != pkt.len()
            {
                return None;
            }
            seg.key.src = v4_word(ip.src_addr());
            seg.key.dst = v4_word(ip.dst_addr());
            seg.net = net_word(ip.ttl(), ip.tos(), ip.dont_frag());
            seg.id = ip.ident();
        }
        IpVersion::V6 => {
            let ip = Ipv6Packet::new_unchecked(pkt);
            if ip.total_len() != pkt.len() {
                return None;
            }
            seg.key.v6 = true;
            seg.key.src = u128::from_ne_bytes(ip.src_addr());
            seg.key.dst = u128::from_ne_bytes(ip.dst_addr());
            seg.key.label = ip.flow_label();
            seg.net = net_word(ip.hop_limit(), ip.traffic_class(), false);
        }
    }
    let l4 = pkt.get(h.l4_offset..)?;
    if tcp {
        let t = TcpPacket::new_checked(l4).ok()?;
        seg.key.ports = u32::from(t.src_port()) << 16 | u32::from(t.dst_port());
        seg.hdr_len = h.l4_offset + t.header_len();
        seg.seq = t.seq_number();
        seg.tcp = tcp_word(t.ack_number(), t.doff_flags_word(), t.window());
    } else {
        let u = UdpPacket::new_checked(l4).ok()?;
        if usize::from(u.length()) != l4.len()
            || l4.len() <= wire::UDP_HEADER_LEN
            || u.checksum() == 0
        {
            return None;
        }
        seg.key.ports = u32::from(u.src_port()) << 16 | u32::from(u.dst_port());
        seg.hdr_len = h.l4_offset + wire::UDP_HEADER_LEN;
    }
    Some(seg)
}

/// The common case of [`classify`], read from two fixed-size views with no further length checks:
/// IPv4 without options (`0x45`), TCP, IP length equal to the buffer's, no fragment bits and the
/// reserved bit clear, a valid header checksum, a TCP header within the packet. Every packet it
/// accepts, the general path accepts with the same fields; `None` only means "not this case".
#[inline(always)]
fn classify_tcp4(pkt: &[u8]) -> Option<Seg> {
    let ip = pkt.first_chunk::<{ wire::IPV4_MIN_HEADER_LEN }>()?;
    let [
        vihl,
        tos,
        len0,
        len1,
        id0,
        id1,
        ff0,
        ff1,
        ttl,
        proto,
        _,
        _,
        s0,
        s1,
        s2,
        s3,
        d0,
        d1,
        d2,
        d3,
    ] = *ip;
    let flags_frag = u16::from_be_bytes([ff0, ff1]);
    if vihl != 0x45
        || proto != IpProtocol::TCP.0
        || usize::from(u16::from_be_bytes([len0, len1])) != pkt.len()
        || flags_frag & !DF != 0
    {
        return None;
    }
    let tcp = pkt
        .get(wire::IPV4_MIN_HEADER_LEN..)?
        .first_chunk::<{ wire::TCP_MIN_HEADER_LEN }>()?;
    let [
        p0,
        p1,
        p2,
        p3,
        q0,
        q1,
        q2,
        q3,
        a0,
        a1,
        a2,
        a3,
        w0,
        w1,
        n0,
        n1,
        ..,
    ] = *tcp;
    let tcp_len = usize::from(w0 >> 4) * 4;
    if tcp_len < wire::TCP_MIN_HEADER_LEN
        || wire::IPV4_MIN_HEADER_LEN + tcp_len > pkt.len()
        || !csum::verify(ip)
    {
        return None;
    }
    let seg = Seg {
        len: pkt.len(),
        l4_offset: wire::IPV4_MIN_HEADER_LEN,
        hdr_len: wire::IPV4_MIN_HEADER_LEN + tcp_len,
        net: net_word(ttl, tos, flags_frag & DF != 0),
        id: u16::from_be_bytes([id0, id1]),
        seq: u32::from_be_bytes([q0, q1, q2, q3]),
        tcp: tcp_word(
            u32::from_be_bytes([a0, a1, a2, a3]),
            u16::from_be_bytes([w0, w1]),
            u16::from_be_bytes([n0, n1]),
        ),
        key: Key {
            v6: false,
            proto,
            src: v4_word([s0, s1, s2, s3]),
            dst: v4_word([d0, d1, d2, d3]),
            ports: u32::from_be_bytes([p0, p1, p2, p3]),
            label: 0,
        },
    };
    Some(seg)
}

/// Whether `seg`'s IPv6 extension headers are byte-identical to those of `flow`'s held packet,
/// which lives in `before` (G2, kernel G22). IPv4 packets have none (options are not eligible).
fn same_ext<B: AsRef<[u8]>>(before: &[B], flow: &Flow, seg: &Seg, pkt: &[u8]) -> bool {
    if !seg.key.v6 {
        return true;
    }
    let range = wire::IPV6_HEADER_LEN..seg.l4_offset;
    flow.first.l4_offset == seg.l4_offset
        && before
            .get(flow.head)
            .and_then(|b| b.as_ref().get(range.clone()))
            .is_some_and(|held| pkt.get(range).is_some_and(|mine| mine == held))
}

/// Whether `seg`'s L4 checksum verifies (G30, G40), summing the packet where it lies.
fn verify_in_place<S: Summer>(summer: S, seg: &Seg, pkt: &[u8]) -> bool {
    let l4 = pkt.get(seg.l4_offset..).unwrap_or(&[]);
    csum::combine(seg.pseudo(l4.len()), summer.sum(l4)) == 0xFFFF
}

/// Moves `buf[..len]` up by `by` bytes (`buf` holds at least `len + by`), from the back in pieces
/// of at most `by` bytes, none overlapping its destination: plain copies, where `copy_within`
/// would leave range checks (a panic path: ARCHITECTURE.md, 'No panic path') in a bare-metal
/// build.
fn shift_up(buf: &mut [u8], len: usize, by: usize) {
    if by == 0 {
        return;
    }
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(by);
        // `[start, end)` goes to `[start + by, end + by)`, at or after `end`.
        let Some((lo, hi)) = buf.split_at_mut_checked(end) else {
            return;
        };
        let src = lo.get(start..).unwrap_or(&[]);
        let Some(dst) = hi
            .get_mut(start + by - end..)
            .and_then(|d| d.get_mut(..src.len()))
        else {
            return;
        };
        dst.copy_from_slice(src);
        end = start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testpkt::Pkt;
    use std::vec::Vec;

    /// Rewrites the IPv4 header checksum of `p` (IHL from its first byte), if it has one.
    fn fix_ip_checksum(p: &mut [u8]) {
        let ihl = usize::from(p[0] & 0x0F) * 4;
        if p[0] >> 4 != 4 || ihl < 20 || p.len() < ihl {
            return;
        }
        p[10..12].fill(0);
        let check = csum::finish(csum::sum(&p[..ihl]));
        p[10..12].copy_from_slice(&check.to_be_bytes());
    }

    /// The fast path accepts only what the general path accepts, with the same fields, and it
    /// accepts every IPv4/TCP packet without options that the general path accepts: single-byte
    /// changes to every header byte (with and without a fixed-up IP checksum) and truncations.
    #[test]
    fn test_classify_tcp4_agrees_with_the_general_path() {
        let mut bases = Vec::new();
        for (ip_options, tcp_options) in [(0, 0), (0, 12), (4, 0)] {
            let mut p = Pkt::tcp4(100);
            p.ip_options = ip_options;
            p.tcp_options = tcp_options;
            bases.push(p.build());
        }
        let mut udp = Pkt::tcp4(60);
        udp.udp = true;
        bases.push(udp.build());
        let mut v6 = Pkt::tcp4(60);
        v6.v6 = true;
        bases.push(v6.build());
        let mut cases = Vec::new();
        for base in &bases {
            for len in 0..=base.len().min(80) {
                cases.push(base[..len].to_vec());
            }
            for at in 0..base.len().min(80) {
                for value in [0x00, 0xFF, 0x01, 0x40, 0x45, 0x50, 0x80] {
                    for x in [value, base[at] ^ value] {
                        let mut p = base.clone();
                        p[at] = x;
                        cases.push(p.clone());
                        fix_ip_checksum(&mut p);
                        cases.push(p);
                    }
                }
            }
        }
        let mut fast = 0;
        for p in &cases {
            for udp in [false, true] {
                let opts = GroOptions {
                    udp,
                    ..GroOptions::default()
                };
                let general = classify_any(p, &opts);
                match classify_tcp4(p) {
                    Some(seg) => {
                        fast += 1;
                        assert_eq!(Some(seg), general, "{p:02x?}");
                    }
                    None => {
                        let common = general.is_some_and(|g| {
                            !g.key.v6 && g.tcp() && g.l4_offset == wire::IPV4_MIN_HEADER_LEN
                        });
                        assert!(!common, "the fast path missed {p:02x?}");
                    }
                }
            }
        }
        assert!(fast > 100, "only {fast} cases took the fast path");
    }
}
