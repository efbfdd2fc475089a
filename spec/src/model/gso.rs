//! The reference segmenter: S1-S5 and C4 written out the slow, obvious way.
//!
//! It shares nothing with `vnet_core::gso`: headers are found here by reading the bytes, every
//! segment is built as a fresh `Vec` (headers copied, payload appended), every length is written and
//! every checksum is recomputed from scratch with the plain RFC 1071 loop below. Only the decision
//! *whether* a header asks for segmentation is taken from `vnet_core::check` (the V rules), so that
//! both implementations answer the same question.
//!
//! What a device transmits for a (header, packet) pair: the packet itself (no offload), the packet
//! with its checksum completed (S4), or the segments (S1-S3).

use vnet_core::check::{self, GsoKind, Offload};
use vnet_core::gso::GsoOptions;
use vnet_core::hdr::VnetHdr;
use vnet_core::wire::Link;

use crate::laws::gso::{Segment, Transmitted};

/// RFC 1071: the folded ones'-complement sum of big-endian 16-bit words, an odd byte padded.
pub fn ones_sum(data: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    let mut i = 0;
    while i < data.len() {
        let hi = u32::from(data[i]) << 8;
        let lo = if i + 1 < data.len() {
            u32::from(data[i + 1])
        } else {
            0
        };
        acc += hi | lo;
        acc = (acc & 0xFFFF) + (acc >> 16);
        i += 2;
    }
    acc as u16
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn set16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Where the headers are, read straight from the bytes.
#[derive(Clone, Copy, Debug)]
struct Layout {
    l3: usize,
    v6: bool,
    l4: usize,
    proto: u8,
}

impl Layout {
    /// The datagram length the IP header claims: IPv4 `total_len`, or IPv6 40 + `payload_len`.
    fn claimed_len(&self, pkt: &[u8]) -> usize {
        if self.v6 {
            usize::from(be16(pkt, self.l3 + 4)) + 40
        } else {
            usize::from(be16(pkt, self.l3 + 2))
        }
    }
}

fn layout(pkt: &[u8], link: Link) -> Result<Layout, String> {
    let short = || "packet shorter than its headers".to_string();
    let (l3, ethertype) = match link {
        Link::Tun => (0, None),
        Link::Tap => {
            let outer = be16(pkt.get(..14).ok_or_else(short)?, 12);
            if outer == 0x8100 {
                (18, Some(be16(pkt.get(..18).ok_or_else(short)?, 16)))
            } else {
                (14, Some(outer))
            }
        }
    };
    let first = *pkt.get(l3).ok_or_else(short)?;
    // A TAP frame carries IP only if its ethertype says so, and says which version.
    match (ethertype, first >> 4) {
        (None, _) | (Some(0x0800), 4) | (Some(0x86dd), 6) => {}
        (Some(t), v) => return Err(format!("ethertype {t:#06x} with IP version {v}")),
    }
    if first >> 4 == 4 {
        let ihl = usize::from(first & 0xF) * 4;
        if ihl < 20 {
            return Err(format!("IPv4 IHL {} is below 5", ihl / 4));
        }
        let ip = pkt.get(l3..l3 + ihl).ok_or_else(short)?;
        Ok(Layout {
            l3,
            v6: false,
            l4: l3 + ihl,
            proto: ip[9],
        })
    } else {
        let ip = pkt.get(l3..l3 + 40).ok_or_else(short)?;
        let mut next = ip[6];
        let mut at = l3 + 40;
        // Hop-by-hop, routing and destination options: (length + 1) * 8 bytes each.
        while matches!(next, 0 | 43 | 60) {
            let ext = pkt.get(at..at + 2).ok_or_else(short)?;
            next = ext[0];
            at += (usize::from(ext[1]) + 1) * 8;
        }
        Ok(Layout {
            l3,
            v6: true,
            l4: at,
            proto: next,
        })
    }
}

/// The pseudo-header (C2) as bytes, for a transport segment of `len` bytes.
fn pseudo(seg: &[u8], lay: &Layout, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    if lay.v6 {
        p.extend_from_slice(&seg[lay.l3 + 8..lay.l3 + 40]);
        p.extend_from_slice(&(len as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, lay.proto]);
    } else {
        p.extend_from_slice(&seg[lay.l3 + 12..lay.l3 + 20]);
        p.extend_from_slice(&[0, lay.proto]);
        p.extend_from_slice(&(len as u16).to_be_bytes());
    }
    p
}

/// The checksum of a transport segment that starts at `lay.l4`, its field at `field`: zero the
/// field, sum pseudo-header and segment, complement.
fn l4_checksum(seg: &mut [u8], lay: &Layout, field: usize) -> u16 {
    set16(seg, lay.l4 + field, 0);
    let l4_len = seg.len() - lay.l4;
    let mut all = pseudo(seg, lay, l4_len);
    all.extend_from_slice(&seg[lay.l4..]);
    !ones_sum(&all)
}

/// S1c with NEEDS_CSUM: the checksum of a segment as Linux completes it (K9). The sender's seed in
/// the super-packet's field (the pseudo-header sum, if it followed C3) has its length `old_len`
/// swapped for the segment's, in ones' complement; that goes in the field, and the checksum is
/// the complement of the sum from the transport header to the end, field included.
fn seeded_checksum(seg: &mut [u8], lay: &Layout, field: usize, pkt: &[u8], old_len: u32) -> u16 {
    let seed = be16(pkt, lay.l4 + field);
    let new_len = (seg.len() - lay.l4) as u32;
    let mut words = Vec::new();
    for w in [
        seed,
        !(old_len >> 16) as u16,
        !old_len as u16,
        (new_len >> 16) as u16,
        new_len as u16,
    ] {
        words.extend_from_slice(&w.to_be_bytes());
    }
    set16(seg, lay.l4 + field, ones_sum(&words));
    !ones_sum(&seg[lay.l4..])
}

/// Lengths and header checksum of an IP header whose datagram is the rest of `seg`.
fn fix_ip(seg: &mut [u8], lay: &Layout, id: Option<u16>, frag: Option<u16>) {
    let ip_len = seg.len() - lay.l3;
    if lay.v6 {
        set16(seg, lay.l3 + 4, (ip_len - 40) as u16);
        return;
    }
    set16(seg, lay.l3 + 2, ip_len as u16);
    if let Some(id) = id {
        set16(seg, lay.l3 + 4, id);
    }
    if let Some(frag) = frag {
        set16(seg, lay.l3 + 6, frag);
    }
    set16(seg, lay.l3 + 10, 0);
    let ihl = usize::from(seg[lay.l3] & 0xF) * 4;
    let check = !ones_sum(&seg[lay.l3..lay.l3 + ihl]);
    set16(seg, lay.l3 + 10, check);
}

/// What a device puts on the wire for `hdr` + `pkt`, by the rules (UDP tunnels included: `check`
/// runs with tunnel GSO and its checksum negotiated).
pub fn transmit(hdr: &VnetHdr, pkt: &[u8], opts: &GsoOptions) -> Transmitted {
    let copts = crate::laws::gso::check_options(opts);
    let req = match check::check(hdr, pkt, &copts).map_err(|e| e.to_string())? {
        Offload::Plain => return Ok(vec![pkt.to_vec()]),
        Offload::Checksum(c) => {
            // S4: sum from start to the end, the field included (it holds the pseudo-header sum).
            let (start, at) = (
                usize::from(c.start),
                usize::from(c.start) + usize::from(c.offset),
            );
            if at + 2 > pkt.len() {
                return Err("S4: checksum field outside the packet".into());
            }
            let mut out = pkt.to_vec();
            let mut check = !ones_sum(&out[start..]);
            if check == 0 {
                check = 0xFFFF;
            }
            set16(&mut out, at, check);
            return Ok(vec![out]);
        }
        Offload::Segment(req) => req,
    };
    if let Some(t) = req.tunnel {
        return tunnel(req.kind, usize::from(req.gso_size), &t, pkt, opts);
    }
    let seeded = req.csum.is_some();
    split(
        req.kind,
        usize::from(req.gso_size),
        pkt,
        opts.link,
        opts,
        seeded,
    )
}

/// S3b: a UDP-tunnel super-packet. The inner packet (from `inner_nh`, as on a TUN device) is
/// split by S1-S3; every segment gets the outer headers with the outer IP length, IPv4 ID (the
/// first plus the index) and header checksum, the outer UDP length, and with UDP_TUNNEL_CSUM the
/// outer UDP checksum over the outer UDP header and everything after it, seeded with the sender's
/// field (its outer UDP byte count swapped for the segment's, K24; 0 → 0xFFFF); without, the
/// field as the packet has it. The outer IP version and UDP offset are the packet's (the tunnel
/// bit and `outer_th` only bounded V7).
fn tunnel(
    kind: GsoKind,
    mss: usize,
    t: &check::Tunnel,
    pkt: &[u8],
    opts: &GsoOptions,
) -> Result<Vec<Vec<u8>>, String> {
    if kind == GsoKind::Ufo {
        return Err("S3: UFO in a UDP tunnel".into());
    }
    let outer = layout(pkt, opts.link)?;
    // The outer UDP header is where the outer IP header says (outer_th only bounded V7, K24).
    let (th, nh) = (outer.l4, usize::from(t.inner_nh));
    if outer.proto != 17 || nh < th + 8 || nh > pkt.len() {
        return Err("S3b: the outer headers are not IP + UDP before inner_nh".into());
    }
    if outer.claimed_len(pkt) != pkt.len() - outer.l3 {
        return Err("S1: outer IP length disagrees with the packet".into());
    }
    // S1, S3b: the outer headers are checked too; an outer IPv4 fragment (MF or an offset) is not
    // segmented. (An IPv6 fragment header ends the walk above, so its protocol is not UDP.)
    if !outer.v6 && be16(pkt, outer.l3 + 6) & 0x3FFF != 0 {
        return Err("S1: the outer IPv4 header is a fragment".into());
    }
    // A tunnel header always has NEEDS_CSUM (V7): the inner checksum field holds the seed.
    let inner = split(kind, mss, &pkt[nh..], Link::Tun, opts, true)?;
    let id0 = be16(pkt, outer.l3 + 4);
    let mut out = Vec::new();
    for (i, piece) in inner.iter().enumerate() {
        let mut seg = pkt[..nh].to_vec();
        seg.extend_from_slice(piece);
        fix_ip(&mut seg, &outer, Some(id0.wrapping_add(i as u16)), None);
        let udp_len = seg.len() - th;
        set16(&mut seg, th + 4, udp_len as u16);
        if t.outer_csum {
            let whole = (pkt.len() - th) as u32;
            let check = match seeded_checksum(&mut seg, &outer, 6, pkt, whole) {
                0 => 0xFFFF,
                c => c,
            };
            set16(&mut seg, th + 6, check);
        }
        out.push(seg);
    }
    Ok(out)
}

/// S1-S3 on a plain (not tunnelled) super-packet starting at `link`.
fn split(
    kind: GsoKind,
    mss: usize,
    pkt: &[u8],
    link: Link,
    opts: &GsoOptions,
    seeded: bool,
) -> Result<Vec<Vec<u8>>, String> {
    let lay = layout(pkt, link)?;
    // The IP length field must cover exactly the bytes present.
    if lay.claimed_len(pkt) != pkt.len() - lay.l3 {
        return Err("S1: IP length disagrees with the packet".into());
    }
    match kind {
        GsoKind::Tcp | GsoKind::Uso => {
            let tcp = kind == GsoKind::Tcp;
            let l4_len = if tcp {
                usize::from(pkt[lay.l4 + 12] >> 4) * 4
            } else {
                8
            };
            let headers = &pkt[..lay.l4 + l4_len];
            let payload = &pkt[lay.l4 + l4_len..];
            let pieces: Vec<&[u8]> = payload.chunks(mss).collect();
            if !tcp && pieces.len() > usize::from(opts.kernel.udp_max_segments) {
                return Err("S5: too many USO segments".into());
            }
            let id0 = be16(pkt, lay.l3 + 4);
            let mut out = Vec::new();
            for (i, piece) in pieces.iter().enumerate() {
                let last = i + 1 == pieces.len();
                let mut seg = headers.to_vec();
                seg.extend_from_slice(piece);
                let id = if tcp && opts.fixed_id {
                    id0
                } else {
                    id0.wrapping_add(i as u16)
                };
                fix_ip(&mut seg, &lay, Some(id), None);
                if tcp {
                    let seq0 = u32::from_be_bytes(pkt[lay.l4 + 4..lay.l4 + 8].try_into().unwrap());
                    let seq = seq0.wrapping_add((i * mss) as u32);
                    seg[lay.l4 + 4..lay.l4 + 8].copy_from_slice(&seq.to_be_bytes());
                    let mut flags = seg[lay.l4 + 13];
                    if !last {
                        flags &= !(0x01 | 0x08); // FIN, PSH
                    }
                    if i > 0 && !opts.accecn {
                        flags &= !0x80; // CWR
                    }
                    seg[lay.l4 + 13] = flags;
                    let check = if seeded {
                        seeded_checksum(&mut seg, &lay, 16, pkt, (pkt.len() - lay.l4) as u32)
                    } else {
                        l4_checksum(&mut seg, &lay, 16)
                    };
                    set16(&mut seg, lay.l4 + 16, check);
                } else {
                    let udp_len = seg.len() - lay.l4;
                    set16(&mut seg, lay.l4 + 4, udp_len as u16);
                    // USO always has NEEDS_CSUM (V4); Linux swaps the UDP length field's value.
                    let old_len = u32::from(be16(pkt, lay.l4 + 4));
                    let mut check = seeded_checksum(&mut seg, &lay, 6, pkt, old_len);
                    if check == 0 {
                        check = 0xFFFF;
                    }
                    set16(&mut seg, lay.l4 + 6, check);
                }
                out.push(seg);
            }
            Ok(out)
        }
        GsoKind::Ufo => {
            // S3a: the whole datagram's UDP checksum first, over the bytes as they are (the UDP
            // length field is not rewritten) with the pseudo-header length of the bytes present.
            let mut datagram = pkt[lay.l4..].to_vec();
            set16(&mut datagram, 6, 0);
            let mut all = pseudo(pkt, &lay, datagram.len());
            all.extend_from_slice(&datagram);
            let mut check = !ones_sum(&all);
            if check == 0 {
                check = 0xFFFF;
            }
            set16(&mut datagram, 6, check);
            // Fragments of exactly gso_size bytes (K7: not rounded), all with one ID.
            let pieces: Vec<&[u8]> = datagram.chunks(mss).collect();
            let mut out = Vec::new();
            if lay.v6 {
                // K8: a fragment header after the hop-by-hop, routing and destination options
                // (but before destination options that follow a routing header).
                let (mut next_at, mut at, mut routing) = (lay.l3 + 6, lay.l3 + 40, false);
                while at < lay.l4 {
                    let next = pkt[next_at];
                    let goes_on = next == 0 || next == 43 || (next == 60 && !routing);
                    if !goes_on {
                        break;
                    }
                    routing |= next == 43;
                    next_at = at;
                    at += (usize::from(pkt[at + 1]) + 1) * 8;
                }
                let ext_len = lay.l4 - lay.l3 - 40;
                // Linux's running offset: the previous fragment's payload_len minus the fragment
                // header, i.e. its data plus every extension header; written as a byte count.
                let mut offset = 0usize;
                for (i, piece) in pieces.iter().enumerate() {
                    let mut seg = pkt[..at].to_vec();
                    let mut word = offset as u16;
                    if i + 1 < pieces.len() {
                        word |= 1;
                    }
                    seg.push(pkt[next_at]);
                    seg.push(0);
                    seg.extend_from_slice(&word.to_be_bytes());
                    seg.extend_from_slice(&opts.frag_id.to_be_bytes());
                    seg[next_at] = 44;
                    seg.extend_from_slice(&pkt[at..lay.l4]);
                    seg.extend_from_slice(piece);
                    fix_ip(&mut seg, &lay, None, None);
                    offset += ext_len + piece.len();
                    out.push(seg);
                }
                return Ok(out);
            }
            for (i, piece) in pieces.iter().enumerate() {
                let mut seg = pkt[..lay.l4].to_vec();
                seg.extend_from_slice(piece);
                // Offsets in 8-byte units of the bytes before, rounded down (K7).
                let mut word = ((i * mss) / 8) as u16;
                if i + 1 < pieces.len() {
                    word |= 0x2000; // MF; DF and the reserved bit cleared
                }
                fix_ip(&mut seg, &lay, None, Some(word));
                out.push(seg);
            }
            Ok(out)
        }
    }
}

/// The model as a [`Segment`] implementation.
impl Segment for super::Reference {
    fn name(&self) -> &'static str {
        "model"
    }

    fn segment(&self, hdr: &VnetHdr, pkt: &[u8], opts: &GsoOptions) -> Transmitted {
        transmit(hdr, pkt, opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::PacketSpec;
    use crate::strategy::packet::gso_header;

    #[test]
    fn model_splits_the_read_case() {
        let spec = PacketSpec::tcp4(200);
        let segs = transmit(
            &gso_header(&spec, 100),
            &spec.build(),
            &GsoOptions::default(),
        )
        .unwrap();
        assert_eq!(segs.len(), 2);
        assert!(segs.iter().all(|s| s.len() == 140));
        assert_eq!(ones_sum(&segs[1][..20]), 0xFFFF);
    }

    #[test]
    fn ones_sum_known_values() {
        assert_eq!(ones_sum(&[]), 0);
        assert_eq!(ones_sum(&[0x01]), 0x0100);
        assert_eq!(ones_sum(&[0xFF, 0xFF, 0x00, 0x01]), 0x0001);
    }
}
