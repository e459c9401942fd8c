//! Dotted command-line overrides (`--trainer.max_epochs=3`) applied to a parsed config.

use anyhow::{Result, bail};
use serde_json::Value;

/// Sets `path` (dot-separated) in `root` to `raw`, parsed as a YAML scalar or flow value
/// (`3`, `0.5`, `true`, `null`, `[0, 1]`, `text`).
pub fn apply_override(root: &mut Value, path: &str, raw: &str) -> Result<()> {
    let value: Value =
        serde_saphyr::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        bail!("override `--{path}` has an empty key segment");
    }
    let mut node = root;
    for (i, key) in keys.iter().enumerate() {
        if node.is_null() {
            *node = Value::Object(Default::default());
        }
        let Value::Object(map) = node else {
            bail!(
                "override `--{path}`: `{}` is not a mapping",
                keys[..i].join(".")
            );
        };
        if i + 1 == keys.len() {
            map.insert((*key).to_string(), value);
            return Ok(());
        }
        node = map.entry((*key).to_string()).or_insert(Value::Null);
    }
    unreachable!("keys is non-empty")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sets_nested_values_with_yaml_types() {
        let mut v = json!({"trainer": {"max_epochs": 10}});
        apply_override(&mut v, "trainer.max_epochs", "3").unwrap();
        apply_override(&mut v, "trainer.gradient_clip_val", "0.5").unwrap();
        apply_override(&mut v, "model.params.theta_act", "tanh").unwrap();
        apply_override(&mut v, "trainer.devices", "[0, 1]").unwrap();
        assert_eq!(
            v,
            json!({"trainer": {"max_epochs": 3, "gradient_clip_val": 0.5, "devices": [0, 1]}, "model": {"params": {"theta_act": "tanh"}}})
        );
        assert!(apply_override(&mut v, "trainer.max_epochs.x", "1").is_err());
    }
}
