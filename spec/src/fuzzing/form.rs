//! The pieces that the structured inputs' byte forms share: the virtio-net header as they carry
//! it, and an option byte of named bits. One home, so that `check`, `gso`, `gro` and `meta` read
//! and write them alike and their committed seeds stay byte for byte what they were.

use vnet_core::hdr::{Endian, Layout, VnetHdr};
use vnet_core::kernel::Profile;
use vnet_core::wire::Link;

use crate::kernels::{kernel_from_index, kernel_index};

/// The header's size in the byte form: the 24-byte layout, which every field fits.
pub(super) const HDR: usize = 24;

/// The header at the start of `data` (the 24-byte layout, little-endian) and the bytes after it;
/// `None` if `data` is shorter.
pub(super) fn read_hdr(data: &[u8]) -> Option<(VnetHdr, &[u8])> {
    VnetHdr::read(data, Layout::V1HashTunnel, Endian::Little).ok()
}

/// Appends `hdr` as [`read_hdr`] reads it.
pub(super) fn push_hdr(out: &mut Vec<u8>, hdr: &VnetHdr) {
    let at = out.len();
    out.resize(at + HDR, 0);
    hdr.write(&mut out[at..], Layout::V1HashTunnel, Endian::Little)
        .expect("every header fits the 24-byte layout");
}

/// The start that `check`'s and `gso`'s byte forms share, as [`read_head`] reads it: the header,
/// the option byte `bits` with the kernel profile's index at `kernel_shift`, and the profile's
/// `udp_max_segments` (little-endian).
pub(super) fn head(hdr: &VnetHdr, bits: u8, kernel: &Profile, kernel_shift: u8) -> Vec<u8> {
    let mut out = Vec::new();
    push_hdr(&mut out, hdr);
    out.push(bits | kernel_index(kernel) << kernel_shift);
    out.extend_from_slice(&kernel.udp_max_segments.to_le_bytes());
    out
}

/// The header, the option byte and the kernel profile that [`head`] wrote, and the bytes after
/// them; `None` if `data` is shorter.
pub(super) fn read_head(data: &[u8], kernel_shift: u8) -> Option<(VnetHdr, u8, Profile, &[u8])> {
    let (hdr, rest) = read_hdr(data)?;
    let (&[bits, lo, hi], rest) = rest.split_first_chunk::<3>()?;
    let kernel = kernel_from_index(bits >> kernel_shift, u16::from_le_bytes([lo, hi]));
    Some((hdr, bits, kernel, rest))
}

/// An option byte from (set?, bit) pairs: the bits of those that are set.
pub(super) fn bits(flags: &[(bool, u8)]) -> u8 {
    flags
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |bits, (_, bit)| bits | bit)
}

/// The link an option byte's TAP bit names: TAP if set, else TUN.
pub(super) fn link(tap: bool) -> Link {
    if tap { Link::Tap } else { Link::Tun }
}
