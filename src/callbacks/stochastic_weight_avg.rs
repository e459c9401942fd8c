//! [`StochasticWeightAveraging`]: Lightning's SWA callback. From `swa_epoch_start` on, the
//! learning rate anneals to `swa_lrs` (torch's `SWALR`) and the weights are averaged with equal
//! weight at the start of every epoch; after the last epoch the module holds the average.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Callback;
use super::weight_averaging::{Averager, AveragingFn};
use crate::checkpoint::Checkpoint;
use crate::context::HookContext;
use crate::module_handle::{ModuleHandle, Weights};
use crate::stage::Stage;

/// `swa_epoch_start`: an epoch (1-based, as Lightning's int) or a fraction of `max_epochs`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SwaStart {
    /// SWA starts at this epoch (1-based: `Epoch(1)` is the first epoch).
    Epoch(usize),
    /// SWA starts at `int(fraction · max_epochs)`.
    Fraction(f64),
}

/// How the rate moves from its value at the start of SWA to `swa_lrs` (torch's `anneal_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Annealing {
    /// `(1 − cos(π t)) / 2`.
    #[default]
    Cos,
    /// `t`.
    Linear,
}

impl Annealing {
    fn alpha(self, t: f64) -> f64 {
        match self {
            Annealing::Cos => (1.0 - (std::f64::consts::PI * t).cos()) / 2.0,
            Annealing::Linear => t,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct SwaState {
    n_averaged: u64,
    latest_update_epoch: Option<usize>,
    /// The rate in force when SWA began (`SWALR`'s starting point).
    start_lr: Option<f64>,
}

/// Stochastic Weight Averaging (Izmailov et al., 2018), Lightning's defaults:
/// `swa_epoch_start = 0.8`, `annealing_epochs = 10`, `annealing_strategy = "cos"`.
///
/// Differences from Lightning: `swa_lrs` is one rate for all parameters (no per-group list);
/// the scheduler keeps stepping underneath but its rate is overridden while SWA runs (Lightning
/// swaps it out); validation runs on the average once there is one, and checkpoints carry the
/// average as the module with the live weights in a section (as Lightning's `WeightAveraging`;
/// Lightning's SWA validates and saves the live weights); batch-norm statistics are not
/// recomputed in an extra epoch (burn keeps them outside the parameters).
pub struct StochasticWeightAveraging {
    swa_lrs: f64,
    swa_epoch_start: SwaStart,
    annealing_epochs: usize,
    annealing_strategy: Annealing,
    /// Zero-based first and last SWA epochs, once `max_epochs` is known.
    window: Option<(usize, usize)>,
    averager: Averager,
    state: SwaState,
    in_fit: bool,
}

/// `StochasticWeightAveraging`'s arguments in `trainer.callbacks`, with Lightning's names and
/// defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StochasticWeightAveragingConfig {
    /// The SWA learning rate (required).
    pub swa_lrs: f64,
    /// An epoch (an integer, 1-based) or a fraction of `max_epochs` (a float).
    #[serde(default = "default_swa_start")]
    pub swa_epoch_start: SwaStart,
    /// Epochs over which the rate anneals to `swa_lrs`.
    #[serde(default = "default_annealing_epochs")]
    pub annealing_epochs: usize,
    /// `cos` or `linear`.
    #[serde(default)]
    pub annealing_strategy: Annealing,
}

fn default_swa_start() -> SwaStart {
    SwaStart::Fraction(0.8)
}

fn default_annealing_epochs() -> usize {
    10
}

impl StochasticWeightAveragingConfig {
    /// The callback these arguments describe.
    pub fn init(self) -> Result<StochasticWeightAveraging> {
        Ok(StochasticWeightAveraging::new(self.swa_lrs)?
            .swa_epoch_start(self.swa_epoch_start)?
            .annealing_epochs(self.annealing_epochs)
            .annealing_strategy(self.annealing_strategy))
    }
}

impl StochasticWeightAveraging {
    /// SWA at rate `swa_lrs` from 80 % of `max_epochs` on.
    pub fn new(swa_lrs: f64) -> Result<Self> {
        if !(swa_lrs > 0.0 && swa_lrs.is_finite()) {
            bail!("StochasticWeightAveraging: swa_lrs must be a positive number, got {swa_lrs}");
        }
        Ok(Self {
            swa_lrs,
            swa_epoch_start: SwaStart::Fraction(0.8),
            annealing_epochs: 10,
            annealing_strategy: Annealing::Cos,
            window: None,
            averager: Averager::default(),
            state: SwaState::default(),
            in_fit: false,
        })
    }

    /// When SWA starts.
    pub fn swa_epoch_start(mut self, start: SwaStart) -> Result<Self> {
        match start {
            SwaStart::Epoch(0) => bail!(
                "StochasticWeightAveraging: swa_epoch_start must be an epoch ≥ 1 or a fraction in [0, 1], got epoch 0"
            ),
            SwaStart::Fraction(f) if !(0.0..=1.0).contains(&f) => bail!(
                "StochasticWeightAveraging: swa_epoch_start must be an epoch ≥ 1 or a fraction in [0, 1], got {f}"
            ),
            _ => {}
        }
        self.swa_epoch_start = start;
        Ok(self)
    }

    /// Epochs over which the rate anneals to `swa_lrs`.
    pub fn annealing_epochs(mut self, epochs: usize) -> Self {
        self.annealing_epochs = epochs;
        self
    }

    /// The annealing curve.
    pub fn annealing_strategy(mut self, strategy: Annealing) -> Self {
        self.annealing_strategy = strategy;
        self
    }

    /// The averaged weights (none before SWA starts).
    pub fn average(&self) -> Option<&Weights> {
        self.averager.average.as_ref()
    }

    /// Models averaged so far.
    pub fn n_averaged(&self) -> u64 {
        self.averager.n_averaged
    }

    /// Zero-based first and last SWA epochs (known after [`begin_fit`](Self::begin_fit)).
    pub fn window(&self) -> Option<(usize, usize)> {
        self.window
    }

    /// `setup`: SWA exists only in `fit`.
    pub fn begin_stage(&mut self, fit: bool) {
        self.in_fit = fit;
        if !fit {
            self.averager = Averager::default();
        }
    }

    /// `on_train_start`: resolves the SWA window from `max_epochs`; one optimizer only.
    pub fn begin_fit(
        &mut self,
        module: &mut ModuleHandle<'_>,
        max_epochs: Option<usize>,
    ) -> Result<()> {
        let count = module.optimizers().len();
        if count != 1 {
            bail!(
                "StochasticWeightAveraging works with exactly one optimizer, the module configured {count}"
            );
        }
        let max_epochs = max_epochs.context(
            "StochasticWeightAveraging needs max_epochs (its window ends at the last epoch)",
        )?;
        let start = match self.swa_epoch_start {
            SwaStart::Epoch(e) => e,
            SwaStart::Fraction(f) => (max_epochs as f64 * f) as usize,
        };
        self.window = Some((start.saturating_sub(1), max_epochs.saturating_sub(1)));
        Ok(())
    }

    /// The SWA rate for zero-based `epoch`, given the rate `start_lr` when SWA began (`SWALR`:
    /// the rate at the first SWA epoch is the old one, and reaches `swa_lrs` after
    /// `annealing_epochs` epoch-end steps).
    pub fn rate_at(&self, epoch: usize, start_lr: f64) -> f64 {
        let (first, _) = self.window.unwrap_or((0, 0));
        let t = if self.annealing_epochs == 0 {
            1.0
        } else {
            (epoch.saturating_sub(first) as f64 / self.annealing_epochs as f64).clamp(0.0, 1.0)
        };
        let alpha = self.annealing_strategy.alpha(t);
        if alpha >= 1.0 {
            return self.swa_lrs;
        }
        self.swa_lrs * alpha + start_lr * (1.0 - alpha)
    }

    /// `on_train_epoch_start`: inside the window, sets the annealed rate and averages the
    /// weights the previous epoch ended with.
    pub fn epoch_start(&mut self, module: &mut ModuleHandle<'_>, epoch: usize) -> Result<()> {
        let Some((first, last)) = self.window else {
            return Ok(());
        };
        if !(first..=last).contains(&epoch) {
            return Ok(());
        }
        let optimizer = module
            .optimizers()
            .first_mut()
            .context("StochasticWeightAveraging: no optimizer in fit")?;
        let start_lr = *self.state.start_lr.get_or_insert_with(|| optimizer.lr());
        let rate = self.rate_at(epoch, start_lr);
        optimizer.set_lr_override(Some(rate));
        if self.state.latest_update_epoch.is_none_or(|e| epoch > e) {
            self.averager.update(module, AveragingFn::Equal);
            self.state.latest_update_epoch = Some(epoch);
        }
        Ok(())
    }

    /// Before a validation epoch: validate the average (once there is one).
    pub fn before_validation(&mut self, module: &mut ModuleHandle<'_>) -> Result<()> {
        self.averager.swap_in(module)
    }

    /// After a validation epoch: back to the live weights.
    pub fn after_validation(&mut self, module: &mut ModuleHandle<'_>) -> Result<()> {
        self.averager.swap_out(module)
    }

    /// `on_train_end`: the module keeps the average (if SWA ran).
    pub fn end_training(&mut self, module: &mut ModuleHandle<'_>) -> Result<()> {
        self.averager.copy_to_module(module)
    }

    /// The callback's JSON state.
    pub fn state(&self) -> Value {
        let state = SwaState {
            n_averaged: self.averager.n_averaged,
            ..self.state.clone()
        };
        serde_json::to_value(state).unwrap_or(Value::Null)
    }

    /// Restores [`state`](Self::state) (`Null`: a checkpoint without this callback).
    pub fn load_state(&mut self, state: Value) -> Result<()> {
        if state.is_null() {
            return Ok(());
        }
        let state: SwaState = serde_json::from_value(state).context(
            "StochasticWeightAveraging state: expected {n_averaged, latest_update_epoch, start_lr}",
        )?;
        self.averager.n_averaged = state.n_averaged;
        self.state = state;
        Ok(())
    }
}

impl Callback for StochasticWeightAveraging {
    fn changes_module(&self) -> bool {
        true
    }
    fn state_key(&self) -> String {
        "StochasticWeightAveraging".into()
    }
    fn setup(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        stage: Stage,
        _cx: &mut HookContext,
    ) -> Result<()> {
        self.begin_stage(stage == Stage::Fit);
        Ok(())
    }
    // Lightning resolves the window in `on_fit_start`; here `max_epochs` is known to the
    // context from `on_train_start` on (still before the first epoch).
    fn on_train_start(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        self.begin_fit(module, cx.max_epochs())
    }
    fn on_train_epoch_start(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        self.epoch_start(module, cx.current_epoch())
    }
    fn on_validation_epoch_start(
        &mut self,
        module: &mut ModuleHandle<'_>,
        _cx: &mut HookContext,
    ) -> Result<()> {
        self.before_validation(module)
    }
    fn on_validation_epoch_end(
        &mut self,
        module: &mut ModuleHandle<'_>,
        _cx: &mut HookContext,
    ) -> Result<()> {
        self.after_validation(module)
    }
    fn on_train_end(&mut self, module: &mut ModuleHandle<'_>, _cx: &mut HookContext) -> Result<()> {
        self.end_training(module)
    }
    fn state_dict(&self) -> Value {
        self.state()
    }
    fn load_state_dict(&mut self, state: Value) -> Result<()> {
        self.load_state(state)
    }
    fn check_state_dict(&self, state: &Value) -> Result<()> {
        Self::new(self.swa_lrs)?.load_state(state.clone())
    }
    fn on_save_checkpoint(
        &mut self,
        module: &mut ModuleHandle<'_>,
        checkpoint: &mut Checkpoint,
        _cx: &mut HookContext,
    ) -> Result<()> {
        // The average (once SWA began) replaces the `module` section, the live weights go to
        // `callback.<state_key>.current_model`.
        let key = self.state_key();
        self.averager
            .save_sections(module, &mut checkpoint.sections, &key)
    }
    fn on_load_checkpoint(
        &mut self,
        module: &mut ModuleHandle<'_>,
        checkpoint: &Checkpoint,
        _cx: &mut HookContext,
    ) -> Result<()> {
        if !self.in_fit {
            // Testing or predicting from a checkpoint uses its module section: the average.
            return Ok(());
        }
        // Resuming `fit`: the module holds the average (once SWA began); takes it and loads the
        // live weights back.
        let key = self.state_key();
        self.averager
            .load_sections(module, &checkpoint.sections, &key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_net::{Net, sgd, train_step};
    use burn::prelude::*;

    #[test]
    fn window_and_rates_follow_swalr() {
        let device = Device::flex().autodiff();
        let mut net = Net::new(&device);
        let mut opts = vec![sgd()];
        let mut swa = StochasticWeightAveraging::new(0.01)
            .unwrap()
            .annealing_epochs(2);
        swa.begin_fit(&mut ModuleHandle::new(&mut net, Some(&mut opts)), Some(10))
            .unwrap();
        // int(0.8 · 10) = 8 → zero-based epoch 7 to 9.
        assert_eq!(swa.window(), Some((7, 9)));
        assert_eq!(swa.rate_at(7, 0.1), 0.1);
        assert!(
            (swa.rate_at(8, 0.1) - 0.055).abs() < 1e-12,
            "cos(π/2) halfway"
        );
        assert_eq!(swa.rate_at(9, 0.1), 0.01);
        let linear = StochasticWeightAveraging::new(0.01)
            .unwrap()
            .annealing_epochs(4)
            .annealing_strategy(Annealing::Linear);
        assert!((linear.rate_at(1, 0.1) - (0.01 * 0.25 + 0.1 * 0.75)).abs() < 1e-12);
        assert!(StochasticWeightAveraging::new(0.0).is_err());
        assert!(
            StochasticWeightAveraging::new(0.1)
                .unwrap()
                .swa_epoch_start(SwaStart::Fraction(1.5))
                .is_err()
        );
        let mut two = vec![sgd(), sgd()];
        assert!(
            swa.begin_fit(&mut ModuleHandle::new(&mut net, Some(&mut two)), Some(10))
                .is_err()
        );
    }

    #[test]
    fn averages_at_epoch_starts_inside_the_window_and_sets_the_rate() {
        let device = Device::flex().autodiff();
        let mut net = Net::new(&device);
        let mut opts = vec![sgd()];
        let mut swa = StochasticWeightAveraging::new(0.02)
            .unwrap()
            .swa_epoch_start(SwaStart::Epoch(2))
            .unwrap()
            .annealing_epochs(1);
        swa.begin_stage(true);
        swa.begin_fit(&mut ModuleHandle::new(&mut net, Some(&mut opts)), Some(3))
            .unwrap();
        let mut starts = Vec::new();
        for epoch in 0..3 {
            let mut handle = ModuleHandle::new(&mut net, Some(&mut opts));
            starts.push(handle.snapshot());
            swa.epoch_start(&mut handle, epoch).unwrap();
            // A resumed epoch starts again: no second update.
            swa.epoch_start(&mut handle, epoch).unwrap();
            let rate = opts[0].lr();
            assert_eq!(rate, [0.1, 0.1, 0.02][epoch], "epoch {epoch}");
            net = train_step(net, &mut opts[0]);
        }
        assert_eq!(swa.n_averaged(), 2);
        let flat = |w: &Weights| -> Vec<f32> {
            w.tensors
                .iter()
                .flat_map(|t| t.to_data().convert::<f32>().try_to_vec::<f32>().unwrap())
                .collect()
        };
        let (a, b) = (flat(&starts[1]), flat(&starts[2]));
        let mean: Vec<f32> = a.iter().zip(&b).map(|(x, y)| (x + y) / 2.0).collect();
        let got = flat(swa.average().unwrap());
        assert!(got.iter().zip(&mean).all(|(g, m)| (g - m).abs() < 1e-6));
        let state = swa.state();
        let mut again = StochasticWeightAveraging::new(0.02).unwrap();
        again.load_state(state).unwrap();
        assert_eq!(again.n_averaged(), 2);
    }
}
