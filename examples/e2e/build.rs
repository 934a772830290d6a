//! Compiles every model in `examples/models/` through `ghostc::Builder` (the path users take):
//! at batch 1, and at batch 4 where the folder has `input_b4.bin`; and every synthetic model in
//! `examples/synthetic/` at its own shape. Writes `cases.rs`, which declares one module and one
//! test per compiled variant. `GHOSTC_E2E_ONLY=a,b` keeps only the `examples/models` folders
//! named (and drops the synthetic ones): CI's emulated AArch64 run uses it to stay short.

use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Model folders (those with a `model.onnx`) under `root`, sorted.
fn model_dirs(root: &Path) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={}", root.display());
    let mut dirs: Vec<_> = std::fs::read_dir(root)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The name and declared shape of the model's first input (a symbolic batch dim reads as 1).
fn first_input(model: &Path) -> Result<(String, Vec<usize>), Box<dyn std::error::Error>> {
    let graph = ghostc::pipeline::import(model, &ghostc::ImportOptions::default())?.graph;
    let input = &graph.g[*graph.inputs.first().ok_or("the model has no input")?];
    Ok((input.name.clone(), input.outputs[0].shape.clone()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::env::var("OUT_DIR")?;
    let mut cases = String::new();
    let mut add = |dir: &Path,
                   suffix: &str,
                   batch: Option<usize>,
                   weights: ghostc::WeightsMode|
     -> Result<(), Box<dyn std::error::Error>> {
        let folder = dir
            .file_name()
            .and_then(|f| f.to_str())
            .ok_or("model folder name is not UTF-8")?;
        let inline = if weights == ghostc::WeightsMode::Inline {
            "_inline"
        } else {
            ""
        };
        let variant = format!("{folder}_b{}{inline}", batch.unwrap_or(1));
        let mut builder = ghostc::Builder::new(dir.join("model.onnx"))
            .name(&variant)
            .weights(weights)
            .out_dir(&out);
        if let Some(b) = batch {
            let (name, mut shape) = first_input(&dir.join("model.onnx"))?;
            shape[0] = b;
            builder = builder.input_shape(&name, shape);
        }
        let built = builder.build()?;
        let file = built
            .source
            .file_name()
            .and_then(|f| f.to_str())
            .ok_or("bad file name")?
            .to_string();
        let st = &built.struct_name;
        let dir_s = dir.display().to_string();
        let rows = batch.unwrap_or(1);
        writeln!(
            cases,
            r#"mod {variant} {{ include!(concat!(env!("OUT_DIR"), "/{file}")); }}
#[test]
fn {variant}_matches_onnxruntime() {{
    let mut m = Box::new({variant}::{st}::new());
    crate::check({dir_s:?}, {suffix:?}, {rows}, |i, o| m.run(i.try_into().expect("input size"), o.try_into().expect("output size")));
}}
#[test]
fn {variant}_with_2_threads_matches_onnxruntime() {{
    let mut m = Box::new({variant}::{st}::with_threads(2));
    crate::check({dir_s:?}, {suffix:?}, {rows}, |i, o| m.run(i.try_into().expect("input size"), o.try_into().expect("output size")));
}}
#[test]
fn {variant}_2_and_3_threads_bit_identical_to_1() {{
    for threads in [2, 3] {{
        let mut m = Box::new({variant}::{st}::with_threads(threads));
        crate::same_as_run({dir_s:?}, {suffix:?}, |i, o| {variant}::{st}::new().run(i.try_into().expect("input size"), o.try_into().expect("output size")), |i, o| m.run(i.try_into().expect("input size"), o.try_into().expect("output size")));
    }}
}}
#[test]
fn {variant}_run_with_arena_is_run() {{
    crate::same_as_run({dir_s:?}, {suffix:?}, |i, o| {variant}::{st}::new().run(i.try_into().expect("input size"), o.try_into().expect("output size")), |i, o| {{
        let mut arena = vec![f32::NAN; {variant}::{st}::ARENA_LEN];
        {variant}::{st}::run_with_arena(arena.as_mut_slice().try_into().expect("arena size"), i.try_into().expect("input size"), o.try_into().expect("output size"));
    }});
}}
"#
        )?;
        Ok(())
    };
    println!("cargo:rerun-if-env-changed=GHOSTC_E2E_ONLY");
    let only = std::env::var("GHOSTC_E2E_ONLY").ok();
    let keep = |dir: &Path| {
        only.as_deref().is_none_or(|o| {
            let name = dir.file_name().and_then(|f| f.to_str()).unwrap_or("");
            o.split(',').any(|k| k == name)
        })
    };
    for dir in model_dirs(&examples.join("models"))?
        .into_iter()
        .filter(|d| keep(d))
    {
        for (batch, suffix) in [(1usize, ""), (4, "_b4")] {
            if dir.join(format!("input{suffix}.bin")).is_file() {
                add(&dir, suffix, Some(batch), ghostc::WeightsMode::File)?;
            }
        }
    }
    if only.is_none() {
        for dir in model_dirs(&examples.join("synthetic"))? {
            add(&dir, "", None, ghostc::WeightsMode::File)?;
        }
        // Weights as a byte-string literal in the source (single-file output): one small
        // model with every weight kind (convs, depthwise, bias) is enough for the decoding.
        add(
            &examples.join("synthetic/stride2"),
            "",
            None,
            ghostc::WeightsMode::Inline,
        )?;
    }
    std::fs::write(Path::new(&out).join("cases.rs"), cases)?;
    Ok(())
}
