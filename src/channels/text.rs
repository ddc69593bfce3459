//! Splitting a reply into messages a service accepts: at most `limit` characters each, cut at a
//! paragraph break when one is in reach, else at a line break, else after a sentence, else at a
//! space, and only as a last resort inside a word.

/// The pieces of `text`, each at most `limit` characters (not bytes: services count characters).
pub fn chunks(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(1);
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if rest.chars().count() <= limit {
            out.push(rest.to_string());
            break;
        }
        // Byte offset of the character just past the limit.
        let hard = rest.char_indices().nth(limit).map(|(i, _)| i).unwrap_or(rest.len());
        let window = rest.get(..hard).unwrap_or(rest);
        let cut = best_cut(window).unwrap_or(hard);
        let (piece, tail) = rest.split_at(cut);
        let piece = piece.trim_end();
        if !piece.is_empty() {
            out.push(piece.to_string());
        }
        rest = tail.trim_start();
    }
    out
}

/// Where to end a chunk inside `window`: the last paragraph break, line break, sentence end or
/// space in the second half of the window (a cut earlier than that would make many tiny pieces).
fn best_cut(window: &str) -> Option<usize> {
    let floor = window.len() / 2;
    let after = |i: usize| (i >= floor).then_some(i);
    if let Some(i) = window.rfind("\n\n").and_then(after) {
        return Some(i);
    }
    if let Some(i) = window.rfind('\n').and_then(after) {
        return Some(i);
    }
    let sentence =
        [". ", "! ", "? ", "。", "！", "？"].iter().filter_map(|p| window.rfind(p).map(|i| i + p.trim_end().len())).max().and_then(after);
    if sentence.is_some() {
        return sentence;
    }
    window.rfind(' ').and_then(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_piece() {
        assert_eq!(chunks("  hello  ", 10), ["hello"]);
        assert!(chunks("   ", 10).is_empty());
    }

    #[test]
    fn paragraphs_then_sentences_then_words() {
        let p1 = "a".repeat(30);
        let p2 = "b".repeat(30);
        assert_eq!(chunks(&format!("{p1}\n\n{p2}"), 40), [p1.clone(), p2.clone()]);
        let text = "First sentence here. Second sentence is longer than that.";
        assert_eq!(chunks(text, 30), ["First sentence here.", "Second sentence is longer", "than that."]);
        let words = "alpha beta gamma delta epsilon";
        for c in chunks(words, 12) {
            assert!(c.chars().count() <= 12 && !c.starts_with(' '));
        }
    }

    #[test]
    fn limits_count_characters_and_nothing_is_lost() {
        let text = "é".repeat(25) + " " + &"ü".repeat(25);
        let parts = chunks(&text, 20);
        assert!(parts.iter().all(|p| p.chars().count() <= 20));
        let joined: String = parts.concat();
        assert_eq!(joined.chars().filter(|c| !c.is_whitespace()).count(), 50);
        let long = "x".repeat(4500);
        let parts = chunks(&long, 4000);
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [4000, 500]);
    }
}
