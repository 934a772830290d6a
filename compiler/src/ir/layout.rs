//! Memory layouts: of 4-D activations (NCHW or NHWC), and of constants for the kernels that read
//! them (`Packing`).
//!
//! A value's logical shape is always `[N, C, H, W]`; its layout says how that is laid out in
//! memory. `Nchw` (the default, and what ONNX means) is row-major in the logical shape; `Nhwc`
//! stores each pixel's channels together (`[N, H, W, C]` row-major), which lets kernels vectorise
//! over channels instead of over a short row. The pass `plan_layout` picks layouts; `check_node`
//! (each op's kernels, from `Op::has_kernel_for`) is what it and `ir::verify` check every node
//! against.

use std::fmt;

use petgraph::stable_graph::NodeIndex;

use crate::ir::{Graph, TensorType, ValueRef};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layout {
    /// Row-major in the logical `[N, C, H, W]` shape.
    #[default]
    Nchw,
    /// Channels last: `[N, H, W, C]` row-major.
    Nhwc,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::Nchw => "nchw",
            Layout::Nhwc => "nhwc",
        })
    }
}

impl Graph {
    /// The layout of value `v` (NCHW unless `plan_layout` chose otherwise).
    pub fn layout(&self, v: ValueRef) -> Layout {
        self.layouts.get(&v).copied().unwrap_or_default()
    }
}

/// How a constant is laid out in the weights blob for the kernel that reads it (chosen by
/// [`Op::packing`](crate::ops::Op::packing)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Packing {
    /// As the tensor is (row-major in its shape).
    Plain,
    /// A pointwise conv's `[c_out, c_in, 1, 1]` weights transposed to `[c_in][c_out]`: the NHWC
    /// kernel loads a vector of output channels per input channel.
    InOut,
    /// A depthwise conv's `[c, 1, kh, kw]` weights as `[kh * kw][c]`: the NHWC kernel loads a
    /// vector of channels per tap.
    TapsChannels,
    /// A dense conv's `[c_out, c_in, kh, kw]` weights for `conv2d_dense`: output channels padded
    /// with zeros to a multiple of 16 and taken in groups of 64 (the last narrower), each group
    /// `[kh * kw][c_in][width]`, so the kernel loads a few vectors of output channels per tap
    /// and input channel.
    Dense,
    /// A 3x3 dense conv's weights for `conv2d_winograd` (Winograd F(4x4, 3x3)): each filter `g`
    /// transformed to the 6x6 `G g G^T` (in f64, rounded once to f32), then packed as
    /// [`Packing::Dense`] with 36 taps: groups of 64 output channels `[36][c_in][width]`. Four
    /// times the direct weights.
    Winograd,
}

impl Packing {
    /// `v` (of `shape`) rearranged for this packing.
    pub fn apply(self, v: &[f32], shape: &[usize]) -> Vec<f32> {
        let rows = shape.first().copied().unwrap_or(0);
        if self == Packing::Plain || rows == 0 {
            return v.to_vec();
        }
        if self == Packing::Dense {
            return pack_dense(v, shape);
        }
        if self == Packing::Winograd {
            return pack_winograd(v, shape);
        }
        // Both are the transpose of a [rows, cols] matrix: cols is c_in (pointwise) or the
        // taps (depthwise, one input channel per filter).
        let cols = v.len() / rows;
        let mut out = vec![0.0; v.len()];
        for r in 0..rows {
            for c in 0..cols {
                out[c * rows + r] = v[r * cols + c];
            }
        }
        out
    }
}

/// [`Packing::Dense`] of `v` (`[c_out, c_in, kh, kw]`).
fn pack_dense(v: &[f32], shape: &[usize]) -> Vec<f32> {
    const BLOCK: usize = 16;
    const GROUP: usize = 64;
    let c_out = shape.first().copied().unwrap_or(0);
    let c_in = shape.get(1).copied().unwrap_or(0);
    let taps: usize = shape.iter().skip(2).product();
    let cpad = c_out.next_multiple_of(BLOCK);
    let mut out = vec![0.0; cpad * taps * c_in];
    for co in 0..c_out {
        let g0 = co / GROUP * GROUP;
        let gw = GROUP.min(cpad - g0);
        for ci in 0..c_in {
            for tap in 0..taps {
                out[g0 * taps * c_in + (tap * c_in + ci) * gw + co - g0] =
                    v[(co * c_in + ci) * taps + tap];
            }
        }
    }
    out
}

/// The F(4x4, 3x3) filter transform `G` (points 0, 1, -1, 2, -2 and infinity; Lavin & Gray
/// 2016), the runtime's `conv2d_winograd` inverse and data transforms match it.
const WINOGRAD_G: [[f64; 3]; 6] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// [`Packing::Winograd`] of `v` (`[c_out, c_in, 3, 3]`).
fn pack_winograd(v: &[f32], shape: &[usize]) -> Vec<f32> {
    let c_out = shape.first().copied().unwrap_or(0);
    let c_in = shape.get(1).copied().unwrap_or(0);
    let filters = c_out * c_in;
    if shape.get(2..) != Some(&[3, 3][..]) || v.len() != filters * 9 {
        // Not a 3x3 filter bank: `Conv::is_winograd` never asks for this.
        return v.to_vec();
    }
    let mut u = vec![0.0; filters * 36];
    for (g, out) in v.chunks_exact(9).zip(u.chunks_exact_mut(36)) {
        for i in 0..6 {
            for j in 0..6 {
                let mut acc = 0.0f64;
                for a in 0..3 {
                    for b in 0..3 {
                        acc += WINOGRAD_G[i][a] * f64::from(g[a * 3 + b]) * WINOGRAD_G[j][b];
                    }
                }
                out[i * 6 + j] = acc as f32;
            }
        }
    }
    pack_dense(&u, &[c_out, c_in, 6, 6])
}

/// One input of a node as layout checking sees it.
#[derive(Clone, Copy, Debug)]
pub struct LayoutOperand<'a> {
    pub ty: &'a TensorType,
    pub layout: Layout,
    /// A compile-time constant (its data can be packed for the kernel).
    pub constant: bool,
}

/// The layout of input `i` (NCHW if there is none).
pub fn layout_at(inputs: &[LayoutOperand], i: usize) -> Layout {
    inputs.get(i).map(|x| x.layout).unwrap_or_default()
}

/// True if every input and the output are NCHW.
pub fn all_nchw(inputs: &[LayoutOperand], out: Layout) -> bool {
    inputs.iter().all(|x| x.layout == Layout::Nchw) && out == Layout::Nchw
}

/// Why node `n` cannot run with the layouts its values have, if it cannot: no kernel for them
/// ([`Op::has_kernel_for`](crate::ops::Op::has_kernel_for)), or an NHWC input that is not 4-D.
pub fn check_node(g: &Graph, n: NodeIndex) -> Result<(), String> {
    let node = g.node(n);
    let ins = g.inputs(n);
    let out = (0..node.outputs.len())
        .map(|p| g.layout(ValueRef::new(n, p)))
        .max()
        .unwrap_or_default();
    let operands: Vec<LayoutOperand> = ins
        .iter()
        .map(|&v| LayoutOperand {
            ty: g.ty(v),
            layout: g.layout(v),
            constant: g.constant(v).is_some(),
        })
        .collect();
    if !node.op.has_kernel_for(&operands, out) {
        let ins: Vec<String> = operands.iter().map(|x| x.layout.to_string()).collect();
        return Err(format!(
            "no kernel for layouts ({}) -> {out}",
            ins.join(", ")
        ));
    }
    for (i, x) in operands.iter().enumerate() {
        if x.layout == Layout::Nhwc && x.ty.rank() != 4 {
            return Err(format!("input {i} is nhwc but not 4-D"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Packing;

    #[test]
    fn dense_packing_pads_and_groups_output_channels() {
        // [c_out 70, c_in 2, 1, 2]: groups of 64 and 16 (70 padded to 80) channels, each
        // [tap][c_in][width]; element (co, ci, 0, kx) is co * 4 + ci * 2 + kx.
        let (c_out, c_in, taps) = (70, 2, 2);
        let w: Vec<f32> = (0..c_out * c_in * taps).map(|i| i as f32).collect();
        let p = Packing::Dense.apply(&w, &[c_out, c_in, 1, 2]);
        assert_eq!(p.len(), 80 * c_in * taps);
        for co in 0..80 {
            let (g0, width) = if co < 64 { (0, 64) } else { (64, 16) };
            for ci in 0..c_in {
                for tap in 0..taps {
                    let got = p[g0 * taps * c_in + (tap * c_in + ci) * width + co - g0];
                    let want = if co < c_out {
                        ((co * c_in + ci) * taps + tap) as f32
                    } else {
                        0.0
                    };
                    assert_eq!(got, want, "co {co} ci {ci} tap {tap}");
                }
            }
        }
    }

    #[test]
    fn winograd_packing_transforms_then_packs_like_dense() {
        // One filter of ones: G 1 G^T is the outer product of G's row sums with themselves.
        let sums = [0.25, -0.5, -1.0 / 6.0, 7.0 / 24.0, 0.125, 1.0];
        let u = Packing::Winograd.apply(&[1.0; 9], &[1, 1, 3, 3]);
        assert_eq!(u.len(), 16 * 36);
        for i in 0..6 {
            for j in 0..6 {
                let want = (sums[i] * sums[j]) as f32;
                assert!((u[(i * 6 + j) * 16] - want).abs() < 1e-7, "{i} {j}");
                // Padded output channels 1..16 are zero.
                assert!(u[(i * 6 + j) * 16 + 1..][..15].iter().all(|&x| x == 0.0));
            }
        }
        // A centre tap g[1][1] = 1 transforms to the outer product of G's middle column.
        let mid = [0.0, -1.0 / 6.0, 1.0 / 6.0, 1.0 / 12.0, -1.0 / 12.0, 0.0];
        // [c_out 70, c_in 2]: channel 69 (group 64, width 16), input 1 carries the tap.
        let mut w = vec![0.0; 70 * 2 * 9];
        w[(69 * 2 + 1) * 9 + 4] = 1.0;
        let u = Packing::Winograd.apply(&w, &[70, 2, 3, 3]);
        assert_eq!(u.len(), 80 * 2 * 36);
        for xi in 0..36 {
            let at = 64 * 36 * 2 + (xi * 2 + 1) * 16 + 5;
            let want = (mid[xi / 6] * mid[xi % 6]) as f32;
            assert!((u[at] - want).abs() < 1e-7, "{xi}");
        }
        let nonzero = u.iter().filter(|&&x| x != 0.0).count();
        assert_eq!(nonzero, 16, "only the 4x4 inner positions of one filter");
    }

    #[test]
    fn packings_transpose() {
        // [c_out 2, c_in 3, 1, 1] -> [c_in][c_out]
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(
            Packing::InOut.apply(&w, &[2, 3, 1, 1]),
            [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
        // [c 2, 1, 1, 3] -> [taps 3][c]
        assert_eq!(
            Packing::TapsChannels.apply(&w, &[2, 1, 1, 3]),
            [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
        assert_eq!(Packing::Plain.apply(&w, &[6]), w);
    }
}
