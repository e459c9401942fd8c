//! BERT pretraining (Devlin et al. 2019; Hugging Face transformers' `modeling_bert.py`) in burn:
//! masked-language-model and next-sentence-prediction heads over the encoder, with Hugging Face
//! checkpoints loaded and exported under their own tensor names.

pub mod assemble;
pub mod attention;
pub mod batch;
pub mod cli;
pub mod config;
pub mod corpus;
pub mod datamodule;
pub mod embeddings;
pub mod encoder;
pub mod example_cache;
pub mod fetch;
pub mod fill_mask;
pub mod heads;
pub mod masking;
pub mod module;
pub mod pairs;
pub mod pipeline;
pub mod sentences;
pub mod settings;
pub mod tokenizer;
pub mod vocab_extension;
pub mod weights;
pub mod wordpiece_trainer;

pub use config::BertConfig;
pub use encoder::{BertModel, BertOutput};
pub use heads::{BertForPreTraining, PreTrainingOutput};
