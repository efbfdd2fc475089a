//! `gro`: coalescing any batch (train segments of up to four flows, mutated or not, and arbitrary
//! bytes) in buffers of any capacity, with any options and table size: never panics, every input
//! is accounted for exactly once, merged outputs are GSO requests, and with room to grow vnet-core
//! gives the reference model's outputs and L5 holds.

use super::form;
use vnet_core::check::{self, CheckOptions, Offload};
use vnet_core::csum;
use vnet_core::gro::{Checksums, Gro, GroError, GroOptions, MAX_DATAGRAM, Output, Policy};
use vnet_core::hdr::{GsoType, VnetHdr};
use vnet_core::wire::{self, IpProtocol, IpVersion, Link};

use crate::laws::gro::{self as laws, CoreGro};
use crate::laws::hold;
use crate::model::gro::ReferenceGro;
use crate::packet::tcp_flags;
use crate::strategy::train::{FlowSpec, IdPattern, Perturb, flow_packets};

/// One flow's parameters, in 7 bytes: kind (TCP/IPv4, TCP/IPv6, UDP/IPv4, UDP/IPv6, modulo 4),
/// payload per segment (`mss`, 1 + the byte modulo 250), option bits (`FLOW_*`, and the IPv4 ID
/// pattern in bits 2-3), the first sequence number (little-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowParams {
    /// 0 TCP/IPv4, 1 TCP/IPv6, 2 UDP/IPv4, 3 UDP/IPv6.
    pub kind: u8,
    /// Payload per full segment, 1..=250.
    pub mss: u8,
    /// `FLOW_TCP_OPTIONS`, `FLOW_V6_EXT`, the ID pattern (`<< FLOW_IDS_SHIFT`: 0 increment with
    /// DF, 1 increment, 2 fixed with DF, 3 fixed).
    pub bits: u8,
    /// The first TCP sequence number.
    pub seq: u32,
}

impl Default for FlowParams {
    /// TCP/IPv4, one byte per segment.
    fn default() -> FlowParams {
        FlowParams {
            kind: 0,
            mss: 1,
            bits: 0,
            seq: 0,
        }
    }
}

/// Flow bit: TCP timestamps on every segment.
pub const FLOW_TCP_OPTIONS: u8 = 0x01;
/// Flow bit: an IPv6 destination-options header on every segment.
pub const FLOW_V6_EXT: u8 = 0x02;
/// Flow bits 2-3: the IPv4 ID pattern.
pub const FLOW_IDS_SHIFT: u8 = 2;

const FLOW_BYTES: usize = 7;

impl FlowParams {
    pub(super) fn read(b: &[u8; FLOW_BYTES]) -> FlowParams {
        FlowParams {
            kind: b[0] % 4,
            mss: b[1] % 250 + 1,
            bits: b[2] & 0x0f,
            seq: u32::from_le_bytes([b[3], b[4], b[5], b[6]]),
        }
    }

    pub(super) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.kind, self.mss - 1, self.bits]);
        out.extend_from_slice(&self.seq.to_le_bytes());
    }

    /// The [`FlowSpec`] of these parameters with one segment per perturbation code.
    pub fn spec(&self, codes: &[u8]) -> FlowSpec {
        FlowSpec {
            kind: self.kind,
            mss: usize::from(self.mss),
            tcp_options: self.bits & FLOW_TCP_OPTIONS != 0,
            v6_ext: self.bits & FLOW_V6_EXT != 0,
            ids: [
                IdPattern::IncDf,
                IdPattern::Inc,
                IdPattern::FixedDf,
                IdPattern::Fixed,
            ][usize::from(self.bits >> FLOW_IDS_SHIFT & 3)],
            seq: self.seq,
            perturb: codes.iter().map(|&c| perturb(c)).collect(),
        }
    }
}

/// What a perturbation code (0..32) does to a segment: 0-12 nothing, then one flag or change each.
pub fn perturb(code: u8) -> Perturb {
    use tcp_flags::*;
    match code % 32 {
        13 => Perturb::Label,
        14 => Perturb::Flags(PSH),
        15 => Perturb::Flags(FIN),
        16 => Perturb::Flags(URG),
        17 => Perturb::Flags(SYN),
        18 => Perturb::Flags(RST),
        19 => Perturb::Flags(CWR),
        20 => Perturb::Flags(ECE),
        21 => Perturb::Flags(PSH | FIN),
        22 => Perturb::TcpOptions,
        23 => Perturb::Ttl,
        24 => Perturb::Tos,
        25 => Perturb::IdRepeat,
        26 => Perturb::IdJump,
        27 => Perturb::BadChecksum,
        28 => Perturb::Empty,
        29 => Perturb::Short,
        30 => Perturb::IpOptions,
        31 => Perturb::Fragment,
        _ => Perturb::None,
    }
}

/// One step of building a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroOp {
    /// The next segment of flow `flow` (0..4), perturbed by code `perturb` (0..32, [`perturb`]).
    /// One byte: `perturb << 2 | flow`, below 0x80.
    Segment {
        /// Which of the four flows.
        flow: u8,
        /// The perturbation code.
        perturb: u8,
    },
    /// XOR `xor` into byte `offset` (modulo its length) of batch packet `packet` (modulo the batch
    /// size), after the batch is built; with `fix`, then recompute its IPv4 header checksum and
    /// its TCP/UDP checksum, so that the change reaches the merge rules. Four bytes:
    /// `0x80 | packet` (0..64) or `0xC0 | packet` with `fix` (0..32), `offset` (little-endian),
    /// `xor`.
    Mutate {
        /// The packet's position in the batch.
        packet: u8,
        /// The byte.
        offset: u16,
        /// What to XOR in.
        xor: u8,
        /// Recompute the checksums afterwards.
        fix: bool,
    },
    /// A packet of these bytes: `0xE0`, the length (little-endian `u16`), the bytes.
    Raw(Vec<u8>),
    /// Spare capacity for the buffers (used in turn) when capacities are tight: `0xF0`, then the
    /// bytes (little-endian `u16`).
    Slack(u16),
}

/// Fault kinds (bits 5-7 of the first byte): what to get wrong in the call, so that it must fail
/// with a typed error and write nothing. 0-3: nothing.
const FAULT_SHIFT: u8 = 5;
/// Fault: `lens` has 1 + (parameter % 4) entries more than there are buffers.
pub const FAULT_LENS_LONG: u8 = 4;
/// Fault: `out` is 1 + (parameter % n) entries short.
pub const FAULT_OUT_SHORT: u8 = 5;
/// Fault: `owner` is 1 + (parameter % n) entries short.
pub const FAULT_OWNER_SHORT: u8 = 6;
/// Fault: `lens[parameter % n]` exceeds its buffer by one.
pub const FAULT_LEN_EXCEEDS: u8 = 7;

/// Option bit: `Policy::Relaxed`.
pub const GRO_RELAXED: u8 = 0x01;
/// Option bit: coalesce UDP.
pub const GRO_UDP: u8 = 0x02;
/// Option bits 2-3: the table's capacity (`FLOWS`): 1, 2, 8 or 64.
pub const GRO_TABLE_SHIFT: u8 = 2;
/// Option bit: tight capacities (each buffer its packet plus the next [`GroOp::Slack`]); else
/// every buffer has room for the whole batch, and vnet-core is compared with the model.
pub const GRO_TIGHT: u8 = 0x10;
/// The high bit of the kernel byte: GRO as Linux 6.12 does it (K21: CWR not compared). Its low 7
/// bits were a held-flow bound before the table's size became the one flow knob (G7); bit 6 is now
/// [`GRO_TRUSTED`], the others are ignored and written as 8, the former default bound, so that the
/// committed seeds stay byte for byte what they were.
pub const GRO_OLD_KERNEL: u8 = 0x80;
/// A bit of the kernel byte: checksums trusted, not verified (G10). Clear in the committed seeds
/// (their low bits are [`GRO_KERNEL_BYTE_FILLER`]), so they keep verifying.
pub const GRO_TRUSTED: u8 = 0x40;
/// What [`GroInput::to_bytes`] writes in the ignored low bits of the kernel byte.
const GRO_KERNEL_BYTE_FILLER: u8 = 8;

/// The table capacities the target runs.
pub const TABLES: [usize; 4] = [1, 2, 8, 64];

/// The most packets one input builds.
pub const MAX_PACKETS: usize = 96;

const FIXED: usize = 5 + 4 * FLOW_BYTES;

/// One input of the `gro` target.
///
/// Its byte form is fixed: option bits (`GRO_*`, the fault kind in bits 5-7), the fault's
/// parameter, `udp_gro_max_segments` (little-endian `u16`), the kernel byte (its high bit
/// [`GRO_OLD_KERNEL`] picks the 6.12 profile, K21, [`GRO_TRUSTED`] trusts checksums, G10; the
/// other bits are ignored), four
/// [`FlowParams`] of 7 bytes, then [`GroOp`]s to the end (a truncated one is dropped; at most
/// [`MAX_PACKETS`] packets). [`Arbitrary`] reads exactly that form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroInput {
    /// Options.
    pub opts: GroOptions,
    /// Index into [`TABLES`].
    pub table: u8,
    /// Tight capacities.
    pub tight: bool,
    /// Fault kind (0-7) and its parameter.
    pub fault: (u8, u8),
    /// The flows.
    pub flows: [FlowParams; 4],
    /// The steps.
    pub ops: Vec<GroOp>,
}

impl GroInput {
    /// Decodes the byte form; `None` if it is shorter than the fixed part.
    pub fn from_bytes(data: &[u8]) -> Option<GroInput> {
        let (head, mut rest) = data.split_first_chunk::<FIXED>()?;
        let [bits, param, m0, m1, kernel] = *head.first_chunk::<5>()?;
        let mut flows = [FlowParams::default(); 4];
        for (f, chunk) in flows.iter_mut().zip(head[5..].chunks_exact(FLOW_BYTES)) {
            *f = FlowParams::read(chunk.try_into().ok()?);
        }
        let mut ops = Vec::new();
        let mut packets = 0;
        while let Some((&op, tail)) = rest.split_first() {
            if packets == MAX_PACKETS {
                break;
            }
            let (decoded, tail) = match op {
                0..0x80 => (
                    GroOp::Segment {
                        flow: op & 3,
                        perturb: op >> 2,
                    },
                    tail,
                ),
                0x80..0xE0 => {
                    let Some((&[o0, o1, xor], tail)) = tail.split_first_chunk::<3>() else {
                        break;
                    };
                    let fix = op >= 0xC0;
                    let packet = op & if fix { 0x1f } else { 0x3f };
                    let offset = u16::from_le_bytes([o0, o1]);
                    (
                        GroOp::Mutate {
                            packet,
                            offset,
                            xor,
                            fix,
                        },
                        tail,
                    )
                }
                0xE0..0xF0 => {
                    let Some((&len, tail)) = tail.split_first_chunk::<2>() else {
                        break;
                    };
                    let len = usize::from(u16::from_le_bytes(len)).min(tail.len());
                    let (bytes, tail) = tail.split_at(len);
                    (GroOp::Raw(bytes.to_vec()), tail)
                }
                _ => {
                    let Some((&slack, tail)) = tail.split_first_chunk::<2>() else {
                        break;
                    };
                    (GroOp::Slack(u16::from_le_bytes(slack)), tail)
                }
            };
            packets += usize::from(matches!(decoded, GroOp::Segment { .. } | GroOp::Raw(_)));
            ops.push(decoded);
            rest = tail;
        }
        Some(GroInput {
            opts: GroOptions {
                policy: if bits & GRO_RELAXED != 0 {
                    Policy::Relaxed
                } else {
                    Policy::Linux
                },
                udp: bits & GRO_UDP != 0,
                udp_gro_max_segments: u16::from_le_bytes([m0, m1]),
                kernel: if kernel & GRO_OLD_KERNEL != 0 {
                    vnet_core::kernel::LINUX_6_12
                } else {
                    vnet_core::kernel::Profile::NEWEST
                },
                checksums: if kernel & GRO_TRUSTED != 0 {
                    Checksums::Trusted
                } else {
                    Checksums::Verify
                },
            },
            table: bits >> GRO_TABLE_SHIFT & 3,
            tight: bits & GRO_TIGHT != 0,
            fault: (bits >> FAULT_SHIFT, param),
            flows,
            ops,
        })
    }

    /// The byte form that [`from_bytes`](Self::from_bytes) decodes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let o = &self.opts;
        let mut out = vec![
            form::bits(&[
                (o.policy == Policy::Relaxed, GRO_RELAXED),
                (o.udp, GRO_UDP),
                (self.tight, GRO_TIGHT),
            ]) | ((self.table & 3) << GRO_TABLE_SHIFT)
                | ((self.fault.0 & 7) << FAULT_SHIFT),
            self.fault.1,
        ];
        out.extend_from_slice(&o.udp_gro_max_segments.to_le_bytes());
        let old =
            o.kernel.gro_cwr_must_match != vnet_core::kernel::Profile::NEWEST.gro_cwr_must_match;
        let trusted = o.checksums == Checksums::Trusted;
        out.push(
            GRO_KERNEL_BYTE_FILLER
                | (u8::from(old) * GRO_OLD_KERNEL)
                | (u8::from(trusted) * GRO_TRUSTED),
        );
        for f in &self.flows {
            f.write(&mut out);
        }
        for op in &self.ops {
            match op {
                GroOp::Segment { flow, perturb } => out.push(perturb << 2 | flow & 3),
                GroOp::Mutate {
                    packet,
                    offset,
                    xor,
                    fix,
                } => {
                    out.push(if *fix {
                        0xC0 | packet & 0x1f
                    } else {
                        0x80 | packet & 0x3f
                    });
                    out.extend_from_slice(&offset.to_le_bytes());
                    out.push(*xor);
                }
                GroOp::Raw(bytes) => {
                    out.push(0xE0);
                    out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
                    out.extend_from_slice(bytes);
                }
                GroOp::Slack(s) => {
                    out.push(0xF0);
                    out.extend_from_slice(&s.to_le_bytes());
                }
            }
        }
        out
    }

    /// The batch the ops build, and the spare capacity of each buffer in tight mode.
    pub fn batch(&self) -> (Vec<Vec<u8>>, Vec<usize>) {
        let mut codes: [Vec<u8>; 4] = Default::default();
        for op in &self.ops {
            if let GroOp::Segment { flow, perturb } = op {
                codes[usize::from(flow & 3)].push(*perturb);
            }
        }
        let mut trains: Vec<std::vec::IntoIter<Vec<u8>>> = self
            .flows
            .iter()
            .zip(&codes)
            .enumerate()
            .map(|(j, (f, c))| flow_packets(j, &f.spec(c)).into_iter())
            .collect();
        let mut batch = Vec::new();
        let mut slack = Vec::new();
        for op in &self.ops {
            match op {
                GroOp::Segment { flow, .. } => {
                    batch.extend(trains[usize::from(flow & 3)].next());
                }
                GroOp::Raw(bytes) => batch.push(bytes.clone()),
                GroOp::Slack(s) => slack.push(usize::from(*s)),
                GroOp::Mutate { .. } => {}
            }
        }
        for op in &self.ops {
            if let &GroOp::Mutate {
                packet,
                offset,
                xor,
                fix,
            } = op
                && !batch.is_empty()
            {
                let n = batch.len();
                let p = &mut batch[usize::from(packet) % n];
                if !p.is_empty() {
                    let at = usize::from(offset) % p.len();
                    p[at] ^= xor;
                    if fix {
                        fix_checksums(p);
                    }
                }
            }
        }
        let spare = (0..batch.len())
            .map(|i| {
                if slack.is_empty() {
                    0
                } else {
                    slack[i % slack.len()]
                }
            })
            .collect();
        (batch, spare)
    }
}

arbitrary_from_bytes!(GroInput, fixed: FIXED);

/// Recomputes a TUN packet's IPv4 header checksum and its TCP/UDP checksum (over the bytes
/// present), where the headers parse far enough for that.
pub fn fix_checksums(p: &mut [u8]) {
    if p.first().is_some_and(|b| b >> 4 == 4) {
        let ihl = usize::from(p[0] & 0xf) * 4;
        if ihl >= 20 && p.len() >= ihl {
            p[10..12].fill(0);
            let c = csum::finish(csum::sum(&p[..ihl]));
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
    }
    let Ok(h) = wire::parse_headers(p, Link::Tun) else {
        return;
    };
    let at = match h.protocol {
        IpProtocol::TCP => 16,
        IpProtocol::UDP => 6,
        _ => return,
    };
    let l4_len = p.len() - h.l4_offset;
    if h.fragment || l4_len < at + 2 {
        return;
    }
    let pseudo = match h.ip {
        IpVersion::V4 => {
            let four = |at: usize| [p[at], p[at + 1], p[at + 2], p[at + 3]];
            csum::pseudo_header_v4(four(12), four(16), h.protocol.0, l4_len as u16)
        }
        IpVersion::V6 => {
            let sixteen = |at: usize| -> [u8; 16] { p[at..at + 16].try_into().unwrap() };
            csum::pseudo_header_v6(&sixteen(8), &sixteen(24), h.protocol.0, l4_len as u32)
        }
    };
    let field = h.l4_offset + at;
    p[field..field + 2].fill(0);
    let mut c = csum::finish(csum::combine(pseudo, csum::sum(&p[h.l4_offset..])));
    if h.protocol == IpProtocol::UDP && c == 0 {
        c = 0xffff;
    }
    p[field..field + 2].copy_from_slice(&c.to_be_bytes());
}

/// Builds the batch and runs [`Gro::coalesce`] on it with the input's table size, options,
/// capacities and fault, and asserts:
///
/// - never a panic;
/// - a fault is exactly its typed error ([`GroError`]), and then no buffer, `out` or `owner`
///   entry is written;
/// - otherwise: at most one output per input; every output's buffer index is in range and unique,
///   its length within its buffer, and it carries its own input; `owner` names an output for
///   every input, so every input is accounted for exactly once, and each output's `segments` is
///   its count of inputs; `out` beyond the count is untouched; a single is its input, unchanged,
///   with a zero header; a merged output is a segmentation request of its own `gso_size` and
///   `hdr_len` for `check`, at most [`MAX_DATAGRAM`] bytes; the buffers of absorbed inputs are not
///   written;
/// - with room in every buffer for the whole batch: fast == reference ([`ReferenceGro`] with the same
///   table size), and L5 ([`laws::gro_then_gso`]: the merged outputs split back into the inputs).
pub fn gro(input: &GroInput) {
    match TABLES[usize::from(input.table & 3)] {
        1 => run::<1>(input),
        2 => run::<2>(input),
        8 => run::<8>(input),
        _ => run::<64>(input),
    }
}

const SENTINEL: usize = usize::MAX - 7;

fn run<const FLOWS: usize>(input: &GroInput) {
    let (batch, spare) = input.batch();
    let n = batch.len();
    let ample: usize = batch.iter().map(Vec::len).sum::<usize>().max(1);
    let bufs: Vec<Vec<u8>> = batch
        .iter()
        .zip(&spare)
        .enumerate()
        .map(|(i, (p, &s))| {
            let mut b = p.clone();
            let extra = if input.tight { s } else { ample };
            // Spare bytes hold a pattern, so that a write there shows.
            b.extend((0..extra).map(|k| (k as u8) ^ (i as u8) ^ 0x5a));
            b
        })
        .collect();
    let mut lens: Vec<usize> = batch.iter().map(Vec::len).collect();
    let mut out_len = n;
    let mut owner_len = n;
    let (kind, param) = input.fault;
    let param = usize::from(param);
    let expected = match kind {
        FAULT_LENS_LONG => {
            lens.extend(std::iter::repeat_n(0, 1 + param % 4));
            Some(GroError::LensMismatch {
                bufs: n,
                lens: lens.len(),
            })
        }
        FAULT_OUT_SHORT | FAULT_OWNER_SHORT if n > 0 => {
            let have = n - 1 - param % n;
            let slice = if kind == FAULT_OUT_SHORT {
                out_len = have;
                "out"
            } else {
                owner_len = have;
                "owner"
            };
            Some(GroError::SliceTooShort {
                slice,
                need: n,
                have,
            })
        }
        FAULT_LEN_EXCEEDS if n > 0 => {
            let index = param % n;
            lens[index] = bufs[index].len() + 1;
            Some(GroError::LenExceedsBuffer {
                index,
                len: lens[index],
                capacity: bufs[index].len(),
            })
        }
        _ => None,
    };
    let mut work = bufs.clone();
    let sentinel = Output {
        index: SENTINEL,
        ..Output::default()
    };
    let mut out = vec![sentinel; out_len];
    let mut owner = vec![SENTINEL; owner_len];
    let result = Gro::<FLOWS>::new(input.opts).coalesce(&mut work, &lens, &mut out, &mut owner);
    if let Some(e) = expected {
        assert_eq!(result, Err(e), "the fault's typed error");
        assert!(!e.to_string().is_empty());
        assert_eq!(work, bufs, "a failed call wrote a buffer");
        assert!(
            out.iter().all(|o| *o == sentinel),
            "a failed call wrote out"
        );
        assert!(
            owner.iter().all(|&o| o == SENTINEL),
            "a failed call wrote owner"
        );
        return;
    }
    let count = result.expect("a well-formed call succeeds");
    invariants(&batch, &bufs, &work, &out, &owner, count);

    if !input.tight {
        let core = CoreGro::<FLOWS> {
            opts: input.opts,
            capacity: ample,
        };
        let model = ReferenceGro {
            opts: input.opts,
            flows: FLOWS,
        };
        hold(laws::agree(&core, &model, &batch));
        hold(laws::gro_then_gso(&core, &batch));
    }
}

fn invariants(
    batch: &[Vec<u8>],
    bufs: &[Vec<u8>],
    work: &[Vec<u8>],
    out: &[Output],
    owner: &[usize],
    count: usize,
) {
    let n = batch.len();
    assert!(count <= n, "{count} outputs for {n} inputs");
    assert!(
        out[count..].iter().all(|o| o.index == SENTINEL),
        "out written beyond the count"
    );
    for (i, &k) in owner.iter().enumerate() {
        assert!(k < count, "input {i}: owner {k} names no output");
    }
    let mut heads = vec![false; n];
    let mut carried = 0;
    for (k, o) in out[..count].iter().enumerate() {
        assert!(o.index < n, "output {k}: index {} out of range", o.index);
        assert!(!heads[o.index], "output {k}: buffer {} used twice", o.index);
        heads[o.index] = true;
        assert_eq!(
            owner[o.index], k,
            "output {k} does not carry its own buffer"
        );
        let members = owner.iter().filter(|&&x| x == k).count();
        assert_eq!(members, o.segments, "output {k}: segments");
        carried += members;
        let buf = &work[o.index];
        assert!(o.len <= buf.len(), "output {k} overflows its buffer");
        let bytes = &buf[..o.len];
        if o.segments == 1 {
            assert_eq!(o.hdr, VnetHdr::default(), "single {k} has a header");
            assert_eq!(bytes, &batch[o.index][..], "single {k} changed");
        } else {
            assert!(o.len <= MAX_DATAGRAM, "G5");
            match check::check(&o.hdr, bytes, &CheckOptions::default()) {
                Ok(Offload::Segment(req)) => {
                    assert_eq!(req.gso_size, o.hdr.gso_size);
                    assert_eq!(req.hdr_len, usize::from(o.hdr.hdr_len));
                    assert_ne!(o.hdr.gso_type, GsoType::NONE);
                }
                other => panic!(
                    "merged output {k} is not a GSO request: {other:?} {:?}",
                    o.hdr
                ),
            }
        }
    }
    assert_eq!(carried, n, "every input exactly once");
    for i in (0..n).filter(|&i| !heads[i]) {
        assert_eq!(work[i], bufs[i], "absorbed input {i} written");
    }
}
