//! Bad inputs: each must come back as an `Err` (never a panic, never an abort), with a message
//! that names what is wrong. Every message is snapshotted as `error_<case>`.

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use ghostc::{pipeline, ImportOptions};
use support::*;

/// Snapshots `text` as `error_<case>`.
fn snap(case: &str, text: &str) {
    settings().bind(|| insta::assert_snapshot!(format!("error_{case}"), text));
}

/// Imports `bytes` with `opts`, requiring an error (a panic is reported as such).
fn error_of(bytes: &[u8], opts: &ImportOptions) -> String {
    match catch_unwind(AssertUnwindSafe(|| pipeline::import_bytes(bytes, opts))) {
        Ok(Ok(_)) => panic!("the import succeeded"),
        Ok(Err(e)) => e.to_string(),
        Err(_) => panic!("the import panicked"),
    }
}

fn error_of_file(path: &Path, opts: &ImportOptions) -> String {
    match catch_unwind(AssertUnwindSafe(|| pipeline::import(path, opts))) {
        Ok(Ok(_)) => panic!("the import succeeded"),
        Ok(Err(e)) => e.to_string(),
        Err(_) => panic!("the import panicked"),
    }
}

/// Replaces the platform's text for "file not found" so snapshots hold on every OS.
fn portable(msg: &str) -> String {
    // ENOENT on unix, ERROR_FILE_NOT_FOUND on Windows.
    msg.replace(
        &std::io::Error::from_raw_os_error(2).to_string(),
        "<file not found>",
    )
}

/// Imports `m` with default options and snapshots its error.
fn check(case: &str, m: Model) {
    snap(case, &error_of(&m.bytes(), &ImportOptions::default()));
}

/// `x [1,4] -> Relu -> y`, a valid base to break.
fn relu_model() -> Model {
    Model::new(13)
        .input("x", &[1, 4])
        .node("Relu", "relu", &["x"], &["y"], vec![])
        .output("y")
}

// ---- not a model --------------------------------------------------------------------------------

#[test]
fn empty_file() {
    snap("empty_file", &error_of(&[], &ImportOptions::default()));
}

#[test]
fn random_bytes() {
    let mut lines = Vec::new();
    for seed in 1..=12u64 {
        let mut rng = XorShift::new(seed);
        let len = 1 + (rng.next_u64() % 4096) as usize;
        let bytes = rng.bytes(len);
        lines.push(format!(
            "seed {seed}, {len} bytes: {}",
            error_of(&bytes, &ImportOptions::default())
        ));
    }
    snap("random_bytes", &lines.join("\n"));
}

#[test]
fn truncated_fixture() {
    let bytes = std::fs::read(fixture("ghostnet_050_dynamo")).expect("read fixture");
    let n = bytes.len();
    // ~50 offsets spread over the file, plus the very start and end.
    let mut offsets: Vec<usize> = (0..48).map(|i| i * n / 48).collect();
    offsets.extend([1, 2, 10, n - 1]);
    for &at in &offsets {
        let r = catch_unwind(AssertUnwindSafe(|| {
            pipeline::import_bytes(&bytes[..at], &ImportOptions::default())
        }));
        match r {
            Ok(Err(_)) => {}
            Ok(Ok(_)) => panic!("truncation at {at} of {n} bytes imported"),
            Err(_) => panic!("truncation at {at} of {n} bytes panicked"),
        }
    }
    snap(
        "truncated_fixture_at_100",
        &error_of(&bytes[..100], &ImportOptions::default()),
    );
    snap(
        "truncated_fixture_at_half",
        &error_of(&bytes[..n / 2], &ImportOptions::default()),
    );
}

#[test]
fn no_graph() {
    let mut m = Model::new(13);
    m.proto.graph = None;
    check("no_graph", m);
}

#[test]
fn no_opset_import() {
    let mut m = relu_model();
    m.proto.opset_import.clear();
    check("no_opset_import", m);
}

#[test]
fn only_custom_domain_opset() {
    let mut m = relu_model();
    m.proto.opset_import[0].domain = Some("com.example".into());
    check("only_custom_domain_opset", m);
}

#[test]
fn no_inputs() {
    let m = Model::new(13)
        .init_f32("c", &[1], &[1.0])
        .node("Identity", "id", &["c"], &["y"], vec![])
        .output("y");
    check("no_inputs", m);
}

#[test]
fn no_outputs() {
    let m = Model::new(13)
        .input("x", &[1, 4])
        .node("Relu", "relu", &["x"], &["y"], vec![]);
    check("no_outputs", m);
}

#[test]
fn output_not_produced() {
    check("output_not_produced", relu_model().output("nowhere"));
}

#[test]
fn integer_output() {
    let m = Model::new(13)
        .input("x", &[1, 4])
        .node("Shape", "shape", &["x"], &["s"], vec![])
        .output("s");
    check("integer_output", m);
}

// ---- graph structure ----------------------------------------------------------------------------

#[test]
fn undefined_input() {
    // A Conv whose weight initializer is missing.
    let m = Model::new(13)
        .input("x", &[1, 3, 8, 8])
        .node("Conv", "conv", &["x", "conv.weight"], &["y"], vec![])
        .output("y");
    check("undefined_input", m);
}

#[test]
fn cycle() {
    let m = Model::new(13)
        .input("x", &[1, 4])
        .node("Add", "a", &["x", "d"], &["b"], vec![])
        .node("Relu", "c", &["b"], &["d"], vec![])
        .output("d");
    check("cycle", m);
}

#[test]
fn duplicate_node_outputs() {
    let m = Model::new(13)
        .input("x", &[1, 4])
        .node("Relu", "first", &["x"], &["y"], vec![])
        .node("Sigmoid", "second", &["x"], &["y"], vec![])
        .output("y");
    check("duplicate_node_outputs", m);
}

#[test]
fn node_output_shadows_initializer() {
    let m = relu_model().init_f32("y", &[1], &[0.0]);
    check("node_output_shadows_initializer", m);
}

#[test]
fn duplicate_graph_inputs() {
    check("duplicate_graph_inputs", relu_model().input("x", &[1, 4]));
}

#[test]
fn duplicate_initializers() {
    let m = relu_model()
        .init_f32("c", &[1], &[0.0])
        .init_f32("c", &[1], &[1.0]);
    check("duplicate_initializers", m);
}

#[test]
fn unnamed_initializer() {
    check(
        "unnamed_initializer",
        relu_model().init_f32("", &[1], &[0.0]),
    );
}

// ---- unsupported ops and attributes -------------------------------------------------------------

#[test]
fn unsupported_ops_listed_together() {
    let m = Model::new(13)
        .input("x", &[1, 4, 8])
        .node("LSTM", "/rnn/LSTM", &["x"], &["h"], vec![])
        .node("Relu", "relu", &["x"], &["r"], vec![])
        .node("NonMaxSuppression", "/nms/NMS", &["r"], &["boxes"], vec![])
        .node_in(
            "com.example",
            "FancyAttention",
            "attn",
            &["h"],
            &["y"],
            vec![],
        )
        .node("LSTM", "", &["y"], &["z"], vec![])
        .output("z");
    let msg = error_of(&m.bytes(), &ImportOptions::default());
    for part in [
        "LSTM (node '/rnn/LSTM')",
        "NonMaxSuppression (node '/nms/NMS')",
        "com.example::FancyAttention (node 'attn')",
        "LSTM (node 'LSTM_4')",
    ] {
        assert!(msg.contains(part), "{part} missing from: {msg}");
    }
    snap("unsupported_ops_listed_together", &msg);
}

#[test]
fn wrong_attribute_type() {
    // Conv's `group` given as a float.
    let m = Model::new(13)
        .input("x", &[1, 4, 8, 8])
        .init_rand("w", &[4, 2, 3, 3], 1)
        .node(
            "Conv",
            "conv",
            &["x", "w"],
            &["y"],
            vec![a_float("group", 2.0)],
        )
        .output("y");
    check("wrong_attribute_type", m);
}

#[test]
fn unknown_auto_pad() {
    let m = Model::new(13)
        .input("x", &[1, 4, 8, 8])
        .init_rand("w", &[4, 4, 3, 3], 1)
        .node(
            "Conv",
            "conv",
            &["x", "w"],
            &["y"],
            vec![a_str("auto_pad", "SAME_MIDDLE")],
        )
        .output("y");
    check("unknown_auto_pad", m);
}

#[test]
fn resize_cubic() {
    let m = Model::new(13)
        .input("x", &[1, 2, 4, 4])
        .init_f32("scales", &[4], &[1.0, 1.0, 2.0, 2.0])
        .node(
            "Resize",
            "up",
            &["x", "", "scales"],
            &["y"],
            vec![a_str("mode", "cubic")],
        )
        .output("y");
    check("resize_cubic", m);
}

#[test]
fn batchnorm_training_mode() {
    let m = Model::new(15)
        .input("x", &[1, 2, 3, 3])
        .init_f32("s", &[2], &[1.0, 1.0])
        .init_f32("b", &[2], &[0.0, 0.0])
        .node(
            "BatchNormalization",
            "bn",
            &["x", "s", "b", "b", "s"],
            &["y"],
            vec![a_int("training_mode", 1)],
        )
        .output("y");
    check("batchnorm_training_mode", m);
}

// ---- element types, shapes and data -------------------------------------------------------------

#[test]
fn int64_graph_input() {
    let m = Model::new(13)
        .input_typed("ids", INT64, Some(&[Dim::Fixed(1), Dim::Fixed(4)]))
        .node("Relu", "relu", &["ids"], &["y"], vec![])
        .output("y");
    check("int64_graph_input", m);
}

#[test]
fn input_without_shape() {
    check(
        "input_without_shape",
        Model::new(13)
            .input_typed("x", FLOAT, None)
            .node("Relu", "relu", &["x"], &["y"], vec![])
            .output("y"),
    );
}

#[test]
fn conv_weight_contradicts_input() {
    // 3 input channels, weight made for 4.
    let m = Model::new(13)
        .input("x", &[1, 3, 8, 8])
        .init_rand("w", &[8, 4, 3, 3], 1)
        .node(
            "Conv",
            "/stem/Conv",
            &["x", "w"],
            &["y"],
            vec![a_ints("kernel_shape", &[3, 3])],
        )
        .output("y");
    check("conv_weight_contradicts_input", m);
}

#[test]
fn conv_kernel_shape_contradicts_weight() {
    let m = Model::new(13)
        .input("x", &[1, 3, 8, 8])
        .init_rand("w", &[8, 3, 3, 3], 1)
        .node(
            "Conv",
            "conv",
            &["x", "w"],
            &["y"],
            vec![a_ints("kernel_shape", &[5, 5])],
        )
        .output("y");
    check("conv_kernel_shape_contradicts_weight", m);
}

#[test]
fn conv_kernel_larger_than_input() {
    let m = Model::new(13)
        .input("x", &[1, 3, 2, 2])
        .init_rand("w", &[8, 3, 3, 3], 1)
        .node("Conv", "conv", &["x", "w"], &["y"], vec![])
        .output("y");
    check("conv_kernel_larger_than_input", m);
}

#[test]
fn add_not_broadcastable() {
    let m = Model::new(13)
        .input("x", &[1, 4, 8, 8])
        .input("z", &[1, 3, 8, 8])
        .node("Add", "/blocks.1/Add", &["x", "z"], &["y"], vec![])
        .output("y");
    check("add_not_broadcastable", m);
}

#[test]
fn initializer_dims_overflow() {
    // 2^40 * 2^40 elements: the product overflows usize.
    let t = ghostc::front::proto::TensorProto {
        raw_data: Some(vec![0; 4]),
        ..t_f32("huge", &[1 << 40, 1 << 40], &[])
    };
    check("initializer_dims_overflow", relu_model().init(t));
}

#[test]
fn initializer_negative_dims() {
    check(
        "initializer_negative_dims",
        relu_model().init(t_f32("neg", &[-1, 4], &[0.0; 4])),
    );
}

#[test]
fn graph_input_huge_dims() {
    let m = Model::new(13)
        .input("x", &[1 << 20, 1 << 20, 1 << 20])
        .node("Relu", "relu", &["x"], &["y"], vec![])
        .output("y");
    check("graph_input_huge_dims", m);
}

#[test]
fn graph_input_negative_dim() {
    let m = Model::new(13)
        .input("x", &[1, -3])
        .node("Relu", "relu", &["x"], &["y"], vec![])
        .output("y");
    check("graph_input_negative_dim", m);
}

#[test]
fn raw_data_length_mismatch() {
    // [2,3] f32 needs 24 bytes; 20 given.
    let t = ghostc::front::proto::TensorProto {
        raw_data: Some(vec![0; 20]),
        ..t_f32("w", &[2, 3], &[])
    };
    check("raw_data_length_mismatch", relu_model().init(t));
}

#[test]
fn float_data_count_mismatch() {
    check(
        "float_data_count_mismatch",
        relu_model().init(t_float_data("w", &[2, 3], &[1.0; 5])),
    );
}

#[test]
fn string_initializer() {
    let t = ghostc::front::proto::TensorProto {
        name: Some("s".into()),
        dims: vec![1],
        data_type: Some(8),
        string_data: vec![b"hi".to_vec()],
        ..Default::default()
    };
    check("string_initializer", relu_model().init(t));
}

// ---- compile-time operands ----------------------------------------------------------------------

#[test]
fn slice_zero_step() {
    let m = Model::new(13)
        .input("x", &[1, 8])
        .const_i64("starts", &[0])
        .const_i64("ends", &[4])
        .const_i64("axes", &[1])
        .const_i64("steps", &[0])
        .node(
            "Slice",
            "slice",
            &["x", "starts", "ends", "axes", "steps"],
            &["y"],
            vec![],
        )
        .output("y");
    check("slice_zero_step", m);
}

#[test]
fn flatten_axis_out_of_range() {
    let m = Model::new(13)
        .input("x", &[2, 3])
        .node("Flatten", "flat", &["x"], &["y"], vec![a_int("axis", 3)])
        .output("y");
    check("flatten_axis_out_of_range", m);
}

#[test]
fn reshape_runtime_shape() {
    let m = Model::new(13)
        .input("x", &[1, 4])
        .input("s", &[2])
        .node("Reshape", "reshape", &["x", "s"], &["y"], vec![])
        .output("y");
    check("reshape_runtime_shape", m);
}

#[test]
fn reshape_element_count_mismatch() {
    let m = Model::new(13)
        .input("x", &[1, 4])
        .init_i64("shape", &[2], &[3, 3])
        .node("Reshape", "reshape", &["x", "shape"], &["y"], vec![])
        .output("y");
    check("reshape_element_count_mismatch", m);
}

#[test]
fn gather_on_runtime_tensor() {
    let m = Model::new(13)
        .input("x", &[4, 4])
        .init_i64("idx", &[1], &[0])
        .node("Gather", "gather", &["x", "idx"], &["y"], vec![])
        .output("y");
    check("gather_on_runtime_tensor", m);
}

#[test]
fn range_near_i64_limits() {
    // Range(INT64_MIN, INT64_MAX, 2^62): 4 values, the last one computed as MIN + 3 * 2^62.
    let m = Model::new(13)
        .input("x", &[1, 4])
        .init_i64("start", &[], &[i64::MIN])
        .init_i64("limit", &[], &[i64::MAX])
        .init_i64("delta", &[], &[1 << 62])
        .node(
            "Range",
            "range",
            &["start", "limit", "delta"],
            &["r"],
            vec![],
        )
        .node("Reshape", "reshape", &["x", "r"], &["y"], vec![])
        .output("y");
    check("range_near_i64_limits", m);
}

#[test]
fn folded_broadcast_too_large() {
    // [40000,1] + [1,40000] of constants would fold to 1.6e9 elements.
    let col: Vec<i64> = (0..40_000).collect();
    let m = Model::new(13)
        .input("x", &[1, 4])
        .init_i64("a", &[40_000, 1], &col)
        .init_i64("b", &[1, 40_000], &col)
        .node("Add", "outer", &["a", "b"], &["s"], vec![])
        .node("Reshape", "reshape", &["x", "s"], &["y"], vec![])
        .output("y");
    check("folded_broadcast_too_large", m);
}

#[test]
fn folded_expand_too_large() {
    // One element expanded to 2^31 along a single axis.
    let m = Model::new(13)
        .input("x", &[1, 4])
        .init_i64("one", &[1], &[1])
        .init_i64("shape", &[1], &[1 << 31])
        .node("Expand", "expand", &["one", "shape"], &["e"], vec![])
        .node("Reshape", "reshape", &["x", "e"], &["y"], vec![])
        .output("y");
    check("folded_expand_too_large", m);
}

#[test]
fn folded_gather_too_large() {
    // 65536 indices into rows of 65536 values: 2^32 elements.
    let row: Vec<i64> = (0..65_536).collect();
    let idx = vec![0i64; 65_536];
    let m = Model::new(13)
        .input("x", &[1, 4])
        .init_i64("table", &[1, 65_536], &row)
        .init_i64("idx", &[65_536], &idx)
        .node("Gather", "gather", &["table", "idx"], &["g"], vec![])
        .node("Reshape", "reshape", &["x", "g"], &["y"], vec![])
        .output("y");
    check("folded_gather_too_large", m);
}

#[test]
fn split_num_outputs_mismatch() {
    let m = Model::new(18)
        .input("x", &[1, 8])
        .node(
            "Split",
            "split",
            &["x"],
            &["a", "b"],
            vec![a_int("axis", 1), a_int("num_outputs", i64::MAX)],
        )
        .output("a")
        .output("b");
    check("split_num_outputs_mismatch", m);
}

#[test]
fn split_sizes_count_mismatch() {
    let m = Model::new(13)
        .input("x", &[1, 8])
        .init_i64("sizes", &[2], &[4, 4])
        .node(
            "Split",
            "split",
            &["x", "sizes"],
            &["a", "b", "c"],
            vec![a_int("axis", 1)],
        )
        .output("a")
        .output("b")
        .output("c");
    check("split_sizes_count_mismatch", m);
}

// ---- options ------------------------------------------------------------------------------------

#[test]
fn input_shape_unknown_name() {
    let msg = error_of(&relu_model().bytes(), &shapes(&[("image", &[1, 4])]));
    snap("input_shape_unknown_name", &msg);
}

#[test]
fn input_shape_contradicts_fixed_dim() {
    let msg = error_of(&relu_model().bytes(), &shapes(&[("x", &[1, 5])]));
    snap("input_shape_contradicts_fixed_dim", &msg);
}

#[test]
fn input_shape_wrong_rank() {
    let msg = error_of(&relu_model().bytes(), &shapes(&[("x", &[1, 4, 1])]));
    snap("input_shape_wrong_rank", &msg);
}

#[test]
fn symbolic_non_batch_dim() {
    let m = Model::new(13)
        .input_sym(
            "x",
            &[
                Dim::Sym("batch"),
                Dim::Fixed(3),
                Dim::Sym("height"),
                Dim::Sym("width"),
            ],
        )
        .node("Relu", "relu", &["x"], &["y"], vec![])
        .output("y");
    check("symbolic_non_batch_dim", m);
}

// ---- external data ------------------------------------------------------------------------------

/// `relu_model()` plus an f32 [4] initializer `w` stored externally at `location`, written to
/// `dir`; returns the model path.
fn external_model(dir: &Path, location: &str) -> std::path::PathBuf {
    relu_model()
        .init(t_external("w", &[4], FLOAT, location, None, None))
        .write_to(dir)
}

#[test]
fn external_data_absolute_path() {
    let dir = temp_dir("errors_external_absolute");
    let secret = dir.join("secret.bin");
    std::fs::write(&secret, [0u8; 16]).expect("write");
    let path = external_model(&dir, secret.to_str().expect("utf-8 path"));
    let msg = error_of_file(&path, &ImportOptions::default());
    // The message quotes the location; keep the snapshot free of this machine's paths.
    snap(
        "external_data_absolute_path",
        &msg.replace(secret.to_str().unwrap_or_default(), "<ABSOLUTE>"),
    );
}

#[test]
fn external_data_parent_escape() {
    let dir = temp_dir("errors_external_dotdot");
    std::fs::create_dir_all(dir.join("model")).expect("mkdir");
    std::fs::write(dir.join("secret.bin"), [0u8; 16]).expect("write");
    let path = external_model(&dir.join("model"), "../secret.bin");
    snap(
        "external_data_parent_escape",
        &error_of_file(&path, &ImportOptions::default()),
    );
    let path = external_model(&dir.join("model"), "sub/../../secret.bin");
    snap(
        "external_data_parent_escape_nested",
        &error_of_file(&path, &ImportOptions::default()),
    );
}

#[cfg(unix)]
#[test]
fn external_data_symlink_outside() {
    let dir = temp_dir("errors_external_symlink");
    std::fs::create_dir_all(dir.join("model")).expect("mkdir");
    std::fs::write(dir.join("secret.bin"), [0u8; 16]).expect("write");
    std::os::unix::fs::symlink(dir.join("secret.bin"), dir.join("model/weights.bin"))
        .expect("symlink");
    let path = external_model(&dir.join("model"), "weights.bin");
    snap(
        "external_data_symlink_outside",
        &error_of_file(&path, &ImportOptions::default()),
    );
}

#[test]
fn external_data_missing_file() {
    let dir = temp_dir("errors_external_missing");
    let path = external_model(&dir, "weights.bin");
    snap(
        "external_data_missing_file",
        &portable(&error_of_file(&path, &ImportOptions::default())),
    );
}

#[test]
fn external_data_beyond_end_of_file() {
    let dir = temp_dir("errors_external_short");
    std::fs::write(dir.join("weights.bin"), [0u8; 10]).expect("write");
    let path = external_model(&dir, "weights.bin");
    snap(
        "external_data_beyond_end_of_file",
        &error_of_file(&path, &ImportOptions::default()),
    );
}

#[test]
fn external_data_from_memory() {
    let m = relu_model().init(t_external("w", &[4], FLOAT, "weights.bin", None, None));
    check("external_data_from_memory", m);
}

#[test]
fn missing_model_file() {
    let dir = temp_dir("errors_missing_model");
    let msg = error_of_file(&dir.join("nope.onnx"), &ImportOptions::default());
    snap(
        "missing_model_file",
        &portable(&msg.replace(dir.to_str().unwrap_or_default(), "<TMP>")),
    );
}
