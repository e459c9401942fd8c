//! Callbacks and loggers from the config (`trainer.callbacks`, `trainer.logger`), as
//! LightningCLI takes them: the three entry forms, errors at the line with the nearest valid
//! name, and a run whose callbacks and loggers came from YAML alone.

mod common;

use std::path::Path;

use burn_lightning::Trainer;
use burn_lightning::TrainerConfig;
use burn_lightning::callbacks::register_callback;
use burn_lightning::config::{ExperimentConfig, LoggerSetting, parse_config};
use common::mlp::{Mlp, TwoMoons};
use serde_json::Value;

/// `trainer:` section `text`, read as a config file at `dir/config.yaml`.
fn trainer_config(dir: &Path, text: &str) -> anyhow::Result<TrainerConfig> {
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    parse_config::<TrainerConfig>(text, &path, &[]).map(|(c, _)| c)
}

#[test]
fn entries_in_every_form_are_completed_with_lightnings_defaults() {
    let dir = common::temp_dir("components-forms");
    let c = trainer_config(
        &dir,
        "callbacks:
  - EarlyStopping: {monitor: val_loss, patience: 5}
  - class_path: lightning.pytorch.callbacks.ModelCheckpoint
    init_args:
      monitor: val_loss
      save_top_k: 2
  - LearningRateMonitor
logger:
  - CSVLogger: {name: csv_runs}
  - class_path: TensorBoardLogger
",
    )
    .unwrap();
    let names: Vec<&str> = c.callbacks.iter().map(|s| s.class_path.as_str()).collect();
    assert_eq!(
        names,
        ["EarlyStopping", "ModelCheckpoint", "LearningRateMonitor"]
    );
    assert_eq!(c.callbacks[0].init_args["patience"], 5);
    assert_eq!(c.callbacks[0].init_args["mode"], "min");
    assert_eq!(c.callbacks[1].init_args["save_top_k"], 2);
    assert_eq!(c.callbacks[1].init_args["every_n_epochs"], 1);
    assert_eq!(c.logger.to_string(), "[CSVLogger, TensorBoardLogger]");
    assert_eq!(
        trainer_config(&dir, "logger: false\n").unwrap().logger,
        LoggerSetting::Enabled(false)
    );
}

#[test]
fn unknown_names_and_arguments_are_errors_at_their_line_with_the_nearest_valid_one() {
    let dir = common::temp_dir("components-errors");
    let cases = [
        (
            "max_epochs: 2\ncallbacks:\n  - EarlyStoping: {monitor: val_loss}\n",
            ":3",
            "did you mean `EarlyStopping`?",
        ),
        (
            "callbacks:\n  - EarlyStopping: {monitor: val_loss, patiense: 2}\n",
            ":2",
            "did you mean `patience`?",
        ),
        (
            "callbacks:\n  - ModelCheckpoint:\n      save_top_k: many\n",
            ":2",
            "ModelCheckpoint: invalid type: string \"many\", expected i64",
        ),
        (
            "logger: TensorBord\n",
            ":1",
            "did you mean `TensorBoardLogger`?",
        ),
        (
            "logger:\n  - CSVLogger: {save_dri: logs}\n",
            ":2",
            "did you mean `save_dir`?",
        ),
        (
            "callbacks:\n  - EarlyStopping: {}\n",
            ":2",
            "missing field `monitor`",
        ),
    ];
    for (text, at, says) in cases {
        let e = format!("{:#}", trainer_config(&dir, text).unwrap_err());
        assert!(e.contains("config.yaml"), "{text}: {e}");
        assert!(e.contains(at), "{text}: expected {at} in: {e}");
        assert!(e.contains(says), "{text}: expected `{says}` in: {e}");
    }
}

#[test]
fn a_run_takes_its_callbacks_and_loggers_from_the_config() {
    let dir = common::temp_dir("components-run");
    let mut config = trainer_config(
        &dir,
        "max_epochs: 30
limit_val_batches: 2
callbacks:
  # min_delta larger than any change: no epoch improves, so patience 1 stops at epoch 2.
  - EarlyStopping: {monitor: val_loss, patience: 1, min_delta: 100.0}
  - ModelCheckpoint: {monitor: val_acc, mode: max, save_top_k: 1, filename: 'best-{epoch}'}
logger:
  - CSVLogger: {name: from_yaml}
",
    )
    .unwrap();
    config.accelerator = burn_lightning::trainer::Accelerator::Cpu;
    config.default_root_dir = dir.clone();
    config.enable_progress_bar = false;
    config.enable_model_summary = false;
    let mut trainer = Trainer::new(config.clone());
    trainer
        .fit(common::seeded_mlp(8), &mut TwoMoons::new(200, 20, 5), None)
        .unwrap();
    // Epoch 0 sets the best value, epoch 1 does not improve on it: two epochs of thirty.
    assert_eq!(
        trainer.progress().epoch,
        2,
        "EarlyStopping from the config stopped after its patience"
    );
    let run = dir.join("from_yaml/version_0");
    assert_eq!(trainer.log_dir(), Some(run.as_path()));
    assert!(run.join("metrics.csv").is_file(), "the CSV logger wrote");
    let files = test_support::tree(&run);
    assert!(
        !files.iter().any(|f| f.starts_with("events.out.tfevents")),
        "no TensorBoard logger was configured: {files:?}"
    );
    let best = trainer.best_checkpoint_path().expect("a best checkpoint");
    assert!(best.starts_with(run.join("checkpoints")), "{best:?}");
    assert!(best.to_string_lossy().contains("best-epoch="), "{best:?}");
    // The configured ModelCheckpoint replaces the Trainer's own: one best file, and the
    // `last.ckpt` that both write.
    let written = test_support::tree(&run.join("checkpoints"));
    assert_eq!(written.len(), 2, "{written:?}");
    assert_eq!(written[1], "last.ckpt", "{written:?}");
    // A later process with this config finds `last` and `best` where the config put them,
    // not in another experiment under the same root, even a newer one.
    let decoy = dir.join("lightning_logs/version_9/checkpoints");
    std::fs::create_dir_all(&decoy).unwrap();
    std::fs::copy(run.join("checkpoints/last.ckpt"), decoy.join("last.ckpt")).unwrap();
    let later = Trainer::new(config.clone());
    assert_eq!(
        later.resolve_checkpoint("last").unwrap(),
        run.join("checkpoints/last.ckpt")
    );
    assert_eq!(later.resolve_checkpoint("best").unwrap(), best);
    // fast_dev_run writes no checkpoint, the configured ModelCheckpoint's included.
    let fast_root = dir.join("fast");
    config.default_root_dir = fast_root.clone();
    config.fast_dev_run = serde_json::from_value(serde_json::json!(true)).unwrap();
    Trainer::new(config)
        .fit(Mlp::new(8), &mut TwoMoons::new(200, 20, 5), None)
        .unwrap();
    std::fs::create_dir_all(&fast_root).unwrap();
    let ckpts: Vec<_> = test_support::tree(&fast_root)
        .into_iter()
        .filter(|p| p.ends_with(".ckpt"))
        .collect();
    assert!(ckpts.is_empty(), "{ckpts:?}");
}

#[test]
fn contradictions_with_the_trainer_switches_are_refused() {
    let dir = common::temp_dir("components-contradiction");
    let mut config = trainer_config(
        &dir,
        "enable_checkpointing: false\ncallbacks:\n  - ModelCheckpoint\n",
    )
    .unwrap();
    config.default_root_dir = dir.clone();
    config.accelerator = burn_lightning::trainer::Accelerator::Cpu;
    let e = Trainer::new(config)
        .fit(Mlp::new(4), &mut TwoMoons::new(40, 20, 5), None)
        .unwrap_err();
    assert!(
        format!("{e:#}").contains(
            "trainer.callbacks[0] is a ModelCheckpoint but trainer.enable_checkpointing is false"
        ),
        "{e:#}"
    );
}

/// A user's callback: stops training after `epochs` epochs.
struct StopAfterEpochs(usize);

impl burn_lightning::Callback for StopAfterEpochs {
    fn state_key(&self) -> String {
        "StopAfterEpochs".into()
    }
    fn on_train_epoch_end(
        &mut self,
        _module: &mut burn_lightning::ModuleHandle<'_>,
        cx: &mut burn_lightning::HookContext,
    ) -> anyhow::Result<()> {
        if cx.current_epoch() + 1 >= self.0 {
            cx.request_stop();
        }
        Ok(())
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StopAfterArgs {
    #[serde(default = "one")]
    epochs: usize,
}

fn one() -> usize {
    1
}

#[test]
fn a_registered_callback_is_named_in_the_config_runs_and_prints_back() {
    register_callback("StopAfterEpochs", |a: StopAfterArgs| {
        Ok(StopAfterEpochs(a.epochs))
    });
    let dir = common::temp_dir("components-registered");
    let text = "dataset: {name: moons, params: {}}
model: {name: mlp, params: {}}
trainer:
  callbacks:
    - StopAfterEpochs
";
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    let config = ExperimentConfig::<Value, Value>::load(&path, &[]).unwrap();
    assert_eq!(config.trainer.callbacks[0].init_args["epochs"], 1);
    // --print-config's output reads back to the same config.
    let printed = config.to_yaml().unwrap();
    assert!(printed.contains("class_path: StopAfterEpochs"), "{printed}");
    let again_path = dir.join("printed.yaml");
    std::fs::write(&again_path, &printed).unwrap();
    let again = ExperimentConfig::<Value, Value>::load(&again_path, &[]).unwrap();
    assert_eq!(again, config);
    // And it runs: two epochs of thirty.
    let mut trainer_config = common::quiet_config(&dir);
    trainer_config.max_epochs = Some(30);
    trainer_config.callbacks =
        parse_config::<TrainerConfig>("callbacks: [StopAfterEpochs: {epochs: 2}]", &path, &[])
            .unwrap()
            .0
            .callbacks;
    let mut trainer = Trainer::new(trainer_config);
    trainer
        .fit(Mlp::new(4), &mut TwoMoons::new(40, 20, 5), None)
        .unwrap();
    assert_eq!(trainer.progress().epoch, 2);
}

#[test]
fn a_gradient_accumulation_schedule_changes_the_steps_per_epoch() {
    let dir = common::temp_dir("components-accumulation");
    let text = "max_epochs: 3\ncallbacks:\n  - GradientAccumulationScheduler: {scheduling: {0: 4, 2: 2}}\n";
    let mut config = trainer_config(&dir, text).unwrap();
    config.accelerator = burn_lightning::trainer::Accelerator::Cpu;
    config.default_root_dir = dir.clone();
    config.enable_progress_bar = false;
    config.enable_model_summary = false;
    config.logger = false.into();
    let mut trainer = Trainer::new(config.clone());
    // 160 training examples, batch 20: 8 batches per epoch, accumulated 4, 4, then 2.
    trainer
        .fit(Mlp::new(4), &mut TwoMoons::new(200, 20, 5), None)
        .unwrap();
    assert_eq!(trainer.progress().global_step, 2 + 2 + 4);

    // As Lightning: a schedule beside a fixed accumulate_grad_batches is refused.
    config.accumulate_grad_batches = 2;
    let e = Trainer::new(config)
        .fit(Mlp::new(4), &mut TwoMoons::new(200, 20, 5), None)
        .unwrap_err();
    assert!(
        format!("{e:#}").contains("trainer.accumulate_grad_batches is 2 and a callback"),
        "{e:#}"
    );
}

#[test]
fn weights_only_checkpoints_hold_the_module_alone_evaluate_and_refuse_to_resume() {
    let dir = common::temp_dir("components-weights-only");
    let text = "max_epochs: 2\nlimit_val_batches: 2\nlogger: false\ncallbacks:\n  - ModelCheckpoint: {dirpath: ckpts, save_weights_only: true, save_top_k: -1}\n";
    let mut config = trainer_config(&dir, text).unwrap();
    config.accelerator = burn_lightning::trainer::Accelerator::Cpu;
    config.enable_progress_bar = false;
    config.enable_model_summary = false;
    let ckpts = dir.join("ckpts");
    config.callbacks[0].init_args["dirpath"] = ckpts.to_string_lossy().into_owned().into();
    let mut trainer = Trainer::new(config.clone());
    let module = trainer
        .fit(common::seeded_mlp(8), &mut TwoMoons::new(200, 20, 5), None)
        .unwrap();
    let last = ckpts.join("last.ckpt");
    let ck = burn_lightning::checkpoint::Checkpoint::load(&last).unwrap();
    assert!(ck.state.weights_only);
    assert!(ck.state.callbacks.is_empty(), "no callback state");
    assert!(
        ck.section("optimizer.0", &last, "optimizer").is_err(),
        "no optimizer state"
    );
    assert_eq!(ck.state.progress.global_step, 16);
    // The weights evaluate to what the trained module gives.
    let mut eval = Trainer::new(common::quiet_config(&dir));
    eval.validate(
        Mlp::new(8),
        &mut TwoMoons::new(200, 20, 5),
        Some(last.to_str().unwrap()),
    )
    .unwrap();
    let from_file = eval.callback_metrics()["val_loss"];
    let mut eval = Trainer::new(common::quiet_config(&dir));
    eval.validate(module, &mut TwoMoons::new(200, 20, 5), None)
        .unwrap();
    assert_eq!(from_file, eval.callback_metrics()["val_loss"]);
    // Resuming needs the optimizer state it does not have.
    let e = Trainer::new(config)
        .fit(
            Mlp::new(8),
            &mut TwoMoons::new(200, 20, 5),
            Some(last.to_str().unwrap()),
        )
        .unwrap_err();
    assert!(
        format!("{e:#}").contains("holds the module's weights alone"),
        "{e:#}"
    );
}

/// Sleeps after every training batch, so that a batch takes at least `ms` milliseconds.
struct SlowBatches(u64);

impl burn_lightning::Callback for SlowBatches {
    fn state_key(&self) -> String {
        "SlowBatches".into()
    }
    fn on_train_batch_end(
        &mut self,
        _module: &mut burn_lightning::ModuleHandle<'_>,
        _loss: &burn::prelude::Tensor<1>,
        _batch_idx: usize,
        _cx: &mut burn_lightning::HookContext,
    ) -> anyhow::Result<()> {
        std::thread::sleep(std::time::Duration::from_millis(self.0));
        Ok(())
    }
}

#[test]
fn a_train_time_interval_saves_within_epochs_instead_of_at_their_ends() {
    let dir = common::temp_dir("components-time-interval");
    let mut config = common::quiet_config(&dir);
    config.max_epochs = Some(2);
    config.logger = false.into();
    let ckpts = dir.join("ckpts");
    let checkpoint = burn_lightning::callbacks::ModelCheckpoint::new(&ckpts)
        .filename("{step}")
        .save_top_k(-1)
        .train_time_interval(std::time::Duration::from_millis(50));
    // 8 batches per epoch of at least 20 ms: 320 ms in all, a save every 50 ms or more.
    let mut trainer = Trainer::new(config)
        .callback(SlowBatches(20))
        .callback(checkpoint);
    trainer
        .fit(Mlp::new(4), &mut TwoMoons::new(200, 20, 5), None)
        .unwrap();
    let mut saved = test_support::tree(&ckpts);
    // `last.ckpt` is written at every epoch end whatever the trigger: it ends where training did.
    let last = burn_lightning::checkpoint::Checkpoint::load(&ckpts.join("last.ckpt")).unwrap();
    assert_eq!(last.state.progress.global_step, 16);
    saved.retain(|f| f != "last.ckpt");
    assert!(saved.len() >= 2 && saved.len() <= 16, "{saved:?}");
    let steps: Vec<usize> = saved
        .iter()
        .map(|f| {
            f.trim_start_matches("step=")
                .trim_end_matches(".ckpt")
                .parse()
                .unwrap()
        })
        .collect();
    assert!(
        steps.iter().any(|s| s % 8 != 0),
        "saves happen inside epochs, not only at their ends: {steps:?}"
    );
    // Lightning's rule: one trigger within the epoch; refused at the config's line.
    let e = trainer_config(
        &dir,
        "callbacks:\n  - ModelCheckpoint: {every_n_train_steps: 2, train_time_interval: '00:00:01:00'}\n",
    )
    .unwrap_err();
    let e = format!("{e:#}");
    assert!(e.contains("config.yaml:2"), "{e}");
    assert!(format!("{e:#}").contains("mutually exclusive"), "{e:#}");
}
