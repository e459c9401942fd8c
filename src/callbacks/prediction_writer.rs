//! [`BasePredictionWriter`]: Lightning's callback that writes predictions as `predict` makes
//! them (per batch, at the end, or both), so a large prediction run need not hold them all.
//! [`CsvPredictionWriter`] is a ready sink: one CSV per batch and/or one for the whole run.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::prelude::*;

use super::Callback;
use crate::context::HookContext;
use crate::fs::atomic_write;
use crate::module_handle::ModuleHandle;

/// When predictions are written (Lightning's `write_interval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteInterval {
    /// After every predict batch.
    #[default]
    Batch,
    /// Once, after the last batch, with all of them.
    Epoch,
    /// Both.
    BatchAndEpoch,
}

/// Where predictions go: implement either method (Lightning's `write_on_batch_end` /
/// `write_on_epoch_end`).
pub trait PredictionSink: Send {
    /// One batch of predictions (rows = examples), as soon as `predict_step` made it.
    fn write_on_batch_end(&mut self, _prediction: &Tensor<2>, _batch_idx: usize) -> Result<()> {
        Ok(())
    }
    /// All batches' predictions, in order, after the last one.
    fn write_on_epoch_end(&mut self, _predictions: &[Tensor<2>]) -> Result<()> {
        Ok(())
    }
}

/// Calls its sink at the configured interval during `predict`.
pub struct BasePredictionWriter<S: PredictionSink> {
    sink: S,
    write_interval: WriteInterval,
    collected: Vec<Tensor<2>>,
}

impl<S: PredictionSink> BasePredictionWriter<S> {
    /// Writes through `sink` at `write_interval`.
    pub fn new(sink: S, write_interval: WriteInterval) -> Self {
        Self {
            sink,
            write_interval,
            collected: Vec::new(),
        }
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// `on_predict_batch_end`.
    pub fn batch_end(&mut self, prediction: &Tensor<2>, batch_idx: usize) -> Result<()> {
        if self.write_interval != WriteInterval::Epoch {
            self.sink.write_on_batch_end(prediction, batch_idx)?;
        }
        if self.write_interval != WriteInterval::Batch {
            self.collected.push(prediction.clone());
        }
        Ok(())
    }

    /// `on_predict_epoch_end`.
    pub fn epoch_end(&mut self) -> Result<()> {
        let all = std::mem::take(&mut self.collected);
        if self.write_interval != WriteInterval::Batch {
            self.sink.write_on_epoch_end(&all)?;
        }
        Ok(())
    }

    /// `on_predict_start`: forgets a previous run's predictions.
    pub fn start(&mut self) {
        self.collected.clear();
    }
}

/// Writes predictions as CSV files in a directory: `batch-000000.csv` … per batch and
/// `predictions.csv` at the end, one row per example; each file written atomically.
#[derive(Debug, Clone)]
pub struct CsvPredictionWriter {
    dir: PathBuf,
}

impl CsvPredictionWriter {
    /// Writes into `dir` (created when needed).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The file batch `batch_idx` is written to.
    pub fn batch_path(&self, batch_idx: usize) -> PathBuf {
        self.dir.join(format!("batch-{batch_idx:06}.csv"))
    }

    /// The file all predictions are written to.
    pub fn epoch_path(&self) -> PathBuf {
        self.dir.join("predictions.csv")
    }

    fn write(&self, path: &Path, predictions: &[&Tensor<2>]) -> Result<()> {
        std::fs::create_dir_all(&self.dir).with_context(|| {
            format!("cannot create prediction directory {}", self.dir.display())
        })?;
        let mut text = String::new();
        for prediction in predictions {
            let [_, cols] = prediction.dims();
            let values = prediction
                .to_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("predictions cannot be read as f32: {e:?}"))?;
            for row in values.chunks(cols.max(1)) {
                let cells: Vec<String> = row.iter().map(f32::to_string).collect();
                text.push_str(&cells.join(","));
                text.push('\n');
            }
        }
        atomic_write(path, text.as_bytes())
            .with_context(|| format!("cannot write predictions to {}", path.display()))
    }
}

impl PredictionSink for CsvPredictionWriter {
    fn write_on_batch_end(&mut self, prediction: &Tensor<2>, batch_idx: usize) -> Result<()> {
        self.write(&self.batch_path(batch_idx), &[prediction])
    }
    fn write_on_epoch_end(&mut self, predictions: &[Tensor<2>]) -> Result<()> {
        let all: Vec<&Tensor<2>> = predictions.iter().collect();
        self.write(&self.epoch_path(), &all)
    }
}

impl<S: PredictionSink + 'static> Callback for BasePredictionWriter<S> {
    fn state_key(&self) -> String {
        "BasePredictionWriter".into()
    }
    fn on_predict_start(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _cx: &mut HookContext,
    ) -> Result<()> {
        self.start();
        Ok(())
    }
    fn on_predict_batch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        prediction: &Tensor<2>,
        batch_idx: usize,
        _cx: &mut HookContext,
    ) -> Result<()> {
        self.batch_end(prediction, batch_idx)
    }
    fn on_predict_epoch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _cx: &mut HookContext,
    ) -> Result<()> {
        self.epoch_end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_per_batch_and_at_the_end_in_order() {
        let dir = std::env::temp_dir().join(format!("bl-predwriter-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let device = Device::flex();
        let sink = CsvPredictionWriter::new(&dir);
        let mut writer = BasePredictionWriter::new(sink, WriteInterval::BatchAndEpoch);
        writer.start();
        let b0 = Tensor::<1>::from_floats([1.0, 2.0, 3.0, 4.0].as_slice(), &device).reshape([2, 2]);
        let b1 = Tensor::<1>::from_floats([5.0, 6.0].as_slice(), &device).reshape([1, 2]);
        writer.batch_end(&b0, 0).unwrap();
        assert_eq!(
            std::fs::read_to_string(writer.sink().batch_path(0)).unwrap(),
            "1,2\n3,4\n"
        );
        assert!(!writer.sink().epoch_path().exists());
        writer.batch_end(&b1, 1).unwrap();
        writer.epoch_end().unwrap();
        assert_eq!(
            std::fs::read_to_string(writer.sink().epoch_path()).unwrap(),
            "1,2\n3,4\n5,6\n"
        );
        // Epoch-only writes no batch files.
        let only = CsvPredictionWriter::new(dir.join("epoch"));
        let mut writer = BasePredictionWriter::new(only, WriteInterval::Epoch);
        writer.batch_end(&b0, 0).unwrap();
        assert!(!writer.sink().batch_path(0).exists());
        writer.epoch_end().unwrap();
        assert!(writer.sink().epoch_path().exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
