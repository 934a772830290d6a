//! [`Simd`] for AVX-512F (`__m512`) and AVX2+FMA (`__m256`).
//!
//! An ISA is a zero-sized token that can only be made where the CPU is known
//! to support it, so arithmetic on it is safe; only memory access through raw
//! pointers is `unsafe`.

use crate::kernels::simd::Simd;
use core::arch::x86_64::*;

/// `1.5 * 2^23 + 127`. An integer `n` in `-126..=127` added to it gives an exact sum whose
/// mantissa bits hold `2^22 + 127 + n`; shifted left by 23, those bits are `(127 + n) << 23`
/// (everything above falls off), the bits of `2^n`: `pow2i` with no float-to-int conversion.
const POW2I_MAGIC: f32 = 12_583_039.0;

/// AVX-512F (with AVX2 and FMA for the surrounding scalar code).
#[derive(Clone, Copy)]
pub(crate) struct Avx512(());

impl Avx512 {
    /// Safety: the CPU supports AVX-512F, AVX2 and FMA.
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked() -> Self {
        Avx512(())
    }
}

#[inline(always)]
fn mask16(n: usize) -> __mmask16 {
    debug_assert!(n <= 16);
    ((1u32 << n) - 1) as __mmask16
}

impl Simd for Avx512 {
    type V = __m512;
    const LANES: usize = 16;
    const REGISTERS: usize = 32;

    #[inline(always)]
    fn outline<R>(self, f: impl FnOnce(Self) -> R) -> R {
        #[target_feature(enable = "avx512f,avx2,fma")]
        #[inline(never)]
        fn imp<R>(s: Avx512, f: impl FnOnce(Avx512) -> R) -> R {
            f(s)
        }
        // SAFETY: a token exists only on CPUs with these features.
        unsafe { imp(self, f) }
    }

    #[inline(always)]
    fn splat(self, x: f32) -> __m512 {
        // SAFETY (this and every arithmetic method below): an `Avx512` token
        // exists only on CPUs with AVX-512F.
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    fn mul_add(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: token proves AVX-512F.
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn add(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: token proves AVX-512F.
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: token proves AVX-512F.
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: token proves AVX-512F.
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    fn prefetch(self, p: *const f32) {
        // SAFETY: token proves AVX-512F (and so SSE); a prefetch reads nothing and never faults.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
    }
    #[inline(always)]
    fn div(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: token proves AVX-512F.
        unsafe { _mm512_div_ps(a, b) }
    }
    #[inline(always)]
    fn recip(self, d: __m512) -> __m512 {
        // rcp14 (relative error < 2^-14), then r + r (1 - d r): the error squared, one rounding.
        // A tenth of a division's port time (vdivps zmm blocks its port for ~10 cycles).
        // SAFETY: token proves AVX-512F.
        unsafe {
            let r = _mm512_rcp14_ps(d);
            _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(1.0)), r)
        }
    }
    #[inline(always)]
    fn abs(self, a: __m512) -> __m512 {
        // SAFETY: token proves AVX-512F.
        unsafe { _mm512_abs_ps(a) }
    }
    #[inline(always)]
    fn copysign(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: token proves AVX-512F (which has the bitwise ops in their integer form).
        unsafe {
            let m = _mm512_set1_epi32(i32::MIN);
            let (a, b) = (_mm512_castps_si512(a), _mm512_castps_si512(b));
            _mm512_castsi512_ps(_mm512_or_epi32(
                _mm512_andnot_epi32(m, a),
                _mm512_and_epi32(m, b),
            ))
        }
    }
    #[inline(always)]
    fn round(self, a: __m512) -> __m512 {
        // SAFETY: token proves AVX-512F.
        unsafe { _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a) }
    }
    #[inline(always)]
    fn pow2i(self, n: __m512) -> __m512 {
        // See `POW2I_MAGIC`: an add and a shift, no conversion.
        // SAFETY: token proves AVX-512F.
        unsafe {
            let t = _mm512_add_ps(n, _mm512_set1_ps(POW2I_MAGIC));
            _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_castps_si512(t)))
        }
    }
    #[inline(always)]
    fn mul_pow2(self, y: __m512, n: __m512) -> __m512 {
        // vscalefps: y * 2^floor(n), one rounding, one uop (n is an integer here).
        // SAFETY: token proves AVX-512F.
        unsafe { _mm512_scalef_ps(y, n) }
    }
    #[inline(always)]
    fn ldexp(self, y: __m512, n: __m512) -> __m512 {
        // vscalefps rounds once whatever the range: to a subnormal, zero or infinity.
        // SAFETY: token proves AVX-512F.
        unsafe { _mm512_scalef_ps(y, n) }
    }
    #[inline(always)]
    fn lt(self, a: __m512, b: __m512) -> __mmask16 {
        // SAFETY: token proves AVX-512F.
        unsafe { _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    fn select(self, m: __mmask16, a: __m512, b: __m512) -> __m512 {
        // SAFETY: token proves AVX-512F.
        unsafe { _mm512_mask_blend_ps(m, b, a) }
    }
    #[inline(always)]
    fn max_nan(self, a: __m512, b: __m512) -> __m512 {
        // vmaxps returns its second operand when either is NaN.
        // SAFETY: token proves AVX-512F.
        unsafe { _mm512_max_ps(b, a) }
    }
    #[inline(always)]
    fn min_nan(self, a: __m512, b: __m512) -> __m512 {
        // SAFETY: token proves AVX-512F.
        unsafe { _mm512_min_ps(b, a) }
    }
    #[inline(always)]
    fn sum(self, v: __m512) -> f32 {
        // SAFETY: token proves AVX-512F.
        unsafe { _mm512_reduce_add_ps(v) }
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m512 {
        // SAFETY: caller guarantees p..p+16 is readable.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_partial(self, p: *const f32, n: usize) -> __m512 {
        // SAFETY: masked-off lanes are not accessed (no fault, no read);
        // caller guarantees p..p+n is readable.
        unsafe { _mm512_maskz_loadu_ps(mask16(n), p) }
    }
    #[inline(always)]
    unsafe fn load_even(self, p: *const f32, n: usize) -> __m512 {
        let len = (2 * n).saturating_sub(1);
        // SAFETY: p..p+len is readable; masked lanes are not accessed, and
        // the second pointer is formed with wrapping arithmetic.
        unsafe {
            let lo = _mm512_maskz_loadu_ps(mask16(len.min(16)), p);
            let hi = _mm512_maskz_loadu_ps(mask16(len.saturating_sub(16)), p.wrapping_add(16));
            let idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            _mm512_permutex2var_ps(lo, idx, hi)
        }
    }
    #[inline(always)]
    unsafe fn load_range(self, p: *const f32, lo: usize, hi: usize) -> __m512 {
        let m = mask16(hi) & !mask16(lo.min(hi));
        // SAFETY: only lanes lo..hi are accessed (masked loads suppress the
        // others), and the caller guarantees those are readable.
        unsafe { _mm512_maskz_loadu_ps(m, p) }
    }
    #[inline(always)]
    unsafe fn load_even_range(self, p: *const f32, lo: usize, hi: usize) -> __m512 {
        debug_assert!(hi <= 32);
        let lo = lo.min(hi);
        let m = ((1u64 << hi) - 1) & !((1u64 << lo) - 1);
        // SAFETY: only elements lo..hi are accessed, readable by the caller's
        // guarantee; the second pointer is formed with wrapping arithmetic.
        unsafe {
            let a = _mm512_maskz_loadu_ps(m as __mmask16, p);
            let b = _mm512_maskz_loadu_ps((m >> 16) as __mmask16, p.wrapping_add(16));
            let idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            _mm512_permutex2var_ps(a, idx, b)
        }
    }
    type Mask = __mmask16;
    #[inline(always)]
    fn window_mask(self, lo: usize, hi: usize) -> [__mmask16; 2] {
        debug_assert!(hi <= 32);
        let m = ((1u64 << hi) - 1) & !((1u64 << lo.min(hi)) - 1);
        [m as __mmask16, (m >> 16) as __mmask16]
    }
    #[inline(always)]
    unsafe fn load_masked(self, p: *const f32, m: __mmask16) -> __m512 {
        // SAFETY: masked loads access only the selected lanes, which the
        // caller guarantees are readable.
        unsafe { _mm512_maskz_loadu_ps(m, p) }
    }
    #[inline(always)]
    unsafe fn load_even_masked(self, p: *const f32, m: [__mmask16; 2]) -> __m512 {
        // SAFETY: only selected elements are accessed; the second pointer is
        // formed with wrapping arithmetic.
        unsafe {
            let a = _mm512_maskz_loadu_ps(m[0], p);
            let b = _mm512_maskz_loadu_ps(m[1], p.wrapping_add(16));
            let idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            _mm512_permutex2var_ps(a, idx, b)
        }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: __m512) {
        // SAFETY: caller guarantees p..p+16 is writable.
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn store_partial(self, p: *mut f32, v: __m512, n: usize) {
        // SAFETY: masked-off lanes are not written; caller guarantees p..p+n.
        unsafe { _mm512_mask_storeu_ps(p, mask16(n), v) }
    }
}

/// AVX2 with FMA.
#[derive(Clone, Copy)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// Safety: the CPU supports AVX2 and FMA.
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked() -> Self {
        Avx2(())
    }
}

/// `MASK_TABLE[8 - n..][..8]` has `n` leading all-ones lanes.
static MASK_TABLE: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

#[inline(always)]
fn mask8(n: usize) -> __m256i {
    debug_assert!(n <= 8);
    let n = n.min(8);
    // SAFETY: 8 - n + 8 <= 16 elements of the table; AVX is implied by the
    // token (this is only reached from `Avx2` methods).
    unsafe { _mm256_loadu_si256(MASK_TABLE.as_ptr().add(8 - n).cast()) }
}

impl Simd for Avx2 {
    type V = __m256;
    const LANES: usize = 8;
    const REGISTERS: usize = 16;

    #[inline(always)]
    fn outline<R>(self, f: impl FnOnce(Self) -> R) -> R {
        #[target_feature(enable = "avx2,fma")]
        #[inline(never)]
        fn imp<R>(s: Avx2, f: impl FnOnce(Avx2) -> R) -> R {
            f(s)
        }
        // SAFETY: a token exists only on CPUs with these features.
        unsafe { imp(self, f) }
    }

    #[inline(always)]
    fn splat(self, x: f32) -> __m256 {
        // SAFETY (this and every arithmetic method below): an `Avx2` token
        // exists only on CPUs with AVX2 and FMA.
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    fn mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: token proves FMA.
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn add(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: token proves AVX.
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: token proves AVX.
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    fn mul(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: token proves AVX.
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    fn prefetch(self, p: *const f32) {
        // SAFETY: token proves AVX (and so SSE); a prefetch reads nothing and never faults.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
    }
    #[inline(always)]
    fn div(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: token proves AVX.
        unsafe { _mm256_div_ps(a, b) }
    }
    #[inline(always)]
    fn abs(self, a: __m256) -> __m256 {
        // SAFETY: token proves AVX.
        unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), a) }
    }
    #[inline(always)]
    fn copysign(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: token proves AVX.
        unsafe {
            let m = _mm256_set1_ps(-0.0);
            _mm256_or_ps(_mm256_andnot_ps(m, a), _mm256_and_ps(m, b))
        }
    }
    #[inline(always)]
    fn round(self, a: __m256) -> __m256 {
        // SAFETY: token proves AVX.
        unsafe { _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a) }
    }
    #[inline(always)]
    fn pow2i(self, n: __m256) -> __m256 {
        // See `POW2I_MAGIC`: an add and a shift, no conversion.
        // SAFETY: token proves AVX2.
        unsafe {
            let t = _mm256_add_ps(n, _mm256_set1_ps(POW2I_MAGIC));
            _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_castps_si256(t)))
        }
    }
    #[inline(always)]
    fn lt(self, a: __m256, b: __m256) -> __m256i {
        // SAFETY: token proves AVX.
        unsafe { _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LT_OQ>(a, b)) }
    }
    #[inline(always)]
    fn select(self, m: __m256i, a: __m256, b: __m256) -> __m256 {
        // SAFETY: token proves AVX.
        unsafe { _mm256_blendv_ps(b, a, _mm256_castsi256_ps(m)) }
    }
    #[inline(always)]
    fn max_nan(self, a: __m256, b: __m256) -> __m256 {
        // vmaxps returns its second operand when either is NaN.
        // SAFETY: token proves AVX.
        unsafe { _mm256_max_ps(b, a) }
    }
    #[inline(always)]
    fn min_nan(self, a: __m256, b: __m256) -> __m256 {
        // SAFETY: token proves AVX.
        unsafe { _mm256_min_ps(b, a) }
    }
    #[inline(always)]
    fn sum(self, v: __m256) -> f32 {
        // SAFETY: token proves AVX.
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
            _mm_cvtss_f32(s)
        }
    }

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> __m256 {
        // SAFETY: caller guarantees p..p+8 is readable.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_partial(self, p: *const f32, n: usize) -> __m256 {
        // SAFETY: vmaskmovps does not access masked-off lanes; caller
        // guarantees p..p+n is readable.
        unsafe { _mm256_maskload_ps(p, mask8(n)) }
    }
    #[inline(always)]
    unsafe fn load_even(self, p: *const f32, n: usize) -> __m256 {
        let len = (2 * n).saturating_sub(1);
        // SAFETY: p..p+len is readable; masked lanes are not accessed, and
        // the second pointer is formed with wrapping arithmetic.
        unsafe {
            let lo = _mm256_maskload_ps(p, mask8(len.min(8)));
            let hi = _mm256_maskload_ps(p.wrapping_add(8), mask8(len.saturating_sub(8)));
            // [lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6], then 64-bit chunks 0, 2, 1, 3.
            let t = _mm256_shuffle_ps(lo, hi, 0b10_00_10_00);
            _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), 0b11_01_10_00))
        }
    }
    #[inline(always)]
    unsafe fn load_range(self, p: *const f32, lo: usize, hi: usize) -> __m256 {
        // SAFETY: AVX is implied by the token; vmaskmovps accesses only lanes
        // lo..hi, which the caller guarantees are readable.
        unsafe { _mm256_maskload_ps(p, _mm256_andnot_si256(mask8(lo.min(hi)), mask8(hi))) }
    }
    #[inline(always)]
    unsafe fn load_even_range(self, p: *const f32, lo: usize, hi: usize) -> __m256 {
        let lo = lo.min(hi);
        let (lo2, hi2) = (lo.saturating_sub(8), hi.saturating_sub(8));
        // SAFETY: only elements lo..hi are accessed, readable by the caller's
        // guarantee; the second pointer is formed with wrapping arithmetic.
        unsafe {
            let a = self.load_range(p, lo.min(8), hi.min(8));
            let b = self.load_range(p.wrapping_add(8), lo2, hi2);
            let t = _mm256_shuffle_ps(a, b, 0b10_00_10_00);
            _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), 0b11_01_10_00))
        }
    }
    type Mask = __m256i;
    #[inline(always)]
    fn window_mask(self, lo: usize, hi: usize) -> [__m256i; 2] {
        debug_assert!(hi <= 16);
        let lo = lo.min(hi);
        let (lo2, hi2) = (lo.saturating_sub(8), hi.saturating_sub(8));
        // SAFETY: the token proves AVX2.
        unsafe {
            [
                _mm256_andnot_si256(mask8(lo.min(8)), mask8(hi.min(8))),
                _mm256_andnot_si256(mask8(lo2), mask8(hi2)),
            ]
        }
    }
    #[inline(always)]
    unsafe fn load_masked(self, p: *const f32, m: __m256i) -> __m256 {
        // SAFETY: vmaskmovps accesses only the selected lanes, which the
        // caller guarantees are readable.
        unsafe { _mm256_maskload_ps(p, m) }
    }
    #[inline(always)]
    unsafe fn load_even_masked(self, p: *const f32, m: [__m256i; 2]) -> __m256 {
        // SAFETY: only selected elements are accessed; the second pointer is
        // formed with wrapping arithmetic.
        unsafe {
            let a = _mm256_maskload_ps(p, m[0]);
            let b = _mm256_maskload_ps(p.wrapping_add(8), m[1]);
            let t = _mm256_shuffle_ps(a, b, 0b10_00_10_00);
            _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), 0b11_01_10_00))
        }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: __m256) {
        // SAFETY: caller guarantees p..p+8 is writable.
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn store_partial(self, p: *mut f32, v: __m256, n: usize) {
        // Pieces of 4, 2 and 1 lanes, not `vmaskmovps`: its store form is microcoded on AMD
        // Zen 1-3 (6.3 ns a store measured on an EPYC against 0.5-1 ns for the pieces), and
        // the kernels store a partial vector at the end of every row of 7, 14 or 28 pixels.
        // SAFETY: caller guarantees p..p+n is writable; each store writes inside it, and `p`
        // advances at most to one past its end.
        unsafe {
            if n >= 8 {
                return _mm256_storeu_ps(p, v);
            }
            let mut p = p;
            let mut h = _mm256_castps256_ps128(v);
            if n & 4 != 0 {
                _mm_storeu_ps(p, h);
                p = p.add(4);
                h = _mm256_extractf128_ps::<1>(v);
            }
            if n & 2 != 0 {
                _mm_storel_epi64(p.cast(), _mm_castps_si128(h));
                p = p.add(2);
                h = _mm_movehl_ps(h, h);
            }
            if n & 1 != 0 {
                _mm_store_ss(p, h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    /// Lane 0 of `pow2i(n)`, `mul_pow2(y, n)` and `ldexp(y, n)`.
    /// Safety: the CPU supports AVX-512F, AVX2 and FMA.
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn scale512(y: f32, n: f32) -> [f32; 3] {
        // SAFETY: the caller's guarantee; the stores write 16 lanes into 16 elements.
        unsafe {
            let s = Avx512::new_unchecked();
            let mut out = [[0.0; 16]; 3];
            s.store(out[0].as_mut_ptr(), s.pow2i(s.splat(n)));
            s.store(out[1].as_mut_ptr(), s.mul_pow2(s.splat(y), s.splat(n)));
            s.store(out[2].as_mut_ptr(), s.ldexp(s.splat(y), s.splat(n)));
            out.map(|o| o[0])
        }
    }

    /// As `scale512` on AVX2. Safety: the CPU supports AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn scale256(y: f32, n: f32) -> [f32; 3] {
        // SAFETY: the caller's guarantee; the stores write 8 lanes into 8 elements.
        unsafe {
            let s = Avx2::new_unchecked();
            let mut out = [[0.0; 8]; 3];
            s.store(out[0].as_mut_ptr(), s.pow2i(s.splat(n)));
            s.store(out[1].as_mut_ptr(), s.mul_pow2(s.splat(y), s.splat(n)));
            s.store(out[2].as_mut_ptr(), s.ldexp(s.splat(y), s.splat(n)));
            out.map(|o| o[0])
        }
    }

    /// `pow2i` and `mul_pow2` exact over their ranges, `ldexp` rounded once over its own
    /// (subnormal, overflowing), on each table the CPU has.
    #[test]
    fn pow2_scaling() {
        use super::super::{cpu_has, Isa};
        let (avx512, avx2) = (cpu_has(Isa::Avx512), cpu_has(Isa::Avx2));
        for n in -150..=128 {
            for y in [0.5, 0.75, 1.0, 1.234_567_9, 1.5, 1.999_999_9] {
                let exact = f64::from(y) * 2f64.powi(n);
                let want = [2f64.powi(n) as f32, exact as f32, exact as f32];
                let mut got = std::vec::Vec::new();
                if avx512 {
                    // SAFETY: checked above.
                    got.push(("avx512", unsafe { scale512(y, n as f32) }));
                }
                if avx2 {
                    // SAFETY: checked above.
                    got.push(("avx2", unsafe { scale256(y, n as f32) }));
                }
                for (isa, g) in got {
                    let normal = (-126..=127).contains(&n) && want[1].is_normal();
                    if (-126..=127).contains(&n) {
                        assert_eq!(g[0], want[0], "{isa} pow2i({n})");
                    }
                    if normal {
                        assert_eq!(g[1], want[1], "{isa} mul_pow2({y}, {n})");
                    }
                    assert_eq!(g[2], want[2], "{isa} ldexp({y}, {n})");
                }
            }
        }
    }

    /// `store_partial` writes lanes `0..n` and nothing past them, for every `n`, on AVX2
    /// (its pieces of 4, 2 and 1) and AVX-512 (a masked store).
    #[test]
    fn partial_stores_write_exactly_n_lanes() {
        use super::super::{cpu_has, Isa};
        for n in 0..=16 {
            let v: [f32; 16] = core::array::from_fn(|i| i as f32 + 1.0);
            if cpu_has(Isa::Avx2) && n <= 8 {
                let mut out = [-1.0f32; 9];
                // SAFETY: AVX2 checked; the load reads 8 of 16, the store writes n <= 8 of 9.
                unsafe {
                    let s = Avx2::new_unchecked();
                    s.store_partial(out.as_mut_ptr(), s.load(v.as_ptr()), n);
                }
                let want: [f32; 9] = core::array::from_fn(|i| if i < n { v[i] } else { -1.0 });
                assert_eq!(out, want, "avx2 n={n}");
            }
            if cpu_has(Isa::Avx512) {
                let mut out = [-1.0f32; 17];
                // SAFETY: AVX-512 checked; 16 lanes read of 16, n <= 16 written of 17.
                unsafe { store512(&v, &mut out, n) };
                let want: [f32; 17] = core::array::from_fn(|i| if i < n { v[i] } else { -1.0 });
                assert_eq!(out, want, "avx512 n={n}");
            }
        }
    }

    /// Safety: the CPU supports AVX-512F, AVX2 and FMA.
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn store512(v: &[f32; 16], out: &mut [f32; 17], n: usize) {
        // SAFETY: the caller's guarantee; 16 lanes read, n <= 16 written.
        unsafe {
            let s = Avx512::new_unchecked();
            s.store_partial(out.as_mut_ptr(), s.load(v.as_ptr()), n);
        }
    }
}
