//! Kernels called by Rust code that ghostc generates from ONNX CNN models.
//!
//! Every kernel works on `f32` tensors stored as contiguous row-major slices
//! (NCHW for images, or channels-last NHWC for the `*_nhwc` kernels). Kernels never allocate; the caller owns all buffers and
//! passes slices of exactly the documented sizes. Size preconditions are
//! checked with `debug_assert!` only.
//!
//! The crate is `no_std` with no dependencies. Features:
//! - `alloc`: enables `Arena`, a heap-allocated scratch buffer.
//! - `std` (default): implies `alloc`.

#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "alloc")]
extern crate alloc;

mod activation;
#[cfg(feature = "alloc")]
mod arena;
mod io;
mod kernels;
mod pool;
mod probe;
#[cfg(test)]
mod testutil;
mod weights;

pub use activation::Activation;
#[cfg(feature = "alloc")]
pub use arena::Arena;
pub use io::io;
pub use kernels::conv::*;
pub use kernels::copy::*;
pub use kernels::elementwise::*;
pub use kernels::fused::*;
pub use kernels::gemm::*;
pub use kernels::nhwc::*;
pub use kernels::parallel::*;
pub use kernels::pool::*;
pub use kernels::reduce::*;
pub use kernels::resize::*;
pub use kernels::softmax::*;
pub use pool::{Par, Threads};
#[cfg(feature = "std")]
pub use probe::LayerTimer;
pub use probe::{NoProbe, Probe};
pub use weights::{f32_weights, Aligned};
