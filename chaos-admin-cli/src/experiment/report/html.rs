//! The HTML report: one standalone page, tables and an inline SVG timeline, no scripts or
//! external assets. Everything from the journal is escaped.

use super::{
    ACTIVITY_COLUMNS, OVERVIEW_COLUMNS, Summary, TITLE, Tone, overview_row, tick_label, ticks,
};

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}td.n{text-align:right}.failed{color:#c62828}.succeeded{color:#2e9d4f}";

fn colour(tone: Tone) -> &'static str {
    match tone {
        Tone::Succeeded => "#2e9d4f",
        Tone::Missed => "#e0a000",
        Tone::Failed => "#c62828",
    }
}

/// A table; the columns at `numeric` are right-aligned.
fn table<R: AsRef<[String]>>(columns: &[&str], rows: &[R], numeric: &[usize]) -> String {
    let mut out = String::from("<table><tr>");
    for column in columns {
        out.push_str(&format!("<th>{}</th>", esc(column)));
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str("<tr>");
        for (i, text) in row.as_ref().iter().enumerate() {
            let class = match text.as_str() {
                _ if numeric.contains(&i) => " class=\"n\"",
                "failed" => " class=\"failed\"",
                "succeeded" => " class=\"succeeded\"",
                _ => "",
            };
            out.push_str(&format!("<td{class}>{}</td>", esc(text)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

fn svg(summary: &Summary) -> String {
    let (left, width, row) = (260.0, 560.0, 22.0);
    let bars = &summary.bars;
    let total = summary.total;
    let height = row * bars.len() as f64 + 30.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"timeline\">",
        left + width + 20.0
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = i as f64 * row + 4.0;
        let x = left + bar.offset / total * width;
        let w = (bar.duration / total * width).max(2.0);
        out.push_str(&format!(
            "<text x=\"4\" y=\"{}\" font-size=\"12\">{} · {}</text><rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"><title>{} {:.3}s</title></rect>",
            y + 13.0,
            bar.phase,
            esc(&bar.label),
            row - 6.0,
            colour(bar.tone()),
            esc(&bar.label),
            bar.duration
        ));
    }
    let axis = bars.len() as f64 * row + 20.0;
    for tick in ticks(total) {
        let x = left + tick / total * width;
        out.push_str(&format!(
            "<line x1=\"{x:.1}\" y1=\"0\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#ddd\"/><text x=\"{x:.1}\" y=\"{axis}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            axis - 12.0,
            tick_label(tick)
        ));
    }
    out.push_str("</svg>");
    out
}

pub(super) fn render(summaries: &[Summary]) -> String {
    let mut out = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{TITLE}</title>\n<style>{STYLE}</style></head><body>\n<h1>{TITLE}</h1>\n"
    );
    if summaries.len() > 1 {
        out.push_str("<h2>Overview</h2>\n");
        let rows: Vec<[String; 6]> = summaries.iter().map(overview_row).collect();
        out.push_str(&table(&OVERVIEW_COLUMNS, &rows, &[5]));
    }
    for summary in summaries {
        out.push_str(&format!("<section><h2>{}</h2>", esc(&summary.title)));
        if !summary.description.is_empty() {
            out.push_str(&format!("<p>{}</p>", esc(&summary.description)));
        }
        out.push_str("<ul>");
        for (label, value) in summary.facts() {
            let value = if label == "Journal" {
                format!("<code>{}</code>", esc(&value))
            } else {
                esc(&value)
            };
            out.push_str(&format!("<li><b>{label}</b>: {value}</li>"));
        }
        out.push_str("</ul>\n");
        let rows: Vec<[String; 7]> = summary.bars.iter().map(|b| b.cells()).collect();
        out.push_str(&table(&ACTIVITY_COLUMNS, &rows, &[4, 5]));
        out.push_str("<h3>Timeline</h3>\n");
        out.push_str(&svg(summary));
        out.push_str("</section>\n");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::journal;
    use super::super::{Format, render};
    use serde_json::json;

    #[test]
    fn html_escapes_and_draws_svg() {
        let mut j = journal();
        j["experiment"]["title"] = json!("<script>");
        j["run"][0]["activity"]["name"] = json!("<img src=x onerror=alert(1)>");
        let text = String::from_utf8(render(&[("j.json".into(), j)], Format::Html)).expect("UTF-8");
        assert!(text.contains("&lt;script&gt;"));
        assert!(!text.contains("<script>"));
        assert!(!text.contains("<img"));
        assert!(
            text.contains("<li><b>Checks during the method</b>: 0</li>"),
            "{text}"
        );
        assert_eq!(text.matches("<rect").count(), 4);
        assert!(text.contains(">1.5s</text>"), "{text}");
    }
}
