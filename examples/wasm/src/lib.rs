//! GhostNet as a WebAssembly module: two models compiled by `build.rs` (a tiny synthetic
//! GhostNet and GhostNet 0.5x at 224x224), each run on its fixture's input and compared with
//! onnxruntime's output inside the module. The host calls `check(i)` for model `i` (0 and 1;
//! `models()` says how many) and reads `max_diff()`, `tolerance()` and `same_top5()` of that
//! run: `run.py` does it with wasmtime. Nothing is imported from the host, so any wasm runtime
//! or browser runs it as it is.

use std::cell::Cell;

mod tiny {
    include!(concat!(env!("OUT_DIR"), "/tiny_ghost_net.rs"));
}
mod ghost {
    include!(concat!(env!("OUT_DIR"), "/ghost_net050.rs"));
}

/// Little-endian f32s.
fn read_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Indices of the five largest values, largest first.
fn top5(v: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[b].total_cmp(&v[a]).then(a.cmp(&b)));
    idx.truncate(5);
    idx
}

/// The last `check`: max |diff|, its tolerance, whether the top-5 agree.
#[derive(Clone, Copy)]
struct Outcome {
    diff: f32,
    tolerance: f32,
    same_top5: bool,
}

thread_local! {
    static LAST: Cell<Outcome> = const {
        Cell::new(Outcome { diff: f32::NAN, tolerance: f32::NAN, same_top5: false })
    };
}

/// How many models `check` knows.
#[no_mangle]
pub extern "C" fn models() -> u32 {
    2
}

/// Runs model `i` on its fixture's input and compares with onnxruntime's output (max |diff|
/// within 1e-4 x max(1, max|ref|) and the same top-5). Returns 1 if it matches, 0 if not or if
/// there is no model `i`.
#[no_mangle]
pub extern "C" fn check(i: u32) -> u32 {
    let (output, reference) = match i {
        0 => run(
            include_bytes!("../../synthetic/tiny_ghostnet/input.bin"),
            include_bytes!("../../synthetic/tiny_ghostnet/output.bin"),
            |x, y| {
                tiny::TinyGhostNet::new().run(
                    x.try_into().expect("input size"),
                    y.try_into().expect("output size"),
                )
            },
        ),
        1 => run(
            include_bytes!("../../models/ghostnet_050_dynamo/input.bin"),
            include_bytes!("../../models/ghostnet_050_dynamo/output.bin"),
            |x, y| {
                ghost::GhostNet050::new().run(
                    x.try_into().expect("input size"),
                    y.try_into().expect("output size"),
                )
            },
        ),
        _ => return 0,
    };
    let tolerance = 1e-4 * reference.iter().fold(1f32, |m, r| m.max(r.abs()));
    let diff = output
        .iter()
        .zip(&reference)
        .map(|(o, r)| (o - r).abs())
        .fold(
            0f32,
            |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) },
        );
    let outcome = Outcome {
        diff,
        tolerance,
        same_top5: top5(&output) == top5(&reference),
    };
    LAST.with(|l| l.set(outcome));
    u32::from(outcome.diff <= outcome.tolerance && outcome.same_top5)
}

/// The model's output on `input` with the reference beside it.
fn run(
    input: &[u8],
    reference: &[u8],
    model: impl FnOnce(&[f32], &mut [f32]),
) -> (Vec<f32>, Vec<f32>) {
    let (input, reference) = (read_f32(input), read_f32(reference));
    let mut output = vec![f32::NAN; reference.len()];
    model(&input, &mut output);
    (output, reference)
}

/// Max |diff| of the last `check`.
#[no_mangle]
pub extern "C" fn max_diff() -> f32 {
    LAST.with(|l| l.get().diff)
}

/// Tolerance of the last `check`: 1e-4 x max(1, max|ref|).
#[no_mangle]
pub extern "C" fn tolerance() -> f32 {
    LAST.with(|l| l.get().tolerance)
}

/// Whether the last `check`'s top-5 classes were onnxruntime's, in order.
#[no_mangle]
pub extern "C" fn same_top5() -> u32 {
    LAST.with(|l| u32::from(l.get().same_top5))
}

/// The kernel table the runtime runs here (`simd128` when the module was built with
/// `-C target-feature=+simd128`, else `portable`): its length in bytes...
#[no_mangle]
pub extern "C" fn kernels_len() -> u32 {
    ghostc_runtime::kernel_isa().len() as u32
}

/// ... and where its UTF-8 bytes are in the module's memory.
#[no_mangle]
pub extern "C" fn kernels_ptr() -> *const u8 {
    ghostc_runtime::kernel_isa().as_ptr()
}
