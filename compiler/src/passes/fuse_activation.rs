//! Epilogue fusion into convs:
//! - `Mul(x, HardSigmoid(x))` with alpha 1/6, beta 1/2 (the opset < 14 spelling) becomes HardSwish;
//! - `Add(conv(x), r)` (same shapes, `r` not computed from the conv) becomes `conv{residual}`;
//! - `act(conv(x))` for Relu, Clip, HardSigmoid, HardSwish, Sigmoid becomes `conv{act}`.
//!
//! Residuals go first so `act(conv + r)` fuses whole. A conv already carrying an activation takes
//! no residual (the order of the two would change).

use petgraph::stable_graph::NodeIndex;

use crate::ir::{Graph, ValueRef};
use crate::ops::{Activation, BinaryOp, Op};
use crate::passes::util::conv_bias;

pub fn fuse_activation(g: &mut Graph) -> Result<bool, String> {
    let mut changed = hard_swish(g)?;
    changed |= residual(g)?;
    changed |= activation(g)?;
    g.remove_dead();
    Ok(changed)
}

/// Nodes of one op kind, in schedule order.
fn nodes(g: &Graph, want: impl Fn(&Op) -> bool) -> Result<Vec<NodeIndex>, String> {
    Ok(g.topo_order()
        .map_err(|_| "cycle")?
        .into_iter()
        .filter(|&n| want(&g.node(n).op))
        .collect())
}

fn hard_swish(g: &mut Graph) -> Result<bool, String> {
    let mut changed = false;
    for n in nodes(g, |op| matches!(op, Op::Binary(BinaryOp::Mul)))? {
        let ins = g.inputs(n);
        for (x, s) in [(ins[0], ins[1]), (ins[1], ins[0])] {
            let Op::Activation(Activation::HardSigmoid { alpha, beta }) = g.node(s.node).op else {
                continue;
            };
            if g.inputs(s.node)[0] != x
                || (alpha - 1.0 / 6.0).abs() > 1e-7
                || beta != 0.5
                || g.single_user(s).is_none()
                || g.ty(x) != g.ty(ValueRef::new(n, 0))
            {
                continue;
            }
            let name = g.node(n).name.clone();
            let h = g.add_op(name, Op::Activation(Activation::HardSwish), &[x])?;
            g.replace_uses(ValueRef::new(n, 0), ValueRef::new(h, 0));
            g.g.remove_node(n);
            // The HardSigmoid fed only the Mul: drop it now, or `x` keeps a dead second reader
            // and cannot take the HardSwish into its conv below.
            g.g.remove_node(s.node);
            changed = true;
            break;
        }
    }
    Ok(changed)
}

fn residual(g: &mut Graph) -> Result<bool, String> {
    let mut changed = false;
    for n in nodes(g, |op| matches!(op, Op::Binary(BinaryOp::Add)))? {
        let ins = g.inputs(n);
        let out = ValueRef::new(n, 0);
        if g.ty(ins[0]) != g.ty(out) || g.ty(ins[1]) != g.ty(out) {
            continue; // broadcasting add: not a residual
        }
        for (c, r) in [(ins[0], ins[1]), (ins[1], ins[0])] {
            let Op::Conv(conv) = &g.node(c.node).op else {
                continue;
            };
            if conv.act.is_some()
                || conv.residual
                || g.single_user(c).is_none()
                || g.depends_on(r.node, c.node)
            {
                continue;
            }
            let mut fused = conv.clone();
            fused.residual = true;
            let cins = g.inputs(c.node);
            let bias = conv_bias(g, c.node);
            let name = g.node(c.node).name.clone();
            let f = g.add_op(
                format!("{name}.residual"),
                Op::Conv(fused),
                &[cins[0], cins[1], bias, r],
            )?;
            g.replace_uses(out, ValueRef::new(f, 0));
            g.g.remove_node(n);
            g.g.remove_node(c.node);
            changed = true;
            break;
        }
    }
    Ok(changed)
}

fn activation(g: &mut Graph) -> Result<bool, String> {
    let mut changed = false;
    for n in nodes(g, |op| matches!(op, Op::Activation(_)))? {
        let Op::Activation(a) = g.node(n).op else {
            continue;
        };
        let x = g.inputs(n)[0];
        let Op::Conv(conv) = &g.node(x.node).op else {
            continue;
        };
        if conv.act.is_some() || g.single_user(x).is_none() {
            continue;
        }
        let mut fused = conv.clone();
        fused.act = Some(a);
        let cins = g.inputs(x.node);
        let name = g.node(x.node).name.clone();
        let f = g.add_op(format!("{name}.{}", a.name()), Op::Conv(fused), &cins)?;
        g.replace_uses(ValueRef::new(n, 0), ValueRef::new(f, 0));
        g.g.remove_node(n);
        g.g.remove_node(x.node);
        changed = true;
    }
    Ok(changed)
}
