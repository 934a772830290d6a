//! Fuzz target, structure-aware: the bytes drive a generator of small well-formed ONNX graphs
//! (supported ops wired to earlier values, attributes and constant operands drawn from edge
//! values, weights shaped after their inputs where a shape is known), so inputs get past the
//! decoder into shape inference, folding, the passes and emission, which random bytes rarely do.
//! Same contract as `pipeline`: `Err` is fine, a panic, a timeout or an OOM is a bug.
#![no_main]

use std::collections::HashMap;

use ghostc::analysis::memory;
use ghostc::back::{emit, lower, EmitOptions, WeightsMode};
use ghostc::front::proto::{
    tensor_shape_proto, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use ghostc::pipeline::{import_bytes, run_passes, PassOptions};
use ghostc::ImportOptions;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use prost::Message;

const INTS: &[i64] = &[
    -3,
    -2,
    -1,
    0,
    1,
    1,
    2,
    2,
    3,
    4,
    5,
    7,
    8,
    16,
    1 << 20,
    1 << 31,
    -(1 << 31),
    i64::MAX,
    i64::MIN,
];
const DIMS: &[i64] = &[0, 1, 1, 1, 2, 2, 3, 4, 4, 5, 8, 16];
const FLOATS: &[f32] = &[
    0.0,
    1.0,
    -1.0,
    0.5,
    2.0,
    3.0,
    6.0,
    1e-5,
    1e30,
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
];
const STRINGS: &[&str] = &[
    "NOTSET",
    "VALID",
    "SAME_UPPER",
    "SAME_LOWER",
    "nearest",
    "linear",
    "cubic",
    "half_pixel",
    "asymmetric",
    "align_corners",
    "pytorch_half_pixel",
    "round_prefer_floor",
    "floor",
    "ceil",
    "stretch",
    "",
];

#[derive(Clone, Copy)]
enum Kind {
    Int,
    Ints,
    Float,
    Floats,
    Str,
    Tensor,
}

const ATTRS: &[(&str, Kind)] = &[
    ("axis", Kind::Int),
    ("axes", Kind::Ints),
    ("perm", Kind::Ints),
    ("kernel_shape", Kind::Ints),
    ("strides", Kind::Ints),
    ("pads", Kind::Ints),
    ("dilations", Kind::Ints),
    ("group", Kind::Int),
    ("auto_pad", Kind::Str),
    ("keepdims", Kind::Int),
    ("noop_with_empty_axes", Kind::Int),
    ("allowzero", Kind::Int),
    ("split", Kind::Ints),
    ("num_outputs", Kind::Int),
    ("to", Kind::Int),
    ("alpha", Kind::Float),
    ("beta", Kind::Float),
    ("transA", Kind::Int),
    ("transB", Kind::Int),
    ("epsilon", Kind::Float),
    ("training_mode", Kind::Int),
    ("mode", Kind::Str),
    ("coordinate_transformation_mode", Kind::Str),
    ("nearest_mode", Kind::Str),
    ("ceil_mode", Kind::Int),
    ("count_include_pad", Kind::Int),
    ("value", Kind::Tensor),
    ("start", Kind::Int),
    ("end", Kind::Int),
    ("min", Kind::Float),
    ("max", Kind::Float),
    ("value_float", Kind::Float),
    ("value_floats", Kind::Floats),
    ("value_int", Kind::Int),
    ("value_ints", Kind::Ints),
];

struct Gen<'a, 'b> {
    u: &'b mut Unstructured<'a>,
    graph: GraphProto,
    /// Defined values, and their shapes where known.
    values: Vec<String>,
    shapes: HashMap<String, Vec<i64>>,
    fresh: usize,
}

impl Gen<'_, '_> {
    fn pick<T: Copy>(&mut self, from: &[T]) -> Result<T> {
        Ok(*self.u.choose(from)?)
    }

    fn int(&mut self) -> Result<i64> {
        if self.u.ratio(7, 8)? {
            self.pick(INTS)
        } else {
            self.u.arbitrary()
        }
    }

    fn ints(&mut self, max: usize) -> Result<Vec<i64>> {
        let n = self.u.int_in_range(0..=max)?;
        (0..n).map(|_| self.int()).collect()
    }

    fn float(&mut self) -> Result<f32> {
        if self.u.ratio(3, 4)? {
            self.pick(FLOATS)
        } else {
            Ok(f32::from(self.u.int_in_range(-100i16..=100)?) / 16.0)
        }
    }

    fn dims(&mut self) -> Result<Vec<i64>> {
        let rank = self.u.int_in_range(0..=5)?;
        (0..rank)
            .map(|_| {
                if self.u.ratio(15, 16)? {
                    self.pick(DIMS)
                } else {
                    self.int()
                }
            })
            .collect()
    }

    fn name(&mut self, prefix: &str) -> String {
        self.fresh += 1;
        format!("{prefix}{}", self.fresh)
    }

    /// A new initializer of the given dims (f32) or an int64 vector; returns its name.
    fn constant(&mut self, dims: Option<Vec<i64>>) -> Result<String> {
        let name = self.name("c");
        let t = match dims {
            Some(dims) => {
                let n: usize = dims
                    .iter()
                    .map(|&d| usize::try_from(d).unwrap_or(0))
                    .try_fold(1usize, |a, d| a.checked_mul(d))
                    .filter(|&n| n <= 4096)
                    .unwrap_or(0);
                let mut data = Vec::with_capacity(n);
                for _ in 0..n {
                    data.push(self.float()?);
                }
                self.shapes.insert(name.clone(), dims.clone());
                TensorProto {
                    name: Some(name.clone()),
                    dims,
                    data_type: Some(1),
                    raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
                    ..Default::default()
                }
            }
            None => {
                let v = self.ints(5)?;
                self.shapes.insert(name.clone(), vec![v.len() as i64]);
                TensorProto {
                    name: Some(name.clone()),
                    dims: vec![v.len() as i64],
                    data_type: Some(7),
                    int64_data: v,
                    ..Default::default()
                }
            }
        };
        self.graph.initializer.push(t);
        self.values.push(name.clone());
        Ok(name)
    }

    fn existing(&mut self) -> Result<String> {
        // Biased to recent values, so chains form.
        let n = self.values.len();
        let back = self.u.int_in_range(0..=n.saturating_sub(1).min(3))?;
        Ok(self.values[n - 1 - back].clone())
    }

    /// Operand `i` of `op` whose first operand is `x`.
    fn operand(&mut self, op: &str, i: usize, x: Option<&[i64]>) -> Result<String> {
        if i > 0 && self.u.ratio(1, 12)? {
            return Ok(String::new()); // an omitted optional input
        }
        let c = x.and_then(|s| s.get(1).copied()).unwrap_or(1).clamp(1, 16);
        Ok(match (op, i) {
            (_, 0) if self.u.ratio(7, 8)? => self.existing()?,
            ("Conv", 1) => {
                let (m, k) = (self.pick(&[1, 2, 4, 8])?, self.pick(&[1, 1, 2, 3])?);
                self.constant(Some(vec![m, c, k, k]))?
            }
            ("Conv", 2) => {
                let m = self.pick(&[1, 2, 4, 8])?;
                self.constant(Some(vec![m]))?
            }
            ("BatchNormalization", _) => self.constant(Some(vec![c]))?,
            ("Add" | "Sub" | "Mul" | "Div" | "MatMul" | "Gemm", _) => {
                if self.u.ratio(1, 2)? {
                    self.existing()?
                } else {
                    let dims = match x {
                        Some(s) if self.u.ratio(2, 3)? => {
                            let mut s = s.to_vec();
                            let k = self.u.int_in_range(0..=s.len())?;
                            for d in s.iter_mut().take(k) {
                                *d = 1;
                            }
                            if op == "MatMul" && s.len() >= 2 {
                                let l = s.len();
                                s.swap(l - 1, l - 2);
                            }
                            s
                        }
                        _ => self.dims()?,
                    };
                    self.constant(Some(dims))?
                }
            }
            ("Clip" | "Resize", _) if self.u.ratio(1, 2)? => {
                let dims = if op == "Clip" { vec![] } else { vec![4] };
                self.constant(Some(dims))?
            }
            _ if self.u.ratio(2, 3)? => self.constant(None)?,
            _ if self.u.ratio(1, 2)? => self.existing()?,
            _ => {
                let dims = self.dims()?;
                self.constant(Some(dims))?
            }
        })
    }

    fn attribute(&mut self) -> Result<AttributeProto> {
        let (name, kind) = self.pick(ATTRS)?;
        let mut a = AttributeProto {
            name: Some(name.into()),
            ..Default::default()
        };
        match kind {
            Kind::Int => {
                a.r#type = Some(2);
                a.i = Some(self.int()?);
            }
            Kind::Ints => {
                a.r#type = Some(7);
                a.ints = self.ints(6)?;
            }
            Kind::Float => {
                a.r#type = Some(1);
                a.f = Some(self.float()?);
            }
            Kind::Floats => {
                a.r#type = Some(6);
                let n = self.u.int_in_range(0..=4)?;
                a.floats = (0..n).map(|_| self.float()).collect::<Result<_>>()?;
            }
            Kind::Str => {
                a.r#type = Some(3);
                a.s = Some(self.pick(STRINGS)?.as_bytes().to_vec());
            }
            Kind::Tensor => {
                a.r#type = Some(4);
                let int = self.u.ratio(1, 2)?;
                a.t = Some(TensorProto {
                    dims: vec![1],
                    data_type: Some(if int { 7 } else { 1 }),
                    int64_data: if int { vec![self.int()?] } else { vec![] },
                    float_data: if int { vec![] } else { vec![self.float()?] },
                    ..Default::default()
                });
            }
        }
        if self.u.ratio(1, 16)? {
            a.r#type = Some(self.u.int_in_range(0..=14)?); // a wrong declared type
        }
        Ok(a)
    }

    fn node(&mut self) -> Result<()> {
        let op = self.pick(ghostc::front::SUPPORTED_OPS)?;
        let arity = match op {
            "Constant" => 0,
            "Conv" | "Gemm" | "Clip" | "Range" | "Where" => self.u.int_in_range(2..=3)?,
            "Slice" => self.u.int_in_range(3..=5)?,
            "BatchNormalization" => 5,
            "Resize" => self.u.int_in_range(2..=4)?,
            "Concat" => self.u.int_in_range(1..=4)?,
            "Add" | "Sub" | "Mul" | "Div" | "MatMul" | "Equal" | "Expand" | "Gather"
            | "Reshape" => 2,
            "Squeeze" | "Unsqueeze" | "ReduceMean" | "Split" => self.u.int_in_range(1..=2)?,
            _ => 1,
        };
        let mut inputs = Vec::new();
        let mut x: Option<Vec<i64>> = None;
        for i in 0..arity {
            let v = self.operand(op, i, x.as_deref())?;
            if i == 0 {
                x = self.shapes.get(&v).cloned();
            }
            inputs.push(v);
        }
        let mut attribute = Vec::new();
        for _ in 0..self.u.int_in_range(0..=4)? {
            attribute.push(self.attribute()?);
        }
        let n_out = if op == "Split" {
            self.u.int_in_range(1..=3)?
        } else {
            1
        };
        let outputs: Vec<String> = (0..n_out).map(|_| self.name("v")).collect();
        // Ops that keep their input's shape pass the hint on.
        if let (Some(s), true) = (
            &x,
            matches!(
                op,
                "Relu" | "Sigmoid" | "HardSwish" | "HardSigmoid" | "Clip" | "Identity" | "Dropout"
            ),
        ) {
            self.shapes.insert(outputs[0].clone(), s.clone());
        }
        self.values.extend(outputs.iter().cloned());
        let name = self.name(op);
        self.graph.node.push(NodeProto {
            input: inputs,
            output: outputs,
            name: Some(name),
            op_type: Some(op.into()),
            attribute,
            ..Default::default()
        });
        Ok(())
    }
}

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(1),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| tensor_shape_proto::Dimension {
                            value: Some(tensor_shape_proto::dimension::Value::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn model(u: &mut Unstructured) -> Result<ModelProto> {
    let opset = *u.choose(&[11i64, 12, 13, 17, 18, 20])?;
    let mut g = Gen {
        u,
        graph: GraphProto::default(),
        values: Vec::new(),
        shapes: HashMap::new(),
        fresh: 0,
    };
    for i in 0..g.u.int_in_range(1..=2)? {
        let dims = if g.u.ratio(3, 4)? {
            let c = g.pick(&[1i64, 2, 3, 4, 8])?;
            let hw = g.pick(&[1i64, 2, 3, 5, 8])?;
            vec![1, c, hw, hw]
        } else {
            g.dims()?
        };
        let name = format!("in{i}");
        g.graph.input.push(value_info(&name, &dims));
        g.shapes.insert(name.clone(), dims);
        g.values.push(name);
    }
    for _ in 0..g.u.int_in_range(1..=8)? {
        g.node()?;
    }
    let n_out = g.u.int_in_range(1..=2)?;
    for _ in 0..n_out {
        let v = g.existing()?;
        g.graph.output.push(ValueInfoProto {
            name: Some(v),
            ..Default::default()
        });
    }
    Ok(ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        graph: Some(g.graph),
        ..Default::default()
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(m) = model(&mut u) else {
        return;
    };
    if std::env::var_os("GHOSTC_FUZZ_PRINT").is_some() {
        // To turn a finding into a test: the model this input generates.
        eprintln!("{m:#?}");
    }
    let bytes = m.encode_to_vec();
    let Ok(mut imported) = import_bytes(&bytes, &ImportOptions::default()) else {
        return;
    };
    let _ = imported.graph.to_string();
    if run_passes(&mut imported.graph, &PassOptions::default(), &mut |_, _| {
        Ok(())
    })
    .is_err()
    {
        return;
    }
    let opts = EmitOptions {
        name: "Net".into(),
        weights_file: "net.weights.bin".into(),
        weights_mode: WeightsMode::Inline,
        header: Vec::new(),
        profile: data.len() % 2 == 1,
    };
    let plan = memory::plan(&imported.graph);
    let emitted =
        lower(&imported.graph, &plan).and_then(|k| emit(&imported.graph, &plan, &k, &opts));
    if let Ok(out) = emitted {
        assert!(
            !out.source.contains("unsafe"),
            "generated code contains unsafe"
        );
    }
});
