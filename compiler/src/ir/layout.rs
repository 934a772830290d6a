//! Memory layouts of 4-D activations and which layouts each op's kernels accept.
//!
//! A value's logical shape is always `[N, C, H, W]`; its layout says how that is laid out in
//! memory. `Nchw` (the default, and what ONNX means) is row-major in the logical shape; `Nhwc`
//! stores each pixel's channels together (`[N, H, W, C]` row-major), which lets kernels vectorise
//! over channels instead of over a short row. The pass `plan_layout` picks layouts; these rules
//! are what it and `ir::verify` check every node against.

use std::fmt;

use petgraph::stable_graph::NodeIndex;

use crate::ir::{Graph, ValueRef};
use crate::ops::{Conv, Op};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layout {
    /// Row-major in the logical `[N, C, H, W]` shape.
    #[default]
    Nchw,
    /// Channels last: `[N, H, W, C]` row-major.
    Nhwc,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::Nchw => "nchw",
            Layout::Nhwc => "nhwc",
        })
    }
}

impl Graph {
    /// The layout of value `v` (NCHW unless `plan_layout` chose otherwise).
    pub fn layout(&self, v: ValueRef) -> Layout {
        self.layouts.get(&v).copied().unwrap_or_default()
    }
}

/// A 1x1, stride-1, unpadded, ungrouped convolution: a matrix product per image.
pub fn is_pointwise(c: &Conv) -> bool {
    c.kernel == [1, 1] && c.strides == [1, 1] && c.pads == [0; 4] && c.group == 1
}

/// A depthwise convolution (one filter per channel) over `channels` channels.
pub fn is_depthwise(c: &Conv, channels: usize, out_channels: usize) -> bool {
    c.group == channels && out_channels == channels
}

/// Why node `n` cannot run with the layouts its values have, if it cannot.
///
/// NHWC kernels exist for: a conv that is pointwise (input NCHW or NHWC, output NHWC) or
/// depthwise (NHWC to NHWC), a Ghost module with a pointwise primary conv (input NCHW or NHWC,
/// output NHWC), squeeze-and-excite (same layout in and out) and global average pooling (any
/// input; its 1x1 output is NCHW). Their weights must be constants (they are packed for the NHWC
/// kernels at compile time), and a residual has the output's layout. Every other op reads and
/// writes NCHW only, and graph inputs and outputs are NCHW.
pub fn check_node(g: &Graph, n: NodeIndex) -> Result<(), String> {
    let node = g.node(n);
    let ins = g.inputs(n);
    let out = (0..node.outputs.len())
        .map(|p| g.layout(ValueRef::new(n, p)))
        .max()
        .unwrap_or_default();
    let lay = |i: usize| ins.get(i).map(|&v| g.layout(v)).unwrap_or_default();
    let all_nchw = || ins.iter().all(|&v| g.layout(v) == Layout::Nchw) && out == Layout::Nchw;
    let ok = match &node.op {
        Op::Input | Op::Const(_) => out == Layout::Nchw,
        Op::Conv(c) => {
            let (x, wt) = (g.ty(ins[0]), g.ty(ins[1]));
            let weights = if c.residual { 3 } else { ins.len() };
            let weights_const = ins[1..weights].iter().all(|&v| g.constant(v).is_some());
            let res_ok = !c.residual || lay(3) == out;
            match out {
                Layout::Nchw => all_nchw(),
                Layout::Nhwc => {
                    res_ok
                        && weights_const
                        && x.rank() == 4
                        && (is_pointwise(c)
                            || is_depthwise(c, x.shape[1], wt.shape[0]) && lay(0) == Layout::Nhwc)
                }
            }
        }
        Op::GhostModule(gm) => match out {
            Layout::Nchw => all_nchw(),
            Layout::Nhwc => {
                is_pointwise(&gm.primary)
                    && gm.cheap.strides == [1, 1]
                    && ins[1..5].iter().all(|&v| g.constant(v).is_some())
                    && (!gm.residual || lay(5) == Layout::Nhwc)
            }
        },
        Op::SqueezeExcite(_) => lay(0) == out,
        Op::GlobalAveragePool => out == Layout::Nchw,
        _ => all_nchw(),
    };
    if !ok {
        let ins: Vec<String> = ins.iter().map(|&v| g.layout(v).to_string()).collect();
        return Err(format!(
            "no kernel for layouts ({}) -> {out}",
            ins.join(", ")
        ));
    }
    for (i, v) in ins.iter().enumerate() {
        if g.layout(*v) == Layout::Nhwc && g.ty(*v).rank() != 4 {
            return Err(format!("input {i} is nhwc but not 4-D"));
        }
    }
    Ok(())
}
