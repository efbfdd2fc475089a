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
//!
//! ```
//! use vnet_core::hdr::{Flags, GsoType};
//! use vnet_core::meta::{self, TxFlags, TxMetadata};
//! // TCP segmentation of an IPv4 packet with 20-byte IP and TCP headers, MSS 1448.
//! let flags = TxFlags::IS_IPV4.0 | TxFlags::OFFLOAD_TCP_CHECKSUM.0 | TxFlags::OFFLOAD_TCP_SEGMENTATION.0;
//! let tx = TxMetadata {
//!     flags: TxFlags(flags),
//!     l3_len: 20,
//!     l4_len: 20,
//!     max_segment_size: 1448,
//!     ..TxMetadata::default()
//! };
//! let hdr = meta::to_header(&tx)?;
//! assert_eq!((hdr.flags, hdr.gso_type), (Flags::NEEDS_CSUM, GsoType::TCPV4));
//! assert_eq!((hdr.csum_start, hdr.csum_offset, hdr.hdr_len, hdr.gso_size), (20, 16, 40, 1448));
//! # Ok::<(), vnet_core::meta::MetaError>(())
//! ```

use core::fmt;

use crate::csum;
pub use crate::error::{Bound, Field, Problem};
use crate::hdr::{Flags, GsoType, VnetHdr};
use crate::wire::{
    self, IPV4_MIN_HEADER_LEN, IPV6_HEADER_LEN, IpProtocol, IpVersion, Ipv4Packet, Ipv6Packet,
    Link, TCP_MIN_HEADER_LEN, TcpPacket, UDP_HEADER_LEN,
};

mod fixup;
#[cfg(test)]
mod tests;
mod translate;

pub use fixup::{fixup_ipv4_header_checksum, fixup_ipv6_payload_length};
pub use translate::{from_header, rx_metadata, to_header};

/// Where the TCP checksum field sits in the TCP header (`wire`'s offset, as `csum_offset` says it).
pub const TCP_CSUM_OFFSET: u16 = wire::field::tcp::CHECKSUM as u16;
/// Where the UDP checksum field sits in the UDP header (`wire`'s offset, as `csum_offset` says it).
pub const UDP_CSUM_OFFSET: u16 = wire::field::udp::CHECKSUM as u16;
/// The most bytes an IPv4 header (IHL 15) or a TCP header (data offset 15) can have.
const MAX_HEADER_LEN: u16 = wire::MAX_HEADER_LEN as u16;

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
}

set_ops!(TxFlags);
debug_names!(TxFlags:
    OFFLOAD_IP_HEADER_CHECKSUM => "IP_HEADER_CHECKSUM",
    OFFLOAD_TCP_CHECKSUM => "TCP_CHECKSUM",
    OFFLOAD_UDP_CHECKSUM => "UDP_CHECKSUM",
    OFFLOAD_TCP_SEGMENTATION => "TCP_SEGMENTATION",
    IS_IPV4 => "IS_IPV4",
    IS_IPV6 => "IS_IPV6",
    OFFLOAD_UDP_SEGMENTATION => "UDP_SEGMENTATION",
);

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

impl TxOffloadSupport {
    /// No offload: the sender completes every checksum and segments everything itself.
    pub const NONE: TxOffloadSupport = TxOffloadSupport {
        ipv4_header: false,
        tcp: false,
        udp: false,
        tso: false,
        uso: false,
    };

    /// Every offload this type names (a TUN/TAP whose kernel segments UDP too, T11).
    pub const ALL: TxOffloadSupport = TxOffloadSupport {
        ipv4_header: true,
        tcp: true,
        udp: true,
        tso: true,
        uso: true,
    };
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

/// What a receiver learns about a received packet, as OpenVMM's `RxMetadata` has it. `Default`
/// knows nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct RxMetadata {
    /// The IPv4 header checksum.
    pub ip_checksum: RxChecksumState,
    /// The TCP or UDP checksum.
    pub l4_checksum: RxChecksumState,
    /// Which transport protocol `l4_checksum` refers to.
    pub l4_protocol: L4Protocol,
    /// Where the frame starts in the receive buffer (OpenVMM's `offset`). The header does not
    /// carry it: [`rx_metadata`] leaves it 0, a receive path sets it.
    pub offset: usize,
    /// The frame's length in bytes (OpenVMM's `len`). Not carried by the header either.
    pub len: usize,
    /// An 802.1Q tag a backend took off the frame (OpenVMM's `vlan`): no header field carries it.
    pub vlan: Option<VlanMetadata>,
}

/// Why metadata, a header or a frame could not be translated or fixed up. Each error names its
/// rule (M1-M10, `spec/RULES.md`); fields, bounds and frame problems are the crate's one
/// vocabulary ([`crate::error`]), shared with `check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
        field: Field,
        /// Its value.
        value: u32,
        /// What was required of it.
        bound: Bound,
    },
    /// M1: `l2_len + l3_len (+ l4_len)` does not fit the 16-bit header field.
    Overflow {
        /// `CsumStart` or `HdrLen`.
        field: Field,
        /// The sum that does not fit.
        sum: u32,
    },
    /// M7: the GSO type has no metadata equivalent (UFO, tunnel bits, unknown types).
    UnsupportedGsoType(u8),
    /// M7, M9, M10: the frame cannot carry what is asked: its headers do not parse, it is too
    /// short, a fragment, or of another IP version or protocol than the header or fix-up says.
    Frame {
        /// The rule broken.
        rule: &'static str,
        /// What is wrong.
        problem: Problem,
    },
}

impl MetaError {
    /// The rule id this error enforces.
    pub const fn rule(&self) -> &'static str {
        match self {
            MetaError::BothIpVersions | MetaError::NoIpVersion | MetaError::Overflow { .. } => "M1",
            MetaError::Field { rule, .. } | MetaError::Frame { rule, .. } => rule,
            MetaError::UnsupportedGsoType(_) => "M7",
        }
    }
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MetaError::BothIpVersions => f.write_str("M1: flags: IS_IPV4 and IS_IPV6 are both set"),
            MetaError::NoIpVersion => {
                f.write_str("M1: flags: an L4 offload needs IS_IPV4 or IS_IPV6")
            }
            MetaError::Field {
                rule,
                field,
                value,
                bound,
            } => crate::error::fmt_field(f, rule, field, value, bound),
            MetaError::Overflow { field, sum } => {
                write!(f, "M1: {field} would be {sum}, must be at most 65535")
            }
            MetaError::UnsupportedGsoType(t) => write!(
                f,
                "M7: gso_type {t:#04x} has no metadata equivalent, must be NONE, TCPV4, TCPV6 or UDP_L4"
            ),
            MetaError::Frame { rule, problem } => write!(f, "{rule}: {problem}"),
        }
    }
}

impl core::error::Error for MetaError {}

/// M7: the frame cannot carry what the header asks.
const fn m7_frame(problem: Problem) -> MetaError {
    MetaError::Frame {
        rule: "M7",
        problem,
    }
}

fn field_error(rule: &'static str, field: Field, value: u32, bound: Bound) -> MetaError {
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
