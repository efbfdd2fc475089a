//! The relay: what a user-space VPN does between a TUN device and its wire, minus the crypto.
//!
//! Each side ("half") owns a TUN device and a UDP socket connected to the other half. Each half
//! runs two pipelines on their own threads:
//!
//! - out: TUN read -> (offloads on: [`batch::split_iov`], core's gso without copying payload) ->
//!   UDP send. With offloads on, one read returns a super-packet, gso writes only each segment's
//!   headers, and one `sendmmsg` with UDP_SEGMENT gathers header, payload, header, payload, ...
//!   from where they lie and puts all its MTU-sized packets on the wire; off, one packet per read
//!   and one `send` per datagram.
//! - in: UDP receive -> (offloads on: [`batch::Coalescer`], core's gro) -> TUN write. With offloads
//!   on, one `recvmmsg` returns a batch (UDP_GRO trains), gro merges it and one write per merged
//!   super-packet hands it to the kernel with its vnet header; off, one `recv` and one write
//!   per packet.
//!
//! The wire carries plain IP packets, one per UDP datagram, with complete checksums: exactly
//! what a tunnel would encrypt. It is neither encrypted nor authenticated: what protects the
//! TUNs is that each wire socket is connected (the kernel delivers only the peer's datagrams),
//! that each datagram's source is checked again, and that each inner packet's source address
//! must be in the sending side's allowed prefixes ([`Half::accept`]). Every system call of the
//! relay is counted, failed ones included; what a failure does is [`crate::policy`]'s decision.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use vnet_core::hdr::VnetHdr;
use vnet_host::udp::{BatchSocket, MAX_UDP_PAYLOAD_V4, RecvMeta, TransmitIov};
use vnet_host::{Device, Error};

use crate::policy::{self, Action, Allowed, Cause, Step};

use vnet_core::gro::GroOptions;
use vnet_host::batch;

/// How long a blocked pipeline waits before it looks at the stop condition again.
const TICK: Duration = Duration::from_millis(100);
/// The largest packet a TUN hands over (an IPv4 super-packet is at most 64 KiB).
const MAX_PACKET: usize = 65536;
/// Room for the segments' headers of one super-packet, and for the segments of one UFO
/// super-packet (the copying form: payload plus a copy of the headers per segment).
const SPLIT_BUF: usize = 4 * MAX_PACKET;
/// Packets read from the TUN per `sendmmsg` with offloads on, at most.
const OUT_BATCH: usize = 8;
/// Messages per `recvmmsg` with offloads on (each a UDP_GRO train of up to 64 KiB).
const GRO_MSGS: usize = 8;
/// Packets per gro call.
const GRO_BATCH: usize = 128;

/// One side of the relay: a TUN device and the socket of the wire, connected to the other side.
#[derive(Debug)]
pub(crate) struct Half {
    pub(crate) tun: Device,
    pub(crate) wire: BatchSocket,
    /// The wire socket's peer: every datagram must come from it.
    peer: Option<SocketAddr>,
    /// The inner source addresses this half writes into its TUN: the other side's allowed
    /// prefixes.
    accept: Allowed,
}

impl Half {
    /// A half whose wire socket is connected (its peer is read now) and which accepts inner
    /// packets from `accept` only.
    pub(crate) fn new(tun: Device, wire: BatchSocket, accept: Allowed) -> Self {
        let peer = wire.socket().peer_addr().ok();
        Self {
            tun,
            wire,
            peer,
            accept,
        }
    }
}

/// What one pipeline did. Each pipeline owns one (on its own cache line), so counting costs no
/// shared writes between threads.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Counters {
    tun_reads: AtomicU64,
    tun_writes: AtomicU64,
    udp_sends: AtomicU64,
    udp_recvs: AtomicU64,
    polls: AtomicU64,
    /// Packets at MTU size moved by all of the above (a super-packet of n segments counts n).
    packets: AtomicU64,
    /// Bytes read from the TUN (the packets as the kernel handed them over).
    bytes: AtomicU64,
    /// Packets into and out of the coalescing step.
    gro_in: AtomicU64,
    gro_out: AtomicU64,
    /// Bytes vnet copied (UFO segments, datagrams copied apart for gro, gro's merges).
    copied: AtomicU64,
    /// Packets dropped (or errors seen), per [`Cause`]; the first reason is kept in
    /// `Relay::error`.
    causes: [AtomicU64; Cause::COUNT],
}

impl Counters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            tun_reads: get(&self.tun_reads),
            tun_writes: get(&self.tun_writes),
            udp_sends: get(&self.udp_sends),
            udp_recvs: get(&self.udp_recvs),
            polls: get(&self.polls),
            packets: get(&self.packets),
            bytes: get(&self.bytes),
            gro_in: get(&self.gro_in),
            gro_out: get(&self.gro_out),
            copied: get(&self.copied),
            causes: self.causes.each_ref().map(get),
        }
    }
}

/// Counter values at one moment, summed over pipelines; subtract two for an interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) tun_reads: u64,
    pub(crate) tun_writes: u64,
    pub(crate) udp_sends: u64,
    pub(crate) udp_recvs: u64,
    pub(crate) polls: u64,
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
    pub(crate) gro_in: u64,
    pub(crate) gro_out: u64,
    /// Bytes vnet copied.
    pub(crate) copied: u64,
    /// Per [`Cause`], in [`Cause::ALL`] order.
    pub(crate) causes: [u64; Cause::COUNT],
}

impl Snapshot {
    /// Packets dropped, all causes.
    pub(crate) fn dropped(&self) -> u64 {
        self.causes.iter().sum()
    }

    /// `cause1 N, cause2 M` for the causes that counted anything, or `none`.
    pub(crate) fn causes_line(&self) -> String {
        let parts: Vec<String> = Cause::ALL
            .iter()
            .zip(self.causes)
            .filter(|&(_, n)| n > 0)
            .map(|(c, n)| format!("{} {n}", c.name()))
            .collect();
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(", ")
        }
    }

    /// Bytes vnet copied per byte read from a TUN: its own copies, measured.
    pub(crate) fn copies_per_byte(&self) -> f64 {
        ratio(self.copied, self.bytes)
    }

    /// Every system call the relay made.
    pub(crate) fn syscalls(&self) -> u64 {
        self.tun_reads + self.tun_writes + self.udp_sends + self.udp_recvs + self.polls
    }

    /// MTU-sized packets moved per system call.
    pub(crate) fn packets_per_syscall(&self) -> f64 {
        ratio(self.packets, self.syscalls())
    }

    /// Packets into gro per packet out of it (1.00 when nothing merged or gro did not run).
    pub(crate) fn coalescing(&self) -> f64 {
        if self.gro_out == 0 {
            1.0
        } else {
            ratio(self.gro_in, self.gro_out)
        }
    }

    fn combine(self, other: Self, f: impl Fn(u64, u64) -> u64) -> Self {
        Self {
            tun_reads: f(self.tun_reads, other.tun_reads),
            tun_writes: f(self.tun_writes, other.tun_writes),
            udp_sends: f(self.udp_sends, other.udp_sends),
            udp_recvs: f(self.udp_recvs, other.udp_recvs),
            polls: f(self.polls, other.polls),
            packets: f(self.packets, other.packets),
            bytes: f(self.bytes, other.bytes),
            gro_in: f(self.gro_in, other.gro_in),
            gro_out: f(self.gro_out, other.gro_out),
            copied: f(self.copied, other.copied),
            causes: std::array::from_fn(|i| f(self.causes[i], other.causes[i])),
        }
    }

    /// `self - earlier`, per counter.
    pub(crate) fn since(self, earlier: Self) -> Self {
        self.combine(earlier, u64::saturating_sub)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// A running relay's shared state: counters per pipeline, a stop flag and the first error.
#[derive(Debug, Default)]
pub(crate) struct Relay {
    counters: [Counters; 4],
    stop: AtomicBool,
    error: std::sync::Mutex<Option<String>>,
}

impl Relay {
    /// The counters of all pipelines, summed.
    pub(crate) fn snapshot(&self) -> Snapshot {
        self.counters
            .iter()
            .map(Counters::snapshot)
            .fold(Snapshot::default(), |a, b| a.combine(b, u64::wrapping_add))
    }

    /// Counts `n` losses to `cause` outside the pipelines (e.g. datagrams discarded at start).
    pub(crate) fn count(&self, cause: Cause, n: usize) {
        self.counters[0].causes[cause as usize].fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Asks every pipeline to return (within [`TICK`]).
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether the relay is stopping (asked to, or a pipeline failed).
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The first error a pipeline met (a failed system call, or the first dropped packet's
    /// reason).
    pub(crate) fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }

    fn note(&self, what: String) {
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(what);
        }
    }

    /// Runs the four pipelines of `a` and `b` until [`Relay::stop`] or an I/O error (which stops
    /// all of them and is returned). Offloads must already be set on both TUN devices.
    pub(crate) fn run(&self, a: &Half, b: &Half, offload: bool) -> io::Result<()> {
        let [c0, c1, c2, c3] = &self.counters;
        let pipelines = [
            ("vnet-a-out", a, true, c0),
            ("vnet-a-in", a, false, c1),
            ("vnet-b-out", b, true, c2),
            ("vnet-b-in", b, false, c3),
        ];
        thread::scope(|scope| {
            let mut jobs = Vec::with_capacity(pipelines.len());
            let mut result = Ok(());
            for (name, half, outbound, c) in pipelines {
                let pipeline = move || {
                    self.guard(if outbound {
                        out_pipeline(self, half, offload, c)
                    } else {
                        in_pipeline(self, half, offload, c)
                    })
                };
                match thread::Builder::new()
                    .name(name.into())
                    .spawn_scoped(scope, pipeline)
                {
                    Ok(job) => jobs.push(job),
                    // A thread that cannot start stops the ones that did, and is the error.
                    Err(err) => {
                        self.note(format!("starting thread {name}: {err}"));
                        self.stop();
                        result = Err(err);
                        break;
                    }
                }
            }
            for job in jobs {
                let outcome = job
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                if result.is_ok() {
                    result = outcome;
                }
            }
            result
        })
    }

    /// A failing pipeline stops the others.
    fn guard(&self, result: io::Result<()>) -> io::Result<()> {
        if let Err(err) = &result {
            self.note(err.to_string());
            self.stop();
        }
        result
    }

    /// Counts `n` packets lost to `cause`; the first loss of the pipeline is noted with `why`.
    fn drop_packets(&self, c: &Counters, cause: Cause, n: usize, why: impl FnOnce() -> String) {
        if c.causes[cause as usize].fetch_add(n as u64, Ordering::Relaxed) == 0 {
            self.note(format!("{}: {}", cause.name(), why()));
        }
    }

    /// Applies the policy to a failed step: `Ok` after counting `n` lost packets (drop, wait),
    /// the error when the relay must end.
    fn on_error(
        &self,
        c: &Counters,
        step: Step,
        errno: Option<i32>,
        n: usize,
        err: impl std::fmt::Display,
    ) -> io::Result<()> {
        match policy::classify(step, errno) {
            Action::Drop(cause) | Action::Wait(cause) => {
                self.drop_packets(c, cause, n, || format!("{step:?}: {err}"));
                Ok(())
            }
            Action::Fallback | Action::End => Err(io::Error::other(format!("{step:?}: {err}"))),
        }
    }
}

/// TUN -> (split) -> wire.
///
/// Offloads on: after a read that had to wait, further reads are taken while the TUN has
/// packets, up to [`OUT_BATCH`]; each is split without copying its payload (segment headers
/// into a small buffer per packet, payloads left where the read put them) or its checksum
/// completed, and all of them go in one `sendmmsg` from iovec lists. Offloads off: one read, one
/// `send`.
fn out_pipeline(relay: &Relay, half: &Half, offload: bool, c: &Counters) -> io::Result<()> {
    let tun = &half.tun;
    let mut hdr_buf = vec![0u8; tun.vnet_hdr_len()];
    let slots = if offload { OUT_BATCH } else { 1 };
    let room = if offload { SPLIT_BUF } else { 0 };
    let mut pkts = vec![vec![0u8; MAX_PACKET]; slots];
    // Per slot: the segments' headers, and room for a UFO packet's copied segments (pages of
    // either are only touched when used).
    let mut headers = vec![vec![0u8; room]; slots];
    let mut outs = vec![vec![0u8; room]; slots];
    // What each read gave: its length and, offloads on, its vnet header (None: dropped).
    let mut reads: Vec<Option<(usize, Option<VnetHdr>)>> = Vec::with_capacity(slots);
    while !relay.stopping() {
        reads.clear();
        for pkt in pkts.iter_mut() {
            Counters::add(&c.tun_reads, 1);
            let len = match tun.read_packet(&mut hdr_buf, pkt) {
                Ok(len) => len,
                Err(Error::WouldBlock) => break,
                Err(err) => {
                    let errno = match err {
                        Error::Truncated { .. } => Some(libc::EMSGSIZE),
                        _ => err.raw_os_error(),
                    };
                    relay.on_error(c, Step::TunRead, errno, 1, &err)?;
                    reads.push(None);
                    if errno == Some(libc::EIO) {
                        // A device that is down: wait a little instead of spinning on reads.
                        thread::sleep(TICK / 10);
                        break;
                    }
                    continue;
                }
            };
            Counters::add(&c.bytes, len);
            if !offload && len > MAX_UDP_PAYLOAD_V4 {
                // One datagram cannot carry it (65,535 bytes from a TUN with MTU 65535).
                relay.drop_packets(c, Cause::Oversized, 1, || {
                    format!("a {len}-byte packet does not fit one UDP datagram")
                });
                reads.push(None);
                continue;
            }
            if !offload {
                // Offloads off: the kernel completed checksums and segmented; one datagram.
                reads.push(Some((len, None)));
                continue;
            }
            match VnetHdr::read(&hdr_buf, tun.layout(), tun.endian()) {
                Ok((hdr, _)) => reads.push(Some((len, Some(hdr)))),
                Err(err) => {
                    relay.drop_packets(c, Cause::Malformed, 1, || format!("vnet header: {err}"));
                    reads.push(None);
                }
            }
        }
        if reads.is_empty() {
            Counters::add(&c.polls, 1);
            tun.wait_readable(TICK)?;
            continue;
        }
        // Every packet's datagrams as pieces (header, payload, ... or the packet whole), and
        // per packet its pieces and segment size.
        let mut pieces: Vec<&[u8]> = Vec::with_capacity(reads.len() * 2 * 64);
        let mut trains = Vec::with_capacity(reads.len());
        let slots = pkts.iter_mut().zip(&mut headers).zip(&mut outs);
        for (((pkt, headers), out), &read) in slots.zip(&reads) {
            let Some((len, hdr)) = read else { continue };
            let start = pieces.len();
            let Some(hdr) = hdr else {
                Counters::add(&c.packets, 1);
                pieces.push(&pkt[..len]);
                trains.push((start..pieces.len(), len.max(1)));
                continue;
            };
            match batch::split_iov(&hdr, &mut pkt[..len], headers, out, &mut pieces) {
                Ok(train) if train.segment_size > MAX_UDP_PAYLOAD_V4 => {
                    pieces.truncate(start);
                    relay.drop_packets(c, Cause::Oversized, 1, || {
                        if train.count > 1 {
                            format!(
                                "segments of {} bytes do not fit one UDP datagram",
                                train.segment_size
                            )
                        } else {
                            format!("a {len}-byte packet does not fit one UDP datagram")
                        }
                    });
                }
                Ok(train) => {
                    Counters::add(&c.packets, train.count);
                    Counters::add(&c.copied, train.copied);
                    trains.push((start..pieces.len(), train.segment_size));
                }
                Err(err) => {
                    relay.drop_packets(c, Cause::Malformed, 1, || format!("split: {err}"));
                }
            }
        }
        let transmits: Vec<TransmitIov<'_>> = trains
            .into_iter()
            .map(|(range, segment_size)| TransmitIov {
                pieces: &pieces[range],
                segment_size,
            })
            .collect();
        if transmits.is_empty() {
            continue;
        }
        match half.wire.send_batch_iov(&transmits) {
            Ok(report) => {
                Counters::add(&c.packets, report.datagrams);
                Counters::add(&c.udp_sends, report.syscalls);
            }
            Err(err) => {
                Counters::add(&c.udp_sends, 1);
                let lost = err.total.saturating_sub(err.sent);
                relay.on_error(c, Step::UdpSend, err.raw_os_error(), lost, &err)?;
            }
        }
    }
    Ok(())
}

/// wire -> (coalesce) -> TUN.
///
/// Offloads on: one `recvmmsg` receives up to [`GRO_MSGS`] messages; with UDP_GRO each holds a
/// whole train of datagrams back to back (one socket buffer per train instead of one per
/// datagram: the kernel neither segments the train nor queues each datagram). core's gro merges
/// in place in one buffer per packet, with room to grow, so the datagrams are copied apart into
/// a pool of such buffers, at most [`GRO_BATCH`] per gro call. Offloads off: one `recv`, one write.
fn in_pipeline(relay: &Relay, half: &Half, offload: bool, c: &Counters) -> io::Result<()> {
    let tun = &half.tun;
    let zero_hdr = vec![0u8; tun.vnet_hdr_len()];
    let msgs = if offload { GRO_MSGS } else { 1 };
    let mut storage = vec![vec![0u8; MAX_PACKET]; msgs];
    let mut metas = vec![RecvMeta::default(); msgs];
    let mut batch = Batch::new(if offload { GRO_BATCH } else { 0 });
    while !relay.stopping() {
        let mut bufs: Vec<IoSliceMut<'_>> =
            storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        Counters::add(&c.udp_recvs, 1);
        let n = match half.wire.recv_batch(&mut bufs, &mut metas) {
            Ok(n) => n,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            // An ICMP error reported on the socket (the peer's port closed, a route gone...): it
            // is about an earlier datagram; counted, and the next receive goes on.
            Err(err) => {
                relay.on_error(c, Step::UdpRecv, err.raw_os_error(), 1, &err)?;
                continue;
            }
        };
        drop(bufs);
        for (buf, meta) in storage.iter().zip(&metas).take(n) {
            if meta.truncated {
                relay.drop_packets(c, Cause::Oversized, 1, || {
                    format!("a {}-byte message did not fit its buffer", meta.len)
                });
                continue;
            }
            if meta.source.is_some() && meta.source != half.peer {
                relay.drop_packets(c, Cause::ForeignWire, meta.count(), || {
                    format!("a datagram from {:?}", meta.source)
                });
                continue;
            }
            for datagram in meta.datagrams(buf) {
                if let Err(cause) = half.accept.check(datagram) {
                    relay.drop_packets(c, cause, 1, || {
                        format!("inner packet of {} bytes refused", datagram.len())
                    });
                    continue;
                }
                Counters::add(&c.packets, 1);
                if !offload {
                    Counters::add(&c.packets, 1);
                    Counters::add(&c.tun_writes, 1);
                    write_or_drop(relay, c, tun.write_packet(&zero_hdr, datagram))?;
                    continue;
                }
                if batch.is_full() {
                    batch.flush(relay, tun, c)?;
                }
                batch.push(datagram);
                Counters::add(&c.copied, datagram.len());
            }
        }
        batch.flush(relay, tun, c)?;
    }
    Ok(())
}

/// Received packets waiting for gro, one per buffer of [`MAX_PACKET`] bytes.
struct Batch {
    bufs: Vec<Vec<u8>>,
    lens: Vec<usize>,
    coalescer: batch::Coalescer,
}

impl Batch {
    fn new(capacity: usize) -> Self {
        Self {
            bufs: vec![vec![0u8; MAX_PACKET]; capacity],
            lens: Vec::with_capacity(capacity),
            coalescer: batch::Coalescer::new(capacity, GroOptions::default()),
        }
    }

    fn is_full(&self) -> bool {
        self.lens.len() == self.bufs.len()
    }

    /// Copies `datagram` into the next buffer (one of vnet's copies: gro merges in place in one
    /// buffer per packet, with room to grow).
    fn push(&mut self, datagram: &[u8]) {
        let i = self.lens.len();
        self.bufs[i][..datagram.len()].copy_from_slice(datagram);
        self.lens.push(datagram.len());
    }

    /// Coalesces what is waiting and writes the result into the TUN.
    fn flush(&mut self, relay: &Relay, tun: &Device, c: &Counters) -> io::Result<()> {
        let n = self.lens.len();
        if n == 0 {
            return Ok(());
        }
        Counters::add(&c.gro_in, n);
        let result = self.coalescer.coalesce(&mut self.bufs[..n], &self.lens);
        let merged = match result {
            Ok(merged) => merged,
            Err(err) => {
                self.lens.clear();
                relay.drop_packets(c, Cause::Malformed, n, || format!("coalesce: {err}"));
                return Ok(());
            }
        };
        Counters::add(&c.gro_out, merged.len());
        // gro's merge copies: what each merged packet grew by in its first segment's buffer.
        let grown: usize = merged
            .iter()
            .map(|m| {
                m.len
                    .saturating_sub(self.lens.get(m.index).copied().unwrap_or(m.len))
            })
            .sum();
        Counters::add(&c.copied, grown);
        self.lens.clear();
        for m in merged {
            Counters::add(&c.packets, m.segments);
            Counters::add(&c.tun_writes, 1);
            write_or_drop(relay, c, tun.send(&m.hdr, &self.bufs[m.index][..m.len]))?;
        }
        Ok(())
    }
}

/// A TUN write's failure, as the policy says: a packet the kernel refuses (EINVAL), a device
/// that is down (EIO) and a short write lose the packet and are counted; a device that is gone
/// ends the pipeline.
fn write_or_drop(relay: &Relay, c: &Counters, result: Result<usize, Error>) -> io::Result<()> {
    match result {
        Ok(_) => Ok(()),
        Err(err) => relay.on_error(c, Step::TunWrite, err.raw_os_error(), 1, &err),
    }
}
