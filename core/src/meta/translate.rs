//! Metadata and headers, both ways: transmit metadata to a header (M1-M5), a guest's header and
//! frame to metadata (M6, M7), a header to receive metadata (M8).

use super::*;

/// M1: the bounds of `l3_len`: IPv4 20..=60 in steps of 4 (IHL), IPv6 at least 40 in steps of 8
/// (extension headers are multiples of 8). [`from_header`] meets them by construction: it takes
/// the length from the frame's own headers.
fn check_l3_len(version: IpVersion, l3: u32) -> Result<(), MetaError> {
    let (min, max, step) = match version {
        IpVersion::V4 => (IPV4_MIN_HEADER_LEN as u32, u32::from(MAX_HEADER_LEN), 4),
        IpVersion::V6 => (IPV6_HEADER_LEN as u32, u32::from(u16::MAX), 8),
    };
    let bound = if l3 < min {
        Bound::AtLeast(min)
    } else if l3 > max {
        Bound::AtMost(max)
    } else if !l3.is_multiple_of(step) {
        Bound::MultipleOf(step)
    } else {
        return Ok(());
    };
    Err(field_error("M1", Field::L3Len, l3, bound))
}

/// Translates metadata into the header to write before the frame (M1-M5). The first matching
/// rule wins:
///
/// - M2 TCP segmentation: NEEDS_CSUM, TCPV4/TCPV6, `hdr_len = l2+l3+l4`, `gso_size = MSS`,
///   `csum_start = l2+l3`, `csum_offset = 16`.
/// - M3 UDP segmentation: NEEDS_CSUM, UDP_L4, `hdr_len = l2+l3+8`, `gso_size = MSS`,
///   `csum_start = l2+l3`, `csum_offset = 6`.
/// - M4 TCP (UDP) checksum: NEEDS_CSUM, `csum_start = l2+l3`, `csum_offset = 16` (6).
/// - M5 anything else: the all-zero header. `num_buffers` is 0 and DATA_VALID is never set; the
///   IPv4 header checksum has no field (the caller runs [`fixup_ipv4_header_checksum`], M9).
///
/// M1, checked first: the flags name at most one IP version; an L4 offload names one, has an
/// `l2_len` of 0 (TUN), 14 (Ethernet) or 18 (Ethernet + 802.1Q) and an `l3_len` within the version's bounds; segmentation has a non-zero MSS; TCP segmentation has an
/// `l4_len` of 20..=60 in steps of 4; `csum_start` and `hdr_len` fit in 16 bits. Lengths that the
/// selected rule does not use are not looked at.
pub fn to_header(meta: &TxMetadata) -> Result<VnetHdr, MetaError> {
    let flags = meta.flags;
    let v4 = flags.contains(TxFlags::IS_IPV4);
    let v6 = flags.contains(TxFlags::IS_IPV6);
    if v4 && v6 {
        return Err(MetaError::BothIpVersions);
    }
    let rule = TxRule::of(meta);
    if rule == TxRule::None {
        return Ok(VnetHdr::default());
    }
    let version = match (v4, v6) {
        (true, _) => IpVersion::V4,
        (_, true) => IpVersion::V6,
        _ => return Err(MetaError::NoIpVersion),
    };
    if !matches!(meta.l2_len, 0 | 14 | 18) {
        return Err(field_error(
            "M1",
            Field::L2Len,
            meta.l2_len.into(),
            Bound::OneOf(&[0, 14, 18]),
        ));
    }
    let l3 = u32::from(meta.l3_len);
    check_l3_len(version, l3)?;
    let segmenting = matches!(rule, TxRule::Tso | TxRule::Uso);
    if segmenting && meta.max_segment_size == 0 {
        return Err(field_error("M1", Field::MaxSegmentSize, 0, Bound::NonZero));
    }
    let l4 = match rule {
        TxRule::Tso => {
            let l4 = u16::from(meta.l4_len);
            let bound = if l4 < TCP_MIN_HEADER_LEN as u16 {
                Some(Bound::AtLeast(TCP_MIN_HEADER_LEN as u32))
            } else if l4 > MAX_HEADER_LEN {
                Some(Bound::AtMost(u32::from(MAX_HEADER_LEN)))
            } else if !l4.is_multiple_of(4) {
                Some(Bound::MultipleOf(4))
            } else {
                None
            };
            if let Some(bound) = bound {
                return Err(field_error("M1", Field::L4Len, l4.into(), bound));
            }
            l4
        }
        TxRule::Uso => UDP_HEADER_LEN as u16,
        _ => 0,
    };
    let start = u32::from(meta.l2_len) + l3;
    let csum_start = u16::try_from(start).map_err(|_| MetaError::Overflow {
        field: Field::CsumStart,
        sum: start,
    })?;
    let csum_offset = match rule {
        TxRule::Tso | TxRule::TcpChecksum => TCP_CSUM_OFFSET,
        _ => UDP_CSUM_OFFSET,
    };
    let (gso_type, hdr_len) = if segmenting {
        let end = start + u32::from(l4);
        let hdr_len = u16::try_from(end).map_err(|_| MetaError::Overflow {
            field: Field::HdrLen,
            sum: end,
        })?;
        let gso_type = match (rule, version) {
            (TxRule::Uso, _) => GsoType::UDP_L4,
            (_, IpVersion::V4) => GsoType::TCPV4,
            (_, IpVersion::V6) => GsoType::TCPV6,
        };
        (gso_type, hdr_len)
    } else {
        (GsoType::NONE, 0)
    };
    Ok(VnetHdr {
        flags: Flags::NEEDS_CSUM,
        gso_type,
        hdr_len,
        gso_size: if segmenting { meta.max_segment_size } else { 0 },
        csum_start,
        csum_offset,
        ..VnetHdr::default()
    })
}

/// Translates a guest's header and the frame after it into metadata: the virtio device's transmit
/// direction (M6, M7). `link` says whether the frame starts with an Ethernet header (TAP) or with
/// the IP header (TUN).
///
/// M6: without NEEDS_CSUM (and without GSO) nothing is asked: `TxMetadata::default()`. With it,
/// `l2_len` is the frame's link header (0, 14, or 18 with one 802.1Q tag), `l3_len = csum_start -
/// l2_len`, `csum_offset` 16 asks for the TCP checksum and 6 for the UDP checksum, and the IP
/// version comes from the GSO type (TCPV4/TCPV6) or else from the frame. A GSO type adds TCP
/// (TCPV4/TCPV6) or UDP (UDP_L4) segmentation with `max_segment_size = gso_size` and `l4_len` the
/// transport header's length: read from the frame for TCP (`hdr_len` is only a hint, V6; Linux
/// guests put the linear length there), 8 for UDP. IPv4 segmentation also asks for the IPv4 header
/// checksum, so that a backend recomputes it per segment. Unknown flag bits, DATA_VALID and
/// RSC_INFO are ignored (V8), and so is the ECN bit, which metadata cannot carry. Which features
/// were negotiated is the caller's business.
///
/// M7, the typed errors: GSO without NEEDS_CSUM; a GSO type other than NONE, TCPV4, TCPV6 or
/// UDP_L4 (ECN aside); `gso_size` 0; a frame whose headers do not parse, or is a fragment;
/// `csum_start` not at the transport header; a `csum_offset` other than 16 or 6, or one that
/// disagrees with the GSO type or with the frame's protocol; a GSO version other than the frame's;
/// a transport header that is not all in the frame; `hdr_len` beyond the frame.
pub fn from_header(hdr: &VnetHdr, frame: &[u8], link: Link) -> Result<TxMetadata, MetaError> {
    let gso = GsoType(hdr.gso_type.0 & !GsoType::ECN.0);
    if !hdr.flags.contains(Flags::NEEDS_CSUM) {
        if gso != GsoType::NONE {
            return Err(field_error(
                "M7",
                Field::Flags,
                hdr.flags.0.into(),
                Bound::Present,
            ));
        }
        return Ok(TxMetadata::default());
    }
    let (segmentation, expected) = match gso {
        GsoType::NONE => (None, None),
        GsoType::TCPV4 => (Some(TxFlags::OFFLOAD_TCP_SEGMENTATION), Some(IpVersion::V4)),
        GsoType::TCPV6 => (Some(TxFlags::OFFLOAD_TCP_SEGMENTATION), Some(IpVersion::V6)),
        GsoType::UDP_L4 => (Some(TxFlags::OFFLOAD_UDP_SEGMENTATION), None),
        GsoType(other) => return Err(MetaError::UnsupportedGsoType(other)),
    };
    if segmentation.is_some() && hdr.gso_size == 0 {
        return Err(field_error("M7", Field::GsoSize, 0, Bound::NonZero));
    }
    if usize::from(hdr.hdr_len) > frame.len() {
        return Err(field_error(
            "M7",
            Field::HdrLen,
            hdr.hdr_len.into(),
            Bound::AtMost(frame.len() as u32),
        ));
    }
    let (checksum, protocol) = match (hdr.csum_offset, segmentation) {
        (TCP_CSUM_OFFSET, None | Some(TxFlags::OFFLOAD_TCP_SEGMENTATION)) => {
            (TxFlags::OFFLOAD_TCP_CHECKSUM, IpProtocol::TCP)
        }
        (UDP_CSUM_OFFSET, None | Some(TxFlags::OFFLOAD_UDP_SEGMENTATION)) => {
            (TxFlags::OFFLOAD_UDP_CHECKSUM, IpProtocol::UDP)
        }
        (offset, Some(TxFlags::OFFLOAD_TCP_SEGMENTATION)) => {
            return Err(field_error(
                "M7",
                Field::CsumOffset,
                offset.into(),
                Bound::Equal(TCP_CSUM_OFFSET.into()),
            ));
        }
        (offset, Some(_)) => {
            return Err(field_error(
                "M7",
                Field::CsumOffset,
                offset.into(),
                Bound::Equal(UDP_CSUM_OFFSET.into()),
            ));
        }
        (offset, None) => {
            return Err(field_error(
                "M7",
                Field::CsumOffset,
                offset.into(),
                Bound::OneOf(&[UDP_CSUM_OFFSET as u32, TCP_CSUM_OFFSET as u32]),
            ));
        }
    };

    let headers = wire::parse_headers(frame, link).map_err(|e| m7_frame(Problem::Wire(e)))?;
    if let Some(expected) = expected
        && expected != headers.ip
    {
        return Err(m7_frame(Problem::IpVersionMismatch {
            expected,
            found: headers.ip,
        }));
    }
    if headers.fragment {
        return Err(m7_frame(Problem::Fragment));
    }
    if usize::from(hdr.csum_start) != headers.l4_offset {
        return Err(field_error(
            "M7",
            Field::CsumStart,
            hdr.csum_start.into(),
            Bound::Equal(headers.l4_offset as u32),
        ));
    }
    if headers.protocol != protocol {
        return Err(m7_frame(Problem::ProtocolMismatch {
            expected: protocol,
            found: headers.protocol,
        }));
    }
    // The transport header lies within the IP datagram (the frame may carry Ethernet padding).
    let ip = frame.get(headers.l3_offset..).unwrap_or(&[]);
    let ip_len = match headers.ip {
        IpVersion::V4 => usize::from(Ipv4Packet::new_unchecked(ip).total_len()),
        IpVersion::V6 => Ipv6Packet::new_unchecked(ip).total_len(),
    };
    let transport = ip.get(headers.l3_len..ip_len).unwrap_or(&[]);
    let l4_len = if protocol == IpProtocol::TCP {
        TcpPacket::new_checked(transport)
            .map_err(|e| m7_frame(Problem::Wire(e)))?
            .header_len()
    } else if transport.len() < UDP_HEADER_LEN {
        return Err(m7_frame(Problem::Truncated {
            need: headers.l4_offset + UDP_HEADER_LEN,
            have: frame.len(),
        }));
    } else {
        UDP_HEADER_LEN
    };

    let version = match headers.ip {
        IpVersion::V4 => TxFlags::IS_IPV4,
        IpVersion::V6 => TxFlags::IS_IPV6,
    };
    let mut flags = checksum.with(version);
    let mut meta = TxMetadata {
        flags,
        // parse_headers puts the IP header at 0, 14 or 18, and within the frame: both fit.
        l2_len: headers.l3_offset as u8,
        l3_len: headers.l3_len as u16,
        ..TxMetadata::default()
    };
    if let Some(segmentation) = segmentation {
        flags = flags.with(segmentation);
        if headers.ip == IpVersion::V4 {
            flags = flags.with(TxFlags::OFFLOAD_IP_HEADER_CHECKSUM);
        }
        meta.flags = flags;
        // A TCP header is at most 60 bytes, a UDP header 8.
        meta.l4_len = l4_len as u8;
        meta.max_segment_size = hdr.gso_size;
    }
    Ok(meta)
}

/// Translates a received header into what a receiver learns (M8): DATA_VALID means both the IP and
/// the L4 checksum are [`Good`](RxChecksumState::Good); anything else, NEEDS_CSUM included (a
/// partial checksum is not a verified one), leaves both [`Unknown`](RxChecksumState::Unknown).
/// The protocol comes from the GSO type alone: TCPV4/TCPV6 -> TCP, UDP/UDP_L4 -> UDP (ECN and
/// tunnel bits ignored), otherwise unknown.
pub fn rx_metadata(hdr: &VnetHdr) -> RxMetadata {
    let checksum = if hdr.flags.contains(Flags::DATA_VALID) {
        RxChecksumState::Good
    } else {
        RxChecksumState::Unknown
    };
    let l4_protocol = match hdr.gso_type.base() {
        GsoType::TCPV4 | GsoType::TCPV6 => L4Protocol::Tcp,
        GsoType::UDP | GsoType::UDP_L4 => L4Protocol::Udp,
        _ => L4Protocol::Unknown,
    };
    RxMetadata {
        ip_checksum: checksum,
        l4_checksum: checksum,
        l4_protocol,
        ..RxMetadata::default()
    }
}
