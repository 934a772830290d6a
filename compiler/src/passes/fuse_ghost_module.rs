//! Fuses Ghost modules: `p = conv{act}(x)`, `c = depthwise_conv{act}(p)`, `y = Concat(p, c)`
//! along channels, optionally followed by `Slice(y, channels 0..keep)`, becomes one
//! `ghost_module` that writes the primary half and the cheap half straight into their channel
//! ranges of one buffer; channels the Slice drops are never computed (the cheap weights are cut).
//! A residual `Add(module, r)` that follows is absorbed too.
//!
//! It does not fuse when `p` or `c` is read by anything else (including as a graph output), when
//! the primary conv is not pointwise (1x1, stride 1, unpadded, one group: the module's kernels
//! run it as a matrix product), when the cheap conv is not depthwise with multiplier 1 on `p` at the same resolution, or when the
//! Slice is anything but a leading channel range.

use crate::ir::{Graph, Tensor, ValueRef};
use crate::ops::fused::GhostModule;
use crate::ops::{BinaryOp, Op};
use crate::passes::util::{const_f32, conv_bias};
use crate::target::Target;

pub fn fuse_ghost_module(g: &mut Graph, _: &Target) -> Result<bool, String> {
    let mut changed = false;
    let order = g.topo_order().map_err(|_| "cycle")?;
    for n in order {
        if !g.g.contains_node(n) || !matches!(g.node(n).op, Op::Concat { axis: 1 }) {
            continue;
        }
        let ins = g.inputs(n);
        let [p, c] = ins[..] else { continue };
        let (Op::Conv(pc), Op::Conv(cc)) = (&g.node(p.node).op, &g.node(c.node).op) else {
            continue;
        };
        let (pc, cc) = (pc.clone(), cc.clone());
        let (pins, cins) = (g.inputs(p.node), g.inputs(c.node));
        let init = g.ty(p).shape[1];
        let weights_const = pins[1..]
            .iter()
            .chain(&cins[1..])
            .all(|&v| g.constant(v).is_some());
        let p_users: Vec<_> = g.users(p).into_iter().map(|(u, _)| u).collect();
        let shape_ok = g.ty(c).shape == g.ty(p).shape && g.ty(cins[1]).shape[..2] == [init, 1];
        if pc.residual
            || !pc.is_pointwise()
            || cc.residual
            || cins[0] != p
            || cc.group != init
            || !weights_const
            || !shape_ok
        {
            continue;
        }
        if g.is_output(p)
            || g.is_output(c)
            || p_users.len() != 2
            || !p_users.contains(&c.node)
            || g.single_user(c).is_none()
        {
            continue;
        }
        // The Slice that keeps a leading channel range, if the Concat's only reader is one.
        let concat_out = ValueRef::new(n, 0);
        let (keep, replaced) = match g.single_user(concat_out).map(|(u, _)| (u, &g.node(u).op)) {
            Some((u, Op::Slice { axes })) if matches!(axes[..], [a] if a.axis == 1 && a.start == 0 && a.step == 1) => {
                (axes[0].len, ValueRef::new(u, 0))
            }
            _ => (2 * init, concat_out),
        };
        if keep <= init {
            continue; // the cheap half is dropped entirely: not a Ghost module
        }
        let k = keep - init;
        let hw: usize = g.ty(cins[1]).shape[2..].iter().product();
        let w2 = const_f32(g, cins[1]).ok_or("cheap weight is not f32")?;
        let mut wshape = g.ty(cins[1]).shape.clone();
        wshape[0] = k;
        let b1 = conv_bias(g, p.node);
        let b2 = conv_bias(g, c.node);
        let b2v = const_f32(g, b2).ok_or("cheap bias is not f32")?;
        let name = g.node(n).name.clone();
        let (w2v, b2v) = if k == init {
            (cins[1], b2)
        } else {
            (
                g.add_const(
                    format!("{name}.cheap_weight"),
                    Tensor::f32(wshape, w2[..k * hw].to_vec()),
                ),
                g.add_const(
                    format!("{name}.cheap_bias"),
                    Tensor::f32(vec![k], b2v[..k].to_vec()),
                ),
            )
        };
        let mut cheap = cc;
        cheap.group = k;
        let gm = GhostModule {
            primary: pc,
            cheap,
            init,
            keep,
            residual: false,
        };
        let f = g.add_op(
            format!("{name}.ghost_module"),
            Op::GhostModule(gm),
            &[pins[0], pins[1], b1, w2v, b2v],
        )?;
        g.replace_uses(replaced, ValueRef::new(f, 0));
        g.remove_dead();
        changed = true;
    }
    changed |= absorb_residual(g)?;
    Ok(changed)
}

/// `Add(ghost_module(x), r)` -> `ghost_module{residual}(x, .., r)`.
fn absorb_residual(g: &mut Graph) -> Result<bool, String> {
    let mut changed = false;
    let order = g.topo_order().map_err(|_| "cycle")?;
    for n in order {
        if !g.g.contains_node(n) || !matches!(g.node(n).op, Op::Binary(BinaryOp::Add)) {
            continue;
        }
        let ins = g.inputs(n);
        let out = ValueRef::new(n, 0);
        for (m, r) in [(ins[0], ins[1]), (ins[1], ins[0])] {
            let Op::GhostModule(gm) = &g.node(m.node).op else {
                continue;
            };
            if gm.residual
                || g.ty(m) != g.ty(out)
                || g.ty(r) != g.ty(out)
                || g.single_user(m).is_none()
                || g.depends_on(r.node, m.node)
            {
                continue;
            }
            let mut fused = gm.clone();
            fused.residual = true;
            let mut args = g.inputs(m.node);
            args.push(r);
            let name = g.node(m.node).name.clone();
            let f = g.add_op(format!("{name}.residual"), Op::GhostModule(fused), &args)?;
            g.replace_uses(out, ValueRef::new(f, 0));
            g.g.remove_node(n);
            g.g.remove_node(m.node);
            changed = true;
            break;
        }
    }
    Ok(changed)
}
