//! Loggers by name: what a config's `trainer.logger` builds, under Lightning's class names
//! (`TensorBoardLogger`, `CSVLogger`), each with Lightning's `save_dir`, `name` and `version`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CsvLogger, Logger, TensorBoardLogger, next_version_dir};

/// The loggers a config may name, with the names Lightning users also write.
const LOGGERS: [(&str, &[&str]); 2] = [
    ("TensorBoardLogger", &["TensorBoard", "tensorboard"]),
    ("CSVLogger", &["CSV", "csv", "CsvLogger"]),
];

/// `version`: a number (`version_N`) or a directory name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LoggerVersion {
    /// `version_N`.
    Number(u64),
    /// This directory name.
    Name(String),
}

/// A logger's arguments in `trainer.logger` (Lightning's names; every logger here has them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggerConfig {
    /// Parent of the run directories (null: the Trainer's `default_root_dir`).
    pub save_dir: Option<PathBuf>,
    /// The experiment's folder under `save_dir` (null or empty: none, the versions go in
    /// `save_dir` itself).
    #[serde(deserialize_with = "null_as_empty_string")]
    pub name: String,
    /// The run's folder under `name` (null: one above the highest existing `version_N`).
    pub version: Option<LoggerVersion>,
}

fn null_as_empty_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Option::<String>::deserialize(d).map(Option::unwrap_or_default)
}

impl Default for LoggerConfig {
    fn default() -> Self {
        Self {
            save_dir: None,
            name: "lightning_logs".into(),
            version: None,
        }
    }
}

impl LoggerConfig {
    /// The logger `class_path` names with `init_args` (null: every default): its registered
    /// name and its arguments.
    pub fn resolve(class_path: &str, init_args: &Value) -> Result<(String, Self)> {
        let (name, args) = resolve_logger(class_path, init_args.clone()).map_err(|e| anyhow!(e))?;
        Ok((name, serde_json::from_value(args)?))
    }

    /// `save_dir/name`, the folder of the run directories, with `default_root` for a
    /// `save_dir` left null.
    pub fn experiment_dir(&self, default_root: &Path) -> PathBuf {
        let save_dir = self.save_dir.as_deref().unwrap_or(default_root);
        save_dir.join(&self.name)
    }
}

/// The registered name `class_path` stands for (its last dotted segment, or an alias), and
/// its arguments completed with their defaults; the error names the nearest logger or the
/// bad argument.
pub fn resolve_logger(
    class_path: &str,
    init_args: Value,
) -> std::result::Result<(String, Value), String> {
    let short = class_path.rsplit('.').next().unwrap_or(class_path);
    let Some((name, _)) = LOGGERS
        .iter()
        .find(|(name, aliases)| *name == short || aliases.contains(&short))
    else {
        let names = LOGGERS.iter().map(|(n, _)| *n);
        return Err(match crate::suggest::nearest(short, names.clone()) {
            Some(n) => format!("unknown logger `{class_path}`; did you mean `{n}`?"),
            None => format!(
                "unknown logger `{class_path}`; loggers: {}",
                names.collect::<Vec<_>>().join(", ")
            ),
        });
    };
    let args = if init_args.is_null() {
        Value::Object(Default::default())
    } else {
        init_args
    };
    let config: LoggerConfig = serde_json::from_value(args).map_err(|e| format!("{name}: {e}"))?;
    let resolved = serde_json::to_value(config).map_err(|e| format!("{name}: {e}"))?;
    Ok((name.to_string(), resolved))
}

/// Loggers built from a config, and the directory of each, in order.
pub struct BuiltLoggers {
    /// The loggers.
    pub loggers: Vec<Box<dyn Logger>>,
    /// Their run directories (the first is the run's `log_dir`).
    pub dirs: Vec<PathBuf>,
}

/// Builds loggers in order; the run directories they write into are claimed once per
/// `(save_dir, name, version)`, so that loggers with the same ones share a directory (the
/// default TensorBoard + CSV pair shares `version_N`).
pub fn build_loggers(specs: &[(String, Value)], default_root: &Path) -> Result<BuiltLoggers> {
    let mut dirs: BTreeMap<(PathBuf, Option<LoggerVersion>), PathBuf> = BTreeMap::new();
    let mut loggers: Vec<Box<dyn Logger>> = Vec::new();
    let mut logger_dirs = Vec::new();
    for (class_path, init_args) in specs {
        let (name, config) = LoggerConfig::resolve(class_path, init_args)?;
        let experiment = config.experiment_dir(default_root);
        let key = (experiment.clone(), config.version.clone());
        let dir = match dirs.get(&key) {
            Some(dir) => dir.clone(),
            None => {
                let dir = match &config.version {
                    None => next_version_dir(
                        config.save_dir.as_deref().unwrap_or(default_root),
                        &config.name,
                    )?,
                    Some(version) => {
                        let leaf = match version {
                            LoggerVersion::Number(n) => format!("version_{n}"),
                            LoggerVersion::Name(s) => s.clone(),
                        };
                        let dir = experiment.join(leaf);
                        std::fs::create_dir_all(&dir).with_context(|| {
                            format!("{name}: cannot create log directory {}", dir.display())
                        })?;
                        dir
                    }
                };
                dirs.insert(key, dir.clone());
                dir
            }
        };
        loggers.push(match name.as_str() {
            "TensorBoardLogger" => Box::new(TensorBoardLogger::new(&dir)?),
            _ => Box::new(CsvLogger::new(&dir)),
        });
        logger_dirs.push(dir);
    }
    Ok(BuiltLoggers {
        loggers,
        dirs: logger_dirs,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_aliases_and_defaults() {
        let (name, args) =
            resolve_logger("lightning.pytorch.loggers.CSVLogger", Value::Null).unwrap();
        assert_eq!(name, "CSVLogger");
        assert_eq!(
            args,
            json!({"save_dir": null, "name": "lightning_logs", "version": null})
        );
        assert_eq!(
            resolve_logger("tensorboard", Value::Null).unwrap().0,
            "TensorBoardLogger"
        );
        let e = resolve_logger("TensorBordLogger", Value::Null).unwrap_err();
        assert!(e.contains("did you mean `TensorBoardLogger`"), "{e}");
        let e = resolve_logger("CSVLogger", json!({"nmae": "x"})).unwrap_err();
        assert!(e.starts_with("CSVLogger: unknown field `nmae`"), "{e}");
    }

    #[test]
    fn loggers_with_the_same_directory_share_one_version() {
        let root = std::env::temp_dir().join(format!("bl-logger-dirs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let specs = vec![
            ("TensorBoardLogger".to_string(), Value::Null),
            ("CSVLogger".to_string(), Value::Null),
            (
                "CSVLogger".to_string(),
                json!({"name": "other", "version": "fixed"}),
            ),
        ];
        let BuiltLoggers { loggers, dirs } = build_loggers(&specs, root.as_path()).unwrap();
        assert_eq!(loggers.len(), 3);
        assert_eq!(dirs[0], root.as_path().join("lightning_logs/version_0"));
        assert_eq!(dirs[1], dirs[0]);
        assert_eq!(dirs[2], root.as_path().join("other/fixed"));
        let again = build_loggers(&specs[..1], root.as_path()).unwrap().dirs;
        assert_eq!(again[0], root.as_path().join("lightning_logs/version_1"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
