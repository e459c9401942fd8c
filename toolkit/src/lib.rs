//! # burn-lightning-toolkit
//!
//! What models need besides the training loop, apart from it (as burn keeps `burn-nn` apart from
//! `burn-train`, and candle `candle-transformers` apart from `candle-nn`): the examples build on
//! it, the trainer does not.
//!
//! - [`nn`]: layers' forward passes fused for the CPU backend (LayerNorm, softmax, GELU,
//!   dropout, cross-entropy), Hugging Face activations and initialisation, and the
//!   [`SelfOutput`](nn::SelfOutput) block BERT and DeBERTa share;
//! - [`host_kernels`]: the `f32` host loops under those layers;
//! - [`hf`]: Hugging Face checkpoint directories: `config.json`, weights in and out, their shapes
//!   checked against the config before allocating;
//! - [`tokenizer`]: `tokenizer.json` loading, its SentencePiece charsmaps checked first;
//! - [`data`]: corpora on disk (CSV tables, file trees) and real data shipped inside Python
//!   packages, fetched with pinned hashes;
//! - [`fs`]: atomic file writes.
//!
//! Dependency direction: this crate depends on burn only, never on the trainer. [`fs`] lives
//! here, the lower of the two crates, because both need it (checkpoint and archive writes here;
//! checkpoints, loggers and `hparams.yaml` in the trainer): the trainer re-exports it as
//! `burn_lightning::fs`, so there is one copy and no cycle.

pub mod data;
pub mod fs;
pub mod hf;
pub mod host_kernels;
pub mod nn;
pub mod tokenizer;

/// Re-export of burn, so that users build on the same version.
pub use burn;
