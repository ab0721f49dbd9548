//! Text that came from outside (packages, files, requests), made safe to show a person.
//!
//! - [`excerpt`]: what an error may quote of an input — at most [`EXCERPT_CHARS`] characters,
//!   control characters escaped — so a 20 MiB key makes a one-line message, not a 40 MB one.
//! - [`neutralise`]: a line of human output (tables, reviews) with control characters and
//!   bidirectional overrides replaced by their escapes, so a package named with escape
//!   sequences cannot clear the screen, retitle the window or fake an `error:` line. JSON
//!   output needs none of this: its strings are escaped by the encoder and stay exact.
//! - [`toml_error`]: where a TOML file is wrong (line and column) and why, never the file's
//!   text: a secret file given by mistake as an answers file must not be echoed.

use std::borrow::Cow;
use std::fmt::Write as _;

/// The most characters of an input an error message quotes.
pub const EXCERPT_CHARS: usize = 200;

/// Whether `c` must not reach a terminal as it is.
fn hostile(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        // Bidirectional embeddings, overrides and isolates reorder what a reader sees.
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

fn escape_into(out: &mut String, c: char) {
    let _ = write!(out, "\\u{{{:x}}}", c as u32);
}

/// `text` for a terminal: every control character but newline and tab, and every
/// bidirectional control, shown as its escape (`\u{1b}`).
pub fn neutralise(text: &str) -> Cow<'_, str> {
    if !text.chars().any(hostile) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if hostile(c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// At most [`EXCERPT_CHARS`] characters of `text`, on one line, with what was cut said.
pub fn excerpt(text: &str) -> Cow<'_, str> {
    let long = text.chars().nth(EXCERPT_CHARS).is_some();
    if !long && !text.chars().any(|c| hostile(c) || c == '\n' || c == '\t') {
        return Cow::Borrowed(text);
    }
    let mut out = String::new();
    for c in text.chars().take(EXCERPT_CHARS) {
        if hostile(c) || c == '\n' || c == '\t' {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    if long {
        let shown: usize = text.chars().take(EXCERPT_CHARS).map(char::len_utf8).sum();
        let _ = write!(out, "… ({} more bytes)", text.len() - shown);
    }
    Cow::Owned(out)
}

/// `message` with every word longer than [`EXCERPT_CHARS`] (a quoted key, a name, a path)
/// cut to an excerpt: a message stays a few lines, whatever it quotes.
pub fn bounded(message: String) -> String {
    if !message.split(' ').any(|word| word.len() > EXCERPT_CHARS) {
        return message;
    }
    message
        .split(' ')
        .map(|word| match word.len() > EXCERPT_CHARS {
            true => {
                // Punctuation after a quoted word belongs to the sentence: keep it.
                let core = word.trim_end_matches([',', '.', ';', ':', ')', '"', '\'']);
                format!("{}{}", excerpt(core), &word[core.len()..])
            }
            false => word.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where a TOML document is wrong and why, without quoting it: `line 3, column 7: …`.
pub fn toml_error(error: &toml::de::Error, text: &str) -> String {
    let message = excerpt(error.message().trim()).into_owned();
    match error.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_overrides_are_shown_not_obeyed() {
        let name = "Orders\u{1b}[2J\u{1b}]0;owned\u{7}\rerror: fake\u{202E}txt";
        let shown = neutralise(name);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown}");
        assert_eq!(
            shown,
            "Orders\\u{1b}[2J\\u{1b}]0;owned\\u{7}\\u{d}error: fake\\u{202e}txt"
        );
        assert!(matches!(neutralise("plain\tline\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn an_excerpt_is_short_and_says_how_much_was_cut() {
        let key = "k".repeat(20 << 20);
        let quoted = excerpt(&key);
        assert!(quoted.len() < 300, "{}", quoted.len());
        assert!(quoted.ends_with(&format!("… ({} more bytes)", (20 << 20) - 200)));
        assert_eq!(excerpt("a\nb"), "a\\u{a}b");
        assert!(matches!(excerpt("short"), Cow::Borrowed(_)));
        // Cut on a character boundary.
        let wide = "é".repeat(300);
        assert!(excerpt(&wide).starts_with(&"é".repeat(200)));
    }

    #[test]
    fn a_message_quoting_a_huge_key_stays_short() {
        let key = "k".repeat(20 << 20);
        let message = bounded(format!("resource {key} depends on {key}, which is missing"));
        assert!(message.len() < 600, "{}", message.len());
        assert!(message.starts_with("resource kkk"));
        assert!(message.ends_with(", which is missing"), "{message}");
        let plain = "nothing long here".to_owned();
        assert_eq!(bounded(plain.clone()), plain);
    }

    #[test]
    fn a_toml_error_gives_the_place_and_never_the_text() {
        let secret = "[answers]\n\"Notify\" = \"existing:1\"\npassword = hunter2-very-secret\n";
        let error = toml::from_str::<toml::Table>(secret).unwrap_err();
        let said = toml_error(&error, secret);
        assert!(said.starts_with("line 3, column "), "{said}");
        assert!(!said.contains("hunter2"), "{said}");
    }
}
