//! Layers' forward passes made faster on the CPU backend, for burn's own modules.

mod dropout;

pub use dropout::{DropoutOps, dropout};
