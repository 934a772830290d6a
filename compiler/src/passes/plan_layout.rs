//! Chooses each activation's memory layout: channels-last (NHWC) for the small planes of a
//! network's late stages, NCHW everywhere else.
//!
//! Why: the NCHW kernels vectorise along a row or plane, which a 7x7 or 14x14 plane fills badly
//! (a 7-wide row uses 7 of 16 AVX-512 lanes; stride 2 needs a permute per tap), while the NHWC
//! kernels vectorise over channels, which these stages have hundreds of. ARCHITECTURE.md has the
//! per-shape measurements behind the thresholds below.
//!
//! How: every 4-D output of an op that can write NHWC (`Op::can_write_nhwc`: a conv, Ghost
//! module, squeeze-and-excite or pool) with at least [`MIN_NHWC_CHANNELS`] channels starts as
//! NHWC (graph outputs stay NCHW) if its plane has at most [`MAX_NHWC_PLANE`] positions, or it
//! is a dense conv (`Conv::is_dense`, whose kernel is faster NHWC at any size: it stores
//! channel vectors instead of scattering them into planes), or its first input is NHWC. Then, until
//! nothing changes, every node that has no kernel for the layouts around it
//! (`ir::layout::check_node`) has its NHWC operands and results put back to NCHW (its result if
//! that is NHWC, else its operands). Only ever demoting, this ends: all-NCHW
//! is always legal. No transpose is ever inserted:
//! an NCHW-to-NHWC boundary is a pointwise or dense conv or Ghost module that reads NCHW and
//! writes NHWC (a dense conv also reads NHWC and writes NCHW),
//! and NHWC ends where a global average pool makes a 1x1 plane, where layouts coincide.

use std::collections::BTreeSet;

use petgraph::stable_graph::NodeIndex;

use crate::ir::layout::{check_node, Layout};
use crate::ir::{Graph, ValueRef};
use crate::ops::Op;

/// Largest plane (H x W) given NHWC: 14x14. At 28x28 the NCHW kernels fill their vectors.
pub const MAX_NHWC_PLANE: usize = 196;

/// Fewest channels given NHWC: one full AVX-512 vector.
pub const MIN_NHWC_CHANNELS: usize = 16;

pub fn plan_layout(g: &mut Graph) -> Result<bool, String> {
    let before = std::mem::take(&mut g.layouts);
    let order = g
        .topo_order()
        .map_err(|_| "the graph has a cycle".to_string())?;
    let outputs: BTreeSet<ValueRef> = g.outputs.iter().map(|(_, v)| *v).collect();
    for &n in &order {
        if !g.node(n).op.can_write_nhwc() {
            continue;
        }
        let v = ValueRef::new(n, 0);
        let s = &g.ty(v).shape;
        let small =
            (2..=MAX_NHWC_PLANE).contains(&(s.get(2).unwrap_or(&0) * s.get(3).unwrap_or(&0)));
        if s.len() == 4
            && (small || dense_conv(g, n) || reads_nhwc(g, n))
            && s[1] >= MIN_NHWC_CHANNELS
            && s[2] * s[3] >= 2
            && !outputs.contains(&v)
        {
            g.layouts.insert(v, Layout::Nhwc);
        }
    }
    loop {
        let mut changed = false;
        for &n in &order {
            if check_node(g, n).is_ok() {
                continue;
            }
            // An NHWC result no kernel can produce from these operands goes back to NCHW
            // first; if the result is NCHW already, the NHWC operands must go.
            let outs: Vec<ValueRef> = (0..g.node(n).outputs.len())
                .map(|p| ValueRef::new(n, p))
                .filter(|v| g.layout(*v) == Layout::Nhwc)
                .collect();
            let demote = if outs.is_empty() { g.inputs(n) } else { outs };
            for v in demote {
                changed |= g.layouts.remove(&v).is_some();
            }
        }
        if !changed {
            break;
        }
    }
    Ok(g.layouts != before)
}

/// A conv the dense kernel runs (`Conv::is_dense`, constant weights): NHWC at any plane size,
/// where it stores whole channel vectors instead of scattering them into planes.
fn dense_conv(g: &Graph, n: NodeIndex) -> bool {
    let Op::Conv(c) = &g.node(n).op else {
        return false;
    };
    g.inputs(n)
        .get(1)
        .is_some_and(|&w| g.constant(w).is_some() && c.is_dense(g.ty(w)))
}

/// The first input is NHWC already (its producer came earlier in the order): staying NHWC
/// avoids sending that producer back to NCHW.
fn reads_nhwc(g: &Graph, n: NodeIndex) -> bool {
    g.inputs(n)
        .first()
        .is_some_and(|&x| g.layout(x) == Layout::Nhwc)
}
