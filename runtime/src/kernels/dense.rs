//! Dense (group-1) 2-D convolution with packed weights, NCHW or NHWC in and out, with fused
//! bias, residual and activation: the GEMM-class path for 3x3 (and any other) convolutions
//! with many channels.

use crate::dispatch::{kernels, Kernels};
use crate::kernels::simd::dense::BLOCK;
use crate::params::{Activation, Conv2d, DenseConv};
use crate::threads::{Par, MIN_PARALLEL_WORK, PARTS_PER_THREAD};

/// Length of the packed weights of a dense convolution (see [`conv2d_dense`]).
pub fn dense_weight_len(p: &Conv2d) -> usize {
    p.c_out.next_multiple_of(BLOCK) * p.kernel_h * p.kernel_w * p.c_in
}

/// `output = act(conv(input, weight) + bias + residual)` for a convolution with one group,
/// any kernel, stride, padding and dilation.
///
/// Layouts: `input` is NHWC `[n, h_in, w_in, c_in]` when `input_nhwc`, else NCHW; `output`
/// and `residual` are NHWC `[n, h_out, w_out, c_out]` when `output_nhwc`, else NCHW.
/// `weight` is packed by the compiler: output channels padded with zeros to a multiple of 16,
/// taken in groups of 64 (the last one narrower), each group stored `[kh * kw][c_in][width]`:
/// OIHW element `(co, ci, ky, kx)` is at `g0 * kh * kw * c_in + ((ky * kw + kx) * c_in + ci) *
/// width + co - g0`, with `g0 = co / 64 * 64` and `width = min(64, padded c_out - g0)`; the
/// length is [`dense_weight_len`]. `bias` is `[c_out]`.
///
/// Work is split on `par` over pixels (NHWC output) or blocks of 16 output channels (NCHW
/// output) per batch item; the result does not depend on the split. Panics on other sizes.
#[allow(clippy::too_many_arguments)] // the operands of a fused convolution, as generated code has them
pub fn conv2d_dense(
    par: Par<'_>,
    p: &Conv2d,
    input_nhwc: bool,
    output_nhwc: bool,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    dense_with(
        kernels(),
        par,
        p,
        [input_nhwc, output_nhwc],
        input,
        weight,
        bias,
        residual,
        output,
    );
}

#[allow(clippy::too_many_arguments)]
fn dense_with(
    k: &Kernels,
    par: Par<'_>,
    p: &Conv2d,
    [input_nhwc, output_nhwc]: [bool; 2],
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    assert!(p.group == 1, "conv2d_dense: one group only");
    assert!(
        p.steps_positive(),
        "conv2d_dense: strides and dilations must be positive"
    );
    check_operands(
        "conv2d_dense",
        p,
        dense_weight_len(p),
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
    let hw = p.h_out * p.w_out;
    let in_item = p.c_in * p.h_in * p.w_in;
    // Units of a batch item: tiles or rows of pixels (NHWC output), blocks of channels (NCHW).
    let unit = if !output_nhwc {
        BLOCK
    } else if input_nhwc {
        k.dense_tile
    } else {
        p.w_out
    };
    let per_item = if output_nhwc { hw } else { p.c_out };
    let units = per_item.div_ceil(unit);
    let work = output.len() * p.c_in * p.kernel_h * p.kernel_w;
    let threads = par.threads();
    let parts = if threads <= 1 || work < MIN_PARALLEL_WORK {
        p.n
    } else {
        // Whole items when there are enough of them, else parts of each.
        let per = (threads * PARTS_PER_THREAD).div_ceil(p.n).clamp(1, units);
        p.n * per
    };
    let per = parts / p.n;
    // Part i: item i / per, units [u0, u1) of it, as elements of the item's output.
    let span = |i: usize| {
        let (item, j) = (i / per, i % per);
        let at = |j: usize| ((j * units / per) * unit).min(per_item);
        (item, at(j)..at(j + 1))
    };
    let stride = hw * p.c_out / per_item;
    let len = output.len();
    let bounds = |i: usize| {
        if i >= parts {
            len
        } else {
            let (item, r) = span(i);
            item * hw * p.c_out + r.start * stride
        }
    };
    par.for_each_part(output, parts, &bounds, &|i, out| {
        let (item, r) = span(i);
        if r.is_empty() {
            return;
        }
        let a = DenseConv {
            p,
            x: &input[item * in_item..][..in_item],
            x_nhwc: input_nhwc,
            w: weight,
            bias,
            act,
            y_nhwc: output_nhwc,
        };
        let res = residual.map(|res| &res[bounds(i)..bounds(i + 1)]);
        let (pixels, chans) = if output_nhwc {
            (r, 0..p.c_out)
        } else {
            (0..hw, r)
        };
        (k.dense)(&a, res, out, pixels, chans);
        if let Some(h) = heavy {
            (k.activation_in_place)(h, out);
        }
    });
}

/// The operand sizes of a packed-weight convolution (`weight_len` f32s of weights), checked
/// with the kernel's `name` in each message. Panics on a mismatch.
#[allow(clippy::too_many_arguments)] // the operands of a fused convolution
pub(crate) fn check_operands(
    name: &str,
    p: &Conv2d,
    weight_len: usize,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &[f32],
) {
    assert_eq!(input.len(), p.input_len(), "{name}: input size");
    assert_eq!(weight.len(), weight_len, "{name}: weight size");
    assert!(bias.is_none_or(|b| b.len() == p.c_out), "{name}: bias size");
    assert_eq!(output.len(), p.output_len(), "{name}: output size");
    assert!(
        residual.is_none_or(|r| r.len() == output.len()),
        "{name}: residual size"
    );
}

/// `(in the tile, after it)`: the cheap activations go into the tile's epilogue, the
/// exp-based ones run as a second vector pass over each part's output (in cache), as the
/// other kernels do: inlined into every register of the tile, they made the runtime's build
/// many times slower.
pub(crate) fn split_activation(act: Activation) -> (Activation, Option<Activation>) {
    if act.is_cheap() {
        (act, None)
    } else {
        (Activation::None, Some(act))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::dispatch;
    use crate::kernels::conv::conv2d_reference;
    use crate::kernels::simd::dense::GROUP;
    use crate::params::Activation;
    use crate::testutil::{assert_close, conv_params, to_nhwc, Rng};
    use crate::threads::Threads;
    use std::vec;
    use std::vec::Vec;

    /// OIHW weights packed for `conv2d_dense` (the compiler's packing, restated).
    pub(crate) fn pack_dense(p: &Conv2d, w: &[f32]) -> Vec<f32> {
        let taps = p.kernel_h * p.kernel_w;
        let cpad = p.c_out.next_multiple_of(BLOCK);
        let mut out = vec![0.0; dense_weight_len(p)];
        for co in 0..p.c_out {
            let (g0, gw) = (co / GROUP * GROUP, GROUP.min(cpad - co / GROUP * GROUP));
            for ci in 0..p.c_in {
                for tap in 0..taps {
                    let at = g0 * taps * p.c_in + (tap * p.c_in + ci) * gw + (co - g0);
                    out[at] = w[(co * p.c_in + ci) * taps + tap];
                }
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn check(
        n: usize,
        c_in: usize,
        hw_in: (usize, usize),
        c_out: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        pads: (usize, usize, usize, usize),
        dil: (usize, usize),
        act: Activation,
        with_bias: bool,
        with_res: bool,
    ) {
        let p = conv_params(n, c_in, hw_in, c_out, kernel, stride, pads, dil, 1, act);
        let mut rng = Rng::new((c_in * 31 + c_out * 7 + hw_in.0 * 3 + kernel.0) as u32);
        let x = rng.vec(p.input_len());
        // Scaled like a trained layer's (sums of order 1), so rounding stays within tolerance.
        let scale = 1.0 / ((c_in * kernel.0 * kernel.1) as f32).sqrt();
        let w: Vec<f32> = rng
            .vec(c_out * c_in * kernel.0 * kernel.1)
            .iter()
            .map(|v| v * scale)
            .collect();
        let b = rng.vec(c_out);
        let r = rng.vec(p.output_len());
        let bias = with_bias.then_some(&b[..]);
        let res = with_res.then_some(&r[..]);
        let mut want = vec![0.0; p.output_len()];
        conv2d_reference(&p, &x, &w, bias, res, &mut want);
        let packed = pack_dense(&p, &w);
        let (hwi, hwo) = (p.h_in * p.w_in, p.h_out * p.w_out);
        let x_nhwc = to_nhwc(&x, n, c_in, hwi);
        let r_nhwc = to_nhwc(&r, n, c_out, hwo);
        let want_nhwc = to_nhwc(&want, n, c_out, hwo);
        let pool = Threads::new(3);
        for k in dispatch::all() {
            for (in_nhwc, out_nhwc) in [(false, false), (false, true), (true, false), (true, true)]
            {
                let xin = if in_nhwc { &x_nhwc } else { &x };
                let res = res.map(|_| if out_nhwc { &r_nhwc[..] } else { &r[..] });
                let want = if out_nhwc { &want_nhwc } else { &want };
                let mut got = vec![f32::NAN; p.output_len()];
                let run = |par: Par<'_>, got: &mut [f32]| {
                    dense_with(
                        k,
                        par,
                        &p,
                        [in_nhwc, out_nhwc],
                        xin,
                        &packed,
                        bias,
                        res,
                        got,
                    )
                };
                run(Threads::single().par(), &mut got);
                assert_close(&got, want);
                let mut threaded = vec![f32::NAN; p.output_len()];
                run(pool.par(), &mut threaded);
                assert!(
                    got.iter()
                        .zip(&threaded)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{}: threaded result differs ({in_nhwc}, {out_nhwc})",
                    k.name
                );
            }
        }
    }

    #[test]
    fn dense_matches_reference_on_odd_shapes() {
        let none = Activation::None;
        let relu = Activation::Relu;
        for &(c_in, c_out) in &[(3, 17), (17, 33), (33, 3), (16, 64), (24, 80)] {
            for &hw in &[(1, 1), (3, 3), (7, 7), (13, 11)] {
                for &s in &[1, 2] {
                    check(
                        1,
                        c_in,
                        hw,
                        c_out,
                        (3, 3),
                        (s, s),
                        (1, 1, 1, 1),
                        (1, 1),
                        relu,
                        true,
                        false,
                    );
                    check(
                        2,
                        c_in,
                        hw,
                        c_out,
                        (3, 3),
                        (s, s),
                        (1, 1, 1, 1),
                        (1, 1),
                        none,
                        false,
                        true,
                    );
                }
            }
        }
    }

    #[test]
    fn dense_other_kernels_and_geometry() {
        let hs = Activation::HardSwish;
        let sig = Activation::Sigmoid;
        // 5x5, 7x7 stride 2 (a stem), 1xK, Kx1, dilation, asymmetric padding, 1x1 stride 2.
        check(
            1,
            5,
            (13, 11),
            20,
            (5, 5),
            (1, 1),
            (2, 2, 2, 2),
            (1, 1),
            hs,
            true,
            true,
        );
        check(
            2,
            3,
            (17, 15),
            24,
            (7, 7),
            (2, 2),
            (3, 3, 3, 3),
            (1, 1),
            sig,
            true,
            false,
        );
        check(
            1,
            9,
            (8, 13),
            33,
            (1, 5),
            (1, 1),
            (0, 2, 0, 2),
            (1, 1),
            Activation::Relu,
            true,
            true,
        );
        check(
            1,
            9,
            (13, 8),
            18,
            (5, 1),
            (1, 1),
            (2, 0, 2, 0),
            (1, 1),
            Activation::None,
            false,
            false,
        );
        check(
            1,
            7,
            (12, 12),
            16,
            (3, 3),
            (1, 2),
            (2, 0, 1, 2),
            (2, 2),
            Activation::Relu,
            true,
            false,
        );
        check(
            2,
            20,
            (9, 9),
            40,
            (1, 1),
            (2, 2),
            (0, 0, 0, 0),
            (1, 1),
            Activation::None,
            true,
            true,
        );
        // More input channels than the zero block (NHWC padding in chunks) and wide outputs.
        check(
            1,
            300,
            (5, 5),
            130,
            (3, 3),
            (1, 1),
            (1, 1, 1, 1),
            (1, 1),
            Activation::Relu,
            true,
            true,
        );
        // Windows larger than the input.
        check(
            1,
            4,
            (2, 3),
            17,
            (5, 5),
            (1, 1),
            (2, 2, 2, 2),
            (1, 1),
            Activation::None,
            true,
            false,
        );
    }
}
