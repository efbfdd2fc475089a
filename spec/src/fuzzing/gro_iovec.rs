//! `gro_iovec`: law L11 on any batch: the iovec form of GRO (G9, `Gro::coalesce_iov`) equals the
//! contiguous form, and short `out`/`owner`/`slices` are typed errors with nothing written.
//!
//! The input is a [`GroInput`] in its byte form, so that the `gro` corpus seeds this target too;
//! its bytes mean here what they mean there (the batch, the options, the table's size), but for
//! tight capacities (the iovec form has no buffers to grow in) and the faults: `FAULT_OUT_SHORT`
//! and `FAULT_OWNER_SHORT` shorten `out` and `owner` as there, the other kinds shorten `slices`.

use vnet_core::gro::{Gro, GroError, IovOutput};

use super::gro::{FAULT_OUT_SHORT, FAULT_OWNER_SHORT, GroInput, TABLES};
use crate::laws::gro::iovec_equals_contiguous;
use crate::laws::hold;

/// Builds the batch; with a fault (kinds 4-7) asserts the typed error and that nothing was
/// written, else asserts L11 ([`iovec_equals_contiguous`]) with the input's table size.
pub fn gro_iovec(input: &GroInput) {
    let (batch, _) = input.batch();
    let flows = TABLES[usize::from(input.table & 3)];
    let (kind, param) = input.fault;
    let n = batch.len();
    if kind < 4 || n == 0 {
        hold(iovec_equals_contiguous(flows, input.opts, &batch));
        return;
    }
    let short = n - 1 - usize::from(param) % n;
    let (out_len, owner_len, slices_len, slice) = match kind {
        FAULT_OUT_SHORT => (short, n, n, "out"),
        FAULT_OWNER_SHORT => (n, short, n, "owner"),
        _ => (n, n, short, "slices"),
    };
    let sentinel = IovOutput {
        index: usize::MAX,
        ..IovOutput::default()
    };
    let mut out = vec![sentinel; out_len];
    let mut owner = vec![usize::MAX; owner_len];
    let mut slices: Vec<&[u8]> = vec![&[]; slices_len];
    let mut headers = vec![0x5a; 64];
    let r = Gro::<8>::new(input.opts).coalesce_iov(
        &batch,
        &mut out,
        &mut owner,
        &mut slices,
        &mut headers,
    );
    assert_eq!(
        r,
        Err(GroError::SliceTooShort {
            slice,
            need: n,
            have: short
        })
    );
    assert!(
        out.iter().all(|o| *o == sentinel),
        "a failed call wrote out"
    );
    assert!(
        owner.iter().all(|&o| o == usize::MAX),
        "a failed call wrote owner"
    );
    assert!(
        slices.iter().all(|s| s.is_empty()),
        "a failed call wrote slices"
    );
    assert!(
        headers.iter().all(|&b| b == 0x5a),
        "a failed call wrote headers"
    );
}
