//! Readable reports of one or more journals (ours or Chaos Toolkit's): Markdown, or HTML
//! with an inline SVG timeline.

use std::time::SystemTime;

use serde_json::Value;

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// GitHub-flavoured Markdown.
    Markdown,
    /// A standalone HTML page.
    Html,
}

fn parse_time(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let text = text
        .strip_suffix("+00:00")
        .map(|t| format!("{t}Z"))
        .unwrap_or_else(|| {
            if text.ends_with('Z') {
                text.to_owned()
            } else {
                format!("{text}Z")
            }
        });
    humantime::parse_rfc3339_weak(&text).ok()
}

/// An activity on the timeline.
struct Bar {
    phase: &'static str,
    label: String,
    status: String,
    offset: f64,
    duration: f64,
    tolerance_met: Option<bool>,
    output: String,
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

fn summary(output: &Value) -> String {
    let text = match output {
        Value::Null => String::new(),
        Value::Object(map) if map.contains_key("status") => {
            let mut parts = vec![format!("status {}", map["status"])];
            if let Some(id) = map.get("id") {
                parts.push(format!("id {id}"));
            }
            parts.join(", ")
        }
        other => other.to_string(),
    };
    let mut cut: String = text.chars().take(80).collect();
    if text.chars().count() > 80 {
        cut.push('…');
    }
    cut
}

fn bars(journal: &Value) -> Vec<Bar> {
    let start = parse_time(str_of(journal, "start"));
    let mut out = Vec::new();
    let mut push = |phase: &'static str, run: &Value| {
        let activity = run.get("activity").unwrap_or(&Value::Null);
        let offset = match (start, parse_time(str_of(run, "start"))) {
            (Some(s), Some(r)) => r.duration_since(s).map(|d| d.as_secs_f64()).unwrap_or(0.0),
            _ => 0.0,
        };
        out.push(Bar {
            phase,
            label: format!("{} {}", str_of(activity, "type"), str_of(activity, "name")),
            status: str_of(run, "status").to_owned(),
            offset,
            duration: run.get("duration").and_then(Value::as_f64).unwrap_or(0.0),
            tolerance_met: run.get("tolerance_met").and_then(Value::as_bool),
            output: summary(run.get("output").unwrap_or(&Value::Null)),
        });
    };
    let states = journal.get("steady_states").unwrap_or(&Value::Null);
    let probes = |state: &Value| -> Vec<Value> {
        state
            .get("probes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for run in probes(states.get("before").unwrap_or(&Value::Null)) {
        push("before", &run);
    }
    for state in states
        .get("during")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for run in probes(state) {
            push("during", &run);
        }
    }
    for run in journal
        .get("run")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        push("method", run);
    }
    for run in probes(states.get("after").unwrap_or(&Value::Null)) {
        push("after", &run);
    }
    for run in journal
        .get("rollbacks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        push("rollback", run);
    }
    out
}

fn met(state: &Value) -> &'static str {
    match state.get("steady_state_met").and_then(Value::as_bool) {
        Some(true) => "met",
        Some(false) => "not met",
        None => "not run",
    }
}

fn outcome(journal: &Value) -> String {
    let status = str_of(journal, "status");
    if journal.get("deviated").and_then(Value::as_bool) == Some(true) {
        format!("{status}, deviated")
    } else {
        status.to_owned()
    }
}

/// Renders the journals in one document.
pub fn render(journals: &[(String, Value)], format: Format) -> String {
    match format {
        Format::Markdown => markdown(journals),
        Format::Html => html(journals),
    }
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn markdown(journals: &[(String, Value)]) -> String {
    let mut out = String::from("# Chaos experiment report\n");
    for (source, journal) in journals {
        let experiment = journal.get("experiment").unwrap_or(&Value::Null);
        let states = journal.get("steady_states").unwrap_or(&Value::Null);
        out.push_str(&format!(
            "\n## {}\n\n",
            md_cell(str_of(experiment, "title"))
        ));
        let description = str_of(experiment, "description");
        if !description.is_empty() {
            out.push_str(&format!("{description}\n\n"));
        }
        out.push_str(&format!(
            "- **Journal**: `{source}`\n- **Status**: {}\n- **Started**: {}\n- **Ended**: {}\n- **Duration**: {:.3}s\n- **Steady state before**: {}\n- **Steady state after**: {}\n- **Checks during the method**: {}\n\n",
            outcome(journal),
            str_of(journal, "start"),
            str_of(journal, "end"),
            journal.get("duration").and_then(Value::as_f64).unwrap_or(0.0),
            met(states.get("before").unwrap_or(&Value::Null)),
            met(states.get("after").unwrap_or(&Value::Null)),
            states.get("during").and_then(Value::as_array).map_or(0, Vec::len),
        ));
        let bars = bars(journal);
        out.push_str(
            "| phase | activity | status | tolerance | start (s) | duration (s) | output |\n",
        );
        out.push_str("|---|---|---|---|---:|---:|---|\n");
        for bar in &bars {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.3} | {:.3} | {} |\n",
                bar.phase,
                md_cell(&bar.label),
                bar.status,
                tolerance_word(bar.tolerance_met),
                bar.offset,
                bar.duration,
                md_cell(&bar.output)
            ));
        }
        out.push_str("\n### Timeline\n\n```text\n");
        let total = timeline_total(&bars, journal);
        const WIDTH: f64 = 50.0;
        let label_width = bars
            .iter()
            .map(|b| b.label.chars().count())
            .max()
            .unwrap_or(0)
            .min(40);
        for bar in &bars {
            let from = ((bar.offset / total) * WIDTH).floor() as usize;
            let len = (((bar.duration / total) * WIDTH).ceil() as usize).max(1);
            let label: String = bar.label.chars().take(label_width).collect();
            out.push_str(&format!(
                "{:<9} {label:<label_width$} |{}{}\n",
                bar.phase,
                " ".repeat(from),
                if bar.status == "succeeded" {
                    "█"
                } else {
                    "▒"
                }
                .repeat(len)
            ));
        }
        out.push_str(&format!(
            "{:<9} {:<label_width$} 0s{:>49}\n",
            "",
            "",
            format!("{total:.2}s")
        ));
        out.push_str("```\n");
    }
    out
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn svg(bars: &[Bar], total: f64) -> String {
    let (left, width, row) = (260.0, 560.0, 22.0);
    let height = row * bars.len() as f64 + 30.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"timeline\">",
        left + width + 20.0
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = i as f64 * row + 4.0;
        let x = left + bar.offset / total * width;
        let w = (bar.duration / total * width).max(2.0);
        let colour = match (bar.status.as_str(), bar.tolerance_met) {
            ("succeeded", Some(false)) => "#e0a000",
            ("succeeded", _) => "#2e9d4f",
            _ => "#c62828",
        };
        out.push_str(&format!(
            "<text x=\"4\" y=\"{}\" font-size=\"12\">{} · {}</text><rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{colour}\"><title>{} {:.3}s</title></rect>",
            y + 13.0,
            bar.phase,
            esc(&bar.label),
            row - 6.0,
            esc(&bar.label),
            bar.duration
        ));
    }
    let axis = bars.len() as f64 * row + 20.0;
    out.push_str(&format!(
        "<text x=\"{left}\" y=\"{axis}\" font-size=\"11\">0s</text><text x=\"{}\" y=\"{axis}\" font-size=\"11\" text-anchor=\"end\">{total:.2}s</text></svg>",
        left + width
    ));
    out
}

fn html(journals: &[(String, Value)]) -> String {
    let mut out = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Chaos experiment report</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}.failed{color:#c62828}.succeeded{color:#2e9d4f}</style></head><body>\n<h1>Chaos experiment report</h1>\n",
    );
    for (source, journal) in journals {
        let experiment = journal.get("experiment").unwrap_or(&Value::Null);
        let states = journal.get("steady_states").unwrap_or(&Value::Null);
        out.push_str(&format!(
            "<section><h2>{}</h2><p>{}</p><ul><li><b>Journal</b>: <code>{}</code></li><li><b>Status</b>: {}</li><li><b>Started</b>: {}</li><li><b>Duration</b>: {:.3}s</li><li><b>Steady state before</b>: {}</li><li><b>Steady state after</b>: {}</li></ul>\n",
            esc(str_of(experiment, "title")),
            esc(str_of(experiment, "description")),
            esc(source),
            esc(&outcome(journal)),
            esc(str_of(journal, "start")),
            journal.get("duration").and_then(Value::as_f64).unwrap_or(0.0),
            met(states.get("before").unwrap_or(&Value::Null)),
            met(states.get("after").unwrap_or(&Value::Null)),
        ));
        let bars = bars(journal);
        out.push_str("<table><tr><th>phase</th><th>activity</th><th>status</th><th>tolerance</th><th>start (s)</th><th>duration (s)</th><th>output</th></tr>\n");
        for bar in &bars {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td></tr>\n",
                bar.phase,
                esc(&bar.label),
                esc(&bar.status),
                esc(&bar.status),
                tolerance_word(bar.tolerance_met),
                bar.offset,
                bar.duration,
                esc(&bar.output)
            ));
        }
        out.push_str("</table>\n<h3>Timeline</h3>\n");
        let total = timeline_total(&bars, journal);
        out.push_str(&svg(&bars, total));
        out.push_str("</section>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// `met`, `missed`, or nothing for activities without a tolerance.
fn tolerance_word(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "missed",
        None => "",
    }
}

/// The timeline's length in seconds: the journal's duration or the last bar's end.
fn timeline_total(bars: &[Bar], journal: &Value) -> f64 {
    let duration = journal
        .get("duration")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    bars.iter()
        .map(|b| b.offset + b.duration)
        .fold(duration, f64::max)
        .max(1e-3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn journal() -> Value {
        json!({
            "experiment": {"title": "Provider down", "description": "d"},
            "start": "2024-05-01T10:00:00.000000+00:00",
            "end": "2024-05-01T10:00:02.000000+00:00",
            "duration": 2.0, "status": "completed", "deviated": true,
            "steady_states": {
                "before": {"steady_state_met": true, "probes": [{"activity": {"type": "probe", "name": "consumer-ok"},
                    "status": "succeeded", "start": "2024-05-01T10:00:00.100000+00:00", "duration": 0.1,
                    "tolerance_met": true, "output": {"status": 200}}]},
                "after": {"steady_state_met": false, "probes": [{"activity": {"type": "probe", "name": "consumer-ok"},
                    "status": "succeeded", "start": "2024-05-01T10:00:01.500000+00:00", "duration": 0.1,
                    "tolerance_met": false, "output": {"status": 500}}]},
                "during": []
            },
            "run": [{"activity": {"type": "action", "name": "provider-503"}, "status": "succeeded",
                     "start": "2024-05-01T10:00:00.500000+00:00", "duration": 0.5, "output": {"id": 1}}],
            "rollbacks": [{"activity": {"type": "action", "name": "remove"}, "status": "failed",
                     "start": "2024-05-01T10:00:01.800000+00:00", "duration": 0.1, "output": null}]
        })
    }

    #[test]
    fn markdown_has_outcome_table_and_timeline() {
        let text = render(&[("j.json".into(), journal())], Format::Markdown);
        assert!(text.contains("## Provider down"), "{text}");
        assert!(text.contains("**Status**: completed, deviated"), "{text}");
        assert!(text.contains("**Steady state before**: met"), "{text}");
        assert!(text.contains("**Steady state after**: not met"), "{text}");
        assert!(
            text.contains("| method | action provider-503 | succeeded |  | 0.500 | 0.500 |"),
            "{text}"
        );
        assert!(
            text.contains("| after | probe consumer-ok | succeeded | missed | 1.500 |"),
            "{text}"
        );
        assert!(text.contains("### Timeline"), "{text}");
    }

    #[test]
    fn html_escapes_and_draws_svg() {
        let mut j = journal();
        j["experiment"]["title"] = json!("<script>");
        let text = render(&[("j.json".into(), j)], Format::Html);
        assert!(text.contains("&lt;script&gt;"));
        assert!(!text.contains("<script>"));
        assert_eq!(text.matches("<rect").count(), 4);
    }
}
