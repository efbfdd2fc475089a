//! The GRO laws (L5, L6, L7, L11 and "fast == reference"; ARCHITECTURE.md, 'Laws'), generic over
//! [`Coalesce`], so that vnet-core, the reference model and peers are held to the same laws.
//!
//! Segmentation in L5/L6 is vnet-core's: [`check::check`] then a [`vnet_core::gso::Segmenter`] ([`split`]).
//! L5 also cross-checks it against the reference segmenter [`crate::model::gro::split`] on every merged
//! packet, so the GRO laws never rest on one segmenter alone.

use vnet_core::check::{self, CheckOptions, Offload};
use vnet_core::csum;
use vnet_core::gro::{Checksums, Gro, GroError, GroOptions, IovOutput, Output, Policy};
use vnet_core::gso::{GsoOptions, Segmenter};
use vnet_core::hdr::{GsoType, VnetHdr};
use vnet_core::wire::{self, Link};

use proptest::test_runner::TestCaseError;

use crate::model::gro::{self as model, Coalesced, ReferenceGro};

/// Ends the law with `Err(TestCaseError::fail(message))`: the failure convention of every law
/// (`laws`'s module docs).
macro_rules! fail {
    ($($msg:tt)+) => {
        return Err(TestCaseError::fail(format!($($msg)+)))
    };
}

/// `assert!` as a law failure, the message first (it is what a report shows on one line).
macro_rules! ensure {
    ($cond:expr) => {
        ensure!($cond, "{}", stringify!($cond))
    };
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            fail!($($msg)+)
        }
    };
}

/// `assert_eq!` as a law failure, the message first, then both sides.
macro_rules! ensure_eq {
    ($a:expr, $b:expr) => {
        ensure_eq!($a, $b, "{} == {}", stringify!($a), stringify!($b))
    };
    ($a:expr, $b:expr, $($msg:tt)+) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            fail!("{}\n  left: {a:?}\n right: {b:?}", format!($($msg)+))
        }
    }};
}

/// A coalescer under test: a batch of TUN packets in, outputs (header, bytes, the inputs each
/// carries in payload order) out, in completion order (G8).
pub trait Coalesce {
    /// A name for failure messages.
    fn name(&self) -> String;
    /// The options it runs with (the laws read the policy).
    fn options(&self) -> GroOptions;
    /// Coalesces `batch`.
    fn coalesce(&self, batch: &[Vec<u8>]) -> Vec<Coalesced>;
}

/// vnet-core's [`Gro`] with a `FLOWS`-entry table; every buffer gets `capacity` bytes (at least
/// the packet's length).
#[derive(Clone, Copy, Debug)]
pub struct CoreGro<const FLOWS: usize> {
    /// Options.
    pub opts: GroOptions,
    /// Bytes per buffer.
    pub capacity: usize,
}

impl<const FLOWS: usize> CoreGro<FLOWS> {
    /// With room for the largest datagram in every buffer.
    pub fn new(opts: GroOptions) -> Self {
        CoreGro {
            opts,
            capacity: vnet_core::gro::MAX_DATAGRAM,
        }
    }
}

impl<const FLOWS: usize> Coalesce for CoreGro<FLOWS> {
    fn name(&self) -> String {
        format!("vnet-core gro ({FLOWS} flows, {:?})", self.opts)
    }

    fn options(&self) -> GroOptions {
        self.opts
    }

    fn coalesce(&self, batch: &[Vec<u8>]) -> Vec<Coalesced> {
        let mut bufs: Vec<Vec<u8>> = batch
            .iter()
            .map(|p| {
                let mut b = p.clone();
                b.resize(self.capacity.max(p.len()), 0);
                b
            })
            .collect();
        let lens: Vec<usize> = batch.iter().map(Vec::len).collect();
        let mut out = vec![Output::default(); batch.len()];
        let mut owner = vec![usize::MAX; batch.len()];
        let n = Gro::<FLOWS>::new(self.opts)
            .coalesce(&mut bufs, &lens, &mut out, &mut owner)
            .expect("slices sized by the batch");
        out[..n]
            .iter()
            .enumerate()
            .map(|(k, o)| {
                let bytes = bufs[o.index][..o.len].to_vec();
                let mut members: Vec<usize> = (0..batch.len()).filter(|&i| owner[i] == k).collect();
                // Payload order is sequence order (a prepend puts a later input in front, G3):
                // by distance from the merged packet's sequence number.
                if o.hdr.gso_type != GsoType::NONE && o.hdr.gso_type != GsoType::UDP_L4 {
                    let lead = tcp_seq(&bytes, usize::from(o.hdr.csum_start));
                    members.sort_by_key(|&i| {
                        tcp_seq(&batch[i], usize::from(o.hdr.csum_start)).wrapping_sub(lead)
                    });
                }
                (o.hdr, bytes, members)
            })
            .collect()
    }
}

/// The table sizes [`CoreGroTable`] runs: every held-flow bound from 1 to 9 (Linux holds 8, K12),
/// 16 and 64.
pub const TABLE_SIZES: [usize; 11] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 64];

/// vnet-core's [`Gro`] with a table of `flows` entries picked at run time (one of
/// [`TABLE_SIZES`]; `FLOWS` is a const generic), so that a law can draw the flow bound (G7).
#[derive(Clone, Copy, Debug)]
pub struct CoreGroTable {
    /// The table's size, one of [`TABLE_SIZES`].
    pub flows: usize,
    /// Options.
    pub opts: GroOptions,
    /// Bytes per buffer.
    pub capacity: usize,
}

impl CoreGroTable {
    /// A table of `flows` with room for the largest datagram in every buffer.
    pub fn new(flows: usize, opts: GroOptions) -> Self {
        CoreGroTable {
            flows,
            opts,
            capacity: vnet_core::gro::MAX_DATAGRAM,
        }
    }
}

/// `Coalesce::name` and `Coalesce::options` of a GRO whose table size is a run-time `flows`
/// field beside its `opts`: the name is `$what` with both.
macro_rules! table_name_and_options {
    ($what:literal) => {
        fn name(&self) -> String {
            format!(concat!($what, " ({} flows, {:?})"), self.flows, self.opts)
        }

        fn options(&self) -> GroOptions {
            self.opts
        }
    };
}

impl Coalesce for CoreGroTable {
    table_name_and_options!("vnet-core gro");

    fn coalesce(&self, batch: &[Vec<u8>]) -> Vec<Coalesced> {
        let (opts, capacity) = (self.opts, self.capacity);
        macro_rules! sized {
            ($($n:literal)*) => {
                match self.flows {
                    $($n => CoreGro::<$n> { opts, capacity }.coalesce(batch),)*
                    n => panic!("CoreGroTable: {n} flows is not one of {TABLE_SIZES:?}"),
                }
            };
        }
        sized!(1 2 3 4 5 6 7 8 9 16 64)
    }
}

/// The TCP sequence number of a packet whose TCP header starts at `l4`.
fn tcp_seq(pkt: &[u8], l4: usize) -> u32 {
    u32::from_be_bytes(pkt[l4 + 4..l4 + 8].try_into().unwrap())
}

/// vnet-core's segmentation of what GRO produced: a packet with an all-zero header as it is, a
/// merged one through [`check::check`] (which must call it a segmentation request of its own
/// `gso_size`) and a [`Segmenter`] with default options (CWR on the first segment only, IDs
/// incrementing, TUN framing).
pub fn split(hdr: &VnetHdr, pkt: &[u8]) -> Vec<Vec<u8>> {
    if hdr.gso_type == GsoType::NONE {
        return vec![pkt.to_vec()];
    }
    let req = match check::check(hdr, pkt, &CheckOptions::default()) {
        Ok(Offload::Segment(req)) => req,
        other => panic!("merged packet not a GSO request: {other:?} {hdr:?}"),
    };
    let mut seg = Segmenter::new(&req, pkt, &GsoOptions::default())
        .unwrap_or_else(|e| panic!("gso refuses a merged packet: {e} {hdr:?}"));
    let mut buf = vec![0u8; seg.max_segment_len()];
    let mut out = Vec::with_capacity(seg.segment_count());
    while let Some(len) = seg.next_into(&mut buf) {
        let len = len.unwrap_or_else(|e| panic!("gso: {e}"));
        out.push(buf[..len].to_vec());
    }
    out
}

impl Coalesce for ReferenceGro {
    table_name_and_options!("reference model");

    fn coalesce(&self, batch: &[Vec<u8>]) -> Vec<Coalesced> {
        ReferenceGro::coalesce(self, batch)
    }
}

/// Invariants: every input is carried by exactly one output; members are in range and ascending
/// (under [`Policy::Relaxed`]: descending to the head, the earliest, then ascending: prepends come
/// in front in reverse arrival order); an output of one packet is that packet,
/// unchanged, with an all-zero header (G6); a merged output carries at least two packets and a
/// header that the kernel's validation accepts as a segmentation request of its own size (V1-V6).
pub fn invariants<C: Coalesce + ?Sized>(
    imp: &C,
    batch: &[Vec<u8>],
) -> Result<Vec<Coalesced>, TestCaseError> {
    let name = imp.name();
    let relaxed = imp.options().policy == Policy::Relaxed;
    let outs = imp.coalesce(batch);
    let mut seen = vec![false; batch.len()];
    for (hdr, bytes, members) in &outs {
        ensure!(!members.is_empty(), "{name}: an output with no inputs");
        let head = members.iter().position(|m| Some(m) == members.iter().min());
        let (front, back) = members.split_at(if relaxed { head.unwrap_or(0) } else { 0 });
        ensure!(
            front.windows(2).all(|w| w[0] > w[1]) && back.windows(2).all(|w| w[0] < w[1]),
            "{name}: members out of order: {members:?}"
        );
        for &m in members {
            ensure!(m < batch.len(), "{name}: member {m} out of range");
            ensure!(!seen[m], "{name}: input {m} carried twice");
            seen[m] = true;
        }
        if members.len() == 1 {
            ensure_eq!(*hdr, VnetHdr::default(), "{name}: single with a header");
            ensure_eq!(bytes, &batch[members[0]], "{name}: single changed");
        } else {
            let offload = check::check(hdr, bytes, &CheckOptions::default());
            match offload {
                Ok(Offload::Segment(req)) => {
                    ensure_eq!(req.gso_size, hdr.gso_size, "{name}");
                    ensure_eq!(req.hdr_len, usize::from(hdr.hdr_len), "{name}: hdr_len");
                }
                other => fail!("{name}: merged output not a GSO request: {other:?} {hdr:?}"),
            }
            ensure!(bytes.len() <= vnet_core::gro::MAX_DATAGRAM, "{name}: G5");
        }
    }
    ensure!(seen.iter().all(|&s| s), "{name}: an input was lost");
    Ok(outs)
}

/// L5: GRO then GSO (vnet-core's [`split`]) gives back every input, byte for byte, in payload (=
/// sequence) order, with one exception under both policies: the urgent pointer of a TCP segment
/// without URG, which Linux's GRO does not compare (K14) and segmentation copies from the first
/// segment (it means nothing without URG, RFC 9293 3.1); the expected segment takes the merged
/// packet's urgent pointer and its checksum the matching RFC 1624 update, so the checksum is still
/// checked exactly. Under [`Policy::Relaxed`] the one further exception is the IPv4 ID (and so the
/// header checksum) of DF packets, which segmentation renumbers; a prepend (G3) needs no other.
/// With [`Checksums::Trusted`] (G10) an input whose L4 checksum did not hold comes back with a
/// correct one (the merged packet's is computed afresh): its checksum field is the segment's.
/// The reference segmenter must give the same segments.
pub fn gro_then_gso<C: Coalesce + ?Sized>(imp: &C, batch: &[Vec<u8>]) -> Result<(), TestCaseError> {
    let name = imp.name();
    let relaxed = imp.options().policy == Policy::Relaxed;
    let trusted = imp.options().checksums == Checksums::Trusted;
    for (hdr, bytes, members) in invariants(imp, batch)? {
        let back = split(&hdr, &bytes);
        ensure_eq!(
            back,
            model::split(&hdr, &bytes),
            "{name}: vnet-core gso and the reference segmenter differ {hdr:?}"
        );
        ensure_eq!(back.len(), members.len(), "{name}: segment count {hdr:?}");
        for (seg, &m) in back.iter().zip(&members) {
            let mut want = with_urgent_pointer_of(&batch[m], seg);
            if trusted && !model::checksum_holds(&batch[m]) {
                let at = usize::from(hdr.csum_start) + usize::from(hdr.csum_offset);
                if let (Some(field), Some(theirs)) = (want.get_mut(at..at + 2), seg.get(at..at + 2))
                {
                    field.copy_from_slice(theirs);
                }
            }
            let want = &want;
            if relaxed && seg.len() >= 20 && seg[0] == 0x45 && seg[6] & 0x40 != 0 {
                let mask = |p: &[u8]| {
                    let mut p = p.to_vec();
                    p[4..6].fill(0);
                    p[10..12].fill(0);
                    p
                };
                ensure_eq!(mask(seg), mask(want), "{name}: input {m} (ID masked)");
            } else {
                ensure_eq!(seg, want, "{name}: input {m} not given back");
            }
        }
    }
    Ok(())
}

/// `want` with the urgent pointer of `seg` when `want` is TCP without URG (K14), its TCP checksum
/// updated to match; otherwise `want` unchanged.
fn with_urgent_pointer_of(want: &[u8], seg: &[u8]) -> Vec<u8> {
    let mut out = want.to_vec();
    let Ok(h) = wire::parse_headers(want, Link::Tun) else {
        return out;
    };
    let at = h.l4_offset;
    if h.protocol != wire::IpProtocol::TCP || want.len() < at + 20 || seg.len() < at + 20 {
        return out;
    }
    const URG: u8 = 0x20;
    let old = u16::from_be_bytes([want[at + 18], want[at + 19]]);
    let new = u16::from_be_bytes([seg[at + 18], seg[at + 19]]);
    // Equal pointers leave the packet alone (an update would only flip a checksum of 0xFFFF to
    // its other form, 0x0000).
    if want[at + 13] & URG != 0 || old == new {
        return out;
    }
    let check = u16::from_be_bytes([want[at + 16], want[at + 17]]);
    out[at + 16..at + 18].copy_from_slice(&csum::update(check, old, new).to_be_bytes());
    out[at + 18..at + 20].copy_from_slice(&new.to_be_bytes());
    out
}

/// L6: splitting a super-packet and coalescing its segments gives back the super-packet and its
/// header. `hdr`/`pkt` must be what GRO produces (NEEDS_CSUM with the pseudo-header sum in place).
pub fn gso_then_gro<C: Coalesce + ?Sized>(
    imp: &C,
    hdr: &VnetHdr,
    pkt: &[u8],
) -> Result<(), TestCaseError> {
    let segs = split(hdr, pkt);
    let outs = invariants(imp, &segs)?;
    ensure_eq!(outs.len(), 1, "{}: {} outputs", imp.name(), outs.len());
    let (h, b, members) = &outs[0];
    ensure_eq!(members.len(), segs.len());
    ensure_eq!(h, hdr, "{}: header", imp.name());
    ensure_eq!(b.as_slice(), pkt, "{}: bytes", imp.name());
    Ok(())
}

/// Fast == reference: two coalescers give the same outputs for `batch`.
pub fn agree<A: Coalesce + ?Sized, B: Coalesce + ?Sized>(
    a: &A,
    b: &B,
    batch: &[Vec<u8>],
) -> Result<(), TestCaseError> {
    let x = a.coalesce(batch);
    let y = b.coalesce(batch);
    ensure_eq!(
        x.len(),
        y.len(),
        "{} vs {}: output count",
        a.name(),
        b.name()
    );
    for (k, (p, q)) in x.iter().zip(&y).enumerate() {
        ensure_eq!(p, q, "{} vs {}: output {k}", a.name(), b.name());
    }
    Ok(())
}

/// L7 for vnet-core: any bytes, any lengths, any buffer capacities, any table size: `coalesce`
/// returns, every input is carried exactly once, outputs fit their buffers, a single is unchanged
/// and the buffers of absorbed inputs are not written.
pub fn total<const FLOWS: usize>(
    opts: GroOptions,
    bufs: &[Vec<u8>],
    lens: &[usize],
) -> Result<(), TestCaseError> {
    let mut work: Vec<Vec<u8>> = bufs.to_vec();
    let mut out = vec![Output::default(); bufs.len()];
    let mut owner = vec![usize::MAX; bufs.len()];
    let n = match Gro::<FLOWS>::new(opts).coalesce(&mut work, lens, &mut out, &mut owner) {
        Ok(n) => n,
        Err(_) => {
            ensure_eq!(work, bufs, "an error wrote to a buffer");
            return Ok(());
        }
    };
    ensure!(n <= bufs.len());
    for (i, &k) in owner.iter().enumerate() {
        ensure!(k < n, "input {i} has no output");
    }
    let mut heads = vec![false; bufs.len()];
    for (k, o) in out[..n].iter().enumerate() {
        ensure!(o.index < bufs.len() && o.len <= work[o.index].len());
        ensure_eq!(
            owner[o.index],
            k,
            "output {k} does not carry its own buffer"
        );
        heads[o.index] = true;
        let members = owner.iter().filter(|&&x| x == k).count();
        ensure_eq!(members, o.segments);
        if o.segments == 1 {
            ensure_eq!(o.hdr, VnetHdr::default());
            // Its spare capacity may hold a rejected segment's bytes (G1); the packet is intact.
            ensure_eq!(o.len, lens[o.index]);
            ensure_eq!(
                work[o.index][..o.len],
                bufs[o.index][..o.len],
                "single {k} written"
            );
        }
    }
    for i in 0..bufs.len() {
        if !heads[i] {
            ensure_eq!(work[i], bufs[i], "absorbed input {i} written");
        }
    }
    Ok(())
}

/// L11: the iovec form (G9, [`Gro::coalesce_iov`]) equals the contiguous form ([`Gro::coalesce`]
/// with room for the largest datagram in every buffer) on `batch`, with a table of `flows` (one of
/// [`TABLE_SIZES`]): the same count, and per output the same index, length, header and segment
/// count; its header bytes then its payload slices, concatenated, are the contiguous packet byte
/// for byte; it has one slice per input it carries, each lying inside one of those inputs (a
/// merged packet: exactly that input's payload); `owner` is the same. `headers` one byte short of
/// what the batch needs (and empty) is [`GroError::HeadersTooShort`] naming that length; with
/// exactly that length no byte after it is written.
pub fn iovec_equals_contiguous(
    flows: usize,
    opts: GroOptions,
    batch: &[Vec<u8>],
) -> Result<(), TestCaseError> {
    macro_rules! sized {
        ($($n:literal)*) => {
            match flows {
                $($n => iovec_equals_contiguous_on::<$n>(opts, batch),)*
                n => panic!("iovec_equals_contiguous: {n} flows is not one of {TABLE_SIZES:?}"),
            }
        };
    }
    sized!(1 2 3 4 5 6 7 8 9 16 64)
}

fn iovec_equals_contiguous_on<const FLOWS: usize>(
    opts: GroOptions,
    batch: &[Vec<u8>],
) -> Result<(), TestCaseError> {
    const CANARY: u8 = 0xA5;
    let n = batch.len();
    let name = format!("vnet-core gro iovec ({FLOWS} flows, {opts:?})");
    // The contiguous form.
    let (mut bufs, lens) = crate::strategy::train::gro_buffers(batch);
    let mut out = vec![Output::default(); n];
    let mut owner = vec![usize::MAX; n];
    let count = Gro::<FLOWS>::new(opts)
        .coalesce(&mut bufs, &lens, &mut out, &mut owner)
        .expect("slices sized by the batch");
    // The iovec form: first without room for headers, to learn what they need.
    let mut iout = vec![IovOutput::default(); n];
    let mut iowner = vec![usize::MAX; n];
    let mut slices: Vec<&[u8]> = vec![&[]; n];
    let mut gro = Gro::<FLOWS>::new(opts);
    let need = match gro.coalesce_iov(batch, &mut iout, &mut iowner, &mut slices, &mut []) {
        Ok(_) => 0,
        Err(GroError::HeadersTooShort { need, have: 0 }) if need > 0 => need,
        Err(e) => fail!("{name}: without header room: {e:?}"),
    };
    if need > 0 {
        let mut short = vec![CANARY; need - 1];
        let r = gro.coalesce_iov(batch, &mut iout, &mut iowner, &mut slices, &mut short);
        ensure_eq!(
            r,
            Err(GroError::HeadersTooShort {
                need,
                have: need - 1
            }),
            "{name}: headers one byte short"
        );
    }
    let mut headers = vec![CANARY; need + 16];
    let icount = gro
        .coalesce_iov(
            batch,
            &mut iout,
            &mut iowner,
            &mut slices,
            &mut headers[..need],
        )
        .map_err(|e| TestCaseError::fail(format!("{name}: with {need} header bytes: {e:?}")))?;
    ensure!(
        headers[need..].iter().all(|&b| b == CANARY),
        "{name}: written past the headers' {need} bytes"
    );
    ensure_eq!(icount, count, "{name}: output count");
    ensure_eq!(iowner, owner, "{name}: owner");
    for (k, (o, io)) in out[..count].iter().zip(&iout[..count]).enumerate() {
        ensure_eq!(
            (io.index, io.len, io.hdr, io.segments),
            (o.index, o.len, o.hdr, o.segments),
            "{name}: output {k}"
        );
        let header = io.header(&headers);
        let payload = io.payload(&slices);
        ensure_eq!(
            header.len(),
            io.header_len,
            "{name}: output {k}: header in bounds"
        );
        ensure_eq!(
            payload.len(),
            io.slices_len,
            "{name}: output {k}: slices in bounds"
        );
        ensure_eq!(
            payload.len(),
            o.segments,
            "{name}: output {k}: one slice per input"
        );
        let want_header = if o.segments > 1 {
            usize::from(o.hdr.hdr_len)
        } else {
            0
        };
        ensure_eq!(
            header.len(),
            want_header,
            "{name}: output {k}: header length"
        );
        let mut bytes = header.to_vec();
        for s in payload {
            bytes.extend_from_slice(s);
        }
        ensure!(
            bytes == bufs[o.index][..o.len],
            "{name}: output {k} ({} segments) differs from the contiguous packet",
            o.segments
        );
        // The slices are the inputs the output carries, in payload order (sequence order: a
        // prepend puts a later input in front, G3): a single is its input, a merged packet's
        // slices are its inputs' payloads (header bytes past).
        let mut members: Vec<usize> = (0..n).filter(|&m| owner[m] == k).collect();
        if o.hdr.gso_type != GsoType::NONE && o.hdr.gso_type != GsoType::UDP_L4 {
            let at = usize::from(o.hdr.csum_start);
            let lead = tcp_seq(&bufs[o.index], at);
            members.sort_by_key(|&m| tcp_seq(&batch[m], at).wrapping_sub(lead));
        }
        for (j, (s, &m)) in payload.iter().zip(&members).enumerate() {
            let p = batch[m].as_ptr_range();
            ensure!(
                s.as_ptr() == p.start.wrapping_add(want_header) && s.as_ptr_range().end == p.end,
                "{name}: output {k}: slice {j} is not input {m}'s payload (members {members:?})"
            );
        }
    }
    Ok(())
}
