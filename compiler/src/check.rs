//! `ghostc check`: runs the reference interpreter on the graph after import and after every pass,
//! and reports per stage the largest difference from the unoptimised graph's outputs (and from a
//! reference output file), naming the first node that diverges.

use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::ir::text::numbering;
use crate::ir::{Graph, Tensor, ValueRef};
use crate::ops::eval;
use crate::pipeline::{self, PassOptions};
use crate::ImportOptions;

/// Raw little-endian f32s from a file.
pub fn read_f32(path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.len() % 4 != 0 {
        return Err(Error::Option(format!(
            "{} is not a whole number of f32s ({} bytes)",
            path.display(),
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Result of a check: the report text and whether every stage stayed within tolerance.
pub struct Report {
    pub text: String,
    pub ok: bool,
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(
            0f32,
            |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) },
        )
}

/// Outputs of every named node, keyed by node name (first output).
fn by_name(g: &Graph, vals: &HashMap<ValueRef, Tensor>) -> HashMap<String, Tensor> {
    g.g.node_indices()
        .filter_map(|n| {
            vals.get(&ValueRef::new(n, 0))
                .map(|t| (g.node(n).name.clone(), t.clone()))
        })
        .collect()
}

/// Checks `model` on `input` (and against `reference` if given).
pub fn check(
    model: &Path,
    input: &Path,
    reference: Option<&Path>,
    import: &ImportOptions,
    passes: &PassOptions,
) -> Result<Report> {
    let imported = pipeline::import(model, import)?;
    let mut g = imported.graph;
    let [inp] = g.inputs[..] else {
        return Err(Error::Option(
            "check supports models with exactly one input".into(),
        ));
    };
    let shape = g.node(inp).outputs[0].shape.clone();
    let data = read_f32(input)?;
    if data.len() != g.node(inp).outputs[0].len() {
        return Err(Error::Option(format!(
            "{} holds {} f32s, the input {:?} needs {}",
            input.display(),
            data.len(),
            shape,
            g.node(inp).outputs[0].len()
        )));
    }
    let x = Tensor::f32(shape, data);
    let reference = reference.map(read_f32).transpose()?;

    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:<22} {:>6} {:>12} {:>12}  result",
        "stage", "nodes", "max|diff|", "tolerance"
    );
    let mut base: Option<(Vec<Tensor>, HashMap<String, Tensor>)> = None;
    let mut ok = true;
    let mut observe = |stage: &str, g: &Graph| -> Result<()> {
        let vals = eval::run(g, std::slice::from_ref(&x)).map_err(|e| Error::Verify {
            stage: stage.to_string(),
            msg: format!("evaluation failed: {e}"),
        })?;
        let outs: Vec<Tensor> = g.outputs.iter().map(|(_, v)| vals[v].clone()).collect();
        let nodes = g.g.node_count();
        let (b_outs, b_named) = base.get_or_insert_with(|| (outs.clone(), by_name(g, &vals)));
        let scale = b_outs
            .iter()
            .flat_map(|t| t.as_f32().unwrap_or_default())
            .fold(1f32, |m, v| m.max(v.abs()));
        let tol = 1e-4 * scale;
        let diff = outs
            .iter()
            .zip(b_outs.iter())
            .map(|(a, b)| {
                max_diff(
                    a.as_f32().unwrap_or_default(),
                    b.as_f32().unwrap_or_default(),
                )
            })
            .fold(0f32, f32::max);
        let good = diff <= tol;
        let mut verdict = if good {
            "ok".to_string()
        } else {
            "DIVERGES".to_string()
        };
        if !good {
            ok = false;
            let (order, num) = numbering(g);
            for n in order {
                let name = &g.node(n).name;
                let (Some(t), Some(b)) = (vals.get(&ValueRef::new(n, 0)), b_named.get(name)) else {
                    continue;
                };
                if t.shape == b.shape
                    && max_diff(
                        t.as_f32().unwrap_or_default(),
                        b.as_f32().unwrap_or_default(),
                    ) > tol
                {
                    verdict = format!(
                        "DIVERGES first at %{} {:?} ({})",
                        num[&n],
                        name,
                        g.node(n).op.name()
                    );
                    break;
                }
            }
        }
        let _ = writeln!(
            text,
            "{stage:<22} {nodes:>6} {diff:>12.3e} {tol:>12.3e}  {verdict}"
        );
        Ok(())
    };
    pipeline::run_passes(&mut g, passes, &mut observe)?;
    if let Some(r) = reference {
        let vals = eval::run(&g, std::slice::from_ref(&x)).map_err(Error::Emit)?;
        let out: Vec<f32> = g
            .outputs
            .iter()
            .flat_map(|(_, v)| vals[v].as_f32().unwrap_or_default().to_vec())
            .collect();
        if out.len() != r.len() {
            return Err(Error::Option(format!(
                "the reference holds {} f32s, the outputs have {}",
                r.len(),
                out.len()
            )));
        }
        let scale = r.iter().fold(1f32, |m, v| m.max(v.abs()));
        let diff = max_diff(&out, &r);
        let good = diff <= 1e-4 * scale;
        ok &= good;
        let _ = writeln!(
            text,
            "{:<22} {:>6} {diff:>12.3e} {:>12.3e}  {}",
            "final vs reference",
            "",
            1e-4 * scale,
            if good { "ok" } else { "DIVERGES" }
        );
    }
    Ok(Report { text, ok })
}
