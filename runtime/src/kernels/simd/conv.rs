//! Depthwise and direct (dense or grouped, any kernel size) convolutions,
//! vectorised along the output width. Vectors whose window reaches into the
//! left or right padding use masked loads.

use super::activation::{act_cheap, activation_in_place};
use super::{bias_at, Simd};
use crate::kernels::valid_range;
use crate::params::{Activation, Conv2d};
use crate::threads::SplitWrite;
use core::ops::Range;

/// Output columns `lo..hi` whose every tap lies inside the input row
/// (`lo <= hi <= w_out`); the others are border columns.
fn interior(p: &Conv2d) -> (usize, usize) {
    let s = p.stride_w;
    let lo = p.pad_left.div_ceil(s).min(p.w_out);
    let span = (p.kernel_w - 1) * p.dilation_w + 1;
    let hi = if p.w_in + p.pad_left >= span {
        ((p.w_in + p.pad_left - span) / s + 1).min(p.w_out)
    } else {
        0
    };
    (lo, hi.max(lo))
}

fn check_sizes(
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output_len: usize,
) {
    assert!(p.group > 0 && p.c_in.is_multiple_of(p.group) && p.c_out.is_multiple_of(p.group));
    assert!(p.stride_h > 0 && p.dilation_h > 0 && (1..=2).contains(&p.stride_w));
    assert!(p.dilation_w == 1);
    assert!(input.len() >= p.n * p.c_in * p.h_in * p.w_in);
    assert!(weight.len() >= p.c_out * (p.c_in / p.group) * p.kernel_h * p.kernel_w);
    assert!(bias.is_none_or(|b| b.len() >= p.c_out));
    assert!(output_len >= p.n * p.c_out * p.h_out * p.w_out);
    assert!(residual.is_none_or(|r| r.len() >= p.n * p.c_out * p.h_out * p.w_out));
}

/// The input values output columns `ox..ox + n` read through one tap, whose
/// first column is `start` (`ox * ST + kx - pad_left`, possibly negative),
/// from the input row `row` of `w_in` columns; zero where a column lies in the
/// padding. `fast`: every column is inside the row (interior outputs).
/// Safety: `row..row + w_in` is readable.
#[inline(always)]
unsafe fn load_tap<S: Simd, const ST: usize>(
    s: S,
    row: *const f32,
    w_in: usize,
    start: isize,
    n: usize,
    fast: bool,
) -> S::V {
    // SAFETY: in the fast case start >= 0 and the columns read end inside the
    // row; otherwise only elements lo..hi of the window, the ones inside
    // 0..w_in, are accessed.
    unsafe {
        if fast {
            load_cols::<S, ST>(s, row.add(start as usize), n)
        } else {
            let span = ((n - 1) * ST + 1) as isize;
            let lo = (-start).clamp(0, span) as usize;
            let hi = (w_in as isize - start).clamp(0, span) as usize;
            let p = row.wrapping_offset(start);
            if ST == 1 {
                s.load_range(p, lo, hi)
            } else {
                s.load_even_range(p, lo, hi)
            }
        }
    }
}

/// Loads the `n` input values output columns `ox..ox + n` read through one
/// tap, from `row` (the input row, pointing at column `ox * ST + kx - pad_left`).
/// Safety: those columns are inside the row.
#[inline(always)]
unsafe fn load_cols<S: Simd, const ST: usize>(s: S, row: *const f32, n: usize) -> S::V {
    // SAFETY: forwarded; stride 1 reads row[..n], stride 2 reads row[..2n - 1].
    unsafe {
        if ST == 1 {
            if n == S::LANES {
                s.load(row)
            } else {
                s.load_partial(row, n)
            }
        } else if n == S::LANES {
            // A constant count: the masks of the two halves fold into constants.
            s.load_even(row, S::LANES)
        } else {
            s.load_even(row, n)
        }
    }
}

/// Depthwise (`group == c_in == c_out`) with a square 3x3 or 5x5 kernel and horizontal
/// stride 1 or 2, or a 1xK or Kx1 kernel (K = 3, 5, 7; GhostNetV2's DFC attention) and
/// horizontal stride 1, no dilation, plus `residual` (the output's shape, square kernels only)
/// before the activation. Returns false (doing nothing) for other shapes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise<S: Simd>(
    s: S,
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
    act: Activation,
) -> bool {
    if p.dilation_h != 1 || p.dilation_w != 1 {
        return false;
    }
    // The residual is a separate instantiation, so the plain epilogue is unchanged.
    let r = residual;
    let (x, w, y) = (input, weight, output);
    match (p.kernel_h, p.kernel_w, p.stride_w, r.is_some()) {
        (3, 3, 1, false) => depthwise_k::<S, 3, 3, 1, false>(s, p, x, w, bias, r, y, act),
        (3, 3, 2, false) => depthwise_k::<S, 3, 3, 2, false>(s, p, x, w, bias, r, y, act),
        (5, 5, 1, false) => depthwise_k::<S, 5, 5, 1, false>(s, p, x, w, bias, r, y, act),
        (5, 5, 2, false) => depthwise_k::<S, 5, 5, 2, false>(s, p, x, w, bias, r, y, act),
        (3, 3, 1, true) => depthwise_k::<S, 3, 3, 1, true>(s, p, x, w, bias, r, y, act),
        (3, 3, 2, true) => depthwise_k::<S, 3, 3, 2, true>(s, p, x, w, bias, r, y, act),
        (5, 5, 1, true) => depthwise_k::<S, 5, 5, 1, true>(s, p, x, w, bias, r, y, act),
        (5, 5, 2, true) => depthwise_k::<S, 5, 5, 2, true>(s, p, x, w, bias, r, y, act),
        (1, 3, 1, false) => depthwise_k::<S, 1, 3, 1, false>(s, p, x, w, bias, r, y, act),
        (3, 1, 1, false) => depthwise_k::<S, 3, 1, 1, false>(s, p, x, w, bias, r, y, act),
        (1, 5, 1, false) => depthwise_k::<S, 1, 5, 1, false>(s, p, x, w, bias, r, y, act),
        (5, 1, 1, false) => depthwise_k::<S, 5, 1, 1, false>(s, p, x, w, bias, r, y, act),
        (1, 7, 1, false) => depthwise_k::<S, 1, 7, 1, false>(s, p, x, w, bias, r, y, act),
        (7, 1, 1, false) => depthwise_k::<S, 7, 1, 1, false>(s, p, x, w, bias, r, y, act),
        _ => return false,
    }
    true
}

/// `depthwise` for one `KH x KW` kernel and stride; `RES`: `residual` is given.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn depthwise_k<S: Simd, const KH: usize, const KW: usize, const ST: usize, const RES: bool>(
    s: S,
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
    act: Activation,
) {
    check_sizes(p, input, weight, bias, residual, output.len());
    assert!(RES == residual.is_some());
    let residual = residual.unwrap_or(&[]);
    assert!(p.group == p.c_in && p.group == p.c_out && p.kernel_h == KH && p.kernel_w == KW);
    let (lo, hi) = interior(p);
    let in_plane = p.h_in * p.w_in;
    let out_plane = p.h_out * p.w_out;
    for b in 0..p.n {
        for c in 0..p.c_out {
            let x = &input[(b * p.c_in + c) * in_plane..][..in_plane];
            let y = &mut output[(b * p.c_out + c) * out_plane..][..out_plane];
            let res = if RES {
                &residual[(b * p.c_out + c) * out_plane..][..out_plane]
            } else {
                &[]
            };
            let k = &weight[c * KH * KW..][..KH * KW];
            let bv = bias_at(bias, c);
            let mut wv = [[s.splat(0.0); KW]; KH];
            for (ky, row) in wv.iter_mut().enumerate() {
                for (kx, v) in row.iter_mut().enumerate() {
                    *v = s.splat(k[ky * KW + kx]);
                }
            }
            // Rows whose every tap is inside the input go four at a time.
            let (row_lo, row_hi) = if p.stride_h == ST {
                interior_rows(p)
            } else {
                (0, 0)
            };
            // One column of vectors at a time: its edge masks are computed once.
            let mut ox = 0;
            while ox < p.w_out {
                let n = S::LANES.min(p.w_out - ox);
                let start = (ox * ST) as isize - p.pad_left as isize;
                // A loop, not `array::from_fn`: a closure does not inherit the caller's
                // `#[target_feature]`, and its mask intrinsics became calls (a fifth of
                // the time of 14x14 planes with AVX2).
                let mut masks = [s.window_mask(0, 0); KW];
                for (kx, m) in masks.iter_mut().enumerate() {
                    let first = start + kx as isize;
                    let span = ((n - 1) * ST + 1) as isize;
                    let lo = (-first).clamp(0, span) as usize;
                    let hi = (p.w_in as isize - first).clamp(0, span) as usize;
                    *m = s.window_mask(lo, hi);
                }
                let col = Column {
                    ox,
                    n,
                    start,
                    fast: ox >= lo && ox + n <= hi,
                    masks,
                };
                let mut oy = 0;
                while oy < p.h_out {
                    if oy >= row_lo && oy + DW_ROWS <= row_hi {
                        dw_rows::<S, KH, KW, ST, DW_ROWS, RES>(
                            s, p, x, &wv, bv, res, y, oy, &col, act,
                        );
                        oy += DW_ROWS;
                    } else {
                        dw_rows::<S, KH, KW, ST, 1, RES>(s, p, x, &wv, bv, res, y, oy, &col, act);
                        oy += 1;
                    }
                }
                ox += n;
            }
            if !act.is_cheap() {
                // `dw_rows` applied only the cheap activations: the others over the plane.
                activation_in_place(s, act, y);
            }
        }
    }
}

/// One vector of output columns `ox..ox + n` of a depthwise plane (`K` taps per row).
struct Column<M, const K: usize> {
    ox: usize,
    n: usize,
    /// Input column of tap 0 for output column `ox` (negative in the padding).
    start: isize,
    /// Every tap's columns are inside the input row: plain loads.
    fast: bool,
    /// Otherwise, per tap, the window elements inside the input row.
    masks: [[M; 2]; K],
}

/// Output rows computed together by the depthwise kernel.
const DW_ROWS: usize = 4;

/// Output rows `lo..hi` whose every tap lies inside the input (`lo <= hi`).
fn interior_rows(p: &Conv2d) -> (usize, usize) {
    let s = p.stride_h;
    let lo = p.pad_top.div_ceil(s).min(p.h_out);
    let span = (p.kernel_h - 1) * p.dilation_h + 1;
    let hi = if p.h_in + p.pad_top >= span {
        ((p.h_in + p.pad_top - span) / s + 1).min(p.h_out)
    } else {
        0
    };
    (lo, hi.max(lo))
}

/// Depthwise output rows `oy..oy + R` of one plane, columns `col`. With
/// `R > 1` all taps of those rows must be inside the input and
/// `stride_h == ST`: each input row is then loaded once and feeds every
/// output row it reaches. With `RES`, `res` (the plane's residual, laid out
/// like `y`) is added before the activation: it starts the sums, with the bias.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn dw_rows<
    S: Simd,
    const KH: usize,
    const KW: usize,
    const ST: usize,
    const R: usize,
    const RES: bool,
>(
    s: S,
    p: &Conv2d,
    x: &[f32],
    wv: &[[S::V; KW]; KH],
    bias: f32,
    res: &[f32],
    y: &mut [f32],
    oy: usize,
    col: &Column<S::Mask, KW>,
    act: Activation,
) {
    // Input rows oy * stride - pad_top + j for j in rows (R == 1: the valid taps).
    let rows = if R == 1 {
        valid_range(oy * p.stride_h, p.pad_top, 1, KH, p.h_in)
    } else {
        0..(R - 1) * ST + KH
    };
    assert!(R == 1 || (oy * ST + (R - 1) * ST + KH <= p.h_in + p.pad_top && oy * ST >= p.pad_top));
    assert!(x.len() >= p.h_in * p.w_in && y.len() >= (oy + R) * p.w_out);
    assert!(!RES || res.len() >= (oy + R) * p.w_out);
    assert!(col.ox + col.n <= p.w_out && col.n <= S::LANES);
    let mut acc = [s.splat(bias); R];
    if RES {
        // The residual goes in with the bias, off the dependency chain of the few FMAs
        // per vector (added last, it lengthened that chain: 8% slower on 7x7 planes).
        for (r, acc) in acc.iter_mut().enumerate() {
            // SAFETY: ox + n <= w_out and row oy + r < h_out (asserted `res` size).
            unsafe {
                let rp = res.as_ptr().add((oy + r) * p.w_out + col.ox);
                let rv = if col.n == S::LANES {
                    s.load(rp)
                } else {
                    s.load_partial(rp, col.n)
                };
                *acc = s.add(*acc, rv);
            }
        }
    }
    // SAFETY (both arms): iy < h_in for every row j (valid taps, or interior rows as
    // asserted), so the row is inside `x`.
    if R == 1 {
        for j in rows {
            let iy = oy * p.stride_h + j - p.pad_top;
            unsafe {
                dw_row_taps::<S, KH, KW, ST, R>(
                    s,
                    x.as_ptr().add(iy * p.w_in),
                    wv,
                    col,
                    &mut acc,
                    j,
                )
            };
        }
    } else {
        // Unrolled: the tap of each (input row, output row) pair is then a constant, so the
        // weights stay in registers or become memory operands. As a counted loop (AVX2,
        // 16 registers) it kept per-row tests and reloads, and stride 2 ran at 6 GFLOP/s.
        const { assert!((R - 1) * ST + KH <= 17) };
        unroll!(17, (R - 1) * ST + KH, j => {
            let iy = oy * p.stride_h + j - p.pad_top;
            unsafe { dw_row_taps::<S, KH, KW, ST, R>(s, x.as_ptr().add(iy * p.w_in), wv, col, &mut acc, j) };
        });
    }
    for (r, &acc) in acc.iter().enumerate() {
        let v = act_cheap(s, act, acc);
        // SAFETY: ox + n <= w_out and row oy + r < h_out (asserted `y` size).
        unsafe {
            let yp = y.as_mut_ptr().add((oy + r) * p.w_out + col.ox);
            if col.n == S::LANES {
                s.store(yp, v);
            } else {
                s.store_partial(yp, v, col.n);
            }
        }
    }
}

/// Input row `j` of `dw_rows` (starting at `row`) through its `KW` taps into the sums of
/// the output rows that read it. Safety: `row..row + w_in` is readable. Fast columns read
/// only inside the row (interior); otherwise the masks select exactly the elements inside it.
#[inline(always)]
unsafe fn dw_row_taps<
    S: Simd,
    const KH: usize,
    const KW: usize,
    const ST: usize,
    const R: usize,
>(
    s: S,
    row: *const f32,
    wv: &[[S::V; KW]; KH],
    col: &Column<S::Mask, KW>,
    acc: &mut [S::V; R],
    j: usize,
) {
    const { assert!(KW <= 8 && R <= 8) };
    unroll!(8, KW, kx => {
        let first = row.wrapping_offset(col.start + kx as isize);
        // SAFETY: the caller's guarantee.
        let v = unsafe {
            if col.fast {
                load_cols::<S, ST>(s, first, col.n)
            } else if ST == 1 {
                s.load_masked(first, col.masks[kx][0])
            } else {
                s.load_even_masked(first, col.masks[kx])
            }
        };
        unroll!(8, R, r => {
            // Output row oy + r reads input row j through tap ky.
            if R == 1 {
                acc[r] = s.mul_add(wv[j][kx], v, acc[r]);
            } else if j >= r * ST && j - r * ST < KH {
                acc[r] = s.mul_add(wv[j - r * ST][kx], v, acc[r]);
            }
        });
    });
}

/// The direct convolution: any group count and kernel size, horizontal stride 1 or 2, no
/// horizontal dilation; eight output channels at a time share each loaded input vector, and
/// `residual` (the output's shape) is added before the activation. One image (`p.n == 1`),
/// the output rows `y.write() / w_out` of every output plane: all of them, or one part's of a
/// split by rows ([`Par::for_each_columns`](crate::threads::Par::for_each_columns) over the
/// `c_out` planes, in whole rows); a row is computed the same way in either case.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn direct_rows<S: Simd>(
    s: S,
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    y: &mut SplitWrite<'_>,
    act: Activation,
) {
    let (out_plane, w) = (p.h_out * p.w_out, y.write());
    check_sizes(p, input, weight, bias, residual, out_plane * p.c_out);
    assert!(p.n == 1 && p.w_out > 0 && y.stride() == out_plane && y.pixels() == (0..p.c_out));
    assert!(w.start.is_multiple_of(p.w_out) && w.end.is_multiple_of(p.w_out) && w.end <= out_plane);
    let rows = w.start / p.w_out..w.end / p.w_out;
    // SAFETY: the writer may write rows `rows` of every plane (asserted), all `direct_raw`
    // writes.
    unsafe {
        direct_raw(
            s,
            p,
            (input, weight, bias, residual),
            y.as_mut_ptr(),
            rows,
            act,
        )
    }
}

/// A convolution's input, weights, bias and residual.
type Operands<'a> = (&'a [f32], &'a [f32], Option<&'a [f32]>, Option<&'a [f32]>);

/// Output rows `rows` of every plane, `output` the start of `[n, c_out, h_out, w_out]`.
/// Safety: sizes as `check_sizes` checks them; those rows of `output` are writable and
/// nobody else's while this runs, and nothing else of it is touched.
#[inline(always)]
unsafe fn direct_raw<S: Simd>(
    s: S,
    p: &Conv2d,
    (input, weight, bias, residual): Operands<'_>,
    output: *mut f32,
    rows: Range<usize>,
    act: Activation,
) {
    let cig = p.c_in / p.group;
    let cog = p.c_out / p.group;
    let in_plane = p.h_in * p.w_in;
    let out_plane = p.h_out * p.w_out;
    for b in 0..p.n {
        // SAFETY: image b's output lies inside `output` (the caller's sizes).
        let y = unsafe { output.add(b * p.c_out * out_plane) };
        let residual = residual.map(|r| &r[b * p.c_out * out_plane..][..p.c_out * out_plane]);
        for g in 0..p.group {
            let x = &input[(b * p.c_in + g * cig) * in_plane..][..cig * in_plane];
            let a = DirectArgs {
                p,
                x,
                weight,
                bias,
                residual,
                act,
                rows: rows.clone(),
            };
            let (co, end) = (g * cog, (g + 1) * cog);
            // SAFETY: channels co..end < c_out of image b, rows `rows`: the caller's.
            unsafe {
                if p.stride_w == 1 {
                    direct_channels::<S, 1>(s, &a, co, end, y);
                } else {
                    direct_channels::<S, 2>(s, &a, co, end, y);
                }
            }
        }
    }
}

/// Output channels `co..end` of one image `y`, 8 at a time. Safety: as for [`direct_block`].
#[inline(always)]
unsafe fn direct_channels<S: Simd, const ST: usize>(
    s: S,
    a: &DirectArgs,
    mut co: usize,
    end: usize,
    y: *mut f32,
) {
    // SAFETY: the caller's, for every block.
    unsafe {
        while co + 8 <= end {
            direct_block::<S, 8, ST>(s, a, co, y);
            co += 8;
        }
        match end - co {
            0 => {}
            1 => direct_block::<S, 1, ST>(s, a, co, y),
            2 => direct_block::<S, 2, ST>(s, a, co, y),
            3 => direct_block::<S, 3, ST>(s, a, co, y),
            4 => direct_block::<S, 4, ST>(s, a, co, y),
            5 => direct_block::<S, 5, ST>(s, a, co, y),
            6 => direct_block::<S, 6, ST>(s, a, co, y),
            _ => direct_block::<S, 7, ST>(s, a, co, y),
        }
    }
}

struct DirectArgs<'a> {
    p: &'a Conv2d,
    /// The group's input planes.
    x: &'a [f32],
    weight: &'a [f32],
    bias: Option<&'a [f32]>,
    /// The image's residual, laid out like its output.
    residual: Option<&'a [f32]>,
    act: Activation,
    /// The output rows to compute.
    rows: Range<usize>,
}

/// Output channels `co..co + MR` (one group) of one image `y`.
///
/// Each output row goes in tiles of `MR` channels x `NV` vectors of columns (`NV` up to 3
/// with 32 registers, in the row's interior where no tap leaves the input): a step loads `NV`
/// tap vectors and broadcasts `MR` weights, so the broadcasts (a load each) are shared by `NV`
/// vectors; with one vector they outnumbered the multiply-adds' share of the load ports
/// (RGB stems ran at 30-40 GFLOP/s).
/// Safety: `y` is the image's output; rows `a.rows` of planes `co..co + MR` are writable.
#[inline(always)]
unsafe fn direct_block<S: Simd, const MR: usize, const ST: usize>(
    s: S,
    a: &DirectArgs,
    co: usize,
    y: *mut f32,
) {
    let p = a.p;
    let cig = p.c_in / p.group;
    let taps = p.kernel_h * p.kernel_w;
    let out_plane = p.h_out * p.w_out;
    let (lo, hi) = interior(p);
    let kstride = cig * taps;
    assert!(a.x.len() >= cig * p.h_in * p.w_in && a.weight.len() >= (co + MR) * kstride);
    assert!(co + MR <= p.c_out && a.rows.end <= p.h_out);
    assert!(a.residual.is_none_or(|r| r.len() >= (co + MR) * out_plane));
    let l = S::LANES;
    let wide = S::REGISTERS >= 32;
    for oy in a.rows.clone() {
        let mut ox = 0;
        while ox < p.w_out {
            let inside = |nv: usize| ox >= lo && ox + nv * l <= hi;
            // SAFETY: `direct_tile`'s conditions: full interior vectors for NV > 1, the
            // columns ox..ox + n inside the row otherwise; sizes asserted above, row `oy`
            // of planes co..co + MR the caller's.
            unsafe {
                if wide && inside(3) {
                    direct_tile::<S, MR, 3, ST>(s, a, co, y, oy, ox, l, true);
                    ox += 3 * l;
                } else if wide && inside(2) {
                    direct_tile::<S, MR, 2, ST>(s, a, co, y, oy, ox, l, true);
                    ox += 2 * l;
                } else {
                    let n = l.min(p.w_out - ox);
                    let fast = ox >= lo && ox + n <= hi;
                    direct_tile::<S, MR, 1, ST>(s, a, co, y, oy, ox, n, fast);
                    ox += n;
                }
            }
        }
        if !a.act.is_cheap() {
            // The row's other activations now, while its MR rows are in L1 (a pass over the
            // whole output afterwards read it back from L2).
            for r in 0..MR {
                // SAFETY: row oy of plane co + r: inside the image and the caller's.
                let row = unsafe {
                    core::slice::from_raw_parts_mut(
                        y.add((co + r) * out_plane + oy * p.w_out),
                        p.w_out,
                    )
                };
                activation_in_place(s, a.act, row);
            }
        }
    }
}

/// Output channels `co..co + MR`, row `oy`, columns `ox..ox + (NV - 1) * LANES + n` of `y`:
/// the whole reduction in registers, then bias, residual and the cheap activation, one store.
/// Safety: `direct_block`'s asserted sizes hold; with `NV > 1`, `n == LANES` and every vector
/// is `fast` (its taps inside the row); `fast` says so for one vector.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn direct_tile<S: Simd, const MR: usize, const NV: usize, const ST: usize>(
    s: S,
    a: &DirectArgs,
    co: usize,
    y: *mut f32,
    oy: usize,
    ox: usize,
    n: usize,
    fast: bool,
) {
    let p = a.p;
    let cig = p.c_in / p.group;
    let taps = p.kernel_h * p.kernel_w;
    let in_plane = p.h_in * p.w_in;
    let out_plane = p.h_out * p.w_out;
    let kstride = cig * taps;
    let l = S::LANES;
    let kys = valid_range(oy * p.stride_h, p.pad_top, p.dilation_h, p.kernel_h, p.h_in);
    let start = |j: usize| ((ox + j * l) * ST) as isize - p.pad_left as isize;
    // Loops, not `array::from_fn` closures: a closure does not inherit the caller's
    // `#[target_feature]`, so the vector operations inside it could become calls.
    let mut acc = [[s.splat(0.0); MR]; NV];
    for r in 0..MR {
        let b = s.splat(bias_at(a.bias, co + r));
        for acc in &mut acc {
            acc[r] = b;
        }
    }
    // SAFETY: channels co..co+MR have kstride weights each; iy < h_in (kys), so each row is
    // inside the plane, and `load_tap` reads only columns inside the row (the caller's
    // conditions on fast).
    unsafe {
        for ci in 0..cig {
            let xp = a.x.as_ptr().add(ci * in_plane);
            let wp = a.weight.as_ptr().add(co * kstride + ci * taps);
            for ky in kys.clone() {
                let iy = oy * p.stride_h + ky * p.dilation_h - p.pad_top;
                let row = xp.add(iy * p.w_in);
                let wk = wp.add(ky * p.kernel_w);
                for kx in 0..p.kernel_w {
                    let mut v = [s.splat(0.0); NV];
                    for (j, v) in v.iter_mut().enumerate() {
                        *v = load_tap::<S, ST>(s, row, p.w_in, start(j) + kx as isize, n, fast);
                    }
                    for r in 0..MR {
                        let w = s.splat(*wk.add(r * kstride + kx));
                        for (a, &v) in acc.iter_mut().zip(&v) {
                            a[r] = s.mul_add(w, v, a[r]);
                        }
                    }
                }
            }
        }
        for (j, acc) in acc.iter().enumerate() {
            for (r, &acc) in acc.iter().enumerate() {
                let off = (co + r) * out_plane + oy * p.w_out + ox + j * l;
                // Checked once per vector, after the whole reduction.
                let acc = match a.residual {
                    Some(res) => {
                        let rp = res.as_ptr().add(off);
                        let rv = if n == l {
                            s.load(rp)
                        } else {
                            s.load_partial(rp, n)
                        };
                        s.add(acc, rv)
                    }
                    None => acc,
                };
                let v = act_cheap(s, a.act, acc);
                let yp = y.add(off);
                if n == l {
                    s.store(yp, v);
                } else {
                    s.store_partial(yp, v, n);
                }
            }
        }
    }
}
