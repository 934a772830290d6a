//! Reductions: ReduceMean over arbitrary axes.

use super::sum;

/// Mean over `axes` of a row-major tensor of shape `shape`. The output has the
/// shape with those axes set to 1 (keepdims), in the same element order.
/// Empty `axes` copies the input (the compiler resolves ONNX's "all axes"
/// default). A reduction over zero elements gives NaN (0 / 0).
///
/// Sizes: `axes` is sorted, unique and `< shape.len()`; `input` has
/// `shape.iter().product()` elements and `output` the product of the output shape.
pub fn reduce_mean(input: &[f32], shape: &[usize], axes: &[usize], output: &mut [f32]) {
    let rank = shape.len();
    debug_assert!(
        axes.windows(2).all(|w| w[0] < w[1]) && axes.iter().all(|&a| a < rank),
        "reduce_mean: axes must be sorted, unique and in range"
    );
    debug_assert_eq!(
        input.len(),
        shape.iter().product::<usize>(),
        "reduce_mean: input size"
    );
    let reduced: usize = axes.iter().map(|&a| shape[a]).product();
    debug_assert_eq!(
        output.len() * reduced,
        input.len(),
        "reduce_mean: output size"
    );

    output.fill(0.0);
    if input.is_empty() {
        output.fill(f32::NAN);
        return;
    }
    // Trailing axes that are all reduced or all kept form one contiguous run.
    let is_reduced = |d: usize| axes.contains(&d);
    let run_reduced = rank > 0 && is_reduced(rank - 1);
    let mut run = 1;
    let mut outer = rank;
    while outer > 0 && is_reduced(outer - 1) == run_reduced {
        run *= shape[outer - 1];
        outer -= 1;
    }

    for (row, x) in input.chunks_exact(run).enumerate() {
        // Output offset of this run: kept outer axes only.
        let mut offset = 0;
        let mut stride = if run_reduced { 1 } else { run };
        let mut rest = row;
        for d in (0..outer).rev() {
            let i = rest % shape[d];
            rest /= shape[d];
            if !is_reduced(d) {
                offset += i * stride;
                stride *= shape[d];
            }
        }
        if run_reduced {
            output[offset] += sum(x);
        } else {
            for (y, &v) in output[offset..][..run].iter_mut().zip(x) {
                *y += v;
            }
        }
    }
    let inv = 1.0 / reduced as f32;
    for y in output {
        *y *= inv;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::testutil::{assert_close, Rng};
    use std::vec;
    use std::vec::Vec;

    /// For each output element, average every input element whose kept
    /// coordinates match, found by scanning all input indices.
    fn reference(x: &[f32], shape: &[usize], axes: &[usize]) -> Vec<f32> {
        let out_shape: Vec<usize> = shape
            .iter()
            .enumerate()
            .map(|(d, &n)| if axes.contains(&d) { 1 } else { n })
            .collect();
        let out_len: usize = out_shape.iter().product();
        let mut sums = vec![0.0f64; out_len];
        let mut counts = vec![0usize; out_len];
        for (flat, &v) in x.iter().enumerate() {
            let mut coords = vec![0; shape.len()];
            let mut rest = flat;
            for (c, &n) in coords.iter_mut().zip(shape).rev() {
                *c = rest % n;
                rest /= n;
            }
            let o = coords
                .iter()
                .zip(&out_shape)
                .enumerate()
                .fold(0, |acc, (d, (&c, &n))| {
                    acc * n + if axes.contains(&d) { 0 } else { c }
                });
            sums[o] += f64::from(v);
            counts[o] += 1;
        }
        sums.iter()
            .zip(&counts)
            .map(|(&s, &c)| (s / c as f64) as f32)
            .collect()
    }

    fn check(shape: &[usize], axes: &[usize], seed: u32) {
        let mut rng = Rng::new(seed);
        let x = rng.vec(shape.iter().product());
        let want = reference(&x, shape, axes);
        let mut out = vec![f32::NAN; want.len()];
        reduce_mean(&x, shape, axes, &mut out);
        assert_close(&out, &want);
    }

    #[test]
    fn matches_reference() {
        let shape = [2, 3, 4, 5];
        let all_axes: [&[usize]; 12] = [
            &[],
            &[0],
            &[1],
            &[2],
            &[3],
            &[2, 3],
            &[1, 2, 3],
            &[0, 2],
            &[1, 3],
            &[0, 3],
            &[0, 1],
            &[0, 1, 2, 3],
        ];
        for (i, axes) in all_axes.iter().enumerate() {
            check(&shape, axes, i as u32 + 1);
        }
        check(&[7], &[0], 20);
        check(&[1, 1, 1], &[1], 21);
        check(&[2, 1, 3, 1], &[1, 3], 22);
        check(&[3, 1, 49], &[2], 23);
        check(&[4, 6], &[0], 24);
    }

    #[test]
    fn scalar_and_empty() {
        let mut out = [0.0];
        reduce_mean(&[3.5], &[], &[], &mut out);
        assert_eq!(out, [3.5]);
        let mut out = [0.0; 2];
        reduce_mean(&[], &[2, 0], &[1], &mut out);
        assert!(out.iter().all(|v| v.is_nan()));
    }
}
