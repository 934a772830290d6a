//! Test-only helpers: a deterministic PRNG and a float comparison.

extern crate std;

use std::vec::Vec;

/// xorshift32: tiny, deterministic, good enough for test data.
pub struct Rng(u32);

impl Rng {
    pub fn new(seed: u32) -> Self {
        // xorshift state must be nonzero.
        Rng(seed | 1)
    }

    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }

    pub fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.uniform()).collect()
    }
}

/// Asserts `|a - e| <= 1e-5 * max(1, |e|)` element-wise (NaN matches NaN,
/// infinities must be equal). The floor of 1 keeps the check meaningful for
/// results near zero produced by cancellation.
#[track_caller]
pub fn assert_close(actual: &[f32], expected: &[f32]) {
    assert_eq!(actual.len(), expected.len(), "length mismatch");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let ok = if e.is_nan() {
            a.is_nan()
        } else if e.is_infinite() {
            a == e
        } else {
            (a - e).abs() <= 1e-5 * e.abs().max(1.0)
        };
        assert!(ok, "mismatch at {i}: got {a}, expected {e}");
    }
}
