//! vnet-core: the virtio-net offload logic, with no I/O, no allocation and no `unsafe`.
//!
//! Every function here is a pure function over caller-provided slices, so the same code runs in a
//! VMM, a VPN, a user-space network stack or bare-metal firmware. Rule ids (V*, S*, G*, C*, M*) in
//! doc comments refer to `spec/RULES.md`, where each is traced to the kernel, the virtio spec or
//! OpenVMM.
//!
//! # Walkthrough: validate, segment, coalesce
//!
//! A TUN reader gets a virtio-net header and a TCP/IPv4 super-packet. [`check`] says what the
//! header asks for (here: segment it), [`gso`] writes the segments, and [`gro`] coalesces them back
//! into the super-packet and its header (law L6). Every error converts into [`Error`], so one `?`
//! serves all three steps. Everything works in caller buffers; the `Vec`s here are the doctest's.
//!
//! ```
//! use vnet_core::check::{self, CheckOptions, Offload};
//! use vnet_core::csum;
//! use vnet_core::gro::{Gro, GroOptions, Output};
//! use vnet_core::gso::{self, GsoOptions};
//! use vnet_core::hdr::{Endian, Flags, GsoType, Layout, VnetHdr};
//!
//! fn main() -> Result<(), vnet_core::Error> {
//!     const MSS: usize = 1000;
//!     let (src, dst) = ([192, 0, 2, 1], [198, 51, 100, 7]);
//!     let len = 20 + 20 + 3 * MSS;
//!
//!     // IPv4 (DF, ID 7, TTL 64, TCP), TCP (ACK|PSH) and 3,000 payload bytes. With NEEDS_CSUM the
//!     // TCP checksum field holds the pseudo-header sum (C3).
//!     let mut pkt = vec![0u8; len];
//!     pkt[..12].copy_from_slice(&[0x45, 0, (len >> 8) as u8, len as u8, 0, 7, 0x40, 0, 64, 6, 0, 0]);
//!     pkt[12..16].copy_from_slice(&src);
//!     pkt[16..20].copy_from_slice(&dst);
//!     let ip_sum = csum::finish(csum::sum(&pkt[..20]));
//!     pkt[10..12].copy_from_slice(&ip_sum.to_be_bytes());
//!     pkt[20..24].copy_from_slice(&[0xc8, 0x22, 0x01, 0xbb]); // ports 51234 -> 443
//!     pkt[24..28].copy_from_slice(&1000u32.to_be_bytes()); // sequence number
//!     pkt[32..36].copy_from_slice(&[0x50, 0x18, 0xff, 0xff]); // offset 5, ACK|PSH, window
//!     let pseudo = csum::pseudo_header_v4(src, dst, 6, (len - 20) as u16);
//!     pkt[36..38].copy_from_slice(&pseudo.to_be_bytes());
//!     for (i, b) in pkt[40..].iter_mut().enumerate() {
//!         *b = i as u8;
//!     }
//!
//!     // The header as the device hands it over (12-byte layout, little-endian).
//!     let asked = VnetHdr {
//!         flags: Flags::NEEDS_CSUM,
//!         gso_type: GsoType::TCPV4,
//!         hdr_len: 40,
//!         gso_size: MSS as u16,
//!         csum_start: 20,
//!         csum_offset: 16,
//!         ..VnetHdr::EMPTY
//!     };
//!     let mut raw = [0u8; 12];
//!     asked.write(&mut raw, Layout::V1, Endian::Little)?;
//!     let (hdr, _) = VnetHdr::read(&raw, Layout::V1, Endian::Little)?;
//!
//!     // 1. Validate: the kernel's rules for a TUN write (V1-V7, T14).
//!     let Offload::Segment(req) = check::check(&hdr, &pkt, &CheckOptions::DEFAULT)? else {
//!         unreachable!("a TCPV4 header asks for segmentation");
//!     };
//!
//!     // 2. Segment: three MSS-sized segments with their own lengths, IDs, sequence numbers
//!     // and checksums. The first buffer has room for the whole packet: GRO grows it there.
//!     let mut first = vec![0u8; len];
//!     let mut rest = vec![vec![0u8; 40 + MSS]; 2];
//!     let [b1, b2] = &mut rest[..] else { unreachable!() };
//!     let mut bufs: [&mut [u8]; 3] = [&mut first, b1, b2];
//!     let mut lens = [0usize; 3];
//!     let n = gso::segment_into(&req, &pkt, &GsoOptions::DEFAULT, &mut bufs, &mut lens)?;
//!     assert_eq!((n, lens), (3, [40 + MSS; 3]));
//!
//!     // 3. Coalesce: the segments merge back into one packet in the first buffer. `Gro` holds
//!     // up to 8 flows, as Linux does; `Gro<64>` would hold 64.
//!     let mut gro: Gro = Gro::new(GroOptions::DEFAULT);
//!     let mut out = [Output::default(); 3];
//!     let mut owner = [0usize; 3];
//!     let n = gro.coalesce(&mut bufs, &lens, &mut out, &mut owner)?;
//!     assert_eq!((n, out[0].segments, owner), (1, 3, [0, 0, 0]));
//!     assert_eq!(out[0].hdr, hdr);
//!     assert_eq!(&bufs[out[0].index][..out[0].len], &pkt[..]);
//!     Ok(())
//! }
//! ```
#![no_std]
#![forbid(unsafe_code)]
// No indexing outside tests (an index is a panic path); tests index the frames and golden
// arrays they built, where a panic is a test failure.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

// Tests use std; so does `arbitrary`'s derive (a fuzzing-only feature).
#[cfg(any(test, feature = "arbitrary"))]
extern crate std;

// First: its macros serve the modules after it.
#[macro_use]
mod flag_names;

#[macro_use]
mod options;
pub mod check;
pub mod csum;
mod dissect;
pub mod error;
pub mod gro;
pub mod gso;
pub mod hdr;
pub mod kernel;
pub mod meta;
pub mod virtio;
pub mod wire;

pub use error::Error;
