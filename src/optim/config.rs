//! Optimizer and scheduler settings as they appear in YAML (`optimizer: {name, params}`,
//! `scheduler: {name, params}`), turned into burn objects.

use anyhow::{Result, anyhow, bail};
use burn::lr_scheduler::LrSchedulerConfig;
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::lr_scheduler::exponential::ExponentialLrSchedulerConfig;
use burn::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::lr_scheduler::module_lr_scheduler::{ModuleLrScheduler, ModuleLrSchedulerConfig};
use burn::lr_scheduler::step::StepLrSchedulerConfig;
use burn::module::{ParamGroup, ParamId};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    AdaGradConfig, AdamConfig, AdamWConfig, ModuleOptimizer, RmsPropConfig, SgdConfig,
};
use serde::{Deserialize, Serialize};

use super::param_groups::LrGroup;
use super::scheduler::{Interval, LrSchedulerState, Mode, ReduceLrOnPlateau};
use super::warmup::{Decay, WarmupSchedule};

/// Optimizer families, by their PyTorch names.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
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
        self.init_with_no_decay(Vec::new())
    }

    /// The optimizer, with the parameters `no_decay` exempt from weight decay (PyTorch's second
    /// parameter group with `weight_decay: 0`); the optimizer state stays one record.
    pub fn init_with_no_decay(&self, no_decay: Vec<ParamId>) -> Result<ModuleOptimizer> {
        let p = &self.params;
        if !(p.lr > 0.0 && p.lr.is_finite()) {
            bail!(
                "optimizer.params.lr must be a positive number, got {}",
                p.lr
            );
        }
        let optimizer = self.family(p.weight_decay).init();
        if no_decay.is_empty() || p.weight_decay == 0.0 {
            return Ok(optimizer);
        }
        let group = ParamGroup::from_ids(no_decay);
        Ok(match self.family(0.0) {
            Family::Adam(c) => optimizer.with_group(group, c.build(), None),
            Family::AdamW(c) => optimizer.with_group(group, c.build(), None),
            Family::Sgd(c) => optimizer.with_group(group, c.build(), None),
            Family::AdaGrad(c) => optimizer.with_group(group, c.build(), None),
            Family::RmsProp(c) => optimizer.with_group(group, c.build(), None),
        })
    }

    fn family(&self, weight_decay: f64) -> Family {
        let p = &self.params;
        let l2 = (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32));
        match self.name {
            OptimizerName::Adam => Family::Adam(
                AdamConfig::new()
                    .with_beta_1(p.betas.0)
                    .with_beta_2(p.betas.1)
                    .with_epsilon(p.eps)
                    .with_amsgrad(p.amsgrad)
                    .with_weight_decay(l2),
            ),
            OptimizerName::Adamw => Family::AdamW(
                AdamWConfig::new()
                    .with_beta_1(p.betas.0)
                    .with_beta_2(p.betas.1)
                    .with_epsilon(p.eps)
                    .with_amsgrad(p.amsgrad)
                    .with_weight_decay(weight_decay as f32),
            ),
            OptimizerName::Sgd => {
                let momentum = (p.momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(p.momentum)
                        .with_dampening(p.dampening)
                        .with_nesterov(p.nesterov)
                });
                Family::Sgd(
                    SgdConfig::new()
                        .with_weight_decay(l2)
                        .with_momentum(momentum),
                )
            }
            OptimizerName::Adagrad => Family::AdaGrad(
                AdaGradConfig::new()
                    .with_lr_decay(p.lr_decay)
                    .with_epsilon(p.eps)
                    .with_weight_decay(l2),
            ),
            OptimizerName::Rmsprop => Family::RmsProp(
                RmsPropConfig::new()
                    .with_alpha(p.alpha)
                    .with_momentum(p.momentum as f32)
                    .with_epsilon(p.eps)
                    .with_weight_decay(l2),
            ),
        }
    }
}

/// burn's config of each family (each builds a bare optimizer for a parameter group, or a
/// whole-module one).
enum Family {
    Adam(AdamConfig),
    AdamW(AdamWConfig),
    Sgd(SgdConfig),
    AdaGrad(AdaGradConfig),
    RmsProp(RmsPropConfig),
}

impl Family {
    fn init(&self) -> ModuleOptimizer {
        match self {
            Family::Adam(c) => c.init(),
            Family::AdamW(c) => c.init(),
            Family::Sgd(c) => c.init(),
            Family::AdaGrad(c) => c.init(),
            Family::RmsProp(c) => c.init(),
        }
    }
}

/// Scheduler families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// HF's `get_cosine_schedule_with_warmup`: linear warm-up over `num_warmup_steps`, then
    /// `num_cycles` cosine waves until `num_training_steps`.
    CosineWarmup,
    /// HF's `get_linear_schedule_with_warmup`: linear warm-up, then linear decay to 0.
    LinearWarmup,
}

/// Parameters of a scheduler (the ones a family does not use are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// Warm-up length of the `*_warmup` schedules, in intervals.
    pub num_warmup_steps: usize,
    /// Cosine waves after the warm-up (0.5: one half-wave down to 0).
    pub num_cycles: f64,
    /// Length of the `*_warmup` schedules; null: the module computes it from the data.
    pub num_training_steps: Option<usize>,
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
            num_warmup_steps: 0,
            num_cycles: 0.5,
            num_training_steps: None,
        }
    }
}

/// `scheduler:` in a config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
        self.init_groups(lr, &[], None)
    }

    /// The scheduler for an optimizer whose parameters train at `base_lr` except `groups`, each
    /// scheduled the same way from its own rate. `num_training_steps` (in this scheduler's
    /// intervals) sizes the warm-up schedules when the config leaves it null.
    pub fn init_groups(
        &self,
        base_lr: f64,
        groups: &[LrGroup],
        num_training_steps: Option<usize>,
    ) -> Result<LrSchedulerState> {
        let p = &self.params;
        let err = |e: String| anyhow!("scheduler `{:?}`: {e}", self.name);
        let state = match self.name {
            SchedulerName::Plateau => {
                if !groups.is_empty() {
                    bail!(
                        "the plateau scheduler scales one rate; it cannot drive the parameter groups {}",
                        groups
                            .iter()
                            .map(|g| g.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                let monitor = p.monitor.as_deref().ok_or_else(|| anyhow!("scheduler.params.monitor is required for the plateau scheduler (e.g. val_loss)"))?;
                let mut plateau = ReduceLrOnPlateau::new(base_lr, p.mode, p.factor, p.patience);
                plateau.cooldown = p.cooldown;
                plateau.threshold = p.threshold;
                plateau.min_lr = p.min_lr;
                LrSchedulerState::plateau(plateau, monitor)
            }
            SchedulerName::CosineWarmup | SchedulerName::LinearWarmup => {
                let total = p.num_training_steps.or(num_training_steps).ok_or_else(|| {
                    anyhow!("scheduler.params.num_training_steps is needed by `{:?}` (this module cannot compute it)", self.name)
                })?;
                // A run shorter than its warm-up (fast_dev_run, a short max_steps) ends while
                // warming up, as HF's schedules let it: the rates of its steps are the warm-up's.
                let total = if p.num_warmup_steps > total {
                    eprintln!(
                        "warning: scheduler.params.num_warmup_steps ({}) exceeds the run's {total} training steps; it ends during the warm-up",
                        p.num_warmup_steps
                    );
                    p.num_warmup_steps
                } else {
                    total
                };
                let decay = match self.name {
                    SchedulerName::CosineWarmup => Decay::Cosine {
                        num_cycles: p.num_cycles,
                    },
                    _ => Decay::Linear,
                };
                let schedule = |lr| WarmupSchedule::new(lr, p.num_warmup_steps, total, decay);
                let mut scheduler = ModuleLrScheduler::new(schedule(base_lr));
                for g in groups {
                    scheduler =
                        scheduler.with_group(ParamGroup::from_ids(g.ids.clone()), schedule(g.lr));
                }
                LrSchedulerState::burn(scheduler)
            }
            _ => {
                let mut config = ModuleLrSchedulerConfig::new(self.burn_schedule(base_lr));
                for g in groups {
                    config = config.with_group(
                        ParamGroup::from_ids(g.ids.clone()),
                        self.burn_schedule(g.lr),
                    );
                }
                LrSchedulerState::burn(config.init().map_err(err)?)
            }
        };
        Ok(state.interval(p.interval).frequency(p.frequency))
    }

    /// One of burn's own schedules starting from `lr`.
    fn burn_schedule(&self, lr: f64) -> LrSchedulerConfig {
        let p = &self.params;
        match self.name {
            SchedulerName::StepLr => StepLrSchedulerConfig::new(lr, p.step_size)
                .with_gamma(p.gamma)
                .into(),
            SchedulerName::Cosine => CosineAnnealingLrSchedulerConfig::new(lr, p.t_max)
                .with_min_lr(p.min_lr)
                .into(),
            SchedulerName::Linear => LinearLrSchedulerConfig::new(lr, p.final_lr, p.t_max).into(),
            SchedulerName::Exponential => ExponentialLrSchedulerConfig::new(lr, p.gamma).into(),
            _ => LrSchedulerConfig::Constant(lr),
        }
    }
}
