//! Compiles the example's model with ghostc (as any user's build.rs would) and sets up the
//! link: cortex-m-rt's `link.x` with this board's `memory.x`, and a linker map in `OUT_DIR`
//! (`mcu.map`, which `report.py` reads for the flash and RAM figures).

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../synthetic/tiny_ghostnet/model.onnx");
    ghostc::Builder::new(&model)
        .name("TinyGhostNet")
        .out_dir(&out)
        .build()?;

    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("memory.x"),
        out.join("memory.x"),
    )?;
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!(
        "cargo:rustc-link-arg=-Map={}",
        out.join("mcu.map").display()
    );
    Ok(())
}
