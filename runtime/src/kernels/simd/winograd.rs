//! Winograd F(4x4, 3x3) for dense 3x3 stride-1 convolutions, NHWC in and out (Lavin & Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2016; points 0, 1, -1, 2, -2, inf).
//!
//! Each 4x4 block of output pixels (a tile) is computed from the 6x6 input pixels around it:
//! `Y = A^T [ (G g G^T) . (B^T d B) ] A`, so per input and output channel pair a tile costs 36
//! multiply-adds instead of 144. The weights come transformed by the compiler (`U = G g G^T`,
//! 36 values per channel pair) and packed like the dense kernel's with 36 "taps": output
//! channels padded to [`BLOCK`], groups of [`GROUP`], each `[36][c_in][width]`.
//!
//! Work of one call (a range of tile rows of one item): for each group of output channels, for
//! each block of `MR` tiles, the input tiles are transformed [`KC`] input channels at a time
//! into `V[36][MR][KC]`, and for each of the 36 positions `M[xi][MR][width] += V[xi] * U[xi]`
//! (a small GEMM, `MR` tiles by `NV` vectors of output channels in registers, like the dense
//! kernel's tile); then `M` is transformed back to the tiles' output pixels with the bias,
//! residual and cheap activation. Both buffers live on the stack (at most
//! 36 * 6 * (16 + 64) f32 = 67.5 KiB): the input transform is redone per group of 64 output
//! channels (about 5% of the multiply-adds per group), which keeps a group's transformed
//! weights (`36 * c_in * 64` f32, 1.2 MB at 128 input channels) in L2 while every block of
//! tiles sweeps them.
//!
//! A tile's arithmetic does not depend on its place in a block (blocks are padded with zero
//! tiles), so the result does not depend on how the tile rows are split.

use super::activation::act_cheap;
use super::dense::{BLOCK, GROUP};
use super::Simd;
use crate::params::DenseConv;
use core::ops::Range;

/// Input channels transformed per step.
pub(crate) const KC: usize = 16;
/// Most tiles per block (the GEMM's register rows).
pub(crate) const MAX_MR: usize = 6;
/// Positions of a transformed tile.
const XI: usize = 36;

/// The operands as raw pointers, with the geometry.
struct Ptrs {
    x: *const f32,
    c_in: usize,
    h_in: usize,
    w_in: usize,
    h_out: usize,
    w_out: usize,
    pad: [usize; 2],
    c_out: usize,
    tiles_w: usize,
    bias: Option<*const f32>,
    act: crate::params::Activation,
    /// Output element `(oy, ox, c)` at `y + (oy * w_out + ox) * c_out + c`, formed with
    /// wrapping arithmetic (`y` lies before the slice by the part's first row); residual alike.
    y: *mut f32,
    res: Option<*const f32>,
}

/// `y = act(conv(x) + bias + residual)` for tile rows `rows` (output rows `4 * rows.start..`
/// `min(4 * rows.end, h_out)`) of one batch item; `y` and the residual hold those rows,
/// `[row][w_out][c_out]`. `a.p` must be 3x3, stride 1, dilation 1, one group, NHWC in and out.
#[inline(always)]
pub(crate) fn winograd<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    a: &DenseConv,
    residual: Option<&[f32]>,
    y: &mut [f32],
    rows: Range<usize>,
) {
    const { assert!(MR <= MAX_MR && NV <= 8 && MR >= 1) };
    let p = a.p;
    let (c_in, c_out) = (p.c_in, p.c_out);
    let cpad = c_out.next_multiple_of(BLOCK);
    assert!(p.group == 1 && (p.kernel_h, p.kernel_w) == (3, 3));
    assert!((p.stride_h, p.stride_w, p.dilation_h, p.dilation_w) == (1, 1, 1, 1));
    assert!(a.x_nhwc && a.y_nhwc);
    assert!(a.x.len() >= c_in * p.h_in * p.w_in);
    assert!(a.w.len() >= cpad * XI * c_in && a.bias.is_none_or(|b| b.len() >= c_out));
    let tiles_h = p.h_out.div_ceil(4);
    let tiles_w = p.w_out.div_ceil(4);
    assert!(rows.start <= rows.end && rows.end <= tiles_h);
    let (r0, r1) = ((4 * rows.start).min(p.h_out), (4 * rows.end).min(p.h_out));
    let len = (r1 - r0) * p.w_out * c_out;
    assert!(y.len() >= len && residual.is_none_or(|r| r.len() >= len));
    if len == 0 || c_in == 0 {
        return;
    }
    let origin = r0 * p.w_out * c_out;
    let t = Ptrs {
        x: a.x.as_ptr(),
        c_in,
        h_in: p.h_in,
        w_in: p.w_in,
        h_out: p.h_out,
        w_out: p.w_out,
        pad: [p.pad_top, p.pad_left],
        c_out,
        tiles_w,
        bias: a.bias.map(<[f32]>::as_ptr),
        act: a.act,
        y: y.as_mut_ptr().wrapping_sub(origin),
        res: residual.map(|r| r.as_ptr().wrapping_sub(origin)),
    };
    let mut v = [0.0f32; XI * MAX_MR * KC];
    let mut m = [0.0f32; XI * MAX_MR * GROUP];
    let l = S::LANES;
    let (t0, t1) = (rows.start * tiles_w, rows.end * tiles_w);
    let mut g0 = 0;
    while g0 < cpad {
        let gw = GROUP.min(cpad - g0);
        // SAFETY: the group's weights are `36 * c_in * gw` f32s from `g0 * 36 * c_in`.
        let wg = unsafe { a.w.as_ptr().add(g0 * XI * c_in) };
        let mut tb = t0;
        while tb < t1 {
            let nt = MR.min(t1 - tb);
            let mut kc = 0;
            while kc < c_in {
                let n = KC.min(c_in - kc);
                let (t, v) = (&t, &mut v);
                // SAFETY: tiles tb..tb + nt are tiles of the item; channels kc..kc + n < c_in.
                s.outline(
                    #[inline(always)]
                    |s| unsafe { input_tiles::<S, MR>(s, t, tb, nt, kc, n, v) },
                );
                let mut c = 0;
                while c < gw {
                    let nv = ((gw - c) / l).clamp(1, NV);
                    let (v, m) = (&v, &mut m);
                    // SAFETY: channels g0 + c..g0 + c + nv * l are < cpad, of group g0; the
                    // weights of channels kc..kc + n of every position lie in the group.
                    unsafe {
                        let w = wg.add(kc * gw + c);
                        let first = kc == 0;
                        let u = (w, gw, c_in * gw);
                        if l >= 16 {
                            match nv {
                                1 => s.outline(
                                    #[inline(always)]
                                    |s| gemm::<S, MR, 1>(s, v, u, n, m, c, first),
                                ),
                                2 => s.outline(
                                    #[inline(always)]
                                    |s| gemm::<S, MR, 2>(s, v, u, n, m, c, first),
                                ),
                                3 => s.outline(
                                    #[inline(always)]
                                    |s| gemm::<S, MR, 3>(s, v, u, n, m, c, first),
                                ),
                                _ => s.outline(
                                    #[inline(always)]
                                    |s| gemm::<S, MR, NV>(s, v, u, n, m, c, first),
                                ),
                            }
                        } else {
                            // With fewer lanes NV * LANES divides BLOCK: every panel is full.
                            s.outline(
                                #[inline(always)]
                                |s| gemm::<S, MR, NV>(s, v, u, n, m, c, first),
                            )
                        }
                    }
                    c += nv * l;
                }
                kc += KC;
            }
            let (t, m) = (&t, &m);
            // SAFETY: tiles tb..tb + nt lie in the part's rows; channels g0..g0 + gw of M.
            s.outline(
                #[inline(always)]
                |s| unsafe { output_tiles::<S, MR>(s, t, tb, nt, g0, gw, m) },
            );
            tb += MR;
        }
        g0 += GROUP;
    }
}

/// `B^T d` along one axis: the six input values of a line to its six transformed values.
#[inline(always)]
fn bt<S: Simd>(s: S, d: [S::V; 6]) -> [S::V; 6] {
    let (m4, m5, p4) = (s.splat(-4.0), s.splat(-5.0), s.splat(4.0));
    let a = s.mul_add(m4, d[2], d[4]); // d4 - 4 d2
    let b = s.mul_add(m4, d[1], d[3]); // d3 - 4 d1
    let c = s.sub(d[4], d[2]);
    let e = s.sub(d[3], d[1]);
    let e2 = s.add(e, e);
    [
        s.mul_add(p4, d[0], s.mul_add(m5, d[2], d[4])),
        s.add(a, b),
        s.sub(a, b),
        s.add(c, e2),
        s.sub(c, e2),
        s.mul_add(p4, d[1], s.mul_add(m5, d[3], d[5])),
    ]
}

/// `A^T m` along one axis: six products of a line to its four outputs.
#[inline(always)]
fn at<S: Simd>(s: S, m: [S::V; 6]) -> [S::V; 4] {
    let p = s.add(m[1], m[2]);
    let q = s.sub(m[1], m[2]);
    let r = s.add(m[3], m[4]);
    let d = s.sub(m[3], m[4]);
    [
        s.add(s.add(m[0], p), r),
        s.mul_add(s.splat(2.0), d, q),
        s.mul_add(s.splat(4.0), r, p),
        s.add(s.mul_add(s.splat(8.0), d, q), m[5]),
    ]
}

/// `V[xi][r][0..KC]` for tiles `tb + r` (`r < nt`; rows `nt..MR` are zero), input channels
/// `kc..kc + n` (lanes past `n` zero). Safety: the tiles are of the item, `kc + n <= c_in`.
#[inline(always)]
unsafe fn input_tiles<S: Simd, const MR: usize>(
    s: S,
    t: &Ptrs,
    tb: usize,
    nt: usize,
    kc: usize,
    n: usize,
    v: &mut [f32; XI * MAX_MR * KC],
) {
    let l = S::LANES;
    let zero = s.splat(0.0);
    let vp = v.as_mut_ptr();
    for r in 0..MR {
        let mut cv = 0;
        while cv < KC {
            let lanes = n.saturating_sub(cv).min(l);
            let mut d = [[zero; 6]; 6];
            if r < nt && lanes > 0 {
                let tile = tb + r;
                let (ty, tx) = (tile / t.tiles_w, tile % t.tiles_w);
                for (dy, row) in d.iter_mut().enumerate() {
                    let iy = (ty * 4 + dy).wrapping_sub(t.pad[0]);
                    if iy >= t.h_in {
                        continue;
                    }
                    for (dx, e) in row.iter_mut().enumerate() {
                        let ix = (tx * 4 + dx).wrapping_sub(t.pad[1]);
                        if ix < t.w_in {
                            // SAFETY: pixel (iy, ix) of the item, channels kc + cv.. + lanes.
                            unsafe {
                                let at = t.x.add((iy * t.w_in + ix) * t.c_in + kc + cv);
                                *e = if lanes == l {
                                    s.load(at)
                                } else {
                                    s.load_partial(at, lanes)
                                };
                            }
                        }
                    }
                }
            }
            // Columns first (along dy), then rows (along dx).
            let mut cols = [[zero; 6]; 6];
            for dx in 0..6 {
                let o = bt(
                    s,
                    [d[0][dx], d[1][dx], d[2][dx], d[3][dx], d[4][dx], d[5][dx]],
                );
                for (i, &oi) in o.iter().enumerate() {
                    cols[i][dx] = oi;
                }
            }
            for (i, line) in cols.iter().enumerate() {
                let o = bt(s, *line);
                for (j, &oj) in o.iter().enumerate() {
                    // SAFETY: position i * 6 + j < 36, row r < MR <= MAX_MR, lanes cv.. < KC.
                    unsafe { s.store(vp.add(((i * 6 + j) * MR + r) * KC + cv), oj) };
                }
            }
            cv += l;
        }
    }
}

/// For every position `xi`: `M[xi][r][c..c + NV * LANES] (+)= sum over i < n of
/// V[xi][r][i] * U[xi][i][..]` (`=` when `first`), with `u = (w, row, xi stride)`: the weight
/// of position `xi`, channel `i` at `w + xi * stride + i * row`. Safety: those are readable.
#[inline(always)]
unsafe fn gemm<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    v: &[f32; XI * MAX_MR * KC],
    (w, row, stride): (*const f32, usize, usize),
    n: usize,
    m: &mut [f32; XI * MAX_MR * GROUP],
    c: usize,
    first: bool,
) {
    let l = S::LANES;
    let mp = m.as_mut_ptr();
    let vp = v.as_ptr();
    debug_assert!(c + NV * l <= GROUP && n <= KC);
    for xi in 0..XI {
        let mut acc = [[s.splat(0.0); NV]; MR];
        // SAFETY: M rows (xi, r) of GROUP f32s, panel c..c + NV * l < GROUP; V rows (xi, r) of
        // KC f32s, i < n <= KC; the weights as the caller says.
        unsafe {
            let mo = |r: usize, j: usize| mp.add((xi * MR + r) * GROUP + c + j * l);
            if !first {
                unroll!(8, MR, r => {
                    unroll!(8, NV, j => { acc[r][j] = s.load(mo(r, j)); });
                });
            }
            let mut wp = w.add(xi * stride);
            let vx = vp.add(xi * MR * KC);
            for i in 0..n {
                let mut wv = [s.splat(0.0); NV];
                unroll!(8, NV, j => { wv[j] = s.load(wp.add(j * l)); });
                unroll!(8, MR, r => {
                    let xv = s.splat(*vx.add(r * KC + i));
                    unroll!(8, NV, j => { acc[r][j] = s.mul_add(xv, wv[j], acc[r][j]); });
                });
                wp = wp.add(row);
            }
            unroll!(8, MR, r => {
                unroll!(8, NV, j => { s.store(mo(r, j), acc[r][j]); });
            });
        }
    }
}

/// The output pixels of tiles `tb..tb + nt`, channels `g0..g0 + gw` (those below `c_out`), from
/// `M`: `act(A^T M A + bias + residual)`. Safety: the tiles' pixels lie in the part's rows.
#[inline(always)]
unsafe fn output_tiles<S: Simd, const MR: usize>(
    s: S,
    t: &Ptrs,
    tb: usize,
    nt: usize,
    g0: usize,
    gw: usize,
    m: &[f32; XI * MAX_MR * GROUP],
) {
    let l = S::LANES;
    let mp = m.as_ptr();
    for r in 0..nt {
        let tile = tb + r;
        let (ty, tx) = (tile / t.tiles_w, tile % t.tiles_w);
        let hy = (t.h_out - ty * 4).min(4);
        let wx = (t.w_out - tx * 4).min(4);
        let mut c = 0;
        while c < gw {
            let co = g0 + c;
            let lanes = t.c_out.saturating_sub(co).min(l);
            if lanes == 0 {
                break;
            }
            // SAFETY: M rows (xi, r), channels c..c + l < GROUP; bias, output and residual
            // channels co..co + lanes < c_out of the tile's pixels (< h_out, < w_out).
            unsafe {
                // Columns first (A^T along i), then rows.
                let mut rows = [[s.splat(0.0); 6]; 4];
                #[allow(clippy::needless_range_loop)] // j indexes M's positions and `rows`
                for j in 0..6 {
                    let mut col = [s.splat(0.0); 6];
                    for (i, e) in col.iter_mut().enumerate() {
                        *e = s.load(mp.add(((i * 6 + j) * MR + r) * GROUP + c));
                    }
                    let o = at(s, col);
                    for (a, &oa) in o.iter().enumerate() {
                        rows[a][j] = oa;
                    }
                }
                let b = match t.bias {
                    Some(bp) if lanes == l => s.load(bp.add(co)),
                    Some(bp) => s.load_partial(bp.add(co), lanes),
                    None => s.splat(0.0),
                };
                for (a, line) in rows.iter().enumerate().take(hy) {
                    let o = at(s, *line);
                    for (bx, &val) in o.iter().enumerate().take(wx) {
                        let at = ((ty * 4 + a) * t.w_out + tx * 4 + bx) * t.c_out + co;
                        let mut val = s.add(val, b);
                        if lanes == l {
                            if let Some(res) = t.res {
                                val = s.add(val, s.load(res.wrapping_add(at)));
                            }
                            s.store(t.y.wrapping_add(at), act_cheap(s, t.act, val));
                        } else {
                            if let Some(res) = t.res {
                                val = s.add(val, s.load_partial(res.wrapping_add(at), lanes));
                            }
                            s.store_partial(t.y.wrapping_add(at), act_cheap(s, t.act, val), lanes);
                        }
                    }
                }
            }
            c += l;
        }
    }
}
