//! The laws (ARCHITECTURE.md, 'Laws'), each a function generic over the implementation under test,
//! so that the same law runs against vnet-core, the reference models and peers.
//!
//! A law takes its implementation through a small trait ([`hdr::HeaderCodec`],
//! [`csum::Checksummer`], [`meta::MetaTranslator`], [`gso::Segment`], [`gro::Coalesce`]).
//! [`total`] is the exception: totality (L7) is a property of vnet-core's own public functions.
//!
//! **One failure convention**: every law returns `Ok` when it holds and
//! `Err(TestCaseError::fail(message))` when it does not, the message naming the implementation and
//! what differed. So a law runs inside `proptest!` with `?`, in a plain loop with [`hold`], and in
//! [`crate::conformance`], which adds the law's id and the shrunk counterexample. A law panics
//! only when the implementation under test panics (proptest, and so the conformance runner, catch
//! it and report it as that law's failure).
//!
//! One name per role: [`Core`] is vnet-core under test, [`CoreWith`] is vnet-core with its bulk
//! sums taken by another [`Summer`](vnet_core::csum::Summer), and
//! [`Reference`](crate::model::Reference) is the reference models. GRO keeps a flow table and
//! options, so its adapters carry a `Gro` suffix ([`gro::CoreGro`],
//! [`ReferenceGro`](crate::model::gro::ReferenceGro)). A peer is named by its crate (`TunRs` and
//! `TunRsGro` in `bench/src/peers.rs`) and needs one small impl per trait.

pub mod csum;
pub mod gro;
pub mod gso;
pub mod hdr;
pub mod meta;
pub mod total;
pub mod virtio;

use proptest::test_runner::TestCaseError;

/// The law's value, or a panic with its message (for plain loops and fuzz targets, where a
/// failure must stop the run).
#[track_caller]
pub fn hold<T>(law: Result<T, TestCaseError>) -> T {
    law.unwrap_or_else(|e| panic!("{e}"))
}

/// vnet-core, as an implementation under test (every law trait but [`gro::Coalesce`], which
/// [`gro::CoreGro`] implements).
#[derive(Clone, Copy, Debug, Default)]
pub struct Core;

/// vnet-core with its payloads copied and summed by the [`Summer`](vnet_core::csum::Summer) `S`
/// (e.g. a host's AVX2 build, `vnet_host::fastsum`), as an implementation under test: the
/// checksum traits and [`gso::Segment`].
#[derive(Clone, Copy, Debug, Default)]
pub struct CoreWith<S>(pub S);

impl Core {
    /// The summer vnet-core's free functions use.
    fn summer(&self) -> vnet_core::csum::Portable {
        vnet_core::csum::Portable
    }
}

impl<S: vnet_core::csum::Summer> CoreWith<S> {
    /// The summer under test.
    fn summer(&self) -> S {
        self.0
    }
}
