//! Splits documents into sentences, the units BERT's segments are built from: a rule-based
//! splitter (end punctuation, then space, then a capital, digit or quote), which keeps common
//! abbreviations, initials and decimals together. Line breaks also end sentences, since news
//! paragraphs and blank-line separated documents use them as boundaries.

/// Abbreviations after which a full stop does not end a sentence (lower-case, no dot).
const ABBREVIATIONS: [&str; 36] = [
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "gen", "gov", "sen", "rep", "col",
    "lt", "sgt", "capt", "cmdr", "rev", "inc", "corp", "co", "ltd", "vs", "etc", "no", "jan",
    "feb", "aug", "sept", "oct", "nov", "dec", "u.s", "u.k", "e.g",
];

/// Whether the word ending at a full stop is an abbreviation or an initial (`J.` in `J. Smith`).
fn is_abbreviation(word: &str) -> bool {
    let word = word.trim_start_matches(['(', '"', '\'', '“', '‘']);
    let lower = word.to_lowercase();
    ABBREVIATIONS.contains(&lower.as_str())
        || (word.chars().count() == 1 && word.chars().all(char::is_uppercase))
        || lower == "i.e"
}

/// The sentences of `text`, trimmed, empty ones dropped.
pub fn split_sentences(text: &str) -> Vec<String> {
    let mut sentences = Vec::new();
    for line in text.lines() {
        split_line(line, &mut sentences);
    }
    sentences
}

fn split_line(line: &str, out: &mut Vec<String>) {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if matches!(c, '.' | '!' | '?') {
            // Closing quotes and brackets belong to the sentence they end.
            let mut end = i + 1;
            while end < chars.len() && matches!(chars[end].1, '"' | '\'' | '”' | '’' | ')') {
                end += 1;
            }
            let followed_by_space = end < chars.len() && chars[end].1.is_whitespace();
            let next_starts = chars[end..]
                .iter()
                .find(|(_, c)| !c.is_whitespace())
                .is_some_and(|(_, c)| {
                    c.is_uppercase() || c.is_ascii_digit() || matches!(c, '"' | '“' | '‘' | '(')
                });
            let word_start = line[..at].rfind(char::is_whitespace).map_or(0, |p| p + 1);
            let abbreviation = c == '.' && is_abbreviation(&line[word_start..at]);
            if followed_by_space && next_starts && !abbreviation {
                let byte_end = chars.get(end).map_or(line.len(), |(b, _)| *b);
                push_trimmed(&line[start..byte_end], out);
                start = byte_end;
            }
            i = end;
        } else {
            i += 1;
        }
    }
    push_trimmed(&line[start..], out);
}

fn push_trimmed(s: &str, out: &mut Vec<String>) {
    let s = s.trim();
    if !s.is_empty() {
        out.push(s.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_end_at_punctuation_before_a_capital() {
        let text = "The vote passed 52-48. Critics said it was rushed! Was it? \"Yes,\" he said.";
        assert_eq!(
            split_sentences(text),
            [
                "The vote passed 52-48.",
                "Critics said it was rushed!",
                "Was it?",
                "\"Yes,\" he said."
            ]
        );
    }

    #[test]
    fn abbreviations_initials_and_decimals_do_not_end_sentences() {
        let text = "Mr. Smith met Dr. J. Doe in the U.S. on Monday. Shares rose 3.5 percent. \
                    \"We won.\" Then they left.";
        assert_eq!(
            split_sentences(text),
            [
                "Mr. Smith met Dr. J. Doe in the U.S. on Monday.",
                "Shares rose 3.5 percent.",
                "\"We won.\"",
                "Then they left."
            ]
        );
    }

    #[test]
    fn line_breaks_end_sentences_and_blank_lines_vanish() {
        assert_eq!(
            split_sentences("Headline without a stop\n\n  Body text here. More text\n"),
            ["Headline without a stop", "Body text here.", "More text"]
        );
    }
}
