//! Compiles the example's two models with ghostc, as any user's build.rs would. `Builder`
//! plans for cargo's `TARGET` (wasm32: the portable kernels' one lane).

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (dir, name) in [
        ("synthetic/tiny_ghostnet", "TinyGhostNet"),
        ("models/ghostnet_050_dynamo", "GhostNet050"),
    ] {
        ghostc::Builder::new(examples.join(dir).join("model.onnx"))
            .name(name)
            .build()?;
    }
    Ok(())
}
