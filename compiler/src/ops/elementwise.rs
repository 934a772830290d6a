//! Elementwise ops: activations and broadcasting binary arithmetic.

use std::fmt;

use crate::ir::TensorType;

/// A unary activation, as fused into kernel epilogues later.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Relu,
    Clip {
        min: f32,
        max: f32,
    },
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    HardSwish,
    Sigmoid,
    /// `x * sigmoid(x)` (SiLU, Swish).
    Silu,
    Tanh,
    /// GELU, erf form: `x / 2 * (1 + erf(x / sqrt 2))`.
    Gelu,
    /// GELU, tanh form: `x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3)))`.
    GeluTanh,
    Erf,
    Exp,
}

impl Activation {
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Clip { .. } => "clip",
            Activation::HardSigmoid { .. } => "hard_sigmoid",
            Activation::HardSwish => "hard_swish",
            Activation::Sigmoid => "sigmoid",
            Activation::Silu => "silu",
            Activation::Tanh => "tanh",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_tanh",
            Activation::Erf => "erf",
            Activation::Exp => "exp",
        }
    }

    pub fn fmt_attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Clip { min, max } => write!(f, " {{min: {min}, max: {max}}}"),
            Activation::HardSigmoid { alpha, beta } => {
                write!(f, " {{alpha: {alpha}, beta: {beta}}}")
            }
            Activation::Relu
            | Activation::HardSwish
            | Activation::Sigmoid
            | Activation::Silu
            | Activation::Tanh
            | Activation::Gelu
            | Activation::GeluTanh
            | Activation::Erf
            | Activation::Exp => Ok(()),
        }
    }

    /// Scalar definition (the reference semantics; NaN propagates). The transcendental ones
    /// are evaluated in f64 and rounded once.
    pub fn apply(&self, x: f32) -> f32 {
        let d = f64::from(x);
        let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
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
            Activation::Sigmoid => sigmoid(d) as f32,
            Activation::Silu => (d * sigmoid(d)) as f32,
            Activation::Tanh => d.tanh() as f32,
            Activation::Gelu => (0.5 * d * (1.0 + erf(d / std::f64::consts::SQRT_2))) as f32,
            Activation::GeluTanh => {
                let k = (2.0 / std::f64::consts::PI).sqrt();
                (0.5 * d * (1.0 + (k * (d + 0.044715 * d * d * d)).tanh())) as f32
            }
            Activation::Erf => erf(d) as f32,
            Activation::Exp => d.exp() as f32,
        }
    }
}

/// The error function in f64 (std has none), to about 1e-15 relative: the Taylor series below
/// 2.5, the continued fraction of erfc above.
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let r = if a < 2.5 {
        // erf(a) = 2/sqrt(pi) sum (-1)^n a^(2n+1) / (n! (2n+1)).
        let (mut term, mut sum) = (a, a);
        for n in 1..200 {
            term *= -a * a / n as f64;
            let t = term / (2 * n + 1) as f64;
            sum += t;
            if t.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        sum * std::f64::consts::FRAC_2_SQRT_PI
    } else if a > 27.0 {
        1.0
    } else {
        // erfc(a) = e^-a^2 / sqrt(pi) / (a + (1/2) / (a + 1 / (a + (3/2) / (a + ...)))).
        let mut f = a;
        for k in (1..=120).rev() {
            f = a + (k as f64 / 2.0) / f;
        }
        1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / f
    };
    r.copysign(x)
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
