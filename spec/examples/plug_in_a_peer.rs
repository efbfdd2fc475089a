//! Plug an implementation of your own into vnet-spec's laws (spec/CONFORMANCE.md).
//!
//! `PeerCodec` is a virtio-net header codec written from the virtio spec's byte table alone,
//! with no code from vnet-core's `hdr` module, the way a VMM's own codec would be; `PeerSum` is
//! a checksum written the obvious way. The conformance runner checks both against every law that
//! applies (L1a-L1c: the codec round-trips and agrees with the reference codec, error for error;
//! L2a: the sum is RFC 1071's) and prints its report.
//!
//! ```sh
//! cargo run -p vnet-spec --example plug_in_a_peer        # exits 1 when a law fails
//! ```
//!
//! `cargo test --workspace` runs it as a test too (`test = true` in spec/Cargo.toml).

use vnet_core::hdr::{Endian, Field, Flags, GsoType, HdrError, Layout, VnetHdr};
use vnet_spec::conformance::{Report, Suite};
use vnet_spec::laws::csum::Sum;
use vnet_spec::laws::hdr::HeaderCodec;

/// Where each field of `struct virtio_net_hdr` and its extensions starts, and its width (virtio
/// 1.x, 5.1.6): the 10-byte legacy header, `num_buffers` (12), the hash report (20) and the
/// UDP-tunnel offsets (24).
const FIELDS: [(usize, usize); 12] = [
    (0, 1),  // flags
    (1, 1),  // gso_type
    (2, 2),  // hdr_len
    (4, 2),  // gso_size
    (6, 2),  // csum_start
    (8, 2),  // csum_offset
    (10, 2), // num_buffers
    (12, 4), // hash_value
    (16, 2), // hash_report
    (18, 2), // padding
    (20, 2), // outer_th_offset
    (22, 2), // inner_nh_offset
];

/// A header codec of your own.
struct PeerCodec;

impl PeerCodec {
    fn values(h: &VnetHdr) -> [u32; 12] {
        [
            h.flags.0.into(),
            h.gso_type.0.into(),
            h.hdr_len.into(),
            h.gso_size.into(),
            h.csum_start.into(),
            h.csum_offset.into(),
            h.num_buffers.into(),
            h.hash_value,
            h.hash_report.into(),
            h.hash_padding.into(),
            h.outer_th_offset.into(),
            h.inner_nh_offset.into(),
        ]
    }

    /// Whether field `i` is big-endian: the header's order, but the UDP-tunnel offsets are
    /// little-endian always (R13). The first version of this example missed that; L1c found it
    /// with one case: `inner_nh_offset: 1`, 24-byte layout, big-endian.
    fn big(i: usize, endian: Endian) -> bool {
        if i >= 10 {
            return false;
        }
        match endian {
            Endian::Big => true,
            Endian::Little => false,
            _ => cfg!(target_endian = "big"),
        }
    }

    /// The first field `layout` cannot carry that `h` sets, as the reference names it.
    fn lacking(h: &VnetHdr, layout: Layout) -> Option<Field> {
        let v = Self::values(h);
        let set = |fields: core::ops::Range<usize>| v[fields].iter().any(|&x| x != 0);
        match layout.size() {
            n if n < 12 && set(6..7) => Some(Field::NumBuffers),
            n if n < 20 && set(7..10) => Some(Field::Hash),
            n if n < 24 && set(10..12) => Some(Field::TunnelOffsets),
            _ => None,
        }
    }
}

impl HeaderCodec for PeerCodec {
    fn read<'a>(
        &self,
        bytes: &'a [u8],
        layout: Layout,
        endian: Endian,
    ) -> Result<(VnetHdr, &'a [u8]), HdrError> {
        let size = layout.size();
        if bytes.len() < size {
            return Err(HdrError::Truncated {
                need: size,
                have: bytes.len(),
            });
        }
        let mut v = [0u32; 12];
        for (i, (value, &(at, width))) in v.iter_mut().zip(&FIELDS).enumerate() {
            if at + width <= size {
                let field = &bytes[at..at + width];
                let fold = |acc: u32, &b: &u8| (acc << 8) | u32::from(b);
                *value = if Self::big(i, endian) {
                    field.iter().fold(0, fold)
                } else {
                    field.iter().rev().fold(0, fold)
                };
            }
        }
        let hdr = VnetHdr {
            flags: Flags(v[0] as u8),
            gso_type: GsoType(v[1] as u8),
            hdr_len: v[2] as u16,
            gso_size: v[3] as u16,
            csum_start: v[4] as u16,
            csum_offset: v[5] as u16,
            num_buffers: v[6] as u16,
            hash_value: v[7],
            hash_report: v[8] as u16,
            hash_padding: v[9] as u16,
            outer_th_offset: v[10] as u16,
            inner_nh_offset: v[11] as u16,
        };
        Ok((hdr, &bytes[size..]))
    }

    fn write(
        &self,
        hdr: &VnetHdr,
        out: &mut [u8],
        layout: Layout,
        endian: Endian,
    ) -> Result<usize, HdrError> {
        if let Some(field) = Self::lacking(hdr, layout) {
            return Err(HdrError::Unrepresentable { field, layout });
        }
        let size = layout.size();
        if out.len() < size {
            return Err(HdrError::Truncated {
                need: size,
                have: out.len(),
            });
        }
        for (i, (value, &(at, width))) in Self::values(hdr).iter().zip(&FIELDS).enumerate() {
            if at + width <= size {
                let be = value.to_be_bytes();
                let field = &mut out[at..at + width];
                field.copy_from_slice(&be[4 - width..]);
                if !Self::big(i, endian) {
                    field.reverse();
                }
            }
        }
        Ok(size)
    }
}

/// A checksum of your own: RFC 1071 one 16-bit word at a time, folded, not complemented.
struct PeerSum;

impl Sum for PeerSum {
    fn sum(&self, data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for pair in data.chunks(2) {
            acc += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }
}

/// Every law that applies to the two peers, 256 cases each, seed 0.
fn check_peers() -> Report {
    Suite::new().cases(256).hdr(&PeerCodec).sum(&PeerSum).run()
}

fn main() {
    let report = check_peers();
    print!("{report}");
    std::process::exit(if report.holds() { 0 } else { 1 });
}

#[test]
fn peers_hold_every_law() {
    let report = check_peers();
    print!("{report}");
    report.assert_holds();
    assert_eq!(report.verdicts.len(), 4, "L1a, L1b, L1c and L2a:\n{report}");
}
