//! [`LightningOptimizer`]: one burn optimizer with its gradient accumulator and scheduler.

use anyhow::Result;
use burn::lr_scheduler::constant::ConstantLr;
use burn::lr_scheduler::module_lr_scheduler::{ModuleLearningRate, ModuleLrScheduler};
use burn::module::{Module, ModuleVisitor, Param, ParamGroup, ParamId};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Bytes;

use super::clip::{ClipAlgorithm, clip_gradients, grad_norms};
use super::param_groups::{LrGroup, named_parameters};
use super::scheduler::LrSchedulerState;

/// What `configure_optimizers` returns: one optimizer for automatic optimization, any number
/// for manual optimization, each with an optional scheduler.
pub struct Optimizers(pub Vec<LightningOptimizer>);

impl Optimizers {
    /// One optimizer with a constant learning rate.
    pub fn single(optimizer: impl Into<ModuleOptimizer>, lr: f64) -> Self {
        Self(vec![LightningOptimizer::new(optimizer, lr)])
    }
    /// Adds a scheduler to the last optimizer added.
    pub fn with_scheduler(mut self, scheduler: LrSchedulerState) -> Self {
        if let Some(last) = self.0.last_mut() {
            last.scheduler = Some(scheduler);
        }
        self
    }
    /// Adds another optimizer (manual optimization).
    pub fn and(mut self, optimizer: LightningOptimizer) -> Self {
        self.0.push(optimizer);
        self
    }
}

/// An optimizer as the loops drive it: accumulates gradients across micro-batches, clips them
/// globally, steps with the learning rate its scheduler says, and saves all of it.
pub struct LightningOptimizer {
    /// Shown by the LR monitor (`lr-<name>`).
    pub name: String,
    optim: ModuleOptimizer,
    base_lr: f64,
    grads: Option<GradientsParams>,
    steps: usize,
    /// The LR scheduler attached to this optimizer.
    pub scheduler: Option<LrSchedulerState>,
    /// Parameter groups with their own rate, each by name and one of its parameters.
    lr_groups: Vec<(String, ParamId)>,
    /// A rate set by a callback for all parameters, in place of the scheduler's (SWA's).
    lr_override: Option<f64>,
    /// Groups whose rate a callback sets, in place of any other (BackboneFinetuning's backbone);
    /// a later group wins for a parameter in two.
    fixed_groups: Vec<FixedLrGroup>,
}

/// A named set of parameters trained at a rate a callback sets (PyTorch's `add_param_group`).
#[derive(Debug, Clone, PartialEq)]
struct FixedLrGroup {
    name: String,
    ids: Vec<ParamId>,
    lr: f64,
}

struct Accumulate<'a> {
    into: &'a mut GradientsParams,
    from: &'a mut GradientsParams,
}

impl ModuleVisitor for Accumulate<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(new) = self.from.remove::<D>(param.id) {
            let sum = match self.into.remove::<D>(param.id) {
                Some(old) => old + new,
                None => new,
            };
            self.into.register::<D>(param.id, sum);
        }
    }
}

impl LightningOptimizer {
    /// Wraps a burn optimizer (`AdamConfig::new().init()`, …) with a constant rate `lr`.
    pub fn new(optimizer: impl Into<ModuleOptimizer>, lr: f64) -> Self {
        Self {
            name: "optimizer".into(),
            optim: optimizer.into(),
            base_lr: lr,
            grads: None,
            steps: 0,
            scheduler: None,
            lr_groups: Vec::new(),
            lr_override: None,
            fixed_groups: Vec::new(),
        }
    }

    /// Sets the name shown by the LR monitor.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// Attaches a scheduler.
    pub fn with_scheduler(mut self, scheduler: LrSchedulerState) -> Self {
        self.scheduler = Some(scheduler);
        self
    }

    /// The base learning rate in force now.
    pub fn lr(&self) -> f64 {
        self.lr_override.unwrap_or_else(|| {
            self.scheduler
                .as_ref()
                .map_or(self.base_lr, |s| s.current().base())
        })
    }

    /// Trains every parameter at `lr` instead of the scheduler's rates (`None`: back to them);
    /// the scheduler keeps its own state. Groups set with [`set_group_lr`](Self::set_group_lr)
    /// still take precedence. Not saved with the optimizer: the callback that sets it restores it.
    pub fn set_lr_override(&mut self, lr: Option<f64>) {
        self.lr_override = lr;
    }

    /// The rate set by [`set_lr_override`](Self::set_lr_override), if any.
    pub fn lr_override(&self) -> Option<f64> {
        self.lr_override
    }

    /// Trains the parameters `ids` at `lr`, as group `name` (replacing a group of that name),
    /// reported to the LR monitor as `lr-<optimizer>/<name>` (PyTorch's `add_param_group`, and
    /// setting that group's `lr`). Not saved with the optimizer: the callback that sets it
    /// restores it.
    pub fn set_group_lr(&mut self, name: &str, ids: Vec<ParamId>, lr: f64) {
        let group = FixedLrGroup {
            name: name.to_string(),
            ids,
            lr,
        };
        match self.fixed_groups.iter_mut().find(|g| g.name == name) {
            Some(existing) => *existing = group,
            None => self.fixed_groups.push(group),
        }
    }

    /// The rate of group `name` set by [`set_group_lr`](Self::set_group_lr).
    pub fn group_lr(&self, name: &str) -> Option<f64> {
        self.fixed_groups
            .iter()
            .find(|g| g.name == name)
            .map(|g| g.lr)
    }

    /// The rate parameter `id` is trained at now.
    pub fn lr_of(&self, id: ParamId) -> f64 {
        if let Some(group) = self.fixed_groups.iter().rev().find(|g| g.ids.contains(&id)) {
            return group.lr;
        }
        if let Some(lr) = self.lr_override {
            return lr;
        }
        match &self.scheduler {
            Some(s) => s.current().lr_from_param(id, None),
            None => self.base_lr,
        }
    }

    /// The per-parameter rates for a step over `module`: the scheduler's own when no callback
    /// changed any, otherwise one constant group per distinct rate.
    fn step_rates<M: Module>(&self, module: &M) -> ModuleLearningRate {
        if self.fixed_groups.is_empty() && self.lr_override.is_none() {
            return match &self.scheduler {
                Some(s) => s.current().clone(),
                None => self.base_lr.into(),
            };
        }
        let mut buckets: Vec<(f64, Vec<ParamId>)> = Vec::new();
        for (_, id) in named_parameters(module) {
            let lr = self.lr_of(id);
            match buckets
                .iter_mut()
                .find(|(r, _)| r.to_bits() == lr.to_bits())
            {
                Some((_, ids)) => ids.push(id),
                None => buckets.push((lr, vec![id])),
            }
        }
        let mut rates = ModuleLrScheduler::new(ConstantLr::new(self.lr()));
        for (lr, ids) in buckets {
            rates = rates.with_group(ParamGroup::from_ids(ids), ConstantLr::new(lr));
        }
        rates.step()
    }

    /// Reports the rate of each group (scheduled by
    /// [`SchedulerConfig::init_groups`](super::SchedulerConfig::init_groups)) to the LR monitor
    /// as `lr-<name>/<group>`, instead of the base rate alone.
    pub fn report_lr_groups(mut self, groups: &[LrGroup]) -> Self {
        self.lr_groups = groups
            .iter()
            .filter_map(|g| g.ids.first().map(|id| (g.name.clone(), *id)))
            .collect();
        self
    }

    /// What the LR monitor shows: `(name, rate)` for the base rate, or one per reported group.
    /// Groups set by [`set_group_lr`](Self::set_group_lr) follow, as `lr-<name>/<group>`.
    pub fn learning_rates(&self) -> Vec<(String, f64)> {
        let mut rates = Vec::new();
        self.visit_learning_rates(|name, group, lr| {
            rates.push((rate_name(name, group), lr));
        });
        rates
    }

    /// Writes [`learning_rates`](Self::learning_rates) into `out` from `*at` on, advancing
    /// `*at`: entries whose names match keep their strings and take the new rate, so the
    /// per-batch refresh allocates nothing while the groups stay the same.
    pub fn write_learning_rates(&self, out: &mut Vec<(String, f64)>, at: &mut usize) {
        self.visit_learning_rates(|name, group, lr| {
            match out.get_mut(*at) {
                Some(entry) if is_rate_name(&entry.0, name, group) => entry.1 = lr,
                _ => {
                    out.truncate(*at);
                    out.push((rate_name(name, group), lr));
                }
            }
            *at += 1;
        });
    }

    /// Calls `f(optimizer name, group, rate)` for each rate the LR monitor shows.
    fn visit_learning_rates(&self, mut f: impl FnMut(&str, Option<&str>, f64)) {
        match self
            .scheduler
            .as_ref()
            .filter(|_| !self.lr_groups.is_empty() && self.lr_override.is_none())
        {
            None => f(&self.name, None, self.lr()),
            Some(scheduler) => {
                for (group, id) in &self.lr_groups {
                    f(
                        &self.name,
                        Some(group),
                        scheduler.current().lr_from_param(*id, None),
                    );
                }
            }
        }
        for g in &self.fixed_groups {
            f(&self.name, Some(&g.name), g.lr);
        }
    }

    /// Drops the accumulated gradients (Lightning's `optimizer.zero_grad()`).
    pub fn zero_grad(&mut self) {
        self.grads = None;
    }

    /// The accumulated gradients, by parameter id (`None` after a step or `zero_grad`).
    pub fn gradients(&self) -> Option<&GradientsParams> {
        self.grads.as_ref()
    }

    /// Whether gradients are waiting for a step.
    pub fn has_gradients(&self) -> bool {
        self.grads.as_ref().is_some_and(|g| !g.is_empty())
    }

    /// Backpropagates `loss` and adds the gradients of `module`'s parameters to the accumulator.
    pub fn backward<M: Module>(&mut self, module: &M, loss: &Tensor<1>) {
        let mut fresh = GradientsParams::from_grads(loss.backward(), module);
        match &mut self.grads {
            None => self.grads = Some(fresh),
            Some(acc) => module.visit(&mut Accumulate {
                into: acc,
                from: &mut fresh,
            }),
        }
    }

    /// Averages the accumulated gradients with the other ranks through `mean`, the strategy's
    /// all-reduce over one flat buffer (every rank calls it at the same point, with or without
    /// gradients of its own).
    pub fn all_reduce_gradients<M: Module>(
        &mut self,
        module: &M,
        mean: impl FnOnce(Vec<f32>) -> Result<Vec<f32>>,
    ) -> Result<()> {
        let grads = self.grads.get_or_insert_with(GradientsParams::new);
        crate::distributed::gradients::all_reduce_gradients(module, grads, mean)
    }

    /// Clips the accumulated gradients over all parameters; returns the pre-clip global norm.
    pub fn clip_gradients<M: Module>(
        &mut self,
        module: &M,
        max: f64,
        algorithm: ClipAlgorithm,
    ) -> Option<f64> {
        let grads = self.grads.as_mut()?;
        clip_gradients(module, grads, max, algorithm)
    }

    /// Divides the accumulated gradients by `scale` (a loss scaler's); returns whether they are
    /// all finite.
    pub fn unscale_gradients<M: Module>(&mut self, module: &M, scale: f64) -> bool {
        let Some(grads) = self.grads.as_mut() else {
            return true;
        };
        super::clip::scale_all(module, grads, 1.0 / scale);
        grad_norms(module, grads, 2.0).1.is_finite()
    }

    /// Norms of the accumulated gradients: per parameter and total.
    pub fn grad_norms<M: Module>(&self, module: &M, norm_type: f64) -> (Vec<(String, f64)>, f64) {
        match &self.grads {
            Some(g) => grad_norms(module, g, norm_type),
            None => (Vec::new(), 0.0),
        }
    }

    /// Applies the accumulated gradients to `module` and clears them.
    pub fn step<M: Module>(&mut self, module: M) -> M {
        let Some(grads) = self.grads.take() else {
            return module;
        };
        self.steps += 1;
        let rates = self.step_rates(&module);
        self.optim.step(rates, module, grads)
    }

    /// Optimizer steps taken by this process (manual optimization advances `global_step` by them).
    pub fn steps_taken(&self) -> usize {
        self.steps
    }

    /// The optimizer's state (moments, step counts) for checkpoints.
    pub fn state_bytes(&self) -> Result<Vec<u8>> {
        let bytes = self
            .optim
            .into_bytes()
            .map_err(|e| anyhow::anyhow!("cannot serialise optimizer state: {e:?}"))?;
        Ok(bytes.to_vec())
    }

    /// Restores what [`state_bytes`](Self::state_bytes) wrote.
    pub fn load_state_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.optim = self.parse_state(bytes)?;
        Ok(())
    }

    /// Whether `bytes` would restore (a written checkpoint is checked with it).
    pub fn check_state_bytes(&self, bytes: &[u8]) -> Result<()> {
        self.parse_state(bytes).map(drop)
    }

    fn parse_state(&self, bytes: &[u8]) -> Result<ModuleOptimizer> {
        self.optim
            .clone()
            .from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
            .map_err(|e| anyhow::anyhow!("optimizer state is unreadable: {e:?}"))
    }
}

/// The LR monitor's name for a rate: the optimizer's, or `<optimizer>/<group>`.
fn rate_name(name: &str, group: Option<&str>) -> String {
    match group {
        None => name.to_string(),
        Some(group) => format!("{name}/{group}"),
    }
}

/// Whether `entry` is [`rate_name`]`(name, group)`, without building it.
fn is_rate_name(entry: &str, name: &str, group: Option<&str>) -> bool {
    match (entry.strip_prefix(name), group) {
        (Some(rest), None) => rest.is_empty(),
        (Some(rest), Some(group)) => rest.strip_prefix('/') == Some(group),
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use burn::optim::{AdamConfig, SgdConfig};

    use super::*;

    /// Every optimizer's rates, rewritten in place into `out` as the Trainer does per batch.
    fn refresh(optimizers: &[LightningOptimizer], out: &mut Vec<(String, f64)>) {
        let mut at = 0;
        for optimizer in optimizers {
            optimizer.write_learning_rates(out, &mut at);
        }
        out.truncate(at);
    }

    #[test]
    fn rates_rewritten_in_place_follow_changes_of_rate_and_of_groups() {
        let mut optimizers = vec![
            LightningOptimizer::new(AdamConfig::new().init(), 1e-3).named("lr-Adam"),
            LightningOptimizer::new(SgdConfig::new().init(), 0.1).named("lr-SGD"),
        ];
        let mut out = Vec::new();
        refresh(&optimizers, &mut out);
        assert_eq!(out, [("lr-Adam".into(), 1e-3), ("lr-SGD".into(), 0.1)]);
        let kept = out[0].0.as_ptr();

        optimizers[0].set_lr_override(Some(5e-4));
        refresh(&optimizers, &mut out);
        assert_eq!(out, [("lr-Adam".into(), 5e-4), ("lr-SGD".into(), 0.1)]);
        assert_eq!(
            out[0].0.as_ptr(),
            kept,
            "an unchanged name keeps its string"
        );

        optimizers[0].set_group_lr("head", Vec::new(), 1e-2);
        refresh(&optimizers, &mut out);
        assert_eq!(
            out,
            [
                ("lr-Adam".into(), 5e-4),
                ("lr-Adam/head".into(), 1e-2),
                ("lr-SGD".into(), 0.1)
            ]
        );
        assert_eq!(
            out,
            [
                optimizers[0].learning_rates(),
                optimizers[1].learning_rates()
            ]
            .concat()
        );

        optimizers.pop();
        refresh(&optimizers, &mut out);
        assert_eq!(out.len(), 2, "rates of an optimizer gone are dropped");
    }

    #[test]
    fn rate_names_match_only_the_exact_name_and_group() {
        assert!(is_rate_name("lr-Adam", "lr-Adam", None));
        assert!(is_rate_name("lr-Adam/head", "lr-Adam", Some("head")));
        assert!(!is_rate_name("lr-Adam/head", "lr-Adam", None));
        assert!(!is_rate_name("lr-Adamw", "lr-Adam", None));
        assert!(!is_rate_name("lr-Adam/headx", "lr-Adam", Some("head")));
        assert!(!is_rate_name("lr-Adam", "lr-Adam", Some("head")));
    }
}
