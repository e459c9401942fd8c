//! A Hugging Face `config.json` read into a model's own config type and written back: the
//! parsing, error messages and atomic write every HF model shares (each model checks its own
//! sizes after).

use std::path::Path;

use anyhow::{Context, Result, ensure};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Parses `config.json` text into `T`; an error names the key (`key `hidden_size`: invalid
/// type…`).
pub fn parse_config_json<T: DeserializeOwned>(text: &str) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        anyhow::anyhow!("key `{path}`: {}", e.into_inner())
    })
}

/// Reads the text of a `config.json` file; an error names the file.
pub fn read_config_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// A model's `config.json` type: parsed by serde, then checked for what the model needs.
pub trait HfConfig: DeserializeOwned {
    /// An error saying which size or setting the model cannot use, and why.
    fn validate(&self) -> Result<()>;
}

/// Parses and [`validate`](HfConfig::validate)s `config.json` text; an error names the key or
/// the rule broken.
pub fn config_from_json<T: HfConfig>(text: &str) -> Result<T> {
    let config: T = parse_config_json(text)?;
    config.validate()?;
    Ok(config)
}

/// Reads, parses and validates a `config.json` file; every error names the file first
/// (`…/config.json: key `hidden_size`: invalid type…`), the same for every model.
pub fn read_config_json<T: HfConfig>(path: &Path) -> Result<T> {
    let text = read_config_text(path)?;
    config_from_json(&text).with_context(|| path.display().to_string())
}

/// Writes `config` as pretty JSON with a final newline, atomically: an interrupted export never
/// leaves a half-written config beside the weights.
pub fn write_config_json<T: Serialize>(config: &T, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(config)
        .with_context(|| format!("serialising {}", path.display()))?;
    crate::fs::atomic_write(path, (text + "\n").as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// That each `(key, value)` is a dropout probability in `[0, 1)`: burn's `Dropout` panics on
/// anything else, and an HF `config.json` can say anything (the fuzz tests found
/// `hidden_dropout_prob: 4`).
pub fn ensure_dropout_probabilities(probabilities: &[(&str, f64)]) -> Result<()> {
    for &(key, p) in probabilities {
        ensure!(
            (0.0..1.0).contains(&p),
            "{key} {p} is not a probability in [0, 1)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize, serde::Serialize)]
    struct Sizes {
        hidden_size: usize,
    }

    #[test]
    fn errors_name_the_key_and_the_file() {
        let err = parse_config_json::<Sizes>(r#"{"hidden_size": "wide"}"#).unwrap_err();
        assert!(format!("{err:#}").contains("key `hidden_size`"), "{err:#}");
        let missing = std::env::temp_dir().join("no-such-dir-hf-config/config.json");
        let err = read_config_text(&missing).unwrap_err();
        assert!(
            format!("{err:#}").contains("no-such-dir-hf-config"),
            "{err:#}"
        );
    }

    impl HfConfig for Sizes {
        fn validate(&self) -> Result<()> {
            ensure!(self.hidden_size > 0, "hidden_size must be at least 1");
            Ok(())
        }
    }

    #[test]
    fn a_config_file_error_names_the_file_then_the_key_or_rule() {
        let dir = std::env::temp_dir().join(format!("hf-config-err-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.json");
        std::fs::write(&path, r#"{"hidden_size": "wide"}"#).unwrap();
        let err = format!("{:#}", read_config_json::<Sizes>(&path).unwrap_err());
        assert!(err.contains("c.json: key `hidden_size`"), "{err}");
        std::fs::write(&path, r#"{"hidden_size": 0}"#).unwrap();
        let err = format!("{:#}", read_config_json::<Sizes>(&path).unwrap_err());
        assert!(
            err.contains("c.json: hidden_size must be at least 1"),
            "{err}"
        );
        std::fs::write(&path, r#"{"hidden_size": 4}"#).unwrap();
        assert_eq!(
            read_config_json::<Sizes>(&path).unwrap(),
            Sizes { hidden_size: 4 }
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn written_config_reads_back() {
        let dir = std::env::temp_dir().join(format!("hf-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        write_config_json(&Sizes { hidden_size: 8 }, &path).unwrap();
        let text = read_config_text(&path).unwrap();
        assert!(text.ends_with("}\n"));
        assert_eq!(
            parse_config_json::<Sizes>(&text).unwrap(),
            Sizes { hidden_size: 8 }
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn dropout_probabilities_outside_zero_one_are_named() {
        assert!(ensure_dropout_probabilities(&[("a", 0.0), ("b", 0.9)]).is_ok());
        let err =
            ensure_dropout_probabilities(&[("a", 0.1), ("hidden_dropout_prob", 4.0)]).unwrap_err();
        assert!(err.to_string().contains("hidden_dropout_prob 4"), "{err}");
        assert!(ensure_dropout_probabilities(&[("a", 1.0)]).is_err());
    }
}
