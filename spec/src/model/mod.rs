//! Reference models: each written straight from the rules in `RULES.md`, for clarity over speed.
//! The laws compare vnet-core (and peers) against these.
//!
//! [`Reference`] is the models as an implementation under test: it implements the laws' traits
//! ([`HeaderCodec`](crate::laws::hdr::HeaderCodec), [`Checksummer`](crate::laws::csum::Checksummer),
//! [`Segment`](crate::laws::gso::Segment)); [`gro::ReferenceGro`] is the reference coalescer.

pub mod csum;
pub mod gro;
pub mod gso;
pub mod hdr;

/// The reference models, as one implementation that the laws can take.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reference;
