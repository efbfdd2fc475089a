//! The segmentation plan: a request and its packet checked against each other once (S1, S5),
//! then every segment's headers patched from it (S1a-S3b: TCP, USO, UFO and UDP tunnels).

use super::*;

/// C4: a computed checksum of 0 is sent as 0xFFFF.
pub(super) const fn nonzero(check: u16) -> u16 {
    if check == 0 { 0xFFFF } else { check }
}

/// The refusal of UFO where the packet comes in pieces (`Unsupported`): UFO's whole-datagram
/// checksum and its fragments' payload (the rewritten UDP header, then data) are a copy's work.
pub(super) const UFO_IN_PIECES: &str = "UFO from scatter-gather input (the iovec form)";

/// One IP header to patch in every segment.
#[derive(Clone, Copy, Debug)]
pub(super) struct IpFix {
    /// Offset of the IP header.
    pub(super) at: usize,
    /// IPv4 (with a header checksum, an ID and `total_len`) or IPv6 (`payload_len`).
    pub(super) v4: bool,
    /// IPv4: the header's sum with `total_len`, ID, checksum (and for UFO the fragment word) zero.
    pub(super) sum: u16,
    /// IPv4: the super-packet's ID.
    pub(super) id: u16,
    /// The pseudo-header sum without its length: addresses and the transport protocol.
    pub(super) pseudo: u16,
}

impl IpFix {
    pub(super) fn new(pkt: &[u8], h: &Headers, ufo: bool) -> Result<IpFix, GsoError> {
        let ip =
            pkt.get(h.l3_offset..h.l4_offset)
                .ok_or(GsoError::Wire(wire::Error::Truncated {
                    layer: wire::Layer::Ip,
                    need: h.l3_len,
                    have: pkt.len().saturating_sub(h.l3_offset),
                }))?;
        let proto = u16::from(h.protocol.0);
        Ok(match h.ip {
            IpVersion::V4 => {
                let mut zeroed = [0u8; MAX_HEADER_LEN];
                let copy = zeroed.get_mut(..ip.len()).ok_or(GsoError::Mismatch {
                    field: ReqField::L3Len,
                    request: h.l3_len,
                    packet: MAX_HEADER_LEN,
                })?;
                copy.copy_from_slice(ip);
                for at in [ipv4::TOTAL_LEN, ipv4::IDENT, ipv4::CHECKSUM] {
                    put16(copy, at, 0);
                }
                if ufo {
                    put16(copy, ipv4::FLAGS_FRAG, 0);
                }
                let addrs = ip.get(ipv4::SRC.start..ipv4::DST.end).map_or(0, csum::sum);
                IpFix {
                    at: h.l3_offset,
                    v4: true,
                    sum: csum::sum(copy),
                    id: get16(ip, ipv4::IDENT),
                    pseudo: csum::combine(addrs, proto),
                }
            }
            IpVersion::V6 => {
                let addrs = ip.get(ipv6::SRC.start..ipv6::DST.end).map_or(0, csum::sum);
                IpFix {
                    at: h.l3_offset,
                    v4: false,
                    sum: 0,
                    id: 0,
                    pseudo: csum::combine(addrs, proto),
                }
            }
        })
    }

    /// Writes the lengths (and for IPv4 the ID, the super-packet's plus `id_step`, the fragment
    /// word and the checksum) of a segment of `seg_len` bytes: every caller's ID and IP length
    /// are derived the same way, here.
    #[inline]
    pub(super) fn patch(&self, seg: &mut [u8], seg_len: usize, id_step: u16, frag: Option<u16>) {
        let (ip_len, id) = (seg_len - self.at, self.id.wrapping_add(id_step));
        let Some(ip) = seg.get_mut(self.at..) else {
            return;
        };
        // Fixed-size arrays, so that the field writes need no bounds checks.
        if self.v4 {
            let Some(ip) = ip.first_chunk_mut::<{ wire::IPV4_MIN_HEADER_LEN }>() else {
                return;
            };
            let total = ip_len as u16;
            put16(ip, ipv4::TOTAL_LEN, total);
            put16(ip, ipv4::IDENT, id);
            let mut sum = csum::combine(csum::combine(self.sum, total), id);
            if let Some(word) = frag {
                put16(ip, ipv4::FLAGS_FRAG, word);
                sum = csum::combine(sum, word);
            }
            put16(ip, ipv4::CHECKSUM, csum::finish(sum));
        } else if let Some(ip) = ip.first_chunk_mut::<IPV6_HEADER_LEN>() {
            put16(ip, ipv6::PAYLOAD_LEN, (ip_len - IPV6_HEADER_LEN) as u16);
        }
    }

    /// The pseudo-header sum for a transport segment of `l4_len` bytes (C2).
    pub(super) const fn pseudo(&self, l4_len: usize) -> u16 {
        csum::with_len(self.pseudo, l4_len)
    }
}

/// The outer headers of a UDP-tunnel segment.
#[derive(Clone, Copy, Debug)]
pub(super) struct Outer {
    pub(super) ip: IpFix,
    /// Outer UDP header offset.
    pub(super) th: usize,
    /// Complete the outer UDP checksum (UDP_TUNNEL_CSUM); else its field is copied as it is.
    pub(super) csum: bool,
    /// With `csum`: the sender's seed in the outer UDP checksum field less the outer UDP bytes
    /// of the super-packet, what a segment's outer UDP length is added to (K24).
    pub(super) seed: u16,
}

/// IPv6 UFO: the fragment header the kernel inserts into every fragment (S3a, K8).
#[derive(Clone, Copy, Debug)]
pub(super) struct Frag6 {
    /// Where it goes in the super-packet's headers: after hop-by-hop, routing and destination
    /// options, except destination options that follow a routing header (`ip6_find_1stfragopt`).
    pub(super) at: usize,
    /// The next-header byte (before `at`) that names the fragment header (44) instead.
    pub(super) next_at: usize,
    /// The next header it replaced, carried by the fragment header.
    pub(super) next: u8,
    /// Bytes of extension headers: Linux adds them to every fragment's offset (K8).
    pub(super) ext_len: usize,
    pub(super) id: u32,
}

impl Frag6 {
    pub(super) fn new(pkt: &[u8], h: &Headers, id: u32) -> Frag6 {
        let mut next_at = h.l3_offset + ipv6::NEXT_HEADER;
        let mut at = h.l3_offset + IPV6_HEADER_LEN;
        let mut routing = false;
        while at < h.l4_offset {
            let next = pkt.get(next_at).copied().unwrap_or(0);
            match IpProtocol(next) {
                IpProtocol::HOP_BY_HOP => {}
                IpProtocol::ROUTING => routing = true,
                IpProtocol::DESTINATION_OPTIONS if !routing => {}
                _ => break,
            }
            let len = pkt
                .get(at + ipv6_ext::HDR_EXT_LEN)
                .map_or(0, |&l| (usize::from(l) + 1) * 8);
            next_at = at;
            at += len;
        }
        Frag6 {
            at,
            next_at,
            next: pkt.get(next_at).copied().unwrap_or(0),
            ext_len: h.l4_offset - h.l3_offset - IPV6_HEADER_LEN,
            id,
        }
    }
}

/// A segmentation plan: everything a segment needs, found and checked once.
#[derive(Clone, Copy, Debug)]
pub(super) struct Plan {
    pub(super) kind: GsoKind,
    /// Header bytes copied into every segment (UFO: up to the UDP header, which is payload).
    pub(super) hdr_len: usize,
    /// Offset of the payload in the super-packet.
    pub(super) payload_at: usize,
    /// Payload bytes (UFO: the UDP header and its payload).
    pub(super) payload_len: usize,
    /// Payload bytes per segment (UFO: of the UDP header and payload, not rounded, K7).
    pub(super) mss: usize,
    pub(super) count: usize,
    pub(super) ip: IpFix,
    /// Transport header offset.
    pub(super) l4: usize,
    /// TCP: header sum with seq, data offset/flags word and checksum zero; UDP: ports only.
    pub(super) l4_sum: u16,
    /// TCP and USO: the checksum seed without its length, what a segment's length is added to
    /// (S1c): with NEEDS_CSUM the sender's seed from the checksum field less the super-packet's L4
    /// length, as Linux adjusts it (K9); without, the pseudo-header's addresses and protocol.
    pub(super) l4_seed: u16,
    /// TCP: first sequence number.
    pub(super) seq: u32,
    /// TCP: the data offset/flags word.
    pub(super) doff_flags: u16,
    /// UFO: the UDP header with its length and whole-datagram checksum.
    pub(super) ufo_udp: [u8; 8],
    pub(super) outer: Option<Outer>,
    pub(super) frag6: Option<Frag6>,
    pub(super) accecn: bool,
    pub(super) fixed_id: bool,
}

pub(super) fn mismatch(field: ReqField, request: usize, packet: usize) -> GsoError {
    GsoError::Mismatch {
        field,
        request,
        packet,
    }
}

pub(super) fn version_num(v: IpVersion) -> usize {
    match v {
        IpVersion::V4 => 4,
        IpVersion::V6 => 6,
    }
}

/// The request's headers against the packet's, field by field.
pub(super) fn same_headers(req: &Headers, found: &Headers) -> Result<(), GsoError> {
    let pairs = [
        (ReqField::L3Offset, req.l3_offset, found.l3_offset),
        (
            ReqField::IpVersion,
            version_num(req.ip),
            version_num(found.ip),
        ),
        (ReqField::L3Len, req.l3_len, found.l3_len),
        (
            ReqField::Protocol,
            usize::from(req.protocol.0),
            usize::from(found.protocol.0),
        ),
        (
            ReqField::Fragment,
            usize::from(req.fragment),
            usize::from(found.fragment),
        ),
        (
            ReqField::Vlan,
            req.vlan.map_or(0, |t| usize::from(t) + 1),
            found.vlan.map_or(0, |t| usize::from(t) + 1),
        ),
    ];
    for (field, request, packet) in pairs {
        if request != packet {
            return Err(mismatch(field, request, packet));
        }
    }
    Ok(())
}

/// The IP header's own length field must reach exactly to the end of the packet: a segment's
/// lengths are derived from the bytes present, and trailing bytes the IP header disowns would be
/// trimmed by the kernel's receive path, not segmented.
pub(super) fn ip_length_agrees(pkt: &[u8], len: usize, h: &Headers) -> Result<(), GsoError> {
    let present = len.saturating_sub(h.l3_offset);
    let ip = pkt.get(h.l3_offset..).unwrap_or(&[]);
    let claimed = match h.ip {
        IpVersion::V4 => usize::from(get16(ip, ipv4::TOTAL_LEN)),
        IpVersion::V6 => usize::from(get16(ip, ipv6::PAYLOAD_LEN)) + IPV6_HEADER_LEN,
    };
    if claimed != present {
        return Err(mismatch(ReqField::IpLength, claimed, present));
    }
    Ok(())
}

impl Plan {
    pub(super) fn new(req: &GsoRequest, pkt: &[u8], opts: &GsoOptions) -> Result<Plan, GsoError> {
        Plan::new_within(req, pkt, pkt.len(), opts)
    }

    /// [`Plan::new`] from `pkt`, the first bytes of a packet of `len` bytes (its headers gathered
    /// from scatter-gather pieces): the same checks in the same order, every header read from
    /// `pkt`, every length judged against `len`. A [`wire::Error::Truncated`] then may be about
    /// `pkt` rather than the packet (the caller tells them apart). UFO sums its whole payload
    /// here, so it needs the whole packet: [`GsoError::Unsupported`] otherwise.
    pub(super) fn new_within(
        req: &GsoRequest,
        pkt: &[u8],
        len: usize,
        opts: &GsoOptions,
    ) -> Result<Plan, GsoError> {
        let outer = match req.tunnel {
            Some(t) => Some(Self::outer(&t, pkt, len, opts)?),
            None => None,
        };
        // The (inner) headers, found again in the packet.
        let found = match req.tunnel {
            Some(t) => {
                let at = usize::from(t.inner_nh);
                let mut h = wire::parse_headers_within(
                    pkt.get(at..).unwrap_or(&[]),
                    len.saturating_sub(at),
                    Link::Tun,
                )?;
                h.l3_offset += at;
                h.l4_offset += at;
                h
            }
            None => wire::parse_headers_within(pkt, len, opts.link)?,
        };
        same_headers(&req.headers, &found)?;
        if found.fragment {
            return Err(mismatch(ReqField::Fragment, 0, 1));
        }
        ip_length_agrees(pkt, len, &found)?;
        let (proto, csum_offset) = match req.kind {
            GsoKind::Tcp => (IpProtocol::TCP, tcp::CHECKSUM),
            GsoKind::Uso | GsoKind::Ufo => (IpProtocol::UDP, udp::CHECKSUM),
        };
        if found.protocol != proto {
            return Err(mismatch(
                ReqField::Protocol,
                usize::from(proto.0),
                usize::from(found.protocol.0),
            ));
        }
        if let Some(c) = req.csum {
            if usize::from(c.start) != found.l4_offset {
                return Err(mismatch(
                    ReqField::CsumStart,
                    usize::from(c.start),
                    found.l4_offset,
                ));
            }
            // UFO recomputes the UDP checksum from scratch and never reads csum_offset (nor does
            // V1-V7 bound it), so only TCP and USO must agree.
            if req.kind != GsoKind::Ufo && usize::from(c.offset) != csum_offset {
                return Err(mismatch(
                    ReqField::CsumOffset,
                    usize::from(c.offset),
                    csum_offset,
                ));
            }
        }
        let l4 = found.l4_offset;
        let l4_bytes = pkt.get(l4..).unwrap_or(&[]);
        let l4_len = match req.kind {
            GsoKind::Tcp => TcpPacket::new_checked(l4_bytes)?.header_len(),
            GsoKind::Uso | GsoKind::Ufo => {
                if l4_bytes.len() < UDP_HEADER_LEN {
                    return Err(GsoError::Wire(wire::Error::Truncated {
                        layer: wire::Layer::Udp,
                        need: UDP_HEADER_LEN,
                        have: l4_bytes.len(),
                    }));
                }
                UDP_HEADER_LEN
            }
        };
        let hdr_len = l4 + l4_len;
        if req.hdr_len != hdr_len {
            return Err(mismatch(ReqField::HdrLen, req.hdr_len, hdr_len));
        }
        let payload_len = len.saturating_sub(hdr_len);
        if req.payload_len != payload_len {
            return Err(mismatch(ReqField::PayloadLen, req.payload_len, payload_len));
        }
        let ufo = req.kind == GsoKind::Ufo;
        if ufo && outer.is_some() {
            return Err(GsoError::Unsupported("UFO in a UDP tunnel"));
        }
        if ufo && pkt.len() != len {
            return Err(GsoError::Unsupported(UFO_IN_PIECES));
        }
        if req.gso_size < 1 {
            return Err(GsoError::GsoSize {
                value: req.gso_size,
                min: 1,
            });
        }
        let ip = IpFix::new(pkt, &found, ufo)?;
        let header = l4_bytes.get(..l4_len).unwrap_or(&[]);
        let mut zeroed = [0u8; MAX_HEADER_LEN];
        if let Some(copy) = zeroed.get_mut(..l4_len) {
            copy.copy_from_slice(header);
        }
        let (seq, doff_flags) = (get32(header, tcp::SEQ), get16(header, tcp::DOFF_FLAGS));
        let holes: &[usize] = match req.kind {
            GsoKind::Tcp => &[tcp::SEQ, tcp::SEQ + 2, tcp::DOFF_FLAGS, tcp::CHECKSUM],
            GsoKind::Uso | GsoKind::Ufo => &[udp::LENGTH, udp::CHECKSUM],
        };
        for &at in holes {
            put16(&mut zeroed, at, 0);
        }
        let l4_sum = csum::sum(zeroed.get(..l4_len).unwrap_or(&[]));
        let l4_seed = match req.csum {
            // The field holds what the sender put there, the pseudo-header sum if it followed
            // C3; Linux trusts it and only swaps the length (K9), and so do we.
            Some(_) if req.kind != GsoKind::Ufo => {
                let seed = get16(header, csum_offset);
                // TCP swaps the L4 length Linux counts; USO the UDP length field's value.
                let whole = match req.kind {
                    GsoKind::Tcp => (len - l4) as u32,
                    GsoKind::Uso | GsoKind::Ufo => u32::from(get16(header, udp::LENGTH)),
                };
                csum::combine(csum::combine(seed, !(whole >> 16) as u16), !whole as u16)
            }
            _ => ip.pseudo(0),
        };
        let mut plan = Plan {
            kind: req.kind,
            hdr_len,
            payload_at: hdr_len,
            payload_len,
            mss: usize::from(req.gso_size),
            count: 0,
            ip,
            l4,
            l4_sum,
            l4_seed,
            seq,
            doff_flags,
            ufo_udp: [0; 8],
            outer,
            frag6: None,
            accecn: opts.accecn,
            fixed_id: opts.fixed_id,
        };
        if ufo {
            plan.ufo(pkt);
            if found.ip == IpVersion::V6 {
                plan.frag6 = Some(Frag6::new(pkt, &found, opts.frag_id));
                plan.hdr_len += ipv6_ext::FRAG_LEN;
            }
        }
        // gso_size >= 1 was checked above; a `NonZero` divisor leaves no division-by-zero panic
        // path for the optimiser to keep (ARCHITECTURE.md, 'No panic path').
        let mss = NonZeroUsize::new(plan.mss).unwrap_or(NonZeroUsize::MIN);
        plan.count = (plan.payload_len / mss + usize::from(plan.payload_len % mss != 0)).max(1);
        if req.kind == GsoKind::Uso && plan.count > usize::from(opts.kernel.udp_max_segments) {
            return Err(GsoError::TooManySegments {
                count: plan.count,
                max: opts.kernel.udp_max_segments,
            });
        }
        Ok(plan)
    }

    /// S3a: UFO computes one UDP checksum over the whole datagram (the UDP length field left as
    /// the packet has it, the pseudo-header's length from the bytes present, as
    /// `udp4/6_ufo_fragment` do), then cuts the UDP header and payload into IP fragments of
    /// exactly `gso_size` bytes (not rounded to 8: K7).
    pub(super) fn ufo(&mut self, pkt: &[u8]) {
        let udp_len = UDP_HEADER_LEN + self.payload_len;
        let data = pkt.get(self.hdr_len..).unwrap_or(&[]);
        let header = pkt.get(self.l4..self.hdr_len).unwrap_or(&[]);
        let mut udp = [0u8; 8];
        if let Some(h) = header.first_chunk::<8>() {
            udp = *h;
        }
        put16(&mut udp, udp::CHECKSUM, 0);
        let sum = csum::combine(
            csum::combine(self.ip.pseudo(udp_len), csum::sum(&udp)),
            csum::sum(data),
        );
        put16(&mut udp, udp::CHECKSUM, nonzero(csum::finish(sum)));
        self.ufo_udp = udp;
        self.hdr_len = self.l4;
        self.payload_len = udp_len;
    }

    /// The outer headers of a tunnel packet: parsed, and checked against the request. The outer
    /// IP version and transport offset are the packet's: the tunnel bit and `outer_th` only
    /// bounded V7 (measured, K24: forwarding re-parses the outer IP header, and so does GSO).
    pub(super) fn outer(
        t: &Tunnel,
        pkt: &[u8],
        len: usize,
        opts: &GsoOptions,
    ) -> Result<Outer, GsoError> {
        let h = wire::parse_headers_within(pkt, len, opts.link)?;
        if h.protocol != IpProtocol::UDP {
            return Err(mismatch(
                ReqField::OuterProtocol,
                usize::from(IpProtocol::UDP.0),
                usize::from(h.protocol.0),
            ));
        }
        if h.fragment {
            return Err(mismatch(ReqField::Fragment, 0, 1));
        }
        ip_length_agrees(pkt, len, &h)?;
        if usize::from(t.inner_nh) < h.l4_offset + UDP_HEADER_LEN {
            return Err(mismatch(
                ReqField::OuterTransport,
                usize::from(t.inner_nh),
                h.l4_offset + UDP_HEADER_LEN,
            ));
        }
        // K24: like the inner NEEDS_CSUM seed (K9), Linux trusts the outer field (the
        // pseudo-header sum, if the sender followed C3) and swaps the outer UDP bytes it counts
        // (`skb->len`, not the UDP length field) for each segment's.
        let th = h.l4_offset;
        let field = pkt.get(th..).map_or(0, |udp| get16(udp, udp::CHECKSUM));
        let whole = len.saturating_sub(th) as u32;
        let seed = csum::combine(csum::combine(field, !(whole >> 16) as u16), !whole as u16);
        Ok(Outer {
            ip: IpFix::new(pkt, &h, false)?,
            th,
            csum: t.outer_csum,
            seed,
        })
    }

    /// Payload bytes of segment `i` (which must be below `count`).
    #[inline]
    pub(super) fn chunk(&self, i: usize) -> (usize, usize) {
        let start = i * self.mss;
        (start, self.mss.min(self.payload_len - start))
    }

    #[inline]
    pub(super) fn segment_len(&self, i: usize) -> Option<usize> {
        (i < self.count).then(|| self.hdr_len + self.chunk(i).1)
    }

    pub(super) fn max_segment_len(&self) -> usize {
        self.hdr_len + self.mss.min(self.payload_len)
    }

    pub(super) fn total_len(&self) -> usize {
        self.hdr_len * self.count + self.payload_len
    }

    /// The error for segment `i` and a buffer of `have` bytes that cannot hold it.
    pub(super) fn too_small(&self, i: usize, have: usize) -> GsoError {
        GsoError::BufferTooSmall {
            index: i,
            need: self.segment_len(i).unwrap_or(0),
            have,
        }
    }

    /// Writes segment `i` into `out`, which holds at least its length (checked before, S5);
    /// returns the length, or `None` if `out` is too short after all (see [`Plan::too_small`]).
    /// An `Option` rather than a `Result`: it comes back in registers, once per segment.
    pub(super) fn write<S: Summer>(
        &self,
        pkt: &[u8],
        i: usize,
        out: &mut [u8],
        summer: S,
    ) -> Option<usize> {
        let (start, len) = self.chunk(i);
        let seg_len = self.hdr_len + len;
        let seg = out.get_mut(..seg_len)?;
        let (head, body) = seg.split_at_mut_checked(self.hdr_len)?;
        if self.kind != GsoKind::Ufo {
            let src = pkt.get(self.payload_at + start..self.payload_at + start + len)?;
            let payload_sum = summer.copy_and_sum(body, src)?;
            self.write_head(pkt, i, head, seg_len, payload_sum)?;
            return Some(seg_len);
        }
        let last = i + 1 == self.count;
        if let Some(f) = &self.frag6 {
            // IPv6 UFO: the headers with a fragment header inserted at `f.at` (S3a, K8): its
            // offset field is Linux's running byte count, extension headers included, written
            // whole (not in 8-byte units, so low bits spill into the reserved bits) with M.
            let (before, rest) = head.split_at_mut(f.at.min(head.len()));
            before.copy_from_slice(pkt.get(..before.len())?);
            let (frag, after) = rest.split_at_mut(ipv6_ext::FRAG_LEN.min(rest.len()));
            let word = (i.wrapping_mul(self.mss + f.ext_len) as u16) | u16::from(!last);
            let id = f.id.to_be_bytes();
            let bytes = [
                f.next,
                0,
                (word >> 8) as u8,
                word as u8,
                id[0],
                id[1],
                id[2],
                id[3],
            ];
            frag.copy_from_slice(bytes.get(..frag.len()).unwrap_or(&[]));
            after.copy_from_slice(pkt.get(f.at..f.at + after.len())?);
            if let Some(next) = head.get_mut(f.next_at) {
                *next = IpProtocol::FRAGMENT.0;
            }
        } else {
            copy_headers(head, pkt.get(..self.hdr_len)?);
        }
        self.write_ufo_payload(pkt, start, body);
        // IPv4: offsets in 8-byte units of the bytes before, rounded down (K7).
        let mut word = (start / 8) as u16;
        if !last {
            word |= ipv4::MF;
        }
        self.ip.patch(seg, seg_len, 0, Some(word));
        Some(seg_len)
    }

    /// The headers of TCP or USO segment `i` (not UFO), `seg_len` bytes long with a payload whose
    /// sum is `payload_sum`: copied from the super-packet's headers `pkt` into `head` (exactly
    /// `hdr_len` bytes) and patched (S1a-S1c, S2, S3, S3b). Where the payload goes is the caller's:
    /// after `head` (the copying forms) or anywhere (the iovec form).
    #[inline(always)]
    pub(super) fn write_head(
        &self,
        pkt: &[u8],
        i: usize,
        head: &mut [u8],
        seg_len: usize,
        payload_sum: u16,
    ) -> Option<()> {
        copy_headers(head, pkt.get(..self.hdr_len)?);
        let start = i * self.mss;
        let last = i + 1 == self.count;
        let index = i as u16;
        let id_step = if self.kind == GsoKind::Tcp && self.fixed_id {
            0
        } else {
            index
        };
        self.ip.patch(head, seg_len, id_step, None);
        let l4_len = seg_len - self.l4;
        // The transport checksum's 16-bit terms, added wide and folded once.
        let mut sum = u64::from(self.l4_seed)
            + u64::from(self.l4_sum)
            + (l4_len >> 16) as u64
            + (l4_len & 0xFFFF) as u64
            + u64::from(payload_sum);
        // The transport header as a fixed-size array: the field writes below need no bounds
        // checks (a whole TCP or UDP header is there: Plan::new parsed it).
        let l4 = head.get_mut(self.l4..)?;
        if self.kind == GsoKind::Tcp {
            let l4 = l4.first_chunk_mut::<{ wire::TCP_MIN_HEADER_LEN }>()?;
            let seq = self.seq.wrapping_add(start as u32);
            let mut flags = self.doff_flags;
            if !last {
                flags &= !(TcpFlags::FIN.0 | TcpFlags::PSH.0);
            }
            if i != 0 && !self.accecn {
                flags &= !TcpFlags::CWR.0;
            }
            put16(l4, tcp::SEQ, (seq >> 16) as u16);
            put16(l4, tcp::SEQ + 2, seq as u16);
            put16(l4, tcp::DOFF_FLAGS, flags);
            sum += u64::from(seq >> 16) + u64::from(seq & 0xFFFF) + u64::from(flags);
            put16(l4, tcp::CHECKSUM, csum::finish(csum::fold(sum)));
        } else {
            let l4 = l4.first_chunk_mut::<UDP_HEADER_LEN>()?;
            put16(l4, udp::LENGTH, l4_len as u16);
            sum += (l4_len & 0xFFFF) as u64;
            put16(l4, udp::CHECKSUM, nonzero(csum::finish(csum::fold(sum))));
        }
        if let Some(outer) = &self.outer {
            outer.patch(head, seg_len, payload_sum, index);
        }
        Some(())
    }

    /// UFO: the payload stream is the fixed UDP header followed by the datagram's payload.
    pub(super) fn write_ufo_payload(&self, pkt: &[u8], start: usize, body: &mut [u8]) {
        let data = pkt.get(self.l4 + UDP_HEADER_LEN..).unwrap_or(&[]);
        let mut filled = 0;
        if let Some(head) = self.ufo_udp.get(start..) {
            let n = head.len().min(body.len());
            if let (Some(dst), Some(src)) = (body.get_mut(..n), head.get(..n)) {
                dst.copy_from_slice(src);
            }
            filled = n;
        }
        let from = (start + filled).saturating_sub(UDP_HEADER_LEN);
        let rest = body.get_mut(filled..).unwrap_or(&mut []);
        if let Some(src) = data.get(from..from + rest.len()) {
            rest.copy_from_slice(src);
        }
    }
}

impl Outer {
    /// S3b: outer IP lengths, ID and checksum; outer UDP length; with UDP_TUNNEL_CSUM the outer
    /// UDP checksum from the sender's seed (K24) over the outer UDP header, everything after it
    /// and the payload (whose sum is known); without, the field as the super-packet has it.
    pub(super) fn patch(&self, head: &mut [u8], seg_len: usize, payload_sum: u16, index: u16) {
        let hdr_len = head.len();
        self.ip.patch(head, seg_len, index, None);
        let udp_len = seg_len - self.th;
        let Some(udp) = head.get_mut(self.th..) else {
            return;
        };
        put16(udp, udp::LENGTH, udp_len as u16);
        if self.csum {
            put16(udp, udp::CHECKSUM, 0);
            let headers = udp.get(..hdr_len - self.th).unwrap_or(&[]);
            let sum = csum::combine(csum::with_len(self.seed, udp_len), csum::sum(headers));
            let sum = csum::combine_at(sum, payload_sum, headers.len());
            put16(udp, udp::CHECKSUM, nonzero(csum::finish(sum)));
        }
    }
}

/// Copies header bytes (`dst` and `src` of one length) without a libc call for the usual sizes:
/// two overlapping fixed-size copies, which compile to a few vector moves. Once per segment.
#[inline]
pub(crate) fn copy_headers(dst: &mut [u8], src: &[u8]) {
    fn two<const N: usize>(dst: &mut [u8], src: &[u8]) -> bool {
        let (Some(d), Some(s)) = (dst.first_chunk_mut::<N>(), src.first_chunk::<N>()) else {
            return false;
        };
        *d = *s;
        let (Some(d), Some(s)) = (dst.last_chunk_mut::<N>(), src.last_chunk::<N>()) else {
            return false;
        };
        *d = *s;
        true
    }
    let n = dst.len().min(src.len());
    let done = dst.len() == src.len()
        && match n {
            16..=32 => two::<16>(dst, src),
            33..=64 => two::<32>(dst, src),
            65..=128 => two::<64>(dst, src),
            _ => false,
        };
    if !done {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = s;
        }
    }
}
