//! Softmax over one axis.

use crate::activation::expf;

/// Columns processed together when the softmax axis is not the innermost one;
/// sized so the per-column max and sum live on the stack.
const COLUMNS: usize = 64;

/// Softmax over the middle axis of `[outer, axis_len, inner]`:
/// `y = exp(x - max) / sum(exp(x - max))`, the max taken along the axis for
/// numerical stability. A NaN anywhere along the axis makes that whole slice NaN.
///
/// Sizes: `input` and `output` have `outer * axis_len * inner` elements.
pub fn softmax(outer: usize, axis_len: usize, inner: usize, input: &[f32], output: &mut [f32]) {
    let block = axis_len * inner;
    debug_assert_eq!(input.len(), outer * block, "softmax: input size");
    debug_assert_eq!(output.len(), outer * block, "softmax: output size");
    if block == 0 {
        return;
    }
    for o in 0..outer {
        let x = &input[o * block..][..block];
        let y = &mut output[o * block..][..block];
        if inner == 1 {
            softmax_contiguous(x, y);
        } else {
            let mut j0 = 0;
            while j0 < inner {
                let w = COLUMNS.min(inner - j0);
                softmax_columns(x, y, inner, j0, w);
                j0 += w;
            }
        }
    }
}

/// Softmax of one contiguous run.
fn softmax_contiguous(x: &[f32], y: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0;
    for (y, &x) in y.iter_mut().zip(x) {
        let e = expf(x - max);
        *y = e;
        sum += e;
    }
    let inv = 1.0 / sum;
    for y in y {
        *y *= inv;
    }
}

/// Softmax down columns `j0..j0 + w` (`w <= COLUMNS`) of an `[axis_len, inner]`
/// block, walking it row by row so memory is read contiguously.
fn softmax_columns(x: &[f32], y: &mut [f32], inner: usize, j0: usize, w: usize) {
    let mut max = [f32::NEG_INFINITY; COLUMNS];
    let mut sum = [0.0f32; COLUMNS];
    let (max, sum) = (&mut max[..w], &mut sum[..w]);
    for x_row in x.chunks_exact(inner) {
        for (m, &v) in max.iter_mut().zip(&x_row[j0..j0 + w]) {
            *m = m.max(v);
        }
    }
    for (x_row, y_row) in x.chunks_exact(inner).zip(y.chunks_exact_mut(inner)) {
        let cols = y_row[j0..j0 + w].iter_mut().zip(&x_row[j0..j0 + w]);
        for (((y, &x), &m), s) in cols.zip(max.iter()).zip(sum.iter_mut()) {
            let e = expf(x - m);
            *y = e;
            *s += e;
        }
    }
    for s in sum.iter_mut() {
        *s = 1.0 / *s;
    }
    for y_row in y.chunks_exact_mut(inner) {
        for (y, &inv) in y_row[j0..j0 + w].iter_mut().zip(sum.iter()) {
            *y *= inv;
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::testutil::{assert_close, Rng};
    use std::vec;
    use std::vec::Vec;

    /// Direct formula in f64 without max subtraction (inputs are small).
    fn reference(outer: usize, axis_len: usize, inner: usize, x: &[f32]) -> Vec<f32> {
        let at = |o: usize, a: usize, i: usize| f64::from(x[(o * axis_len + a) * inner + i]);
        let mut out = vec![0.0; x.len()];
        for o in 0..outer {
            for i in 0..inner {
                let total: f64 = (0..axis_len).map(|a| at(o, a, i).exp()).sum();
                for a in 0..axis_len {
                    out[(o * axis_len + a) * inner + i] = (at(o, a, i).exp() / total) as f32;
                }
            }
        }
        out
    }

    #[test]
    fn matches_reference() {
        let mut rng = Rng::new(1);
        for (outer, axis_len, inner) in [
            (1, 10, 1),
            (3, 1000, 1),
            (2, 5, 3),
            (2, 7, 64),
            (1, 3, 150),
            (4, 1, 5),
            (1, 1, 1),
        ] {
            let x: Vec<f32> = rng
                .vec(outer * axis_len * inner)
                .iter()
                .map(|v| v * 8.0)
                .collect();
            let mut out = vec![f32::NAN; x.len()];
            softmax(outer, axis_len, inner, &x, &mut out);
            assert_close(&out, &reference(outer, axis_len, inner, &x));
        }
    }

    #[test]
    fn stable_for_large_inputs() {
        let x = [1000.0, 1001.0, 999.0, -1000.0];
        let mut out = [0.0; 4];
        softmax(1, 4, 1, &x, &mut out);
        let want = reference(1, 4, 1, &[1.0, 2.0, 0.0, -2000.0]);
        assert_close(&out, &want);
        // Same along a non-innermost axis.
        let mut out = [0.0; 4];
        softmax(1, 2, 2, &[1000.0, -5.0, 1001.0, -3.0], &mut out);
        assert_close(&out, &reference(1, 2, 2, &[0.0, -5.0, 1.0, -3.0]));
    }

    #[test]
    fn empty_axis_is_a_no_op() {
        softmax(3, 0, 4, &[], &mut []);
        softmax(0, 5, 1, &[], &mut []);
    }
}
