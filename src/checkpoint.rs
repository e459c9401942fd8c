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

use crate::progress::Progress;

const MAGIC: &[u8; 8] = b"BLCKPT01";
/// The header layout this version writes and reads.
const FORMAT: u32 = 1;

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
    pub grad_scaler: Option<crate::grad_scaler::GradScaler>,
    /// Parameter paths and shapes of the module, for readable mismatch errors.
    pub parameter_shapes: Vec<(String, Vec<usize>)>,
    /// Written with `ModelCheckpoint(save_weights_only)`: the module and the loop counters,
    /// no optimizer, scheduler or callback state, so it cannot resume training.
    #[serde(default)]
    pub weights_only: bool,
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

/// Name of the section holding optimizer `i`'s state.
pub fn optimizer_section(i: usize) -> String {
    format!("optimizer.{i}")
}

/// Name of the section holding the state of optimizer `i`'s scheduler.
pub fn scheduler_section(i: usize) -> String {
    format!("scheduler.{i}")
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
        let record = self.module_record(source)?;
        module.try_load_record(record).map_err(|e| {
            anyhow::anyhow!(
                "checkpoint {} does not fit this model: {e:?}",
                source.display()
            )
        })
    }

    /// The `module` section parsed as a burn record (what [`load_module`](Self::load_module)
    /// loads, and what a written checkpoint is checked with).
    pub fn module_record(&self, source: &Path) -> Result<ModuleRecord> {
        let bytes = self.section("module", source, "module weights")?;
        ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec())).map_err(|e| {
            anyhow::anyhow!(
                "checkpoint {}: module weights are unreadable: {e:?}",
                source.display()
            )
        })
    }

    /// Serialises to bytes (header, sections, CRC32C).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut state = self.state.clone();
        state.format = FORMAT;
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
    /// Every length in the file is checked against the bytes present before it is used.
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
        let header_len = u64::from_le_bytes(body[8..16].try_into().expect("8 bytes"));
        let header = usize::try_from(header_len)
            .ok()
            .and_then(|len| body.get(16..16usize.checked_add(len)?))
            .with_context(|| {
                format!(
                    "checkpoint {name}: the header length at byte 8 ({header_len}) runs past the end of the file ({} bytes)",
                    bytes.len()
                )
            })?;
        let state: CheckpointState = serde_json::from_slice(header)
            .with_context(|| format!("checkpoint {name}: header is not valid JSON"))?;
        if state.format != FORMAT {
            bail!(
                "checkpoint {name} is in format {}, this version of burn-lightning reads format {FORMAT} (was it written by a newer version?)",
                state.format
            );
        }
        let mut sections = BTreeMap::new();
        let mut at = 16 + header.len();
        for (section, len) in &state.sections {
            let data = usize::try_from(*len)
                .ok()
                .and_then(|len| body.get(at..at.checked_add(len)?))
                .with_context(|| {
                    format!(
                        "checkpoint {name}: section `{section}` ({len} bytes from byte {at}) runs past the end of the file"
                    )
                })?;
            if sections.insert(section.clone(), data.to_vec()).is_some() {
                bail!("checkpoint {name}: section `{section}` appears twice in the header");
            }
            at += data.len();
        }
        if at != body.len() {
            bail!(
                "checkpoint {name}: {} bytes after the last section are not listed in the header",
                body.len() - at
            );
        }
        Ok(Self { state, sections })
    }

    /// The section `section`, or an error naming the checkpoint and `what` it should hold.
    pub fn section(&self, section: &str, source: &Path, what: &str) -> Result<&[u8]> {
        self.sections
            .get(section)
            .map(Vec::as_slice)
            .with_context(|| format!("checkpoint {} has no {what}", source.display()))
    }

    /// Writes atomically to `path` (temp file, fsync, rename, fsync of the directory), after
    /// reading the bytes back, so a file that would not parse never replaces a good one.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        Self::from_bytes(&bytes, path).with_context(|| {
            format!(
                "checkpoint {} was not written: it does not read back",
                path.display()
            )
        })?;
        crate::fs::atomic_write(path, &bytes)
    }

    /// Refuses a checkpoint that holds the module's weights alone as a point to resume
    /// training from (it has no optimizer, scheduler or callback state).
    pub fn ensure_resumable(&self, path: &Path) -> Result<()> {
        if self.state.weights_only {
            anyhow::bail!(
                "checkpoint {} holds the module's weights alone (ModelCheckpoint save_weights_only, which applies to its last.ckpt too): validate, test or predict with it, or load its weights into a new fit; training resumes only from a checkpoint written without save_weights_only",
                path.display()
            );
        }
        Ok(())
    }

    /// Reads and verifies a checkpoint file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes =
            fs::read(path).with_context(|| format!("cannot read checkpoint {}", path.display()))?;
        Self::from_bytes(&bytes, path)
    }
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
