//! Ops that only fusion passes create: the Ghost module, squeeze-and-excite, the DFC gate and
//! the expansion + depthwise pair.

use std::fmt;

use crate::ir::layout::{all_nchw, layout_at, Layout, LayoutOperand, Packing};
use crate::ir::TensorType;
use crate::ops::conv::filter_len;
use crate::ops::{float, Activation, Conv};

/// `concat(primary(x), cheap(primary(x)))[:, ..keep]` computed into one buffer: the primary conv
/// writes channels `0..init`, the cheap depthwise conv reads those and writes `init..keep`.
/// Weights are already cut to what is kept: w1 is `[init, C/g, kh, kw]`, w2 is
/// `[keep - init, 1, kh2, kw2]` (depthwise multiplier 1 on the primary's first `keep - init`
/// channels). With `residual`, a sixth input is added to the whole output at the end.
#[derive(Clone, Debug, PartialEq)]
pub struct GhostModule {
    pub primary: Conv,
    pub cheap: Conv,
    /// Channels the primary conv produces.
    pub init: usize,
    /// Channels of the output.
    pub keep: usize,
    pub residual: bool,
}

impl GhostModule {
    pub fn infer(&self, inputs: &[&TensorType]) -> Result<TensorType, String> {
        let (x, w1, b1, w2, b2) = match inputs {
            [x, w1, b1, w2, b2] if !self.residual => (x, w1, b1, w2, b2),
            [x, w1, b1, w2, b2, _] if self.residual => (x, w1, b1, w2, b2),
            _ => {
                return Err(format!(
                    "ghost module (residual: {}) cannot take {} inputs",
                    self.residual,
                    inputs.len()
                ))
            }
        };
        let p = self.primary.infer(x, w1, Some(b1))?;
        if p.shape[1] != self.init || self.keep <= self.init || self.keep > 2 * self.init {
            return Err(format!(
                "init {} / keep {} do not fit a primary output {p}",
                self.init, self.keep
            ));
        }
        let k = self.keep - self.init;
        if self.cheap.group != k || self.cheap.residual {
            return Err(format!(
                "the cheap conv must be depthwise over {k} channels"
            ));
        }
        let mut first = p.clone();
        first.shape[1] = k;
        let c = self.cheap.infer(&first, w2, Some(b2))?;
        if c.shape[2..] != p.shape[2..] {
            return Err(format!(
                "cheap output {c} does not match primary output {p}"
            ));
        }
        let mut out = p;
        out.shape[1] = self.keep;
        if let [.., r] = inputs {
            if self.residual && **r != out {
                return Err(format!("residual {r} does not match the output {out}"));
            }
        }
        Ok(out)
    }

    /// Multiply-adds: each half's output elements times its filter size.
    pub fn macs(&self, inputs: &[&TensorType], output: &TensorType) -> u64 {
        let [n, _, h, w] = output.shape[..] else {
            return 0;
        };
        let filter = |port: usize| inputs.get(port).map_or(0, |w| filter_len(w));
        (n * h * w) as u64
            * (self.init as u64 * filter(1) + (self.keep - self.init) as u64 * filter(3))
    }

    /// The NHWC kernel takes a pointwise primary conv (from NCHW or NHWC) and a stride-1 cheap
    /// conv, with constant weights (packed at compile time) and an NHWC residual.
    pub fn has_kernel_for(&self, inputs: &[LayoutOperand], out: Layout) -> bool {
        match out {
            Layout::Nchw => all_nchw(inputs, out),
            Layout::Nhwc => {
                self.primary.is_pointwise()
                    && self.cheap.strides == [1, 1]
                    && inputs
                        .get(1..5)
                        .is_some_and(|ws| ws.iter().all(|w| w.constant))
                    && (!self.residual || layout_at(inputs, 5) == Layout::Nhwc)
            }
        }
    }

    /// Packing of input `port` (of type `operand`) for the kernel writing `out`: each conv's
    /// weights (ports 1 and 3) as [`Conv::nhwc_weight_packing`] says for NHWC.
    pub fn packing(&self, port: usize, operand: &TensorType, out: Layout) -> Packing {
        match (out, port) {
            (Layout::Nhwc, 1) => self.primary.nhwc_weight_packing(operand),
            (Layout::Nhwc, 3) => self.cheap.nhwc_weight_packing(operand),
            _ => Packing::Plain,
        }
    }
}

impl fmt::Display for GhostModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let act = |a: &Option<Activation>| a.map(|a| format!(" {}", a.name())).unwrap_or_default();
        let (p, c) = (&self.primary, &self.cheap);
        write!(
            f,
            "{{primary: conv{}x{}/{}{}, cheap: dw{}x{}/{}{}, init: {}, keep: {}{}}}",
            p.kernel[0],
            p.kernel[1],
            p.strides[0],
            act(&p.act),
            c.kernel[0],
            c.kernel[1],
            c.strides[0],
            act(&c.act),
            self.init,
            self.keep,
            if self.residual { ", residual" } else { "" }
        )
    }
}

/// `x * gate(w2 · act(w1 · mean_hw(x) + b1) + b2)` per channel.
#[derive(Clone, Debug, PartialEq)]
pub struct SqueezeExcite {
    /// Activation after the reduce conv (ReLU in GhostNet).
    pub act: Option<Activation>,
    /// Gate after the expand conv (HardSigmoid in GhostNet).
    pub gate: Option<Activation>,
}

impl SqueezeExcite {
    pub fn infer(&self, inputs: &[&TensorType]) -> Result<TensorType, String> {
        let [x, w1, b1, w2, b2] = inputs else {
            return Err(format!(
                "squeeze-excite takes 5 inputs, got {}",
                inputs.len()
            ));
        };
        let x = float(x)?;
        let [_, c, _, _] = x.shape[..] else {
            return Err(format!("input must be NCHW, got {x}"));
        };
        let mid = w1.shape.first().copied().unwrap_or(0);
        if w1.shape != [mid, c, 1, 1]
            || b1.shape != [mid]
            || w2.shape != [c, mid, 1, 1]
            || b2.shape != [c]
        {
            return Err(format!(
                "weights {w1}, {b1}, {w2}, {b2} do not fit {c} channels"
            ));
        }
        Ok(x.clone())
    }

    /// Multiply-adds: the two 1x1 convs on the pooled vector, `c x mid` each per batch item.
    pub fn macs(&self, inputs: &[&TensorType], output: &TensorType) -> u64 {
        let mid = inputs.get(2).map_or(0, |b1| b1.len());
        match output.shape[..] {
            [n, c, ..] => 2 * (n * c * mid) as u64,
            _ => 0,
        }
    }
}

impl fmt::Display for SqueezeExcite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |a: &Option<Activation>| a.map(|a| a.name()).unwrap_or("none");
        write!(
            f,
            "{{act: {}, gate: {}}}",
            name(&self.act),
            name(&self.gate)
        )
    }
}

/// `x * upsample(gate)`, the gate upsampled by whole factors with nearest neighbours:
/// `out[b][c][y][x] = x[b][c][y][x] * gate[b][c][y / factor[0]][x / factor[1]]`, GhostNetV2's
/// DFC attention gating the Ghost module's output (pass `fuse_dfc_gate`). Inputs: x
/// `[n, c, h, w]`, gate `[n, c, h / factor[0], w / factor[1]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct GateUpsample {
    /// Vertical and horizontal upsampling factor (> 0, dividing the plane).
    pub factor: [usize; 2],
}

impl GateUpsample {
    pub fn infer(&self, inputs: &[&TensorType]) -> Result<TensorType, String> {
        let [x, gate] = inputs else {
            return Err(format!(
                "gate_upsample takes 2 inputs, got {}",
                inputs.len()
            ));
        };
        let (x, gate) = (float(x)?, float(gate)?);
        let [n, c, h, w] = x.shape[..] else {
            return Err(format!("input must be NCHW, got {x}"));
        };
        let [fh, fw] = self.factor;
        if fh == 0 || fw == 0 || !h.is_multiple_of(fh) || !w.is_multiple_of(fw) {
            return Err(format!("factors {fh}x{fw} do not divide the plane of {x}"));
        }
        if gate.shape != [n, c, h / fh, w / fw] {
            return Err(format!("gate {gate} upsampled {fh}x{fw} does not give {x}"));
        }
        Ok(x.clone())
    }
}

impl fmt::Display for GateUpsample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{factor: {}x{}}}", self.factor[0], self.factor[1])
    }
}

/// `depthwise(expand(x))` without the expanded tensor (pass `fuse_expand_depthwise`): the
/// expanded tensor, an inverted-residual block's largest, is never whole in memory; a scratch
/// is (the memory plan gives it a range of its own). NCHW, the scratch holds `block` expanded
/// planes ([`ExpandDepthwise::block`]); NHWC (the output NHWC, the input either), the expanded
/// rows one strip of output rows reads ([`ExpandDepthwise::strip_rows`]). `expand` is pointwise (1x1, stride 1, unpadded, one group) with its activation;
/// `depthwise` has multiplier 1 over all its channels. Inputs: x, w1, b1, w2, b2.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpandDepthwise {
    pub expand: Conv,
    pub depthwise: Conv,
}

/// Bytes of expanded planes a block keeps: an eighth of a 2 MiB L2, so that the block's
/// planes, the input it re-reads and the depthwise output stay in L2 together.
pub const EXPAND_BLOCK_BYTES: usize = 256 << 10;

/// Bytes of expanded rows a strip of the NHWC kernel keeps: with the strip's output rows they
/// stay in L2 (and its newest rows in L1) while the depthwise conv reads them.
pub const EXPAND_STRIP_BYTES: usize = 512 << 10;

impl ExpandDepthwise {
    pub fn infer(&self, inputs: &[&TensorType]) -> Result<TensorType, String> {
        let [x, w1, b1, w2, b2] = inputs else {
            return Err(format!(
                "expand_depthwise takes 5 inputs, got {}",
                inputs.len()
            ));
        };
        if !self.expand.is_pointwise() || self.expand.residual || self.depthwise.residual {
            return Err("the expansion must be pointwise, and neither conv take a residual".into());
        }
        let e = self.expand.infer(x, w1, Some(b1))?;
        let c = e.shape[1];
        if self.depthwise.group != c || w2.shape.first() != Some(&c) {
            return Err(format!(
                "the depthwise conv must have multiplier 1 over the {c} expanded channels"
            ));
        }
        self.depthwise.infer(&e, w2, Some(b2))
    }

    /// Multiply-adds: each conv's output elements times its filter size.
    pub fn macs(&self, inputs: &[&TensorType], output: &TensorType) -> u64 {
        let [Some(x), Some(w1), Some(w2)] = [inputs.first(), inputs.get(1), inputs.get(3)] else {
            return 0;
        };
        let (c, plane_in) = (w1.shape[0], x.shape[2..].iter().product::<usize>());
        let n = x.shape[0];
        (n * c * plane_in) as u64 * filter_len(w1) + output.len() as u64 * filter_len(w2)
    }

    /// f32s of scratch the kernel writing `out` needs: one block of expanded planes (NCHW) or
    /// one strip's expanded rows (NHWC).
    pub fn scratch_len(&self, inputs: &[&TensorType], out: Layout) -> usize {
        match (inputs.first(), inputs.get(1)) {
            (Some(x), Some(w1)) if x.shape.len() == 4 && !w1.shape.is_empty() => {
                let (c, h, w) = (w1.shape[0], x.shape[2], x.shape[3]);
                match out {
                    Layout::Nchw => Self::block(c, h * w) * h * w,
                    Layout::Nhwc => self.strip_in_rows(self.strip_rows(c, w)).min(h) * w * c,
                }
            }
            _ => 0,
        }
    }

    /// Output rows per strip of the NHWC kernel for `c` expanded channels of rows `w` wide: as
    /// many as keep the expanded rows they read within [`EXPAND_STRIP_BYTES`], at least 1.
    pub fn strip_rows(&self, c: usize, w: usize) -> usize {
        let fit = EXPAND_STRIP_BYTES / (4 * c * w).max(1);
        let window = self.strip_in_rows(1);
        fit.saturating_sub(window) / self.depthwise.strides[0].max(1) + 1
    }

    /// Expanded rows the windows of `rows` consecutive output rows overlap (before clipping
    /// to the expanded height).
    pub fn strip_in_rows(&self, rows: usize) -> usize {
        let d = &self.depthwise;
        rows.saturating_sub(1) * d.strides[0] + d.kernel[0].saturating_sub(1) * d.dilations[0] + 1
    }

    /// NCHW reads and writes NCHW; the NHWC kernel writes NHWC from either layout, with
    /// constant weights (packed at compile time).
    pub fn has_kernel_for(&self, inputs: &[LayoutOperand], out: Layout) -> bool {
        match out {
            Layout::Nchw => all_nchw(inputs, out),
            Layout::Nhwc => inputs
                .get(1..5)
                .is_some_and(|ws| ws.iter().all(|w| w.constant)),
        }
    }

    /// Packing of input `port` for the kernel writing `out`: NHWC takes the expansion's
    /// weights `[c_in][c]` and the depthwise ones `[taps][c]`.
    pub fn packing(&self, port: usize, operand: &TensorType, out: Layout) -> Packing {
        match (out, port) {
            (Layout::Nhwc, 1) => self.expand.nhwc_weight_packing(operand),
            (Layout::Nhwc, 3) => self.depthwise.nhwc_weight_packing(operand),
            _ => Packing::Plain,
        }
    }

    /// Expanded channels per block for expanded planes of `plane` elements: as many as fit in
    /// [`EXPAND_BLOCK_BYTES`], at least 8 (the pointwise kernel's register tile), at most `c`.
    pub fn block(c: usize, plane: usize) -> usize {
        (EXPAND_BLOCK_BYTES / (4 * plane.max(1))).max(8).min(c)
    }
}

impl fmt::Display for ExpandDepthwise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let act = |a: &Option<Activation>| a.map(|a| format!(" {}", a.name())).unwrap_or_default();
        let (e, d) = (&self.expand, &self.depthwise);
        write!(
            f,
            "{{expand: conv1x1{}, depthwise: dw{}x{}/{}{}}}",
            act(&e.act),
            d.kernel[0],
            d.kernel[1],
            d.strides[0],
            act(&d.act)
        )
    }
}
