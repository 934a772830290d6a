//! The `ghostc` binary end to end: help text, `--summary` totals, and failure reporting.

mod support;

use std::process::{Command, Output};

fn ghostc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ghostc"))
        .args(args)
        .output()
        .expect("run ghostc")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_lists_every_flag() {
    let out = ghostc(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in [
        "--output",
        "--emit",
        "--summary",
        "--input-shape",
        "--help",
        "--version",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
}

#[test]
fn summary_of_ghostnet_100() {
    let model = support::fixture("ghostnet_100_ts13");
    let out = ghostc(&[model.to_str().expect("utf-8 path"), "--summary"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let total = stdout.lines().last().expect("a totals line");
    assert!(total.contains("141,150,512"), "{total}");
    assert!(total.contains("5,171,524"), "{total}");
    assert!(
        out.stderr.is_empty(),
        "unexpected stderr: {}",
        text(&out.stderr)
    );
}

#[test]
fn input_shape_flag_pins_the_batch() {
    let model = support::fixture("ghostnet_050_ts13_bn_dynbatch");
    let out = ghostc(&[
        model.to_str().expect("utf-8 path"),
        "--summary",
        "--input-shape",
        "input=4x3x224x224",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        out.stderr.is_empty(),
        "unexpected stderr: {}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("[4,1000]"));

    let out = ghostc(&[model.to_str().expect("utf-8 path"), "--emit", "ir"]);
    assert!(out.status.success());
    assert!(
        text(&out.stderr).starts_with("warning: "),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn emit_kernels_lists_the_calls() {
    // With fold_batch_norm disabled the BatchNorms reach lowering, which folds each into one
    // channel_affine call.
    let model = support::workspace_root().join("examples/synthetic/ghost_bottleneck_se/model.onnx");
    let out = ghostc(&[
        model.to_str().expect("utf-8 path"),
        "--emit",
        "kernels",
        "--disable-pass",
        "fold_batch_norm",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.contains(" load_input in=input0 ")),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.contains(" channel_affine ")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with('%') || l.starts_with("output")),
        "{stdout}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("output0 = arena[")),
        "{stdout}"
    );
}

#[test]
fn bad_model_fails_with_exit_code_1() {
    let dir = support::temp_dir("cli_bad_model");
    let path = dir.join("bad.onnx");
    std::fs::write(&path, b"\x0a\xff\xff\xff\xff this is not protobuf").expect("write");
    let out = ghostc(&[path.to_str().expect("utf-8 path"), "--emit", "ir"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("error:"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_input_shape_fails_with_exit_code_1() {
    let model = support::fixture("ghostnet_100_ts13");
    let out = ghostc(&[
        model.to_str().expect("utf-8 path"),
        "--input-shape",
        "input=1x3xfoo",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("error: invalid option"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn output_flag_writes_a_file() {
    let dir = support::temp_dir("cli_output");
    let dest = dir.join("ir.txt");
    let model = support::fixture("ghostnet_050_dynamo");
    let out = ghostc(&[
        model.to_str().expect("utf-8 path"),
        "--emit",
        "ir",
        "--output",
        dest.to_str().expect("utf-8 path"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ir = std::fs::read_to_string(&dest).expect("output written");
    assert!(ir.starts_with("graph "), "{}", &ir[..ir.len().min(200)]);
}
