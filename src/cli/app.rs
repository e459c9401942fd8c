//! [`LightningApp`]: what an example tells the runner, and the default fit/validate/test/predict.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::args::CommonArgs;
use crate::config::{ExperimentConfig, Validate};
use crate::{LightningDataModule, LightningModule, Trainer};

/// An example binary: its settings, its module and datamodule, its own subcommands.
///
/// The runner owns everything else (argument parsing, config loading and overrides,
/// `--print-config`, rebuilding from a checkpoint). The stage methods have defaults that build
/// the module and datamodule, run the Trainer and print its metrics; an app overrides one where
/// its stage does more (k-fold training, writing predictions).
pub trait LightningApp: Sized + 'static {
    /// The binary's name, as users type it (shown in usage and errors).
    const NAME: &'static str;
    /// `--version` (the crate's `env!("CARGO_PKG_VERSION")`).
    const VERSION: &'static str;
    /// One line for `--help`.
    const ABOUT: &'static str;
    /// The config users start from (named when `-f` is missing).
    const EXAMPLE_CONFIG: &'static str;

    /// The whole config; also what checkpoints save as `hparams`, so it must round-trip. Its
    /// JSON schema (`#[derive(schemars::JsonSchema)]`) gives `--help` each key's doc comment.
    type Settings: Serialize + DeserializeOwned + Clone + schemars::JsonSchema;
    /// The LightningModule.
    type Module: LightningModule;
    /// Its datamodule.
    type Data: LightningDataModule<Batch = <Self::Module as LightningModule>::Batch>;
    /// Options of the app's own (`--output FILE`), flattened into every command.
    type Options: clap::Args + Clone + Debug;
    /// The app's own subcommands (`topics`, `export`, …).
    type Command: clap::Subcommand + Clone + Debug;

    /// Reads `path` with `overrides` applied and checks it; errors name the file and key.
    fn load_config(path: &Path, overrides: &[(String, String)]) -> Result<Self::Settings>;
    /// Checks settings that did not come from [`load_config`](Self::load_config) (a
    /// checkpoint's); `source` names where they came from.
    fn check(_settings: &Self::Settings, _source: &Path) -> Result<()> {
        Ok(())
    }
    /// Settings with every default, for the key listing of `--help`.
    fn default_settings() -> Self::Settings;
    /// The Trainer these settings describe; its hparams must be the full settings.
    fn trainer(settings: &Self::Settings) -> Result<Trainer>;
    /// The module and the datamodule, unprepared: the Trainer runs `prepare_data`/`setup`, and
    /// sizes that come from the data reach the module in `configure_model`.
    fn build(settings: &Self::Settings, source: &Path) -> Result<(Self::Module, Self::Data)>;

    /// `fit`: trains, then prints the metrics and the best checkpoint.
    fn fit(session: &Session<Self>) -> Result<()> {
        let (module, mut data) = session.build()?;
        let mut trainer = session.trainer()?;
        let module = trainer.fit(module, &mut data, session.ckpt_path())?;
        Self::after_fit(session, &trainer, &module)?;
        print_metrics("final metrics", trainer.callback_metrics());
        if let Some(best) = trainer.best_checkpoint_path() {
            println!("best checkpoint: {}", best.display());
        }
        Ok(())
    }
    /// What `fit` prints about the trained module before the metrics.
    fn after_fit(
        _session: &Session<Self>,
        _trainer: &Trainer,
        _module: &Self::Module,
    ) -> Result<()> {
        Ok(())
    }
    /// `validate`: one validation pass, then its metrics.
    fn validate(session: &Session<Self>) -> Result<()> {
        let (module, mut data) = session.build()?;
        let mut trainer = session.trainer()?;
        trainer.validate(module, &mut data, session.ckpt_path())?;
        print_metrics("validation", trainer.callback_metrics());
        Ok(())
    }
    /// `test`: one test pass, then its metrics.
    fn test(session: &Session<Self>) -> Result<()> {
        let (module, mut data) = session.build()?;
        let mut trainer = session.trainer()?;
        trainer.test(module, &mut data, session.ckpt_path())?;
        print_metrics("test", trainer.callback_metrics());
        Ok(())
    }
    /// `predict`: predictions, handed to [`write_predictions`](Self::write_predictions).
    fn predict(session: &Session<Self>) -> Result<()> {
        let (module, mut data) = session.build()?;
        let mut trainer = session.trainer()?;
        let outputs = trainer.predict(module, &mut data, session.ckpt_path())?;
        Self::write_predictions(session, &trainer, &outputs)
    }
    /// Where `predict`'s outputs go (default: a count on stdout).
    fn write_predictions(
        _session: &Session<Self>,
        _trainer: &Trainer,
        outputs: &[Tensor<2>],
    ) -> Result<()> {
        let rows: usize = outputs.iter().map(|t| t.dims()[0]).sum();
        println!("predictions for {rows} examples");
        Ok(())
    }
    /// Runs an app command that needs no settings (e.g. on a Hugging Face directory given as
    /// `--ckpt-path`): `Some` takes over before any config or checkpoint is read.
    fn without_settings(
        _command: &Self::Command,
        _args: &CommonArgs,
        _options: &Self::Options,
    ) -> Option<Result<()>> {
        None
    }
    /// Runs one of the app's own subcommands.
    fn run_command(session: &Session<Self>, command: &Self::Command) -> Result<()>;
}

/// One invocation: the resolved settings and the shared options.
#[derive(Debug, Clone)]
pub struct Session<A: LightningApp> {
    /// The resolved settings (config file or checkpoint, then overrides).
    pub settings: A::Settings,
    /// Where they came from: the config file, or the checkpoint.
    pub source: PathBuf,
    /// `--ckpt-path` as given (a path, `last` or `best`).
    pub ckpt_path: Option<String>,
    /// The app's own options.
    pub options: A::Options,
}

impl<A: LightningApp> Session<A> {
    /// `--ckpt-path`, as the Trainer takes it.
    pub fn ckpt_path(&self) -> Option<&str> {
        self.ckpt_path.as_deref()
    }
    /// The Trainer for these settings.
    pub fn trainer(&self) -> Result<Trainer> {
        A::trainer(&self.settings)
    }
    /// A fresh module and datamodule for these settings.
    pub fn build(&self) -> Result<(A::Module, A::Data)> {
        A::build(&self.settings, &self.source)
    }
}

/// An app without subcommands of its own.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum NoCommand {}

/// An app without options of its own.
#[derive(Debug, Clone, clap::Args)]
pub struct NoOptions {}

/// What an app's [`check`](LightningApp::check) does when its settings are an
/// [`ExperimentConfig`]: validates the model's and the dataset's params and the trainer
/// options (a checkpoint's settings skipped [`ExperimentConfig::load_checked`]); every error
/// names `source`.
pub fn check_experiment<M: Validate, D: Validate>(
    settings: &ExperimentConfig<M, D>,
    source: &Path,
) -> Result<()> {
    settings.validate_params(source)?;
    settings
        .trainer
        .validate()
        .with_context(|| format!("{}: invalid trainer settings", source.display()))
}

/// `title:` then one `  name  value` line per metric.
pub fn print_metrics(title: &str, metrics: &BTreeMap<String, f64>) {
    println!("{title}:");
    for (k, v) in metrics {
        println!("  {k:24} {v:.4}");
    }
}
