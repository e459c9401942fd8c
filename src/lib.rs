//! # burn-lightning
//!
//! PyTorch Lightning's hook-driven training loop on [burn](https://burn.dev): implement
//! [`LightningModule`] on a `#[derive(Module)]` struct, describe the data with a
//! [`LightningDataModule`], and hand both to a [`Trainer`].
//!
//! Models' building blocks (fused layers, Hugging Face checkpoint and tokenizer I/O, packaged
//! data) live apart, in the `burn-lightning-toolkit` crate (`lightning_toolkit`), which this crate
//! does not depend on.
//!
//! `global_step` counts optimizer steps; it is the x-axis of every logged metric.

pub mod allocator;
pub mod callbacks;
pub mod checkpoint;
pub mod cli;
pub mod config;
mod context;
pub mod data;
mod datamodule;
pub mod distributed;
pub mod duration;
pub mod float_serde;
mod grad_scaler;
pub mod handoff;
pub mod loggers;
mod logging;
mod loops;
mod manual_optimization;
mod module;
pub mod module_handle;
pub mod optim;
mod optimizer_setup;
mod precision;
mod progress;
mod stage;
mod strategy;
mod suggest;
#[cfg(test)]
mod test_net;
pub mod trainer;

pub use callbacks::Callback;
pub use context::{CheckpointRequest, HookContext};
pub use datamodule::LightningDataModule;
pub use handoff::DataHandoff;
pub use logging::{LogOptions, MetricStore, Reduce};
pub use manual_optimization::ManualOptimizers;
pub use module::LightningModule;
pub use module_handle::ModuleHandle;
pub use optimizer_setup::OptimizerSetup;
pub use trainer::{Stage, Trainer, TrainerConfig};

/// Re-export of burn, so examples use the same version.
pub use burn;
/// Atomic file writes: the `burn-lightning-fs` crate, which the toolkit re-exports too (a crate
/// of its own so that the trainer does not depend on the toolkit).
pub use lightning_fs as fs;
