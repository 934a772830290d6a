//! IR verifier, run after import and after every pass. Invariants:
//!
//! 1. the graph is acyclic;
//! 2. each node's input ports are exactly 0..k, each fed once, from an existing output port;
//! 3. each node's output types equal what shape inference gives for its inputs;
//! 4. values computed at run time are f32 (integers exist only as constants);
//! 5. `inputs` lists exactly the `Op::Input` nodes; `outputs` name existing values;
//! 6. no value has more than `MAX_ELEMENTS` elements;
//! 7. every value's layout (`ir::layout`) is one its producer and consumers have kernels for;
//!    layouts are recorded only for existing 4-D values, and graph inputs and outputs are NCHW.

use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::ir::layout::Layout;
use crate::ir::{checked_len, DType, Graph};
use crate::ops::Op;

/// Checks every invariant; the error names the first offending node.
pub fn verify(g: &Graph) -> Result<(), String> {
    let order = g.topo_order().map_err(|left| {
        let names: Vec<String> = left
            .iter()
            .take(5)
            .map(|&n| format!("'{}'", g.node(n).name))
            .collect();
        format!("cycle through {}", names.join(", "))
    })?;
    for &n in &order {
        let node = g.node(n);
        let at = |msg: String| format!("node '{}' ({}): {msg}", node.name, node.op.name());
        let mut ports: Vec<usize> = Vec::new();
        for e in g.g.edges_directed(n, Direction::Incoming) {
            let src = g.node(e.source());
            if e.weight().src_port >= src.outputs.len() {
                return Err(at(format!(
                    "reads output {} of '{}', which has {}",
                    e.weight().src_port,
                    src.name,
                    src.outputs.len()
                )));
            }
            ports.push(e.weight().dst_port);
        }
        ports.sort_unstable();
        if ports.iter().enumerate().any(|(i, &p)| i != p) {
            return Err(at(format!(
                "input ports {ports:?} are not 0..{}",
                ports.len()
            )));
        }
        for t in &node.outputs {
            if checked_len(&t.shape).is_none() {
                return Err(at(format!("value {t} is too large")));
            }
        }
        match &node.op {
            Op::Input => {
                if !ports.is_empty() || !g.inputs.contains(&n) {
                    return Err(at(
                        "input node with inputs, or not listed as a graph input".into()
                    ));
                }
            }
            op => {
                let inputs = g.inputs(n);
                let tys: Vec<_> = inputs.iter().map(|&v| g.ty(v)).collect();
                let inferred = op.infer(&tys).map_err(at)?;
                if inferred != node.outputs {
                    let show = |v: &[crate::ir::TensorType]| {
                        v.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    return Err(at(format!(
                        "declared {} but inference gives {}",
                        show(&node.outputs),
                        show(&inferred)
                    )));
                }
                if !matches!(op, Op::Const(_)) && node.outputs.iter().any(|t| t.dtype != DType::F32)
                {
                    return Err(at("computes a non-f32 value at run time".into()));
                }
            }
        }
        crate::ir::layout::check_node(g, n).map_err(at)?;
    }
    for &i in &g.inputs {
        if !g.g.contains_node(i) || !matches!(g.node(i).op, Op::Input) {
            return Err("a graph input is not an input node".into());
        }
    }
    for (name, v) in &g.outputs {
        if !g.g.contains_node(v.node) || v.port >= g.node(v.node).outputs.len() {
            return Err(format!("graph output '{name}' refers to a missing value"));
        }
        if g.layout(*v) != Layout::Nchw {
            return Err(format!("graph output '{name}' is not nchw"));
        }
    }
    for v in g.layouts.keys() {
        if !g.g.contains_node(v.node)
            || v.port >= g.node(v.node).outputs.len()
            || g.ty(*v).rank() != 4
        {
            return Err(format!(
                "a layout is recorded for a missing or non-4-D value {v:?}"
            ));
        }
    }
    Ok(())
}
