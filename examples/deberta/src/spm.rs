//! SentencePiece model files (`spm.model`, a `ModelProto` protobuf): the fields a Unigram
//! tokenizer needs, read with a minimal protobuf decoder (field numbers from sentencepiece's
//! `sentencepiece_model.proto`).

use std::path::Path;

use anyhow::{Context, Result, bail};

/// A piece's kind (`SentencePiece.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceType {
    /// An ordinary piece.
    Normal,
    /// The unknown piece.
    Unknown,
    /// A control symbol such as `[CLS]`.
    Control,
    /// A user-defined symbol.
    UserDefined,
    /// Never produced.
    Unused,
    /// A byte-fallback piece `<0xNN>`.
    Byte,
}

/// What a Unigram tokenizer needs from `spm.model`.
#[derive(Debug, Clone)]
pub struct SentencePieceModel {
    /// Pieces in id order, with their log-probability scores and kinds.
    pub pieces: Vec<(String, f64, PieceType)>,
    /// Id of the unknown piece.
    pub unk_id: usize,
    /// Unknown characters become their UTF-8 bytes (`<0xNN>` pieces) instead of `unk_id`.
    pub byte_fallback: bool,
    /// The normalization rules compiled into the model (empty when none).
    pub precompiled_charsmap: Vec<u8>,
    /// Whether a space is added before the text.
    pub add_dummy_prefix: bool,
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

enum Value<'a> {
    Varint(u64),
    Fixed32(u32),
    Fixed64,
    Bytes(&'a [u8]),
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.bytes.get(self.at) else {
                bail!("truncated varint at byte {}", self.at);
            };
            self.at += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        bail!("varint longer than 10 bytes at byte {}", self.at)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            bail!("field of {n} bytes at byte {} runs past the end", self.at);
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// The next (field number, value), or None at the end.
    fn field(&mut self) -> Result<Option<(u64, Value<'a>)>> {
        if self.at == self.bytes.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let n = self.varint()? as usize;
                Value::Bytes(self.take(n)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(
                self.take(4)?.try_into().expect("4 bytes"),
            )),
            wire => bail!("unsupported protobuf wire type {wire} at byte {}", self.at),
        };
        Ok(Some((key >> 3, value)))
    }
}

fn fields(bytes: &[u8], mut each: impl FnMut(u64, Value) -> Result<()>) -> Result<()> {
    let mut reader = Reader { bytes, at: 0 };
    while let Some((number, value)) = reader.field()? {
        each(number, value)?;
    }
    Ok(())
}

impl SentencePieceModel {
    /// Reads `spm.model`; a damaged file is an error naming it.
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_bytes(&bytes)
            .with_context(|| format!("{}: not a SentencePiece model", path.display()))
    }

    /// Parses a serialized `ModelProto`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut model = Self {
            pieces: Vec::new(),
            unk_id: 0,
            byte_fallback: false,
            precompiled_charsmap: Vec::new(),
            add_dummy_prefix: true,
        };
        fields(bytes, |number, value| {
            match (number, value) {
                (1, Value::Bytes(piece)) => model.pieces.push(parse_piece(piece)?),
                (2, Value::Bytes(trainer)) => fields(trainer, |n, v| {
                    match (n, v) {
                        (35, Value::Varint(b)) => model.byte_fallback = b != 0,
                        (40, Value::Varint(id)) => model.unk_id = id as usize,
                        _ => {}
                    }
                    Ok(())
                })?,
                (3, Value::Bytes(normalizer)) => fields(normalizer, |n, v| {
                    match (n, v) {
                        (2, Value::Bytes(map)) => {
                            // Where the charsmap starts in the file, for the error message.
                            let offset = map.as_ptr() as usize - bytes.as_ptr() as usize;
                            lightning_toolkit::tokenizer::validate_precompiled_charsmap(map)
                                .with_context(|| {
                                    format!("precompiled charsmap (at byte {offset})")
                                })?;
                            model.precompiled_charsmap = map.to_vec()
                        }
                        (3, Value::Varint(b)) => model.add_dummy_prefix = b != 0,
                        _ => {}
                    }
                    Ok(())
                })?,
                _ => {}
            }
            Ok(())
        })?;
        if model.pieces.is_empty() {
            bail!("no pieces");
        }
        if model.unk_id >= model.pieces.len() {
            bail!(
                "unk_id {} is beyond the {} pieces",
                model.unk_id,
                model.pieces.len()
            );
        }
        Ok(model)
    }
}

fn parse_piece(bytes: &[u8]) -> Result<(String, f64, PieceType)> {
    let (mut piece, mut score, mut kind) = (String::new(), 0f64, PieceType::Normal);
    fields(bytes, |number, value| {
        match (number, value) {
            (1, Value::Bytes(s)) => {
                piece = String::from_utf8(s.to_vec()).context("a piece is not UTF-8")?
            }
            (2, Value::Fixed32(bits)) => score = f64::from(f32::from_bits(bits)),
            (3, Value::Varint(t)) => {
                kind = match t {
                    1 => PieceType::Normal,
                    2 => PieceType::Unknown,
                    3 => PieceType::Control,
                    4 => PieceType::UserDefined,
                    5 => PieceType::Unused,
                    6 => PieceType::Byte,
                    other => bail!("piece type {other}: expected 1 to 6"),
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok((piece, score, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-encoded ModelProto: pieces "[UNK]" (unknown) and "▁a" (score −1.5), unk_id 0,
    /// byte_fallback on, a one-rule charsmap (`x` → `y`).
    fn tiny() -> Vec<u8> {
        let piece = |text: &str, score: f32, kind: u8| {
            let mut p = vec![0x0a, text.len() as u8];
            p.extend(text.as_bytes());
            p.push(0x15);
            p.extend(score.to_le_bytes());
            p.extend([0x18, kind]);
            let mut field = vec![0x0a, p.len() as u8];
            field.extend(p);
            field
        };
        let mut bytes = piece("[UNK]", 0.0, 2);
        bytes.extend(piece("▁a", -1.5, 1));
        // trainer_spec { byte_fallback (35) = 1, unk_id (40) = 0 }
        bytes.extend([0x12, 0x06, 0x98, 0x02, 0x01, 0xc0, 0x02, 0x00]);
        // normalizer_spec { precompiled_charsmap (2) = a valid map, add_dummy_prefix (3) = 0 }
        let map = test_support::spm::charsmap(&[("x", "y")]);
        let mut normalizer = vec![0x12];
        normalizer.extend([(map.len() as u8) | 0x80, (map.len() >> 7) as u8]);
        normalizer.extend(&map);
        normalizer.extend([0x18, 0x00]);
        bytes.extend([
            0x1a,
            (normalizer.len() as u8) | 0x80,
            (normalizer.len() >> 7) as u8,
        ]);
        bytes.extend(normalizer);
        bytes
    }

    #[test]
    fn reads_pieces_scores_and_specs() {
        let m = SentencePieceModel::from_bytes(&tiny()).unwrap();
        assert_eq!(
            m.pieces,
            vec![
                ("[UNK]".to_string(), 0.0, PieceType::Unknown),
                ("▁a".to_string(), -1.5, PieceType::Normal)
            ]
        );
        assert_eq!(
            (m.unk_id, m.byte_fallback, m.add_dummy_prefix),
            (0, true, false)
        );
        assert_eq!(
            m.precompiled_charsmap,
            test_support::spm::charsmap(&[("x", "y")])
        );
    }

    #[test]
    fn a_valid_charsmap_is_accepted() {
        let m = SentencePieceModel::from_bytes(&test_support::spm::small_model()).unwrap();
        assert!(!m.precompiled_charsmap.is_empty());
    }

    #[test]
    fn a_malformed_charsmap_is_refused_at_load() {
        let pieces = [("[UNK]", 0.0, 2), ("▁a", -1.0, 1)];
        let model = |map: &[u8]| test_support::spm::model_proto(&pieces, 0, false, Some(map), true);
        // The root unit's offset leads far beyond the one-unit trie: the first encode would
        // index out of bounds.
        let err = SentencePieceModel::from_bytes(&model(&[4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]))
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("precompiled charsmap"),
            "{err:#}"
        );
        // A trie length beyond the bytes present.
        let err =
            SentencePieceModel::from_bytes(&model(&[0xff, 0xff, 0xff, 0x7f, 0, 0])).unwrap_err();
        assert!(
            format!("{err:#}").contains("precompiled charsmap"),
            "{err:#}"
        );
        // A leaf whose replacement starts past the normalized strings.
        let mut map = test_support::spm::charsmap(&[("a", "b"), ("x", "y")]);
        let len = map.len();
        map.truncate(len - 3);
        let err = SentencePieceModel::from_bytes(&model(&map)).unwrap_err();
        assert!(
            format!("{err:#}").contains("precompiled charsmap"),
            "{err:#}"
        );
    }

    #[test]
    fn damaged_files_are_errors() {
        let bytes = tiny();
        let err = SentencePieceModel::from_bytes(&bytes[..bytes.len() - 4]).unwrap_err();
        assert!(err.to_string().contains("runs past the end"), "{err}");
        assert!(SentencePieceModel::from_bytes(&[]).is_err());
    }
}
