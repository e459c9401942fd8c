//! Callbacks that reach the module through `ModuleHandle`, end to end through the Trainer:
//! EMA and SWA (validation on the average, the average in checkpoints, exact resume),
//! BackboneFinetuning (frozen, then trained at a lower reported rate) and the prediction writer.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::SgdConfig;
use burn::prelude::*;
use burn_lightning::callbacks::{
    BackboneFinetuning, BasePredictionWriter, CsvPredictionWriter, ModelCheckpoint,
    StochasticWeightAveraging, SwaStart, WeightAveraging, WriteInterval,
};
use burn_lightning::checkpoint::Checkpoint;
use burn_lightning::data::DataLoader;
use burn_lightning::optim::Optimizers;
use burn_lightning::trainer::Limit;
use burn_lightning::{
    Callback, HookContext, LightningDataModule, LightningModule, ModuleHandle, OptimizerSetup,
    Trainer,
};
use common::mlp::{Mlp, TwoMoons};

fn data() -> TwoMoons {
    // 200 examples, batch 20: 8 training batches per epoch, 2 validation batches.
    TwoMoons::new(200, 20, 5)
}

fn config(dir: &Path, max_epochs: usize) -> burn_lightning::TrainerConfig {
    let mut config = common::quiet_config(dir);
    config.max_epochs = Some(max_epochs as i64);
    config.limit_val_batches = Limit::Batches(2);
    config
}

/// Every checkpoint `ModelCheckpoint` wrote under `dir`, by file name.
fn checkpoint_named(dir: &Path, contains: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(contains))
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("no checkpoint with `{contains}` in {}", dir.display()))
}

fn load(path: &Path) -> Checkpoint {
    Checkpoint::from_bytes(&std::fs::read(path).unwrap(), path).unwrap()
}

/// The validation loss of `module`'s weights, by a stand-alone `validate`.
fn val_loss(dir: &Path, module: Mlp) -> f64 {
    let mut trainer = Trainer::new(config(dir, 1));
    trainer.validate(module, &mut data(), None).unwrap()["val_loss"]
}

fn weights_from(bytes: &[u8]) -> Mlp {
    let mut mlp = common::fixed_mlp(8);
    ModuleHandle::new(&mut mlp, None)
        .load_record_bytes(bytes)
        .unwrap();
    mlp
}

fn fit_ema(dir: &Path, epochs: usize, resume: Option<&str>) -> (Mlp, Trainer) {
    let mut trainer = Trainer::new(config(dir, epochs))
        .seed(3)
        .callback(WeightAveraging::ema(0.9))
        .callback(
            ModelCheckpoint::new(dir.join("ck"))
                .every_n_train_steps(4)
                .save_top_k(-1),
        );
    let module = trainer
        .fit(common::fixed_mlp(8), &mut data(), resume)
        .unwrap();
    (module, trainer)
}

#[test]
fn ema_validates_and_saves_the_average_and_resumes_exactly() {
    let dir = common::temp_dir("ema");
    let (module, trainer) = fit_ema(&dir, 3, None);
    let final_weights = common::parameter_values(&module);

    // Validation ran on the average: the last epoch's val_loss is the returned module's (the
    // average, no update after the last validation), not the live weights'.
    let logged = trainer.callback_metrics()["val_loss"];
    let averaged = val_loss(&dir, module);
    assert!((logged - averaged).abs() < 1e-6, "{logged} vs {averaged}");

    // The last checkpoint holds the average as the module and the live weights in a section.
    let ckpt = load(&checkpoint_named(&dir.join("ck"), "step=24"));
    let key = "EMAWeightAveraging";
    assert_eq!(ckpt.state.callbacks[key]["n_averaged"], 24);
    let saved_average = weights_from(&ckpt.sections["module"]);
    assert_eq!(common::parameter_values(&saved_average), final_weights);
    let live = weights_from(&ckpt.sections[&WeightAveraging::live_section(key)]);
    assert_ne!(common::parameter_values(&live), final_weights);
    let live_loss = val_loss(&dir, live);
    assert!(
        (live_loss - logged).abs() > 1e-6,
        "live and average validate alike"
    );

    // Resuming mid-epoch from step 12 (epoch 1, batch 4) continues exactly.
    let again = common::temp_dir("ema-resume");
    let from = checkpoint_named(&dir.join("ck"), "step=12");
    let (resumed, _) = fit_ema(&again, 3, Some(from.to_str().unwrap()));
    assert_eq!(common::parameter_values(&resumed), final_weights);
    let resumed_ckpt = load(&checkpoint_named(&again.join("ck"), "step=24"));
    // The weight sections match byte for byte (the optimizer's record orders its entries by a
    // hash map, so only its loaded state is compared, through the final weights above).
    for section in ["module".to_string(), WeightAveraging::live_section(key)] {
        assert!(
            resumed_ckpt.sections[&section] == ckpt.sections[&section],
            "section {section} differs after resume"
        );
    }
    assert_eq!(resumed_ckpt.state.callbacks[key], ckpt.state.callbacks[key]);
}

/// The trained module and the last validation loss logged.
fn fit_swa(dir: &Path, resume: Option<&str>) -> (Mlp, f64) {
    let mut trainer = Trainer::new(config(dir, 4)).seed(3).callback(
        StochasticWeightAveraging::new(0.05)
            .unwrap()
            .swa_epoch_start(SwaStart::Epoch(2))
            .unwrap()
            .annealing_epochs(2),
    );
    trainer = trainer.callback(
        ModelCheckpoint::new(dir.join("ck"))
            .every_n_train_steps(4)
            .save_top_k(-1),
    );
    let module = trainer
        .fit(common::fixed_mlp(8), &mut data(), resume)
        .unwrap();
    (module, trainer.callback_metrics()["val_loss"])
}

#[test]
fn swa_averages_epoch_starts_and_resumes_exactly() {
    let dir = common::temp_dir("swa");
    let (module, logged) = fit_swa(&dir, None);
    let final_weights = common::parameter_values(&module);
    // The last validation ran on the average of the last epoch start, which the module keeps.
    let averaged = val_loss(&dir, module);
    assert!((logged - averaged).abs() < 1e-6, "{logged} vs {averaged}");
    // Epochs 1..=3 (zero-based) are SWA epochs: three models averaged, at their starts.
    let ckpt = load(&checkpoint_named(&dir.join("ck"), "step=32"));
    let key = "StochasticWeightAveraging";
    assert_eq!(ckpt.state.callbacks[key]["n_averaged"], 3);
    assert_eq!(
        common::parameter_values(&weights_from(&ckpt.sections["module"])),
        final_weights
    );
    let from = checkpoint_named(&dir.join("ck"), "step=20");
    let again = common::temp_dir("swa-resume");
    let (resumed, resumed_logged) = fit_swa(&again, Some(from.to_str().unwrap()));
    assert_eq!(resumed_logged, logged);
    assert_eq!(common::parameter_values(&resumed), final_weights);
}

/// What the probe saw at one epoch's end: the epoch, the backbone's weights, the rates.
type EpochSeen = (usize, Vec<f32>, Vec<(String, f64)>);

/// Records, at each epoch's end, the backbone's weights and the rates reported.
#[derive(Clone, Default)]
struct Probe(Arc<Mutex<Vec<EpochSeen>>>);

impl Callback for Probe {
    fn state_key(&self) -> String {
        "Probe".into()
    }
    fn on_train_epoch_end(
        &mut self,
        module: &mut ModuleHandle<'_>,
        cx: &mut HookContext,
    ) -> Result<()> {
        let weights = module
            .parameter_data("hidden.weight")?
            .try_to_vec::<f32>()
            .unwrap();
        // What the LR monitor logs, and the optimizer's own account.
        let rates = cx.learning_rates().to_vec();
        let own: Vec<(String, f64)> = module
            .optimizers()
            .iter()
            .flat_map(|o| o.learning_rates())
            .collect();
        assert_eq!(rates, own);
        self.0
            .lock()
            .unwrap()
            .push((cx.current_epoch(), weights, rates));
        Ok(())
    }
}

#[test]
fn backbone_stays_frozen_then_trains_at_a_lower_rate() {
    let dir = common::temp_dir("finetune");
    let probe = Probe::default();
    let mut trainer = Trainer::new(config(&dir, 4))
        .seed(3)
        .callback(
            BackboneFinetuning::new(2)
                .backbone_prefix("hidden")
                .backbone_initial_ratio_lr(0.1),
        )
        .callback(probe.clone());
    let initial = {
        let mlp = common::fixed_mlp(8);
        let mut m = mlp;
        ModuleHandle::new(&mut m, None)
            .parameter_data("hidden.weight")
            .unwrap()
            .try_to_vec::<f32>()
            .unwrap()
    };
    trainer
        .fit(common::fixed_mlp(8), &mut data(), None)
        .unwrap();
    let seen = probe.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    // The MLP's Adam runs at 1e-2; the backbone at 1e-3, then 2e-3 (Lightning's multiplier 2).
    assert_eq!(seen[0].1, initial, "frozen in epoch 0");
    assert_eq!(seen[1].1, initial, "frozen in epoch 1");
    assert_ne!(seen[2].1, initial, "trained from epoch 2");
    assert_ne!(seen[3].1, seen[2].1);
    assert_eq!(seen[1].2, [("optimizer".to_string(), 1e-2)]);
    let rate = |i: usize| {
        seen[i]
            .2
            .iter()
            .find(|(n, _)| n == "optimizer/backbone")
            .unwrap()
            .1
    };
    assert!((rate(2) - 1e-3).abs() < 1e-12);
    assert!((rate(3) - 2e-3).abs() < 1e-12);
}

/// Predicts its input rows unchanged, so the written rows show their order.
#[derive(Module, Debug)]
struct Identity {
    layer: Linear,
}

impl LightningModule for Identity {
    type Batch = Tensor<2>;
    fn configure_optimizers(&mut self, _trainer: &mut OptimizerSetup<'_>) -> Result<Optimizers> {
        Ok(Optimizers::single(SgdConfig::new().init(), 0.1))
    }
    fn predict_step(
        &mut self,
        batch: &Tensor<2>,
        _idx: usize,
        _cx: &mut HookContext,
    ) -> Result<Tensor<2>> {
        Ok(batch.clone())
    }
}

struct Rows;

impl LightningDataModule for Rows {
    type Batch = Tensor<2>;
    fn predict_dataloader(&mut self) -> Result<DataLoader<Tensor<2>>> {
        let rows: Vec<[f32; 2]> = (0..7).map(|i| [i as f32, 10.0 - i as f32]).collect();
        Ok(DataLoader::new(rows, 3, |items: Vec<[f32; 2]>| {
            let n = items.len();
            let flat: Vec<f32> = items.iter().flatten().copied().collect();
            Ok(Tensor::<1>::from_floats(flat.as_slice(), &Device::flex()).reshape([n, 2]))
        }))
    }
}

/// Runs after the writer: each batch's file is on disk when the batch ends, the run's file not yet.
struct WrittenYet {
    sink: CsvPredictionWriter,
    seen: Arc<Mutex<Vec<usize>>>,
}

impl Callback for WrittenYet {
    fn state_key(&self) -> String {
        "WrittenYet".into()
    }
    fn on_predict_batch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        prediction: &Tensor<2>,
        batch_idx: usize,
        _cx: &mut HookContext,
    ) -> Result<()> {
        assert!(self.sink.batch_path(batch_idx).exists());
        assert!(!self.sink.epoch_path().exists());
        assert_eq!(prediction.dims()[1], 2);
        self.seen.lock().unwrap().push(batch_idx);
        Ok(())
    }
}

#[test]
fn prediction_writer_writes_each_batch_as_it_is_made() {
    let dir = common::temp_dir("predwriter");
    let out = dir.join("predictions");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut trainer = Trainer::new(config(&dir, 1))
        .callback(BasePredictionWriter::new(
            CsvPredictionWriter::new(&out),
            WriteInterval::BatchAndEpoch,
        ))
        .callback(WrittenYet {
            sink: CsvPredictionWriter::new(&out),
            seen: seen.clone(),
        });
    let module = Identity {
        layer: LinearConfig::new(2, 2).init(&Device::flex()),
    };
    let predictions = trainer.predict(module, &mut Rows, None).unwrap();
    assert_eq!(predictions.len(), 3);
    let sink = CsvPredictionWriter::new(&out);
    assert_eq!(
        std::fs::read_to_string(sink.batch_path(0)).unwrap(),
        "0,10\n1,9\n2,8\n"
    );
    assert_eq!(
        std::fs::read_to_string(sink.batch_path(2)).unwrap(),
        "6,4\n"
    );
    let all = std::fs::read_to_string(sink.epoch_path()).unwrap();
    let expected: String = (0..7).map(|i| format!("{i},{}\n", 10 - i)).collect();
    assert_eq!(all, expected);
    assert_eq!(*seen.lock().unwrap(), [0, 1, 2]);
}

/// Callbacks run on rank 0 alone under thread DDP: one that changes the weights would change one
/// replica only, so `fit` refuses it before anything starts.
#[test]
fn module_changing_callbacks_are_refused_on_several_devices() {
    let dir = common::temp_dir("ddp-refuse");
    let mut config = config(&dir, 1);
    config.devices = burn_lightning::trainer::Devices::Count(2);
    config.strategy = burn_lightning::trainer::Strategy::Ddp;
    let mut trainer = Trainer::new(config).callback(WeightAveraging::ema(0.9));
    let error = trainer
        .fit(common::fixed_mlp(8), &mut data(), None)
        .unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains("`EMAWeightAveraging` changes the module"),
        "{message}"
    );
    assert!(
        !dir.join("lightning_logs").exists(),
        "refused before a run directory was made"
    );
    std::fs::remove_dir_all(dir).ok();
}
