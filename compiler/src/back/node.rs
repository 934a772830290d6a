//! Emission of one IR node as a block that borrows its operands from the arena, the inputs or the
//! weights and calls the matching `ghostc-runtime` kernel. Every shape is a literal.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::f32_lit;
use super::weights::Weights;
use crate::analysis::memory::{runs_in_place, MemoryPlan, Storage};
use crate::ir::layout::{Layout, Packing};
use crate::ir::{Graph, ValueRef};
use crate::ops::elementwise::broadcast_strides;
use crate::ops::pool::PoolKind;
use crate::ops::resize::{CoordTransform, NearestMode, ResizeMode};
use crate::ops::{Activation, BinaryOp, Conv, Op};
use petgraph::stable_graph::NodeIndex;

pub struct Cx<'a> {
    pub g: &'a Graph,
    pub plan: &'a MemoryPlan,
    /// Parameter names of the graph inputs.
    pub inputs: &'a [String],
}

fn lit(v: usize) -> Literal {
    Literal::usize_unsuffixed(v)
}

fn lits(v: &[usize]) -> TokenStream {
    let l = v.iter().map(|&x| lit(x));
    quote! { [#(#l),*] }
}

/// Expression for reading value `v`: an arena input (by name `a{k}` from `arena_names`), a graph
/// input parameter, or a weights range.
pub fn read_expr(
    cx: &Cx,
    w: &mut Weights,
    v: ValueRef,
    arena_name: Option<&TokenStream>,
    packing: Packing,
) -> Result<TokenStream, String> {
    match cx.plan.storage.get(&v).copied() {
        Some(Storage::Const(n)) => {
            let t =
                cx.g.constant(ValueRef::new(n, 0))
                    .ok_or("constant expected")?;
            let data = t.as_f32().ok_or_else(|| {
                format!("integer constant {} is read at run time", cx.g.node(n).name)
            })?;
            let (o, l) = w.node(n, packing, data, &t.shape);
            let (o, e) = (lit(o), lit(o + l));
            Ok(quote! { &w[#o..#e] })
        }
        Some(Storage::Arena { offset, len }) => match arena_name {
            Some(a) => Ok(a.clone()),
            None => {
                let (o, e) = (lit(offset), lit(offset + len));
                Ok(quote! { &arena[#o..#e] })
            }
        },
        None => Err("value has no storage".into()),
    }
}

/// Operands of a node: expressions for its inputs and the `io` binding for arena inputs/output.
struct Operands {
    exprs: Vec<TokenStream>,
    bind: TokenStream,
}

fn operands(cx: &Cx, w: &mut Weights, n: NodeIndex, out: ValueRef) -> Result<Operands, String> {
    let mut ranges = Vec::new();
    let mut names = Vec::new();
    let mut exprs = Vec::new();
    let packings = packings(cx.g, n);
    // An in-place node's first input is its output (`out`), not a separate range.
    let in_place = runs_in_place(cx.plan, cx.g, n);
    for (port, v) in cx.g.inputs(n).into_iter().enumerate() {
        if in_place && port == 0 {
            exprs.push(quote! { out });
            continue;
        }
        if let Some(Storage::Arena { offset, len }) = cx.plan.storage.get(&v).copied() {
            let name = format_ident!("a{}", names.len());
            let (o, l) = (lit(offset), lit(len));
            ranges.push(quote! { (#o, #l) });
            exprs.push(quote! { #name });
            names.push(name);
        } else {
            let packing = packings.get(port).copied().unwrap_or(Packing::Plain);
            exprs.push(read_expr(cx, w, v, None, packing)?);
        }
    }
    let Some(Storage::Arena { offset, len }) = cx.plan.storage.get(&out).copied() else {
        return Err("output is not in the arena".into());
    };
    let (o, l) = (lit(offset), lit(len));
    let bind = quote! { let ([#(#names),*], out) = ::ghostc_runtime::io(arena, [#(#ranges),*], (#o, #l)); };
    Ok(Operands { exprs, bind })
}

/// How each input port's constant is packed for the kernel (see [`Op::packing`]).
fn packings(g: &Graph, n: NodeIndex) -> Vec<Packing> {
    let out = g.layout(ValueRef::new(n, 0));
    let op = &g.node(n).op;
    g.inputs(n)
        .into_iter()
        .enumerate()
        .map(|(port, v)| op.packing(port, g.ty(v), out))
        .collect()
}

fn act_tokens(a: Option<&Activation>) -> TokenStream {
    match a {
        None => quote! { ::ghostc_runtime::Activation::None },
        Some(Activation::Relu) => quote! { ::ghostc_runtime::Activation::Relu },
        Some(Activation::Sigmoid) => quote! { ::ghostc_runtime::Activation::Sigmoid },
        Some(Activation::HardSwish) => quote! { ::ghostc_runtime::Activation::HardSwish },
        Some(Activation::Clip { min, max }) => {
            let (a, b) = (f32_lit(*min), f32_lit(*max));
            quote! { ::ghostc_runtime::Activation::Clip { min: #a, max: #b } }
        }
        Some(Activation::HardSigmoid { alpha, beta }) => {
            let (a, b) = (f32_lit(*alpha), f32_lit(*beta));
            quote! { ::ghostc_runtime::Activation::HardSigmoid { alpha: #a, beta: #b } }
        }
    }
}

/// A `Conv2d` literal for `c` over input `[n, c_in, h, w]` with `c_out` outputs of `out_hw`.
fn conv_params(
    c: &Conv,
    x: [usize; 4],
    c_out: usize,
    out_hw: [usize; 2],
    act: Option<&Activation>,
) -> TokenStream {
    let [bn, ci, hi, wi, co, ho, wo] =
        [x[0], x[1], x[2], x[3], c_out, out_hw[0], out_hw[1]].map(lit);
    let [kh, kw, sh, sw, pt, pl, dh, dw, gr] = [
        c.kernel[0],
        c.kernel[1],
        c.strides[0],
        c.strides[1],
        c.pads[0],
        c.pads[1],
        c.dilations[0],
        c.dilations[1],
        c.group,
    ]
    .map(lit);
    let act = act_tokens(act);
    quote! {
        ::ghostc_runtime::Conv2d { n: #bn, c_in: #ci, h_in: #hi, w_in: #wi, c_out: #co, h_out: #ho, w_out: #wo,
            kernel_h: #kh, kernel_w: #kw, stride_h: #sh, stride_w: #sw, pad_top: #pt, pad_left: #pl,
            dilation_h: #dh, dilation_w: #dw, group: #gr, activation: #act }
    }
}

/// The statement block computing node `n`.
pub fn emit_node(cx: &Cx, w: &mut Weights, n: NodeIndex) -> Result<TokenStream, String> {
    let g = cx.g;
    let node = g.node(n);
    let ins = g.inputs(n);
    let shape = |i: usize| -> Vec<usize> {
        ins.get(i)
            .map(|&v| g.ty(v).shape.clone())
            .unwrap_or_default()
    };
    let out_shape = node
        .outputs
        .first()
        .map(|t| t.shape.clone())
        .unwrap_or_default();
    let out_v = ValueRef::new(n, 0);

    if let Op::Split { axis, sizes } = &node.op {
        // One copy per output piece.
        let x = shape(0);
        let (outer, inner) = (
            x[..*axis].iter().product::<usize>(),
            x[axis + 1..].iter().product::<usize>(),
        );
        let mut blocks = Vec::new();
        let mut start = 0;
        for (p, &s) in sizes.iter().enumerate() {
            let ops = operands(cx, w, n, ValueRef::new(n, p))?;
            let bind = &ops.bind;
            let src = &ops.exprs[0];
            let (so, ss, rows, len) = (
                lit(start * inner),
                lit(x[*axis] * inner),
                lit(outer),
                lit(s * inner),
            );
            blocks.push(quote! { { #bind ::ghostc_runtime::copy_2d(#src, #so, #ss, out, 0, #len, #rows, #len); } });
            start += s;
        }
        return Ok(quote! { #(#blocks)* });
    }

    let ops = operands(cx, w, n, out_v)?;
    let Operands { exprs: e, bind } = &ops;
    let nhwc = g.layout(out_v) == Layout::Nhwc;
    let input_nchw = ins.first().is_some_and(|&v| g.layout(v) == Layout::Nchw);
    let call = match &node.op {
        Op::Conv(c) => {
            let (x, wt) = (shape(0), shape(1));
            let params = conv_params(
                c,
                [x[0], x[1], x[2], x[3]],
                wt[0],
                [out_shape[2], out_shape[3]],
                c.act.as_ref(),
            );
            let (xi, wi_) = (&e[0], &e[1]);
            let bias = match e.get(2) {
                Some(b) => quote! { Some(#b) },
                None => quote! { None },
            };
            let res = match (c.residual, e.get(3)) {
                (true, Some(r)) => quote! { Some(#r) },
                _ => quote! { None },
            };
            if nhwc {
                quote! { ::ghostc_runtime::conv2d_nhwc(par, &#params, #input_nchw, #xi, #wi_, #bias, #res, out); }
            } else {
                quote! { ::ghostc_runtime::conv2d(par, &#params, #xi, #wi_, #bias, #res, out); }
            }
        }
        Op::GhostModule(gm) => {
            let x = shape(0);
            let k = gm.keep - gm.init;
            let hw = [out_shape[2], out_shape[3]];
            let primary = conv_params(
                &gm.primary,
                [x[0], x[1], x[2], x[3]],
                gm.init,
                hw,
                gm.primary.act.as_ref(),
            );
            let cheap = conv_params(
                &gm.cheap,
                [x[0], k, hw[0], hw[1]],
                k,
                hw,
                gm.cheap.act.as_ref(),
            );
            let (xi, w1, b1, w2, b2) = (&e[0], &e[1], &e[2], &e[3], &e[4]);
            let res = match (gm.residual, e.get(5)) {
                (true, Some(r)) => quote! { Some(#r) },
                _ => quote! { None },
            };
            let params =
                quote! { &::ghostc_runtime::GhostModule { primary: #primary, cheap: #cheap } };
            if nhwc {
                quote! { ::ghostc_runtime::ghost_module_nhwc(par, #params, #input_nchw, #xi, #w1, #b1, #w2, #b2, #res, out); }
            } else {
                quote! { ::ghostc_runtime::ghost_module(par, #params, #xi, #w1, #b1, #w2, #b2, #res, out); }
            }
        }
        Op::SqueezeExcite(se) => {
            let x = shape(0);
            let mid = shape(1)[0];
            let [bn, c, sp, m] = [x[0], x[1], x[2] * x[3], mid].map(lit);
            let scratch = lit(x[1] + mid);
            let (act, gate) = (act_tokens(se.act.as_ref()), act_tokens(se.gate.as_ref()));
            let (xi, w1, b1, w2, b2) = (&e[0], &e[1], &e[2], &e[3], &e[4]);
            let params = quote! {
                &::ghostc_runtime::SqueezeExcite { n: #bn, c: #c, spatial: #sp, mid: #m, act: #act, gate: #gate }
            };
            let f = if nhwc {
                quote! { squeeze_excite_nhwc }
            } else {
                quote! { squeeze_excite }
            };
            let data = if runs_in_place(cx.plan, g, n) {
                quote! { ::ghostc_runtime::InOut::InPlace(out) }
            } else {
                quote! { ::ghostc_runtime::InOut::Separate(#xi, out) }
            };
            quote! {
                let mut scratch = [0f32; #scratch];
                ::ghostc_runtime::#f(#params, #data, #w1, #b1, #w2, #b2, &mut scratch);
            }
        }
        Op::BatchNorm { epsilon } => {
            // Folded at compile time into y = x * scale + shift per channel.
            let get = |i: usize| {
                ins.get(i)
                    .and_then(|&v| g.constant(v))
                    .and_then(|t| t.as_f32())
                    .ok_or("batch norm parameters must be constants")
            };
            let (gamma, beta, mean, var) = (get(1)?, get(2)?, get(3)?, get(4)?);
            let scale: Vec<f32> = gamma
                .iter()
                .zip(var)
                .map(|(g, v)| g / (v + epsilon).sqrt())
                .collect();
            let shift: Vec<f32> = beta
                .iter()
                .zip(mean)
                .zip(&scale)
                .map(|((b, m), s)| b - m * s)
                .collect();
            let ((so, sl), (ho, hl)) = (w.push(&scale), w.push(&shift));
            let (s0, s1, h0, h1) = (lit(so), lit(so + sl), lit(ho), lit(ho + hl));
            let x = shape(0);
            let (bn, c, sp) = (lit(x[0]), lit(x[1]), lit(x[2..].iter().product()));
            let xi = &e[0];
            quote! { ::ghostc_runtime::channel_affine(#bn, #c, #sp, &w[#s0..#s1], &w[#h0..#h1], #xi, out); }
        }
        Op::Activation(a) => {
            let act = act_tokens(Some(a));
            let xi = &e[0];
            if runs_in_place(cx.plan, g, n) {
                quote! { ::ghostc_runtime::activation(#act, ::ghostc_runtime::InOut::InPlace(out)); }
            } else {
                quote! { ::ghostc_runtime::activation(#act, ::ghostc_runtime::InOut::Separate(#xi, out)); }
            }
        }
        Op::Binary(b) => {
            let op = match b {
                BinaryOp::Add => quote! { Add },
                BinaryOp::Sub => quote! { Sub },
                BinaryOp::Mul => quote! { Mul },
                BinaryOp::Div => quote! { Div },
            };
            let (sa, sb) = (
                lits(&broadcast_strides(&shape(0), &out_shape)),
                lits(&broadcast_strides(&shape(1), &out_shape)),
            );
            let os = lits(&out_shape);
            let (a, b) = (&e[0], &e[1]);
            quote! { ::ghostc_runtime::binary(::ghostc_runtime::BinaryOp::#op, #a, &#sa, #b, &#sb, &#os, out); }
        }
        Op::Concat { axis } => {
            let outer: usize = out_shape[..*axis].iter().product();
            let inner: usize = out_shape[axis + 1..].iter().product();
            let ds = lit(out_shape[*axis] * inner);
            let mut start = 0;
            let mut calls = Vec::new();
            for (i, x) in e.iter().enumerate() {
                let len = shape(i)[*axis] * inner;
                let (d0, l, rows) = (lit(start), lit(len), lit(outer));
                calls.push(
                    quote! { ::ghostc_runtime::copy_2d(#x, 0, #l, out, #d0, #ds, #rows, #l); },
                );
                start += len;
            }
            quote! { #(#calls)* }
        }
        Op::Slice { axes } => {
            let x = shape(0);
            let mut starts = vec![0usize; x.len()];
            let mut steps = vec![1isize; x.len()];
            for a in axes {
                starts[a.axis] = a.start;
                steps[a.axis] = a.step as isize;
            }
            let steps_t = steps.iter().map(|&s| Literal::isize_unsuffixed(s));
            let (is, st, os) = (lits(&x), lits(&starts), lits(&out_shape));
            let xi = &e[0];
            quote! { ::ghostc_runtime::slice(#xi, &#is, &#st, &[#(#steps_t),*], &#os, out); }
        }
        Op::GlobalAveragePool => {
            let x = shape(0);
            let sp = lit(x[2..].iter().product());
            let xi = &e[0];
            if input_nchw {
                let ch = lit(x[0] * x[1]);
                quote! { ::ghostc_runtime::global_avg_pool(#ch, #sp, #xi, out); }
            } else {
                let (bn, ch) = (lit(x[0]), lit(x[1]));
                quote! { ::ghostc_runtime::global_avg_pool_nhwc(#bn, #ch, #sp, #xi, out); }
            }
        }
        Op::ReduceMean { axes, .. } => {
            let (s, a) = (lits(&shape(0)), lits(axes));
            let xi = &e[0];
            quote! { ::ghostc_runtime::reduce_mean(#xi, &#s, &#a, out); }
        }
        Op::Pool(p) => {
            let x = shape(0);
            let [bn, c, hi, wi, ho, wo] =
                [x[0], x[1], x[2], x[3], out_shape[2], out_shape[3]].map(lit);
            let [kh, kw, sh, sw, pt, pl, pb, pr, dh, dw] = [
                p.kernel[0],
                p.kernel[1],
                p.strides[0],
                p.strides[1],
                p.pads[0],
                p.pads[1],
                p.pads[2],
                p.pads[3],
                p.dilations[0],
                p.dilations[1],
            ]
            .map(lit);
            let (f, cip) = match p.kind {
                PoolKind::Max => (quote! { max_pool2d }, false),
                PoolKind::Avg { count_include_pad } => (quote! { avg_pool2d }, count_include_pad),
            };
            let xi = &e[0];
            quote! {
                ::ghostc_runtime::#f(&::ghostc_runtime::Pool2d { n: #bn, c: #c, h_in: #hi, w_in: #wi, h_out: #ho, w_out: #wo,
                    kernel_h: #kh, kernel_w: #kw, stride_h: #sh, stride_w: #sw, pad_top: #pt, pad_left: #pl, pad_bottom: #pb, pad_right: #pr,
                    dilation_h: #dh, dilation_w: #dw, count_include_pad: #cip }, #xi, out);
            }
        }
        Op::Resize(r) => {
            let x = shape(0);
            let [bn, c, hi, wi, ho, wo] = [x[0], x[1], x[2], x[3], r.size[0], r.size[1]].map(lit);
            let (sh, sw) = (f32_lit(r.scales[0]), f32_lit(r.scales[1]));
            let mode = match r.mode {
                ResizeMode::Linear => quote! { Linear },
                ResizeMode::Nearest(m) => {
                    let m = match m {
                        NearestMode::RoundPreferFloor => quote! { RoundPreferFloor },
                        NearestMode::RoundPreferCeil => quote! { RoundPreferCeil },
                        NearestMode::Floor => quote! { Floor },
                        NearestMode::Ceil => quote! { Ceil },
                    };
                    quote! { Nearest(::ghostc_runtime::NearestRounding::#m) }
                }
            };
            let coord = match r.coord {
                CoordTransform::HalfPixel => quote! { HalfPixel },
                CoordTransform::PytorchHalfPixel => quote! { PytorchHalfPixel },
                CoordTransform::AlignCorners => quote! { AlignCorners },
                CoordTransform::Asymmetric => quote! { Asymmetric },
                CoordTransform::TfHalfPixelForCenter => quote! { TfHalfPixelForCenter },
            };
            let xi = &e[0];
            quote! {
                ::ghostc_runtime::resize(&::ghostc_runtime::Resize { n: #bn, c: #c, h_in: #hi, w_in: #wi, h_out: #ho, w_out: #wo,
                    scale_h: #sh, scale_w: #sw, mode: ::ghostc_runtime::ResizeMode::#mode, coord: ::ghostc_runtime::CoordTransform::#coord }, #xi, out);
            }
        }
        Op::Transpose { perm } => {
            let (s, p) = (lits(&shape(0)), lits(perm));
            let xi = &e[0];
            quote! { ::ghostc_runtime::transpose(#xi, &#s, &#p, out); }
        }
        Op::Gemm {
            alpha,
            beta,
            trans_a,
            trans_b,
        } => {
            let (a, b) = (shape(0), shape(1));
            let (m, k) = if *trans_a { (a[1], a[0]) } else { (a[0], a[1]) };
            let nn = if *trans_b { b[0] } else { b[1] };
            let (cm, cn) = match ins.get(2) {
                Some(&c) => {
                    let s = broadcast_strides(&g.ty(c).shape, &[m, nn]);
                    (s[0], s[1])
                }
                None => (0, 0),
            };
            let [m, nn, k, cm, cn] = [m, nn, k, cm, cn].map(lit);
            let (al, be) = (f32_lit(*alpha), f32_lit(*beta));
            let (ai, bi) = (&e[0], &e[1]);
            let c = match e.get(2) {
                Some(c) => quote! { Some(#c) },
                None => quote! { None },
            };
            quote! {
                ::ghostc_runtime::gemm(par, &::ghostc_runtime::Gemm { m: #m, n: #nn, k: #k, trans_a: #trans_a, trans_b: #trans_b,
                    alpha: #al, beta: #be, c_stride_m: #cm, c_stride_n: #cn }, #ai, #bi, #c, out);
            }
        }
        Op::MatMul => {
            let (a, b) = (shape(0), shape(1));
            let d = crate::ops::gemm::matmul_dims(&a, &b);
            let (m, k, nn, ab, bb) = (d.m, d.k, d.n, &d.a_batch, &d.b_batch);
            let (pa, pb) = (ab.iter().product::<usize>(), bb.iter().product::<usize>());
            let batch = pa.max(pb);
            if !(pa == 1 || pb == 1 || ab == bb) {
                return Err(format!(
                    "matmul batch broadcasting of {a:?} and {b:?} is not supported"
                ));
            }
            let sa = if pa == 1 { 0 } else { m * k };
            let sb = if pb == 1 { 0 } else { k * nn };
            let [batch, m, nn, k, sa, sb] = [batch, m, nn, k, sa, sb].map(lit);
            let (ai, bi) = (&e[0], &e[1]);
            quote! { ::ghostc_runtime::matmul(#batch, #m, #nn, #k, #ai, #sa, #bi, #sb, out); }
        }
        Op::Softmax { axis, coerce_2d } => {
            let [o, l, i] = crate::ops::softmax_dims(&shape(0), *axis, *coerce_2d).map(lit);
            let xi = &e[0];
            quote! { ::ghostc_runtime::softmax(#o, #l, #i, #xi, out); }
        }
        Op::Input => {
            // Graph inputs are copied into the arena, subnormals flushed to zero: a subnormal
            // input would otherwise make every later layer run on subnormals, several times slower.
            let i = g
                .inputs
                .iter()
                .position(|&x| x == n)
                .ok_or("unlisted graph input")?;
            let p = format_ident!("{}", cx.inputs.get(i).ok_or("unknown graph input")?);
            quote! { ::ghostc_runtime::load_input(&#p[..], out); }
        }
        Op::Const(_)
        | Op::Split { .. }
        | Op::Flatten { .. }
        | Op::Reshape { .. }
        | Op::Squeeze { .. }
        | Op::Unsqueeze { .. }
        | Op::Identity
        | Op::Dropout => {
            return Err("has no kernel (handled by the memory plan)".into());
        }
    };
    Ok(quote! { { #bind #call } })
}
