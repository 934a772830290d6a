//! FMA-throughput probe: the machine's peak f32 GFLOP/s, the yardstick for "% of peak".
//!
//! Each kernel runs `ACC` independent chains of vector fused multiply-adds (`acc = acc * a + b`),
//! enough chains to hide the FMA latency on two FMA ports (latency 4 x 2 ports = 8 in flight), so
//! the loop is bound by FMA throughput alone. One FMA on `L` lanes counts as `2 L` FLOPs. The
//! iteration count is calibrated to about `TRIAL` per run. With `n` threads the kernel runs on `n`
//! threads at once, `TRIALS` times; the peak is `n` x the best per-thread rate seen, i.e. `n` x the
//! per-core peak measured while `n` cores are busy (which is below `n` x the single-thread rate
//! when the threads share a core's FMA units or a clock budget). Taking the best trial keeps the
//! number meaningful on a machine shared with other jobs, which can only make a trial slower.

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Independent accumulator chains per kernel (fits the 16 YMM registers with the two constants).
const ACC: usize = 12;
const TRIAL: Duration = Duration::from_millis(50);
const TRIALS: usize = 10;

/// One FMA kernel the CPU supports.
pub struct Isa {
    pub name: &'static str,
    /// FLOPs per loop iteration (all chains).
    flops_per_iter: f64,
    run: fn(u64),
}

/// The kernels this CPU can run, widest first.
pub fn available() -> Vec<Isa> {
    #[allow(unused_mut)]
    let mut v = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            v.push(Isa {
                name: "AVX-512",
                flops_per_iter: (ACC * 16 * 2) as f64,
                run: x86::avx512,
            });
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            v.push(Isa {
                name: "AVX2",
                flops_per_iter: (ACC * 8 * 2) as f64,
                run: x86::avx2,
            });
        }
    }
    v
}

/// Iterations that take about `TRIAL` on one thread.
fn calibrate(isa: &Isa) -> u64 {
    let mut iters = 1u64 << 14;
    loop {
        let t = Instant::now();
        (isa.run)(iters);
        let e = t.elapsed();
        if e >= Duration::from_millis(5) {
            return ((iters as f64) * TRIAL.as_secs_f64() / e.as_secs_f64()).max(1.0) as u64;
        }
        iters *= 2;
    }
}

/// Peak GFLOP/s of `isa` on `threads` threads: `threads` x the best rate one thread reached
/// while all `threads` ran it at once, over `TRIALS` trials.
pub fn measure(isa: &Isa, threads: usize) -> f64 {
    let iters = calibrate(isa);
    let flops = iters as f64 * isa.flops_per_iter;
    let mut best = 0f64;
    for _ in 0..TRIALS {
        let start = Barrier::new(threads);
        let rate = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        let t = Instant::now();
                        (isa.run)(iters);
                        flops / t.elapsed().as_secs_f64() / 1e9
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(0.0))
                .fold(0f64, f64::max)
        });
        best = best.max(rate);
    }
    threads as f64 * best
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::ACC;
    use std::arch::x86_64::*;
    use std::hint::black_box;

    /// Runs `iters` iterations of the AVX-512 chains. Panics if the CPU lacks AVX-512F.
    pub fn avx512(iters: u64) {
        assert!(is_x86_feature_detected!("avx512f"));
        // SAFETY: AVX-512F, the target feature `chains_avx512` is compiled for, is present
        // (asserted above).
        unsafe { chains_avx512(iters) }
    }

    /// Runs `iters` iterations of the AVX2 chains. Panics if the CPU lacks AVX2 or FMA.
    pub fn avx2(iters: u64) {
        assert!(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"));
        // SAFETY: AVX2 and FMA, the target features `chains_avx2` is compiled for, are present
        // (asserted above).
        unsafe { chains_avx2(iters) }
    }

    /// The AVX-512 chains; calling it is `unsafe` outside code compiled for AVX-512F.
    #[target_feature(enable = "avx512f")]
    fn chains_avx512(iters: u64) {
        let a = _mm512_set1_ps(0.999_999);
        let b = _mm512_set1_ps(1e-6);
        let mut acc = [_mm512_setzero_ps(); ACC];
        for _ in 0..black_box(iters) {
            for x in &mut acc {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        black_box(acc);
    }

    /// The AVX2 chains; calling it is `unsafe` outside code compiled for AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    fn chains_avx2(iters: u64) {
        let a = _mm256_set1_ps(0.999_999);
        let b = _mm256_set1_ps(1e-6);
        let mut acc = [_mm256_setzero_ps(); ACC];
        for _ in 0..black_box(iters) {
            for x in &mut acc {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        black_box(acc);
    }
}
