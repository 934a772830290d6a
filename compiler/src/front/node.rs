//! Import of one ONNX node: attribute and operand resolution, compile-time folding of shape
//! arithmetic, and creation of the IR node with inferred output types.

use super::attrs::NodeCtx;
use super::fold;
use super::proto::NodeProto;
use super::tensor;
use super::Importer;
use crate::error::{Error, Result};
use crate::ir::{checked_len, DType, Data, Tensor, ValueRef, MAX_ELEMENTS, MAX_RANK};
use crate::ops::conv::same_pads;
use crate::ops::movement::{reshape_shape, slice_axis};
use crate::ops::resize::{CoordTransform, NearestMode, ResizeMode};
use crate::ops::{Activation, BinaryOp, Conv, Op, Pool, PoolKind, Resize};

/// Largest constant a folded shape-arithmetic node may produce (elements).
const MAX_FOLDED: usize = 1 << 26;

impl Importer {
    pub(super) fn import_node(&mut self, n: &NodeProto, name: &str) -> Result<()> {
        let op_type = n.op_type.as_deref().unwrap_or("");
        let cx = NodeCtx {
            node: n,
            name,
            op: op_type,
        };
        let ins: Vec<Option<ValueRef>> = n
            .input
            .iter()
            .map(|s| {
                if s.is_empty() {
                    None
                } else {
                    self.values.get(s).copied()
                }
            })
            .collect();
        let results = self.convert(&cx, &ins)?;
        for (i, out) in n.output.iter().enumerate() {
            // An optional output nothing reads (Dropout's mask) need not exist.
            if out.is_empty() || (i >= results.len() && !self.read.contains(out)) {
                continue;
            }
            let v = *results.get(i).ok_or_else(|| {
                cx.err(format!(
                    "output {i} ('{out}') is not supported (only the first {} outputs are)",
                    results.len()
                ))
            })?;
            self.define(out, v, &format!("an output of node '{name}'"))?;
        }
        Ok(())
    }

    fn konst(&self, v: Option<ValueRef>) -> Option<&Tensor> {
        v.and_then(|v| self.g.constant(v))
    }

    fn add_const(&mut self, name: &str, t: Tensor) -> ValueRef {
        let ty = t.ty();
        ValueRef::new(self.g.add_node(name, Op::Const(t), vec![ty]), 0)
    }

    /// Adds a run-time node after inferring its output types.
    fn add_op(&mut self, cx: &NodeCtx, op: Op, inputs: &[ValueRef]) -> Result<Vec<ValueRef>> {
        let tys: Vec<_> = inputs.iter().map(|&v| self.g.ty(v)).collect();
        let outs = op.infer(&tys).map_err(|e| cx.err(e))?;
        if let Some(t) = outs.iter().find(|t| checked_len(&t.shape).is_none()) {
            return Err(cx.err(if t.rank() > MAX_RANK {
                format!(
                    "output of rank {} is not supported (at most {MAX_RANK} dimensions)",
                    t.rank()
                )
            } else {
                format!("output {t} has more than the {MAX_ELEMENTS} elements allowed")
            }));
        }
        if let Some(t) = outs.iter().find(|t| t.dtype != DType::F32) {
            return Err(cx.err(format!("would compute a {t} value at run time; integer tensors must be compile-time constants")));
        }
        let k = outs.len();
        let n = self.g.add_node(cx.name, op, outs);
        self.g.connect(n, inputs);
        Ok((0..k).map(|p| ValueRef::new(n, p)).collect())
    }

    fn convert(&mut self, cx: &NodeCtx, ins: &[Option<ValueRef>]) -> Result<Vec<ValueRef>> {
        let req = |i: usize| {
            ins.get(i)
                .copied()
                .flatten()
                .ok_or_else(|| cx.err(format!("required input {i} is missing")))
        };
        let all_const = ins.iter().flatten().all(|&v| self.g.constant(v).is_some());
        let rank0 = |s: &Self| req(0).map(|v| s.g.ty(v).rank());

        // Ops that exist only at compile time.
        match cx.op {
            "Constant" => return Ok(vec![self.add_const(cx.name, constant_value(cx)?)]),
            "Shape" => {
                let shape = self.g.ty(req(0)?).shape.clone();
                let r = shape.len() as i64;
                let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
                let (s, e) = (clamp(cx.int_or("start", 0)?), clamp(cx.int_or("end", r)?));
                let dims: Vec<i64> = shape[s..e.max(s)].iter().map(|&d| d as i64).collect();
                return Ok(vec![
                    self.add_const(cx.name, Tensor::i64(vec![dims.len()], dims))
                ]);
            }
            "Cast" if !all_const => {
                let to = cx
                    .int("to")?
                    .ok_or_else(|| cx.err("attribute 'to' is required"))?;
                if !tensor::is_float_type(to as i32) {
                    return Err(cx.err(format!(
                        "casting a run-time f32 value to {} is not supported",
                        tensor::dtype_name(to as i32)
                    )));
                }
                return self.add_op(cx, Op::Identity, &[req(0)?]);
            }
            "Gather" | "ConstantOfShape" | "Range" | "Equal" | "Where" | "Expand" | "Cast"
                if !all_const =>
            {
                return Err(cx.err("is only supported on compile-time constants (shape arithmetic), not on run-time tensors"));
            }
            _ => {}
        }
        if all_const && !ins.is_empty() && is_foldable(cx.op) {
            let consts: Vec<Option<&Tensor>> = ins.iter().map(|v| self.konst(*v)).collect();
            // Data movement writes at most what it reads (Concat: the sum of its inputs, which
            // may repeat one value): bounded before folding. The other folds bound their
            // output themselves (`folded_len`).
            if !matches!(
                cx.op,
                "Gather"
                    | "ConstantOfShape"
                    | "Range"
                    | "Expand"
                    | "Add"
                    | "Sub"
                    | "Mul"
                    | "Div"
                    | "Equal"
                    | "Where"
            ) {
                let reads = consts
                    .iter()
                    .flatten()
                    .fold(0usize, |n, t| n.saturating_add(t.len()));
                self.within_fold_budget(cx, reads)?;
            }
            let t = self.fold(cx, &consts)?;
            if let Some(t) = t {
                if t.len() > MAX_FOLDED {
                    return Err(cx.err(format!(
                        "folds to a constant of {} elements, more than the {MAX_FOLDED} allowed",
                        t.len()
                    )));
                }
                if t.shape.len() > MAX_RANK {
                    return Err(cx.err(format!(
                        "folds to a constant of rank {}, more than the {MAX_RANK} dimensions supported",
                        t.shape.len()
                    )));
                }
                self.fold_budget = self.fold_budget.saturating_sub(t.len());
                return Ok(vec![self.add_const(cx.name, t)]);
            }
        }

        let op = match cx.op {
            "Conv" => {
                let x = self.g.ty(req(0)?).clone();
                let w = self.g.ty(req(1)?).clone();
                if x.rank() != 4 || w.rank() != 4 {
                    return Err(cx.err(format!(
                        "only 2-D convolution is supported (input {x}, weight {w})"
                    )));
                }
                let kernel = match cx.ints("kernel_shape")? {
                    Some(k) => pair(cx, &k, "kernel_shape")?,
                    None => [w.shape[2], w.shape[3]],
                };
                let (strides, dilations) = (opt_pair(cx, "strides")?, opt_pair(cx, "dilations")?);
                let pads = spatial_pads(cx, [x.shape[2], x.shape[3]], kernel, strides, dilations)?;
                let group = usize::try_from(cx.int_or("group", 1)?)
                    .map_err(|_| cx.err("group must be positive"))?;
                Op::Conv(Conv::new(kernel, strides, pads, dilations, group))
            }
            "BatchNormalization" => {
                if cx.int_or("training_mode", 0)? != 0 {
                    return Err(cx.err("training_mode=1 is not supported (inference only)"));
                }
                let epsilon = cx.float_or("epsilon", 1e-5)?;
                let inputs = (0..5).map(req).collect::<Result<Vec<_>>>()?;
                return self.add_op(cx, Op::BatchNorm { epsilon }, &inputs);
            }
            "Relu" => Op::Activation(Activation::Relu),
            "Sigmoid" => Op::Activation(Activation::Sigmoid),
            "Tanh" => Op::Activation(Activation::Tanh),
            "Erf" => Op::Activation(Activation::Erf),
            "Exp" => Op::Activation(Activation::Exp),
            "Gelu" => match cx.string_or("approximate", "none")?.as_str() {
                "none" => Op::Activation(Activation::Gelu),
                "tanh" => Op::Activation(Activation::GeluTanh),
                a => return Err(cx.err(format!("approximate={a:?} is not supported (none, tanh)"))),
            },
            "HardSwish" => Op::Activation(Activation::HardSwish),
            "HardSigmoid" => Op::Activation(Activation::HardSigmoid {
                alpha: cx.float_or("alpha", 0.2)?,
                beta: cx.float_or("beta", 0.5)?,
            }),
            "Clip" => {
                let (mut min, mut max) = (f32::NEG_INFINITY, f32::INFINITY);
                if self.opset < 11 {
                    min = cx.float_or("min", min)?;
                    max = cx.float_or("max", max)?;
                } else {
                    for (i, slot) in [(1, &mut min), (2, &mut max)] {
                        if let Some(v) = ins.get(i).copied().flatten() {
                            let t = self.g.constant(v).ok_or_else(|| {
                                cx.err(format!("input {i} (bound) must be a compile-time constant"))
                            })?;
                            match t.to_f64s()[..] {
                                [b] => *slot = b as f32,
                                _ => {
                                    return Err(
                                        cx.err(format!("input {i} (bound) must be a scalar"))
                                    )
                                }
                            }
                        }
                    }
                }
                return self.add_op(
                    cx,
                    Op::Activation(Activation::Clip { min, max }),
                    &[req(0)?],
                );
            }
            "Add" | "Sub" | "Mul" | "Div" => {
                let op = match cx.op {
                    "Add" => BinaryOp::Add,
                    "Sub" => BinaryOp::Sub,
                    "Mul" => BinaryOp::Mul,
                    _ => BinaryOp::Div,
                };
                return self.add_op(cx, Op::Binary(op), &[req(0)?, req(1)?]);
            }
            "Concat" => {
                let inputs: Vec<ValueRef> = ins.iter().flatten().copied().collect();
                let r = inputs
                    .first()
                    .map(|&v| self.g.ty(v).rank())
                    .ok_or_else(|| cx.err("needs at least one input"))?;
                let axis = norm_axis(
                    cx,
                    cx.int("axis")?
                        .ok_or_else(|| cx.err("attribute 'axis' is required"))?,
                    r,
                )?;
                return self.add_op(cx, Op::Concat { axis }, &inputs);
            }
            "Slice" => {
                let axes = self.slice_axes(cx, ins)?;
                Op::Slice { axes }
            }
            "Split" => {
                let x = self.g.ty(req(0)?).clone();
                let axis = norm_axis(cx, cx.int_or("axis", 0)?, x.rank())?;
                let d = x.shape[axis];
                let n_out = cx.node.output.len();
                let sizes: Vec<usize> = match (
                    self.const_ints(cx, ins, 1, "split")?,
                    cx.ints("split")?,
                    cx.int("num_outputs")?,
                ) {
                    (Some(s), _, _) | (None, Some(s), _) => s
                        .iter()
                        .map(|&v| {
                            usize::try_from(v)
                                .map_err(|_| cx.err("split sizes must be non-negative"))
                        })
                        .collect::<Result<_>>()?,
                    (None, None, Some(k)) => {
                        if n_out == 0 || usize::try_from(k).ok() != Some(n_out) {
                            return Err(cx.err(format!(
                                "num_outputs {k} does not match the node's {n_out} outputs"
                            )));
                        }
                        let chunk = d.div_ceil(n_out);
                        (0..n_out)
                            .map(|i| chunk.min(d.saturating_sub(i * chunk)))
                            .collect()
                    }
                    _ => {
                        if n_out == 0 || !d.is_multiple_of(n_out) {
                            return Err(cx.err(format!(
                                "cannot split dimension {d} evenly into {n_out} outputs"
                            )));
                        }
                        vec![d / n_out; n_out]
                    }
                };
                if sizes.len() != n_out {
                    return Err(cx.err(format!(
                        "split has {} sizes {sizes:?} but the node has {n_out} outputs",
                        sizes.len()
                    )));
                }
                Op::Split { axis, sizes }
            }
            "GlobalAveragePool" => Op::GlobalAveragePool,
            "ReduceMean" => {
                let r = rank0(self)?;
                let axes = match self.const_ints(cx, ins, 1, "axes")? {
                    Some(a) => Some(a),
                    None => cx.ints("axes")?,
                };
                let keepdims = cx.int_or("keepdims", 1)? != 0;
                let axes = match axes {
                    Some(a) if !a.is_empty() => sorted_axes(cx, &a, r)?,
                    _ if cx.int_or("noop_with_empty_axes", 0)? != 0 => {
                        return self.add_op(cx, Op::Identity, &[req(0)?])
                    }
                    _ => (0..r).collect(),
                };
                Op::ReduceMean { axes, keepdims }
            }
            "MaxPool" | "AveragePool" => {
                let x = self.g.ty(req(0)?).clone();
                if x.rank() != 4 {
                    return Err(cx.err(format!("only 2-D pooling is supported (input {x})")));
                }
                let kernel = pair(
                    cx,
                    &cx.ints("kernel_shape")?
                        .ok_or_else(|| cx.err("attribute 'kernel_shape' is required"))?,
                    "kernel_shape",
                )?;
                let (strides, dilations) = (opt_pair(cx, "strides")?, opt_pair(cx, "dilations")?);
                let pads = spatial_pads(cx, [x.shape[2], x.shape[3]], kernel, strides, dilations)?;
                let kind = if cx.op == "MaxPool" {
                    if cx.node.output.get(1).is_some_and(|s| !s.is_empty()) {
                        return Err(cx.err("the Indices output is not supported"));
                    }
                    PoolKind::Max
                } else {
                    PoolKind::Avg {
                        count_include_pad: cx.int_or("count_include_pad", 0)? != 0,
                    }
                };
                Op::Pool(Pool {
                    kind,
                    kernel,
                    strides,
                    pads,
                    dilations,
                    ceil_mode: cx.int_or("ceil_mode", 0)? != 0,
                })
            }
            "Resize" => Op::Resize(self.resize(cx, ins)?),
            "Flatten" => Op::Flatten {
                axis: norm_axis_incl(cx, cx.int_or("axis", 1)?, rank0(self)?)?,
            },
            "Reshape" => {
                let shape = self
                    .const_ints(cx, ins, 1, "shape")?
                    .ok_or_else(|| cx.err("input 1 (shape) is required"))?;
                Op::Reshape {
                    shape,
                    allowzero: cx.int_or("allowzero", 0)? != 0,
                }
            }
            "Squeeze" => {
                let x = self.g.ty(req(0)?).clone();
                let axes = match self.const_ints(cx, ins, 1, "axes")?.or(cx.ints("axes")?) {
                    Some(a) => sorted_axes(cx, &a, x.rank())?,
                    None => (0..x.rank()).filter(|&i| x.shape[i] == 1).collect(),
                };
                Op::Squeeze { axes }
            }
            "Unsqueeze" => {
                let r = rank0(self)?;
                let a = self
                    .const_ints(cx, ins, 1, "axes")?
                    .or(cx.ints("axes")?)
                    .ok_or_else(|| cx.err("axes are required"))?;
                Op::Unsqueeze {
                    axes: sorted_axes(cx, &a, r + a.len())?,
                }
            }
            "Transpose" => {
                let r = rank0(self)?;
                let perm = match cx.ints("perm")? {
                    Some(p) => p
                        .iter()
                        .map(|&v| {
                            usize::try_from(v)
                                .map_err(|_| cx.err("perm entries must be non-negative"))
                        })
                        .collect::<Result<_>>()?,
                    None => (0..r).rev().collect(),
                };
                Op::Transpose { perm }
            }
            "Gemm" => {
                let op = Op::Gemm {
                    alpha: cx.float_or("alpha", 1.0)?,
                    beta: cx.float_or("beta", 1.0)?,
                    trans_a: cx.int_or("transA", 0)? != 0,
                    trans_b: cx.int_or("transB", 0)? != 0,
                };
                let mut inputs = vec![req(0)?, req(1)?];
                inputs.extend(ins.get(2).copied().flatten());
                return self.add_op(cx, op, &inputs);
            }
            "MatMul" => return self.add_op(cx, Op::MatMul, &[req(0)?, req(1)?]),
            "Softmax" => {
                let r = rank0(self)?;
                let legacy = self.opset < 13;
                let axis = norm_axis(cx, cx.int_or("axis", if legacy { 1 } else { -1 })?, r)?;
                Op::Softmax {
                    axis,
                    coerce_2d: legacy && axis + 1 < r,
                }
            }
            "Identity" => Op::Identity,
            "Dropout" => {
                if cx.node.output.get(1).is_some_and(|s| self.read.contains(s)) {
                    return Err(cx.err(
                        "the mask output is not supported when something reads it (inference only)",
                    ));
                }
                if let Some(t) = self.konst(ins.get(2).copied().flatten()) {
                    if t.to_f64s().first().is_some_and(|&v| v != 0.0) {
                        return Err(cx.err("training_mode=true is not supported (inference only)"));
                    }
                }
                if cx.int_or("is_test", 1)? == 0 && self.opset < 7 {
                    return Err(cx.err("is_test=0 is not supported (inference only)"));
                }
                Op::Dropout
            }
            other => return Err(cx.err(format!("cannot import op '{other}' on run-time values"))),
        };
        let mut inputs = vec![req(0)?];
        if let Op::Conv(_) = op {
            inputs.push(req(1)?);
            inputs.extend(ins.get(2).copied().flatten());
        }
        self.add_op(cx, op, &inputs)
    }

    /// An optional input that must be a compile-time constant, as integers.
    fn const_ints(
        &self,
        cx: &NodeCtx,
        ins: &[Option<ValueRef>],
        i: usize,
        what: &str,
    ) -> Result<Option<Vec<i64>>> {
        match ins.get(i).copied().flatten() {
            None => Ok(None),
            Some(v) => match self.g.constant(v) {
                Some(t) => Ok(Some(t.to_i64s())),
                None => Err(cx.err(format!(
                    "input {i} ({what}) must be a compile-time constant"
                ))),
            },
        }
    }

    fn slice_axes(
        &self,
        cx: &NodeCtx,
        ins: &[Option<ValueRef>],
    ) -> Result<Vec<crate::ops::SliceAxis>> {
        let x = self
            .g
            .ty(ins
                .first()
                .copied()
                .flatten()
                .ok_or_else(|| cx.err("required input 0 is missing"))?)
            .clone();
        let (starts, ends, axes, steps) = if self.opset < 10 {
            (cx.ints("starts")?, cx.ints("ends")?, cx.ints("axes")?, None)
        } else {
            (
                self.const_ints(cx, ins, 1, "starts")?,
                self.const_ints(cx, ins, 2, "ends")?,
                self.const_ints(cx, ins, 3, "axes")?,
                self.const_ints(cx, ins, 4, "steps")?,
            )
        };
        let starts = starts.ok_or_else(|| cx.err("starts are required"))?;
        let ends = ends.ok_or_else(|| cx.err("ends are required"))?;
        let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err(cx.err("starts, ends, axes and steps must have the same length"));
        }
        let mut out: Vec<crate::ops::SliceAxis> = Vec::new();
        for i in 0..starts.len() {
            let a = norm_axis(cx, axes[i], x.rank())?;
            if out.iter().any(|s| s.axis == a) {
                return Err(cx.err(format!("axis {a} is sliced twice")));
            }
            out.push(
                slice_axis(a, x.shape[a], starts[i], ends[i], steps[i]).map_err(|e| cx.err(e))?,
            );
        }
        out.sort_by_key(|s| s.axis);
        Ok(out)
    }

    fn resize(&self, cx: &NodeCtx, ins: &[Option<ValueRef>]) -> Result<Resize> {
        if self.opset < 11 {
            return Err(cx.err("Resize before opset 11 is not supported"));
        }
        let x = self
            .g
            .ty(ins
                .first()
                .copied()
                .flatten()
                .ok_or_else(|| cx.err("required input 0 is missing"))?)
            .clone();
        if x.rank() != 4 {
            return Err(cx.err(format!("only rank-4 (NCHW) inputs are supported, got {x}")));
        }
        if cx.int_or("antialias", 0)? != 0 {
            return Err(cx.err("antialias=1 is not supported"));
        }
        if cx.has("axes") {
            return Err(cx.err("the axes attribute is not supported"));
        }
        let policy = cx.string_or("keep_aspect_ratio_policy", "stretch")?;
        if policy != "stretch" {
            return Err(cx.err(format!(
                "keep_aspect_ratio_policy '{policy}' is not supported"
            )));
        }
        let scales = match ins.get(2).copied().flatten() {
            Some(v) => match self.g.constant(v) {
                Some(t) => t.to_f64s(),
                None => return Err(cx.err("input 2 (scales) must be a compile-time constant")),
            },
            None => Vec::new(),
        };
        let sizes = self.const_ints(cx, ins, 3, "sizes")?.unwrap_or_default();
        let (size, scale) = if !sizes.is_empty() {
            if sizes.len() != 4 || sizes[0] != x.shape[0] as i64 || sizes[1] != x.shape[1] as i64 {
                return Err(cx.err(format!("sizes {sizes:?} must keep N and C of {x}")));
            }
            let s = [sizes[2], sizes[3]].map(|v| usize::try_from(v).unwrap_or(0));
            if s.contains(&0) {
                return Err(cx.err(format!("sizes {sizes:?} must be positive")));
            }
            (
                s,
                [
                    s[0] as f32 / x.shape[2] as f32,
                    s[1] as f32 / x.shape[3] as f32,
                ],
            )
        } else if scales.len() == 4 {
            if scales[0] != 1.0 || scales[1] != 1.0 {
                return Err(cx.err(format!("scales {scales:?} must be 1 on N and C")));
            }
            // As onnxruntime computes it: the f32 scale times the size, in f32, truncated.
            // (In f64, 10 x 1.3f is 12.9999995 and gives 12 rows where onnxruntime, and
            // PyTorch's intent, give 13.)
            let sz = |d: usize, s: f64| -> Result<usize> {
                let v = f64::from((d as f32 * s as f32).floor());
                if !(1.0..=crate::ir::MAX_ELEMENTS as f64).contains(&v) {
                    return Err(cx.err(format!("scale {s} gives an impossible size")));
                }
                Ok(v as usize)
            };
            (
                [sz(x.shape[2], scales[2])?, sz(x.shape[3], scales[3])?],
                [scales[2] as f32, scales[3] as f32],
            )
        } else {
            return Err(cx.err("needs either 4 scales or 4 sizes"));
        };
        checked_len(&[x.shape[0], x.shape[1], size[0], size[1]])
            .ok_or_else(|| cx.err("output too large"))?;
        let mode = match cx.string_or("mode", "nearest")?.as_str() {
            "nearest" => ResizeMode::Nearest(
                match cx.string_or("nearest_mode", "round_prefer_floor")?.as_str() {
                    "round_prefer_floor" => NearestMode::RoundPreferFloor,
                    "round_prefer_ceil" => NearestMode::RoundPreferCeil,
                    "floor" => NearestMode::Floor,
                    "ceil" => NearestMode::Ceil,
                    m => return Err(cx.err(format!("nearest_mode '{m}' is not supported"))),
                },
            ),
            "linear" => ResizeMode::Linear,
            m => {
                return Err(cx.err(format!(
                    "mode '{m}' is not supported (nearest and linear are)"
                )))
            }
        };
        let coord = match cx
            .string_or("coordinate_transformation_mode", "half_pixel")?
            .as_str()
        {
            "half_pixel" => CoordTransform::HalfPixel,
            "pytorch_half_pixel" => CoordTransform::PytorchHalfPixel,
            "align_corners" => CoordTransform::AlignCorners,
            "asymmetric" => CoordTransform::Asymmetric,
            "tf_half_pixel_for_centers" => CoordTransform::TfHalfPixelForCenter,
            m => {
                return Err(cx.err(format!(
                    "coordinate_transformation_mode '{m}' is not supported"
                )))
            }
        };
        Ok(Resize {
            mode,
            coord,
            size,
            scales: scale,
        })
    }

    /// Evaluates a node whose inputs are all constants; `None` if this op is not folded.
    fn fold(&self, cx: &NodeCtx, c: &[Option<&Tensor>]) -> Result<Option<Tensor>> {
        let arg = |i: usize| {
            c.get(i)
                .copied()
                .flatten()
                .ok_or_else(|| cx.err(format!("required input {i} is missing")))
        };
        let x = arg(0)?;
        let ints = |i: usize| arg(i).map(Tensor::to_i64s);
        Ok(Some(match cx.op {
            "Identity" | "Dropout" => x.clone(),
            "Cast" => {
                let to = cx
                    .int("to")?
                    .ok_or_else(|| cx.err("attribute 'to' is required"))?
                    as i32;
                if !tensor::is_supported_type(to) {
                    return Err(cx.err(format!(
                        "cast to {} is not supported",
                        tensor::dtype_name(to)
                    )));
                }
                if tensor::is_float_type(to) {
                    Tensor::f32(
                        x.shape.clone(),
                        x.to_f64s().iter().map(|&v| v as f32).collect(),
                    )
                } else if to == 9 {
                    Tensor::i64(
                        x.shape.clone(),
                        x.to_f64s().iter().map(|&v| i64::from(v != 0.0)).collect(),
                    )
                } else {
                    Tensor::i64(x.shape.clone(), x.to_i64s())
                }
            }
            "Gather" => {
                let axis = norm_axis(cx, cx.int_or("axis", 0)?, x.shape.len())?;
                let idx = arg(1)?;
                let d = x.shape[axis] as i64;
                let flat: Vec<usize> = idx
                    .to_i64s()
                    .iter()
                    .map(|&i| {
                        let j = if i < 0 { i + d } else { i };
                        if (0..d).contains(&j) {
                            Ok(j as usize)
                        } else {
                            Err(cx.err(format!("index {i} out of range for dimension {d}")))
                        }
                    })
                    .collect::<Result<_>>()?;
                let mut shape = x.shape[..axis].to_vec();
                shape.extend(&idx.shape);
                shape.extend(&x.shape[axis + 1..]);
                self.folded_len(cx, &shape)?;
                let mut pick: Vec<Vec<usize>> = x.shape.iter().map(|&n| (0..n).collect()).collect();
                pick[axis] = flat;
                let t = fold::select(x, &pick);
                fold::reshaped(&t, shape)
            }
            "ConstantOfShape" => {
                let shape = tensor::shape_from_dims(&x.to_i64s()).map_err(|e| cx.err(e))?;
                let n = checked_len(&shape)
                    .filter(|&n| n <= MAX_FOLDED)
                    .ok_or_else(|| cx.err("shape too large"))?;
                self.within_fold_budget(cx, n)?;
                let v = match cx.tensor("value")? {
                    Some(tp) => tensor::decode(tp, None)?,
                    None => Tensor::f32(vec![1], vec![0.0]),
                };
                match v.data {
                    Data::F32(d) if d.len() == 1 => Tensor::f32(shape, vec![d[0]; n]),
                    Data::I64(d) if d.len() == 1 => Tensor::i64(shape, vec![d[0]; n]),
                    _ => return Err(cx.err("attribute 'value' must hold one element")),
                }
            }
            "Range" => {
                let (s, l, dl) = (arg(0)?, arg(1)?, arg(2)?);
                match (&s.data, &l.data, &dl.data) {
                    (Data::I64(s), Data::I64(l), Data::I64(dl))
                        if s.len() == 1 && l.len() == 1 && dl.len() == 1 =>
                    {
                        let (s, l, dl) = (s[0], l[0], dl[0]);
                        if dl == 0 {
                            return Err(cx.err("delta is zero"));
                        }
                        let n = ((l as i128 - s as i128) as f64 / dl as f64).ceil().max(0.0);
                        if n > MAX_FOLDED as f64 {
                            return Err(cx.err("range too long"));
                        }
                        self.within_fold_budget(cx, n as usize)?;
                        // s + i*dl lies between s and l, but i*dl alone may overflow: wrap.
                        let v: Vec<i64> = (0..n as i64)
                            .map(|i| s.wrapping_add(i.wrapping_mul(dl)))
                            .collect();
                        Tensor::i64(vec![v.len()], v)
                    }
                    _ => {
                        let (s, l, dl) = (s.to_f64s(), l.to_f64s(), dl.to_f64s());
                        let ([s], [l], [dl]) = (&s[..], &l[..], &dl[..]) else {
                            return Err(cx.err("start, limit and delta must be scalars"));
                        };
                        let n = ((l - s) / dl).ceil().max(0.0);
                        if !n.is_finite() || n > MAX_FOLDED as f64 {
                            return Err(cx.err("range too long"));
                        }
                        self.within_fold_budget(cx, n as usize)?;
                        let v: Vec<f32> = (0..n as usize)
                            .map(|i| (s + i as f64 * dl) as f32)
                            .collect();
                        Tensor::f32(vec![v.len()], v)
                    }
                }
            }
            "Add" | "Sub" | "Mul" | "Div" | "Equal" => {
                let y = arg(1)?;
                let op = cx.op;
                let e = |m: String| cx.err(m);
                self.folded_len(
                    cx,
                    &crate::ops::elementwise::broadcast(&x.shape, &y.shape).map_err(e)?,
                )?;
                match (&x.data, &y.data) {
                    (Data::I64(a), Data::I64(b)) => {
                        let (shape, v) = fold::map2(a, &x.shape, b, &y.shape, |a, b| {
                            match op {
                                "Add" => a.checked_add(b),
                                "Sub" => a.checked_sub(b),
                                "Mul" => a.checked_mul(b),
                                "Div" => a.checked_div(b),
                                _ => Some(i64::from(a == b)),
                            }
                            .ok_or_else(|| {
                                format!("integer overflow or division by zero in {a} {op} {b}")
                            })
                        })
                        .map_err(e)?;
                        Tensor::i64(shape, v)
                    }
                    (Data::F32(a), Data::F32(b)) => {
                        if op == "Equal" {
                            let (shape, v) =
                                fold::map2(a, &x.shape, b, &y.shape, |a, b| Ok(i64::from(a == b)))
                                    .map_err(e)?;
                            Tensor::i64(shape, v)
                        } else {
                            let (shape, v) = fold::map2(a, &x.shape, b, &y.shape, |a, b| {
                                Ok(match op {
                                    "Add" => a + b,
                                    "Sub" => a - b,
                                    "Mul" => a * b,
                                    _ => a / b,
                                })
                            })
                            .map_err(e)?;
                            Tensor::f32(shape, v)
                        }
                    }
                    _ => {
                        return Err(cx.err(format!(
                            "operands have different types ({} and {})",
                            x.dtype(),
                            y.dtype()
                        )))
                    }
                }
            }
            "Where" => {
                let (a, b) = (arg(1)?, arg(2)?);
                let bc = crate::ops::elementwise::broadcast;
                let out = bc(&x.shape, &a.shape).and_then(|s| bc(&s, &b.shape));
                self.folded_len(cx, &out.map_err(|m| cx.err(m))?)?;
                let cond = x.to_i64s();
                let idx = |t: &Tensor| (0..t.len() as i64).collect::<Vec<i64>>();
                let (s1, pick_a) =
                    fold::map2(&cond, &x.shape, &idx(a), &a.shape, |c, i| Ok((c, i)))
                        .map_err(|m| cx.err(m))?;
                let (shape, pick) = fold::map2(&pick_a, &s1, &idx(b), &b.shape, |(c, i), j| {
                    Ok(if c != 0 { (0, i) } else { (1, j) })
                })
                .map_err(|m| cx.err(m))?;
                match (&a.data, &b.data) {
                    (Data::F32(va), Data::F32(vb)) => Tensor::f32(
                        shape,
                        pick.iter()
                            .map(|&(w, i)| {
                                if w == 0 {
                                    va[i as usize]
                                } else {
                                    vb[i as usize]
                                }
                            })
                            .collect(),
                    ),
                    (Data::I64(va), Data::I64(vb)) => Tensor::i64(
                        shape,
                        pick.iter()
                            .map(|&(w, i)| {
                                if w == 0 {
                                    va[i as usize]
                                } else {
                                    vb[i as usize]
                                }
                            })
                            .collect(),
                    ),
                    _ => return Err(cx.err("x and y have different types")),
                }
            }
            "Expand" => {
                let shape = tensor::shape_from_dims(&ints(1)?).map_err(|e| cx.err(e))?;
                let out =
                    crate::ops::elementwise::broadcast(&x.shape, &shape).map_err(|e| cx.err(e))?;
                let n = self.folded_len(cx, &out)?;
                let pick: Vec<Vec<usize>> = out
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| {
                        let k = i + x.shape.len();
                        if k < out.len() {
                            return Vec::new();
                        }
                        let src = x.shape[k - out.len()];
                        (0..d).map(|j| if src == 1 { 0 } else { j }).collect()
                    })
                    .collect();
                let lead = out.len() - x.shape.len();
                let inner = fold::select(x, &pick[lead..]);
                let reps = n / inner.len().max(1);
                match inner.data {
                    Data::F32(v) => Tensor::f32(out, v.repeat(reps)),
                    Data::I64(v) => Tensor::i64(out, v.repeat(reps)),
                }
            }
            "Concat" => {
                let ts: Vec<&Tensor> = c.iter().flatten().copied().collect();
                let tys: Vec<_> = ts.iter().map(|t| t.ty()).collect();
                let axis = norm_axis(
                    cx,
                    cx.int("axis")?
                        .ok_or_else(|| cx.err("attribute 'axis' is required"))?,
                    x.shape.len(),
                )?;
                let ty = crate::ops::movement::infer_concat(&tys.iter().collect::<Vec<_>>(), axis)
                    .map_err(|e| cx.err(e))?;
                fold::concat(&ts, axis, ty.shape)
            }
            "Slice" => {
                let axes = self.slice_axes_const(cx, c)?;
                let mut pick: Vec<Vec<usize>> = x.shape.iter().map(|&n| (0..n).collect()).collect();
                for a in axes {
                    pick[a.axis] = (0..a.len)
                        .map(|i| (a.start as i64 + i as i64 * a.step) as usize)
                        .collect();
                }
                fold::select(x, &pick)
            }
            "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Transpose" => {
                // Same attribute resolution as the run-time op, then move the data.
                let op = self.shape_op(cx, c)?;
                let ty = op.infer(&[&x.ty()]).map_err(|e| cx.err(e))?.remove(0);
                match op {
                    Op::Transpose { perm } => fold::transpose(x, &perm),
                    _ => fold::reshaped(x, ty.shape),
                }
            }
            _ => return Ok(None),
        }))
    }

    fn slice_axes_const(
        &self,
        cx: &NodeCtx,
        c: &[Option<&Tensor>],
    ) -> Result<Vec<crate::ops::SliceAxis>> {
        let x = c
            .first()
            .copied()
            .flatten()
            .ok_or_else(|| cx.err("required input 0 is missing"))?;
        let get = |i: usize| c.get(i).copied().flatten().map(Tensor::to_i64s);
        let (starts, ends, axes, steps) = if self.opset < 10 {
            (cx.ints("starts")?, cx.ints("ends")?, cx.ints("axes")?, None)
        } else {
            (get(1), get(2), get(3), get(4))
        };
        let starts = starts.ok_or_else(|| cx.err("starts are required"))?;
        let ends = ends.ok_or_else(|| cx.err("ends are required"))?;
        let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err(cx.err("starts, ends, axes and steps must have the same length"));
        }
        let mut out: Vec<crate::ops::SliceAxis> = Vec::new();
        for i in 0..starts.len() {
            let a = norm_axis(cx, axes[i], x.shape.len())?;
            if out.iter().any(|s| s.axis == a) {
                return Err(cx.err(format!("axis {a} is sliced twice")));
            }
            out.push(
                slice_axis(a, x.shape[a], starts[i], ends[i], steps[i]).map_err(|e| cx.err(e))?,
            );
        }
        Ok(out)
    }

    /// Resolves Reshape/Flatten/Squeeze/Unsqueeze/Transpose attributes for a constant input.
    fn shape_op(&self, cx: &NodeCtx, c: &[Option<&Tensor>]) -> Result<Op> {
        let x = c
            .first()
            .copied()
            .flatten()
            .ok_or_else(|| cx.err("required input 0 is missing"))?;
        let r = x.shape.len();
        let second = c.get(1).copied().flatten().map(Tensor::to_i64s);
        Ok(match cx.op {
            "Reshape" => {
                let shape = second.ok_or_else(|| cx.err("input 1 (shape) is required"))?;
                let allowzero = cx.int_or("allowzero", 0)? != 0;
                reshape_shape(&x.shape, &shape, allowzero).map_err(|e| cx.err(e))?;
                Op::Reshape { shape, allowzero }
            }
            "Flatten" => Op::Flatten {
                axis: norm_axis_incl(cx, cx.int_or("axis", 1)?, r)?,
            },
            "Squeeze" => Op::Squeeze {
                axes: match second.or(cx.ints("axes")?) {
                    Some(a) => sorted_axes(cx, &a, r)?,
                    None => (0..r).filter(|&i| x.shape[i] == 1).collect(),
                },
            },
            "Unsqueeze" => {
                let a = second
                    .or(cx.ints("axes")?)
                    .ok_or_else(|| cx.err("axes are required"))?;
                Op::Unsqueeze {
                    axes: sorted_axes(cx, &a, r + a.len())?,
                }
            }
            _ => Op::Transpose {
                perm: match cx.ints("perm")? {
                    Some(p) => p
                        .iter()
                        .map(|&v| {
                            usize::try_from(v)
                                .map_err(|_| cx.err("perm entries must be non-negative"))
                        })
                        .collect::<Result<_>>()?,
                    None => (0..r).rev().collect(),
                },
            },
        })
    }
}

impl Importer {
    /// Element count of a constant about to be folded, refused before any memory is allocated
    /// for it above [`MAX_FOLDED`] or beyond what is left of the model's fold budget.
    fn folded_len(&self, cx: &NodeCtx, shape: &[usize]) -> Result<usize> {
        let n = checked_len(shape).filter(|&n| n <= MAX_FOLDED).ok_or_else(|| {
            cx.err(format!("folds to a constant of shape {shape:?}, more than the {MAX_FOLDED} elements allowed"))
        })?;
        self.within_fold_budget(cx, n)?;
        Ok(n)
    }

    /// Refuses folding `n` more elements when the model's fold budget (2^20 elements plus one
    /// per byte of the file, for all folded constants together) has less left.
    fn within_fold_budget(&self, cx: &NodeCtx, n: usize) -> Result<()> {
        if n > self.fold_budget {
            return Err(cx.err(format!(
                "folding {n} more elements would exceed the model's budget for folded constants ({} left)",
                self.fold_budget
            )));
        }
        Ok(())
    }
}

fn is_foldable(op: &str) -> bool {
    matches!(
        op,
        "Identity"
            | "Dropout"
            | "Cast"
            | "Gather"
            | "ConstantOfShape"
            | "Range"
            | "Add"
            | "Sub"
            | "Mul"
            | "Div"
            | "Equal"
            | "Where"
            | "Expand"
            | "Concat"
            | "Slice"
            | "Reshape"
            | "Flatten"
            | "Squeeze"
            | "Unsqueeze"
            | "Transpose"
    )
}

/// The tensor a `Constant` node holds, from whichever `value*` attribute it has.
fn constant_value(cx: &NodeCtx) -> Result<Tensor> {
    if let Some(t) = cx.tensor("value")? {
        return tensor::decode(t, None);
    }
    if let Some(f) = cx.float("value_float")? {
        return Ok(Tensor::f32(vec![], vec![f]));
    }
    if let Some(v) = cx.floats("value_floats")? {
        return Ok(Tensor::f32(vec![v.len()], v));
    }
    if let Some(i) = cx.int("value_int")? {
        return Ok(Tensor::i64(vec![], vec![i]));
    }
    if let Some(v) = cx.ints("value_ints")? {
        return Ok(Tensor::i64(vec![v.len()], v));
    }
    for a in ["sparse_value", "value_string", "value_strings"] {
        if cx.has(a) {
            return Err(cx.err(format!("attribute '{a}' is not supported")));
        }
    }
    Err(Error::Node {
        node: cx.name.into(),
        op: cx.op.into(),
        msg: "has no value attribute".into(),
    })
}

/// Normalises a possibly negative axis into `0..rank`.
fn norm_axis(cx: &NodeCtx, axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(cx.err(format!("axis {axis} is out of range for rank {rank}")))
    }
}

/// Like `norm_axis` but allows `rank` itself (Flatten).
fn norm_axis_incl(cx: &NodeCtx, axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..=r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(cx.err(format!(
            "axis {axis} is out of range for rank {rank} (allowed: {}..={r})",
            -r
        )))
    }
}

fn sorted_axes(cx: &NodeCtx, axes: &[i64], rank: usize) -> Result<Vec<usize>> {
    let mut v = axes
        .iter()
        .map(|&a| norm_axis(cx, a, rank))
        .collect::<Result<Vec<_>>>()?;
    v.sort_unstable();
    if v.windows(2).any(|w| w[0] == w[1]) {
        return Err(cx.err(format!("axes {axes:?} repeat an axis")));
    }
    Ok(v)
}

fn pair(cx: &NodeCtx, v: &[i64], what: &str) -> Result<[usize; 2]> {
    match v {
        [a, b] if *a > 0 && *b > 0 => Ok([*a as usize, *b as usize]),
        _ => Err(cx.err(format!(
            "{what} {v:?} must be two positive values (only 2-D is supported)"
        ))),
    }
}

fn opt_pair(cx: &NodeCtx, name: &str) -> Result<[usize; 2]> {
    match cx.ints(name)? {
        Some(v) => pair(cx, &v, name),
        None => Ok([1, 1]),
    }
}

/// Largest pad accepted, explicit or from `auto_pad`: with it, a window that fits its padded
/// input keeps every index the kernels compute far from overflow.
const MAX_PAD: usize = 1 << 20;

/// Explicit [top, left, bottom, right] pads from `pads` or `auto_pad`.
fn spatial_pads(
    cx: &NodeCtx,
    hw: [usize; 2],
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
) -> Result<[usize; 4]> {
    let auto = cx.string_or("auto_pad", "NOTSET")?;
    match auto.as_str() {
        "NOTSET" | "" => match cx.ints("pads")? {
            None => Ok([0; 4]),
            Some(p) if p.len() == 4 && p.iter().all(|&v| (0..=MAX_PAD as i64).contains(&v)) => {
                Ok([p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize])
            }
            Some(p) => Err(cx.err(format!("pads {p:?} must be four non-negative values"))),
        },
        "VALID" => Ok([0; 4]),
        "SAME_UPPER" | "SAME_LOWER" => {
            let upper = auto == "SAME_UPPER";
            let (t, b) = same_pads(hw[0], kernel[0], strides[0], dilations[0], upper)
                .map_err(|e| cx.err(e))?;
            let (l, r) = same_pads(hw[1], kernel[1], strides[1], dilations[1], upper)
                .map_err(|e| cx.err(e))?;
            if [t, l, b, r].iter().any(|&p| p > MAX_PAD) {
                return Err(cx.err(format!(
                    "auto_pad {auto} needs pads {:?}, more than the {MAX_PAD} supported",
                    [t, l, b, r]
                )));
            }
            Ok([t, l, b, r])
        }
        other => Err(cx.err(format!("auto_pad '{other}' is not valid"))),
    }
}
