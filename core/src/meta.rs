//! Per-packet offload metadata, as a VMM's network backend carries it, and its translation to and
//! from the virtio-net header (rules M1-M10; ARCHITECTURE.md, 'Metadata translation').
//!
//! [`TxMetadata`] says what a sender asks of the device in protocol terms (TCP checksum, TCP
//! segmentation, header lengths); [`VnetHdr`] says the same in the header's generic terms
//! (`csum_start`/`csum_offset`, `gso_type`, `hdr_len`). The semantics follow OpenVMM's net_backend
//! (its TAP endpoint and its virtio device), with one difference throughout: metadata or a header
//! that is inconsistent is a typed [`MetaError`], never a silently dropped request or a wrong
//! header.
//!
//! - [`to_header`]: metadata -> header, for writing to a TUN/TAP device (M1-M5).
//! - [`from_header`]: a guest's header + its frame -> metadata, the virtio device's direction
//!   (M6, M7).
//! - [`rx_metadata`]: a received header -> [`RxMetadata`] (M8).
//! - [`fixup_ipv4_header_checksum`], [`fixup_ipv6_payload_length`]: the software fix-ups for what
//!   the header cannot carry (M9, M10).
//!
//! Law L3 (`spec/src/laws/meta.rs`) states the round trips and names exactly what the header
//! cannot carry.

use core::fmt;

use crate::csum;
use crate::hdr::{Flags, GsoType, VnetHdr};
use crate::wire::{
    self, IPV4_MIN_HEADER_LEN, IPV6_HEADER_LEN, IpProtocol, IpVersion, Ipv4Packet, Ipv6Packet,
    Link, TCP_MIN_HEADER_LEN, TcpPacket, UDP_HEADER_LEN,
};

/// Where the TCP checksum field sits in the TCP header.
pub const TCP_CSUM_OFFSET: u16 = 16;
/// Where the UDP checksum field sits in the UDP header.
pub const UDP_CSUM_OFFSET: u16 = 6;
/// The most bytes an IPv4 header (IHL 15) or a TCP header (data offset 15) can have.
const MAX_HEADER_LEN: u16 = 60;

/// The offload requests and the IP version of a packet to send: a transparent bitflag byte. The
/// bit positions are those of OpenVMM's `TxFlags`; bit 7 is reserved and carried unchanged.
#[repr(transparent)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TxFlags(pub u8);

impl TxFlags {
    /// No flags.
    pub const EMPTY: TxFlags = TxFlags(0);
    /// Compute the IPv4 header checksum. The header has no field for it: see M9.
    pub const OFFLOAD_IP_HEADER_CHECKSUM: TxFlags = TxFlags(1 << 0);
    /// Complete the TCP checksum (`l2_len` and `l3_len` say where the TCP header is).
    pub const OFFLOAD_TCP_CHECKSUM: TxFlags = TxFlags(1 << 1);
    /// Complete the UDP checksum (`l2_len` and `l3_len` say where the UDP header is).
    pub const OFFLOAD_UDP_CHECKSUM: TxFlags = TxFlags(1 << 2);
    /// TCP segmentation (TSO): every length and `max_segment_size` are set.
    pub const OFFLOAD_TCP_SEGMENTATION: TxFlags = TxFlags(1 << 3);
    /// The packet is IPv4 (exclusive with [`TxFlags::IS_IPV6`]).
    pub const IS_IPV4: TxFlags = TxFlags(1 << 4);
    /// The packet is IPv6 (exclusive with [`TxFlags::IS_IPV4`]).
    pub const IS_IPV6: TxFlags = TxFlags(1 << 5);
    /// UDP segmentation (USO): `l2_len`, `l3_len` and `max_segment_size` are set.
    pub const OFFLOAD_UDP_SEGMENTATION: TxFlags = TxFlags(1 << 6);

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: TxFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set in `self`.
    pub const fn intersects(self, other: TxFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// `self` with the bits of `other` added.
    pub const fn with(self, other: TxFlags) -> TxFlags {
        TxFlags(self.0 | other.0)
    }

    /// `self` with the bits of `other` removed.
    pub const fn without(self, other: TxFlags) -> TxFlags {
        TxFlags(self.0 & !other.0)
    }
}

impl fmt::Debug for TxFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(TxFlags, &str); 7] = [
            (TxFlags::OFFLOAD_IP_HEADER_CHECKSUM, "IP_HEADER_CHECKSUM"),
            (TxFlags::OFFLOAD_TCP_CHECKSUM, "TCP_CHECKSUM"),
            (TxFlags::OFFLOAD_UDP_CHECKSUM, "UDP_CHECKSUM"),
            (TxFlags::OFFLOAD_TCP_SEGMENTATION, "TCP_SEGMENTATION"),
            (TxFlags::IS_IPV4, "IS_IPV4"),
            (TxFlags::IS_IPV6, "IS_IPV6"),
            (TxFlags::OFFLOAD_UDP_SEGMENTATION, "UDP_SEGMENTATION"),
        ];
        crate::bits::write_names(
            f,
            self.0.into(),
            &NAMES.map(|(flag, name)| (flag.0.into(), name)),
        )
    }
}

/// An 802.1Q tag for the backend to insert: the tag control information (PCP 3 bits, DEI 1 bit,
/// VID 12 bits). The virtio-net header has no place for it (L3 names it as not carried).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct VlanMetadata(pub u16);

impl VlanMetadata {
    /// A tag from its parts; `priority` is masked to 3 bits and `vlan_id` to 12.
    pub const fn new(priority: u8, drop_eligible: bool, vlan_id: u16) -> VlanMetadata {
        VlanMetadata(
            ((priority as u16 & 0x7) << 13) | ((drop_eligible as u16) << 12) | (vlan_id & 0x0fff),
        )
    }

    /// The priority code point (0..=7).
    pub const fn priority(self) -> u8 {
        (self.0 >> 13) as u8
    }

    /// The drop-eligible indicator.
    pub const fn drop_eligible(self) -> bool {
        self.0 & 0x1000 != 0
    }

    /// The VLAN identifier (0..=4095).
    pub const fn vlan_id(self) -> u16 {
        self.0 & 0x0fff
    }
}

/// What a sender asks of the device for one packet. Lengths matter only when a flag needs them:
/// `l2_len`/`l3_len` for any L4 offload, `l4_len` for TCP segmentation, `max_segment_size` for
/// either segmentation. `Default` asks for nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TxMetadata {
    /// Offload requests and IP version.
    pub flags: TxFlags,
    /// Link header length: 0 (TUN), 14 (Ethernet) or 18 (Ethernet + 802.1Q).
    pub l2_len: u8,
    /// IP header length, options or extension headers included.
    pub l3_len: u16,
    /// TCP header length, options included (TCP segmentation only).
    pub l4_len: u8,
    /// Payload bytes per segment (the MSS), for TCP or UDP segmentation.
    pub max_segment_size: u16,
    /// A tag for the backend to insert (not part of the frame, not carried by the header).
    pub vlan: Option<VlanMetadata>,
}

/// What an endpoint can do for a sender: each offload it advertises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TxOffloadSupport {
    /// IPv4 header checksum (on TUN/TAP: computed in software, M9).
    pub ipv4_header: bool,
    /// TCP checksum.
    pub tcp: bool,
    /// UDP checksum.
    pub udp: bool,
    /// TCP segmentation.
    pub tso: bool,
    /// UDP segmentation.
    pub uso: bool,
}

/// What a receiver learns about a checksum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum RxChecksumState {
    /// Not evaluated.
    #[default]
    Unknown,
    /// Checked and correct.
    Good,
    /// Checked and wrong.
    Bad,
    /// The payload was validated but the stored value is wrong (coalesced packets whose first
    /// header was not rewritten).
    ValidatedButWrong,
}

impl RxChecksumState {
    /// Whether the data may be trusted: [`Good`](Self::Good) or
    /// [`ValidatedButWrong`](Self::ValidatedButWrong).
    pub const fn is_valid(self) -> bool {
        matches!(
            self,
            RxChecksumState::Good | RxChecksumState::ValidatedButWrong
        )
    }
}

/// Which transport protocol an [`RxMetadata::l4_checksum`] refers to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum L4Protocol {
    /// Not known.
    #[default]
    Unknown,
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// What a receiver learns about a received packet. `Default` knows nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct RxMetadata {
    /// The IPv4 header checksum.
    pub ip_checksum: RxChecksumState,
    /// The TCP or UDP checksum.
    pub l4_checksum: RxChecksumState,
    /// Which transport protocol `l4_checksum` refers to.
    pub l4_protocol: L4Protocol,
}

/// A field named by a [`MetaError`]: of [`TxMetadata`], of [`VnetHdr`], or of the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetaField {
    /// [`TxMetadata::l3_len`].
    L3Len,
    /// [`TxMetadata::l4_len`].
    L4Len,
    /// [`TxMetadata::max_segment_size`].
    MaxSegmentSize,
    /// [`VnetHdr::flags`].
    HdrFlags,
    /// [`VnetHdr::gso_type`].
    GsoType,
    /// [`VnetHdr::hdr_len`].
    HdrLen,
    /// [`VnetHdr::gso_size`].
    GsoSize,
    /// [`VnetHdr::csum_start`].
    CsumStart,
    /// [`VnetHdr::csum_offset`].
    CsumOffset,
    /// The IPv4 header's IHL.
    Ihl,
}

/// What a field was required to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bound {
    /// Not zero.
    NonZero,
    /// Exactly this value.
    Equal(u32),
    /// At least this value.
    AtLeast(u32),
    /// At most this value.
    AtMost(u32),
    /// A multiple of this value.
    MultipleOf(u32),
    /// One of these values.
    OneOf(&'static [u32]),
    /// A flag required here.
    Present,
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::NonZero => f.write_str("non-zero"),
            Bound::Equal(v) => write!(f, "== {v}"),
            Bound::AtLeast(v) => write!(f, ">= {v}"),
            Bound::AtMost(v) => write!(f, "<= {v}"),
            Bound::MultipleOf(v) => write!(f, "a multiple of {v}"),
            Bound::OneOf(vs) => write!(f, "one of {vs:?}"),
            Bound::Present => f.write_str("present"),
        }
    }
}

/// Why metadata, a header or a frame could not be translated or fixed up. Each error names its
/// rule (M1-M10, `spec/RULES.md`), the field and the bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaError {
    /// M1: both [`TxFlags::IS_IPV4`] and [`TxFlags::IS_IPV6`] are set.
    BothIpVersions,
    /// M1: an L4 offload is asked for without [`TxFlags::IS_IPV4`] or [`TxFlags::IS_IPV6`].
    NoIpVersion,
    /// A field is out of its bound.
    Field {
        /// The rule broken.
        rule: &'static str,
        /// The field.
        field: MetaField,
        /// Its value.
        value: u32,
        /// What was required of it.
        bound: Bound,
    },
    /// M1: `l2_len + l3_len (+ l4_len)` does not fit the 16-bit header field.
    Overflow {
        /// `CsumStart` or `HdrLen`.
        field: MetaField,
        /// The sum that does not fit.
        sum: u32,
    },
    /// M7: the frame's link or IP headers do not parse.
    Frame(wire::Error),
    /// M7: the GSO type has no metadata equivalent (UFO, tunnel bits, unknown types).
    UnsupportedGsoType(u8),
    /// M7: the GSO type names another IP version than the frame has.
    IpVersionMismatch {
        /// The version the GSO type names.
        header: IpVersion,
        /// The frame's.
        frame: IpVersion,
    },
    /// M7: the frame's transport protocol is not the one `csum_offset` (or the GSO type) implies.
    ProtocolMismatch {
        /// TCP or UDP.
        expected: IpProtocol,
        /// The frame's.
        found: IpProtocol,
    },
    /// M7: an offload is asked for on an IP fragment.
    Fragment,
    /// M7, M9, M10: the frame is shorter than what must be read or written.
    Truncated {
        /// Bytes required, from the start of the frame.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// M9, M10: the IP version nibble is not the one the fix-up is for.
    WrongIpVersion {
        /// 4 or 6.
        expected: u8,
        /// The nibble found.
        found: u8,
    },
}

impl MetaError {
    /// The rule id this error enforces.
    pub const fn rule(&self) -> &'static str {
        match self {
            MetaError::BothIpVersions | MetaError::NoIpVersion | MetaError::Overflow { .. } => "M1",
            MetaError::Field { rule, .. } => rule,
            MetaError::Frame(_)
            | MetaError::UnsupportedGsoType(_)
            | MetaError::IpVersionMismatch { .. }
            | MetaError::ProtocolMismatch { .. }
            | MetaError::Fragment
            | MetaError::Truncated { .. } => "M7",
            MetaError::WrongIpVersion { expected: 6, .. } => "M10",
            MetaError::WrongIpVersion { .. } => "M9",
        }
    }
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaError::BothIpVersions => f.write_str("M1: flags: IS_IPV4 and IS_IPV6 are both set"),
            MetaError::NoIpVersion => {
                f.write_str("M1: flags: an L4 offload needs IS_IPV4 or IS_IPV6")
            }
            MetaError::Field {
                rule,
                field,
                value,
                bound,
            } => write!(f, "{rule}: {field:?} is {value}, must be {bound}"),
            MetaError::Overflow { field, sum } => {
                write!(f, "M1: {field:?} would be {sum}, must be <= 65535")
            }
            MetaError::Frame(e) => write!(f, "M7: frame: {e}"),
            MetaError::UnsupportedGsoType(t) => write!(
                f,
                "M7: GsoType {t:#04x} has no metadata equivalent, must be NONE, TCPV4, TCPV6 or UDP_L4"
            ),
            MetaError::IpVersionMismatch { header, frame } => {
                write!(f, "M7: GsoType names {header:?} but the frame is {frame:?}")
            }
            MetaError::ProtocolMismatch { expected, found } => write!(
                f,
                "M7: the header asks for protocol {} but the frame carries {}",
                expected.0, found.0
            ),
            MetaError::Fragment => f.write_str("M7: an offload cannot apply to an IP fragment"),
            MetaError::Truncated { need, have } => {
                write!(f, "{}: frame needs {need} bytes, has {have}", self.rule())
            }
            MetaError::WrongIpVersion { expected, found } => write!(
                f,
                "{}: IP version is {found}, must be {expected}",
                self.rule()
            ),
        }
    }
}

impl core::error::Error for MetaError {}

fn field_error(rule: &'static str, field: MetaField, value: u32, bound: Bound) -> MetaError {
    MetaError::Field {
        rule,
        field,
        value,
        bound,
    }
}

/// The one rule of M2-M5 that a [`TxMetadata`] selects (the first that matches wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxRule {
    /// M2: TCP segmentation.
    Tso,
    /// M3: UDP segmentation.
    Uso,
    /// M4: TCP checksum only.
    TcpChecksum,
    /// M4: UDP checksum only.
    UdpChecksum,
    /// M5: nothing the header can carry.
    None,
}

impl TxRule {
    /// The rule `meta` selects: the first of TSO, USO, TCP checksum, UDP checksum whose flag is
    /// set, else [`TxRule::None`].
    pub const fn of(meta: &TxMetadata) -> TxRule {
        let f = meta.flags;
        if f.contains(TxFlags::OFFLOAD_TCP_SEGMENTATION) {
            TxRule::Tso
        } else if f.contains(TxFlags::OFFLOAD_UDP_SEGMENTATION) {
            TxRule::Uso
        } else if f.contains(TxFlags::OFFLOAD_TCP_CHECKSUM) {
            TxRule::TcpChecksum
        } else if f.contains(TxFlags::OFFLOAD_UDP_CHECKSUM) {
            TxRule::UdpChecksum
        } else {
            TxRule::None
        }
    }
}

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
    Err(field_error("M1", MetaField::L3Len, l3, bound))
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
/// M1, checked first: the flags name at most one IP version; an L4 offload names one and has an
/// `l3_len` within the version's bounds; segmentation has a non-zero MSS; TCP segmentation has an
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
    let l3 = u32::from(meta.l3_len);
    check_l3_len(version, l3)?;
    let segmenting = matches!(rule, TxRule::Tso | TxRule::Uso);
    if segmenting && meta.max_segment_size == 0 {
        return Err(field_error(
            "M1",
            MetaField::MaxSegmentSize,
            0,
            Bound::NonZero,
        ));
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
                return Err(field_error("M1", MetaField::L4Len, l4.into(), bound));
            }
            l4
        }
        TxRule::Uso => UDP_HEADER_LEN as u16,
        _ => 0,
    };
    let start = u32::from(meta.l2_len) + l3;
    let csum_start = u16::try_from(start).map_err(|_| MetaError::Overflow {
        field: MetaField::CsumStart,
        sum: start,
    })?;
    let csum_offset = match rule {
        TxRule::Tso | TxRule::TcpChecksum => TCP_CSUM_OFFSET,
        _ => UDP_CSUM_OFFSET,
    };
    let (gso_type, hdr_len) = if segmenting {
        let end = start + u32::from(l4);
        let hdr_len = u16::try_from(end).map_err(|_| MetaError::Overflow {
            field: MetaField::HdrLen,
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
                MetaField::HdrFlags,
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
        return Err(field_error("M7", MetaField::GsoSize, 0, Bound::NonZero));
    }
    if usize::from(hdr.hdr_len) > frame.len() {
        return Err(field_error(
            "M7",
            MetaField::HdrLen,
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
                MetaField::CsumOffset,
                offset.into(),
                Bound::Equal(TCP_CSUM_OFFSET.into()),
            ));
        }
        (offset, Some(_)) => {
            return Err(field_error(
                "M7",
                MetaField::CsumOffset,
                offset.into(),
                Bound::Equal(UDP_CSUM_OFFSET.into()),
            ));
        }
        (offset, None) => {
            return Err(field_error(
                "M7",
                MetaField::CsumOffset,
                offset.into(),
                Bound::OneOf(&[UDP_CSUM_OFFSET as u32, TCP_CSUM_OFFSET as u32]),
            ));
        }
    };

    let headers = wire::parse_headers(frame, link).map_err(MetaError::Frame)?;
    if let Some(expected) = expected
        && expected != headers.ip
    {
        return Err(MetaError::IpVersionMismatch {
            header: expected,
            frame: headers.ip,
        });
    }
    if headers.fragment {
        return Err(MetaError::Fragment);
    }
    if usize::from(hdr.csum_start) != headers.l4_offset {
        return Err(field_error(
            "M7",
            MetaField::CsumStart,
            hdr.csum_start.into(),
            Bound::Equal(headers.l4_offset as u32),
        ));
    }
    if headers.protocol != protocol {
        return Err(MetaError::ProtocolMismatch {
            expected: protocol,
            found: headers.protocol,
        });
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
            .map_err(MetaError::Frame)?
            .header_len()
    } else if transport.len() < UDP_HEADER_LEN {
        return Err(MetaError::Truncated {
            need: headers.l4_offset + UDP_HEADER_LEN,
            have: frame.len(),
        });
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
    }
}

/// Fills in the IPv4 header of `frame` (which starts `l2_len` bytes in) for a device that will not
/// (M9): the total length becomes `frame.len() - l2_len` (0 if that does not fit in 16 bits, as a
/// segmentation request's super-packet may not), then the header checksum is zeroed and
/// recomputed over the IHL-long header (20..=60 bytes, options included). Run it whenever
/// [`TxFlags::OFFLOAD_IP_HEADER_CHECKSUM`] is set on an IPv4 packet, segmented ones included.
/// Returns the checksum written.
pub fn fixup_ipv4_header_checksum(frame: &mut [u8], l2_len: usize) -> Result<u16, MetaError> {
    let have = frame.len();
    let ip = match frame.get_mut(l2_len..) {
        Some(ip) if ip.len() >= IPV4_MIN_HEADER_LEN => ip,
        _ => {
            return Err(MetaError::Truncated {
                need: l2_len.saturating_add(IPV4_MIN_HEADER_LEN),
                have,
            });
        }
    };
    let total = ip.len();
    let mut packet = Ipv4Packet::new_unchecked(ip);
    if packet.version() != 4 {
        return Err(MetaError::WrongIpVersion {
            expected: 4,
            found: packet.version(),
        });
    }
    if packet.ihl() < 5 {
        return Err(field_error(
            "M9",
            MetaField::Ihl,
            packet.ihl().into(),
            Bound::AtLeast(5),
        ));
    }
    if packet.header_len() > total {
        return Err(MetaError::Truncated {
            need: l2_len + packet.header_len(),
            have,
        });
    }
    packet.set_total_len(u16::try_from(total).unwrap_or(0));
    packet.set_checksum(0);
    let check = csum::finish(csum::sum(packet.header()));
    packet.set_checksum(check);
    Ok(check)
}

/// Fills in the IPv6 payload length of `frame` (which starts `l2_len` bytes in) as
/// `frame.len() - l2_len - 40`, or 0 if that does not fit in 16 bits (M10). Run it for segmented
/// IPv6 packets whose sender left the field 0. Returns the length written.
pub fn fixup_ipv6_payload_length(frame: &mut [u8], l2_len: usize) -> Result<u16, MetaError> {
    let have = frame.len();
    let ip = match frame.get_mut(l2_len..) {
        Some(ip) if ip.len() >= IPV6_HEADER_LEN => ip,
        _ => {
            return Err(MetaError::Truncated {
                need: l2_len.saturating_add(IPV6_HEADER_LEN),
                have,
            });
        }
    };
    let payload = u16::try_from(ip.len() - IPV6_HEADER_LEN).unwrap_or(0);
    let mut packet = Ipv6Packet::new_unchecked(ip);
    if packet.version() != 6 {
        return Err(MetaError::WrongIpVersion {
            expected: 6,
            found: packet.version(),
        });
    }
    packet.set_payload_len(payload);
    Ok(payload)
}

// Tests index frames whose lengths they built; a panic there is a test failure.
#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::testpkt::Pkt;
    use std::string::ToString;
    use std::vec::Vec;

    const V4: TxFlags = TxFlags::IS_IPV4;
    const V6: TxFlags = TxFlags::IS_IPV6;
    const TCP: TxFlags = TxFlags::OFFLOAD_TCP_CHECKSUM;
    const UDP: TxFlags = TxFlags::OFFLOAD_UDP_CHECKSUM;
    const TSO: TxFlags = TxFlags::OFFLOAD_TCP_SEGMENTATION;
    const USO: TxFlags = TxFlags::OFFLOAD_UDP_SEGMENTATION;
    const IP: TxFlags = TxFlags::OFFLOAD_IP_HEADER_CHECKSUM;

    fn meta(flags: TxFlags, l2: u8, l3: u16, l4: u8, mss: u16) -> TxMetadata {
        TxMetadata {
            flags,
            l2_len: l2,
            l3_len: l3,
            l4_len: l4,
            max_segment_size: mss,
            vlan: None,
        }
    }

    fn hdr(
        flags: Flags,
        gso_type: GsoType,
        hdr_len: u16,
        gso_size: u16,
        start: u16,
        offset: u16,
    ) -> VnetHdr {
        VnetHdr {
            flags,
            gso_type,
            hdr_len,
            gso_size,
            csum_start: start,
            csum_offset: offset,
            ..VnetHdr::default()
        }
    }

    fn on_ethernet(pkt: Pkt) -> Vec<u8> {
        Pkt {
            ethernet: true,
            ..pkt
        }
        .build()
    }

    // ---- M2-M5: metadata -> header (OpenVMM's TAP endpoint cases) ----

    #[test]
    fn test_tcp_checksum_to_header() {
        let h = to_header(&meta(TCP.with(V4), 14, 20, 0, 0)).unwrap();
        assert_eq!(h, hdr(Flags::NEEDS_CSUM, GsoType::NONE, 0, 0, 34, 16));
        assert!(!h.flags.contains(Flags::DATA_VALID));
    }

    #[test]
    fn test_tso_to_header() {
        let h = to_header(&meta(TSO.with(TCP).with(V4), 14, 20, 32, 1460)).unwrap();
        assert_eq!(h, hdr(Flags::NEEDS_CSUM, GsoType::TCPV4, 66, 1460, 34, 16));
        let h6 = to_header(&meta(TSO.with(V6), 14, 40, 20, 1440)).unwrap();
        assert_eq!(h6, hdr(Flags::NEEDS_CSUM, GsoType::TCPV6, 74, 1440, 54, 16));
    }

    #[test]
    fn test_no_offload_to_header_is_all_zero() {
        assert_eq!(to_header(&TxMetadata::default()), Ok(VnetHdr::default()));
        // The IPv4 header checksum alone has no place in the header (M5, M9).
        let ip_only = meta(IP.with(V4), 14, 20, 0, 0);
        assert_eq!(to_header(&ip_only), Ok(VnetHdr::default()));
    }

    #[test]
    fn test_udp_checksum_to_header() {
        let h = to_header(&meta(UDP.with(V4), 14, 20, 0, 0)).unwrap();
        assert_eq!(h, hdr(Flags::NEEDS_CSUM, GsoType::NONE, 0, 0, 34, 6));
    }

    #[test]
    fn test_uso_to_header() {
        let h = to_header(&meta(USO.with(UDP).with(V4), 14, 20, 0, 1472)).unwrap();
        assert_eq!(h, hdr(Flags::NEEDS_CSUM, GsoType::UDP_L4, 42, 1472, 34, 6));
    }

    #[test]
    fn test_first_rule_wins() {
        let both = meta(TSO.with(USO).with(UDP).with(V4), 0, 20, 20, 100);
        assert_eq!(to_header(&both).unwrap().gso_type, GsoType::TCPV4);
        let csums = meta(TCP.with(UDP).with(V6), 0, 40, 0, 0);
        assert_eq!(to_header(&csums).unwrap().csum_offset, 16);
    }

    #[test]
    fn test_to_header_errors() {
        let cases = [
            (
                meta(TCP.with(V4).with(V6), 14, 20, 0, 0),
                MetaError::BothIpVersions,
            ),
            (meta(V4.with(V6), 0, 0, 0, 0), MetaError::BothIpVersions),
            (meta(TSO, 14, 20, 20, 1460), MetaError::NoIpVersion),
            (meta(TCP, 14, 20, 0, 0), MetaError::NoIpVersion),
            (
                meta(TSO.with(V4), 14, 0, 20, 1460),
                field_error("M1", MetaField::L3Len, 0, Bound::AtLeast(20)),
            ),
            (
                meta(UDP.with(V4), 14, 0, 0, 0),
                field_error("M1", MetaField::L3Len, 0, Bound::AtLeast(20)),
            ),
            (
                meta(TCP.with(V6), 14, 20, 0, 0),
                field_error("M1", MetaField::L3Len, 20, Bound::AtLeast(40)),
            ),
            (
                meta(TCP.with(V4), 14, 64, 0, 0),
                field_error("M1", MetaField::L3Len, 64, Bound::AtMost(60)),
            ),
            (
                meta(TCP.with(V4), 14, 22, 0, 0),
                field_error("M1", MetaField::L3Len, 22, Bound::MultipleOf(4)),
            ),
            (
                meta(TCP.with(V6), 14, 44, 0, 0),
                field_error("M1", MetaField::L3Len, 44, Bound::MultipleOf(8)),
            ),
            (
                meta(TSO.with(V4), 14, 20, 20, 0),
                field_error("M1", MetaField::MaxSegmentSize, 0, Bound::NonZero),
            ),
            (
                meta(USO.with(V6), 14, 40, 0, 0),
                field_error("M1", MetaField::MaxSegmentSize, 0, Bound::NonZero),
            ),
            (
                meta(TSO.with(V4), 14, 20, 0, 1460),
                field_error("M1", MetaField::L4Len, 0, Bound::AtLeast(20)),
            ),
            (
                meta(TSO.with(V4), 14, 20, 64, 1460),
                field_error("M1", MetaField::L4Len, 64, Bound::AtMost(60)),
            ),
            (
                meta(TSO.with(V4), 14, 20, 22, 1460),
                field_error("M1", MetaField::L4Len, 22, Bound::MultipleOf(4)),
            ),
            (
                meta(TCP.with(V6), 18, 65528, 0, 0),
                MetaError::Overflow {
                    field: MetaField::CsumStart,
                    sum: 65546,
                },
            ),
            (
                meta(TSO.with(V6), 14, 65512, 20, 1000),
                MetaError::Overflow {
                    field: MetaField::HdrLen,
                    sum: 65546,
                },
            ),
            (
                meta(USO.with(V6), 14, 65520, 0, 1000),
                MetaError::Overflow {
                    field: MetaField::HdrLen,
                    sum: 65542,
                },
            ),
        ];
        for (m, e) in cases {
            assert_eq!(to_header(&m), Err(e), "{m:?}");
            assert_eq!(e.rule(), "M1");
        }
    }

    // ---- M6-M7: a guest's header + frame -> metadata (OpenVMM's virtio device cases) ----

    #[test]
    fn test_guest_no_offloads() {
        let frame = on_ethernet(Pkt::tcp4(10));
        assert_eq!(
            from_header(&VnetHdr::default(), &frame, Link::Tap),
            Ok(TxMetadata::default())
        );
        // Unknown and receive-only flags are ignored (V8).
        let odd = hdr(Flags(0xF2), GsoType::NONE, 0, 0, 0, 0);
        assert_eq!(
            from_header(&odd, &frame, Link::Tap),
            Ok(TxMetadata::default())
        );
    }

    #[test]
    fn test_guest_tcp_checksum() {
        let frame = on_ethernet(Pkt::tcp4(100));
        let h = hdr(Flags::NEEDS_CSUM, GsoType::NONE, 0, 0, 34, 16);
        let m = from_header(&h, &frame, Link::Tap).unwrap();
        assert_eq!(m, meta(TCP.with(V4), 14, 20, 0, 0));
        assert!(
            !m.flags.contains(IP),
            "virtio guests compute the IPv4 header checksum"
        );
    }

    #[test]
    fn test_guest_udp_checksum() {
        let frame = on_ethernet(Pkt::udp4(100));
        let h = hdr(Flags::NEEDS_CSUM, GsoType::NONE, 0, 0, 34, 6);
        assert_eq!(
            from_header(&h, &frame, Link::Tap),
            Ok(meta(UDP.with(V4), 14, 20, 0, 0))
        );
    }

    #[test]
    fn test_guest_ipv6_tcp_checksum() {
        let frame = on_ethernet(Pkt::tcp6(100));
        let h = hdr(Flags::NEEDS_CSUM, GsoType::NONE, 0, 0, 54, 16);
        assert_eq!(
            from_header(&h, &frame, Link::Tap),
            Ok(meta(TCP.with(V6), 14, 40, 0, 0))
        );
    }

    #[test]
    fn test_guest_tso4() {
        let frame = on_ethernet(Pkt {
            tcp_options: 12,
            ..Pkt::tcp4(3000)
        });
        let h = hdr(Flags::NEEDS_CSUM, GsoType::TCPV4, 66, 1460, 34, 16);
        let m = from_header(&h, &frame, Link::Tap).unwrap();
        assert_eq!(m, meta(TSO.with(TCP).with(V4).with(IP), 14, 20, 32, 1460));
        // hdr_len is a hint (V6): Linux guests send the linear length; l4 comes from the frame.
        let linear = VnetHdr { hdr_len: 200, ..h };
        assert_eq!(from_header(&linear, &frame, Link::Tap), Ok(m));
        // The ECN bit is ignored.
        let ecn = VnetHdr {
            gso_type: GsoType(GsoType::TCPV4.0 | GsoType::ECN.0),
            ..h
        };
        assert_eq!(from_header(&ecn, &frame, Link::Tap), Ok(m));
    }

    #[test]
    fn test_guest_tso6() {
        let frame = on_ethernet(Pkt::tcp6(3000));
        let h = hdr(Flags::NEEDS_CSUM, GsoType::TCPV6, 74, 1440, 54, 16);
        let m = from_header(&h, &frame, Link::Tap).unwrap();
        assert_eq!(m, meta(TSO.with(TCP).with(V6), 14, 40, 20, 1440));
        assert!(!m.flags.contains(IP));
    }

    #[test]
    fn test_guest_uso() {
        let frame = on_ethernet(Pkt::udp4(3000));
        let h = hdr(Flags::NEEDS_CSUM, GsoType::UDP_L4, 42, 1472, 34, 6);
        assert_eq!(
            from_header(&h, &frame, Link::Tap),
            Ok(meta(USO.with(UDP).with(V4).with(IP), 14, 20, 8, 1472))
        );
        let frame6 = on_ethernet(Pkt::udp6(3000));
        let h6 = hdr(Flags::NEEDS_CSUM, GsoType::UDP_L4, 62, 1452, 54, 6);
        assert_eq!(
            from_header(&h6, &frame6, Link::Tap),
            Ok(meta(USO.with(UDP).with(V6), 14, 40, 8, 1452))
        );
    }

    #[test]
    fn test_guest_vlan() {
        let tagged = |pkt| Pkt {
            ethernet: true,
            vlan: true,
            ..pkt
        };
        let frame = tagged(Pkt::tcp4(100)).build();
        let h = hdr(Flags::NEEDS_CSUM, GsoType::NONE, 0, 0, 38, 16);
        assert_eq!(
            from_header(&h, &frame, Link::Tap),
            Ok(meta(TCP.with(V4), 18, 20, 0, 0))
        );
        let frame6 = tagged(Pkt::udp6(100)).build();
        let h6 = hdr(Flags::NEEDS_CSUM, GsoType::NONE, 0, 0, 58, 6);
        assert_eq!(
            from_header(&h6, &frame6, Link::Tap),
            Ok(meta(UDP.with(V6), 18, 40, 0, 0))
        );
    }

    #[test]
    fn test_guest_tun_and_extension_headers() {
        let frame = Pkt {
            v6_ext: 16,
            ..Pkt::tcp6(100)
        }
        .build();
        let h = hdr(Flags::NEEDS_CSUM, GsoType::NONE, 0, 0, 56, 16);
        assert_eq!(
            from_header(&h, &frame, Link::Tun),
            Ok(meta(TCP.with(V6), 0, 56, 0, 0))
        );
    }

    #[test]
    fn test_from_header_errors() {
        let tcp4 = on_ethernet(Pkt::tcp4(100));
        let udp4 = on_ethernet(Pkt::udp4(100));
        let csum = |start, offset| hdr(Flags::NEEDS_CSUM, GsoType::NONE, 0, 0, start, offset);
        let tso = |gso, size, offset| hdr(Flags::NEEDS_CSUM, gso, 0, size, 34, offset);
        let mut arp = tcp4.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        let mut frag = Pkt {
            ethernet: true,
            ..Pkt::udp4(100)
        };
        frag.ip_id = 7;
        let mut frag = frag.build();
        frag[14 + 6] = 0x20; // MF
        // A UDP datagram whose IP header says the UDP header is cut short.
        let mut short_udp = udp4[..34 + 4].to_vec();
        short_udp[14 + 3] = 24;
        let cases: [(VnetHdr, &[u8], MetaError); 14] = [
            (
                hdr(Flags::EMPTY, GsoType::TCPV4, 0, 1460, 0, 0),
                &tcp4,
                field_error("M7", MetaField::HdrFlags, 0, Bound::Present),
            ),
            (
                tso(GsoType::UDP, 1000, 6),
                &udp4,
                MetaError::UnsupportedGsoType(3),
            ),
            (
                tso(GsoType(0x21), 1000, 16),
                &tcp4,
                MetaError::UnsupportedGsoType(0x21),
            ),
            (
                tso(GsoType::TCPV4, 0, 16),
                &tcp4,
                field_error("M7", MetaField::GsoSize, 0, Bound::NonZero),
            ),
            (
                VnetHdr {
                    hdr_len: 1000,
                    ..csum(34, 16)
                },
                &tcp4,
                field_error("M7", MetaField::HdrLen, 1000, Bound::AtMost(154)),
            ),
            (
                csum(34, 10),
                &tcp4,
                field_error("M7", MetaField::CsumOffset, 10, Bound::OneOf(&[6, 16])),
            ),
            (
                tso(GsoType::TCPV4, 1000, 6),
                &tcp4,
                field_error("M7", MetaField::CsumOffset, 6, Bound::Equal(16)),
            ),
            (
                tso(GsoType::UDP_L4, 1000, 16),
                &udp4,
                field_error("M7", MetaField::CsumOffset, 16, Bound::Equal(6)),
            ),
            (
                csum(34, 16),
                &arp,
                MetaError::Frame(wire::Error::UnsupportedEtherType(0x0806)),
            ),
            (
                tso(GsoType::TCPV6, 1000, 16),
                &tcp4,
                MetaError::IpVersionMismatch {
                    header: IpVersion::V6,
                    frame: IpVersion::V4,
                },
            ),
            (csum(34, 6), &frag, MetaError::Fragment),
            (
                csum(30, 16),
                &tcp4,
                field_error("M7", MetaField::CsumStart, 30, Bound::Equal(34)),
            ),
            (
                csum(34, 6),
                &tcp4,
                MetaError::ProtocolMismatch {
                    expected: IpProtocol::UDP,
                    found: IpProtocol::TCP,
                },
            ),
            (
                csum(34, 6),
                &short_udp,
                MetaError::Truncated { need: 42, have: 38 },
            ),
        ];
        for (h, frame, e) in cases {
            assert_eq!(from_header(&h, frame, Link::Tap), Err(e), "{h:?}");
            assert_eq!(e.rule(), "M7");
        }
        // A TCP header cut short: its data offset says 60 bytes, the datagram holds 30 after IP.
        let mut short_tcp = on_ethernet(Pkt::tcp4(10));
        short_tcp[34 + 12] = 0xF0;
        assert_eq!(
            from_header(&csum(34, 16), &short_tcp, Link::Tap),
            Err(MetaError::Frame(wire::Error::Truncated {
                layer: wire::Layer::Tcp,
                need: 60,
                have: 30
            }))
        );
        // Ethernet padding after the datagram does not count as TCP header.
        short_tcp.extend_from_slice(&[0; 40]);
        assert!(from_header(&csum(34, 16), &short_tcp, Link::Tap).is_err());
        // A frame cut inside the datagram.
        assert_eq!(
            from_header(&csum(34, 16), &tcp4[..40], Link::Tap),
            Err(MetaError::Frame(wire::Error::Truncated {
                layer: wire::Layer::Ipv4,
                need: 140,
                have: 26
            }))
        );
    }

    // ---- M8: header -> receive metadata (OpenVMM's TAP endpoint cases) ----

    #[test]
    fn test_rx_metadata() {
        use L4Protocol as P;
        use RxChecksumState::{Good, Unknown};
        let rx = |flags, gso| rx_metadata(&hdr(flags, gso, 0, 0, 0, 0));
        let m = |ip, l4, p| RxMetadata {
            ip_checksum: ip,
            l4_checksum: l4,
            l4_protocol: p,
        };
        assert_eq!(rx(Flags::DATA_VALID, GsoType::TCPV4), m(Good, Good, P::Tcp));
        assert_eq!(
            rx(Flags::NEEDS_CSUM, GsoType::TCPV6),
            m(Unknown, Unknown, P::Tcp)
        );
        assert_eq!(rx(Flags::EMPTY, GsoType::NONE), RxMetadata::default());
        assert_eq!(
            rx(Flags::EMPTY, GsoType::NONE),
            m(Unknown, Unknown, P::Unknown)
        );
        assert_eq!(rx(Flags::DATA_VALID, GsoType::UDP), m(Good, Good, P::Udp));
        assert_eq!(rx(Flags::EMPTY, GsoType::UDP_L4).l4_protocol, P::Udp);
        assert_eq!(rx(Flags::EMPTY, GsoType(0x81)).l4_protocol, P::Tcp);
        assert_eq!(rx(Flags::EMPTY, GsoType(2)).l4_protocol, P::Unknown);
    }

    #[test]
    fn test_checksum_state_is_valid() {
        use RxChecksumState::*;
        assert!(Good.is_valid() && ValidatedButWrong.is_valid());
        assert!(!Unknown.is_valid() && !Bad.is_valid());
    }

    // ---- M9-M10: software fix-ups ----

    /// A 34-byte Ethernet + IPv4 frame: TTL 64, TCP, 10.0.0.1 -> 10.0.0.2, checksum and total
    /// length 0 (as an NDIS LSO sender leaves them).
    fn bare_ipv4_frame() -> [u8; 34] {
        let mut f = [0u8; 34];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[14 + 8] = 64;
        f[14 + 9] = 6;
        f[14 + 12..14 + 16].copy_from_slice(&[10, 0, 0, 1]);
        f[14 + 16..14 + 20].copy_from_slice(&[10, 0, 0, 2]);
        f
    }

    #[test]
    fn test_ipv4_fixup() {
        let mut f = bare_ipv4_frame();
        let check = fixup_ipv4_header_checksum(&mut f, 14).unwrap();
        assert_ne!(check, 0);
        assert_eq!(csum::sum(&f[14..34]), 0xFFFF);
        assert_eq!(u16::from_be_bytes([f[14 + 10], f[14 + 11]]), check);
        assert_eq!(u16::from_be_bytes([f[16], f[17]]), 20);
    }

    #[test]
    fn test_ipv4_fixup_options_and_lso_length() {
        let mut f = on_ethernet(Pkt {
            ip_options: 8,
            ..Pkt::tcp4(3000)
        });
        f[14 + 2..14 + 4].copy_from_slice(&[0, 0]);
        f[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
        fixup_ipv4_header_checksum(&mut f, 14).unwrap();
        assert_eq!(
            usize::from(u16::from_be_bytes([f[16], f[17]])),
            f.len() - 14
        );
        assert!(
            csum::verify(&f[14..14 + 28]),
            "the checksum covers the options"
        );
        assert!(!csum::verify(&f[14..14 + 20]));
    }

    #[test]
    fn test_ipv4_fixup_oversize_total_length_is_zero() {
        let mut f = std::vec![0u8; 14 + 70_000];
        f[..34].copy_from_slice(&bare_ipv4_frame());
        f[16..18].copy_from_slice(&[0xAB, 0xCD]);
        fixup_ipv4_header_checksum(&mut f, 14).unwrap();
        assert_eq!(f[16..18], [0, 0]);
        assert!(csum::verify(&f[14..34]));
    }

    #[test]
    fn test_ipv6_fixup() {
        let mut f = on_ethernet(Pkt::tcp6(3000));
        let want = f.len() - 14 - 40;
        f[14 + 4..14 + 6].copy_from_slice(&[0, 0]);
        assert_eq!(fixup_ipv6_payload_length(&mut f, 14), Ok(want as u16));
        assert_eq!(usize::from(u16::from_be_bytes([f[18], f[19]])), want);
        let mut big = std::vec![0u8; 40 + 70_000];
        big[0] = 0x60;
        big[4] = 0xFF;
        assert_eq!(fixup_ipv6_payload_length(&mut big, 0), Ok(0));
        assert_eq!(big[4..6], [0, 0]);
    }

    #[test]
    fn test_fixup_errors() {
        let mut f = bare_ipv4_frame();
        assert_eq!(
            fixup_ipv4_header_checksum(&mut f[..33], 14),
            Err(MetaError::Truncated { need: 34, have: 33 })
        );
        assert_eq!(
            fixup_ipv4_header_checksum(&mut f, usize::MAX),
            Err(MetaError::Truncated {
                need: usize::MAX,
                have: 34
            })
        );
        f[14] = 0x44;
        assert_eq!(
            fixup_ipv4_header_checksum(&mut f, 14),
            Err(field_error("M9", MetaField::Ihl, 4, Bound::AtLeast(5)))
        );
        f[14] = 0x46;
        assert_eq!(
            fixup_ipv4_header_checksum(&mut f, 14),
            Err(MetaError::Truncated { need: 38, have: 34 })
        );
        f[14] = 0x65;
        let e = fixup_ipv4_header_checksum(&mut f, 14).unwrap_err();
        assert_eq!(
            e,
            MetaError::WrongIpVersion {
                expected: 4,
                found: 6
            }
        );
        assert_eq!(e.rule(), "M9");

        let mut g = [0u8; 54];
        g[14] = 0x45;
        let e = fixup_ipv6_payload_length(&mut g, 14).unwrap_err();
        assert_eq!(
            e,
            MetaError::WrongIpVersion {
                expected: 6,
                found: 4
            }
        );
        assert_eq!(e.rule(), "M10");
        assert_eq!(
            fixup_ipv6_payload_length(&mut g[..53], 14),
            Err(MetaError::Truncated { need: 54, have: 53 })
        );
        assert_eq!(g[14 + 4..14 + 6], [0, 0], "nothing written on error");
    }

    // ---- types ----

    #[test]
    fn test_error_messages_name_field_and_bound() {
        let cases = [
            (
                field_error("M1", MetaField::L4Len, 22, Bound::MultipleOf(4)),
                "M1: L4Len is 22, must be a multiple of 4",
            ),
            (
                field_error("M7", MetaField::CsumOffset, 10, Bound::OneOf(&[6, 16])),
                "M7: CsumOffset is 10, must be one of [6, 16]",
            ),
            (
                MetaError::Overflow {
                    field: MetaField::HdrLen,
                    sum: 65546,
                },
                "M1: HdrLen would be 65546, must be <= 65535",
            ),
            (
                MetaError::Truncated { need: 34, have: 33 },
                "M7: frame needs 34 bytes, has 33",
            ),
            (
                MetaError::WrongIpVersion {
                    expected: 6,
                    found: 4,
                },
                "M10: IP version is 4, must be 6",
            ),
            (
                MetaError::ProtocolMismatch {
                    expected: IpProtocol::UDP,
                    found: IpProtocol::TCP,
                },
                "M7: the header asks for protocol 17 but the frame carries 6",
            ),
        ];
        for (e, msg) in cases {
            assert_eq!(e.to_string(), msg);
        }
        for e in [
            MetaError::BothIpVersions,
            MetaError::NoIpVersion,
            MetaError::Frame(wire::Error::BadIhl(3)),
            MetaError::UnsupportedGsoType(3),
            MetaError::IpVersionMismatch {
                header: IpVersion::V4,
                frame: IpVersion::V6,
            },
            MetaError::Fragment,
        ] {
            let _: &dyn core::error::Error = &e;
            assert!(e.to_string().starts_with(e.rule()), "{e}");
        }
        for b in [
            Bound::NonZero,
            Bound::Equal(6),
            Bound::AtLeast(1),
            Bound::AtMost(2),
            Bound::Present,
        ] {
            assert!(!b.to_string().is_empty());
        }
    }

    #[test]
    fn test_flags_and_vlan() {
        assert_eq!(
            std::format!("{:?}", TSO.with(V4).with(TxFlags(0x80))),
            "TCP_SEGMENTATION|IS_IPV4|0x80"
        );
        assert_eq!(std::format!("{:?}", TxFlags::EMPTY), "0x00");
        assert!(TSO.with(V4).intersects(V4) && !TSO.intersects(V4));
        assert_eq!(TSO.with(V4).without(TSO), V4);
        let tag = VlanMetadata::new(5, true, 100);
        assert_eq!(tag, VlanMetadata(0xB064));
        assert_eq!(
            (tag.priority(), tag.drop_eligible(), tag.vlan_id()),
            (5, true, 100)
        );
        assert_eq!(TxRule::of(&TxMetadata::default()), TxRule::None);
    }
}
