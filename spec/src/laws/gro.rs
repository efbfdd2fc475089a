//! The GRO laws (DESIGN §7 L5, L6, L7 and "fast == reference"), generic over [`Coalesce`], so that
//! vnet-core, the reference model and peers run through the same oracle.
//!
//! Segmentation in L5/L6 is the reference segmenter [`model::gro::split`]: vnet-core's `gso`
//! has not landed on this branch yet; when it does, L5/L6 should split with it as well.

use vnet_core::check::{self, CheckOptions, Offload};
use vnet_core::gro::{Gro, GroOptions, Output, Policy};
use vnet_core::hdr::VnetHdr;

use crate::model::gro::{self as model, Coalesced, Model};

/// A coalescer under test: a batch of TUN packets in, outputs (header, bytes, the inputs each
/// carries in payload order) out, in the order of their first inputs.
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
pub struct Core<const FLOWS: usize> {
    /// Options.
    pub opts: GroOptions,
    /// Bytes per buffer.
    pub capacity: usize,
}

impl<const FLOWS: usize> Core<FLOWS> {
    /// With room for the largest datagram in every buffer.
    pub fn new(opts: GroOptions) -> Self {
        Core {
            opts,
            capacity: vnet_core::gro::MAX_DATAGRAM,
        }
    }
}

impl<const FLOWS: usize> Coalesce for Core<FLOWS> {
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
                let members: Vec<usize> = (0..batch.len()).filter(|&i| owner[i] == k).collect();
                (o.hdr, bufs[o.index][..o.len].to_vec(), members)
            })
            .collect()
    }
}

impl Coalesce for Model {
    fn name(&self) -> String {
        format!("reference model ({} flows, {:?})", self.flows, self.opts)
    }

    fn options(&self) -> GroOptions {
        self.opts
    }

    fn coalesce(&self, batch: &[Vec<u8>]) -> Vec<Coalesced> {
        Model::coalesce(self, batch)
    }
}

/// Invariants: every input is carried by exactly one output; members are in range and ascending;
/// outputs are in the order of their first inputs; an output of one packet is that packet,
/// unchanged, with an all-zero header (G6); a merged output carries at least two packets and a
/// header that the kernel's validation accepts as a segmentation request of its own size (V1-V6).
pub fn invariants<C: Coalesce + ?Sized>(imp: &C, batch: &[Vec<u8>]) -> Vec<Coalesced> {
    let name = imp.name();
    let outs = imp.coalesce(batch);
    let mut seen = vec![false; batch.len()];
    let mut last_first = None;
    for (hdr, bytes, members) in &outs {
        assert!(!members.is_empty(), "{name}: an output with no inputs");
        assert!(
            members.windows(2).all(|w| w[0] < w[1]),
            "{name}: members not ascending: {members:?}"
        );
        assert!(
            last_first < Some(members[0]),
            "{name}: outputs not in first-input order"
        );
        last_first = Some(members[0]);
        for &m in members {
            assert!(m < batch.len(), "{name}: member {m} out of range");
            assert!(!seen[m], "{name}: input {m} carried twice");
            seen[m] = true;
        }
        if members.len() == 1 {
            assert_eq!(*hdr, VnetHdr::default(), "{name}: single with a header");
            assert_eq!(bytes, &batch[members[0]], "{name}: single changed");
        } else {
            let offload = check::check(hdr, bytes, &CheckOptions::default());
            match offload {
                Ok(Offload::Segment(req)) => {
                    assert_eq!(req.gso_size, hdr.gso_size, "{name}");
                    assert_eq!(req.hdr_len, usize::from(hdr.hdr_len), "{name}: hdr_len");
                }
                other => panic!("{name}: merged output not a GSO request: {other:?} {hdr:?}"),
            }
            assert!(bytes.len() <= vnet_core::gro::MAX_DATAGRAM, "{name}: G5");
        }
    }
    assert!(seen.iter().all(|&s| s), "{name}: an input was lost");
    outs
}

/// L5: GRO then GSO gives back every input, byte for byte, in payload (= sequence) order. Under
/// [`Policy::Relaxed`] the one exception is the IPv4 ID (and so the header checksum) of DF
/// packets, which segmentation renumbers.
pub fn gro_then_gso<C: Coalesce + ?Sized>(imp: &C, batch: &[Vec<u8>]) {
    let name = imp.name();
    let relaxed = imp.options().policy == Policy::Relaxed;
    for (hdr, bytes, members) in invariants(imp, batch) {
        let back = model::split(&hdr, &bytes);
        assert_eq!(back.len(), members.len(), "{name}: segment count {hdr:?}");
        for (seg, &m) in back.iter().zip(&members) {
            let want = &batch[m];
            if relaxed && seg.len() >= 20 && seg[0] == 0x45 && seg[6] & 0x40 != 0 {
                let mask = |p: &[u8]| {
                    let mut p = p.to_vec();
                    p[4..6].fill(0);
                    p[10..12].fill(0);
                    p
                };
                assert_eq!(mask(seg), mask(want), "{name}: input {m} (ID masked)");
            } else {
                assert_eq!(seg, want, "{name}: input {m} not given back");
            }
        }
    }
}

/// L6: splitting a super-packet and coalescing its segments gives back the super-packet and its
/// header. `hdr`/`pkt` must be what GRO produces (NEEDS_CSUM with the pseudo-header sum in place).
pub fn gso_then_gro<C: Coalesce + ?Sized>(imp: &C, hdr: &VnetHdr, pkt: &[u8]) {
    let segs = model::split(hdr, pkt);
    let outs = invariants(imp, &segs);
    assert_eq!(outs.len(), 1, "{}: {} outputs", imp.name(), outs.len());
    let (h, b, members) = &outs[0];
    assert_eq!(members.len(), segs.len());
    assert_eq!(h, hdr, "{}: header", imp.name());
    assert_eq!(b.as_slice(), pkt, "{}: bytes", imp.name());
}

/// Fast == reference: two coalescers give the same outputs for `batch`.
pub fn agree<A: Coalesce + ?Sized, B: Coalesce + ?Sized>(a: &A, b: &B, batch: &[Vec<u8>]) {
    let x = a.coalesce(batch);
    let y = b.coalesce(batch);
    assert_eq!(
        x.len(),
        y.len(),
        "{} vs {}: output count",
        a.name(),
        b.name()
    );
    for (k, (p, q)) in x.iter().zip(&y).enumerate() {
        assert_eq!(p, q, "{} vs {}: output {k}", a.name(), b.name());
    }
}

/// L7 for vnet-core: any bytes, any lengths, any buffer capacities, any table size: `coalesce`
/// returns, every input is carried exactly once, outputs fit their buffers, a single is unchanged
/// and the buffers of absorbed inputs are not written.
pub fn total<const FLOWS: usize>(opts: GroOptions, bufs: &[Vec<u8>], lens: &[usize]) {
    let mut work: Vec<Vec<u8>> = bufs.to_vec();
    let mut out = vec![Output::default(); bufs.len()];
    let mut owner = vec![usize::MAX; bufs.len()];
    let n = match Gro::<FLOWS>::new(opts).coalesce(&mut work, lens, &mut out, &mut owner) {
        Ok(n) => n,
        Err(_) => {
            assert_eq!(work, bufs, "an error wrote to a buffer");
            return;
        }
    };
    assert!(n <= bufs.len());
    for (i, &k) in owner.iter().enumerate() {
        assert!(k < n, "input {i} has no output");
    }
    let mut heads = vec![false; bufs.len()];
    for (k, o) in out[..n].iter().enumerate() {
        assert!(o.index < bufs.len() && o.len <= work[o.index].len());
        assert_eq!(
            owner[o.index], k,
            "output {k} does not carry its own buffer"
        );
        heads[o.index] = true;
        let members = owner.iter().filter(|&&x| x == k).count();
        assert_eq!(members, o.segments);
        if o.segments == 1 {
            assert_eq!(o.hdr, VnetHdr::default());
            // Its spare capacity may hold a rejected segment's bytes (G30); the packet is intact.
            assert_eq!(o.len, lens[o.index]);
            assert_eq!(
                work[o.index][..o.len],
                bufs[o.index][..o.len],
                "single {k} written"
            );
        }
    }
    for i in 0..bufs.len() {
        if !heads[i] {
            assert_eq!(work[i], bufs[i], "absorbed input {i} written");
        }
    }
}
