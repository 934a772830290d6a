//! Fuzz target: arbitrary bytes as an ONNX model through the whole compiler, in memory (import,
//! verify, every pass with verification, memory plan, Rust emission). Any `Err` is fine; a panic,
//! an abort, a timeout or an allocation over libFuzzer's limit is a bug.
#![no_main]

use ghostc::analysis::memory;
use ghostc::back::{emit, lower, EmitOptions, WeightsMode};
use ghostc::pipeline::{import_bytes, run_passes, PassOptions};
use ghostc::ImportOptions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut imported) = import_bytes(data, &ImportOptions::default()) else {
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
        weights_mode: WeightsMode::File,
        header: Vec::new(),
        // Odd lengths also emit the per-layer profiler (names in string literals).
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
