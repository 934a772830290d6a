//! Memory-bound element-wise loops: per-row sums and scales (global average
//! pooling, squeeze-excite) and in-place addition (residuals).

use super::Simd;

/// `out[i] = scale * sum(x[i * len..][..len])` for every `i < out.len()`.
/// Four accumulators per row hide the add latency.
#[inline(always)]
pub(crate) fn sum_rows<S: Simd>(s: S, x: &[f32], len: usize, scale: f32, out: &mut [f32]) {
    assert!(x.len() >= out.len() * len);
    let l = S::LANES;
    for (i, o) in out.iter_mut().enumerate() {
        // SAFETY: row i has len elements inside `x` (asserted); loads stay below len.
        let total = unsafe {
            let p = x.as_ptr().add(i * len);
            let mut a = [s.splat(0.0); 4];
            let mut j = 0;
            while j + 4 * l <= len {
                for (k, a) in a.iter_mut().enumerate() {
                    *a = s.add(*a, s.load(p.add(j + k * l)));
                }
                j += 4 * l;
            }
            while j < len {
                let n = l.min(len - j);
                a[0] = s.add(a[0], s.load_partial(p.add(j), n));
                j += n;
            }
            s.sum(s.add(s.add(a[0], a[1]), s.add(a[2], a[3])))
        };
        *o = total * scale;
    }
}

/// `out[i * len + j] = x[i * len + j] * g[i]` for every row `i < g.len()`, a subnormal
/// product stored as zero (`Simd::mul_flush`).
#[inline(always)]
pub(crate) fn scale_rows<S: Simd>(s: S, x: &[f32], len: usize, g: &[f32], out: &mut [f32]) {
    assert!(x.len() >= g.len() * len && out.len() >= g.len() * len);
    let l = S::LANES;
    for (i, &gi) in g.iter().enumerate() {
        let gv = s.splat(gi);
        // SAFETY: row i has len elements in `x` and `out` (asserted).
        unsafe {
            let p = x.as_ptr().add(i * len);
            let q = out.as_mut_ptr().add(i * len);
            let mut j = 0;
            while j + l <= len {
                s.store(q.add(j), s.mul_flush(s.load(p.add(j)), gv));
                j += l;
            }
            if j < len {
                let n = len - j;
                s.store_partial(q.add(j), s.mul_flush(s.load_partial(p.add(j), n), gv), n);
            }
        }
    }
}

/// `x[i * len + j] *= g[i]` for every row `i < g.len()` (scale_rows over its own input).
#[inline(always)]
pub(crate) fn scale_rows_in_place<S: Simd>(s: S, x: &mut [f32], len: usize, g: &[f32]) {
    assert!(x.len() >= g.len() * len);
    let l = S::LANES;
    for (i, &gi) in g.iter().enumerate() {
        let gv = s.splat(gi);
        // SAFETY: row i has len elements in `x` (asserted).
        unsafe {
            let q = x.as_mut_ptr().add(i * len);
            let mut j = 0;
            while j + l <= len {
                s.store(q.add(j), s.mul_flush(s.load(q.add(j)), gv));
                j += l;
            }
            if j < len {
                let n = len - j;
                s.store_partial(q.add(j), s.mul_flush(s.load_partial(q.add(j), n), gv), n);
            }
        }
    }
}

/// `dst[i] += src[i]` over the common length.
#[inline(always)]
pub(crate) fn add_assign<S: Simd>(s: S, dst: &mut [f32], src: &[f32]) {
    let len = dst.len().min(src.len());
    let l = S::LANES;
    let (p, q) = (src.as_ptr(), dst.as_mut_ptr());
    let mut j = 0;
    // SAFETY: every access is below `len`, inside both slices.
    unsafe {
        while j + 4 * l <= len {
            for k in 0..4 {
                let o = j + k * l;
                s.store(q.add(o), s.add(s.load(q.add(o)), s.load(p.add(o))));
            }
            j += 4 * l;
        }
        while j < len {
            let n = l.min(len - j);
            let v = s.add(s.load_partial(q.add(j), n), s.load_partial(p.add(j), n));
            s.store_partial(q.add(j), v, n);
            j += n;
        }
    }
}
