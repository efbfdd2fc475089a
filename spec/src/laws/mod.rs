//! The laws of DESIGN §7, each a function generic over the implementation under test, so that the
//! same law runs against vnet-core, the reference models and peers.

pub mod gro;
