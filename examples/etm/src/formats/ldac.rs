//! LDA-C corpora (`N id:count id:count …`, one document a line) with a vocabulary file (one
//! word a line; a word's id is its line number, from 0).

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::corpus::{Corpus, Document};

/// Reads a vocabulary file: one word per line.
pub fn read_vocabulary(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read vocabulary file {}", path.display()))?;
    let words: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    if let Some(line) = words.iter().position(|w| w.is_empty()) {
        bail!(
            "{}:{}: empty line; expected one word per line",
            path.display(),
            line + 1
        );
    }
    if words.is_empty() {
        bail!("{}: the vocabulary is empty", path.display());
    }
    Ok(words)
}

/// Reads an LDA-C corpus whose word ids index `vocabulary`. Empty documents are skipped
/// (their number is returned); a malformed line or an id beyond the vocabulary is an error.
pub fn read_ldac(path: &Path, vocabulary: Vec<String>) -> Result<(Corpus, usize)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read LDA-C corpus {}", path.display()))?;
    let mut documents = Vec::new();
    let mut empty = 0;
    for (i, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), i + 1);
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else {
            bail!("{}: empty line; expected `N id:count …` (LDA-C)", at());
        };
        let declared: usize = first.parse().with_context(|| {
            format!(
                "{}: `{first}` is not a count of distinct words (expected `N id:count …`)",
                at()
            )
        })?;
        // The declared count is only checked against the pairs listed: reserving it up front
        // would let one line (`1000000000000 0:1`) ask for terabytes and abort the process.
        let mut pairs = Vec::new();
        let mut listed = 0;
        for field in fields {
            listed += 1;
            let (id, count) = field
                .split_once(':')
                .with_context(|| format!("{}: `{field}` is not `id:count`", at()))?;
            let id: u32 = id
                .parse()
                .with_context(|| format!("{}: word id `{id}` is not a whole number", at()))?;
            let count: f32 = count
                .parse()
                .ok()
                .filter(|c: &f32| c.is_finite() && *c >= 0.0)
                .with_context(|| {
                    format!("{}: count `{count}` is not a non-negative number", at())
                })?;
            if id as usize >= vocabulary.len() {
                bail!(
                    "{}: word id {id} is beyond the vocabulary ({} words, ids 0..{})",
                    at(),
                    vocabulary.len(),
                    vocabulary.len() - 1
                );
            }
            if count > 0.0 {
                pairs.push((id, count));
            }
        }
        if listed != declared {
            bail!(
                "{}: the line declares {declared} distinct words but lists {listed}",
                at()
            );
        }
        if pairs.is_empty() {
            empty += 1;
            continue;
        }
        documents.push(Document::from_pairs(pairs));
    }
    if documents.is_empty() {
        bail!(
            "{}: the corpus has no (non-empty) documents",
            path.display()
        );
    }
    Ok((
        Corpus {
            vocabulary,
            documents,
        },
        empty,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("etm-ldac-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn vocab() -> Vec<String> {
        ["a", "b", "c"].map(String::from).to_vec()
    }

    #[test]
    fn reads_documents_and_skips_empty_ones() {
        let p = write("ok.ldac", "2 0:3 2:1\n0\n1 1:2\n");
        let (corpus, empty) = read_ldac(&p, vocab()).unwrap();
        assert_eq!(empty, 1);
        assert_eq!(corpus.documents.len(), 2);
        assert_eq!(corpus.documents[0].words, vec![0, 2]);
        assert_eq!(corpus.documents[0].counts, vec![3.0, 1.0]);
        assert_eq!(corpus.num_tokens(), 6.0);
    }

    #[test]
    fn errors_name_file_and_line() {
        let p = write("beyond.ldac", "1 0:1\n1 3:1\n");
        let e = format!("{:#}", read_ldac(&p, vocab()).unwrap_err());
        assert!(
            e.contains("beyond.ldac:2") && e.contains("word id 3 is beyond"),
            "{e}"
        );

        let p = write("bad.ldac", "1 0:1\n1 0-1\n");
        let e = format!("{:#}", read_ldac(&p, vocab()).unwrap_err());
        assert!(
            e.contains("bad.ldac:2") && e.contains("not `id:count`"),
            "{e}"
        );

        let p = write("count.ldac", "2 0:1\n");
        let e = format!("{:#}", read_ldac(&p, vocab()).unwrap_err());
        assert!(
            e.contains("count.ldac:1") && e.contains("declares 2"),
            "{e}"
        );

        let p = write("empty.ldac", "0\n");
        let e = format!("{:#}", read_ldac(&p, vocab()).unwrap_err());
        assert!(e.contains("no (non-empty) documents"), "{e}");
    }

    #[test]
    fn a_huge_declared_count_is_an_error_not_an_allocation() {
        let p = write("huge.ldac", "1 0:1\n1000000000000 0:1\n");
        let e = format!("{:#}", read_ldac(&p, vocab()).unwrap_err());
        assert!(
            e.contains("huge.ldac:2")
                && e.contains("declares 1000000000000 distinct words but lists 1"),
            "{e}"
        );
    }
}
