//! Clean-up to a fixed point: constant folding, removal of Identity and Dropout, no-op Slices
//! and reshapes, merging of reshape chains, ReduceMean over H and W as GlobalAveragePool, and
//! dead-node elimination.

use petgraph::stable_graph::NodeIndex;

use crate::ir::{Graph, ValueRef};
use crate::ops::eval::eval_node;
use crate::ops::{Op, OutputStorage};
use crate::target::Target;

/// Most work (elements written plus multiply-adds or window reads) a constant fold may take.
/// Above it the node stays a run-time op on constant operands, as the model wrote it: a small
/// file must not make the compiler allocate, compute or emit (folded values become weights)
/// out of proportion.
const MAX_FOLD_WORK: u64 = 1 << 20;

fn fold_work(g: &Graph, n: NodeIndex) -> u64 {
    let node = g.node(n);
    let written = node
        .outputs
        .iter()
        .fold(0u64, |a, t| a.saturating_add(t.len() as u64));
    let window = match &node.op {
        Op::Pool(p) => (p.kernel[0] as u64).saturating_mul(p.kernel[1] as u64),
        _ => 1,
    };
    written
        .saturating_mul(window)
        .saturating_add(crate::analysis::cost::macs(g, n))
}

pub fn simplify(g: &mut Graph, _: &Target) -> Result<bool, String> {
    let mut changed = false;
    loop {
        let mut step = false;
        let order = g.topo_order().map_err(|_| "cycle")?;
        for n in order {
            if !g.g.contains_node(n) {
                continue;
            }
            let node = g.node(n).clone();
            let ins = g.inputs(n);
            let out = ValueRef::new(n, 0);
            // Constant folding: every input constant, one output.
            if !matches!(node.op, Op::Input | Op::Const(_))
                && !ins.is_empty()
                && node.outputs.len() == 1
                && fold_work(g, n) <= MAX_FOLD_WORK
            {
                if let Some(args) = ins
                    .iter()
                    .map(|&v| g.constant(v))
                    .collect::<Option<Vec<_>>>()
                {
                    let mut t = eval_node(g, n, &args)?;
                    let c = g.add_const(format!("{}.folded", node.name), t.remove(0));
                    g.replace_uses(out, c);
                    g.g.remove_node(n);
                    step = true;
                    continue;
                }
            }
            let same_shape = ins.len() == 1 && g.ty(ins[0]) == &node.outputs[0];
            let removable = match (&node.op, node.op.storage()) {
                (_, OutputStorage::Alias) => true,
                (_, OutputStorage::Reshaped) => same_shape,
                // Same shape is not enough: a whole axis taken backwards (step -1) reorders.
                (Op::Slice { axes }, _) => {
                    same_shape
                        && axes
                            .iter()
                            .all(|a| a.start == 0 && (a.step == 1 || a.len <= 1))
                }
                _ => false,
            };
            // Keep a graph output fed straight from an input or constant: it needs a node.
            if removable
                && !(g.is_output(out) && matches!(g.node(ins[0].node).op, Op::Input | Op::Const(_)))
            {
                g.replace_uses(out, ins[0]);
                g.g.remove_node(n);
                step = true;
                continue;
            }
            // ReduceMean over H and W of a 4-D value, keeping them: a GlobalAveragePool (as the
            // dynamo exporter writes it), so later passes and kernels see one form.
            if let Op::ReduceMean {
                axes,
                keepdims: true,
            } = &node.op
            {
                if axes == &[2, 3] && ins.len() == 1 && g.ty(ins[0]).rank() == 4 {
                    let r = g.add_op(node.name.clone(), Op::GlobalAveragePool, &[ins[0]])?;
                    g.replace_uses(out, ValueRef::new(r, 0));
                    g.g.remove_node(n);
                    step = true;
                    continue;
                }
            }
            // reshape(reshape(x)) -> reshape(x)
            let reshaped = |op: &Op| op.storage() == OutputStorage::Reshaped;
            if reshaped(&node.op) && reshaped(&g.node(ins[0].node).op) {
                let src = g.inputs(ins[0].node)[0];
                let shape: Vec<i64> = node.outputs[0].shape.iter().map(|&d| d as i64).collect();
                let r = g.add_op(
                    node.name.clone(),
                    Op::Reshape {
                        shape,
                        allowzero: true,
                    },
                    &[src],
                )?;
                g.replace_uses(out, ValueRef::new(r, 0));
                g.g.remove_node(n);
                step = true;
                continue;
            }
        }
        if g.remove_dead() > 0 {
            step = true;
        }
        if !step {
            return Ok(changed);
        }
        changed = true;
    }
}
