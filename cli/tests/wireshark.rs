//! O10 against Wireshark's own capture code, the reference for the formats: what `editcap` and
//! `dumpcap` write, vnet's readers read as the packets they hold; what vnet's writers write,
//! `editcap` reads. Runs when `editcap` is on PATH (CI installs wireshark-common) and says loudly
//! when it is not; the live capture also needs root.

use std::fs;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use vnet_cli::oracle::capture::{self, Format, Link};
use vnet_core::wire::{IPV4_MIN_HEADER_LEN, IPV6_HEADER_LEN, UDP_HEADER_LEN};
use vnet_host::netns::{NetNs, require_root};
use vnet_packet::PacketSpec;

/// `tool --version`'s first line, or `None` (after a loud skip) if it is not there. Under CI it
/// must be.
fn wireshark_tool(tool: &str, test: &str) -> Option<String> {
    let out = Command::new(tool).arg("--version").output();
    match out.ok().filter(|o| o.status.success()) {
        Some(o) => {
            let version = String::from_utf8_lossy(&o.stdout);
            Some(version.lines().next().unwrap_or_default().to_owned())
        }
        None if std::env::var_os("CI").is_some() => {
            panic!("{test}: no {tool} on PATH, and CI is set: .ci/run installs wireshark-common")
        }
        None => {
            eprintln!("SKIPPED {test}: no {tool} on PATH (Debian: wireshark-common); NOT run");
            None
        }
    }
}

/// A scratch directory, removed on drop (a failing test included).
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("vnet-{test}-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `editcap -F format from to`: Wireshark reads `from` and writes it as `format`.
fn editcap(format: &str, from: &Path, to: &Path) {
    let out = Command::new("editcap")
        .args(["-F", format])
        .args([from, to])
        .output()
        .expect("editcap runs");
    assert!(
        out.status.success(),
        "editcap -F {format} {}: {}",
        from.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read(path: &Path) -> Vec<Vec<u8>> {
    capture::read(fs::File::open(path).expect("capture")).expect("read")
}

fn packets() -> Vec<Vec<u8>> {
    [
        PacketSpec::tcp4(1448 * 3),
        PacketSpec::tcp6(1000),
        PacketSpec::udp4(1),
        PacketSpec::udp6(333),
    ]
    .iter()
    .map(PacketSpec::build)
    .collect()
}

/// O10 both ways, every format and link: vnet writes, Wireshark converts to the other format,
/// vnet reads the packets back; so vnet reads Wireshark's pcapng and pcap, and Wireshark reads
/// vnet's.
#[test]
fn wireshark_and_vnet_read_each_others_captures() {
    let test = "wireshark_and_vnet_read_each_others_captures";
    let Some(version) = wireshark_tool("editcap", test) else {
        return;
    };
    eprintln!("{version}");
    let dir = Scratch::new("editcap");
    for (format, other, name) in [
        (Format::Pcap, "pcapng", "pcap"),
        (Format::Pcapng, "pcap", "pcapng"),
    ] {
        for link in [Link::Raw, Link::Ethernet] {
            let ours = dir.path(&format!("ours-{name}-{link:?}"));
            let mut file = Vec::new();
            capture::write(&mut file, format, link, &packets()).expect("write");
            fs::write(&ours, file).expect("file");
            let theirs = dir.path(&format!("theirs-{other}-{link:?}"));
            editcap(other, &ours, &theirs);
            assert_eq!(read(&theirs), packets(), "{name} {link:?} through editcap");
        }
    }
}

/// A child process killed on drop: a failing test leaves no dumpcap behind.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `done` every 50 ms for up to 10 s; whether it came true.
fn within_10s(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    done()
}

/// The UDP payload of an IPv4 (no options) or IPv6 (no extension headers) packet.
fn udp_payload(packet: &[u8]) -> &[u8] {
    let ip = if packet.first().is_some_and(|b| b >> 4 == 6) {
        IPV6_HEADER_LEN
    } else {
        IPV4_MIN_HEADER_LEN
    };
    let header = ip + UDP_HEADER_LEN;
    packet.get(header..).unwrap_or_default()
}

/// The packets of the capture dumpcap is writing at `path`, as far as it has flushed them.
fn captured_so_far(path: &Path) -> Vec<Vec<u8>> {
    let Ok(reader) = fs::File::open(path).map(capture::Reader::new) else {
        return Vec::new();
    };
    reader
        .map(|r| r.map_while(Result::ok).collect())
        .unwrap_or_default()
}

/// O10 on a live capture: `dumpcap` on loopback in a fresh namespace (a section header and an
/// interface description with options, enhanced packet blocks, an interface statistics block),
/// while UDP datagrams of four sizes go over IPv4 and IPv6. vnet reads the pcapng as the
/// datagrams sent, and as the classic pcap `editcap` makes of it. dumpcap says it captures
/// before it does, so probe datagrams go first until one shows up in its file.
#[test]
fn vnet_reads_a_live_dumpcap_capture() {
    let test = "vnet_reads_a_live_dumpcap_capture";
    if !require_root(test) {
        return;
    }
    let Some(version) = wireshark_tool("dumpcap", test) else {
        return;
    };
    eprintln!("{version}");
    let dir = Scratch::new("dumpcap");
    let (live, converted) = (dir.path("live.pcapng"), dir.path("live.pcap"));
    let ns = NetNs::new().expect("namespace");
    let mut dumpcap = Reaped(
        Command::new("ip")
            .args(["netns", "exec", ns.name(), "dumpcap", "-q", "-i", "lo"])
            .args(["-a", "duration:60", "-w"])
            .arg(&live)
            .stderr(Stdio::null())
            .spawn()
            .expect("dumpcap starts"),
    );
    const PROBE: &[u8] = b"probe";
    let payloads: Vec<Vec<u8>> = [1usize, 100, 1400, 3000]
        .iter()
        .map(|&n| vec![n as u8; n])
        .collect();
    let sent = ns
        .run(|| {
            let probe = UdpSocket::bind("127.0.0.1:0").expect("bind");
            // Received, so that no port-unreachable message joins the capture.
            let _probe_sink = UdpSocket::bind("127.0.0.1:9").expect("bind");
            let seen = within_10s(|| {
                probe.send_to(PROBE, "127.0.0.1:9").expect("probe");
                captured_so_far(&live)
                    .iter()
                    .any(|p| udp_payload(p) == PROBE)
            });
            assert!(seen, "dumpcap captured no probe in 10 s");
            let mut sent = Vec::new();
            for (to, from) in [("127.0.0.1:9999", "127.0.0.1:0"), ("[::1]:9999", "[::1]:0")] {
                let receiver = UdpSocket::bind(to).expect("bind");
                let sender = UdpSocket::bind(from).expect("bind");
                for p in &payloads {
                    sender.send_to(p, to).expect("send");
                    let mut buf = [0u8; 4096];
                    let (n, _) = receiver.recv_from(&mut buf).expect("receive");
                    assert_eq!(&buf[..n], &p[..]);
                    sent.push(p.clone());
                }
            }
            sent
        })
        .expect("in the namespace");
    // Once the last datagram is in the file, dumpcap is told to stop (it writes its statistics
    // block and exits).
    let last = sent.last().map(Vec::as_slice);
    within_10s(|| captured_so_far(&live).last().map(|p| udp_payload(p)) == last);
    let _ = Command::new("kill")
        .args(["-INT", &dumpcap.0.id().to_string()])
        .status();
    let status = dumpcap.0.wait().expect("dumpcap ends");
    assert!(status.success(), "dumpcap: {status}");

    let ours = read(&live);
    let datagrams: Vec<&[u8]> = ours
        .iter()
        .map(|p| udp_payload(p))
        .filter(|&p| p != PROBE)
        .collect();
    assert_eq!(datagrams, sent, "the datagrams, IPv4 then IPv6");
    editcap("pcap", &live, &converted);
    assert_eq!(read(&converted), ours, "the pcap editcap made of it");
    eprintln!(
        "{} packets read from dumpcap's pcapng ({} bytes), {} of them probes",
        ours.len(),
        fs::metadata(&live).expect("file").len(),
        ours.len() - sent.len()
    );
}
