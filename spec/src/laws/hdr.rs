//! L1: the header codec round-trips, both ways, in every layout and byte order (R1-R14).

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use vnet_core::hdr::{Endian, HdrError, Layout, VnetHdr};

use super::Core;

/// Reads and writes virtio-net headers.
pub trait HeaderCodec {
    /// Reads a header of `layout` from the front of `bytes`; returns it and the bytes after it.
    fn read<'a>(&self, bytes: &'a [u8], layout: Layout, endian: Endian) -> Read<'a>;

    /// Writes `hdr` in `layout` to the front of `out`; returns the bytes written.
    fn write(&self, hdr: &VnetHdr, out: &mut [u8], layout: Layout, endian: Endian) -> Written;
}

impl HeaderCodec for Core {
    fn read<'a>(&self, bytes: &'a [u8], layout: Layout, endian: Endian) -> Read<'a> {
        VnetHdr::read(bytes, layout, endian)
    }

    fn write(&self, hdr: &VnetHdr, out: &mut [u8], layout: Layout, endian: Endian) -> Written {
        hdr.write(out, layout, endian)
    }
}

/// What [`HeaderCodec::read`] gives: the header and the bytes after it.
pub type Read<'a> = Result<(VnetHdr, &'a [u8]), HdrError>;
/// What [`HeaderCodec::write`] gives: the bytes written.
pub type Written = Result<usize, HdrError>;

/// Filler for bytes a write must not touch.
const FILL: u8 = 0xA5;

/// L1a: `read(write(h)) == h` for a header `h` that fits `layout`; the write takes exactly
/// `layout.size()` bytes and leaves the rest of the buffer alone.
pub fn read_of_write<C: HeaderCodec>(
    codec: &C,
    hdr: &VnetHdr,
    layout: Layout,
    endian: Endian,
) -> Result<(), TestCaseError> {
    let mut buf = [FILL; 32];
    let n = codec
        .write(hdr, &mut buf, layout, endian)
        .map_err(|e| TestCaseError::fail(format!("write of a fitting header failed: {e}")))?;
    prop_assert_eq!(n, layout.size());
    prop_assert!(
        buf[n..].iter().all(|&b| b == FILL),
        "write touched bytes past the layout"
    );
    let (back, rest) = codec
        .read(&buf, layout, endian)
        .map_err(|e| TestCaseError::fail(format!("read of a written header failed: {e}")))?;
    prop_assert_eq!(&back, hdr);
    prop_assert_eq!(rest.len(), buf.len() - n);
    Ok(())
}

/// L1b: `write(read(b)) == b[..size]` for every byte string `b` that reads; one that does not read
/// is shorter than the layout.
pub fn write_of_read<C: HeaderCodec>(
    codec: &C,
    bytes: &[u8],
    layout: Layout,
    endian: Endian,
) -> Result<(), TestCaseError> {
    let size = layout.size();
    match codec.read(bytes, layout, endian) {
        Ok((hdr, rest)) => {
            prop_assert_eq!(rest, &bytes[size..]);
            let mut out = [FILL; 24];
            prop_assert_eq!(codec.write(&hdr, &mut out, layout, endian), Ok(size));
            prop_assert_eq!(&out[..size], &bytes[..size]);
        }
        Err(e) => prop_assert_eq!(
            e,
            HdrError::Truncated {
                need: size,
                have: bytes.len()
            }
        ),
    }
    Ok(())
}

/// L1c: two codecs agree on every read (value and error) and every write (result and bytes),
/// including writes of headers that do not fit and into buffers that are too short.
pub fn codecs_agree<A: HeaderCodec, B: HeaderCodec>(
    a: &A,
    b: &B,
    bytes: &[u8],
    hdr: &VnetHdr,
    layout: Layout,
    endian: Endian,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.read(bytes, layout, endian), b.read(bytes, layout, endian));
    for len in [bytes.len().min(24), 24] {
        let (mut out_a, mut out_b) = ([FILL; 24], [FILL; 24]);
        let ra = a.write(hdr, &mut out_a[..len], layout, endian);
        let rb = b.write(hdr, &mut out_b[..len], layout, endian);
        prop_assert_eq!(ra, rb);
        prop_assert_eq!(out_a, out_b);
    }
    Ok(())
}
