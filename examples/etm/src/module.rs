//! The ETM as a LightningModule: the negative ELBO to train on, document-completion perplexity
//! on held-out documents, and the topic measures (coherence, diversity, quality) with the topics
//! themselves written to TensorBoard after every validation.

use std::sync::Arc;

use anyhow::Result;
use burn::prelude::*;
use burn_lightning::OptimizerSetup;
use burn_lightning::callbacks::{Callback, LearningRateMonitor, ModelCheckpoint};
use burn_lightning::optim::{
    LightningOptimizer, Mode, OptimizerConfig, Optimizers, SchedulerConfig,
};
use burn_lightning::{HookContext, LightningModule, LogOptions};

use crate::batch::BowBatch;
use crate::metrics::{
    DocumentFrequencies, completion_perplexity, npmi_coherence, top_words, topic_diversity,
    topic_quality,
};
use crate::model::Etm;

/// Everything the module reads but never trains: vocabulary, co-occurrence index, settings.
#[derive(Debug)]
pub struct EtmContext {
    /// Word of each id.
    pub vocabulary: Arc<Vec<String>>,
    /// Document frequencies over the training documents (for coherence).
    pub frequencies: DocumentFrequencies,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// The LR scheduler, if any.
    pub scheduler: Option<SchedulerConfig>,
    /// Words shown per topic.
    pub num_words: usize,
    /// Top words scored by coherence.
    pub coherence_words: usize,
    /// Top words counted by diversity.
    pub diversity_words: usize,
    /// One line about the data, logged as text at the start of training.
    pub data_summary: String,
}

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
    /// The network.
    pub model: Etm,
    #[module(skip)]
    context: Arc<EtmContext>,
    #[module(skip)]
    held_out: HeldOutTotals,
}

impl EtmModule {
    /// Wraps `model` with what training and evaluation read.
    pub fn new(model: Etm, context: EtmContext) -> Self {
        Self {
            model,
            context: Arc::new(context),
            held_out: HeldOutTotals::default(),
        }
    }

    /// The vocabulary.
    pub fn vocabulary(&self) -> &[String] {
        &self.context.vocabulary
    }

    /// Top words, coherence, diversity and quality of the current topics.
    #[allow(deprecated)]
    pub fn topic_report(&self) -> TopicReport {
        let beta: Vec<f32> = self
            .model
            .beta()
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .expect("f32 data");
        let v = self.context.vocabulary.len();
        let ctx = &self.context;
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
        TopicReport {
            topics: take(ctx.num_words)
                .iter()
                .map(|t| t.iter().map(|&w| ctx.vocabulary[w].clone()).collect())
                .collect(),
            coherence,
            diversity,
            quality: topic_quality(coherence, diversity),
        }
    }

    /// Adds one batch of held-out documents to the epoch's totals; logs `<prefix>_loss`
    /// (negative log-likelihood per held-out token).
    #[allow(deprecated)]
    fn held_out_step(&mut self, batch: &BowBatch, prefix: &str, cx: &mut HookContext) {
        let out = self.model.forward(batch);
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
    }

    /// Logs the epoch's perplexity and the topic measures under `prefix`.
    fn held_out_epoch_end(&mut self, prefix: &str, cx: &mut HookContext) {
        let totals = std::mem::take(&mut self.held_out);
        let epoch = LogOptions::default().on_step(false).on_epoch(true);
        let perplexity = completion_perplexity(&totals.nll, &totals.tokens);
        cx.log_with(
            &format!("{prefix}_perplexity"),
            perplexity,
            epoch.clone().prog_bar(),
        );
        let report = self.topic_report();
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

    fn on_train_start(&mut self, cx: &mut HookContext) -> Result<()> {
        cx.log_text("data", &self.context.data_summary);
        Ok(())
    }

    fn training_step(
        &mut self,
        batch: &BowBatch,
        _batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<Tensor<1>> {
        let out = self.model.forward(batch);
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
        self.held_out_step(batch, "val", cx);
        Ok(None)
    }

    fn on_validation_epoch_end(&mut self, cx: &mut HookContext) -> Result<()> {
        self.held_out_epoch_end("val", cx);
        Ok(())
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
        self.held_out_step(batch, "test", cx);
        Ok(None)
    }

    fn on_test_epoch_end(&mut self, cx: &mut HookContext) -> Result<()> {
        self.held_out_epoch_end("test", cx);
        Ok(())
    }

    fn predict_step(
        &mut self,
        batch: &BowBatch,
        _i: usize,
        _cx: &mut HookContext,
    ) -> Result<Tensor<2>> {
        Ok(self.model.topic_proportions(batch))
    }

    fn configure_optimizers(&mut self, _trainer: &mut OptimizerSetup<'_>) -> Result<Optimizers> {
        let lr = self.context.optimizer.params.lr;
        let mut optimizer = LightningOptimizer::new(self.context.optimizer.init()?, lr);
        if let Some(s) = &self.context.scheduler {
            optimizer = optimizer.with_scheduler(s.init(lr)?);
        }
        Ok(Optimizers(vec![optimizer]))
    }
}
