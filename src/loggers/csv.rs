//! `metrics.csv` like Lightning's CSVLogger: one row per logging step (values logged at one
//! step merged into its row), one column per key.
//!
//! Rows are appended, so a run killed mid-write keeps every row written before (at worst the
//! last line is torn); only a new column rewrites the file, atomically
//! ([`crate::fs::atomic_write`]), since the header changes. Keys and values go through the
//! `csv` crate, which quotes a key holding a comma, quote or newline.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use super::Logger;

type Row = (usize, BTreeMap<String, f64>);

/// Writes `metrics.csv` in the run directory.
pub struct CsvLogger {
    path: PathBuf,
    /// Every key logged so far (the header is `step` then these, in order).
    columns: BTreeSet<String>,
    /// The columns of the header on disk (`None`: no file written yet).
    written_columns: Option<BTreeSet<String>>,
    /// Rows on disk, kept because a new column rewrites the file with all of them.
    written: Vec<Row>,
    /// Rows not on disk yet; the last may still receive values logged at its step.
    pending: Vec<Row>,
    /// A value arrived for a row already on disk: the file must be rewritten.
    rewrite: bool,
}

impl CsvLogger {
    /// A logger writing `<dir>/metrics.csv`.
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join("metrics.csv"),
            columns: BTreeSet::new(),
            written_columns: None,
            written: Vec::new(),
            pending: Vec::new(),
            rewrite: false,
        }
    }

    /// Writes the pending rows (all of them, or all but the last, which a later value at its
    /// step may still change): appended, or the whole file rewritten atomically when the header
    /// changed.
    fn write(&mut self, all: bool) -> Result<()> {
        let n = if all {
            self.pending.len()
        } else {
            self.pending.len().saturating_sub(1)
        };
        if n == 0 && !self.rewrite {
            return Ok(());
        }
        let rows: Vec<Row> = self.pending.drain(..n).collect();
        let same_header = self.written_columns.as_ref() == Some(&self.columns);
        if same_header && !self.rewrite {
            let bytes = self.encode(None, &rows)?;
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&self.path)
                .with_context(|| format!("cannot open {} to append", self.path.display()))?;
            // One write per flush: a kill tears at most the last line.
            file.write_all(&bytes)
                .with_context(|| format!("cannot append to {}", self.path.display()))?;
            self.written.extend(rows);
        } else {
            self.written.extend(rows);
            let bytes = self.encode(Some(&self.columns), &self.written)?;
            crate::fs::atomic_write(&self.path, &bytes)
                .with_context(|| format!("cannot write {}", self.path.display()))?;
            self.written_columns = Some(self.columns.clone());
            self.rewrite = false;
        }
        Ok(())
    }

    /// CSV bytes of `rows` under the current columns, with the header when given.
    fn encode(&self, header: Option<&BTreeSet<String>>, rows: &[Row]) -> Result<Vec<u8>> {
        let mut out = csv::Writer::from_writer(Vec::new());
        if let Some(columns) = header {
            out.write_record(std::iter::once("step").chain(columns.iter().map(String::as_str)))?;
        }
        for (step, row) in rows {
            let mut record = vec![step.to_string()];
            record.extend(
                self.columns
                    .iter()
                    .map(|c| row.get(c).map(f64::to_string).unwrap_or_default()),
            );
            out.write_record(&record)?;
        }
        out.into_inner()
            .map_err(|e| anyhow::anyhow!("encoding {}: {e}", self.path.display()))
    }
}

impl Logger for CsvLogger {
    fn log_metrics(&mut self, metrics: &BTreeMap<String, f64>, step: usize) -> Result<()> {
        if metrics.is_empty() {
            return Ok(());
        }
        self.columns.extend(metrics.keys().cloned());
        let merge = |row: &mut BTreeMap<String, f64>| {
            row.extend(metrics.iter().map(|(k, v)| (k.clone(), *v)))
        };
        // Lightning merges values logged at the same step into one row.
        match (self.pending.last_mut(), self.written.last_mut()) {
            (Some((s, row)), _) if *s == step => merge(row),
            (None, Some((s, row))) if *s == step => {
                merge(row);
                self.rewrite = true;
            }
            _ => self.pending.push((step, metrics.clone())),
        }
        Ok(())
    }
    fn log_hyperparams(&mut self, _params: &Value) -> Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        self.write(false)
    }
    fn finalize(&mut self, _status: &str) -> Result<()> {
        self.write(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("csvlog-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn log(l: &mut CsvLogger, key: &str, v: f64, step: usize) {
        l.log_metrics(&BTreeMap::from([(key.to_string(), v)]), step)
            .unwrap();
    }

    #[test]
    fn rows_merge_per_step_and_columns_grow() {
        let dir = temp_dir("merge");
        let mut l = CsvLogger::new(&dir);
        log(&mut l, "loss", 0.5, 1);
        log(&mut l, "val_loss", 0.25, 1);
        log(&mut l, "loss", 0.125, 2);
        l.finalize("success").unwrap();
        let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
        assert_eq!(text, "step,loss,val_loss\n1,0.5,0.25\n2,0.125,\n");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn keys_with_commas_and_quotes_are_quoted() {
        let dir = temp_dir("quote");
        let mut l = CsvLogger::new(&dir);
        log(&mut l, "acc,top5", 0.5, 1);
        log(&mut l, "say \"hi\"", 2.0, 1);
        l.finalize("success").unwrap();
        let mut reader = csv::Reader::from_path(dir.join("metrics.csv")).unwrap();
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header, ["step", "acc,top5", "say \"hi\""]);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(&rows[0][1], "0.5");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn flushes_append_and_only_a_new_column_rewrites_the_file_atomically() {
        let dir = temp_dir("append");
        let path = dir.join("metrics.csv");
        let inode = || std::fs::metadata(&path).unwrap().ino();
        let mut l = CsvLogger::new(&dir);
        log(&mut l, "loss", 1.5, 1);
        log(&mut l, "loss", 2.5, 2);
        l.flush().unwrap();
        // Step 2 may still get values (validation at the same step): held back.
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "step,loss\n1,1.5\n"
        );
        let first = inode();
        log(&mut l, "loss", 3.5, 3);
        l.flush().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "step,loss\n1,1.5\n2,2.5\n"
        );
        assert_eq!(inode(), first, "an append must not replace the file");
        log(&mut l, "val_loss", 0.5, 3);
        log(&mut l, "loss", 4.5, 4);
        l.flush().unwrap();
        assert_ne!(
            inode(),
            first,
            "a new header is written to a new file, then renamed"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "step,loss,val_loss\n1,1.5,\n2,2.5,\n3,3.5,0.5\n"
        );
        l.finalize("success").unwrap();
        // A value for a row already on disk rewrites it too.
        log(&mut l, "val_loss", 0.25, 4);
        l.finalize("success").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "step,loss,val_loss\n1,1.5,\n2,2.5,\n3,3.5,0.5\n4,4.5,0.25\n"
        );
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "temporary files left behind");
        std::fs::remove_dir_all(dir).ok();
    }
}
