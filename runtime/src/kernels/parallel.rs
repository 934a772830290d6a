//! Multi-threaded entry points: the work of one kernel call split into independent parts
//! (output channels, aligned to groups, per batch item) that run on a [`Par`].

use super::conv::{conv2d_add, Conv2d};
use super::gemm::{gemm, Gemm};
use crate::pool::Par;

/// Parts per thread: a little more than one, so uneven parts balance out.
const PARTS_PER_THREAD: usize = 2;

/// Output channels the x86 conv kernels compute per pass over the input (their register
/// blocking with AVX-512); one-group convs are split between threads at multiples of it.
const CHANNEL_BLOCK: usize = 8;

/// [`conv2d`](super::conv::conv2d) split over output channels (whole groups) and batch items.
pub fn conv2d_par(
    par: Par<'_>,
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
) {
    conv2d_add_par(par, p, input, weight, bias, None, output);
}

/// [`conv2d_par`] with a residual, split the same way: see [`conv2d_add`].
pub fn conv2d_add_par(
    par: Par<'_>,
    p: &Conv2d,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    output: &mut [f32],
) {
    let threads = par.threads();
    let hw = p.h_out * p.w_out;
    let c_out_g = p.c_out / p.group;
    // Too little work to be worth waking the pool: run inline.
    let work = p.n * p.c_out * hw * (p.c_in / p.group) * p.kernel_h * p.kernel_w;
    if threads <= 1 || work < 1 << 16 || p.group == 0 {
        return conv2d_add(p, input, weight, bias, residual, output);
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
        let (b, k) = (i / chunks, i % chunks);
        let (u0, u1) = (k * units / chunks, (k + 1) * units / chunks);
        let (o0, o1) = (channel(k), channel(k + 1));
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
        conv2d_add(
            &sub,
            x,
            &weight[o0 * w_per_out..o1 * w_per_out],
            bias.map(|b| &b[o0..o1]),
            residual.map(|r| &r[bounds(i)..bounds(i + 1)]),
            out,
        );
    });
}

/// [`gemm`] split over output columns when it is a matrix-vector product with `b` stored
/// `[n, k]` (a classifier: one row, weights streamed once), else single-threaded.
pub fn gemm_par(
    par: Par<'_>,
    p: &Gemm,
    a: &[f32],
    b: &[f32],
    c: Option<&[f32]>,
    output: &mut [f32],
) {
    let threads = par.threads();
    if threads <= 1 || p.m != 1 || !p.trans_b || p.n * p.k < 1 << 16 {
        return gemm(p, a, b, c, output);
    }
    let parts = threads * PARTS_PER_THREAD;
    let (n, k) = (p.n, p.k);
    par.for_each_part(output, parts, &|i| i * n / parts, &|i, out| {
        let (j0, j1) = (i * n / parts, (i + 1) * n / parts);
        if j1 == j0 {
            return;
        }
        let sub = Gemm { n: j1 - j0, ..*p };
        let c = c.map(|c| &c[j0 * p.c_stride_n..]);
        gemm(&sub, a, &b[j0 * k..j1 * k], c, out);
    });
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::activation::Activation;
    use crate::kernels::conv::conv2d;
    use crate::pool::Threads;
    use crate::testutil::Rng;

    #[test]
    fn gemm_par_matches_gemm() {
        let t = Threads::new(2);
        let mut rng = Rng::new(9);
        for &(n, k, bias) in &[
            (1000usize, 1280usize, true),
            (333, 257, false),
            (7, 5000, true),
        ] {
            let p = Gemm {
                m: 1,
                n,
                k,
                trans_a: false,
                trans_b: true,
                alpha: 1.0,
                beta: 1.0,
                c_stride_m: 0,
                c_stride_n: 1,
            };
            let (a, b, c) = (rng.vec(k), rng.vec(n * k), rng.vec(n));
            let c = bias.then_some(c.as_slice());
            let mut want = std::vec![f32::NAN; n];
            gemm(&p, &a, &b, c, &mut want);
            let mut got = std::vec![f32::NAN; n];
            gemm_par(t.par(), &p, &a, &b, c, &mut got);
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "{n} {k}: {g} vs {w}"
                );
            }
        }
    }

    #[test]
    fn matches_single_threaded_conv() {
        let t = Threads::new(2);
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
            conv2d_par(t.par(), &p, &x, &wt, Some(&b), &mut got);
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
        let t = Threads::new(2);
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
                conv2d_add_par(t.par(), &p, &x, &wt, bias, Some(&r), &mut got);
                assert_eq!(got, want, "{n} {c_in} {c_out} {group} {k} {s} {act:?}");
            }
        }
    }
}
