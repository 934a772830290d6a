//! Fuses GhostNetV2's DFC gating, `Mul(x, Resize(gate))` (either operand order), into one
//! `gate_upsample(x, gate)` that never materialises the upsampled gate and, when nothing reads
//! `x` later, writes over it.
//!
//! It fires only when the product is exactly `x[b][c][y][w] * gate[b][c][y / fh][w / fw]`:
//! - the Resize is nearest and nothing else reads its output (nor is it a graph output);
//! - the Mul broadcasts nothing: `x`, the upsampled gate and the product have one type;
//! - the plane is a whole multiple `fh x fw` of the gate's, and the Resize picks source pixel
//!   `o / f` for every output coordinate `o` of each axis. That is checked by computing its
//!   index map both as the runtime kernel does and as the reference interpreter does (both
//!   in `f32` coordinates, their roundings written separately), so a coordinate mode or rounding that picks other pixels (`align_corners`,
//!   `round_prefer_ceil` on half-pixel ties, a non-integer scale ...) stays as it was, while
//!   modes that happen to pick the same pixels (asymmetric or half-pixel with `floor` or
//!   `round_prefer_floor` at 2x) fuse.

use crate::ir::{Graph, ValueRef};
use crate::ops::eval::{nearest_index, resize_source};
use crate::ops::fused::GateUpsample;
use crate::ops::resize::{CoordTransform, NearestMode, ResizeMode};
use crate::ops::{BinaryOp, Op, Resize};
use crate::target::Target;

pub fn fuse_dfc_gate(g: &mut Graph, _: &Target) -> Result<bool, String> {
    let mut changed = false;
    let order = g.topo_order().map_err(|_| "cycle")?;
    for n in order {
        if !g.g.contains_node(n) || !matches!(g.node(n).op, Op::Binary(BinaryOp::Mul)) {
            continue;
        }
        let ins = g.inputs(n);
        let out = ValueRef::new(n, 0);
        for (x, up) in [(ins[0], ins[1]), (ins[1], ins[0])] {
            let Op::Resize(r) = &g.node(up.node).op else {
                continue;
            };
            let gate = g.inputs(up.node)[0];
            let Some(factor) = whole_factors(r, &g.ty(gate).shape, &g.ty(up).shape) else {
                continue;
            };
            if x == up
                || g.single_user(up).is_none()
                || g.ty(x) != g.ty(out)
                || g.ty(up) != g.ty(out)
            {
                continue;
            }
            let name = format!("{}.gate_upsample", g.node(n).name);
            let f = g.add_op(name, Op::GateUpsample(GateUpsample { factor }), &[x, gate])?;
            g.replace_uses(out, ValueRef::new(f, 0));
            g.remove_dead();
            changed = true;
            break;
        }
    }
    Ok(changed)
}

/// `[fh, fw]` if the nearest Resize `r` from `gate` `[n, c, gh, gw]` to `up` `[n, c, fh * gh,
/// fw * gw]` picks source index `o / f` for every output coordinate `o` of both axes.
fn whole_factors(r: &Resize, gate: &[usize], up: &[usize]) -> Option<[usize; 2]> {
    let ResizeMode::Nearest(m) = r.mode else {
        return None;
    };
    let ([n, c, gh, gw], [n2, c2, h, w]) = (gate, up) else {
        return None;
    };
    if (n, c) != (n2, c2) || [*h, *w] != r.size {
        return None;
    }
    let axis = |len_in: usize, len_out: usize, scale: f32| -> Option<usize> {
        if len_in == 0 || len_out == 0 || !len_out.is_multiple_of(len_in) {
            return None;
        }
        let f = len_out / len_in;
        (0..len_out)
            .all(|o| {
                let runtime =
                    nearest_f32(m, source_f32(r.coord, o, len_in, len_out, scale), len_in);
                let reference =
                    nearest_index(m, resize_source(r.coord, o, len_in, len_out, scale), len_in);
                runtime == o / f && reference == o / f
            })
            .then_some(f)
    };
    Some([axis(*gh, *h, r.scales[0])?, axis(*gw, *w, r.scales[1])?])
}

/// The runtime Resize kernel's source coordinate (`ghostc_runtime`'s `resize.rs`, in `f32`).
fn source_f32(coord: CoordTransform, o: usize, len_in: usize, len_out: usize, scale: f32) -> f32 {
    let x = o as f32;
    match coord {
        CoordTransform::HalfPixel => (x + 0.5) / scale - 0.5,
        CoordTransform::PytorchHalfPixel if len_out > 1 => (x + 0.5) / scale - 0.5,
        CoordTransform::PytorchHalfPixel => 0.0,
        CoordTransform::AlignCorners if len_out > 1 => {
            x * (len_in - 1) as f32 / (len_out - 1) as f32
        }
        CoordTransform::AlignCorners => 0.0,
        CoordTransform::Asymmetric => x / scale,
        CoordTransform::TfHalfPixelForCenter => (x + 0.5) / scale,
    }
}

/// The runtime Resize kernel's nearest index (`len > 0`).
fn nearest_f32(m: NearestMode, x: f32, len: usize) -> usize {
    let f = x.floor();
    let frac = x - f;
    let up = match m {
        NearestMode::RoundPreferFloor => frac > 0.5,
        NearestMode::RoundPreferCeil => frac >= 0.5,
        NearestMode::Floor => false,
        NearestMode::Ceil => frac > 0.0,
    };
    let r = if up { f + 1.0 } else { f };
    // NaN and negative values give 0 (saturating cast), like the runtime.
    (r.max(0.0) as usize).min(len - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::TensorType;

    struct Case {
        mode: ResizeMode,
        coord: CoordTransform,
        gate: [usize; 4],
        size: [usize; 2],
        scales: [f32; 2],
        x: Vec<usize>,
        swap: bool,
        extra_user: bool,
    }

    fn dfc() -> Case {
        Case {
            mode: ResizeMode::Nearest(NearestMode::Floor),
            coord: CoordTransform::Asymmetric,
            gate: [1, 8, 5, 5],
            size: [10, 10],
            scales: [2.0, 2.0],
            x: vec![1, 8, 10, 10],
            swap: false,
            extra_user: false,
        }
    }

    /// Builds the case, runs the pass; returns whether it fused, after checking that the
    /// reference interpreter gives the same bits before and after.
    fn run(c: Case) -> bool {
        let mut g = Graph::default();
        let input = |g: &mut Graph, name: &str, shape: Vec<usize>| {
            let n = g.add_node(name, Op::Input, vec![TensorType::f32(shape)]);
            g.inputs.push(n);
            ValueRef::new(n, 0)
        };
        let gate = input(&mut g, "gate", c.gate.to_vec());
        let x = input(&mut g, "x", c.x.clone());
        let r = Resize {
            mode: c.mode,
            coord: c.coord,
            size: c.size,
            scales: c.scales,
        };
        let up = ValueRef::new(
            g.add_op("resize", Op::Resize(r), &[gate]).expect("resize"),
            0,
        );
        let ops = if c.swap { [up, x] } else { [x, up] };
        let mul = g
            .add_op("mul", Op::Binary(BinaryOp::Mul), &ops)
            .expect("mul");
        g.outputs.push(("y".into(), ValueRef::new(mul, 0)));
        if c.extra_user {
            g.outputs.push(("up".into(), up));
        }
        let mut seed = 1u32;
        let mut rand = |shape: &[usize]| {
            let len = shape.iter().product();
            let v = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
                })
                .collect();
            crate::ir::Tensor::f32(shape.to_vec(), v)
        };
        let inputs = [rand(&c.gate), rand(&c.x)];
        let before = crate::ops::eval::run(&g, &inputs).expect("eval before");
        let y_before = before[&g.outputs[0].1].clone();
        let fused = fuse_dfc_gate(&mut g, &Target::default()).expect("pass");
        crate::ir::verify::verify(&g).expect("verify");
        let after = crate::ops::eval::run(&g, &inputs).expect("eval after");
        assert_eq!(after[&g.outputs[0].1], y_before);
        let gates =
            g.g.node_indices()
                .filter(|&n| matches!(g.node(n).op, Op::GateUpsample(_)))
                .count();
        assert_eq!(gates, usize::from(fused));
        fused
    }

    #[test]
    fn fuses_the_dfc_gate() {
        assert!(run(dfc()));
        assert!(run(Case {
            swap: true,
            ..dfc()
        }));
        // Batch 2, odd channels, non-square planes, a 3x1 factor.
        assert!(run(Case {
            gate: [2, 3, 3, 7],
            size: [9, 7],
            scales: [3.0, 1.0],
            x: vec![2, 3, 9, 7],
            ..dfc()
        }));
        // Other modes that pick o / 2 as well at 2x (no ties arise).
        for (mode, coord) in [
            (NearestMode::RoundPreferFloor, CoordTransform::HalfPixel),
            (NearestMode::RoundPreferCeil, CoordTransform::HalfPixel),
            (NearestMode::Floor, CoordTransform::TfHalfPixelForCenter),
            // o * (n - 1) / (2n - 1) rounds to o / 2 (floor does not: see leaves_look_alikes).
            (NearestMode::RoundPreferFloor, CoordTransform::AlignCorners),
        ] {
            assert!(
                run(Case {
                    mode: ResizeMode::Nearest(mode),
                    coord,
                    ..dfc()
                }),
                "{mode:?} {coord:?}"
            );
        }
    }

    #[test]
    fn leaves_look_alikes() {
        // Linear interpolation.
        assert!(!run(Case {
            mode: ResizeMode::Linear,
            ..dfc()
        }));
        // A non-integer scale (GhostNetV2's 2x2 gate on a 5x5 plane).
        assert!(!run(Case {
            gate: [1, 8, 2, 2],
            size: [5, 5],
            scales: [2.5, 2.5],
            x: vec![1, 8, 5, 5],
            ..dfc()
        }));
        // Coordinate modes and roundings that pick other source pixels.
        for (mode, coord) in [
            (NearestMode::Floor, CoordTransform::AlignCorners),
            (NearestMode::RoundPreferCeil, CoordTransform::Asymmetric),
            (NearestMode::Ceil, CoordTransform::Asymmetric),
            (NearestMode::Ceil, CoordTransform::HalfPixel),
        ] {
            assert!(
                !run(Case {
                    mode: ResizeMode::Nearest(mode),
                    coord,
                    ..dfc()
                }),
                "{mode:?} {coord:?}"
            );
        }
        // A scale attribute that is not the size ratio (sizes given, scales differ).
        assert!(!run(Case {
            scales: [3.0, 3.0],
            ..dfc()
        }));
        // The upsampled gate has another reader.
        assert!(!run(Case {
            extra_user: true,
            ..dfc()
        }));
        // The Mul broadcasts: x has one row per channel, or one channel.
        assert!(!run(Case {
            x: vec![1, 8, 1, 10],
            ..dfc()
        }));
        assert!(!run(Case {
            x: vec![1, 1, 10, 10],
            ..dfc()
        }));
        // The upsampled gate broadcasts over x's batch.
        assert!(!run(Case {
            x: vec![2, 8, 10, 10],
            ..dfc()
        }));
    }
}
