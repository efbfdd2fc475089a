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
//! | `csum`    | [`csum`], [`csum_with`] | the fast sums (and the CPU's vector builds) equal the RFC 1071 loop, at any split |
//! | `gso`     | [`gso()`]     | check + segmentation: fast == reference in all three shapes, segments are packets, canaries intact |
//! | `gso_iovec` | [`gso_iovec()`] | L9: the iovec form, whole and in pieces, equals the contiguous form, refusals included |
//! | `gro`     | [`gro()`]     | any batch, capacities, options, faults: every input once, merged outputs are GSO requests, fast == reference |
//! | `meta`    | [`meta()`]    | L3 round trips, header + frame -> metadata, fix-ups verify      |
//! | `gro_gso` | [`gro_gso()`] | L5 (and L6) on trains from arbitrary flow parameters, Linux policy |
//! | `gro_iovec` | [`gro_iovec()`] | L11: the iovec form of GRO equals the contiguous form; short slices are typed errors |

/// `Arbitrary` for a structured input that decodes from the raw bytes the corpus files hold, with
/// its `from_bytes`: the first `fixed` bytes, then the variable `tail` field taken as the fuzzer
/// hands it; or, with no tail, the whole input from one byte string. Too few bytes is
/// `NotEnoughData`; `arbitrary_take_rest` decodes the rest as a corpus file would be.
macro_rules! arbitrary_from_bytes {
    ($t:ident, fixed: $fixed:expr $(, tail: $tail:ident)?) => {
        impl<'a> arbitrary::Arbitrary<'a> for $t {
            fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
                arbitrary_from_bytes!(@decode $t, u, $fixed $(, $tail)?)
            }

            fn arbitrary_take_rest(u: arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
                $t::from_bytes(u.take_rest()).ok_or(arbitrary::Error::NotEnoughData)
            }

            fn size_hint(_depth: usize) -> (usize, Option<usize>) {
                ($fixed, None)
            }
        }
    };
    (@decode $t:ident, $u:ident, $fixed:expr, $tail:ident) => {{
        let fixed = $u.bytes($fixed)?;
        let tail: Vec<u8> = $u.arbitrary()?;
        let mut input = $t::from_bytes(fixed).ok_or(arbitrary::Error::NotEnoughData)?;
        input.$tail = tail;
        Ok(input)
    }};
    (@decode $t:ident, $u:ident, $fixed:expr) => {{
        let bytes: Vec<u8> = $u.arbitrary()?;
        $t::from_bytes(&bytes).ok_or(arbitrary::Error::NotEnoughData)
    }};
}

mod check;
mod csum;
mod form;
mod gro;
mod gro_gso;
mod gro_iovec;
mod gso;
mod gso_iovec;
mod hdr;
mod meta;
pub mod seeds;
mod wire;

pub use check::{
    CheckInput, OPT_KERNEL_SHIFT, OPT_LAYOUT_SHIFT, OPT_STRICT, OPT_TAP, OPT_TUNNEL,
    OPT_TUNNEL_CSUM, check,
};
pub use csum::{csum, csum_with, reference_sum};
pub use gro::{
    FAULT_LEN_EXCEEDS, FAULT_LENS_LONG, FAULT_OUT_SHORT, FAULT_OWNER_SHORT, FLOW_IDS_SHIFT,
    FLOW_TCP_OPTIONS, FLOW_V6_EXT, FlowParams, GRO_OLD_KERNEL, GRO_RELAXED, GRO_TABLE_SHIFT,
    GRO_TIGHT, GRO_TRUSTED, GRO_UDP, GroInput, GroOp, MAX_PACKETS, TABLES, fix_checksums, gro,
    perturb,
};
pub use gro_gso::{GroGsoInput, MAX_SEGMENTS, gro_gso};
pub use gro_iovec::gro_iovec;
pub use gso::{GSO_ACCECN, GSO_FIXED_ID, GSO_KERNEL_SHIFT, GSO_TAP, GsoInput, gso, twist};
pub use gso_iovec::{cuts, gso_iovec};
pub use hdr::hdr_read;
pub use meta::{MetaInput, meta, representable};
pub use wire::wire;

/// A harness on a fuzz input's raw bytes.
pub type Harness = fn(&[u8]);

/// A structured harness on raw bytes (the corpus replay's entry point): bytes `decode` cannot
/// read (too short) are no input.
fn decoded<T>(data: &[u8], decode: fn(&[u8]) -> Option<T>, harness: fn(&T)) {
    if let Some(input) = decode(data) {
        harness(&input);
    }
}

/// The fuzz targets, by directory name under `fuzz/corpus/` and `fuzz/regressions/`, with the
/// harness each one's raw bytes go to (the structured targets decode their bytes with the input
/// type's `from_bytes`: [`CheckInput`], [`GsoInput`], [`GroInput`], [`MetaInput`], [`GroGsoInput`]).
pub const TARGETS: [(&str, Harness); 10] = [
    ("hdr_read", hdr_read),
    ("check", |d| decoded(d, CheckInput::from_bytes, check)),
    ("wire", wire),
    ("csum", csum),
    ("gso", |d| decoded(d, GsoInput::from_bytes, gso)),
    ("gso_iovec", |d| decoded(d, GsoInput::from_bytes, gso_iovec)),
    ("gro", |d| decoded(d, GroInput::from_bytes, gro)),
    ("meta", |d| decoded(d, MetaInput::from_bytes, meta)),
    ("gro_gso", |d| decoded(d, GroGsoInput::from_bytes, gro_gso)),
    ("gro_iovec", |d| decoded(d, GroInput::from_bytes, gro_iovec)),
];
