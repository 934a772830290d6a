//! Graphviz rendering of the IR (`--emit dot`): constants are folded into their users' labels.

use std::fmt::Write;

use crate::ir::layout::Layout;
use crate::ir::text::numbering;
use crate::ir::{Graph, ValueRef};
use crate::ops::{Attrs, Op};

/// The type of `v` as the IR text shows it: `f32[1,960,7,7]`, then ` nhwc` if `plan_layout`
/// made it channels-last.
fn value_label(g: &Graph, v: ValueRef) -> String {
    match g.layout(v) {
        Layout::Nhwc => format!("{} nhwc", g.ty(v)),
        Layout::Nchw => g.ty(v).to_string(),
    }
}

/// The graph in DOT syntax. Labels are escaped, so any node name is safe. Values keep the
/// IR text's notation, layout included (`f32[1,960,7,7] nhwc`).
pub fn to_dot(g: &Graph) -> String {
    let (order, num) = numbering(g);
    let mut s = String::from("digraph ghostc {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n");
    for &n in &order {
        let node = g.node(n);
        if matches!(node.op, Op::Const(_)) {
            continue;
        }
        let consts: Vec<String> = g
            .inputs(n)
            .into_iter()
            .filter_map(|v| {
                g.constant(v)
                    .map(|t| crate::ir::Shape(&t.shape).to_string())
            })
            .collect();
        let tys: Vec<String> = (0..node.outputs.len())
            .map(|p| value_label(g, ValueRef::new(n, p)))
            .collect();
        let mut label = format!(
            "%{} {}{}\\n{}",
            num[&n],
            node.op.name(),
            escape(&Attrs(&node.op).to_string()),
            escape(&node.name)
        );
        if !consts.is_empty() {
            let _ = write!(label, "\\nweights {}", consts.join(" "));
        }
        let _ = write!(label, "\\n{}", tys.join(", "));
        let _ = writeln!(s, "  n{} [label=\"{}\"];", num[&n], label);
    }
    for &n in &order {
        if matches!(g.node(n).op, Op::Const(_)) {
            continue;
        }
        for v in g.inputs(n) {
            if g.constant(v).is_none() {
                let _ = writeln!(
                    s,
                    "  n{} -> n{} [label=\"{}\"];",
                    num[&v.node],
                    num[&n],
                    value_label(g, v)
                );
            }
        }
    }
    for (i, (name, v)) in g.outputs.iter().enumerate() {
        let _ = writeln!(
            s,
            "  out{i} [label=\"output {}\", shape=ellipse];\n  n{} -> out{i};",
            escape(name),
            num[&v.node]
        );
    }
    s.push_str("}\n");
    s
}

fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\\' | '{' | '}' | '<' | '>' | '|' => {
                o.push('\\');
                o.push(c);
            }
            '\n' | '\r' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}
