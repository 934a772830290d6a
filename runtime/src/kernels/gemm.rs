//! Matrix products: ONNX Gemm and batched MatMul.

use super::axpy;
use crate::dispatch::{kernels, Kernels};
use crate::params::Gemm;
use crate::threads::{Par, MIN_PARALLEL_WORK, PARTS_PER_THREAD};

/// `output[i, j] = alpha * sum_k A'[i, k] * B'[k, j] + beta * c[i * c_stride_m + j * c_stride_n]`.
///
/// `A'` is `a` (`[m, k]`) or its transpose if `trans_a` (`a` is `[k, m]`);
/// `B'` is `b` (`[k, n]`) or its transpose if `trans_b` (`b` is `[n, k]`).
/// The `c` term is skipped when `c` is `None` or `beta == 0`.
///
/// Sizes: `a` has `m * k` elements, `b` has `k * n`, `output` has `m * n`, and
/// `c` (if any) covers `(m - 1) * c_stride_m + (n - 1) * c_stride_n + 1`.
///
/// A matrix-vector product with `b` stored `[n, k]` (a classifier: one row, the weights
/// streamed once) is split over output columns on `par`; other shapes run on the calling
/// thread. The result does not depend on the split.
pub fn gemm(par: Par<'_>, p: &Gemm, a: &[f32], b: &[f32], c: Option<&[f32]>, output: &mut [f32]) {
    let kt = kernels();
    let threads = par.threads();
    if threads <= 1 || p.m != 1 || !p.trans_b || p.n * p.k < MIN_PARALLEL_WORK {
        return gemm_with(kt, p, a, b, c, output);
    }
    let parts = threads * PARTS_PER_THREAD;
    let (n, k) = (p.n, p.k);
    par.for_each_part(output, parts, &|i| i * n / parts, &|i, out| {
        let (j0, j1) = (i * n / parts, (i + 1) * n / parts);
        if j1 == j0 {
            return;
        }
        let sub = Gemm { n: j1 - j0, ..*p };
        let c = c.map(|c| &c[j0 * p.c_stride_n..]);
        gemm_with(kt, &sub, a, &b[j0 * k..j1 * k], c, out);
    });
}

/// [`gemm`] on the calling thread with the kernels of `kt`.
fn gemm_with(kt: &Kernels, p: &Gemm, a: &[f32], b: &[f32], c: Option<&[f32]>, output: &mut [f32]) {
    let (m, n, k) = (p.m, p.n, p.k);
    debug_assert_eq!(a.len(), m * k, "gemm: a size");
    debug_assert_eq!(b.len(), k * n, "gemm: b size");
    debug_assert_eq!(output.len(), m * n, "gemm: output size");
    debug_assert!(
        m == 0
            || n == 0
            || c.is_none_or(|c| (m - 1) * p.c_stride_m + (n - 1) * p.c_stride_n < c.len()),
        "gemm: c too short for its strides"
    );
    if n == 0 {
        return;
    }
    // Several rows against `b` stored `[n, k]` (a classifier at batch > 1): `b` read once.
    let blocked = !p.trans_a && p.trans_b && m > 1;
    if blocked {
        dot_rows_blocked(kt, (a, k, m), b, (n, k), (output, n));
    }
    for (i, out) in output.chunks_exact_mut(n).enumerate() {
        match (p.trans_a, p.trans_b) {
            (false, false) => row_times_matrix(&a[i * k..][..k], 1, b, n, out),
            (true, false) => row_times_matrix(a.get(i..).unwrap_or(&[]), m, b, n, out),
            (false, true) if blocked => {}
            (false, true) => (kt.dot_rows)(&a[i * k..][..k], b, k, out),
            (true, true) => {
                for (j, o) in out.iter_mut().enumerate() {
                    let b_row = &b[j * k..][..k];
                    *o = b_row
                        .iter()
                        .enumerate()
                        .map(|(kk, &bv)| a[kk * m + i] * bv)
                        .sum();
                }
            }
        }
        match c {
            Some(c) if p.beta != 0.0 => {
                let c_row = &c[i * p.c_stride_m..];
                for (j, o) in out.iter_mut().enumerate() {
                    *o = p.alpha * *o + p.beta * c_row[j * p.c_stride_n];
                }
            }
            _ => {
                if p.alpha != 1.0 {
                    for o in out.iter_mut() {
                        *o *= p.alpha;
                    }
                }
            }
        }
    }
}

/// `out[i * out_stride + j] = a[i * a_stride..][..k] · b[j * k..][..k]` for `i < m`, `j < n`,
/// [`GEMM_BLOCK_BYTES`] of `b`'s rows at a time: each block comes from L3 or DRAM once and
/// serves every row of `a` from L2, where one row after the other would stream all of `b` once
/// per row. `dot_rows` gives the same bits whatever rows it is handed, so every element is
/// what one row alone gives.
pub(crate) fn dot_rows_blocked(
    kt: &Kernels,
    (a, a_stride, m): (&[f32], usize, usize),
    b: &[f32],
    (n, k): (usize, usize),
    (out, out_stride): (&mut [f32], usize),
) {
    let block = (GEMM_BLOCK_BYTES / (4 * k).max(1)).clamp(1, n.max(1));
    let mut j0 = 0;
    while j0 < n {
        let j1 = (j0 + block).min(n);
        for i in 0..m {
            let y = &mut out[i * out_stride + j0..][..j1 - j0];
            (kt.dot_rows)(&a[i * a_stride..][..k], &b[j0 * k..j1 * k], k, y);
        }
        j0 = j1;
    }
}

/// Bytes of `b`'s rows [`dot_rows_blocked`] takes at a time: a quarter of a 1 MiB L2, so a
/// block stays in L2 while every row of `a` reads it.
const GEMM_BLOCK_BYTES: usize = 256 << 10;

/// `out[j] = sum_kk a[kk * a_step] * b[kk * n + j]`, one axpy per row of `b`.
#[inline]
fn row_times_matrix(a: &[f32], a_step: usize, b: &[f32], n: usize, out: &mut [f32]) {
    out.fill(0.0);
    for (b_row, &av) in b.chunks_exact(n).zip(a.iter().step_by(a_step)) {
        axpy(out, b_row, av);
    }
}

/// Batched matrix product: for each `i` in `0..batch`,
/// `output[i]` (`[m, n]`) = `a[i * a_batch_stride..]` (`[m, k]`) x
/// `b[i * b_batch_stride..]` (`[k, n]`). A batch stride of 0 reuses one matrix
/// for every batch (broadcasting).
///
/// Sizes: `a` covers `(batch - 1) * a_batch_stride + m * k` elements, `b` covers
/// `(batch - 1) * b_batch_stride + k * n`, `output` has `batch * m * n`.
#[allow(clippy::too_many_arguments)] // flat signature emitted by the code generator
pub fn matmul(
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_batch_stride: usize,
    b: &[f32],
    b_batch_stride: usize,
    output: &mut [f32],
) {
    debug_assert_eq!(output.len(), batch * m * n, "matmul: output size");
    debug_assert!(
        batch == 0 || (batch - 1) * a_batch_stride + m * k <= a.len(),
        "matmul: a too short"
    );
    debug_assert!(
        batch == 0 || (batch - 1) * b_batch_stride + k * n <= b.len(),
        "matmul: b too short"
    );
    if n == 0 {
        return;
    }
    for bi in 0..batch {
        let a = &a[bi * a_batch_stride..][..m * k];
        let b = &b[bi * b_batch_stride..][..k * n];
        let out = &mut output[bi * m * n..][..m * n];
        for (i, out_row) in out.chunks_exact_mut(n).enumerate() {
            row_times_matrix(&a[i * k..][..k], 1, b, n, out_row);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::testutil::{assert_close, Rng};
    use std::vec;
    use std::vec::Vec;

    /// Textbook triple loop in f64 over explicitly indexed operands.
    fn reference(p: &Gemm, a: &[f32], b: &[f32], c: Option<&[f32]>) -> Vec<f32> {
        let mut out = Vec::new();
        for i in 0..p.m {
            for j in 0..p.n {
                let mut acc = 0.0f64;
                for kk in 0..p.k {
                    let av = if p.trans_a {
                        a[kk * p.m + i]
                    } else {
                        a[i * p.k + kk]
                    };
                    let bv = if p.trans_b {
                        b[j * p.k + kk]
                    } else {
                        b[kk * p.n + j]
                    };
                    acc += f64::from(av) * f64::from(bv);
                }
                let mut v = f64::from(p.alpha) * acc;
                if let Some(c) = c {
                    v += f64::from(p.beta) * f64::from(c[i * p.c_stride_m + j * p.c_stride_n]);
                }
                out.push(v as f32);
            }
        }
        out
    }

    #[test]
    fn gemm_all_layouts_and_c_broadcasts() {
        let mut rng = Rng::new(1);
        let mut seen = 0;
        for (m, n, k) in [
            (3, 5, 7),
            (1, 13, 37),
            (4, 1, 9),
            (2, 3, 1),
            (1, 1, 1),
            (6, 10, 20),
        ] {
            for trans_a in [false, true] {
                for trans_b in [false, true] {
                    let a = rng.vec(m * k);
                    let b = rng.vec(k * n);
                    // (stride_m, stride_n, len): scalar, row vector, column vector, full.
                    let cs = [(0, 0, 1), (0, 1, n), (1, 0, m), (n, 1, m * n)];
                    for (c_stride_m, c_stride_n, len) in cs {
                        let c = rng.vec(len);
                        let p = Gemm {
                            m,
                            n,
                            k,
                            trans_a,
                            trans_b,
                            alpha: 0.75,
                            beta: -1.25,
                            c_stride_m,
                            c_stride_n,
                        };
                        let mut out = vec![f32::NAN; m * n];
                        gemm(Par::SINGLE, &p, &a, &b, Some(&c), &mut out);
                        assert_close(&out, &reference(&p, &a, &b, Some(&c)));
                        seen += 1;
                    }
                    let p = Gemm {
                        m,
                        n,
                        k,
                        trans_a,
                        trans_b,
                        alpha: 1.0,
                        beta: 1.0,
                        c_stride_m: 0,
                        c_stride_n: 0,
                    };
                    let mut out = vec![f32::NAN; m * n];
                    gemm(Par::SINGLE, &p, &a, &b, None, &mut out);
                    assert_close(&out, &reference(&p, &a, &b, None));
                }
            }
        }
        assert_eq!(seen, 6 * 4 * 4);
    }

    #[test]
    fn gemm_beta_zero_ignores_c() {
        let p = Gemm {
            m: 1,
            n: 2,
            k: 1,
            trans_a: false,
            trans_b: false,
            alpha: 2.0,
            beta: 0.0,
            c_stride_m: 0,
            c_stride_n: 1,
        };
        let mut out = [0.0; 2];
        gemm(
            Par::SINGLE,
            &p,
            &[3.0],
            &[1.0, -1.0],
            Some(&[f32::NAN, f32::INFINITY]),
            &mut out,
        );
        assert_eq!(out, [6.0, -6.0]);
    }

    #[allow(clippy::too_many_arguments)]
    fn matmul_reference(
        batch: usize,
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        sa: usize,
        b: &[f32],
        sb: usize,
    ) -> Vec<f32> {
        let mut out = Vec::new();
        for bi in 0..batch {
            for i in 0..m {
                for j in 0..n {
                    let s: f64 = (0..k)
                        .map(|kk| {
                            f64::from(a[bi * sa + i * k + kk]) * f64::from(b[bi * sb + kk * n + j])
                        })
                        .sum();
                    out.push(s as f32);
                }
            }
        }
        out
    }

    #[test]
    fn matmul_batched_and_broadcast() {
        let mut rng = Rng::new(2);
        for (batch, m, n, k) in [(3, 4, 5, 6), (1, 1, 7, 33), (2, 5, 1, 3), (4, 2, 3, 1)] {
            for (a_bcast, b_bcast) in [(false, false), (true, false), (false, true), (true, true)] {
                let sa = if a_bcast { 0 } else { m * k };
                let sb = if b_bcast { 0 } else { k * n };
                let a = rng.vec(if a_bcast { m * k } else { batch * m * k });
                let b = rng.vec(if b_bcast { k * n } else { batch * k * n });
                let mut out = vec![f32::NAN; batch * m * n];
                matmul(batch, m, n, k, &a, sa, &b, sb, &mut out);
                assert_close(&out, &matmul_reference(batch, m, n, k, &a, sa, &b, sb));
            }
        }
    }

    #[test]
    fn empty_inner_dimension_gives_zeros() {
        let mut out = [f32::NAN; 6];
        matmul(1, 2, 3, 0, &[], 0, &[], 0, &mut out);
        assert_eq!(out, [0.0; 6]);
        for trans_a in [false, true] {
            for trans_b in [false, true] {
                let p = Gemm {
                    m: 2,
                    n: 3,
                    k: 0,
                    trans_a,
                    trans_b,
                    alpha: 1.0,
                    beta: 1.0,
                    c_stride_m: 0,
                    c_stride_n: 1,
                };
                let mut out = [f32::NAN; 6];
                gemm(Par::SINGLE, &p, &[], &[], Some(&[1.0, 2.0, 3.0]), &mut out);
                assert_eq!(out, [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
            }
        }
    }

    /// `out[j] = dot(a_row, b[j * k..][..k])`: the reference of the vector `dot_rows`.
    fn dot_rows_reference(a_row: &[f32], b: &[f32], k: usize, out: &mut [f32]) {
        for (j, o) in out.iter_mut().enumerate() {
            *o = crate::kernels::dot(a_row, &b[j * k..][..k]);
        }
    }

    /// Every table's matrix-vector product against the reference, on row
    /// counts around the 4-row block and lengths around the vector width, and
    /// matrices on either side of the row-by-row threshold. Every row is the
    /// same chain whatever path and split take it: each row alone gives the
    /// same bits.
    #[test]
    fn dot_rows_vector_matches_reference() {
        let mut rng = Rng::new(3);
        let streamed = crate::kernels::simd::gemm::STREAM_BYTES / 4 / 1031 + 3;
        for kt in crate::dispatch::all() {
            let sizes = [1, 3, 4, 5, 8, 9]
                .into_iter()
                .flat_map(|r| [1, 7, 8, 15, 16, 17, 31, 33, 64, 100].map(|k| (r, k)))
                .chain([(streamed, 1031), (streamed - 6, 1031)]);
            for (rows, k) in sizes {
                let x = rng.vec(k);
                let w = rng.vec(rows * k);
                let mut want = vec![f32::NAN; rows];
                dot_rows_reference(&x, &w, k, &mut want);
                let mut got = vec![f32::NAN; rows];
                (kt.dot_rows)(&x, &w, k, &mut got);
                assert_close(&got, &want);
                for (j, g) in got.iter().enumerate().step_by(rows.div_ceil(7)) {
                    let mut one = [f32::NAN];
                    (kt.dot_rows)(&x, &w[j * k..][..k], k, &mut one);
                    assert_eq!(
                        one[0].to_bits(),
                        g.to_bits(),
                        "{} row {j} of {rows}x{k}",
                        kt.name
                    );
                }
            }
        }
    }

    /// Several rows against `[n, k]` weights (blocked over `b`'s rows) give, bit for bit,
    /// what each row gives alone, with and without `c` and `alpha`.
    #[test]
    fn gemm_rows_match_one_row_at_a_time() {
        let mut rng = Rng::new(13);
        for &(m, n, k, with_c) in &[
            (4usize, 1000usize, 1280usize, true),
            (3, 37, 19, false),
            (2, 300, 2100, true),
        ] {
            let p = Gemm {
                m,
                n,
                k,
                trans_a: false,
                trans_b: true,
                alpha: if with_c { 0.5 } else { 1.0 },
                beta: 1.0,
                c_stride_m: 0,
                c_stride_n: 1,
            };
            let (a, b, c) = (rng.vec(m * k), rng.vec(n * k), rng.vec(n));
            let c = with_c.then_some(c.as_slice());
            let mut got = vec![f32::NAN; m * n];
            gemm(Par::SINGLE, &p, &a, &b, c, &mut got);
            assert_close(&got, &reference(&p, &a, &b, c));
            let one = Gemm { m: 1, ..p };
            for i in 0..m {
                let mut want = vec![f32::NAN; n];
                gemm(Par::SINGLE, &one, &a[i * k..][..k], &b, c, &mut want);
                let same = got[i * n..][..n]
                    .iter()
                    .zip(&want)
                    .all(|(g, w)| g.to_bits() == w.to_bits());
                assert!(same, "row {i} of {m}x{n}x{k}");
            }
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn gemm_par_matches_gemm() {
        let t = crate::Threads::new(2);
        let mut rng = Rng::new(9);
        for &(n, k, bias) in &[
            (1000usize, 1280usize, true),
            (333, 257, false),
            (7, 5000, true),
        ] {
            let p = Gemm {
                m: 1,
                n,
                k,
                trans_a: false,
                trans_b: true,
                alpha: 1.0,
                beta: 1.0,
                c_stride_m: 0,
                c_stride_n: 1,
            };
            let (a, b, c) = (rng.vec(k), rng.vec(n * k), rng.vec(n));
            let c = bias.then_some(c.as_slice());
            let mut want = std::vec![f32::NAN; n];
            gemm(Par::SINGLE, &p, &a, &b, c, &mut want);
            let mut got = std::vec![f32::NAN; n];
            gemm(t.par(), &p, &a, &b, c, &mut got);
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "{n} {k}: {g} vs {w}"
                );
            }
        }
    }
}
