//! Hugging Face tensor names as this toolkit's modules (and the models built on them) spell them
//! in Rust: HF's `LayerNorm` submodule is a field `layer_norm` ([`SelfOutput`](crate::nn::SelfOutput)
//! has one), and `attention.self` (a keyword) is `attention.self_attention`. A model adds its
//! own patterns (such as a task model's prefix) to these.

/// HF name patterns → Rust field names, for [`load_hf_weights`](super::load_hf_weights).
pub const HF_TO_RUST: [(&str, &str); 2] = [
    (r"LayerNorm", "layer_norm"),
    (r"\.attention\.self\.", ".attention.self_attention."),
];

/// Rust field names → HF's, for [`save_hf_safetensors`](super::save_hf_safetensors).
pub const RUST_TO_HF: [(&str, &str); 2] = [
    (r"layer_norm", "LayerNorm"),
    (r"\.attention\.self_attention\.", ".attention.self."),
];

/// `first` (a model's own pattern, applied first), then [`HF_TO_RUST`].
pub fn hf_to_rust_after(first: (&'static str, &'static str)) -> Vec<(&'static str, &'static str)> {
    std::iter::once(first).chain(HF_TO_RUST).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each spelling maps back to HF's name.
    #[test]
    fn spellings_round_trip() {
        let hf = "encoder.layer.0.attention.self.query.weight";
        let rust = HF_TO_RUST.iter().fold(hf.to_string(), |name, (from, to)| {
            regex_replace(&name, from, to)
        });
        assert_eq!(
            rust,
            "encoder.layer.0.attention.self_attention.query.weight"
        );
        let back = RUST_TO_HF
            .iter()
            .fold(rust, |name, (from, to)| regex_replace(&name, from, to));
        assert_eq!(back, hf);
        let norm = "encoder.layer.0.output.LayerNorm.weight";
        let rust = HF_TO_RUST
            .iter()
            .fold(norm.to_string(), |name, (from, to)| {
                regex_replace(&name, from, to)
            });
        assert_eq!(rust, "encoder.layer.0.output.layer_norm.weight");
        assert_eq!(hf_to_rust_after(("^bert\\.", ""))[0], ("^bert\\.", ""));
        assert_eq!(hf_to_rust_after(("^bert\\.", "")).len(), 3);
    }

    /// The patterns are plain text but for escaped dots.
    fn regex_replace(name: &str, from: &str, to: &str) -> String {
        name.replace(&from.replace(r"\.", "."), to)
    }
}
