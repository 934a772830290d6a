//! Winograd F(4x4, 3x3) convolution: dense (group-1) 3x3 stride-1 convolutions, NHWC in and
//! out, with fused bias, residual and activation, in a quarter of the direct kernel's
//! multiply-adds (plus the tile transforms). The compiler picks it per layer
//! (`ARCHITECTURE.md`, "Dense convs").

use crate::dispatch::{kernels, Kernels};
use crate::kernels::dense::{check_operands, split_activation};
use crate::kernels::simd::dense::BLOCK;
use crate::params::{Conv2d, DenseConv};
use crate::threads::{Par, MIN_PARALLEL_WORK, PARTS_PER_THREAD};

/// Length of the transformed, packed weights of a Winograd convolution (see
/// [`conv2d_winograd`]): 36 per input and output channel pair, 4x the direct weights.
pub fn winograd_weight_len(p: &Conv2d) -> usize {
    p.c_out.next_multiple_of(BLOCK) * 36 * p.c_in
}

/// True if [`conv2d_winograd`] can run `p`: one group, a 3x3 kernel, strides and dilations 1.
pub fn winograd_fits(p: &Conv2d) -> bool {
    p.group == 1
        && (p.kernel_h, p.kernel_w) == (3, 3)
        && (p.stride_h, p.stride_w, p.dilation_h, p.dilation_w) == (1, 1, 1, 1)
}

/// `output = act(conv(input, weight) + bias + residual)` by Winograd F(4x4, 3x3), for a
/// convolution [`winograd_fits`] accepts, any padding. `input` is NHWC `[n, h_in, w_in,
/// c_in]`, `output` and `residual` NHWC `[n, h_out, w_out, c_out]`, `bias` `[c_out]`.
///
/// `weight` is transformed and packed by the compiler: per output channel `co` and input
/// channel `ci`, `U = G g G^T` (6x6, `g` the 3x3 filter, `G` the F(4x4, 3x3) filter transform
/// `[[1/4, 0, 0], [-1/6, -1/6, -1/6], [-1/6, 1/6, -1/6], [1/24, 1/12, 1/6], [1/24, -1/12,
/// 1/6], [0, 0, 1]]`), laid out as the dense kernel's weights with 36 taps: output channels
/// padded with zeros to a multiple of 16, in groups of 64 (the last one narrower), each group
/// `[36][c_in][width]`, so `U[xi = 6 * i + j]` of `(co, ci)` is at `g0 * 36 * c_in + (xi * c_in
/// + ci) * width + co - g0`, `g0 = co / 64 * 64`, `width = min(64, padded c_out - g0)`. The
/// length is [`winograd_weight_len`].
///
/// Work is split on `par` over rows of 4x4 tiles of each batch item; the result does not
/// depend on the split. Panics on other sizes.
#[allow(clippy::too_many_arguments)] // the operands of a fused convolution, as generated code has them
pub fn conv2d_winograd(
    par: Par<'_>,
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    winograd_with(kernels(), par, p, input, weight, bias, residual, output);
}

#[allow(clippy::too_many_arguments)]
fn winograd_with(
    k: &Kernels,
    par: Par<'_>,
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    assert!(
        winograd_fits(p),
        "conv2d_winograd: 3x3, stride 1, one group"
    );
    check_operands(
        "conv2d_winograd",
        p,
        winograd_weight_len(p),
        input,
        weight,
        bias,
        residual,
        output,
    );
    if output.is_empty() {
        return;
    }
    let (act, heavy) = split_activation(p.activation);
    let in_item = p.c_in * p.h_in * p.w_in;
    let out_item = p.c_out * p.h_out * p.w_out;
    let row = p.w_out * p.c_out;
    let units = p.h_out.div_ceil(4);
    // Multiply-adds of the direct convolution (what MIN_PARALLEL_WORK is calibrated on).
    let work = output.len() * p.c_in * 9;
    let threads = par.threads();
    let parts = if threads <= 1 || work < MIN_PARALLEL_WORK {
        p.n
    } else {
        let per = (threads * PARTS_PER_THREAD).div_ceil(p.n).clamp(1, units);
        p.n * per
    };
    let per = parts / p.n;
    // Part i: item i / per, tile rows [u0, u1) of it.
    let span = |i: usize| {
        let (item, j) = (i / per, i % per);
        let at = |j: usize| j * units / per;
        (item, at(j)..at(j + 1))
    };
    let len = output.len();
    let bounds = |i: usize| {
        if i >= parts {
            len
        } else {
            let (item, r) = span(i);
            item * out_item + (4 * r.start).min(p.h_out) * row
        }
    };
    par.for_each_part(output, parts, &bounds, &|i, out| {
        let (item, r) = span(i);
        if out.is_empty() {
            return;
        }
        let a = DenseConv {
            p,
            x: &input[item * in_item..][..in_item],
            x_nhwc: true,
            w: weight,
            bias,
            act,
            y_nhwc: true,
        };
        let res = residual.map(|res| &res[bounds(i)..bounds(i + 1)]);
        (k.winograd)(&a, res, out, r);
        if let Some(h) = heavy {
            (k.activation_in_place)(h, out);
        }
    });
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::dispatch;
    use crate::kernels::conv::conv2d_reference;
    use crate::kernels::simd::dense::GROUP;
    use crate::params::Activation;
    use crate::testutil::{conv_params, Rng};
    use crate::threads::Threads;
    use std::vec;
    use std::vec::Vec;

    /// `G g G^T` of one 3x3 filter, in f64 (the compiler's transform, restated).
    fn transform(g: &[f32]) -> [f32; 36] {
        const G: [[f64; 3]; 6] = [
            [0.25, 0.0, 0.0],
            [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
            [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
            [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
            [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
            [0.0, 0.0, 1.0],
        ];
        let mut u = [0.0; 36];
        for i in 0..6 {
            for j in 0..6 {
                let mut acc = 0.0f64;
                for a in 0..3 {
                    for b in 0..3 {
                        acc += G[i][a] * g[a * 3 + b] as f64 * G[j][b];
                    }
                }
                u[i * 6 + j] = acc as f32;
            }
        }
        u
    }

    /// OIHW 3x3 weights transformed and packed for `conv2d_winograd`.
    fn pack(p: &Conv2d, w: &[f32]) -> Vec<f32> {
        let cpad = p.c_out.next_multiple_of(BLOCK);
        let mut out = vec![0.0; winograd_weight_len(p)];
        for co in 0..p.c_out {
            let (g0, gw) = (co / GROUP * GROUP, GROUP.min(cpad - co / GROUP * GROUP));
            for ci in 0..p.c_in {
                let u = transform(&w[(co * p.c_in + ci) * 9..][..9]);
                for (xi, &v) in u.iter().enumerate() {
                    out[g0 * 36 * p.c_in + (xi * p.c_in + ci) * gw + co - g0] = v;
                }
            }
        }
        out
    }

    /// `[n, c, h, w]` to `[n, h, w, c]`.
    fn to_nhwc(x: &[f32], n: usize, c: usize, hw: usize) -> Vec<f32> {
        let mut y = vec![0.0; x.len()];
        for b in 0..n {
            for ch in 0..c {
                for q in 0..hw {
                    y[(b * hw + q) * c + ch] = x[(b * c + ch) * hw + q];
                }
            }
        }
        y
    }

    /// Largest |got - want| over max(1, max |want|).
    fn rel_err(got: &[f32], want: &[f32]) -> f32 {
        let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let diff = got
            .iter()
            .zip(want)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(got.iter().all(|v| v.is_finite()), "non-finite output");
        diff / scale
    }

    /// Runs every table against the reference (and threaded against single-threaded, bit for
    /// bit); returns the largest relative error seen.
    #[allow(clippy::too_many_arguments)]
    fn check(
        n: usize,
        c_in: usize,
        hw: (usize, usize),
        c_out: usize,
        pad: usize,
        act: Activation,
        with_bias: bool,
        with_res: bool,
    ) -> f32 {
        let pads = (pad, pad, pad, pad);
        let p = conv_params(n, c_in, hw, c_out, (3, 3), (1, 1), pads, (1, 1), 1, act);
        assert!(winograd_fits(&p));
        let mut rng = Rng::new((c_in * 31 + c_out * 7 + hw.0 * 3 + hw.1) as u32);
        let x = rng.vec(p.input_len());
        // Scaled like a trained layer's (sums of order 1).
        let scale = 1.0 / ((c_in * 9) as f32).sqrt();
        let w: Vec<f32> = rng
            .vec(c_out * c_in * 9)
            .iter()
            .map(|v| v * scale)
            .collect();
        let b = rng.vec(c_out);
        let r = rng.vec(p.output_len());
        let bias = with_bias.then_some(&b[..]);
        let mut want = vec![0.0; p.output_len()];
        conv2d_reference(&p, &x, &w, bias, with_res.then_some(&r[..]), &mut want);
        let packed = pack(&p, &w);
        let (hwi, hwo) = (p.h_in * p.w_in, p.h_out * p.w_out);
        let x = to_nhwc(&x, n, c_in, hwi);
        let r = to_nhwc(&r, n, c_out, hwo);
        let want = to_nhwc(&want, n, c_out, hwo);
        let res = with_res.then_some(&r[..]);
        let pool = Threads::new(3);
        let mut worst = 0.0f32;
        for k in dispatch::all() {
            let run = |par: Par<'_>, got: &mut [f32]| {
                winograd_with(k, par, &p, &x, &packed, bias, res, got)
            };
            let mut got = vec![f32::NAN; p.output_len()];
            run(Threads::single().par(), &mut got);
            let e = rel_err(&got, &want);
            assert!(
                e <= 1e-5,
                "{}: error {e} on {n}x{c_in}>{c_out} {hw:?} pad {pad}",
                k.name
            );
            worst = worst.max(e);
            let mut threaded = vec![f32::NAN; p.output_len()];
            run(pool.par(), &mut threaded);
            assert!(
                got.iter()
                    .zip(&threaded)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{}: threaded result differs",
                k.name
            );
        }
        worst
    }

    #[test]
    fn winograd_matches_reference_on_odd_shapes() {
        let relu = Activation::Relu;
        let none = Activation::None;
        for &(c_in, c_out) in &[(3, 17), (17, 33), (33, 3), (16, 64), (24, 80), (40, 130)] {
            for &hw in &[(1, 1), (3, 3), (5, 7), (13, 13), (8, 8)] {
                for pad in [0, 1] {
                    if hw.0 + 2 * pad < 3 || hw.1 + 2 * pad < 3 {
                        continue;
                    }
                    check(1, c_in, hw, c_out, pad, relu, true, false);
                    check(2, c_in, hw, c_out, pad, none, false, true);
                }
            }
        }
    }

    #[test]
    fn winograd_epilogues_and_heavy_activations() {
        let acts = [
            Activation::HardSwish,
            Activation::Sigmoid,
            Activation::Clip { min: 0.0, max: 6.0 },
        ];
        for act in acts {
            check(2, 20, (9, 11), 40, 1, act, true, true);
        }
        // Enough rows for several parts per item with threads.
        check(1, 32, (30, 29), 48, 1, Activation::Relu, true, true);
    }

    /// F(4x4, 3x3) in f32 with many input channels: the error on the deepest ResNet layers'
    /// shapes (5.9e-6 of the largest output at 512 channels when written) stays far below the
    /// end-to-end tolerance (1e-4 relative).
    #[test]
    fn winograd_error_with_deep_channels() {
        let e = check(1, 512, (7, 7), 32, 1, Activation::None, true, true);
        assert!(e < 1e-5, "{e}");
        let e = check(1, 256, (14, 14), 20, 1, Activation::None, true, false);
        assert!(e < 1e-5, "{e}");
    }
}
