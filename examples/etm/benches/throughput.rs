//! ETM training throughput on the NYT corpus with the paper code's sizes (K 50, rho 300, hidden
//! 800): documents per second and seconds per epoch at batch 64 and batch 1000.
//! Run: `cargo bench -p etm --bench throughput` (fetches NYT into `data/nyt` once); the
//! PyTorch baseline is `benches/pytorch_etm.py`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn_lightning::ModuleHandle;
use burn_lightning::config::Named;
use burn_lightning::optim::{OptimizerConfig, OptimizerName, OptimizerParams};
use burn_lightning::trainer::{Accelerator, Limit};
use burn_lightning::{Callback, HookContext, Stage};
use etm::cli::{build_module, trainer_for};
use etm::datamodule::open_dataset;
use etm::settings::{DataParams, EtmConfig, ModelParams};

struct EpochTimer(Arc<Mutex<(Option<Instant>, Vec<f64>)>>);

impl Callback for EpochTimer {
    fn state_key(&self) -> String {
        "EpochTimer".into()
    }
    fn on_train_epoch_start(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _cx: &mut HookContext,
    ) -> anyhow::Result<()> {
        self.0.lock().unwrap().0 = Some(Instant::now());
        Ok(())
    }
    fn on_train_epoch_end(
        &mut self,
        _module: &mut ModuleHandle<'_>,
        _cx: &mut HookContext,
    ) -> anyhow::Result<()> {
        let mut t = self.0.lock().unwrap();
        let secs = t.0.expect("epoch started").elapsed().as_secs_f64();
        t.1.push(secs);
        Ok(())
    }
}

fn measure(batch_size: usize, epochs: usize) -> (usize, f64) {
    let data_dir = std::env::var("ETM_DATA").unwrap_or_else(|_| "data/nyt".into());
    let params = DataParams {
        data_dir: data_dir.into(),
        batch_size,
        num_workers: 1,
        ..Default::default()
    };
    let mut config = EtmConfig {
        seed: Some(1),
        root_dir: None,
        dataset: Named {
            name: "nyt".into(),
            params: params.clone(),
        },
        model: Named {
            name: "etm".into(),
            params: ModelParams {
                num_topics: 50,
                rho_size: 300,
                t_hidden_size: 800,
                ..Default::default()
            },
        },
        optimizer: OptimizerConfig {
            name: OptimizerName::Adam,
            params: OptimizerParams {
                lr: 0.005,
                weight_decay: 1.2e-6,
                ..Default::default()
            },
        },
        scheduler: None,
        trainer: Default::default(),
    };
    config.trainer.accelerator = Accelerator::Cpu;
    config.trainer.max_epochs = Some(epochs as i64);
    config.trainer.limit_val_batches = Limit::Batches(0);
    config.trainer.num_sanity_val_steps = 0;
    config.trainer.enable_progress_bar = false;
    config.trainer.enable_model_summary = false;
    config.trainer.enable_checkpointing = false;
    config.trainer.logger = false.into();
    // Measured with the allocator tuning, as the shipped configs run.
    config.trainer.retain_freed_memory = true;
    let mut data = open_dataset("nyt", &params, 1, true).unwrap();
    data.prepare_data().unwrap();
    data.setup(Stage::Fit).unwrap();
    let docs = data.training_documents().unwrap().len();
    let module = build_module(&config, data.as_ref(), std::path::Path::new("bench")).unwrap();
    let timer = Arc::new(Mutex::new((None, Vec::new())));
    let mut trainer = trainer_for(&config).callback(EpochTimer(timer.clone()));
    trainer.fit(module, data.as_mut(), None).unwrap();
    let mut times = timer.lock().unwrap().1.clone();
    // The first epoch warms allocator and caches; report the median of the rest.
    if times.len() > 1 {
        times.remove(0);
    }
    times.sort_by(f64::total_cmp);
    let trained = docs
        - if params.drop_last {
            docs % batch_size
        } else {
            0
        };
    (trained, times[times.len() / 2])
}

fn main() {
    println!("ETM on NYT (3,012 words), K 50, rho 300, hidden 800, Adam; flex CPU backend");
    // `cargo bench -p etm --bench throughput -- 64` measures only the batch sizes given.
    let wanted: Vec<usize> = std::env::args().filter_map(|a| a.parse().ok()).collect();
    for (batch, epochs) in [(1000, 10), (64, 3)] {
        if !wanted.is_empty() && !wanted.contains(&batch) {
            continue;
        }
        let (docs, secs) = measure(batch, epochs);
        println!(
            "batch {batch:4}: {:8.0} training documents/s, {secs:.2} s per epoch ({docs} documents)",
            docs as f64 / secs
        );
    }
}
