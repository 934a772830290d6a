//! The intermediate representation: a petgraph `StableDiGraph` whose nodes are operations and whose
//! edges carry one tensor value from an output port of one node to an input port of another.
//!
//! Every value has a static shape and dtype, fixed by shape inference when the node is created.

pub mod dot;
pub mod layout;
pub mod text;
pub mod verify;

use std::collections::BTreeMap;
use std::fmt;

use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::ops::Op;

/// Element type of a value. ghostc computes in f32; integer values exist only at compile time
/// (shape arithmetic), every integer ONNX type is widened to i64 on import.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F32,
    I64,
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::I64 => "i64",
        })
    }
}

/// Static type of a value: dtype and concrete shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl TensorType {
    pub fn new(dtype: DType, shape: Vec<usize>) -> Self {
        TensorType { dtype, shape }
    }
    pub fn f32(shape: Vec<usize>) -> Self {
        TensorType::new(DType::F32, shape)
    }
    /// Number of elements (the shape's product; shapes are checked not to overflow on creation).
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.dtype, Shape(&self.shape))
    }
}

/// Formats a shape as `[1,3,224,224]`.
pub struct Shape<'a>(pub &'a [usize]);

impl fmt::Display for Shape<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// Largest number of elements any one value may have (2^31, 8 GiB of f32). Larger shapes are
/// refused as impossible rather than risking overflow or exhausting memory.
pub const MAX_ELEMENTS: usize = 1 << 31;

/// Largest rank any value may have: far above any CNN's, low enough that a value's shape stays
/// small (every node holds its outputs' shapes, so an unbounded rank read once from the model
/// would be multiplied by its node count) and per-axis loops stay cheap.
pub const MAX_RANK: usize = 32;

/// Product of `dims`, or `None` if there are more than [`MAX_RANK`] dims or the product of the
/// non-zero dims exceeds [`MAX_ELEMENTS`] (so no partial product of an accepted shape overflows,
/// even for an empty tensor whose other dims are huge).
pub fn checked_len(dims: &[usize]) -> Option<usize> {
    if dims.len() > MAX_RANK {
        return None;
    }
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d.max(1)))
        .filter(|&n| n <= MAX_ELEMENTS)
        .map(|_| dims.iter().product())
}

/// Constant tensor data.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// A constant tensor: weights, biases, folded shape arithmetic.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Data,
}

impl Tensor {
    pub fn f32(shape: Vec<usize>, v: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), v.len());
        Tensor {
            shape,
            data: Data::F32(v),
        }
    }
    pub fn i64(shape: Vec<usize>, v: Vec<i64>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), v.len());
        Tensor {
            shape,
            data: Data::I64(v),
        }
    }
    pub fn dtype(&self) -> DType {
        match self.data {
            Data::F32(_) => DType::F32,
            Data::I64(_) => DType::I64,
        }
    }
    pub fn ty(&self) -> TensorType {
        TensorType::new(self.dtype(), self.shape.clone())
    }
    pub fn len(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len(),
            Data::I64(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            Data::F32(v) => Some(v),
            Data::I64(_) => None,
        }
    }
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            Data::I64(v) => Some(v),
            Data::F32(_) => None,
        }
    }
    /// The values as f64, whatever the dtype (for scalar attributes given as tensors).
    pub fn to_f64s(&self) -> Vec<f64> {
        match &self.data {
            Data::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }
    /// The values as i64 (floats truncated toward zero, as ONNX Cast does).
    pub fn to_i64s(&self) -> Vec<i64> {
        match &self.data {
            Data::F32(v) => v.iter().map(|&x| x as i64).collect(),
            Data::I64(v) => v.clone(),
        }
    }
}

/// One operation. `outputs` holds the static type of each output port.
#[derive(Clone, Debug)]
pub struct Node {
    /// The ONNX node name (or the initializer / input name); derived nodes add a dotted suffix.
    pub name: String,
    pub op: Op,
    pub outputs: Vec<TensorType>,
}

/// An edge: value from output port `src_port` of the source into input port `dst_port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub src_port: usize,
    pub dst_port: usize,
}

/// A value: output `port` of `node`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueRef {
    pub node: NodeIndex,
    pub port: usize,
}

impl ValueRef {
    pub fn new(node: NodeIndex, port: usize) -> Self {
        ValueRef { node, port }
    }
}

/// A model graph with named inputs and outputs.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub name: String,
    /// Opset version of the default ONNX domain the model was imported from.
    pub opset: i64,
    pub g: StableDiGraph<Node, Edge>,
    /// Graph inputs in ONNX order: their nodes are `Op::Input`.
    pub inputs: Vec<NodeIndex>,
    /// Graph outputs in ONNX order, with their ONNX names.
    pub outputs: Vec<(String, ValueRef)>,
    /// Memory layout of the values `plan_layout` chose a non-default one for; every value not
    /// listed is [`layout::Layout::Nchw`] (row-major in its logical shape).
    pub layouts: BTreeMap<ValueRef, layout::Layout>,
}

impl Graph {
    pub fn add_node(
        &mut self,
        name: impl Into<String>,
        op: Op,
        outputs: Vec<TensorType>,
    ) -> NodeIndex {
        self.g.add_node(Node {
            name: name.into(),
            op,
            outputs,
        })
    }

    /// Connects `inputs` to consecutive input ports of `node`, starting at 0.
    pub fn connect(&mut self, node: NodeIndex, inputs: &[ValueRef]) {
        for (i, v) in inputs.iter().enumerate() {
            self.g.add_edge(
                v.node,
                node,
                Edge {
                    src_port: v.port,
                    dst_port: i,
                },
            );
        }
    }

    pub fn node(&self, n: NodeIndex) -> &Node {
        &self.g[n]
    }

    /// Static type of a value. Panics only if the value does not exist, an IR invariant.
    pub fn ty(&self, v: ValueRef) -> &TensorType {
        &self.g[v.node].outputs[v.port]
    }

    /// The values feeding `n`, ordered by input port.
    pub fn inputs(&self, n: NodeIndex) -> Vec<ValueRef> {
        let mut e: Vec<(usize, ValueRef)> = self
            .g
            .edges_directed(n, Direction::Incoming)
            .map(|e| {
                (
                    e.weight().dst_port,
                    ValueRef::new(e.source(), e.weight().src_port),
                )
            })
            .collect();
        e.sort();
        e.into_iter().map(|(_, v)| v).collect()
    }

    /// Consumers of value `v` as (node, input port), sorted.
    pub fn users(&self, v: ValueRef) -> Vec<(NodeIndex, usize)> {
        let mut u: Vec<(NodeIndex, usize)> = self
            .g
            .edges_directed(v.node, Direction::Outgoing)
            .filter(|e| e.weight().src_port == v.port)
            .map(|e| (e.target(), e.weight().dst_port))
            .collect();
        u.sort();
        u
    }

    /// The constant tensor behind `v`, if its producer is an `Op::Const`.
    pub fn constant(&self, v: ValueRef) -> Option<&Tensor> {
        match &self.g[v.node].op {
            Op::Const(t) => Some(t),
            _ => None,
        }
    }

    /// Nodes in topological order, ties broken by node index (so the order is deterministic), or
    /// the nodes left on a cycle.
    pub fn topo_order(&self) -> Result<Vec<NodeIndex>, Vec<NodeIndex>> {
        use std::collections::{BTreeSet, HashMap};
        let mut indeg: HashMap<NodeIndex, usize> = HashMap::new();
        let mut ready = BTreeSet::new();
        for n in self.g.node_indices() {
            let d = self.g.edges_directed(n, Direction::Incoming).count();
            indeg.insert(n, d);
            if d == 0 {
                ready.insert(n);
            }
        }
        let mut order = Vec::with_capacity(self.g.node_count());
        while let Some(n) = ready.pop_first() {
            order.push(n);
            for e in self.g.edges_directed(n, Direction::Outgoing) {
                if let Some(d) = indeg.get_mut(&e.target()) {
                    *d -= 1;
                    if *d == 0 {
                        ready.insert(e.target());
                    }
                }
            }
        }
        if order.len() == self.g.node_count() {
            Ok(order)
        } else {
            let mut left: Vec<NodeIndex> = indeg
                .into_iter()
                .filter(|&(_, d)| d > 0)
                .map(|(n, _)| n)
                .collect();
            left.sort();
            Err(left)
        }
    }
}

/// Rewriting helpers used by the passes.
impl Graph {
    /// Adds a constant node and returns its value.
    pub fn add_const(&mut self, name: impl Into<String>, t: Tensor) -> ValueRef {
        let ty = t.ty();
        ValueRef::new(self.add_node(name, crate::ops::Op::Const(t), vec![ty]), 0)
    }

    /// Adds a node computing `op` over `inputs`, inferring its output types.
    pub fn add_op(
        &mut self,
        name: impl Into<String>,
        op: crate::ops::Op,
        inputs: &[ValueRef],
    ) -> Result<NodeIndex, String> {
        let tys: Vec<&TensorType> = inputs.iter().map(|&v| self.ty(v)).collect();
        let outs = op.infer(&tys)?;
        let n = self.add_node(name, op, outs);
        self.connect(n, inputs);
        Ok(n)
    }

    /// Makes every reader of `old` (nodes and graph outputs) read `new` instead.
    pub fn replace_uses(&mut self, old: ValueRef, new: ValueRef) {
        for (user, port) in self.users(old) {
            let edges: Vec<_> = self
                .g
                .edges_directed(user, Direction::Incoming)
                .filter(|e| {
                    e.source() == old.node
                        && e.weight().src_port == old.port
                        && e.weight().dst_port == port
                })
                .map(|e| e.id())
                .collect();
            for e in edges {
                self.g.remove_edge(e);
            }
            self.g.add_edge(
                new.node,
                user,
                Edge {
                    src_port: new.port,
                    dst_port: port,
                },
            );
        }
        for (_, v) in &mut self.outputs {
            if *v == old {
                *v = new;
            }
        }
    }

    /// True if `v` is a graph output.
    pub fn is_output(&self, v: ValueRef) -> bool {
        self.outputs.iter().any(|(_, o)| *o == v)
    }

    /// The only reader of `v`, if it has exactly one and is not a graph output.
    pub fn single_user(&self, v: ValueRef) -> Option<(NodeIndex, usize)> {
        match self.users(v)[..] {
            [u] if !self.is_output(v) => Some(u),
            _ => None,
        }
    }

    /// Removes every node no graph output depends on (graph inputs stay). Returns how many.
    pub fn remove_dead(&mut self) -> usize {
        let mut live = std::collections::HashSet::new();
        let mut stack: Vec<NodeIndex> = self.outputs.iter().map(|(_, v)| v.node).collect();
        while let Some(n) = stack.pop() {
            if live.insert(n) {
                stack.extend(self.g.neighbors_directed(n, Direction::Incoming));
            }
        }
        let dead: Vec<NodeIndex> = self
            .g
            .node_indices()
            .filter(|n| !live.contains(n) && !self.inputs.contains(n))
            .collect();
        for &n in &dead {
            self.g.remove_node(n);
        }
        dead.len()
    }

    /// True if `to` depends on `from` (a path of edges leads from `from` to `to`).
    pub fn depends_on(&self, to: NodeIndex, from: NodeIndex) -> bool {
        petgraph::algo::has_path_connecting(&self.g, from, to, None)
    }
}
