//! Hugging Face tensor names as this toolkit's modules (and the models built on them) spell them
//! in Rust: HF's `LayerNorm` submodule is a field `layer_norm` ([`SelfOutput`](crate::nn::SelfOutput)
//! has one), and `attention.self` (a keyword) is `attention.self_attention`. A model adds its
//! own patterns (such as a task model's prefix) to these. [`hf_display`] spells a burn path
//! as HF does, for messages: every model's load report and missing-tensor errors read alike.

use std::sync::LazyLock;

use anyhow::Result;
use burn::store::KeyRemapper;

/// HF name patterns → Rust field names, for [`load_hf_weights`](super::load_hf_weights).
pub const HF_TO_RUST: [(&str, &str); 2] = [
    (r"LayerNorm", "layer_norm"),
    (r"\.attention\.self\.", ".attention.self_attention."),
];

/// Rust field names → HF's, for [`save_hf_safetensors`](super::save_hf_safetensors) (burn-store's
/// PyTorch adapter renames LayerNorm's `gamma`/`beta` to `weight`/`bias` on its own).
pub const RUST_TO_HF: [(&str, &str); 2] = [
    (r"layer_norm", "LayerNorm"),
    (r"\.attention\.self_attention\.", ".attention.self."),
];

/// `first` (a model's own pattern, applied first), then [`HF_TO_RUST`].
pub fn hf_to_rust_after(first: (&'static str, &'static str)) -> Vec<(&'static str, &'static str)> {
    std::iter::once(first).chain(HF_TO_RUST).collect()
}

/// `name` with `patterns` (regex → replacement) applied in order, as burn-store applies them to
/// tensor names when loading and saving. An invalid regex is an error naming it.
pub fn rename(name: &str, patterns: &[(&str, &str)]) -> Result<String> {
    Ok(apply(&remapper(patterns)?, name))
}

/// A module's tensor path (burn's spelling, e.g. `encoder.layer.0.output.layer_norm.gamma`) as
/// transformers spells it (`encoder.layer.0.output.LayerNorm.weight`): [`RUST_TO_HF`], then
/// the LayerNorm parameter names the PyTorch adapter would write.
pub fn hf_display(path: &str) -> String {
    static DISPLAY: LazyLock<KeyRemapper> = LazyLock::new(|| {
        let mut patterns = RUST_TO_HF.to_vec();
        patterns.extend([
            (r"LayerNorm\.gamma$", "LayerNorm.weight"),
            (r"LayerNorm\.beta$", "LayerNorm.bias"),
        ]);
        // Constant patterns: the test below compiles them.
        remapper(&patterns).expect("hf_display's patterns are valid regexes")
    });
    apply(&DISPLAY, path)
}

pub(super) fn remapper(patterns: &[(&str, &str)]) -> Result<KeyRemapper> {
    KeyRemapper::from_patterns(patterns.to_vec())
        .map_err(|e| anyhow::anyhow!("invalid tensor-name pattern: {e}"))
}

fn apply(remapper: &KeyRemapper, name: &str) -> String {
    remapper
        .to_regex_pairs()
        .iter()
        .fold(name.to_string(), |name, (pattern, to)| {
            pattern.replace_all(&name, to.as_str()).into_owned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each spelling maps back to HF's name, through the real patterns.
    #[test]
    fn spellings_round_trip() {
        let hf = "encoder.layer.0.attention.self.query.weight";
        let rust = rename(hf, &HF_TO_RUST).unwrap();
        assert_eq!(
            rust,
            "encoder.layer.0.attention.self_attention.query.weight"
        );
        assert_eq!(rename(&rust, &RUST_TO_HF).unwrap(), hf);
        let norm = "encoder.layer.0.output.LayerNorm.weight";
        let rust = rename(norm, &HF_TO_RUST).unwrap();
        assert_eq!(rust, "encoder.layer.0.output.layer_norm.weight");
        // The dots are escaped: `attention_self_` is not `attention.self.`.
        let lookalike = "encoder.attention_self_query";
        assert_eq!(rename(lookalike, &HF_TO_RUST).unwrap(), lookalike);
    }

    #[test]
    fn a_model_prefix_is_applied_first() {
        let patterns = hf_to_rust_after(("^bert\\.", ""));
        assert_eq!(patterns.len(), 3);
        assert_eq!(
            rename("bert.encoder.layer.1.attention.self.key.bias", &patterns).unwrap(),
            "encoder.layer.1.attention.self_attention.key.bias"
        );
    }

    #[test]
    fn burn_paths_are_displayed_in_hf_spelling() {
        assert_eq!(
            hf_display("encoder.layer.0.attention.output.layer_norm.gamma"),
            "encoder.layer.0.attention.output.LayerNorm.weight"
        );
        assert_eq!(
            hf_display("embeddings.layer_norm.beta"),
            "embeddings.LayerNorm.bias"
        );
        assert_eq!(
            hf_display("bert.encoder.layer.2.attention.self_attention.query.weight"),
            "bert.encoder.layer.2.attention.self.query.weight"
        );
        assert_eq!(
            hf_display("cls.seq_relationship.weight"),
            "cls.seq_relationship.weight"
        );
    }

    #[test]
    fn an_invalid_pattern_is_an_error_naming_it() {
        let err = rename("a", &[("(", "")]).unwrap_err().to_string();
        assert!(err.contains("invalid tensor-name pattern"), "{err}");
    }
}
