//! Labelled texts from a CSV file (configurable columns, an optional row filter, an optional
//! stratified sample); every bad label is an error naming the file and line.

use std::path::Path;

use anyhow::{Result, bail};
use lightning_toolkit::data::read_csv_columns;

use crate::folds::shuffle;
use crate::settings::DataParams;

/// Texts with class labels (0/1 for binary).
#[derive(Debug, Clone, Default)]
pub struct LabelledTexts {
    /// The texts.
    pub texts: Vec<String>,
    /// Class of each text.
    pub labels: Vec<usize>,
}

impl LabelledTexts {
    /// Reads `path` as `params` say; `classes` is the number of classes (1 means binary 0/1).
    pub fn from_csv(path: &Path, params: &DataParams, classes: usize, seed: u64) -> Result<Self> {
        let mut columns = vec![params.text_column.as_str(), params.label_column.as_str()];
        if let Some(c) = &params.filter_column {
            columns.push(c);
        }
        let mut values = read_csv_columns(path, &columns)?;
        let filter = values.get(2).cloned();
        let raw_labels = values.remove(1);
        let all_texts = values.remove(0);
        let max_class = classes.max(2);
        let mut out = Self::default();
        for (i, (text, label)) in all_texts.into_iter().zip(raw_labels).enumerate() {
            if let (Some(f), Some(want)) = (&filter, &params.filter_value)
                && &f[i] != want
            {
                continue;
            }
            // Header is line 1; texts with embedded newlines make this the record number.
            let line = i + 2;
            let class = match label.trim().parse::<usize>() {
                Ok(c) if c < max_class => c,
                _ => bail!(
                    "{}:{line}: column `{}` is `{label}`, expected an integer class in 0..{}",
                    path.display(),
                    params.label_column,
                    max_class - 1
                ),
            };
            out.texts.push(text);
            out.labels.push(class);
        }
        if out.texts.is_empty() {
            match (&params.filter_column, &params.filter_value) {
                (Some(c), Some(v)) => {
                    bail!("{}: no rows have {c} = `{v}`", path.display())
                }
                _ => bail!("{}: no rows", path.display()),
            }
        }
        if let Some(n) = params.max_rows {
            out = out.sample(n, seed);
        }
        Ok(out)
    }

    /// At most `n` rows, the same share of each class as the whole, chosen with `seed`.
    pub fn sample(self, n: usize, seed: u64) -> Self {
        if n >= self.texts.len() {
            return self;
        }
        let folds_like = self.texts.len().div_ceil(n.max(1));
        let mut rows: Vec<usize> = crate::folds::stratified_folds(&self.labels, folds_like, seed)
            .iter()
            .enumerate()
            .filter(|(_, f)| **f == 0)
            .map(|(i, _)| i)
            .collect();
        shuffle(&mut rows, seed);
        rows.truncate(n);
        rows.sort_unstable();
        Self {
            texts: rows.iter().map(|&i| self.texts[i].clone()).collect(),
            labels: rows.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// How many rows each class has.
    pub fn class_counts(&self) -> Vec<usize> {
        let classes = self.labels.iter().copied().max().map_or(0, |m| m + 1);
        let mut counts = vec![0; classes];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> DataParams {
        DataParams::default()
    }

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("deberta-labelled-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn filter_and_labels() {
        let path = write(
            "ok.csv",
            "text,label,source\n\"good, fun\",1,rt\nbad,0,imdb\nmeh,0,rt\n",
        );
        let mut p = params();
        p.filter_column = Some("source".into());
        p.filter_value = Some("rt".into());
        let data = LabelledTexts::from_csv(&path, &p, 1, 0).unwrap();
        assert_eq!(data.texts, vec!["good, fun", "meh"]);
        assert_eq!(data.labels, vec![1, 0]);
        p.filter_value = Some("netflix".into());
        let e = LabelledTexts::from_csv(&path, &p, 1, 0).unwrap_err();
        assert!(
            e.to_string().contains("no rows have source = `netflix`"),
            "{e}"
        );
    }

    #[test]
    fn a_label_out_of_range_names_file_and_line() {
        let path = write("bad.csv", "text,label\na,0\nb,pos\n");
        let e = LabelledTexts::from_csv(&path, &params(), 1, 0).unwrap_err();
        assert!(
            e.to_string().contains("bad.csv:3: column `label` is `pos`"),
            "{e}"
        );
        let path = write("three.csv", "text,label\na,0\nb,2\n");
        assert!(LabelledTexts::from_csv(&path, &params(), 1, 0).is_err());
        assert_eq!(
            LabelledTexts::from_csv(&path, &params(), 3, 0)
                .unwrap()
                .labels,
            vec![0, 2]
        );
    }

    #[test]
    fn a_sample_keeps_the_class_mix() {
        let data = LabelledTexts {
            texts: (0..1000).map(|i| i.to_string()).collect(),
            labels: (0..1000).map(|i| usize::from(i % 4 == 0)).collect(),
        };
        let sample = data.sample(200, 3);
        assert_eq!(sample.len(), 200);
        assert_eq!(sample.class_counts(), vec![150, 50]);
    }
}
