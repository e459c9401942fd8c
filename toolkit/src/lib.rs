//! # burn-lightning-toolkit
//!
//! What models need besides the training loop, apart from it (as burn keeps `burn-nn` apart from
//! `burn-train`, and candle `candle-transformers` apart from `candle-nn`): the examples build on
//! it, the trainer does not depend on it.
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
//! - [`fs`]: atomic file writes (the `burn-lightning-fs` crate, re-exported).
//!
//! Dependency direction: this crate depends on burn and `burn-lightning-fs` only, never on the
//! trainer, and the trainer never on it. Atomic writes are needed on both sides (checkpoint and
//! archive writes here; checkpoints, loggers and `hparams.yaml` in the trainer), so they live in
//! the small `burn-lightning-fs` crate below both, re-exported as `lightning_toolkit::fs` and
//! `burn_lightning::fs`: one copy, and the trainer does not compile this crate's dependencies.

pub mod data;
pub mod hf;
pub mod host_kernels;
pub mod nn;
pub mod tokenizer;

/// Atomic file writes, shared with the trainer (the `burn-lightning-fs` crate).
pub use lightning_fs as fs;

/// Re-export of burn, so that users build on the same version.
pub use burn;
