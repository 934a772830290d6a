//! Side tables computed from the IR, keyed by node: cost (MACs, parameters).

pub mod cost;
