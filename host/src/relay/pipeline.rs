//! The relay's four pipelines, two per [`Half`]: out (TUN -> gso -> wire) and in (wire -> gro ->
//! TUN). Each owns its buffers and does one round per [`Pipeline::step`]; [`Relay::run`] gives
//! each a thread and steps it until the relay stops.

use std::io::{self, IoSliceMut};

use vnet_core::gro::GroOptions;
use vnet_core::hdr::VnetHdr;

use super::counters::Counters;
use super::policy::{Cause, Step};
use super::{Half, Relay, TICK};
use crate::gro_iov::{GroIov, Written};
use crate::udp::{MAX_UDP_PAYLOAD_V4, RecvMeta, TransmitIov};
use crate::{Device, Error, batch};

/// The largest packet a TUN hands over (an IPv4 super-packet is at most 64 KiB).
const MAX_PACKET: usize = 65536;
/// Room for the segments' headers of one super-packet, and for the segments of one UFO
/// super-packet (the copying form: payload plus a copy of the headers per segment).
const SPLIT_BUF: usize = 4 * MAX_PACKET;
/// Packets read from the TUN per `sendmmsg` with offloads on, at most.
const OUT_BATCH: usize = 8;
/// Messages per `recvmmsg` with offloads on (each a UDP_GRO train of up to 64 KiB).
const GRO_MSGS: usize = 8;
/// Packets per gro call (so a merged packet has at most this many pieces: one `writev` takes it).
const GRO_BATCH: usize = 128;

/// Which of the four pipelines: a side, and whether it reads that side's TUN (out) or its wire
/// socket (in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// TUN A -> wire.
    AOut,
    /// wire -> TUN A.
    AIn,
    /// TUN B -> wire.
    BOut,
    /// wire -> TUN B.
    BIn,
}

impl Direction {
    /// All four, in counter order.
    pub const ALL: [Direction; 4] = [
        Direction::AOut,
        Direction::AIn,
        Direction::BOut,
        Direction::BIn,
    ];

    /// The thread name [`Relay::run`] gives it.
    pub fn name(self) -> &'static str {
        match self {
            Direction::AOut => "vnet-a-out",
            Direction::AIn => "vnet-a-in",
            Direction::BOut => "vnet-b-out",
            Direction::BIn => "vnet-b-in",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }

    pub(super) fn side(self) -> usize {
        self.index() / 2
    }

    fn outbound(self) -> bool {
        matches!(self, Direction::AOut | Direction::BOut)
    }
}

/// One pipeline of a [`Relay`], with its buffers: [`Pipeline::step`] does one round (one batch
/// of TUN reads and one send, or one receive and its TUN writes). For callers who drive the
/// relay from their own threads; [`Relay::run`] does it for all four.
#[derive(Debug)]
pub struct Pipeline<'r> {
    relay: &'r Relay,
    half: &'r Half,
    c: &'r Counters,
    offload: bool,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Out(OutBuffers),
    In(Box<InBuffers>),
}

impl<'r> Pipeline<'r> {
    pub(super) fn new(relay: &'r Relay, which: Direction) -> Pipeline<'r> {
        let half = &relay.halves[which.side()];
        let offload = relay.config.offload;
        let kind = if which.outbound() {
            Kind::Out(OutBuffers::new(half.tun.vnet_hdr_len(), offload))
        } else {
            Kind::In(Box::new(InBuffers::new(half.tun.vnet_hdr_len(), offload)))
        };
        Pipeline {
            relay,
            half,
            c: &relay.state.counters[which.index()],
            offload,
            kind,
        }
    }

    /// One round. An error is one the policy ends the relay for (H5: a descriptor is gone);
    /// every other failure was counted under its [`Cause`] and the pipeline can go on. Waits at
    /// most about 100 ms when there is nothing to do.
    pub fn step(&mut self) -> io::Result<()> {
        let (relay, half, c, offload) = (self.relay, self.half, self.c, self.offload);
        match &mut self.kind {
            Kind::Out(bufs) => bufs.step(relay, half, offload, c),
            Kind::In(bufs) => bufs.step(relay, half, offload, c),
        }
    }

    /// Steps until the relay stops; an error stops the whole relay and is returned.
    pub fn run(&mut self) -> io::Result<()> {
        while !self.relay.stopping() {
            if let Err(err) = self.step() {
                self.relay.note(err.to_string());
                self.relay.stop();
                return Err(err);
            }
        }
        Ok(())
    }
}

/// TUN -> (split) -> wire.
///
/// Offloads on: after a read that had to wait, further reads are taken while the TUN has
/// packets, up to [`OUT_BATCH`]; each is split without copying its payload (segment headers
/// into a small buffer per packet, payloads left where the read put them) or its checksum
/// completed, and all of them go in one `sendmmsg` from iovec lists. Offloads off: one read, one
/// `send`.
#[derive(Debug)]
struct OutBuffers {
    hdr_buf: Vec<u8>,
    pkts: Vec<Vec<u8>>,
    /// Per slot: the segments' headers, and room for a UFO packet's copied segments (pages of
    /// either are only touched when used).
    headers: Vec<Vec<u8>>,
    outs: Vec<Vec<u8>>,
    /// What each read gave: its length and, offloads on, its vnet header (None: dropped).
    reads: Vec<Option<(usize, Option<VnetHdr>)>>,
}

impl OutBuffers {
    fn new(hdr_len: usize, offload: bool) -> Self {
        let slots = if offload { OUT_BATCH } else { 1 };
        let room = if offload { SPLIT_BUF } else { 0 };
        Self {
            hdr_buf: vec![0u8; hdr_len],
            pkts: vec![vec![0u8; MAX_PACKET]; slots],
            headers: vec![vec![0u8; room]; slots],
            outs: vec![vec![0u8; room]; slots],
            reads: Vec::with_capacity(slots),
        }
    }

    fn step(&mut self, relay: &Relay, half: &Half, offload: bool, c: &Counters) -> io::Result<()> {
        let tun = &half.tun;
        let reads = &mut self.reads;
        reads.clear();
        for pkt in self.pkts.iter_mut() {
            Counters::add(&c.tun_reads, 1);
            let len = match tun.read_packet(&mut self.hdr_buf, pkt) {
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
                        std::thread::sleep(TICK / 10);
                        break;
                    }
                    continue;
                }
            };
            Counters::add(&c.bytes, len);
            if !offload && len > MAX_UDP_PAYLOAD_V4 {
                // One datagram cannot carry it (65,535 bytes from a TUN with MTU 65535): H3.
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
            match VnetHdr::read(&self.hdr_buf, tun.layout(), tun.endian()) {
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
            return Ok(());
        }
        // Every packet's datagrams as pieces (header, payload, ... or the packet whole), and
        // per packet its pieces and segment size.
        let mut pieces: Vec<&[u8]> = Vec::with_capacity(reads.len() * 2 * 64);
        let mut trains = Vec::with_capacity(reads.len());
        let slots = self
            .pkts
            .iter_mut()
            .zip(&mut self.headers)
            .zip(&mut self.outs);
        for (((pkt, headers), out), &read) in slots.zip(reads.iter()) {
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
            return Ok(());
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
        Ok(())
    }
}

/// wire -> (coalesce) -> TUN.
///
/// Offloads on: one `recvmmsg` receives up to [`GRO_MSGS`] messages; with UDP_GRO each holds a
/// whole train of datagrams back to back (one socket buffer per train instead of one per
/// datagram: the kernel neither segments the train nor queues each datagram). The datagrams the
/// relay accepts are coalesced where they lie ([`GroIov`], G9), at most [`GRO_BATCH`] per gro
/// call, and each packet that results goes to the TUN in one `writev` of its virtio-net header,
/// its rewritten headers and slices of the receive buffers: no payload copied by vnet. Offloads
/// off: one `recv`, one write.
#[derive(Debug)]
struct InBuffers {
    zero_hdr: Vec<u8>,
    storage: Vec<Vec<u8>>,
    metas: Vec<RecvMeta>,
    gro: GroIov,
}

impl InBuffers {
    fn new(hdr_len: usize, offload: bool) -> Self {
        let msgs = if offload { GRO_MSGS } else { 1 };
        Self {
            zero_hdr: vec![0u8; hdr_len],
            storage: vec![vec![0u8; MAX_PACKET]; msgs],
            metas: vec![RecvMeta::default(); msgs],
            gro: GroIov::new(GroOptions::default()),
        }
    }

    fn step(&mut self, relay: &Relay, half: &Half, offload: bool, c: &Counters) -> io::Result<()> {
        let tun = &half.tun;
        let mut bufs: Vec<IoSliceMut<'_>> = self
            .storage
            .iter_mut()
            .map(|b| IoSliceMut::new(b))
            .collect();
        Counters::add(&c.udp_recvs, 1);
        let n = match half.wire.recv_batch(&mut bufs, &mut self.metas) {
            Ok(n) => n,
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(());
            }
            // An ICMP error reported on the socket (the peer's port closed, a route gone...): it
            // is about an earlier datagram; counted, and the next receive goes on (H1).
            Err(err) => return relay.on_error(c, Step::UdpRecv, err.raw_os_error(), 1, &err),
        };
        drop(bufs);
        // The accepted datagrams, where the receive put them.
        let mut batch: Vec<&[u8]> = Vec::with_capacity(if offload { GRO_BATCH } else { 0 });
        for (buf, meta) in self.storage.iter().zip(&self.metas).take(n) {
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
                    write_or_drop(relay, c, tun.write_packet(&self.zero_hdr, datagram))?;
                    continue;
                }
                if batch.len() == GRO_BATCH {
                    flush(&mut self.gro, &batch, relay, tun, c)?;
                    batch.clear();
                }
                batch.push(datagram);
            }
        }
        flush(&mut self.gro, &batch, relay, tun, c)
    }
}

/// Coalesces the datagrams of `batch` where they lie and writes the packets that result into the
/// TUN, one `writev` each (vnet copies nothing unless a packet has more pieces than one
/// `writev` takes: those are gathered, and counted as copied).
fn flush(
    gro: &mut GroIov,
    batch: &[&[u8]],
    relay: &Relay,
    tun: &Device,
    c: &Counters,
) -> io::Result<()> {
    let n = batch.len();
    if n == 0 {
        return Ok(());
    }
    Counters::add(&c.gro_in, n);
    let mut slices = Vec::new();
    let count = match gro.coalesce(batch, &mut slices) {
        Ok(count) => count,
        Err(err) => {
            relay.drop_packets(c, Cause::Malformed, n, || format!("coalesce: {err}"));
            return Ok(());
        }
    };
    Counters::add(&c.gro_out, count);
    for k in 0..count {
        let Some(o) = gro.output(k) else { break };
        Counters::add(&c.packets, o.segments);
        Counters::add(&c.tun_writes, 1);
        let mut written = Written::default();
        let result = gro.write(tun, &o, &slices, &mut written);
        Counters::add(&c.copied, written.copied);
        write_or_drop(relay, c, result.map(|()| o.len))?;
    }
    Ok(())
}

/// A TUN write's failure, as the policy says (H4): a packet the kernel refuses (EINVAL), a
/// device that is down (EIO) and a short write lose the packet and are counted; a device that is
/// gone ends the pipeline.
fn write_or_drop(relay: &Relay, c: &Counters, result: Result<usize, Error>) -> io::Result<()> {
    match result {
        Ok(_) => Ok(()),
        Err(err) => relay.on_error(c, Step::TunWrite, err.raw_os_error(), 1, &err),
    }
}
