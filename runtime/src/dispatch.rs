//! The one dispatch point: which kernel table the op modules call through. The architecture's
//! best table for this CPU ([`crate::arch::best`]: chosen once per process with `std`, at
//! compile time without it), else the portable one. No other module chooses an instruction
//! set.

use crate::kernels::simd::portable::PORTABLE;
pub(crate) use crate::kernels::simd::Kernels;

/// The kernel table for this process.
#[inline]
pub(crate) fn kernels() -> &'static Kernels {
    crate::arch::best().unwrap_or(&PORTABLE)
}

/// The instruction set the kernels run with in this process: `"avx512"`, `"avx2"` (x86-64)
/// or `"portable"` (the generic kernels on plain arrays, any target).
pub fn kernel_isa() -> &'static str {
    kernels().name
}

/// Every table this CPU runs (the architecture's, then the portable one), for tests that
/// compare each against the scalar references.
#[cfg(test)]
pub(crate) fn all() -> impl Iterator<Item = &'static Kernels> {
    crate::arch::available().chain(core::iter::once(&PORTABLE))
}
