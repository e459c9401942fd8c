//! Several config files given in order (`-f base.yaml -f fast.yaml`), as LightningCLI merges
//! them: a later file's keys replace the earlier ones', mappings merge key by key, and lists
//! and component entries (`trainer.callbacks`, `trainer.logger`, anything with a
//! `class_path`) are replaced whole. The first file is the base: a complete config.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use super::error::{self, key_path_at_line};

/// One key a later file sets: dotted path, value as YAML flow text, file and line.
#[derive(Debug, Clone, PartialEq)]
pub struct FileOverride {
    /// Dotted key (`trainer.max_epochs`).
    pub key: String,
    /// The value, as flow YAML (JSON) that [`super::apply_override`] parses back.
    pub value: String,
    /// The file that sets it.
    pub file: PathBuf,
    /// The line of its key in that file (1-based), when found.
    pub line: Option<usize>,
}

/// Every leaf key `path` sets, in file order, to apply over the first file.
pub fn file_overrides(path: &Path) -> Result<Vec<FileOverride>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    if error::is_empty_yaml(&text) {
        return Ok(Vec::new());
    }
    let value: Value = serde_saphyr::from_str(&text).map_err(|e| {
        anyhow!(
            "{}: not valid YAML: {}",
            path.display(),
            e.to_string().lines().next().unwrap_or("")
        )
    })?;
    let Value::Object(map) = value else {
        bail!(
            "{}: a config file merged over another must be a mapping of sections (e.g. `trainer: {{max_epochs: 3}}`)",
            path.display()
        );
    };
    let mut out = Vec::new();
    flatten(&Value::Object(map), String::new(), &mut out);
    Ok(out
        .into_iter()
        .map(|(key, value)| FileOverride {
            line: line_of_key(&text, &key),
            key,
            value: value.to_string(),
            file: path.to_path_buf(),
        })
        .collect())
}

/// Keys whose value replaces the earlier one whole, whatever its form: a `trainer.logger`
/// written as a mapping is one logger, not keys to merge into the earlier setting.
const REPLACED_WHOLE: [&str; 2] = ["trainer.logger", "trainer.callbacks"];

/// Leaves of `value` under `prefix`; a mapping recurses (an empty one changes nothing, as
/// merging it would), anything else (lists too), a component entry (with a `class_path`) and
/// the [`REPLACED_WHOLE`] keys are leaves.
fn flatten(value: &Value, prefix: String, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map)
            if !map.contains_key("class_path") && !REPLACED_WHOLE.contains(&prefix.as_str()) =>
        {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(v, key, out);
            }
        }
        leaf => out.push((prefix, leaf.clone())),
    }
}

/// The first line whose key path is `key`.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    (1..=text.lines().count()).find(|&line| {
        text.lines().nth(line - 1).is_some_and(|l| {
            l.trim_start()
                .starts_with(key.rsplit('.').next().unwrap_or(key))
        }) && key_path_at_line(text, line).as_deref() == Some(key)
    })
}

/// The key an error names (`key `trainer.callbacks[0]``), without list indices.
pub fn error_key(message: &str) -> Option<&str> {
    message.split("key `").nth(1)?.split(['`', '[']).next()
}

/// Where a later file set the key an error names, as `FILE:LINE`: only for errors of the
/// merged pass (`… with overrides: key …`); an error in the base file alone names its line.
pub fn blame(message: &str, overrides: &[FileOverride]) -> Option<String> {
    if !message.contains(" with overrides: ") {
        return None;
    }
    // `trainer.callbacks[0]` is set by the file that sets `trainer.callbacks`.
    let key = error_key(message)?;
    let set = overrides.iter().rev().find(|o| {
        o.key == key
            || o.key.starts_with(&format!("{key}."))
            || key.starts_with(&format!("{}.", o.key))
    })?;
    Some(match set.line {
        Some(line) => format!("{}:{line}", set.file.display()),
        None => set.file.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_file_becomes_its_leaf_keys_with_their_lines() {
        let dir = std::env::temp_dir().join(format!("bl-merge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fast.yaml");
        std::fs::write(
            &path,
            "# faster\ntrainer:\n  max_epochs: 2\n  callbacks:\n    - EarlyStopping: {monitor: val_loss}\nmodel:\n  params: {}\n",
        )
        .unwrap();
        let o = file_overrides(&path).unwrap();
        let keys: Vec<(&str, Option<usize>)> = o.iter().map(|o| (o.key.as_str(), o.line)).collect();
        assert_eq!(
            keys,
            [
                ("trainer.callbacks", Some(4)),
                ("trainer.max_epochs", Some(3))
            ]
        );
        assert_eq!(o[0].value, r#"[{"EarlyStopping":{"monitor":"val_loss"}}]"#);
        let message = "base.yaml with overrides: key `trainer.max_epochs`: invalid type";
        assert_eq!(blame(message, &o).unwrap(), format!("{}:3", path.display()));
        let message = "base.yaml with overrides: key `trainer.callbacks[0]`: unknown callback";
        assert_eq!(blame(message, &o).unwrap(), format!("{}:4", path.display()));
        assert_eq!(
            blame("c.yaml with overrides: key `model.params.x`: bad", &o),
            None
        );
        assert_eq!(
            blame("base.yaml:3: key `trainer.max_epochs`: bad", &o),
            None,
            "an error of the base file alone is its own"
        );
        // A mapping-form logger replaces the earlier setting whole.
        std::fs::write(&path, "trainer:\n  logger: {CSVLogger: {}}\n").unwrap();
        let o = file_overrides(&path).unwrap();
        assert_eq!(
            (o[0].key.as_str(), o[0].value.as_str()),
            ("trainer.logger", r#"{"CSVLogger":{}}"#)
        );
        std::fs::write(&path, "- a\n").unwrap();
        assert!(format!("{:#}", file_overrides(&path).unwrap_err()).contains("must be a mapping"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
