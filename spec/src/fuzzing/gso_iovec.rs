//! `gso_iovec`: law L9 on any (header, options, packet): the iovec form (S6) of the packet, whole
//! and cut into pieces, equals the contiguous form, refusals included, and writes nothing on a
//! short header buffer or stride.
//!
//! The input is a [`GsoInput`] in its byte form, so that the `gso` corpus seeds this target too;
//! its bytes mean here: `delta` and `extra` seed the cut points (`extra % 8` cuts) and the gap
//! between headers (`delta % 17`), `twist` twists the request as in `gso`.

use vnet_core::check::{self, Offload};

use super::gso::{GsoInput, twist};
use crate::laws::gso::{check_options, cut, iovec_equals_contiguous};

/// The cut points a `delta`, `extra` pair stands for: `extra % 8` positions from a splitmix
/// sequence (taken modulo the packet's length + 1 by [`cut`]).
pub fn cuts(delta: i8, extra: i8) -> Vec<usize> {
    let mut state = u64::from(delta as u8) << 8 | u64::from(extra as u8);
    (0..(extra as u8) % 8)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as usize
        })
        .collect()
}

/// Runs `check` as the `gso` target does; for a segmentation request, asserts L9
/// ([`iovec_equals_contiguous`]) on the packet whole, cut at the input's points, and cut after
/// every byte of its first 80 (headers split everywhere), then the same for the twisted request.
pub fn gso_iovec(input: &GsoInput) {
    let packet = &input.packet;
    let Ok(Offload::Segment(req)) = check::check(&input.hdr, packet, &check_options(&input.opts))
    else {
        return;
    };
    let gap = usize::from(input.delta as u8 % 17);
    let every: Vec<usize> = (1..80.min(packet.len())).collect();
    let shapes = [vec![], cuts(input.delta, input.extra), every];
    let mut requests = vec![req];
    if input.twist != 0 {
        requests.push(twist(&req, input.twist));
    }
    for r in &requests {
        for c in &shapes {
            let pieces = cut(packet, c);
            if let Err(e) = iovec_equals_contiguous(r, packet, &pieces, &input.opts, gap) {
                panic!("{} pieces, request {r:?}: {e}", pieces.len());
            }
        }
    }
}
