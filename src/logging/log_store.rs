//! Values logged with [`HookContext::log`](crate::HookContext::log): step values, epoch means
//! weighted by batch size, and the three views Lightning keeps (callback, progress bar, logger).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a logged value is reduced over an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Reduce {
    /// Batch-size weighted mean (Lightning's default).
    #[default]
    Mean,
    /// Sum of the values.
    Sum,
    /// Largest value.
    Max,
    /// Smallest value.
    Min,
}

/// Options of one `log` call; `None` means "the default for the hook it is called from", as in
/// Lightning: per step in training batches, per epoch everywhere else.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Record the value at this step (key gets `_step` when `on_epoch` is on too).
    pub on_step: Option<bool>,
    /// Accumulate over the epoch and record the reduction at its end (key gets `_epoch` when both).
    pub on_epoch: Option<bool>,
    /// Show in the progress bar.
    pub prog_bar: bool,
    /// Send to the loggers (TensorBoard, CSV); default true.
    pub logger: Option<bool>,
    /// Weight of this value in the epoch mean; default: the current batch's size.
    pub batch_size: Option<usize>,
    /// Epoch reduction.
    pub reduce: Reduce,
    /// Average the value over all ranks when logged (DDP); every rank must log the key.
    pub sync_dist: bool,
}

impl LogOptions {
    /// Show the value in the progress bar.
    pub fn prog_bar(mut self) -> Self {
        self.prog_bar = true;
        self
    }
    /// Set `on_step`.
    pub fn on_step(mut self, on: bool) -> Self {
        self.on_step = Some(on);
        self
    }
    /// Set `on_epoch`.
    pub fn on_epoch(mut self, on: bool) -> Self {
        self.on_epoch = Some(on);
        self
    }
    /// Set the epoch-mean weight.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = Some(n);
        self
    }
    /// Keep the value out of the loggers.
    pub fn no_logger(mut self) -> Self {
        self.logger = Some(false);
        self
    }
    /// Average over all ranks when logged (Lightning's `sync_dist=True`).
    pub fn sync_dist(mut self) -> Self {
        self.sync_dist = true;
        self
    }
    /// Set the epoch reduction.
    pub fn reduce(mut self, reduce: Reduce) -> Self {
        self.reduce = reduce;
        self
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct EpochAccumulator {
    reduce: Reduce,
    #[serde(with = "crate::float_serde")]
    total: f64,
    #[serde(with = "crate::float_serde")]
    weight: f64,
    prog_bar: bool,
    logger: bool,
}

/// Everything logged so far, split the way Lightning splits it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MetricStore {
    /// Latest value of every key; what `ModelCheckpoint` and `EarlyStopping` monitor.
    #[serde(with = "crate::float_serde::map")]
    pub callback_metrics: BTreeMap<String, f64>,
    /// Latest values marked `prog_bar`.
    #[serde(with = "crate::float_serde::map")]
    pub progress_bar_metrics: BTreeMap<String, f64>,
    /// Values waiting to be written by the loggers at the next logging step.
    #[serde(skip)]
    pub(crate) pending: BTreeMap<String, f64>,
    /// Text waiting for the loggers (tag, text).
    #[serde(skip)]
    pub(crate) pending_text: Vec<(String, String)>,
    /// Histograms waiting for the loggers (tag, values).
    #[serde(skip)]
    pub(crate) pending_histograms: Vec<(String, Vec<f64>)>,
    epoch: BTreeMap<String, EpochAccumulator>,
    /// Where `<name>_step` / `<name>_epoch` keys are built (reused: no allocation per log).
    #[serde(skip)]
    key_buffer: String,
}

impl MetricStore {
    /// Records one value; `step_default` says whether the hook it came from logs per step.
    pub(crate) fn log(
        &mut self,
        name: &str,
        value: f64,
        options: &LogOptions,
        step_default: bool,
        batch_size: usize,
    ) {
        let on_step = options.on_step.unwrap_or(step_default);
        let on_epoch = options.on_epoch.unwrap_or(!step_default);
        let to_logger = options.logger.unwrap_or(true);
        // Keys are borrowed (or built in a reused buffer), and copied only into a map that lacks
        // them: a training step logs its loss every batch, and the Trainer's per-step overhead
        // is budgeted at 1%.
        let both = on_step && on_epoch;
        let mut buffer = std::mem::take(&mut self.key_buffer);
        if on_step {
            let step_key = suffixed(&mut buffer, name, both, "_step");
            set(&mut self.callback_metrics, step_key, value);
            if both {
                set(&mut self.callback_metrics, name, value);
            }
            if options.prog_bar {
                set(&mut self.progress_bar_metrics, step_key, value);
            }
            if to_logger {
                set(&mut self.pending, step_key, value);
            }
        }
        if on_epoch {
            let epoch_key = suffixed(&mut buffer, name, both, "_epoch");
            let weight = options.batch_size.unwrap_or(batch_size).max(1) as f64;
            if !self.epoch.contains_key(epoch_key) {
                self.epoch.insert(
                    epoch_key.to_string(),
                    EpochAccumulator {
                        reduce: options.reduce,
                        total: match options.reduce {
                            Reduce::Max => f64::NEG_INFINITY,
                            Reduce::Min => f64::INFINITY,
                            _ => 0.0,
                        },
                        weight: 0.0,
                        prog_bar: options.prog_bar,
                        logger: to_logger,
                    },
                );
            }
            let acc = self.epoch.get_mut(epoch_key).expect("inserted above");
            match acc.reduce {
                Reduce::Mean => {
                    acc.total += value * weight;
                    acc.weight += weight;
                }
                Reduce::Sum => acc.total += value,
                Reduce::Max => acc.total = acc.total.max(value),
                Reduce::Min => acc.total = acc.total.min(value),
            }
        }
        self.key_buffer = buffer;
    }

    /// Closes the epoch of the current loop: reductions become callback, progress-bar and
    /// pending logger values (keys `x_epoch` also update `x`).
    pub(crate) fn finish_epoch(&mut self) -> BTreeMap<String, f64> {
        let mut reduced = BTreeMap::new();
        for (key, acc) in std::mem::take(&mut self.epoch) {
            let value = match acc.reduce {
                Reduce::Mean => acc.total / acc.weight.max(f64::MIN_POSITIVE),
                _ => acc.total,
            };
            if let Some(base) = key.strip_suffix("_epoch") {
                self.callback_metrics.insert(base.to_string(), value);
            }
            self.callback_metrics.insert(key.clone(), value);
            if acc.prog_bar {
                self.progress_bar_metrics.insert(key.clone(), value);
            }
            if acc.logger {
                self.pending.insert(key.clone(), value);
            }
            reduced.insert(key, value);
        }
        reduced
    }

    /// Drops epoch accumulators and pending values (after the sanity check, as Lightning does).
    pub(crate) fn discard_epoch(&mut self) {
        self.epoch.clear();
        self.pending.clear();
        self.pending_text.clear();
        self.pending_histograms.clear();
    }

    /// Takes the values the loggers have not written yet.
    pub(crate) fn take_pending(&mut self) -> BTreeMap<String, f64> {
        std::mem::take(&mut self.pending)
    }
}

/// `name` + `suffix` built in `buffer` when `suffixed`, else `name` itself.
fn suffixed<'a>(buffer: &'a mut String, name: &'a str, suffixed: bool, suffix: &str) -> &'a str {
    if !suffixed {
        return name;
    }
    buffer.clear();
    buffer.push_str(name);
    buffer.push_str(suffix);
    buffer
}

/// `map[key] = value`, copying `key` only when `map` lacks it.
fn set(map: &mut BTreeMap<String, f64>, key: &str, value: f64) {
    match map.get_mut(key) {
        Some(slot) => *slot = value,
        None => {
            map.insert(key.to_string(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_mean_is_weighted_by_batch_size() {
        let mut store = MetricStore::default();
        let opts = LogOptions::default();
        store.log("loss", 1.0, &opts, false, 3);
        store.log("loss", 3.0, &opts, false, 1);
        let reduced = store.finish_epoch();
        assert_eq!(reduced["loss"], 1.5);
        assert_eq!(store.callback_metrics["loss"], 1.5);
    }

    #[test]
    fn step_and_epoch_get_suffixed_keys() {
        let mut store = MetricStore::default();
        let opts = LogOptions::default()
            .on_step(true)
            .on_epoch(true)
            .prog_bar();
        store.log("acc", 0.5, &opts, true, 2);
        store.log("acc", 1.0, &opts, true, 2);
        assert_eq!(store.callback_metrics["acc_step"], 1.0);
        assert_eq!(store.take_pending()["acc_step"], 1.0);
        store.finish_epoch();
        assert_eq!(store.callback_metrics["acc_epoch"], 0.75);
        assert_eq!(store.callback_metrics["acc"], 0.75);
        assert_eq!(store.progress_bar_metrics["acc_epoch"], 0.75);
    }

    #[test]
    fn max_and_sum_reductions() {
        let mut store = MetricStore::default();
        store.log(
            "m",
            2.0,
            &LogOptions::default().reduce(Reduce::Max),
            false,
            1,
        );
        store.log(
            "m",
            5.0,
            &LogOptions::default().reduce(Reduce::Max),
            false,
            1,
        );
        store.log(
            "s",
            2.0,
            &LogOptions::default().reduce(Reduce::Sum),
            false,
            1,
        );
        store.log(
            "s",
            5.0,
            &LogOptions::default().reduce(Reduce::Sum),
            false,
            1,
        );
        let r = store.finish_epoch();
        assert_eq!((r["m"], r["s"]), (5.0, 7.0));
    }
}
