//! [`Simd`] for NEON (`float32x4_t`, with its fused multiply-add).
//!
//! NEON is part of every AArch64 target Rust builds for with `neon` on (the baseline of the
//! `aarch64-*` targets), so the token needs no run-time check: it exists only where the module
//! is compiled, which is gated on `target_feature = "neon"`. Arithmetic on it is safe; only
//! memory access through raw pointers is `unsafe`.
//!
//! NEON has no masked loads or stores. A full register is one `ld1`/`st1`; the partial forms
//! (row tails of 1-3 lanes, window edges) move their lanes one at a time, so they touch
//! exactly the elements the `Simd` contract selects and nothing past them.

use crate::kernels::simd::Simd;
use core::arch::aarch64::*;

/// `1.5 * 2^23 + 127`: as on x86 (see `arch/x86_64/vector.rs`), an integer `n` in
/// `-126..=127` added to it leaves `127 + n` in the low mantissa bits, which a shift by 23
/// turns into the bits of `2^n`.
const POW2I_MAGIC: f32 = 12_583_039.0;

/// NEON with FMA (AArch64's Advanced SIMD).
#[derive(Clone, Copy)]
pub(crate) struct Neon(());

impl Neon {
    /// The token; every CPU this module is compiled for has NEON (see the module docs).
    #[inline(always)]
    pub(crate) fn new() -> Self {
        Neon(())
    }
}

/// Lane `i` of a mask is all ones when `lo <= i < hi`.
#[inline(always)]
fn lane_mask(lo: usize, hi: usize) -> uint32x4_t {
    let m: [u32; 4] = core::array::from_fn(|i| if lo <= i && i < hi { u32::MAX } else { 0 });
    // SAFETY: reads the four elements of `m`; NEON is the module's baseline.
    unsafe { vld1q_u32(m.as_ptr()) }
}

/// The lanes of a mask as booleans.
#[inline(always)]
fn mask_lanes(m: uint32x4_t) -> [bool; 4] {
    let mut a = [0u32; 4];
    // SAFETY: writes the four elements of `a`.
    unsafe { vst1q_u32(a.as_mut_ptr(), m) };
    a.map(|x| x != 0)
}

/// `p[step * i]` for the lanes `i` where `sel[i]`, zero elsewhere; nothing else is read.
/// Safety: every selected element is readable.
#[inline(always)]
unsafe fn gather(p: *const f32, step: usize, sel: [bool; 4]) -> float32x4_t {
    let mut a = [0.0f32; 4];
    for i in 0..4 {
        if sel[i] {
            // SAFETY: selected, hence readable (the caller's guarantee).
            a[i] = unsafe { *p.wrapping_add(step * i) };
        }
    }
    // SAFETY: reads the four elements of `a`.
    unsafe { vld1q_f32(a.as_ptr()) }
}

/// Lanes 0, 2 of `a` and 0, 2 of `b`: the even elements of the eight that `a` and `b` hold.
#[inline(always)]
fn evens(a: float32x4_t, b: float32x4_t) -> float32x4_t {
    // SAFETY: NEON is the module's baseline.
    unsafe { vuzp1q_f32(a, b) }
}

impl Simd for Neon {
    type V = float32x4_t;
    const LANES: usize = 4;
    const REGISTERS: usize = 32;

    #[inline(always)]
    fn outline<R>(self, f: impl FnOnce(Self) -> R) -> R {
        #[inline(never)]
        fn imp<R>(s: Neon, f: impl FnOnce(Neon) -> R) -> R {
            f(s)
        }
        imp(self, f)
    }

    // SAFETY (every arithmetic method below): NEON is the baseline of the targets this module
    // is compiled for; these intrinsics only compute on registers.
    #[inline(always)]
    fn splat(self, x: f32) -> float32x4_t {
        unsafe { vdupq_n_f32(x) }
    }
    #[inline(always)]
    fn mul_add(self, a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        unsafe { vfmaq_f32(c, a, b) }
    }
    #[inline(always)]
    fn add(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vaddq_f32(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vsubq_f32(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vmulq_f32(a, b) }
    }
    #[inline(always)]
    fn div(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vdivq_f32(a, b) }
    }
    #[inline(always)]
    fn abs(self, a: float32x4_t) -> float32x4_t {
        unsafe { vabsq_f32(a) }
    }
    #[inline(always)]
    fn copysign(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // Bit select: the sign bit from `b`, the rest from `a`.
        unsafe { vbslq_f32(vdupq_n_u32(0x8000_0000), b, a) }
    }
    #[inline(always)]
    fn round(self, a: float32x4_t) -> float32x4_t {
        // frintn: to nearest, ties to even; integers (every |a| >= 2^23) and NaN unchanged.
        unsafe { vrndnq_f32(a) }
    }
    #[inline(always)]
    fn pow2i(self, n: float32x4_t) -> float32x4_t {
        unsafe {
            let t = vaddq_f32(n, vdupq_n_f32(POW2I_MAGIC));
            vreinterpretq_f32_u32(vshlq_n_u32::<23>(vreinterpretq_u32_f32(t)))
        }
    }
    #[inline(always)]
    fn lt(self, a: float32x4_t, b: float32x4_t) -> uint32x4_t {
        // fcmgt with the operands swapped: false where either is NaN.
        unsafe { vcltq_f32(a, b) }
    }
    #[inline(always)]
    fn select(self, m: uint32x4_t, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vbslq_f32(m, a, b) }
    }
    #[inline(always)]
    fn max_nan(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // Not fmax (NaN from either operand) nor fmaxnm (the number): `a < b ? b : a`.
        unsafe { vbslq_f32(vcltq_f32(a, b), b, a) }
    }
    #[inline(always)]
    fn min_nan(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vbslq_f32(vcgtq_f32(a, b), b, a) }
    }
    #[inline(always)]
    fn sum(self, v: float32x4_t) -> f32 {
        unsafe { vaddvq_f32(v) }
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> float32x4_t {
        // SAFETY: the caller guarantees p..p+4 is readable.
        unsafe { vld1q_f32(p) }
    }
    #[inline(always)]
    unsafe fn load_partial(self, p: *const f32, n: usize) -> float32x4_t {
        if n >= 4 {
            // SAFETY: the caller guarantees p..p+n is readable.
            return unsafe { vld1q_f32(p) };
        }
        // SAFETY: lanes 0..n, readable by the caller's guarantee.
        unsafe { gather(p, 1, core::array::from_fn(|i| i < n)) }
    }
    #[inline(always)]
    unsafe fn load_even(self, p: *const f32, n: usize) -> float32x4_t {
        if n >= 4 {
            // p[0..4] and p[3..7]: the seven readable elements, evens from lanes 0, 2 of the
            // first and 1, 3 of the second.
            // SAFETY: p..p+7 is readable (the caller's guarantee for n = 4).
            return unsafe {
                let a = vld1q_f32(p);
                let b = vld1q_f32(p.add(3));
                vcombine_f32(vget_low_f32(evens(a, a)), vget_low_f32(vuzp2q_f32(b, b)))
            };
        }
        // SAFETY: elements 0, 2, .., 2(n - 1), readable by the caller's guarantee.
        unsafe { gather(p, 2, core::array::from_fn(|i| i < n)) }
    }
    #[inline(always)]
    unsafe fn load_range(self, p: *const f32, lo: usize, hi: usize) -> float32x4_t {
        if lo == 0 && hi >= 4 {
            // SAFETY: p..p+4 is in the readable range.
            return unsafe { vld1q_f32(p) };
        }
        // SAFETY: lanes lo..hi, readable by the caller's guarantee.
        unsafe { gather(p, 1, core::array::from_fn(|i| lo <= i && i < hi)) }
    }
    #[inline(always)]
    unsafe fn load_even_range(self, p: *const f32, lo: usize, hi: usize) -> float32x4_t {
        if lo == 0 && hi >= 8 {
            // SAFETY: p..p+8 is in the readable range.
            return unsafe { vld2q_f32(p).0 };
        }
        if lo == 0 && hi == 7 {
            // SAFETY: p..p+7 is readable.
            return unsafe { self.load_even(p, 4) };
        }
        // Even offset 2i is lane i.
        // SAFETY: the selected offsets are in lo..hi, readable by the caller's guarantee.
        unsafe { gather(p, 2, core::array::from_fn(|i| lo <= 2 * i && 2 * i < hi)) }
    }
    type Mask = uint32x4_t;
    #[inline(always)]
    fn window_mask(self, lo: usize, hi: usize) -> [uint32x4_t; 2] {
        debug_assert!(hi <= 8);
        [
            lane_mask(lo, hi),
            lane_mask(lo.saturating_sub(4), hi.saturating_sub(4)),
        ]
    }
    #[inline(always)]
    unsafe fn load_masked(self, p: *const f32, m: uint32x4_t) -> float32x4_t {
        let sel = mask_lanes(m);
        if sel == [true; 4] {
            // SAFETY: every lane is selected, hence readable.
            return unsafe { vld1q_f32(p) };
        }
        // SAFETY: the selected lanes are readable (the caller's guarantee).
        unsafe { gather(p, 1, sel) }
    }
    #[inline(always)]
    unsafe fn load_even_masked(self, p: *const f32, m: [uint32x4_t; 2]) -> float32x4_t {
        let (a, b) = (mask_lanes(m[0]), mask_lanes(m[1]));
        if a == [true; 4] && b == [true; 4] {
            // SAFETY: the whole window p..p+8 is selected, hence readable.
            return unsafe { vld2q_f32(p).0 };
        }
        // Even offset 2i is lane i: element 2i of the window is lane 2i of the first
        // register's mask for i < 2, lane 2i - 4 of the second's for i >= 2.
        let sel = [a[0], a[2], b[0], b[2]];
        // SAFETY: the selected elements are readable (the caller's guarantee).
        unsafe { gather(p, 2, sel) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: float32x4_t) {
        // SAFETY: the caller guarantees p..p+4 is writable.
        unsafe { vst1q_f32(p, v) }
    }
    #[inline(always)]
    unsafe fn store_partial(self, p: *mut f32, v: float32x4_t, n: usize) {
        // SAFETY: the caller guarantees p..p+n is writable; each store writes inside it.
        unsafe {
            if n >= 4 {
                return vst1q_f32(p, v);
            }
            let mut p = p;
            let mut h = vget_low_f32(v);
            if n & 2 != 0 {
                vst1_f32(p, h);
                p = p.add(2);
                h = vget_high_f32(v);
            }
            if n & 1 != 0 {
                vst1_lane_f32::<0>(p, h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lanes(v: float32x4_t) -> [f32; 4] {
        let mut a = [0.0; 4];
        // SAFETY: writes the four elements of `a`.
        unsafe { Neon::new().store(a.as_mut_ptr(), v) };
        a
    }

    /// Every partial and masked load against its contract, on a buffer whose elements outside
    /// the selected ones are NaN (a load that read one would show it), and every partial store
    /// writes exactly its lanes.
    #[test]
    fn partial_loads_and_stores_follow_the_contract() {
        let s = Neon::new();
        let src: [f32; 8] = core::array::from_fn(|i| i as f32 + 1.0);
        for lo in 0..=8 {
            for hi in lo..=8 {
                // Only elements lo..hi hold values; a stray read would bring in a NaN.
                let buf: [f32; 8] = core::array::from_fn(|i| {
                    if (lo..hi).contains(&i) {
                        src[i]
                    } else {
                        f32::NAN
                    }
                });
                let p = buf.as_ptr();
                let range: [f32; 4] =
                    core::array::from_fn(|i| if (lo..hi).contains(&i) { src[i] } else { 0.0 });
                let even: [f32; 4] = core::array::from_fn(|i| {
                    if (lo..hi).contains(&(2 * i)) {
                        src[2 * i]
                    } else {
                        0.0
                    }
                });
                let m = s.window_mask(lo, hi);
                // SAFETY: only elements in lo..hi of the 8 are read (the contracts).
                unsafe {
                    if hi <= 4 {
                        assert_eq!(lanes(s.load_range(p, lo, hi)), range, "range {lo}..{hi}");
                        assert_eq!(lanes(s.load_masked(p, m[0])), range, "masked {lo}..{hi}");
                    }
                    assert_eq!(lanes(s.load_even_range(p, lo, hi)), even, "even {lo}..{hi}");
                    assert_eq!(
                        lanes(s.load_even_masked(p, m)),
                        even,
                        "even mask {lo}..{hi}"
                    );
                    if lo == 0 && hi <= 4 {
                        assert_eq!(lanes(s.load_partial(p, hi)), range, "partial {hi}");
                    }
                    if lo == 0 && hi % 2 == 1 && hi <= 7 {
                        let n = hi.div_ceil(2);
                        assert_eq!(lanes(s.load_even(p, n)), even, "load_even {n}");
                    }
                }
            }
        }
        for n in 0..=4 {
            let mut out = [-1.0f32; 5];
            // SAFETY: 4 lanes read of 8, n <= 4 written of 5.
            unsafe { s.store_partial(out.as_mut_ptr(), s.load(src.as_ptr()), n) };
            let want: [f32; 5] = core::array::from_fn(|i| if i < n { src[i] } else { -1.0 });
            assert_eq!(out, want, "store_partial {n}");
        }
    }

    /// The scalar semantics the kernels rely on: NaN propagation of `max_nan`/`min_nan`,
    /// ties-to-even rounding, `pow2i` exact over its range.
    #[test]
    fn lane_arithmetic() {
        let s = Neon::new();
        let a = s.splat(f32::NAN);
        assert!(lanes(s.max_nan(a, s.splat(1.0)))[0].is_nan());
        assert!(lanes(s.min_nan(a, s.splat(1.0)))[0].is_nan());
        assert_eq!(lanes(s.max_nan(s.splat(1.0), a))[0], 1.0);
        for (x, r) in [
            (0.5f32, 0.0f32),
            (1.5, 2.0),
            (2.5, 2.0),
            (-0.5, -0.0),
            (-2.5, -2.0),
        ] {
            assert_eq!(
                lanes(s.round(s.splat(x)))[0].to_bits(),
                r.to_bits(),
                "round {x}"
            );
        }
        for n in -126..=127 {
            assert_eq!(
                lanes(s.pow2i(s.splat(n as f32)))[0],
                2f32.powi(n),
                "pow2i {n}"
            );
        }
        let c = lanes(s.copysign(s.splat(3.0), s.splat(-0.0)));
        assert_eq!(c[0], -3.0);
        let v = [1.0f32, 2.0, 3.0, 4.5];
        // SAFETY: four elements read.
        assert_eq!(s.sum(unsafe { s.load(v.as_ptr()) }), 10.5);
    }
}
