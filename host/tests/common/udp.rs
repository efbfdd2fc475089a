//! IPv4/UDP datagrams between two socket addresses, for the suites that write them into a TUN
//! (traffic, async_tun): one home for how a datagram and a batch for `send_coalesced` are built.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddrV4;

use vnet_core::gro::GroOptions;
use vnet_packet::PacketSpec;

/// An IPv4/UDP datagram with correct header and UDP checksums and the given IPv4
/// identification. The kernel verifies both checksums on the way in: it is the oracle for
/// vnet-packet's reference checksum here.
pub fn udp_datagram_with_id(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload: &[u8],
    id: u16,
) -> Vec<u8> {
    let mut spec = PacketSpec::udp4(0);
    spec.src[..4].copy_from_slice(&src.ip().octets());
    spec.dst[..4].copy_from_slice(&dst.ip().octets());
    (spec.src_port, spec.dst_port, spec.ip_id) = (src.port(), dst.port(), id);
    spec.payload = payload.to_vec();
    spec.build()
}

/// Ten 1000-byte datagrams `src` to `dst` (datagram `i` is bytes `i`, IPv4 ID `100 + i`), each
/// in a 64 KiB buffer with room for a merged packet to grow, and their lengths: a batch that
/// coalesces into one USO super-packet under [`udp_gro`].
pub fn coalescible_batch(src: SocketAddrV4, dst: SocketAddrV4) -> (Vec<Vec<u8>>, Vec<usize>) {
    (0..10u16)
        .map(|i| {
            let mut pkt = udp_datagram_with_id(src, dst, &[i as u8; 1000], 100 + i);
            let len = pkt.len();
            pkt.resize(65536, 0);
            (pkt, len)
        })
        .unzip()
}

/// GRO options with UDP coalescing on.
pub fn udp_gro() -> GroOptions {
    GroOptions {
        udp: true,
        ..GroOptions::default()
    }
}
