//! Compiles every model in `examples/models/` through `ghostc::Builder` (the path users take):
//! at batch 1, and at batch 4 where the folder has `input_b4.bin`. Writes `cases.rs`, which
//! declares one module and one test per compiled variant.

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
    let mut cases = String::new();
    for dir in dirs {
        let folder = dir
            .file_name()
            .and_then(|f| f.to_str())
            .ok_or("model folder name is not UTF-8")?
            .to_string();
        for (batch, suffix) in [(1usize, ""), (4, "_b4")] {
            if !dir.join(format!("input{suffix}.bin")).is_file() {
                continue;
            }
            let variant = format!("{folder}_b{batch}");
            let model = dir.join("model.onnx");
            let built = ghostc::Builder::new(&model)
                .name(&variant)
                .input_shape("input", [batch, 3, 224, 224])
                .out_dir(&out)
                .build()?;
            let file = built
                .source
                .file_name()
                .and_then(|f| f.to_str())
                .ok_or("bad file name")?
                .to_string();
            let st = &built.struct_name;
            let dir_s = dir.display().to_string();
            writeln!(
                cases,
                r#"mod {variant} {{ include!(concat!(env!("OUT_DIR"), "/{file}")); }}
#[test]
fn {variant}_matches_onnxruntime() {{
    let mut m = Box::new({variant}::{st}::new());
    crate::check({dir_s:?}, {suffix:?}, {batch}, |i, o| m.run(i.try_into().expect("input size"), o.try_into().expect("output size")));
}}
"#
            )?;
        }
    }
    std::fs::write(Path::new(&out).join("cases.rs"), cases)?;
    Ok(())
}
