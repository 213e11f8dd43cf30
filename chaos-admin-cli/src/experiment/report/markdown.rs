//! The Markdown report: GitHub-flavoured tables and a text timeline.

use super::{ACTIVITY_COLUMNS, OVERVIEW_COLUMNS, Summary, TITLE, overview_row};

/// Text as Markdown shows it literally: emphasis, code, link and heading marks
/// backslash-escaped, `<` as `&lt;` (no raw HTML), line breaks as spaces (a table cell).
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A table header; the columns at `numeric` are right-aligned.
fn table_head(columns: &[&str], numeric: &[usize]) -> String {
    let mut out = format!("| {} |\n|", columns.join(" | "));
    for i in 0..columns.len() {
        out.push_str(if numeric.contains(&i) {
            "---:|"
        } else {
            "---|"
        });
    }
    out.push('\n');
    out
}

fn table_row<S: AsRef<str>>(cells: &[S]) -> String {
    let cells: Vec<String> = cells.iter().map(|c| cell(c.as_ref())).collect();
    format!("| {} |\n", cells.join(" | "))
}

pub(super) fn render(summaries: &[Summary]) -> String {
    let mut out = format!("# {TITLE}\n");
    if summaries.len() > 1 {
        out.push_str("\n## Overview\n\n");
        out.push_str(&table_head(&OVERVIEW_COLUMNS, &[5]));
        for summary in summaries {
            out.push_str(&table_row(&overview_row(summary)));
        }
    }
    for summary in summaries {
        out.push_str(&format!("\n## {}\n\n", cell(&summary.title)));
        if !summary.description.is_empty() {
            out.push_str(&format!("{}\n\n", cell(&summary.description)));
        }
        for (label, value) in summary.facts() {
            let value = cell(&value);
            out.push_str(&format!("- **{label}**: {value}\n"));
        }
        out.push('\n');
        out.push_str(&table_head(&ACTIVITY_COLUMNS, &[4, 5]));
        for bar in &summary.bars {
            out.push_str(&table_row(&bar.cells()));
        }
        out.push_str("\n### Timeline\n\n```text\n");
        out.push_str(&timeline(summary));
        out.push_str("```\n");
    }
    out
}

/// Bars of `█` (succeeded) or `▒` (otherwise) on a 50-column axis.
fn timeline(summary: &Summary) -> String {
    const WIDTH: f64 = 50.0;
    let total = summary.total;
    let label_width = summary
        .bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0)
        .min(40);
    let mut out = String::new();
    for bar in &summary.bars {
        let from = ((bar.offset / total) * WIDTH).floor() as usize;
        let len = (((bar.duration / total) * WIDTH).ceil() as usize).max(1);
        let label: String = bar.label.chars().take(label_width).collect();
        let glyph = if bar.status == "succeeded" {
            "█"
        } else {
            "▒"
        };
        out.push_str(&format!(
            "{:<9} {label:<label_width$} |{}{}\n",
            bar.phase,
            " ".repeat(from),
            glyph.repeat(len)
        ));
    }
    out.push_str(&format!(
        "{:<9} {:<label_width$} 0s{:>49}\n",
        "",
        "",
        format!("{total:.2}s")
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::journal;
    use super::super::{Format, render as render_any};

    fn markdown(journals: &[(String, serde_json::Value)]) -> String {
        String::from_utf8(render_any(journals, Format::Markdown)).expect("UTF-8")
    }

    #[test]
    fn markdown_has_outcome_table_and_timeline() {
        let text = markdown(&[("j.json".into(), journal())]);
        assert!(text.contains("## Provider down"), "{text}");
        assert!(text.contains("- **Status**: completed, deviated"), "{text}");
        assert!(text.contains("- **Steady state before**: met"), "{text}");
        assert!(text.contains("- **Steady state after**: not met"), "{text}");
        assert!(text.contains("|---|---|---|---|---:|---:|---|\n"), "{text}");
        assert!(
            text.contains("| method | action provider-503 | succeeded |  | 0.500 | 0.500 |"),
            "{text}"
        );
        assert!(
            text.contains("| after | probe consumer-ok | succeeded | missed | 1.500 |"),
            "{text}"
        );
        assert!(text.contains("### Timeline"), "{text}");
        assert!(!text.contains("## Overview"), "{text}");
    }

    #[test]
    fn several_journals_get_an_overview() {
        let mut second = journal();
        second["experiment"]["title"] = "A | B".into();
        second["deviated"] = false.into();
        let text = markdown(&[("a.json".into(), journal()), ("b.json".into(), second)]);
        assert!(text.contains("## Overview"), "{text}");
        let mut marked = journal();
        marked["run"][0]["activity"]["name"] = "*bold* `code` <b>x</b>".into();
        let escaped = markdown(&[("j.json".into(), marked)]);
        assert!(
            escaped.contains("action \\*bold\\* \\`code\\` &lt;b>x&lt;/b>"),
            "{escaped}"
        );
        assert!(
            text.contains(
                "| Provider down | a.json | completed, deviated | met | not met | 2.000 |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| A \\| B | b.json | completed | met |"),
            "{text}"
        );
    }
}
