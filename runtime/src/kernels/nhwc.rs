//! Channels-last (NHWC) kernels for small planes (14x14, 7x7), where NCHW rows
//! are narrower than a vector: the pointwise and depthwise convolutions, a
//! whole Ghost module, squeeze-excite and global average pooling, all
//! vectorised over channels.
//!
//! Tensors are `[n, h, w, c]`; a pointwise convolution may also read an NCHW
//! input, so the first NHWC layer needs no transpose. Weights are packed by
//! the compiler so that output (pointwise) or kernel channels (depthwise) are
//! contiguous.
//!
//! With channel counts that are multiples of 16 and 64-byte-aligned tensors,
//! every AVX-512 channel vector is one cache line; a tensor 16 bytes off
//! (where a large `Vec` or `Box` allocation lands) makes the depthwise kernels
//! up to 1.6x slower, since each load then touches two lines.

use crate::dispatch::{kernels, Kernels};
use crate::kernels::fused::{check_pair, excite};
use crate::params::{
    Conv2d, DwNhwc, ExpandDepthwiseNhwc, GhostModule, InOut, PwNhwc, SqueezeExcite,
};
use crate::threads::{Par, MIN_PARALLEL_WORK, PARTS_PER_THREAD};
use core::ops::Range;

/// NHWC convolution: pointwise (1x1, stride 1, no padding, group 1; input
/// NHWC `[n, h, w, c_in]`, or NCHW `[n, c_in, h, w]` when `input_nchw`) or
/// depthwise (`group == c_in == c_out`, any kernel, stride, padding and
/// dilation; input NHWC). Output NHWC `[n, h_out, w_out, c_out]`:
/// `act(conv + bias + residual)`, the activation (`p.activation`) last.
/// `residual` is NHWC with the output's shape.
///
/// Weights are packed by the compiler: pointwise `[c_in][c_out]` (the
/// transpose of OIHW), depthwise `[kernel_h * kernel_w][c]` (tap-major,
/// channels contiguous). Work is split over output rows (per batch item) on
/// `par`; the result does not depend on the split. Panics on other shapes or
/// sizes.
#[allow(clippy::too_many_arguments)] // the operands of a fused convolution, as generated code has them
pub fn conv2d_nhwc(
    par: Par<'_>,
    p: &Conv2d,
    input_nchw: bool,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    conv2d_nhwc_with(
        kernels(),
        par,
        p,
        input_nchw,
        input,
        weight,
        bias,
        residual,
        output,
    );
}

/// A Ghost module in NHWC. `primary` is pointwise (`c_in -> init =
/// primary.c_out`), `cheap` is depthwise over `k = cheap.c_in = cheap.c_out <=
/// init` channels with stride 1 and the same spatial size (any kernel and
/// padding that keep `h`, `w`). Output NHWC `[n, h, w, init + k]`: channels
/// `0..init` are the primary convolution (activation `primary.activation`),
/// channels `init..init + k` the cheap one over primary channels `0..k`
/// (activation `cheap.activation`). `residual` (NHWC, the output's shape) is
/// added to every output channel after the activations.
///
/// The input is NHWC `[n, h, w, c_in]`, or NCHW when `input_nchw`. `w1` is
/// packed `[c_in][init]`, `b1` is `[init]`, `w2` `[kernel_h * kernel_w][k]`,
/// `b2` `[k]`. Work is split over rows on `par`: all primary rows first, then
/// the cheap rows (which read primary rows other parts wrote); the result
/// does not depend on the split. Panics on other shapes or sizes.
#[allow(clippy::too_many_arguments)] // the module's two weight tensors, as generated code has them
pub fn ghost_module_nhwc(
    par: Par<'_>,
    p: &GhostModule,
    input_nchw: bool,
    input: &[f32],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    let weights = [w1, b1, w2, b2];
    ghost_with(
        kernels(),
        par,
        p,
        input_nchw,
        input,
        weights,
        residual,
        output,
    );
}

/// `depthwise(expand(x))` in NHWC without the expanded tensor: a strip of `p.rows` output rows
/// at a time, the expansion writes the expanded rows the strip's windows read into `scratch`
/// (rows the previous strip already expanded are moved to its front, not recomputed) and the
/// depthwise convolution reads them from there into the strip's output rows, so the expanded
/// rows stay in L1/L2. The input is NHWC `[n, h, w, c_in]`, or NCHW when `input_nchw`; the
/// output NHWC `[n, h_out, w_out, c]`. Weights are packed as [`conv2d_nhwc`] takes them: `w1`
/// `[c_in][c]`, `w2` `[kernel_h * kernel_w][c]`. `scratch` holds at least
/// [`ExpandDepthwiseNhwc::scratch_len`] f32s. Each output is the same chain of operations as
/// the two convolutions run one after the other, so the result does not depend on the strip
/// height. Each strip's two steps are split over rows on `par`. Panics on other shapes or
/// sizes.
#[allow(clippy::too_many_arguments)] // the two convs' weights, as generated code has them
pub fn expand_depthwise_nhwc(
    par: Par<'_>,
    p: &ExpandDepthwiseNhwc,
    input_nchw: bool,
    input: &[f32],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    output: &mut [f32],
    scratch: &mut [f32],
) {
    let weights = [w1, b1, w2, b2];
    ed_with(
        kernels(),
        par,
        p,
        input_nchw,
        input,
        weights,
        output,
        scratch,
    );
}

#[allow(clippy::too_many_arguments)]
fn ed_with(
    k: &Kernels,
    par: Par<'_>,
    p: &ExpandDepthwiseNhwc,
    input_nchw: bool,
    input: &[f32],
    [w1, b1, w2, b2]: [&[f32]; 4],
    output: &mut [f32],
    scratch: &mut [f32],
) {
    let (e, d) = (&p.expand, &p.depthwise);
    let c = e.c_out;
    check_pair(
        "expand_depthwise_nhwc",
        e,
        d,
        input,
        [w1, b1, w2, b2],
        output,
    );
    assert!(p.rows > 0, "expand_depthwise_nhwc: rows must be positive");
    let (h, w, taps) = (d.h_in, d.w_in, d.kernel_h * d.kernel_w);
    let (in_item, out_row) = (e.input_len() / e.n.max(1), d.w_out * c);
    assert!(
        scratch.len() >= p.scratch_len(),
        "expand_depthwise_nhwc: scratch too short"
    );
    if output.is_empty() {
        return;
    }
    let row = w * c;
    let window = (d.kernel_h - 1) * d.dilation_h + 1;
    for (item, y) in output.chunks_exact_mut(d.h_out * out_row).enumerate() {
        let x = &input[item * in_item..][..in_item];
        // The expanded rows `have` are in the scratch, from its start.
        let mut have = 0..0;
        let mut r0 = 0;
        while r0 < d.h_out {
            let r1 = (r0 + p.rows).min(d.h_out);
            // The expanded rows the windows of output rows r0..r1 overlap.
            let lo = (r0 * d.stride_h).saturating_sub(d.pad_top).min(h);
            let hi = ((r1 - 1) * d.stride_h + window)
                .saturating_sub(d.pad_top)
                .clamp(lo, h);
            let keep = if have.contains(&lo) { have.end - lo } else { 0 };
            if keep > 0 {
                let from = (lo - have.start) * row;
                scratch.copy_within(from..from + keep * row, 0);
            }
            let fresh = &mut scratch[keep * row..(hi - lo) * row];
            expand_rows(k, par, e, input_nchw, x, [w1, b1], lo + keep..hi, fresh);
            // The strip as a convolution of its own: rows lo..hi as its input, the padding
            // above it what remains of the top padding (none when the strip reads only the
            // bottom padding: then it has no input rows, and every tap is padding).
            let sub = Conv2d {
                n: 1,
                h_in: hi - lo,
                h_out: r1 - r0,
                pad_top: (d.pad_top + lo).saturating_sub(r0 * d.stride_h),
                ..*d
            };
            let dw = DwNhwc {
                p: &sub,
                w: w2,
                bias: Some(b2),
                act: d.activation,
            };
            let strip = &scratch[..(hi - lo) * row];
            let y = &mut y[r0 * out_row..r1 * out_row];
            let parts = parts_for(par, y.len() * taps, r1 - r0);
            let bounds = |i: usize| (i * (r1 - r0) / parts) * out_row;
            par.for_each_part(y, parts, &bounds, &|i, out| {
                let rows = i * (r1 - r0) / parts..(i + 1) * (r1 - r0) / parts;
                (k.depthwise_nhwc)(&dw, strip, None, out, rows);
            });
            have = lo..hi;
            r0 = r1;
        }
    }
}

/// The expansion `e` of the expanded rows `rows` of one batch item's input `x` into `y`
/// (`[rows.len() * w][c]`), split over rows on `par`.
#[allow(clippy::too_many_arguments)]
fn expand_rows(
    k: &Kernels,
    par: Par<'_>,
    e: &Conv2d,
    input_nchw: bool,
    x: &[f32],
    [w1, b1]: [&[f32]; 2],
    rows: Range<usize>,
    y: &mut [f32],
) {
    let (w, c, n) = (e.w_out, e.c_out, rows.len());
    if n == 0 {
        return;
    }
    let parts = parts_for(par, y.len() * e.c_in, n);
    let bounds = |i: usize| (i * n / parts) * w * c;
    par.for_each_part(y, parts, &bounds, &|i, out| {
        let a = PwNhwc {
            x,
            nchw: input_nchw,
            hw: e.h_in * e.w_in,
            c_in: e.c_in,
            c_out: c,
            w: w1,
            bias: Some(b1),
            first: (rows.start + i * n / parts) * w,
            act: e.activation,
        };
        (k.pointwise_nhwc)(&a, None, out, c, out.len() / c);
    });
}

/// [`squeeze_excite`](crate::squeeze_excite) on NHWC data (`[n, spatial, c]`): `out[n, s, c] =
/// x[n, s, c] * gate(w2 · act(w1 · mean(x[n]) + b1) + b2)[c]`, on separate input and output
/// or in place. The weights are as there (`w1` `[mid, c]`, `w2` `[c, mid]`); `scratch` holds
/// at least `c + mid` f32s.
#[allow(clippy::too_many_arguments)] // the block's two weight tensors, as generated code has them
pub fn squeeze_excite_nhwc(
    par: Par<'_>,
    p: &SqueezeExcite,
    data: InOut<'_>,
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    scratch: &mut [f32],
) {
    se_with(kernels(), par, p, data, [w1, b1, w2, b2], scratch);
}

/// The mean over the spatial positions of NHWC `input` (`[n, spatial, c]`)
/// into `output` (`[n, c]`). `spatial == 0` gives NaN (0 / 0).
pub fn global_avg_pool_nhwc(n: usize, c: usize, spatial: usize, input: &[f32], output: &mut [f32]) {
    gap_with(kernels(), n, c, spatial, input, output);
}

/// How many parts `rows` rows of `work` multiply-adds are split into.
fn parts_for(par: Par<'_>, work: usize, rows: usize) -> usize {
    let threads = par.threads();
    if threads <= 1 || work < MIN_PARALLEL_WORK {
        1
    } else {
        (threads * PARTS_PER_THREAD).min(rows).max(1)
    }
}

/// Calls `f(item, rows, offset)` for every batch item's share of the global
/// output rows `rows` (`item * h + row`), `offset` counting rows from `rows.start`.
fn for_each_item(rows: Range<usize>, h: usize, mut f: impl FnMut(usize, Range<usize>, usize)) {
    let mut g = rows.start;
    while g < rows.end {
        let (item, r0) = (g / h, g % h);
        let r1 = h.min(r0 + rows.end - g);
        f(item, r0..r1, g - rows.start);
        g += r1 - r0;
    }
}

#[allow(clippy::too_many_arguments)]
fn conv2d_nhwc_with(
    k: &Kernels,
    par: Par<'_>,
    p: &Conv2d,
    input_nchw: bool,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    let pointwise = p.is_pointwise() && p.group == 1;
    let depthwise = !pointwise && p.is_depthwise();
    assert!(
        pointwise || (depthwise && !input_nchw),
        "conv2d_nhwc: pointwise (group 1) or depthwise (NHWC input) only"
    );
    assert!(
        p.steps_positive(),
        "conv2d_nhwc: strides and dilations must be positive"
    );
    assert_eq!(input.len(), p.input_len(), "conv2d_nhwc: input size");
    let taps = p.kernel_h * p.kernel_w;
    let w_len = if pointwise {
        p.c_in * p.c_out
    } else {
        taps * p.c_out
    };
    assert_eq!(weight.len(), w_len, "conv2d_nhwc: weight size");
    assert!(
        bias.is_none_or(|b| b.len() == p.c_out),
        "conv2d_nhwc: bias size"
    );
    let row_len = p.w_out * p.c_out;
    let rows = p.n * p.h_out;
    assert_eq!(output.len(), rows * row_len, "conv2d_nhwc: output size");
    assert!(
        residual.is_none_or(|r| r.len() == output.len()),
        "conv2d_nhwc: residual size"
    );
    if output.is_empty() {
        return;
    }
    let act = p.activation;
    let work = output.len() * if pointwise { p.c_in } else { taps };
    let parts = parts_for(par, work, rows);
    let bounds = |i: usize| (i * rows / parts) * row_len;
    let in_item = p.c_in * p.h_in * p.w_in;
    par.for_each_part(output, parts, &bounds, &|i, out| {
        let rows = i * rows / parts..(i + 1) * rows / parts;
        for_each_item(rows, p.h_out, |item, r, at| {
            let x = &input[item * in_item..][..in_item];
            let span = at * row_len..(at + r.len()) * row_len;
            let res = residual.map(|res| &res[bounds(i) + span.start..][..span.len()]);
            let y = &mut out[span];
            if pointwise {
                let a = PwNhwc {
                    x,
                    nchw: input_nchw,
                    hw: p.h_in * p.w_in,
                    c_in: p.c_in,
                    c_out: p.c_out,
                    w: weight,
                    bias,
                    first: r.start * p.w_out,
                    act,
                };
                (k.pointwise_nhwc)(&a, res, y, p.c_out, r.len() * p.w_out);
            } else {
                let d = DwNhwc {
                    p,
                    w: weight,
                    bias,
                    act,
                };
                (k.depthwise_nhwc)(&d, x, res, y, r);
            }
        });
    });
}

#[allow(clippy::too_many_arguments)]
fn ghost_with(
    k: &Kernels,
    par: Par<'_>,
    g: &GhostModule,
    input_nchw: bool,
    input: &[f32],
    [w1, b1, w2, b2]: [&[f32]; 4],
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    let (pp, cp) = (&g.primary, &g.cheap);
    assert!(
        pp.is_pointwise() && pp.group == 1,
        "ghost_module_nhwc: the primary convolution must be pointwise"
    );
    let (init, kc) = (pp.c_out, cp.c_out);
    assert!(
        cp.is_depthwise() && kc <= init,
        "ghost_module_nhwc: the cheap convolution must be depthwise over at most init channels"
    );
    let (n, h, w) = (pp.n, pp.h_out, pp.w_out);
    assert!(
        cp.n == n
            && cp.stride_h == 1
            && cp.stride_w == 1
            && (cp.h_in, cp.w_in) == (h, w)
            && (cp.h_out, cp.w_out) == (h, w),
        "ghost_module_nhwc: the cheap convolution must keep the primary's size"
    );
    let (oc, hw, taps) = (init + kc, h * w, cp.kernel_h * cp.kernel_w);
    assert_eq!(
        input.len(),
        n * pp.c_in * hw,
        "ghost_module_nhwc: input size"
    );
    assert_eq!(w1.len(), pp.c_in * init, "ghost_module_nhwc: w1 size");
    assert_eq!(b1.len(), init, "ghost_module_nhwc: b1 size");
    assert_eq!(w2.len(), taps * kc, "ghost_module_nhwc: w2 size");
    assert_eq!(b2.len(), kc, "ghost_module_nhwc: b2 size");
    assert_eq!(output.len(), n * hw * oc, "ghost_module_nhwc: output size");
    assert!(
        residual.is_none_or(|r| r.len() == output.len()),
        "ghost_module_nhwc: residual size"
    );
    if output.is_empty() {
        return;
    }
    let rows = n * h;
    let row_len = w * oc;
    let parts = parts_for(par, n * hw * (init * pp.c_in + kc * taps), rows);
    let bounds = |i: usize| (i * rows / parts) * row_len;
    let in_item = pp.c_in * hw;

    // 1. The primary half of every row (the cheap half reads it).
    par.for_each_part(output, parts, &bounds, &|i, out| {
        let rows = i * rows / parts..(i + 1) * rows / parts;
        for_each_item(rows, h, |item, r, at| {
            let a = PwNhwc {
                x: &input[item * in_item..][..in_item],
                nchw: input_nchw,
                hw,
                c_in: pp.c_in,
                c_out: init,
                w: w1,
                bias: Some(b1),
                first: r.start * w,
                act: pp.activation,
            };
            let y = &mut out[at * row_len..(at + r.len()) * row_len];
            (k.pointwise_nhwc)(&a, None, y, oc, r.len() * w);
        });
    });

    // 2. The cheap half: each part writes channels init.. of its own rows and
    // reads channels ..k of any row, which nothing writes now.
    let d = DwNhwc {
        p: cp,
        w: w2,
        bias: Some(b2),
        act: cp.activation,
    };
    if kc > 0 {
        par.for_each_split(output, oc, 0..kc, init..oc, w, parts, &|_, src, mut dst| {
            let px = dst.pixels();
            for_each_item(px.start / w..px.end / w, h, |item, r, _| {
                let first = item * hw + r.start * w;
                let count = r.len() * w;
                let res = residual.map(|res| &res[first * oc..(first + count) * oc]);
                (k.ghost_cheap_nhwc)(&d, src, &mut dst, item, r, res);
            });
        });
    }

    // 3. The residual on the primary half, now that nothing reads it.
    if let Some(res) = residual {
        par.for_each_part(output, parts, &bounds, &|i, out| {
            (k.add_channels_nhwc)(out, &res[bounds(i)..bounds(i + 1)], oc, 0..init);
        });
    }
}

pub(crate) fn se_with(
    k: &Kernels,
    par: Par<'_>,
    p: &SqueezeExcite,
    data: InOut<'_>,
    weights: [&[f32]; 4],
    scratch: &mut [f32],
) {
    let (c, hw) = (p.c, p.spatial);
    let item = hw * c;
    let [w1, b1, w2, b2] = weights;
    assert_eq!(w1.len(), p.mid * c, "squeeze_excite_nhwc: w1 size");
    assert_eq!(b1.len(), p.mid, "squeeze_excite_nhwc: b1 size");
    assert_eq!(w2.len(), c * p.mid, "squeeze_excite_nhwc: w2 size");
    assert_eq!(b2.len(), c, "squeeze_excite_nhwc: b2 size");
    assert!(
        scratch.len() >= c + p.mid,
        "squeeze_excite_nhwc: scratch too short"
    );
    let inv = 1.0 / hw as f32;
    // The scaling is split by pixels; the channel sums stay on the calling thread (a split
    // by channels would need strided sums, one by pixels would change their order).
    let parts = parts_for(par, item, hw);
    let px = |i: usize| i * hw / parts * c;
    // The sums by channels, in parts of whole vectors: each channel's sum is the same chain
    // of adds whatever channels share its pass.
    let sum_parts = parts_for(par, item, c / 16);
    let ch = |i: usize| {
        if i >= sum_parts {
            c
        } else {
            (i * c / sum_parts) & !15
        }
    };
    let sums = |x: &[f32], means: &mut [f32]| {
        par.for_each_part(means, sum_parts, &ch, &|i, m| {
            (k.sum_pixels_nhwc)(&x[ch(i)..], (hw, c), inv, m)
        })
    };
    match data {
        InOut::Separate(x, out) => {
            assert_eq!(x.len(), p.n * item, "squeeze_excite_nhwc: input size");
            assert_eq!(out.len(), x.len(), "squeeze_excite_nhwc: output size");
            for b in 0..p.n {
                let xb = &x[b * item..][..item];
                sums(xb, &mut scratch[..c]);
                excite(k, par, p, weights, scratch);
                let gates = &scratch[..c];
                par.for_each_part(&mut out[b * item..][..item], parts, &px, &|i, o| {
                    (k.scale_pixels_nhwc)(Some(&xb[px(i)..px(i + 1)]), gates, o)
                });
            }
        }
        InOut::InPlace(x) => {
            assert_eq!(x.len(), p.n * item, "squeeze_excite_nhwc: input size");
            for b in 0..p.n {
                let xb = &mut x[b * item..][..item];
                sums(xb, &mut scratch[..c]);
                excite(k, par, p, weights, scratch);
                let gates = &scratch[..c];
                par.for_each_part(xb, parts, &px, &|_, o| {
                    (k.scale_pixels_nhwc)(None, gates, o)
                });
            }
        }
    }
}

fn gap_with(k: &Kernels, n: usize, c: usize, spatial: usize, input: &[f32], output: &mut [f32]) {
    assert_eq!(
        input.len(),
        n * spatial * c,
        "global_avg_pool_nhwc: input size"
    );
    assert_eq!(output.len(), n * c, "global_avg_pool_nhwc: output size");
    if c == 0 {
        return;
    }
    if spatial == 0 {
        output.fill(f32::NAN);
        return;
    }
    for (x, y) in input
        .chunks_exact(spatial * c)
        .zip(output.chunks_exact_mut(c))
    {
        (k.sum_pixels_nhwc)(x, (spatial, c), 1.0 / spatial as f32, y);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::kernels::fused::squeeze_excite;
    use crate::kernels::pool::global_avg_pool;
    use crate::kernels::simd::activation::apply_in_place;
    use crate::params::Activation;
    use crate::testutil::{assert_close, to_nchw, to_nhwc, Rng};
    use std::vec;
    use std::vec::Vec;

    /// OIHW weights packed as the compiler does: pointwise `[c_in][c_out]`,
    /// depthwise `[kh * kw][c]`.
    fn pack(p: &Conv2d, w: &[f32]) -> Vec<f32> {
        if p.is_pointwise() && p.group == 1 {
            to_nhwc(w, 1, p.c_out, p.c_in)
        } else {
            to_nhwc(w, 1, p.c_out, p.kernel_h * p.kernel_w)
        }
    }

    /// Every kernel table this machine runs: each ISA's and the portable one.
    fn all_kernels() -> impl Iterator<Item = &'static Kernels> {
        crate::dispatch::all()
    }

    /// `dst[i] += src[i]` over the common length.
    fn add(dst: &mut [f32], src: &[f32]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d += s;
        }
    }

    /// One thread, no residual.
    fn conv2d(p: &Conv2d, x: &[f32], w: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        crate::conv2d(Par::SINGLE, p, x, w, bias, None, out);
    }

    use crate::testutil::conv_params as make;

    const ACTS: [Activation; 6] = [
        Activation::None,
        Activation::Relu,
        Activation::HardSwish,
        Activation::Sigmoid,
        Activation::Silu,
        Activation::Gelu,
    ];

    /// `act(conv + bias + residual)` by the NCHW kernel, in NCHW.
    fn nchw_reference(
        p: &Conv2d,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        res: Option<&[f32]>,
    ) -> Vec<f32> {
        let plain = Conv2d {
            activation: Activation::None,
            ..*p
        };
        let mut y = vec![f32::NAN; p.n * p.c_out * p.h_out * p.w_out];
        conv2d(&plain, x, w, bias, &mut y);
        if let Some(res) = res {
            add(&mut y, res);
        }
        apply_in_place(p.activation, &mut y);
        y
    }

    /// One convolution through every kernel set, single- and multi-threaded,
    /// against the NCHW kernel. `seed` also picks bias and residual.
    fn check_conv(p: &Conv2d, input_nchw: bool, seed: u32, threads: &crate::threads::Threads) {
        let mut rng = Rng::new(seed);
        let (hw_in, hw_out) = (p.h_in * p.w_in, p.h_out * p.w_out);
        let x = rng.vec(p.n * p.c_in * hw_in);
        let w = rng.vec(p.c_out * (p.c_in / p.group) * p.kernel_h * p.kernel_w);
        let b = rng.vec(p.c_out);
        let r = rng.vec(p.n * p.c_out * hw_out);
        let bias = (!seed.is_multiple_of(3)).then_some(&b[..]);
        let res = seed.is_multiple_of(2).then_some(&r[..]);
        let want = nchw_reference(p, &x, &w, bias, res);
        let x_in = if input_nchw {
            x.clone()
        } else {
            to_nhwc(&x, p.n, p.c_in, hw_in)
        };
        let wp = pack(p, &w);
        let r_nhwc = to_nhwc(&r, p.n, p.c_out, hw_out);
        let res_nhwc = res.map(|_| &r_nhwc[..]);
        for k in all_kernels() {
            let mut got = vec![f32::NAN; want.len()];
            let par = Par::SINGLE;
            conv2d_nhwc_with(k, par, p, input_nchw, &x_in, &wp, bias, res_nhwc, &mut got);
            let ctx = std::format!(
                "{} nchw_in={input_nchw} bias={} res={} {p:?}",
                k.name,
                bias.is_some(),
                res.is_some()
            );
            let got_nchw = to_nchw(&got, p.n, p.c_out, hw_out);
            if let Some(i) = (0..want.len()).find(|&i| {
                let (a, e) = (got_nchw[i], want[i]);
                // 2e-5: the portable lane rounds each product (no fused multiply-add), which
                // over ~1000 input channels drifts past 1e-5 from the FMA reference.
                !((a - e).abs() <= 2e-5 * e.abs().max(1.0) || (a.is_nan() && e.is_nan()))
            }) {
                panic!("{ctx}: at {i} got {} want {}", got_nchw[i], want[i]);
            }
            let mut par_got = vec![f32::NAN; want.len()];
            conv2d_nhwc_with(
                k,
                threads.par(),
                p,
                input_nchw,
                &x_in,
                &wp,
                bias,
                res_nhwc,
                &mut par_got,
            );
            assert!(
                got.iter()
                    .zip(&par_got)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "threads differ: {ctx}"
            );
        }
    }

    #[test]
    fn pointwise_matches_nchw() {
        let threads = crate::threads::Threads::new(2);
        let chans = [1, 7, 16, 20, 33, 80];
        let mut seed = 1;
        for (pi, hw) in [(1, 1), (3, 5), (7, 7), (14, 14)].into_iter().enumerate() {
            for (i, &c_in) in chans.iter().enumerate() {
                for (j, &c_out) in chans.iter().enumerate() {
                    let n = 1 + (i + j + pi) % 2;
                    let act = ACTS[(i + 2 * j + pi) % ACTS.len()];
                    let p = make(
                        n,
                        c_in,
                        hw,
                        c_out,
                        (1, 1),
                        (1, 1),
                        (0, 0, 0, 0),
                        (1, 1),
                        1,
                        act,
                    );
                    for input_nchw in [false, true] {
                        check_conv(&p, input_nchw, seed, &threads);
                        seed += 1;
                    }
                }
            }
        }
        // Wide channels (blocks of input channels), and parts of one pixel
        // each when threaded (the matrix-vector path) against tiles.
        for (n, hw, c_in, c_out) in [
            (1, (3, 1), 160, 200),
            (2, (2, 1), 400, 96),
            (1, (7, 7), 333, 56),
            (1, (1, 1), 960, 1280),
        ] {
            let p = make(
                n,
                c_in,
                hw,
                c_out,
                (1, 1),
                (1, 1),
                (0, 0, 0, 0),
                (1, 1),
                1,
                ACTS[seed as usize % ACTS.len()],
            );
            for input_nchw in [false, true] {
                check_conv(&p, input_nchw, seed, &threads);
                seed += 1;
            }
        }
    }

    #[test]
    fn depthwise_matches_nchw() {
        let threads = crate::threads::Threads::new(2);
        // (kernel, pads (top, left, bottom, right), dilation)
        let kernels = [
            ((3, 3), (1, 1, 1, 1), (1, 1)),
            ((5, 5), (2, 2, 2, 2), (1, 1)),
            ((1, 3), (0, 1, 0, 1), (1, 1)),
            ((3, 1), (1, 0, 1, 0), (1, 1)),
            ((3, 3), (0, 0, 1, 1), (1, 1)),
            ((5, 5), (1, 2, 2, 1), (1, 1)),
            ((3, 3), (1, 1, 0, 0), (1, 1)),
            ((3, 3), (2, 2, 2, 2), (2, 2)),
            ((7, 7), (3, 3, 3, 3), (1, 1)),
            // GhostNetV2's DFC convs: 1xK and Kx1 (width 1 has a fast path of its own).
            ((1, 5), (0, 2, 0, 2), (1, 1)),
            ((5, 1), (2, 0, 2, 0), (1, 1)),
            ((5, 1), (4, 0, 4, 0), (2, 1)),
        ];
        let mut seed = 1000;
        for (ki, &(kernel, pads, dil)) in kernels.iter().enumerate() {
            for stride in [(1, 1), (2, 2), (1, 2)] {
                for (pi, hw) in [(1, 1), (3, 5), (7, 7), (14, 14)].into_iter().enumerate() {
                    for (ci, c) in [1, 7, 16, 20, 33, 80].into_iter().enumerate() {
                        let span_h = dil.0 * (kernel.0 - 1) + 1;
                        let span_w = dil.1 * (kernel.1 - 1) + 1;
                        if hw.0 + pads.0 + pads.2 < span_h || hw.1 + pads.1 + pads.3 < span_w {
                            continue;
                        }
                        let n = 1 + (ki + pi + ci) % 2;
                        let act = ACTS[(ki + pi + 3 * ci) % ACTS.len()];
                        let p = make(n, c, hw, c, kernel, stride, pads, dil, c, act);
                        check_conv(&p, false, seed, &threads);
                        seed += 1;
                    }
                }
            }
        }
    }

    /// The fused expansion + depthwise pair against the two NHWC convs run one after the
    /// other, bit for bit, on every kernel set, for strips of 1, 2, 3 rows and the whole
    /// height, single- and multi-threaded, from NCHW and NHWC input.
    #[test]
    fn expand_depthwise_matches_two_convs() {
        let threads = crate::threads::Threads::new(2);
        // (n, c_in, (h, w), c, kernel, stride, pads (top, left, bottom, right), dilation)
        let cases = [
            (1, 8, (11, 9), 48, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1)),
            (2, 7, (10, 10), 20, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
            (1, 16, (9, 7), 33, (5, 5), (2, 2), (2, 2, 2, 2), (1, 1)),
            (1, 5, (8, 6), 17, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1)),
            (1, 3, (7, 7), 16, (3, 3), (2, 2), (0, 0, 1, 1), (1, 1)),
            (2, 4, (9, 9), 24, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2)),
            (1, 6, (3, 3), 80, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
            (1, 6, (1, 1), 20, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
            (1, 4, (6, 5), 9, (3, 1), (2, 1), (1, 0, 1, 0), (1, 1)),
            // Bottom rows past the input: the last output rows read padding only.
            (1, 4, (4, 4), 16, (3, 3), (1, 1), (0, 0, 4, 0), (1, 1)),
        ];
        for (ci, &(n, c_in, hw, c, kernel, stride, pads, dil)) in cases.iter().enumerate() {
            let act1 = ACTS[ci % ACTS.len()];
            let act2 = ACTS[(ci + 2) % ACTS.len()];
            let e = make(
                n,
                c_in,
                hw,
                c,
                (1, 1),
                (1, 1),
                (0, 0, 0, 0),
                (1, 1),
                1,
                act1,
            );
            let d = make(n, c, hw, c, kernel, stride, pads, dil, c, act2);
            let mut rng = Rng::new(5000 + ci as u32);
            let x = rng.vec(n * c_in * hw.0 * hw.1);
            let w1 = pack(&e, &rng.vec(c * c_in));
            let w2 = pack(&d, &rng.vec(c * kernel.0 * kernel.1));
            let (b1, b2) = (rng.vec(c), rng.vec(c));
            let x_nhwc = to_nhwc(&x, n, c_in, hw.0 * hw.1);
            for input_nchw in [false, true] {
                let x_in = if input_nchw { &x } else { &x_nhwc };
                for k in all_kernels() {
                    let mut mid = vec![f32::NAN; n * c * hw.0 * hw.1];
                    let mut want = vec![f32::NAN; n * c * d.h_out * d.w_out];
                    let single = Par::SINGLE;
                    conv2d_nhwc_with(
                        k,
                        single,
                        &e,
                        input_nchw,
                        x_in,
                        &w1,
                        Some(&b1),
                        None,
                        &mut mid,
                    );
                    conv2d_nhwc_with(k, single, &d, false, &mid, &w2, Some(&b2), None, &mut want);
                    for rows in [1, 2, 3, d.h_out] {
                        let p = ExpandDepthwiseNhwc {
                            expand: e,
                            depthwise: d,
                            rows,
                        };
                        for par in [Par::SINGLE, threads.par()] {
                            let mut got = vec![f32::NAN; want.len()];
                            let mut scratch = vec![f32::NAN; p.scratch_len()];
                            let ws = [&w1[..], &b1, &w2, &b2];
                            ed_with(k, par, &p, input_nchw, x_in, ws, &mut got, &mut scratch);
                            let same = got
                                .iter()
                                .zip(&want)
                                .all(|(a, b)| a.to_bits() == b.to_bits());
                            assert!(
                                same,
                                "{} case {ci} rows {rows} nchw_in={input_nchw} threads={}",
                                k.name,
                                par.threads()
                            );
                        }
                    }
                }
            }
        }
    }

    /// The Ghost module against its definition computed with the NCHW kernels:
    /// pointwise, depthwise over the first channels, concatenation, residual.
    #[test]
    fn ghost_module_matches_composition() {
        let threads = crate::threads::Threads::new(2);
        // (n, c_in, (h, w), init, k, kernel, pads (top, left), act1, act2)
        let cases = [
            (
                1,
                16,
                (7, 7),
                40,
                40,
                (3, 3),
                (1, 1),
                Activation::Relu,
                Activation::Relu,
            ),
            (
                2,
                33,
                (14, 14),
                40,
                33,
                (3, 3),
                (1, 1),
                Activation::None,
                Activation::None,
            ),
            (
                1,
                20,
                (14, 14),
                48,
                20,
                (5, 5),
                (2, 2),
                Activation::HardSwish,
                Activation::Relu,
            ),
            (
                2,
                7,
                (3, 5),
                9,
                7,
                (3, 3),
                (1, 1),
                Activation::Relu,
                Activation::Sigmoid,
            ),
            (
                1,
                80,
                (7, 7),
                80,
                80,
                (1, 3),
                (0, 1),
                Activation::Sigmoid,
                Activation::HardSwish,
            ),
            (
                1,
                5,
                (1, 1),
                3,
                3,
                (3, 3),
                (1, 1),
                Activation::Relu,
                Activation::Relu,
            ),
            (
                2,
                24,
                (14, 14),
                36,
                17,
                (2, 2),
                (0, 0),
                Activation::Relu,
                Activation::None,
            ),
            (
                1,
                12,
                (6, 9),
                16,
                16,
                (4, 2),
                (2, 1),
                Activation::None,
                Activation::Sigmoid,
            ),
            (
                1,
                40,
                (14, 14),
                100,
                1,
                (3, 3),
                (1, 1),
                Activation::Relu,
                Activation::Relu,
            ),
            (
                1,
                8,
                (5, 5),
                4,
                0,
                (3, 3),
                (1, 1),
                Activation::Relu,
                Activation::Relu,
            ),
        ];
        for (ci, &(n, c_in, (h, w), init, kc, (kh, kw), (pt, pl), act1, act2)) in
            cases.iter().enumerate()
        {
            let hw = h * w;
            let primary = make(
                n,
                c_in,
                (h, w),
                init,
                (1, 1),
                (1, 1),
                (0, 0, 0, 0),
                (1, 1),
                1,
                act1,
            );
            // Pads that keep the size: bottom/right = kernel - 1 - top/left.
            let cheap = make(
                n,
                kc,
                (h, w),
                kc,
                (kh, kw),
                (1, 1),
                (pt, pl, kh - 1 - pt, kw - 1 - pl),
                (1, 1),
                kc,
                act2,
            );
            assert_eq!((cheap.h_out, cheap.w_out), (h, w));
            let mut rng = Rng::new(500 + ci as u32);
            let x = rng.vec(n * c_in * hw);
            let (w1, b1) = (rng.vec(init * c_in), rng.vec(init));
            let (w2, b2) = (rng.vec(kc * kh * kw), rng.vec(kc));
            let oc = init + kc;
            let r = rng.vec(n * oc * hw);
            // Reference, NCHW.
            let y1 = nchw_reference(&primary, &x, &w1, Some(&b1), None);
            let mut y1k = Vec::new();
            for b in 0..n {
                y1k.extend_from_slice(&y1[b * init * hw..][..kc * hw]);
            }
            // (The NCHW kernel takes no empty group.)
            let y2 = if kc == 0 {
                Vec::new()
            } else {
                nchw_reference(&cheap, &y1k, &w2, Some(&b2), None)
            };
            for with_res in [false, true] {
                let mut want = Vec::new();
                for b in 0..n {
                    want.extend_from_slice(&y1[b * init * hw..][..init * hw]);
                    want.extend_from_slice(&y2[b * kc * hw..][..kc * hw]);
                }
                if with_res {
                    add(&mut want, &r);
                }
                let g = GhostModule { primary, cheap };
                let input_nchw = ci % 2 == 1;
                let x_in = if input_nchw {
                    x.clone()
                } else {
                    to_nhwc(&x, n, c_in, hw)
                };
                let (w1p, w2p) = (pack(&primary, &w1), to_nhwc(&w2, 1, kc, kh * kw));
                let r_nhwc = to_nhwc(&r, n, oc, hw);
                let res = with_res.then_some(&r_nhwc[..]);
                for k in all_kernels() {
                    let mut got = vec![f32::NAN; want.len()];
                    let weights = [&w1p[..], &b1, &w2p, &b2];
                    ghost_with(
                        k,
                        Par::SINGLE,
                        &g,
                        input_nchw,
                        &x_in,
                        weights,
                        res,
                        &mut got,
                    );
                    assert_close(&to_nchw(&got, n, oc, hw), &want);
                    let mut par_got = vec![f32::NAN; want.len()];
                    let weights = [&w1p[..], &b1, &w2p, &b2];
                    ghost_with(
                        k,
                        threads.par(),
                        &g,
                        input_nchw,
                        &x_in,
                        weights,
                        res,
                        &mut par_got,
                    );
                    assert!(
                        got.iter()
                            .zip(&par_got)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "threads differ: {} case {ci}",
                        k.name
                    );
                }
            }
        }
    }

    #[test]
    fn squeeze_excite_matches_nchw() {
        let mut rng = Rng::new(77);
        for (n, c, spatial, mid) in [
            (1, 3, 1, 1),
            (2, 5, 7, 2),
            (1, 17, 49, 5),
            (2, 80, 49, 20),
            (1, 72, 196, 20),
        ] {
            for (act, gate) in [
                (Activation::Relu, Activation::Sigmoid),
                (Activation::Silu, Activation::Sigmoid),
                (
                    Activation::Relu,
                    Activation::HardSigmoid {
                        alpha: 1.0 / 6.0,
                        beta: 0.5,
                    },
                ),
            ] {
                let p = SqueezeExcite {
                    n,
                    c,
                    spatial,
                    mid,
                    act,
                    gate,
                };
                let x = rng.vec(n * c * spatial);
                let (w1, b1) = (rng.vec(mid * c), rng.vec(mid));
                let (w2, b2) = (rng.vec(c * mid), rng.vec(c));
                let mut scratch = vec![0.0; c + mid];
                let mut want = vec![f32::NAN; x.len()];
                squeeze_excite(
                    Par::SINGLE,
                    &p,
                    InOut::Separate(&x, &mut want),
                    &w1,
                    &b1,
                    &w2,
                    &b2,
                    &mut scratch,
                );
                let x_nhwc = to_nhwc(&x, n, c, spatial);
                for k in all_kernels() {
                    let mut got = vec![f32::NAN; x.len()];
                    let weights = [&w1[..], &b1, &w2, &b2];
                    se_with(
                        k,
                        Par::SINGLE,
                        &p,
                        InOut::Separate(&x_nhwc, &mut got),
                        weights,
                        &mut scratch,
                    );
                    assert_close(&to_nchw(&got, n, c, spatial), &want);
                }
                let mut got = vec![f32::NAN; x.len()];
                squeeze_excite_nhwc(
                    Par::SINGLE,
                    &p,
                    InOut::Separate(&x_nhwc, &mut got),
                    &w1,
                    &b1,
                    &w2,
                    &b2,
                    &mut scratch,
                );
                assert_close(&to_nchw(&got, n, c, spatial), &want);
            }
        }
    }

    #[test]
    fn global_avg_pool_matches_nchw() {
        let mut rng = Rng::new(31);
        for (n, c, spatial) in [
            (1, 1, 1),
            (2, 3, 49),
            (1, 960, 49),
            (2, 20, 17),
            (1, 33, 196),
        ] {
            let x = rng.vec(n * c * spatial);
            let mut want = vec![f32::NAN; n * c];
            global_avg_pool(n * c, spatial, &x, &mut want);
            let x_nhwc = to_nhwc(&x, n, c, spatial);
            for k in all_kernels() {
                let mut got = vec![f32::NAN; n * c];
                gap_with(k, n, c, spatial, &x_nhwc, &mut got);
                assert_close(&got, &want);
            }
            let mut got = vec![f32::NAN; n * c];
            global_avg_pool_nhwc(n, c, spatial, &x_nhwc, &mut got);
            assert_close(&got, &want);
        }
        let mut out = [0.0; 3];
        global_avg_pool_nhwc(1, 3, 0, &[], &mut out);
        assert!(out.iter().all(|v| v.is_nan()));
        global_avg_pool_nhwc(2, 0, 5, &[], &mut []);
    }

    /// The public entry points pick a kernel set and agree with the NCHW kernel.
    #[test]
    fn public_entry_points() {
        let p = make(
            2,
            20,
            (7, 7),
            20,
            (3, 3),
            (2, 2),
            (1, 1, 1, 1),
            (1, 1),
            20,
            Activation::Relu,
        );
        let mut rng = Rng::new(3);
        let x = rng.vec(p.n * p.c_in * 49);
        let w = rng.vec(p.c_out * 9);
        let b = rng.vec(p.c_out);
        let want = nchw_reference(&p, &x, &w, Some(&b), None);
        let mut got = vec![f32::NAN; want.len()];
        let x_nhwc = to_nhwc(&x, p.n, p.c_in, 49);
        conv2d_nhwc(
            Par::SINGLE,
            &p,
            false,
            &x_nhwc,
            &pack(&p, &w),
            Some(&b),
            None,
            &mut got,
        );
        assert_close(&to_nchw(&got, p.n, p.c_out, p.h_out * p.w_out), &want);
    }

    #[test]
    #[should_panic(expected = "pointwise (group 1) or depthwise")]
    fn dense_convolutions_are_refused() {
        let p = make(
            1,
            4,
            (5, 5),
            4,
            (3, 3),
            (1, 1),
            (1, 1, 1, 1),
            (1, 1),
            1,
            Activation::None,
        );
        let mut y = vec![0.0; 100];
        conv2d_nhwc(
            Par::SINGLE,
            &p,
            false,
            &[0.0; 100],
            &[0.0; 144],
            None,
            None,
            &mut y,
        );
    }
}
