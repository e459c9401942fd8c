//! YAML configs in the seed's layout (`seed`, `root_dir`, `dataset`, `model`, `optimizer`,
//! `scheduler`, `trainer`), dotted overrides, and error messages that point at the line.

mod component;
mod error;
mod merge;
mod overrides;
pub(crate) mod trainer;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use component::{
    CallbackKind, CallbackSpec, ComponentKind, ComponentSpec, LoggerKind, LoggerSetting, LoggerSpec,
};
pub use error::{edit_distance, key_path_at_line, nearest};
pub use merge::{FileOverride, blame, error_key, file_overrides};
pub use overrides::apply_override;

use crate::optim::{OptimizerConfig, SchedulerConfig};
use trainer::TrainerConfig;

/// Settings that check their own ranges: a config's `model.params` and `dataset.params`.
pub trait Validate {
    /// An error saying which setting is out of range and what was expected.
    fn validate(&self) -> Result<()>;
}

/// `name` + `params`, the seed's way of choosing a dataset or a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Named<P> {
    /// Registered name (e.g. `nyt`, `etm`).
    pub name: String,
    /// Its parameters.
    pub params: P,
}

/// A whole experiment: what the seed's `config.yaml` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig<M, D> {
    /// Seed for sampler order, initialisation and the backend RNG.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Root folder for logs and checkpoints (the Trainer's `default_root_dir`).
    #[serde(default)]
    pub root_dir: Option<PathBuf>,
    /// Which data and how to load it.
    pub dataset: Named<D>,
    /// Which model and its sizes.
    pub model: Named<M>,
    /// The optimizer.
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// The learning-rate scheduler (none: constant).
    #[serde(default)]
    pub scheduler: Option<SchedulerConfig>,
    /// Trainer options.
    #[serde(default)]
    pub trainer: TrainerConfig,
}

impl<M: Validate, D: Validate> ExperimentConfig<M, D> {
    /// Validates the model's and the dataset's params; errors name `source` (the config file,
    /// or the checkpoint the settings came from).
    pub fn validate_params(&self, source: &Path) -> Result<()> {
        self.model
            .params
            .validate()
            .with_context(|| format!("{}: invalid model settings", source.display()))?;
        self.dataset
            .params
            .validate()
            .with_context(|| format!("{}: invalid dataset settings", source.display()))
    }
}

impl<M: Default, D: Default> ExperimentConfig<M, D> {
    /// Every default, `model.name` and `dataset.name` aside: what an app's
    /// [`default_settings`](crate::cli::LightningApp::default_settings) gives `--help` to list.
    pub fn defaults(model: &str, dataset: &str) -> Self {
        Self {
            seed: None,
            root_dir: None,
            dataset: Named {
                name: dataset.into(),
                params: D::default(),
            },
            model: Named {
                name: model.into(),
                params: M::default(),
            },
            optimizer: OptimizerConfig::default(),
            scheduler: None,
            trainer: TrainerConfig::default(),
        }
    }
}

/// Parses `text` (from `source`) into `T`, with overrides applied; errors name the file, line,
/// key, what was expected, and the nearest valid key.
pub fn parse_config<T: DeserializeOwned>(
    text: &str,
    source: &Path,
    overrides: &[(String, String)],
) -> Result<(T, Value)> {
    let name = source.display();
    // First pass on the text itself: serde-saphyr errors carry line and column.
    let typed_from_text = serde_saphyr::from_str::<T>(text);
    if let Err(e) = &typed_from_text {
        let message = e.to_string();
        let line = error::line_of(&message);
        let key = line.and_then(|l| key_path_at_line(text, l));
        let mut out = format!("{name}");
        if let Some(l) = line {
            out.push_str(&format!(":{l}"));
        }
        if let Some(k) = &key {
            out.push_str(&format!(": key `{k}`"));
        }
        let first = message
            .lines()
            .next()
            .unwrap_or(&message)
            .trim_start_matches("error: ");
        // A syntax error after a mis-indented key: say so, at that key's line (YAML itself
        // often reports a later line, or a message about mapping values).
        let indentation = serde_saphyr::from_str::<Value>(text)
            .is_err()
            .then(|| error::indentation_problem(text, line.unwrap_or(usize::MAX).saturating_add(1)))
            .flatten();
        if let Some((bad_line, problem)) = indentation {
            return Err(anyhow!(
                "{name}:{bad_line}: {problem}\n(the YAML parser said: {first})"
            ));
        }
        out.push_str(&format!(": {}", error::explain(first, Some(text))));
        // The snippet below repeats the message under a caret: explained the same way, so that
        // it does not list every field either.
        out.push_str(&format!(
            "\n{}",
            message
                .lines()
                .skip(1)
                .map(|l| error::explain(l, None))
                .collect::<Vec<_>>()
                .join("\n")
        ));
        return Err(anyhow!(out));
    }
    let mut value: Value =
        serde_saphyr::from_str(text).with_context(|| format!("{name}: not valid YAML"))?;
    if overrides.is_empty() {
        // The typed parse is authoritative: untyped YAML reads scalars such as `y` or `on` as
        // booleans, which a string field must not see.
        return Ok((typed_from_text.expect("checked above"), value));
    }
    for (key, raw) in overrides {
        apply_override(&mut value, key, raw)
            .with_context(|| format!("{name}: applying override --{key}={raw}"))?;
    }
    let typed: T = serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        anyhow!(
            "{name} with overrides: key `{path}`: {}",
            error::explain(&inner, None)
        )
    })?;
    Ok((typed, value))
}

impl<M: DeserializeOwned + Serialize, D: DeserializeOwned + Serialize> ExperimentConfig<M, D> {
    /// Reads `path`, applies `overrides`, migrates deprecated keys, checks ranges.
    pub fn load(path: &Path, overrides: &[(String, String)]) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        if error::is_empty_yaml(&text) {
            bail!(
                "{}: the config file is empty (no YAML besides comments): expected a mapping with `dataset`, `model` and `trainer` sections, as in configs/",
                path.display()
            );
        }
        let (mut config, _): (Self, Value) = parse_config(&text, path, overrides).map_err(|e| {
            // A trainer key written at the top level was meant to be indented under
            // `trainer:`; nothing in the list of top-level keys is near it.
            let message = format!("{e:#}");
            match error::misplaced_trainer_key(&message) {
                Some(hint) => match message.split_once('\n') {
                    Some((first, rest)) => anyhow!("{first}; {hint}\n{rest}"),
                    None => anyhow!("{message}; {hint}"),
                },
                None => e,
            }
        })?;
        for notice in config.trainer.migrate_deprecated() {
            eprintln!("notice: {}: {notice}", path.display());
        }
        if let Some(root) = &config.root_dir {
            config.trainer.default_root_dir = root.clone();
        }
        config
            .trainer
            .validate()
            .with_context(|| format!("{}: invalid trainer settings", path.display()))?;
        Ok(config)
    }

    /// [`load`](Self::load), then checks that `model.name` is one of `models` and
    /// `dataset.name` one of `datasets` (`hint` follows the list of known datasets), and
    /// validates both `params`; every error names the file.
    pub fn load_checked(
        path: &Path,
        overrides: &[(String, String)],
        models: &[&str],
        datasets: &[&str],
        hint: &str,
    ) -> Result<Self>
    where
        M: Validate,
        D: Validate,
    {
        let config = Self::load(path, overrides)?;
        let known = |names: &[&str]| {
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !models.contains(&config.model.name.as_str()) {
            bail!(
                "{}: model.name `{}` is not registered; known models: {}",
                path.display(),
                config.model.name,
                known(models)
            );
        }
        if !datasets.contains(&config.dataset.name.as_str()) {
            bail!(
                "{}: dataset.name `{}` is not registered; known datasets: {}{hint}",
                path.display(),
                config.dataset.name,
                known(datasets)
            );
        }
        config.validate_params(path)?;
        Ok(config)
    }

    /// The resolved config as JSON (saved as `hparams.yaml` and in checkpoints).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The resolved config as YAML (what `--print-config` prints).
    pub fn to_yaml(&self) -> Result<String> {
        serde_saphyr::to_string(self).context("serialising the config")
    }
}
