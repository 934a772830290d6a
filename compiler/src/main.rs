//! The `ghostc` command line: parses arguments, calls the library, prints.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use ghostc::analysis::cost;
use ghostc::ir::dot::to_dot;
use ghostc::pipeline::{self, PassOptions};
use ghostc::{CompileOptions, ImportOptions, Target, WeightsMode};

/// Compile a GhostNet-family ONNX model into dependency-free Rust, or inspect what the compiler
/// does to it.
#[derive(Parser, Debug)]
#[command(name = "ghostc", version, about, long_about = None, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// The ONNX model to compile.
    model: Option<PathBuf>,

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

    /// Also generate `profile()`: runs the model and returns a table of layers by time with
    /// GFLOP/s each (needs the runtime's `std` feature).
    #[arg(long)]
    profile: bool,

    /// Print a per-node table of the optimised graph (op, output shape, parameters,
    /// multiply-adds) with totals and the arena size, instead of --emit's output.
    #[arg(long)]
    summary: bool,

    /// List the passes in pipeline order and exit.
    #[arg(long)]
    list_passes: bool,

    #[command(flatten)]
    common: Common,
}

/// Options shared by compiling and `check`.
#[derive(Args, Debug, Clone)]
struct Common {
    /// Pin an input's shape, e.g. `input=4x3x224x224` (repeatable). Needed for symbolic dims
    /// other than a leading batch dim, which defaults to 1.
    #[arg(long = "input-shape", value_name = "NAME=DIMS", global = true)]
    input_shape: Vec<String>,

    /// Print the IR after this pass (`import`, a pass name, or `all`; repeatable or
    /// comma-separated) to standard output.
    #[arg(long, value_name = "PASS", value_delimiter = ',', global = true)]
    dump_ir_after: Vec<String>,

    /// Stop the pipeline after this pass (`import` runs none), e.g. to bisect.
    #[arg(long, value_name = "PASS", global = true)]
    stop_after: Option<String>,

    /// Skip this pass (repeatable or comma-separated), e.g. to bisect.
    #[arg(long, value_name = "PASS", value_delimiter = ',', global = true)]
    disable_pass: Vec<String>,

    /// Plan for this Rust target triple (e.g. `aarch64-unknown-linux-gnu`): the layout cost
    /// model assumes its vector width (16 lanes on x86-64, 4 on AArch64, 1 elsewhere). Default:
    /// the target ghostc was built for.
    #[arg(long, value_name = "TRIPLE", global = true)]
    target: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the reference interpreter after import and after every pass on an input, report per
    /// pass the largest difference from the unoptimised graph (and from a reference output), and
    /// the first node that diverges. Exits with 1 on divergence.
    Check {
        /// The ONNX model.
        model: PathBuf,
        /// Input tensor: raw little-endian f32, row-major (e.g. `input.bin` of a fixture).
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// Expected output: raw little-endian f32 (e.g. `output.bin`).
        #[arg(long, value_name = "FILE")]
        reference: Option<PathBuf>,
    },
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
    /// The IR text format after the passes: one line per node.
    Ir,
    /// Graphviz DOT of the IR after the passes.
    Dot,
    /// The kernel calls the generated code makes, in order: one line per call with the runtime
    /// function, its parameters and where its operands live (arena and weight ranges in f32s).
    Kernels,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        // The reader of our output went away (`ghostc ... | head`): stop quietly, as `cat` does.
        Err(ghostc::Error::Write { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `text` to standard output; a failure (e.g. a closed pipe) is an error, not a panic.
fn out(text: &str) -> ghostc::Result<()> {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|()| o.flush())
        .map_err(|source| ghostc::Error::Write {
            path: PathBuf::from("standard output"),
            source,
        })
}

/// Writes `text` to the file `p`, creating its folder if missing.
fn write_file(p: &Path, text: &str) -> ghostc::Result<()> {
    if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        ghostc::create_dir(dir)?;
    }
    std::fs::write(p, text).map_err(|source| ghostc::Error::Write {
        path: p.to_path_buf(),
        source,
    })
}

fn import_options(c: &Common) -> ghostc::Result<ImportOptions> {
    let mut opts = ImportOptions::default();
    for s in &c.input_shape {
        let (name, dims) = ghostc::parse_input_shape(s)?;
        opts.input_shapes.insert(name, dims);
    }
    Ok(opts)
}

fn pass_options(c: &Common) -> ghostc::Result<PassOptions> {
    Ok(PassOptions {
        disable: c.disable_pass.clone(),
        stop_after: c.stop_after.clone(),
        dump_after: c.dump_ir_after.clone(),
        target: match &c.target {
            Some(triple) => Target::from_triple(triple)?,
            None => Target::host(),
        },
    })
}

fn print_dumps(dumps: &[(String, String)]) -> ghostc::Result<()> {
    for (stage, ir) in dumps {
        out(&dump_header(stage))?;
        out(ir)?;
        out("\n")?;
    }
    Ok(())
}

fn dump_header(stage: &str) -> String {
    format!("// ---- IR after {stage} ----\n")
}

fn run(cli: &Cli) -> ghostc::Result<ExitCode> {
    if let Some(Command::Check {
        model,
        input,
        reference,
    }) = &cli.command
    {
        let report = ghostc::check::check(
            model,
            input,
            reference.as_deref(),
            &import_options(&cli.common)?,
            &pass_options(&cli.common)?,
        )?;
        out(&report.text)?;
        return Ok(if report.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    if cli.list_passes {
        let mut text = format!(
            "{:<22} {}\n",
            "import", "read the ONNX model into the IR (`--stop-after import` runs no pass)"
        );
        for p in ghostc::passes::PASSES {
            text += &format!("{:<22} {}\n", p.name, p.about);
        }
        out(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let model = cli
        .model
        .as_ref()
        .ok_or_else(|| ghostc::Error::Option("no model given (see --help)".into()))?;
    let opts = CompileOptions {
        import: import_options(&cli.common)?,
        name: cli.name.clone(),
        weights_mode: match cli.weights {
            Weights::File => WeightsMode::File,
            Weights::Inline => WeightsMode::Inline,
        },
        passes: pass_options(&cli.common)?,
        profile: cli.profile,
        ..CompileOptions::default()
    };
    opts.passes.validate()?;
    // Rust output, unless only dumps were asked for (no --output): then the dumps alone.
    let dumps_only = cli.output.is_none() && !opts.passes.dump_after.is_empty();
    if cli.emit == Emit::Rust && !cli.summary && !dumps_only {
        let path = cli.output.as_ref().ok_or_else(|| {
            ghostc::Error::Option("Rust output needs --output PATH.rs (the weights are written beside it); use --emit ir to print the IR".into())
        })?;
        let (compiled, weights) = ghostc::compile_to(model, path, &opts)?;
        print_warnings(&compiled.warnings);
        print_dumps(&compiled.dumps)?;
        eprintln!(
            "wrote {} (struct {}, arena {} bytes){}",
            path.display(),
            compiled.struct_name,
            compiled.plan.arena_len * 4,
            weights
                .map(|w| format!(" and {}", w.display()))
                .unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let imported = pipeline::import(model, &opts.import)?;
    print_warnings(&imported.warnings);
    let mut g = imported.graph;
    let mut dumps = Vec::new();
    pipeline::run_passes(
        &mut g,
        &opts.passes,
        &mut pipeline::dump_hook(&opts.passes, &mut dumps),
    )?;
    print_dumps(&dumps)?;
    if dumps_only && cli.emit == Emit::Rust && !cli.summary {
        return Ok(ExitCode::SUCCESS);
    }
    let text = if cli.summary {
        cost::summary(&g)
    } else {
        match cli.emit {
            Emit::Dot => to_dot(&g),
            Emit::Kernels => {
                let plan = ghostc::analysis::memory::plan(&g);
                ghostc::back::lower(&g, &plan)?.to_text(&g)
            }
            Emit::Ir | Emit::Rust => {
                // Annotate each value with where the memory plan puts it; after dumps, with a
                // header of the same form saying what this last one is.
                let plan = ghostc::analysis::memory::plan(&g);
                let header = if dumps.is_empty() || cli.output.is_some() {
                    String::new()
                } else {
                    dump_header("the passes, with the memory plan (--emit ir)")
                };
                header + &ghostc::ir::text::to_text(&g, &|n| plan.describe(n))
            }
        }
    };
    match &cli.output {
        Some(p) => write_file(p, &text)?,
        None => out(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn print_warnings(w: &[String]) {
    for w in w {
        eprintln!("warning: {w}");
    }
}
