//! MaxPool and AveragePool: NCHW along an output row (a vector of output columns whose windows
//! lie inside the input, stride-2 windows with even loads; the columns at the ends and other
//! strides one at a time), and NHWC over channels.
//!
//! MaxPool treats NaN as onnxruntime does: the window is scanned row by row and each step keeps
//! `m > v ? m : v` (x86's `maxps`), so a NaN replaces the running maximum and the next element
//! replaces the NaN. A window gives NaN exactly when its last element is NaN, and otherwise the
//! maximum of the elements after its last NaN.

use super::Simd;
use crate::kernels::valid_range;
use crate::params::Pool2d;

/// The window rows of output row `oy` inside the input, and how many lie inside the padded
/// input (the `count_include_pad` divisor's rows).
#[inline(always)]
fn rows(p: &Pool2d, oy: usize) -> (core::ops::Range<usize>, usize) {
    let padded = p.pad_top + p.h_in + p.pad_bottom;
    (
        valid_range(oy * p.stride_h, p.pad_top, p.dilation_h, p.kernel_h, p.h_in),
        valid_range(oy * p.stride_h, 0, p.dilation_h, p.kernel_h, padded).len(),
    )
}

/// The window columns of output column `ox` inside the input, and inside the padded input.
#[inline(always)]
fn cols(p: &Pool2d, ox: usize) -> (core::ops::Range<usize>, usize) {
    let padded = p.pad_left + p.w_in + p.pad_right;
    (
        valid_range(
            ox * p.stride_w,
            p.pad_left,
            p.dilation_w,
            p.kernel_w,
            p.w_in,
        ),
        valid_range(ox * p.stride_w, 0, p.dilation_w, p.kernel_w, padded).len(),
    )
}

/// The divisor of an average over `real` input elements of a window with `padded` positions
/// inside the padded input.
#[inline(always)]
fn divisor(p: &Pool2d, real: usize, padded: usize) -> f32 {
    (if p.count_include_pad { padded } else { real }) as f32
}

/// One plane `x` (`[h_in][w_in]`) pooled into `y` (`[h_out][w_out]`): the maximum (`max`) or
/// the average of each window, as [`crate::max_pool2d`] and [`crate::avg_pool2d`] define them.
#[inline(always)]
pub(crate) fn plane<S: Simd>(s: S, p: &Pool2d, max: bool, x: &[f32], y: &mut [f32]) {
    assert!(p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0);
    assert!(x.len() >= p.h_in * p.w_in && y.len() >= p.h_out * p.w_out);
    let l = S::LANES;
    let (sw, dw, kw, pl) = (p.stride_w, p.dilation_w, p.kernel_w, p.pad_left);
    // Columns whose whole window is inside the input; with stride > 2 none are vectorised.
    let first = pl.div_ceil(sw).min(p.w_out);
    let last = if sw > 2 || kw == 0 {
        first
    } else {
        (p.w_in + pl)
            .checked_sub((kw - 1) * dw + 1)
            .map_or(0, |m| m / sw + 1)
            .clamp(first, p.w_out)
    };
    for oy in 0..p.h_out {
        let (ys, padded_rows) = rows(p, oy);
        let yrow = &mut y[oy * p.w_out..][..p.w_out];
        for ox in (0..first).chain(last..p.w_out) {
            let (xs, padded_cols) = cols(p, ox);
            let mut m = f32::NEG_INFINITY;
            let mut acc = 0.0;
            for ky in ys.clone() {
                let row = &x[(oy * p.stride_h + ky * p.dilation_h - p.pad_top) * p.w_in..];
                for kx in xs.clone() {
                    let v = row[ox * sw + kx * dw - pl];
                    m = if m > v { m } else { v };
                    acc += v;
                }
            }
            let real = ys.len() * xs.len();
            yrow[ox] = if max {
                m
            } else if real == 0 {
                0.0
            } else {
                acc / divisor(p, real, padded_rows * padded_cols)
            };
        }
        let real = ys.len() * kw;
        let scale = s.splat(divisor(p, real, padded_rows * kw));
        let mut ox = first;
        while ox < last {
            let n = l.min(last - ox);
            let mut acc = s.splat(if max { f32::NEG_INFINITY } else { 0.0 });
            for ky in ys.clone() {
                let row = (oy * p.stride_h + ky * p.dilation_h - p.pad_top) * p.w_in;
                for kx in 0..kw {
                    let at = row + ox * sw + kx * dw - pl;
                    // SAFETY: the window columns of outputs ox..ox + n are inside the row
                    // (`first..last`), so elements at..at + sw * (n - 1) + 1 are in `x`.
                    let v = unsafe {
                        let q = x.as_ptr().add(at);
                        if sw == 1 {
                            s.load_partial(q, n)
                        } else {
                            s.load_even(q, n)
                        }
                    };
                    if max {
                        acc = s.select(s.lt(v, acc), acc, v);
                    } else {
                        acc = s.add(acc, v);
                    }
                }
            }
            let out = if max {
                acc
            } else if real == 0 {
                s.splat(0.0)
            } else {
                s.div(acc, scale)
            };
            // SAFETY: outputs ox..ox + n are in the row.
            unsafe { s.store_partial(yrow.as_mut_ptr().add(ox), out, n) };
            ox += n;
        }
    }
}

/// One batch item in NHWC: `x` `[h_in][w_in][c]` pooled into `y` `[h_out][w_out][c]`.
#[inline(always)]
pub(crate) fn nhwc<S: Simd>(s: S, p: &Pool2d, max: bool, x: &[f32], y: &mut [f32]) {
    assert!(p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0);
    let c = p.c;
    assert!(x.len() >= p.h_in * p.w_in * c && y.len() >= p.h_out * p.w_out * c);
    let l = S::LANES;
    for oy in 0..p.h_out {
        let (ys, padded_rows) = rows(p, oy);
        for ox in 0..p.w_out {
            let (xs, padded_cols) = cols(p, ox);
            let real = ys.len() * xs.len();
            let scale = s.splat(divisor(p, real, padded_rows * padded_cols));
            let yp = (oy * p.w_out + ox) * c;
            let mut c0 = 0;
            while c0 < c {
                let n = l.min(c - c0);
                let mut acc = s.splat(if max { f32::NEG_INFINITY } else { 0.0 });
                for ky in ys.clone() {
                    let iy = oy * p.stride_h + ky * p.dilation_h - p.pad_top;
                    for kx in xs.clone() {
                        let ix = ox * p.stride_w + kx * p.dilation_w - p.pad_left;
                        // SAFETY: pixel (iy, ix) is in the input, channels c0..c0 + n < c.
                        let v = unsafe {
                            let q = x.as_ptr().add((iy * p.w_in + ix) * c + c0);
                            if n == l {
                                s.load(q)
                            } else {
                                s.load_partial(q, n)
                            }
                        };
                        if max {
                            acc = s.select(s.lt(v, acc), acc, v);
                        } else {
                            acc = s.add(acc, v);
                        }
                    }
                }
                let out = if max {
                    acc
                } else if real == 0 {
                    s.splat(0.0)
                } else {
                    s.div(acc, scale)
                };
                // SAFETY: output channels c0..c0 + n of the pixel.
                unsafe {
                    let q = y.as_mut_ptr().add(yp + c0);
                    if n == l {
                        s.store(q, out)
                    } else {
                        s.store_partial(q, out, n)
                    }
                }
                c0 += n;
            }
        }
    }
}
