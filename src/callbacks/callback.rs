//! The [`Callback`] trait: Lightning's callback hooks, each with a no-op default.

use anyhow::Result;
use serde_json::Value;

use burn::prelude::Tensor;

use crate::checkpoint::Checkpoint;
use crate::context::HookContext;
use crate::module_handle::ModuleHandle;
use crate::stage::Stage;

/// Code that runs at fixed points of the loops, beside the module. A callback's hook runs just
/// before the module's hook of the same name. Every hook gets the module being run as a
/// type-erased [`ModuleHandle`] (callbacks are not generic over the module, so batches are not
/// passed either: the batch index and loop position are in the context); batch-end hooks get
/// the step's output, as in Lightning.
#[allow(unused_variables)]
pub trait Callback: Send {
    /// Key of this callback's state in checkpoints; must be unique among the run's callbacks.
    fn state_key(&self) -> String;

    /// At the start of every stage, before the module's `setup`.
    fn setup(
        &mut self,
        module: &mut ModuleHandle<'_>,
        stage: Stage,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// At the end of every stage, before the module's `teardown`.
    fn teardown(
        &mut self,
        module: &mut ModuleHandle<'_>,
        stage: Stage,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After the optimizers are configured: the fit begins.
    fn on_fit_start(&mut self, module: &mut ModuleHandle<'_>, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// At the very end of fit.
    fn on_fit_end(&mut self, module: &mut ModuleHandle<'_>, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// Before the sanity-check validation.
    fn on_sanity_check_start(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After the sanity-check validation (its metrics are discarded right after).
    fn on_sanity_check_end(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// Before the first training epoch.
    fn on_train_start(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After the last training epoch.
    fn on_train_end(&mut self, module: &mut ModuleHandle<'_>, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// At the start of each training epoch.
    fn on_train_epoch_start(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// At the end of each training epoch, after its validation; monitored metrics are final.
    fn on_train_epoch_end(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After the batch is on the device, before `training_step`.
    fn on_train_batch_start(
        &mut self,
        module: &mut ModuleHandle<'_>,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After the batch's optimizer step (or accumulation), with `training_step`'s output, its
    /// loss tensor, detached (Lightning's `outputs`; read it with `into_scalar` only where
    /// needed: on a GPU each read waits for the device).
    fn on_train_batch_end(
        &mut self,
        module: &mut ModuleHandle<'_>,
        loss: &Tensor<1>,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// Before gradients are reset.
    fn on_before_zero_grad(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// Just before backward, with the (accumulation-scaled) loss tensor.
    fn on_before_backward(
        &mut self,
        module: &mut ModuleHandle<'_>,
        loss: &Tensor<1>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After backward.
    fn on_after_backward(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// Before clipping and the optimizer step.
    fn on_before_optimizer_step(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After the eval switch, before a validation epoch.
    fn on_validation_start(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After a validation epoch, before the switch back to training.
    fn on_validation_end(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// Before the first validation batch.
    fn on_validation_epoch_start(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After the last validation batch; epoch metrics are not reduced yet.
    fn on_validation_epoch_end(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// Before each validation step.
    fn on_validation_batch_start(
        &mut self,
        module: &mut ModuleHandle<'_>,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After each validation step, with what `validation_step` returned.
    fn on_validation_batch_end(
        &mut self,
        module: &mut ModuleHandle<'_>,
        outputs: Option<&Tensor<1>>,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// At the start of test.
    fn on_test_start(&mut self, module: &mut ModuleHandle<'_>, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// At the end of test.
    fn on_test_end(&mut self, module: &mut ModuleHandle<'_>, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// Before the first test batch.
    fn on_test_epoch_start(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After the last test batch.
    fn on_test_epoch_end(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// Before each test step.
    fn on_test_batch_start(
        &mut self,
        module: &mut ModuleHandle<'_>,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After each test step, with what `test_step` returned.
    fn on_test_batch_end(
        &mut self,
        module: &mut ModuleHandle<'_>,
        outputs: Option<&Tensor<1>>,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// At the start of predict.
    fn on_predict_start(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// At the end of predict.
    fn on_predict_end(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// Before the first predict batch.
    fn on_predict_epoch_start(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After the last predict batch.
    fn on_predict_epoch_end(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// Before each predict step.
    fn on_predict_batch_start(
        &mut self,
        module: &mut ModuleHandle<'_>,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// After each predict step, with its prediction.
    fn on_predict_batch_end(
        &mut self,
        module: &mut ModuleHandle<'_>,
        prediction: &Tensor<2>,
        batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// When any hook or step fails: last chance to flush or clean up; the error still propagates.
    fn on_exception(&mut self, error: &anyhow::Error, cx: &mut HookContext) -> Result<()> {
        Ok(())
    }
    /// While a checkpoint is written, before any `on_save_checkpoint`; returns this callback's state.
    fn state_dict(&self) -> Value {
        Value::Null
    }
    /// When resuming, right after this callback's `on_load_checkpoint`: restores what `state_dict` returned.
    fn load_state_dict(&mut self, state: Value) -> Result<()> {
        Ok(())
    }
    /// After a checkpoint is serialised and before it replaces the file on disk: whether
    /// `state`, read back from it, would restore (an error keeps the previous file). The default
    /// accepts any state: a callback with a typed state should parse it here as
    /// `load_state_dict` would (the built-in ones do), or its unreadable state is found only at
    /// resume.
    fn check_state_dict(&self, state: &Value) -> Result<()> {
        Ok(())
    }
    /// While a checkpoint is written, after every callback's `state_dict` and after the module's
    /// record is put in (before the module's `on_save_checkpoint`): may add entries to
    /// `checkpoint.state`, add binary sections of its own, or replace the module section (an
    /// averaging callback saves its averaged weights as the module).
    fn on_save_checkpoint(
        &mut self,
        module: &mut ModuleHandle<'_>,
        checkpoint: &mut Checkpoint,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// When resuming, after the module's weights are loaded (Lightning's order: restore the
    /// model, then the datamodule, then the callbacks) and before `load_state_dict`: may read
    /// its own sections of `checkpoint` and put weights into the module.
    fn on_load_checkpoint(
        &mut self,
        module: &mut ModuleHandle<'_>,
        checkpoint: &Checkpoint,
        cx: &mut HookContext,
    ) -> Result<()> {
        Ok(())
    }
    /// Monitoring callbacks (`ModelCheckpoint`, `EarlyStopping`) run their `on_train_epoch_end`
    /// after the module's, so that metrics logged there are seen.
    fn is_monitoring(&self) -> bool {
        false
    }
    /// Whether this callback writes the module's weights or the optimizers' rates (weight
    /// averaging, fine-tuning schedules). Callbacks run on rank 0 only, so under thread DDP such
    /// a callback would change one replica and not the others: `fit` refuses it there.
    fn changes_module(&self) -> bool {
        false
    }
    /// Tells the callback the run directory before anything runs (default checkpoint dirs live there).
    fn set_log_dir(&mut self, log_dir: &std::path::Path) {}
}
