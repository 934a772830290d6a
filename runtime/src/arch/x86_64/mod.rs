//! x86-64: AVX-512F and AVX2+FMA. `vector.rs` implements `Simd` for both; this file detects
//! which the CPU has and hands out the kernel table for it. A table is only reachable through
//! [`best`] and [`available`], after the check, which is what makes its entries sound.

mod vector;

use crate::kernels::simd::{kernel_table, Kernels};
use vector::{Avx2, Avx512};

/// The generic kernels compiled for AVX-512F (with AVX2 and FMA).
static AVX512: Kernels = kernel_table!(Avx512, "avx512", "avx512f,avx2,fma");
/// The generic kernels compiled for AVX2 and FMA.
static AVX2: Kernels = kernel_table!(Avx2, "avx2", "avx2,fma");

#[cfg(any(feature = "std", test))]
#[derive(Clone, Copy, PartialEq)]
enum Isa {
    Avx512,
    Avx2,
}

#[cfg(any(feature = "std", test))]
impl Isa {
    fn table(self) -> &'static Kernels {
        match self {
            Isa::Avx512 => &AVX512,
            Isa::Avx2 => &AVX2,
        }
    }
}

/// The best table for this CPU (detected once, then cached).
#[cfg(feature = "std")]
#[inline]
pub(super) fn best() -> Option<&'static Kernels> {
    use core::sync::atomic::{AtomicU8, Ordering};
    // 0: not yet detected, 1: none, 2: AVX2, 3: AVX-512.
    static CHOICE: AtomicU8 = AtomicU8::new(0);
    let mut c = CHOICE.load(Ordering::Relaxed);
    if c == 0 {
        c = if cpu_has(Isa::Avx512) {
            3
        } else if cpu_has(Isa::Avx2) {
            2
        } else {
            1
        };
        CHOICE.store(c, Ordering::Relaxed);
    }
    match c {
        3 => Some(&AVX512),
        2 => Some(&AVX2),
        _ => None,
    }
}

/// The best table the compile-time target features allow.
#[cfg(not(feature = "std"))]
#[inline]
pub(super) fn best() -> Option<&'static Kernels> {
    if cfg!(all(
        target_feature = "avx512f",
        target_feature = "avx2",
        target_feature = "fma"
    )) {
        Some(&AVX512)
    } else if cfg!(all(target_feature = "avx2", target_feature = "fma")) {
        Some(&AVX2)
    } else {
        None
    }
}

#[cfg(any(feature = "std", test))]
fn cpu_has(isa: Isa) -> bool {
    extern crate std;
    let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
    match isa {
        Isa::Avx2 => avx2,
        Isa::Avx512 => avx2 && std::is_x86_feature_detected!("avx512f"),
    }
}

/// Every table this CPU runs, best first.
#[cfg(any(feature = "std", test))]
pub(super) fn available() -> impl Iterator<Item = &'static Kernels> {
    [Isa::Avx512, Isa::Avx2]
        .into_iter()
        .filter(|&i| cpu_has(i))
        .map(Isa::table)
}
