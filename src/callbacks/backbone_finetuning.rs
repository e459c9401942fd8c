//! [`BackboneFinetuning`]: Lightning's callback that keeps a pretrained backbone frozen for the
//! first epochs, then trains it at a lower rate that grows each epoch until it meets the rest's.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Callback;
use crate::context::HookContext;
use crate::module_handle::ModuleHandle;

/// The per-epoch multiplier of the backbone's rate (`lambda_func(epoch + 1)`).
pub type LambdaFn = Box<dyn Fn(usize) -> f64 + Send>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct FinetuningState {
    /// The backbone's rate in force (Lightning's `previous_backbone_lr`).
    previous_backbone_lr: Option<f64>,
    /// The epoch whose rate was last computed (a resumed epoch starting again keeps it).
    applied_epoch: Option<usize>,
}

/// Freezes the parameters under `backbone_prefix` until `unfreeze_backbone_at_epoch`, then
/// trains them at `backbone_initial_ratio_lr ×` the optimizer's rate (or
/// `backbone_initial_lr`), multiplied each later epoch by `lambda_func(epoch + 1)` and, with
/// `should_align`, capped at the optimizer's rate. Lightning's defaults: epoch 10, ratio 0.1,
/// multiplier 2 (Lightning's `multiplicative`), aligned. The backbone's rate is reported to the LR monitor as
/// `lr-<optimizer>/backbone`.
///
/// Differences from Lightning: the backbone is the parameters under a path prefix (default
/// `backbone`, Lightning's `pl_module.backbone`); its rate is set on every optimizer from the
/// first optimizer's rate (Lightning recomputes it per optimizer, compounding the multiplier);
/// a resumed epoch keeps the rate it had (Lightning multiplies again); `train_bn` and
/// `initial_denom_lr` have no counterpart (norm layers are ordinary parameters under the
/// prefix; the initial rate is always given).
pub struct BackboneFinetuning {
    backbone_prefix: String,
    unfreeze_backbone_at_epoch: usize,
    lambda_func: LambdaFn,
    backbone_initial_ratio_lr: f64,
    backbone_initial_lr: Option<f64>,
    should_align: bool,
    verbose: bool,
    state: FinetuningState,
}

impl Default for BackboneFinetuning {
    fn default() -> Self {
        Self {
            backbone_prefix: "backbone".into(),
            unfreeze_backbone_at_epoch: 10,
            lambda_func: Box::new(|_| 2.0),
            backbone_initial_ratio_lr: 0.1,
            backbone_initial_lr: None,
            should_align: true,
            verbose: false,
            state: FinetuningState::default(),
        }
    }
}

/// `BackboneFinetuning`'s arguments in `trainer.callbacks`, with Lightning's names and
/// defaults; `multiplier` stands for Lightning's default `lambda_func` (a constant factor per
/// epoch), which a config cannot hold as a function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackboneFinetuningConfig {
    /// Zero-based epoch at which the backbone starts training.
    pub unfreeze_backbone_at_epoch: usize,
    /// The path prefix of the backbone's parameters.
    pub backbone_prefix: String,
    /// The backbone's rate is multiplied by this at the start of every later epoch.
    pub multiplier: f64,
    /// The backbone's initial rate as a fraction of the optimizer's.
    pub backbone_initial_ratio_lr: f64,
    /// The backbone's initial rate, instead of the ratio.
    pub backbone_initial_lr: Option<f64>,
    /// Caps the backbone's rate at the optimizer's.
    pub should_align: bool,
    /// Prints the rates when they change.
    pub verbose: bool,
}

impl Default for BackboneFinetuningConfig {
    fn default() -> Self {
        Self {
            unfreeze_backbone_at_epoch: 10,
            backbone_prefix: "backbone".into(),
            multiplier: 2.0,
            backbone_initial_ratio_lr: 0.1,
            backbone_initial_lr: None,
            should_align: true,
            verbose: false,
        }
    }
}

impl BackboneFinetuningConfig {
    /// The callback these arguments describe.
    pub fn init(self) -> BackboneFinetuning {
        let multiplier = self.multiplier;
        let mut callback = BackboneFinetuning::new(self.unfreeze_backbone_at_epoch)
            .backbone_prefix(&self.backbone_prefix)
            .lambda_func(move |_| multiplier)
            .backbone_initial_ratio_lr(self.backbone_initial_ratio_lr)
            .should_align(self.should_align)
            .verbose(self.verbose);
        if let Some(lr) = self.backbone_initial_lr {
            callback = callback.backbone_initial_lr(lr);
        }
        callback
    }
}

impl BackboneFinetuning {
    /// Lightning's defaults, with the backbone unfrozen at zero-based `epoch`.
    pub fn new(unfreeze_backbone_at_epoch: usize) -> Self {
        Self {
            unfreeze_backbone_at_epoch,
            ..Self::default()
        }
    }

    /// The path prefix of the backbone's parameters (default `backbone`).
    pub fn backbone_prefix(mut self, prefix: &str) -> Self {
        self.backbone_prefix = prefix.to_string();
        self
    }

    /// The multiplier applied to the backbone's rate at the start of epoch `e` (given `e + 1`).
    pub fn lambda_func(mut self, f: impl Fn(usize) -> f64 + Send + 'static) -> Self {
        self.lambda_func = Box::new(f);
        self
    }

    /// The backbone's initial rate as a fraction of the optimizer's (default 0.1).
    pub fn backbone_initial_ratio_lr(mut self, ratio: f64) -> Self {
        self.backbone_initial_ratio_lr = ratio;
        self
    }

    /// The backbone's initial rate, instead of the ratio.
    pub fn backbone_initial_lr(mut self, lr: f64) -> Self {
        self.backbone_initial_lr = Some(lr);
        self
    }

    /// Whether the backbone's rate stops at the optimizer's (default true).
    pub fn should_align(mut self, align: bool) -> Self {
        self.should_align = align;
        self
    }

    /// Print both rates at every change.
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// Name of the optimizer group holding the backbone's rate.
    pub const GROUP: &'static str = "backbone";

    /// The backbone's rate in force (none while frozen).
    pub fn backbone_lr(&self) -> Option<f64> {
        self.state.previous_backbone_lr
    }

    /// `on_fit_start`: freezes the backbone (an error if no parameter lies under the prefix).
    pub fn freeze_before_training(&mut self, module: &mut ModuleHandle<'_>) -> Result<()> {
        module.freeze(&self.backbone_prefix).with_context(|| {
            format!(
                "BackboneFinetuning needs the backbone's parameters under `{}` (set backbone_prefix)",
                self.backbone_prefix
            )
        })?;
        Ok(())
    }

    /// `on_train_epoch_start`: at and after the unfreeze epoch, trains the backbone at its rate.
    pub fn epoch_start(&mut self, module: &mut ModuleHandle<'_>, epoch: usize) -> Result<()> {
        if epoch < self.unfreeze_backbone_at_epoch {
            return Ok(());
        }
        let current_lr = match module.optimizers().first() {
            Some(optimizer) => optimizer.lr(),
            None => bail!("BackboneFinetuning needs an optimizer in fit"),
        };
        if self.state.applied_epoch != Some(epoch) {
            let next = match self.state.previous_backbone_lr {
                Some(previous) if epoch > self.unfreeze_backbone_at_epoch => {
                    let next = (self.lambda_func)(epoch + 1) * previous;
                    if self.should_align && next > current_lr {
                        current_lr
                    } else {
                        next
                    }
                }
                _ => self
                    .backbone_initial_lr
                    .unwrap_or(current_lr * self.backbone_initial_ratio_lr),
            };
            self.state.previous_backbone_lr = Some(next);
            self.state.applied_epoch = Some(epoch);
            if self.verbose {
                eprintln!("Current lr: {current_lr}, Backbone lr: {next}");
            }
        }
        let lr = self
            .state
            .previous_backbone_lr
            .context("BackboneFinetuning: backbone rate missing after it was computed")?;
        module.unfreeze(&self.backbone_prefix)?;
        let ids = module.parameter_ids(&self.backbone_prefix);
        for optimizer in module.optimizers() {
            optimizer.set_group_lr(Self::GROUP, ids.clone(), lr);
        }
        Ok(())
    }

    /// The callback's JSON state.
    pub fn state(&self) -> Value {
        serde_json::to_value(&self.state).unwrap_or(Value::Null)
    }

    /// Restores [`state`](Self::state) (`Null`: a checkpoint without this callback).
    pub fn load_state(&mut self, state: Value) -> Result<()> {
        if state.is_null() {
            return Ok(());
        }
        self.state = serde_json::from_value(state)
            .context("BackboneFinetuning state: expected {previous_backbone_lr, applied_epoch}")?;
        Ok(())
    }
}

impl Callback for BackboneFinetuning {
    fn changes_module(&self) -> bool {
        true
    }
    fn state_key(&self) -> String {
        "BackboneFinetuning".into()
    }
    fn on_fit_start(&mut self, module: &mut ModuleHandle<'_>, _cx: &mut HookContext) -> Result<()> {
        self.freeze_before_training(module)
    }
    fn on_train_epoch_start(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        self.epoch_start(module, cx.current_epoch())
    }
    fn state_dict(&self) -> Value {
        self.state()
    }
    fn load_state_dict(&mut self, state: Value) -> Result<()> {
        self.load_state(state)
    }
    fn check_state_dict(&self, state: &Value) -> Result<()> {
        Self::default().load_state(state.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_net::{Net, sgd, train_step};
    use burn::prelude::*;

    fn backbone(net: &mut Net) -> Vec<f32> {
        ModuleHandle::new(net, None)
            .parameter_data("backbone.weight")
            .unwrap()
            .try_to_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn frozen_until_the_epoch_then_rising_rates_capped_at_the_optimizers() {
        let device = Device::flex().autodiff();
        let mut net = Net::new(&device);
        let mut opts = vec![sgd().named("sgd")];
        let mut cb = BackboneFinetuning::new(2).backbone_initial_ratio_lr(0.2);
        cb.freeze_before_training(&mut ModuleHandle::new(&mut net, Some(&mut opts)))
            .unwrap();
        let mut rates = Vec::new();
        for epoch in 0..6 {
            let before = backbone(&mut net);
            cb.epoch_start(&mut ModuleHandle::new(&mut net, Some(&mut opts)), epoch)
                .unwrap();
            net = train_step(net, &mut opts[0]);
            let moved = backbone(&mut net) != before;
            assert_eq!(moved, epoch >= 2, "epoch {epoch}");
            rates.push(opts[0].group_lr(BackboneFinetuning::GROUP));
        }
        // ×2 a epoch (Lightning's `multiplicative`), capped at the optimizer's 0.1.
        let expected = [None, None, Some(0.02), Some(0.04), Some(0.08), Some(0.1)];
        for (got, want) in rates.iter().zip(expected) {
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-12, "{rates:?}"),
                (g, w) => assert_eq!(*g, w),
            }
        }
        assert!(
            opts[0]
                .learning_rates()
                .contains(&("sgd/backbone".to_string(), rates[5].unwrap()))
        );
        // Aligned: a large multiplier stops at the optimizer's rate.
        let mut cb = BackboneFinetuning::new(0).lambda_func(|_| 100.0);
        let mut net = Net::new(&device);
        let mut opts = vec![sgd()];
        cb.freeze_before_training(&mut ModuleHandle::new(&mut net, Some(&mut opts)))
            .unwrap();
        for epoch in 0..2 {
            cb.epoch_start(&mut ModuleHandle::new(&mut net, Some(&mut opts)), epoch)
                .unwrap();
        }
        assert_eq!(cb.backbone_lr(), Some(0.1));
    }

    #[test]
    fn resume_restores_the_rate_without_compounding() {
        let device = Device::flex().autodiff();
        let mut net = Net::new(&device);
        let mut opts = vec![sgd()];
        let mut cb = BackboneFinetuning::new(0);
        cb.freeze_before_training(&mut ModuleHandle::new(&mut net, Some(&mut opts)))
            .unwrap();
        for epoch in 0..2 {
            cb.epoch_start(&mut ModuleHandle::new(&mut net, Some(&mut opts)), epoch)
                .unwrap();
        }
        let rate = cb.backbone_lr().unwrap();
        assert!((rate - 0.02).abs() < 1e-12);
        // A new process resuming inside epoch 1: frozen at fit start, then the same rate.
        let mut resumed = BackboneFinetuning::new(0);
        resumed.load_state(cb.state()).unwrap();
        let mut net = Net::new(&device);
        let mut opts = vec![sgd()];
        resumed
            .freeze_before_training(&mut ModuleHandle::new(&mut net, Some(&mut opts)))
            .unwrap();
        resumed
            .epoch_start(&mut ModuleHandle::new(&mut net, Some(&mut opts)), 1)
            .unwrap();
        assert_eq!(opts[0].group_lr(BackboneFinetuning::GROUP), Some(rate));
        assert_eq!(
            ModuleHandle::new(&mut net, None).num_trainable_parameters(),
            13
        );
        let mut wrong = BackboneFinetuning::new(0).backbone_prefix("encoder");
        assert!(
            wrong
                .freeze_before_training(&mut ModuleHandle::new(&mut net, None))
                .is_err()
        );
        assert!(resumed.load_state(serde_json::json!([1])).is_err());
    }
}
