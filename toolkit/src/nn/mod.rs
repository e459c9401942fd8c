//! Building blocks for models: layers' forward passes made faster on the CPU backend, for burn's
//! own modules, the activations and initialisation of Hugging Face models, and the feed-forward
//! blocks BERT and DeBERTa share ([`Intermediate`], [`SelfOutput`]).

mod activation;
mod cross_entropy;
mod dropout;
mod gelu;
mod hf_init;
mod intermediate;
mod layer_norm;
mod self_output;
mod softmax;
mod unary_gradient;

pub use activation::HiddenAct;
pub use cross_entropy::{CrossEntropyOps, cross_entropy_per_row};
pub use dropout::{DropoutOps, dropout};
pub use gelu::{GeluOps, gelu};
pub use hf_init::init_like_hf;
pub use intermediate::{Intermediate, IntermediateConfig};
pub use layer_norm::{LayerNormOps, layer_norm};
pub use self_output::{SelfOutput, SelfOutputConfig};
pub use softmax::{SoftmaxOps, softmax};
