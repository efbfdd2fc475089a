//! Fuzz harnesses: one law per target, called by the thin targets in the workspace's `fuzz/`.
//!
//! Each harness takes what libFuzzer hands it, runs vnet-core on it, and asserts what must hold for
//! *every* input: a round trip gives back the bytes, an accepted request lies inside its packet, a
//! fast sum equals the obvious one. A panic is a finding. The harnesses are ordinary functions, so
//! they build and run on stable: `tests/fuzz_corpus.rs` replays every committed corpus and
//! regression file through them in `cargo test`, and [`seeds`] writes the seed corpora.
//!
//! | target    | harness       | law                                                             |
//! |-----------|---------------|-----------------------------------------------------------------|
//! | `hdr_read`| [`hdr_read`]  | every layout, every byte order: read then write gives the bytes |
//! | `check`   | [`check`]     | never panics; what it accepts is inside the packet and consistent with the header |
//! | `wire`    | [`wire`]      | every view and `parse_headers`: checked lengths hold, offsets in bounds, setters read back |
//! | `csum`    | [`csum`]      | the fast sums equal the RFC 1071 loop, at any split             |

mod check;
mod csum;
mod hdr;
pub mod seeds;
mod wire;

pub use check::{
    CheckInput, OPT_LAYOUT_SHIFT, OPT_STRICT, OPT_TAP, OPT_TUNNEL, OPT_TUNNEL_CSUM, check,
};
pub use csum::{csum, reference_sum};
pub use hdr::hdr_read;
pub use wire::wire;

/// A harness on a fuzz input's raw bytes.
pub type Harness = fn(&[u8]);

/// The fuzz targets, by directory name under `fuzz/corpus/` and `fuzz/regressions/`, with the
/// harness each one's raw bytes go to (the `check` target decodes its bytes as a [`CheckInput`]).
pub const TARGETS: [(&str, Harness); 4] = [
    ("hdr_read", hdr_read),
    ("check", check::check_bytes),
    ("wire", wire),
    ("csum", csum),
];
