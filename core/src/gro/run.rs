//! One `coalesce` call: each segment judged against its flow's held packet (G2-G5), merged,
//! prepended, counted into a fixed-ID train or started anew, and flows completed in the kernel's
//! order (G6-G8). The decisions are made once, here, for both forms: where the packets live and
//! what a merge does to them is a [`Medium`]'s ([`InPlace`] for `coalesce`, the iovec form's
//! slices for `coalesce_iov`, G9).

use super::*;

/// Where one call's packets live and what merging does to them; the rules never ask which.
pub(super) trait Medium {
    /// The batch size.
    fn count(&self) -> usize;
    /// Input `i`'s packet (empty past the batch).
    fn packet(&self, i: usize) -> &[u8];
    /// The held packet of `f` as the rules read it (G2, G5).
    fn held(&self, f: &Flow) -> Held<'_>;
    /// Appends `seg` (input `i`) to `f`'s held packet and, with `verify`, verifies its checksum
    /// (G1; else it is trusted, G10); false if it does not verify (or does not fit), and then the
    /// held packet is as it was.
    fn append<S: Summer>(&mut self, summer: S, verify: bool, f: &Flow, i: usize, seg: &Seg)
    -> bool;
    /// Puts `seg` (input `i`, verified) in front of `f`'s held packet (G3, prepend); false if it
    /// cannot, and then the held packet is as it was.
    fn put_in_front(&mut self, f: &Flow, i: usize, seg: &Seg) -> bool;
    /// Hands on input `i` as it came, with a zero header, as output `k`.
    fn emit(&mut self, k: usize, i: usize);
    /// Hands on merged flow `f` as output `k` (G6). `owner` chains its members ([`members`]).
    fn emit_merged(&mut self, k: usize, f: &Flow, owner: &[usize]);
}

/// A held packet as the rules read it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Held<'a> {
    /// Its bytes from the start: its headers at least (the first segment's, G2).
    pub(super) bytes: &'a [u8],
    /// The bytes it may grow to: a merge beyond completes it (G5).
    pub(super) room: usize,
}

/// The end of a member chain (see [`Run::owner`]).
pub(super) const END: usize = usize::MAX;

/// The members of held flow `f` in payload order, by the chain in `owner` (see [`Run::owner`]):
/// those put in front, latest first (G3), its head, those appended. At most `f.count` of them,
/// whatever `owner` holds.
pub(super) fn members<'o>(f: &Flow, owner: &'o [usize]) -> impl Iterator<Item = usize> + 'o {
    let mut next = Some(f.first_at);
    (0..f.count).map_while(move |_| {
        let j = next?;
        next = next_member(owner, j);
        Some(j)
    })
}

/// The member after `j` in its flow's chain, if any.
fn next_member(owner: &[usize], j: usize) -> Option<usize> {
    owner.get(j).copied().filter(|&link| link != END)
}

/// When a call verifies the L4 checksums of the segments it may merge (G1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verify {
    /// Never: trusted (G10).
    Never,
    /// At each step, before the segment's decision: where the copying form sums anyway (its
    /// copy and sum are one pass).
    AtStep,
    /// Optimistically: a segment that joins a flow is verified with the flow's other members when
    /// the flow completes, in one pass over their bytes; a segment that cannot be held, at its
    /// step. A failure found at completion sets [`Run::failed`], and the caller runs the batch
    /// again [`Verify::AtStep`]: every verdict of a run in which all checksums hold is the same
    /// either way, so the outputs are too (L11). For the iovec form, whose outputs are all in the
    /// caller's lists, written again from the start by a second run.
    AtCompletion,
}

/// The state of one `coalesce` call.
pub(super) struct Run<'a, const FLOWS: usize, S: Summer, M: Medium> {
    pub(super) opts: GroOptions,
    pub(super) summer: S,
    pub(super) table: &'a mut HVec<Flow, FLOWS>,
    pub(super) m: M,
    /// While running: `k` for an input handed on as output `k`; for a member of a held flow, the
    /// next member in payload order, or [`END`] (a chain from the flow's `first_at` to its
    /// `tail`, so that completing a flow visits its members only, not every input between);
    /// unspecified otherwise. A flow's members get its `k` as it completes.
    pub(super) owner: &'a mut [usize],
    pub(super) n_out: usize,
    pub(super) verify: Verify,
    /// Under [`Verify::AtCompletion`]: a completed flow had a member whose checksum fails; the
    /// run stops, its outputs are not to be used.
    pub(super) failed: bool,
}

impl<const FLOWS: usize, S: Summer, M: Medium> Run<'_, FLOWS, S, M> {
    /// Runs every input and completes the held flows at the end (oldest first, K10); returns
    /// the number of outputs, the medium, and whether the run failed ([`Run::failed`]).
    pub(super) fn run(mut self) -> (usize, M, bool) {
        let n = self.m.count();
        self.table.clear();
        for i in 0..n {
            if self.failed {
                return (self.n_out, self.m, true);
            }
            self.step(i);
        }
        while !self.table.is_empty() {
            self.complete(0);
        }
        (self.n_out, self.m, self.failed)
    }

    /// Hands on input `i` as it is (a zero header) as the next output and returns its index.
    pub(super) fn emit(&mut self, i: usize) -> usize {
        let k = self.n_out;
        self.m.emit(k, i);
        if let Some(slot) = self.owner.get_mut(i) {
            *slot = k;
        }
        self.n_out += 1;
        k
    }

    /// One coalesce step for input `i`, as the sequence of its decisions: eligible (G1), which
    /// held flow (G2), the verdict against its held packet (G2-G5), and what follows from it.
    pub(super) fn step(&mut self, i: usize) {
        let pkt = self.m.packet(i);
        // G1: not eligible: handed on now, as it came; held flows are not disturbed, so it
        // overtakes them (G8).
        let Some(seg) = &classify(pkt, &self.opts) else {
            self.emit(i);
            return;
        };
        let Some(fi) = self.find(seg, pkt) else {
            if self.verified(i, seg) {
                self.start(i, *seg);
            }
            return;
        };
        // The held flow is read in place (not copied): what the verdict needs of it.
        let Some(flow) = self.table.get(fi) else {
            return;
        };
        match self.judge(flow, seg, pkt) {
            Verdict::Merge => {
                if self.merge(fi, i, seg) {
                    self.complete(fi);
                }
            }
            Verdict::Prepend => self.prepend(fi, i, seg),
            Verdict::Fixed => {
                if self.verified(i, seg) && self.count_fixed(fi, i, seg) {
                    self.complete(fi);
                }
            }
            Verdict::Flush => {
                // G8: the held packet is handed on before the segment, which starts anew.
                if self.verified(i, seg) {
                    self.complete(fi);
                    self.start(i, *seg);
                }
            }
        }
    }

    /// The held flow `seg` belongs to, if any (G2: same key, same IPv6 extension headers).
    #[inline]
    fn find(&self, seg: &Seg, pkt: &[u8]) -> Option<usize> {
        self.table.iter().position(|f| {
            // IPv4 has no extension headers: the held packet is read only for IPv6.
            f.first.key == seg.key && (!seg.key.v6 || same_ext(self.m.held(f).bytes, f, seg, pkt))
        })
    }

    /// Whether `seg`'s L4 checksum verifies where it lies (or is trusted, G10, or is left to its
    /// flow's completion, [`Verify::AtCompletion`]); if not, input `i` is handed on as it came and
    /// held flows are not disturbed (G1).
    #[inline]
    fn verified(&mut self, i: usize, seg: &Seg) -> bool {
        let now = match self.verify {
            Verify::Never => false,
            Verify::AtStep => true,
            Verify::AtCompletion => !self.holds(seg),
        };
        let ok = !now || verify_in_place(self.summer, seg, self.m.packet(i));
        if !ok {
            self.emit(i);
        }
        ok
    }

    /// [`Verdict::Merge`]: appends `seg` (input `i`) to flow `fi`'s held packet if its checksum
    /// verifies (else hands it on, G1); true if it ends the train (G4).
    /// Inlined into `step` (the hot path), as it was before `step` was split.
    #[inline(always)]
    fn merge(&mut self, fi: usize, i: usize, seg: &Seg) -> bool {
        let Some(flow) = self.table.get(fi) else {
            return false;
        };
        if !self
            .m
            .append(self.summer, self.verify == Verify::AtStep, flow, i, seg)
        {
            self.emit(i);
            return false;
        }
        if let Some(f) = self.table.get_mut(fi) {
            f.last_flags = seg.flags().0 & LAST_ONLY;
        }
        self.absorb(fi, i, seg)
    }

    /// [`Verdict::Prepend`] (G3, Relaxed): puts `seg` (input `i`, verified) in front of flow
    /// `fi`'s held packet, whose first segment it becomes; else hands it on.
    #[inline]
    fn prepend(&mut self, fi: usize, i: usize, seg: &Seg) {
        if !self.verified(i, seg) {
            return;
        }
        let Some(flow) = self.table.get(fi) else {
            return;
        };
        if !self.m.put_in_front(flow, i, seg) {
            self.emit(i);
            return;
        }
        let (m, first_at) = (seg.payload(), flow.first_at);
        if let Some(f) = self.table.get_mut(fi) {
            f.first = *seg;
            f.first_at = i;
            f.len += m;
            f.count += 1;
        }
        if let Some(o) = self.owner.get_mut(i) {
            *o = first_at;
        }
    }

    /// [`Verdict::Fixed`] (G3, Linux): counts `seg` (input `i`, verified) into flow `fi` as a
    /// fixed-ID train; true if it ends the train (G4).
    #[inline]
    fn count_fixed(&mut self, fi: usize, i: usize, seg: &Seg) -> bool {
        if let Some(f) = self.table.get_mut(fi) {
            f.fixed = true;
        }
        self.absorb(fi, i, seg)
    }

    /// Whether `seg` merges into `flow` (G2-G5), and where.
    pub(super) fn judge(&self, flow: &Flow, seg: &Seg, pkt: &[u8]) -> Verdict {
        // The held packet is read where a rule needs it, not up front: most verdicts need only
        // its room, which the iovec form knows without reading it.
        let head = || self.m.held(flow);
        let p = &flow.first;
        // Network level (G2).
        if seg.net != p.net {
            return Verdict::Flush;
        }
        let payload = seg.payload();
        let id_step = self.id_step(p, seg);
        // G5: the merged datagram stays within 65535 bytes.
        if flow.len + payload > MAX_DATAGRAM {
            return Verdict::Flush;
        }
        if seg.tcp() {
            if self.tcp_differs(p, seg, head, pkt) {
                return Verdict::Flush;
            }
            if seg.seq != flow.next_seq {
                return if self.prepends(flow, seg, head, id_step) {
                    Verdict::Prepend
                } else {
                    Verdict::Flush
                };
            }
        } else if payload > p.payload()
            || flow.count >= usize::from(self.opts.udp_gro_max_segments.max(1))
        {
            // G4: a larger datagram ends the train; so does the segment limit.
            return Verdict::Flush;
        }
        match self.ids_follow(flow, id_step) {
            None => Verdict::Flush,
            Some(true) => Verdict::Fixed,
            // The buffer of the first segment must have room: else flush, never allocate (G5).
            Some(false) if flow.len + payload > head().room => Verdict::Flush,
            Some(false) => Verdict::Merge,
        }
    }

    /// IPv4 IDs (G3): how far `seg`'s ID is from the first segment's `p`, if IDs count at all
    /// (not IPv6; under Relaxed not with DF).
    #[inline(always)]
    fn id_step(&self, p: &Seg, seg: &Seg) -> Option<u16> {
        let ids_ignored = seg.key.v6 || (self.opts.policy == Policy::Relaxed && p.df());
        (!ids_ignored).then(|| seg.id.wrapping_sub(p.id))
    }

    /// Whether TCP segment `seg` cannot join the held packet whose first segment is `p`
    /// whatever its sequence number (G2, G4): CWR (G3), other header fields but FIN/PSH, header
    /// length, option bytes, no payload or more than `mss`.
    #[inline(always)]
    fn tcp_differs<'h>(
        &self,
        p: &Seg,
        seg: &Seg,
        head: impl FnOnce() -> Held<'h>,
        pkt: &[u8],
    ) -> bool {
        let payload = seg.payload();
        // CWR (G3): never merged into a held packet; whether the held packet's own CWR must
        // match is the kernel's (K21).
        let unmatched =
            if self.opts.policy == Policy::Relaxed || self.opts.kernel.gro_cwr_must_match {
                LAST_ONLY
            } else {
                LAST_ONLY | TcpFlags::CWR.0
            };
        if seg.flags().contains(TcpFlags::CWR)
            || (seg.tcp ^ p.tcp) & !(u64::from(unmatched) << 16) != 0
            || seg.hdr_len != p.hdr_len
            || payload == 0
            || payload > p.payload()
        {
            return true;
        }
        let opts_at = p.l4_offset + wire::TCP_MIN_HEADER_LEN;
        // Options must be byte-identical; most segments have none, and then the held packet is
        // not read at all (its headers are `p`'s, so it holds them).
        if opts_at >= p.hdr_len {
            return false;
        }
        let held = head().bytes.get(opts_at..p.hdr_len);
        held.is_none() || held != pkt.get(opts_at..p.hdr_len)
    }

    /// G3 (Relaxed): whether TCP segment `seg`, out of sequence, goes in front of `flow`'s held
    /// packet: full-sized, ending where the held packet begins, without FIN/PSH (those belong to
    /// the last segment), if IDs count with the first's ID minus one, and with room in `head`.
    #[inline(always)]
    fn prepends<'h>(
        &self,
        flow: &Flow,
        seg: &Seg,
        head: impl FnOnce() -> Held<'h>,
        id_step: Option<u16>,
    ) -> bool {
        let payload = seg.payload();
        self.opts.policy == Policy::Relaxed
            && !flow.fixed
            && payload == flow.first.payload()
            && seg.flags().0 & LAST_ONLY == 0
            && seg.seq.wrapping_add(payload as u32) == flow.first.seq
            && id_step.is_none_or(|d| d == u16::MAX)
            && flow.len + payload <= head().room
    }

    /// G3: whether the IPv4 ID (`id_step` from the first's, `None` if IDs do not count) continues
    /// `flow`'s train: `Some(true)` as a fixed-ID train, `Some(false)` incrementing, `None` not.
    #[inline(always)]
    fn ids_follow(&self, flow: &Flow, id_step: Option<u16>) -> Option<bool> {
        let mut fixed = flow.fixed;
        if let Some(d) = id_step {
            // K23: older kernels take a repeated ID as a fixed-ID train only with DF set.
            if flow.count == 1
                && d == 0
                && self.opts.policy == Policy::Linux
                && (flow.first.df() || !self.opts.kernel.gro_fixed_id_needs_df)
            {
                fixed = true;
            }
            let want = if fixed { 0 } else { flow.count as u16 };
            if d != want {
                return None;
            }
        }
        Some(fixed)
    }

    /// Counts `seg` (input `i`) into flow `fi`; true if the segment ends the flow's train.
    #[inline(always)]
    pub(super) fn absorb(&mut self, fi: usize, i: usize, seg: &Seg) -> bool {
        let Some(f) = self.table.get_mut(fi) else {
            return false;
        };
        let payload = seg.payload();
        f.len += payload;
        f.count += 1;
        let tail = core::mem::replace(&mut f.tail, i);
        f.next_seq = seg.seq.wrapping_add(payload as u32);
        if let Some(o) = self.owner.get_mut(tail) {
            *o = i;
        }
        if let Some(o) = self.owner.get_mut(i) {
            *o = END;
        }
        let mss = f.first.payload();
        if seg.tcp() {
            // G4: a short segment or one with URG/PSH/RST/SYN/FIN ends the train.
            payload < mss || seg.flags().intersects(COMPLETE)
        } else {
            // G4: a shorter datagram ends the train, as does the segment limit.
            payload < mss || f.count >= usize::from(self.opts.udp_gro_max_segments.max(1))
        }
    }

    /// Holds `seg` (input `i`, verified) as a new flow, or hands it on now if it cannot start
    /// one (G4: no payload, URG/PSH/RST/SYN/FIN; G3: CWR under Relaxed; under Linux a CWR
    /// segment is held like any other, K21).
    pub(super) fn start(&mut self, i: usize, seg: Seg) {
        if !self.holds(&seg) {
            self.emit(i);
            return;
        }
        if self.table.is_full() {
            self.complete(0);
        }
        let flow = Flow {
            first: seg,
            head: i,
            first_at: i,
            tail: i,
            last_flags: 0,
            len: seg.len,
            count: 1,
            next_seq: seg.seq.wrapping_add(seg.payload() as u32),
            fixed: false,
        };
        if let Some(o) = self.owner.get_mut(i) {
            *o = END;
        }
        // Cannot fail: a slot was just made free.
        let _ = self.table.push(flow);
    }

    /// Whether `seg` can start a held flow: not a TCP segment without payload or with
    /// URG/PSH/RST/SYN/FIN (G4), nor one with CWR under Relaxed (G3).
    fn holds(&self, seg: &Seg) -> bool {
        let relaxed = self.opts.policy == Policy::Relaxed;
        !(seg.tcp()
            && (seg.payload() == 0
                || seg.flags().intersects(COMPLETE)
                || (relaxed && seg.flags().contains(TcpFlags::CWR))))
    }

    /// Completes flow `fi` and hands it on (G6, G8): a single segment or a fixed-ID train as the
    /// packets they were, in order; a merged packet with its lengths, checksums and header.
    /// Under [`Verify::AtCompletion`] its members are verified in the same walk (G1): one whose
    /// checksum fails fails the run, whose outputs are then not used, so the order does not
    /// matter.
    pub(super) fn complete(&mut self, fi: usize) {
        let Some(f) = self.table.get(fi).copied() else {
            return;
        };
        let _ = self.table.remove(fi);
        // Members share the first segment's key and L4 offset (G2): its pseudo-header serves
        // them all.
        let verify =
            (self.verify == Verify::AtCompletion).then(|| (f.first.pseudo(0), f.first.l4_offset));
        let fails = move |run: &Self, j: usize| {
            verify.is_some_and(|(pseudo, l4_at)| {
                !l4_verifies(run.summer, pseudo, l4_at, run.m.packet(j))
            })
        };
        if f.count < 2 || f.fixed {
            // A fixed-ID train has no segment in front (prepends are Relaxed's, fixed trains
            // Linux's): the chain is in input order (G8).
            self.take_members(&f, |run, j| {
                run.failed |= fails(run, j);
                run.emit(j);
            });
            return;
        }
        let k = self.n_out;
        self.m.emit_merged(k, &f, self.owner);
        self.take_members(&f, |run, j| {
            run.failed |= fails(run, j);
            if let Some(o) = run.owner.get_mut(j) {
                *o = k;
            }
        });
        self.n_out += 1;
    }

    /// Visits the members of `f` in payload order, each link read before `visit` may replace
    /// it (with the member's output).
    fn take_members(&mut self, f: &Flow, mut visit: impl FnMut(&mut Self, usize)) {
        let mut next = Some(f.first_at);
        for _ in 0..f.count {
            let Some(j) = next else {
                break;
            };
            next = next_member(self.owner, j);
            visit(self, j);
        }
    }
}

/// The merged packet's virtio-net header (G6), from its first segment `s`.
pub(super) fn merged_header(s: &Seg) -> VnetHdr {
    let mut gso_type = if s.key.v6 {
        GsoType::TCPV6
    } else {
        GsoType::TCPV4
    };
    let csum_offset;
    if s.tcp() {
        if s.flags().contains(TcpFlags::CWR) {
            gso_type = GsoType(gso_type.0 | GsoType::ECN.0);
        }
        csum_offset = 16;
    } else {
        gso_type = GsoType::UDP_L4;
        csum_offset = 6;
    }
    VnetHdr {
        flags: Flags::NEEDS_CSUM,
        gso_type,
        hdr_len: s.hdr_len as u16,
        gso_size: s.payload() as u16,
        csum_start: s.l4_offset as u16,
        csum_offset,
        ..VnetHdr::default()
    }
}

/// G6: rewrites the headers of the merged packet of `len` bytes whose first segment is `s`, in
/// `head` (its headers at least: `s.hdr_len` bytes): its IP length and IPv4 header checksum, its
/// UDP length, its L4 pseudo-header sum, and FIN/PSH of its last segment (`last_flags`, G4).
pub(super) fn finish_merged(head: &mut [u8], len: usize, s: &Seg, last_flags: u16) {
    let l4_len = len - s.l4_offset;
    let pseudo = s.pseudo(l4_len);
    let (ip, l4) = head.split_at_mut(s.l4_offset.min(head.len()));
    if s.key.v6 {
        Ipv6Packet::new_unchecked(&mut *ip).set_payload_len((len - wire::IPV6_HEADER_LEN) as u16);
    } else {
        let mut v4 = Ipv4Packet::new_unchecked(&mut *ip);
        v4.set_total_len(len as u16);
        v4.set_checksum(csum::finish(s.ipv4_header_sum(len)));
    }
    if s.tcp() {
        let mut tcp = TcpPacket::new_unchecked(l4);
        tcp.set_checksum(pseudo);
        if last_flags != 0 {
            let merged = TcpFlags(tcp.flags().0 | last_flags);
            tcp.set_flags(merged);
        }
    } else {
        let mut udp = UdpPacket::new_unchecked(l4);
        udp.set_length(l4_len as u16);
        udp.set_checksum(pseudo);
    }
}

/// The contiguous form's medium: packets in caller buffers with spare capacity, a merged packet
/// grown in the buffer of its first segment (`coalesce`).
pub(super) struct InPlace<'b, B> {
    pub(super) bufs: &'b mut [B],
    pub(super) lens: &'b [usize],
    pub(super) out: &'b mut [Output],
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> InPlace<'_, B> {
    /// The flow's head buffer (to grow) and input `i`'s bytes (to take from): the head is always
    /// an earlier input, so one split gives both borrows. `None` only on inconsistent indices.
    #[inline(always)]
    fn head_and_input(&mut self, f: &Flow, i: usize) -> Option<(&mut [u8], &[u8])> {
        let len = self.lens.get(i).copied().unwrap_or(0);
        let (before, rest) = self.bufs.split_at_mut_checked(i)?;
        let head = before.get_mut(f.head)?;
        let pkt = rest.first()?.as_ref().get(..len)?;
        Some((head.as_mut(), pkt))
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Medium for InPlace<'_, B> {
    fn count(&self) -> usize {
        self.lens.len()
    }

    #[inline(always)]
    fn packet(&self, i: usize) -> &[u8] {
        let len = self.lens.get(i).copied().unwrap_or(0);
        self.bufs
            .get(i)
            .and_then(|b| b.as_ref().get(..len))
            .unwrap_or(&[])
    }

    #[inline(always)]
    fn held(&self, f: &Flow) -> Held<'_> {
        let bytes = self.bufs.get(f.head).map_or(&[][..], AsRef::as_ref);
        Held {
            bytes,
            room: bytes.len(),
        }
    }

    #[inline(always)]
    fn append<S: Summer>(
        &mut self,
        summer: S,
        verify: bool,
        f: &Flow,
        i: usize,
        seg: &Seg,
    ) -> bool {
        self.head_and_input(f, i)
            .is_some_and(|(head, pkt)| append(summer, verify, head, f.len, seg, pkt))
    }

    fn put_in_front(&mut self, f: &Flow, i: usize, seg: &Seg) -> bool {
        self.head_and_input(f, i)
            .is_some_and(|(head, pkt)| put_in_front(head, f.len, seg, pkt))
    }

    fn emit(&mut self, k: usize, i: usize) {
        if let Some(slot) = self.out.get_mut(k) {
            *slot = Output {
                index: i,
                len: self.lens.get(i).copied().unwrap_or(0),
                hdr: VnetHdr::default(),
                segments: 1,
            };
        }
    }

    fn emit_merged(&mut self, k: usize, f: &Flow, _owner: &[usize]) {
        let Some(pkt) = self
            .bufs
            .get_mut(f.head)
            .and_then(|b| b.as_mut().get_mut(..f.len))
        else {
            return;
        };
        finish_merged(pkt, f.len, &f.first, f.last_flags);
        if let Some(slot) = self.out.get_mut(k) {
            *slot = Output {
                index: f.head,
                len: f.len,
                hdr: merged_header(&f.first),
                segments: f.count,
            };
        }
    }
}

/// What to do with a segment of a held flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Append it to the held packet.
    Merge,
    /// Put it in front of the held packet ([`Policy::Relaxed`], G3).
    Prepend,
    /// Count it into a fixed-ID train, delivered as it came ([`Policy::Linux`]).
    Fixed,
    /// Complete the held packet; the segment starts anew.
    Flush,
}

/// Copies `seg`'s payload behind the held packet's `held_len` bytes in `head` and, with `verify`,
/// verifies `seg`'s checksum in the same pass (G1; else it is trusted, G10); false if it does not
/// fit or does not verify. Inlined into `merge`: the hot path.
#[inline(always)]
fn append<S: Summer>(
    summer: S,
    verify: bool,
    head: &mut [u8],
    held_len: usize,
    seg: &Seg,
    pkt: &[u8],
) -> bool {
    let payload = pkt.get(seg.hdr_len..).unwrap_or(&[]);
    let dst = head
        .get_mut(held_len..)
        .and_then(|spare| spare.get_mut(..payload.len()));
    let Some(dst) = dst else {
        return false;
    };
    if !verify {
        dst.copy_from_slice(payload);
        return true;
    }
    // One pass: the payload is summed as it is copied (the TCP header is summed apart; it is a
    // whole number of 4-byte words, so the payload starts at an even offset).
    let header = pkt.get(seg.l4_offset..seg.hdr_len).unwrap_or(&[]);
    let head_sum = csum::combine(seg.pseudo(pkt.len() - seg.l4_offset), csum::sum(header));
    summer
        .copy_and_sum(dst, payload)
        .is_some_and(|sum| csum::combine(head_sum, sum) == 0xFFFF)
}

/// G3 (Relaxed, prepend): moves the held payload in `head` up by `seg`'s payload, which goes in
/// front, and `seg`'s headers become the merged packet's (same length); false, `head` untouched,
/// if the buffer has no room or `pkt` is not `seg`.
fn put_in_front(head: &mut [u8], held_len: usize, seg: &Seg, pkt: &[u8]) -> bool {
    let m = seg.payload();
    let h = seg.hdr_len;
    // The held packet's bytes after its headers, with `m` spare bytes behind them.
    let region = head.get_mut(h..held_len + m);
    let held = region.as_ref().and_then(|r| r.len().checked_sub(m));
    let (Some(region), Some(held)) = (region, held) else {
        return false;
    };
    if pkt.len() != h + m {
        return false;
    }
    shift_up(region, held, m);
    if let (Some(dst), Some(src)) = (head.get_mut(..h + m), pkt.get(..h + m)) {
        dst.copy_from_slice(src);
    }
    true
}

/// Moves `buf[..len]` up by `by` bytes (`buf` holds at least `len + by`), from the back in pieces
/// of at most `by` bytes, none overlapping its destination: plain copies, where `copy_within`
/// would leave range checks (a panic path: ARCHITECTURE.md, 'No panic path') in a bare-metal
/// build.
pub(super) fn shift_up(buf: &mut [u8], len: usize, by: usize) {
    if by == 0 {
        return;
    }
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(by);
        // `[start, end)` goes to `[start + by, end + by)`, at or after `end`.
        let Some((lo, hi)) = buf.split_at_mut_checked(end) else {
            return;
        };
        let src = lo.get(start..).unwrap_or(&[]);
        let Some(dst) = hi
            .get_mut(start + by - end..)
            .and_then(|d| d.get_mut(..src.len()))
        else {
            return;
        };
        dst.copy_from_slice(src);
        end = start;
    }
}
