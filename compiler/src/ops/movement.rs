//! Data-movement ops: Concat, Slice, Split, Reshape/Flatten/Squeeze/Unsqueeze, Transpose.

use crate::ir::{checked_len, TensorType};
use crate::ops::SliceAxis;

pub fn infer_concat(inputs: &[&TensorType], axis: usize) -> Result<TensorType, String> {
    let first = inputs.first().ok_or("concat needs at least one input")?;
    if axis >= first.rank() {
        return Err(format!(
            "axis {axis} out of range for rank {}",
            first.rank()
        ));
    }
    let mut shape = first.shape.clone();
    shape[axis] = 0;
    for t in inputs {
        if t.dtype != first.dtype || t.rank() != first.rank() {
            return Err(format!("inputs {first} and {t} cannot be concatenated"));
        }
        for (i, (&a, &b)) in t.shape.iter().zip(&first.shape).enumerate() {
            if i != axis && a != b {
                return Err(format!("inputs {first} and {t} differ outside axis {axis}"));
            }
        }
        shape[axis] = shape[axis]
            .checked_add(t.shape[axis])
            .ok_or("concatenated size overflows")?;
    }
    Ok(TensorType::new(first.dtype, shape))
}

/// Normalises ONNX Slice parameters for one axis of length `dim` (spec clamping rules).
pub fn slice_axis(
    axis: usize,
    dim: usize,
    start: i64,
    end: i64,
    step: i64,
) -> Result<SliceAxis, String> {
    if step == 0 {
        return Err(format!("slice step on axis {axis} is zero"));
    }
    let d = i64::try_from(dim).map_err(|_| "dimension too large")?;
    if d == 0 {
        return Ok(SliceAxis {
            axis,
            start: 0,
            step: step.signum(),
            len: 0,
        });
    }
    // A step of magnitude d or more takes at most the start element, as a step of d does; the
    // clamp keeps `-step` and the kernels' index arithmetic from overflowing.
    let step = step.clamp(-d, d);
    let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (s, e) = (norm(start), norm(end));
    let (s, e) = if step > 0 {
        (s.clamp(0, d), e.clamp(0, d))
    } else {
        (s.clamp(0, d - 1), e.clamp(-1, d - 1))
    };
    let len = if step > 0 {
        if e > s {
            (e - s - 1) / step + 1
        } else {
            0
        }
    } else if s > e {
        (s - e - 1) / (-step) + 1
    } else {
        0
    };
    Ok(SliceAxis {
        axis,
        start: if len == 0 { 0 } else { s.max(0) as usize },
        step,
        len: len as usize,
    })
}

pub fn infer_slice(x: &TensorType, axes: &[SliceAxis]) -> Result<TensorType, String> {
    let mut shape = x.shape.clone();
    for a in axes {
        let d = *shape
            .get(a.axis)
            .ok_or_else(|| format!("axis {} out of range for {x}", a.axis))?;
        if a.len > 0 {
            let last = a.start as i64 + (a.len as i64 - 1) * a.step;
            if a.start >= d || last < 0 || last >= d as i64 {
                return Err(format!("slice on axis {} reads outside [0, {d})", a.axis));
            }
        }
        shape[a.axis] = a.len;
    }
    Ok(TensorType::new(x.dtype, shape))
}

pub fn infer_split(
    x: &TensorType,
    axis: usize,
    sizes: &[usize],
) -> Result<Vec<TensorType>, String> {
    let d = *x
        .shape
        .get(axis)
        .ok_or_else(|| format!("axis {axis} out of range for {x}"))?;
    if sizes.iter().try_fold(0usize, |a, &s| a.checked_add(s)) != Some(d) {
        return Err(format!(
            "split sizes {sizes:?} do not add up to dimension {d}"
        ));
    }
    Ok(sizes
        .iter()
        .map(|&s| {
            let mut shape = x.shape.clone();
            shape[axis] = s;
            TensorType::new(x.dtype, shape)
        })
        .collect())
}

/// Output shape of Reshape: 0 copies the input dim (unless `allowzero`), -1 is inferred.
pub fn reshape_shape(
    input: &[usize],
    shape: &[i64],
    allowzero: bool,
) -> Result<Vec<usize>, String> {
    let total = checked_len(input).ok_or("input too large")?;
    let mut out = Vec::with_capacity(shape.len());
    let mut infer = None;
    for (i, &s) in shape.iter().enumerate() {
        match s {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            -1 => return Err(format!("reshape shape {shape:?} has more than one -1")),
            0 if !allowzero => out.push(*input.get(i).ok_or_else(|| {
                format!("reshape shape {shape:?}: 0 at index {i} has no input dim to copy")
            })?),
            s if s >= 0 => out.push(usize::try_from(s).map_err(|_| "dimension too large")?),
            _ => return Err(format!("reshape shape {shape:?} has a negative dimension")),
        }
    }
    let known = checked_len(&out).ok_or_else(|| format!("reshape shape {shape:?} is too large"))?;
    if let Some(i) = infer {
        if known == 0 || total % known != 0 {
            return Err(format!("cannot reshape {input:?} to {shape:?}"));
        }
        out[i] = total / known;
    } else if known != total {
        return Err(format!(
            "cannot reshape {input:?} ({total} elements) to {shape:?} ({known} elements)"
        ));
    }
    Ok(out)
}

/// Flatten to 2-D: the dims before `axis`, then the rest.
pub fn infer_flatten(x: &TensorType, axis: usize) -> Result<TensorType, String> {
    if axis > x.rank() {
        return Err(format!("axis {axis} out of range for rank {}", x.rank()));
    }
    let outer: usize = x.shape[..axis].iter().product();
    let inner: usize = x.shape[axis..].iter().product();
    Ok(TensorType::new(x.dtype, vec![outer, inner]))
}

pub fn infer_squeeze(x: &TensorType, axes: &[usize]) -> Result<TensorType, String> {
    for &a in axes {
        match x.shape.get(a) {
            Some(1) => {}
            Some(d) => return Err(format!("cannot squeeze axis {a} of size {d}")),
            None => return Err(format!("axis {a} out of range for {x}")),
        }
    }
    let shape = x
        .shape
        .iter()
        .enumerate()
        .filter(|(i, _)| !axes.contains(i))
        .map(|(_, &d)| d)
        .collect();
    Ok(TensorType::new(x.dtype, shape))
}

pub fn infer_unsqueeze(x: &TensorType, axes: &[usize]) -> Result<TensorType, String> {
    let r = x.rank() + axes.len();
    if r > crate::ir::MAX_RANK {
        return Err(format!(
            "unsqueeze to rank {r}: at most {} dimensions are supported",
            crate::ir::MAX_RANK
        ));
    }
    let mut shape = Vec::with_capacity(r);
    let mut it = x.shape.iter();
    for i in 0..r {
        if axes.contains(&i) {
            shape.push(1);
        } else {
            shape.push(
                *it.next()
                    .ok_or_else(|| format!("unsqueeze axes {axes:?} out of range"))?,
            );
        }
    }
    Ok(TensorType::new(x.dtype, shape))
}

pub fn infer_transpose(x: &TensorType, perm: &[usize]) -> Result<TensorType, String> {
    let mut seen = vec![false; x.rank()];
    if perm.len() != x.rank() {
        return Err(format!("perm {perm:?} does not match rank {}", x.rank()));
    }
    for &p in perm {
        match seen.get_mut(p) {
            Some(s) if !*s => *s = true,
            _ => return Err(format!("perm {perm:?} is not a permutation")),
        }
    }
    Ok(TensorType::new(
        x.dtype,
        perm.iter().map(|&p| x.shape[p]).collect(),
    ))
}
