//! Shared test helpers: a small builder for synthetic ONNX models on the prost types, attribute
//! and tensor constructors, a Ghost-module generator shaped like a TorchScript export, a seeded
//! xorshift generator, and the insta settings that put snapshots in the workspace `snapshots/`.
#![allow(dead_code)] // each test crate uses a different subset

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ghostc::front::proto::{
    tensor_shape_proto, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use prost::Message;

// TensorProto.DataType values.
pub const FLOAT: i32 = 1;
pub const UINT8: i32 = 2;
pub const INT8: i32 = 3;
pub const INT32: i32 = 6;
pub const INT64: i32 = 7;
pub const BOOL: i32 = 9;
pub const FLOAT16: i32 = 10;
pub const DOUBLE: i32 = 11;

// AttributeProto.AttributeType values.
const A_FLOAT: i32 = 1;
const A_INT: i32 = 2;
const A_STRING: i32 = 3;
const A_TENSOR: i32 = 4;
const A_FLOATS: i32 = 6;
const A_INTS: i32 = 7;

/// Insta settings for every snapshot of the ghostc tests: files go to the workspace-root
/// `snapshots/` (the path is relative to the asserting test file in `compiler/tests`) and are
/// named by the snapshot name alone.
pub fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s
}

/// The workspace root (parent of the `compiler` crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("compiler/ has a parent")
        .to_path_buf()
}

/// `examples/models/<name>/model.onnx`.
pub fn fixture(name: &str) -> PathBuf {
    workspace_root()
        .join("examples/models")
        .join(name)
        .join("model.onnx")
}

/// Import options pinning the given input shapes.
pub fn shapes(pins: &[(&str, &[usize])]) -> ghostc::ImportOptions {
    ghostc::ImportOptions {
        input_shapes: pins
            .iter()
            .map(|(n, d)| (n.to_string(), d.to_vec()))
            .collect::<BTreeMap<_, _>>(),
        ..Default::default()
    }
}

/// A fresh directory under the test target's tmp dir, emptied if it exists.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("ghostc-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// xorshift64*: deterministic pseudo-random numbers without a dependency.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [-0.5, 0.5).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next_u64() >> 56) as u8).collect()
    }
}

/// `n` deterministic small weights.
pub fn weights(n: usize, seed: u64) -> Vec<f32> {
    let mut r = XorShift::new(seed);
    (0..n).map(|_| r.next_f32()).collect()
}

/// One dimension of a graph input: fixed or symbolic.
#[derive(Clone, Copy, Debug)]
pub enum Dim<'a> {
    Fixed(i64),
    Sym(&'a str),
}

// ---- tensors -------------------------------------------------------------------------------

fn tensor(name: &str, dims: &[i64], data_type: i32) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(data_type),
        ..Default::default()
    }
}

/// f32 tensor in `raw_data`.
pub fn t_f32(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..tensor(name, dims, FLOAT)
    }
}

/// i64 tensor in `raw_data`.
pub fn t_i64(name: &str, dims: &[i64], data: &[i64]) -> TensorProto {
    TensorProto {
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..tensor(name, dims, INT64)
    }
}

/// f32 tensor in the typed `float_data` field.
pub fn t_float_data(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        float_data: data.to_vec(),
        ..tensor(name, dims, FLOAT)
    }
}

/// i64 tensor in the typed `int64_data` field.
pub fn t_int64_data(name: &str, dims: &[i64], data: &[i64]) -> TensorProto {
    TensorProto {
        int64_data: data.to_vec(),
        ..tensor(name, dims, INT64)
    }
}

/// A tensor of `data_type` (int32, int8, uint8, bool, float16 bits...) in `int32_data`.
pub fn t_int32_data(name: &str, dims: &[i64], data_type: i32, data: &[i32]) -> TensorProto {
    TensorProto {
        int32_data: data.to_vec(),
        ..tensor(name, dims, data_type)
    }
}

/// Double tensor in `double_data`.
pub fn t_double_data(name: &str, dims: &[i64], data: &[f64]) -> TensorProto {
    TensorProto {
        double_data: data.to_vec(),
        ..tensor(name, dims, DOUBLE)
    }
}

/// A tensor whose bytes live in an external file.
pub fn t_external(
    name: &str,
    dims: &[i64],
    data_type: i32,
    location: &str,
    offset: Option<u64>,
    length: Option<u64>,
) -> TensorProto {
    let mut kv = vec![entry("location", location)];
    if let Some(o) = offset {
        kv.push(entry("offset", &o.to_string()));
    }
    if let Some(l) = length {
        kv.push(entry("length", &l.to_string()));
    }
    TensorProto {
        external_data: kv,
        data_location: Some(1),
        ..tensor(name, dims, data_type)
    }
}

pub fn entry(key: &str, value: &str) -> StringStringEntryProto {
    StringStringEntryProto {
        key: Some(key.into()),
        value: Some(value.into()),
    }
}

// ---- attributes ----------------------------------------------------------------------------

fn attr(name: &str, ty: i32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(ty),
        ..Default::default()
    }
}

pub fn a_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        i: Some(v),
        ..attr(name, A_INT)
    }
}

pub fn a_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        ints: v.to_vec(),
        ..attr(name, A_INTS)
    }
}

pub fn a_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        f: Some(v),
        ..attr(name, A_FLOAT)
    }
}

pub fn a_floats(name: &str, v: &[f32]) -> AttributeProto {
    AttributeProto {
        floats: v.to_vec(),
        ..attr(name, A_FLOATS)
    }
}

pub fn a_str(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        s: Some(v.as_bytes().to_vec()),
        ..attr(name, A_STRING)
    }
}

pub fn a_tensor(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        t: Some(t),
        ..attr(name, A_TENSOR)
    }
}

// ---- models --------------------------------------------------------------------------------

/// A model under construction. Methods consume and return the builder so cases read as one
/// chained expression; `proto` stays public for the odd hand edit.
#[derive(Clone, Debug)]
pub struct Model {
    pub proto: ModelProto,
}

impl Model {
    /// An empty graph named "test", importing `opset` of the default domain (IR version 8).
    pub fn new(opset: i64) -> Self {
        Model {
            proto: ModelProto {
                ir_version: Some(8),
                producer_name: Some("ghostc-tests".into()),
                opset_import: vec![OperatorSetIdProto {
                    domain: Some(String::new()),
                    version: Some(opset),
                }],
                graph: Some(GraphProto {
                    name: Some("test".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        }
    }

    pub fn graph(&mut self) -> &mut GraphProto {
        self.proto.graph.get_or_insert_with(Default::default)
    }

    /// A float graph input with fixed dims.
    pub fn input(self, name: &str, dims: &[i64]) -> Self {
        let dims: Vec<Dim> = dims.iter().map(|&d| Dim::Fixed(d)).collect();
        self.input_typed(name, FLOAT, Some(&dims))
    }

    /// A float graph input with some symbolic dims.
    pub fn input_sym(self, name: &str, dims: &[Dim]) -> Self {
        self.input_typed(name, FLOAT, Some(dims))
    }

    /// A graph input of any element type; `dims: None` leaves the shape out.
    pub fn input_typed(mut self, name: &str, elem_type: i32, dims: Option<&[Dim]>) -> Self {
        self.graph().input.push(value_info(name, elem_type, dims));
        self
    }

    /// Any initializer.
    pub fn init(mut self, t: TensorProto) -> Self {
        self.graph().initializer.push(t);
        self
    }

    /// f32 initializer in raw_data.
    pub fn init_f32(self, name: &str, dims: &[i64], data: &[f32]) -> Self {
        self.init(t_f32(name, dims, data))
    }

    /// f32 initializer in raw_data filled with deterministic weights from `seed`.
    pub fn init_rand(self, name: &str, dims: &[i64], seed: u64) -> Self {
        let n = dims.iter().product::<i64>() as usize;
        self.init(t_f32(name, dims, &weights(n, seed)))
    }

    /// i64 initializer in raw_data.
    pub fn init_i64(self, name: &str, dims: &[i64], data: &[i64]) -> Self {
        self.init(t_i64(name, dims, data))
    }

    pub fn init_float_data(self, name: &str, dims: &[i64], data: &[f32]) -> Self {
        self.init(t_float_data(name, dims, data))
    }

    pub fn init_int64_data(self, name: &str, dims: &[i64], data: &[i64]) -> Self {
        self.init(t_int64_data(name, dims, data))
    }

    pub fn init_int32_data(self, name: &str, dims: &[i64], data_type: i32, data: &[i32]) -> Self {
        self.init(t_int32_data(name, dims, data_type, data))
    }

    pub fn init_double_data(self, name: &str, dims: &[i64], data: &[f64]) -> Self {
        self.init(t_double_data(name, dims, data))
    }

    /// A node of the default domain; empty strings in `inputs` are omitted optional inputs.
    pub fn node(
        self,
        op_type: &str,
        name: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> Self {
        self.node_in("", op_type, name, inputs, outputs, attrs)
    }

    /// A node of another domain.
    pub fn node_in(
        mut self,
        domain: &str,
        op_type: &str,
        name: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> Self {
        self.graph().node.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: Some(name.into()),
            op_type: Some(op_type.into()),
            domain: if domain.is_empty() {
                None
            } else {
                Some(domain.into())
            },
            attribute: attrs,
            ..Default::default()
        });
        self
    }

    /// A `Constant` node holding an i64 vector, as TorchScript exports Slice operands.
    pub fn const_i64(self, name: &str, data: &[i64]) -> Self {
        self.node(
            "Constant",
            name,
            &[],
            &[name],
            vec![a_tensor("value", t_i64("", &[data.len() as i64], data))],
        )
    }

    /// A graph output (element type and shape are left for the importer to infer).
    pub fn output(mut self, name: &str) -> Self {
        self.graph().output.push(ValueInfoProto {
            name: Some(name.into()),
            ..Default::default()
        });
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.proto.encode_to_vec()
    }

    /// Imports the model from memory with default options.
    pub fn import(&self) -> ghostc::Result<ghostc::front::Imported> {
        ghostc::pipeline::import_bytes(&self.bytes(), &ghostc::ImportOptions::default())
    }

    /// Writes the model to `dir/model.onnx` and returns its path.
    pub fn write_to(&self, dir: &Path) -> PathBuf {
        let p = dir.join("model.onnx");
        std::fs::write(&p, self.bytes()).expect("write model");
        p
    }

    /// A Ghost module as TorchScript exports it (BN folded into the convs):
    ///
    /// ```text
    /// p = Relu(Conv1x1(x) + b)               primary: c_in -> init = ceil(oup / 2)
    /// q = Relu(DepthwiseConv3x3(p) + b)      cheap: init -> init, pads 1, group init
    /// y = Slice(Concat(p, q), 0, oup, axis 1, step 1)   starts/ends/axes/steps are Constant nodes
    /// ```
    ///
    /// `x` must be `[N, c_in, H, W]`; the module's output value is named `{prefix}.out`. With an
    /// odd `oup` the Slice really drops a channel. `relu: false` leaves out both Relus (the last
    /// Ghost module of a bottleneck).
    pub fn ghost_module(self, prefix: &str, x: &str, c_in: i64, oup: i64, relu: bool) -> Self {
        let init = (oup + 1) / 2;
        let p = |s: &str| format!("{prefix}.{s}");
        let seed = prefix
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        let mut m = self
            .init_rand(&p("primary.weight"), &[init, c_in, 1, 1], seed)
            .init_rand(&p("primary.bias"), &[init], seed + 1)
            .init_rand(&p("cheap.weight"), &[init, 1, 3, 3], seed + 2)
            .init_rand(&p("cheap.bias"), &[init], seed + 3)
            .node(
                "Conv",
                &p("primary_conv/Conv"),
                &[x, &p("primary.weight"), &p("primary.bias")],
                &[&p("primary")],
                vec![
                    a_ints("dilations", &[1, 1]),
                    a_int("group", 1),
                    a_ints("kernel_shape", &[1, 1]),
                    a_ints("pads", &[0, 0, 0, 0]),
                    a_ints("strides", &[1, 1]),
                ],
            );
        let mut prim = p("primary");
        if relu {
            m = m.node(
                "Relu",
                &p("primary_conv/Relu"),
                &[&prim],
                &[&p("primary.relu")],
                vec![],
            );
            prim = p("primary.relu");
        }
        m = m.node(
            "Conv",
            &p("cheap_operation/Conv"),
            &[&prim, &p("cheap.weight"), &p("cheap.bias")],
            &[&p("cheap")],
            vec![
                a_ints("dilations", &[1, 1]),
                a_int("group", init),
                a_ints("kernel_shape", &[3, 3]),
                a_ints("pads", &[1, 1, 1, 1]),
                a_ints("strides", &[1, 1]),
            ],
        );
        let mut cheap = p("cheap");
        if relu {
            m = m.node(
                "Relu",
                &p("cheap_operation/Relu"),
                &[&cheap],
                &[&p("cheap.relu")],
                vec![],
            );
            cheap = p("cheap.relu");
        }
        m.node(
            "Concat",
            &p("Concat"),
            &[&prim, &cheap],
            &[&p("cat")],
            vec![a_int("axis", 1)],
        )
        .const_i64(&p("Constant"), &[0])
        .const_i64(&p("Constant_1"), &[oup])
        .const_i64(&p("Constant_2"), &[1])
        .const_i64(&p("Constant_3"), &[1])
        .node(
            "Slice",
            &p("Slice"),
            &[
                &p("cat"),
                &p("Constant"),
                &p("Constant_1"),
                &p("Constant_2"),
                &p("Constant_3"),
            ],
            &[&p("out")],
            vec![],
        )
    }
}

/// A whole model around one Ghost module: input `input` [1, c_in, hw, hw], output `output`.
pub fn ghost_model(opset: i64, c_in: i64, oup: i64, hw: i64) -> Model {
    Model::new(opset)
        .input("input", &[1, c_in, hw, hw])
        .ghost_module("ghost", "input", c_in, oup, true)
        .node("Identity", "out", &["ghost.out"], &["output"], vec![])
        .output("output")
}

/// A graph-input value info: float tensor with the given dims.
pub fn value_info(name: &str, elem_type: i32, dims: Option<&[Dim]>) -> ValueInfoProto {
    let shape = dims.map(|dims| TensorShapeProto {
        dim: dims
            .iter()
            .map(|d| tensor_shape_proto::Dimension {
                value: Some(match d {
                    Dim::Fixed(v) => tensor_shape_proto::dimension::Value::DimValue(*v),
                    Dim::Sym(s) => tensor_shape_proto::dimension::Value::DimParam(s.to_string()),
                }),
                ..Default::default()
            })
            .collect(),
    });
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem_type),
                shape,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

// ---- graphs --------------------------------------------------------------------------------

/// Computing nodes (not inputs or constants) counted by `Op::name`, sorted by name.
pub fn op_counts(g: &ghostc::ir::Graph) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for n in g.g.node_indices() {
        let op = &g.node(n).op;
        if !matches!(op, ghostc::ops::Op::Input | ghostc::ops::Op::Const(_)) {
            *counts.entry(op.name()).or_insert(0) += 1;
        }
    }
    counts
}

/// The folder of a fixture's `model.onnx` (`examples/models/<folder>/model.onnx`).
pub fn model_folder(path: &Path) -> String {
    path.parent()
        .and_then(Path::file_name)
        .and_then(|s| s.to_str())
        .expect("model folder name")
        .to_string()
}
