//! x86-64 SIMD kernels (AVX-512F, AVX2+FMA) and the choice between them.
//!
//! Each kernel is written once, generic over [`Simd`], and instantiated in a
//! `#[target_feature]` function per instruction set, so the generic code is
//! inlined and compiled with those features. The safe functions at the bottom
//! of this file are what the op modules call; each has a portable twin there,
//! and the op modules' tests compare the two for every ISA the CPU has.
//!
//! With the `std` feature the ISA is detected at run time once and cached;
//! without it, it is fixed at compile time by `target_feature`.

mod conv;
mod elementwise;
mod gemm;
mod vector;

use crate::activation::{apply_in_place, Activation};
use crate::kernels::conv::Conv2d;
use vector::{Avx2, Avx512, Simd};

/// An x86 SIMD instruction set the CPU supports. Only this module can make
/// one (after checking the CPU or the compile-time target), which is what
/// makes the entry points below sound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Isa(Kind);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// AVX-512F (plus AVX2 and FMA).
    Avx512,
    /// AVX2 and FMA.
    Avx2,
}

/// The best ISA this CPU supports, if any.
#[cfg(feature = "std")]
#[inline]
pub(crate) fn detected() -> Option<Isa> {
    use core::sync::atomic::{AtomicU8, Ordering};
    // 0: not yet detected, 1: none, 2: AVX2, 3: AVX-512.
    static CHOICE: AtomicU8 = AtomicU8::new(0);
    let mut c = CHOICE.load(Ordering::Relaxed);
    if c == 0 {
        c = if cpu_has(Kind::Avx512) {
            3
        } else if cpu_has(Kind::Avx2) {
            2
        } else {
            1
        };
        CHOICE.store(c, Ordering::Relaxed);
    }
    match c {
        3 => Some(Isa(Kind::Avx512)),
        2 => Some(Isa(Kind::Avx2)),
        _ => None,
    }
}

/// The best ISA enabled at compile time, if any.
#[cfg(not(feature = "std"))]
#[inline]
pub(crate) fn detected() -> Option<Isa> {
    if cfg!(all(
        target_feature = "avx512f",
        target_feature = "avx2",
        target_feature = "fma"
    )) {
        Some(Isa(Kind::Avx512))
    } else if cfg!(all(target_feature = "avx2", target_feature = "fma")) {
        Some(Isa(Kind::Avx2))
    } else {
        None
    }
}

#[cfg(any(feature = "std", test))]
fn cpu_has(isa: Kind) -> bool {
    extern crate std;
    let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
    match isa {
        Kind::Avx2 => avx2,
        Kind::Avx512 => avx2 && std::is_x86_feature_detected!("avx512f"),
    }
}

/// Every ISA this CPU runs, for tests against the portable kernels.
#[cfg(test)]
pub(crate) fn available() -> impl Iterator<Item = Isa> {
    [Kind::Avx512, Kind::Avx2]
        .into_iter()
        .filter(|&k| cpu_has(k))
        .map(Isa)
}

/// The bias of channel `c`, or 0.
#[inline(always)]
fn bias_at(bias: Option<&[f32]>, c: usize) -> f32 {
    bias.map_or(0.0, |b| b[c])
}

/// `act` on every lane, bit-identical to `Activation::apply` (no FMA, true
/// division). `Sigmoid` is left to the scalar code: kernels are run with
/// [`vector_part`] and then [`finish`].
#[inline(always)]
fn act_vec<S: Simd>(s: S, act: Activation, v: S::V) -> S::V {
    match act {
        Activation::None | Activation::Sigmoid => v,
        Activation::Relu => s.max_nan(v, s.splat(0.0)),
        Activation::Clip { min, max } => s.min_nan(s.max_nan(v, s.splat(min)), s.splat(max)),
        Activation::HardSigmoid { alpha, beta } => {
            let t = s.add(s.mul(v, s.splat(alpha)), s.splat(beta));
            s.min_nan(s.max_nan(t, s.splat(0.0)), s.splat(1.0))
        }
        Activation::HardSwish => {
            let t = s.add(s.div(v, s.splat(6.0)), s.splat(0.5));
            s.mul(v, s.min_nan(s.max_nan(t, s.splat(0.0)), s.splat(1.0)))
        }
    }
}

/// The part of `act` the vector code applies.
#[inline]
pub(crate) fn vector_part(act: Activation) -> Activation {
    match act {
        Activation::Sigmoid => Activation::None,
        a => a,
    }
}

/// Applies what [`vector_part`] left out.
#[inline]
pub(crate) fn finish(act: Activation, out: &mut [f32]) {
    if act == Activation::Sigmoid {
        apply_in_place(act, out);
    }
}

// Entry points: one `#[target_feature]` instantiation per ISA. Calling them
// is sound because the token argument can only exist on a CPU with the features.

macro_rules! entry {
    ($(fn $name:ident<$s:ident, $S:ident>($($arg:ident: $ty:ty),*) $(-> $ret:ty)? $body:block)*) => {$(
        #[allow(clippy::too_many_arguments)]
        #[inline]
        pub(crate) fn $name(isa: Isa, $($arg: $ty),*) $(-> $ret)? {
            #[target_feature(enable = "avx512f,avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            fn avx512($s: Avx512, $($arg: $ty),*) $(-> $ret)? {
                #[allow(dead_code)]
                type $S = Avx512;
                $body
            }
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            fn avx2($s: Avx2, $($arg: $ty),*) $(-> $ret)? {
                #[allow(dead_code)]
                type $S = Avx2;
                $body
            }
            match isa.0 {
                // SAFETY: an `Isa` of kind `Avx512` is only made after checking
                // the CPU (or the compile-time target) has AVX-512F, AVX2 and FMA.
                Kind::Avx512 => unsafe { avx512(Avx512::new_unchecked(), $($arg),*) },
                // SAFETY: likewise for AVX2 and FMA.
                Kind::Avx2 => unsafe { avx2(Avx2::new_unchecked(), $($arg),*) },
            }
        }
    )*};
}

entry! {
    fn pointwise_group<s, S>(
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        y: &mut [f32],
        dims: (usize, usize, usize),
        act: Activation
    ) {
        // 8 x 3 zmm accumulators = 24 of 32 registers; 4 x 3 ymm = 12 of 16.
        if S::LANES == 16 {
            gemm::pointwise::<S, 8, 3>(s, x, w, bias, None, y, dims, act)
        } else {
            gemm::pointwise::<S, 4, 3>(s, x, w, bias, None, y, dims, act)
        }
    }

    // The residual variants are entry points of their own: compiled into the same function
    // as the plain ones, they changed the register allocation of the plain kernels.
    fn pointwise_group_add<s, S>(
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        residual: &[f32],
        y: &mut [f32],
        dims: (usize, usize, usize),
        act: Activation
    ) {
        if S::LANES == 16 {
            gemm::pointwise::<S, 8, 3>(s, x, w, bias, Some(residual), y, dims, act)
        } else {
            gemm::pointwise::<S, 4, 3>(s, x, w, bias, Some(residual), y, dims, act)
        }
    }

    fn dot_rows<s, S>(x: &[f32], w: &[f32], k: usize, out: &mut [f32]) {
        gemm::dot_rows(s, x, w, k, out)
    }

    fn depthwise<s, S>(
        p: &Conv2d,
        input: &[f32],
        weight: &[f32],
        bias: Option<&[f32]>,
        output: &mut [f32],
        act: Activation
    ) -> bool {
        conv::depthwise(s, p, input, weight, bias, None, output, act)
    }

    fn depthwise_add<s, S>(
        p: &Conv2d,
        input: &[f32],
        weight: &[f32],
        bias: Option<&[f32]>,
        residual: &[f32],
        output: &mut [f32],
        act: Activation
    ) -> bool {
        conv::depthwise(s, p, input, weight, bias, Some(residual), output, act)
    }

    fn direct<s, S>(
        p: &Conv2d,
        input: &[f32],
        weight: &[f32],
        bias: Option<&[f32]>,
        residual: Option<&[f32]>,
        output: &mut [f32],
        act: Activation
    ) {
        conv::direct(s, p, input, weight, bias, residual, output, act)
    }

    fn sum_rows<s, S>(x: &[f32], len: usize, scale: f32, out: &mut [f32]) {
        elementwise::sum_rows(s, x, len, scale, out)
    }

    fn scale_rows<s, S>(x: &[f32], len: usize, g: &[f32], out: &mut [f32]) {
        elementwise::scale_rows(s, x, len, g, out)
    }

    fn scale_rows_in_place<s, S>(x: &mut [f32], len: usize, g: &[f32]) {
        elementwise::scale_rows_in_place(s, x, len, g)
    }

    fn add_assign<s, S>(dst: &mut [f32], src: &[f32]) {
        elementwise::add_assign(s, dst, src)
    }
}

// Declared after `entry!` so the module can use the macro for its own entry points.
pub(crate) mod nhwc;
