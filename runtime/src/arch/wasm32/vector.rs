//! [`Simd`] for WebAssembly's 128-bit SIMD (`v128` as four `f32` lanes).
//!
//! The module is compiled only with `target_feature = "simd128"`, so the token needs no check
//! and the arithmetic intrinsics are safe to call; only memory access through raw pointers is
//! `unsafe`. simd128 has no fused multiply-add (relaxed-simd's `relaxed_madd` may or may not
//! fuse, so results would depend on the engine): `mul_add` rounds twice, like the portable
//! lanes. Like NEON it has no masked loads or stores: a full register is one `v128.load` /
//! `v128.store`, and the partial forms move their lanes one at a time, touching exactly the
//! elements the `Simd` contract selects.

use crate::kernels::simd::Simd;
use core::arch::wasm32::*;

/// `1.5 * 2^23 + 127`: as on x86 (see `arch/x86_64/vector.rs`), an integer `n` in
/// `-126..=127` added to it leaves `127 + n` in the low mantissa bits, which a shift by 23
/// turns into the bits of `2^n`.
const POW2I_MAGIC: f32 = 12_583_039.0;

/// simd128 on four `f32` lanes.
#[derive(Clone, Copy)]
pub(crate) struct Simd128(());

impl Simd128 {
    /// The token; every module this is compiled into has simd128 (see the module docs).
    #[inline(always)]
    pub(crate) fn new() -> Self {
        Simd128(())
    }
}

/// Lane `i` of a mask is all ones when `lo <= i < hi`.
#[inline(always)]
fn lane_mask(lo: usize, hi: usize) -> v128 {
    let m: [i32; 4] = core::array::from_fn(|i| if lo <= i && i < hi { -1 } else { 0 });
    i32x4(m[0], m[1], m[2], m[3])
}

/// The lanes of a mask as booleans.
#[inline(always)]
fn mask_lanes(m: v128) -> [bool; 4] {
    [
        i32x4_extract_lane::<0>(m) != 0,
        i32x4_extract_lane::<1>(m) != 0,
        i32x4_extract_lane::<2>(m) != 0,
        i32x4_extract_lane::<3>(m) != 0,
    ]
}

/// `p[step * i]` for the lanes `i` where `sel[i]`, zero elsewhere; nothing else is read.
/// Safety: every selected element is readable.
#[inline(always)]
unsafe fn gather(p: *const f32, step: usize, sel: [bool; 4]) -> v128 {
    let mut a = [0.0f32; 4];
    for i in 0..4 {
        if sel[i] {
            // SAFETY: selected, hence readable (the caller's guarantee).
            a[i] = unsafe { *p.wrapping_add(step * i) };
        }
    }
    f32x4(a[0], a[1], a[2], a[3])
}

impl Simd for Simd128 {
    type V = v128;
    const LANES: usize = 4;
    /// The engine maps `v128` locals onto the host's registers: 16 XMM registers on x86-64,
    /// 32 on AArch64. The smaller count keeps the kernels' register blocking from spilling.
    const REGISTERS: usize = 16;

    #[inline(always)]
    fn outline<R>(self, f: impl FnOnce(Self) -> R) -> R {
        #[inline(never)]
        fn imp<R>(s: Simd128, f: impl FnOnce(Simd128) -> R) -> R {
            f(s)
        }
        imp(self, f)
    }

    #[inline(always)]
    fn splat(self, x: f32) -> v128 {
        f32x4_splat(x)
    }
    #[inline(always)]
    fn mul_add(self, a: v128, b: v128, c: v128) -> v128 {
        f32x4_add(f32x4_mul(a, b), c)
    }
    #[inline(always)]
    fn add(self, a: v128, b: v128) -> v128 {
        f32x4_add(a, b)
    }
    #[inline(always)]
    fn sub(self, a: v128, b: v128) -> v128 {
        f32x4_sub(a, b)
    }
    #[inline(always)]
    fn mul(self, a: v128, b: v128) -> v128 {
        f32x4_mul(a, b)
    }
    #[inline(always)]
    fn div(self, a: v128, b: v128) -> v128 {
        f32x4_div(a, b)
    }
    #[inline(always)]
    fn abs(self, a: v128) -> v128 {
        f32x4_abs(a)
    }
    #[inline(always)]
    fn copysign(self, a: v128, b: v128) -> v128 {
        // Bit select: the sign bit from `b`, the rest from `a`.
        v128_bitselect(b, a, u32x4_splat(0x8000_0000))
    }
    #[inline(always)]
    fn round(self, a: v128) -> v128 {
        // f32x4.nearest: to nearest, ties to even; integers and NaN unchanged.
        f32x4_nearest(a)
    }
    #[inline(always)]
    fn pow2i(self, n: v128) -> v128 {
        u32x4_shl(f32x4_add(n, f32x4_splat(POW2I_MAGIC)), 23)
    }
    #[inline(always)]
    fn lt(self, a: v128, b: v128) -> v128 {
        // False where either is NaN.
        f32x4_lt(a, b)
    }
    #[inline(always)]
    fn select(self, m: v128, a: v128, b: v128) -> v128 {
        v128_bitselect(a, b, m)
    }
    #[inline(always)]
    fn max_nan(self, a: v128, b: v128) -> v128 {
        // f32x4.pmax is `a < b ? b : a` (not f32x4.max, which gives NaN from either operand).
        f32x4_pmax(a, b)
    }
    #[inline(always)]
    fn min_nan(self, a: v128, b: v128) -> v128 {
        // f32x4.pmin is `b < a ? b : a`.
        f32x4_pmin(a, b)
    }
    #[inline(always)]
    fn sum(self, v: v128) -> f32 {
        let h = f32x4_add(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
        f32x4_extract_lane::<0>(f32x4_add(h, i32x4_shuffle::<1, 0, 3, 2>(h, h)))
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> v128 {
        // SAFETY: the caller guarantees p..p+4 is readable; v128.load has no alignment need.
        unsafe { v128_load(p.cast()) }
    }
    #[inline(always)]
    unsafe fn load_partial(self, p: *const f32, n: usize) -> v128 {
        if n >= 4 {
            // SAFETY: the caller guarantees p..p+n is readable.
            return unsafe { v128_load(p.cast()) };
        }
        // SAFETY: lanes 0..n, readable by the caller's guarantee.
        unsafe { gather(p, 1, core::array::from_fn(|i| i < n)) }
    }
    #[inline(always)]
    unsafe fn load_even(self, p: *const f32, n: usize) -> v128 {
        if n >= 4 {
            // p[0..4] and p[3..7]: the seven readable elements, evens from lanes 0, 2 of the
            // first and 1, 3 of the second.
            // SAFETY: p..p+7 is readable (the caller's guarantee for n = 4).
            return unsafe {
                let a = v128_load(p.cast());
                let b = v128_load(p.add(3).cast());
                i32x4_shuffle::<0, 2, 5, 7>(a, b)
            };
        }
        // SAFETY: elements 0, 2, .., 2(n - 1), readable by the caller's guarantee.
        unsafe { gather(p, 2, core::array::from_fn(|i| i < n)) }
    }
    #[inline(always)]
    unsafe fn load_range(self, p: *const f32, lo: usize, hi: usize) -> v128 {
        if lo == 0 && hi >= 4 {
            // SAFETY: p..p+4 is in the readable range.
            return unsafe { v128_load(p.cast()) };
        }
        // SAFETY: lanes lo..hi, readable by the caller's guarantee.
        unsafe { gather(p, 1, core::array::from_fn(|i| lo <= i && i < hi)) }
    }
    #[inline(always)]
    unsafe fn load_even_range(self, p: *const f32, lo: usize, hi: usize) -> v128 {
        if lo == 0 && hi >= 8 {
            // SAFETY: p..p+8 is in the readable range.
            return unsafe {
                let a = v128_load(p.cast());
                let b = v128_load(p.add(4).cast());
                i32x4_shuffle::<0, 2, 4, 6>(a, b)
            };
        }
        if lo == 0 && hi == 7 {
            // SAFETY: p..p+7 is readable.
            return unsafe { self.load_even(p, 4) };
        }
        // Even offset 2i is lane i.
        // SAFETY: the selected offsets are in lo..hi, readable by the caller's guarantee.
        unsafe { gather(p, 2, core::array::from_fn(|i| lo <= 2 * i && 2 * i < hi)) }
    }
    type Mask = v128;
    #[inline(always)]
    fn window_mask(self, lo: usize, hi: usize) -> [v128; 2] {
        debug_assert!(hi <= 8);
        [
            lane_mask(lo, hi),
            lane_mask(lo.saturating_sub(4), hi.saturating_sub(4)),
        ]
    }
    #[inline(always)]
    unsafe fn load_masked(self, p: *const f32, m: v128) -> v128 {
        let sel = mask_lanes(m);
        if sel == [true; 4] {
            // SAFETY: every lane is selected, hence readable.
            return unsafe { v128_load(p.cast()) };
        }
        // SAFETY: the selected lanes are readable (the caller's guarantee).
        unsafe { gather(p, 1, sel) }
    }
    #[inline(always)]
    unsafe fn load_even_masked(self, p: *const f32, m: [v128; 2]) -> v128 {
        let (a, b) = (mask_lanes(m[0]), mask_lanes(m[1]));
        if a == [true; 4] && b == [true; 4] {
            // SAFETY: the whole window p..p+8 is selected, hence readable.
            return unsafe { self.load_even_range(p, 0, 8) };
        }
        // Even offset 2i is lane i: element 2i of the window is lane 2i of the first
        // register's mask for i < 2, lane 2i - 4 of the second's for i >= 2.
        let sel = [a[0], a[2], b[0], b[2]];
        // SAFETY: the selected elements are readable (the caller's guarantee).
        unsafe { gather(p, 2, sel) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: v128) {
        // SAFETY: the caller guarantees p..p+4 is writable.
        unsafe { v128_store(p.cast(), v) }
    }
    #[inline(always)]
    unsafe fn store_partial(self, p: *mut f32, v: v128, n: usize) {
        // SAFETY: the caller guarantees p..p+n is writable; each store writes inside it.
        unsafe {
            if n >= 4 {
                return v128_store(p.cast(), v);
            }
            if n & 2 != 0 {
                v128_store64_lane::<0>(v, p.cast());
            }
            if n & 1 != 0 {
                let i = n & 2;
                *p.add(i) = if i == 0 {
                    f32x4_extract_lane::<0>(v)
                } else {
                    f32x4_extract_lane::<2>(v)
                };
            }
        }
    }
}
