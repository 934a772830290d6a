//! Gemm and MatMul: shape inference and multiply-adds.

use crate::ir::TensorType;
use crate::ops::elementwise::broadcast;
use crate::ops::float;

pub fn infer_gemm(
    a: &TensorType,
    b: &TensorType,
    c: Option<&TensorType>,
    trans_a: bool,
    trans_b: bool,
) -> Result<TensorType, String> {
    let (a, b) = (float(a)?, float(b)?);
    let ([a0, a1], [b0, b1]) = (&a.shape[..], &b.shape[..]) else {
        return Err(format!("gemm operands must be 2-D, got {a} and {b}"));
    };
    let (m, k) = if trans_a { (*a1, *a0) } else { (*a0, *a1) };
    let (kb, n) = if trans_b { (*b1, *b0) } else { (*b0, *b1) };
    if k != kb {
        return Err(format!(
            "inner dimensions differ: {a} and {b} (trans_a {trans_a}, trans_b {trans_b})"
        ));
    }
    if let Some(c) = c {
        float(c)?;
        if broadcast(&c.shape, &[m, n]).ok().as_deref() != Some(&[m, n][..]) {
            return Err(format!("bias {c} cannot be broadcast to [{m},{n}]"));
        }
    }
    Ok(TensorType::f32(vec![m, n]))
}

/// Multiply-adds of a Gemm on a, b and optional c: `k` per output element.
pub fn gemm_macs(inputs: &[&TensorType], output: &TensorType, trans_a: bool) -> u64 {
    let a = inputs.first().map_or(&[][..], |a| &a.shape[..]);
    let k = if trans_a { a.first() } else { a.get(1) };
    output.len() as u64 * k.copied().unwrap_or(0) as u64
}

/// A numpy matmul's operands seen as batches of 2-D matrices: 1-D `a` is a row `[1, k]`, 1-D `b`
/// a column `[k, 1]`; `a_batch`/`b_batch` are the leading (broadcast) dims.
pub struct MatMulDims {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub a_batch: Vec<usize>,
    pub b_batch: Vec<usize>,
}

/// Splits matmul operand shapes (rank >= 1 each) into [`MatMulDims`].
pub fn matmul_dims(a: &[usize], b: &[usize]) -> MatMulDims {
    let a2: Vec<usize> = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Vec<usize> = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    MatMulDims {
        m: a2[a2.len() - 2],
        k: a2[a2.len() - 1],
        n: b2[b2.len() - 1],
        a_batch: a2[..a2.len() - 2].to_vec(),
        b_batch: b2[..b2.len() - 2].to_vec(),
    }
}

/// Numpy matmul shapes, including 1-D operands.
pub fn matmul_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    if a.is_empty() || b.is_empty() {
        return Err("matmul operands must have rank >= 1".into());
    }
    let d = matmul_dims(a, b);
    let kb = if b.len() == 1 { b[0] } else { b[b.len() - 2] };
    if d.k != kb {
        return Err(format!("inner dimensions differ: {a:?} and {b:?}"));
    }
    let mut out = broadcast(&d.a_batch, &d.b_batch)?;
    if a.len() > 1 {
        out.push(d.m);
    }
    if b.len() > 1 {
        out.push(d.n);
    }
    Ok(out)
}

pub fn infer_matmul(a: &TensorType, b: &TensorType) -> Result<TensorType, String> {
    let (a, b) = (float(a)?, float(b)?);
    Ok(TensorType::f32(matmul_shape(&a.shape, &b.shape)?))
}

/// Multiply-adds of a MatMul on a, b: `k` (a's last dim) per output element.
pub fn matmul_macs(inputs: &[&TensorType], output: &TensorType) -> u64 {
    let k = inputs.first().and_then(|a| a.shape.last()).copied();
    output.len() as u64 * k.unwrap_or(0) as u64
}
