//! ONNX Resize (opset 11+) over the last two axes, nearest and bilinear, and the DFC gate
//! (a product with a nearest-upsampled gate, never materialised).

use crate::dispatch::{kernels, Kernels};
use crate::params::{CoordTransform, GateUpsample, InOut, NearestRounding, Resize, ResizeMode};

/// Output columns whose source indices and weights are computed together (stack buffers).
const BLOCK: usize = 128;

/// ONNX Resize over the last two axes. Each output coordinate is mapped to a
/// source coordinate by `p.coord` (computed in `f32` like onnxruntime), then
/// - `Nearest`: rounded per the rounding mode and clamped to `[0, len - 1]`;
/// - `Linear`: clamped to `[0, len - 1]` and interpolated between the two
///   neighbouring rows/columns (the upper one clamped to `len - 1`) as
///   `w0 * a + w1 * b` per axis, horizontally first, with onnxruntime's weights: a
///   coordinate clamped to the last row/column reads only it, with weights `0.5, 0.5` (an
///   infinity there stays infinite), while a whole-number coordinate elsewhere reads its
///   neighbour with weight 0, so an infinite neighbour gives NaN there, as in onnxruntime.
///
/// Sizes: `input` is `[n, c, h_in, w_in]`, `output` is `[n, c, h_out, w_out]`.
/// If the input planes are empty (`h_in` or `w_in` is 0) the output is zeroed.
///
/// The column indices and weights are computed once per call (per block of columns), rows once
/// per output row; nearest output rows that read the same source row as the row above are
/// copies of it, and bilinear interpolates each source row horizontally once (vector kernels)
/// and then each output row vertically (vector kernels).
pub fn resize(p: &Resize, input: &[f32], output: &mut [f32]) {
    resize_with(kernels(), p, input, output);
}

fn resize_with(k: &Kernels, p: &Resize, input: &[f32], output: &mut [f32]) {
    assert_eq!(
        input.len(),
        p.n * p.c * p.h_in * p.w_in,
        "resize: input size"
    );
    assert_eq!(
        output.len(),
        p.n * p.c * p.h_out * p.w_out,
        "resize: output size"
    );
    if p.h_in == 0 || p.w_in == 0 {
        output.fill(0.0);
        return;
    }
    let in_plane = p.h_in * p.w_in;
    let out_plane = p.h_out * p.w_out;
    let mut x0 = 0;
    while x0 < p.w_out {
        let n = BLOCK.min(p.w_out - x0);
        let mut i0 = [0usize; BLOCK];
        let mut i1 = [0usize; BLOCK];
        let mut w0 = [0f32; BLOCK];
        let mut w1 = [0f32; BLOCK];
        for j in 0..n {
            let sx = source(p.coord, x0 + j, p.scale_w, p.w_in, p.w_out);
            match p.mode {
                ResizeMode::Nearest(r) => i0[j] = nearest(sx, r, p.w_in),
                ResizeMode::Linear => (i0[j], i1[j], w0[j], w1[j]) = linear(sx, p.w_in),
            }
        }
        for plane in 0..p.n * p.c {
            let x = &input[plane * in_plane..][..in_plane];
            let y = &mut output[plane * out_plane..][..out_plane];
            match p.mode {
                ResizeMode::Nearest(r) => {
                    let mut prev = None;
                    for oy in 0..p.h_out {
                        let iy =
                            nearest(source(p.coord, oy, p.scale_h, p.h_in, p.h_out), r, p.h_in);
                        let at = oy * p.w_out + x0;
                        if prev == Some(iy) {
                            y.copy_within(at - p.w_out..at - p.w_out + n, at);
                        } else {
                            let row = &x[iy * p.w_in..][..p.w_in];
                            for (o, &i) in y[at..at + n].iter_mut().zip(&i0[..n]) {
                                *o = row[i];
                            }
                        }
                        prev = Some(iy);
                    }
                }
                ResizeMode::Linear => {
                    // Two source rows interpolated horizontally, with the row each holds.
                    let mut rows = [[0f32; BLOCK]; 2];
                    let mut held = [usize::MAX; 2];
                    let mut a = [0f32; BLOCK];
                    let mut b = [0f32; BLOCK];
                    for oy in 0..p.h_out {
                        let (y0, y1, v0, v1) =
                            linear(source(p.coord, oy, p.scale_h, p.h_in, p.h_out), p.h_in);
                        for want in [y0, y1] {
                            if held.contains(&want) {
                                continue;
                            }
                            // Replace the row not needed now.
                            let slot = if held[0] == y0 || held[0] == y1 { 1 } else { 0 };
                            let row = &x[want * p.w_in..][..p.w_in];
                            for j in 0..n {
                                a[j] = row[i0[j]];
                                b[j] = row[i1[j]];
                            }
                            (k.blend)(&a[..n], &w0[..n], &b[..n], &w1[..n], &mut rows[slot][..n]);
                            held[slot] = want;
                        }
                        let r0 = &rows[usize::from(held[0] != y0)][..n];
                        let r1 = &rows[usize::from(held[0] != y1)][..n];
                        let at = oy * p.w_out + x0;
                        (k.blend_rows)(r0, v0, r1, v1, &mut y[at..at + n]);
                    }
                }
            }
        }
        x0 += n;
    }
}

/// [`resize`] on NHWC tensors: `input` is `[n, h_in, w_in, c]`, `output` is `[n, h_out, w_out,
/// c]`. The same source pixels and weights, combined in the same order (horizontally, then
/// vertically), so the same bits as `resize` on the transposed tensors. Nearest copies whole
/// channel vectors (an output row that reads the row above's source row is a copy of it);
/// bilinear blends channel vectors with the vector kernels.
pub fn resize_nhwc(p: &Resize, input: &[f32], output: &mut [f32]) {
    resize_nhwc_with(kernels(), p, input, output);
}

/// Channels blended at a time by the bilinear NHWC path (stack buffers).
const CHANNEL_BLOCK: usize = 256;

fn resize_nhwc_with(k: &Kernels, p: &Resize, input: &[f32], output: &mut [f32]) {
    let c = p.c;
    assert_eq!(
        input.len(),
        p.n * c * p.h_in * p.w_in,
        "resize_nhwc: input size"
    );
    assert_eq!(
        output.len(),
        p.n * c * p.h_out * p.w_out,
        "resize_nhwc: output size"
    );
    if output.is_empty() {
        return;
    }
    if p.h_in == 0 || p.w_in == 0 {
        output.fill(0.0);
        return;
    }
    let (in_row, out_row) = (p.w_in * c, p.w_out * c);
    for item in 0..p.n {
        let x = &input[item * p.h_in * in_row..][..p.h_in * in_row];
        let y = &mut output[item * p.h_out * out_row..][..p.h_out * out_row];
        let mut prev = None;
        for oy in 0..p.h_out {
            let sy = source(p.coord, oy, p.scale_h, p.h_in, p.h_out);
            let at = oy * out_row;
            match p.mode {
                ResizeMode::Nearest(r) => {
                    let iy = nearest(sy, r, p.h_in);
                    if prev == Some(iy) {
                        y.copy_within(at - out_row..at, at);
                        continue;
                    }
                    prev = Some(iy);
                    let row = &x[iy * in_row..][..in_row];
                    for (ox, px) in y[at..at + out_row].chunks_exact_mut(c).enumerate() {
                        let sx = source(p.coord, ox, p.scale_w, p.w_in, p.w_out);
                        let ix = nearest(sx, r, p.w_in);
                        px.copy_from_slice(&row[ix * c..][..c]);
                    }
                }
                ResizeMode::Linear => {
                    let (y0, y1, v0, v1) = linear(sy, p.h_in);
                    let (r0, r1) = (&x[y0 * in_row..][..in_row], &x[y1 * in_row..][..in_row]);
                    for (ox, px) in y[at..at + out_row].chunks_exact_mut(c).enumerate() {
                        let sx = source(p.coord, ox, p.scale_w, p.w_in, p.w_out);
                        let (x0, x1, u0, u1) = linear(sx, p.w_in);
                        let mut c0 = 0;
                        while c0 < c {
                            let m = CHANNEL_BLOCK.min(c - c0);
                            let (mut top, mut bottom) =
                                ([0f32; CHANNEL_BLOCK], [0f32; CHANNEL_BLOCK]);
                            let (a, b) = (x0 * c + c0, x1 * c + c0);
                            let (top, bottom) = (&mut top[..m], &mut bottom[..m]);
                            (k.blend_rows)(&r0[a..a + m], u0, &r0[b..b + m], u1, top);
                            (k.blend_rows)(&r1[a..a + m], u0, &r1[b..b + m], u1, bottom);
                            (k.blend_rows)(top, v0, bottom, v1, &mut px[c0..c0 + m]);
                            c0 += m;
                        }
                    }
                }
            }
        }
    }
}

/// The scalar Resize, one output element at a time: the reference the vector path is tested
/// against (the same arithmetic, so the same bits).
#[cfg(test)]
fn resize_reference(p: &Resize, input: &[f32], output: &mut [f32]) {
    if p.h_in == 0 || p.w_in == 0 {
        output.fill(0.0);
        return;
    }
    let in_plane = p.h_in * p.w_in;
    let out_plane = p.h_out * p.w_out;
    for plane in 0..p.n * p.c {
        let x = &input[plane * in_plane..][..in_plane];
        let y = &mut output[plane * out_plane..][..out_plane];
        for oy in 0..p.h_out {
            let sy = source(p.coord, oy, p.scale_h, p.h_in, p.h_out);
            let out_row = &mut y[oy * p.w_out..][..p.w_out];
            match p.mode {
                ResizeMode::Nearest(rounding) => {
                    let row = &x[nearest(sy, rounding, p.h_in) * p.w_in..][..p.w_in];
                    for (ox, o) in out_row.iter_mut().enumerate() {
                        let sx = source(p.coord, ox, p.scale_w, p.w_in, p.w_out);
                        *o = row[nearest(sx, rounding, p.w_in)];
                    }
                }
                ResizeMode::Linear => {
                    let (y0, y1, v0, v1) = linear(sy, p.h_in);
                    let row0 = &x[y0 * p.w_in..][..p.w_in];
                    let row1 = &x[y1 * p.w_in..][..p.w_in];
                    for (ox, o) in out_row.iter_mut().enumerate() {
                        let (x0, x1, u0, u1) =
                            linear(source(p.coord, ox, p.scale_w, p.w_in, p.w_out), p.w_in);
                        let top = u0 * row0[x0] + u1 * row0[x1];
                        let bottom = u0 * row1[x0] + u1 * row1[x1];
                        *o = v0 * top + v1 * bottom;
                    }
                }
            }
        }
    }
}

/// `out = x * upsample(gate)` (see [`GateUpsample`]): `data` is `[n, c, h, w]` (or the
/// output, updated in place), `gate` is `[n, c, h / factor_h, w / factor_w]`. What ONNX
/// computes as `Mul(x, Resize(gate))` for a nearest Resize that picks source pixel
/// `o / factor` for output coordinate `o` (the compiler checks that before fusing).
pub fn gate_upsample(p: &GateUpsample, data: InOut<'_>, gate: &[f32]) {
    gate_upsample_with(kernels(), p, data, gate);
}

fn gate_upsample_with(k: &Kernels, p: &GateUpsample, data: InOut<'_>, gate: &[f32]) {
    let len = p.n * p.c * p.h * p.w;
    assert!(p.factor_h > 0 && p.factor_w > 0, "gate_upsample: factors");
    assert!(
        p.h.is_multiple_of(p.factor_h) && p.w.is_multiple_of(p.factor_w),
        "gate_upsample: the factors must divide the plane"
    );
    assert_eq!(
        gate.len(),
        len / (p.factor_h * p.factor_w),
        "gate_upsample: gate size"
    );
    match data {
        InOut::Separate(x, out) => {
            assert!(x.len() == len && out.len() == len, "gate_upsample: sizes");
            (k.gate_upsample)(p, Some(x), gate, out);
        }
        InOut::InPlace(out) => {
            assert_eq!(out.len(), len, "gate_upsample: size");
            (k.gate_upsample)(p, None, gate, out);
        }
    }
}

/// [`gate_upsample`] on NHWC tensors: `data` is `[n, h, w, c]` (or the output, updated in
/// place), `gate` is `[n, h / factor_h, w / factor_w, c]`. Each run of `factor_w` output pixels
/// that share a gate pixel is one vector product with its channel vector (subnormal products
/// stored as 0, as `gate_upsample` does), so the same bits as `gate_upsample`.
pub fn gate_upsample_nhwc(p: &GateUpsample, data: InOut<'_>, gate: &[f32]) {
    gate_upsample_nhwc_with(kernels(), p, data, gate);
}

fn gate_upsample_nhwc_with(k: &Kernels, p: &GateUpsample, data: InOut<'_>, gate: &[f32]) {
    let (fh, fw, c) = (p.factor_h, p.factor_w, p.c);
    let len = p.n * c * p.h * p.w;
    assert!(fh > 0 && fw > 0, "gate_upsample_nhwc: factors");
    assert!(
        p.h.is_multiple_of(fh) && p.w.is_multiple_of(fw),
        "gate_upsample_nhwc: the factors must divide the plane"
    );
    assert_eq!(gate.len(), len / (fh * fw), "gate_upsample_nhwc: gate size");
    let (x, out) = match data {
        InOut::Separate(x, out) => {
            assert!(
                x.len() == len && out.len() == len,
                "gate_upsample_nhwc: sizes"
            );
            (Some(x), out)
        }
        InOut::InPlace(out) => {
            assert_eq!(out.len(), len, "gate_upsample_nhwc: size");
            (None, out)
        }
    };
    if c == 0 {
        return;
    }
    let (gw, run) = (p.w / fw, fw * c);
    // One run: `fw` pixels of one output row under gate pixel `g` (pixels counted over the
    // whole batch: rows of `w` pixels, gate rows of `gw`).
    for (i, out) in out.chunks_exact_mut(run).enumerate() {
        let (row, gx) = (i / gw, i % gw);
        let g = (row / fh) * gw + gx;
        let g = &gate[g * c..][..c];
        (k.scale_pixels_nhwc)(x.map(|x| &x[i * run..][..run]), g, out);
    }
}

/// Source coordinate of output coordinate `x` along one axis.
#[inline]
fn source(coord: CoordTransform, x: usize, scale: f32, len_in: usize, len_out: usize) -> f32 {
    let x = x as f32;
    match coord {
        CoordTransform::HalfPixel => (x + 0.5) / scale - 0.5,
        CoordTransform::PytorchHalfPixel => {
            if len_out > 1 {
                (x + 0.5) / scale - 0.5
            } else {
                0.0
            }
        }
        CoordTransform::AlignCorners => {
            if len_out > 1 {
                x * (len_in - 1) as f32 / (len_out - 1) as f32
            } else {
                0.0
            }
        }
        CoordTransform::Asymmetric => x / scale,
        CoordTransform::TfHalfPixelForCenter => (x + 0.5) / scale,
    }
}

/// `floor` without std; exact for |x| < 2^63, NaN gives 0.
#[inline]
fn floor(x: f32) -> f32 {
    let t = x as i64 as f32;
    if t > x {
        t - 1.0
    } else {
        t
    }
}

/// Index for nearest mode, clamped to `0..len` (`len > 0`).
#[inline]
fn nearest(x: f32, rounding: NearestRounding, len: usize) -> usize {
    let f = floor(x);
    // Exact for x >= 0; negative x ends up at index 0 whatever the rounding.
    let frac = x - f;
    let up = match rounding {
        NearestRounding::RoundPreferFloor => frac > 0.5,
        NearestRounding::RoundPreferCeil => frac >= 0.5,
        NearestRounding::Floor => false,
        NearestRounding::Ceil => frac > 0.0,
    };
    let r = if up { f + 1.0 } else { f };
    // Float-to-int casts saturate (NaN gives 0), so this cannot wrap.
    (r.max(0.0) as usize).min(len - 1)
}

/// Neighbouring indices and their weights for a source coordinate clamped to
/// `[0, len - 1]` (`len > 0`), as onnxruntime computes them: `(i0, i0 + 1, 1 - f, f)`, even
/// where `f` is 0 (so an infinite neighbour of weight 0 gives NaN, as there), or
/// `(i, i, 0.5, 0.5)` where the coordinate is clamped to the last index `i`.
#[inline]
fn linear(x: f32, len: usize) -> (usize, usize, f32, f32) {
    let hi = (len - 1) as f32;
    // Written so that NaN clamps to 0.
    let x = if x > 0.0 { x } else { 0.0 };
    let x = if x < hi { x } else { hi };
    let i0 = x as usize;
    let f = x - i0 as f32;
    if i0 + 1 >= len {
        (i0, i0, 0.5, 0.5)
    } else {
        (i0, i0 + 1, 1.0 - f, f)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::testutil::{assert_close, to_nchw, to_nhwc, Rng};
    use std::vec;
    use std::vec::Vec;

    const COORDS: [CoordTransform; 5] = [
        CoordTransform::HalfPixel,
        CoordTransform::PytorchHalfPixel,
        CoordTransform::AlignCorners,
        CoordTransform::Asymmetric,
        CoordTransform::TfHalfPixelForCenter,
    ];
    const ROUNDINGS: [NearestRounding; 4] = [
        NearestRounding::RoundPreferFloor,
        NearestRounding::RoundPreferCeil,
        NearestRounding::Floor,
        NearestRounding::Ceil,
    ];

    fn make(
        (n, c): (usize, usize),
        (h_in, w_in): (usize, usize),
        (h_out, w_out): (usize, usize),
        mode: ResizeMode,
        coord: CoordTransform,
    ) -> Resize {
        Resize {
            n,
            c,
            h_in,
            w_in,
            h_out,
            w_out,
            scale_h: h_out as f32 / h_in as f32,
            scale_w: w_out as f32 / w_in as f32,
            mode,
            coord,
        }
    }

    /// Source coordinate straight from the ONNX spec table (f32, like onnxruntime).
    fn ref_coord(
        coord: CoordTransform,
        x: usize,
        scale: f32,
        len_in: usize,
        len_out: usize,
    ) -> f32 {
        let x = x as f32;
        match coord {
            CoordTransform::HalfPixel => (x + 0.5) / scale - 0.5,
            CoordTransform::PytorchHalfPixel if len_out > 1 => (x + 0.5) / scale - 0.5,
            CoordTransform::PytorchHalfPixel => 0.0,
            CoordTransform::AlignCorners if len_out == 1 => 0.0,
            CoordTransform::AlignCorners => x * (len_in as f32 - 1.0) / (len_out as f32 - 1.0),
            CoordTransform::Asymmetric => x / scale,
            CoordTransform::TfHalfPixelForCenter => (x + 0.5) / scale,
        }
    }

    fn ref_nearest(x: f32, rounding: NearestRounding, len: usize) -> usize {
        let r = match rounding {
            NearestRounding::RoundPreferFloor if x == x.floor() + 0.5 => x.floor(),
            NearestRounding::RoundPreferFloor => x.round(),
            NearestRounding::RoundPreferCeil if x == x.floor() + 0.5 => x.ceil(),
            NearestRounding::RoundPreferCeil => x.round(),
            NearestRounding::Floor => x.floor(),
            NearestRounding::Ceil => x.ceil(),
        };
        r.clamp(0.0, (len - 1) as f32) as usize
    }

    /// Each output element independently, bilinear as a weighted sum of four
    /// corners in f64.
    fn reference(p: &Resize, x: &[f32]) -> Vec<f32> {
        let mut out = Vec::new();
        for plane in 0..p.n * p.c {
            let at = |iy: usize, ix: usize| f64::from(x[(plane * p.h_in + iy) * p.w_in + ix]);
            for oy in 0..p.h_out {
                for ox in 0..p.w_out {
                    let sy = ref_coord(p.coord, oy, p.scale_h, p.h_in, p.h_out);
                    let sx = ref_coord(p.coord, ox, p.scale_w, p.w_in, p.w_out);
                    let v = match p.mode {
                        ResizeMode::Nearest(r) => {
                            at(ref_nearest(sy, r, p.h_in), ref_nearest(sx, r, p.w_in))
                        }
                        ResizeMode::Linear => {
                            let sy = f64::from(sy).clamp(0.0, (p.h_in - 1) as f64);
                            let sx = f64::from(sx).clamp(0.0, (p.w_in - 1) as f64);
                            let (y0, x0) = (sy.floor() as usize, sx.floor() as usize);
                            let (y1, x1) = ((y0 + 1).min(p.h_in - 1), (x0 + 1).min(p.w_in - 1));
                            let (fy, fx) = (sy - y0 as f64, sx - x0 as f64);
                            (1.0 - fy) * (1.0 - fx) * at(y0, x0)
                                + (1.0 - fy) * fx * at(y0, x1)
                                + fy * (1.0 - fx) * at(y1, x0)
                                + fy * fx * at(y1, x1)
                        }
                    };
                    out.push(v as f32);
                }
            }
        }
        out
    }

    fn check(p: Resize, seed: u32) {
        let mut rng = Rng::new(seed);
        let x = rng.vec(p.n * p.c * p.h_in * p.w_in);
        let mut out = vec![f32::NAN; p.n * p.c * p.h_out * p.w_out];
        resize(&p, &x, &mut out);
        assert_close(&out, &reference(&p, &x));
    }

    #[test]
    fn all_modes_match_reference() {
        let sizes = [
            (2, 3, 4, 6),
            (4, 6, 2, 3),
            (3, 5, 7, 2),
            (1, 1, 3, 4),
            (5, 4, 1, 1),
            (4, 4, 4, 4),
            (3, 3, 8, 5),
        ];
        let mut seed = 0;
        for (h_in, w_in, h_out, w_out) in sizes {
            for coord in COORDS {
                seed += 1;
                check(
                    make(
                        (2, 2),
                        (h_in, w_in),
                        (h_out, w_out),
                        ResizeMode::Linear,
                        coord,
                    ),
                    seed,
                );
                for r in ROUNDINGS {
                    seed += 1;
                    check(
                        make(
                            (1, 3),
                            (h_in, w_in),
                            (h_out, w_out),
                            ResizeMode::Nearest(r),
                            coord,
                        ),
                        seed,
                    );
                }
            }
        }
    }

    #[test]
    fn given_scale_differs_from_size_ratio() {
        // ONNX lets `scales` be given with output = floor(input * scale).
        let mut p = make(
            (1, 1),
            (5, 5),
            (7, 7),
            ResizeMode::Linear,
            CoordTransform::HalfPixel,
        );
        p.scale_h = 1.5;
        p.scale_w = 1.5;
        check(p, 100);
        p.mode = ResizeMode::Nearest(NearestRounding::RoundPreferFloor);
        p.coord = CoordTransform::Asymmetric;
        check(p, 101);
    }

    // Known answers from the ONNX operator test suite.
    const X22: [f32; 4] = [1.0, 2.0, 3.0, 4.0];

    #[test]
    fn onnx_upsample_nearest() {
        let p = Resize {
            scale_h: 2.0,
            scale_w: 3.0,
            ..make(
                (1, 1),
                (2, 2),
                (4, 6),
                ResizeMode::Nearest(NearestRounding::RoundPreferFloor),
                CoordTransform::HalfPixel,
            )
        };
        let mut out = [0.0; 24];
        resize(&p, &X22, &mut out);
        let want = [
            1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, //
            3.0, 3.0, 3.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 4.0, 4.0, 4.0,
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn onnx_upsample_linear() {
        let p = make(
            (1, 1),
            (2, 2),
            (4, 4),
            ResizeMode::Linear,
            CoordTransform::HalfPixel,
        );
        let mut out = [0.0; 16];
        resize(&p, &X22, &mut out);
        let want = [
            1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, //
            2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0,
        ];
        assert_close(&out, &want);
    }

    #[test]
    fn onnx_upsample_linear_align_corners() {
        let p = make(
            (1, 1),
            (2, 2),
            (4, 4),
            ResizeMode::Linear,
            CoordTransform::AlignCorners,
        );
        let mut out = [0.0; 16];
        resize(&p, &X22, &mut out);
        let t = 1.0 / 3.0;
        let want = [
            1.0,
            1.0 + t,
            1.0 + 2.0 * t,
            2.0, //
            1.0 + 2.0 * t,
            2.0,
            2.0 + t,
            2.0 + 2.0 * t, //
            2.0 + t,
            2.0 + 2.0 * t,
            3.0,
            3.0 + t, //
            3.0,
            3.0 + t,
            3.0 + 2.0 * t,
            4.0,
        ];
        assert_close(&out, &want);
    }

    #[test]
    fn nearest_rounding_ties() {
        assert_eq!(nearest(1.5, NearestRounding::RoundPreferFloor, 10), 1);
        assert_eq!(nearest(1.5, NearestRounding::RoundPreferCeil, 10), 2);
        assert_eq!(nearest(1.4, NearestRounding::RoundPreferCeil, 10), 1);
        assert_eq!(nearest(1.6, NearestRounding::RoundPreferFloor, 10), 2);
        assert_eq!(nearest(1.2, NearestRounding::Ceil, 10), 2);
        assert_eq!(nearest(1.8, NearestRounding::Floor, 10), 1);
        assert_eq!(nearest(-0.5, NearestRounding::RoundPreferFloor, 10), 0);
        assert_eq!(nearest(-3.0, NearestRounding::Ceil, 10), 0);
        assert_eq!(nearest(12.0, NearestRounding::Floor, 10), 9);
        assert_eq!(nearest(f32::NAN, NearestRounding::Floor, 10), 0);
        assert_eq!(nearest(f32::INFINITY, NearestRounding::Floor, 10), 9);
        // x + 0.5 would round up to 1.0 here.
        assert_eq!(nearest(0.49999997, NearestRounding::RoundPreferCeil, 10), 0);
    }

    /// Bit-equal outputs of every table and the scalar reference.
    fn check_tables(p: Resize, x: &[f32]) {
        let len = p.n * p.c * p.h_out * p.w_out;
        let mut want = vec![f32::NAN; len];
        resize_reference(&p, x, &mut want);
        for k in crate::dispatch::all() {
            let mut out = vec![f32::NAN; len];
            resize_with(k, &p, x, &mut out);
            for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                assert!(
                    a.to_bits() == b.to_bits(),
                    "{} {p:?} at {i}: {a} vs {b}",
                    k.name
                );
            }
            // NHWC: the same bits, transposed.
            let (hw_in, hw_out) = (p.h_in * p.w_in, p.h_out * p.w_out);
            let mut out = vec![f32::NAN; len];
            resize_nhwc_with(k, &p, &to_nhwc(x, p.n, p.c, hw_in), &mut out);
            let out = to_nchw(&out, p.n, p.c, hw_out);
            for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                assert!(
                    a.to_bits() == b.to_bits(),
                    "{} nhwc {p:?} at {i}: {a} vs {b}",
                    k.name
                );
            }
        }
    }

    #[test]
    fn vector_resize_matches_scalar_bits() {
        // Wider than one column block, odd sizes, down- and upsampling, batch 2.
        let sizes = [
            (3, 5, 7, 2),
            (1, 1, 3, 4),
            (5, 4, 1, 1),
            (20, 20, 40, 40),
            (2, 2, 5, 5),
            (3, 70, 7, 300),
            (9, 9, 4, 4),
        ];
        let mut seed = 500;
        for (h_in, w_in, h_out, w_out) in sizes {
            for coord in COORDS {
                let mut modes = vec![ResizeMode::Linear];
                modes.extend(ROUNDINGS.map(ResizeMode::Nearest));
                for mode in modes {
                    seed += 1;
                    // Channel counts below, at and above a vector and the NHWC channel block.
                    let c = [3, 16, 17, 300][seed as usize % 4];
                    let p = make((2, c), (h_in, w_in), (h_out, w_out), mode, coord);
                    let x = Rng::new(seed).vec(p.n * p.c * h_in * w_in);
                    check_tables(p, &x);
                }
            }
        }
    }

    #[test]
    fn linear_infinities_as_onnxruntime() {
        // The values onnxruntime 1.32 gives (linear, scales 1x2 and 2x2).
        let inf = f32::INFINITY;
        let p = make(
            (1, 1),
            (1, 2),
            (1, 4),
            ResizeMode::Linear,
            CoordTransform::Asymmetric,
        );
        let mut out = [0.0; 4];
        // [inf, 1]: inf where it has weight; the last column is clamped, reads 1 alone.
        resize(&p, &[inf, 1.0], &mut out);
        assert_eq!(out, [inf, inf, 1.0, 1.0]);
        check_tables(p, &[inf, 1.0]);
        // [2, -inf]: the first column reads -inf with weight 0: NaN, as onnxruntime.
        resize(&p, &[2.0, -inf], &mut out);
        assert!(out[0].is_nan() && out[1..] == [-inf; 3], "{out:?}");
        let p = make(
            (1, 1),
            (1, 2),
            (1, 4),
            ResizeMode::Linear,
            CoordTransform::HalfPixel,
        );
        resize(&p, &[inf, 1.0], &mut out);
        assert_eq!(out, [inf, inf, inf, 1.0]);
        // 2-D: onnxruntime gives [nan nan 2 2 / inf inf 2.5 2.5 / inf inf 3 3 / inf inf 3 3].
        let p = make(
            (1, 1),
            (2, 2),
            (4, 4),
            ResizeMode::Linear,
            CoordTransform::Asymmetric,
        );
        let mut out = [0.0; 16];
        resize(&p, &[1.0, 2.0, inf, 3.0], &mut out);
        assert!(out[0].is_nan() && out[1].is_nan(), "{out:?}");
        assert_eq!(
            out[2..],
            [2.0, 2.0, inf, inf, 2.5, 2.5, inf, inf, 3.0, 3.0, inf, inf, 3.0, 3.0]
        );
    }

    fn gate_reference(p: &GateUpsample, x: &[f32], g: &[f32]) -> Vec<f32> {
        let (gh, gw) = (p.h / p.factor_h, p.w / p.factor_w);
        let mut out = Vec::new();
        for plane in 0..p.n * p.c {
            for y in 0..p.h {
                for xx in 0..p.w {
                    let v = x[(plane * p.h + y) * p.w + xx];
                    out.push(v * g[(plane * gh + y / p.factor_h) * gw + xx / p.factor_w]);
                }
            }
        }
        out
    }

    #[test]
    fn gate_upsample_matches_resize_then_mul() {
        let cases = [
            (1, 72, 40, 40, 2, 2),
            (2, 3, 10, 10, 2, 2),
            (1, 5, 6, 9, 3, 3),
            (2, 7, 4, 6, 1, 2),
            (1, 3, 6, 5, 2, 1),
            (1, 2, 2, 600, 2, 2),
            (1, 2, 4, 1100, 2, 2),
            (1, 2, 3, 2100, 3, 3),
            (1, 2, 1, 1050, 1, 1050),
            (1, 1, 2, 3, 2, 3),
            (1, 1, 1, 1, 1, 1),
            (2, 3, 2, 2, 2, 2),
        ];
        let mut seed = 900;
        for (n, c, h, w, fh, fw) in cases {
            seed += 1;
            let p = GateUpsample {
                n,
                c,
                h,
                w,
                factor_h: fh,
                factor_w: fw,
            };
            let mut rng = Rng::new(seed);
            let x = rng.vec(n * c * h * w);
            let g = rng.vec(n * c * (h / fh) * (w / fw));
            let want = gate_reference(&p, &x, &g);
            // The unfused graph: nearest Resize (asymmetric, floor) then Mul.
            let r = make(
                (n, c),
                (h / fh, w / fw),
                (h, w),
                ResizeMode::Nearest(NearestRounding::Floor),
                CoordTransform::Asymmetric,
            );
            let mut up = vec![0.0; n * c * h * w];
            resize_reference(&r, &g, &mut up);
            let unfused: Vec<f32> = x.iter().zip(&up).map(|(a, b)| a * b).collect();
            assert_eq!(want, unfused);
            for k in crate::dispatch::all() {
                let mut out = vec![f32::NAN; x.len()];
                gate_upsample_with(k, &p, InOut::Separate(&x, &mut out), &g);
                assert_eq!(out, want, "{} {p:?}", k.name);
                let mut inplace = x.clone();
                gate_upsample_with(k, &p, InOut::InPlace(&mut inplace), &g);
                assert_eq!(inplace, want, "{} in place {p:?}", k.name);
                // NHWC, separate and in place: the same bits, transposed.
                let hw = h * w;
                let (x_nhwc, g_nhwc) = (to_nhwc(&x, n, c, hw), to_nhwc(&g, n, c, hw / (fh * fw)));
                let mut out = vec![f32::NAN; x.len()];
                gate_upsample_nhwc_with(k, &p, InOut::Separate(&x_nhwc, &mut out), &g_nhwc);
                assert_eq!(to_nchw(&out, n, c, hw), want, "{} nhwc {p:?}", k.name);
                let mut inplace = x_nhwc.clone();
                gate_upsample_nhwc_with(k, &p, InOut::InPlace(&mut inplace), &g_nhwc);
                assert_eq!(
                    to_nchw(&inplace, n, c, hw),
                    want,
                    "{} nhwc in place {p:?}",
                    k.name
                );
            }
        }
    }

    #[test]
    fn empty_input_plane_zeroes_output() {
        let p = make(
            (1, 2),
            (0, 3),
            (2, 2),
            ResizeMode::Linear,
            CoordTransform::HalfPixel,
        );
        let mut out = [f32::NAN; 8];
        resize(&p, &[], &mut out);
        assert_eq!(out, [0.0; 8]);
    }
}
