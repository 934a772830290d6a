//! The scalar `exp` that `no_std` lacks, evaluated in `f64` (softmax). The activations,
//! `Activation::apply` included, are in `kernels::simd::activation`.

use core::f64::consts::{LN_2, LOG2_E};

/// `e^x` for `f32`, within 1 ulp of the exact result (almost always correctly
/// rounded): the reduced argument and polynomial are evaluated in `f64`.
/// NaN gives NaN, overflow gives +inf, underflow gives 0 (through subnormals).
pub(crate) fn expf(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    // Outside this range the f32 result is already inf or 0; clamping keeps
    // the exponent below in range.
    let x = f64::from(x.clamp(-104.0, 89.0));
    // x = n * ln2 + r with |r| <= ln2 / 2.
    let t = x * LOG2_E;
    let n = if t >= 0.0 { t + 0.5 } else { t - 0.5 } as i32;
    let r = x - f64::from(n) * LN_2;
    // Taylor series to r^10: truncation error < 3e-13 relative on |r| <= 0.35.
    let mut p = 1.0 / 3_628_800.0;
    for c in [
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    // 2^n is a normal f64 for n in [-151, 129].
    let scale = f64::from_bits(((n + 1023) as u64) << 52);
    // The single rounding to f32 also handles overflow and subnormals.
    (p * scale) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn expf_matches_std() {
        // Dense sweep across the whole interesting range, past both overflow
        // and underflow to zero.
        let steps = 400_000;
        for i in 0..=steps {
            let x = -110.0 + 210.0 * (i as f32 / steps as f32);
            check_exp(x);
        }
        let mut rng = Rng::new(3);
        for _ in 0..100_000 {
            check_exp(rng.uniform() * 2.0);
        }
        for x in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            88.72283,
            88.72284,
            88.7229,
            -87.33654,
            -103.97208,
            -103.9721,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            1e-30,
            -1e-30,
        ] {
            check_exp(x);
        }
        assert_eq!(expf(f32::INFINITY), f32::INFINITY);
        assert_eq!(expf(f32::NEG_INFINITY), 0.0);
        assert!(expf(f32::NAN).is_nan());
    }

    fn check_exp(x: f32) {
        let got = expf(x);
        let want = x.exp();
        if want.is_infinite() || want == 0.0 {
            // At the overflow/underflow boundary allow the neighbouring value.
            let ok = got == want || (got - want).abs() <= f32::MIN_POSITIVE || got >= f32::MAX;
            assert!(ok, "exp({x}): got {got}, want {want}");
        } else if want < f32::MIN_POSITIVE {
            // Subnormal: absolute error of one subnormal step.
            assert!(
                (got - want).abs() <= 1.5e-45,
                "exp({x}): got {got}, want {want}"
            );
        } else {
            let rel = ((got - want) / want).abs();
            assert!(rel <= 2e-7, "exp({x}): got {got}, want {want}, rel {rel}");
        }
    }
}
