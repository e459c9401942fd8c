//! DeBERTa-v3 (He, Gao & Chen 2021; Hugging Face transformers' `modeling_deberta_v2.py`) in
//! burn, with Hugging Face checkpoints loaded and exported under their own tensor names.

pub mod assemble;
pub mod attention;
pub mod batch;
pub mod classifier;
pub mod cli;
pub mod config;
pub mod datamodule;
pub mod embeddings;
pub mod encoder;
pub mod fetch;
pub mod folds;
pub mod labelled;
pub mod metrics;
pub mod module;
pub mod pooling;
pub mod relative_gather;
pub mod relative_position;
pub mod settings;
pub mod spm;
pub mod tokenizer;
pub mod weights;

pub use config::DebertaV2Config;
pub use encoder::{DebertaV2Model, EncoderOutput};
