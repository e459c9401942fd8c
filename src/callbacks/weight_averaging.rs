//! [`WeightAveraging`]: Lightning's `WeightAveraging` / `EMAWeightAveraging` callbacks. A running
//! average of the weights is updated after optimizer steps (or epochs); validation runs on the
//! average, the module ends training holding it, and checkpoints carry it as the module (the
//! live weights ride in a section of their own, so a resume continues exactly).
//!
//! [`Averager`] (the average, its count, swapping it in and out, checkpoint sections) is shared
//! with [`StochasticWeightAveraging`](super::StochasticWeightAveraging).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use burn::prelude::Tensor;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::checkpoint::Checkpoint;
use crate::context::HookContext;
use crate::module_handle::{ModuleHandle, Weights};
use crate::stage::Stage;

use super::Callback;

/// How a new set of weights enters the average (torch's `avg_fn`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum AveragingFn {
    /// Equal weight to every averaged model (SWA; `AveragedModel`'s default).
    Equal,
    /// `decay · average + (1 − decay) · current` (`get_ema_avg_fn(decay)`).
    Ema {
        /// The weight of the old average.
        decay: f64,
    },
}

/// The averaged weights and how many models they average.
#[derive(Debug, Default)]
pub(crate) struct Averager {
    /// The average (none before the first update).
    pub average: Option<Weights>,
    /// Models averaged so far.
    pub n_averaged: u64,
    /// The live weights while the average is swapped into the module (during validation).
    live: Option<Weights>,
}

impl Averager {
    /// Adds the module's current weights to the average (the first update copies them).
    pub fn update(&mut self, module: &ModuleHandle<'_>, avg_fn: AveragingFn) {
        let current = module.snapshot();
        let average = match self.average.take() {
            Some(average) if self.n_averaged > 0 => {
                let n = self.n_averaged as f64;
                let tensors = average
                    .tensors
                    .into_iter()
                    .zip(current.tensors)
                    .map(|(avg, cur)| match avg_fn {
                        AveragingFn::Equal => avg.clone() + (cur - avg).div_scalar(n + 1.0),
                        AveragingFn::Ema { decay } => {
                            avg.mul_scalar(decay) + cur.mul_scalar(1.0 - decay)
                        }
                    })
                    .collect();
                Weights { tensors }
            }
            _ => current,
        };
        self.average = Some(average);
        self.n_averaged += 1;
    }

    /// Puts the average into the module, keeping the live weights aside (no-op without an
    /// average, or when already swapped).
    pub fn swap_in(&mut self, module: &mut ModuleHandle<'_>) -> Result<()> {
        if let (Some(average), None) = (&self.average, &self.live) {
            self.live = Some(module.snapshot());
            module.restore(average)?;
        }
        Ok(())
    }

    /// Puts the live weights back after [`swap_in`](Self::swap_in).
    pub fn swap_out(&mut self, module: &mut ModuleHandle<'_>) -> Result<()> {
        if let Some(live) = self.live.take() {
            module.restore(&live)?;
        }
        Ok(())
    }

    /// Copies the average into the module for good (at the end of training).
    pub fn copy_to_module(&mut self, module: &mut ModuleHandle<'_>) -> Result<()> {
        self.live = None;
        if let Some(average) = &self.average {
            module.restore(average)?;
        }
        Ok(())
    }

    /// Record bytes of the average and of the live weights, for a checkpoint: `(module, live)`;
    /// `None` before the first update.
    pub fn checkpoint_sections(
        &self,
        module: &mut ModuleHandle<'_>,
    ) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        let Some(average) = &self.average else {
            return Ok(None);
        };
        let now = module.snapshot();
        let live = self.live.as_ref().unwrap_or(&now);
        module.restore(average)?;
        let average_bytes = module.record_bytes();
        module.restore(live)?;
        let live_bytes = module.record_bytes();
        module.restore(&now)?;
        Ok(Some((average_bytes?, live_bytes?)))
    }

    /// Name of the checkpoint section holding the live weights of the callback `state_key`.
    pub fn live_section(state_key: &str) -> String {
        format!("callback.{state_key}.current_model")
    }

    /// While a checkpoint is written: the average (once there is one) replaces the `module`
    /// section, the live weights go to [`live_section`](Self::live_section).
    pub fn save_sections(
        &self,
        module: &mut ModuleHandle<'_>,
        sections: &mut BTreeMap<String, Vec<u8>>,
        state_key: &str,
    ) -> Result<()> {
        if let Some((average, live)) = self.checkpoint_sections(module)? {
            sections.insert("module".into(), average);
            sections.insert(Self::live_section(state_key), live);
        }
        Ok(())
    }

    /// When resuming `fit` (after the module loaded the checkpoint's `module` section): see
    /// [`restore_from_checkpoint`](Self::restore_from_checkpoint).
    pub fn load_sections(
        &mut self,
        module: &mut ModuleHandle<'_>,
        sections: &BTreeMap<String, Vec<u8>>,
        state_key: &str,
    ) -> Result<()> {
        let live = sections.get(&Self::live_section(state_key));
        self.restore_from_checkpoint(module, live.map(Vec::as_slice))
            .with_context(|| {
                format!(
                    "cannot restore the live weights from checkpoint section `{}`",
                    Self::live_section(state_key)
                )
            })
    }

    /// On resume: the module holds the checkpoint's `module` section (the average); takes it as
    /// the average and loads the live weights from `live` into the module. Without a live
    /// section the checkpoint was written before the first update: its `module` section holds
    /// the live weights and there is no average yet (as in the run that wrote it, whose
    /// validation used the live weights).
    pub fn restore_from_checkpoint(
        &mut self,
        module: &mut ModuleHandle<'_>,
        live: Option<&[u8]>,
    ) -> Result<()> {
        self.live = None;
        match live {
            Some(bytes) => {
                self.average = Some(module.snapshot());
                module.load_record_bytes(bytes)?;
            }
            None => {
                self.average = None;
                self.n_averaged = 0;
            }
        }
        Ok(())
    }
}

/// When the average is updated (Lightning's `should_update(step_idx, epoch_idx)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateSchedule {
    /// Update after every n-th optimizer step (0: never after steps).
    pub every_n_steps: usize,
    /// Step updates start at this zero-based step index.
    pub starting_at_step: Option<usize>,
    /// Also update after every epoch from this zero-based epoch on.
    pub starting_at_epoch: Option<usize>,
}

impl Default for UpdateSchedule {
    /// After every optimizer step (`WeightAveraging`'s default).
    fn default() -> Self {
        Self {
            every_n_steps: 1,
            starting_at_step: None,
            starting_at_epoch: None,
        }
    }
}

impl UpdateSchedule {
    /// `EMAWeightAveraging.should_update`: exactly one of the indices is given.
    pub fn should_update(&self, step_idx: Option<usize>, epoch_idx: Option<usize>) -> bool {
        let by_step = step_idx.is_some_and(|step| {
            self.starting_at_step.is_none_or(|start| step >= start)
                && self.every_n_steps > 0
                && step % self.every_n_steps == 0
        });
        let by_epoch = epoch_idx
            .is_some_and(|epoch| self.starting_at_epoch.is_some_and(|start| epoch >= start));
        by_step || by_epoch
    }
}

/// What a checkpoint holds of the callback (its averaged weights are the module section).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct AveragingState {
    latest_update_step: usize,
    latest_update_epoch: Option<usize>,
    n_averaged: u64,
}

/// Averages the weights during `fit` (Lightning's `WeightAveraging`; [`ema`](Self::ema) is its
/// `EMAWeightAveraging`). Validation runs on the average; after training the module holds it.
///
/// Differences from Lightning: only parameters are averaged (burn keeps batch-norm statistics in
/// non-parameter state the module handle does not reach; Lightning averages buffers too by
/// default), and the average lives on the module's device.
pub struct WeightAveraging {
    avg_fn: AveragingFn,
    schedule: UpdateSchedule,
    averager: Averager,
    state: AveragingState,
    in_fit: bool,
}

/// `EMAWeightAveraging`'s arguments in `trainer.callbacks` (Lightning's name and default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmaWeightAveragingConfig {
    /// The weight of the old average.
    pub decay: f64,
}

impl Default for EmaWeightAveragingConfig {
    fn default() -> Self {
        Self { decay: 0.999 }
    }
}

impl EmaWeightAveragingConfig {
    /// The callback these arguments describe.
    pub fn init(self) -> Result<WeightAveraging> {
        if !(0.0..=1.0).contains(&self.decay) {
            anyhow::bail!(
                "EMAWeightAveraging: decay must be in [0, 1], got {}",
                self.decay
            );
        }
        Ok(WeightAveraging::ema(self.decay))
    }
}

impl WeightAveraging {
    /// Equal-weight averaging after every optimizer step (Lightning's `WeightAveraging()`).
    pub fn new(avg_fn: AveragingFn) -> Self {
        Self {
            avg_fn,
            schedule: UpdateSchedule::default(),
            averager: Averager::default(),
            state: AveragingState::default(),
            in_fit: false,
        }
    }

    /// Lightning's `EMAWeightAveraging(decay=…)`: an exponential moving average updated after
    /// every optimizer step (its default decay is 0.999).
    pub fn ema(decay: f64) -> Self {
        Self::new(AveragingFn::Ema { decay })
    }

    /// When to update (default: after every optimizer step).
    pub fn schedule(mut self, schedule: UpdateSchedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// The averaged weights so far (none before the first update or outside `fit`).
    pub fn average(&self) -> Option<&Weights> {
        self.averager.average.as_ref()
    }

    /// Models averaged so far.
    pub fn n_averaged(&self) -> u64 {
        self.averager.n_averaged
    }

    /// Name of the checkpoint section holding the live weights.
    pub fn live_section(state_key: &str) -> String {
        Averager::live_section(state_key)
    }

    /// `setup`: the average exists only in `fit` (as in Lightning).
    pub fn begin_stage(&mut self, fit: bool) {
        self.in_fit = fit;
        if !fit {
            self.averager = Averager::default();
        }
    }

    /// After a training batch: `global_step` is the number of optimizer steps taken so far.
    pub fn after_batch(&mut self, module: &ModuleHandle<'_>, global_step: usize) {
        if global_step > self.state.latest_update_step
            && self.schedule.should_update(Some(global_step - 1), None)
        {
            self.averager.update(module, self.avg_fn);
            self.state.latest_update_step = global_step;
        }
    }

    /// After a training epoch (zero-based `epoch`).
    pub fn after_epoch(&mut self, module: &ModuleHandle<'_>, epoch: usize) {
        if self.state.latest_update_epoch.is_none_or(|e| epoch > e)
            && self.schedule.should_update(None, Some(epoch))
        {
            self.averager.update(module, self.avg_fn);
            self.state.latest_update_epoch = Some(epoch);
        }
    }

    /// Before a validation epoch: validate the average.
    pub fn before_validation(&mut self, module: &mut ModuleHandle<'_>) -> Result<()> {
        self.averager.swap_in(module)
    }

    /// After a validation epoch: back to the live weights.
    pub fn after_validation(&mut self, module: &mut ModuleHandle<'_>) -> Result<()> {
        self.averager.swap_out(module)
    }

    /// At the end of training: the module keeps the average.
    pub fn end_training(&mut self, module: &mut ModuleHandle<'_>) -> Result<()> {
        self.averager.copy_to_module(module)
    }

    /// The callback's JSON state.
    pub fn state(&self) -> Value {
        let state = AveragingState {
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
        let state: AveragingState = serde_json::from_value(state).context(
            "WeightAveraging state: expected {latest_update_step, latest_update_epoch, n_averaged}",
        )?;
        self.averager.n_averaged = state.n_averaged;
        self.state = state;
        Ok(())
    }
}

impl Callback for WeightAveraging {
    fn changes_module(&self) -> bool {
        true
    }
    fn state_key(&self) -> String {
        match self.avg_fn {
            AveragingFn::Equal => "WeightAveraging".into(),
            AveragingFn::Ema { .. } => "EMAWeightAveraging".into(),
        }
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
    fn on_train_batch_end(
        &mut self,
        module: &mut ModuleHandle<'_>,
        _loss: &Tensor<1>,
        _batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        self.after_batch(module, cx.global_step());
        Ok(())
    }
    fn on_train_epoch_end(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        self.after_epoch(module, cx.current_epoch());
        Ok(())
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
        Self::new(self.avg_fn).load_state(state.clone())
    }
    fn on_save_checkpoint(
        &mut self,
        module: &mut ModuleHandle<'_>,
        checkpoint: &mut Checkpoint,
        _cx: &mut HookContext,
    ) -> Result<()> {
        // The average replaces the `module` section, the live weights go to their own.
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
        // Resuming `fit`: the module loaded the `module` section (the average); the average is
        // taken from it and the live weights loaded back.
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

    fn flat(weights: &Weights) -> Vec<f32> {
        weights
            .tensors
            .iter()
            .flat_map(|t| t.to_data().convert::<f32>().try_to_vec::<f32>().unwrap())
            .collect()
    }

    fn params(net: &mut Net) -> Vec<f32> {
        flat(&ModuleHandle::new(net, None).snapshot())
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    }

    #[test]
    fn equal_and_ema_averages_match_their_formulas() {
        let device = Device::flex().autodiff();
        let mut net = Net::new(&device);
        let mut opt = sgd();
        let mut equal = Averager::default();
        let mut ema = Averager::default();
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(params(&mut net));
            let handle = ModuleHandle::new(&mut net, None);
            equal.update(&handle, AveragingFn::Equal);
            ema.update(&handle, AveragingFn::Ema { decay: 0.9 });
            net = train_step(net, &mut opt);
        }
        let n = seen[0].len();
        let mean: Vec<f32> = (0..n)
            .map(|i| seen.iter().map(|s| s[i]).sum::<f32>() / 3.0)
            .collect();
        assert!(close(&flat(equal.average.as_ref().unwrap()), &mean));
        let expected: Vec<f32> = (0..n)
            .map(|i| {
                let e1 = 0.9 * seen[0][i] + 0.1 * seen[1][i];
                0.9 * e1 + 0.1 * seen[2][i]
            })
            .collect();
        assert!(close(&flat(ema.average.as_ref().unwrap()), &expected));
        assert_eq!(equal.n_averaged, 3);
    }

    #[test]
    fn validation_swaps_the_average_in_and_out() {
        let device = Device::flex().autodiff();
        let mut net = Net::new(&device);
        let mut opt = sgd();
        let mut cb = WeightAveraging::ema(0.5);
        cb.begin_stage(true);
        // No average yet (sanity check): validation sees the live weights.
        let live0 = params(&mut net);
        cb.before_validation(&mut ModuleHandle::new(&mut net, None))
            .unwrap();
        assert_eq!(params(&mut net), live0);
        cb.after_validation(&mut ModuleHandle::new(&mut net, None))
            .unwrap();
        for step in 1..=3 {
            net = train_step(net, &mut opt);
            cb.after_batch(&ModuleHandle::new(&mut net, None), step);
            // The same step reported twice (accumulation) does not update again.
            cb.after_batch(&ModuleHandle::new(&mut net, None), step);
        }
        assert_eq!(cb.n_averaged(), 3);
        let live = params(&mut net);
        let average = flat(cb.average().unwrap());
        assert!(!close(&live, &average));
        let mut eval = net.valid();
        cb.before_validation(&mut ModuleHandle::new(&mut eval, None))
            .unwrap();
        assert!(close(&params(&mut eval), &average));
        cb.after_validation(&mut ModuleHandle::new(&mut eval, None))
            .unwrap();
        let mut net = eval.train();
        assert_eq!(params(&mut net), live);
        cb.end_training(&mut ModuleHandle::new(&mut net, None))
            .unwrap();
        assert!(close(&params(&mut net), &average));
    }

    /// A checkpoint written before the first update has no live section: its module section
    /// holds the live weights, and the resumed callback has no average (as the run that wrote
    /// it), so validation keeps using the live weights.
    #[test]
    fn a_checkpoint_from_before_the_first_update_resumes_without_an_average() {
        let device = Device::flex().autodiff();
        let mut net = Net::new(&device);
        let mut cb = WeightAveraging::ema(0.5);
        cb.begin_stage(true);
        let mut sections = std::collections::BTreeMap::new();
        cb.averager
            .save_sections(&mut ModuleHandle::new(&mut net, None), &mut sections, "EMA")
            .unwrap();
        assert!(sections.is_empty(), "nothing to save before an update");
        let live = params(&mut net);
        let mut resumed = WeightAveraging::ema(0.5);
        resumed.begin_stage(true);
        resumed
            .averager
            .load_sections(&mut ModuleHandle::new(&mut net, None), &sections, "EMA")
            .unwrap();
        assert!(resumed.average().is_none());
        assert_eq!(resumed.n_averaged(), 0);
        resumed
            .before_validation(&mut ModuleHandle::new(&mut net, None))
            .unwrap();
        assert_eq!(params(&mut net), live);
    }

    #[test]
    fn checkpoint_sections_resume_both_weights() {
        let device = Device::flex().autodiff();
        let mut net = Net::new(&device);
        let mut opt = sgd();
        let mut cb = WeightAveraging::new(AveragingFn::Equal);
        cb.begin_stage(true);
        for step in 1..=2 {
            net = train_step(net, &mut opt);
            cb.after_batch(&ModuleHandle::new(&mut net, None), step);
        }
        let live = params(&mut net);
        let average = flat(cb.average().unwrap());
        let mut sections = std::collections::BTreeMap::new();
        cb.averager
            .save_sections(&mut ModuleHandle::new(&mut net, None), &mut sections, "WA")
            .unwrap();
        assert_eq!(params(&mut net), live, "saving leaves the module as it was");
        let state = cb.state();

        // A fresh process: the module is loaded from the `module` section (the average).
        let mut fresh = Net::new(&device);
        let mut handle = ModuleHandle::new(&mut fresh, None);
        handle.load_record_bytes(&sections["module"]).unwrap();
        assert!(close(&flat(&handle.snapshot()), &average));
        let mut resumed = WeightAveraging::new(AveragingFn::Equal);
        resumed.begin_stage(true);
        resumed.load_state(state).unwrap();
        resumed
            .averager
            .load_sections(&mut handle, &sections, "WA")
            .unwrap();
        assert_eq!(flat(&handle.snapshot()), live);
        assert!(close(&flat(resumed.average().unwrap()), &average));
        assert_eq!(resumed.n_averaged(), 2);
        // The next update continues the equal average over three models.
        resumed.after_batch(&handle, 2);
        assert_eq!(resumed.n_averaged(), 2, "step 2 was already averaged");
        resumed.after_batch(&handle, 3);
        assert_eq!(resumed.n_averaged(), 3);
        assert!(resumed.load_state(serde_json::json!({"bogus": 1})).is_err());
    }

    #[test]
    fn ema_schedule_follows_lightning() {
        let s = UpdateSchedule {
            every_n_steps: 2,
            starting_at_step: Some(4),
            starting_at_epoch: Some(1),
        };
        assert!(!s.should_update(Some(2), None));
        assert!(!s.should_update(Some(5), None));
        assert!(s.should_update(Some(6), None));
        assert!(!s.should_update(None, Some(0)));
        assert!(s.should_update(None, Some(1)));
        assert!(!UpdateSchedule::default().should_update(None, Some(3)));
    }
}
