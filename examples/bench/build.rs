//! Compiles every model in `examples/models/` with `ghostc::Builder` for the benchmark: at
//! batch 1, and at batch 4 where the folder has `input_b4.bin`. Writes `variants.rs`: one module
//! per compiled variant and `VARIANTS`, the table `src/main.rs` iterates (name, folder, batch,
//! multiply-adds per batch item, and a constructor returning a run closure).

use std::fmt::Write;
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    println!("cargo:rerun-if-changed={}", models.display());
    let out = std::env::var("OUT_DIR")?;
    let mut dirs: Vec<_> = std::fs::read_dir(&models)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    dirs.sort();
    let mut modules = String::new();
    let mut table = String::from("/// Every compiled variant, in folder then batch order.\n");
    table.push_str("pub static VARIANTS: &[Variant] = &[\n");
    for dir in dirs {
        let folder = dir
            .file_name()
            .and_then(|f| f.to_str())
            .ok_or("model folder name is not UTF-8")?
            .to_string();
        let model = dir.join("model.onnx");
        // Multiply-adds of one batch item, counted on the graph as imported (before fusion),
        // so the number does not depend on what the passes do.
        // The declared input shape (a symbolic batch dim reads as 1).
        let graph = ghostc::pipeline::import(&model, &ghostc::ImportOptions::default())?.graph;
        let macs = ghostc::analysis::cost::totals(&graph).macs;
        let input = &graph.g[*graph.inputs.first().ok_or("the model has no input")?];
        let mut shape = input.outputs[0].shape.clone();
        for (batch, suffix) in [(1usize, ""), (4, "_b4")] {
            if !dir.join(format!("input{suffix}.bin")).is_file() {
                continue;
            }
            let variant = format!("{folder}_b{batch}");
            shape[0] = batch;
            // Profile mode costs nothing unless `profile()` is called (`--profile`).
            let built = ghostc::Builder::new(&model)
                .name(&variant)
                .profile(true)
                .input_shape(&input.name, shape.clone())
                .out_dir(&out)
                .build()?;
            let file = built
                .source
                .file_name()
                .and_then(|f| f.to_str())
                .ok_or("bad file name")?
                .to_string();
            let st = &built.struct_name;
            let m = format!("v{}", modules.lines().count());
            writeln!(
                modules,
                r#"mod {m} {{ include!(concat!(env!("OUT_DIR"), "/{file}")); }}"#
            )?;
            let dir_s = dir.display().to_string();
            writeln!(
                table,
                r#"    Variant {{
        name: {variant:?},
        model: {folder:?},
        dir: {dir_s:?},
        suffix: {suffix:?},
        batch: {batch},
        shape: &{shape:?},
        macs_per_item: {macs},
        make: |threads| {{
            let mut m = Box::new({m}::{st}::with_threads(threads));
            Box::new(move |i: &[f32], o: &mut [f32]| {{
                m.run(i.try_into().expect("input length"), o.try_into().expect("output length"))
            }})
        }},
        profile: |threads, input, runs| {{
            let mut m = Box::new({m}::{st}::with_threads(threads));
            let mut o = vec![0f32; {m}::{st}::OUTPUT_LEN];
            m.profile(
                input.try_into().expect("input length"),
                o.as_mut_slice().try_into().expect("output length"),
                runs,
            )
        }},
    }},"#
            )?;
        }
    }
    table.push_str("];\n");
    std::fs::write(
        Path::new(&out).join("variants.rs"),
        format!("{modules}\n{table}"),
    )?;
    Ok(())
}
