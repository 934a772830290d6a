//! The weights blob: every constant a kernel reads, as little-endian f32, each starting on a
//! 64-byte boundary. Constants are deduplicated by node and packing, so shared weights are
//! stored once per packing the kernels that read them need.

use std::collections::HashMap;

use petgraph::stable_graph::NodeIndex;

/// Offsets are multiples of this many f32s.
const ALIGN: usize = 16;

/// How a constant is laid out in the blob for the kernel that reads it.
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
}

impl Packing {
    /// `v` (of `shape`) rearranged for this packing.
    fn apply(self, v: &[f32], shape: &[usize]) -> Vec<f32> {
        let rows = shape.first().copied().unwrap_or(0);
        if self == Packing::Plain || rows == 0 {
            return v.to_vec();
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

#[derive(Debug, Default)]
pub struct Weights {
    data: Vec<f32>,
    by_node: HashMap<(NodeIndex, Packing), (usize, usize)>,
}

impl Weights {
    /// Appends `v`, returning its (offset, len) in f32s.
    pub fn push(&mut self, v: &[f32]) -> (usize, usize) {
        let off = self.data.len().div_ceil(ALIGN) * ALIGN;
        self.data.resize(off, 0.0);
        self.data.extend_from_slice(v);
        (off, v.len())
    }

    /// The range of constant node `n` (data `v` of `shape`) in `packing`, appending it the
    /// first time.
    pub fn node(
        &mut self,
        n: NodeIndex,
        packing: Packing,
        v: &[f32],
        shape: &[usize],
    ) -> (usize, usize) {
        if let Some(&r) = self.by_node.get(&(n, packing)) {
            return r;
        }
        let r = self.push(&packing.apply(v, shape));
        self.by_node.insert((n, packing), r);
        r
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.data.iter().flat_map(|x| x.to_le_bytes()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Packing;

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
