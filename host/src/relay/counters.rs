//! The relay's counters: one set per pipeline (no shared writes between threads), summed into a
//! [`Snapshot`] when read.

use std::sync::atomic::{AtomicU64, Ordering};

use super::policy::Cause;

/// Declares the counters once: [`Counters`] (one atomic each, per pipeline), [`Snapshot`] (their
/// values, summed) and the two field-by-field walks between them, `snapshot` and `combine`. A
/// new counter is one entry here, not four edits that must agree.
macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// What one pipeline did. Each pipeline owns one (on its own cache line), so counting
        /// costs no shared writes between threads.
        #[derive(Debug, Default)]
        #[repr(align(128))]
        pub(super) struct Counters {
            $($(#[$doc])* pub(super) $name: AtomicU64,)*
            /// Packets dropped (or errors seen), per [`Cause`]; the first reason is kept in
            /// `Relay::error`.
            pub(super) causes: [AtomicU64; Cause::COUNT],
        }

        impl Counters {
            pub(super) fn snapshot(&self) -> Snapshot {
                let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
                Snapshot {
                    $($name: get(&self.$name),)*
                    causes: self.causes.each_ref().map(get),
                }
            }
        }

        /// Counter values at one moment, summed over pipelines; subtract two for an interval.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct Snapshot {
            $($(#[$doc])* pub $name: u64,)*
            /// Per [`Cause`], in [`Cause::ALL`] order.
            pub causes: [u64; Cause::COUNT],
        }

        impl Snapshot {
            pub(super) fn combine(self, other: Self, f: impl Fn(u64, u64) -> u64) -> Self {
                Self {
                    $($name: f(self.$name, other.$name),)*
                    causes: std::array::from_fn(|i| f(self.causes[i], other.causes[i])),
                }
            }
        }
    };
}

counters! {
    /// `readv` calls on the TUN devices (and the reads that found nothing).
    tun_reads,
    /// `writev` calls on the TUN devices.
    tun_writes,
    /// `send`/`sendmmsg` calls on the wire sockets.
    udp_sends,
    /// `recv`/`recvmmsg` calls on the wire sockets.
    udp_recvs,
    /// `poll` calls on an idle TUN.
    polls,
    /// Packets at MTU size moved by all of the above (a super-packet of n segments counts n).
    packets,
    /// Bytes read from the TUNs (the packets as the kernel handed them over).
    bytes,
    /// Packets into the coalescing step.
    gro_in,
    /// Packets out of the coalescing step.
    gro_out,
    /// Bytes vnet copied (UFO segments; a merged packet of more pieces than one `writev` takes,
    /// gathered).
    copied,
}

impl Counters {
    pub(super) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl Snapshot {
    /// Packets dropped, all causes.
    pub fn dropped(&self) -> u64 {
        self.causes.iter().sum()
    }

    /// `cause1 N, cause2 M` for the causes that counted anything, or `none`.
    pub fn causes_line(&self) -> String {
        let parts: Vec<String> = Cause::ALL
            .iter()
            .zip(self.causes)
            .filter(|&(_, n)| n > 0)
            .map(|(c, n)| format!("{} {n}", c.name()))
            .collect();
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(", ")
        }
    }

    /// Bytes vnet copied per byte read from a TUN: its own copies, measured.
    pub fn copies_per_byte(&self) -> f64 {
        ratio(self.copied, self.bytes)
    }

    /// Every system call the relay made.
    pub fn syscalls(&self) -> u64 {
        self.tun_reads + self.tun_writes + self.udp_sends + self.udp_recvs + self.polls
    }

    /// MTU-sized packets moved per system call.
    pub fn packets_per_syscall(&self) -> f64 {
        ratio(self.packets, self.syscalls())
    }

    /// Packets into gro per packet out of it (1.00 when nothing merged or gro did not run).
    pub fn coalescing(&self) -> f64 {
        if self.gro_out == 0 {
            1.0
        } else {
            ratio(self.gro_in, self.gro_out)
        }
    }

    /// `self - earlier`, per counter.
    pub fn since(self, earlier: Self) -> Self {
        self.combine(earlier, u64::saturating_sub)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}
