//! The `etm` command: `etm [fit|validate|test|predict|topics] -f CONFIG [--ckpt-path P]
//! [--output FILE] [--print-config] [--section.key=value …]`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use burn_lightning::checkpoint::Checkpoint;
use burn_lightning::config::{Cli, Command, usage};
use burn_lightning::{Stage, Trainer};

use crate::datamodule::{EtmData, open_dataset};
use crate::formats::embeddings::load_word2vec;
use crate::metrics::DocumentFrequencies;
use crate::model::Etm;
use crate::module::{EtmContext, EtmModule};
use crate::settings::EtmConfig;

const EXTRA_COMMANDS: &[&str] = &["topics"];
const EXTRA_OPTIONS: &[&str] = &["output"];

/// Runs the command line `args` (without the program name).
pub fn run(args: &[String]) -> Result<()> {
    let cli = Cli::parse(args, EXTRA_COMMANDS, EXTRA_OPTIONS)?;
    let Some(path) = cli.config.clone() else {
        bail!(
            "no config file: pass -f configs/etm.yaml\n{}",
            usage("etm", EXTRA_COMMANDS)
        );
    };
    let config = load_config(&path, &cli.overrides)?;
    if cli.print_config {
        print!("{}", config.to_yaml()?);
        return Ok(());
    }
    let seed = config.seed.unwrap_or(0);
    let mut data = open_dataset(
        &config.dataset.name,
        &config.dataset.params,
        seed,
        config.model.params.bow_norm,
    )?;
    // The vocabulary size comes from the data, so the data is set up before the model exists
    // (the Trainer's own prepare_data/setup calls then find it ready).
    data.prepare_data()?;
    data.setup(Stage::Fit)?;
    let module = build_module(&config, data.as_ref(), &path)?;
    let mut trainer = trainer_for(&config);
    let ckpt = cli.ckpt_path.as_deref();
    match &cli.command {
        Command::Fit => {
            let module = trainer.fit(module, data.as_mut(), ckpt)?;
            print_topics(&module);
            print_metrics("final metrics", trainer.callback_metrics());
            if let Some(best) = trainer.best_checkpoint_path() {
                println!("best checkpoint: {}", best.display());
            }
        }
        Command::Validate => {
            trainer.validate(module, data.as_mut(), ckpt)?;
            print_metrics("validation", trainer.callback_metrics());
        }
        Command::Test => {
            trainer.test(module, data.as_mut(), ckpt)?;
            print_metrics("test", trainer.callback_metrics());
        }
        Command::Predict => {
            let proportions = trainer.predict(module, data.as_mut(), ckpt)?;
            let output = match cli.option("output") {
                Some(o) => PathBuf::from(o),
                None => trainer
                    .log_dir()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| config.trainer.default_root_dir.clone())
                    .join("topic_proportions.csv"),
            };
            write_proportions(&output, &proportions)?;
            println!(
                "topic proportions of {} documents: {}",
                count_rows(&proportions),
                output.display()
            );
        }
        Command::Extra(_) => {
            let ckpt = ckpt.context("`etm topics` needs --ckpt-path (a path, last or best)")?;
            let path = trainer.resolve_checkpoint(ckpt)?;
            let module = Checkpoint::load(&path)?.load_module(module, &path)?;
            let report = module.topic_report();
            println!("{}", report.topics_text());
            println!(
                "coherence {:.4}  diversity {:.4}  quality {:.4}",
                report.coherence, report.diversity, report.quality
            );
        }
    }
    Ok(())
}

/// Reads and checks the config, naming the file on every error.
pub fn load_config(path: &Path, overrides: &[(String, String)]) -> Result<EtmConfig> {
    EtmConfig::load_checked(
        path,
        overrides,
        &["etm"],
        &["nyt", "ldac", "text", "news", "20ng"],
        "",
    )
}

/// The ETM module for `config` over the vocabulary of `data` (which must be set up).
pub fn build_module(config: &EtmConfig, data: &dyn EtmData, source: &Path) -> Result<EtmModule> {
    let params = &config.model.params;
    let vocabulary = data.vocabulary()?;
    let v = vocabulary.len();
    if let Some(declared) = params.vocab_size
        && declared != v
    {
        bail!(
            "{}: model.params.vocab_size is {declared} but dataset `{}` has {v} words; set it to null to take it from the data",
            source.display(),
            config.dataset.name
        );
    }
    let seed = config.seed.unwrap_or(0);
    let embeddings = match (&params.embeddings_path, params.train_embeddings) {
        (Some(file), false) => {
            let (matrix, missing) = load_word2vec(file, &vocabulary, params.rho_size, seed)?;
            eprintln!(
                "embeddings: {} of {v} words found in {} ({missing} drawn at random)",
                v - missing,
                file.display()
            );
            Some(matrix)
        }
        _ => None,
    };
    // The same seed gives the same initial weights.
    let device = Device::flex();
    device.seed(seed);
    let model = Etm::new(params, v, embeddings, &device);
    let training = data.training_documents()?;
    let context = EtmContext {
        frequencies: DocumentFrequencies::new(training.iter().map(|d| d.as_ref()), v),
        vocabulary,
        optimizer: config.optimizer.clone(),
        scheduler: config.scheduler.clone(),
        num_words: params.num_words,
        coherence_words: params.coherence_words,
        diversity_words: params.diversity_words,
        data_summary: data.summary()?,
    };
    Ok(EtmModule::new(model, context))
}

/// The Trainer for `config`; the paper code's `clip` sets gradient clipping when the trainer's
/// own `gradient_clip_val` is not set.
pub fn trainer_for(config: &EtmConfig) -> Trainer {
    let mut config = config.clone();
    if config.model.params.clip > 0.0 && config.trainer.gradient_clip_val.is_none() {
        config.trainer.gradient_clip_val = Some(config.model.params.clip);
    }
    config.trainer()
}

fn print_topics(module: &EtmModule) {
    let report = module.topic_report();
    println!("{}", report.topics_text());
}

fn print_metrics(title: &str, metrics: &std::collections::BTreeMap<String, f64>) {
    println!("{title}:");
    for (k, v) in metrics {
        println!("  {k:24} {v:.4}");
    }
}

fn count_rows(batches: &[Tensor<2>]) -> usize {
    batches.iter().map(|t| t.dims()[0]).sum()
}

#[allow(deprecated)]
fn write_proportions(path: &Path, batches: &[Tensor<2>]) -> Result<()> {
    let k = batches.first().map_or(0, |t| t.dims()[1]);
    let mut out = Vec::new();
    write!(out, "document")?;
    for t in 0..k {
        write!(out, ",topic_{t}")?;
    }
    writeln!(out)?;
    let mut doc = 0;
    for batch in batches {
        let values: Vec<f32> = batch
            .clone()
            .into_data()
            .convert::<f32>()
            .to_vec()
            .expect("f32");
        for row in values.chunks(k) {
            write!(out, "{doc}")?;
            for v in row {
                write!(out, ",{v:.6}")?;
            }
            writeln!(out)?;
            doc += 1;
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    burn_lightning::fs::atomic_write(path, &out)
        .with_context(|| format!("writing {}", path.display()))
}
