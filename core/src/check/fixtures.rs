//! Headers and packets that core's tests (`check`, `gso`, `meta`) share, in test builds only:
//! one home for each, so that a case reads as what it varies.

use super::{CheckError, CsumRequest, Offload};
use crate::hdr::{Flags, GsoType, VnetHdr};
use std::vec;
use std::vec::Vec;
use vnet_packet::{PacketSpec, v6_dest_opts};

/// A GSO request as a virtio driver writes one: NEEDS_CSUM with the checksum field's place
/// (P4); `hdr_len` 0, a hint `check` recomputes (V6).
pub(crate) fn gso_hdr(gso_type: GsoType, gso_size: u16, start: u16, offset: u16) -> VnetHdr {
    VnetHdr {
        flags: Flags::NEEDS_CSUM,
        gso_type,
        gso_size,
        csum_start: start,
        csum_offset: offset,
        ..VnetHdr::default()
    }
}

/// A checksum-only request: NEEDS_CSUM, no GSO.
pub(crate) fn csum_hdr(start: u16, offset: u16) -> VnetHdr {
    gso_hdr(GsoType::NONE, 0, start, offset)
}

/// `check`'s answer to an accepted checksum-only request.
pub(crate) fn checksum(start: u16, offset: u16) -> Result<Offload, CheckError> {
    Ok(Offload::Checksum(CsumRequest { start, offset }))
}

/// IPv4/TCP with 8 bytes of IP options and 12 of TCP options: headers longer than the minimum
/// at both layers, which no fixed offset may assume.
pub(crate) fn tcp4_with_options(payload_len: usize) -> PacketSpec {
    PacketSpec {
        ip_options: vec![1; 8],
        tcp_options: vec![1; 12],
        ..PacketSpec::tcp4(payload_len)
    }
}

/// `spec`, an IPv6 packet, with a destination-options header of `len` bytes before its
/// transport header: an extension header that every offset must step over.
pub(crate) fn with_dest_opts(spec: PacketSpec, len: usize) -> PacketSpec {
    PacketSpec {
        v6_ext: vec![v6_dest_opts(len)],
        ..spec
    }
}

/// A UDP-tunnel GSO request with the virtio spec's example offsets (V7): outer UDP at 34, inner
/// IPv4 at 42, inner TCP at 62; for a packet built by [`in_tunnel`].
pub(crate) fn tunnel_hdr() -> VnetHdr {
    VnetHdr {
        gso_type: GsoType(GsoType::UDP_TUNNEL_IPV4.0 | GsoType::TCPV4.0),
        outer_th_offset: 34,
        inner_nh_offset: 42,
        ..gso_hdr(GsoType::NONE, 1000, 62, 16)
    }
}

/// `inner` behind the 42 bytes [`tunnel_hdr`] puts before it, zero but for the outer IPv4
/// version byte.
pub(crate) fn in_tunnel(inner: &[u8]) -> Vec<u8> {
    let mut pkt = vec![0u8; 14 + 20 + 8];
    pkt[0] = 0x45;
    pkt.extend_from_slice(inner);
    pkt
}
