//! vnet-host: Linux TUN/TAP devices with virtio-net headers and offloads, around vnet-core.
//!
//! The shell of a sans-IO design: vnet-core decides what the bytes of a header and a packet mean;
//! this crate opens devices, sets their header size and offloads, and moves bytes with one
//! `readv`/`writev` per packet. All `unsafe` lives in the private `sys` module.
//!
//! [`udp`] moves many datagrams per system call (UDP_SEGMENT, UDP_GRO, sendmmsg/recvmmsg), the
//! wire of a tunnel. [`relay`] joins the two into a user-space relay whose offload steps are
//! vnet-core's gso and gro (the vnet-cli crate's `vnet demo` and `vnet relay` run it).
//!
//! vnet-core is re-exported as [`vnet_core`] (one dependency to keep in step).
//!
//! ```no_run
//! use vnet_host::vnet_core::hdr::Layout;
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

/// vnet-core, the packet logic this crate is the shell of (`hdr`, `check`, `gso`, `gro`, ...),
/// re-exported so that a program depends on vnet-host alone and cannot end up with a second,
/// mismatched copy of core's types: `use vnet_host::vnet_core::hdr::VnetHdr;`.
pub use vnet_core;

pub mod batch;
mod device;
pub mod endpoint;
mod error;
pub mod fastsum;
pub mod gro_iov;
// The running kernel as a reference (feature `testkit`: test machinery, not API).
#[cfg(feature = "testkit")]
pub mod kernel;
pub mod link;
// Throw-away network namespaces (feature `testkit`: test machinery, not API).
#[cfg(feature = "testkit")]
pub mod netns;
mod offload;
pub mod relay;
#[allow(unsafe_code)]
mod sys;
#[cfg(feature = "tokio")]
pub mod tokio;
pub mod udp;

pub use device::{Device, DeviceKind, Features, Options, probe_features};
pub use endpoint::{Endpoint, Received};
pub use error::{Error, Result};
pub use offload::{OffloadRule, Offloads};

/// Installs one handler for SIGINT, SIGTERM and SIGHUP that only sets the returned flag: Ctrl-C,
/// `kill`/`timeout`/systemd/container runtimes and a closed terminal all stop a program the same
/// way, so that it cleans up. SIGKILL cannot be caught; see `vnet demo` for what covers it.
pub fn catch_stop_signals() -> std::io::Result<&'static std::sync::atomic::AtomicBool> {
    sys::catch_stop_signals()
}

/// The name of the stop signal [`catch_stop_signals`] saw last ("SIGTERM"), if any.
pub fn stop_signal_name() -> Option<&'static str> {
    match sys::stop_signal() {
        libc::SIGINT => Some("SIGINT"),
        libc::SIGTERM => Some("SIGTERM"),
        libc::SIGHUP => Some("SIGHUP"),
        _ => None,
    }
}

/// Installs a SIGUSR1 handler that only sets the returned flag ("report your counters"); the
/// reader clears it.
pub fn catch_sigusr1() -> std::io::Result<&'static std::sync::atomic::AtomicBool> {
    sys::catch_sigusr1()
}

/// Network interfaces of the calling thread's namespace, by name.
pub mod iface {
    use std::io;
    use std::net::IpAddr;

    /// Whether an interface `name` exists (`if_nametoindex`).
    pub fn exists(name: &str) -> bool {
        crate::sys::if_nametoindex(name).is_ok()
    }

    /// The IPv4 and IPv6 addresses configured on `name`, each with its prefix length
    /// (`getifaddrs`). Empty when the interface has none (or does not exist).
    pub fn addresses(name: &str) -> io::Result<Vec<(IpAddr, u8)>> {
        crate::sys::if_addresses(name)
    }
}
