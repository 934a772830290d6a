//! WebAssembly: 128-bit SIMD (`simd128`). `vector.rs` implements `Simd` for it. A module is
//! compiled with or without `simd128` (`-C target-feature=+simd128`), and a wasm engine must
//! accept every instruction of a module before it runs any, so there is nothing to detect at
//! run time: this table exists exactly when the build enables the feature.

mod vector;

use crate::kernels::simd::{kernel_table, Kernels};
use vector::Simd128;

/// The generic kernels compiled for simd128.
static SIMD128: Kernels = kernel_table!(Simd128, "simd128");

/// The simd128 table: every engine that loads the module runs it.
#[inline]
pub(super) fn best() -> Option<&'static Kernels> {
    Some(&SIMD128)
}

/// Every table this engine runs, best first.
#[cfg(any(feature = "std", test))]
pub(super) fn available() -> impl Iterator<Item = &'static Kernels> {
    core::iter::once(&SIMD128)
}
