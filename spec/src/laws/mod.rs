//! The laws (ARCHITECTURE.md, 'Laws'), each a function generic over the implementation under test,
//! so that the same law runs against vnet-core, the reference models and peers.
//!
//! A law takes its implementation through a small trait ([`hdr::HeaderCodec`],
//! [`csum::Checksummer`], [`meta::MetaTranslator`]) and returns `Err(TestCaseError)` naming what
//! broke, so it runs inside `proptest!` and in plain loops alike. [`total`] is the exception:
//! totality (L7) is a property of vnet-core's own public functions.
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

/// vnet-core, as an implementation under test (every law trait but [`gro::Coalesce`], which
/// [`gro::CoreGro`] implements).
#[derive(Clone, Copy, Debug, Default)]
pub struct Core;

/// vnet-core with its payloads copied and summed by the [`Summer`](vnet_core::csum::Summer) `S`
/// (e.g. a host's AVX2 build, `vnet_host::fastsum`), as an implementation under test: the
/// checksum traits and [`gso::Segment`].
#[derive(Clone, Copy, Debug, Default)]
pub struct CoreWith<S>(pub S);
