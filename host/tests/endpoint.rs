//! The VMM endpoint end to end (as root, each test in throw-away namespaces, removed on drop even
//! when a test fails): OpenVMM's two TAP integration tests in spirit (a SYN with TCP and IPv4
//! header checksum offload reaching a kernel socket; an NDIS-style TSO frame with IPv4 checksum
//! and total length 0, fixed up and received intact), a kernel TCP sender's super-packets read
//! through one endpoint and re-sent through a second (a bridge), every agreement's TUNSETOFFLOAD
//! bits taken by the kernel (F7), and `from_fd` resetting offloads someone else set.

// In a test, an out-of-range index is a failure report, which is what a panic is for.
#![allow(clippy::indexing_slicing)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use vnet_core::hdr::{GsoType, Layout};
use vnet_core::meta::{TxFlags, TxMetadata};
use vnet_core::virtio::{self, Features};
use vnet_host::netns::{NetNs, require_root};
use vnet_host::{DeviceKind, Endpoint, Error, Offloads, Options, Received};
use vnet_packet::{L4, PacketSpec, tcp_flags};

const TAP_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const PORT: u16 = 5001;
const PEER_PORT: u16 = 40000;

/// Whether `test` can run (as root), printing the kernel it runs on.
fn rooted(test: &str) -> bool {
    let root = require_root(test);
    if root {
        eprintln!("{test}: kernel {}", vnet_host::kernel::release());
    }
    root
}

/// Runs `body` with a new namespace (skipped without root).
fn in_netns(test: &str, body: impl FnOnce(&NetNs)) {
    if rooted(test) {
        body(&NetNs::new().expect("ip netns add"));
    }
}

/// A namespace with TAP `ep0` (12-byte header, non-blocking, MAC `TAP_MAC`) up as 10.9.0.1/24, a
/// permanent neighbour entry for the peer 10.9.0.2 at `PEER_MAC`, a TCP listener on
/// 10.9.0.1:5001, and an endpoint over the TAP with no offloads: `body` runs with the endpoint
/// and the listener (skipped without root).
fn with_tap(test: &str, body: impl FnOnce(&Endpoint, &TcpListener)) {
    in_netns(test, |ns| tap_in(ns, body));
}

/// [`with_tap`]'s set-up in `ns`.
fn tap_in(ns: &NetNs, body: impl FnOnce(&Endpoint, &TcpListener)) {
    ns.disable_ipv6().expect("disable IPv6 in the namespace");
    let tap = Options::new(DeviceKind::Tap).name("ep0").layout(Layout::V1);
    let dev = ns.open(&tap.nonblocking(true)).expect("open TAP");
    ns.ip(&["link", "set", "ep0", "address", "02:00:00:00:00:01"])
        .unwrap();
    ns.addr_add("ep0", &format!("{LOCAL}/24")).unwrap();
    ns.link_up("ep0").unwrap();
    ns.ip(&[
        "neigh",
        "add",
        &PEER.to_string(),
        "lladdr",
        "02:00:00:00:00:02",
        "dev",
        "ep0",
        "nud",
        "permanent",
    ])
    .unwrap();
    let listener = ns
        .run(|| TcpListener::bind(SocketAddrV4::new(LOCAL, PORT)))
        .unwrap()
        .unwrap();
    listener.set_nonblocking(true).unwrap();
    let ep = Endpoint::new(dev, Offloads::NONE).expect("endpoint");
    body(&ep, &listener);
}

/// A TCP segment from the peer to the listener, as a TAP frame.
fn peer_segment(seq: u32, ack: u32, flags: u8, payload: Vec<u8>) -> PacketSpec {
    let mut spec = PacketSpec::tcp4(0);
    spec.src[..4].copy_from_slice(&PEER.octets());
    spec.dst[..4].copy_from_slice(&LOCAL.octets());
    (spec.src_port, spec.dst_port) = (PEER_PORT, PORT);
    spec.l4 = L4::Tcp {
        seq,
        ack,
        flags,
        window: 0xffff,
    };
    spec.payload = payload;
    spec.ethernet = Some(None);
    spec
}

/// The frame as a guest with checksum offload hands it over: MACs set, the TCP checksum field
/// holding the pseudo-header sum, the IPv4 header checksum 0.
fn guest_frame(spec: &PacketSpec) -> Vec<u8> {
    let mut frame = spec.build_partial();
    frame[..6].copy_from_slice(&TAP_MAC);
    frame[6..12].copy_from_slice(&PEER_MAC);
    frame[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
    frame
}

fn checksum_meta() -> TxMetadata {
    TxMetadata {
        flags: TxFlags::IS_IPV4
            .with(TxFlags::OFFLOAD_TCP_CHECKSUM)
            .with(TxFlags::OFFLOAD_IP_HEADER_CHECKSUM),
        l2_len: 14,
        l3_len: 20,
        ..TxMetadata::default()
    }
}

/// One frame from `ep` if one comes within `wait` (a non-blocking read after the wait); `None`
/// when none does. Any other error fails the test.
fn recv_within(ep: &Endpoint, buf: &mut [u8], wait: Duration) -> Option<Received> {
    if !ep.device().wait_readable(wait).unwrap() {
        return None;
    }
    match ep.recv(buf) {
        Ok(got) => Some(got),
        Err(Error::WouldBlock) => None,
        Err(e) => panic!("recv: {e}"),
    }
}

/// Waits for the kernel's TCP segment to the peer with all of `flags`; returns its sequence
/// number.
fn await_segment(ep: &Endpoint, flags: u8) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline {
        let Some(got) = recv_within(ep, &mut buf, Duration::from_millis(100)) else {
            continue;
        };
        let f = &buf[..got.len()];
        if f.len() < 54 || f[12..14] != [0x08, 0x00] || f[23] != 6 {
            continue;
        }
        let tcp = &f[14 + usize::from(f[14] & 0xf) * 4..];
        let dport = u16::from_be_bytes([tcp[2], tcp[3]]);
        if dport == PEER_PORT && tcp[13] & flags == flags {
            return u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
        }
    }
    panic!("no segment with flags {flags:#x} from the kernel within 5 s");
}

/// Sends the peer's SYN with sequence number `isn`, its checksums left to the backend, and waits
/// for the kernel's SYN-ACK; returns the SYN-ACK's sequence number.
fn syn_handshake(ep: &Endpoint, isn: u32) -> u32 {
    let mut syn = guest_frame(&peer_segment(isn, 0, tcp_flags::SYN, vec![]));
    ep.send(&checksum_meta(), &mut syn).expect("send SYN");
    await_segment(ep, tcp_flags::SYN | tcp_flags::ACK)
}

/// OpenVMM's `tap_tx_with_offloads` in spirit: a SYN whose TCP checksum and IPv4 header checksum
/// are left to the backend goes through `send` and the kernel answers with a SYN-ACK (a SYN with
/// a wrong checksum is dropped silently).
#[test]
fn endpoint_syn_with_tcp_and_ip_checksum_offload_reaches_a_socket() {
    let test = "endpoint_syn_with_tcp_and_ip_checksum_offload_reaches_a_socket";
    with_tap(test, |ep, _| {
        syn_handshake(ep, 1000);
    });
}

/// OpenVMM's `tap_tso_ipv4_checksum` in spirit: after a handshake through the endpoint, an
/// NDIS-style TSO frame (IPv4 header checksum 0 and total length 0, TCP checksum partial) is
/// fixed up (M9), segmented by the kernel and read intact from the accepted socket.
#[test]
fn endpoint_tso_frame_with_ipv4_checksum_zero_is_received_intact() {
    let test = "endpoint_tso_frame_with_ipv4_checksum_zero_is_received_intact";
    with_tap(test, |ep, listener| {
        let isn = 7_000u32;
        let their = syn_handshake(ep, isn);
        let mut ack = guest_frame(&peer_segment(
            isn + 1,
            their.wrapping_add(1),
            tcp_flags::ACK,
            vec![],
        ));
        ep.send(&checksum_meta(), &mut ack).unwrap();
        let payload: Vec<u8> = (0..3500u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut tso = guest_frame(&peer_segment(
            isn + 1,
            their.wrapping_add(1),
            tcp_flags::ACK | tcp_flags::PSH,
            payload.clone(),
        ));
        // NDIS LSO leaves the IPv4 total length 0 as well.
        tso[14 + 2..14 + 4].copy_from_slice(&[0, 0]);
        let meta = TxMetadata {
            flags: checksum_meta()
                .flags
                .with(TxFlags::OFFLOAD_TCP_SEGMENTATION),
            l4_len: 20,
            max_segment_size: 1000,
            ..checksum_meta()
        };
        ep.send(&meta, &mut tso).expect("send TSO");
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "no connection accepted");
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = vec![0u8; payload.len()];
        stream.read_exact(&mut got).expect("the TSO payload");
        assert_eq!(got, payload);
    });
}

/// Two TAP endpoints bridged, each in its own namespace, with TSO in TUNSETOFFLOAD: a kernel TCP
/// sender's super-packets come out of one endpoint as metadata and frame and go back in through
/// the other (`Received::forward`, M6), and the receiver reads every byte.
#[test]
fn endpoint_bridge_forwards_kernel_tso_super_packets() {
    if !rooted("endpoint_bridge_forwards_kernel_tso_super_packets") {
        return;
    }
    let open = |ns: &NetNs, name: &str, addr: &str| {
        ns.disable_ipv6().expect("disable IPv6 in the namespace");
        let tap = Options::new(DeviceKind::Tap).name(name).layout(Layout::V1);
        let dev = ns.open(&tap.nonblocking(true)).expect("open TAP");
        ns.addr_add(name, addr).unwrap();
        ns.link_up(name).unwrap();
        Endpoint::new(dev, Offloads::CSUM | Offloads::TSO).expect("endpoint")
    };
    let (ns_a, ns_b) = (NetNs::new().unwrap(), NetNs::new().unwrap());
    let a = open(&ns_a, "br0a", "10.7.0.1/24");
    let b = open(&ns_b, "br0b", "10.7.0.2/24");
    assert!(a.offloads().contains(Offloads::TSO), "{:?}", a.offloads());
    let listener = ns_b
        .run(|| TcpListener::bind("10.7.0.2:5002"))
        .unwrap()
        .unwrap();
    let stop = AtomicBool::new(false);
    let gso_frames = AtomicUsize::new(0);
    let data: Vec<u8> = (0..512 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::thread::scope(|s| {
        let (a, b, stop, gso) = (&a, &b, &stop, &gso_frames);
        s.spawn(move || forward(a, b, stop, gso));
        s.spawn(move || forward(b, a, stop, gso));
        let receiver = s.spawn(|| {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut got = Vec::new();
            stream.read_to_end(&mut got).unwrap();
            got
        });
        let mut sender = ns_a
            .run(|| TcpStream::connect("10.7.0.2:5002"))
            .unwrap()
            .expect("connect through the bridge");
        sender.write_all(&data).unwrap();
        drop(sender);
        let got = receiver.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        assert!(
            got == data,
            "{} of {} bytes, not equal",
            got.len(),
            data.len()
        );
    });
    let gso = gso_frames.load(Ordering::Relaxed);
    eprintln!("GSO super-packets forwarded: {gso}");
    assert!(gso > 0, "the kernel handed the endpoint no super-packet");
}

/// F7 against the kernel, exhaustive over the GUEST_ bits of the dependency table: every valid
/// agreement's TUNSETOFFLOAD bits are taken as they are (the tunnel bits, on kernels without them,
/// fall back to what `negotiate_offloads` keeps).
#[test]
fn endpoint_every_guest_feature_set_gives_offloads_the_kernel_takes() {
    in_netns(
        "endpoint_every_guest_feature_set_gives_offloads_the_kernel_takes",
        |ns| {
            let guest: Vec<Features> = (0..128u32)
                .map(|n| Features(1 << n))
                .filter(|f| Features::DEPENDENT.contains(*f))
                .filter(|f| virtio::feature_name(*f).is_some_and(|n| n.starts_with("GUEST_")))
                .collect();
            assert_eq!(guest.len(), 9);
            let mut tried = 0;
            for combo in 0u32..(1 << guest.len()) {
                let mut set = Features::VERSION_1;
                for (i, f) in guest.iter().enumerate() {
                    if combo & (1 << i) != 0 {
                        set = set.with(*f);
                    }
                }
                let Ok(agreed) = virtio::negotiate(set, set) else {
                    continue;
                };
                if agreed.layout().is_err() {
                    // The tunnel without HASH_REPORT (F4); with it, 24 bytes: use that layout.
                    let with_hash = set.with(Features::HASH_REPORT);
                    let agreed = virtio::negotiate(with_hash, with_hash).unwrap();
                    check_agreement(ns, tried, agreed, Layout::V1HashTunnel);
                } else {
                    check_agreement(ns, tried, agreed, Layout::V1);
                }
                tried += 1;
            }
            eprintln!("agreements tried: {tried}");
        },
    );
}

/// Opens TAP `feat{n}` (a name of its own per agreement: a child process forked by another test
/// at the wrong moment holds a copy of the previous fd until it execs, so reusing one name can
/// meet EBUSY) with `agreed`'s offloads and checks the kernel took them.
fn check_agreement(ns: &NetNs, n: usize, agreed: virtio::Agreed, layout: Layout) {
    let name = format!("feat{n}");
    let tap = Options::new(DeviceKind::Tap).name(&name).layout(layout);
    let dev = ns.open(&tap).expect("open TAP");
    let wanted = Offloads::from_bits_retain(agreed.tap_offloads());
    let ep = Endpoint::for_agreement(dev, agreed).expect("endpoint");
    let tunnel = Offloads::UDP_TUNNEL;
    if wanted.intersects(tunnel) && !ep.offloads().intersects(tunnel) {
        // A kernel before 6.17 refuses the tunnel bits; the rest must still be there or less.
        assert_eq!(ep.offloads().without(wanted), Offloads::NONE);
    } else {
        assert_eq!(ep.offloads(), wanted, "{:?}", agreed.features());
    }
}

/// `from_fd` on an fd whose offloads another owner set: the endpoint clears them and sets its own
/// (OpenVMM resets offloads when it adopts an fd). The kernel's view is read back with ethtool
/// where it is installed.
#[test]
fn endpoint_from_fd_resets_offloads_set_by_someone_else() {
    in_netns(
        "endpoint_from_fd_resets_offloads_set_by_someone_else",
        |ns| {
            let dev = ns
                .open(&Options::new(DeviceKind::Tap).name("adopt0"))
                .expect("open TAP");
            dev.set_offloads(Offloads::CSUM | Offloads::TSO | Offloads::TSO_ECN)
                .unwrap();
            let ep = Endpoint::from_fd(OwnedFd::from(dev), Offloads::CSUM).expect("adopt");
            assert_eq!(ep.offloads(), Offloads::CSUM);
            let tso_on = |ns: &NetNs| {
                let out = std::process::Command::new("ip")
                    .args(["netns", "exec", ns.name(), "ethtool", "-k", "adopt0"])
                    .output()
                    .ok()?;
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.lines()
                    .find(|l| l.starts_with("tcp-segmentation-offload:"))
                    .map(|l| l.contains(": on"))
            };
            match tso_on(ns) {
                Some(on) => assert!(!on, "TSO survived the adoption"),
                None => eprintln!("ethtool not available: the kernel's view is not read back"),
            }
            let ep = Endpoint::from_fd(OwnedFd::from(ep.into_device()), Offloads::NONE).unwrap();
            assert_eq!(ep.offloads(), Offloads::NONE);
        },
    );
}

/// The bridge's one direction: what `from` reads goes out through `to`, until `stop`.
fn forward(from: &Endpoint, to: &Endpoint, stop: &AtomicBool, gso_frames: &AtomicUsize) {
    let mut buf = vec![0u8; 65536 + 64];
    while !stop.load(Ordering::Relaxed) {
        let Some(got) = recv_within(from, &mut buf, Duration::from_millis(50)) else {
            continue;
        };
        if got.hdr.gso_type != GsoType::NONE {
            gso_frames.fetch_add(1, Ordering::Relaxed);
        }
        let frame = &mut buf[..got.len()];
        let meta = got.forward(frame).expect("forward metadata");
        to.send(&meta, frame).expect("send on the other side");
    }
}
