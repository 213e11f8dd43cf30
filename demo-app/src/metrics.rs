//! `/metrics`: the chaos layer's counters in the Prometheus text format, read from the
//! layer's handle (an app using the `metrics` crate would copy the same figures into
//! its recorder instead).

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chaos_middleware::ChaosHandle;

pub async fn render(State(handle): State<ChaosHandle>) -> impl IntoResponse {
    let stats = handle.stats();
    let verbs = [
        ("slow", stats.injected_slow),
        ("return", stats.injected_return),
        ("abort", stats.injected_abort),
        ("panic", stats.injected_panic),
        ("point_slow", stats.injected_point_slow),
        ("point_error", stats.injected_point_error),
    ];
    let by_verb: Vec<(String, String)> = verbs
        .iter()
        .map(|(verb, n)| (format!("{{verb=\"{verb}\"}}"), n.to_string()))
        .collect();
    let plain = |value: String| vec![(String::new(), value)];
    let mut text = String::new();
    for (name, kind, help, samples) in [
        (
            "chaos_faults_injected_total",
            "counter",
            "Faults injected by the chaos layer, by verb.",
            by_verb,
        ),
        (
            "chaos_faults_skipped_by_cap_total",
            "counter",
            "Faults not injected because too many requests were already held by delays.",
            plain(stats.skipped_by_cap.to_string()),
        ),
        (
            "chaos_delays_clamped_total",
            "counter",
            "Delays cut down to the delay cap.",
            plain(stats.clamped_delays.to_string()),
        ),
        (
            "chaos_active_delays",
            "gauge",
            "Requests and fault points held by a delay right now.",
            plain(stats.active_delays.to_string()),
        ),
        (
            "chaos_rules",
            "gauge",
            "Active rules in the loaded snapshot, by kind.",
            vec![
                ("{kind=\"response\"}".to_owned(), stats.rules.to_string()),
                ("{kind=\"point\"}".to_owned(), stats.point_rules.to_string()),
            ],
        ),
        (
            "chaos_snapshot_generation",
            "gauge",
            "Store generation of the loaded snapshot (-1 before the first load).",
            plain(stats.generation.unwrap_or(-1).to_string()),
        ),
        (
            "chaos_snapshot_age_seconds",
            "gauge",
            "Time since the snapshot was built.",
            plain(format!("{:.3}", stats.snapshot_age.as_secs_f64())),
        ),
        (
            "chaos_enabled",
            "gauge",
            "Whether the chaos layer injects at all.",
            plain(u8::from(stats.enabled).to_string()),
        ),
    ] {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(text, "{name}{labels} {value}");
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
