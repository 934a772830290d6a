//! Lowering: the planned IR becomes the list of runtime kernel calls that `forward` makes, each a
//! [`Kernel`] with typed parameters and the places its operands live (arena ranges, weight ranges,
//! graph inputs). Lowering decides every number the generated code contains and builds the
//! weights blob; emission (`back::call`) only spells the calls. [`Kernel::runtime_fn`] and
//! [`RuntimeType::name`] are the only places the runtime's kernel functions and parameter types
//! are named. `--emit kernels` prints the list ([`Lowered::to_text`]).

use std::fmt::{self, Write as _};
use std::ops::Range;

use petgraph::stable_graph::NodeIndex;

use super::weights::Weights;
use crate::analysis::memory::{runs_in_place, MemoryPlan, Storage};
use crate::error::{Error, Result};
use crate::ir::layout::{Layout, LayoutOperand, Packing};
use crate::ir::text::numbering;
use crate::ir::{Graph, ValueRef};
use crate::ops::elementwise::broadcast_strides;
use crate::ops::fused::ExpandDepthwise as FusedExpandDepthwise;
use crate::ops::pool::{Pool, PoolKind};
use crate::ops::resize::{CoordTransform, ResizeMode};
use crate::ops::{Activation, BinaryOp, Conv, Op};
use crate::passes::fold_batch_norm;

/// The program: every kernel call in execution order, where the graph outputs are read from, and
/// the weights blob that [`Operand::Weights`] ranges index.
#[derive(Debug, Default)]
pub struct Lowered {
    pub calls: Vec<KernelCall>,
    /// One per graph output, in `Graph::outputs` order (an arena or a weights range).
    pub outputs: Vec<Operand>,
    pub weights: Weights,
}

/// One call of a runtime kernel on behalf of IR node `node` (a node lowers to one call, or to
/// one per output piece for Split).
#[derive(Clone, Debug, PartialEq)]
pub struct KernelCall {
    pub node: NodeIndex,
    pub kernel: Kernel,
    /// What the kernel reads, in the order of its parameters; optional operands (bias,
    /// residual, Gemm's C) are present or not.
    pub inputs: Vec<Operand>,
    /// The arena range (in f32s) the kernel writes.
    pub output: Range<usize>,
}

/// Where a kernel operand lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operand {
    /// f32s of the arena.
    Arena(Range<usize>),
    /// f32s of the weights blob.
    Weights(Range<usize>),
    /// The call's own output range: the kernel updates it in place.
    InPlace,
    /// Graph input `k` (a parameter of `run`).
    GraphInput(usize),
}

/// A runtime kernel with its parameters. Operands (see [`KernelCall::inputs`]) are listed per
/// variant.
#[derive(Clone, Debug, PartialEq)]
pub enum Kernel {
    /// Copies a graph input into the arena, subnormals flushed to zero: a subnormal input would
    /// otherwise make every later layer run on subnormals, several times slower. `[input]`.
    LoadInput,
    /// NCHW convolution. `[x, w, bias?, residual?]`.
    Conv2d(Conv2d),
    /// Convolution writing NHWC, from NCHW (`input_nchw`) or NHWC. `[x, w, bias?, residual?]`.
    Conv2dNhwc { params: Conv2d, input_nchw: bool },
    /// Dense (one group) convolution with [`Packing::Dense`] weights, each side NCHW or NHWC.
    /// `[x, w, bias?, residual?]`.
    Conv2dDense {
        params: Conv2d,
        input_nhwc: bool,
        output_nhwc: bool,
    },
    /// Winograd F(4x4, 3x3) convolution (3x3, stride 1, one group) with [`Packing::Winograd`]
    /// weights, NHWC in and out. `[x, w, bias?, residual?]`.
    Conv2dWinograd { params: Conv2d },
    /// NCHW Ghost module. `[x, w1, b1, w2, b2, residual?]`.
    GhostModule(GhostModule),
    /// Ghost module writing NHWC. `[x, w1, b1, w2, b2, residual?]`.
    GhostModuleNhwc {
        params: GhostModule,
        input_nchw: bool,
    },
    /// NCHW expansion + depthwise conv, block by block, with `scratch` (arena f32s, its own
    /// range, [`ExpandDepthwise::scratch_len`] long). `[x, w1, b1, w2, b2]`.
    ExpandDepthwise {
        params: ExpandDepthwise,
        scratch: Range<usize>,
    },
    /// NHWC expansion + depthwise conv, a strip of output rows at a time, with `scratch` (as
    /// for [`Kernel::ExpandDepthwise`], [`ExpandDepthwiseNhwc::scratch_len`] long).
    /// `[x, w1, b1, w2, b2]`.
    ExpandDepthwiseNhwc {
        params: ExpandDepthwiseNhwc,
        input_nchw: bool,
        scratch: Range<usize>,
    },
    /// Squeeze-and-excite. `[x (or in place), w1, b1, w2, b2]`.
    SqueezeExcite {
        params: SqueezeExcite,
        nhwc: bool,
        in_place: bool,
    },
    /// `x * upsample(gate)`. `[x (or in place), gate]`.
    GateUpsample {
        params: GateUpsample,
        nhwc: bool,
        in_place: bool,
    },
    /// `[x (or in place)]`.
    Activation { act: Activation, in_place: bool },
    /// `y = x * scale + shift` per channel: a BatchNorm that survived the passes, folded here
    /// (`fold_batch_norm::scale_shift`). `[x]`.
    ChannelAffine {
        n: usize,
        c: usize,
        spatial: usize,
        scale: Range<usize>,
        shift: Range<usize>,
    },
    /// Elementwise with broadcasting (strides 0 on broadcast dims). `[a, b]`.
    Binary {
        op: BinaryOp,
        a_strides: Vec<usize>,
        b_strides: Vec<usize>,
        shape: Vec<usize>,
    },
    /// Strided 2-D copies into the output (Concat: one per input; Split: one per call).
    /// `[the inputs the copies name]`.
    Copy2d(Vec<Copy2d>),
    /// `[x]`.
    Slice {
        shape: Vec<usize>,
        starts: Vec<usize>,
        steps: Vec<isize>,
        out_shape: Vec<usize>,
    },
    /// `[x]`.
    Transpose { shape: Vec<usize>, perm: Vec<usize> },
    /// Mean of each of `channels` NCHW planes. `[x]`.
    GlobalAvgPool { channels: usize, spatial: usize },
    /// Mean over the pixels of an NHWC tensor. `[x]`.
    GlobalAvgPoolNhwc { n: usize, c: usize, spatial: usize },
    /// `[x]`.
    MaxPool2d(Pool2d),
    /// MaxPool on NHWC data. `[x]`.
    MaxPool2dNhwc(Pool2d),
    /// `[x]`.
    AvgPool2d(Pool2d),
    /// AveragePool on NHWC data. `[x]`.
    AvgPool2dNhwc(Pool2d),
    /// `[x]`.
    Resize(Resize),
    /// Resize of NHWC data. `[x]`.
    ResizeNhwc(Resize),
    /// `[x]`.
    ReduceMean { shape: Vec<usize>, axes: Vec<usize> },
    /// `[a, b, c?]`.
    Gemm(Gemm),
    /// Batched matrix product; a stride of 0 broadcasts that operand. `[a, b]`.
    MatMul {
        batch: usize,
        m: usize,
        n: usize,
        k: usize,
        a_stride: usize,
        b_stride: usize,
    },
    /// Softmax over the middle of `[outer, len, inner]`. `[x]`.
    Softmax {
        outer: usize,
        len: usize,
        inner: usize,
    },
}

impl Kernel {
    /// The `ghostc_runtime` function the call names. With [`RuntimeType::name`] the only place
    /// generated code's kernel names are spelled.
    pub fn runtime_fn(&self) -> &'static str {
        match self {
            Kernel::LoadInput => "load_input",
            Kernel::Conv2d(_) => "conv2d",
            Kernel::Conv2dNhwc { .. } => "conv2d_nhwc",
            Kernel::Conv2dDense { .. } => "conv2d_dense",
            Kernel::Conv2dWinograd { .. } => "conv2d_winograd",
            Kernel::GhostModule(_) => "ghost_module",
            Kernel::GhostModuleNhwc { .. } => "ghost_module_nhwc",
            Kernel::ExpandDepthwise { .. } => "expand_depthwise",
            Kernel::ExpandDepthwiseNhwc { .. } => "expand_depthwise_nhwc",
            Kernel::SqueezeExcite { nhwc: false, .. } => "squeeze_excite",
            Kernel::SqueezeExcite { nhwc: true, .. } => "squeeze_excite_nhwc",
            Kernel::GateUpsample { nhwc: false, .. } => "gate_upsample",
            Kernel::GateUpsample { nhwc: true, .. } => "gate_upsample_nhwc",
            Kernel::Activation { .. } => "activation",
            Kernel::ChannelAffine { .. } => "channel_affine",
            Kernel::Binary { .. } => "binary",
            Kernel::Copy2d(_) => "copy_2d",
            Kernel::Slice { .. } => "slice",
            Kernel::Transpose { .. } => "transpose",
            Kernel::GlobalAvgPool { .. } => "global_avg_pool",
            Kernel::GlobalAvgPoolNhwc { .. } => "global_avg_pool_nhwc",
            Kernel::MaxPool2d(_) => "max_pool2d",
            Kernel::AvgPool2d(_) => "avg_pool2d",
            Kernel::MaxPool2dNhwc(_) => "max_pool2d_nhwc",
            Kernel::AvgPool2dNhwc(_) => "avg_pool2d_nhwc",
            Kernel::Resize(_) => "resize",
            Kernel::ResizeNhwc(_) => "resize_nhwc",
            Kernel::ReduceMean { .. } => "reduce_mean",
            Kernel::Gemm(_) => "gemm",
            Kernel::MatMul { .. } => "matmul",
            Kernel::Softmax { .. } => "softmax",
        }
    }

    /// True if the function takes the thread handle (`Par`) first and splits its work.
    pub fn takes_par(&self) -> bool {
        matches!(
            self,
            Kernel::Conv2d(_)
                | Kernel::Conv2dNhwc { .. }
                | Kernel::Conv2dDense { .. }
                | Kernel::Conv2dWinograd { .. }
                | Kernel::GhostModule(_)
                | Kernel::GhostModuleNhwc { .. }
                | Kernel::ExpandDepthwise { .. }
                | Kernel::ExpandDepthwiseNhwc { .. }
                | Kernel::Gemm(_)
        )
    }
}

/// The `ghostc_runtime` types kernel calls name: parameter structs and the enums inside them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeType {
    Activation,
    BinaryOp,
    Conv2d,
    CoordTransform,
    ExpandDepthwise,
    ExpandDepthwiseNhwc,
    GateUpsample,
    Gemm,
    GhostModule,
    InOut,
    NearestRounding,
    Pool2d,
    Resize,
    ResizeMode,
    SqueezeExcite,
}

impl RuntimeType {
    /// The type's name at the runtime's root.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeType::Activation => "Activation",
            RuntimeType::BinaryOp => "BinaryOp",
            RuntimeType::Conv2d => "Conv2d",
            RuntimeType::CoordTransform => "CoordTransform",
            RuntimeType::ExpandDepthwise => "ExpandDepthwise",
            RuntimeType::ExpandDepthwiseNhwc => "ExpandDepthwiseNhwc",
            RuntimeType::GateUpsample => "GateUpsample",
            RuntimeType::Gemm => "Gemm",
            RuntimeType::GhostModule => "GhostModule",
            RuntimeType::InOut => "InOut",
            RuntimeType::NearestRounding => "NearestRounding",
            RuntimeType::Pool2d => "Pool2d",
            RuntimeType::Resize => "Resize",
            RuntimeType::ResizeMode => "ResizeMode",
            RuntimeType::SqueezeExcite => "SqueezeExcite",
        }
    }
}

/// `ghostc_runtime::Conv2d`: one convolution of `n` images (`act` `None` is the runtime's
/// `Activation::None`).
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    pub n: usize,
    pub c_in: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub c_out: usize,
    pub h_out: usize,
    pub w_out: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Top and left (the runtime derives bottom and right from the output size).
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
    pub group: usize,
    pub act: Option<Activation>,
}

/// `ghostc_runtime::GhostModule`: the primary conv writes the first channels of the output, the
/// cheap depthwise conv reads them and writes the rest.
#[derive(Clone, Debug, PartialEq)]
pub struct GhostModule {
    pub primary: Conv2d,
    pub cheap: Conv2d,
}

/// `ghostc_runtime::ExpandDepthwise`: `block` expanded channels at a time.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpandDepthwise {
    pub expand: Conv2d,
    pub depthwise: Conv2d,
    pub block: usize,
}

impl ExpandDepthwise {
    /// f32s of scratch after the output: `block` expanded planes.
    pub fn scratch_len(&self) -> usize {
        self.block * self.expand.h_out * self.expand.w_out
    }
}

/// `ghostc_runtime::ExpandDepthwiseNhwc`: `rows` output rows a strip.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpandDepthwiseNhwc {
    pub expand: Conv2d,
    pub depthwise: Conv2d,
    pub rows: usize,
}

impl ExpandDepthwiseNhwc {
    /// f32s of scratch after the output: the expanded rows of one strip, as the runtime's
    /// `ExpandDepthwiseNhwc::scratch_len` counts them.
    pub fn scratch_len(&self) -> usize {
        let d = &self.depthwise;
        let span = self.rows.saturating_sub(1) * d.stride[0]
            + d.kernel[0].saturating_sub(1) * d.dilation[0]
            + 1;
        span.min(d.h_in) * d.w_in * d.c_in
    }
}

/// `ghostc_runtime::SqueezeExcite`.
#[derive(Clone, Debug, PartialEq)]
pub struct SqueezeExcite {
    pub n: usize,
    pub c: usize,
    pub spatial: usize,
    pub mid: usize,
    pub act: Option<Activation>,
    pub gate: Option<Activation>,
}

impl SqueezeExcite {
    /// f32s of scratch the kernel needs (the channel means and the hidden layer).
    pub fn scratch_len(&self) -> usize {
        self.c + self.mid
    }
}

/// `ghostc_runtime::GateUpsample`.
#[derive(Clone, Debug, PartialEq)]
pub struct GateUpsample {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub factor: [usize; 2],
}

/// `ghostc_runtime::Pool2d`.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool2d {
    pub n: usize,
    pub c: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub h_out: usize,
    pub w_out: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Top, left, bottom, right.
    pub pads: [usize; 4],
    pub dilation: [usize; 2],
    pub count_include_pad: bool,
}

/// `ghostc_runtime::Resize`.
#[derive(Clone, Debug, PartialEq)]
pub struct Resize {
    pub n: usize,
    pub c: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub h_out: usize,
    pub w_out: usize,
    pub scales: [f32; 2],
    pub mode: ResizeMode,
    pub coord: CoordTransform,
}

/// `ghostc_runtime::Gemm`.
#[derive(Clone, Debug, PartialEq)]
pub struct Gemm {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    pub alpha: f32,
    pub beta: f32,
    /// Strides of C over the rows and columns of the output (0 where C broadcasts).
    pub c_strides: [usize; 2],
}

/// One `copy_2d`: `rows` rows of `len` f32s from input `src` (starting at `src_offset`, rows
/// `src_stride` apart) to the output (at `dst_offset`, rows `dst_stride` apart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copy2d {
    pub src: usize,
    pub src_offset: usize,
    pub src_stride: usize,
    pub dst_offset: usize,
    pub dst_stride: usize,
    pub rows: usize,
    pub len: usize,
}

/// Lowers every node of `g` (in `ir::text::numbering` order, the order `plan` was made for) to
/// kernel calls, packing the constants they read into the weights blob in that order.
pub fn lower(g: &Graph, plan: &MemoryPlan) -> Result<Lowered> {
    let (order, _) = numbering(g);
    let mut lowered = Lowered::default();
    for n in order {
        let node = g.node(n);
        let calls = lower_node(g, plan, &mut lowered.weights, n)
            .map_err(|e| Error::Emit(format!("node '{}' ({}): {e}", node.name, node.op.name())))?;
        lowered.calls.extend(calls);
    }
    for (_, v) in &g.outputs {
        let src =
            resolve(g, plan, &mut lowered.weights, *v, Packing::Plain).map_err(Error::Emit)?;
        lowered.outputs.push(src);
    }
    Ok(lowered)
}

/// Where value `v` is read from: its arena range, or its constant packed into the weights.
fn resolve(
    g: &Graph,
    plan: &MemoryPlan,
    weights: &mut Weights,
    v: ValueRef,
    packing: Packing,
) -> Result<Operand, String> {
    match plan.storage.get(&v).copied() {
        Some(Storage::Const(n)) => {
            let t = g.constant(ValueRef::new(n, 0)).ok_or("constant expected")?;
            let data = t.as_f32().ok_or_else(|| {
                format!("integer constant {} is read at run time", g.node(n).name)
            })?;
            let (offset, len) = weights.node(n, packing, data, &t.shape);
            Ok(Operand::Weights(offset..offset + len))
        }
        Some(Storage::Arena { offset, len }) => Ok(Operand::Arena(offset..offset + len)),
        None => Err("value has no storage".into()),
    }
}

/// The operands of node `n` (one per input port, constants packed as its op wants them; the
/// first is [`Operand::InPlace`] when the node runs in place) and the range its output `out`
/// is written to.
fn operands(
    g: &Graph,
    plan: &MemoryPlan,
    weights: &mut Weights,
    n: NodeIndex,
    out: ValueRef,
) -> Result<(Vec<Operand>, Range<usize>), String> {
    let op = &g.node(n).op;
    let out_layout = g.layout(ValueRef::new(n, 0));
    let out_ty = g.ty(ValueRef::new(n, 0));
    let layout_ops = layout_operands(g, n);
    let in_place = runs_in_place(plan, g, n);
    let mut inputs = Vec::new();
    for (port, v) in g.inputs(n).into_iter().enumerate() {
        inputs.push(if in_place && port == 0 {
            Operand::InPlace
        } else {
            let packing = op.packing(port, &layout_ops, out_ty, out_layout);
            resolve(g, plan, weights, v, packing)?
        });
    }
    let Some(Storage::Arena { offset, len }) = plan.storage.get(&out).copied() else {
        return Err("output is not in the arena".into());
    };
    Ok((inputs, offset..offset + len))
}

/// The inputs of node `n` as layout checking and packing see them.
fn layout_operands(g: &Graph, n: NodeIndex) -> Vec<LayoutOperand<'_>> {
    g.inputs(n)
        .into_iter()
        .map(|v| LayoutOperand {
            ty: g.ty(v),
            layout: g.layout(v),
            constant: g.constant(v).is_some(),
        })
        .collect()
}

/// `[n, c, h, w]` of a rank-4 shape.
fn dims4(shape: &[usize]) -> Result<[usize; 4], String> {
    shape
        .try_into()
        .map_err(|_| format!("expected a rank-4 shape, got {shape:?}"))
}

/// `[rows, cols]` of a rank-2 shape.
fn dims2(shape: &[usize]) -> Result<[usize; 2], String> {
    shape
        .try_into()
        .map_err(|_| format!("expected a rank-2 shape, got {shape:?}"))
}

/// Elements before `axis`, the axis' size and elements after it.
fn around_axis(shape: &[usize], axis: usize) -> Result<(usize, usize, usize), String> {
    let dim = *shape
        .get(axis)
        .ok_or_else(|| format!("axis {axis} out of range for {shape:?}"))?;
    let (before, after) = (&shape[..axis], &shape[axis + 1..]);
    Ok((before.iter().product(), dim, after.iter().product()))
}

impl Conv2d {
    /// Conv `c` over `input` `[n, c_in, h, w]`, with `c_out` outputs of `out_hw`.
    fn new(c: &Conv, input: [usize; 4], c_out: usize, out_hw: [usize; 2]) -> Self {
        let [n, c_in, h_in, w_in] = input;
        let [h_out, w_out] = out_hw;
        Conv2d {
            n,
            c_in,
            h_in,
            w_in,
            c_out,
            h_out,
            w_out,
            kernel: c.kernel,
            stride: c.strides,
            pad: [c.pads[0], c.pads[1]],
            dilation: c.dilations,
            group: c.group,
            act: c.act,
        }
    }
}

impl Pool2d {
    fn new(p: &Pool, input: [usize; 4], out_hw: [usize; 2]) -> Self {
        let [n, c, h_in, w_in] = input;
        let [h_out, w_out] = out_hw;
        Pool2d {
            n,
            c,
            h_in,
            w_in,
            h_out,
            w_out,
            kernel: p.kernel,
            stride: p.strides,
            pads: p.pads,
            dilation: p.dilations,
            count_include_pad: matches!(
                p.kind,
                PoolKind::Avg {
                    count_include_pad: true
                }
            ),
        }
    }
}

/// The calls computing node `n` (none for constants and aliases).
fn lower_node(
    g: &Graph,
    plan: &MemoryPlan,
    weights: &mut Weights,
    n: NodeIndex,
) -> Result<Vec<KernelCall>, String> {
    let node = g.node(n);
    let ins = g.inputs(n);
    let shape = |i: usize| -> Vec<usize> {
        ins.get(i)
            .map(|&v| g.ty(v).shape.clone())
            .unwrap_or_default()
    };
    let out_v = ValueRef::new(n, 0);
    let out_shape = g.ty(out_v).shape.clone();
    let out_hw = || -> Result<[usize; 2], String> {
        let [_, _, h, w] = dims4(&out_shape)?;
        Ok([h, w])
    };
    let nhwc = g.layout(out_v) == Layout::Nhwc;
    let input_nchw = ins.first().is_some_and(|&v| g.layout(v) == Layout::Nchw);
    let call = |kernel, (inputs, output)| KernelCall {
        node: n,
        kernel,
        inputs,
        output,
    };

    let kernel = match &node.op {
        Op::Const(_) => return Ok(Vec::new()), // read from the weights by its users
        Op::Flatten { .. }
        | Op::Reshape { .. }
        | Op::Squeeze { .. }
        | Op::Unsqueeze { .. }
        | Op::Identity
        | Op::Dropout => {
            // The memory plan gives the output its input's range.
            debug_assert!(node.op.storage().is_alias());
            return Ok(Vec::new());
        }
        Op::Split { axis, sizes } => {
            // One copy per output piece, each written to its own range.
            let (outer, dim, inner) = around_axis(&shape(0), *axis)?;
            let mut calls = Vec::new();
            let mut start = 0;
            for (piece, &size) in sizes.iter().enumerate() {
                let copy = Copy2d {
                    src: 0,
                    src_offset: start * inner,
                    src_stride: dim * inner,
                    dst_offset: 0,
                    dst_stride: size * inner,
                    rows: outer,
                    len: size * inner,
                };
                let ops = operands(g, plan, weights, n, ValueRef::new(n, piece))?;
                calls.push(call(Kernel::Copy2d(vec![copy]), ops));
                start += size;
            }
            return Ok(calls);
        }
        Op::Input => {
            let (_, output) = operands(g, plan, weights, n, out_v)?;
            let k = g
                .inputs
                .iter()
                .position(|&x| x == n)
                .ok_or("unlisted graph input")?;
            let inputs = vec![Operand::GraphInput(k)];
            return Ok(vec![call(Kernel::LoadInput, (inputs, output))]);
        }
        Op::BatchNorm { epsilon } => {
            // Resolving every port packs gamma, beta, mean and var into the blob although the
            // call reads only x and the folded scale and shift (kept: the blob stays as it was).
            let (inputs, output) = operands(g, plan, weights, n, out_v)?;
            let param = |i: usize| {
                ins.get(i)
                    .and_then(|&v| g.constant(v))
                    .and_then(|t| t.as_f32())
                    .ok_or("batch norm parameters must be constants")
            };
            let (scale, shift) =
                fold_batch_norm::scale_shift(param(1)?, param(2)?, param(3)?, param(4)?, *epsilon);
            let ((so, sl), (ho, hl)) = (weights.push(&scale), weights.push(&shift));
            let x = shape(0);
            let (&batch, &c) = x.first().zip(x.get(1)).ok_or("input must have rank >= 2")?;
            let kernel = Kernel::ChannelAffine {
                n: batch,
                c,
                spatial: x[2..].iter().product(),
                scale: so..so + sl,
                shift: ho..ho + hl,
            };
            return Ok(vec![call(
                kernel,
                (inputs.into_iter().take(1).collect(), output),
            )]);
        }
        Op::Conv(c) => {
            let c_out = *shape(1).first().ok_or("conv weight has no dims")?;
            let params = Conv2d::new(c, dims4(&shape(0))?, c_out, out_hw()?);
            let w_const = ins.get(1).is_some_and(|&w| g.constant(w).is_some());
            if c.is_winograd(&layout_operands(g, n), g.ty(out_v), g.layout(out_v)) {
                Kernel::Conv2dWinograd { params }
            } else if w_const
                && ins
                    .get(1)
                    .is_some_and(|&w| c.is_dense_at(g.ty(w), g.layout(out_v)))
            {
                Kernel::Conv2dDense {
                    params,
                    input_nhwc: !input_nchw,
                    output_nhwc: nhwc,
                }
            } else if nhwc {
                Kernel::Conv2dNhwc { params, input_nchw }
            } else {
                Kernel::Conv2d(params)
            }
        }
        Op::GhostModule(gm) => {
            let [batch, ..] = dims4(&shape(0))?;
            let cheap_c = gm.keep - gm.init;
            let hw = out_hw()?;
            let params = GhostModule {
                primary: Conv2d::new(&gm.primary, dims4(&shape(0))?, gm.init, hw),
                cheap: Conv2d::new(&gm.cheap, [batch, cheap_c, hw[0], hw[1]], cheap_c, hw),
            };
            if nhwc {
                Kernel::GhostModuleNhwc { params, input_nchw }
            } else {
                Kernel::GhostModule(params)
            }
        }
        Op::ExpandDepthwise(ed) => {
            let input = dims4(&shape(0))?;
            let [batch, _, h, w] = input;
            let c = *shape(1).first().ok_or("expansion weight has no dims")?;
            let params = ExpandDepthwise {
                expand: Conv2d::new(&ed.expand, input, c, [h, w]),
                depthwise: Conv2d::new(&ed.depthwise, [batch, c, h, w], c, out_hw()?),
                block: FusedExpandDepthwise::block(c, h * w),
            };
            // The scratch range the memory plan gave the node (`Op::scratch_len`).
            let scratch = plan.scratch(n).ok_or("no scratch planned")?;
            if nhwc {
                let params = ExpandDepthwiseNhwc {
                    expand: params.expand,
                    depthwise: params.depthwise,
                    rows: ed.strip_rows(c, w),
                };
                if scratch.len() < params.scratch_len() {
                    return Err("planned scratch is too short".into());
                }
                Kernel::ExpandDepthwiseNhwc {
                    params,
                    input_nchw,
                    scratch,
                }
            } else {
                if scratch.len() < params.scratch_len() {
                    return Err("planned scratch is too short".into());
                }
                Kernel::ExpandDepthwise { params, scratch }
            }
        }
        Op::SqueezeExcite(se) => {
            let [batch, c, h, w] = dims4(&shape(0))?;
            let mid = *shape(1)
                .first()
                .ok_or("squeeze-excite weight has no dims")?;
            Kernel::SqueezeExcite {
                params: SqueezeExcite {
                    n: batch,
                    c,
                    spatial: h * w,
                    mid,
                    act: se.act,
                    gate: se.gate,
                },
                nhwc,
                in_place: runs_in_place(plan, g, n),
            }
        }
        Op::GateUpsample(gu) => {
            let [batch, c, h, w] = dims4(&shape(0))?;
            Kernel::GateUpsample {
                params: GateUpsample {
                    n: batch,
                    c,
                    h,
                    w,
                    factor: gu.factor,
                },
                nhwc,
                in_place: runs_in_place(plan, g, n),
            }
        }
        Op::Activation(act) => Kernel::Activation {
            act: *act,
            in_place: runs_in_place(plan, g, n),
        },
        Op::Binary(op) => Kernel::Binary {
            op: *op,
            a_strides: broadcast_strides(&shape(0), &out_shape),
            b_strides: broadcast_strides(&shape(1), &out_shape),
            shape: out_shape.clone(),
        },
        Op::Concat { axis } => {
            let (rows, dim, inner) = around_axis(&out_shape, *axis)?;
            let mut copies = Vec::new();
            let mut start = 0;
            for src in 0..ins.len() {
                let (_, size, _) = around_axis(&shape(src), *axis)?;
                let len = size * inner;
                copies.push(Copy2d {
                    src,
                    src_offset: 0,
                    src_stride: len,
                    dst_offset: start,
                    dst_stride: dim * inner,
                    rows,
                    len,
                });
                start += len;
            }
            Kernel::Copy2d(copies)
        }
        Op::Slice { axes } => {
            let x = shape(0);
            let mut starts = vec![0usize; x.len()];
            let mut steps = vec![1isize; x.len()];
            for a in axes {
                let (start, step) = starts
                    .get_mut(a.axis)
                    .zip(steps.get_mut(a.axis))
                    .ok_or("slice axis out of range")?;
                *start = a.start;
                *step = isize::try_from(a.step).map_err(|_| "slice step out of range")?;
            }
            Kernel::Slice {
                shape: x,
                starts,
                steps,
                out_shape: out_shape.clone(),
            }
        }
        Op::GlobalAveragePool => {
            let x = shape(0);
            let (&batch, &c) = x.first().zip(x.get(1)).ok_or("input must have rank >= 2")?;
            let spatial = x[2..].iter().product();
            if input_nchw {
                Kernel::GlobalAvgPool {
                    channels: batch * c,
                    spatial,
                }
            } else {
                Kernel::GlobalAvgPoolNhwc {
                    n: batch,
                    c,
                    spatial,
                }
            }
        }
        Op::ReduceMean { axes, .. } => Kernel::ReduceMean {
            shape: shape(0),
            axes: axes.clone(),
        },
        Op::Pool(p) => {
            let params = Pool2d::new(p, dims4(&shape(0))?, out_hw()?);
            match (p.kind, nhwc) {
                (PoolKind::Max, false) => Kernel::MaxPool2d(params),
                (PoolKind::Max, true) => Kernel::MaxPool2dNhwc(params),
                (PoolKind::Avg { .. }, false) => Kernel::AvgPool2d(params),
                (PoolKind::Avg { .. }, true) => Kernel::AvgPool2dNhwc(params),
            }
        }
        Op::Resize(r) => {
            let [batch, c, h_in, w_in] = dims4(&shape(0))?;
            let params = Resize {
                n: batch,
                c,
                h_in,
                w_in,
                h_out: r.size[0],
                w_out: r.size[1],
                scales: r.scales,
                mode: r.mode,
                coord: r.coord,
            };
            if nhwc {
                Kernel::ResizeNhwc(params)
            } else {
                Kernel::Resize(params)
            }
        }
        Op::Transpose { perm } => Kernel::Transpose {
            shape: shape(0),
            perm: perm.clone(),
        },
        Op::Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        } => {
            let ([a0, a1], [b0, b1]) = (dims2(&shape(0))?, dims2(&shape(1))?);
            let (m, k) = if *trans_a { (a1, a0) } else { (a0, a1) };
            let cols = if *trans_b { b0 } else { b1 };
            let c_strides = match ins.get(2) {
                Some(&c) => match broadcast_strides(&g.ty(c).shape, &[m, cols])[..] {
                    [sm, sn] => [sm, sn],
                    _ => return Err("gemm bias does not broadcast to the output".into()),
                },
                None => [0, 0],
            };
            Kernel::Gemm(Gemm {
                m,
                n: cols,
                k,
                trans_a: *trans_a,
                trans_b: *trans_b,
                alpha: *alpha,
                beta: *beta,
                c_strides,
            })
        }
        Op::MatMul => {
            let (a, b) = (shape(0), shape(1));
            let d = crate::ops::gemm::matmul_dims(&a, &b);
            let a_count: usize = d.a_batch.iter().product();
            let b_count: usize = d.b_batch.iter().product();
            if !(a_count == 1 || b_count == 1 || d.a_batch == d.b_batch) {
                return Err(format!(
                    "matmul batch broadcasting of {a:?} and {b:?} is not supported"
                ));
            }
            Kernel::MatMul {
                batch: a_count.max(b_count),
                m: d.m,
                n: d.n,
                k: d.k,
                a_stride: if a_count == 1 { 0 } else { d.m * d.k },
                b_stride: if b_count == 1 { 0 } else { d.k * d.n },
            }
        }
        Op::Softmax { axis, coerce_2d } => {
            let [outer, len, inner] = crate::ops::softmax_dims(&shape(0), *axis, *coerce_2d);
            Kernel::Softmax { outer, len, inner }
        }
    };
    let ops = operands(g, plan, weights, n, out_v)?;
    Ok(vec![call(kernel, ops)])
}

impl Lowered {
    /// The text form (`--emit kernels`): one line per call, `%<node> <runtime fn> <parameters>
    /// in=<operands> out=<range>`, then one line per graph output. Ranges are in f32s:
    /// `arena[a..b]`, `w[a..b]` (the weights blob), `out` (in place), `input<k>`. Convolutions
    /// read like `pw 16->8 14x14 relu` or `dw3x3/2 240 28x28->14x14 pad=1,1`; a copy like
    /// `<rows>x<len> in<k>@<offset>/<stride>->out@<offset>/<stride>`.
    pub fn to_text(&self, g: &Graph) -> String {
        let (_, num) = numbering(g);
        let mut s = String::new();
        for c in &self.calls {
            let inputs: Vec<String> = c.inputs.iter().map(ToString::to_string).collect();
            let params = KernelParams(&c.kernel).to_string();
            let _ = writeln!(
                s,
                "%{} {}{}{params} in={} out=arena[{}..{}]",
                num.get(&c.node).copied().unwrap_or_default(),
                c.kernel.runtime_fn(),
                if params.is_empty() { "" } else { " " },
                inputs.join(","),
                c.output.start,
                c.output.end
            );
        }
        for (k, o) in self.outputs.iter().enumerate() {
            let _ = writeln!(s, "output{k} = {o}");
        }
        s
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Arena(r) => write!(f, "arena[{}..{}]", r.start, r.end),
            Operand::Weights(r) => write!(f, "w[{}..{}]", r.start, r.end),
            Operand::InPlace => f.write_str("out"),
            Operand::GraphInput(k) => write!(f, "input{k}"),
        }
    }
}

/// `[1,2,3]`.
fn list<T: fmt::Display>(v: &[T]) -> String {
    let items: Vec<String> = v.iter().map(ToString::to_string).collect();
    format!("[{}]", items.join(","))
}

/// `2` for `[2, 2]`, else `2x1`.
fn pair(p: [usize; 2]) -> String {
    if p[0] == p[1] {
        p[0].to_string()
    } else {
        format!("{}x{}", p[0], p[1])
    }
}

/// `relu`, `clip(0,6)`, `hard_sigmoid(0.2,0.5)`, `none`.
fn act_text(a: Option<Activation>) -> String {
    match a {
        None => "none".into(),
        Some(Activation::Clip { min, max }) => format!("clip({min},{max})"),
        Some(Activation::HardSigmoid { alpha, beta }) => format!("hard_sigmoid({alpha},{beta})"),
        Some(a) => a.name().into(),
    }
}

/// A plane `HxW`, with `->HxW` when the output differs.
fn planes(f: &mut fmt::Formatter<'_>, inp: [usize; 2], out: [usize; 2]) -> fmt::Result {
    write!(f, "{}x{}", inp[0], inp[1])?;
    if out != inp {
        write!(f, "->{}x{}", out[0], out[1])?;
    }
    Ok(())
}

/// `pw 16->8 14x14 relu`, `dw3x3/2 240 28x28->14x14 pad=1,1`, `conv3x3/2 3->16 ...`.
impl fmt::Display for Conv2d {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [kh, kw] = self.kernel;
        let depthwise = self.group > 1 && self.group == self.c_in && self.group == self.c_out;
        if depthwise {
            write!(f, "dw{kh}x{kw}")?;
        } else if self.kernel == [1, 1] && self.group == 1 {
            f.write_str("pw")?;
        } else {
            write!(f, "conv{kh}x{kw}")?;
        }
        if self.stride != [1, 1] {
            write!(f, "/{}", pair(self.stride))?;
        }
        if depthwise {
            write!(f, " {} ", self.c_in)?;
        } else {
            write!(f, " {}->{} ", self.c_in, self.c_out)?;
        }
        planes(f, [self.h_in, self.w_in], [self.h_out, self.w_out])?;
        if self.n != 1 {
            write!(f, " n={}", self.n)?;
        }
        if self.group > 1 && !depthwise {
            write!(f, " group={}", self.group)?;
        }
        if self.pad != [0, 0] {
            write!(f, " pad={},{}", self.pad[0], self.pad[1])?;
        }
        if self.dilation != [1, 1] {
            write!(f, " dilation={}", pair(self.dilation))?;
        }
        if self.act.is_some() {
            write!(f, " {}", act_text(self.act))?;
        }
        Ok(())
    }
}

impl fmt::Display for Pool2d {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [kh, kw] = self.kernel;
        write!(f, "{kh}x{kw}/{} c={} ", pair(self.stride), self.c)?;
        planes(f, [self.h_in, self.w_in], [self.h_out, self.w_out])?;
        if self.n != 1 {
            write!(f, " n={}", self.n)?;
        }
        if self.pads != [0; 4] {
            let [t, l, b, r] = self.pads;
            write!(f, " pads={t},{l},{b},{r}")?;
        }
        if self.dilation != [1, 1] {
            write!(f, " dilation={}", pair(self.dilation))?;
        }
        if self.count_include_pad {
            f.write_str(" count_include_pad")?;
        }
        Ok(())
    }
}

/// The parameters of a kernel in the text form.
struct KernelParams<'a>(&'a Kernel);

impl fmt::Display for KernelParams<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nchw_in = |f: &mut fmt::Formatter<'_>, input_nchw: bool| {
            if input_nchw {
                f.write_str(" input_nchw")
            } else {
                Ok(())
            }
        };
        let in_place = |f: &mut fmt::Formatter<'_>, in_place: bool| {
            if in_place {
                f.write_str(" in_place")
            } else {
                Ok(())
            }
        };
        match self.0 {
            Kernel::LoadInput => Ok(()),
            Kernel::Conv2d(p) => write!(f, "{p}"),
            Kernel::Conv2dNhwc { params, input_nchw } => {
                write!(f, "{params}")?;
                nchw_in(f, *input_nchw)
            }
            Kernel::Conv2dDense {
                params,
                input_nhwc,
                output_nhwc,
            } => {
                write!(f, "{params} dense")?;
                if *input_nhwc {
                    f.write_str(" nhwc_in")?;
                }
                if *output_nhwc {
                    f.write_str(" nhwc_out")?;
                }
                Ok(())
            }
            Kernel::Conv2dWinograd { params } => write!(f, "{params} winograd"),
            Kernel::GhostModule(p) => write!(f, "primary={} cheap={}", p.primary, p.cheap),
            Kernel::ExpandDepthwise { params: p, scratch } => write!(
                f,
                "expand={} depthwise={} block={} scratch=arena[{}..{}]",
                p.expand, p.depthwise, p.block, scratch.start, scratch.end
            ),
            Kernel::ExpandDepthwiseNhwc {
                params: p,
                input_nchw,
                scratch,
            } => {
                write!(
                    f,
                    "expand={} depthwise={} rows={} scratch=arena[{}..{}]",
                    p.expand, p.depthwise, p.rows, scratch.start, scratch.end
                )?;
                nchw_in(f, *input_nchw)
            }
            Kernel::GhostModuleNhwc { params, input_nchw } => {
                write!(f, "primary={} cheap={}", params.primary, params.cheap)?;
                nchw_in(f, *input_nchw)
            }
            Kernel::SqueezeExcite {
                params: p,
                in_place: ip,
                ..
            } => {
                write!(
                    f,
                    "n={} c={} spatial={} mid={} act={} gate={}",
                    p.n,
                    p.c,
                    p.spatial,
                    p.mid,
                    act_text(p.act),
                    act_text(p.gate)
                )?;
                in_place(f, *ip)
            }
            Kernel::GateUpsample {
                params: p,
                in_place: ip,
                ..
            } => {
                write!(
                    f,
                    "n={} c={} h={} w={} factor={}x{}",
                    p.n, p.c, p.h, p.w, p.factor[0], p.factor[1]
                )?;
                in_place(f, *ip)
            }
            Kernel::Activation { act, in_place: ip } => {
                f.write_str(&act_text(Some(*act)))?;
                in_place(f, *ip)
            }
            Kernel::ChannelAffine {
                n,
                c,
                spatial,
                scale,
                shift,
            } => write!(
                f,
                "n={n} c={c} spatial={spatial} scale={} shift={}",
                Operand::Weights(scale.clone()),
                Operand::Weights(shift.clone())
            ),
            Kernel::Binary {
                op,
                a_strides,
                b_strides,
                shape,
            } => write!(
                f,
                "{} shape={} a_strides={} b_strides={}",
                op.name(),
                list(shape),
                list(a_strides),
                list(b_strides)
            ),
            Kernel::Copy2d(copies) => {
                let parts: Vec<String> = copies
                    .iter()
                    .map(|c| {
                        format!(
                            "{}x{} in{}@{}/{}->out@{}/{}",
                            c.rows,
                            c.len,
                            c.src,
                            c.src_offset,
                            c.src_stride,
                            c.dst_offset,
                            c.dst_stride
                        )
                    })
                    .collect();
                f.write_str(&parts.join(" "))
            }
            Kernel::Slice {
                shape,
                starts,
                steps,
                out_shape,
            } => write!(
                f,
                "shape={} starts={} steps={} out_shape={}",
                list(shape),
                list(starts),
                list(steps),
                list(out_shape)
            ),
            Kernel::Transpose { shape, perm } => {
                write!(f, "shape={} perm={}", list(shape), list(perm))
            }
            Kernel::GlobalAvgPool { channels, spatial } => {
                write!(f, "channels={channels} spatial={spatial}")
            }
            Kernel::GlobalAvgPoolNhwc { n, c, spatial } => {
                write!(f, "n={n} c={c} spatial={spatial}")
            }
            Kernel::MaxPool2d(p)
            | Kernel::AvgPool2d(p)
            | Kernel::MaxPool2dNhwc(p)
            | Kernel::AvgPool2dNhwc(p) => write!(f, "{p}"),
            Kernel::Resize(r) | Kernel::ResizeNhwc(r) => {
                write!(f, "{:?} {:?} c={} ", r.mode, r.coord, r.c)?;
                planes(f, [r.h_in, r.w_in], [r.h_out, r.w_out])?;
                if r.n != 1 {
                    write!(f, " n={}", r.n)?;
                }
                write!(f, " scales={},{}", r.scales[0], r.scales[1])
            }
            Kernel::ReduceMean { shape, axes } => {
                write!(f, "shape={} axes={}", list(shape), list(axes))
            }
            Kernel::Gemm(p) => {
                write!(f, "m={} n={} k={}", p.m, p.n, p.k)?;
                if p.trans_a {
                    f.write_str(" trans_a")?;
                }
                if p.trans_b {
                    f.write_str(" trans_b")?;
                }
                write!(
                    f,
                    " alpha={} beta={} c_strides={}",
                    p.alpha,
                    p.beta,
                    list(&p.c_strides)
                )
            }
            Kernel::MatMul {
                batch,
                m,
                n,
                k,
                a_stride,
                b_stride,
            } => write!(
                f,
                "batch={batch} m={m} n={n} k={k} a_stride={a_stride} b_stride={b_stride}"
            ),
            Kernel::Softmax { outer, len, inner } => {
                write!(f, "outer={outer} len={len} inner={inner}")
            }
        }
    }
}
