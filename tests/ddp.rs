//! Data-parallel training on two CPU ranks (`trainer.devices: 2`, `strategy: ddp`): the same
//! weights as one device on the combined batch, the distributed sampler, resume across world
//! sizes, rank-zero-only side effects, `sync_dist`, hook order per rank, and failures.
//!
//! Tolerance of the weight comparisons: 1e-5 (absolute, weights of order 1). One device takes
//! the mean gradient over 32 examples in one reduction; two ranks each take the mean over 16 and
//! average the two. The sums run in a different order, so gradients differ in the last bits
//! (about 1e-7 relative); Adam's update is a ratio of moments and passes such differences on
//! without growing them much, so after 20 steps they stay far below 1e-5. A real mistake
//! (a rank on the wrong shard, a missing or doubled gradient) moves weights by 1e-3 or more.

mod common;

use std::sync::{Arc, Mutex};

use anyhow::{Result, bail};
use burn::module::Module;
use burn::prelude::*;
use burn_lightning::OptimizerSetup;
use burn_lightning::data::DataLoader;
use burn_lightning::optim::Optimizers;
use burn_lightning::trainer::{Devices, Limit, Strategy};
use burn_lightning::{
    HookContext, LightningDataModule, LightningModule, LogOptions, Stage, Trainer, TrainerConfig,
};
use common::mlp::{Batch, Mlp, TwoMoons};

const TOLERANCE: f32 = 1e-5;

/// The CPU backend has one random generator per process, which every run reseeds; tests that
/// train take turns so that one test's reseeding cannot land between another's draws.
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn config(dir: &std::path::Path, devices: usize, max_steps: i64) -> TrainerConfig {
    let mut config = common::quiet_config(dir);
    // `BL_ACCELERATOR=cuda cargo test --features cuda --test ddp` runs the same tests on GPUs.
    if let Ok(name) = std::env::var("BL_ACCELERATOR") {
        config.accelerator = serde_json::from_value(serde_json::json!(name)).unwrap();
    }
    config.devices = Devices::Count(devices);
    config.max_steps = max_steps;
    config.max_epochs = None;
    config.limit_val_batches = Limit::Batches(2);
    config
}

/// 400 two-moons points (320 train); the batch is per rank, so 2 ranks x 16 = 1 device x 32.
fn fit(dir: &std::path::Path, devices: usize, max_steps: i64, resume: Option<&str>) -> Vec<f32> {
    let mut trainer = Trainer::new(config(dir, devices, max_steps)).seed(3);
    let mut data = TwoMoons::new(400, 32 / devices, 9);
    let module = trainer
        .fit(common::fixed_mlp(16), &mut data, resume)
        .unwrap();
    common::parameter_values(&module)
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn two_ranks_train_the_weights_one_device_trains_on_the_combined_batch() {
    let _serial = serial();
    let one = fit(&common::temp_dir("ddp-one"), 1, 20, None);
    let two = fit(&common::temp_dir("ddp-two"), 2, 20, None);
    let untrained = common::parameter_values(&common::fixed_mlp(16));
    let moved = max_difference(&one, &untrained);
    let apart = max_difference(&one, &two);
    eprintln!(
        "1 device vs 2 ranks after 20 steps: max |difference| {apart:e} (training moved weights by up to {moved})"
    );
    assert!(moved > 0.05, "training moved the weights by only {moved}");
    assert!(apart < TOLERANCE, "1 device and 2 ranks differ by {apart}");
    // Reruns are bit for bit identical.
    assert_eq!(two, fit(&common::temp_dir("ddp-two-again"), 2, 20, None));
}

#[test]
fn a_weight_changing_callback_from_the_config_is_refused_under_data_parallel() {
    let dir = common::temp_dir("ddp-config-swa");
    let mut config = config(&dir, 2, 4);
    config.callbacks = vec![
        burn_lightning::config::CallbackSpec::new(
            "StochasticWeightAveraging",
            serde_json::json!({"swa_lrs": 0.01}),
        )
        .unwrap(),
    ];
    let e = Trainer::new(config)
        .fit(common::fixed_mlp(16), &mut TwoMoons::new(400, 16, 9), None)
        .unwrap_err();
    assert!(
        format!("{e:#}").contains("callbacks run on rank 0 alone"),
        "{e:#}"
    );
}

#[test]
fn a_scheduled_accumulation_is_rank_zeros_on_every_rank() {
    // Callbacks run on rank 0 alone; the other rank must accumulate alike, or the gradient
    // all-reduce would wait for a step that never comes.
    let _turn = serial();
    let dir = common::temp_dir("ddp-accumulation-schedule");
    let mut config = config(&dir, 2, -1);
    config.max_epochs = Some(2);
    config.callbacks = vec![
        burn_lightning::config::CallbackSpec::new(
            "GradientAccumulationScheduler",
            serde_json::json!({"scheduling": {"0": 2, "1": 1}}),
        )
        .unwrap(),
    ];
    let mut trainer = Trainer::new(config).seed(3);
    // 320 training points, 16 per rank and batch: 10 batches per epoch on each rank.
    trainer
        .fit(common::fixed_mlp(16), &mut TwoMoons::new(400, 16, 9), None)
        .unwrap();
    assert_eq!(trainer.progress().global_step, 5 + 10);
}

#[test]
fn a_checkpoint_resumes_across_world_sizes_both_ways() {
    let _serial = serial();
    // 10 steps = one epoch of 320 examples at 32 per step.
    let straight = fit(&common::temp_dir("ddp-straight"), 2, 20, None);

    let dir = common::temp_dir("ddp-2-then-1");
    fit(&dir, 2, 10, None);
    let two_then_one = fit(&dir, 1, 20, Some("last"));
    let apart = max_difference(&straight, &two_then_one);
    assert!(apart < TOLERANCE, "2 ranks then 1 device differ by {apart}");

    let dir = common::temp_dir("ddp-1-then-2");
    fit(&dir, 1, 10, None);
    let one_then_two = fit(&dir, 2, 20, Some("last"));
    let apart = max_difference(&straight, &one_then_two);
    assert!(apart < TOLERANCE, "1 device then 2 ranks differ by {apart}");

    // On the same world size, resume is exact.
    let dir = common::temp_dir("ddp-2-then-2");
    fit(&dir, 2, 10, None);
    assert_eq!(straight, fit(&dir, 2, 20, Some("last")));
}

#[test]
fn rank_zero_alone_writes_logs_and_checkpoints() {
    let _serial = serial();
    let dir = common::temp_dir("ddp-rank-zero");
    let mut config = config(&dir, 2, 20);
    config.log_every_n_steps = 1;
    let mut trainer = Trainer::new(config).seed(3);
    trainer
        .fit(common::fixed_mlp(16), &mut TwoMoons::new(400, 16, 9), None)
        .unwrap();
    let versions: Vec<_> = std::fs::read_dir(dir.join("lightning_logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(versions, vec!["version_0".to_string()]);
    let metrics =
        std::fs::read_to_string(dir.join("lightning_logs/version_0/metrics.csv")).unwrap();
    let header: Vec<&str> = metrics.lines().next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (step, loss) = (column("step"), column("train_loss"));
    let steps: Vec<&str> = metrics
        .lines()
        .skip(1)
        .map(|row| row.split(',').collect::<Vec<_>>())
        .filter(|cells| !cells[loss].is_empty())
        .map(|cells| cells[step])
        .collect::<Vec<_>>();
    // One training row per optimizer step, from rank 0 alone (a second writer repeats steps).
    assert_eq!(steps.len(), 20, "{steps:?}");
    let mut distinct = steps.clone();
    distinct.dedup();
    assert_eq!(distinct, steps);
    let checkpoints = dir.join("lightning_logs/version_0/checkpoints");
    let mut names: Vec<String> = std::fs::read_dir(&checkpoints)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["epoch=1-step=20.ckpt", "last.ckpt"]);
    for name in names {
        burn_lightning::checkpoint::Checkpoint::load(&checkpoints.join(name)).unwrap();
    }
}

// ----- a module and datamodule that record what each rank does ------------------------------

type Calls = Arc<Mutex<Vec<(usize, String)>>>;

#[derive(Module, Debug)]
struct RankProbe {
    inner: Mlp,
    #[module(skip)]
    calls: Calls,
    #[module(skip)]
    fail_on_rank: Option<usize>,
    /// Zero input features at random (the backend's generator, shared by the CPU ranks).
    #[module(skip)]
    input_dropout: bool,
    /// Rank 0 alone logs with `sync_dist` in this hook (`training_step` at batch 1, or
    /// `on_fit_end`): a collective the other ranks never join.
    #[module(skip)]
    sync_on_rank_zero_only_in: Option<&'static str>,
    /// This rank's loss is NaN from batch 2 on.
    #[module(skip)]
    nan_on_rank: Option<usize>,
    /// This rank sleeps this long in `training_step` at batch 2 (stuck in user code).
    #[module(skip)]
    stall: Option<(usize, std::time::Duration)>,
}

impl RankProbe {
    fn record(&self, cx: &HookContext, hook: &str) {
        self.calls
            .lock()
            .unwrap()
            .push((cx.global_rank(), hook.to_string()));
    }
}

impl LightningModule for RankProbe {
    type Batch = Batch;

    fn prepare_data(&mut self) -> Result<()> {
        self.calls
            .lock()
            .unwrap()
            .push((usize::MAX, "prepare_data".into()));
        Ok(())
    }
    fn setup(&mut self, stage: Stage, cx: &mut HookContext) -> Result<()> {
        assert_eq!(cx.world_size(), 2);
        assert_eq!(cx.local_rank(), cx.global_rank());
        assert_eq!(cx.is_global_zero(), cx.global_rank() == 0);
        self.record(cx, &format!("setup({stage})"));
        Ok(())
    }
    fn on_fit_start(&mut self, cx: &mut HookContext) -> Result<()> {
        self.record(cx, "on_fit_start");
        Ok(())
    }
    fn on_train_epoch_start(&mut self, cx: &mut HookContext) -> Result<()> {
        self.record(cx, "on_train_epoch_start");
        Ok(())
    }
    fn training_step(
        &mut self,
        batch: &Batch,
        idx: usize,
        cx: &mut HookContext,
    ) -> Result<Tensor<1>> {
        self.record(cx, &format!("training_step({idx})"));
        if self.fail_on_rank == Some(cx.global_rank()) && idx == 2 {
            bail!("rank {} cannot read batch {idx}", cx.global_rank());
        }
        if let Some((rank, pause)) = self.stall
            && rank == cx.global_rank()
            && idx == 2
        {
            std::thread::sleep(pause);
        }
        let rank = cx.global_rank() as f64;
        cx.log_with("rank_mean", rank, LogOptions::default().sync_dist());
        cx.log_with("rank_local", rank, LogOptions::default());
        if self.sync_on_rank_zero_only_in == Some("training_step")
            && cx.is_global_zero()
            && idx == 1
        {
            cx.log_with("only_on_zero", 1.0, LogOptions::default().sync_dist());
        }
        if self.nan_on_rank == Some(cx.global_rank()) && idx >= 2 {
            return Ok(self.inner.training_step(batch, idx, cx)? * f32::NAN);
        }
        if self.input_dropout {
            let x = batch.0.clone();
            let keep = Tensor::<2>::random(
                x.dims(),
                burn::tensor::Distribution::Bernoulli(0.7),
                &x.device(),
            );
            let x = x * keep;
            return self.inner.training_step(&(x, batch.1.clone()), idx, cx);
        }
        self.inner.training_step(batch, idx, cx)
    }
    fn on_after_backward(&mut self, cx: &mut HookContext) -> Result<()> {
        self.record(cx, "on_after_backward");
        Ok(())
    }
    fn validation_step(
        &mut self,
        batch: &Batch,
        idx: usize,
        cx: &mut HookContext,
    ) -> Result<Option<Tensor<1>>> {
        self.record(cx, &format!("validation_step({idx})"));
        self.inner.validation_step(batch, idx, cx)
    }
    fn on_train_epoch_end(&mut self, cx: &mut HookContext) -> Result<()> {
        self.record(cx, "on_train_epoch_end");
        Ok(())
    }
    fn on_fit_end(&mut self, cx: &mut HookContext) -> Result<()> {
        self.record(cx, "on_fit_end");
        if self.sync_on_rank_zero_only_in == Some("on_fit_end") && cx.is_global_zero() {
            cx.log_with("only_on_zero", 1.0, LogOptions::default().sync_dist());
        }
        Ok(())
    }
    fn configure_optimizers(&mut self, trainer: &mut OptimizerSetup<'_>) -> Result<Optimizers> {
        self.inner.configure_optimizers(trainer)
    }
}

/// Counts `prepare_data` and `setup` calls of the one datamodule.
struct CountingData {
    inner: TwoMoons,
    prepared: usize,
    set_up: usize,
}

impl LightningDataModule for CountingData {
    type Batch = Batch;
    fn prepare_data(&mut self) -> Result<()> {
        self.prepared += 1;
        Ok(())
    }
    fn setup(&mut self, stage: Stage) -> Result<()> {
        self.set_up += 1;
        self.inner.setup(stage)
    }
    fn train_dataloader(&mut self) -> Result<DataLoader<Batch>> {
        self.inner.train_dataloader()
    }
    fn val_dataloader(&mut self) -> Result<Option<DataLoader<Batch>>> {
        self.inner.val_dataloader()
    }
}

/// Logs with `sync_dist` from a callback (callbacks run on rank 0 alone: nothing to wait for).
struct SyncingCallback;

impl burn_lightning::Callback for SyncingCallback {
    fn state_key(&self) -> String {
        "SyncingCallback".into()
    }
    fn on_train_batch_end(
        &mut self,
        _module: &mut burn_lightning::ModuleHandle<'_>,
        _loss: &Tensor<1>,
        _idx: usize,
        cx: &mut HookContext,
    ) -> Result<()> {
        cx.log_with("from_callback", 1.0, LogOptions::default().sync_dist());
        Ok(())
    }
}

fn probe(fail_on_rank: Option<usize>) -> (RankProbe, Calls) {
    let calls = Calls::default();
    let module = RankProbe {
        inner: common::fixed_mlp(8),
        calls: calls.clone(),
        fail_on_rank,
        input_dropout: false,
        sync_on_rank_zero_only_in: None,
        nan_on_rank: None,
        stall: None,
    };
    (module, calls)
}

#[test]
fn every_rank_runs_the_hooks_in_the_same_order_and_data_is_prepared_once() {
    let _serial = serial();
    let dir = common::temp_dir("ddp-hooks");
    let mut config = config(&dir, 2, 6);
    config.strategy = Strategy::Ddp;
    config.limit_train_batches = Limit::Batches(3);
    let mut trainer = Trainer::new(config).seed(3).callback(SyncingCallback);
    let mut data = CountingData {
        inner: TwoMoons::new(200, 10, 1),
        prepared: 0,
        set_up: 0,
    };
    let (module, calls) = probe(None);
    trainer.fit(module, &mut data, None).unwrap();
    assert_eq!((data.prepared, data.set_up), (1, 1));
    let calls = calls.lock().unwrap().clone();
    let prepared = calls.iter().filter(|(_, h)| h == "prepare_data").count();
    assert_eq!(
        prepared, 1,
        "the module's prepare_data runs on local rank 0 only"
    );
    let of_rank = |rank: usize| -> Vec<String> {
        calls
            .iter()
            .filter(|(r, _)| *r == rank)
            .map(|(_, h)| h.clone())
            .collect()
    };
    let (zero, one) = (of_rank(0), of_rank(1));
    assert_eq!(zero, one);
    assert_eq!(
        zero.iter()
            .filter(|h| h.starts_with("training_step"))
            .count(),
        6
    );
    assert_eq!(zero.first().map(String::as_str), Some("setup(fit)"));
    assert_eq!(zero.last().map(String::as_str), Some("on_fit_end"));
    // sync_dist averages over the ranks; a plain log keeps rank 0's value.
    assert_eq!(trainer.callback_metrics()["rank_mean"], 0.5);
    assert_eq!(trainer.callback_metrics()["rank_local"], 0.0);
    assert_eq!(trainer.callback_metrics()["from_callback"], 1.0);
}

#[test]
fn an_error_on_one_rank_ends_the_run_on_every_rank_with_that_error() {
    let _serial = serial();
    for failing in [0, 1] {
        let dir = common::temp_dir("ddp-fail");
        let mut trainer = Trainer::new(config(&dir, 2, 6)).seed(3);
        let (module, _) = probe(Some(failing));
        let mut data = TwoMoons::new(200, 10, 1);
        let error = format!("{:#}", trainer.fit(module, &mut data, None).unwrap_err());
        assert!(
            error.contains(&format!("rank {failing} cannot read batch 2")),
            "{error}"
        );
    }
}

#[test]
fn random_draws_repeat_across_reruns_although_the_cpu_ranks_share_one_generator() {
    let _serial = serial();
    let run = |seed: u64| {
        let dir = common::temp_dir("ddp-dropout");
        let mut trainer = Trainer::new(config(&dir, 2, 12)).seed(seed);
        let (mut module, _) = probe(None);
        module.input_dropout = true;
        let module = trainer
            .fit(module, &mut TwoMoons::new(200, 10, 1), None)
            .unwrap();
        common::parameter_values(&module)
    };
    let first = run(5);
    for _ in 0..3 {
        assert_eq!(first, run(5));
    }
    assert!(
        max_difference(&first, &run(6)) > 1e-4,
        "the seed changes the masks"
    );
}

#[test]
fn the_sampler_splits_every_epoch_disjointly_and_repeatably() {
    let loader = || DataLoader::new((0..96u32).collect::<Vec<_>>(), 8, Ok).shuffle(21);
    let epoch_of = |rank: usize, epoch: usize| -> Vec<u32> {
        let shard = loader().shard(rank, 2);
        assert_eq!(shard.num_batches(), 6);
        shard.iter(epoch, 0).flat_map(Result::unwrap).collect()
    };
    let mut orders = Vec::new();
    for epoch in 0..3 {
        let (a, b) = (epoch_of(0, epoch), epoch_of(1, epoch));
        let mut all: Vec<u32> = a.iter().chain(&b).copied().collect();
        all.sort();
        assert_eq!(
            all,
            (0..96).collect::<Vec<_>>(),
            "epoch {epoch}: every example once"
        );
        assert_eq!(
            (a.clone(), b.clone()),
            (epoch_of(0, epoch), epoch_of(1, epoch))
        );
        orders.push(a);
    }
    assert_ne!(orders[0], orders[1]);
    assert_ne!(orders[1], orders[2]);
}

#[test]
fn device_and_strategy_settings_are_checked() {
    let parse = |yaml: &str| -> Result<TrainerConfig> {
        let config: TrainerConfig = serde_saphyr::from_str(yaml)?;
        config.validate()?;
        Ok(config)
    };
    assert_eq!(
        parse("devices: \"cuda:0,cuda:1\"").unwrap().devices,
        Devices::Indices(vec![0, 1])
    );
    assert_eq!(
        parse("devices: [2, 3]").unwrap().devices,
        Devices::Indices(vec![2, 3])
    );
    assert_eq!(parse("devices: 2").unwrap().world_size().unwrap(), 2);
    assert_eq!(parse("devices: auto").unwrap().world_size().unwrap(), 1);
    let error = |yaml: &str| format!("{:#}", parse(yaml).unwrap_err());
    assert!(error("devices: 2\nstrategy: single").contains("strategy is `single`"));
    assert!(error("devices: [0, 0]").contains("device 0 twice"));
    assert!(error("devices: -1").contains("device count"));
    assert!(error("devices: two").contains("trainer.devices = `two`"));
    assert!(error("num_nodes: 2").contains("design notes"));
    assert!(error("strategy: fsdp").contains("unknown variant"));
}

// ----- bounded failures: no input makes a DDP run hang --------------------------------------

/// A 2-rank run whose collectives give up after `ddp_timeout` (2 s here; 30 minutes by default).
fn short_timeout_config(name: &str, ddp_timeout: &str) -> TrainerConfig {
    let mut config = config(&common::temp_dir(name), 2, 6);
    config.ddp_timeout = ddp_timeout.into();
    config
}

/// Fits `module` on 2 ranks; returns the error and how long the run took to end.
fn failing_fit(config: TrainerConfig, module: RankProbe) -> (String, std::time::Duration) {
    let start = std::time::Instant::now();
    let mut trainer = Trainer::new(config).seed(3);
    let result = trainer.fit(module, &mut TwoMoons::new(200, 10, 1), None);
    let elapsed = start.elapsed();
    (format!("{:#}", result.unwrap_err()), elapsed)
}

#[test]
fn a_sync_dist_log_on_one_rank_only_is_an_error_naming_both_ranks_operations() {
    let _serial = serial();
    // Before: the two ranks paired rank 0's all_gather with rank 1's gradient average and a
    // downcast panicked.
    let (mut module, _) = probe(None);
    module.sync_on_rank_zero_only_in = Some("training_step");
    let (error, elapsed) = failing_fit(short_timeout_config("ddp-sync-one", "00:00:00:02"), module);
    eprintln!("sync_dist on rank 0 only, in training_step: {elapsed:?}: {error}");
    assert!(error.contains("collective mismatch"), "{error}");
    assert!(
        error.contains("rank 0 in all_gather(sync_dist \"only_on_zero\") #")
            && error.contains("rank 1 in all_reduce(gradients) #"),
        "{error}"
    );
    assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn a_sync_dist_log_on_one_rank_after_the_others_have_finished_is_an_error() {
    let _serial = serial();
    // Before: rank 0 waited for ever in a collective that rank 1, already done, never joins.
    let (mut module, _) = probe(None);
    module.sync_on_rank_zero_only_in = Some("on_fit_end");
    let config = short_timeout_config("ddp-sync-end", "00:00:00:02");
    let (error, elapsed) = failing_fit(config, module);
    eprintln!("sync_dist on rank 0 only, in on_fit_end: {elapsed:?}: {error}");
    assert!(
        error.contains("rank 0 is in all_gather(sync_dist \"only_on_zero\") #")
            && error.contains("but rank 1 has finished its loop"),
        "{error}"
    );
    assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn a_nan_loss_on_one_rank_under_terminate_on_nan_stops_every_rank_naming_it() {
    let _serial = serial();
    let (mut module, _) = probe(None);
    module.nan_on_rank = Some(1);
    let mut config = short_timeout_config("ddp-nan", "00:00:00:02");
    config.terminate_on_nan = true;
    let (error, elapsed) = failing_fit(config, module);
    eprintln!("NaN on rank 1 under terminate_on_nan: {elapsed:?}: {error}");
    assert!(
        error.contains("non-finite loss (rank 1: NaN) at epoch 0, batch 2"),
        "{error}"
    );
    assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn a_rank_stuck_outside_the_collectives_times_out_naming_it() {
    let _serial = serial();
    // Rank 1 is busy in its training_step for 1.5 s; the others give up after 1 s.
    // Before: no timeout, rank 0 waited as long as rank 1 took (for ever, if it never returned).
    let (mut module, _) = probe(None);
    module.stall = Some((1, std::time::Duration::from_millis(1500)));
    let (error, elapsed) = failing_fit(short_timeout_config("ddp-stuck", "00:00:00:01"), module);
    eprintln!("rank 1 stuck for 1.5 s, ddp_timeout 1 s: {elapsed:?}: {error}");
    assert!(
        error.contains("rank 0 waited 1s (trainer.ddp_timeout) in"),
        "{error}"
    );
    assert!(error.contains("for rank 1 to join"), "{error}");
    assert!(elapsed < std::time::Duration::from_secs(3), "{elapsed:?}");
}

#[test]
fn more_cpu_ranks_than_the_host_allows_are_refused_before_any_rank_starts() {
    let _serial = serial();
    // Before: 100000 replicas and threads; spawning failed part-way (a panic), and the scope
    // then waited for the ranks already started, which waited in their first collective.
    let mut config = short_timeout_config("ddp-too-many", "00:00:00:02");
    config.devices = Devices::Count(100_000);
    // The documented bound: the host's hardware threads, at least 8.
    let cap = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .max(8);
    let (module, calls) = probe(None);
    let (error, elapsed) = failing_fit(config, module);
    assert!(
        error.contains("trainer.devices asks for 100000 ranks")
            && error.contains(&format!("at most {}", cap)),
        "{error}"
    );
    assert!(calls.lock().unwrap().is_empty(), "no rank started");
    assert!(elapsed < std::time::Duration::from_secs(1), "{elapsed:?}");
}

#[test]
fn zero_devices_through_the_api_is_an_error_not_a_panic() {
    let _serial = serial();
    // Before: `Devices::Count(0)` made a world of 0 ranks and indexed its first device (a panic).
    for devices in [Devices::Count(0), Devices::Indices(Vec::new())] {
        let mut config = config(&common::temp_dir("ddp-zero"), 1, 2);
        config.devices = devices.clone();
        let (module, _) = probe(None);
        let mut trainer = Trainer::new(config.clone()).seed(3);
        let error = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            trainer.fit(module, &mut TwoMoons::new(200, 10, 1), None)
        }))
        .unwrap_or_else(|_| panic!("{devices:?} panicked"))
        .unwrap_err();
        assert!(
            format!("{error:#}").contains("trainer.devices must be at least 1 device"),
            "{error:#}"
        );
        assert!(config.validate().is_err());
    }
}

#[test]
fn ddp_timeout_is_checked() {
    let parse = |yaml: &str| -> Result<TrainerConfig> {
        let config: TrainerConfig = serde_saphyr::from_str(yaml)?;
        config.validate()?;
        Ok(config)
    };
    let default = TrainerConfig::default().ddp_timeout().unwrap();
    assert_eq!(default, std::time::Duration::from_secs(30 * 60));
    assert_eq!(
        parse("ddp_timeout: \"00:01:00:05\"")
            .unwrap()
            .ddp_timeout()
            .unwrap(),
        std::time::Duration::from_secs(3605)
    );
    let error = |yaml: &str| format!("{:#}", parse(yaml).unwrap_err());
    assert!(error("ddp_timeout: 5m").contains("trainer.ddp_timeout must look like DD:HH:MM:SS"));
    assert!(error("ddp_timeout: \"00:00:00:00\"").contains("longer than 0 seconds"));
}
