//! vnet-spec: the executable specification of vnet.
//!
//! - `RULES.md` (beside this crate's manifest): every rule, with its id and its source.
//! - [`model`]: reference models written straight from the rules: slow, short and obvious.
//! - [`strategy`]: the proptest strategies, in one home.
//! - [`laws`]: the laws (L1-L7), generic over small traits, so that vnet-core, the reference
//!   models and peers are all held to the same laws.
//! - [`gro_selftest`]: the kernel GRO selftest's cases as one table (name, train, what Linux
//!   delivers), for the GRO tests and the fuzz seeds.
//! - [`kernels`]: the kernel profiles a law or fuzz input can name by index.
//! - `fuzzing` (feature `fuzzing`): the fuzz harnesses that `fuzz/`'s targets call.

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

#[cfg(test)]
mod tests {
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
