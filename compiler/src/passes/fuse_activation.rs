//! Epilogue fusion into convs:
//! - `Mul(x, HardSigmoid(x))` with alpha 1/6, beta 1/2 (the opset < 14 spelling) becomes HardSwish,
//!   `Mul(x, Sigmoid(x))` (SiLU as PyTorch exports it) becomes SiLU, either operand order;
//! - GELU as exporters spell it becomes one GELU: `0.5 * x * (1 + Erf(x / sqrt 2))` (or
//!   `x * 0.7071...`), and the tanh form `0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))`
//!   (`x^3` as a product of three `x`: ghostc has no `Pow`), products in any order and grouping;
//!   constants are matched to 1e-4 relative;
//! - `Add(conv(x), r)` (same shapes, `r` not computed from the conv) becomes `conv{residual}`;
//! - `act(conv(x))` for every activation (Relu, Clip, HardSigmoid, HardSwish, Sigmoid, SiLU,
//!   Tanh, GELU, Erf, Exp) becomes `conv{act}`.
//!
//! Every intermediate value of a pattern must have no other reader (nor be a graph output), and
//! its result the shape of `x` (a broadcasting product is not the activation).
//!
//! Residuals go first so `act(conv + r)` fuses whole. A conv already carrying an activation takes
//! no residual (the order of the two would change).

use petgraph::stable_graph::NodeIndex;

use crate::ir::{Graph, ValueRef};
use crate::ops::{Activation, BinaryOp, Op};
use crate::passes::util::conv_bias;
use crate::target::Target;

pub fn fuse_activation(g: &mut Graph, _: &Target) -> Result<bool, String> {
    let mut changed = gated(g)?;
    changed |= gelu(g)?;
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

/// `Mul(x, gate(x))` -> `act(x)`: HardSigmoid(1/6, 1/2) gives HardSwish, Sigmoid gives SiLU.
fn gated(g: &mut Graph) -> Result<bool, String> {
    let mut changed = false;
    for n in nodes(g, |op| matches!(op, Op::Binary(BinaryOp::Mul)))? {
        let ins = g.inputs(n);
        for (x, s) in [(ins[0], ins[1]), (ins[1], ins[0])] {
            let act = match g.node(s.node).op {
                Op::Activation(Activation::HardSigmoid { alpha, beta })
                    if (alpha - 1.0 / 6.0).abs() <= 1e-7 && beta == 0.5 =>
                {
                    Activation::HardSwish
                }
                Op::Activation(Activation::Sigmoid) => Activation::Silu,
                _ => continue,
            };
            if g.inputs(s.node)[0] != x
                || g.single_user(s).is_none()
                || g.ty(x) != g.ty(ValueRef::new(n, 0))
            {
                continue;
            }
            let name = g.node(n).name.clone();
            let h = g.add_op(name, Op::Activation(act), &[x])?;
            g.replace_uses(ValueRef::new(n, 0), ValueRef::new(h, 0));
            g.g.remove_node(n);
            // The gate fed only the Mul: drop it now, or `x` keeps a dead second reader and
            // cannot take the activation into its conv below.
            g.g.remove_node(s.node);
            changed = true;
            break;
        }
    }
    Ok(changed)
}

/// Whether `v` is a constant holding one value (any shape of one element) within 1e-4
/// relative of `want`.
fn scalar_near(g: &Graph, v: ValueRef, want: f64) -> bool {
    match g.constant(v).map(|t| t.to_f64s()) {
        Some(d) if d.len() == 1 => (d[0] - want).abs() <= 1e-4 * want.abs(),
        _ => false,
    }
}

/// The factors of the product `v`: through `Mul`s whose result only that product reads (and
/// is not broadcast), collecting the nodes passed (`v`'s own producer included).
fn factors(g: &Graph, v: ValueRef, top: bool, out: &mut Vec<ValueRef>, inner: &mut Vec<ValueRef>) {
    let is_mul = matches!(g.node(v.node).op, Op::Binary(BinaryOp::Mul));
    if is_mul && (top || g.single_user(v).is_some()) {
        inner.push(v);
        for i in g.inputs(v.node) {
            factors(g, i, false, out, inner);
        }
    } else {
        out.push(v);
    }
}

/// The operands of `v`'s producer if it is `Add` with a constant near `c`: the other operand.
fn plus_const(g: &Graph, v: ValueRef, c: f64) -> Option<ValueRef> {
    if !matches!(g.node(v.node).op, Op::Binary(BinaryOp::Add)) || g.single_user(v).is_none() {
        return None;
    }
    let ins = g.inputs(v.node);
    [(ins[0], ins[1]), (ins[1], ins[0])]
        .into_iter()
        .find(|&(_, k)| scalar_near(g, k, c))
        .map(|(o, _)| o)
}

/// `x * c` (either order) or `x / (1 / c)`: `Some(x)`.
fn scaled(g: &Graph, v: ValueRef, c: f64) -> Option<ValueRef> {
    g.single_user(v)?;
    let ins = g.inputs(v.node);
    match g.node(v.node).op {
        Op::Binary(BinaryOp::Mul) => [(ins[0], ins[1]), (ins[1], ins[0])]
            .into_iter()
            .find(|&(_, k)| scalar_near(g, k, c))
            .map(|(x, _)| x),
        Op::Binary(BinaryOp::Div) if scalar_near(g, ins[1], 1.0 / c) => Some(ins[0]),
        _ => None,
    }
}

/// `x + 0.044715 * x^3` (sum either order, the cube a product of three `x` with the
/// coefficient among its factors; ghostc has no `Pow`): `Some(x)`.
fn cubic(g: &Graph, v: ValueRef) -> Option<ValueRef> {
    if !matches!(g.node(v.node).op, Op::Binary(BinaryOp::Add)) || g.single_user(v).is_none() {
        return None;
    }
    let ins = g.inputs(v.node);
    for (x, t) in [(ins[0], ins[1]), (ins[1], ins[0])] {
        let (mut fs, mut inner) = (Vec::new(), Vec::new());
        if g.single_user(t).is_none() {
            continue;
        }
        factors(g, t, true, &mut fs, &mut inner);
        let mut xs = 0;
        let mut coef = false;
        let mut ok = true;
        for f in fs {
            if f == x {
                xs += 1;
            } else if scalar_near(g, f, 0.044715) && !coef {
                coef = true;
            } else {
                ok = false;
            }
        }
        if ok && coef && xs == 3 {
            return Some(x);
        }
    }
    None
}

/// GELU in either spelling, matched from the outermost product.
fn gelu(g: &mut Graph) -> Result<bool, String> {
    let mut changed = false;
    let sqrt_2_over_pi = (2.0 / std::f64::consts::PI).sqrt();
    for n in nodes(g, |op| matches!(op, Op::Binary(BinaryOp::Mul)))? {
        if !g.g.contains_node(n) {
            continue;
        }
        let out = ValueRef::new(n, 0);
        // An inner product of a GELU is matched from its outermost Mul only.
        if let Some((u, _)) = g.single_user(out) {
            if matches!(g.node(u).op, Op::Binary(BinaryOp::Mul)) {
                continue;
            }
        }
        let (mut fs, mut inner) = (Vec::new(), Vec::new());
        factors(g, out, true, &mut fs, &mut inner);
        if fs.len() != 3 {
            continue;
        }
        let found = (0..3).find_map(|h| {
            if !scalar_near(g, fs[h], 0.5) {
                return None;
            }
            let rest: Vec<ValueRef> = (0..3).filter(|&i| i != h).map(|i| fs[i]).collect();
            [(rest[0], rest[1]), (rest[1], rest[0])]
                .into_iter()
                .find_map(|(x, s)| {
                    let e = plus_const(g, s, 1.0)?;
                    g.single_user(e)?;
                    let (act, arg) = match g.node(e.node).op {
                        Op::Activation(Activation::Erf) => (
                            Activation::Gelu,
                            scaled(g, g.inputs(e.node)[0], std::f64::consts::FRAC_1_SQRT_2)?,
                        ),
                        Op::Activation(Activation::Tanh) => (
                            Activation::GeluTanh,
                            cubic(g, scaled(g, g.inputs(e.node)[0], sqrt_2_over_pi)?)?,
                        ),
                        _ => return None,
                    };
                    (arg == x).then_some((x, act))
                })
        });
        let Some((x, act)) = found else {
            continue;
        };
        if g.ty(x) != g.ty(out) || inner.iter().any(|&v| g.ty(v) != g.ty(out)) {
            continue;
        }
        let name = g.node(n).name.clone();
        let h = g.add_op(name, Op::Activation(act), &[x])?;
        g.replace_uses(out, ValueRef::new(h, 0));
        // Everything between `x` and the product is dead now: drop it so `x` has one reader.
        g.remove_dead();
        changed = true;
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
