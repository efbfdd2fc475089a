//! `vnet_host::tokio::AsyncDevice` moving real packets through a TUN device in a namespace, on a
//! tokio runtime: a UDP_SEGMENT train from a socket is awaited as one super-packet and split with
//! room around each datagram; a batch written with `send_coalesced` reaches the socket; a plain
//! datagram goes both ways. The device is configured with `vnet_host::link`, no `ip` binary.
//!
//! The feature is on in every `cargo test` of this crate: vnet-host dev-depends on itself with
//! `tokio` (see host/Cargo.toml).

#![allow(clippy::indexing_slicing)]

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use vnet_core::hdr::Layout;
use vnet_host::batch::{Coalescer, Room};
use vnet_host::netns::{NetNs, require_root};
use vnet_host::tokio::AsyncDevice;
use vnet_host::udp::BatchSocket;
use vnet_host::{DeviceKind, Offloads, Options};

#[path = "common/udp.rs"]
mod udp;

const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PEER_PORT: u16 = 9999;

/// A guard against a hang, not a performance assertion: a packet that never comes fails the
/// test instead of blocking CI.
const GUARD: Duration = Duration::from_secs(10);

/// Runs `body` on a current-thread tokio runtime inside a fresh namespace whose TUN `va0` is up
/// as 192.0.2.1/24 with CSUM, TSO and USO on (IPv6 off, so the device stays quiet), with a UDP
/// socket bound to 192.0.2.1.
fn in_netns_async<F>(test: &str, body: impl FnOnce(AsyncDevice, UdpSocket) -> F + Send)
where
    F: Future<Output = ()>,
{
    if !require_root(test) {
        return;
    }
    eprintln!("{test}: kernel {}", vnet_host::kernel::release());
    let ns = NetNs::new().expect("ip netns add");
    ns.disable_ipv6().expect("disable IPv6 in the namespace");
    ns.run(|| {
        let dev = Options::new(DeviceKind::Tun)
            .name("va0")
            .layout(Layout::V1)
            .open()
            .expect("open TUN");
        dev.set_offloads(Offloads::CSUM | Offloads::TSO | Offloads::USO)
            .unwrap();
        dev.add_address(LOCAL.into(), 24).unwrap();
        dev.set_up(true).unwrap();
        let sock = UdpSocket::bind(SocketAddrV4::new(LOCAL, 0)).expect("bind UDP socket");
        sock.set_read_timeout(Some(GUARD)).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(async move {
            let dev = AsyncDevice::new(dev).expect("register with tokio");
            tokio::time::timeout(GUARD, body(dev, sock))
                .await
                .expect("packets within the guard time");
        });
    })
    .expect("enter namespace");
}

fn is_udp_to_peer(pkt: &[u8]) -> bool {
    pkt.len() >= 28 && pkt[9] == 17 && pkt[16..20] == PEER.octets()
}

/// A UDP_SEGMENT train of ten datagrams is awaited as one read and placed with 16 bytes of room
/// before and after each: the ten datagrams in order, the room untouched.
#[test]
fn async_recv_split_with_room_gets_a_udp_segment_train() {
    in_netns_async(
        "async_recv_split_with_room_gets_a_udp_segment_train",
        |dev, sock| async move {
            sock.connect(SocketAddrV4::new(PEER, PEER_PORT)).unwrap();
            let wire = BatchSocket::new(sock);
            assert!(wire.enable_gso(true), "UDP_SEGMENT on this kernel");
            let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + 3) as u8).collect();
            wire.send_segments(&data, 1000).unwrap();
            let room = Room { head: 16, tail: 16 };
            let (mut buf, mut out) = (vec![0u8; 65536], vec![0xA5u8; 80_000]);
            let spaced = loop {
                out.fill(0xA5);
                let spaced = dev
                    .recv_split_with_room(&mut buf, &mut out, room)
                    .await
                    .unwrap();
                if spaced.count > 1 {
                    break spaced;
                }
            };
            assert_eq!((spaced.count, spaced.segment_size), (10, 1028));
            for (i, at) in spaced.packets().enumerate() {
                let seg = &out[at.clone()];
                assert!(is_udp_to_peer(seg), "segment {i}");
                assert_eq!(seg[28..], data[i * 1000..(i + 1) * 1000], "segment {i}");
                let whole = spaced.with_room(i).unwrap();
                assert!(out[whole.start..at.start].iter().all(|&b| b == 0xA5));
                assert!(out[at.end..whole.end].iter().all(|&b| b == 0xA5));
            }
        },
    );
}

/// Ten datagrams from the "peer" coalesce into one USO super-packet, written by the async
/// device; the socket receives the ten. Then one plain datagram each way with `send`/`recv`.
#[test]
fn async_send_coalesced_and_plain_packets_both_ways() {
    in_netns_async(
        "async_send_coalesced_and_plain_packets_both_ways",
        |dev, sock| async move {
            let SocketAddr::V4(local) = sock.local_addr().unwrap() else {
                panic!("IPv4 socket expected")
            };
            let peer = SocketAddrV4::new(PEER, PEER_PORT);
            let (mut bufs, lens) = udp::coalescible_batch(peer, local);
            let mut coalescer = Coalescer::new(16, udp::udp_gro());
            let writes = dev
                .send_coalesced(&mut coalescer, &mut bufs, &lens)
                .await
                .unwrap();
            assert_eq!(writes, 1, "one super-packet");
            let mut buf = [0u8; 1500];
            for i in 0..10u8 {
                let (n, from) = sock.recv_from(&mut buf).expect("a datagram of the train");
                assert_eq!(from, SocketAddr::V4(peer));
                assert_eq!(&buf[..n], &[i; 1000][..], "datagram {i}");
            }
            // One datagram in through the device...
            let pkt = udp::udp_datagram_with_id(peer, local, b"hello", 7);
            dev.send(&Default::default(), &pkt).await.unwrap();
            let (n, _) = sock.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"hello");
            // ...and one out through it.
            sock.send_to(b"world", peer).unwrap();
            let mut read = vec![0u8; 65536];
            loop {
                let (_, len) = dev.recv(&mut read).await.unwrap();
                if is_udp_to_peer(&read[..len]) {
                    assert_eq!(&read[28..len], b"world");
                    break;
                }
            }
        },
    );
}

/// `recv` on an idle device waits and is woken: `join!` polls the read first (the device is
/// empty, so it finds EAGAIN and parks on the reactor), then the second branch sends the
/// datagram that wakes it.
#[test]
fn async_recv_parks_on_an_idle_device_and_wakes() {
    in_netns_async(
        "async_recv_parks_on_an_idle_device_and_wakes",
        |dev, sock| async move {
            let mut read = vec![0u8; 65536];
            let wait = async {
                loop {
                    let (_, len) = dev.recv(&mut read).await.unwrap();
                    if is_udp_to_peer(&read[..len]) {
                        return read[28..len].to_vec();
                    }
                }
            };
            let send = async {
                tokio::task::yield_now().await;
                sock.send_to(b"wake", SocketAddrV4::new(PEER, PEER_PORT))
                    .unwrap();
            };
            let (payload, ()) = tokio::join!(wait, send);
            assert_eq!(payload, b"wake");
        },
    );
}
