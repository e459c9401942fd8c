//! The config's sections and keys with their defaults, for the long `--help` (as
//! LightningCLI's `--help` lists its arguments).

use serde_json::Value;

/// One line per key (`  --section.key  default VALUE`), grouped by top-level section, from the
/// settings' defaults serialised as JSON.
pub fn config_help(defaults: &Value) -> String {
    let mut out = String::from("Config keys (set in the YAML file or as --key=value):\n");
    let Value::Object(sections) = defaults else {
        return out;
    };
    // A section header (none for a top-level scalar) and its (key, default) lines.
    type Group<'a> = (Option<&'a str>, Vec<(String, String)>);
    let mut groups: Vec<Group> = Vec::new();
    for (name, value) in sections {
        let mut keys = Vec::new();
        flatten(name, value, &mut keys);
        let header = matches!(value, Value::Object(m) if !m.is_empty()).then_some(name.as_str());
        groups.push((header, keys));
    }
    let width = groups
        .iter()
        .flat_map(|(_, keys)| keys.iter().map(|(k, _)| k.len()))
        .max()
        .unwrap_or(0);
    for (header, keys) in groups {
        if let Some(h) = header {
            out.push_str(&format!("\n{h}:\n"));
        }
        for (key, default) in keys {
            out.push_str(&format!("  --{key:width$}  default {default}\n"));
        }
    }
    out
}

fn flatten(prefix: &str, value: &Value, keys: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, keys);
            }
        }
        leaf => keys.push((prefix.to_string(), render(leaf))),
    }
}

fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_every_leaf_with_its_default() {
        let text = config_help(&json!({
            "seed": null,
            "trainer": {"max_epochs": 10, "logger": {"name": "csv"}},
            "model": {"name": "etm", "params": {"num_topics": 50}}
        }));
        assert!(text.contains("--trainer.max_epochs"), "{text}");
        assert!(text.contains("--trainer.logger.name"), "{text}");
        assert!(text.contains("--model.params.num_topics"), "{text}");
        let line = text
            .lines()
            .find(|l| l.contains("--model.params.num_topics"))
            .unwrap();
        assert!(line.trim_end().ends_with("default 50"), "{line}");
        assert!(text.contains("--seed"), "{text}");
        assert!(text.contains("\ntrainer:\n"), "{text}");
    }
}
