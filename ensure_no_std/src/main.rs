//! check + gso (copying and iovec) + gro (copying and iovec), and the virtio feature negotiation
//! with its receive header, linked for thumbv7em-none-eabihf at opt-level "s", to measure `.text`.
//!
//! `cargo build --release --target thumbv7em-none-eabihf`; with `--features no-panic-handler` the
//! panic handler calls an undefined symbol, so the link succeeds only if no panic path is left.
#![no_std]
#![no_main]

use core::hint::black_box;
use vnet_core::check::{self, CheckOptions, Offload};
use vnet_core::gro::{Gro, GroOptions, IovOutput, Output};
use vnet_core::gso::{self, GsoOptions};
use vnet_core::hdr::VnetHdr;
use vnet_core::meta::RxMetadata;
use vnet_core::virtio::{self, Features};

/// The entry point: runs the three on buffers the optimiser cannot see through.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let mut pkt = [0u8; 1600];
    let mut seg0 = [0u8; 1600];
    let mut seg1 = [0u8; 1600];
    let mut lens = [0usize; 2];
    let hdr: VnetHdr = black_box(VnetHdr::default());
    let pkt = black_box(&mut pkt);
    if let Ok(Offload::Segment(req)) = check::check(&hdr, pkt, &CheckOptions::default()) {
        let mut bufs: [&mut [u8]; 2] = [&mut seg0, &mut seg1];
        let _ = black_box(gso::segment_into(
            &req,
            pkt,
            &GsoOptions::default(),
            &mut bufs,
            &mut lens,
        ));
        // The iovec form (S6) on the packet in two pieces, headers into `seg0` at a stride.
        let (a, b) = pkt.split_at_checked(black_box(7)).unwrap_or((&[], &[]));
        let pieces = [a, b];
        if let Ok(plan) = gso::IovecPlan::new(&req, &pieces, &GsoOptions::default()) {
            let stride = black_box(plan.header_len());
            let _ = black_box(plan.write_headers(&mut seg0, stride));
            for (header, payload) in plan.segments(&seg0, stride) {
                black_box(header);
                for piece in payload {
                    black_box(piece);
                }
            }
        }
    }
    let mut gro = Gro::<8>::new(GroOptions::default());
    let mut batch: [&mut [u8]; 2] = [black_box(&mut seg0[..]), black_box(&mut seg1[..])];
    let blens = black_box([60usize, 60]);
    let mut out = [Output::default(); 2];
    let mut owner = [0usize; 2];
    let _ = black_box(gro.coalesce(&mut batch, &blens, &mut out, &mut owner));
    // The iovec form (G9) on the same two packets, read where they lie.
    let pkts: [&[u8]; 2] = [black_box(&seg1[..60]), black_box(&seg1[..60])];
    let mut iout = [IovOutput::default(); 2];
    let mut slices: [&[u8]; 2] = [&[]; 2];
    let mut headers = [0u8; 64];
    if let Ok(k) = gro.coalesce_iov(&pkts, &mut iout, &mut owner, &mut slices, &mut headers) {
        for o in iout.iter().take(k) {
            black_box(o.header(&headers));
            black_box(o.payload(&slices));
        }
    }
    let offer = black_box(Features(0x1_0000_1801));
    let accept = black_box(Features(0x1801));
    if let Ok(agreed) = virtio::negotiate(offer, accept) {
        let rx = agreed.rx_header(
            &black_box(RxMetadata::default()),
            core::num::NonZeroU16::MIN,
        );
        let _ = black_box(agreed.read_rx_header(&rx));
        let _ = black_box(agreed.admit(&hdr));
        let _ = black_box(agreed.tap_offloads());
    }
    loop {}
}

#[cfg(not(feature = "no-panic-handler"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

// rustc insists on a `#[panic_handler]`; this one calls a symbol that exists nowhere, so the link
// fails if, and only if, some panic path is still reachable after optimisation.
#[cfg(feature = "no-panic-handler")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    unsafe extern "C" {
        fn vnet_core_has_a_panic_path() -> !;
    }
    // SAFETY: never runs: the symbol is undefined, so a binary that could call it does not link.
    unsafe { vnet_core_has_a_panic_path() }
}
