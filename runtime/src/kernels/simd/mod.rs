//! The generic kernels, written once over [`Simd`] (a vector of `f32` lanes and its
//! operations), and [`Kernels`], the table of their entry points that the op modules call
//! through [`crate::dispatch`].
//!
//! Each architecture under `crate::arch` implements `Simd` for its instruction sets and
//! instantiates the table once per set with [`kernel_table!`], inside `#[target_feature]`
//! functions so the generic code is compiled with those features. [`portable`] implements
//! `Simd` on plain arrays: the same kernels with one lane type, for every target, used where
//! no architecture table applies. The scalar kernels in the op modules are the references
//! all of them are tested against.

/// `unroll!(MAX, n, i => { body })` expands `body` once for each `i` in
/// `0..n`, `n` a compile-time constant (here: made of const generics) at most
/// `MAX` (8 or 17): the copies past `n` fold away, so the loop is unrolled
/// and arrays indexed by `i` stay in registers, whatever the optimiser's
/// unrolling heuristics decide. The callers check `n <= MAX` at compile time.
macro_rules! unroll {
    (4, $n:expr, $i:ident => $body:block) => {
        unroll!(@ $n, $i, $body; 0 1 2 3)
    };
    (8, $n:expr, $i:ident => $body:block) => {
        unroll!(@ $n, $i, $body; 0 1 2 3 4 5 6 7)
    };
    (17, $n:expr, $i:ident => $body:block) => {
        unroll!(@ $n, $i, $body; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    };
    (@ $n:expr, $i:ident, $body:block; $($k:literal)*) => {
        $(
            if const { $k < $n } {
                #[allow(non_upper_case_globals)]
                const $i: usize = $k;
                $body
            }
        )*
    };
}

pub(crate) mod activation;
pub(crate) mod conv;
pub(crate) mod dense;
pub(crate) mod elementwise;
pub(crate) mod gemm;
pub(crate) mod nhwc;
pub(crate) mod pool;
pub(crate) mod portable;
pub(crate) mod resize;
pub(crate) mod winograd;

use crate::params::{Activation, Conv2d, DenseConv, DwNhwc, GateUpsample, Pool2d, PwNhwc};
use crate::threads::{SplitRead, SplitWrite};
pub(crate) use activation::act_vec;
use core::ops::Range;

/// One SIMD instruction set: a vector type of `LANES` `f32`s and its operations.
pub(crate) trait Simd: Copy {
    /// The register type.
    type V: Copy;
    /// `f32` lanes per register.
    const LANES: usize;
    /// Vector registers, which sets the kernels' register blocking.
    const REGISTERS: usize;

    /// `a * b`, a subnormal product stored as zero: for gates (squeeze-excite, the DFC
    /// attention), where a sigmoid of a very negative logit times a small activation lands in
    /// the subnormal range, and every later multiply that reads a subnormal takes a microcode
    /// assist on x86 (see `runtime/src/kernels/fused.rs`, `squeeze_excite`).
    #[inline(always)]
    fn mul_flush(self, a: Self::V, b: Self::V) -> Self::V {
        let p = self.mul(a, b);
        let tiny = self.lt(self.abs(p), self.splat(f32::MIN_POSITIVE));
        self.select(tiny, self.splat(0.0), p)
    }
    /// Runs `f` as a function of its own, compiled for this instruction set like the table
    /// entries. The kernels are otherwise inlined whole into their entry; a kernel with many
    /// specialised tiles (the dense conv) would make one function too large for the optimiser,
    /// whose loop passes then take minutes of the build. `f` should be `#[inline(always)]`,
    /// so that it is inlined into the outlined function. The portable lanes just call it.
    #[inline(always)]
    fn outline<R>(self, f: impl FnOnce(Self) -> R) -> R {
        f(self)
    }
    /// A hint to bring the cache line of `p` into the data caches; never faults, whatever `p`
    /// is (nothing is read). For streams the hardware prefetchers start late on: they stop at
    /// each 4 KiB page. A no-op on the portable lanes.
    #[inline(always)]
    fn prefetch(self, p: *const f32) {
        let _ = p;
    }
    fn splat(self, x: f32) -> Self::V;
    /// `a * b + c`, with one rounding where the ISA has a fused multiply-add (the
    /// portable lanes round twice: `core` has no fused multiply-add).
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// `1 / d` within 1 ulp for `d` in `[1, 2]` (the sigmoid's denominators; other `d` of
    /// normal magnitude likewise, zero and infinities not): a division unless the table has a
    /// faster reciprocal (AVX-512: `rcp14` and one Newton step, about 0.5 ulp).
    #[inline(always)]
    fn recip(self, d: Self::V) -> Self::V {
        self.div(self.splat(1.0), d)
    }
    /// `|a|`: the sign bit cleared (NaN stays NaN).
    fn abs(self, a: Self::V) -> Self::V;
    /// The magnitude of `a` with the sign bit of `b`.
    fn copysign(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a` rounded to the nearest integer, ties to even, for `|a| <= 2^22` (larger values are
    /// integers already and come back unchanged); NaN stays NaN.
    fn round(self, a: Self::V) -> Self::V;
    /// `2^n` for lanes of `n` holding an integer in `-126..=127` (the integer shifted into the
    /// exponent bits); other lanes give some value, with no undefined behaviour.
    fn pow2i(self, n: Self::V) -> Self::V;
    /// `y * 2^n` for lanes of `n` holding an integer in `-126..=127`, exact where the product
    /// is a normal `f32` (`2^n` made by [`Simd::pow2i`], then one product, unless the table
    /// scales directly: AVX-512's `vscalefps`, one instruction with no conversion).
    #[inline(always)]
    fn mul_pow2(self, y: Self::V, n: Self::V) -> Self::V {
        self.mul(y, self.pow2i(n))
    }
    /// `y * 2^n` rounded once (to a subnormal, zero or infinity where it leaves the normal
    /// range) for `y` in `[0.5, 2]` and lanes of `n` holding an integer in `-150..=128`:
    /// two factors `2^n1 2^n2` (`n1 = round(n / 2)`), so that only the last product rounds,
    /// unless the table scales directly (AVX-512's `vscalefps`, which rounds once for any `n`).
    #[inline(always)]
    fn ldexp(self, y: Self::V, n: Self::V) -> Self::V {
        let n1 = self.round(self.mul(n, self.splat(0.5)));
        let n2 = self.sub(n, n1);
        self.mul(self.mul(y, self.pow2i(n1)), self.pow2i(n2))
    }
    /// The lanes where `a < b` (false where either is NaN).
    fn lt(self, a: Self::V, b: Self::V) -> Self::Mask;
    /// `m ? a : b` lane-wise.
    fn select(self, m: Self::Mask, a: Self::V, b: Self::V) -> Self::V;
    /// `a < b ? b : a` lane-wise: NaN in `a` gives NaN, like scalar `if a < b { b } else { a }`.
    fn max_nan(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a > b ? b : a` lane-wise: NaN in `a` gives NaN.
    fn min_nan(self, a: Self::V, b: Self::V) -> Self::V;
    /// Sum of the lanes.
    fn sum(self, v: Self::V) -> f32;

    /// Reads `LANES` elements. Safety: `p..p + LANES` is readable.
    unsafe fn load(self, p: *const f32) -> Self::V;
    /// Reads `n <= LANES` elements into the low lanes, zero above; elements
    /// past `n` are not accessed. Safety: `p..p + n` is readable.
    unsafe fn load_partial(self, p: *const f32, n: usize) -> Self::V;
    /// `p[0], p[2], ..., p[2 * (n - 1)]` into the low `n <= LANES` lanes, zero
    /// above. Safety: `p..p + 2n - 1` is readable (nothing else is accessed).
    unsafe fn load_even(self, p: *const f32, n: usize) -> Self::V;
    /// Lanes `lo..hi` (`hi <= LANES`) read from `p + lane`, the others zero and
    /// not accessed. Safety: `p + lo..p + hi` is readable; `p` itself may point
    /// outside the allocation (form it with wrapping arithmetic).
    unsafe fn load_range(self, p: *const f32, lo: usize, hi: usize) -> Self::V;
    /// Of the elements `p + lo..p + hi` (`hi <= 2 * LANES`), the even offsets
    /// `e` go to lane `e / 2`; other lanes are zero. Safety: as `load_range`.
    unsafe fn load_even_range(self, p: *const f32, lo: usize, hi: usize) -> Self::V;
    /// Lane selection, for the masked loads below and for [`Simd::select`].
    type Mask: Copy;
    /// Selects elements `lo..hi` (`hi <= 2 * LANES`) of a window of two
    /// registers: the mask of the first and of the second.
    fn window_mask(self, lo: usize, hi: usize) -> [Self::Mask; 2];
    /// The lanes of `m` read from `p + lane`, the others zero and not
    /// accessed. Safety: the selected elements are readable; `p` itself may
    /// point outside the allocation (form it with wrapping arithmetic).
    unsafe fn load_masked(self, p: *const f32, m: Self::Mask) -> Self::V;
    /// The window elements selected by `m` (see `window_mask`), even offsets
    /// `e` to lane `e / 2`. Safety: as `load_masked`.
    unsafe fn load_even_masked(self, p: *const f32, m: [Self::Mask; 2]) -> Self::V;
    /// Writes `LANES` elements. Safety: `p..p + LANES` is writable.
    unsafe fn store(self, p: *mut f32, v: Self::V);
    /// Writes the low `n <= LANES` lanes. Safety: `p..p + n` is writable.
    unsafe fn store_partial(self, p: *mut f32, v: Self::V, n: usize);
}

/// The bias of channel `c`, or 0.
#[inline(always)]
fn bias_at(bias: Option<&[f32]>, c: usize) -> f32 {
    bias.map_or(0.0, |b| b[c])
}

/// `(x, w, bias, y, (c_in, c_out, hw), act)` of one NCHW pointwise group.
type Pointwise = fn(&[f32], &[f32], Option<&[f32]>, &mut [f32], (usize, usize, usize), Activation);

/// The entry points of the generic kernels for one instruction set: what the op modules call.
/// Each field is documented at the generic kernel it instantiates. A table is only ever made
/// by [`kernel_table!`] for an instruction set the CPU has (the architecture code checks
/// before handing one out), which is what makes its safe function pointers sound.
#[allow(clippy::type_complexity)] // the fields are the kernels' signatures
pub(crate) struct Kernels {
    /// The instruction set (see [`crate::kernel_isa`]).
    pub(crate) name: &'static str,
    /// [`gemm::pointwise`] without a residual.
    pub(crate) pointwise: Pointwise,
    /// [`gemm::pointwise`] with a residual: an entry point of its own, since compiled into
    /// one function with the plain kernel it changed the plain kernel's register allocation.
    pub(crate) pointwise_add:
        fn(&[f32], &[f32], Option<&[f32]>, &[f32], &mut [f32], (usize, usize, usize), Activation),
    /// [`gemm::pointwise_cols`]: one part of a split by columns, with or without a residual.
    pub(crate) pointwise_cols: fn(
        &[f32],
        &[f32],
        Option<&[f32]>,
        Option<&[f32]>,
        &mut SplitWrite<'_>,
        (usize, usize, usize),
        Activation,
    ),
    /// [`gemm::dot_rows`].
    pub(crate) dot_rows: fn(&[f32], &[f32], usize, &mut [f32]),
    /// [`conv::depthwise`] without a residual; false if the shape has no vector kernel.
    pub(crate) depthwise:
        fn(&Conv2d, &[f32], &[f32], Option<&[f32]>, &mut [f32], Activation) -> bool,
    /// [`conv::depthwise`] with a residual (its own entry point, as `pointwise_add`).
    pub(crate) depthwise_add:
        fn(&Conv2d, &[f32], &[f32], Option<&[f32]>, &[f32], &mut [f32], Activation) -> bool,
    /// [`conv::direct_rows`]: the direct convolution of one image, the rows a writer owns (all
    /// of them, or one part's of a split by output rows).
    pub(crate) direct_rows: fn(
        &Conv2d,
        &[f32],
        &[f32],
        Option<&[f32]>,
        Option<&[f32]>,
        &mut SplitWrite<'_>,
        Activation,
    ),
    /// [`dense::dense`].
    pub(crate) dense: fn(&DenseConv, Option<&[f32]>, &mut [f32], Range<usize>, Range<usize>),
    /// The pixels per tile of `dense` (its `MR`): parts of an NHWC input start at multiples.
    pub(crate) dense_tile: usize,
    /// [`winograd::winograd`].
    pub(crate) winograd: fn(&DenseConv, Option<&[f32]>, &mut [f32], Range<usize>),
    /// [`pool::plane`].
    pub(crate) pool_plane: fn(&Pool2d, bool, &[f32], &mut [f32]),
    /// [`pool::nhwc`].
    pub(crate) pool_nhwc: fn(&Pool2d, bool, &[f32], &mut [f32]),
    /// [`elementwise::sum_rows`].
    pub(crate) sum_rows: fn(&[f32], usize, f32, &mut [f32]),
    /// [`elementwise::scale_rows`].
    pub(crate) scale_rows: fn(&[f32], usize, &[f32], &mut [f32]),
    /// [`elementwise::scale_rows_in_place`].
    pub(crate) scale_rows_in_place: fn(&mut [f32], usize, &[f32]),
    /// [`elementwise::add_assign`].
    pub(crate) add_assign: fn(&mut [f32], &[f32]),
    /// [`activation::activation_to`].
    pub(crate) activation_to: fn(Activation, &[f32], &mut [f32]),
    /// [`activation::activation_in_place`].
    pub(crate) activation_in_place: fn(Activation, &mut [f32]),
    /// [`nhwc::pointwise`].
    pub(crate) pointwise_nhwc: fn(&PwNhwc, Option<&[f32]>, &mut [f32], usize, usize),
    /// [`nhwc::depthwise`].
    pub(crate) depthwise_nhwc: fn(&DwNhwc, &[f32], Option<&[f32]>, &mut [f32], Range<usize>),
    /// [`nhwc::ghost_cheap`].
    pub(crate) ghost_cheap_nhwc:
        fn(&DwNhwc, &SplitRead, &mut SplitWrite, usize, Range<usize>, Option<&[f32]>),
    /// [`nhwc::sum_pixels`].
    pub(crate) sum_pixels_nhwc: fn(&[f32], (usize, usize), f32, &mut [f32]),
    /// [`nhwc::scale_pixels`].
    pub(crate) scale_pixels_nhwc: fn(Option<&[f32]>, &[f32], &mut [f32]),
    /// [`nhwc::add_channels`].
    pub(crate) add_channels_nhwc: fn(&mut [f32], &[f32], usize, Range<usize>),
    /// [`resize::blend`].
    pub(crate) blend: fn(&[f32], &[f32], &[f32], &[f32], &mut [f32]),
    /// [`resize::blend_rows`].
    pub(crate) blend_rows: fn(&[f32], f32, &[f32], f32, &mut [f32]),
    /// [`resize::gate_upsample`].
    pub(crate) gate_upsample: fn(&GateUpsample, Option<&[f32]>, &[f32], &mut [f32]),
}

/// `kernel_table!(S, "name")` (portable: `S::new()` makes the token) or `kernel_table!(S,
/// "name", "features")` (`unsafe S::new_unchecked()`, each body in a `#[target_feature(enable
/// = "features")]` function): a [`Kernels`] value for the instruction set `S`. The register
/// blocking of each kernel comes from `S::LANES` and `S::REGISTERS`.
///
/// Safety of the second form: the table must only be handed out on CPUs with `features`.
macro_rules! kernel_table {
    ($S:ty, $name:literal $(, $features:literal)?) => {{
        use $crate::kernels::simd::{
            activation, conv, dense, elementwise, gemm, nhwc, pool, resize, winograd, Kernels,
            Simd,
        };
        use $crate::params::{
            Activation, Conv2d, DenseConv, DwNhwc, GateUpsample, Pool2d, PwNhwc,
        };
        use $crate::threads::{SplitRead, SplitWrite};
        use core::ops::Range;
        $crate::kernels::simd::kernel_table! { @fns $S $(, $features)?;
            fn pointwise(s, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32],
                         dims: (usize, usize, usize), act: Activation) {
                // 8 x 3 accumulators = 24 of 32 registers; 6 x 2 = 12 of 16 (with 2 vectors of
                // inputs and a broadcast: 15; 4 x 3 took all 16 and LLVM spilled an
                // accumulator through the stack in the inner loop).
                if <$S as Simd>::REGISTERS >= 32 {
                    gemm::pointwise::<$S, 8, 3>(s, x, w, bias, None, y, dims, act)
                } else {
                    gemm::pointwise::<$S, 6, 2>(s, x, w, bias, None, y, dims, act)
                }
            }
            fn pointwise_add(s, x: &[f32], w: &[f32], bias: Option<&[f32]>, residual: &[f32],
                             y: &mut [f32], dims: (usize, usize, usize), act: Activation) {
                if <$S as Simd>::REGISTERS >= 32 {
                    gemm::pointwise::<$S, 8, 3>(s, x, w, bias, Some(residual), y, dims, act)
                } else {
                    gemm::pointwise::<$S, 6, 2>(s, x, w, bias, Some(residual), y, dims, act)
                }
            }
            fn pointwise_cols(s, x: &[f32], w: &[f32], bias: Option<&[f32]>,
                              residual: Option<&[f32]>, y: &mut SplitWrite<'_>,
                              dims: (usize, usize, usize), act: Activation) {
                if <$S as Simd>::REGISTERS >= 32 {
                    gemm::pointwise_cols::<$S, 8, 3>(s, x, w, bias, residual, y, dims, act)
                } else {
                    gemm::pointwise_cols::<$S, 6, 2>(s, x, w, bias, residual, y, dims, act)
                }
            }
            fn dot_rows(s, x: &[f32], w: &[f32], k: usize, out: &mut [f32]) {
                gemm::dot_rows(s, x, w, k, out)
            }
            fn depthwise(s, p: &Conv2d, input: &[f32], weight: &[f32], bias: Option<&[f32]>,
                         output: &mut [f32], act: Activation) -> bool {
                conv::depthwise(s, p, input, weight, bias, None, output, act)
            }
            fn depthwise_add(s, p: &Conv2d, input: &[f32], weight: &[f32], bias: Option<&[f32]>,
                             residual: &[f32], output: &mut [f32], act: Activation) -> bool {
                conv::depthwise(s, p, input, weight, bias, Some(residual), output, act)
            }
            fn direct_rows(s, p: &Conv2d, input: &[f32], weight: &[f32], bias: Option<&[f32]>,
                           residual: Option<&[f32]>, y: &mut SplitWrite<'_>, act: Activation) {
                conv::direct_rows(s, p, input, weight, bias, residual, y, act)
            }
            fn dense(s, a: &DenseConv, residual: Option<&[f32]>, y: &mut [f32],
                     pixels: Range<usize>, chans: Range<usize>) {
                // 6 pixels x 4 vectors = 24 accumulators of 32 registers (AVX-512), 6 x 2 = 12
                // of 16 (AVX2); a panel of NV * LANES channels must divide 16 with fewer lanes.
                if <$S as Simd>::LANES >= 16 {
                    dense::dense::<$S, 6, 4>(s, a, residual, y, pixels, chans)
                } else if <$S as Simd>::LANES >= 8 {
                    dense::dense::<$S, 6, 2>(s, a, residual, y, pixels, chans)
                } else {
                    dense::dense::<$S, 3, 4>(s, a, residual, y, pixels, chans)
                }
            }
            fn winograd(s, a: &DenseConv, residual: Option<&[f32]>, y: &mut [f32],
                        rows: Range<usize>) {
                // 6 tiles x 4 vectors of output channels (AVX-512), 6 x 2 (AVX2), as `dense`.
                if <$S as Simd>::LANES >= 16 {
                    winograd::winograd::<$S, 6, 4>(s, a, residual, y, rows)
                } else if <$S as Simd>::LANES >= 8 {
                    winograd::winograd::<$S, 6, 2>(s, a, residual, y, rows)
                } else {
                    winograd::winograd::<$S, 3, 4>(s, a, residual, y, rows)
                }
            }
            fn pool_plane(s, p: &Pool2d, max: bool, x: &[f32], y: &mut [f32]) {
                pool::plane(s, p, max, x, y)
            }
            fn pool_nhwc(s, p: &Pool2d, max: bool, x: &[f32], y: &mut [f32]) {
                pool::nhwc(s, p, max, x, y)
            }
            fn sum_rows(s, x: &[f32], len: usize, scale: f32, out: &mut [f32]) {
                elementwise::sum_rows(s, x, len, scale, out)
            }
            fn scale_rows(s, x: &[f32], len: usize, g: &[f32], out: &mut [f32]) {
                elementwise::scale_rows(s, x, len, g, out)
            }
            fn scale_rows_in_place(s, x: &mut [f32], len: usize, g: &[f32]) {
                elementwise::scale_rows_in_place(s, x, len, g)
            }
            fn add_assign(s, dst: &mut [f32], src: &[f32]) {
                elementwise::add_assign(s, dst, src)
            }
            fn activation_to(s, act: Activation, x: &[f32], y: &mut [f32]) {
                activation::activation_to(s, act, x, y)
            }
            fn activation_in_place(s, act: Activation, data: &mut [f32]) {
                activation::activation_in_place(s, act, data)
            }
            fn pointwise_nhwc(s, a: &PwNhwc, residual: Option<&[f32]>, y: &mut [f32], ys: usize,
                              count: usize) {
                // 7 x 3 accumulators = 21 of 32 registers (7 divides the pixels of 7x7 and
                // 14x14 planes), or 6 x 4; 6 x 2 = 12 of 16 (15 with the weight vectors and
                // the broadcast: 4 x 3 took all 16, and LLVM spilled an accumulator).
                if <$S as Simd>::REGISTERS >= 32 {
                    nhwc::pointwise::<$S, 7, 3, 6>(s, a, residual, y, ys, count)
                } else {
                    nhwc::pointwise::<$S, 6, 2, 3>(s, a, residual, y, ys, count)
                }
            }
            fn depthwise_nhwc(s, d: &DwNhwc, x: &[f32], residual: Option<&[f32]>, y: &mut [f32],
                              rows: Range<usize>) {
                nhwc::depthwise(s, d, x, residual, y, rows)
            }
            fn ghost_cheap_nhwc(s, d: &DwNhwc, src: &SplitRead, dst: &mut SplitWrite, item: usize,
                                rows: Range<usize>, residual: Option<&[f32]>) {
                nhwc::ghost_cheap(s, d, src, dst, item, rows, residual)
            }
            fn sum_pixels_nhwc(s, x: &[f32], dims: (usize, usize), scale: f32, out: &mut [f32]) {
                nhwc::sum_pixels(s, x, dims, scale, out)
            }
            fn scale_pixels_nhwc(s, x: Option<&[f32]>, g: &[f32], out: &mut [f32]) {
                nhwc::scale_pixels(s, x, g, out)
            }
            fn add_channels_nhwc(s, dst: &mut [f32], src: &[f32], stride: usize,
                                 chans: Range<usize>) {
                nhwc::add_channels(s, dst, src, stride, chans)
            }
            fn blend(s, a: &[f32], wa: &[f32], b: &[f32], wb: &[f32], out: &mut [f32]) {
                resize::blend(s, a, wa, b, wb, out)
            }
            fn blend_rows(s, a: &[f32], wa: f32, b: &[f32], wb: f32, out: &mut [f32]) {
                resize::blend_rows(s, a, wa, b, wb, out)
            }
            fn gate_upsample(s, p: &GateUpsample, x: Option<&[f32]>, gate: &[f32],
                             out: &mut [f32]) {
                resize::gate_upsample(s, p, x, gate, out)
            }
        }
        Kernels {
            name: $name,
            pointwise,
            pointwise_add,
            pointwise_cols,
            dot_rows,
            depthwise,
            depthwise_add,
            direct_rows,
            dense,
            dense_tile: if <$S as Simd>::LANES >= 8 { 6 } else { 3 },
            winograd,
            pool_plane,
            pool_nhwc,
            sum_rows,
            scale_rows,
            scale_rows_in_place,
            add_assign,
            activation_to,
            activation_in_place,
            pointwise_nhwc,
            depthwise_nhwc,
            ghost_cheap_nhwc,
            sum_pixels_nhwc,
            scale_pixels_nhwc,
            add_channels_nhwc,
            blend,
            blend_rows,
            gate_upsample,
        }
    }};
    (@fns $S:ty; $(fn $f:ident($s:ident, $($arg:ident: $ty:ty),*) $(-> $ret:ty)? $body:block)*) => {$(
        #[allow(clippy::too_many_arguments)]
        fn $f($($arg: $ty),*) $(-> $ret)? {
            let $s = <$S>::new();
            $body
        }
    )*};
    (@fns $S:ty, $features:literal; $(fn $f:ident($s:ident, $($arg:ident: $ty:ty),*) $(-> $ret:ty)? $body:block)*) => {$(
        #[allow(clippy::too_many_arguments)]
        fn $f($($arg: $ty),*) $(-> $ret)? {
            #[target_feature(enable = $features)]
            #[allow(clippy::too_many_arguments)]
            fn imp($s: $S, $($arg: $ty),*) $(-> $ret)? $body
            // SAFETY: the table holding this function is only handed out on CPUs with
            // `$features` (the macro's contract), and so is the token.
            unsafe { imp(<$S>::new_unchecked(), $($arg),*) }
        }
    )*};
}
pub(crate) use kernel_table;
