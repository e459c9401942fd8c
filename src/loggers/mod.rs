//! Experiment loggers: TensorBoard event files and a CSV table, both under the run directory.

mod csv;
mod protobuf;
mod tensorboard;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

pub use csv::CsvLogger;
pub use tensorboard::TensorBoardLogger;

/// Where logged values go. The x-axis of every value is `global_step` (optimizer steps).
pub trait Logger: Send {
    /// Writes scalar metrics at `step`.
    fn log_metrics(&mut self, metrics: &BTreeMap<String, f64>, step: usize) -> Result<()>;
    /// Records the run's hyper-parameters (once, at fit start).
    fn log_hyperparams(&mut self, params: &Value) -> Result<()>;
    /// Writes a text entry at `step` (no-op where unsupported).
    fn log_text(&mut self, _tag: &str, _text: &str, _step: usize) -> Result<()> {
        Ok(())
    }
    /// Writes a histogram at `step` (no-op where unsupported).
    fn log_histogram(&mut self, _tag: &str, _values: &[f64], _step: usize) -> Result<()> {
        Ok(())
    }
    /// Pushes buffered output to disk.
    fn flush(&mut self) -> Result<()>;
    /// Called once when the run ends (`success` or `failed`).
    fn finalize(&mut self, status: &str) -> Result<()>;
}

/// Picks `<root>/lightning_logs/version_N` with N one above the highest existing version.
pub fn next_version_dir(root: &Path, name: &str) -> Result<PathBuf> {
    let base = root.join(name);
    std::fs::create_dir_all(&base)
        .with_context(|| format!("cannot create log directory {}", base.display()))?;
    let mut next = 0;
    for entry in
        std::fs::read_dir(&base).with_context(|| format!("cannot list {}", base.display()))?
    {
        let name = entry?.file_name();
        if let Some(n) = name
            .to_str()
            .and_then(|s| s.strip_prefix("version_"))
            .and_then(|s| s.parse::<usize>().ok())
        {
            next = next.max(n + 1);
        }
    }
    let dir = base.join(format!("version_{next}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Flattens nested hyper-parameters to `a/b/c = value` pairs (TensorBoard's hparams plugin and
/// the CSV logger want flat keys).
pub fn flatten_hparams(value: &Value) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}/{k}")
                    };
                    walk(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
}
