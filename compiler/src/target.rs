//! The machine the generated code is planned for, as far as the passes' cost models care.
//!
//! Generated code is the same Rust for every target (the runtime picks its kernel table when it
//! runs), but the layout plan is not: the NHWC kernels vectorise over channels and the NCHW ones
//! along rows and planes, so which layout fills the vectors better depends on how wide they are.
//! The CLI plans for the target `ghostc` itself was built for unless `--target` says otherwise;
//! `Builder` plans for the target cargo builds the user's crate for (`TARGET`).

use crate::{Error, Result};

/// What the planner assumes about the target's vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// `f32` lanes of the widest kernel table the runtime dispatches to there: 16 on x86-64
    /// (AVX-512; an AVX2-only CPU runs 8-lane kernels on the same plan), 4 on AArch64 (NEON),
    /// 1 elsewhere (the portable table).
    pub vector_lanes: usize,
}

impl Default for Target {
    /// x86-64 with AVX-512: the machine the cost model was calibrated on, so the default plan
    /// is the same wherever the compiler runs (tests and snapshots pin it).
    fn default() -> Self {
        Target { vector_lanes: 16 }
    }
}

impl Target {
    /// The target of a Rust target triple (`x86_64-unknown-linux-gnu`, `aarch64-apple-darwin`,
    /// `thumbv7em-none-eabihf`, ...): its architecture decides.
    pub fn from_triple(triple: &str) -> Result<Target> {
        let arch = triple.split('-').next().unwrap_or("");
        if arch.is_empty() || triple.chars().any(|c| c.is_whitespace()) {
            return Err(Error::Option(format!(
                "target '{triple}' is not a target triple (e.g. aarch64-unknown-linux-gnu)"
            )));
        }
        let vector_lanes = match arch {
            "x86_64" => 16,
            "aarch64" | "arm64" | "arm64e" => 4,
            _ => 1,
        };
        Ok(Target { vector_lanes })
    }

    /// The target of a triple with its enabled target features (`features`: comma-separated,
    /// as cargo gives a build script in `CARGO_CFG_TARGET_FEATURE`): where the vector table
    /// exists only with a feature, it decides. AArch64 has NEON only with `neon` (not on
    /// `aarch64-unknown-none-softfloat`); wasm32 vectors only with `simd128`, 4 lanes.
    pub fn from_triple_and_features(triple: &str, features: &str) -> Result<Target> {
        let base = Target::from_triple(triple)?;
        let has = |f: &str| features.split(',').any(|x| x.trim() == f);
        let vector_lanes = match triple.split('-').next().unwrap_or("") {
            "aarch64" | "arm64" | "arm64e" if !has("neon") => 1,
            "wasm32" | "wasm64" if has("simd128") => 4,
            _ => base.vector_lanes,
        };
        Ok(Target { vector_lanes })
    }

    /// The target this compiler was built for.
    pub fn host() -> Target {
        let vector_lanes = if cfg!(target_arch = "x86_64") {
            16
        } else if cfg!(all(target_arch = "aarch64", target_feature = "neon"))
            || cfg!(all(target_arch = "wasm32", target_feature = "simd128"))
        {
            4
        } else {
            1
        };
        Target { vector_lanes }
    }

    /// The fraction of the lanes of the vectors a loop over `n` elements fills.
    pub fn lane_use(&self, n: usize) -> f64 {
        let l = self.vector_lanes.max(1);
        n as f64 / (n.div_ceil(l) * l).max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_by_architecture() {
        let lanes = |t: &str| Target::from_triple(t).map(|t| t.vector_lanes);
        assert_eq!(lanes("x86_64-unknown-linux-gnu").ok(), Some(16));
        assert_eq!(lanes("aarch64-apple-darwin").ok(), Some(4));
        assert_eq!(lanes("thumbv7em-none-eabihf").ok(), Some(1));
        assert_eq!(lanes("wasm32-unknown-unknown").ok(), Some(1));
        assert_eq!(Target::default().vector_lanes, 16);
        for bad in ["", "-linux", "x86_64 unknown"] {
            let e = Target::from_triple(bad).expect_err(bad).to_string();
            assert!(e.contains("not a target triple"), "{bad}: {e}");
        }
    }

    #[test]
    fn target_features_decide_where_the_vectors_are_optional() {
        let lanes =
            |t: &str, f: &str| Target::from_triple_and_features(t, f).map(|t| t.vector_lanes);
        assert_eq!(lanes("wasm32-unknown-unknown", "").ok(), Some(1));
        assert_eq!(
            lanes("wasm32-unknown-unknown", "bulk-memory,simd128").ok(),
            Some(4)
        );
        assert_eq!(
            lanes("aarch64-unknown-linux-gnu", "fp-armv8,neon").ok(),
            Some(4)
        );
        assert_eq!(lanes("aarch64-unknown-none-softfloat", "").ok(), Some(1));
        assert_eq!(
            lanes("x86_64-unknown-linux-gnu", "fxsr,sse,sse2").ok(),
            Some(16)
        );
        assert_eq!(lanes("thumbv7em-none-eabihf", "simd128").ok(), Some(1));
        assert!(lanes("", "neon").is_err());
    }

    #[test]
    fn lane_use_counts_partial_vectors() {
        let neon = Target { vector_lanes: 4 };
        assert_eq!(neon.lane_use(8), 1.0);
        assert_eq!(neon.lane_use(7), 7.0 / 8.0);
        assert_eq!(Target { vector_lanes: 16 }.lane_use(8), 0.5);
        assert_eq!(Target { vector_lanes: 1 }.lane_use(3), 1.0);
        assert_eq!(neon.lane_use(0), 0.0);
    }
}
