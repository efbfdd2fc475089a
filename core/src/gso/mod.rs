//! Segmentation: a validated GSO super-packet split into wire-ready segments (S1-S5), and the
//! completion of one NEEDS_CSUM checksum (S4).
//!
//! Two shapes of output, both into caller buffers, neither allocating:
//!
//! - [`Segmenter`]: a cursor that writes one segment at a time into one buffer, for firmware with a
//!   single MTU-sized buffer (`while let Some(r) = seg.next_into(&mut buf) { send(&buf[..r?]) }`).
//! - [`segment_into`] (a slice of buffers and a slice of lengths) and [`segment_packed`] (one big
//!   buffer, segments back to back at a fixed stride: quinn's `Transmit { size, segment_size }`,
//!   ready for `sendmsg` with `UDP_SEGMENT` or a loop of `split_at`).
//! - [`IovecPlan`]: no payload copied (S6): only each segment's headers are written, the payload
//!   is slices of the input, which may itself come in slices (TCP and USO; not UFO).
//!
//! S5: [`Segmenter::new`] re-reads the packet and checks it against the request (the request may
//! come from another packet: never trusted), so that everything that can go wrong goes wrong before
//! the first byte is written. The batch functions check every buffer before writing any.
//!
//! Speed: each segment is the header bytes copied once from the super-packet, then a handful of
//! fields patched, then the payload copied and summed in one fused pass ([`csum::copy_and_sum`]).
//! Checksums are sums of sums: the IPv4 header and TCP/UDP header sums are taken once with their
//! per-segment fields zeroed, and each segment adds its own lengths, ID, sequence number and flags
//! as words. Only additions, so the result is bit-identical to a recomputation from scratch.
//!
//! ```
//! use vnet_core::check::{check, CheckOptions, Offload};
//! use vnet_core::csum;
//! use vnet_core::gso::{GsoOptions, Segmenter};
//! use vnet_core::hdr::{Flags, GsoType, VnetHdr};
//! // A UDP/IPv4 datagram of 300 payload bytes, to go out as three of 100 (USO). With NEEDS_CSUM
//! // the UDP checksum field holds the pseudo-header sum (C3).
//! let (src, dst) = ([10, 0, 0, 1], [10, 0, 0, 2]);
//! let mut pkt = vec![0u8; 328];
//! pkt[..20].copy_from_slice(&[0x45, 0, 0x01, 0x48, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
//! pkt[20..26].copy_from_slice(&[0x30, 0x39, 0x11, 0x5c, 0x01, 0x34]); // ports, length 308
//! let pseudo = csum::pseudo_header_v4(src, dst, 17, 308);
//! pkt[26..28].copy_from_slice(&pseudo.to_be_bytes());
//! let hdr = VnetHdr {
//!     flags: Flags::NEEDS_CSUM,
//!     gso_type: GsoType::UDP_L4,
//!     hdr_len: 28,
//!     gso_size: 100,
//!     csum_start: 20,
//!     csum_offset: 6,
//!     ..VnetHdr::EMPTY
//! };
//! let Offload::Segment(req) = check(&hdr, &pkt, &CheckOptions::DEFAULT)? else {
//!     unreachable!("UDP_L4 asks for segmentation");
//! };
//! // One buffer, one segment at a time: what firmware with a single MTU-sized buffer does.
//! let mut seg = Segmenter::new(&req, &pkt, &GsoOptions::DEFAULT)?;
//! let mut buf = [0u8; 1500];
//! let mut sent = 0;
//! while let Some(len) = seg.next_into(&mut buf) {
//!     let wire = &buf[..len?];
//!     assert_eq!(wire.len(), 128);
//!     assert!(csum::verify(&wire[..20])); // the IPv4 header checksum is complete
//!     sent += 1;
//! }
//! assert_eq!(sent, 3);
//! # Ok::<(), vnet_core::Error>(())
//! ```

use core::fmt;
use core::num::NonZeroUsize;

use crate::check::{CsumRequest, GsoKind, GsoRequest, Tunnel};
use crate::csum::{self, Portable, Summer};
use crate::kernel::Profile;
use crate::wire::field::{ipv4, ipv6, ipv6_ext, tcp, udp};
use crate::wire::{
    self, Headers, IPV6_HEADER_LEN, IpProtocol, IpVersion, Link, MAX_HEADER_LEN, TcpFlags,
    TcpPacket, UDP_HEADER_LEN, get16, get32, put16,
};

mod iovec;
mod plan;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tunnel_kernel_tests;

pub use iovec::{HEAD_MAX, IovecPlan, Payload, Payloads};
pub(crate) use plan::copy_headers;
use plan::*;

/// How to segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GsoOptions {
    /// Where the packet starts: IP (TUN) or Ethernet (TAP). Must be what `check` was given; the
    /// segmenter re-parses the packet with it and refuses a request that does not match.
    pub link: Link,
    /// AccECN mode: CWR stays on every TCP segment instead of the first only (S1b).
    pub accecn: bool,
    /// Fixed-ID mode: every TCP segment keeps the super-packet's IPv4 ID (S2). The kernel's
    /// FIXEDID is TCP-only, so USO IDs increment whatever this says (S3); UFO fragments share one
    /// ID by definition.
    pub fixed_id: bool,
    /// Which kernel's behaviour to follow where kernels differ; USO makes at most
    /// `kernel.udp_max_segments` segments (V4, S5), more is [`GsoError::TooManySegments`].
    pub kernel: Profile,
    /// IPv6 UFO: the identification of the fragment header inserted into every fragment (S3a).
    /// Linux draws it per datagram from a keyed hash of the addresses (`ipv6_proxy_select_ident`,
    /// measured: K8), so no outside observer can predict it; the caller chooses it.
    pub frag_id: u32,
}

options!(GsoOptions {
    /// With packets starting at `link` (what `check` was given).
    with_link(link: Link);
    /// With AccECN mode on or off (S1b).
    with_accecn(accecn: bool);
    /// With fixed-ID mode on or off (S2).
    with_fixed_id(fixed_id: bool);
    /// Following `kernel` where kernels differ.
    with_kernel(kernel: Profile);
    /// With `frag_id` in the fragment header of IPv6 UFO fragments (S3a).
    with_frag_id(frag_id: u32);
});

impl GsoOptions {
    /// The defaults: [`Link::Tun`], no AccECN, incrementing IDs, [`Profile::NEWEST`], fragment
    /// ID 0. Usable in a `static` or `const`; [`Default`] returns it.
    pub const DEFAULT: GsoOptions = GsoOptions {
        link: Link::Tun,
        accecn: false,
        fixed_id: false,
        kernel: Profile::NEWEST,
        frag_id: 0,
    };
}

/// Which part of a request disagrees with the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReqField {
    /// `headers.l3_offset`.
    L3Offset,
    /// `headers.ip` (4 or 6).
    IpVersion,
    /// `headers.l3_len`.
    L3Len,
    /// `headers.protocol`, or the protocol the GSO kind needs.
    Protocol,
    /// `headers.fragment` (1: the packet is an IP fragment already).
    Fragment,
    /// `headers.vlan` (1: tagged).
    Vlan,
    /// `hdr_len`.
    HdrLen,
    /// `payload_len`.
    PayloadLen,
    /// `csum.start` (must be the transport header).
    CsumStart,
    /// `csum.offset` (16 for TCP, 6 for UDP).
    CsumOffset,
    /// An IP length field (IPv4 `total_len`, IPv6 `payload_len` + 40) against the bytes present.
    IpLength,
    /// `tunnel.inner_nh`: it must lie past the outer UDP header the outer parse found.
    OuterTransport,
    /// The outer transport protocol (must be UDP).
    OuterProtocol,
}

/// Why a packet cannot be segmented or its checksum completed. Each variant names its rule (see
/// `spec/RULES.md` and [`GsoError::rule`]); nothing has been written when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GsoError {
    /// S5: fewer output buffers (or length slots) than segments.
    TooFewBuffers {
        /// Segments to write.
        need: usize,
        /// Buffers given.
        have: usize,
    },
    /// S5: an output buffer is shorter than its segment.
    BufferTooSmall {
        /// The segment's index.
        index: usize,
        /// Its length.
        need: usize,
        /// The buffer's length.
        have: usize,
    },
    /// S5 (V4): USO would produce more segments than `udp_max_segments`.
    TooManySegments {
        /// Segments the packet would become.
        count: usize,
        /// The limit.
        max: u16,
    },
    /// S1: the packet's headers do not parse.
    Wire(wire::Error),
    /// S1: the request and the packet disagree.
    Mismatch {
        /// What disagrees.
        field: ReqField,
        /// The request's value (or what the request implies).
        request: usize,
        /// The packet's.
        packet: usize,
    },
    /// S1: `gso_size` is below the minimum (1).
    GsoSize {
        /// `gso_size`.
        value: u16,
        /// The minimum.
        min: u16,
    },
    /// S3: a combination vnet does not segment: UFO inside a UDP tunnel (V7 forbids it).
    Unsupported(&'static str),
    /// S4: the checksum field does not lie within the packet.
    CsumRange {
        /// `csum_start`.
        start: u16,
        /// `csum_offset`.
        offset: u16,
        /// The packet's length.
        len: usize,
    },
}

impl GsoError {
    /// The rule id this error enforces.
    pub const fn rule(&self) -> &'static str {
        match self {
            GsoError::TooFewBuffers { .. }
            | GsoError::BufferTooSmall { .. }
            | GsoError::TooManySegments { .. } => "S5",
            GsoError::Wire(_) | GsoError::Mismatch { .. } | GsoError::GsoSize { .. } => "S1",
            GsoError::Unsupported(_) => "S3",
            GsoError::CsumRange { .. } => "S4",
        }
    }
}

impl From<wire::Error> for GsoError {
    fn from(e: wire::Error) -> GsoError {
        GsoError::Wire(e)
    }
}

impl fmt::Display for GsoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rule = self.rule();
        match *self {
            GsoError::TooFewBuffers { need, have } => {
                write!(f, "{rule}: {need} segments but {have} output buffers")
            }
            GsoError::BufferTooSmall { index, need, have } => write!(
                f,
                "{rule}: segment {index} needs {need} bytes, its buffer has {have}"
            ),
            GsoError::TooManySegments { count, max } => write!(
                f,
                "{rule}: {count} UDP segments exceed udp_max_segments {max}"
            ),
            GsoError::Wire(e) => write!(f, "{rule}: {e}"),
            GsoError::Mismatch {
                field,
                request,
                packet,
            } => write!(
                f,
                "{rule}: request and packet disagree on {field:?}: request {request}, packet {packet}"
            ),
            GsoError::GsoSize { value, min } => {
                write!(f, "{rule}: gso_size {value} is below {min}")
            }
            GsoError::Unsupported(what) => write!(f, "{rule}: {what} is not supported"),
            GsoError::CsumRange { start, offset, len } => write!(
                f,
                "{rule}: checksum field at {start}+{offset} does not fit a {len}-byte packet"
            ),
        }
    }
}

impl core::error::Error for GsoError {}

/// Completes a NEEDS_CSUM checksum (S4): the field at `start + offset`, which holds the
/// pseudo-header sum (C3), becomes the complement of the sum from `start` to the end of `pkt`.
///
/// A result of 0 is written 0xFFFF whatever the protocol, as the kernel's `skb_checksum_help` does
/// (C4): for UDP 0 would mean "no checksum", for TCP (and any other ones'-complement checksum) the
/// two are the same value, so the caller need not say which protocol the field belongs to and the
/// bytes match what Linux writes.
pub fn complete_checksum(pkt: &mut [u8], req: CsumRequest) -> Result<(), GsoError> {
    complete_checksum_with(pkt, req, Portable)
}

/// [`complete_checksum`], summing with `summer` (e.g. a host's AVX2 sum).
pub fn complete_checksum_with<S: Summer>(
    pkt: &mut [u8],
    req: CsumRequest,
    summer: S,
) -> Result<(), GsoError> {
    let start = usize::from(req.start);
    let at = start + usize::from(req.offset);
    let range_err = GsoError::CsumRange {
        start: req.start,
        offset: req.offset,
        len: pkt.len(),
    };
    if at + 2 > pkt.len() {
        return Err(range_err);
    }
    let sum = summer.sum(pkt.get(start..).ok_or(range_err)?);
    put16(pkt, at, nonzero(csum::finish(sum)));
    Ok(())
}

/// A cursor over the segments of one super-packet, writing one segment per call into a caller
/// buffer (S1-S3). Construction validates everything (S5).
///
/// ```
/// # use vnet_core::check::{check, CheckOptions, Offload};
/// # use vnet_core::gso::{GsoOptions, Segmenter};
/// # use vnet_core::hdr::VnetHdr;
/// # fn demo(hdr: &VnetHdr, pkt: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
/// if let Offload::Segment(req) = check(hdr, pkt, &CheckOptions::default())? {
///     let mut seg = Segmenter::new(&req, pkt, &GsoOptions::default())?;
///     let mut buf = [0u8; 1500];
///     while let Some(len) = seg.next_into(&mut buf) {
///         let _wire = &buf[..len?];
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Segmenter<'a, S: Summer = Portable> {
    pkt: &'a [u8],
    plan: Plan,
    next: usize,
    summer: S,
}

impl<'a> Segmenter<'a> {
    /// Checks `req` against `pkt` (re-parsing the headers with `opts.link`; every disagreement is a
    /// [`GsoError::Mismatch`]) and plans the segments.
    pub fn new(
        req: &GsoRequest,
        pkt: &'a [u8],
        opts: &GsoOptions,
    ) -> Result<Segmenter<'a>, GsoError> {
        Segmenter::with_summer(req, pkt, opts, Portable)
    }
}

impl<'a, S: Summer> Segmenter<'a, S> {
    /// [`Segmenter::new`], copying and summing payloads with `summer`.
    pub fn with_summer(
        req: &GsoRequest,
        pkt: &'a [u8],
        opts: &GsoOptions,
        summer: S,
    ) -> Result<Segmenter<'a, S>, GsoError> {
        Ok(Segmenter {
            pkt,
            plan: Plan::new(req, pkt, opts)?,
            next: 0,
            summer,
        })
    }

    /// How many segments the packet becomes.
    pub fn segment_count(&self) -> usize {
        self.plan.count
    }

    /// The length of the longest segment (the first): a buffer this long fits every segment.
    pub fn max_segment_len(&self) -> usize {
        self.plan.max_segment_len()
    }

    /// The length of segment `index`, if there is one.
    pub fn segment_len(&self, index: usize) -> Option<usize> {
        self.plan.segment_len(index)
    }

    /// The bytes of all segments together.
    pub fn total_len(&self) -> usize {
        self.plan.total_len()
    }

    /// How many segments are still to be written.
    pub fn remaining(&self) -> usize {
        self.plan.count - self.next
    }

    /// Writes the next segment into the front of `out` and returns its length; `None` when all
    /// are written. A buffer too short for the segment is an error that writes nothing and does
    /// not advance, so the call can be repeated with a larger buffer.
    pub fn next_into(&mut self, out: &mut [u8]) -> Option<Result<usize, GsoError>> {
        let need = self.plan.segment_len(self.next)?;
        if out.len() < need {
            return Some(Err(GsoError::BufferTooSmall {
                index: self.next,
                need,
                have: out.len(),
            }));
        }
        let have = out.len();
        let Some(len) = self.plan.write(self.pkt, self.next, out, self.summer) else {
            return Some(Err(self.plan.too_small(self.next, have)));
        };
        self.next += 1;
        Some(Ok(len))
    }
}

/// Segments into one buffer per segment; `lens[i]` receives segment `i`'s length. Returns the
/// segment count. Every buffer is checked before the first is written (S5); extra buffers and
/// length slots are left untouched.
pub fn segment_into(
    req: &GsoRequest,
    pkt: &[u8],
    opts: &GsoOptions,
    bufs: &mut [&mut [u8]],
    lens: &mut [usize],
) -> Result<usize, GsoError> {
    segment_into_with(req, pkt, opts, bufs, lens, Portable)
}

/// [`segment_into`], copying and summing payloads with `summer`.
pub fn segment_into_with<S: Summer>(
    req: &GsoRequest,
    pkt: &[u8],
    opts: &GsoOptions,
    bufs: &mut [&mut [u8]],
    lens: &mut [usize],
    summer: S,
) -> Result<usize, GsoError> {
    let plan = Plan::new(req, pkt, opts)?;
    let have = bufs.len().min(lens.len());
    if have < plan.count {
        return Err(GsoError::TooFewBuffers {
            need: plan.count,
            have,
        });
    }
    for (index, buf) in bufs.iter().take(plan.count).enumerate() {
        let need = plan.segment_len(index).unwrap_or(0);
        if buf.len() < need {
            return Err(GsoError::BufferTooSmall {
                index,
                need,
                have: buf.len(),
            });
        }
    }
    for (index, (buf, len)) in bufs
        .iter_mut()
        .zip(lens.iter_mut())
        .take(plan.count)
        .enumerate()
    {
        let have = buf.len();
        *len = plan
            .write(pkt, index, buf, summer)
            .ok_or_else(|| plan.too_small(index, have))?;
    }
    Ok(plan.count)
}

/// Segments written back to back into one buffer: quinn's `Transmit` shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Packed {
    /// Bytes written: segment `i` is `out[i * segment_size..]`, `segment_size` long except the
    /// last, which ends at `size`.
    pub size: usize,
    /// The stride: the length of every segment but the last.
    pub segment_size: usize,
    /// How many segments.
    pub count: usize,
}

/// Segments into one buffer, back to back at a stride of [`Packed::segment_size`] (every segment
/// but the last is exactly that long, so the layout is what `sendmsg` with `UDP_SEGMENT` takes). The
/// buffer must hold [`Segmenter::total_len`] bytes; that is checked before anything is written (S5).
pub fn segment_packed(
    req: &GsoRequest,
    pkt: &[u8],
    opts: &GsoOptions,
    out: &mut [u8],
) -> Result<Packed, GsoError> {
    segment_packed_with(req, pkt, opts, out, Portable)
}

/// [`segment_packed`], copying and summing payloads with `summer`.
pub fn segment_packed_with<S: Summer>(
    req: &GsoRequest,
    pkt: &[u8],
    opts: &GsoOptions,
    out: &mut [u8],
    summer: S,
) -> Result<Packed, GsoError> {
    let plan = Plan::new(req, pkt, opts)?;
    let size = plan.total_len();
    if out.len() < size {
        return Err(GsoError::BufferTooSmall {
            index: 0,
            need: size,
            have: out.len(),
        });
    }
    let segment_size = plan.max_segment_len();
    let mut rest = out;
    for index in 0..plan.count {
        let (seg, tail) = rest
            .split_at_mut_checked(segment_size.min(rest.len()))
            .ok_or(GsoError::BufferTooSmall {
                index,
                need: segment_size,
                have: 0,
            })?;
        let have = seg.len();
        plan.write(pkt, index, seg, summer)
            .ok_or_else(|| plan.too_small(index, have))?;
        rest = tail;
    }
    Ok(Packed {
        size,
        segment_size,
        count: plan.count,
    })
}
