//! The `bert` command: the framework's runner (`fit|validate`, config, overrides, checkpoints)
//! plus what is BERT's own: its registration, `export`, `fill-mask` and `add-tokens`.
//!
//! `fit` (the default) pretrains and exports the best checkpoint to `<root_dir>/hf`; `export`
//! writes any checkpoint as a Hugging Face directory; `fill-mask` prints the top predictions
//! for each `[MASK]` of a sentence; `add-tokens` extends a Hugging Face directory's vocabulary.
//! `fill-mask` and `add-tokens` take a Hugging Face directory as `--ckpt-path` without a config.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use burn_lightning::checkpoint::Checkpoint;
use burn_lightning::cli::args::CommonArgs;
use burn_lightning::cli::{LightningApp, Session, print_metrics};
use burn_lightning::{DataHandoff, LightningDataModule, Stage, Trainer};

use crate::assemble::{LazyBert, build_model, recipe};
use crate::config::BertConfig;
use crate::datamodule::PretrainingDataModule;
use crate::fill_mask::fill_mask;
use crate::heads::BertForPreTraining;
use crate::module::BertPretrainingModule;
use crate::settings::PretrainConfig;
use crate::tokenizer::BertTokenizer;
use crate::vocab_extension::{NewRowInit, resize_token_embeddings};
use crate::weights::{load_pretrained, save_pretrained};

/// The `bert` binary.
pub struct BertApp;

/// `bert`'s own options.
#[derive(Debug, Clone, clap::Args)]
pub struct BertOptions {
    /// `export`, `add-tokens`: the Hugging Face directory to write.
    #[arg(long, global = true, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// `add-tokens`: the new tokens, one a line.
    #[arg(long, global = true, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// `add-tokens`: how new embedding rows start (`mean` or `normal`).
    #[arg(long, global = true, default_value = "mean")]
    pub init: String,
    /// `fill-mask`: predictions shown per [MASK].
    #[arg(long = "top-k", global = true, default_value_t = 5)]
    pub top_k: usize,
}

/// `bert`'s own commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum BertCommand {
    /// Write a checkpoint (--ckpt-path) as a Hugging Face directory (--output DIR).
    Export,
    /// Print the top predictions for each [MASK] of a sentence, from a checkpoint or a Hugging
    /// Face directory (--ckpt-path).
    FillMask {
        /// The sentence, e.g. "the [MASK] of the story".
        text: String,
    },
    /// Extend a Hugging Face directory's (--ckpt-path) vocabulary with --tokens FILE.
    AddTokens,
}

impl LightningApp for BertApp {
    const NAME: &'static str = "bert";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str =
        "BERT pretraining (masked LM and next-sentence prediction) on burn-lightning";
    const EXAMPLE_CONFIG: &'static str = "configs/bert.yaml";
    type Settings = PretrainConfig;
    type Module = BertPretrainingModule;
    type Data = PretrainingDataModule;
    type Options = BertOptions;
    type Command = BertCommand;

    fn load_config(path: &Path, overrides: &[(String, String)]) -> Result<PretrainConfig> {
        load_config(path, overrides)
    }

    fn check(settings: &PretrainConfig, source: &Path) -> Result<()> {
        burn_lightning::cli::check_experiment(settings, source)
    }

    fn default_settings() -> PretrainConfig {
        PretrainConfig::defaults("bert", "corpus")
    }

    fn trainer(settings: &PretrainConfig) -> Result<Trainer> {
        Ok(settings.trainer())
    }

    fn build(
        settings: &PretrainConfig,
        _source: &Path,
    ) -> Result<(BertPretrainingModule, PretrainingDataModule)> {
        let published = DataHandoff::new("the BERT tokenizer");
        let data = PretrainingDataModule::new(
            settings.dataset.params.clone(),
            settings.seed.unwrap_or(0),
            settings.model.params.pretrained.clone(),
        )
        .publishing_to(published.clone());
        let module = BertPretrainingModule::lazy(LazyBert {
            config: Arc::new(settings.clone()),
            data: published,
        });
        Ok((module, data))
    }

    /// Pretrains, then exports the best checkpoint's weights (the last ones when none was kept)
    /// as a Hugging Face directory.
    fn fit(session: &Session<Self>) -> Result<()> {
        let config = &session.settings;
        let (module, mut data) = session.build()?;
        let mut trainer = session.trainer()?;
        let module = trainer.fit(module, &mut data, session.ckpt_path())?;
        print_metrics("final metrics", trainer.callback_metrics());
        let tokenizer = data.tokenizer()?;
        let bert_config = module
            .bert_config()
            .cloned()
            .context("the trained module has no config")?;
        let (best, source) = match trainer.best_checkpoint_path() {
            // The trained module has the best checkpoint's shapes: its weights are replaced.
            Some(path) => (
                Checkpoint::load(path)?.load_module(module, path)?,
                path.display().to_string(),
            ),
            None => (module, "the last step".to_string()),
        };
        let out = config.trainer.default_root_dir.join("hf");
        export(best.net()?, &bert_config, &tokenizer, &out)?;
        println!("Hugging Face checkpoint (from {source}): {}", out.display());
        Ok(())
    }

    fn test(_session: &Session<Self>) -> Result<()> {
        bail!(
            "`bert test` is not available: pretraining has a held-out set (`validate`) but no test set"
        )
    }

    fn predict(_session: &Session<Self>) -> Result<()> {
        bail!(
            "`bert predict` is not available: pretraining makes no predictions; try `bert fill-mask`"
        )
    }

    fn without_settings(
        command: &BertCommand,
        args: &CommonArgs,
        options: &BertOptions,
    ) -> Option<Result<()>> {
        let hf_dir = args
            .ckpt_path
            .as_deref()
            .map(PathBuf::from)
            .filter(|p| p.join("config.json").is_file());
        match (command, hf_dir) {
            (BertCommand::AddTokens, _) => Some(add_tokens(args.ckpt_path.as_deref(), options)),
            (BertCommand::FillMask { text }, Some(dir)) if args.config.is_empty() => Some((|| {
                let (_, model, _) = load_pretrained(&dir, &Device::flex())?;
                let tokenizer = BertTokenizer::from_dir(&dir)?;
                print_fill_mask(text, options.top_k, &model, &tokenizer)
            })(
            )),
            _ => None,
        }
    }

    fn run_command(session: &Session<Self>, command: &BertCommand) -> Result<()> {
        match command {
            BertCommand::Export => {
                let output = session
                    .options
                    .output
                    .clone()
                    .context("`bert export` needs --output DIR")?;
                let (module, tokenizer) = trained_module(session)?;
                let bert_config = module.bert_config().cloned().context("no model config")?;
                export(module.net()?, &bert_config, &tokenizer, &output)
            }
            BertCommand::FillMask { text } => {
                let (module, tokenizer) = trained_module(session)?;
                print_fill_mask(text, session.options.top_k, module.net()?, &tokenizer)
            }
            BertCommand::AddTokens => add_tokens(session.ckpt_path(), &session.options),
        }
    }
}

/// The module with the weights of `--ckpt-path`, and its tokenizer: the data is set up here
/// because no Trainer stage runs.
fn trained_module(
    session: &Session<BertApp>,
) -> Result<(BertPretrainingModule, Arc<BertTokenizer>)> {
    let ckpt = session
        .ckpt_path()
        .context("needs --ckpt-path (a checkpoint path, last or best)")?;
    let path = session.trainer()?.resolve_checkpoint(ckpt)?;
    let (mut module, mut data) = session.build()?;
    data.prepare_data()?;
    data.setup(Stage::Validate)?;
    module.build_network(&Device::flex())?;
    let module = Checkpoint::load(&path)?.load_module(module, &path)?;
    Ok((module, data.tokenizer()?))
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

/// A fresh module over `tokenizer` (the seed fixes the initial weights), for callers that set
/// the data up themselves (warm-up schedules are sized by the Trainer's
/// `estimated_stepping_batches` when `fit` calls `configure_optimizers`).
pub fn build_module(
    config: &PretrainConfig,
    tokenizer: &BertTokenizer,
) -> Result<(BertPretrainingModule, BertConfig)> {
    let device = Device::flex();
    device.seed(config.seed.unwrap_or(0));
    let (bert_config, model) = build_model(config, tokenizer, &device)?;
    Ok((
        BertPretrainingModule::new(model, recipe(config)),
        bert_config,
    ))
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

fn print_fill_mask(
    text: &str,
    top_k: usize,
    model: &BertForPreTraining,
    tokenizer: &BertTokenizer,
) -> Result<()> {
    for (i, predictions) in fill_mask(model, tokenizer, text, top_k)?.iter().enumerate() {
        println!("[MASK] {}:", i + 1);
        for (token, p) in predictions {
            println!("  {token:20} {p:.4}");
        }
    }
    Ok(())
}

/// `add-tokens`: extends a Hugging Face directory's tokenizer and embeddings.
fn add_tokens(ckpt_path: Option<&str>, options: &BertOptions) -> Result<()> {
    let dir = ckpt_path.map(PathBuf::from).context(
        "`bert add-tokens` needs --ckpt-path DIR (a Hugging Face directory, e.g. <root_dir>/hf)",
    )?;
    let list = options
        .tokens
        .clone()
        .context("`bert add-tokens` needs --tokens FILE (one token a line)")?;
    let init: NewRowInit = options.init.parse()?;
    let output = options.output.clone().unwrap_or_else(|| dir.clone());
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
