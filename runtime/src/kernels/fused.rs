//! Kernels for ops the compiler's fusion passes create: residual accumulation, a whole
//! squeeze-and-excite block, a whole Ghost module and an expansion + depthwise pair, on NCHW
//! tensors.

use crate::dispatch::{kernels, Kernels};
use crate::kernels::conv::conv2d;
use crate::params::{Activation, Conv2d, ExpandDepthwise, GhostModule, InOut, SqueezeExcite};
use crate::threads::{Par, MIN_PARALLEL_WORK, PARTS_PER_THREAD};

/// `dst[i] += src[i]` (a residual connection fused after a kernel).
pub fn add_assign(dst: &mut [f32], src: &[f32]) {
    debug_assert_eq!(dst.len(), src.len(), "add_assign: lengths differ");
    (kernels().add_assign)(dst, src);
}

/// [`add_assign`] split into equal parts of whole cache lines on `par`.
fn par_add_assign(par: Par<'_>, dst: &mut [f32], src: &[f32]) {
    debug_assert_eq!(dst.len(), src.len(), "add_assign: lengths differ");
    let (k, len) = (kernels(), dst.len());
    let parts = parts_for(par, len);
    let bound = |i: usize| {
        if i >= parts {
            len
        } else {
            (i * len / parts) & !15
        }
    };
    par.for_each_part(dst, parts, &bound, &|i, d| {
        (k.add_assign)(d, &src[bound(i)..bound(i + 1)])
    });
}

/// `out[n,c,:] = x[n,c,:] * gate(w2 · act(w1 · mean(x[n]) + b1) + b2)[c]`, on separate input
/// and output or in place (when nothing reads the input afterwards, the compiler's memory plan
/// gives both one range).
///
/// `w1` is `[mid, c]`, `b1` `[mid]`, `w2` `[c, mid]`, `b2` `[c]` (1x1 conv weights, row-major);
/// `scratch` holds at least `c + mid` f32s; `x` and `out` are `[n, c, spatial]`.
///
/// A product below the smallest normal f32 (about 1.2e-38) is stored as zero. Trained
/// networks have gates of 1e-30 and less (EfficientNet-B0's late logits reach -1000; the
/// sigmoid is exact down to -87), whose products with small activations would be subnormal,
/// and every multiply that reads a subnormal takes a microcode assist on x86: the convs after
/// such gates ran many times slower. onnxruntime avoids them by clamping the sigmoid's
/// argument to [-18, 18] instead.
#[allow(clippy::too_many_arguments)] // the block's two weight tensors, as generated code has them
pub fn squeeze_excite(
    par: Par<'_>,
    p: &SqueezeExcite,
    data: InOut<'_>,
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    scratch: &mut [f32],
) {
    squeeze_excite_with(kernels(), par, p, data, [w1, b1, w2, b2], scratch);
}

/// [`squeeze_excite`] with the kernels of `k`. On `par`: the channel means and the scaling
/// split by channels, the two matrix-vector products by output rows; every element is what
/// the single-threaded run gives.
fn squeeze_excite_with(
    k: &Kernels,
    par: Par<'_>,
    p: &SqueezeExcite,
    data: InOut<'_>,
    weights: [&[f32]; 4],
    scratch: &mut [f32],
) {
    let (c, hw) = (p.c, p.spatial);
    let item = c * hw;
    assert!(
        scratch.len() >= c + p.mid,
        "squeeze_excite: scratch too short"
    );
    let inv = 1.0 / hw as f32;
    let parts = parts_for(par, item);
    let rows = |i: usize| i * c / parts;
    match data {
        InOut::Separate(x, out) => {
            assert!(x.len() >= p.n * item && out.len() >= p.n * item);
            for b in 0..p.n {
                let xb = &x[b * item..][..item];
                par.for_each_part(&mut scratch[..c], parts, &rows, &|i, m| {
                    (k.sum_rows)(&xb[rows(i) * hw..], hw, inv, m)
                });
                excite(k, par, p, weights, scratch);
                let gates = &scratch[..c];
                let ob = &mut out[b * item..][..item];
                par.for_each_part(ob, parts, &|i| rows(i) * hw, &|i, o| {
                    let g = &gates[rows(i)..rows(i + 1)];
                    (k.scale_rows)(&xb[rows(i) * hw..], hw, g, o)
                });
            }
        }
        InOut::InPlace(x) => {
            assert!(x.len() >= p.n * item);
            for b in 0..p.n {
                let xb = &mut x[b * item..][..item];
                {
                    let xs = &*xb;
                    par.for_each_part(&mut scratch[..c], parts, &rows, &|i, m| {
                        (k.sum_rows)(&xs[rows(i) * hw..], hw, inv, m)
                    });
                }
                excite(k, par, p, weights, scratch);
                let gates = &scratch[..c];
                par.for_each_part(xb, parts, &|i| rows(i) * hw, &|i, o| {
                    (k.scale_rows_in_place)(o, hw, &gates[rows(i)..rows(i + 1)])
                });
            }
        }
    }
}

/// Parts a pass over `elements` values is split into: one below [`MIN_PARALLEL_WORK`].
pub(crate) fn parts_for(par: Par<'_>, elements: usize) -> usize {
    if par.threads() <= 1 || elements < MIN_PARALLEL_WORK {
        1
    } else {
        par.threads() * PARTS_PER_THREAD
    }
}

/// The two layers of a squeeze-and-excite block: `scratch[..c]` holds the channel means on
/// entry and the gates on return (`scratch[c..c + mid]` is the hidden layer). Shared by both
/// layouts. Each matrix-vector product is split over its output rows on `par`.
pub(crate) fn excite(
    k: &Kernels,
    par: Par<'_>,
    p: &SqueezeExcite,
    [w1, b1, w2, b2]: [&[f32]; 4],
    scratch: &mut [f32],
) {
    let (c, mid) = (p.c, p.mid);
    let (mean, rest) = scratch.split_at_mut(c);
    let hidden = &mut rest[..mid];
    // The gate reuses `mean` once the hidden layer is computed.
    par_dot_rows(k, par, mean, w1, c, hidden);
    for (h, &bias) in hidden.iter_mut().zip(b1) {
        *h += bias;
    }
    (k.activation_in_place)(p.act, hidden);
    par_dot_rows(k, par, hidden, w2, mid, mean);
    for (g, &bias) in mean.iter_mut().zip(b2) {
        *g += bias;
    }
    (k.activation_in_place)(p.gate, mean);
}

/// `out[j] = x · w[j * k..][..k]`, split over the rows of `w` on `par` in parts of whole
/// groups of four rows (what `dot_rows` interleaves); `dot_rows` gives the same bits for a row
/// whatever rows it is handed with, so the split does not change the result.
pub(crate) fn par_dot_rows(
    kt: &Kernels,
    par: Par<'_>,
    x: &[f32],
    w: &[f32],
    k: usize,
    out: &mut [f32],
) {
    let n = out.len();
    let parts = parts_for(par, n * k).min(n.div_ceil(4)).max(1);
    let bound = |i: usize| if i >= parts { n } else { (i * n / parts) & !3 };
    par.for_each_part(out, parts, &bound, &|i, o| {
        (kt.dot_rows)(x, &w[bound(i) * k..bound(i + 1) * k], k, o)
    });
}

/// A Ghost module in NCHW. `primary` is pointwise (`c_in -> init = primary.c_out`), `cheap`
/// is depthwise over `k = cheap.c_in = cheap.c_out <= init` channels with stride 1 and the
/// same spatial size. Output `[n, init + k, h, w]`: channels `0..init` are the primary
/// convolution (activation `primary.activation`), channels `init..init + k` the cheap one
/// over primary channels `0..k` (activation `cheap.activation`). `residual` (the output's
/// shape) is added to every output channel after the activations.
///
/// `input` is `[n, c_in, h, w]`, `w1` OIHW `[init, c_in]`, `b1` `[init]`, `w2` `[k, 1, kh, kw]`,
/// `b2` `[k]`. Each convolution is split over threads as [`conv2d`] splits it.
#[allow(clippy::too_many_arguments)] // the module's two weight tensors, as generated code has them
pub fn ghost_module(
    par: Par<'_>,
    p: &GhostModule,
    input: &[f32],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    let (pp, cp) = (&p.primary, &p.cheap);
    let (n, init, kc) = (pp.n, pp.c_out, cp.c_out);
    let hw = pp.h_out * pp.w_out;
    assert!(
        pp.is_pointwise() && pp.group == 1 && cp.is_depthwise() && kc <= init,
        "ghost_module: a pointwise primary and a depthwise cheap convolution over at most init channels"
    );
    assert!(
        cp.n == n
            && (cp.h_in, cp.w_in, cp.h_out, cp.w_out) == (pp.h_out, pp.w_out, pp.h_out, pp.w_out),
        "ghost_module: the cheap convolution must keep the primary's size"
    );
    let (item_in, item_out, split) = (pp.c_in * pp.h_in * pp.w_in, (init + kc) * hw, init * hw);
    assert_eq!(input.len(), n * item_in, "ghost_module: input size");
    assert_eq!(output.len(), n * item_out, "ghost_module: output size");
    assert!(
        residual.is_none_or(|r| r.len() == output.len()),
        "ghost_module: residual size"
    );
    let (primary, cheap) = (Conv2d { n: 1, ..*pp }, Conv2d { n: 1, ..*cp });
    // The residual comes after each half's activation: in the cheap convolution's epilogue
    // when it has none (the usual case), else added after it.
    let fuse = cheap.activation == Activation::None;
    for b in 0..n {
        let x = &input[b * item_in..][..item_in];
        let res = residual.map(|r| &r[b * item_out..][..item_out]);
        let (prim, ch) = output[b * item_out..][..item_out].split_at_mut(split);
        conv2d(par, &primary, x, w1, Some(b1), None, prim);
        let cheap_res = res.filter(|_| fuse).map(|r| &r[split..]);
        conv2d(par, &cheap, &prim[..kc * hw], w2, Some(b2), cheap_res, ch);
        // The primary half's residual last: the cheap half read the primary half.
        if let Some(r) = res {
            if !fuse {
                par_add_assign(par, ch, &r[split..]);
            }
            par_add_assign(par, prim, &r[..split]);
        }
    }
}

/// The checks both layouts of an expansion + depthwise pair make: `e` a pointwise expansion,
/// `d` a depthwise convolution over its output, and the buffers the sizes the pair needs
/// (weights are `[c_out, c_in]` and `[c, taps]` in either layout). `name` is the kernel's, for
/// the panic message.
pub(crate) fn check_pair(
    name: &str,
    e: &Conv2d,
    d: &Conv2d,
    input: &[f32],
    [w1, b1, w2, b2]: [&[f32]; 4],
    output: &[f32],
) {
    let c = e.c_out;
    assert!(
        e.is_pointwise() && e.group == 1 && d.is_depthwise() && d.c_in == c,
        "{name}: a pointwise expansion and a depthwise convolution over its channels"
    );
    assert!(
        d.n == e.n && (d.h_in, d.w_in) == (e.h_out, e.w_out),
        "{name}: the depthwise convolution must read the expansion's output"
    );
    assert!(
        d.steps_positive(),
        "{name}: strides and dilations must be positive"
    );
    assert_eq!(input.len(), e.input_len(), "{name}: input size");
    assert!(
        w1.len() == c * e.c_in && b1.len() == c,
        "{name}: expansion weights"
    );
    let taps = d.kernel_h * d.kernel_w;
    assert!(
        w2.len() == c * taps && b2.len() == c,
        "{name}: depthwise weights"
    );
    assert_eq!(output.len(), d.output_len(), "{name}: output size");
}

/// `depthwise(expand(x))` (NCHW) without the expanded tensor: for each block of
/// `p.block` expanded channels, the expansion writes their planes into `scratch` and the
/// depthwise convolution reads them from there (in L2 while the block fits) into its output
/// channels. `output` is `[n, c, h_out, w_out]`; `scratch` holds at least
/// [`ExpandDepthwise::scratch_len`] f32s. Each output is the same chain of
/// operations as the two convolutions run one after the other ([`conv2d`] twice), so the
/// result does not depend on the block. Panics on other shapes or sizes.
#[allow(clippy::too_many_arguments)]
pub fn expand_depthwise(
    par: Par<'_>,
    p: &ExpandDepthwise,
    input: &[f32],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    output: &mut [f32],
    scratch: &mut [f32],
) {
    let (e, d) = (&p.expand, &p.depthwise);
    let c = e.c_out;
    check_pair("expand_depthwise", e, d, input, [w1, b1, w2, b2], output);
    assert!(p.block > 0, "expand_depthwise: block must be positive");
    let (hw, taps) = (e.h_out * e.w_out, d.kernel_h * d.kernel_w);
    let (item_in, out_plane) = (e.c_in * e.h_in * e.w_in, d.h_out * d.w_out);
    assert!(
        scratch.len() >= p.scratch_len(),
        "expand_depthwise: scratch too short"
    );
    let out = output;
    for b in 0..e.n {
        let x = &input[b * item_in..][..item_in];
        let mut c0 = 0;
        while c0 < c {
            let k = p.block.min(c - c0);
            let pe = Conv2d {
                n: 1,
                c_out: k,
                ..*e
            };
            let pd = Conv2d {
                n: 1,
                c_in: k,
                c_out: k,
                group: k,
                ..*d
            };
            let planes = &mut scratch[..k * hw];
            let (w, bias) = (&w1[c0 * e.c_in..][..k * e.c_in], &b1[c0..c0 + k]);
            conv2d(par, &pe, x, w, Some(bias), None, planes);
            let (w, bias) = (&w2[c0 * taps..][..k * taps], &b2[c0..c0 + k]);
            let y = &mut out[(b * c + c0) * out_plane..][..k * out_plane];
            conv2d(par, &pd, planes, w, Some(bias), None, y);
            c0 += k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    /// The scalar reference of [`squeeze_excite`].
    #[allow(clippy::too_many_arguments)]
    fn squeeze_excite_reference(
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
        let (mean, hidden) = scratch.split_at_mut(c);
        let hidden = &mut hidden[..mid];
        for b in 0..p.n {
            let xb = &x[b * c * hw..(b + 1) * c * hw];
            let ob = &mut out[b * c * hw..(b + 1) * c * hw];
            let inv = 1.0 / hw as f32;
            for (m, plane) in mean.iter_mut().zip(xb.chunks_exact(hw)) {
                *m = plane.iter().sum::<f32>() * inv;
            }
            for (j, h) in hidden.iter_mut().enumerate() {
                let row = &w1[j * c..(j + 1) * c];
                let s: f32 = row.iter().zip(mean.iter()).map(|(w, m)| w * m).sum();
                *h = p.act.apply(s + b1[j]);
            }
            for (ch, (o, xi)) in ob.chunks_exact_mut(hw).zip(xb.chunks_exact(hw)).enumerate() {
                let row = &w2[ch * mid..(ch + 1) * mid];
                let s: f32 = row.iter().zip(hidden.iter()).map(|(w, h)| w * h).sum();
                let g = p.gate.apply(s + b2[ch]);
                for (o, v) in o.iter_mut().zip(xi) {
                    *o = v * g;
                }
            }
        }
    }

    #[test]
    fn squeeze_excite_matches_formula() {
        // n=2, c=3, spatial=2, mid=2
        let x: [f32; 12] = [1., 2., 3., 4., 5., 6., -1., -2., 0.5, 0.5, 2., 0.];
        let w1 = [0.1, 0.2, 0.3, -0.3, 0.2, 0.1];
        let b1 = [0.05, -0.05];
        let w2 = [1., 0., 0., 1., 0.5, 0.5];
        let b2 = [0., 0.1, -0.1];
        let p = SqueezeExcite {
            n: 2,
            c: 3,
            spatial: 2,
            mid: 2,
            act: Activation::Relu,
            gate: Activation::Sigmoid,
        };
        let mut out = [f32::NAN; 12];
        let mut scratch = [0.0; 5];
        squeeze_excite(
            Par::SINGLE,
            &p,
            InOut::Separate(&x, &mut out),
            &w1,
            &b1,
            &w2,
            &b2,
            &mut scratch,
        );
        for b in 0..2 {
            let xb = &x[b * 6..b * 6 + 6];
            let mean: Vec<f64> = (0..3)
                .map(|c| (xb[2 * c] as f64 + xb[2 * c + 1] as f64) / 2.0)
                .collect();
            let hid: Vec<f64> = (0..2)
                .map(|j| {
                    ((0..3).map(|c| w1[j * 3 + c] as f64 * mean[c]).sum::<f64>() + b1[j] as f64)
                        .max(0.0)
                })
                .collect();
            for c in 0..3 {
                let z = (0..2).map(|j| w2[c * 2 + j] as f64 * hid[j]).sum::<f64>() + b2[c] as f64;
                let g = 1.0 / (1.0 + (-z).exp());
                for s in 0..2 {
                    let want = xb[2 * c + s] as f64 * g;
                    assert!((out[b * 6 + 2 * c + s] as f64 - want).abs() < 1e-6);
                }
            }
        }
    }

    #[test]
    fn squeeze_excite_in_place_matches() {
        use crate::testutil::Rng;
        let mut rng = Rng::new(5);
        for (n, c, spatial, mid) in [(1, 3, 1, 1), (2, 17, 49, 5), (1, 40, 20, 12)] {
            let p = SqueezeExcite {
                n,
                c,
                spatial,
                mid,
                act: Activation::Relu,
                gate: Activation::HardSigmoid {
                    alpha: 1.0 / 6.0,
                    beta: 0.5,
                },
            };
            let x = rng.vec(n * c * spatial);
            let (w1, b1) = (rng.vec(mid * c), rng.vec(mid));
            let (w2, b2) = (rng.vec(c * mid), rng.vec(c));
            let mut scratch = std::vec![0.0; c + mid];
            let mut want = std::vec![f32::NAN; x.len()];
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
            let mut got = x.clone();
            squeeze_excite(
                Par::SINGLE,
                &p,
                InOut::InPlace(&mut got),
                &w1,
                &b1,
                &w2,
                &b2,
                &mut scratch,
            );
            crate::testutil::assert_close(&got, &want);
        }
    }

    #[test]
    fn squeeze_excite_stores_subnormal_products_as_zero() {
        // Gates of sigmoid(-80) ~ 1.8e-35 and sigmoid(10) ~ 1: with activations of 1e-5 the
        // first channel's products (~1.8e-40) are subnormal and become 0, the second's stay.
        let p = SqueezeExcite {
            n: 1,
            c: 2,
            spatial: 37,
            mid: 1,
            act: Activation::None,
            gate: Activation::Sigmoid,
        };
        let x = std::vec![1e-5f32; 2 * 37];
        // mean 1e-5 -> hidden 0 (w1 = 0) -> gate logits are the biases.
        let (w1, b1, w2, b2) = ([0.0f32; 2], [0.0f32], [0.0f32; 2], [-80.0f32, 10.0]);
        for k in crate::dispatch::all() {
            let mut scratch = [0.0f32; 3];
            let mut out = std::vec![f32::NAN; x.len()];
            squeeze_excite_with(
                k,
                Par::SINGLE,
                &p,
                InOut::Separate(&x, &mut out),
                [&w1, &b1, &w2, &b2],
                &mut scratch,
            );
            assert!(
                out[..37].iter().all(|&v| v == 0.0),
                "{}: {:?}",
                k.name,
                &out[..4]
            );
            assert!(out[37..].iter().all(|&v| v.is_normal()), "{}", k.name);
            let mut nhwc = x.clone();
            crate::kernels::nhwc::se_with(
                k,
                Par::SINGLE,
                &p,
                InOut::InPlace(&mut nhwc),
                [&w1, &b1, &w2, &b2],
                &mut scratch,
            );
            // NHWC: channel 0 is every even element.
            assert!(nhwc.iter().step_by(2).all(|&v| v == 0.0), "{} nhwc", k.name);
            assert!(
                nhwc.iter().skip(1).step_by(2).all(|&v| v.is_normal()),
                "{} nhwc",
                k.name
            );
        }
    }

    #[test]
    fn squeeze_excite_nhwc_in_place_matches_nchw() {
        use crate::testutil::Rng;
        let mut rng = Rng::new(6);
        for (n, c, spatial, mid) in [(1, 3, 1, 1), (2, 17, 49, 5), (1, 40, 20, 12)] {
            let p = SqueezeExcite {
                n,
                c,
                spatial,
                mid,
                act: Activation::Relu,
                gate: Activation::Sigmoid,
            };
            let x = rng.vec(n * c * spatial);
            let (w1, b1) = (rng.vec(mid * c), rng.vec(mid));
            let (w2, b2) = (rng.vec(c * mid), rng.vec(c));
            let mut scratch = std::vec![0.0; c + mid];
            let mut want = std::vec![f32::NAN; x.len()];
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
            // The same data channels-last.
            let nhwc = |v: &[f32]| -> Vec<f32> {
                let mut t = std::vec![0.0; v.len()];
                for b in 0..n {
                    for ch in 0..c {
                        for s in 0..spatial {
                            t[(b * spatial + s) * c + ch] = v[(b * c + ch) * spatial + s];
                        }
                    }
                }
                t
            };
            let mut got = nhwc(&x);
            crate::squeeze_excite_nhwc(
                Par::SINGLE,
                &p,
                InOut::InPlace(&mut got),
                &w1,
                &b1,
                &w2,
                &b2,
                &mut scratch,
            );
            crate::testutil::assert_close(&got, &nhwc(&want));
        }
    }

    #[test]
    fn add_assign_adds() {
        let mut d = [1.0, 2.0, 3.0];
        add_assign(&mut d, &[0.5, -2.0, 1.0]);
        assert_eq!(d, [1.5, 0.0, 4.0]);
    }

    /// Every kernel table against the scalar references on odd sizes, batch > 1.
    #[test]
    fn vector_kernels_match_reference() {
        use crate::testutil::{assert_close, Rng};
        let mut rng = Rng::new(9);
        for k in crate::dispatch::all() {
            for len in [0, 1, 7, 15, 16, 17, 63, 64, 65, 200] {
                let src = rng.vec(len);
                let dst = rng.vec(len);
                let mut want = dst.clone();
                for (w, s) in want.iter_mut().zip(&src) {
                    *w += s;
                }
                let mut got = dst.clone();
                (k.add_assign)(&mut got, &src);
                assert_eq!(got, want);
            }
            for (n, c, spatial, mid) in [(1, 3, 1, 1), (2, 5, 7, 2), (1, 17, 49, 5), (2, 9, 33, 4)]
            {
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
                    let mut scratch = std::vec![0.0; c + mid];
                    let mut want = std::vec![f32::NAN; x.len()];
                    squeeze_excite_reference(&p, &x, &w1, &b1, &w2, &b2, &mut scratch, &mut want);
                    let mut got = std::vec![f32::NAN; x.len()];
                    let weights = [&w1[..], &b1, &w2, &b2];
                    squeeze_excite_with(
                        k,
                        Par::SINGLE,
                        &p,
                        InOut::Separate(&x, &mut got),
                        weights,
                        &mut scratch,
                    );
                    assert_close(&got, &want);
                }
            }
        }
    }

    /// Squeeze-excite split over 2 and 3 threads (means, both matrix-vector products and the
    /// scaling) gives the single-threaded bits, in both layouts, separate and in place, on
    /// shapes large enough to split and odd enough to leave ragged parts.
    #[test]
    fn squeeze_excite_threads_bit_identical() {
        use crate::testutil::Rng;
        use std::vec;
        let mut rng = Rng::new(31);
        let pools = [crate::Threads::new(2), crate::Threads::new(3)];
        for (n, c, spatial, mid) in [(1, 963, 49, 241), (2, 72, 33 * 31, 20), (1, 5, 3, 2)] {
            let p = SqueezeExcite {
                n,
                c,
                spatial,
                mid,
                act: Activation::Relu,
                gate: Activation::HardSigmoid {
                    alpha: 0.2,
                    beta: 0.5,
                },
            };
            let x = rng.vec(n * c * spatial);
            let (w1, b1, w2, b2) = (rng.vec(mid * c), rng.vec(mid), rng.vec(c * mid), rng.vec(c));
            for nhwc in [false, true] {
                for in_place in [false, true] {
                    let run = |par: Par<'_>| {
                        let mut out = vec![f32::NAN; x.len()];
                        let mut scratch = vec![0.0; c + mid];
                        let data = if in_place {
                            out.copy_from_slice(&x);
                            InOut::InPlace(&mut out)
                        } else {
                            InOut::Separate(&x, &mut out)
                        };
                        if nhwc {
                            crate::squeeze_excite_nhwc(
                                par,
                                &p,
                                data,
                                &w1,
                                &b1,
                                &w2,
                                &b2,
                                &mut scratch,
                            );
                        } else {
                            squeeze_excite(par, &p, data, &w1, &b1, &w2, &b2, &mut scratch);
                        }
                        out
                    };
                    let one = run(Par::SINGLE);
                    assert!(one.iter().all(|v| v.is_finite()));
                    for t in &pools {
                        let many = run(t.par());
                        let same = one
                            .iter()
                            .zip(&many)
                            .all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(
                            same,
                            "n {n} c {c} spatial {spatial} nhwc {nhwc} in place {in_place}"
                        );
                    }
                }
            }
        }
    }

    /// The NCHW Ghost module against its two convolutions and the residual added after
    /// each half's activation, batch 2, with and without a cheap activation; 2 threads
    /// bit-identical to 1.
    #[test]
    fn ghost_module_matches_two_convolutions() {
        use crate::testutil::{conv_params as make, Rng};
        use std::vec;
        let mut rng = Rng::new(12);
        let threads = crate::threads::Threads::new(2);
        for (n, c_in, init, kc, hw, act2) in [
            (2, 16, 24, 24, (14, 14), Activation::None),
            (1, 8, 12, 8, (7, 9), Activation::Relu),
            (2, 40, 60, 60, (28, 28), Activation::Relu),
        ] {
            let primary = make(
                n,
                c_in,
                hw,
                init,
                (1, 1),
                (1, 1),
                (0, 0, 0, 0),
                (1, 1),
                1,
                Activation::Relu,
            );
            let cheap = make(
                n,
                kc,
                hw,
                kc,
                (3, 3),
                (1, 1),
                (1, 1, 1, 1),
                (1, 1),
                kc,
                act2,
            );
            let p = GhostModule { primary, cheap };
            let plane = hw.0 * hw.1;
            let oc = init + kc;
            let x = rng.vec(n * c_in * plane);
            let (w1, b1, w2, b2) = (
                rng.vec(init * c_in),
                rng.vec(init),
                rng.vec(kc * 9),
                rng.vec(kc),
            );
            let r = rng.vec(n * oc * plane);
            for res in [None, Some(&r[..])] {
                let mut want = vec![f32::NAN; n * oc * plane];
                for b in 0..n {
                    let one = |c: &Conv2d| Conv2d { n: 1, ..*c };
                    let o = &mut want[b * oc * plane..][..oc * plane];
                    let (y1, y2) = o.split_at_mut(init * plane);
                    let xb = &x[b * c_in * plane..][..c_in * plane];
                    conv2d(Par::SINGLE, &one(&primary), xb, &w1, Some(&b1), None, y1);
                    conv2d(
                        Par::SINGLE,
                        &one(&cheap),
                        &y1[..kc * plane],
                        &w2,
                        Some(&b2),
                        None,
                        y2,
                    );
                    if let Some(r) = res {
                        for (o, r) in o.iter_mut().zip(&r[b * oc * plane..][..oc * plane]) {
                            *o += r;
                        }
                    }
                }
                let mut got = vec![f32::NAN; want.len()];
                ghost_module(Par::SINGLE, &p, &x, &w1, &b1, &w2, &b2, res, &mut got);
                crate::testutil::assert_close(&got, &want);
                let mut par_got = vec![f32::NAN; want.len()];
                ghost_module(threads.par(), &p, &x, &w1, &b1, &w2, &b2, res, &mut par_got);
                assert_eq!(
                    got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    par_got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "threads differ: {n} {c_in} {init} {kc} {hw:?} {act2:?} res={}",
                    res.is_some()
                );
            }
        }
    }

    #[test]
    fn expand_depthwise_matches_two_convolutions() {
        use crate::testutil::{conv_params as make, Rng};
        use std::vec;
        let mut rng = Rng::new(13);
        let threads = crate::threads::Threads::new(2);
        // Blocks that divide the channels, that do not, of one channel and of all; stride 1
        // and 2, 3x3 and 5x5, heavy and cheap activations, batch 2, odd planes.
        for (n, c_in, c, hw, k, st, block, act) in [
            (1, 16, 96, (20, 20), 3, 2, 8, Activation::Silu),
            (
                2,
                5,
                13,
                (9, 11),
                3,
                1,
                4,
                Activation::Clip { min: 0.0, max: 6.0 },
            ),
            (1, 8, 24, (17, 16), 5, 2, 7, Activation::Relu),
            (2, 3, 6, (6, 5), 3, 1, 1, Activation::None),
            (1, 4, 10, (1, 1), 3, 1, 10, Activation::Gelu),
        ] {
            let expand = make(n, c_in, hw, c, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, act);
            let pad = k / 2;
            let depthwise = make(
                n,
                c,
                hw,
                c,
                (k, k),
                (st, st),
                (pad, pad, pad, pad),
                (1, 1),
                c,
                act,
            );
            let p = ExpandDepthwise {
                expand,
                depthwise,
                block,
            };
            let x = rng.vec(n * c_in * hw.0 * hw.1);
            let (w1, b1, w2, b2) = (
                rng.vec(c * c_in),
                rng.vec(c),
                rng.vec(c * k * k),
                rng.vec(c),
            );
            let mut mid = vec![f32::NAN; expand.output_len()];
            let mut want = vec![f32::NAN; depthwise.output_len()];
            conv2d(Par::SINGLE, &expand, &x, &w1, Some(&b1), None, &mut mid);
            conv2d(
                Par::SINGLE,
                &depthwise,
                &mid,
                &w2,
                Some(&b2),
                None,
                &mut want,
            );
            for par in [Par::SINGLE, threads.par()] {
                let mut got = vec![f32::NAN; want.len()];
                let mut scratch = vec![f32::NAN; p.scratch_len()];
                expand_depthwise(par, &p, &x, &w1, &b1, &w2, &b2, &mut got, &mut scratch);
                assert_eq!(
                    got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "{n} {c_in} {c} {hw:?} {k} {st} {block} {act:?}"
                );
            }
        }
    }
}
