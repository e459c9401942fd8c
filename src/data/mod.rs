//! Data loading: datasets, samplers, batches and the prefetching [`DataLoader`].

mod batch;
mod charsmap;
mod csv_table;
mod loader;
mod packaged;
mod sampler;

pub use batch::Batch;
pub use charsmap::{check_tokenizer_json_charsmaps, validate_precompiled_charsmap};
pub use csv_table::read_csv_columns;
pub use loader::{BatchIter, DataLoader, Dataset};
pub use packaged::{PackagedData, sha256_file, unzip_member};
pub(crate) use sampler::mix;
pub use sampler::{Sampler, Shard};
