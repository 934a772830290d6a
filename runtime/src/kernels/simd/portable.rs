//! [`Simd`] on plain `[f32; 4]` arrays, for every target: the generic kernels with one lane
//! type and no intrinsics, which the compiler vectorises where the target has vectors (SSE2,
//! NEON, wasm `simd128`). [`PORTABLE`] is the table that runs where no architecture table does.
//!
//! Partial loads and stores touch exactly the elements the `Simd` contract names and nothing
//! else, lane by lane.

use super::{Kernels, Simd};

/// Four `f32` lanes in an array. Making one needs no CPU check.
#[derive(Clone, Copy)]
pub(crate) struct Portable(());

impl Portable {
    /// The token; every CPU runs these.
    #[inline(always)]
    pub(crate) fn new() -> Self {
        Portable(())
    }
}

const L: usize = 4;
type V = [f32; L];

#[inline(always)]
fn map2(a: V, b: V, f: impl Fn(f32, f32) -> f32) -> V {
    core::array::from_fn(|i| f(a[i], b[i]))
}

/// Lanes `lo..hi` of `p + lane`, zero elsewhere. Safety: those elements are readable.
#[inline(always)]
unsafe fn read_lanes(p: *const f32, lo: usize, hi: usize) -> V {
    let mut v = [0.0; L];
    for (i, x) in v.iter_mut().enumerate().take(hi.min(L)).skip(lo) {
        // SAFETY: the caller guarantees lane i (in lo..hi) is readable; the pointer is
        // formed with wrapping arithmetic since `p` itself may lie outside the allocation.
        *x = unsafe { *p.wrapping_add(i) };
    }
    v
}

/// The even elements `e` of window `p + lo..p + hi` (`hi <= 2 * L`) to lane `e / 2`.
/// Safety: those elements are readable.
#[inline(always)]
unsafe fn read_even(p: *const f32, lo: usize, hi: usize) -> V {
    let mut v = [0.0; L];
    for (i, x) in v.iter_mut().enumerate() {
        let e = 2 * i;
        if e >= lo && e < hi {
            // SAFETY: element e of the window is selected, so readable by the contract.
            *x = unsafe { *p.wrapping_add(e) };
        }
    }
    v
}

impl Simd for Portable {
    type V = V;
    const LANES: usize = L;
    // Notional: the blocking of a 16-register ISA keeps the arrays few enough for the
    // optimiser to hold them in registers on SSE2 and NEON.
    const REGISTERS: usize = 16;

    #[inline(always)]
    fn splat(self, x: f32) -> V {
        [x; L]
    }
    #[inline(always)]
    fn mul_add(self, a: V, b: V, c: V) -> V {
        core::array::from_fn(|i| a[i] * b[i] + c[i])
    }
    #[inline(always)]
    fn add(self, a: V, b: V) -> V {
        map2(a, b, |x, y| x + y)
    }
    #[inline(always)]
    fn mul(self, a: V, b: V) -> V {
        map2(a, b, |x, y| x * y)
    }
    #[inline(always)]
    fn div(self, a: V, b: V) -> V {
        map2(a, b, |x, y| x / y)
    }
    #[inline(always)]
    fn max_nan(self, a: V, b: V) -> V {
        map2(a, b, |x, y| if x < y { y } else { x })
    }
    #[inline(always)]
    fn min_nan(self, a: V, b: V) -> V {
        map2(a, b, |x, y| if x > y { y } else { x })
    }
    #[inline(always)]
    fn sum(self, v: V) -> f32 {
        (v[0] + v[2]) + (v[1] + v[3])
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> V {
        // SAFETY: the caller guarantees p..p + L is readable.
        unsafe { p.cast::<V>().read_unaligned() }
    }
    #[inline(always)]
    unsafe fn load_partial(self, p: *const f32, n: usize) -> V {
        // SAFETY: p..p + n is readable.
        unsafe { read_lanes(p, 0, n) }
    }
    #[inline(always)]
    unsafe fn load_even(self, p: *const f32, n: usize) -> V {
        // SAFETY: p..p + 2n - 1 is readable, which holds every even element below 2n.
        unsafe { read_even(p, 0, (2 * n).saturating_sub(1)) }
    }
    #[inline(always)]
    unsafe fn load_range(self, p: *const f32, lo: usize, hi: usize) -> V {
        // SAFETY: p + lo..p + hi is readable.
        unsafe { read_lanes(p, lo, hi) }
    }
    #[inline(always)]
    unsafe fn load_even_range(self, p: *const f32, lo: usize, hi: usize) -> V {
        // SAFETY: p + lo..p + hi is readable.
        unsafe { read_even(p, lo, hi) }
    }
    /// The selected lanes `lo..hi` of one register.
    type Mask = (usize, usize);
    #[inline(always)]
    fn window_mask(self, lo: usize, hi: usize) -> [(usize, usize); 2] {
        let lo = lo.min(hi);
        [
            (lo.min(L), hi.min(L)),
            (lo.saturating_sub(L), hi.saturating_sub(L)),
        ]
    }
    #[inline(always)]
    unsafe fn load_masked(self, p: *const f32, (lo, hi): (usize, usize)) -> V {
        // SAFETY: the selected lanes are readable.
        unsafe { read_lanes(p, lo, hi) }
    }
    #[inline(always)]
    unsafe fn load_even_masked(self, p: *const f32, m: [(usize, usize); 2]) -> V {
        // The window again: the first register's lanes, then the second's from p + L.
        let [(lo0, hi0), (lo1, hi1)] = m;
        let lo = if lo0 < hi0 { lo0 } else { lo1 + L };
        let hi = if lo1 < hi1 { hi1 + L } else { hi0 };
        // SAFETY: the selected elements are readable.
        unsafe { read_even(p, lo, hi) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: V) {
        // SAFETY: the caller guarantees p..p + L is writable.
        unsafe { p.cast::<V>().write_unaligned(v) }
    }
    #[inline(always)]
    unsafe fn store_partial(self, p: *mut f32, v: V, n: usize) {
        for (i, &x) in v.iter().enumerate().take(n.min(L)) {
            // SAFETY: p..p + n is writable.
            unsafe { *p.add(i) = x };
        }
    }
}

/// The generic kernels on [`Portable`] lanes.
pub(crate) static PORTABLE: Kernels = super::kernel_table!(Portable, "portable");
