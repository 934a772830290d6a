//! Kernel families, one module per group of ONNX ops (the public entry points, which call the
//! vector kernels through [`crate::dispatch`] and keep the scalar references), the generic
//! vector kernels in [`simd`], and shared loop helpers.

pub mod conv;
pub mod copy;
pub mod dense;
pub mod elementwise;
pub mod fused;
pub mod gemm;
pub mod nhwc;
pub mod pool;
pub mod reduce;
pub mod resize;
#[allow(unsafe_code)]
pub(crate) mod simd;
pub mod softmax;
pub mod winograd;

use core::ops::Range;

/// The `i` in `0..count` for which `offset + i * step - pad` lies in `0..len`.
/// They are contiguous because the position grows with `i`. `step > 0`.
///
/// Used both ways round: kernel taps valid for one output position, and
/// output positions valid for one kernel tap.
#[inline]
pub(crate) fn valid_range(
    offset: usize,
    pad: usize,
    step: usize,
    count: usize,
    len: usize,
) -> Range<usize> {
    let lo = if pad > offset {
        (pad - offset).div_ceil(step)
    } else {
        0
    };
    let hi = if len + pad > offset {
        (len + pad - offset).div_ceil(step).min(count)
    } else {
        0
    };
    lo.min(hi)..hi
}

/// `y += a * x` over the common length.
#[inline(always)]
pub(crate) fn axpy(y: &mut [f32], x: &[f32], a: f32) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// Dot product over the common length, with 8 partial sums so it vectorises (the
/// scalar references' dot product).
#[cfg(test)]
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    let mut tail = 0.0;
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    reduce8(acc) + tail
}

/// Sum with 8 partial sums so it vectorises (and loses less precision).
#[inline]
pub(crate) fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (s, &v) in acc.iter_mut().zip(c) {
            *s += v;
        }
    }
    let tail: f32 = chunks.remainder().iter().sum();
    reduce8(acc) + tail
}

#[inline(always)]
fn reduce8(a: [f32; 8]) -> f32 {
    ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_range_brute_force() {
        for offset in 0..7 {
            for pad in 0..5 {
                for step in 1..4 {
                    for count in 0..6 {
                        for len in 0..6 {
                            let r = valid_range(offset, pad, step, count, len);
                            for i in 0..count {
                                let pos = (offset + i * step) as isize - pad as isize;
                                let inside = pos >= 0 && pos < len as isize;
                                assert_eq!(
                                    r.contains(&i),
                                    inside,
                                    "{offset} {pad} {step} {count} {len}"
                                );
                            }
                            assert!(r.end <= count && r.start <= r.end);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn dot_and_sum() {
        let a: [f32; 19] = core::array::from_fn(|i| i as f32 - 4.0);
        let b: [f32; 19] = core::array::from_fn(|i| 0.5 * i as f32);
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_eq!(dot(&a, &b), want);
        assert_eq!(sum(&a), a.iter().sum::<f32>());
        assert_eq!(sum(&[]), 0.0);
        assert_eq!(dot(&[], &[]), 0.0);
    }
}
