//! Seeded fuzzing of the ETM's readers of outside input (LDA-C corpora and vocabularies,
//! word2vec embeddings, stopword files): each mutated file loads or is refused with an error,
//! never a panic, an abort or a hang. Case counts are fixed so CI stays fast.

use std::path::{Path, PathBuf};

use etm::corpus::{Split, SplitFractions};
use etm::formats::embeddings::load_word2vec;
use etm::formats::ldac::{read_ldac, read_vocabulary};
use etm::formats::text::{Preprocessing, build_corpus};
use test_support::fuzz::fuzz;

fn dir(name: &str) -> PathBuf {
    test_support::temp_dir("etm-fuzz", name)
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("writing a fuzz case");
}

const VOCABULARY: &str = "bank\nriver\nmoney\nwater\nloan\nfish\n";
const CORPUS: &[&str] = &[
    "2 0:3 2:1\n1 1:2\n3 0:1 1:1 3:4\n4 2:2 4:1 5:7 0:1\n",
    "1 5:12\n2 1:1 4:2\n0\n2 0:1000 3:2\n",
];

/// An LDA-C file against a fixed vocabulary, through to the seeded split (which halves the
/// held-out documents: the counts decide how much that builds).
#[test]
fn ldac_corpus() {
    let dir = dir("ldac");
    let (vocab, corpus) = (dir.join("vocab.txt"), dir.join("corpus.ldac"));
    write(&vocab, VOCABULARY.as_bytes());
    let seeds: Vec<Vec<u8>> = CORPUS.iter().map(|s| s.as_bytes().to_vec()).collect();
    let words = read_vocabulary(&vocab).unwrap();
    let report = fuzz("ldac corpus", 7, 2000, &seeds, |bytes| {
        write(&corpus, bytes);
        let (corpus, _) = read_ldac(&corpus, words.clone()).map_err(|e| format!("{e:#}"))?;
        let fractions = SplitFractions {
            val: 0.3,
            test: 0.3,
        };
        Split::new(corpus, fractions, 1).map_err(|e| format!("{e:#}"))?;
        Ok(())
    });
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
    std::fs::remove_dir_all(dir).ok();
}

/// A vocabulary file, then a fixed corpus read against it.
#[test]
fn ldac_vocabulary() {
    let dir = dir("vocab");
    let (vocab, corpus) = (dir.join("vocab.txt"), dir.join("corpus.ldac"));
    write(&corpus, CORPUS[0].as_bytes());
    let seeds = vec![VOCABULARY.as_bytes().to_vec(), b"a\nb\nc\n".to_vec()];
    let report = fuzz("ldac vocabulary", 8, 1000, &seeds, |bytes| {
        write(&vocab, bytes);
        let words = read_vocabulary(&vocab).map_err(|e| format!("{e:#}"))?;
        read_ldac(&corpus, words).map_err(|e| format!("{e:#}"))?;
        Ok(())
    });
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
    std::fs::remove_dir_all(dir).ok();
}

/// A word2vec text file (with and without its `count dim` header) for a fixed vocabulary.
#[test]
fn word2vec_embeddings() {
    let dir = dir("w2v");
    let path = dir.join("vectors.txt");
    let vocabulary: Vec<String> = ["river", "money", "bank"].map(String::from).to_vec();
    let seeds = vec![
        b"3 2\nbank 1.0 2.0\nriver 0.5 -0.5\nunused 9 9\n".to_vec(),
        b"money -1e-3 4.25\nbank 0 1\n".to_vec(),
    ];
    let report = fuzz("word2vec embeddings", 9, 1500, &seeds, |bytes| {
        write(&path, bytes);
        let (matrix, _) = load_word2vec(&path, &vocabulary, 2, 1).map_err(|e| format!("{e:#}"))?;
        // What is accepted must be usable: the right size, every value finite.
        assert_eq!(matrix.len(), 6);
        assert!(matrix.iter().all(|v| v.is_finite()), "{matrix:?}");
        Ok(())
    });
    assert!(report.accepted > 0 && report.rejected > 0, "{report:?}");
    std::fs::remove_dir_all(dir).ok();
}

/// A stopwords file (one word a line, as `data.params.stopwords_file` is read), applied to a
/// small text corpus.
#[test]
fn stopwords_file() {
    let dir = dir("stopwords");
    let path = dir.join("stopwords.txt");
    let texts: Vec<String> = [
        "the river bank flooded the fields",
        "the bank raised the loan rate",
        "fish swim in the river water",
        "money and loans at the bank",
    ]
    .map(String::from)
    .to_vec();
    let seeds = vec![
        b"the\nand\nat\nin\n".to_vec(),
        b"\xef\xbb\xbfthe\r\nA\n".to_vec(),
    ];
    let report = fuzz("stopwords file", 10, 1000, &seeds, |bytes| {
        write(&path, bytes);
        let stopwords =
            etm::formats::stopwords::read_stopwords_file(&path).map_err(|e| format!("{e:#}"))?;
        let settings = Preprocessing {
            min_df: 1,
            max_df: 1.0,
            stopwords,
        };
        build_corpus(&texts, &settings).map_err(|e| format!("{e:#}"))?;
        Ok(())
    });
    assert!(report.accepted > 0, "{report:?}");
    std::fs::remove_dir_all(dir).ok();
}
