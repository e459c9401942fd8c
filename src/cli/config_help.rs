//! The config's sections and keys with their defaults and one-line docs, for the long `--help`
//! (as LightningCLI's `--help` lists its arguments).
//!
//! Keys and defaults come from the settings' `Default` serialised as JSON; the docs from their
//! JSON schema (schemars turns each field's `///` comment into its `description`), so the help
//! text is the doc comments themselves and cannot drift from them.

use serde_json::{Map, Value};

/// A default longer than this is cut (with `…`) to keep one line per key.
const MAX_DEFAULT: usize = 24;
/// A doc longer than this is cut (with `…`); the full text is the field's doc comment.
const MAX_DOC: usize = 100;

/// One line per key (`  --section.key = DEFAULT  doc`), grouped by top-level section (whose
/// header carries the section's doc), from the default settings as JSON and their JSON schema.
pub fn config_help(defaults: &Value, schema: &Value) -> String {
    let mut out = String::from(
        "Config keys (set in the YAML file or as --key=value), with their defaults:\n",
    );
    let Value::Object(sections) = defaults else {
        return out;
    };
    // A section header (none for a top-level scalar) and its lines.
    type Group = (Option<String>, Vec<KeyLine>);
    let mut groups: Vec<Group> = Vec::new();
    for (name, value) in sections {
        let mut keys = Vec::new();
        flatten(&[name.as_str()], value, schema, &mut keys);
        let header = matches!(value, Value::Object(m) if !m.is_empty()).then(|| {
            match doc_of(schema, &[name.as_str()]) {
                Some(doc) => format!("{name}: {doc}"),
                None => format!("{name}:"),
            }
        });
        groups.push((header, keys));
    }
    // Top-level scalars (`seed`, …) first, so that none reads as part of the section above it.
    groups.sort_by_key(|(header, _)| header.is_some());
    let lines = || groups.iter().flat_map(|(_, keys)| keys.iter());
    let key_width = lines().map(|l| l.key.chars().count()).max().unwrap_or(0);
    let default_width = lines()
        .map(|l| l.default.chars().count())
        .max()
        .unwrap_or(0);
    for (header, keys) in &groups {
        if let Some(h) = header {
            out.push_str(&format!("\n{h}\n"));
        }
        for line in keys {
            let text = format!(
                "  --{:key_width$} = {:default_width$}  {}",
                line.key,
                line.default,
                line.doc.as_deref().unwrap_or("")
            );
            out.push_str(text.trim_end());
            out.push('\n');
        }
    }
    out
}

/// One key of the listing.
struct KeyLine {
    key: String,
    default: String,
    doc: Option<String>,
}

fn flatten(path: &[&str], value: &Value, schema: &Value, keys: &mut Vec<KeyLine>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let mut child = path.to_vec();
                child.push(k);
                flatten(&child, v, schema, keys);
            }
        }
        leaf => keys.push(KeyLine {
            key: path.join("."),
            default: truncate(&render(leaf), MAX_DEFAULT),
            doc: doc_of(schema, path),
        }),
    }
}

fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => render_number(n),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(render).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// An `f32` setting serialises as its exact `f64` (0.99 becomes 0.9900000095367432): show the
/// `f32`'s shortest form when it is the same number and shorter.
fn render_number(n: &serde_json::Number) -> String {
    let wide = n.to_string();
    match n.as_f64() {
        Some(f) if n.is_f64() && f64::from(f as f32) == f => {
            let narrow = format!("{:?}", f as f32);
            if narrow.len() < wide.len() {
                narrow
            } else {
                wide
            }
        }
        _ => wide,
    }
}

/// The one-line doc of the key at `path`: the first sentence of its doc comment's first
/// paragraph (`None` when the schema does not document it).
fn doc_of(root: &Value, path: &[&str]) -> Option<String> {
    let mut schema = root;
    let mut property = None;
    for key in path {
        let found = property_of(root, schema, key, 0)?;
        schema = found;
        property = Some(found);
    }
    let description = property?.get("description")?.as_str()?;
    let line = one_line(description);
    (!line.is_empty()).then(|| truncate(&line, MAX_DOC))
}

/// The schema of property `key` of `schema`, looking through `$ref`s and the alternatives of
/// `anyOf`/`oneOf`/`allOf` (an `Option<T>` field is `anyOf: [T, null]`, a flattened struct is
/// an `allOf` part). `depth` stops a self-referencing schema.
fn property_of<'a>(
    root: &'a Value,
    schema: &'a Value,
    key: &str,
    depth: usize,
) -> Option<&'a Value> {
    if depth > 16 {
        return None;
    }
    let object: &Map<String, Value> = schema.as_object()?;
    if let Some(found) = object.get("properties").and_then(|p| p.get(key)) {
        return Some(found);
    }
    if let Some(target) = object.get("$ref").and_then(Value::as_str)
        && let Some(found) =
            resolve(root, target).and_then(|s| property_of(root, s, key, depth + 1))
    {
        return Some(found);
    }
    ["allOf", "anyOf", "oneOf"]
        .iter()
        .filter_map(|k| object.get(*k).and_then(Value::as_array))
        .flatten()
        .find_map(|part| property_of(root, part, key, depth + 1))
}

/// A local `$ref` (`#/$defs/Name`, JSON-pointer escaped) inside `root`.
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    root.pointer(reference.strip_prefix('#')?)
}

/// The first sentence of the first paragraph, its lines joined.
fn one_line(doc: &str) -> String {
    let paragraph = doc.split("\n\n").next().unwrap_or("");
    let joined = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
    // A sentence ends at ". " before a capital letter ("e.g. 00:12" does not end one).
    let bytes = joined.as_bytes();
    let end = (0..bytes.len().saturating_sub(2))
        .find(|&i| bytes[i] == b'.' && bytes[i + 1] == b' ' && bytes[i + 2].is_ascii_uppercase());
    match end {
        Some(i) => joined[..=i].to_string(),
        None => joined,
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use serde_json::json;

    /// `model.params`, documented.
    #[derive(Default, Serialize, schemars::JsonSchema)]
    struct Params {
        /// K, the number of topics. Must be at least 1.
        num_topics: usize,
        /// A fixed vocabulary; `null` takes it from the data, which is
        /// read before the model is built.
        vocab: Option<String>,
        #[serde(rename = "act")]
        /// Encoder activation.
        activation: String,
        #[serde(flatten)]
        shared: Shared,
    }

    /// Keys flattened into `model.params`.
    #[derive(Default, Serialize, schemars::JsonSchema)]
    struct Shared {
        /// Dropout everywhere.
        dropout: f64,
    }

    #[derive(Default, Serialize, schemars::JsonSchema)]
    struct Model {
        /// Registered name.
        name: String,
        /// Its parameters.
        params: Params,
    }

    #[derive(Default, Serialize, schemars::JsonSchema)]
    struct Settings {
        /// Seed for everything.
        seed: Option<u64>,
        /// Which model and its sizes.
        model: Model,
        /// Trainer options.
        trainer: crate::trainer::TrainerConfig,
    }

    fn help() -> String {
        let defaults = serde_json::to_value(Settings {
            model: Model {
                name: "etm".into(),
                params: Params {
                    num_topics: 50,
                    ..Params::default()
                },
            },
            ..Settings::default()
        })
        .unwrap();
        config_help(&defaults, &schemars::schema_for!(Settings).to_value())
    }

    fn line_of<'a>(text: &'a str, key: &str) -> &'a str {
        let flag = format!("--{key} ");
        text.lines()
            .find(|l| l.trim_start().starts_with(&flag))
            .unwrap_or_else(|| panic!("no line for {key}: {text}"))
    }

    #[test]
    fn lists_every_leaf_with_its_default_and_doc() {
        let text = help();
        let line = line_of(&text, "model.params.num_topics");
        // The first sentence only, after the default.
        assert!(line.contains("= 50"), "{line}");
        assert!(
            line.trim_end().ends_with("K, the number of topics."),
            "{line}"
        );
        // A doc over two lines is joined; serde's rename names the key.
        let line = line_of(&text, "model.params.vocab");
        assert!(line.contains("= null"), "{line}");
        assert!(
            line.contains("from the data, which is read before"),
            "{line}"
        );
        assert!(line_of(&text, "model.params.act").ends_with("Encoder activation."));
        assert!(line_of(&text, "seed").ends_with("Seed for everything."));
        let line = line_of(&text, "model.params.dropout");
        assert!(
            line.contains("= 0.0 ") && line.ends_with(" Dropout everywhere."),
            "{line}"
        );
        // Section headers carry the section's doc.
        assert!(
            text.contains("\nmodel: Which model and its sizes.\n"),
            "{text}"
        );
        // The Trainer's keys come from its own doc comments (through `$ref`s, `Option`s).
        let line = line_of(&text, "trainer.max_epochs");
        assert!(line.contains("Stop after this many epochs"), "{line}");
        let line = line_of(&text, "trainer.devices");
        assert!(
            line.contains("= auto") && line.contains("Devices of this node"),
            "{line}"
        );
    }

    #[test]
    fn cuts_long_values_and_docs_and_aligns_columns() {
        let schema = json!({"properties": {"a": {"description": "x".repeat(300)}}});
        let text = config_help(&json!({"a": "v".repeat(100), "bb": 1}), &schema);
        let a = line_of(&text, "a");
        assert!(
            a.contains(&format!("{}…", "v".repeat(MAX_DEFAULT - 1))),
            "{a}"
        );
        assert!(a.ends_with(&format!("{}…", "x".repeat(MAX_DOC - 1))), "{a}");
        // Undocumented keys have no doc column; `=` lines up.
        let b = line_of(&text, "bb");
        assert_eq!(a.find('='), b.find('='), "{text}");
        assert!(b.ends_with("= 1"), "{b}");
    }

    #[test]
    fn f32_defaults_show_their_shortest_form() {
        let text = config_help(
            &json!({"o": {"betas": [0.9f32, 0.999f32], "eps": 1e-8f32, "lr": 0.1, "f": 1.0}}),
            &json!({}),
        );
        assert!(
            line_of(&text, "o.betas").ends_with("= [0.9, 0.999]"),
            "{text}"
        );
        assert!(line_of(&text, "o.eps").ends_with("= 1e-8"), "{text}");
        assert!(line_of(&text, "o.lr").ends_with("= 0.1"), "{text}");
        // A fraction stays a float (1.0, not the batch count 1).
        assert!(line_of(&text, "o.f").ends_with("= 1.0"), "{text}");
    }

    #[test]
    fn top_level_scalars_come_before_the_sections() {
        let text = config_help(&json!({"a": {"x": 1}, "z": 2}), &json!({}));
        let z = text.find("--z ").unwrap();
        assert!(z < text.find("\na:\n").unwrap(), "{text}");
    }

    #[test]
    fn one_line_is_the_first_sentence_of_the_first_paragraph() {
        assert_eq!(one_line("A b.\nC d.\n\nE."), "A b.");
        assert_eq!(
            one_line("Use e.g. 00:12:00:00\nor null"),
            "Use e.g. 00:12:00:00 or null"
        );
    }
}
