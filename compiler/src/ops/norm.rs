//! Inference BatchNormalization: shape inference (`fold_batch_norm` folds it into a preceding
//! conv where it can).

use crate::ir::TensorType;
use crate::ops::float;

/// Output type of BatchNorm on `x` with per-channel `[scale, bias, mean, var]`.
pub fn infer_batch_norm(x: &TensorType, params: [&TensorType; 4]) -> Result<TensorType, String> {
    let x = float(x)?;
    if x.rank() < 2 {
        return Err(format!("input must have rank >= 2, got {}", x.rank()));
    }
    let channels = x.shape[1];
    for (param, what) in params.into_iter().zip(["scale", "bias", "mean", "var"]) {
        if param.shape != [channels] {
            return Err(format!("{what} must have shape [{channels}], got {param}"));
        }
    }
    Ok(x.clone())
}
