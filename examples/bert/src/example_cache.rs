//! Pre-generated pretraining examples on disk, so later epochs and runs reuse them instead of
//! building them again: a little-endian binary file (magic, version, count, then per example
//! its lengths, NSP label, ids, masked positions and labels, then a SHA-256 of everything
//! before it), written atomically and named by a digest of everything that shaped the
//! examples. A damaged file (a wrong checksum, lengths beyond the bytes present, positions
//! beyond the example) is an error naming it and the offset, so the caller rebuilds it.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};

use crate::masking::PretrainingExample;

const MAGIC: &[u8; 4] = b"BLPT";
/// Version 2 added the trailing checksum.
const VERSION: u32 = 2;
/// Bytes of the trailing SHA-256.
const CHECKSUM: usize = 32;
/// Bytes of an example with no tokens: three `u16` lengths and the NSP byte.
const MIN_EXAMPLE: usize = 7;

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
    let checksum = Sha256::digest(&out);
    out.extend_from_slice(&checksum);
    lightning_toolkit::fs::atomic_write(path, &out)
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
            n <= self.bytes.len() - self.at,
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
    // The checksum covers everything before it: a flipped bit that still parses (a token id,
    // a masked position) would otherwise train on wrong data without a word.
    ensure!(
        bytes.len() >= 16 + CHECKSUM,
        "{}: {} bytes, too short for the header and checksum (a damaged example cache)",
        path.display(),
        bytes.len()
    );
    let (body, stored) = bytes.split_at(bytes.len() - CHECKSUM);
    ensure!(
        Sha256::digest(body).as_slice() == stored,
        "{}: checksum mismatch (a damaged example cache)",
        path.display()
    );
    r.bytes = body;
    let count = r.u64()?;
    // Each example takes at least MIN_EXAMPLE bytes: a count the file cannot hold is damage,
    // not a reason to reserve memory for it.
    let room = (body.len() - r.at) / MIN_EXAMPLE;
    ensure!(
        count <= room as u64,
        "{}: declares {count} examples, but its {} bytes hold at most {room} (a damaged example cache)",
        path.display(),
        body.len()
    );
    let mut examples = Vec::with_capacity(count as usize);
    for index in 0..count {
        let at = r.at;
        let len = r.u16()? as usize;
        let segment_a_len = r.u16()?;
        let masked = r.u16()? as usize;
        let is_random_next = match r.take(1)?[0] {
            0 => false,
            1 => true,
            other => bail!(
                "{}: example {index} (byte {at}) has NSP label {other}, expected 0 or 1",
                path.display()
            ),
        };
        let input_ids = r.u32s(len)?;
        let masked_positions: Vec<u16> = (0..masked).map(|_| r.u16()).collect::<Result<_>>()?;
        let masked_labels = r.u32s(masked)?;
        ensure!(
            usize::from(segment_a_len) <= len
                && masked_positions.iter().all(|&p| usize::from(p) < len),
            "{}: example {index} (byte {at}) has segment or masked positions beyond its {len} tokens",
            path.display()
        );
        examples.push(PretrainingExample {
            input_ids,
            segment_a_len,
            masked_positions,
            masked_labels,
            is_random_next,
        });
    }
    ensure!(
        r.at == r.bytes.len(),
        "{}: {} bytes after the last example (a damaged cache; delete it to rebuild)",
        path.display(),
        r.bytes.len() - r.at
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
        assert!(err.contains("examples.bin: checksum mismatch"), "{err}");
        std::fs::write(&path, b"nope").unwrap();
        let err = format!("{:#}", read_examples(&path).unwrap_err());
        assert!(err.contains("not a pretraining example cache"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_huge_count_or_length_is_an_error_not_an_allocation() {
        let dir = std::env::temp_dir().join(format!("bert-cache-huge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("examples.bin");
        // A header claiming u64::MAX / 2 examples, and one example: reserving the count up
        // front asks for far more memory than exists.
        let mut bytes = MAGIC.to_vec();
        bytes.extend(VERSION.to_le_bytes());
        bytes.extend((u64::MAX / 2).to_le_bytes());
        bytes.extend([1, 0, 1, 0, 0, 0, 0]);
        bytes.extend(7u32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let err = format!("{:#}", read_examples(&path).unwrap_err());
        assert!(err.contains("examples.bin"), "{err}");
        // The same with a valid checksum: the count is checked against the bytes present.
        bytes.extend(Sha256::digest(&bytes));
        std::fs::write(&path, &bytes).unwrap();
        let err = format!("{:#}", read_examples(&path).unwrap_err());
        assert!(
            err.contains("examples.bin: declares 9223372036854775807 examples"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_damaged_example_that_still_parses_is_detected() {
        let dir = std::env::temp_dir().join(format!("bert-cache-flip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("examples.bin");
        let examples: Vec<_> = (0..3).map(example).collect();
        write_examples(&path, &examples).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        // The first example's first token id (after the 16-byte header and 7 bytes of lengths):
        // a flipped bit there parses fine and would silently train on another token.
        bytes[16 + 7] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        let err = format!("{:#}", read_examples(&path).unwrap_err());
        assert!(
            err.contains("examples.bin") && err.contains("checksum"),
            "{err}"
        );
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
