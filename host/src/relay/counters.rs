//! The relay's counters: one set per pipeline (no shared writes between threads), summed into a
//! [`Snapshot`] when read.

use std::sync::atomic::{AtomicU64, Ordering};

use super::policy::Cause;

/// What one pipeline did. Each pipeline owns one (on its own cache line), so counting costs no
/// shared writes between threads.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(super) struct Counters {
    pub(super) tun_reads: AtomicU64,
    pub(super) tun_writes: AtomicU64,
    pub(super) udp_sends: AtomicU64,
    pub(super) udp_recvs: AtomicU64,
    pub(super) polls: AtomicU64,
    /// Packets at MTU size moved by all of the above (a super-packet of n segments counts n).
    pub(super) packets: AtomicU64,
    /// Bytes read from the TUN (the packets as the kernel handed them over).
    pub(super) bytes: AtomicU64,
    /// Packets into and out of the coalescing step.
    pub(super) gro_in: AtomicU64,
    pub(super) gro_out: AtomicU64,
    /// Bytes vnet copied (UFO segments; a merged packet of more pieces than one `writev` takes,
    /// gathered).
    pub(super) copied: AtomicU64,
    /// Packets dropped (or errors seen), per [`Cause`]; the first reason is kept in
    /// `Relay::error`.
    pub(super) causes: [AtomicU64; Cause::COUNT],
}

impl Counters {
    pub(super) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            tun_reads: get(&self.tun_reads),
            tun_writes: get(&self.tun_writes),
            udp_sends: get(&self.udp_sends),
            udp_recvs: get(&self.udp_recvs),
            polls: get(&self.polls),
            packets: get(&self.packets),
            bytes: get(&self.bytes),
            gro_in: get(&self.gro_in),
            gro_out: get(&self.gro_out),
            copied: get(&self.copied),
            causes: self.causes.each_ref().map(get),
        }
    }
}

/// Counter values at one moment, summed over pipelines; subtract two for an interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// `readv` calls on the TUN devices (and the reads that found nothing).
    pub tun_reads: u64,
    /// `writev` calls on the TUN devices.
    pub tun_writes: u64,
    /// `send`/`sendmmsg` calls on the wire sockets.
    pub udp_sends: u64,
    /// `recv`/`recvmmsg` calls on the wire sockets.
    pub udp_recvs: u64,
    /// `poll` calls on an idle TUN.
    pub polls: u64,
    /// Packets at MTU size moved by all of the above (a super-packet of n segments counts n).
    pub packets: u64,
    /// Bytes read from the TUNs.
    pub bytes: u64,
    /// Packets into the coalescing step.
    pub gro_in: u64,
    /// Packets out of the coalescing step.
    pub gro_out: u64,
    /// Bytes vnet copied.
    pub copied: u64,
    /// Per [`Cause`], in [`Cause::ALL`] order.
    pub causes: [u64; Cause::COUNT],
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

    pub(super) fn combine(self, other: Self, f: impl Fn(u64, u64) -> u64) -> Self {
        Self {
            tun_reads: f(self.tun_reads, other.tun_reads),
            tun_writes: f(self.tun_writes, other.tun_writes),
            udp_sends: f(self.udp_sends, other.udp_sends),
            udp_recvs: f(self.udp_recvs, other.udp_recvs),
            polls: f(self.polls, other.polls),
            packets: f(self.packets, other.packets),
            bytes: f(self.bytes, other.bytes),
            gro_in: f(self.gro_in, other.gro_in),
            gro_out: f(self.gro_out, other.gro_out),
            copied: f(self.copied, other.copied),
            causes: std::array::from_fn(|i| f(self.causes[i], other.causes[i])),
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
