//! `vnet relay`: forward between two existing TUN devices through the demo's machinery.
//!
//! Design: the same two halves as the demo, with the wire on loopback. Packets the kernel hands
//! to TUN A are split (offloads on: core's gso), sent as UDP datagrams from 127.0.0.1 to the other
//! half's socket on 127.0.0.1 (UDP_SEGMENT trains), received in batches (UDP_GRO), coalesced
//! (core's gro) and written into TUN B; and the other way round. Passing super-packets straight
//! from one TUN to the other would be faster, but would exercise neither half of core: this is
//! a VPN with the crypto and the remote peer left out, useful to watch the counters.

use std::error::Error;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use vnet_host::relay::{self, Allowed, Cause, Config, Half, PrefixList, Relay, Snapshot};
use vnet_host::udp::{BatchSocket, connect_drained};
use vnet_host::{DeviceKind, Options};

use crate::args::{ArgError, OnOff};
use crate::out;

pub(crate) const ABOUT: &str = "\
Forwards packets between two existing TUN devices in this namespace (e.g. made with
`ip tuntap add mode tun vnet_hdr name NAME`, configured and up) until Ctrl-C, SIGTERM or SIGHUP,
then prints its counters (SIGUSR1 prints them while it runs). Each direction goes TUN -> [gso]
-> UDP over loopback -> [gro] -> TUN, as in `vnet demo`. Needs CAP_NET_ADMIN.

The wire is NOT encrypted and NOT authenticated: it is a demonstration of offloads, not a VPN.
Its only protection is that each wire socket is connected to the other (datagrams from anyone
else are discarded, and so are those that arrived before the connect), and that a packet coming
from side A must have an inner source address in A's allowed prefixes (WireGuard's AllowedIPs),
and likewise for B; anything else is dropped and counted as spoofed-inner-source.

Errors never end the relay unless a device or socket is gone: ICMP errors on the wire,
oversized packets, packets the kernel refuses and a TUN that is down lose the packets involved,
each counted under its cause (peer-unreachable, host-unreachable, prohibited, path-mtu, icmp-other,
no-buffers, oversized, tun-refused, tun-down, malformed, spoofed-inner-source,
foreign-wire-source, stale-before-connect); a UDP_SEGMENT train the kernel refuses is sent again
as single datagrams.";

/// `vnet relay`'s options.
#[derive(clap::Args, Debug)]
pub(crate) struct RelayOptions {
    /// First TUN device (must exist, unless --create)
    #[arg(long = "a", value_name = "NAME")]
    name_a: String,
    /// Second TUN device (must exist, unless --create)
    #[arg(long = "b", value_name = "NAME")]
    name_b: String,
    /// Create a TUN device that does not exist (gone when the relay exits)
    #[arg(long)]
    create: bool,
    /// Inner source addresses packets from A may have: PREFIX[,PREFIX...]
    /// (192.0.2.0/24,2001:db8::/32) or `any`; default: the prefixes of the addresses configured
    /// on A's TUN now (v4 and v6)
    #[arg(long, value_name = "PREFIXES")]
    allow_a: Option<PrefixList>,
    /// The same for B
    #[arg(long, value_name = "PREFIXES")]
    allow_b: Option<PrefixList>,
    /// TUNSETOFFLOAD CSUM|TSO4|TSO6 and batched UDP (on), or none (off)
    #[arg(long, value_name = "on|off", default_value = "on")]
    offload: OnOff,
    /// Stop after SECS instead of waiting for a signal
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Also print the counters every SECS
    #[arg(long, value_name = "SECS")]
    stats: Option<f64>,
}

/// Relays until a stop signal (or `--duration`).
pub(crate) fn main(options: RelayOptions) -> Result<(), Box<dyn Error>> {
    let RelayOptions {
        name_a,
        name_b,
        create,
        allow_a,
        allow_b,
        offload: OnOff(offload),
        ..
    } = options;
    let duration = options
        .duration
        .map(Duration::try_from_secs_f64)
        .transpose()?;
    let stats = options
        .stats
        .map(Duration::try_from_secs_f64)
        .transpose()?
        .filter(|d| !d.is_zero());
    if name_a == name_b {
        return Err(ArgError("--a and --b name the same device".into()).into());
    }
    for name in [&name_a, &name_b] {
        if !create && !vnet_host::iface::exists(name) {
            return Err(ArgError(format!(
                "no device {name:?} in this namespace (give --create to make a new TUN)"
            ))
            .into());
        }
    }
    let stop = vnet_host::catch_stop_signals()?;
    let usr1 = vnet_host::catch_sigusr1()?;

    let (sock_a, sock_b, stale) = loopback_pair()?;
    let mut tuns = Vec::new();
    for name in [&name_a, &name_b] {
        let tun = Options::new(DeviceKind::Tun)
            .name(name)
            .nonblocking(true)
            .open()?;
        tuns.push(tun);
    }
    // What each side may send: given, or the prefixes on its TUN now.
    let mut allowed = Vec::new();
    for (name, given, option) in [
        (&name_a, allow_a, "--allow-a"),
        (&name_b, allow_b, "--allow-b"),
    ] {
        let prefixes = match given {
            Some(list) => list.0,
            None => relay::policy::tun_prefixes(name)?,
        };
        let shown: Vec<String> = prefixes.iter().map(ToString::to_string).collect();
        errln!(
            "relay: {name}: inner sources allowed: {}",
            if shown.is_empty() {
                format!("none (no address on {name}: nothing from it passes; see {option})")
            } else {
                shown.join(", ")
            }
        );
        allowed.push(Allowed::from_prefixes(&prefixes));
    }
    let (Some(allowed_b), Some(allowed_a)) = (allowed.pop(), allowed.pop()) else {
        return Err(io::Error::other("two sides").into());
    };
    let mut halves = Vec::new();
    // Half A writes what B sent into TUN A, so it accepts B's sources; and the other way round.
    for ((tun, sock), accept) in tuns
        .into_iter()
        .zip([sock_a, sock_b])
        .zip([allowed_b, allowed_a])
    {
        let wire = BatchSocket::new(sock);
        wire.set_buffer_sizes(8 << 20)?;
        halves.push(Half::new(tun, wire, accept));
    }
    let [a, b] = <[Half; 2]>::try_from(halves).map_err(|_| io::Error::other("two halves"))?;
    let relay = Relay::new(a, b, Config { offload })?;
    for half in relay.halves() {
        let sock = half.wire().socket();
        let caps = half.wire_caps();
        errln!(
            "relay: {}: offloads {}, UDP_SEGMENT {}, UDP_GRO {}; wire {} -> {}",
            half.tun().name(),
            half.offloads(),
            caps.gso,
            caps.gro,
            sock.local_addr()?,
            sock.peer_addr()?
        );
    }
    errln!("relay: running; Ctrl-C, SIGTERM or SIGHUP stops, SIGUSR1 prints the counters");

    relay.count(Cause::Stale, stale);
    let started = Instant::now();
    let (result, waited) = thread::scope(|scope| {
        let job = thread::Builder::new()
            .name("vnet-relay".into())
            .spawn_scoped(scope, || relay.run())?;
        // A closed stdout (counters that cannot be printed) stops the relay like a signal.
        let waited = wait(&relay, stop, usr1, duration, stats, started);
        relay.stop();
        let result = job
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        io::Result::Ok((result, waited))
    })?;
    let printed = waited.and_then(|()| print_counters(&relay, started.elapsed()));
    if let Some(err) = relay.error() {
        errln!("relay: first problem: {err}");
    }
    if let Some(signal) = vnet_host::stop_signal_name() {
        errln!("relay: stopped by {signal}");
    }
    result?;
    Ok(printed?)
}

/// Two UDP sockets on 127.0.0.1, connected to each other: the loopback wire. Returns how many
/// datagrams reached them before they were connected (discarded).
fn loopback_pair() -> io::Result<(UdpSocket, UdpSocket, usize)> {
    let a = UdpSocket::bind("127.0.0.1:0")?;
    let b = UdpSocket::bind("127.0.0.1:0")?;
    let (addr_a, addr_b): (SocketAddr, SocketAddr) = (a.local_addr()?, b.local_addr()?);
    let stale = connect_drained(&a, addr_b)? + connect_drained(&b, addr_a)?;
    Ok((a, b, stale))
}

fn wait(
    relay: &Relay,
    stop: &AtomicBool,
    usr1: &AtomicBool,
    duration: Option<Duration>,
    stats: Option<Duration>,
    started: Instant,
) -> Result<(), out::StdoutError> {
    let mut next_stats = stats.map(|s| started + s);
    while !relay.stopping()
        && !stop.load(Ordering::Relaxed)
        && duration.is_none_or(|d| started.elapsed() < d)
    {
        thread::sleep(Duration::from_millis(50));
        let due = next_stats.is_some_and(|t| Instant::now() >= t);
        if usr1.swap(false, Ordering::Relaxed) || due {
            print_counters(relay, started.elapsed())?;
        }
        if due {
            next_stats = next_stats.zip(stats).map(|(t, s)| t + s);
        }
    }
    Ok(())
}

fn print_counters(relay: &Relay, elapsed: Duration) -> Result<(), out::StdoutError> {
    let s: &Snapshot = &relay.snapshot();
    outln!(
        "relay: {:.1} s; tun reads {}, tun writes {}, udp sends {}, udp recvs {}, polls {}; \
         {} bytes read from the TUNs; packets/syscall {:.2}; coalescing {:.2}:1 ({} -> {}); dropped {}",
        elapsed.as_secs_f64(),
        s.tun_reads,
        s.tun_writes,
        s.udp_sends,
        s.udp_recvs,
        s.polls,
        s.bytes,
        s.packets_per_syscall(),
        s.coalescing(),
        s.gro_in,
        s.gro_out,
        s.dropped(),
    )?;
    let fallbacks: u64 = relay
        .halves()
        .iter()
        .map(|h| h.wire().gso_fallbacks())
        .sum();
    outln!(
        "relay: dropped by cause: {}; UDP_SEGMENT trains sent again as datagrams: {fallbacks}",
        s.causes_line()
    )
}
