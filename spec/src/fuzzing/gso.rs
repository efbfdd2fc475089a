//! `gso`: check then segmentation on any (header, options, packet): never panics, vnet-core
//! transmits what the reference model transmits, in all three output shapes, and every segment is a
//! packet of its own.

use super::form;
use vnet_core::check::{self, GsoKind, GsoRequest, Offload};
use vnet_core::gso::{self, GsoOptions, Segmenter};
use vnet_core::hdr::VnetHdr;
use vnet_core::wire::{self, IpVersion, Ipv4Packet, Ipv6Packet, Link, UdpPacket};

use crate::laws::gso::{canary, check_options};
use crate::model::gso::transmit;

/// One input of the `gso` target: a header, the segmentation options, how to size the output
/// buffers, an optional twist of the request, and the packet.
///
/// Its byte form is fixed, like [`CheckInput`](super::CheckInput)'s: the header as the 24-byte
/// layout in little-endian order; one byte of option bits (`GSO_*`, and the kernel profile's
/// index at [`GSO_KERNEL_SHIFT`]); the profile's `udp_max_segments` and
/// `frag_id` little-endian (2 and 4 bytes); the buffer-size delta and the buffer-count delta (one
/// signed byte each); the twist (one byte); then the packet. [`Arbitrary`] reads exactly that form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GsoInput {
    /// The virtio-net header.
    pub hdr: VnetHdr,
    /// The options (the link is also `check`'s).
    pub opts: GsoOptions,
    /// Added to every true segment length to size the output buffers ([`canary`]).
    pub delta: i8,
    /// Output buffers more (or fewer) than segments ([`canary`]).
    pub extra: i8,
    /// 0: segment `check`'s request as it is; else change one field of it first (see [`twist`]),
    /// so that the segmenter meets a request that is not this packet's (S5: never trusted).
    pub twist: u8,
    /// The packet after the header.
    pub packet: Vec<u8>,
}

/// Option bit: the packet is a TAP frame (else TUN).
pub const GSO_TAP: u8 = 0x01;
/// Option bit: AccECN (CWR on every segment).
pub const GSO_ACCECN: u8 = 0x02;
/// Option bit: fixed IPv4 IDs for TCP.
pub const GSO_FIXED_ID: u8 = 0x04;
/// Option bits 3-4: the kernel profile, an index into [`KERNELS`](crate::kernels::KERNELS).
pub const GSO_KERNEL_SHIFT: u8 = 3;

const FIXED: usize = form::HDR + 1 + 2 + 4 + 3;

impl GsoInput {
    /// Decodes the byte form; `None` if it is shorter than the fixed part.
    pub fn from_bytes(data: &[u8]) -> Option<GsoInput> {
        let (hdr, bits, kernel, rest) = form::read_head(data, GSO_KERNEL_SHIFT)?;
        let (&[f0, f1, f2, f3, delta, extra, twist], packet) = rest.split_first_chunk::<7>()?;
        let opts = GsoOptions {
            link: form::link(bits & GSO_TAP != 0),
            accecn: bits & GSO_ACCECN != 0,
            fixed_id: bits & GSO_FIXED_ID != 0,
            kernel,
            frag_id: u32::from_le_bytes([f0, f1, f2, f3]),
        };
        Some(GsoInput {
            hdr,
            opts,
            delta: delta as i8,
            extra: extra as i8,
            twist,
            packet: packet.to_vec(),
        })
    }

    /// The byte form that [`from_bytes`](Self::from_bytes) decodes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let o = &self.opts;
        let bits = form::bits(&[
            (o.link == Link::Tap, GSO_TAP),
            (o.accecn, GSO_ACCECN),
            (o.fixed_id, GSO_FIXED_ID),
        ]);
        let mut out = form::head(&self.hdr, bits, &o.kernel, GSO_KERNEL_SHIFT);
        out.extend_from_slice(&o.frag_id.to_le_bytes());
        out.extend_from_slice(&[self.delta as u8, self.extra as u8, self.twist]);
        out.extend_from_slice(&self.packet);
        out
    }
}

arbitrary_from_bytes!(GsoInput, fixed: FIXED, tail: packet);

/// Changes one field of `req` by a small amount chosen by `t` (bits 0-2 the field, 3-7 the
/// amount): `hdr_len`, `payload_len`, the transport offset, `gso_size`, the kind, the checksum
/// offset, the tunnel's inner offset; 0 leaves it as it is.
pub fn twist(req: &GsoRequest, t: u8) -> GsoRequest {
    let mut r = *req;
    let k = usize::from(t >> 3) + 1;
    match t & 7 {
        1 => r.hdr_len = r.hdr_len.wrapping_add(k),
        2 => r.hdr_len = r.hdr_len.saturating_sub(k),
        3 => r.payload_len = r.payload_len.wrapping_add(k),
        4 => r.headers.l4_offset = r.headers.l4_offset.wrapping_add(k),
        5 => r.gso_size = (r.gso_size / 2).max(1) + t as u16 % 3,
        6 => {
            r.kind = match r.kind {
                GsoKind::Tcp => GsoKind::Uso,
                GsoKind::Uso => GsoKind::Ufo,
                GsoKind::Ufo => GsoKind::Tcp,
            }
        }
        7 => {
            if let Some(t) = &mut r.tunnel {
                t.inner_nh = t.inner_nh.wrapping_add(k as u16);
            } else if let Some(c) = &mut r.csum {
                c.offset = c.offset.wrapping_add(k as u16);
            }
        }
        _ => {}
    }
    r
}

/// Runs `check` (with the options the GSO laws use: 24-byte layout, tunnel GSO and its checksum
/// negotiated) and then what it asks for, and asserts:
///
/// - never a panic; errors name a rule;
/// - fast == reference: vnet-core's bytes are [`transmit`]'s (the reference model), or both refuse;
///   a completed checksum writes nothing when it fails;
/// - a segmentation request: the [`Segmenter`]'s counts and lengths are its segments'; every
///   segment passes `check` as a plain packet and its IP (and UDP, outer and inner) lengths agree
///   with its bytes;
/// - the three output shapes ([`Segmenter`], [`gso::segment_into`], [`gso::segment_packed`]) give
///   the same bytes, in buffers of the true sizes plus `delta`, `extra` buffers more or fewer,
///   each inside a canary-filled arena: on error no buffer byte and no length is written, on
///   success nothing outside the segments ([`canary`]); the same for the twisted request.
pub fn gso(input: &GsoInput) {
    let GsoInput {
        hdr,
        opts,
        delta,
        extra,
        twist: t,
        packet,
    } = input;
    let copts = check_options(opts);
    let reference = transmit(hdr, packet, opts);
    let offload = match check::check(hdr, packet, &copts) {
        Ok(offload) => offload,
        Err(e) => {
            assert!(!e.rule().is_empty());
            assert!(reference.is_err(), "the model transmits what check refuses");
            return;
        }
    };
    let req = match offload {
        Offload::Plain => {
            assert_eq!(reference, Ok(vec![packet.clone()]), "plain: the packet");
            return;
        }
        Offload::Checksum(c) => {
            let mut out = packet.clone();
            match gso::complete_checksum(&mut out, c) {
                Ok(()) => assert_eq!(reference, Ok(vec![out]), "S4: fast == reference"),
                Err(e) => {
                    assert!(!e.rule().is_empty());
                    assert_eq!(&out, packet, "a failed checksum completion wrote");
                    assert!(reference.is_err(), "S4: the model completes it");
                }
            }
            return;
        }
        Offload::Segment(req) => req,
    };

    let fast = Segmenter::new(&req, packet, opts).map(|mut seg| {
        let lens: Vec<usize> = (0..seg.segment_count())
            .map(|i| seg.segment_len(i).expect("a length for every segment"))
            .collect();
        assert_eq!(seg.segment_len(lens.len()), None);
        assert_eq!(seg.total_len(), lens.iter().sum::<usize>());
        assert_eq!(Some(seg.max_segment_len()), lens.iter().copied().max());
        let mut buf = vec![0u8; seg.max_segment_len()];
        let mut out = Vec::with_capacity(lens.len());
        while let Some(r) = seg.next_into(&mut buf) {
            let len = r.expect("a buffer of max_segment_len fits every segment");
            assert_eq!(len, lens[out.len()], "segment_len is the written length");
            out.push(buf[..len].to_vec());
            assert_eq!(seg.remaining(), lens.len() - out.len());
        }
        assert_eq!(out.len(), lens.len());
        out
    });
    match (&fast, &reference) {
        (Ok(a), Ok(b)) => assert!(
            a == b,
            "fast != reference: {} vs {} segments, first difference at {:?}",
            a.len(),
            b.len(),
            a.iter().zip(b).position(|(x, y)| x != y)
        ),
        (Err(e), Err(_)) => assert!(!e.rule().is_empty()),
        (a, b) => panic!(
            "vnet-core {:?}, model {:?}",
            a.as_ref().map(Vec::len),
            b.as_ref().map(Vec::len)
        ),
    }
    if let Ok(segs) = &fast {
        for (i, seg) in segs.iter().enumerate() {
            recheck(i, seg, &req, opts);
        }
    }
    let deltas = [*delta];
    if let Err(e) = canary(&req, packet, opts, &deltas, *extra) {
        panic!("{e}");
    }
    if *t != 0 {
        let twisted = twist(&req, *t);
        if let Err(e) = canary(&twisted, packet, opts, &deltas, *extra) {
            panic!("twisted request {twisted:?}: {e}");
        }
    }
}

/// Segment `i` is a packet of its own: `check` takes it as a plain packet, its headers parse where
/// the request put them, and every length field agrees with its bytes.
fn recheck(i: usize, seg: &[u8], req: &GsoRequest, opts: &GsoOptions) {
    let plain = check::check(&VnetHdr::default(), seg, &check_options(opts));
    assert_eq!(plain, Ok(Offload::Plain), "segment {i} fails check");
    let h = wire::parse_headers(seg, opts.link)
        .unwrap_or_else(|e| panic!("segment {i} does not parse: {e}"));
    ip_length_agrees(i, &seg[h.l3_offset..], h.ip);
    match req.tunnel {
        Some(t) => {
            let (th, nh) = (usize::from(t.outer_th), usize::from(t.inner_nh));
            assert_eq!(h.l4_offset, th, "segment {i}: the outer UDP header moved");
            let udp = UdpPacket::new_unchecked(&seg[th..]);
            assert_eq!(
                usize::from(udp.length()),
                seg.len() - th,
                "segment {i}: outer UDP length"
            );
            let inner = wire::parse_headers(&seg[nh..], Link::Tun)
                .unwrap_or_else(|e| panic!("segment {i}: inner headers: {e}"));
            ip_length_agrees(i, &seg[nh..], inner.ip);
            if req.kind == GsoKind::Uso {
                udp_length_agrees(i, seg, nh + inner.l4_offset);
            }
        }
        None => {
            assert_eq!(h.l3_offset, req.headers.l3_offset, "segment {i}: IP moved");
            if req.kind == GsoKind::Uso {
                udp_length_agrees(i, seg, h.l4_offset);
            }
            // UFO fragments are fragments; their UDP header (first fragment only) keeps the
            // datagram's length.
            if req.kind != GsoKind::Ufo {
                assert!(!h.fragment, "segment {i}: a fragment");
                assert_eq!(h.l4_offset, req.headers.l4_offset, "segment {i}: L4 moved");
            }
        }
    }
}

fn ip_length_agrees(i: usize, ip: &[u8], version: IpVersion) {
    let claimed = match version {
        IpVersion::V4 => usize::from(Ipv4Packet::new_unchecked(ip).total_len()),
        IpVersion::V6 => Ipv6Packet::new_unchecked(ip).total_len(),
    };
    assert_eq!(claimed, ip.len(), "segment {i}: IP length");
}

fn udp_length_agrees(i: usize, seg: &[u8], l4: usize) {
    let udp = UdpPacket::new_unchecked(&seg[l4..]);
    assert_eq!(
        usize::from(udp.length()),
        seg.len() - l4,
        "segment {i}: UDP length"
    );
}
