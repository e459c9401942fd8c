//! TensorBoard event files written directly: scalars, text, histograms and hparams.
//!
//! `tensorboard-rs` panics on text, histograms and hparams and pulls an old protobuf crate with
//! a security advisory, so the Event/Summary protobufs are encoded here by hand (see
//! `protobuf.rs`). Python TensorBoard's `EventAccumulator` reads the result (tested in CI).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde_json::Value;

use super::protobuf::{Message, tfrecord};
use super::{Logger, flatten_hparams};

/// Writes `events.out.tfevents.*` in the run directory.
pub struct TensorBoardLogger {
    path: PathBuf,
    out: BufWriter<File>,
    hparams: BTreeMap<String, Value>,
    metric_tags: Vec<String>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn plugin_metadata(plugin: &str, content: &[u8]) -> Message {
    Message::default().message(1, Message::default().string(1, plugin).bytes(2, content))
}

impl TensorBoardLogger {
    /// Opens a new event file in `dir`.
    pub fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        let path = dir.join(format!(
            "events.out.tfevents.{}.{}.{}.0",
            now() as u64,
            host,
            std::process::id()
        ));
        let file =
            File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut logger = Self {
            path,
            out: BufWriter::new(file),
            hparams: BTreeMap::new(),
            metric_tags: Vec::new(),
        };
        logger.write_event(
            Message::default()
                .double(1, now())
                .string(3, "brain.Event:2"),
        )?;
        Ok(logger)
    }

    /// The event file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_event(&mut self, event: Message) -> Result<()> {
        self.out
            .write_all(&tfrecord(&event.0))
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    fn write_summary(&mut self, step: usize, value: Message) -> Result<()> {
        let summary = Message::default().message(1, value);
        self.write_event(
            Message::default()
                .double(1, now())
                .varint(2, step as u64)
                .message(5, summary),
        )
    }

    fn hparams_value(v: &Value) -> Message {
        match v {
            Value::Number(n) => Message::default().double(2, n.as_f64().unwrap_or(f64::NAN)),
            Value::Bool(b) => Message::default().varint(4, *b as u64),
            Value::String(s) => Message::default().string(3, s),
            Value::Null => Message::default().string(3, "null"),
            other => Message::default().string(3, &other.to_string()),
        }
    }

    fn write_hparams(&mut self) -> Result<()> {
        let mut experiment = Message::default();
        for (name, v) in &self.hparams {
            // HParamInfo.type: 1 string, 2 bool, 3 float64.
            let ty = match v {
                Value::Number(_) => 3,
                Value::Bool(_) => 2,
                _ => 1,
            };
            experiment = experiment.message(2, Message::default().string(1, name).varint(4, ty));
        }
        for tag in &self.metric_tags {
            experiment = experiment.message(
                3,
                Message::default().message(1, Message::default().string(2, tag)),
            );
        }
        let mut session = Message::default();
        for (name, v) in &self.hparams {
            session = session.message(
                1,
                Message::default()
                    .string(1, name)
                    .message(2, Self::hparams_value(v)),
            );
        }
        session = session.double(5, now());
        let exp = Message::default().varint(1, 0).message(2, experiment);
        let start = Message::default().varint(1, 0).message(3, session);
        for (tag, content) in [
            ("_hparams_/experiment", exp),
            ("_hparams_/session_start_info", start),
        ] {
            let value = Message::default()
                .string(1, tag)
                .message(9, plugin_metadata("hparams", &content.0));
            self.write_summary(0, value)?;
        }
        Ok(())
    }
}

impl Logger for TensorBoardLogger {
    fn log_metrics(&mut self, metrics: &BTreeMap<String, f64>, step: usize) -> Result<()> {
        for (tag, v) in metrics {
            if !self.metric_tags.contains(tag) {
                self.metric_tags.push(tag.clone());
            }
            let value = Message::default().string(1, tag).float(2, *v as f32);
            self.write_summary(step, value)?;
        }
        Ok(())
    }

    fn log_hyperparams(&mut self, params: &Value) -> Result<()> {
        self.hparams = flatten_hparams(params);
        self.write_hparams()
    }

    fn log_text(&mut self, tag: &str, text: &str, step: usize) -> Result<()> {
        // TensorProto: dtype DT_STRING (7), shape [1], string_val.
        let shape = Message::default().message(2, Message::default().varint(1, 1));
        let tensor = Message::default()
            .varint(1, 7)
            .message(2, shape)
            .bytes(8, text.as_bytes());
        let value = Message::default()
            .string(1, &format!("{tag}/text_summary"))
            .message(8, tensor)
            .message(9, plugin_metadata("text", &[]));
        self.write_summary(step, value)
    }

    fn log_histogram(&mut self, tag: &str, values: &[f64], step: usize) -> Result<()> {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            return Ok(());
        }
        let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let buckets = 30usize;
        let width = ((max - min) / buckets as f64).max(f64::MIN_POSITIVE);
        let mut counts = vec![0.0; buckets];
        for v in &finite {
            let i = (((v - min) / width) as usize).min(buckets - 1);
            counts[i] += 1.0;
        }
        let limits: Vec<f64> = (1..=buckets)
            .map(|i| {
                if i == buckets {
                    max
                } else {
                    min + width * i as f64
                }
            })
            .collect();
        let histo = Message::default()
            .double(1, min)
            .double(2, max)
            .double(3, finite.len() as f64)
            .double(4, finite.iter().sum())
            .double(5, finite.iter().map(|v| v * v).sum())
            .packed_doubles(6, &limits)
            .packed_doubles(7, &counts);
        let value = Message::default().string(1, tag).message(5, histo);
        self.write_summary(step, value)
    }

    fn flush(&mut self) -> Result<()> {
        self.out
            .flush()
            .with_context(|| format!("cannot flush {}", self.path.display()))
    }

    fn finalize(&mut self, status: &str) -> Result<()> {
        if !self.hparams.is_empty() {
            // Re-declare the metric tags seen, so the hparams dashboard lists them.
            self.write_hparams()?;
            // SessionEndInfo.status: 1 success, 2 failure.
            let end = Message::default()
                .varint(1, if status == "success" { 1 } else { 2 })
                .double(2, now());
            let content = Message::default().varint(1, 0).message(4, end);
            let value = Message::default()
                .string(1, "_hparams_/session_end_info")
                .message(9, plugin_metadata("hparams", &content.0));
            self.write_summary(0, value)?;
        }
        self.flush()
    }
}
