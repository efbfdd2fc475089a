//! The relay: what a user-space VPN does between a TUN device and its wire, minus the crypto.
//!
//! Two [`Half`]s, each a TUN device and a UDP socket connected to the other half's. Each half
//! has two pipelines ([`Pipeline`]):
//!
//! - out: TUN read -> (offloads on: [`batch::split_iov`](crate::batch::split_iov), core's gso
//!   without copying payload) -> UDP send. With offloads on, one read returns a super-packet,
//!   gso writes only each segment's headers, and one `sendmmsg` with UDP_SEGMENT gathers header,
//!   payload, header, payload, ... from where they lie; off, one packet per read and one `send`
//!   per datagram.
//! - in: UDP receive -> (offloads on: [`GroIov`](crate::gro_iov::GroIov), core's gro without
//!   copying payload, G9) -> TUN write. With offloads on, one `recvmmsg` returns a batch (UDP_GRO
//!   trains), gro coalesces it where it lies and one `writev` per merged super-packet hands the
//!   kernel its vnet header, its rewritten headers and slices of the receive buffers; off, one
//!   `recv` and one write per packet.
//!
//! The wire carries plain IP packets, one per UDP datagram, with complete checksums: exactly
//! what a tunnel would encrypt. It is neither encrypted nor authenticated: what protects the
//! TUNs is that each wire socket is connected (the kernel delivers only the peer's datagrams),
//! that each datagram's source is checked again (H6), and that each inner packet's source must
//! be in the sending side's allowed prefixes ([`Allowed`], H7). Every system call is counted,
//! failed ones included ([`Snapshot`]); what a failure does is [`policy`]'s decision (rules
//! H1-H5 in `spec/RULES.md`): a failure costs the packets involved, counted by [`Cause`], and
//! only a descriptor that is gone ends the relay.
//!
//! ```no_run
//! use std::net::UdpSocket;
//! use vnet_host::relay::{Allowed, Config, Half, Relay};
//! use vnet_host::udp::BatchSocket;
//! use vnet_host::{DeviceKind, Options};
//!
//! // Two TUN devices (configured and up) and a wire: two connected UDP sockets.
//! let tun = |name| Options::new(DeviceKind::Tun).name(name).nonblocking(true).open();
//! let (sock_a, sock_b) = (UdpSocket::bind("127.0.0.1:0")?, UdpSocket::bind("127.0.0.1:0")?);
//! sock_a.connect(sock_b.local_addr()?)?;
//! sock_b.connect(sock_a.local_addr()?)?;
//! let a = Half::new(tun("vnet-a")?, BatchSocket::new(sock_a), Allowed::any());
//! let b = Half::new(tun("vnet-b")?, BatchSocket::new(sock_b), Allowed::any());
//! let relay = Relay::new(a, b, Config::default())?;
//! std::thread::scope(|scope| {
//!     let job = scope.spawn(|| relay.run());
//!     std::thread::sleep(std::time::Duration::from_secs(10));
//!     relay.stop();
//!     job.join().expect("relay thread")
//! })?;
//! let counted = relay.snapshot();
//! println!("{} packets, dropped: {}", counted.packets, counted.causes_line());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod counters;
mod pipeline;
pub mod policy;

pub use counters::Snapshot;
pub use pipeline::{Direction, Pipeline};
pub use policy::{Action, Allowed, Cause, Prefix, PrefixList, Step};

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use counters::Counters;

use crate::udp::{BatchSocket, UdpCaps};
use crate::{Device, Offloads};

/// How long a blocked pipeline waits before it looks at the stop condition again.
const TICK: Duration = Duration::from_millis(100);

/// How a [`Relay`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Offloads on: TUNSETOFFLOAD CSUM|TSO4|TSO6 (as much as the kernel takes), UDP_SEGMENT and
    /// UDP_GRO on the wire, core's gso and gro in between. Off: none of them, one packet per
    /// system call.
    pub offload: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config { offload: true }
    }
}

/// One side of the relay: a TUN device and the socket of the wire, connected to the other side.
#[derive(Debug)]
pub struct Half {
    tun: Device,
    wire: BatchSocket,
    /// The wire socket's peer: every datagram must come from it.
    peer: Option<SocketAddr>,
    /// The inner source addresses this half writes into its TUN: the other side's allowed
    /// prefixes.
    accept: Allowed,
    offloads: Offloads,
}

impl Half {
    /// A half whose wire socket is connected (its peer is read now) and which writes into its
    /// TUN only inner packets whose source is in `accept` (the other side's allowed prefixes).
    pub fn new(tun: Device, wire: BatchSocket, accept: Allowed) -> Half {
        let peer = wire.socket().peer_addr().ok();
        Half {
            tun,
            wire,
            peer,
            accept,
            offloads: Offloads::NONE,
        }
    }

    /// The TUN device.
    pub fn tun(&self) -> &Device {
        &self.tun
    }

    /// The wire socket.
    pub fn wire(&self) -> &BatchSocket {
        &self.wire
    }

    /// The TUN offloads set when the relay was made.
    pub fn offloads(&self) -> Offloads {
        self.offloads
    }

    /// UDP_SEGMENT and UDP_GRO as the wire socket uses them.
    pub fn wire_caps(&self) -> UdpCaps {
        self.wire.caps()
    }

    /// The device and the socket back.
    pub fn into_parts(self) -> (Device, BatchSocket) {
        (self.tun, self.wire)
    }

    /// Sets the TUN's offloads and the socket's batching for `offload`, and the read timeout the
    /// pipelines need to see a stop.
    fn configure(&mut self, offload: bool) -> io::Result<()> {
        self.offloads = if offload {
            self.tun
                .negotiate_offloads(Offloads::CSUM | Offloads::TSO4 | Offloads::TSO6)?
        } else {
            self.tun.set_offloads(Offloads::NONE)?;
            Offloads::NONE
        };
        self.wire.enable_gso(offload);
        self.wire.enable_gro(offload);
        self.wire.set_read_timeout(Some(TICK))
    }
}

/// The shared state of a running relay: counters per pipeline, a stop flag and the first error.
#[derive(Debug, Default)]
struct State {
    counters: [Counters; 4],
    stop: AtomicBool,
    error: Mutex<Option<String>>,
}

/// A relay between two [`Half`]s: four pipelines (out and in for each side), their counters, a
/// stop flag and the first problem met. Shared by reference between the pipelines' threads.
#[derive(Debug)]
pub struct Relay {
    halves: [Half; 2],
    config: Config,
    state: State,
}

impl Relay {
    /// A relay between `a` and `b`: sets each TUN's offloads and each socket's batching as
    /// `config` says.
    pub fn new(mut a: Half, mut b: Half, config: Config) -> io::Result<Relay> {
        a.configure(config.offload)?;
        b.configure(config.offload)?;
        Ok(Relay {
            halves: [a, b],
            config,
            state: State::default(),
        })
    }

    /// The two halves, A and B.
    pub fn halves(&self) -> [&Half; 2] {
        let [a, b] = &self.halves;
        [a, b]
    }

    /// The halves back (to run them again, e.g. with other offloads).
    pub fn into_halves(self) -> [Half; 2] {
        self.halves
    }

    /// How the relay runs.
    pub fn config(&self) -> Config {
        self.config
    }

    /// One pipeline with its buffers, to [`Pipeline::step`] from a thread of the caller's.
    pub fn pipeline(&self, which: Direction) -> Pipeline<'_> {
        Pipeline::new(self, which)
    }

    /// Runs the four pipelines, each on its own thread, until [`Relay::stop`] or an error that
    /// ends the relay (H5; it stops all of them and is returned). A thread that cannot start
    /// stops the ones that did and is the error (O8).
    pub fn run(&self) -> io::Result<()> {
        thread::scope(|scope| {
            let mut jobs = Vec::with_capacity(Direction::ALL.len());
            let mut result = Ok(());
            for which in Direction::ALL {
                let job = thread::Builder::new()
                    .name(which.name().into())
                    .spawn_scoped(scope, move || self.pipeline(which).run());
                match job {
                    Ok(job) => jobs.push(job),
                    Err(err) => {
                        self.note(format!("starting thread {}: {err}", which.name()));
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

    /// The counters of all pipelines, summed.
    pub fn snapshot(&self) -> Snapshot {
        self.state
            .counters
            .iter()
            .map(Counters::snapshot)
            .fold(Snapshot::default(), |a, b| a.combine(b, u64::wrapping_add))
    }

    /// Counts `n` losses to `cause` outside the pipelines (e.g. datagrams discarded before the
    /// wire sockets were connected, [`Cause::Stale`]).
    pub fn count(&self, cause: Cause, n: usize) {
        Counters::add(&self.state.counters[0].causes[cause as usize], n);
    }

    /// Asks every pipeline to return (within about 100 ms).
    pub fn stop(&self) {
        self.state.stop.store(true, Ordering::Relaxed);
    }

    /// Whether the relay is stopping (asked to, or a pipeline failed).
    pub fn stopping(&self) -> bool {
        self.state.stop.load(Ordering::Relaxed)
    }

    /// The first problem a pipeline met (a failed system call, or the first dropped packet's
    /// reason).
    pub fn error(&self) -> Option<String> {
        self.state.error.lock().ok().and_then(|e| e.clone())
    }

    fn note(&self, what: String) {
        if let Ok(mut slot) = self.state.error.lock() {
            slot.get_or_insert(what);
        }
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
