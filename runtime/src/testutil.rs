//! Test-only helpers: a deterministic PRNG and a float comparison.

extern crate std;

use std::vec;
use std::vec::Vec;

/// xorshift32: tiny, deterministic, good enough for test data.
pub struct Rng(u32);

impl Rng {
    pub fn new(seed: u32) -> Self {
        // xorshift state must be nonzero.
        Rng(seed | 1)
    }

    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }

    pub fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.uniform()).collect()
    }
}

/// Asserts `|a - e| <= 1e-5 * max(1, |e|)` element-wise (NaN matches NaN,
/// infinities must be equal). The floor of 1 keeps the check meaningful for
/// results near zero produced by cancellation.
#[track_caller]
pub fn assert_close(actual: &[f32], expected: &[f32]) {
    assert_eq!(actual.len(), expected.len(), "length mismatch");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let ok = if e.is_nan() {
            a.is_nan()
        } else if e.is_infinite() {
            a == e
        } else {
            (a - e).abs() <= 1e-5 * e.abs().max(1.0)
        };
        assert!(ok, "mismatch at {i}: got {a}, expected {e}");
    }
}

/// A `Conv2d` with the output size derived from explicit pads `(top, left, bottom, right)` by the
/// ONNX formula.
#[allow(clippy::too_many_arguments)]
pub fn conv_params(
    n: usize,
    c_in: usize,
    (h_in, w_in): (usize, usize),
    c_out: usize,
    (kernel_h, kernel_w): (usize, usize),
    (stride_h, stride_w): (usize, usize),
    (pt, pl, pb, pr): (usize, usize, usize, usize),
    (dilation_h, dilation_w): (usize, usize),
    group: usize,
    activation: crate::Activation,
) -> crate::Conv2d {
    let h_out = (h_in + pt + pb - dilation_h * (kernel_h - 1) - 1) / stride_h + 1;
    let w_out = (w_in + pl + pr - dilation_w * (kernel_w - 1) - 1) / stride_w + 1;
    crate::Conv2d {
        n,
        c_in,
        h_in,
        w_in,
        c_out,
        h_out,
        w_out,
        kernel_h,
        kernel_w,
        stride_h,
        stride_w,
        pad_top: pt,
        pad_left: pl,
        dilation_h,
        dilation_w,
        group,
        activation,
    }
}

/// `[n, c, hw]` (NCHW) to `[n, hw, c]` (NHWC).
pub fn to_nhwc(x: &[f32], n: usize, c: usize, hw: usize) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    for b in 0..n {
        for ch in 0..c {
            for q in 0..hw {
                y[(b * hw + q) * c + ch] = x[(b * c + ch) * hw + q];
            }
        }
    }
    y
}

/// `[n, hw, c]` (NHWC) to `[n, c, hw]` (NCHW).
pub fn to_nchw(x: &[f32], n: usize, c: usize, hw: usize) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    for b in 0..n {
        for ch in 0..c {
            for q in 0..hw {
                y[(b * c + ch) * hw + q] = x[(b * hw + q) * c + ch];
            }
        }
    }
    y
}
