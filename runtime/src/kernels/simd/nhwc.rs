//! Channels-last (NHWC) kernels, vectorised over channels: the pointwise
//! convolution as a register-blocked GEMM (pixels x input channels times input
//! x output channels), the depthwise convolution a few output pixels of a row
//! at a time, and per-channel sums and scales over pixels (global average
//! pooling, squeeze-excite). Channel counts that are not a multiple of the
//! vector width end in masked loads and stores.

use super::activation::{act_cheap, activation_raw};
use super::{act_vec, Simd};
use crate::kernels::valid_range;
use crate::params::{Activation, Conv2d, DwNhwc, PwNhwc};
use crate::threads::{SplitRead, SplitWrite};
use core::ops::Range;

/// Operands of a pointwise convolution over a run of pixels, as raw pointers
/// for the micro-kernels. Pixel `q` of the run is input pixel `first + q`.
struct PwPtrs {
    /// The batch item's input, `[hw][c_in]` or (`NCHW`) `[c_in][hw]`.
    x: *const f32,
    hw: usize,
    c_in: usize,
    first: usize,
    /// `[c_in][c_out]`.
    w: *const f32,
    c_out: usize,
    bias: Option<*const f32>,
    /// Pixel `q`, channel `co` at `res + q * c_out + co`.
    res: Option<*const f32>,
    /// Pixel `q`, channel `co` at `y + q * ys + co`.
    y: *mut f32,
    ys: usize,
    act: Activation,
}

/// `y[q, co] = act(bias[co] + sum_ci x[first + q, ci] * w[ci, co] + res[q, co])`
/// for the pixels `q < count` of `y` (`count` rows of `ys` f32s, the first
/// `c_out` of each written)..
///
/// Panels of up to `NV` channel vectors times `MR` pixels (4 vectors times
/// `MR4` pixels with AVX-512) are accumulated in registers; each step loads the
/// panel's weight vectors and broadcasts one input scalar per pixel. Input
/// channels are taken in blocks whose slice of the weight panel stays in L1;
/// between blocks the sums wait in `y` (stored and reloaded exactly, so each
/// output is the same chain of multiply-adds in channel order either way).
#[inline(always)]
pub(crate) fn pointwise<S: Simd, const MR: usize, const NV: usize, const MR4: usize>(
    s: S,
    a: &PwNhwc,
    residual: Option<&[f32]>,
    y: &mut [f32],
    ys: usize,
    count: usize,
) {
    let (hw, c_in, c_out) = (a.hw, a.c_in, a.c_out);
    assert!(a.x.len() >= hw * c_in && a.first + count <= hw);
    assert!(a.w.len() >= c_in * c_out && a.bias.is_none_or(|b| b.len() >= c_out));
    assert!(residual.is_none_or(|r| r.len() >= count * c_out));
    assert!(ys >= c_out && (count == 0 || y.len() >= (count - 1) * ys + c_out));
    let t = PwPtrs {
        x: a.x.as_ptr(),
        hw,
        c_in,
        first: a.first,
        w: a.w.as_ptr(),
        c_out,
        bias: a.bias.map(<[f32]>::as_ptr),
        res: residual.map(<[f32]>::as_ptr),
        y: y.as_mut_ptr(),
        ys,
        act: a.act,
    };
    if count == 1 {
        // SAFETY: as below, for the one pixel.
        unsafe {
            if a.nchw {
                pw_one::<S, true>(s, &t)
            } else {
                pw_one::<S, false>(s, &t)
            }
        }
        return;
    }
    // Input channels per block: the block's slice of a panel (3 vectors of
    // 64 bytes) is at most 30 KiB, within a 48 KiB L1 next to the inputs.
    let blocks = c_in.div_ceil(160).max(1);
    for b in 0..blocks {
        let k = b * c_in / blocks..(b + 1) * c_in / blocks;
        let (first, last) = (b == 0, b == blocks - 1);
        // SAFETY: the sizes asserted above cover every access the panels make.
        unsafe {
            if a.nchw {
                pw_panels::<S, MR, NV, MR4, true>(s, &t, count, &k, first, last)
            } else {
                pw_panels::<S, MR, NV, MR4, false>(s, &t, count, &k, first, last)
            }
        }
    }
    if !a.act.is_cheap() {
        // The tiles applied only the cheap activations (`act_cheap`): the rest now, over
        // what they stored.
        for q in 0..count {
            // SAFETY: pixel q's c_out channels are inside `y` (asserted).
            unsafe {
                let p = t.y.add(q * ys);
                activation_raw(s, a.act, p, p, c_out);
            }
        }
    }
}

/// A single pixel (a 1x1 plane): a matrix-vector product that streams four
/// weight rows at a time in memory order, the sums waiting in `y`; each
/// output is the same chain of multiply-adds in channel order as in `pw_tile`.
/// Safety: `t` describes valid operands for one pixel.
#[inline(always)]
unsafe fn pw_one<S: Simd, const NCHW: bool>(s: S, t: &PwPtrs) {
    let l = S::LANES;
    let (c_in, c_out, y) = (t.c_in, t.c_out, t.y);
    // SAFETY: input channels < c_in of the pixel; channels < c_out of the
    // output pixel, the bias, the residual and the weight rows < c_in.
    unsafe {
        let x = |ci: usize| {
            s.splat(if NCHW {
                *t.x.add(ci * t.hw + t.first)
            } else {
                *t.x.add(t.first * c_in + ci)
            })
        };
        let mut c0 = 0;
        while c0 < c_out {
            let n = l.min(c_out - c0);
            let b = match t.bias {
                Some(b) => s.load_partial(b.add(c0), n),
                None => s.splat(0.0),
            };
            s.store_partial(y.add(c0), b, n);
            c0 += n;
        }
        let mut ci = 0;
        while ci + 4 <= c_in {
            let xv = [x(ci), x(ci + 1), x(ci + 2), x(ci + 3)];
            let wp = t.w.add(ci * c_out);
            let mut c0 = 0;
            while c0 + l <= c_out {
                let mut a = s.load(y.add(c0));
                unroll!(4, 4, i => { a = s.mul_add(xv[i], s.load(wp.add(i * c_out + c0)), a); });
                s.store(y.add(c0), a);
                c0 += l;
            }
            if c0 < c_out {
                let n = c_out - c0;
                let mut a = s.load_partial(y.add(c0), n);
                unroll!(4, 4, i => {
                    a = s.mul_add(xv[i], s.load_partial(wp.add(i * c_out + c0), n), a);
                });
                s.store_partial(y.add(c0), a, n);
            }
            ci += 4;
        }
        for ci in ci..c_in {
            let (xv, wp) = (x(ci), t.w.add(ci * c_out));
            let mut c0 = 0;
            while c0 < c_out {
                let n = l.min(c_out - c0);
                let a = s.mul_add(
                    xv,
                    s.load_partial(wp.add(c0), n),
                    s.load_partial(y.add(c0), n),
                );
                s.store_partial(y.add(c0), a, n);
                c0 += n;
            }
        }
        let mut c0 = 0;
        while c0 < c_out {
            let n = l.min(c_out - c0);
            let mut v = s.load_partial(y.add(c0), n);
            if let Some(res) = t.res {
                v = s.add(v, s.load_partial(res.add(c0), n));
            }
            s.store_partial(y.add(c0), act_vec(s, t.act, v), n);
            c0 += n;
        }
    }
}

/// Vectors in the next panel when `left` channel vectors remain: panels of
/// `NV`, or with 32 registers (`wide`) of 4 where that avoids a narrow
/// remainder panel.
#[inline(always)]
fn panel_width<const NV: usize>(left: usize, wide: bool) -> usize {
    if !wide || left < 4 {
        left.min(NV)
    } else if left % 3 == 1 || (left % 3 == 2 && left >= 8) {
        4
    } else {
        3
    }
}

/// All output channels, panel by panel, for input channels `k`.
/// Safety: `t` describes valid operands for `count` pixels.
#[inline(always)]
unsafe fn pw_panels<
    S: Simd,
    const MR: usize,
    const NV: usize,
    const MR4: usize,
    const NCHW: bool,
>(
    s: S,
    t: &PwPtrs,
    count: usize,
    k: &Range<usize>,
    first: bool,
    last: bool,
) {
    let l = S::LANES;
    let nvec = t.c_out.div_ceil(l);
    let mut v = 0;
    while v < nvec {
        let nv = panel_width::<NV>(nvec - v, S::REGISTERS >= 32);
        let co = v * l;
        let g = Panel {
            co,
            // Lanes of the panel's last vector.
            last: (t.c_out - co - (nv - 1) * l).min(l),
            k: k.clone(),
            first,
            last_block: last,
        };
        // SAFETY: channels co..co + (nv - 1) * l + g.last are < c_out.
        unsafe {
            if g.last == l {
                match nv {
                    1 => pw_panel::<S, MR, 1, false, NCHW>(s, t, &g, count),
                    2 => pw_panel::<S, MR, 2, false, NCHW>(s, t, &g, count),
                    3 => pw_panel::<S, MR, 3, false, NCHW>(s, t, &g, count),
                    _ => pw_panel::<S, MR4, 4, false, NCHW>(s, t, &g, count),
                }
            } else {
                match nv {
                    1 => pw_panel::<S, MR, 1, true, NCHW>(s, t, &g, count),
                    2 => pw_panel::<S, MR, 2, true, NCHW>(s, t, &g, count),
                    3 => pw_panel::<S, MR, 3, true, NCHW>(s, t, &g, count),
                    _ => pw_panel::<S, MR4, 4, true, NCHW>(s, t, &g, count),
                }
            }
        }
        v += nv;
    }
}

/// One panel of output channels over one block of input channels.
struct Panel {
    /// First output channel.
    co: usize,
    /// Lanes of the panel's last vector.
    last: usize,
    /// The block of input channels.
    k: Range<usize>,
    /// The first block: start from the bias (else from the sums in `y`).
    first: bool,
    /// The last block: finish with residual and activation (else store the sums).
    last_block: bool,
}

/// How many weight rows ahead the first tile of a pointwise panel prefetches:
/// about an L3 miss's latency of 4 x 4 multiply-add steps.
const PF_ROWS: usize = 16;

/// One panel over all pixels: `MR` at a time, the rest 4, 2, 1.
/// Safety: as for `pw_tile`, for pixels `0..count`.
#[inline(always)]
unsafe fn pw_panel<S: Simd, const MR: usize, const NV: usize, const P: bool, const NCHW: bool>(
    s: S,
    t: &PwPtrs,
    g: &Panel,
    count: usize,
) {
    let mut q = 0;
    // SAFETY: every tile's pixels are < count.
    unsafe {
        while q + MR <= count {
            pw_tile::<S, MR, NV, P, NCHW>(s, t, g, q, q == 0);
            q += MR;
        }
        while q < count {
            let left = count - q;
            if left >= 4 && MR > 4 {
                pw_tile::<S, 4, NV, P, NCHW>(s, t, g, q, q == 0);
                q += 4;
            } else if left >= 2 && MR > 2 {
                pw_tile::<S, 2, NV, P, NCHW>(s, t, g, q, q == 0);
                q += 2;
            } else {
                pw_tile::<S, 1, NV, P, NCHW>(s, t, g, q, q == 0);
                q += 1;
            }
        }
    }
}

/// The micro-kernel: pixels `q..q + MR`, the panel's channels `co..co + NV *
/// LANES` (the last vector only `last` lanes when `P`), its block of input
/// channels. Safety: those pixels and channels lie within the operands of `t`.
///
/// The panel's weight rows are `c_out` f32s apart, so each step touches new
/// cache lines (a new page every step or two for a few hundred channels),
/// which the hardware prefetchers do not follow; the first tile of a panel
/// (`prefetch`) therefore asks for the rows `PF_ROWS` steps ahead, and later
/// tiles find the panel's block in L1.
#[inline(always)]
unsafe fn pw_tile<S: Simd, const MR: usize, const NV: usize, const P: bool, const NCHW: bool>(
    s: S,
    t: &PwPtrs,
    g: &Panel,
    q: usize,
    prefetch: bool,
) {
    const { assert!(MR <= 8 && NV <= 8) };
    let l = S::LANES;
    let (co, last) = (g.co, g.last);
    // SAFETY: weights, bias and residual rows have c_out channels, of which
    // co..co + (NV - 1) * l + last are read; input pixels first + q + r < hw,
    // channels in the block < c_in; output pixels q + r < count.
    unsafe {
        let load = |p: *const f32, j: usize| {
            if P && j == NV - 1 {
                s.load_partial(p.add(j * l), last)
            } else {
                s.load(p.add(j * l))
            }
        };
        let mut acc = [[s.splat(0.0); NV]; MR];
        if !g.first {
            unroll!(8, MR, r => {
                let yp = t.y.add((q + r) * t.ys + co);
                unroll!(8, NV, j => { acc[r][j] = load(yp, j); });
            });
        } else if let Some(bp) = t.bias {
            let mut b = [s.splat(0.0); NV];
            unroll!(8, NV, j => { b[j] = load(bp.add(co), j); });
            acc = [b; MR];
        }
        let px = t.first + q;
        // NCHW: element (ci, px + r) at xp + r, xp advancing by hw per channel.
        // NHWC: element (ci, px + r) at rows[r] + ci.
        let mut xp = t.x.wrapping_add(px + g.k.start * t.hw);
        let rows: [*const f32; MR] = core::array::from_fn(|r| t.x.wrapping_add((px + r) * t.c_in));
        let mut wp = t.w.add(g.k.start * t.c_out + co);
        for ci in g.k.clone() {
            if prefetch {
                // A prefetch never faults, past the weights' end included.
                let ahead = wp.wrapping_add(PF_ROWS * t.c_out);
                unroll!(8, NV, j => { s.prefetch(ahead.wrapping_add(j * l)); });
            }
            let mut wv = [s.splat(0.0); NV];
            unroll!(8, NV, j => { wv[j] = load(wp, j); });
            unroll!(8, MR, r => {
                let xv = s.splat(if NCHW { *xp.add(r) } else { *rows[r].add(ci) });
                unroll!(8, NV, j => { acc[r][j] = s.mul_add(xv, wv[j], acc[r][j]); });
            });
            if NCHW {
                xp = xp.add(t.hw);
            }
            wp = wp.add(t.c_out);
        }
        if g.last_block {
            if let Some(res) = t.res {
                unroll!(8, MR, r => {
                    let rp = res.add((q + r) * t.c_out + co);
                    unroll!(8, NV, j => { acc[r][j] = s.add(acc[r][j], load(rp, j)); });
                });
            }
            unroll!(8, MR, r => {
                unroll!(8, NV, j => { acc[r][j] = act_cheap(s, t.act, acc[r][j]); });
            });
        }
        unroll!(8, MR, r => {
            let yp = t.y.add((q + r) * t.ys + co);
            unroll!(8, NV, j => {
                if P && j == NV - 1 {
                    s.store_partial(yp.add(j * l), acc[r][j], last);
                } else {
                    s.store(yp.add(j * l), acc[r][j]);
                }
            });
        });
    }
}

/// Operands of a depthwise convolution over some output rows of one batch
/// item, as raw pointers.
#[derive(Clone, Copy)]
struct DwPtrs {
    /// Input pixel `(iy, ix)`, channel `c` at `src + (iy * w_in + ix) * sx + c`.
    src: *const f32,
    sx: usize,
    /// Output pixel `(oy, ox)`, channel `c` at `dst + ((oy - oy0) * w_out + ox) * dy + c`.
    dst: *mut f32,
    dy: usize,
    /// Likewise, with stride `rs`.
    res: Option<*const f32>,
    rs: usize,
    /// The residual is added after the activation (a Ghost module), not before.
    res_after: bool,
    oy0: usize,
    /// `[kernel_h * kernel_w][c]`.
    w: *const f32,
    bias: Option<*const f32>,
    /// Channels.
    c: usize,
    act: Activation,
}

/// Depthwise convolution of one batch item's NHWC input `x` (`[h_in * w_in][c]`)
/// into output rows `rows` (`y` and `residual` are `[rows.len() * w_out][c]`).
#[inline(always)]
pub(crate) fn depthwise<S: Simd>(
    s: S,
    d: &DwNhwc,
    x: &[f32],
    residual: Option<&[f32]>,
    y: &mut [f32],
    rows: Range<usize>,
) {
    let p = d.p;
    let c = p.c_out;
    let out = rows.len() * p.w_out * c;
    d.check();
    assert!(rows.start <= rows.end && rows.end <= p.h_out);
    assert!(x.len() >= p.h_in * p.w_in * c && y.len() >= out);
    assert!(residual.is_none_or(|r| r.len() >= out));
    let t = DwPtrs {
        src: x.as_ptr(),
        sx: c,
        dst: y.as_mut_ptr(),
        dy: c,
        res: residual.map(<[f32]>::as_ptr),
        rs: c,
        res_after: false,
        oy0: rows.start,
        w: d.w.as_ptr(),
        bias: d.bias.map(<[f32]>::as_ptr),
        c,
        act: d.act,
    };
    // SAFETY: the sizes asserted above bound every pixel and channel the kernel touches.
    unsafe { dw_rows(s, p, &t, rows) }
}

/// The cheap half of a Ghost module: depthwise over channels `read()` of the
/// batch item `item` of `src` (`c = read().len()` channels, `h_in = h_out`
/// rows), into channels `write()` (as many) of output rows `rows`, which must
/// be pixels `dst` owns. `residual` is `[rows.len() * w_out][stride]`, its
/// channels `write()` added after the activation..
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn ghost_cheap<S: Simd>(
    s: S,
    d: &DwNhwc,
    src: &SplitRead,
    dst: &mut SplitWrite,
    item: usize,
    rows: Range<usize>,
    residual: Option<&[f32]>,
) {
    let p = d.p;
    let c = p.c_out;
    d.check();
    let (stride, read, write) = (src.stride(), src.read(), dst.write());
    assert!(read.len() == c && write.len() == c && dst.stride() == stride);
    assert!(rows.start <= rows.end && rows.end <= p.h_out);
    let (in_plane, out_plane) = (p.h_in * p.w_in, p.h_out * p.w_out);
    assert!((item + 1) * in_plane <= src.pixels());
    let first = item * out_plane + rows.start * p.w_out;
    let count = rows.len() * p.w_out;
    assert!(dst.pixels().start <= first && first + count <= dst.pixels().end);
    assert!(residual.is_none_or(|r| r.len() >= count * stride));
    let base = dst.as_mut_ptr();
    let t = DwPtrs {
        // In-bounds offsets (the asserted pixels, channel starts < stride):
        // plain `wrapping_add` keeps the pointer arithmetic itself safe.
        src: src
            .as_ptr()
            .wrapping_add(item * in_plane * stride + read.start),
        sx: stride,
        dst: base.wrapping_add(first * stride + write.start),
        dy: stride,
        res: residual.map(|r| r.as_ptr().wrapping_add(write.start)),
        rs: stride,
        res_after: true,
        oy0: rows.start,
        w: d.w.as_ptr(),
        bias: d.bias.map(<[f32]>::as_ptr),
        c,
        act: d.act,
    };
    // SAFETY: the kernel reads channels read.start..+c of the item's input
    // pixels, which `src` lends for reading, and writes channels
    // write.start..+c of output pixels first..first + count, which `dst` owns
    // (asserted); the residual rows are asserted above.
    unsafe { dw_rows(s, p, &t, rows) }
}

/// Output rows of a depthwise convolution; a fast path for 1-, 3- and 5-wide kernels with
/// horizontal stride 1 or 2 and 7-wide ones with stride 1, else one pixel at a time.
/// Safety: `t` describes valid operands for `rows` of the geometry `p`.
#[inline(always)]
unsafe fn dw_rows<S: Simd>(s: S, p: &Conv2d, t: &DwPtrs, rows: Range<usize>) {
    if t.act.is_cheap() {
        // SAFETY: forwarded.
        return unsafe { dw_blocks(s, p, t, rows) };
    }
    // The blocks apply only the cheap activations (`act_cheap`, in `dw_store`): the
    // others in a second pass over each stored pixel, before a residual that comes after.
    let after = if t.res_after { t.res } else { None };
    let u = DwPtrs {
        res: if t.res_after { None } else { t.res },
        ..*t
    };
    let pixels = rows.len() * p.w_out;
    // SAFETY: forwarded; the second pass touches the c channels of the pixels written.
    unsafe {
        dw_blocks(s, p, &u, rows);
        for o in 0..pixels {
            let y = t.dst.add(o * t.dy);
            activation_raw(s, t.act, y, y, t.c);
            if let Some(r) = after {
                add_raw(s, y, r.add(o * t.rs), t.c);
            }
        }
    }
}

/// `y[i] += r[i]` for `i < n`. Safety: both ranges are valid (`y` writable).
#[inline(always)]
unsafe fn add_raw<S: Simd>(s: S, y: *mut f32, r: *const f32, n: usize) {
    let l = S::LANES;
    let mut i = 0;
    // SAFETY: every access is below n.
    unsafe {
        while i < n {
            let k = l.min(n - i);
            let v = s.add(s.load_partial(y.add(i), k), s.load_partial(r.add(i), k));
            s.store_partial(y.add(i), v, k);
            i += k;
        }
    }
}

/// [`dw_rows`] for the activations the blocks apply themselves.
/// Safety: as [`dw_rows`].
#[inline(always)]
unsafe fn dw_blocks<S: Simd>(s: S, p: &Conv2d, t: &DwPtrs, rows: Range<usize>) {
    // SAFETY: forwarded.
    unsafe {
        if const { S::LANES == 1 } {
            // One lane (the portable table): the unrolled blocks below would only multiply its
            // code (and its compile time) for no vector to fill.
            return dw_any(s, p, t, rows);
        }
        // Kernel widths 1 (GhostNetV2's Kx1 DFC convs), 3, 5 and 7.
        match (p.kernel_w, p.stride_w, p.dilation_w) {
            (1, 1, _) => dw_fast::<S, 1, 1>(s, p, t, rows),
            (1, 2, _) => dw_fast::<S, 1, 2>(s, p, t, rows),
            (3, 1, 1) => dw_fast::<S, 3, 1>(s, p, t, rows),
            (3, 2, 1) => dw_fast::<S, 3, 2>(s, p, t, rows),
            (5, 1, 1) => dw_fast::<S, 5, 1>(s, p, t, rows),
            (5, 2, 1) => dw_fast::<S, 5, 2>(s, p, t, rows),
            (7, 1, 1) => dw_fast::<S, 7, 1>(s, p, t, rows),
            _ => dw_any(s, p, t, rows),
        }
    }
}

/// Channel vectors per block of the fast depthwise kernel.
const DW_NV: usize = 2;

/// Channel blocks outermost, so one block's input stays in cache across rows.
#[inline(always)]
unsafe fn dw_fast<S: Simd, const KW: usize, const SW: usize>(
    s: S,
    p: &Conv2d,
    t: &DwPtrs,
    rows: Range<usize>,
) {
    let l = S::LANES;
    // 2 vectors x 7 pixels of accumulators with 32 registers (14 of them); one
    // vector with 16 (7 of them).
    let wide = S::REGISTERS >= 32;
    let mut c0 = 0;
    while c0 < t.c {
        let left = t.c - c0;
        // SAFETY: the block's channels c0.. are < c.
        unsafe {
            if wide && left >= DW_NV * l {
                dw_block::<S, KW, SW, DW_NV, false>(s, p, t, rows.clone(), c0, l);
                c0 += DW_NV * l;
            } else if left >= l {
                dw_block::<S, KW, SW, 1, false>(s, p, t, rows.clone(), c0, l);
                c0 += l;
            } else {
                dw_block::<S, KW, SW, 1, true>(s, p, t, rows.clone(), c0, left);
                c0 += left;
            }
        }
    }
}

/// Channels `c0..c0 + NV * LANES` (the last vector `n` lanes when `M`) of
/// output rows `rows`, a chunk of 7, 4, 2 or 1 pixels of a row at a time.
#[inline(always)]
unsafe fn dw_block<S: Simd, const KW: usize, const SW: usize, const NV: usize, const M: bool>(
    s: S,
    p: &Conv2d,
    t: &DwPtrs,
    rows: Range<usize>,
    c0: usize,
    n: usize,
) {
    for oy in rows {
        let kys = valid_range(oy * p.stride_h, p.pad_top, p.dilation_h, p.kernel_h, p.h_in);
        let mut ox = 0;
        while ox < p.w_out {
            let left = p.w_out - ox;
            // SAFETY: forwarded; the chunk's pixels are < w_out.
            unsafe {
                if left >= 7 {
                    dw_chunk::<S, KW, SW, NV, M, 7>(s, p, t, oy, ox, kys.clone(), c0, n);
                    ox += 7;
                } else if left >= 4 {
                    dw_chunk::<S, KW, SW, NV, M, 4>(s, p, t, oy, ox, kys.clone(), c0, n);
                    ox += 4;
                } else if left >= 2 {
                    dw_chunk::<S, KW, SW, NV, M, 2>(s, p, t, oy, ox, kys.clone(), c0, n);
                    ox += 2;
                } else {
                    dw_chunk::<S, KW, SW, NV, M, 1>(s, p, t, oy, ox, kys.clone(), c0, n);
                    ox += 1;
                }
            }
        }
    }
}

/// Output pixels `(oy, ox..ox + R)`, channels `c0..` (`NV` vectors, the last
/// of `n` lanes when `M`). For each valid kernel row, the input columns the
/// chunk reads are loaded once each (columns in the padding are skipped) and
/// feed every output pixel that reads them, with that row's weights held in
/// registers. Each output accumulates its taps in (row, column) order.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dw_chunk<
    S: Simd,
    const KW: usize,
    const SW: usize,
    const NV: usize,
    const M: bool,
    const R: usize,
>(
    s: S,
    p: &Conv2d,
    t: &DwPtrs,
    oy: usize,
    ox: usize,
    kys: Range<usize>,
    c0: usize,
    n: usize,
) {
    const { assert!(R <= 8 && NV <= 8 && KW <= 8 && (R - 1) * SW + KW <= 17) };
    let l = S::LANES;
    // SAFETY: kernel rows in `kys` and the columns kept below lie inside the
    // input; channels c0.. are < c (n lanes of the last vector when M); the
    // output and residual pixels (oy, ox + r) belong to the rows lent.
    unsafe {
        let load = |p: *const f32, j: usize| {
            if M && j == NV - 1 {
                s.load_partial(p.add(j * l), n)
            } else {
                s.load(p.add(j * l))
            }
        };
        let mut b = [s.splat(0.0); NV];
        if let Some(bp) = t.bias {
            unroll!(8, NV, j => { b[j] = load(bp.add(c0), j); });
        }
        let mut acc = [b; R];
        let ix0 = (ox * SW) as isize - p.pad_left as isize;
        let w_in = p.w_in as isize;
        for ky in kys {
            let iy = oy * p.stride_h + ky * p.dilation_h - p.pad_top;
            let row = t.src.add(iy * p.w_in * t.sx + c0);
            let wk = t.w.add(ky * KW * t.c + c0);
            let mut wv = [[s.splat(0.0); NV]; KW];
            unroll!(8, KW, kx => {
                unroll!(8, NV, j => { wv[kx][j] = load(wk.add(kx * t.c), j); });
            });
            // Input column ix0 + jx feeds output ox + r through tap kx = jx - r * SW.
            unroll!(17, (R - 1) * SW + KW, jx => {
                let ix = ix0 + jx as isize;
                if ix >= 0 && ix < w_in {
                    let xp = row.add(ix as usize * t.sx);
                    let mut xv = [s.splat(0.0); NV];
                    unroll!(8, NV, j => { xv[j] = load(xp, j); });
                    unroll!(8, KW, kx => {
                        if const { feeds(jx, kx, SW, R) } {
                            let r = jx.saturating_sub(kx) / SW;
                            unroll!(8, NV, j => {
                                acc[r][j] = s.mul_add(wv[kx][j], xv[j], acc[r][j]);
                            });
                        }
                    });
                }
            });
        }
        unroll!(8, R, r => {
            let o = (oy - t.oy0) * p.w_out + ox + r;
            dw_store::<S, NV, M>(s, t, o, c0, n, &acc[r]);
        });
    }
}

/// Whether input column `jx` of a chunk of `r` output pixels at stride `sw` meets kernel tap
/// `kx` (output pixel `(jx - kx) / sw`).
const fn feeds(jx: usize, kx: usize, sw: usize, r: usize) -> bool {
    jx >= kx && (jx - kx).is_multiple_of(sw) && (jx - kx) / sw < r
}

/// Bias is in `acc`; adds the residual and activates (in the order
/// `res_after` says) and stores output pixel `o` (counted from row `oy0`).
/// Safety: the pixel is one of the rows lent.
#[inline(always)]
unsafe fn dw_store<S: Simd, const NV: usize, const M: bool>(
    s: S,
    t: &DwPtrs,
    o: usize,
    c0: usize,
    n: usize,
    acc: &[S::V; NV],
) {
    let l = S::LANES;
    // SAFETY: forwarded; channels c0.. < c as for the loads.
    unsafe {
        let yp = t.dst.add(o * t.dy + c0);
        unroll!(8, NV, j => {
            let (a, part) = (acc[j], M && j == NV - 1);
            let v = match t.res {
                Some(res) => {
                    let rp = res.add(o * t.rs + c0 + j * l);
                    let r = if part {
                        s.load_partial(rp, n)
                    } else {
                        s.load(rp)
                    };
                    if t.res_after {
                        s.add(act_cheap(s, t.act, a), r)
                    } else {
                        act_cheap(s, t.act, s.add(a, r))
                    }
                }
                None => act_cheap(s, t.act, a),
            };
            if part {
                s.store_partial(yp.add(j * l), v, n);
            } else {
                s.store(yp.add(j * l), v);
            }
        });
    }
}

/// Any kernel, stride and dilation: one output pixel and one channel vector
/// at a time, over the valid taps in (row, column) order.
#[inline(always)]
unsafe fn dw_any<S: Simd>(s: S, p: &Conv2d, t: &DwPtrs, rows: Range<usize>) {
    let l = S::LANES;
    for oy in rows {
        let kys = valid_range(oy * p.stride_h, p.pad_top, p.dilation_h, p.kernel_h, p.h_in);
        for ox in 0..p.w_out {
            let kxs = valid_range(
                ox * p.stride_w,
                p.pad_left,
                p.dilation_w,
                p.kernel_w,
                p.w_in,
            );
            let mut c0 = 0;
            while c0 < t.c {
                let n = l.min(t.c - c0);
                // SAFETY: valid taps lie inside the input; channels c0..c0 + n < c.
                unsafe {
                    let mut acc = match t.bias {
                        Some(b) => s.load_partial(b.add(c0), n),
                        None => s.splat(0.0),
                    };
                    for ky in kys.clone() {
                        let iy = oy * p.stride_h + ky * p.dilation_h - p.pad_top;
                        for kx in kxs.clone() {
                            let ix = ox * p.stride_w + kx * p.dilation_w - p.pad_left;
                            let xv = s.load_partial(t.src.add((iy * p.w_in + ix) * t.sx + c0), n);
                            let wv = s.load_partial(t.w.add((ky * p.kernel_w + kx) * t.c + c0), n);
                            acc = s.mul_add(wv, xv, acc);
                        }
                    }
                    let o = (oy - t.oy0) * p.w_out + ox;
                    dw_store::<S, 1, true>(s, t, o, c0, n, &[acc]);
                }
                c0 += n;
            }
        }
    }
}

/// `out[ch] = scale * sum_q x[q * stride + ch]` for `ch < c = out.len() <= stride`, `q < pixels`:
/// per-channel sums over the pixels, each in pixel order. Eight channel
/// vectors (eight independent sums) at a time, pixel by pixel.
#[inline(always)]
pub(crate) fn sum_pixels<S: Simd>(
    s: S,
    x: &[f32],
    (pixels, stride): (usize, usize),
    scale: f32,
    out: &mut [f32],
) {
    let c = out.len();
    assert!(c <= stride && (pixels == 0 || x.len() >= (pixels - 1) * stride + c));
    let l = S::LANES;
    let (xp, op) = (x.as_ptr(), out.as_mut_ptr());
    let sv = s.splat(scale);
    let mut c0 = 0;
    // SAFETY: channels c0.. < c of pixels < pixels, inside `x`; `out` has c.
    unsafe {
        // Blocks of 8, then 4, 2 and 1 vectors: a part of a split (any whole number of
        // vectors) passes over its pixels at most four times more.
        while c0 + 8 * l <= c {
            sum_block::<S, 8>(s, xp.add(c0), (pixels, stride), sv, op.add(c0));
            c0 += 8 * l;
        }
        if c0 + 4 * l <= c {
            sum_block::<S, 4>(s, xp.add(c0), (pixels, stride), sv, op.add(c0));
            c0 += 4 * l;
        }
        if c0 + 2 * l <= c {
            sum_block::<S, 2>(s, xp.add(c0), (pixels, stride), sv, op.add(c0));
            c0 += 2 * l;
        }
        while c0 < c {
            let n = l.min(c - c0);
            let mut acc = s.splat(0.0);
            for q in 0..pixels {
                acc = s.add(acc, s.load_partial(xp.add(q * stride + c0), n));
            }
            s.store_partial(op.add(c0), s.mul(acc, sv), n);
            c0 += n;
        }
    }
}

/// `V` vectors of [`sum_pixels`]: `out[..V * LANES]` from the pixels at `x + q * stride`.
/// Safety: those `V * LANES` values of every pixel `q < pixels` are readable, `out` writable.
#[inline(always)]
unsafe fn sum_block<S: Simd, const V: usize>(
    s: S,
    x: *const f32,
    (pixels, stride): (usize, usize),
    scale: S::V,
    out: *mut f32,
) {
    let l = S::LANES;
    let mut acc = [s.splat(0.0); V];
    // SAFETY: the caller's contract.
    unsafe {
        for q in 0..pixels {
            let p = x.add(q * stride);
            unroll!(8, V, j => { acc[j] = s.add(acc[j], s.load(p.add(j * l))); });
        }
        unroll!(8, V, j => { s.store(out.add(j * l), s.mul(acc[j], scale)); });
    }
}

/// `out[q * c + ch] = x[q * c + ch] * g[ch]` for `ch < c = g.len()`, every pixel `q`
/// of `out` (`out.len() / c` of them), in memory order; a subnormal product is stored as zero
/// (`Simd::mul_flush`). `x` `None`: `out` holds `x` and is scaled in place.
#[inline(always)]
pub(crate) fn scale_pixels<S: Simd>(s: S, x: Option<&[f32]>, g: &[f32], out: &mut [f32]) {
    let c = g.len();
    if c == 0 {
        return;
    }
    let pixels = out.len() / c;
    assert!(x.is_none_or(|x| x.len() >= pixels * c));
    let l = S::LANES;
    let op = out.as_mut_ptr();
    let (xp, gp) = (x.map_or(op as *const f32, <[f32]>::as_ptr), g.as_ptr());
    // SAFETY: channels < c of pixels < pixels, inside `x` and `out`; `g` has c. In place,
    // each element is read before it is written.
    unsafe {
        for q in 0..pixels {
            let mut c0 = 0;
            while c0 + l <= c {
                let o = q * c + c0;
                s.store(
                    op.add(o),
                    s.mul_flush(s.load(xp.add(o)), s.load(gp.add(c0))),
                );
                c0 += l;
            }
            if c0 < c {
                let (o, n) = (q * c + c0, c - c0);
                let v = s.mul_flush(s.load_partial(xp.add(o), n), s.load_partial(gp.add(c0), n));
                s.store_partial(op.add(o), v, n);
            }
        }
    }
}

/// `dst[q * stride + ch] += src[q * stride + ch]` for `ch` in `chans`, every
/// pixel `q` of `dst` (`dst.len() / stride` of them).
#[inline(always)]
pub(crate) fn add_channels<S: Simd>(
    s: S,
    dst: &mut [f32],
    src: &[f32],
    stride: usize,
    chans: Range<usize>,
) {
    assert!(stride > 0 && chans.start <= chans.end && chans.end <= stride);
    let pixels = dst.len() / stride;
    assert!(src.len() >= pixels * stride);
    let l = S::LANES;
    let (dp, sp) = (dst.as_mut_ptr(), src.as_ptr());
    // SAFETY: elements q * stride + ch with q < pixels, ch < stride, inside both.
    unsafe {
        for q in 0..pixels {
            let mut c0 = chans.start;
            while c0 < chans.end {
                let o = q * stride + c0;
                let n = l.min(chans.end - c0);
                if n == l {
                    s.store(dp.add(o), s.add(s.load(dp.add(o)), s.load(sp.add(o))));
                } else {
                    let v = s.add(s.load_partial(dp.add(o), n), s.load_partial(sp.add(o), n));
                    s.store_partial(dp.add(o), v, n);
                }
                c0 += n;
            }
        }
    }
}
