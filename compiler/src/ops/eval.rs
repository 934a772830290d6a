//! The reference interpreter: plain, obviously-correct loops (accumulating in f64) for every op,
//! used to check each pass (`ghostc check`) and to fold constants. Speed is not a goal.

use std::collections::HashMap;

use petgraph::stable_graph::NodeIndex;

use crate::front::fold;
use crate::ir::{Data, Graph, Tensor, ValueRef};
use crate::ops::pool::PoolKind;
use crate::ops::resize::{CoordTransform, NearestMode, ResizeMode};
use crate::ops::{Activation, BinaryOp, Conv, Op};

/// Evaluates the whole graph on `inputs` (one per graph input, in order); returns every value.
pub fn run(g: &Graph, inputs: &[Tensor]) -> Result<HashMap<ValueRef, Tensor>, String> {
    let order = g
        .topo_order()
        .map_err(|_| "the graph has a cycle".to_string())?;
    let mut vals: HashMap<ValueRef, Tensor> = HashMap::new();
    for n in order {
        let node = g.node(n);
        let outs = match &node.op {
            Op::Input => {
                let i = g
                    .inputs
                    .iter()
                    .position(|&x| x == n)
                    .ok_or("unlisted input")?;
                let t = inputs
                    .get(i)
                    .ok_or_else(|| format!("missing value for input {i}"))?;
                if t.shape != node.outputs[0].shape {
                    return Err(format!(
                        "input {i} has shape {:?}, the model wants {:?}",
                        t.shape, node.outputs[0].shape
                    ));
                }
                vec![t.clone()]
            }
            op => {
                let args: Vec<&Tensor> = g.inputs(n).iter().map(|v| &vals[v]).collect();
                eval_op(
                    op,
                    &args,
                    &node
                        .outputs
                        .iter()
                        .map(|t| t.shape.clone())
                        .collect::<Vec<_>>(),
                )
                .map_err(|e| format!("node '{}' ({}): {e}", node.name, op.name()))?
            }
        };
        for (p, t) in outs.into_iter().enumerate() {
            vals.insert(ValueRef::new(n, p), t);
        }
    }
    Ok(vals)
}

/// Evaluates one node from its input tensors and expected output shapes.
pub fn eval_node(g: &Graph, n: NodeIndex, args: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    let node = g.node(n);
    eval_op(
        &node.op,
        args,
        &node
            .outputs
            .iter()
            .map(|t| t.shape.clone())
            .collect::<Vec<_>>(),
    )
}

fn f(t: &Tensor) -> Result<&[f32], String> {
    t.as_f32().ok_or_else(|| "expected f32 data".to_string())
}

fn eval_op(op: &Op, a: &[&Tensor], out_shapes: &[Vec<usize>]) -> Result<Vec<Tensor>, String> {
    let out = out_shapes.first().cloned().unwrap_or_default();
    let one = |v: Vec<f32>| Ok(vec![Tensor::f32(out.clone(), v)]);
    match op {
        Op::Input => Err("inputs are not evaluated".into()),
        Op::Const(t) => Ok(vec![t.clone()]),
        Op::Conv(c) => one(conv(
            c,
            a[0],
            f(a[1])?,
            a.get(2).map(|b| f(b)).transpose()?,
            a.get(3).map(|r| f(r)).transpose()?,
            &out,
        )?),
        Op::GhostModule(gm) => {
            let p = conv(
                &gm.primary,
                a[0],
                f(a[1])?,
                Some(f(a[2])?),
                None,
                &[out[0], gm.init, out[2], out[3]],
            )?;
            let k = gm.keep - gm.init;
            let hw = out[2] * out[3];
            let mut first = Vec::with_capacity(out[0] * k * hw);
            for b in 0..out[0] {
                first.extend_from_slice(&p[b * gm.init * hw..(b * gm.init + k) * hw]);
            }
            let first = Tensor::f32(vec![out[0], k, out[2], out[3]], first);
            let c = conv(
                &gm.cheap,
                &first,
                f(a[3])?,
                Some(f(a[4])?),
                None,
                &[out[0], k, out[2], out[3]],
            )?;
            let mut v = Vec::with_capacity(out.iter().product());
            for b in 0..out[0] {
                v.extend_from_slice(&p[b * gm.init * hw..(b + 1) * gm.init * hw]);
                v.extend_from_slice(&c[b * k * hw..(b + 1) * k * hw]);
            }
            if gm.residual {
                v.iter_mut().zip(f(a[5])?).for_each(|(x, r)| *x += r);
            }
            one(v)
        }
        Op::ExpandDepthwise(ed) => {
            let x = a[0];
            let c = a[1].shape[0];
            let mid_shape = vec![x.shape[0], c, x.shape[2], x.shape[3]];
            let mid = conv(&ed.expand, x, f(a[1])?, Some(f(a[2])?), None, &mid_shape)?;
            let mid = Tensor::f32(mid_shape, mid);
            one(conv(
                &ed.depthwise,
                &mid,
                f(a[3])?,
                Some(f(a[4])?),
                None,
                &out,
            )?)
        }
        Op::GateUpsample(gu) => {
            let (x, gate) = (f(a[0])?, f(a[1])?);
            let [n, c, h, w] = out[..] else {
                return Err("gate_upsample output must be rank 4".into());
            };
            let [fh, fw] = gu.factor;
            let (gh, gw) = (h / fh, w / fw);
            let mut v = Vec::with_capacity(x.len());
            for plane in 0..n * c {
                for y in 0..h {
                    for xx in 0..w {
                        let g = gate[(plane * gh + y / fh) * gw + xx / fw];
                        v.push(x[(plane * h + y) * w + xx] * g);
                    }
                }
            }
            one(v)
        }
        Op::SqueezeExcite(se) => {
            let x = f(a[0])?;
            let (w1, b1, w2, b2) = (f(a[1])?, f(a[2])?, f(a[3])?, f(a[4])?);
            let (n, c, hw) = (out[0], out[1], out[2] * out[3]);
            let mid = b1.len();
            let mut v = vec![0f32; x.len()];
            for b in 0..n {
                let mean: Vec<f64> = (0..c)
                    .map(|ch| {
                        x[(b * c + ch) * hw..(b * c + ch + 1) * hw]
                            .iter()
                            .map(|&v| f64::from(v))
                            .sum::<f64>()
                            / hw as f64
                    })
                    .collect();
                let hid: Vec<f32> = (0..mid)
                    .map(|j| {
                        act(
                            se.act,
                            ((0..c)
                                .map(|ch| f64::from(w1[j * c + ch]) * mean[ch])
                                .sum::<f64>()
                                + f64::from(b1[j])) as f32,
                        )
                    })
                    .collect();
                for ch in 0..c {
                    let z = (0..mid)
                        .map(|j| f64::from(w2[ch * mid + j]) * f64::from(hid[j]))
                        .sum::<f64>()
                        + f64::from(b2[ch]);
                    let gate = act(se.gate, z as f32);
                    for s in 0..hw {
                        let i = (b * c + ch) * hw + s;
                        v[i] = x[i] * gate;
                    }
                }
            }
            one(v)
        }
        Op::BatchNorm { epsilon } => {
            let x = f(a[0])?;
            let (s, bb, m, var) = (f(a[1])?, f(a[2])?, f(a[3])?, f(a[4])?);
            let c = out[1];
            let inner: usize = out[2..].iter().product();
            one(x
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let ch = (i / inner) % c;
                    ((f64::from(v) - f64::from(m[ch]))
                        / (f64::from(var[ch]) + f64::from(*epsilon)).sqrt()
                        * f64::from(s[ch])
                        + f64::from(bb[ch])) as f32
                })
                .collect())
        }
        Op::Activation(ac) => one(f(a[0])?.iter().map(|&v| ac.apply(v)).collect()),
        Op::Binary(b) => match (&a[0].data, &a[1].data) {
            (Data::F32(x), Data::F32(y)) => {
                let (shape, v) = fold::map2(x, &a[0].shape, y, &a[1].shape, |x, y| {
                    Ok(match b {
                        BinaryOp::Add => x + y,
                        BinaryOp::Sub => x - y,
                        BinaryOp::Mul => x * y,
                        BinaryOp::Div => x / y,
                    })
                })?;
                Ok(vec![Tensor::f32(shape, v)])
            }
            _ => Err("binary ops evaluate f32 only".into()),
        },
        Op::Concat { axis } => Ok(vec![fold::concat(a, *axis, out)]),
        Op::Slice { axes } => {
            let mut pick: Vec<Vec<usize>> = a[0].shape.iter().map(|&n| (0..n).collect()).collect();
            for s in axes {
                pick[s.axis] = (0..s.len)
                    .map(|i| (s.start as i64 + i as i64 * s.step) as usize)
                    .collect();
            }
            Ok(vec![fold::select(a[0], &pick)])
        }
        Op::Split { axis, sizes } => {
            let mut start = 0;
            let mut outs = Vec::new();
            for &s in sizes {
                let mut pick: Vec<Vec<usize>> =
                    a[0].shape.iter().map(|&n| (0..n).collect()).collect();
                pick[*axis] = (start..start + s).collect();
                outs.push(fold::select(a[0], &pick));
                start += s;
            }
            Ok(outs)
        }
        Op::GlobalAveragePool => {
            let x = f(a[0])?;
            let (lead, spatial) = a[0].shape.split_at(a[0].shape.len().min(2));
            let hw: usize = spatial.iter().product();
            // One mean per (n, c), even over an empty window (0/0: NaN, as the kernel gives).
            one((0..lead.iter().product::<usize>())
                .map(|i| {
                    let p = x.get(i * hw..(i + 1) * hw).unwrap_or_default();
                    (p.iter().map(|&v| f64::from(v)).sum::<f64>() / hw as f64) as f32
                })
                .collect())
        }
        Op::ReduceMean { axes, .. } => {
            let x = f(a[0])?;
            let shape = &a[0].shape;
            let kept: Vec<usize> = shape
                .iter()
                .enumerate()
                .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
                .collect();
            let n_out: usize = kept.iter().product();
            let count: usize = axes.iter().map(|&i| shape[i]).product();
            let mut acc = vec![0f64; n_out];
            let mut idx = vec![0usize; shape.len()];
            for &v in x {
                let o = idx
                    .iter()
                    .zip(&kept)
                    .fold(0, |o, (&i, &k)| o * k + if k == 1 { 0 } else { i });
                acc[o] += f64::from(v);
                for d in (0..shape.len()).rev() {
                    idx[d] += 1;
                    if idx[d] < shape[d] {
                        break;
                    }
                    idx[d] = 0;
                }
            }
            one(acc.iter().map(|&s| (s / count as f64) as f32).collect())
        }
        Op::Pool(p) => {
            let x = f(a[0])?;
            let s = &a[0].shape;
            let (h, w) = (s[2] as i64, s[3] as i64);
            let mut v = Vec::with_capacity(out.iter().product());
            for nc in 0..out[0] * out[1] {
                for oy in 0..out[2] as i64 {
                    for ox in 0..out[3] as i64 {
                        let (mut best, mut sum, mut cnt, mut padded) =
                            (f32::NEG_INFINITY, 0f64, 0usize, 0usize);
                        for ky in 0..p.kernel[0] as i64 {
                            for kx in 0..p.kernel[1] as i64 {
                                let iy = oy * p.strides[0] as i64 - p.pads[0] as i64
                                    + ky * p.dilations[0] as i64;
                                let ix = ox * p.strides[1] as i64 - p.pads[1] as i64
                                    + kx * p.dilations[1] as i64;
                                if iy < h + p.pads[2] as i64 && ix < w + p.pads[3] as i64 {
                                    padded += 1;
                                }
                                if (0..h).contains(&iy) && (0..w).contains(&ix) {
                                    let val = x[nc * (h * w) as usize + (iy * w + ix) as usize];
                                    // onnxruntime's scan (`maxps`): NaN replaces
                                    // the maximum, the next element replaces NaN.
                                    best = if best > val { best } else { val };
                                    sum += f64::from(val);
                                    cnt += 1;
                                }
                            }
                        }
                        v.push(match p.kind {
                            PoolKind::Max => best,
                            PoolKind::Avg { count_include_pad } => {
                                let d = if count_include_pad { padded } else { cnt };
                                if d == 0 {
                                    0.0
                                } else {
                                    (sum / d as f64) as f32
                                }
                            }
                        });
                    }
                }
            }
            one(v)
        }
        Op::Resize(r) => one(resize(r, a[0])?),
        Op::Flatten { .. }
        | Op::Reshape { .. }
        | Op::Squeeze { .. }
        | Op::Unsqueeze { .. }
        | Op::Identity
        | Op::Dropout => Ok(vec![fold::reshaped(a[0], out)]),
        Op::Transpose { perm } => Ok(vec![fold::transpose(a[0], perm)]),
        Op::Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        } => {
            let (x, y) = (f(a[0])?, f(a[1])?);
            let (m, n) = (out[0], out[1]);
            let k = if *trans_a {
                a[0].shape[0]
            } else {
                a[0].shape[1]
            };
            let c = a.get(2).map(|c| {
                (
                    f(c),
                    crate::ops::elementwise::broadcast_strides(&c.shape, &[m, n]),
                )
            });
            let mut v = Vec::with_capacity(m * n);
            for i in 0..m {
                for j in 0..n {
                    let mut s = 0f64;
                    for kk in 0..k {
                        let av = if *trans_a {
                            x[kk * m + i]
                        } else {
                            x[i * k + kk]
                        };
                        let bv = if *trans_b {
                            y[j * k + kk]
                        } else {
                            y[kk * n + j]
                        };
                        s += f64::from(av) * f64::from(bv);
                    }
                    let mut r = f64::from(*alpha) * s;
                    if let Some((Ok(cv), st)) = &c {
                        r += f64::from(*beta) * f64::from(cv[i * st[0] + j * st[1]]);
                    }
                    v.push(r as f32);
                }
            }
            one(v)
        }
        Op::MatMul => {
            let (x, y) = (f(a[0])?, f(a[1])?);
            let d = crate::ops::gemm::matmul_dims(&a[0].shape, &a[1].shape);
            let (m, k, n, ba, bb) = (d.m, d.k, d.n, &d.a_batch, &d.b_batch);
            let batch = crate::ops::elementwise::broadcast(ba, bb)?;
            let (sta, stb) = (
                crate::ops::elementwise::broadcast_strides(ba, &batch),
                crate::ops::elementwise::broadcast_strides(bb, &batch),
            );
            let nb: usize = batch.iter().product();
            let mut v = Vec::with_capacity(nb * m * n);
            let mut idx = vec![0usize; batch.len()];
            for _ in 0..nb {
                let oa: usize = idx.iter().zip(&sta).map(|(i, s)| i * s).sum::<usize>() * m * k;
                let ob: usize = idx.iter().zip(&stb).map(|(i, s)| i * s).sum::<usize>() * k * n;
                for i in 0..m {
                    for j in 0..n {
                        v.push(
                            (0..k)
                                .map(|kk| {
                                    f64::from(x[oa + i * k + kk]) * f64::from(y[ob + kk * n + j])
                                })
                                .sum::<f64>() as f32,
                        );
                    }
                }
                for d in (0..batch.len()).rev() {
                    idx[d] += 1;
                    if idx[d] < batch[d] {
                        break;
                    }
                    idx[d] = 0;
                }
            }
            one(v)
        }
        Op::Softmax { axis, coerce_2d } => {
            let x = f(a[0])?;
            let [outer, len, inner] = crate::ops::softmax_dims(&a[0].shape, *axis, *coerce_2d);
            let mut v = vec![0f32; x.len()];
            for o in 0..outer {
                for i in 0..inner {
                    let at = |j: usize| (o * len + j) * inner + i;
                    let mx = (0..len).map(|j| x[at(j)]).fold(f32::NEG_INFINITY, f32::max);
                    let sum: f64 = (0..len).map(|j| (f64::from(x[at(j)] - mx)).exp()).sum();
                    for j in 0..len {
                        v[at(j)] = ((f64::from(x[at(j)] - mx)).exp() / sum) as f32;
                    }
                }
            }
            one(v)
        }
    }
}

fn act(a: Option<Activation>, v: f32) -> f32 {
    a.map_or(v, |a| a.apply(v))
}

/// Direct convolution, f64 accumulation: `act(conv + bias [+ residual])`.
fn conv(
    c: &Conv,
    x: &Tensor,
    w: &[f32],
    bias: Option<&[f32]>,
    res: Option<&[f32]>,
    out: &[usize],
) -> Result<Vec<f32>, String> {
    let xv = f(x)?;
    let (n, ci, h, wd) = (x.shape[0], x.shape[1], x.shape[2] as i64, x.shape[3] as i64);
    let (co, oh, ow) = (out[1], out[2], out[3]);
    let (cig, cog) = (ci / c.group, co / c.group);
    let mut v = Vec::with_capacity(n * co * oh * ow);
    for b in 0..n {
        for o in 0..co {
            let gi = o / cog.max(1);
            for oy in 0..oh as i64 {
                for ox in 0..ow as i64 {
                    let mut s = bias.map_or(0.0, |bv| f64::from(bv[o]));
                    for i in 0..cig {
                        let ic = gi * cig + i;
                        for ky in 0..c.kernel[0] as i64 {
                            let iy = oy * c.strides[0] as i64 - c.pads[0] as i64
                                + ky * c.dilations[0] as i64;
                            if !(0..h).contains(&iy) {
                                continue;
                            }
                            for kx in 0..c.kernel[1] as i64 {
                                let ix = ox * c.strides[1] as i64 - c.pads[1] as i64
                                    + kx * c.dilations[1] as i64;
                                if !(0..wd).contains(&ix) {
                                    continue;
                                }
                                let xi = ((b * ci + ic) as i64 * h + iy) * wd + ix;
                                let wi = ((o * cig + i) * c.kernel[0] + ky as usize) * c.kernel[1]
                                    + kx as usize;
                                s += f64::from(xv[xi as usize]) * f64::from(w[wi]);
                            }
                        }
                    }
                    let idx = v.len();
                    if let Some(r) = res {
                        s += f64::from(r[idx]);
                    }
                    v.push(act(c.act, s as f32));
                }
            }
        }
    }
    Ok(v)
}

/// The source coordinate of output coordinate `o` along one axis (the ONNX spec's table),
/// computed in f32 as onnxruntime does: with a scale not exact in f32 (1.3), f64 moves
/// coordinates off the .5 ties onnxruntime's rounding sees (6.5 / 1.3f is 5 in f32,
/// 5.0000002 in f64) and picks other rows.
pub(crate) fn resize_source(
    coord: CoordTransform,
    o: usize,
    len_in: usize,
    len_out: usize,
    scale: f32,
) -> f64 {
    let (o, s, li, lo) = (o as f32, scale, len_in as f32, len_out as f32);
    f64::from(match coord {
        CoordTransform::HalfPixel => (o + 0.5) / s - 0.5,
        CoordTransform::PytorchHalfPixel => {
            if lo > 1.0 {
                (o + 0.5) / s - 0.5
            } else {
                0.0
            }
        }
        CoordTransform::AlignCorners => {
            if lo > 1.0 {
                o * (li - 1.0) / (lo - 1.0)
            } else {
                0.0
            }
        }
        CoordTransform::Asymmetric => o / s,
        CoordTransform::TfHalfPixelForCenter => (o + 0.5) / s,
    })
}

/// The index nearest mode `m` picks for source coordinate `s` along an axis of `len > 0`.
pub(crate) fn nearest_index(m: NearestMode, s: f64, len: usize) -> usize {
    let i = match m {
        NearestMode::RoundPreferFloor => {
            if s.fract() == 0.5 {
                s.floor()
            } else {
                s.round()
            }
        }
        NearestMode::RoundPreferCeil => s.round(),
        NearestMode::Floor => s.floor(),
        NearestMode::Ceil => s.ceil(),
    };
    i.clamp(0.0, (len - 1) as f64) as usize
}

/// ONNX Resize on the last two dims (nearest and linear), following the spec's formulas.
fn resize(r: &crate::ops::Resize, x: &Tensor) -> Result<Vec<f32>, String> {
    let xv = f(x)?;
    let (nc, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3]);
    let (oh, ow) = (r.size[0], r.size[1]);
    let src = |o: usize, len_in: usize, len_out: usize, scale: f32| -> f64 {
        resize_source(r.coord, o, len_in, len_out, scale)
    };
    let mut v = Vec::with_capacity(nc * oh * ow);
    for p in 0..nc {
        let plane = &xv[p * h * w..(p + 1) * h * w];
        for oy in 0..oh {
            let sy = src(oy, h, oh, r.scales[0]);
            for ox in 0..ow {
                let sx = src(ox, w, ow, r.scales[1]);
                v.push(match r.mode {
                    ResizeMode::Nearest(m) => {
                        let pick = |s: f64, len: usize| nearest_index(m, s, len);
                        plane[pick(sy, h) * w + pick(sx, w)]
                    }
                    ResizeMode::Linear => {
                        let (cy, cx) =
                            (sy.clamp(0.0, (h - 1) as f64), sx.clamp(0.0, (w - 1) as f64));
                        let (y0, x0) = (cy.floor() as usize, cx.floor() as usize);
                        let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
                        let (dy, dx) = (cy - y0 as f64, cx - x0 as f64);
                        let g = |y: usize, x: usize| f64::from(plane[y * w + x]);
                        // Per axis, horizontally first, with onnxruntime's weights: a
                        // coordinate clamped to the last row or column reads only it (an
                        // infinity there stays infinite); elsewhere both neighbours are read,
                        // weight 0 included (an infinite one then gives NaN, as there).
                        let lerp = |a: f64, b: f64, d: f64, same: bool| {
                            if same {
                                a
                            } else {
                                a * (1.0 - d) + b * d
                            }
                        };
                        let row = |y: usize| lerp(g(y, x0), g(y, x1), dx, x0 == x1);
                        lerp(row(y0), row(y1), dy, y0 == y1) as f32
                    }
                });
            }
        }
    }
    Ok(v)
}
