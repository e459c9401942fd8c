//! Experiment loggers: TensorBoard event files and a CSV table, both under the run directory.

mod csv;
mod protobuf;
mod registry;
mod tensorboard;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

pub use csv::CsvLogger;
pub use registry::{BuiltLoggers, LoggerConfig, LoggerVersion, build_loggers, resolve_logger};
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

/// Claims `<root>/<name>/version_N` with N one above the highest existing version. The
/// directory is created with `create_dir` (not `create_dir_all`), which fails when it exists,
/// so two runs started together under one root never share a version: the one that loses the
/// race moves on to the next number, and neither writes into the other's `metrics.csv` or
/// checkpoints (where one's top-k eviction would delete the other's files). Temporaries that
/// killed runs left in the existing versions are removed on the way
/// ([`crate::fs::remove_stale_temporaries`]).
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
            next = next.max(n.saturating_add(1));
            // A run killed mid-write left a temporary there that no later write in that
            // directory will sweep (a resumed run logs into a new version).
            let old = base.join(&name);
            crate::fs::remove_stale_temporaries(&old);
            crate::fs::remove_stale_temporaries(&old.join("checkpoints"));
        }
    }
    loop {
        let dir = base.join(format!("version_{next}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && next < usize::MAX => {
                next += 1
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot create {}", dir.display()));
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_started_together_claim_distinct_version_directories() {
        let root = std::env::temp_dir().join(format!("bl-versions-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("lightning_logs/version_3")).unwrap();
        let threads = 16;
        let barrier = std::sync::Barrier::new(threads);
        let mut dirs: Vec<PathBuf> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        next_version_dir(&root, "lightning_logs").unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        dirs.sort();
        dirs.dedup();
        assert_eq!(dirs.len(), threads, "two runs shared a version: {dirs:?}");
        assert!(dirs.iter().all(|d| d.is_dir()));
        // Numbering continues above the highest existing version.
        assert!(!dirs.contains(&root.join("lightning_logs/version_3")));
        assert!(dirs.contains(&root.join("lightning_logs/version_4")));
        std::fs::remove_dir_all(root).ok();
    }
}
