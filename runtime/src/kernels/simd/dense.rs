//! Dense (group-1) convolutions of any kernel, stride, padding and dilation as a packed-weight
//! GEMM: a tile of `MR` output pixels times `NV` vectors of output channels is accumulated in
//! registers, each step loading the weight vectors of one (tap, input channel) and broadcasting
//! one input element per pixel. Input and output may each be NCHW or NHWC.
//!
//! Weights come packed by the compiler: output channels padded to a multiple of [`BLOCK`] (the
//! padding is zero), in groups of [`GROUP`] channels (the last group narrower), each group
//! `[tap][c_in][width]`, taps in row-major `(ky, kx)` order. Every instruction set reads the
//! same blob: a panel is `NV * LANES` channels of one group, which divides [`BLOCK`] or is a
//! multiple of it.
//!
//! Padding: with an NHWC input a tile is `MR` consecutive pixels of the item (rows may change
//! inside it); per tap, a pixel whose input lies in the padding reads a block of zeros, and a
//! tap no pixel of the tile reaches is skipped. With an NCHW input a tile lies in one row, in
//! the part of it where every horizontal tap is inside the input, so a tap is valid for all
//! its pixels or none; the few pixels at each row's ends run one at a time.

use super::activation::act_cheap;
use super::Simd;
use crate::params::DenseConv;
use core::ops::Range;

/// Output channels are padded to a multiple of this.
pub(crate) const BLOCK: usize = 16;
/// Output channels per group of packed weights.
pub(crate) const GROUP: usize = 64;

/// Zeros that padded input pixels read (NHWC: input channels are taken this many at a time
/// in tiles with such pixels).
const ZLEN: usize = 256;
static ZEROS: [f32; ZLEN] = [0.0; ZLEN];

/// The operands as raw pointers, with the geometry.
struct Ptrs {
    x: *const f32,
    x_nhwc: bool,
    /// Input element `(ci, pixel)` at `x + pixel * (c_in or 1) + ci * xcs`.
    xcs: usize,
    c_in: usize,
    h_in: usize,
    w_in: usize,
    w_out: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
    dilation: [usize; 2],
    c_out: usize,
    bias: Option<*const f32>,
    /// A cheap activation ([`crate::params::Activation::is_cheap`]): the caller applies the
    /// others after the kernel.
    act: crate::params::Activation,
    /// Output element `(q, c)` at `y + q * yq + c * yc` (formed with wrapping arithmetic:
    /// `y` itself may lie before the slice), the residual likewise at `res`.
    y: *mut f32,
    res: Option<*const f32>,
    yq: usize,
    yc: usize,
    hw_out: usize,
}

/// `y = act(conv(x) + bias + residual)` for output pixels `pixels` and channels `chans` of one
/// batch item. `y` (and the residual) hold, NHWC, pixels `pixels` of all channels (`chans`
/// must be `0..c_out`) as `[q - pixels.start][c_out]`, or NCHW channels `chans` of all pixels
/// (`pixels` must be `0..h_out * w_out`) as `[c - chans.start][q]`; `chans.start` is a
/// multiple of [`BLOCK`]. With an NHWC input, `pixels.start` must be a multiple of `MR` for the
/// result not to depend on the split; with an NCHW one a multiple of `w_out`.
#[inline(always)]
pub(crate) fn dense<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    a: &DenseConv,
    residual: Option<&[f32]>,
    y: &mut [f32],
    pixels: Range<usize>,
    chans: Range<usize>,
) {
    const { assert!(MR <= 8 && NV <= 8) };
    let p = a.p;
    let (c_in, c_out) = (p.c_in, p.c_out);
    let hw_out = p.h_out * p.w_out;
    let taps = p.kernel_h * p.kernel_w;
    let cpad = c_out.next_multiple_of(BLOCK);
    assert!(p.steps_positive() && p.group == 1);
    assert!(a.x.len() >= c_in * p.h_in * p.w_in);
    assert!(a.w.len() >= cpad * taps * c_in && a.bias.is_none_or(|b| b.len() >= c_out));
    assert!(pixels.start <= pixels.end && pixels.end <= hw_out);
    assert!(chans.start <= chans.end && chans.end <= c_out && chans.start.is_multiple_of(BLOCK));
    let (yq, yc, origin) = if a.y_nhwc {
        assert!(chans == (0..c_out));
        (c_out, 1, pixels.start * c_out)
    } else {
        assert!(pixels == (0..hw_out));
        (1, hw_out, chans.start * hw_out)
    };
    let len = pixels.len() * chans.len();
    assert!(y.len() >= len && residual.is_none_or(|r| r.len() >= len));
    if len == 0 {
        return;
    }
    let t = Ptrs {
        x: a.x.as_ptr(),
        x_nhwc: a.x_nhwc,
        xcs: if a.x_nhwc { 1 } else { p.h_in * p.w_in },
        c_in,
        h_in: p.h_in,
        w_in: p.w_in,
        w_out: p.w_out,
        kernel: [p.kernel_h, p.kernel_w],
        stride: [p.stride_h, p.stride_w],
        pad: [p.pad_top, p.pad_left],
        dilation: [p.dilation_h, p.dilation_w],
        c_out,
        bias: a.bias.map(<[f32]>::as_ptr),
        act: a.act,
        y: y.as_mut_ptr().wrapping_sub(origin),
        res: residual.map(|r| r.as_ptr().wrapping_sub(origin)),
        yq,
        yc,
        hw_out,
    };
    let l = S::LANES;
    let end = chans.end.next_multiple_of(BLOCK);
    let mut g0 = chans.start / GROUP * GROUP;
    while g0 < end {
        let gw = GROUP.min(cpad - g0);
        // SAFETY: the group's weights are `taps * c_in * gw` f32s from `g0 * taps * c_in`,
        // within the asserted length.
        let wg = unsafe { t.w_group(a.w.as_ptr(), g0, taps) };
        let mut c = chans.start.max(g0);
        let stop = end.min(g0 + gw);
        while c < stop {
            let nv = ((stop - c) / l).clamp(1, NV);
            // SAFETY: channels c..c + nv * l are < cpad, of group g0; pixels are < hw_out.
            unsafe {
                let w = wg.add(c - g0);
                // Each panel width is a function of its own (`Simd::outline`): inlined
                // together, their tiles made one function that took minutes to optimise.
                let (t, pixels) = (&t, &pixels);
                if l >= 16 {
                    match nv {
                        1 => s.outline(
                            #[inline(always)]
                            |s| panel::<S, MR, 1>(s, t, pixels, c, w, gw),
                        ),
                        2 => s.outline(
                            #[inline(always)]
                            |s| panel::<S, MR, 2>(s, t, pixels, c, w, gw),
                        ),
                        3 => s.outline(
                            #[inline(always)]
                            |s| panel::<S, MR, 3>(s, t, pixels, c, w, gw),
                        ),
                        _ => s.outline(
                            #[inline(always)]
                            |s| panel::<S, MR, NV>(s, t, pixels, c, w, gw),
                        ),
                    }
                } else {
                    // With fewer lanes, NV * LANES divides BLOCK: every panel is full.
                    s.outline(
                        #[inline(always)]
                        |s| panel::<S, MR, NV>(s, t, pixels, c, w, gw),
                    )
                }
            }
            c += nv * l;
        }
        g0 += GROUP;
    }
}

/// Steps ahead whose weights each step prefetches (6 KiB for a 64-channel group). The weights
/// of a panel with many input channels (ResNet's 512 > 512 3x3: 1.2 MiB) come from L2 in every
/// tile, and the hardware's L1 prefetcher did not keep up: `kernel_bench winograd 512>512`
/// gave 90 GFLOP/s without the hint, 145 with it at 24 steps, 113 at 8 and at 48.
const PF: usize = 24;

impl Ptrs {
    /// The first weight of the group starting at channel `g0`. Safety: within the blob.
    #[inline(always)]
    unsafe fn w_group(&self, w: *const f32, g0: usize, taps: usize) -> *const f32 {
        // SAFETY: the caller's.
        unsafe { w.add(g0 * taps * self.c_in) }
    }
}

/// One panel (channels `c..c + NV * LANES`, weights at `w` with `gw` floats per step) over
/// the pixels. Safety: as for `tile`.
#[inline(always)]
unsafe fn panel<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    t: &Ptrs,
    pixels: &Range<usize>,
    c: usize,
    w: *const f32,
    gw: usize,
) {
    // SAFETY: every tile's pixels lie in `pixels`.
    unsafe {
        if t.x_nhwc {
            let mut q = pixels.start;
            while q + MR <= pixels.end {
                tile::<S, MR, NV>(s, t, q, c, w, gw);
                q += MR;
            }
            tail::<S, MR, NV>(s, t, q, pixels.end, c, w, gw);
            return;
        }
        // NCHW input: row by row, the ends one pixel at a time.
        let [sw, pw, dw, kw] = [t.stride[1], t.pad[1], t.dilation[1], t.kernel[1]];
        let first = pw.div_ceil(sw).min(t.w_out);
        let last = (t.w_in + pw)
            .checked_sub((kw - 1) * dw + 1)
            .map_or(0, |m| m / sw + 1)
            .clamp(first, t.w_out);
        let mut q = pixels.start;
        while q < pixels.end {
            let row = q - q % t.w_out;
            let row_end = (row + t.w_out).min(pixels.end);
            let (a, b) = ((row + first).max(q), (row + last).min(row_end));
            let (a, b) = (a.min(row_end), b.max(a.min(row_end)));
            for q in q..a {
                tile::<S, 1, NV>(s, t, q, c, w, gw);
            }
            let mut i = a;
            while i + MR <= b {
                tile::<S, MR, NV>(s, t, i, c, w, gw);
                i += MR;
            }
            tail::<S, MR, NV>(s, t, i, b, c, w, gw);
            for q in b..row_end {
                tile::<S, 1, NV>(s, t, q, c, w, gw);
            }
            q = row_end;
        }
    }
}

/// Pixels `q..end` (fewer than `MR`) in tiles of 4, 2 and 1. Safety: as for `tile`.
#[inline(always)]
unsafe fn tail<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    t: &Ptrs,
    mut q: usize,
    end: usize,
    c: usize,
    w: *const f32,
    gw: usize,
) {
    // SAFETY: the caller's, for pixels q..end.
    unsafe {
        while q < end {
            let left = end - q;
            if left >= 4 && MR > 4 {
                tile::<S, 4, NV>(s, t, q, c, w, gw);
                q += 4;
            } else if left >= 2 && MR > 2 {
                tile::<S, 2, NV>(s, t, q, c, w, gw);
                q += 2;
            } else {
                tile::<S, 1, NV>(s, t, q, c, w, gw);
                q += 1;
            }
        }
    }
}

/// The micro-kernel: output pixels `q..q + MR`, channels `c..c + NV * LANES` (those below
/// `c_out` are written). With an NCHW input every tap must be valid for all of the tile's
/// pixels or for none (`panel` makes its tiles so). Safety: the pixels are < `hw_out`, the
/// channels < `c_out` padded to [`BLOCK`], `w` is the panel's first weight.
#[inline(always)]
unsafe fn tile<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    t: &Ptrs,
    q: usize,
    c: usize,
    w: *const f32,
    gw: usize,
) {
    let l = S::LANES;
    // Lanes of vector j below c_out.
    let lanes = |j: usize| t.c_out.saturating_sub(c + j * l).min(l);
    let mut acc = [[s.splat(0.0); NV]; MR];
    // SAFETY: bias channels below c_out; input elements of valid taps (rows < h_in, columns
    // < w_in, channels < c_in) or the zeros (at most ZLEN per run); weights of the panel;
    // output and residual elements of pixels < hw_out and channels < c_out.
    unsafe {
        if let Some(bp) = t.bias {
            let mut b = [s.splat(0.0); NV];
            unroll!(8, NV, j => {
                let n = lanes(j);
                if n == l {
                    b[j] = s.load(bp.add(c + j * l));
                } else if n > 0 {
                    b[j] = s.load_partial(bp.add(c + j * l), n);
                }
            });
            acc = [b; MR];
        }
        let mut oy = [0usize; MR];
        let mut ox = [0usize; MR];
        unroll!(8, MR, r => {
            oy[r] = (q + r) / t.w_out;
            ox[r] = (q + r) % t.w_out;
        });
        let pstride = if t.x_nhwc { t.c_in } else { 1 };
        let zeros = ZEROS.as_ptr();
        let mut wt = w;
        for ky in 0..t.kernel[0] {
            for kx in 0..t.kernel[1] {
                let mut xp = [zeros; MR];
                let mut valid = 0;
                unroll!(8, MR, r => {
                    let iy = (oy[r] * t.stride[0] + ky * t.dilation[0]).wrapping_sub(t.pad[0]);
                    let ix = (ox[r] * t.stride[1] + kx * t.dilation[1]).wrapping_sub(t.pad[1]);
                    if iy < t.h_in && ix < t.w_in {
                        xp[r] = t.x.add((iy * t.w_in + ix) * pstride);
                        valid += 1;
                    }
                });
                if valid == MR {
                    steps::<S, MR, NV>(s, &mut acc, &xp, t.xcs, wt, gw, t.c_in);
                } else if valid > 0 {
                    debug_assert!(t.x_nhwc);
                    let mut c0 = 0;
                    while c0 < t.c_in {
                        let n = ZLEN.min(t.c_in - c0);
                        let mut xc = [zeros; MR];
                        unroll!(8, MR, r => {
                            if xp[r] != zeros {
                                xc[r] = xp[r].add(c0);
                            }
                        });
                        steps::<S, MR, NV>(s, &mut acc, &xc, 1, wt.add(c0 * gw), gw, n);
                        c0 += n;
                    }
                }
                wt = wt.add(t.c_in * gw);
            }
        }
        if t.yc == 1 {
            // NHWC: each vector is contiguous channels of one pixel.
            unroll!(8, MR, r => {
                let at = (q + r) * t.yq + c;
                unroll!(8, NV, j => {
                    let n = lanes(j);
                    let off = at + j * l;
                    let mut v = acc[r][j];
                    if n == l {
                        if let Some(res) = t.res {
                            v = s.add(v, s.load(res.wrapping_add(off)));
                        }
                        s.store(t.y.wrapping_add(off), act_cheap(s, t.act, v));
                    } else if n > 0 {
                        if let Some(res) = t.res {
                            v = s.add(v, s.load_partial(res.wrapping_add(off), n));
                        }
                        s.store_partial(t.y.wrapping_add(off), act_cheap(s, t.act, v), n);
                    }
                });
            });
        } else {
            // NCHW: through a buffer, one channel's pixels at a time.
            let mut buf = [0.0f32; 128];
            unroll!(8, NV, j => {
                unroll!(8, MR, r => { s.store(buf.as_mut_ptr().add(r * l), acc[r][j]); });
                for i in 0..lanes(j) {
                    let at = (c + j * l + i) * t.hw_out + q;
                    for r in 0..MR {
                        let mut v = buf[r * l + i];
                        if let Some(res) = t.res {
                            v += *res.wrapping_add(at + r);
                        }
                        *t.y.wrapping_add(at + r) = t.act.apply(v);
                    }
                }
            });
        }
    }
}

/// `count` steps of the tile: input channel `i` of pixel `r` at `xp[r] + i * xcs`, its
/// weights at `w + i * gw`. Safety: those are readable.
#[inline(always)]
unsafe fn steps<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    acc: &mut [[S::V; NV]; MR],
    xp: &[*const f32; MR],
    xcs: usize,
    w: *const f32,
    gw: usize,
    count: usize,
) {
    let l = S::LANES;
    let mut wp = w;
    let mut o = 0;
    // SAFETY: the caller's.
    unsafe {
        for _ in 0..count {
            let mut wv = [s.splat(0.0); NV];
            unroll!(8, NV, j => { wv[j] = s.load(wp.add(j * l)); });
            unroll!(8, NV, j => { s.prefetch(wp.wrapping_add(PF * gw + j * l)); });
            unroll!(8, MR, r => {
                let xv = s.splat(*xp[r].add(o));
                unroll!(8, NV, j => { acc[r][j] = s.mul_add(xv, wv[j], acc[r][j]); });
            });
            o += xcs;
            wp = wp.add(gw);
        }
    }
}
