//! The `bert` command:
//! `bert [fit|validate|export|fill-mask|add-tokens] -f CONFIG [--ckpt-path P] [--output DIR]
//! [--tokens FILE] [--init mean|normal] [--top-k K] [--print-config] [--section.key=value …]`.
//!
//! `fit` (the default) pretrains and exports the best checkpoint to `<root_dir>/hf`; `export`
//! writes any checkpoint as a Hugging Face directory; `fill-mask` prints the top predictions
//! for each `[MASK]` of a sentence; `add-tokens` extends a Hugging Face directory's vocabulary.
//! `fill-mask` and `add-tokens` take a Hugging Face directory as `--ckpt-path` without a config.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use burn_lightning::checkpoint::Checkpoint;
use burn_lightning::config::{Cli, Command, usage};
use burn_lightning::{LightningDataModule, Stage, Trainer};

use crate::config::BertConfig;
use crate::datamodule::PretrainingDataModule;
use crate::fill_mask::fill_mask;
use crate::heads::BertForPreTraining;
use crate::module::{BertPretrainingModule, Recipe};
use crate::settings::PretrainConfig;
use crate::tokenizer::BertTokenizer;
use crate::vocab_extension::{NewRowInit, resize_token_embeddings};
use crate::weights::{load_pretrained, save_pretrained};

const EXTRA_COMMANDS: &[&str] = &["export", "fill-mask", "add-tokens"];
const EXTRA_OPTIONS: &[&str] = &["output", "tokens", "init", "top-k"];

/// Runs the command line `args` (without the program name).
pub fn run(args: &[String]) -> Result<()> {
    let cli = Cli::parse(args, EXTRA_COMMANDS, EXTRA_OPTIONS)?;
    let extra = match &cli.command {
        Command::Extra(name) => Some(name.as_str()),
        _ => None,
    };
    let hf_dir = cli
        .ckpt_path
        .as_deref()
        .map(PathBuf::from)
        .filter(|p| p.join("config.json").is_file());
    match (extra, &hf_dir) {
        (Some("add-tokens"), _) => return add_tokens(&cli),
        (Some("fill-mask"), Some(dir)) if cli.config.is_none() => {
            let (_, model, _) = load_pretrained(dir, &Device::flex())?;
            let tokenizer = BertTokenizer::from_dir(dir)?;
            return print_fill_mask(&cli, &model, &tokenizer);
        }
        _ => {}
    }
    let Some(path) = cli.config.clone() else {
        bail!(
            "no config file: pass -f configs/bert.yaml (fill-mask and add-tokens also take a Hugging Face directory as --ckpt-path)\n{}",
            usage("bert", EXTRA_COMMANDS)
        );
    };
    let config = load_config(&path, &cli.overrides)?;
    if cli.print_config {
        print!("{}", config.to_yaml()?);
        return Ok(());
    }
    let mut data = PretrainingDataModule::new(
        config.dataset.params.clone(),
        config.seed.unwrap_or(0),
        config.model.params.pretrained.clone(),
    );
    data.prepare_data()?;
    let ckpt = cli.ckpt_path.as_deref();
    match (&cli.command, extra) {
        (Command::Fit, _) => fit(&config, &mut data, ckpt),
        (Command::Validate, _) => {
            data.setup(Stage::Validate)?;
            println!("{}", data.summary()?);
            let (module, _) = build_module(&config, data.tokenizer()?.as_ref())?;
            let mut trainer = config.trainer();
            trainer.validate(module, &mut data, ckpt)?;
            print_metrics(&trainer);
            Ok(())
        }
        (_, Some("export")) => {
            let tokenizer = data.setup_tokenizer()?;
            let (module, bert_config) = trained_module(&config, &tokenizer, ckpt)?;
            let output = cli
                .option("output")
                .map(PathBuf::from)
                .context("`bert export` needs --output DIR")?;
            export(&module.model, &bert_config, &tokenizer, &output)
        }
        (_, Some("fill-mask")) => {
            let tokenizer = data.setup_tokenizer()?;
            let (module, _) = trained_module(&config, &tokenizer, ckpt)?;
            print_fill_mask(&cli, &module.model, &tokenizer)
        }
        _ => bail!(
            "`bert {:?}` is not available: pretraining has a held-out set (`validate`) but no test set or predictions\n{}",
            cli.command,
            usage("bert", EXTRA_COMMANDS)
        ),
    }
}

/// Reads and checks the config, naming the file on every error.
pub fn load_config(path: &Path, overrides: &[(String, String)]) -> Result<PretrainConfig> {
    PretrainConfig::load_checked(
        path,
        overrides,
        &["bert"],
        &["corpus"],
        " (any text corpus; the default is the news articles)",
    )
}

/// The model: the pretrained checkpoint's (fresh heads reported) or a fresh one sized for
/// `tokenizer`.
pub fn build_model(
    config: &PretrainConfig,
    tokenizer: &BertTokenizer,
    device: &Device,
) -> Result<(BertConfig, BertForPreTraining)> {
    let params = &config.model.params;
    let (bert_config, model) = match &params.pretrained {
        Some(dir) => {
            let (c, m, report) = load_pretrained(dir, device)?;
            eprintln!(
                "pretrained {}: {} tensors from {}; initialised: {}; not used: {}",
                dir.display(),
                report.loaded,
                report.file.display(),
                list_or_none(&report.initialised),
                list_or_none(&report.unused)
            );
            (c, m)
        }
        None => {
            let c = params.scratch_config(tokenizer.vocab_size(), tokenizer.special().pad);
            let m = BertForPreTraining::new(&c, device);
            (c, m)
        }
    };
    if tokenizer.vocab_size() > bert_config.vocab_size {
        bail!(
            "the tokenizer has {} tokens but the model's vocab_size is {}",
            tokenizer.vocab_size(),
            bert_config.vocab_size
        );
    }
    let max_seq_len = config.dataset.params.max_seq_len;
    if max_seq_len > bert_config.max_position_embeddings {
        bail!(
            "dataset.params.max_seq_len {max_seq_len} exceeds the model's max_position_embeddings {}",
            bert_config.max_position_embeddings
        );
    }
    Ok((bert_config, model))
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// A fresh module (the seed fixes the initial weights).
pub fn build_module(
    config: &PretrainConfig,
    tokenizer: &BertTokenizer,
) -> Result<(BertPretrainingModule, BertConfig)> {
    let device = Device::flex();
    device.seed(config.seed.unwrap_or(0));
    let (bert_config, model) = build_model(config, tokenizer, &device)?;
    let recipe = Recipe {
        optimizer: config.optimizer.clone(),
        scheduler: config.scheduler.clone(),
        num_training_steps: 0,
        epochs: config.trainer.max_epochs.unwrap_or(1).max(1) as usize,
        print_freq: config.model.params.print_freq,
    };
    Ok((BertPretrainingModule::new(model, recipe), bert_config))
}

/// A module with the weights of checkpoint `ckpt` (`best`, `last` or a path).
fn trained_module(
    config: &PretrainConfig,
    tokenizer: &BertTokenizer,
    ckpt: Option<&str>,
) -> Result<(BertPretrainingModule, BertConfig)> {
    let ckpt = ckpt.context("needs --ckpt-path (a checkpoint path, last or best)")?;
    let (module, bert_config) = build_module(config, tokenizer)?;
    let trainer = config.trainer();
    let path = trainer.resolve_checkpoint(ckpt)?;
    let module = Checkpoint::load(&path)?.load_module(module, &path)?;
    Ok((module, bert_config))
}

fn fit(
    config: &PretrainConfig,
    data: &mut PretrainingDataModule,
    ckpt: Option<&str>,
) -> Result<()> {
    data.setup(Stage::Fit)?;
    println!("{}", data.summary()?);
    let tokenizer = data.tokenizer()?;
    let (mut module, bert_config) = build_module(config, &tokenizer)?;
    let train_examples = data.examples()?.train.len();
    let p = &config.dataset.params;
    let epochs = config.trainer.max_epochs.unwrap_or(1).max(1) as usize;
    let accumulate = config.trainer.accumulate_grad_batches.max(1);
    let per_rank = config.trainer.examples_per_rank(train_examples);
    module.set_training_steps(per_rank.div_ceil(p.batch_size).div_ceil(accumulate) * epochs);
    let mut trainer: Trainer = config.trainer();
    let module = trainer.fit(module, data, ckpt)?;
    print_metrics(&trainer);
    // The best checkpoint's weights (the last ones when none was kept) as a HF directory.
    let (best, source) = match trainer.best_checkpoint_path() {
        Some(path) => {
            let fresh = build_module(config, &tokenizer)?.0;
            (
                Checkpoint::load(path)?.load_module(fresh, path)?,
                path.display().to_string(),
            )
        }
        None => (module, "the last step".to_string()),
    };
    let out = config.trainer.default_root_dir.join("hf");
    export(&best.model, &bert_config, &tokenizer, &out)?;
    println!("Hugging Face checkpoint (from {source}): {}", out.display());
    Ok(())
}

fn print_metrics(trainer: &Trainer) {
    for (k, v) in trainer.callback_metrics() {
        println!("  {k:24} {v:.4}");
    }
}

/// Writes a Hugging Face directory: config, weights, `tokenizer.json` and `vocab.txt`.
fn export(
    model: &BertForPreTraining,
    config: &BertConfig,
    tokenizer: &BertTokenizer,
    dir: &Path,
) -> Result<()> {
    save_pretrained(model, config, dir)?;
    tokenizer.save(dir)
}

fn print_fill_mask(cli: &Cli, model: &BertForPreTraining, tokenizer: &BertTokenizer) -> Result<()> {
    let Some(text) = cli.positional.first() else {
        bail!("`bert fill-mask` needs a sentence with [MASK], e.g. \"the [MASK] of the story\"");
    };
    let top_k: usize = match cli.option("top-k") {
        Some(k) => k
            .parse()
            .with_context(|| format!("--top-k `{k}`: expected a whole number"))?,
        None => 5,
    };
    for (i, predictions) in fill_mask(model, tokenizer, text, top_k)?.iter().enumerate() {
        println!("[MASK] {}:", i + 1);
        for (token, p) in predictions {
            println!("  {token:20} {p:.4}");
        }
    }
    Ok(())
}

/// `add-tokens`: extends a Hugging Face directory's tokenizer and embeddings.
fn add_tokens(cli: &Cli) -> Result<()> {
    let dir = cli.ckpt_path.as_deref().map(PathBuf::from).context(
        "`bert add-tokens` needs --ckpt-path DIR (a Hugging Face directory, e.g. <root_dir>/hf)",
    )?;
    let list = cli
        .option("tokens")
        .map(PathBuf::from)
        .context("`bert add-tokens` needs --tokens FILE (one token a line)")?;
    let init: NewRowInit = cli.option("init").unwrap_or("mean").parse()?;
    let output = cli
        .option("output")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.clone());
    let text =
        std::fs::read_to_string(&list).with_context(|| format!("reading {}", list.display()))?;
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    if tokens.is_empty() {
        bail!("{}: no tokens (expected one a line)", list.display());
    }
    let (mut config, model, _) = load_pretrained(&dir, &Device::flex())?;
    let mut tokenizer = BertTokenizer::from_dir(&dir)?;
    let added = tokenizer.add_tokens(&tokens);
    let model = resize_token_embeddings(model, &mut config, tokenizer.vocab_size(), init)?;
    export(&model, &config, &tokenizer, &output)?;
    println!(
        "added {} of {} tokens ({} already known); vocabulary {} → {}; written to {}",
        added.len(),
        tokens.len(),
        tokens.len() - added.len(),
        tokenizer.vocab_size() - added.len(),
        tokenizer.vocab_size(),
        output.display()
    );
    Ok(())
}
