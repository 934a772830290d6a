//! Reductions over axes: GlobalAveragePool, ReduceMean and Softmax (which normalises over one).

use crate::ir::TensorType;
use crate::ops::float;

/// Mean over every spatial dim (2 on), each kept as 1.
pub fn infer_global_average_pool(x: &TensorType) -> Result<TensorType, String> {
    let x = float(x)?;
    if x.rank() < 3 {
        return Err(format!("input must have rank >= 3, got {}", x.rank()));
    }
    let mut shape = x.shape.clone();
    shape[2..].iter_mut().for_each(|d| *d = 1);
    Ok(TensorType::f32(shape))
}

/// Mean over `axes`: each is dropped, or kept as 1 with `keepdims`.
pub fn infer_reduce_mean(
    x: &TensorType,
    axes: &[usize],
    keepdims: bool,
) -> Result<TensorType, String> {
    let x = float(x)?;
    if let Some(a) = axes.iter().find(|&&a| a >= x.rank()) {
        return Err(format!("axis {a} out of range for rank {}", x.rank()));
    }
    let mut shape = Vec::new();
    for (i, &d) in x.shape.iter().enumerate() {
        if !axes.contains(&i) {
            shape.push(d);
        } else if keepdims {
            shape.push(1);
        }
    }
    Ok(TensorType::f32(shape))
}

/// Softmax keeps its input's type; `axis` must be one of its dims.
pub fn infer_softmax(x: &TensorType, axis: usize) -> Result<TensorType, String> {
    let x = float(x)?;
    if axis >= x.rank() {
        return Err(format!("axis {axis} out of range for rank {}", x.rank()));
    }
    Ok(x.clone())
}

/// Softmax over `axis` as `[outer, len, inner]` (with the opset < 13 meaning, `len` spans every
/// dim from `axis` on).
pub fn softmax_dims(shape: &[usize], axis: usize, coerce_2d: bool) -> [usize; 3] {
    let outer = shape[..axis].iter().product();
    if coerce_2d {
        [outer, shape[axis..].iter().product(), 1]
    } else {
        [outer, shape[axis], shape[axis + 1..].iter().product()]
    }
}
