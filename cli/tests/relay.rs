//! `vnet relay` under fire, as root: the real binary between two TUN devices, each moved into its
//! own throw-away namespace (A: 192.0.2.1/24, B: 198.51.100.1/24), the relay and its loopback
//! wire in a third (R). Faults are injected from R with a raw socket (forged ICMP errors and
//! datagrams, as an attacker on the wire path could) and from A and B (oversized packets, a TUN
//! set down). Each test proves the relay still runs, counted what it dropped under the right
//! cause (read from its SIGUSR1 report), and still carries traffic.
//!
//! The namespaces are Drop guards declared before the relay's guard, so the relay is stopped
//! (SIGTERM, then SIGKILL) first and every namespace, with the TUNs in it, is deleted even when
//! an assertion fails.

// In a test, an out-of-range index is a failure report, which is what a panic is for.
#![allow(clippy::indexing_slicing)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use vnet_core::csum;
use vnet_host::netns::{NetNs, require_root, send_raw_ipv4};

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// Routed through TUN A at the device's MTU (65535): where oversized packets go.
const B_FAR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 200);
const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Prints to the real stderr, not the captured one: these tests report what they did.
macro_rules! report {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// A running `vnet relay`; stopped with SIGTERM (then SIGKILL) on drop.
struct RelayProc {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl RelayProc {
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status();
    }

    /// The counters of the relay's report to SIGUSR1: each cause's count, and `gso-fallbacks`.
    fn causes(&mut self) -> HashMap<String, u64> {
        let before = self.reports();
        self.signal("-USR1");
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.reports() == before {
            assert!(
                Instant::now() < deadline,
                "no SIGUSR1 report: {}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
        let lines = self.stdout.lock().unwrap();
        let line = lines
            .iter()
            .rev()
            .find(|l| l.starts_with("relay: dropped by cause: "))
            .cloned()
            .unwrap_or_default();
        parse_causes(&line)
    }

    fn reports(&self) -> usize {
        let lines = self.stdout.lock().unwrap();
        lines
            .iter()
            .filter(|l| l.starts_with("relay: dropped by cause: "))
            .count()
    }

    fn log(&self) -> String {
        format!(
            "\nstdout:\n{}\nstderr:\n{}",
            self.stdout.lock().unwrap().join("\n"),
            self.stderr.lock().unwrap().join("\n")
        )
    }

    /// Peak resident memory so far (VmHWM) and now (VmRSS), in KiB.
    fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }
}

impl Drop for RelayProc {
    fn drop(&mut self) {
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.alive() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `relay: dropped by cause: a 1, b 2; UDP_SEGMENT trains sent again as datagrams: 3`.
fn parse_causes(line: &str) -> HashMap<String, u64> {
    let mut map = HashMap::new();
    let Some(rest) = line.strip_prefix("relay: dropped by cause: ") else {
        return map;
    };
    let (causes, fallbacks) = rest.split_once("; ").unwrap_or((rest, ""));
    for part in causes.split(", ") {
        if let Some((name, n)) = part.rsplit_once(' ')
            && let Ok(n) = n.parse()
        {
            map.insert(name.to_owned(), n);
        }
    }
    if let Some(n) = fallbacks.rsplit(' ').next().and_then(|n| n.parse().ok()) {
        map.insert("gso-fallbacks".to_owned(), n);
    }
    map
}

/// The three namespaces and the relay. Field order is drop order: the relay stops first.
struct Rig {
    relay: RelayProc,
    /// The wire sockets' ports in R: A's half, B's half.
    port_a: u16,
    port_b: u16,
    ns_a: NetNs,
    ns_b: NetNs,
    ns_r: NetNs,
}

fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

fn no_ipv6(ns: &NetNs) {
    // IPv6 would put router solicitations (from fe80::, outside the allowed prefixes) on the
    // TUNs: each would be counted as spoofed and blur the counts.
    ns.disable_ipv6().unwrap();
}

fn rig(test: &str) -> Option<Rig> {
    if !require_root(test) {
        return None;
    }
    report!("{test}: kernel {} (uname -r)", vnet_host::kernel::release());
    let ns_r = NetNs::new().unwrap();
    let ns_a = NetNs::new().unwrap();
    let ns_b = NetNs::new().unwrap();
    for ns in [&ns_r, &ns_a, &ns_b] {
        no_ipv6(ns);
    }
    for dev in ["vt-a", "vt-b"] {
        ns_r.ip(&["tuntap", "add", "mode", "tun", "vnet_hdr", "name", dev])
            .unwrap();
    }
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns_r.name(),
            env!("CARGO_BIN_EXE_vnet"),
            "relay",
        ])
        .args(["--a", "vt-a", "--b", "vt-b"])
        .args(["--allow-a", "192.0.2.0/24", "--allow-b", "198.51.100.0/24"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vnet relay");
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    let mut relay = RelayProc {
        child,
        stdout,
        stderr,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !relay
        .stderr
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.starts_with("relay: running"))
    {
        assert!(
            relay.alive() && Instant::now() < deadline,
            "the relay did not start: {}",
            relay.log()
        );
        thread::sleep(Duration::from_millis(20));
    }
    // `relay: vt-a: ... wire 127.0.0.1:P -> 127.0.0.1:Q`
    let port = |dev: &str| -> u16 {
        let lines = relay.stderr.lock().unwrap();
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("relay: {dev}: offloads")))
            .cloned()
            .unwrap_or_default();
        let wire = line.split(" wire ").nth(1).unwrap_or_default();
        let local = wire.split(" -> ").next().unwrap_or_default();
        local
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .parse()
            .unwrap()
    };
    let (port_a, port_b) = (port("vt-a"), port("vt-b"));

    // The relay holds both TUNs; now move them to A and B (their fds keep working).
    for (dev, ns, addr, peer_net) in [
        ("vt-a", &ns_a, A, "198.51.100.0/24"),
        ("vt-b", &ns_b, B, "192.0.2.0/24"),
    ] {
        ns_r.ip(&["link", "set", dev, "netns", ns.name()]).unwrap();
        ns.addr_add(dev, &format!("{addr}/24")).unwrap();
        ns.link_up(dev).unwrap();
        routes(ns, dev, peer_net);
    }
    Some(Rig {
        relay,
        port_a,
        port_b,
        ns_a,
        ns_b,
        ns_r,
    })
}

/// The route to the other side (again after a link went down, which removes it). A's TUN has
/// MTU 65535, so that oversized packets can be sent to B_FAR; everything else keeps 1500 by
/// route.
fn routes(ns: &NetNs, dev: &str, peer_net: &str) {
    if dev == "vt-a" {
        ns.ip(&["link", "set", dev, "mtu", "65535"]).unwrap();
        ns.ip(&[
            "route",
            "replace",
            "198.51.100.0/25",
            "dev",
            dev,
            "mtu",
            "1500",
        ])
        .unwrap();
        ns.ip(&["route", "replace", "198.51.100.128/25", "dev", dev])
            .unwrap();
    } else {
        ns.ip(&["route", "replace", peer_net, "dev", dev]).unwrap();
    }
}

impl Rig {
    /// Whether UDP datagrams from A reach B and back within 3 s.
    fn traffic_passes(&self) -> bool {
        let rx_b = self
            .ns_b
            .run(|| UdpSocket::bind(SocketAddrV4::new(B, 7000)))
            .unwrap()
            .unwrap();
        let tx_a = self
            .ns_a
            .run(|| UdpSocket::bind(SocketAddrV4::new(A, 0)))
            .unwrap()
            .unwrap();
        rx_b.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        tx_a.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut buf = [0u8; 64];
        while Instant::now() < deadline {
            let _ = tx_a.send_to(b"probe", SocketAddrV4::new(B, 7000));
            if let Ok((n, from)) = rx_b.recv_from(&mut buf)
                && &buf[..n] == b"probe"
            {
                let _ = rx_b.send_to(b"reply", from);
                if tx_a.recv(&mut buf).is_ok_and(|n| &buf[..n] == b"reply") {
                    return true;
                }
            }
        }
        false
    }

    /// Sends a raw IPv4 packet from R (to the loopback wire).
    fn inject(&self, pkt: &[u8]) {
        self.ns_r
            .run(|| send_raw_ipv4(pkt, LOOPBACK))
            .unwrap()
            .expect("raw send");
    }

    /// An ICMP error about a datagram from the wire socket at `from_port` to `to_port`.
    fn icmp_error(&self, kind: u8, code: u8, mtu: u16, from_port: u16, to_port: u16) -> Vec<u8> {
        let mut quoted = ipv4(LOOPBACK, LOOPBACK, 17, &[0; 8]);
        quoted.truncate(20);
        quoted.extend(from_port.to_be_bytes());
        quoted.extend(to_port.to_be_bytes());
        quoted.extend([0, 108, 0, 0]);
        let mut icmp = vec![kind, code, 0, 0, 0, 0];
        icmp.extend(mtu.to_be_bytes());
        icmp.extend(&quoted);
        icmp.extend([0u8; 100]); // the rest of the quoted datagram
        let c = csum::finish(csum::sum(&icmp));
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        ipv4(LOOPBACK, LOOPBACK, 1, &icmp)
    }

    /// A datagram forged from B's wire socket to A's, carrying `inner`.
    fn forged_from_b(&self, inner: &[u8]) -> Vec<u8> {
        let mut udp = Vec::new();
        udp.extend(self.port_b.to_be_bytes());
        udp.extend(self.port_a.to_be_bytes());
        udp.extend(((8 + inner.len()) as u16).to_be_bytes());
        udp.extend([0, 0]); // no UDP checksum (allowed over IPv4)
        udp.extend(inner);
        ipv4(LOOPBACK, LOOPBACK, 17, &udp)
    }

    fn check(&mut self, what: &str, cause: &str, before: &HashMap<String, u64>) -> u64 {
        let after = self.relay.causes();
        let n = after.get(cause).copied().unwrap_or(0) - before.get(cause).copied().unwrap_or(0);
        assert!(
            self.relay.alive(),
            "{what}: the relay died: {}",
            self.relay.log()
        );
        assert!(
            n > 0,
            "{what}: nothing counted as {cause}: {after:?}{}",
            self.relay.log()
        );
        assert!(
            self.traffic_passes(),
            "{what}: no traffic afterwards{}",
            self.relay.log()
        );
        report!("  {what}: survived, {cause} +{n}, traffic passes");
        n
    }
}

/// An IPv4 packet (header checksum filled in; the kernel fills it too for raw sends).
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut pkt = vec![0x45, 0];
    pkt.extend(total.to_be_bytes());
    pkt.extend([0, 1, 0, 0, 64, proto, 0, 0]);
    pkt.extend(src.octets());
    pkt.extend(dst.octets());
    let c = csum::finish(csum::sum(&pkt));
    pkt[10..12].copy_from_slice(&c.to_be_bytes());
    pkt.extend(payload);
    pkt
}

/// A UDP datagram in IPv4 from `src` (no UDP checksum): an inner packet.
fn inner_udp(src: Ipv4Addr, dst: Ipv4Addr, port: u16, payload: &[u8]) -> Vec<u8> {
    let mut udp = Vec::new();
    udp.extend(4321u16.to_be_bytes());
    udp.extend(port.to_be_bytes());
    udp.extend(((8 + payload.len()) as u16).to_be_bytes());
    udp.extend([0, 0]);
    udp.extend(payload);
    ipv4(src, dst, 17, &udp)
}

#[test]
fn relay_survives_faults() {
    let started = Instant::now();
    let Some(mut rig) = rig("relay_survives_faults") else {
        return;
    };
    assert!(
        rig.traffic_passes(),
        "no traffic at start{}",
        rig.relay.log()
    );
    let (pa, pb) = (rig.port_a, rig.port_b);

    // ICMP port unreachable about A's datagrams to B's port.
    let before = rig.relay.causes();
    rig.inject(&rig.icmp_error(3, 3, 0, pa, pb));
    rig.check("ICMP port unreachable", "peer-unreachable", &before);

    // ICMP administratively prohibited (code 13): Linux reports it as EHOSTUNREACH.
    let before = rig.relay.causes();
    rig.inject(&rig.icmp_error(3, 13, 0, pb, pa));
    rig.check("ICMP admin prohibited", "host-unreachable", &before);

    // A spoofed datagram from B's wire address and port whose inner source (192.0.2.99) is
    // not B's; and one that is not IP at all. Neither may reach A.
    let listener = rig
        .ns_a
        .run(|| UdpSocket::bind(SocketAddrV4::new(A, 7002)))
        .unwrap()
        .unwrap();
    listener
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let before = rig.relay.causes();
    let spoofed = inner_udp(Ipv4Addr::new(192, 0, 2, 99), A, 7002, b"injected");
    rig.inject(&rig.forged_from_b(&spoofed));
    rig.inject(&rig.forged_from_b(b"\x00not an IP packet at all"));
    rig.check("spoofed inner source", "spoofed-inner-source", &before);
    rig.check("malformed inner packet", "malformed", &before);
    let mut buf = [0u8; 64];
    assert!(
        listener.recv(&mut buf).is_err(),
        "the spoofed packet reached A"
    );

    // A 65,535-byte packet from A (TUN MTU 65535): more than one UDP datagram can carry.
    let before = rig.relay.causes();
    let big = rig
        .ns_a
        .run(|| UdpSocket::bind(SocketAddrV4::new(A, 0)))
        .unwrap()
        .unwrap();
    big.send_to(&vec![0x42; 65_507], SocketAddrV4::new(B_FAR, 9))
        .expect("send a 65,535-byte packet");
    rig.check("65,535-byte packet", "oversized", &before);

    // TUN B down for half a second while A sends to B: writes fail with EIO.
    let before = rig.relay.causes();
    rig.ns_b.ip(&["link", "set", "vt-b", "down"]).unwrap();
    let down = Instant::now();
    while down.elapsed() < Duration::from_millis(500) {
        let _ = big.send_to(b"while down", SocketAddrV4::new(B, 7000));
        thread::sleep(Duration::from_millis(20));
    }
    rig.ns_b.link_up("vt-b").unwrap();
    routes(&rig.ns_b, "vt-b", "192.0.2.0/24");
    // TUN A down too (reads on a down TUN): nothing to count, the relay must just go on.
    rig.ns_a.ip(&["link", "set", "vt-a", "down"]).unwrap();
    thread::sleep(Duration::from_millis(500));
    rig.ns_a.link_up("vt-a").unwrap();
    routes(&rig.ns_a, "vt-a", "198.51.100.0/24");
    rig.check("TUN down for 0.5 s", "tun-down", &before);

    // ICMP fragmentation needed (MTU 1280) about A's datagrams: a small cached path MTU. The
    // next call on the socket fails with EMSGSIZE: a single datagram is dropped (path-mtu), a
    // UDP_SEGMENT train is sent again as single datagrams (gso-fallbacks).
    let before = rig.relay.causes();
    rig.inject(&rig.icmp_error(3, 4, 1280, pa, pb));
    // Traffic after the report, then look at both counters.
    let _ = rig.traffic_passes();
    let after = rig.relay.causes();
    let grew = |k: &str| after.get(k).copied().unwrap_or(0) > before.get(k).copied().unwrap_or(0);
    assert!(
        grew("path-mtu") || grew("gso-fallbacks"),
        "fragmentation needed: neither path-mtu nor gso-fallbacks counted: {after:?}{}",
        rig.relay.log()
    );
    assert!(
        rig.relay.alive() && rig.traffic_passes(),
        "{}",
        rig.relay.log()
    );
    report!("  ICMP fragmentation needed: survived, counted, traffic passes");

    report!(
        "relay_survives_faults: {:.1} s; final counters {:?}",
        started.elapsed().as_secs_f64(),
        rig.relay.causes()
    );
    drop(rig);
}

/// A deterministic byte stream: byte `i` of the TCP transfer.
fn pattern(i: u64) -> u8 {
    (i ^ (i >> 8) ^ (i >> 16)).wrapping_mul(31) as u8
}

#[test]
fn relay_hostile_soak() {
    let secs: f64 = std::env::var("VNET_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20.0);
    let Some(mut rig) = rig("relay_hostile_soak") else {
        return;
    };
    report!("relay_hostile_soak: {secs} s of hostile traffic (VNET_SOAK_SECS; the issue asks 60)");
    assert!(
        rig.traffic_passes(),
        "no traffic at start{}",
        rig.relay.log()
    );
    let listener = rig
        .ns_b
        .run(|| TcpListener::bind(SocketAddrV4::new(B, 5201)))
        .unwrap()
        .unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let duration = Duration::from_secs_f64(secs);
    let mut memory = Vec::new();
    let (sent, received, bad) = thread::scope(|scope| {
        // B: read to EOF, checking every byte.
        let server = scope.spawn(|| {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut buf = vec![0u8; 256 * 1024];
            let (mut total, mut bad) = (0u64, None);
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        for (k, &b) in buf[..n].iter().enumerate() {
                            if bad.is_none() && b != pattern(total + k as u64) {
                                bad = Some(total + k as u64);
                            }
                        }
                        total += n as u64;
                    }
                    Err(err) => panic!("server read: {err}"),
                }
            }
            (total, bad)
        });
        // A: write the pattern for the duration, then close.
        let client = scope.spawn(|| {
            let mut stream = rig
                .ns_a
                .run(|| {
                    TcpStream::connect_timeout(
                        &SocketAddrV4::new(B, 5201).into(),
                        Duration::from_secs(5),
                    )
                })
                .unwrap()
                .expect("connect");
            let mut chunk = vec![0u8; 64 * 1024];
            let mut sent = 0u64;
            let t0 = Instant::now();
            while t0.elapsed() < duration {
                for (k, b) in chunk.iter_mut().enumerate() {
                    *b = pattern(sent + k as u64);
                }
                stream.write_all(&chunk).expect("client write");
                sent += chunk.len() as u64;
            }
            stream.shutdown(Shutdown::Write).unwrap();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            sent
        });
        // A: a flood of small datagrams and 65,535-byte packets through the relay.
        scope.spawn(|| {
            let sock = rig
                .ns_a
                .run(|| UdpSocket::bind(SocketAddrV4::new(A, 0)))
                .unwrap()
                .unwrap();
            let big = vec![0x55u8; 65_507];
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for _ in 0..50 {
                    let _ = sock.send_to(&[0xaa; 1200], SocketAddrV4::new(B, 9));
                }
                if i.is_multiple_of(10) {
                    let _ = sock.send_to(&big, SocketAddrV4::new(B_FAR, 9));
                }
                i += 1;
                thread::sleep(Duration::from_millis(2));
            }
        });
        // R: forged traffic on the wire: spoofed, malformed, oversized, ICMP errors.
        scope.spawn(|| {
            let spoofed =
                rig.forged_from_b(&inner_udp(Ipv4Addr::new(203, 0, 113, 9), A, 7002, b"spoof"));
            let junk = rig.forged_from_b(&[0xff; 300]);
            let short = rig.forged_from_b(&[0x45, 0, 0]);
            let huge = rig.forged_from_b(&vec![0x45; 65_507]);
            let (pa, pb) = (rig.port_a, rig.port_b);
            let icmps = [
                rig.icmp_error(3, 3, 0, pa, pb),
                rig.icmp_error(3, 13, 0, pb, pa),
                rig.icmp_error(3, 1, 0, pa, pb),
                rig.icmp_error(12, 0, 0, pb, pa),
            ];
            let mut i = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                rig.ns_r
                    .run(|| {
                        for pkt in [&spoofed, &junk, &short] {
                            let _ = send_raw_ipv4(pkt, LOOPBACK);
                        }
                        if i.is_multiple_of(20) {
                            let _ = send_raw_ipv4(&huge, LOOPBACK);
                            let _ = send_raw_ipv4(&icmps[(i / 20) % icmps.len()], LOOPBACK);
                        }
                    })
                    .unwrap();
                i += 1;
                thread::sleep(Duration::from_millis(5));
            }
        });
        // The relay's memory, once a second.
        let t0 = Instant::now();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if t0.elapsed() >= Duration::from_secs(memory.len() as u64) {
                memory.push(rig.relay.memory_kib());
            }
            thread::sleep(Duration::from_millis(50));
        }
        let sent = client.join().unwrap();
        let (received, bad) = server.join().unwrap();
        (sent, received, bad)
    });
    let causes = rig.relay.causes();
    report!(
        "relay_hostile_soak: TCP {:.1} MB sent, {:.1} MB received intact; relay memory (peak, rss KiB) per second: {memory:?}; counters {causes:?}",
        sent as f64 / 1e6,
        received as f64 / 1e6
    );
    assert!(rig.relay.alive(), "the relay died{}", rig.relay.log());
    assert_eq!(bad, None, "the TCP stream was corrupted at byte {bad:?}");
    assert_eq!(received, sent, "TCP bytes lost");
    assert!(sent > 0, "nothing was sent");
    for cause in ["spoofed-inner-source", "malformed", "oversized"] {
        assert!(
            causes.get(cause).copied().unwrap_or(0) > 0,
            "{cause}: {causes:?}"
        );
    }
    // Bounded memory: after the first second (buffers allocated), RSS grows by less than 16 MiB.
    let first = memory.get(1).or(memory.first()).map_or(0, |m| m.1);
    let peak = memory.iter().map(|m| m.1).max().unwrap_or(0);
    assert!(
        peak < first + 16 * 1024,
        "relay RSS grew from {first} KiB to {peak} KiB: {memory:?}"
    );
    assert!(
        rig.traffic_passes(),
        "no traffic afterwards{}",
        rig.relay.log()
    );
}

/// H2: a UDP_SEGMENT train the route cannot take (segments larger than a 1280-byte MTU: EINVAL)
/// is sent again as single datagrams; after three refusals in a row UDP_SEGMENT is left off, and
/// tried again a second later.
#[test]
fn relay_udp_segment_falls_back_and_reprobes() {
    if !require_root("relay_udp_segment_falls_back_and_reprobes") {
        return;
    }
    report!(
        "relay_udp_segment_falls_back_and_reprobes: kernel {} (uname -r)",
        vnet_host::kernel::release()
    );
    let ns = NetNs::new().unwrap();
    ns.ip(&[
        "link", "add", "v0", "mtu", "1280", "type", "veth", "peer", "name", "v1", "mtu", "1280",
    ])
    .unwrap();
    ns.addr_add("v0", "192.0.2.1/24").unwrap();
    ns.link_up("v0").unwrap();
    ns.link_up("v1").unwrap();
    let sock = ns
        .run(|| -> std::io::Result<UdpSocket> {
            let sock = UdpSocket::bind(SocketAddrV4::new(A, 0))?;
            sock.connect(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 9))?;
            Ok(sock)
        })
        .unwrap()
        .unwrap();
    let wire = vnet_host::udp::BatchSocket::new(sock);
    if !wire.enable_gso(true) {
        report!("SKIPPED: relay_udp_segment_falls_back_and_reprobes: no UDP_SEGMENT");
        return;
    }
    let data = vec![7u8; 10 * 1400];
    for round in 1..=3u64 {
        let report = wire.send_segments(&data, 1400).expect("sent as datagrams");
        assert_eq!(report.datagrams, 10);
        assert_eq!(wire.gso_fallbacks(), round, "round {round}");
    }
    assert!(
        !wire.caps().gso,
        "UDP_SEGMENT left off after three refusals"
    );
    wire.send_segments(&data, 1400).unwrap();
    assert_eq!(wire.gso_fallbacks(), 3, "not tried while off");
    thread::sleep(Duration::from_millis(1100));
    wire.send_segments(&data, 1400).unwrap();
    assert_eq!(wire.gso_fallbacks(), 4, "tried again after a second");
    assert!(!wire.caps().gso, "refused again: off for two seconds now");
}

/// `vnet_host::relay` as a library, without the program: a `Relay` between two TUN devices in a
/// throw-away namespace, its pipelines stepped by hand (a datagram the kernel routes into TUN A
/// is read, sent on the wire, received and written into TUN B, each counted), then `run` on its
/// own threads until `stop`.
#[test]
fn relay_library_steps_pipelines_and_runs_until_stopped() {
    use vnet_host::relay::{Allowed, Config, Direction, Half, Relay};
    use vnet_host::udp::BatchSocket;
    use vnet_host::{DeviceKind, Options};
    let test = "relay_library_steps_pipelines_and_runs_until_stopped";
    if !require_root(test) {
        return;
    }
    report!("{test}: kernel {} (uname -r)", vnet_host::kernel::release());
    let ns = NetNs::new().unwrap();
    no_ipv6(&ns);
    ns.link_up("lo").unwrap();
    let mut halves = Vec::new();
    let socks = ns
        .run(|| -> std::io::Result<(UdpSocket, UdpSocket)> {
            let a = UdpSocket::bind((LOOPBACK, 0))?;
            let b = UdpSocket::bind((LOOPBACK, 0))?;
            a.connect(b.local_addr()?)?;
            b.connect(a.local_addr()?)?;
            Ok((a, b))
        })
        .unwrap()
        .unwrap();
    for ((dev, cidr), sock) in [("rl-a", "10.1.0.1/24"), ("rl-b", "10.3.0.1/24")]
        .into_iter()
        .zip([socks.0, socks.1])
    {
        let tun = ns
            .run(|| {
                Options::new(DeviceKind::Tun)
                    .name(dev)
                    .nonblocking(true)
                    .open()
            })
            .unwrap()
            .unwrap();
        ns.addr_add(dev, cidr).unwrap();
        ns.link_up(dev).unwrap();
        halves.push(Half::new(tun, BatchSocket::new(sock), Allowed::any()));
    }
    ns.ip(&["route", "add", "10.2.0.0/24", "dev", "rl-a"])
        .unwrap();
    let b = halves.pop().unwrap();
    let a = halves.pop().unwrap();
    let relay = Relay::new(a, b, Config::default()).unwrap();
    report!(
        "{test}: offloads {} / {}",
        relay.halves()[0].offloads(),
        relay.halves()[1].offloads()
    );
    ns.run(|| {
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        s.send_to(b"through the relay", (Ipv4Addr::new(10, 2, 0, 5), 9))
    })
    .unwrap()
    .unwrap();
    // Each step waits at most ~100 ms for its device or socket; 50 steps is a bound, not a time.
    let mut out_a = relay.pipeline(Direction::AOut);
    for _ in 0..50 {
        if relay.snapshot().udp_sends > 0 {
            break;
        }
        out_a.step().unwrap();
    }
    let mut in_b = relay.pipeline(Direction::BIn);
    for _ in 0..50 {
        if relay.snapshot().tun_writes > 0 {
            break;
        }
        in_b.step().unwrap();
    }
    let s = relay.snapshot();
    report!("{test}: {s:?}");
    assert_eq!(s.udp_sends, 1, "one send on the wire");
    assert_eq!(s.tun_writes, 1, "one write into TUN B");
    assert_eq!(s.dropped(), 0, "{}", s.causes_line());
    assert_eq!(s.gro_in, 1);
    // Written into TUN B from where the receive put it (G9): vnet copied none of it.
    assert_eq!(s.copied, 0, "bytes vnet copied");
    // run() on its own threads returns once stopped.
    thread::scope(|scope| {
        let job = scope.spawn(|| relay.run());
        thread::sleep(Duration::from_millis(200));
        relay.stop();
        job.join().unwrap().unwrap();
    });
    assert!(relay.stopping());
    assert_eq!(relay.error(), None);
    let [a, b] = relay.into_halves();
    assert_eq!(a.tun().name(), "rl-a");
    assert_eq!(b.tun().name(), "rl-b");
}
