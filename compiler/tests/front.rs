//! Positive front-end cases on synthetic graphs: each imports cleanly and its IR text (plus any
//! warnings) is snapshotted as `front_<case>`. Together they cover every tensor encoding, every
//! way ONNX passes compile-time operands across opsets, and the attribute variants of each op.

mod support;

use ghostc::front::proto::{AttributeProto, TensorProto};
use support::*;

/// Imports `m` from memory (or fails the test with the error) and snapshots the IR.
fn snap(case: &str, m: Model) {
    let imported = m.import().unwrap_or_else(|e| panic!("{case}: {e}"));
    snap_imported(case, &imported);
}

fn snap_imported(case: &str, imported: &ghostc::front::Imported) {
    let mut text = imported.graph.to_string();
    for w in &imported.warnings {
        text.push_str(&format!("warning: {w}\n"));
    }
    settings().bind(|| insta::assert_snapshot!(format!("front_{case}"), text));
}

const X4: [f32; 4] = [1.0, -2.0, 3.5, -4.25];

// ---- initializer encodings ---------------------------------------------------------------------

/// `x [1,4] + c` where `c` is the given f32-typed initializer.
fn add_const(opset: i64, c: TensorProto) -> Model {
    Model::new(opset)
        .input("x", &[1, 4])
        .init(c)
        .node("Add", "add", &["x", "c"], &["y"], vec![])
        .output("y")
}

#[test]
fn init_raw_data() {
    snap("init_raw_data", add_const(13, t_f32("c", &[4], &X4)));
}

#[test]
fn init_float_data() {
    snap(
        "init_float_data",
        add_const(13, t_float_data("c", &[4], &X4)),
    );
}

#[test]
fn init_double_data() {
    snap(
        "init_double_data",
        add_const(13, t_double_data("c", &[4], &[0.5, 1.0e-3, -7.0, 1.0e10])),
    );
}

#[test]
fn init_float16_in_int32_data() {
    // 1.0, -2.0, 0.5, 65504 (largest half) as raw half bits.
    snap(
        "init_float16_in_int32_data",
        add_const(
            13,
            t_int32_data("c", &[4], FLOAT16, &[0x3c00, 0xc000, 0x3800, 0x7bff]),
        ),
    );
}

#[test]
fn init_int64_data() {
    // Reshape's shape as typed int64_data: [1,4] -> [2,2].
    let m = Model::new(13)
        .input("x", &[1, 4])
        .init(t_int64_data("shape", &[2], &[2, 2]))
        .node("Reshape", "reshape", &["x", "shape"], &["y"], vec![])
        .output("y");
    snap("init_int64_data", m);
}

#[test]
fn init_int64_raw_data() {
    let m = Model::new(13)
        .input("x", &[1, 4])
        .init_i64("shape", &[2], &[4, -1])
        .node("Reshape", "reshape", &["x", "shape"], &["y"], vec![])
        .output("y");
    snap("init_int64_raw_data", m);
}

#[test]
fn init_int32_data() {
    // Slice operands as int32 tensors (int32_data), widened to i64 on import: x[:, 1:3].
    let m = Model::new(13)
        .input("x", &[1, 4])
        .init_int32_data("starts", &[1], INT32, &[1])
        .init_int32_data("ends", &[1], INT32, &[3])
        .init_int32_data("axes", &[1], INT32, &[1])
        .node(
            "Slice",
            "slice",
            &["x", "starts", "ends", "axes"],
            &["y"],
            vec![],
        )
        .output("y");
    snap("init_int32_data", m);
}

#[test]
fn init_also_listed_as_graph_input() {
    // IR version < 4 style: the initializer is also a graph input, and stays a constant.
    let m = add_const(9, t_f32("c", &[4], &X4)).input("c", &[4]);
    snap("init_also_listed_as_graph_input", m);
}

// ---- Constant nodes ---------------------------------------------------------------------------

#[test]
fn constant_value_tensor() {
    let m = Model::new(13)
        .input("x", &[1, 4])
        .node(
            "Constant",
            "c",
            &[],
            &["c"],
            vec![a_tensor("value", t_f32("", &[4], &X4))],
        )
        .node("Add", "add", &["x", "c"], &["y"], vec![])
        .output("y");
    snap("constant_value_tensor", m);
}

#[test]
fn constant_value_float() {
    let m = Model::new(13)
        .input("x", &[1, 4])
        .node(
            "Constant",
            "c",
            &[],
            &["c"],
            vec![a_float("value_float", 0.25)],
        )
        .node("Mul", "mul", &["x", "c"], &["y"], vec![])
        .output("y");
    snap("constant_value_float", m);
}

#[test]
fn constant_value_floats() {
    let m = Model::new(13)
        .input("x", &[1, 4])
        .node(
            "Constant",
            "c",
            &[],
            &["c"],
            vec![a_floats("value_floats", &X4)],
        )
        .node("Sub", "sub", &["x", "c"], &["y"], vec![])
        .output("y");
    snap("constant_value_floats", m);
}

#[test]
fn constant_value_int() {
    // An int scalar cast to float at compile time, then used at run time.
    let m = Model::new(13)
        .input("x", &[1, 4])
        .node("Constant", "c", &[], &["c"], vec![a_int("value_int", 3)])
        .node(
            "Cast",
            "cast",
            &["c"],
            &["cf"],
            vec![a_int("to", FLOAT as i64)],
        )
        .node("Div", "div", &["x", "cf"], &["y"], vec![])
        .output("y");
    snap("constant_value_int", m);
}

#[test]
fn constant_value_ints() {
    let m = Model::new(13)
        .input("x", &[1, 4])
        .node(
            "Constant",
            "shape",
            &[],
            &["shape"],
            vec![a_ints("value_ints", &[2, 2])],
        )
        .node("Reshape", "reshape", &["x", "shape"], &["y"], vec![])
        .output("y");
    snap("constant_value_ints", m);
}

// ---- external data ----------------------------------------------------------------------------

#[test]
fn external_data_relative_location() {
    let dir = temp_dir("front_external_data");
    std::fs::create_dir_all(dir.join("weights")).expect("mkdir");
    // Two tensors in one file: 4 bytes of padding, then c (4 floats), then d (2 floats).
    let mut blob = vec![0xAAu8; 4];
    blob.extend(X4.iter().flat_map(|v| v.to_le_bytes()));
    blob.extend([10.0f32, 20.0].iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(dir.join("weights/data.bin"), &blob).expect("write blob");
    let m = Model::new(13)
        .input("x", &[2, 4])
        .init(t_external(
            "c",
            &[4],
            FLOAT,
            "weights/data.bin",
            Some(4),
            Some(16),
        ))
        .init(t_external(
            "d",
            &[2, 1],
            FLOAT,
            "./weights/data.bin",
            Some(20),
            None,
        ))
        .node("Add", "add", &["x", "c"], &["s"], vec![])
        .node("Mul", "mul", &["s", "d"], &["y"], vec![])
        .output("y");
    let path = m.write_to(&dir);
    let imported = ghostc::pipeline::import(&path, &ghostc::ImportOptions::default())
        .expect("import with external data");
    snap_imported("external_data_relative_location", &imported);
}

// ---- Slice ------------------------------------------------------------------------------------

/// `Slice(x [4,10], starts, ends, axes, steps)` with TorchScript-style Constant operands; `None`
/// leaves an optional operand out.
fn slice_case(starts: &[i64], ends: &[i64], axes: Option<&[i64]>, steps: Option<&[i64]>) -> Model {
    let mut m = Model::new(13)
        .input("x", &[4, 10])
        .const_i64("starts", starts)
        .const_i64("ends", ends);
    let mut inputs = vec!["x", "starts", "ends"];
    if let Some(a) = axes {
        m = m.const_i64("axes", a);
        inputs.push("axes");
    }
    if let Some(s) = steps {
        if axes.is_none() {
            inputs.push("");
        }
        m = m.const_i64("steps", s);
        inputs.push("steps");
    }
    m.node("Slice", "slice", &inputs, &["y"], vec![])
        .output("y")
}

#[test]
fn slice_constant_inputs() {
    snap(
        "slice_constant_inputs",
        slice_case(&[1, 2], &[3, 8], Some(&[0, 1]), Some(&[1, 2])),
    );
}

#[test]
fn slice_defaults() {
    // No axes, no steps: axes 0..n, steps 1.
    snap("slice_defaults", slice_case(&[1], &[3], None, None));
}

#[test]
fn slice_negative_and_clamped() {
    // Last three columns via a negative start and an INT64_MAX end; rows clamped from -100..100.
    snap(
        "slice_negative_and_clamped",
        slice_case(&[-3, -100], &[i64::MAX, 100], Some(&[-1, 0]), None),
    );
}

#[test]
fn slice_negative_steps() {
    // Reverse the columns (start -1, end INT64_MIN, step -1) and take every other row backwards.
    snap(
        "slice_negative_steps",
        slice_case(&[-1, 3], &[i64::MIN, -100], Some(&[1, 0]), Some(&[-1, -2])),
    );
}

#[test]
fn slice_empty_result() {
    snap(
        "slice_empty_result",
        slice_case(&[5], &[2], Some(&[1]), None),
    );
}

#[test]
fn slice_negative_step_on_empty_axis() {
    // A zero-length axis sliced backwards gives an empty result (and must not trip the clamping).
    let m = Model::new(13)
        .input("x", &[1, 0])
        .const_i64("starts", &[-1])
        .const_i64("ends", &[i64::MIN])
        .const_i64("axes", &[1])
        .const_i64("steps", &[-1])
        .node(
            "Slice",
            "slice",
            &["x", "starts", "ends", "axes", "steps"],
            &["y"],
            vec![],
        )
        .output("y");
    snap("slice_negative_step_on_empty_axis", m);
}

#[test]
fn ghost_module_even_width() {
    // Like the fixtures: Concat keeps every channel, the Slice takes all 16.
    snap("ghost_module_even_width", ghost_model(13, 8, 16, 6));
}

#[test]
fn ghost_module_odd_width() {
    // oup 7: init = 4, Concat gives 8 channels, the Slice keeps 7.
    snap("ghost_module_odd_width", ghost_model(13, 5, 7, 6));
}

// ---- ReduceMean -------------------------------------------------------------------------------

#[test]
fn reduce_mean_axes_attribute_opset13() {
    let m = Model::new(13)
        .input("x", &[1, 8, 5, 5])
        .node(
            "ReduceMean",
            "se_mean",
            &["x"],
            &["y"],
            vec![a_ints("axes", &[2, 3]), a_int("keepdims", 1)],
        )
        .node(
            "ReduceMean",
            "flat_mean",
            &["x"],
            &["z"],
            vec![a_ints("axes", &[-1]), a_int("keepdims", 0)],
        )
        .node("ReduceMean", "all_mean", &["x"], &["w"], vec![])
        .output("y")
        .output("z")
        .output("w");
    snap("reduce_mean_axes_attribute_opset13", m);
}

#[test]
fn reduce_mean_axes_input_opset18() {
    let m = Model::new(18)
        .input("x", &[1, 8, 5, 5])
        .init_i64("axes", &[2], &[-2, -1])
        .node(
            "ReduceMean",
            "se_mean",
            &["x", "axes"],
            &["y"],
            vec![a_int("keepdims", 1)],
        )
        .node(
            "ReduceMean",
            "all_mean",
            &["x"],
            &["z"],
            vec![a_int("keepdims", 0)],
        )
        .node(
            "ReduceMean",
            "noop",
            &["x"],
            &["w"],
            vec![a_int("noop_with_empty_axes", 1)],
        )
        .output("y")
        .output("z")
        .output("w");
    snap("reduce_mean_axes_input_opset18", m);
}

// ---- Clip -------------------------------------------------------------------------------------

#[test]
fn clip_attributes_opset6() {
    let m = Model::new(6)
        .input("x", &[1, 4])
        .node(
            "Clip",
            "relu6",
            &["x"],
            &["y"],
            vec![a_float("min", 0.0), a_float("max", 6.0)],
        )
        .node("Clip", "unbounded", &["y"], &["z"], vec![])
        .output("z");
    snap("clip_attributes_opset6", m);
}

#[test]
fn clip_inputs_opset13() {
    let m = Model::new(13)
        .input("x", &[1, 4])
        .init_f32("lo", &[], &[0.0])
        .node(
            "Constant",
            "hi",
            &[],
            &["hi"],
            vec![a_float("value_float", 6.0)],
        )
        .node("Clip", "relu6", &["x", "lo", "hi"], &["y"], vec![])
        .node("Clip", "max_only", &["y", "", "hi"], &["z"], vec![])
        .node("Clip", "min_only", &["z", "lo"], &["w"], vec![])
        .output("w");
    snap("clip_inputs_opset13", m);
}

// ---- Split ------------------------------------------------------------------------------------

#[test]
fn split_attribute_opset11() {
    let m = Model::new(11)
        .input("x", &[1, 10, 2, 2])
        .node(
            "Split",
            "split",
            &["x"],
            &["a", "b", "c"],
            vec![a_int("axis", 1), a_ints("split", &[2, 3, 5])],
        )
        .node(
            "Split",
            "even",
            &["x"],
            &["d", "e"],
            vec![a_int("axis", -1)],
        )
        .output("a")
        .output("b")
        .output("c")
        .output("d")
        .output("e");
    snap("split_attribute_opset11", m);
}

#[test]
fn split_input_opset13() {
    let m = Model::new(13)
        .input("x", &[1, 10, 2, 2])
        .init_i64("sizes", &[2], &[4, 6])
        .node(
            "Split",
            "split",
            &["x", "sizes"],
            &["a", "b"],
            vec![a_int("axis", 1)],
        )
        .output("a")
        .output("b");
    snap("split_input_opset13", m);
}

#[test]
fn split_num_outputs_opset18() {
    // 10 channels into 3: ceil(10/3) = 4, so 4, 4, 2.
    let m = Model::new(18)
        .input("x", &[1, 10, 2, 2])
        .node(
            "Split",
            "split",
            &["x"],
            &["a", "b", "c"],
            vec![a_int("axis", 1), a_int("num_outputs", 3)],
        )
        .output("a")
        .output("b")
        .output("c");
    snap("split_num_outputs_opset18", m);
}

// ---- Reshape ----------------------------------------------------------------------------------

#[test]
fn reshape_allowzero() {
    let m = Model::new(14)
        .input("x", &[2, 3, 4])
        .input("e", &[0, 3])
        .init_i64("copy_first", &[2], &[0, -1])
        .init_i64("literal", &[2], &[3, 0])
        .node(
            "Reshape",
            "copy",
            &["x", "copy_first"],
            &["y"],
            vec![a_int("allowzero", 0)],
        )
        .node(
            "Reshape",
            "zero",
            &["e", "literal"],
            &["z"],
            vec![a_int("allowzero", 1)],
        )
        .output("y")
        .output("z");
    snap("reshape_allowzero", m);
}

// ---- Conv -------------------------------------------------------------------------------------

fn conv_attrs(kernel: [i64; 2], extra: Vec<AttributeProto>) -> Vec<AttributeProto> {
    let mut a = vec![a_ints("kernel_shape", &kernel)];
    a.extend(extra);
    a
}

#[test]
fn conv_auto_pad() {
    // 4x4 kernel on 7x7: SAME needs 3 rows of padding, upper puts the odd one at the end.
    let m = Model::new(13)
        .input("x", &[1, 2, 7, 7])
        .init_rand("w", &[3, 2, 4, 4], 1)
        .node(
            "Conv",
            "same_upper",
            &["x", "w"],
            &["a"],
            conv_attrs([4, 4], vec![a_str("auto_pad", "SAME_UPPER")]),
        )
        .node(
            "Conv",
            "same_lower",
            &["x", "w"],
            &["b"],
            conv_attrs([4, 4], vec![a_str("auto_pad", "SAME_LOWER")]),
        )
        .node(
            "Conv",
            "same_upper_s2",
            &["x", "w"],
            &["c"],
            conv_attrs(
                [4, 4],
                vec![a_str("auto_pad", "SAME_UPPER"), a_ints("strides", &[2, 2])],
            ),
        )
        .node(
            "Conv",
            "valid",
            &["x", "w"],
            &["d"],
            conv_attrs([4, 4], vec![a_str("auto_pad", "VALID")]),
        )
        .output("a")
        .output("b")
        .output("c")
        .output("d");
    snap("conv_auto_pad", m);
}

#[test]
fn conv_rectangular_kernels() {
    let m = Model::new(13)
        .input("x", &[1, 4, 9, 9])
        .init_rand("w15", &[4, 4, 1, 5], 2)
        .init_rand("w51", &[4, 4, 5, 1], 3)
        .init_rand("b", &[4], 4)
        .node(
            "Conv",
            "k1x5",
            &["x", "w15", "b"],
            &["a"],
            conv_attrs([1, 5], vec![a_ints("pads", &[0, 2, 0, 2])]),
        )
        .node(
            "Conv",
            "k5x1",
            &["a", "w51", "b"],
            &["y"],
            conv_attrs([5, 1], vec![a_ints("pads", &[2, 0, 2, 0])]),
        )
        .output("y");
    snap("conv_rectangular_kernels", m);
}

#[test]
fn conv_dilation_no_bias_no_kernel_shape() {
    // kernel_shape left out (taken from the weight), dilation 2, no bias.
    let m = Model::new(13)
        .input("x", &[1, 3, 11, 11])
        .init_rand("w", &[6, 3, 3, 3], 5)
        .node(
            "Conv",
            "dilated",
            &["x", "w"],
            &["y"],
            vec![a_ints("dilations", &[2, 2]), a_ints("pads", &[2, 2, 2, 2])],
        )
        .output("y");
    snap("conv_dilation_no_bias_no_kernel_shape", m);
}

#[test]
fn conv_grouped() {
    // group 2 of 8 channels: neither dense nor depthwise. Then a real depthwise conv.
    let m = Model::new(13)
        .input("x", &[1, 8, 6, 6])
        .init_rand("wg", &[4, 4, 3, 3], 6)
        .init_rand("wd", &[4, 1, 3, 3], 7)
        .node(
            "Conv",
            "grouped",
            &["x", "wg"],
            &["g"],
            conv_attrs(
                [3, 3],
                vec![a_int("group", 2), a_ints("pads", &[1, 1, 1, 1])],
            ),
        )
        .node(
            "Conv",
            "depthwise",
            &["g", "wd"],
            &["y"],
            conv_attrs([3, 3], vec![a_int("group", 4), a_ints("strides", &[2, 2])]),
        )
        .output("y");
    let imported = m.import().expect("import");
    snap_imported("conv_grouped", &imported);
    let summary = ghostc::analysis::cost::summary(&imported.graph);
    assert!(summary.contains("gconv 3x3/1"), "{summary}");
    assert!(summary.contains("dw 3x3/2"), "{summary}");
}

// ---- Resize -----------------------------------------------------------------------------------

#[test]
fn resize_nearest_scales() {
    let m = Model::new(13)
        .input("x", &[1, 2, 3, 5])
        .init_f32("scales", &[4], &[1.0, 1.0, 2.0, 1.5])
        .node(
            "Resize",
            "up",
            &["x", "", "scales"],
            &["y"],
            vec![
                a_str("mode", "nearest"),
                a_str("nearest_mode", "floor"),
                a_str("coordinate_transformation_mode", "asymmetric"),
            ],
        )
        .output("y");
    snap("resize_nearest_scales", m);
}

#[test]
fn resize_linear_sizes() {
    let m = Model::new(13)
        .input("x", &[1, 2, 4, 4])
        .init_i64("sizes", &[4], &[1, 2, 7, 3])
        .node(
            "Resize",
            "resize",
            &["x", "", "", "sizes"],
            &["y"],
            vec![
                a_str("mode", "linear"),
                a_str("coordinate_transformation_mode", "align_corners"),
            ],
        )
        .output("y");
    snap("resize_linear_sizes", m);
}

// ---- Gemm, MatMul, Softmax ----------------------------------------------------------------------

#[test]
fn gemm_trans_b_1d_bias() {
    let m = Model::new(13)
        .input("x", &[2, 8])
        .init_rand("w", &[4, 8], 8)
        .init_f32("b", &[4], &X4)
        .node(
            "Gemm",
            "fc",
            &["x", "w", "b"],
            &["y"],
            vec![
                a_float("alpha", 1.0),
                a_float("beta", 1.0),
                a_int("transB", 1),
            ],
        )
        .output("y");
    let imported = m.import().expect("import");
    snap_imported("gemm_trans_b_1d_bias", &imported);
    assert_eq!(
        ghostc::analysis::cost::totals(&imported.graph).macs,
        2 * 4 * 8
    );
}

#[test]
fn matmul() {
    let m = Model::new(13)
        .input("x", &[1, 3, 8])
        .init_rand("w", &[8, 5], 9)
        .node("MatMul", "mm", &["x", "w"], &["y"], vec![])
        .output("y");
    let imported = m.import().expect("import");
    snap_imported("matmul", &imported);
    assert_eq!(
        ghostc::analysis::cost::totals(&imported.graph).macs,
        3 * 5 * 8
    );
}

fn softmax_model(opset: i64) -> Model {
    Model::new(opset)
        .input("x", &[2, 3, 4])
        .node("Softmax", "default_axis", &["x"], &["a"], vec![])
        .node("Softmax", "axis1", &["x"], &["b"], vec![a_int("axis", 1)])
        .node("Softmax", "last", &["x"], &["c"], vec![a_int("axis", -1)])
        .output("a")
        .output("b")
        .output("c")
}

#[test]
fn softmax_opset11() {
    // Before opset 13: default axis 1, and the input is coerced to 2-D at the axis.
    snap("softmax_opset11", softmax_model(11));
}

#[test]
fn softmax_opset13() {
    snap("softmax_opset13", softmax_model(13));
}

// ---- shape arithmetic and layout ----------------------------------------------------------------

#[test]
fn shape_arithmetic_folds() {
    // x.reshape(x.shape[0], -1) as TorchScript exports it: only the Reshape survives.
    let m = Model::new(13)
        .input("x", &[2, 3, 4, 5])
        .node("Shape", "shape", &["x"], &["s"], vec![])
        .node(
            "Constant",
            "zero",
            &[],
            &["zero"],
            vec![a_tensor("value", t_i64("", &[], &[0]))],
        )
        .node(
            "Gather",
            "gather",
            &["s", "zero"],
            &["n"],
            vec![a_int("axis", 0)],
        )
        .const_i64("unsq_axes", &[0])
        .node(
            "Unsqueeze",
            "unsqueeze",
            &["n", "unsq_axes"],
            &["n1"],
            vec![],
        )
        .const_i64("minus_one", &[-1])
        .node(
            "Concat",
            "concat",
            &["n1", "minus_one"],
            &["shape"],
            vec![a_int("axis", 0)],
        )
        .node("Reshape", "reshape", &["x", "shape"], &["y"], vec![])
        .output("y");
    snap("shape_arithmetic_folds", m);
}

#[test]
fn flatten() {
    let m = Model::new(13)
        .input("x", &[2, 3, 4, 5])
        .node("Flatten", "default", &["x"], &["a"], vec![])
        .node("Flatten", "axis2", &["x"], &["b"], vec![a_int("axis", 2)])
        .node("Flatten", "axis0", &["x"], &["c"], vec![a_int("axis", 0)])
        .node(
            "Flatten",
            "axis_neg",
            &["x"],
            &["d"],
            vec![a_int("axis", -1)],
        )
        .output("a")
        .output("b")
        .output("c")
        .output("d");
    snap("flatten", m);
}

#[test]
fn squeeze_unsqueeze_attributes_opset11() {
    let m = Model::new(11)
        .input("x", &[1, 3, 1, 5])
        .node("Squeeze", "squeeze_all", &["x"], &["a"], vec![])
        .node(
            "Squeeze",
            "squeeze_2",
            &["x"],
            &["b"],
            vec![a_ints("axes", &[-2])],
        )
        .node(
            "Unsqueeze",
            "unsqueeze",
            &["a"],
            &["c"],
            vec![a_ints("axes", &[0, -1])],
        )
        .output("b")
        .output("c");
    snap("squeeze_unsqueeze_attributes_opset11", m);
}

#[test]
fn squeeze_unsqueeze_inputs_opset13() {
    let m = Model::new(13)
        .input("x", &[1, 3, 1, 5])
        .init_i64("sq", &[2], &[0, 2])
        .init_i64("unsq", &[2], &[1, 3])
        .node("Squeeze", "squeeze", &["x", "sq"], &["a"], vec![])
        .node("Unsqueeze", "unsqueeze", &["a", "unsq"], &["b"], vec![])
        .output("b");
    snap("squeeze_unsqueeze_inputs_opset13", m);
}

#[test]
fn transpose() {
    let m = Model::new(13)
        .input("x", &[1, 2, 3, 4])
        .node(
            "Transpose",
            "nhwc",
            &["x"],
            &["a"],
            vec![a_ints("perm", &[0, 2, 3, 1])],
        )
        .node("Transpose", "reverse", &["x"], &["b"], vec![])
        .output("a")
        .output("b");
    snap("transpose", m);
}

#[test]
fn identity_and_dropout() {
    let m = Model::new(13)
        .input("x", &[1, 4])
        .init_f32("ratio", &[], &[0.5])
        .node("Identity", "id", &["x"], &["a"], vec![])
        .node("Dropout", "drop", &["a", "ratio"], &["b"], vec![])
        .node("Dropout", "drop_plain", &["b"], &["c"], vec![])
        .output("c");
    snap("identity_and_dropout", m);
}

#[test]
fn pools() {
    let m = Model::new(13)
        .input("x", &[1, 2, 7, 7])
        .node(
            "MaxPool",
            "max",
            &["x"],
            &["a"],
            vec![
                a_ints("kernel_shape", &[3, 3]),
                a_ints("strides", &[2, 2]),
                a_int("ceil_mode", 1),
            ],
        )
        .node(
            "AveragePool",
            "avg",
            &["x"],
            &["b"],
            vec![
                a_ints("kernel_shape", &[2, 2]),
                a_ints("pads", &[1, 1, 1, 1]),
                a_int("count_include_pad", 1),
            ],
        )
        .node("GlobalAveragePool", "gap", &["x"], &["c"], vec![])
        .output("a")
        .output("b")
        .output("c");
    snap("pools", m);
}

/// MaxPool with `auto_pad=SAME_UPPER` and dilation follows the spec, where onnxruntime pads
/// otherwise (the README's limits say so): output `ceil(in / stride)`, total padding
/// `(out - 1) * stride + (k - 1) * dilation + 1 - in`, the odd one at the end.
#[test]
fn max_pool_same_upper_with_dilation_follows_the_spec() {
    // (plane, kernel, dilation, expected pads and output plane)
    for (hw, k, d, pads, out) in [
        // total (7 - 1) + (3 - 1) * 2 + 1 - 7 = 4: 2 before, 2 after.
        (7, 3, 2, "[2,2,2,2]", "f32[1,2,7,7]"),
        // total (6 - 1) + (2 - 1) * 3 + 1 - 6 = 3: 1 before, 2 after.
        (6, 2, 3, "[1,1,2,2]", "f32[1,2,6,6]"),
    ] {
        let m = Model::new(13)
            .input("x", &[1, 2, hw, hw])
            .node(
                "MaxPool",
                "max",
                &["x"],
                &["a"],
                vec![
                    a_str("auto_pad", "SAME_UPPER"),
                    a_ints("kernel_shape", &[k, k]),
                    a_ints("dilations", &[d, d]),
                ],
            )
            .output("a");
        let text = m.import().expect("import").graph.to_string();
        assert!(
            text.contains(&format!("pads: {pads}, dilation: {d}x{d}"))
                && text.contains(&format!("{out}  # \"max\"")),
            "{hw}x{hw} k{k} d{d}:\n{text}"
        );
    }
}

#[test]
fn activations_and_batchnorm() {
    let m = Model::new(13)
        .input("x", &[1, 2, 3, 3])
        .init_f32("scale", &[2], &[1.0, 2.0])
        .init_f32("bias", &[2], &[0.0, -1.0])
        .init_f32("mean", &[2], &[0.5, 0.25])
        .init_f32("var", &[2], &[1.0, 4.0])
        .node(
            "BatchNormalization",
            "bn",
            &["x", "scale", "bias", "mean", "var"],
            &["a"],
            vec![a_float("epsilon", 1e-3)],
        )
        .node(
            "HardSigmoid",
            "hsig",
            &["a"],
            &["b"],
            vec![a_float("alpha", 1.0 / 6.0)],
        )
        .node("HardSwish", "hswish", &["b"], &["c"], vec![])
        .node("Sigmoid", "sig", &["c"], &["d"], vec![])
        .output("d");
    snap("activations_and_batchnorm", m);
}

#[test]
fn unnamed_nodes_get_stable_names() {
    let m = Model::new(13)
        .input("x", &[1, 4])
        .node("Relu", "", &["x"], &["a"], vec![])
        .node("Relu", "", &["a"], &["y"], vec![])
        .output("y");
    snap("unnamed_nodes_get_stable_names", m);
}

#[test]
fn symbolic_batch_defaults_to_one_with_warning() {
    let m = Model::new(13)
        .input_sym("x", &[Dim::Sym("N"), Dim::Fixed(4)])
        .node("Relu", "relu", &["x"], &["y"], vec![])
        .output("y");
    snap("symbolic_batch_defaults_to_one_with_warning", m.clone());
    let pinned =
        ghostc::pipeline::import_bytes(&m.bytes(), &shapes(&[("x", &[3, 4])])).expect("pinned");
    assert!(pinned.warnings.is_empty());
    assert_eq!(pinned.graph.ty(pinned.graph.outputs[0].1).shape, vec![3, 4]);
}
