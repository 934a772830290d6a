//! The passes, one at a time, on synthetic graphs: each case runs the pipeline up to and including
//! the pass under test, checks the structure it leaves (ops counted by name, attributes of the
//! fused ops) and checks with the reference interpreter that the graph still computes what the
//! imported one does. Then the whole pipeline on every fixture: the expected fused structure,
//! idempotence, and the IR text after each stage as snapshots (`ir_after_<stage>@<model>`).

mod support;

use ghostc::front::proto::AttributeProto;
use ghostc::ir::{Graph, Tensor, ValueRef};
use ghostc::ops::fused::{GhostModule, SqueezeExcite};
use ghostc::ops::{eval, Activation, Conv, Op};
use ghostc::pipeline::{self, PassOptions};
use ghostc::{ImportOptions, Target};
use support::*;

// ---- harness -----------------------------------------------------------------------------------

/// Runs the pipeline on a copy of `g` up to and including the pass `stop`.
fn run_until(g: &Graph, stop: &str) -> Graph {
    let mut out = g.clone();
    let opts = PassOptions {
        stop_after: Some(stop.to_string()),
        ..Default::default()
    };
    pipeline::run_passes(&mut out, &opts, &mut |_, _| Ok(()))
        .unwrap_or_else(|e| panic!("up to {stop}: {e}"));
    out
}

/// Computing ops with their counts, sorted by name: `"conv:2 relu:1"`.
fn ops(g: &Graph) -> String {
    op_counts(g)
        .iter()
        .map(|(op, n)| format!("{op}:{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Seeded inputs in [-2, 2), one per graph input (wide enough to cross every activation's knees).
fn inputs(g: &Graph, seed: u64) -> Vec<Tensor> {
    let mut r = XorShift::new(seed);
    g.inputs
        .iter()
        .map(|&n| {
            let shape = g.node(n).outputs[0].shape.clone();
            let len = shape.iter().product();
            Tensor::f32(shape, (0..len).map(|_| 4.0 * r.next_f32()).collect())
        })
        .collect()
}

/// The graph outputs the reference interpreter computes from `ins`.
fn outputs(g: &Graph, ins: &[Tensor]) -> Vec<Tensor> {
    let vals = eval::run(g, ins).unwrap_or_else(|e| panic!("evaluation failed: {e}"));
    g.outputs.iter().map(|(_, v)| vals[v].clone()).collect()
}

/// Asserts `after` computes what `before` does: every output within 1e-5 relative to the
/// output's magnitude (`|a - b| <= 1e-5 * max(1, max|before|)`).
fn assert_same_outputs(before: &Graph, after: &Graph) {
    let ins = inputs(before, 0x5eed);
    let (want, got) = (outputs(before, &ins), outputs(after, &ins));
    assert_eq!(want.len(), got.len(), "number of outputs");
    for (i, (w, o)) in want.iter().zip(&got).enumerate() {
        assert_eq!(w.shape, o.shape, "output {i} shape");
        let (w, o) = (w.as_f32().expect("f32"), o.as_f32().expect("f32"));
        let scale = w.iter().fold(1f32, |m, v| m.max(v.abs()));
        let diff = w.iter().zip(o).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            diff <= 1e-5 * scale,
            "output {i} differs by {diff} (scale {scale})\nafter:\n{after}"
        );
    }
}

/// Imports `m`, runs the pipeline up to `stop`, checks the result numerically against the
/// imported graph and returns it.
fn optimise(m: &Model, stop: &str) -> Graph {
    let before = m.import().unwrap_or_else(|e| panic!("import: {e}")).graph;
    let after = run_until(&before, stop);
    assert_same_outputs(&before, &after);
    after
}

/// The computing nodes in schedule order with their names.
fn nodes(g: &Graph) -> Vec<(String, Op)> {
    g.topo_order()
        .expect("acyclic")
        .into_iter()
        .map(|n| (g.node(n).name.clone(), g.node(n).op.clone()))
        .filter(|(_, op)| !matches!(op, Op::Input | Op::Const(_)))
        .collect()
}

/// The convs in schedule order, with their node names and the shapes of their inputs.
fn convs(g: &Graph) -> Vec<(String, Conv, Vec<Vec<usize>>)> {
    g.topo_order()
        .expect("acyclic")
        .into_iter()
        .filter_map(|n| match &g.node(n).op {
            Op::Conv(c) => Some((
                g.node(n).name.clone(),
                c.clone(),
                g.inputs(n).iter().map(|&v| g.ty(v).shape.clone()).collect(),
            )),
            _ => None,
        })
        .collect()
}

/// The only conv of `g`.
fn the_conv(g: &Graph) -> (String, Conv, Vec<Vec<usize>>) {
    let mut c = convs(g);
    assert_eq!(c.len(), 1, "one conv expected in\n{g}");
    c.remove(0)
}

/// The Ghost modules with the shapes of their inputs.
fn ghost_modules(g: &Graph) -> Vec<(GhostModule, Vec<Vec<usize>>)> {
    g.topo_order()
        .expect("acyclic")
        .into_iter()
        .filter_map(|n| match &g.node(n).op {
            Op::GhostModule(gm) => Some((
                gm.clone(),
                g.inputs(n).iter().map(|&v| g.ty(v).shape.clone()).collect(),
            )),
            _ => None,
        })
        .collect()
}

fn squeeze_excites(g: &Graph) -> Vec<SqueezeExcite> {
    nodes(g)
        .into_iter()
        .filter_map(|(_, op)| match op {
            Op::SqueezeExcite(se) => Some(se),
            _ => None,
        })
        .collect()
}

fn seed(name: &str) -> u64 {
    name.bytes()
        .fold(17u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
}

/// Builder shorthands for the cases below; every node's output value is named like the node.
trait Build: Sized {
    /// `name = Conv(x)`: k x k, stride 1, "same" padding, seeded weights (and bias).
    #[allow(clippy::too_many_arguments)]
    fn conv(
        self,
        name: &str,
        x: &str,
        c_in: i64,
        c_out: i64,
        k: i64,
        group: i64,
        bias: bool,
    ) -> Self;
    /// `name = BatchNormalization(x)` over `c` channels with seeded statistics.
    fn bn(self, name: &str, x: &str, c: i64) -> Self;
    /// `name = op(inputs)` without attributes.
    fn op(self, op: &str, name: &str, inputs: &[&str]) -> Self;
    /// The two halves of a Ghost module: `{prefix}.p = Relu(Conv1x1(x))` with `init` channels
    /// and `{prefix}.c = Relu(Conv3x3(p))` with `init` channels in `cheap_group` groups.
    fn ghost_halves(self, prefix: &str, x: &str, c_in: i64, init: i64, cheap_group: i64) -> Self;
}

impl Build for Model {
    fn conv(
        self,
        name: &str,
        x: &str,
        c_in: i64,
        c_out: i64,
        k: i64,
        group: i64,
        bias: bool,
    ) -> Self {
        let (w, b) = (format!("{name}.weight"), format!("{name}.bias"));
        let mut m = self.init_rand(&w, &[c_out, c_in / group, k, k], seed(name));
        let mut ins = vec![x, w.as_str()];
        if bias {
            m = m.init_rand(&b, &[c_out], seed(name) + 1);
            ins.push(&b);
        }
        m.node(
            "Conv",
            name,
            &ins,
            &[name],
            vec![
                a_ints("kernel_shape", &[k, k]),
                a_ints("pads", &[k / 2; 4]),
                a_int("group", group),
            ],
        )
    }

    fn bn(self, name: &str, x: &str, c: i64) -> Self {
        let p = |s: &str| format!("{name}.{s}");
        let s = seed(name);
        let n = c as usize;
        let gamma: Vec<f32> = weights(n, s).iter().map(|v| v + 1.0).collect();
        let var: Vec<f32> = weights(n, s + 3).iter().map(|v| v + 0.75).collect();
        self.init_f32(&p("gamma"), &[c], &gamma)
            .init_rand(&p("beta"), &[c], s + 1)
            .init_rand(&p("mean"), &[c], s + 2)
            .init_f32(&p("var"), &[c], &var)
            .node(
                "BatchNormalization",
                name,
                &[x, &p("gamma"), &p("beta"), &p("mean"), &p("var")],
                &[name],
                vec![a_float("epsilon", 1e-5)],
            )
    }

    fn op(self, op: &str, name: &str, inputs: &[&str]) -> Self {
        self.node(op, name, inputs, &[name], vec![])
    }

    fn ghost_halves(self, prefix: &str, x: &str, c_in: i64, init: i64, cheap_group: i64) -> Self {
        let p = |s: &str| format!("{prefix}.{s}");
        self.conv(&p("primary_conv"), x, c_in, init, 1, 1, true)
            .op("Relu", &p("p"), &[&p("primary_conv")])
            .conv(&p("cheap_conv"), &p("p"), init, init, 3, cheap_group, true)
            .op("Relu", &p("c"), &[&p("cheap_conv")])
    }
}

// ---- fold_batch_norm ---------------------------------------------------------------------------

#[test]
fn fold_bn_into_dense_conv_with_bias() {
    let m = Model::new(13)
        .input("x", &[1, 3, 8, 8])
        .conv("conv", "x", 3, 4, 3, 1, true)
        .bn("bn", "conv", 4)
        .output("bn");
    let g = optimise(&m, "fold_batch_norm");
    assert_eq!(ops(&g), "conv:1");
    let (name, c, shapes) = the_conv(&g);
    assert_eq!(name, "conv.folded_bn");
    assert_eq!((c.group, c.act, c.residual), (1, None, false));
    assert_eq!(shapes, [vec![1, 3, 8, 8], vec![4, 3, 3, 3], vec![4]]);
}

#[test]
fn fold_bn_into_depthwise_conv_without_bias() {
    let m = Model::new(13)
        .input("x", &[1, 4, 8, 8])
        .conv("dw", "x", 4, 4, 3, 4, false)
        .bn("bn", "dw", 4)
        .output("bn");
    let g = optimise(&m, "fold_batch_norm");
    assert_eq!(ops(&g), "conv:1");
    let (name, c, shapes) = the_conv(&g);
    assert_eq!(name, "dw.folded_bn");
    assert_eq!(c.group, 4);
    // The fold gives the conv the bias it did not have.
    assert_eq!(shapes, [vec![1, 4, 8, 8], vec![4, 1, 3, 3], vec![4]]);
}

#[test]
fn bn_after_relu_becomes_a_depthwise_scale_shift() {
    let m = Model::new(13)
        .input("x", &[1, 4, 8, 8])
        .op("Relu", "relu", &["x"])
        .bn("bn", "relu", 4)
        .output("bn");
    let g = optimise(&m, "fold_batch_norm");
    assert_eq!(ops(&g), "conv:1 relu:1");
    let (name, c, shapes) = the_conv(&g);
    assert_eq!(name, "bn.scale_shift");
    assert_eq!((c.kernel, c.group), ([1, 1], 4));
    assert_eq!(shapes, [vec![1, 4, 8, 8], vec![4, 1, 1, 1], vec![4]]);
}

#[test]
fn bn_at_graph_input_becomes_a_depthwise_scale_shift() {
    let m = Model::new(13)
        .input("x", &[2, 5, 3, 3])
        .bn("bn", "x", 5)
        .output("bn");
    let g = optimise(&m, "fold_batch_norm");
    assert_eq!(ops(&g), "conv:1");
    let (name, c, _) = the_conv(&g);
    assert_eq!(name, "bn.scale_shift");
    assert_eq!((c.kernel, c.group), ([1, 1], 5));
}

#[test]
fn bn_does_not_fold_into_a_conv_with_another_reader() {
    // conv -> bn -> out, and conv -> sigmoid -> out2: folding would change what sigmoid reads.
    let m = Model::new(13)
        .input("x", &[1, 3, 8, 8])
        .conv("conv", "x", 3, 4, 3, 1, true)
        .bn("bn", "conv", 4)
        .op("Sigmoid", "sig", &["conv"])
        .output("bn")
        .output("sig");
    let g = optimise(&m, "fold_batch_norm");
    assert_eq!(ops(&g), "conv:2 sigmoid:1");
    let c = convs(&g);
    assert_eq!(c[0].0, "conv", "the conv keeps its weights");
    assert_eq!(c[0].2[1], [4, 3, 3, 3]);
    assert_eq!(c[1].0, "bn.scale_shift");
    assert_eq!((c[1].1.kernel, c[1].1.group), ([1, 1], 4));
}

#[test]
fn bn_on_a_matrix_stays() {
    // Not NCHW: no conv can express it, the BatchNorm is left for the back end.
    let m = Model::new(13)
        .input("x", &[2, 6])
        .bn("bn", "x", 6)
        .output("bn");
    let g = optimise(&m, "fold_batch_norm");
    assert_eq!(ops(&g), "batch_norm:1");
}

// ---- fuse_activation ---------------------------------------------------------------------------

#[test]
fn activations_after_a_conv_fuse() {
    let cases: [(&str, Vec<&str>, Vec<AttributeProto>, Activation); 5] = [
        ("Relu", vec![], vec![], Activation::Relu),
        (
            "Clip",
            vec!["lo", "hi"],
            vec![],
            Activation::Clip { min: 0.0, max: 1.5 },
        ),
        (
            "HardSigmoid",
            vec![],
            vec![a_float("alpha", 0.2), a_float("beta", 0.5)],
            Activation::HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
        ),
        ("HardSwish", vec![], vec![], Activation::HardSwish),
        ("Sigmoid", vec![], vec![], Activation::Sigmoid),
    ];
    for (op, bounds, attrs, act) in cases {
        let mut ins = vec!["conv"];
        ins.extend(bounds);
        let m = Model::new(14)
            .input("x", &[1, 3, 6, 6])
            .init_f32("lo", &[], &[0.0])
            .init_f32("hi", &[], &[1.5])
            .conv("conv", "x", 3, 4, 3, 1, true)
            .node(op, "act", &ins, &["y"], attrs)
            .output("y");
        let g = optimise(&m, "fuse_activation");
        assert_eq!(ops(&g), "conv:1", "{op}");
        let (_, c, _) = the_conv(&g);
        assert_eq!(c.act, Some(act), "{op}");
        assert!(
            g.to_string().contains(&format!("act: {}", act.name())),
            "{op}:\n{g}"
        );
    }
}

/// `Mul(x, HardSigmoid(x))` with alpha 1/6 and beta 1/2, as opset 13 spells HardSwish.
fn opset13_hard_swish(x_is_conv: bool, alpha: f32) -> Model {
    let m = Model::new(13).input("x", &[1, 3, 6, 6]);
    let (m, x) = if x_is_conv {
        (m.conv("conv", "x", 3, 4, 3, 1, true), "conv")
    } else {
        (m, "x")
    };
    m.node(
        "HardSigmoid",
        "hsig",
        &[x],
        &["hsig"],
        vec![a_float("alpha", alpha), a_float("beta", 0.5)],
    )
    .op("Mul", "mul", &[x, "hsig"])
    .output("mul")
}

#[test]
fn mul_by_hard_sigmoid_becomes_hard_swish() {
    let g = optimise(&opset13_hard_swish(false, 1.0 / 6.0), "fuse_activation");
    assert_eq!(ops(&g), "hard_swish:1");
}

#[test]
fn mul_by_hard_sigmoid_after_a_conv_becomes_a_fused_hard_swish() {
    let g = optimise(&opset13_hard_swish(true, 1.0 / 6.0), "fuse_activation");
    assert_eq!(ops(&g), "conv:1");
    assert_eq!(the_conv(&g).1.act, Some(Activation::HardSwish));
}

#[test]
fn mul_by_other_hard_sigmoid_stays() {
    // alpha 0.2 is not HardSwish; the conv has two readers, so nothing fuses.
    let g = optimise(&opset13_hard_swish(true, 0.2), "fuse_activation");
    assert_eq!(ops(&g), "conv:1 hard_sigmoid:1 mul:1");
}

/// `Mul(x, Sigmoid(x))` (SiLU as PyTorch exports it), `x` a conv's output or the graph input,
/// the Mul's operands in either order.
fn exported_silu(x_is_conv: bool, x_first: bool) -> Model {
    let m = Model::new(17).input("x", &[1, 3, 6, 6]);
    let (m, x) = if x_is_conv {
        (m.conv("conv", "x", 3, 4, 3, 1, true), "conv")
    } else {
        (m, "x")
    };
    let mul = if x_first { [x, "sig"] } else { ["sig", x] };
    m.op("Sigmoid", "sig", &[x])
        .op("Mul", "mul", &mul)
        .output("mul")
}

#[test]
fn mul_by_sigmoid_becomes_silu() {
    for x_first in [true, false] {
        let g = optimise(&exported_silu(false, x_first), "fuse_activation");
        assert_eq!(ops(&g), "silu:1", "x first: {x_first}");
    }
}

#[test]
fn mul_by_sigmoid_after_a_conv_becomes_a_fused_silu() {
    for x_first in [true, false] {
        let g = optimise(&exported_silu(true, x_first), "fuse_activation");
        assert_eq!(ops(&g), "conv:1", "x first: {x_first}");
        assert_eq!(the_conv(&g).1.act, Some(Activation::Silu));
        assert!(g.to_string().contains("act: silu"), "{g}");
    }
}

#[test]
fn silu_with_an_identity_between_fuses() {
    // `simplify` drops the Identity first.
    let m = Model::new(17)
        .input("x", &[1, 3, 6, 6])
        .conv("conv", "x", 3, 4, 3, 1, true)
        .op("Identity", "id", &["conv"])
        .op("Sigmoid", "sig", &["id"])
        .op("Mul", "mul", &["conv", "sig"])
        .output("mul");
    let g = optimise(&m, "fuse_activation");
    assert_eq!(ops(&g), "conv:1");
    assert_eq!(the_conv(&g).1.act, Some(Activation::Silu));
}

#[test]
fn mul_by_the_sigmoid_of_another_value_stays() {
    let m = Model::new(17)
        .input("x", &[1, 3, 6, 6])
        .input("y", &[1, 3, 6, 6])
        .op("Sigmoid", "sig", &["y"])
        .op("Mul", "mul", &["x", "sig"])
        .output("mul");
    let g = optimise(&m, "fuse_activation");
    assert_eq!(ops(&g), "mul:1 sigmoid:1");
}

#[test]
fn mul_by_a_sigmoid_with_a_second_reader_stays() {
    let m = exported_silu(true, true).output("sig");
    let g = optimise(&m, "fuse_activation");
    assert_eq!(ops(&g), "conv:1 mul:1 sigmoid:1");
    let m = exported_silu(false, true)
        .op("Relu", "other", &["sig"])
        .output("other");
    let g = optimise(&m, "fuse_activation");
    assert_eq!(ops(&g), "mul:1 relu:1 sigmoid:1");
}

#[test]
fn broadcasting_mul_by_a_sigmoid_stays() {
    // x is [1, 1, 6, 6], the Mul's other operand the sigmoid of a [1, 3, 6, 6] value: the
    // product is not x's SiLU (nor is any Sigmoid(x) read).
    let m = Model::new(17)
        .input("x", &[1, 1, 6, 6])
        .input("y", &[1, 3, 6, 6])
        .op("Sigmoid", "sig", &["x"])
        .op("Add", "wide", &["sig", "y"])
        .op("Mul", "mul", &["x", "wide"])
        .output("mul");
    let g = optimise(&m, "fuse_activation");
    assert_eq!(ops(&g), "add:1 mul:1 sigmoid:1");
}

/// GELU as exporters write it after a conv: `0.5 * x * (1 + Erf(x / sqrt 2))`. `spelling`
/// picks the form: 0 PyTorch's (`Div`, then `Mul(x, .)`, then `Mul(., 0.5)`), 1 with
/// `x * (1 / sqrt 2)` and the half first (`Mul(0.5, x)` then `Mul(., 1 + erf)`), 2 the
/// `Div` by `divisor` (a wrong constant when not sqrt 2).
fn exported_gelu(spelling: u32, divisor: f32, half_shape: &[i64]) -> Model {
    let m = Model::new(17)
        .input("x", &[1, 3, 6, 6])
        .conv("conv", "x", 3, 4, 3, 1, true)
        .init_f32("root2", &[], &[divisor])
        .init_f32("inv_root2", &[], &[1.0 / divisor])
        .init_f32("one", &[], &[1.0])
        .init_f32("half", half_shape, &[0.5]);
    let m = if spelling == 1 {
        m.op("Mul", "scaled", &["inv_root2", "conv"])
    } else {
        m.op("Div", "scaled", &["conv", "root2"])
    };
    let m = m
        .op("Erf", "erf", &["scaled"])
        .op("Add", "plus1", &["erf", "one"]);
    let m = if spelling == 1 {
        m.op("Mul", "halfx", &["half", "conv"])
            .op("Mul", "gelu", &["halfx", "plus1"])
    } else {
        m.op("Mul", "xp", &["conv", "plus1"])
            .op("Mul", "gelu", &["xp", "half"])
    };
    m.output("gelu")
}

#[test]
#[allow(clippy::approx_constant)] // 1.41421 on purpose: an exporter's rounded sqrt 2
fn exported_gelu_fuses_into_the_conv() {
    for spelling in [0, 1] {
        let g = optimise(
            &exported_gelu(spelling, std::f32::consts::SQRT_2, &[]),
            "fuse_activation",
        );
        assert_eq!(ops(&g), "conv:1", "spelling {spelling}:\n{g}");
        assert_eq!(the_conv(&g).1.act, Some(Activation::Gelu));
    }
    // A constant of shape [1] (tracing exports) and one rounded to 5 digits.
    let g = optimise(&exported_gelu(0, 1.414_21, &[1]), "fuse_activation");
    assert_eq!(ops(&g), "conv:1", "{g}");
}

#[test]
fn gelu_look_alikes_stay() {
    // Dividing by 1.5 is not GELU.
    let g = optimise(&exported_gelu(0, 1.5, &[]), "fuse_activation");
    assert_eq!(ops(&g), "add:1 conv:1 div:1 erf:1 mul:2");
    // A half of shape [1, 1, 1, 1, 1] broadcasts the product to rank 5.
    let g = optimise(
        &exported_gelu(0, std::f32::consts::SQRT_2, &[1, 1, 1, 1, 1]),
        "fuse_activation",
    );
    assert_eq!(ops(&g), "add:1 conv:1 div:1 erf:1 mul:2");
    // The erf read elsewhere.
    let m = exported_gelu(0, std::f32::consts::SQRT_2, &[]).output("erf");
    let g = optimise(&m, "fuse_activation");
    assert_eq!(ops(&g), "add:1 conv:1 div:1 erf:1 mul:2");
    // The inner product read elsewhere.
    let m = exported_gelu(0, std::f32::consts::SQRT_2, &[]).output("xp");
    let g = optimise(&m, "fuse_activation");
    assert_eq!(ops(&g), "add:1 conv:1 div:1 erf:1 mul:2");
}

/// The tanh form `0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x * x * x)))`, with the
/// coefficient `c` of the cube.
fn exported_gelu_tanh(c: f32) -> Model {
    Model::new(17)
        .input("x", &[1, 3, 6, 6])
        .conv("conv", "x", 3, 4, 3, 1, true)
        .init_f32("k", &[], &[(2.0 / std::f32::consts::PI).sqrt()])
        .init_f32("c", &[], &[c])
        .init_f32("one", &[], &[1.0])
        .init_f32("half", &[], &[0.5])
        .op("Mul", "x2", &["conv", "conv"])
        .op("Mul", "x3", &["x2", "conv"])
        .op("Mul", "cx3", &["c", "x3"])
        .op("Add", "inner", &["conv", "cx3"])
        .op("Mul", "arg", &["inner", "k"])
        .op("Tanh", "tanh", &["arg"])
        .op("Add", "plus1", &["one", "tanh"])
        .op("Mul", "halfx", &["conv", "half"])
        .op("Mul", "gelu", &["halfx", "plus1"])
        .output("gelu")
}

#[test]
fn exported_gelu_tanh_fuses_into_the_conv() {
    let g = optimise(&exported_gelu_tanh(0.044715), "fuse_activation");
    assert_eq!(ops(&g), "conv:1", "{g}");
    assert_eq!(the_conv(&g).1.act, Some(Activation::GeluTanh));
}

#[test]
fn gelu_tanh_with_another_coefficient_stays() {
    let g = optimise(&exported_gelu_tanh(0.05), "fuse_activation");
    assert_eq!(ops(&g), "add:2 conv:1 mul:6 tanh:1");
}

#[test]
fn tanh_erf_and_exp_fuse_into_the_conv() {
    for (op, act) in [
        ("Tanh", Activation::Tanh),
        ("Erf", Activation::Erf),
        ("Exp", Activation::Exp),
    ] {
        let m = Model::new(17)
            .input("x", &[1, 3, 6, 6])
            .conv("conv", "x", 3, 4, 3, 1, true)
            .op(op, "act", &["conv"])
            .output("act");
        let g = optimise(&m, "fuse_activation");
        assert_eq!(ops(&g), "conv:1", "{op}");
        assert_eq!(the_conv(&g).1.act, Some(act), "{op}");
    }
}

#[test]
fn residual_add_then_relu_fuse_into_the_conv() {
    for (a, b) in [("conv", "x"), ("x", "conv")] {
        let m = Model::new(13)
            .input("x", &[1, 4, 6, 6])
            .conv("conv", "x", 4, 4, 3, 1, true)
            .op("Add", "add", &[a, b])
            .op("Relu", "relu", &["add"])
            .output("relu");
        let g = optimise(&m, "fuse_activation");
        assert_eq!(ops(&g), "conv:1", "Add({a}, {b})");
        let (_, c, shapes) = the_conv(&g);
        assert!(c.residual);
        assert_eq!(c.act, Some(Activation::Relu), "act after residual");
        assert_eq!(shapes.len(), 4, "x, w, b, residual");
        assert!(g.to_string().contains("residual, act: relu"), "{g}");
    }
}

#[test]
fn residual_without_bias_gets_a_zero_bias() {
    let m = Model::new(13)
        .input("x", &[1, 4, 6, 6])
        .conv("conv", "x", 4, 4, 1, 1, false)
        .op("Add", "add", &["conv", "x"])
        .output("add");
    let g = optimise(&m, "fuse_activation");
    assert_eq!(ops(&g), "conv:1");
    assert_eq!(the_conv(&g).2[2], [4]);
}

#[test]
fn relu_before_the_add_keeps_the_add() {
    // act(conv) + x: the activation must stay before the add, so no residual is fused.
    let m = Model::new(13)
        .input("x", &[1, 4, 6, 6])
        .conv("conv", "x", 4, 4, 3, 1, true)
        .op("Relu", "relu", &["conv"])
        .op("Add", "add", &["relu", "x"])
        .output("add");
    let g = optimise(&m, "fuse_activation");
    assert_eq!(ops(&g), "add:1 conv:1");
    let (_, c, _) = the_conv(&g);
    assert!(!c.residual);
    assert_eq!(c.act, Some(Activation::Relu));
}

#[test]
fn add_of_a_value_computed_from_the_conv_does_not_fuse() {
    // conv + sigmoid(conv): the other operand depends on the conv output.
    let m = Model::new(13)
        .input("x", &[1, 4, 6, 6])
        .conv("conv", "x", 4, 4, 3, 1, true)
        .op("Sigmoid", "sig", &["conv"])
        .op("Add", "add", &["conv", "sig"])
        .output("add");
    let g = optimise(&m, "fuse_activation");
    assert_eq!(ops(&g), "add:1 conv:1 sigmoid:1");
    assert!(!the_conv(&g).1.residual);

    // conv + conv: the same value on both sides.
    let m = Model::new(13)
        .input("x", &[1, 4, 6, 6])
        .conv("conv", "x", 4, 4, 3, 1, true)
        .op("Add", "add", &["conv", "conv"])
        .output("add");
    let g = optimise(&m, "fuse_activation");
    assert_eq!(ops(&g), "add:1 conv:1");
}

#[test]
fn add_of_a_conv_and_its_input_conv_fuses_the_later_one() {
    // c2 = conv(c1); c1 + c2: c1 cannot take c2 as residual (c2 depends on it), c2 can take c1.
    let m = Model::new(13)
        .input("x", &[1, 4, 6, 6])
        .conv("c1", "x", 4, 4, 3, 1, true)
        .conv("c2", "c1", 4, 4, 3, 1, true)
        .op("Add", "add", &["c1", "c2"])
        .output("add");
    let g = optimise(&m, "fuse_activation");
    assert_eq!(ops(&g), "conv:2");
    let c = convs(&g);
    assert_eq!((c[0].0.as_str(), c[0].1.residual), ("c1", false));
    assert_eq!((c[1].0.as_str(), c[1].1.residual), ("c2.residual", true));
}

#[test]
fn broadcasting_add_is_not_a_residual() {
    let m = Model::new(13)
        .input("x", &[1, 4, 6, 6])
        .init_rand("shift", &[1, 4, 1, 1], 3)
        .conv("conv", "x", 4, 4, 3, 1, true)
        .op("Add", "add", &["conv", "shift"])
        .output("add");
    let g = optimise(&m, "fuse_activation");
    assert_eq!(ops(&g), "add:1 conv:1");
}

#[test]
fn conv_with_two_readers_takes_no_activation() {
    let m = Model::new(13)
        .input("x", &[1, 4, 6, 6])
        .conv("conv", "x", 4, 4, 3, 1, true)
        .op("Relu", "relu", &["conv"])
        .op("Sigmoid", "sig", &["conv"])
        .output("relu")
        .output("sig");
    let g = optimise(&m, "fuse_activation");
    assert_eq!(ops(&g), "conv:1 relu:1 sigmoid:1");
    assert_eq!(the_conv(&g).1.act, None);

    // A conv that is also a graph output keeps its plain value too.
    let m = Model::new(13)
        .input("x", &[1, 4, 6, 6])
        .conv("conv", "x", 4, 4, 3, 1, true)
        .op("Relu", "relu", &["conv"])
        .output("relu")
        .output("conv");
    let g = optimise(&m, "fuse_activation");
    assert_eq!(ops(&g), "conv:1 relu:1");
}

// ---- fuse_ghost_module -------------------------------------------------------------------------

#[test]
fn ghost_module_even_width_fuses() {
    // TorchScript style: Slice(Concat(p, c), 0..oup) with Constant operands; oup = 2 * init.
    let g = optimise(&ghost_model(13, 4, 8, 8), "fuse_ghost_module");
    assert_eq!(ops(&g), "ghost_module:1");
    let gm = ghost_modules(&g);
    let (m, shapes) = &gm[0];
    assert_eq!((m.init, m.keep, m.residual), (4, 8, false));
    assert_eq!(m.primary.act, Some(Activation::Relu));
    assert_eq!(m.cheap.act, Some(Activation::Relu));
    assert_eq!(m.cheap.group, 4);
    assert_eq!(
        shapes,
        &[
            vec![1, 4, 8, 8],
            vec![4, 4, 1, 1],
            vec![4],
            vec![4, 1, 3, 3],
            vec![4]
        ]
    );
    assert_eq!(g.ty(g.outputs[0].1).shape, [1, 8, 8, 8]);
}

#[test]
fn ghost_module_odd_width_cuts_the_cheap_half() {
    // oup 7: init 4, the Slice drops the last cheap channel, so only 3 are computed.
    let g = optimise(&ghost_model(13, 4, 7, 8), "fuse_ghost_module");
    assert_eq!(ops(&g), "ghost_module:1");
    let gm = ghost_modules(&g);
    let (m, shapes) = &gm[0];
    assert_eq!((m.init, m.keep), (4, 7));
    assert_eq!(m.cheap.group, 3);
    assert_eq!(shapes[3], [3, 1, 3, 3], "cheap weight cut to keep - init");
    assert_eq!(shapes[4], [3], "cheap bias cut to keep - init");
    assert_eq!(g.ty(g.outputs[0].1).shape, [1, 7, 8, 8]);
}

#[test]
fn ghost_module_dynamo_style_without_slice_fuses() {
    let m = Model::new(18)
        .input("x", &[1, 6, 5, 5])
        .ghost_halves("g", "x", 6, 5, 5)
        .node(
            "Concat",
            "cat",
            &["g.p", "g.c"],
            &["cat"],
            vec![a_int("axis", 1)],
        )
        .output("cat");
    let g = optimise(&m, "fuse_ghost_module");
    assert_eq!(ops(&g), "ghost_module:1");
    let gm = ghost_modules(&g);
    assert_eq!((gm[0].0.init, gm[0].0.keep), (5, 10));
}

#[test]
fn ghost_module_absorbs_a_following_residual() {
    let m = Model::new(13)
        .input("input", &[1, 8, 6, 6])
        .ghost_module("ghost", "input", 8, 8, false)
        .op("Add", "add", &["ghost.out", "input"])
        .output("add");
    let g = optimise(&m, "fuse_ghost_module");
    assert_eq!(ops(&g), "ghost_module:1");
    let gm = ghost_modules(&g);
    let (m, shapes) = &gm[0];
    assert!(m.residual);
    assert_eq!((m.primary.act, m.cheap.act), (None, None));
    assert_eq!(shapes.len(), 6, "x, w1, b1, w2, b2, residual");
}

#[test]
fn ghost_module_odd_width_with_batch_two() {
    let m = Model::new(13)
        .input("x", &[2, 4, 5, 5])
        .ghost_halves("g", "x", 4, 3, 3)
        .node(
            "Concat",
            "cat",
            &["g.p", "g.c"],
            &["cat"],
            vec![a_int("axis", 1)],
        )
        .init_i64("starts", &[1], &[0])
        .init_i64("ends", &[1], &[5])
        .init_i64("axes", &[1], &[1])
        .op("Slice", "slice", &["cat", "starts", "ends", "axes"])
        .output("slice");
    let g = optimise(&m, "fuse_ghost_module");
    assert_eq!(ops(&g), "ghost_module:1");
    let gm = ghost_modules(&g);
    assert_eq!((gm[0].0.init, gm[0].0.keep), (3, 5));
    assert_eq!(gm[0].1[3], [2, 1, 3, 3]);
}

/// `cat = Concat(cat_inputs)` along channels, as a graph output.
fn ghost_with(m: Model, cat_inputs: &[&str]) -> Model {
    m.node(
        "Concat",
        "cat",
        cat_inputs,
        &["cat"],
        vec![a_int("axis", 1)],
    )
    .output("cat")
}

#[test]
fn ghost_module_with_primary_read_elsewhere_does_not_fuse() {
    let m = Model::new(13)
        .input("x", &[1, 4, 5, 5])
        .ghost_halves("g", "x", 4, 3, 3)
        .op("Sigmoid", "sig", &["g.p"])
        .output("sig");
    let g = optimise(&ghost_with(m, &["g.p", "g.c"]), "fuse_ghost_module");
    assert_eq!(ops(&g), "concat:1 conv:2 sigmoid:1");
}

#[test]
fn ghost_module_with_primary_as_graph_output_does_not_fuse() {
    let m = Model::new(13)
        .input("x", &[1, 4, 5, 5])
        .ghost_halves("g", "x", 4, 3, 3)
        .output("g.p");
    let g = optimise(&ghost_with(m, &["g.p", "g.c"]), "fuse_ghost_module");
    assert_eq!(ops(&g), "concat:1 conv:2");
}

#[test]
fn concat_of_three_does_not_fuse() {
    let m = Model::new(13)
        .input("x", &[1, 4, 5, 5])
        .ghost_halves("g", "x", 4, 3, 3);
    let g = optimise(&ghost_with(m, &["g.p", "g.c", "x"]), "fuse_ghost_module");
    assert_eq!(ops(&g), "concat:1 conv:2");
}

#[test]
fn dense_cheap_conv_does_not_fuse() {
    let m = Model::new(13)
        .input("x", &[1, 4, 5, 5])
        .ghost_halves("g", "x", 4, 3, 1);
    let g = optimise(&ghost_with(m, &["g.p", "g.c"]), "fuse_ghost_module");
    assert_eq!(ops(&g), "concat:1 conv:2");
}

#[test]
fn grouped_or_wide_primary_conv_does_not_fuse() {
    // Found by the random graphs (examples/synthetic/random_02): a depthwise 1x1 "primary" made
    // a Ghost module the kernels (a matrix product for the primary half) cannot run.
    for (k, group) in [(1, 4), (1, 2), (3, 1)] {
        let m = Model::new(13)
            .input("x", &[1, 4, 5, 5])
            .conv("g.primary_conv", "x", 4, 4, k, group, true)
            .conv("g.cheap_conv", "g.primary_conv", 4, 4, 3, 4, true);
        let g = optimise(
            &ghost_with(m, &["g.primary_conv", "g.cheap_conv"]),
            "fuse_ghost_module",
        );
        assert_eq!(
            ops(&g),
            "concat:1 conv:2",
            "primary {k}x{k} in {group} groups"
        );
    }
}

#[test]
fn ghost_module_with_swapped_halves_does_not_fuse() {
    let m = Model::new(13)
        .input("x", &[1, 4, 5, 5])
        .ghost_halves("g", "x", 4, 3, 3);
    let g = optimise(&ghost_with(m, &["g.c", "g.p"]), "fuse_ghost_module");
    assert_eq!(ops(&g), "concat:1 conv:2");
}

#[test]
fn slice_not_from_channel_zero_stays_after_the_module() {
    // Only a leading channel range is absorbed; any other Slice reads the whole module output.
    let m = Model::new(13)
        .input("x", &[1, 4, 5, 5])
        .ghost_halves("g", "x", 4, 3, 3)
        .node(
            "Concat",
            "cat",
            &["g.p", "g.c"],
            &["cat"],
            vec![a_int("axis", 1)],
        )
        .init_i64("starts", &[1], &[1])
        .init_i64("ends", &[1], &[6])
        .init_i64("axes", &[1], &[1])
        .op("Slice", "slice", &["cat", "starts", "ends", "axes"])
        .output("slice");
    let g = optimise(&m, "fuse_ghost_module");
    assert_eq!(ops(&g), "ghost_module:1 slice:1");
    let gm = ghost_modules(&g);
    assert_eq!((gm[0].0.init, gm[0].0.keep), (3, 6));
}

// ---- fuse_squeeze_excite -----------------------------------------------------------------------

/// `x = Relu(Conv3x3(input))`, then `Mul(x, HardSigmoid(Conv(Relu(Conv(mean(x))))))`, with the
/// mean given by `mean` ("ReduceMean" or "GlobalAveragePool") and the gate channels `gate_c`.
fn squeeze_excite(mean: &str, x_first: bool, gate_c: i64) -> Model {
    squeeze_excite_batch(mean, x_first, gate_c, 1)
}

fn squeeze_excite_batch(mean: &str, x_first: bool, gate_c: i64, batch: i64) -> Model {
    let m = Model::new(13)
        .input("input", &[batch, 8, 4, 4])
        .conv("stem", "input", 8, 8, 3, 1, true)
        .op("Relu", "x", &["stem"]);
    let m = if mean == "ReduceMean" {
        m.node(
            "ReduceMean",
            "mean",
            &["x"],
            &["mean"],
            vec![a_ints("axes", &[2, 3]), a_int("keepdims", 1)],
        )
    } else {
        m.op(mean, "mean", &["x"])
    };
    let mul: [&str; 2] = if x_first {
        ["x", "gate"]
    } else {
        ["gate", "x"]
    };
    m.conv("reduce", "mean", 8, 4, 1, 1, true)
        .op("Relu", "hidden", &["reduce"])
        .conv("expand", "hidden", 4, gate_c, 1, 1, true)
        .node(
            "HardSigmoid",
            "gate",
            &["expand"],
            &["gate"],
            vec![a_float("alpha", 1.0 / 6.0), a_float("beta", 0.5)],
        )
        .op("Mul", "mul", &mul)
        .output("mul")
}

#[test]
fn squeeze_excite_with_reduce_mean_fuses() {
    let g = optimise(
        &squeeze_excite("ReduceMean", true, 8),
        "fuse_squeeze_excite",
    );
    assert_eq!(ops(&g), "conv:1 squeeze_excite:1");
    let se = squeeze_excites(&g);
    assert_eq!(se[0].act, Some(Activation::Relu));
    assert_eq!(
        se[0].gate,
        Some(Activation::HardSigmoid {
            alpha: 1.0 / 6.0,
            beta: 0.5
        })
    );
}

/// EfficientNet's squeeze-excite: `x = SiLU(conv(input))`, then `Mul(x, Sigmoid(Conv(SiLU(
/// Conv(ReduceMean(x))))))`, each SiLU spelled `Mul(v, Sigmoid(v))`.
fn efficientnet_squeeze_excite() -> Model {
    Model::new(17)
        .input("input", &[1, 8, 4, 4])
        .conv("stem", "input", 8, 8, 3, 1, true)
        .op("Sigmoid", "stem_sig", &["stem"])
        .op("Mul", "x", &["stem", "stem_sig"])
        .node(
            "ReduceMean",
            "mean",
            &["x"],
            &["mean"],
            vec![a_ints("axes", &[2, 3]), a_int("keepdims", 1)],
        )
        .conv("reduce", "mean", 8, 4, 1, 1, true)
        .op("Sigmoid", "reduce_sig", &["reduce"])
        .op("Mul", "hidden", &["reduce", "reduce_sig"])
        .conv("expand", "hidden", 4, 8, 1, 1, true)
        .op("Sigmoid", "gate", &["expand"])
        .op("Mul", "mul", &["x", "gate"])
        .output("mul")
}

#[test]
fn squeeze_excite_with_silu_and_sigmoid_fuses() {
    let g = optimise(&efficientnet_squeeze_excite(), "fuse_squeeze_excite");
    assert_eq!(ops(&g), "conv:1 squeeze_excite:1", "{g}");
    let se = squeeze_excites(&g);
    assert_eq!(se[0].act, Some(Activation::Silu));
    assert_eq!(se[0].gate, Some(Activation::Sigmoid));
    assert_eq!(the_conv(&g).1.act, Some(Activation::Silu));
}

#[test]
fn squeeze_excite_with_a_gate_read_elsewhere_does_not_fuse() {
    let m = efficientnet_squeeze_excite().output("gate");
    let g = optimise(&m, "fuse_squeeze_excite");
    assert_eq!(ops(&g), "conv:3 global_avg_pool:1 mul:1", "{g}");
}

#[test]
fn squeeze_excite_with_global_average_pool_fuses() {
    let g = optimise(
        &squeeze_excite("GlobalAveragePool", false, 8),
        "fuse_squeeze_excite",
    );
    assert_eq!(ops(&g), "conv:1 squeeze_excite:1");
}

#[test]
fn squeeze_excite_with_batch_two_fuses() {
    let g = optimise(
        &squeeze_excite_batch("ReduceMean", true, 8, 2),
        "fuse_squeeze_excite",
    );
    assert_eq!(ops(&g), "conv:1 squeeze_excite:1");
}

#[test]
fn squeeze_excite_with_a_second_reader_of_the_mean_does_not_fuse() {
    let m = squeeze_excite("ReduceMean", true, 8)
        .op("Sigmoid", "pooled", &["mean"])
        .output("pooled");
    let g = optimise(&m, "fuse_squeeze_excite");
    assert_eq!(ops(&g), "conv:3 global_avg_pool:1 mul:1 sigmoid:1");
}

#[test]
fn squeeze_excite_with_a_broadcast_gate_does_not_fuse() {
    // One gate for all channels: a valid graph, but not the per-channel squeeze-excite op.
    let g = optimise(
        &squeeze_excite("ReduceMean", true, 1),
        "fuse_squeeze_excite",
    );
    assert_eq!(ops(&g), "conv:3 global_avg_pool:1 mul:1");
}

// ---- plan_layout -------------------------------------------------------------------------------

// ---- fuse_expand_depthwise ---------------------------------------------------------------------

/// `x [1, c_in, h, h] -> conv1x1 (c_in -> c, relu) -> conv k x k in `group` groups (c -> c,
/// relu) -> output`, optionally with the expansion also an output.
fn expansion_pair(c_in: i64, c: i64, h: i64, k: i64, group: i64, expand_is_output: bool) -> Model {
    let m = Model::new(13)
        .input("x", &[1, c_in, h, h])
        .conv("e", "x", c_in, c, 1, 1, true)
        .op("Relu", "er", &["e"])
        .conv("d", "er", c, c, k, group, true)
        .op("Relu", "dr", &["d"])
        .output("dr");
    if expand_is_output {
        m.output("er")
    } else {
        m
    }
}

/// The whole pipeline on `m` with `plan_layout` disabled (every value NCHW), checked against
/// the imported graph.
fn all_nchw_pipeline(m: &Model) -> Graph {
    let before = m.import().unwrap_or_else(|e| panic!("import: {e}")).graph;
    let mut after = before.clone();
    let opts = PassOptions {
        disable: vec!["plan_layout".into()],
        ..Default::default()
    };
    pipeline::run_passes(&mut after, &opts, &mut |_, _| Ok(()))
        .unwrap_or_else(|e| panic!("pipeline: {e}"));
    assert_same_outputs(&before, &after);
    after
}

#[test]
fn nchw_expansion_and_depthwise_fuse() {
    // 48 x 40 x 40 f32s = 300 KiB: more than one block (256 KiB), so 40 channels a block.
    let g = all_nchw_pipeline(&expansion_pair(8, 48, 40, 3, 48, false));
    assert_eq!(ops(&g), "expand_depthwise:1", "{g}");
    let ed = nodes(&g)
        .into_iter()
        .find_map(|(_, op)| match op {
            Op::ExpandDepthwise(ed) => Some(ed),
            _ => None,
        })
        .expect("fused");
    assert_eq!(ed.expand.act, Some(Activation::Relu));
    assert_eq!(ed.depthwise.act, Some(Activation::Relu));
    assert_eq!(ghostc::ops::fused::ExpandDepthwise::block(48, 1600), 40);
}

#[test]
fn expansion_look_alikes_stay_apart() {
    let unfused = |m: &Model, why: &str| {
        let g = all_nchw_pipeline(m);
        assert!(!ops(&g).contains("expand_depthwise"), "{why}:\n{g}");
    };
    // The expanded tensor fits in one block.
    unfused(&expansion_pair(8, 48, 20, 3, 48, false), "small");
    // The expansion is read by another (a graph output).
    unfused(&expansion_pair(8, 48, 40, 3, 48, true), "second reader");
    // The second conv is dense (one group), or grouped but not depthwise.
    unfused(&expansion_pair(8, 48, 40, 3, 1, false), "dense");
    unfused(&expansion_pair(8, 48, 40, 3, 24, false), "grouped");
    // The first conv is not pointwise.
    let m = Model::new(13)
        .input("x", &[1, 8, 40, 40])
        .conv("e", "x", 8, 48, 3, 1, true)
        .conv("d", "e", 48, 48, 3, 48, true)
        .output("d");
    unfused(&m, "3x3 expansion");
    // With the layout plan on (a 28x28 stage of 144 channels: 441 KiB expanded), the pair
    // fuses in whichever layout the plan gave it.
    let g = optimise(
        &expansion_pair(24, 144, 28, 3, 144, false),
        "fuse_expand_depthwise",
    );
    assert!(ops(&g).contains("expand_depthwise"), "{g}");
}

/// `x [1, c_in, h, h] -> conv1x1 (c_in -> c, relu) -> depthwise 3x3 (relu) -> conv1x1 (c ->
/// c_in) -> GlobalAveragePool`: an inverted-residual block inside a small plane, where the plan
/// picks NHWC for the three convs (the pool reads NHWC).
fn nhwc_block(c_in: i64, c: i64, h: i64, stride_two: bool) -> Model {
    let m = Model::new(13)
        .input("x", &[1, c_in, h, h])
        .conv("e", "x", c_in, c, 1, 1, true)
        .op("Relu", "er", &["e"]);
    let m = if stride_two {
        m.init_rand("d.weight", &[c, 1, 3, 3], seed("d"))
            .init_rand("d.bias", &[c], seed("d") + 1)
            .node(
                "Conv",
                "d",
                &["er", "d.weight", "d.bias"],
                &["d"],
                vec![
                    a_ints("kernel_shape", &[3, 3]),
                    a_ints("strides", &[2, 2]),
                    a_ints("pads", &[1; 4]),
                    a_int("group", c),
                ],
            )
    } else {
        m.conv("d", "er", c, c, 3, c, true)
    };
    m.op("Relu", "dr", &["d"])
        .conv("p", "dr", c, c_in, 1, 1, true)
        .op("GlobalAveragePool", "gap", &["p"])
        .output("gap")
}

#[test]
fn nhwc_expansion_and_depthwise_fuse() {
    // 384 x 14 x 14 f32s = 294 KiB expanded: more than EXPAND_BLOCK_BYTES (256 KiB).
    for stride_two in [false, true] {
        let g = optimise(
            &nhwc_block(64, 384, 14, stride_two),
            "fuse_expand_depthwise",
        );
        assert_eq!(
            layouts(&g),
            "expand_depthwise:nhwc conv:nhwc global_avg_pool:nchw",
            "stride 2: {stride_two}\n{g}"
        );
        let ed = nodes(&g)
            .into_iter()
            .find_map(|(_, op)| match op {
                Op::ExpandDepthwise(ed) => Some(ed),
                _ => None,
            })
            .expect("fused");
        assert_eq!(
            ed.depthwise.strides,
            if stride_two { [2, 2] } else { [1, 1] }
        );
        // The strip's expanded rows (at most the plane's) fit in EXPAND_STRIP_BYTES.
        let rows = ed.strip_rows(384, 14);
        let in_rows = ed.strip_in_rows(rows).min(14);
        assert!(
            in_rows * 14 * 384 * 4 <= ghostc::ops::fused::EXPAND_STRIP_BYTES,
            "{rows}"
        );
        // One more output row would not fit (unless the strip is the whole plane already).
        let more = ed.strip_in_rows(rows + 1);
        assert!(more >= 14 || more * 14 * 384 * 4 > ghostc::ops::fused::EXPAND_STRIP_BYTES);
    }
    // Small enough to stay in L2 as it is (288 x 14 x 14 = 221 KiB): two NHWC convs.
    let g = optimise(&nhwc_block(48, 288, 14, false), "fuse_expand_depthwise");
    assert_eq!(
        layouts(&g),
        "conv:nhwc conv:nhwc conv:nhwc global_avg_pool:nchw",
        "{g}"
    );
}

/// The layout of each computing node's output, in schedule order: `"conv:nhwc relu:nchw"`.
fn layouts(g: &Graph) -> String {
    g.topo_order()
        .expect("acyclic")
        .into_iter()
        .filter(|&n| !matches!(g.node(n).op, Op::Input | Op::Const(_)))
        .map(|n| format!("{}:{}", g.node(n).op.name(), g.layout(ValueRef::new(n, 0))))
        .collect::<Vec<_>>()
        .join(" ")
}

/// pointwise 32 -> 32 (relu), depthwise 3x3 (relu), pointwise 32 -> 32 over a `h` x `h` plane,
/// then `tail` ("none": the last conv is the output; otherwise that unary op follows it).
fn small_plane_chain(h: i64, c: i64, tail: &str) -> Model {
    let m = Model::new(13)
        .input("x", &[1, c, h, h])
        .conv("pw1", "x", c, c, 1, 1, true)
        .op("Relu", "r1", &["pw1"])
        .conv("dw", "r1", c, c, 3, c, true)
        .op("Relu", "r2", &["dw"])
        .conv("pw2", "r2", c, c, 1, 1, true);
    if tail == "none" {
        m.output("pw2")
    } else {
        m.op(tail, "tail", &["pw2"]).output("tail")
    }
}

#[test]
fn plan_layout_picks_nhwc_between_the_edges_of_a_small_plane() {
    let g = optimise(
        &small_plane_chain(7, 32, "GlobalAveragePool"),
        "plan_layout",
    );
    // The input (NCHW, the model's edge) is read by a pointwise conv that writes NHWC; the pool
    // reads NHWC and makes a 1x1 plane, NCHW again. No transpose anywhere.
    assert_eq!(
        layouts(&g),
        "conv:nhwc conv:nhwc conv:nhwc global_avg_pool:nchw"
    );
}

/// `plan_layout`'s layouts of `m` planned for the target `triple`.
fn layouts_for(m: &Model, triple: &str) -> String {
    let mut g = m.import().expect("import").graph;
    let opts = PassOptions {
        stop_after: Some("plan_layout".into()),
        target: Target::from_triple(triple).expect("triple"),
        ..Default::default()
    };
    pipeline::run_passes(&mut g, &opts, &mut |_, _| Ok(())).expect("passes");
    layouts(&g)
}

#[test]
fn plan_layout_plans_for_the_target() {
    let chain = small_plane_chain(7, 32, "GlobalAveragePool");
    let nhwc = "conv:nhwc conv:nhwc conv:nhwc global_avg_pool:nchw";
    assert_eq!(layouts_for(&chain, "x86_64-unknown-linux-gnu"), nhwc);
    assert_eq!(layouts_for(&chain, "aarch64-unknown-linux-gnu"), nhwc);
    // One lane (the portable kernels): NCHW throughout.
    for triple in ["thumbv7em-none-eabihf", "wasm32-unknown-unknown"] {
        assert!(!layouts_for(&chain, triple).contains("nhwc"), "{triple}");
    }
    // 8 channels are half an AVX-512 vector (not given NHWC) but two NEON vectors.
    let narrow = small_plane_chain(7, 8, "GlobalAveragePool");
    assert!(!layouts_for(&narrow, "x86_64-unknown-linux-gnu").contains("nhwc"));
    assert!(layouts_for(&narrow, "aarch64-unknown-linux-gnu").contains("nhwc"));
}

#[test]
fn plan_layout_keeps_nchw_for_graph_outputs_and_ops_without_nhwc_kernels() {
    // The last conv is the graph output, so NCHW; no kernel reads NHWC to write NCHW, and the
    // depthwise conv before it cannot change layout either: the requirement reaches the input.
    let g = optimise(&small_plane_chain(7, 32, "none"), "plan_layout");
    assert_eq!(layouts(&g), "conv:nchw conv:nchw conv:nchw");
    // Likewise for a Flatten, whose element order is the NCHW one.
    let g = optimise(&small_plane_chain(7, 32, "Flatten"), "plan_layout");
    assert_eq!(layouts(&g), "conv:nchw conv:nchw conv:nchw flatten:nchw");
    // A squeeze-excite-free block whose end is pooled keeps NHWC up to the pool.
    let g = optimise(
        &small_plane_chain(7, 32, "GlobalAveragePool"),
        "plan_layout",
    );
    assert!(layouts(&g).starts_with("conv:nhwc"), "{g}");
}

#[test]
fn plan_layout_follows_the_cost_model() {
    // 28x28 with 32 channels: both convs fill their NHWC vectors, and the depthwise conv's
    // 28-wide rows leave NCHW lanes idle: NHWC throughout (the fixed 14x14 rule said NCHW).
    let g = optimise(
        &small_plane_chain(28, 32, "GlobalAveragePool"),
        "plan_layout",
    );
    assert_eq!(
        layouts(&g),
        "conv:nhwc conv:nhwc conv:nhwc global_avg_pool:nchw",
        "{g}"
    );
    // 112x112 with 16 channels: the depthwise conv fills 112-wide NCHW rows and is predicted
    // slower NHWC by more than the pointwise convs gain, so NHWC starts after it.
    let g = optimise(
        &small_plane_chain(112, 16, "GlobalAveragePool"),
        "plan_layout",
    );
    assert_eq!(
        layouts(&g),
        "conv:nchw conv:nchw conv:nhwc global_avg_pool:nchw",
        "{g}"
    );
    // Fewer channels than a vector: never NHWC.
    let g = optimise(&small_plane_chain(7, 8, "GlobalAveragePool"), "plan_layout");
    assert!(!layouts(&g).contains("nhwc"), "{g}");
}

#[test]
fn plan_layout_gain_model_signs() {
    use ghostc::passes::plan_layout::{nhwc_gain, ConvShape};
    let dw = |c, hw, k, stride| ConvShape {
        depthwise: true,
        c_in: c,
        c_out: c,
        h_in: hw,
        h_out: hw / stride,
        w_out: hw / stride,
        kernel: k,
        stride,
    };
    let pw = |c_in, c_out, hw| ConvShape {
        depthwise: false,
        c_in,
        c_out,
        h_in: hw,
        h_out: hw,
        w_out: hw,
        kernel: 1,
        stride: 1,
    };
    let avx512 = Target::default();
    let gain = |c: &ConvShape| nhwc_gain(c, &avx512);
    // Small planes and many channels: NHWC; a 7-wide row fills 7 of 16 lanes.
    assert!(gain(&dw(672, 7, 5, 1)) > 0.5);
    assert!(gain(&dw(144, 28, 3, 2)) > 0.0);
    assert!(gain(&pw(160, 960, 7)) > 0.0);
    // Wide rows and few channels: NCHW.
    assert!(gain(&dw(16, 112, 3, 1)) < 0.0);
    assert!(gain(&pw(96, 8, 28)) < 0.0);
    // The target's lane count is what the lane terms measure against: 8 channels fill half an
    // AVX-512 vector but all of two NEON ones, so NHWC gains on AArch64 what it loses on x86.
    let neon = Target::from_triple("aarch64-unknown-linux-gnu").expect("triple");
    assert_eq!(neon.vector_lanes, 4);
    let few = dw(8, 14, 3, 1);
    assert!(nhwc_gain(&few, &neon) > gain(&few));
    // A 7-wide row fills 7 of 8 NEON lanes but 7 of 16 AVX-512 ones: NCHW loses less there.
    let wide = dw(64, 7, 3, 1);
    assert!(nhwc_gain(&wide, &neon) < gain(&wide));
}

#[test]
fn plan_layout_does_not_start_nhwc_at_a_depthwise_conv() {
    // A depthwise conv has no NCHW-in, NHWC-out kernel: a stride-2 one from a large NCHW plane
    // writes NCHW, and the pointwise conv after it is where NHWC begins.
    let m = Model::new(13)
        .input("x", &[1, 32, 28, 28])
        .node(
            "Conv",
            "dw",
            &["x", "dw.weight"],
            &["dw"],
            vec![
                a_ints("kernel_shape", &[3, 3]),
                a_ints("pads", &[1; 4]),
                a_ints("strides", &[2, 2]),
                a_int("group", 32),
            ],
        )
        .init_rand("dw.weight", &[32, 1, 3, 3], 7)
        .conv("pw", "dw", 32, 32, 1, 1, true)
        .op("GlobalAveragePool", "gap", &["pw"])
        .output("gap");
    let g = optimise(&m, "plan_layout");
    assert_eq!(layouts(&g), "conv:nchw conv:nhwc global_avg_pool:nchw");
}

/// GhostNetV2's DFC branch on a 6x6 plane of 32 channels: pointwise conv `x1`, AveragePool 2x2,
/// pointwise conv, Sigmoid, nearest Resize to `size` (6x6: whole factors, the DFC gate fuses;
/// 5x5, after a 2x2 depthwise conv and a pointwise one: it does not), `Mul` with `x1`, global pool.
fn dfc_branch(size: i64) -> Model {
    let m = Model::new(13).input("x", &[1, 32, 6, 6]);
    let m = if size == 6 {
        m.conv("x1", "x", 32, 32, 1, 1, true)
    } else {
        m.node(
            "Conv",
            "x1",
            &["x", "x1.weight"],
            &["x1"],
            vec![a_ints("kernel_shape", &[2, 2]), a_int("group", 32)],
        )
        .init_rand("x1.weight", &[32, 1, 2, 2], 3)
        .conv("x1b", "x1", 32, 32, 1, 1, true)
    };
    let x1 = if size == 6 { "x1" } else { "x1b" };
    m.node(
        "AveragePool",
        "pool",
        &[x1],
        &["pool"],
        vec![a_ints("kernel_shape", &[2, 2]), a_ints("strides", &[2, 2])],
    )
    .conv("short", "pool", 32, 32, 1, 1, true)
    .op("Sigmoid", "gate", &["short"])
    .init_i64("sizes", &[4], &[1, 32, size, size])
    .node(
        "Resize",
        "up",
        &["gate", "", "", "sizes"],
        &["up"],
        vec![
            a_str("mode", "nearest"),
            a_str("nearest_mode", "floor"),
            a_str("coordinate_transformation_mode", "asymmetric"),
        ],
    )
    .op("Mul", "gated", &[x1, "up"])
    .op("GlobalAveragePool", "gap", &["gated"])
    .output("gap")
}

#[test]
fn plan_layout_keeps_the_dfc_branch_nhwc() {
    // Whole factors: gate_upsample (NHWC kernel) reads both operands NHWC.
    let g = optimise(&dfc_branch(6), "plan_layout");
    assert_eq!(
        layouts(&g),
        "conv:nhwc avg_pool:nhwc conv:nhwc gate_upsample:nhwc global_avg_pool:nchw",
        "{g}"
    );
    // A 2x2 gate to 5x5 (a factor of 2.5): the Resize and the Mul run NHWC unfused.
    let g = optimise(&dfc_branch(5), "plan_layout");
    let l = layouts(&g);
    assert!(
        l.ends_with("resize:nhwc mul:nhwc global_avg_pool:nchw"),
        "{l}\n{g}"
    );
}

#[test]
fn plan_layout_keeps_broadcasting_binary_ops_nchw() {
    // A per-channel scale broadcasts: the elementwise kernel's strides are NCHW ones, so the
    // Mul and everything feeding it stay NCHW.
    let m = Model::new(13)
        .input("x", &[1, 32, 7, 7])
        .conv("pw", "x", 32, 32, 1, 1, true)
        .init_rand("s", &[1, 32, 1, 1], 4)
        .op("Mul", "scaled", &["pw", "s"])
        .op("GlobalAveragePool", "gap", &["scaled"])
        .output("gap");
    let g = optimise(&m, "plan_layout");
    assert_eq!(
        layouts(&g),
        "conv:nchw mul:nchw global_avg_pool:nchw",
        "{g}"
    );
}

#[test]
fn plan_layout_is_bisectable_and_checked_by_verify() {
    let before = small_plane_chain(7, 32, "GlobalAveragePool")
        .import()
        .expect("import")
        .graph;
    // Disabled, everything stays NCHW.
    let mut off = before.clone();
    let opts = PassOptions {
        disable: vec!["plan_layout".into()],
        ..Default::default()
    };
    pipeline::run_passes(&mut off, &opts, &mut |_, _| Ok(())).expect("passes");
    assert!(off.layouts.is_empty());
    // A layout no kernel can run is refused by the verifier, naming the node.
    let mut bad = run_until(&before, "plan_layout");
    let pool = bad
        .topo_order()
        .expect("acyclic")
        .into_iter()
        .find(|&n| matches!(bad.node(n).op, Op::GlobalAveragePool))
        .expect("pool");
    bad.layouts
        .insert(ValueRef::new(pool, 0), ghostc::ir::layout::Layout::Nhwc);
    let err = ghostc::ir::verify::verify(&bad).expect_err("an nhwc pool output");
    assert!(err.contains("'tail'") && err.contains("no kernel"), "{err}");
}

// ---- simplify ----------------------------------------------------------------------------------

#[test]
fn simplify_removes_identity_and_dropout() {
    let m = Model::new(13)
        .input("x", &[1, 4, 3, 3])
        .op("Relu", "relu", &["x"])
        .op("Identity", "id", &["relu"])
        .op("Dropout", "drop", &["id"])
        .op("Sigmoid", "sig", &["drop"])
        .output("sig");
    let g = optimise(&m, "simplify");
    assert_eq!(ops(&g), "relu:1 sigmoid:1");
}

#[test]
fn simplify_keeps_an_identity_from_input_to_output() {
    let m = Model::new(13)
        .input("x", &[1, 4])
        .op("Identity", "id", &["x"])
        .output("id");
    let g = optimise(&m, "simplify");
    assert_eq!(ops(&g), "identity:1");
}

#[test]
fn simplify_removes_no_op_slice_and_reshape() {
    let m = Model::new(13)
        .input("x", &[1, 4, 3, 3])
        .init_i64("starts", &[1], &[0])
        .init_i64("ends", &[1], &[i64::MAX])
        .init_i64("axes", &[1], &[1])
        .init_i64("shape", &[4], &[1, 4, 3, 3])
        .op("Relu", "relu", &["x"])
        .op("Slice", "slice", &["relu", "starts", "ends", "axes"])
        .op("Reshape", "reshape", &["slice", "shape"])
        .op("Sigmoid", "sig", &["reshape"])
        .output("sig");
    let g = optimise(&m, "simplify");
    assert_eq!(ops(&g), "relu:1 sigmoid:1");
}

#[test]
fn simplify_keeps_a_reversing_slice() {
    // steps -1 over a whole axis: same shape, different order.
    let m = Model::new(13)
        .input("x", &[1, 4, 3, 3])
        .init_i64("starts", &[1], &[-1])
        .init_i64("ends", &[1], &[i64::MIN])
        .init_i64("axes", &[1], &[1])
        .init_i64("steps", &[1], &[-1])
        .op("Relu", "relu", &["x"])
        .op(
            "Slice",
            "slice",
            &["relu", "starts", "ends", "axes", "steps"],
        )
        .output("slice");
    let g = optimise(&m, "simplify");
    assert_eq!(ops(&g), "relu:1 slice:1");
}

#[test]
fn simplify_merges_reshape_chains() {
    let m = Model::new(13)
        .input("x", &[1, 4, 3, 3])
        .init_i64("s1", &[2], &[1, 36])
        .init_i64("s2", &[3], &[4, 9, 1])
        .op("Relu", "relu", &["x"])
        .op("Reshape", "r1", &["relu", "s1"])
        .op("Reshape", "r2", &["r1", "s2"])
        .op("Sigmoid", "sig", &["r2"])
        .output("sig");
    let g = optimise(&m, "simplify");
    assert_eq!(ops(&g), "relu:1 reshape:1 sigmoid:1");
    let reshape = nodes(&g)
        .into_iter()
        .find_map(|(_, op)| match op {
            Op::Reshape { shape, .. } => Some(shape),
            _ => None,
        })
        .expect("a reshape");
    assert_eq!(reshape, [4, 9, 1]);
}

#[test]
fn simplify_turns_a_spatial_reduce_mean_into_a_global_average_pool() {
    let m = |axes: &[i64], keepdims: i64| {
        Model::new(13)
            .input("x", &[2, 4, 3, 5])
            .node(
                "ReduceMean",
                "mean",
                &["x"],
                &["mean"],
                vec![a_ints("axes", axes), a_int("keepdims", keepdims)],
            )
            .output("mean")
    };
    assert_eq!(
        ops(&optimise(&m(&[2, 3], 1), "simplify")),
        "global_avg_pool:1"
    );
    assert_eq!(
        ops(&optimise(&m(&[-2, -1], 1), "simplify")),
        "global_avg_pool:1"
    );
    // Other axes, or dropping them, stay a ReduceMean.
    assert_eq!(ops(&optimise(&m(&[2, 3], 0), "simplify")), "reduce_mean:1");
    assert_eq!(
        ops(&optimise(&m(&[1, 2, 3], 1), "simplify")),
        "reduce_mean:1"
    );
}

#[test]
fn simplify_folds_nodes_with_constant_inputs() {
    // Relu and Sigmoid are not folded on import; simplify evaluates them.
    let m = Model::new(13)
        .input("x", &[1, 4])
        .init_f32("c", &[4], &[1.0, -2.0, 3.5, -4.25])
        .op("Relu", "relu_c", &["c"])
        .op("Sigmoid", "sig_c", &["relu_c"])
        .op("Add", "add", &["x", "sig_c"])
        .output("add");
    let g = optimise(&m, "simplify");
    assert_eq!(ops(&g), "add:1");
}

// ---- the whole pipeline on the fixtures --------------------------------------------------------

fn optimised_fixture(name: &str) -> Graph {
    let mut g = pipeline::import(&fixture(name), &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .graph;
    pipeline::run_passes(&mut g, &PassOptions::default(), &mut |_, _| Ok(()))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    g
}

#[test]
fn fixtures_fuse_to_ghost_modules_and_squeeze_excites() {
    for name in [
        "ghostnet_100_ts13",
        "ghostnet_050_ts13_bn_dynbatch",
        "ghostnet_050_dynamo",
    ] {
        let g = optimised_fixture(name);
        let counts = op_counts(&g);
        let count = |op: &str| counts.get(op).copied().unwrap_or(0);
        assert_eq!(count("ghost_module"), 32, "{name}: {counts:?}");
        assert_eq!(count("squeeze_excite"), 7, "{name}: {counts:?}");
        for op in ["concat", "slice", "batch_norm", "relu", "add", "mul"] {
            assert_eq!(count(op), 0, "{name}: {op} left: {counts:?}");
        }
        // Every activation is fused: the stem conv and the head conv carry their Relu, the
        // bottleneck Relus sit in the Ghost modules' halves, the squeeze-excite Relu and
        // HardSigmoid in the squeeze_excite op. No activation-bearing op is left on its own.
        for op in ["relu", "clip", "hard_sigmoid", "hard_swish", "sigmoid"] {
            assert_eq!(count(op), 0, "{name}: {op} left: {counts:?}");
        }

        // Idempotent: a second run finds nothing to do.
        let mut again = g.clone();
        pipeline::run_passes(&mut again, &PassOptions::default(), &mut |_, _| Ok(()))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(again.to_string(), g.to_string(), "{name}: second run");
    }
}

#[test]
fn ir_after_every_stage() {
    insta::glob!("../../examples/models", "*/model.onnx", |path| {
        let folder = model_folder(path);
        let mut g = pipeline::import(path, &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{folder}: {e}"))
            .graph;
        let mut stages = Vec::new();
        pipeline::run_passes(&mut g, &PassOptions::default(), &mut |stage, g| {
            stages.push((stage.to_string(), g.to_string()));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{folder}: {e}"));
        let mut settings = settings();
        settings.set_snapshot_suffix(folder);
        settings.bind(|| {
            for (stage, text) in &stages {
                insta::assert_snapshot!(format!("ir_after_{stage}"), text);
            }
        });
    });
}
