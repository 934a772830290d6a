//! Hostile inputs: the threat model's cases (ARCHITECTURE.md, "Threat model") that `errors.rs`
//! does not already pin with snapshots. Every model here is built by the test itself. Each case
//! runs through the whole compiler (import, passes, memory plan, emission) and must end in a
//! clear error or in correct, inert output, and never in a panic (caught and reported), an
//! abort, a hang (each case is timed) or an allocation beyond `alloc_meter::bound_for` the
//! model's size (crossing it aborts the binary).

#[path = "support/alloc_meter.rs"]
mod alloc_meter;
mod support;

#[global_allocator]
static ALLOC: alloc_meter::Meter = alloc_meter::Meter;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ghostc::analysis::memory;
use ghostc::back::{emit, lower, EmitOptions, WeightsMode};
use ghostc::front::proto::{AttributeProto, NodeProto, TensorProto};
use ghostc::pipeline::{import_bytes, run_passes, PassOptions};
use ghostc::{CompileOptions, ImportOptions};
use prost::Message;
use support::*;

/// Longest any single case may take (opt-level 1 on a loaded 2-core machine): a hang otherwise.
const HANG: Duration = Duration::from_secs(10);

/// How a compilation ended.
#[derive(Debug)]
enum Outcome {
    /// Generated Rust source.
    Compiled(String),
    /// The error message.
    Refused(String),
}

impl Outcome {
    fn refused(self, what: &str) -> String {
        match self {
            Outcome::Refused(msg) => msg,
            Outcome::Compiled(_) => panic!("{what}: compiled, but should have been refused"),
        }
    }

    fn compiled(self, what: &str) -> String {
        match self {
            Outcome::Compiled(src) => src,
            Outcome::Refused(msg) => panic!("{what}: refused: {msg}"),
        }
    }
}

/// Runs `f` (a compilation of a `len`-byte model) under the allocation bound and the clock;
/// a panic fails the test with its case name.
fn guarded(what: &str, len: usize, f: impl FnOnce() -> Outcome) -> Outcome {
    let t = Instant::now();
    let (r, _peak) = alloc_meter::bounded(alloc_meter::bound_for(len), || {
        catch_unwind(AssertUnwindSafe(f))
    });
    let dt = t.elapsed();
    assert!(dt < HANG, "{what}: took {dt:?}");
    match r {
        Ok(Outcome::Compiled(src)) => {
            assert_inert(what, &src);
            Outcome::Compiled(src)
        }
        Ok(refused) => refused,
        Err(_) => panic!("{what}: the compiler panicked"),
    }
}

/// The whole compiler on bytes in memory (external data refused), as the fuzz target runs it.
fn run(what: &str, bytes: &[u8]) -> Outcome {
    guarded(what, bytes.len(), || {
        let mut imported = match import_bytes(bytes, &ImportOptions::default()) {
            Ok(i) => i,
            Err(e) => return Outcome::Refused(e.to_string()),
        };
        let _ = imported.graph.to_string();
        if let Err(e) = run_passes(&mut imported.graph, &PassOptions::default(), &mut |_, _| {
            Ok(())
        }) {
            return Outcome::Refused(e.to_string());
        }
        let opts = EmitOptions {
            name: "Net".into(),
            weights_file: "net.weights.bin".into(),
            weights_mode: WeightsMode::File,
            header: Vec::new(),
            profile: true,
        };
        let plan = memory::plan(&imported.graph);
        match lower(&imported.graph, &plan).and_then(|k| emit(&imported.graph, &plan, &k, &opts)) {
            Ok(e) => Outcome::Compiled(e.source),
            Err(e) => Outcome::Refused(e.to_string()),
        }
    })
}

fn run_model(what: &str, m: &Model) -> Outcome {
    run(what, &m.bytes())
}

/// `ghostc::compile` on a model file (so external data is resolved against its folder).
fn compile_file(what: &str, path: &Path, opts: &CompileOptions) -> Outcome {
    let len = std::fs::metadata(path)
        .map(|m| m.len() as usize)
        .unwrap_or(0);
    guarded(what, len, || match ghostc::compile(path, opts) {
        Ok(c) => Outcome::Compiled(c.source),
        Err(e) => Outcome::Refused(e.to_string()),
    })
}

fn options() -> CompileOptions {
    CompileOptions {
        name: Some("Net".into()),
        weights_file: "model.weights.bin".into(),
        ..CompileOptions::default()
    }
}

/// The code of one generated line: without its `//` comment, string literals emptied.
fn code_part(line: &str) -> String {
    let (mut out, mut in_str, mut chars) = (String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (in_str, c) {
            (false, '/') if chars.peek() == Some(&'/') => break,
            (false, '"') => {
                in_str = true;
                out.push('"');
            }
            (true, '\\') => {
                chars.next();
            }
            (true, '"') => {
                in_str = false;
                out.push('"');
            }
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

/// Generated code may only compute: no `unsafe`, no items that reach outside the arena, inputs,
/// outputs and the embedded weights, and no text outside printable ASCII.
fn assert_inert(what: &str, src: &str) {
    for line in src.lines() {
        assert!(
            line.chars().all(|c| (' '..='~').contains(&c)),
            "{what}: generated line with a control or non-ASCII character: {line:?}"
        );
        let code = code_part(line);
        for banned in [
            "unsafe",
            "extern",
            "std::fs",
            "std::process",
            "std::net",
            "std::env",
            "include_str",
            "include!",
            "#[path",
            "asm!",
            "*/",
            "/*",
        ] {
            assert!(
                !code.contains(banned),
                "{what}: generated code contains `{banned}`: {line}"
            );
        }
    }
    // At most one file is embedded: the weights blob beside the source, named plainly.
    let includes: Vec<&str> = src.split("include_bytes!(\"").skip(1).collect();
    assert!(
        includes.len() <= 1,
        "{what}: {} include_bytes!",
        includes.len()
    );
    for rest in includes {
        let file = rest.split('"').next().unwrap_or_default();
        assert!(
            file.ends_with(".weights.bin") && !file.contains(['/', '\\']) && !file.starts_with('.'),
            "{what}: include_bytes! of {file:?}"
        );
    }
}

/// `x [1,4] -> Relu -> y`.
fn relu_model() -> Model {
    Model::new(13)
        .input("x", &[1, 4])
        .node("Relu", "relu", &["x"], &["y"], vec![])
        .output("y")
}

fn synthetic(case: &str) -> Vec<u8> {
    std::fs::read(
        workspace_root()
            .join("examples/synthetic")
            .join(case)
            .join("model.onnx"),
    )
    .expect("read synthetic model")
}

fn key(field: u64, wire_type: u64) -> Vec<u8> {
    varint(field << 3 | wire_type)
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

fn len_field(field: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = key(field, 2);
    out.extend(varint(payload.len() as u64));
    out.extend_from_slice(payload);
    out
}

// ---- not a model ------------------------------------------------------------------------------

#[test]
fn every_truncation_of_small_models() {
    for case in ["ghost_module", "stride2"] {
        let bytes = synthetic(case);
        for at in 0..bytes.len() {
            run(&format!("{case} cut at {at}"), &bytes[..at])
                .refused(&format!("{case} cut at {at}"));
        }
        run(case, &bytes).compiled(case);
    }
}

#[test]
fn random_bytes_of_every_size() {
    let mut rng = XorShift::new(0xbad);
    for len in 0..600usize {
        let bytes = rng.bytes(len);
        let _ = run(&format!("{len} random bytes"), &bytes);
    }
    // Random bytes behind a valid ModelProto prefix (ir_version, then a graph of noise).
    for len in 0..300usize {
        let mut bytes = key(1, 0);
        bytes.extend(varint(8));
        bytes.extend(len_field(7, &rng.bytes(len)));
        let _ = run(&format!("graph of {len} random bytes"), &bytes);
    }
}

#[test]
fn wrong_wire_types() {
    let base = relu_model().bytes();
    // (field, wire type, payload) appended to a valid ModelProto; protobuf merges repeated
    // occurrences, so the decoder meets the bad one after a good model.
    let cases: &[(u64, u64, &[u8])] = &[
        (7, 0, &[5]),             // graph as a varint
        (7, 5, &[0, 0, 0, 0]),    // graph as fixed32
        (8, 1, &[0; 8]),          // opset_import as fixed64
        (1, 2, &[2, 0, 0]),       // ir_version as bytes
        (2, 0, &[1]),             // producer_name as a varint
        (7, 3, &[]),              // start-group (deprecated)
        (7, 4, &[]),              // end-group without a start
        (7, 6, &[]),              // wire type 6 does not exist
        (7, 7, &[]),              // nor 7
        (0, 0, &[0]),             // field number 0
        ((1 << 29) + 1, 0, &[0]), // field number beyond 2^29
    ];
    for &(field, wt, payload) in cases {
        let mut bytes = base.clone();
        bytes.extend(key(field, wt));
        bytes.extend_from_slice(payload);
        let msg = run(&format!("field {field} wire type {wt}"), &bytes)
            .refused(&format!("field {field} wire type {wt}"));
        assert!(msg.contains("protobuf decoding failed"), "{msg}");
    }
    // Inside the graph: a node as fixed64, dims as a fixed32, a node's input as a varint.
    let graph = relu_model()
        .proto
        .graph
        .clone()
        .expect("graph")
        .encode_to_vec();
    let init = t_f32("w", &[2], &[1.0, 2.0]).encode_to_vec();
    let node = NodeProto {
        op_type: Some("Relu".into()),
        ..Default::default()
    }
    .encode_to_vec();
    for (what, graph_tail) in [
        ("node as fixed64", [key(1, 1), vec![0; 8]].concat()),
        (
            "dims as fixed32",
            len_field(5, &[init.clone(), key(1, 5), vec![1, 0, 0, 0]].concat()),
        ),
        (
            "node input as a varint",
            len_field(1, &[node.clone(), key(1, 0), vec![3]].concat()),
        ),
        (
            "attribute as fixed32",
            len_field(1, &[node, key(5, 5), vec![0; 4]].concat()),
        ),
        (
            "packed dims of truncated varints",
            len_field(5, &[init, len_field(1, &[0x80, 0x80])].concat()),
        ),
    ] {
        let mut m = relu_model();
        m.proto.graph = None;
        let mut bytes = m.bytes();
        bytes.extend(len_field(7, &[graph.clone(), graph_tail].concat()));
        let msg = run(what, &bytes).refused(what);
        assert!(msg.contains("protobuf decoding failed"), "{what}: {msg}");
    }
}

// ---- graph structure --------------------------------------------------------------------------

#[test]
fn node_reading_its_own_output() {
    let m = Model::new(13)
        .input("x", &[1, 4])
        .node("Add", "loop", &["x", "y"], &["y"], vec![])
        .output("y");
    let msg = run_model("self loop", &m).refused("self loop");
    assert!(msg.contains("cycle") && msg.contains("'loop'"), "{msg}");
}

#[test]
fn long_cycle() {
    let mut m = Model::new(13).input("x", &[1, 4]);
    let n = 5_000;
    for i in 0..n {
        let (a, b) = (format!("v{i}"), format!("v{}", (i + 1) % n));
        m = m.node("Relu", &format!("r{i}"), &[&a], &[&b], vec![]);
    }
    let msg = run_model("long cycle", &m.output("v0")).refused("long cycle");
    assert!(msg.contains("cycle"), "{msg}");
}

#[test]
fn dangling_values() {
    // A graph input nothing reads: compiled, the input still part of the API.
    let m = Model::new(13)
        .input("x", &[1, 4])
        .input("unused", &[1, 3])
        .node("Relu", "relu", &["x"], &["y"], vec![])
        .output("y");
    let src = run_model("unused input", &m).compiled("unused input");
    assert!(src.contains("unused: &[f32; Self::UNUSED_LEN]"), "{src}");
    // A node whose output nothing reads: compiled, the node dropped.
    let m = relu_model().node("Sigmoid", "dead", &["x"], &["z"], vec![]);
    let src = run_model("dead node", &m).compiled("dead node");
    assert!(!src.contains("sigmoid"), "{src}");
    // A node input naming nothing, and one naming a graph output that no node makes.
    let m = relu_model().node("Add", "add", &["y", "ghost"], &["z"], vec![]);
    let msg = run_model("dangling node input", &m.output("z")).refused("dangling node input");
    assert!(msg.contains("'ghost' is not defined"), "{msg}");
    // An empty output name is an omitted output, not a value called "".
    let m = Model::new(13)
        .input("x", &[1, 4])
        .node("Relu", "relu", &["x"], &[""], vec![])
        .output("");
    let msg = run_model("empty output name", &m).refused("empty output name");
    assert!(msg.contains("graph output '' is not produced"), "{msg}");
}

#[test]
fn duplicate_value_names() {
    // Not in errors.rs: a node output named like a graph input, and a graph output listed twice.
    let m = Model::new(13)
        .input("x", &[1, 4])
        .node("Relu", "relu", &["x"], &["x"], vec![])
        .output("x");
    let msg = run_model("output shadows input", &m).refused("output shadows input");
    assert!(msg.contains("'x' is defined more than once"), "{msg}");
    let src =
        run_model("output listed twice", &relu_model().output("y")).compiled("output listed twice");
    assert!(src.contains("y_2"), "{src}");
}

#[test]
fn missing_initializers() {
    // Every required operand of a Conv and a BatchNormalization left undefined in turn.
    let full = ["x", "w", "b"];
    for skip in 1..3 {
        let mut m = Model::new(13).input("x", &[1, 2, 4, 4]);
        if skip != 1 {
            m = m.init_rand("w", &[2, 2, 1, 1], 1);
        }
        if skip != 2 {
            m = m.init_rand("b", &[2], 2);
        }
        let m = m.node("Conv", "conv", &full, &["y"], vec![]).output("y");
        let msg = run_model("conv operand", &m).refused("conv operand");
        assert!(
            msg.contains(&format!("'{}' is not defined", full[skip])),
            "{msg}"
        );
    }
    let m = Model::new(15)
        .input("x", &[1, 2, 3, 3])
        .init_f32("s", &[2], &[1.0, 1.0])
        .node(
            "BatchNormalization",
            "bn",
            &["x", "s", "", "s", "s"],
            &["y"],
            vec![],
        )
        .output("y");
    let msg = run_model("bn operand", &m).refused("bn operand");
    assert!(msg.contains("required input 2 is missing"), "{msg}");
}

#[test]
fn long_chains_and_wide_nodes() {
    // 3000 nodes in a row: no recursion depth, no quadratic pass.
    let mut m = Model::new(13).input("x", &[1, 4]);
    let mut prev = "x".to_string();
    for i in 0..3_000 {
        let op = ["Relu", "Identity", "Sigmoid"][i % 3];
        let out = format!("v{i}");
        m = m.node(op, &format!("n{i}"), &[&prev], &[&out], vec![]);
        prev = out;
    }
    run_model("long chain", &m.output(&prev)).compiled("long chain");
    // More nodes than any CNN has: refused up front (planning memory is quadratic in values).
    let n = ghostc::front::MAX_NODES + 1;
    let mut m = Model::new(13).input("x", &[1, 4]);
    for i in 0..n {
        let (a, b) = (format!("v{i}"), format!("v{}", i + 1));
        m = m.node("Relu", "", &[if i == 0 { "x" } else { &a }], &[&b], vec![]);
    }
    let msg = run_model("too many nodes", &m.output(&format!("v{n}"))).refused("too many nodes");
    assert!(msg.contains("more than the 32768 supported"), "{msg}");
    // One Concat of 20 000 inputs (the same value).
    let ins = vec!["x"; 20_000];
    let m = Model::new(13)
        .input("x", &[1, 1])
        .node("Concat", "cat", &ins, &["y"], vec![a_int("axis", 1)])
        .output("y");
    run_model("wide concat", &m).compiled("wide concat");
}

// ---- dims -------------------------------------------------------------------------------------

#[test]
fn extreme_dims() {
    for dims in [
        vec![i64::MIN],
        vec![i64::MAX],
        vec![1, i64::MAX, 0],
        vec![0, 1 << 62, 1 << 62],
        vec![-1, -1],
        vec![1 << 32, 1 << 32],
    ] {
        let what = format!("initializer dims {dims:?}");
        let m = relu_model().init(t_f32("w", &dims, &[]));
        let _ = run_model(&what, &m);
        let what = format!("input dims {dims:?}");
        let m = Model::new(13)
            .input("x", &dims)
            .node("Relu", "relu", &["x"], &["y"], vec![])
            .output("y");
        let _ = run_model(&what, &m);
    }
    // Empty tensors whose other dims are huge, through ops that do arithmetic on dims.
    let huge = 1i64 << 40;
    let m = Model::new(13)
        .input("x", &[0, 2, huge, huge])
        .init_rand("w", &[2, 2, 3, 3], 1)
        .node(
            "Conv",
            "conv",
            &["x", "w"],
            &["c"],
            vec![a_ints("pads", &[1, 1, 1, 1]), a_ints("strides", &[2, 2])],
        )
        .node(
            "MaxPool",
            "pool",
            &["c"],
            &["p"],
            vec![a_ints("kernel_shape", &[3, 3]), a_int("ceil_mode", 1)],
        )
        .node("Concat", "cat", &["p", "p"], &["q"], vec![a_int("axis", 2)])
        .node("Flatten", "flat", &["q"], &["y"], vec![])
        .output("y");
    let _ = run_model("empty tensor with huge dims", &m);
    // Rank far beyond any CNN: refused (values of such rank would multiply memory per node).
    let dims = vec![1i64; 100_000];
    let mut m = Model::new(13).input("x", &dims);
    let mut prev = "x".to_string();
    for i in 0..200 {
        let out = format!("v{i}");
        m = m.node("Relu", &format!("n{i}"), &[&prev], &[&out], vec![]);
        prev = out;
    }
    let msg = run_model("rank 100000", &m.output(&prev)).refused("rank 100000");
    assert!(msg.contains("rank"), "{msg}");
}

// ---- Conv and Slice operands ------------------------------------------------------------------

#[test]
fn conv_geometry_contradictions() {
    let conv = |w: &[i64], attrs: Vec<AttributeProto>| {
        Model::new(13)
            .input("x", &[1, 4, 8, 8])
            .init_rand("w", w, 1)
            .node("Conv", "conv", &["x", "w"], &["y"], attrs)
            .output("y")
    };
    let cases: Vec<(&str, Model)> = vec![
        ("group 0", conv(&[4, 4, 3, 3], vec![a_int("group", 0)])),
        ("group -1", conv(&[4, 4, 3, 3], vec![a_int("group", -1)])),
        (
            "group max",
            conv(&[4, 4, 3, 3], vec![a_int("group", i64::MAX)]),
        ),
        ("group 3", conv(&[4, 4, 3, 3], vec![a_int("group", 3)])),
        ("weight rank 3", conv(&[4, 4, 3], vec![])),
        ("weight rank 5", conv(&[4, 4, 3, 3, 1], vec![])),
        (
            "kernel 0",
            conv(&[4, 4, 3, 3], vec![a_ints("kernel_shape", &[0, 0])]),
        ),
        (
            "kernel negative",
            conv(&[4, 4, 3, 3], vec![a_ints("kernel_shape", &[-3, -3])]),
        ),
        (
            "stride 0",
            conv(&[4, 4, 3, 3], vec![a_ints("strides", &[0, 1])]),
        ),
        (
            "dilation max",
            conv(&[4, 4, 3, 3], vec![a_ints("dilations", &[i64::MAX, 1])]),
        ),
        (
            "dilation 2^62",
            conv(
                &[4, 4, 3, 3],
                vec![a_ints("dilations", &[1 << 62, 1 << 62])],
            ),
        ),
        (
            "pads negative",
            conv(&[4, 4, 3, 3], vec![a_ints("pads", &[-1, 0, 0, 0])]),
        ),
        (
            "pads huge",
            conv(&[4, 4, 3, 3], vec![a_ints("pads", &[1 << 20; 4])]),
        ),
        (
            "pads of 3",
            conv(&[4, 4, 3, 3], vec![a_ints("pads", &[1, 1, 1])]),
        ),
        (
            "same pads, dilation max",
            conv(
                &[4, 4, 3, 3],
                vec![
                    a_str("auto_pad", "SAME_LOWER"),
                    a_ints("dilations", &[i64::MAX, i64::MAX]),
                ],
            ),
        ),
        (
            "bias of the wrong size",
            Model::new(13)
                .input("x", &[1, 4, 8, 8])
                .init_rand("w", &[4, 4, 3, 3], 1)
                .init_rand("b", &[5], 2)
                .node("Conv", "conv", &["x", "w", "b"], &["y"], vec![])
                .output("y"),
        ),
        (
            "integer weight",
            Model::new(13)
                .input("x", &[1, 4, 8, 8])
                .init_i64("w", &[4, 4, 1, 1], &[1; 16])
                .node("Conv", "conv", &["x", "w"], &["y"], vec![])
                .output("y"),
        ),
    ];
    for (what, m) in cases {
        let msg = run_model(what, &m).refused(what);
        assert!(msg.contains("'conv'"), "{what}: {msg}");
    }
    // Valid by the spec (one output row): compiled.
    for (what, attrs) in [
        ("stride max", vec![a_ints("strides", &[i64::MAX, 1])]),
        (
            "same pads, stride max",
            vec![
                a_str("auto_pad", "SAME_UPPER"),
                a_ints("strides", &[i64::MAX, 1]),
            ],
        ),
    ] {
        let src = run_model(what, &conv(&[4, 4, 3, 3], attrs)).compiled(what);
        assert!(
            src.contains("OUTPUT_SHAPE: [usize; 4] = [1, 4, 1,"),
            "{what}:\n{src}"
        );
    }
}

/// `x [1,8] -> Slice(starts, ends, axes, steps) -> y`, operands as initializers.
fn slice_model(starts: i64, ends: i64, axis: i64, step: i64) -> Model {
    Model::new(13)
        .input("x", &[1, 8])
        .init_i64("starts", &[1], &[starts])
        .init_i64("ends", &[1], &[ends])
        .init_i64("axes", &[1], &[axis])
        .init_i64("steps", &[1], &[step])
        .node(
            "Slice",
            "slice",
            &["x", "starts", "ends", "axes", "steps"],
            &["y"],
            vec![],
        )
        .output("y")
}

#[test]
fn slice_operands_out_of_range() {
    // In-range or clamped per the spec: compiled, with the spec's output length.
    let (min, max) = (i64::MIN, i64::MAX);
    for (s, e, step, len) in [
        (min, max, 1, 8),
        (max, min, -1, 8),
        (0, max, max, 1),
        (max, min, min, 1),
        (min, max, min, 0),
        (-100, 100, 3, 3),
        (100, -100, -3, 3),
        (4, 4, 1, 0),
        (7, 0, 1, 0),
        (min, min, -1, 1),
    ] {
        let what = format!("slice {s}..{e} step {step}");
        let src = run_model(&what, &slice_model(s, e, 1, step)).compiled(&what);
        assert!(
            src.contains(&format!("OUTPUT_SHAPE: [usize; 2] = [1, {len}]")),
            "{what}: expected length {len}:\n{src}"
        );
    }
    // Refused: zero step, axes out of range, an axis twice, mismatched operand lengths.
    for (what, m) in [
        ("step 0 at the extremes", slice_model(min, max, 1, 0)),
        ("axis 2", slice_model(0, 1, 2, 1)),
        ("axis -3", slice_model(0, 1, -3, 1)),
        ("axis min", slice_model(0, 1, min, 1)),
        (
            "axis twice",
            Model::new(13)
                .input("x", &[1, 8])
                .init_i64("s", &[2], &[0, 0])
                .init_i64("e", &[2], &[1, 1])
                .init_i64("a", &[2], &[1, -1])
                .node("Slice", "slice", &["x", "s", "e", "a"], &["y"], vec![])
                .output("y"),
        ),
        (
            "operands of different lengths",
            Model::new(13)
                .input("x", &[1, 8])
                .init_i64("s", &[2], &[0, 0])
                .init_i64("e", &[1], &[1])
                .node("Slice", "slice", &["x", "s", "e"], &["y"], vec![])
                .output("y"),
        ),
    ] {
        let msg = run_model(what, &m).refused(what);
        assert!(msg.contains("'slice'"), "{what}: {msg}");
    }
    // The same on a compile-time constant (the front end folds it).
    for step in [min, max, -1, 0] {
        let what = format!("constant slice step {step}");
        let m = Model::new(13)
            .input("x", &[1, 4])
            .init_i64("c", &[4], &[1, 4, 1, 1])
            .init_i64("starts", &[1], &[max])
            .init_i64("ends", &[1], &[min])
            .init_i64("steps", &[1], &[step])
            .init_i64("axes", &[1], &[0])
            .node(
                "Slice",
                "slice",
                &["c", "starts", "ends", "axes", "steps"],
                &["shape"],
                vec![],
            )
            .node("Reshape", "reshape", &["x", "shape"], &["y"], vec![])
            .output("y");
        let _ = run_model(&what, &m);
    }
}

// ---- allocation bounds ------------------------------------------------------------------------

#[test]
fn initializers_claiming_gigabytes() {
    // 2^31 elements, the most any value may have: 8 GiB of f32 (16 GiB as i64 or f64).
    let gig = [1i64 << 29, 4];
    let big = |t: TensorProto| relu_model().init(t);
    for (what, t) in [
        ("raw_data", t_f32("w", &gig, &[1.0])),
        ("float_data", t_float_data("w", &gig, &[1.0])),
        ("int64_data", t_int64_data("w", &gig, &[1])),
        ("double_data", t_double_data("w", &gig, &[1.0])),
        (
            "float16 in int32_data",
            t_int32_data("w", &gig, FLOAT16, &[0]),
        ),
        ("no data at all", t_f32("w", &[1 << 31], &[])),
        (
            "just under the element limit",
            t_f32("w", &[(1 << 31) - 1], &[0.0; 16]),
        ),
    ] {
        let msg = run_model(what, &big(t)).refused(what);
        assert!(msg.contains("tensor 'w'"), "{what}: {msg}");
    }
    // The same tensor as a Constant node's value.
    let m = Model::new(13)
        .input("x", &[1, 4])
        .node(
            "Constant",
            "c",
            &[],
            &["c"],
            vec![a_tensor("value", t_f32("", &gig, &[1.0]))],
        )
        .node("Add", "add", &["x", "c"], &["y"], vec![])
        .output("y");
    run_model("constant node", &m).refused("constant node");
}

#[test]
fn folded_constants_are_bounded_in_total() {
    // Each ConstantOfShape stays under the per-node limit (2^26 elements); together they
    // would hold gigabytes.
    let mut m = Model::new(13)
        .input("x", &[1, 4])
        .init_i64("shape", &[1], &[1 << 25]);
    for i in 0..40 {
        m = m.node(
            "ConstantOfShape",
            &format!("c{i}"),
            &["shape"],
            &[&format!("c{i}")],
            vec![],
        );
    }
    let msg = run_model("many ConstantOfShape", &m.output("c0")).refused("many ConstantOfShape");
    assert!(msg.contains("fold"), "{msg}");
    // One folded constant concatenated with itself 4096 times, and cloned by an Identity chain.
    let one = Model::new(13)
        .input("x", &[1, 4])
        .init_i64("shape", &[1], &[1 << 20])
        .node("ConstantOfShape", "c", &["shape"], &["c"], vec![]);
    let ins = vec!["c"; 4096];
    let m = one
        .clone()
        .node("Concat", "cat", &ins, &["big"], vec![a_int("axis", 0)])
        .output("big");
    let msg = run_model("self concat", &m).refused("self concat");
    assert!(msg.contains("'cat'"), "{msg}");
    let mut m = one;
    let mut prev = "c".to_string();
    for i in 0..2_000 {
        let out = format!("id{i}");
        m = m.node("Identity", &format!("id{i}"), &[&prev], &[&out], vec![]);
        prev = out;
    }
    let msg = run_model("identity clones", &m.output(&prev)).refused("identity clones");
    assert!(msg.contains("fold"), "{msg}");
}

#[test]
fn constant_subgraphs_of_runtime_ops_stay_cheap() {
    // Run-time ops whose operands are all constants are evaluated by `simplify`; a tiny file
    // must not make that evaluation allocate gigabytes or run for minutes.
    let m = Model::new(13)
        .input("x", &[1, 1, 1, 1])
        .init_f32("c", &[1, 1, 1, 1], &[1.0])
        .init_f32("scales", &[4], &[1.0, 1.0, 40_000.0, 40_000.0])
        .node("Resize", "up", &["c", "", "scales"], &["big"], vec![])
        .node(
            "ReduceMean",
            "mean",
            &["big"],
            &["m"],
            vec![a_int("keepdims", 1)],
        )
        .node("Add", "add", &["x", "m"], &["y"], vec![])
        .output("y");
    // Left a run-time Resize (its output would be 1.6e9 elements): the model asks for that.
    run_model("constant resize", &m).compiled("constant resize");
    // A conv of two folded constants (100 K elements) costing 71 M multiply-adds.
    let m = Model::new(13)
        .input("x", &[1, 1, 1, 1])
        .init_i64("xs", &[4], &[1, 8, 64, 64])
        .init_i64("ws", &[4], &[8, 8, 31, 31])
        .node(
            "ConstantOfShape",
            "cx",
            &["xs"],
            &["cx"],
            vec![a_tensor("value", t_f32("", &[1], &[1.0]))],
        )
        .node(
            "ConstantOfShape",
            "cw",
            &["ws"],
            &["cw"],
            vec![a_tensor("value", t_f32("", &[1], &[1.0]))],
        )
        .node("Conv", "conv", &["cx", "cw"], &["big"], vec![])
        .node("GlobalAveragePool", "gap", &["big"], &["g"], vec![])
        .node(
            "ReduceMean",
            "mean",
            &["g"],
            &["m"],
            vec![a_int("keepdims", 1)],
        )
        .node("Add", "add", &["x", "m"], &["y"], vec![])
        .output("y");
    let src = run_model("constant conv", &m).compiled("constant conv");
    assert!(src.contains("conv"), "{src}");
}

// ---- attributes -------------------------------------------------------------------------------

/// `relu_model()` plus a node `z = Relu(x)` whose attribute holds a graph whose node holds a
/// graph ... `depth` deep (If/Loop bodies are graphs). Built as bytes, without recursion.
fn nested(depth: usize) -> Vec<u8> {
    let mut graph = Vec::new();
    for level in 0..depth {
        let mut attr = len_field(1, b"body");
        attr.extend(key(20, 0));
        attr.extend(varint(5)); // AttributeProto.GRAPH
        attr.extend(len_field(6, &graph));
        let mut node = Vec::new();
        if level + 1 == depth {
            node.extend(len_field(1, b"x"));
            node.extend(len_field(2, b"z"));
        }
        node.extend(len_field(4, b"Relu"));
        node.extend(len_field(5, &attr));
        graph = len_field(1, &node);
    }
    // A repeated message field merges: this appends the node to the model's graph.
    [relu_model().bytes(), len_field(7, &graph)].concat()
}

#[test]
fn deeply_nested_attributes() {
    // Past the decoder's recursion limit: a decoding error, not a stack overflow.
    for depth in [40, 1_000, 20_000] {
        let msg = run(&format!("nested {depth}"), &nested(depth)).refused("nested");
        assert!(msg.contains("recursion limit"), "{msg}");
    }
    // Under it: decoded, the unknown attribute ignored, the dead node dropped.
    run("nested 20", &nested(20)).compiled("nested 20");
    // Sequences of sequences of ... as the type of a second graph input.
    let mut ty = Vec::new();
    for _ in 0..20_000 {
        ty = len_field(4, &len_field(1, &ty)); // TypeProto.sequence_type.elem_type
    }
    let input = [len_field(1, b"deep"), len_field(2, &ty)].concat();
    let bytes = [relu_model().bytes(), len_field(7, &len_field(11, &input))].concat();
    let msg = run("nested types", &bytes).refused("nested types");
    assert!(msg.contains("recursion limit"), "{msg}");
}

#[test]
fn enormous_attribute_lists() {
    let n = 200_000usize;
    let many: Vec<i64> = (0..n as i64).collect();
    let ones = vec![1i64; n];
    let cases: Vec<(&str, Model)> = vec![
        (
            "unsqueeze axes",
            Model::new(11)
                .input("x", &[1, 4])
                .node(
                    "Unsqueeze",
                    "op",
                    &["x"],
                    &["y"],
                    vec![a_ints("axes", &many)],
                )
                .output("y"),
        ),
        (
            "unsqueeze axes as a constant",
            Model::new(13)
                .input("x", &[1, 4])
                .init_i64("axes", &[n as i64], &many)
                .node("Unsqueeze", "op", &["x", "axes"], &["y"], vec![])
                .output("y"),
        ),
        (
            "squeeze axes",
            Model::new(11)
                .input("x", &[1, 4])
                .node("Squeeze", "op", &["x"], &["y"], vec![a_ints("axes", &many)])
                .output("y"),
        ),
        (
            "transpose perm",
            Model::new(13)
                .input("x", &[1, 4])
                .node(
                    "Transpose",
                    "op",
                    &["x"],
                    &["y"],
                    vec![a_ints("perm", &many)],
                )
                .output("y"),
        ),
        (
            "reshape to rank 200000",
            Model::new(13)
                .input("x", &[1, 4])
                .init_i64("s", &[n as i64], &[&ones[1..], &[4]].concat())
                .node("Reshape", "op", &["x", "s"], &["y"], vec![])
                .output("y"),
        ),
        (
            "pads",
            Model::new(13)
                .input("x", &[1, 4, 8, 8])
                .node(
                    "MaxPool",
                    "op",
                    &["x"],
                    &["y"],
                    vec![a_ints("kernel_shape", &[3, 3]), a_ints("pads", &ones)],
                )
                .output("y"),
        ),
        (
            "split into 200000",
            Model::new(13)
                .input("x", &[1, 4])
                .node(
                    "Split",
                    "op",
                    &["x"],
                    &std::iter::once("y")
                        .chain(std::iter::repeat_n("", n - 1))
                        .collect::<Vec<_>>(),
                    vec![a_int("axis", 1)],
                )
                .output("y"),
        ),
        (
            "slice of 200000 axes",
            Model::new(13)
                .input("x", &[1, 4])
                .init_i64("s", &[n as i64], &vec![0; n])
                .init_i64("e", &[n as i64], &ones)
                .init_i64("a", &[n as i64], &many)
                .node("Slice", "op", &["x", "s", "e", "a"], &["y"], vec![])
                .output("y"),
        ),
    ];
    for (what, m) in cases {
        let msg = run_model(what, &m).refused(what);
        assert!(msg.contains("'op'"), "{what}: {msg}");
    }
    // 100 000 attributes on one node, and one float list of a million: read once, ignored.
    let attrs: Vec<AttributeProto> = (0..100_000).map(|i| a_int(&format!("a{i}"), i)).collect();
    let m = Model::new(13)
        .input("x", &[1, 4])
        .node("Relu", "op", &["x"], &["y"], attrs)
        .node(
            "Sigmoid",
            "op2",
            &["y"],
            &["z"],
            vec![a_floats("junk", &vec![0.5; 1_000_000])],
        )
        .output("z");
    run_model("many attributes", &m).compiled("many attributes");
}

// ---- external data ----------------------------------------------------------------------------

/// `relu_model()` plus an f32 [4] initializer `w` added to the output, stored at `location`.
fn external_model(dir: &Path, location: &str, offset: Option<u64>, length: Option<u64>) -> PathBuf {
    Model::new(13)
        .input("x", &[1, 4])
        .init(t_external("w", &[4], FLOAT, location, offset, length))
        .node("Add", "add", &["x", "w"], &["y"], vec![])
        .output("y")
        .write_to(dir)
}

fn weights_bytes() -> Vec<u8> {
    [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

#[test]
fn external_data_inside_the_folder_is_read() {
    let dir = temp_dir("hostile_external_ok");
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    std::fs::write(dir.join("w.bin"), weights_bytes()).expect("write");
    std::fs::write(
        dir.join("sub/w.bin"),
        [vec![0u8; 8], weights_bytes()].concat(),
    )
    .expect("write");
    for (loc, off) in [
        ("w.bin", None),
        ("./w.bin", None),
        ("sub/w.bin", Some(8)),
        ("sub/./w.bin", Some(8)),
    ] {
        let path = external_model(&dir, loc, off, Some(16));
        compile_file(loc, &path, &options()).compiled(loc);
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.join("w.bin"), dir.join("link.bin")).expect("symlink");
        let path = external_model(&dir, "link.bin", None, None);
        compile_file("symlink inside", &path, &options()).compiled("symlink inside");
    }
}

#[test]
fn external_data_refusals() {
    let dir = temp_dir("hostile_external_refused");
    let model = dir.join("model");
    std::fs::create_dir_all(model.join("folder")).expect("mkdir");
    std::fs::write(model.join("w.bin"), weights_bytes()).expect("write");
    // (case, location, offset, length, part of the message)
    type Case<'a> = (&'a str, &'a str, Option<u64>, Option<u64>, &'a str);
    let cases: &[Case] = &[
        (
            "offset beyond u64",
            "w.bin",
            Some(u64::MAX),
            None,
            "beyond the end",
        ),
        (
            "offset past the end",
            "w.bin",
            Some(8),
            None,
            "beyond the end",
        ),
        (
            "length of gigabytes",
            "w.bin",
            None,
            Some(1 << 34),
            "does not match",
        ),
        ("a directory", "folder", None, None, "not a regular file"),
        ("empty location", "", None, None, "relative path"),
        ("the folder itself", ".", None, None, "not a regular file"),
        (
            "NUL in the location",
            "w.bin\0/../../etc/passwd",
            None,
            None,
            "relative path",
        ),
        ("NUL alone", "w.bin\0", None, None, "w.bin"),
        ("/dev/zero", "/dev/zero", None, None, "relative path"),
        (
            "/proc/self/mem",
            "/proc/self/mem",
            None,
            None,
            "relative path",
        ),
        (
            "backslash escape",
            "..\\..\\w.bin",
            None,
            None,
            "cannot open",
        ),
    ];
    for &(what, location, offset, length, needle) in cases {
        let path = external_model(&model, location, offset, length);
        let msg = compile_file(what, &path, &options()).refused(what);
        assert!(
            msg.contains("external data for initializer 'w'") && msg.contains(needle),
            "{what}: {msg}"
        );
    }
    // Offset and length that are not numbers.
    let m = Model::new(13)
        .input("x", &[1, 4])
        .init(TensorProto {
            external_data: vec![entry("location", "w.bin"), entry("offset", "-1")],
            ..t_external("w", &[4], FLOAT, "w.bin", None, None)
        })
        .node("Add", "add", &["x", "w"], &["y"], vec![])
        .output("y");
    let msg = compile_file("offset -1", &m.write_to(&model), &options()).refused("offset -1");
    assert!(msg.contains("offset '-1' is not a number"), "{msg}");
    // Gigabytes claimed by the dims, a 16-byte file: refused before reading or allocating.
    let m = Model::new(13)
        .input("x", &[1, 4])
        .init(t_external("w", &[1 << 29, 4], FLOAT, "w.bin", None, None))
        .node("Add", "add", &["x", "w"], &["y"], vec![])
        .output("y");
    let msg =
        compile_file("gigabyte dims", &m.write_to(&model), &options()).refused("gigabyte dims");
    assert!(msg.contains("beyond the end"), "{msg}");
}

#[test]
fn external_data_is_read_at_most_once() {
    // Two tensors over disjoint halves of one file: read.
    let dir = temp_dir("hostile_external_twice");
    std::fs::write(
        dir.join("w.bin"),
        [weights_bytes(), weights_bytes()].concat(),
    )
    .expect("write");
    let two = |second_offset: u64| {
        Model::new(13)
            .input("x", &[1, 4])
            .init(t_external("a", &[4], FLOAT, "w.bin", Some(0), Some(16)))
            .init(t_external(
                "b",
                &[4],
                FLOAT,
                "w.bin",
                Some(second_offset),
                Some(16),
            ))
            .node("Add", "add", &["x", "a"], &["t"], vec![])
            .node("Add", "add2", &["t", "b"], &["y"], vec![])
            .output("y")
    };
    let path = two(16).write_to(&dir);
    compile_file("disjoint", &path, &options()).compiled("disjoint");
    // The same bytes twice: one 32-byte file cannot feed 48 bytes of tensors.
    let m = two(0).init(t_external("c", &[4], FLOAT, "w.bin", Some(0), Some(16)));
    let msg = compile_file("read thrice", &m.write_to(&dir), &options()).refused("read thrice");
    assert!(
        msg.contains("initializer 'c'") && msg.contains("read twice"),
        "{msg}"
    );
    // A thousand names for one weights file: refused after the first reads.
    let mut m = Model::new(13).input("x", &[1, 4]);
    for i in 0..1_000 {
        m = m.init(t_external(
            &format!("w{i}"),
            &[8],
            FLOAT,
            "w.bin",
            None,
            None,
        ));
    }
    let m = m.node("Relu", "relu", &["x"], &["y"], vec![]).output("y");
    let msg = compile_file("read 1000 times", &m.write_to(&dir), &options()).refused("1000");
    assert!(
        msg.contains("initializer 'w1'") && msg.contains("read twice"),
        "{msg}"
    );
}

#[cfg(unix)]
#[test]
fn external_data_symlinked_folder_and_fifo() {
    let dir = temp_dir("hostile_external_links");
    let model = dir.join("model");
    std::fs::create_dir_all(dir.join("outside")).expect("mkdir");
    std::fs::create_dir_all(&model).expect("mkdir");
    std::fs::write(dir.join("outside/w.bin"), weights_bytes()).expect("write");
    // A folder inside the model's folder that is a link to one outside it.
    std::os::unix::fs::symlink(dir.join("outside"), model.join("sub")).expect("symlink");
    let path = external_model(&model, "sub/w.bin", None, None);
    let msg = compile_file("symlinked folder", &path, &options()).refused("symlinked folder");
    assert!(msg.contains("resolves outside the model's folder"), "{msg}");
    // A link chain that leaves and comes back is judged by where it ends (inside: read).
    std::fs::write(model.join("w.bin"), weights_bytes()).expect("write");
    std::os::unix::fs::symlink(model.join("w.bin"), dir.join("outside/back.bin")).expect("symlink");
    let path = external_model(&model, "sub/back.bin", None, None);
    compile_file("link back inside", &path, &options()).compiled("link back inside");
    // A FIFO would block the open forever: refused as not a regular file.
    let fifo = model.join("pipe.bin");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo failed");
    let path = external_model(&model, "pipe.bin", None, None);
    let msg = compile_file("fifo", &path, &options()).refused("fifo");
    assert!(msg.contains("not a regular file"), "{msg}");
}

// ---- names ------------------------------------------------------------------------------------

/// Names no generated identifier, string or comment may carry raw.
const EVIL: &[&str] = &[
    "quote\"d",
    "end */ comment",
    "new\nline",
    "\n}\nfn evil() { std::process::exit(1) }\n//",
    "bidi\u{202e}txt",
    "r#fn",
    "__ghostc_note!(0);",
    "\\u{a}",
    "\0nul",
    "🦀",
];

/// A model whose every name is hostile: graph name, inputs and outputs (two of each sanitising
/// to the same identifier, plus Rust keywords), initializers and nodes.
fn evil_model() -> Model {
    let mut m = Model::new(13);
    m.graph().name = Some("graph */ \u{202e} \"name\"\n".into());
    m = m
        .input("a.b", &[1, 4])
        .input("a_b", &[1, 4])
        .input("fn", &[1, 4])
        .input("self", &[1, 4]);
    let mut prev = "a.b".to_string();
    for (i, name) in EVIL.iter().enumerate() {
        let (w, out) = (format!("{name} weight"), format!("{name}{i}"));
        m = m.init_f32(&w, &[1, 4], &[0.5, -0.5, 0.25, 1.0]).node(
            "Add",
            name,
            &[&prev, &w],
            &[&out],
            vec![],
        );
        prev = out;
    }
    m.node("Add", "Self", &[&prev, "a_b"], &["t"], vec![])
        .node("Mul", "impl", &["t", "fn"], &["u"], vec![])
        .node("Sub", "*/", &["u", "self"], &["out-1"], vec![])
        .node("Relu", "\"", &["out-1"], &["out_1"], vec![])
        .output("out-1")
        .output("out_1")
}

#[test]
fn hostile_names_are_sanitised() {
    let dir = temp_dir("hostile_names");
    let path = evil_model().write_to(&dir);
    for (name, profile) in [("Net", false), ("Net", true), ("self */ \"\n", false)] {
        let opts = CompileOptions {
            name: Some(name.into()),
            profile,
            ..options()
        };
        let src = compile_file("evil names", &path, &opts).compiled("evil names");
        // No ONNX string appears raw: only escaped, in `//` comments, docs or string literals.
        for evil in EVIL
            .iter()
            .filter(|e| e.contains(|c: char| !c.is_ascii_alphanumeric()))
        {
            for line in src.lines() {
                assert!(
                    !code_part(line).contains(evil),
                    "{evil:?} appears raw in code: {line}"
                );
            }
        }
        for line in src.lines() {
            assert!(!code_part(line).contains("evil"), "injected code: {line}");
        }
        // Identifiers that sanitise alike are told apart; keywords are suffixed.
        for ident in ["a_b:", "a_b_2:", "fn_:", "self_:", "out_1:", "out_1_2:"] {
            assert!(src.contains(ident), "{ident} missing from:\n{src}");
        }
    }
}

/// `--emit dot` quotes node names in labels: escaped, so every string closes on its own line
/// and no name adds attributes (such as `image=`, which Graphviz reads from disk).
#[test]
fn hostile_names_stay_inside_dot_labels() {
    let g = evil_model().import().expect("import").graph;
    let dot = ghostc::ir::dot::to_dot(&g);
    for line in dot.lines() {
        let mut quotes = 0;
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => quotes += 1,
                _ => {}
            }
        }
        assert!(quotes % 2 == 0, "unbalanced quotes: {line}");
        assert!(!code_part(line).contains("evil"), "{line}");
    }
    assert!(dot
        .lines()
        .all(|l| l.starts_with("  ") || l.starts_with("digraph") || l == "}"));
}

/// A model whose input name and symbolic batch dim (both quoted in a warning) try to start cargo
/// directives of their own.
fn directive_injection_model() -> Model {
    Model::new(13)
        .input_sym(
            "x\ncargo:rustc-link-arg=-Wl,--evil",
            &[
                Dim::Sym("b\ncargo:rustc-env=EVIL=1\r\ncargo:rustc-cfg=evil"),
                Dim::Fixed(4),
            ],
        )
        .node(
            "Relu",
            "relu",
            &["x\ncargo:rustc-link-arg=-Wl,--evil"],
            &["y"],
            vec![],
        )
        .output("y")
}

/// `Builder::build` talks to cargo on stdout: a build script's `cargo:` lines are directives.
/// The test re-runs itself as a child (its stdout uncaptured) to read exactly what a build
/// script would print.
#[test]
fn builder_output_cannot_inject_cargo_directives() {
    if let Some(dir) = std::env::var_os("GHOSTC_HOSTILE_BUILDER_DIR") {
        let dir = PathBuf::from(dir);
        let built = ghostc::Builder::new(directive_injection_model().write_to(&dir))
            .name("Net")
            .out_dir(&dir)
            .build()
            .expect("build");
        assert_eq!(built.warnings.len(), 1);
        return;
    }
    let dir = temp_dir("hostile_builder_directives");
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "builder_output_cannot_inject_cargo_directives",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("GHOSTC_HOSTILE_BUILDER_DIR", &dir)
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // (libtest prints its own text before the first line: look for it anywhere.)
    assert!(stdout.contains("cargo:rerun-if-changed="), "{stdout}");
    let directives: Vec<&str> = stdout
        .split(['\n', '\r'])
        .filter(|l| l.trim_start().starts_with("cargo:"))
        .collect();
    assert_eq!(directives.len(), 1, "{directives:#?}");
    assert!(
        directives[0].starts_with("cargo:warning=ghostc: input 'x\\u{a}cargo:rustc-link-arg"),
        "{directives:#?}"
    );
}

#[test]
fn hostile_file_name_stays_in_its_comment() {
    let dir = temp_dir("hostile_file_name");
    let path = dir.join("we\nird *\\ \u{202e} \"x\".onnx");
    std::fs::write(&path, relu_model().bytes()).expect("write");
    let opts = CompileOptions {
        name: None,
        ..options()
    };
    let src = compile_file("file name", &path, &opts).compiled("file name");
    assert!(
        src.contains("model: we\\u{a}ird *\\\\ \\u{202e} \"x\".onnx"),
        "{src}"
    );
}

/// Compiles `model` with `ghostc::compile_to` into a fresh crate `tag` (also its package name:
/// crates sharing the target folder must not share a binary) whose only dependency is
/// `ghostc-runtime`, with `main` as its `fn main` body, builds it with warnings denied and
/// `unsafe` forbidden, runs it and returns its stdout.
fn run_in_fresh_crate(tag: &str, model: &Model, main: &str) -> String {
    let dir = temp_dir(tag);
    let model_dir = dir.join("model");
    std::fs::create_dir_all(&model_dir).expect("mkdir");
    let path = model.write_to(&model_dir);
    let src = dir.join("src/generated.rs");
    let (compiled, _) = ghostc::compile_to(&path, &src, &options()).expect("compile");
    assert_inert(tag, &compiled.source);
    let runtime = workspace_root().join("runtime");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{tag}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[dependencies]\nghostc-runtime = {{ path = {:?} }}\n\n[workspace]\n",
            runtime.display().to_string()
        ),
    )
    .expect("write Cargo.toml");
    std::fs::write(
        dir.join("src/main.rs"),
        format!(
            "#![forbid(unsafe_code)]\ninclude!(\"generated.rs\");\n\nfn main() {{\n{main}\n}}\n"
        ),
    )
    .expect("write main.rs");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fresh_crates_target");
    let out = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--offline", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTFLAGS", "-D warnings")
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "{tag}: fresh crate failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The hostile-names model in a fresh crate: the generated source parses, its identifiers are
/// distinct, and it computes what the model says.
#[test]
fn hostile_names_build_in_a_fresh_crate() {
    let stdout = run_in_fresh_crate(
        "hostile_names_crate",
        &evil_model(),
        "    let (mut y1, mut y2) = ([0f32; 4], [0f32; 4]);
    Net::new().run(&[1.0; 4], &[2.0; 4], &[3.0; 4], &[4.0; 4], &mut y1, &mut y2);
    println!(\"{:?} {:?}\", y1, y2);",
    );
    // ((a.b + the ten weights) + a_b) * fn - self, and its relu: each input where it belongs.
    assert_eq!(stdout, "[20.0, -10.0, 12.5, 35.0] [20.0, 0.0, 12.5, 35.0]");
}

/// Empty values at run time (a Slice that takes nothing, ops on it, a Concat with it).
#[test]
fn empty_tensors_at_run_time() {
    let m = Model::new(13)
        .input("x", &[1, 4])
        .init_i64("s", &[1], &[2])
        .init_i64("a", &[1], &[1])
        .node(
            "Slice",
            "take_nothing",
            &["x", "s", "s", "a"],
            &["e"],
            vec![],
        )
        .node("Relu", "relu", &["e"], &["r"], vec![])
        .node("Add", "add", &["r", "e"], &["sum"], vec![])
        .node(
            "Concat",
            "cat",
            &["sum", "x", "r"],
            &["y"],
            vec![a_int("axis", 1)],
        )
        .node("Mul", "mul", &["e", "e"], &["z"], vec![])
        .output("y")
        .output("z");
    let stdout = run_in_fresh_crate(
        "hostile_empty_crate",
        &m,
        "    let (mut y, mut z) = ([0f32; 4], [0f32; 0]);
    Net::new().run(&[1.0, -2.0, 3.0, -4.0], &mut y, &mut z);
    println!(\"{:?} {:?}\", y, z);",
    );
    assert_eq!(stdout, "[1.0, -2.0, 3.0, -4.0] []");
}

#[test]
fn hostile_constructs_compile_into_inert_code() {
    // Every synthetic model: the generated code only computes (see `assert_inert`).
    for case in [
        "ghost_module",
        "ghost_module_odd",
        "stride2",
        "ghost_bottleneck_se",
        "mixed_ops",
    ] {
        run(case, &synthetic(case)).compiled(case);
    }
    // A huge weight count does not turn the source into a huge file: weights go to the blob.
    let m = Model::new(13)
        .input("x", &[1, 64, 32, 32])
        .init_rand("w", &[64, 64, 3, 3], 3)
        .node(
            "Conv",
            "conv",
            &["x", "w"],
            &["y"],
            vec![a_ints("pads", &[1, 1, 1, 1])],
        )
        .output("y");
    let src = run_model("weights", &m).compiled("weights");
    assert!(src.len() < 64 * 1024, "source of {} bytes", src.len());
}

// ---- fuzz findings ----------------------------------------------------------------------------

/// Found reading `ops/eval.rs` after the finding below: Resize from an input with no rows or columns
/// to a non-empty size (sizes given, as scales cannot grow 0) had nothing to sample, and the
/// interpreter and the kernel would both index before the start. Refused by shape inference.
#[test]
fn resize_of_an_empty_input() {
    let resize = |m: Model, x: &str| {
        m.init_i64("sizes", &[4], &[1, 1, 2, 2]).node(
            "Resize",
            "up",
            &[x, "", "", "sizes"],
            &["r"],
            vec![],
        )
    };
    let runtime = resize(Model::new(13).input("x", &[1, 1, 0, 4]), "x").output("r");
    let constant = resize(
        Model::new(13)
            .input("x", &[1, 1, 2, 2])
            .init_f32("c", &[1, 1, 0, 4], &[]),
        "c",
    )
    .node("Add", "add", &["x", "r"], &["y"], vec![])
    .output("y");
    for (what, m) in [("run-time", runtime), ("constant", constant)] {
        let msg = run_model(what, &m).refused(what);
        assert!(msg.contains("nothing to sample"), "{what}: {msg}");
    }
}

/// `graph` target, second 30-minute run (two "slow units"): ConstantOfShape of 16.7 M elements,
/// under the fold budget as it was (2^24), as a graph output: 64 MiB of weights from a 200-byte
/// model, 20 s and 1 GiB to emit inline. The budget is now 2^20 elements beyond the file's size.
#[test]
fn fuzz_folded_constants_stay_small() {
    let fill = |n: i64| {
        Model::new(12)
            .input("x", &[1, 8, 2, 2])
            .init_i64("shape", &[1], &[n])
            .node("ConstantOfShape", "fill", &["shape"], &["y"], vec![])
            .output("y")
    };
    let msg = run_model("16.7 M", &fill(16_742_913)).refused("16.7 M");
    assert!(msg.contains("budget for folded constants"), "{msg}");
    // At the budget: compiled, inline weights included, well within the clock.
    let m = fill(1 << 20);
    let dir = temp_dir("hostile_fold_budget");
    let opts = CompileOptions {
        weights_mode: ghostc::WeightsMode::Inline,
        ..options()
    };
    compile_file("at the budget, inline", &m.write_to(&dir), &opts).compiled("inline");
}

/// `graph` target, first 30-minute run: `simplify` folded GlobalAveragePool over a constant whose
/// spatial dims are 0 into no value at all per channel (a debug assertion; a wrong-sized
/// constant without one). The mean over nothing is NaN, as the run-time kernel computes it.
#[test]
fn fuzz_global_average_pool_of_an_empty_constant() {
    let m = Model::new(13)
        .input("x", &[1, 2, 1, 1])
        .init_f32("c", &[1, 2, 0, 3], &[])
        .node("GlobalAveragePool", "gap", &["c"], &["g"], vec![])
        .node("Add", "add", &["x", "g"], &["y"], vec![])
        .output("y");
    run_model("empty global average pool", &m).compiled("empty global average pool");
    let mut g = m.import().expect("import").graph;
    ghostc::passes::simplify::simplify(&mut g, &ghostc::Target::default()).expect("simplify");
    let folded: Vec<f32> = g
        .g
        .node_indices()
        .filter_map(|n| match &g.node(n).op {
            ghostc::ops::Op::Const(t) if t.shape == [1, 2, 1, 1] => t.as_f32().map(<[f32]>::to_vec),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        folded.len() == 2 && folded.iter().all(|v| v.is_nan()),
        "{folded:?}"
    );
}
