//! Experiments end to end: the real `chaos-admin run` against the real demo app and
//! store — the provider-down learning loop (deviated, then completed), a malformed
//! experiment, and Ctrl-C during a run (rollbacks still play).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use e2e::{DemoApp, TestStore, admin, admin_ok, binary, poll};
use serde_json::{Value, json};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/experiments/provider-down.json")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_json::from_str(&text).expect("journal is JSON")
}

fn actions(url: &str) -> Vec<Value> {
    let listing: Value =
        serde_json::from_str(&admin_ok(url, &["list", "--json"])).expect("list --json is JSON");
    listing.as_array().cloned().unwrap_or_default()
}

/// Runs the provider-down example against `app` with `consumer`; returns the exit code
/// and the journal.
fn provider_down(store: &TestStore, app: &DemoApp, consumer: &str, dir: &Path) -> (i32, Value) {
    let journal = dir.join(format!("{consumer}.json"));
    let base_url = format!("base_url=http://127.0.0.1:{}", app.port);
    let consumer_var = format!("consumer={consumer}");
    let output = admin(
        store.url(),
        &[
            "run",
            &example().display().to_string(),
            "--journal-path",
            &journal.display().to_string(),
            "--var",
            &base_url,
            "--var",
            &consumer_var,
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stderr}");
    assert!(stderr.contains("Experiment ended with status:"), "{stderr}");
    (output.status.code().unwrap_or(-1), read_json(&journal))
}

fn check_layout(journal: &Value) {
    let keys: Vec<&str> = journal
        .as_object()
        .expect("journal is a mapping")
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "chaoslib-version",
        "platform",
        "node",
        "experiment",
        "start",
        "status",
        "deviated",
        "steady_states",
        "run",
        "rollbacks",
        "end",
        "duration",
    ] {
        assert!(keys.contains(&key), "journal lacks {key}: {keys:?}");
    }
    for phase in ["before", "after", "during"] {
        assert!(journal["steady_states"].get(phase).is_some(), "{phase}");
    }
    let entries = journal["run"]
        .as_array()
        .into_iter()
        .chain(journal["rollbacks"].as_array())
        .flatten();
    for entry in entries {
        for key in ["activity", "output", "start", "status", "end", "duration"] {
            assert!(entry.get(key).is_some(), "entry lacks {key}: {entry}");
        }
    }
    assert!(journal["experiment"].get("dry").is_some());
}

fn learning_loop(store: &TestStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = DemoApp::start(store.url());

    // Before: no fallback, the provider outage reaches the user.
    let (code, journal) = provider_down(store, &app, "consumer_before", dir.path());
    check_layout(&journal);
    assert_eq!(code, 1, "deviated run exits 1");
    assert_eq!(journal["status"], "completed");
    assert_eq!(journal["deviated"], true);
    let before = &journal["steady_states"]["before"];
    assert_eq!(before["steady_state_met"], true);
    assert_eq!(before["probes"][0]["tolerance_met"], true);
    let after = &journal["steady_states"]["after"];
    assert_eq!(after["steady_state_met"], false);
    assert_eq!(after["probes"][0]["tolerance_met"], false);
    assert_eq!(after["probes"][0]["output"]["status"], 502);
    assert_eq!(journal["run"][0]["status"], "succeeded");
    assert!(journal["run"][0]["output"]["id"].as_i64().is_some());
    assert_eq!(
        journal["run"][1]["output"]["status"], 503,
        "the provider was down"
    );
    assert_eq!(journal["rollbacks"].as_array().map(Vec::len), Some(1));
    assert_eq!(journal["rollbacks"][0]["status"], "succeeded");
    assert_eq!(journal["rollbacks"][0]["output"]["count"], 1);
    assert_eq!(
        actions(store.url()),
        Vec::<Value>::new(),
        "rollback removed the action"
    );
    poll("the provider to be back", || {
        (app.get("/provider").status == 200).then_some(())
    });

    // After: retry + cached answer, the user does not notice.
    let (code, journal) = provider_down(store, &app, "consumer_after", dir.path());
    check_layout(&journal);
    assert_eq!(code, 0, "completed run exits 0");
    assert_eq!(journal["status"], "completed");
    assert_eq!(journal["deviated"], false);
    assert_eq!(journal["steady_states"]["after"]["steady_state_met"], true);
    assert_eq!(
        journal["run"][1]["output"]["status"], 503,
        "the provider was down"
    );
    assert_eq!(
        journal["steady_states"]["after"]["probes"][0]["output"]["body"]["source"],
        "cache"
    );
    assert_eq!(journal["rollbacks"][0]["status"], "succeeded");
    assert_eq!(actions(store.url()), Vec::<Value>::new());

    // The report reads both journals.
    let report = admin_ok(
        store.url(),
        &[
            "report",
            &dir.path()
                .join("consumer_before.json")
                .display()
                .to_string(),
            &dir.path().join("consumer_after.json").display().to_string(),
        ],
    );
    assert!(
        report.contains("**Status**: completed, deviated"),
        "{report}"
    );
    assert!(
        report.contains("| method | action provider-returns-503 | succeeded |"),
        "{report}"
    );
}

#[test]
fn sqlite_provider_down_before_and_after() {
    learning_loop(&TestStore::sqlite());
}

#[test]
fn postgres_provider_down_before_and_after() {
    if let Some(store) = TestStore::postgres() {
        learning_loop(&store);
    }
}

#[test]
fn mysql_provider_down_before_and_after() {
    if let Some(store) = TestStore::mysql() {
        learning_loop(&store);
    }
}

#[test]
fn database_loss_is_handled_gracefully() {
    let store = TestStore::sqlite();
    let app = DemoApp::start(store.url());
    let dir = tempfile::tempdir().expect("temp dir");
    let journal_path = dir.path().join("database-loss.json");
    let experiment =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/experiments/database-loss.json");
    let base_url = format!("base_url=http://127.0.0.1:{}", app.port);
    let output = admin(
        store.url(),
        &[
            "run",
            &experiment.display().to_string(),
            "--journal-path",
            &journal_path.display().to_string(),
            "--var",
            &base_url,
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let journal = read_json(&journal_path);
    check_layout(&journal);
    assert_eq!(journal["status"], "completed");
    assert_eq!(journal["deviated"], false);
    // While the point failed, the shop answered its graceful 503.
    let during = journal["run"]
        .as_array()
        .and_then(|run| {
            run.iter()
                .find(|e| e["activity"]["name"] == "items-while-the-database-is-gone")
        })
        .expect("the probe ran");
    assert_eq!(during["output"]["status"], 503, "{during}");
    assert!(
        during["output"]["body"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("item database is unavailable")),
        "{during}"
    );
    // The rollback removed the fault: the shop is whole again.
    assert!(actions(store.url()).is_empty());
    poll("items to answer 200 again", || {
        (app.get("/items").status == 200).then_some(())
    });
}

#[test]
fn malformed_experiment_gets_located_errors_and_no_journal() {
    let store = TestStore::sqlite();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bad.json");
    let experiment = json!({
        "title": "bad",
        "steady-state-hypothesis": {"title": "h", "probes": [
            {"type": "probe", "name": "no-tolerance", "provider": {"type": "http", "url": "http://127.0.0.1:1/"}}
        ]},
        "method": [
            {"type": "action", "name": "python", "provider": {"type": "python", "module": "m", "func": "f"}},
            {"type": "action", "name": "bad-status", "provider": {"type": "chaos", "action": "create", "verb": "return", "view": "items", "status": 700}}
        ]
    });
    std::fs::write(&file, experiment.to_string()).expect("write experiment");
    let journal = dir.path().join("journal.json");
    for command in ["validate", "run"] {
        let mut args = vec![command.to_owned(), file.display().to_string()];
        if command == "run" {
            args.extend(["--journal-path".to_owned(), journal.display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = admin(store.url(), &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{command}: {stderr}");
        for expected in [
            "description: experiment requires a description",
            "steady-state-hypothesis.probes[0]: hypothesis probe must have a tolerance entry",
            "method[0].provider.type: python providers are not supported",
            "method[1].provider: status 700 is out of range",
            "(4 problems)",
        ] {
            assert!(
                stderr.contains(expected),
                "{command}: missing {expected:?} in {stderr}"
            );
        }
        assert!(
            !journal.exists(),
            "{command} wrote a journal for an invalid experiment"
        );
    }
    // A file that is not JSON names the line and column.
    std::fs::write(&file, "{\n  \"title\": \"x\",\n  oops\n}").expect("write");
    let output = admin(store.url(), &["validate", &file.display().to_string()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bad.json:3:"), "{stderr}");
    assert!(actions(store.url()).is_empty());
}

#[test]
fn ctrl_c_during_a_run_still_plays_rollbacks() {
    let store = TestStore::sqlite();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("long.yaml");
    // YAML on purpose: the same format as JSON experiments.
    std::fs::write(
        &file,
        r#"title: A long outage
description: Interrupted while the fault is active.
method:
  - type: action
    name: items-unavailable
    provider: {type: chaos, action: create, verb: return, view: items, status: 503, tag: long-outage}
    pauses: {after: 120}
  - type: probe
    name: never-reached
    provider: {type: process, path: "true"}
rollbacks:
  - type: action
    name: remove-outage
    provider: {type: chaos, action: delete, tag: long-outage}
"#,
    )
    .expect("write experiment");
    let journal = dir.path().join("journal.json");
    let mut child = Command::new(binary("chaos-admin"))
        .args(["run", &file.display().to_string(), "--journal-path"])
        .arg(&journal)
        .env("CHAOS_DATABASE_URL", store.url())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chaos-admin run starts");
    // The method has created its action and is in its pause.
    poll("the method's action to exist", || {
        (actions(store.url()).len() == 1).then_some(())
    });
    let signal = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(signal.success());
    let (status, _) = poll("chaos-admin run to exit after SIGINT", || {
        child.try_wait().expect("wait on chaos-admin")
    });
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert_eq!(status.code(), Some(1), "{stderr}");
    let journal = read_json(&journal);
    check_layout(&journal);
    assert_eq!(journal["status"], "interrupted", "{stderr}");
    assert_eq!(journal["deviated"], false);
    assert_eq!(
        journal["run"].as_array().map(Vec::len),
        Some(1),
        "the probe never ran"
    );
    assert_eq!(journal["rollbacks"][0]["status"], "succeeded", "{stderr}");
    assert_eq!(journal["rollbacks"][0]["output"]["count"], 1);
    assert!(
        actions(store.url()).is_empty(),
        "the rollback removed the action"
    );
    assert!(
        stderr.contains("Experiment ended with status: interrupted"),
        "{stderr}"
    );
}

#[test]
fn dry_run_executes_nothing() {
    let store = TestStore::sqlite();
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("journal.json");
    // Nothing listens on port 1: a real run would fail the hypothesis.
    let output = admin(
        store.url(),
        &[
            "run",
            &example().display().to_string(),
            "--dry",
            "activities",
            "--var",
            "base_url=http://127.0.0.1:1",
            "--journal-path",
            &journal.display().to_string(),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let journal = read_json(&journal);
    assert_eq!(journal["experiment"]["dry"], "activities");
    assert_eq!(journal["status"], "completed");
    assert_eq!(journal["run"][0]["output"], Value::Null);
    assert_eq!(journal["rollbacks"][0]["status"], "succeeded");
    assert!(
        actions(store.url()).is_empty(),
        "a dry run created an action"
    );
}

/// A process-only experiment: the hypothesis is "the file exists"; the method removes it
/// (next to a background action) and waits; the rollback puts it back.
fn file_experiment(dir: &Path) -> PathBuf {
    let experiment = json!({
        "title": "continuous hypothesis",
        "description": "the file disappears during the method",
        "configuration": {"file": "unset"},
        "steady-state-hypothesis": {
            "title": "the file exists",
            "probes": [{
                "type": "probe", "name": "file-exists", "tolerance": 0,
                "provider": {"type": "process", "path": "test", "arguments": ["-f", "${file}"]}
            }]
        },
        "method": [
            {"type": "action", "name": "background-sleep", "background": true,
             "provider": {"type": "process", "path": "sleep", "arguments": ["0.3"]}},
            {"type": "action", "name": "remove-file",
             "provider": {"type": "process", "path": "rm", "arguments": ["-f", "${file}"]},
             "pauses": {"after": 5}}
        ],
        "rollbacks": [{
            "type": "action", "name": "restore-file",
            "provider": {"type": "process", "path": "touch", "arguments": ["${file}"]}
        }]
    });
    let path = dir.join("file-experiment.json");
    std::fs::write(&path, experiment.to_string()).expect("write the experiment");
    path
}

#[test]
fn continuous_hypothesis_with_fail_fast_and_a_background_action() {
    let store = TestStore::sqlite();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("alive");
    let experiment = file_experiment(dir.path());
    let run = |journal: &Path, extra: &[&str]| {
        std::fs::write(&file, "").expect("create the file");
        let file_var = format!("file={}", file.display());
        let mut args = vec![
            "run",
            experiment.to_str().expect("utf-8 path"),
            "--journal-path",
            journal.to_str().expect("utf-8 path"),
            "--var",
            &file_var,
            "--hypothesis-strategy",
            "continuously",
            "--hypothesis-frequency",
            "0.1",
            "--fail-fast",
        ];
        args.extend_from_slice(extra);
        let output = admin(store.url(), &args);
        (output.status.code(), read_json(journal))
    };

    // As in Chaos Toolkit: fail-fast stops the method after the running activity, the
    // "after" check still runs and deviates (the file is gone), which makes the run
    // completed + deviated, so the default strategy plays the rollback.
    let (code, journal) = run(&dir.path().join("default.json"), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(journal["status"], "completed");
    assert_eq!(journal["deviated"], true);
    let during: Vec<Value> = journal["steady_states"]["during"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Fail-fast stops the checks at the first deviation.
    assert_eq!(
        during.last().map(|s| &s["steady_state_met"]),
        Some(&json!(false))
    );
    let deviations = during
        .iter()
        .filter(|s| s["steady_state_met"] == json!(false))
        .count();
    assert_eq!(deviations, 1, "{during:?}");
    assert_eq!(
        journal["steady_states"]["after"]["steady_state_met"],
        json!(false)
    );
    assert_eq!(journal["rollbacks"][0]["status"], "succeeded", "{journal}");
    assert!(file.exists(), "the default strategy played the rollback");
    // Both method actions ran, the background one too.
    let names: Vec<&str> = journal["run"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["status"] == "succeeded")
        .filter_map(|r| r["activity"]["name"].as_str())
        .collect();
    assert!(
        names.contains(&"background-sleep") && names.contains(&"remove-file"),
        "{names:?}"
    );

    // `never` leaves the file gone, whatever the outcome.
    let (code, journal) = run(
        &dir.path().join("never.json"),
        &["--rollback-strategy", "never"],
    );
    assert_eq!(code, Some(1));
    assert_eq!(journal["status"], "completed");
    assert_eq!(journal["rollbacks"], json!([]));
    assert!(!file.exists(), "no rollback under `never`");
}
