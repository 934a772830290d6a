//! The activations, written once over [`Simd`]: [`act_vec`] applies one to a vector in every
//! conv epilogue and in the standalone activation kernels, and `Activation::apply` (the scalar
//! path: squeeze-excite's short vectors, the scalar references) is the same code on the
//! [`Portable`] lane, so scalar and vector results differ only by the fused multiply-adds the
//! portable lane rounds twice.
//!
//! The transcendental ones reduce to [`exp`] (Cody-Waite reduction and Cephes' degree-7
//! polynomial; the sigmoid and SiLU have a cheaper degree-6 one of their own) plus polynomials
//! for the small-argument ranges; every function handles the whole `f32` range: NaN
//! propagates, infinities give the limits, large arguments saturate or underflow (through
//! subnormals) instead of overflowing to NaN. Each one's doc gives the largest error
//! against `f64` measured by `tests::sweep` (every 509th bit pattern of the `f32` range, a dense
//! grid over `[-100, 100]` and the special values) on AVX-512, AVX2 and the portable lane, and
//! the bound that test asserts.
//! An ulp here is that of the exact result (the spacing of `f32`s at its magnitude; for
//! subnormals the subnormal step).

use super::portable::Portable;
use super::Simd;
use crate::params::Activation;

impl Activation {
    /// Applies the activation to one value (the vector kernels' algorithm on one lane).
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        act_vec(Portable::new(), self, x)
    }
}

/// `act` on every element of `data`; one `match` outside the loop (the scalar path).
pub(crate) fn apply_in_place(act: Activation, data: &mut [f32]) {
    if act != Activation::None {
        activation_in_place(Portable::new(), act, data);
    }
}

impl Activation {
    /// A few vector instructions (no `exp`): cheap enough to inline into the most unrolled
    /// epilogues (see [`act_cheap`]).
    #[inline]
    pub(crate) fn is_cheap(self) -> bool {
        matches!(
            self,
            Activation::None
                | Activation::Relu
                | Activation::Clip { .. }
                | Activation::HardSigmoid { .. }
                | Activation::HardSwish
        )
    }
}

/// `act` on every lane if it [is cheap](Activation::is_cheap), else the identity: for the
/// epilogues unrolled over many registers (NHWC pointwise tiles), where inlining the
/// transcendental ones into each register's store made the runtime's release build many
/// times slower; those kernels apply the others in a second pass over the stored tile
/// ([`activation_raw`]).
#[inline(always)]
pub(crate) fn act_cheap<S: Simd>(s: S, act: Activation, v: S::V) -> S::V {
    match act {
        Activation::Relu => s.max_nan(v, s.splat(0.0)),
        Activation::Clip { min, max } => s.min_nan(s.max_nan(v, s.splat(min)), s.splat(max)),
        Activation::HardSigmoid { alpha, beta } => {
            let t = s.add(s.mul(v, s.splat(alpha)), s.splat(beta));
            s.min_nan(s.max_nan(t, s.splat(0.0)), s.splat(1.0))
        }
        Activation::HardSwish => {
            let t = s.add(s.div(v, s.splat(6.0)), s.splat(0.5));
            s.mul(v, s.min_nan(s.max_nan(t, s.splat(0.0)), s.splat(1.0)))
        }
        _ => v,
    }
}

/// `act` on every lane.
#[inline(always)]
pub(crate) fn act_vec<S: Simd>(s: S, act: Activation, v: S::V) -> S::V {
    match act {
        Activation::Sigmoid => sigmoid(s, v),
        Activation::Silu => silu(s, v),
        Activation::Tanh => tanh(s, v),
        Activation::Gelu => gelu(s, v),
        Activation::GeluTanh => gelu_tanh(s, v),
        Activation::Erf => erf(s, v),
        Activation::Exp => exp(s, v),
        _ => act_cheap(s, act, v),
    }
}

/// `y[i] = act(x[i])` for `i < y.len()` (`x` at least as long).
#[inline(always)]
pub(crate) fn activation_to<S: Simd>(s: S, act: Activation, x: &[f32], y: &mut [f32]) {
    assert!(x.len() >= y.len());
    // SAFETY: `x` and `y` hold `y.len()` elements (asserted) and cannot overlap (`&mut`).
    unsafe { activation_raw(s, act, x.as_ptr(), y.as_mut_ptr(), y.len()) }
}

/// `data[i] = act(data[i])`.
#[inline(always)]
pub(crate) fn activation_in_place<S: Simd>(s: S, act: Activation, data: &mut [f32]) {
    let p = data.as_mut_ptr();
    // SAFETY: `p..p + len` is `data`, borrowed mutably for the call.
    unsafe { activation_raw(s, act, p, p, data.len()) }
}

/// `q[i] = act(p[i])` for `i < len`, each vector read before it is written.
/// Safety: `p..p + len` is readable and `q..q + len` writable; they are the same or disjoint.
///
/// No closure here: a closure does not inherit the caller's `#[target_feature]`, so the
/// intrinsics inside it were calls (EfficientNet took 183 ms instead of tens).
#[inline(always)]
pub(crate) unsafe fn activation_raw<S: Simd>(
    s: S,
    act: Activation,
    p: *const f32,
    q: *mut f32,
    len: usize,
) {
    let l = S::LANES;
    let mut i = 0;
    // SAFETY: every access is below `len` (the caller's guarantee).
    unsafe {
        while i + l <= len {
            s.store(q.add(i), act_vec(s, act, s.load(p.add(i))));
            i += l;
        }
        if i < len {
            let n = len - i;
            s.store_partial(q.add(i), act_vec(s, act, s.load_partial(p.add(i), n)), n);
        }
    }
}

const ONE: f32 = 1.0;

/// `1.5 * 2^23`: `x + ROUND_MAGIC - ROUND_MAGIC` is `x` rounded to the nearest integer (ties
/// to even) for `|x| <= 2^22`, and the first sum can fuse with the multiply before it: one
/// fused multiply-add and one subtraction instead of a multiply and a rounding (`vroundps` and
/// `vrndscaleps` are two uops each on Intel).
const ROUND_MAGIC: f32 = 12_582_912.0;

/// `e^x`. Max error 1 ulp (measured 0.99 on AVX-512 and AVX2, 0.97 portable), subnormal
/// results within one subnormal step; overflow (x > 88.7228) gives +inf, x < -103.98 gives 0.
///
/// `x = n ln2 + r` with `|r| <= ln2 / 2` (Cody-Waite, `ln2` in two parts), `e^r` by Cephes'
/// degree-7 polynomial, and `2^n` applied by [`Simd::ldexp`] so that a subnormal or
/// overflowing result is rounded once.
#[inline(always)]
pub(crate) fn exp<S: Simd>(s: S, x: S::V) -> S::V {
    // Beyond these the result is 0 or inf already; the clamp keeps n in [-150, 128].
    let x = s.min_nan(s.max_nan(x, s.splat(-104.0)), s.splat(89.0));
    let (y, n) = exp_reduced(s, x);
    s.ldexp(y, n)
}

/// `ln2` in two parts: `n * LN2_HI` is exact for `|n| <= 2^8` (9 + 8 significant bits), so is
/// its difference with an `x` near it; `LN2_HI + LN2_LO` is `ln2` to about 2^-32.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// `(e^r, n)` with `x = n ln2 + r`, `|r| <= ln2 / 2` (a little more: `n` is rounded from the
/// rounded product), for `|x| <= 104`.
#[inline(always)]
fn exp_reduced<S: Simd>(s: S, x: S::V) -> (S::V, S::V) {
    let t = s.mul_add(x, s.splat(core::f32::consts::LOG2_E), s.splat(ROUND_MAGIC));
    let n = s.sub(t, s.splat(ROUND_MAGIC));
    let r = s.mul_add(n, s.splat(-LN2_HI), x);
    let r = s.mul_add(n, s.splat(-LN2_LO), r);
    let mut p = s.splat(1.987_569_1e-4);
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        0.166_666_65,
        0.5,
    ] {
        p = s.mul_add(p, r, s.splat(c));
    }
    (s.add(s.mul_add(p, s.mul(r, r), r), s.splat(ONE)), n)
}

/// Below this the sigmoid (and `e^x`) would be near or under the smallest normal f32
/// (`2^-126` is `e^-87.3365`): the sigmoid gives 0 there.
const SIGMOID_FLUSH: f32 = 87.33;

/// `(1 / (1 + e^-x), x < -87.33)`: the sigmoid where `x >= -87.33` (NaN propagated), and the
/// lanes where it must be flushed to 0 instead.
///
/// One formula for both signs: for `x < 0`, `e^-x` is large and its relative error passes to
/// the quotient unchanged (not amplified), so no `e^x / (1 + e^x)` branch is needed for the
/// tail. `x` is clamped to `±87.33` first, so `e^-x` lies in `[2^-126, 2^126]` and neither it
/// nor the quotient is subnormal. `e^-x = 2^n e^-u` with `u = x + n ln2` (`x` itself reduced,
/// no negation), `e^-u` by a degree-6 polynomial in Horner form (odd coefficients negated),
/// fitted to `e^r` on `|r| <= ln2 / 2` at Chebyshev nodes (relative error 2.5e-9): one fused
/// multiply-add per coefficient, where [`exp`] spends two more operations on Cephes' form,
/// which keeps `exp` itself within 1 ulp on the portable lane (as `exp`, this one reached 1.1
/// ulp there in a scratch run of the same measure).
#[inline(always)]
fn sigmoid_parts<S: Simd>(s: S, x: S::V) -> (S::V, S::Mask) {
    let a = s.min_nan(
        s.max_nan(x, s.splat(-SIGMOID_FLUSH)),
        s.splat(SIGMOID_FLUSH),
    );
    // n = round(-a log2e), so that -a = n ln2 - u.
    let t = s.mul_add(a, s.splat(-core::f32::consts::LOG2_E), s.splat(ROUND_MAGIC));
    let n = s.sub(t, s.splat(ROUND_MAGIC));
    let u = s.mul_add(n, s.splat(LN2_HI), a);
    let u = s.mul_add(n, s.splat(LN2_LO), u);
    let mut p = s.splat(1.394_116_1e-3);
    for c in [-8.375_168e-3, 4.166_635e-2, -0.166_664_15, 0.5, -1.0, ONE] {
        p = s.mul_add(p, u, s.splat(c));
    }
    let e = s.mul_pow2(p, n);
    (
        s.recip(s.add(s.splat(ONE), e)),
        s.lt(x, s.splat(-SIGMOID_FLUSH)),
    )
}

/// `1 / (1 + e^-x)` (the quotient as [`Simd::recip`] of the denominator: no division where
/// the table has a fast reciprocal), relative-exact down to the smallest normals. Max error
/// 2.5 ulp (measured 2.20 on every table) for `x >= -87.33`; below, 0 (an absolute error under
/// 1.19e-38). No subnormal is ever made or read: `x` is clamped to `±87.33` inside. A
/// subnormal costs a microcode assist on x86 in every instruction that makes or reads one, and
/// trained networks have many logits below -87 (EfficientNet-B0: a fifth of some late
/// expansion convs' outputs), whose SiLU would otherwise make the next conv several times
/// slower.
#[inline(always)]
pub(crate) fn sigmoid<S: Simd>(s: S, x: S::V) -> S::V {
    let (y, flush) = sigmoid_parts(s, x);
    s.select(flush, s.splat(0.0), y)
}

/// SiLU `x * sigmoid(x)`; `-inf` gives `-0` (the limit, where the product would be NaN).
/// Max error 3 ulp for x >= -87.33 (measured 2.49 on AVX-512 and AVX2, 2.53 portable); below, `-0`
/// (the sigmoid is 0 there: an absolute error under 1.1e-36), so no subnormal is made.
#[inline(always)]
pub(crate) fn silu<S: Simd>(s: S, x: S::V) -> S::V {
    let (y, flush) = sigmoid_parts(s, x);
    s.select(flush, s.splat(-0.0), s.mul(x, y))
}

/// `tanh(x)`: Cephes' odd polynomial below `|x| = 0.625`, `(1 - e^-2|x|) / (1 + e^-2|x|)`
/// above (no cancellation), sign restored; saturates to ±1. Max error 2 ulp (measured 1.50 on
/// every table).
#[inline(always)]
pub(crate) fn tanh<S: Simd>(s: S, x: S::V) -> S::V {
    let a = s.abs(x);
    let z = s.mul(a, a);
    let mut p = s.splat(-5.704_988_7e-3);
    for c in [2.063_909e-2, -5.373_971_6e-2, 0.133_314_42, -0.333_332_8] {
        p = s.mul_add(p, z, s.splat(c));
    }
    let small = s.mul_add(s.mul(p, z), a, a);
    let e = exp(s, s.mul(a, s.splat(-2.0)));
    let large = s.div(s.sub(s.splat(ONE), e), s.add(s.splat(ONE), e));
    s.copysign(s.select(s.lt(a, s.splat(0.625)), small, large), x)
}

/// Below this `|x|`, erf is `x P(x^2)`; above, `1 - erfc` with `erfc = e^Q(|x|)`.
const ERF_SPLIT: f32 = 0.921_875;
/// Above this `|x|`, erfc(|x|) < 1.6e-8: erf rounds to ±1.
const ERF_CLAMP: f32 = 4.0;

/// `erf(x) / x - 1` for `x^2 = t <= ERF_SPLIT^2`: a Chebyshev fit of degree 5 in `t` (relative
/// error 1.4e-8, from mpmath), less 1 so that `erf(x) = x + x p` rounds near `x`, not near
/// `1.13 x`.
#[inline(always)]
fn erf_small<S: Simd>(s: S, t: S::V) -> S::V {
    let mut p = s.splat(-6.004_081e-4);
    for c in [
        4.996_02e-3,
        -2.676_875_7e-2,
        0.112_818_82,
        -0.376_125,
        0.128_379_15,
    ] {
        p = s.mul_add(p, t, s.splat(c));
    }
    p
}

/// `ln erfc(a)` for `a` in `[ERF_SPLIT, ERF_CLAMP]`: a Chebyshev fit of degree 8 (absolute
/// error 1.9e-8, from mpmath).
#[inline(always)]
fn log_erfc<S: Simd>(s: S, a: S::V) -> S::V {
    let mut p = s.splat(1.643_571e-6);
    for c in [
        -4.617_827_6e-5,
        5.977_498_4e-4,
        -4.763_623e-3,
        2.643_121_2e-2,
        -0.110_094_94,
        -0.631_813_9,
        -1.130_238,
        3.205_816_4e-4,
    ] {
        p = s.mul_add(p, a, s.splat(c));
    }
    p
}

/// `erf(x)`, ±1 beyond `|x| = 3.92`. Max error 1.5 ulp (measured 1.04 on AVX-512 and AVX2,
/// 1.25 portable).
#[inline(always)]
pub(crate) fn erf<S: Simd>(s: S, x: S::V) -> S::V {
    let a = s.abs(x);
    let small = s.mul_add(x, erf_small(s, s.mul(x, x)), x);
    let c = exp(s, log_erfc(s, s.min_nan(a, s.splat(ERF_CLAMP))));
    let large = s.copysign(s.sub(s.splat(ONE), c), x);
    s.select(s.lt(a, s.splat(ERF_SPLIT)), small, large)
}

/// GELU `x / 2 * (1 + erf(x / sqrt 2))`, with `1 + erf(z)` taken as `erfc(|z|)` for negative
/// `z` (no cancellation). Max error 18 ulp on `x >= -3` (measured 15.0 on AVX-512 and AVX2,
/// 16.3 portable; 1 ulp or so for x >= 0): the rounding of `x / sqrt 2` is amplified by erfc's
/// slope (`2 z^2` in relative terms), as in any f32 evaluation of the formula; 64 ulp on
/// `x >= -5.65` (measured 56.5 / 60.1); below, where |gelu(x)| < 4.4e-8, it returns `-0`.
/// `-inf` gives `-0`, `+inf` gives `+inf`.
#[inline(always)]
pub(crate) fn gelu<S: Simd>(s: S, x: S::V) -> S::V {
    let z = s.mul(x, s.splat(core::f32::consts::FRAC_1_SQRT_2));
    let a = s.abs(z);
    let small = s.add(s.mul_add(z, erf_small(s, s.mul(z, z)), z), s.splat(ONE));
    let c = exp(s, log_erfc(s, s.min_nan(a, s.splat(ERF_CLAMP))));
    let tail = s.select(s.lt(a, s.splat(ERF_CLAMP)), c, s.splat(0.0));
    let large = s.select(s.lt(z, s.splat(0.0)), tail, s.sub(s.splat(2.0), c));
    let one_plus_erf = s.select(s.lt(a, s.splat(ERF_SPLIT)), small, large);
    let half_x = s.mul(s.max_nan(x, s.splat(-f32::MAX)), s.splat(0.5));
    s.mul(half_x, one_plus_erf)
}

/// GELU, tanh form, as `x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3))` (the same function:
/// `1 + tanh(u) = 2 sigmoid(2u)`). Max error 16 ulp on `x >= -3` (measured 11.9 on AVX-512 and
/// AVX2, 12.4 portable; a few ulp for x >= 0): the rounding of the cubic argument `u` is
/// amplified by `|u|` for negative `x`, inherent to evaluating the formula in f32; below -3,
/// where |gelu| < 4e-3, an absolute error under 1e-7. `-inf` gives `-0`.
#[inline(always)]
pub(crate) fn gelu_tanh<S: Simd>(s: S, x: S::V) -> S::V {
    // 2 sqrt(2 / pi) and 2 sqrt(2 / pi) * 0.044715.
    let u = s.mul(
        x,
        s.mul_add(s.mul(x, x), s.splat(0.071_354_82), s.splat(1.595_769)),
    );
    s.mul(s.max_nan(x, s.splat(-f32::MAX)), sigmoid(s, u))
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::dispatch::all;
    use std::vec::Vec;

    /// `erf` in f64 to ~1e-15 relative: the Taylor series below 2.5, the continued fraction
    /// of erfc above.
    fn erf64(x: f64) -> f64 {
        if x.is_nan() {
            x
        } else if x.abs() < 2.5 {
            erf_series(x.abs()).copysign(x)
        } else {
            (1.0 - erfc64(x.abs())).copysign(x)
        }
    }

    /// erf(a) by its Taylor series: 2/sqrt(pi) sum (-1)^n a^(2n+1) / (n! (2n+1)).
    fn erf_series(a: f64) -> f64 {
        let (mut term, mut sum, a2) = (a, a, a * a);
        for n in 1..200 {
            term *= -a2 / n as f64;
            let t = term / (2 * n + 1) as f64;
            sum += t;
            if t.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        sum * core::f64::consts::FRAC_2_SQRT_PI
    }

    fn erfc64(x: f64) -> f64 {
        if x.is_nan() {
            return x;
        }
        if x < 0.0 {
            return 2.0 - erfc64(-x);
        }
        if x < 2.5 {
            return 1.0 - erf_series(x);
        }
        if x > 27.0 {
            return 0.0;
        }
        // erfc(x) = e^-x^2 / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + 2 / ...)))).
        let mut f = x;
        for k in (1..=120).rev() {
            f = x + (k as f64 / 2.0) / f;
        }
        (-x * x).exp() / core::f64::consts::PI.sqrt() / f
    }

    fn reference(act: Activation, x: f64) -> f64 {
        let sig = |x: f64| {
            if x < 0.0 {
                x.exp() / (1.0 + x.exp())
            } else {
                1.0 / (1.0 + (-x).exp())
            }
        };
        // The limits at -inf where the f64 products would be NaN.
        let times = |x: f64, y: f64| if x == f64::NEG_INFINITY { -0.0 } else { x * y };
        match act {
            Activation::Exp => x.exp(),
            Activation::Sigmoid => sig(x),
            Activation::Silu => times(x, sig(x)),
            Activation::Tanh => x.tanh(),
            Activation::Erf => erf64(x),
            Activation::Gelu => times(x, 0.5 * erfc64(-x / core::f64::consts::SQRT_2)),
            Activation::GeluTanh => {
                // 0.5 (1 + tanh(u)) = sigmoid(2u), which keeps the tail (1 + tanh rounds to 0).
                let k = (2.0 / core::f64::consts::PI).sqrt();
                times(x, sig(2.0 * k * (x + 0.044715 * x * x * x)))
            }
            _ => unreachable!(),
        }
    }

    /// The spacing of f32 at `y`'s magnitude (the subnormal step below the normals).
    fn ulp(y: f64) -> f64 {
        let a = y.abs().max(f64::from(f32::MIN_POSITIVE));
        2f64.powi(a.log2().floor() as i32 - 23)
    }

    /// Inputs: every 509th bit pattern (both signs, every exponent, NaNs), a dense grid over
    /// [-100, 100], and the special values.
    fn inputs() -> Vec<f32> {
        let mut xs: Vec<f32> = (0..=u32::MAX / 509)
            .map(|i| f32::from_bits(i * 509))
            .collect();
        xs.extend((-400_000..=400_000).map(|i| i as f32 / 4000.0));
        let special = [
            0.0,
            f32::INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
            1e-45,
            1e-40,
            1e-30,
            1e30,
            f32::MAX,
            88.7,
            88.72283,
            88.72284,
            89.0,
            87.33654,
            103.97,
            104.0,
            100.0,
            0.625,
            0.921875,
            3.92,
            4.0,
            5.65,
            9.0,
        ];
        for x in special {
            xs.push(x);
            xs.push(-x);
        }
        xs
    }

    /// The largest error in ulps of `act` over `inputs()` on `x >= from` for the table's lanes,
    /// and whether non-finite and NaN results match.
    fn worst(
        k: &crate::dispatch::Kernels,
        act: Activation,
        xs: &[f32],
        wants: &[f64],
        from: f32,
        tail_abs: f64,
        sub_abs: f64,
    ) -> f64 {
        let mut got = std::vec![0.0; xs.len()];
        (k.activation_to)(act, xs, &mut got);
        let (mut worst, mut at) = (0f64, 0f32);
        for ((&x, &y), &want) in xs.iter().zip(&got).zip(wants) {
            if want.is_nan() || x.is_nan() {
                assert!(y.is_nan(), "{} {act:?}({x:e}) = {y:e}, want NaN", k.name);
                continue;
            }
            let y = f64::from(y);
            if want.abs() < f64::from(f32::MIN_POSITIVE) && x >= from {
                // A subnormal result: an absolute bound (its precision is that of the format).
                if (y - want).abs() > sub_abs {
                    std::println!("{} {act:?}({x:e}) = {y:e}, want {want:e}", k.name);
                    return f64::INFINITY;
                }
                continue;
            }
            if x < from {
                let err = (y - want).abs();
                if err > tail_abs {
                    std::println!("{} {act:?}({x:e}) = {y:e}, want {want:e}", k.name);
                    return f64::INFINITY;
                }
                continue;
            }
            if want.abs() > f64::from(f32::MAX) {
                // Beyond f32: overflow to inf (or the largest finite value) is right.
                assert!(
                    y == want.signum() * f64::INFINITY || y.abs() >= f64::from(f32::MAX),
                    "{} {act:?}({x:e}) = {y:e}, want {want:e}",
                    k.name
                );
                continue;
            }
            let err = if y == want {
                0.0
            } else {
                (y - want).abs() / ulp(want)
            };
            assert!(
                err.is_finite(),
                "{} {act:?}({x:e}) = {y:e}, want {want:e}",
                k.name
            );
            if err > worst {
                (worst, at) = (err, x);
            }
        }
        std::println!("{} {act:?} from {from}: {worst:.2} ulp at {at:e}", k.name);
        worst
    }

    /// Every transcendental activation over the whole f32 range, on every table, within the
    /// bound its doc states.
    #[test]
    fn sweep() {
        let xs = inputs();
        // (activation, ulp bound where the result is normal on x >= from, absolute bound
        // below `from`, absolute bound where the result is subnormal).
        let sub = 1.5e-45;
        let cases = [
            (Activation::Exp, 1.0, f32::NEG_INFINITY, 0.0, sub),
            (Activation::Sigmoid, 2.5, -87.33, 1.19e-38, sub),
            (Activation::Silu, 3.0, -87.33, 1.1e-36, 1.1e-36),
            (Activation::Tanh, 2.0, f32::NEG_INFINITY, 0.0, sub),
            (Activation::Erf, 1.5, f32::NEG_INFINITY, 0.0, sub),
            (Activation::Gelu, 18.0, -3.0, 4.4e-8, sub),
            (Activation::Gelu, 64.0, -5.65, 4.4e-8, sub),
            (Activation::GeluTanh, 16.0, -3.0, 1e-7, 1e-30),
        ];
        // The f64 references are most of the work (under an emulator, nearly all of it): each
        // case's once for every table, the cases split over two threads.
        let check = |&(act, bound, from, tail, sub): &(Activation, f64, f32, f64, f64)| {
            let wants: Vec<f64> = xs.iter().map(|&x| reference(act, f64::from(x))).collect();
            all()
                .filter_map(|k| {
                    let w = worst(k, act, &xs, &wants, from, tail, sub);
                    (w > bound)
                        .then(|| std::format!("{} {act:?} from {from}: {w} ulp > {bound}", k.name))
                })
                .collect::<Vec<_>>()
        };
        let over: Vec<_> = std::thread::scope(|t| {
            let half = t.spawn(|| {
                cases
                    .iter()
                    .skip(1)
                    .step_by(2)
                    .flat_map(check)
                    .collect::<Vec<_>>()
            });
            let mut over: Vec<_> = cases.iter().step_by(2).flat_map(check).collect();
            over.extend(half.join().expect("sweep thread"));
            over
        });
        assert!(over.is_empty(), "{over:#?}");
    }

    #[test]
    fn limits() {
        for k in all() {
            let xs = [f32::NEG_INFINITY, f32::INFINITY, -100.0, -0.0, 0.0, 1e-45];
            let run = |act| {
                let mut y = [0.0; 6];
                (k.activation_to)(act, &xs, &mut y);
                y
            };
            let sig = run(Activation::Sigmoid);
            assert_eq!(&sig[..2], &[0.0, 1.0], "{}", k.name);
            // Below -87.33 the sigmoid is 0, never subnormal.
            assert_eq!(sig[2], 0.0, "{}", k.name);
            assert_eq!(sig[3], 0.5);
            let t = run(Activation::Tanh);
            assert_eq!(&t[..3], &[-1.0, 1.0, -1.0], "{}", k.name);
            assert!(t[3] == 0.0 && t[3].is_sign_negative(), "{}", k.name);
            assert_eq!(t[5], 1e-45, "{}", k.name);
            let s = run(Activation::Silu);
            assert!(s[0] == 0.0 && s[1] == f32::INFINITY, "{}", k.name);
            let g = run(Activation::Gelu);
            assert!(g[0] == 0.0 && g[1] == f32::INFINITY, "{}", k.name);
            let g = run(Activation::GeluTanh);
            assert!(g[0] == 0.0 && g[1] == f32::INFINITY, "{}", k.name);
            assert_eq!(
                run(Activation::Exp)[..2],
                [0.0, f32::INFINITY],
                "{}",
                k.name
            );
            assert_eq!(run(Activation::Erf)[..2], [-1.0, 1.0], "{}", k.name);
        }
    }

    /// Scalar `apply`, the in-place kernel and every table agree closely, on every activation
    /// and every length (the partial last vector).
    #[test]
    fn tables_agree_with_apply() {
        let acts = [
            Activation::None,
            Activation::Relu,
            Activation::Clip {
                min: -0.5,
                max: 0.25,
            },
            Activation::HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
            Activation::HardSwish,
            Activation::Sigmoid,
            Activation::Silu,
            Activation::Tanh,
            Activation::Gelu,
            Activation::GeluTanh,
            Activation::Erf,
            Activation::Exp,
        ];
        let mut rng = crate::testutil::Rng::new(7);
        for len in [0, 1, 7, 8, 15, 16, 17, 33, 100] {
            let xs: Vec<f32> = (0..len).map(|_| rng.uniform() * 12.0).collect();
            for act in acts {
                let want: Vec<f32> = xs.iter().map(|&x| act.apply(x)).collect();
                let mut inplace = xs.clone();
                apply_in_place(act, &mut inplace);
                assert_eq!(inplace, want, "{act:?}");
                for k in all() {
                    let mut y = std::vec![f32::NAN; len];
                    (k.activation_to)(act, &xs, &mut y);
                    crate::testutil::assert_close(&y, &want);
                    let mut d = xs.clone();
                    (k.activation_in_place)(act, &mut d);
                    assert_eq!(d, y, "{} {act:?}: in place differs", k.name);
                }
            }
        }
    }
}
