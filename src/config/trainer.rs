//! [`TrainerConfig`]: the Trainer's options with Lightning's names and defaults.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use burn::tensor::FloatDType;
use serde::{Deserialize, Deserializer, Serialize};

use super::component::{CallbackSpec, LoggerSetting};
use crate::optim::ClipAlgorithm;

pub use crate::duration::parse_duration;

/// A batch limit: a fraction of the loader (float) or a number of batches (integer).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Limit {
    /// Number of batches.
    Batches(usize),
    /// Fraction of the batches, in [0, 1].
    Fraction(f64),
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) if n >= 0 => Ok(Limit::Batches(n as usize)),
            Raw::Float(f) if (0.0..=1.0).contains(&f) => Ok(Limit::Fraction(f)),
            Raw::Int(n) => Err(serde::de::Error::custom(format!(
                "expected a batch count >= 0 or a fraction in [0.0, 1.0], got {n}"
            ))),
            Raw::Float(f) => Err(serde::de::Error::custom(format!(
                "expected a fraction in [0.0, 1.0] or an integer batch count, got {f}"
            ))),
        }
    }
}

impl Limit {
    /// Batches to run out of `available`.
    pub fn apply(self, available: usize) -> usize {
        match self {
            Limit::Batches(n) => n.min(available),
            Limit::Fraction(f) => ((available as f64) * f) as usize,
        }
    }
}

/// Numerical precision of the run.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
pub enum Precision {
    /// float32 everywhere (default).
    #[serde(rename = "32-true")]
    #[default]
    F32,
    /// float64 everywhere.
    #[serde(rename = "64-true")]
    F64,
    /// float16 weights and compute.
    #[serde(rename = "16-true")]
    F16,
    /// bfloat16 weights and compute.
    #[serde(rename = "bf16-true")]
    Bf16,
    /// float16 autocast with float32 master weights.
    #[serde(rename = "16-mixed")]
    F16Mixed,
    /// bfloat16 autocast with float32 master weights.
    #[serde(rename = "bf16-mixed")]
    Bf16Mixed,
}

impl Precision {
    /// Parses Lightning's spellings (`32`, `"32-true"`, `16`, `"16-mixed"`, `"bf16"`, …).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s.trim() {
            "32" | "32-true" => Precision::F32,
            "64" | "64-true" => Precision::F64,
            "16-true" => Precision::F16,
            "bf16-true" => Precision::Bf16,
            "16" | "16-mixed" => Precision::F16Mixed,
            "bf16" | "bf16-mixed" => Precision::Bf16Mixed,
            other => bail!(
                "unknown precision `{other}`; expected one of 32, 64, 16-mixed, bf16-mixed, 16-true, bf16-true"
            ),
        })
    }

    /// The half type a mixed-precision step computes in (`None`: not mixed).
    pub fn mixed_dtype(self) -> Option<FloatDType> {
        match self {
            Precision::F16Mixed => Some(FloatDType::F16),
            Precision::Bf16Mixed => Some(FloatDType::BF16),
            _ => None,
        }
    }

    /// Sets the device's default float type, or explains why this device or build cannot.
    pub fn configure(self, device: &mut Device) -> Result<()> {
        let dtype = match self {
            Precision::F32 => return Ok(()),
            Precision::F64 => FloatDType::F64,
            Precision::F16 => FloatDType::F16,
            Precision::Bf16 => FloatDType::BF16,
            Precision::F16Mixed | Precision::Bf16Mixed => {
                let half = self.mixed_dtype().expect("mixed");
                if !device.supports_dtype(half) {
                    bail!(
                        "precision {self:?} computes in {half:?}, which device {device:?} does not support; use 32"
                    );
                }
                // Weights stay float32; the step casts them.
                return Ok(());
            }
        };
        if !device.supports_dtype(dtype) {
            bail!(
                "precision {self:?} needs {dtype:?} arithmetic, which device {device:?} does not support"
            );
        }
        if device.settings().float_dtype == dtype {
            return Ok(());
        }
        device
            .configure(dtype)
            .map_err(|e| anyhow::anyhow!("cannot switch device {device:?} to {dtype:?} (set precision before any tensor is created on it): {e:?}"))
    }
}

/// Deprecated keys: `Some` whenever the key is written, even as `null`, so that its notice is
/// printed (serde alone maps `null` to `None`, indistinguishable from an absent key).
fn key_present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn precision_from_any<'de, D: Deserializer<'de>>(d: D) -> Result<Precision, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Str(String),
    }
    let text = match Raw::deserialize(d)? {
        Raw::Int(n) => n.to_string(),
        Raw::Str(s) => s,
    };
    Precision::parse(&text).map_err(serde::de::Error::custom)
}

/// `fast_dev_run`: `true` (1 batch) or a number of batches.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum FastDevRun {
    /// On (1 batch) or off.
    Flag(bool),
    /// Run this many batches of each loop.
    Batches(usize),
}

impl FastDevRun {
    /// Batches per loop, if on.
    pub fn batches(self) -> Option<usize> {
        match self {
            FastDevRun::Flag(true) => Some(1),
            FastDevRun::Flag(false) | FastDevRun::Batches(0) => None,
            FastDevRun::Batches(n) => Some(n),
        }
    }
}

impl Default for FastDevRun {
    fn default() -> Self {
        FastDevRun::Flag(false)
    }
}

/// Which accelerator runs the module.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Accelerator {
    /// The best compiled in: cuda, then wgpu, then cpu.
    #[default]
    Auto,
    /// burn's flex CPU backend.
    Cpu,
    /// CUDA (feature `cuda`).
    Cuda,
    /// Alias of `cuda`.
    Gpu,
    /// wgpu: Vulkan/Metal/DX12 (feature `wgpu`).
    Wgpu,
}

/// The Trainer's options. Field names and defaults follow Lightning 2.x.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TrainerConfig {
    /// Which backend.
    pub accelerator: Accelerator,
    /// Devices of this node: `auto`, a count (`2`), indices (`[0, 1]`, `"0,1"`) or names
    /// (`"cuda:0,cuda:1"`). On the CPU a count is the number of ranks sharing the host.
    #[schemars(with = "serde_json::Value")]
    pub devices: Devices,
    /// `auto` (DDP when more than one device), `single` or `ddp`.
    pub strategy: Strategy,
    /// Machines taking part; each runs `devices` ranks.
    pub num_nodes: usize,
    /// How long a rank waits in a collective (gradient averaging, `sync_dist`, agreeing on a
    /// stop) for the other ranks before the run ends with an error naming the ranks and the
    /// operation, `DD:HH:MM:SS` like `max_time`. torch's process-group timeout (Lightning's
    /// `DDPStrategy(timeout=...)`), 30 minutes by default as there: rank 0 alone runs
    /// `prepare_data`, callbacks and checkpoint writes while the others wait, so leave room.
    pub ddp_timeout: String,
    /// Stop after this many epochs (`None` with `max_steps = -1` means 1000, as in Lightning).
    pub max_epochs: Option<i64>,
    /// Do not stop (early stopping included) before this many epochs.
    pub min_epochs: Option<usize>,
    /// Stop after this many optimizer steps (-1: unbounded).
    pub max_steps: i64,
    /// Do not stop before this many optimizer steps.
    pub min_steps: Option<usize>,
    /// Stop after this much wall-clock time, `DD:HH:MM:SS`.
    pub max_time: Option<String>,
    /// Training batches per epoch.
    pub limit_train_batches: Limit,
    /// Validation batches per run.
    pub limit_val_batches: Limit,
    /// Test batches.
    pub limit_test_batches: Limit,
    /// Predict batches.
    pub limit_predict_batches: Limit,
    /// Validate every fraction of an epoch (float) or every N training batches (int).
    pub val_check_interval: Limit,
    /// Validate every N epochs (`null`: only by `val_check_interval` batches).
    pub check_val_every_n_epoch: Option<usize>,
    /// Validation batches run before training as a sanity check (-1: all).
    pub num_sanity_val_steps: i64,
    /// Micro-batches whose gradients add up to one optimizer step.
    pub accumulate_grad_batches: usize,
    /// Clip gradients to this value (`None`: no clipping).
    pub gradient_clip_val: Option<f64>,
    /// `norm` (global L2 norm over all parameters) or `value`.
    pub gradient_clip_algorithm: ClipAlgorithm,
    /// Log the p-norm of gradients (-1: off; 2 for L2, `inf` for max).
    pub track_grad_norm: f64,
    /// Recompute memory-bound activations in backward instead of keeping them (burn's autodiff
    /// gradient checkpointing): less memory, more compute.
    pub gradient_checkpointing: bool,
    /// `32`, `64`, `16-true`, `bf16-true`, `16-mixed`, `bf16-mixed` (half-precision steps, float32 weights).
    #[serde(deserialize_with = "precision_from_any")]
    pub precision: Precision,
    /// Lightning's switch for deterministic kernels. Accepted with a notice: burn has no such
    /// switch, and every seeded CPU run already repeats bit for bit (see
    /// [`deterministic_notice`](crate::trainer::deterministic_notice) for why and for GPUs).
    pub deterministic: bool,
    /// Run N batches of train/val/test once, without logging or checkpoints.
    pub fast_dev_run: FastDevRun,
    /// Train and validate on the same first batches (fraction or count; 0 = off).
    pub overfit_batches: Limit,
    /// Send step metrics to the loggers every N optimizer steps.
    pub log_every_n_steps: usize,
    /// Flush loggers to disk every N optimizer steps.
    pub flush_logs_every_n_steps: usize,
    /// Add a default `ModelCheckpoint` (last epoch) when none is configured.
    pub enable_checkpointing: bool,
    /// Show the progress bar.
    pub enable_progress_bar: bool,
    /// Print parameter counts at fit start.
    pub enable_model_summary: bool,
    /// Root of `lightning_logs/` and checkpoints.
    pub default_root_dir: PathBuf,
    /// Stop with an error when the loss is NaN or infinite.
    pub terminate_on_nan: bool,
    /// Rebuild the train dataloader every N epochs (0: never).
    pub reload_dataloaders_every_n_epochs: usize,
    /// Loggers: `true` (TensorBoard and CSV under `<root>/lightning_logs/version_N`), `false`
    /// (none), or one or a list of `TensorBoardLogger` / `CSVLogger`, each as a name,
    /// `Name: {save_dir, name, version}` or `{class_path, init_args}`.
    #[schemars(with = "serde_json::Value")]
    pub logger: LoggerSetting,
    /// Callbacks, in order, before the Trainer's own (checkpointing, summary, progress bar):
    /// each as a name, `Name: {arguments}` or `{class_path, init_args}`, e.g.
    /// `- EarlyStopping: {monitor: val_loss, patience: 3}`. Lightning's callbacks that exist
    /// here and those a program registers with `register_callback`.
    #[schemars(with = "serde_json::Value")]
    #[serde(deserialize_with = "super::component::null_as_empty")]
    pub callbacks: Vec<CallbackSpec>,
    /// Tune the process's allocator (glibc's mmap and trim thresholds) so that freed tensor
    /// buffers are reused rather than unmapped and faulted back in every step, as PyTorch's
    /// caching allocator does: 1.4–1.7× on the ETM on flex, at the cost of the process keeping
    /// its peak heap until it exits. Process-wide and once per process, so off by default for
    /// programs that embed the library; the shipped configs turn it on. See
    /// [`crate::allocator`]. No effect off glibc.
    pub retain_freed_memory: bool,
    /// Removed in Lightning 2.0: use `accelerator` + `devices`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "key_present"
    )]
    pub gpus: Option<serde_json::Value>,
    /// Removed in Lightning 2.0: `devices: auto` picks devices.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "key_present"
    )]
    pub auto_select_gpus: Option<Option<bool>>,
    /// Removed in Lightning 2.0: use `enable_progress_bar`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "key_present"
    )]
    pub progress_bar_refresh_rate: Option<Option<u64>>,
    /// Moved to the module in Lightning 2.0 (`automatic_optimization`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "key_present"
    )]
    pub automatic_optimization: Option<Option<bool>>,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        Self {
            accelerator: Accelerator::Auto,
            devices: Devices::Auto,
            strategy: Strategy::Auto,
            num_nodes: 1,
            ddp_timeout: "00:00:30:00".into(),
            max_epochs: None,
            min_epochs: None,
            max_steps: -1,
            min_steps: None,
            max_time: None,
            limit_train_batches: Limit::Fraction(1.0),
            limit_val_batches: Limit::Fraction(1.0),
            limit_test_batches: Limit::Fraction(1.0),
            limit_predict_batches: Limit::Fraction(1.0),
            val_check_interval: Limit::Fraction(1.0),
            check_val_every_n_epoch: Some(1),
            num_sanity_val_steps: 2,
            accumulate_grad_batches: 1,
            gradient_clip_val: None,
            gradient_clip_algorithm: ClipAlgorithm::Norm,
            track_grad_norm: -1.0,
            gradient_checkpointing: false,
            precision: Precision::F32,
            deterministic: false,
            fast_dev_run: FastDevRun::Flag(false),
            overfit_batches: Limit::Fraction(0.0),
            log_every_n_steps: 50,
            flush_logs_every_n_steps: 100,
            enable_checkpointing: true,
            enable_progress_bar: true,
            enable_model_summary: true,
            default_root_dir: PathBuf::from("."),
            terminate_on_nan: false,
            reload_dataloaders_every_n_epochs: 0,
            logger: LoggerSetting::Enabled(true),
            callbacks: Vec::new(),
            retain_freed_memory: false,
            gpus: None,
            auto_select_gpus: None,
            progress_bar_refresh_rate: None,
            automatic_optimization: None,
        }
    }
}

impl TrainerConfig {
    /// Maps keys Lightning has removed onto today's options; returns one notice per key.
    pub fn migrate_deprecated(&mut self) -> Vec<String> {
        let mut notices = Vec::new();
        if let Some(gpus) = self.gpus.take() {
            let none = gpus.is_null() || gpus == serde_json::json!(0);
            if !none {
                self.accelerator = Accelerator::Gpu;
                match serde_json::from_value(gpus.clone()) {
                    Ok(devices) => self.devices = devices,
                    Err(e) => notices.push(format!(
                        "trainer.gpus = {gpus} is not a device list ({e}); devices stay {:?}",
                        self.devices
                    )),
                }
            }
            notices.push("trainer.gpus is deprecated (removed in Lightning 2.0): use trainer.accelerator and trainer.devices".into());
        }
        if self.auto_select_gpus.take().is_some() {
            notices.push("trainer.auto_select_gpus is deprecated (removed in Lightning 2.0): trainer.devices: auto selects devices".into());
        }
        if let Some(rate) = self.progress_bar_refresh_rate.take() {
            if rate == Some(0) {
                self.enable_progress_bar = false;
            }
            notices.push("trainer.progress_bar_refresh_rate is deprecated (removed in Lightning 2.0): use trainer.enable_progress_bar".into());
        }
        if self.automatic_optimization.is_some() {
            notices.push("trainer.automatic_optimization is deprecated (a LightningModule property since Lightning 1.x): the module's automatic_optimization() decides".into());
        }
        notices
    }

    /// Checks ranges that serde cannot express.
    pub fn validate(&self) -> Result<()> {
        if self.accumulate_grad_batches == 0 {
            bail!("trainer.accumulate_grad_batches must be at least 1");
        }
        if matches!(self.max_epochs, Some(n) if n < -1) {
            bail!("trainer.max_epochs must be -1 (unbounded) or >= 0");
        }
        // NaN fails both checks below, as it should.
        if let Some(v) = self.gradient_clip_val
            && (v.is_nan() || v < 0.0)
        {
            bail!("trainer.gradient_clip_val must be >= 0, got {v}");
        }
        let p = self.track_grad_norm;
        if p != -1.0 && (p.is_nan() || p <= 0.0) {
            bail!(
                "trainer.track_grad_norm must be -1 (off), a positive p, or inf; got {}",
                self.track_grad_norm
            );
        }
        if self.log_every_n_steps == 0 {
            bail!("trainer.log_every_n_steps must be at least 1");
        }
        if let Some(t) = &self.max_time {
            parse_duration(t).context("trainer.max_time")?;
        }
        if matches!(self.check_val_every_n_epoch, Some(0)) {
            bail!("trainer.check_val_every_n_epoch must be at least 1 or null");
        }
        if self.num_sanity_val_steps < -1 {
            bail!("trainer.num_sanity_val_steps must be -1 (all) or >= 0");
        }
        self.world_size()?;
        self.ddp_timeout()?;
        self.check_thread_ranks()?;
        Ok(())
    }

    /// `ddp_timeout` as a duration.
    pub fn ddp_timeout(&self) -> Result<Duration> {
        let timeout = parse_duration(&self.ddp_timeout).map_err(|_| {
            anyhow::anyhow!(
                "trainer.ddp_timeout must look like DD:HH:MM:SS (e.g. 00:00:30:00), got `{}`",
                self.ddp_timeout
            )
        })?;
        if timeout.is_zero() {
            bail!("trainer.ddp_timeout must be longer than 0 seconds");
        }
        // A deadline is `Instant::now() + timeout`, which overflows (a panic) for durations near
        // 2^63 seconds; no collective should wait longer than a year anyway.
        const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
        if timeout > YEAR {
            bail!(
                "trainer.ddp_timeout must be at most 365:00:00:00 (a year), got `{}`",
                self.ddp_timeout
            );
        }
        Ok(timeout)
    }

    /// Whether the ranks are threads sharing one device (flex on the CPU, wgpu's one device)
    /// rather than one device each (CUDA).
    fn ranks_share_a_device(&self) -> bool {
        !self.backend_has_collective()
    }

    /// Refuses more CPU/wgpu ranks than [`max_thread_ranks`] allows.
    fn check_thread_ranks(&self) -> Result<()> {
        let count = self.devices.count();
        let cap = max_thread_ranks();
        if self.ranks_share_a_device() && count > cap {
            bail!(
                "trainer.devices asks for {count} ranks, but on this accelerator ranks are threads sharing one device, and this host allows at most {cap} (its hardware threads, at least {MIN_THREAD_RANK_CAP})"
            );
        }
        Ok(())
    }

    /// Refuses device indices beyond the devices burn finds (CUDA: `Device::enumerate`), before
    /// any rank starts.
    fn check_devices_exist(&self) -> Result<()> {
        self.world_size()?;
        self.check_thread_ranks()?;
        if !self.ranks_share_a_device()
            && let Some(found) = cuda_device_count()
            && let Some(&index) = self.devices.indices().iter().find(|&&i| i >= found)
        {
            bail!(
                "trainer.devices asks for CUDA device {index}, but burn finds {found} CUDA device(s) on this machine (indices 0..{found})"
            );
        }
        Ok(())
    }

    /// The maximum number of epochs in force (Lightning: 1000 when neither bound is set).
    pub fn effective_max_epochs(&self) -> Option<usize> {
        match self.max_epochs {
            Some(-1) => None,
            Some(n) => Some(n as usize),
            None if self.max_steps == -1 => Some(1000),
            None => None,
        }
    }

    /// Ranks of the run: devices per node times `num_nodes`; checks that `strategy` allows them.
    pub fn world_size(&self) -> Result<usize> {
        let per_node = self.devices.count();
        if per_node == 0 {
            bail!(
                "trainer.devices must be at least 1 device, got {:?}",
                self.devices
            );
        }
        if self.num_nodes == 0 {
            bail!("trainer.num_nodes must be at least 1");
        }
        if self.num_nodes > 1 {
            bail!(
                "trainer.num_nodes = {}: burn 0.22 has no all-reduce across processes or hosts (its collectives are CUDA devices within one process), so runs span one node; see the README's design notes on multi-node",
                self.num_nodes
            );
        }
        if self.strategy == Strategy::Single && per_node > 1 {
            bail!(
                "trainer.strategy is `single` but trainer.devices asks for {per_node} devices; use strategy `ddp` (or `auto`), or devices: 1"
            );
        }
        Ok(per_node * self.num_nodes)
    }

    /// Training examples each rank visits per epoch out of `examples` (DDP shards the data), for
    /// modules that size a schedule by optimizer steps (Lightning's `estimated_stepping_batches`).
    pub fn examples_per_rank(&self, examples: usize) -> usize {
        examples.div_ceil(self.world_size().unwrap_or(1))
    }

    /// The compute device of every local rank, in rank order (autodiff is added by the Trainer
    /// for `fit`). The CPU has one device, which all of its ranks share.
    /// Fails, before any rank starts, when the accelerator has fewer devices than asked for.
    pub fn rank_devices(&self) -> Result<Vec<Device>> {
        self.check_devices_exist()?;
        let indices = self.devices.indices();
        indices.iter().map(|&i| self.device_at(i)).collect()
    }

    /// The device of rank 0.
    pub fn device(&self) -> Result<Device> {
        self.check_devices_exist()?;
        self.device_at(self.devices.indices()[0])
    }

    /// Whether the devices are CUDA's, the one backend burn 0.22 all-reduces between itself
    /// (flex and wgpu have no collective).
    pub fn backend_has_collective(&self) -> bool {
        match self.accelerator {
            Accelerator::Cuda | Accelerator::Gpu => true,
            Accelerator::Auto => cfg!(feature = "cuda"),
            Accelerator::Cpu | Accelerator::Wgpu => false,
        }
    }

    fn device_at(&self, index: usize) -> Result<Device> {
        match self.accelerator {
            Accelerator::Cpu => Ok(Device::flex()),
            Accelerator::Cuda | Accelerator::Gpu => cuda_device(index),
            Accelerator::Wgpu => wgpu_device(),
            Accelerator::Auto => {
                if cfg!(feature = "cuda") {
                    cuda_device(index)
                } else if cfg!(feature = "wgpu") {
                    wgpu_device()
                } else {
                    Ok(Device::flex())
                }
            }
        }
    }
}

/// `trainer.strategy`: how ranks share the work.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// `ddp` when more than one device is asked for, else `single`.
    #[default]
    Auto,
    /// One device.
    Single,
    /// Distributed data parallel: a replica per device, each on its shard of every epoch,
    /// gradients averaged before each optimizer step.
    Ddp,
}

/// `trainer.devices`: `auto` (one), a count, or which devices by index.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Devices {
    /// One device (the first).
    #[default]
    Auto,
    /// The first `n` devices (on the CPU: `n` ranks sharing the host).
    Count(usize),
    /// These device indices, one rank each.
    Indices(Vec<usize>),
}

impl Devices {
    /// Parses Lightning's spellings: `auto`, `2`, `"0,1"`, `"cuda:0,cuda:1"`, `"[0, 1]"`.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let bad = || {
            anyhow::anyhow!(
                "trainer.devices = `{text}`: expected auto, a count like 2, or device indices like [0, 1], \"0,1\" or \"cuda:0,cuda:1\""
            )
        };
        if text == "auto" {
            return Ok(Devices::Auto);
        }
        if let Ok(n) = text.parse::<i64>() {
            return match n {
                n if n >= 1 => Ok(Devices::Count(n as usize)),
                -1 => bail!(
                    "trainer.devices = -1 (all devices) needs a device count, which burn does not report; give a count or list the devices"
                ),
                _ => bail!("trainer.devices must be at least 1, got {n}"),
            };
        }
        let inner = text.trim_start_matches('[').trim_end_matches(']');
        let indices = inner
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                let p = p.trim().trim_matches(|c| c == '"' || c == '\'');
                let index = p.rsplit(':').next().unwrap_or(p);
                index.trim().parse::<usize>().map_err(|_| bad())
            })
            .collect::<Result<Vec<_>>>()?;
        Self::from_indices(indices).map_err(|_| bad())
    }

    fn from_indices(indices: Vec<usize>) -> Result<Self> {
        if indices.is_empty() {
            bail!("trainer.devices lists no device");
        }
        let mut seen = indices.clone();
        seen.sort_unstable();
        if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
            bail!("trainer.devices lists device {} twice", w[0]);
        }
        Ok(Devices::Indices(indices))
    }

    /// Devices on this node.
    pub fn count(&self) -> usize {
        match self {
            Devices::Auto => 1,
            Devices::Count(n) => *n,
            Devices::Indices(v) => v.len(),
        }
    }

    /// Device index of each local rank.
    pub fn indices(&self) -> Vec<usize> {
        match self {
            Devices::Auto => vec![0],
            Devices::Count(n) => (0..*n).collect(),
            Devices::Indices(v) => v.clone(),
        }
    }
}

impl Serialize for Devices {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Devices::Auto => s.serialize_str("auto"),
            Devices::Count(n) => s.serialize_u64(*n as u64),
            Devices::Indices(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Devices {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Text(String),
            List(Vec<serde_json::Value>),
        }
        let parsed = match Raw::deserialize(d)? {
            Raw::Int(n) => Devices::parse(&n.to_string()),
            Raw::Text(t) => Devices::parse(&t),
            Raw::List(items) => items
                .iter()
                .map(|v| match v {
                    serde_json::Value::Number(n) => n.as_u64().map(|n| n as usize).ok_or(()),
                    serde_json::Value::String(s) => s
                        .rsplit(':')
                        .next()
                        .and_then(|i| i.trim().parse().ok())
                        .ok_or(()),
                    _ => Err(()),
                })
                .collect::<Result<Vec<usize>, ()>>()
                .map_err(|_| {
                    anyhow::anyhow!(
                        "trainer.devices: a list holds device indices (0) or names (\"cuda:0\")"
                    )
                })
                .and_then(Devices::from_indices),
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

/// CPU/wgpu ranks allowed on any host, however few its hardware threads: a node of 8 GPUs, so
/// that a run configured for one can be rehearsed anywhere.
pub(crate) const MIN_THREAD_RANK_CAP: usize = 8;

/// The most ranks a CPU or wgpu run may have. Their ranks are threads sharing one device:
/// ranks beyond the host's hardware threads only time-slice the same cores while each holds a
/// replica and its optimizer state (memory grows, throughput does not), and a count like
/// 100000 would exhaust the thread limit or memory before the first rendezvous. So: the
/// hardware threads this process may use (`available_parallelism`, which honours cgroup
/// quotas and CPU affinity), but at least [`MIN_THREAD_RANK_CAP`].
pub(crate) fn max_thread_ranks() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .max(MIN_THREAD_RANK_CAP)
}

/// CUDA devices on this machine, as burn enumerates them (`None`: built without CUDA).
#[cfg(feature = "cuda")]
fn cuda_device_count() -> Option<usize> {
    Some(Device::enumerate(burn::tensor::DeviceType::Cuda).len())
}
#[cfg(not(feature = "cuda"))]
fn cuda_device_count() -> Option<usize> {
    None
}

#[cfg(feature = "cuda")]
fn cuda_device(index: usize) -> Result<Device> {
    Ok(Device::cuda(index))
}
#[cfg(not(feature = "cuda"))]
fn cuda_device(_index: usize) -> Result<Device> {
    bail!(
        "trainer.accelerator asks for CUDA but this binary was built without the `cuda` feature (cargo build --features cuda)"
    )
}
#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device> {
    Ok(Device::wgpu(Default::default()))
}
#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device> {
    bail!(
        "trainer.accelerator asks for wgpu but this binary was built without the `wgpu` feature (cargo build --features wgpu)"
    )
}
