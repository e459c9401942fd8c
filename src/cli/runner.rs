//! Parsing, config loading and dispatch: what every example's `main` runs.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::{CommandFactory, FromArgMatches};
use serde_json::Value;

use super::app::{LightningApp, Session};
use super::args::{OVERRIDES_HELP, RunnerArgs, RunnerCommand, split_overrides};
use super::config_help::config_help;
use crate::checkpoint::Checkpoint;
use crate::config::{apply_override, blame, error_key, file_overrides};

/// A binary's whole `main`: runs the process's arguments; clap's usage errors exit with 2
/// (help and version with 0), every other error prints `error: …` and exits with 1.
pub fn main<A: LightningApp>() -> ExitCode {
    match run::<A>(std::env::args_os().collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<clap::Error>() {
            Some(clap_error) => clap_error.exit(),
            None => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Runs `args` (the program name first). A usage error, `--help` or `--version` comes back as
/// a [`clap::Error`] (which [`main`] prints and exits with).
pub fn run<A: LightningApp>(args: Vec<OsString>) -> Result<()> {
    let (rest, overrides) = split_overrides(args)?;
    let defaults = serde_json::to_value(A::default_settings()).unwrap_or(Value::Null);
    let command = RunnerArgs::<A::Options, A::Command>::command()
        .name(A::NAME)
        .bin_name(A::NAME)
        .version(A::VERSION)
        .about(A::ABOUT)
        .after_long_help(format!(
            "{OVERRIDES_HELP}\n\n{}",
            config_help(&defaults, &schemars::schema_for!(A::Settings).to_value())
        ));
    let matches = command.try_get_matches_from(rest)?;
    let args = RunnerArgs::<A::Options, A::Command>::from_arg_matches(&matches)?;
    let common = args.common;
    if let Some(RunnerCommand::App(command)) = &args.command
        && let Some(done) = A::without_settings(command, &common, &args.options)
    {
        return done;
    }
    let mut ckpt_path = common.ckpt_path.clone();
    let (settings, source) = match (common.config.split_first(), &common.ckpt_path) {
        (Some((path, later)), _) => (load_merged::<A>(path, later, &overrides)?, path.clone()),
        (None, Some(ckpt)) => {
            let path = resolve_without_config(ckpt)?;
            // The stage loads the very file the settings came from.
            ckpt_path = Some(path.to_string_lossy().into_owned());
            (settings_from_checkpoint::<A>(&path, &overrides)?, path)
        }
        (None, None) => bail!(
            "no config file: pass -f {} (or --ckpt-path of a checkpoint to rebuild the run from); see `{} --help`",
            A::EXAMPLE_CONFIG,
            A::NAME
        ),
    };
    let session = Session::<A> {
        settings,
        source,
        ckpt_path,
        options: args.options,
    };
    if common.print_config {
        let yaml = serde_saphyr::to_string(&session.settings).context("serialising the config")?;
        print!("{yaml}");
        return Ok(());
    }
    match args.command.unwrap_or(RunnerCommand::Fit) {
        RunnerCommand::Fit => A::fit(&session),
        RunnerCommand::Validate => A::validate(&session),
        RunnerCommand::Test => A::test(&session),
        RunnerCommand::Predict => A::predict(&session),
        RunnerCommand::App(command) => A::run_command(&session, &command),
    }
}

/// `first` with the `later` files merged over it in order, then the command line's
/// `overrides`; an error about a key a later file set names that file and line.
fn load_merged<A: LightningApp>(
    first: &Path,
    later: &[PathBuf],
    overrides: &[(String, String)],
) -> Result<A::Settings> {
    let mut from_files = Vec::new();
    for path in later {
        from_files.extend(file_overrides(path)?);
    }
    let all: Vec<(String, String)> = from_files
        .iter()
        .map(|o| (o.key.clone(), o.value.clone()))
        .chain(overrides.iter().cloned())
        .collect();
    A::load_config(first, &all).map_err(|e| {
        let message = format!("{e:#}");
        let key = error_key(&message);
        let cli_key = key.is_some_and(|key| {
            overrides
                .iter()
                .any(|(k, _)| k == key || key.starts_with(&format!("{k}.")))
        });
        match blame(&message, &from_files).filter(|_| !cli_key) {
            Some(place) => anyhow!("{message}\n(that key is set in {place})"),
            None if later.is_empty() => e,
            None => anyhow!(
                "{message}\n(config files merged in order: {})",
                std::iter::once(first)
                    .chain(later.iter().map(PathBuf::as_path))
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    })
}

/// `--ckpt-path` without a config: a checkpoint file. `last` and `best` are looked up under the
/// run's `trainer.root_dir`, which only the config knows (every shipped config sets its own).
fn resolve_without_config(ckpt: &str) -> Result<PathBuf> {
    if matches!(ckpt, "last" | "best") {
        bail!(
            "--ckpt-path {ckpt} without -f: `{ckpt}` is looked up under the config's trainer.root_dir; pass the config with -f, or the checkpoint's path"
        );
    }
    let path = PathBuf::from(ckpt);
    if !path.is_file() {
        bail!("checkpoint {} does not exist", path.display());
    }
    Ok(path)
}

/// The settings a checkpoint saved as `hparams`, with `overrides` applied and checked: Lightning's
/// `load_from_checkpoint`, which rebuilds a module from its saved hyperparameters alone.
pub fn settings_from_checkpoint<A: LightningApp>(
    path: &Path,
    overrides: &[(String, String)],
) -> Result<A::Settings> {
    let checkpoint = Checkpoint::load(path)?;
    let mut hparams = checkpoint.state.hparams;
    if hparams.is_null() {
        bail!(
            "checkpoint {} saved no hyperparameters, so the run cannot be rebuilt from it; pass the config with -f",
            path.display()
        );
    }
    for (key, raw) in overrides {
        apply_override(&mut hparams, key, raw).with_context(|| {
            format!(
                "checkpoint {}: applying override --{key}={raw}",
                path.display()
            )
        })?;
    }
    let settings: A::Settings = serde_path_to_error::deserialize(hparams).map_err(|e| {
        let key = e.path().to_string();
        anyhow!(
            "checkpoint {}: its saved hyperparameters are not a `{}` config (key `{key}`: {}); pass the config with -f",
            path.display(),
            A::NAME,
            e.into_inner()
        )
    })?;
    A::check(&settings, path)
        .with_context(|| format!("checkpoint {}: saved settings", path.display()))?;
    Ok(settings)
}
