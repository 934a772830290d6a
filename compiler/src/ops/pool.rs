//! MaxPool and AveragePool: attributes and shape inference.

use std::fmt;

use crate::ir::TensorType;
use crate::ops::conv::out_dim;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Avg { count_include_pad: bool },
}

/// 2-D pooling geometry with explicit pads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    pub kind: PoolKind,
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    /// [top, left, bottom, right]
    pub pads: [usize; 4],
    pub dilations: [usize; 2],
    pub ceil_mode: bool,
}

impl Pool {
    pub fn infer(&self, x: &TensorType) -> Result<TensorType, String> {
        let [n, c, h, w] = x.shape[..] else {
            return Err(format!(
                "only 2-D pooling is supported: input must have rank 4, got {x}"
            ));
        };
        let oh = out_dim(
            h,
            self.kernel[0],
            self.strides[0],
            self.pads[0],
            self.pads[2],
            self.dilations[0],
            self.ceil_mode,
        )?;
        let ow = out_dim(
            w,
            self.kernel[1],
            self.strides[1],
            self.pads[1],
            self.pads[3],
            self.dilations[1],
            self.ceil_mode,
        )?;
        Ok(TensorType::f32(vec![n, c, oh, ow]))
    }
}

impl fmt::Display for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [t, l, b, r] = self.pads;
        write!(
            f,
            "{{kernel: {}x{}, stride: {}x{}, pads: [{t},{l},{b},{r}], dilation: {}x{}, ceil_mode: {}",
            self.kernel[0], self.kernel[1], self.strides[0], self.strides[1], self.dilations[0], self.dilations[1], self.ceil_mode
        )?;
        if let PoolKind::Avg { count_include_pad } = self.kind {
            write!(f, ", count_include_pad: {count_include_pad}")?;
        }
        f.write_str("}")
    }
}
