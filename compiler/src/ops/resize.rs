//! Resize over the two spatial dims: attributes and shape inference.

use std::fmt;

use crate::ir::TensorType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeMode {
    Nearest(NearestMode),
    Linear,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoordTransform {
    HalfPixel,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfHalfPixelForCenter,
}

/// Resize of an NCHW tensor to `size` (H, W), with the scales ONNX uses for coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct Resize {
    pub mode: ResizeMode,
    pub coord: CoordTransform,
    pub size: [usize; 2],
    pub scales: [f32; 2],
}

impl Resize {
    pub fn infer(&self, x: &TensorType) -> Result<TensorType, String> {
        let [n, c, h, w] = x.shape[..] else {
            return Err(format!(
                "only resizing the last two dims of a rank-4 input is supported, got {x}"
            ));
        };
        if (h == 0 || w == 0) && self.size[0] > 0 && self.size[1] > 0 {
            return Err(format!(
                "cannot resize the empty {x} to {}x{}: there is nothing to sample",
                self.size[0], self.size[1]
            ));
        }
        Ok(TensorType::f32(vec![n, c, self.size[0], self.size[1]]))
    }
}

impl fmt::Display for Resize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{mode: {:?}, coord: {:?}, size: {}x{}, scales: {}x{}}}",
            self.mode, self.coord, self.size[0], self.size[1], self.scales[0], self.scales[1]
        )
    }
}
