//! ONNX Resize (opset 11+) over the last two axes: nearest and bilinear.

use crate::params::{CoordTransform, NearestRounding, Resize, ResizeMode};

/// ONNX Resize over the last two axes. Each output coordinate is mapped to a
/// source coordinate by `p.coord` (computed in `f32` like onnxruntime), then
/// - `Nearest`: rounded per the rounding mode and clamped to `[0, len - 1]`;
/// - `Linear`: clamped to `[0, len - 1]` and interpolated between the two
///   neighbouring rows/columns (the upper one clamped to `len - 1`).
///
/// Sizes: `input` is `[n, c, h_in, w_in]`, `output` is `[n, c, h_out, w_out]`.
/// If the input planes are empty (`h_in` or `w_in` is 0) the output is zeroed.
pub fn resize(p: &Resize, input: &[f32], output: &mut [f32]) {
    debug_assert_eq!(
        input.len(),
        p.n * p.c * p.h_in * p.w_in,
        "resize: input size"
    );
    debug_assert_eq!(
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
                    let (y0, y1, fy) = linear(sy, p.h_in);
                    let row0 = &x[y0 * p.w_in..][..p.w_in];
                    let row1 = &x[y1 * p.w_in..][..p.w_in];
                    for (ox, o) in out_row.iter_mut().enumerate() {
                        let (x0, x1, fx) =
                            linear(source(p.coord, ox, p.scale_w, p.w_in, p.w_out), p.w_in);
                        let top = row0[x0] + fx * (row0[x1] - row0[x0]);
                        let bottom = row1[x0] + fx * (row1[x1] - row1[x0]);
                        *o = top + fy * (bottom - top);
                    }
                }
            }
        }
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

/// Neighbouring indices and the weight of the upper one, for a source
/// coordinate clamped to `[0, len - 1]` (`len > 0`).
#[inline]
fn linear(x: f32, len: usize) -> (usize, usize, f32) {
    let hi = (len - 1) as f32;
    // Written so that NaN clamps to 0.
    let x = if x > 0.0 { x } else { 0.0 };
    let x = if x < hi { x } else { hi };
    let i0 = x as usize;
    let i1 = (i0 + 1).min(len - 1);
    (i0, i1, x - i0 as f32)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::testutil::{assert_close, Rng};
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
