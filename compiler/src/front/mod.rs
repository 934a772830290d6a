//! The front end: decodes an ONNX model and builds the IR, faithful to the ONNX spec for opsets
//! 11 to 20. It is the only code that sees protobuf types, and it makes no model-specific
//! decisions: recognising GhostNet patterns is the passes' job.
//!
//! Compile-time operands (Slice starts, Reshape shape, Clip bounds, ...) are resolved into op
//! attributes; nodes whose inputs are all constants and that only do shape arithmetic are
//! evaluated here (`fold`), so the IR sees only constants and f32 computation.

mod attrs;
pub(crate) mod fold;
mod node;
pub mod proto;
mod tensor;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use prost::Message;

use crate::error::{Error, Result, Unsupported};
use crate::ir::{Graph, TensorType, ValueRef};
use crate::ops::Op;
use proto::{type_proto, ModelProto, NodeProto};

/// Options that affect import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Concrete shapes for graph inputs, by name: pins symbolic dims such as a dynamic batch.
    pub input_shapes: BTreeMap<String, Vec<usize>>,
    /// How messages name the option that sets `input_shapes`.
    pub caller: Caller,
}

/// Who set the options, so that errors and warnings name the option the user can change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Caller {
    /// The command line: `--input-shape NAME=DIMS`.
    #[default]
    Cli,
    /// [`crate::Builder`] (a `build.rs`): `.input_shape("NAME", [..])`.
    Builder,
}

impl Caller {
    /// The input-shape option as this caller spells it.
    fn option(self) -> &'static str {
        match self {
            Caller::Cli => "--input-shape",
            Caller::Builder => ".input_shape(..)",
        }
    }

    /// How to pin input `name`'s shape, with placeholder dims.
    fn pin(self, name: &str) -> String {
        match self {
            Caller::Cli => format!("--input-shape {name}=NxCxHxW"),
            Caller::Builder => format!(".input_shape({name:?}, [n, c, h, w])"),
        }
    }
}

/// An imported graph and the warnings met on the way.
#[derive(Clone, Debug)]
pub struct Imported {
    pub graph: Graph,
    pub warnings: Vec<String>,
}

/// Lowest and highest default-domain opset ghostc is tested against.
pub const OPSETS: std::ops::RangeInclusive<i64> = 11..=20;

/// The bytes of the model file at `path`, and the folder its external data is resolved in.
pub fn read_model(path: &Path) -> Result<(Vec<u8>, Option<&Path>)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let dir = path.parent().map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    });
    Ok((bytes, dir))
}

/// Imports a serialised ModelProto. `model_dir` anchors external data; `None` refuses it.
pub fn import_bytes(
    bytes: &[u8],
    model_dir: Option<&Path>,
    opts: &ImportOptions,
) -> Result<Imported> {
    if bytes.is_empty() {
        return Err(Error::Model("the model is empty (0 bytes)".into()));
    }
    let model = ModelProto::decode(bytes)?;
    import_model(&model, model_dir, opts, bytes.len())
}

/// The ONNX op types the front end accepts.
pub const SUPPORTED_OPS: &[&str] = &[
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "Div",
    "Dropout",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "MatMul",
    "MaxPool",
    "Mul",
    "Range",
    "ReduceMean",
    "Relu",
    "Reshape",
    "Resize",
    "Shape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Split",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
    "Where",
];

/// Elements every model may fold into constants on import beyond one per byte of its file (see
/// `Importer::fold_budget`). Folded constants become weights: this bounds what a tiny file can
/// make ghostc write (4 MiB of f32).
const FOLD_BUDGET_BASE: usize = 1 << 20;

/// Most nodes a graph may have: dozens of times any CNN's (GhostNet 1.0x has 434), and a bound
/// on the compile time of a small hostile file (the memory planner is quadratic in values).
pub const MAX_NODES: usize = 1 << 15;

fn import_model(
    model: &ModelProto,
    model_dir: Option<&Path>,
    opts: &ImportOptions,
    file_size: usize,
) -> Result<Imported> {
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| Error::Model("the model has no graph".into()))?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
        .and_then(|o| o.version)
        .ok_or_else(|| {
            Error::Model("the model imports no opset of the default ONNX domain".into())
        })?;
    let mut warnings = Vec::new();
    if !OPSETS.contains(&opset) {
        warnings.push(format!(
            "opset {opset} is outside the tested range {}..={}; ops are read with their opset-{opset} meaning where ghostc knows it",
            OPSETS.start(),
            OPSETS.end()
        ));
    }

    // Every unsupported op, listed at once, before anything else can fail.
    let unsupported: Vec<Unsupported> = graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            let domain_ok = matches!(n.domain.as_deref(), None | Some("") | Some("ai.onnx"));
            !domain_ok || !SUPPORTED_OPS.contains(&n.op_type.as_deref().unwrap_or(""))
        })
        .map(|(i, n)| Unsupported {
            node: node_name(n, i),
            op: match n.domain.as_deref() {
                None | Some("") | Some("ai.onnx") => n.op_type.clone().unwrap_or_default(),
                Some(d) => format!("{d}::{}", n.op_type.as_deref().unwrap_or("")),
            },
            reason: None,
        })
        .collect();
    if !unsupported.is_empty() {
        return Err(Error::Unsupported(unsupported));
    }
    if graph.node.len() > MAX_NODES {
        return Err(Error::Model(format!(
            "the graph has {} nodes, more than the {MAX_NODES} supported",
            graph.node.len()
        )));
    }

    let mut imp = Importer {
        g: Graph {
            name: graph.name.clone().unwrap_or_default(),
            opset,
            ..Graph::default()
        },
        values: HashMap::new(),
        read: graph
            .node
            .iter()
            .flat_map(|n| n.input.iter())
            .chain(graph.output.iter().filter_map(|o| o.name.as_ref()))
            .filter(|s| !s.is_empty())
            .cloned()
            .collect(),
        opset,
        fold_budget: FOLD_BUDGET_BASE.saturating_add(file_size),
    };

    let mut external = model_dir.map(tensor::External::new);
    for init in &graph.initializer {
        let name = init.name.clone().unwrap_or_default();
        if name.is_empty() {
            return Err(Error::Model("an initializer has no name".into()));
        }
        let t = tensor::decode(init, external.as_mut())?;
        let ty = t.ty();
        let n = imp.g.add_node(name.clone(), Op::Const(t), vec![ty]);
        imp.define(&name, ValueRef::new(n, 0), "initializer")?;
    }
    if !graph.sparse_initializer.is_empty() {
        return Err(Error::Model("sparse initializers are not supported".into()));
    }

    let mut seen_inputs = HashSet::new();
    for vi in &graph.input {
        let name = vi.name.clone().unwrap_or_default();
        if imp.values.contains_key(&name) && !seen_inputs.contains(&name) {
            continue; // an initializer also listed as an input (IR version < 4): a constant
        }
        let shape = input_shape(vi, opts, &mut warnings)?;
        let n = imp
            .g
            .add_node(name.clone(), Op::Input, vec![TensorType::f32(shape)]);
        imp.define(&name, ValueRef::new(n, 0), "graph input")?;
        imp.g.inputs.push(n);
        seen_inputs.insert(name);
    }
    if let Some(extra) = opts.input_shapes.keys().find(|k| !seen_inputs.contains(*k)) {
        return Err(Error::Option(format!(
            "{} names '{extra}', but the model's inputs are: {}",
            opts.caller.option(),
            seen_inputs
                .iter()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if imp.g.inputs.is_empty() {
        return Err(Error::Model("the graph has no inputs".into()));
    }

    for i in schedule(&graph.node, &imp.values)? {
        let n = &graph.node[i];
        imp.import_node(n, &node_name(n, i))?;
    }

    if graph.output.is_empty() {
        return Err(Error::Model("the graph has no outputs".into()));
    }
    for vi in &graph.output {
        let name = vi.name.clone().unwrap_or_default();
        let v = *imp.values.get(&name).ok_or_else(|| {
            Error::Model(format!("graph output '{name}' is not produced by any node"))
        })?;
        let ty = imp.g.ty(v);
        if ty.dtype != crate::ir::DType::F32 {
            return Err(Error::Model(format!(
                "graph output '{name}' is {ty}; only f32 outputs are supported"
            )));
        }
        imp.g.outputs.push((name, v));
    }
    prune_unused_constants(&mut imp.g);
    Ok(Imported {
        graph: imp.g,
        warnings,
    })
}

/// The node's name, or a stable made-up one (`OpType_index`) when the model gives none.
fn node_name(n: &NodeProto, index: usize) -> String {
    match n.name.as_deref() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => format!("{}_{index}", n.op_type.as_deref().unwrap_or("node")),
    }
}

/// Orders nodes so each comes after the producers of its inputs (ONNX requires this already; we
/// do not trust it). Reports undefined inputs, duplicate outputs and cycles by node name.
fn schedule(nodes: &[NodeProto], predefined: &HashMap<String, ValueRef>) -> Result<Vec<usize>> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if predefined.contains_key(o.as_str()) || producer.insert(o.as_str(), i).is_some() {
                return Err(Error::Model(format!(
                    "value '{o}' is defined more than once (again by node '{}')",
                    node_name(n, i)
                )));
            }
        }
    }
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for inp in n.input.iter().filter(|s| !s.is_empty()) {
            match producer.get(inp.as_str()) {
                Some(&p) => {
                    deps[i].push(p);
                    users[p].push(i);
                }
                None if predefined.contains_key(inp.as_str()) => {}
                None => {
                    return Err(Error::Node {
                        node: node_name(n, i),
                        op: n.op_type.clone().unwrap_or_default(),
                        msg: format!(
                            "input '{inp}' is not defined by any node, initializer or graph input"
                        ),
                    })
                }
            }
        }
    }
    let mut indeg: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut ready: std::collections::BTreeSet<usize> =
        (0..nodes.len()).filter(|&i| indeg[i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &u in &users[i] {
            indeg[u] -= 1;
            if indeg[u] == 0 {
                ready.insert(u);
            }
        }
    }
    if order.len() != nodes.len() {
        let names: Vec<String> = (0..nodes.len())
            .filter(|&i| indeg[i] > 0)
            .take(8)
            .map(|i| format!("'{}'", node_name(&nodes[i], i)))
            .collect();
        return Err(Error::Model(format!(
            "the graph has a cycle through nodes {}",
            names.join(", ")
        )));
    }
    Ok(order)
}

/// Concrete shape of a graph input: the model's dims, with symbolic ones pinned by the options
/// (or a symbolic leading batch dim defaulted to 1, with a warning).
fn input_shape(
    vi: &proto::ValueInfoProto,
    opts: &ImportOptions,
    warnings: &mut Vec<String>,
) -> Result<Vec<usize>> {
    let name = vi.name.clone().unwrap_or_default();
    let err = |msg: String| Error::Model(format!("graph input '{name}': {msg}"));
    let tt = match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => t,
        _ => return Err(err("only tensor inputs are supported".into())),
    };
    let et = tt.elem_type.unwrap_or(0);
    if et != 1 {
        return Err(err(format!(
            "element type {} is not supported; inputs must be float",
            tensor::dtype_name(et)
        )));
    }
    let dims = tt
        .shape
        .as_ref()
        .map(|s| s.dim.as_slice())
        .unwrap_or_default();
    let given = opts.input_shapes.get(&name);
    if let Some(g) = given {
        if g.len() != dims.len() && !dims.is_empty() {
            return Err(Error::Option(format!(
                "{} {name} has rank {}, the model's input has rank {}",
                opts.caller.option(),
                g.len(),
                dims.len()
            )));
        }
        crate::ir::checked_len(g).ok_or_else(|| {
            Error::Option(format!("{} {name} is too large", opts.caller.option()))
        })?;
    }
    if tt.shape.is_none() {
        return given.cloned().ok_or_else(|| {
            err(format!(
                "has no shape; give one with {}",
                opts.caller.pin(&name)
            ))
        });
    }
    if dims.len() > crate::ir::MAX_RANK {
        return Err(err(format!(
            "rank {} is more than the {} dimensions supported",
            dims.len(),
            crate::ir::MAX_RANK
        )));
    }
    let mut shape = Vec::with_capacity(dims.len());
    for (i, d) in dims.iter().enumerate() {
        let fixed = match &d.value {
            Some(proto::tensor_shape_proto::dimension::Value::DimValue(v)) => Some(
                usize::try_from(*v).map_err(|_| err(format!("dimension {i} is negative ({v})")))?,
            ),
            _ => None,
        };
        let sym = match &d.value {
            Some(proto::tensor_shape_proto::dimension::Value::DimParam(p)) => p.clone(),
            _ => "?".into(),
        };
        let dim = match (fixed, given) {
            (Some(f), Some(g)) if g[i] != f => {
                return Err(Error::Option(format!(
                    "{} {name}: dimension {i} is fixed to {f} by the model, not {}",
                    opts.caller.option(),
                    g[i]
                )))
            }
            (Some(f), _) => f,
            (None, Some(g)) => g[i],
            (None, None) if i == 0 => {
                warnings.push(format!(
                    "input '{name}': symbolic batch dimension '{sym}' set to 1 (pin it with {})",
                    opts.caller.pin(&name)
                ));
                1
            }
            (None, None) => {
                return Err(err(format!(
                    "dimension {i} ('{sym}') is symbolic; give a shape with {}",
                    opts.caller.pin(&name)
                )))
            }
        };
        shape.push(dim);
    }
    crate::ir::checked_len(&shape).ok_or_else(|| err(format!("shape {shape:?} is too large")))?;
    Ok(shape)
}

/// Import state: the graph under construction and the ONNX value names defined so far.
struct Importer {
    g: Graph,
    values: HashMap<String, ValueRef>,
    /// Every value name some node reads or the graph outputs: an optional output nothing
    /// reads (Dropout's mask) may be left undefined.
    read: std::collections::HashSet<String>,
    opset: i64,
    /// Elements the constants folded from here on may still hold, all together: folding can
    /// grow data (Expand, ConstantOfShape, Concat of one value with itself, Identity copies),
    /// so its total, not only each result, is bounded by the file's size.
    fold_budget: usize,
}

impl Importer {
    fn define(&mut self, name: &str, v: ValueRef, what: &str) -> Result<()> {
        if self.values.insert(name.to_string(), v).is_some() {
            return Err(Error::Model(format!(
                "value '{name}' is defined more than once (again as {what})"
            )));
        }
        Ok(())
    }
}

/// Drops constants nothing reads: `Constant` nodes and folded values that were resolved into
/// attributes (Slice starts, Reshape shapes, ...), and unused initializers.
fn prune_unused_constants(g: &mut Graph) {
    let outputs: HashSet<_> = g.outputs.iter().map(|(_, v)| v.node).collect();
    loop {
        let dead: Vec<_> =
            g.g.node_indices()
                .filter(|&n| matches!(g.node(n).op, Op::Const(_)) && !outputs.contains(&n))
                .filter(|&n| {
                    g.g.neighbors_directed(n, petgraph::Direction::Outgoing)
                        .next()
                        .is_none()
                })
                .collect();
        if dead.is_empty() {
            return;
        }
        for n in dead {
            g.g.remove_node(n);
        }
    }
}
