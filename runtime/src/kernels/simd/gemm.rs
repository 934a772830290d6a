//! Matrix products on NCHW data: the pointwise (1x1) convolution as a
//! register-blocked GEMM, and matrix-vector products (rows of a matrix
//! against one vector) for 1x1-spatial convolutions and one-row Gemm.

use super::activation::{act_cheap, activation_raw};
use super::{bias_at, Simd};
use crate::params::Activation;
use crate::threads::SplitWrite;

/// `y[co, s] = act(bias[co] + sum_ci w[co, ci] * x[ci, s] + residual[co, s])`
/// for one group: `x` is `[cig, hw]`, `w` is `[cog, cig]`, `y` and `residual`
/// are `[cog, hw]`, `bias` is `[cog]`.
///
/// Tiles of `MR` output channels x `NV` vectors of positions are accumulated in
/// registers over the whole `ci` loop, then bias, residual and activation are
/// applied before the single store..
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn pointwise<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    y: &mut [f32],
    (cig, cog, hw): (usize, usize, usize),
    act: Activation,
) {
    assert!(y.len() >= cog * hw);
    // SAFETY: `y` holds `[cog, hw]` (asserted) and is borrowed for the call.
    unsafe {
        pointwise_raw::<S, MR, NV>(
            s,
            x,
            w,
            bias,
            residual,
            y.as_mut_ptr(),
            (cig, cog, hw),
            0..hw,
            act,
        )
    }
}

/// [`pointwise`] for the positions `y.write()` of every output channel: one part of a split
/// by columns ([`Par::for_each_columns`](crate::threads::Par::for_each_columns)), whose rows
/// are the `cog` output planes of `hw` positions. Each element is what `pointwise` gives.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn pointwise_cols<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    y: &mut SplitWrite<'_>,
    (cig, cog, hw): (usize, usize, usize),
    act: Activation,
) {
    assert!(y.stride() == hw && y.pixels() == (0..cog) && y.write().end <= hw);
    let cols = y.write();
    // SAFETY: the writer may write columns `cols` of rows `0..cog` of a `[cog, hw]` buffer
    // (asserted), and `pointwise_raw` writes only those.
    unsafe {
        pointwise_raw::<S, MR, NV>(
            s,
            x,
            w,
            bias,
            residual,
            y.as_mut_ptr(),
            (cig, cog, hw),
            cols,
            act,
        )
    }
}

/// [`pointwise`] on positions `cols` of every output channel, `y` the start of `[cog, hw]`.
/// Safety: those elements of `y` are writable and nothing else reads or writes them; nothing
/// else of `y` is touched.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pointwise_raw<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    y: *mut f32,
    (cig, cog, hw): (usize, usize, usize),
    cols: core::ops::Range<usize>,
    act: Activation,
) {
    assert!(x.len() >= cig * hw && w.len() >= cog * cig && cols.end <= hw);
    assert!(bias.is_none_or(|b| b.len() >= cog));
    assert!(residual.is_none_or(|r| r.len() >= cog * hw));
    assert!(MR <= 8 && (1..=4).contains(&NV));
    let t = Tile {
        x: x.as_ptr(),
        hw,
        w: w.as_ptr(),
        cig,
        y,
        r: residual.map_or(core::ptr::null(), <[f32]>::as_ptr),
        act,
    };
    // The residual is a separate instantiation, so the plain epilogue is unchanged.
    // SAFETY: the operands of `t` have the sizes asserted above, `t.r` too when given; `y`
    // is the caller's.
    unsafe {
        if residual.is_some() {
            tiles::<S, MR, NV, true>(s, &t, bias, cog, cols);
        } else {
            tiles::<S, MR, NV, false>(s, &t, bias, cog, cols);
        }
    }
}

/// Every tile of `pointwise` in columns `cols`; `t.r` is added when `RES`. Safety: `t.x`
/// is `[cig, hw]`, `t.w` `[cog, cig]`, `t.y` (and `t.r` when `RES`) `[cog, hw]` (the columns
/// `cols` of `t.y` writable), and `bias` has `cog` elements if any.
#[inline(always)]
unsafe fn tiles<S: Simd, const MR: usize, const NV: usize, const RES: bool>(
    s: S,
    t: &Tile,
    bias: Option<&[f32]>,
    cog: usize,
    cols: core::ops::Range<usize>,
) {
    let hw = cols.end;
    let l = S::LANES;
    let mut s0 = cols.start;
    while s0 < hw {
        // Tiles of NV vectors, except that a lone last vector is avoided: it
        // would cost as many weight broadcasts as a full tile. The last
        // NV + 1 vectors are split into two tiles instead.
        let left = (hw - s0).div_ceil(l);
        let tile_vecs = if left > NV && left <= 2 * NV && left % NV != 0 && NV > 1 {
            left.div_ceil(2)
        } else {
            NV.min(left)
        };
        let cols = (tile_vecs * l).min(hw - s0);
        let mut co = 0;
        while co + MR <= cog {
            let b: [f32; MR] = core::array::from_fn(|r| bias_at(bias, co + r));
            // SAFETY: co + MR <= cog and s0 + cols <= hw, within the operands (caller's guarantee).
            unsafe { strip::<S, MR, NV, RES>(s, t, co, s0, cols, b) };
            // SAFETY: rows co..co + MR, columns s0..s0 + cols (caller's guarantee).
            unsafe { heavy(s, t, co..co + MR, s0, cols) };
            co += MR;
        }
        let rem = cog - co;
        let b: [f32; 8] =
            core::array::from_fn(|r| if r < rem { bias_at(bias, co + r) } else { 0.0 });
        // SAFETY: co + rem == cog and s0 + cols <= hw, likewise.
        unsafe {
            match rem {
                0 => {}
                1 => strip::<S, 1, NV, RES>(s, t, co, s0, cols, [b[0]]),
                2 => strip::<S, 2, NV, RES>(s, t, co, s0, cols, [b[0], b[1]]),
                3 => strip::<S, 3, NV, RES>(s, t, co, s0, cols, [b[0], b[1], b[2]]),
                4 => strip::<S, 4, NV, RES>(s, t, co, s0, cols, [b[0], b[1], b[2], b[3]]),
                5 => strip::<S, 5, NV, RES>(s, t, co, s0, cols, [b[0], b[1], b[2], b[3], b[4]]),
                6 => {
                    strip::<S, 6, NV, RES>(s, t, co, s0, cols, [b[0], b[1], b[2], b[3], b[4], b[5]])
                }
                _ => strip::<S, 7, NV, RES>(
                    s,
                    t,
                    co,
                    s0,
                    cols,
                    [b[0], b[1], b[2], b[3], b[4], b[5], b[6]],
                ),
            }
        }
        // SAFETY: likewise for the last rows.
        unsafe { heavy(s, t, co..cog, s0, cols) };
        s0 += cols;
    }
}

/// The strips apply only the cheap activations (`act_cheap`): the others right after each
/// strip, over its rows `co` just stored. Not after all the strips of the columns: rows `hw`
/// f32s apart fall into the same few L1 sets when `hw` is a multiple of 1024 (96x96), and 96
/// such rows of SiLU then ran from L2 at 0.9 ns an element. A function, not a closure: a
/// closure would not inherit the caller's `#[target_feature]`.
/// Safety: rows `co`, columns `s0..s0 + cols` lie within `t.y`.
#[inline(always)]
unsafe fn heavy<S: Simd>(s: S, t: &Tile, co: core::ops::Range<usize>, s0: usize, cols: usize) {
    if !t.act.is_cheap() {
        for co in co {
            // SAFETY: the caller's guarantee.
            unsafe {
                let y = t.y.add(co * t.hw + s0);
                activation_raw(s, t.act, y, y, cols);
            }
        }
    }
}

/// Operands of one pointwise GEMM, as raw pointers for the micro-kernel.
struct Tile {
    x: *const f32,
    hw: usize,
    w: *const f32,
    cig: usize,
    y: *mut f32,
    /// The residual, laid out like `y`; null when there is none.
    r: *const f32,
    act: Activation,
}

/// Output channels `co..co + MR`, positions `s0..s0 + cols` (`cols <= NV * LANES`).
/// Safety: those lie within the operands of `t` (and of `t.r` when `RES`).
#[inline(always)]
unsafe fn strip<S: Simd, const MR: usize, const NV: usize, const RES: bool>(
    s: S,
    t: &Tile,
    co: usize,
    s0: usize,
    cols: usize,
    bias: [f32; MR],
) {
    let l = S::LANES;
    // SAFETY: forwarded from the caller; the partial tiles cover exactly `cols`.
    unsafe {
        if cols == NV * l {
            tile::<S, MR, NV, false, RES>(s, t, co, s0, l, bias);
        } else {
            let nv = cols.div_ceil(l);
            let last = cols - (nv - 1) * l;
            match nv {
                1 => tile::<S, MR, 1, true, RES>(s, t, co, s0, last, bias),
                2 => tile::<S, MR, 2, true, RES>(s, t, co, s0, last, bias),
                3 => tile::<S, MR, 3, true, RES>(s, t, co, s0, last, bias),
                _ => tile::<S, MR, 4, true, RES>(s, t, co, s0, last, bias),
            }
        }
    }
}

/// The micro-kernel: `MR x NV` accumulators; the last vector holds `last`
/// lanes when `PARTIAL`; the residual is added before the activation when
/// `RES`. Safety: as for `strip`.
#[inline(always)]
unsafe fn tile<S: Simd, const MR: usize, const NV: usize, const PARTIAL: bool, const RES: bool>(
    s: S,
    t: &Tile,
    co: usize,
    s0: usize,
    last: usize,
    bias: [f32; MR],
) {
    let l = S::LANES;
    let mut acc = [[s.splat(0.0); NV]; MR];
    for r in 0..MR {
        let b = s.splat(bias[r]);
        for a in &mut acc[r] {
            *a = b;
        }
    }
    // SAFETY: rows co..co+MR of w have cig elements; rows 0..cig of x have
    // positions s0..s0+cols, cols = (NV - 1) * l + last (all NV * l unless PARTIAL),
    // and so do rows co..co+MR of y and (when RES) of the residual.
    unsafe {
        let mut xp = t.x.add(s0);
        let mut wp = t.w.add(co * t.cig);
        for _ in 0..t.cig {
            let mut xv = [s.splat(0.0); NV];
            for (j, v) in xv.iter_mut().enumerate() {
                *v = if PARTIAL && j == NV - 1 {
                    s.load_partial(xp.add(j * l), last)
                } else {
                    s.load(xp.add(j * l))
                };
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let wv = s.splat(*wp.add(r * t.cig));
                for (a, &v) in row.iter_mut().zip(&xv) {
                    *a = s.mul_add(wv, v, *a);
                }
            }
            xp = xp.add(t.hw);
            wp = wp.add(1);
        }
        for (r, row) in acc.iter().enumerate() {
            let off = (co + r) * t.hw + s0;
            let yp = t.y.add(off);
            for (j, &a) in row.iter().enumerate() {
                let partial = PARTIAL && j == NV - 1;
                let a = if RES {
                    // The residual has y's layout: the same positions are readable.
                    let rp = t.r.add(off + j * l);
                    let rv = if partial {
                        s.load_partial(rp, last)
                    } else {
                        s.load(rp)
                    };
                    s.add(a, rv)
                } else {
                    a
                };
                let v = act_cheap(s, t.act, a);
                if partial {
                    s.store_partial(yp.add(j * l), v, last);
                } else {
                    s.store(yp.add(j * l), v);
                }
            }
        }
    }
}

/// `out[j] = sum_i x[i] * w[j * k + i]` for every `j < out.len()`: rows of a
/// row-major `[out.len(), k]` matrix against one vector.
///
/// Every row is the same chain of operations (that of [`dot_row`]), whichever path takes it,
/// so the result does not depend on how a caller splits the rows. A matrix of at least
/// [`STREAM_BYTES`] (a classifier, a head conv on a 1x1 plane: read from DRAM once per
/// inference) is read one row after the other, a single sequential stream; a smaller one four
/// rows at a time, each loaded vector of `x` used four times, with the next four rows
/// prefetched.
#[inline(always)]
pub(crate) fn dot_rows<S: Simd>(s: S, x: &[f32], w: &[f32], k: usize, out: &mut [f32]) {
    assert!(x.len() >= k && w.len() >= out.len() * k);
    let l = S::LANES;
    let xp = x.as_ptr();
    let mut j = 0;
    if out.len() * k * 4 < STREAM_BYTES {
        while j + 4 <= out.len() {
            // SAFETY: rows j..j+4 of w and x have k elements; all loads stay below k.
            let sums = unsafe {
                let wp = w.as_ptr().add(j * k);
                let mut a0 = [s.splat(0.0); 4];
                let mut a1 = [s.splat(0.0); 4];
                let mut i = 0;
                // The next four rows, prefetched as these are read (each step of a row reads
                // as many lines as it prefetches of the row four further on).
                let next = wp.wrapping_add(4 * k);
                while i + 2 * l <= k {
                    let x0 = s.load(xp.add(i));
                    let x1 = s.load(xp.add(i + l));
                    for r in 0..4 {
                        s.prefetch(next.wrapping_add(r * k + i));
                        s.prefetch(next.wrapping_add(r * k + i + l));
                    }
                    for (r, (a0, a1)) in a0.iter_mut().zip(&mut a1).enumerate() {
                        *a0 = s.mul_add(s.load(wp.add(r * k + i)), x0, *a0);
                        *a1 = s.mul_add(s.load(wp.add(r * k + i + l)), x1, *a1);
                    }
                    i += 2 * l;
                }
                while i < k {
                    let n = l.min(k - i);
                    let x0 = s.load_partial(xp.add(i), n);
                    for (r, a0) in a0.iter_mut().enumerate() {
                        *a0 = s.mul_add(s.load_partial(wp.add(r * k + i), n), x0, *a0);
                    }
                    i += n;
                }
                // A loop, not `array::from_fn`: a closure would not inherit `#[target_feature]`.
                let mut sums = [0.0; 4];
                for (r, sum) in sums.iter_mut().enumerate() {
                    *sum = s.sum(s.add(a0[r], a1[r]));
                }
                sums
            };
            out[j..j + 4].copy_from_slice(&sums);
            j += 4;
        }
    }
    for (jj, o) in out.iter_mut().enumerate().skip(j) {
        // SAFETY: row jj of w and x have k elements.
        *o = unsafe { dot_row(s, xp, w.as_ptr().add(jj * k), k) };
    }
}

/// Bytes of a matrix from which [`dot_rows`] reads it row by row. A model's matrices are each
/// read once per inference, so they arrive cold, from L3 or DRAM; there one sequential stream is
/// faster than four interleaved ones. Measured on an EPYC (Zen 4, 1 MiB L2; `kernel_bench gemv`
/// on its five shapes, 0.9 to 5 MB): from DRAM 21-24 GB/s row by row against 10-15 four rows at
/// a time, from L3 24-39 against 17-43; only a matrix hot in L2 (the same one read again) is
/// faster four rows at a time (960x240: 9.7 against 14.7 us), which small matrices may be.
pub(crate) const STREAM_BYTES: usize = 256 << 10;

/// How far ahead (in f32s: 4 KiB) [`dot_row`] prefetches the row it reads. Measured with
/// `kernel_bench gemv` on a Xeon with AMX and 2 MiB of L2: from L3 25.5-28.9 GB/s without,
/// 29.5-29.7 with (the core's ceiling there), from DRAM 11.4-12.2 against 13.5-14.7; 1 KiB
/// ahead gains less, 8 KiB no more, 16 KiB less.
const ROW_AHEAD: usize = 1024;

/// One row's dot product with `x`, in the order [`dot_rows`]'s four-row blocks take too: the
/// even vectors summed into one accumulator, the odd ones into another, the tail into the first.
/// Safety: `x` and `w` hold `k` readable f32s.
#[inline(always)]
unsafe fn dot_row<S: Simd>(s: S, x: *const f32, w: *const f32, k: usize) -> f32 {
    let l = S::LANES;
    let (mut a0, mut a1) = (s.splat(0.0), s.splat(0.0));
    let mut i = 0;
    // SAFETY: every load is below k.
    unsafe {
        while i + 2 * l <= k {
            // The hardware prefetcher alone keeps too few lines in flight for L3's latency.
            s.prefetch(w.wrapping_add(i + ROW_AHEAD));
            s.prefetch(w.wrapping_add(i + ROW_AHEAD + l));
            a0 = s.mul_add(s.load(w.add(i)), s.load(x.add(i)), a0);
            a1 = s.mul_add(s.load(w.add(i + l)), s.load(x.add(i + l)), a1);
            i += 2 * l;
        }
        while i < k {
            let n = l.min(k - i);
            a0 = s.mul_add(s.load_partial(w.add(i), n), s.load_partial(x.add(i), n), a0);
            i += n;
        }
    }
    s.sum(s.add(a0, a1))
}
