//! The `ghostc` command line: parses arguments, calls the library, prints.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

use ghostc::analysis::cost;
use ghostc::ir::dot::to_dot;
use ghostc::{pipeline, ImportOptions};

/// Compile a GhostNet-family ONNX model into dependency-free Rust, or inspect its IR.
#[derive(Parser, Debug)]
#[command(name = "ghostc", version, about, long_about = None)]
struct Cli {
    /// The ONNX model to compile.
    model: PathBuf,

    /// Write the output here instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,

    /// What to produce: the IR in text form or Graphviz DOT.
    #[arg(long, value_enum, default_value_t = Emit::Ir)]
    emit: Emit,

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
enum Emit {
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
    let mut opts = ImportOptions::default();
    for s in &cli.input_shape {
        let (name, dims) = ghostc::parse_input_shape(s)?;
        opts.input_shapes.insert(name, dims);
    }
    let imported = pipeline::import(&cli.model, &opts)?;
    for w in &imported.warnings {
        eprintln!("warning: {w}");
    }
    let g = &imported.graph;
    let text = if cli.summary {
        cost::summary(g)
    } else {
        match cli.emit {
            Emit::Ir => g.to_string(),
            Emit::Dot => to_dot(g),
        }
    };
    match &cli.output {
        Some(p) => std::fs::write(p, text).map_err(|source| ghostc::Error::Write { path: p.clone(), source }),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}
