//! Turns YAML/serde errors into messages that name the file, line, key, what was expected and
//! the nearest valid key.

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

/// Levenshtein distance, for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if reasonably close.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 2).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
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
}
