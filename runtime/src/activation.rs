//! The scalar activation functions (`Activation::apply`), plus the `exp` that `no_std` lacks.

use crate::params::Activation;
use core::f64::consts::{LN_2, LOG2_E};

impl Activation {
    /// Applies the activation to one value.
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::None => x,
            Activation::Relu => relu(x),
            Activation::Clip { min, max } => clip(x, min, max),
            Activation::HardSigmoid { alpha, beta } => clip(alpha * x + beta, 0.0, 1.0),
            Activation::HardSwish => hard_swish(x),
            Activation::Sigmoid => sigmoid(x),
        }
    }
}

#[inline(always)]
fn relu(x: f32) -> f32 {
    // Not `x.max(0.0)`: that turns NaN into 0.
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

/// `min(max(x, lo), hi)` that lets NaN through.
#[inline(always)]
fn clip(x: f32, lo: f32, hi: f32) -> f32 {
    let y = if x < lo { lo } else { x };
    if y > hi {
        hi
    } else {
        y
    }
}

#[inline(always)]
fn hard_swish(x: f32) -> f32 {
    x * clip(x / 6.0 + 0.5, 0.0, 1.0)
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + expf(-x))
}

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

/// Applies `act` to every element in place; one `match` outside the loop.
pub(crate) fn apply_in_place(act: Activation, data: &mut [f32]) {
    #[inline(always)]
    fn each(data: &mut [f32], f: impl Fn(f32) -> f32) {
        for x in data {
            *x = f(*x);
        }
    }
    match act {
        Activation::None => {}
        Activation::Relu => each(data, relu),
        Activation::Clip { min, max } => each(data, |x| clip(x, min, max)),
        Activation::HardSigmoid { alpha, beta } => each(data, |x| clip(alpha * x + beta, 0.0, 1.0)),
        Activation::HardSwish => each(data, hard_swish),
        Activation::Sigmoid => each(data, sigmoid),
    }
}

/// `output[i] = act(input[i])`; one `match` outside the loop.
pub(crate) fn apply_to(act: Activation, input: &[f32], output: &mut [f32]) {
    #[inline(always)]
    fn each(input: &[f32], output: &mut [f32], f: impl Fn(f32) -> f32) {
        for (y, &x) in output.iter_mut().zip(input) {
            *y = f(x);
        }
    }
    match act {
        Activation::None => output.copy_from_slice(input),
        Activation::Relu => each(input, output, relu),
        Activation::Clip { min, max } => each(input, output, |x| clip(x, min, max)),
        Activation::HardSigmoid { alpha, beta } => {
            each(input, output, |x| clip(alpha * x + beta, 0.0, 1.0))
        }
        Activation::HardSwish => each(input, output, hard_swish),
        Activation::Sigmoid => each(input, output, sigmoid),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::testutil::{assert_close, Rng};
    use std::vec::Vec;

    const ALL: [Activation; 7] = [
        Activation::None,
        Activation::Relu,
        Activation::Clip {
            min: -0.5,
            max: 0.25,
        },
        Activation::Clip { min: 0.0, max: 6.0 },
        Activation::HardSigmoid {
            alpha: 0.2,
            beta: 0.5,
        },
        Activation::HardSwish,
        Activation::Sigmoid,
    ];

    /// Textbook definitions in f64, for finite inputs.
    fn reference(act: Activation, x: f32) -> f32 {
        let x = f64::from(x);
        let y = match act {
            Activation::None => x,
            Activation::Relu => x.max(0.0),
            Activation::Clip { min, max } => x.max(f64::from(min)).min(f64::from(max)),
            Activation::HardSigmoid { alpha, beta } => {
                (f64::from(alpha) * x + f64::from(beta)).clamp(0.0, 1.0)
            }
            Activation::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        };
        y as f32
    }

    #[test]
    fn apply_matches_reference() {
        let mut rng = Rng::new(1);
        let xs: Vec<f32> = (0..2000).map(|_| rng.uniform() * 12.0).collect();
        for act in ALL {
            let got: Vec<f32> = xs.iter().map(|&x| act.apply(x)).collect();
            let want: Vec<f32> = xs.iter().map(|&x| reference(act, x)).collect();
            assert_close(&got, &want);
        }
    }

    #[test]
    fn slice_helpers_match_apply() {
        let mut rng = Rng::new(2);
        let xs = rng.vec(37);
        for act in ALL {
            let want: Vec<f32> = xs.iter().map(|&x| act.apply(x)).collect();
            let mut out = std::vec![f32::NAN; xs.len()];
            apply_to(act, &xs, &mut out);
            assert_eq!(out, want);
            let mut data = xs.clone();
            apply_in_place(act, &mut data);
            assert_eq!(data, want);
        }
    }

    #[test]
    fn nan_propagates() {
        for act in ALL {
            assert!(act.apply(f32::NAN).is_nan(), "{act:?}");
        }
    }

    #[test]
    fn edge_values() {
        assert_eq!(Activation::Relu.apply(-3.0), 0.0);
        assert_eq!(Activation::Relu.apply(f32::INFINITY), f32::INFINITY);
        // min > max: onnxruntime's min(max(x, min), max) yields max.
        let inverted = Activation::Clip { min: 2.0, max: 1.0 };
        assert_eq!(inverted.apply(0.0), 1.0);
        assert_eq!(inverted.apply(5.0), 1.0);
        assert_eq!(Activation::HardSwish.apply(-3.0), 0.0);
        assert_eq!(Activation::HardSwish.apply(3.0), 3.0);
        assert_eq!(Activation::HardSwish.apply(10.0), 10.0);
        assert_eq!(Activation::Sigmoid.apply(f32::INFINITY), 1.0);
        assert_eq!(Activation::Sigmoid.apply(f32::NEG_INFINITY), 0.0);
        assert_eq!(Activation::Sigmoid.apply(0.0), 0.5);
        assert!(Activation::Sigmoid.apply(-100.0) >= 0.0);
    }

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
