//! DeBERTa-v3 (He, Gao & Chen 2021; Hugging Face transformers' `modeling_deberta_v2.py`) in
//! burn, with Hugging Face checkpoints loaded and exported under their own tensor names.

pub mod attention;
pub mod config;
pub mod embeddings;
pub mod encoder;
pub mod metrics;
pub mod packaged;
pub mod pooling;
pub mod relative_position;
pub mod spm;
pub mod tokenizer;
pub mod weights;

pub use config::DebertaV2Config;
pub use encoder::{DebertaV2Model, EncoderOutput};
