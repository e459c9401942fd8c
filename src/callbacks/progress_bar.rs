//! The progress bar (indicatif): epoch, batch, it/s, ETA and metrics marked `prog_bar`.

use anyhow::Result;
use burn::prelude::Tensor;
use indicatif::{ProgressBar as Bar, ProgressDrawTarget, ProgressStyle};

use super::Callback;
use crate::context::HookContext;
use crate::module_handle::ModuleHandle;

/// Lightning's TQDMProgressBar, drawn on stderr (hidden when stderr is not a terminal).
#[derive(Default)]
pub struct ProgressBar {
    bar: Option<Bar>,
}

fn metrics_text(cx: &HookContext) -> String {
    cx.progress_bar_metrics()
        .iter()
        .map(|(k, v)| format!("{k}={v:.4}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl ProgressBar {
    fn start(&mut self, len: usize, label: String) {
        let bar = Bar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} {bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}, {per_sec}] {msg}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_prefix(label);
        self.bar = Some(bar);
    }
}

impl Callback for ProgressBar {
    fn state_key(&self) -> String {
        "ProgressBar".into()
    }
    fn on_train_epoch_start(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        let epochs = cx.max_epochs().map_or("?".to_string(), |m| m.to_string());
        self.start(
            cx.num_training_batches(),
            format!("Epoch {}/{epochs}", cx.current_epoch()),
        );
        if let Some(bar) = &self.bar {
            bar.set_position(cx.progress().batch_in_epoch as u64);
        }
        Ok(())
    }
    fn on_train_batch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _loss: &Tensor<1>,
        _batch_idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!("step={} {}", cx.global_step(), metrics_text(cx)));
        }
        Ok(())
    }
    fn on_train_epoch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        if let Some(bar) = self.bar.take() {
            bar.set_message(metrics_text(cx));
            bar.finish();
        }
        Ok(())
    }
    fn on_test_start(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _cx: &mut HookContext,
    ) -> Result<()> {
        self.start(0, "Testing".into());
        Ok(())
    }
    fn on_test_batch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _outputs: Option<&burn::prelude::Tensor<1>>,
        _batch_idx: usize,
        _cx: &mut HookContext,
    ) -> Result<()> {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        Ok(())
    }
    fn on_test_end(&mut self, _module: &mut ModuleHandle<'_>, cx: &mut HookContext) -> Result<()> {
        if let Some(bar) = self.bar.take() {
            bar.set_message(metrics_text(cx));
            bar.finish();
        }
        Ok(())
    }
    fn on_exception(&mut self, _error: &anyhow::Error, _cx: &mut HookContext) -> Result<()> {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
        Ok(())
    }
}
