//! Data loading: datasets, samplers, batches and the prefetching [`DataLoader`].

mod batch;
mod csv_table;
mod loader;
mod packaged;
mod sampler;

pub use batch::Batch;
pub use csv_table::read_csv_columns;
pub use loader::{BatchIter, DataLoader, Dataset};
pub use packaged::{PackagedData, sha256_file, unzip_member};
pub(crate) use sampler::mix;
pub use sampler::{Sampler, Shard};
