//! `vnet_host::gro_iov` through real TUN devices (G9): one `UDP_GRO`-shaped receive buffer
//! (TCPv4 datagrams of one size back to back, two interleaved flows and a stray packet) is
//! coalesced in place and written into TUN A; the kernel forwards every packet, super-packets
//! whole, out of TUN B (TSO on), whose reader must get exactly what the copying form
//! (`Gro::coalesce`) makes of the same datagrams: the same GSO type and size, the same bytes (after
//! the forwarding's TTL and checksum are undone). Root; the namespace and both devices go with
//! the test.

use std::time::Duration;

use vnet_core::gro::{Gro, GroOptions, IovOutput, Output};
use vnet_core::hdr::{GsoType, Layout, VnetHdr};
use vnet_host::gro_iov::GroIov;
use vnet_host::kernel::undo_forwarding;
use vnet_host::netns::{NetNs, require_root};
use vnet_host::{Device, DeviceKind, Error, Offloads, Options};
use vnet_spec::packet::{L4, PacketSpec, tcp_flags};

/// Segment `index` of flow `flow` (its source port), `mss` payload bytes, IDs incrementing, ACK
/// and `flags`.
fn segment(flow: u16, index: usize, mss: usize, flags: u8) -> Vec<u8> {
    let mut s = PacketSpec::tcp4(mss);
    s.src_port = 40000 + flow;
    s.ip_id = 0x100 + index as u16;
    s.l4 = L4::Tcp {
        seq: 1000 + (index * mss) as u32,
        ack: 1,
        flags: tcp_flags::ACK | flags,
        window: 512,
    };
    for (k, b) in s.payload.iter_mut().enumerate() {
        *b = (k + 7 * index + 31 * usize::from(flow)) as u8;
    }
    s.build()
}

/// What the copying form makes of `pkts`: (header, packet) per output.
fn copying(pkts: &[Vec<u8>]) -> Vec<(VnetHdr, Vec<u8>)> {
    let mut bufs: Vec<Vec<u8>> = pkts
        .iter()
        .map(|p| {
            let mut b = p.clone();
            b.resize(65535, 0);
            b
        })
        .collect();
    let lens: Vec<usize> = pkts.iter().map(Vec::len).collect();
    let mut out = vec![Output::default(); pkts.len()];
    let mut owner = vec![0; pkts.len()];
    let n = Gro::<8>::new(GroOptions::default())
        .coalesce(&mut bufs, &lens, &mut out, &mut owner)
        .unwrap();
    out[..n]
        .iter()
        .map(|o| (o.hdr, bufs[o.index][..o.len].to_vec()))
        .collect()
}

/// Reads B until `count` packets to the test's destination came, or nothing more does for a while
/// (a packet the kernel dropped is then missing, and the comparison says so). Anything else B
/// sends (IPv6 neighbour discovery) is skipped.
fn read_b(b: &Device, count: usize) -> Vec<(VnetHdr, Vec<u8>)> {
    let mut buf = vec![0u8; 65535];
    let mut got = Vec::new();
    while got.len() < count {
        match b.recv(&mut buf) {
            Ok((hdr, len)) if buf[0] >> 4 == 4 && buf[16..20] == [198, 51, 100, 2] => {
                got.push((hdr, buf[..len].to_vec()))
            }
            Ok(_) => {}
            Err(Error::WouldBlock) => {
                if !b.wait_readable(Duration::from_secs(5)).unwrap() {
                    break;
                }
            }
            Err(e) => panic!("read B: {e}"),
        }
    }
    got
}

#[test]
fn gro_iov_writes_what_the_copying_form_makes() {
    if !require_root("gro_iov_writes_what_the_copying_form_makes") {
        return;
    }
    println!(
        "kernel: {}",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap()
            .trim()
    );
    let ns = NetNs::new().expect("ip netns add");
    ns.forward_ipv4().unwrap();
    for (key, value) in [
        ("net/ipv6/conf/default/addr_gen_mode", "1"),
        ("net/ipv6/conf/default/accept_dad", "0"),
        ("net/ipv6/conf/default/router_solicitations", "0"),
    ] {
        ns.sysctl(key, value).unwrap();
    }
    let (a, b) = ns
        .run(|| {
            let open = |name: &str| {
                Options::new(DeviceKind::Tun)
                    .name(name)
                    .layout(Layout::V1)
                    .nonblocking(true)
                    .open()
                    .unwrap()
            };
            let (a, b) = (open("vgia"), open("vgib"));
            // B's reader takes super-packets whole (T11); A's offloads concern only A's reader.
            b.set_offloads(Offloads::CSUM | Offloads::TSO).unwrap();
            (a, b)
        })
        .expect("enter namespace");
    for dev in ["vgia", "vgib"] {
        ns.link_up_for_gso(dev).unwrap();
    }
    ns.addr_add("vgia", "192.0.2.254/32").unwrap();
    ns.addr_add("vgib", "198.51.100.254/32").unwrap();
    ns.ip(&["route", "add", "192.0.2.0/24", "dev", "vgia"])
        .unwrap();
    ns.ip(&["route", "add", "198.51.100.0/24", "dev", "vgib"])
        .unwrap();

    // The receive buffer: two flows interleaved, 20 segments each, then flow 0's next segment
    // with PSH (it ends flow 0's train), all 1488 bytes: one UDP_GRO read's shape.
    let mut pkts = Vec::new();
    for index in 0..20 {
        pkts.push(segment(0, index, 1448, 0));
        pkts.push(segment(1, index, 1448, 0));
    }
    pkts.push(segment(0, 20, 1448, tcp_flags::PSH));
    let gso_size = pkts[0].len();
    assert!(pkts.iter().all(|p| p.len() == gso_size));
    let buf = pkts.concat();
    let want = copying(&pkts);
    assert_eq!(want.len(), 2, "two merged packets");

    let mut gro = GroIov::<8>::new(GroOptions::default());
    let mut outputs: Vec<IovOutput> = Vec::new();
    let written = gro.write_batch(&a, &buf, gso_size, &mut outputs).unwrap();
    println!("{written:?}");
    assert_eq!(
        (written.packets, written.inputs, written.copied),
        (2, 41, 0)
    );
    let got = read_b(&b, want.len());
    assert_eq!(got.len(), want.len(), "packets out of B");
    for (k, ((hdr, bytes), (want_hdr, want_bytes))) in got.iter().zip(&want).enumerate() {
        assert_eq!(want_hdr.gso_type, GsoType::TCPV4);
        assert_eq!(
            (hdr.gso_type, hdr.gso_size),
            (want_hdr.gso_type, want_hdr.gso_size),
            "packet {k}: header"
        );
        assert!(
            undo_forwarding(bytes) == *want_bytes,
            "packet {k}: bytes differ from the copying form's"
        );
    }
    // The same buffer a second time, the coalescer's storage reused: the same packets.
    outputs.clear();
    assert_eq!(
        gro.write_batch(&a, &buf, gso_size, &mut outputs).unwrap(),
        written
    );
    assert_eq!(read_b(&b, want.len()).len(), want.len());

    // 1100 segments of one byte: one merged packet of more pieces than one writev takes
    // (IOV_MAX), gathered into one buffer instead; the same bytes.
    let tiny: Vec<Vec<u8>> = (0..1100).map(|i| segment(2, i, 1, 0)).collect();
    let want = copying(&tiny);
    assert_eq!(want.len(), 1);
    let written = gro
        .write_batch(&a, &tiny.concat(), tiny[0].len(), &mut outputs)
        .unwrap();
    println!("{written:?}");
    assert_eq!((written.packets, written.copied), (1, 1100));
    let got = read_b(&b, 1);
    assert_eq!(got.len(), 1, "the gathered packet out of B");
    assert_eq!((got[0].0.gso_type, got[0].0.gso_size), (GsoType::TCPV4, 1));
    assert!(
        undo_forwarding(&got[0].1) == want[0].1,
        "the gathered packet's bytes"
    );
    drop((a, b));
    drop(ns);
}
