//! Writing results: JSON documents, lines of text, aligned tables, shell-quoted words.
//!
//! Everything goes through [`text`], which writes to stdout without panicking: a closed pipe
//! (`bulkhead org list | head -1`) ends the output quietly, any other write error is an error.

use std::io::{self, Write};

use serde::Serialize;

use crate::error::CliError;

/// Writes `text` to stdout.
pub(crate) fn text(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(CliError::io("could not write to stdout", e))
        }
        _ => Ok(()),
    }
}

/// Writes `line` to stderr: notes for a person, kept out of the output a script reads. A
/// failure to write to stderr is ignored, as there is nowhere left to report it.
pub(crate) fn note(line: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Writes each line, newline-terminated, to stdout.
pub(crate) fn lines(lines: impl IntoIterator<Item = String>) -> Result<(), CliError> {
    let mut all = String::new();
    for line in lines {
        all.push_str(&line);
        all.push('\n');
    }
    text(&all)
}

/// Writes `value` to stdout as one pretty-printed JSON document.
pub(crate) fn json(value: &impl Serialize) -> Result<(), CliError> {
    let mut doc = serde_json::to_string_pretty(value)?;
    doc.push('\n');
    text(&doc)
}

/// Lays `rows` out under `headers` in columns two spaces apart; the last column is not padded.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    std::iter::once(&header)
        .chain(rows)
        .map(|row| {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = width.saturating_sub(cell.chars().count());
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            line
        })
        .collect()
}

/// `word` as one word for a POSIX shell: as is when it is plainly safe, else single-quoted.
pub(crate) fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_by_characters() {
        let rows = vec![
            vec!["é-long".to_owned(), "x".to_owned()],
            vec!["a".to_owned(), "y".to_owned()],
        ];
        assert_eq!(
            table(&["ID", "V"], &rows),
            vec!["ID      V", "é-long  x", "a       y"]
        );
    }

    #[test]
    fn shell_quote_quotes_only_when_needed() {
        assert_eq!(shell_quote("/tmp/demo.db"), "/tmp/demo.db");
        assert_eq!(shell_quote("my demo.db"), "'my demo.db'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
