//! AArch64: NEON. `vector.rs` implements `Simd` for it; NEON is the baseline of every
//! AArch64 target with the `neon` target feature (all the `aarch64-*` targets Rust ships), so
//! there is one table and nothing to detect at run time.

mod vector;

use crate::kernels::simd::{kernel_table, Kernels};
use vector::Neon;

/// The generic kernels compiled for NEON.
static NEON: Kernels = kernel_table!(Neon, "neon");

/// The NEON table: every CPU this module is compiled for runs it.
#[inline]
pub(super) fn best() -> Option<&'static Kernels> {
    Some(&NEON)
}

/// Every table this CPU runs, best first.
#[cfg(any(feature = "std", test))]
pub(super) fn available() -> impl Iterator<Item = &'static Kernels> {
    core::iter::once(&NEON)
}
