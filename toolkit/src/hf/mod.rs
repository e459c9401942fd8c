//! Hugging Face checkpoint directories: `config.json` ([`config`]), weights in and out under
//! transformers' tensor names ([`load_hf_weights`], [`save_hf_safetensors`], with a
//! [`LoadReport`] of what was found), and the weight file's shapes ([`HfShapes`]), checked against
//! the config before a model of its sizes is allocated. [`names`] holds the Rust spellings of
//! HF's submodule names that every model shares.

mod checkpoint;
pub mod config;
pub mod names;
mod shapes;

pub use checkpoint::{
    HfWeights, LoadReport, load_hf_weights, read_safetensors, save_hf_safetensors,
};
pub use shapes::HfShapes;
