//! The tensor shapes of a Hugging Face checkpoint directory, read from its weight file's header
//! without the data, so that the sizes in its `config.json` can be checked against the bytes
//! actually there before a model of those sizes is allocated. A `config.json` saying
//! `"vocab_size": 1000000000000` next to a small `model.safetensors` is then an error naming
//! the key, its value, the tensor and its shape in the file, instead of an allocation abort.
//! Which config key decides which tensor dimension is the model's to say.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::store::pytorch_reader::PytorchReader;

/// Parameters a model may have per byte of its weight file. Every stored parameter takes at
/// least one byte (8-bit quantised; f16/bf16 take 2, f32 4), and the tensors a checkpoint may
/// lack and the model initialises fresh (task heads, a pooler) are small beside the encoder the
/// file does hold: so even a bare 8-bit encoder file of a model with fresh heads stays within
/// 4 parameters per byte, while a config whose sizes outgrow its file is caught before the
/// model is allocated (whose f32 weights then take at most 16 bytes per byte of the file).
pub const PARAMETERS_PER_FILE_BYTE: u128 = 4;

/// Tensor shapes of a checkpoint directory's weight file, by HF name.
#[derive(Debug, Clone, PartialEq)]
pub struct HfShapes {
    /// The directory's `config.json`, named in errors.
    pub config: PathBuf,
    /// The weight file read (`model.safetensors` or `pytorch_model.bin`).
    pub file: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    shapes: BTreeMap<String, Vec<usize>>,
    prefixes: Vec<String>,
}

impl HfShapes {
    /// Reads the shapes of `dir/model.safetensors` (its header only), else of
    /// `dir/pytorch_model.bin` (its pickle; the tensor data is not read). Tensor names are
    /// looked up as given or under one of `prefixes` (task models' `bert.`, `deberta.`).
    pub fn read(dir: &Path, prefixes: &[&str]) -> Result<Self> {
        let safetensors = dir.join("model.safetensors");
        let pickle = dir.join("pytorch_model.bin");
        let size = |file: &Path| {
            std::fs::metadata(file)
                .with_context(|| format!("reading {}", file.display()))
                .map(|m| m.len())
        };
        let (file, bytes, shapes) = if safetensors.exists() {
            let bytes = size(&safetensors)?;
            let shapes = safetensors_shapes(&safetensors, bytes)?;
            (safetensors, bytes, shapes)
        } else if pickle.exists() {
            let bytes = size(&pickle)?;
            let shapes = pickle_shapes(&pickle, bytes)?;
            (pickle, bytes, shapes)
        } else {
            bail!(
                "{}: no model.safetensors or pytorch_model.bin (a Hugging Face checkpoint \
                 directory has config.json and one of them)",
                dir.display()
            );
        };
        Ok(Self {
            config: dir.join("config.json"),
            file,
            bytes,
            shapes,
            prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
        })
    }

    /// The shape of tensor `name` (as given, else under a prefix) and the name found.
    pub fn shape(&self, name: &str) -> Option<(String, &[usize])> {
        std::iter::once(String::new())
            .chain(self.prefixes.iter().cloned())
            .map(|prefix| prefix + name)
            .find_map(|full| {
                let shape = self.shapes.get(&full)?.as_slice();
                Some((full, shape))
            })
    }

    /// Checks that dimension `dim` of tensor `name` is `expected`, which config key `key`
    /// (of value `value`) decides; a mismatch or an absent tensor is an error naming the key,
    /// its value, the tensor and its shape in the file.
    pub fn expect_dim(
        &self,
        key: &str,
        value: impl std::fmt::Display,
        name: &str,
        dim: usize,
        expected: u128,
    ) -> Result<()> {
        let Some((found, shape)) = self.shape(name) else {
            bail!(
                "{}: `{key}` is {value}, which needs the tensor `{name}`, but {} has no such \
                 tensor",
                self.config.display(),
                self.file.display()
            );
        };
        if shape.get(dim).map(|&d| d as u128) != Some(expected) {
            bail!(
                "{}: `{key}` is {value}, but the tensor `{found}` in {} has shape {shape:?} \
                 (dimension {dim} should be {expected})",
                self.config.display(),
                self.file.display()
            );
        }
        Ok(())
    }

    /// How many consecutive layers `{prefix}0.`, `{prefix}1.`, … the file holds.
    pub fn layers(&self, prefix: &str) -> usize {
        let mut present = BTreeSet::new();
        for name in self.shapes.keys() {
            let bare = self
                .prefixes
                .iter()
                .find_map(|p| name.strip_prefix(p.as_str()))
                .filter(|rest| rest.starts_with(prefix))
                .unwrap_or(name);
            if let Some(index) = bare
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('.').next())
                .and_then(|i| i.parse::<usize>().ok())
            {
                present.insert(index);
            }
        }
        present
            .into_iter()
            .enumerate()
            .take_while(|(n, i)| n == i)
            .count()
    }

    /// Checks that the file holds the `value` layers under `prefix` config key `key` asks for
    /// (more in the file are left unused, as transformers does).
    pub fn expect_layers(&self, key: &str, value: usize, prefix: &str) -> Result<()> {
        let held = self.layers(prefix);
        if value > held {
            bail!(
                "{}: `{key}` is {value}, but {} holds {held} layers: it has no tensors \
                 `{prefix}{held}.*`",
                self.config.display(),
                self.file.display()
            );
        }
        Ok(())
    }

    /// Checks that a model of `parameters` parameters (as its config implies) is no larger than
    /// the weight file can account for (see `PARAMETERS_PER_FILE_BYTE`): the backstop for
    /// sizes whose tensors the file may lack.
    pub fn bound_parameters(&self, parameters: u128) -> Result<()> {
        let limit = PARAMETERS_PER_FILE_BYTE * self.bytes as u128;
        if parameters > limit {
            bail!(
                "{}: its sizes make a model of {parameters} parameters, more than {} of \
                 {} bytes can hold ({PARAMETERS_PER_FILE_BYTE} per byte at most)",
                self.config.display(),
                self.file.display(),
                self.bytes
            );
        }
        Ok(())
    }
}

/// The shapes in a safetensors file's header, read without the data; the header must describe
/// exactly the bytes that follow it.
fn safetensors_shapes(path: &Path, len: u64) -> Result<BTreeMap<String, Vec<usize>>> {
    // safetensors' own limit on the header.
    const MAX_HEADER: u64 = 100_000_000;
    let bad = |why: String| anyhow::anyhow!("{}: not a safetensors file: {why}", path.display());
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut n = [0u8; 8];
    file.read_exact(&mut n)
        .map_err(|e| bad(format!("no header length: {e}")))?;
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER || n > len - 8 {
        return Err(bad(format!(
            "header length {n} exceeds the file ({len} bytes) or the 100 MB limit"
        )));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header)
        .map_err(|e| bad(format!("reading the header: {e}")))?;
    let metadata: safetensors::tensor::Metadata =
        serde_json::from_slice(&header).map_err(|e| bad(format!("header: {e}")))?;
    let data = len - 8 - n;
    if metadata.data_len() as u64 != data {
        return Err(bad(format!(
            "the header describes {} data bytes, the file holds {data}",
            metadata.data_len()
        )));
    }
    let mut shapes = BTreeMap::new();
    for (name, info) in metadata.tensors() {
        // The shape must describe the bytes the tensor spans, so sizes checked against it are
        // bounded by the file.
        let (start, end) = info.data_offsets;
        let bits = info
            .shape
            .iter()
            .try_fold(info.dtype.bitsize() as u128, |n, &d| {
                n.checked_mul(d as u128)
            });
        if end < start || bits.map(|b| b.div_ceil(8)) != Some((end - start) as u128) {
            return Err(bad(format!(
                "tensor `{name}` of shape {:?} ({:?}) does not fit its {} bytes",
                info.shape,
                info.dtype,
                end.saturating_sub(start)
            )));
        }
        shapes.insert(name, info.shape.clone());
    }
    Ok(shapes)
}

/// The shapes in a `pytorch_model.bin` (its pickle; the tensor data is not read), each bounded
/// by the file's size (tied weights share storage, so only each tensor alone is).
fn pickle_shapes(path: &Path, bytes: u64) -> Result<BTreeMap<String, Vec<usize>>> {
    let reader =
        PytorchReader::new(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut shapes = BTreeMap::new();
    for (name, t) in reader.tensors() {
        let size = t
            .shape()
            .iter()
            .try_fold(t.dtype().size() as u128, |n, &d| n.checked_mul(d as u128));
        if size.is_none_or(|size| size > bytes as u128) {
            bail!(
                "{}: tensor `{name}` of shape {:?} is larger than the file ({bytes} bytes)",
                path.display(),
                t.shape()
            );
        }
        shapes.insert(name.clone(), t.shape().to_vec());
    }
    Ok(shapes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hf::save_hf_safetensors;
    use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
    use burn::prelude::*;

    #[derive(Module, Debug)]
    struct Layer {
        dense: Linear,
    }

    #[derive(Module, Debug)]
    struct Tiny {
        embeddings: Embedding,
        layer: Vec<Layer>,
    }

    #[test]
    fn sizes_are_checked_against_the_header() {
        let device = Device::flex();
        let dir = std::env::temp_dir().join(format!("hf-shapes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tiny = Tiny {
            embeddings: EmbeddingConfig::new(10, 4).init(&device),
            layer: (0..2)
                .map(|_| Layer {
                    dense: LinearConfig::new(4, 6).init(&device),
                })
                .collect(),
        };
        save_hf_safetensors(&tiny, &dir.join("model.safetensors"), &[(r"^", "model.")]).unwrap();
        let shapes = HfShapes::read(&dir, &["model."]).unwrap();
        assert_eq!(shapes.shape("embeddings.weight").unwrap().1, [10, 4]);
        // PyTorch layout: out × in.
        assert_eq!(shapes.shape("layer.1.dense.weight").unwrap().1, [6, 4]);
        assert_eq!(shapes.layers("layer."), 2);
        shapes
            .expect_dim("vocab_size", 10, "embeddings.weight", 0, 10)
            .unwrap();
        let err = shapes
            .expect_dim("vocab_size", 1u64 << 40, "embeddings.weight", 0, 1 << 40)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("config.json: `vocab_size` is 1099511627776")
                && err.contains("`model.embeddings.weight`")
                && err.contains("[10, 4]"),
            "{err}"
        );
        let err = shapes
            .expect_dim("type_vocab_size", 2, "types.weight", 0, 2)
            .unwrap_err();
        assert!(err.to_string().contains("no such tensor"), "{err}");
        shapes
            .expect_layers("num_hidden_layers", 2, "layer.")
            .unwrap();
        let err = shapes
            .expect_layers("num_hidden_layers", 100_000, "layer.")
            .unwrap_err();
        assert!(err.to_string().contains("holds 2 layers"), "{err}");
        shapes.bound_parameters(100).unwrap();
        assert!(shapes.bound_parameters(1 << 60).is_err());

        // A header claiming more data than the file holds is refused.
        let file = dir.join("model.safetensors");
        let mut bytes = std::fs::read(&file).unwrap();
        bytes.truncate(bytes.len() - 4);
        std::fs::write(&file, bytes).unwrap();
        assert!(HfShapes::read(&dir, &[]).is_err());
        std::fs::remove_dir_all(dir).ok();
    }
}
