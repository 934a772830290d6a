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

/// Runs ghostc with stdout on a pipe whose reading end is already closed, so that its first
/// write fails (as when `| head` has exited), whatever the output's size.
fn ghostc_into_closed_pipe(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_ghostc"))
        .args(args)
        .stdout(writer)
        .output()
        .expect("run ghostc")
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let model = support::fixture("ghostnet_100_ts13");
    let model = model.to_str().expect("utf-8 path");
    for args in [
        &[model, "--emit", "ir", "--dump-ir-after", "all"][..],
        &[model, "--emit", "ir"],
        &[model, "--emit", "dot"],
        &[model, "--summary"],
        &[model, "--list-passes"],
        &[model, "--dump-ir-after", "import"],
    ] {
        let out = ghostc_into_closed_pipe(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stderr.is_empty(), "{args:?}: {}", text(&out.stderr));
    }
}

#[test]
fn dumps_work_without_emit_ir() {
    let model = support::fixture("ghostnet_050_dynamo");
    let model = model.to_str().expect("utf-8 path");
    // On their own: the dumps and nothing else.
    let out = ghostc(&[model, "--dump-ir-after", "import"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("// ---- IR after import ----\n"),
        "{stdout:.200}"
    );
    assert_eq!(stdout.matches("// ---- IR after").count(), 1);
    // With another --emit: the dumps, then that output.
    let out = ghostc(&[model, "--dump-ir-after", "simplify", "--emit", "kernels"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("// ---- IR after simplify ----\n"));
    assert!(stdout.contains("conv2d"), "{stdout:.200}");
    // --emit ir after dumps: the last IR has a header too.
    let out = ghostc(&[model, "--dump-ir-after", "simplify", "--emit", "ir"]);
    let stdout = text(&out.stdout);
    let headers: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("// ----"))
        .collect();
    assert_eq!(
        headers,
        [
            "// ---- IR after simplify ----",
            "// ---- IR after the passes, with the memory plan (--emit ir) ----"
        ]
    );
}

#[test]
fn list_passes_starts_with_import() {
    let out = ghostc(&["--list-passes"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    let names: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names.first(), Some(&"import"));
    let passes: Vec<&str> = ghostc::passes::PASSES.iter().map(|p| p.name).collect();
    assert_eq!(names[1..], passes[..]);
    // Every listed name is accepted where a pass name is.
    let model = support::fixture("ghostnet_050_dynamo");
    for name in &names {
        let out = ghostc(&[
            model.to_str().expect("utf-8 path"),
            "--stop-after",
            name,
            "--emit",
            "ir",
        ]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
    }
}

#[test]
fn output_folders_are_created_and_files_in_the_way_named() {
    let dir = support::temp_dir("cli_output_folders");
    let model = support::fixture("ghostnet_050_dynamo");
    let model = model.to_str().expect("utf-8 path");
    for emit in ["ir", "dot", "kernels"] {
        let dest = dir.join(emit).join("deeper").join("out.txt");
        let out = ghostc(&[
            model,
            "--emit",
            emit,
            "-o",
            dest.to_str().expect("utf-8 path"),
        ]);
        assert!(out.status.success(), "{emit}: {}", text(&out.stderr));
        assert!(dest.is_file(), "{emit}");
    }
    let file = dir.join("notes.txt");
    std::fs::write(&file, "a file").expect("write");
    let dest = file.join("m.rs");
    let out = ghostc(&[model, "-o", dest.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{} is a file, not a folder", file.display())),
        "{stderr}"
    );
}

#[test]
fn dot_shows_layouts() {
    let model = support::fixture("ghostnet_050_dynamo");
    let out = ghostc(&[model.to_str().expect("utf-8 path"), "--emit", "dot"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dot = text(&out.stdout);
    assert!(dot.contains("] nhwc"), "no NHWC value labelled");
    // The same values the IR text marks NHWC: its count of typed values, per output.
    let ir = text(&ghostc(&[model.to_str().expect("utf-8 path"), "--emit", "ir"]).stdout);
    assert!(ir.contains("] nhwc"));
}

#[test]
fn unsupported_ops_point_to_the_supported_list() {
    let dir = support::temp_dir("cli_unsupported");
    let path = support::Model::new(13)
        .input("x", &[1, 4])
        .node("LpNormalization", "norm", &["x"], &["y"], vec![])
        .output("y")
        .write_to(&dir);
    let out = ghostc(&[path.to_str().expect("utf-8 path"), "--emit", "ir"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("LpNormalization (node 'norm')"), "{stderr}");
    assert!(
        stderr.contains("README.md, section \"Supported ONNX\""),
        "{stderr}"
    );
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README");
    assert!(readme.contains("## Supported ONNX"));
}

#[test]
fn readme_option_table_matches_help() {
    let help = text(&ghostc(&["--help"]).stdout);
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README");
    let table: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("## Command line"))
        .take_while(|l| !l.starts_with("## Using it"))
        .filter(|l| l.starts_with("| `"))
        .collect();
    let flags = |t: &str| -> Vec<String> {
        t.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .map(str::to_string)
            .collect()
    };
    let documented: std::collections::BTreeSet<String> = table
        .iter()
        .flat_map(|l| flags(l.split('|').nth(1).unwrap_or("")))
        .collect();
    let offered: std::collections::BTreeSet<String> = help
        .lines()
        .filter(|l| l.trim_start().starts_with('-'))
        .flat_map(|l| flags(l.trim_start().split("  ").next().unwrap_or("")))
        .collect();
    assert_eq!(documented, offered, "README option table vs --help");
}

#[test]
fn target_sets_the_layout_plan_and_bad_triples_are_refused() {
    let model = support::workspace_root().join("examples/synthetic/small_planes/model.onnx");
    let model = model.to_str().expect("utf-8 path");
    let ir = |triple: &str| {
        let out = ghostc(&[model, "--emit", "ir", "--target", triple]);
        assert!(out.status.success(), "{triple}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    assert!(ir("x86_64-unknown-linux-gnu").contains(" nhwc"));
    // The portable kernels (one lane) are fastest in NCHW.
    assert!(!ir("thumbv7em-none-eabihf").contains(" nhwc"));
    // The generated file's header names the plan's vector width.
    let dir = support::temp_dir("cli_target_header");
    let header = |triple: &str| {
        let dest = dir.join(format!("{triple}.rs"));
        let out = ghostc(&[
            model,
            "-o",
            dest.to_str().expect("utf-8"),
            "--target",
            triple,
        ]);
        assert!(out.status.success(), "{triple}: {}", text(&out.stderr));
        let source = std::fs::read_to_string(&dest).expect("generated file");
        source.lines().nth(2).unwrap_or("").to_string()
    };
    assert!(header("aarch64-apple-darwin").ends_with("vector-lanes=4"));
    assert!(header("thumbv7em-none-eabihf").ends_with("vector-lanes=1"));
    let out = ghostc(&[model, "--emit", "ir", "--target", "x86 64"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("'x86 64' is not a target triple"),
        "{}",
        text(&out.stderr)
    );
}
