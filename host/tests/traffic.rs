//! Real packets through a TUN device inside a network namespace: a UDP datagram from a socket
//! comes out of the device with a vnet header, a datagram written into the device reaches the
//! socket, and a packet too long for the read buffer is reported, not truncated. With offloads on,
//! the batched API splits what the kernel hands over (core's gso) and coalesces what it writes
//! (core's gro), and the kernel agrees with both.

// In a test, an out-of-range index is a failure report, which is what a panic is for.
#![allow(clippy::indexing_slicing)]

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use vnet_core::check::{self, CheckOptions, Offload};
use vnet_core::csum;
use vnet_core::hdr::{Flags, GsoType, Layout, VnetHdr};
use vnet_host::batch::{Coalescer, Received};
use vnet_host::netns::{NetNs, require_root};
use vnet_host::udp::BatchSocket;
use vnet_host::{Device, DeviceKind, Error, Offloads, Options};

#[path = "common/udp.rs"]
mod udp;

const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PEER_PORT: u16 = 9999;
const HDR_LEN: usize = 12;

/// A namespace with TUN `vt0` up as 192.0.2.1/24 (12-byte header, non-blocking, no offloads)
/// and a UDP socket bound to 192.0.2.1 inside it: `body` runs with the device and the socket
/// (skipped without root).
fn with_tun(test: &str, body: impl FnOnce(&Device, &UdpSocket)) {
    if !require_root(test) {
        return;
    }
    let ns = NetNs::new().expect("ip netns add");
    ns.disable_ipv6().expect("disable IPv6 in the namespace");
    let tun = Options::new(DeviceKind::Tun).name("vt0").layout(Layout::V1);
    let dev = ns.open(&tun.nonblocking(true)).expect("open TUN");
    ns.addr_add("vt0", &format!("{LOCAL}/24")).unwrap();
    ns.link_up("vt0").unwrap();
    // The socket is created inside the namespace (and stays there), after its address exists.
    let sock = ns
        .run(|| UdpSocket::bind(SocketAddrV4::new(LOCAL, 0)))
        .expect("enter namespace")
        .expect("bind UDP socket");
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    body(&dev, &sock);
}

/// The socket's IPv4 address.
fn local_addr(sock: &UdpSocket) -> SocketAddrV4 {
    match sock.local_addr().unwrap() {
        SocketAddr::V4(v4) => v4,
        other => panic!("IPv4 socket expected, got {other}"),
    }
}

/// Calls `op` until it stops returning [`Error::WouldBlock`], for at most 2 s.
fn poll<T>(mut op: impl FnMut() -> Result<T, Error>) -> Result<T, Error> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match op() {
            Err(Error::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            other => return other,
        }
    }
}

/// Reads packets until one is an IPv4/UDP datagram to PEER:PEER_PORT.
fn read_udp_to_peer(dev: &Device, hdr: &mut [u8], buf: &mut [u8]) -> Result<usize, Error> {
    loop {
        let len = poll(|| dev.read_packet(hdr, buf))?;
        if is_udp_to_peer(&buf[..len]) {
            return Ok(len);
        }
    }
}

fn is_udp_to_peer(pkt: &[u8]) -> bool {
    pkt.len() >= 28
        && pkt[0] == 0x45
        && pkt[9] == 17
        && pkt[16..20] == PEER.octets()
        && pkt[22..24] == PEER_PORT.to_be_bytes()
}

/// An IPv4/UDP datagram with correct header and UDP checksums (IPv4 ID 1).
fn udp_datagram(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    udp::udp_datagram_with_id(src, dst, payload, 1)
}

#[test]
fn udp_from_a_socket_comes_out_of_the_tun_with_a_zero_header() {
    let test = "udp_from_a_socket_comes_out_of_the_tun_with_a_zero_header";
    with_tun(test, |dev, sock| {
        let payload = b"hello through vnet";
        sock.send_to(payload, SocketAddrV4::new(PEER, PEER_PORT))
            .unwrap();

        let (mut hdr, mut buf) = ([0xaau8; HDR_LEN], [0u8; 1500]);
        let len = read_udp_to_peer(dev, &mut hdr, &mut buf).unwrap();
        // No offloads were set, so the kernel checksummed the packet: flags are 0 or DATA_VALID
        // (T20), no GSO, and no other field is used (T18: num_buffers is zero).
        assert!(hdr[0] == 0 || hdr[0] == 0x02, "flags {:#x}", hdr[0]);
        assert_eq!(hdr[1..], [0; HDR_LEN - 1], "header {hdr:02x?}");

        // The same through the typed API: vnet-core decodes the header.
        sock.send_to(payload, SocketAddrV4::new(PEER, PEER_PORT))
            .unwrap();
        let (typed, typed_len) = loop {
            let (hdr, len) = poll(|| dev.recv(&mut buf)).unwrap();
            if is_udp_to_peer(&buf[..len]) {
                break (hdr, len);
            }
        };
        assert_eq!(typed_len, len);
        assert!(
            typed == VnetHdr::default()
                || typed
                    == (VnetHdr {
                        flags: Flags::DATA_VALID,
                        ..VnetHdr::default()
                    }),
            "{typed:?}"
        );

        let pkt = &buf[..len];
        let expected = udp_datagram(
            local_addr(sock),
            SocketAddrV4::new(PEER, PEER_PORT),
            payload,
        );
        assert_eq!(len, expected.len());
        assert_eq!(pkt[12..20], expected[12..20], "addresses");
        assert_eq!(
            pkt[20..],
            expected[20..],
            "UDP header (with checksum) and payload"
        );
    });
}

#[test]
fn udp_written_into_the_tun_reaches_the_socket() {
    let test = "udp_written_into_the_tun_reaches_the_socket";
    with_tun(test, |dev, sock| {
        let local = local_addr(sock);
        let peer = SocketAddrV4::new(PEER, PEER_PORT);
        let payload = b"hello back from the peer";
        let pkt = udp_datagram(peer, local, payload);
        let written = dev.write_packet(&[0u8; HDR_LEN], &pkt).unwrap();
        assert_eq!(written, pkt.len());
        let mut buf = [0u8; 1500];
        let (n, from) = sock.recv_from(&mut buf).expect("datagram from the TUN");
        assert_eq!(&buf[..n], payload);
        assert_eq!(from, SocketAddr::V4(peer));

        // The same through the typed API: vnet-core encodes an all-default header (no offload).
        let payload = b"typed hello";
        let pkt = udp_datagram(peer, local, payload);
        assert_eq!(dev.send(&VnetHdr::default(), &pkt).unwrap(), pkt.len());

        let mut buf = [0u8; 1500];
        let (n, from) = sock.recv_from(&mut buf).expect("datagram from the TUN");
        assert_eq!(&buf[..n], payload);
        assert_eq!(from, SocketAddr::V4(peer));
    });
}

#[test]
fn a_packet_longer_than_the_buffer_is_reported_as_truncated() {
    let test = "a_packet_longer_than_the_buffer_is_reported_as_truncated";
    with_tun(test, |dev, sock| {
        let peer = SocketAddrV4::new(PEER, PEER_PORT);
        sock.send_to(&[7u8; 200], peer).unwrap();
        let (mut hdr, mut small) = ([0u8; HDR_LEN], [0u8; 64]);
        let err = poll(|| dev.read_packet(&mut hdr, &mut small)).unwrap_err();
        assert!(matches!(err, Error::Truncated { capacity: 64 }), "{err:?}");

        // A packet that fits exactly (20 + 8 + 36 = 64 bytes) is not mistaken for a truncated one.
        sock.send_to(&[8u8; 36], peer).unwrap();
        let len = read_udp_to_peer(dev, &mut hdr, &mut small).unwrap();
        assert_eq!(len, 64);
        assert_eq!(small[28..], [8u8; 36]);
    });
}

/// Batched receive: with USO on the device, a UDP_SEGMENT send of ten datagrams reaches the TUN
/// as one super-packet; `recv_split` (core's check + gso) gives back the ten datagrams, each a
/// plain, fully checksummed packet carrying its piece of the data.
#[test]
fn batched_receive_splits_what_the_kernel_hands_over() {
    let test = "batched_receive_splits_what_the_kernel_hands_over";
    with_tun(test, |dev, sock| {
        dev.set_offloads(Offloads::CSUM | Offloads::TSO | Offloads::USO)
            .unwrap();
        sock.connect(SocketAddrV4::new(PEER, PEER_PORT)).unwrap();
        let wire = BatchSocket::new(sock.try_clone().expect("dup the socket"));
        assert!(
            wire.enable_gso(true),
            "UDP_SEGMENT is available on this kernel"
        );
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + 3) as u8).collect();
        wire.send_segments(&data, 1000).unwrap();

        let (mut buf, mut out) = (vec![0u8; 65536], vec![0u8; 70_000]);
        let received = loop {
            let r = poll(|| dev.recv_split(&mut buf, &mut out)).unwrap();
            // Skip anything else the kernel might send (nothing is expected with IPv6 off).
            if let Received::Segments { .. } = r {
                break r;
            }
        };
        let Received::Segments { len, stride, count } = received else {
            unreachable!()
        };
        assert_eq!((count, stride, len), (10, 1028, 10 * 1028));
        for (i, seg) in out[..len].chunks(stride).enumerate() {
            assert_eq!(
                check::check(&VnetHdr::default(), seg, &CheckOptions::default()),
                Ok(Offload::Plain)
            );
            assert!(
                csum::verify(&seg[..20]),
                "segment {i}: IPv4 header checksum"
            );
            let pseudo = csum::pseudo_header_v4(LOCAL.octets(), PEER.octets(), 17, 1008);
            assert_eq!(
                csum::combine(pseudo, csum::sum(&seg[20..])),
                0xffff,
                "segment {i}: UDP checksum"
            );
            assert_eq!(
                seg[28..],
                data[i * 1000..(i + 1) * 1000],
                "segment {i}: payload"
            );
        }
    });
}

/// Batched send: ten datagrams from the "peer" coalesce (core's gro, UDP on) into one USO
/// super-packet, written once; the kernel takes it and the socket receives the ten datagrams.
#[test]
fn batched_send_coalesces_and_the_kernel_delivers() {
    let test = "batched_send_coalesces_and_the_kernel_delivers";
    with_tun(test, |dev, sock| {
        let local = local_addr(sock);
        let peer = SocketAddrV4::new(PEER, PEER_PORT);
        let (mut bufs, lens) = udp::coalescible_batch(peer, local);
        let mut coalescer = Coalescer::new(16, udp::udp_gro());
        let outputs = coalescer.coalesce(&mut bufs.clone(), &lens).unwrap();
        assert_eq!(outputs.len(), 1);
        assert_eq!(outputs[0].hdr.gso_type, GsoType::UDP_L4);
        assert_eq!(
            dev.send_coalesced(&mut coalescer, &mut bufs, &lens)
                .unwrap(),
            1
        );
        let mut buf = [0u8; 1500];
        for i in 0..10u8 {
            let (n, from) = sock.recv_from(&mut buf).expect("a datagram of the train");
            assert_eq!(from, SocketAddr::V4(peer));
            assert_eq!(&buf[..n], &[i; 1000][..], "datagram {i}");
        }
    });
}
