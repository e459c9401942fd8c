//! Masked-language-model inputs (BERT §3.1, with the seed's fix): each non-special token is
//! chosen with probability `probability` by one uniform draw, and the same draw decides what
//! it becomes: `[MASK]` (80%), a random token (10%) or itself (10%). Special tokens are never
//! chosen; every example predicts at least one token.

use rand::Rng;

use crate::pairs::SentencePair;
use crate::tokenizer::SpecialIds;

/// How tokens are masked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaskingSettings {
    /// Share of tokens predicted (0.15).
    pub probability: f64,
    /// Of those, the share replaced by `[MASK]` (0.8).
    pub mask_share: f64,
    /// Of those, the share replaced by a random token (0.1); the rest stay as they are.
    pub random_share: f64,
}

impl Default for MaskingSettings {
    fn default() -> Self {
        Self {
            probability: 0.15,
            mask_share: 0.8,
            random_share: 0.1,
        }
    }
}

/// One pretraining example: `[CLS] A [SEP] B [SEP]` with some tokens masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PretrainingExample {
    /// Input ids after masking.
    pub input_ids: Vec<u32>,
    /// Tokens of segment A with its `[CLS]` and `[SEP]` (token type 0); the rest are type 1.
    pub segment_a_len: u16,
    /// Positions of the predicted tokens, ascending.
    pub masked_positions: Vec<u16>,
    /// The original ids at those positions.
    pub masked_labels: Vec<u32>,
    /// NSP label: B is random text (1) rather than A's continuation (0).
    pub is_random_next: bool,
}

/// What a chosen token becomes.
fn replacement<R: Rng>(
    draw: f64,
    original: u32,
    special: &SpecialIds,
    vocab_size: u32,
    settings: &MaskingSettings,
    rng: &mut R,
) -> u32 {
    let within = draw / settings.probability;
    if within < settings.mask_share {
        special.mask
    } else if within < settings.mask_share + settings.random_share {
        loop {
            let t = rng.random_range(0..vocab_size);
            if !special.contains(t) {
                break t;
            }
        }
    } else {
        original
    }
}

/// Packs `pair` as `[CLS] A [SEP] B [SEP]` and masks it.
pub fn mask_pair<R: Rng>(
    pair: SentencePair,
    special: &SpecialIds,
    vocab_size: u32,
    settings: &MaskingSettings,
    rng: &mut R,
) -> PretrainingExample {
    let mut ids = Vec::with_capacity(pair.a.len() + pair.b.len() + 3);
    ids.push(special.cls);
    ids.extend_from_slice(&pair.a);
    ids.push(special.sep);
    let segment_a_len = ids.len() as u16;
    ids.extend_from_slice(&pair.b);
    ids.push(special.sep);

    let original = ids.clone();
    let mut positions = Vec::new();
    for (i, id) in ids.iter_mut().enumerate() {
        if special.contains(*id) {
            continue;
        }
        let draw: f64 = rng.random();
        if draw < settings.probability {
            positions.push(i as u16);
            *id = replacement(draw, *id, special, vocab_size, settings, rng);
        }
    }
    if positions.is_empty() {
        let candidates: Vec<usize> = (0..ids.len())
            .filter(|&i| !special.contains(ids[i]))
            .collect();
        if let Some(&i) = candidates.get(rng.random_range(0..candidates.len().max(1))) {
            let draw = rng.random::<f64>() * settings.probability;
            ids[i] = replacement(draw, ids[i], special, vocab_size, settings, rng);
            positions.push(i as u16);
        }
    }
    PretrainingExample {
        masked_labels: positions.iter().map(|&p| original[p as usize]).collect(),
        masked_positions: positions,
        input_ids: ids,
        segment_a_len,
        is_random_next: pair.is_random_next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const SPECIAL: SpecialIds = SpecialIds {
        pad: 0,
        unk: 1,
        cls: 2,
        sep: 3,
        mask: 4,
    };

    fn pair(len: usize) -> SentencePair {
        SentencePair {
            a: (100..100 + len as u32).collect(),
            b: (500..500 + len as u32).collect(),
            is_random_next: true,
        }
    }

    #[test]
    fn layout_is_cls_a_sep_b_sep_with_labels_of_the_originals() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let e = mask_pair(
            pair(5),
            &SPECIAL,
            1000,
            &MaskingSettings::default(),
            &mut rng,
        );
        assert_eq!(e.input_ids.len(), 13);
        assert_eq!(e.segment_a_len, 7);
        assert_eq!((e.input_ids[0], e.input_ids[6], e.input_ids[12]), (2, 3, 3));
        assert!(e.is_random_next);
        assert!(!e.masked_positions.is_empty(), "at least one prediction");
        for (&p, &label) in e.masked_positions.iter().zip(&e.masked_labels) {
            let p = p as usize;
            let unmasked = if p < 7 {
                100 + p as u32 - 1
            } else {
                500 + p as u32 - 7
            };
            assert_eq!(label, unmasked);
        }
    }

    #[test]
    fn fifteen_percent_are_chosen_split_80_10_10_and_specials_never() {
        let settings = MaskingSettings::default();
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let (mut tokens, mut chosen, mut masked, mut random, mut kept) = (0, 0, 0, 0, 0);
        for _ in 0..2000 {
            let e = mask_pair(pair(30), &SPECIAL, 1000, &settings, &mut rng);
            tokens += 60;
            for (&p, &label) in e.masked_positions.iter().zip(&e.masked_labels) {
                let p = p as usize;
                assert!(p != 0 && p != 31 && p != 62, "special token at {p} masked");
                chosen += 1;
                match e.input_ids[p] {
                    4 => masked += 1,
                    id if id == label => kept += 1,
                    id => {
                        assert!(!SPECIAL.contains(id), "random token {id} is special");
                        random += 1;
                    }
                }
            }
        }
        let share = |n: usize, of: usize| n as f64 / of as f64;
        assert!(
            (share(chosen, tokens) - 0.15).abs() < 0.005,
            "{}",
            share(chosen, tokens)
        );
        assert!(
            (share(masked, chosen) - 0.8).abs() < 0.01,
            "{}",
            share(masked, chosen)
        );
        // A random draw can land on the original token (1 in 995), counted as kept.
        assert!(
            (share(random, chosen) - 0.1).abs() < 0.01,
            "{}",
            share(random, chosen)
        );
        assert!(
            (share(kept, chosen) - 0.1).abs() < 0.01,
            "{}",
            share(kept, chosen)
        );
    }
}
