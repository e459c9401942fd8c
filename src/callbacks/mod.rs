//! Callbacks: the [`Callback`] trait and Lightning's built-in callbacks, one per file.

mod backbone_finetuning;
mod callback;
mod early_stopping;
mod gradient_accumulation_scheduler;
mod lr_monitor;
mod model_checkpoint;
mod model_summary;
mod prediction_writer;
mod progress_bar;
mod registry;
mod stochastic_weight_avg;
mod throughput_monitor;
mod timer;
mod weight_averaging;

pub use backbone_finetuning::{BackboneFinetuning, BackboneFinetuningConfig, LambdaFn};
pub use callback::Callback;
pub use early_stopping::{EarlyStopping, EarlyStoppingConfig};
pub use gradient_accumulation_scheduler::{
    GradientAccumulationScheduler, GradientAccumulationSchedulerConfig,
};
pub use lr_monitor::{LearningRateMonitor, LearningRateMonitorConfig, LoggingInterval};
pub use model_checkpoint::{ModelCheckpoint, ModelCheckpointConfig, format_filename};
pub use model_summary::{ModelSummary, render_summary};
pub use prediction_writer::{
    BasePredictionWriter, CsvPredictionWriter, PredictionSink, WriteInterval,
};
pub use progress_bar::ProgressBar;
pub use registry::{build_callback, register_callback, registered_callbacks, resolve_callback};
pub use stochastic_weight_avg::{
    Annealing, StochasticWeightAveraging, StochasticWeightAveragingConfig, SwaStart,
};
pub use throughput_monitor::{ThroughputMonitor, ThroughputMonitorConfig};
pub use timer::{Timer, TimerConfig};
pub use weight_averaging::{
    AveragingFn, EmaWeightAveragingConfig, UpdateSchedule, WeightAveraging,
};
