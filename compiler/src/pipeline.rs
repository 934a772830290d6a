//! The compiler, top to bottom (`compile`): import and verify, each pass of `passes::PASSES`
//! followed by verification (with optional IR dumps, stop and disable hooks), memory planning,
//! lowering to kernel calls, emission.

use std::path::Path;

use crate::analysis::memory::{self, MemoryPlan};
use crate::back::{self, header, EmitOptions, WeightsMode};
use crate::error::{Error, Result};
use crate::front::{self, ImportOptions, Imported};
use crate::ir::{verify::verify, Graph};
use crate::target::Target;

/// Verifies `g`, naming the stage in the error.
pub fn verify_stage(g: &Graph, stage: &str) -> Result<()> {
    verify(g).map_err(|msg| Error::Verify {
        stage: stage.to_string(),
        msg,
    })
}

/// Imports the model at `path` and verifies the result.
pub fn import(path: &Path, opts: &ImportOptions) -> Result<Imported> {
    import_file(path, opts).map(|(_, imported)| imported)
}

/// Same as [`import`] for a model already in memory (external data refused).
pub fn import_bytes(bytes: &[u8], opts: &ImportOptions) -> Result<Imported> {
    import_verified(bytes, None, opts)
}

/// [`import`], also returning the file's bytes (the generated header holds their hash).
fn import_file(path: &Path, opts: &ImportOptions) -> Result<(Vec<u8>, Imported)> {
    let (model, model_dir) = front::read_model(path)?;
    let imported = import_verified(&model, model_dir, opts)?;
    Ok((model, imported))
}

/// Imports `model` (external data resolved in `model_dir`, refused without one) and verifies it.
fn import_verified(
    model: &[u8],
    model_dir: Option<&Path>,
    opts: &ImportOptions,
) -> Result<Imported> {
    let imported = front::import_bytes(model, model_dir, opts)?;
    verify_stage(&imported.graph, "import")?;
    Ok(imported)
}

/// Controls over the pass pipeline, for bisecting and inspection.
#[derive(Clone, Debug, Default)]
pub struct PassOptions {
    /// Passes to skip, by name.
    pub disable: Vec<String>,
    /// Stop after this pass (`import` stops before the first pass).
    pub stop_after: Option<String>,
    /// Dump the IR after these passes (`import` and `all` allowed).
    pub dump_after: Vec<String>,
    /// The machine the plan is for (the layout cost model's vector width).
    pub target: Target,
}

impl PassOptions {
    /// Checks every pass name given exists.
    pub fn validate(&self) -> Result<()> {
        let known = |n: &str| n == "import" || n == "all" || crate::passes::find(n).is_some();
        for n in self
            .disable
            .iter()
            .chain(&self.stop_after)
            .chain(&self.dump_after)
        {
            if !known(n) {
                let names: Vec<&str> = crate::passes::PASSES.iter().map(|p| p.name).collect();
                return Err(Error::Option(format!(
                    "unknown pass '{n}' (passes: import, {})",
                    names.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn dumps(&self, name: &str) -> bool {
        self.dump_after.iter().any(|d| d == name || d == "all")
    }
}

/// Runs the pass pipeline on an imported graph, verifying after each pass. `observe` is called
/// with each stage's name and graph (`import` first, then every pass that ran) for dumps and
/// per-pass checks; `dump` receives the IR text of the stages `opts.dump_after` asks for.
pub fn run_passes(
    g: &mut Graph,
    opts: &PassOptions,
    observe: &mut dyn FnMut(&str, &Graph) -> Result<()>,
) -> Result<()> {
    opts.validate()?;
    observe("import", g)?;
    if opts.stop_after.as_deref() == Some("import") {
        return Ok(());
    }
    for pass in crate::passes::PASSES {
        if opts.disable.iter().any(|d| d == pass.name) {
            continue;
        }
        (pass.run)(g, &opts.target).map_err(|msg| Error::Verify {
            stage: pass.name.to_string(),
            msg: format!("the pass failed: {msg}"),
        })?;
        verify_stage(g, pass.name)?;
        observe(pass.name, g)?;
        if opts.stop_after.as_deref() == Some(pass.name) {
            break;
        }
    }
    Ok(())
}

/// IR dumps requested by `opts`, as `(stage, text)` pairs, collected while the passes run.
pub fn dump_hook<'a>(
    opts: &'a PassOptions,
    out: &'a mut Vec<(String, String)>,
) -> impl FnMut(&str, &Graph) -> Result<()> + 'a {
    move |stage, g| {
        if opts.dumps(stage) {
            out.push((stage.to_string(), g.to_string()));
        }
        Ok(())
    }
}

/// Everything `compile` produces.
#[derive(Debug)]
pub struct Compiled {
    /// The graph as emitted.
    pub graph: Graph,
    pub source: String,
    /// Weights blob to write beside the source (empty with inline weights).
    pub weights: Vec<u8>,
    pub struct_name: String,
    pub plan: MemoryPlan,
    pub warnings: Vec<String>,
    /// IR text after the stages `passes.dump_after` named.
    pub dumps: Vec<(String, String)>,
}

/// Options of a whole compilation (shared by the CLI and [`crate::Builder`]).
#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    pub import: ImportOptions,
    /// Struct name; default derived from the model's file (or folder, for `model.onnx`) name.
    pub name: Option<String>,
    /// File name of the weights blob the source embeds.
    pub weights_file: String,
    pub weights_mode: WeightsMode,
    pub passes: PassOptions,
    /// Emit the per-layer timing mode (`profile()` on the generated struct).
    pub profile: bool,
}

/// Compiles the model at `path` to Rust source and weights.
pub fn compile(path: &Path, opts: &CompileOptions) -> Result<Compiled> {
    let (model, imported) = import_file(path, &opts.import)?;
    let (mut graph, warnings) = (imported.graph, imported.warnings);
    let mut dumps = Vec::new();
    run_passes(
        &mut graph,
        &opts.passes,
        &mut dump_hook(&opts.passes, &mut dumps),
    )?;
    let plan = memory::plan(&graph);
    let kernels = back::lower(&graph, &plan)?;
    let emitted = back::emit(&graph, &plan, &kernels, &emit_options(path, &model, opts))?;
    Ok(Compiled {
        graph,
        source: emitted.source,
        weights: emitted.weights,
        struct_name: emitted.struct_name,
        plan,
        warnings,
        dumps,
    })
}

/// What emission takes from `opts`, with the header naming `model` (read from `path`).
fn emit_options(path: &Path, model: &[u8], opts: &CompileOptions) -> EmitOptions {
    let name = opts.name.clone().unwrap_or_else(|| default_name(path));
    EmitOptions {
        header: header::lines(
            path,
            model,
            &name,
            &opts.import.input_shapes,
            opts.weights_mode,
            opts.profile,
            opts.passes.target.vector_lanes,
        ),
        name,
        weights_file: opts.weights_file.clone(),
        weights_mode: opts.weights_mode,
        profile: opts.profile,
    }
}

/// `models/ghostnet_100_ts13/model.onnx` -> `ghostnet_100_ts13`; `resnet.onnx` -> `resnet`.
pub fn default_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if stem == "model" {
        if let Some(dir) = path.canonicalize().ok().and_then(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .map(|d| d.to_string_lossy().into_owned())
        }) {
            return dir;
        }
    }
    stem
}
