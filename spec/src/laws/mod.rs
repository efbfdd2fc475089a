//! The laws (ARCHITECTURE.md, 'Laws'), each a function generic over the implementation under test,
//! so that the same law runs against vnet-core, the reference models and peers.
//!
//! A law takes its implementation through a small trait ([`hdr::HeaderCodec`],
//! [`csum::Checksummer`], [`meta::MetaTranslator`]) and returns `Err(TestCaseError)` naming what
//! broke, so it runs inside `proptest!` and in plain loops alike. [`VnetCore`] plugs vnet-core in;
//! [`Reference`](crate::model::Reference) plugs the models in; a peer needs one small impl.
//! [`total`] is the exception: totality (L7) is a property of vnet-core's own public functions.

pub mod csum;
pub mod gro;
pub mod gso;
pub mod hdr;
pub mod meta;
pub mod total;

/// vnet-core, as an implementation under test.
#[derive(Clone, Copy, Debug, Default)]
pub struct VnetCore;
