//! The classifier's LightningDataModule: a CSV of labelled texts (by default the movie reviews
//! fetched from their wheel), tokenized once, split into stratified folds; each fit trains on
//! all folds but one and validates on that one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use burn_lightning::data::DataLoader;
use burn_lightning::{DataHandoff, LightningDataModule, Stage};

use crate::assemble::DebertaDataInfo;
use crate::batch::{Example, TextBatch, collate};
use crate::fetch::{DEBERTA_V3_TOKENIZER, MOVIE_REVIEWS};
use crate::folds::stratified_folds;
use crate::labelled::LabelledTexts;
use crate::settings::DataParams;
use crate::tokenizer::DebertaTokenizer;

/// Tokenized rows and their folds.
#[derive(Debug)]
pub struct FoldTable {
    /// Every row, tokenized.
    pub examples: Vec<Example>,
    /// Fold of each row.
    pub folds: Vec<usize>,
    /// Rows per class.
    pub class_counts: Vec<usize>,
}

/// Labelled texts in stratified folds, serving one fold at a time.
pub struct FoldDataModule {
    params: DataParams,
    classes: usize,
    seed: u64,
    /// Tokenizer from the pretrained checkpoint, when fine-tuning one.
    pretrained_tokenizer: Option<PathBuf>,
    tokenizer: Option<Arc<DebertaTokenizer>>,
    table: Option<Arc<FoldTable>>,
    /// The fold validated on (the rest train).
    pub fold: usize,
    published: Option<DataHandoff<DebertaDataInfo>>,
}

impl FoldDataModule {
    /// A module over `params`; nothing is read until `prepare_data`/`setup`.
    pub fn new(
        params: DataParams,
        classes: usize,
        seed: u64,
        pretrained_tokenizer: Option<PathBuf>,
    ) -> Self {
        let fold = params.trn_fold.first().copied().unwrap_or(0);
        Self {
            params,
            classes,
            seed,
            pretrained_tokenizer,
            tokenizer: None,
            table: None,
            fold,
            published: None,
        }
    }

    /// After each `setup`, publishes the tokenizer and the fold's training rows to `handoff`
    /// (which the module's `configure_model` reads).
    pub fn publishing_to(mut self, handoff: DataHandoff<DebertaDataInfo>) -> Self {
        self.published = Some(handoff);
        self
    }

    /// Publishes what the module sizes itself by, when a handoff is set.
    fn publish(&self) -> Result<()> {
        if let Some(handoff) = &self.published {
            handoff.publish(DebertaDataInfo {
                tokenizer: self.tokenizer()?,
            });
        }
        Ok(())
    }

    /// The CSV this module reads.
    pub fn csv_path(&self) -> PathBuf {
        self.params
            .csv_path
            .clone()
            .unwrap_or_else(|| MOVIE_REVIEWS.paths(&self.params.data_dir).remove(0))
    }

    /// Where the tokenizer is read from.
    pub fn tokenizer_path(&self) -> PathBuf {
        self.params
            .tokenizer
            .clone()
            .or_else(|| self.pretrained_tokenizer.clone())
            .unwrap_or_else(|| DEBERTA_V3_TOKENIZER.paths(&self.params.data_dir).remove(1))
    }

    /// The tokenizer (after `setup`).
    pub fn tokenizer(&self) -> Result<Arc<DebertaTokenizer>> {
        self.tokenizer
            .clone()
            .context("the data module is not set up (call setup first)")
    }

    /// The folds (after `setup`).
    pub fn table(&self) -> Result<Arc<FoldTable>> {
        self.table
            .clone()
            .context("the data module is not set up (call setup first)")
    }

    /// One line about the data.
    pub fn summary(&self) -> Result<String> {
        let table = self.table()?;
        let lengths: Vec<usize> = table.examples.iter().map(|e| e.ids.len()).collect();
        let mean = lengths.iter().sum::<usize>() as f64 / lengths.len().max(1) as f64;
        let cut = lengths
            .iter()
            .filter(|&&l| l >= self.params.max_len)
            .count();
        Ok(format!(
            "{}: {} texts, classes {:?}, {} folds; {:.1} tokens per text on average, {} cut to max_len {}",
            self.csv_path().display(),
            table.examples.len(),
            table.class_counts,
            self.params.n_fold,
            mean,
            cut,
            self.params.max_len
        ))
    }

    fn loader(&self, examples: Vec<Example>, batch_size: usize) -> Result<DataLoader<TextBatch>> {
        let tokenizer = self.tokenizer()?;
        Ok(
            DataLoader::new(examples, batch_size, move |items: Vec<Example>| {
                Ok(collate(&items, &tokenizer))
            })
            .num_workers(self.params.num_workers),
        )
    }

    fn fold_rows(&self, validation: bool) -> Result<Vec<Example>> {
        let table = self.table()?;
        Ok(table
            .examples
            .iter()
            .zip(&table.folds)
            .filter(|(_, f)| (**f == self.fold) == validation)
            .map(|(e, _)| e.clone())
            .collect())
    }
}

/// Reads `tokenizer` as a directory, a `tokenizer.json` or an `spm.model`.
pub fn load_tokenizer(path: &Path) -> Result<DebertaTokenizer> {
    if path.is_dir() {
        DebertaTokenizer::from_dir(path)
    } else if path.extension().is_some_and(|e| e == "json") {
        DebertaTokenizer::from_tokenizer_json(path)
    } else if path.is_file() {
        DebertaTokenizer::from_spm_model(path)
    } else {
        bail!(
            "tokenizer {} does not exist (set dataset.params.tokenizer to a directory, tokenizer.json or spm.model)",
            path.display()
        )
    }
}

impl LightningDataModule for FoldDataModule {
    type Batch = TextBatch;

    fn prepare_data(&mut self) -> Result<()> {
        if self.params.csv_path.is_none() {
            MOVIE_REVIEWS.ensure(&self.params.data_dir)?;
        }
        if self.params.tokenizer.is_none() && self.pretrained_tokenizer.is_none() {
            DEBERTA_V3_TOKENIZER.ensure(&self.params.data_dir)?;
        }
        Ok(())
    }

    fn setup(&mut self, _stage: Stage) -> Result<()> {
        if self.table.is_some() {
            return self.publish();
        }
        let tokenizer = load_tokenizer(&self.tokenizer_path())?;
        let csv = self.csv_path();
        let data = LabelledTexts::from_csv(&csv, &self.params, self.classes, self.seed)?;
        let max_len = self.params.max_len;
        let examples = data
            .texts
            .iter()
            .zip(&data.labels)
            .enumerate()
            .map(|(row, (text, &label))| {
                let ids = tokenizer
                    .encode_truncated(text, max_len)
                    .with_context(|| format!("{}: tokenizing row {}", csv.display(), row + 1))?;
                Ok(Example {
                    row,
                    ids: Arc::new(ids),
                    label,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let folds = stratified_folds(&data.labels, self.params.n_fold, self.seed);
        self.table = Some(Arc::new(FoldTable {
            examples,
            folds,
            class_counts: data.class_counts(),
        }));
        self.tokenizer = Some(Arc::new(tokenizer));
        eprintln!("{}", self.summary()?);
        self.publish()
    }

    fn train_dataloader(&mut self) -> Result<DataLoader<TextBatch>> {
        let rows = self.fold_rows(false)?;
        let drop_last = rows.len() > self.params.batch_size;
        Ok(self
            .loader(rows, self.params.batch_size)?
            .shuffle(self.seed.wrapping_add(self.fold as u64))
            .drop_last(drop_last))
    }

    fn val_dataloader(&mut self) -> Result<Option<DataLoader<TextBatch>>> {
        let rows = self.fold_rows(true)?;
        Ok(Some(self.loader(rows, self.params.eval_batch_size())?))
    }

    fn predict_dataloader(&mut self) -> Result<DataLoader<TextBatch>> {
        self.val_dataloader()?.context("no validation rows")
    }
}

/// Texts to score with a trained model (`deberta predict`), no labels needed: `setup` loads
/// the tokenizer the training data named and tokenizes them.
pub struct PredictDataModule {
    texts: Vec<String>,
    /// For the tokenizer's download and path.
    training: FoldDataModule,
    max_len: usize,
    batch_size: usize,
    examples: Vec<Example>,
    tokenizer: Option<Arc<DebertaTokenizer>>,
    published: DataHandoff<DebertaDataInfo>,
}

impl PredictDataModule {
    /// `texts` (cut to `max_len` tokens) with the tokenizer of `training`; `setup` publishes the
    /// tokenizer to `published`.
    pub fn new(
        texts: Vec<String>,
        training: FoldDataModule,
        max_len: usize,
        batch_size: usize,
        published: DataHandoff<DebertaDataInfo>,
    ) -> Self {
        Self {
            texts,
            training,
            max_len,
            batch_size,
            examples: Vec::new(),
            tokenizer: None,
            published,
        }
    }
}

impl LightningDataModule for PredictDataModule {
    type Batch = TextBatch;

    fn prepare_data(&mut self) -> Result<()> {
        self.training.prepare_data()
    }

    fn setup(&mut self, _stage: Stage) -> Result<()> {
        let tokenizer = Arc::new(load_tokenizer(&self.training.tokenizer_path())?);
        self.examples = self
            .texts
            .iter()
            .enumerate()
            .map(|(row, text)| {
                Ok(Example {
                    row,
                    ids: Arc::new(tokenizer.encode_truncated(text, self.max_len)?),
                    label: 0,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.published.publish(DebertaDataInfo {
            tokenizer: tokenizer.clone(),
        });
        self.tokenizer = Some(tokenizer);
        Ok(())
    }

    fn predict_dataloader(&mut self) -> Result<DataLoader<TextBatch>> {
        let tokenizer = self
            .tokenizer
            .clone()
            .context("the predict data is not set up (call setup first)")?;
        Ok(DataLoader::new(
            self.examples.clone(),
            self.batch_size,
            move |items: Vec<Example>| Ok(collate(&items, &tokenizer)),
        ))
    }
}
