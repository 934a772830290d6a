//! Compile-time evaluation of the shape-arithmetic ops exporters emit (Shape, Gather, Cast,
//! Concat/Slice/Unsqueeze on int64, ...) when all their inputs are constants.

use crate::ir::{checked_len, Data, Tensor};
use crate::ops::elementwise::{broadcast, broadcast_strides};

/// Applies `f` elementwise with numpy broadcasting.
pub fn map2<A: Copy, B: Copy, U>(
    a: &[A],
    ash: &[usize],
    b: &[B],
    bsh: &[usize],
    f: impl Fn(A, B) -> Result<U, String>,
) -> Result<(Vec<usize>, Vec<U>), String> {
    let shape = broadcast(ash, bsh)?;
    let n = checked_len(&shape).ok_or("result too large")?;
    let (sa, sb) = (
        broadcast_strides(ash, &shape),
        broadcast_strides(bsh, &shape),
    );
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        let ia: usize = idx.iter().zip(&sa).map(|(i, s)| i * s).sum();
        let ib: usize = idx.iter().zip(&sb).map(|(i, s)| i * s).sum();
        out.push(f(a[ia], b[ib])?);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok((shape, out))
}

/// Gathers `src` (shape `shape`) at per-axis index lists: output element at multi-index `o` is
/// `src[pick[0][o0], pick[1][o1], ...]`.
pub fn gather_axes<T: Copy>(src: &[T], shape: &[usize], pick: &[Vec<usize>]) -> Vec<T> {
    let out_shape: Vec<usize> = pick.iter().map(Vec::len).collect();
    let n: usize = out_shape.iter().product();
    let mut strides = vec![1usize; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        out.push(
            src[idx
                .iter()
                .enumerate()
                .map(|(d, &i)| pick[d][i] * strides[d])
                .sum::<usize>()],
        );
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < out_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

/// Re-labels a tensor with a new shape of the same length.
pub fn reshaped(t: &Tensor, shape: Vec<usize>) -> Tensor {
    Tensor {
        shape,
        data: t.data.clone(),
    }
}

/// Selects elements along every axis (a generic gather), keeping the dtype.
pub fn select(t: &Tensor, pick: &[Vec<usize>]) -> Tensor {
    let shape = pick.iter().map(Vec::len).collect();
    let data = match &t.data {
        Data::F32(v) => Data::F32(gather_axes(v, &t.shape, pick)),
        Data::I64(v) => Data::I64(gather_axes(v, &t.shape, pick)),
    };
    Tensor { shape, data }
}

/// Concatenates constants along `axis` (same dtype and rank checked by the caller's inference).
pub fn concat(ts: &[&Tensor], axis: usize, shape: Vec<usize>) -> Tensor {
    let outer: usize = shape[..axis].iter().product();
    fn cat<T: Copy>(parts: &[(&[T], usize)], outer: usize) -> Vec<T> {
        let mut out = Vec::new();
        for o in 0..outer {
            for (p, chunk) in parts {
                out.extend_from_slice(&p[o * chunk..(o + 1) * chunk]);
            }
        }
        out
    }
    let chunk = |t: &Tensor| t.shape[axis..].iter().product::<usize>();
    let data = match &ts[0].data {
        Data::F32(_) => Data::F32(cat(
            &ts.iter()
                .filter_map(|t| t.as_f32().map(|v| (v, chunk(t))))
                .collect::<Vec<_>>(),
            outer,
        )),
        Data::I64(_) => Data::I64(cat(
            &ts.iter()
                .filter_map(|t| t.as_i64().map(|v| (v, chunk(t))))
                .collect::<Vec<_>>(),
            outer,
        )),
    };
    Tensor { shape, data }
}

/// Permutes dims: output dim i is input dim `perm[i]`.
pub fn transpose(t: &Tensor, perm: &[usize]) -> Tensor {
    fn tr<T: Copy>(v: &[T], shape: &[usize], perm: &[usize]) -> Vec<T> {
        let r = shape.len();
        let mut strides = vec![1usize; r];
        for d in (0..r.saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * shape[d + 1];
        }
        let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let out_strides: Vec<usize> = perm.iter().map(|&p| strides[p]).collect();
        let n: usize = out_shape.iter().product();
        let mut out = Vec::with_capacity(n);
        let mut idx = vec![0usize; r];
        for _ in 0..n {
            out.push(
                v[idx
                    .iter()
                    .zip(&out_strides)
                    .map(|(i, s)| i * s)
                    .sum::<usize>()],
            );
            for d in (0..r).rev() {
                idx[d] += 1;
                if idx[d] < out_shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        out
    }
    let shape = perm.iter().map(|&p| t.shape[p]).collect();
    let data = match &t.data {
        Data::F32(v) => Data::F32(tr(v, &t.shape, perm)),
        Data::I64(v) => Data::I64(tr(v, &t.shape, perm)),
    };
    Tensor { shape, data }
}
