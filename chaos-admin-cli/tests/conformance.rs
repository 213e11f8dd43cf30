//! The Chaos Toolkit conformance suite: each case under `tests/conformance/cases/` is an
//! experiment (`experiment.json` or `experiment.yaml`), its arguments (`case.json`) and the outcome the real tool produced
//! (`recorded.json`, re-recorded by `scripts/record-conformance.sh` from chaostoolkit
//! 1.19.0 / chaostoolkit-lib 1.44.0). `chaos-admin run` must produce the same summary:
//! exit code, whether a journal was written, status, deviation, hypothesis results per
//! probe, and the activities run and rolled back with their statuses.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_chaos-admin");

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("read {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn state(entry: &Value) -> Value {
    if entry.is_null() {
        return Value::Null;
    }
    let probes: Vec<Value> = entry["probes"]
        .as_array()
        .map(|p| p.iter().map(|p| p["tolerance_met"].clone()).collect())
        .unwrap_or_default();
    json!({"met": entry["steady_state_met"], "probes": probes})
}

fn activities(entries: &Value) -> Value {
    entries
        .as_array()
        .map(|all| {
            all.iter()
                .map(|e| json!([e["activity"]["name"], e["status"]]))
                .collect()
        })
        .unwrap_or_default()
}

/// The same summary `summarize.py` makes of the real tool's run.
fn summary(exit: i32, journal: &Path) -> Value {
    let mut summary = json!({"exit": exit, "journal": journal.exists()});
    if journal.exists() {
        let journal = read_json(journal);
        let states = &journal["steady_states"];
        let map = summary.as_object_mut().expect("object");
        map.insert("status".into(), journal["status"].clone());
        map.insert("deviated".into(), journal["deviated"].clone());
        map.insert("before".into(), state(&states["before"]));
        map.insert("after".into(), state(&states["after"]));
        map.insert("run".into(), activities(&journal["run"]));
        map.insert("rollbacks".into(), activities(&journal["rollbacks"]));
    }
    summary
}

fn run_case(dir: &Path) -> Value {
    let case = read_json(&dir.join("case.json"));
    let work = tempfile::tempdir().expect("temp dir");
    // The experiment is JSON or YAML (read as PyYAML reads it).
    let experiment = ["experiment.json", "experiment.yaml"]
        .into_iter()
        .find(|name| dir.join(name).exists())
        .unwrap_or_else(|| panic!("{}: no experiment.json or experiment.yaml", dir.display()));
    std::fs::copy(dir.join(experiment), work.path().join(experiment)).expect("copy the experiment");
    if let Some(files) = case["files"].as_object() {
        for (name, content) in files {
            std::fs::write(work.path().join(name), content.as_str().unwrap_or_default())
                .expect("write a case file");
        }
    }
    let mut command = Command::new(BIN);
    command
        .current_dir(work.path())
        .env_remove("CHAOS_DATABASE_URL")
        .args(["run", "--journal-path", "journal.json"]);
    for arg in case["args"].as_array().into_iter().flatten() {
        command.arg(arg.as_str().unwrap_or_default());
    }
    command.arg(experiment);
    for (key, value) in case["env"].as_object().into_iter().flatten() {
        command.env(key, value.as_str().unwrap_or_default());
    }
    let output = command.output().expect("run chaos-admin");
    let exit = output.status.code().unwrap_or(-1);
    summary(exit, &work.path().join("journal.json"))
}

#[test]
fn chaos_admin_matches_the_real_chaos_toolkit_on_every_recorded_case() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/cases");
    let mut dirs: Vec<_> = std::fs::read_dir(&cases)
        .expect("read the cases")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("recorded.json").exists())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 14, "cases missing: {dirs:?}");
    let mut mismatches = Vec::new();
    for dir in &dirs {
        let expected = read_json(&dir.join("recorded.json"));
        let actual = run_case(dir);
        if actual != expected {
            mismatches.push(format!(
                "{}:\n  chaos toolkit: {expected}\n  chaos-admin:   {actual}",
                dir.file_name().and_then(|n| n.to_str()).unwrap_or("?")
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ:\n{}",
        mismatches.len(),
        dirs.len(),
        mismatches.join("\n")
    );
}
