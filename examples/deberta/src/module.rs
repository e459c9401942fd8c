//! The classifier as a LightningModule: BCE-with-logits (or cross-entropy), epoch-level AUC and
//! accuracy, AdamW with the notebook's parameter groups (no decay on biases and LayerNorms; the
//! encoder and the head at their own rates, optionally decaying layer by layer) under a
//! warm-up schedule stepped per batch.

use std::sync::Arc;

use anyhow::{Context, Result};
use burn::module::ParamId;
use burn::prelude::*;
use burn::tensor::FloatDType;
use burn::tensor::activation::{log_sigmoid, log_softmax, sigmoid, softmax};
use burn_lightning::OptimizerSetup;
use burn_lightning::callbacks::{
    BackboneFinetuning, Callback, LearningRateMonitor, ModelCheckpoint,
};
use burn_lightning::optim::{
    LightningOptimizer, LrGroup, Mode, Optimizers, SchedulerConfig, is_no_decay, named_parameters,
    parameters_where,
};
use burn_lightning::{HookContext, LightningModule, LogOptions};

use crate::assemble::LazyClassifier;
pub use crate::assemble::Recipe;
use crate::batch::TextBatch;
use crate::classifier::DebertaClassifier;
use crate::config::DebertaV2Config;
use crate::metrics::{accuracy, roc_auc};

/// Scores and labels gathered over one evaluation epoch.
#[derive(Debug, Clone, Default)]
pub struct EpochScores {
    /// Per example: the positive-class probability (binary) or every class's.
    pub probabilities: Vec<Vec<f64>>,
    /// Per example: its class.
    pub labels: Vec<usize>,
    /// Per example: its row in the table.
    pub rows: Vec<usize>,
    loss_sum: f64,
}

impl EpochScores {
    /// Scores gathered elsewhere (e.g. from predictions), without a loss.
    pub fn from_parts(probabilities: Vec<Vec<f64>>, labels: Vec<usize>, rows: Vec<usize>) -> Self {
        Self {
            probabilities,
            labels,
            rows,
            loss_sum: 0.0,
        }
    }

    /// Moves `other`'s examples to the end of these.
    pub fn append(&mut self, mut other: EpochScores) {
        self.probabilities.append(&mut other.probabilities);
        self.labels.append(&mut other.labels);
        self.rows.append(&mut other.rows);
        self.loss_sum += other.loss_sum;
    }

    /// Mean loss over the examples.
    pub fn loss(&self) -> f64 {
        self.loss_sum / self.labels.len().max(1) as f64
    }

    /// ROC AUC (binary: of the positive probability; classes: mean one-vs-rest).
    pub fn auc(&self) -> Option<f64> {
        let classes = self.probabilities.first()?.len();
        if classes == 1 {
            let scores: Vec<f64> = self.probabilities.iter().map(|p| p[0]).collect();
            let labels: Vec<bool> = self.labels.iter().map(|&l| l == 1).collect();
            return roc_auc(&scores, &labels);
        }
        let per_class: Vec<f64> = (0..classes)
            .filter_map(|c| {
                let scores: Vec<f64> = self.probabilities.iter().map(|p| p[c]).collect();
                let labels: Vec<bool> = self.labels.iter().map(|&l| l == c).collect();
                roc_auc(&scores, &labels)
            })
            .collect();
        (!per_class.is_empty()).then(|| per_class.iter().sum::<f64>() / per_class.len() as f64)
    }

    /// Share of examples whose most probable class is right (binary: probability ≥ 0.5).
    pub fn accuracy(&self) -> f64 {
        if self.probabilities.first().is_some_and(|p| p.len() == 1) {
            let scores: Vec<f64> = self.probabilities.iter().map(|p| p[0]).collect();
            let labels: Vec<bool> = self.labels.iter().map(|&l| l == 1).collect();
            return accuracy(&scores, &labels, 0.5);
        }
        let right = self
            .probabilities
            .iter()
            .zip(&self.labels)
            .filter(|(p, l)| argmax(p) == **l)
            .count();
        right as f64 / self.labels.len().max(1) as f64
    }
}

fn argmax(values: &[f64]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

/// The classifier LightningModule.
#[derive(Module, Debug)]
pub struct ClassifierModule {
    /// The network; `None` until `configure_model` builds it (a scratch encoder's vocabulary
    /// comes from the data's tokenizer).
    pub model: Option<DebertaClassifier>,
    #[module(skip)]
    encoder_config: Option<DebertaV2Config>,
    #[module(skip)]
    lazy: Option<LazyClassifier>,
    #[module(skip)]
    recipe: Arc<Recipe>,
    #[module(skip)]
    epoch: EpochScores,
    #[module(skip)]
    train_loss: (f64, usize),
}

impl ClassifierModule {
    /// Wraps `model` with its recipe.
    pub fn new(model: DebertaClassifier, recipe: Recipe) -> Self {
        Self {
            model: Some(model),
            encoder_config: None,
            lazy: None,
            recipe: Arc::new(recipe),
            epoch: EpochScores::default(),
            train_loss: (0.0, 0),
        }
    }

    /// A module whose network `configure_model` builds, once the datamodule's `setup` has
    /// published the tokenizer and the fold's size.
    pub fn lazy(parts: LazyClassifier) -> Self {
        let recipe = Recipe {
            optimizer: parts.config.optimizer.clone(),
            scheduler: parts.config.scheduler.clone(),
            encoder_lr: 0.0,
            decoder_lr: 0.0,
            layerwise_lr_decay: 1.0,
            print_freq: 0,
            num_classes: parts.config.model.params.num_classes,
            fold: parts.fold,
            // Read by configure_callbacks, which runs before configure_model builds the rest.
            freeze_encoder_epochs: parts.config.model.params.freeze_encoder_epochs,
        };
        Self {
            model: None,
            encoder_config: None,
            lazy: Some(parts),
            recipe: Arc::new(recipe),
            epoch: EpochScores::default(),
            train_loss: (0.0, 0),
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
            .context("the classifier has neither a network nor the settings to build one")?;
        let (model, recipe, encoder_config) = lazy.build(device)?;
        self.model = Some(model);
        self.recipe = Arc::new(recipe);
        self.encoder_config = Some(encoder_config);
        Ok(())
    }

    /// The network (an error before `configure_model`).
    pub fn net(&self) -> Result<&DebertaClassifier> {
        self.model
            .as_ref()
            .context("the classifier is not built yet (configure_model builds it)")
    }

    /// The encoder's `config.json` (known once a lazy module is built).
    pub fn encoder_config(&self) -> Option<&DebertaV2Config> {
        self.encoder_config.as_ref()
    }

    /// What the last validation epoch scored.
    pub fn scores(&self) -> &EpochScores {
        &self.epoch
    }

    /// Per-example losses (batch), from logits (batch × classes).
    fn losses(&self, logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
        // In float32 whatever the step computed in, as autocast does for losses.
        let logits = logits.cast(FloatDType::F32);
        if self.recipe.num_classes == 1 {
            // BCE with logits, in its stable form: −y·log σ(x) − (1 − y)·log σ(−x).
            let y = labels.float().unsqueeze_dim::<2>(1);
            let loss = -(y.clone() * log_sigmoid(logits.clone())
                + (y.neg() + 1.0) * log_sigmoid(logits.neg()));
            loss.squeeze_dim::<1>(1)
        } else {
            let picked = log_softmax(logits, 1).gather(1, labels.unsqueeze_dim::<2>(1));
            picked.neg().squeeze_dim::<1>(1)
        }
    }

    fn probabilities(&self, logits: Tensor<2>) -> Tensor<2> {
        if self.recipe.num_classes == 1 {
            sigmoid(logits)
        } else {
            softmax(logits, 1)
        }
    }

    fn evaluate(&mut self, batch: &TextBatch) -> Result<()> {
        let logits = self.net()?.forward(&batch.encoded);
        let losses = self.losses(logits.clone(), batch.labels.clone());
        let probs = self.probabilities(logits);
        let classes = probs.dims()[1];
        let values: Vec<f32> = probs.into_data().convert::<f32>().try_into_vec::<f32>()?;
        let labels: Vec<i64> = batch
            .labels
            .clone()
            .into_data()
            .convert::<i64>()
            .try_into_vec()?;
        self.epoch.loss_sum += losses.sum().into_scalar::<f32>() as f64;
        for (row, p) in values.chunks(classes).enumerate() {
            self.epoch
                .probabilities
                .push(p.iter().map(|&v| v as f64).collect());
            self.epoch.labels.push(labels[row] as usize);
            self.epoch.rows.push(batch.rows[row]);
        }
        Ok(())
    }

    /// The notebook's parameter groups: each group's rate, and the parameters that take no
    /// weight decay. Groups cover every parameter; the encoder's split by layer when
    /// `layerwise_lr_decay` is below 1.
    pub fn parameter_groups(&self) -> Result<(Vec<LrGroup>, Vec<ParamId>)> {
        let r = &self.recipe;
        let mut groups = Vec::new();
        if r.layerwise_lr_decay < 1.0 {
            let layers = self.net()?.deberta.encoder.layer.len();
            let layer_of = |path: &str| -> Option<usize> {
                let rest = path.strip_prefix("deberta.encoder.layer.")?;
                rest.split('.').next()?.parse().ok()
            };
            let paths = named_parameters(self.net()?);
            let ids_where = |keep: &dyn Fn(&str) -> bool| -> Vec<ParamId> {
                paths
                    .iter()
                    .filter(|(p, _)| keep(p))
                    .map(|(_, id)| *id)
                    .collect()
            };
            groups.push(LrGroup {
                name: "embeddings".into(),
                ids: ids_where(&|p| p.starts_with("deberta.embeddings.")),
                lr: r.encoder_lr * r.layerwise_lr_decay.powi(layers as i32 + 1),
            });
            for i in 0..layers {
                groups.push(LrGroup {
                    name: format!("layer_{i}"),
                    ids: ids_where(&|p| layer_of(p) == Some(i)),
                    lr: r.encoder_lr * r.layerwise_lr_decay.powi((layers - i) as i32),
                });
            }
            // Relative embeddings and their LayerNorm serve every layer: the top layer's rate.
            groups.push(LrGroup {
                name: "encoder_shared".into(),
                ids: ids_where(&|p| p.starts_with("deberta.encoder.") && layer_of(p).is_none()),
                lr: r.encoder_lr,
            });
        } else {
            groups.push(LrGroup {
                name: "encoder".into(),
                ids: parameters_where(self.net()?, |p| p.starts_with("deberta.")),
                lr: r.encoder_lr,
            });
        }
        groups.push(LrGroup {
            name: "head".into(),
            ids: parameters_where(self.net()?, |p| !p.starts_with("deberta.")),
            lr: r.decoder_lr,
        });
        groups.retain(|g| !g.ids.is_empty());
        let no_decay = parameters_where(self.net()?, is_no_decay);
        Ok((groups, no_decay))
    }
}

impl LightningModule for ClassifierModule {
    type Batch = TextBatch;

    fn configure_model(&mut self, cx: &mut HookContext) -> Result<()> {
        self.build_network(cx.device())
    }

    fn configure_callbacks(&mut self) -> Vec<Box<dyn Callback>> {
        let mut callbacks: Vec<Box<dyn Callback>> = vec![
            Box::new(
                ModelCheckpoint::default()
                    .monitor("val_auc", Mode::Max)
                    .filename("{epoch}-{step}-{val_auc:.4f}")
                    .save_last(true),
            ),
            Box::new(LearningRateMonitor::default()),
        ];
        if let Some(epochs) = self.recipe.freeze_encoder_epochs {
            callbacks.push(Box::new(
                BackboneFinetuning::new(epochs).backbone_prefix("model.deberta"),
            ));
        }
        callbacks
    }

    fn on_train_epoch_start(&mut self, _cx: &mut HookContext) -> Result<()> {
        self.train_loss = (0.0, 0);
        Ok(())
    }

    fn training_step(
        &mut self,
        batch: &TextBatch,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<Tensor<1>> {
        let logits = self.net()?.forward(&batch.encoded);
        let loss = self.losses(logits, batch.labels.clone()).mean();
        cx.log_tensor(
            "train_loss",
            &loss,
            LogOptions::default()
                .on_step(true)
                .on_epoch(true)
                .prog_bar(),
        );
        let freq = self.recipe.print_freq;
        let last = cx.num_training_batches().saturating_sub(1);
        if freq > 0 && (batch_idx.is_multiple_of(freq) || batch_idx == last) && cx.is_global_zero()
        {
            let value = loss.clone().into_scalar::<f32>() as f64;
            self.train_loss.0 += value;
            self.train_loss.1 += 1;
            let lr = cx.learning_rates().first().map_or(0.0, |(_, lr)| *lr);
            println!(
                "fold {} epoch [{}][{batch_idx}/{}] loss {value:.4} (sampled mean {:.4}) lr {lr:.8}",
                self.recipe.fold,
                cx.current_epoch() + 1,
                cx.num_training_batches(),
                self.train_loss.0 / self.train_loss.1 as f64,
            );
        }
        Ok(loss)
    }

    fn on_validation_epoch_start(&mut self, _cx: &mut HookContext) -> Result<()> {
        self.epoch = EpochScores::default();
        Ok(())
    }

    fn validation_step(
        &mut self,
        batch: &TextBatch,
        _i: usize,
        _cx: &mut HookContext,
    ) -> Result<Option<Tensor<1>>> {
        self.evaluate(batch)?;
        Ok(None)
    }

    fn on_validation_epoch_end(&mut self, cx: &mut HookContext) -> Result<()> {
        let epoch = LogOptions::default().on_step(false).on_epoch(true);
        cx.log_with("val_loss", self.epoch.loss(), epoch.clone());
        cx.log_with("val_accuracy", self.epoch.accuracy(), epoch.clone());
        // A validation set of one class has no AUC; 0.5 is "no better than chance".
        let auc = self.epoch.auc().unwrap_or(0.5);
        cx.log_with("val_auc", auc, epoch.prog_bar());
        Ok(())
    }

    fn predict_step(
        &mut self,
        batch: &TextBatch,
        _i: usize,
        _cx: &mut HookContext,
    ) -> Result<Tensor<2>> {
        Ok(self.probabilities(self.net()?.forward(&batch.encoded)))
    }

    fn configure_optimizers(&mut self, trainer: &mut OptimizerSetup<'_>) -> Result<Optimizers> {
        let (groups, no_decay) = self.parameter_groups()?;
        let r = &self.recipe;
        let optimizer = r.optimizer.init_with_no_decay(no_decay)?;
        let scheduler = r.scheduler.clone().unwrap_or(SchedulerConfig {
            name: burn_lightning::optim::SchedulerName::Constant,
            params: Default::default(),
        });
        // Warm-up schedules span the run the Trainer will take (Lightning's
        // `trainer.estimated_stepping_batches`): folds, accumulation and limits included.
        let length = trainer.schedule_length(&scheduler)?;
        let state = scheduler.init_groups(r.encoder_lr, &groups, length)?;
        Ok(Optimizers(vec![
            LightningOptimizer::new(optimizer, r.encoder_lr)
                .with_scheduler(state)
                .report_lr_groups(&groups),
        ]))
    }
}
