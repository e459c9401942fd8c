//! SentencePiece precompiled charsmaps (the normalization rules an `spm.model` and a
//! `tokenizer.json` carry), checked before the `tokenizers` crate uses them: its
//! `spm_precompiled` walks the trie and slices the replacement strings unchecked, so a
//! malformed map loads without complaint and panics on the first text it normalizes.

use anyhow::{Context, Result, bail};

/// Checks a precompiled charsmap (`u32` trie length in bytes, the double-array trie's `u32`
/// units, then NUL-terminated replacement strings) the way `spm_precompiled` will walk it: that
/// crate indexes the trie and slices the strings unchecked, so a malformed map would load
/// fine and panic on the first encode. Every node reachable from the root is visited once
/// (each unit at most once, so the walk is linear in the map's size); for each, every input
/// byte must lead inside the trie, and every replacement must start inside the strings, on a
/// character boundary.
pub fn validate_precompiled_charsmap(map: &[u8]) -> Result<()> {
    // Same decoding as spm_precompiled's (`ArrayUnitTrait`).
    let has_leaf = |u: usize| (u >> 8) & 1 == 1;
    let value = |u: usize| u & ((1 << 31) - 1);
    let label = |u: usize| u & ((1 << 31) | 0xff);
    let offset = |u: usize| (u >> 10) << ((u & (1 << 9)) >> 6);

    let Some(head) = map.get(..4) else {
        bail!("{} bytes, shorter than its 4-byte trie length", map.len());
    };
    let trie_bytes = u32::from_le_bytes(head.try_into().expect("4 bytes")) as usize;
    if !trie_bytes.is_multiple_of(4) || trie_bytes > map.len() - 4 {
        bail!(
            "a trie of {trie_bytes} bytes: expected a multiple of 4 within the {} bytes after the length",
            map.len() - 4
        );
    }
    let units: Vec<usize> = map[4..4 + trie_bytes]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")) as usize)
        .collect();
    let normalized = std::str::from_utf8(&map[4 + trie_bytes..])
        .context("the replacement strings are not UTF-8")?;
    let Some(&root) = units.first() else {
        bail!("the trie is empty (it needs at least its root unit)");
    };
    let beyond = |at: usize, what: String| {
        anyhow::anyhow!(
            "{what} points to unit {at}, beyond the trie's {} units",
            units.len()
        )
    };
    let mut seen = vec![false; units.len()];
    let mut pending = vec![offset(root)];
    while let Some(node) = pending.pop() {
        for byte in 1..=255usize {
            let at = node ^ byte;
            let Some(&u) = units.get(at) else {
                return Err(beyond(at, format!("byte {byte} after node {node}")));
            };
            if label(u) != byte {
                continue;
            }
            let next = at ^ offset(u);
            if has_leaf(u) {
                let Some(&leaf) = units.get(next) else {
                    return Err(beyond(next, format!("the leaf of unit {at}")));
                };
                let start = value(leaf);
                if !normalized.is_char_boundary(start) {
                    bail!(
                        "unit {at}'s replacement starts at byte {start}, not a character start within the {} bytes of replacement strings",
                        normalized.len()
                    );
                }
            }
            // A node reached again through another path had its children checked then; one
            // beyond the trie fails on its first child when popped.
            if next < units.len() && std::mem::replace(&mut seen[next], true) {
                continue;
            }
            pending.push(next);
        }
    }
    Ok(())
}

/// Reads a `tokenizer.json` as text with its charsmaps checked
/// ([`check_tokenizer_json_charsmaps`]), for the caller to hand to the `tokenizers` crate, which
/// trusts them: a malformed one loads there and panics on the first encode.
pub fn read_tokenizer_json_text(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {} (a UTF-8 tokenizer.json)", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    check_tokenizer_json_charsmaps(&json)
        .with_context(|| format!("{}: a damaged normalizer", path.display()))?;
    Ok(text)
}

/// Checks every `Precompiled` normalizer's charsmap in a parsed `tokenizer.json` (they can
/// sit inside a `Sequence`, so the whole document is searched). The map is base64 there.
pub fn check_tokenizer_json_charsmaps(json: &serde_json::Value) -> Result<()> {
    match json {
        serde_json::Value::Object(fields) => {
            if fields.get("type").and_then(|t| t.as_str()) == Some("Precompiled") {
                let encoded = fields
                    .get("precompiled_charsmap")
                    .and_then(|m| m.as_str())
                    .context("a Precompiled normalizer without its precompiled_charsmap string")?;
                let map = decode_base64(encoded)
                    .context("a Precompiled normalizer's precompiled_charsmap is not base64")?;
                validate_precompiled_charsmap(&map)
                    .context("a Precompiled normalizer's precompiled_charsmap")?;
            }
            fields.values().try_for_each(check_tokenizer_json_charsmaps)
        }
        serde_json::Value::Array(items) => {
            items.iter().try_for_each(check_tokenizer_json_charsmaps)
        }
        _ => Ok(()),
    }
}

/// Standard base64 with optional padding, as `tokenizer.json` stores the charsmap.
fn decode_base64(text: &str) -> Result<Vec<u8>> {
    let digit = |c: u8| -> Result<u32> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("`{}` is not a base64 digit", c as char),
        } as u32)
    };
    let body = text.trim_end_matches('=').as_bytes();
    if body.len() % 4 == 1 {
        bail!("{} base64 digits cannot end a whole byte", body.len());
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    for chunk in body.chunks(4) {
        let mut bits = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            bits |= digit(c)? << (18 - 6 * i);
        }
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_what_tokenizers_writes() {
        assert_eq!(decode_base64("AAECAwQ=").unwrap(), [0, 1, 2, 3, 4]);
        assert_eq!(decode_base64("aGk").unwrap(), b"hi");
        assert_eq!(decode_base64("").unwrap(), b"");
        assert!(decode_base64("a").is_err());
        assert!(decode_base64("a*bc").is_err());
    }

    #[test]
    fn malformed_maps_are_errors_with_what_is_wrong() {
        // The root's offset leads past a one-unit trie.
        let err = validate_precompiled_charsmap(&[4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).unwrap_err();
        assert!(
            err.to_string().contains("beyond the trie's 1 units"),
            "{err}"
        );
        // A trie longer than the bytes present.
        let err = validate_precompiled_charsmap(&[0xff, 0xff, 0xff, 0x7f, 0, 0]).unwrap_err();
        assert!(err.to_string().contains("within the 2 bytes"), "{err}");
        assert!(validate_precompiled_charsmap(&[1, 0]).is_err());
        // Nested in a tokenizer.json's normalizer sequence.
        let json = serde_json::json!({"normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": "BAAAAP////8="}]}});
        let err = check_tokenizer_json_charsmaps(&json).unwrap_err();
        assert!(
            format!("{err:#}").contains("precompiled_charsmap"),
            "{err:#}"
        );
    }
}
