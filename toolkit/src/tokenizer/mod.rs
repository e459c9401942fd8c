//! Hugging Face `tokenizer.json` loading: the `tokenizers` crate trusts the SentencePiece
//! charsmaps inside (a malformed one loads and panics on the first encode), so they are checked
//! first ([`check_tokenizer_json_charsmaps`]).

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

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::{PaddingParams, TruncationParams};

    #[test]
    fn baked_in_padding_and_truncation_are_dropped() {
        let vocab = [("[UNK]", 0), ("[PAD]", 1), ("a", 2)]
            .into_iter()
            .map(|(t, id)| (t.to_string(), id))
            .collect();
        let model = WordLevel::builder()
            .vocab(vocab)
            .unk_token("[UNK]".into())
            .build()
            .unwrap();
        let mut tokenizer = Tokenizer::new(model);
        tokenizer.with_padding(Some(PaddingParams::default()));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: 8,
                ..Default::default()
            }))
            .unwrap();
        let json = tokenizer.to_string(false).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(
            value["padding"].is_object() && value["truncation"].is_object(),
            "{json}"
        );

        let dir = std::env::temp_dir().join(format!("tk-padding-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokenizer.json");
        std::fs::write(&path, json).unwrap();
        let loaded = load_tokenizer_json(&path).unwrap();
        assert!(loaded.get_padding().is_none());
        assert!(loaded.get_truncation().is_none());
        std::fs::remove_dir_all(dir).ok();
    }
}
