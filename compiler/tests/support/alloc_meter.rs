//! A global allocator for the hostile-input tests: it forwards to `System` and keeps, per thread,
//! the bytes live, their peak, and an optional cap. A test runs a compilation under
//! [`bounded`] with a cap derived from the model's size; an allocation that would cross the cap
//! fails (Rust then aborts the test binary with "memory allocation of N bytes failed"), so a model
//! that makes ghostc allocate out of proportion fails the suite instead of exhausting the machine.
//!
//! The only `unsafe` in the tests: implementing `GlobalAlloc` cannot be done without it.
#![allow(dead_code)] // each test crate uses a different subset

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The allocator; install with `#[global_allocator] static A: Meter = Meter;`.
pub struct Meter;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static CAP: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Accounts for `size` more bytes on this thread; false if that would cross the cap.
fn grow(size: usize) -> bool {
    LIVE.try_with(|live| {
        let now = live.get().saturating_add(size);
        if now > CAP.try_with(Cell::get).unwrap_or(usize::MAX) {
            return false;
        }
        live.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
        true
    })
    .unwrap_or(true)
}

fn shrink(size: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(size)));
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the bookkeeping touches only const-initialised thread-locals without
// destructors (no allocation, no reentrancy) and returns null only where `alloc` may.
unsafe impl GlobalAlloc for Meter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !grow(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's guarantees for `alloc` are passed on.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            shrink(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !grow(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's guarantees for `alloc_zeroed` are passed on.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            shrink(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (we forward every allocation).
        unsafe { System.dealloc(ptr, layout) };
        shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old && !grow(new_size - old) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's guarantees for `realloc` are passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            if new_size > old {
                shrink(new_size - old);
            }
        } else if new_size < old {
            shrink(old - new_size);
        }
        p
    }
}

/// Runs `f` with at most `cap` more bytes live on this thread than when it started, and returns
/// its result with the peak of bytes it had live at once.
pub fn bounded<T>(cap: usize, f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    let old_cap = CAP.with(|c| c.replace(base.saturating_add(cap)));
    let old_peak = PEAK.with(|p| p.replace(base));
    let r = f();
    let peak = PEAK.with(|p| p.replace(old_peak.max(p.get()))) - base;
    CAP.with(|c| c.set(old_cap));
    (r, peak)
}

/// The allocation bound every compilation of a `len`-byte model must respect: a fixed allowance
/// for the compiler's own working set and the folded-constant budget, plus a multiple of the
/// input (constants widen to f32/i64 and are copied by passes and the weights blob).
pub fn bound_for(len: usize) -> usize {
    (512 << 20) + 64 * len
}
