//! The [`LightningModule`] trait: a burn module plus the hooks the Trainer calls, in order.
//!
//! Every hook has a default, so a minimal module is a `#[derive(Module)]` struct with
//! [`training_step`](LightningModule::training_step) and
//! [`configure_optimizers`](LightningModule::configure_optimizers). Hooks run in the order of
//! Lightning's own hook test (see `src/loops/fit_loop.rs`); where a callback and the module share
//! a hook, the callback's runs first.

use anyhow::Result;
use burn::module::Module;
use burn::prelude::*;

use crate::callbacks::Callback;
use crate::checkpoint::CheckpointState;
use crate::context::HookContext;
use crate::data::Batch;
use crate::manual_optimization::ManualOptimizers;
use crate::optim::{ClipAlgorithm, LightningOptimizer, LrSchedulerState, Optimizers};
use crate::optimizer_setup::OptimizerSetup;
use crate::stage::Stage;

/// A model and its training recipe, driven by the [`Trainer`](crate::Trainer).
///
/// Steps and hooks get a [`HookContext`]: the loop position, the device, and
/// [`log`](HookContext::log) (Lightning's `self.log`).
#[allow(unused_variables)]
pub trait LightningModule: Module + Sized + 'static {
    /// What the dataloaders yield; moved to the device before each step.
    type Batch: Batch + Clone;

    // ----- set-up ---------------------------------------------------------------------------

    /// Before anything else in `fit`/`validate`/`test`/`predict`: extra callbacks; may read `self`.
    fn configure_callbacks(&mut self) -> Vec<Box<dyn Callback>> {
        Vec::new()
    }
    /// Once per process, before `setup` (rank 0 only): download or write data; touches no state.
    fn prepare_data(&mut self) -> Result<()> {
        Ok(())
    }
    /// At the start of every stage on every process: build what the stage needs on `self`.
    fn setup(&mut self, stage: Stage, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// After `setup` (and after a checkpoint's `on_load_checkpoint`): create layers lazily on `cx.device()`.
    fn configure_model(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// After `configure_model` in `fit`: the optimizer(s) and LR scheduler(s) to train with.
    /// `trainer` answers questions about the run, e.g.
    /// [`estimated_stepping_batches`](OptimizerSetup::estimated_stepping_batches) to size a
    /// schedule (asking loads the train dataloader here instead of after the sanity check).
    fn configure_optimizers(&mut self, trainer: &mut OptimizerSetup<'_>) -> Result<Optimizers>;
    /// Whether the Trainer does backward and the optimizer step (true) or
    /// [`training_step_manual`](Self::training_step_manual) does (false).
    fn automatic_optimization(&self) -> bool {
        true
    }

    // ----- fit ------------------------------------------------------------------------------

    /// After `configure_optimizers`, before the sanity check: the run begins; may log nothing yet.
    fn on_fit_start(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// After the sanity check, before the first epoch: training begins.
    fn on_train_start(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// At the start of every training epoch, before its first batch.
    fn on_train_epoch_start(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }

    // ----- every batch (all stages) ---------------------------------------------------------

    /// On the host batch, before it moves to the device: augment or reshape it.
    fn on_before_batch_transfer(
        &mut self,
        batch: Self::Batch,
        dataloader_idx: usize,
    ) -> Result<Self::Batch> {
        Ok(batch)
    }
    /// Moves the batch to `device` (default: every tensor with [`Batch::to_device`]).
    fn transfer_batch_to_device(
        &mut self,
        batch: Self::Batch,
        device: &Device,
        dataloader_idx: usize,
    ) -> Result<Self::Batch> {
        Ok(batch.to_device(device))
    }
    /// On the device batch, after the transfer: device-side preprocessing.
    fn on_after_batch_transfer(
        &mut self,
        batch: Self::Batch,
        dataloader_idx: usize,
    ) -> Result<Self::Batch> {
        Ok(batch)
    }

    // ----- training batch -------------------------------------------------------------------

    /// After the batch is on the device, before `training_step`; may set `cx.should_stop()` to end the epoch.
    fn on_train_batch_start(
        &mut self,
        batch: &Self::Batch,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// The forward pass of one training batch: returns the loss to minimise; may log.
    fn training_step(
        &mut self,
        batch: &Self::Batch,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<Tensor<1>> {
        anyhow::bail!("training_step is not implemented for this module")
    }
    /// Manual optimization (`automatic_optimization() == false`): run the whole step, calling
    /// [`manual_backward`](Self::manual_backward) and [`manual_step`](Self::manual_step) (which
    /// run the backward and optimizer-step hooks) yourself; returns the module and the loss.
    fn training_step_manual(
        self,
        batch: &Self::Batch,
        batch_idx: usize,
        optimizers: &mut ManualOptimizers<'_>,
        cx: &mut HookContext,
    ) -> Result<(Self, f64)> {
        anyhow::bail!(
            "automatic_optimization() is false but training_step_manual is not implemented"
        )
    }
    /// Manual optimization's `self.manual_backward(loss)`: the backward hooks of the callbacks
    /// and of the module around optimizer `index`'s backward, in the automatic loop's order.
    /// Provided; not meant to be overridden.
    fn manual_backward(
        &mut self,
        loss: &Tensor<1>,
        optimizers: &mut ManualOptimizers<'_>,
        index: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        optimizers.callback_hook(index, self, cx, |c, m, cx| {
            c.on_before_backward(m, loss, cx)
        })?;
        self.on_before_backward(loss, cx)?;
        optimizers.get(index)?.backward(self, loss);
        optimizers.callback_hook(index, self, cx, |c, m, cx| c.on_after_backward(m, cx))?;
        self.on_after_backward(cx)
    }
    /// Manual optimization's `optimizer.step()` for optimizer `index`: gradients averaged over
    /// the ranks, `on_before_optimizer_step` of the callbacks and of the module, then the step;
    /// returns the updated module. Provided; not meant to be overridden.
    fn manual_step(
        mut self,
        optimizers: &mut ManualOptimizers<'_>,
        index: usize,
        cx: &mut HookContext,
    ) -> Result<Self> {
        optimizers.sync_gradients(index, &self, cx)?;
        optimizers.callback_hook(index, &mut self, cx, |c, m, cx| {
            c.on_before_optimizer_step(m, cx)
        })?;
        self.on_before_optimizer_step(optimizers.get(index)?, cx)?;
        Ok(optimizers.get(index)?.step(self))
    }
    /// On the first batch of an accumulation window, before gradients are reset; `loss` is this step's.
    fn on_before_zero_grad(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// Resets the accumulated gradients (default: [`LightningOptimizer::zero_grad`]).
    fn optimizer_zero_grad(
        &mut self,
        epoch: usize,
        batch_idx: usize,
        optimizer: &mut LightningOptimizer,
    ) -> Result<()> {
        optimizer.zero_grad();
        Ok(())
    }
    /// Just before backward, with the (accumulation-scaled) loss; may inspect, not replace it.
    fn on_before_backward(&mut self, loss: &Tensor<1>, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// After backward: gradients of this micro-batch are added to the optimizer's accumulator.
    fn on_after_backward(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// Before clipping and the optimizer step: accumulated gradients are final and unclipped.
    fn on_before_optimizer_step(
        &mut self,
        optimizer: &LightningOptimizer,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// Clips the accumulated gradients with the Trainer's `gradient_clip_val`/`gradient_clip_algorithm`.
    fn configure_gradient_clipping(
        &mut self,
        optimizer: &mut LightningOptimizer,
        gradient_clip_val: Option<f64>,
        gradient_clip_algorithm: ClipAlgorithm,
    ) -> Result<()> {
        if let Some(max) = gradient_clip_val {
            optimizer.clip_gradients(&*self, max, gradient_clip_algorithm);
        }
        Ok(())
    }
    /// Applies the accumulated gradients (default: [`LightningOptimizer::step`]); returns the updated module.
    fn optimizer_step(
        self,
        epoch: usize,
        batch_idx: usize,
        optimizer: &mut LightningOptimizer,
    ) -> Result<Self> {
        Ok(optimizer.step(self))
    }
    /// When a scheduler's interval and frequency come due: advances it (plateau schedulers get `metric`).
    fn lr_scheduler_step(
        &mut self,
        scheduler: &mut LrSchedulerState,
        metric: Option<f64>,
    ) -> Result<()> {
        scheduler.step(metric)
    }
    /// After the optimizer step (or the accumulation-only step), with this batch's loss tensor, detached.
    fn on_train_batch_end(
        &mut self,
        loss: &Tensor<1>,
        batch: &Self::Batch,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After the epoch's last batch and its validation, before the epoch-end checkpoint; may log epoch values.
    fn on_train_epoch_end(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// After the last epoch, before `on_fit_end`.
    fn on_train_end(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// At the very end of `fit`, before `teardown`.
    fn on_fit_end(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }

    // ----- validation -----------------------------------------------------------------------

    /// Before validation inside `fit`: gradients of the train step are dropped.
    fn on_validation_model_zero_grad(&mut self) -> Result<()> {
        Ok(())
    }
    /// Switches to evaluation (default: [`Module::valid`]: no autodiff, dropout off); returns the eval module.
    fn on_validation_model_eval(self) -> Result<Self> {
        Ok(self.valid())
    }
    /// After validation inside `fit`: back to training (default: [`Module::train`]).
    fn on_validation_model_train(self) -> Result<Self> {
        Ok(self.train())
    }
    /// Before the stand-alone test loop, after `test_dataloader`: switches to evaluation (default: [`Module::valid`]).
    fn on_test_model_eval(self) -> Result<Self> {
        Ok(self.valid())
    }
    /// After the test loop, before `teardown`; nothing was training, so the default keeps the module as is.
    fn on_test_model_train(self) -> Result<Self> {
        Ok(self)
    }
    /// Before the predict loop, after `predict_dataloader`: switches to evaluation (default: [`Module::valid`]).
    fn on_predict_model_eval(self) -> Result<Self> {
        Ok(self.valid())
    }
    /// After the eval switch, before the validation epoch.
    fn on_validation_start(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// Before the first validation batch; a good place to reset epoch accumulators on `self`.
    fn on_validation_epoch_start(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// Before `validation_step`, with the device batch.
    fn on_validation_batch_start(
        &mut self,
        batch: &Self::Batch,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// The forward pass of one validation batch (no autodiff); log metrics here. What it returns
    /// (e.g. the loss) is handed to the callbacks' `on_validation_batch_end`.
    fn validation_step(
        &mut self,
        batch: &Self::Batch,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<Option<Tensor<1>>> {
        Ok(None)
    }
    /// After `validation_step`.
    fn on_validation_batch_end(
        &mut self,
        batch: &Self::Batch,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After the last validation batch: log epoch-level metrics computed on `self`.
    fn on_validation_epoch_end(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// After the validation epoch, before the switch back to training.
    fn on_validation_end(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }

    // ----- test -----------------------------------------------------------------------------

    /// At the start of `test`, after the eval switch.
    fn on_test_start(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// Before the first test batch.
    fn on_test_epoch_start(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// Before `test_step`, with the device batch.
    fn on_test_batch_start(
        &mut self,
        batch: &Self::Batch,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// The forward pass of one test batch; log metrics here. What it returns is handed to the
    /// callbacks' `on_test_batch_end`.
    fn test_step(
        &mut self,
        batch: &Self::Batch,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<Option<Tensor<1>>> {
        Ok(None)
    }
    /// After `test_step`.
    fn on_test_batch_end(
        &mut self,
        batch: &Self::Batch,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After the last test batch: log epoch-level test metrics.
    fn on_test_epoch_end(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// At the end of `test`.
    fn on_test_end(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }

    // ----- predict --------------------------------------------------------------------------

    /// At the start of `predict`, after the eval switch.
    fn on_predict_start(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// Before the first predict batch.
    fn on_predict_epoch_start(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// Before `predict_step`, with the device batch.
    fn on_predict_batch_start(
        &mut self,
        batch: &Self::Batch,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// One batch of predictions (rows = examples); `Trainer::predict` returns them in order.
    fn predict_step(
        &mut self,
        batch: &Self::Batch,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<Tensor<2>> {
        anyhow::bail!("predict_step is not implemented for this module")
    }
    /// After `predict_step`, with its output.
    fn on_predict_batch_end(
        &mut self,
        prediction: &Tensor<2>,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After the last predict batch.
    fn on_predict_epoch_end(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// At the end of `predict`.
    fn on_predict_end(&mut self, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }

    // ----- checkpoints and teardown ---------------------------------------------------------

    /// While a checkpoint is written: add your own entries to `checkpoint.module_extra`.
    fn on_save_checkpoint(&mut self, checkpoint: &mut CheckpointState) -> Result<()> {
        Ok(())
    }
    /// When resuming, after `setup` and before `configure_model`: read your entries back.
    fn on_load_checkpoint(&mut self, checkpoint: &CheckpointState) -> Result<()> {
        Ok(())
    }
    /// At the end of every stage: release what `setup` built.
    fn teardown(&mut self, stage: Stage, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
}
