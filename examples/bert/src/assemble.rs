//! Building the pretraining model from settings and set-up data: eagerly
//! ([`crate::cli::build_module`], for benches that set the data up themselves) or lazily in the
//! module's `configure_model`, from what the datamodule published in `setup` ([`LazyBert`]).

use std::sync::Arc;

use anyhow::{Result, bail};
use burn::prelude::*;
use burn_lightning::DataHandoff;

use crate::config::BertConfig;
use crate::heads::BertForPreTraining;
use crate::settings::PretrainConfig;
use crate::tokenizer::BertTokenizer;
use crate::weights::load_pretrained;
use burn_lightning::optim::{OptimizerConfig, SchedulerConfig};

/// What the module needs from the data: published by the datamodule's `setup`.
#[derive(Debug, Clone)]
pub struct BertDataInfo {
    /// The tokenizer (loaded, or trained on the corpus): its size is the model's vocabulary.
    pub tokenizer: Arc<BertTokenizer>,
    /// Training examples (one rank's share is what an epoch steps through).
    pub train_examples: usize,
}

/// A module not built yet: its settings and where the data's sizes will come from.
#[derive(Debug, Clone)]
pub struct LazyBert {
    /// The whole config.
    pub config: Arc<PretrainConfig>,
    /// Filled by the datamodule's `setup`.
    pub data: DataHandoff<BertDataInfo>,
}

/// How the pretrainer optimizes.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// AdamW (or another family) and its weight decay; biases and LayerNorms take none.
    pub optimizer: OptimizerConfig,
    /// The LR schedule; null: constant.
    pub scheduler: Option<SchedulerConfig>,
    /// Optimizer steps in the whole run (sizes warm-up schedules stepped per batch).
    pub num_training_steps: usize,
    /// Epochs in the run (sizes warm-up schedules stepped per epoch).
    pub epochs: usize,
    /// Progress line every this many batches (0: off).
    pub print_freq: usize,
}

impl LazyBert {
    /// The model, its config and the run's optimizer steps, on `device` (seeded first, so the
    /// same seed gives the same initial weights), sized by the published data.
    pub fn build(&self, device: &Device) -> Result<(BertForPreTraining, BertConfig, usize)> {
        let data = self.data.get()?;
        device.seed(self.config.seed.unwrap_or(0));
        let (bert_config, model) = build_model(&self.config, &data.tokenizer, device)?;
        Ok((
            model,
            bert_config,
            training_steps(&self.config, data.train_examples),
        ))
    }
}

/// The run's optimizer steps, which size warm-up schedules stepped per batch.
///
/// The one place the example computes it; once the Trainer offers
/// `estimated_stepping_batches()` in `configure_optimizers`, that replaces this call.
pub fn training_steps(config: &PretrainConfig, train_examples: usize) -> usize {
    let epochs = config.trainer.max_epochs.unwrap_or(1).max(1) as usize;
    let accumulate = config.trainer.accumulate_grad_batches.max(1);
    let per_rank = config.trainer.examples_per_rank(train_examples);
    per_rank
        .div_ceil(config.dataset.params.batch_size)
        .div_ceil(accumulate)
        * epochs
}

/// The recipe of `config`, with `num_training_steps` steps.
pub fn recipe(config: &PretrainConfig, num_training_steps: usize) -> Recipe {
    Recipe {
        optimizer: config.optimizer.clone(),
        scheduler: config.scheduler.clone(),
        num_training_steps,
        epochs: config.trainer.max_epochs.unwrap_or(1).max(1) as usize,
        print_freq: config.model.params.print_freq,
    }
}

/// The model: the pretrained checkpoint's (fresh heads reported) or a fresh one sized for
/// `tokenizer`.
pub fn build_model(
    config: &PretrainConfig,
    tokenizer: &BertTokenizer,
    device: &Device,
) -> Result<(BertConfig, BertForPreTraining)> {
    let params = &config.model.params;
    let (bert_config, model) = match &params.pretrained {
        Some(dir) => {
            let (c, m, report) = load_pretrained(dir, device)?;
            eprintln!(
                "pretrained {}: {} tensors from {}; initialised: {}; not used: {}",
                dir.display(),
                report.loaded,
                report.file.display(),
                list_or_none(&report.initialised),
                list_or_none(&report.unused)
            );
            (c, m)
        }
        None => {
            let c = params.scratch_config(tokenizer.vocab_size(), tokenizer.special().pad);
            let m = BertForPreTraining::new(&c, device);
            (c, m)
        }
    };
    if tokenizer.vocab_size() > bert_config.vocab_size {
        bail!(
            "the tokenizer has {} tokens but the model's vocab_size is {}",
            tokenizer.vocab_size(),
            bert_config.vocab_size
        );
    }
    let max_seq_len = config.dataset.params.max_seq_len;
    if max_seq_len > bert_config.max_position_embeddings {
        bail!(
            "dataset.params.max_seq_len {max_seq_len} exceeds the model's max_position_embeddings {}",
            bert_config.max_position_embeddings
        );
    }
    Ok((bert_config, model))
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
