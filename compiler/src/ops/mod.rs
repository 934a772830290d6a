//! The closed set of IR operations and everything the compiler asks of one: `infer` (shape
//! inference), `macs`, `storage` (for the memory plan), `can_write_nhwc` and `has_kernel_for`
//! (layouts), `packing` (weights for the kernel). Each is an exhaustive `match` here that names
//! every variant; the family files (`conv.rs`, `fused.rs`, `movement.rs`, `reduce.rs`, ...) hold
//! the family's attributes, its shape inference and every answer that depends on attributes or
//! operands. A new variant therefore fails to compile until each of these (and `eval`, the
//! back end's `lower_node` and the text form in [`Attrs`]) handles it; the front end, which maps
//! ONNX op names to variants, and the runtime kernel it calls are not checked that way.

pub mod conv;
pub mod elementwise;
pub mod eval;
pub mod fused;
pub mod gemm;
pub mod movement;
pub mod norm;
pub mod pool;
pub mod reduce;
pub mod resize;

use std::fmt;

use crate::ir::layout::{all_nchw, layout_at, Layout, LayoutOperand, Packing};
use crate::ir::{DType, Tensor, TensorType};

pub use conv::Conv;
pub use elementwise::{Activation, BinaryOp};
pub use pool::{Pool, PoolKind};
pub use reduce::softmax_dims;
pub use resize::Resize;

/// An IR operation. Inputs arrive over edges in port order; compile-time operands that ONNX passes
/// as inputs (Slice starts, Reshape shape, Clip bounds...) are resolved into attributes on import.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A graph input; its type is the node's single output.
    Input,
    /// A constant (initializer, `Constant` node or folded subgraph).
    Const(Tensor),
    /// 2-D convolution. Inputs: x [N,C,H,W], w [M,C/group,kh,kw], optional bias [M], and with
    /// a fused residual, bias and residual (both then present).
    Conv(Conv),
    /// A fused Ghost module (pass `fuse_ghost_module`): primary conv and cheap depthwise conv
    /// writing the two halves of one output. Inputs: x, w1, b1, w2, b2, [residual].
    GhostModule(fused::GhostModule),
    /// A fused squeeze-and-excite block (pass `fuse_squeeze_excite`): x * gate(mlp(mean(x))).
    /// Inputs: x, w1, b1, w2, b2.
    SqueezeExcite(fused::SqueezeExcite),
    /// A product with a nearest-upsampled gate (pass `fuse_dfc_gate`): x * upsample(gate).
    /// Inputs: x, gate.
    GateUpsample(fused::GateUpsample),
    /// An expansion (pointwise) conv and the depthwise conv over its result, block by block
    /// (pass `fuse_expand_depthwise`). Inputs: x, w1, b1, w2, b2.
    ExpandDepthwise(fused::ExpandDepthwise),
    /// Inference BatchNormalization. Inputs: x, scale, bias, mean, var (all per channel).
    BatchNorm {
        epsilon: f32,
    },
    /// Unary elementwise activation.
    Activation(Activation),
    /// Binary elementwise op with numpy broadcasting.
    Binary(BinaryOp),
    /// Concatenation along `axis`.
    Concat {
        axis: usize,
    },
    /// Strided slice; one entry per sliced axis.
    Slice {
        axes: Vec<SliceAxis>,
    },
    /// Split along `axis` into pieces of `sizes`.
    Split {
        axis: usize,
        sizes: Vec<usize>,
    },
    /// Mean over all spatial dims, keeping them as 1.
    GlobalAveragePool,
    /// Mean over `axes` (sorted); `keepdims` keeps them as 1.
    ReduceMean {
        axes: Vec<usize>,
        keepdims: bool,
    },
    /// 2-D max or average pooling.
    Pool(Pool),
    /// Resize of the two spatial dims.
    Resize(Resize),
    /// Flatten to 2-D at `axis`.
    Flatten {
        axis: usize,
    },
    /// Reshape to the node's output shape (`shape` as written in the model).
    Reshape {
        shape: Vec<i64>,
        allowzero: bool,
    },
    /// Remove size-1 `axes`.
    Squeeze {
        axes: Vec<usize>,
    },
    /// Insert size-1 `axes` (positions in the output).
    Unsqueeze {
        axes: Vec<usize>,
    },
    /// Permute dims: output dim i is input dim `perm[i]`.
    Transpose {
        perm: Vec<usize>,
    },
    /// alpha * A' B' + beta * C. Inputs: a, b, optional c.
    Gemm {
        alpha: f32,
        beta: f32,
        trans_a: bool,
        trans_b: bool,
    },
    /// Numpy matmul (batched, broadcasting).
    MatMul,
    /// Softmax over `axis`; `coerce_2d` is the opset < 13 meaning (over all dims from `axis`).
    Softmax {
        axis: usize,
        coerce_2d: bool,
    },
    Identity,
    /// Inference-mode Dropout: an identity.
    Dropout,
}

/// One axis of a Slice, normalised: `start` is a valid index when the output is non-empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SliceAxis {
    pub axis: usize,
    pub start: usize,
    pub step: i64,
    /// Number of elements taken along the axis.
    pub len: usize,
}

impl Op {
    /// Short lowercase name used in the text form and summaries.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Const(_) => "const",
            Op::Conv(_) => "conv",
            Op::GhostModule(_) => "ghost_module",
            Op::SqueezeExcite(_) => "squeeze_excite",
            Op::GateUpsample(_) => "gate_upsample",
            Op::ExpandDepthwise(_) => "expand_depthwise",
            Op::BatchNorm { .. } => "batch_norm",
            Op::Activation(a) => a.name(),
            Op::Binary(b) => b.name(),
            Op::Concat { .. } => "concat",
            Op::Slice { .. } => "slice",
            Op::Split { .. } => "split",
            Op::GlobalAveragePool => "global_avg_pool",
            Op::ReduceMean { .. } => "reduce_mean",
            Op::Pool(p) => match p.kind {
                PoolKind::Max => "max_pool",
                PoolKind::Avg { .. } => "avg_pool",
            },
            Op::Resize(_) => "resize",
            Op::Flatten { .. } => "flatten",
            Op::Reshape { .. } => "reshape",
            Op::Squeeze { .. } => "squeeze",
            Op::Unsqueeze { .. } => "unsqueeze",
            Op::Transpose { .. } => "transpose",
            Op::Gemm { .. } => "gemm",
            Op::MatMul => "matmul",
            Op::Softmax { .. } => "softmax",
            Op::Identity => "identity",
            Op::Dropout => "dropout",
        }
    }

    /// Output types from input types. Errors are short causes; callers add the node's name.
    pub fn infer(&self, inputs: &[&TensorType]) -> Result<Vec<TensorType>, String> {
        let arity = |lo: usize, hi: usize| -> Result<(), String> {
            if inputs.len() < lo || inputs.len() > hi {
                Err(format!("expected {lo}..={hi} inputs, got {}", inputs.len()))
            } else {
                Ok(())
            }
        };
        let x = |i: usize| -> Result<&TensorType, String> {
            inputs
                .get(i)
                .copied()
                .ok_or_else(|| format!("missing input {i}"))
        };
        match self {
            Op::Input => Err("an input has no inputs to infer from".into()),
            Op::Const(t) => {
                arity(0, 0)?;
                Ok(vec![t.ty()])
            }
            Op::Conv(c) => c.infer_all(inputs).map(|t| vec![t]),
            Op::GhostModule(gm) => gm.infer(inputs).map(|t| vec![t]),
            Op::SqueezeExcite(se) => se.infer(inputs).map(|t| vec![t]),
            Op::GateUpsample(gu) => gu.infer(inputs).map(|t| vec![t]),
            Op::ExpandDepthwise(ed) => ed.infer(inputs).map(|t| vec![t]),
            Op::BatchNorm { .. } => {
                arity(5, 5)?;
                norm::infer_batch_norm(x(0)?, [x(1)?, x(2)?, x(3)?, x(4)?]).map(|t| vec![t])
            }
            Op::Activation(_) | Op::Identity | Op::Dropout => {
                arity(1, 1)?;
                Ok(vec![x(0)?.clone()])
            }
            Op::Binary(_) => {
                arity(2, 2)?;
                elementwise::infer_binary(x(0)?, x(1)?).map(|t| vec![t])
            }
            Op::Concat { axis } => movement::infer_concat(inputs, *axis).map(|t| vec![t]),
            Op::Slice { axes } => {
                arity(1, 1)?;
                movement::infer_slice(x(0)?, axes).map(|t| vec![t])
            }
            Op::Split { axis, sizes } => {
                arity(1, 1)?;
                movement::infer_split(x(0)?, *axis, sizes)
            }
            Op::GlobalAveragePool => {
                arity(1, 1)?;
                reduce::infer_global_average_pool(x(0)?).map(|t| vec![t])
            }
            Op::ReduceMean { axes, keepdims } => {
                arity(1, 1)?;
                reduce::infer_reduce_mean(x(0)?, axes, *keepdims).map(|t| vec![t])
            }
            Op::Pool(p) => {
                arity(1, 1)?;
                p.infer(float(x(0)?)?).map(|t| vec![t])
            }
            Op::Resize(r) => {
                arity(1, 1)?;
                r.infer(float(x(0)?)?).map(|t| vec![t])
            }
            Op::Flatten { axis } => {
                arity(1, 1)?;
                movement::infer_flatten(x(0)?, *axis).map(|t| vec![t])
            }
            Op::Reshape { shape, allowzero } => {
                arity(1, 1)?;
                let x = x(0)?;
                movement::reshape_shape(&x.shape, shape, *allowzero)
                    .map(|shape| vec![TensorType::new(x.dtype, shape)])
            }
            Op::Squeeze { axes } => {
                arity(1, 1)?;
                movement::infer_squeeze(x(0)?, axes).map(|t| vec![t])
            }
            Op::Unsqueeze { axes } => {
                arity(1, 1)?;
                movement::infer_unsqueeze(x(0)?, axes).map(|t| vec![t])
            }
            Op::Transpose { perm } => {
                arity(1, 1)?;
                movement::infer_transpose(x(0)?, perm).map(|t| vec![t])
            }
            Op::Gemm {
                trans_a, trans_b, ..
            } => {
                arity(2, 3)?;
                gemm::infer_gemm(x(0)?, x(1)?, inputs.get(2).copied(), *trans_a, *trans_b)
                    .map(|t| vec![t])
            }
            Op::MatMul => {
                arity(2, 2)?;
                gemm::infer_matmul(x(0)?, x(1)?).map(|t| vec![t])
            }
            Op::Softmax { axis, .. } => {
                arity(1, 1)?;
                reduce::infer_softmax(x(0)?, *axis).map(|t| vec![t])
            }
        }
    }
}

/// Where an op's output is stored relative to its first input: what the memory plan needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputStorage {
    /// The first input itself: the op is a no-op.
    Alias,
    /// The first input's data under another shape: no data moves.
    Reshaped,
    /// Storage of its own, or its first input's when nothing reads that input later: the kernel
    /// can write its output over its input.
    InPlace,
    /// Storage of its own (an arena range; for a constant, the weights).
    Fresh,
}

impl OutputStorage {
    /// True if the output always shares its first input's storage.
    pub fn is_alias(self) -> bool {
        match self {
            OutputStorage::Alias | OutputStorage::Reshaped => true,
            OutputStorage::InPlace | OutputStorage::Fresh => false,
        }
    }
}

/// The facts passes, analyses and the back end ask of an op. Each is one exhaustive `match`:
/// answers that depend on attributes or operands are computed in the family's file, next to its
/// shape inference.
impl Op {
    /// Multiply-adds of one run on inputs of types `inputs` giving `output` (0 for ops without a
    /// multiply-accumulate core).
    pub fn macs(&self, inputs: &[&TensorType], output: &TensorType) -> u64 {
        match self {
            Op::Conv(c) => c.macs(inputs, output),
            Op::GhostModule(gm) => gm.macs(inputs, output),
            Op::ExpandDepthwise(ed) => ed.macs(inputs, output),
            Op::SqueezeExcite(se) => se.macs(inputs, output),
            Op::Gemm { trans_a, .. } => gemm::gemm_macs(inputs, output, *trans_a),
            Op::MatMul => gemm::matmul_macs(inputs, output),
            Op::Input
            | Op::Const(_)
            | Op::GateUpsample(_)
            | Op::BatchNorm { .. }
            | Op::Activation(_)
            | Op::Binary(_)
            | Op::Concat { .. }
            | Op::Slice { .. }
            | Op::Split { .. }
            | Op::GlobalAveragePool
            | Op::ReduceMean { .. }
            | Op::Pool(_)
            | Op::Resize(_)
            | Op::Flatten { .. }
            | Op::Reshape { .. }
            | Op::Squeeze { .. }
            | Op::Unsqueeze { .. }
            | Op::Transpose { .. }
            | Op::Softmax { .. }
            | Op::Identity
            | Op::Dropout => 0,
        }
    }

    /// f32s of scratch the op's kernel writing `out` needs while it runs, which the memory plan
    /// reserves (only the expansion + depthwise pair has any).
    pub fn scratch_len(&self, inputs: &[&TensorType], out: Layout) -> usize {
        match self {
            Op::ExpandDepthwise(ed) => ed.scratch_len(inputs, out),
            _ => 0,
        }
    }

    /// Where the output is stored relative to the first input (see [`OutputStorage`]).
    pub fn storage(&self) -> OutputStorage {
        match self {
            Op::Identity | Op::Dropout => OutputStorage::Alias,
            Op::Flatten { .. } | Op::Reshape { .. } | Op::Squeeze { .. } | Op::Unsqueeze { .. } => {
                OutputStorage::Reshaped
            }
            Op::Activation(_) | Op::SqueezeExcite(_) | Op::GateUpsample(_) => {
                OutputStorage::InPlace
            }
            Op::Input
            | Op::Const(_)
            | Op::Conv(_)
            | Op::GhostModule(_)
            | Op::ExpandDepthwise(_)
            | Op::BatchNorm { .. }
            | Op::Binary(_)
            | Op::Concat { .. }
            | Op::Slice { .. }
            | Op::Split { .. }
            | Op::GlobalAveragePool
            | Op::ReduceMean { .. }
            | Op::Pool(_)
            | Op::Resize(_)
            | Op::Transpose { .. }
            | Op::Gemm { .. }
            | Op::MatMul
            | Op::Softmax { .. } => OutputStorage::Fresh,
        }
    }

    /// True for ops with a kernel that writes NHWC (for some attributes and operands):
    /// `plan_layout` starts their outputs as NHWC, then [`Op::has_kernel_for`] decides.
    pub fn can_write_nhwc(&self) -> bool {
        match self {
            Op::Conv(_)
            | Op::GhostModule(_)
            | Op::SqueezeExcite(_)
            | Op::Pool(_)
            | Op::GateUpsample(_)
            | Op::Resize(_)
            | Op::Activation(_)
            | Op::Binary(_) => true,
            Op::Input
            | Op::Const(_)
            | Op::ExpandDepthwise(_)
            | Op::BatchNorm { .. }
            | Op::Concat { .. }
            | Op::Slice { .. }
            | Op::Split { .. }
            | Op::GlobalAveragePool
            | Op::ReduceMean { .. }
            | Op::Flatten { .. }
            | Op::Reshape { .. }
            | Op::Squeeze { .. }
            | Op::Unsqueeze { .. }
            | Op::Transpose { .. }
            | Op::Gemm { .. }
            | Op::MatMul
            | Op::Softmax { .. }
            | Op::Identity
            | Op::Dropout => false,
        }
    }

    /// True if a kernel reads `inputs` in their layouts and writes its outputs in `out`.
    ///
    /// NHWC kernels exist for convs ([`Conv::has_kernel_for`]), Ghost modules
    /// ([`fused::GhostModule::has_kernel_for`]), the expansion + depthwise pair
    /// ([`fused::ExpandDepthwise::has_kernel_for`]), squeeze-and-excite, pooling, activations, Resize
    /// and the DFC gate (the same layout in and out), elementwise binary ops without broadcasting
    /// (every operand of one type and layout) and global average pooling (any input; its 1x1
    /// output is NCHW). Every other op reads and writes NCHW only, and graph inputs and constants
    /// are NCHW.
    pub fn has_kernel_for(&self, inputs: &[LayoutOperand], out: Layout) -> bool {
        match self {
            Op::Input | Op::Const(_) => out == Layout::Nchw,
            Op::Conv(c) => c.has_kernel_for(inputs, out),
            Op::GhostModule(gm) => gm.has_kernel_for(inputs, out),
            Op::ExpandDepthwise(ed) => ed.has_kernel_for(inputs, out),
            Op::SqueezeExcite(_) | Op::Pool(_) | Op::Activation(_) | Op::Resize(_) => {
                layout_at(inputs, 0) == out
            }
            Op::GateUpsample(_) => inputs.iter().all(|x| x.layout == out),
            // Elementwise without broadcasting reads and writes any one layout.
            Op::Binary(_) => {
                inputs.iter().all(|x| x.layout == out)
                    && (out == Layout::Nchw || inputs.windows(2).all(|p| p[0].ty == p[1].ty))
            }
            Op::GlobalAveragePool => out == Layout::Nchw,
            Op::BatchNorm { .. }
            | Op::Concat { .. }
            | Op::Slice { .. }
            | Op::Split { .. }
            | Op::ReduceMean { .. }
            | Op::Flatten { .. }
            | Op::Reshape { .. }
            | Op::Squeeze { .. }
            | Op::Unsqueeze { .. }
            | Op::Transpose { .. }
            | Op::Gemm { .. }
            | Op::MatMul
            | Op::Softmax { .. }
            | Op::Identity
            | Op::Dropout => all_nchw(inputs, out),
        }
    }

    /// How the constant at input `port` (of `inputs`, the node's operands) is packed for the
    /// kernel that writes `output` in layout `out`: only the conv kernels take weights other
    /// than as they are.
    pub fn packing(
        &self,
        port: usize,
        inputs: &[LayoutOperand],
        output: &TensorType,
        out: Layout,
    ) -> Packing {
        let Some(operand) = inputs.get(port) else {
            return Packing::Plain;
        };
        match self {
            Op::Conv(c) => c.packing(port, inputs, output, out),
            Op::GhostModule(gm) => gm.packing(port, operand.ty, out),
            Op::ExpandDepthwise(ed) => ed.packing(port, operand.ty, out),
            Op::Input
            | Op::Const(_)
            | Op::SqueezeExcite(_)
            | Op::GateUpsample(_)
            | Op::BatchNorm { .. }
            | Op::Activation(_)
            | Op::Binary(_)
            | Op::Concat { .. }
            | Op::Slice { .. }
            | Op::Split { .. }
            | Op::GlobalAveragePool
            | Op::ReduceMean { .. }
            | Op::Pool(_)
            | Op::Resize(_)
            | Op::Flatten { .. }
            | Op::Reshape { .. }
            | Op::Squeeze { .. }
            | Op::Unsqueeze { .. }
            | Op::Transpose { .. }
            | Op::Gemm { .. }
            | Op::MatMul
            | Op::Softmax { .. }
            | Op::Identity
            | Op::Dropout => Packing::Plain,
        }
    }
}

/// Requires a float value (the only dtype computed at run time).
pub fn float(t: &TensorType) -> Result<&TensorType, String> {
    if t.dtype == DType::F32 {
        Ok(t)
    } else {
        Err(format!("expected an f32 value, got {t}"))
    }
}

/// Attributes shown in the text form, e.g. `{axis: 1}`; empty when the op has none.
pub struct Attrs<'a>(pub &'a Op);

impl fmt::Display for Attrs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Op::Input
            | Op::Const(_)
            | Op::Identity
            | Op::Dropout
            | Op::MatMul
            | Op::GlobalAveragePool => Ok(()),
            Op::Binary(_) => Ok(()),
            Op::Conv(c) => write!(f, " {c}"),
            Op::GhostModule(gm) => write!(f, " {gm}"),
            Op::SqueezeExcite(se) => write!(f, " {se}"),
            Op::GateUpsample(gu) => write!(f, " {gu}"),
            Op::ExpandDepthwise(ed) => write!(f, " {ed}"),
            Op::BatchNorm { epsilon } => write!(f, " {{epsilon: {epsilon:e}}}"),
            Op::Activation(a) => a.fmt_attrs(f),
            Op::Concat { axis } => write!(f, " {{axis: {axis}}}"),
            Op::Slice { axes } => {
                f.write_str(" {")?;
                for (i, a) in axes.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(
                        f,
                        "axis {}: start {} step {} len {}",
                        a.axis, a.start, a.step, a.len
                    )?;
                }
                f.write_str("}")
            }
            Op::Split { axis, sizes } => write!(f, " {{axis: {axis}, sizes: {sizes:?}}}"),
            Op::ReduceMean { axes, keepdims } => {
                write!(f, " {{axes: {axes:?}, keepdims: {keepdims}}}")
            }
            Op::Pool(p) => write!(f, " {p}"),
            Op::Resize(r) => write!(f, " {r}"),
            Op::Flatten { axis } => write!(f, " {{axis: {axis}}}"),
            Op::Reshape { shape, allowzero } => {
                write!(f, " {{shape: {shape:?}, allowzero: {allowzero}}}")
            }
            Op::Squeeze { axes } | Op::Unsqueeze { axes } => write!(f, " {{axes: {axes:?}}}"),
            Op::Transpose { perm } => write!(f, " {{perm: {perm:?}}}"),
            Op::Gemm {
                alpha,
                beta,
                trans_a,
                trans_b,
            } => {
                write!(
                    f,
                    " {{alpha: {alpha}, beta: {beta}, trans_a: {trans_a}, trans_b: {trans_b}}}"
                )
            }
            Op::Softmax { axis, coerce_2d } => {
                write!(f, " {{axis: {axis}, coerce_2d: {coerce_2d}}}")
            }
        }
    }
}
