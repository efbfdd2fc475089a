//! vnet-spec: the executable specification of vnet.
//!
//! - `RULES.md` (beside this crate's manifest): every rule, with its id and its source.
//! - [`model`]: reference models written straight from the rules: slow, short and obvious.
//! - [`strategy`]: the proptest strategies, in one home.
//! - [`laws`]: the laws (L1-L7), generic over small traits, so that vnet-core, the reference
//!   models and peers are all held to the same laws.
//! - [`kernels`]: the kernel profiles a law or fuzz input can name by index.
//! - `fuzzing` (feature `fuzzing`): the fuzz harnesses that `fuzz/`'s targets call.

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod kernels;
pub mod laws;
pub mod model;
pub mod packet;
pub mod strategy;

use proptest::test_runner::{Config, FileFailurePersistence};

/// The proptest configuration every law uses: failure seeds persist in the workspace's top-level
/// `proptest-regressions/NAME.txt` (committed, and replayed by every run); `PROPTEST_CASES`
/// overrides the case count (default 256); under Miri the count drops to 4.
pub fn config(name: &str) -> Config {
    let path = format!(
        "{}/../proptest-regressions/{name}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut config = Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(Box::leak(
            path.into_boxed_str(),
        )))),
        ..Config::default()
    };
    if cfg!(miri) {
        config.cases = 4;
    }
    config
}
