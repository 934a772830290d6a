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

use super::conv::Conv2d;
use super::fused::SqueezeExcite;
use super::{axpy, valid_range};
use crate::activation::{apply_in_place, Activation};
use crate::pool::{Par, SplitRead, SplitWrite};
use core::ops::Range;

/// A Ghost module in NHWC: a pointwise convolution (`primary`) followed by a
/// depthwise one (`cheap`) over the first channels of its result, the two
/// written side by side into one output. See [`ghost_module_nhwc`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GhostModuleNhwc {
    /// Pointwise (1x1, stride 1, no padding, group 1): `c_in -> init` channels,
    /// `init = primary.c_out`.
    pub primary: Conv2d,
    /// Depthwise over `k = cheap.c_in = cheap.c_out <= init` channels, stride
    /// 1, keeping the height and width (any kernel, padding and dilation that do).
    pub cheap: Conv2d,
    /// The input is NCHW rather than NHWC.
    pub input_nchw: bool,
}

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
        detected(),
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
/// The input is NHWC `[n, h, w, c_in]`, or NCHW when `p.input_nchw`. `w1` is
/// packed `[c_in][init]`, `b1` is `[init]`, `w2` `[kernel_h * kernel_w][k]`,
/// `b2` `[k]`. Work is split over rows on `par`: all primary rows first, then
/// the cheap rows (which read primary rows other parts wrote); the result
/// does not depend on the split. Panics on other shapes or sizes.
#[allow(clippy::too_many_arguments)] // the module's two weight tensors, as generated code has them
pub fn ghost_module_nhwc(
    par: Par<'_>,
    p: &GhostModuleNhwc,
    input: &[f32],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    ghost_with(detected(), par, p, input, w1, b1, w2, b2, residual, output);
}

/// [`squeeze_excite`](super::fused::squeeze_excite) on NHWC `x` and `out`
/// (`[n, spatial, c]`): `out[n, s, c] = x[n, s, c] * gate(w2 · act(w1 ·
/// mean(x[n]) + b1) + b2)[c]`. The weights are as there (`w1` `[mid, c]`,
/// `w2` `[c, mid]`); `scratch` holds at least `c + mid` f32s.
#[allow(clippy::too_many_arguments)] // the block's four weight tensors, as generated code has them
pub fn squeeze_excite_nhwc(
    p: &SqueezeExcite,
    x: &[f32],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    scratch: &mut [f32],
    out: &mut [f32],
) {
    se_with(detected(), p, x, w1, b1, w2, b2, scratch, out);
}

/// [`squeeze_excite_nhwc`] over its own input (`x` is `[n, spatial, c]`), for when nothing
/// reads the input afterwards (the compiler's memory plan then gives both one range).
#[allow(clippy::too_many_arguments)] // as squeeze_excite
pub fn squeeze_excite_nhwc_in_place(
    p: &SqueezeExcite,
    x: &mut [f32],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    scratch: &mut [f32],
) {
    let (c, hw) = (p.c, p.spatial);
    assert!(scratch.len() >= c + p.mid && x.len() >= p.n * c * hw);
    let k = detected();
    for b in 0..p.n {
        let xb = &mut x[b * c * hw..][..c * hw];
        sum_pixels_run(k, xb, hw, 1.0 / hw as f32, &mut scratch[..c]);
        super::fused::excite(p, w1, b1, w2, b2, scratch);
        let gate = &scratch[..c];
        for pixel in xb.chunks_exact_mut(c.max(1)) {
            for (v, g) in pixel.iter_mut().zip(gate) {
                *v *= g;
            }
        }
    }
}

/// The mean over the spatial positions of NHWC `input` (`[n, spatial, c]`)
/// into `output` (`[n, c]`). `spatial == 0` gives NaN (0 / 0).
pub fn global_avg_pool_nhwc(n: usize, c: usize, spatial: usize, input: &[f32], output: &mut [f32]) {
    gap_with(detected(), n, c, spatial, input, output);
}

/// Parts per thread: a little more than one, so uneven parts balance out.
const PARTS_PER_THREAD: usize = 2;

/// Below this many multiply-adds a call runs inline, not on the pool.
const MIN_PARALLEL_WORK: usize = 1 << 16;

/// The kernels to run: an x86 instruction set, or `None` for the portable code.
#[cfg(target_arch = "x86_64")]
type Kernels = Option<super::x86::Isa>;
/// The kernels to run: only the portable code here.
#[cfg(not(target_arch = "x86_64"))]
type Kernels = Option<core::convert::Infallible>;

#[inline]
fn detected() -> Kernels {
    #[cfg(target_arch = "x86_64")]
    {
        super::x86::detected()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
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

/// The activation the kernels apply (never `Sigmoid`), and whether a sigmoid
/// remains to be applied after them (see [`finish`]). The portable and SIMD
/// kernels split it the same way.
fn split_act(act: Activation) -> (Activation, bool) {
    match act {
        Activation::Sigmoid => (Activation::None, true),
        a => (a, false),
    }
}

/// Applies the sigmoid [`split_act`] left out to channels `chans` of every
/// pixel of `y` (pixels of `stride` f32s).
fn finish(sigmoid: bool, y: &mut [f32], stride: usize, chans: Range<usize>) {
    if !sigmoid {
        return;
    }
    if chans == (0..stride) {
        apply_in_place(Activation::Sigmoid, y);
    } else {
        for px in y.chunks_exact_mut(stride) {
            apply_in_place(Activation::Sigmoid, &mut px[chans.clone()]);
        }
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

/// 1x1, stride 1, no padding, same size.
fn is_pointwise(p: &Conv2d) -> bool {
    p.kernel_h == 1
        && p.kernel_w == 1
        && p.stride_h == 1
        && p.stride_w == 1
        && p.pad_top == 0
        && p.pad_left == 0
        && p.h_out == p.h_in
        && p.w_out == p.w_in
}

/// Operands of a pointwise convolution over a run of pixels of one batch item,
/// shared by the portable and SIMD kernels.
pub(crate) struct PwNhwc<'a> {
    /// The batch item's input: `[hw][c_in]`, or `[c_in][hw]` when `nchw`.
    pub(crate) x: &'a [f32],
    pub(crate) nchw: bool,
    pub(crate) hw: usize,
    pub(crate) c_in: usize,
    pub(crate) c_out: usize,
    /// `[c_in][c_out]`.
    pub(crate) w: &'a [f32],
    pub(crate) bias: Option<&'a [f32]>,
    /// The run's first pixel.
    pub(crate) first: usize,
    /// Never `Sigmoid` (see [`split_act`]).
    pub(crate) act: Activation,
}

/// Operands of a depthwise convolution, shared by the portable and SIMD kernels.
pub(crate) struct DwNhwc<'a> {
    /// The geometry; `c_out` channels.
    pub(crate) p: &'a Conv2d,
    /// `[kernel_h * kernel_w][c_out]`.
    pub(crate) w: &'a [f32],
    pub(crate) bias: Option<&'a [f32]>,
    /// Never `Sigmoid` (see [`split_act`]).
    pub(crate) act: Activation,
}

impl DwNhwc<'_> {
    /// Panics unless the geometry and weights are usable by the kernels.
    pub(crate) fn check(&self) {
        let p = self.p;
        assert!(p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0);
        assert!(self.w.len() >= p.kernel_h * p.kernel_w * p.c_out);
        assert!(self.bias.is_none_or(|b| b.len() >= p.c_out));
        assert!(self.act != Activation::Sigmoid);
    }
}

#[allow(clippy::too_many_arguments)]
fn conv2d_nhwc_with(
    k: Kernels,
    par: Par<'_>,
    p: &Conv2d,
    input_nchw: bool,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    let pointwise = is_pointwise(p) && p.group == 1;
    let depthwise = !pointwise && p.group == p.c_in && p.group == p.c_out;
    assert!(
        pointwise || (depthwise && !input_nchw),
        "conv2d_nhwc: pointwise (group 1) or depthwise (NHWC input) only"
    );
    assert!(p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0);
    assert_eq!(
        input.len(),
        p.n * p.c_in * p.h_in * p.w_in,
        "conv2d_nhwc: input size"
    );
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
    let (act, sigmoid) = split_act(p.activation);
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
                pointwise_run(k, &a, res, y, p.c_out, r.len() * p.w_out);
            } else {
                let d = DwNhwc {
                    p,
                    w: weight,
                    bias,
                    act,
                };
                depthwise_run(k, &d, x, res, y, r);
            }
        });
        finish(sigmoid, out, p.c_out, 0..p.c_out);
    });
}

#[allow(clippy::too_many_arguments)]
fn ghost_with(
    k: Kernels,
    par: Par<'_>,
    g: &GhostModuleNhwc,
    input: &[f32],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    let (pp, cp) = (&g.primary, &g.cheap);
    assert!(
        is_pointwise(pp) && pp.group == 1,
        "ghost_module_nhwc: the primary convolution must be pointwise"
    );
    let (init, kc) = (pp.c_out, cp.c_out);
    assert!(
        cp.group == cp.c_in && cp.group == cp.c_out && kc <= init,
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
    let (act1, sigmoid1) = split_act(pp.activation);
    par.for_each_part(output, parts, &bounds, &|i, out| {
        let rows = i * rows / parts..(i + 1) * rows / parts;
        for_each_item(rows, h, |item, r, at| {
            let a = PwNhwc {
                x: &input[item * in_item..][..in_item],
                nchw: g.input_nchw,
                hw,
                c_in: pp.c_in,
                c_out: init,
                w: w1,
                bias: Some(b1),
                first: r.start * w,
                act: act1,
            };
            let y = &mut out[at * row_len..(at + r.len()) * row_len];
            pointwise_run(k, &a, None, y, oc, r.len() * w);
        });
        finish(sigmoid1, out, oc, 0..init);
    });

    // 2. The cheap half: each part writes channels init.. of its own rows and
    // reads channels ..k of any row, which nothing writes now.
    let (act2, sigmoid2) = split_act(cp.activation);
    let d = DwNhwc {
        p: cp,
        w: w2,
        bias: Some(b2),
        act: act2,
    };
    if kc > 0 {
        par.for_each_split(output, oc, 0..kc, init..oc, w, parts, &|_, src, mut dst| {
            let px = dst.pixels();
            for_each_item(px.start / w..px.end / w, h, |item, r, _| {
                let first = item * hw + r.start * w;
                let count = r.len() * w;
                let res = residual.map(|res| &res[first * oc..(first + count) * oc]);
                // A sigmoid comes after the kernel, and the residual after it.
                let fused = if sigmoid2 { None } else { res };
                cheap_run(k, &d, src, &mut dst, item, r, fused);
                if sigmoid2 {
                    for q in 0..count {
                        let y = dst.pixel(first + q);
                        apply_in_place(Activation::Sigmoid, y);
                        if let Some(res) = res {
                            for (y, &r) in y.iter_mut().zip(&res[q * oc + init..][..kc]) {
                                *y += r;
                            }
                        }
                    }
                }
            });
        });
    }

    // 3. The residual on the primary half, now that nothing reads it.
    if let Some(res) = residual {
        par.for_each_part(output, parts, &bounds, &|i, out| {
            add_channels_run(k, out, &res[bounds(i)..bounds(i + 1)], oc, 0..init);
        });
    }
}

#[allow(clippy::too_many_arguments)]
fn se_with(
    k: Kernels,
    p: &SqueezeExcite,
    x: &[f32],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    scratch: &mut [f32],
    out: &mut [f32],
) {
    let (c, hw, mid) = (p.c, p.spatial, p.mid);
    assert_eq!(x.len(), p.n * hw * c, "squeeze_excite_nhwc: input size");
    assert_eq!(out.len(), x.len(), "squeeze_excite_nhwc: output size");
    assert_eq!(w1.len(), mid * c, "squeeze_excite_nhwc: w1 size");
    assert_eq!(b1.len(), mid, "squeeze_excite_nhwc: b1 size");
    assert_eq!(w2.len(), c * mid, "squeeze_excite_nhwc: w2 size");
    assert_eq!(b2.len(), c, "squeeze_excite_nhwc: b2 size");
    assert!(
        scratch.len() >= c + mid,
        "squeeze_excite_nhwc: scratch too short"
    );
    let (mean, rest) = scratch.split_at_mut(c);
    let hidden = &mut rest[..mid];
    // The gate reuses `mean` once the hidden layer is computed.
    for b in 0..p.n {
        let xb = &x[b * hw * c..][..hw * c];
        let ob = &mut out[b * hw * c..][..hw * c];
        sum_pixels_run(k, xb, hw, 1.0 / hw as f32, mean);
        matvec_run(k, mean, w1, c, hidden);
        for (h, &bias) in hidden.iter_mut().zip(b1) {
            *h = p.act.apply(*h + bias);
        }
        matvec_run(k, hidden, w2, mid, mean);
        for (g, &bias) in mean.iter_mut().zip(b2) {
            *g = p.gate.apply(*g + bias);
        }
        scale_pixels_run(k, xb, mean, ob);
    }
}

fn gap_with(k: Kernels, n: usize, c: usize, spatial: usize, input: &[f32], output: &mut [f32]) {
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
        sum_pixels_run(k, x, spatial, 1.0 / spatial as f32, y);
    }
}

// Dispatch: the SIMD kernels for an ISA, or their portable twins.

fn pointwise_run(
    k: Kernels,
    a: &PwNhwc,
    res: Option<&[f32]>,
    y: &mut [f32],
    ys: usize,
    count: usize,
) {
    match k {
        #[cfg(target_arch = "x86_64")]
        Some(isa) => super::x86::nhwc::pointwise_nhwc(isa, a, res, y, ys, count),
        #[cfg(not(target_arch = "x86_64"))]
        Some(never) => match never {},
        None => pointwise_portable(a, res, y, ys, count),
    }
}

fn depthwise_run(
    k: Kernels,
    d: &DwNhwc,
    x: &[f32],
    res: Option<&[f32]>,
    y: &mut [f32],
    rows: Range<usize>,
) {
    match k {
        #[cfg(target_arch = "x86_64")]
        Some(isa) => super::x86::nhwc::depthwise_nhwc(isa, d, x, res, y, rows),
        #[cfg(not(target_arch = "x86_64"))]
        Some(never) => match never {},
        None => depthwise_portable(d, x, res, y, rows),
    }
}

fn cheap_run(
    k: Kernels,
    d: &DwNhwc,
    src: &SplitRead,
    dst: &mut SplitWrite,
    item: usize,
    rows: Range<usize>,
    res: Option<&[f32]>,
) {
    match k {
        #[cfg(target_arch = "x86_64")]
        Some(isa) => super::x86::nhwc::ghost_cheap_nhwc(isa, d, src, dst, item, rows, res),
        #[cfg(not(target_arch = "x86_64"))]
        Some(never) => match never {},
        None => cheap_portable(d, src, dst, item, rows, res),
    }
}

fn sum_pixels_run(k: Kernels, x: &[f32], pixels: usize, scale: f32, out: &mut [f32]) {
    match k {
        #[cfg(target_arch = "x86_64")]
        Some(isa) => super::x86::nhwc::sum_pixels_nhwc(isa, x, pixels, scale, out),
        #[cfg(not(target_arch = "x86_64"))]
        Some(never) => match never {},
        None => sum_pixels_portable(x, pixels, scale, out),
    }
}

fn scale_pixels_run(k: Kernels, x: &[f32], g: &[f32], out: &mut [f32]) {
    match k {
        #[cfg(target_arch = "x86_64")]
        Some(isa) => super::x86::nhwc::scale_pixels_nhwc(isa, x, g, out),
        #[cfg(not(target_arch = "x86_64"))]
        Some(never) => match never {},
        None if g.is_empty() => {}
        None => {
            for (o, xq) in out.chunks_exact_mut(g.len()).zip(x.chunks_exact(g.len())) {
                for ((o, &x), &g) in o.iter_mut().zip(xq).zip(g) {
                    *o = x * g;
                }
            }
        }
    }
}

/// `out[j] = sum_i x[i] * w[j * len + i]` (rows of `w` against `x`).
fn matvec_run(k: Kernels, x: &[f32], w: &[f32], len: usize, out: &mut [f32]) {
    match k {
        #[cfg(target_arch = "x86_64")]
        Some(isa) => super::x86::dot_rows(isa, x, w, len, out),
        #[cfg(not(target_arch = "x86_64"))]
        Some(never) => match never {},
        None => {
            for (j, o) in out.iter_mut().enumerate() {
                *o = super::dot(&w[j * len..][..len], &x[..len]);
            }
        }
    }
}

fn add_channels_run(k: Kernels, dst: &mut [f32], src: &[f32], stride: usize, chans: Range<usize>) {
    match k {
        #[cfg(target_arch = "x86_64")]
        Some(isa) => super::x86::nhwc::add_channels_nhwc(isa, dst, src, stride, chans),
        #[cfg(not(target_arch = "x86_64"))]
        Some(never) => match never {},
        None => {
            for (d, s) in dst.chunks_exact_mut(stride).zip(src.chunks_exact(stride)) {
                for (d, &s) in d[chans.clone()].iter_mut().zip(&s[chans.clone()]) {
                    *d += s;
                }
            }
        }
    }
}

// The portable twins: the reference the SIMD kernels are tested against.

/// `y[q, co] = act(bias[co] + sum_ci x[first + q, ci] * w[ci, co] + res[q, co])`
/// for `q < count`; `y` has pixels of `ys` f32s, `res` of `c_out`.
fn pointwise_portable(a: &PwNhwc, res: Option<&[f32]>, y: &mut [f32], ys: usize, count: usize) {
    let (hw, c_in, c_out) = (a.hw, a.c_in, a.c_out);
    for q in 0..count {
        let out = &mut y[q * ys..][..c_out];
        match a.bias {
            Some(b) => out.copy_from_slice(&b[..c_out]),
            None => out.fill(0.0),
        }
        let px = a.first + q;
        for ci in 0..c_in {
            let xv = if a.nchw {
                a.x[ci * hw + px]
            } else {
                a.x[px * c_in + ci]
            };
            axpy(out, &a.w[ci * c_out..][..c_out], xv);
        }
        if let Some(res) = res {
            add(out, &res[q * c_out..][..c_out]);
        }
        apply_in_place(a.act, out);
    }
}

/// Depthwise output rows `rows` of one batch item (`x` is `[h_in * w_in][c]`,
/// `y` and `res` `[rows.len() * w_out][c]`): `act(conv + bias + res)`.
fn depthwise_portable(
    d: &DwNhwc,
    x: &[f32],
    res: Option<&[f32]>,
    y: &mut [f32],
    rows: Range<usize>,
) {
    d.check();
    let p = d.p;
    let c = p.c_out;
    let mut o = 0;
    for oy in rows {
        for ox in 0..p.w_out {
            let out = &mut y[o * c..][..c];
            dw_pixel(d, oy, ox, |i| &x[i * c..][..c], out);
            if let Some(res) = res {
                add(out, &res[o * c..][..c]);
            }
            apply_in_place(d.act, out);
            o += 1;
        }
    }
}

/// The cheap half of a Ghost module for rows `rows` of batch item `item`:
/// `act(conv + bias) + res`, `res` holding those rows' pixels of `stride` f32s.
fn cheap_portable(
    d: &DwNhwc,
    src: &SplitRead,
    dst: &mut SplitWrite,
    item: usize,
    rows: Range<usize>,
    res: Option<&[f32]>,
) {
    d.check();
    let p = d.p;
    let (stride, write) = (dst.stride(), dst.write());
    let first = item * p.h_out * p.w_out + rows.start * p.w_out;
    let mut q = 0;
    for oy in rows {
        for ox in 0..p.w_out {
            let out = dst.pixel(first + q);
            dw_pixel(d, oy, ox, |i| src.pixel(item * p.h_in * p.w_in + i), out);
            apply_in_place(d.act, out);
            if let Some(res) = res {
                add(out, &res[q * stride + write.start..][..write.len()]);
            }
            q += 1;
        }
    }
}

/// One depthwise output pixel before residual and activation:
/// `out = bias + sum w[tap] * x[pixel]` over the valid taps in (row, column)
/// order; `x(i)` is input pixel `i`'s channels.
fn dw_pixel<'a>(d: &DwNhwc, oy: usize, ox: usize, x: impl Fn(usize) -> &'a [f32], out: &mut [f32]) {
    let p = d.p;
    let c = p.c_out;
    match d.bias {
        Some(b) => out.copy_from_slice(&b[..c]),
        None => out.fill(0.0),
    }
    for ky in valid_range(oy * p.stride_h, p.pad_top, p.dilation_h, p.kernel_h, p.h_in) {
        let iy = oy * p.stride_h + ky * p.dilation_h - p.pad_top;
        for kx in valid_range(
            ox * p.stride_w,
            p.pad_left,
            p.dilation_w,
            p.kernel_w,
            p.w_in,
        ) {
            let ix = ox * p.stride_w + kx * p.dilation_w - p.pad_left;
            let xv = x(iy * p.w_in + ix);
            let wv = &d.w[(ky * p.kernel_w + kx) * c..][..c];
            for ((o, &w), &x) in out.iter_mut().zip(wv).zip(xv) {
                *o += w * x;
            }
        }
    }
}

/// Per-channel sums over the pixels, in pixel order, times `scale`.
fn sum_pixels_portable(x: &[f32], pixels: usize, scale: f32, out: &mut [f32]) {
    let c = out.len();
    out.fill(0.0);
    for q in 0..pixels {
        add(out, &x[q * c..][..c]);
    }
    for o in out {
        *o *= scale;
    }
}

/// `dst[i] += src[i]` over the common length.
#[inline(always)]
fn add(dst: &mut [f32], src: &[f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::kernels::conv::conv2d;
    use crate::kernels::fused::squeeze_excite;
    use crate::kernels::pool::global_avg_pool;
    use crate::testutil::{assert_close, Rng};
    use std::vec;
    use std::vec::Vec;

    /// `[n, c, hw]` -> `[n, hw, c]`.
    fn to_nhwc(x: &[f32], n: usize, c: usize, hw: usize) -> Vec<f32> {
        let mut y = vec![0.0; x.len()];
        for b in 0..n {
            for ch in 0..c {
                for s in 0..hw {
                    y[(b * hw + s) * c + ch] = x[(b * c + ch) * hw + s];
                }
            }
        }
        y
    }

    /// `[n, hw, c]` -> `[n, c, hw]`.
    fn to_nchw(x: &[f32], n: usize, c: usize, hw: usize) -> Vec<f32> {
        let mut y = vec![0.0; x.len()];
        for b in 0..n {
            for ch in 0..c {
                for s in 0..hw {
                    y[(b * c + ch) * hw + s] = x[(b * hw + s) * c + ch];
                }
            }
        }
        y
    }

    /// OIHW weights packed as the compiler does: pointwise `[c_in][c_out]`,
    /// depthwise `[kh * kw][c]`.
    fn pack(p: &Conv2d, w: &[f32]) -> Vec<f32> {
        if is_pointwise(p) && p.group == 1 {
            to_nhwc(w, 1, p.c_out, p.c_in)
        } else {
            to_nhwc(w, 1, p.c_out, p.kernel_h * p.kernel_w)
        }
    }

    /// Every kernel set this machine runs: the portable code and each ISA.
    fn all_kernels() -> Vec<Kernels> {
        #[allow(unused_mut)]
        let mut ks = vec![None];
        #[cfg(target_arch = "x86_64")]
        ks.extend(crate::kernels::x86::available().map(Some));
        ks
    }

    use crate::testutil::conv_params as make;

    const ACTS: [Activation; 4] = [
        Activation::None,
        Activation::Relu,
        Activation::HardSwish,
        Activation::Sigmoid,
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
    fn check_conv(p: &Conv2d, input_nchw: bool, seed: u32, threads: &crate::pool::Threads) {
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
                "{k:?} nchw_in={input_nchw} bias={} res={} {p:?}",
                bias.is_some(),
                res.is_some()
            );
            let got_nchw = to_nchw(&got, p.n, p.c_out, hw_out);
            if let Some(i) = (0..want.len()).find(|&i| {
                let (a, e) = (got_nchw[i], want[i]);
                !((a - e).abs() <= 1e-5 * e.abs().max(1.0) || (a.is_nan() && e.is_nan()))
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
        let threads = crate::pool::Threads::new(2);
        let chans = [1, 7, 16, 20, 33, 80];
        let mut seed = 1;
        for (pi, hw) in [(1, 1), (3, 5), (7, 7), (14, 14)].into_iter().enumerate() {
            for (i, &c_in) in chans.iter().enumerate() {
                for (j, &c_out) in chans.iter().enumerate() {
                    let n = 1 + (i + j + pi) % 2;
                    let act = ACTS[(i + 2 * j + pi) % 4];
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
                ACTS[seed as usize % 4],
            );
            for input_nchw in [false, true] {
                check_conv(&p, input_nchw, seed, &threads);
                seed += 1;
            }
        }
    }

    #[test]
    fn depthwise_matches_nchw() {
        let threads = crate::pool::Threads::new(2);
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
                        let act = ACTS[(ki + pi + 3 * ci) % 4];
                        let p = make(n, c, hw, c, kernel, stride, pads, dil, c, act);
                        check_conv(&p, false, seed, &threads);
                        seed += 1;
                    }
                }
            }
        }
    }

    /// The Ghost module against its definition computed with the NCHW kernels:
    /// pointwise, depthwise over the first channels, concatenation, residual.
    #[test]
    fn ghost_module_matches_composition() {
        let threads = crate::pool::Threads::new(2);
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
                let g = GhostModuleNhwc {
                    primary,
                    cheap,
                    input_nchw: ci % 2 == 1,
                };
                let x_in = if g.input_nchw {
                    x.clone()
                } else {
                    to_nhwc(&x, n, c_in, hw)
                };
                let (w1p, w2p) = (pack(&primary, &w1), to_nhwc(&w2, 1, kc, kh * kw));
                let r_nhwc = to_nhwc(&r, n, oc, hw);
                let res = with_res.then_some(&r_nhwc[..]);
                for k in all_kernels() {
                    let mut got = vec![f32::NAN; want.len()];
                    ghost_with(
                        k,
                        Par::SINGLE,
                        &g,
                        &x_in,
                        &w1p,
                        &b1,
                        &w2p,
                        &b2,
                        res,
                        &mut got,
                    );
                    assert_close(&to_nchw(&got, n, oc, hw), &want);
                    let mut par_got = vec![f32::NAN; want.len()];
                    ghost_with(
                        k,
                        threads.par(),
                        &g,
                        &x_in,
                        &w1p,
                        &b1,
                        &w2p,
                        &b2,
                        res,
                        &mut par_got,
                    );
                    assert!(
                        got.iter()
                            .zip(&par_got)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "threads differ: {k:?} case {ci}"
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
                squeeze_excite(&p, &x, &w1, &b1, &w2, &b2, &mut scratch, &mut want);
                let x_nhwc = to_nhwc(&x, n, c, spatial);
                for k in all_kernels() {
                    let mut got = vec![f32::NAN; x.len()];
                    se_with(k, &p, &x_nhwc, &w1, &b1, &w2, &b2, &mut scratch, &mut got);
                    assert_close(&to_nchw(&got, n, c, spatial), &want);
                }
                let mut got = vec![f32::NAN; x.len()];
                squeeze_excite_nhwc(&p, &x_nhwc, &w1, &b1, &w2, &b2, &mut scratch, &mut got);
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
