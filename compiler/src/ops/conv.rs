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
    /// Below those a tile's multiply-adds per output are too few to pay for scattering its
    /// outputs into NCHW planes (stems on 3 channels keep the NCHW kernel that vectorises along
    /// rows, unless they write NHWC: [`Conv::is_dense_at`]).
    pub fn is_dense(&self, w: &TensorType) -> bool {
        self.dense_geometry(w) && w.shape[1] >= DENSE_MIN_C_IN
    }

    /// [`Conv::is_dense`], or a conv on fewer input channels (a stem on an RGB image) writing
    /// NHWC: there the dense kernel's stores are whole channel vectors, and a tile of 6 pixels
    /// x 32 channels over 27 multiply-add steps (3 channels, 3x3) runs at about twice the rate of
    /// the NCHW kernel, which vectorises along rows and stores every channel's plane apart.
    pub fn is_dense_at(&self, w: &TensorType, out: Layout) -> bool {
        self.is_dense(w) || (out == Layout::Nhwc && self.dense_geometry(w))
    }

    /// One group, not pointwise, weights `[c_out, c_in, kh, kw]` with `c_out >=`
    /// [`DENSE_MIN_C_OUT`].
    fn dense_geometry(&self, w: &TensorType) -> bool {
        self.group == 1 && !self.is_pointwise() && w.rank() == 4 && w.shape[0] >= DENSE_MIN_C_OUT
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
            if weights_const && self.is_dense_at(w.ty, out) && x.ty.rank() == 4 {
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

    /// Packing of input `port` (of `inputs`) for the kernel writing `output` in layout `out`:
    /// a Winograd conv's weights ([`Conv::is_winograd`]) transformed, a dense conv's for the
    /// dense kernel in either layout, other weights (port 1) as [`Conv::nhwc_weight_packing`]
    /// says for NHWC, everything else plain.
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
        match (out, port) {
            (_, 1) if self.is_winograd(inputs, output, out) => Packing::Winograd,
            (_, 1) if self.is_dense_at(operand.ty, out) => Packing::Dense,
            (Layout::Nhwc, 1) => self.nhwc_weight_packing(operand.ty),
            _ => Packing::Plain,
        }
    }

    /// A dense conv ([`Conv::is_dense`], constant weights) that runs `conv2d_winograd`
    /// (Winograd F(4x4, 3x3)) instead of `conv2d_dense`: 3x3, stride 1, dilation 1, NHWC in
    /// and out (a residual too), and [`winograd_pays`] for its channels and output plane.
    pub fn is_winograd(&self, inputs: &[LayoutOperand], output: &TensorType, out: Layout) -> bool {
        let [x, w, ..] = inputs else {
            return false;
        };
        let weights = if self.residual { 3 } else { inputs.len() };
        let weights_const = inputs
            .get(1..weights)
            .is_some_and(|ws| ws.iter().all(|w| w.constant));
        let geometry = self.kernel == [3, 3]
            && self.strides == [1, 1]
            && self.dilations == [1, 1]
            && self.group == 1;
        let layouts = x.layout == Layout::Nhwc
            && out == Layout::Nhwc
            && (!self.residual || layout_at(inputs, 3) == Layout::Nhwc);
        let [_, c_out, h, wd] = output.shape[..] else {
            return false;
        };
        weights_const
            && geometry
            && layouts
            && x.ty.rank() == 4
            && self.is_dense(w.ty)
            && winograd_pays(w.ty.shape[1], c_out, h, wd)
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

/// The cost rule choosing Winograd F(4x4, 3x3) over the direct dense kernel for a 3x3
/// stride-1 conv of `c_in` to `c_out` channels with an `h` x `w` output plane (the figures
/// behind it: `ARCHITECTURE.md`, "Dense convs").
///
/// Per input and output channel pair a 4x4 tile costs 36 multiply-adds instead of 144, but the
/// tiles cover the plane rounded up to multiples of 4, the transformed weights are 4x the
/// direct ones (36 per pair instead of 9) and each is used once per tile where a direct weight
/// is used once per pixel. Winograd is chosen when all of these hold:
/// - its multiply-adds are at most a third of the direct ones (`36 * tiles <= 3 * h * w`):
///   the tile transforms and the GEMM's partial sums cost about as much again as the
///   multiply-adds (measured: 1.2-2.2x faster at ratios 0.25-0.33, slower at 0.36-0.38);
/// - at least [`WINOGRAD_MIN_TILES`] tiles: a layer finds its weights cold (streamed from
///   memory once per inference), and the 4x larger transformed weights only pay when each
///   does enough tiles' work (measured with cold caches: 16 tiles 0.7-0.8x, 49 tiles 1.2-1.4x
///   the direct kernel's speed);
/// - one group's transformed weights (64 output channels: `36 * c_in * 64` f32) are at most
///   [`WINOGRAD_GROUP_BYTES`]: the kernel sweeps them once per block of 6 tiles, which runs
///   at L2 speed only while they stay in a 2 MiB L2 beside the tiles' buffers (measured: 1.2-2.2x
///   faster up to 128 input channels, 1.18 MB; slower from 160, 1.47 MB).
pub fn winograd_pays(c_in: usize, c_out: usize, h: usize, w: usize) -> bool {
    // In u64: the dims of an accepted model multiply to at most 2^31 each.
    let [c_in, h, w] = [c_in, h, w].map(|d| d as u64);
    let tiles = h.div_ceil(4) * w.div_ceil(4);
    c_out >= DENSE_MIN_C_OUT
        && 36 * tiles <= 3 * h * w
        && tiles >= WINOGRAD_MIN_TILES
        && 36 * c_in * 64 * 4 <= WINOGRAD_GROUP_BYTES
}

/// Fewest tiles (4x4 output blocks) of a Winograd conv's plane ([`winograd_pays`]).
pub const WINOGRAD_MIN_TILES: u64 = 32;

/// Largest transformed weights of one group of 64 output channels ([`winograd_pays`]):
/// 1.25 MiB, 5/8 of the L2 of the machines measured.
pub const WINOGRAD_GROUP_BYTES: u64 = 5 << 18;

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The operands of a conv `c_in -> c_out` with `k`x`k` weights on an `h` x `h` input in
    /// layout `x`, constant weights and bias (and a residual in layout `r` if given).
    fn operands<'a>(
        x: &'a TensorType,
        w: &'a TensorType,
        b: &'a TensorType,
        x_layout: Layout,
        residual: Option<(&'a TensorType, Layout)>,
    ) -> Vec<LayoutOperand<'a>> {
        let op = |ty, layout, constant| LayoutOperand {
            ty,
            layout,
            constant,
        };
        let mut v = vec![
            op(x, x_layout, false),
            op(w, Layout::Nchw, true),
            op(b, Layout::Nchw, true),
        ];
        if let Some((r, l)) = residual {
            v.push(op(r, l, false));
        }
        v
    }

    /// Whether `conv` on `[1, c_in, h, h]` -> `c_out` (output plane from its geometry) gets
    /// Winograd with NHWC in and out, and the packing of its weights then.
    fn chosen(conv: &Conv, c_in: usize, c_out: usize, h: usize) -> (bool, Packing) {
        let x = TensorType::f32(vec![1, c_in, h, h]);
        let w = TensorType::f32(vec![
            c_out,
            c_in / conv.group,
            conv.kernel[0],
            conv.kernel[1],
        ]);
        let b = TensorType::f32(vec![c_out]);
        let y = conv.infer(&x, &w, Some(&b)).expect("valid conv");
        let ins = operands(&x, &w, &b, Layout::Nhwc, None);
        let wino = conv.is_winograd(&ins, &y, Layout::Nhwc);
        (wino, conv.packing(1, &ins, &y, Layout::Nhwc))
    }

    fn conv3x3(stride: usize, dilation: usize, group: usize) -> Conv {
        let p = dilation;
        Conv::new([3, 3], [stride; 2], [p; 4], [dilation; 2], group)
    }

    #[test]
    fn winograd_for_resnet_stride_1_layers_with_enough_tiles() {
        let shapes = [
            (32, 64, 112),
            (64, 64, 56),
            (128, 128, 28),
            (17, 33, 56),
            (48, 80, 27),
        ];
        for (c_in, c_out, h) in shapes {
            let (wino, packing) = chosen(&conv3x3(1, 1, 1), c_in, c_out, h);
            assert!(wino, "{c_in}>{c_out} {h}x{h}");
            assert_eq!(packing, Packing::Winograd);
        }
    }

    #[test]
    fn no_winograd_where_direct_is_cheaper_or_it_cannot_run() {
        let s1 = conv3x3(1, 1, 1);
        // Too few tiles (7x7: 4; 10x10: 9; 14x14: 16), too much of the tiles in the padding
        // (13x13: 169 of 256 pixels) or one group's transformed weights too large for L2 (160
        // input channels and more).
        let shapes = [
            (512, 512, 7),
            (64, 64, 7),
            (160, 160, 10),
            (96, 96, 14),
            (256, 256, 14),
            (33, 70, 13),
            (160, 160, 28),
        ];
        for (c_in, c_out, h) in shapes {
            let (wino, packing) = chosen(&s1, c_in, c_out, h);
            assert!(!wino, "{c_in}>{c_out} {h}x{h}");
            assert_eq!(packing, Packing::Dense);
        }
        // Stride 2, dilation 2, groups, 1x1, 5x5: not F(4x4, 3x3) or not dense.
        let others = [
            conv3x3(2, 1, 1),
            conv3x3(1, 2, 1),
            conv3x3(1, 1, 2),
            Conv::new([1, 1], [1, 1], [0; 4], [1, 1], 1),
            Conv::new([5, 5], [1, 1], [2; 4], [1, 1], 1),
            Conv::new([3, 1], [1, 1], [1, 0, 1, 0], [1, 1], 1),
        ];
        for conv in others {
            assert!(!chosen(&conv, 64, 64, 56).0, "{conv}");
        }
        // Depthwise.
        assert!(!chosen(&conv3x3(1, 1, 64), 64, 64, 56).0);
    }

    #[test]
    fn few_input_channels_are_dense_only_writing_nhwc() {
        // A 3-channel stem: the dense kernel writing NHWC, the NCHW kernel writing NCHW.
        let stem = conv3x3(2, 1, 1);
        let x = TensorType::f32(vec![1, 3, 224, 224]);
        let w = TensorType::f32(vec![24, 3, 3, 3]);
        let b = TensorType::f32(vec![24]);
        let y = stem.infer(&x, &w, Some(&b)).expect("valid conv");
        let nchw = operands(&x, &w, &b, Layout::Nchw, None);
        assert!(stem.is_dense_at(&w, Layout::Nhwc) && !stem.is_dense_at(&w, Layout::Nchw));
        assert!(stem.has_kernel_for(&nchw, Layout::Nhwc));
        assert_eq!(stem.packing(1, &nchw, &y, Layout::Nhwc), Packing::Dense);
        assert_eq!(stem.packing(1, &nchw, &y, Layout::Nchw), Packing::Plain);
        assert!(!stem.is_winograd(&nchw, &y, Layout::Nhwc));
        // Never Winograd from NHWC either (`winograd_pays` wants `DENSE_MIN_C_IN` and more),
        // nor dense with fewer than 16 outputs, in groups or 1x1.
        let s1 = conv3x3(1, 1, 1);
        let x56 = TensorType::f32(vec![1, 3, 56, 56]);
        let y56 = s1.infer(&x56, &w, Some(&b)).expect("valid conv");
        let nhwc = operands(&x56, &w, &b, Layout::Nhwc, None);
        assert!(!s1.is_winograd(&nhwc, &y56, Layout::Nhwc));
        assert!(!stem.is_dense_at(&TensorType::f32(vec![8, 3, 3, 3]), Layout::Nhwc));
        let pw = Conv::new([1, 1], [1, 1], [0; 4], [1, 1], 1);
        assert!(!pw.is_dense_at(&TensorType::f32(vec![24, 3, 1, 1]), Layout::Nhwc));
        let grouped = conv3x3(1, 1, 3);
        assert!(!grouped.is_dense_at(&TensorType::f32(vec![24, 1, 3, 3]), Layout::Nhwc));
    }

    #[test]
    fn winograd_rule_takes_extreme_dims() {
        let big = 1 << 31;
        assert!(!winograd_pays(big, big, big, big));
        assert!(!winograd_pays(64, 64, big, 1));
        assert!(winograd_pays(64, 64, 1 << 12, 1 << 12));
    }

    #[test]
    fn winograd_only_nhwc_in_and_out_with_constant_weights() {
        let conv = conv3x3(1, 1, 1);
        let x = TensorType::f32(vec![1, 64, 56, 56]);
        let w = TensorType::f32(vec![64, 64, 3, 3]);
        let b = TensorType::f32(vec![64]);
        let y = conv.infer(&x, &w, Some(&b)).expect("valid conv");
        let nhwc = operands(&x, &w, &b, Layout::Nhwc, None);
        assert!(conv.is_winograd(&nhwc, &y, Layout::Nhwc));
        assert!(!conv.is_winograd(&nhwc, &y, Layout::Nchw));
        let nchw = operands(&x, &w, &b, Layout::Nchw, None);
        assert!(!conv.is_winograd(&nchw, &y, Layout::Nhwc));
        assert_eq!(conv.packing(1, &nchw, &y, Layout::Nhwc), Packing::Dense);
        let mut runtime_w = nhwc.clone();
        runtime_w[1].constant = false;
        assert!(!conv.is_winograd(&runtime_w, &y, Layout::Nhwc));
        // A residual in NCHW cannot be fused by the NHWC kernel; in NHWC it can.
        let mut res_conv = conv.clone();
        res_conv.residual = true;
        let with_res = |l| operands(&x, &w, &b, Layout::Nhwc, Some((&y, l)));
        assert!(res_conv.is_winograd(&with_res(Layout::Nhwc), &y, Layout::Nhwc));
        assert!(!res_conv.is_winograd(&with_res(Layout::Nchw), &y, Layout::Nhwc));
        // Bias and input are never transformed.
        assert_eq!(conv.packing(2, &nhwc, &y, Layout::Nhwc), Packing::Plain);
        assert_eq!(conv.packing(0, &nhwc, &y, Layout::Nhwc), Packing::Plain);
    }
}
