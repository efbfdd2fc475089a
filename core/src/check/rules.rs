//! The header rules, in the order the kernel applies them: TUN's write path (T14), the virtio
//! spec's driver requirements (P, strict mode), `__virtio_net_hdr_to_skb` (V1-V5, V9 with the
//! kernel profile's facts) and the UDP-tunnel header (V7).

use super::*;

/// T14: what TUN's write path checks before the header rules.
pub(super) fn check_device_write(
    hdr: &VnetHdr,
    pkt: &[u8],
    opts: &CheckOptions,
) -> Result<(), CheckError> {
    // TUN raises hdr_len to cover the checksum field, then refuses one beyond what follows the
    // header bytes it has parsed: 10 (24 with a tunnel header), so the rest of a 12- or 20-byte
    // header counts as packet (measured: K1 in spec/RULES.md).
    let mut hdr_len = usize::from(hdr.hdr_len);
    if hdr.flags.contains(Flags::NEEDS_CSUM) {
        let csum_end = usize::from(hdr.csum_start) + usize::from(hdr.csum_offset) + 2;
        hdr_len = hdr_len.max(csum_end);
    }
    let unparsed = match opts.layout {
        _ if !opts.kernel.hdr_len_counts_unparsed_header => 0,
        Layout::V1HashTunnel => 0,
        other => other.size() - Layout::Legacy.size(),
    };
    let limit = pkt.len() + unparsed;
    if hdr_len > limit {
        return Err(field(
            "T14",
            Field::HdrLen,
            hdr_len as u32,
            Bound::AtMost(limit as u32),
        ));
    }
    match opts.link {
        Link::Tap => {
            need("T14", ETHERNET_HEADER_LEN, pkt)?;
            if hdr_len != 0 && hdr_len < ETHERNET_HEADER_LEN {
                return Err(field(
                    "T14",
                    Field::HdrLen,
                    hdr_len as u32,
                    Bound::AtLeast(ETHERNET_HEADER_LEN as u32),
                ));
            }
        }
        Link::Tun => {
            // IFF_NO_PI: the IP version nibble decides the protocol; anything else is refused.
            let version = pkt.first().map_or(0, |b| b >> 4);
            if version != 4 && version != 6 {
                return Err(CheckError::Packet {
                    rule: "T14",
                    problem: Problem::Wire(wire::Error::BadVersion(version)),
                });
            }
        }
    }
    Ok(())
}

/// P4, P6, P9: the virtio spec's driver requirements.
pub(super) fn check_strict(hdr: &VnetHdr) -> Result<(), CheckError> {
    for flag in [Flags::DATA_VALID, Flags::RSC_INFO] {
        if hdr.flags.contains(flag) {
            return Err(field("P9", Field::Flags, hdr.flags.0, Bound::Absent));
        }
    }
    if hdr.gso_type != GsoType::NONE && !hdr.flags.contains(Flags::NEEDS_CSUM) {
        return Err(field("P4", Field::Flags, hdr.flags.0, Bound::Present));
    }
    Ok(())
}

pub(super) enum Plain {
    NotGso,
    /// A GSO request of this kind, with the segment size the kernel works with (K19).
    Gso(GsoKind, u16),
}

/// V1-V7: `__virtio_net_hdr_to_skb` with the tunnel bits removed.
pub(super) fn check_plain(
    hdr: &VnetHdr,
    pkt: &[u8],
    link: Link,
    kernel: &Profile,
) -> Result<Plain, CheckError> {
    let gso_type = GsoType(hdr.gso_type.0 & !GsoType::UDP_TUNNEL.0);
    let needs_csum = hdr.flags.contains(Flags::NEEDS_CSUM);
    // V1: the base type, ECN removed, must be one Linux knows; thlen and the IP minimum follow.
    let (kind, thlen, mut nh_min_len) = if gso_type == GsoType::NONE {
        (None, 0, IPV4_MIN_HEADER_LEN)
    } else {
        let (kind, nh_min_len) = match gso_type.base() {
            GsoType::TCPV4 => (GsoKind::Tcp, IPV4_MIN_HEADER_LEN),
            GsoType::TCPV6 => (GsoKind::Tcp, IPV6_HEADER_LEN),
            GsoType::UDP => (GsoKind::Ufo, IPV4_MIN_HEADER_LEN),
            GsoType::UDP_L4 if kernel.uso => (GsoKind::Uso, IPV4_MIN_HEADER_LEN),
            _ => {
                return Err(field(
                    "V1",
                    Field::GsoType,
                    hdr.gso_type.0,
                    Bound::KnownGsoType,
                ));
            }
        };
        // V2: GSO needs a segment size.
        if hdr.gso_size == 0 {
            return Err(field("V2", Field::GsoSize, 0u16, Bound::NonZero));
        }
        let thlen = if kind == GsoKind::Tcp {
            TCP_MIN_HEADER_LEN
        } else {
            UDP_HEADER_LEN
        };
        (Some(kind), thlen, nh_min_len)
    };

    let mut p_off = 0;
    if needs_csum {
        // V3: the checksum field and a transport header fit, past a minimal IP header.
        let start = usize::from(hdr.csum_start);
        let off = usize::from(hdr.csum_offset);
        need("V3", start + thlen.max(off + 2), pkt)?;
        if hdr.csum_start == u16::MAX {
            return Err(field(
                "V3",
                Field::CsumStart,
                hdr.csum_start,
                Bound::AtMost(u32::from(u16::MAX) - 1),
            ));
        }
        if kernel.csum_start_past_ip_header && start < nh_min_len {
            return Err(field(
                "V3",
                Field::CsumStart,
                hdr.csum_start,
                Bound::AtLeast(nh_min_len as u32),
            ));
        }
        nh_min_len = start;
        p_off = nh_min_len + thlen;
        need("V3", p_off, pkt)?;
    } else if let Some(kind) = kind {
        // K15: some kernels find the transport header of a TUN packet by dissecting it; older
        // ones assume a minimal IP header before it (K18), or none.
        let thoff = if kernel.write_dissects_gso && link == Link::Tun {
            dissected_transport(hdr, pkt, kind)?
        } else if kernel.gso_min_ip_header {
            nh_min_len
        } else {
            0
        };
        p_off = thoff + thlen;
        need("V3", p_off, pkt)?;
    }

    let Some(kind) = kind else {
        return Ok(Plain::NotGso);
    };
    let segment_size = effective_gso_size(hdr, kind, kernel);
    let gso_size = usize::from(segment_size);
    let mut nh_off = p_off;
    match kind {
        // UFO's gso_size may not include the UDP header.
        GsoKind::Ufo => nh_off -= thlen,
        // V4: USO needs NEEDS_CSUM at offset 6, a bounded segment count and no ECN.
        GsoKind::Uso => {
            if !needs_csum {
                return Err(field("V4", Field::Flags, hdr.flags.0, Bound::Present));
            }
            if usize::from(hdr.csum_offset) != udp::CHECKSUM {
                return Err(field(
                    "V4",
                    Field::CsumOffset,
                    hdr.csum_offset,
                    Bound::Equal(udp::CHECKSUM as u32),
                ));
            }
            let max_payload = gso_size * usize::from(kernel.udp_max_segments);
            if pkt.len() - p_off > max_payload {
                return Err(CheckError::Packet {
                    rule: "V4",
                    problem: Problem::Truncated {
                        need: p_off + max_payload,
                        have: pkt.len(),
                    },
                });
            }
            if gso_type.has_ecn() {
                return Err(field("V4", Field::GsoType, gso_type.0, Bound::Absent));
            }
        }
        // V4: TCP with NEEDS_CSUM checksums at offset 16.
        GsoKind::Tcp => {
            if needs_csum && usize::from(hdr.csum_offset) != tcp::CHECKSUM {
                return Err(field(
                    "V4",
                    Field::CsumOffset,
                    hdr.csum_offset,
                    Bound::Equal(tcp::CHECKSUM as u32),
                ));
            }
        }
    }
    if gso_size == usize::from(u16::MAX) {
        return Err(field("V2", Field::GsoSize, hdr.gso_size, Bound::NotByFrags));
    }
    // V5: a payload that fits in one segment is not really GSO.
    if pkt.len() - nh_off > gso_size {
        Ok(Plain::Gso(kind, segment_size))
    } else {
        Ok(Plain::NotGso)
    }
}

/// The segment size the kernel works with: TCP sizes below the profile's minimum are raised to
/// it (K19), before V5 and segmentation.
fn effective_gso_size(hdr: &VnetHdr, kind: GsoKind, kernel: &Profile) -> u16 {
    match kind {
        GsoKind::Tcp => hdr.gso_size.max(kernel.tcp_min_gso_size),
        GsoKind::Uso | GsoKind::Ufo => hdr.gso_size,
    }
}

/// V9 (K15): the transport offset of a GSO packet without NEEDS_CSUM, as a dissecting kernel
/// finds it (`44378d02c5aa`, "net: always dissect GSO packets in __virtio_net_hdr_to_skb()"):
/// TUN has set the protocol from the version nibble (T14 made sure it is 4 or 6), the flow
/// dissector walks to the transport header (UFO read as IPv4 and not dissectable is tried as
/// IPv6), whose protocol must be the type's, and the last IP version it read must be the type's
/// (TCPV4: 4, TCPV6: 6, UDP and UDP_L4: either).
pub(super) fn dissected_transport(
    hdr: &VnetHdr,
    pkt: &[u8],
    kind: GsoKind,
) -> Result<usize, CheckError> {
    let refused = |problem| CheckError::Packet {
        rule: "V9",
        problem,
    };
    let v6 = pkt.first().is_some_and(|b| b >> 4 == 6);
    let keys = dissect::dissect(pkt, v6).or_else(|| {
        (kind == GsoKind::Ufo && !v6)
            .then(|| dissect::dissect(pkt, true))
            .flatten()
    });
    let Some(keys) = keys else {
        return Err(refused(Problem::Undissectable));
    };
    let expected = match kind {
        GsoKind::Tcp => IpProtocol::TCP,
        GsoKind::Uso | GsoKind::Ufo => IpProtocol::UDP,
    };
    if keys.ip_proto != expected {
        return Err(refused(Problem::ProtocolMismatch {
            expected,
            found: keys.ip_proto,
        }));
    }
    let found = if keys.v6 {
        IpVersion::V6
    } else {
        IpVersion::V4
    };
    let typed = match hdr.gso_type.base() {
        GsoType::TCPV4 => Some(IpVersion::V4),
        GsoType::TCPV6 => Some(IpVersion::V6),
        _ => None,
    };
    if let Some(expected) = typed
        && expected != found
    {
        return Err(refused(Problem::IpVersionMismatch { expected, found }));
    }
    Ok(keys.thoff)
}

/// V7 (and K20): the UDP-tunnel header (`virtio_net_hdr_tnl_to_skb`).
pub(super) fn check_tunnel(
    hdr: &VnetHdr,
    pkt: &[u8],
    opts: &CheckOptions,
) -> Result<Option<Tunnel>, CheckError> {
    let bits = hdr.gso_type.tunnel();
    if bits == GsoType::NONE {
        return Ok(None);
    }
    // K20: a kernel without UDP-tunnel GSO parses no tunnel header; to its V1 the tunnel bits
    // make an unknown type.
    if !opts.kernel.udp_tunnel_gso {
        return Err(field(
            "V1",
            Field::GsoType,
            hdr.gso_type.0,
            Bound::KnownGsoType,
        ));
    }
    let tunnel_field = |bound| field("V7", Field::GsoType, hdr.gso_type.0, bound);
    if !opts.tunnel {
        return Err(tunnel_field(Bound::Absent));
    }
    if bits == GsoType::UDP_TUNNEL {
        return Err(tunnel_field(Bound::Absent));
    }
    let inner = GsoType(hdr.gso_type.0 & !(GsoType::ECN.0 | GsoType::UDP_TUNNEL.0));
    if inner == GsoType::NONE || inner == GsoType::UDP {
        return Err(tunnel_field(Bound::KnownGsoType));
    }
    if !hdr.flags.contains(Flags::NEEDS_CSUM) {
        return Err(field("V7", Field::Flags, hdr.flags.0, Bound::Present));
    }
    let outer_ip = if bits == GsoType::UDP_TUNNEL_IPV6 {
        IpVersion::V6
    } else {
        IpVersion::V4
    };
    let l3min = |v| match v {
        IpVersion::V4 => IPV4_MIN_HEADER_LEN,
        IpVersion::V6 => IPV6_HEADER_LEN,
    };
    let outer_min = ETHERNET_HEADER_LEN + l3min(outer_ip);
    let outer_th = usize::from(hdr.outer_th_offset);
    let inner_nh = usize::from(hdr.inner_nh_offset);
    // Each offset at least where the headers before it end.
    let at_least = |f: Field, value: u16, min: usize| {
        if usize::from(value) < min {
            Err(field("V7", f, value, Bound::AtLeast(min as u32)))
        } else {
            Ok(())
        }
    };
    at_least(Field::OuterThOffset, hdr.outer_th_offset, outer_min)?;
    at_least(
        Field::InnerNhOffset,
        hdr.inner_nh_offset,
        outer_th + UDP_HEADER_LEN,
    )?;
    // The inner version: TCPV6 says so; for USO Linux reads the packet (after the plain checks,
    // which have made sure the bytes are there; here we bound the read ourselves).
    let inner_ip = match inner.base() {
        GsoType::TCPV6 => IpVersion::V6,
        GsoType::UDP_L4 if pkt.get(inner_nh).is_some_and(|b| b >> 4 == 6) => IpVersion::V6,
        _ => IpVersion::V4,
    };
    at_least(Field::CsumStart, hdr.csum_start, inner_nh + l3min(inner_ip))?;
    if hdr.flags.contains(Flags::UDP_TUNNEL_CSUM) && !opts.tunnel_csum {
        return Err(field("V7", Field::Flags, hdr.flags.0, Bound::Absent));
    }
    Ok(Some(Tunnel {
        outer_ip,
        outer_th: hdr.outer_th_offset,
        inner_nh: hdr.inner_nh_offset,
        outer_csum: hdr.flags.contains(Flags::UDP_TUNNEL_CSUM),
    }))
}

pub(super) fn csum_request(hdr: &VnetHdr) -> Option<CsumRequest> {
    hdr.flags
        .contains(Flags::NEEDS_CSUM)
        .then_some(CsumRequest {
            start: hdr.csum_start,
            offset: hdr.csum_offset,
        })
}
