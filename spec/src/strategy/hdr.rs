//! Strategies for virtio-net headers, their layouts and byte orders, and raw bytes.

use proptest::prelude::*;
use proptest::sample::select;
use vnet_core::hdr::{Endian, Flags, GsoType, Layout, VnetHdr};

/// Any of the four layouts.
pub fn layout_any() -> impl Strategy<Value = Layout> {
    select(Layout::ALL.to_vec())
}

/// Any byte order, `Native` included.
pub fn endian_any() -> impl Strategy<Value = Endian> {
    select(vec![Endian::Little, Endian::Big, Endian::Native])
}

/// Any byte string of at most `max_len` bytes.
pub fn bytes_any(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max_len)
}

/// Any header: every field any value (most do not fit the smaller layouts).
pub fn vnet_hdr_any() -> impl Strategy<Value = VnetHdr> {
    (
        (any::<u8>(), any::<u8>(), any::<u16>(), any::<u16>()),
        (any::<u16>(), any::<u16>(), any::<u16>()),
        (any::<u32>(), any::<u16>(), any::<u16>()),
        (any::<u16>(), any::<u16>()),
    )
        .prop_map(|(a, b, c, d)| VnetHdr {
            flags: Flags(a.0),
            gso_type: GsoType(a.1),
            hdr_len: a.2,
            gso_size: a.3,
            csum_start: b.0,
            csum_offset: b.1,
            num_buffers: b.2,
            hash_value: c.0,
            hash_report: c.1,
            hash_padding: c.2,
            outer_th_offset: d.0,
            inner_nh_offset: d.1,
        })
}

/// `h` with the fields that `layout` has no room for set to zero.
pub fn fit(mut h: VnetHdr, layout: Layout) -> VnetHdr {
    if layout.size() < 12 {
        h.num_buffers = 0;
    }
    if layout.size() < 20 {
        h.hash_value = 0;
        h.hash_report = 0;
        h.hash_padding = 0;
    }
    if layout.size() < 24 {
        h.outer_th_offset = 0;
        h.inner_nh_offset = 0;
    }
    h
}

/// Any header that fits `layout`: every field the layout has is any value, the others are zero.
pub fn vnet_hdr_with(layout: Layout) -> impl Strategy<Value = VnetHdr> {
    vnet_hdr_any().prop_map(move |h| fit(h, layout))
}

/// A layout, a byte order and a header that fits the layout.
pub fn layout_endian_hdr() -> impl Strategy<Value = (Layout, Endian, VnetHdr)> {
    (layout_any(), endian_any(), vnet_hdr_any()).prop_map(|(l, e, h)| (l, e, fit(h, l)))
}

/// Headers near the rules' edges, for reaching deep into `check` and `meta`: known flags and GSO
/// types (and, rarely, any byte), small offsets around the usual header lengths, and segment
/// sizes 0, small, typical or 0xFFFF. Header-only fields are any value.
pub fn vnet_hdr_plausible() -> impl Strategy<Value = VnetHdr> {
    let flags = prop_oneof![
        4 => select(vec![0u8, 1, 2, 3, 8, 9]),
        1 => any::<u8>(),
    ];
    let gso = prop_oneof![
        4 => select(vec![0u8, 1, 3, 4, 5, 0x81, 0x84, 0x21, 0x45, 0x60]),
        1 => any::<u8>(),
    ];
    let offset = prop_oneof![0u16..=80, select(vec![6u16, 16]), any::<u16>()];
    let size = prop_oneof![select(vec![0u16, 1, 536, 1448, 1460, 0xFFFF]), any::<u16>()];
    (
        flags,
        gso,
        0u16..=200,
        size,
        offset.clone(),
        offset,
        vnet_hdr_any(),
    )
        .prop_map(
            |(flags, gso, hdr_len, gso_size, csum_start, csum_offset, rest)| VnetHdr {
                flags: Flags(flags),
                gso_type: GsoType(gso),
                hdr_len,
                gso_size,
                csum_start,
                csum_offset,
                ..rest
            },
        )
}
