//! The weights blob: every constant a kernel reads, as little-endian f32, each starting on a
//! 64-byte boundary. Constants are deduplicated by node and packing, so shared weights are
//! stored once per packing the kernels that read them need.

use std::collections::HashMap;

use petgraph::stable_graph::NodeIndex;

use crate::ir::layout::Packing;

/// Offsets are multiples of this many f32s.
const ALIGN: usize = 16;

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
