//! Callbacks: the [`Callback`] trait and Lightning's built-in callbacks, one per file.

mod callback;
mod early_stopping;
mod lr_monitor;
mod model_checkpoint;
mod model_summary;
mod progress_bar;
mod throughput_monitor;
mod timer;

pub use callback::Callback;
pub use early_stopping::EarlyStopping;
pub use lr_monitor::{LearningRateMonitor, LoggingInterval};
pub use model_checkpoint::{ModelCheckpoint, format_filename};
pub use model_summary::{ModelSummary, render_summary};
pub use progress_bar::ProgressBar;
pub use throughput_monitor::ThroughputMonitor;
pub use timer::Timer;
