//! Elementwise ops: activations and broadcasting binary arithmetic.

use std::fmt;

use crate::ir::TensorType;

/// A unary activation, as fused into kernel epilogues later.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Relu,
    Clip { min: f32, max: f32 },
    HardSigmoid { alpha: f32, beta: f32 },
    HardSwish,
    Sigmoid,
}

impl Activation {
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Clip { .. } => "clip",
            Activation::HardSigmoid { .. } => "hard_sigmoid",
            Activation::HardSwish => "hard_swish",
            Activation::Sigmoid => "sigmoid",
        }
    }

    pub fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Clip { min, max } => write!(f, " {{min: {min}, max: {max}}}"),
            Activation::HardSigmoid { alpha, beta } => {
                write!(f, " {{alpha: {alpha}, beta: {beta}}}")
            }
            Activation::Relu | Activation::HardSwish | Activation::Sigmoid => Ok(()),
        }
    }

    /// Scalar definition (the reference semantics; NaN propagates).
    pub fn apply(&self, x: f32) -> f32 {
        match *self {
            Activation::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            // min first, then max: with min > max every value becomes max (the spec), NaN
            // stays NaN.
            Activation::Clip { min, max } => {
                let y = if x < min { min } else { x };
                if y > max {
                    max
                } else {
                    y
                }
            }
            Activation::HardSigmoid { alpha, beta } => (alpha * x + beta).clamp(0.0, 1.0),
            Activation::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    pub fn name(&self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
        }
    }
}

/// Output type of a binary op: operands of one dtype, shapes broadcast together.
pub fn infer_binary(a: &TensorType, b: &TensorType) -> Result<TensorType, String> {
    if a.dtype != b.dtype {
        return Err(format!(
            "operand dtypes differ: {} and {}",
            a.dtype, b.dtype
        ));
    }
    Ok(TensorType::new(a.dtype, broadcast(&a.shape, &b.shape)?))
}

/// Numpy multidirectional broadcast of two shapes.
pub fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
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
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(format!(
                    "shapes {a:?} and {b:?} cannot be broadcast together"
                ))
            }
        };
    }
    Ok(out)
}

/// Element strides of a `shape` broadcast to `out` (0 on broadcast dims), one per output dim.
pub fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; out.len()];
    let mut s = 1;
    for i in (0..shape.len()).rev() {
        let o = i + out.len() - shape.len();
        strides[o] = if shape[i] == 1 { 0 } else { s };
        s *= shape[i];
    }
    strides
}
