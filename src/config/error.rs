//! Turns YAML/serde errors into messages that name the file, line, key, what was expected and
//! the nearest valid key.

pub use crate::suggest::{edit_distance, nearest};

/// The dotted key whose entry covers `line` (1-based), from YAML indentation.
pub fn key_path_at_line(text: &str, line: usize) -> Option<String> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    for raw in text.lines().take(line) {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('-') {
            continue;
        }
        let indent = raw.len() - trimmed.len();
        let Some((key, _)) = trimmed.split_once(':') else {
            continue;
        };
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        stack.push((indent, key.trim().trim_matches('"').to_string()));
    }
    (!stack.is_empty()).then(|| {
        stack
            .into_iter()
            .map(|(_, k)| k)
            .collect::<Vec<_>>()
            .join(".")
    })
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" text: the unknown key and a
/// suggestion among the expected ones.
pub fn suggestion(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    let (unknown, rest) = rest.split_once('`')?;
    let expected = rest
        .split("expected one of")
        .nth(1)
        .or_else(|| rest.split("expected").nth(1))?;
    let first_line = expected.lines().next().unwrap_or("");
    let keys: Vec<&str> = first_line
        .split(',')
        .map(|k| k.trim().trim_matches('`'))
        .filter(|k| !k.is_empty())
        .collect();
    nearest(unknown, keys).map(|k| format!("did you mean `{k}`?"))
}

/// `line N column M` from serde-saphyr's message.
pub fn line_of(message: &str) -> Option<usize> {
    let rest = message.split("line ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// `column M` from serde-saphyr's message.
fn column_of(message: &str) -> Option<usize> {
    let rest = message.split("column ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The scalar written at `line`/`column` (1-based) of `text`, up to the next flow delimiter.
fn scalar_at(text: &str, line: usize, column: usize) -> Option<String> {
    let row = text.lines().nth(line.checked_sub(1)?)?;
    let rest: String = row.chars().skip(column.checked_sub(1)?).collect();
    let scalar = rest
        .split([',', '}', ']', '#'])
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    (!scalar.is_empty()).then_some(scalar)
}

/// Rewrites the first line of a serde or serde-saphyr message into what the user needs:
/// an unknown key gets the nearest valid key instead of the list of every field (the list stays
/// when nothing is near); an integer or number of the wrong form says what was expected and
/// what was written. `text` is the YAML (for the written value), `None` for overrides.
pub fn explain(first: &str, text: Option<&str>) -> String {
    if first.contains("unknown field `")
        && let Some(hint) = suggestion(first)
        && let Some((head, _)) = first.split_once(", expected one of")
    {
        // Keep the location serde-saphyr appends after the list.
        let location = first
            .rfind(" at line ")
            .map(|at| &first[at..])
            .unwrap_or("");
        return format!("{head}{location}; {hint}");
    }
    // serde-saphyr: `invalid u64 at line 4, column 15`.
    let expected = |ty: &str| match ty {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => Some("a positive integer"),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => Some("an integer"),
        "f32" | "f64" => Some("a number"),
        _ => None,
    };
    // serde-saphyr: `line 6 column 22: invalid u64` (or `invalid u64 at line …`).
    if let Some(at) = first.find("invalid ") {
        let rest = &first[at + "invalid ".len()..];
        let ty = rest.split_whitespace().next().unwrap_or("");
        if let Some(what) = expected(ty) {
            let (before, after) = (&first[..at], &rest[ty.len()..]);
            let written = text.and_then(|t| scalar_at(t, line_of(first)?, column_of(first)?));
            return match written {
                Some(v) => format!("{before}expected {what} ({ty}), got `{v}`{after}"),
                None => format!("{before}expected {what} ({ty}){after}"),
            };
        }
    }
    // serde (overrides): `invalid value: integer `-5`, expected usize`.
    if let Some(rest) = first.strip_prefix("invalid value: ")
        && let Some((got, ty)) = rest.rsplit_once(", expected ")
        && let Some(what) = expected(ty.trim())
    {
        return format!("expected {what} ({}), got {got}", ty.trim());
    }
    first.to_string()
}

/// Whether `text` holds no YAML at all (only blank lines and comments).
pub fn is_empty_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim_start_matches('\u{feff}').trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    })
}

/// The first line at or before `limit` (1-based) whose indentation fits no enclosing level,
/// with a message saying so: a key indented deeper than its siblings after a key with a value
/// (which YAML reads as a continuation of that value), or between two levels. Consulted only
/// when the YAML does not parse, so block scalars and flow collections spanning lines are not
/// a concern for valid files.
pub fn indentation_problem(text: &str, limit: usize) -> Option<(usize, String)> {
    // Indents of the keys enclosing the current line, and whether the last key opened a block.
    let mut levels: Vec<usize> = Vec::new();
    let mut opened = true;
    for (n, raw) in text.lines().enumerate().take(limit) {
        let line = n + 1;
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
            continue;
        }
        let indent = raw.len() - trimmed.len();
        if trimmed.starts_with('-') {
            // A sequence item: its own keys nest under it, deeper than the dash.
            while levels.last().is_some_and(|&i| i > indent) {
                levels.pop();
            }
            opened = true;
            levels.push(indent);
            continue;
        }
        let Some((key, value)) = trimmed.split_once(':') else {
            continue;
        };
        let key = key.trim();
        let deeper = levels.last().is_none_or(|&i| indent > i);
        if deeper && !opened {
            let sibling = levels.last().copied().unwrap_or(0);
            return Some((
                line,
                format!(
                    "the indentation is wrong: `{key}` is indented by {indent} spaces, deeper than the key before it ({sibling}), which already has a value; indent it like its siblings"
                ),
            ));
        }
        if !deeper {
            let mut around: Vec<String> = levels.iter().map(|i| i.to_string()).collect();
            around.dedup();
            while levels.last().is_some_and(|&i| i > indent) {
                levels.pop();
            }
            if levels.last() != Some(&indent) {
                return Some((
                    line,
                    format!(
                        "the indentation is wrong: `{key}` is indented by {indent} spaces, which matches no enclosing level ({} spaces); indent it like its siblings",
                        around.join(" or ")
                    ),
                ));
            }
            levels.pop();
        }
        levels.push(indent);
        let value = value.split(" #").next().unwrap_or("").trim();
        opened = value.is_empty() || value == "|" || value == ">" || value.starts_with('&');
    }
    None
}

/// For an unknown top-level key (the list of expected keys starts with `seed, root_dir`) that
/// is one of the trainer's options: a hint that it lost its indentation under `trainer:`.
pub fn misplaced_trainer_key(message: &str) -> Option<String> {
    let first = message.lines().next()?;
    let (_, rest) = first.split_once("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    if !rest.contains("expected one of seed, root_dir") {
        return None;
    }
    let trainer = serde_json::to_value(super::trainer::TrainerConfig::default()).ok()?;
    trainer.get(key).map(|_| {
        format!("`{key}` is a trainer option: the indentation is wrong, indent it under `trainer:`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_key_path_from_indentation() {
        let text = "seed: 1\ntrainer:\n  max_epochs: 3\n  # comment\n  limit_val_batches: x\nmodel:\n  params:\n    k: 2\n";
        assert_eq!(
            key_path_at_line(text, 5).as_deref(),
            Some("trainer.limit_val_batches")
        );
        assert_eq!(key_path_at_line(text, 8).as_deref(), Some("model.params.k"));
        assert_eq!(key_path_at_line(text, 1).as_deref(), Some("seed"));
    }

    #[test]
    fn suggests_the_nearest_key() {
        let msg = "unknown field `max_epoch`, expected one of max_epochs, min_epochs, max_steps";
        assert_eq!(
            suggestion(msg).as_deref(),
            Some("did you mean `max_epochs`?")
        );
        assert_eq!(nearest("zzzzzzzz", ["max_epochs"]), None);
    }

    #[test]
    fn explains_unknown_keys_numbers_and_indentation() {
        let msg = "unknown field `max_epoch`, expected one of max_epochs, min_epochs, max_steps at line 3, column 3";
        assert_eq!(
            explain(msg, None),
            "unknown field `max_epoch` at line 3, column 3; did you mean `max_epochs`?"
        );
        let text = "a:\n  batch_size: -5\n";
        assert_eq!(
            explain("line 2 column 15: invalid u64", Some(text)),
            "line 2 column 15: expected a positive integer (u64), got `-5`"
        );
        assert_eq!(
            explain("invalid value: integer `-5`, expected usize", None),
            "expected a positive integer (usize), got integer `-5`"
        );
        assert!(is_empty_yaml("# nothing\n\n---\n"));
        assert!(!is_empty_yaml("a: 1"));
        let deeper = "trainer:\n  max_epochs: 3\n   min_epochs: 1\n";
        assert_eq!(indentation_problem(deeper, 3).map(|p| p.0), Some(3));
        let between = "trainer:\n    max_epochs: 3\n  min_epochs: 1\n";
        assert_eq!(indentation_problem(between, 3).map(|p| p.0), Some(3));
        let fine = "trainer:\n  max_epochs: 3\n  devices:\n    - 0\n    - 1\nmodel:\n  name: x\n";
        assert_eq!(indentation_problem(fine, 7), None);
    }
}
