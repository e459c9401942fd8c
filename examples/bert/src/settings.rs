//! The pretrainer's YAML config: the framework's layout (`seed`, `root_dir`, `dataset`, `model`,
//! `optimizer`, `scheduler`, `trainer`), with the corpus, tokenizer and pipeline knobs in
//! `dataset.params` and the model's sizes in `model.params`.

use std::path::PathBuf;

use anyhow::{Result, bail, ensure};
use burn_lightning::config::Validate;
use serde::{Deserialize, Serialize};

use crate::config::{BertConfig, HiddenAct};
use crate::corpus::CorpusSource;
use crate::pairs::Overlength;

/// The whole experiment.
pub type PretrainConfig = burn_lightning::config::ExperimentConfig<ModelParams, DataParams>;

/// `model.params`: where the weights come from, or the sizes of a fresh model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ModelParams {
    /// A Hugging Face BERT checkpoint directory to continue pretraining (its heads are loaded
    /// when present, else initialised and reported); null trains from scratch.
    pub pretrained: Option<PathBuf>,
    /// Width of the hidden states (from scratch).
    pub hidden_size: usize,
    /// Transformer layers (from scratch).
    pub num_hidden_layers: usize,
    /// Attention heads (from scratch).
    pub num_attention_heads: usize,
    /// Feed-forward width (from scratch).
    pub intermediate_size: usize,
    /// Feed-forward activation (from scratch).
    #[schemars(with = "String")]
    pub hidden_act: HiddenAct,
    /// Dropout on embeddings and sublayer outputs (from scratch).
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities (from scratch).
    pub attention_probs_dropout_prob: f64,
    /// Rows of the position table; at least `dataset.params.max_seq_len` (from scratch).
    pub max_position_embeddings: usize,
    /// Progress line every this many batches (0: off).
    pub print_freq: usize,
}

impl Default for ModelParams {
    fn default() -> Self {
        // BERT-mini (Turc et al. 2019): 4 layers, hidden 256, 4 heads.
        Self {
            pretrained: None,
            hidden_size: 256,
            num_hidden_layers: 4,
            num_attention_heads: 4,
            intermediate_size: 1024,
            hidden_act: HiddenAct::Gelu,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            print_freq: 100,
        }
    }
}

impl ModelParams {
    /// The config of a fresh model for a vocabulary of `vocab_size` with `[PAD]` = `pad`.
    pub fn scratch_config(&self, vocab_size: usize, pad: u32) -> BertConfig {
        let mut c = BertConfig::new(
            vocab_size,
            self.hidden_size,
            self.num_hidden_layers,
            self.num_attention_heads,
            self.intermediate_size,
        );
        c.hidden_act = self.hidden_act;
        c.hidden_dropout_prob = self.hidden_dropout_prob;
        c.attention_probs_dropout_prob = self.attention_probs_dropout_prob;
        c.max_position_embeddings = self.max_position_embeddings;
        c.pad_token_id = pad as usize;
        c
    }
}

impl Validate for ModelParams {
    /// Checks ranges.
    fn validate(&self) -> Result<()> {
        // The sizes are a config.json's: the same rules.
        self.scratch_config(self.max_position_embeddings, 0)
            .validate()?;
        for (name, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
        ] {
            ensure!((0.0..1.0).contains(&p), "{name} is {p}; expected 0 ≤ p < 1");
        }
        Ok(())
    }
}

/// `dataset.params`: the corpus, the tokenizer and the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DataParams {
    /// Where the default corpus is fetched and the caches live.
    pub data_dir: PathBuf,
    /// The documents.
    pub corpus: CorpusSource,
    /// Use only the first this many documents (quick runs); null: all.
    pub max_documents: Option<usize>,
    /// A `tokenizer.json`, `vocab.txt` or checkpoint directory; null: the pretrained
    /// checkpoint's, else a WordPiece vocabulary trained on the corpus.
    pub tokenizer: Option<PathBuf>,
    /// Size of a trained vocabulary (special tokens included).
    pub vocab_size: usize,
    /// A trained vocabulary's minimum word frequency.
    pub min_frequency: u64,
    /// A trained vocabulary is uncased (lower-case, accents stripped).
    pub lowercase: bool,
    /// Tokens per example, `[CLS]` and both `[SEP]` included.
    pub max_seq_len: usize,
    /// Chance a document pass aims at a shorter random length (BERT: 0.1).
    pub short_seq_prob: f64,
    /// Pairs over `max_seq_len`: `truncate` or `skip`.
    pub overlength: Overlength,
    /// Passes over the training documents, each with new pairs and masks (BERT: 10).
    pub dupe_factor: usize,
    /// Share of tokens predicted (BERT: 0.15).
    pub masked_lm_prob: f64,
    /// Share of documents held out for validation.
    pub val_fraction: f64,
    /// Examples per training batch.
    pub batch_size: usize,
    /// Examples per validation batch.
    pub eval_batch_size: usize,
    /// Threads building batches.
    pub num_workers: usize,
}

impl Default for DataParams {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data/news"),
            corpus: CorpusSource::default(),
            max_documents: None,
            tokenizer: None,
            vocab_size: 8000,
            min_frequency: 2,
            lowercase: true,
            max_seq_len: 128,
            short_seq_prob: 0.1,
            overlength: Overlength::Truncate,
            dupe_factor: 2,
            masked_lm_prob: 0.15,
            val_fraction: 0.05,
            batch_size: 32,
            eval_batch_size: 64,
            num_workers: 1,
        }
    }
}

impl Validate for DataParams {
    /// Checks ranges.
    fn validate(&self) -> Result<()> {
        ensure!(
            (8..=4096).contains(&self.max_seq_len),
            "max_seq_len is {}; expected 8 to 4096",
            self.max_seq_len
        );
        ensure!(
            self.masked_lm_prob > 0.0 && self.masked_lm_prob < 1.0,
            "masked_lm_prob is {}; expected 0 < p < 1",
            self.masked_lm_prob
        );
        ensure!(
            (0.0..=1.0).contains(&self.short_seq_prob),
            "short_seq_prob is {}; expected 0 ≤ p ≤ 1",
            self.short_seq_prob
        );
        ensure!(
            (0.0..0.5).contains(&self.val_fraction),
            "val_fraction is {}; expected 0 ≤ share < 0.5",
            self.val_fraction
        );
        ensure!(self.dupe_factor >= 1, "dupe_factor must be at least 1");
        ensure!(
            self.batch_size >= 1 && self.eval_batch_size >= 1,
            "batch_size and eval_batch_size must be at least 1"
        );
        if self.tokenizer.is_none() && self.vocab_size < 100 {
            bail!(
                "vocab_size is {}; a trained vocabulary needs at least 100",
                self.vocab_size
            );
        }
        Ok(())
    }
}
