//! `hdr_read`: the virtio-net header codec is a bijection on its bytes (R5, R6, R11-R13, law L1).

use vnet_core::hdr::{Endian, HdrError, Layout, VnetHdr};

/// For every layout and byte order: reading `data` and writing the header back gives the same
/// bytes; a short buffer is `Truncated` with the right counts; `Native` is the host's order; the
/// tunnel offsets read the same in either order (they are always little-endian, R13).
pub fn hdr_read(data: &[u8]) {
    for layout in Layout::ALL {
        let size = layout.size();
        let mut by_order = [None; 3];
        for (slot, endian) in by_order
            .iter_mut()
            .zip([Endian::Little, Endian::Big, Endian::Native])
        {
            let read = VnetHdr::read(data, layout, endian);
            let Some(head) = data.get(..size) else {
                let truncated = HdrError::Truncated {
                    need: size,
                    have: data.len(),
                };
                assert_eq!(read, Err(truncated), "{layout:?} {endian:?}");
                continue;
            };
            let (hdr, rest) = read.expect("a buffer as long as the layout reads");
            assert_eq!(rest, &data[size..], "rest is what follows the header");
            assert_eq!(hdr.check_fits(layout), Ok(()), "what was read fits");
            let mut out = [0u8; 24];
            assert_eq!(hdr.write(&mut out, layout, endian), Ok(size));
            assert_eq!(
                &out[..size],
                head,
                "{layout:?} {endian:?}: write(read(b)) == b"
            );
            assert_eq!(
                hdr.write(&mut out[..size - 1], layout, endian),
                Err(HdrError::Truncated {
                    need: size,
                    have: size - 1
                })
            );
            *slot = Some(hdr);
        }
        let [Some(le), Some(be), Some(native)] = by_order else {
            continue;
        };
        // Debug names every flag and type byte without panicking (once: it is the slow part).
        assert!(!format!("{le:?}").is_empty());
        let host = if cfg!(target_endian = "big") { be } else { le };
        assert_eq!(native, host, "Native is the host's order");
        assert_eq!((le.flags, le.gso_type), (be.flags, be.gso_type));
        assert_eq!(
            (le.outer_th_offset, le.inner_nh_offset),
            (be.outer_th_offset, be.inner_nh_offset),
            "R13: the tunnel offsets are little-endian in every order"
        );
        // A header read from one layout never needs a larger one, and fits every larger one.
        for larger in Layout::ALL.into_iter().filter(|l| l.size() >= size) {
            assert_eq!(le.check_fits(larger), Ok(()));
        }
    }
}
