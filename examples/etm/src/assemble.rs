//! Building the ETM from settings and set-up data: eagerly ([`crate::cli::build_module`], for
//! tests and benches that set the data up themselves) or lazily in the module's
//! `configure_model`, from what the datamodule published in `setup` ([`LazyEtm`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, bail};
use burn::prelude::*;
use burn_lightning::DataHandoff;
use burn_lightning::optim::{OptimizerConfig, SchedulerConfig};

use crate::corpus::Document;
use crate::formats::embeddings::load_word2vec;
use crate::metrics::DocumentFrequencies;
use crate::model::Etm;
use crate::settings::EtmConfig;

/// What the module needs from the data: published by [`crate::datamodule::EtmDataModule`]'s
/// `setup`.
#[derive(Debug, Clone)]
pub struct EtmDataInfo {
    /// Word of each id; its length is V.
    pub vocabulary: Arc<Vec<String>>,
    /// The training documents (coherence counts co-occurrence in them).
    pub training: Arc<Vec<Arc<Document>>>,
    /// One line about the corpus and the split.
    pub summary: String,
}

/// Everything the module reads but never trains: vocabulary, co-occurrence index, settings.
#[derive(Debug)]
pub struct EtmContext {
    /// Word of each id.
    pub vocabulary: Arc<Vec<String>>,
    /// Document frequencies over the training documents (for coherence).
    pub frequencies: DocumentFrequencies,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// The LR scheduler, if any.
    pub scheduler: Option<SchedulerConfig>,
    /// Words shown per topic.
    pub num_words: usize,
    /// Top words scored by coherence.
    pub coherence_words: usize,
    /// Top words counted by diversity.
    pub diversity_words: usize,
    /// One line about the data, logged as text at the start of training.
    pub data_summary: String,
}

/// A module not built yet: its settings and where the data's sizes will come from.
#[derive(Debug, Clone)]
pub struct LazyEtm {
    /// The whole config.
    pub config: Arc<EtmConfig>,
    /// The config file (or checkpoint) the settings came from, for errors.
    pub source: PathBuf,
    /// Filled by the datamodule's `setup`.
    pub data: DataHandoff<EtmDataInfo>,
}

impl LazyEtm {
    /// The network and its context on `device`, sized by the published data.
    pub fn build(&self, device: &Device) -> Result<(Etm, EtmContext)> {
        build_parts(&self.config, &self.data.get()?, device, &self.source)
    }
}

/// The network for `config` over the vocabulary of `data`, on `device` (seeded first, so the
/// same seed gives the same initial weights), and the context its hooks read.
pub fn build_parts(
    config: &EtmConfig,
    data: &EtmDataInfo,
    device: &Device,
    source: &Path,
) -> Result<(Etm, EtmContext)> {
    let params = &config.model.params;
    let v = data.vocabulary.len();
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
            let (matrix, missing) = load_word2vec(file, &data.vocabulary, params.rho_size, seed)?;
            eprintln!(
                "embeddings: {} of {v} words found in {} ({missing} drawn at random)",
                v - missing,
                file.display()
            );
            Some(matrix)
        }
        _ => None,
    };
    device.seed(seed);
    let model = Etm::new(params, v, embeddings, device);
    let context = EtmContext {
        frequencies: DocumentFrequencies::new(data.training.iter().map(|d| d.as_ref()), v),
        vocabulary: Arc::clone(&data.vocabulary),
        optimizer: config.optimizer.clone(),
        scheduler: config.scheduler.clone(),
        num_words: params.num_words,
        coherence_words: params.coherence_words,
        diversity_words: params.diversity_words,
        data_summary: data.summary.clone(),
    };
    Ok((model, context))
}
