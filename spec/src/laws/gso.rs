//! The GSO laws (L4, fast == reference, L7), generic over [`Segment`], so that vnet-core, the
//! reference model and peers (tun-rs, …) are all held to the same laws.
//!
//! Each law returns `Err(TestCaseError)` naming what differed, as every law does (`laws`'s module
//! docs), so it runs inside `proptest!` with `?`, and a peer comparison reports it.

use vnet_core::check::{self, CheckOptions, GsoKind, GsoRequest, Offload};
use vnet_core::csum::{Portable, Summer};
use vnet_core::gso::{self, GsoOptions, Segmenter};
use vnet_core::hdr::VnetHdr;
use vnet_core::wire::{self, IpProtocol, IpVersion};

use proptest::test_runner::TestCaseError;

use super::{Core, CoreWith};
use crate::model::gso::ones_sum;

/// An implementation of "what goes on the wire for this (header, packet)": the packet itself, the
/// packet with its checksum completed, or its segments.
pub trait Segment {
    /// A name for messages.
    fn name(&self) -> &'static str;
    /// The packets to transmit, or why not.
    fn segment(&self, hdr: &VnetHdr, pkt: &[u8], opts: &GsoOptions) -> Transmitted;
}

/// What a [`Segment`] puts on the wire: the packets, or why not.
pub type Transmitted = Result<Vec<Vec<u8>>, String>;

/// The `check` options that match `opts`: the 24-byte layout with UDP-tunnel GSO and its checksum
/// negotiated, so that tunnel headers are judged too (a header without tunnel bits is judged as
/// before, except T14's bound, which then counts no unparsed header bytes).
pub fn check_options(opts: &GsoOptions) -> CheckOptions {
    CheckOptions {
        link: opts.link,
        kernel: opts.kernel,
        layout: vnet_core::hdr::Layout::V1HashTunnel,
        tunnel: true,
        tunnel_csum: true,
        ..CheckOptions::default()
    }
}

/// vnet-core: `check`, then `complete_checksum` or a [`Segmenter`].
impl Segment for Core {
    fn name(&self) -> &'static str {
        "vnet-core"
    }

    fn segment(&self, hdr: &VnetHdr, pkt: &[u8], opts: &GsoOptions) -> Transmitted {
        CoreWith(Portable).segment(hdr, pkt, opts)
    }
}

/// vnet-core with a [`Summer`]: `check`, then `complete_checksum_with` or
/// `Segmenter::with_summer`.
impl<S: Summer> Segment for CoreWith<S> {
    fn name(&self) -> &'static str {
        "vnet-core (summer)"
    }

    fn segment(&self, hdr: &VnetHdr, pkt: &[u8], opts: &GsoOptions) -> Transmitted {
        match check::check(hdr, pkt, &check_options(opts)).map_err(|e| e.to_string())? {
            Offload::Plain => Ok(vec![pkt.to_vec()]),
            Offload::Checksum(c) => {
                let mut out = pkt.to_vec();
                gso::complete_checksum_with(&mut out, c, self.0).map_err(|e| e.to_string())?;
                Ok(vec![out])
            }
            Offload::Segment(req) => {
                let mut seg =
                    Segmenter::with_summer(&req, pkt, opts, self.0).map_err(|e| e.to_string())?;
                let mut buf = vec![0u8; seg.max_segment_len()];
                let mut out = Vec::with_capacity(seg.segment_count());
                while let Some(len) = seg.next_into(&mut buf) {
                    let len = len.map_err(|e| e.to_string())?;
                    out.push(buf[..len].to_vec());
                }
                Ok(out)
            }
        }
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// A failure naming what differed, as every law reports one.
macro_rules! fail {
    ($($msg:tt)+) => {
        TestCaseError::fail(format!($($msg)+))
    };
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(fail!($($msg)+));
        }
    };
}

/// The transport checksum of `seg` verifies: pseudo-header + segment sums to 0xFFFF (C1, C2).
fn l4_verifies(seg: &[u8], h: &wire::Headers) -> bool {
    let l4 = &seg[h.l4_offset..];
    let ip = &seg[h.l3_offset..];
    let mut all = Vec::new();
    match h.ip {
        IpVersion::V4 => {
            all.extend_from_slice(&ip[12..20]);
            all.extend_from_slice(&[0, h.protocol.0]);
            all.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        }
        IpVersion::V6 => {
            all.extend_from_slice(&ip[8..40]);
            all.extend_from_slice(&(l4.len() as u32).to_be_bytes());
            all.extend_from_slice(&[0, 0, 0, h.protocol.0]);
        }
    }
    all.extend_from_slice(l4);
    ones_sum(&all) == 0xFFFF
}

/// Header bytes `a` and `b` agree except in the listed (offset, length) holes.
fn same_except(a: &[u8], b: &[u8], holes: &[(usize, usize)]) -> bool {
    a.len() == b.len()
        && (0..a.len())
            .all(|i| holes.iter().any(|&(at, n)| (at..at + n).contains(&i)) || a[i] == b[i])
}

/// L4: every packet `imp` puts on the wire for a super-packet that [`check::check`] accepts is
/// valid: headers as S1-S3b (every other header byte unchanged), checksums that verify, payloads
/// that concatenate to the original (a plain packet unchanged, a checksum request completed).
///
/// Plain: the packet unchanged. Checksum: the packet with a verifying checksum, nothing else
/// changed. Segments (TCP, USO): each passes `check` as a plain packet and parses; IPv4 header and
/// transport checksums verify; IP and UDP lengths agree with the bytes; every header byte is the
/// super-packet's except the fields S1-S3 rewrite; payloads are `gso_size` long but the last and
/// concatenate to the super-packet's payload; seq advances by the bytes before (mod 2^32); FIN/PSH
/// only on the last, CWR only on the first (all in AccECN mode); IPv4 ID + index (TCP fixed-ID:
/// constant). UFO: fragments with one ID, 8-byte-unit offsets, MF on all but the last, whose
/// reassembly is the datagram with a verifying UDP checksum.
pub fn valid_output<S: Segment>(
    imp: &S,
    hdr: &VnetHdr,
    pkt: &[u8],
    opts: &GsoOptions,
) -> Result<(), TestCaseError> {
    let name = imp.name();
    let offload = check::check(hdr, pkt, &check_options(opts))
        .map_err(|e| fail!("input is not valid: {e}"))?;
    let segs = imp
        .segment(hdr, pkt, opts)
        .map_err(|e| fail!("{name}: {e}"))?;
    match offload {
        Offload::Plain => {
            ensure!(segs == [pkt], "{name}: a plain packet changed");
            Ok(())
        }
        Offload::Checksum(c) => {
            ensure!(segs.len() == 1, "{name}: {} packets for one", segs.len());
            let out = &segs[0];
            let at = usize::from(c.start) + usize::from(c.offset);
            ensure!(
                same_except(out, pkt, &[(at, 2)]),
                "{name}: bytes other than the checksum changed"
            );
            // A tunnel packet that fits one segment (V5): the checksum is the inner one.
            let (base, link) = if hdr.gso_type.tunnel() != vnet_core::hdr::GsoType::NONE {
                (usize::from(hdr.inner_nh_offset), wire::Link::Tun)
            } else {
                (0, opts.link)
            };
            let inner = &out[base..];
            let h = wire::parse_headers(inner, link)
                .map_err(|e| fail!("{name}: output does not parse: {e}"))?;
            ensure!(
                base + h.l4_offset == usize::from(c.start) && l4_verifies(inner, &h),
                "{name}: completed checksum does not verify"
            );
            ensure!(be16(out, at) != 0, "{name}: checksum 0 not written 0xFFFF");
            Ok(())
        }
        Offload::Segment(req) => {
            let out = Output {
                name,
                req: &req,
                pkt,
                opts,
                segs: &segs,
            };
            if req.tunnel.is_some() {
                valid_tunnel_segments(out)
            } else if req.kind == GsoKind::Ufo {
                valid_fragments(out)
            } else {
                valid_segments(out)
            }
        }
    }
}

/// What L4 judges a segmented super-packet by: who segmented it, the request `check` found in
/// it, the input, the options, and the packets that came out.
#[derive(Clone, Copy)]
struct Output<'a> {
    name: &'a str,
    req: &'a GsoRequest,
    pkt: &'a [u8],
    opts: &'a GsoOptions,
    segs: &'a [Vec<u8>],
}

/// The IP header bytes S1-S3b rewrite in every segment: the IPv4 total length, ID and header
/// checksum, or the IPv6 payload length.
fn ip_holes(ip: IpVersion, l3: usize) -> Vec<(usize, usize)> {
    match ip {
        IpVersion::V4 => vec![(l3 + 2, 4), (l3 + 10, 2)],
        IpVersion::V6 => vec![(l3 + 4, 2)],
    }
}

/// Segment `i`'s IP header (`ip`: the segment from it on) agrees with its bytes: the IPv4 total
/// length, a verifying header checksum and the ID `id`, or the IPv6 payload length. `outer`
/// names a tunnel's outer header in the messages.
fn valid_ip(
    name: &str,
    i: usize,
    outer: &str,
    h: &wire::Headers,
    ip: &[u8],
    id: u16,
) -> Result<(), TestCaseError> {
    match h.ip {
        IpVersion::V4 => {
            ensure!(
                usize::from(be16(ip, 2)) == ip.len(),
                "{name}: {i}: {outer}tot_len"
            );
            ensure!(
                ones_sum(&ip[..h.l3_len]) == 0xFFFF,
                "{name}: {i}: {outer}IPv4 checksum"
            );
            ensure!(
                be16(ip, 4) == id,
                "{name}: {i}: {outer}IPv4 ID {} not {id}",
                be16(ip, 4)
            );
        }
        IpVersion::V6 => ensure!(
            usize::from(be16(ip, 4)) + 40 == ip.len(),
            "{name}: {i}: {outer}payload_len"
        ),
    }
    Ok(())
}

fn valid_segments(o: Output<'_>) -> Result<(), TestCaseError> {
    let (name, req, pkt, opts, segs) = (o.name, o.req, o.pkt, o.opts, o.segs);
    let h0 = req.headers;
    let (l3, l4, hdr_len) = (h0.l3_offset, h0.l4_offset, req.hdr_len);
    let mss = usize::from(req.gso_size);
    let payload = &pkt[hdr_len..];
    let count = payload.len().div_ceil(mss).max(1);
    ensure!(
        segs.len() == count,
        "{name}: {} segments, expected {count}",
        segs.len()
    );
    let tcp = req.kind == GsoKind::Tcp;
    let mut holes = ip_holes(h0.ip, l3);
    if tcp {
        holes.extend([(l4 + 4, 4), (l4 + 13, 1), (l4 + 16, 2)]);
    } else {
        holes.push((l4 + 4, 4));
    }
    let mut joined = Vec::with_capacity(payload.len());
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == count;
        let plain = check::check(&VnetHdr::default(), seg, &check_options(opts));
        ensure!(
            plain == Ok(Offload::Plain),
            "{name}: segment {i} fails check: {plain:?}"
        );
        let h = wire::parse_headers(seg, opts.link)
            .map_err(|e| fail!("{name}: segment {i} does not parse: {e}"))?;
        ensure!(h == h0, "{name}: segment {i} headers moved: {h:?}");
        ensure!(
            seg.len() > hdr_len || count == 1,
            "{name}: segment {i} has no payload"
        );
        ensure!(
            same_except(&seg[..hdr_len], &pkt[..hdr_len], &holes),
            "{name}: segment {i}: a header byte S1-S3 do not rewrite changed"
        );
        let body = &seg[hdr_len..];
        ensure!(
            last || body.len() == mss,
            "{name}: segment {i} carries {} bytes, not gso_size {mss}",
            body.len()
        );
        let step = if tcp && opts.fixed_id { 0 } else { i as u16 };
        let id = be16(&pkt[l3..], 4).wrapping_add(step);
        valid_ip(name, i, "", &h, &seg[l3..], id)?;
        ensure!(
            l4_verifies(seg, &h),
            "{name}: segment {i}: transport checksum"
        );
        if tcp {
            let seq = be32(pkt, l4 + 4).wrapping_add(joined.len() as u32);
            ensure!(be32(seg, l4 + 4) == seq, "{name}: {i}: seq");
            let mut flags = pkt[l4 + 13];
            if !last {
                flags &= !0x09;
            }
            if i > 0 && !opts.accecn {
                flags &= !0x80;
            }
            ensure!(
                seg[l4 + 13] == flags,
                "{name}: {i}: flags {:#x} not {flags:#x}",
                seg[l4 + 13]
            );
        } else {
            ensure!(
                usize::from(be16(seg, l4 + 4)) == seg.len() - l4,
                "{name}: {i}: UDP length"
            );
            ensure!(be16(seg, l4 + 6) != 0, "{name}: {i}: UDP checksum 0 (C4)");
            ensure!(h.protocol == IpProtocol::UDP, "{name}: {i}: protocol");
        }
        joined.extend_from_slice(body);
    }
    ensure!(
        joined == payload,
        "{name}: payloads do not concatenate to the input's"
    );
    Ok(())
}

/// S3b: every segment is the outer headers (bytes unchanged except the outer IP length, IPv4
/// ID = first + index, header checksum, UDP length, and with UDP_TUNNEL_CSUM the UDP checksum)
/// followed by an inner segment; the outer IP and UDP lengths agree with the bytes, the outer IPv4
/// checksum verifies, the outer UDP checksum verifies with UDP_TUNNEL_CSUM (the seed is the
/// pseudo-header sum in valid inputs, C3) and is the packet's without; the inner segments, taken
/// as a TUN super-packet from `inner_nh`, pass the plain L4 above.
fn valid_tunnel_segments(o: Output<'_>) -> Result<(), TestCaseError> {
    let (name, req, pkt, opts, segs) = (o.name, o.req, o.pkt, o.opts, o.segs);
    let t = req.tunnel.ok_or_else(|| fail!("not a tunnel"))?;
    let outer = wire::parse_headers(pkt, opts.link).map_err(|e| fail!("{e}"))?;
    let (th, nh) = (outer.l4_offset, usize::from(t.inner_nh));
    let l3 = outer.l3_offset;
    let mut holes = ip_holes(outer.ip, l3);
    holes.push((th + 4, if t.outer_csum { 4 } else { 2 }));
    for (i, seg) in segs.iter().enumerate() {
        ensure!(
            seg.len() > nh,
            "{name}: {i}: shorter than the outer headers"
        );
        ensure!(
            same_except(&seg[..nh], &pkt[..nh], &holes),
            "{name}: {i}: an outer header byte S3b does not rewrite changed"
        );
        let h = wire::parse_headers(seg, opts.link).map_err(|e| fail!("{name}: {i}: {e}"))?;
        ensure!(h == outer, "{name}: {i}: outer headers moved");
        let id = be16(&pkt[l3..], 4).wrapping_add(i as u16);
        valid_ip(name, i, "outer ", &h, &seg[l3..], id)?;
        ensure!(
            usize::from(be16(seg, th + 4)) == seg.len() - th,
            "{name}: {i}: outer UDP length"
        );
        if t.outer_csum {
            ensure!(l4_verifies(seg, &h), "{name}: {i}: outer UDP checksum");
            ensure!(
                be16(seg, th + 6) != 0,
                "{name}: {i}: outer UDP checksum 0 (C4)"
            );
        } else {
            ensure!(
                be16(seg, th + 6) == be16(pkt, th + 6),
                "{name}: {i}: outer UDP checksum field changed without UDP_TUNNEL_CSUM"
            );
        }
    }
    let mut inner_req = *req;
    inner_req.tunnel = None;
    inner_req.hdr_len -= nh;
    inner_req.headers.l3_offset -= nh;
    inner_req.headers.l4_offset -= nh;
    let inner_opts = GsoOptions {
        link: wire::Link::Tun,
        ..*opts
    };
    let inner: Vec<Vec<u8>> = segs.iter().map(|s| s[nh..].to_vec()).collect();
    valid_segments(Output {
        name,
        req: &inner_req,
        pkt: &pkt[nh..],
        opts: &inner_opts,
        segs: &inner,
    })
}

fn valid_fragments(o: Output<'_>) -> Result<(), TestCaseError> {
    let (name, req, pkt, opts, segs) = (o.name, o.req, o.pkt, o.opts, o.segs);
    let h0 = req.headers;
    let (l3, l4) = (h0.l3_offset, h0.l4_offset);
    let v6 = h0.ip == IpVersion::V6;
    let mss = usize::from(req.gso_size);
    let ext_len = if v6 { l4 - l3 - 40 } else { 0 };
    // IPv6: where the fragment header sits (K8): after the last extension header here (the
    // generators make no routing headers), i.e. right before the UDP header.
    let frag_at = l4;
    let mut datagram = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        let body = if v6 {
            ensure!(
                seg.len() >= l4 + 8,
                "{name}: {i}: no room for a fragment header"
            );
            let frag = &seg[frag_at..frag_at + 8];
            let mut before = seg[..frag_at].to_vec();
            let named = if ext_len == 0 {
                l3 + 6
            } else {
                last_ext(pkt, l3, l4)
            };
            ensure!(
                before[named] == 44,
                "{name}: {i}: fragment header not named"
            );
            before[named] = pkt[named];
            ensure!(
                same_except(&before, &pkt[..l4], &[(l3 + 4, 2)]),
                "{name}: fragment {i}: header changed beyond payload_len / next header"
            );
            ensure!(
                usize::from(be16(seg, l3 + 4)) + 40 == seg.len() - l3,
                "{name}: {i}: payload_len"
            );
            ensure!(
                frag[0] == pkt[named] && frag[1] == 0,
                "{name}: {i}: fragment header next/reserved"
            );
            let word = (i * (mss + ext_len)) as u16 | u16::from(!last);
            ensure!(
                be16(frag, 2) == word,
                "{name}: {i}: offset word {:#x} not {word:#x}",
                be16(frag, 2)
            );
            ensure!(
                frag[4..8] == opts.frag_id.to_be_bytes(),
                "{name}: {i}: identification"
            );
            &seg[l4 + 8..]
        } else {
            ensure!(
                same_except(
                    &seg[..l4],
                    &pkt[..l4],
                    &[(l3 + 2, 2), (l3 + 6, 2), (l3 + 10, 2)]
                ),
                "{name}: fragment {i}: header changed beyond length/fragment/checksum"
            );
            let ip = &seg[l3..];
            ensure!(usize::from(be16(ip, 2)) == ip.len(), "{name}: {i}: tot_len");
            ensure!(
                ones_sum(&ip[..l4 - l3]) == 0xFFFF,
                "{name}: {i}: IPv4 checksum"
            );
            let word = be16(ip, 6);
            ensure!(
                usize::from(word & 0x1FFF) == datagram.len() / 8,
                "{name}: {i}: offset"
            );
            ensure!((word & 0x2000 != 0) != last, "{name}: {i}: MF");
            ensure!(word & 0xC000 == 0, "{name}: {i}: DF/reserved");
            &seg[l4..]
        };
        ensure!(last || body.len() == mss, "{name}: {i}: size");
        datagram.extend_from_slice(body);
    }
    let expected_len = pkt.len() - l4;
    ensure!(datagram.len() == expected_len, "{name}: reassembled length");
    ensure!(
        datagram[8..] == pkt[l4 + 8..],
        "{name}: reassembled payload"
    );
    ensure!(datagram[..6] == pkt[l4..l4 + 6], "{name}: ports and length");
    let mut whole = pkt[..l4].to_vec();
    whole.extend_from_slice(&datagram);
    // The pseudo-header takes the length of the bytes present (C2), as Linux's UFO does.
    ensure!(
        l4_verifies(&whole, &h0),
        "{name}: UDP checksum over the datagram"
    );
    ensure!(be16(&datagram, 6) != 0, "{name}: UDP checksum 0 (C4)");
    Ok(())
}

/// The offset of the last extension header's next-header byte.
fn last_ext(pkt: &[u8], l3: usize, l4: usize) -> usize {
    let mut at = l3 + 40;
    loop {
        let next = at + (usize::from(pkt[at + 1]) + 1) * 8;
        if next >= l4 {
            return at;
        }
        at = next;
    }
}

/// Fast == reference: `a` and `b` put the same packets on the wire, or both refuse.
pub fn agree<A: Segment, B: Segment>(
    a: &A,
    b: &B,
    hdr: &VnetHdr,
    pkt: &[u8],
    opts: &GsoOptions,
) -> Result<(), TestCaseError> {
    match (a.segment(hdr, pkt, opts), b.segment(hdr, pkt, opts)) {
        (Ok(x), Ok(y)) => {
            if x == y {
                return Ok(());
            }
            let first = x.iter().zip(&y).position(|(p, q)| p != q);
            Err(fail!(
                "{} and {} differ: {} vs {} packets, first difference at packet {first:?}",
                a.name(),
                b.name(),
                x.len(),
                y.len()
            ))
        }
        (Err(_), Err(_)) => Ok(()),
        (x, y) => Err(fail!(
            "{}: {:?}; {}: {:?}",
            a.name(),
            x.map(|v| v.len()),
            b.name(),
            y.map(|v| v.len())
        )),
    }
}

/// L7: on any input, `imp` returns (never panics), and whatever it returns is bounded: no packet
/// longer than the input's headers plus its payload, and (when segments) no more of them than bytes.
pub fn total<S: Segment>(
    imp: &S,
    hdr: &VnetHdr,
    pkt: &[u8],
    opts: &GsoOptions,
) -> Result<(), TestCaseError> {
    if let Ok(out) = imp.segment(hdr, pkt, opts) {
        ensure!(
            out.iter().all(|p| p.len() <= pkt.len()),
            "{}: an output packet is longer than the input",
            imp.name()
        );
        ensure!(
            out.len() <= pkt.len().max(1),
            "{}: more packets than bytes",
            imp.name()
        );
    }
    Ok(())
}

/// The [`Segmenter`]'s segments of `pkt`, or its refusal; a failure after it accepted is a
/// violation (the outer `Err`).
fn cursor_segments(
    req: &GsoRequest,
    pkt: &[u8],
    opts: &GsoOptions,
) -> Result<Result<Vec<Vec<u8>>, gso::GsoError>, TestCaseError> {
    let mut seg = match Segmenter::new(req, pkt, opts) {
        Ok(seg) => seg,
        Err(e) => return Ok(Err(e)),
    };
    let mut buf = vec![0u8; seg.max_segment_len()];
    let mut v = Vec::new();
    while let Some(r) = seg.next_into(&mut buf) {
        let len = r.map_err(|e| fail!("cursor failed mid-way: {e}"))?;
        v.push(buf[..len].to_vec());
    }
    Ok(Ok(v))
}

/// The byte the buffer-shape laws fill arenas with, to see what a call wrote.
const CANARY: u8 = 0xA5;
/// Canary bytes around each buffer.
const GAP: usize = 7;

/// Whether nothing wrote into `bytes`: all canary.
fn untouched(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == CANARY)
}

/// `len` plus `delta`, at least 0: a buffer size near a true length.
fn nudged(len: usize, delta: i8) -> usize {
    (len as isize + isize::from(delta)).max(0) as usize
}

/// The canary gaps around `arena[GAP..GAP + size]`, the one buffer a call had, are intact.
fn gaps_intact(what: &str, arena: &[u8], size: usize) -> Result<(), TestCaseError> {
    ensure!(
        untouched(&arena[..GAP]),
        "{what}: canary before overwritten"
    );
    ensure!(
        untouched(&arena[GAP + size..]),
        "{what}: canary after overwritten"
    );
    Ok(())
}

/// L7 for vnet-core's buffer shapes: any request (perhaps not this packet's) and any buffer sizes
/// (`deltas` added to the true segment lengths, `extra` buffers more or fewer than segments).
/// Buffers sit in an arena with canary gaps between them. Then: no byte outside a buffer changes;
/// if a buffer is too small or too few are given, the result is an error and no buffer byte
/// changes (S5); otherwise the segments are the cursor's, byte for byte. Same for the packed shape
/// and for the cursor itself.
pub fn canary(
    req: &GsoRequest,
    pkt: &[u8],
    opts: &GsoOptions,
    deltas: &[i8],
    extra: i8,
) -> Result<(), TestCaseError> {
    // The truth, from the cursor (if the request is refused, every shape must refuse).
    let expected = cursor_segments(req, pkt, opts)?.ok();
    let lens: Vec<usize> = expected
        .as_ref()
        .map_or_else(|| vec![64; 2], |v| v.iter().map(Vec::len).collect());
    let n = nudged(lens.len(), extra);
    let sizes: Vec<usize> = (0..n)
        .map(|i| {
            let base = lens.get(i).copied().unwrap_or(64);
            nudged(
                base,
                deltas.get(i % deltas.len().max(1)).copied().unwrap_or(0),
            )
        })
        .collect();
    let total: usize = sizes.iter().sum::<usize>() + GAP * (n + 1);
    let mut arena = vec![CANARY; total];
    let mut out_lens = vec![usize::MAX; n];
    let result = {
        let mut bufs: Vec<&mut [u8]> = Vec::with_capacity(n);
        let mut rest = &mut arena[GAP..];
        for &s in &sizes {
            let (buf, tail) = rest.split_at_mut(s);
            bufs.push(buf);
            rest = &mut tail[GAP..];
        }
        gso::segment_into(req, pkt, opts, &mut bufs, &mut out_lens)
    };
    let fits = expected
        .as_ref()
        .is_some_and(|e| n >= e.len() && e.iter().zip(&sizes).all(|(s, &b)| b >= s.len()));
    let mut at = 0;
    for (i, &s) in sizes.iter().enumerate() {
        ensure!(
            untouched(&arena[at..at + GAP]),
            "canary before buffer {i} overwritten"
        );
        at += GAP;
        let buf = &arena[at..at + s];
        if fits {
            let want = expected.as_ref().and_then(|e| e.get(i));
            match want {
                Some(w) => {
                    ensure!(out_lens[i] == w.len(), "buffer {i}: length {}", out_lens[i]);
                    ensure!(
                        buf[..w.len()] == w[..],
                        "buffer {i}: bytes differ from the cursor's"
                    );
                    ensure!(
                        untouched(&buf[w.len()..]),
                        "buffer {i}: written past its segment"
                    );
                }
                None => ensure!(untouched(buf), "spare buffer {i} written"),
            }
        } else {
            ensure!(untouched(buf), "buffer {i} written although the call fails");
        }
        at += s;
    }
    ensure!(
        untouched(&arena[at..]),
        "canary after the last buffer overwritten"
    );
    match (&expected, fits, result) {
        (Some(e), true, Ok(count)) => ensure!(count == e.len(), "count {count}"),
        (_, false, Err(_)) => {
            ensure!(
                out_lens.iter().all(|&l| l == usize::MAX),
                "lengths written by a failing call"
            );
        }
        (_, _, r) => return Err(fail!("segment_into returned {r:?}, fits = {fits}")),
    }

    // The packed shape, in a buffer of the true total plus the first delta.
    let want_total: usize = expected
        .as_ref()
        .map_or(128, |e| e.iter().map(Vec::len).sum());
    let first_delta = deltas.first().copied().unwrap_or(0);
    let size = nudged(want_total, first_delta);
    let mut arena = vec![CANARY; size + 2 * GAP];
    let r = gso::segment_packed(req, pkt, opts, &mut arena[GAP..GAP + size]);
    gaps_intact("packed", &arena, size)?;
    match (&expected, r) {
        (Some(e), Ok(p)) => {
            let joined = e.concat();
            ensure!(
                size >= joined.len(),
                "packed: succeeded in too small a buffer"
            );
            ensure!(
                arena[GAP..GAP + p.size] == joined[..],
                "packed: bytes differ from the cursor's"
            );
            ensure!(p.count == e.len(), "packed: count");
        }
        (Some(e), Err(_)) => {
            ensure!(
                size < e.concat().len(),
                "packed: refused a buffer that fits"
            );
            ensure!(untouched(&arena), "packed: wrote before failing");
        }
        (None, Ok(p)) => return Err(fail!("packed: accepted what the cursor refused: {p:?}")),
        (None, Err(_)) => {}
    }

    // The cursor with one buffer of the first segment's length plus the first delta.
    if let (Some(e), Ok(mut seg)) = (&expected, Segmenter::new(req, pkt, opts)) {
        let size = nudged(e[0].len(), first_delta);
        let mut arena = vec![CANARY; size + 2 * GAP];
        for (i, want) in e.iter().enumerate() {
            let r = seg.next_into(&mut arena[GAP..GAP + size]);
            gaps_intact("cursor", &arena, size)?;
            match r {
                Some(Ok(len)) => ensure!(
                    arena[GAP..GAP + len] == want[..],
                    "cursor: segment {i} differs"
                ),
                Some(Err(_)) => {
                    ensure!(size < want.len(), "cursor: refused a buffer that fits");
                    break;
                }
                None => return Err(fail!("cursor: ended after {i} of {}", e.len())),
            }
        }
    }
    Ok(())
}

/// `pkt` cut at `cuts` (positions taken modulo `len + 1`, sorted; repeats make empty pieces).
pub fn cut<'a>(pkt: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|&c| c % (pkt.len() + 1)).collect();
    at.sort_unstable();
    let mut pieces = Vec::with_capacity(at.len() + 1);
    let mut from = 0;
    for c in at {
        pieces.push(&pkt[from..c]);
        from = c;
    }
    pieces.push(&pkt[from..]);
    pieces
}

/// The bytes the iovec form reads the headers from (see `gso::HEAD_MAX`).
fn iovec_head_len(pieces: &[&[u8]]) -> usize {
    let total: usize = pieces.iter().map(|p| p.len()).sum();
    let first = pieces.first().map_or(0, |p| p.len());
    if first >= total.min(gso::HEAD_MAX) {
        first
    } else {
        total.min(gso::HEAD_MAX)
    }
}

/// L9: the iovec form (S6) of `pkt` cut into `pieces` equals the contiguous form, refusals
/// included. With [`Segmenter`] as the truth: where it segments, every iovec segment (its header
/// as `write_headers` wrote it, then its payload slices) is the cursor's segment byte for byte,
/// every payload slice lies inside `pkt` (nothing copied) and none is empty; where it refuses,
/// the iovec form refuses with the same error. The exceptions, each a typed refusal: UFO
/// (`Unsupported`), and headers that reach past the bytes the iovec form reads them from (a
/// `Truncated` wire error). S5: a header buffer one byte short, or a stride one byte short, is
/// an error with nothing written; the bytes between headers (stride `hdr_len + gap`) and after
/// the last are never written. Headers are written at a stride `gap` bytes past their length.
pub fn iovec_equals_contiguous(
    req: &GsoRequest,
    pkt: &[u8],
    pieces: &[&[u8]],
    opts: &GsoOptions,
    gap: usize,
) -> Result<(), TestCaseError> {
    let expected = cursor_segments(req, pkt, opts)?.map(|v| {
        let total = v.iter().map(Vec::len).sum::<usize>();
        (v, total)
    });
    let head = iovec_head_len(pieces);
    let short_head = head < pkt.len();
    let ufo = req.kind == GsoKind::Ufo;
    let is_truncated =
        |e: &gso::GsoError| matches!(e, gso::GsoError::Wire(wire::Error::Truncated { .. }));
    let plan = match (gso::IovecPlan::new(req, pieces, opts), &expected) {
        (Err(e), _) if ufo && matches!(e, gso::GsoError::Unsupported(_)) => return Ok(()),
        (Err(e), Err(want)) => {
            ensure!(
                e == *want || (short_head && is_truncated(&e)),
                "iovec refused with {e:?}, contiguous with {want:?}"
            );
            return Ok(());
        }
        (Err(e), Ok(_)) => {
            ensure!(
                short_head && is_truncated(&e) && req.hdr_len > head,
                "iovec refused with {e:?} what the contiguous form segments (head {head})"
            );
            return Ok(());
        }
        (Ok(p), Err(want)) => {
            return Err(fail!(
                "iovec accepted ({} segments) what the contiguous form refuses: {want:?}",
                p.segment_count()
            ));
        }
        (Ok(p), Ok(_)) => p,
    };
    ensure!(!ufo, "iovec accepted UFO");
    let (want, total) = expected.map_err(|e| fail!("{e}"))?;
    ensure!(
        plan.segment_count() == want.len() && plan.total_len() == total,
        "count {} total {} vs {} {}",
        plan.segment_count(),
        plan.total_len(),
        want.len(),
        total
    );
    let hdr_len = plan.header_len();
    let stride = hdr_len + gap;
    let need = plan.headers_len(stride);
    // S5: one byte short of buffer, or of stride: refused, nothing written.
    let mut small = vec![CANARY; need - 1];
    ensure!(
        plan.write_headers(&mut small, stride).is_err(),
        "a header buffer one byte short was accepted"
    );
    ensure!(untouched(&small), "a refused header buffer was written");
    let mut tight = vec![CANARY; need + 8];
    ensure!(
        plan.write_headers(&mut tight, hdr_len - 1).is_err(),
        "a stride one byte short was accepted"
    );
    ensure!(untouched(&tight), "a refused stride was written");
    let mut headers = vec![CANARY; need + 8];
    plan.write_headers(&mut headers, stride)
        .map_err(|e| fail!("write_headers: {e}"))?;
    for i in 0..want.len() {
        let between = &headers[i * stride + hdr_len..((i + 1) * stride).min(need + 8)];
        ensure!(untouched(between), "bytes after header {i} written");
    }
    ensure!(
        untouched(&headers[need..]),
        "bytes after the last header written"
    );
    let range = pkt.as_ptr_range();
    let mut n = 0;
    for (i, (header, payload)) in plan.segments(&headers, stride).enumerate() {
        let mut seg = header.to_vec();
        let mut len = 0;
        for piece in payload {
            ensure!(!piece.is_empty(), "segment {i}: an empty payload slice");
            let r = piece.as_ptr_range();
            ensure!(
                range.start <= r.start && r.end <= range.end,
                "segment {i}: a payload slice outside the input"
            );
            len += piece.len();
            seg.extend_from_slice(piece);
        }
        ensure!(len == payload.len(), "segment {i}: payload length");
        ensure!(
            Some(seg.len()) == plan.segment_len(i),
            "segment {i}: segment_len"
        );
        let w = want
            .get(i)
            .ok_or_else(|| fail!("more iovec segments than the cursor's"))?;
        if seg != *w {
            let at = seg.iter().zip(w).position(|(a, b)| a != b);
            return Err(fail!(
                "segment {i}: iovec bytes differ from the cursor's (lengths {} {}, first at {at:?})",
                seg.len(),
                w.len()
            ));
        }
        n += 1;
    }
    ensure!(n == want.len(), "{n} iovec segments of {}", want.len());
    Ok(())
}
