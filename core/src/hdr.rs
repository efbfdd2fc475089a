//! The virtio-net header: its four wire layouts and the logical value they encode.
//!
//! The wire structs are zerocopy views with byte-order-typed fields (alignment 1, so a header at any
//! offset casts). [`VnetHdr`] is the logical value every other module works with; it reads from and
//! writes to any [`Layout`] in any [`Endian`]. Every byte value of `flags` and `gso_type` survives a
//! read and a write unchanged (rule R5/R6: unknown bits are carried, not dropped).
//!
//! ```
//! use vnet_core::hdr::{Endian, Flags, GsoType, Layout, VnetHdr};
//! let hdr = VnetHdr {
//!     flags: Flags::NEEDS_CSUM,
//!     gso_type: GsoType::TCPV4,
//!     hdr_len: 40,
//!     gso_size: 1448,
//!     csum_start: 20,
//!     csum_offset: 16,
//!     ..VnetHdr::EMPTY
//! };
//! let mut buf = [0u8; 24];
//! let n = hdr.write(&mut buf, Layout::V1, Endian::Little)?;
//! assert_eq!(n, Layout::V1.size());
//! let (back, rest) = VnetHdr::read(&buf[..n], Layout::V1, Endian::Little)?;
//! assert_eq!((back, rest.len()), (hdr, 0));
//! // A field the layout has no room for is an error, never a silent loss (law L1).
//! let hashed = VnetHdr { hash_value: 7, ..hdr };
//! assert!(hashed.write(&mut buf, Layout::V1, Endian::Little).is_err());
//! assert!(hashed.write(&mut buf, Layout::V1Hash, Endian::Little).is_ok());
//! # Ok::<(), vnet_core::hdr::HdrError>(())
//! ```

use core::fmt;
use core::mem::{offset_of, size_of};

use zerocopy::byteorder::{BigEndian, ByteOrder, LittleEndian, U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// zerocopy's traits on a header's wire form, written once for every struct and byte of the
/// header: alignment 1 and no padding, so any bytes are a header and a header at any offset casts.
/// Each item derives what else it needs itself.
macro_rules! wire_form {
    (#[repr($repr:ident)] $($item:item)+) => {$(
        #[repr($repr)]
        #[derive(
            Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
        )]
        $item
    )+};
}

wire_form! {
    #[repr(transparent)]
    /// The `flags` byte (R5). A transparent newtype so that every byte value is representable.
    #[derive(Hash, Default)]
    #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
    pub struct Flags(pub u8);
}

impl Flags {
    /// No flags.
    pub const EMPTY: Flags = Flags(0);
}

flag_set!(Flags {
    /// The checksum from `csum_start` to the end is still to be computed and stored at
    /// `csum_start + csum_offset`; the field holds the pseudo-header sum.
    NEEDS_CSUM = 0x01;
    /// The device validated the checksum (receive direction only; P9 forbids it on transmit).
    DATA_VALID = 0x02;
    /// `csum_start`/`csum_offset` carry coalescing statistics (receive direction only, R7).
    RSC_INFO = 0x04;
    /// The outer UDP checksum of a UDP-tunnel GSO packet is to be computed too (V7, S3b).
    UDP_TUNNEL_CSUM = 0x08;
});

wire_form! {
    #[repr(transparent)]
    /// The `gso_type` byte (R6): a base type, optionally with the ECN bit and a UDP-tunnel bit.
    #[derive(Hash, Default)]
    #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
    pub struct GsoType(pub u8);
}

impl GsoType {
    /// Not a GSO packet.
    pub const NONE: GsoType = GsoType(0);
    /// TCP over IPv4 (TSO).
    pub const TCPV4: GsoType = GsoType(1);
    /// UDP fragmentation offload (UFO, deprecated): one datagram cut into IP fragments.
    pub const UDP: GsoType = GsoType(3);
    /// TCP over IPv6 (TSO).
    pub const TCPV6: GsoType = GsoType(4);
    /// UDP segmentation offload (USO): one datagram per segment, IPv4 or IPv6.
    pub const UDP_L4: GsoType = GsoType(5);
    /// UDP-tunnel GSO, outer IPv4 (V7 reads the bit as the outer version for its bound;
    /// segmentation follows the outer IP header itself, K24).
    pub const UDP_TUNNEL_IPV4: GsoType = GsoType(0x20);
    /// UDP-tunnel GSO, outer IPv6.
    pub const UDP_TUNNEL_IPV6: GsoType = GsoType(0x40);
    /// Both tunnel bits: the mask of the tunnel part.
    pub const UDP_TUNNEL: GsoType = GsoType(0x60);
    /// The TCP segments may carry ECN (CWR/ECE) bits.
    pub const ECN: GsoType = GsoType(0x80);

    /// The type without the ECN and tunnel bits (what V1 switches on).
    pub const fn base(self) -> GsoType {
        GsoType(self.0 & !(Self::ECN.0 | Self::UDP_TUNNEL.0))
    }

    /// Whether the ECN bit is set.
    pub const fn has_ecn(self) -> bool {
        self.0 & Self::ECN.0 != 0
    }

    /// The tunnel bits alone (0, 0x20, 0x40 or 0x60).
    pub const fn tunnel(self) -> GsoType {
        GsoType(self.0 & Self::UDP_TUNNEL.0)
    }
}

impl fmt::Debug for GsoType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base = match self.base() {
            GsoType::NONE => "NONE",
            GsoType::TCPV4 => "TCPV4",
            GsoType::UDP => "UDP",
            GsoType::TCPV6 => "TCPV6",
            GsoType::UDP_L4 => "UDP_L4",
            GsoType(other) => return write!(f, "GsoType({other:#04x})"),
        };
        f.write_str(base)?;
        if self.tunnel().0 & Self::UDP_TUNNEL_IPV4.0 != 0 {
            f.write_str("|UDP_TUNNEL_IPV4")?;
        }
        if self.tunnel().0 & Self::UDP_TUNNEL_IPV6.0 != 0 {
            f.write_str("|UDP_TUNNEL_IPV6")?;
        }
        if self.has_ecn() {
            f.write_str("|ECN")?;
        }
        Ok(())
    }
}

wire_form! {
    #[repr(C)]
    /// The legacy `virtio_net_hdr` (10 bytes): the fields every layout starts with.
    #[derive(Debug)]
    pub struct HdrLegacy<O: ByteOrder> {
        /// [`Flags`].
        pub flags: Flags,
        /// [`GsoType`].
        pub gso_type: GsoType,
        /// Length of the headers to keep linear: a hint, never trusted (V6).
        pub hdr_len: U16<O>,
        /// Payload bytes per segment (the MSS).
        pub gso_size: U16<O>,
        /// Where checksumming starts (or, with RSC_INFO, the coalesced segment count).
        pub csum_start: U16<O>,
        /// Where from `csum_start` the checksum is stored (or, with RSC_INFO, the duplicate ACKs).
        pub csum_offset: U16<O>,
}

/// `virtio_net_hdr_v1` / `virtio_net_hdr_mrg_rxbuf` (12 bytes, R1).
pub struct HdrV1<O: ByteOrder> {
    /// The first ten bytes.
    pub legacy: HdrLegacy<O>,
    /// Receive buffers merged for this packet (0 on transmit, P2).
    pub num_buffers: U16<O>,
}

/// `virtio_net_hdr_v1_hash` (20 bytes).
pub struct HdrV1Hash<O: ByteOrder> {
    /// The first twelve bytes.
    pub v1: HdrV1<O>,
    /// The receive hash.
    pub hash_value: U32<O>,
    /// Which hash was computed (R4).
    pub hash_report: U16<O>,
    /// Reserved.
    pub padding: U16<O>,
}

/// `virtio_net_hdr_v1_hash_tunnel` (24 bytes). The two offsets are always little-endian (R13).
pub struct HdrV1HashTunnel<O: ByteOrder> {
    /// The first twenty bytes.
    pub hash: HdrV1Hash<O>,
    /// Offset of the outer UDP header from the start of the packet.
    pub outer_th_offset: U16<LittleEndian>,
    /// Offset of the inner IP header from the start of the packet.
    pub inner_nh_offset: U16<LittleEndian>,
}
}

const _: () = {
    type L = LittleEndian;
    assert!(size_of::<HdrLegacy<L>>() == 10);
    assert!(size_of::<HdrV1<L>>() == 12);
    assert!(size_of::<HdrV1Hash<L>>() == 20);
    assert!(size_of::<HdrV1HashTunnel<L>>() == 24);
    assert!(offset_of!(HdrLegacy<L>, gso_type) == 1);
    assert!(offset_of!(HdrLegacy<L>, hdr_len) == 2);
    assert!(offset_of!(HdrLegacy<L>, gso_size) == 4);
    assert!(offset_of!(HdrLegacy<L>, csum_start) == 6);
    assert!(offset_of!(HdrLegacy<L>, csum_offset) == 8);
    assert!(offset_of!(HdrV1<L>, num_buffers) == 10);
    assert!(offset_of!(HdrV1Hash<L>, hash_value) == 12);
    assert!(offset_of!(HdrV1Hash<L>, hash_report) == 16);
    assert!(offset_of!(HdrV1Hash<L>, padding) == 18);
    assert!(offset_of!(HdrV1HashTunnel<L>, outer_th_offset) == 20);
    assert!(offset_of!(HdrV1HashTunnel<L>, inner_nh_offset) == 22);
};

/// Which of the four header layouts is on the wire (R2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Layout {
    /// 10 bytes: legacy interface without MRG_RXBUF; TUN's default.
    Legacy,
    /// 12 bytes: virtio 1.0, or legacy with MRG_RXBUF.
    V1,
    /// 20 bytes: with HASH_REPORT.
    V1Hash,
    /// 24 bytes: with UDP-tunnel GSO.
    V1HashTunnel,
}

impl Layout {
    /// All layouts, shortest first.
    pub const ALL: [Layout; 4] = [
        Layout::Legacy,
        Layout::V1,
        Layout::V1Hash,
        Layout::V1HashTunnel,
    ];

    /// The layout's size in bytes.
    pub const fn size(self) -> usize {
        match self {
            Layout::Legacy => 10,
            Layout::V1 => 12,
            Layout::V1Hash => 20,
            Layout::V1HashTunnel => 24,
        }
    }

    /// The layout of a given size, as set with TUNSETVNETHDRSZ.
    pub const fn from_size(size: usize) -> Option<Layout> {
        match size {
            10 => Some(Layout::Legacy),
            12 => Some(Layout::V1),
            20 => Some(Layout::V1Hash),
            24 => Some(Layout::V1HashTunnel),
            _ => None,
        }
    }
}

/// The byte order of the 16- and 32-bit fields (R11-R13).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Endian {
    /// Virtio 1.0, or a TUN device after TUNSETVNETLE.
    Little,
    /// A legacy big-endian guest, or a TUN device after TUNSETVNETBE.
    Big,
    /// The host's own order: a legacy guest on this host, or a TUN device left as it was opened.
    Native,
}

impl Endian {
    /// Little or Big: `Native` resolved for the target.
    pub const fn resolve(self) -> Endian {
        match self {
            Endian::Native if cfg!(target_endian = "big") => Endian::Big,
            Endian::Native => Endian::Little,
            other => other,
        }
    }
}

/// A header field that a layout has no room for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// `num_buffers` (needs 12 bytes).
    NumBuffers,
    /// `hash_value`, `hash_report` or the padding after them (need 20 bytes).
    Hash,
    /// `outer_th_offset` or `inner_nh_offset` (need 24 bytes).
    TunnelOffsets,
}

/// Why a header could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HdrError {
    /// The buffer is shorter than the layout.
    Truncated {
        /// The layout's size.
        need: usize,
        /// The buffer's size.
        have: usize,
    },
    /// A field is non-zero but the layout cannot carry it; writing would lose it silently.
    Unrepresentable {
        /// The field.
        field: Field,
        /// The layout asked for.
        layout: Layout,
    },
}

impl fmt::Display for HdrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HdrError::Truncated { need, have } => {
                write!(f, "virtio-net header needs {need} bytes, buffer has {have}")
            }
            HdrError::Unrepresentable { field, layout } => write!(
                f,
                "{field:?} is non-zero but the {}-byte layout has no room for it",
                layout.size()
            ),
        }
    }
}

impl HdrError {
    /// The `spec/RULES.md` row broken: R14 for a field the layout cannot carry; `None` for a
    /// buffer shorter than the layout, which misuses the API rather than breaks a rule.
    pub const fn rule(&self) -> Option<&'static str> {
        match self {
            HdrError::Truncated { .. } => None,
            HdrError::Unrepresentable { .. } => Some("R14"),
        }
    }
}

impl core::error::Error for HdrError {}

/// The logical virtio-net header: every field of the largest layout, in host order.
///
/// Fields that a smaller layout lacks read as zero; writing a non-zero field that the chosen layout
/// cannot hold is an error rather than a silent loss (law L1: `read(write(h)) == h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct VnetHdr {
    /// [`Flags`].
    pub flags: Flags,
    /// [`GsoType`].
    pub gso_type: GsoType,
    /// Header-length hint (V6).
    pub hdr_len: u16,
    /// Segment payload size (the MSS).
    pub gso_size: u16,
    /// Checksum start, from the start of the packet.
    pub csum_start: u16,
    /// Checksum field offset, from `csum_start`.
    pub csum_offset: u16,
    /// Merged receive buffers (12-byte layouts and up).
    pub num_buffers: u16,
    /// Receive hash (20-byte layouts and up).
    pub hash_value: u32,
    /// Receive hash type (20-byte layouts and up).
    pub hash_report: u16,
    /// The reserved field after `hash_report`, carried so that every byte string round-trips.
    pub hash_padding: u16,
    /// Outer UDP header offset (24-byte layout).
    pub outer_th_offset: u16,
    /// Inner IP header offset (24-byte layout).
    pub inner_nh_offset: u16,
}

impl Default for VnetHdr {
    fn default() -> VnetHdr {
        VnetHdr::EMPTY
    }
}

impl VnetHdr {
    /// The all-zero header: no flags, no GSO (what a plain packet carries, G6). Build a `const`
    /// header from it with struct update syntax (`VnetHdr { gso_size: 1400, ..VnetHdr::EMPTY }`);
    /// [`Default`] returns it.
    pub const EMPTY: VnetHdr = VnetHdr {
        flags: Flags::EMPTY,
        gso_type: GsoType::NONE,
        hdr_len: 0,
        gso_size: 0,
        csum_start: 0,
        csum_offset: 0,
        num_buffers: 0,
        hash_value: 0,
        hash_report: 0,
        hash_padding: 0,
        outer_th_offset: 0,
        inner_nh_offset: 0,
    };

    /// Reads a header of `layout` from the front of `bytes`; returns it and the packet after it.
    pub fn read(
        bytes: &[u8],
        layout: Layout,
        endian: Endian,
    ) -> Result<(VnetHdr, &[u8]), HdrError> {
        match endian.resolve() {
            Endian::Big => Self::read_in::<BigEndian>(bytes, layout),
            _ => Self::read_in::<LittleEndian>(bytes, layout),
        }
    }

    /// Writes the header in `layout` to the front of `out`; returns the number of bytes written.
    pub fn write(&self, out: &mut [u8], layout: Layout, endian: Endian) -> Result<usize, HdrError> {
        self.check_fits(layout)?;
        match endian.resolve() {
            Endian::Big => self.write_in::<BigEndian>(out, layout),
            _ => self.write_in::<LittleEndian>(out, layout),
        }
    }

    /// Whether every non-zero field of `self` has a place in `layout`.
    pub fn check_fits(&self, layout: Layout) -> Result<(), HdrError> {
        let lacking = if layout.size() < 12 && self.num_buffers != 0 {
            Some(Field::NumBuffers)
        } else if layout.size() < 20
            && (self.hash_value != 0 || self.hash_report != 0 || self.hash_padding != 0)
        {
            Some(Field::Hash)
        } else if layout.size() < 24 && (self.outer_th_offset != 0 || self.inner_nh_offset != 0) {
            Some(Field::TunnelOffsets)
        } else {
            None
        };
        match lacking {
            Some(field) => Err(HdrError::Unrepresentable { field, layout }),
            None => Ok(()),
        }
    }

    fn read_in<O: ByteOrder>(bytes: &[u8], layout: Layout) -> Result<(VnetHdr, &[u8]), HdrError> {
        let truncated = HdrError::Truncated {
            need: layout.size(),
            have: bytes.len(),
        };
        let (wire, _) = HdrV1HashTunnel::<O>::read_from_prefix(&pad_to_24(bytes, layout))
            .map_err(|_| truncated)?;
        let rest = bytes.get(layout.size()..).ok_or(truncated)?;
        Ok((VnetHdr::from(wire), rest))
    }

    fn write_in<O: ByteOrder>(&self, out: &mut [u8], layout: Layout) -> Result<usize, HdrError> {
        let have = out.len();
        let wire = HdrV1HashTunnel::<O>::from(*self);
        let bytes = wire.as_bytes().get(..layout.size());
        let dst = out.get_mut(..layout.size());
        match (bytes, dst) {
            (Some(bytes), Some(dst)) => {
                dst.copy_from_slice(bytes);
                Ok(layout.size())
            }
            _ => Err(HdrError::Truncated {
                need: layout.size(),
                have,
            }),
        }
    }
}

/// The first `layout.size()` bytes of `bytes`, zero-extended to 24 (fields past the layout read 0).
fn pad_to_24(bytes: &[u8], layout: Layout) -> [u8; 24] {
    let mut padded = [0u8; 24];
    if let (Some(dst), Some(src)) = (padded.get_mut(..layout.size()), bytes.get(..layout.size())) {
        dst.copy_from_slice(src);
    }
    padded
}

impl<O: ByteOrder> From<HdrV1HashTunnel<O>> for VnetHdr {
    fn from(w: HdrV1HashTunnel<O>) -> VnetHdr {
        let legacy = w.hash.v1.legacy;
        VnetHdr {
            flags: legacy.flags,
            gso_type: legacy.gso_type,
            hdr_len: legacy.hdr_len.get(),
            gso_size: legacy.gso_size.get(),
            csum_start: legacy.csum_start.get(),
            csum_offset: legacy.csum_offset.get(),
            num_buffers: w.hash.v1.num_buffers.get(),
            hash_value: w.hash.hash_value.get(),
            hash_report: w.hash.hash_report.get(),
            hash_padding: w.hash.padding.get(),
            outer_th_offset: w.outer_th_offset.get(),
            inner_nh_offset: w.inner_nh_offset.get(),
        }
    }
}

impl<O: ByteOrder> From<VnetHdr> for HdrV1HashTunnel<O> {
    fn from(h: VnetHdr) -> HdrV1HashTunnel<O> {
        HdrV1HashTunnel {
            hash: HdrV1Hash {
                v1: HdrV1 {
                    legacy: HdrLegacy {
                        flags: h.flags,
                        gso_type: h.gso_type,
                        hdr_len: U16::new(h.hdr_len),
                        gso_size: U16::new(h.gso_size),
                        csum_start: U16::new(h.csum_start),
                        csum_offset: U16::new(h.csum_offset),
                    },
                    num_buffers: U16::new(h.num_buffers),
                },
                hash_value: U32::new(h.hash_value),
                hash_report: U16::new(h.hash_report),
                padding: U16::new(h.hash_padding),
            },
            outer_th_offset: U16::new(h.outer_th_offset),
            inner_nh_offset: U16::new(h.inner_nh_offset),
        }
    }
}

impl<O: ByteOrder> From<HdrLegacy<O>> for HdrV1<O> {
    fn from(legacy: HdrLegacy<O>) -> HdrV1<O> {
        HdrV1 {
            legacy,
            num_buffers: U16::ZERO,
        }
    }
}

impl<O: ByteOrder> From<HdrV1<O>> for HdrLegacy<O> {
    fn from(v1: HdrV1<O>) -> HdrLegacy<O> {
        v1.legacy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenVMM's TSO case: TCPV4, MSS 1460, hdr_len 66, csum 34/16, as virtio 1.0 bytes.
    const TSO_V1_LE: [u8; 12] = [0x01, 0x01, 66, 0, 0xb4, 0x05, 34, 0, 16, 0, 0, 0];

    fn tso() -> VnetHdr {
        VnetHdr {
            flags: Flags::NEEDS_CSUM,
            gso_type: GsoType::TCPV4,
            hdr_len: 66,
            gso_size: 1460,
            csum_start: 34,
            csum_offset: 16,
            ..VnetHdr::default()
        }
    }

    #[test]
    fn parse_v1_le() {
        let mut bytes = TSO_V1_LE.to_vec();
        bytes.extend_from_slice(&[0x45, 0]);
        let (hdr, rest) = VnetHdr::read(&bytes, Layout::V1, Endian::Little).unwrap();
        assert_eq!(hdr, tso());
        assert_eq!(rest, &[0x45, 0]);
    }

    #[test]
    fn emit_every_layout_and_order() {
        let mut buf = [0xAAu8; 24];
        assert_eq!(tso().write(&mut buf, Layout::V1, Endian::Little), Ok(12));
        assert_eq!(buf[..12], TSO_V1_LE);
        assert_eq!(buf[12], 0xAA, "bytes past the layout are not touched");

        assert_eq!(tso().write(&mut buf, Layout::Legacy, Endian::Big), Ok(10));
        assert_eq!(buf[..10], [0x01, 0x01, 0, 66, 0x05, 0xb4, 0, 34, 0, 16]);

        let tunnel = VnetHdr {
            outer_th_offset: 0x0102,
            inner_nh_offset: 0x0304,
            hash_value: 0x0a0b0c0d,
            ..tso()
        };
        assert_eq!(
            tunnel.write(&mut buf, Layout::V1HashTunnel, Endian::Big),
            Ok(24)
        );
        assert_eq!(buf[12..16], [0x0a, 0x0b, 0x0c, 0x0d]);
        assert_eq!(
            buf[20..24],
            [0x02, 0x01, 0x04, 0x03],
            "tunnel offsets are always LE"
        );
    }

    #[test]
    fn read_write_round_trip_all_layouts() {
        for layout in Layout::ALL {
            for endian in [Endian::Little, Endian::Big, Endian::Native] {
                let bytes: [u8; 24] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5a);
                let (hdr, rest) = VnetHdr::read(&bytes, layout, endian).unwrap();
                assert_eq!(rest.len(), 24 - layout.size());
                let mut out = [0u8; 24];
                assert_eq!(hdr.write(&mut out, layout, endian), Ok(layout.size()));
                assert_eq!(out[..layout.size()], bytes[..layout.size()]);
            }
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            VnetHdr::read(&[0; 11], Layout::V1, Endian::Little),
            Err(HdrError::Truncated { need: 12, have: 11 })
        );
        let mut small = [0u8; 9];
        assert_eq!(
            tso().write(&mut small, Layout::Legacy, Endian::Little),
            Err(HdrError::Truncated { need: 10, have: 9 })
        );
        let with_buffers = VnetHdr {
            num_buffers: 1,
            ..tso()
        };
        assert_eq!(
            with_buffers.write(&mut [0; 24], Layout::Legacy, Endian::Little),
            Err(HdrError::Unrepresentable {
                field: Field::NumBuffers,
                layout: Layout::Legacy
            })
        );
    }

    #[test]
    fn type_helpers_and_debug() {
        let t = GsoType(0x80 | 0x20 | 0x01);
        assert_eq!(t.base(), GsoType::TCPV4);
        assert!(t.has_ecn());
        assert_eq!(t.tunnel(), GsoType::UDP_TUNNEL_IPV4);
        assert_eq!(std::format!("{t:?}"), "TCPV4|UDP_TUNNEL_IPV4|ECN");
        assert_eq!(std::format!("{:?}", GsoType(2)), "GsoType(0x02)");
        assert_eq!(std::format!("{:?}", Flags(0x31)), "NEEDS_CSUM|0x30");
        assert_eq!(std::format!("{:?}", Flags::EMPTY), "0x00");
        assert!(Flags(3).contains(Flags::DATA_VALID));
        assert_eq!(Flags(3).without(Flags::NEEDS_CSUM), Flags::DATA_VALID);
        assert_eq!(Layout::from_size(20), Some(Layout::V1Hash));
        assert_eq!(Layout::from_size(16), None);
    }
}
