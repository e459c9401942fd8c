//! Data loading: datasets, samplers, batches and the prefetching [`DataLoader`].

mod archive;
mod batch;
mod charsmap;
mod csv_table;
mod loader;
mod packaged;
mod sampler;
mod walk;

pub use archive::{
    CappedReader, MAX_MEMBER_BYTES, MemberKind, member_path, read_member, require_file,
    save_member, tar_member_kind, unzip_member, unzip_member_capped, zip_member_kind,
};
pub use batch::Batch;
pub use charsmap::{
    check_tokenizer_json_charsmaps, read_tokenizer_json, validate_precompiled_charsmap,
};
pub use csv_table::read_csv_columns;
pub use loader::{BatchIter, DataLoader, Dataset};
pub use packaged::{PackagedData, sha256_file};
pub(crate) use sampler::mix;
pub use sampler::{Sampler, Shard};
pub use walk::walk_files;
