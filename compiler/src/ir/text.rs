//! The IR text format: one line per node in topological order, values numbered `%N` in that
//! order, constants summarised. Backs `--emit ir`, IR dumps and snapshots.

use std::collections::HashMap;
use std::fmt::{self, Write};

use petgraph::stable_graph::NodeIndex;

use crate::ir::{Data, Graph, ValueRef};
use crate::ops::{Attrs, Op};

/// Number of elements up to which a constant's values are printed.
const SHOWN_VALUES: usize = 8;

/// Display numbers of nodes: position in the deterministic topological order.
pub fn numbering(g: &Graph) -> (Vec<NodeIndex>, HashMap<NodeIndex, usize>) {
    let order = g
        .topo_order()
        .unwrap_or_else(|_| g.g.node_indices().collect());
    let num = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    (order, num)
}

/// `%N` for single-output nodes, `%N.k` for multi-output ones.
pub fn value_name(g: &Graph, num: &HashMap<NodeIndex, usize>, v: ValueRef) -> String {
    let n = num.get(&v.node).copied().unwrap_or(usize::MAX);
    if g.node(v.node).outputs.len() == 1 {
        format!("%{n}")
    } else {
        format!("%{n}.{}", v.port)
    }
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_text(self, &|_| None))
    }
}

/// The text form; `note` may add an annotation per node (e.g. an arena range).
pub fn to_text(g: &Graph, note: &dyn Fn(NodeIndex) -> Option<String>) -> String {
    let (order, num) = numbering(g);
    let mut s = String::new();
    let _ = writeln!(s, "graph {:?} opset {}", g.name, g.opset);
    for &n in &order {
        let node = g.node(n);
        let outs: Vec<String> = (0..node.outputs.len())
            .map(|p| value_name(g, &num, ValueRef::new(n, p)))
            .collect();
        let _ = write!(s, "{} = {}", outs.join(", "), node.op.name());
        match &node.op {
            Op::Const(t) => {
                if t.len() <= SHOWN_VALUES {
                    match &t.data {
                        Data::F32(v) => {
                            let _ = write!(s, " {v:?}");
                        }
                        Data::I64(v) => {
                            let _ = write!(s, " {v:?}");
                        }
                    }
                }
            }
            Op::Input => {}
            _ => {
                let args: Vec<String> = g
                    .inputs(n)
                    .into_iter()
                    .map(|v| value_name(g, &num, v))
                    .collect();
                let _ = write!(s, "({}){}", args.join(", "), Attrs(&node.op));
            }
        }
        let tys: Vec<String> = node
            .outputs
            .iter()
            .enumerate()
            .map(|(p, t)| match g.layouts.get(&ValueRef::new(n, p)) {
                Some(l) => format!("{t} {l}"),
                None => t.to_string(),
            })
            .collect();
        let _ = write!(s, " : {}", tys.join(", "));
        if let Some(extra) = note(n) {
            let _ = write!(s, " {extra}");
        }
        let _ = writeln!(s, "  # {:?}", node.name);
    }
    for (name, v) in &g.outputs {
        let _ = writeln!(s, "output {:?} = {}", name, value_name(g, &num, *v));
    }
    s
}
