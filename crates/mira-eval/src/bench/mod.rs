//! Benchmarks: the attack and training steps of the reference benchmark (`steps.rs`, also
//! `cargo bench -p mira-eval --bench steps`) and the end-to-end S1 sweep through the
//! segmentation cells (`sweep.rs`), both beside their PyTorch twins.

mod steps;
mod sweep;

pub use steps::{BenchRow, bench_attack_steps};
pub use sweep::{SWEEP_EPSILONS, SweepBench, SweepRow, bench_sweep, write_sweep_data};
