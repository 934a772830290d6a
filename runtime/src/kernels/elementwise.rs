//! Element-wise ops: standalone activations, broadcasting binary arithmetic
//! and per-channel affine (folded BatchNormalization).

use crate::dispatch::kernels;
use crate::params::{Activation, BinaryOp, InOut};

/// `output[i] = act(input[i])` on separate buffers (the same length) or in place.
pub fn activation(act: Activation, data: InOut<'_>) {
    match data {
        InOut::Separate(input, output) => {
            debug_assert_eq!(input.len(), output.len(), "activation: sizes differ");
            (kernels().activation_to)(act, input, output);
        }
        InOut::InPlace(data) => (kernels().activation_in_place)(act, data),
    }
}

/// `output = a op b` with numpy broadcasting.
///
/// `out_shape` has rank `r` (0 for a scalar); `a_strides` and `b_strides` have
/// length `r` and give element strides into `a`/`b` for each output axis, 0 on
/// broadcast axes. `output` is contiguous with `out_shape.iter().product()`
/// elements; `a` and `b` must hold every element the strides reach.
pub fn binary(
    op: BinaryOp,
    a: &[f32],
    a_strides: &[usize],
    b: &[f32],
    b_strides: &[usize],
    out_shape: &[usize],
    output: &mut [f32],
) {
    // One monomorphised loop nest per operator.
    match op {
        BinaryOp::Add => broadcast(a, a_strides, b, b_strides, out_shape, output, |x, y| x + y),
        BinaryOp::Sub => broadcast(a, a_strides, b, b_strides, out_shape, output, |x, y| x - y),
        BinaryOp::Mul => broadcast(a, a_strides, b, b_strides, out_shape, output, |x, y| x * y),
        BinaryOp::Div => broadcast(a, a_strides, b, b_strides, out_shape, output, |x, y| x / y),
    }
}

#[inline(always)]
fn broadcast(
    a: &[f32],
    a_strides: &[usize],
    b: &[f32],
    b_strides: &[usize],
    out_shape: &[usize],
    output: &mut [f32],
    f: impl Fn(f32, f32) -> f32,
) {
    let rank = out_shape.len();
    debug_assert_eq!(a_strides.len(), rank, "binary: a_strides rank");
    debug_assert_eq!(b_strides.len(), rank, "binary: b_strides rank");
    let total: usize = out_shape.iter().product();
    debug_assert_eq!(output.len(), total, "binary: output size");
    if total == 0 {
        return;
    }
    if rank == 0 {
        output[0] = f(a[0], b[0]);
        return;
    }

    // Fold trailing axes into one run while both operands keep a constant
    // stride across them (e.g. same-shape tensors become one run, and
    // `[n, c, h, w] * [1, c, 1, 1]` becomes rows of h*w against a scalar).
    let sa = a_strides[rank - 1];
    let sb = b_strides[rank - 1];
    let mut run = out_shape[rank - 1];
    let mut outer = rank - 1;
    while outer > 0 {
        let d = outer - 1;
        let foldable = out_shape[d] == 1 || (a_strides[d] == sa * run && b_strides[d] == sb * run);
        if !foldable {
            break;
        }
        run *= out_shape[d];
        outer = d;
    }

    for (row, out) in output.chunks_exact_mut(run).enumerate() {
        // Offsets of this row: decompose the row index over the outer axes.
        let (mut oa, mut ob, mut rest) = (0, 0, row);
        for d in (0..outer).rev() {
            let i = rest % out_shape[d];
            rest /= out_shape[d];
            oa += i * a_strides[d];
            ob += i * b_strides[d];
        }
        match (sa, sb) {
            (1, 1) => {
                for ((o, &x), &y) in out.iter_mut().zip(&a[oa..oa + run]).zip(&b[ob..ob + run]) {
                    *o = f(x, y);
                }
            }
            (1, 0) => {
                let y = b[ob];
                for (o, &x) in out.iter_mut().zip(&a[oa..oa + run]) {
                    *o = f(x, y);
                }
            }
            (0, 1) => {
                let x = a[oa];
                for (o, &y) in out.iter_mut().zip(&b[ob..ob + run]) {
                    *o = f(x, y);
                }
            }
            _ => {
                for (j, o) in out.iter_mut().enumerate() {
                    *o = f(a[oa + j * sa], b[ob + j * sb]);
                }
            }
        }
    }
}

/// `output[n, c, s] = input[n, c, s] * scale[c] + shift[c]`.
///
/// Sizes: `input` and `output` are `[n, c, spatial]`, `scale` and `shift` are `[c]`.
pub fn channel_affine(
    n: usize,
    c: usize,
    spatial: usize,
    scale: &[f32],
    shift: &[f32],
    input: &[f32],
    output: &mut [f32],
) {
    debug_assert_eq!(scale.len(), c, "channel_affine: scale size");
    debug_assert_eq!(shift.len(), c, "channel_affine: shift size");
    debug_assert_eq!(input.len(), n * c * spatial, "channel_affine: input size");
    debug_assert_eq!(output.len(), n * c * spatial, "channel_affine: output size");
    for plane in 0..n * c {
        let (k, m) = (scale[plane % c], shift[plane % c]);
        let x = &input[plane * spatial..][..spatial];
        let y = &mut output[plane * spatial..][..spatial];
        for (y, &x) in y.iter_mut().zip(x) {
            *y = x * k + m;
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::testutil::{assert_close, Rng};
    use std::vec;
    use std::vec::Vec;

    const OPS: [BinaryOp; 4] = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div];

    /// Right-aligned numpy broadcast of two shapes.
    fn broadcast_shape(a: &[usize], b: &[usize]) -> Vec<usize> {
        let r = a.len().max(b.len());
        (0..r)
            .map(|i| {
                let da = if i + a.len() >= r {
                    a[i + a.len() - r]
                } else {
                    1
                };
                let db = if i + b.len() >= r {
                    b[i + b.len() - r]
                } else {
                    1
                };
                if da == 1 {
                    db
                } else {
                    da
                }
            })
            .collect()
    }

    /// What the compiler passes: element strides per output axis, 0 on broadcast axes.
    fn strides_for(shape: &[usize], out: &[usize]) -> Vec<usize> {
        let mut s = vec![0; out.len()];
        let mut step = 1;
        for i in (0..shape.len()).rev() {
            let o = i + out.len() - shape.len();
            s[o] = if shape[i] == 1 { 0 } else { step };
            step *= shape[i];
        }
        s
    }

    /// Element-wise via explicit multi-indices and numpy's rule.
    fn reference(
        op: BinaryOp,
        a: &[f32],
        a_shape: &[usize],
        b: &[f32],
        b_shape: &[usize],
    ) -> Vec<f32> {
        let out = broadcast_shape(a_shape, b_shape);
        let total: usize = out.iter().product();
        let index = |shape: &[usize], coords: &[usize]| {
            let skip = coords.len() - shape.len();
            shape.iter().enumerate().fold(0, |acc, (i, &d)| {
                acc * d + if d == 1 { 0 } else { coords[skip + i] }
            })
        };
        (0..total)
            .map(|flat| {
                let mut coords = vec![0; out.len()];
                let mut rest = flat;
                for (c, &d) in coords.iter_mut().zip(&out).rev() {
                    *c = rest % d;
                    rest /= d;
                }
                let x = f64::from(a[index(a_shape, &coords)]);
                let y = f64::from(b[index(b_shape, &coords)]);
                let z = match op {
                    BinaryOp::Add => x + y,
                    BinaryOp::Sub => x - y,
                    BinaryOp::Mul => x * y,
                    BinaryOp::Div => x / y,
                };
                z as f32
            })
            .collect()
    }

    fn check(a_shape: &[usize], b_shape: &[usize], seed: u32) {
        let mut rng = Rng::new(seed);
        let a = rng.vec(a_shape.iter().product());
        // Keep divisors away from zero.
        let b: Vec<f32> = rng
            .vec(b_shape.iter().product())
            .iter()
            .map(|v| v + 2.0)
            .collect();
        let out_shape = broadcast_shape(a_shape, b_shape);
        let sa = strides_for(a_shape, &out_shape);
        let sb = strides_for(b_shape, &out_shape);
        for op in OPS {
            let mut out = vec![f32::NAN; out_shape.iter().product()];
            binary(op, &a, &sa, &b, &sb, &out_shape, &mut out);
            assert_close(&out, &reference(op, &a, a_shape, &b, b_shape));
            // Swapped operands exercise the scalar-a paths.
            let mut out = vec![f32::NAN; out_shape.iter().product()];
            binary(op, &b, &sb, &a, &sa, &out_shape, &mut out);
            assert_close(&out, &reference(op, &b, b_shape, &a, a_shape));
        }
    }

    #[test]
    fn broadcasting() {
        check(&[2, 3, 4, 5], &[2, 3, 4, 5], 1);
        check(&[2, 3, 4, 5], &[1, 3, 1, 1], 2);
        check(&[2, 3, 4, 5], &[3, 1, 1], 3);
        check(&[2, 3, 4, 5], &[5], 4);
        check(&[2, 3, 4, 5], &[4, 1], 5);
        check(&[2, 3, 4, 5], &[1], 6);
        check(&[2, 3, 4, 5], &[], 7);
        check(&[3, 1], &[1, 4], 8);
        check(&[1, 1, 7], &[3, 1, 1], 9);
        check(&[2, 1, 3, 1], &[1, 5, 1, 4], 10);
        check(&[7], &[7], 11);
        check(&[], &[], 12);
        check(&[1, 1, 1, 1], &[1, 1, 1, 1], 13);
        check(&[2, 0, 3], &[3], 14);
    }

    #[test]
    fn strided_inner_axis() {
        // a is a transposed view: out[i, j] = a[j * 3 + i].
        let a: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let b = [10.0, 20.0];
        let mut out = [0.0; 6];
        binary(BinaryOp::Add, &a, &[1, 3], &b, &[0, 0], &[3, 2], &mut out);
        assert_eq!(out, [10.0, 13.0, 11.0, 14.0, 12.0, 15.0]);
        binary(BinaryOp::Sub, &a, &[1, 3], &b, &[0, 1], &[3, 2], &mut out);
        assert_eq!(out, [-10.0, -17.0, -9.0, -16.0, -8.0, -15.0]);
    }

    #[test]
    fn activations() {
        let mut rng = Rng::new(20);
        let x = rng.vec(33);
        let act = Activation::HardSwish;
        let want: Vec<f32> = x.iter().map(|&v| act.apply(v)).collect();
        let mut out = vec![f32::NAN; x.len()];
        activation(act, InOut::Separate(&x, &mut out));
        assert_eq!(out, want);
        let mut data = x.clone();
        activation(act, InOut::InPlace(&mut data));
        assert_eq!(data, want);
        activation(Activation::None, InOut::Separate(&x, &mut out));
        assert_eq!(out, x);
    }

    #[test]
    fn affine() {
        let mut rng = Rng::new(21);
        for (n, c, s) in [(2, 3, 5), (1, 1, 1), (3, 4, 1), (1, 2, 0)] {
            let x = rng.vec(n * c * s);
            let scale = rng.vec(c);
            let shift = rng.vec(c);
            let mut out = vec![f32::NAN; x.len()];
            channel_affine(n, c, s, &scale, &shift, &x, &mut out);
            let mut want = Vec::new();
            for b in 0..n {
                for ch in 0..c {
                    for i in 0..s {
                        let v = f64::from(x[(b * c + ch) * s + i]) * f64::from(scale[ch])
                            + f64::from(shift[ch]);
                        want.push(v as f32);
                    }
                }
            }
            assert_close(&out, &want);
        }
    }
}
