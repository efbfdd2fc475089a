//! Header validation: what a (header, packet) pair asks for, judged by the kernel's rules.
//!
//! [`check`] applies the rules of `virtio_net_hdr_to_skb` / `virtio_net_hdr_tnl_to_skb` (V1-V7)
//! and of TUN's write path (T14), so that in [`Mode::Linux`] it accepts exactly what a
//! Linux TUN/TAP device accepts on write. [`Mode::Strict`] adds the virtio spec's driver MUSTs
//! (P4, P9). A GSO request is then located in the packet itself (V8: `hdr_len` is a hint, never
//! trusted), so that segmentation has everything it needs and nothing it must take on faith.

use core::fmt;

use crate::dissect;
use crate::hdr::{Flags, GsoType, Layout, VnetHdr};
use crate::kernel::Profile;
use crate::wire::{self, Headers, IpProtocol, IpVersion, Link, TcpPacket};

/// Which rules to apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Mode {
    /// Accept exactly what Linux accepts on a TUN/TAP write.
    #[default]
    Linux,
    /// Also enforce the virtio spec's driver requirements: no DATA_VALID or RSC_INFO on transmit
    /// (P9), GSO only with NEEDS_CSUM (P4), `hdr_len` covering the headers of a GSO packet (P6).
    Strict,
}

/// How to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CheckOptions {
    /// Where the packet starts: IP (TUN) or Ethernet (TAP).
    pub link: Link,
    /// The header layout the device reads (T14 counts the header bytes TUN has not parsed yet).
    pub layout: Layout,
    /// Which rules.
    pub mode: Mode,
    /// Which kernel's rules, where kernel lines differ (the K rows of `spec/RULES.md`).
    pub kernel: Profile,
    /// UDP-tunnel GSO was negotiated. On a TUN write that is the 24-byte header alone, on kernels
    /// that have it (K20: `kernel.udp_tunnel_gso`; without it the tunnel bits are an unknown GSO
    /// type whatever this says); TUNSETOFFLOAD's tunnel bits concern only what the reader gets.
    pub tunnel: bool,
    /// UDP-tunnel checksum offload was negotiated too (on a TUN write: with the tunnel header,
    /// always).
    pub tunnel_csum: bool,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            link: Link::Tun,
            layout: Layout::V1,
            mode: Mode::Linux,
            kernel: Profile::NEWEST,
            tunnel: false,
            tunnel_csum: false,
        }
    }
}

/// Where a checksum is to be completed: summed from `start` to the end, stored at `start + offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CsumRequest {
    /// First byte covered, from the start of the packet.
    pub start: u16,
    /// Offset of the 16-bit checksum field from `start`.
    pub offset: u16,
}

/// The kind of segmentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum GsoKind {
    /// TCP segmentation (TCPV4 / TCPV6).
    Tcp,
    /// UDP segmentation: one datagram per segment (UDP_L4).
    Uso,
    /// UDP fragmentation: one datagram cut into IP fragments (UDP, deprecated).
    Ufo,
}

/// The outer headers of a UDP-tunnel GSO packet (V7, S3b).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Tunnel {
    /// Outer IP version as the header's tunnel bit names it: V7's bound reads it, segmentation
    /// follows the outer IP header's own version (K24).
    pub outer_ip: IpVersion,
    /// Outer UDP header offset as the header gives it: V7's bounds read it, segmentation finds
    /// the outer UDP header by parsing the outer IP header (K24).
    pub outer_th: u16,
    /// Inner IP header offset.
    pub inner_nh: u16,
    /// The outer UDP checksum is to be computed (UDP_TUNNEL_CSUM).
    pub outer_csum: bool,
}

/// A validated segmentation request, located in the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct GsoRequest {
    /// TCP, USO or UFO.
    pub kind: GsoKind,
    /// The ECN bit was set (TCP may carry CWR/ECE).
    pub ecn: bool,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// NEEDS_CSUM was set (TCP may go without, V6c; the segmenter then computes it anyway).
    pub csum: Option<CsumRequest>,
    /// The headers found in the packet (for a tunnel: the inner ones, offsets from packet start).
    pub headers: Headers,
    /// Bytes of headers up to and including the transport header: the true `hdr_len` (V8).
    pub hdr_len: usize,
    /// Bytes after `hdr_len`.
    pub payload_len: usize,
    /// The outer headers of a UDP-tunnel packet.
    pub tunnel: Option<Tunnel>,
}

/// What a valid (header, packet) pair asks of the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Offload {
    /// Nothing: send the packet as it is.
    Plain,
    /// Complete one checksum (S4). Also a GSO packet whose payload fits in one segment (V5).
    Checksum(CsumRequest),
    /// Segment (S1-S3).
    Segment(GsoRequest),
}

/// A header field named by an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HdrField {
    /// `flags`.
    Flags,
    /// `gso_type`.
    GsoType,
    /// `gso_size`.
    GsoSize,
    /// `hdr_len`.
    HdrLen,
    /// `csum_start`.
    CsumStart,
    /// `csum_offset`.
    CsumOffset,
    /// `outer_th_offset`.
    OuterThOffset,
    /// `inner_nh_offset`.
    InnerNhOffset,
}

/// Why a (header, packet) pair is rejected. Each error names its rule (see `spec/RULES.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckError {
    /// A header field is out of its bound.
    Field {
        /// The rule broken.
        rule: &'static str,
        /// The field.
        field: HdrField,
        /// Its value.
        value: u32,
        /// What was required of it.
        bound: Bound,
    },
    /// The packet is shorter than the header says it must be.
    Short {
        /// The rule broken.
        rule: &'static str,
        /// Bytes required.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The packet's own headers cannot carry the request (found when locating a GSO request).
    Packet {
        /// The rule broken.
        rule: &'static str,
        /// What is wrong.
        problem: Problem,
    },
}

/// What a field was required to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bound {
    /// A GSO type Linux knows: NONE, or TCPV4/TCPV6/UDP/UDP_L4 with optional ECN.
    KnownGsoType,
    /// Not zero.
    NonZero,
    /// Not 0xFFFF (GSO_BY_FRAGS).
    NotByFrags,
    /// Exactly this value.
    Equal(u32),
    /// At least this value.
    AtLeast(u32),
    /// At most this value.
    AtMost(u32),
    /// Flag or bit not allowed here.
    Absent,
    /// Flag or bit required here.
    Present,
}

/// A packet-level reason a GSO request cannot be carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The headers do not parse.
    Wire(wire::Error),
    /// The GSO type names another IP version than the packet has.
    IpVersionMismatch {
        /// The version the GSO type implies.
        expected: IpVersion,
        /// The packet's.
        found: IpVersion,
    },
    /// The packet's transport protocol is not the one the GSO type implies.
    ProtocolMismatch {
        /// TCP or UDP.
        expected: IpProtocol,
        /// The packet's.
        found: IpProtocol,
    },
    /// `csum_start` is not where the transport header is.
    CsumStartNotTransport {
        /// `csum_start`.
        csum_start: u16,
        /// The transport header's offset.
        transport: usize,
    },
    /// The packet is an IP fragment already.
    Fragment,
    /// The kernel's flow dissector cannot read the packet as the GSO type's IP version (V9).
    Undissectable,
    /// The payload after the real headers fits in one segment, yet V5's estimate made it GSO.
    SingleSegment {
        /// Payload bytes after the headers.
        payload_len: usize,
        /// The segment size.
        gso_size: u16,
    },
}

impl From<wire::Error> for CheckError {
    fn from(e: wire::Error) -> CheckError {
        CheckError::Packet {
            rule: "S1",
            problem: Problem::Wire(e),
        }
    }
}

impl CheckError {
    /// The rule id this error enforces.
    pub const fn rule(&self) -> &'static str {
        match self {
            CheckError::Field { rule, .. }
            | CheckError::Short { rule, .. }
            | CheckError::Packet { rule, .. } => rule,
        }
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Field {
                rule,
                field,
                value,
                bound,
            } => match field {
                HdrField::Flags | HdrField::GsoType => {
                    write!(f, "{rule}: {field} {value:#04x} must be {bound}")
                }
                _ => write!(f, "{rule}: {field} {value} must be {bound}"),
            },
            CheckError::Short { rule, need, have } => {
                write!(f, "{rule}: packet of {have} bytes, needs {need}")
            }
            CheckError::Packet { rule, problem } => write!(f, "{rule}: {problem}"),
        }
    }
}

impl fmt::Display for HdrField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HdrField::Flags => "flags",
            HdrField::GsoType => "gso_type",
            HdrField::GsoSize => "gso_size",
            HdrField::HdrLen => "hdr_len",
            HdrField::CsumStart => "csum_start",
            HdrField::CsumOffset => "csum_offset",
            HdrField::OuterThOffset => "outer_th_offset",
            HdrField::InnerNhOffset => "inner_nh_offset",
        })
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::KnownGsoType => {
                f.write_str("NONE, or TCPV4, TCPV6, UDP or UDP_L4 with optional ECN")
            }
            Bound::NonZero => f.write_str("non-zero"),
            Bound::NotByFrags => f.write_str("other than 0xffff (GSO_BY_FRAGS)"),
            Bound::Equal(n) => write!(f, "{n}"),
            Bound::AtLeast(n) => write!(f, "at least {n}"),
            Bound::AtMost(n) => write!(f, "at most {n}"),
            Bound::Absent => f.write_str("without this bit here"),
            Bound::Present => f.write_str("with the required bit set"),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Wire(e) => write!(f, "{e}"),
            Problem::IpVersionMismatch { expected, found } => {
                write!(
                    f,
                    "the GSO type needs {expected:?}, the packet is {found:?}"
                )
            }
            Problem::ProtocolMismatch { expected, found } => write!(
                f,
                "the GSO type needs IP protocol {}, the packet carries {}",
                expected.0, found.0
            ),
            Problem::CsumStartNotTransport {
                csum_start,
                transport,
            } => write!(
                f,
                "csum_start {csum_start} is not the transport header's offset {transport}"
            ),
            Problem::Fragment => f.write_str("the packet is an IP fragment"),
            Problem::Undissectable => f.write_str(
                "the kernel's flow dissector cannot read the packet as the GSO type's IP version",
            ),
            Problem::SingleSegment {
                payload_len,
                gso_size,
            } => write!(
                f,
                "the payload of {payload_len} bytes fits in one segment of {gso_size}, \
                 which Linux's segmenter refuses"
            ),
        }
    }
}

impl core::error::Error for CheckError {}

const TCP_HDR_MIN: usize = 20;
const UDP_HDR: usize = 8;
const IPV4_HDR_MIN: usize = 20;
const IPV6_HDR: usize = 40;
const ETH_HDR: usize = 14;
const TCP_CSUM_OFFSET: u16 = 16;
const UDP_CSUM_OFFSET: u16 = 6;

fn field(rule: &'static str, field: HdrField, value: impl Into<u32>, bound: Bound) -> CheckError {
    CheckError::Field {
        rule,
        field,
        value: value.into(),
        bound,
    }
}

fn need(rule: &'static str, need: usize, pkt: &[u8]) -> Result<(), CheckError> {
    if pkt.len() < need {
        return Err(CheckError::Short {
            rule,
            need,
            have: pkt.len(),
        });
    }
    Ok(())
}

/// Validates `hdr` against `pkt` (the bytes after the header) and says what the pair asks for.
pub fn check(hdr: &VnetHdr, pkt: &[u8], opts: &CheckOptions) -> Result<Offload, CheckError> {
    check_device_write(hdr, pkt, opts)?;
    if opts.mode == Mode::Strict {
        check_strict(hdr)?;
    }
    let tunnel = check_tunnel(hdr, pkt, opts)?;
    let base = check_plain(hdr, pkt, opts.link, &opts.kernel)?;
    match base {
        // A tunnel request that fits in one segment too: Linux sends the packet whole with its
        // inner checksum completed (K24; a TUN reader without tunnel offload cannot read it).
        Plain::NotGso => Ok(match csum_request(hdr) {
            Some(csum) => Offload::Checksum(csum),
            None => Offload::Plain,
        }),
        Plain::Gso(kind) => locate(hdr, pkt, opts, kind, tunnel).map(Offload::Segment),
    }
}

/// T14: what TUN's write path checks before the header rules.
fn check_device_write(hdr: &VnetHdr, pkt: &[u8], opts: &CheckOptions) -> Result<(), CheckError> {
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
            HdrField::HdrLen,
            hdr_len as u32,
            Bound::AtMost(limit as u32),
        ));
    }
    match opts.link {
        Link::Tap => {
            need("T14", ETH_HDR, pkt)?;
            if hdr_len != 0 && hdr_len < ETH_HDR {
                return Err(field(
                    "T14",
                    HdrField::HdrLen,
                    hdr_len as u32,
                    Bound::AtLeast(ETH_HDR as u32),
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
fn check_strict(hdr: &VnetHdr) -> Result<(), CheckError> {
    for flag in [Flags::DATA_VALID, Flags::RSC_INFO] {
        if hdr.flags.contains(flag) {
            return Err(field("P9", HdrField::Flags, hdr.flags.0, Bound::Absent));
        }
    }
    if hdr.gso_type != GsoType::NONE && !hdr.flags.contains(Flags::NEEDS_CSUM) {
        return Err(field("P4", HdrField::Flags, hdr.flags.0, Bound::Present));
    }
    Ok(())
}

enum Plain {
    NotGso,
    Gso(GsoKind),
}

/// V1-V7: `__virtio_net_hdr_to_skb` with the tunnel bits removed.
fn check_plain(
    hdr: &VnetHdr,
    pkt: &[u8],
    link: Link,
    kernel: &Profile,
) -> Result<Plain, CheckError> {
    let gso_type = GsoType(hdr.gso_type.0 & !GsoType::UDP_TUNNEL.0);
    let needs_csum = hdr.flags.contains(Flags::NEEDS_CSUM);
    // V1: the base type, ECN removed, must be one Linux knows; thlen and the IP minimum follow.
    let (kind, thlen, mut nh_min_len) = if gso_type == GsoType::NONE {
        (None, 0, IPV4_HDR_MIN)
    } else {
        let (kind, nh_min_len) = match gso_type.base() {
            GsoType::TCPV4 => (GsoKind::Tcp, IPV4_HDR_MIN),
            GsoType::TCPV6 => (GsoKind::Tcp, IPV6_HDR),
            GsoType::UDP => (GsoKind::Ufo, IPV4_HDR_MIN),
            GsoType::UDP_L4 if kernel.uso => (GsoKind::Uso, IPV4_HDR_MIN),
            _ => {
                return Err(field(
                    "V1",
                    HdrField::GsoType,
                    hdr.gso_type.0,
                    Bound::KnownGsoType,
                ));
            }
        };
        // V2: GSO needs a segment size.
        if hdr.gso_size == 0 {
            return Err(field("V2", HdrField::GsoSize, 0u16, Bound::NonZero));
        }
        let thlen = if kind == GsoKind::Tcp {
            TCP_HDR_MIN
        } else {
            UDP_HDR
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
                HdrField::CsumStart,
                hdr.csum_start,
                Bound::AtMost(u32::from(u16::MAX) - 1),
            ));
        }
        if kernel.csum_start_past_ip_header && start < nh_min_len {
            return Err(field(
                "V3",
                HdrField::CsumStart,
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
    let gso_size = usize::from(effective_gso_size(hdr, kind, kernel));
    let mut nh_off = p_off;
    match kind {
        // UFO's gso_size may not include the UDP header.
        GsoKind::Ufo => nh_off -= thlen,
        // V4: USO needs NEEDS_CSUM at offset 6, a bounded segment count and no ECN.
        GsoKind::Uso => {
            if !needs_csum {
                return Err(field("V4", HdrField::Flags, hdr.flags.0, Bound::Present));
            }
            if hdr.csum_offset != UDP_CSUM_OFFSET {
                return Err(field(
                    "V4",
                    HdrField::CsumOffset,
                    hdr.csum_offset,
                    Bound::Equal(UDP_CSUM_OFFSET.into()),
                ));
            }
            let max_payload = gso_size * usize::from(kernel.udp_max_segments);
            if pkt.len() - p_off > max_payload {
                return Err(CheckError::Short {
                    rule: "V4",
                    need: p_off + max_payload,
                    have: pkt.len(),
                });
            }
            if gso_type.has_ecn() {
                return Err(field("V4", HdrField::GsoType, gso_type.0, Bound::Absent));
            }
        }
        // V4: TCP with NEEDS_CSUM checksums at offset 16.
        GsoKind::Tcp => {
            if needs_csum && hdr.csum_offset != TCP_CSUM_OFFSET {
                return Err(field(
                    "V4",
                    HdrField::CsumOffset,
                    hdr.csum_offset,
                    Bound::Equal(TCP_CSUM_OFFSET.into()),
                ));
            }
        }
    }
    if gso_size == usize::from(u16::MAX) {
        return Err(field(
            "V2",
            HdrField::GsoSize,
            hdr.gso_size,
            Bound::NotByFrags,
        ));
    }
    // V5: a payload that fits in one segment is not really GSO.
    if pkt.len() - nh_off > gso_size {
        Ok(Plain::Gso(kind))
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
fn dissected_transport(hdr: &VnetHdr, pkt: &[u8], kind: GsoKind) -> Result<usize, CheckError> {
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
fn check_tunnel(
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
            HdrField::GsoType,
            hdr.gso_type.0,
            Bound::KnownGsoType,
        ));
    }
    let tunnel_field = |bound| field("V7", HdrField::GsoType, hdr.gso_type.0, bound);
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
        return Err(field("V7", HdrField::Flags, hdr.flags.0, Bound::Present));
    }
    let outer_ip = if bits == GsoType::UDP_TUNNEL_IPV6 {
        IpVersion::V6
    } else {
        IpVersion::V4
    };
    let l3min = |v| match v {
        IpVersion::V4 => IPV4_HDR_MIN,
        IpVersion::V6 => IPV6_HDR,
    };
    let outer_min = ETH_HDR + l3min(outer_ip);
    let outer_th = usize::from(hdr.outer_th_offset);
    let inner_nh = usize::from(hdr.inner_nh_offset);
    let inner_th = usize::from(hdr.csum_start);
    if outer_th < outer_min {
        return Err(field(
            "V7",
            HdrField::OuterThOffset,
            hdr.outer_th_offset,
            Bound::AtLeast(outer_min as u32),
        ));
    }
    if inner_nh < outer_th + UDP_HDR {
        return Err(field(
            "V7",
            HdrField::InnerNhOffset,
            hdr.inner_nh_offset,
            Bound::AtLeast((outer_th + UDP_HDR) as u32),
        ));
    }
    // The inner version: TCPV6 says so; for USO Linux reads the packet (after the plain checks,
    // which have made sure the bytes are there; here we bound the read ourselves).
    let inner_ip = match inner.base() {
        GsoType::TCPV6 => IpVersion::V6,
        GsoType::UDP_L4 if pkt.get(inner_nh).is_some_and(|b| b >> 4 == 6) => IpVersion::V6,
        _ => IpVersion::V4,
    };
    let inner_min = inner_nh + l3min(inner_ip);
    if inner_th < inner_min {
        return Err(field(
            "V7",
            HdrField::CsumStart,
            hdr.csum_start,
            Bound::AtLeast(inner_min as u32),
        ));
    }
    if hdr.flags.contains(Flags::UDP_TUNNEL_CSUM) && !opts.tunnel_csum {
        return Err(field("V7", HdrField::Flags, hdr.flags.0, Bound::Absent));
    }
    Ok(Some(Tunnel {
        outer_ip,
        outer_th: hdr.outer_th_offset,
        inner_nh: hdr.inner_nh_offset,
        outer_csum: hdr.flags.contains(Flags::UDP_TUNNEL_CSUM),
    }))
}

fn csum_request(hdr: &VnetHdr) -> Option<CsumRequest> {
    hdr.flags
        .contains(Flags::NEEDS_CSUM)
        .then_some(CsumRequest {
            start: hdr.csum_start,
            offset: hdr.csum_offset,
        })
}

/// V6 (and S1, S30): find the headers of a GSO packet in the packet itself.
fn locate(
    hdr: &VnetHdr,
    pkt: &[u8],
    opts: &CheckOptions,
    kind: GsoKind,
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
            need("S30", headers.l4_offset + UDP_HDR, pkt)?;
            UDP_HDR
        }
    };
    let hdr_len = headers.l4_offset + l4_len;
    let payload_len = pkt.len() - hdr_len.min(pkt.len());
    // V5 judged the payload from a minimal header; with options the real payload may fit in one
    // segment, and then Linux's segmenter refuses the packet and drops it (measured: K2). UFO's
    // segment size counts the UDP header (V5).
    let segmented = match kind {
        GsoKind::Ufo => payload_len + UDP_HDR,
        GsoKind::Tcp | GsoKind::Uso => payload_len,
    };
    let gso_size = effective_gso_size(hdr, kind, &opts.kernel);
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
            HdrField::HdrLen,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testpkt::Pkt;

    fn gso_hdr(gso_type: GsoType, gso_size: u16, csum_start: u16, csum_offset: u16) -> VnetHdr {
        VnetHdr {
            flags: Flags::NEEDS_CSUM,
            gso_type,
            gso_size,
            csum_start,
            csum_offset,
            ..VnetHdr::default()
        }
    }

    fn run(hdr: &VnetHdr, pkt: &[u8]) -> Result<Offload, CheckError> {
        check(hdr, pkt, &CheckOptions::default())
    }

    fn segment(hdr: &VnetHdr, pkt: &[u8]) -> GsoRequest {
        match run(hdr, pkt) {
            Ok(Offload::Segment(req)) => req,
            other => panic!("expected a GSO request, got {other:?}"),
        }
    }

    /// The read cases every TUN implementation must agree on (payload 200, gso_size 100).
    #[test]
    fn test_tun_read_cases() {
        let cases = [
            (Pkt::tcp4(200), GsoType::TCPV4, 40, 20, 16),
            (Pkt::tcp6(200), GsoType::TCPV6, 60, 40, 16),
            (Pkt::udp4(200), GsoType::UDP_L4, 28, 20, 6),
            (Pkt::udp6(200), GsoType::UDP_L4, 48, 40, 6),
        ];
        for (pkt, gso_type, hdr_len, start, offset) in cases {
            let hdr = VnetHdr {
                hdr_len,
                ..gso_hdr(gso_type, 100, start, offset)
            };
            let req = segment(&hdr, &pkt.build());
            assert_eq!(req.hdr_len, usize::from(hdr_len));
            assert_eq!(req.payload_len, 200);
            assert_eq!(req.csum, Some(CsumRequest { start, offset }));
        }
    }

    #[test]
    fn test_hdr_len_is_recomputed_v6() {
        let pkt = Pkt {
            tcp_options: 12,
            ip_options: 8,
            ..Pkt::tcp4(3000)
        };
        let hdr = VnetHdr {
            hdr_len: 0,
            ..gso_hdr(GsoType::TCPV4, 1000, 28, 16)
        };
        let req = segment(&hdr, &pkt.build());
        assert_eq!(req.hdr_len, pkt.hdr_len());
        assert_eq!(req.headers.l4_offset, pkt.l4_offset());
        let strict = CheckOptions {
            mode: Mode::Strict,
            ..CheckOptions::default()
        };
        assert_eq!(check(&hdr, &pkt.build(), &strict).unwrap_err().rule(), "P6");
    }

    #[test]
    fn test_v1_unknown_types_rejected() {
        let pkt = Pkt::tcp4(200).build();
        for t in [2u8, 6, 7, 0x80, 0x10, 0x11, 0x81 | 0x10] {
            let err = run(&gso_hdr(GsoType(t), 100, 20, 16), &pkt).unwrap_err();
            assert_eq!(err.rule(), "V1", "gso_type {t:#x}");
        }
        // ECN with a known base type is fine.
        assert!(run(&gso_hdr(GsoType(0x81), 100, 20, 16), &pkt).is_ok());
    }

    #[test]
    fn test_v2_gso_size() {
        let pkt = Pkt::tcp4(200).build();
        for size in [0, 0xffff] {
            let err = run(&gso_hdr(GsoType::TCPV4, size, 20, 16), &pkt).unwrap_err();
            assert_eq!(err.rule(), "V2");
        }
    }

    #[test]
    fn test_v3_csum_bounds() {
        let pkt = Pkt::tcp4(200).build();
        let plain_csum = |start, offset| VnetHdr {
            flags: Flags::NEEDS_CSUM,
            csum_start: start,
            csum_offset: offset,
            ..VnetHdr::default()
        };
        // csum_start inside the IPv4 header: rejected even without GSO.
        assert_eq!(run(&plain_csum(10, 16), &pkt).unwrap_err().rule(), "V3");
        // csum_start inside a 40-byte minimum for TCPV6.
        let v6 = Pkt::tcp6(200).build();
        let err = run(&gso_hdr(GsoType::TCPV6, 100, 20, 16), &v6).unwrap_err();
        assert_eq!(err.rule(), "V3");
        // The checksum field past the end (T14 sees the raised hdr_len first).
        let len = pkt.len() as u16;
        assert!(run(&plain_csum(20, len - 21), &pkt).is_err());
        assert_eq!(
            run(&plain_csum(20, 16), &pkt),
            Ok(Offload::Checksum(CsumRequest {
                start: 20,
                offset: 16
            }))
        );
    }

    #[test]
    fn test_v4_uso_rules() {
        let pkt = Pkt::udp4(1000).build();
        let ok = gso_hdr(GsoType::UDP_L4, 100, 20, 6);
        assert!(matches!(run(&ok, &pkt), Ok(Offload::Segment(_))));
        let no_csum = VnetHdr {
            flags: Flags::EMPTY,
            ..ok
        };
        assert_eq!(run(&no_csum, &pkt).unwrap_err().rule(), "V4");
        let off16 = gso_hdr(GsoType::UDP_L4, 100, 20, 16);
        assert_eq!(run(&off16, &pkt).unwrap_err().rule(), "V4");
        let ecn = gso_hdr(GsoType(0x85), 100, 20, 6);
        assert_eq!(run(&ecn, &pkt).unwrap_err().rule(), "V4");
        // 129 segments of 8 bytes rejected, 128 accepted (this kernel's UDP_MAX_SEGMENTS).
        let max = Pkt::udp4(128 * 8).build();
        assert!(run(&gso_hdr(GsoType::UDP_L4, 8, 20, 6), &max).is_ok());
        let over = Pkt::udp4(128 * 8 + 1).build();
        let err = run(&gso_hdr(GsoType::UDP_L4, 8, 20, 6), &over).unwrap_err();
        assert_eq!(err.rule(), "V4");
    }

    #[test]
    fn test_v4_tcp_offset_and_v5_small_is_plain() {
        let pkt = Pkt::tcp4(200).build();
        let err = run(&gso_hdr(GsoType::TCPV4, 100, 20, 6), &pkt).unwrap_err();
        assert_eq!(err.rule(), "V4");
        // TSO without NEEDS_CSUM is accepted by Linux (V6c) but not in strict mode (P4).
        let no_csum = VnetHdr {
            flags: Flags::EMPTY,
            ..gso_hdr(GsoType::TCPV4, 100, 0, 0)
        };
        let req = segment(&no_csum, &pkt);
        assert_eq!(req.csum, None);
        let strict = CheckOptions {
            mode: Mode::Strict,
            ..CheckOptions::default()
        };
        assert_eq!(check(&no_csum, &pkt, &strict).unwrap_err().rule(), "P4");
        // Payload == gso_size: a plain packet whose checksum is still to be completed.
        let small = run(&gso_hdr(GsoType::TCPV4, 200, 20, 16), &pkt);
        assert_eq!(
            small,
            Ok(Offload::Checksum(CsumRequest {
                start: 20,
                offset: 16
            }))
        );
    }

    #[test]
    fn test_s1_packet_must_match_type() {
        let v6 = Pkt::tcp6(200).build();
        let err = run(&gso_hdr(GsoType::TCPV4, 100, 40, 16), &v6).unwrap_err();
        assert!(matches!(
            err,
            CheckError::Packet {
                problem: Problem::IpVersionMismatch { .. },
                ..
            }
        ));
        let udp = Pkt::udp4(200).build();
        let err = run(&gso_hdr(GsoType::TCPV4, 100, 20, 16), &udp).unwrap_err();
        assert_eq!(err.rule(), "S1");
        let opts = Pkt {
            ip_options: 8,
            ..Pkt::tcp4(200)
        };
        let err = run(&gso_hdr(GsoType::TCPV4, 100, 20, 16), &opts.build()).unwrap_err();
        assert!(matches!(
            err,
            CheckError::Packet {
                problem: Problem::CsumStartNotTransport { .. },
                ..
            }
        ));
    }

    #[test]
    fn test_t14_device_write() {
        let pkt = Pkt::tcp4(10).build();
        let hdr = VnetHdr {
            hdr_len: pkt.len() as u16 + 3,
            ..VnetHdr::default()
        };
        assert_eq!(run(&hdr, &pkt).unwrap_err().rule(), "T14");
        assert_eq!(
            run(&VnetHdr::default(), &[0x50; 40]).unwrap_err().rule(),
            "T14"
        );
        let tap = CheckOptions {
            link: Link::Tap,
            ..CheckOptions::default()
        };
        assert_eq!(
            check(&VnetHdr::default(), &[0; 13], &tap)
                .unwrap_err()
                .rule(),
            "T14"
        );
        // A plain packet of any content is fine on TUN as long as it names IPv4 or IPv6.
        assert_eq!(run(&VnetHdr::default(), &[0x45]), Ok(Offload::Plain));
    }

    /// K1: TUN checks hdr_len against what follows the 10 header bytes it parsed.
    #[test]
    fn test_t14_bound_counts_unparsed_header_bytes() {
        let pkt = Pkt::tcp4(10).build();
        for (layout, slack) in [
            (Layout::Legacy, 0),
            (Layout::V1, 2),
            (Layout::V1Hash, 10),
            (Layout::V1HashTunnel, 0),
        ] {
            let opts = CheckOptions {
                layout,
                ..CheckOptions::default()
            };
            let with = |extra: usize| VnetHdr {
                hdr_len: (pkt.len() + extra) as u16,
                ..VnetHdr::default()
            };
            assert_eq!(check(&with(slack), &pkt, &opts), Ok(Offload::Plain));
            let err = check(&with(slack + 1), &pkt, &opts).unwrap_err();
            assert_eq!(err.rule(), "T14", "{layout:?}");
        }
    }

    /// K2: options push the real payload under gso_size although V5's estimate said GSO.
    #[test]
    fn test_single_segment_after_options_is_refused() {
        let pkt = Pkt {
            tcp_options: 12,
            ..Pkt::tcp4(100)
        };
        let err = run(&gso_hdr(GsoType::TCPV4, 100, 20, 16), &pkt.build()).unwrap_err();
        assert!(matches!(
            err,
            CheckError::Packet {
                problem: Problem::SingleSegment { .. },
                ..
            }
        ));
    }

    #[test]
    fn test_tap_with_vlan() {
        let pkt = Pkt {
            ethernet: true,
            vlan: true,
            ..Pkt::tcp6(3000)
        };
        let tap = CheckOptions {
            link: Link::Tap,
            ..CheckOptions::default()
        };
        let hdr = gso_hdr(GsoType::TCPV6, 1400, 58, 16);
        match check(&hdr, &pkt.build(), &tap) {
            Ok(Offload::Segment(req)) => {
                assert_eq!(req.headers.l3_offset, pkt.l3_offset());
                assert_eq!(req.hdr_len, pkt.hdr_len());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn test_messages_name_rule_field_and_bound() {
        let pkt = Pkt::tcp4(200).build();
        let hdr = VnetHdr {
            flags: Flags::NEEDS_CSUM,
            csum_start: 10,
            csum_offset: 16,
            ..VnetHdr::default()
        };
        let msg = std::format!("{}", run(&hdr, &pkt).unwrap_err());
        assert_eq!(msg, "V3: csum_start 10 must be at least 20");
    }

    #[test]
    fn test_strict_flags() {
        let strict = CheckOptions {
            mode: Mode::Strict,
            ..CheckOptions::default()
        };
        let pkt = Pkt::tcp4(10).build();
        for flags in [Flags::DATA_VALID, Flags::RSC_INFO] {
            let hdr = VnetHdr {
                flags,
                ..VnetHdr::default()
            };
            assert_eq!(check(&hdr, &pkt, &strict).unwrap_err().rule(), "P9");
            assert_eq!(run(&hdr, &pkt), Ok(Offload::Plain), "Linux ignores it");
        }
    }

    #[test]
    fn test_v7_tunnel() {
        // Ethernet + outer IPv4 + UDP + inner IPv4/TCP, as the spec's example offsets.
        let inner = Pkt::tcp4(3000).build();
        let mut pkt = std::vec![0u8; 14 + 20 + 8];
        pkt[0] = 0x45;
        pkt.extend_from_slice(&inner);
        let hdr = VnetHdr {
            gso_type: GsoType(GsoType::UDP_TUNNEL_IPV4.0 | GsoType::TCPV4.0),
            outer_th_offset: 34,
            inner_nh_offset: 42,
            ..gso_hdr(GsoType::NONE, 1000, 62, 16)
        };
        let opts = CheckOptions {
            tunnel: true,
            ..CheckOptions::default()
        };
        // Not negotiated: rejected.
        assert_eq!(run(&hdr, &pkt).unwrap_err().rule(), "V7");
        match check(&hdr, &pkt, &opts) {
            Ok(Offload::Segment(req)) => {
                assert_eq!(req.headers.l4_offset, 62);
                assert_eq!(req.hdr_len, 82);
                assert_eq!(req.tunnel.map(|t| t.outer_th), Some(34));
            }
            other => panic!("{other:?}"),
        }
        let both = VnetHdr {
            gso_type: GsoType(0x61),
            ..hdr
        };
        assert_eq!(check(&both, &pkt, &opts).unwrap_err().rule(), "V7");
        let low_outer = VnetHdr {
            outer_th_offset: 20,
            ..hdr
        };
        assert_eq!(check(&low_outer, &pkt, &opts).unwrap_err().rule(), "V7");
        let csum = VnetHdr {
            flags: Flags::NEEDS_CSUM.with(Flags::UDP_TUNNEL_CSUM),
            ..hdr
        };
        assert_eq!(check(&csum, &pkt, &opts).unwrap_err().rule(), "V7");
    }
}

/// K15-K17: the facts that differ between kernel lines, each under both values.
#[cfg(test)]
mod kernel_tests {
    use super::*;
    use crate::kernel::{LINUX_6_1, LINUX_6_12, LINUX_6_18, LINUX_6_18_DISSECT};
    use crate::testpkt::Pkt;

    fn under(kernel: Profile, hdr: &VnetHdr, pkt: &[u8]) -> Result<Offload, CheckError> {
        check(
            hdr,
            pkt,
            &CheckOptions {
                kernel,
                ..CheckOptions::default()
            },
        )
    }

    /// A GSO header without NEEDS_CSUM (as a sender that leaves the checksum to the segmenter
    /// writes it).
    fn no_csum(gso_type: GsoType, gso_size: u16) -> VnetHdr {
        VnetHdr {
            gso_type,
            gso_size,
            ..VnetHdr::default()
        }
    }

    /// The kernel-differential's case 28 (seed 1592640748): TCPV6 without NEEDS_CSUM over an
    /// IPv6/UDP packet. A non-dissecting kernel accepts the write and its segmenter drops the
    /// packet (S1); a dissecting one refuses the write (V9: UDP is not TCP).
    #[test]
    fn regression_k15_tcpv6_over_udp6() {
        let pkt = Pkt::udp6(1970).build();
        let hdr = VnetHdr {
            hdr_len: 100,
            csum_start: 1,
            ..no_csum(GsoType::TCPV6, 40)
        };
        let late = under(LINUX_6_18, &hdr, &pkt).unwrap_err();
        assert_eq!(late.rule(), "S1", "{late}");
        let refused = under(LINUX_6_18_DISSECT, &hdr, &pkt).unwrap_err();
        assert_eq!(
            refused,
            CheckError::Packet {
                rule: "V9",
                problem: Problem::ProtocolMismatch {
                    expected: IpProtocol::TCP,
                    found: IpProtocol::UDP
                }
            }
        );
    }

    /// The kernel-differential's case 93: TCPV4 over an IPv6/TCP packet. Dissecting kernels
    /// read the version from the packet and refuse the mismatch at write time.
    #[test]
    fn regression_k15_tcpv4_over_ipv6() {
        let pkt = Pkt::tcp6(2036).build();
        let hdr = no_csum(GsoType::TCPV4, 100);
        assert_eq!(under(LINUX_6_18, &hdr, &pkt).unwrap_err().rule(), "S1");
        assert_eq!(
            under(LINUX_6_18_DISSECT, &hdr, &pkt),
            Err(CheckError::Packet {
                rule: "V9",
                problem: Problem::IpVersionMismatch {
                    expected: IpVersion::V4,
                    found: IpVersion::V6
                }
            })
        );
    }

    /// The GSO differential's case 38: IPv4 with 20 bytes of options, TSO without NEEDS_CSUM,
    /// 16 payload bytes at gso_size 19. V5's estimate (from a 20-byte IP header) makes it GSO on
    /// a non-dissecting kernel, whose segmenter then drops it (K2); a dissecting kernel finds the
    /// real transport header, so the payload fits one segment: a plain packet, delivered.
    #[test]
    fn regression_k15_options_make_a_single_segment() {
        let pkt = Pkt {
            ip_options: 20,
            ..Pkt::tcp4(16)
        }
        .build();
        let hdr = VnetHdr {
            hdr_len: 60,
            ..no_csum(GsoType::TCPV4, 19)
        };
        assert_eq!(under(LINUX_6_18, &hdr, &pkt).unwrap_err().rule(), "S1");
        assert_eq!(under(LINUX_6_18_DISSECT, &hdr, &pkt), Ok(Offload::Plain));
    }

    /// UFO names no IP version: a dissecting kernel reads the packet's, IPv6 here, and follows
    /// its extension headers to UDP.
    #[test]
    fn test_k15_ufo_follows_the_packets_version() {
        let pkt = Pkt {
            v6_ext: 24,
            ..Pkt::udp6(1001)
        }
        .build();
        let hdr = no_csum(GsoType::UDP, 26);
        for kernel in [LINUX_6_18, LINUX_6_18_DISSECT] {
            let Ok(Offload::Segment(req)) = under(kernel, &hdr, &pkt) else {
                panic!("UFO over IPv6 with options under {kernel:?}");
            };
            assert_eq!(req.headers.l4_offset, 64);
        }
    }

    /// K15 concerns TUN only: TAP frames are judged as before.
    #[test]
    fn test_k15_not_on_tap() {
        let pkt = Pkt {
            ethernet: true,
            ..Pkt::udp6(1970)
        }
        .build();
        let opts = CheckOptions {
            link: Link::Tap,
            kernel: LINUX_6_18_DISSECT,
            ..CheckOptions::default()
        };
        let err = check(&no_csum(GsoType::TCPV6, 40), &pkt, &opts).unwrap_err();
        assert_eq!(err.rule(), "S1");
    }

    /// K16: a kernel without USO on TUN refuses UDP_L4 like an unknown type.
    #[test]
    fn test_k16_uso_unknown_before_6_2() {
        let pkt = Pkt::udp4(300).build_partial();
        let hdr = VnetHdr {
            flags: Flags::NEEDS_CSUM,
            gso_type: GsoType::UDP_L4,
            gso_size: 100,
            csum_start: 20,
            csum_offset: 6,
            ..VnetHdr::default()
        };
        assert!(matches!(
            under(LINUX_6_18, &hdr, &pkt),
            Ok(Offload::Segment(_))
        ));
        assert_eq!(
            under(LINUX_6_1, &hdr, &pkt),
            Err(field(
                "V1",
                HdrField::GsoType,
                GsoType::UDP_L4.0,
                Bound::KnownGsoType
            ))
        );
    }

    /// K20: a kernel without UDP-tunnel GSO refuses the tunnel bits like an unknown type, even
    /// with a 24-byte header and tunnel GSO negotiated as far as the caller knows.
    #[test]
    fn test_k20_tunnel_unknown_before_6_17() {
        let inner = Pkt::tcp4(3000).build_partial();
        let mut pkt = std::vec![0u8; 14 + 20 + 8];
        pkt[0] = 0x45;
        pkt.extend_from_slice(&inner);
        let hdr = VnetHdr {
            flags: Flags::NEEDS_CSUM,
            gso_type: GsoType(GsoType::UDP_TUNNEL_IPV4.0 | GsoType::TCPV4.0),
            gso_size: 1000,
            csum_start: 62,
            csum_offset: 16,
            outer_th_offset: 34,
            inner_nh_offset: 42,
            ..VnetHdr::default()
        };
        let opts = |kernel| CheckOptions {
            layout: Layout::V1HashTunnel,
            kernel,
            tunnel: true,
            tunnel_csum: true,
            ..CheckOptions::default()
        };
        assert!(matches!(
            check(&hdr, &pkt, &opts(LINUX_6_18)),
            Ok(Offload::Segment(GsoRequest {
                tunnel: Some(_),
                ..
            }))
        ));
        for kernel in [LINUX_6_1, LINUX_6_12] {
            assert_eq!(
                check(&hdr, &pkt, &opts(kernel)),
                Err(field("V1", HdrField::GsoType, 0x21u8, Bound::KnownGsoType)),
                "{kernel:?}"
            );
        }
    }

    /// K24: a tunnel request whose payload fits in one segment (V5) is a checksum-only packet,
    /// as for plain GSO: Linux accepts the write and sends the packet whole with its inner
    /// checksum completed. (It keeps its tunnel GSO bits, so a TUN reader without tunnel offload
    /// fails to read it: EINVAL on read, which an earlier reading of the differential mistook
    /// for a refused write.) The UDP-tunnel differential's case 167 of seed 7: inner TCPv4 with
    /// 5 payload bytes at gso_size 12; `sent` is what B's packet tap saw, forwarding undone.
    #[test]
    fn regression_k21_tunnel_single_segment_is_a_checksum() {
        use crate::testpkt::unhex;
        let (hdr, _) = VnetHdr::read(
            &unhex("092100000c00480010000000000000000000000024003400"),
            Layout::V1HashTunnel,
            crate::hdr::Endian::Little,
        )
        .unwrap();
        let pkt = unhex(
            "49d900615a0e00008411dd28c0000201c6336402019e0776249ce0940000000000000000113c12b5003d\
             ec850800000000abcd00458d002dc2d50000a5061e2e0a010004c633640212c5bcb4313ffca0ee89966b\
             5011d863345a0000030a11181f",
        );
        let sent = unhex(
            "49d900615a0e00008411dd28c0000201c6336402019e0776249ce0940000000000000000113c12b5003d\
             ec850800000000abcd00458d002dc2d50000a5061e2e0a010004c633640212c5bcb4313ffca0ee89966b\
             5011d863edbe0000030a11181f",
        );
        let opts = CheckOptions {
            layout: Layout::V1HashTunnel,
            tunnel: true,
            tunnel_csum: true,
            ..CheckOptions::default()
        };
        let Ok(Offload::Checksum(req)) = check(&hdr, &pkt, &opts) else {
            panic!("{:?}", check(&hdr, &pkt, &opts));
        };
        assert_eq!(
            req,
            CsumRequest {
                start: 72,
                offset: 16
            }
        );
        let mut out = pkt.clone();
        crate::gso::complete_checksum(&mut out, req).unwrap();
        assert_eq!(out, sent);
    }

    /// K17: `csum_start` inside the IP header is refused only where the kernel bounds it.
    #[test]
    fn test_k17_csum_start_inside_the_ip_header() {
        let pkt = Pkt::udp4(64).build();
        let hdr = VnetHdr {
            flags: Flags::NEEDS_CSUM,
            csum_start: 10,
            csum_offset: 6,
            ..VnetHdr::default()
        };
        assert_eq!(under(LINUX_6_18, &hdr, &pkt).unwrap_err().rule(), "V3");
        assert_eq!(
            under(LINUX_6_1, &hdr, &pkt),
            Ok(Offload::Checksum(CsumRequest {
                start: 10,
                offset: 6
            }))
        );
    }
}
