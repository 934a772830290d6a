//! ghostc: an ahead-of-time compiler from GhostNet-family ONNX models to dependency-free Rust.
//!
//! `pipeline` is the orchestrator; `front` reads ONNX, `ir` and `ops` define the graph,
//! `analysis` computes side tables such as costs.

pub mod analysis;
pub mod error;
pub mod front;
pub mod ir;
pub mod ops;
pub mod pipeline;

pub use error::{Error, Result};
pub use front::ImportOptions;

/// Parses `1x3x224x224` into dims.
pub fn parse_dims(s: &str) -> Result<Vec<usize>> {
    let dims: Vec<usize> = s
        .split(['x', 'X', ','])
        .map(|d| d.trim().parse::<usize>().map_err(|_| Error::Option(format!("'{s}' is not a shape like 1x3x224x224"))))
        .collect::<Result<_>>()?;
    if dims.is_empty() || dims.contains(&0) {
        return Err(Error::Option(format!("'{s}' is not a shape like 1x3x224x224")));
    }
    Ok(dims)
}

/// Parses `NAME=1x3x224x224`.
pub fn parse_input_shape(s: &str) -> Result<(String, Vec<usize>)> {
    let (name, dims) = s.rsplit_once('=').ok_or_else(|| Error::Option(format!("'{s}' must look like NAME=1x3x224x224")))?;
    Ok((name.to_string(), parse_dims(dims)?))
}
