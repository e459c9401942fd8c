//! BERT's WordPiece tokenizer on the `tokenizers` crate: trained on a corpus, or read from a
//! Hugging Face `tokenizer.json` or a bare `vocab.txt` (built as transformers'
//! `BertTokenizerFast` builds it: BERT normalizer, BERT pre-tokenizer, WordPiece with `##`
//! continuations, `[CLS] A [SEP] B [SEP]`). The special tokens' ids are looked up once.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use lightning_toolkit::tokenizer::load_tokenizer_json;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Tokenizer};

use crate::wordpiece_trainer::{count_words, train_vocabulary};

/// BERT's special tokens, in the order a trained vocabulary numbers them.
pub const SPECIAL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Ids of the special tokens, looked up once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialIds {
    /// `[PAD]`.
    pub pad: u32,
    /// `[UNK]`.
    pub unk: u32,
    /// `[CLS]`, first of every example.
    pub cls: u32,
    /// `[SEP]`, after each segment.
    pub sep: u32,
    /// `[MASK]`, what masked tokens become.
    pub mask: u32,
}

impl SpecialIds {
    /// Whether `id` is one of them (never masked).
    pub fn contains(&self, id: u32) -> bool {
        [self.pad, self.unk, self.cls, self.sep, self.mask].contains(&id)
    }
}

/// How to train a WordPiece vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct WordPieceTraining {
    /// Vocabulary size, special tokens included.
    pub vocab_size: usize,
    /// Words seen fewer times are not merged into the vocabulary.
    pub min_frequency: u64,
    /// Lower-case and strip accents (an uncased model).
    pub lowercase: bool,
}

/// A BERT WordPiece tokenizer and its special ids.
#[derive(Clone)]
pub struct BertTokenizer {
    inner: Tokenizer,
    special: SpecialIds,
}

impl std::fmt::Debug for BertTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BertTokenizer({} tokens)", self.vocab_size())
    }
}

/// BERT's pipeline around a WordPiece model.
fn with_bert_pipeline(model: WordPiece, lowercase: bool) -> Tokenizer {
    let mut inner = Tokenizer::new(model);
    inner.with_normalizer(Some(BertNormalizer::new(true, true, None, lowercase)));
    inner.with_pre_tokenizer(Some(BertPreTokenizer));
    inner.with_decoder(Some(WordPieceDecoder::new("##".into(), true)));
    inner
}

impl BertTokenizer {
    /// From a checkpoint directory: its `tokenizer.json`, else its `vocab.txt` (uncased unless
    /// `tokenizer_config.json` says `do_lower_case: false`).
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let json = dir.join("tokenizer.json");
        let vocab = dir.join("vocab.txt");
        if json.is_file() {
            Self::from_tokenizer_json(&json)
        } else if vocab.is_file() {
            let lowercase = std::fs::read_to_string(dir.join("tokenizer_config.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|c| c.get("do_lower_case").and_then(|v| v.as_bool()))
                .unwrap_or(true);
            Self::from_vocab_txt(&vocab, lowercase)
        } else {
            bail!("{}: no tokenizer.json or vocab.txt", dir.display())
        }
    }

    /// From a Hugging Face `tokenizer.json`; its baked-in padding and truncation are dropped
    /// (examples are packed to `max_seq_len` by the pipeline).
    pub fn from_tokenizer_json(path: &Path) -> Result<Self> {
        Self::new(load_tokenizer_json(path)?).with_context(|| format!("in {}", path.display()))
    }

    /// From a `vocab.txt` (one token a line, id = line number).
    pub fn from_vocab_txt(path: &Path, lowercase: bool) -> Result<Self> {
        let model = WordPiece::from_file(&path.to_string_lossy())
            .unk_token("[UNK]".into())
            .build()
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        Self::new(with_bert_pipeline(model, lowercase))
            .with_context(|| format!("in {}", path.display()))
    }

    /// Trains a vocabulary on `texts` (the special tokens take ids 0–4), deterministically
    /// (see [`wordpiece_trainer`](crate::wordpiece_trainer)).
    pub fn train<S: AsRef<str> + Sync>(texts: &[S], settings: &WordPieceTraining) -> Result<Self> {
        let words = count_words(texts, settings.lowercase)?;
        let vocab = train_vocabulary(
            &words,
            settings.vocab_size,
            settings.min_frequency,
            &SPECIAL_TOKENS,
        );
        // Through vocab.txt's format: the crate takes its own hash map type.
        let lines: String = vocab.iter().map(|t| format!("{t}\n")).collect();
        let vocab = WordPiece::read_bytes(lines.as_bytes()).map_err(|e| anyhow!("{e}"))?;
        let model = WordPiece::builder()
            .vocab(vocab)
            .unk_token("[UNK]".into())
            .continuing_subword_prefix("##".into())
            .build()
            .map_err(|e| anyhow!("{e}"))?;
        Self::new(with_bert_pipeline(model, settings.lowercase))
    }

    fn new(mut inner: Tokenizer) -> Result<Self> {
        let id = |t: &str| {
            inner
                .token_to_id(t)
                .with_context(|| format!("the vocabulary has no {t}"))
        };
        let special = SpecialIds {
            pad: id("[PAD]")?,
            unk: id("[UNK]")?,
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            mask: id("[MASK]")?,
        };
        // Marked special so they are matched whole, never split or lower-cased.
        inner.add_special_tokens(
            &SPECIAL_TOKENS
                .iter()
                .map(|t| AddedToken::from(*t, true))
                .collect::<Vec<_>>(),
        );
        let template = TemplateProcessing::builder()
            .try_single("[CLS]:0 $A:0 [SEP]:0")
            .map_err(|e| anyhow!("{e}"))?
            .try_pair("[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1")
            .map_err(|e| anyhow!("{e}"))?
            .special_tokens(vec![("[CLS]", special.cls), ("[SEP]", special.sep)])
            .build()
            .map_err(|e| anyhow!("{e}"))?;
        inner.with_post_processor(Some(template));
        Ok(Self { inner, special })
    }

    /// The special tokens' ids.
    pub fn special(&self) -> SpecialIds {
        self.special
    }

    /// Tokens in the vocabulary, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Ids of `text` without special tokens (a segment the pipeline packs).
    pub fn encode_words(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .encode(text, false)
            .map_err(|e| anyhow!("tokenizing {text:?}: {e}"))?
            .get_ids()
            .to_vec())
    }

    /// Ids of `text` as the model reads one sentence: `[CLS] text [SEP]`.
    pub fn encode_sentence(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .encode(text, true)
            .map_err(|e| anyhow!("tokenizing {text:?}: {e}"))?
            .get_ids()
            .to_vec())
    }

    /// The token of `id` (`None` outside the vocabulary).
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The id of `token`.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Adds `tokens` not yet in the vocabulary as whole words after the last id; returns the
    /// ones added, in order.
    pub fn add_tokens(&mut self, tokens: &[String]) -> Vec<String> {
        let mut fresh: Vec<String> = Vec::new();
        for t in tokens {
            if self.inner.token_to_id(t).is_none() && !fresh.contains(t) {
                fresh.push(t.clone());
            }
        }
        let added: Vec<AddedToken> = fresh
            .iter()
            .map(|t| AddedToken::from(t.clone(), false))
            .collect();
        self.inner.add_tokens(&added);
        fresh
    }

    /// The `tokenizer.json` text.
    pub fn to_json(&self) -> Result<String> {
        self.inner.to_string(true).map_err(|e| anyhow!("{e}"))
    }

    /// Writes the `tokenizer.json` to `path`, atomically.
    pub fn save_json(&self, path: &Path) -> Result<()> {
        lightning_toolkit::fs::atomic_write(path, self.to_json()?.as_bytes())
    }

    /// Writes `tokenizer.json` and `vocab.txt` (the base vocabulary by id) into `dir`, atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.save_json(&dir.join("tokenizer.json"))?;
        let mut by_id: Vec<(u32, String)> = self
            .inner
            .get_vocab(false)
            .into_iter()
            .map(|(t, id)| (id, t))
            .collect();
        by_id.sort();
        let text: String = by_id.into_iter().map(|(_, t)| t + "\n").collect();
        lightning_toolkit::fs::atomic_write(&dir.join("vocab.txt"), text.as_bytes())
    }
}
