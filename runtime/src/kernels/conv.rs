//! 2-D convolution (ONNX Conv) in NCHW with fused bias, residual and activation, split over
//! threads by output channels.

use super::{axpy, valid_range};
use crate::dispatch::{kernels, Kernels};
use crate::kernels::gemm::dot_rows_blocked;
use crate::kernels::simd::activation::apply_in_place;
use crate::params::Conv2d;
use crate::threads::{Par, SplitWrite, MIN_PARALLEL_WORK, PARTS_PER_THREAD};

/// Output channels are computed on this many spatial positions at a time in
/// the pointwise path, so the input tile stays in cache across channels.
const POINTWISE_TILE: usize = 256;

/// Output channels the vector conv kernels compute per pass over the input (their register
/// blocking with AVX-512); one-group convs are split between threads at multiples of it.
const CHANNEL_BLOCK: usize = 8;

/// `output = act(conv(input, weight) + bias + residual)`, the activation (`p.activation`) last.
///
/// Sizes: `input` is `[n, c_in, h_in, w_in]`, `weight` is
/// `[c_out, c_in / group, kernel_h, kernel_w]` (OIHW), `bias` is `[c_out]`,
/// `output` and `residual` are `[n, c_out, h_out, w_out]`. Input positions in the padding read
/// as zero. Every output element is written.
///
/// Picks a path internally: pointwise (1x1, stride 1, no padding) as a GEMM
/// per group, depthwise (`group == c_in == c_out`), or general. The vector kernels add the
/// residual while the sums are still in registers, which saves a second pass over memory.
///
/// Work is split over output channels (whole groups, or blocks of 8 channels when there is one
/// group) and batch items on `par`; the result does not depend on the split.
pub fn conv2d(
    par: Par<'_>,
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    let k = kernels();
    let threads = par.threads();
    let hw = p.h_out * p.w_out;
    let c_out_g = p.c_out / p.group.max(1);
    // Too little work to be worth waking the pool: run inline.
    let work = p.n * p.c_out * hw * (p.c_in / p.group.max(1)) * p.kernel_h * p.kernel_w;
    if threads <= 1 || work < MIN_PARALLEL_WORK || p.group == 0 {
        return conv2d_with(k, p, input, weight, bias, residual, output);
    }
    let want = threads * PARTS_PER_THREAD;
    if p.group == 1 && p.n * p.c_out.div_ceil(CHANNEL_BLOCK) < want && hw > 1 {
        // Too few channel blocks to share out (RGB stems, narrow early Ghost modules): every
        // part computes a band of every output plane instead, columns of a pointwise conv,
        // whole rows of another, one image after the other.
        let vector = p.is_pointwise() || (p.dilation_w == 1 && p.stride_w <= 2);
        if vector {
            return conv2d_bands(k, par, p, want, input, weight, bias, residual, output);
        }
    }
    // Units of work per batch item: blocks of `CHANNEL_BLOCK` output channels when there is
    // one group (all read the whole input; the kernels compute that many channels per pass over
    // it, so a split inside a block would make both threads re-read the input for half-empty
    // blocks), else whole groups (each reads its own input channels).
    let (units, unit_ch) = if p.group == 1 {
        (p.c_out.div_ceil(CHANNEL_BLOCK), CHANNEL_BLOCK)
    } else {
        (p.group, c_out_g)
    };
    let chunks = (threads * PARTS_PER_THREAD).div_ceil(p.n).clamp(1, units);
    let parts = p.n * chunks;
    // First output channel of chunk k (of any batch item).
    let channel = |k: usize| ((k * units / chunks) * unit_ch).min(p.c_out);
    let start = |i: usize| -> usize {
        let (b, k) = (i / chunks, i % chunks);
        (b * p.c_out + channel(k)) * hw
    };
    let bounds = |i: usize| {
        if i >= parts {
            p.n * p.c_out * hw
        } else {
            start(i)
        }
    };
    let in_per_item = p.c_in * p.h_in * p.w_in;
    let w_per_out = (p.c_in / p.group) * p.kernel_h * p.kernel_w;
    par.for_each_part(output, parts, &bounds, &|i, out| {
        let (b, kc) = (i / chunks, i % chunks);
        let (u0, u1) = (kc * units / chunks, (kc + 1) * units / chunks);
        let (o0, o1) = (channel(kc), channel(kc + 1));
        if o1 == o0 {
            return;
        }
        let x = &input[b * in_per_item..(b + 1) * in_per_item];
        let (x, c_in, group) = if p.group == 1 {
            (x, p.c_in, 1)
        } else {
            let cig = p.c_in / p.group;
            (
                &x[u0 * cig * p.h_in * p.w_in..u1 * cig * p.h_in * p.w_in],
                (u1 - u0) * cig,
                u1 - u0,
            )
        };
        let sub = Conv2d {
            n: 1,
            c_in,
            c_out: o1 - o0,
            group,
            ..*p
        };
        conv2d_with(
            k,
            &sub,
            x,
            &weight[o0 * w_per_out..o1 * w_per_out],
            bias.map(|b| &b[o0..o1]),
            residual.map(|r| &r[bounds(i)..bounds(i + 1)]),
            out,
        );
    });
}

/// [`conv2d`] (one group, a vector kernel for the shape) split into `parts` bands of every
/// output plane of each image: columns in whole vectors for a pointwise conv, whole rows for
/// the direct kernel. Every element is what the unsplit kernel gives.
#[allow(clippy::too_many_arguments)]
fn conv2d_bands(
    k: &Kernels,
    par: Par<'_>,
    p: &Conv2d,
    parts: usize,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    let (hw, w_out) = (p.h_out * p.w_out, p.w_out);
    let (in_item, out_item) = (p.c_in * p.h_in * p.w_in, p.c_out * hw);
    let pointwise = p.is_pointwise();
    // Pointwise: columns in multiples of 16 (a vector of the widest ISA); else rows.
    let (units, unit) = if pointwise {
        (hw.div_ceil(16), 16)
    } else {
        (p.h_out, w_out)
    };
    let parts = parts.min(units).max(1);
    let bound = |i: usize| (i * units / parts * unit).min(hw);
    let one = Conv2d { n: 1, ..*p };
    for (b, y) in output.chunks_exact_mut(out_item).enumerate() {
        let x = &input[b * in_item..][..in_item];
        let res = residual.map(|r| &r[b * out_item..][..out_item]);
        par.for_each_columns(y, hw, parts, &bound, &|_, mut y| {
            if pointwise {
                (k.pointwise_cols)(
                    x,
                    weight,
                    bias,
                    res,
                    &mut y,
                    (p.c_in, p.c_out, hw),
                    p.activation,
                );
            } else {
                (k.direct_rows)(&one, x, weight, bias, res, &mut y, p.activation);
            }
        });
    }
}

/// [`conv2d`] on the calling thread with the kernels of `k`, or the scalar ones where `k` has
/// none for the shape.
pub(crate) fn conv2d_with(
    k: &Kernels,
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    debug_assert!(
        p.group > 0 && p.c_in.is_multiple_of(p.group) && p.c_out.is_multiple_of(p.group),
        "conv2d: group must divide c_in and c_out"
    );
    debug_assert!(p.steps_positive());
    debug_assert_eq!(input.len(), p.input_len(), "conv2d: input size");
    debug_assert_eq!(
        weight.len(),
        p.c_out * (p.c_in / p.group) * p.kernel_h * p.kernel_w,
        "conv2d: weight size"
    );
    debug_assert!(bias.is_none_or(|b| b.len() == p.c_out), "conv2d: bias size");
    debug_assert_eq!(output.len(), p.output_len(), "conv2d: output size");
    debug_assert!(
        residual.is_none_or(|r| r.len() == output.len()),
        "conv2d: residual size"
    );
    if !conv2d_vector(k, p, input, weight, bias, residual, output) {
        conv2d_reference(p, input, weight, bias, residual, output);
    }
}

/// The vector kernels of `k`; false (output untouched) if the shape has none.
fn conv2d_vector(
    k: &Kernels,
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
) -> bool {
    let act = p.activation;
    let cig = p.c_in / p.group;
    let cog = p.c_out / p.group;
    if p.is_pointwise() && p.h_in * p.w_in == 1 {
        // Matrix-vector products (squeeze-excite, conv head), all batch items against each
        // block of weight rows, then bias, residual and activation.
        for g in 0..p.group {
            let w = &weight[g * cog * cig..][..cog * cig];
            let (x, y) = (&input[g * cig..], &mut output[g * cog..]);
            dot_rows_blocked(k, (x, p.c_in, p.n), w, (cog, cig), (y, p.c_out));
        }
        for (i, y) in output.iter_mut().enumerate() {
            let mut v = *y + bias.map_or(0.0, |b| b[i % p.c_out]);
            if let Some(r) = residual {
                v += r[i];
            }
            *y = act.apply(v);
        }
    } else if p.is_pointwise() {
        let hw = p.h_in * p.w_in;
        for b in 0..p.n {
            for g in 0..p.group {
                let x = &input[(b * p.c_in + g * cig) * hw..][..cig * hw];
                let y = &mut output[(b * p.c_out + g * cog) * hw..][..cog * hw];
                let w = &weight[g * cog * cig..][..cog * cig];
                let bias = bias.map(|b| &b[g * cog..][..cog]);
                let res = residual.map(|r| &r[(b * p.c_out + g * cog) * hw..][..cog * hw]);
                if let Some(r) = res {
                    (k.pointwise_add)(x, w, bias, r, y, (cig, cog, hw), act);
                } else {
                    (k.pointwise)(x, w, bias, y, (cig, cog, hw), act);
                }
            }
        }
    } else if p.is_depthwise()
        && match residual {
            Some(r) => (k.depthwise_add)(p, input, weight, bias, r, output, act),
            None => (k.depthwise)(p, input, weight, bias, output, act),
        }
    {
    } else if p.dilation_w == 1 && p.stride_w <= 2 {
        // One image at a time, all rows: the kernel of a band split, over the whole output.
        let (in_item, out_plane) = (p.c_in * p.h_in * p.w_in, p.h_out * p.w_out);
        let out_item = p.c_out * out_plane;
        if out_item == 0 {
            return true;
        }
        let one = Conv2d { n: 1, ..*p };
        for (b, y) in output.chunks_exact_mut(out_item).enumerate() {
            let x = &input[b * in_item..][..in_item];
            let res = residual.map(|r| &r[b * out_item..][..out_item]);
            (k.direct_rows)(
                &one,
                x,
                weight,
                bias,
                res,
                &mut SplitWrite::whole(y, out_plane),
                act,
            );
        }
    } else {
        return false;
    }
    true
}

/// The scalar kernels: the reference the vector kernels are tested against, and the path for
/// shapes they do not cover (dilated or stride > 2 columns).
pub(crate) fn conv2d_reference(
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    if p.is_pointwise() {
        conv_pointwise(p, input, weight, bias, residual, output);
    } else if p.is_depthwise() {
        conv_depthwise(p, input, weight, bias, residual, output);
    } else {
        conv_general(p, input, weight, bias, residual, output);
    }
}

/// `out[i] += residual[i]` when there is a residual (the part of it matching `out`).
#[inline]
fn add_residual(out: &mut [f32], residual: Option<&[f32]>) {
    if let Some(r) = residual {
        for (o, &r) in out.iter_mut().zip(r) {
            *o += r;
        }
    }
}

/// 1x1, stride 1, no padding: per group a GEMM `[c_out/g x c_in/g] x [c_in/g x hw]`.
fn conv_pointwise(
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    let hw = p.h_in * p.w_in;
    let cig = p.c_in / p.group;
    let cog = p.c_out / p.group;
    for b in 0..p.n {
        for g in 0..p.group {
            let x = &input[(b * p.c_in + g * cig) * hw..][..cig * hw];
            let y = &mut output[(b * p.c_out + g * cog) * hw..][..cog * hw];
            let w = &weight[g * cog * cig..][..cog * cig];
            let mut s0 = 0;
            while s0 < hw {
                let len = POINTWISE_TILE.min(hw - s0);
                for co in 0..cog {
                    let out = &mut y[co * hw + s0..][..len];
                    out.fill(bias.map_or(0.0, |bias| bias[g * cog + co]));
                    for (ci, &wv) in w[co * cig..][..cig].iter().enumerate() {
                        axpy(out, &x[ci * hw + s0..][..len], wv);
                    }
                    let at = (b * p.c_out + g * cog + co) * hw + s0;
                    add_residual(out, residual.map(|r| &r[at..][..len]));
                    apply_in_place(p.activation, out);
                }
                s0 += len;
            }
        }
    }
}

/// One input channel per output channel (group == c_in == c_out).
fn conv_depthwise(
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    let in_plane = p.h_in * p.w_in;
    let out_plane = p.h_out * p.w_out;
    let taps = p.kernel_h * p.kernel_w;
    for b in 0..p.n {
        for c in 0..p.c_out {
            let x = &input[(b * p.c_in + c) * in_plane..][..in_plane];
            let y = &mut output[(b * p.c_out + c) * out_plane..][..out_plane];
            y.fill(bias.map_or(0.0, |bias| bias[c]));
            accumulate_plane(p, y, x, &weight[c * taps..][..taps]);
            let at = (b * p.c_out + c) * out_plane;
            add_residual(y, residual.map(|r| &r[at..][..out_plane]));
            apply_in_place(p.activation, y);
        }
    }
}

/// Any group count, kernel, stride, padding and dilation.
fn conv_general(
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    let in_plane = p.h_in * p.w_in;
    let out_plane = p.h_out * p.w_out;
    let taps = p.kernel_h * p.kernel_w;
    let cig = p.c_in / p.group;
    let cog = p.c_out / p.group;
    for b in 0..p.n {
        for co in 0..p.c_out {
            let g = co / cog;
            let x = &input[(b * p.c_in + g * cig) * in_plane..][..cig * in_plane];
            let y = &mut output[(b * p.c_out + co) * out_plane..][..out_plane];
            let w = &weight[co * cig * taps..][..cig * taps];
            y.fill(bias.map_or(0.0, |bias| bias[co]));
            for ci in 0..cig {
                let plane = &x[ci * in_plane..][..in_plane];
                accumulate_plane(p, y, plane, &w[ci * taps..][..taps]);
            }
            let at = (b * p.c_out + co) * out_plane;
            add_residual(y, residual.map(|r| &r[at..][..out_plane]));
            apply_in_place(p.activation, y);
        }
    }
}

/// Adds the contribution of one input plane through one `kernel_h x kernel_w`
/// kernel to one output plane, one kernel tap at a time: each tap scales a
/// (strided) block of the input into the output rows and columns it reaches.
#[inline]
fn accumulate_plane(p: &Conv2d, out_plane: &mut [f32], in_plane: &[f32], kernel: &[f32]) {
    for ky in 0..p.kernel_h {
        let ys = valid_range(ky * p.dilation_h, p.pad_top, p.stride_h, p.h_out, p.h_in);
        if ys.is_empty() {
            continue;
        }
        for kx in 0..p.kernel_w {
            let xs = valid_range(kx * p.dilation_w, p.pad_left, p.stride_w, p.w_out, p.w_in);
            if xs.is_empty() {
                continue;
            }
            let w = kernel[ky * p.kernel_w + kx];
            let ix0 = xs.start * p.stride_w + kx * p.dilation_w - p.pad_left;
            // Input columns read by this tap: ix0, ix0 + stride, ..., for xs.len() outputs.
            let span = (xs.len() - 1) * p.stride_w + 1;
            for oy in ys.clone() {
                let iy = oy * p.stride_h + ky * p.dilation_h - p.pad_top;
                let src = &in_plane[iy * p.w_in + ix0..][..span];
                let dst = &mut out_plane[oy * p.w_out..][..p.w_out][xs.clone()];
                match p.stride_w {
                    1 => axpy(dst, src, w),
                    2 => axpy_strided::<2>(dst, src, w),
                    s => {
                        for (o, &v) in dst.iter_mut().zip(src.iter().step_by(s)) {
                            *o += w * v;
                        }
                    }
                }
            }
        }
    }
}

/// `dst[j] += a * src[j * S]` for `src` of length `(dst.len() - 1) * S + 1`.
/// Walking `src` in chunks of `S` lets the compiler vectorise the gather.
#[inline(always)]
fn axpy_strided<const S: usize>(dst: &mut [f32], src: &[f32], a: f32) {
    if let Some((last, head)) = dst.split_last_mut() {
        for (o, chunk) in head.iter_mut().zip(src.chunks_exact(S)) {
            *o += a * chunk[0];
        }
        *last += a * src[head.len() * S];
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::params::Activation;
    use crate::testutil::{assert_close, Rng};
    use std::vec;
    use std::vec::Vec;

    use crate::testutil::conv_params as make;

    /// One thread, no residual.
    fn conv2d(p: &Conv2d, x: &[f32], w: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        super::conv2d(Par::SINGLE, p, x, w, bias, None, out);
    }

    /// One thread.
    fn conv2d_add(
        p: &Conv2d,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        residual: Option<&[f32]>,
        out: &mut [f32],
    ) {
        super::conv2d(Par::SINGLE, p, x, w, bias, residual, out);
    }

    /// Each output element straight from the definition, accumulated in f64.
    fn reference(
        p: &Conv2d,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        residual: Option<&[f32]>,
    ) -> Vec<f32> {
        let cig = p.c_in / p.group;
        let cog = p.c_out / p.group;
        let mut out = Vec::new();
        for b in 0..p.n {
            for co in 0..p.c_out {
                let g = co / cog;
                for oy in 0..p.h_out {
                    for ox in 0..p.w_out {
                        let mut acc = bias.map_or(0.0, |bias| f64::from(bias[co]));
                        for ci in 0..cig {
                            for ky in 0..p.kernel_h {
                                for kx in 0..p.kernel_w {
                                    let iy = (oy * p.stride_h + ky * p.dilation_h) as isize
                                        - p.pad_top as isize;
                                    let ix = (ox * p.stride_w + kx * p.dilation_w) as isize
                                        - p.pad_left as isize;
                                    if iy < 0
                                        || ix < 0
                                        || iy >= p.h_in as isize
                                        || ix >= p.w_in as isize
                                    {
                                        continue;
                                    }
                                    let (iy, ix) = (iy as usize, ix as usize);
                                    let xv = x
                                        [((b * p.c_in + g * cig + ci) * p.h_in + iy) * p.w_in + ix];
                                    let wv =
                                        w[((co * cig + ci) * p.kernel_h + ky) * p.kernel_w + kx];
                                    acc += f64::from(xv) * f64::from(wv);
                                }
                            }
                        }
                        if let Some(r) = residual {
                            acc += f64::from(r[out.len()]);
                        }
                        out.push(p.activation.apply(acc as f32));
                    }
                }
            }
        }
        out
    }

    fn check(p: Conv2d, seed: u32) {
        let mut rng = Rng::new(seed);
        let x = rng.vec(p.n * p.c_in * p.h_in * p.w_in);
        let w = rng.vec(p.c_out * (p.c_in / p.group) * p.kernel_h * p.kernel_w);
        let bias = rng.vec(p.c_out);
        let len = p.n * p.c_out * p.h_out * p.w_out;
        let r = rng.vec(len);
        for bias in [Some(&bias[..]), None] {
            let mut out = vec![f32::NAN; len];
            conv2d(&p, &x, &w, bias, &mut out);
            assert_close(&out, &reference(&p, &x, &w, bias, None));
            let mut out = vec![f32::NAN; len];
            conv2d_add(&p, &x, &w, bias, Some(&r), &mut out);
            assert_close(&out, &reference(&p, &x, &w, bias, Some(&r)));
        }
    }

    const NONE: Activation = Activation::None;

    #[test]
    fn pointwise() {
        check(
            make(
                2,
                5,
                (3, 7),
                4,
                (1, 1),
                (1, 1),
                (0, 0, 0, 0),
                (1, 1),
                1,
                Activation::Relu,
            ),
            1,
        );
        // Spatial size larger than one tile, not a multiple of it.
        check(
            make(
                1,
                3,
                (17, 19),
                2,
                (1, 1),
                (1, 1),
                (0, 0, 0, 0),
                (1, 1),
                1,
                Activation::HardSwish,
            ),
            2,
        );
        check(
            make(
                2,
                6,
                (4, 5),
                4,
                (1, 1),
                (1, 1),
                (0, 0, 0, 0),
                (1, 1),
                2,
                NONE,
            ),
            3,
        );
        // Squeeze-excite style: 1x1 spatial.
        let hs = Activation::HardSigmoid {
            alpha: 1.0 / 6.0,
            beta: 0.5,
        };
        check(
            make(3, 8, (1, 1), 3, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, hs),
            4,
        );
        check(
            make(
                1,
                1,
                (5, 3),
                1,
                (1, 1),
                (1, 1),
                (0, 0, 0, 0),
                (1, 1),
                1,
                Activation::Sigmoid,
            ),
            5,
        );
    }

    #[test]
    fn pointwise_shaped_but_not_pointwise() {
        // 1x1 with stride, with padding, with bottom-only padding: general paths.
        check(
            make(
                1,
                3,
                (7, 6),
                2,
                (1, 1),
                (2, 2),
                (0, 0, 0, 0),
                (1, 1),
                1,
                NONE,
            ),
            6,
        );
        check(
            make(
                2,
                3,
                (4, 5),
                2,
                (1, 1),
                (1, 1),
                (1, 1, 1, 1),
                (1, 1),
                1,
                Activation::Relu,
            ),
            7,
        );
        check(
            make(
                1,
                2,
                (4, 5),
                3,
                (1, 1),
                (1, 1),
                (0, 0, 2, 1),
                (1, 1),
                1,
                NONE,
            ),
            8,
        );
    }

    #[test]
    fn depthwise() {
        check(
            make(
                2,
                3,
                (5, 6),
                3,
                (3, 3),
                (1, 1),
                (1, 1, 1, 1),
                (1, 1),
                3,
                Activation::Relu,
            ),
            10,
        );
        check(
            make(
                1,
                4,
                (7, 7),
                4,
                (3, 3),
                (2, 2),
                (1, 1, 1, 1),
                (1, 1),
                4,
                NONE,
            ),
            11,
        );
        check(
            make(
                1,
                2,
                (9, 8),
                2,
                (5, 5),
                (2, 2),
                (2, 2, 1, 2),
                (1, 1),
                2,
                NONE,
            ),
            12,
        );
        // Single channel: group == c_in == c_out == 1.
        check(
            make(
                2,
                1,
                (6, 5),
                1,
                (3, 3),
                (1, 1),
                (1, 1, 1, 1),
                (1, 1),
                1,
                NONE,
            ),
            13,
        );
        check(
            make(
                1,
                3,
                (1, 1),
                3,
                (3, 3),
                (1, 1),
                (1, 1, 1, 1),
                (1, 1),
                3,
                NONE,
            ),
            14,
        );
    }

    #[test]
    fn general_and_grouped() {
        let relu6 = Activation::Clip { min: 0.0, max: 6.0 };
        // Stride 3, general and depthwise.
        check(
            make(
                1,
                2,
                (10, 11),
                3,
                (3, 3),
                (3, 3),
                (1, 1, 1, 1),
                (1, 1),
                1,
                NONE,
            ),
            25,
        );
        check(
            make(
                1,
                3,
                (10, 11),
                3,
                (3, 3),
                (3, 3),
                (1, 1, 1, 1),
                (1, 1),
                3,
                NONE,
            ),
            26,
        );
        // Stem-like: 3 -> 4 channels, 3x3 stride 2 on odd sizes.
        check(
            make(
                2,
                3,
                (9, 11),
                4,
                (3, 3),
                (2, 2),
                (1, 1, 1, 1),
                (1, 1),
                1,
                relu6,
            ),
            20,
        );
        // Group between 1 and C.
        check(
            make(
                1,
                6,
                (5, 4),
                9,
                (3, 3),
                (1, 1),
                (1, 1, 1, 1),
                (1, 1),
                3,
                NONE,
            ),
            21,
        );
        check(
            make(
                2,
                4,
                (6, 6),
                2,
                (3, 3),
                (1, 2),
                (0, 1, 2, 1),
                (1, 1),
                2,
                NONE,
            ),
            22,
        );
        // Depthwise with channel multiplier 2 (group == c_in != c_out).
        check(
            make(
                1,
                3,
                (5, 5),
                6,
                (3, 3),
                (1, 1),
                (1, 1, 1, 1),
                (1, 1),
                3,
                NONE,
            ),
            23,
        );
        // Single channel, general kernel through group 1 with c_out > 1.
        check(
            make(
                1,
                1,
                (4, 7),
                2,
                (2, 3),
                (1, 1),
                (0, 0, 0, 0),
                (1, 1),
                1,
                NONE,
            ),
            24,
        );
    }

    #[test]
    fn dilation() {
        check(
            make(
                1,
                2,
                (9, 10),
                3,
                (3, 3),
                (1, 1),
                (2, 3, 2, 3),
                (2, 3),
                1,
                NONE,
            ),
            30,
        );
        check(
            make(
                2,
                4,
                (8, 9),
                4,
                (3, 3),
                (2, 1),
                (2, 2, 2, 2),
                (2, 2),
                4,
                NONE,
            ),
            31,
        );
    }

    #[test]
    fn one_dimensional_kernels() {
        check(
            make(
                1,
                3,
                (5, 8),
                2,
                (1, 5),
                (1, 1),
                (0, 2, 0, 2),
                (1, 1),
                1,
                NONE,
            ),
            40,
        );
        check(
            make(
                1,
                3,
                (8, 5),
                2,
                (5, 1),
                (1, 1),
                (2, 0, 2, 0),
                (1, 1),
                1,
                NONE,
            ),
            41,
        );
        check(
            make(
                2,
                4,
                (6, 7),
                4,
                (1, 3),
                (1, 2),
                (0, 1, 0, 1),
                (1, 1),
                4,
                NONE,
            ),
            42,
        );
        check(
            make(
                1,
                4,
                (7, 6),
                4,
                (3, 1),
                (2, 1),
                (1, 0, 1, 0),
                (1, 1),
                4,
                NONE,
            ),
            43,
        );
    }

    #[test]
    fn asymmetric_padding() {
        check(
            make(
                1,
                2,
                (6, 7),
                3,
                (3, 3),
                (2, 2),
                (0, 0, 1, 1),
                (1, 1),
                1,
                NONE,
            ),
            50,
        );
        check(
            make(
                1,
                3,
                (5, 5),
                3,
                (3, 3),
                (1, 1),
                (2, 0, 0, 2),
                (1, 1),
                3,
                NONE,
            ),
            51,
        );
        check(
            make(
                1,
                2,
                (4, 4),
                2,
                (2, 2),
                (1, 1),
                (0, 3, 3, 0),
                (1, 1),
                1,
                NONE,
            ),
            52,
        );
    }

    #[test]
    fn kernel_larger_than_input() {
        check(
            make(
                1,
                2,
                (2, 3),
                3,
                (5, 5),
                (1, 1),
                (2, 2, 2, 2),
                (1, 1),
                1,
                NONE,
            ),
            60,
        );
        check(
            make(
                1,
                2,
                (2, 3),
                2,
                (5, 5),
                (1, 1),
                (2, 2, 2, 2),
                (1, 1),
                2,
                NONE,
            ),
            61,
        );
        // 1x1 input, 3x3 kernel.
        check(
            make(
                2,
                3,
                (1, 1),
                2,
                (3, 3),
                (1, 1),
                (1, 1, 1, 1),
                (1, 1),
                1,
                NONE,
            ),
            62,
        );
        // Padding wider than the kernel: some outputs see only zeros.
        check(
            make(
                1,
                2,
                (3, 3),
                2,
                (2, 2),
                (1, 1),
                (3, 3, 3, 3),
                (1, 1),
                1,
                Activation::Relu,
            ),
            63,
        );
    }

    /// `conv2d_add` against `conv2d` without activation, `add_assign`, then the
    /// activation: through the dispatch, the portable kernels and every ISA, on
    /// pointwise (odd channel counts, odd spatial sizes, 1x1 spatial, groups),
    /// depthwise 3x3 / 5x5 stride 1 / 2 with padding, and dense / grouped
    /// convolutions, with every activation, batch 2.
    #[test]
    fn residual_matches_conv_then_add() {
        let acts = [
            NONE,
            Activation::Relu,
            Activation::Clip { min: 0.0, max: 6.0 },
            Activation::HardSigmoid {
                alpha: 1.0 / 6.0,
                beta: 0.5,
            },
            Activation::HardSwish,
            Activation::Sigmoid,
            Activation::Silu,
            Activation::Gelu,
        ];
        let mut cases = Vec::new();
        let pw = |c_in, hw, c_out, group| {
            make(
                2,
                c_in,
                hw,
                c_out,
                (1, 1),
                (1, 1),
                (0, 0, 0, 0),
                (1, 1),
                group,
                NONE,
            )
        };
        for (c_in, hw, c_out) in [
            (7, (1, 1), 5),
            (33, (1, 1), 19),
            (9, (3, 5), 13),
            (20, (7, 7), 17),
            (16, (5, 13), 24),
            (5, (2, 49), 7),
            (3, (17, 19), 11),
            (1, (1, 100), 1),
        ] {
            cases.push(pw(c_in, hw, c_out, 1));
        }
        cases.push(pw(6, (5, 7), 10, 2));
        cases.push(pw(8, (1, 1), 4, 2));
        for k in [3, 5] {
            for st in [1, 2] {
                for (h, w) in [(1, 1), (7, 7), (9, 14), (6, 17), (11, 33)] {
                    let pad = k / 2;
                    cases.push(make(
                        2,
                        3,
                        (h, w),
                        3,
                        (k, k),
                        (st, st),
                        (pad, pad, pad, pad),
                        (1, 1),
                        3,
                        NONE,
                    ));
                }
            }
        }
        // Dense 3x3 stride 1 and 2, grouped, channel multiplier, other strides
        // and dilation (the portable fallback).
        for (c_in, hw, c_out, k, st, pad, dil, group) in [
            (3, (9, 35), 16, 3, 2, 1, 1, 1),
            (4, (6, 19), 9, 3, 1, 1, 1, 1),
            (3, (4, 80), 10, 3, 1, 1, 1, 1),
            (3, (5, 150), 9, 3, 2, 1, 1, 1),
            (6, (5, 17), 9, 3, 1, 1, 1, 3),
            (3, (5, 5), 6, 3, 1, 1, 1, 3),
            (4, (9, 10), 4, 3, 3, 1, 1, 1),
            (2, (9, 18), 3, 3, 1, 2, 2, 1),
        ] {
            cases.push(make(
                2,
                c_in,
                hw,
                c_out,
                (k, k),
                (st, st),
                (pad, pad, pad, pad),
                (dil, dil),
                group,
                NONE,
            ));
        }
        for (i, q) in cases.iter().enumerate() {
            let mut rng = Rng::new(300 + i as u32);
            let x = rng.vec(q.n * q.c_in * q.h_in * q.w_in);
            let w = rng.vec(q.c_out * (q.c_in / q.group) * q.kernel_h * q.kernel_w);
            let b = rng.vec(q.c_out);
            let len = q.n * q.c_out * q.h_out * q.w_out;
            let r = rng.vec(len);
            for bias in [Some(&b[..]), None] {
                let mut sum = vec![f32::NAN; len];
                conv2d(q, &x, &w, bias, &mut sum);
                crate::add_assign(&mut sum, &r);
                for act in acts {
                    let p = Conv2d {
                        activation: act,
                        ..*q
                    };
                    let mut want = sum.clone();
                    apply_in_place(act, &mut want);
                    let mut got = vec![f32::NAN; len];
                    conv2d_add(&p, &x, &w, bias, Some(&r), &mut got);
                    assert_close(&got, &want);
                    let mut got = vec![f32::NAN; len];
                    conv2d_reference(&p, &x, &w, bias, Some(&r), &mut got);
                    assert_close(&got, &want);
                    for k in crate::dispatch::all() {
                        let mut got = vec![f32::NAN; len];
                        // False (a shape without vector kernels): the scalar path, checked above.
                        if conv2d_vector(k, &p, &x, &w, bias, Some(&r), &mut got) {
                            assert_close(&got, &want);
                        }
                    }
                }
            }
        }
    }

    /// Every kernel table (each ISA's and the portable one) against the scalar
    /// reference (relative 1e-5), on odd widths, 1x1 planes, single channels,
    /// batch > 1, stride 2 and padding.
    #[test]
    fn vector_kernels_match_reference() {
        let relu6 = Activation::Clip { min: 0.0, max: 6.0 };
        let hs = Activation::HardSigmoid {
            alpha: 1.0 / 6.0,
            beta: 0.5,
        };
        let mut cases = Vec::new();
        // Pointwise: spatial sizes around the vector and tile widths, every
        // output-channel remainder, groups, batch, 1x1 spatial (matrix-vector).
        for (hw, c_in, c_out) in [
            ((1, 1), 7, 5),
            ((1, 1), 33, 19),
            ((1, 3), 4, 3),
            ((3, 5), 9, 13),
            ((7, 7), 20, 17),
            ((1, 17), 3, 8),
            ((1, 33), 2, 9),
            ((5, 13), 16, 24),
            ((14, 14), 12, 12),
            ((2, 49), 5, 7),
            ((1, 100), 1, 1),
        ] {
            for n in [1, 2] {
                cases.push(make(
                    n,
                    c_in,
                    hw,
                    c_out,
                    (1, 1),
                    (1, 1),
                    (0, 0, 0, 0),
                    (1, 1),
                    1,
                    NONE,
                ));
            }
        }
        cases.push(make(
            2,
            6,
            (5, 7),
            10,
            (1, 1),
            (1, 1),
            (0, 0, 0, 0),
            (1, 1),
            2,
            relu6,
        ));
        // Matrix-vector at batch 2 with more weight rows than one block of `dot_rows_blocked`.
        cases.push(make(
            2,
            600,
            (1, 1),
            240,
            (1, 1),
            (1, 1),
            (0, 0, 0, 0),
            (1, 1),
            1,
            relu6,
        ));
        cases.push(make(
            3,
            8,
            (1, 1),
            4,
            (1, 1),
            (1, 1),
            (0, 0, 0, 0),
            (1, 1),
            2,
            hs,
        ));
        // Depthwise 3x3 and 5x5, stride 1 and 2, widths around 8 and 16.
        for k in [3, 5] {
            for s in [1, 2] {
                for (h, w) in [
                    (1, 1),
                    (2, 3),
                    (7, 7),
                    (9, 14),
                    (5, 15),
                    (6, 16),
                    (11, 17),
                    (4, 33),
                    (3, 40),
                ] {
                    let pad = k / 2;
                    for (n, c) in [(1, 3), (2, 1)] {
                        cases.push(make(
                            n,
                            c,
                            (h, w),
                            c,
                            (k, k),
                            (s, s),
                            (pad, pad, pad, pad),
                            (1, 1),
                            c,
                            NONE,
                        ));
                    }
                    if h >= k && w >= k {
                        cases.push(make(
                            1,
                            2,
                            (h, w),
                            2,
                            (k, k),
                            (s, s),
                            (pad, pad - 1, 0, pad),
                            (1, 1),
                            2,
                            Activation::Relu,
                        ));
                    }
                }
            }
        }
        // Depthwise with other strides / kernels: the direct kernel with one channel per group.
        cases.push(make(
            1,
            4,
            (9, 10),
            4,
            (3, 3),
            (2, 1),
            (1, 1, 1, 1),
            (1, 1),
            4,
            NONE,
        ));
        cases.push(make(
            1,
            3,
            (9, 19),
            3,
            (7, 7),
            (1, 1),
            (3, 3, 3, 3),
            (1, 1),
            3,
            NONE,
        ));
        // Dense and grouped: stem-like, odd sizes, channel multiplier, 1x1 stride 2,
        // vertical dilation, kernel larger than the input.
        cases.push(make(
            2,
            3,
            (9, 35),
            16,
            (3, 3),
            (2, 2),
            (1, 1, 1, 1),
            (1, 1),
            1,
            relu6,
        ));
        cases.push(make(
            1,
            3,
            (20, 224),
            11,
            (3, 3),
            (2, 2),
            (1, 1, 1, 1),
            (1, 1),
            1,
            NONE,
        ));
        // Rows wide enough for the direct kernel's 2- and 3-vector column tiles (AVX-512),
        // stride 1 and 2, with a heavy activation applied row by row.
        cases.push(make(
            2,
            4,
            (5, 100),
            10,
            (3, 3),
            (1, 1),
            (1, 1, 1, 1),
            (1, 1),
            1,
            Activation::Silu,
        ));
        cases.push(make(
            1,
            3,
            (7, 161),
            9,
            (3, 3),
            (2, 2),
            (1, 1, 1, 1),
            (1, 1),
            1,
            Activation::Gelu,
        ));
        cases.push(make(
            1,
            6,
            (5, 17),
            9,
            (3, 3),
            (1, 1),
            (1, 1, 1, 1),
            (1, 1),
            3,
            NONE,
        ));
        cases.push(make(
            1,
            3,
            (5, 5),
            6,
            (3, 3),
            (1, 1),
            (1, 1, 1, 1),
            (1, 1),
            3,
            NONE,
        ));
        cases.push(make(
            1,
            3,
            (7, 6),
            2,
            (1, 1),
            (2, 2),
            (0, 0, 0, 0),
            (1, 1),
            1,
            NONE,
        ));
        cases.push(make(
            1,
            2,
            (9, 18),
            3,
            (3, 3),
            (1, 1),
            (2, 1, 2, 1),
            (2, 1),
            1,
            NONE,
        ));
        cases.push(make(
            1,
            2,
            (2, 3),
            3,
            (5, 5),
            (1, 1),
            (2, 2, 2, 2),
            (1, 1),
            1,
            NONE,
        ));
        cases.push(make(
            1,
            1,
            (4, 7),
            2,
            (2, 3),
            (1, 1),
            (0, 0, 0, 0),
            (1, 1),
            1,
            NONE,
        ));
        // Every activation on a vector path.
        for act in [
            Activation::Relu,
            relu6,
            Activation::Clip {
                min: 0.3,
                max: -0.2,
            },
            hs,
            Activation::HardSwish,
            Activation::Sigmoid,
            Activation::Silu,
            Activation::Tanh,
            Activation::Gelu,
            Activation::GeluTanh,
        ] {
            cases.push(make(
                1,
                5,
                (3, 19),
                7,
                (1, 1),
                (1, 1),
                (0, 0, 0, 0),
                (1, 1),
                1,
                act,
            ));
            cases.push(make(
                1,
                5,
                (6, 19),
                5,
                (3, 3),
                (1, 1),
                (1, 1, 1, 1),
                (1, 1),
                5,
                act,
            ));
            cases.push(make(
                1,
                2,
                (6, 19),
                3,
                (3, 3),
                (2, 2),
                (1, 1, 1, 1),
                (1, 1),
                1,
                act,
            ));
        }
        let mut checked = 0;
        for k in crate::dispatch::all() {
            for (i, p) in cases.iter().enumerate() {
                let mut rng = Rng::new(100 + i as u32);
                let x = rng.vec(p.n * p.c_in * p.h_in * p.w_in);
                let w = rng.vec(p.c_out * (p.c_in / p.group) * p.kernel_h * p.kernel_w);
                let b = rng.vec(p.c_out);
                let len = p.n * p.c_out * p.h_out * p.w_out;
                let r = rng.vec(len);
                for (bias, residual) in [
                    (Some(&b[..]), None),
                    (None, None),
                    (Some(&b[..]), Some(&r[..])),
                    (None, Some(&r[..])),
                ] {
                    let mut want = vec![f32::NAN; len];
                    conv2d_reference(p, &x, &w, bias, residual, &mut want);
                    let mut got = vec![f32::NAN; len];
                    assert!(
                        conv2d_vector(k, p, &x, &w, bias, residual, &mut got),
                        "{} {p:?}",
                        k.name
                    );
                    assert_close(&got, &want);
                    checked += 1;
                }
            }
        }
        // The portable table runs everywhere.
        assert!(checked > 0 && checked % (4 * cases.len()) == 0);
    }

    /// GhostNetV2's DFC convs: 1xK and Kx1 depthwise (K = 3, 5, 7) with "same" padding (and
    /// one-sided), odd channel counts, planes from 1x1 to wider than a vector, batch 2, every
    /// activation the vector epilogue takes: the depthwise vector kernel of every table takes
    /// them (not the direct fallback) and matches the scalar reference.
    #[test]
    fn one_by_k_depthwise_matches_reference() {
        let mut checked = 0;
        let mut seed = 700;
        for k in [3, 5, 7] {
            for vertical in [false, true] {
                let kernel = if vertical { (k, 1) } else { (1, k) };
                let half = k / 2;
                let pads = if vertical {
                    [(half, 0, half, 0), (half, 0, 0, 0)]
                } else {
                    [(0, half, 0, half), (0, 0, 0, half)]
                };
                for (h, w) in [
                    (1, 1),
                    (3, 3),
                    (7, 7),
                    (10, 10),
                    (2, 2),
                    (5, 5),
                    (20, 20),
                    (4, 37),
                ] {
                    for pad in pads {
                        for (n, c) in [(1, 7), (2, 3), (1, 1)] {
                            if h + pad.0 + pad.2 < kernel.0 || w + pad.1 + pad.3 < kernel.1 {
                                continue;
                            }
                            let p = make(n, c, (h, w), c, kernel, (1, 1), pad, (1, 1), c, NONE);
                            for act in [NONE, Activation::Relu] {
                                let p = Conv2d {
                                    activation: act,
                                    ..p
                                };
                                seed += 1;
                                let mut rng = Rng::new(seed);
                                let x = rng.vec(n * c * h * w);
                                let wt = rng.vec(c * k);
                                let b = rng.vec(c);
                                let len = n * c * p.h_out * p.w_out;
                                let mut want = vec![f32::NAN; len];
                                conv2d_reference(&p, &x, &wt, Some(&b), None, &mut want);
                                for t in crate::dispatch::all() {
                                    let mut got = vec![f32::NAN; len];
                                    assert!(
                                        (t.depthwise)(&p, &x, &wt, Some(&b), &mut got, act),
                                        "{} {p:?}",
                                        t.name
                                    );
                                    assert_close(&got, &want);
                                    // And through the public entry point, with a sigmoid.
                                    let ps = Conv2d {
                                        activation: Activation::Sigmoid,
                                        ..p
                                    };
                                    let mut want_s = vec![f32::NAN; len];
                                    conv2d_reference(&ps, &x, &wt, Some(&b), None, &mut want_s);
                                    let mut got = vec![f32::NAN; len];
                                    conv2d_with(t, &ps, &x, &wt, Some(&b), None, &mut got);
                                    assert_close(&got, &want_s);
                                    checked += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 100);
    }

    /// Split over two threads against one thread.
    #[cfg(feature = "std")]
    mod threaded {
        use super::{conv2d, conv2d_add, Activation, Conv2d, Rng};

        /// Convs with fewer channel blocks than parts are split into bands of every output
        /// plane (columns of a pointwise conv, rows of the direct kernel): 2 and 3 threads
        /// give the single-threaded bits, batch 1 and 2, with and without a residual, cheap
        /// and non-cheap activations, odd sizes.
        #[test]
        fn bands_bit_identical_to_single_thread() {
            let pools = [crate::Threads::new(2), crate::Threads::new(3)];
            let mut rng = Rng::new(41);
            let mut split = 0;
            // (n, c_in, c_out, h, w, k, stride, pad)
            for (n, c_in, c_out, h, w, k, s, pad) in [
                (1, 16, 8, 29, 31, 1, 1, 0),
                (2, 3, 4, 37, 45, 1, 1, 0),
                (1, 24, 12, 112, 3, 1, 1, 0),
                (1, 3, 8, 61, 67, 3, 2, 1),
                (2, 3, 16, 33, 35, 3, 1, 1),
                (1, 5, 7, 40, 23, 5, 2, 2),
                (1, 2, 1, 9, 9, 3, 1, 1),
            ] {
                let (ho, wo) = ((h + 2 * pad - k) / s + 1, (w + 2 * pad - k) / s + 1);
                for act in [Activation::Relu, Activation::HardSwish, Activation::Sigmoid] {
                    let p = Conv2d {
                        n,
                        c_in,
                        h_in: h,
                        w_in: w,
                        c_out,
                        h_out: ho,
                        w_out: wo,
                        kernel_h: k,
                        kernel_w: k,
                        stride_h: s,
                        stride_w: s,
                        pad_top: pad,
                        pad_left: pad,
                        dilation_h: 1,
                        dilation_w: 1,
                        group: 1,
                        activation: act,
                    };
                    let x = rng.vec(n * c_in * h * w);
                    let wt = rng.vec(c_out * c_in * k * k);
                    let b = rng.vec(c_out);
                    let r = rng.vec(n * c_out * ho * wo);
                    for res in [None, Some(&r[..])] {
                        let mut one = std::vec![f32::NAN; r.len()];
                        crate::conv2d(crate::Par::SINGLE, &p, &x, &wt, Some(&b), res, &mut one);
                        for t in &pools {
                            let mut many = std::vec![f32::NAN; r.len()];
                            crate::conv2d(t.par(), &p, &x, &wt, Some(&b), res, &mut many);
                            let same = one
                                .iter()
                                .zip(&many)
                                .all(|(a, b)| a.to_bits() == b.to_bits());
                            assert!(same, "{n} {c_in} {c_out} {h}x{w} k{k} s{s} {act:?}");
                        }
                    }
                    split += usize::from(n * c_out * ho * wo * c_in * k * k >= 1 << 16);
                }
            }
            assert!(split >= 12, "{split} split shapes");
        }

        #[test]
        fn matches_single_threaded_conv() {
            let t = crate::Threads::new(2);
            let mut rng = Rng::new(7);
            for &(n, c_in, c_out, group, k, s) in &[
                (1, 16, 32, 1, 1, 1),
                (2, 24, 24, 24, 3, 1),
                (1, 12, 18, 3, 3, 2),
                (3, 5, 7, 1, 5, 2),
                (1, 64, 64, 64, 5, 2),
            ] {
                let (h, w) = (19, 17);
                let pad = k / 2;
                let (ho, wo) = ((h + 2 * pad - k) / s + 1, (w + 2 * pad - k) / s + 1);
                let p = Conv2d {
                    n,
                    c_in,
                    h_in: h,
                    w_in: w,
                    c_out,
                    h_out: ho,
                    w_out: wo,
                    kernel_h: k,
                    kernel_w: k,
                    stride_h: s,
                    stride_w: s,
                    pad_top: pad,
                    pad_left: pad,
                    dilation_h: 1,
                    dilation_w: 1,
                    group,
                    activation: Activation::Relu,
                };
                let x = rng.vec(n * c_in * h * w);
                let wt = rng.vec(c_out * (c_in / group) * k * k);
                let b = rng.vec(c_out);
                let mut want = std::vec![f32::NAN; n * c_out * ho * wo];
                conv2d(&p, &x, &wt, Some(&b), &mut want);
                let mut got = std::vec![f32::NAN; want.len()];
                crate::conv2d(t.par(), &p, &x, &wt, Some(&b), None, &mut got);
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                        "{n} {c_in} {c_out} {group} {k} {s}: {g} vs {w}"
                    );
                }
            }
        }

        #[test]
        fn residual_matches_single_threaded_conv() {
            let t = crate::Threads::new(2);
            let mut rng = Rng::new(8);
            for &(n, c_in, c_out, group, k, s, act) in &[
                (1, 16, 32, 1, 1, 1, Activation::None),
                (2, 24, 24, 24, 3, 1, Activation::Relu),
                (2, 12, 18, 3, 3, 2, Activation::HardSwish),
                (3, 5, 7, 1, 5, 2, Activation::Sigmoid),
                (1, 64, 64, 64, 5, 2, Activation::None),
                (2, 40, 24, 1, 1, 1, Activation::Sigmoid),
            ] {
                let (h, w) = (19, 17);
                let pad = k / 2;
                let (ho, wo) = ((h + 2 * pad - k) / s + 1, (w + 2 * pad - k) / s + 1);
                let p = Conv2d {
                    n,
                    c_in,
                    h_in: h,
                    w_in: w,
                    c_out,
                    h_out: ho,
                    w_out: wo,
                    kernel_h: k,
                    kernel_w: k,
                    stride_h: s,
                    stride_w: s,
                    pad_top: pad,
                    pad_left: pad,
                    dilation_h: 1,
                    dilation_w: 1,
                    group,
                    activation: act,
                };
                let x = rng.vec(n * c_in * h * w);
                let wt = rng.vec(c_out * (c_in / group) * k * k);
                let b = rng.vec(c_out);
                let r = rng.vec(n * c_out * ho * wo);
                for bias in [Some(&b[..]), None] {
                    let mut want = std::vec![f32::NAN; r.len()];
                    conv2d_add(&p, &x, &wt, bias, Some(&r), &mut want);
                    let mut got = std::vec![f32::NAN; r.len()];
                    crate::conv2d(t.par(), &p, &x, &wt, bias, Some(&r), &mut got);
                    assert_eq!(got, want, "{n} {c_in} {c_out} {group} {k} {s} {act:?}");
                }
            }
        }
    }
}
