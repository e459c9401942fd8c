//! `metrics.csv` like Lightning's CSVLogger: one row per logging step, one column per key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use super::Logger;

/// Writes `metrics.csv` in the run directory; the file is rewritten when new columns appear.
pub struct CsvLogger {
    path: PathBuf,
    columns: BTreeSet<String>,
    rows: Vec<(usize, BTreeMap<String, f64>)>,
    dirty: bool,
}

impl CsvLogger {
    /// A logger writing `<dir>/metrics.csv`.
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join("metrics.csv"),
            columns: BTreeSet::new(),
            rows: Vec::new(),
            dirty: false,
        }
    }

    fn write(&mut self) -> Result<()> {
        let mut out = String::from("step");
        for c in &self.columns {
            out.push(',');
            out.push_str(c);
        }
        out.push('\n');
        for (step, row) in &self.rows {
            out.push_str(&step.to_string());
            for c in &self.columns {
                out.push(',');
                if let Some(v) = row.get(c) {
                    out.push_str(&v.to_string());
                }
            }
            out.push('\n');
        }
        std::fs::write(&self.path, out)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.dirty = false;
        Ok(())
    }
}

impl Logger for CsvLogger {
    fn log_metrics(&mut self, metrics: &BTreeMap<String, f64>, step: usize) -> Result<()> {
        if metrics.is_empty() {
            return Ok(());
        }
        self.columns.extend(metrics.keys().cloned());
        // Lightning merges values logged at the same step into one row.
        match self.rows.last_mut() {
            Some((s, row)) if *s == step => {
                row.extend(metrics.iter().map(|(k, v)| (k.clone(), *v)))
            }
            _ => self.rows.push((step, metrics.clone())),
        }
        self.dirty = true;
        Ok(())
    }
    fn log_hyperparams(&mut self, _params: &Value) -> Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        if self.dirty { self.write() } else { Ok(()) }
    }
    fn finalize(&mut self, _status: &str) -> Result<()> {
        self.write()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_merge_per_step_and_columns_grow() {
        let dir = std::env::temp_dir().join(format!("csvlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut log = CsvLogger::new(&dir);
        log.log_metrics(&BTreeMap::from([("loss".to_string(), 0.5)]), 1)
            .unwrap();
        log.log_metrics(&BTreeMap::from([("val_loss".to_string(), 0.25)]), 1)
            .unwrap();
        log.log_metrics(&BTreeMap::from([("loss".to_string(), 0.125)]), 2)
            .unwrap();
        log.finalize("success").unwrap();
        let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
        assert_eq!(text, "step,loss,val_loss\n1,0.5,0.25\n2,0.125,\n");
    }
}
