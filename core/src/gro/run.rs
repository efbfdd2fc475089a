//! One `coalesce` call: each segment judged against its flow's held packet (G2-G5), merged,
//! prepended, counted into a fixed-ID train or started anew, and flows completed in the kernel's
//! order (G6-G8).

use super::*;

/// The state of one `coalesce` call.
pub(super) struct Run<'a, const FLOWS: usize, S: Summer> {
    pub(super) opts: GroOptions,
    pub(super) summer: S,
    pub(super) table: &'a mut HVec<Flow, FLOWS>,
    pub(super) lens: &'a [usize],
    pub(super) out: &'a mut [Output],
    /// While running: `k` for an input handed on as output `k`, `n + head` for an input counted
    /// into the held flow whose head is `head` (resolved at the end), unspecified otherwise.
    pub(super) owner: &'a mut [usize],
    pub(super) n_out: usize,
}

impl<const FLOWS: usize, S: Summer> Run<'_, FLOWS, S> {
    /// The batch size: marks of absorbed inputs start here.
    pub(super) fn n(&self) -> usize {
        self.lens.len()
    }

    /// Hands on input `i` as it is (a zero header) as the next output and returns its index.
    pub(super) fn emit(&mut self, i: usize, len: usize) -> usize {
        self.emit_with(
            i,
            Output {
                index: i,
                len,
                hdr: VnetHdr::default(),
                segments: 1,
            },
        )
    }

    /// Hands on `o`, held in buffer `i`, as the next output (completion order) and returns its
    /// index.
    pub(super) fn emit_with(&mut self, i: usize, o: Output) -> usize {
        let k = self.n_out;
        if let Some(slot) = self.out.get_mut(k) {
            *slot = o;
        }
        if let Some(slot) = self.owner.get_mut(i) {
            *slot = k;
        }
        self.n_out += 1;
        k
    }

    /// One coalesce step for input `i`, as the sequence of its decisions: eligible (G1), which
    /// held flow (G2), the verdict against its held packet (G2-G5), and what follows from it.
    pub(super) fn step<B: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        bufs: &mut [B],
        i: usize,
        len: usize,
    ) {
        let Some((before, rest)) = bufs.split_at_mut_checked(i) else {
            return;
        };
        let Some(pkt) = rest.first().and_then(|b| b.as_ref().get(..len)) else {
            return;
        };
        // G1: not eligible: handed on now, as it came; held flows are not disturbed, so it
        // overtakes them (G8).
        let Some(seg) = &classify(pkt, &self.opts) else {
            self.emit(i, len);
            return;
        };
        let Some(fi) = self.find(before, seg, pkt) else {
            if self.verified(i, seg, pkt) {
                self.start(bufs, i, *seg);
            }
            return;
        };
        // The held flow is read in place (not copied): what the verdict needs of it.
        let Some(flow) = self.table.get(fi) else {
            return;
        };
        let head = before.get_mut(flow.head).map(AsMut::as_mut);
        match self.judge(flow, seg, head.as_deref(), pkt) {
            Verdict::Merge => {
                if self.merge(head, fi, i, seg, pkt) {
                    self.complete(bufs, fi);
                }
            }
            Verdict::Prepend => self.prepend(head, fi, i, seg, pkt),
            Verdict::Fixed => {
                if self.verified(i, seg, pkt) && self.count_fixed(fi, i, seg) {
                    self.complete(bufs, fi);
                }
            }
            Verdict::Flush => {
                // G8: the held packet is handed on before the segment, which starts anew.
                if self.verified(i, seg, pkt) {
                    self.complete(bufs, fi);
                    self.start(bufs, i, *seg);
                }
            }
        }
    }

    /// The held flow `seg` belongs to, if any (G2: same key, same IPv6 extension headers).
    #[inline]
    fn find<B: AsRef<[u8]>>(&self, before: &[B], seg: &Seg, pkt: &[u8]) -> Option<usize> {
        self.table
            .iter()
            .position(|f| f.first.key == seg.key && same_ext(before, f, seg, pkt))
    }

    /// Whether `seg`'s L4 checksum verifies where it lies; if not, input `i` is handed on as it
    /// came and held flows are not disturbed (G1).
    #[inline]
    fn verified(&mut self, i: usize, seg: &Seg, pkt: &[u8]) -> bool {
        let ok = verify_in_place(self.summer, seg, pkt);
        if !ok {
            self.emit(i, pkt.len());
        }
        ok
    }

    /// [`Verdict::Merge`]: appends `seg` (input `i`) to flow `fi`'s held packet in `head` if its
    /// checksum verifies (else hands it on, G1); true if it ends the train (G4).
    /// Inlined into `step` (the hot path), as it was before `step` was split.
    #[inline(always)]
    fn merge(
        &mut self,
        head: Option<&mut [u8]>,
        fi: usize,
        i: usize,
        seg: &Seg,
        pkt: &[u8],
    ) -> bool {
        let (Some(head), Some(flow)) = (head, self.table.get(fi)) else {
            return false;
        };
        let (held_len, held_l4) = (flow.len, flow.first.l4_offset);
        if !append(self.summer, head, held_len, seg, pkt) {
            self.emit(i, pkt.len());
            return false;
        }
        carry_last_flags(head, held_l4, seg);
        self.absorb(fi, i, seg)
    }

    /// [`Verdict::Prepend`] (G3, Relaxed): puts `seg` (input `i`, verified) in front of flow
    /// `fi`'s held packet in `head`, whose first segment it becomes; else hands it on.
    #[inline]
    fn prepend(&mut self, head: Option<&mut [u8]>, fi: usize, i: usize, seg: &Seg, pkt: &[u8]) {
        let Some(head) = head else { return };
        if !self.verified(i, seg, pkt) {
            return;
        }
        let Some(&Flow {
            len: held_len,
            head: held_head,
            ..
        }) = self.table.get(fi)
        else {
            return;
        };
        if !put_in_front(head, held_len, seg, pkt) {
            self.emit(i, pkt.len());
            return;
        }
        let m = seg.payload();
        if let Some(f) = self.table.get_mut(fi) {
            f.first = *seg;
            f.len += m;
            f.count += 1;
            f.last = i;
        }
        if let Some(o) = self.owner.get_mut(i) {
            *o = self.lens.len() + held_head;
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
    pub(super) fn judge(&self, flow: &Flow, seg: &Seg, head: Option<&[u8]>, pkt: &[u8]) -> Verdict {
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
            Some(false) if head.is_none_or(|h| flow.len + payload > h.len()) => Verdict::Flush,
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
    fn tcp_differs(&self, p: &Seg, seg: &Seg, head: Option<&[u8]>, pkt: &[u8]) -> bool {
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
        let held = head.and_then(|h| h.get(opts_at..p.hdr_len));
        held.is_none() || (opts_at < p.hdr_len && held != pkt.get(opts_at..p.hdr_len))
    }

    /// G3 (Relaxed): whether TCP segment `seg`, out of sequence, goes in front of `flow`'s held
    /// packet: full-sized, ending where the held packet begins, without FIN/PSH (those belong to
    /// the last segment), if IDs count with the first's ID minus one, and with room in `head`.
    #[inline(always)]
    fn prepends(&self, flow: &Flow, seg: &Seg, head: Option<&[u8]>, id_step: Option<u16>) -> bool {
        let payload = seg.payload();
        self.opts.policy == Policy::Relaxed
            && !flow.fixed
            && payload == flow.first.payload()
            && seg.flags().0 & LAST_ONLY == 0
            && seg.seq.wrapping_add(payload as u32) == flow.first.seq
            && id_step.is_none_or(|d| d == u16::MAX)
            && head.is_some_and(|h| flow.len + payload <= h.len())
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
            *o = mark + f.head;
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
    pub(super) fn start<B: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        bufs: &mut [B],
        i: usize,
        seg: Seg,
    ) {
        let relaxed = self.opts.policy == Policy::Relaxed;
        if seg.tcp()
            && (seg.payload() == 0
                || seg.flags().intersects(COMPLETE)
                || (relaxed && seg.flags().contains(TcpFlags::CWR)))
        {
            self.emit(i, seg.len);
            return;
        }
        if self.table.is_full() {
            self.complete(bufs, 0);
        }
        let flow = Flow {
            first: seg,
            head: i,
            last: i,
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
    pub(super) fn complete<B: AsRef<[u8]> + AsMut<[u8]>>(&mut self, bufs: &mut [B], fi: usize) {
        let Some(f) = self.table.get(fi).copied() else {
            return;
        };
        let _ = self.table.remove(fi);
        if f.count < 2 || f.fixed {
            self.emit_train(&f);
            return;
        }
        let Some(pkt) = bufs
            .get_mut(f.head)
            .and_then(|b| b.as_mut().get_mut(..f.len))
        else {
            return;
        };
        let hdr = finish_merged(pkt, &f.first);
        self.emit_with(
            f.head,
            Output {
                index: f.head,
                len: f.len,
                hdr,
                segments: f.count,
            },
        );
    }

    /// Hands on a single segment or a fixed-ID train (G3) as the packets it was, in input order
    /// (G8): its head, then the inputs marked with its head, up to its last.
    fn emit_train(&mut self, f: &Flow) {
        self.emit(f.head, f.first.len);
        let mark = self.n() + f.head;
        for j in f.head + 1..=f.last {
            if self.owner.get(j) == Some(&mark) {
                let len = self.lens.get(j).copied().unwrap_or(0);
                self.emit(j, len);
            }
        }
    }
}

/// G6: rewrites the merged packet `pkt` (first segment `s`) in place, its IP length and IPv4
/// header checksum, its UDP length and its L4 pseudo-header sum, and returns its virtio-net header.
fn finish_merged(pkt: &mut [u8], s: &Seg) -> VnetHdr {
    let len = pkt.len();
    let l4_len = len - s.l4_offset;
    let pseudo = s.pseudo(l4_len);
    let (ip, l4) = pkt.split_at_mut(s.l4_offset.min(len));
    let mut gso_type;
    if s.key.v6 {
        Ipv6Packet::new_unchecked(&mut *ip).set_payload_len((len - wire::IPV6_HEADER_LEN) as u16);
        gso_type = GsoType::TCPV6;
    } else {
        let mut v4 = Ipv4Packet::new_unchecked(&mut *ip);
        v4.set_total_len(len as u16);
        v4.set_checksum(0);
        let check = csum::finish(csum::sum(v4.header()));
        v4.set_checksum(check);
        gso_type = GsoType::TCPV4;
    }
    let csum_offset;
    if s.tcp() {
        let mut tcp = TcpPacket::new_unchecked(l4);
        tcp.set_checksum(pseudo);
        if s.flags().contains(TcpFlags::CWR) {
            gso_type = GsoType(gso_type.0 | GsoType::ECN.0);
        }
        csum_offset = 16;
    } else {
        let mut udp = UdpPacket::new_unchecked(l4);
        udp.set_length(l4_len as u16);
        udp.set_checksum(pseudo);
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

/// Copies `seg`'s payload behind the held packet's `held_len` bytes in `head` and verifies
/// `seg`'s checksum in the same pass (G1); false if it does not fit or does not verify.
/// Inlined into `merge`: the hot path.
#[inline(always)]
fn append<S: Summer>(summer: S, head: &mut [u8], held_len: usize, seg: &Seg, pkt: &[u8]) -> bool {
    let payload = pkt.get(seg.hdr_len..).unwrap_or(&[]);
    let dst = head
        .get_mut(held_len..)
        .and_then(|spare| spare.get_mut(..payload.len()));
    let Some(dst) = dst else {
        return false;
    };
    // One pass: the payload is summed as it is copied (the TCP header is summed apart; it is a
    // whole number of 4-byte words, so the payload starts at an even offset).
    let header = pkt.get(seg.l4_offset..seg.hdr_len).unwrap_or(&[]);
    let head_sum = csum::combine(seg.pseudo(pkt.len() - seg.l4_offset), csum::sum(header));
    summer
        .copy_and_sum(dst, payload)
        .is_some_and(|sum| csum::combine(head_sum, sum) == 0xFFFF)
}

/// G4: FIN/PSH of the last merged TCP segment go on the merged packet in `head`, whose TCP
/// header starts at `l4`. Inlined into `merge`: the hot path.
#[inline(always)]
fn carry_last_flags(head: &mut [u8], l4: usize, seg: &Seg) {
    let flags = seg.flags();
    if seg.tcp() && flags.0 & LAST_ONLY != 0 {
        let mut tcp = TcpPacket::new_unchecked(head.get_mut(l4..).unwrap_or(&mut []));
        let merged = TcpFlags(tcp.flags().0 | (flags.0 & LAST_ONLY));
        tcp.set_flags(merged);
    }
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
