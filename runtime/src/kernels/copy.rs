//! Data movement: strided 2-D block copies (Concat, Split, channel slices),
//! general Slice and Transpose.

/// Copies `rows` runs of `len` elements:
/// `dst[dst_offset + r * dst_stride..][..len] = src[src_offset + r * src_stride..][..len]`.
///
/// Sizes (when `rows > 0`): `src_offset + (rows - 1) * src_stride + len <= src.len()`
/// and `dst_offset + (rows - 1) * dst_stride + len <= dst.len()`.
#[allow(clippy::too_many_arguments)] // flat signature emitted by the code generator
pub fn copy_2d(
    src: &[f32],
    src_offset: usize,
    src_stride: usize,
    dst: &mut [f32],
    dst_offset: usize,
    dst_stride: usize,
    rows: usize,
    len: usize,
) {
    debug_assert!(
        rows == 0 || src_offset + (rows - 1) * src_stride + len <= src.len(),
        "copy_2d: src too short"
    );
    debug_assert!(
        rows == 0 || dst_offset + (rows - 1) * dst_stride + len <= dst.len(),
        "copy_2d: dst too short"
    );
    for r in 0..rows {
        dst[dst_offset + r * dst_stride..][..len]
            .copy_from_slice(&src[src_offset + r * src_stride..][..len]);
    }
}

/// Strided slice of any rank: for each axis `d`, output index `i` reads input
/// index `starts[d] + i * steps[d]` (steps may be negative).
///
/// Sizes: `in_shape`, `starts`, `steps` and `out_shape` have the same length;
/// `input` has `in_shape.iter().product()` elements and `output` has
/// `out_shape.iter().product()`. For every axis with `out_shape[d] > 0`,
/// `starts[d]` and `starts[d] + (out_shape[d] - 1) * steps[d]` are in
/// `0..in_shape[d]`, and `steps[d] != 0`.
pub fn slice(
    input: &[f32],
    in_shape: &[usize],
    starts: &[usize],
    steps: &[isize],
    out_shape: &[usize],
    output: &mut [f32],
) {
    let rank = in_shape.len();
    debug_assert!(
        starts.len() == rank && steps.len() == rank && out_shape.len() == rank,
        "slice: ranks differ"
    );
    debug_assert_eq!(
        input.len(),
        in_shape.iter().product::<usize>(),
        "slice: input size"
    );
    let total: usize = out_shape.iter().product();
    debug_assert_eq!(output.len(), total, "slice: output size");
    if total == 0 {
        return;
    }
    debug_assert!(
        (0..rank).all(|d| {
            let last = starts[d] as isize + (out_shape[d] as isize - 1) * steps[d];
            steps[d] != 0 && starts[d] < in_shape[d] && last >= 0 && last < in_shape[d] as isize
        }),
        "slice: indices out of range"
    );
    if rank == 0 {
        output[0] = input[0];
        return;
    }

    let run = out_shape[rank - 1];
    let step = steps[rank - 1];
    for (row, out) in output.chunks_exact_mut(run).enumerate() {
        let mut base = starts[rank - 1] as isize;
        let mut stride = in_shape[rank - 1] as isize;
        let mut rest = row;
        for d in (0..rank - 1).rev() {
            let i = rest % out_shape[d];
            rest /= out_shape[d];
            base += (starts[d] as isize + i as isize * steps[d]) * stride;
            stride *= in_shape[d] as isize;
        }
        if step == 1 {
            out.copy_from_slice(&input[base as usize..][..run]);
        } else {
            for (j, o) in out.iter_mut().enumerate() {
                *o = input[(base + j as isize * step) as usize];
            }
        }
    }
}

/// Transpose: output axis `i` is input axis `perm[i]`, so the output shape is
/// `[in_shape[perm[0]], in_shape[perm[1]], ...]`.
///
/// Sizes: `perm` is a permutation of `0..in_shape.len()`; `input` and `output`
/// both have `in_shape.iter().product()` elements.
pub fn transpose(input: &[f32], in_shape: &[usize], perm: &[usize], output: &mut [f32]) {
    let rank = in_shape.len();
    debug_assert!(
        perm.len() == rank && (0..rank).all(|d| perm.contains(&d)),
        "transpose: perm is not a permutation of the axes"
    );
    let total: usize = in_shape.iter().product();
    debug_assert_eq!(input.len(), total, "transpose: input size");
    debug_assert_eq!(output.len(), total, "transpose: output size");
    if total == 0 {
        return;
    }
    if rank == 0 {
        output[0] = input[0];
        return;
    }

    let in_stride = |axis: usize| -> usize { in_shape[axis + 1..].iter().product() };
    let run = in_shape[perm[rank - 1]];
    let step = in_stride(perm[rank - 1]);
    for (row, out) in output.chunks_exact_mut(run).enumerate() {
        let mut base = 0;
        let mut rest = row;
        for &axis in perm[..rank - 1].iter().rev() {
            let i = rest % in_shape[axis];
            rest /= in_shape[axis];
            base += i * in_stride(axis);
        }
        if step == 1 {
            out.copy_from_slice(&input[base..][..run]);
        } else {
            for (j, o) in out.iter_mut().enumerate() {
                *o = input[base + j * step];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn iota(n: usize) -> Vec<f32> {
        (0..n).map(|v| v as f32).collect()
    }

    /// Multi-index of `flat` in a row-major `shape`.
    fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
        let mut idx = vec![0; shape.len()];
        for (i, &d) in idx.iter_mut().zip(shape).rev() {
            *i = flat % d;
            flat /= d;
        }
        idx
    }

    fn ravel(idx: &[usize], shape: &[usize]) -> usize {
        idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
    }

    #[test]
    fn copy_2d_concat_and_split() {
        // Concat [2, 3, 4] and [2, 5, 4] along axis 1 into [2, 8, 4].
        let a = iota(24);
        let b: Vec<f32> = iota(40).iter().map(|v| v + 100.0).collect();
        let mut out = vec![f32::NAN; 64];
        copy_2d(&a, 0, 12, &mut out, 0, 32, 2, 12);
        copy_2d(&b, 0, 20, &mut out, 12, 32, 2, 20);
        let mut want = Vec::new();
        for n in 0..2 {
            want.extend_from_slice(&a[n * 12..n * 12 + 12]);
            want.extend_from_slice(&b[n * 20..n * 20 + 20]);
        }
        assert_eq!(out, want);
        // Split the b part back out.
        let mut back = vec![f32::NAN; 40];
        copy_2d(&out, 12, 32, &mut back, 0, 20, 2, 20);
        assert_eq!(back, b);
        // Zero rows and zero length touch nothing.
        copy_2d(&a, 0, 0, &mut back, 0, 0, 0, 5);
        copy_2d(&a, 24, 0, &mut back, 40, 0, 3, 0);
        assert_eq!(back, b);
    }

    fn slice_reference(
        input: &[f32],
        in_shape: &[usize],
        starts: &[usize],
        steps: &[isize],
        out_shape: &[usize],
    ) -> Vec<f32> {
        let total: usize = out_shape.iter().product();
        (0..total)
            .map(|flat| {
                let o = unravel(flat, out_shape);
                let i: Vec<usize> = (0..o.len())
                    .map(|d| (starts[d] as isize + o[d] as isize * steps[d]) as usize)
                    .collect();
                input[ravel(&i, in_shape)]
            })
            .collect()
    }

    fn check_slice(in_shape: &[usize], starts: &[usize], steps: &[isize], out_shape: &[usize]) {
        let input = iota(in_shape.iter().product());
        let mut out = vec![f32::NAN; out_shape.iter().product()];
        slice(&input, in_shape, starts, steps, out_shape, &mut out);
        assert_eq!(
            out,
            slice_reference(&input, in_shape, starts, steps, out_shape)
        );
    }

    #[test]
    fn slices() {
        check_slice(&[7], &[6], &[-1], &[7]);
        check_slice(&[7], &[1], &[2], &[3]);
        check_slice(&[4, 6], &[1, 2], &[1, 1], &[2, 3]);
        check_slice(&[4, 6], &[3, 5], &[-2, -3], &[2, 2]);
        check_slice(&[2, 5, 4, 3], &[0, 1, 3, 0], &[1, 2, -1, 1], &[2, 2, 4, 3]);
        check_slice(&[3, 1, 5], &[2, 0, 4], &[-1, 1, -4], &[3, 1, 2]);
        check_slice(&[1, 1, 1], &[0, 0, 0], &[1, 1, 1], &[1, 1, 1]);
        check_slice(&[3, 4], &[0, 0], &[1, 1], &[0, 4]);
        check_slice(&[], &[], &[], &[]);
    }

    fn check_transpose(in_shape: &[usize], perm: &[usize]) {
        let input = iota(in_shape.iter().product());
        let out_shape: Vec<usize> = perm.iter().map(|&p| in_shape[p]).collect();
        let mut out = vec![f32::NAN; input.len()];
        transpose(&input, in_shape, perm, &mut out);
        let want: Vec<f32> = (0..input.len())
            .map(|flat| {
                let o = unravel(flat, &out_shape);
                let mut i = vec![0; in_shape.len()];
                for (d, &p) in perm.iter().enumerate() {
                    i[p] = o[d];
                }
                input[ravel(&i, in_shape)]
            })
            .collect();
        assert_eq!(out, want, "{in_shape:?} {perm:?}");
    }

    #[test]
    fn transposes() {
        check_transpose(&[2, 3], &[1, 0]);
        check_transpose(&[2, 3], &[0, 1]);
        check_transpose(&[2, 3, 4, 5], &[0, 2, 3, 1]);
        check_transpose(&[2, 3, 4, 5], &[0, 3, 1, 2]);
        check_transpose(&[2, 3, 4, 5], &[3, 2, 1, 0]);
        check_transpose(&[2, 3, 4, 5], &[1, 0, 2, 3]);
        check_transpose(&[1, 4, 1, 3], &[2, 3, 0, 1]);
        check_transpose(&[2, 3, 2, 3, 2], &[4, 0, 3, 1, 2]);
        check_transpose(&[5], &[0]);
        check_transpose(&[], &[]);
        check_transpose(&[3, 0, 2], &[2, 1, 0]);
    }
}

/// Copies a graph input into the arena, replacing subnormal values by zero of the same sign
/// (as a CPU's denormals-are-zero mode would), so later layers never compute on subnormals.
pub fn load_input(src: &[f32], dst: &mut [f32]) {
    debug_assert_eq!(src.len(), dst.len(), "load_input: lengths differ");
    for (d, &s) in dst.iter_mut().zip(src) {
        // Branch-free on the bits so it vectorises: a zero exponent keeps only the sign.
        let b = s.to_bits();
        let keep = if b & 0x7f80_0000 == 0 {
            0x8000_0000
        } else {
            u32::MAX
        };
        *d = f32::from_bits(b & keep);
    }
}

#[cfg(test)]
mod load_input_tests {
    use super::load_input;

    #[test]
    fn flushes_subnormals_only() {
        let src = [
            1.0,
            -1e-40,
            1e-40,
            f32::MIN_POSITIVE,
            f32::NAN,
            f32::INFINITY,
            -0.0,
            3.5e-39,
        ];
        let mut dst = [7.0f32; 8];
        load_input(&src, &mut dst);
        assert_eq!(dst[0], 1.0);
        assert!(dst[1] == 0.0 && dst[1].is_sign_negative());
        assert!(dst[2] == 0.0 && dst[2].is_sign_positive());
        assert_eq!(dst[3], f32::MIN_POSITIVE);
        assert!(dst[4].is_nan());
        assert_eq!(dst[5], f32::INFINITY);
        assert!(dst[6] == 0.0 && dst[6].is_sign_negative());
        assert_eq!(dst[7], 0.0);
    }
}
