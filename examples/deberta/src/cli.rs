//! The `deberta` command:
//! `deberta [fit|validate|predict|export] -f CONFIG [--ckpt-path P] [--input CSV] [--output F]
//! [--print-config] [--section.key=value …]`.
//!
//! `fit` trains every fold of `dataset.params.trn_fold` (each in `<root_dir>/fold_<k>`) and ends
//! with the out-of-fold AUC; `predict` writes probabilities for a CSV of texts; `export` writes a
//! trained encoder as a Hugging Face checkpoint directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use burn_lightning::checkpoint::Checkpoint;
use burn_lightning::config::{Cli, Command, usage};
use burn_lightning::data::read_csv_columns;
use burn_lightning::fs::atomic_write;
use burn_lightning::optim::OptimizerName;
use burn_lightning::{LightningDataModule, Stage, Trainer};

use crate::classifier::{DebertaClassifier, scratch_config, scratch_encoder};
use crate::config::DebertaV2Config;
use crate::datamodule::{FoldDataModule, PredictDataModule};
use crate::module::{ClassifierModule, EpochScores, Recipe};
use crate::settings::ClassifierConfig;
use crate::tokenizer::DebertaTokenizer;
use crate::weights::{load_pretrained, save_pretrained};

const EXTRA_COMMANDS: &[&str] = &["export"];
const EXTRA_OPTIONS: &[&str] = &["input", "output"];

/// Runs the command line `args` (without the program name).
pub fn run(args: &[String]) -> Result<()> {
    let cli = Cli::parse(args, EXTRA_COMMANDS, EXTRA_OPTIONS)?;
    let Some(path) = cli.config.clone() else {
        bail!(
            "no config file: pass -f configs/deberta.yaml\n{}",
            usage("deberta", EXTRA_COMMANDS)
        );
    };
    let config = load_config(&path, &cli.overrides)?;
    if cli.print_config {
        print!("{}", config.to_yaml()?);
        return Ok(());
    }
    let mut data = FoldDataModule::new(
        config.dataset.params.clone(),
        config.model.params.num_classes,
        config.seed.unwrap_or(0),
        config.model.params.pretrained.clone(),
    );
    data.prepare_data()?;
    data.setup(Stage::Fit)?;
    let tokenizer = data.tokenizer()?;
    let ckpt = cli.ckpt_path.as_deref();
    match &cli.command {
        Command::Fit => fit(&config, &mut data, ckpt),
        Command::Validate => {
            let fold = config.dataset.params.trn_fold[0];
            data.fold = fold;
            let module = build_module(&config, &tokenizer, fold)?;
            let mut trainer = trainer_for(&config, fold);
            trainer.validate(module, &mut data, ckpt)?;
            for (k, v) in trainer.callback_metrics() {
                println!("  {k:24} {v:.4}");
            }
            Ok(())
        }
        Command::Predict => predict(&config, &cli, tokenizer),
        Command::Test => bail!(
            "`deberta test` has no test set: k-fold validation is the test (run fit), or score a CSV with `deberta predict --input FILE`"
        ),
        Command::Extra(_) => export(&config, &cli, &tokenizer),
    }
}

/// Reads and checks the config, naming the file on every error.
pub fn load_config(path: &Path, overrides: &[(String, String)]) -> Result<ClassifierConfig> {
    ClassifierConfig::load_checked(
        path,
        overrides,
        &["deberta"],
        &["csv"],
        " (any CSV of labelled texts; the default file is the movie reviews)",
    )
}

/// The encoder's config and weights: the pretrained checkpoint's, or fresh ones on the v3
/// layout sized for `tokenizer`.
pub fn build_encoder(
    config: &ClassifierConfig,
    tokenizer: &DebertaTokenizer,
    device: &Device,
) -> Result<(DebertaV2Config, crate::DebertaV2Model)> {
    let params = &config.model.params;
    let (encoder_config, model) = match (&params.pretrained, &params.config) {
        (Some(dir), _) => {
            let (c, m, report) = load_pretrained(dir, device)?;
            eprintln!(
                "pretrained {}: {} encoder tensors from {}; not used: {}",
                dir.display(),
                report.loaded,
                report.file.display(),
                if report.unused.is_empty() {
                    "none".to_string()
                } else {
                    report.unused.join(", ")
                }
            );
            (c, m)
        }
        (None, Some(file)) => {
            let c = DebertaV2Config::from_file(file)?;
            let m = scratch_encoder(&c, device);
            (c, m)
        }
        (None, None) => {
            let c = scratch_config(params, tokenizer.vocab_size())?;
            let m = scratch_encoder(&c, device);
            (c, m)
        }
    };
    if tokenizer.vocab_size() > encoder_config.vocab_size {
        bail!(
            "the tokenizer has {} tokens but the model's vocab_size is {}",
            tokenizer.vocab_size(),
            encoder_config.vocab_size
        );
    }
    Ok((encoder_config, model))
}

/// A fresh classifier for `fold` (the same seed gives the same initial weights every fold, as
/// the notebook builds a new model per fold).
pub fn build_module(
    config: &ClassifierConfig,
    tokenizer: &DebertaTokenizer,
    fold: usize,
) -> Result<ClassifierModule> {
    let device = Device::flex();
    device.seed(config.seed.unwrap_or(0));
    let (encoder_config, encoder) = build_encoder(config, tokenizer, &device)?;
    let params = &config.model.params;
    let model = DebertaClassifier::new(encoder, &encoder_config, params, &device);
    let encoder_lr = params.encoder_lr.unwrap_or(config.optimizer.params.lr);
    let mut optimizer = config.optimizer.clone();
    optimizer.params.lr = encoder_lr;
    let epochs = config.trainer.max_epochs.unwrap_or(1).max(1) as usize;
    Ok(ClassifierModule::new(
        model,
        Recipe {
            optimizer,
            scheduler: config.scheduler.clone(),
            encoder_lr,
            decoder_lr: params.decoder_lr.unwrap_or(encoder_lr),
            layerwise_lr_decay: params.layerwise_lr_decay,
            num_training_steps: 0,
            epochs,
            print_freq: params.print_freq,
            num_classes: params.num_classes,
            fold,
            freeze_encoder_epochs: params.freeze_encoder_epochs,
        },
    ))
}

/// Optimizer steps in a run over `train_rows` rows.
pub fn training_steps(config: &ClassifierConfig, train_rows: usize) -> usize {
    let p = &config.dataset.params;
    let train_rows = config.trainer.examples_per_rank(train_rows);
    let batches = if train_rows > p.batch_size {
        train_rows / p.batch_size
    } else {
        1
    };
    let epochs = config.trainer.max_epochs.unwrap_or(1).max(1) as usize;
    batches.div_ceil(config.model.params.gradient_accumulation_steps) * epochs
}

/// The Trainer for `fold`: its own directory, and the notebook's knobs carried onto the
/// Trainer's options when those are not set there.
pub fn trainer_for(config: &ClassifierConfig, fold: usize) -> Trainer {
    let mut config = config.clone();
    let params = &config.model.params;
    let t = &mut config.trainer;
    t.default_root_dir = t.default_root_dir.join(format!("fold_{fold}"));
    if params.gradient_accumulation_steps > 1 && t.accumulate_grad_batches == 1 {
        t.accumulate_grad_batches = params.gradient_accumulation_steps;
    }
    if t.gradient_clip_val.is_none() {
        t.gradient_clip_val = params.max_grad_norm;
    }
    t.gradient_checkpointing |= params.gradient_checkpointing;
    config.trainer()
}

fn fit(config: &ClassifierConfig, data: &mut FoldDataModule, ckpt: Option<&str>) -> Result<()> {
    let folds = &config.dataset.params.trn_fold;
    if ckpt.is_some() && folds.len() > 1 {
        bail!(
            "--ckpt-path resumes one fold: set --dataset.params.trn_fold=[K] for the fold it belongs to"
        );
    }
    if config.optimizer.name != OptimizerName::Adamw {
        eprintln!(
            "notice: optimizer `{:?}` (the notebook uses adamw)",
            config.optimizer.name
        );
    }
    let tokenizer = data.tokenizer()?;
    let table = data.table()?;
    let mut oof = EpochScores::default();
    let mut folds_of_rows = Vec::new();
    for &fold in folds {
        data.fold = fold;
        let train_rows = table.folds.iter().filter(|&&f| f != fold).count();
        let mut module = build_module(config, &tokenizer, fold)?;
        module.set_training_steps(training_steps(config, train_rows));
        let mut trainer = trainer_for(config, fold);
        println!("========== fold {fold}: {train_rows} training rows ==========");
        let started = Instant::now();
        let module = trainer.fit(module, data, ckpt)?;
        let seconds = started.elapsed().as_secs_f64();
        let progress = trainer.progress();
        let epochs = (progress.epoch + usize::from(progress.epoch_finished)).max(1);
        // Out-of-fold scores come from the best epoch's weights, as the notebook keeps the
        // best epoch's predictions; the predict loader yields the fold's rows in table order.
        // Without checkpoints (fast_dev_run, enable_checkpointing: false) the weights training
        // ended with score the fold.
        let best = trainer.best_checkpoint_path().map(Path::to_path_buf);
        let source = match &best {
            Some(path) => path.display().to_string(),
            None => {
                eprintln!(
                    "notice: fold {fold}: no checkpoint was kept (fast_dev_run or trainer.enable_checkpointing: false); scoring with the weights at the end of training"
                );
                "the weights at the end of training".to_string()
            }
        };
        let probabilities = trainer.predict(module, data, best.as_ref().map(|_| "best"))?;
        let probabilities = rows_of(&probabilities)?;
        let (mut rows, mut labels): (Vec<usize>, Vec<usize>) = table
            .examples
            .iter()
            .zip(&table.folds)
            .filter(|(_, f)| **f == fold)
            .map(|(e, _)| (e.row, e.label))
            .unzip();
        if probabilities.len() < rows.len() {
            // fast_dev_run and limit_predict_batches cut the predict loop short; the batches
            // it ran cover the fold's first rows.
            eprintln!(
                "notice: fold {fold}: the predict loop was limited to {} of the fold's {} rows; only those are scored",
                probabilities.len(),
                rows.len()
            );
            rows.truncate(probabilities.len());
            labels.truncate(probabilities.len());
        }
        let scores = EpochScores::from_parts(probabilities, labels, rows);
        println!(
            "fold {fold}: best {source} — AUC {:.4}, accuracy {:.4}; {:.1} s per epoch over {epochs} epochs",
            scores.auc().unwrap_or(f64::NAN),
            scores.accuracy(),
            seconds / epochs as f64
        );
        folds_of_rows.extend(std::iter::repeat_n(fold, scores.labels.len()));
        oof.append(scores);
    }
    let auc = oof.auc().unwrap_or(f64::NAN);
    println!(
        "========== CV ==========\nout-of-fold AUC {auc:.4}, accuracy {:.4} over {} rows",
        oof.accuracy(),
        oof.labels.len()
    );
    let out = config.trainer.default_root_dir.join("oof.csv");
    write_oof(&out, &oof, &folds_of_rows)?;
    println!("out-of-fold predictions: {}", out.display());
    Ok(())
}

/// One `Vec` of probabilities per example, from predict's batches.
fn rows_of(batches: &[Tensor<2>]) -> Result<Vec<Vec<f64>>> {
    let mut out = Vec::new();
    for batch in batches {
        let classes = batch.dims()[1];
        let values: Vec<f32> = batch
            .clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()?;
        out.extend(
            values
                .chunks(classes)
                .map(|p| p.iter().map(|&v| v as f64).collect()),
        );
    }
    Ok(out)
}

fn write_oof(path: &Path, scores: &EpochScores, folds: &[usize]) -> Result<()> {
    let mut out = Vec::new();
    let classes = scores.probabilities.first().map_or(1, Vec::len);
    write!(out, "row,fold,label")?;
    write_header(&mut out, classes)?;
    for (i, probs) in scores.probabilities.iter().enumerate() {
        write!(out, "{},{},{}", scores.rows[i], folds[i], scores.labels[i])?;
        for p in probs {
            write!(out, ",{p:.6}")?;
        }
        writeln!(out)?;
    }
    write_file(path, &out)
}

fn write_header(out: &mut Vec<u8>, classes: usize) -> Result<()> {
    if classes == 1 {
        writeln!(out, ",probability")?;
    } else {
        for c in 0..classes {
            write!(out, ",probability_{c}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    atomic_write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn predict(config: &ClassifierConfig, cli: &Cli, tokenizer: Arc<DebertaTokenizer>) -> Result<()> {
    let ckpt = cli
        .ckpt_path
        .as_deref()
        .context("`deberta predict` needs --ckpt-path (a checkpoint file, or last/best of the first trn_fold)")?;
    let input = PathBuf::from(
        cli.option("input")
            .context("`deberta predict` needs --input FILE.csv with a text column")?,
    );
    let p = &config.dataset.params;
    let texts = read_csv_columns(&input, &[p.text_column.as_str()])?.remove(0);
    let fold = p.trn_fold[0];
    let mut data =
        PredictDataModule::new(&texts, tokenizer.clone(), p.max_len, p.eval_batch_size())?;
    let module = build_module(config, &tokenizer, fold)?;
    let mut trainer = trainer_for(config, fold);
    let batches = trainer.predict(module, &mut data, Some(ckpt))?;
    let output = cli
        .option("output")
        .map(PathBuf::from)
        .unwrap_or_else(|| input.with_extension("probabilities.csv"));
    let probabilities = rows_of(&batches)?;
    let mut out = Vec::new();
    write!(out, "row")?;
    write_header(&mut out, probabilities.first().map_or(1, Vec::len))?;
    for (row, probs) in probabilities.iter().enumerate() {
        write!(out, "{row}")?;
        for p in probs {
            write!(out, ",{p:.6}")?;
        }
        writeln!(out)?;
    }
    write_file(&output, &out)?;
    println!(
        "probabilities of {} texts: {}",
        probabilities.len(),
        output.display()
    );
    Ok(())
}

fn export(config: &ClassifierConfig, cli: &Cli, tokenizer: &DebertaTokenizer) -> Result<()> {
    let ckpt = cli
        .ckpt_path
        .as_deref()
        .context("`deberta export` needs --ckpt-path")?;
    let dir = PathBuf::from(
        cli.option("output")
            .context("`deberta export` needs --output DIR for the Hugging Face checkpoint")?,
    );
    let fold = config.dataset.params.trn_fold[0];
    let trainer = trainer_for(config, fold);
    let path = trainer.resolve_checkpoint(ckpt)?;
    let module = build_module(config, tokenizer, fold)?;
    let module = Checkpoint::load(&path)?.load_module(module, &path)?;
    let device = Device::flex();
    let (encoder_config, _) = build_encoder(config, tokenizer, &device)?;
    save_pretrained(&module.model.deberta, &encoder_config, &dir)?;
    tokenizer.save(&dir.join("tokenizer.json"))?;
    println!(
        "exported the encoder of {} to {} (config.json, model.safetensors, tokenizer.json)",
        path.display(),
        dir.display()
    );
    Ok(())
}
