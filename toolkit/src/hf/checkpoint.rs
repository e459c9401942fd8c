//! Weights of Hugging Face checkpoint directories: `model.safetensors` (or `pytorch_model.bin`)
//! read into a burn module under transformers' tensor names, and written back in the layout
//! `from_pretrained` loads. burn-store's PyTorch adapters transpose Linear weights and map
//! LayerNorm `weight`/`bias` to burn's `gamma`/`beta`; the model gives the name patterns that
//! differ otherwise (Rust spellings such as `LayerNorm` → `layer_norm`, task-model prefixes).
//!
//! ```
//! use burn::nn::{Linear, LinearConfig};
//! use burn::prelude::*;
//! use lightning_toolkit::hf::{load_hf_weights, read_safetensors, save_hf_safetensors};
//!
//! #[derive(Module, Debug)]
//! struct Pooler { dense: Linear }
//!
//! let device = Device::flex();
//! let dir = std::env::temp_dir().join(format!("hf-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let pooler = Pooler { dense: LinearConfig::new(4, 4).init(&device) };
//! // HF calls it `pooler.dense`; this module is the pooler itself.
//! save_hf_safetensors(&pooler, &dir.join("model.safetensors"), &[(r"^", "pooler.")])?;
//! assert!(read_safetensors(&dir.join("model.safetensors"))?.contains_key("pooler.dense.weight"));
//!
//! let mut fresh = Pooler { dense: LinearConfig::new(4, 4).init(&device) };
//! let report = load_hf_weights(&mut fresh, &dir, &[(r"^pooler\.", "")])?;
//! assert_eq!((report.loaded, report.missing.len()), (2, 0));
//! # std::fs::remove_dir_all(dir).ok();
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::store::{
    ApplyResult, BurnToPyTorchAdapter, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter,
    PytorchStore, SafetensorsStore,
};
use burn::tensor::{DType, TensorData};

use super::names::{hf_display, remapper};

/// What reading a checkpoint's weights into a module found.
#[derive(Debug, Clone, PartialEq)]
pub struct HfWeights {
    /// The weight file read.
    pub file: PathBuf,
    /// Tensors loaded into the module.
    pub loaded: usize,
    /// The module's tensors (burn paths) the file lacks; they keep their initial values.
    pub missing: Vec<String>,
    /// The file's tensors (after renaming) the module has no place for.
    pub unused: Vec<String>,
}

impl HfWeights {
    /// An error naming the file and every missing tensor `required` accepts (paths as burn
    /// spells them, shown in HF's spelling by [`hf_display`]); `what` says what the file should
    /// have been.
    pub fn require(&self, required: impl Fn(&str) -> bool, what: &str) -> Result<()> {
        let missing: Vec<String> = self
            .missing
            .iter()
            .filter(|p| required(p))
            .map(|p| hf_display(p))
            .collect();
        if !missing.is_empty() {
            bail!(
                "{}: the tensors {} are not in the file (is it {what} matching config.json?)",
                self.file.display(),
                missing.join(", ")
            );
        }
        Ok(())
    }

    /// [`require`](Self::require)s the tensors `required` accepts, then reports what was
    /// loaded: the missing ones that may start fresh listed in HF's spelling, sorted.
    pub fn into_report(self, required: impl Fn(&str) -> bool, what: &str) -> Result<LoadReport> {
        self.require(&required, what)?;
        let mut initialised: Vec<String> = self.missing.iter().map(|p| hf_display(p)).collect();
        initialised.sort();
        Ok(LoadReport {
            file: self.file,
            loaded: self.loaded,
            initialised,
            unused: self.unused,
        })
    }
}

/// What loading a pretrained checkpoint found, as a model reports it to the user.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// Weight file read.
    pub file: PathBuf,
    /// Tensors loaded.
    pub loaded: usize,
    /// Tensors the file lacks that the model may start fresh (HF-style names, such as the
    /// heads of a bare encoder checkpoint), left at their initialisation.
    pub initialised: Vec<String>,
    /// Tensors in the file the model has no place for (task heads of another architecture).
    pub unused: Vec<String>,
}

/// Reads `dir/model.safetensors`, else `dir/pytorch_model.bin`, into `module`, renaming HF
/// names by the regex `hf_to_burn` pairs. A tensor whose shape disagrees is an error naming the
/// file; missing and unused tensors are reported for the caller to judge.
pub fn load_hf_weights<M: Module>(
    module: &mut M,
    dir: &Path,
    hf_to_burn: &[(&str, &str)],
) -> Result<HfWeights> {
    let safetensors = dir.join("model.safetensors");
    let pickle = dir.join("pytorch_model.bin");
    let renames = remapper(hf_to_burn)?;
    let (file, result) = if safetensors.exists() {
        let store = SafetensorsStore::from_file(&safetensors)
            .with_from_adapter(PyTorchToBurnAdapter)
            .remap(renames)
            .allow_partial(true);
        (safetensors.clone(), apply(module, store, &safetensors)?)
    } else if pickle.exists() {
        // PytorchStore always applies the PyTorch → burn adapter.
        let store = PytorchStore::from_file(&pickle)
            .remap(renames)
            .allow_partial(true);
        (pickle.clone(), apply(module, store, &pickle)?)
    } else {
        bail!(
            "{}: no model.safetensors or pytorch_model.bin (a Hugging Face checkpoint directory \
             has config.json and one of them)",
            dir.display()
        );
    };
    if !result.errors.is_empty() {
        let errors: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
        bail!("{}: {}", file.display(), errors.join("; "));
    }
    Ok(HfWeights {
        file,
        loaded: result.applied.len(),
        missing: result.missing.into_iter().map(|(path, _)| path).collect(),
        unused: result.unused,
    })
}

/// Writes `module`'s tensors to `file` as PyTorch-layout safetensors under HF names (burn paths
/// renamed by the regex `burn_to_hf` pairs), atomically: a crash leaves the old file or the new.
pub fn save_hf_safetensors<M: Module>(
    module: &M,
    file: &Path,
    burn_to_hf: &[(&str, &str)],
) -> Result<()> {
    let mut store = SafetensorsStore::from_bytes(None)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .metadata("format", "pt")
        .remap(remapper(burn_to_hf)?);
    module
        .save_into(&mut store)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("serialising the weights for {}", file.display()))?;
    let bytes = store
        .get_bytes()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("serialising the weights for {}", file.display()))?;
    crate::fs::atomic_write(file, &bytes)
}

/// Every tensor of a safetensors file by name, as burn `TensorData` (fixtures of expected
/// outputs, weights to inspect). Types burn has no counterpart for are an error naming them.
pub fn read_safetensors(path: &Path) -> Result<BTreeMap<String, TensorData>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let file = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not a safetensors file: {e}", path.display()))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in file.tensors() {
        use safetensors::Dtype as S;
        let dtype = match view.dtype() {
            S::F64 => DType::F64,
            S::F32 => DType::F32,
            S::F16 => DType::F16,
            S::BF16 => DType::BF16,
            S::I64 => DType::I64,
            S::I32 => DType::I32,
            S::I16 => DType::I16,
            S::I8 => DType::I8,
            S::U8 => DType::U8,
            S::BOOL => DType::Bool(burn::tensor::BoolStore::Native),
            other => bail!(
                "{}: tensor `{name}` has type {other:?}, which burn lacks",
                path.display()
            ),
        };
        let data = TensorData::from_bytes_vec(view.data().to_vec(), view.shape().to_vec(), dtype);
        tensors.insert(name, data);
    }
    Ok(tensors)
}

fn apply<M: Module, S: ModuleStore>(
    module: &mut M,
    mut store: S,
    file: &Path,
) -> Result<ApplyResult> {
    module
        .load_from(&mut store)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("reading {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
    use burn::prelude::*;

    #[derive(Module, Debug)]
    struct Block {
        dense: Linear,
        layer_norm: LayerNorm,
    }

    fn block(device: &Device) -> Block {
        Block {
            dense: LinearConfig::new(3, 2).init(device),
            layer_norm: LayerNormConfig::new(2).init(device),
        }
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec().unwrap()
    }

    #[test]
    fn export_then_load_round_trips_under_hf_names() {
        let device = Device::flex();
        let dir = std::env::temp_dir().join(format!("hf-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let original = block(&device);
        let file = dir.join("model.safetensors");
        save_hf_safetensors(&original, &file, &[("layer_norm", "LayerNorm")]).unwrap();

        // The file holds PyTorch's layout: Linear weight out × in, LayerNorm weight/bias.
        let bytes = std::fs::read(&file).unwrap();
        let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names = tensors.names();
        names.sort();
        assert_eq!(
            names,
            [
                "LayerNorm.bias",
                "LayerNorm.weight",
                "dense.bias",
                "dense.weight"
            ]
        );
        assert_eq!(tensors.tensor("dense.weight").unwrap().shape(), [2, 3]);

        let mut loaded = block(&device);
        let report = load_hf_weights(&mut loaded, &dir, &[("LayerNorm", "layer_norm")]).unwrap();
        assert_eq!(
            (report.loaded, report.missing.len(), report.unused.len()),
            (4, 0, 0)
        );
        assert_eq!(
            values(loaded.dense.weight.val()),
            values(original.dense.weight.val())
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn absent_weights_and_wrong_shapes_are_named() {
        let device = Device::flex();
        let dir = std::env::temp_dir().join(format!("hf-ckpt-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = load_hf_weights(&mut block(&device), &dir, &[]).unwrap_err();
        assert!(
            format!("{err:#}").contains("no model.safetensors"),
            "{err:#}"
        );

        #[derive(Module, Debug)]
        struct OnlyDense {
            dense: Linear,
        }
        let file = dir.join("model.safetensors");
        // Only the Linear: the norm is reported missing and keeps its initial values.
        let dense = LinearConfig::new(3, 2).init(&device);
        save_hf_safetensors(&OnlyDense { dense }, &file, &[]).unwrap();
        let report = load_hf_weights(&mut block(&device), &dir, &[]).unwrap();
        let mut missing = report.missing.clone();
        missing.sort();
        assert_eq!(missing, ["layer_norm.beta", "layer_norm.gamma"]);
        // A Linear of the wrong width is an error naming the file.
        let wide = LinearConfig::new(4, 2).init(&device);
        save_hf_safetensors(&OnlyDense { dense: wide }, &file, &[]).unwrap();
        let err = load_hf_weights(&mut block(&device), &dir, &[]).unwrap_err();
        assert!(format!("{err:#}").contains("model.safetensors"), "{err:#}");
        std::fs::remove_dir_all(dir).ok();
    }
}
