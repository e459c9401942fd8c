//! The command line every example binary shares:
//! `BIN [fit|validate|test|predict|EXTRA] -f CONFIG [--ckpt-path P] [--print-config] [--a.b=v ...]`.

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::error::nearest;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Train (the default).
    Fit,
    /// One validation pass.
    Validate,
    /// One test pass.
    Test,
    /// Predictions.
    Predict,
    /// A command the example adds (e.g. `topics`).
    Extra(String),
}

/// Parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Cli {
    /// The subcommand.
    pub command: Command,
    /// `-f/--config`.
    pub config: Option<PathBuf>,
    /// `--ckpt-path` (a path, `last` or `best`).
    pub ckpt_path: Option<String>,
    /// `--print-config`: print the resolved config and exit.
    pub print_config: bool,
    /// `--key.path=value` overrides, in order.
    pub overrides: Vec<(String, String)>,
    /// Positional arguments after the subcommand.
    pub positional: Vec<String>,
    /// Other `--flag=value` options the example reads itself (`--out`, …).
    pub options: Vec<(String, String)>,
}

/// Usage text.
pub fn usage(bin: &str, extra: &[&str]) -> String {
    let mut commands = vec!["fit", "validate", "test", "predict"];
    commands.extend_from_slice(extra);
    format!(
        "usage: {bin} [{}] -f CONFIG.yaml [--ckpt-path PATH|last|best] [--print-config] [--section.key=value ...]",
        commands.join("|")
    )
}

impl Cli {
    /// Parses `args` (without the program name). `extra_commands` are the example's own
    /// subcommands; `extra_options` the non-dotted `--name=value` options it accepts.
    pub fn parse(args: &[String], extra_commands: &[&str], extra_options: &[&str]) -> Result<Self> {
        let mut cli = Cli {
            command: Command::Fit,
            config: None,
            ckpt_path: None,
            print_config: false,
            overrides: Vec::new(),
            positional: Vec::new(),
            options: Vec::new(),
        };
        let mut it = args.iter().peekable();
        let mut command_seen = false;
        while let Some(arg) = it.next() {
            let mut value_of = |flag: &str| -> Result<String> {
                match it.next() {
                    Some(v) => Ok(v.clone()),
                    None => bail!("{flag} needs a value"),
                }
            };
            match arg.as_str() {
                "-f" | "--config" => cli.config = Some(PathBuf::from(value_of(arg)?)),
                "--ckpt-path" | "--ckpt_path" => cli.ckpt_path = Some(value_of(arg)?),
                "--print-config" => cli.print_config = true,
                "-h" | "--help" => bail!("{}", usage("BIN", extra_commands)),
                a if a.starts_with("--") => {
                    let body = &a[2..];
                    let (key, value) = match body.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (body.to_string(), value_of(a)?),
                    };
                    match key.as_str() {
                        "config" => cli.config = Some(PathBuf::from(value)),
                        "ckpt-path" | "ckpt_path" => cli.ckpt_path = Some(value),
                        // The seed layout's top-level scalars are overridable too.
                        k if k.contains('.') || k == "seed" || k == "root_dir" => {
                            cli.overrides.push((key, value))
                        }
                        k if extra_options.contains(&k) => cli.options.push((key, value)),
                        k => {
                            let mut known = vec!["config", "ckpt-path", "print-config"];
                            known.extend_from_slice(extra_options);
                            let hint = nearest(k, known.iter().copied())
                                .map(|n| format!("; did you mean --{n}?"))
                                .unwrap_or_default();
                            bail!(
                                "unknown option --{k}: config overrides are dotted (--trainer.max_epochs=3){hint}"
                            );
                        }
                    }
                }
                word if !command_seen => {
                    command_seen = true;
                    cli.command = match word {
                        "fit" => Command::Fit,
                        "validate" => Command::Validate,
                        "test" => Command::Test,
                        "predict" => Command::Predict,
                        w if extra_commands.contains(&w) => Command::Extra(w.to_string()),
                        w => {
                            let mut all = vec!["fit", "validate", "test", "predict"];
                            all.extend_from_slice(extra_commands);
                            let hint = nearest(w, all.iter().copied())
                                .map(|n| format!(" (did you mean `{n}`?)"))
                                .unwrap_or_default();
                            bail!(
                                "unknown command `{w}`{hint}; expected one of {}",
                                all.join(", ")
                            );
                        }
                    };
                }
                word => cli.positional.push(word.to_string()),
            }
        }
        Ok(cli)
    }

    /// The value of an example's own `--name=value` option.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_commands_configs_and_overrides() {
        let cli = Cli::parse(
            &args("test -f c.yaml --ckpt-path best --trainer.max_epochs=3 --model.params.k 5"),
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(cli.command, Command::Test);
        assert_eq!(cli.config, Some(PathBuf::from("c.yaml")));
        assert_eq!(cli.ckpt_path.as_deref(), Some("best"));
        assert_eq!(
            cli.overrides,
            vec![
                ("trainer.max_epochs".into(), "3".into()),
                ("model.params.k".into(), "5".into())
            ]
        );
        assert_eq!(
            Cli::parse(&args("-f c.yaml"), &[], &[]).unwrap().command,
            Command::Fit
        );
        assert_eq!(
            Cli::parse(&args("topics -f c.yaml"), &["topics"], &[])
                .unwrap()
                .command,
            Command::Extra("topics".into())
        );
    }

    #[test]
    fn unknown_commands_and_options_get_suggestions() {
        let e = Cli::parse(&args("tset"), &[], &[]).unwrap_err().to_string();
        assert!(e.contains("did you mean `test`"), "{e}");
        let e = Cli::parse(&args("--confg x"), &[], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--config"), "{e}");
    }
}
