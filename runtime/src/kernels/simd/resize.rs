//! The vector parts of Resize and of the DFC gate: weighted sums of rows (bilinear
//! interpolation, once per source row horizontally and once per output row vertically) and the
//! product of an input with a nearest-upsampled gate. The index arithmetic (which source pixel
//! an output reads) stays in `kernels/resize.rs`; these take its results.

use super::Simd;
use crate::params::GateUpsample;

/// Output columns the gate kernel expands one gate row into at a time (a stack buffer).
const GATE_BLOCK: usize = 256;

/// `out[j] = wa[j] * a[j] + wb[j] * b[j]` for `j < out.len()`: two products and a sum, no
/// fused multiply-add, so every ISA gives the scalar code's bits.
#[inline(always)]
pub(crate) fn blend<S: Simd>(s: S, a: &[f32], wa: &[f32], b: &[f32], wb: &[f32], out: &mut [f32]) {
    let n = out.len();
    assert!(a.len() >= n && wa.len() >= n && b.len() >= n && wb.len() >= n);
    let l = S::LANES;
    let mut j = 0;
    // SAFETY: j + l <= n (full vectors) or m = n - j < l (the tail) elements of each slice,
    // all at least n long (asserted).
    unsafe {
        while j + l <= n {
            let x = s.mul(s.load(wa.as_ptr().add(j)), s.load(a.as_ptr().add(j)));
            let y = s.mul(s.load(wb.as_ptr().add(j)), s.load(b.as_ptr().add(j)));
            s.store(out.as_mut_ptr().add(j), s.add(x, y));
            j += l;
        }
        if j < n {
            let m = n - j;
            let x = s.mul(
                s.load_partial(wa.as_ptr().add(j), m),
                s.load_partial(a.as_ptr().add(j), m),
            );
            let y = s.mul(
                s.load_partial(wb.as_ptr().add(j), m),
                s.load_partial(b.as_ptr().add(j), m),
            );
            s.store_partial(out.as_mut_ptr().add(j), s.add(x, y), m);
        }
    }
}

/// `out[j] = wa * a[j] + wb * b[j]` for `j < out.len()` (no fused multiply-add).
#[inline(always)]
pub(crate) fn blend_rows<S: Simd>(s: S, a: &[f32], wa: f32, b: &[f32], wb: f32, out: &mut [f32]) {
    let n = out.len();
    assert!(a.len() >= n && b.len() >= n);
    let (va, vb) = (s.splat(wa), s.splat(wb));
    let l = S::LANES;
    let mut j = 0;
    // SAFETY: as in `blend`.
    unsafe {
        while j + l <= n {
            let x = s.mul(va, s.load(a.as_ptr().add(j)));
            let y = s.mul(vb, s.load(b.as_ptr().add(j)));
            s.store(out.as_mut_ptr().add(j), s.add(x, y));
            j += l;
        }
        if j < n {
            let m = n - j;
            let x = s.mul(va, s.load_partial(a.as_ptr().add(j), m));
            let y = s.mul(vb, s.load_partial(b.as_ptr().add(j), m));
            s.store_partial(out.as_mut_ptr().add(j), s.add(x, y), m);
        }
    }
}

/// `d[j] = a[j] * b[j]` for `j < n`. Safety: `a..a + n` readable, `d..d + n` writable, `b`
/// at least `n` long; `a` may equal `d` (in place) but the ranges do not otherwise overlap.
#[inline(always)]
unsafe fn mul_row<S: Simd>(s: S, a: *const f32, b: &[f32], d: *mut f32, n: usize) {
    let l = S::LANES;
    let mut j = 0;
    // SAFETY: the caller's ranges; each lane is read before it is written.
    unsafe {
        while j + l <= n {
            s.store(d.add(j), s.mul(s.load(a.add(j)), s.load(b.as_ptr().add(j))));
            j += l;
        }
        if j < n {
            let m = n - j;
            let v = s.mul(s.load_partial(a.add(j), m), s.load_partial(b.as_ptr().add(j), m));
            s.store_partial(d.add(j), v, m);
        }
    }
}

/// `out = x * upsample(gate)` (see [`GateUpsample`]); `x` `None`: `out` holds `x` and is
/// updated in place. Each gate row is expanded once (along the width) and multiplies the
/// `factor_h` output rows it covers.
#[inline(always)]
pub(crate) fn gate_upsample<S: Simd>(
    s: S,
    p: &GateUpsample,
    x: Option<&[f32]>,
    gate: &[f32],
    out: &mut [f32],
) {
    let (fh, fw) = (p.factor_h, p.factor_w);
    assert!(fh > 0 && fw > 0 && p.h.is_multiple_of(fh) && p.w.is_multiple_of(fw));
    let (gh, gw) = (p.h / fh, p.w / fw);
    let planes = p.n * p.c;
    let len = planes * p.h * p.w;
    assert!(out.len() >= len && gate.len() >= planes * gh * gw);
    assert!(x.is_none_or(|x| x.len() >= len));
    let dst = out.as_mut_ptr();
    let src = x.map_or(dst as *const f32, <[f32]>::as_ptr);
    let mut buf = [0f32; GATE_BLOCK];
    for plane in 0..planes {
        for gy in 0..gh {
            let grow = &gate[(plane * gh + gy) * gw..][..gw];
            let mut x0 = 0;
            while x0 < p.w {
                let n = GATE_BLOCK.min(p.w - x0);
                let up: &[f32] = if fw == 1 {
                    &grow[x0..x0 + n]
                } else {
                    let (mut gx, mut k) = (x0 / fw, x0 % fw);
                    for b in &mut buf[..n] {
                        *b = grow[gx];
                        k += 1;
                        if k == fw {
                            k = 0;
                            gx += 1;
                        }
                    }
                    &buf[..n]
                };
                for r in 0..fh {
                    let off = (plane * p.h + gy * fh + r) * p.w + x0;
                    // SAFETY: off + n <= planes * h * w = len, inside `out` and `x` (asserted);
                    // in place, src and dst are the same row.
                    unsafe { mul_row(s, src.add(off), up, dst.add(off), n) };
                }
                x0 += n;
            }
        }
    }
}
