//! Building the classifier from settings and set-up data, lazily in the module's
//! `configure_model` from what the datamodule published in `setup` ([`LazyClassifier`]).

use std::sync::Arc;

use anyhow::{Result, bail};
use burn::prelude::*;
use burn_lightning::DataHandoff;
use burn_lightning::optim::{OptimizerConfig, SchedulerConfig};

use crate::classifier::{DebertaClassifier, scratch_config, scratch_encoder};
use crate::config::DebertaV2Config;
use crate::settings::ClassifierConfig;
use crate::tokenizer::DebertaTokenizer;
use crate::weights::load_pretrained;

/// What the module needs from the data: published by the datamodule's `setup`.
#[derive(Debug, Clone)]
pub struct DebertaDataInfo {
    /// The tokenizer: the scratch encoder's vocabulary is its size.
    pub tokenizer: Arc<DebertaTokenizer>,
}

/// A module not built yet: its settings, its fold, and where the data's sizes will come from.
#[derive(Debug, Clone)]
pub struct LazyClassifier {
    /// The whole config.
    pub config: Arc<ClassifierConfig>,
    /// The fold validated on.
    pub fold: usize,
    /// Filled by the datamodule's `setup`.
    pub data: DataHandoff<DebertaDataInfo>,
}

impl LazyClassifier {
    /// The network, its recipe and the encoder's config, on `device`.
    pub fn build(&self, device: &Device) -> Result<(DebertaClassifier, Recipe, DebertaV2Config)> {
        let data = self.data.get()?;
        build_classifier(&self.config, &data.tokenizer, self.fold, device)
    }
}

/// How the module trains; nothing here is a weight.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// AdamW (or another family) and its weight decay.
    pub optimizer: OptimizerConfig,
    /// The LR schedule; null: constant rates. Warm-up schedules are sized in
    /// `configure_optimizers` from the Trainer's `estimated_stepping_batches`.
    pub scheduler: Option<SchedulerConfig>,
    /// Encoder rate.
    pub encoder_lr: f64,
    /// Head rate.
    pub decoder_lr: f64,
    /// Layer-wise decay of the encoder rate (1: off).
    pub layerwise_lr_decay: f64,
    /// Progress line every this many batches (0: off).
    pub print_freq: usize,
    /// 1: binary with one logit; more: classes.
    pub num_classes: usize,
    /// Shown in progress lines.
    pub fold: usize,
    /// Epochs the encoder stays frozen (`BackboneFinetuning`); none: never frozen.
    pub freeze_encoder_epochs: Option<usize>,
}

/// The encoder's config and weights: the pretrained checkpoint's, or fresh ones on the v3
/// layout sized for `tokenizer`.
pub fn build_encoder(
    config: &ClassifierConfig,
    tokenizer: &DebertaTokenizer,
    device: &Device,
) -> Result<(DebertaV2Config, crate::DebertaV2Model)> {
    let params = &config.model.params;
    let (encoder_config, model) = match (&params.pretrained, &params.config) {
        (Some(dir), _) => {
            let (c, m, report) = load_pretrained(dir, device)?;
            eprintln!(
                "pretrained {}: {} encoder tensors from {}; not used: {}",
                dir.display(),
                report.loaded,
                report.file.display(),
                if report.unused.is_empty() {
                    "none".to_string()
                } else {
                    report.unused.join(", ")
                }
            );
            (c, m)
        }
        (None, Some(file)) => {
            let c = DebertaV2Config::from_file(file)?;
            let m = scratch_encoder(&c, device);
            (c, m)
        }
        (None, None) => {
            let c = scratch_config(params, tokenizer.vocab_size())?;
            let m = scratch_encoder(&c, device);
            (c, m)
        }
    };
    if tokenizer.vocab_size() > encoder_config.vocab_size {
        bail!(
            "the tokenizer has {} tokens but the model's vocab_size is {}",
            tokenizer.vocab_size(),
            encoder_config.vocab_size
        );
    }
    Ok((encoder_config, model))
}

/// A fresh classifier for `fold` and its recipe (the same seed gives the same initial weights
/// every fold, as the notebook builds a new model per fold).
pub fn build_classifier(
    config: &ClassifierConfig,
    tokenizer: &DebertaTokenizer,
    fold: usize,
    device: &Device,
) -> Result<(DebertaClassifier, Recipe, DebertaV2Config)> {
    device.seed(config.seed.unwrap_or(0));
    let (encoder_config, encoder) = build_encoder(config, tokenizer, device)?;
    let params = &config.model.params;
    let model = DebertaClassifier::new(encoder, &encoder_config, params, device);
    let encoder_lr = params.encoder_lr.unwrap_or(config.optimizer.params.lr);
    let mut optimizer = config.optimizer.clone();
    optimizer.params.lr = encoder_lr;
    Ok((
        model,
        Recipe {
            optimizer,
            scheduler: config.scheduler.clone(),
            encoder_lr,
            decoder_lr: params.decoder_lr.unwrap_or(encoder_lr),
            layerwise_lr_decay: params.layerwise_lr_decay,
            print_freq: params.print_freq,
            num_classes: params.num_classes,
            fold,
            freeze_encoder_epochs: params.freeze_encoder_epochs,
        },
        encoder_config,
    ))
}
