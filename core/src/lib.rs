//! vnet-core: the virtio-net offload logic, with no I/O, no allocation and no `unsafe`.
//!
//! Every function here is a pure function over caller-provided slices, so the same code runs in a
//! VMM, a VPN, a user-space network stack or bare-metal firmware. Rule ids (V*, S*, G*, C*, M*) in
//! doc comments refer to `spec/RULES.md`, where each is traced to the kernel, the virtio spec or
//! OpenVMM.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

// Tests use std; so does `arbitrary`'s derive (a fuzzing-only feature).
#[cfg(any(test, feature = "arbitrary"))]
extern crate std;

pub mod check;
pub mod csum;
mod dissect;
pub mod error;
mod flag_names;
pub mod gro;
pub mod gso;
pub mod hdr;
pub mod kernel;
pub mod meta;
pub mod virtio;
pub mod wire;

pub use error::Error;
