//! Architecture code: for each target architecture, the [`Simd`](crate::kernels::simd::Simd)
//! implementations of its instruction sets, CPU feature detection, and the kernel tables
//! instantiated for them. Adding an architecture is adding one folder here and one line in
//! each function below; nothing in the op kernels changes.

use crate::kernels::simd::Kernels;

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86_64;

/// The best kernel table of this architecture that the CPU runs (detected at run time with
/// `std`, fixed by the compile-time target features without it), if any.
#[inline]
pub(crate) fn best() -> Option<&'static Kernels> {
    #[cfg(target_arch = "x86_64")]
    return x86_64::best();
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// Every table of this architecture that this CPU runs, best first, for tests.
#[cfg(test)]
pub(crate) fn available() -> impl Iterator<Item = &'static Kernels> {
    #[cfg(target_arch = "x86_64")]
    return x86_64::available();
    #[cfg(not(target_arch = "x86_64"))]
    core::iter::empty()
}
