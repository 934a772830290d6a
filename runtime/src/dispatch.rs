//! The one dispatch point: which kernel table the op modules call through. The architecture's
//! best table for this CPU ([`crate::arch::best`]: chosen once per process with `std`, at
//! compile time without it), else the portable one. With `std`, the environment variable
//! `GHOSTC_KERNELS` names another table this CPU runs (`portable`, or `avx2` on an AVX-512
//! machine) to use instead, for A/B timing of kernel sets and for checking a lesser table's
//! results on the real model; a name the CPU cannot run is ignored. No other module chooses
//! an instruction set.

use crate::kernels::simd::portable::PORTABLE;
pub(crate) use crate::kernels::simd::Kernels;

/// The kernel table for this process.
#[cfg(not(feature = "std"))]
#[inline]
pub(crate) fn kernels() -> &'static Kernels {
    crate::arch::best().unwrap_or(&PORTABLE)
}

/// The kernel table for this process: read once, then cached.
#[cfg(feature = "std")]
#[inline]
pub(crate) fn kernels() -> &'static Kernels {
    extern crate std;
    static CHOICE: std::sync::OnceLock<&'static Kernels> = std::sync::OnceLock::new();
    CHOICE.get_or_init(|| {
        let best = crate::arch::best().unwrap_or(&PORTABLE);
        match std::env::var("GHOSTC_KERNELS") {
            Ok(name) => tables().find(|k| k.name == name).unwrap_or(best),
            Err(_) => best,
        }
    })
}

/// The instruction set the kernels run with in this process: `"avx512"`, `"avx2"` (x86-64),
/// `"neon"` (AArch64) or `"portable"` (the generic kernels on plain `f32` lanes, any target).
pub fn kernel_isa() -> &'static str {
    kernels().name
}

/// Every table this CPU runs (the architecture's, best first, then the portable one).
#[cfg(any(feature = "std", test))]
fn tables() -> impl Iterator<Item = &'static Kernels> {
    crate::arch::available().chain(core::iter::once(&PORTABLE))
}

/// Every table this CPU runs, for tests that compare each against the scalar references.
#[cfg(test)]
pub(crate) fn all() -> impl Iterator<Item = &'static Kernels> {
    tables()
}
