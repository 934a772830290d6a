//! Gemm and MatMul: shape inference.

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

/// Numpy matmul shapes, including 1-D operands.
pub fn matmul_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    if a.is_empty() || b.is_empty() {
        return Err("matmul operands must have rank >= 1".into());
    }
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
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != kb {
        return Err(format!("inner dimensions differ: {a:?} and {b:?}"));
    }
    let mut out = broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Ok(out)
}

pub fn infer_matmul(a: &TensorType, b: &TensorType) -> Result<TensorType, String> {
    let (a, b) = (float(a)?, float(b)?);
    Ok(TensorType::f32(matmul_shape(&a.shape, &b.shape)?))
}
