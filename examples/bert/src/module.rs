//! BERT pretraining as a LightningModule: the MLM loss over the masked positions plus the NSP
//! loss, with MLM and NSP accuracy logged for training and validation, the held-out perplexity
//! (exp of the MLM loss), and training throughput in tokens per second.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::prelude::*;
use burn_lightning::OptimizerSetup;
use burn_lightning::callbacks::{Callback, LearningRateMonitor, ModelCheckpoint};
use burn_lightning::optim::{
    LightningOptimizer, Mode, Optimizers, SchedulerConfig, SchedulerName, is_no_decay,
    parameters_where,
};
use burn_lightning::{HookContext, LightningModule, LogOptions};
use lightning_toolkit::nn::cross_entropy_per_row;

use crate::assemble::LazyBert;
pub use crate::assemble::Recipe;
use crate::batch::PretrainingBatch;
use crate::config::BertConfig;
use crate::heads::BertForPreTraining;

/// Sums over one evaluation epoch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PretrainingScores {
    /// Summed MLM loss over predictions.
    pub mlm_loss_sum: f64,
    /// Correct MLM predictions.
    pub mlm_correct: usize,
    /// MLM predictions.
    pub mlm_count: usize,
    /// Summed NSP loss over examples.
    pub nsp_loss_sum: f64,
    /// Correct NSP predictions.
    pub nsp_correct: usize,
    /// Examples.
    pub nsp_count: usize,
}

impl PretrainingScores {
    /// Mean MLM loss per prediction.
    pub fn mlm_loss(&self) -> f64 {
        self.mlm_loss_sum / self.mlm_count.max(1) as f64
    }
    /// MLM accuracy.
    pub fn mlm_accuracy(&self) -> f64 {
        self.mlm_correct as f64 / self.mlm_count.max(1) as f64
    }
    /// Mean NSP loss per example.
    pub fn nsp_loss(&self) -> f64 {
        self.nsp_loss_sum / self.nsp_count.max(1) as f64
    }
    /// NSP accuracy.
    pub fn nsp_accuracy(&self) -> f64 {
        self.nsp_correct as f64 / self.nsp_count.max(1) as f64
    }
}

/// What one batch scores: per-prediction and per-example losses, and the argmax hits.
struct StepScores {
    mlm_losses: Tensor<1>,
    mlm_hits: Tensor<1, Int>,
    nsp_losses: Tensor<1>,
    nsp_hits: Tensor<1, Int>,
}

/// Negative log-likelihood of `labels` under `logits` (rows × classes), per row, and whether
/// the argmax was right.
fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> (Tensor<1>, Tensor<1, Int>) {
    let hits = logits
        .clone()
        .argmax(1)
        .squeeze_dim::<1>(1)
        .equal(labels.clone())
        .int();
    (cross_entropy_per_row(logits, labels), hits)
}

/// The pretraining module.
#[derive(Module, Debug)]
pub struct BertPretrainingModule {
    /// Encoder and heads; `None` until `configure_model` builds them (the vocabulary comes
    /// from the data's tokenizer).
    pub model: Option<BertForPreTraining>,
    #[module(skip)]
    bert_config: Option<BertConfig>,
    #[module(skip)]
    lazy: Option<LazyBert>,
    #[module(skip)]
    recipe: Arc<Recipe>,
    #[module(skip)]
    epoch: PretrainingScores,
    #[module(skip)]
    throughput: (Option<Instant>, usize),
}

impl BertPretrainingModule {
    /// A module around `model`.
    pub fn new(model: BertForPreTraining, recipe: Recipe) -> Self {
        Self {
            model: Some(model),
            bert_config: None,
            lazy: None,
            recipe: Arc::new(recipe),
            epoch: PretrainingScores::default(),
            throughput: (None, 0),
        }
    }

    /// A module whose model `configure_model` builds, once the datamodule's `setup` has
    /// published the tokenizer (the schedule is sized in `configure_optimizers`).
    pub fn lazy(parts: LazyBert) -> Self {
        let recipe = crate::assemble::recipe(&parts.config);
        Self {
            model: None,
            bert_config: None,
            lazy: Some(parts),
            recipe: Arc::new(recipe),
            epoch: PretrainingScores::default(),
            throughput: (None, 0),
        }
    }

    /// Builds the model on `device` if it is not built yet (what `configure_model` does).
    pub fn build_network(&mut self, device: &Device) -> Result<()> {
        if self.model.is_some() {
            return Ok(());
        }
        let lazy = self
            .lazy
            .as_ref()
            .context("the BERT module has neither a model nor the settings to build one")?;
        let (model, bert_config) = lazy.build(device)?;
        self.model = Some(model);
        self.bert_config = Some(bert_config);
        Ok(())
    }

    /// The model (an error before `configure_model`).
    pub fn net(&self) -> Result<&BertForPreTraining> {
        self.model
            .as_ref()
            .context("the BERT model is not built yet (configure_model builds it)")
    }

    /// The model's `config.json` (known once a lazy module is built).
    pub fn bert_config(&self) -> Option<&BertConfig> {
        self.bert_config.as_ref()
    }

    /// What the last validation epoch scored.
    pub fn scores(&self) -> &PretrainingScores {
        &self.epoch
    }

    fn score(&self, batch: &PretrainingBatch) -> Result<StepScores> {
        let out = self.net()?.forward(
            batch.input_ids.clone(),
            batch.attention_mask.clone(),
            batch.token_type_ids.clone(),
            Some(batch.masked_positions.clone()),
        );
        // Losses in float32 whatever the step computed in, as autocast does.
        let f32 = burn::tensor::FloatDType::F32;
        let (mlm_losses, mlm_hits) =
            cross_entropy(out.prediction_logits.cast(f32), batch.masked_labels.clone());
        let (nsp_losses, nsp_hits) = cross_entropy(
            out.seq_relationship_logits.cast(f32),
            batch.nsp_labels.clone(),
        );
        Ok(StepScores {
            mlm_losses,
            mlm_hits,
            nsp_losses,
            nsp_hits,
        })
    }
}

fn share(hits: Tensor<1, Int>) -> Tensor<1> {
    hits.float().mean()
}

impl LightningModule for BertPretrainingModule {
    type Batch = PretrainingBatch;

    fn configure_model(&mut self, cx: &mut HookContext) -> Result<()> {
        self.build_network(cx.device())
    }

    fn configure_callbacks(&mut self) -> Vec<Box<dyn Callback>> {
        vec![
            Box::new(
                ModelCheckpoint::default()
                    .monitor("val_loss", Mode::Min)
                    .filename("{epoch}-{step}-{val_loss:.4f}")
                    .save_last(true),
            ),
            Box::new(LearningRateMonitor::default()),
        ]
    }

    fn on_train_epoch_start(&mut self, _cx: &mut HookContext) -> Result<()> {
        self.throughput = (Some(Instant::now()), 0);
        Ok(())
    }

    fn training_step(
        &mut self,
        batch: &PretrainingBatch,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<Tensor<1>> {
        let s = self.score(batch)?;
        let mlm_loss = s.mlm_losses.mean();
        let nsp_loss = s.nsp_losses.mean();
        let loss = mlm_loss.clone() + nsp_loss.clone();
        let step_and_epoch = LogOptions::default().on_step(true).on_epoch(true);
        cx.log_tensor("train_loss", &loss, step_and_epoch.clone().prog_bar());
        cx.log_tensor("train_mlm_loss", &mlm_loss, step_and_epoch.clone());
        cx.log_tensor("train_nsp_loss", &nsp_loss, step_and_epoch.clone());
        cx.log_tensor("train_mlm_acc", &share(s.mlm_hits), step_and_epoch.clone());
        cx.log_tensor("train_nsp_acc", &share(s.nsp_hits), step_and_epoch);
        self.throughput.1 += batch.tokens;
        let freq = self.recipe.print_freq;
        if freq > 0 && batch_idx.is_multiple_of(freq) && cx.is_global_zero() {
            let elapsed = self.throughput.0.map_or(0.0, |t| t.elapsed().as_secs_f64());
            println!(
                "epoch {} [{batch_idx}/{}] loss {:.4} (mlm {:.4}, nsp {:.4}) {:.0} tokens/s",
                cx.current_epoch(),
                cx.num_training_batches(),
                loss.clone().into_scalar::<f32>(),
                mlm_loss.into_scalar::<f32>(),
                nsp_loss.into_scalar::<f32>(),
                self.throughput.1 as f64 / elapsed.max(1e-9),
            );
        }
        Ok(loss)
    }

    fn on_train_epoch_end(&mut self, cx: &mut HookContext) -> Result<()> {
        if let (Some(started), tokens) = self.throughput {
            let rate = tokens as f64 / started.elapsed().as_secs_f64().max(1e-9);
            cx.log_with(
                "train_tokens_per_sec",
                rate,
                LogOptions::default().on_step(false).on_epoch(true),
            );
        }
        Ok(())
    }

    fn on_validation_epoch_start(&mut self, _cx: &mut HookContext) -> Result<()> {
        self.epoch = PretrainingScores::default();
        Ok(())
    }

    fn validation_step(
        &mut self,
        batch: &PretrainingBatch,
        _i: usize,
        _cx: &mut HookContext,
    ) -> Result<Option<Tensor<1>>> {
        let s = self.score(batch)?;
        let e = &mut self.epoch;
        e.mlm_count += s.mlm_losses.dims()[0];
        e.nsp_count += s.nsp_losses.dims()[0];
        e.mlm_loss_sum += s.mlm_losses.sum().into_scalar::<f32>() as f64;
        e.nsp_loss_sum += s.nsp_losses.sum().into_scalar::<f32>() as f64;
        e.mlm_correct += s.mlm_hits.sum().into_scalar::<i64>() as usize;
        e.nsp_correct += s.nsp_hits.sum().into_scalar::<i64>() as usize;
        Ok(None)
    }

    fn on_validation_epoch_end(&mut self, cx: &mut HookContext) -> Result<()> {
        let epoch = LogOptions::default().on_step(false).on_epoch(true);
        let e = &self.epoch;
        cx.log_with(
            "val_loss",
            e.mlm_loss() + e.nsp_loss(),
            epoch.clone().prog_bar(),
        );
        cx.log_with("val_mlm_loss", e.mlm_loss(), epoch.clone());
        cx.log_with("val_mlm_acc", e.mlm_accuracy(), epoch.clone().prog_bar());
        cx.log_with("val_perplexity", e.mlm_loss().exp(), epoch.clone());
        cx.log_with("val_nsp_loss", e.nsp_loss(), epoch.clone());
        cx.log_with("val_nsp_acc", e.nsp_accuracy(), epoch.prog_bar());
        Ok(())
    }

    fn configure_optimizers(&mut self, trainer: &mut OptimizerSetup<'_>) -> Result<Optimizers> {
        let r = &self.recipe;
        let no_decay = parameters_where(self.net()?, is_no_decay);
        let optimizer = r.optimizer.init_with_no_decay(no_decay)?;
        let scheduler = r.scheduler.clone().unwrap_or(SchedulerConfig {
            name: SchedulerName::Constant,
            params: Default::default(),
        });
        // Warm-up schedules span the run the Trainer will take (Lightning's
        // `trainer.estimated_stepping_batches`), however its batches, accumulation and limits add up.
        let length = trainer.schedule_length(&scheduler)?;
        let lr = r.optimizer.params.lr;
        let state = scheduler.init_groups(lr, &[], length)?;
        Ok(Optimizers(vec![
            LightningOptimizer::new(optimizer, lr).with_scheduler(state),
        ]))
    }
}
