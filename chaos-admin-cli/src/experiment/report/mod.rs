//! Readable reports of one or more journals (ours or Chaos Toolkit's): Markdown, HTML with an
//! inline SVG timeline, or PDF. The three formats render the same [`Summary`] of each
//! journal — an overview when there are several, then per journal its outcome, the
//! steady-state hypothesis before and after, every activity with its timing, and a timeline
//! — so they never disagree about what happened.

mod html;
mod markdown;
mod pdf;

use std::path::Path;
use std::time::SystemTime;

use serde_json::Value;

/// Report formats (Chaos Toolkit's `--export-format` names where they overlap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// GitHub-flavoured Markdown.
    #[value(alias = "md")]
    Markdown,
    /// A standalone HTML page (no external assets).
    Html,
    /// An A4 PDF document in PDF's standard fonts (nothing embedded, no external tools).
    Pdf,
}

impl Format {
    /// The format a report path asks for by its extension (`.md`, `.html`/`.htm`, `.pdf`,
    /// case-insensitive); `None` for any other or no extension.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "md" | "markdown" => Some(Format::Markdown),
            "html" | "htm" => Some(Format::Html),
            "pdf" => Some(Format::Pdf),
            _ => None,
        }
    }

    /// Whether the output is binary (not for a terminal).
    pub fn is_binary(self) -> bool {
        self == Format::Pdf
    }
}

/// Renders the journals (each with the path it was read from) in one document.
pub fn render(journals: &[(String, Value)], format: Format) -> Vec<u8> {
    let summaries: Vec<Summary> = journals
        .iter()
        .map(|(source, journal)| Summary::of(source, journal))
        .collect();
    match format {
        Format::Markdown => markdown::render(&summaries).into_bytes(),
        Format::Html => html::render(&summaries).into_bytes(),
        Format::Pdf => pdf::render(&summaries),
    }
}

/// The document title of every format.
const TITLE: &str = "Chaos experiment report";

/// What a report shows of one journal.
struct Summary {
    /// The path the journal was read from.
    source: String,
    /// `experiment.title`.
    title: String,
    /// `experiment.description` (may be empty).
    description: String,
    /// `status`, with `, deviated` when the hypothesis deviated.
    outcome: String,
    /// The journal's `start`, as written.
    started: String,
    /// The journal's `end`, as written.
    ended: String,
    /// The journal's `duration`, in s.
    duration: f64,
    /// Whether the steady state was met before the method (`met`, `not met`, `not run`).
    before: &'static str,
    /// The same after the method.
    after: &'static str,
    /// How many continuous checks ran during the method.
    during: usize,
    /// Every activity in the order of the phases.
    bars: Vec<Bar>,
    /// The timeline's length in s: the journal's duration or the last activity's end.
    total: f64,
}

impl Summary {
    fn of(source: &str, journal: &Value) -> Summary {
        let experiment = journal.get("experiment").unwrap_or(&Value::Null);
        let states = journal.get("steady_states").unwrap_or(&Value::Null);
        let status = str_of(journal, "status");
        let deviated = journal.get("deviated").and_then(Value::as_bool) == Some(true);
        let duration = journal
            .get("duration")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let bars = bars(journal);
        let total = bars
            .iter()
            .map(|b| b.offset + b.duration)
            .fold(duration, f64::max)
            .max(1e-3);
        Summary {
            source: source.to_owned(),
            title: match str_of(experiment, "title") {
                "" => "(untitled experiment)".to_owned(),
                title => title.to_owned(),
            },
            description: str_of(experiment, "description").to_owned(),
            outcome: if deviated {
                format!("{status}, deviated")
            } else {
                status.to_owned()
            },
            started: str_of(journal, "start").to_owned(),
            ended: str_of(journal, "end").to_owned(),
            duration,
            before: met(states.get("before").unwrap_or(&Value::Null)),
            after: met(states.get("after").unwrap_or(&Value::Null)),
            during: states
                .get("during")
                .and_then(Value::as_array)
                .map_or(0, Vec::len),
            bars,
            total,
        }
    }

    /// The labelled facts listed under the title, in order.
    fn facts(&self) -> Vec<(&'static str, String)> {
        vec![
            ("Journal", self.source.clone()),
            ("Status", self.outcome.clone()),
            ("Started", self.started.clone()),
            ("Ended", self.ended.clone()),
            ("Duration", format!("{:.3}s", self.duration)),
            ("Steady state before", self.before.to_owned()),
            ("Steady state after", self.after.to_owned()),
            ("Checks during the method", self.during.to_string()),
        ]
    }
}

/// The columns of the overview of several journals.
const OVERVIEW_COLUMNS: [&str; 6] = [
    "experiment",
    "journal",
    "status",
    "before",
    "after",
    "duration (s)",
];

/// One overview row: the cells of [`OVERVIEW_COLUMNS`] (the journal by its file name).
fn overview_row(summary: &Summary) -> [String; 6] {
    let file = std::path::Path::new(&summary.source)
        .file_name()
        .map_or_else(
            || summary.source.clone(),
            |n| n.to_string_lossy().into_owned(),
        );
    [
        summary.title.clone(),
        file,
        summary.outcome.clone(),
        summary.before.to_owned(),
        summary.after.to_owned(),
        format!("{:.3}", summary.duration),
    ]
}

/// The columns of the activities table.
const ACTIVITY_COLUMNS: [&str; 7] = [
    "phase",
    "activity",
    "status",
    "tolerance",
    "start (s)",
    "duration (s)",
    "output",
];

/// One activity on the timeline.
struct Bar {
    /// `before`, `during`, `method`, `after` or `rollback`.
    phase: &'static str,
    /// `<type> <name>`.
    label: String,
    /// The run's `status` (`succeeded`, `failed`, …).
    status: String,
    /// Start, in s after the journal's start.
    offset: f64,
    /// Duration, in s.
    duration: f64,
    /// Whether the probe's tolerance was met (`None` without a tolerance).
    tolerance_met: Option<bool>,
    /// A one-line summary of the output, at most 80 characters.
    output: String,
}

/// How a bar is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    /// Ran and, if it has a tolerance, met it.
    Succeeded,
    /// Ran but its tolerance was not met.
    Missed,
    /// Did not succeed.
    Failed,
}

impl Bar {
    fn tone(&self) -> Tone {
        match (self.status.as_str(), self.tolerance_met) {
            ("succeeded", Some(false)) => Tone::Missed,
            ("succeeded", _) => Tone::Succeeded,
            _ => Tone::Failed,
        }
    }

    /// The cells of [`ACTIVITY_COLUMNS`].
    fn cells(&self) -> [String; 7] {
        [
            self.phase.to_owned(),
            self.label.clone(),
            self.status.clone(),
            tolerance_word(self.tolerance_met).to_owned(),
            format!("{:.3}", self.offset),
            format!("{:.3}", self.duration),
            self.output.clone(),
        ]
    }
}

/// Parses a journal time: RFC 3339 with or without an offset (Chaos Toolkit writes
/// `2024-05-01T10:00:00.000000` in UTC without one).
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

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A one-line summary of an activity's output, at most 80 characters.
fn output_summary(output: &Value) -> String {
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

/// The last non-blank line of a run's `exception` (Chaos Toolkit's traceback lines), at
/// most 80 characters.
fn exception_line(run: &Value) -> String {
    let lines = run.get("exception").and_then(Value::as_array);
    let last = lines
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .flat_map(str::lines)
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .unwrap_or("");
    output_summary(&Value::String(last.to_owned()))
        .trim_matches('"')
        .to_owned()
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
            // A crashed activity has no status (and aborted the run).
            status: run
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("aborted")
                .to_owned(),
            offset,
            duration: run.get("duration").and_then(Value::as_f64).unwrap_or(0.0),
            tolerance_met: run.get("tolerance_met").and_then(Value::as_bool),
            output: match output_summary(run.get("output").unwrap_or(&Value::Null)) {
                // A failed activity: why, from the last line of its exception.
                text if text.is_empty() => exception_line(run),
                text => text,
            },
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

/// `met`, `missed`, or nothing for activities without a tolerance.
fn tolerance_word(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "missed",
        None => "",
    }
}

/// Axis ticks for a timeline of `total` s: 0 and multiples of a 1-2-5 step, at most 6.
fn ticks(total: f64) -> Vec<f64> {
    let rough = (total / 5.0).max(1e-3);
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude);
    (0..)
        .map(|i| f64::from(i) * step)
        .take_while(|t| *t <= total + step * 1e-9)
        .collect()
}

/// A tick label: `0s`, `0.5s`, `2s`, `1.25s`.
fn tick_label(seconds: f64) -> String {
    let text = format!("{seconds:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}s")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A deviated run: probe met before, action, probe missed after, failed rollback.
    pub(super) fn journal() -> Value {
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
    fn summary_reads_outcome_phases_and_offsets() {
        let summary = Summary::of("j.json", &journal());
        assert_eq!(summary.outcome, "completed, deviated");
        assert_eq!((summary.before, summary.after), ("met", "not met"));
        let phases: Vec<&str> = summary.bars.iter().map(|b| b.phase).collect();
        assert_eq!(phases, ["before", "method", "after", "rollback"]);
        let tones: Vec<Tone> = summary.bars.iter().map(Bar::tone).collect();
        assert_eq!(
            tones,
            [Tone::Succeeded, Tone::Succeeded, Tone::Missed, Tone::Failed]
        );
        assert!((summary.bars[1].offset - 0.5).abs() < 1e-9);
        assert!((summary.total - 2.0).abs() < 1e-9);
        let mut failed = journal();
        failed["rollbacks"][0]["exception"] =
            json!(["Traceback...\n", "ActivityFailed: connection refused\n"]);
        let summary = Summary::of("j.json", &failed);
        assert_eq!(summary.bars[3].output, "ActivityFailed: connection refused");
    }

    #[test]
    fn a_journal_missing_everything_still_summarises() {
        let summary = Summary::of("j.json", &json!({"experiment": 1, "status": "failed"}));
        assert_eq!(summary.outcome, "failed");
        assert_eq!(summary.title, "(untitled experiment)");
        assert_eq!(summary.before, "not run");
        assert!(summary.bars.is_empty());
        assert!(summary.total > 0.0);
    }

    #[test]
    fn ticks_step_by_one_two_five() {
        assert_eq!(ticks(2.0), [0.0, 0.5, 1.0, 1.5, 2.0]);
        assert_eq!(ticks(7.3), [0.0, 2.0, 4.0, 6.0]);
        assert_eq!(ticks(120.0), [0.0, 50.0, 100.0]);
        assert_eq!(tick_label(0.0), "0s");
        assert_eq!(tick_label(0.5), "0.5s");
        assert_eq!(tick_label(100.0), "100s");
    }

    #[test]
    fn formats_from_paths() {
        assert_eq!(Format::from_path(Path::new("r.PDF")), Some(Format::Pdf));
        assert_eq!(Format::from_path(Path::new("r.htm")), Some(Format::Html));
        assert_eq!(Format::from_path(Path::new("r.md")), Some(Format::Markdown));
        assert_eq!(Format::from_path(Path::new("r.txt")), None);
        assert_eq!(Format::from_path(Path::new("report")), None);
    }
}
