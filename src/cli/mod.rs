//! One command-line runner for every example binary, in the spirit of Lightning's
//! `LightningCLI`: `BIN [fit|validate|test|predict|<app command>] -f CONFIG.yaml
//! [--ckpt-path PATH|last|best] [--print-config] [--section.key=value …]`.
//!
//! An example implements [`LightningApp`] (its settings, how to build its module and
//! datamodule, its own subcommands) and its `main` is `burn_lightning::cli::main::<App>()`.
//! Parsing is clap's ([`args`]); the dotted config overrides are taken out of the arguments
//! before clap sees them, since clap has no notion of open-ended `--a.b=v` flags.

mod app;
pub mod args;
pub mod config_help;
mod runner;

pub use app::{LightningApp, NoCommand, NoOptions, Session, check_experiment, print_metrics};
pub use runner::{main, run, settings_from_checkpoint};
