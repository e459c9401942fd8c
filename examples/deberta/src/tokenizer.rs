//! The DeBERTa-v3 tokenizer on the `tokenizers` crate: from a `tokenizer.json`, or built from a
//! SentencePiece `spm.model` the way transformers converts it (Unigram over the pieces; Strip,
//! the model's precompiled normalizer and runs of spaces collapsed; Metaspace pre-tokenizer;
//! `[CLS] A [SEP] (B [SEP])` with `[MASK]` added after the pieces). Batches are padded to their
//! longest sequence.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use burn::prelude::*;
use lightning_toolkit::tokenizer::load_tokenizer_json;
use tokenizers::decoders::metaspace::Metaspace as MetaspaceDecoder;
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::{Precompiled, Replace, Sequence, Strip};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, EncodeInput, Tokenizer};

use crate::spm::SentencePieceModel;

/// Special tokens every DeBERTa-v3 vocabulary has, by name.
const PAD: &str = "[PAD]";
const CLS: &str = "[CLS]";
const SEP: &str = "[SEP]";
const UNK: &str = "[UNK]";
const MASK: &str = "[MASK]";

/// Token ids of a padded batch.
#[derive(Debug, Clone)]
pub struct EncodedBatch {
    /// batch × longest sequence, padded with `[PAD]`.
    pub input_ids: Tensor<2, Int>,
    /// 1 for tokens, 0 for padding.
    pub attention_mask: Tensor<2, Int>,
    /// 0 for the first segment, 1 for the second.
    pub token_type_ids: Tensor<2, Int>,
}

/// A DeBERTa-v3 tokenizer.
#[derive(Clone)]
pub struct DebertaTokenizer {
    inner: Tokenizer,
    pad_id: u32,
}

impl std::fmt::Debug for DebertaTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DebertaTokenizer({} tokens)", self.vocab_size())
    }
}

impl DebertaTokenizer {
    /// From a checkpoint directory: its `tokenizer.json`, else its `spm.model`.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let json = dir.join("tokenizer.json");
        let spm = dir.join("spm.model");
        if json.is_file() {
            Self::from_tokenizer_json(&json)
        } else if spm.is_file() {
            Self::from_spm_model(&spm)
        } else {
            bail!("{}: no tokenizer.json or spm.model", dir.display())
        }
    }

    /// From a Hugging Face `tokenizer.json`; its baked-in padding and truncation are dropped
    /// (batches are padded to their longest sequence, truncated to the configured `max_len`).
    pub fn from_tokenizer_json(path: &Path) -> Result<Self> {
        Self::new(load_tokenizer_json(path)?).with_context(|| format!("in {}", path.display()))
    }

    /// From a SentencePiece `spm.model`, as transformers' DeBERTa-v2 converter builds it.
    pub fn from_spm_model(path: &Path) -> Result<Self> {
        let spm = SentencePieceModel::from_file(path)?;
        let vocab = spm
            .pieces
            .iter()
            .map(|(piece, score, _)| (piece.clone(), *score))
            .collect();
        let unigram = Unigram::from(vocab, Some(spm.unk_id), spm.byte_fallback)
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let mut inner = Tokenizer::new(unigram);
        let mut normalizers = vec![Strip::new(true, true).into()];
        if !spm.precompiled_charsmap.is_empty() {
            let precompiled = Precompiled::from(&spm.precompiled_charsmap)
                .map_err(|e| anyhow!("{}: precompiled charsmap: {e}", path.display()))?;
            normalizers.push(precompiled.into());
        }
        normalizers.push(
            Replace::new(
                tokenizers::normalizers::replace::ReplacePattern::Regex(" {2,}".into()),
                " ",
            )
            .map_err(|e| anyhow!("{e}"))?
            .into(),
        );
        inner.with_normalizer(Some(Sequence::new(normalizers)));
        let scheme = if spm.add_dummy_prefix {
            PrependScheme::Always
        } else {
            PrependScheme::Never
        };
        inner.with_pre_tokenizer(Some(Metaspace::new('▁', scheme, true)));
        inner.with_decoder(Some(MetaspaceDecoder::new('▁', scheme, true)));
        let specials: Vec<AddedToken> = [PAD, CLS, SEP, UNK, MASK]
            .iter()
            .map(|t| AddedToken::from(*t, true).normalized(*t == UNK))
            .collect();
        inner.add_special_tokens(&specials);
        let id = |t: &str| inner.token_to_id(t).context(format!("{t} missing"));
        let (cls, sep) = (id(CLS)?, id(SEP)?);
        let template = TemplateProcessing::builder()
            .try_single(format!("{CLS}:0 $A:0 {SEP}:0"))
            .map_err(|e| anyhow!("{e}"))?
            .try_pair(format!("{CLS}:0 $A:0 {SEP}:0 $B:1 {SEP}:1"))
            .map_err(|e| anyhow!("{e}"))?
            .special_tokens(vec![(CLS, cls), (SEP, sep)])
            .build()
            .map_err(|e| anyhow!("{e}"))?;
        inner.with_post_processor(Some(template));
        Self::new(inner).with_context(|| format!("in {}", path.display()))
    }

    fn new(inner: Tokenizer) -> Result<Self> {
        let pad_id = inner
            .token_to_id(PAD)
            .context("the vocabulary has no [PAD] token")?;
        Ok(Self { inner, pad_id })
    }

    /// Number of ids, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Id of a token (special tokens included).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Ids of one text with `[CLS]`/`[SEP]`, untruncated.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self.inner.encode(text, true).map_err(|e| anyhow!("{e}"))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Ids and type ids of a text pair.
    pub fn encode_pair(&self, first: &str, second: &str) -> Result<(Vec<u32>, Vec<u32>)> {
        let input = EncodeInput::Dual(first.into(), second.into());
        let encoding = self.inner.encode(input, true).map_err(|e| anyhow!("{e}"))?;
        Ok((
            encoding.get_ids().to_vec(),
            encoding.get_type_ids().to_vec(),
        ))
    }

    /// Encodes `text` cut to `max_len` ids, its last id kept `[SEP]`.
    pub fn encode_truncated(&self, text: &str, max_len: usize) -> Result<Vec<u32>> {
        let mut ids = self.encode(text)?;
        if ids.len() > max_len && max_len >= 2 {
            let sep = ids[ids.len() - 1];
            ids.truncate(max_len - 1);
            ids.push(sep);
        }
        Ok(ids)
    }

    /// Encodes `texts`, each truncated to `max_len` ids (its last id kept `[SEP]`), padded to
    /// the longest in the batch.
    pub fn encode_batch(
        &self,
        texts: &[&str],
        max_len: usize,
        device: &Device,
    ) -> Result<EncodedBatch> {
        let rows = texts
            .iter()
            .map(|t| self.encode_truncated(t, max_len))
            .collect::<Result<Vec<_>>>()?;
        let rows: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
        Ok(self.pad(&rows, device))
    }

    /// Pads id sequences with `[PAD]` to the longest of them (dynamic padding).
    pub fn pad(&self, rows: &[&[u32]], device: &Device) -> EncodedBatch {
        let longest = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len() * longest);
        let mut mask = Vec::with_capacity(rows.len() * longest);
        for row in rows {
            ids.extend(row.iter().map(|&i| i as i64));
            ids.extend(std::iter::repeat_n(self.pad_id as i64, longest - row.len()));
            mask.extend(std::iter::repeat_n(1i64, row.len()));
            mask.extend(std::iter::repeat_n(0i64, longest - row.len()));
        }
        let shape = [rows.len(), longest];
        let tensor = |v: Vec<i64>| Tensor::<1, Int>::from_ints(v.as_slice(), device).reshape(shape);
        EncodedBatch {
            input_ids: tensor(ids),
            token_type_ids: Tensor::zeros(shape, device),
            attention_mask: tensor(mask),
        }
    }

    /// Saves as `tokenizer.json`, atomically (the `tokenizers` crate's own `save` writes in
    /// place, so an interrupted export would leave a truncated file).
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = self
            .inner
            .to_string(true)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("serialising {}", path.display()))?;
        lightning_toolkit::fs::atomic_write(path, json.as_bytes())
            .with_context(|| format!("writing {}", path.display()))
    }
}
