//! Optimizer and scheduler settings as they appear in YAML (`optimizer: {name, params}`,
//! `scheduler: {name, params}`), turned into burn objects.

use anyhow::{Result, anyhow, bail};
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::lr_scheduler::exponential::ExponentialLrSchedulerConfig;
use burn::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::lr_scheduler::step::StepLrSchedulerConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    AdaGradConfig, AdamConfig, AdamWConfig, ModuleOptimizer, RmsPropConfig, SgdConfig,
};
use serde::{Deserialize, Serialize};

use super::scheduler::{Interval, LrSchedulerState, Mode, ReduceLrOnPlateau};

/// Optimizer families, by their PyTorch names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerName {
    /// Adam with L2 weight decay (torch.optim.Adam).
    #[default]
    Adam,
    /// Adam with decoupled weight decay (torch.optim.AdamW).
    Adamw,
    /// SGD with optional momentum and Nesterov.
    Sgd,
    /// AdaGrad.
    Adagrad,
    /// RMSprop.
    Rmsprop,
}

/// Hyper-parameters of an optimizer, PyTorch's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerParams {
    /// Learning rate.
    pub lr: f64,
    /// L2 penalty (Adam, SGD, AdaGrad, RMSprop) or decoupled decay (AdamW).
    pub weight_decay: f64,
    /// Adam's (β₁, β₂).
    pub betas: (f32, f32),
    /// Numerical epsilon.
    pub eps: f32,
    /// SGD / RMSprop momentum.
    pub momentum: f64,
    /// SGD dampening.
    pub dampening: f64,
    /// SGD Nesterov momentum.
    pub nesterov: bool,
    /// AMSGrad variant of Adam/AdamW.
    pub amsgrad: bool,
    /// RMSprop smoothing constant.
    pub alpha: f32,
    /// AdaGrad learning-rate decay.
    pub lr_decay: f64,
}

impl Default for OptimizerParams {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            weight_decay: 0.0,
            betas: (0.9, 0.999),
            eps: 1e-8,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            amsgrad: false,
            alpha: 0.99,
            lr_decay: 0.0,
        }
    }
}

/// `optimizer:` in a config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    /// Family.
    pub name: OptimizerName,
    /// Hyper-parameters.
    #[serde(default)]
    pub params: OptimizerParams,
}

impl OptimizerConfig {
    /// The burn optimizer these settings describe.
    pub fn init(&self) -> Result<ModuleOptimizer> {
        let p = &self.params;
        if !(p.lr > 0.0 && p.lr.is_finite()) {
            bail!(
                "optimizer.params.lr must be a positive number, got {}",
                p.lr
            );
        }
        let l2 = (p.weight_decay > 0.0).then(|| WeightDecayConfig::new(p.weight_decay as f32));
        Ok(match self.name {
            OptimizerName::Adam => AdamConfig::new()
                .with_beta_1(p.betas.0)
                .with_beta_2(p.betas.1)
                .with_epsilon(p.eps)
                .with_amsgrad(p.amsgrad)
                .with_weight_decay(l2)
                .init(),
            OptimizerName::Adamw => AdamWConfig::new()
                .with_beta_1(p.betas.0)
                .with_beta_2(p.betas.1)
                .with_epsilon(p.eps)
                .with_amsgrad(p.amsgrad)
                .with_weight_decay(p.weight_decay as f32)
                .init(),
            OptimizerName::Sgd => {
                let momentum = (p.momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(p.momentum)
                        .with_dampening(p.dampening)
                        .with_nesterov(p.nesterov)
                });
                SgdConfig::new()
                    .with_weight_decay(l2)
                    .with_momentum(momentum)
                    .init()
            }
            OptimizerName::Adagrad => AdaGradConfig::new()
                .with_lr_decay(p.lr_decay)
                .with_epsilon(p.eps)
                .with_weight_decay(l2)
                .init(),
            OptimizerName::Rmsprop => RmsPropConfig::new()
                .with_alpha(p.alpha)
                .with_momentum(p.momentum as f32)
                .with_epsilon(p.eps)
                .with_weight_decay(l2)
                .init(),
        })
    }
}

/// Scheduler families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerName {
    /// Constant rate.
    Constant,
    /// Multiply by `gamma` every `step_size` intervals (torch StepLR).
    StepLr,
    /// Cosine annealing to `min_lr` over `t_max` intervals.
    Cosine,
    /// Linear from `lr` to `final_lr` over `t_max` intervals.
    Linear,
    /// Multiply by `gamma` every interval.
    Exponential,
    /// Reduce on plateau of `monitor`.
    Plateau,
}

/// Parameters of a scheduler (the ones a family does not use are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerParams {
    /// StepLR period.
    pub step_size: usize,
    /// StepLR / exponential factor.
    pub gamma: f64,
    /// Cosine / linear length in intervals.
    pub t_max: usize,
    /// Cosine floor; plateau floor.
    pub min_lr: f64,
    /// Linear end rate.
    pub final_lr: f64,
    /// Plateau multiplier.
    pub factor: f64,
    /// Plateau patience.
    pub patience: usize,
    /// Plateau cooldown.
    pub cooldown: usize,
    /// Plateau relative threshold.
    pub threshold: f64,
    /// Plateau direction.
    pub mode: Mode,
    /// Metric the plateau scheduler watches.
    pub monitor: Option<String>,
    /// `step` or `epoch`.
    pub interval: Interval,
    /// Step every `frequency` intervals.
    pub frequency: usize,
}

impl Default for SchedulerParams {
    fn default() -> Self {
        Self {
            step_size: 10,
            gamma: 0.1,
            t_max: 10,
            min_lr: 0.0,
            final_lr: 0.0,
            factor: 0.1,
            patience: 10,
            cooldown: 0,
            threshold: 1e-4,
            mode: Mode::Min,
            monitor: None,
            interval: Interval::Epoch,
            frequency: 1,
        }
    }
}

/// `scheduler:` in a config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Family.
    pub name: SchedulerName,
    /// Parameters.
    #[serde(default)]
    pub params: SchedulerParams,
}

impl SchedulerConfig {
    /// The scheduler for an optimizer whose initial rate is `lr`.
    pub fn init(&self, lr: f64) -> Result<LrSchedulerState> {
        let p = &self.params;
        let err = |e: String| anyhow!("scheduler `{:?}`: {e}", self.name);
        let state = match self.name {
            SchedulerName::Constant => LrSchedulerState::burn(lr),
            SchedulerName::StepLr => LrSchedulerState::burn(
                StepLrSchedulerConfig::new(lr, p.step_size)
                    .with_gamma(p.gamma)
                    .init()
                    .map_err(err)?,
            ),
            SchedulerName::Cosine => LrSchedulerState::burn(
                CosineAnnealingLrSchedulerConfig::new(lr, p.t_max)
                    .with_min_lr(p.min_lr)
                    .init()
                    .map_err(err)?,
            ),
            SchedulerName::Linear => LrSchedulerState::burn(
                LinearLrSchedulerConfig::new(lr, p.final_lr, p.t_max)
                    .init()
                    .map_err(err)?,
            ),
            SchedulerName::Exponential => LrSchedulerState::burn(
                ExponentialLrSchedulerConfig::new(lr, p.gamma)
                    .init()
                    .map_err(err)?,
            ),
            SchedulerName::Plateau => {
                let monitor = p.monitor.as_deref().ok_or_else(|| anyhow!("scheduler.params.monitor is required for the plateau scheduler (e.g. val_loss)"))?;
                let mut plateau = ReduceLrOnPlateau::new(lr, p.mode, p.factor, p.patience);
                plateau.cooldown = p.cooldown;
                plateau.threshold = p.threshold;
                plateau.min_lr = p.min_lr;
                LrSchedulerState::plateau(plateau, monitor)
            }
        };
        Ok(state.interval(p.interval).frequency(p.frequency))
    }
}
