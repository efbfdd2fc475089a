//! Reference models: each written straight from the rules in `RULES.md`, for clarity over speed.
//! The laws compare vnet-core (and peers) against these.

pub mod gro;
