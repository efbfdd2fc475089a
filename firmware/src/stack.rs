//! Measured stack depth: the free stack is painted with a pattern, the work runs, and the words
//! still holding the pattern were never touched. The stack grows down from `_stack_start` (the
//! top of RAM) towards `_stack_end` (the end of the statics), both from cortex-m-rt's `link.x`.
//!
//! This module holds the firmware's only `unsafe`: writing and reading stack memory that no Rust
//! object owns (the part below the current stack pointer). vnet-core keeps `forbid(unsafe_code)`.
#![allow(unsafe_code)]

use core::ptr;

/// What unused stack holds after painting.
const PAINT: u32 = 0xA5A5_5A5A;

/// Words left unpainted just below the stack pointer, so that the painting loop itself never
/// writes into a frame that is live while it runs.
const MARGIN_WORDS: usize = 8;

unsafe extern "C" {
    /// Top of the stack (it grows down from here).
    static _stack_start: u32;
    /// Lowest address the stack may reach: the end of `.data`, `.bss` and `.uninit`.
    static _stack_end: u32;
}

#[inline(always)]
fn top() -> usize {
    (&raw const _stack_start) as usize
}

#[inline(always)]
fn bottom() -> usize {
    (&raw const _stack_end) as usize
}

/// Paints `[bottom, sp - MARGIN)` and returns the stack pointer it painted under.
#[inline(never)]
fn paint_below_sp() -> usize {
    let sp = cortex_m::register::msp::read() as usize;
    let mut at = bottom();
    while at + 4 * MARGIN_WORDS < sp {
        // SAFETY: `at` is word-aligned (link.x asserts `_stack_end % 4 == 0`) and lies between
        // the end of the statics and below this function's own frame: stack memory that no live
        // frame or object uses. The loop is a leaf, so it pushes nothing below `sp` while it runs.
        unsafe { ptr::write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
    sp
}

/// The lowest address written since the last paint (the stack's low-water mark).
#[inline(always)]
fn low_water() -> usize {
    let mut at = bottom();
    // SAFETY: as in `paint_below_sp`: aligned words between the statics and the live stack,
    // only read; the scan stops at the first word that no longer holds the pattern.
    while at < top() && unsafe { ptr::read_volatile(at as *const u32) } == PAINT {
        at += 4;
    }
    at
}

/// Calls `f` in a frame of its own below the caller's, so that whatever the optimiser inlines
/// into it is counted (code inlined into `Probe::step` itself would sit above the painted part).
#[inline(never)]
fn below<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The whole run's stack: the deepest it reached, of how much there was.
pub struct Worst {
    /// Bytes from the top of the stack down to the lowest word ever written.
    pub depth: usize,
    /// Bytes between the statics and the top of RAM.
    pub size: usize,
    /// Words of the stack never written.
    pub untouched_words: usize,
}

/// Tracks the whole run's low-water mark across per-step measurements.
pub struct Probe {
    lowest: usize,
}

impl Probe {
    /// Paints the free stack; call first thing in `main`.
    pub fn paint() -> Probe {
        paint_below_sp();
        Probe { lowest: top() }
    }

    /// Runs `f` on freshly painted stack and returns its result and the bytes of stack it used
    /// (within a few words: the painting leaves `MARGIN_WORDS` unpainted). The run's low-water
    /// mark is kept across the repaint.
    #[inline(never)]
    pub fn step<R>(&mut self, f: impl FnOnce() -> R) -> (R, usize) {
        self.lowest = self.lowest.min(low_water());
        let sp = paint_below_sp();
        let r = below(f);
        let low = low_water();
        self.lowest = self.lowest.min(low);
        (r, sp.saturating_sub(low))
    }

    /// The deepest the stack went in the whole run, printing included.
    pub fn finish(self) -> Worst {
        let lowest = self.lowest.min(low_water());
        Worst {
            depth: top() - lowest,
            size: top() - bottom(),
            untouched_words: (lowest - bottom()) / 4,
        }
    }
}
