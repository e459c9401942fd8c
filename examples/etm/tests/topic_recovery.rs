//! On a corpus drawn from five well-separated known topics over 100 words (LDA's generative
//! process), training recovers every one: each true topic's top-10 words are matched by a learned
//! topic's top-10 with an overlap of at least 7.

use anyhow::Result;
use burn_lightning::config::Named;
use burn_lightning::optim::{OptimizerConfig, OptimizerName, OptimizerParams};
use burn_lightning::trainer::Accelerator;
use burn_lightning::{LightningDataModule, Stage};
use etm::cli::{build_module, trainer_for};
use etm::corpus::Corpus;
use etm::datamodule::{BowDataModule, CorpusSource};
use etm::metrics::top_words;
use etm::settings::{DataParams, EtmConfig, ModelParams};
use etm::synthetic::{LdaSpec, lda_corpus};

/// A user-defined corpus: registered by handing it to `BowDataModule`.
struct Synthetic(Corpus);

impl CorpusSource for Synthetic {
    fn load(&self, _params: &DataParams) -> Result<Corpus> {
        Ok(self.0.clone())
    }
}

#[test]
fn training_recovers_known_topics() {
    let spec = LdaSpec::default();
    let (corpus, truth) = lda_corpus(&spec, 7);
    let dir = std::env::temp_dir().join(format!("etm-recovery-{}", std::process::id()));
    let data_params = DataParams {
        data_dir: dir.clone(),
        batch_size: 100,
        val_fraction: 0.05,
        test_fraction: 0.05,
        ..Default::default()
    };
    let mut config = EtmConfig {
        seed: Some(3),
        root_dir: Some(dir.clone()),
        dataset: Named {
            name: "synthetic".into(),
            params: data_params.clone(),
        },
        model: Named {
            name: "etm".into(),
            params: ModelParams {
                num_topics: spec.num_topics,
                t_hidden_size: 64,
                rho_size: 16,
                ..Default::default()
            },
        },
        optimizer: OptimizerConfig {
            name: OptimizerName::Adam,
            params: OptimizerParams {
                lr: 0.01,
                ..Default::default()
            },
        },
        scheduler: None,
        trainer: Default::default(),
    };
    config.trainer.accelerator = Accelerator::Cpu;
    config.trainer.default_root_dir = dir.clone();
    config.trainer.max_epochs = Some(60);
    config.trainer.enable_progress_bar = false;
    config.trainer.enable_model_summary = false;
    config.trainer.check_val_every_n_epoch = Some(10);

    let mut data = BowDataModule::new(
        "synthetic",
        data_params,
        Box::new(Synthetic(corpus)),
        3,
        true,
    );
    data.setup(Stage::Fit).unwrap();
    let module = build_module(&config, &data, std::path::Path::new("synthetic")).unwrap();
    let mut trainer = trainer_for(&config);
    let module = trainer.fit(module, &mut data, None).unwrap();

    let report = module.topic_report().unwrap();
    let learned: Vec<Vec<usize>> = report
        .topics
        .iter()
        .map(|words| {
            words
                .iter()
                .map(|w| w[1..].parse::<usize>().unwrap())
                .collect()
        })
        .collect();
    eprintln!("{}", report.topics_text());
    for (k, topic) in truth.iter().enumerate() {
        let as_f32: Vec<f32> = topic.iter().map(|&p| p as f32).collect();
        let true_top = top_words(&as_f32, 10);
        let best = learned
            .iter()
            .map(|l| l.iter().filter(|w| true_top.contains(w)).count())
            .max()
            .unwrap();
        assert!(
            best >= 7,
            "true topic {k} (words {true_top:?}) is matched by no learned topic (best overlap {best}):\n{}",
            report.topics_text()
        );
    }
    let perplexity = trainer.callback_metrics()["val_perplexity"];
    // The true model's perplexity is ~15-20 words (a document mixes few topics of ~10 core words);
    // a uniform guess is 100.
    assert!(perplexity < 40.0, "val_perplexity {perplexity}");
    // Diversity counts each topic's top 25 of 100 words, so at most 100 / (5 · 25) = 0.8.
    assert!(report.diversity > 0.7, "diversity {}", report.diversity);
}
