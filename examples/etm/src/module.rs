//! The ETM as a LightningModule: the negative ELBO to train on, document-completion perplexity
//! on held-out documents, and the topic measures (coherence, diversity, quality) with the topics
//! themselves written to TensorBoard after every validation.

use std::sync::Arc;

use anyhow::{Context, Result};
use burn::prelude::*;
use burn_lightning::OptimizerSetup;
use burn_lightning::callbacks::{Callback, LearningRateMonitor, ModelCheckpoint};
use burn_lightning::optim::{LightningOptimizer, Mode, Optimizers};
use burn_lightning::{HookContext, LightningModule, LogOptions};

pub use crate::assemble::EtmContext;
use crate::assemble::LazyEtm;
use crate::batch::BowBatch;
use crate::metrics::{
    completion_perplexity, npmi_coherence, top_words, topic_diversity, topic_quality,
};
use crate::model::Etm;

/// Held-out scores accumulated over an evaluation epoch.
#[derive(Debug, Clone, Default)]
struct HeldOutTotals {
    nll: Vec<f64>,
    tokens: Vec<f64>,
}

/// The topic measures of a model at one moment.
#[derive(Debug, Clone)]
pub struct TopicReport {
    /// Each topic's top `num_words` words.
    pub topics: Vec<Vec<String>>,
    /// Mean NPMI of the top words' pairs.
    pub coherence: f64,
    /// Unique share of all topics' top words.
    pub diversity: f64,
    /// coherence × diversity.
    pub quality: f64,
}

impl TopicReport {
    /// One line per topic: `topic 3: word word …`.
    pub fn topics_text(&self) -> String {
        self.topics
            .iter()
            .enumerate()
            .map(|(k, words)| format!("topic {k:2}: {}", words.join(" ")))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The ETM LightningModule.
#[derive(Module, Debug)]
pub struct EtmModule {
    /// The network; `None` until `configure_model` builds it (its size V comes from the data).
    pub model: Option<Etm>,
    #[module(skip)]
    context: Option<Arc<EtmContext>>,
    #[module(skip)]
    lazy: Option<LazyEtm>,
    #[module(skip)]
    held_out: HeldOutTotals,
}

impl EtmModule {
    /// Wraps `model` with what training and evaluation read.
    pub fn new(model: Etm, context: EtmContext) -> Self {
        Self {
            model: Some(model),
            context: Some(Arc::new(context)),
            lazy: None,
            held_out: HeldOutTotals::default(),
        }
    }

    /// A module whose network `configure_model` builds, once the datamodule's `setup` has
    /// published the vocabulary.
    pub fn lazy(parts: LazyEtm) -> Self {
        Self {
            model: None,
            context: None,
            lazy: Some(parts),
            held_out: HeldOutTotals::default(),
        }
    }

    /// Builds the network on `device` if it is not built yet (what `configure_model` does).
    pub fn build_network(&mut self, device: &Device) -> Result<()> {
        if self.model.is_some() {
            return Ok(());
        }
        let lazy = self
            .lazy
            .as_ref()
            .context("the ETM module has neither a network nor the settings to build one")?;
        let (model, context) = lazy.build(device)?;
        self.model = Some(model);
        self.context = Some(Arc::new(context));
        Ok(())
    }

    fn net(&self) -> Result<&Etm> {
        self.model
            .as_ref()
            .context("the ETM network is not built yet (configure_model builds it)")
    }

    fn ctx(&self) -> Result<&EtmContext> {
        self.context
            .as_deref()
            .context("the ETM module's vocabulary is not known yet (configure_model sets it)")
    }

    /// The vocabulary (empty before `configure_model`).
    pub fn vocabulary(&self) -> &[String] {
        self.context.as_ref().map_or(&[], |c| &c.vocabulary)
    }

    /// Top words, coherence, diversity and quality of the current topics.
    #[allow(deprecated)]
    pub fn topic_report(&self) -> Result<TopicReport> {
        let beta: Vec<f32> = self
            .net()?
            .beta()
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .expect("f32 data");
        let ctx = self.ctx()?;
        let v = ctx.vocabulary.len();
        let widest = ctx
            .num_words
            .max(ctx.coherence_words)
            .max(ctx.diversity_words);
        let tops: Vec<Vec<usize>> = beta.chunks(v).map(|row| top_words(row, widest)).collect();
        let take = |n: usize| -> Vec<Vec<usize>> {
            tops.iter().map(|t| t[..n.min(t.len())].to_vec()).collect()
        };
        let coherence = npmi_coherence(&take(ctx.coherence_words), &ctx.frequencies);
        let diversity = topic_diversity(&take(ctx.diversity_words));
        Ok(TopicReport {
            topics: take(ctx.num_words)
                .iter()
                .map(|t| t.iter().map(|&w| ctx.vocabulary[w].clone()).collect())
                .collect(),
            coherence,
            diversity,
            quality: topic_quality(coherence, diversity),
        })
    }

    /// Adds one batch of held-out documents to the epoch's totals; logs `<prefix>_loss`
    /// (negative log-likelihood per held-out token).
    #[allow(deprecated)]
    fn held_out_step(
        &mut self,
        batch: &BowBatch,
        prefix: &str,
        cx: &mut HookContext,
    ) -> Result<()> {
        let out = self.net()?.forward(batch);
        let nll: Vec<f32> = out
            .reconstruction
            .into_data()
            .convert::<f32>()
            .to_vec()
            .expect("f32");
        let tokens: Vec<f32> = batch
            .target_lengths
            .clone()
            .into_data()
            .convert::<f32>()
            .to_vec()
            .expect("f32");
        let per_token: f64 = nll
            .iter()
            .zip(&tokens)
            .map(|(l, n)| (*l / *n) as f64)
            .sum::<f64>()
            / nll.len() as f64;
        self.held_out.nll.extend(nll.iter().map(|&x| x as f64));
        self.held_out
            .tokens
            .extend(tokens.iter().map(|&x| x as f64));
        cx.log_with(
            &format!("{prefix}_loss"),
            per_token,
            LogOptions::default().on_step(false).on_epoch(true),
        );
        Ok(())
    }

    /// Logs the epoch's perplexity and the topic measures under `prefix`.
    fn held_out_epoch_end(&mut self, prefix: &str, cx: &mut HookContext) -> Result<()> {
        let totals = std::mem::take(&mut self.held_out);
        let epoch = LogOptions::default().on_step(false).on_epoch(true);
        let perplexity = completion_perplexity(&totals.nll, &totals.tokens);
        cx.log_with(
            &format!("{prefix}_perplexity"),
            perplexity,
            epoch.clone().prog_bar(),
        );
        let report = self.topic_report()?;
        cx.log_with(
            &format!("{prefix}_coherence"),
            report.coherence,
            epoch.clone(),
        );
        cx.log_with(
            &format!("{prefix}_diversity"),
            report.diversity,
            epoch.clone(),
        );
        cx.log_with(&format!("{prefix}_quality"), report.quality, epoch);
        cx.log_text("topics", &report.topics_text());
        Ok(())
    }
}

impl LightningModule for EtmModule {
    type Batch = BowBatch;

    fn configure_callbacks(&mut self) -> Vec<Box<dyn Callback>> {
        vec![
            Box::new(
                ModelCheckpoint::default()
                    .monitor("val_perplexity", Mode::Min)
                    .filename("{epoch}-{step}-{val_perplexity:.1f}")
                    .save_last(true),
            ),
            Box::new(LearningRateMonitor::default()),
        ]
    }

    fn configure_model(&mut self, cx: &mut HookContext) -> Result<()> {
        self.build_network(cx.device())
    }

    fn on_train_start(&mut self, cx: &mut HookContext) -> Result<()> {
        let summary = self.ctx()?.data_summary.clone();
        cx.log_text("data", &summary);
        Ok(())
    }

    fn training_step(
        &mut self,
        batch: &BowBatch,
        _batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<Tensor<1>> {
        let out = self.net()?.forward(batch);
        let reconstruction = out.reconstruction.mean();
        let kl = out.kl.mean();
        let loss = reconstruction.clone() + kl.clone();
        let both = LogOptions::default().on_step(true).on_epoch(true);
        cx.log_tensor("train_loss", &loss, both.clone().prog_bar());
        cx.log_tensor("train_reconstruction", &reconstruction, both.clone());
        cx.log_tensor("train_kl", &kl, both);
        Ok(loss)
    }

    fn on_validation_epoch_start(&mut self, _cx: &mut HookContext) -> Result<()> {
        self.held_out = HeldOutTotals::default();
        Ok(())
    }

    fn validation_step(
        &mut self,
        batch: &BowBatch,
        _i: usize,
        cx: &mut HookContext,
    ) -> Result<Option<Tensor<1>>> {
        self.held_out_step(batch, "val", cx)?;
        Ok(None)
    }

    fn on_validation_epoch_end(&mut self, cx: &mut HookContext) -> Result<()> {
        self.held_out_epoch_end("val", cx)
    }

    fn on_test_epoch_start(&mut self, _cx: &mut HookContext) -> Result<()> {
        self.held_out = HeldOutTotals::default();
        Ok(())
    }

    fn test_step(
        &mut self,
        batch: &BowBatch,
        _i: usize,
        cx: &mut HookContext,
    ) -> Result<Option<Tensor<1>>> {
        self.held_out_step(batch, "test", cx)?;
        Ok(None)
    }

    fn on_test_epoch_end(&mut self, cx: &mut HookContext) -> Result<()> {
        self.held_out_epoch_end("test", cx)
    }

    fn predict_step(
        &mut self,
        batch: &BowBatch,
        _i: usize,
        _cx: &mut HookContext,
    ) -> Result<Tensor<2>> {
        Ok(self.net()?.topic_proportions(batch))
    }

    fn configure_optimizers(&mut self, trainer: &mut OptimizerSetup<'_>) -> Result<Optimizers> {
        let context = self.ctx()?;
        let lr = context.optimizer.params.lr;
        let mut optimizer = LightningOptimizer::new(context.optimizer.init()?, lr);
        if let Some(s) = &context.scheduler {
            // The shipped step_lr/plateau schedules need no length; a warm-up one is sized to
            // the run by the Trainer (`estimated_stepping_batches`).
            let length = trainer.schedule_length(s)?;
            optimizer = optimizer.with_scheduler(s.init_groups(lr, &[], length)?);
        }
        Ok(Optimizers(vec![optimizer]))
    }
}
