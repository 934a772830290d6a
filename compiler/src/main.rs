//! The `ghostc` command line: parses arguments, calls the library, prints.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

use ghostc::analysis::cost;
use ghostc::ir::dot::to_dot;
use ghostc::{pipeline, CompileOptions, WeightsMode};

/// Compile a GhostNet-family ONNX model into dependency-free Rust, or inspect its IR.
#[derive(Parser, Debug)]
#[command(name = "ghostc", version, about, long_about = None)]
struct Cli {
    /// The ONNX model to compile.
    model: PathBuf,

    /// Where to write. For `--emit rust` (the default) this is the `.rs` file, and the weights go
    /// beside it as `<stem>.weights.bin`; other outputs go to standard output without it.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,

    /// What to produce.
    #[arg(long, value_enum, default_value_t = Emit::Rust)]
    emit: Emit,

    /// Name of the generated struct (default: from the model's file name, or its folder's for
    /// `model.onnx`).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// Where the generated code gets its weights: a file beside the source, embedded with
    /// `include_bytes!`, or a byte literal inside the source (single file; for tiny models).
    #[arg(long, value_enum, default_value_t = Weights::File)]
    weights: Weights,

    /// Print a per-node table (op, output shape, parameters, multiply-adds) with totals, instead
    /// of --emit's output.
    #[arg(long)]
    summary: bool,

    /// Pin an input's shape, e.g. `input=4x3x224x224` (repeatable). Needed for symbolic dims
    /// other than a leading batch dim, which defaults to 1.
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    input_shape: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Weights {
    File,
    Inline,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Emit {
    /// Rust source using `ghostc-runtime` (needs --output).
    Rust,
    /// The IR text format: one line per node.
    Ir,
    /// Graphviz DOT of the IR.
    Dot,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> ghostc::Result<()> {
    let mut opts = CompileOptions::default();
    for s in &cli.input_shape {
        let (name, dims) = ghostc::parse_input_shape(s)?;
        opts.import.input_shapes.insert(name, dims);
    }
    if cli.emit == Emit::Rust && !cli.summary {
        let out = cli.output.as_ref().ok_or_else(|| {
            ghostc::Error::Option("Rust output needs --output PATH.rs (the weights are written beside it); use --emit ir to print the IR".into())
        })?;
        opts.name = cli.name.clone();
        opts.weights_mode = match cli.weights {
            Weights::File => WeightsMode::File,
            Weights::Inline => WeightsMode::Inline,
        };
        let (compiled, weights) = ghostc::compile_to(&cli.model, out, &opts)?;
        print_warnings(&compiled.warnings);
        eprintln!(
            "wrote {} (struct {}, arena {} bytes){}",
            out.display(),
            compiled.struct_name,
            compiled.plan.arena_len * 4,
            weights
                .map(|w| format!(" and {}", w.display()))
                .unwrap_or_default()
        );
        return Ok(());
    }
    let imported = pipeline::import(&cli.model, &opts.import)?;
    print_warnings(&imported.warnings);
    let g = &imported.graph;
    let text = if cli.summary {
        cost::summary(g)
    } else {
        match cli.emit {
            Emit::Dot => to_dot(g),
            _ => g.to_string(),
        }
    };
    match &cli.output {
        Some(p) => std::fs::write(p, text).map_err(|source| ghostc::Error::Write {
            path: p.clone(),
            source,
        }),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn print_warnings(w: &[String]) {
    for w in w {
        eprintln!("warning: {w}");
    }
}
