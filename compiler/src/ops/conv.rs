//! Conv: 2-D convolution attributes, output-size arithmetic shared with pooling, shape inference.

use std::fmt;

use crate::ir::layout::{all_nchw, layout_at, Layout, LayoutOperand, Packing};
use crate::ir::TensorType;
use crate::ops::{float, Activation};

/// Explicit 2-D convolution geometry (auto_pad is resolved to `pads` on import), plus the
/// epilogue fusion passes attach: `act(conv + bias [+ residual])`.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    /// [top, left, bottom, right]
    pub pads: [usize; 4],
    pub dilations: [usize; 2],
    pub group: usize,
    /// Activation applied last (after bias and residual).
    pub act: Option<Activation>,
    /// A fourth input (the conv then always has a bias) is added before the activation.
    pub residual: bool,
}

impl Conv {
    /// A plain convolution (no fused epilogue).
    pub fn new(
        kernel: [usize; 2],
        strides: [usize; 2],
        pads: [usize; 4],
        dilations: [usize; 2],
        group: usize,
    ) -> Self {
        Conv {
            kernel,
            strides,
            pads,
            dilations,
            group,
            act: None,
            residual: false,
        }
    }

    /// Output type from the inputs x, w, [bias], [residual].
    pub fn infer_all(&self, inputs: &[&TensorType]) -> Result<TensorType, String> {
        match (inputs, self.residual) {
            ([x, w], false) => self.infer(x, w, None),
            ([x, w, b], false) => self.infer(x, w, Some(b)),
            ([x, w, b, r], true) => {
                let out = self.infer(x, w, Some(b))?;
                if **r != out {
                    return Err(format!("residual {r} does not match the output {out}"));
                }
                Ok(out)
            }
            _ => Err(format!(
                "conv (residual: {}) cannot take {} inputs",
                self.residual,
                inputs.len()
            )),
        }
    }

    pub fn infer(
        &self,
        x: &TensorType,
        w: &TensorType,
        b: Option<&TensorType>,
    ) -> Result<TensorType, String> {
        let x = float(x)?;
        float(w)?;
        let [n, c, h, wd] = x.shape[..] else {
            return Err(format!(
                "only 2-D convolution is supported: input must have rank 4, got {x}"
            ));
        };
        let [m, cg, kh, kw] = w.shape[..] else {
            return Err(format!("weight must have rank 4, got {w}"));
        };
        let g = self.group;
        if g == 0 || c % g != 0 || m % g != 0 {
            return Err(format!(
                "group {g} must divide input channels {c} and output channels {m}"
            ));
        }
        if cg * g != c {
            return Err(format!(
                "weight {w} expects {} input channels, input has {c}",
                cg * g
            ));
        }
        if [kh, kw] != self.kernel {
            return Err(format!(
                "kernel_shape {:?} does not match weight {w}",
                self.kernel
            ));
        }
        if let Some(b) = b {
            float(b)?;
            if b.shape != [m] {
                return Err(format!("bias must have shape [{m}], got {b}"));
            }
        }
        let oh = out_dim(
            h,
            kh,
            self.strides[0],
            self.pads[0],
            self.pads[2],
            self.dilations[0],
            false,
        )?;
        let ow = out_dim(
            wd,
            kw,
            self.strides[1],
            self.pads[1],
            self.pads[3],
            self.dilations[1],
            false,
        )?;
        Ok(TensorType::f32(vec![n, m, oh, ow]))
    }

    /// True for a depthwise conv: one input channel per group, as many groups as input channels.
    pub fn is_depthwise(&self, c_in: usize) -> bool {
        self.group == c_in && self.group > 1
    }

    /// A 1x1, stride-1, unpadded, ungrouped convolution: a matrix product per image.
    pub fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.strides == [1, 1] && self.pads == [0; 4] && self.group == 1
    }

    /// Multiply-adds on inputs x, w, ...: one filter per output element.
    pub fn macs(&self, inputs: &[&TensorType], output: &TensorType) -> u64 {
        output.len() as u64 * inputs.get(1).map_or(0, |w| filter_len(w))
    }

    /// A conv the packed dense kernel (`conv2d_dense`) runs, judged by its weights `w`
    /// (`[c_out, c_in, kh, kw]`): one group, not pointwise (any kernel, stride, padding and
    /// dilation), at least [`DENSE_MIN_C_IN`] input and [`DENSE_MIN_C_OUT`] output channels.
    /// Below those a tile's multiply-adds per output are too few to pay for its output
    /// stores (stems on 3 channels keep the NCHW kernel that vectorises along rows).
    pub fn is_dense(&self, w: &TensorType) -> bool {
        self.group == 1
            && !self.is_pointwise()
            && w.rank() == 4
            && w.shape[0] >= DENSE_MIN_C_OUT
            && w.shape[1] >= DENSE_MIN_C_IN
    }

    /// The NHWC kernels need the weights (and bias) constant, as they are packed at compile time,
    /// and a residual in the output's layout. They take a pointwise conv from NCHW or NHWC, and a
    /// depthwise conv (one filter per channel) from NHWC. A dense conv ([`Conv::is_dense`]) with
    /// constant weights reads and writes either layout.
    pub fn has_kernel_for(&self, inputs: &[LayoutOperand], out: Layout) -> bool {
        if let [x, w, ..] = inputs {
            let weights = if self.residual { 3 } else { inputs.len() };
            let weights_const = inputs
                .get(1..weights)
                .is_some_and(|ws| ws.iter().all(|w| w.constant));
            let residual_ok = !self.residual || layout_at(inputs, 3) == out;
            if weights_const && self.is_dense(w.ty) && x.ty.rank() == 4 {
                return residual_ok;
            }
        }
        match out {
            Layout::Nchw => all_nchw(inputs, out),
            Layout::Nhwc => {
                let [x, w, ..] = inputs else {
                    return false;
                };
                let weights = if self.residual { 3 } else { inputs.len() };
                let weights_const = inputs
                    .get(1..weights)
                    .is_some_and(|ws| ws.iter().all(|w| w.constant));
                let residual_ok = !self.residual || layout_at(inputs, 3) == out;
                let depthwise = || {
                    let c_in = x.ty.shape[1];
                    self.group == c_in && w.ty.shape.first() == Some(&c_in)
                };
                residual_ok
                    && weights_const
                    && x.ty.rank() == 4
                    && (self.is_pointwise() || depthwise() && x.layout == Layout::Nhwc)
            }
        }
    }

    /// Packing of input `port` (of type `operand`) for the kernel writing `out`: a dense conv's
    /// weights for the dense kernel in either layout, other weights (port 1) as
    /// [`Conv::nhwc_weight_packing`] says for NHWC, everything else plain.
    pub fn packing(&self, port: usize, operand: &TensorType, out: Layout) -> Packing {
        match (out, port) {
            (_, 1) if self.is_dense(operand) => Packing::Dense,
            (Layout::Nhwc, 1) => self.nhwc_weight_packing(operand),
            _ => Packing::Plain,
        }
    }

    /// How the NHWC kernels take weights `w`: a pointwise conv's as `[c_in][c_out]`, a
    /// depthwise conv's as `[taps][c]`.
    pub fn nhwc_weight_packing(&self, w: &TensorType) -> Packing {
        if self.is_pointwise() {
            Packing::InOut
        } else if w.shape.get(1) == Some(&1) {
            Packing::TapsChannels
        } else {
            Packing::Plain
        }
    }
}

/// Fewest input channels of a dense conv ([`Conv::is_dense`]).
pub const DENSE_MIN_C_IN: usize = 8;

/// Fewest output channels of a dense conv: one AVX-512 vector.
pub const DENSE_MIN_C_OUT: usize = 16;

/// Multiply-adds per output element of a conv with weights `w` (`[M, C/group, kh, kw]`).
pub fn filter_len(w: &TensorType) -> u64 {
    w.shape.iter().skip(1).product::<usize>() as u64
}

/// Output length of a sliding window along one dim (ONNX Conv/Pool formula). With `ceil`, a last
/// window that would start in the end padding is dropped (as onnxruntime and PyTorch do).
pub fn out_dim(
    len: usize,
    k: usize,
    stride: usize,
    pad_begin: usize,
    pad_end: usize,
    dilation: usize,
    ceil: bool,
) -> Result<usize, String> {
    if k == 0 || stride == 0 || dilation == 0 {
        return Err(format!(
            "kernel {k}, stride {stride} and dilation {dilation} must be positive"
        ));
    }
    let span = (k - 1)
        .checked_mul(dilation)
        .and_then(|s| s.checked_add(1))
        .ok_or("kernel extent overflows")?;
    let padded = len
        .checked_add(pad_begin)
        .and_then(|p| p.checked_add(pad_end))
        .ok_or("padded size overflows")?;
    if padded < span {
        return Err(format!(
            "window of extent {span} does not fit the input of length {len} with padding {pad_begin}+{pad_end}"
        ));
    }
    let mut out = if ceil {
        (padded - span).div_ceil(stride) + 1
    } else {
        (padded - span) / stride + 1
    };
    if ceil && (out - 1) * stride >= len + pad_begin {
        out -= 1;
    }
    Ok(out)
}

/// Pads for `auto_pad` SAME_UPPER / SAME_LOWER: output is ceil(len / stride).
pub fn same_pads(
    len: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    upper: bool,
) -> Result<(usize, usize), String> {
    if stride == 0 || k == 0 || dilation == 0 {
        return Err("kernel, stride and dilation must be positive".into());
    }
    let out = len.div_ceil(stride);
    let span = (k - 1).saturating_mul(dilation).saturating_add(1);
    let total = ((out.max(1) - 1).saturating_mul(stride).saturating_add(span)).saturating_sub(len);
    let small = total / 2;
    Ok(if upper {
        (small, total - small)
    } else {
        (total - small, small)
    })
}

impl fmt::Display for Conv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [t, l, b, r] = self.pads;
        write!(
            f,
            "{{kernel: {}x{}, stride: {}x{}, pads: [{t},{l},{b},{r}], dilation: {}x{}, group: {}",
            self.kernel[0],
            self.kernel[1],
            self.strides[0],
            self.strides[1],
            self.dilations[0],
            self.dilations[1],
            self.group
        )?;
        if self.residual {
            f.write_str(", residual")?;
        }
        if let Some(a) = &self.act {
            write!(f, ", act: {}", a.name())?;
            a.fmt_attrs(f)?;
        }
        f.write_str("}")
    }
}
