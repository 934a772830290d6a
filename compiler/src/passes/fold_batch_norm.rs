//! Folds inference BatchNormalization away. After a conv (dense, grouped or depthwise, with or
//! without bias) whose only reader is the BN, the scale goes into the weights and the shift into
//! the bias: `w'[o] = w[o] * s[o]`, `b'[o] = (b[o] - mean[o]) * s[o] + beta[o]` with
//! `s = gamma / sqrt(var + eps)`. Any other BN becomes a per-channel scale-and-shift, written as
//! a 1x1 depthwise conv so it takes part in conv epilogue fusion like any conv.

use crate::ir::{Graph, Tensor, ValueRef};
use crate::ops::{Conv, Op};
use crate::passes::util::{const_f32, plain_conv};
use crate::target::Target;

/// Inference BatchNorm as a per-channel affine map `y = x * scale + shift`:
/// `scale = gamma / sqrt(var + epsilon)`, `shift = beta - mean * scale`. The one definition of the
/// formula: the back end lowers a BatchNorm that survives the passes with it too.
pub fn scale_shift(
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    epsilon: f32,
) -> (Vec<f32>, Vec<f32>) {
    let scale: Vec<f32> = gamma
        .iter()
        .zip(var)
        .map(|(g, v)| g / (v + epsilon).sqrt())
        .collect();
    let shift = beta
        .iter()
        .zip(mean)
        .zip(&scale)
        .map(|((b, m), s)| b - m * s)
        .collect();
    (scale, shift)
}

pub fn fold_batch_norm(g: &mut Graph, _: &Target) -> Result<bool, String> {
    let mut changed = false;
    let order = g.topo_order().map_err(|_| "cycle")?;
    for n in order {
        let Op::BatchNorm { epsilon } = g.node(n).op else {
            continue;
        };
        let ins = g.inputs(n);
        let params: Option<Vec<Vec<f32>>> = ins[1..].iter().map(|&v| const_f32(g, v)).collect();
        let Some(p) = params else { continue }; // run-time BN parameters: left for the back end
        let (beta, mean) = (&p[1], &p[2]);
        let (scale, shift) = scale_shift(&p[0], beta, mean, &p[3], epsilon);
        let name = g.node(n).name.clone();
        let x = ins[0];
        let out = ValueRef::new(n, 0);

        let new_out = match plain_conv(g, x) {
            Some((conv, c)) if g.single_user(x).is_some() => {
                let cins = g.inputs(conv);
                let w = const_f32(g, cins[1]).ok_or("conv weight is not f32")?;
                let wshape = g.ty(cins[1]).shape.clone();
                let per_out = w.len() / scale.len();
                let w2: Vec<f32> = w
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| v * scale[i / per_out])
                    .collect();
                let b = match cins.get(2) {
                    Some(&b) => const_f32(g, b).ok_or("conv bias is not f32")?,
                    None => vec![0.0; scale.len()],
                };
                let b2: Vec<f32> = (0..scale.len())
                    .map(|o| (b[o] - mean[o]) * scale[o] + beta[o])
                    .collect();
                let cname = g.node(conv).name.clone();
                let wv = g.add_const(format!("{cname}.folded_bn.weight"), Tensor::f32(wshape, w2));
                let bv = g.add_const(
                    format!("{cname}.folded_bn.bias"),
                    Tensor::f32(vec![b2.len()], b2),
                );
                let xin = g.inputs(conv)[0];
                g.add_op(format!("{cname}.folded_bn"), Op::Conv(c), &[xin, wv, bv])?
            }
            _ => {
                // y = x * scale + shift, as a 1x1 depthwise conv.
                let c = g.ty(x).shape[1];
                let wv = g.add_const(
                    format!("{name}.scale"),
                    Tensor::f32(vec![c, 1, 1, 1], scale),
                );
                let bv = g.add_const(format!("{name}.shift"), Tensor::f32(vec![c], shift));
                if g.ty(x).rank() != 4 {
                    continue; // not NCHW: the back end evaluates it as is
                }
                g.add_op(
                    format!("{name}.scale_shift"),
                    Op::Conv(Conv::new([1, 1], [1, 1], [0; 4], [1, 1], c)),
                    &[x, wv, bv],
                )?
            }
        };
        g.replace_uses(out, ValueRef::new(new_out, 0));
        g.g.remove_node(n);
        changed = true;
    }
    g.remove_dead();
    Ok(changed)
}
