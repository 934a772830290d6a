//! Emission of one kernel call (see `lower`): a block that borrows the call's arena operands with
//! `ghostc_runtime::io` and calls the runtime function, one `write_*` function per kernel. Every
//! number is a literal taken from the call; every runtime name comes from `lower`'s table.

use std::ops::Range;

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::f32_lit;
use super::lower::{
    Conv2d, Copy2d, GateUpsample, Gemm, GhostModule, Kernel, KernelCall, Operand, Pool2d, Resize,
    RuntimeType, SqueezeExcite,
};
use crate::ops::resize::{CoordTransform, NearestMode, ResizeMode};
use crate::ops::{Activation, BinaryOp};

fn lit(v: usize) -> Literal {
    Literal::usize_unsuffixed(v)
}

fn lits(v: &[usize]) -> TokenStream {
    let l = v.iter().map(|&x| lit(x));
    quote! { [#(#l),*] }
}

/// `::ghostc_runtime::<name>`.
fn runtime(name: &str) -> TokenStream {
    let name = format_ident!("{}", name);
    quote! { ::ghostc_runtime::#name }
}

fn ty(t: RuntimeType) -> TokenStream {
    runtime(t.name())
}

/// `&w[a..b]`.
fn weights_slice(r: &Range<usize>) -> TokenStream {
    let (start, end) = (lit(r.start), lit(r.end));
    quote! { &w[#start..#end] }
}

/// Expression reading `operand` outside a call (a graph output): `&arena[a..b]` or `&w[a..b]`.
pub fn read_expr(operand: &Operand) -> Result<TokenStream, String> {
    match operand {
        Operand::Arena(r) => {
            let (start, end) = (lit(r.start), lit(r.end));
            Ok(quote! { &arena[#start..#end] })
        }
        Operand::Weights(r) => Ok(weights_slice(r)),
        Operand::InPlace | Operand::GraphInput(_) => {
            Err(format!("{operand} cannot be read outside a kernel call"))
        }
    }
}

/// The block making `call`: `{ let ([a0, ..], out) = io(arena, [ranges], out_range); f(..); }`,
/// where `a0, ..` are the arena inputs. `input_params` names the graph inputs.
pub fn write_call(call: &KernelCall, input_params: &[String]) -> Result<TokenStream, String> {
    let mut ranges = Vec::new();
    let mut arena_inputs = Vec::new();
    let mut args = Vec::new();
    for operand in &call.inputs {
        args.push(match operand {
            Operand::Arena(r) => {
                let name = format_ident!("a{}", arena_inputs.len());
                let (offset, len) = (lit(r.start), lit(r.len()));
                ranges.push(quote! { (#offset, #len) });
                arena_inputs.push(name.clone());
                quote! { #name }
            }
            Operand::Weights(r) => weights_slice(r),
            Operand::InPlace => quote! { out },
            Operand::GraphInput(k) => {
                let param = input_params.get(*k).ok_or("unknown graph input")?;
                let param = format_ident!("{}", param);
                quote! { &#param[..] }
            }
        });
    }
    let f = runtime(call.kernel.runtime_fn());
    let body = match &call.kernel {
        Kernel::LoadInput => {
            let [input] = take(&args)?;
            quote! { #f(#input, out); }
        }
        Kernel::Conv2d(p) => write_conv2d(&f, p, None, &args)?,
        Kernel::Conv2dNhwc { params, input_nchw } => {
            write_conv2d(&f, params, Some(*input_nchw), &args)?
        }
        Kernel::Conv2dDense {
            params,
            input_nhwc,
            output_nhwc,
        } => {
            let [x, w] = take(&args)?;
            let (bias, residual) = (optional(args.get(2)), optional(args.get(3)));
            let params = conv2d(params);
            quote! {
                #f(par, &#params, #input_nhwc, #output_nhwc, #x, #w, #bias, #residual, out);
            }
        }
        Kernel::Conv2dWinograd { params } => {
            let [x, w] = take(&args)?;
            let (bias, residual) = (optional(args.get(2)), optional(args.get(3)));
            let params = conv2d(params);
            quote! { #f(par, &#params, #x, #w, #bias, #residual, out); }
        }
        Kernel::GhostModule(p) => write_ghost_module(&f, p, None, &args)?,
        Kernel::ExpandDepthwise { params: p, .. } => {
            let [x, w1, b1, w2, b2] = take(&args)?;
            let t = ty(RuntimeType::ExpandDepthwise);
            let (expand, depthwise, block) =
                (conv2d(&p.expand), conv2d(&p.depthwise), lit(p.block));
            quote! {
                #f(par, &#t { expand: #expand, depthwise: #depthwise, block: #block }, #x, #w1, #b1, #w2, #b2, out, scratch);
            }
        }
        Kernel::ExpandDepthwiseNhwc {
            params: p,
            input_nchw,
            ..
        } => {
            let [x, w1, b1, w2, b2] = take(&args)?;
            let t = ty(RuntimeType::ExpandDepthwiseNhwc);
            let (expand, depthwise, rows) = (conv2d(&p.expand), conv2d(&p.depthwise), lit(p.rows));
            quote! {
                #f(par, &#t { expand: #expand, depthwise: #depthwise, rows: #rows }, #input_nchw, #x, #w1, #b1, #w2, #b2, out, scratch);
            }
        }
        Kernel::GhostModuleNhwc { params, input_nchw } => {
            write_ghost_module(&f, params, Some(*input_nchw), &args)?
        }
        Kernel::SqueezeExcite {
            params, in_place, ..
        } => write_squeeze_excite(&f, params, *in_place, &args)?,
        Kernel::GateUpsample {
            params, in_place, ..
        } => {
            let [x, gate] = take(&args)?;
            let params = gate_upsample(params);
            let data = in_out(*in_place, x);
            quote! { #f(&#params, #data, #gate); }
        }
        Kernel::Activation { act, in_place } => {
            let [x] = take(&args)?;
            let (act, data) = (activation(Some(*act)), in_out(*in_place, x));
            quote! { #f(#act, #data); }
        }
        Kernel::ChannelAffine {
            n,
            c,
            spatial,
            scale,
            shift,
        } => {
            let [x] = take(&args)?;
            let [n, c, spatial] = [*n, *c, *spatial].map(lit);
            let (scale, shift) = (weights_slice(scale), weights_slice(shift));
            quote! { #f(#n, #c, #spatial, #scale, #shift, #x, out); }
        }
        Kernel::Binary {
            op,
            a_strides,
            b_strides,
            shape,
        } => {
            let [a, b] = take(&args)?;
            let op = binary_op(*op);
            let (a_strides, b_strides, shape) = (lits(a_strides), lits(b_strides), lits(shape));
            quote! { #f(#op, #a, &#a_strides, #b, &#b_strides, &#shape, out); }
        }
        Kernel::Copy2d(copies) => write_copies(&f, copies, &args)?,
        Kernel::Slice {
            shape,
            starts,
            steps,
            out_shape,
        } => {
            let [x] = take(&args)?;
            let steps = steps.iter().map(|&s| Literal::isize_unsuffixed(s));
            let (shape, starts, out_shape) = (lits(shape), lits(starts), lits(out_shape));
            quote! { #f(#x, &#shape, &#starts, &[#(#steps),*], &#out_shape, out); }
        }
        Kernel::Transpose { shape, perm } => {
            let [x] = take(&args)?;
            let (shape, perm) = (lits(shape), lits(perm));
            quote! { #f(#x, &#shape, &#perm, out); }
        }
        Kernel::GlobalAvgPool { channels, spatial } => {
            let [x] = take(&args)?;
            let (channels, spatial) = (lit(*channels), lit(*spatial));
            quote! { #f(#channels, #spatial, #x, out); }
        }
        Kernel::GlobalAvgPoolNhwc { n, c, spatial } => {
            let [x] = take(&args)?;
            let [n, c, spatial] = [*n, *c, *spatial].map(lit);
            quote! { #f(#n, #c, #spatial, #x, out); }
        }
        Kernel::MaxPool2d(p)
        | Kernel::AvgPool2d(p)
        | Kernel::MaxPool2dNhwc(p)
        | Kernel::AvgPool2dNhwc(p) => {
            let [x] = take(&args)?;
            let params = pool2d(p);
            quote! { #f(&#params, #x, out); }
        }
        Kernel::Resize(r) | Kernel::ResizeNhwc(r) => {
            let [x] = take(&args)?;
            let params = resize(r);
            quote! { #f(&#params, #x, out); }
        }
        Kernel::ReduceMean { shape, axes } => {
            let [x] = take(&args)?;
            let (shape, axes) = (lits(shape), lits(axes));
            quote! { #f(#x, &#shape, &#axes, out); }
        }
        Kernel::Gemm(p) => {
            let [a, b] = take(&args)?;
            let c = optional(args.get(2));
            let params = gemm(p);
            quote! { #f(par, &#params, #a, #b, #c, out); }
        }
        Kernel::MatMul {
            batch,
            m,
            n,
            k,
            a_stride,
            b_stride,
        } => {
            let [a, b] = take(&args)?;
            let [batch, m, n, k, a_stride, b_stride] =
                [*batch, *m, *n, *k, *a_stride, *b_stride].map(lit);
            quote! { #f(#batch, #m, #n, #k, #a, #a_stride, #b, #b_stride, out); }
        }
        Kernel::Softmax { outer, len, inner } => {
            let [x] = take(&args)?;
            let [outer, len, inner] = [*outer, *len, *inner].map(lit);
            quote! { #f(#outer, #len, #inner, #x, out); }
        }
    };
    let (offset, len) = (lit(call.output.start), lit(call.output.len()));
    if let Kernel::ExpandDepthwise { scratch, .. } | Kernel::ExpandDepthwiseNhwc { scratch, .. } =
        &call.kernel
    {
        let (s_offset, s_len) = (lit(scratch.start), lit(scratch.len()));
        return Ok(quote! {
            {
                let ([#(#arena_inputs),*], out, scratch) = ::ghostc_runtime::io_scratch(arena, [#(#ranges),*], (#offset, #len), (#s_offset, #s_len));
                #body
            }
        });
    }
    Ok(quote! {
        {
            let ([#(#arena_inputs),*], out) = ::ghostc_runtime::io(arena, [#(#ranges),*], (#offset, #len));
            #body
        }
    })
}

/// The first `N` operands (those the kernel always reads).
fn take<const N: usize>(args: &[TokenStream]) -> Result<&[TokenStream; N], String> {
    args.first_chunk()
        .ok_or_else(|| format!("kernel needs {N} operands, has {}", args.len()))
}

/// `Some(x)` for an optional operand that is present, else `None`.
fn optional(arg: Option<&TokenStream>) -> TokenStream {
    match arg {
        Some(x) => quote! { Some(#x) },
        None => quote! { None },
    }
}

/// `InOut::InPlace(out)`, or `InOut::Separate(x, out)`.
fn in_out(in_place: bool, x: &TokenStream) -> TokenStream {
    let t = ty(RuntimeType::InOut);
    if in_place {
        quote! { #t::InPlace(out) }
    } else {
        quote! { #t::Separate(#x, out) }
    }
}

/// `f(par, &params, [input_nchw,] x, w, bias, residual, out)`.
fn write_conv2d(
    f: &TokenStream,
    p: &Conv2d,
    input_nchw: Option<bool>,
    args: &[TokenStream],
) -> Result<TokenStream, String> {
    let [x, w] = take(args)?;
    let (bias, residual) = (optional(args.get(2)), optional(args.get(3)));
    let params = conv2d(p);
    let input_nchw = input_nchw.map(|nchw| quote! { #nchw, });
    Ok(quote! { #f(par, &#params, #input_nchw #x, #w, #bias, #residual, out); })
}

/// `f(par, &GhostModule { .. }, [input_nchw,] x, w1, b1, w2, b2, residual, out)`.
fn write_ghost_module(
    f: &TokenStream,
    p: &GhostModule,
    input_nchw: Option<bool>,
    args: &[TokenStream],
) -> Result<TokenStream, String> {
    let [x, w1, b1, w2, b2] = take(args)?;
    let residual = optional(args.get(5));
    let t = ty(RuntimeType::GhostModule);
    let (primary, cheap) = (conv2d(&p.primary), conv2d(&p.cheap));
    let input_nchw = input_nchw.map(|nchw| quote! { #nchw, });
    Ok(quote! {
        #f(par, &#t { primary: #primary, cheap: #cheap }, #input_nchw #x, #w1, #b1, #w2, #b2, #residual, out);
    })
}

/// A scratch array for the channel means and hidden layer, then
/// `f(par, &SqueezeExcite { .. }, InOut, w1, b1, w2, b2, &mut scratch)`.
fn write_squeeze_excite(
    f: &TokenStream,
    p: &SqueezeExcite,
    in_place: bool,
    args: &[TokenStream],
) -> Result<TokenStream, String> {
    let [x, w1, b1, w2, b2] = take(args)?;
    let t = ty(RuntimeType::SqueezeExcite);
    let scratch = lit(p.scratch_len());
    let [n, c, spatial, mid] = [p.n, p.c, p.spatial, p.mid].map(lit);
    let (act, gate) = (activation(p.act), activation(p.gate));
    let data = in_out(in_place, x);
    Ok(quote! {
        let mut scratch = [0f32; #scratch];
        #f(par, &#t { n: #n, c: #c, spatial: #spatial, mid: #mid, act: #act, gate: #gate }, #data, #w1, #b1, #w2, #b2, &mut scratch);
    })
}

/// One `f(src, src_offset, src_stride, out, dst_offset, dst_stride, rows, len)` per copy.
fn write_copies(
    f: &TokenStream,
    copies: &[Copy2d],
    args: &[TokenStream],
) -> Result<TokenStream, String> {
    let mut calls = Vec::new();
    for c in copies {
        let src = args.get(c.src).ok_or("copy from a missing operand")?;
        let [src_offset, src_stride, dst_offset, dst_stride, rows, len] = [
            c.src_offset,
            c.src_stride,
            c.dst_offset,
            c.dst_stride,
            c.rows,
            c.len,
        ]
        .map(lit);
        calls.push(quote! {
            #f(#src, #src_offset, #src_stride, out, #dst_offset, #dst_stride, #rows, #len);
        });
    }
    Ok(quote! { #(#calls)* })
}

/// A `Conv2d` literal.
fn conv2d(p: &Conv2d) -> TokenStream {
    let t = ty(RuntimeType::Conv2d);
    let [n, c_in, h_in, w_in, c_out, h_out, w_out] =
        [p.n, p.c_in, p.h_in, p.w_in, p.c_out, p.h_out, p.w_out].map(lit);
    let [kernel_h, kernel_w] = p.kernel.map(lit);
    let [stride_h, stride_w] = p.stride.map(lit);
    let [pad_top, pad_left] = p.pad.map(lit);
    let [dilation_h, dilation_w] = p.dilation.map(lit);
    let group = lit(p.group);
    let act = activation(p.act);
    quote! {
        #t { n: #n, c_in: #c_in, h_in: #h_in, w_in: #w_in, c_out: #c_out, h_out: #h_out, w_out: #w_out,
            kernel_h: #kernel_h, kernel_w: #kernel_w, stride_h: #stride_h, stride_w: #stride_w, pad_top: #pad_top, pad_left: #pad_left,
            dilation_h: #dilation_h, dilation_w: #dilation_w, group: #group, activation: #act }
    }
}

/// A `Pool2d` literal.
fn pool2d(p: &Pool2d) -> TokenStream {
    let t = ty(RuntimeType::Pool2d);
    let [n, c, h_in, w_in, h_out, w_out] = [p.n, p.c, p.h_in, p.w_in, p.h_out, p.w_out].map(lit);
    let [kernel_h, kernel_w] = p.kernel.map(lit);
    let [stride_h, stride_w] = p.stride.map(lit);
    let [pad_top, pad_left, pad_bottom, pad_right] = p.pads.map(lit);
    let [dilation_h, dilation_w] = p.dilation.map(lit);
    let count_include_pad = p.count_include_pad;
    quote! {
        #t { n: #n, c: #c, h_in: #h_in, w_in: #w_in, h_out: #h_out, w_out: #w_out,
            kernel_h: #kernel_h, kernel_w: #kernel_w, stride_h: #stride_h, stride_w: #stride_w, pad_top: #pad_top, pad_left: #pad_left, pad_bottom: #pad_bottom, pad_right: #pad_right,
            dilation_h: #dilation_h, dilation_w: #dilation_w, count_include_pad: #count_include_pad }
    }
}

/// A `Resize` literal.
fn resize(r: &Resize) -> TokenStream {
    let t = ty(RuntimeType::Resize);
    let [n, c, h_in, w_in, h_out, w_out] = [r.n, r.c, r.h_in, r.w_in, r.h_out, r.w_out].map(lit);
    let [scale_h, scale_w] = r.scales.map(f32_lit);
    let mode_t = ty(RuntimeType::ResizeMode);
    let mode = match r.mode {
        ResizeMode::Linear => quote! { #mode_t::Linear },
        ResizeMode::Nearest(m) => {
            let rounding = ty(RuntimeType::NearestRounding);
            let m = match m {
                NearestMode::RoundPreferFloor => quote! { RoundPreferFloor },
                NearestMode::RoundPreferCeil => quote! { RoundPreferCeil },
                NearestMode::Floor => quote! { Floor },
                NearestMode::Ceil => quote! { Ceil },
            };
            quote! { #mode_t::Nearest(#rounding::#m) }
        }
    };
    let coord_t = ty(RuntimeType::CoordTransform);
    let coord = match r.coord {
        CoordTransform::HalfPixel => quote! { HalfPixel },
        CoordTransform::PytorchHalfPixel => quote! { PytorchHalfPixel },
        CoordTransform::AlignCorners => quote! { AlignCorners },
        CoordTransform::Asymmetric => quote! { Asymmetric },
        CoordTransform::TfHalfPixelForCenter => quote! { TfHalfPixelForCenter },
    };
    quote! {
        #t { n: #n, c: #c, h_in: #h_in, w_in: #w_in, h_out: #h_out, w_out: #w_out,
            scale_h: #scale_h, scale_w: #scale_w, mode: #mode, coord: #coord_t::#coord }
    }
}

/// A `GateUpsample` literal.
fn gate_upsample(p: &GateUpsample) -> TokenStream {
    let t = ty(RuntimeType::GateUpsample);
    let [n, c, h, w] = [p.n, p.c, p.h, p.w].map(lit);
    let [factor_h, factor_w] = p.factor.map(lit);
    quote! { #t { n: #n, c: #c, h: #h, w: #w, factor_h: #factor_h, factor_w: #factor_w } }
}

/// A `Gemm` literal.
fn gemm(p: &Gemm) -> TokenStream {
    let t = ty(RuntimeType::Gemm);
    let [m, n, k] = [p.m, p.n, p.k].map(lit);
    let [c_stride_m, c_stride_n] = p.c_strides.map(lit);
    let (trans_a, trans_b) = (p.trans_a, p.trans_b);
    let (alpha, beta) = (f32_lit(p.alpha), f32_lit(p.beta));
    quote! {
        #t { m: #m, n: #n, k: #k, trans_a: #trans_a, trans_b: #trans_b,
            alpha: #alpha, beta: #beta, c_stride_m: #c_stride_m, c_stride_n: #c_stride_n }
    }
}

/// An `Activation` literal (`None` is `Activation::None`).
fn activation(a: Option<Activation>) -> TokenStream {
    let t = ty(RuntimeType::Activation);
    match a {
        None => quote! { #t::None },
        Some(Activation::Relu) => quote! { #t::Relu },
        Some(Activation::Sigmoid) => quote! { #t::Sigmoid },
        Some(Activation::HardSwish) => quote! { #t::HardSwish },
        Some(Activation::Silu) => quote! { #t::Silu },
        Some(Activation::Tanh) => quote! { #t::Tanh },
        Some(Activation::Gelu) => quote! { #t::Gelu },
        Some(Activation::GeluTanh) => quote! { #t::GeluTanh },
        Some(Activation::Erf) => quote! { #t::Erf },
        Some(Activation::Exp) => quote! { #t::Exp },
        Some(Activation::Clip { min, max }) => {
            let (min, max) = (f32_lit(min), f32_lit(max));
            quote! { #t::Clip { min: #min, max: #max } }
        }
        Some(Activation::HardSigmoid { alpha, beta }) => {
            let (alpha, beta) = (f32_lit(alpha), f32_lit(beta));
            quote! { #t::HardSigmoid { alpha: #alpha, beta: #beta } }
        }
    }
}

/// A `BinaryOp` literal.
fn binary_op(op: BinaryOp) -> TokenStream {
    let t = ty(RuntimeType::BinaryOp);
    match op {
        BinaryOp::Add => quote! { #t::Add },
        BinaryOp::Sub => quote! { #t::Sub },
        BinaryOp::Mul => quote! { #t::Mul },
        BinaryOp::Div => quote! { #t::Div },
    }
}
