//! Graph-to-graph passes, one file each, named by their verb. `PASSES` is the order the pipeline
//! runs them in, and why:
//!
//! 1. `simplify` first, so later patterns see no Identity/Dropout, no-op Slice/Reshape chains,
//!    foldable constants or dead nodes between the ops they match;
//! 2. `fold_batch_norm` before any fusion, so a conv followed by BN is one conv by the time
//!    activations and Ghost modules are matched (the BN-kept exports look like the folded ones);
//! 3. `fuse_activation` next: residual Adds and activations move into conv epilogues, so a
//!    Ghost module's halves are single `conv{act}` nodes;
//! 4. `fuse_ghost_module` then matches conv{act} -> depthwise conv{act} -> Concat (-> Slice),
//!    and absorbs a residual Add that follows the module;
//! 5. `fuse_squeeze_excite`: its mean -> conv{relu} -> conv{gate} -> Mul chain needs the
//!    activations already fused;
//! 6. `fuse_dfc_gate`: GhostNetV2's `Mul(ghost output, nearest Resize(gate))`; after the
//!    Ghost module and activation fusions only so its operands are the final producers (it
//!    matches the Mul and the Resize alone, so its place among the fusions is otherwise free);
//! 7. `plan_layout`: it picks each value's memory layout for the kernels of the ops that
//!    are left, so it must see the final ops (disable it to run everything in NCHW);
//! 8. `fuse_expand_depthwise` after it: it fuses an expansion conv with the depthwise conv
//!    reading it only where both stay NCHW (the plan decides that; the fused op has only an
//!    NCHW kernel, and the cost model prices the pair as two convs).
//!
//! Every pass returns whether it changed the graph; the pipeline verifies the IR after each.

pub mod fold_batch_norm;
pub mod fuse_activation;
pub mod fuse_dfc_gate;
pub mod fuse_expand_depthwise;
pub mod fuse_ghost_module;
pub mod fuse_squeeze_excite;
pub mod plan_layout;
pub mod simplify;

use crate::ir::Graph;
use crate::target::Target;

/// A pass: rewrites the graph for the target, returns whether anything changed.
pub type PassFn = fn(&mut Graph, &Target) -> Result<bool, String>;

/// A named pass.
pub struct Pass {
    pub name: &'static str,
    pub run: PassFn,
    /// One line for `--list-passes`.
    pub about: &'static str,
}

/// The passes in pipeline order.
pub const PASSES: &[Pass] = &[
    Pass { name: "simplify", run: simplify::simplify, about: "fold constants; drop Identity, Dropout, no-op Slice/Reshape chains and dead nodes" },
    Pass { name: "fold_batch_norm", run: fold_batch_norm::fold_batch_norm, about: "fold BatchNormalization into the conv before it, else make it a per-channel scale-and-shift" },
    Pass { name: "fuse_activation", run: fuse_activation::fuse_activation, about: "recognise SiLU, HardSwish and GELU spellings; move residual Adds and activations into conv epilogues" },
    Pass { name: "fuse_ghost_module", run: fuse_ghost_module::fuse_ghost_module, about: "primary conv + cheap depthwise conv + Concat (+ Slice) -> one ghost_module writing both halves in place" },
    Pass { name: "fuse_squeeze_excite", run: fuse_squeeze_excite::fuse_squeeze_excite, about: "mean -> conv -> act -> conv -> gate -> Mul -> one squeeze_excite" },
    Pass { name: "fuse_dfc_gate", run: fuse_dfc_gate::fuse_dfc_gate, about: "Mul(x, nearest Resize(gate)) by whole factors -> one gate_upsample that never materialises the upsampled gate" },
    Pass { name: "plan_layout", run: plan_layout::plan_layout, about: "choose NCHW or NHWC per value: the legal plan a cost model of the kernels predicts fastest" },
    Pass { name: "fuse_expand_depthwise", run: fuse_expand_depthwise::fuse_expand_depthwise, about: "NCHW pointwise expansion + the depthwise conv reading it -> one expand_depthwise, a block of expanded channels at a time (never the whole expanded tensor)" },
];

/// The pass with this name.
pub fn find(name: &str) -> Option<&'static Pass> {
    PASSES.iter().find(|p| p.name == name)
}

/// Helpers shared by the passes.
pub(crate) mod util {
    use petgraph::stable_graph::NodeIndex;

    use crate::ir::{Graph, Tensor, ValueRef};
    use crate::ops::Op;

    /// The f32 data of constant value `v`.
    pub fn const_f32(g: &Graph, v: ValueRef) -> Option<Vec<f32>> {
        g.constant(v).and_then(|t| t.as_f32()).map(<[f32]>::to_vec)
    }

    /// The producer of `v` if it is a conv with constant weights (and bias, if any), and
    /// nothing fused into it yet.
    pub fn plain_conv(g: &Graph, v: ValueRef) -> Option<(NodeIndex, crate::ops::Conv)> {
        match &g.node(v.node).op {
            Op::Conv(c) if c.act.is_none() && !c.residual => {
                let ins = g.inputs(v.node);
                if ins[1..].iter().all(|&i| g.constant(i).is_some()) {
                    Some((v.node, c.clone()))
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// The bias of a conv node as a value: its third input, or a new zero constant.
    pub fn conv_bias(g: &mut Graph, conv: NodeIndex) -> ValueRef {
        let ins = g.inputs(conv);
        match ins.get(2) {
            Some(&b) => b,
            None => {
                let m = g.node(conv).outputs[0].shape[1];
                let name = format!("{}.bias", g.node(conv).name);
                g.add_const(name, Tensor::f32(vec![m], vec![0.0; m]))
            }
        }
    }
}
