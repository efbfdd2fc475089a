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
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use vnet_host::udp::BatchSocket;
use vnet_host::{DeviceKind, Offloads, Options};

use crate::args::{Args, OnOff};
use crate::tunnel::{Half, Relay, Snapshot};

pub(crate) const USAGE: &str = "\
usage: vnet relay --a NAME --b NAME [--offload on|off] [--duration SECS]

Forwards packets between two existing TUN devices in this namespace (e.g. made with
`ip tuntap add mode tun vnet_hdr name NAME`, configured and up) until Ctrl-C, then prints its
counters. Each direction goes TUN -> [gso] -> UDP over loopback -> [gro] -> TUN, as in
`vnet demo`. Needs CAP_NET_ADMIN.

options:
  --a NAME           first TUN device
  --b NAME           second TUN device
  --offload on|off   TUNSETOFFLOAD CSUM|TSO4|TSO6 and batched UDP (on, default), or none (off)
  --duration SECS    stop after SECS instead of waiting for Ctrl-C
  --help             this text";

/// Parses the options and relays until Ctrl-C (or `--duration`).
pub(crate) fn main(mut args: Args) -> Result<(), Box<dyn Error>> {
    if args.flag("--help") || args.flag("-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let name_a: Option<String> = args.value("--a")?;
    let name_b: Option<String> = args.value("--b")?;
    let offload = args.value::<OnOff>("--offload")?.unwrap_or(OnOff(true)).0;
    let duration = args
        .value::<f64>("--duration")?
        .map(Duration::try_from_secs_f64)
        .transpose()?;
    args.finish()?;
    let (Some(name_a), Some(name_b)) = (name_a, name_b) else {
        return Err(crate::args::ArgError("--a and --b are required".into()).into());
    };
    let sigint = vnet_host::catch_sigint()?;

    let (sock_a, sock_b) = loopback_pair()?;
    let mut halves = Vec::new();
    for (name, sock) in [(&name_a, sock_a), (&name_b, sock_b)] {
        let tun = Options::new(DeviceKind::Tun)
            .name(name)
            .nonblocking(true)
            .open()?;
        let offloads = if offload {
            tun.negotiate_offloads(Offloads::CSUM | Offloads::TSO4 | Offloads::TSO6)?
        } else {
            tun.set_offloads(Offloads::NONE)?;
            Offloads::NONE
        };
        let mut wire = BatchSocket::new(sock);
        wire.set_read_timeout(Some(Duration::from_millis(100)))?;
        wire.set_buffer_sizes(8 << 20)?;
        let gso = wire.enable_gso(offload);
        let gro = wire.enable_gro(offload);
        eprintln!(
            "relay: {name}: offloads {offloads}, UDP_SEGMENT {gso}, UDP_GRO {gro}; Ctrl-C stops"
        );
        halves.push(Half { tun, wire });
    }
    let [a, b] = <[Half; 2]>::try_from(halves).map_err(|_| io::Error::other("two halves"))?;

    let relay = Relay::default();
    let started = Instant::now();
    let result = thread::scope(|scope| {
        let job = scope.spawn(|| relay.run(&a, &b, offload));
        wait(&relay, sigint, duration, started);
        relay.stop();
        job.join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    print_counters(&relay.snapshot(), started.elapsed());
    if let Some(err) = relay.error() {
        eprintln!("relay: first problem: {err}");
    }
    Ok(result?)
}

/// Two UDP sockets on 127.0.0.1, connected to each other: the loopback wire.
fn loopback_pair() -> io::Result<(UdpSocket, UdpSocket)> {
    let a = UdpSocket::bind("127.0.0.1:0")?;
    let b = UdpSocket::bind("127.0.0.1:0")?;
    a.connect(b.local_addr()?)?;
    b.connect(a.local_addr()?)?;
    Ok((a, b))
}

fn wait(relay: &Relay, sigint: &AtomicBool, duration: Option<Duration>, started: Instant) {
    while !relay.stopping()
        && !sigint.load(Ordering::Relaxed)
        && duration.is_none_or(|d| started.elapsed() < d)
    {
        thread::sleep(Duration::from_millis(50));
    }
}

fn print_counters(s: &Snapshot, elapsed: Duration) {
    println!(
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
        s.dropped,
    );
}
