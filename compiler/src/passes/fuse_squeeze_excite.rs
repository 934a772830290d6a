//! Fuses squeeze-and-excite blocks: `Mul(x, conv2{gate}(conv1{act}(mean_hw(x))))`, where the
//! mean is GlobalAveragePool or ReduceMean over axes [2,3] with keepdims, and both convs are
//! plain 1x1 convs (stride 1, no padding, one group) with constant weights, becomes one
//! `squeeze_excite(x)` op. Intermediate values must have no other readers, and the gate must
//! have one value per channel of `x` (a gate broadcast over channels stays as it is).

use crate::ir::{Graph, ValueRef};
use crate::ops::fused::SqueezeExcite;
use crate::ops::{BinaryOp, Conv, Op};
use crate::passes::util::conv_bias;
use crate::target::Target;

fn pointwise(c: &Conv) -> bool {
    c.kernel == [1, 1]
        && c.strides == [1, 1]
        && c.pads == [0; 4]
        && c.dilations == [1, 1]
        && c.group == 1
        && !c.residual
}

pub fn fuse_squeeze_excite(g: &mut Graph, _: &Target) -> Result<bool, String> {
    let mut changed = false;
    let order = g.topo_order().map_err(|_| "cycle")?;
    for n in order {
        if !g.g.contains_node(n) || !matches!(g.node(n).op, Op::Binary(BinaryOp::Mul)) {
            continue;
        }
        let ins = g.inputs(n);
        for (x, gate) in [(ins[0], ins[1]), (ins[1], ins[0])] {
            let Op::Conv(c2) = &g.node(gate.node).op else {
                continue;
            };
            let c2 = c2.clone();
            let hidden = g.inputs(gate.node)[0];
            let Op::Conv(c1) = &g.node(hidden.node).op else {
                continue;
            };
            let c1 = c1.clone();
            let mean = g.inputs(hidden.node)[0];
            let is_mean = match &g.node(mean.node).op {
                Op::GlobalAveragePool => true,
                Op::ReduceMean { axes, keepdims } => *keepdims && axes[..] == [2, 3],
                _ => false,
            };
            let chain_private = [gate, hidden, mean]
                .iter()
                .all(|&v| g.single_user(v).is_some());
            let consts = g.inputs(gate.node)[1..]
                .iter()
                .chain(&g.inputs(hidden.node)[1..])
                .all(|&v| g.constant(v).is_some());
            if !is_mean
                || g.inputs(mean.node)[0] != x
                || !pointwise(&c1)
                || !pointwise(&c2)
                || !chain_private
                || !consts
                || g.ty(x) != g.ty(ValueRef::new(n, 0))
                || g.ty(gate).shape[1] != g.ty(x).shape[1]
            // one gate per channel, not broadcast
            {
                continue;
            }
            let (w1, w2) = (g.inputs(hidden.node)[1], g.inputs(gate.node)[1]);
            let (b1, b2) = (conv_bias(g, hidden.node), conv_bias(g, gate.node));
            let name = g.node(n).name.clone();
            let se = SqueezeExcite {
                act: c1.act,
                gate: c2.act,
            };
            let f = g.add_op(
                format!("{name}.squeeze_excite"),
                Op::SqueezeExcite(se),
                &[x, w1, b1, w2, b2],
            )?;
            g.replace_uses(ValueRef::new(n, 0), ValueRef::new(f, 0));
            g.remove_dead();
            changed = true;
            break;
        }
    }
    Ok(changed)
}
