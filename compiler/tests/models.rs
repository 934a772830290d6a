//! Data-driven checks over every fixture in `examples/models/*/model.onnx`: the imported IR is
//! snapshotted, its multiply-adds match the folder's `meta.json`, and it classifies 1000 classes.
//! Adding a model folder needs no change here.

mod support;

use std::collections::BTreeMap;

use ghostc::analysis::cost;
use ghostc::ir::Graph;
use ghostc::ops::Op;
use ghostc::{pipeline, ImportOptions};

/// The integer after `"key":` in a JSON text (first occurrence; enough for meta.json).
fn json_u64(json: &str, key: &str) -> Option<u64> {
    let pat = format!("\"{key}\"");
    let rest = &json[json.find(&pat)? + pat.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn output_shapes(g: &Graph) -> Vec<Vec<usize>> {
    g.outputs
        .iter()
        .map(|(_, v)| g.ty(*v).shape.clone())
        .collect()
}

/// Conv kinds as `(kernel, stride, depthwise)` with their counts.
fn conv_kinds(g: &Graph) -> BTreeMap<([usize; 2], [usize; 2], bool), usize> {
    let mut h = BTreeMap::new();
    for n in g.g.node_indices() {
        if let Op::Conv(c) = &g.node(n).op {
            let c_in = g
                .inputs(n)
                .first()
                .map(|&x| g.ty(x).shape[1])
                .expect("conv has an input");
            *h.entry((c.kernel, c.strides, c.is_depthwise(c_in)))
                .or_insert(0) += 1;
        }
    }
    h
}

#[test]
fn every_model_imports_and_matches_its_meta() {
    insta::glob!("../../examples/models", "*/model.onnx", |path| {
        let folder = path
            .parent()
            .and_then(std::path::Path::file_name)
            .and_then(|s| s.to_str())
            .expect("model folder name")
            .to_string();
        let imported = pipeline::import(path, &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{folder}: {e}"));
        let g = &imported.graph;

        support::settings().bind(|| insta::assert_snapshot!("import_ir", g.to_string()));

        let meta = std::fs::read_to_string(path.with_file_name("meta.json"))
            .expect("meta.json next to model.onnx");
        let macs = json_u64(&meta, "macs")
            .unwrap_or_else(|| panic!("{folder}: meta.json has no \"macs\""));
        let t = cost::totals(g);
        assert_eq!(t.macs, macs, "{folder}: multiply-adds");
        assert_eq!(
            output_shapes(g),
            vec![vec![1, 1000]],
            "{folder}: output shape"
        );
        if folder == "ghostnet_100_ts13" {
            assert_eq!(t.params, 5_171_524, "{folder}: parameters");
        }
    });
}

#[test]
fn dynamic_batch_is_pinned_by_input_shape() {
    let path = support::fixture("ghostnet_050_ts13_bn_dynbatch");

    let pinned = pipeline::import(&path, &support::shapes(&[("input", &[4, 3, 224, 224])]))
        .expect("import with batch 4");
    assert_eq!(output_shapes(&pinned.graph), vec![vec![4, 1000]]);
    assert!(
        pinned.warnings.is_empty(),
        "unexpected warnings: {:?}",
        pinned.warnings
    );

    let defaulted =
        pipeline::import(&path, &ImportOptions::default()).expect("import with the default batch");
    assert_eq!(output_shapes(&defaulted.graph), vec![vec![1, 1000]]);
    assert_eq!(defaulted.warnings.len(), 1, "{:?}", defaulted.warnings);
    assert!(
        defaulted.warnings[0].contains("batch"),
        "{:?}",
        defaulted.warnings
    );
    // Batch 4 is four times the work of batch 1.
    assert_eq!(
        cost::totals(&pinned.graph).macs,
        4 * cost::totals(&defaulted.graph).macs
    );
}

#[test]
fn all_fixtures_have_the_same_conv_kinds() {
    let mut kinds = BTreeMap::new();
    for name in [
        "ghostnet_100_ts13",
        "ghostnet_050_ts13_bn_dynbatch",
        "ghostnet_050_dynamo",
    ] {
        let imported = pipeline::import(&support::fixture(name), &ImportOptions::default())
            .expect("fixture imports");
        kinds.insert(name, conv_kinds(&imported.graph));
    }
    let reference = &kinds["ghostnet_100_ts13"];
    // meta.json: 53 dense 1x1/1, 33 dw 3x3/1, 4 dw 3x3/2, 4 dw 5x5/2, 1 dense 3x3/2.
    let expected: BTreeMap<_, _> = [
        (([1, 1], [1, 1], false), 53),
        (([3, 3], [1, 1], true), 33),
        (([3, 3], [2, 2], true), 4),
        (([5, 5], [2, 2], true), 4),
        (([3, 3], [2, 2], false), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(reference, &expected);
    for (name, k) in &kinds {
        assert_eq!(k, reference, "{name}");
    }
}
