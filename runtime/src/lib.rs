//! Kernels called by Rust code that ghostc generates from ONNX CNN models.
//!
//! Every kernel works on `f32` tensors stored as contiguous row-major slices
//! (NCHW for images, or channels-last NHWC for the `*_nhwc` kernels). Kernels never allocate; the caller owns all buffers and
//! passes slices of exactly the documented sizes. Size preconditions are
//! checked with `debug_assert!` only.
//!
//! The crate is `no_std` with no dependencies. Features:
//! - `alloc`: enables `Arena`, a heap-allocated scratch buffer, and with it the generated
//!   models' owning struct (`new`, `with_threads`, `run`; see [`with_alloc!`]). Without it a
//!   generated model has its constants and `run_with_arena` only, which runs on a
//!   caller-provided arena (e.g. a `static`).
//! - `std` (default): implies `alloc`; adds worker threads and run-time CPU detection.

#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "alloc")]
extern crate alloc;

mod activation;
mod arch;
#[cfg(feature = "alloc")]
mod arena;
mod dispatch;
mod io;
mod kernels;
mod owned;
mod params;
mod probe;
#[cfg(test)]
mod testutil;
mod threads;
mod weights;

#[cfg(feature = "alloc")]
pub use arena::Arena;
pub use dispatch::kernel_isa;
pub use io::{io, io_scratch};
pub use kernels::conv::*;
pub use kernels::copy::*;
pub use kernels::dense::*;
pub use kernels::elementwise::*;
pub use kernels::fused::*;
pub use kernels::gemm::*;
pub use kernels::nhwc::*;
pub use kernels::pool::*;
pub use kernels::reduce::*;
pub use kernels::resize::*;
pub use kernels::softmax::*;
pub use kernels::winograd::*;
pub use params::{
    Activation, BinaryOp, Conv2d, CoordTransform, ExpandDepthwise, ExpandDepthwiseNhwc,
    GateUpsample, Gemm, GhostModule, InOut, NearestRounding, Pool2d, Resize, ResizeMode,
    SqueezeExcite,
};
#[cfg(feature = "std")]
pub use probe::LayerTimer;
pub use probe::{NoProbe, Probe};
pub use threads::{Par, Threads};
pub use weights::{f32_weights, Aligned};
