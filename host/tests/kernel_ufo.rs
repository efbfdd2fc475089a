//! Facts about the kernel's UFO (gso_type UDP, S3a) measured on the running kernel, printed and
//! asserted: K7 (IPv4: fragments of exactly gso_size bytes, offsets rounded down to 8-byte units,
//! DF cleared, one ID, the UDP checksum over the whole datagram) and K8 (IPv6: a fragment header
//! inserted after the extension headers, an identification that changes from one datagram to the
//! next, offsets that count the extension headers). The byte-for-byte comparison with vnet-core
//! is `kernel_gso.rs`'s `kernel_gso_ufo_v4_v6`.

#![allow(clippy::indexing_slicing)]

mod common;

use common::{hdr_hex, hex};
use vnet_core::hdr::{Flags, GsoType, VnetHdr};
use vnet_host::kernel::{KernelSegmenter, undo_forwarding};
use vnet_host::netns::require_root;
use vnet_spec::model::gso::ones_sum;
use vnet_spec::packet::{PacketSpec, v6_dest_opts};

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Writes `spec` as a UFO super-packet (NEEDS_CSUM, pseudo-header sum in the field) and returns
/// the kernel's fragments, forwarding undone.
fn ufo(seg: &KernelSegmenter, spec: &PacketSpec, gso_size: u16) -> Vec<Vec<u8>> {
    let pkt = spec.build_partial();
    let l4 = spec.l4_offset();
    let hdr = VnetHdr {
        flags: Flags::NEEDS_CSUM,
        gso_type: GsoType::UDP,
        gso_size,
        csum_start: l4 as u16,
        csum_offset: 6,
        ..VnetHdr::default()
    };
    let out: Vec<Vec<u8>> = seg
        .segment(&hdr, &pkt)
        .unwrap_or_else(|e| panic!("UFO write refused ({e}): {} {}", hdr_hex(&hdr), hex(&pkt)))
        .iter()
        .map(|s| undo_forwarding(s))
        .collect();
    report!(
        "fact UFO {} ext {} gso_size {gso_size}: {} fragments of {:?} bytes",
        if spec.v6 { "IPv6" } else { "IPv4" },
        spec.l4_offset() - if spec.v6 { 40 } else { 20 },
        out.len(),
        out.iter().map(Vec::len).collect::<Vec<_>>()
    );
    out
}

#[test]
fn fact_k7_ipv4_ufo_is_not_rounded() {
    if !require_root("fact_k7_ipv4_ufo_is_not_rounded") {
        return;
    }
    let seg = KernelSegmenter::new().expect("kernel segmenter");
    // 308 bytes of UDP datagram in fragments of 100: 100, 100, 100, 8 (not 96 ...).
    let out = ufo(&seg, &PacketSpec::udp4(300), 100);
    assert_eq!(
        out.iter().map(Vec::len).collect::<Vec<_>>(),
        [120, 120, 120, 28]
    );
    let words: Vec<u16> = out.iter().map(|f| be16(f, 6)).collect();
    report!("fact K7: IPv4 fragment words {words:04x?} (offset = floor(bytes before / 8), MF)");
    assert_eq!(words, [0x2000, 0x2000 | 12, 0x2000 | 25, 37]);
    assert!(out.iter().all(|f| be16(f, 4) == 0x1234), "one ID");
    // The UDP checksum covers the whole datagram.
    let mut datagram = Vec::new();
    for f in &out {
        datagram.extend_from_slice(&f[20..]);
    }
    let spec = PacketSpec::udp4(300);
    let ph = spec.pseudo_header(datagram.len());
    assert_eq!(
        ones_sum(&[&ph.to_be_bytes()[..], &datagram].concat()),
        0xFFFF
    );
    // gso_size below 8 is segmented too: 28 bytes in 3-byte fragments.
    let out = ufo(&seg, &PacketSpec::udp4(20), 3);
    assert_eq!(out.len(), 10);
}

#[test]
fn fact_k8_ipv6_ufo_inserts_a_fragment_header() {
    if !require_root("fact_k8_ipv6_ufo_inserts_a_fragment_header") {
        return;
    }
    let seg = KernelSegmenter::new().expect("kernel segmenter");
    let plain = PacketSpec::udp6(300);
    let a = ufo(&seg, &plain, 104);
    let b = ufo(&seg, &plain, 104);
    assert_eq!(a.len(), 3);
    let id = |f: &[u8]| u32::from_be_bytes(f[44..48].try_into().unwrap());
    report!(
        "fact K8: IPv6 UFO fragment header {} ; the same datagram again: id {:08x} vs {:08x}",
        hex(&a[0][40..48]),
        id(&a[0]),
        id(&b[0])
    );
    assert_eq!(a[0][6], 44, "the IPv6 header names the fragment header");
    assert!(a.iter().all(|f| id(f) == id(&a[0])), "one identification");
    assert_ne!(id(&a[0]), id(&b[0]), "a new identification per datagram");
    let words: Vec<u16> = a.iter().map(|f| be16(f, 42)).collect();
    assert_eq!(words, [0x0001, 104 | 1, 208]);
    // With an 8-byte destination-options header, the header stays before the fragment header and
    // every offset counts it: 0, 112, 224 instead of 0, 104, 208.
    let mut dst = PacketSpec::udp6(300);
    dst.v6_ext.push(v6_dest_opts(8));
    let out = ufo(&seg, &dst, 104);
    let words: Vec<u16> = out.iter().map(|f| be16(f, 50)).collect();
    report!("fact K8: with 8 bytes of destination options, offset words {words:04x?}");
    assert_eq!(out[0][40], 44);
    assert_eq!(words, [0x0001, 112 | 1, 224]);
    // gso_size not a multiple of 8: the byte count is written whole, spilling into reserved bits.
    let out = ufo(&seg, &plain, 100);
    let words: Vec<u16> = out.iter().map(|f| be16(f, 42)).collect();
    assert_eq!(words, [0x0001, 100 | 1, 200 | 1, 300]);
}
