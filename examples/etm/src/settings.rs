//! The ETM's YAML config: the seed's layout (`seed`, `root_dir`, `dataset`, `model`, `optimizer`,
//! `scheduler`, `trainer`) plus the original paper code's knobs.

use std::path::PathBuf;

use anyhow::{Result, bail};
use burn_lightning::config::Validate;
use serde::{Deserialize, Serialize};

/// The whole experiment.
pub type EtmConfig = burn_lightning::config::ExperimentConfig<ModelParams, DataParams>;

/// Activation of the encoder (the paper code's `theta_act`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ThetaActivationName {
    /// tanh.
    Tanh,
    /// ReLU (default).
    #[default]
    Relu,
    /// softplus.
    Softplus,
    /// Randomized leaky ReLU (random slope in [1/8, 1/3] in training, the midpoint in eval).
    Rrelu,
    /// Leaky ReLU, slope 0.01.
    Leakyrelu,
    /// ELU.
    Elu,
    /// SELU.
    Selu,
    /// The paper code's `glu`, which is `nn.GELU()` there.
    Glu,
}

/// `model.params`: sizes and behaviour of the ETM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ModelParams {
    /// K, the number of topics.
    pub num_topics: usize,
    /// V; `null` takes it from the data (a number must match the data).
    pub vocab_size: Option<usize>,
    /// Width of the encoder's hidden layers.
    pub t_hidden_size: usize,
    /// L, the dimension of the embedding space of words and topics.
    pub rho_size: usize,
    /// Dimension of the loaded word embeddings (the paper code's `emb_size`); must equal
    /// `rho_size` when given.
    pub emb_size: Option<usize>,
    /// Encoder activation.
    pub theta_act: ThetaActivationName,
    /// Dropout on the encoder's output.
    pub enc_drop: f64,
    /// Learn the word embeddings (true) or load them fixed from `embeddings_path` (false).
    pub train_embeddings: bool,
    /// word2vec text file with the fixed embeddings (`train_embeddings: false`).
    pub embeddings_path: Option<PathBuf>,
    /// Feed the encoder counts divided by document length.
    pub bow_norm: bool,
    /// Gradient clipping by global norm; 0 is off (the Trainer's `gradient_clip_val`).
    pub clip: f64,
    /// Words shown per topic.
    pub num_words: usize,
    /// Top words per topic that coherence scores.
    pub coherence_words: usize,
    /// Top words per topic that diversity counts.
    pub diversity_words: usize,
}

impl Default for ModelParams {
    fn default() -> Self {
        Self {
            num_topics: 50,
            vocab_size: None,
            t_hidden_size: 800,
            rho_size: 300,
            emb_size: None,
            theta_act: ThetaActivationName::Relu,
            enc_drop: 0.0,
            train_embeddings: true,
            embeddings_path: None,
            bow_norm: true,
            clip: 0.0,
            num_words: 10,
            coherence_words: 10,
            diversity_words: 25,
        }
    }
}

impl Validate for ModelParams {
    /// Checks ranges and the consistency of the embedding settings.
    fn validate(&self) -> Result<()> {
        let positive = [
            ("num_topics", self.num_topics),
            ("t_hidden_size", self.t_hidden_size),
            ("rho_size", self.rho_size),
            ("num_words", self.num_words),
            ("coherence_words", self.coherence_words),
            ("diversity_words", self.diversity_words),
        ];
        for (key, value) in positive {
            if value == 0 {
                bail!("model.params.{key} must be at least 1, got 0");
            }
        }
        if !(0.0..1.0).contains(&self.enc_drop) {
            bail!(
                "model.params.enc_drop must be in [0, 1), got {}",
                self.enc_drop
            );
        }
        if self.clip < 0.0 || !self.clip.is_finite() {
            bail!(
                "model.params.clip must be 0 (off) or positive, got {}",
                self.clip
            );
        }
        if let Some(e) = self.emb_size
            && e != self.rho_size
        {
            bail!(
                "model.params.emb_size ({e}) must equal rho_size ({}): the embeddings are the word vectors rho",
                self.rho_size
            );
        }
        if !self.train_embeddings && self.embeddings_path.is_none() {
            bail!(
                "model.params.train_embeddings is false, so model.params.embeddings_path must name a word2vec text file"
            );
        }
        Ok(())
    }
}

/// `dataset.params`: where the corpus is and how it is batched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DataParams {
    /// Folder for downloads and extracted files (or the corpus itself).
    pub data_dir: PathBuf,
    /// Training batch size.
    pub batch_size: usize,
    /// Batch size for validation, test and predict (the paper code's `eval_batch_size`);
    /// `null` is `batch_size`.
    pub eval_batch_size: Option<usize>,
    /// Background threads that collate batches.
    pub num_workers: usize,
    /// Drop the last, short training batch.
    pub drop_last: bool,
    /// Share of documents for validation.
    pub val_fraction: f64,
    /// Share of documents for test.
    pub test_fraction: f64,
    /// Use only the first N documents of the corpus (quick runs).
    pub max_docs: Option<usize>,
    /// `ldac`: the corpus file (default `<data_dir>/corpus.ldac`).
    pub corpus_file: Option<PathBuf>,
    /// `ldac`: the vocabulary file (default `<data_dir>/vocab.txt`).
    pub vocab_file: Option<PathBuf>,
    /// `text`: a file (one document a line, or CSV) or a directory (a document a file).
    pub text_path: Option<PathBuf>,
    /// `text` on CSV: the column with the text.
    pub text_column: Option<String>,
    /// `text`, `news`, `20ng`: keep words in at least this many documents.
    pub min_df: usize,
    /// `text`, `news`, `20ng`: keep words in at most this share of documents.
    pub max_df: f64,
    /// `text`, `news`, `20ng`: a stopword file (one a line) replacing the built-in English list.
    pub stopwords_file: Option<PathBuf>,
}

impl Default for DataParams {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            batch_size: 64,
            eval_batch_size: None,
            num_workers: 0,
            drop_last: true,
            val_fraction: 0.05,
            test_fraction: 0.1,
            max_docs: None,
            corpus_file: None,
            vocab_file: None,
            text_path: None,
            text_column: None,
            min_df: 10,
            max_df: 0.7,
            stopwords_file: None,
        }
    }
}

impl Validate for DataParams {
    /// Checks ranges.
    fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            bail!("dataset.params.batch_size must be at least 1, got 0");
        }
        if self.eval_batch_size == Some(0) {
            bail!("dataset.params.eval_batch_size must be at least 1, got 0");
        }
        for (key, v) in [
            ("val_fraction", self.val_fraction),
            ("test_fraction", self.test_fraction),
        ] {
            if !(0.0..1.0).contains(&v) {
                bail!("dataset.params.{key} must be in [0, 1), got {v}");
            }
        }
        if !(0.0..=1.0).contains(&self.max_df) || self.max_df == 0.0 {
            bail!(
                "dataset.params.max_df must be in (0, 1], got {}",
                self.max_df
            );
        }
        Ok(())
    }
}
