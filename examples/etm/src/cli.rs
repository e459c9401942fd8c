//! The `etm` command: the framework's runner (`fit|validate|test|predict`, config, overrides,
//! checkpoints) plus what is the ETM's own: its registration, `topics`, and predict's CSV.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use burn::prelude::*;
use burn_lightning::checkpoint::Checkpoint;
use burn_lightning::cli::{LightningApp, Session};
use burn_lightning::{DataHandoff, LightningDataModule, Stage, Trainer};

use crate::assemble::{EtmDataInfo, LazyEtm, build_parts};
use crate::datamodule::{EtmData, EtmDataModule, open_dataset};
use crate::module::EtmModule;
use crate::settings::EtmConfig;

/// The `etm` binary.
pub struct EtmApp;

/// `etm`'s own options.
#[derive(Debug, Clone, clap::Args)]
pub struct EtmOptions {
    /// `predict`: the CSV of topic proportions (default: the run's log dir).
    #[arg(long, global = true, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `etm`'s own commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum EtmCommand {
    /// Print the topics (top words) and their coherence and diversity of a checkpoint
    /// (needs --ckpt-path).
    Topics,
}

impl LightningApp for EtmApp {
    const NAME: &'static str = "etm";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str =
        "The Embedded Topic Model (Dieng, Ruiz & Blei 2020) on burn-lightning";
    const EXAMPLE_CONFIG: &'static str = "configs/etm.yaml";
    type Settings = EtmConfig;
    type Module = EtmModule;
    type Data = EtmDataModule;
    type Options = EtmOptions;
    type Command = EtmCommand;

    fn load_config(path: &Path, overrides: &[(String, String)]) -> Result<EtmConfig> {
        load_config(path, overrides)
    }

    fn check(settings: &EtmConfig, source: &Path) -> Result<()> {
        burn_lightning::cli::check_experiment(settings, source)
    }

    fn default_settings() -> EtmConfig {
        EtmConfig::defaults("etm", "nyt")
    }

    fn trainer(settings: &EtmConfig) -> Result<Trainer> {
        Ok(trainer_for(settings))
    }

    fn build(settings: &EtmConfig, source: &Path) -> Result<(EtmModule, EtmDataModule)> {
        let published = DataHandoff::new("the ETM's vocabulary");
        let corpus = open_dataset(
            &settings.dataset.name,
            &settings.dataset.params,
            settings.seed.unwrap_or(0),
            settings.model.params.bow_norm,
        )?;
        let module = EtmModule::lazy(LazyEtm {
            config: Arc::new(settings.clone()),
            source: source.to_path_buf(),
            data: published.clone(),
        });
        Ok((module, EtmDataModule::new(corpus, published)))
    }

    fn after_fit(_session: &Session<Self>, _trainer: &Trainer, module: &EtmModule) -> Result<()> {
        println!("{}", module.topic_report()?.topics_text());
        Ok(())
    }

    fn write_predictions(
        session: &Session<Self>,
        trainer: &Trainer,
        outputs: &[Tensor<2>],
    ) -> Result<()> {
        let output = match &session.options.output {
            Some(o) => o.clone(),
            None => trainer
                .log_dir()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| session.settings.trainer.default_root_dir.clone())
                .join("topic_proportions.csv"),
        };
        write_proportions(&output, outputs)?;
        println!(
            "topic proportions of {} documents: {}",
            count_rows(outputs),
            output.display()
        );
        Ok(())
    }

    fn run_command(session: &Session<Self>, command: &EtmCommand) -> Result<()> {
        match command {
            EtmCommand::Topics => topics(session),
        }
    }
}

/// `etm topics`: the topics of a checkpoint. The vocabulary comes from the data, which is set
/// up here because no Trainer stage runs.
fn topics(session: &Session<EtmApp>) -> Result<()> {
    let ckpt = session
        .ckpt_path()
        .context("`etm topics` needs --ckpt-path (a path, last or best)")?;
    let trainer = session.trainer()?;
    let path = trainer.resolve_checkpoint(ckpt)?;
    let (mut module, mut data) = session.build()?;
    data.prepare_data()?;
    data.setup(Stage::Test)?;
    module.build_network(&Device::flex())?;
    let module = Checkpoint::load(&path)?.load_module(module, &path)?;
    let report = module.topic_report()?;
    println!("{}", report.topics_text());
    println!(
        "coherence {:.4}  diversity {:.4}  quality {:.4}",
        report.coherence, report.diversity, report.quality
    );
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

/// The ETM module for `config` over the vocabulary of `data`, which must be set up (tests and
/// benches that drive the Trainer themselves; the `etm` command builds the network lazily).
pub fn build_module(config: &EtmConfig, data: &dyn EtmData, source: &Path) -> Result<EtmModule> {
    let info = EtmDataInfo {
        vocabulary: data.vocabulary()?,
        training: Arc::new(data.training_documents()?),
        summary: data.summary()?,
    };
    let (model, context) = build_parts(config, &info, &Device::flex(), source)?;
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
