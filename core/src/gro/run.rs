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
    /// Hands on merged flow `f` as output `k` (G6). `owner` holds the marks of its members
    /// ([`Run::owner`]), `n` the batch size.
    fn emit_merged(&mut self, k: usize, f: &Flow, owner: &[usize], n: usize);
}

/// A held packet as the rules read it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Held<'a> {
    /// Its bytes from the start: its headers at least (the first segment's, G2).
    pub(super) bytes: &'a [u8],
    /// The bytes it may grow to: a merge beyond completes it (G5).
    pub(super) room: usize,
}

/// The owner mark of an input appended to (or counted into) the held flow whose head is `head`
/// (`n` the batch size); [`prepend_mark`] for one put in front.
pub(super) const fn append_mark(n: usize, head: usize) -> usize {
    n + head
}

/// The owner mark of an input put in front of the held flow whose head is `head` (G3).
pub(super) const fn prepend_mark(n: usize, head: usize) -> usize {
    2 * n + head
}

/// The head a mark names, if it is one (not an output's index).
pub(super) const fn head_of_mark(mark: usize, n: usize) -> Option<usize> {
    if mark >= 2 * n {
        Some(mark - 2 * n)
    } else if mark >= n {
        Some(mark - n)
    } else {
        None
    }
}

/// The state of one `coalesce` call.
pub(super) struct Run<'a, const FLOWS: usize, S: Summer, M: Medium> {
    pub(super) opts: GroOptions,
    pub(super) summer: S,
    pub(super) table: &'a mut HVec<Flow, FLOWS>,
    pub(super) m: M,
    /// While running: `k` for an input handed on as output `k`, [`append_mark`] or
    /// [`prepend_mark`] of its head for an input counted into a held flow (resolved at the end),
    /// unspecified otherwise.
    pub(super) owner: &'a mut [usize],
    pub(super) n_out: usize,
}

impl<const FLOWS: usize, S: Summer, M: Medium> Run<'_, FLOWS, S, M> {
    /// The batch size: marks of absorbed inputs start here.
    pub(super) fn n(&self) -> usize {
        self.m.count()
    }

    /// Runs every input, completes the held flows at the end (oldest first, K10) and resolves
    /// the marks in `owner`; returns the number of outputs, and the medium.
    pub(super) fn run(mut self) -> (usize, M) {
        let n = self.n();
        self.table.clear();
        for i in 0..n {
            self.step(i);
        }
        while !self.table.is_empty() {
            self.complete(0);
        }
        // An absorbed input was marked with its flow's head (head < i); the head's output is
        // known now.
        for i in 0..n {
            let Some(&mark) = self.owner.get(i) else {
                break;
            };
            if let Some(head) = head_of_mark(mark, n) {
                let k = self.owner.get(head).copied().unwrap_or(mark);
                if let Some(o) = self.owner.get_mut(i) {
                    *o = k;
                }
            }
        }
        (self.n_out, self.m)
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
        match self.judge(flow, seg, Some(self.m.held(flow)), pkt) {
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
        self.table
            .iter()
            .position(|f| f.first.key == seg.key && same_ext(self.m.held(f).bytes, f, seg, pkt))
    }

    /// Whether `seg`'s L4 checksum verifies where it lies (or is trusted, G10); if not, input `i`
    /// is handed on as it came and held flows are not disturbed (G1).
    #[inline]
    fn verified(&mut self, i: usize, seg: &Seg) -> bool {
        let ok = !self.opts.verifies() || verify_in_place(self.summer, seg, self.m.packet(i));
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
            .append(self.summer, self.opts.verifies(), flow, i, seg)
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
        let n = self.n();
        let Some(flow) = self.table.get(fi) else {
            return;
        };
        let held_head = flow.head;
        if !self.m.put_in_front(flow, i, seg) {
            self.emit(i);
            return;
        }
        let m = seg.payload();
        if let Some(f) = self.table.get_mut(fi) {
            f.first = *seg;
            f.first_at = i;
            f.len += m;
            f.count += 1;
            f.last = i;
        }
        if let Some(o) = self.owner.get_mut(i) {
            *o = prepend_mark(n, held_head);
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
    pub(super) fn judge(
        &self,
        flow: &Flow,
        seg: &Seg,
        head: Option<Held<'_>>,
        pkt: &[u8],
    ) -> Verdict {
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
            Some(false) if head.is_none_or(|h| flow.len + payload > h.room) => Verdict::Flush,
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
    fn tcp_differs(&self, p: &Seg, seg: &Seg, head: Option<Held<'_>>, pkt: &[u8]) -> bool {
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
        // Options must be byte-identical; most segments have none, and then no `memcmp` call is
        // made.
        let held = head.and_then(|h| h.bytes.get(opts_at..p.hdr_len));
        held.is_none() || (opts_at < p.hdr_len && held != pkt.get(opts_at..p.hdr_len))
    }

    /// G3 (Relaxed): whether TCP segment `seg`, out of sequence, goes in front of `flow`'s held
    /// packet: full-sized, ending where the held packet begins, without FIN/PSH (those belong to
    /// the last segment), if IDs count with the first's ID minus one, and with room in `head`.
    #[inline(always)]
    fn prepends(
        &self,
        flow: &Flow,
        seg: &Seg,
        head: Option<Held<'_>>,
        id_step: Option<u16>,
    ) -> bool {
        let payload = seg.payload();
        self.opts.policy == Policy::Relaxed
            && !flow.fixed
            && payload == flow.first.payload()
            && seg.flags().0 & LAST_ONLY == 0
            && seg.seq.wrapping_add(payload as u32) == flow.first.seq
            && id_step.is_none_or(|d| d == u16::MAX)
            && head.is_some_and(|h| flow.len + payload <= h.room)
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
    pub(super) fn absorb(&mut self, fi: usize, i: usize, seg: &Seg) -> bool {
        let mark = self.n();
        let Some(f) = self.table.get_mut(fi) else {
            return false;
        };
        let payload = seg.payload();
        f.len += payload;
        f.count += 1;
        f.last = i;
        f.next_seq = seg.seq.wrapping_add(payload as u32);
        if let Some(o) = self.owner.get_mut(i) {
            *o = append_mark(mark, f.head);
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
        let relaxed = self.opts.policy == Policy::Relaxed;
        if seg.tcp()
            && (seg.payload() == 0
                || seg.flags().intersects(COMPLETE)
                || (relaxed && seg.flags().contains(TcpFlags::CWR)))
        {
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
            last: i,
            last_flags: 0,
            len: seg.len,
            count: 1,
            next_seq: seg.seq.wrapping_add(seg.payload() as u32),
            fixed: false,
        };
        // Cannot fail: a slot was just made free.
        let _ = self.table.push(flow);
    }

    /// Completes flow `fi` and hands it on (G6, G8): a single segment or a fixed-ID train as the
    /// packets they were, in order; a merged packet with its lengths, checksums and header.
    pub(super) fn complete(&mut self, fi: usize) {
        let Some(f) = self.table.get(fi).copied() else {
            return;
        };
        let _ = self.table.remove(fi);
        if f.count < 2 || f.fixed {
            self.emit_train(&f);
            return;
        }
        let (k, n) = (self.n_out, self.n());
        self.m.emit_merged(k, &f, self.owner, n);
        if let Some(slot) = self.owner.get_mut(f.head) {
            *slot = k;
        }
        self.n_out += 1;
    }

    /// Hands on a single segment or a fixed-ID train (G3) as the packets it was, in input order
    /// (G8): its head, then the inputs marked with its head, up to its last.
    fn emit_train(&mut self, f: &Flow) {
        self.emit(f.head);
        let mark = append_mark(self.n(), f.head);
        for j in f.head + 1..=f.last {
            if self.owner.get(j) == Some(&mark) {
                self.emit(j);
            }
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
        v4.set_checksum(0);
        let check = csum::finish(csum::sum(v4.header()));
        v4.set_checksum(check);
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

    fn emit_merged(&mut self, k: usize, f: &Flow, _owner: &[usize], _n: usize) {
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
