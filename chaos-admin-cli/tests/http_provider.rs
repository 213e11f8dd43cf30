//! The http provider against a real server on loopback, where chaoslib's behaviour depends
//! on the response: redirects are followed up to `requests`' limit of 30, and a body that
//! is not the JSON its `Content-Type` claims (or a 31st redirect) raises an exception
//! chaoslib does not catch, so the run is aborted and the activity has no status. The
//! expected outcomes were observed with chaostoolkit 1.19.0 / chaostoolkit-lib 1.44.0
//! against the same responses.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_chaos-admin");

/// Serves `/hop/N` (a 302 to `/hop/N-1`; `/hop/0` answers JSON), `/bad-json` (claims JSON,
/// is not) on a free loopback port, one connection at a time, until the test ends.
fn serve() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind loopback");
    let port = listener.local_addr().expect("local address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // Skip the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("/");
            let response = match path
                .strip_prefix("/hop/")
                .and_then(|n| n.parse::<u32>().ok())
            {
                Some(0) => json_response("{\"ok\": true}"),
                Some(n) => format!(
                    "HTTP/1.1 302 Found\r\nLocation: /hop/{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    n - 1
                ),
                None if path == "/bad-json" => json_response("{bad"),
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned(),
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    port
}

fn json_response(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Runs a one-probe method against `url` (with a rollback); the exit code and the journal.
fn run_probe(dir: &Path, url: &str) -> (i32, Value) {
    run_experiment(
        dir,
        &serde_json::json!({
            "title": "t", "description": "d",
            "method": [{"type": "probe", "name": "p", "provider": {"type": "http", "url": url}}],
            "rollbacks": [{"type": "action", "name": "undo", "provider": {"type": "process", "path": "true"}}]
        }),
    )
}

#[test]
fn thirty_redirects_are_followed_the_thirty_first_aborts() {
    let port = serve();
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, journal) = run_probe(dir.path(), &format!("http://127.0.0.1:{port}/hop/30"));
    assert_eq!(code, 0, "{journal:#}");
    assert_eq!(journal["status"], "completed");
    assert_eq!(journal["run"][0]["status"], "succeeded");
    assert_eq!(journal["run"][0]["output"]["body"]["ok"], true);

    let (code, journal) = run_probe(dir.path(), &format!("http://127.0.0.1:{port}/hop/31"));
    assert_eq!(code, 1, "{journal:#}");
    assert_eq!(journal["status"], "aborted");
    assert!(journal["run"][0].get("status").is_none(), "{journal:#}");
    // The rollbacks still play.
    assert_eq!(journal["rollbacks"][0]["status"], "succeeded");
}

#[test]
fn a_body_that_is_not_the_json_it_claims_aborts_the_run() {
    let port = serve();
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, journal) = run_probe(dir.path(), &format!("http://127.0.0.1:{port}/bad-json"));
    assert_eq!(code, 1, "{journal:#}");
    assert_eq!(journal["status"], "aborted");
    assert!(journal["run"][0].get("status").is_none(), "{journal:#}");
    assert_eq!(journal["run"][0]["output"], Value::Null);
}

#[test]
fn a_connection_refused_only_fails_the_activity() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, journal) = run_probe(dir.path(), &format!("http://127.0.0.1:{port}/"));
    assert_eq!(code, 0, "{journal:#}");
    assert_eq!(journal["status"], "completed");
    assert_eq!(journal["run"][0]["status"], "failed");
}

/// Runs an experiment given as JSON; the exit code and the journal.
fn run_experiment(dir: &Path, experiment: &Value) -> (i32, Value) {
    let file = dir.join("experiment.json");
    std::fs::write(&file, experiment.to_string()).expect("write the experiment");
    let journal = dir.join("journal.json");
    let _ = std::fs::remove_file(&journal);
    let output = Command::new(BIN)
        .current_dir(dir)
        .env_remove("CHAOS_DATABASE_URL")
        .args(["run", "--journal-path"])
        .arg(&journal)
        .arg(&file)
        .output()
        .expect("run chaos-admin");
    let text = std::fs::read_to_string(&journal)
        .unwrap_or_else(|err| panic!("no journal ({err}): {output:?}"));
    (
        output.status.code().unwrap_or(-1),
        serde_json::from_str(&text).expect("journal JSON"),
    )
}

// Where chaoslib itself crashes with no journal (a crash in the hypothesis before the
// method, or in a rollback), chaos-admin writes one: the run is aborted, and every
// rollback still plays so that no fault outlives the run.
#[test]
fn a_crash_in_a_rollback_still_plays_the_others_and_aborts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let true_action = |name: &str| serde_json::json!({"type": "action", "name": name, "provider": {"type": "process", "path": "true"}});
    let (code, journal) = run_experiment(
        dir.path(),
        &serde_json::json!({
            "title": "t", "description": "d",
            "method": [true_action("a")],
            "rollbacks": [
                {"type": "action", "name": "bad-url", "provider": {"type": "http", "url": "not a url"}},
                true_action("undo")
            ]
        }),
    );
    assert_eq!(code, 1, "{journal:#}");
    assert_eq!(journal["status"], "aborted");
    assert!(
        journal["rollbacks"][0].get("status").is_none(),
        "{journal:#}"
    );
    assert_eq!(
        journal["rollbacks"][1]["status"], "succeeded",
        "{journal:#}"
    );
}

#[test]
fn a_crash_in_the_hypothesis_before_skips_the_method_and_aborts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, journal) = run_experiment(
        dir.path(),
        &serde_json::json!({
            "title": "t", "description": "d",
            "steady-state-hypothesis": {"title": "h", "probes": [
                {"type": "probe", "name": "bad-url", "tolerance": 200, "provider": {"type": "http", "url": "not a url"}}]},
            "method": [{"type": "action", "name": "a", "provider": {"type": "process", "path": "true"}}],
            "rollbacks": [{"type": "action", "name": "undo", "provider": {"type": "process", "path": "true"}}]
        }),
    );
    assert_eq!(code, 1, "{journal:#}");
    assert_eq!(journal["status"], "aborted");
    assert_eq!(
        journal["steady_states"]["before"]["steady_state_met"],
        false
    );
    assert_eq!(journal["run"], serde_json::json!([]));
    assert_eq!(
        journal["rollbacks"][0]["status"], "succeeded",
        "{journal:#}"
    );
}
