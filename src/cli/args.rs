//! The arguments every example shares, as clap derives, and the dotted overrides split off
//! before clap parses the rest.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

/// What the runner parses: a command, the shared options, the app's own options.
#[derive(Debug, Parser)]
#[command(
    propagate_version = true,
    args_conflicts_with_subcommands = false,
    after_help = OVERRIDES_HELP
)]
pub struct RunnerArgs<O: Args, E: Subcommand> {
    /// What to run (`fit` when none is given).
    #[command(subcommand)]
    pub command: Option<RunnerCommand<E>>,
    /// Options of every command.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The app's own options.
    #[command(flatten)]
    pub options: O,
}

/// How overrides are written; clap cannot list them as flags.
pub const OVERRIDES_HELP: &str = "Config overrides: --section.key=value (or --section.key value) sets any key of the config, e.g. --trainer.max_epochs=3 --dataset.params.batch_size=32; --seed=N and --root_dir=DIR set the top-level keys. `--help` lists the keys and their defaults.";

/// The Trainer's entry points plus the app's own subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum RunnerCommand<E: Subcommand> {
    /// Train (the default); with --ckpt-path, resume from that checkpoint.
    Fit,
    /// One pass over the validation data.
    Validate,
    /// One pass over the test data.
    Test,
    /// Predictions over the predict data.
    Predict,
    /// The app's own commands.
    #[command(flatten)]
    App(E),
}

/// Options every command accepts, before or after the command name.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// The YAML config (sections `dataset`, `model`, `optimizer`, `scheduler`, `trainer`).
    /// Repeatable: later files merge over earlier ones (mappings key by key, lists replaced).
    #[arg(
        short = 'f',
        long = "config",
        global = true,
        value_name = "CONFIG.yaml",
        action = clap::ArgAction::Append
    )]
    pub config: Vec<PathBuf>,
    /// A checkpoint to resume from or evaluate: a path, `last` or `best`. Without -f the
    /// experiment is rebuilt from the settings the checkpoint saved.
    #[arg(
        long = "ckpt-path",
        visible_alias = "ckpt_path",
        global = true,
        value_name = "PATH|last|best"
    )]
    pub ckpt_path: Option<String>,
    /// Print the resolved config (file and overrides) as YAML and exit.
    #[arg(long, global = true)]
    pub print_config: bool,
}

/// Whether `--key` is a config override: dotted keys, and the top-level scalars.
fn is_override_key(key: &str) -> bool {
    key.contains('.') || key == "seed" || key == "root_dir"
}

/// A config override: the dotted key and the raw value.
pub type Override = (String, String);

/// Splits `args` (with the program name first) into what clap parses and the config overrides
/// `--section.key=value` / `--section.key value`, in order. Arguments after `--` are left alone.
pub fn split_overrides(args: Vec<OsString>) -> Result<(Vec<OsString>, Vec<Override>)> {
    let mut rest = Vec::with_capacity(args.len());
    let mut overrides = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let Some(text) = arg.to_str() else {
            rest.push(arg);
            continue;
        };
        if text == "--" {
            rest.push(arg);
            rest.extend(it);
            break;
        }
        let Some(body) = text.strip_prefix("--") else {
            rest.push(arg);
            continue;
        };
        let (key, value) = match body.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (body, None),
        };
        if !is_override_key(key) {
            rest.push(arg);
            continue;
        }
        let value = match value {
            Some(v) => v,
            None => match it.next().map(|v| v.into_string()) {
                Some(Ok(v)) => v,
                // Usage errors, as clap's own: exit code 2.
                Some(Err(v)) => {
                    return Err(usage_error(format!(
                        "override --{key}: the value {v:?} is not UTF-8"
                    )));
                }
                None => {
                    return Err(usage_error(format!(
                        "override --{key} needs a value (--{key}=VALUE)"
                    )));
                }
            },
        };
        overrides.push((key.to_string(), value));
    }
    Ok((rest, overrides))
}

/// A usage error the runner's `main` reports as clap does (exit code 2).
fn usage_error(message: String) -> anyhow::Error {
    clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{message}\n")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn overrides_are_split_off_in_order() {
        let (rest, overrides) = split_overrides(os(
            "etm test -f c.yaml --trainer.max_epochs=3 --model.params.k 5 --seed=1 --output x",
        ))
        .unwrap();
        assert_eq!(rest, os("etm test -f c.yaml --output x"));
        assert_eq!(
            overrides,
            vec![
                ("trainer.max_epochs".to_string(), "3".to_string()),
                ("model.params.k".to_string(), "5".to_string()),
                ("seed".to_string(), "1".to_string()),
            ]
        );
        let e = split_overrides(os("etm --trainer.max_epochs"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a value"), "{e}");
        let (rest, overrides) = split_overrides(os("etm -- --a.b=1")).unwrap();
        assert_eq!(rest, os("etm -- --a.b=1"));
        assert!(overrides.is_empty());
    }
}
