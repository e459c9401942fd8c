//! [`LightningOptimizer`]: one burn optimizer with its gradient accumulator and scheduler.

use anyhow::Result;
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Bytes;

use super::clip::{ClipAlgorithm, clip_gradients, grad_norms};
use super::param_groups::LrGroup;
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
        self.scheduler
            .as_ref()
            .map_or(self.base_lr, |s| s.current().base())
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
    pub fn learning_rates(&self) -> Vec<(String, f64)> {
        let Some(scheduler) = self
            .scheduler
            .as_ref()
            .filter(|_| !self.lr_groups.is_empty())
        else {
            return vec![(self.name.clone(), self.lr())];
        };
        self.lr_groups
            .iter()
            .map(|(group, id)| {
                let lr = scheduler.current().lr_from_param(*id, None);
                (format!("{}/{group}", self.name), lr)
            })
            .collect()
    }

    /// Drops the accumulated gradients (Lightning's `optimizer.zero_grad()`).
    pub fn zero_grad(&mut self) {
        self.grads = None;
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

    /// Averages the accumulated gradients with the other ranks of `group` (every rank calls it
    /// at the same point, with or without gradients of its own).
    pub fn all_reduce_gradients<M: Module>(
        &mut self,
        module: &M,
        group: &crate::distributed::ProcessGroup,
        rank: usize,
    ) -> Result<()> {
        let grads = self.grads.get_or_insert_with(GradientsParams::new);
        crate::distributed::gradients::all_reduce_gradients(module, grads, group, rank)
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
        match &self.scheduler {
            Some(s) => self.optim.step(s.current().clone(), module, grads),
            None => self.optim.step(self.base_lr, module, grads),
        }
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
