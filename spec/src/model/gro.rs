//! The reference coalescer, written straight from the G rules (RULES.md "G — GRO"): every packet
//! parsed by hand from fixed offsets, flows in a `Vec`, merged packets built as new `Vec`s. Slow,
//! allocating, obvious. Also the reference segmenter that undoes a merge (S1-S3), which the GRO
//! laws use to split what was coalesced.

use vnet_core::csum;
use vnet_core::gro::{Checksums, GroOptions, MAX_DATAGRAM, Policy};
use vnet_core::hdr::{Flags, GsoType, VnetHdr};

/// One output of a coalescer: its header, its bytes, and the inputs it carries in payload order.
pub type Coalesced = (VnetHdr, Vec<u8>, Vec<usize>);

/// The reference coalescer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReferenceGro {
    /// The options, as vnet-core reads them.
    pub opts: GroOptions,
    /// The table's capacity (vnet-core's `FLOWS`): the most flows held at once, at least 1 (G7);
    /// when full the oldest is completed.
    pub flows: usize,
}

/// An eligible packet's fields (G1).
#[derive(Clone, Debug, PartialEq, Eq)]
struct P {
    v6: bool,
    tcp: bool,
    src: Vec<u8>,
    dst: Vec<u8>,
    sport: u16,
    dport: u16,
    label: u32,
    ext: Vec<u8>,
    ttl: u8,
    tos: u8,
    df: bool,
    id: u16,
    l4: usize,
    hdr_len: usize,
    payload: usize,
    seq: u32,
    ack: u32,
    flags: u16,
    doff_word: u16,
    window: u16,
    tcp_opts: Vec<u8>,
}

const FIN: u16 = 0x01;
const SYN: u16 = 0x02;
const RST: u16 = 0x04;
const PSH: u16 = 0x08;
const URG: u16 = 0x20;
const CWR: u16 = 0x80;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// G1: the fields of an eligible packet, or `None`.
fn parse(b: &[u8], udp: bool) -> Option<P> {
    let version = b.first()? >> 4;
    let (v6, proto, l4, src, dst, label, ext, ttl, tos, df, id);
    if version == 4 {
        if b.len() < 20 || b[0] != 0x45 || usize::from(be16(b, 2)) != b.len() {
            return None;
        }
        // Any frag_off bit but DF: MF, an offset, the reserved bit.
        if be16(b, 6) & !0x4000 != 0 || !csum::verify(&b[..20]) {
            return None;
        }
        v6 = false;
        proto = b[9];
        l4 = 20;
        src = b[12..16].to_vec();
        dst = b[16..20].to_vec();
        label = 0;
        ext = Vec::new();
        ttl = b[8];
        tos = b[1];
        df = b[6] & 0x40 != 0;
        id = be16(b, 4);
    } else if version == 6 {
        if b.len() < 40 || usize::from(be16(b, 4)) + 40 != b.len() {
            return None;
        }
        let mut next = b[6];
        let mut at = 40;
        let mut n = 0;
        while matches!(next, 0 | 43 | 60) {
            if n == 8 || b.len() < at + 2 || b.len() < at + (usize::from(b[at + 1]) + 1) * 8 {
                return None;
            }
            next = b[at];
            at += (usize::from(b[at + 1]) + 1) * 8;
            n += 1;
        }
        v6 = true;
        proto = next;
        l4 = at;
        src = b[8..24].to_vec();
        dst = b[24..40].to_vec();
        label = be32(b, 0) & 0xf_ffff;
        ext = b[40..at].to_vec();
        ttl = b[7];
        tos = ((be32(b, 0) >> 20) & 0xff) as u8;
        df = false;
        id = 0;
    } else {
        return None;
    }
    let t = &b[l4..];
    let mut p = P {
        v6,
        tcp: proto == 6,
        src,
        dst,
        sport: 0,
        dport: 0,
        label,
        ext,
        ttl,
        tos,
        df,
        id,
        l4,
        hdr_len: 0,
        payload: 0,
        seq: 0,
        ack: 0,
        flags: 0,
        doff_word: 0,
        window: 0,
        tcp_opts: Vec::new(),
    };
    if proto == 6 {
        let doff = usize::from(t.get(12)? >> 4) * 4;
        if t.len() < 20 || doff < 20 || t.len() < doff {
            return None;
        }
        p.hdr_len = l4 + doff;
        p.seq = be32(t, 4);
        p.ack = be32(t, 8);
        p.doff_word = be16(t, 12);
        p.flags = p.doff_word & 0x1ff;
        p.window = be16(t, 14);
        p.tcp_opts = t[20..doff].to_vec();
    } else if proto == 17 && udp {
        if t.len() <= 8 || usize::from(be16(t, 4)) != t.len() || be16(t, 6) == 0 {
            return None;
        }
        p.hdr_len = l4 + 8;
    } else {
        return None;
    }
    p.sport = be16(t, 0);
    p.dport = be16(t, 2);
    p.payload = b.len() - p.hdr_len;
    Some(p)
}

/// The pseudo-header sum for `l4_len` bytes of L4 (C2).
fn pseudo(p: &P, l4_len: usize) -> u16 {
    let proto = if p.tcp { 6 } else { 17 };
    if p.v6 {
        csum::pseudo_header_v6(
            &p.src.clone().try_into().unwrap(),
            &p.dst.clone().try_into().unwrap(),
            proto,
            l4_len as u32,
        )
    } else {
        csum::pseudo_header_v4(
            p.src.clone().try_into().unwrap(),
            p.dst.clone().try_into().unwrap(),
            proto,
            l4_len as u16,
        )
    }
}

/// G1: the L4 checksum verifies.
fn l4_ok(p: &P, b: &[u8]) -> bool {
    csum::combine(pseudo(p, b.len() - p.l4), csum::sum(&b[p.l4..])) == 0xffff
}

/// Whether G1's checksum test lets `b` through: false only for a TCP or UDP segment GRO would
/// look at whose L4 checksum fails. Trains of such packets are where trusting (G10) and
/// verifying may differ.
pub fn checksum_holds(b: &[u8]) -> bool {
    parse(b, true).is_none_or(|p| l4_ok(&p, b))
}

/// A held flow.
struct Held {
    first: P,
    members: Vec<usize>,
    bytes: Vec<u8>,
    fixed: bool,
    next_seq: u32,
}

impl Held {
    fn count(&self) -> usize {
        self.members.len()
    }
}

/// What the model hands on.
struct Out {
    item: Coalesced,
}

impl ReferenceGro {
    /// The reference coalescer with `opts` and a table of the default size,
    /// [`LINUX_HELD_FLOWS`](vnet_core::gro::LINUX_HELD_FLOWS) (G7).
    pub fn new(opts: GroOptions) -> ReferenceGro {
        ReferenceGro {
            opts,
            flows: vnet_core::gro::LINUX_HELD_FLOWS,
        }
    }

    /// Coalesces a batch (G1-G6); outputs in completion order (G8): a packet that is not held as
    /// it arrives, a held flow when it completes (a segment ends it or cannot join it, the table
    /// is full: the oldest, the end of the batch: oldest first).
    pub fn coalesce(&self, batch: &[Vec<u8>]) -> Vec<Coalesced> {
        let mut outs: Vec<Out> = Vec::new();
        let mut held: Vec<Held> = Vec::new();
        let alone = |outs: &mut Vec<Out>, i: usize| {
            outs.push(Out {
                item: (VnetHdr::default(), batch[i].clone(), vec![i]),
            })
        };
        for (i, b) in batch.iter().enumerate() {
            // G1: not eligible or a bad checksum (unless trusted, G10): alone, flows untouched.
            let trusted = self.opts.checksums == Checksums::Trusted;
            let Some(p) = parse(b, self.opts.udp).filter(|p| trusted || l4_ok(p, b)) else {
                alone(&mut outs, i);
                continue;
            };
            // G2: same flow.
            let same = held.iter().position(|h| {
                let f = &h.first;
                (
                    f.v6, f.tcp, &f.src, &f.dst, f.sport, f.dport, f.label, &f.ext,
                ) == (
                    p.v6, p.tcp, &p.src, &p.dst, p.sport, p.dport, p.label, &p.ext,
                )
            });
            if let Some(at) = same {
                match self.decide(&held[at], &p) {
                    Decision::Merge => {
                        let h = &mut held[at];
                        h.bytes.extend_from_slice(&b[p.hdr_len..]);
                        h.members.push(i);
                        h.next_seq = p.seq.wrapping_add(p.payload as u32);
                        if p.tcp {
                            // G4: FIN/PSH of the last segment.
                            let at_flags = h.first.l4 + 13;
                            h.bytes[at_flags] |= (p.flags & (FIN | PSH)) as u8;
                        }
                        if self.ends(&held[at], &p) {
                            let h = held.remove(at);
                            complete(&mut outs, h, batch);
                        }
                    }
                    Decision::Prepend => {
                        // G3 (Relaxed): in front; its headers lead the merged packet.
                        let h = &mut held[at];
                        let mut bytes = b.clone();
                        bytes.extend_from_slice(&h.bytes[h.first.hdr_len..]);
                        h.bytes = bytes;
                        h.members.insert(0, i);
                        h.first = p;
                    }
                    Decision::Fixed => {
                        let h = &mut held[at];
                        h.fixed = true;
                        h.members.push(i);
                        h.bytes.extend_from_slice(&b[p.hdr_len..]);
                        h.next_seq = p.seq.wrapping_add(p.payload as u32);
                        if self.ends(&held[at], &p) {
                            let h = held.remove(at);
                            complete(&mut outs, h, batch);
                        }
                    }
                    Decision::Flush => {
                        let h = held.remove(at);
                        complete(&mut outs, h, batch);
                        self.start(&mut outs, &mut held, i, p, batch);
                    }
                }
            } else {
                self.start(&mut outs, &mut held, i, p, batch);
            }
        }
        for h in held {
            complete(&mut outs, h, batch);
        }
        outs.into_iter().map(|o| o.item).collect()
    }

    /// G4, G3: hold `p` as a new flow, or hand it on alone if it cannot start one.
    fn start(&self, outs: &mut Vec<Out>, held: &mut Vec<Held>, i: usize, p: P, batch: &[Vec<u8>]) {
        // A CWR segment is held like any other under Linux (K21), handed on alone under Relaxed.
        let alone = URG
            | PSH
            | RST
            | SYN
            | FIN
            | if self.opts.policy == Policy::Relaxed {
                CWR
            } else {
                0
            };
        if p.tcp && (p.payload == 0 || p.flags & alone != 0) {
            outs.push(Out {
                item: (VnetHdr::default(), batch[i].clone(), vec![i]),
            });
            return;
        }
        if held.len() >= self.flows.max(1) {
            let oldest = held.remove(0);
            complete(outs, oldest, batch);
        }
        held.push(Held {
            next_seq: p.seq.wrapping_add(p.payload as u32),
            first: p,
            members: vec![i],
            bytes: batch[i].clone(),
            fixed: false,
        });
    }

    /// Whether `p` merges into `h` (G2-G5).
    fn decide(&self, h: &Held, p: &P) -> Decision {
        let f = &h.first;
        let n = h.count();
        if (f.ttl, f.tos, f.df) != (p.ttl, p.tos, p.df) {
            return Decision::Flush;
        }
        // IPv4 IDs count, unless Relaxed and DF.
        let ids_ignored = self.opts.policy == Policy::Relaxed && f.df;
        if h.bytes.len() + p.payload > MAX_DATAGRAM {
            return Decision::Flush;
        }
        if p.tcp {
            // K21: whether the held packet's CWR must match is the kernel's.
            let unmatched =
                if self.opts.policy == Policy::Relaxed || self.opts.kernel.gro_cwr_must_match {
                    FIN | PSH
                } else {
                    FIN | PSH | CWR
                };
            if p.flags & CWR != 0
                || (p.doff_word ^ f.doff_word) & !unmatched != 0
                || p.window != f.window
                || p.ack != f.ack
                || p.tcp_opts != f.tcp_opts
                || p.payload == 0
                || p.payload > f.payload
            {
                return Decision::Flush;
            }
            if p.seq != h.next_seq {
                // G3 (Relaxed) prepend: a full segment ending where the held packet begins, no
                // FIN/PSH, and (IDs counting) the ID just before the first's.
                let ids_ok = p.v6 || ids_ignored || p.id.wrapping_add(1) == f.id;
                let prepend = self.opts.policy == Policy::Relaxed
                    && !h.fixed
                    && p.payload == f.payload
                    && p.flags & (FIN | PSH) == 0
                    && p.seq.wrapping_add(p.payload as u32) == f.seq
                    && ids_ok;
                return if prepend {
                    Decision::Prepend
                } else {
                    Decision::Flush
                };
            }
        } else if p.payload > f.payload || n >= usize::from(self.opts.udp_gro_max_segments.max(1)) {
            return Decision::Flush;
        }
        let mut fixed = h.fixed;
        if !p.v6 && !ids_ignored {
            let d = p.id.wrapping_sub(f.id);
            // K23: older kernels take a repeated ID as a fixed-ID train only with DF set.
            if n == 1
                && d == 0
                && self.opts.policy == Policy::Linux
                && (f.df || !self.opts.kernel.gro_fixed_id_needs_df)
            {
                fixed = true;
            }
            if d != if fixed { 0 } else { n as u16 } {
                return Decision::Flush;
            }
        }
        if fixed {
            Decision::Fixed
        } else {
            Decision::Merge
        }
    }

    /// G4: `p`, just merged into `h`, ends its train.
    fn ends(&self, h: &Held, p: &P) -> bool {
        p.payload < h.first.payload
            || if p.tcp {
                p.flags & (URG | PSH | RST | SYN | FIN) != 0
            } else {
                h.count() >= usize::from(self.opts.udp_gro_max_segments.max(1))
            }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Merge,
    Prepend,
    Fixed,
    Flush,
}

/// G6: hand on a held flow: alone (one segment, or a fixed-ID train) or merged with its header.
fn complete(outs: &mut Vec<Out>, h: Held, batch: &[Vec<u8>]) {
    if h.count() == 1 || h.fixed {
        for &m in &h.members {
            outs.push(Out {
                item: (VnetHdr::default(), batch[m].clone(), vec![m]),
            });
        }
        return;
    }
    let f = &h.first;
    let mut b = h.bytes;
    let len = b.len();
    let l4_len = len - f.l4;
    if f.v6 {
        b[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
    } else {
        b[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        b[10..12].copy_from_slice(&[0, 0]);
        let c = csum::finish(csum::sum(&b[..20]));
        b[10..12].copy_from_slice(&c.to_be_bytes());
    }
    let ps = pseudo(f, l4_len).to_be_bytes();
    let (gso_type, csum_offset) = if f.tcp {
        b[f.l4 + 16..f.l4 + 18].copy_from_slice(&ps);
        let base = if f.v6 { GsoType::TCPV6 } else { GsoType::TCPV4 };
        // A CWR on the first segment: ECN, so that GSO keeps it on the first only.
        let t = if f.flags & CWR != 0 {
            GsoType(base.0 | GsoType::ECN.0)
        } else {
            base
        };
        (t, 16)
    } else {
        b[f.l4 + 4..f.l4 + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        b[f.l4 + 6..f.l4 + 8].copy_from_slice(&ps);
        (GsoType::UDP_L4, 6)
    };
    let hdr = VnetHdr {
        flags: Flags::NEEDS_CSUM,
        gso_type,
        hdr_len: f.hdr_len as u16,
        gso_size: f.payload as u16,
        csum_start: f.l4 as u16,
        csum_offset,
        ..VnetHdr::default()
    };
    outs.push(Out {
        item: (hdr, b, h.members),
    });
}

/// The reference segmenter (S1-S3) for what GRO produces: a packet with an all-zero header comes
/// back as it is; a GSO packet (TUN framing, NEEDS_CSUM with the pseudo-header sum in place) is
/// cut into `gso_size` pieces, each with the first's headers, IPv4 ID + i and a fresh header
/// checksum, IPv6 payload length, TCP seq + i * gso_size with FIN/PSH on the last only and CWR on
/// the first only, UDP length, and a complete L4 checksum (UDP: 0 written as 0xFFFF, C4).
pub fn split(hdr: &VnetHdr, pkt: &[u8]) -> Vec<Vec<u8>> {
    if hdr.gso_type == GsoType::NONE {
        return vec![pkt.to_vec()];
    }
    let l4 = usize::from(hdr.csum_start);
    let tcp = hdr.gso_type.base() != GsoType::UDP_L4;
    let hl = if tcp {
        l4 + usize::from(pkt[l4 + 12] >> 4) * 4
    } else {
        l4 + 8
    };
    let v6 = pkt[0] >> 4 == 6;
    let mss = usize::from(hdr.gso_size);
    let chunks: Vec<&[u8]> = pkt[hl..].chunks(mss).collect();
    let last = chunks.len() - 1;
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let mut s = pkt[..hl].to_vec();
        s.extend_from_slice(chunk);
        let len = s.len();
        if v6 {
            s[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
        } else {
            s[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            let id = be16(&s, 4).wrapping_add(i as u16);
            s[4..6].copy_from_slice(&id.to_be_bytes());
            s[10..12].copy_from_slice(&[0, 0]);
            let c = csum::finish(csum::sum(&s[..l4]));
            s[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let at = if tcp {
            let seq = be32(&s, l4 + 4).wrapping_add((i * mss) as u32);
            s[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
            if i != last {
                s[l4 + 13] &= !((FIN | PSH) as u8);
            }
            if i != 0 {
                s[l4 + 13] &= !(CWR as u8);
            }
            l4 + 16
        } else {
            s[l4 + 4..l4 + 6].copy_from_slice(&((len - l4) as u16).to_be_bytes());
            l4 + 6
        };
        let proto = if tcp { 6 } else { 17 };
        let ps = if v6 {
            csum::pseudo_header_v6(
                &s[8..24].try_into().unwrap(),
                &s[24..40].try_into().unwrap(),
                proto,
                (len - l4) as u32,
            )
        } else {
            csum::pseudo_header_v4(
                s[12..16].try_into().unwrap(),
                s[16..20].try_into().unwrap(),
                proto,
                (len - l4) as u16,
            )
        };
        s[at..at + 2].copy_from_slice(&[0, 0]);
        let mut c = csum::finish(csum::combine(ps, csum::sum(&s[l4..])));
        if !tcp && c == 0 {
            c = 0xffff;
        }
        s[at..at + 2].copy_from_slice(&c.to_be_bytes());
        out.push(s);
    }
    out
}
