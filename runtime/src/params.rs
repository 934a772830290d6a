//! The parameter types of the kernels: shapes, attributes and activations, as generated code
//! writes them. A leaf module: it imports nothing from the kernels, so the generic SIMD kernels,
//! the architecture code and the op modules can all depend on it.

/// Element-wise activation, fused into kernels or applied as its own op.
///
/// Every variant propagates NaN (NaN in gives NaN out), like onnxruntime.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// Identity.
    None,
    /// `max(0, x)`.
    Relu,
    /// `min(max(x, min), max)`; when `min > max` every output is `max`.
    Clip {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// `max(0, min(1, alpha * x + beta))`.
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
    /// `x * max(0, min(1, x / 6 + 0.5))`.
    HardSwish,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// SiLU (Swish): `x * sigmoid(x)`.
    Silu,
    /// `tanh(x)`.
    Tanh,
    /// GELU, erf form: `x / 2 * (1 + erf(x / sqrt(2)))`.
    Gelu,
    /// GELU, tanh form: `x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3)))`.
    GeluTanh,
    /// The error function `erf(x)`.
    Erf,
    /// `e^x`.
    Exp,
}

/// Shape and attributes of a 2-D convolution. Bottom/right padding is implied
/// by `h_out`/`w_out`: output positions whose window leaves the input read zeros.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv2d {
    /// Batch size.
    pub n: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h_in: usize,
    /// Input width.
    pub w_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Output height.
    pub h_out: usize,
    /// Output width.
    pub w_out: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Vertical stride, > 0.
    pub stride_h: usize,
    /// Horizontal stride, > 0.
    pub stride_w: usize,
    /// Zero rows above the input.
    pub pad_top: usize,
    /// Zero columns left of the input.
    pub pad_left: usize,
    /// Vertical dilation, > 0.
    pub dilation_h: usize,
    /// Horizontal dilation, > 0.
    pub dilation_w: usize,
    /// Number of groups, > 0, dividing `c_in` and `c_out`.
    pub group: usize,
    /// Activation applied after adding the bias.
    pub activation: Activation,
}

/// Shape and attributes of an ONNX Gemm.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gemm {
    /// Rows of the output.
    pub m: usize,
    /// Columns of the output.
    pub n: usize,
    /// Inner dimension.
    pub k: usize,
    /// `a` is stored `[k, m]` (use its transpose).
    pub trans_a: bool,
    /// `b` is stored `[n, k]` (use its transpose).
    pub trans_b: bool,
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of `c`.
    pub beta: f32,
    /// Element stride of `c` along output rows (0 to broadcast).
    pub c_stride_m: usize,
    /// Element stride of `c` along output columns (0 to broadcast).
    pub c_stride_n: usize,
}

/// Shape and attributes of a 2-D pooling op over `[n, c, h, w]` tensors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pool2d {
    /// Batch size.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Input height.
    pub h_in: usize,
    /// Input width.
    pub w_in: usize,
    /// Output height (floor or ceil mode already applied).
    pub h_out: usize,
    /// Output width (floor or ceil mode already applied).
    pub w_out: usize,
    /// Window height.
    pub kernel_h: usize,
    /// Window width.
    pub kernel_w: usize,
    /// Vertical stride, > 0.
    pub stride_h: usize,
    /// Horizontal stride, > 0.
    pub stride_w: usize,
    /// Padding rows above the input.
    pub pad_top: usize,
    /// Padding columns left of the input.
    pub pad_left: usize,
    /// Padding rows below the input. Only used by [`avg_pool2d`](crate::avg_pool2d) with
    /// `count_include_pad`, where in ceil mode it bounds what counts as padding.
    pub pad_bottom: usize,
    /// Padding columns right of the input; see `pad_bottom`.
    pub pad_right: usize,
    /// Vertical dilation, > 0.
    pub dilation_h: usize,
    /// Horizontal dilation, > 0.
    pub dilation_w: usize,
    /// AveragePool only: whether padding positions count in the divisor.
    pub count_include_pad: bool,
}

/// Interpolation mode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ResizeMode {
    /// Nearest neighbour, with the given rounding of the source coordinate.
    Nearest(NearestRounding),
    /// Bilinear.
    Linear,
}

/// How `Nearest` turns a fractional source coordinate into an index.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NearestRounding {
    /// Round to nearest, halves down (`round_prefer_floor`, the ONNX default).
    RoundPreferFloor,
    /// Round to nearest, halves up (`round_prefer_ceil`).
    RoundPreferCeil,
    /// Round down.
    Floor,
    /// Round up.
    Ceil,
}

/// ONNX `coordinate_transformation_mode`: maps an output coordinate `x` to a
/// source coordinate, with `scale = output / input` and lengths per axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CoordTransform {
    /// `(x + 0.5) / scale - 0.5`.
    HalfPixel,
    /// Like `HalfPixel`, but 0 when the output length is 1.
    PytorchHalfPixel,
    /// `x * (len_in - 1) / (len_out - 1)`, or 0 when the output length is 1.
    AlignCorners,
    /// `x / scale`.
    Asymmetric,
    /// `(x + 0.5) / scale` (ONNX `tf_half_pixel_for_nearest`).
    TfHalfPixelForCenter,
}

/// Gating by a nearest-upsampled gate (GhostNetV2's DFC attention): `out[b][c][y][x] =
/// x[b][c][y][x] * gate[b][c][y / factor_h][x / factor_w]` for an `[n, c, h, w]` input and an
/// `[n, c, h / factor_h, w / factor_w]` gate, without materialising the upsampled gate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GateUpsample {
    /// Batch size.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Height of the input and output (a multiple of `factor_h`).
    pub h: usize,
    /// Width of the input and output (a multiple of `factor_w`).
    pub w: usize,
    /// Vertical upsampling factor of the gate, > 0.
    pub factor_h: usize,
    /// Horizontal upsampling factor of the gate, > 0.
    pub factor_w: usize,
}

/// Resize of `[n, c, h_in, w_in]` to `[n, c, h_out, w_out]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resize {
    /// Batch size.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Input height.
    pub h_in: usize,
    /// Input width.
    pub w_in: usize,
    /// Output height.
    pub h_out: usize,
    /// Output width.
    pub w_out: usize,
    /// Vertical scale `output / input`, as given by the `scales` input or
    /// computed by the ONNX rules from `sizes`.
    pub scale_h: f32,
    /// Horizontal scale `output / input`.
    pub scale_w: f32,
    /// Interpolation mode.
    pub mode: ResizeMode,
    /// Coordinate transformation.
    pub coord: CoordTransform,
}

/// Binary arithmetic operator (IEEE semantics, e.g. `x / 0` is ±inf or NaN).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
}

/// Geometry of a squeeze-and-excite block over an NCHW tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SqueezeExcite {
    /// Batch.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// H * W.
    pub spatial: usize,
    /// Channels of the bottleneck (rows of the reduce weight).
    pub mid: usize,
    /// Activation after the reduce step.
    pub act: Activation,
    /// Gate activation after the expand step.
    pub gate: Activation,
}

/// A Ghost module: a pointwise convolution (`primary`) followed by a depthwise one (`cheap`)
/// over the first channels of its result, the two written side by side into one output (see
/// [`ghost_module`](crate::ghost_module) and [`ghost_module_nhwc`](crate::ghost_module_nhwc)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GhostModule {
    /// Pointwise (1x1, stride 1, no padding, group 1): `c_in -> init` channels,
    /// `init = primary.c_out`; `primary.n` is the batch.
    pub primary: Conv2d,
    /// Depthwise over `k = cheap.c_in = cheap.c_out <= init` channels, stride
    /// 1, keeping the height and width (any kernel, padding and dilation that do).
    pub cheap: Conv2d,
}

/// An expansion (pointwise) convolution and the depthwise convolution over its result, computed
/// `block` expanded channels at a time so that the expanded tensor is never whole in memory
/// (see [`expand_depthwise`](crate::expand_depthwise)); NCHW.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExpandDepthwise {
    /// Pointwise (1x1, stride 1, no padding, group 1): `c_in -> c` channels; `expand.n` is
    /// the batch.
    pub expand: Conv2d,
    /// Depthwise over the `c` expanded channels (`c_in == c_out == group == c`), any kernel,
    /// stride, padding and dilation.
    pub depthwise: Conv2d,
    /// Expanded channels per block (at least 1): the scratch holds `block` expanded planes.
    pub block: usize,
}

impl ExpandDepthwise {
    /// f32s of scratch [`expand_depthwise`](crate::expand_depthwise) needs after the output.
    pub const fn scratch_len(&self) -> usize {
        self.block * self.expand.h_out * self.expand.w_out
    }
}

/// An expansion (pointwise) convolution and the depthwise convolution over its result, NHWC,
/// computed a strip of `rows` output rows at a time so that the expanded tensor is never whole
/// in memory (see [`expand_depthwise_nhwc`](crate::expand_depthwise_nhwc)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExpandDepthwiseNhwc {
    /// Pointwise (1x1, stride 1, no padding, group 1): `c_in -> c` channels; `expand.n` is
    /// the batch.
    pub expand: Conv2d,
    /// Depthwise over the `c` expanded channels (`c_in == c_out == group == c`), any kernel,
    /// stride, padding and dilation.
    pub depthwise: Conv2d,
    /// Output rows per strip (at least 1).
    pub rows: usize,
}

impl ExpandDepthwiseNhwc {
    /// Expanded rows a strip of [`rows`](Self::rows) output rows reads: its window's height,
    /// at most the expanded height.
    pub const fn strip_in_rows(&self) -> usize {
        let d = &self.depthwise;
        let span = self.rows.saturating_sub(1) * d.stride_h
            + d.kernel_h.saturating_sub(1) * d.dilation_h
            + 1;
        if span < d.h_in {
            span
        } else {
            d.h_in
        }
    }

    /// f32s of scratch [`expand_depthwise_nhwc`](crate::expand_depthwise_nhwc) needs after
    /// the output: one strip's expanded rows.
    pub const fn scratch_len(&self) -> usize {
        self.strip_in_rows() * self.depthwise.w_in * self.depthwise.c_in
    }
}

/// Operands of a pointwise convolution over a run of pixels of one batch item,
/// shared by the portable and SIMD kernels.
pub(crate) struct PwNhwc<'a> {
    /// The batch item's input: `[hw][c_in]`, or `[c_in][hw]` when `nchw`.
    pub(crate) x: &'a [f32],
    pub(crate) nchw: bool,
    pub(crate) hw: usize,
    pub(crate) c_in: usize,
    pub(crate) c_out: usize,
    /// `[c_in][c_out]`.
    pub(crate) w: &'a [f32],
    pub(crate) bias: Option<&'a [f32]>,
    /// The run's first pixel.
    pub(crate) first: usize,
    pub(crate) act: Activation,
}

/// Operands of a dense (group-1) convolution of one batch item, shared by the portable and
/// SIMD kernels (see [`crate::conv2d_dense`] for the weight packing).
pub(crate) struct DenseConv<'a> {
    /// The geometry (`n` is ignored: one item).
    pub(crate) p: &'a Conv2d,
    /// The item's input: `[h_in][w_in][c_in]` when `x_nhwc`, else `[c_in][h_in][w_in]`.
    pub(crate) x: &'a [f32],
    pub(crate) x_nhwc: bool,
    /// Packed: groups of 64 output channels (padded to a multiple of 16), `[tap][c_in][width]`.
    pub(crate) w: &'a [f32],
    pub(crate) bias: Option<&'a [f32]>,
    /// Never `Sigmoid` (the kernels leave it to their callers).
    pub(crate) act: Activation,
    /// The output (and residual) is channels-last.
    pub(crate) y_nhwc: bool,
}

/// Operands of a depthwise convolution, shared by the portable and SIMD kernels.
pub(crate) struct DwNhwc<'a> {
    /// The geometry; `c_out` channels.
    pub(crate) p: &'a Conv2d,
    /// `[kernel_h * kernel_w][c_out]`.
    pub(crate) w: &'a [f32],
    pub(crate) bias: Option<&'a [f32]>,
    pub(crate) act: Activation,
}

impl DwNhwc<'_> {
    /// Panics unless the geometry and weights are usable by the kernels.
    pub(crate) fn check(&self) {
        let p = self.p;
        assert!(p.steps_positive());
        assert!(self.w.len() >= p.kernel_h * p.kernel_w * p.c_out);
        assert!(self.bias.is_none_or(|b| b.len() >= p.c_out));
    }
}

impl Conv2d {
    /// 1x1, stride 1, no padding, the same height and width: a matrix product per group.
    #[inline]
    pub fn is_pointwise(&self) -> bool {
        self.kernel_h == 1
            && self.kernel_w == 1
            && self.stride_h == 1
            && self.stride_w == 1
            && self.pad_top == 0
            && self.pad_left == 0
            && self.h_out == self.h_in
            && self.w_out == self.w_in
    }

    /// Elements of the input, `n * c_in * h_in * w_in` (in either layout).
    #[inline]
    pub fn input_len(&self) -> usize {
        self.n * self.c_in * self.h_in * self.w_in
    }

    /// Elements of the output (and of a residual), `n * c_out * h_out * w_out`.
    #[inline]
    pub fn output_len(&self) -> usize {
        self.n * self.c_out * self.h_out * self.w_out
    }

    /// Strides and dilations are positive.
    #[inline]
    pub fn steps_positive(&self) -> bool {
        self.stride_h > 0 && self.stride_w > 0 && self.dilation_h > 0 && self.dilation_w > 0
    }

    /// One input channel per output channel (`group == c_in == c_out`).
    #[inline]
    pub fn is_depthwise(&self) -> bool {
        self.group == self.c_in && self.group == self.c_out
    }
}

/// The tensors of a kernel whose output has its input's shape: two buffers, or one the kernel
/// updates in place (when the compiler's memory plan gives the input and output one range).
#[derive(Debug)]
pub enum InOut<'a> {
    /// Reads the first, writes the second (the same length).
    Separate(&'a [f32], &'a mut [f32]),
    /// Reads and writes one buffer.
    InPlace(&'a mut [f32]),
}
