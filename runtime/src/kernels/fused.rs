//! Kernels for ops the compiler's fusion passes create: residual accumulation and a whole
//! squeeze-and-excite block.

use crate::activation::Activation;

/// `dst[i] += src[i]` (a residual connection fused after a kernel).
pub fn add_assign(dst: &mut [f32], src: &[f32]) {
    debug_assert_eq!(dst.len(), src.len(), "add_assign: lengths differ");
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = super::x86::detected() {
        return super::x86::add_assign(isa, dst, src);
    }
    add_assign_portable(dst, src);
}

fn add_assign_portable(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// Geometry of a squeeze-and-excite block over an NCHW tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SqueezeExcite {
    /// Batch.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// H * W.
    pub spatial: usize,
    /// Channels of the bottleneck (rows of the reduce weight).
    pub mid: usize,
    /// Activation after the reduce step.
    pub act: Activation,
    /// Gate activation after the expand step.
    pub gate: Activation,
}

/// `out[n,c,:] = x[n,c,:] * gate(w2 · act(w1 · mean(x[n]) + b1) + b2)[c]`.
///
/// `w1` is `[mid, c]`, `b1` `[mid]`, `w2` `[c, mid]`, `b2` `[c]` (1x1 conv weights, row-major);
/// `scratch` holds at least `c + mid` f32s; `x` and `out` are `[n, c, spatial]`.
#[allow(clippy::too_many_arguments)] // the block's four weight tensors, as generated code has them
pub fn squeeze_excite(
    p: &SqueezeExcite,
    x: &[f32],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    scratch: &mut [f32],
    out: &mut [f32],
) {
    debug_assert!(
        scratch.len() >= p.c + p.mid,
        "squeeze_excite: scratch too short"
    );
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = super::x86::detected() {
        return squeeze_excite_x86(isa, p, x, w1, b1, w2, b2, scratch, out);
    }
    squeeze_excite_portable(p, x, w1, b1, w2, b2, scratch, out);
}

/// The same with the x86 kernels: row sums, two matrix-vector products, row scaling.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn squeeze_excite_x86(
    isa: super::x86::Isa,
    p: &SqueezeExcite,
    x: &[f32],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    scratch: &mut [f32],
    out: &mut [f32],
) {
    use super::x86;
    let (c, hw, mid) = (p.c, p.spatial, p.mid);
    let (mean, rest) = scratch.split_at_mut(c);
    let (hidden, _) = rest.split_at_mut(mid);
    // The gate reuses `mean` once the hidden layer is computed.
    for b in 0..p.n {
        let xb = &x[b * c * hw..][..c * hw];
        let ob = &mut out[b * c * hw..][..c * hw];
        x86::sum_rows(isa, xb, hw, 1.0 / hw as f32, mean);
        x86::dot_rows(isa, mean, w1, c, hidden);
        for (h, &bias) in hidden.iter_mut().zip(b1) {
            *h = p.act.apply(*h + bias);
        }
        x86::dot_rows(isa, hidden, w2, mid, mean);
        for (g, &bias) in mean.iter_mut().zip(b2) {
            *g = p.gate.apply(*g + bias);
        }
        x86::scale_rows(isa, xb, hw, mean, ob);
    }
}

/// [`squeeze_excite`] over its own input: `x[n,c,:] *= gate(...)[c]`, for when nothing reads
/// the input afterwards (the compiler's memory plan then gives both one range).
#[allow(clippy::too_many_arguments)] // as squeeze_excite
pub fn squeeze_excite_in_place(
    p: &SqueezeExcite,
    x: &mut [f32],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    scratch: &mut [f32],
) {
    let (c, hw) = (p.c, p.spatial);
    assert!(scratch.len() >= c + p.mid && x.len() >= p.n * c * hw);
    for b in 0..p.n {
        let xb = &mut x[b * c * hw..][..c * hw];
        let inv = 1.0 / hw as f32;
        mean_rows(xb, hw, inv, &mut scratch[..c]);
        excite(p, w1, b1, w2, b2, scratch);
        let gate = &scratch[..c];
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = super::x86::detected() {
            super::x86::scale_rows_in_place(isa, xb, hw, gate);
            continue;
        }
        for (plane, &g) in xb.chunks_exact_mut(hw).zip(gate) {
            for v in plane {
                *v *= g;
            }
        }
    }
}

/// `out[i] = scale * sum(x[i * len..(i + 1) * len])`, vectorised where the CPU allows.
fn mean_rows(x: &[f32], len: usize, scale: f32, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = super::x86::detected() {
        return super::x86::sum_rows(isa, x, len, scale, out);
    }
    for (m, row) in out.iter_mut().zip(x.chunks_exact(len)) {
        *m = row.iter().sum::<f32>() * scale;
    }
}

/// The two layers of a squeeze-and-excite block: `scratch[..c]` holds the channel means on
/// entry and the gates on return (`scratch[c..c + mid]` is the hidden layer). Shared by the
/// in-place variants of both layouts.
pub(crate) fn excite(
    p: &SqueezeExcite,
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    scratch: &mut [f32],
) {
    let (c, mid) = (p.c, p.mid);
    let (mean, rest) = scratch.split_at_mut(c);
    let hidden = &mut rest[..mid];
    #[cfg(target_arch = "x86_64")]
    if let Some(isa) = super::x86::detected() {
        super::x86::dot_rows(isa, mean, w1, c, hidden);
        for (h, &bias) in hidden.iter_mut().zip(b1) {
            *h = p.act.apply(*h + bias);
        }
        super::x86::dot_rows(isa, hidden, w2, mid, mean);
        for (g, &bias) in mean.iter_mut().zip(b2) {
            *g = p.gate.apply(*g + bias);
        }
        return;
    }
    for (j, h) in hidden.iter_mut().enumerate() {
        let row = &w1[j * c..(j + 1) * c];
        let s: f32 = row.iter().zip(mean.iter()).map(|(w, m)| w * m).sum();
        *h = p.act.apply(s + b1[j]);
    }
    for (ch, g) in mean.iter_mut().enumerate() {
        let row = &w2[ch * mid..(ch + 1) * mid];
        let s: f32 = row.iter().zip(hidden.iter()).map(|(w, h)| w * h).sum();
        *g = p.gate.apply(s + b2[ch]);
    }
}

/// The portable twin of [`squeeze_excite`]'s SIMD path.
#[allow(clippy::too_many_arguments)]
fn squeeze_excite_portable(
    p: &SqueezeExcite,
    x: &[f32],
    w1: &[f32],
    b1: &[f32],
    w2: &[f32],
    b2: &[f32],
    scratch: &mut [f32],
    out: &mut [f32],
) {
    let (c, hw, mid) = (p.c, p.spatial, p.mid);
    let (mean, hidden) = scratch.split_at_mut(c);
    let hidden = &mut hidden[..mid];
    for b in 0..p.n {
        let xb = &x[b * c * hw..(b + 1) * c * hw];
        let ob = &mut out[b * c * hw..(b + 1) * c * hw];
        let inv = 1.0 / hw as f32;
        for (m, plane) in mean.iter_mut().zip(xb.chunks_exact(hw)) {
            *m = plane.iter().sum::<f32>() * inv;
        }
        for (j, h) in hidden.iter_mut().enumerate() {
            let row = &w1[j * c..(j + 1) * c];
            let s: f32 = row.iter().zip(mean.iter()).map(|(w, m)| w * m).sum();
            *h = p.act.apply(s + b1[j]);
        }
        for (ch, (o, xi)) in ob.chunks_exact_mut(hw).zip(xb.chunks_exact(hw)).enumerate() {
            let row = &w2[ch * mid..(ch + 1) * mid];
            let s: f32 = row.iter().zip(hidden.iter()).map(|(w, h)| w * h).sum();
            let g = p.gate.apply(s + b2[ch]);
            for (o, v) in o.iter_mut().zip(xi) {
                *o = v * g;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    #[test]
    fn squeeze_excite_matches_formula() {
        // n=2, c=3, spatial=2, mid=2
        let x: [f32; 12] = [1., 2., 3., 4., 5., 6., -1., -2., 0.5, 0.5, 2., 0.];
        let w1 = [0.1, 0.2, 0.3, -0.3, 0.2, 0.1];
        let b1 = [0.05, -0.05];
        let w2 = [1., 0., 0., 1., 0.5, 0.5];
        let b2 = [0., 0.1, -0.1];
        let p = SqueezeExcite {
            n: 2,
            c: 3,
            spatial: 2,
            mid: 2,
            act: Activation::Relu,
            gate: Activation::Sigmoid,
        };
        let mut out = [f32::NAN; 12];
        let mut scratch = [0.0; 5];
        squeeze_excite(&p, &x, &w1, &b1, &w2, &b2, &mut scratch, &mut out);
        for b in 0..2 {
            let xb = &x[b * 6..b * 6 + 6];
            let mean: Vec<f64> = (0..3)
                .map(|c| (xb[2 * c] as f64 + xb[2 * c + 1] as f64) / 2.0)
                .collect();
            let hid: Vec<f64> = (0..2)
                .map(|j| {
                    ((0..3).map(|c| w1[j * 3 + c] as f64 * mean[c]).sum::<f64>() + b1[j] as f64)
                        .max(0.0)
                })
                .collect();
            for c in 0..3 {
                let z = (0..2).map(|j| w2[c * 2 + j] as f64 * hid[j]).sum::<f64>() + b2[c] as f64;
                let g = 1.0 / (1.0 + (-z).exp());
                for s in 0..2 {
                    let want = xb[2 * c + s] as f64 * g;
                    assert!((out[b * 6 + 2 * c + s] as f64 - want).abs() < 1e-6);
                }
            }
        }
    }

    #[test]
    fn squeeze_excite_in_place_matches() {
        use crate::testutil::Rng;
        let mut rng = Rng::new(5);
        for (n, c, spatial, mid) in [(1, 3, 1, 1), (2, 17, 49, 5), (1, 40, 20, 12)] {
            let p = SqueezeExcite {
                n,
                c,
                spatial,
                mid,
                act: Activation::Relu,
                gate: Activation::HardSigmoid {
                    alpha: 1.0 / 6.0,
                    beta: 0.5,
                },
            };
            let x = rng.vec(n * c * spatial);
            let (w1, b1) = (rng.vec(mid * c), rng.vec(mid));
            let (w2, b2) = (rng.vec(c * mid), rng.vec(c));
            let mut scratch = std::vec![0.0; c + mid];
            let mut want = std::vec![f32::NAN; x.len()];
            squeeze_excite(&p, &x, &w1, &b1, &w2, &b2, &mut scratch, &mut want);
            let mut got = x.clone();
            squeeze_excite_in_place(&p, &mut got, &w1, &b1, &w2, &b2, &mut scratch);
            crate::testutil::assert_close(&got, &want);
        }
    }

    #[test]
    fn squeeze_excite_nhwc_in_place_matches_nchw() {
        use crate::testutil::Rng;
        let mut rng = Rng::new(6);
        for (n, c, spatial, mid) in [(1, 3, 1, 1), (2, 17, 49, 5), (1, 40, 20, 12)] {
            let p = SqueezeExcite {
                n,
                c,
                spatial,
                mid,
                act: Activation::Relu,
                gate: Activation::Sigmoid,
            };
            let x = rng.vec(n * c * spatial);
            let (w1, b1) = (rng.vec(mid * c), rng.vec(mid));
            let (w2, b2) = (rng.vec(c * mid), rng.vec(c));
            let mut scratch = std::vec![0.0; c + mid];
            let mut want = std::vec![f32::NAN; x.len()];
            squeeze_excite(&p, &x, &w1, &b1, &w2, &b2, &mut scratch, &mut want);
            // The same data channels-last.
            let nhwc = |v: &[f32]| -> Vec<f32> {
                let mut t = std::vec![0.0; v.len()];
                for b in 0..n {
                    for ch in 0..c {
                        for s in 0..spatial {
                            t[(b * spatial + s) * c + ch] = v[(b * c + ch) * spatial + s];
                        }
                    }
                }
                t
            };
            let mut got = nhwc(&x);
            crate::squeeze_excite_nhwc_in_place(&p, &mut got, &w1, &b1, &w2, &b2, &mut scratch);
            crate::testutil::assert_close(&got, &nhwc(&want));
        }
    }

    #[test]
    fn add_assign_adds() {
        let mut d = [1.0, 2.0, 3.0];
        add_assign(&mut d, &[0.5, -2.0, 1.0]);
        assert_eq!(d, [1.5, 0.0, 4.0]);
    }

    /// The SIMD paths against their portable twins on odd sizes, batch > 1.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_matches_portable() {
        use crate::testutil::{assert_close, Rng};
        let mut rng = Rng::new(9);
        for isa in crate::kernels::x86::available() {
            for len in [0, 1, 7, 15, 16, 17, 63, 64, 65, 200] {
                let src = rng.vec(len);
                let dst = rng.vec(len);
                let mut want = dst.clone();
                add_assign_portable(&mut want, &src);
                let mut got = dst.clone();
                crate::kernels::x86::add_assign(isa, &mut got, &src);
                assert_eq!(got, want);
            }
            for (n, c, spatial, mid) in [(1, 3, 1, 1), (2, 5, 7, 2), (1, 17, 49, 5), (2, 9, 33, 4)]
            {
                for (act, gate) in [
                    (Activation::Relu, Activation::Sigmoid),
                    (
                        Activation::Relu,
                        Activation::HardSigmoid {
                            alpha: 1.0 / 6.0,
                            beta: 0.5,
                        },
                    ),
                ] {
                    let p = SqueezeExcite {
                        n,
                        c,
                        spatial,
                        mid,
                        act,
                        gate,
                    };
                    let x = rng.vec(n * c * spatial);
                    let (w1, b1) = (rng.vec(mid * c), rng.vec(mid));
                    let (w2, b2) = (rng.vec(c * mid), rng.vec(c));
                    let mut scratch = std::vec![0.0; c + mid];
                    let mut want = std::vec![f32::NAN; x.len()];
                    squeeze_excite_portable(&p, &x, &w1, &b1, &w2, &b2, &mut scratch, &mut want);
                    let mut got = std::vec![f32::NAN; x.len()];
                    squeeze_excite_x86(isa, &p, &x, &w1, &b1, &w2, &b2, &mut scratch, &mut got);
                    assert_close(&got, &want);
                }
            }
        }
    }
}
