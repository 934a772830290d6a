//! The compiler's story in numbers, one `metrics@<model>` snapshot per fixture in
//! `examples/models/*/model.onnx`: computing nodes after each stage, what each pass folded or
//! fused, the arena against the liveness lower bound, weight bytes and generated lines. Also
//! checks the memory plan stays within 10% of the lower bound on every fixture.

mod support;

use std::fmt::Write;

use ghostc::analysis::cost;
use ghostc::ir::Graph;
use ghostc::ops::Op;
use ghostc::pipeline::{self, PassOptions};
use ghostc::{CompileOptions, ImportOptions};
use support::*;

/// Nodes of `g` for which `want` holds.
fn count(g: &Graph, want: impl Fn(&Op) -> bool) -> usize {
    g.g.node_indices().filter(|&n| want(&g.node(n).op)).count()
}

/// Nodes computed at run time (not inputs, not constants).
fn computing(g: &Graph) -> usize {
    count(g, |op| !matches!(op, Op::Input | Op::Const(_)))
}

fn is_batch_norm(op: &Op) -> bool {
    matches!(op, Op::BatchNorm { .. })
}

fn is_activation(op: &Op) -> bool {
    matches!(op, Op::Activation(_))
}

#[test]
fn metrics() {
    insta::glob!("../../examples/models", "*/model.onnx", |path| {
        let folder = model_folder(path);
        let mut g = pipeline::import(path, &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{folder}: {e}"))
            .graph;
        let (bn_before, act_before) = (count(&g, is_batch_norm), count(&g, is_activation));
        let mut stages: Vec<(String, usize)> = Vec::new();
        pipeline::run_passes(&mut g, &PassOptions::default(), &mut |stage, g| {
            stages.push((stage.to_string(), computing(g)));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{folder}: {e}"));

        let compiled = ghostc::compile(
            path,
            &CompileOptions {
                weights_file: "model.weights.bin".into(),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{folder}: {e}"));
        assert_eq!(
            compiled.graph.to_string(),
            g.to_string(),
            "{folder}: compile() emits the graph the passes give"
        );
        let (arena, bound) = (
            compiled.plan.arena_len as u64 * 4,
            compiled.plan.lower_bound as u64 * 4,
        );
        assert!(
            arena * 10 <= bound * 11,
            "{folder}: arena {arena} bytes is more than 1.1 x the lower bound {bound}"
        );

        let mut s = String::new();
        let _ = writeln!(s, "{:<28}{:>12}", "stage", "nodes");
        for (stage, nodes) in &stages {
            let _ = writeln!(s, "{stage:<28}{nodes:>12}");
        }
        let _ = writeln!(s);
        let in_place =
            g.g.node_indices()
                .filter(|&n| ghostc::analysis::memory::runs_in_place(&compiled.plan, &g, n))
                .count();
        let rows: [(&str, String); 12] = [
            (
                "batch norms folded",
                (bn_before - count(&g, is_batch_norm)).to_string(),
            ),
            (
                "ghost modules fused",
                count(&g, |op| matches!(op, Op::GhostModule(_))).to_string(),
            ),
            (
                "squeeze-excites fused",
                count(&g, |op| matches!(op, Op::SqueezeExcite(_))).to_string(),
            ),
            (
                "activations fused",
                (act_before - count(&g, is_activation)).to_string(),
            ),
            ("values in nhwc", g.layouts.len().to_string()),
            ("ops run in place", in_place.to_string()),
            ("arena bytes", cost::thousands(arena)),
            ("liveness lower bound bytes", cost::thousands(bound)),
            (
                "arena / lower bound",
                format!("{:.3}", arena as f64 / bound.max(1) as f64),
            ),
            ("weight bytes", cost::thousands(cost::totals(&g).params * 4)),
            ("multiply-adds", cost::thousands(cost::totals(&g).macs)),
            (
                "generated lines",
                compiled.source.lines().count().to_string(),
            ),
        ];
        for (what, value) in rows {
            let _ = writeln!(s, "{what:<28}{value:>12}");
        }

        let mut settings = settings();
        settings.set_snapshot_suffix(folder);
        settings.bind(|| insta::assert_snapshot!("metrics", s));
    });
}
