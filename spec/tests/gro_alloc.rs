//! vnet-core's GRO allocates nothing: a counting global allocator sees zero allocations on this
//! thread while `coalesce` and `coalesce_iov` (G9) run (64 × 1448-byte TCPv4 segments of one flow,
//! and 8 interleaved flows). The only test in this binary, so no other test shares the allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use vnet_core::gro::{Gro, GroOptions, IovOutput, LINUX_HELD_FLOWS, Output};
use vnet_spec::packet::{L4, PacketSpec, tcp_flags};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` unchanged; counting touches only an atomic and a
// const-initialised thread-local, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn batch(flows: usize, per_flow: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for k in 0..per_flow {
        for f in 0..flows {
            let mut s = PacketSpec::tcp4(1448);
            s.src_port = 30000 + f as u16;
            s.ip_id = k as u16;
            s.l4 = L4::Tcp {
                seq: (k * 1448) as u32,
                ack: 1,
                flags: tcp_flags::ACK,
                window: 512,
            };
            let mut b = s.build();
            b.resize(65535, 0);
            out.push(b);
        }
    }
    out
}

#[test]
fn coalesce_allocates_nothing() {
    // The counter sees allocations at all.
    COUNTING.with(|c| c.set(true));
    let probe = std::hint::black_box(vec![1u8; 10]);
    COUNTING.with(|c| c.set(false));
    assert!(ALLOCATIONS.load(Ordering::Relaxed) >= 1 && probe.len() == 10);
    for (flows, per_flow, want) in [(1, 64, 2), (8, 16, 8)] {
        let mut bufs = batch(flows, per_flow);
        let lens = vec![1448 + 40; bufs.len()];
        let mut out = vec![Output::default(); bufs.len()];
        let mut owner = vec![0usize; bufs.len()];
        let mut gro = Gro::<LINUX_HELD_FLOWS>::new(GroOptions::default());
        ALLOCATIONS.store(0, Ordering::Relaxed);
        COUNTING.with(|c| c.set(true));
        let n = gro.coalesce(&mut bufs, &lens, &mut out, &mut owner);
        COUNTING.with(|c| c.set(false));
        assert_eq!(
            ALLOCATIONS.load(Ordering::Relaxed),
            0,
            "allocations in coalesce"
        );
        // 64 segments of 1448 exceed 65535 bytes: 45 fit (40 + 45 * 1448 = 65200), then 19.
        assert_eq!(n, Ok(want), "{flows} flows");
        assert_eq!(out[0].segments, if flows == 1 { 45 } else { 16 });

        // The iovec form, on the inputs as they lie (no spare capacity needed).
        let train: Vec<Vec<u8>> = batch(flows, per_flow)
            .into_iter()
            .map(|mut b| {
                b.truncate(1448 + 40);
                b
            })
            .collect();
        let mut iout = vec![IovOutput::default(); train.len()];
        let mut slices: Vec<&[u8]> = vec![&[]; train.len()];
        let mut headers = vec![0u8; 40 * train.len()];
        ALLOCATIONS.store(0, Ordering::Relaxed);
        COUNTING.with(|c| c.set(true));
        let m = gro.coalesce_iov(&train, &mut iout, &mut owner, &mut slices, &mut headers);
        COUNTING.with(|c| c.set(false));
        assert_eq!(
            ALLOCATIONS.load(Ordering::Relaxed),
            0,
            "allocations in coalesce_iov"
        );
        assert_eq!(m, Ok(want), "{flows} flows, iovec");
        assert_eq!(iout[0].segments, out[0].segments);
    }
}
