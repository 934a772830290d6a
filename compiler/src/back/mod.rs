//! The back end: `lower` turns a planned IR into kernel calls, and `emit` turns those into one
//! source file (plus a weights blob) that depends only on `ghostc-runtime`. Token streams are
//! built with `quote` (one `call::write_call` per kernel call), parsed by `syn` and formatted by
//! `prettyplease`; per-node comments are spliced in afterwards from escaped text.

mod call;
pub mod header;
pub mod lower;
pub mod namer;
pub mod weights;

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use crate::analysis::memory::MemoryPlan;
use crate::error::{Error, Result};
use crate::ir::text::numbering;
use crate::ir::Graph;
use crate::ops::Attrs;
pub use lower::{lower, Lowered};
use namer::{comment_text, Namer};

/// How the emitted source gets its weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightsMode {
    /// A binary file beside the source, embedded with `include_bytes!`.
    #[default]
    File,
    /// Byte-string literal inside the source (single-file output, for tiny models).
    Inline,
}

/// What the emitter needs besides the graph.
#[derive(Clone, Debug)]
pub struct EmitOptions {
    /// Name of the generated struct (any string; it is sanitised to UpperCamelCase).
    pub name: String,
    /// File name (not a path) of the weights blob, as `include_bytes!` will see it.
    pub weights_file: String,
    pub weights_mode: WeightsMode,
    /// Header lines (see [`header::lines`]); no paths or timestamps.
    pub header: Vec<String>,
    /// Emit per-layer timing (`profile()`, needs the runtime's `std` feature).
    pub profile: bool,
}

/// Generated source and weights.
#[derive(Clone, Debug)]
pub struct Emitted {
    pub source: String,
    pub weights: Vec<u8>,
    /// The struct name used in the source.
    pub struct_name: String,
}

/// Emits Rust for `g`, whose values live where `plan` (`analysis::memory::plan(g)`) puts them,
/// making the kernel calls of `lowered` (`lower::lower(g, plan)`).
pub fn emit(
    g: &Graph,
    plan: &MemoryPlan,
    lowered: &Lowered,
    opts: &EmitOptions,
) -> Result<Emitted> {
    let (_, num) = numbering(g);

    let struct_name = namer::camel(&opts.name);
    let mut names = Namer::with_reserved(&[
        "arena",
        "w",
        "self",
        "out",
        "Self",
        "new",
        "run",
        "run_with_arena",
    ]);
    let mut input_params = Vec::new();
    for &i in &g.inputs {
        // One input is always `input` (the API is the same for every model); several keep
        // their ONNX names.
        let base = if g.inputs.len() == 1 {
            "input".to_string()
        } else {
            namer::snake(&g.node(i).name)
        };
        input_params.push(names.fresh(&base));
    }
    let mut output_params = Vec::new();
    for (name, _) in &g.outputs {
        let base = if g.outputs.len() == 1 {
            "output".to_string()
        } else {
            namer::snake(name)
        };
        output_params.push(names.fresh(&base));
    }
    let mut consts = Namer::with_reserved(&["ARENA_LEN", "ARENA_BYTES", "WEIGHTS_BYTES"]);

    let mut notes: Vec<String> = Vec::new();
    let mut layers: Vec<(String, String, u64, u64)> = Vec::new();
    let mut body = Vec::new();
    // One comment (and profiled layer) per node, over its calls (several for a Split).
    for calls in lowered.calls.chunk_by(|a, b| a.node == b.node) {
        let Some(n) = calls.first().map(|c| c.node) else {
            continue;
        };
        let node = g.node(n);
        let stmt = calls
            .iter()
            .map(|c| call::write_call(c, &input_params))
            .collect::<Result<TokenStream, String>>()
            .map_err(|e| Error::Emit(format!("node '{}' ({}): {e}", node.name, node.op.name())))?;
        let tys: Vec<String> = node.outputs.iter().map(ToString::to_string).collect();
        notes.push(comment_text(&format!(
            "%{} {}{} -> {}  \"{}\"",
            num[&n],
            node.op.name(),
            Attrs(&node.op),
            tys.join(", "),
            node.name
        )));
        let k = Literal::usize_unsuffixed(notes.len() - 1);
        if opts.profile {
            let l = Literal::usize_unsuffixed(layers.len());
            layers.push((
                comment_text(&node.name),
                node.op.name().to_string(),
                crate::analysis::cost::macs(g, n),
                calls.iter().map(|c| traffic(g, c)).sum(),
            ));
            body.push(quote! { __ghostc_note!(#k); probe.enter(#l); #stmt probe.exit(#l); });
        } else {
            body.push(quote! { __ghostc_note!(#k); #stmt });
        }
    }
    // Copy graph outputs out of wherever they live.
    for (src, p) in lowered.outputs.iter().zip(&output_params) {
        let p = format_ident!("{}", p);
        let src = call::read_expr(src).map_err(Error::Emit)?;
        body.push(quote! { #p.copy_from_slice(#src); });
    }

    let mut sig = Vec::new();
    let mut consts_tokens = Vec::new();
    let mut forward = Vec::new();
    let mut io_doc = Vec::new();
    for (k, (&i, p)) in g.inputs.iter().zip(&input_params).enumerate() {
        let shape = &g.node(i).outputs[0].shape;
        let (s, l) = (
            format_ident!("{}", consts.fresh(&format!("{}_SHAPE", namer::upper(p)))),
            format_ident!("{}", consts.fresh(&format!("{}_LEN", namer::upper(p)))),
        );
        let (r, len, dims) = (
            Literal::usize_unsuffixed(shape.len()),
            Literal::usize_unsuffixed(g.node(i).outputs[0].len()),
            shape.iter().map(|&d| Literal::usize_unsuffixed(d)),
        );
        let doc = format!(
            " Shape of input `{p}` (ONNX input {k}, {:?}), row-major.",
            comment_text(&g.node(i).name)
        );
        consts_tokens.push(quote! { #[doc = #doc] pub const #s: [usize; #r] = [#(#dims),*]; #[doc = " Number of elements of that input."] pub const #l: usize = #len; });
        let p = format_ident!("{}", p);
        sig.push(quote! { #p: &[f32; Self::#l] });
        forward.push(quote! { #p });
        io_doc.push(p.to_string());
    }
    for (k, ((name, v), p)) in g.outputs.iter().zip(&output_params).enumerate() {
        let ty = g.ty(*v);
        let (s, l) = (
            format_ident!("{}", consts.fresh(&format!("{}_SHAPE", namer::upper(p)))),
            format_ident!("{}", consts.fresh(&format!("{}_LEN", namer::upper(p)))),
        );
        let (r, len, dims) = (
            Literal::usize_unsuffixed(ty.rank()),
            Literal::usize_unsuffixed(ty.len()),
            ty.shape.iter().map(|&d| Literal::usize_unsuffixed(d)),
        );
        let doc = format!(
            " Shape of output `{p}` (ONNX output {k}, {:?}), row-major.",
            comment_text(name)
        );
        consts_tokens.push(quote! { #[doc = #doc] pub const #s: [usize; #r] = [#(#dims),*]; #[doc = " Number of elements of that output."] pub const #l: usize = #len; });
        let p = format_ident!("{}", p);
        sig.push(quote! { #p: &mut [f32; Self::#l] });
        forward.push(quote! { #p });
    }

    let name = format_ident!("{}", struct_name);
    let arena_len = Literal::usize_unsuffixed(plan.arena_len);
    let arena_bytes = Literal::usize_unsuffixed(plan.arena_len * 4);
    let wbytes = lowered.weights.bytes();
    let weights_len = Literal::usize_unsuffixed(wbytes.len());
    let static_name = format_ident!("{}", format!("{}_WEIGHTS", namer::upper(&struct_name)));
    let (weights_static, weights_let) = if wbytes.is_empty() {
        (quote! {}, quote! {})
    } else {
        let data = match opts.weights_mode {
            WeightsMode::File => {
                let f = Literal::string(&opts.weights_file);
                quote! { *include_bytes!(#f) }
            }
            WeightsMode::Inline => {
                let b = Literal::byte_string(&wbytes);
                quote! { *#b }
            }
        };
        (
            quote! {
                /// The model's constants (folded and laid out for the kernels), little-endian f32.
                static #static_name: &::ghostc_runtime::Aligned<[u8; #weights_len]> = &::ghostc_runtime::Aligned(#data);
            },
            quote! { let w = ::ghostc_runtime::f32_weights(&#static_name.0); },
        )
    };
    let struct_doc = format!(
        " Generated by ghostc from `{}`: call [`{struct_name}::run`].",
        comment_text(&g.name)
    );
    // Models without a parallel kernel do not read `par`.
    let uses_par = lowered.calls.iter().any(|c| c.kernel.takes_par());
    let par_param = if uses_par {
        quote! { par }
    } else {
        quote! { _par }
    };
    let (probe_none, probe_param, profile_fn) = if opts.profile {
        let entries = layers.iter().map(|(name, op, macs, bytes)| {
            let (n, o, m, b) = (
                Literal::string(name),
                Literal::string(op),
                Literal::u64_unsuffixed(*macs),
                Literal::u64_unsuffixed(*bytes),
            );
            quote! { (#n, #o, #m, #b) }
        });
        let count = Literal::usize_unsuffixed(layers.len());
        (
            quote! { &mut ::ghostc_runtime::NoProbe, },
            quote! { probe: &mut impl ::ghostc_runtime::Probe, },
            quote! {
                /// Per-layer (name, op, multiply-adds, bytes read and written), in execution
                /// order, for [`Self::profile`].
                pub const LAYERS: [(&'static str, &'static str, u64, u64); #count] = [#(#entries),*];

                /// Runs the model `runs` times and returns a table of layers by median time,
                /// with GFLOP/s and GB/s each (needs the runtime's `std` feature).
                pub fn profile(&mut self, #(#sig,)* runs: usize) -> ::std::string::String {
                    let mut timer = ::ghostc_runtime::LayerTimer::new(Self::LAYERS.len());
                    for _ in 0..runs {
                        Self::forward(self.threads.par(), &mut timer, self.arena.as_mut_array(), #(#forward),*);
                    }
                    timer.report(&Self::LAYERS)
                }
            },
        )
    } else {
        (quote! {}, quote! {}, quote! {})
    };
    let bare_doc = [
        format!(
            " Generated by ghostc from `{}`; the runtime has no `alloc` feature,",
            comment_text(&g.name)
        ),
        format!(" so there is no owning struct: call [`{struct_name}::run_with_arena`]."),
    ];
    // The two `__ghostc_*_alloc_begin` ... `__ghostc_block_end` spans become the runtime's
    // `with_alloc!` and `without_alloc!` blocks after formatting (below), so that what they
    // hold is formatted like the rest: prettyplease prints a macro's body as bare tokens.
    let file = quote! {
        #weights_static

        __ghostc_with_alloc_begin!();
        #[doc = #struct_doc]
        #[allow(dead_code)]
        pub struct #name {
            arena: ::ghostc_runtime::Arena<{ #name::ARENA_LEN }>,
            threads: ::ghostc_runtime::Threads,
        }

        #[allow(dead_code)]
        impl #name {
            /// Allocates the arena once; `run` never allocates. Single-threaded.
            pub fn new() -> Self {
                Self { arena: ::ghostc_runtime::Arena::new(), threads: ::ghostc_runtime::Threads::single() }
            }

            /// Like [`Self::new`], with `n` threads in all: `n - 1` workers are started once and
            /// kernels split their work over them (single-threaded without the runtime's `std`
            /// feature).
            pub fn with_threads(n: usize) -> Self {
                Self { arena: ::ghostc_runtime::Arena::new(), threads: ::ghostc_runtime::Threads::new(n) }
            }

            /// Runs the model on inputs (row-major, as in ONNX) and writes the outputs.
            pub fn run(&mut self, #(#sig),*) {
                Self::forward(self.threads.par(), #probe_none self.arena.as_mut_array(), #(#forward),*);
            }

            #profile_fn
        }

        impl Default for #name {
            fn default() -> Self {
                Self::new()
            }
        }
        __ghostc_block_end!();

        __ghostc_without_alloc_begin!();
        #(#[doc = #bare_doc])*
        pub enum #name {}
        __ghostc_block_end!();

        // Not every user needs every constant or entry point.
        #[allow(dead_code)]
        impl #name {
            #(#consts_tokens)*
            /// Scratch f32s a run needs (see [`Self::run_with_arena`]).
            pub const ARENA_LEN: usize = #arena_len;
            /// The same in bytes.
            pub const ARENA_BYTES: usize = #arena_bytes;
            /// Size of the embedded weights in bytes.
            pub const WEIGHTS_BYTES: usize = #weights_len;

            /// Runs the model on the calling thread with caller-provided scratch memory (for
            /// `no_std` without `alloc`: e.g. a static buffer). Allocates nothing.
            pub fn run_with_arena(arena: &mut [f32; Self::ARENA_LEN], #(#sig),*) {
                Self::forward(::ghostc_runtime::Par::SINGLE, #probe_none arena, #(#forward),*);
            }

            fn forward(#par_param: ::ghostc_runtime::Par<'_>, #probe_param arena: &mut [f32; Self::ARENA_LEN], #(#sig),*) {
                #weights_let
                #(#body)*
            }
        }
    };
    let parsed: syn::File = syn::parse2(file)
        .map_err(|e| Error::Emit(format!("generated tokens do not parse: {e}")))?;
    let pretty = prettyplease::unparse(&parsed);

    let mut source = header::comment(&opts.header);
    let mut in_block = false;
    for line in pretty.lines() {
        let t = line.trim_start();
        if let Some(which) = t
            .strip_prefix("__ghostc_")
            .and_then(|r| r.strip_suffix("_alloc_begin!();"))
        {
            source.push_str(&format!("::ghostc_runtime::{which}_alloc! {{\n"));
            in_block = true;
            continue;
        }
        if t == "__ghostc_block_end!();" {
            source.push_str("}\n");
            in_block = false;
            continue;
        }
        if in_block && !line.is_empty() {
            source.push_str("    ");
        }
        if let Some(k) = t
            .strip_prefix("__ghostc_note!(")
            .and_then(|r| r.strip_suffix(");"))
            .and_then(|k| k.parse::<usize>().ok())
        {
            let indent = &line[..line.len() - t.len()];
            source.push_str(indent);
            source.push_str("// ");
            source.push_str(notes.get(k).map(String::as_str).unwrap_or(""));
        } else {
            source.push_str(line);
        }
        source.push('\n');
    }
    Ok(Emitted {
        source,
        weights: if opts.weights_mode == WeightsMode::File {
            wbytes
        } else {
            Vec::new()
        },
        struct_name,
    })
}

/// An f32 literal, with named constants for the non-finite values.
pub fn f32_lit(x: f32) -> TokenStream {
    if x.is_nan() {
        quote! { f32::NAN }
    } else if x == f32::INFINITY {
        quote! { f32::INFINITY }
    } else if x == f32::NEG_INFINITY {
        quote! { f32::NEG_INFINITY }
    } else {
        let l = Literal::f32_suffixed(x);
        quote! { #l }
    }
}

/// Bytes a kernel call reads and writes once each: its operands and its output (an in-place
/// operand is read and written), the profile's GB/s.
fn traffic(g: &Graph, c: &lower::KernelCall) -> u64 {
    let out = c.output.len();
    let read: usize = c
        .inputs
        .iter()
        .map(|o| match o {
            lower::Operand::Arena(r) | lower::Operand::Weights(r) => r.len(),
            lower::Operand::InPlace => out,
            lower::Operand::GraphInput(k) => g
                .inputs
                .get(*k)
                .map_or(0, |&n| g.node(n).outputs[0].shape.iter().product()),
        })
        .sum();
    4 * (read + out) as u64
}
