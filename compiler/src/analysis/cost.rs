//! Cost model: multiply-adds per node (`Op::macs`) and parameter counts, and the `--summary`
//! table built from them.

use std::fmt::Write;

use petgraph::stable_graph::NodeIndex;

use crate::ir::text::numbering;
use crate::ir::{Data, Graph, Shape, TensorType};
use crate::ops::Op;

/// Multiply-adds of one node ([`Op::macs`] on its operand types; 0 without outputs).
pub fn macs(g: &Graph, n: NodeIndex) -> u64 {
    let node = g.node(n);
    let Some(output) = node.outputs.first() else {
        return 0;
    };
    let inputs: Vec<&TensorType> = g.inputs(n).into_iter().map(|v| g.ty(v)).collect();
    node.op.macs(&inputs, output)
}

/// f32 constant elements read by a node.
pub fn node_params(g: &Graph, n: NodeIndex) -> u64 {
    g.inputs(n)
        .into_iter()
        .filter_map(|v| g.constant(v))
        .filter_map(|t| t.as_f32())
        .map(|v| v.len() as u64)
        .sum()
}

/// Totals over the whole graph.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub macs: u64,
    /// f32 constant elements (each constant counted once).
    pub params: u64,
    /// Nodes that compute at run time (not inputs or constants).
    pub nodes: usize,
}

pub fn totals(g: &Graph) -> Totals {
    let mut t = Totals::default();
    for n in g.g.node_indices() {
        match &g.node(n).op {
            Op::Const(c) => {
                if let Data::F32(v) = &c.data {
                    t.params += v.len() as u64;
                }
            }
            Op::Input => {}
            _ => {
                t.nodes += 1;
                t.macs += macs(g, n);
            }
        }
    }
    t
}

/// `1234567` -> `1,234,567`.
pub fn thousands(v: u64) -> String {
    let s = v.to_string();
    let mut o = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            o.push(',');
        }
        o.push(c);
    }
    o
}

/// The `--summary` table: one row per computing node, then totals.
pub fn summary(g: &Graph) -> String {
    let (order, num) = numbering(g);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>5}  {:<16} {:<20} {:>12} {:>14}  node",
        "%", "op", "output", "params", "MACs"
    );
    for &n in &order {
        let node = g.node(n);
        if matches!(node.op, Op::Const(_) | Op::Input) {
            continue;
        }
        let op = match &node.op {
            Op::Conv(c) => {
                let c_in = g.inputs(n).first().map(|&x| g.ty(x).shape[1]).unwrap_or(0);
                let kind = if c.is_depthwise(c_in) {
                    "dw"
                } else if c.group > 1 {
                    "gconv"
                } else {
                    "conv"
                };
                format!("{kind} {}x{}/{}", c.kernel[0], c.kernel[1], c.strides[0])
            }
            op => op.name().to_string(),
        };
        let out = node
            .outputs
            .first()
            .map(|t| Shape(&t.shape).to_string())
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{:>5}  {:<16} {:<20} {:>12} {:>14}  {}",
            format!("%{}", num[&n]),
            op,
            out,
            thousands(node_params(g, n)),
            thousands(macs(g, n)),
            node.name.escape_debug()
        );
    }
    let t = totals(g);
    let plan = crate::analysis::memory::plan(g);
    let _ = writeln!(
        s,
        "arena: {} bytes (liveness lower bound {} bytes, {:.3}x)",
        thousands(plan.arena_len as u64 * 4),
        thousands(plan.lower_bound as u64 * 4),
        plan.arena_len as f64 / plan.lower_bound.max(1) as f64
    );
    let _ = writeln!(
        s,
        "total: {} multiply-adds ({:.4} GFLOP), {} parameters, {} nodes",
        thousands(t.macs),
        2.0 * t.macs as f64 / 1e9,
        thousands(t.params),
        t.nodes
    );
    s
}
