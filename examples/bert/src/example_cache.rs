//! Pre-generated pretraining examples on disk, so later epochs and runs reuse them instead of
//! building them again: a little-endian binary file (magic, version, count, then per example
//! its lengths, NSP label, ids, masked positions and labels), written atomically and named by a
//! digest of everything that shaped the examples.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};

use crate::masking::PretrainingExample;

const MAGIC: &[u8; 4] = b"BLPT";
const VERSION: u32 = 1;

/// A short hex digest of `parts` (the corpus text, the tokenizer, the settings, the seed): the
/// cache file's name changes whenever one of them does.
pub fn cache_key(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `examples` to `path` (temp file, fsync, rename).
pub fn write_examples(path: &Path, examples: &[PretrainingExample]) -> Result<()> {
    let tokens: usize = examples.iter().map(|e| e.input_ids.len()).sum();
    let mut out = Vec::with_capacity(16 + examples.len() * 8 + tokens * 5);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(examples.len() as u64).to_le_bytes());
    for e in examples {
        out.extend_from_slice(&(e.input_ids.len() as u16).to_le_bytes());
        out.extend_from_slice(&e.segment_a_len.to_le_bytes());
        out.extend_from_slice(&(e.masked_positions.len() as u16).to_le_bytes());
        out.push(e.is_random_next as u8);
        e.input_ids
            .iter()
            .for_each(|t| out.extend_from_slice(&t.to_le_bytes()));
        e.masked_positions
            .iter()
            .for_each(|p| out.extend_from_slice(&p.to_le_bytes()));
        e.masked_labels
            .iter()
            .for_each(|t| out.extend_from_slice(&t.to_le_bytes()));
    }
    burn_lightning::fs::atomic_write(path, &out)
        .with_context(|| format!("caching examples in {}", path.display()))
}

/// Little-endian reads that name the file when it ends early.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    path: &'a Path,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        ensure!(
            self.at + n <= self.bytes.len(),
            "{}: ends early at byte {} (a damaged example cache; delete it to rebuild)",
            self.path.display(),
            self.bytes.len()
        );
        self.at += n;
        Ok(&self.bytes[self.at - n..self.at])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn u32s(&mut self, n: usize) -> Result<Vec<u32>> {
        (0..n).map(|_| self.u32()).collect()
    }
}

/// Reads examples written by [`write_examples`].
pub fn read_examples(path: &Path) -> Result<Vec<PretrainingExample>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut r = Reader {
        bytes: &bytes,
        at: 0,
        path,
    };
    if r.take(4)? != MAGIC {
        bail!("{}: not a pretraining example cache", path.display());
    }
    let version = r.u32()?;
    ensure!(
        version == VERSION,
        "{}: example cache version {version}, this build reads {VERSION}",
        path.display()
    );
    let count = r.u64()? as usize;
    let mut examples = Vec::with_capacity(count);
    for _ in 0..count {
        let len = r.u16()? as usize;
        let segment_a_len = r.u16()?;
        let masked = r.u16()? as usize;
        let is_random_next = r.take(1)?[0] == 1;
        let input_ids = r.u32s(len)?;
        let masked_positions = (0..masked).map(|_| r.u16()).collect::<Result<_>>()?;
        let masked_labels = r.u32s(masked)?;
        examples.push(PretrainingExample {
            input_ids,
            segment_a_len,
            masked_positions,
            masked_labels,
            is_random_next,
        });
    }
    ensure!(
        r.at == bytes.len(),
        "{}: {} bytes after the last example (a damaged cache; delete it to rebuild)",
        path.display(),
        bytes.len() - r.at
    );
    Ok(examples)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(n: u32) -> PretrainingExample {
        PretrainingExample {
            input_ids: vec![2, n, n + 1, 3, 70000, 3],
            segment_a_len: 4,
            masked_positions: vec![1, 4],
            masked_labels: vec![n, 9],
            is_random_next: n.is_multiple_of(2),
        }
    }

    #[test]
    fn examples_round_trip_and_damage_is_reported() {
        let dir = std::env::temp_dir().join(format!("bert-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("examples.bin");
        let examples: Vec<_> = (0..5).map(example).collect();
        write_examples(&path, &examples).unwrap();
        assert_eq!(read_examples(&path).unwrap(), examples);

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let err = format!("{:#}", read_examples(&path).unwrap_err());
        assert!(err.contains("examples.bin: ends early"), "{err}");
        std::fs::write(&path, b"nope").unwrap();
        let err = format!("{:#}", read_examples(&path).unwrap_err());
        assert!(err.contains("not a pretraining example cache"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn the_key_changes_with_any_part() {
        let key = cache_key(&[b"corpus", b"tokenizer", b"settings"]);
        assert_eq!(key.len(), 16);
        assert_ne!(key, cache_key(&[b"corpus", b"tokenizer", b"settings2"]));
        // Boundaries count: moving bytes between parts is a different key.
        assert_ne!(cache_key(&[b"ab", b"c"]), cache_key(&[b"a", b"bc"]));
    }
}
