//! Times every kernel call shape GhostNet 1.0x makes (224x224, batch 1):
//! median time and GFLOP/s per shape, and totals per kernel kind.
//!
//! `cargo run --release -p ghostc-runtime --example kernel_bench [FILTER]`
//! (FILTER keeps the rows whose kind contains it, e.g. `pw`, `dw`; `add` also
//! compares `conv2d` + `add_assign` with `conv2d` and a fused residual on the residual
//! convolutions;
//! `nhwc` instead compares the NCHW and NHWC kernels on the small-plane shapes; `layout` times
//! both layouts on the grid behind `plan_layout`'s cost model; `gemv` streams one-row Gemms
//! from the last-level cache; `act` times each activation as a pass and fused into a conv;
//! `winograd` compares `conv2d_winograd` with `conv2d_dense` on 3x3 stride-1 NHWC shapes;
//! `forkjoin` times one fork-join of the thread pool).

use ghostc_runtime::*;
use std::collections::BTreeMap;
use std::time::Instant;

const RELU: Activation = Activation::Relu;
const NONE: Activation = Activation::None;

/// (n, c_in, h_in, w_in, c_out, h_out, w_out, kh, kw, sh, sw, pad_top, pad_left, group, act, calls)
/// as emitted for GhostNet 1.0x by ghostc (fused activations).
#[rustfmt::skip]
#[allow(clippy::type_complexity)]
const CONVS: &[(usize, usize, usize, usize, usize, usize, usize, usize, usize, usize, usize, usize, usize, usize, Activation, usize)] = &[
    (1, 3, 224, 224, 16, 112, 112, 3, 3, 2, 2, 1, 1, 1, RELU, 1),
    (1, 16, 112, 112, 8, 112, 112, 1, 1, 1, 1, 0, 0, 1, RELU, 1),
    (1, 8, 112, 112, 8, 112, 112, 3, 3, 1, 1, 1, 1, 8, RELU, 1),
    (1, 16, 112, 112, 8, 112, 112, 1, 1, 1, 1, 0, 0, 1, NONE, 1),
    (1, 8, 112, 112, 8, 112, 112, 3, 3, 1, 1, 1, 1, 8, NONE, 1),
    (1, 16, 112, 112, 24, 112, 112, 1, 1, 1, 1, 0, 0, 1, RELU, 1),
    (1, 24, 112, 112, 24, 112, 112, 3, 3, 1, 1, 1, 1, 24, RELU, 1),
    (1, 48, 112, 112, 48, 56, 56, 3, 3, 2, 2, 1, 1, 48, NONE, 1),
    (1, 48, 56, 56, 12, 56, 56, 1, 1, 1, 1, 0, 0, 1, NONE, 1),
    (1, 12, 56, 56, 12, 56, 56, 3, 3, 1, 1, 1, 1, 12, NONE, 2),
    (1, 16, 112, 112, 16, 56, 56, 3, 3, 2, 2, 1, 1, 16, NONE, 1),
    (1, 16, 56, 56, 24, 56, 56, 1, 1, 1, 1, 0, 0, 1, NONE, 1),
    (1, 24, 56, 56, 36, 56, 56, 1, 1, 1, 1, 0, 0, 1, RELU, 2),
    (1, 36, 56, 56, 36, 56, 56, 3, 3, 1, 1, 1, 1, 36, RELU, 2),
    (1, 72, 56, 56, 12, 56, 56, 1, 1, 1, 1, 0, 0, 1, NONE, 1),
    (1, 72, 56, 56, 72, 28, 28, 5, 5, 2, 2, 2, 2, 72, NONE, 1),
    (1, 24, 56, 56, 24, 28, 28, 5, 5, 2, 2, 2, 2, 24, NONE, 1),
    (1, 72, 28, 28, 20, 28, 28, 1, 1, 1, 1, 0, 0, 1, NONE, 1),
    (1, 20, 28, 28, 20, 28, 28, 3, 3, 1, 1, 1, 1, 20, NONE, 2),
    (1, 24, 28, 28, 40, 28, 28, 1, 1, 1, 1, 0, 0, 1, NONE, 1),
    (1, 40, 28, 28, 60, 28, 28, 1, 1, 1, 1, 0, 0, 1, RELU, 1),
    (1, 60, 28, 28, 60, 28, 28, 3, 3, 1, 1, 1, 1, 60, RELU, 1),
    (1, 120, 28, 28, 20, 28, 28, 1, 1, 1, 1, 0, 0, 1, NONE, 1),
    (1, 40, 28, 28, 120, 28, 28, 1, 1, 1, 1, 0, 0, 1, RELU, 1),
    (1, 120, 28, 28, 120, 28, 28, 3, 3, 1, 1, 1, 1, 120, RELU, 1),
    (1, 240, 28, 28, 240, 14, 14, 3, 3, 2, 2, 1, 1, 240, NONE, 1),
    (1, 240, 14, 14, 40, 14, 14, 1, 1, 1, 1, 0, 0, 1, NONE, 1),
    (1, 40, 14, 14, 40, 14, 14, 3, 3, 1, 1, 1, 1, 40, NONE, 4),
    (1, 40, 28, 28, 40, 14, 14, 3, 3, 2, 2, 1, 1, 40, NONE, 1),
    (1, 40, 14, 14, 80, 14, 14, 1, 1, 1, 1, 0, 0, 1, NONE, 1),
    (1, 80, 14, 14, 100, 14, 14, 1, 1, 1, 1, 0, 0, 1, RELU, 1),
    (1, 100, 14, 14, 100, 14, 14, 3, 3, 1, 1, 1, 1, 100, RELU, 1),
    (1, 200, 14, 14, 40, 14, 14, 1, 1, 1, 1, 0, 0, 1, NONE, 1),
    (1, 80, 14, 14, 92, 14, 14, 1, 1, 1, 1, 0, 0, 1, RELU, 2),
    (1, 92, 14, 14, 92, 14, 14, 3, 3, 1, 1, 1, 1, 92, RELU, 2),
    (1, 184, 14, 14, 40, 14, 14, 1, 1, 1, 1, 0, 0, 1, NONE, 2),
    (1, 80, 14, 14, 240, 14, 14, 1, 1, 1, 1, 0, 0, 1, RELU, 1),
    (1, 240, 14, 14, 240, 14, 14, 3, 3, 1, 1, 1, 1, 240, RELU, 1),
    (1, 480, 14, 14, 56, 14, 14, 1, 1, 1, 1, 0, 0, 1, NONE, 1),
    (1, 56, 14, 14, 56, 14, 14, 3, 3, 1, 1, 1, 1, 56, NONE, 2),
    (1, 80, 14, 14, 80, 14, 14, 3, 3, 1, 1, 1, 1, 80, NONE, 1),
    (1, 80, 14, 14, 112, 14, 14, 1, 1, 1, 1, 0, 0, 1, NONE, 1),
    (1, 112, 14, 14, 336, 14, 14, 1, 1, 1, 1, 0, 0, 1, RELU, 2),
    (1, 336, 14, 14, 336, 14, 14, 3, 3, 1, 1, 1, 1, 336, RELU, 2),
    (1, 672, 14, 14, 56, 14, 14, 1, 1, 1, 1, 0, 0, 1, NONE, 1),
    (1, 672, 14, 14, 672, 7, 7, 5, 5, 2, 2, 2, 2, 672, NONE, 1),
    (1, 672, 7, 7, 80, 7, 7, 1, 1, 1, 1, 0, 0, 1, NONE, 1),
    (1, 80, 7, 7, 80, 7, 7, 3, 3, 1, 1, 1, 1, 80, NONE, 5),
    (1, 112, 14, 14, 112, 7, 7, 5, 5, 2, 2, 2, 2, 112, NONE, 1),
    (1, 112, 7, 7, 160, 7, 7, 1, 1, 1, 1, 0, 0, 1, NONE, 1),
    (1, 160, 7, 7, 480, 7, 7, 1, 1, 1, 1, 0, 0, 1, RELU, 4),
    (1, 480, 7, 7, 480, 7, 7, 3, 3, 1, 1, 1, 1, 480, RELU, 4),
    (1, 960, 7, 7, 80, 7, 7, 1, 1, 1, 1, 0, 0, 1, NONE, 4),
    (1, 160, 7, 7, 960, 7, 7, 1, 1, 1, 1, 0, 0, 1, RELU, 1),
    (1, 960, 1, 1, 1280, 1, 1, 1, 1, 1, 1, 0, 0, 1, RELU, 1),
];

/// (c, spatial, mid) of the squeeze-excite blocks, one call each.
const SES: &[(usize, usize, usize)] = &[
    (72, 784, 20),
    (120, 784, 32),
    (480, 196, 120),
    (672, 196, 168),
    (672, 49, 168),
    (960, 49, 240),
    (960, 49, 240),
];

/// Lengths of the residual `add_assign` calls.
const ADDS: &[usize] = &[
    200704, 602112, 225792, 225792, 94080, 188160, 39200, 36064, 36064, 94080, 131712, 131712,
    47040, 47040, 47040, 47040,
];

/// (c_in, c_out, h, w, kernel, calls) of the convolutions whose output gets a residual:
/// the last pointwise (`kernel` 1) and depthwise 3x3 (`kernel` 3, `c_in == c_out`) conv of
/// each ghost bottleneck with an identity or conv shortcut, and the shortcut's own closing
/// pointwise conv. No activation, stride 1, batch 1.
#[rustfmt::skip]
const RESIDUAL_CONVS: &[(usize, usize, usize, usize, usize, usize)] = &[
    (16, 8, 112, 112, 1, 1),
    (8, 8, 112, 112, 3, 1),
    (48, 12, 56, 56, 1, 1),
    (72, 12, 56, 56, 1, 1),
    (12, 12, 56, 56, 3, 2),
    (16, 24, 56, 56, 1, 1),
    (72, 20, 28, 28, 1, 1),
    (120, 20, 28, 28, 1, 1),
    (20, 20, 28, 28, 3, 2),
    (24, 40, 28, 28, 1, 1),
    (240, 40, 14, 14, 1, 1),
    (200, 40, 14, 14, 1, 1),
    (184, 40, 14, 14, 1, 2),
    (40, 40, 14, 14, 3, 4),
    (40, 80, 14, 14, 1, 1),
    (480, 56, 14, 14, 1, 1),
    (672, 56, 14, 14, 1, 1),
    (56, 56, 14, 14, 3, 2),
    (80, 112, 14, 14, 1, 1),
    (672, 80, 7, 7, 1, 1),
    (960, 80, 7, 7, 1, 4),
    (80, 80, 7, 7, 3, 5),
    (112, 160, 7, 7, 1, 1),
];

struct Rng(u32);

impl Rng {
    fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 17;
                self.0 ^= self.0 << 5;
                (self.0 >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect()
    }
}

/// Seconds per call of `f`: (median, minimum) over batches of about half a
/// millisecond. On a shared machine the minimum is the steadier figure.
fn time_per_call(mut f: impl FnMut()) -> (f64, f64) {
    f();
    let t = Instant::now();
    f();
    let once = t.elapsed().as_secs_f64().max(1e-8);
    let per_batch = ((5e-4 / once) as usize).clamp(1, 10_000);
    let batches = ((0.2 / (once * per_batch as f64)) as usize).clamp(11, 401);
    let mut times: Vec<f64> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            t.elapsed().as_secs_f64() / per_batch as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0])
}

/// `conv2d` then `add_assign` against `conv2d` with the residual fused, on [`RESIDUAL_CONVS`]: median and minimum
/// microseconds per call of each (best of three alternated runs), and the totals per
/// inference. Not part of the totals table (these convolutions are already counted under
/// `pw` and `dw`).
fn residual_rows(rng: &mut Rng) {
    println!();
    println!(
        "{:<10} {:>26} {:>9} {:>9} {:>6} {:>5} {:>9} {:>9}",
        "conv2d+res",
        "shape (cin>cout hxw k)",
        "sep us",
        "fused us",
        "ratio",
        "calls",
        "sep min",
        "fus min"
    );
    // (separate, fused) per inference, median and minimum.
    let (mut sep, mut fused, mut sep_min, mut fused_min) = (0.0, 0.0, 0.0, 0.0);
    for &(c_in, c_out, h, w, k, calls) in RESIDUAL_CONVS {
        let pad = k / 2;
        let p = Conv2d {
            n: 1,
            c_in,
            h_in: h,
            w_in: w,
            c_out,
            h_out: h,
            w_out: w,
            kernel_h: k,
            kernel_w: k,
            stride_h: 1,
            stride_w: 1,
            pad_top: pad,
            pad_left: pad,
            dilation_h: 1,
            dilation_w: 1,
            group: if k == 1 { 1 } else { c_in },
            activation: NONE,
        };
        let x = rng.vec(c_in * h * w);
        let wt = rng.vec(c_out * (c_in / p.group) * k * k);
        let b = rng.vec(c_out);
        let r = rng.vec(c_out * h * w);
        let mut y = vec![0.0; c_out * h * w];
        // Alternated, best of three each: measured once after the other, the second of two
        // nearly equal calls came out several percent slower on a busy machine.
        let (mut ts, mut ts_min, mut tf, mut tf_min) = (f64::MAX, f64::MAX, f64::MAX, f64::MAX);
        for _ in 0..3 {
            let (t, tmin) = time_per_call(|| {
                conv2d(Par::SINGLE, &p, &x, &wt, Some(&b), None, &mut y);
                add_assign(&mut y, &r);
            });
            (ts, ts_min) = (ts.min(t), ts_min.min(tmin));
            let (t, tmin) =
                time_per_call(|| conv2d(Par::SINGLE, &p, &x, &wt, Some(&b), Some(&r), &mut y));
            (tf, tf_min) = (tf.min(t), tf_min.min(tmin));
        }
        let kind = if k == 1 { "pw+res" } else { "dw+res" };
        println!(
            "{kind:<10} {:>26} {:>9.1} {:>9.1} {:>6.2} {calls:>5} {:>9.1} {:>9.1}",
            format!("{c_in}>{c_out} {h}x{w} {k}"),
            ts * 1e6,
            tf * 1e6,
            tf / ts,
            ts_min * 1e6,
            tf_min * 1e6
        );
        let c = calls as f64;
        sep += ts * c;
        fused += tf * c;
        sep_min += ts_min * c;
        fused_min += tf_min * c;
    }
    println!(
        "{:<10} {:>26} {:>9.1} {:>9.1} {:>6.2} {:>5} {:>9.1} {:>9.1}",
        "total/inf",
        "",
        sep * 1e6,
        fused * 1e6,
        fused / sep,
        "",
        sep_min * 1e6,
        fused_min * 1e6
    );
}

fn main() {
    let filter = std::env::args().nth(1).unwrap_or_default();
    let mut rng = Rng(0x1234_5678);
    if filter == "nhwc" {
        return nhwc_vs_nchw(&mut rng);
    }
    if filter == "gemv" {
        return gemv_stream(&mut rng);
    }
    if filter == "layout" {
        return layout_sweep(&mut rng);
    }
    if filter == "act" {
        return activation_cost(&mut rng);
    }
    if filter == "winograd" {
        return winograd_vs_dense(&mut rng);
    }
    if filter == "forkjoin" {
        return fork_join();
    }
    // kind -> (median seconds per inference, flops per inference, minimum seconds)
    let mut totals: BTreeMap<&str, (f64, f64, f64)> = BTreeMap::new();
    println!(
        "{:<9} {:>26} {:>9} {:>8} {:>5} {:>9} {:>9}",
        "kind", "shape (cin>cout hxw k/s g)", "us", "GFLOP/s", "calls", "us total", "min us"
    );
    for &(n, c_in, h_in, w_in, c_out, h_out, w_out, kh, kw, sh, sw, pt, pl, group, act, calls) in
        CONVS
    {
        let p = Conv2d {
            n,
            c_in,
            h_in,
            w_in,
            c_out,
            h_out,
            w_out,
            kernel_h: kh,
            kernel_w: kw,
            stride_h: sh,
            stride_w: sw,
            pad_top: pt,
            pad_left: pl,
            dilation_h: 1,
            dilation_w: 1,
            group,
            activation: act,
        };
        let kind = if kh == 1 && kw == 1 {
            if h_in * w_in == 1 {
                "pw-gemv"
            } else {
                "pw"
            }
        } else if group == c_in && group == c_out {
            match (kh, sh) {
                (3, 1) => "dw3x3s1",
                (3, _) => "dw3x3s2",
                (5, 1) => "dw5x5s1",
                _ => "dw5x5s2",
            }
        } else {
            "dense"
        };
        if !kind.contains(filter.as_str()) {
            continue;
        }
        let x = rng.vec(n * c_in * h_in * w_in);
        let w = rng.vec(c_out * (c_in / group) * kh * kw);
        let b = rng.vec(c_out);
        let mut y = vec![0.0; n * c_out * h_out * w_out];
        let (t, tmin) = time_per_call(|| conv2d(Par::SINGLE, &p, &x, &w, Some(&b), None, &mut y));
        let flops = 2.0 * (n * c_out * h_out * w_out * (c_in / group) * kh * kw) as f64;
        println!(
            "{kind:<9} {:>26} {:>9.1} {:>8.1} {calls:>5} {:>9.1} {:>9.1}",
            format!("{c_in}>{c_out} {h_in}x{w_in} {kh}/{sh} g{group}"),
            t * 1e6,
            flops / t * 1e-9,
            t * 1e6 * calls as f64,
            tmin * 1e6
        );
        let e = totals.entry(kind).or_default();
        e.0 += t * calls as f64;
        e.1 += flops * calls as f64;
        e.2 += tmin * calls as f64;
    }

    if "gemm".contains(filter.as_str()) {
        let p = Gemm {
            m: 1,
            n: 1000,
            k: 1280,
            trans_a: false,
            trans_b: true,
            alpha: 1.0,
            beta: 1.0,
            c_stride_m: 0,
            c_stride_n: 1,
        };
        let a = rng.vec(1280);
        let b = rng.vec(1280 * 1000);
        let c = rng.vec(1000);
        let mut y = vec![0.0; 1000];
        let (t, tmin) = time_per_call(|| gemm(Par::SINGLE, &p, &a, &b, Some(&c), &mut y));
        let flops = 2.0 * 1280.0 * 1000.0;
        println!(
            "{:<9} {:>26} {:>9.1} {:>8.1} {:>5} {:>9.1} {:>9.1}",
            "gemm",
            "1x1280 * 1280x1000^T",
            t * 1e6,
            flops / t * 1e-9,
            1,
            t * 1e6,
            tmin * 1e6
        );
        totals.insert("gemm", (t, flops, tmin));
    }

    if "se".contains(filter.as_str()) {
        // `SE_THREADS=2`: the same calls on a pool of that many threads.
        let pool = Threads::new(
            std::env::var("SE_THREADS")
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(1),
        );
        for &(c, spatial, mid) in SES {
            let p = SqueezeExcite {
                n: 1,
                c,
                spatial,
                mid,
                act: Activation::Relu,
                gate: Activation::HardSigmoid {
                    alpha: 1.0 / 6.0,
                    beta: 0.5,
                },
            };
            let x = rng.vec(c * spatial);
            let (w1, b1, w2, b2) = (rng.vec(mid * c), rng.vec(mid), rng.vec(c * mid), rng.vec(c));
            let mut scratch = vec![0.0; c + mid];
            let mut y = vec![0.0; c * spatial];
            let (t, tmin) = time_per_call(|| {
                squeeze_excite(
                    pool.par(),
                    &p,
                    InOut::Separate(&x, &mut y),
                    &w1,
                    &b1,
                    &w2,
                    &b2,
                    &mut scratch,
                )
            });
            let flops = (2 * c * spatial + 4 * c * mid) as f64;
            println!(
                "{:<9} {:>26} {:>9.1} {:>8.1} {:>5} {:>9.1} {:>9.1}",
                "se",
                format!("{c} {spatial} mid {mid}"),
                t * 1e6,
                flops / t * 1e-9,
                pool.count(),
                t * 1e6,
                tmin * 1e6
            );
            let e = totals.entry("se").or_default();
            e.0 += t;
            e.1 += flops;
            e.2 += tmin;
        }
    }

    if "add".contains(filter.as_str()) {
        for &len in ADDS {
            let x = rng.vec(len);
            let mut y = rng.vec(len);
            let (t, tmin) = time_per_call(|| add_assign(&mut y, &x));
            let e = totals.entry("add").or_default();
            e.0 += t;
            e.1 += len as f64;
            e.2 += tmin;
        }
        let x = rng.vec(960 * 49);
        let mut y = vec![0.0; 960];
        let (t, tmin) = time_per_call(|| global_avg_pool(960, 49, &x, &mut y));
        totals.insert("gap", (t, 960.0 * 49.0, tmin));
        residual_rows(&mut rng);
    }

    println!();
    println!(
        "{:<9} {:>9} {:>8} {:>9}",
        "kind", "us/inf", "GFLOP/s", "min us"
    );
    let (mut all, mut all_min) = (0.0, 0.0);
    for (kind, (t, flops, tmin)) in &totals {
        println!(
            "{kind:<9} {:>9.1} {:>8.1} {:>9.1}",
            t * 1e6,
            flops / t * 1e-9,
            tmin * 1e6
        );
        all += t;
        all_min += tmin;
    }
    println!(
        "{:<9} {:>9.1} {:>8} {:>9.1}",
        "total",
        all * 1e6,
        "",
        all_min * 1e6
    );
}

/// A copy of `v` at a 64-byte-aligned address, as the memory plan's arena
/// offsets intend (a plain `Vec` of this size sits 16 bytes past a page
/// boundary, which splits every 64-byte vector of an NHWC pixel over two
/// cache lines).
fn aligned(v: &[f32]) -> (Vec<f32>, std::ops::Range<usize>) {
    let mut buf = vec![0.0; v.len() + 16];
    let at = (64 - buf.as_ptr() as usize % 64) % 64 / 4;
    buf[at..at + v.len()].copy_from_slice(v);
    (buf, at..at + v.len())
}

/// `nhwc`: the NCHW kernel and the NHWC kernel side by side on every pointwise
/// and depthwise shape with at most 784 input positions and every
/// squeeze-excite with at most 196, and GhostNet's Ghost modules on 14x14 and
/// 7x7 (median us per call; ratio = NCHW / NHWC, above 1 when NHWC is faster),
/// then totals per kind (us per inference) and over all kinds but `ghost`
/// (whose modules are made of `pw` and `dw` rows already counted).
/// All buffers are 64-byte aligned.
fn nhwc_vs_nchw(rng: &mut Rng) {
    // kind -> (NCHW, NHWC) seconds per inference
    let mut totals: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    println!(
        "{:<9} {:>26} {:>9} {:>9} {:>6} {:>8} {:>8} {:>5}",
        "kind",
        "shape (cin>cout hxw k/s g)",
        "nchw us",
        "nhwc us",
        "ratio",
        "nchw GF",
        "nhwc GF",
        "calls"
    );
    let mut row =
        |kind: &'static str, shape: String, flops: f64, calls: usize, t0: f64, t1: f64| {
            println!(
                "{kind:<9} {shape:>26} {:>9.1} {:>9.1} {:>6.2} {:>8.1} {:>8.1} {calls:>5}",
                t0 * 1e6,
                t1 * 1e6,
                t0 / t1,
                flops / t0 * 1e-9,
                flops / t1 * 1e-9,
            );
            let e = totals.entry(kind).or_default();
            e.0 += t0 * calls as f64;
            e.1 += t1 * calls as f64;
        };
    for &(n, c_in, h_in, w_in, c_out, h_out, w_out, kh, kw, sh, sw, pt, pl, group, act, calls) in
        CONVS
    {
        let pointwise = kh == 1 && kw == 1 && group == 1;
        let depthwise = group == c_in && group == c_out;
        if h_in * w_in > 784 || !(pointwise || depthwise) {
            continue;
        }
        let p = Conv2d {
            n,
            c_in,
            h_in,
            w_in,
            c_out,
            h_out,
            w_out,
            kernel_h: kh,
            kernel_w: kw,
            stride_h: sh,
            stride_w: sw,
            pad_top: pt,
            pad_left: pl,
            dilation_h: 1,
            dilation_w: 1,
            group,
            activation: act,
        };
        let kind = if pointwise {
            if h_in * w_in == 1 {
                "pw-gemv"
            } else {
                "pw"
            }
        } else {
            match (kh, sh) {
                (3, 1) => "dw3x3s1",
                (3, _) => "dw3x3s2",
                (5, 1) => "dw5x5s1",
                _ => "dw5x5s2",
            }
        };
        // Timing only: the same random values serve as either layout.
        let (x, xr) = aligned(&rng.vec(n * c_in * h_in * w_in));
        let (w, wr) = aligned(&rng.vec(c_out * (c_in / group) * kh * kw));
        let (b, br) = aligned(&rng.vec(c_out));
        let (mut y, yr) = aligned(&vec![0.0; n * c_out * h_out * w_out]);
        let (x, w, b, y) = (&x[xr], &w[wr], &b[br], &mut y[yr]);
        let (t0, _) = time_per_call(|| conv2d(Par::SINGLE, &p, x, w, Some(b), None, y));
        let (t1, _) = time_per_call(|| conv2d_nhwc(Par::SINGLE, &p, false, x, w, Some(b), None, y));
        let flops = 2.0 * (n * c_out * h_out * w_out * (c_in / group) * kh * kw) as f64;
        let shape = format!("{c_in}>{c_out} {h_in}x{w_in} {kh}/{sh} g{group}");
        row(kind, shape, flops, calls, t0, t1);
    }
    for &(c, spatial, mid) in SES.iter().filter(|s| s.1 <= 196) {
        let p = SqueezeExcite {
            n: 1,
            c,
            spatial,
            mid,
            act: Activation::Relu,
            gate: Activation::HardSigmoid {
                alpha: 1.0 / 6.0,
                beta: 0.5,
            },
        };
        let (x, xr) = aligned(&rng.vec(c * spatial));
        let (w1, b1, w2, b2) = (rng.vec(mid * c), rng.vec(mid), rng.vec(c * mid), rng.vec(c));
        let mut scratch = vec![0.0; c + mid];
        let (mut y, yr) = aligned(&vec![0.0; c * spatial]);
        let (x, y) = (&x[xr], &mut y[yr]);
        let (t0, _) = time_per_call(|| {
            squeeze_excite(
                Par::SINGLE,
                &p,
                InOut::Separate(x, y),
                &w1,
                &b1,
                &w2,
                &b2,
                &mut scratch,
            )
        });
        let (t1, _) = time_per_call(|| {
            squeeze_excite_nhwc(
                Par::SINGLE,
                &p,
                InOut::Separate(x, y),
                &w1,
                &b1,
                &w2,
                &b2,
                &mut scratch,
            )
        });
        let flops = (2 * c * spatial + 4 * c * mid) as f64;
        row("se", format!("{c} {spatial} mid {mid}"), flops, 1, t0, t1);
    }
    // Ghost modules (c_in, h = w, init, k, act, residual, calls): NCHW as two
    // convolutions into one buffer plus the residual add, NHWC fused.
    for &(c_in, h, init, k, act, with_res, calls) in &[
        (80, 14, 240, 240, RELU, false, 1),
        (480, 14, 56, 56, NONE, true, 1),
        (160, 7, 480, 480, RELU, false, 4),
        (960, 7, 80, 80, NONE, true, 4),
    ] {
        let conv = |c_in: usize, c_out: usize, kernel: usize, group: usize, activation| Conv2d {
            n: 1,
            c_in,
            h_in: h,
            w_in: h,
            c_out,
            h_out: h,
            w_out: h,
            kernel_h: kernel,
            kernel_w: kernel,
            stride_h: 1,
            stride_w: 1,
            pad_top: kernel / 2,
            pad_left: kernel / 2,
            dilation_h: 1,
            dilation_w: 1,
            group,
            activation,
        };
        let g = GhostModule {
            primary: conv(c_in, init, 1, 1, act),
            cheap: conv(k, k, 3, k, act),
        };
        let hw = h * h;
        let (x, xr) = aligned(&rng.vec(c_in * hw));
        let (w1, b1, w2, b2) = (
            rng.vec(c_in * init),
            rng.vec(init),
            rng.vec(9 * k),
            rng.vec(k),
        );
        let (r, rr) = aligned(&rng.vec((init + k) * hw));
        let (mut y, yr) = aligned(&vec![0.0; (init + k) * hw]);
        let (x, r, y) = (&x[xr], &r[rr], &mut y[yr]);
        let (t0, _) = time_per_call(|| {
            let (y1, y2) = y.split_at_mut(init * hw);
            conv2d(Par::SINGLE, &g.primary, x, &w1, Some(&b1), None, y1);
            conv2d(
                Par::SINGLE,
                &g.cheap,
                &y1[..k * hw],
                &w2,
                Some(&b2),
                None,
                y2,
            );
            if with_res {
                add_assign(y, r);
            }
        });
        let res = with_res.then_some(r);
        let (t1, _) = time_per_call(|| {
            ghost_module_nhwc(Par::SINGLE, &g, false, x, &w1, &b1, &w2, &b2, res, y)
        });
        let flops = 2.0 * (hw * init * c_in + hw * k * 9) as f64;
        let shape = format!(
            "{c_in}>{init}+{k} {h}x{h}{}",
            if with_res { " +r" } else { "" }
        );
        row("ghost", shape, flops, calls, t0, t1);
    }
    let (x, xr) = aligned(&rng.vec(960 * 49));
    let (x, mut y) = (&x[xr], vec![0.0; 960]);
    let (t0, _) = time_per_call(|| global_avg_pool(960, 49, x, &mut y));
    let (t1, _) = time_per_call(|| global_avg_pool_nhwc(1, 960, 49, x, &mut y));
    row("gap", "960 49".to_string(), 960.0 * 49.0, 1, t0, t1);

    println!();
    println!(
        "{:<9} {:>9} {:>9} {:>6}",
        "kind", "nchw us", "nhwc us", "ratio"
    );
    let (mut all0, mut all1) = (0.0, 0.0);
    for (kind, (t0, t1)) in &totals {
        println!(
            "{kind:<9} {:>9.1} {:>9.1} {:>6.2}",
            t0 * 1e6,
            t1 * 1e6,
            t0 / t1
        );
        if *kind != "ghost" {
            all0 += t0;
            all1 += t1;
        }
    }
    println!(
        "{:<9} {:>9.1} {:>9.1} {:>6.2}",
        "total",
        all0 * 1e6,
        all1 * 1e6,
        all0 / all1
    );
}

/// One-row Gemm (a classifier) over several weight matrices in turn, 20 MB or more in all, as
/// a network streams its weights from the last-level cache: median time and GB/s per shape.
fn gemv_stream(rng: &mut Rng) {
    let threads = Threads::single();
    println!("{:>5} {:>5} {:>9} {:>7}", "n", "k", "us", "GB/s");
    for (n, k) in [
        (1000, 1280),
        (1280, 960),
        (1000, 512),
        (240, 960),
        (960, 240),
    ] {
        // Cycle through GEMV_MB MiB of matrices (default 20: beyond L2, within L3; 500 for DRAM).
        let mib: usize = std::env::var("GEMV_MB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20);
        let copies = (mib << 20) / (n * k * 4) + 1;
        let ws: Vec<Vec<f32>> = (0..copies).map(|_| rng.vec(n * k)).collect();
        let x = rng.vec(k);
        let mut out = vec![0.0; n];
        let p = Gemm {
            m: 1,
            n,
            k,
            trans_a: false,
            trans_b: true,
            alpha: 1.0,
            beta: 0.0,
            c_stride_m: 0,
            c_stride_n: 0,
        };
        let mut times = Vec::new();
        for round in 0..60 {
            for w in &ws {
                let t = Instant::now();
                gemm(threads.par(), &p, &x, w, None, &mut out);
                if round >= 10 {
                    times.push(t.elapsed().as_secs_f64());
                }
            }
        }
        times.sort_by(f64::total_cmp);
        let med = times[times.len() / 2];
        println!(
            "{n:>5} {k:>5} {:>9.1} {:>7.1}",
            med * 1e6,
            (n * k * 4) as f64 / med / 1e9
        );
    }
}

/// `forkjoin`: the cost of one fork-join of the two-thread pool (`Threads::new(2)`) on parts
/// that do nothing, after the calling thread worked alone for a while (busy, as between two
/// layers, so the pool's worker first spins, then parks, and the wake-up is in the figure),
/// against the same call on one thread.
fn fork_join() {
    let pool = Threads::new(2);
    let single = Threads::single();
    let mut data = [0f32; 2];
    let mut time = |t: &Threads, gap_us: u64| {
        let mut v = Vec::new();
        let runs = (200_000 / (gap_us + 20)).clamp(200, 5000);
        for _ in 0..runs {
            let idle = Instant::now();
            while idle.elapsed().as_micros() < u128::from(gap_us) {
                std::hint::spin_loop();
            }
            let start = Instant::now();
            t.par().for_each_part(&mut data, 2, &|i| i, &|_, part| {
                std::hint::black_box(part);
            });
            v.push(start.elapsed().as_secs_f64() * 1e6);
        }
        v.sort_by(f64::total_cmp);
        (v[v.len() / 10], v[v.len() / 2], v[v.len() * 9 / 10])
    };
    println!("fork-join of 2 empty parts after a serial gap");
    println!(
        "{:<12} {:>8} {:>8} {:>8} {:>8}",
        "threads", "gap us", "p10 us", "median", "p90"
    );
    for (name, t) in [("1", &single), ("2", &pool)] {
        for gap in [0, 10, 100, 300, 500, 1000, 2000] {
            let (p10, med, p90) = time(t, gap);
            println!("{name:<12} {gap:>8} {p10:>8.2} {med:>8.2} {p90:>8.2}");
        }
    }
}

/// `layout`: NCHW against NHWC on a grid of the pointwise and depthwise shapes the family uses
/// (MobileNetV2/V3, EfficientNet, GhostNet; planes 112x112 to 7x7), one line each:
/// `kind cin cout plane k stride nchw_us nhwc_us`, the data behind the layout cost model.
fn layout_sweep(rng: &mut Rng) {
    let conv = |c_in, c_out, hw: usize, k: usize, s: usize, group| Conv2d {
        n: 1,
        c_in,
        h_in: hw,
        w_in: hw,
        c_out,
        h_out: hw.div_ceil(s),
        w_out: hw.div_ceil(s),
        kernel_h: k,
        kernel_w: k,
        stride_h: s,
        stride_w: s,
        pad_top: k / 2,
        pad_left: k / 2,
        dilation_h: 1,
        dilation_w: 1,
        group,
        activation: RELU,
    };
    let mut shapes = Vec::new();
    for hw in [56, 28, 14, 7] {
        for (ci, co) in [
            (8, 48),
            (48, 8),
            (16, 96),
            (96, 24),
            (24, 144),
            (144, 24),
            (32, 192),
            (192, 32),
            (40, 240),
            (240, 40),
            (64, 384),
            (384, 64),
            (96, 576),
            (576, 96),
            (112, 672),
            (672, 112),
            (192, 1152),
            (1152, 192),
        ] {
            shapes.push(("pw", conv(ci, co, hw, 1, 1, 1)));
        }
    }
    for hw in [112, 56, 28, 14, 7] {
        for c in [16, 24, 36, 48, 96, 144, 192, 240, 384, 480, 672, 1152] {
            for (k, st) in [(3, 1), (3, 2), (5, 1), (5, 2)] {
                if c * hw * hw <= 1 << 21 {
                    shapes.push(("dw", conv(c, c, hw, k, st, c)));
                }
            }
        }
    }
    println!("kind cin cout plane k stride nchw_us nhwc_us");
    for (kind, p) in shapes {
        let (x, xr) = aligned(&rng.vec(p.input_len()));
        let (w, wr) = aligned(&rng.vec(p.c_out * (p.c_in / p.group) * p.kernel_h * p.kernel_w));
        let (b, br) = aligned(&rng.vec(p.c_out));
        let (mut y, yr) = aligned(&vec![0.0; p.output_len()]);
        let (x, w, b, y) = (&x[xr], &w[wr], &b[br], &mut y[yr]);
        let (t0, _) = time_per_call(|| conv2d(Par::SINGLE, &p, x, w, Some(b), None, y));
        let (t1, _) = time_per_call(|| conv2d_nhwc(Par::SINGLE, &p, false, x, w, Some(b), None, y));
        println!(
            "{kind} {} {} {} {} {} {:.2} {:.2}",
            p.c_in,
            p.c_out,
            p.h_in,
            p.kernel_h,
            p.stride_h,
            t0 * 1e6,
            t1 * 1e6
        );
    }
}

/// `act`: the cost of each activation, as a pass from an L1-resident buffer of values in
/// `[-8, 8)` to another (ns per element)
/// and fused into a pointwise conv (EfficientNet's 16 -> 96 expansion at 96x96 and 24 -> 144
/// at 48x48, NCHW and NHWC), against the same conv with no activation.
fn activation_cost(rng: &mut Rng) {
    let acts = [
        ("none", Activation::None),
        ("relu", Activation::Relu),
        ("silu", Activation::Silu),
        ("sigmoid", Activation::Sigmoid),
        ("hardswish", Activation::HardSwish),
        ("gelu", Activation::Gelu),
    ];
    // From a fixed input to a separate output: applied in place, repeated SiLUs shrank the
    // buffer into the subnormals (a microcode assist per element), and the timing drifted.
    let x: Vec<f32> = rng.vec(4096).iter().map(|v| v * 8.0).collect();
    let mut y = vec![0.0; x.len()];
    println!("{:<10} {:>9}", "pass", "ns/elem");
    for (name, act) in acts {
        let (t, _) = time_per_call(|| activation(act, InOut::Separate(&x, &mut y)));
        println!("{name:<10} {:>9.3}", t * 1e9 / x.len() as f64);
    }
    println!(
        "{:<10} {:>22} {:>9} {:>9}",
        "conv", "shape", "nchw us", "nhwc us"
    );
    for (c_in, c_out, hw) in [(16, 96, 96), (24, 144, 48)] {
        for (name, act) in acts {
            let p = Conv2d {
                n: 1,
                c_in,
                h_in: hw,
                w_in: hw,
                c_out,
                h_out: hw,
                w_out: hw,
                kernel_h: 1,
                kernel_w: 1,
                stride_h: 1,
                stride_w: 1,
                pad_top: 0,
                pad_left: 0,
                dilation_h: 1,
                dilation_w: 1,
                group: 1,
                activation: act,
            };
            let (x, w, b) = (
                rng.vec(p.input_len()),
                rng.vec(c_in * c_out),
                rng.vec(c_out),
            );
            let mut y = vec![0.0; p.output_len()];
            let (t0, _) = time_per_call(|| conv2d(Par::SINGLE, &p, &x, &w, Some(&b), None, &mut y));
            let (t1, _) = time_per_call(|| {
                conv2d_nhwc(Par::SINGLE, &p, false, &x, &w, Some(&b), None, &mut y)
            });
            println!(
                "{name:<10} {:>22} {:>9.1} {:>9.1}",
                format!("{c_in}>{c_out} {hw}x{hw}"),
                t0 * 1e6,
                t1 * 1e6
            );
        }
    }
}

/// `winograd`: `conv2d_dense` and `conv2d_winograd` on 3x3 stride-1 NHWC convolutions (ReLU,
/// bias, a residual on every other row): the ResNet-10t/18 layers and some odd shapes. Median
/// us per call of each, alternated 5 times (the median of those medians); ratio = dense /
/// winograd (above 1 when Winograd is faster); GFLOP/s counted as the direct convolution's
/// multiply-adds; `pick` is the compiler's rule (`ghostc::ops::conv::winograd_pays`, restated
/// here as the runtime cannot depend on the compiler).
///
/// With `WINOGRAD_COLD=1` every call starts with cold caches (64 MiB written first), as a
/// layer of a model finds its weights: the median of 15 such calls.
fn winograd_vs_dense(rng: &mut Rng) {
    let cold = std::env::var("WINOGRAD_COLD").is_ok_and(|v| v == "1");
    let mut flush = vec![0u8; 64 << 20];
    /// Median seconds of `f`: hot (repeated, [`time_per_call`]) or after a cache flush.
    fn timed(cold: bool, flush: &mut [u8], mut f: impl FnMut()) -> f64 {
        if !cold {
            return time_per_call(f).0;
        }
        let mut t: Vec<f64> = (0..15)
            .map(|i| {
                for b in flush.iter_mut().step_by(64) {
                    *b = b.wrapping_add(i as u8 | 1);
                }
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    }
    // (c_in, c_out, h = w or (h, w))
    let shapes: &[(usize, usize, usize, usize)] = &[
        (32, 64, 112, 112),
        (64, 64, 56, 56),
        (128, 128, 28, 28),
        (256, 256, 14, 14),
        (512, 512, 7, 7),
        (64, 128, 56, 56),
        (128, 256, 28, 28),
        (256, 512, 14, 14),
        (64, 64, 28, 28),
        (96, 96, 14, 14),
        (128, 128, 14, 14),
        (256, 256, 7, 7),
        (64, 64, 7, 7),
        (17, 33, 56, 56),
        (24, 40, 112, 112),
        (48, 80, 27, 27),
        (33, 70, 13, 13),
        (160, 160, 10, 10),
        (512, 512, 14, 14),
        (16, 16, 112, 112),
    ];
    println!(
        "{:>22} {:>9} {:>9} {:>6} {:>8} {:>8} {:>5}",
        "shape (cin>cout hxw)", "dense us", "wino us", "ratio", "dense GF", "wino GF", "pick"
    );
    // A second argument keeps the shapes whose label contains it (e.g. `512>512 7x7`).
    let only = std::env::args().nth(2).unwrap_or_default();
    for (i, &(c_in, c_out, h, w)) in shapes.iter().enumerate() {
        let label = format!(
            "{c_in}>{c_out} {h}x{w}{}",
            if i % 2 == 1 { " +r" } else { "" }
        );
        if !label.contains(only.as_str()) {
            continue;
        }
        let p = Conv2d {
            n: 1,
            c_in,
            h_in: h,
            w_in: w,
            c_out,
            h_out: h,
            w_out: w,
            kernel_h: 3,
            kernel_w: 3,
            stride_h: 1,
            stride_w: 1,
            pad_top: 1,
            pad_left: 1,
            dilation_h: 1,
            dilation_w: 1,
            group: 1,
            activation: RELU,
        };
        // Timing only: random values stand for both packings.
        let (x, xr) = aligned(&rng.vec(c_in * h * w));
        let (wd, wdr) = aligned(&rng.vec(dense_weight_len(&p)));
        let (ww, wwr) = aligned(&rng.vec(winograd_weight_len(&p)));
        let (b, br) = aligned(&rng.vec(c_out));
        let (r, rr) = aligned(&rng.vec(c_out * h * w));
        let (mut y, yr) = aligned(&vec![0.0; c_out * h * w]);
        let (x, wd, ww, b, y) = (&x[xr], &wd[wdr], &ww[wwr], &b[br], &mut y[yr]);
        let res = (i % 2 == 1).then_some(&r[rr]);
        let (mut td, mut tw) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            td.push(timed(cold, &mut flush, || {
                conv2d_dense(Par::SINGLE, &p, true, true, x, wd, Some(b), res, y)
            }));
            tw.push(timed(cold, &mut flush, || {
                conv2d_winograd(Par::SINGLE, &p, x, ww, Some(b), res, y)
            }));
        }
        td.sort_by(f64::total_cmp);
        tw.sort_by(f64::total_cmp);
        let (t0, t1) = (td[2], tw[2]);
        let flops = 2.0 * (c_out * h * w * c_in * 9) as f64;
        let tiles = h.div_ceil(4) * w.div_ceil(4);
        let pick = 36 * tiles <= 3 * h * w && tiles >= 32 && 36 * c_in * 64 * 4 <= 5 << 18;
        println!(
            "{:>22} {:>9.1} {:>9.1} {:>6.2} {:>8.1} {:>8.1} {:>5}",
            label,
            t0 * 1e6,
            t1 * 1e6,
            t0 / t1,
            flops / t0 * 1e-9,
            flops / t1 * 1e-9,
            if pick { "wino" } else { "dense" }
        );
    }
}
