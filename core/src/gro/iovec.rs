//! Coalescing without copying payload (G9): the inputs are read, never written, and each packet to
//! hand on is its header bytes (written into a caller buffer; none for a packet handed on as it
//! came) followed by slices of the inputs, ready for one `writev` to a TUN device behind its
//! virtio-net header. The inputs may lie anywhere: the datagrams of one `UDP_GRO` receive buffer
//! back to back (`buf.chunks(gso_size)`), or separate buffers.
//!
//! The decisions are [`Gro::coalesce`]'s, made by the same code (rules G1-G8): the same outputs in
//! the same order with the same headers, and concatenated, the same bytes as `coalesce` with room
//! in every buffer (law L11). A merged packet never runs out of room here (G5's buffer limit does
//! not arise; its 65535-byte limit does). A segment's checksum is verified where it lies (G1),
//! so the payload is read once and written nowhere.
//!
//! ```
//! # use vnet_core::gro::{Gro, IovOutput};
//! # fn demo(pkts: &[&[u8]]) -> Result<(), vnet_core::gro::GroError> {
//! let n = pkts.len();
//! let (mut out, mut owner) = (vec![IovOutput::default(); n], vec![0; n]);
//! let mut slices: Vec<&[u8]> = vec![&[]; n];
//! let mut headers = vec![0u8; 128 * n.div_ceil(2)];
//! let mut gro: Gro = Gro::default();
//! let k = gro.coalesce_iov(pkts, &mut out, &mut owner, &mut slices, &mut headers)?;
//! for o in &out[..k] {
//!     let mut iov = vec![o.header(&headers)];
//!     iov.extend(o.payload(&slices)); // slices of `pkts`, none copied
//!     // writev(tun, [o.hdr written in the device's layout, iov...])
//! }
//! # Ok(()) }
//! ```

use super::*;
use crate::gso::copy_headers;

/// One packet to hand on, in the iovec form: `header(headers)` then `payload(slices)`, `len`
/// bytes in all, with its virtio-net header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct IovOutput {
    /// Its first input ([`Output::index`]).
    pub index: usize,
    /// Its length in bytes: header and payload slices.
    pub len: usize,
    /// Its virtio-net header (G6): GSO for a merged packet, all zero otherwise.
    pub hdr: VnetHdr,
    /// How many input packets it carries (1 if it was not merged).
    pub segments: usize,
    /// Where its header bytes start in `headers`.
    pub header_at: usize,
    /// How many header bytes: a merged packet's headers (G6), 0 for a packet handed on as it came.
    pub header_len: usize,
    /// Where its slices start in `slices`.
    pub slices_at: usize,
    /// How many slices: one per input it carries (a packet handed on as it came: the whole packet;
    /// a merged one: each segment's payload, in sequence order).
    pub slices_len: usize,
}

impl IovOutput {
    /// Its header bytes in `headers` (as [`Gro::coalesce_iov`] wrote them there).
    pub fn header<'h>(&self, headers: &'h [u8]) -> &'h [u8] {
        headers
            .get(self.header_at..)
            .and_then(|h| h.get(..self.header_len))
            .unwrap_or(&[])
    }

    /// Its payload: slices of the inputs, in `slices` (as [`Gro::coalesce_iov`] set them).
    pub fn payload<'s, 'a>(&self, slices: &'s [&'a [u8]]) -> &'s [&'a [u8]] {
        slices
            .get(self.slices_at..)
            .and_then(|s| s.get(..self.slices_len))
            .unwrap_or(&[])
    }
}

impl<const FLOWS: usize, S: Summer> Gro<FLOWS, S> {
    /// Coalesces the batch `pkts` (read only) without copying payload (G9): the decisions of
    /// [`Gro::coalesce`] (G1-G8), the outputs in `out[..n]` (returns `n`) and `owner` as there, and
    /// each output's bytes as its header, written into `headers` (packed, in output order), then
    /// slices of `pkts` set in `slices` (one per input: `slices` needs `pkts.len()` entries).
    ///
    /// `headers` needs the header length of every merged output: a merged output carries at least
    /// two inputs, each at least its header length long, so half the inputs' total length always
    /// suffices (TCP/IPv4 without options: 40 bytes per merged output). If it is too short, every
    /// decision is still made and the error names the exact length needed
    /// ([`GroError::HeadersTooShort`]); `out`, `owner`, `slices` and `headers` are then partly
    /// written and not to be used. The other errors are returned before anything is written.
    pub fn coalesce_iov<'a, B: AsRef<[u8]>>(
        &mut self,
        pkts: &'a [B],
        out: &mut [IovOutput],
        owner: &mut [usize],
        slices: &mut [&'a [u8]],
        headers: &mut [u8],
    ) -> Result<usize, GroError> {
        let n = pkts.len();
        for (slice, have) in [
            ("out", out.len()),
            ("owner", owner.len()),
            ("slices", slices.len()),
        ] {
            if have < n {
                return Err(GroError::SliceTooShort {
                    slice,
                    need: n,
                    have,
                });
            }
        }
        let have = headers.len();
        // The checksums are verified with each flow's members as it completes (one pass over
        // their bytes, not one sum between two decisions); a failure there means a second run
        // that verifies at each step, as the contiguous form does.
        let optimistic = if self.opts.verifies() {
            Verify::AtCompletion
        } else {
            Verify::Never
        };
        // One run of the batch that verifies as `verify` says: the outputs, the header bytes
        // needed, and whether it failed (`Verify::AtCompletion` only).
        let mut run = |verify| {
            let (count, m, failed) = Run {
                opts: self.opts,
                summer: self.summer,
                table: &mut self.table,
                m: Slices {
                    pkts,
                    out: &mut *out,
                    slices: &mut *slices,
                    n_slices: 0,
                    headers: &mut *headers,
                    n_headers: 0,
                },
                owner: &mut *owner,
                n_out: 0,
                verify,
                failed: false,
            }
            .run();
            (count, m.n_headers, failed)
        };
        let (count, need) = match run(optimistic) {
            (_, _, true) => {
                let (count, need, _) = run(Verify::AtStep);
                (count, need)
            }
            (count, need, false) => (count, need),
        };
        if need > have {
            return Err(GroError::HeadersTooShort { need, have });
        }
        Ok(count)
    }
}

/// The iovec form's medium: packets read where they lie, outputs as header bytes and slices.
struct Slices<'o, 'a, B> {
    pkts: &'a [B],
    out: &'o mut [IovOutput],
    slices: &'o mut [&'a [u8]],
    n_slices: usize,
    headers: &'o mut [u8],
    /// Header bytes needed so far (may pass `headers.len()`: then nothing more is written there).
    n_headers: usize,
}

impl<'a, B: AsRef<[u8]>> Slices<'_, 'a, B> {
    /// Input `i`'s packet, borrowed for as long as the inputs.
    fn input(&self, i: usize) -> &'a [u8] {
        let pkts: &'a [B] = self.pkts;
        pkts.get(i).map_or(&[][..], AsRef::as_ref)
    }

    /// Sets the next slice.
    fn push(&mut self, slice: &'a [u8]) {
        if let Some(s) = self.slices.get_mut(self.n_slices) {
            *s = slice;
        }
        self.n_slices += 1;
    }
}

impl<'a, B: AsRef<[u8]>> Medium for Slices<'_, 'a, B> {
    fn count(&self) -> usize {
        self.pkts.len()
    }

    #[inline(always)]
    fn packet(&self, i: usize) -> &[u8] {
        self.input(i)
    }

    /// The held packet's headers are its first segment's, where it lies; it never runs out of
    /// room (only G5's 65535 bytes bound it).
    #[inline(always)]
    fn held(&self, f: &Flow) -> Held<'_> {
        Held {
            bytes: self.input(f.first_at),
            room: usize::MAX,
        }
    }

    #[inline(always)]
    fn append<S: Summer>(
        &mut self,
        summer: S,
        verify: bool,
        _f: &Flow,
        i: usize,
        seg: &Seg,
    ) -> bool {
        !verify || verify_in_place(summer, seg, self.input(i))
    }

    fn put_in_front(&mut self, _f: &Flow, _i: usize, _seg: &Seg) -> bool {
        true
    }

    fn emit(&mut self, k: usize, i: usize) {
        let pkt = self.input(i);
        let o = IovOutput {
            index: i,
            len: pkt.len(),
            hdr: VnetHdr::default(),
            segments: 1,
            header_at: self.n_headers,
            header_len: 0,
            slices_at: self.n_slices,
            slices_len: 1,
        };
        self.push(pkt);
        if let Some(slot) = self.out.get_mut(k) {
            *slot = o;
        }
    }

    /// The headers of the first segment (the last one put in front, else the head), rewritten
    /// (G6); then the payloads in sequence order: those put in front, latest first (G3), the
    /// head's, those appended.
    fn emit_merged(&mut self, k: usize, f: &Flow, owner: &[usize]) {
        let hdr_len = f.first.hdr_len;
        let header_at = self.n_headers;
        self.n_headers = header_at.saturating_add(hdr_len);
        let first = self.input(f.first_at).get(..hdr_len).unwrap_or(&[]);
        if let Some(dst) = self
            .headers
            .get_mut(header_at..)
            .and_then(|h| h.get_mut(..hdr_len))
        {
            copy_headers(dst, first);
            finish_merged(dst, f.len, &f.first, f.last_flags);
        }
        let slices_at = self.n_slices;
        for j in members(f, owner) {
            self.push(self.input(j).get(hdr_len..).unwrap_or(&[]));
        }
        if let Some(slot) = self.out.get_mut(k) {
            *slot = IovOutput {
                index: f.head,
                len: f.len,
                hdr: merged_header(&f.first),
                segments: f.count,
                header_at,
                header_len: hdr_len,
                slices_at,
                slices_len: self.n_slices - slices_at,
            };
        }
    }
}
