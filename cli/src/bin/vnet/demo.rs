//! `vnet demo`: a TCP bulk transfer through the relay, with offloads on and then off.
//!
//! ```text
//!  ns A                                                         ns B
//!  client 192.0.2.1 -> tun-a ==relay A==> wire-a 203.0.113.1/30 ~~ veth ~~ 203.0.113.2/30 wire-b
//!                                 ==relay B==> tun-b -> server 198.51.100.1:5201
//! ```
//!
//! Everything it creates (two namespaces; the TUN devices and the veth pair die with them) is
//! removed on success, on error, on SIGINT, SIGTERM or SIGHUP and on a panic: the namespaces are
//! Drop guards, and the devices' fds are closed before the namespaces are deleted. SIGKILL
//! cannot be caught: each run holds a lock file (`/run/vnet-demo/<pid>-<token>.lock`) while its
//! namespaces `vnet-demo-<pid>-<token>-a`/`-b` exist, and every run starts by deleting the
//! namespaces of runs whose lock nobody holds (their process is gone, whatever became of the
//! PID). The random token keeps names apart when a PID repeats (containers start at low PIDs);
//! device names cannot collide, since every device lives in the run's own namespaces.

use std::error::Error;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, IsTerminal, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use vnet_core::hdr::Layout;
use vnet_host::netns::{NetNs, OwnerLock};
use vnet_host::relay::{self, Allowed, Cause, Config, Half, Relay, Snapshot};
use vnet_host::udp::{BatchSocket, connect_drained, probe_caps};
use vnet_host::{DeviceKind, Options};

use crate::args::{ArgError, OnOff};

pub(crate) const ABOUT: &str = "\
Creates two network namespaces A and B, each with a TUN device (12-byte little-endian vnet
header), joined by a veth pair (the \"wire\") and a user-space relay that carries the packets
over UDP, as a VPN would. Then pushes a TCP bulk transfer from A to B, first with offloads on
(TUN super-packets split by vnet-core's gso, UDP_SEGMENT/UDP_GRO batches on the wire, coalesced
by vnet-core's gro), then off (one packet per syscall), and prints throughput, relay syscalls per
MB, packets per syscall and the coalescing ratio. Removes everything it created on exit (also on
SIGINT, SIGTERM and SIGHUP; what a SIGKILLed run left behind is removed by the next run, which
names it). Needs root.

The wire is NOT encrypted and NOT authenticated (plain IP in UDP, as a VPN without its crypto).
The relay only checks that datagrams come from the peer socket and that inner source addresses
are in the sending side's prefixes, and drops and counts the rest.

The last line is: summary: offload on X.XX Gbit/s, off Y.YY Gbit/s, speedup Z.ZZx";

/// `vnet demo`'s options.
#[derive(clap::Args, Debug)]
pub(crate) struct DemoOptions {
    /// Measuring time per mode, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    duration: f64,
    /// Stop a mode after N bytes of TCP payload instead (whichever comes first)
    #[arg(long, value_name = "N")]
    bytes: Option<u64>,
    /// TCP MSS; the TUN MTU is N + 40, the wire's N + 68
    #[arg(long, value_name = "N", default_value_t = 1460,
          value_parser = clap::value_parser!(u16).range(88..=9000))]
    mss: u16,
    /// Parallel TCP connections
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=64))]
    flows: u8,
    /// Run one mode only (no summary line)
    #[arg(long, value_name = "on|off")]
    only: Option<OnOff>,
}

/// The namespace name prefix; the test looks for leftovers with it.
pub(crate) const NS_PREFIX: &str = "vnet-demo";
/// Where each run's lock file lives while its namespaces exist.
const LOCK_DIR: &str = "/run/vnet-demo";

const TUN_A: &str = "tun-a";
const TUN_B: &str = "tun-b";
const WIRE_A: &str = "wire-a";
const WIRE_B: &str = "wire-b";
const A_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const WIRE_A_ADDR: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const WIRE_B_ADDR: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
const WIRE_PORT: u16 = 4789;
const TCP_PORT: u16 = 5201;
/// How often blocked TCP threads and the monitor look at the stop flags.
const TICK: Duration = Duration::from_millis(100);
/// Bytes per TCP write and read.
const CHUNK: usize = 256 * 1024;
/// IPv4 (20) + UDP (8): what the wire adds to each packet.
const WIRE_OVERHEAD: u16 = 28;

#[derive(Clone, Copy, Debug)]
struct Settings {
    duration: Duration,
    bytes: Option<u64>,
    mss: u16,
    flows: usize,
    only: Option<bool>,
}

/// Runs the demo with `options`.
pub(crate) fn main(options: DemoOptions) -> Result<(), Box<dyn Error>> {
    let settings = Settings {
        duration: Duration::try_from_secs_f64(options.duration)
            .map_err(|err| ArgError(format!("--duration {}: {err}", options.duration)))?,
        bytes: options.bytes,
        mss: options.mss,
        flows: usize::from(options.flows),
        only: options.only.map(|o| o.0),
    };
    let stop = vnet_host::catch_stop_signals()?;
    run(settings, stop)
}

/// This run's name: `<pid>-<random token>`. The token comes from std's per-process random
/// hash keys (seeded by the OS), so a repeated PID gets a different name.
fn run_id() -> String {
    let token = std::hash::RandomState::new().build_hasher().finish() as u32;
    format!("{}-{token:08x}", std::process::id())
}

fn lock_path(run: &str) -> PathBuf {
    Path::new(LOCK_DIR).join(format!("{run}.lock"))
}

/// Deletes the namespaces of earlier runs that are gone (killed with SIGKILL, or a machine
/// crash mid-run) and says which. A run is gone when nobody holds its lock file; namespaces of
/// older versions (`vnet-demo-<pid>-<n>`, no lock file) when their PID does not exist.
fn remove_leftovers() -> io::Result<()> {
    let prefix = format!("{NS_PREFIX}-");
    for name in NetNs::list(&prefix)? {
        let rest = name.strip_prefix(&prefix).unwrap_or_default();
        let Some((run, _)) = rest.rsplit_once('-') else {
            continue;
        };
        let pid = run.split('-').next().unwrap_or_default();
        let dead = match OwnerLock::is_held(&lock_path(run))? {
            Some(held) => !held,
            None => !pid.is_empty() && !Path::new("/proc").join(pid).exists(),
        };
        if dead {
            NetNs::delete(&name)?;
            errln!(
                "vnet demo: removed namespace {name}, left behind by an earlier run (pid {pid}) \
                 that is gone"
            );
        }
    }
    // Lock files whose namespaces are gone and whose owners too.
    if let Ok(entries) = std::fs::read_dir(LOCK_DIR) {
        for entry in entries.flatten() {
            let path = entry.path();
            if OwnerLock::is_held(&path)? == Some(false) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    Ok(())
}

/// One mode's result.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    bytes: u64,
    elapsed: Duration,
    relay: Snapshot,
    /// CPU time of the whole process (relay, TCP endpoints, and the kernel work done in their
    /// system calls and softirqs) while measuring.
    cpu: Duration,
}

impl Outcome {
    fn gbits(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.elapsed.as_secs_f64().max(1e-9) / 1e9
    }

    fn syscalls_per_mb(&self) -> f64 {
        if self.bytes == 0 {
            0.0
        } else {
            self.relay.syscalls() as f64 / (self.bytes as f64 / 1e6)
        }
    }

    /// CPU seconds per GB moved: what the machine pays, whatever else runs on it.
    fn cpu_per_gb(&self) -> f64 {
        self.cpu.as_secs_f64() / (self.bytes as f64 / 1e9).max(1e-9)
    }

    fn line(&self, label: &str) -> String {
        let r = &self.relay;
        format!(
            "{label}: {:6.2} Gbit/s  {:8.1} MB in {:.2} s  syscalls/MB {:7.1}  packets/syscall {:5.2}  coalescing {:5.2}:1\n  \
             CPU {:.2} s ({:.2} cores, {:.2} CPU-s/GB); relay syscalls: tun reads {}, tun writes {}, udp sends {}, udp recvs {}, polls {}; dropped {}",
            self.gbits(),
            self.bytes as f64 / 1e6,
            self.elapsed.as_secs_f64(),
            self.syscalls_per_mb(),
            r.packets_per_syscall(),
            r.coalescing(),
            self.cpu.as_secs_f64(),
            self.cpu.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9),
            self.cpu_per_gb(),
            r.tun_reads,
            r.tun_writes,
            r.udp_sends,
            r.udp_recvs,
            r.polls,
            r.dropped(),
        )
    }
}

fn run(settings: Settings, sigint: &AtomicBool) -> Result<(), Box<dyn Error>> {
    remove_leftovers()?;
    let run = run_id();
    // Held until this function returns, after the namespaces (declared later) are gone.
    let _lock = OwnerLock::acquire(&lock_path(&run))?;
    let mut topo = Topology::create(&run, settings.mss)?;
    let caps = probe_caps();
    outln!(
        "vnet demo: namespaces {} (A) and {} (B); TUN MTU {}, wire MTU {}; {} flow(s); UDP_SEGMENT {}, UDP_GRO {}",
        topo.ns_a.name(),
        topo.ns_b.name(),
        settings.mss + 40,
        settings.mss + 40 + WIRE_OVERHEAD,
        settings.flows,
        yes_no(caps.gso),
        yes_no(caps.gro),
    )?;
    let mut outcomes = Vec::new();
    for offload in [true, false] {
        if settings.only.is_some_and(|only| only != offload) {
            continue;
        }
        let label = if offload {
            "offload on "
        } else {
            "offload off"
        };
        let outcome = topo.measure(offload, &settings, sigint, label)?;
        outln!("{}", outcome.line(label))?;
        outcomes.push(outcome);
    }
    let [on, off] = outcomes[..] else {
        return Ok(());
    };
    outln!(
        "CPU per GB: on {:.2} s, off {:.2} s ({:.2}x less with offloads)",
        on.cpu_per_gb(),
        off.cpu_per_gb(),
        off.cpu_per_gb() / on.cpu_per_gb().max(1e-9)
    )?;
    outln!("{}", copies_line(&on, &off))?;
    let (on, off) = (on.gbits(), off.gbits());
    let speedup = if off > 0.0 { on / off } else { 0.0 };
    outln!("summary: offload on {on:.2} Gbit/s, off {off:.2} Gbit/s, speedup {speedup:.2}x")?;
    Ok(())
}

/// Who makes a copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Whose {
    Kernel,
    Vnet,
}

/// Every copy of a byte of the transfer on its way from the sending application in A to the
/// receiving one in B, in path order, by construction (what each system call and each step of
/// the relay does with the bytes): (the copy, who makes it, copies with offloads on, off). A
/// step that moves no byte is not a copy: the veth hands the skb over as is (with offloads on a
/// UDP_SEGMENT train stays whole up to the UDP_GRO socket), the kernel's software segmentation
/// with offloads off splits page fragments without copying them, checksums are read, not copied.
const COPIES: [(&str, Whose, u32, u32); 8] = [
    (
        "TCP send: application -> socket buffer (tcp_sendmsg)",
        Whose::Kernel,
        1,
        1,
    ),
    (
        "TUN read: skb -> relay buffer (tun_put_user)",
        Whose::Kernel,
        1,
        1,
    ),
    (
        "gso: segments written (batch::split_iov writes headers only: none; the copying \
         batch::split, before: 1; UFO still goes that way)",
        Whose::Vnet,
        0,
        0,
    ),
    (
        "UDP send: relay buffer or iovecs -> skb (udp_sendmsg)",
        Whose::Kernel,
        1,
        1,
    ),
    (
        "UDP receive: skb -> relay buffer (recvmmsg)",
        Whose::Kernel,
        1,
        1,
    ),
    (
        "gro: datagrams coalesced where they lie, headers rewritten apart (GroIov, G9: none; \
         the copying form's datagrams copied apart and merge, before: 2; at most 128 datagrams \
         per gro call, so a packet always fits one writev's 1024 pieces)",
        Whose::Vnet,
        0,
        0,
    ),
    (
        "TUN write: headers and receive buffer slices -> skb (one writev, tun_get_user)",
        Whose::Kernel,
        1,
        1,
    ),
    (
        "TCP receive: skb -> application (tcp_recvmsg)",
        Whose::Kernel,
        1,
        1,
    ),
];

/// (all copies, vnet's) per byte by construction, offloads on or off ([`COPIES`]).
fn copies(offload: bool) -> (u32, u32) {
    COPIES
        .iter()
        .fold((0, 0), |(all, ours), &(_, whose, on, off)| {
            let n = if offload { on } else { off };
            (all + n, ours + if whose == Whose::Vnet { n } else { 0 })
        })
}

/// The copies line: by construction from [`COPIES`], and vnet's own as the relay counted them.
fn copies_line(on: &Outcome, off: &Outcome) -> String {
    let ((all_on, ours_on), (all_off, ours_off)) = (copies(true), copies(false));
    let names: Vec<&str> = COPIES
        .iter()
        .filter(|c| c.1 == Whose::Vnet && c.2 > 0)
        .map(|c| c.0.split(':').next().unwrap_or_default())
        .collect();
    let ours = if names.is_empty() {
        String::new()
    } else {
        format!(": {}", names.join(", "))
    };
    format!(
        "copies per byte (by construction): offload on {all_on} (vnet's {ours_on}{ours}; measured {:.2}), \
         off {all_off} (vnet's {ours_off}; measured {:.2})",
        on.relay.copies_per_byte(),
        off.relay.copies_per_byte(),
    )
}

/// User plus system time of this process, all threads (`/proc/self/stat` fields 14 and 15, in
/// clock ticks of 10 ms: USER_HZ is 100 on Linux). Zero if it cannot be read.
fn process_cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // The command name (field 2) may hold spaces; the fields after its ')' are plain.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // After ')', field 3 (state) is at index 0, so field n is at index n - 3.
    let ticks: u64 = [14, 15]
        .iter()
        .filter_map(|n| fields.get(n - 3)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The two namespaces and what lives in them. Field order is drop order: the relay halves
/// (TUN fds, sockets) close before the namespaces are deleted.
struct Topology {
    /// A and B; taken by the relay of a mode while it runs.
    halves: Option<[Half; 2]>,
    listener: TcpListener,
    /// Datagrams that reached the wire sockets before they were connected (not yet counted).
    stale: usize,
    ns_a: NetNs,
    ns_b: NetNs,
}

impl Topology {
    fn create(run: &str, mss: u16) -> io::Result<Self> {
        let ns_a = NetNs::create(&format!("{NS_PREFIX}-{run}-a"))?;
        let ns_b = NetNs::create(&format!("{NS_PREFIX}-{run}-b"))?;
        let tun_mtu = (mss + 40).to_string();
        let wire_mtu = (mss + 40 + WIRE_OVERHEAD).to_string();

        // The wire: a veth pair between the namespaces.
        ns_a.ip(&[
            "link",
            "add",
            WIRE_A,
            "type",
            "veth",
            "peer",
            "name",
            WIRE_B,
            "netns",
            ns_b.name(),
        ])?;
        for (ns, dev, addr) in [(&ns_a, WIRE_A, WIRE_A_ADDR), (&ns_b, WIRE_B, WIRE_B_ADDR)] {
            ns.ip(&["link", "set", dev, "mtu", &wire_mtu])?;
            ns.addr_add(dev, &format!("{addr}/30"))?;
            ns.link_up(dev)?;
        }

        // The TUN devices, each with a route to the other side's network through it.
        let mut parts = Vec::new();
        let mut stale = 0;
        for (ns, dev, addr, peer_net, local, remote) in [
            (
                &ns_a,
                TUN_A,
                A_ADDR,
                "198.51.100.0/24",
                WIRE_A_ADDR,
                WIRE_B_ADDR,
            ),
            (
                &ns_b,
                TUN_B,
                B_ADDR,
                "192.0.2.0/24",
                WIRE_B_ADDR,
                WIRE_A_ADDR,
            ),
        ] {
            // IPv6 would put router solicitations on the TUNs; keep the demo IPv4 only.
            ns.disable_ipv6()?;
            let tun = ns.run(|| {
                Options::new(DeviceKind::Tun)
                    .name(dev)
                    .layout(Layout::V1)
                    .little_endian(true)
                    .nonblocking(true)
                    .open()
                    .map_err(io::Error::from)
            })??;
            ns.ip(&["link", "set", dev, "mtu", &tun_mtu])?;
            ns.addr_add(dev, &format!("{addr}/24"))?;
            ns.link_up(dev)?;
            ns.ip(&["route", "add", peer_net, "dev", dev])?;
            // The relay's end of the wire: created inside the namespace, where it stays;
            // whatever reached it before the connect is discarded.
            let (sock, discarded) = ns.run(|| -> io::Result<(UdpSocket, usize)> {
                let sock = UdpSocket::bind(SocketAddrV4::new(local, WIRE_PORT))?;
                let discarded =
                    connect_drained(&sock, SocketAddrV4::new(remote, WIRE_PORT).into())?;
                Ok((sock, discarded))
            })??;
            stale += discarded;
            let wire = BatchSocket::new(sock);
            wire.set_buffer_sizes(8 << 20)?;
            // The inner sources this side may send: the prefixes on its TUN, as `vnet relay`.
            let prefixes = ns.run(|| relay::policy::tun_prefixes(dev))??;
            parts.push((tun, wire, Allowed::from_prefixes(&prefixes)));
        }
        let listener = ns_b.run(|| TcpListener::bind(SocketAddrV4::new(B_ADDR, TCP_PORT)))??;
        listener.set_nonblocking(true)?;
        let (tun_b, wire_b, allowed_b) = parts.pop().ok_or_else(|| io::Error::other("no B"))?;
        let (tun_a, wire_a, allowed_a) = parts.pop().ok_or_else(|| io::Error::other("no A"))?;
        Ok(Self {
            // Each half writes what the other side sent: it accepts the other side's sources.
            halves: Some([
                Half::new(tun_a, wire_a, allowed_b),
                Half::new(tun_b, wire_b, allowed_a),
            ]),
            listener,
            stale,
            ns_a,
            ns_b,
        })
    }

    /// One mode: set offloads and socket batching, start the relay, run the transfer, stop.
    fn measure(
        &mut self,
        offload: bool,
        settings: &Settings,
        sigint: &AtomicBool,
        label: &str,
    ) -> Result<Outcome, Box<dyn Error>> {
        let [a, b] = self
            .halves
            .take()
            .ok_or("the relay of an earlier mode kept the devices")?;
        let relay = Relay::new(a, b, Config { offload })?;
        relay.count(Cause::Stale, std::mem::take(&mut self.stale));
        let transfer = Transfer::default();
        let (listener, ns_a, ns_b) = (&self.listener, &self.ns_a, &self.ns_b);
        let outcome = thread::scope(|scope| -> Result<Outcome, Box<dyn Error>> {
            // Whatever happens below (an error, a panic), every thread is told to stop before
            // the scope waits for them.
            let _stop = StopGuard(&relay, &transfer);
            let relay_job = spawn(scope, "vnet-relay", || relay.run())?;
            let server_job = spawn(scope, "vnet-server", || {
                ns_b.run(|| transfer.serve(listener, settings.flows))
            })?;
            let clients = (0..settings.flows)
                .map(|_| spawn(scope, "vnet-client", || ns_a.run(|| transfer.send())))
                .collect::<io::Result<Vec<_>>>()?;

            // Wait for every connection, then measure.
            let started = Instant::now();
            while transfer.connected.load(Ordering::Relaxed) < settings.flows {
                check_running(&relay, &transfer, sigint)?;
                if started.elapsed() > Duration::from_secs(5) {
                    return Err(format!(
                        "{label}: only {} of {} TCP connections came up in 5 s{}",
                        transfer.connected.load(Ordering::Relaxed),
                        settings.flows,
                        relay
                            .error()
                            .map(|e| format!(" (relay: {e})"))
                            .unwrap_or_default()
                    )
                    .into());
                }
                thread::sleep(Duration::from_millis(5));
            }
            let t0 = Instant::now();
            let bytes0 = transfer.received.load(Ordering::Relaxed);
            let relay0 = relay.snapshot();
            let cpu0 = process_cpu_time();
            let mut next_progress = t0;
            let tty = io::stderr().is_terminal();
            loop {
                check_running(&relay, &transfer, sigint)?;
                let elapsed = t0.elapsed();
                let bytes = transfer.received.load(Ordering::Relaxed) - bytes0;
                if elapsed >= settings.duration || settings.bytes.is_some_and(|n| bytes >= n) {
                    break;
                }
                if elapsed >= next_progress - t0 {
                    let gbits = bytes as f64 * 8.0 / elapsed.as_secs_f64().max(1e-9) / 1e9;
                    let line = format!(
                        "{label}: {:4.1} s  {:8.1} MB  {gbits:6.2} Gbit/s",
                        elapsed.as_secs_f64(),
                        bytes as f64 / 1e6
                    );
                    // A terminal gets one line rewritten in place, a log one line a second.
                    if tty {
                        err!("\r{line} ");
                        next_progress += Duration::from_millis(500);
                    } else {
                        errln!("{line}");
                        next_progress += Duration::from_secs(1);
                    }
                }
                thread::sleep(Duration::from_millis(10));
            }
            let outcome = Outcome {
                bytes: transfer.received.load(Ordering::Relaxed) - bytes0,
                elapsed: t0.elapsed(),
                relay: relay.snapshot().since(relay0),
                cpu: process_cpu_time().saturating_sub(cpu0),
            };
            if tty {
                err!("\r{:70}\r", "");
            }

            transfer.stop.store(true, Ordering::Relaxed);
            for client in clients {
                join(client)??;
            }
            join(server_job)??;
            relay.stop();
            join(relay_job)?;
            Ok(outcome)
        })?;
        if outcome.relay.dropped() > 0 {
            errln!(
                "{label}: note: the relay dropped {} packet(s) ({}), first because {}",
                outcome.relay.dropped(),
                outcome.relay.causes_line(),
                relay.error().unwrap_or_default()
            );
        }
        self.halves = Some(relay.into_halves());
        Ok(outcome)
    }
}

/// Sets every stop flag when dropped (at the end of a mode, on an early return, on a panic).
struct StopGuard<'a>(&'a Relay, &'a Transfer);

impl Drop for StopGuard<'_> {
    fn drop(&mut self) {
        self.1.stop.store(true, Ordering::Relaxed);
        self.0.stop();
    }
}

/// Fails when a stop signal came (Ctrl-C, SIGTERM, SIGHUP), the relay stopped by itself, or a TCP thread failed.
fn check_running(relay: &Relay, transfer: &Transfer, sigint: &AtomicBool) -> Result<(), String> {
    if sigint.load(Ordering::Relaxed) {
        errln!();
        return Err(format!(
            "interrupted ({}); cleaning up",
            vnet_host::stop_signal_name().unwrap_or("signal")
        ));
    }
    if relay.stopping() {
        return Err(format!(
            "the relay stopped: {}",
            relay.error().unwrap_or_default()
        ));
    }
    if let Some(err) = transfer.error.lock().ok().and_then(|e| e.clone()) {
        return Err(format!("TCP transfer: {err}"));
    }
    Ok(())
}

/// Joins a scoped thread, passing a panic on.
/// Starts a named thread in `scope`; a thread that cannot start is an error, not a panic (the
/// scope still joins the threads started before it).
fn spawn<'scope, 'env, T: Send + 'scope>(
    scope: &'scope thread::Scope<'scope, 'env>,
    name: &str,
    f: impl FnOnce() -> T + Send + 'scope,
) -> io::Result<thread::ScopedJoinHandle<'scope, T>> {
    thread::Builder::new()
        .name(name.into())
        .spawn_scoped(scope, f)
}

fn join<T>(job: thread::ScopedJoinHandle<'_, T>) -> T {
    job.join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// The TCP bulk transfer's shared state.
#[derive(Debug, Default)]
struct Transfer {
    stop: AtomicBool,
    connected: std::sync::atomic::AtomicUsize,
    received: AtomicU64,
    error: Mutex<Option<String>>,
}

impl Transfer {
    fn fail(&self, err: impl std::fmt::Display) {
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(err.to_string());
        }
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Runs `job`; a failure is recorded as `who`'s and stops the transfer.
    fn reporting(&self, who: &str, job: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let result = job();
        if let Err(err) = &result {
            self.fail(format_args!("{who}: {err}"));
        }
        result
    }

    /// Calls `step` (a read or a write with a `TICK` timeout) until told to stop or until it
    /// answers `false` (the end of the stream); a timeout only lets the loop look at `stop`.
    fn until_stopped(&self, mut step: impl FnMut() -> io::Result<bool>) -> io::Result<()> {
        while !self.stop.load(Ordering::Relaxed) {
            match step() {
                Ok(true) => {}
                Ok(false) => break,
                Err(err) if is_timeout(&err) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Client (in ns A): connect, then write until told to stop.
    fn send(&self) -> io::Result<()> {
        self.reporting("client", || {
            let server = SocketAddr::V4(SocketAddrV4::new(B_ADDR, TCP_PORT));
            let mut stream = TcpStream::connect_timeout(&server, Duration::from_secs(5))?;
            stream.set_write_timeout(Some(TICK))?;
            let data = vec![0x5a_u8; CHUNK];
            self.until_stopped(|| stream.write(&data).map(|_| true))
        })
    }

    /// Server (in ns B): accept `flows` connections and count what they deliver.
    fn serve(&self, listener: &TcpListener, flows: usize) -> io::Result<()> {
        thread::scope(|scope| {
            let mut readers = Vec::new();
            while readers.len() < flows && !self.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        self.connected.fetch_add(1, Ordering::Relaxed);
                        match spawn(scope, "vnet-reader", move || self.drain(stream)) {
                            Ok(reader) => readers.push(reader),
                            Err(err) => {
                                self.fail(format_args!("starting a reader: {err}"));
                                return Err(err);
                            }
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(2));
                    }
                    Err(err) => {
                        self.fail(format_args!("accept: {err}"));
                        return Err(err);
                    }
                }
            }
            readers.into_iter().try_for_each(join)
        })
    }

    /// A reader of the server: counts what `stream` delivers until it ends or the transfer stops.
    fn drain(&self, mut stream: TcpStream) -> io::Result<()> {
        self.reporting("server", || {
            stream.set_nonblocking(false)?;
            stream.set_read_timeout(Some(TICK))?;
            let mut buf = vec![0u8; CHUNK];
            self.until_stopped(|| {
                let n = stream.read(&mut buf)?;
                self.received.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n > 0)
            })
        })
    }
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte is copied 6 times, offloads on or off, all by the kernel: gso sends from
    /// iovecs and gro writes slices of the receive buffers (vnet's own would be the copying
    /// forms' 2 with offloads on).
    #[test]
    fn demo_copies_by_construction() {
        assert_eq!(copies(true), (6, 0));
        assert_eq!(copies(false), (6, 0));
    }
}
