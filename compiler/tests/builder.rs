//! `ghostc::Builder` as a `build.rs` uses it: what a failing build script prints, and warnings
//! that name the Builder's options rather than the CLI's.

mod support;

/// What `fn main() -> Result<(), Box<dyn Error>>` prints when `main` returns `e`: the standard
/// library's `Termination` impl writes `Error: {e:?}`.
fn printed_by_main(e: ghostc::Error) -> String {
    let boxed: Box<dyn std::error::Error> = e.into();
    format!("Error: {boxed:?}")
}

#[test]
fn a_failing_build_script_prints_the_cli_message() {
    let dir = support::temp_dir("builder_errors");
    // A missing model.
    let e = ghostc::Builder::new(dir.join("missing.onnx"))
        .out_dir(&dir)
        .build()
        .expect_err("no model");
    let printed = printed_by_main(e);
    assert!(
        printed.starts_with(&format!(
            "Error: cannot read {}: ",
            dir.join("missing.onnx").display()
        )),
        "{printed}"
    );
    assert!(
        !printed.contains("Io {") && !printed.contains("Os {"),
        "{printed}"
    );
    // Unsupported operators: the same text as the CLI's `error:` line.
    let model = support::Model::new(13)
        .input("x", &[1, 4])
        .node("LpNormalization", "my_norm", &["x"], &["y"], vec![])
        .output("y")
        .write_to(&dir);
    let e = ghostc::Builder::new(&model)
        .out_dir(&dir)
        .build()
        .expect_err("unsupported op");
    let display = e.to_string();
    let printed = printed_by_main(e);
    assert_eq!(printed, format!("Error: {display}"));
    assert!(
        printed.contains("LpNormalization (node 'my_norm')"),
        "{printed}"
    );
    assert!(!printed.contains("Unsupported {"), "{printed}");
}

#[test]
fn builder_warnings_name_the_builder_option() {
    let dir = support::temp_dir("builder_warnings");
    let built = ghostc::Builder::new(support::fixture("ghostnet_050_ts13_bn_dynbatch"))
        .out_dir(&dir)
        .build()
        .expect("builds at the default batch");
    assert_eq!(built.warnings.len(), 1, "{:?}", built.warnings);
    let w = &built.warnings[0];
    assert!(w.contains(r#".input_shape("input", [n, c, h, w])"#), "{w}");
    assert!(!w.contains("--input-shape"), "{w}");
    // The CLI's own wording is unchanged.
    let imported = ghostc::pipeline::import(
        &support::fixture("ghostnet_050_ts13_bn_dynbatch"),
        &ghostc::ImportOptions::default(),
    )
    .expect("imports");
    assert!(imported.warnings[0].contains("--input-shape input=NxCxHxW"));
}
