//! Rendering actions for humans (aligned table, key: value lines) and scripts (JSON).

use std::io::{self, Write};

use chaos_middleware::store::CorruptRow;

// How actions are described is the middleware's, shared with the web admin and its API.
pub use chaos_middleware::action::describe::*;

/// Writes a one-line warning on stderr for each row the store could not read.
pub fn warn_corrupt(rows: &[CorruptRow]) {
    for row in rows {
        eprintln!(
            "warning: {row}; the apps skip it (listed as broken; `chaos-admin delete ID` removes it)"
        );
    }
}

/// A row that cannot be read, as `show` prints it.
pub fn broken_lines(row: &CorruptRow) -> String {
    let id = row.id.map_or_else(|| "?".to_owned(), |id| id.to_string());
    format!(
        "id:    {id}\nstate: broken (the apps skip it)\nerror: {}\nfix:   chaos-admin delete {id}",
        printable(&row.reason)
    )
}

/// `text` safe for a terminal: control characters (escape sequences that would retitle or
/// repaint the operator's terminal, newlines that would break a table row) are shown
/// escaped (`\u{1b}`) instead of sent raw.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().collect::<String>()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// Writes `rows` under `header`, each column padded to its widest cell; the last column
/// is not padded. Cells go through [`printable`].
pub fn write_table<W: Write>(out: &mut W, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| printable(cell).into_owned())
                .collect()
        })
        .collect();
    let rows = rows.as_slice();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i == last {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = width.saturating_sub(cell.chars().count()) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Treats a closed stdout (`chaos-admin list | head`) as success.
pub fn ignore_broken_pipe(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chaos_middleware::{Fault, Phase};

    #[test]
    fn percent_trims_zeros() {
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(0.25), "25%");
        assert_eq!(percent(0.125), "12.5%");
        assert_eq!(percent(0.0), "0%");
    }

    #[test]
    fn detail_formats_each_verb() {
        let slow = Fault::Slow {
            min_ms: 200,
            max_ms: 1500,
            phase: Phase::Before,
        };
        assert_eq!(detail(&slow, None), "200ms..1.5s");
        let after = Fault::Slow {
            min_ms: 2000,
            max_ms: 2000,
            phase: Phase::After,
        };
        assert_eq!(detail(&after, None), "2s..2s after");
        assert_eq!(detail(&Fault::Abort, None), "");
        let error = Fault::Error {
            message: Some("db gone".into()),
        };
        assert_eq!(detail(&error, None), "\"db gone\"");
        let bare = Fault::Return {
            status: 401,
            body: None,
        };
        assert_eq!(detail(&bare, None), "401");
        let body = Fault::Return {
            status: 401,
            body: Some("nope".into()),
        };
        assert_eq!(detail(&body, None), "401 \"nope\"");
        let long = Fault::Return {
            status: 500,
            body: Some("x".repeat(40)),
        };
        assert_eq!(detail(&long, Some(5)), "500 \"xxxx…\"");
    }

    #[test]
    fn table_aligns_columns() {
        let mut out = Vec::new();
        let rows = vec![
            vec!["1".to_owned(), "enabled".to_owned(), "a".to_owned()],
            vec!["10".to_owned(), "x".to_owned(), String::new()],
        ];
        write_table(&mut out, &["ID", "STATE", "NOTE"], &rows).expect("write to a Vec");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(text, "ID  STATE    NOTE\n1   enabled  a\n10  x\n");
    }
}
