//! The `deberta` command: the framework's runner (config, overrides, checkpoints) plus what is
//! the classifier's own: k-fold `fit`, `predict` on a CSV of texts, `export`.
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
use burn_lightning::cli::{LightningApp, Session};
use burn_lightning::optim::OptimizerName;
use burn_lightning::{DataHandoff, LightningDataModule, Stage, Trainer};
use lightning_toolkit::data::read_csv_columns;
use lightning_toolkit::fs::atomic_write;

use crate::assemble::{DebertaDataInfo, LazyClassifier};
use crate::datamodule::{FoldDataModule, PredictDataModule};
use crate::module::{ClassifierModule, EpochScores};
use crate::settings::ClassifierConfig;
use crate::weights::save_pretrained;

/// The `deberta` binary.
pub struct DebertaApp;

/// `deberta`'s own options.
#[derive(Debug, Clone, clap::Args)]
pub struct DebertaOptions {
    /// `predict`: a CSV with the config's text column.
    #[arg(long, global = true, value_name = "FILE.csv")]
    pub input: Option<PathBuf>,
    /// `predict`: the probabilities CSV (default: next to --input); `export`: the directory.
    #[arg(long, global = true, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// `deberta`'s own commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DebertaCommand {
    /// Write a checkpoint's (--ckpt-path) encoder as a Hugging Face directory (--output DIR).
    Export,
}

impl LightningApp for DebertaApp {
    const NAME: &'static str = "deberta";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str =
        "DeBERTa-v3 text classification with k-fold cross-validation on burn-lightning";
    const EXAMPLE_CONFIG: &'static str = "configs/deberta.yaml";
    type Settings = ClassifierConfig;
    type Module = ClassifierModule;
    type Data = FoldDataModule;
    type Options = DebertaOptions;
    type Command = DebertaCommand;

    fn load_config(path: &Path, overrides: &[(String, String)]) -> Result<ClassifierConfig> {
        load_config(path, overrides)
    }

    fn check(settings: &ClassifierConfig, source: &Path) -> Result<()> {
        burn_lightning::cli::check_experiment(settings, source)
    }

    fn default_settings() -> ClassifierConfig {
        ClassifierConfig::defaults("deberta", "csv")
    }

    fn trainer(settings: &ClassifierConfig) -> Result<Trainer> {
        Ok(trainer_for(settings, first_fold(settings)?))
    }

    fn build(
        settings: &ClassifierConfig,
        _source: &Path,
    ) -> Result<(ClassifierModule, FoldDataModule)> {
        let fold = first_fold(settings)?;
        let published = DataHandoff::new("the DeBERTa tokenizer");
        let mut data = FoldDataModule::new(
            settings.dataset.params.clone(),
            settings.model.params.num_classes,
            settings.seed.unwrap_or(0),
            settings.model.params.pretrained.clone(),
        )
        .publishing_to(published.clone());
        data.fold = fold;
        Ok((lazy_module(settings, fold, &published), data))
    }

    fn fit(session: &Session<Self>) -> Result<()> {
        fit(session)
    }

    fn test(_session: &Session<Self>) -> Result<()> {
        bail!(
            "`deberta test` has no test set: k-fold validation is the test (run fit), or score a CSV with `deberta predict --input FILE`"
        )
    }

    fn predict(session: &Session<Self>) -> Result<()> {
        predict(session)
    }

    fn run_command(session: &Session<Self>, command: &DebertaCommand) -> Result<()> {
        match command {
            DebertaCommand::Export => export(session),
        }
    }
}

/// The first of `dataset.params.trn_fold` (validate, predict and export use it).
fn first_fold(config: &ClassifierConfig) -> Result<usize> {
    config
        .dataset
        .params
        .trn_fold
        .first()
        .copied()
        .context("dataset.params.trn_fold is empty: name the folds to train, e.g. [0]")
}

/// A classifier for `fold`, built in `configure_model` from what `published` receives.
fn lazy_module(
    config: &ClassifierConfig,
    fold: usize,
    published: &DataHandoff<DebertaDataInfo>,
) -> ClassifierModule {
    ClassifierModule::lazy(LazyClassifier {
        config: Arc::new(config.clone()),
        fold,
        data: published.clone(),
    })
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

/// The Trainer for `fold`: its own directory, and the notebook's knobs carried onto the
/// Trainer's options when those are not set there.
pub fn trainer_for(config: &ClassifierConfig, fold: usize) -> Trainer {
    // Checkpoints save the settings as given (without the fold's directory), so that a run
    // rebuilt from them (`--ckpt-path` without -f) resolves the same directories.
    let given = config.to_value();
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
    config.trainer().hparams(given)
}

/// Trains every fold of `trn_fold`, then scores the out-of-fold predictions.
fn fit(session: &Session<DebertaApp>) -> Result<()> {
    let config = &session.settings;
    let ckpt = session.ckpt_path();
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
    let (_, mut data) = session.build()?;
    let published = DataHandoff::new("the DeBERTa tokenizer");
    data = data.publishing_to(published.clone());
    let mut oof = EpochScores::default();
    let mut folds_of_rows = Vec::new();
    for &fold in folds {
        data.fold = fold;
        let module = lazy_module(config, fold, &published);
        let mut trainer = trainer_for(config, fold);
        println!("========== fold {fold} ==========");
        let started = Instant::now();
        let module = trainer.fit(module, &mut data, ckpt)?;
        let table = data.table()?;
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
        let probabilities = trainer.predict(module, &mut data, best.as_ref().map(|_| "best"))?;
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

/// `predict`: probabilities for a CSV of texts, from a checkpoint of the first `trn_fold`.
fn predict(session: &Session<DebertaApp>) -> Result<()> {
    let config = &session.settings;
    let ckpt = session
        .ckpt_path()
        .context("`deberta predict` needs --ckpt-path (a checkpoint file, or last/best of the first trn_fold)")?;
    let input = session
        .options
        .input
        .clone()
        .context("`deberta predict` needs --input FILE.csv with a text column")?;
    let p = &config.dataset.params;
    let texts = read_csv_columns(&input, &[p.text_column.as_str()])?.remove(0);
    let (_, training) = session.build()?;
    let published = DataHandoff::new("the DeBERTa tokenizer");
    let fold = first_fold(config)?;
    let mut data = PredictDataModule::new(
        texts,
        training,
        p.max_len,
        p.eval_batch_size(),
        published.clone(),
    );
    let module = lazy_module(config, fold, &published);
    let mut trainer = trainer_for(config, fold);
    let batches = trainer.predict(module, &mut data, Some(ckpt))?;
    let output = session
        .options
        .output
        .clone()
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

/// `export`: a checkpoint's encoder as a Hugging Face directory. The data is set up here
/// (the tokenizer, and a scratch encoder's size) because no Trainer stage runs.
fn export(session: &Session<DebertaApp>) -> Result<()> {
    let ckpt = session
        .ckpt_path()
        .context("`deberta export` needs --ckpt-path")?;
    let dir = session
        .options
        .output
        .clone()
        .context("`deberta export` needs --output DIR for the Hugging Face checkpoint")?;
    let path = session.trainer()?.resolve_checkpoint(ckpt)?;
    let (mut module, mut data) = session.build()?;
    data.prepare_data()?;
    data.setup(Stage::Validate)?;
    module.build_network(&Device::flex())?;
    let module = Checkpoint::load(&path)?.load_module(module, &path)?;
    let encoder_config = module
        .encoder_config()
        .context("the classifier has no encoder config")?;
    save_pretrained(&module.net()?.deberta, encoder_config, &dir)?;
    data.tokenizer()?.save(&dir.join("tokenizer.json"))?;
    println!(
        "exported the encoder of {} to {} (config.json, model.safetensors, tokenizer.json)",
        path.display(),
        dir.display()
    );
    Ok(())
}
