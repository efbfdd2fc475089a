//! The virtio-net header, read and written the obvious way: byte by byte, field by field (R1-R14).

use vnet_core::hdr::{Endian, Field, Flags, GsoType, HdrError, Layout, VnetHdr};

use super::Reference;
use crate::laws::hdr::{HeaderCodec, Read, Written};

/// Whether the 16/32-bit fields are big-endian (`Native` resolved for this host, R11-R13).
fn big(endian: Endian) -> bool {
    match endian {
        Endian::Little => false,
        Endian::Big => true,
        Endian::Native => cfg!(target_endian = "big"),
    }
}

fn get16(b: &[u8], at: usize, big: bool) -> u16 {
    if big {
        (u16::from(b[at]) << 8) | u16::from(b[at + 1])
    } else {
        u16::from(b[at]) | (u16::from(b[at + 1]) << 8)
    }
}

fn get32(b: &[u8], at: usize, big: bool) -> u32 {
    let (first, second) = (get16(b, at, big), get16(b, at + 2, big));
    if big {
        (u32::from(first) << 16) | u32::from(second)
    } else {
        u32::from(first) | (u32::from(second) << 16)
    }
}

fn put16(b: &mut [u8], at: usize, v: u16, big: bool) {
    let (hi, lo) = ((v >> 8) as u8, v as u8);
    if big {
        b[at] = hi;
        b[at + 1] = lo;
    } else {
        b[at] = lo;
        b[at + 1] = hi;
    }
}

fn put32(b: &mut [u8], at: usize, v: u32, big: bool) {
    let (hi, lo) = ((v >> 16) as u16, v as u16);
    if big {
        put16(b, at, hi, true);
        put16(b, at + 2, lo, true);
    } else {
        put16(b, at, lo, false);
        put16(b, at + 2, hi, false);
    }
}

/// Reads a header of `layout` from the front of `bytes`; fields the layout lacks are 0.
pub fn read(bytes: &[u8], layout: Layout, endian: Endian) -> Result<(VnetHdr, &[u8]), HdrError> {
    let size = layout.size();
    if bytes.len() < size {
        return Err(HdrError::Truncated {
            need: size,
            have: bytes.len(),
        });
    }
    let be = big(endian);
    let mut h = VnetHdr {
        flags: Flags(bytes[0]),
        gso_type: GsoType(bytes[1]),
        hdr_len: get16(bytes, 2, be),
        gso_size: get16(bytes, 4, be),
        csum_start: get16(bytes, 6, be),
        csum_offset: get16(bytes, 8, be),
        ..VnetHdr::default()
    };
    if size >= 12 {
        h.num_buffers = get16(bytes, 10, be);
    }
    if size >= 20 {
        h.hash_value = get32(bytes, 12, be);
        h.hash_report = get16(bytes, 16, be);
        h.hash_padding = get16(bytes, 18, be);
    }
    if size >= 24 {
        // The tunnel offsets are little-endian whatever the rest is (R13).
        h.outer_th_offset = get16(bytes, 20, false);
        h.inner_nh_offset = get16(bytes, 22, false);
    }
    Ok((h, &bytes[size..]))
}

/// Writes `h` in `layout` to the front of `out`; a non-zero field the layout lacks is an error
/// (R14), checked before the buffer size.
pub fn write(
    h: &VnetHdr,
    out: &mut [u8],
    layout: Layout,
    endian: Endian,
) -> Result<usize, HdrError> {
    let size = layout.size();
    let lacking = if size < 12 && h.num_buffers != 0 {
        Some(Field::NumBuffers)
    } else if size < 20 && (h.hash_value != 0 || h.hash_report != 0 || h.hash_padding != 0) {
        Some(Field::Hash)
    } else if size < 24 && (h.outer_th_offset != 0 || h.inner_nh_offset != 0) {
        Some(Field::TunnelOffsets)
    } else {
        None
    };
    if let Some(field) = lacking {
        return Err(HdrError::Unrepresentable { field, layout });
    }
    if out.len() < size {
        return Err(HdrError::Truncated {
            need: size,
            have: out.len(),
        });
    }
    let be = big(endian);
    out[0] = h.flags.0;
    out[1] = h.gso_type.0;
    put16(out, 2, h.hdr_len, be);
    put16(out, 4, h.gso_size, be);
    put16(out, 6, h.csum_start, be);
    put16(out, 8, h.csum_offset, be);
    if size >= 12 {
        put16(out, 10, h.num_buffers, be);
    }
    if size >= 20 {
        put32(out, 12, h.hash_value, be);
        put16(out, 16, h.hash_report, be);
        put16(out, 18, h.hash_padding, be);
    }
    if size >= 24 {
        put16(out, 20, h.outer_th_offset, false);
        put16(out, 22, h.inner_nh_offset, false);
    }
    Ok(size)
}

impl HeaderCodec for Reference {
    fn read<'a>(&self, bytes: &'a [u8], layout: Layout, endian: Endian) -> Read<'a> {
        read(bytes, layout, endian)
    }

    fn write(&self, hdr: &VnetHdr, out: &mut [u8], layout: Layout, endian: Endian) -> Written {
        write(hdr, out, layout, endian)
    }
}
