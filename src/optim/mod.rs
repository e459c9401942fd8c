//! Optimizers, learning-rate schedulers and gradient clipping, on burn's optimizers and records.

mod clip;
mod config;
mod optimizer;
mod param_groups;
mod scheduler;
mod warmup;

pub use clip::{ClipAlgorithm, clip_gradients, grad_norms};
pub use config::{
    OptimizerConfig, OptimizerName, OptimizerParams, SchedulerConfig, SchedulerName,
    SchedulerParams,
};
pub use optimizer::{LightningOptimizer, Optimizers};
pub use param_groups::{LrGroup, is_no_decay, named_parameters, parameters_where};
pub use scheduler::{Interval, LrSchedulerState, Mode, ReduceLrOnPlateau, Schedule};
pub use warmup::{Decay, WarmupSchedule};
