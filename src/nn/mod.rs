//! Building blocks for models: layers' forward passes made faster on the CPU backend, for burn's
//! own modules, and the activations and initialisation of Hugging Face models.

mod activation;
mod dropout;
mod hf_init;

pub use activation::HiddenAct;
pub use dropout::{DropoutOps, dropout};
pub use hf_init::init_like_hf;
