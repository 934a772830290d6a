//! Per-layer timing for generated code's profile mode: generated `forward` calls
//! `enter`/`exit` around every layer; `NoProbe` compiles to nothing, `LayerTimer` (feature
//! `std`) records wall time.

/// Hooks around each layer of a run.
pub trait Probe {
    /// Layer `layer` (index into the generated `LAYERS`) starts.
    fn enter(&mut self, layer: usize);
    /// Layer `layer` ends.
    fn exit(&mut self, layer: usize);
}

/// The probe of a normal run: does nothing.
pub struct NoProbe;

impl Probe for NoProbe {
    #[inline(always)]
    fn enter(&mut self, _: usize) {}
    #[inline(always)]
    fn exit(&mut self, _: usize) {}
}

#[cfg(feature = "std")]
pub use timer::LayerTimer;

#[cfg(feature = "std")]
mod timer {
    use std::format;
    use std::string::String;
    use std::time::Instant;
    use std::vec::Vec;

    /// Records every layer's time on every run.
    pub struct LayerTimer {
        start: Option<Instant>,
        times: Vec<Vec<u64>>,
    }

    impl LayerTimer {
        /// A timer for `layers` layers.
        pub fn new(layers: usize) -> Self {
            LayerTimer {
                start: None,
                times: (0..layers).map(|_| Vec::new()).collect(),
            }
        }

        /// Table of layers by median time (slowest first) with share of the total, GFLOP/s and
        /// GB/s; `layers` is the generated `LAYERS` table of (name, op, multiply-adds, bytes
        /// read and written).
        pub fn report(&self, layers: &[(&str, &str, u64, u64)]) -> String {
            let median = |v: &[u64]| -> u64 {
                let mut v = v.to_vec();
                v.sort_unstable();
                v.get(v.len() / 2).copied().unwrap_or(0)
            };
            let mut rows: Vec<(usize, u64)> = self
                .times
                .iter()
                .enumerate()
                .map(|(i, t)| (i, median(t)))
                .collect();
            let total: u64 = rows.iter().map(|r| r.1).sum();
            rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut s = format!(
                "{:>4}  {:<16} {:>10} {:>6} {:>9} {:>7}  {}\n",
                "#", "op", "median us", "share", "GFLOP/s", "GB/s", "layer"
            );
            for (i, ns) in rows {
                let (name, op, macs, bytes) = layers.get(i).copied().unwrap_or(("?", "?", 0, 0));
                // Per nanosecond is per second in giga units.
                let rate = |x: u64| if ns > 0 { x as f64 / ns as f64 } else { 0.0 };
                let (gflops, gbs) = (rate(2 * macs), rate(bytes));
                let share = if total > 0 {
                    100.0 * ns as f64 / total as f64
                } else {
                    0.0
                };
                s += &format!(
                    "{i:>4}  {op:<16} {:>10.1} {share:>5.1}% {gflops:>9.2} {gbs:>7.2}  {name}\n",
                    ns as f64 / 1e3
                );
            }
            let macs: u64 = layers.iter().map(|l| l.2).sum();
            s += &format!(
                "total (sum of medians): {:.3} ms, {:.2} GFLOP/s\n",
                total as f64 / 1e6,
                if total > 0 {
                    2.0 * macs as f64 / total as f64
                } else {
                    0.0
                }
            );
            s
        }
    }

    impl super::Probe for LayerTimer {
        fn enter(&mut self, _: usize) {
            self.start = Some(Instant::now());
        }
        fn exit(&mut self, layer: usize) {
            if let (Some(t), Some(v)) = (self.start.take(), self.times.get_mut(layer)) {
                v.push(t.elapsed().as_nanos() as u64);
            }
        }
    }
}
