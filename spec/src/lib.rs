//! vnet-spec: the executable specification of vnet.
//!
//! - `RULES.md` (beside this crate's manifest): every rule, with its id and its source.
//! - [`model`]: reference models written straight from the rules: slow, short and obvious.
//! - [`strategy`]: the proptest strategies, in one home.
//! - [`laws`]: the laws (L1-L7), generic over small traits, so that vnet-core, the reference
//!   models and peers are all held to the same laws.
//! - [`conformance`]: the laws as a kit: an implementation of the traits in, a [`Report`] of
//!   every law out (`CONFORMANCE.md`, beside this crate's manifest, is the how-to).
//! - [`gro_selftest`]: the kernel GRO selftest's cases as one table (name, train, what Linux
//!   delivers), for the GRO tests and the fuzz seeds.
//! - [`kernels`]: the kernel profiles a law or fuzz input can name by index.
//! - `fuzzing` (feature `fuzzing`): the fuzz harnesses that `fuzz/`'s targets call.

pub mod conformance;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod gro_selftest;
pub mod kernels;
pub mod laws;
pub mod model;
pub mod strategy;

/// The packet builder and reference checksum live in their own crate, vnet-packet (one builder
/// for core's unit tests, spec, host, fuzz and bench); re-exported so `vnet_spec::packet::PacketSpec`
/// keeps working.
pub use vnet_packet as packet;

pub use conformance::{Report, Suite};

use std::path::{Path, PathBuf};

use proptest::test_runner::{Config, FileFailurePersistence};

/// The proptest configuration every law uses, for vnet's own tests and for an outside crate's:
/// failure seeds persist in `NAME.txt` in [`regressions_dir`] (for vnet, the committed top-level
/// `proptest-regressions/`; for an outside crate, its own, never vnet-spec's directory in the
/// cargo registry), and are replayed by every run; `PROPTEST_CASES` overrides the case count
/// (default 256); under Miri the count drops to 4.
pub fn config(name: &str) -> Config {
    config_in(regressions_dir().as_deref(), name)
}

/// Property tests that run under [`config`] by their own name (failure seeds in `NAME.txt`):
/// each `fn name(arg in strategy, ...) { ... }` becomes a `proptest!` test configured by
/// `config("name")`, so a test's name and its seed file's are one. It expands to
/// `proptest::proptest!`: the calling crate depends on `proptest`, as its strategies do.
///
/// ```ignore
/// vnet_spec::law_tests! {
///     /// L1a: ...
///     fn l1_read_of_write(hdr in vnet_hdr_any()) {
///         read_of_write(&Core, &hdr, Layout::V1, Endian::Little)?;
///     }
/// }
/// ```
#[macro_export]
macro_rules! law_tests {
    ($($(#[$attr:meta])* fn $name:ident($($args:tt)*) $body:block)+) => {$(
        proptest::proptest! {
            #![proptest_config($crate::config(stringify!($name)))]
            $(#[$attr])*
            #[test]
            fn $name($($args)*) $body
        }
    )+};
}

/// [`config`] with failure seeds in `DIR/NAME.txt` (none saved when `dir` is `None`).
pub fn config_in(dir: Option<&Path>, name: &str) -> Config {
    let failure_persistence = dir.map(|dir| {
        let path = dir
            .join(format!("{name}.txt"))
            .to_string_lossy()
            .into_owned();
        let path: &'static str = Box::leak(path.into_boxed_str());
        Box::new(FileFailurePersistence::Direct(path)) as Box<_>
    });
    let mut config = Config {
        failure_persistence,
        ..Config::default()
    };
    if cfg!(miri) {
        config.cases = 4;
    }
    config
}

/// Where failure seeds go: the nearest `proptest-regressions/` directory from the running test's
/// package upwards while inside its workspace (directories with a `Cargo.toml`), else
/// `proptest-regressions/` in that package (created on the first failure). The package is the
/// one whose test runs (`CARGO_MANIFEST_DIR`, which `cargo test` sets at run time), so a crate
/// that depends on vnet-spec keeps its seeds beside its own tests. `None` (no seeds saved) when
/// the test does not run under cargo.
pub fn regressions_dir() -> Option<PathBuf> {
    let package = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let found = package
        .ancestors()
        .take_while(|d| d.join("Cargo.toml").is_file())
        .map(|d| d.join("proptest-regressions"))
        .find(|d| d.is_dir());
    Some(found.unwrap_or_else(|| package.join("proptest-regressions")))
}

/// `CONFORMANCE.md`'s example runs as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../CONFORMANCE.md")]
pub struct ConformanceMd;

#[cfg(test)]
mod tests {
    /// vnet's own seeds stay in the workspace's top-level `proptest-regressions/`.
    #[test]
    fn own_seeds_stay_at_the_workspace_root() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert_eq!(
            crate::regressions_dir().unwrap().canonicalize().unwrap(),
            root.join("proptest-regressions").canonicalize().unwrap()
        );
    }

    use vnet_core::csum;
    use vnet_core::wire::{self, Link};

    /// vnet-packet's builder and vnet-core's parser and checksum agree on every offset and sum.
    #[test]
    fn built_packets_parse_and_verify() {
        for spec in crate::packet::samples() {
            let pkt = spec.build();
            let link = if spec.ethernet.is_some() {
                Link::Tap
            } else {
                Link::Tun
            };
            let h = wire::parse_headers(&pkt, link).unwrap();
            assert_eq!(h.l4_offset, spec.l4_offset(), "{spec:?}");
            assert_eq!(h.protocol.0, spec.protocol());
            let l4 = &pkt[spec.l4_offset()..];
            assert_eq!(
                csum::combine(spec.pseudo_header(l4.len()), csum::sum(l4)),
                0xffff
            );
            if !spec.v6 {
                let ip = &pkt[spec.l3_offset()..spec.l4_offset()];
                assert!(csum::verify(ip));
            }
        }
    }
}
