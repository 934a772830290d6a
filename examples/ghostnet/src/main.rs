//! Runs the generated GhostNet on the fixture input: prints the top-5 classes, the largest
//! difference from onnxruntime's output, and the median latency; `--profile` prints the
//! per-layer table instead; `--subnormal` times a run on the input scaled into the subnormal
//! range (1e-39) against the normal input, interleaved.
//!
//! `cargo run --release -p ghostnet-example -- [RUNS] [THREADS] [--profile | --subnormal]`

include!(concat!(env!("OUT_DIR"), "/ghost_net.rs"));

use std::time::Instant;

fn read_f32(path: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let profile = args.iter().any(|a| a == "--profile");
    let nums: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let runs = nums.first().copied().unwrap_or(20).max(1);
    let threads = nums.get(1).copied().unwrap_or(1);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/ghostnet_100_ts13");
    let input: Box<[f32; GhostNet::INPUT_LEN]> = read_f32(&format!("{dir}/input.bin"))
        .into_boxed_slice()
        .try_into()
        .expect("input.bin has the model's input size");
    let reference = read_f32(&format!("{dir}/output.bin"));

    let mut model = GhostNet::with_threads(threads);
    let mut output = [0f32; GhostNet::OUTPUT_LEN];
    if profile {
        print!("{}", model.profile(&input, &mut output, runs));
        return;
    }
    if args.iter().any(|a| a == "--subnormal") {
        let tiny: Box<[f32; GhostNet::INPUT_LEN]> = input
            .iter()
            .map(|x| x * 1e-39)
            .collect::<Vec<f32>>()
            .into_boxed_slice()
            .try_into()
            .expect("same size");
        let (mut normal, mut sub) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            for (x, times) in [(&input, &mut normal), (&tiny, &mut sub)] {
                let t = Instant::now();
                model.run(x, &mut output);
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        normal.sort_by(f64::total_cmp);
        sub.sort_by(f64::total_cmp);
        let (a, b) = (normal[runs / 2], sub[runs / 2]);
        println!("median over {runs} interleaved runs: normal input {a:.2} ms, subnormal input {b:.2} ms ({:.2}x)", b / a);
        return;
    }
    model.run(&input, &mut output);

    let mut idx: Vec<usize> = (0..output.len()).collect();
    idx.sort_by(|&a, &b| output[b].total_cmp(&output[a]));
    println!("top-5 classes: {:?}", &idx[..5]);
    let diff = output
        .iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    println!("max |ghostc - onnxruntime|: {diff:.3e}");

    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        model.run(&input, &mut output);
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "median latency over {runs} runs, {threads} thread(s): {:.2} ms (arena {} KiB, weights {} KiB)",
        times[runs / 2],
        GhostNet::ARENA_BYTES / 1024,
        GhostNet::WEIGHTS_BYTES / 1024
    );
}
