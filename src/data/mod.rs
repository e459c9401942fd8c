//! Data loading: datasets, samplers, batches and the prefetching [`DataLoader`]. Reading corpora
//! and fetching packaged data is the toolkit crate's (`lightning_toolkit::data`).

mod batch;
mod loader;
mod sampler;

pub use batch::Batch;
pub use loader::{BatchIter, DataLoader, Dataset};
pub(crate) use sampler::mix;
pub use sampler::{Sampler, Shard};
