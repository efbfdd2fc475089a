//! The Linux kernel as a reference: its segmentation and its GRO, driven deterministically inside a
//! throw-away network namespace (law L8).
//!
//! Behind the feature `testkit`: test machinery for this crate's tests, the `vnet` program and
//! `.ci/kernel-suite`, not part of the library's API or its semver promise.
//!
//! [`KernelSegmenter`] and [`KernelCoalescer`] build the same small world in a fresh [`NetNs`]:
//! two TUN devices, A (`vka`) and B (`vkb`), IPv4 and IPv6 forwarding on, and routes so that what
//! is written into A towards a destination behind B is forwarded by the kernel out of B, where it
//! is read back:
//!
//! ```text
//!   write(hdr, pkt) ──▶ TUN A ──▶ ip_forward / ip6_forward ──▶ TUN B ──▶ read() segments / merges
//!   (vnet header, 12 B LE;                                      (12 B LE)
//!    24 B for UDP tunnels)
//! ```
//!
//! Addresses (documentation ranges only): sources behind A are 192.0.2.0/24, 203.0.113.0/24 and
//! 2001:db8::/64 (except `2001:db8::2`); destinations behind B are 198.51.100.0/24 and
//! `2001:db8::2` and 2001:db8:b::/48. These are the defaults of `vnet_spec::packet::PacketSpec`.
//! Nothing leaves the namespace, and the namespace with both devices is deleted when the segmenter
//! or coalescer drops, even during a panic.
//!
//! - [`KernelSegmenter`]: A has no NAPI, so a written GSO packet is forwarded as one skb, and B has
//!   no offloads, so the kernel segments it (and completes every checksum) in software on B's
//!   transmit path: the segments read from B are what Linux's GSO makes of the super-packet.
//!   [`KernelSegmenter::with_layout`] gives A the 24-byte tunnel header, for UDP-tunnel GSO (K20):
//!   the outer destination routes to B like any other, and B segments the tunnel super-packet.
//! - [`KernelCoalescer`]: A is opened with IFF_NAPI and a long `gro_flush_timeout`, so a train
//!   written within the timeout goes through the kernel's GRO as one batch; B has TSO (and USO
//!   where the kernel accepts it), so the merged packets come out of B whole, with their headers.
//!
//! Forwarding decrements the TTL / hop limit and patches the IPv4 header checksum;
//! [`undo_forwarding`] reverts exactly that on a copy, so that comparisons are byte for byte.
//! IPv6 autoconfiguration, DAD and router solicitations are switched off before the devices exist,
//! and what is read from B is filtered by flow (destination address), so MLD reports or other
//! kernel chatter never reach an answer.

mod probe;

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use vnet_core::hdr::{Flags, GsoType, Layout, VnetHdr};

use crate::netns::NetNs;
use crate::{Device, DeviceKind, Error, Offloads, Options, sys};

pub use probe::{Probed, probe, profile_table, release};

/// The device written into.
pub const DEV_A: &str = "vka";
/// The device read from.
pub const DEV_B: &str = "vkb";

/// Largest packet either device carries (the IP datagram limit).
const MAX_PACKET: usize = 65535;

/// The vnet header B always uses, and A unless told otherwise: virtio 1.0, 12 bytes,
/// little-endian (T18).
const LAYOUT: Layout = Layout::V1;

/// IPv4 routes (prefix, device) of the namespace.
const ROUTES_V4: [(&str, &str); 3] = [
    ("192.0.2.0/24", DEV_A),
    ("203.0.113.0/24", DEV_A),
    ("198.51.100.0/24", DEV_B),
];

/// IPv6 routes (prefix, device): the more specific `2001:db8::2` wins over A's /64.
const ROUTES_V6: [(&str, &str); 3] = [
    ("2001:db8::/64", DEV_A),
    ("2001:db8::2/128", DEV_B),
    ("2001:db8:b::/48", DEV_B),
];

/// Wraps a device error as an `io::Error` that keeps the errno (so that EINVAL from a write is
/// `raw_os_error() == Some(EINVAL)`), with the operation named otherwise.
fn to_io(err: Error) -> io::Error {
    match err.raw_os_error() {
        Some(errno) => io::Error::from_raw_os_error(errno),
        None => err.into(),
    }
}

/// The namespace and the two devices that [`KernelSegmenter`] and [`KernelCoalescer`] share.
#[derive(Debug)]
struct World {
    // Field order is drop order: the devices close before the namespace is deleted.
    a: Device,
    b: Device,
    ns: NetNs,
}

impl World {
    /// Builds the namespace: sysctls first (so that the devices inherit them from `default`),
    /// then the devices (A with `layout_a`, B with the 12-byte [`LAYOUT`]), then links, MTUs,
    /// queue lengths and routes.
    fn new(napi_a: bool, layout_a: Layout, offloads_b: Offloads) -> io::Result<Self> {
        let ns = NetNs::new()?;
        ns.forward_ipv4()?;
        for (key, value) in [
            ("net/ipv6/conf/all/forwarding", "1"),
            // No link-local address, no DAD, no router solicitation, no autoconf: B stays quiet.
            ("net/ipv6/conf/default/addr_gen_mode", "1"),
            ("net/ipv6/conf/default/accept_dad", "0"),
            ("net/ipv6/conf/default/dad_transmits", "0"),
            ("net/ipv6/conf/default/accept_ra", "0"),
            ("net/ipv6/conf/default/autoconf", "0"),
            ("net/ipv6/conf/default/router_solicitations", "0"),
        ] {
            ns.sysctl(key, value)?;
        }
        let (a, b) = ns.run(|| -> io::Result<(Device, Device)> {
            let open = |name: &str, napi: bool, layout: Layout| {
                Options::new(DeviceKind::Tun)
                    .name(name)
                    .layout(layout)
                    .little_endian(true)
                    .napi(napi)
                    .nonblocking(true)
                    .open()
                    .map_err(to_io)
            };
            let a = open(DEV_A, napi_a, layout_a)?;
            let b = open(DEV_B, false, LAYOUT)?;
            // A's offloads only concern what A's reader gets (T11), which nobody reads; B's decide
            // whether the kernel segments or coalesces.
            a.set_offloads(Offloads::NONE).map_err(to_io)?;
            b.set_offloads_unchecked(offloads_b).map_err(to_io)?;
            Ok((a, b))
        })??;
        for dev in [DEV_A, DEV_B] {
            ns.link_up_for_gso(dev)?;
        }
        ns.addr_add(DEV_A, "203.0.113.254/32")?;
        ns.addr_add(DEV_B, "198.51.100.254/32")?;
        for (prefix, dev) in ROUTES_V4 {
            ns.ip(&["route", "add", prefix, "dev", dev])?;
        }
        for (prefix, dev) in ROUTES_V6 {
            ns.ip(&["-6", "route", "add", prefix, "dev", dev])?;
        }
        Ok(Self { a, b, ns })
    }

    /// Writes one packet into A with `hdr`. The kernel's verdict on the header is the result:
    /// `EINVAL` for a header `virtio_net_hdr_to_skb` or TUN's write path refuses (T14).
    fn write(&self, hdr: &VnetHdr, pkt: &[u8]) -> io::Result<()> {
        self.a.send(hdr, pkt).map(drop).map_err(to_io)
    }

    /// Reads and discards everything queued on B (and A).
    fn drain(&self) -> io::Result<()> {
        let mut buf = vec![0u8; MAX_PACKET];
        for dev in [&self.b, &self.a] {
            loop {
                match dev.recv(&mut buf) {
                    Ok(_) => {}
                    Err(Error::WouldBlock) => break,
                    // A packet the reader cannot take (K24) is discarded by the failed read.
                    Err(err) if err.raw_os_error() == Some(libc::EINVAL) => {}
                    Err(err) => return Err(to_io(err)),
                }
            }
        }
        Ok(())
    }
}

/// The destination address of an IP packet (4 or 16 bytes), if it has one.
fn destination(pkt: &[u8]) -> Option<&[u8]> {
    match pkt.first()? >> 4 {
        4 => pkt.get(16..20),
        6 => pkt.get(24..40),
        _ => None,
    }
}

/// The kernel's segmentation: a GSO super-packet written into TUN A is forwarded and segmented in
/// software on its way out of TUN B (which has no offloads); the segments are read back from B.
///
/// How the answer is known to be whole, at any speed (QEMU's emulation included): A has no
/// NAPI, so `write` forwards the packet synchronously; B's qdisc is `noqueue`, so its segments
/// are on B's ring, in order, when `write` returns. Each answer is then closed by a marker, a
/// small datagram written after the packet: B delivers it after everything the packet became,
/// so reading up to the marker reads all of it (and a packet the kernel dropped reads as
/// nothing). No timeout decides an answer; [`MARKER_DEADLINE`] only bounds a broken world.
///
/// B also has a packet tap (an `AF_PACKET` socket bound to it), which sees every packet B
/// transmits, in order, before B's reader does. Through it [`KernelSegmenter::transmit`] also
/// answers with the packets B's reader cannot take: a UDP-tunnel packet the kernel forwards
/// whole keeps its tunnel GSO bits, and a reader without tunnel offload gets EINVAL for it
/// (K24).
#[derive(Debug)]
pub struct KernelSegmenter {
    world: World,
    markers: std::cell::Cell<u32>,
    tap: OwnedFd,
}

/// What B sent for one written packet (see [`KernelSegmenter::transmit`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transmitted {
    /// Every packet B transmitted to the written packet's destination, in order, as B's packet
    /// tap saw it (forwarded: see [`undo_forwarding`]).
    pub sent: Vec<Vec<u8>>,
    /// How many of them B's reader could not take (its read failed with EINVAL, and the kernel
    /// logged "unexpected GSO type"); the others it read byte for byte as the tap saw them.
    pub unreadable: usize,
}

/// What B delivered for one written packet, through its reader and through its tap.
struct Exchange {
    /// What B's reader got, with the vnet headers, in order.
    read: Vec<(VnetHdr, Vec<u8>)>,
    /// Reads of B that failed with EINVAL before the marker.
    unreadable: usize,
    /// What the tap saw B send to the destination, in order.
    sent: Vec<Vec<u8>>,
}

/// How long a segmenter waits for its marker before it reports the world broken.
pub const MARKER_DEADLINE: Duration = Duration::from_secs(30);

/// The marker's destination (behind B) and ports: no test packet is sent there.
const MARKER_DST: [u8; 4] = [198, 51, 100, 250];
const MARKER_PORT: u16 = 9;

/// The tap's receive buffer: the copies of one super-packet's segments (up to 64 KiB of payload,
/// cut as small as one byte, each copy with its skb overhead) must all fit before they are read.
const TAP_RCVBUF: i32 = 64 << 20;

/// PACKET_OUTGOING: a packet the tapped interface sent.
const PACKET_OUTGOING: u8 = 4;

impl KernelSegmenter {
    /// Builds the namespace and devices (needs root and `/dev/net/tun`; see
    /// [`crate::netns::require_root`]); A reads the 12-byte virtio 1.0 header.
    pub fn new() -> io::Result<Self> {
        Self::with_layout(LAYOUT)
    }

    /// [`KernelSegmenter::new`] with A reading `layout` (little-endian). With
    /// [`Layout::V1HashTunnel`] (24 bytes) A parses the tunnel offsets, so UDP-tunnel GSO
    /// super-packets can be written (kernels since 6.17 take the header size as the negotiation:
    /// `tun_vnet_hdr_guest_features`, K20); B still reads 12 bytes and has no offloads, so the
    /// kernel segments them in software.
    pub fn with_layout(layout: Layout) -> io::Result<Self> {
        let world = World::new(false, layout, Offloads::NONE)?;
        world
            .ns
            .tc(&["qdisc", "replace", "dev", DEV_B, "root", "noqueue"])?;
        let tap = world.ns.run(|| -> io::Result<OwnedFd> {
            let tap = sys::packet_tap(sys::if_nametoindex(DEV_B)?)?;
            sys::setsockopt_int(
                tap.as_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                TAP_RCVBUF,
            )?;
            Ok(tap)
        })??;
        Ok(Self {
            world,
            markers: std::cell::Cell::new(0),
            tap,
        })
    }

    /// The namespace the devices live in.
    pub fn netns(&self) -> &NetNs {
        &self.world.ns
    }

    /// Writes one packet into A and returns the kernel's verdict on the header, without reading
    /// anything back: `Err` with `raw_os_error() == Some(EINVAL)` when the kernel refuses it
    /// (V1-V7, T14). A header accepted here may still describe a packet the kernel drops later
    /// (K2, S1 (check)).
    pub fn write(&self, hdr: &VnetHdr, pkt: &[u8]) -> io::Result<()> {
        self.world.write(hdr, pkt)
    }

    /// Writes one (GSO) packet into A and returns the packets the kernel forwarded out of B to
    /// the same destination, in order, as B delivered them (after [`undo_forwarding`] they can be
    /// compared byte for byte). The write's error (e.g. EINVAL) is returned as is; an empty
    /// result means the kernel accepted the write and then dropped the packet (K2). A packet B
    /// sent but its reader could not take is an error without an errno (see
    /// [`KernelSegmenter::transmit`]).
    pub fn segment(&self, hdr: &VnetHdr, pkt: &[u8]) -> io::Result<Vec<Vec<u8>>> {
        Ok(self
            .segment_with_headers(hdr, pkt)?
            .into_iter()
            .map(|(_, seg)| seg)
            .collect())
    }

    /// [`KernelSegmenter::segment`] with the vnet header B delivered with each segment (all-zero,
    /// or DATA_VALID where the kernel knows the checksum to be right: B has no offloads).
    pub fn segment_with_headers(
        &self,
        hdr: &VnetHdr,
        pkt: &[u8],
    ) -> io::Result<Vec<(VnetHdr, Vec<u8>)>> {
        let answer = self.exchange(hdr, pkt)?;
        if answer.unreadable > 0 {
            return Err(io::Error::other(format!(
                "kernel segmenter: B sent {} packets its reader could not take (EINVAL on read)",
                answer.unreadable
            )));
        }
        Ok(answer.read)
    }

    /// Writes one packet into A and returns what B transmitted to the same destination, as B's
    /// packet tap saw it, and how much of it B's reader could not take. The write's error (e.g.
    /// EINVAL: refused on write) is returned as is. Unlike [`KernelSegmenter::segment`], this sees
    /// what the kernel sends even where a TUN reader without tunnel offload cannot read it (a
    /// UDP-tunnel request that fits in one segment, K24).
    pub fn transmit(&self, hdr: &VnetHdr, pkt: &[u8]) -> io::Result<Transmitted> {
        let answer = self.exchange(hdr, pkt)?;
        Ok(Transmitted {
            sent: answer.sent,
            unreadable: answer.unreadable,
        })
    }

    /// Drains B, A and the tap, writes `pkt` and a marker, then reads B and the tap up to the
    /// marker. B's readable packets must be the tap's, in order, with the unreadable ones left
    /// out; anything else means the world is broken.
    fn exchange(&self, hdr: &VnetHdr, pkt: &[u8]) -> io::Result<Exchange> {
        self.world.drain()?;
        let mut buf = vec![0u8; MAX_PACKET];
        while self.recv_tapped(&mut buf)?.is_some() {}
        let dst = destination(pkt).map(<[u8]>::to_vec);
        let wanted = |got: &[u8]| dst.is_some() && destination(got) == dst.as_deref();
        self.world.write(hdr, pkt)?;
        let id = self.markers.get().wrapping_add(1);
        self.markers.set(id);
        self.world.write(&VnetHdr::default(), &marker(id))?;
        let deadline = Instant::now() + MARKER_DEADLINE;
        let timed_out = || {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("kernel segmenter: marker {id} not seen in {MARKER_DEADLINE:?}"),
            )
        };
        let (mut read, mut unreadable) = (Vec::new(), 0);
        loop {
            match self.world.b.recv(&mut buf) {
                Ok((seg_hdr, len)) => {
                    let Some(got) = buf.get(..len) else { continue };
                    if is_marker(got, id) {
                        break;
                    }
                    if wanted(got) {
                        read.push((seg_hdr, got.to_vec()));
                    }
                }
                Err(Error::WouldBlock) => {
                    if Instant::now() >= deadline {
                        return Err(timed_out());
                    }
                    sys::poll_readable(self.world.b.as_fd(), 100)?;
                }
                // tun_put_user could not express the packet in B's header (K24): it is gone.
                Err(err) if err.raw_os_error() == Some(libc::EINVAL) => unreadable += 1,
                Err(err) => return Err(to_io(err)),
            }
        }
        // The tap saw every packet before B's reader did, the marker included.
        let mut sent = Vec::new();
        loop {
            match self.recv_tapped(&mut buf)? {
                Some(got) if is_marker(got, id) => break,
                Some(got) if wanted(got) => sent.push(got.to_vec()),
                Some(_) => {}
                None if Instant::now() >= deadline => return Err(timed_out()),
                None => {
                    sys::poll_readable(self.tap.as_fd(), 100)?;
                }
            }
        }
        let mut tapped = sent.iter();
        let consistent = sent.len() == read.len() + unreadable
            && read.iter().all(|(_, r)| tapped.any(|t| t == r));
        if !consistent {
            return Err(io::Error::other(format!(
                "kernel segmenter: B's reader got {} packets and failed {} reads, its tap saw {} \
                 that do not match",
                read.len(),
                unreadable,
                sent.len()
            )));
        }
        Ok(Exchange {
            read,
            unreadable,
            sent,
        })
    }

    /// One packet B sent, from its tap (`None`: nothing queued). Received copies are skipped.
    fn recv_tapped<'b>(&self, buf: &'b mut [u8]) -> io::Result<Option<&'b [u8]>> {
        loop {
            match sys::recv_tapped(self.tap.as_fd(), buf) {
                Ok((len, PACKET_OUTGOING)) if len <= buf.len() => return Ok(buf.get(..len)),
                Ok((len, PACKET_OUTGOING)) => {
                    return Err(io::Error::other(format!(
                        "kernel segmenter: a {len}-byte packet does not fit the tap's buffer"
                    )));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Marker `id`: IPv4/UDP from behind A (192.0.2.250) to [`MARKER_DST`], `id` as its payload.
fn marker(id: u32) -> Vec<u8> {
    let mut s = vnet_packet::PacketSpec::udp4(0);
    s.src[..4].copy_from_slice(&[192, 0, 2, 250]);
    s.dst[..4].copy_from_slice(&MARKER_DST);
    (s.src_port, s.dst_port, s.ip_id) = (MARKER_PORT, MARKER_PORT, 0);
    s.payload = id.to_be_bytes().to_vec();
    s.build()
}

/// Whether B delivered marker `id` (forwarded: the TTL is one less, so compare what forwarding
/// keeps).
fn is_marker(pkt: &[u8], id: u32) -> bool {
    destination(pkt) == Some(&MARKER_DST[..]) && pkt.get(28..32) == Some(&id.to_be_bytes()[..])
}

/// What the kernel's GRO made of a train, run twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Coalesced {
    /// Both runs gave the same packets (compared with `hdr_len` ignored, T19: a hint).
    Stable(Vec<(VnetHdr, Vec<u8>)>),
    /// The runs differ: the kernel flushed early at least once (a jiffy boundary during the
    /// train, or a timer), so this train says nothing about the GRO rules. Set it aside and count.
    Unstable {
        /// The first run.
        first: Vec<(VnetHdr, Vec<u8>)>,
        /// The second run.
        second: Vec<(VnetHdr, Vec<u8>)>,
    },
}

/// The kernel's GRO: a train of packets written into TUN A (IFF_NAPI, long `gro_flush_timeout`)
/// is coalesced by the kernel as one batch, forwarded, and read back from TUN B, whose offloads
/// (CSUM, TSO4, TSO6, TSO_ECN and, where accepted, USO) let merged packets through whole with
/// their vnet headers.
///
/// How the batch is held together, at any speed (QEMU's emulation included): A's NAPI runs in a
/// kernel thread (`threaded`), pinned to [`BATCH_CPU`]; the train is written from that CPU by a
/// thread that is SCHED_FIFO while it writes, so the NAPI thread cannot poll before the last
/// write: it then finds the whole train queued and feeds it to GRO in one poll. Held packets
/// are flushed by the `gro_flush_timeout` timer, oldest first, as at the end of any batch; the
/// answer is read until it covers every packet of the train (a merged packet covers its
/// segments), so no timeout decides it. [`KernelCoalescer::coalesce_checked`] still runs each
/// train twice and reports a difference. Where threaded NAPI cannot be had, the writes race the
/// poll as before (a train written within one jiffy is one batch) and
/// [`KernelCoalescer::one_batch`] says so.
#[derive(Debug)]
pub struct KernelCoalescer {
    world: World,
    flush_timeout: Duration,
    offloads_b: Offloads,
    udp_gro_forwarding: bool,
    one_batch: bool,
}

/// The CPU the coalescer's writer and A's NAPI thread share.
pub const BATCH_CPU: usize = 0;

/// How long a coalescer waits for the packets of a train before it returns what it has (only a
/// kernel that drops packets meets it).
pub const TRAIN_DEADLINE: Duration = Duration::from_secs(3);

impl KernelCoalescer {
    /// Builds the namespace with a 10 ms `gro_flush_timeout` on A.
    pub fn new() -> io::Result<Self> {
        Self::with_flush_timeout(Duration::from_millis(10))
    }

    /// Builds the namespace with the given `gro_flush_timeout` on A (also sets
    /// `napi_defer_hard_irqs` to 1, so that the timer is re-armed on every poll).
    pub fn with_flush_timeout(flush_timeout: Duration) -> io::Result<Self> {
        let wanted = Offloads::FULL;
        let world = World::new(true, LAYOUT, Offloads::NONE)?;
        // B's offloads: the best the kernel accepts, so merged packets are not re-segmented.
        let offloads_b = world.b.negotiate_offloads(wanted).map_err(to_io)?;
        let sysfs = |file: &str, value: &str| {
            world
                .ns
                .write_sysfs(&format!("/sys/class/net/{DEV_A}/{file}"), value)
        };
        sysfs("gro_flush_timeout", &flush_timeout.as_nanos().to_string())?;
        sysfs("napi_defer_hard_irqs", "1")?;
        let one_batch = sysfs("threaded", "1").is_ok() && pin_napi_threads().is_ok_and(|n| n > 0);
        let udp_gro_forwarding = enable_udp_gro_forwarding(&world.ns);
        Ok(Self {
            world,
            flush_timeout,
            offloads_b,
            udp_gro_forwarding,
            one_batch,
        })
    }

    /// Whether every train meets GRO as one batch whatever the machine's speed (threaded NAPI
    /// pinned beside the writer); if not, a slow machine splits trains at jiffy boundaries.
    pub fn one_batch(&self) -> bool {
        self.one_batch
    }

    /// The namespace the devices live in.
    pub fn netns(&self) -> &NetNs {
        &self.world.ns
    }

    /// The offloads B accepted (what merged packets can come out as: TSO4/TSO6, and UDP_L4
    /// only with USO).
    pub fn offloads(&self) -> Offloads {
        self.offloads_b
    }

    /// Whether UDP GRO forwarding (`rx-udp-gro-forwarding`) could be switched on for A. Without
    /// it the kernel never coalesces forwarded UDP (G4; ARCHITECTURE.md, 'The kernel as a
    /// reference').
    pub fn udp_gro_forwarding(&self) -> bool {
        self.udp_gro_forwarding
    }

    /// Writes `train` into A within one GRO batch and returns what B delivered, in order: each
    /// packet with its vnet header (merged ones with NEEDS_CSUM and a GSO type). One run; see
    /// [`KernelCoalescer::coalesce_checked`] to detect an early flush. A write the kernel
    /// refuses is an error.
    pub fn coalesce(&self, train: &[Vec<u8>]) -> io::Result<Vec<(VnetHdr, Vec<u8>)>> {
        self.world.drain()?;
        let dsts: Vec<Vec<u8>> = train
            .iter()
            .filter_map(|p| destination(p).map(<[u8]>::to_vec))
            .collect();
        if self.one_batch {
            let writer = BatchWriter::enter()?;
            for pkt in train {
                self.world.write(&VnetHdr::default(), pkt)?;
            }
            writer.leave()?;
        } else {
            for pkt in train {
                self.world.write(&VnetHdr::default(), pkt)?;
            }
        }
        let written = Instant::now();
        let wanted = |p: &[u8]| destination(p).is_some_and(|d| dsts.iter().any(|w| w == d));
        let mut out = Vec::new();
        let mut covered = 0;
        let deadline = written + self.flush_timeout + TRAIN_DEADLINE;
        let mut buf = vec![0u8; MAX_PACKET];
        while covered < train.len() {
            match self.world.b.recv(&mut buf) {
                Ok((hdr, len)) => {
                    if let Some(pkt) = buf.get(..len).filter(|p| wanted(p)) {
                        covered += segments_carried(&hdr, pkt);
                        out.push((hdr, pkt.to_vec()));
                    }
                }
                Err(Error::WouldBlock) => {
                    if Instant::now() >= deadline {
                        break;
                    }
                    sys::poll_readable(self.world.b.as_fd(), 50)?;
                }
                Err(err) => return Err(to_io(err)),
            }
        }
        Ok(out)
    }

    /// Runs `train` twice; differing answers (ignoring `hdr_len`) mean the kernel flushed early.
    pub fn coalesce_checked(&self, train: &[Vec<u8>]) -> io::Result<Coalesced> {
        let first = self.coalesce(train)?;
        let second = self.coalesce(train)?;
        let strip = |run: &[(VnetHdr, Vec<u8>)]| -> Vec<(VnetHdr, Vec<u8>)> {
            run.iter()
                .map(|(h, p)| (VnetHdr { hdr_len: 0, ..*h }, p.clone()))
                .collect()
        };
        if strip(&first) == strip(&second) {
            Ok(Coalesced::Stable(first))
        } else {
            Ok(Coalesced::Unstable { first, second })
        }
    }
}

/// How many packets of a train one delivered packet carries: a merged (GSO) one its segments,
/// `ceil(payload / gso_size)` (all but the last are full), any other one itself.
fn segments_carried(hdr: &VnetHdr, pkt: &[u8]) -> usize {
    if hdr.gso_type == GsoType::NONE || hdr.gso_size == 0 {
        return 1;
    }
    let Ok(h) = vnet_core::wire::parse_headers(pkt, vnet_core::wire::Link::Tun) else {
        return 1;
    };
    let l4 = pkt.get(h.l4_offset..).unwrap_or(&[]);
    let l4_header = if h.protocol == vnet_core::wire::IpProtocol::TCP {
        vnet_core::wire::TcpPacket::new_checked(l4).map_or(l4.len(), |t| t.header_len())
    } else {
        vnet_core::wire::UDP_HEADER_LEN
    };
    let payload = l4.len().saturating_sub(l4_header);
    payload.div_ceil(usize::from(hdr.gso_size)).max(1)
}

/// The writer's side of a one-batch train: the calling thread on [`BATCH_CPU`] and SCHED_FIFO
/// until [`BatchWriter::leave`] (or drop) puts back its affinity and SCHED_OTHER.
struct BatchWriter {
    affinity: sys::CpuSet,
    left: bool,
}

impl BatchWriter {
    fn enter() -> io::Result<Self> {
        let affinity = sys::affinity(0)?;
        sys::set_affinity(0, &sys::one_cpu(BATCH_CPU))?;
        let writer = Self {
            affinity,
            left: false,
        };
        sys::set_realtime(true)?;
        Ok(writer)
    }

    fn leave(mut self) -> io::Result<()> {
        self.left = true;
        sys::set_realtime(false)?;
        sys::set_affinity(0, &self.affinity)
    }
}

impl Drop for BatchWriter {
    fn drop(&mut self) {
        if !self.left {
            let _ = sys::set_realtime(false);
            let _ = sys::set_affinity(0, &self.affinity);
        }
    }
}

/// Pins every NAPI thread of a device named [`DEV_A`] (`napi/vka-N`, in any namespace: they all
/// serve coalescers) to [`BATCH_CPU`]; returns how many it pinned.
fn pin_napi_threads() -> io::Result<usize> {
    let prefix = format!("napi/{DEV_A}-");
    let mut pinned = 0;
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim_end().starts_with(&prefix) {
            sys::set_affinity(pid, &sys::one_cpu(BATCH_CPU))?;
            pinned += 1;
        }
    }
    Ok(pinned)
}

/// Tries `ethtool -K vka rx-udp-gro-forwarding on` inside the namespace. No ethtool binary, or a
/// kernel without the feature, gives `false`.
fn enable_udp_gro_forwarding(ns: &NetNs) -> bool {
    std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            "ethtool",
            "-K",
            DEV_A,
            "rx-udp-gro-forwarding",
            "on",
        ])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Reverts what forwarding did to a packet, on a copy: the IPv4 TTL or IPv6 hop limit goes back up
/// by one, and the IPv4 header checksum is reverted with the exact inverse of the kernel's
/// `ip_decrease_ttl` (`check += htons(0x0100)` with end-around carry, where a sum of 0xFFFF wraps
/// to 0). Anything that is not IPv4 or IPv6 is copied unchanged.
pub fn undo_forwarding(pkt: &[u8]) -> Vec<u8> {
    let mut out = pkt.to_vec();
    match out.first().map(|b| b >> 4) {
        Some(4) if out.len() >= 20 => {
            out[8] = out[8].wrapping_add(1);
            let check = u16::from_be_bytes([out[10], out[11]]);
            let before = match check {
                // The kernel's results 0x0000..=0x00FF came from sums that wrapped past 0xFFFF.
                0..=0x00ff => check + 0xfeff,
                // 0x0100 is the sum 0x0000 + 0x0100 (0xFFFF + 0x0100 wraps to 0x0000, above).
                0x0100 => 0,
                _ => check - 0x0100,
            };
            out[10..12].copy_from_slice(&before.to_be_bytes());
        }
        Some(6) if out.len() >= 40 => out[7] = out[7].wrapping_add(1),
        _ => {}
    }
    out
}

/// The header the kernel's GRO gives a merged packet, as far as it is a rule (G6): NEEDS_CSUM,
/// the GSO type, gso_size, csum_start and csum_offset; `hdr_len` zeroed (a hint, T19) and
/// DATA_VALID dropped (T20: the kernel adds it to packets whose checksum it verified; it says
/// nothing about coalescing).
pub fn normalize_gro_header(hdr: &VnetHdr) -> VnetHdr {
    VnetHdr {
        hdr_len: 0,
        flags: hdr.flags.without(Flags::DATA_VALID),
        ..*hdr
    }
}

/// Whether a header B delivered describes a merged (GSO) packet.
pub fn is_merged(hdr: &VnetHdr) -> bool {
    hdr.gso_type != GsoType::NONE
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's `ip_decrease_ttl`, for checking [`undo_forwarding`] against every checksum.
    fn decrease_ttl(pkt: &mut [u8]) {
        let check = u32::from(u16::from_be_bytes([pkt[10], pkt[11]])) + 0x0100;
        let check = (check + u32::from(check >= 0xffff)) as u16;
        pkt[10..12].copy_from_slice(&check.to_be_bytes());
        pkt[8] -= 1;
    }

    #[test]
    fn undo_forwarding_inverts_ip_decrease_ttl() {
        let mut pkt = [0u8; 20];
        pkt[0] = 0x45;
        pkt[8] = 64;
        for check in 0..=0xfffeu16 {
            // 0xFFFF never is a computed header checksum (it needs an all-zero header).
            pkt[10..12].copy_from_slice(&check.to_be_bytes());
            let mut fwd = pkt;
            decrease_ttl(&mut fwd);
            assert_eq!(undo_forwarding(&fwd)[..], pkt[..], "check {check:#06x}");
        }
    }

    #[test]
    fn undo_forwarding_ipv6_and_others() {
        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[7] = 63;
        assert_eq!(undo_forwarding(&v6)[7], 64);
        assert_eq!(undo_forwarding(&[0x10, 1, 2]), [0x10, 1, 2]);
        assert_eq!(undo_forwarding(&[]), Vec::<u8>::new());
    }

    #[test]
    fn destination_reads_v4_and_refuses_short_or_other() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[16..20].copy_from_slice(&[198, 51, 100, 2]);
        assert_eq!(destination(&v4), Some(&[198, 51, 100, 2][..]));
        assert_eq!(destination(&[0x45; 10]), None);
        assert_eq!(destination(&[0x20; 40]), None);
    }
}
