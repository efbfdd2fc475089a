//! One error vocabulary: the bounds, fields and packet problems that `check` (V, T, P, S rows)
//! and `meta` (M rows) both name, with one wording each, and [`Error`], every error of the crate
//! in one type so that firmware can use `?` across validate, segment and coalesce.
//!
//! Every rule id an error carries names a row of `spec/RULES.md`.

use core::fmt;

use crate::check::CheckError;
use crate::gro::GroError;
use crate::gso::GsoError;
use crate::hdr::HdrError;
use crate::meta::MetaError;
use crate::virtio::FeatureError;
use crate::wire::{self, IpProtocol, IpVersion};

/// A field named by an error: of the virtio-net header, of `meta::TxMetadata`, or of the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
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
    /// `num_buffers`.
    NumBuffers,
    /// `TxMetadata::l2_len`.
    L2Len,
    /// `TxMetadata::l3_len`.
    L3Len,
    /// `TxMetadata::l4_len`.
    L4Len,
    /// `TxMetadata::max_segment_size`.
    MaxSegmentSize,
    /// The IPv4 header's IHL.
    Ihl,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Flags => "flags",
            Field::GsoType => "gso_type",
            Field::GsoSize => "gso_size",
            Field::HdrLen => "hdr_len",
            Field::CsumStart => "csum_start",
            Field::CsumOffset => "csum_offset",
            Field::OuterThOffset => "outer_th_offset",
            Field::InnerNhOffset => "inner_nh_offset",
            Field::NumBuffers => "num_buffers",
            Field::L2Len => "l2_len",
            Field::L3Len => "l3_len",
            Field::L4Len => "l4_len",
            Field::MaxSegmentSize => "max_segment_size",
            Field::Ihl => "IHL",
        })
    }
}

/// What a field was required to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Bound {
    /// A GSO type Linux knows: NONE, or TCPV4/TCPV6/UDP/UDP_L4 with optional ECN (V1).
    KnownGsoType,
    /// Not zero.
    NonZero,
    /// Not 0xFFFF (GSO_BY_FRAGS, V2).
    NotByFrags,
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
    /// Flag or bit not allowed here.
    Absent,
    /// Flag or bit required here.
    Present,
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
            Bound::MultipleOf(n) => write!(f, "a multiple of {n}"),
            Bound::OneOf(ns) => write!(f, "one of {ns:?}"),
            Bound::Absent => f.write_str("without this bit here"),
            Bound::Present => f.write_str("with the required bit set"),
        }
    }
}

/// "`rule`: `field` `value` must be `bound`", the one wording of a field error (flags and GSO
/// types in hex).
pub(crate) fn fmt_field(
    f: &mut fmt::Formatter<'_>,
    rule: &str,
    field: Field,
    value: u32,
    bound: Bound,
) -> fmt::Result {
    match field {
        Field::Flags | Field::GsoType => write!(f, "{rule}: {field} {value:#04x} must be {bound}"),
        _ => write!(f, "{rule}: {field} {value} must be {bound}"),
    }
}

/// Why a packet (or frame) cannot carry what its header or metadata asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The headers do not parse.
    Wire(wire::Error),
    /// The packet is shorter than the rule needs.
    Truncated {
        /// Bytes required, from the start of the packet.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The GSO type names another IP version than the packet has.
    IpVersionMismatch {
        /// The version the GSO type implies.
        expected: IpVersion,
        /// The packet's.
        found: IpVersion,
    },
    /// The IP version nibble is not the one a fix-up is for (M9, M10).
    WrongIpVersion {
        /// 4 or 6.
        expected: u8,
        /// The nibble found.
        found: u8,
    },
    /// The packet's transport protocol is not the one the header implies (GSO type or
    /// `csum_offset`).
    ProtocolMismatch {
        /// TCP or UDP.
        expected: IpProtocol,
        /// The packet's.
        found: IpProtocol,
    },
    /// The packet is an IP fragment already: no offload applies.
    Fragment,
    /// `csum_start` is not where the transport header is.
    CsumStartNotTransport {
        /// `csum_start`.
        csum_start: u16,
        /// The transport header's offset.
        transport: usize,
    },
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

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Wire(e) => write!(f, "{e}"),
            Problem::Truncated { need, have } => {
                write!(f, "packet of {have} bytes, needs {need}")
            }
            Problem::IpVersionMismatch { expected, found } => {
                write!(
                    f,
                    "the GSO type needs {expected:?}, the packet is {found:?}"
                )
            }
            Problem::WrongIpVersion { expected, found } => {
                write!(f, "IP version is {found}, must be {expected}")
            }
            Problem::ProtocolMismatch { expected, found } => write!(
                f,
                "the header asks for IP protocol {}, the packet carries {}",
                expected.0, found.0
            ),
            Problem::Fragment => f.write_str("the packet is an IP fragment"),
            Problem::CsumStartNotTransport {
                csum_start,
                transport,
            } => write!(
                f,
                "csum_start {csum_start} is not the transport header's offset {transport}"
            ),
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

/// `Error` from one list of variants, each a module's error: the enum, a `From` for each, and a
/// `Display` that is the module's own.
macro_rules! every_error {
    (
        $(#[$attr:meta])*
        pub enum Error { $($(#[$doc:meta])* $variant:ident($t:ty),)+ }
    ) => {
        $(#[$attr])*
        pub enum Error { $($(#[$doc])* $variant($t),)+ }

        impl fmt::Display for Error {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Error::$variant(e) => e.fmt(f),)+
                }
            }
        }

        $(impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::$variant(e)
            }
        })+
    };
}

every_error! {
    /// Every error of vnet-core, so that one `?` carries a header, check, segmentation, coalescing
    /// or metadata error up to the caller.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[non_exhaustive]
    pub enum Error {
        /// Reading or writing a virtio-net header.
        Hdr(HdrError),
        /// A header stack that does not parse.
        Wire(wire::Error),
        /// A (header, packet) pair `check` rejects.
        Check(CheckError),
        /// A request `gso` cannot carry out.
        Gso(GsoError),
        /// A batch `gro` cannot take.
        Gro(GroError),
        /// Metadata or a frame `meta` cannot translate.
        Meta(MetaError),
        /// A virtio feature negotiation, or a header the agreed features do not allow.
        Feature(FeatureError),
    }
}

impl Error {
    /// The `spec/RULES.md` row the error enforces; `None` for a bare parse error, a truncated
    /// header buffer and GRO's slice checks, which misuse the API rather than break a rule.
    pub const fn rule(&self) -> Option<&'static str> {
        match self {
            Error::Hdr(e) => e.rule(),
            Error::Wire(_) | Error::Gro(_) => None,
            Error::Check(e) => Some(e.rule()),
            Error::Gso(e) => Some(e.rule()),
            Error::Meta(e) => Some(e.rule()),
            Error::Feature(e) => Some(e.rule()),
        }
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    /// Validate, segment and coalesce in one function with `?`: every error converts.
    #[test]
    fn question_mark_across_modules() {
        fn run() -> Result<(), Error> {
            crate::hdr::VnetHdr::read(
                &[0u8; 3],
                crate::hdr::Layout::V1,
                crate::hdr::Endian::Little,
            )?;
            Ok(())
        }
        let e = run().unwrap_err();
        assert!(matches!(e, Error::Hdr(_)));
        assert_eq!(e.rule(), None);
        assert_eq!(
            e.to_string(),
            "virtio-net header needs 12 bytes, buffer has 3"
        );
        let check = Error::from(CheckError::Packet {
            rule: "S1",
            problem: Problem::Fragment,
        });
        assert_eq!(check.rule(), Some("S1"));
        assert_eq!(check.to_string(), "S1: the packet is an IP fragment");
        let gso = Error::from(GsoError::TooFewBuffers { need: 2, have: 1 });
        assert_eq!(gso.rule(), Some("S5"));
        let _: &dyn core::error::Error = &gso;
    }

    #[test]
    fn bounds_and_fields_have_one_wording() {
        for (b, s) in [
            (Bound::AtLeast(20), "at least 20"),
            (Bound::AtMost(60), "at most 60"),
            (Bound::Equal(16), "16"),
            (Bound::MultipleOf(4), "a multiple of 4"),
            (Bound::OneOf(&[6, 16]), "one of [6, 16]"),
            (Bound::NonZero, "non-zero"),
        ] {
            assert_eq!(b.to_string(), s);
        }
        assert_eq!(Field::L3Len.to_string(), "l3_len");
        assert_eq!(Field::GsoType.to_string(), "gso_type");
    }
}
