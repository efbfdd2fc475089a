//! The benchmark cases, shared by `benches/peers.rs` (criterion) and `benches/interleaved.rs`
//! (alternate timing), so that both measure the same packets.

use vnet_core::hdr::VnetHdr;
use vnet_packet::{L4, PacketSpec};

/// The GSO cases: (case id, packet spec, gso_size). Super-packets are 65200 bytes of IP packet.
pub fn gso_cases() -> Vec<(String, PacketSpec, u16)> {
    const TOTAL: usize = 65200;
    let mut cases = Vec::new();
    for mss in [1448u16, 536] {
        for (name, make) in [
            ("tcp4", PacketSpec::tcp4 as fn(usize) -> PacketSpec),
            ("tcp6", PacketSpec::tcp6),
            ("udp4", PacketSpec::udp4),
        ] {
            let headers = make(0).hdr_len();
            cases.push((format!("{name}-{TOTAL}-{mss}"), make(TOTAL - headers), mss));
        }
    }
    cases
}

/// The virtio header a sender would attach to a super-packet (NEEDS_CSUM, GSO), in its one home.
pub use vnet_spec::strategy::packet::gso_header;

/// What a GSO case's super-packet makes: the header a sender attaches ([`gso_header`]), how many
/// segments, and the length of a full one (the headers and `mss` bytes of payload), which every
/// bench sizes its output buffers by.
pub fn gso_shape(spec: &PacketSpec, mss: u16) -> (VnetHdr, usize, usize) {
    let segments = spec.payload.len().div_ceil(usize::from(mss));
    (
        gso_header(spec, mss),
        segments,
        spec.hdr_len() + usize::from(mss),
    )
}

/// A train of `count` TCPv4 segments of `mss` payload bytes spread over `flows` flows (round
/// robin), each flow's sequence numbers and IPv4 IDs consecutive: everything of a flow merges.
pub fn gro_train(count: usize, mss: usize, flows: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let flow = i % flows;
            let index = i / flows;
            let mut spec = PacketSpec::tcp4(mss);
            spec.src_port = 40000 + flow as u16;
            spec.ip_id = 0x1000u16.wrapping_add(index as u16);
            if let L4::Tcp { seq, .. } = &mut spec.l4 {
                *seq = 1000 + (index * mss) as u32;
            }
            spec.build()
        })
        .collect()
}

/// The GRO cases: (case id, train): 64 and 128 segments of 1448 bytes, one flow or eight.
pub fn gro_cases() -> Vec<(String, Vec<Vec<u8>>)> {
    [(64, 1), (128, 1), (64, 8), (128, 8)]
        .into_iter()
        .map(|(count, flows)| {
            let name = if flows == 1 {
                "1flow".to_string()
            } else {
                format!("{flows}flows")
            };
            (
                format!("tcp4-{count}x1448-{name}"),
                gro_train(count, 1448, flows),
            )
        })
        .collect()
}

/// vnet's GRO input: each packet at the front of a 64 KiB buffer, room for a whole merged packet.
pub fn gro_buffers(train: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut bufs = vec![vec![0u8; 65536]; train.len()];
    restore_gro_buffers(&mut bufs, train);
    bufs
}

/// Puts the train back at the front of [`gro_buffers`]' buffers: coalescing rewrites the buffers
/// that hold outputs, so every timed call must start from this (untimed).
pub fn restore_gro_buffers(bufs: &mut [Vec<u8>], train: &[Vec<u8>]) {
    for (buf, p) in bufs.iter_mut().zip(train) {
        buf[..p.len()].copy_from_slice(p);
    }
}
