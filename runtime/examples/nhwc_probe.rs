// TEMPORARY probe (to be deleted): the three target shapes, min and median of repeated runs.
use ghostc_runtime::*;
use std::time::Instant;

fn t(mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..200 {
        f();
    }
    let mut v: Vec<f64> = (0..300)
        .map(|_| {
            let s = Instant::now();
            for _ in 0..20 {
                f();
            }
            s.elapsed().as_secs_f64() / 20.0
        })
        .collect();
    v.sort_by(f64::total_cmp);
    (v[0] * 1e6, v[v.len() / 2] * 1e6)
}

fn conv(c_in: usize, c_out: usize, h: usize, ho: usize, k: usize, s: usize, g: usize) -> Conv2d {
    Conv2d {
        n: 1,
        c_in,
        h_in: h,
        w_in: h,
        c_out,
        h_out: ho,
        w_out: ho,
        kernel_h: k,
        kernel_w: k,
        stride_h: s,
        stride_w: s,
        pad_top: k / 2,
        pad_left: k / 2,
        dilation_h: 1,
        dilation_w: 1,
        group: g,
        activation: Activation::Relu,
    }
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    for (name, p) in [
        ("dw3 480 7x7", conv(480, 480, 7, 7, 3, 1, 480)),
        ("dw5s2 672 14", conv(672, 672, 14, 7, 5, 2, 672)),
        ("pw 160>480 7x7", conv(160, 480, 7, 7, 1, 1, 1)),
        ("pw 672>56 14", conv(672, 56, 14, 14, 1, 1, 1)),
        ("pw 40>120 28", conv(40, 120, 28, 28, 1, 1, 1)),
    ] {
        if !name.contains(which.as_str()) {
            continue;
        }
        let mut seed = 0x1234_5678u32;
        let mut rv = |len: usize| -> Vec<f32> {
            (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    (seed >> 8) as f32 / (1u32 << 23) as f32 - 1.0
                })
                .collect()
        };
        let rand = std::env::var("RAND").is_ok();
        let off: usize = std::env::var("OFF")
            .map(|v| v.parse().unwrap())
            .unwrap_or(0);
        let mk = |len: usize, v: f32, rv: &mut dyn FnMut(usize) -> Vec<f32>| -> Vec<f32> {
            let d = if rand { rv(len) } else { vec![v; len] };
            d
        };
        fn align(v: Vec<f32>, off: usize) -> (Vec<f32>, usize) {
            let mut b = vec![0.0f32; v.len() + 32];
            let a = b.as_ptr() as usize;
            let s = ((64 - a % 64) % 64) / 4 + off;
            b[s..s + v.len()].copy_from_slice(&v);
            (b, s)
        }
        let x = mk(p.c_in * p.h_in * p.w_in, 0.5, &mut rv);
        let w = mk(
            p.c_out * (p.c_in / p.group) * p.kernel_h * p.kernel_w,
            0.25,
            &mut rv,
        );
        let b = mk(p.c_out, 0.1, &mut rv);
        let (xb, xs) = align(x, off);
        let x = &xb[xs..xs + p.c_in * p.h_in * p.w_in];
        let (wb, ws) = align(w, off);
        let w = &wb[ws..ws + p.c_out * (p.c_in / p.group) * p.kernel_h * p.kernel_w];
        let (mut yb, ys) = align(vec![0.0; p.c_out * p.h_out * p.w_out], off);
        let y = &mut yb[ys..ys + p.c_out * p.h_out * p.w_out];
        let fl = 2.0
            * (p.c_out * p.h_out * p.w_out * (p.c_in / p.group) * p.kernel_h * p.kernel_w) as f64;
        let (a0, a1) = t(|| conv2d(&p, x, w, Some(&b), y));
        let (b0, b1) = t(|| conv2d_nhwc(Par::SINGLE, &p, false, x, w, Some(&b), None, y));
        println!("{name:<16} nchw min {a0:7.1} med {a1:7.1} | nhwc min {b0:7.1} med {b1:7.1} us  ({:.1} GF/s min)", fl / b0 * 1e-3);
    }
}
