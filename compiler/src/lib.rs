//! ghostc: an ahead-of-time compiler from GhostNet-family ONNX models to dependency-free Rust.
//!
//! `pipeline` is the orchestrator; `front` reads ONNX, `ir` and `ops` define the graph,
//! `analysis` computes side tables such as costs.

pub mod analysis;
pub mod back;
pub mod check;
pub mod error;
pub mod front;
pub mod ir;
pub mod ops;
pub mod passes;
pub mod pipeline;
pub mod target;

pub use error::{Error, Result};
pub use front::{Caller, ImportOptions};
pub use target::Target;

/// Parses `1x3x224x224` into dims.
pub fn parse_dims(s: &str) -> Result<Vec<usize>> {
    let dims: Vec<usize> = s
        .split(['x', 'X', ','])
        .map(|d| {
            d.trim()
                .parse::<usize>()
                .map_err(|_| Error::Option(format!("'{s}' is not a shape like 1x3x224x224")))
        })
        .collect::<Result<_>>()?;
    if dims.is_empty() || dims.contains(&0) {
        return Err(Error::Option(format!(
            "'{s}' is not a shape like 1x3x224x224"
        )));
    }
    Ok(dims)
}

/// Parses `NAME=1x3x224x224`.
pub fn parse_input_shape(s: &str) -> Result<(String, Vec<usize>)> {
    let (name, dims) = s
        .rsplit_once('=')
        .ok_or_else(|| Error::Option(format!("'{s}' must look like NAME=1x3x224x224")))?;
    Ok((name.to_string(), parse_dims(dims)?))
}

pub use back::WeightsMode;
pub use pipeline::{compile, CompileOptions, Compiled};

use std::path::{Path, PathBuf};

/// Name of the weights file written beside `source` (`generated.rs` -> `generated.weights.bin`).
pub fn weights_file_name(source: &Path) -> String {
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    format!("{stem}.weights.bin")
}

/// Creates folder `dir` and its parents if missing; a file standing where a folder must be is
/// named in the error (`create_dir_all` alone says only "File exists").
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| {
        let file = dir.ancestors().find(|a| a.is_file()).map(Path::to_path_buf);
        match file {
            Some(f) => Error::Write {
                path: dir.to_path_buf(),
                source: std::io::Error::other(format!("{} is a file, not a folder", f.display())),
            },
            None => Error::Write {
                path: dir.to_path_buf(),
                source,
            },
        }
    })
}

/// Compiles `model` and writes the source to `source` and the weights beside it. Returns the
/// compilation and the weights path (None with inline weights). The CLI and [`Builder`] both
/// go through here.
pub fn compile_to(
    model: &Path,
    source: &Path,
    opts: &CompileOptions,
) -> Result<(Compiled, Option<PathBuf>)> {
    let mut opts = opts.clone();
    opts.weights_file = weights_file_name(source);
    let c = compile(model, &opts)?;
    let write = |p: &Path, data: &[u8]| {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_dir(dir)?;
        }
        std::fs::write(p, data).map_err(|source| Error::Write {
            path: p.to_path_buf(),
            source,
        })
    };
    write(source, c.source.as_bytes())?;
    let weights = match opts.weights_mode {
        WeightsMode::File => {
            let p = source.with_file_name(&opts.weights_file);
            write(&p, &c.weights)?;
            Some(p)
        }
        WeightsMode::Inline => None,
    };
    Ok((c, weights))
}

/// Compiles a model from a `build.rs`:
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let built = ghostc::Builder::new("model.onnx")
///     .name("GhostNet")
///     .input_shape("input", [1, 3, 224, 224])
///     .out_dir(std::env::var("OUT_DIR")?)
///     .build()?;
/// // In the crate: include!(concat!(env!("OUT_DIR"), "/ghost_net.rs"));
/// # let _ = built; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    model: PathBuf,
    opts: CompileOptions,
    out_dir: Option<PathBuf>,
    target: Option<String>,
}

/// What [`Builder::build`] wrote.
#[derive(Clone, Debug)]
pub struct Built {
    /// The generated source, to `include!`.
    pub source: PathBuf,
    /// The weights file beside it (None with inline weights).
    pub weights: Option<PathBuf>,
    /// Name of the generated struct.
    pub struct_name: String,
    pub warnings: Vec<String>,
}

impl Builder {
    pub fn new(model: impl AsRef<Path>) -> Self {
        let mut opts = CompileOptions::default();
        opts.import.caller = Caller::Builder;
        Builder {
            model: model.as_ref().to_path_buf(),
            opts,
            out_dir: None,
            target: None,
        }
    }

    /// Name of the generated struct (sanitised to UpperCamelCase); the file is its snake_case.
    pub fn name(mut self, name: &str) -> Self {
        self.opts.name = Some(name.to_string());
        self
    }

    /// Pins the shape of graph input `input` (e.g. a dynamic batch).
    pub fn input_shape(mut self, input: &str, dims: impl AsRef<[usize]>) -> Self {
        self.opts
            .import
            .input_shapes
            .insert(input.to_string(), dims.as_ref().to_vec());
        self
    }

    /// Weights beside the source (default) or inline in it.
    pub fn weights(mut self, mode: WeightsMode) -> Self {
        self.opts.weights_mode = mode;
        self
    }

    /// Also emit `profile()`, a per-layer timing table (needs the runtime's `std` feature).
    pub fn profile(mut self, on: bool) -> Self {
        self.opts.profile = on;
        self
    }

    /// Plan for this Rust target triple (with its baseline target features); defaults to
    /// `$TARGET`, the target cargo builds the crate running this build script for, with the
    /// features the build enables (`$CARGO_CFG_TARGET_FEATURE`; see [`Target`]).
    pub fn target(mut self, triple: &str) -> Self {
        self.target = Some(triple.to_string());
        self
    }

    /// Where to write; defaults to `$OUT_DIR`.
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Compiles and writes `<name>.rs` (+ `<name>.weights.bin`), printing
    /// `cargo:rerun-if-changed` for the model and each warning as `cargo:warning`.
    pub fn build(mut self) -> Result<Built> {
        println!("cargo:rerun-if-changed={}", self.model.display());
        // A triple given here has its baseline features; cargo's `TARGET` comes with the
        // features the build enables (`-C target-feature=+simd128`, say).
        self.opts.passes.target = match (&self.target, std::env::var("TARGET")) {
            (Some(t), _) => Target::from_triple(t)?,
            (None, Ok(t)) => match std::env::var("CARGO_CFG_TARGET_FEATURE") {
                Ok(f) => Target::from_triple_and_features(&t, &f)?,
                Err(_) => Target::from_triple(&t)?,
            },
            (None, Err(_)) => Target::host(),
        };
        let dir = match self.out_dir {
            Some(d) => d,
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or_else(|| Error::Option("no out_dir given and OUT_DIR is not set".into()))?,
        };
        let name = self
            .opts
            .name
            .clone()
            .unwrap_or_else(|| pipeline::default_name(&self.model));
        let source = dir.join(format!(
            "{}.rs",
            back::namer::snake(&back::namer::camel(&name))
        ));
        let (c, weights) = compile_to(&self.model, &source, &self.opts)?;
        for w in &c.warnings {
            // Warnings quote the model's names: escaped to one printable line, so a name cannot
            // end the warning and start a cargo directive of its own (`cargo:rustc-link-arg=`).
            println!("cargo:warning=ghostc: {}", back::namer::comment_text(w));
        }
        Ok(Built {
            source,
            weights,
            struct_name: c.struct_name,
            warnings: c.warnings,
        })
    }
}
