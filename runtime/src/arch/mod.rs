//! Architecture code: for each target architecture, the [`Simd`](crate::kernels::simd::Simd)
//! implementations of its instruction sets, CPU feature detection, and the kernel tables
//! instantiated for them. Adding an architecture is adding one folder here and one line in
//! each function below; nothing in the op kernels changes.

use crate::kernels::simd::Kernels;

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86_64;

#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
#[allow(unsafe_code)]
mod aarch64;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[allow(unsafe_code)]
mod wasm32;

/// The best kernel table of this architecture that the CPU runs (detected at run time with
/// `std`, fixed by the compile-time target features without it), if any.
#[inline]
pub(crate) fn best() -> Option<&'static Kernels> {
    #[cfg(target_arch = "x86_64")]
    let best = x86_64::best();
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    let best = aarch64::best();
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let best = wasm32::best();
    #[cfg(not(any(
        target_arch = "x86_64",
        all(target_arch = "aarch64", target_feature = "neon"),
        all(target_arch = "wasm32", target_feature = "simd128")
    )))]
    let best = None;
    best
}

/// Every table of this architecture that this CPU runs, best first (for tests, and for the
/// `GHOSTC_KERNELS` override of [`crate::dispatch`]).
#[cfg(any(feature = "std", test))]
pub(crate) fn available() -> impl Iterator<Item = &'static Kernels> {
    #[cfg(target_arch = "x86_64")]
    let tables = x86_64::available();
    #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
    let tables = aarch64::available();
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let tables = wasm32::available();
    #[cfg(not(any(
        target_arch = "x86_64",
        all(target_arch = "aarch64", target_feature = "neon"),
        all(target_arch = "wasm32", target_feature = "simd128")
    )))]
    let tables = core::iter::empty();
    tables
}
