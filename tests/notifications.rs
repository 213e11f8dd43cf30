//! Notifications end to end, with the real binaries and a local webhook receiver: every
//! kind of change reaches the webhooks that want it, once each, whoever delivers (the
//! demo app's layer, the CLI's background delivery, `chaos-admin serve`); failures are
//! retried and shown; `run` tells the store's webhooks and Chaos Toolkit's settings
//! channels.

use std::collections::BTreeMap;

use e2e::{AdminServer, DemoApp, TestStore, WebhookReceiver, admin, admin_ok, poll};
use serde_json::{Value, json};

/// Thousands of requests: log only warnings.
const QUIET: &[(&str, &str)] = &[("RUST_LOG", "warn")];

#[test]
fn sqlite_every_change_is_told_once() {
    every_change_is_told_once(&TestStore::sqlite());
}

#[test]
fn postgres_every_change_is_told_once() {
    if let Some(store) = TestStore::postgres() {
        every_change_is_told_once(&store);
    }
}

#[test]
fn mysql_every_change_is_told_once() {
    if let Some(store) = TestStore::mysql() {
        every_change_is_told_once(&store);
    }
}

/// How many bodies of each event a path got.
fn counts(receiver: &WebhookReceiver, path: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for body in receiver.bodies(path) {
        let event = body["event"].as_str().unwrap_or("?").to_owned();
        *counts.entry(event).or_default() += 1;
    }
    counts
}

fn webhooks(url: &str) -> Value {
    serde_json::from_str(&admin_ok(url, &["notify", "list", "--json"])).expect("JSON")
}

fn every_change_is_told_once(store: &TestStore) {
    let url = store.url();
    let receiver = WebhookReceiver::start();
    let app = DemoApp::start_with_env(url, QUIET);
    assert_eq!(
        admin_ok(url, &["notify", "add", &receiver.url("/all")]),
        "1\n"
    );
    admin_ok(
        url,
        &[
            "notify",
            "add",
            &receiver.url("/guards"),
            "--events",
            "guard.*",
        ],
    );
    // Actions.
    admin_ok(url, &["create", "return", "checkout", "418"]);
    admin_ok(url, &["disable", "--all"]);
    admin_ok(url, &["enable", "--all"]);
    admin_ok(url, &["delete", "--all", "--yes"]);
    admin_ok(url, &["create", "abort", "cart", "--for", "1s"]);
    // A storm and an exercise.
    admin_ok(
        url,
        &["storm", "--user", "alice", "--view", "items", "--seed", "4"],
    );
    admin_ok(url, &["storm", "--end"]);
    admin_ok(
        url,
        &[
            "exercise", "start", "--view", "items", "--seed", "5", "--force",
        ],
    );
    admin_ok(url, &["exercise", "end"]);
    // A guard the demo app trips with its own 503s, then a reset.
    admin_ok(
        url,
        &["guard", "set", "--max-error-rate", "20%", "--window", "10s"],
    );
    admin_ok(url, &["create", "point", "error", "db.items"]);
    poll("the point error on items", || {
        (app.get("/items").status == 503).then_some(())
    });
    poll("the app to trip the guard", || {
        (app.get("/items").status == 200).then_some(())
    });
    admin_ok(url, &["guard", "reset"]);
    admin_ok(url, &["notify", "test"]);
    let expected: BTreeMap<String, usize> = [
        ("action.created", 3),
        ("action.disabled", 1),
        ("action.enabled", 1),
        ("action.deleted", 1),
        ("action.expired", 1),
        ("storm.started", 1),
        ("storm.ended", 1),
        ("exercise.started", 1),
        ("exercise.ended", 1),
        ("guard.tripped", 1),
        ("guard.reset", 1),
        ("test", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    poll("every event at /all", || {
        (counts(&receiver, "/all") == expected).then_some(())
    });
    // Nothing is queued any more, and each was delivered once (no deliverer sent one
    // twice): the store's counts match what arrived.
    let (hooks, _) = poll("the queue to empty", || {
        let hooks = webhooks(url);
        (hooks[0]["pending"] == 0 && hooks[1]["pending"] == 0).then_some(hooks)
    });
    assert_eq!(counts(&receiver, "/all"), expected, "no duplicates");
    assert_eq!(hooks[0]["delivered"], 14, "{hooks}");
    assert_eq!(hooks[0]["failed"], 0, "{hooks}");
    // The guard webhook got only guard events.
    assert_eq!(
        counts(&receiver, "/guards"),
        [
            ("guard.reset".to_owned(), 1),
            ("guard.tripped".to_owned(), 1)
        ]
        .into_iter()
        .collect()
    );
    let bodies = receiver.bodies("/all");
    let find = |event: &str| {
        bodies
            .iter()
            .find(|b| b["event"] == event)
            .unwrap_or_else(|| panic!("{event} in {bodies:?}"))
            .clone()
    };
    // Slack-compatible: a one-line `text`; JSON details beside it.
    for body in &bodies {
        let text = body["text"].as_str().expect("text");
        assert!(text.starts_with("chaos-rs: "), "{body}");
        assert!(!text.contains('\n'), "{body}");
        assert!(
            body["store"].as_str().is_some_and(|s| !s.is_empty()),
            "{body}"
        );
        assert!(
            body["at"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{body}"
        );
    }
    let tripped = find("guard.tripped");
    assert!(
        tripped["text"]
            .as_str()
            .is_some_and(|t| t.contains("error rate") && t.contains("guard reset")),
        "{tripped}"
    );
    assert_eq!(tripped["details"]["guard"], 1);
    assert!(
        find("action.created")["text"]
            .as_str()
            .is_some_and(|t| t.contains("response return checkout 418")),
        "{bodies:?}"
    );
    assert!(
        find("action.expired")["text"]
            .as_str()
            .is_some_and(|t| t.contains("on cart expired")),
        "{bodies:?}"
    );
    // An exercise stays secret: its notifications name no view and no fault.
    for event in ["exercise.started", "exercise.ended"] {
        let text = find(event)["text"].as_str().unwrap_or("").to_owned();
        assert!(!text.contains("items"), "{text}");
    }
    // Every post names its delivery, the same on each attempt (at least once).
    assert!(
        receiver.received().iter().all(|r| r
            .headers
            .iter()
            .any(|(k, v)| k == "x-chaos-delivery-id" && v.parse::<i64>().is_ok())),
        "a delivery id on every post"
    );
    let headers = &receiver.received()[0].headers;
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/json"),
        "{headers:?}"
    );
}

/// A webhook that answers 500, and one nobody listens on: retried with backoff, the error
/// shown in `notify list`; the command that caused them returns at once either way.
#[test]
fn failed_deliveries_are_retried_and_shown() {
    let store = TestStore::sqlite();
    let url = store.url();
    let receiver = WebhookReceiver::start();
    let closed = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    admin_ok(url, &["notify", "add", &receiver.url("/fail")]);
    admin_ok(
        url,
        &["notify", "add", &format!("http://127.0.0.1:{closed}/gone")],
    );
    admin_ok(url, &["create", "return", "items", "503"]);
    let (hooks, _) = poll("two failed attempts at the 500 webhook", || {
        let hooks = webhooks(url);
        (receiver.bodies("/fail").len() >= 2 && hooks[1]["last_error"].is_string()).then_some(hooks)
    });
    let failing = &hooks[0];
    assert!(
        failing["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("HTTP 500") && e.contains("nope") && e.contains("of 6")),
        "{hooks}"
    );
    assert_eq!(failing["delivered"], 0);
    assert_eq!(failing["pending"], 1, "still retried: {hooks}");
    assert!(
        failing["last_error_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{hooks}"
    );
    assert!(
        hooks[1]["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{hooks}"
    );
    // The same body each time: a retry, not a new event.
    let bodies = receiver.bodies("/fail");
    assert_eq!(bodies[0], bodies[1]);
    let table = admin_ok(url, &["notify", "list"]);
    assert!(table.contains("HTTP 500"), "{table}");
    // Removing a webhook drops its queue.
    admin_ok(url, &["notify", "remove", "1"]);
    let hooks = webhooks(url);
    assert_eq!(hooks.as_array().map(Vec::len), Some(1), "{hooks}");
}

#[test]
fn bad_notify_input_is_refused_and_changes_nothing() {
    let store = TestStore::sqlite();
    let url = store.url();
    admin_ok(url, &["notify", "add", "http://127.0.0.1:9/ok"]);
    for (args, needle) in [
        (
            &["notify", "add", "ftp://example.com/x"][..],
            "'ftp://example.com/x'",
        ),
        (
            &["notify", "add", "hooks.slack.com"][..],
            "'hooks.slack.com'",
        ),
        (
            &["notify", "add", "http://x/", "--events", "guard.exploded"][..],
            "'guard.exploded'",
        ),
        (&["notify", "add", "http://x/", "--events", ""][..], "''"),
        (&["notify", "remove", "7"][..], "unknown webhook id 7"),
        (&["notify", "remove", "x"][..], "'x'"),
        (&["notify", "deliver", "--for", "soon"][..], "'soon'"),
    ] {
        let output = admin(url, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(
            stderr.lines().filter(|l| l.contains("error")).count(),
            1,
            "{stderr}"
        );
    }
    let hooks = webhooks(url);
    assert_eq!(hooks.as_array().map(Vec::len), Some(1), "{hooks}");
}

/// `run` tells the store's webhooks (experiment.started, .deviated, .ended) and the http
/// channels of Chaos Toolkit's settings (run-started, run-failed, run-deviated), with
/// their headers, event filters and `forward_event_payload: false` (a GET).
#[test]
fn experiment_runs_are_told_to_the_store_and_to_chaos_toolkit_settings() {
    let store = TestStore::sqlite();
    let url = store.url();
    let receiver = WebhookReceiver::start();
    admin_ok(
        url,
        &[
            "notify",
            "add",
            &receiver.url("/store"),
            "--events",
            "experiment.*",
        ],
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = dir.path().join("settings.yaml");
    std::fs::write(
        &settings,
        format!(
            "notifications:\n  - type: http\n    url: {}\n    headers:\n      Authorization: Bearer 1234\n  - type: http\n    url: {}\n    forward_event_payload: false\n    events:\n      - run-deviated\n  - type: plugin\n    module: chaosslack.notification\n",
            receiver.url("/ctk"),
            receiver.url("/ctk-get")
        ),
    )
    .expect("write settings");
    // The hypothesis fails after the method: completed, deviated.
    let file = dir.path().join("flag");
    std::fs::write(&file, "").expect("flag file");
    let experiment = json!({
        "title": "the flag survives",
        "description": "d",
        "steady-state-hypothesis": {"title": "flag exists", "probes": [
            {"type": "probe", "name": "flag-exists", "tolerance": 0,
             "provider": {"type": "process", "path": "test", "arguments": ["-f", file.display().to_string()]}}
        ]},
        "method": [
            {"type": "action", "name": "remove-flag",
             "provider": {"type": "process", "path": "rm", "arguments": ["-f", file.display().to_string()]}}
        ]
    });
    let path = dir.path().join("experiment.json");
    std::fs::write(&path, experiment.to_string()).expect("write experiment");
    let journal = dir.path().join("journal.json");
    let output = admin(
        url,
        &[
            "run",
            path.to_str().expect("utf-8 path"),
            "--journal-path",
            journal.to_str().expect("utf-8 path"),
            "--settings",
            settings.to_str().expect("utf-8 path"),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "deviated: {stderr}");
    assert!(
        stderr.contains("type 'plugin' are not supported"),
        "{stderr}"
    );
    // Chaos Toolkit's channels were called before `run` exited.
    let ctk = receiver.bodies("/ctk");
    let names: Vec<&str> = ctk.iter().filter_map(|b| b["name"].as_str()).collect();
    assert_eq!(
        names,
        ["run-started", "run-completed", "run-deviated"],
        "{ctk:?}"
    );
    assert_eq!(ctk[0]["payload"]["title"], "the flag survives");
    assert_eq!(ctk[0]["phase"], "run");
    assert!(
        ctk[0]["ts"].as_f64().is_some_and(|ts| ts > 1.7e9),
        "{ctk:?}"
    );
    assert_eq!(ctk[1]["payload"]["status"], "completed");
    assert_eq!(ctk[2]["payload"]["deviated"], true);
    let posted = receiver
        .received()
        .into_iter()
        .find(|r| r.path == "/ctk")
        .expect("a /ctk request");
    assert_eq!(posted.method, "POST");
    assert!(
        posted
            .headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer 1234"),
        "{posted:?}"
    );
    let gets: Vec<_> = receiver
        .received()
        .into_iter()
        .filter(|r| r.path == "/ctk-get")
        .collect();
    assert_eq!(gets.len(), 1, "only run-deviated: {gets:?}");
    assert_eq!(gets[0].method, "GET");
    // The store's webhook hears it through the background delivery.
    poll("the experiment events", || {
        (receiver.bodies("/store").len() == 3).then_some(())
    });
    let events: Vec<String> = receiver
        .bodies("/store")
        .iter()
        .map(|b| b["event"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(
        events,
        [
            "experiment.started",
            "experiment.deviated",
            "experiment.ended"
        ]
    );
    // A settings file that is missing when named is an error before anything runs.
    let output = admin(
        url,
        &[
            "run",
            path.to_str().expect("utf-8 path"),
            "--settings",
            "/nonexistent/settings.yaml",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("/nonexistent/settings.yaml"),
        "{output:?}"
    );
}

/// The web admin's API manages webhooks with the CLI's rules, and `serve` delivers.
#[test]
fn the_admin_api_manages_webhooks_and_serve_delivers() {
    let store = TestStore::sqlite();
    let url = store.url();
    let receiver = WebhookReceiver::start();
    let server = AdminServer::start(url, "127.0.0.1:0", &[]);
    let json_headers = [("Content-Type", "application/json")];
    let bad = server.request(
        "POST",
        "/api/v1/webhooks",
        &json_headers,
        r#"{"url": "ftp://x"}"#,
    );
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("'ftp://x'"))
    );
    let unknown = server.request(
        "POST",
        "/api/v1/webhooks",
        &json_headers,
        r#"{"url": "http://x/", "color": "red"}"#,
    );
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    let added = server.request(
        "POST",
        "/api/v1/webhooks",
        &json_headers,
        &json!({"url": receiver.url("/api"), "events": ["test"]}).to_string(),
    );
    assert_eq!(added.status, 201, "{}", added.body);
    let id = added.json()["id"].as_i64().expect("id");
    let listed = server.request("GET", "/api/v1/webhooks", &[], "").json();
    assert_eq!(listed["webhooks"][0]["events"], json!(["test"]));
    let queued = server
        .request("POST", "/api/v1/webhooks/test", &json_headers, "{}")
        .json();
    assert_eq!(queued["queued"], 1);
    // Nothing else runs here: `serve` delivers it.
    poll("serve to deliver the test event", || {
        (receiver.bodies("/api").len() == 1).then_some(())
    });
    let page = server.request("GET", "/notifications", &[], "");
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&receiver.url("/api")), "{}", page.body);
    let removed = server.request("DELETE", &format!("/api/v1/webhooks/{id}"), &[], "");
    assert_eq!(removed.json()["removed"], 1);
    let again = server.request("DELETE", &format!("/api/v1/webhooks/{id}"), &[], "");
    assert_eq!(again.status, 404, "{}", again.body);
    let missing = server.request("POST", "/api/v1/webhooks", &json_headers, "{}");
    assert_eq!(missing.status, 422, "{}", missing.body);
    assert!(
        missing.json()["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("missing url"))
    );
    // A webhook pointed at the admin itself cannot drive it (here: reset guards).
    let looped = server.request(
        "POST",
        "/api/v1/guards/reset",
        &[
            ("x-chaos-notification", "1"),
            ("Content-Type", "application/json"),
        ],
        "{}",
    );
    assert_eq!(looped.status, 403, "{}", looped.body);
    let not_an_id = server.request("DELETE", "/api/v1/webhooks/abc", &[], "");
    assert_eq!(not_an_id.status, 404);
}
