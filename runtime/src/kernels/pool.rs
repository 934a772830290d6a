//! Pooling: MaxPool, AveragePool and GlobalAveragePool.

use super::sum;
use crate::dispatch::{kernels, Kernels};
use crate::params::Pool2d;

impl Pool2d {
    fn check_sizes(&self, input: &[f32], output: &[f32]) {
        debug_assert!(
            self.stride_h > 0 && self.stride_w > 0 && self.dilation_h > 0 && self.dilation_w > 0
        );
        debug_assert_eq!(
            input.len(),
            self.n * self.c * self.h_in * self.w_in,
            "pool: input size"
        );
        debug_assert_eq!(
            output.len(),
            self.n * self.c * self.h_out * self.w_out,
            "pool: output size"
        );
    }
}

/// MaxPool: each output is the maximum of the real input elements in its
/// window; padding never wins. NaN as onnxruntime treats it: the window is scanned
/// row by row keeping `m > v ? m : v`, so it gives NaN when its last element is NaN
/// and otherwise the maximum of the elements after its last NaN. A window with no
/// real element (impossible in valid ONNX) gives `-inf`.
///
/// Sizes: `input` is `[n, c, h_in, w_in]`, `output` is `[n, c, h_out, w_out]`.
pub fn max_pool2d(p: &Pool2d, input: &[f32], output: &mut [f32]) {
    pool_with(kernels(), p, true, false, input, output);
}

/// AveragePool with onnxruntime semantics: the sum of the real elements in the
/// window divided by
/// - `count_include_pad == false`: the number of real elements;
/// - `count_include_pad == true`: the number of window positions inside the
///   padded input `[-pad_top, h_in + pad_bottom) x [-pad_left, w_in + pad_right)`
///   (the full window except where ceil mode runs it past the end padding).
///
/// A window with no real element gives 0.
///
/// Sizes: `input` is `[n, c, h_in, w_in]`, `output` is `[n, c, h_out, w_out]`.
pub fn avg_pool2d(p: &Pool2d, input: &[f32], output: &mut [f32]) {
    pool_with(kernels(), p, false, false, input, output);
}

/// [`max_pool2d`] on NHWC tensors: `input` `[n, h_in, w_in, c]`, `output` `[n, h_out, w_out, c]`.
pub fn max_pool2d_nhwc(p: &Pool2d, input: &[f32], output: &mut [f32]) {
    pool_with(kernels(), p, true, true, input, output);
}

/// [`avg_pool2d`] on NHWC tensors: `input` `[n, h_in, w_in, c]`, `output` `[n, h_out, w_out, c]`.
pub fn avg_pool2d_nhwc(p: &Pool2d, input: &[f32], output: &mut [f32]) {
    pool_with(kernels(), p, false, true, input, output);
}

/// The vector kernels of `k`: per plane (NCHW) or per batch item (NHWC).
fn pool_with(k: &Kernels, p: &Pool2d, max: bool, nhwc: bool, input: &[f32], output: &mut [f32]) {
    p.check_sizes(input, output);
    let (in_plane, out_plane) = (p.h_in * p.w_in, p.h_out * p.w_out);
    if in_plane == 0 || out_plane == 0 || p.c == 0 {
        output.fill(if max { f32::NEG_INFINITY } else { 0.0 });
        return;
    }
    if nhwc {
        let (xi, yi) = (in_plane * p.c, out_plane * p.c);
        for (x, y) in input.chunks_exact(xi).zip(output.chunks_exact_mut(yi)) {
            (k.pool_nhwc)(p, max, x, y);
        }
    } else {
        for (x, y) in input
            .chunks_exact(in_plane)
            .zip(output.chunks_exact_mut(out_plane))
        {
            (k.pool_plane)(p, max, x, y);
        }
    }
}

/// GlobalAveragePool: `output[i]` is the mean of `input[i * spatial..][..spatial]`.
/// `channels` is `n * c`. `spatial == 0` gives NaN (0 / 0).
///
/// Sizes: `input` is `[channels * spatial]`, `output` is `[channels]`.
pub fn global_avg_pool(channels: usize, spatial: usize, input: &[f32], output: &mut [f32]) {
    debug_assert_eq!(
        input.len(),
        channels * spatial,
        "global_avg_pool: input size"
    );
    debug_assert_eq!(output.len(), channels, "global_avg_pool: output size");
    let inv = 1.0 / spatial as f32;
    for (c, y) in output.iter_mut().enumerate().take(channels) {
        *y = sum(&input[c * spatial..][..spatial]) * inv;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::testutil::{assert_close, to_nhwc, Rng};
    use std::vec;
    use std::vec::Vec;

    /// Pads are `(top, left, bottom, right)`; output size by the ONNX formula.
    #[allow(clippy::too_many_arguments)]
    fn make(
        n: usize,
        c: usize,
        (h_in, w_in): (usize, usize),
        (kernel_h, kernel_w): (usize, usize),
        (stride_h, stride_w): (usize, usize),
        (pt, pl, pb, pr): (usize, usize, usize, usize),
        (dilation_h, dilation_w): (usize, usize),
        ceil_mode: bool,
    ) -> Pool2d {
        let out = |len: usize, pads: usize, k: usize, s: usize, d: usize| {
            let span = len + pads - d * (k - 1) - 1;
            if ceil_mode {
                span.div_ceil(s) + 1
            } else {
                span / s + 1
            }
        };
        Pool2d {
            n,
            c,
            h_in,
            w_in,
            h_out: out(h_in, pt + pb, kernel_h, stride_h, dilation_h),
            w_out: out(w_in, pl + pr, kernel_w, stride_w, dilation_w),
            kernel_h,
            kernel_w,
            stride_h,
            stride_w,
            pad_top: pt,
            pad_left: pl,
            pad_bottom: pb,
            pad_right: pr,
            dilation_h,
            dilation_w,
            count_include_pad: false,
        }
    }

    /// Visits every window position; padded positions get `None`, positions
    /// beyond the padded extent are skipped.
    fn window(p: &Pool2d, x: &[f32], plane: usize, oy: usize, ox: usize) -> Vec<Option<f32>> {
        let mut v = Vec::new();
        for ky in 0..p.kernel_h {
            for kx in 0..p.kernel_w {
                let iy = (oy * p.stride_h + ky * p.dilation_h) as isize - p.pad_top as isize;
                let ix = (ox * p.stride_w + kx * p.dilation_w) as isize - p.pad_left as isize;
                if iy >= (p.h_in + p.pad_bottom) as isize || ix >= (p.w_in + p.pad_right) as isize {
                    continue;
                }
                if iy < 0 || ix < 0 || iy >= p.h_in as isize || ix >= p.w_in as isize {
                    v.push(None);
                } else {
                    v.push(Some(
                        x[(plane * p.h_in + iy as usize) * p.w_in + ix as usize],
                    ));
                }
            }
        }
        v
    }

    fn reference(p: &Pool2d, x: &[f32], max: bool) -> Vec<f32> {
        let mut out = Vec::new();
        for plane in 0..p.n * p.c {
            for oy in 0..p.h_out {
                for ox in 0..p.w_out {
                    let win = window(p, x, plane, oy, ox);
                    let real: Vec<f64> = win.iter().flatten().map(|&v| f64::from(v)).collect();
                    let y = if max {
                        // onnxruntime's scan: `m > v ? m : v`, row by row.
                        real.iter()
                            .fold(f64::NEG_INFINITY, |m, &v| if m > v { m } else { v })
                    } else if real.is_empty() {
                        0.0
                    } else {
                        let n = if p.count_include_pad {
                            win.len()
                        } else {
                            real.len()
                        };
                        real.iter().sum::<f64>() / n as f64
                    };
                    out.push(y as f32);
                }
            }
        }
        out
    }

    /// Every table, NCHW and NHWC, max and average (both divisors) against the reference.
    fn check_data(p: Pool2d, x: &[f32]) {
        let len = p.n * p.c * p.h_out * p.w_out;
        let (hwi, hwo) = (p.h_in * p.w_in, p.h_out * p.w_out);
        let x_nhwc = to_nhwc(x, p.n, p.c, hwi);
        for k in crate::dispatch::all() {
            for (max, count_include_pad) in [(true, false), (false, false), (false, true)] {
                let p = Pool2d {
                    count_include_pad,
                    ..p
                };
                let want = reference(&p, x, max);
                let mut out = vec![f32::NAN; len];
                pool_with(k, &p, max, false, x, &mut out);
                assert_close(&out, &want);
                pool_with(k, &p, max, true, &x_nhwc, &mut out);
                assert_close(&out, &to_nhwc(&want, p.n, p.c, hwo));
            }
        }
    }

    fn check(p: Pool2d, seed: u32) {
        let mut rng = Rng::new(seed);
        check_data(p, &rng.vec(p.n * p.c * p.h_in * p.w_in));
    }

    #[test]
    fn pools_match_reference() {
        check(
            make(2, 3, (7, 7), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), false),
            1,
        );
        check(
            make(1, 2, (6, 5), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), false),
            2,
        );
        check(
            make(1, 1, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), false),
            3,
        );
        check(
            make(1, 1, (1, 1), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), false),
            4,
        );
        check(
            make(2, 2, (5, 8), (1, 3), (1, 2), (0, 1, 0, 1), (1, 1), false),
            5,
        );
        check(
            make(1, 3, (8, 5), (3, 1), (2, 1), (1, 0, 2, 0), (1, 1), false),
            6,
        );
        check(
            make(1, 2, (9, 9), (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), false),
            7,
        );
        check(
            make(1, 2, (4, 5), (3, 3), (1, 1), (0, 2, 2, 0), (1, 1), false),
            8,
        );
        // Window larger than the input.
        check(
            make(1, 1, (2, 3), (4, 4), (1, 1), (2, 1, 1, 2), (1, 1), false),
            9,
        );
    }

    #[test]
    fn ceil_mode() {
        // Last windows run past the bottom/right padding.
        check(
            make(1, 2, (5, 6), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), true),
            20,
        );
        check(
            make(2, 1, (7, 8), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), true),
            21,
        );
        check(
            make(1, 1, (6, 7), (3, 2), (2, 3), (1, 0, 0, 1), (2, 1), true),
            22,
        );
    }

    #[test]
    fn max_treats_nan_as_onnxruntime() {
        let p = make(1, 1, (1, 3), (1, 2), (1, 1), (0, 0, 0, 0), (1, 1), false);
        for k in crate::dispatch::all() {
            let mut out = [0.0; 2];
            // onnxruntime: [1, NaN] gives NaN, [NaN, 2] gives 2 (NaN only when last).
            pool_with(k, &p, true, false, &[1.0, f32::NAN, 2.0], &mut out);
            assert!(out[0].is_nan() && out[1] == 2.0, "{}: {out:?}", k.name);
            // Infinities are not NaN.
            pool_with(
                k,
                &p,
                true,
                false,
                &[f32::INFINITY, 1.0, f32::NEG_INFINITY],
                &mut out,
            );
            assert_eq!(out, [f32::INFINITY, 1.0], "{}", k.name);
        }
        // NaN here and there in wide rows (vector lanes), stride 1 and 2, both layouts.
        for stride in [1, 2] {
            let p = make(
                2,
                3,
                (9, 37),
                (3, 3),
                (stride, stride),
                (1, 1, 1, 1),
                (1, 1),
                false,
            );
            let mut rng = Rng::new(40 + stride as u32);
            let mut x = rng.vec(p.n * p.c * p.h_in * p.w_in);
            for i in (0..x.len()).step_by(53) {
                x[i] = f32::NAN;
            }
            x[7] = f32::INFINITY;
            x[100] = f32::NEG_INFINITY;
            check_data(p, &x);
        }
    }

    #[test]
    fn wide_rows_and_channels() {
        // Rows and channel counts past a vector, not multiples of it, stride 1, 2 and 3.
        check(
            make(2, 17, (13, 41), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), false),
            50,
        );
        check(
            make(1, 33, (11, 40), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), false),
            51,
        );
        check(
            make(1, 3, (12, 40), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), true),
            52,
        );
        check(
            make(1, 5, (10, 50), (3, 3), (3, 3), (1, 1, 1, 1), (1, 1), false),
            53,
        );
        check(
            make(1, 2, (9, 45), (2, 3), (1, 2), (0, 1, 1, 2), (1, 2), true),
            54,
        );
    }

    #[test]
    fn include_pad_divides_by_window() {
        let mut p = make(1, 1, (2, 2), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), false);
        p.count_include_pad = true;
        let mut out = [0.0; 4];
        avg_pool2d(&p, &[9.0; 4], &mut out);
        assert_eq!(out, [4.0; 4]);
    }

    #[test]
    fn global_avg() {
        let mut rng = Rng::new(30);
        for (channels, spatial) in [(1, 1), (3, 49), (5, 17), (2, 8)] {
            let x = rng.vec(channels * spatial);
            let mut out = vec![f32::NAN; channels];
            global_avg_pool(channels, spatial, &x, &mut out);
            let want: Vec<f32> = (0..channels)
                .map(|c| {
                    let s: f64 = x[c * spatial..(c + 1) * spatial]
                        .iter()
                        .map(|&v| f64::from(v))
                        .sum();
                    (s / spatial as f64) as f32
                })
                .collect();
            assert_close(&out, &want);
        }
    }
}
