//! Depthwise and direct (dense or grouped, any kernel size) convolutions,
//! vectorised along the output width. Output columns whose window reaches
//! into the left or right padding are computed with scalar code.

use super::vector::Simd;
use super::{act_vec, bias_at};
use crate::activation::Activation;
use crate::kernels::conv::Conv2d;
use crate::kernels::valid_range;

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

/// `bias + sum` over the taps inside the input of output position `(oy, ox)`,
/// for `cig` input planes `x` and their kernels `w` (`[cig, kernel_h, kernel_w]`).
fn point(p: &Conv2d, x: &[f32], w: &[f32], cig: usize, bias: f32, oy: usize, ox: usize) -> f32 {
    let plane = p.h_in * p.w_in;
    let taps = p.kernel_h * p.kernel_w;
    let ys = valid_range(oy * p.stride_h, p.pad_top, p.dilation_h, p.kernel_h, p.h_in);
    let xs = valid_range(
        ox * p.stride_w,
        p.pad_left,
        p.dilation_w,
        p.kernel_w,
        p.w_in,
    );
    let mut acc = bias;
    for ci in 0..cig {
        for ky in ys.clone() {
            let iy = oy * p.stride_h + ky * p.dilation_h - p.pad_top;
            let row = &x[ci * plane + iy * p.w_in..][..p.w_in];
            let k = &w[ci * taps + ky * p.kernel_w..][..p.kernel_w];
            for kx in xs.clone() {
                acc += k[kx] * row[ox * p.stride_w + kx * p.dilation_w - p.pad_left];
            }
        }
    }
    acc
}

fn check_sizes(p: &Conv2d, input: &[f32], weight: &[f32], bias: Option<&[f32]>, output: &[f32]) {
    assert!(p.group > 0 && p.c_in % p.group == 0 && p.c_out % p.group == 0);
    assert!(p.stride_h > 0 && p.dilation_h > 0 && (1..=2).contains(&p.stride_w));
    assert!(p.dilation_w == 1);
    assert!(input.len() >= p.n * p.c_in * p.h_in * p.w_in);
    assert!(weight.len() >= p.c_out * (p.c_in / p.group) * p.kernel_h * p.kernel_w);
    assert!(bias.map_or(true, |b| b.len() >= p.c_out));
    assert!(output.len() >= p.n * p.c_out * p.h_out * p.w_out);
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
        } else {
            s.load_even(row, n)
        }
    }
}

/// Depthwise (`group == c_in == c_out`) with a square 3x3 or 5x5 kernel,
/// horizontal stride 1 or 2 and no dilation. Returns false (doing nothing)
/// for other shapes. `act` must not be `Sigmoid`.
#[inline(always)]
pub(crate) fn depthwise<S: Simd>(
    s: S,
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
    act: Activation,
) -> bool {
    if p.dilation_h != 1 || p.dilation_w != 1 || p.kernel_h != p.kernel_w {
        return false;
    }
    match (p.kernel_w, p.stride_w) {
        (3, 1) => depthwise_k::<S, 3, 1>(s, p, input, weight, bias, output, act),
        (3, 2) => depthwise_k::<S, 3, 2>(s, p, input, weight, bias, output, act),
        (5, 1) => depthwise_k::<S, 5, 1>(s, p, input, weight, bias, output, act),
        (5, 2) => depthwise_k::<S, 5, 2>(s, p, input, weight, bias, output, act),
        _ => return false,
    }
    true
}

#[inline(always)]
fn depthwise_k<S: Simd, const K: usize, const ST: usize>(
    s: S,
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
    act: Activation,
) {
    check_sizes(p, input, weight, bias, output);
    assert!(p.group == p.c_in && p.group == p.c_out && p.kernel_h == K && p.kernel_w == K);
    let (lo, hi) = interior(p);
    let in_plane = p.h_in * p.w_in;
    let out_plane = p.h_out * p.w_out;
    for b in 0..p.n {
        for c in 0..p.c_out {
            let x = &input[(b * p.c_in + c) * in_plane..][..in_plane];
            let y = &mut output[(b * p.c_out + c) * out_plane..][..out_plane];
            let k = &weight[c * K * K..][..K * K];
            let bv = bias_at(bias, c);
            let mut wv = [[s.splat(0.0); K]; K];
            for (ky, row) in wv.iter_mut().enumerate() {
                for (kx, v) in row.iter_mut().enumerate() {
                    *v = s.splat(k[ky * K + kx]);
                }
            }
            for oy in 0..p.h_out {
                let kys = valid_range(oy * p.stride_h, p.pad_top, 1, K, p.h_in);
                let yrow = &mut y[oy * p.w_out..][..p.w_out];
                for ox in (0..lo).chain(hi..p.w_out) {
                    yrow[ox] = act.apply(point(p, x, k, 1, bv, oy, ox));
                }
                let mut ox = lo;
                while ox < hi {
                    let n = S::LANES.min(hi - ox);
                    let mut acc = s.splat(bv);
                    for ky in kys.clone() {
                        let iy = oy * p.stride_h + ky - p.pad_top;
                        // SAFETY: iy < h_in (kys), and for ox..ox+n in the
                        // interior every tap's column lies in 0..w_in.
                        unsafe {
                            let row = x.as_ptr().add(iy * p.w_in + ox * ST - p.pad_left);
                            for (kx, &w) in wv[ky].iter().enumerate() {
                                acc = s.mul_add(w, load_cols::<S, ST>(s, row.add(kx), n), acc);
                            }
                        }
                    }
                    let v = act_vec(s, act, acc);
                    // SAFETY: ox + n <= hi <= w_out, the row length.
                    unsafe {
                        let yp = yrow.as_mut_ptr().add(ox);
                        if n == S::LANES {
                            s.store(yp, v);
                        } else {
                            s.store_partial(yp, v, n);
                        }
                    }
                    ox += n;
                }
            }
        }
    }
}

/// Any group count and kernel size, horizontal stride 1 or 2, no horizontal
/// dilation: eight output channels at a time share each loaded input vector.
/// `act` must not be `Sigmoid`.
#[inline(always)]
pub(crate) fn direct<S: Simd>(
    s: S,
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
    act: Activation,
) {
    check_sizes(p, input, weight, bias, output);
    if p.stride_w == 1 {
        direct_st::<S, 1>(s, p, input, weight, bias, output, act);
    } else {
        direct_st::<S, 2>(s, p, input, weight, bias, output, act);
    }
}

#[inline(always)]
fn direct_st<S: Simd, const ST: usize>(
    s: S,
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
    act: Activation,
) {
    let cig = p.c_in / p.group;
    let cog = p.c_out / p.group;
    let in_plane = p.h_in * p.w_in;
    let out_plane = p.h_out * p.w_out;
    for b in 0..p.n {
        let y = &mut output[b * p.c_out * out_plane..][..p.c_out * out_plane];
        for g in 0..p.group {
            let x = &input[(b * p.c_in + g * cig) * in_plane..][..cig * in_plane];
            let a = DirectArgs {
                p,
                x,
                weight,
                bias,
                act,
            };
            let mut co = g * cog;
            let end = co + cog;
            while co + 8 <= end {
                direct_block::<S, 8, ST>(s, &a, co, y);
                co += 8;
            }
            match end - co {
                0 => {}
                1 => direct_block::<S, 1, ST>(s, &a, co, y),
                2 => direct_block::<S, 2, ST>(s, &a, co, y),
                3 => direct_block::<S, 3, ST>(s, &a, co, y),
                4 => direct_block::<S, 4, ST>(s, &a, co, y),
                5 => direct_block::<S, 5, ST>(s, &a, co, y),
                6 => direct_block::<S, 6, ST>(s, &a, co, y),
                _ => direct_block::<S, 7, ST>(s, &a, co, y),
            }
        }
    }
}

struct DirectArgs<'a> {
    p: &'a Conv2d,
    /// The group's input planes.
    x: &'a [f32],
    weight: &'a [f32],
    bias: Option<&'a [f32]>,
    act: Activation,
}

/// Output channels `co..co + MR` (one group) of one image `y`.
#[inline(always)]
fn direct_block<S: Simd, const MR: usize, const ST: usize>(
    s: S,
    a: &DirectArgs,
    co: usize,
    y: &mut [f32],
) {
    let p = a.p;
    let cig = p.c_in / p.group;
    let taps = p.kernel_h * p.kernel_w;
    let in_plane = p.h_in * p.w_in;
    let out_plane = p.h_out * p.w_out;
    let (lo, hi) = interior(p);
    let kstride = cig * taps;
    assert!(a.x.len() >= cig * in_plane && a.weight.len() >= (co + MR) * kstride);
    assert!(y.len() >= (co + MR) * out_plane);
    let bias: [f32; MR] = core::array::from_fn(|r| bias_at(a.bias, co + r));
    for oy in 0..p.h_out {
        let kys = valid_range(oy * p.stride_h, p.pad_top, p.dilation_h, p.kernel_h, p.h_in);
        for (r, &bv) in bias.iter().enumerate() {
            let w = &a.weight[(co + r) * kstride..][..kstride];
            let yrow = &mut y[(co + r) * out_plane + oy * p.w_out..][..p.w_out];
            for ox in (0..lo).chain(hi..p.w_out) {
                yrow[ox] = a.act.apply(point(p, a.x, w, cig, bv, oy, ox));
            }
        }
        let mut ox = lo;
        while ox < hi {
            let n = S::LANES.min(hi - ox);
            let mut acc: [S::V; MR] = core::array::from_fn(|r| s.splat(bias[r]));
            // SAFETY: channels co..co+MR have kstride weights each (asserted);
            // iy < h_in (kys) and the interior columns keep every tap in the row.
            unsafe {
                for ci in 0..cig {
                    let xp = a.x.as_ptr().add(ci * in_plane);
                    let wp = a.weight.as_ptr().add(co * kstride + ci * taps);
                    for ky in kys.clone() {
                        let iy = oy * p.stride_h + ky * p.dilation_h - p.pad_top;
                        let row = xp.add(iy * p.w_in + ox * ST - p.pad_left);
                        let wk = wp.add(ky * p.kernel_w);
                        for kx in 0..p.kernel_w {
                            let v = load_cols::<S, ST>(s, row.add(kx), n);
                            for (r, acc) in acc.iter_mut().enumerate() {
                                *acc = s.mul_add(s.splat(*wk.add(r * kstride + kx)), v, *acc);
                            }
                        }
                    }
                }
            }
            for (r, &acc) in acc.iter().enumerate() {
                let v = act_vec(s, a.act, acc);
                // SAFETY: ox + n <= w_out within the plane of channel co + r.
                unsafe {
                    let yp = y.as_mut_ptr().add((co + r) * out_plane + oy * p.w_out + ox);
                    if n == S::LANES {
                        s.store(yp, v);
                    } else {
                        s.store_partial(yp, v, n);
                    }
                }
            }
            ox += n;
        }
    }
}
