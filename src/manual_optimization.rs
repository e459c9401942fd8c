//! [`ManualOptimizers`]: what `training_step_manual` steps with under manual optimization — the
//! run's optimizers, and the callbacks whose backward and optimizer-step hooks
//! [`LightningModule::manual_backward`](crate::LightningModule::manual_backward) and
//! [`manual_step`](crate::LightningModule::manual_step) run (Lightning's `core/module.py`).
//!
//! It sits below the module trait (which calls it) and imports neither the module nor the
//! loops, so no file imports one that imports it back.

use std::ops::{Deref, DerefMut};

use anyhow::Result;
use burn::module::Module;

use crate::callbacks::Callback;
use crate::context::HookContext;
use crate::module_handle::{ErasedModule, ModuleHandle};
use crate::optim::LightningOptimizer;
use crate::strategy::reduce_gradients;

/// The optimizers of a manual step (indexable like a slice), with the run's callbacks lent for
/// the length of `training_step_manual`.
pub struct ManualOptimizers<'a> {
    optimizers: &'a mut [LightningOptimizer],
    callbacks: &'a mut [Box<dyn Callback>],
}

impl<'a> ManualOptimizers<'a> {
    pub(crate) fn new(
        optimizers: &'a mut [LightningOptimizer],
        callbacks: &'a mut [Box<dyn Callback>],
    ) -> Self {
        Self {
            optimizers,
            callbacks,
        }
    }

    /// Optimizer `index`, or an error naming how many there are.
    pub(crate) fn get(&mut self, index: usize) -> Result<&mut LightningOptimizer> {
        let n = self.optimizers.len();
        self.optimizers.get_mut(index).ok_or_else(|| {
            anyhow::anyhow!(
                "manual optimization: optimizer {index} does not exist (configure_optimizers returned {n})"
            )
        })
    }

    /// Runs a callback hook on every lent callback, each with a handle on `module` and
    /// optimizer `index` (the one being stepped).
    pub(crate) fn callback_hook(
        &mut self,
        index: usize,
        module: &mut dyn ErasedModule,
        cx: &mut HookContext,
        mut hook: impl FnMut(&mut dyn Callback, &mut ModuleHandle<'_>, &mut HookContext) -> Result<()>,
    ) -> Result<()> {
        self.get(index)?;
        cx.logging.in_callback = true;
        let optimizer = &mut self.optimizers[index];
        let result = self.callbacks.iter_mut().try_for_each(|c| {
            let mut handle =
                ModuleHandle::new(&mut *module, Some(std::slice::from_mut(&mut *optimizer)));
            hook(c.as_mut(), &mut handle, cx)
        });
        cx.logging.in_callback = false;
        result
    }

    /// Under DDP, averages optimizer `index`'s gradients over the ranks (a no-op on one device).
    pub(crate) fn sync_gradients<M: Module>(
        &mut self,
        index: usize,
        module: &M,
        cx: &HookContext,
    ) -> Result<()> {
        let strategy = cx.strategy.clone();
        reduce_gradients(strategy.as_ref(), module, self.get(index)?)
    }
}

impl Deref for ManualOptimizers<'_> {
    type Target = [LightningOptimizer];
    fn deref(&self) -> &[LightningOptimizer] {
        self.optimizers
    }
}

impl DerefMut for ManualOptimizers<'_> {
    fn deref_mut(&mut self) -> &mut [LightningOptimizer] {
        self.optimizers
    }
}
