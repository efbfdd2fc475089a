//! vnet-bench: vnet-core measured side by side with its peers (tun-rs, internet-checksum, smoltcp,
//! etherparse).
//!
//! - `benches/peers.rs`: criterion benches, ids `<work>/<case>/<implementation>`.
//! - `benches/interleaved.rs`: GSO and GRO, vnet and tun-rs timed alternately (steadier ratios on
//!   a shared machine).
//! - [`cases`]: the packets both measure.
//! - [`peers`]: tun-rs as an implementation under test of the laws (the laws on a peer,
//!   `tests/peer_laws.rs`, `spec/PEERS.md`).
//! - `ratios.py`: the README's ratio table, generated from criterion's estimates.
//!
//! Its own workspace, like `fuzz/`: the peers and criterion add about fifty crates and more than a
//! minute of CPU to a clean build that the root `cargo test --workspace` should not pay.

pub mod cases;
pub mod peers;
