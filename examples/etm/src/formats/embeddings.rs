//! Fixed word embeddings from a word2vec text file (`word v1 v2 …` per line, an optional
//! `count dim` first line), as the original ETM code loads with `train_embeddings 0`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::synthetic::standard_normal;

/// The rows of a `vocabulary.len() × dim` matrix, and how many words the file lacked (those rows
/// are drawn from N(0, 0.6²), as the original code does).
pub fn load_word2vec(
    path: &Path,
    vocabulary: &[String],
    dim: usize,
    seed: u64,
) -> Result<(Vec<f32>, usize)> {
    if dim == 0 {
        bail!("model.params.emb_size is 0; embeddings need at least one dimension");
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read embeddings file {}", path.display()))?;
    let index: HashMap<&str, usize> = vocabulary
        .iter()
        .enumerate()
        .map(|(i, w)| (w.as_str(), i))
        .collect();
    let mut matrix = vec![f32::NAN; vocabulary.len() * dim];
    for (i, line) in text.lines().enumerate() {
        let mut fields = line.split_whitespace();
        let Some(word) = fields.next() else { continue };
        let values: Vec<&str> = fields.collect();
        if i == 0 && values.len() == 1 && word.parse::<usize>().is_ok() {
            let declared: usize = values[0].parse().unwrap_or(0);
            if declared != dim {
                bail!(
                    "{}:1: the file holds {declared}-dimensional vectors but model.params.emb_size is {dim}",
                    path.display()
                );
            }
            continue;
        }
        if values.len() != dim {
            bail!(
                "{}:{}: `{word}` has {} values, expected {dim} (model.params.emb_size)",
                path.display(),
                i + 1,
                values.len()
            );
        }
        let Some(&row) = index.get(word) else {
            continue;
        };
        for (j, v) in values.iter().enumerate() {
            // NaN marks a missing row below, and a non-finite value would poison training.
            matrix[row * dim + j] = v
                .parse::<f32>()
                .ok()
                .filter(|x| x.is_finite())
                .with_context(|| {
                    format!("{}:{}: `{v}` is not a finite number", path.display(), i + 1)
                })?;
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut missing = 0;
    for row in matrix.chunks_mut(dim) {
        if row[0].is_nan() {
            missing += 1;
            for v in row.iter_mut() {
                *v = (0.6 * standard_normal(&mut rng)) as f32;
            }
        }
    }
    Ok((matrix, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_known_words_and_draws_missing_ones() {
        let dir = std::env::temp_dir().join(format!("etm-w2v-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("vectors.txt");
        std::fs::write(&p, "3 2\nbank 1.0 2.0\nriver 0.5 -0.5\nunused 9 9\n").unwrap();
        let vocab = ["river", "money", "bank"].map(String::from);
        let (m, missing) = load_word2vec(&p, &vocab, 2, 1).unwrap();
        assert_eq!(missing, 1);
        assert_eq!(&m[0..2], &[0.5, -0.5]);
        assert_eq!(&m[4..6], &[1.0, 2.0]);
        assert!(m[2].is_finite() && m[2] != 0.0);

        let e = load_word2vec(&p, &vocab, 3, 1).unwrap_err();
        assert!(e.to_string().contains("vectors.txt:1"), "{e}");
    }

    #[test]
    fn non_finite_values_are_refused() {
        let dir = std::env::temp_dir().join(format!("etm-w2v-nan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("vectors.txt");
        let vocab = ["river", "bank"].map(String::from);
        // A NaN after the first value was kept (only the first marks a row missing), and an
        // infinity was kept as is: either poisons every gradient that touches the word.
        for bad in ["bank 1.0 NaN\n", "river inf 1\n", "bank 1e39 0\n"] {
            std::fs::write(&p, bad).unwrap();
            let e = format!("{:#}", load_word2vec(&p, &vocab, 2, 1).unwrap_err());
            assert!(
                e.contains("vectors.txt:1") && e.contains("finite"),
                "{bad}: {e}"
            );
        }
    }
}
