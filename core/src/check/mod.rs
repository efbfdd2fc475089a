//! Header validation: what a (header, packet) pair asks for, judged by the kernel's rules.
//!
//! [`check`] applies the rules of `virtio_net_hdr_to_skb` / `virtio_net_hdr_tnl_to_skb` (V1-V7)
//! and of TUN's write path (T14), so that in [`Mode::Linux`] it accepts exactly what a
//! Linux TUN/TAP device accepts on write. [`Mode::Strict`] adds the virtio spec's driver MUSTs
//! (P4, P9). A GSO request is then located in the packet itself (V6: `hdr_len` is a hint, never
//! trusted), so that segmentation has everything it needs and nothing it must take on faith.
//!
//! ```
//! use vnet_core::check::{check, CheckOptions, Mode, Offload};
//! use vnet_core::hdr::{Flags, GsoType, VnetHdr};
//! // IPv4 + TCP (no payload), as a TUN reader gets it.
//! let mut pkt = [0u8; 40];
//! pkt[..20].copy_from_slice(&[0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
//! pkt[32] = 0x50; // TCP data offset 5
//! // The all-zero header asks for nothing.
//! assert_eq!(check(&VnetHdr::EMPTY, &pkt, &CheckOptions::DEFAULT)?, Offload::Plain);
//! // NEEDS_CSUM at the TCP checksum field asks for one checksum (S4).
//! let csum = VnetHdr { flags: Flags::NEEDS_CSUM, csum_start: 20, csum_offset: 16, ..VnetHdr::EMPTY };
//! assert!(matches!(check(&csum, &pkt, &CheckOptions::DEFAULT)?, Offload::Checksum(_)));
//! // GSO without NEEDS_CSUM passes a Linux write, but not the virtio spec's driver rules (P4).
//! let gso = VnetHdr { gso_type: GsoType::TCPV4, gso_size: 1000, hdr_len: 40, ..VnetHdr::EMPTY };
//! let strict = CheckOptions::DEFAULT.with_mode(Mode::Strict);
//! assert_eq!(check(&gso, &pkt, &strict).unwrap_err().rule(), "P4");
//! # Ok::<(), vnet_core::check::CheckError>(())
//! ```

use core::fmt;

use crate::dissect;
pub use crate::error::{Bound, Field, Problem};
use crate::hdr::{Flags, GsoType, Layout, VnetHdr};
use crate::kernel::Profile;
use crate::wire::field::{tcp, udp};
use crate::wire::{
    self, ETHERNET_HEADER_LEN, Headers, IPV4_MIN_HEADER_LEN, IPV6_HEADER_LEN, IpProtocol,
    IpVersion, Link, TCP_MIN_HEADER_LEN, TcpPacket, UDP_HEADER_LEN,
};

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod kernel_tests;
mod locate;
mod rules;
#[cfg(test)]
mod tests;

use locate::locate;
use rules::{Plain, check_device_write, check_plain, check_strict, check_tunnel, csum_request};

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

options!(CheckOptions {
    /// With packets starting at `link`.
    with_link(link: Link);
    /// With the device reading headers of `layout`.
    with_layout(layout: Layout);
    /// With the rules of `mode`.
    with_mode(mode: Mode);
    /// With the rules of `kernel`.
    with_kernel(kernel: Profile);
});

impl CheckOptions {
    /// The defaults: a TUN write ([`Link::Tun`]) with the 12-byte header ([`Layout::V1`]),
    /// [`Mode::Linux`], [`Profile::NEWEST`], no UDP tunnel. Usable in a `static` or `const`;
    /// [`Default`] returns it.
    pub const DEFAULT: CheckOptions = CheckOptions {
        link: Link::Tun,
        layout: Layout::V1,
        mode: Mode::Linux,
        kernel: Profile::NEWEST,
        tunnel: false,
        tunnel_csum: false,
    };

    /// With UDP-tunnel GSO negotiated or not, and its checksum offload.
    #[must_use]
    pub const fn with_tunnel(self, tunnel: bool, tunnel_csum: bool) -> CheckOptions {
        CheckOptions {
            tunnel,
            tunnel_csum,
            ..self
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

/// The kind of segmentation. Deliberately exhaustive (like [`Offload`]): a new kind changes what
/// segmentation produces, so code that dispatches on kinds should stop compiling, not fall into a
/// `_` arm.
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
    /// NEEDS_CSUM was set (TCP may go without, V10, and so may UFO, K7; the segmenter then
    /// computes the checksum anyway).
    pub csum: Option<CsumRequest>,
    /// The headers found in the packet (for a tunnel: the inner ones, offsets from packet start).
    pub headers: Headers,
    /// Bytes of headers up to and including the transport header: the true `hdr_len` (V6).
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

/// Why a (header, packet) pair is rejected. Each error names its rule (see `spec/RULES.md`); the
/// fields, bounds and packet problems are the crate's one vocabulary ([`crate::error`]), shared
/// with `meta`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckError {
    /// A header field is out of its bound.
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
    /// The packet cannot carry the request: too short for what the header says (V3, V4, T14,
    /// S1), or its own headers disagree with it (found when locating a GSO request).
    Packet {
        /// The rule broken.
        rule: &'static str,
        /// What is wrong.
        problem: Problem,
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
            CheckError::Field { rule, .. } | CheckError::Packet { rule, .. } => rule,
        }
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CheckError::Field {
                rule,
                field,
                value,
                bound,
            } => crate::error::fmt_field(f, rule, field, value, bound),
            CheckError::Packet { rule, problem } => write!(f, "{rule}: {problem}"),
        }
    }
}

impl core::error::Error for CheckError {}

fn field(rule: &'static str, field: Field, value: impl Into<u32>, bound: Bound) -> CheckError {
    CheckError::Field {
        rule,
        field,
        value: value.into(),
        bound,
    }
}

fn need(rule: &'static str, need: usize, pkt: &[u8]) -> Result<(), CheckError> {
    if pkt.len() < need {
        return Err(CheckError::Packet {
            rule,
            problem: Problem::Truncated {
                need,
                have: pkt.len(),
            },
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
        Plain::Gso(kind, gso_size) => {
            locate(hdr, pkt, opts, kind, gso_size, tunnel).map(Offload::Segment)
        }
    }
}
