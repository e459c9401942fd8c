//! The pretrainer's LightningDataModule: `prepare_data` fetches the corpus; `setup` reads it,
//! loads or trains the tokenizer, tokenizes every document once, holds out a share of the
//! documents and builds (or reads back from the cache) the masked NSP examples of both sets.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use burn_lightning::data::DataLoader;
use burn_lightning::{DataHandoff, LightningDataModule, Stage};

use crate::assemble::BertDataInfo;
use crate::batch::{PretrainingBatch, collate};
use crate::example_cache::{cache_key, read_examples, write_examples};
use crate::masking::{MaskingSettings, PretrainingExample};
use crate::pairs::PairSettings;
use crate::pipeline::{PipelineSettings, generate_examples, split_documents, tokenize_documents};
use crate::settings::DataParams;
use crate::tokenizer::{BertTokenizer, WordPieceTraining};

/// Bumped whenever the WordPiece trainer's output changes.
const TRAINER_VERSION: &str = "deterministic-wordpiece-1";

/// Examples of both sets, and how they were obtained.
#[derive(Debug)]
pub struct PretrainingExamples {
    /// Training examples (every pass, shuffled).
    pub train: Vec<PretrainingExample>,
    /// Held-out examples (one pass).
    pub val: Vec<PretrainingExample>,
    /// Documents in each set.
    pub documents: (usize, usize),
    /// Read from the cache rather than built.
    pub cached: bool,
    /// Seconds spent building or reading them.
    pub seconds: f64,
}

/// Pretraining data over one corpus.
pub struct PretrainingDataModule {
    params: DataParams,
    seed: u64,
    /// The tokenizer of a pretrained checkpoint, when continuing one.
    pretrained_dir: Option<PathBuf>,
    tokenizer: Option<Arc<BertTokenizer>>,
    examples: Option<Arc<PretrainingExamples>>,
    published: Option<DataHandoff<BertDataInfo>>,
}

impl PretrainingDataModule {
    /// A module over `params`; nothing is read until `prepare_data`/`setup`.
    pub fn new(params: DataParams, seed: u64, pretrained_dir: Option<PathBuf>) -> Self {
        Self {
            params,
            seed,
            pretrained_dir,
            tokenizer: None,
            examples: None,
            published: None,
        }
    }

    /// After each `setup`, publishes the tokenizer and the number of training examples to
    /// `handoff` (which the module's `configure_model` reads), and prints the data's summary.
    pub fn publishing_to(mut self, handoff: DataHandoff<BertDataInfo>) -> Self {
        self.published = Some(handoff);
        self
    }

    /// The tokenizer (after `setup`).
    pub fn tokenizer(&self) -> Result<Arc<BertTokenizer>> {
        self.tokenizer
            .clone()
            .context("the data module is not set up (call setup first)")
    }

    /// The examples (after `setup`).
    pub fn examples(&self) -> Result<Arc<PretrainingExamples>> {
        self.examples
            .clone()
            .context("the data module is not set up (call setup first)")
    }

    /// Loads (or trains, or reads back from the cache) the tokenizer without building examples:
    /// what `export` and `fill-mask` need.
    pub fn setup_tokenizer(&mut self) -> Result<Arc<BertTokenizer>> {
        if self.tokenizer.is_none() {
            let tokenizer = match self.configured_tokenizer() {
                Some(tokenizer) => tokenizer?,
                None => self.trained_tokenizer(&self.read_corpus()?)?,
            };
            self.tokenizer = Some(Arc::new(tokenizer));
        }
        self.tokenizer()
    }

    fn cache_dir(&self) -> PathBuf {
        self.params.data_dir.join("cache")
    }

    /// The pipeline's settings from the config.
    pub fn pipeline_settings(&self) -> PipelineSettings {
        let p = &self.params;
        PipelineSettings {
            pairs: PairSettings {
                max_seq_len: p.max_seq_len,
                short_seq_prob: p.short_seq_prob,
                overlength: p.overlength,
            },
            masking: MaskingSettings {
                probability: p.masked_lm_prob,
                ..MaskingSettings::default()
            },
            dupe_factor: p.dupe_factor,
            val_fraction: p.val_fraction,
            seed: self.seed,
        }
    }

    fn read_corpus(&self) -> Result<Corpus> {
        let mut documents = self.params.corpus.read(&self.params.data_dir)?;
        if let Some(n) = self.params.max_documents {
            documents.truncate(n);
        }
        let parts: Vec<&[u8]> = documents.iter().map(|d| d.as_bytes()).collect();
        let digest = cache_key(&parts).into_bytes();
        Ok(Corpus { documents, digest })
    }

    /// The configured tokenizer, else the pretrained checkpoint's; `None` when it is trained.
    fn configured_tokenizer(&self) -> Option<Result<BertTokenizer>> {
        let path = self
            .params
            .tokenizer
            .as_ref()
            .or(self.pretrained_dir.as_ref())?;
        Some(load_tokenizer(path, self.params.lowercase))
    }

    /// A vocabulary trained on `corpus` (cached under `data_dir/cache`, keyed by the corpus,
    /// the training settings and the trainer's version).
    fn trained_tokenizer(&self, corpus: &Corpus) -> Result<BertTokenizer> {
        let documents = &corpus.documents;
        let p = &self.params;
        // The trainer's version is part of the key: a vocabulary trained otherwise is not reused.
        let settings = format!(
            "{TRAINER_VERSION}/{}/{}/{}",
            p.vocab_size, p.min_frequency, p.lowercase
        );
        let key = cache_key(&[&corpus.digest, settings.as_bytes()]);
        let path = self.cache_dir().join(format!("wordpiece-{key}.json"));
        if path.is_file() {
            return BertTokenizer::from_tokenizer_json(&path);
        }
        let started = Instant::now();
        let tokenizer = BertTokenizer::train(
            documents,
            &WordPieceTraining {
                vocab_size: p.vocab_size,
                min_frequency: p.min_frequency,
                lowercase: p.lowercase,
            },
        )?;
        eprintln!(
            "trained a {}-token WordPiece vocabulary on {} documents in {:.1} s",
            tokenizer.vocab_size(),
            documents.len(),
            started.elapsed().as_secs_f64()
        );
        std::fs::create_dir_all(self.cache_dir())
            .with_context(|| format!("creating {}", self.cache_dir().display()))?;
        tokenizer.save_json(&path)?;
        Ok(tokenizer)
    }

    /// Reads the examples from the cache, or builds and caches them.
    fn load_examples(
        &self,
        corpus: &Corpus,
        tokenizer: &BertTokenizer,
    ) -> Result<PretrainingExamples> {
        let documents = &corpus.documents;
        let started = Instant::now();
        let settings = self.pipeline_settings();
        let tokenizer_json = tokenizer.to_json()?;
        let key = cache_key(&[
            &corpus.digest,
            tokenizer_json.as_bytes(),
            format!("{settings:?}").as_bytes(),
        ]);
        let train_path = self.cache_dir().join(format!("examples-{key}-train.bin"));
        let val_path = self.cache_dir().join(format!("examples-{key}-val.bin"));
        let (train_docs, val_docs) =
            split_documents(documents.len(), settings.val_fraction, settings.seed);
        if train_path.is_file() && val_path.is_file() {
            match (read_examples(&train_path), read_examples(&val_path)) {
                (Ok(train), Ok(val)) => {
                    return Ok(PretrainingExamples {
                        train,
                        val,
                        documents: (train_docs.len(), val_docs.len()),
                        cached: true,
                        seconds: started.elapsed().as_secs_f64(),
                    });
                }
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("warning: {e:#}; building the examples again")
                }
            }
        }
        let tokenized = tokenize_documents(documents, tokenizer)?;
        let pick = |idx: &[usize]| {
            idx.iter()
                .map(|&i| tokenized[i].clone())
                .collect::<Vec<_>>()
        };
        let train = generate_examples(
            &pick(&train_docs),
            &settings,
            settings.dupe_factor,
            tokenizer,
        );
        // Held-out examples come from their own stream, so they stay put when dupe_factor moves.
        let val_settings = PipelineSettings {
            seed: settings.seed ^ 0x00ff_00ff,
            ..settings
        };
        let val = generate_examples(&pick(&val_docs), &val_settings, 1, tokenizer);
        std::fs::create_dir_all(self.cache_dir())
            .with_context(|| format!("creating {}", self.cache_dir().display()))?;
        write_examples(&train_path, &train)?;
        write_examples(&val_path, &val)?;
        Ok(PretrainingExamples {
            train,
            val,
            documents: (train_docs.len(), val_docs.len()),
            cached: false,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    fn loader(
        &self,
        examples: Vec<PretrainingExample>,
        batch_size: usize,
    ) -> Result<DataLoader<PretrainingBatch>> {
        let pad = self.tokenizer()?.special().pad;
        Ok(DataLoader::new(
            examples,
            batch_size,
            move |items: Vec<PretrainingExample>| Ok(collate(&items, pad)),
        )
        .num_workers(self.params.num_workers))
    }

    /// One line about the data.
    pub fn summary(&self) -> Result<String> {
        let e = self.examples()?;
        let tokens: usize = e.train.iter().map(|x| x.input_ids.len()).sum();
        Ok(format!(
            "{} training examples ({} documents × {} passes, {:.1} tokens each on average), {} held-out examples ({} documents); {} in {:.1} s; vocabulary {}",
            e.train.len(),
            e.documents.0,
            self.params.dupe_factor,
            tokens as f64 / e.train.len().max(1) as f64,
            e.val.len(),
            e.documents.1,
            if e.cached {
                "read from the cache"
            } else {
                "built"
            },
            e.seconds,
            self.tokenizer()?.vocab_size()
        ))
    }
}

/// Reads `path` as a checkpoint directory, a `tokenizer.json` or a `vocab.txt`.
pub fn load_tokenizer(path: &Path, lowercase: bool) -> Result<BertTokenizer> {
    if path.is_dir() {
        BertTokenizer::from_dir(path)
    } else if path.extension().is_some_and(|e| e == "json") {
        BertTokenizer::from_tokenizer_json(path)
    } else if path.is_file() {
        BertTokenizer::from_vocab_txt(path, lowercase)
    } else {
        anyhow::bail!(
            "tokenizer {}: no such file or directory (expected a tokenizer.json, a vocab.txt or a checkpoint directory)",
            path.display()
        )
    }
}

/// The documents, and a digest of their text for cache keys (computed once).
struct Corpus {
    documents: Vec<String>,
    digest: Vec<u8>,
}

impl PretrainingDataModule {
    /// Reads the corpus, the tokenizer and the examples, once.
    fn load(&mut self) -> Result<()> {
        if self.examples.is_some() {
            return Ok(());
        }
        let corpus = self.read_corpus()?;
        let tokenizer = match (&self.tokenizer, self.configured_tokenizer()) {
            (Some(t), _) => t.as_ref().clone(),
            (None, Some(configured)) => configured?,
            (None, None) => self.trained_tokenizer(&corpus)?,
        };
        let examples = self.load_examples(&corpus, &tokenizer)?;
        anyhow::ensure!(
            !examples.train.is_empty(),
            "the corpus gave no training examples (documents need at least two sentences)"
        );
        self.tokenizer = Some(Arc::new(tokenizer));
        self.examples = Some(Arc::new(examples));
        Ok(())
    }
}

impl LightningDataModule for PretrainingDataModule {
    type Batch = PretrainingBatch;

    fn prepare_data(&mut self) -> Result<()> {
        self.params.corpus.prepare(&self.params.data_dir)
    }

    fn setup(&mut self, _stage: Stage) -> Result<()> {
        self.load()?;
        if let Some(handoff) = &self.published {
            println!("{}", self.summary()?);
            handoff.publish(BertDataInfo {
                tokenizer: self.tokenizer()?,
            });
        }
        Ok(())
    }

    fn train_dataloader(&mut self) -> Result<DataLoader<PretrainingBatch>> {
        let examples = self.examples()?.train.clone();
        Ok(self
            .loader(examples, self.params.batch_size)?
            .shuffle(self.seed))
    }

    fn val_dataloader(&mut self) -> Result<Option<DataLoader<PretrainingBatch>>> {
        let examples = self.examples()?.val.clone();
        if examples.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.loader(examples, self.params.eval_batch_size)?))
    }
}
