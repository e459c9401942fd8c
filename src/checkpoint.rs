//! Checkpoint files: everything needed to continue a run exactly, written atomically.
//!
//! Layout: `BLCKPT01`, a little-endian u64 header length, the JSON header ([`CheckpointState`]),
//! then the binary sections the header lists (module weights, optimizer and scheduler states as
//! burnpack bytes), then a CRC32C of everything before it. Files are written to a temporary
//! name, fsynced, renamed over the target and the directory fsynced, so a crash at any moment
//! leaves either the old file or the new one, never a torn one.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::trainer::Progress;

const MAGIC: &[u8; 8] = b"BLCKPT01";

/// Everything in a checkpoint except the binary tensors; hooks may read and extend it.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct CheckpointState {
    /// Format version.
    pub format: u32,
    /// Loop counters at the moment of saving (resume continues from here).
    pub progress: Progress,
    /// Seed the run was started with (drives sampler order and per-step RNG).
    pub seed: Option<u64>,
    /// State of every callback, by `state_key`.
    pub callbacks: BTreeMap<String, Value>,
    /// The datamodule's `state_dict`.
    pub datamodule: Value,
    /// The resolved configuration of the run.
    pub hparams: Value,
    /// Free-form entries added by the module's `on_save_checkpoint`.
    pub module_extra: BTreeMap<String, Value>,
    /// Epoch accumulators and latest metrics, so a mid-epoch resume logs the same epoch means.
    pub metrics: Value,
    /// The loss scaler of a `16-mixed` run.
    #[serde(default)]
    pub grad_scaler: Option<crate::trainer::GradScaler>,
    /// Parameter paths and shapes of the module, for readable mismatch errors.
    pub parameter_shapes: Vec<(String, Vec<usize>)>,
    /// Names of the binary sections, in file order.
    sections: Vec<(String, u64)>,
}

/// A checkpoint in memory: the header plus its binary sections.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    /// The header.
    pub state: CheckpointState,
    /// Binary sections by name (`module`, `optimizer.0`, `scheduler.0`, …).
    pub sections: BTreeMap<String, Vec<u8>>,
}

struct ShapeVisitor {
    path: Vec<String>,
    out: Vec<(String, Vec<usize>)>,
}

impl ModuleVisitor for ShapeVisitor {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let shape = param.lazy_shape().to_vec();
        self.out.push((self.path.join("."), shape));
    }
}

/// Path and shape of every float parameter of `module`, in visit order.
pub fn parameter_shapes<M: Module>(module: &M) -> Vec<(String, Vec<usize>)> {
    let mut v = ShapeVisitor {
        path: Vec::new(),
        out: Vec::new(),
    };
    module.visit(&mut v);
    v.out
}

impl Checkpoint {
    /// Adds the weights of `module` as the `module` section.
    pub fn put_module<M: Module>(&mut self, module: &M) -> Result<()> {
        self.state.parameter_shapes = parameter_shapes(module);
        let bytes = module
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| anyhow::anyhow!("cannot serialise module weights: {e:?}"))?;
        self.sections.insert("module".into(), bytes.to_vec());
        Ok(())
    }

    /// Loads the `module` section into `module`; a shape or name mismatch is an error naming
    /// the first differing parameter.
    pub fn load_module<M: Module>(&self, module: M, source: &Path) -> Result<M> {
        let ours = parameter_shapes(&module);
        let theirs = &self.state.parameter_shapes;
        if ours.len() != theirs.len() {
            bail!(
                "checkpoint {} is incompatible with this model: it has {} parameter tensors, the model has {}",
                source.display(),
                theirs.len(),
                ours.len()
            );
        }
        for ((name, shape), (ckpt_name, ckpt_shape)) in ours.iter().zip(theirs) {
            if shape != ckpt_shape {
                bail!(
                    "checkpoint {} is incompatible with this model: parameter `{ckpt_name}` has shape {ckpt_shape:?} in the checkpoint but `{name}` has shape {shape:?} in the model",
                    source.display()
                );
            }
        }
        let bytes = self
            .sections
            .get("module")
            .with_context(|| format!("checkpoint {} has no module weights", source.display()))?;
        let record =
            ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.clone())).map_err(|e| {
                anyhow::anyhow!(
                    "checkpoint {}: module weights are unreadable: {e:?}",
                    source.display()
                )
            })?;
        module.try_load_record(record).map_err(|e| {
            anyhow::anyhow!(
                "checkpoint {} does not fit this model: {e:?}",
                source.display()
            )
        })
    }

    /// Serialises to bytes (header, sections, CRC32C).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut state = self.state.clone();
        state.format = 1;
        state.sections = self
            .sections
            .iter()
            .map(|(k, v)| (k.clone(), v.len() as u64))
            .collect();
        let header = serde_json::to_vec(&state)?;
        let mut out = Vec::with_capacity(
            header.len() + self.sections.values().map(Vec::len).sum::<usize>() + 32,
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        for bytes in self.sections.values() {
            out.extend_from_slice(bytes);
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Parses bytes written by [`to_bytes`](Self::to_bytes); `source` names the file in errors.
    pub fn from_bytes(bytes: &[u8], source: &Path) -> Result<Self> {
        let name = source.display();
        if bytes.len() < MAGIC.len() + 12 || &bytes[..8] != MAGIC {
            bail!("{name} is not a burn-lightning checkpoint (bad magic bytes or truncated file)");
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
        if crc32c::crc32c(body) != stored {
            bail!(
                "checkpoint {name} is corrupted: its CRC32C does not match (the file was truncated or modified)"
            );
        }
        let header_len = u64::from_le_bytes(body[8..16].try_into().expect("8 bytes")) as usize;
        let header = body
            .get(16..16 + header_len)
            .with_context(|| format!("checkpoint {name}: header runs past the end of the file"))?;
        let state: CheckpointState = serde_json::from_slice(header)
            .with_context(|| format!("checkpoint {name}: header is not valid JSON"))?;
        let mut sections = BTreeMap::new();
        let mut at = 16 + header_len;
        for (section, len) in &state.sections {
            let end = at + *len as usize;
            let data = body.get(at..end).with_context(|| {
                format!("checkpoint {name}: section `{section}` runs past the end of the file")
            })?;
            sections.insert(section.clone(), data.to_vec());
            at = end;
        }
        Ok(Self { state, sections })
    }

    /// Writes atomically to `path` (temp file, fsync, rename, fsync of the directory).
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        atomic_write(path, &bytes)
    }

    /// Reads and verifies a checkpoint file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes =
            fs::read(path).with_context(|| format!("cannot read checkpoint {}", path.display()))?;
        Self::from_bytes(&bytes, path)
    }
}

/// Writes `bytes` to `path` so that readers see the old content or the new, never a mix
/// (kept under this name; the one implementation is [`crate::fs::atomic_write`]).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fs::atomic_write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption_detection() {
        let mut ck = Checkpoint::default();
        ck.state.progress.global_step = 7;
        ck.sections.insert("optimizer.0".into(), vec![1, 2, 3]);
        let bytes = ck.to_bytes().unwrap();
        let back = Checkpoint::from_bytes(&bytes, Path::new("x.ckpt")).unwrap();
        assert_eq!(back.state.progress.global_step, 7);
        assert_eq!(back.sections["optimizer.0"], vec![1, 2, 3]);
        let mut bad = bytes.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0xff;
        let err = Checkpoint::from_bytes(&bad, Path::new("x.ckpt"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.ckpt") && err.contains("corrupted"), "{err}");
        let err = Checkpoint::from_bytes(&bytes[..bytes.len() - 10], Path::new("y.ckpt"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("y.ckpt"), "{err}");
    }
}
