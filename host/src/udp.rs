//! Batched UDP socket I/O: many datagrams per system call.
//!
//! The shape follows quinn-udp: segmentation is *data* ([`RecvMeta::stride`], the `segment_size`
//! of [`BatchSocket::send_segments`]), system calls stay in the shell, and every capability is
//! probed and degrades gracefully:
//!
//! - send: one `sendmmsg` whose messages carry a UDP_SEGMENT control message (the kernel cuts
//!   each message into datagrams, "UDP GSO"); without UDP_SEGMENT one `sendmmsg` message per
//!   datagram. When the kernel refuses a train (EIO: no checksum offload on the route's device;
//!   EINVAL: a segment larger than the path MTU; EMSGSIZE: a path MTU learnt from an ICMP
//!   "fragmentation needed"), what was not sent goes again as single datagrams; after
//!   [`GSO_REFUSALS_BEFORE_OFF`] refusals in a row UDP_SEGMENT is left off and tried again after
//!   1 s, 2 s, 4 s ... at most [`GSO_REPROBE_MAX`] (a route or MTU may change back).
//! - receive: one `recvmmsg` (MSG_WAITFORONE) whose buffers may each hold a train of datagrams
//!   coalesced by the kernel (UDP_GRO, reported with the segment size in a control message);
//!   without UDP_GRO, one datagram per buffer. Each message says where it came from.
//!
//! The socket must be connected: datagrams go to, and come from, one peer (a tunnel's wire).
//! Connect it with [`connect_drained`], which discards what reached the socket while it was
//! bound but not yet connected (the kernel keeps such datagrams queued after `connect`).

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::sys;

/// Largest UDP payload of one IPv4 message (65535 - 20 - 8): the bound of a GSO train too.
pub const MAX_UDP_PAYLOAD_V4: usize = 65507;

/// Segments per UDP_SEGMENT message: 64 is accepted by every kernel with UDP GSO (newer ones
/// take 128).
pub const MAX_GSO_SEGMENTS: usize = 64;

/// UDP_SEGMENT refusals in a row after which a socket stops using it for a while. One refusal
/// may be a stale error (an ICMP "fragmentation needed" reported on the next send); three in a row
/// mean the route does not take trains.
pub const GSO_REFUSALS_BEFORE_OFF: u32 = 3;

/// The longest wait before UDP_SEGMENT is tried again after it was turned off.
pub const GSO_REPROBE_MAX: Duration = Duration::from_secs(64);

/// Connects `sock` to `peer`, then discards every datagram that is already queued: between
/// `bind` and `connect` anyone could send to the port, and `connect` does not flush the queue.
/// Returns how many datagrams were discarded. From then on the kernel only delivers datagrams
/// from `peer`.
pub fn connect_drained(sock: &UdpSocket, peer: SocketAddr) -> io::Result<usize> {
    sock.connect(peer)?;
    sock.set_nonblocking(true)?;
    let mut buf = [0u8; 1];
    let mut discarded = 0;
    let result = loop {
        match sock.recv(&mut buf) {
            Ok(_) => discarded += 1,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break Ok(discarded),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            // A pending ICMP error (e.g. ECONNREFUSED) is consumed by the read; go on.
            Err(err) if err.raw_os_error().is_some_and(is_icmp_report) => {}
            Err(err) => break Err(err),
        }
    };
    sock.set_nonblocking(false)?;
    result
}

/// Whether `errno` is one a UDP socket reports for an ICMP error that came back for an earlier
/// datagram (`icmp_err_convert`, `icmpv6_err_convert`): it says nothing about the current call.
pub fn is_icmp_report(errno: i32) -> bool {
    matches!(
        errno,
        libc::ECONNREFUSED
            | libc::ENOPROTOOPT
            | libc::EHOSTUNREACH
            | libc::ENETUNREACH
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::EACCES
            | libc::EMSGSIZE
            | libc::EPROTO
            | libc::EOPNOTSUPP
    )
}
/// What one received message holds: `len` bytes, cut into datagrams of `stride` bytes (the last
/// one may be shorter). Without UDP_GRO `stride == len`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecvMeta {
    /// Bytes received into the buffer.
    pub len: usize,
    /// Size of each datagram in the buffer (all but the last).
    pub stride: usize,
    /// Where the datagrams came from, when the kernel said.
    pub source: Option<SocketAddr>,
    /// The message was longer than its buffer (MSG_TRUNC): its bytes are not whole, and
    /// [`RecvMeta::datagrams`] yields none of them.
    pub truncated: bool,
}

impl RecvMeta {
    /// The datagrams of a buffer filled by [`BatchSocket::recv_batch`] (none if truncated).
    pub fn datagrams<'a>(&self, buf: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let len = if self.truncated { 0 } else { self.len };
        let data = buf.get(..len).unwrap_or(buf);
        data.chunks(self.stride.max(1))
    }

    /// How many datagrams the buffer holds.
    pub fn count(&self) -> usize {
        self.len.div_ceil(self.stride.max(1))
    }
}

/// Datagrams to send: `data` cut into `segment_size` pieces, the last one possibly shorter
/// (quinn's `Transmit { contents, segment_size }`). `segment_size >= data.len()` is one datagram.
#[derive(Clone, Copy, Debug)]
pub struct Transmit<'a> {
    /// The datagrams, back to back.
    pub data: &'a [u8],
    /// Bytes per datagram.
    pub segment_size: usize,
}

/// Datagrams to send from an iovec list: the bytes of `pieces` in order, cut into `segment_size`
/// datagrams (the last one possibly shorter), as [`Transmit`] but gathered by the kernel from
/// where the bytes lie, so nothing is copied into one buffer first. A datagram may span pieces
/// (e.g. a segment's headers, then its payload: `gso::IovecPlan`'s shape). One message (a train
/// or a datagram) may gather at most 1024 pieces (`UIO_MAXIOV`; more is the kernel's EMSGSIZE).
#[derive(Clone, Copy, Debug)]
pub struct TransmitIov<'a> {
    /// The bytes of the datagrams, in order.
    pub pieces: &'a [&'a [u8]],
    /// Bytes per datagram.
    pub segment_size: usize,
}

impl TransmitIov<'_> {
    /// The bytes of all datagrams.
    pub fn len(&self) -> usize {
        self.pieces.iter().map(|p| p.len()).sum()
    }

    /// Whether there are no bytes (one empty datagram).
    pub fn is_empty(&self) -> bool {
        self.pieces.iter().all(|p| p.is_empty())
    }
}

/// One message to send: `iov` indexes the iovec storage it was cut into, `len` bytes in all.
#[derive(Clone, Debug)]
struct Message {
    iov: std::ops::Range<usize>,
    len: usize,
    segment_size: Option<u16>,
}

impl Message {
    /// The datagrams the message stands for.
    fn datagrams(&self) -> usize {
        self.segment_size
            .map_or(1, |size| self.len.div_ceil(usize::from(size).max(1)))
    }
}

/// Cuts the bytes of `pieces` (`total` in all) into messages: GSO trains of at most
/// [`MAX_GSO_SEGMENTS`] datagrams and [`MAX_UDP_PAYLOAD_V4`] bytes, or one message per datagram.
/// Each message's pieces go into `iov` (a piece crossing a message boundary is cut there, nothing
/// is copied), the messages into `msgs`; no bytes at all make one empty datagram.
fn push_messages<'a>(
    pieces: impl IntoIterator<Item = &'a [u8]>,
    total: usize,
    segment_size: usize,
    gso: bool,
    iov: &mut Vec<IoSlice<'a>>,
    msgs: &mut Vec<Message>,
) {
    let segment_size = segment_size.max(1);
    let size = u16::try_from(segment_size)
        .ok()
        .filter(|_| gso && total > segment_size);
    let per_msg = match size {
        Some(_) => (MAX_UDP_PAYLOAD_V4 / segment_size).clamp(1, MAX_GSO_SEGMENTS) * segment_size,
        None => segment_size,
    };
    let message = |iov, len| Message {
        iov,
        len,
        segment_size: size.filter(|_| len > segment_size),
    };
    let mut start = iov.len();
    let mut len = 0;
    let mut pushed = false;
    for piece in pieces {
        let mut rest = piece;
        while !rest.is_empty() {
            let (head, tail) = rest.split_at(rest.len().min(per_msg - len));
            iov.push(IoSlice::new(head));
            len += head.len();
            rest = tail;
            if len == per_msg {
                msgs.push(message(start..iov.len(), len));
                start = iov.len();
                len = 0;
                pushed = true;
            }
        }
    }
    if len > 0 || !pushed {
        msgs.push(message(start..iov.len(), len));
    }
}

/// The system call's view of `msgs`, whose pieces are in `iov`.
fn sys_messages<'s>(iov: &'s [IoSlice<'s>], msgs: &[Message]) -> Vec<sys::SendMsg<'s>> {
    msgs.iter()
        .map(|m| sys::SendMsg {
            iov: iov.get(m.iov.clone()).unwrap_or_default(),
            segment_size: m.segment_size,
        })
        .collect()
}

/// What one send did: datagrams on the wire and system calls it took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Datagrams sent.
    pub datagrams: usize,
    /// System calls made.
    pub syscalls: usize,
}

/// The batching a kernel offers a UDP socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpCaps {
    /// UDP_SEGMENT (send-side GSO, Linux 4.18).
    pub gso: bool,
    /// UDP_GRO (receive-side coalescing, Linux 5.0).
    pub gro: bool,
}

/// Probes UDP_SEGMENT and UDP_GRO on a throw-away socket (as quinn-udp does: the option is set
/// on a socket nobody sends from).
pub fn probe_caps() -> UdpCaps {
    let Ok(sock) = UdpSocket::bind("127.0.0.1:0") else {
        return UdpCaps::default();
    };
    let fd = sock.as_fd();
    UdpCaps {
        gso: sys::setsockopt_int(fd, libc::SOL_UDP, libc::UDP_SEGMENT, 1400).is_ok(),
        gro: sys::setsockopt_int(fd, libc::SOL_UDP, libc::UDP_GRO, 1).is_ok(),
    }
}

/// Why a [`BatchSocket::send_batch`] stopped, and how far it got.
#[derive(Debug)]
pub struct SendError {
    /// The kernel's error.
    pub error: io::Error,
    /// Datagrams the kernel took before it (the rest of the batch was not sent).
    pub sent: usize,
    /// Datagrams in the batch.
    pub total: usize,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "send after {} of {} datagrams: {}",
            self.sent, self.total, self.error
        )
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<SendError> for io::Error {
    fn from(err: SendError) -> Self {
        io::Error::new(err.error.kind(), err)
    }
}

impl SendError {
    /// The errno, when the kernel refused.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.error.raw_os_error()
    }
}

/// A connected UDP socket with batched send and receive.
#[derive(Debug)]
pub struct BatchSocket {
    sock: UdpSocket,
    /// UDP_SEGMENT was asked for and the kernel has it.
    gso_wanted: AtomicBool,
    /// UDP_SEGMENT is in use now (off for a while after repeated refusals).
    gso: AtomicBool,
    /// Refusals of UDP_SEGMENT in a row.
    gso_refusals: AtomicU32,
    /// When to try UDP_SEGMENT again, in milliseconds since `epoch`.
    gso_retry_at: AtomicU64,
    /// Trains the kernel refused (sent again as single datagrams).
    gso_fallbacks: AtomicU64,
    epoch: Instant,
    /// UDP_GRO is on.
    gro: bool,
}

impl BatchSocket {
    /// Wraps a connected socket. Batching starts off: turn it on with
    /// [`BatchSocket::enable_gso`] and [`BatchSocket::enable_gro`].
    pub fn new(sock: UdpSocket) -> Self {
        Self {
            sock,
            gso_wanted: AtomicBool::new(false),
            gso: AtomicBool::new(false),
            gso_refusals: AtomicU32::new(0),
            gso_retry_at: AtomicU64::new(0),
            gso_fallbacks: AtomicU64::new(0),
            epoch: Instant::now(),
            gro: false,
        }
    }

    /// The socket.
    pub fn socket(&self) -> &UdpSocket {
        &self.sock
    }

    /// Uses UDP_SEGMENT for [`BatchSocket::send_segments`] if the kernel has it; returns whether
    /// it will.
    pub fn enable_gso(&self, on: bool) -> bool {
        let on = on && probe_caps().gso;
        self.gso_wanted.store(on, Ordering::Relaxed);
        self.gso.store(on, Ordering::Relaxed);
        self.gso_refusals.store(0, Ordering::Relaxed);
        on
    }

    /// Turns UDP_GRO on or off; returns whether it is on (false if the kernel refused).
    pub fn enable_gro(&mut self, on: bool) -> bool {
        let value = libc::c_int::from(on);
        self.gro = sys::setsockopt_int(self.sock.as_fd(), libc::SOL_UDP, libc::UDP_GRO, value)
            .is_ok()
            && on;
        self.gro
    }

    /// What is in use now.
    pub fn caps(&self) -> UdpCaps {
        UdpCaps {
            gso: self.gso.load(Ordering::Relaxed),
            gro: self.gro,
        }
    }

    /// How many UDP_SEGMENT trains the kernel refused so far (each went again as single
    /// datagrams).
    pub fn gso_fallbacks(&self) -> u64 {
        self.gso_fallbacks.load(Ordering::Relaxed)
    }

    /// Whether UDP_SEGMENT is to be used for this send: on, or off after refusals and due for
    /// another try (then it is turned on again; a refusal turns it off with a doubled wait).
    fn gso_now(&self) -> bool {
        if self.gso.load(Ordering::Relaxed) {
            return true;
        }
        if !self.gso_wanted.load(Ordering::Relaxed) {
            return false;
        }
        let now = self.millis();
        if now < self.gso_retry_at.load(Ordering::Relaxed) {
            return false;
        }
        self.gso.store(true, Ordering::Relaxed);
        true
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Notes a refused train: after [`GSO_REFUSALS_BEFORE_OFF`] in a row, UDP_SEGMENT goes off
    /// for 1 s, then 2 s, 4 s ... up to [`GSO_REPROBE_MAX`].
    fn gso_refused(&self) {
        self.gso_fallbacks.fetch_add(1, Ordering::Relaxed);
        let refusals = self.gso_refusals.fetch_add(1, Ordering::Relaxed) + 1;
        if refusals >= GSO_REFUSALS_BEFORE_OFF {
            let shift = (refusals - GSO_REFUSALS_BEFORE_OFF).min(6);
            let wait = (1000u64 << shift).min(GSO_REPROBE_MAX.as_millis() as u64);
            self.gso_retry_at
                .store(self.millis().saturating_add(wait), Ordering::Relaxed);
            self.gso.store(false, Ordering::Relaxed);
        }
    }

    /// SO_SNDBUF and SO_RCVBUF, forced past the sysctl limits when privileged (SO_*BUFFORCE),
    /// else as far as the limits allow. Bursts of a whole GSO train need room.
    pub fn set_buffer_sizes(&self, bytes: usize) -> io::Result<()> {
        let fd = self.sock.as_fd();
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        for (force, plain) in [
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        ] {
            if sys::setsockopt_int(fd, libc::SOL_SOCKET, force, value).is_err() {
                sys::setsockopt_int(fd, libc::SOL_SOCKET, plain, value)?;
            }
        }
        Ok(())
    }

    /// The receive timeout after which [`BatchSocket::recv_batch`] returns `WouldBlock`/`TimedOut`.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }

    /// Sends one datagram: one `send` call.
    pub fn send(&self, datagram: &[u8]) -> io::Result<()> {
        sys::retry_if_interrupted(|| self.sock.send(datagram))?;
        Ok(())
    }

    /// Sends `data` as datagrams of `segment_size` bytes (the last may be shorter): one
    /// [`Transmit`] for [`BatchSocket::send_batch`].
    pub fn send_segments(&self, data: &[u8], segment_size: usize) -> Result<SendReport, SendError> {
        self.send_batch(&[Transmit { data, segment_size }])
    }

    /// Sends every transmit in as few system calls as the kernel allows: with UDP_SEGMENT, each
    /// transmit becomes trains of at most [`MAX_GSO_SEGMENTS`] datagrams and
    /// [`MAX_UDP_PAYLOAD_V4`] bytes, one `sendmmsg` message each; otherwise one message per
    /// datagram. Messages go 64 per `sendmmsg`. If the kernel refuses a train (EIO, EINVAL,
    /// EMSGSIZE; see the module documentation), what was not sent goes again as single
    /// datagrams, as quinn-udp degrades, and repeated refusals turn UDP_SEGMENT off for a while.
    /// Any other failure stops the batch; the error says how many datagrams left before it.
    pub fn send_batch(&self, transmits: &[Transmit<'_>]) -> Result<SendReport, SendError> {
        let iov: Vec<TransmitIov<'_>> = transmits
            .iter()
            .map(|t| TransmitIov {
                pieces: std::slice::from_ref(&t.data),
                segment_size: t.segment_size,
            })
            .collect();
        self.send_batch_iov(&iov)
    }

    /// Sends the datagrams of one iovec list (see [`TransmitIov`]): [`BatchSocket::send_batch_iov`]
    /// of one transmit.
    pub fn send_train_iov(
        &self,
        pieces: &[&[u8]],
        segment_size: usize,
    ) -> Result<SendReport, SendError> {
        self.send_batch_iov(&[TransmitIov {
            pieces,
            segment_size,
        }])
    }

    /// [`BatchSocket::send_batch`] from iovec lists: the kernel gathers each message from the
    /// pieces where they lie, so a train of header, payload, header, payload, ... goes out
    /// without being copied together first. Trains, the fallback to single datagrams (cut from
    /// the same pieces) and errors as [`BatchSocket::send_batch`]; one datagram in one piece is
    /// one plain `send`.
    pub fn send_batch_iov(&self, transmits: &[TransmitIov<'_>]) -> Result<SendReport, SendError> {
        let mut datagrams = 0;
        let mut lens = Vec::with_capacity(transmits.len());
        for t in transmits {
            if t.segment_size == 0 || t.segment_size > MAX_UDP_PAYLOAD_V4 {
                return Err(SendError {
                    error: io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "segment size {} not in 1..={MAX_UDP_PAYLOAD_V4}",
                            t.segment_size
                        ),
                    ),
                    sent: 0,
                    total: datagrams,
                });
            }
            let len = t.len();
            lens.push(len);
            datagrams += len.div_ceil(t.segment_size).max(1);
        }
        let fail = |sent, error| SendError {
            error,
            sent,
            total: datagrams,
        };
        if let ([t], [len]) = (transmits, &lens[..])
            && let [data] = t.pieces
            && *len <= t.segment_size
        {
            self.send(data).map_err(|err| fail(0, err))?;
            return Ok(SendReport {
                datagrams,
                syscalls: 1,
            });
        }
        let gso = self.gso_now();
        let mut iov = Vec::with_capacity(transmits.iter().map(|t| t.pieces.len()).sum());
        let mut msgs = Vec::with_capacity(transmits.len());
        for (t, &len) in transmits.iter().zip(&lens) {
            push_messages(
                t.pieces.iter().copied(),
                len,
                t.segment_size,
                gso,
                &mut iov,
                &mut msgs,
            );
        }
        let mut syscalls = 0;
        match self.send_all(&sys_messages(&iov, &msgs), &mut syscalls) {
            Ok(()) => {
                if gso && self.gso_refusals.load(Ordering::Relaxed) != 0 {
                    self.gso_refusals.store(0, Ordering::Relaxed);
                }
            }
            Err((sent, err))
                if gso
                    && matches!(
                        err.raw_os_error(),
                        Some(libc::EIO | libc::EINVAL | libc::EMSGSIZE)
                    ) =>
            {
                self.gso_refused();
                let done = msgs.get(..sent).unwrap_or_default();
                let done: usize = done.iter().map(Message::datagrams).sum();
                // What was not sent, cut again from the same pieces into single datagrams.
                let mut single_iov = Vec::new();
                let mut single = Vec::new();
                for msg in msgs.get(sent..).unwrap_or_default() {
                    let pieces = iov.get(msg.iov.clone()).unwrap_or_default();
                    let size = msg.segment_size.map_or(msg.len, usize::from);
                    push_messages(
                        pieces.iter().map(|p| &**p),
                        msg.len,
                        size,
                        false,
                        &mut single_iov,
                        &mut single,
                    );
                }
                self.send_all(&sys_messages(&single_iov, &single), &mut syscalls)
                    .map_err(|(more, err)| fail(done + more, err))?;
            }
            Err((sent, err)) => {
                let done = msgs.get(..sent).unwrap_or_default();
                return Err(fail(done.iter().map(Message::datagrams).sum(), err));
            }
        }
        Ok(SendReport {
            datagrams,
            syscalls,
        })
    }

    /// `sendmmsg` until every message is sent, counting calls; on failure, how many were sent.
    fn send_all(
        &self,
        msgs: &[sys::SendMsg<'_>],
        syscalls: &mut usize,
    ) -> Result<(), (usize, io::Error)> {
        let mut sent = 0;
        while let Some(rest) = msgs.get(sent..).filter(|r| !r.is_empty()) {
            *syscalls += 1;
            match sys::retry_if_interrupted(|| sys::sendmmsg(self.sock.as_fd(), rest)) {
                Ok(n) => sent += n.max(1),
                Err(err) => return Err((sent, err)),
            }
        }
        Ok(())
    }

    /// Receives what is queued into `bufs` in one system call: waits for the first message (up
    /// to the read timeout: then `WouldBlock`), takes the rest that is already there. Returns
    /// how many buffers were filled; `metas[i]` describes `bufs[i]`, its source included. A
    /// single buffer uses one plain `recvfrom`. A message longer than its buffer is marked
    /// [`RecvMeta::truncated`].
    pub fn recv_batch(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        metas: &mut [RecvMeta],
    ) -> io::Result<usize> {
        if let ([buf], [meta, ..]) = (&mut *bufs, &mut *metas)
            && !self.gro
        {
            let (len, source) = sys::retry_if_interrupted(|| self.sock.recv_from(buf))?;
            *meta = RecvMeta {
                len: len.min(buf.len()),
                stride: len,
                source: Some(source),
                truncated: false,
            };
            return Ok(1);
        }
        let mut infos = [sys::RecvInfo::default(); sys::MAX_MMSG];
        let n = sys::retry_if_interrupted(|| sys::recvmmsg(self.sock.as_fd(), bufs, &mut infos))?;
        for (info, meta) in infos.iter().zip(metas.iter_mut()).take(n) {
            *meta = RecvMeta {
                len: info.len,
                stride: info.gro_size.unwrap_or(info.len),
                source: info.source,
                truncated: info.truncated,
            };
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (BatchSocket, BatchSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        b.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        (BatchSocket::new(a), BatchSocket::new(b))
    }

    /// 10 datagrams of 100 bytes and a last one of 37, received one per buffer or as GRO trains:
    /// either way, the same datagrams in order.
    fn round_trip(gso: bool, gro: bool) {
        let (tx, mut rx) = pair();
        tx.enable_gso(gso);
        rx.enable_gro(gro);
        let data: Vec<u8> = (0..1037u32).map(|i| (i % 251) as u8).collect();
        let report = tx.send_segments(&data, 100).unwrap();
        assert_eq!(report.datagrams, 11);
        let mut got = Vec::new();
        let mut calls = 0;
        let mut storage = vec![vec![0u8; 65536]; 8];
        let mut metas = [RecvMeta::default(); 8];
        while got.len() < 11 {
            let mut bufs: Vec<IoSliceMut<'_>> =
                storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            let n = rx.recv_batch(&mut bufs, &mut metas).unwrap();
            calls += 1;
            for (buf, meta) in storage.iter().zip(&metas).take(n) {
                got.extend(meta.datagrams(buf).map(<[u8]>::to_vec));
            }
        }
        let want: Vec<Vec<u8>> = data.chunks(100).map(<[u8]>::to_vec).collect();
        assert_eq!(got, want);
        if gso
            && gro
            && probe_caps()
                == (UdpCaps {
                    gso: true,
                    gro: true,
                })
        {
            // Loopback keeps a UDP_SEGMENT train whole up to a UDP_GRO socket.
            assert_eq!(calls, 1);
        }
    }

    #[test]
    fn send_segments_plain() {
        round_trip(false, false);
    }

    #[test]
    fn send_segments_gso_gro() {
        round_trip(true, true);
    }

    #[test]
    fn send_segments_gso_without_gro() {
        round_trip(true, false);
    }

    /// Three transmits (a train, a single datagram, another train) in one batch arrive as their
    /// datagrams, in order, with or without GSO.
    #[test]
    fn send_batch_mixed() {
        for gso in [false, true] {
            let (tx, mut rx) = pair();
            tx.enable_gso(gso);
            rx.enable_gro(true);
            let a: Vec<u8> = (0..250u8).collect();
            let b = [7u8; 40];
            let c: Vec<u8> = (0..90u8).rev().collect();
            let report = tx
                .send_batch(&[
                    Transmit {
                        data: &a,
                        segment_size: 100,
                    },
                    Transmit {
                        data: &b,
                        segment_size: 1500,
                    },
                    Transmit {
                        data: &c,
                        segment_size: 30,
                    },
                ])
                .unwrap();
            assert_eq!(report.datagrams, 3 + 1 + 3);
            let mut want: Vec<Vec<u8>> = a.chunks(100).map(<[u8]>::to_vec).collect();
            want.push(b.to_vec());
            want.extend(c.chunks(30).map(<[u8]>::to_vec));
            let mut got = Vec::new();
            let mut storage = vec![vec![0u8; 65536]; 8];
            let mut metas = [RecvMeta::default(); 8];
            while got.len() < want.len() {
                let mut bufs: Vec<IoSliceMut<'_>> =
                    storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
                let n = rx.recv_batch(&mut bufs, &mut metas).unwrap();
                for (buf, meta) in storage.iter().zip(&metas).take(n) {
                    got.extend(meta.datagrams(buf).map(<[u8]>::to_vec));
                }
            }
            assert_eq!(got, want, "gso {gso}");
        }
    }

    /// Receives until `want` datagrams arrived, one per buffer or as GRO trains.
    fn receive(rx: &BatchSocket, want: usize) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let mut storage = vec![vec![0u8; 65536]; 8];
        let mut metas = [RecvMeta::default(); 8];
        while got.len() < want {
            let mut bufs: Vec<IoSliceMut<'_>> =
                storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            let n = rx.recv_batch(&mut bufs, &mut metas).unwrap();
            for (buf, meta) in storage.iter().zip(&metas).take(n) {
                got.extend(meta.datagrams(buf).map(<[u8]>::to_vec));
            }
        }
        got
    }

    /// A train from an iovec list as the relay sends it (header, payload, header, payload, ...,
    /// the last payload shorter) arrives as its datagrams, byte for byte, whether sent as
    /// UDP_SEGMENT trains or single datagrams and received as GRO trains or one by one; 100
    /// datagrams make two trains (at most 64 per message).
    #[test]
    fn send_train_iov_header_payload_pairs() {
        let headers: Vec<[u8; 20]> = (0..100u8).map(|i| [i; 20]).collect();
        let payload: Vec<u8> = (0..100 * 1000 - 300).map(|i| (i % 253) as u8).collect();
        let mut pieces: Vec<&[u8]> = Vec::new();
        for (h, p) in headers.iter().zip(payload.chunks(1000)) {
            pieces.push(h);
            pieces.push(p);
        }
        let want: Vec<Vec<u8>> = headers
            .iter()
            .zip(payload.chunks(1000))
            .map(|(h, p)| [&h[..], p].concat())
            .collect();
        for (gso, gro) in [(true, true), (true, false), (false, true), (false, false)] {
            let (tx, mut rx) = pair();
            tx.enable_gso(gso);
            rx.enable_gro(gro);
            rx.set_buffer_sizes(4 << 20).unwrap();
            let report = tx.send_train_iov(&pieces, 1020).unwrap();
            assert_eq!(report.datagrams, 100, "gso {gso} gro {gro}");
            if tx.caps().gso {
                assert_eq!(report.syscalls, 1, "two trains in one sendmmsg");
            }
            assert_eq!(receive(&rx, 100), want, "gso {gso} gro {gro}");
        }
    }

    /// Pieces that do not line up with datagrams (cut anywhere, empty ones included) are cut at
    /// the datagram and message boundaries, nothing lost or reordered.
    #[test]
    fn send_batch_iov_pieces_cut_anywhere() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 241) as u8).collect();
        let (a, rest) = data.split_at(1);
        let (b, rest) = rest.split_at(2998);
        let (c, d) = rest.split_at(1000);
        let pieces = [a, &[][..], b, c, d];
        for gso in [false, true] {
            let (tx, mut rx) = pair();
            tx.enable_gso(gso);
            rx.enable_gro(true);
            let report = tx
                .send_batch_iov(&[
                    TransmitIov {
                        pieces: &pieces,
                        segment_size: 700,
                    },
                    TransmitIov {
                        pieces: &[b"one", b" datagram"],
                        segment_size: 1500,
                    },
                ])
                .unwrap();
            assert_eq!(report.datagrams, 8 + 1);
            let mut want: Vec<Vec<u8>> = data.chunks(700).map(<[u8]>::to_vec).collect();
            want.push(b"one datagram".to_vec());
            assert_eq!(receive(&rx, 9), want, "gso {gso}");
        }
    }

    /// The message plan: trains cut at `per_train * segment_size` bytes, a piece split where a
    /// message ends; without GSO one message per datagram; no bytes, one empty datagram.
    #[test]
    fn push_messages_cuts_at_boundaries() {
        let data = vec![1u8; 3000];
        let (a, b) = data.split_at(1500);
        let lens = |gso, size| {
            let (mut iov, mut msgs) = (Vec::new(), Vec::new());
            push_messages([a, b], 3000, size, gso, &mut iov, &mut msgs);
            let total: usize = iov.iter().map(|s: &IoSlice<'_>| s.len()).sum();
            assert_eq!(total, 3000);
            msgs.iter()
                .map(|m| (m.len, m.iov.len(), m.segment_size))
                .collect::<Vec<_>>()
        };
        assert_eq!(lens(true, 1000), [(3000, 2, Some(1000))]);
        assert_eq!(
            lens(false, 1000),
            [(1000, 1, None), (1000, 2, None), (1000, 1, None)]
        );
        assert_eq!(lens(true, 2000), [(3000, 2, Some(2000))]);
        // 30,000-byte segments: two per train (65,507 / 30,000), the last train shorter.
        let big = vec![0u8; 100_000];
        let (mut iov, mut msgs) = (Vec::new(), Vec::new());
        push_messages([&big[..]], big.len(), 30_000, true, &mut iov, &mut msgs);
        let got: Vec<_> = msgs.iter().map(|m| (m.len, m.segment_size)).collect();
        assert_eq!(got, [(60_000, Some(30_000)), (40_000, Some(30_000))]);
        let (mut iov, mut msgs) = (Vec::new(), Vec::new());
        push_messages([&[][..]], 0, 100, true, &mut iov, &mut msgs);
        assert_eq!(msgs.len(), 1);
        assert_eq!((msgs[0].len, msgs[0].segment_size), (0, None));
    }

    #[test]
    fn recv_meta_datagrams() {
        let meta = RecvMeta {
            len: 7,
            stride: 3,
            ..RecvMeta::default()
        };
        let buf = [1, 2, 3, 4, 5, 6, 7, 0, 0];
        let parts: Vec<&[u8]> = meta.datagrams(&buf).collect();
        assert_eq!(parts, [&[1, 2, 3][..], &[4, 5, 6], &[7]]);
        assert_eq!(meta.count(), 3);
    }

    #[test]
    fn segment_size_bounds() {
        let (tx, _rx) = pair();
        assert!(tx.send_segments(b"x", 0).is_err());
        assert!(tx.send_segments(b"x", 70000).is_err());
    }
}
