//! Raw text to a bag-of-words corpus with the ETM paper's preprocessing: lowercase, keep
//! alphabetic tokens of two letters or more (tokens with digits go), drop stopwords, keep words in
//! at least `min_df` documents and at most a `max_df` share of them, drop documents left with
//! fewer than two words.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::corpus::{Corpus, Document};
use crate::formats::stopwords::ENGLISH;

/// Vocabulary-building settings.
#[derive(Debug, Clone)]
pub struct Preprocessing {
    /// Keep words that occur in at least this many documents.
    pub min_df: usize,
    /// Keep words that occur in at most this share of documents.
    pub max_df: f64,
    /// Words never kept (lowercase).
    pub stopwords: Vec<String>,
}

impl Default for Preprocessing {
    fn default() -> Self {
        Self {
            min_df: 10,
            max_df: 0.7,
            stopwords: ENGLISH.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Splits `text` into lowercase tokens: runs of letters and inner apostrophes; tokens holding a
/// digit, and one-letter tokens, are dropped.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut has_digit = false;
    let mut flush = |current: &mut String, has_digit: &mut bool| {
        let word = current.trim_matches('\'');
        if !*has_digit && word.chars().count() >= 2 {
            tokens.push(word.to_string());
        }
        current.clear();
        *has_digit = false;
    };
    for c in text.chars() {
        if c.is_alphanumeric() || c == '\'' || c == '’' {
            has_digit |= c.is_numeric();
            if c == '’' {
                current.push('\'');
            } else {
                current.extend(c.to_lowercase());
            }
        } else if !current.is_empty() {
            flush(&mut current, &mut has_digit);
        }
    }
    if !current.is_empty() {
        flush(&mut current, &mut has_digit);
    }
    tokens
}

/// Builds the vocabulary and the documents from raw texts. `names[i]` says where text `i` came
/// from, for error messages.
pub fn build_corpus(texts: &[String], settings: &Preprocessing) -> Result<Corpus> {
    if texts.is_empty() {
        bail!("no documents to build a corpus from");
    }
    if !(0.0..=1.0).contains(&settings.max_df) || settings.max_df == 0.0 {
        bail!("max_df must be in (0, 1], got {}", settings.max_df);
    }
    let stop: std::collections::HashSet<&str> =
        settings.stopwords.iter().map(String::as_str).collect();
    let tokenized: Vec<Vec<String>> = texts
        .iter()
        .map(|t| {
            tokenize(t)
                .into_iter()
                .filter(|w| !stop.contains(w.as_str()))
                .collect()
        })
        .collect();
    let mut df: HashMap<&str, usize> = HashMap::new();
    for doc in &tokenized {
        let mut seen: Vec<&str> = doc.iter().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        for w in seen {
            *df.entry(w).or_default() += 1;
        }
    }
    let n = tokenized.len() as f64;
    let mut vocabulary: Vec<String> = df
        .iter()
        .filter(|&(_, &d)| d >= settings.min_df && d as f64 / n <= settings.max_df)
        .map(|(w, _)| w.to_string())
        .collect();
    vocabulary.sort_unstable();
    if vocabulary.is_empty() {
        bail!(
            "no word survives preprocessing (min_df {}, max_df {}) over {} documents; lower min_df",
            settings.min_df,
            settings.max_df,
            tokenized.len()
        );
    }
    let ids: HashMap<&str, u32> = vocabulary
        .iter()
        .enumerate()
        .map(|(i, w)| (w.as_str(), i as u32))
        .collect();
    let documents: Vec<Document> = tokenized
        .iter()
        .map(|doc| {
            let tokens: Vec<u32> = doc
                .iter()
                .filter_map(|w| ids.get(w.as_str()).copied())
                .collect();
            Document::from_tokens(&tokens)
        })
        .filter(|d| d.len_tokens() >= 2.0)
        .collect();
    if documents.is_empty() {
        bail!("every document has fewer than 2 words after preprocessing");
    }
    Ok(Corpus {
        vocabulary,
        documents,
    })
}

/// Where raw documents come from.
#[derive(Debug, Clone)]
pub enum TextSource {
    /// One document per line of a text file.
    Lines(PathBuf),
    /// One column of a CSV file with a header row.
    CsvColumn(PathBuf, String),
    /// Every file under a directory (sorted; hidden files and symlink loops passed by), one
    /// document each.
    Directory(PathBuf),
}

impl TextSource {
    /// Picks the reader from the path: a directory, a `.csv` file (needs `column`), else lines.
    pub fn from_path(path: &Path, column: Option<&str>) -> Result<Self> {
        if path.is_dir() {
            return Ok(Self::Directory(path.to_path_buf()));
        }
        if !path.is_file() {
            bail!("{} does not exist", path.display());
        }
        let is_csv = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        Ok(match (is_csv, column) {
            (true, Some(c)) => Self::CsvColumn(path.to_path_buf(), c.to_string()),
            (true, None) => bail!(
                "{} is a CSV file: set dataset.params.text_column to the column holding the text",
                path.display()
            ),
            (false, _) => Self::Lines(path.to_path_buf()),
        })
    }

    /// Reads every document's text.
    pub fn read(&self) -> Result<Vec<String>> {
        match self {
            Self::Lines(p) => Ok(std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(String::from)
                .collect()),
            Self::CsvColumn(p, column) => read_csv_column(p, column),
            Self::Directory(dir) => lightning_toolkit::data::walk_files(dir)?
                .iter()
                .map(|f| {
                    let bytes =
                        std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
                    Ok(String::from_utf8_lossy(&bytes).into_owned())
                })
                .collect(),
        }
    }
}

/// The values of `column` in a CSV file with a header row.
pub fn read_csv_column(path: &Path, column: &str) -> Result<Vec<String>> {
    let mut columns = lightning_toolkit::data::read_csv_columns(path, &[column])?;
    Ok(columns.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenize_lowercases_and_drops_digits_and_single_letters() {
        assert_eq!(
            tokenize("The U.S. economy grew 3% in Q3, isn't it? Bob's café!"),
            vec![
                "the", "economy", "grew", "in", "isn't", "it", "bob's", "café"
            ]
        );
    }

    #[test]
    fn min_df_max_df_and_short_documents() {
        let texts: Vec<String> = [
            "apple banana cherry the",
            "apple banana the",
            "apple cherry the",
            "apple durian the",
            "banana durian the zebra",
        ]
        .map(String::from)
        .to_vec();
        let settings = Preprocessing {
            min_df: 2,
            max_df: 0.7,
            ..Default::default()
        };
        let corpus = build_corpus(&texts, &settings).unwrap();
        // "apple" is in 4/5 = 0.8 > 0.7 of documents; "zebra" in 1 < 2; "the" is a stopword.
        assert_eq!(corpus.vocabulary, vec!["banana", "cherry", "durian"]);
        // Documents 2, 3 and 4 keep a single word each and are dropped.
        assert_eq!(corpus.documents.len(), 2);
        assert_eq!(corpus.documents[0].words, vec![0, 1]);
        assert_eq!(corpus.documents[1].words, vec![0, 2]);
    }

    #[test]
    fn nothing_left_is_a_clear_error() {
        let texts = vec!["one two".to_string()];
        let e = build_corpus(&texts, &Preprocessing::default()).unwrap_err();
        assert!(e.to_string().contains("lower min_df"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_with_symlink_loops_is_read_once() {
        let root = test_support::temp_dir("etm-text", "loops");
        let docs = root.join("docs");
        std::fs::create_dir_all(docs.join("sub")).unwrap();
        std::fs::write(docs.join("b.txt"), "second").unwrap();
        std::fs::write(docs.join("sub/a.txt"), "first").unwrap();
        std::os::unix::fs::symlink("..", docs.join("up")).unwrap();
        std::os::unix::fs::symlink("..", docs.join("sub/back")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let source = TextSource::Directory(docs);
        std::thread::spawn(move || {
            let _ = tx.send(source.read().map_err(|e| format!("{e:#}")));
        });
        let texts = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("reading the directory did not finish: it follows a symlink loop");
        assert_eq!(texts.unwrap(), ["second", "first"]);
        std::fs::remove_dir_all(root).ok();
    }
}
