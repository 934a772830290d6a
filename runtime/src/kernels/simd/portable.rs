//! [`Simd`] on one plain `f32` lane, for every target: the generic kernels with no intrinsics.
//! [`PORTABLE`] is the table that runs where no architecture table does (targets without one, or
//! an x86-64 CPU without AVX2). One plain lane, not an array of lanes: with `[f32; 4]` (or even
//! `[f32; 1]`) arrays this one instantiation took LLVM three times as long as both x86 tables
//! together (release build of the runtime, 4.7 instead of 1.3 CPU minutes; plain `f32`: 1.5), and
//! a target with vectors gets its own `Simd` under `arch/` instead.
//!
//! Partial loads and stores touch the one element only when the `Simd` contract selects it.

use super::{Kernels, Simd};

/// One `f32` lane. Making one needs no CPU check.
#[derive(Clone, Copy)]
pub(crate) struct Portable(());

impl Portable {
    /// The token; every CPU runs these.
    #[inline(always)]
    pub(crate) fn new() -> Self {
        Portable(())
    }
}

impl Simd for Portable {
    type V = f32;
    const LANES: usize = 1;
    // Notional: the blocking of a 16-register ISA (12 accumulators).
    const REGISTERS: usize = 16;

    #[inline(always)]
    fn splat(self, x: f32) -> f32 {
        x
    }
    #[inline(always)]
    fn mul_add(self, a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
    #[inline(always)]
    fn add(self, a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    fn sub(self, a: f32, b: f32) -> f32 {
        a - b
    }
    #[inline(always)]
    fn mul(self, a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    fn div(self, a: f32, b: f32) -> f32 {
        a / b
    }
    #[inline(always)]
    fn abs(self, a: f32) -> f32 {
        f32::from_bits(a.to_bits() & 0x7fff_ffff)
    }
    #[inline(always)]
    fn copysign(self, a: f32, b: f32) -> f32 {
        f32::from_bits((a.to_bits() & 0x7fff_ffff) | (b.to_bits() & 0x8000_0000))
    }
    #[inline(always)]
    fn round(self, a: f32) -> f32 {
        // `core` has no `f32::round`: adding and subtracting 1.5 * 2^23 rounds (ties to even,
        // in the default rounding mode) every |a| <= 2^22.
        const MAGIC: f32 = 12_582_912.0;
        if self.abs(a) <= 4_194_304.0 {
            (a + MAGIC) - MAGIC
        } else {
            a
        }
    }
    #[inline(always)]
    fn pow2i(self, n: f32) -> f32 {
        // `as` saturates (NaN gives 0), and the wrapping arithmetic only matters out of range.
        f32::from_bits(((n as i32).wrapping_add(127) as u32).wrapping_shl(23))
    }
    #[inline(always)]
    fn lt(self, a: f32, b: f32) -> bool {
        a < b
    }
    #[inline(always)]
    fn select(self, m: bool, a: f32, b: f32) -> f32 {
        if m {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    fn max_nan(self, a: f32, b: f32) -> f32 {
        if a < b {
            b
        } else {
            a
        }
    }
    #[inline(always)]
    fn min_nan(self, a: f32, b: f32) -> f32 {
        if a > b {
            b
        } else {
            a
        }
    }
    #[inline(always)]
    fn sum(self, v: f32) -> f32 {
        v
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> f32 {
        // SAFETY: the caller guarantees p is readable.
        unsafe { *p }
    }
    #[inline(always)]
    unsafe fn load_partial(self, p: *const f32, n: usize) -> f32 {
        // SAFETY: read only when n = 1, when the caller guarantees p is readable.
        unsafe { read_if(p, n > 0) }
    }
    #[inline(always)]
    unsafe fn load_even(self, p: *const f32, n: usize) -> f32 {
        // SAFETY: as load_partial (element 0 is the one even element of the lane).
        unsafe { read_if(p, n > 0) }
    }
    #[inline(always)]
    unsafe fn load_range(self, p: *const f32, lo: usize, hi: usize) -> f32 {
        // SAFETY: lane 0 is read only when it is in lo..hi, hence readable.
        unsafe { read_if(p, lo == 0 && hi > 0) }
    }
    #[inline(always)]
    unsafe fn load_even_range(self, p: *const f32, lo: usize, hi: usize) -> f32 {
        // SAFETY: element 0 (the even one of the lane) is read only when in lo..hi.
        unsafe { read_if(p, lo == 0 && hi > 0) }
    }
    /// Whether the register's one lane is selected.
    type Mask = bool;
    #[inline(always)]
    fn window_mask(self, lo: usize, hi: usize) -> [bool; 2] {
        [lo == 0 && hi > 0, lo <= 1 && hi > 1]
    }
    #[inline(always)]
    unsafe fn load_masked(self, p: *const f32, m: bool) -> f32 {
        // SAFETY: read only when selected, hence readable.
        unsafe { read_if(p, m) }
    }
    #[inline(always)]
    unsafe fn load_even_masked(self, p: *const f32, m: [bool; 2]) -> f32 {
        // SAFETY: element 0 (the even one of the window's lane 0) only when selected.
        unsafe { read_if(p, m[0]) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: f32) {
        // SAFETY: the caller guarantees p is writable.
        unsafe { *p = v }
    }
    #[inline(always)]
    unsafe fn store_partial(self, p: *mut f32, v: f32, n: usize) {
        if n > 0 {
            // SAFETY: n = 1: the caller guarantees p is writable.
            unsafe { *p = v }
        }
    }
}

/// `*p` if `read`, else 0 (and `p` is not accessed). Safety: `p` is readable when `read`.
#[inline(always)]
unsafe fn read_if(p: *const f32, read: bool) -> f32 {
    if read {
        // SAFETY: forwarded.
        unsafe { *p }
    } else {
        0.0
    }
}

/// The generic kernels on [`Portable`] lanes.
pub(crate) static PORTABLE: Kernels = super::kernel_table!(Portable, "portable");
