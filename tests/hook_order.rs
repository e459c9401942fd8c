//! Records every hook call during fit (sanity check, validation every epoch, gradient
//! accumulation 2, clipping on), test and predict, and compares the whole sequence with
//! Lightning's order (its `tests/tests_pytorch/models/test_hooks.py`).

mod common;

use std::sync::{Arc, Mutex};

use anyhow::Result;
use burn::module::Module;
use burn::prelude::*;
use burn_lightning::callbacks::{Callback, ModelCheckpoint};
use burn_lightning::checkpoint::{Checkpoint, CheckpointState};
use burn_lightning::data::DataLoader;
use burn_lightning::optim::{
    ClipAlgorithm, LightningOptimizer, LrSchedulerState, Optimizers, SchedulerConfig,
    SchedulerName, SchedulerParams,
};
use burn_lightning::{HookContext, LightningDataModule, LightningModule, Stage, Trainer};
use burn_lightning::{ManualOptimizers, ModuleHandle, OptimizerSetup};
use common::mlp::{Batch, Mlp, TwoMoons};

type Calls = Arc<Mutex<Vec<String>>>;

fn push(calls: &Calls, name: &str) {
    calls.lock().unwrap().push(name.to_string());
}

#[derive(Module, Debug)]
struct Hooked {
    inner: Mlp,
    #[module(skip)]
    calls: Calls,
    /// Manual optimization: one backward and one step per batch, through the HookContext.
    #[module(skip)]
    manual: bool,
    /// `configure_optimizers` asks for `estimated_stepping_batches` (and records the answer).
    #[module(skip)]
    ask_steps: bool,
}

macro_rules! record {
    ($($hook:ident),* $(,)?) => {$(
        fn $hook(&mut self, _cx: &mut HookContext) -> Result<()> {
            push(&self.calls, stringify!($hook));
            Ok(())
        }
    )*};
}
macro_rules! record_batch {
    ($($hook:ident),* $(,)?) => {$(
        fn $hook(&mut self, _b: &Batch, _i: usize, _cx: &mut HookContext) -> Result<()> {
            push(&self.calls, stringify!($hook));
            Ok(())
        }
    )*};
}

impl LightningModule for Hooked {
    type Batch = Batch;

    fn configure_callbacks(&mut self) -> Vec<Box<dyn Callback>> {
        push(&self.calls, "configure_callbacks");
        Vec::new()
    }
    fn prepare_data(&mut self) -> Result<()> {
        push(&self.calls, "prepare_data");
        Ok(())
    }
    fn setup(&mut self, stage: Stage, _cx: &mut HookContext) -> Result<()> {
        push(&self.calls, &format!("setup({stage})"));
        Ok(())
    }
    fn teardown(&mut self, stage: Stage, _cx: &mut HookContext) -> Result<()> {
        push(&self.calls, &format!("teardown({stage})"));
        Ok(())
    }
    fn configure_model(&mut self, _cx: &mut HookContext) -> Result<()> {
        push(&self.calls, "configure_model");
        Ok(())
    }
    fn configure_optimizers(&mut self, trainer: &mut OptimizerSetup<'_>) -> Result<Optimizers> {
        push(&self.calls, "configure_optimizers");
        if self.ask_steps {
            let steps = trainer.estimated_stepping_batches()?;
            push(&self.calls, &format!("estimated_stepping_batches={steps}"));
        }
        let scheduler = SchedulerConfig {
            name: SchedulerName::StepLr,
            params: SchedulerParams {
                step_size: 1,
                gamma: 0.5,
                ..Default::default()
            },
        };
        Ok(
            Optimizers::single(burn::optim::AdamConfig::new().init(), 1e-2)
                .with_scheduler(scheduler.init(1e-2)?),
        )
    }
    record!(
        on_fit_start,
        on_train_start,
        on_train_epoch_start,
        on_train_epoch_end,
        on_train_end,
        on_fit_end,
        on_before_zero_grad,
        on_after_backward,
        on_validation_start,
        on_validation_epoch_start,
        on_validation_epoch_end,
        on_validation_end,
        on_test_start,
        on_test_epoch_start,
        on_test_epoch_end,
        on_test_end,
        on_predict_start,
        on_predict_epoch_start,
        on_predict_epoch_end,
        on_predict_end
    );
    record_batch!(
        on_train_batch_start,
        on_validation_batch_start,
        on_validation_batch_end,
        on_test_batch_start,
        on_test_batch_end,
        on_predict_batch_start
    );
    fn on_before_batch_transfer(&mut self, batch: Batch, _i: usize) -> Result<Batch> {
        push(&self.calls, "on_before_batch_transfer");
        Ok(batch)
    }
    fn transfer_batch_to_device(
        &mut self,
        batch: Batch,
        device: &Device,
        _i: usize,
    ) -> Result<Batch> {
        push(&self.calls, "transfer_batch_to_device");
        Ok((batch.0.to_device(device), batch.1.to_device(device)))
    }
    fn on_after_batch_transfer(&mut self, batch: Batch, _i: usize) -> Result<Batch> {
        push(&self.calls, "on_after_batch_transfer");
        Ok(batch)
    }
    fn training_step(
        &mut self,
        batch: &Batch,
        i: usize,
        cx: &mut HookContext,
    ) -> Result<Tensor<1>> {
        push(&self.calls, "training_step");
        self.inner.training_step(batch, i, cx)
    }
    fn automatic_optimization(&self) -> bool {
        !self.manual
    }
    fn training_step_manual(
        mut self,
        batch: &Batch,
        _i: usize,
        optimizers: &mut ManualOptimizers<'_>,
        cx: &mut HookContext,
    ) -> Result<(Self, f64)> {
        let (loss, _) = self.inner.loss(batch);
        let value = loss.clone().into_scalar::<f32>() as f64;
        optimizers[0].zero_grad();
        self.manual_backward(&loss, optimizers, 0, cx)?;
        let module = self.manual_step(optimizers, 0, cx)?;
        // Lightning's test records `training_step` when it returns.
        push(&module.calls, "training_step");
        Ok((module, value))
    }
    fn optimizer_zero_grad(
        &mut self,
        _e: usize,
        _i: usize,
        optimizer: &mut LightningOptimizer,
    ) -> Result<()> {
        push(&self.calls, "optimizer_zero_grad");
        optimizer.zero_grad();
        Ok(())
    }
    fn on_before_backward(&mut self, loss: &Tensor<1>, _cx: &mut HookContext) -> Result<()> {
        anyhow::ensure!(
            loss.is_tracked(),
            "on_before_backward gets the graph's loss"
        );
        push(&self.calls, "on_before_backward");
        Ok(())
    }
    fn on_before_optimizer_step(
        &mut self,
        _o: &LightningOptimizer,
        _cx: &mut HookContext,
    ) -> Result<()> {
        push(&self.calls, "on_before_optimizer_step");
        Ok(())
    }
    fn configure_gradient_clipping(
        &mut self,
        optimizer: &mut LightningOptimizer,
        val: Option<f64>,
        algo: ClipAlgorithm,
    ) -> Result<()> {
        push(&self.calls, "configure_gradient_clipping");
        assert_eq!(val, Some(1.0));
        optimizer.clip_gradients(&*self, 1.0, algo);
        Ok(())
    }
    fn optimizer_step(
        self,
        _e: usize,
        _i: usize,
        optimizer: &mut LightningOptimizer,
    ) -> Result<Self> {
        push(&self.calls, "optimizer_step");
        Ok(optimizer.step(self))
    }
    fn lr_scheduler_step(
        &mut self,
        scheduler: &mut LrSchedulerState,
        metric: Option<f64>,
    ) -> Result<()> {
        push(&self.calls, "lr_scheduler_step");
        scheduler.step(metric)
    }
    fn on_train_batch_end(
        &mut self,
        loss: &Tensor<1>,
        _b: &Batch,
        _i: usize,
        _cx: &mut HookContext,
    ) -> Result<()> {
        // Lightning's `outputs` are detached: a hook that keeps the loss keeps no graph.
        anyhow::ensure!(
            !loss.is_tracked(),
            "on_train_batch_end gets the loss detached"
        );
        push(&self.calls, "on_train_batch_end");
        Ok(())
    }
    fn on_validation_model_zero_grad(&mut self) -> Result<()> {
        push(&self.calls, "on_validation_model_zero_grad");
        Ok(())
    }
    fn on_validation_model_eval(self) -> Result<Self> {
        push(&self.calls, "on_validation_model_eval");
        Ok(self.valid())
    }
    fn on_validation_model_train(self) -> Result<Self> {
        push(&self.calls, "on_validation_model_train");
        Ok(self.train())
    }
    fn on_test_model_eval(self) -> Result<Self> {
        push(&self.calls, "on_test_model_eval");
        Ok(self.valid())
    }
    fn on_test_model_train(self) -> Result<Self> {
        push(&self.calls, "on_test_model_train");
        Ok(self)
    }
    fn on_predict_model_eval(self) -> Result<Self> {
        push(&self.calls, "on_predict_model_eval");
        Ok(self.valid())
    }
    fn validation_step(
        &mut self,
        batch: &Batch,
        i: usize,
        cx: &mut HookContext,
    ) -> Result<Option<Tensor<1>>> {
        push(&self.calls, "validation_step");
        self.inner.validation_step(batch, i, cx)
    }
    fn test_step(
        &mut self,
        _b: &Batch,
        _i: usize,
        _cx: &mut HookContext,
    ) -> Result<Option<Tensor<1>>> {
        push(&self.calls, "test_step");
        Ok(None)
    }
    fn predict_step(
        &mut self,
        batch: &Batch,
        _i: usize,
        _cx: &mut HookContext,
    ) -> Result<Tensor<2>> {
        push(&self.calls, "predict_step");
        Ok(batch.0.clone())
    }
    fn on_predict_batch_end(
        &mut self,
        _p: &Tensor<2>,
        _i: usize,
        _cx: &mut HookContext,
    ) -> Result<()> {
        push(&self.calls, "on_predict_batch_end");
        Ok(())
    }
    fn on_save_checkpoint(&mut self, _c: &mut CheckpointState) -> Result<()> {
        push(&self.calls, "on_save_checkpoint");
        Ok(())
    }
    fn on_load_checkpoint(&mut self, _c: &CheckpointState) -> Result<()> {
        push(&self.calls, "on_load_checkpoint");
        Ok(())
    }
}

struct HookedCallback(Calls);

macro_rules! cb_record {
    ($($hook:ident),* $(,)?) => {$(
        fn $hook(&mut self, _module: &mut ModuleHandle<'_>, _cx: &mut HookContext) -> Result<()> {
            push(&self.0, concat!("Callback.", stringify!($hook)));
            Ok(())
        }
    )*};
}
macro_rules! cb_record_batch {
    ($($hook:ident),* $(,)?) => {$(
        fn $hook(&mut self, _module: &mut ModuleHandle<'_>, _i: usize, _cx: &mut HookContext) -> Result<()> {
            push(&self.0, concat!("Callback.", stringify!($hook)));
            Ok(())
        }
    )*};
}

impl Callback for HookedCallback {
    fn state_key(&self) -> String {
        "HookedCallback".into()
    }
    fn setup(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        stage: Stage,
        _cx: &mut HookContext,
    ) -> Result<()> {
        push(&self.0, &format!("Callback.setup({stage})"));
        Ok(())
    }
    fn teardown(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        stage: Stage,
        _cx: &mut HookContext,
    ) -> Result<()> {
        push(&self.0, &format!("Callback.teardown({stage})"));
        Ok(())
    }
    cb_record!(
        on_fit_start,
        on_fit_end,
        on_sanity_check_start,
        on_sanity_check_end,
        on_train_start,
        on_train_end,
        on_train_epoch_start,
        on_train_epoch_end,
        on_before_zero_grad,
        on_after_backward,
        on_before_optimizer_step,
        on_validation_start,
        on_validation_end,
        on_validation_epoch_start,
        on_validation_epoch_end,
        on_test_start,
        on_test_end,
        on_test_epoch_start,
        on_test_epoch_end,
        on_predict_start,
        on_predict_end,
        on_predict_epoch_start,
        on_predict_epoch_end
    );
    cb_record_batch!(
        on_train_batch_start,
        on_validation_batch_start,
        on_test_batch_start,
        on_predict_batch_start
    );
    fn on_validation_batch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _outputs: Option<&Tensor<1>>,
        _i: usize,
        _cx: &mut HookContext,
    ) -> Result<()> {
        push(&self.0, "Callback.on_validation_batch_end");
        Ok(())
    }
    fn on_test_batch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _outputs: Option<&Tensor<1>>,
        _i: usize,
        _cx: &mut HookContext,
    ) -> Result<()> {
        push(&self.0, "Callback.on_test_batch_end");
        Ok(())
    }
    fn on_predict_batch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _prediction: &Tensor<2>,
        _i: usize,
        _cx: &mut HookContext,
    ) -> Result<()> {
        push(&self.0, "Callback.on_predict_batch_end");
        Ok(())
    }
    fn on_train_batch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _l: &Tensor<1>,
        _i: usize,
        _cx: &mut HookContext,
    ) -> Result<()> {
        push(&self.0, "Callback.on_train_batch_end");
        Ok(())
    }
    fn on_before_backward(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _l: &Tensor<1>,
        _cx: &mut HookContext,
    ) -> Result<()> {
        push(&self.0, "Callback.on_before_backward");
        Ok(())
    }
    fn on_load_checkpoint(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _c: &Checkpoint,
        _cx: &mut HookContext,
    ) -> Result<()> {
        push(&self.0, "Callback.on_load_checkpoint");
        Ok(())
    }
    fn state_dict(&self) -> serde_json::Value {
        push(&self.0, "Callback.state_dict");
        serde_json::json!({"foo": true})
    }
    fn on_save_checkpoint(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _c: &mut Checkpoint,
        _cx: &mut HookContext,
    ) -> Result<()> {
        push(&self.0, "Callback.on_save_checkpoint");
        Ok(())
    }
}

struct HookedData {
    inner: TwoMoons,
    calls: Calls,
}

impl LightningDataModule for HookedData {
    type Batch = Batch;
    fn prepare_data(&mut self) -> Result<()> {
        push(&self.calls, "DataModule.prepare_data");
        Ok(())
    }
    fn setup(&mut self, stage: Stage) -> Result<()> {
        push(&self.calls, &format!("DataModule.setup({stage})"));
        self.inner.setup(stage)
    }
    fn teardown(&mut self, stage: Stage) -> Result<()> {
        push(&self.calls, &format!("DataModule.teardown({stage})"));
        Ok(())
    }
    fn train_dataloader(&mut self) -> Result<DataLoader<Batch>> {
        push(&self.calls, "DataModule.train_dataloader");
        self.inner.train_dataloader()
    }
    fn val_dataloader(&mut self) -> Result<Option<DataLoader<Batch>>> {
        push(&self.calls, "DataModule.val_dataloader");
        self.inner.val_dataloader()
    }
    fn test_dataloader(&mut self) -> Result<DataLoader<Batch>> {
        push(&self.calls, "DataModule.test_dataloader");
        Ok(self.inner.val_dataloader()?.unwrap())
    }
    fn predict_dataloader(&mut self) -> Result<DataLoader<Batch>> {
        push(&self.calls, "DataModule.predict_dataloader");
        Ok(self.inner.val_dataloader()?.unwrap())
    }
}

const TRANSFER: [&str; 3] = [
    "on_before_batch_transfer",
    "transfer_batch_to_device",
    "on_after_batch_transfer",
];

fn eval_epoch(kind: &str, batches: usize) -> Vec<String> {
    let mut out = vec![
        format!("Callback.on_{kind}_epoch_start"),
        format!("on_{kind}_epoch_start"),
    ];
    for _ in 0..batches {
        out.extend(TRANSFER.iter().map(|s| s.to_string()));
        out.extend([
            format!("Callback.on_{kind}_batch_start"),
            format!("on_{kind}_batch_start"),
            format!("{kind}_step"),
            format!("Callback.on_{kind}_batch_end"),
            format!("on_{kind}_batch_end"),
        ]);
    }
    out.extend([
        format!("Callback.on_{kind}_epoch_end"),
        format!("on_{kind}_epoch_end"),
    ]);
    out
}

/// Where a validation loop runs: Lightning zeroes gradients before it only inside the training
/// epoch (`training_epoch_loop.py`), not in the sanity check (`test_hooks.py`).
#[derive(Clone, Copy, PartialEq)]
enum Val {
    Sanity,
    InEpoch,
}

fn validation(at: Val, batches: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if at == Val::InEpoch {
        out.push("on_validation_model_zero_grad".into());
    }
    out.extend(
        [
            "on_validation_model_eval",
            "Callback.on_validation_start",
            "on_validation_start",
        ]
        .map(String::from),
    );
    out.extend(eval_epoch("validation", batches));
    out.extend(["Callback.on_validation_end", "on_validation_end"].map(String::from));
    out.push("on_validation_model_train".into());
    out
}

/// Lightning's `_auto_train_batch`, with accumulation: zero_grad on a window's first batch,
/// the optimizer step on its last; the epoch scheduler steps after the epoch's last step.
fn train_batches(n: usize, accumulate: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in 0..n {
        out.extend(TRANSFER.iter().map(|s| s.to_string()));
        out.extend(
            [
                "Callback.on_train_batch_start",
                "on_train_batch_start",
                "training_step",
            ]
            .map(String::from),
        );
        if i % accumulate == 0 {
            out.extend(
                [
                    "Callback.on_before_zero_grad",
                    "on_before_zero_grad",
                    "optimizer_zero_grad",
                ]
                .map(String::from),
            );
        }
        out.extend(
            [
                "Callback.on_before_backward",
                "on_before_backward",
                "Callback.on_after_backward",
                "on_after_backward",
            ]
            .map(String::from),
        );
        if (i + 1) % accumulate == 0 || i + 1 == n {
            out.extend(
                [
                    "Callback.on_before_optimizer_step",
                    "on_before_optimizer_step",
                    "configure_gradient_clipping",
                    "optimizer_step",
                ]
                .map(String::from),
            );
            if i + 1 == n {
                out.push("lr_scheduler_step".into());
            }
        }
        out.extend(["Callback.on_train_batch_end", "on_train_batch_end"].map(String::from));
    }
    out
}

#[test]
fn fit_test_and_predict_call_every_hook_in_lightnings_order() {
    let dir = common::temp_dir("hooks");
    let calls: Calls = Arc::default();
    let mut config = common::quiet_config(&dir);
    config.max_epochs = Some(1);
    config.limit_train_batches = burn_lightning::trainer::Limit::Batches(4);
    config.limit_val_batches = burn_lightning::trainer::Limit::Batches(2);
    config.accumulate_grad_batches = 2;
    config.gradient_clip_val = Some(1.0);
    config.logger = false.into();
    let mut trainer = Trainer::new(config.clone())
        .seed(1)
        .callback(HookedCallback(calls.clone()))
        .callback(ModelCheckpoint::new(dir.join("ck")).save_last(false));
    let module = Hooked {
        inner: common::seeded_mlp(8),
        calls: calls.clone(),
        manual: false,
        ask_steps: false,
    };
    let mut data = HookedData {
        inner: TwoMoons::new(200, 16, 1),
        calls: calls.clone(),
    };
    let module = trainer.fit(module, &mut data, None).unwrap();

    let mut expected: Vec<String> = [
        "configure_callbacks",
        "DataModule.prepare_data",
        "prepare_data",
        "DataModule.setup(fit)",
        "Callback.setup(fit)",
        "setup(fit)",
        "configure_model",
        "configure_optimizers",
        "Callback.on_fit_start",
        "on_fit_start",
        "Callback.on_sanity_check_start",
        "DataModule.val_dataloader",
    ]
    .map(String::from)
    .to_vec();
    expected.extend(validation(Val::Sanity, 2));
    expected.extend(
        [
            "Callback.on_sanity_check_end",
            "DataModule.train_dataloader",
            "Callback.on_train_start",
            "on_train_start",
            "Callback.on_train_epoch_start",
            "on_train_epoch_start",
        ]
        .map(String::from),
    );
    expected.extend(train_batches(4, 2));
    // Validation inside the epoch, right after the last batch and before on_train_epoch_end.
    expected.extend(validation(Val::InEpoch, 2));
    expected.extend(
        [
            "Callback.on_train_epoch_end",
            "on_train_epoch_end",
            // ModelCheckpoint (a monitoring callback) saves here, after on_train_epoch_end.
            "Callback.state_dict",
            "Callback.on_save_checkpoint",
            "on_save_checkpoint",
            "Callback.on_train_end",
            "on_train_end",
            "Callback.on_fit_end",
            "on_fit_end",
            "Callback.teardown(fit)",
            "teardown(fit)",
            "DataModule.teardown(fit)",
        ]
        .map(String::from),
    );
    let got = std::mem::take(&mut *calls.lock().unwrap());
    assert_eq!(got, expected);

    let module = Hooked {
        inner: module.inner,
        calls: calls.clone(),
        manual: false,
        ask_steps: false,
    };
    trainer.test(module.clone(), &mut data, None).unwrap();
    let mut expected: Vec<String> = [
        "configure_callbacks",
        "DataModule.prepare_data",
        "prepare_data",
        "DataModule.setup(test)",
        "Callback.setup(test)",
        "setup(test)",
        "configure_model",
        "DataModule.test_dataloader",
        "on_test_model_eval",
        "Callback.on_test_start",
        "on_test_start",
    ]
    .map(String::from)
    .to_vec();
    expected.extend(eval_epoch("test", 3));
    expected.extend(
        [
            "Callback.on_test_end",
            "on_test_end",
            "on_test_model_train",
            "Callback.teardown(test)",
            "teardown(test)",
            "DataModule.teardown(test)",
        ]
        .map(String::from),
    );
    let got = std::mem::take(&mut *calls.lock().unwrap());
    assert_eq!(got, expected);

    let predictions = trainer.predict(module, &mut data, None).unwrap();
    assert_eq!(predictions.len(), 3);
    let mut expected: Vec<String> = [
        "configure_callbacks",
        "DataModule.prepare_data",
        "prepare_data",
        "DataModule.setup(predict)",
        "Callback.setup(predict)",
        "setup(predict)",
        "configure_model",
        "DataModule.predict_dataloader",
        "on_predict_model_eval",
        "Callback.on_predict_start",
        "on_predict_start",
    ]
    .map(String::from)
    .to_vec();
    expected.extend(
        eval_epoch("predict", 3)
            .into_iter()
            .filter(|s| !s.ends_with("predict_step") || s == "predict_step"),
    );
    expected.extend(
        [
            "Callback.on_predict_end",
            "on_predict_end",
            "Callback.teardown(predict)",
            "teardown(predict)",
            "DataModule.teardown(predict)",
        ]
        .map(String::from),
    );
    let got = std::mem::take(&mut *calls.lock().unwrap());
    assert_eq!(got, expected);
}

#[test]
fn manual_optimization_runs_backward_and_step_hooks_inside_the_step() {
    let dir = common::temp_dir("hooks-manual");
    let calls: Calls = Arc::default();
    let mut config = common::quiet_config(&dir);
    config.max_epochs = Some(1);
    config.limit_train_batches = burn_lightning::trainer::Limit::Batches(2);
    config.limit_val_batches = burn_lightning::trainer::Limit::Batches(0);
    config.logger = false.into();
    config.enable_checkpointing = false;
    let mut trainer = Trainer::new(config)
        .seed(1)
        .callback(HookedCallback(calls.clone()));
    let start = common::seeded_mlp(8);
    let before = common::parameter_values(&start);
    let module = Hooked {
        inner: start,
        calls: calls.clone(),
        manual: true,
        ask_steps: false,
    };
    let mut data = HookedData {
        inner: TwoMoons::new(200, 16, 1),
        calls: calls.clone(),
    };
    let module = trainer.fit(module, &mut data, None).unwrap();
    assert_ne!(
        common::parameter_values(&module),
        before,
        "the steps changed nothing"
    );
    assert_eq!(trainer.progress().global_step, 2);

    // Lightning's `_manual_train_batch`, for each of the two batches.
    let batch = [
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_train_batch_start",
        "on_train_batch_start",
        "Callback.on_before_backward",
        "on_before_backward",
        "Callback.on_after_backward",
        "on_after_backward",
        "Callback.on_before_optimizer_step",
        "on_before_optimizer_step",
        "training_step",
        "Callback.on_train_batch_end",
        "on_train_batch_end",
    ];
    let expected: Vec<String> = batch
        .iter()
        .chain(batch.iter())
        .map(|s| s.to_string())
        .collect();
    let got = std::mem::take(&mut *calls.lock().unwrap());
    let first = got
        .iter()
        .position(|c| c == "on_before_batch_transfer")
        .expect("a training batch ran");
    assert_eq!(got[first..first + expected.len()], expected[..]);
    assert!(
        !got.iter()
            .any(|c| c == "optimizer_step" || c == "on_before_zero_grad"),
        "automatic-optimization hooks ran in manual mode: {got:?}"
    );
}

#[test]
fn asking_for_stepping_batches_loads_the_train_dataloader_once_in_configure_optimizers() {
    let dir = common::temp_dir("hooks-steps");
    let calls: Calls = Arc::default();
    let mut config = common::quiet_config(&dir);
    config.max_epochs = Some(2);
    config.limit_train_batches = burn_lightning::trainer::Limit::Batches(5);
    config.limit_val_batches = burn_lightning::trainer::Limit::Batches(1);
    config.accumulate_grad_batches = 2;
    config.gradient_clip_val = Some(1.0);
    config.logger = false.into();
    config.enable_checkpointing = false;
    let mut trainer = Trainer::new(config).seed(1);
    let module = Hooked {
        inner: common::seeded_mlp(8),
        calls: calls.clone(),
        manual: false,
        ask_steps: true,
    };
    let mut data = HookedData {
        inner: TwoMoons::new(200, 16, 1),
        calls: calls.clone(),
    };
    trainer.fit(module, &mut data, None).unwrap();
    let got = std::mem::take(&mut *calls.lock().unwrap());
    let at = got
        .iter()
        .position(|c| c == "configure_optimizers")
        .expect("configure_optimizers ran");
    // ceil(5 / 2) optimizer steps per epoch, two epochs.
    assert_eq!(
        got[at + 1..at + 3],
        [
            "DataModule.train_dataloader",
            "estimated_stepping_batches=6"
        ]
    );
    assert_eq!(
        got.iter()
            .filter(|c| *c == "DataModule.train_dataloader")
            .count(),
        1,
        "the loop reuses the loader loaded for the estimate: {got:?}"
    );
    assert_eq!(trainer.progress().global_step, 6);
}

#[test]
fn on_resume_callbacks_see_the_checkpoint_after_the_module_weights_are_loaded() {
    let dir = common::temp_dir("hooks-resume");
    let calls: Calls = Arc::default();
    let mut config = common::quiet_config(&dir);
    config.max_epochs = Some(1);
    config.limit_train_batches = burn_lightning::trainer::Limit::Batches(2);
    config.limit_val_batches = burn_lightning::trainer::Limit::Batches(0);
    config.gradient_clip_val = Some(1.0);
    config.logger = false.into();
    let hooked = |inner| Hooked {
        inner,
        calls: calls.clone(),
        manual: false,
        ask_steps: false,
    };
    let mut data = HookedData {
        inner: TwoMoons::new(200, 16, 1),
        calls: calls.clone(),
    };
    let mut trainer = Trainer::new(config.clone())
        .seed(1)
        .callback(HookedCallback(calls.clone()))
        .callback(ModelCheckpoint::new(dir.join("ck")));
    let trained = trainer
        .fit(hooked(common::seeded_mlp(8)), &mut data, None)
        .unwrap();
    let last = trainer.last_checkpoint_path().unwrap().to_path_buf();
    calls.lock().unwrap().clear();

    config.max_epochs = Some(2);
    let mut trainer = Trainer::new(config)
        .seed(1)
        .callback(HookedCallback(calls.clone()))
        .callback(ModelCheckpoint::new(dir.join("ck2")));
    trainer
        .fit(hooked(trained.inner), &mut data, last.to_str())
        .unwrap();
    let got = std::mem::take(&mut *calls.lock().unwrap());
    let at = got
        .iter()
        .position(|c| c == "on_load_checkpoint")
        .expect("the module's on_load_checkpoint ran");
    // Lightning's `_checkpoint_connector`: the module's `on_load_checkpoint` before
    // `configure_model`; the callbacks' after the weights are restored (so that a callback can
    // put weights of its own into the module), before the optimizers exist.
    assert_eq!(
        got[at..at + 4],
        [
            "on_load_checkpoint",
            "configure_model",
            "Callback.on_load_checkpoint",
            "configure_optimizers"
        ]
    );
}
