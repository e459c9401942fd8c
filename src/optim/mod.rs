//! Optimizers, learning-rate schedulers and gradient clipping, on burn's optimizers and records.

mod clip;
mod config;
mod optimizer;
mod scheduler;

pub use clip::{ClipAlgorithm, clip_gradients, grad_norms};
pub use config::{
    OptimizerConfig, OptimizerName, OptimizerParams, SchedulerConfig, SchedulerName,
    SchedulerParams,
};
pub use optimizer::{LightningOptimizer, Optimizers};
pub use scheduler::{Interval, LrSchedulerState, Mode, ReduceLrOnPlateau, Schedule};
