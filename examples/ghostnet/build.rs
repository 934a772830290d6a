//! Compiles the bundled GhostNet 1.0x with ghostc, as any user's build.rs would (with the
//! per-layer profile mode on, which costs nothing unless `profile()` is called).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/ghostnet_100_ts13/model.onnx"
    );
    ghostc::Builder::new(model)
        .name("GhostNet")
        .input_shape("input", [1, 3, 224, 224])
        .profile(true)
        .build()?;
    Ok(())
}
