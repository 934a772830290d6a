//! The vector parts of Resize and of the DFC gate: weighted sums of rows (bilinear
//! interpolation, once per source row horizontally and once per output row vertically) and the
//! product of an input with a nearest-upsampled gate. The index arithmetic (which source pixel
//! an output reads) stays in `kernels/resize.rs`; these take its results.

use super::Simd;
use crate::params::GateUpsample;

/// Output elements the gate kernel expands the gate into at a time (a stack buffer).
const GATE_BLOCK: usize = 1024;

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

/// `d[j] = a[j] * b[j]` for `j < n`, a subnormal product stored as zero (`Simd::mul_flush`,
/// as for every gate). Safety: `a..a + n` readable, `d..d + n` writable, `b`
/// at least `n` long; `a` may equal `d` (in place) but the ranges do not otherwise overlap.
#[inline(always)]
unsafe fn mul_row<S: Simd>(s: S, a: *const f32, b: &[f32], d: *mut f32, n: usize) {
    let l = S::LANES;
    let mut j = 0;
    // SAFETY: the caller's ranges; each lane is read before it is written.
    unsafe {
        while j + l <= n {
            s.store(
                d.add(j),
                s.mul_flush(s.load(a.add(j)), s.load(b.as_ptr().add(j))),
            );
            j += l;
        }
        if j < n {
            let m = n - j;
            let v = s.mul_flush(
                s.load_partial(a.add(j), m),
                s.load_partial(b.as_ptr().add(j), m),
            );
            s.store_partial(d.add(j), v, m);
        }
    }
}

/// `out = x * upsample(gate)` (see [`GateUpsample`]); `x` `None`: `out` holds `x` and is
/// updated in place. Gate row `r` (of all planes, in order) covers the `fh` contiguous output
/// rows from `r * fh`: as many gate rows as fit in a stack buffer are expanded into it (each
/// element `fw` times, then the row `fh` times) and multiply one contiguous run of the
/// output, so a small plane costs no per-row overhead. A row too long for the buffer goes by
/// column blocks.
#[inline(always)]
pub(crate) fn gate_upsample<S: Simd>(
    s: S,
    p: &GateUpsample,
    x: Option<&[f32]>,
    gate: &[f32],
    out: &mut [f32],
) {
    let (fh, fw, w) = (p.factor_h, p.factor_w, p.w);
    assert!(fh > 0 && fw > 0 && p.h.is_multiple_of(fh) && w.is_multiple_of(fw));
    let gw = w / fw;
    let gate_rows = p.n * p.c * (p.h / fh);
    let len = gate_rows * fh * w;
    assert!(out.len() >= len && gate.len() >= gate_rows * gw);
    assert!(x.is_none_or(|x| x.len() >= len));
    let dst = out.as_mut_ptr();
    let src = x.map_or(dst as *const f32, <[f32]>::as_ptr);
    let mut buf = [0f32; GATE_BLOCK];
    let span = fh * w; // output elements per gate row
    if span <= GATE_BLOCK {
        let per = GATE_BLOCK / span;
        let mut r0 = 0;
        while r0 < gate_rows {
            let k = per.min(gate_rows - r0);
            for i in 0..k {
                let grow = &gate[(r0 + i) * gw..][..gw];
                let (first, rest) = buf[i * span..(i + 1) * span].split_at_mut(w);
                expand(grow, fw, first);
                for row in rest.chunks_exact_mut(w) {
                    row.copy_from_slice(first);
                }
            }
            let off = r0 * span;
            // SAFETY: off + k * span <= len, inside `out` and `x` (asserted); in place, src and
            // dst are the same run.
            unsafe { mul_row(s, src.add(off), &buf[..k * span], dst.add(off), k * span) };
            r0 += k;
        }
        return;
    }
    for r in 0..gate_rows {
        let grow = &gate[r * gw..][..gw];
        let mut x0 = 0;
        while x0 < w {
            let n = GATE_BLOCK.min(w - x0);
            let (mut gx, mut phase) = (x0 / fw, x0 % fw);
            for b in &mut buf[..n] {
                *b = grow[gx];
                phase += 1;
                if phase == fw {
                    phase = 0;
                    gx += 1;
                }
            }
            for y in 0..fh {
                let off = (r * fh + y) * w + x0;
                // SAFETY: off + n <= len, inside `out` and `x` (asserted).
                unsafe { mul_row(s, src.add(off), &buf[..n], dst.add(off), n) };
            }
            x0 += n;
        }
    }
}

/// `out[j] = g[j / fw]` for `j < out.len()` (a multiple of `fw`).
#[inline(always)]
fn expand(g: &[f32], fw: usize, out: &mut [f32]) {
    match fw {
        1 => out.copy_from_slice(&g[..out.len()]),
        // The DFC case: a form LLVM turns into lane shuffles.
        2 => {
            for (pair, &v) in out.chunks_exact_mut(2).zip(g) {
                pair[0] = v;
                pair[1] = v;
            }
        }
        _ => {
            for (group, &v) in out.chunks_exact_mut(fw).zip(g) {
                group.fill(v);
            }
        }
    }
}
