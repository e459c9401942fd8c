//! Small SentencePiece inputs built in code, so tests and fuzz seeds need no downloaded
//! `spm.model`: a precompiled charsmap (sentencepiece's double-array trie plus the replacement
//! strings) and a `ModelProto` around it.

/// A precompiled charsmap that rewrites each `from` to `to` (as sentencepiece's normalizer
/// rules do). Each trie node gets its own 256-unit block, which wastes space but keeps the
/// builder trivially correct: the children of a node at block `b` sit at `256·b ^ byte`.
pub fn charsmap(rules: &[(&str, &str)]) -> Vec<u8> {
    // Trie nodes: children by byte, and the offset of the replacement if a key ends here.
    struct Node {
        children: Vec<(u8, usize)>,
        value: Option<usize>,
    }
    let mut nodes = vec![Node {
        children: Vec::new(),
        value: None,
    }];
    let mut normalized = Vec::new();
    for (from, to) in rules {
        let mut at = 0;
        for &b in from.as_bytes() {
            at = match nodes[at].children.iter().find(|(c, _)| *c == b) {
                Some(&(_, next)) => next,
                None => {
                    nodes.push(Node {
                        children: Vec::new(),
                        value: None,
                    });
                    let next = nodes.len() - 1;
                    nodes[at].children.push((b, next));
                    next
                }
            };
        }
        nodes[at].value = Some(normalized.len());
        normalized.extend_from_slice(to.as_bytes());
        normalized.push(0);
    }
    // Block 0 holds only the root's unit (its offset leads to block 1); node n uses block n + 1.
    let base = |node: usize| 256 * (node + 1);
    let mut units = vec![0u32; 256 * (nodes.len() + 1)];
    units[0] = (base(0) as u32) << 10;
    for (n, node) in nodes.iter().enumerate() {
        for &(byte, child) in &node.children {
            let position = base(n) ^ byte as usize;
            let offset = (base(child) ^ position) as u32;
            let has_leaf = u32::from(nodes[child].value.is_some()) << 8;
            units[position] = (offset << 10) | has_leaf | u32::from(byte);
        }
        if let Some(value) = node.value {
            // The value unit (at `base ^ 0`) carries bit 31, so it never matches a label.
            units[base(n)] = (1 << 31) | value as u32;
        }
    }
    let mut out = ((units.len() * 4) as u32).to_le_bytes().to_vec();
    units.iter().for_each(|u| out.extend(u.to_le_bytes()));
    out.extend(normalized);
    out
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes_field(number: u64, bytes: &[u8], out: &mut Vec<u8>) {
    varint(number << 3 | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn varint_field(number: u64, v: u64, out: &mut Vec<u8>) {
    varint(number << 3, out);
    varint(v, out);
}

/// A serialized `ModelProto`: `pieces` as (text, score, type 1–6), the trainer spec's
/// `unk_id` and `byte_fallback`, and a normalizer spec with `charsmap` (if any) and
/// `add_dummy_prefix`.
pub fn model_proto(
    pieces: &[(&str, f32, u8)],
    unk_id: u64,
    byte_fallback: bool,
    charsmap: Option<&[u8]>,
    add_dummy_prefix: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    for (text, score, kind) in pieces {
        let mut piece = Vec::new();
        bytes_field(1, text.as_bytes(), &mut piece);
        varint(2 << 3 | 5, &mut piece);
        piece.extend(score.to_le_bytes());
        varint_field(3, u64::from(*kind), &mut piece);
        bytes_field(1, &piece, &mut out);
    }
    let mut trainer = Vec::new();
    varint_field(35, u64::from(byte_fallback), &mut trainer);
    varint_field(40, unk_id, &mut trainer);
    bytes_field(2, &trainer, &mut out);
    let mut normalizer = Vec::new();
    if let Some(map) = charsmap {
        bytes_field(2, map, &mut normalizer);
    }
    varint_field(3, u64::from(add_dummy_prefix), &mut normalizer);
    bytes_field(3, &normalizer, &mut out);
    out
}

/// A small DeBERTa-like model: the special pieces, a handful of words and the 256 byte
/// pieces (byte fallback on), normalizing full-width `Ａ` to `A` and `ﬁ` to `fi`.
pub fn small_model() -> Vec<u8> {
    let mut pieces: Vec<(String, f32, u8)> = vec![
        ("[PAD]".into(), 0.0, 3),
        ("[CLS]".into(), 0.0, 3),
        ("[SEP]".into(), 0.0, 3),
        ("[UNK]".into(), 0.0, 2),
    ];
    for (i, word) in ["▁the", "▁a", "▁fi", "sh", "▁A", "▁", "t", "h", "e", "a"]
        .iter()
        .enumerate()
    {
        pieces.push((word.to_string(), -1.0 - i as f32, 1));
    }
    for b in 0..=255u8 {
        pieces.push((format!("<0x{b:02X}>"), 0.0, 6));
    }
    let pieces: Vec<(&str, f32, u8)> = pieces
        .iter()
        .map(|(t, s, k)| (t.as_str(), *s, *k))
        .collect();
    let map = charsmap(&[("Ａ", "A"), ("ﬁ", "fi")]);
    model_proto(&pieces, 3, true, Some(&map), true)
}
