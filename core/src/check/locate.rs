//! S1: a GSO request located in the packet itself (`hdr_len` is a hint, V6).

use super::*;

/// V6 (and S1): find the headers of a GSO packet in the packet itself.
pub(super) fn locate(
    hdr: &VnetHdr,
    pkt: &[u8],
    opts: &CheckOptions,
    kind: GsoKind,
    gso_size: u16,
    tunnel: Option<Tunnel>,
) -> Result<GsoRequest, CheckError> {
    let headers = match tunnel {
        // The inner packet starts at inner_nh, as on a TUN device.
        Some(t) => {
            let inner_nh = usize::from(t.inner_nh);
            let inner = pkt.get(inner_nh..).unwrap_or(&[]);
            let mut h = wire::parse_headers(inner, Link::Tun)?;
            h.l3_offset += inner_nh;
            h.l4_offset += inner_nh;
            h
        }
        None => wire::parse_headers(pkt, opts.link)?,
    };
    let base = hdr.gso_type.base();
    let expected_ip = match base {
        GsoType::TCPV4 => Some(IpVersion::V4),
        GsoType::TCPV6 => Some(IpVersion::V6),
        _ => None,
    };
    if let Some(expected) = expected_ip
        && expected != headers.ip
    {
        return Err(CheckError::Packet {
            rule: "S1",
            problem: Problem::IpVersionMismatch {
                expected,
                found: headers.ip,
            },
        });
    }
    let expected_proto = match kind {
        GsoKind::Tcp => IpProtocol::TCP,
        GsoKind::Uso | GsoKind::Ufo => IpProtocol::UDP,
    };
    if headers.protocol != expected_proto {
        return Err(CheckError::Packet {
            rule: "S1",
            problem: Problem::ProtocolMismatch {
                expected: expected_proto,
                found: headers.protocol,
            },
        });
    }
    if headers.fragment {
        return Err(CheckError::Packet {
            rule: "S1",
            problem: Problem::Fragment,
        });
    }
    let csum = csum_request(hdr);
    if let Some(c) = csum
        && usize::from(c.start) != headers.l4_offset
    {
        return Err(CheckError::Packet {
            rule: "S1",
            problem: Problem::CsumStartNotTransport {
                csum_start: c.start,
                transport: headers.l4_offset,
            },
        });
    }
    let l4 = pkt.get(headers.l4_offset..).unwrap_or(&[]);
    let l4_len = match kind {
        GsoKind::Tcp => TcpPacket::new_checked(l4)?.header_len(),
        GsoKind::Uso | GsoKind::Ufo => {
            need("S1", headers.l4_offset + UDP_HEADER_LEN, pkt)?;
            UDP_HEADER_LEN
        }
    };
    let hdr_len = headers.l4_offset + l4_len;
    let payload_len = pkt.len() - hdr_len.min(pkt.len());
    // V5 judged the payload from a minimal header; with options the real payload may fit in one
    // segment, and then Linux's segmenter refuses the packet and drops it (measured: K2). UFO's
    // segment size counts the UDP header (V5).
    let segmented = match kind {
        GsoKind::Ufo => payload_len + UDP_HEADER_LEN,
        GsoKind::Tcp | GsoKind::Uso => payload_len,
    };
    if segmented <= usize::from(gso_size) {
        return Err(CheckError::Packet {
            rule: "S1",
            problem: Problem::SingleSegment {
                payload_len,
                gso_size,
            },
        });
    }
    if opts.mode == Mode::Strict && usize::from(hdr.hdr_len) < hdr_len {
        return Err(field(
            "P6",
            Field::HdrLen,
            hdr.hdr_len,
            Bound::AtLeast(hdr_len as u32),
        ));
    }
    Ok(GsoRequest {
        kind,
        ecn: hdr.gso_type.has_ecn(),
        gso_size,
        csum,
        headers,
        hdr_len,
        payload_len,
        tunnel,
    })
}
