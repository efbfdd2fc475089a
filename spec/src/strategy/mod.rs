//! Proptest strategies, in one home: `*_any()` generates any value of a kind, `*_with(..)` one
//! constrained by its arguments.
//!
//! - [`hdr`]: virtio-net headers, layouts, byte orders and raw bytes.
//! - [`meta`]: offload metadata, representable or not, and frames that match it.
//! - [`packet`]: GSO super-packets (TCP/UDP, v4/v6, options, TUN/TAP) and their headers.
//! - [`train`]: GRO trains: interleaved flows, reordering, flag, option, TTL and ID perturbations.
//! - [`virtio`]: virtio feature sets (offers and acceptances) and receive metadata.

pub mod hdr;
pub mod meta;
pub mod packet;
pub mod train;
pub mod virtio;
