//! vnet-host: Linux TUN/TAP devices with virtio-net headers and offloads, around vnet-core.
//!
//! The shell of a sans-IO design: vnet-core decides what the bytes of a header and a packet mean;
//! this crate opens devices, sets their header size and offloads, and moves bytes with one
//! `readv`/`writev` per packet. All `unsafe` lives in the private `sys` module.
//!
//! [`udp`] moves many datagrams per system call (UDP_SEGMENT, UDP_GRO, sendmmsg/recvmmsg), the
//! wire of a tunnel. The `vnet` binary (`vnet demo`, `vnet relay`) joins the two into a
//! user-space relay whose offload steps are vnet-core's gso and gro.
//!
//! ```no_run
//! use vnet_core::hdr::Layout;
//! use vnet_host::{DeviceKind, Offloads, Options};
//! let dev = Options::new(DeviceKind::Tun).name("vnet0").layout(Layout::V1).open()?;
//! let offloads = dev.negotiate_offloads(Offloads::FULL)?;
//! let mut buf = vec![0u8; 65536];
//! let (hdr, len) = dev.recv(&mut buf)?;
//! dev.send(&hdr, &buf[..len])?;
//! # let _ = offloads;
//! # Ok::<(), vnet_host::Error>(())
//! ```
#![deny(unsafe_code)]

pub mod batch;
mod device;
mod error;
pub mod fastsum;
pub mod kernel;
pub mod netns;
mod offload;
pub mod oracle;
#[allow(unsafe_code)]
mod sys;
pub mod udp;

pub use device::{Device, DeviceKind, Features, Options, probe_features};
pub use error::{Error, Result};
pub use offload::{OffloadRule, Offloads};

/// Installs a SIGINT handler that only sets the returned flag (for Ctrl-C that cleans up).
pub fn catch_sigint() -> std::io::Result<&'static std::sync::atomic::AtomicBool> {
    sys::catch_sigint()
}
