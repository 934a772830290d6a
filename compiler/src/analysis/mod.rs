//! Side tables computed from the IR, keyed by node: cost (MACs, parameters) and the memory plan.

pub mod cost;
pub mod memory;
