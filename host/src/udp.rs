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
use std::io::{self, IoSliceMut};
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

/// The messages for one transmit: GSO trains, or one per datagram.
fn push_messages<'a>(
    data: &'a [u8],
    segment_size: usize,
    gso: bool,
    msgs: &mut Vec<sys::SendMsg<'a>>,
) {
    let size = u16::try_from(segment_size).ok();
    if gso && data.len() > segment_size && size.is_some() {
        let per_train = (MAX_UDP_PAYLOAD_V4 / segment_size).clamp(1, MAX_GSO_SEGMENTS);
        msgs.extend(
            data.chunks(per_train * segment_size)
                .map(|train| sys::SendMsg {
                    data: train,
                    segment_size: (train.len() > segment_size).then_some(size).flatten(),
                }),
        );
    } else {
        msgs.extend(
            data.chunks(segment_size.max(1))
                .map(|datagram| sys::SendMsg {
                    data: datagram,
                    segment_size: None,
                }),
        );
    }
}

/// The datagrams one message stands for.
fn message_datagrams(msg: &sys::SendMsg<'_>) -> usize {
    msg.segment_size
        .map_or(1, |size| msg.data.len().div_ceil(usize::from(size).max(1)))
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
        let mut datagrams = 0;
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
            datagrams += t.data.len().div_ceil(t.segment_size).max(1);
        }
        let fail = |sent, error| SendError {
            error,
            sent,
            total: datagrams,
        };
        if let [t] = transmits
            && t.data.len() <= t.segment_size
        {
            self.send(t.data).map_err(|err| fail(0, err))?;
            return Ok(SendReport {
                datagrams,
                syscalls: 1,
            });
        }
        let gso = self.gso_now();
        let mut msgs = Vec::with_capacity(datagrams);
        for t in transmits {
            push_messages(t.data, t.segment_size, gso, &mut msgs);
        }
        let mut syscalls = 0;
        match self.send_all(&msgs, &mut syscalls) {
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
                let done: usize = done.iter().map(message_datagrams).sum();
                let mut rest = Vec::new();
                for msg in msgs.get(sent..).unwrap_or_default() {
                    let size = msg.segment_size.map_or(msg.data.len(), usize::from);
                    push_messages(msg.data, size, false, &mut rest);
                }
                self.send_all(&rest, &mut syscalls)
                    .map_err(|(more, err)| fail(done + more, err))?;
            }
            Err((sent, err)) => {
                let done = msgs.get(..sent).unwrap_or_default();
                return Err(fail(done.iter().map(message_datagrams).sum(), err));
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
