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
    /// The LR schedule; null: constant. Warm-up schedules are sized in `configure_optimizers`
    /// from the Trainer's `estimated_stepping_batches`.
    pub scheduler: Option<SchedulerConfig>,
    /// Progress line every this many batches (0: off).
    pub print_freq: usize,
}

impl LazyBert {
    /// The model and its config on `device` (seeded first, so the same seed gives the same
    /// initial weights), sized by the published tokenizer.
    pub fn build(&self, device: &Device) -> Result<(BertForPreTraining, BertConfig)> {
        let data = self.data.get()?;
        device.seed(self.config.seed.unwrap_or(0));
        let (bert_config, model) = build_model(&self.config, &data.tokenizer, device)?;
        Ok((model, bert_config))
    }
}

/// The recipe of `config`.
pub fn recipe(config: &PretrainConfig) -> Recipe {
    Recipe {
        optimizer: config.optimizer.clone(),
        scheduler: config.scheduler.clone(),
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
