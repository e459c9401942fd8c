//! The [`Trainer`]: runs a [`LightningModule`] on a [`LightningDataModule`] through `fit`,
//! `validate`, `test` and `predict`.
//!
//! The x-axis of every logged metric is `global_step`, the number of optimizer steps taken
//! (with `accumulate_grad_batches = k` it advances once every k batches).

mod determinism;
mod from_config;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use serde_json::Value;

pub use crate::config::trainer::{
    Accelerator, Devices, FastDevRun, Limit, Precision, Strategy, TrainerConfig, parse_duration,
};
pub use crate::grad_scaler::GradScaler;
pub use crate::precision::all_parameters_are;
pub use crate::progress::Progress;
pub use crate::stage::{RunningStage, Stage};
pub use determinism::deterministic_notice;

use crate::callbacks::{Callback, ModelCheckpoint, ModelSummary, ProgressBar, build_callback};
use crate::checkpoint::Checkpoint;
use crate::context::HookContext;
use crate::datamodule::LightningDataModule;
use crate::loggers::{BuiltLoggers, Logger, LoggerConfig, build_loggers};
use crate::loops::evaluation_loop::{run_evaluation, run_predict};
use crate::loops::fit_loop;
use crate::loops::run::{Run, RunOutcome};
use crate::module::LightningModule;
use crate::strategy::{Launcher, ThreadLauncher};

/// Lightning's Trainer. Build it from a [`TrainerConfig`], add callbacks, call `fit`.
///
/// ```no_run
/// # use burn_lightning::{Trainer, TrainerConfig};
/// let mut config = TrainerConfig::default();
/// config.max_epochs = Some(3);
/// let trainer = Trainer::new(config).seed(42);
/// ```
pub struct Trainer {
    config: TrainerConfig,
    callbacks: Vec<Box<dyn Callback>>,
    extra_loggers: Vec<Box<dyn Logger>>,
    /// Whether `config.callbacks` have been built into `callbacks` (at the first call).
    built_config_callbacks: bool,
    seed: Option<u64>,
    hparams: Value,
    /// What the last `fit`/`validate`/`test`/`predict` returned (moved out of its run).
    last_run: RunOutcome,
}

impl Trainer {
    /// A Trainer with these options (deprecated keys are migrated with a notice on stderr).
    /// With `retain_freed_memory` on, tunes the process allocator to reuse freed buffers (see
    /// [`crate::allocator`]); off (the default), the process's allocator settings are left as
    /// the embedding program set them.
    pub fn new(mut config: TrainerConfig) -> Self {
        if config.retain_freed_memory {
            crate::allocator::retain_freed_memory();
        }
        for notice in config.migrate_deprecated() {
            eprintln!("notice: {notice}");
        }
        Self {
            config,
            callbacks: Vec::new(),
            extra_loggers: Vec::new(),
            built_config_callbacks: false,
            seed: None,
            hparams: Value::Null,
            last_run: RunOutcome::default(),
        }
    }

    /// Seeds sampler order and the backend RNG (Lightning's `seed_everything`).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
    /// Adds a callback.
    pub fn callback(mut self, callback: impl Callback + 'static) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }
    /// Adds a boxed callback.
    pub fn add_callback(&mut self, callback: Box<dyn Callback>) {
        self.callbacks.push(callback);
    }
    /// Adds a logger beside the default TensorBoard and CSV loggers.
    pub fn logger(mut self, logger: impl Logger + 'static) -> Self {
        self.extra_loggers.push(Box::new(logger));
        self
    }
    /// The resolved configuration to save as `hparams.yaml` and in checkpoints.
    pub fn hparams(mut self, hparams: Value) -> Self {
        self.hparams = hparams;
        self
    }
    /// The options.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }
    /// The run directory of the last call (`<root>/lightning_logs/version_N`).
    pub fn log_dir(&self) -> Option<&Path> {
        self.last_run.log_dir.as_deref()
    }
    /// Latest value of every logged key after the last call.
    pub fn callback_metrics(&self) -> &BTreeMap<String, f64> {
        &self.last_run.callback_metrics
    }
    /// The checkpoint written last.
    pub fn last_checkpoint_path(&self) -> Option<&Path> {
        self.last_run.checkpoints.last.as_deref()
    }
    /// The best checkpoint according to `ModelCheckpoint`.
    pub fn best_checkpoint_path(&self) -> Option<&Path> {
        self.last_run.checkpoints.best.as_deref()
    }
    /// Loop counters at the end of the last `fit`.
    pub fn progress(&self) -> &Progress {
        &self.last_run.progress
    }

    /// Builds `config.callbacks` into the Trainer's callbacks, once per Trainer (as Lightning's
    /// `callbacks=` argument): they keep their state from one call to the next.
    fn build_config_callbacks(&mut self) -> Result<()> {
        if self.built_config_callbacks {
            return Ok(());
        }
        let mut configured = Vec::with_capacity(self.config.callbacks.len());
        for (i, spec) in self.config.callbacks.iter().enumerate() {
            // Lightning refuses these contradictions rather than dropping the callback.
            let switched_off = match spec.class_path.as_str() {
                "ModelCheckpoint" => {
                    (!self.config.enable_checkpointing).then_some("trainer.enable_checkpointing")
                }
                "TQDMProgressBar" => {
                    (!self.config.enable_progress_bar).then_some("trainer.enable_progress_bar")
                }
                _ => None,
            };
            if let Some(switch) = switched_off {
                bail!(
                    "trainer.callbacks[{i}] is a {} but {switch} is false: remove one of the two",
                    spec.class_path
                );
            }
            configured.push(
                build_callback(&spec.class_path, &spec.init_args)
                    .with_context(|| format!("trainer.callbacks[{i}]"))?,
            );
        }
        configured.append(&mut self.callbacks);
        self.callbacks = configured;
        self.built_config_callbacks = true;
        Ok(())
    }

    fn start_run(&mut self, module_callbacks: Vec<Box<dyn Callback>>, stage: Stage) -> Result<Run> {
        self.config.validate()?;
        let world = self.config.world_size()?;
        if stage != Stage::Fit && world > 1 {
            // As Lightning advises for evaluation: sharding would pad the data and repeat
            // examples, so every example is seen exactly once on one device.
            eprintln!(
                "notice: trainer.devices asks for {world} ranks; {stage} runs on the first device alone, so that every example counts exactly once"
            );
        }
        if stage == Stage::Fit
            && let Some(notice) = deterministic_notice(&self.config, self.seed.is_some())
        {
            eprintln!("notice: {notice}");
        }
        let device = self.stage_device(self.config.device()?, stage)?;
        let mut cx = HookContext::new(device);
        cx.position.trainer_fn = stage;
        let fast = self.config.fast_dev_run.batches().is_some();
        cx.limits.fast_dev_run = fast;
        self.build_config_callbacks()?;
        // Everything that may fail before the callbacks are taken out of the Trainer, so that
        // an error leaves them in place for a retry.
        let mut loggers: Vec<Box<dyn Logger>> = Vec::new();
        if !fast {
            let BuiltLoggers {
                loggers: built,
                dirs,
            } = build_loggers(&self.config.logger.specs(), &self.config.default_root_dir)
                .context("trainer.logger")?;
            loggers.extend(built);
            if !self.hparams.is_null() {
                let yaml = serde_saphyr::to_string(&self.hparams).context("serialising hparams")?;
                let mut written: Vec<&PathBuf> = Vec::new();
                for dir in &dirs {
                    if !written.contains(&dir) {
                        crate::fs::atomic_write(&dir.join("hparams.yaml"), yaml.as_bytes())?;
                        written.push(dir);
                    }
                }
            }
            cx.logging.log_dir = dirs.into_iter().next();
        }
        loggers.append(&mut self.extra_loggers);
        for logger in loggers.iter_mut() {
            if !self.hparams.is_null() {
                logger.log_hyperparams(&self.hparams)?;
            }
        }
        // The module's callbacks obey the run's switches, as Lightning's do (fast_dev_run
        // saves nothing), and replace the Trainer's of their types (Lightning's
        // `configure_callbacks`: from the config, or left from an earlier `fit`); several of
        // one type from the module all stay.
        let mut from_module = Vec::new();
        for callback in module_callbacks {
            let checkpointing = callback.state_key().starts_with("ModelCheckpoint");
            if checkpointing && !self.config.enable_checkpointing {
                eprintln!(
                    "notice: trainer.enable_checkpointing is false: the module's {} is not used",
                    callback.state_key()
                );
            } else if !(checkpointing && fast) {
                from_module.push(callback);
            }
        }
        let replaced: Vec<String> = from_module
            .iter()
            .map(|c| callback_kind(&c.state_key()).to_string())
            .collect();
        let mut callbacks: Vec<Box<dyn Callback>> = std::mem::take(&mut self.callbacks);
        callbacks.retain(|c| !replaced.iter().any(|k| k == callback_kind(&c.state_key())));
        callbacks.extend(from_module);
        if stage == Stage::Fit {
            let has_checkpoint = callbacks
                .iter()
                .any(|c| c.state_key().starts_with("ModelCheckpoint"));
            if self.config.enable_checkpointing && !has_checkpoint && !fast {
                let dir = cx
                    .logging
                    .log_dir
                    .clone()
                    .unwrap_or_else(|| self.config.default_root_dir.clone())
                    .join("checkpoints");
                callbacks.push(Box::new(ModelCheckpoint::new(dir)));
            }
            if self.config.enable_model_summary
                && !callbacks.iter().any(|c| c.state_key() == "ModelSummary")
            {
                callbacks.push(Box::new(ModelSummary::default()));
            }
        }
        if self.config.enable_progress_bar
            && !callbacks.iter().any(|c| c.state_key() == "ProgressBar")
        {
            callbacks.push(Box::new(ProgressBar::default()));
        }
        let mut keys: Vec<String> = callbacks.iter().map(|c| c.state_key()).collect();
        keys.sort();
        if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
            let key = w[0].clone();
            self.callbacks = callbacks;
            bail!("two callbacks share the state key `{key}`; give one of them a distinct name");
        }
        // Without a logger the run's directory is the root (Lightning's `trainer.log_dir`):
        // a ModelCheckpoint without `dirpath` writes `<root>/checkpoints`.
        let run_dir =
            (cx.logging.log_dir.clone()).unwrap_or_else(|| self.config.default_root_dir.clone());
        for cb in callbacks.iter_mut() {
            cb.set_log_dir(&run_dir);
        }
        Ok(Run::new(
            self.config.clone(),
            cx,
            self.seed,
            self.hparams.clone(),
            callbacks,
            loggers,
        ))
    }

    /// `device` as `stage` runs on it: the precision's float type, and autodiff (with gradient
    /// checkpointing when asked) for `fit`.
    fn stage_device(&self, mut device: Device, stage: Stage) -> Result<Device> {
        self.config.precision.configure(&mut device)?;
        Ok(if stage != Stage::Fit {
            device
        } else if self.config.gradient_checkpointing {
            device.autodiff().gradient_checkpointing()
        } else {
            device.autodiff()
        })
    }

    fn finish_run<T>(&mut self, mut run: Run, result: Result<T>) -> Result<T> {
        let result = match result {
            Ok(value) => run
                .loggers
                .iter_mut()
                .try_for_each(|logger| logger.finalize("success"))
                .map(|()| value),
            Err(e) => Err(run.fail(e)),
        };
        self.last_run = run.take_outcome();
        // Callbacks come back so a second call (e.g. test after fit, or a retry after an
        // error) sees them and their state.
        self.callbacks = run.callbacks;
        result
    }

    /// Resolves `last`, `best` or a path to an existing checkpoint file. `last` and `best` from
    /// an earlier process are looked up where this config writes checkpoints, and nowhere else
    /// (another experiment under the same root must not be picked up): every configured
    /// logger's `save_dir/name/*/checkpoints` (the default `<root>/lightning_logs`),
    /// `<root>/checkpoints` without a logger, and each configured ModelCheckpoint's `dirpath`.
    pub fn resolve_checkpoint(&self, ckpt_path: &str) -> Result<PathBuf> {
        let (dirs, places) = self.checkpoint_dirs();
        let searched = || places.join(", ");
        let path = match ckpt_path {
            "last" => self
                .last_run
                .checkpoints
                .last
                .clone()
                .or_else(|| newest_checkpoint(&dirs, "last.ckpt"))
                .with_context(|| format!("ckpt_path=last: no last.ckpt in {}", searched()))?,
            "best" => {
                match &self.last_run.checkpoints.best {
                    Some(p) => p.clone(),
                    None => {
                        let last = newest_checkpoint(&dirs, "last.ckpt").with_context(|| format!("ckpt_path=best: no last.ckpt to find the best checkpoint from in {}", searched()))?;
                        let ck = Checkpoint::load(&last)?;
                        let best = ck
                            .state
                            .callbacks
                            .iter()
                            .find(|(k, _)| k.starts_with("ModelCheckpoint"))
                            .and_then(|(_, v)| v.get("best_model_path"))
                            .and_then(Value::as_str)
                            .filter(|s| !s.is_empty());
                        let why = if ck.state.weights_only {
                            "it was written with save_weights_only, which keeps no callback state"
                        } else {
                            "was a metric monitored?"
                        };
                        PathBuf::from(best.with_context(|| {
                            format!(
                                "ckpt_path=best: {} records no best model ({why})",
                                last.display()
                            )
                        })?)
                    }
                }
            }
            other => PathBuf::from(other),
        };
        if !path.is_file() {
            bail!("checkpoint {} does not exist", path.display());
        }
        Ok(path)
    }

    /// The directories checkpoints of this config land in (see
    /// [`resolve_checkpoint`](Self::resolve_checkpoint)), and those places as an error names
    /// them (`<save_dir>/<name>/*/checkpoints`).
    fn checkpoint_dirs(&self) -> (Vec<PathBuf>, Vec<String>) {
        let root = &self.config.default_root_dir;
        let mut experiments: Vec<PathBuf> = Vec::new();
        for (class_path, args) in self.config.logger.specs() {
            // Entries were checked when the config was read; one that no longer resolves has
            // no directory to search.
            let Ok((_, logger)) = LoggerConfig::resolve(&class_path, &args) else {
                continue;
            };
            let experiment = logger.experiment_dir(root);
            if !experiments.contains(&experiment) {
                experiments.push(experiment);
            }
        }
        let mut places: Vec<String> = experiments
            .iter()
            .map(|e| format!("{}/*/checkpoints", e.display()))
            .collect();
        let mut dirs: Vec<PathBuf> = experiments
            .iter()
            .filter_map(|e| std::fs::read_dir(e).ok())
            .flat_map(|entries| entries.flatten().map(|e| e.path().join("checkpoints")))
            .collect();
        let configured = (self.config.callbacks.iter())
            .filter(|s| s.class_path == "ModelCheckpoint")
            .filter_map(|s| s.init_args.get("dirpath").and_then(Value::as_str))
            .map(PathBuf::from);
        // Without a logger, the Trainer's own ModelCheckpoint writes under the root.
        let unlogged = (!self.config.logger.is_enabled()).then(|| root.join("checkpoints"));
        for dir in unlogged.into_iter().chain(configured) {
            places.push(dir.display().to_string());
            dirs.push(dir);
        }
        (dirs, places)
    }

    /// Trains `module` on `datamodule`, resuming from `ckpt_path` (`None`, a path, `last` or `best`).
    pub fn fit<M, D>(
        &mut self,
        mut module: M,
        datamodule: &mut D,
        ckpt_path: Option<&str>,
    ) -> Result<M>
    where
        M: LightningModule,
        D: LightningDataModule<Batch = M::Batch> + ?Sized,
    {
        let checkpoint = match ckpt_path {
            Some(p) => {
                let path = self.resolve_checkpoint(p)?;
                let ck = Checkpoint::load(&path)?;
                // Before anything runs or a run directory is claimed.
                ck.ensure_resumable(&path)?;
                Some((path, ck))
            }
            None => None,
        };
        let launcher = self.launcher()?;
        // Built before the check below, which must see them.
        self.build_config_callbacks()?;
        let module_callbacks = module.configure_callbacks();
        if launcher.world_size() > 1
            && let Some(cb) = (self.callbacks.iter())
                .chain(&module_callbacks)
                .find(|c| c.changes_module())
        {
            bail!(
                "callback `{}` changes the module's weights or learning rates, and under trainer.devices > 1 callbacks run on rank 0 alone (the other replicas would drift apart): train on one device with it, or remove it",
                cb.state_key()
            );
        }
        let mut run = self.start_run(module_callbacks, Stage::Fit)?;
        let mut replicas: Vec<M> = (1..launcher.world_size()).map(|_| module.clone()).collect();
        // The other ranks' runs: the Trainer's options, no callbacks or loggers.
        let (config, seed) = (self.config.clone(), self.seed);
        let result = launcher.launch(
            datamodule,
            |strategy, data| {
                run.cx.strategy = strategy;
                let trained = fit_loop::fit(&mut run, module, data, resume_point(&checkpoint))?;
                run.cx.take_collective_error()?;
                Ok(trained)
            },
            |_rank, device, strategy| {
                let mut cx = HookContext::new(device);
                cx.strategy = strategy;
                let mut run = Run::new(
                    config.clone(),
                    cx,
                    seed,
                    Value::Null,
                    Vec::new(),
                    Vec::new(),
                );
                let replica = replicas.pop().expect("one replica per follower");
                let (path, resumed) = checkpoint.clone().unzip();
                Box::new(move |data| {
                    fit_loop::fit(&mut run, replica, data, path.as_deref().zip(resumed))?;
                    run.cx.take_collective_error()
                })
            },
        );
        self.finish_run(run, result)
    }

    /// How the ranks of a fit start: one device, or a thread per device (`trainer.devices`).
    fn launcher(&self) -> Result<Launcher> {
        self.config.validate()?;
        if self.config.world_size()? == 1 {
            return Ok(Launcher::SingleDevice);
        }
        let devices = (self.config.rank_devices()?.into_iter())
            .map(|device| self.stage_device(device, Stage::Fit))
            .collect::<Result<Vec<_>>>()?;
        Ok(Launcher::DdpThreads(ThreadLauncher::new(
            devices,
            self.config.ddp_timeout()?,
            !self.config.backend_has_collective(),
        )))
    }

    fn evaluate<M, D>(
        &mut self,
        module: M,
        datamodule: &mut D,
        ckpt_path: Option<&str>,
        stage: Stage,
    ) -> Result<(M, BTreeMap<String, f64>)>
    where
        M: LightningModule,
        D: LightningDataModule<Batch = M::Batch> + ?Sized,
    {
        let mut module = module;
        let module_callbacks = module.configure_callbacks();
        // Resolved before the run starts: a bad path leaves no run directory behind.
        let ckpt = match ckpt_path {
            Some(p) => Some(self.resolve_checkpoint(p)?),
            None => None,
        };
        let mut run = self.start_run(module_callbacks, stage)?;
        let config = self.config.clone();
        let result = (|| -> Result<M> {
            module = setup_stage(&mut run, module, datamodule, stage, ckpt.as_deref())?;
            let fast = config.fast_dev_run.batches();
            let (loader, limit, running) = match stage {
                Stage::Test => {
                    let loader = datamodule.test_dataloader()?;
                    let limit = fast
                        .unwrap_or_else(|| config.limit_test_batches.apply(loader.num_batches()));
                    (loader, limit, RunningStage::Testing)
                }
                _ => {
                    let loader = datamodule
                        .val_dataloader()?
                        .context("validate: this datamodule has no val_dataloader")?;
                    let limit = fast
                        .unwrap_or_else(|| config.limit_val_batches.apply(loader.num_batches()));
                    (loader, limit, RunningStage::Validating)
                }
            };
            if loader.num_batches() == 0 {
                bail!(
                    "the {stage} dataloader yields no batches ({} examples)",
                    loader.dataset_len()
                );
            }
            let evaluated =
                run_evaluation(&mut run, module.clone(), None, &loader, limit, running)?;
            let mut evaluated = evaluated;
            run.call_hook(
                &mut evaluated,
                None,
                |c, m, cx| c.teardown(m, stage, cx),
                |m, cx| m.teardown(stage, cx),
            )?;
            datamodule.teardown(stage)?;
            Ok(evaluated)
        })();
        let evaluated = self.finish_run(run, result)?;
        Ok((evaluated, self.last_run.callback_metrics.clone()))
    }

    /// Runs the validation loop once; returns the metrics logged.
    pub fn validate<M, D>(
        &mut self,
        module: M,
        datamodule: &mut D,
        ckpt_path: Option<&str>,
    ) -> Result<BTreeMap<String, f64>>
    where
        M: LightningModule,
        D: LightningDataModule<Batch = M::Batch> + ?Sized,
    {
        self.evaluate(module, datamodule, ckpt_path, Stage::Validate)
            .map(|(_, m)| m)
    }

    /// Runs the test loop once; returns the metrics logged.
    pub fn test<M, D>(
        &mut self,
        module: M,
        datamodule: &mut D,
        ckpt_path: Option<&str>,
    ) -> Result<BTreeMap<String, f64>>
    where
        M: LightningModule,
        D: LightningDataModule<Batch = M::Batch> + ?Sized,
    {
        self.evaluate(module, datamodule, ckpt_path, Stage::Test)
            .map(|(_, m)| m)
    }

    /// Runs `predict_step` over the predict dataloader; returns one tensor per batch.
    pub fn predict<M, D>(
        &mut self,
        mut module: M,
        datamodule: &mut D,
        ckpt_path: Option<&str>,
    ) -> Result<Vec<Tensor<2>>>
    where
        M: LightningModule,
        D: LightningDataModule<Batch = M::Batch> + ?Sized,
    {
        let module_callbacks = module.configure_callbacks();
        let ckpt = match ckpt_path {
            Some(p) => Some(self.resolve_checkpoint(p)?),
            None => None,
        };
        let mut run = self.start_run(module_callbacks, Stage::Predict)?;
        let config = self.config.clone();
        let mut out = Vec::new();
        let result = (|| -> Result<()> {
            module = setup_stage(
                &mut run,
                module,
                datamodule,
                Stage::Predict,
                ckpt.as_deref(),
            )?;
            let loader = datamodule.predict_dataloader()?;
            module = module.on_predict_model_eval()?;
            let limit = config
                .fast_dev_run
                .batches()
                .unwrap_or_else(|| config.limit_predict_batches.apply(loader.num_batches()));
            out = run_predict(&mut run, &mut module, &loader, limit)?;
            run.call_hook(
                &mut module,
                None,
                |c, m, cx| c.teardown(m, Stage::Predict, cx),
                |m, cx| m.teardown(Stage::Predict, cx),
            )?;
            datamodule.teardown(Stage::Predict)?;
            Ok(())
        })();
        self.finish_run(run, result)?;
        Ok(out)
    }
}

/// The set-up of `validate`, `test` and `predict`: data and module `setup`, then the weights
/// of `ckpt` (with `on_load_checkpoint` before `configure_model`, as in fit).
fn setup_stage<M, D>(
    run: &mut Run,
    mut module: M,
    datamodule: &mut D,
    stage: Stage,
    ckpt: Option<&Path>,
) -> Result<M>
where
    M: LightningModule,
    D: LightningDataModule<Batch = M::Batch> + ?Sized,
{
    datamodule.prepare_data()?;
    module.prepare_data()?;
    datamodule.setup(stage)?;
    run.call_hook(
        &mut module,
        None,
        |c, m, cx| c.setup(m, stage, cx),
        |m, cx| m.setup(stage, cx),
    )?;
    let checkpoint = ckpt
        .map(|path| Checkpoint::load(path).map(|ck| (path, ck)))
        .transpose()?;
    if let Some((_, ck)) = &checkpoint {
        module.on_load_checkpoint(&ck.state)?;
        run.cx.position.progress = ck.state.progress.clone();
    }
    module.configure_model(&mut run.cx)?;
    module = module.fork(&run.cx.device);
    if let Some((path, ck)) = &checkpoint {
        module = ck.load_module(module, path)?;
        // As in fit: callbacks see the checkpoint after the module's weights are in.
        run.restore_callbacks(&mut module, ck, path, false)?;
    }
    Ok(module)
}

/// A callback's type from its state key (`ModelCheckpoint{monitor=val_loss}` → `ModelCheckpoint`).
fn callback_kind(state_key: &str) -> &str {
    state_key.split('{').next().unwrap_or(state_key)
}

/// The most recently modified `name` in any of `dirs`.
fn newest_checkpoint(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter()
        .map(|d| d.join(name))
        .filter(|p| p.is_file())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
}

/// Where a rank's fit resumes from: its own copy of the loaded checkpoint.
fn resume_point(checkpoint: &Option<(PathBuf, Checkpoint)>) -> Option<(&Path, Checkpoint)> {
    checkpoint.as_ref().map(|(p, c)| (p.as_path(), c.clone()))
}
