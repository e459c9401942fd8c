//! Hugging Face `tokenizer.json` loading: the `tokenizers` crate trusts the SentencePiece
//! charsmaps inside (a malformed one loads and panics on the first encode), so they are checked
//! first ([`charsmap`]).

mod charsmap;

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use tokenizers::Tokenizer;

pub use charsmap::{
    check_tokenizer_json_charsmaps, read_tokenizer_json_text, validate_precompiled_charsmap,
};

/// A `tokenizer.json` parsed (its charsmaps checked first), with its baked-in padding and
/// truncation dropped: the models pad and truncate batches themselves.
pub fn load_tokenizer_json(path: &Path) -> Result<Tokenizer> {
    let mut tokenizer = read_tokenizer_json_text(path)?
        .parse::<Tokenizer>()
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("reading {}", path.display()))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("{}: dropping its truncation", path.display()))?;
    Ok(tokenizer)
}
