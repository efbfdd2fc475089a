//! Batched UDP socket I/O: many datagrams per system call.
//!
//! The shape follows quinn-udp: segmentation is *data* ([`RecvMeta::stride`], the `segment_size`
//! of [`BatchSocket::send_segments`]), system calls stay in the shell, and every capability is
//! probed and degrades gracefully:
//!
//! - send: one `sendmmsg` whose messages carry a UDP_SEGMENT control message (the kernel cuts
//!   each message into datagrams, "UDP GSO"); without UDP_SEGMENT, or after the kernel refused it
//!   once (EIO: no checksum offload on the route's device; EINVAL), one `sendmmsg` message per
//!   datagram.
//! - receive: one `recvmmsg` (MSG_WAITFORONE) whose buffers may each hold a train of datagrams
//!   coalesced by the kernel (UDP_GRO, reported with the segment size in a control message);
//!   without UDP_GRO, one datagram per buffer.
//!
//! The socket must be connected: datagrams go to, and come from, one peer (a tunnel's wire).

use std::io::{self, IoSliceMut};
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::sys;

/// Largest UDP payload of one IPv4 message (65535 - 20 - 8): the bound of a GSO train too.
pub const MAX_UDP_PAYLOAD_V4: usize = 65507;

/// Segments per UDP_SEGMENT message: 64 is accepted by every kernel with UDP GSO (newer ones
/// take 128).
pub const MAX_GSO_SEGMENTS: usize = 64;

/// What one received message holds: `len` bytes, cut into datagrams of `stride` bytes (the last
/// one may be shorter). Without UDP_GRO `stride == len`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecvMeta {
    /// Bytes received into the buffer.
    pub len: usize,
    /// Size of each datagram in the buffer (all but the last).
    pub stride: usize,
}

impl RecvMeta {
    /// The datagrams of a buffer filled by [`BatchSocket::recv_batch`].
    pub fn datagrams<'a>(&self, buf: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let data = buf.get(..self.len).unwrap_or(buf);
        data.chunks(self.stride.max(1))
    }

    /// How many datagrams the buffer holds.
    pub fn count(&self) -> usize {
        self.len.div_ceil(self.stride.max(1))
    }
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

/// A connected UDP socket with batched send and receive.
#[derive(Debug)]
pub struct BatchSocket {
    sock: UdpSocket,
    /// UDP_SEGMENT may be used; cleared for good after the kernel refuses it once.
    gso: AtomicBool,
    /// UDP_GRO is on.
    gro: bool,
}

impl BatchSocket {
    /// Wraps a connected socket. Batching starts off: turn it on with
    /// [`BatchSocket::enable_gso`] and [`BatchSocket::enable_gro`].
    pub fn new(sock: UdpSocket) -> Self {
        Self {
            sock,
            gso: AtomicBool::new(false),
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
        self.gso.store(on, Ordering::Relaxed);
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

    /// Sends `data` as datagrams of `segment_size` bytes (the last may be shorter), in as few
    /// system calls as the kernel allows: with UDP_SEGMENT, trains of at most
    /// [`MAX_GSO_SEGMENTS`] datagrams and [`MAX_UDP_PAYLOAD_V4`] bytes, all in one `sendmmsg`;
    /// otherwise one `sendmmsg` message per datagram.
    pub fn send_segments(&self, data: &[u8], segment_size: usize) -> io::Result<SendReport> {
        if segment_size == 0 || segment_size > MAX_UDP_PAYLOAD_V4 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("segment size {segment_size} not in 1..={MAX_UDP_PAYLOAD_V4}"),
            ));
        }
        let datagrams = data.len().div_ceil(segment_size);
        if datagrams <= 1 {
            self.send(data)?;
            return Ok(SendReport {
                datagrams,
                syscalls: 1,
            });
        }
        if self.gso.load(Ordering::Relaxed) {
            let per_train = (MAX_UDP_PAYLOAD_V4 / segment_size).min(MAX_GSO_SEGMENTS);
            let size = u16::try_from(segment_size).ok();
            let mut msgs = [sys::SendMsg {
                data: &[],
                segment_size: size,
            }; sys::MAX_MMSG];
            let mut count = 0;
            for (slot, train) in msgs.iter_mut().zip(data.chunks(per_train * segment_size)) {
                slot.data = train;
                count += 1;
            }
            if count <= sys::MAX_MMSG {
                match self.send_all(&msgs[..count]) {
                    Ok(syscalls) => {
                        return Ok(SendReport {
                            datagrams,
                            syscalls,
                        });
                    }
                    // The kernel cannot do GSO on this route (EIO) or refused the size
                    // (EINVAL) before sending anything: degrade for good, as quinn-udp does.
                    Err(err) if matches!(err.raw_os_error(), Some(libc::EIO | libc::EINVAL)) => {
                        self.gso.store(false, Ordering::Relaxed);
                    }
                    Err(err) => return Err(err),
                }
            }
        }
        let mut msgs = [sys::SendMsg {
            data: &[],
            segment_size: None,
        }; sys::MAX_MMSG];
        let mut syscalls = 0;
        for batch in data.chunks(segment_size * sys::MAX_MMSG) {
            let mut count = 0;
            for (slot, datagram) in msgs.iter_mut().zip(batch.chunks(segment_size)) {
                slot.data = datagram;
                count += 1;
            }
            syscalls += self.send_all(&msgs[..count])?;
        }
        Ok(SendReport {
            datagrams,
            syscalls,
        })
    }

    /// `sendmmsg` until every message is sent; returns the number of calls.
    fn send_all(&self, mut msgs: &[sys::SendMsg<'_>]) -> io::Result<usize> {
        let mut syscalls = 0;
        while !msgs.is_empty() {
            let sent = sys::retry_if_interrupted(|| sys::sendmmsg(self.sock.as_fd(), msgs))?;
            syscalls += 1;
            msgs = msgs.get(sent.max(1)..).unwrap_or_default();
        }
        Ok(syscalls)
    }

    /// Receives what is queued into `bufs` in one system call: waits for the first message (up
    /// to the read timeout: then `WouldBlock`), takes the rest that is already there. Returns
    /// how many buffers were filled; `metas[i]` describes `bufs[i]`. A single buffer uses one
    /// plain `recv`. A message longer than its buffer is an `InvalidData` error.
    pub fn recv_batch(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        metas: &mut [RecvMeta],
    ) -> io::Result<usize> {
        if let ([buf], [meta, ..]) = (&mut *bufs, &mut *metas)
            && !self.gro
        {
            let len = sys::retry_if_interrupted(|| self.sock.recv(buf))?;
            *meta = RecvMeta { len, stride: len };
            return Ok(1);
        }
        let mut infos = [sys::RecvInfo::default(); sys::MAX_MMSG];
        let n = sys::retry_if_interrupted(|| sys::recvmmsg(self.sock.as_fd(), bufs, &mut infos))?;
        for (info, meta) in infos.iter().zip(metas.iter_mut()).take(n) {
            if info.truncated {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a received message was longer than its buffer (MSG_TRUNC)",
                ));
            }
            *meta = RecvMeta {
                len: info.len,
                stride: info.gro_size.unwrap_or(info.len),
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
    fn test_send_segments_plain() {
        round_trip(false, false);
    }

    #[test]
    fn test_send_segments_gso_gro() {
        round_trip(true, true);
    }

    #[test]
    fn test_send_segments_gso_without_gro() {
        round_trip(true, false);
    }

    #[test]
    fn test_recv_meta_datagrams() {
        let meta = RecvMeta { len: 7, stride: 3 };
        let buf = [1, 2, 3, 4, 5, 6, 7, 0, 0];
        let parts: Vec<&[u8]> = meta.datagrams(&buf).collect();
        assert_eq!(parts, [&[1, 2, 3][..], &[4, 5, 6], &[7]]);
        assert_eq!(meta.count(), 3);
    }

    #[test]
    fn test_segment_size_bounds() {
        let (tx, _rx) = pair();
        assert!(tx.send_segments(b"x", 0).is_err());
        assert!(tx.send_segments(b"x", 70000).is_err());
    }
}
