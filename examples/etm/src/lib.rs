//! The Embedded Topic Model (Dieng, Ruiz & Blei, "Topic Modeling in Embedding Spaces", TACL
//! 2020) on burn-lightning: the model, its data, the paper's metrics, and the `etm` command.

pub mod assemble;
pub mod batch;
pub mod cli;
pub mod corpus;
pub mod datamodule;
pub mod fetch;
pub mod formats;
pub mod metrics;
pub mod model;
pub mod module;
pub mod settings;
pub mod sparse;
pub mod synthetic;
