//! The runtime's layering (ARCHITECTURE.md, code map): every module imports only modules of a
//! lower layer or of its own, the op modules import each other without cycles, and only the
//! architecture code and the dispatch point name a target architecture or detect CPU features.
//! Read from the sources, so a new import that breaks the order fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers, lowest first. Each module may use modules of its own layer or below.
const LAYERS: &[&[&str]] = &[
    &["params"],
    &[
        "activation",
        "threads",
        "io",
        "weights",
        "arena",
        "probe",
        "kernels",
    ],
    &["kernels::simd"],
    &["arch"],
    &["dispatch"],
    &["kernels::op"],
    &["lib"],
];

/// The op modules under `kernels/` (everything there but `mod.rs` and `simd/`).
fn op_modules(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src.join("kernels"))
        .expect("kernels/")
        .filter_map(|e| {
            let p = e.ok()?.path();
            let name = p.file_stem()?.to_str()?.to_string();
            (p.extension()? == "rs" && name != "mod").then_some(name)
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable source folder") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The layer key of a source file, relative to `src/`.
fn file_key(rel: &str) -> String {
    let parts: Vec<&str> = rel.trim_end_matches(".rs").split('/').collect();
    match parts.as_slice() {
        ["kernels", "mod"] => "kernels".into(),
        ["kernels", "simd", ..] => "kernels::simd".into(),
        ["kernels", op] => format!("kernels::op::{op}"),
        [top, ..] => (*top).into(),
        [] => unreachable!(),
    }
}

/// The layer key a `crate::a::b` path refers to.
fn path_key(a: &str, b: Option<&str>, ops: &BTreeSet<String>) -> String {
    match (a, b) {
        ("kernels", Some("simd")) => "kernels::simd".into(),
        ("kernels", Some(op)) if ops.contains(op) => format!("kernels::op::{op}"),
        (top, _) if LAYERS.iter().any(|l| l.contains(&top)) => top.into(),
        // An item the crate root re-exports.
        _ => "lib".into(),
    }
}

fn layer(key: &str) -> usize {
    let key = if key.starts_with("kernels::op::") {
        "kernels::op"
    } else {
        key
    };
    LAYERS
        .iter()
        .position(|l| l.contains(&key))
        .unwrap_or_else(|| panic!("module {key} is in no layer: add it to LAYERS"))
}

/// Every `crate::a[::b]` and, inside `kernels/`, `super::b` path in `text` (test modules
/// excluded: tests may reach anything).
fn uses(text: &str, in_kernels: bool) -> Vec<(String, Option<String>)> {
    // The code before the first test module, comments dropped (docs may link anything).
    let lines: Vec<&str> = text.lines().collect();
    let mut code = String::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let next = lines.get(i + 1).map_or("", |l| l.trim_start());
        if t.starts_with("#[cfg(") && t.contains("test") && next.starts_with("mod ") {
            break;
        }
        if !t.starts_with("//") {
            code.push_str(line);
            code.push('\n');
        }
    }
    let code = code.as_str();
    let mut out = Vec::new();
    for (prefix, implied) in [("crate::", None), ("super::", Some("kernels"))] {
        if implied.is_some() && !in_kernels {
            continue;
        }
        let mut rest = code;
        while let Some(i) = rest.find(prefix) {
            rest = &rest[i + prefix.len()..];
            let ident = |s: &str| -> String {
                s.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect()
            };
            let first = ident(rest);
            let after = &rest[first.len()..];
            let second = after
                .strip_prefix("::")
                .map(ident)
                .filter(|s| !s.is_empty());
            match implied {
                Some(parent) => out.push((parent.to_string(), Some(first))),
                None => out.push((first, second)),
            }
        }
    }
    out
}

#[test]
fn modules_import_only_lower_layers_and_op_modules_have_no_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let ops = op_modules(&src);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut op_graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut bad = Vec::new();
    for f in &files {
        let rel = f
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "testutil.rs" {
            continue; // test-only helpers
        }
        let from = file_key(&rel);
        let text = std::fs::read_to_string(f).expect("readable source");
        // `super::` inside kernels/simd/ and arch/ means their own folder; only the op modules'
        // `super::` is the kernels helpers (or a sibling op module).
        let in_op_module = from.starts_with("kernels::op::");
        for (a, b) in uses(&text, in_op_module) {
            let to = path_key(&a, b.as_deref(), &ops);
            if to == from || to == "crate" {
                continue;
            }
            if layer(&to) > layer(&from) {
                bad.push(format!("{rel}: uses {to} (a higher layer than {from})"));
            }
            if in_op_module && to.starts_with("kernels::op::") {
                op_graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    assert!(bad.is_empty(), "layering violations:\n{}", bad.join("\n"));
    // No cycles among the op modules: repeatedly remove modules that import no remaining one.
    let mut left: BTreeSet<String> = op_graph.keys().cloned().collect();
    loop {
        let free: Vec<String> = left
            .iter()
            .filter(|m| op_graph[*m].iter().all(|t| !left.contains(t)))
            .cloned()
            .collect();
        if free.is_empty() {
            break;
        }
        for m in free {
            left.remove(&m);
        }
    }
    assert!(left.is_empty(), "import cycle among op modules: {left:?}");
}

#[test]
fn only_arch_and_dispatch_name_an_architecture() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut detecting = Vec::new();
    for f in &files {
        let rel = f
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(f).expect("readable source");
        let allowed = rel.starts_with("arch/") || rel == "dispatch.rs";
        assert!(
            allowed || !text.contains("target_arch"),
            "{rel} names a target architecture: that belongs in arch/"
        );
        if text.contains("is_x86_feature_detected") {
            detecting.push(rel);
        }
    }
    assert_eq!(
        detecting,
        ["arch/x86_64/mod.rs"],
        "CPU features detected in one place"
    );
}
