//! Chooses each activation's memory layout, channels-last (NHWC) or NCHW, from a cost model of
//! the kernels.
//!
//! Why: the NCHW kernels vectorise along a row (depthwise) or a plane (pointwise), which small
//! planes fill badly (a 7-wide row uses 7 of 16 AVX-512 lanes; stride 2 needs a permute per
//! tap), while the NHWC kernels vectorise over channels, which few-channel layers fill badly.
//! Which wins depends on the shape, not on a fixed plane size: at 28x28 a depthwise conv over 144
//! channels is twice as fast in NHWC and a pointwise conv down to 24 channels 1.4x slower.
//!
//! How: [`nhwc_gain`] predicts `ln(t_nchw / t_nhwc)` of a pointwise or depthwise conv from its
//! lane use in each layout, stride, kernel size and size, a log-linear fit to
//! `kernel_bench layout` (ARCHITECTURE.md, "Layout", has the fit and its figures). The layouts
//! kernels allow are not free per value: a depthwise conv has no NCHW-to-NHWC kernel, and only a
//! dense conv or a global pool leaves NHWC, so a value's layout drags its neighbours'. So the
//! pass compares whole legal plans: the values that may be NHWC (4-D results of ops with an
//! NHWC kernel, at least [`min_nhwc_channels`] channels and two pixels, graph outputs
//! excepted) in graph order, and for every position in that order the plan that starts NHWC
//! there (every value from it on, and every dense conv's result, NHWC: the dense kernel stores
//! channel vectors at any plane size), made legal, and scored by the time the model predicts
//! its NHWC convs save. The best plan wins; on a tie the one with more NHWC values, so the
//! ops without a cost of their own (pools, squeeze-excites, dense convs: NHWC is as fast or
//! faster for them) stay NHWC where their neighbours allow.
//!
//! Making a plan legal: until nothing changes, every node that has no kernel for the layouts
//! around it (`ir::layout::check_node`) has its NHWC operands and results put back to NCHW (its
//! result if that is NHWC, else its operands). Only ever demoting, this ends: all-NCHW is always
//! legal. No transpose is ever inserted: an NCHW-to-NHWC boundary is a conv or Ghost module that
//! reads NCHW and writes NHWC, and NHWC ends at a dense conv writing NCHW or a global average
//! pool (a 1x1 plane looks the same in both).

use std::collections::{BTreeMap, BTreeSet};

use petgraph::stable_graph::NodeIndex;

use crate::ir::layout::{check_node, Layout};
use crate::ir::{Graph, ValueRef};
use crate::ops::Op;
use crate::target::Target;

/// NCHW throughput (GFLOP/s, medians of the `kernel_bench layout` grid) of pointwise and
/// depthwise convs: converts multiply-adds into time, to weigh one conv's gain against
/// another's.
const NCHW_GFLOPS: (f64, f64) = (90.0, 17.0);

/// The shape of one conv, as the cost model sees it.
#[derive(Clone, Copy, Debug)]
pub struct ConvShape {
    pub depthwise: bool,
    pub c_in: usize,
    pub c_out: usize,
    pub h_in: usize,
    pub h_out: usize,
    pub w_out: usize,
    pub kernel: usize,
    pub stride: usize,
}

impl ConvShape {
    fn macs(&self) -> f64 {
        let per = if self.depthwise {
            self.kernel * self.kernel
        } else {
            self.c_in
        };
        (self.h_out * self.w_out * self.c_out * per) as f64
    }
}

/// Predicted `ln(t_nchw / t_nhwc)` on `target`: above 0 when the NHWC kernel is faster. The
/// coefficients are a least-squares fit to `kernel_bench layout` with AVX-512 (72 pointwise and
/// 208 depthwise shapes, planes 112x112 to 7x7, 8 to 1152 channels): choosing by it costs 0.7%
/// of the best-layout time on the pointwise grid and 3.2% on the depthwise one, against 4% and
/// 24% for the fixed rule it replaced (NHWC for planes up to 14x14 with 16 channels or more).
/// Other targets keep the fit and change only the lane count the lane-use terms are measured
/// against: the term that makes the layouts differ is how full each fills its vectors, and
/// no other target here can be timed (AArch64 runs only under an emulator).
pub fn nhwc_gain(c: &ConvShape, target: &Target) -> f64 {
    let lane_use = |n| target.lane_use(n);
    let ln = |x: usize| (x.max(1) as f64).ln();
    if c.depthwise {
        // NCHW vectorises along the output row, NHWC over the channels.
        let lanes = (lane_use(c.w_out) / lane_use(c.c_out)).ln();
        1.603 - 0.963 * lanes
            + if c.stride >= 2 { 0.34 } else { 0.0 }
            + if c.kernel >= 5 { 0.366 } else { 0.0 }
            - 0.433 * ln(c.h_in)
    } else {
        // NCHW vectorises along the plane, NHWC over the output channels.
        let lanes = (lane_use(c.h_out * c.w_out) / lane_use(c.c_out)).ln();
        0.649 - 1.924 * lanes - 0.099 * ln(c.c_out) + 0.002 * ln(c.h_in) - 0.027 * ln(c.c_in)
    }
}

/// Predicted NCHW time minus NHWC time of a conv, in microseconds of the calibration machine
/// (only its sign and relative size matter).
fn nhwc_saving(c: &ConvShape, target: &Target) -> f64 {
    let rate = if c.depthwise {
        NCHW_GFLOPS.1
    } else {
        NCHW_GFLOPS.0
    };
    let t_nchw = 2.0 * c.macs() / rate / 1e3;
    t_nchw * (1.0 - (-nhwc_gain(c, target)).exp())
}

/// The convs node `n` runs, for the cost model: a pointwise or depthwise conv, or a Ghost
/// module's two halves. Other ops (dense convs included) have no NHWC cost of their own.
fn conv_shapes(g: &Graph, n: NodeIndex) -> Vec<ConvShape> {
    let (Some(&x), Some(y)) = (g.inputs(n).first(), g.node(n).outputs.first()) else {
        return Vec::new();
    };
    let (xs, ys) = (&g.ty(x).shape, &y.shape);
    if xs.len() != 4 || ys.len() != 4 {
        return Vec::new();
    }
    let shape = |conv: &crate::ops::Conv, c_in: usize, c_out: usize, h_in: usize| ConvShape {
        depthwise: conv.is_depthwise(c_in),
        c_in,
        c_out,
        h_in,
        h_out: ys[2],
        w_out: ys[3],
        kernel: conv.kernel[0].max(conv.kernel[1]),
        stride: conv.strides[0].max(conv.strides[1]),
    };
    match &g.node(n).op {
        Op::Conv(c) if c.is_pointwise() || c.is_depthwise(xs[1]) => {
            vec![shape(c, xs[1], ys[1], xs[2])]
        }
        Op::GhostModule(m) => vec![
            shape(&m.primary, xs[1], m.init, xs[2]),
            shape(&m.cheap, m.init, m.init, ys[2]),
        ],
        _ => Vec::new(),
    }
}

/// Predicted time saved by running node `n` in NHWC (0 for ops without a cost model).
fn saving(g: &Graph, n: NodeIndex, target: &Target) -> f64 {
    conv_shapes(g, n)
        .iter()
        .map(|c| nhwc_saving(c, target))
        .sum()
}

/// Fewest channels given NHWC: one full vector of the target.
pub fn min_nhwc_channels(target: &Target) -> usize {
    target.vector_lanes
}

/// Plans whose predicted savings differ by less than this (microseconds) are a tie.
const TIE_US: f64 = 1e-6;

pub fn plan_layout(g: &mut Graph, target: &Target) -> Result<bool, String> {
    let min_channels = min_nhwc_channels(target);
    let before = std::mem::take(&mut g.layouts);
    // Without vector kernels, NCHW throughout: the portable table's NHWC convs were faster on
    // 5 of the 280 shapes of `kernel_bench layout` (GHOSTC_KERNELS=portable), and took a median
    // 1.33x the NCHW time pointwise and 2.55x depthwise (built without autovectorisation:
    // pointwise a tie, depthwise NCHW faster on 207 of 208); the fit below, made for vectors,
    // would pick NHWC for most of them.
    if target.vector_lanes <= 1 {
        return Ok(!before.is_empty());
    }
    let order = g
        .topo_order()
        .map_err(|_| "the graph has a cycle".to_string())?;
    let outputs: BTreeSet<ValueRef> = g.outputs.iter().map(|(_, v)| *v).collect();
    let eligible: Vec<ValueRef> = order
        .iter()
        .filter(|&&n| g.node(n).op.can_write_nhwc())
        .map(|&n| ValueRef::new(n, 0))
        .filter(|v| {
            let s = &g.ty(*v).shape;
            s.len() == 4 && s[1] >= min_channels && s[2] * s[3] >= 2 && !outputs.contains(v)
        })
        .collect();
    let dense: Vec<ValueRef> = eligible
        .iter()
        .copied()
        .filter(|v| dense_conv(g, v.node))
        .collect();
    // From the plan with the most NHWC values to the one with the fewest (dense convs only).
    let mut best: Option<(f64, BTreeMap<ValueRef, Layout>)> = None;
    for start in 0..=eligible.len() {
        g.layouts = dense
            .iter()
            .chain(&eligible[start..])
            .map(|&v| (v, Layout::Nhwc))
            .collect();
        legalize(g, &order);
        let saved: f64 = g.layouts.keys().map(|v| saving(g, v.node, target)).sum();
        if best.as_ref().is_none_or(|(s, _)| saved > s + TIE_US) {
            best = Some((saved, g.layouts.clone()));
        }
    }
    g.layouts = best.map(|(_, l)| l).unwrap_or_default();
    Ok(g.layouts != before)
}

/// Demotes NHWC values until every node has a kernel for the layouts around it.
fn legalize(g: &mut Graph, order: &[NodeIndex]) {
    loop {
        let mut changed = false;
        for &n in order {
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
