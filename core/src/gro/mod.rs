//! Receive coalescing (GRO): a batch of IP packets, as read from a TUN device with offloads off,
//! becomes fewer, larger packets with virtio-net headers that a TUN device with TSO/USO on accepts.
//!
//! The batch lives in caller buffers: `bufs[i]` holds packet `i` in its first `lens[i]` bytes, and
//! the bytes after that are spare capacity. A merged packet grows in place in the buffer of its
//! first segment; if that buffer has no room for the next segment, the train ends there (G5:
//! flush, never allocate). Nothing is allocated: held flows live in a fixed-capacity table of
//! `FLOWS` entries, the one flow knob (G7: by default [`LINUX_HELD_FLOWS`], the 8 Linux holds at a
//! single-queue TUN device); when it is full the oldest held flow is completed to make room, as
//! the kernel does when a GRO bucket overflows.
//!
//! What merges and what flushes follows the kernel's GRO (rules G1-G8), and
//! under [`Policy::Linux`] exactly what Linux 6.18 hands to a TUN device with TSO on. Every merge is
//! one that segmentation undoes exactly (law L5): every segment but the last carries exactly
//! `gso_size` bytes, FIN and PSH appear on the last segment only, CWR on the first only, IPv4 IDs
//! increment by one per segment (under [`Policy::Relaxed`]: IDs of DF packets are ignored). The
//! one field segmentation cannot give back is the urgent pointer of a segment without URG, which
//! Linux does not compare either (K14): it carries no meaning without URG.
//!
//! Each segment's payload is appended to the merged packet and summed in the same pass (the
//! [`Summer`]'s `copy_and_sum`; its headers are summed apart), and the sum decides whether the
//! append counts: a segment whose checksum fails is delivered as it came and does not disturb the
//! held flow (G1), though the head's spare capacity may hold its bytes. A segment that does not
//! merge is verified where it lies. The iovec form, which copies nothing, verifies a flow's
//! members together as the flow completes, and runs the batch again verifying at each step if
//! one fails: the same outputs (L11), one pass over the bytes of many segments instead of a sum
//! between two decisions. With [`Checksums::Trusted`] (G10: packets the kernel would mark
//! CHECKSUM_UNNECESSARY, such as an AEAD tunnel's decrypted ones) nothing is verified and
//! payloads are only copied (the iovec form reads none).
//!
//! Outputs come in the kernel's completion order (G8): a packet that is not held is handed on when
//! it arrives, a held flow when it completes, so a single may overtake a flow held before it. The
//! output slot of a held flow is assigned when it completes; while it is held, `owner` chains its
//! members in payload order (nothing allocated), so that completing a flow visits its members,
//! not every input since its head.
//!
//! ```
//! use vnet_core::csum;
//! use vnet_core::gro::{Gro, Output};
//! use vnet_core::hdr::GsoType;
//! // A TCP/IPv4 segment of 100 payload bytes with IPv4 ID `id` and sequence number `seq`,
//! // checksums complete, in a 2048-byte buffer: room for a merged packet to grow.
//! fn segment(id: u8, seq: u8) -> [u8; 2048] {
//!     let mut p = [0u8; 2048];
//!     p[..20].copy_from_slice(&[0x45, 0, 0, 140, 0, id, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
//!     let ip = csum::finish(csum::sum(&p[..20]));
//!     p[10..12].copy_from_slice(&ip.to_be_bytes());
//!     p[20..40].copy_from_slice(&[0x30, 0x39, 1, 0xbb, 0, 0, 0, seq, 0, 0, 0, 1, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
//!     let pseudo = csum::pseudo_header_v4([10, 0, 0, 1], [10, 0, 0, 2], 6, 120);
//!     let tcp = csum::finish(csum::combine(pseudo, csum::sum(&p[20..140])));
//!     p[36..38].copy_from_slice(&tcp.to_be_bytes());
//!     p
//! }
//! // Two in-order segments of one flow (IDs 1, 2; sequence 0, 100) and a non-IP packet.
//! let mut bufs = [segment(1, 0), segment(2, 100), [0u8; 2048]];
//! let lens = [140, 140, 3];
//! let mut out = [Output::default(); 3];
//! let mut owner = [0usize; 3];
//! let mut gro: Gro = Gro::default(); // holds up to 8 flows, as Linux does (G7)
//! let n = gro.coalesce(&mut bufs, &lens, &mut out, &mut owner).unwrap();
//! // The non-IP packet is handed on at once (G8); the flow when the batch ends, merged in the
//! // buffer of its first segment, with the GSO header that splits it back (G6).
//! assert_eq!(n, 2);
//! assert_eq!((out[0].index, out[0].len, out[0].segments), (2, 3, 1));
//! assert_eq!((out[1].index, out[1].len, out[1].segments), (0, 240, 2));
//! assert_eq!((out[1].hdr.gso_type, out[1].hdr.gso_size), (GsoType::TCPV4, 100));
//! assert_eq!(owner, [1, 1, 0]); // input i is carried by output owner[i]
//! ```

use core::fmt;

use heapless::Vec as HVec;

use crate::csum::{self, Portable, Summer};
use crate::hdr::{Flags, GsoType, VnetHdr};
use crate::kernel::Profile;
use crate::wire::{
    self, IpProtocol, IpVersion, Ipv4Packet, Ipv6Packet, Link, TcpFlags, TcpPacket, UdpPacket,
};

mod iovec;
mod run;
mod seg;
#[cfg(test)]
mod tests;

pub use iovec::IovOutput;
use run::*;
use seg::*;

/// The largest merged IP datagram, header included (G5, kernel G3: `GRO_LEGACY_MAX_SIZE` - 1).
pub const MAX_DATAGRAM: usize = 65535;

/// UDP segments per merged datagram by default (G4): the kernel's GRO limit `UDP_GRO_CNT_MAX`,
/// which every kernel's USO path accepts (V4). Not the USO limit a TUN write is checked against,
/// the kernel's `UDP_MAX_SEGMENTS` (128 on current kernels), which is
/// [`Profile::udp_max_segments`].
pub const UDP_GRO_MAX_SEGMENTS: u16 = 64;

/// The flow table's capacity by default, the most flows held at once (G7): Linux holds at most 8
/// per GRO bucket (`MAX_GRO_SKBS`), and a single-queue TUN device leaves every packet's hash 0, so
/// one bucket holds them all (K12).
pub const LINUX_HELD_FLOWS: usize = 8;

/// Whose behaviour to follow where implementations differ (G3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Policy {
    /// What Linux delivers to a TUN device with TSO on: IPv4 IDs must increment by one per
    /// segment (a repeated ID starts a fixed-ID train, before 6.18 only with DF set, K23; it is
    /// delivered as the single packets it was: the virtio header has no FIXEDID bit), and a segment carrying CWR is never merged into a held packet: it completes
    /// it and is held in its place (so packets not held overtake it), and takes the segments that
    /// follow only where the kernel does not compare CWR ([`GroOptions::kernel`], K21).
    #[default]
    Linux,
    /// Peer-compatible (wireguard-go, tun-rs): the IPv4 IDs of DF packets are ignored (GSO
    /// renumbers them; RFC 6864 allows it), and a TCP segment that arrives after the segments it
    /// precedes may be put in front of them (prepend: same flow, otherwise mergeable, exactly
    /// `gso_size` bytes, no FIN/PSH, its sequence number plus its length is the held packet's
    /// first, and, where IDs count, its ID is the first's minus one); the merged packet then
    /// starts with its headers. Otherwise as [`Policy::Linux`].
    Relaxed,
}

/// Whether each segment's TCP/UDP checksum is verified before it may be merged (G1, G10).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Checksums {
    /// Verified, as the kernel's GRO does for a packet that arrives unverified (CHECKSUM_NONE:
    /// a TUN write, a NIC without receive checksum offload): a segment whose checksum fails is
    /// handed on as it came (G1).
    #[default]
    Verify,
    /// Taken as verified, as the kernel's GRO does for CHECKSUM_UNNECESSARY (a NIC that checked
    /// them; WireGuard marks every decrypted packet so, its AEAD tag having authenticated the
    /// bytes): no payload byte is read (G10). A merged packet's checksum is partial as always,
    /// so a bad checksum would not survive a merge: trust only what was checked or authenticated.
    Trusted,
}

/// How to coalesce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct GroOptions {
    /// Which behaviour to follow (G3).
    pub policy: Policy,
    /// Coalesce UDP too (UDP_L4). Off by default: Linux coalesces forwarded UDP only when asked
    /// (`rx-udp-gro-forwarding`), so a TUN reader sees single datagrams.
    pub udp: bool,
    /// The most UDP segments in one merged datagram (G4); at least 1, 0 is read as 1. Default
    /// [`UDP_GRO_MAX_SEGMENTS`] (not `kernel.udp_max_segments`, the USO limit of a TUN write).
    pub udp_gro_max_segments: u16,
    /// Which kernel's GRO [`Policy::Linux`] follows where kernel lines differ (K21).
    pub kernel: Profile,
    /// Whether segments' L4 checksums are verified (G1) or trusted (G10).
    pub checksums: Checksums,
}

impl GroOptions {
    /// The defaults: [`Policy::Linux`], no UDP, [`UDP_GRO_MAX_SEGMENTS`], [`Profile::NEWEST`],
    /// [`Checksums::Verify`].
    /// Usable in a `static` or `const`; [`Default`] returns it.
    pub const DEFAULT: GroOptions = GroOptions {
        policy: Policy::Linux,
        udp: false,
        udp_gro_max_segments: UDP_GRO_MAX_SEGMENTS,
        kernel: Profile::NEWEST,
        checksums: Checksums::Verify,
    };

    /// [`GroOptions::DEFAULT`].
    pub const fn new() -> GroOptions {
        GroOptions::DEFAULT
    }

    /// With `policy`.
    #[must_use]
    pub const fn with_policy(self, policy: Policy) -> GroOptions {
        GroOptions { policy, ..self }
    }

    /// With UDP coalescing on or off.
    #[must_use]
    pub const fn with_udp(self, udp: bool) -> GroOptions {
        GroOptions { udp, ..self }
    }

    /// With at most `n` UDP segments per merged datagram.
    #[must_use]
    pub const fn with_udp_gro_max_segments(self, n: u16) -> GroOptions {
        GroOptions {
            udp_gro_max_segments: n,
            ..self
        }
    }

    /// Following `kernel` where kernel lines differ.
    #[must_use]
    pub const fn with_kernel(self, kernel: Profile) -> GroOptions {
        GroOptions { kernel, ..self }
    }

    /// With checksums verified or trusted (G10).
    #[must_use]
    pub const fn with_checksums(self, checksums: Checksums) -> GroOptions {
        GroOptions { checksums, ..self }
    }

    /// Whether segments' checksums are to be verified (G1) rather than trusted (G10).
    pub(crate) const fn verifies(&self) -> bool {
        matches!(self.checksums, Checksums::Verify)
    }
}

impl Default for GroOptions {
    fn default() -> GroOptions {
        GroOptions::DEFAULT
    }
}

/// One packet to hand on: the first `len` bytes of `bufs[index]`, with its header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Output {
    /// The buffer that holds the packet: the index of its first segment.
    pub index: usize,
    /// Its length in bytes.
    pub len: usize,
    /// Its virtio-net header (G6): GSO for a merged packet, all zero otherwise.
    pub hdr: VnetHdr,
    /// How many input packets it carries (1 if it was not merged).
    pub segments: usize,
}

/// Why a batch could not be coalesced. Nothing has been written when this is returned (but for
/// [`GroError::HeadersTooShort`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GroError {
    /// `lens` must have one entry per buffer.
    LensMismatch {
        /// Buffers given.
        bufs: usize,
        /// Lengths given.
        lens: usize,
    },
    /// `out` or `owner` must have room for one entry per buffer.
    SliceTooShort {
        /// `"out"` or `"owner"`.
        slice: &'static str,
        /// Entries needed: the number of buffers.
        need: usize,
        /// Entries given.
        have: usize,
    },
    /// [`Gro::coalesce_iov`]: `headers` is shorter than the merged outputs' headers (G9). Every
    /// decision was made; `out`, `owner`, `slices` and `headers` are partly written.
    HeadersTooShort {
        /// Header bytes the batch needs.
        need: usize,
        /// Header bytes given.
        have: usize,
    },
    /// `lens[index]` is larger than its buffer.
    LenExceedsBuffer {
        /// The packet.
        index: usize,
        /// Its claimed length.
        len: usize,
        /// Its buffer's length.
        capacity: usize,
    },
}

impl fmt::Display for GroError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            GroError::LensMismatch { bufs, lens } => {
                write!(
                    f,
                    "gro: {lens} lengths for {bufs} buffers, expected one each"
                )
            }
            GroError::SliceTooShort { slice, need, have } => {
                write!(
                    f,
                    "gro: `{slice}` has {have} entries, need one per buffer ({need})"
                )
            }
            GroError::HeadersTooShort { need, have } => write!(
                f,
                "gro (G9): `headers` has {have} bytes, the merged packets' headers need {need}"
            ),
            GroError::LenExceedsBuffer {
                index,
                len,
                capacity,
            } => write!(
                f,
                "gro: lens[{index}] = {len} exceeds its buffer of {capacity} bytes"
            ),
        }
    }
}

impl core::error::Error for GroError {}

/// The coalescer: options and a table of at most `FLOWS` held flows (reused between batches, empty
/// between calls), summing with `S` ([`Portable`] by default; a host may plug in a sum compiled for
/// its CPU with [`Gro::with_summer`], monomorphised: no indirect call per segment).
///
/// `FLOWS` is the one flow knob (G7): the most flows held at once, and the room reserved for them
/// (about 100 bytes a flow on a 32-bit target). The default, [`LINUX_HELD_FLOWS`], holds what Linux holds at a
/// single-queue TUN device; more holds more interleaved flows than Linux does. It must be at
/// least 1 (a `Gro<0>` does not compile).
#[derive(Clone, Debug)]
pub struct Gro<const FLOWS: usize = LINUX_HELD_FLOWS, S: Summer = Portable> {
    opts: GroOptions,
    table: HVec<Flow, FLOWS>,
    summer: S,
}

impl<const FLOWS: usize> Gro<FLOWS> {
    /// A coalescer with these options; `const`, so it can initialise a `static`.
    pub const fn new(opts: GroOptions) -> Self {
        Gro::with_summer(opts, Portable)
    }
}

impl<const FLOWS: usize, S: Summer + Default> Default for Gro<FLOWS, S> {
    fn default() -> Self {
        Gro::with_summer(GroOptions::DEFAULT, S::default())
    }
}

impl<const FLOWS: usize, S: Summer> Gro<FLOWS, S> {
    /// A coalescer with these options that verifies checksums with `summer` (e.g. a host's AVX2
    /// sum); the same outputs as [`Gro::new`]'s.
    pub const fn with_summer(opts: GroOptions, summer: S) -> Self {
        const { assert!(FLOWS > 0, "Gro<FLOWS>: FLOWS must be at least 1 (G7)") };
        Gro {
            opts,
            table: HVec::new(),
            summer,
        }
    }

    /// The options.
    pub const fn options(&self) -> &GroOptions {
        &self.opts
    }

    /// Coalesces the batch `bufs[i][..lens[i]]`, `i` in `0..bufs.len()`, in place.
    ///
    /// Writes the packets to hand on into `out[..n]` and returns `n`. They are in the order the
    /// kernel hands them on (G8): a packet that is not held (not eligible, a bad checksum, no
    /// payload, URG/PSH/RST/SYN/FIN, CWR) when it arrives, so it may overtake held flows; a held
    /// flow when it completes: when a segment of it ends its train or cannot be merged, when the
    /// table is full (the oldest), and at the end of the batch (oldest first). `out[k]` lives in
    /// `bufs[out[k].index]`. For every input `i`, `owner[i] = k` names the output that carries
    /// it: the inputs that output `k` absorbed are the `i` with `owner[i] == k`, and their
    /// payloads appear in it in sequence order, which is the order of `i` except under
    /// [`Policy::Relaxed`], where a segment may have been put in front (G3, prepend). Buffers of
    /// absorbed inputs are read, never written; a buffer that holds an output is changed within
    /// its first `out[k].len` bytes and, if it held a flow, in its spare capacity (a merged
    /// packet's tail, or a rejected segment's bytes).
    pub fn coalesce<B: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        bufs: &mut [B],
        lens: &[usize],
        out: &mut [Output],
        owner: &mut [usize],
    ) -> Result<usize, GroError> {
        let n = bufs.len();
        if lens.len() != n {
            return Err(GroError::LensMismatch {
                bufs: n,
                lens: lens.len(),
            });
        }
        for (slice, have) in [("out", out.len()), ("owner", owner.len())] {
            if have < n {
                return Err(GroError::SliceTooShort {
                    slice,
                    need: n,
                    have,
                });
            }
        }
        for (index, (buf, &len)) in bufs.iter().zip(lens).enumerate() {
            let capacity = buf.as_ref().len();
            if len > capacity {
                return Err(GroError::LenExceedsBuffer {
                    index,
                    len,
                    capacity,
                });
            }
        }
        let run = Run {
            opts: self.opts,
            summer: self.summer,
            table: &mut self.table,
            m: InPlace { bufs, lens, out },
            owner,
            n_out: 0,
            verify: if self.opts.verifies() {
                Verify::AtStep
            } else {
                Verify::Never
            },
            failed: false,
        };
        Ok(run.run().0)
    }
}
