//! What an operator is told, end to end with the real binaries: a change is confirmed
//! applied before the command returns (so the README's command-then-curl pairs show the
//! fault on the first request), lagging instances are named, and typos in view names are
//! caught.

use std::process::Command;
use std::time::Duration;

use e2e::{DemoApp, TestStore, admin, admin_ok};
use serde_json::Value;

/// Runs `chaos-admin` and returns (exit code, stdout, stderr).
fn run(url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let output = admin(url, args);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Polls `status` until `count` instances are registered.
fn wait_registered(url: &str, count: usize) {
    e2e::poll("the instances to register", || {
        let status: Value = serde_json::from_str(&admin_ok(url, &["status", "--json"])).ok()?;
        (status["instances"].as_array()?.len() == count).then_some(())
    });
}

#[test]
fn readme_pairs_show_the_fault_on_the_first_request() {
    let store = TestStore::sqlite();
    let url = store.url();
    let app = DemoApp::start(url);
    wait_registered(url, 1);
    assert_eq!(app.get("/items").status, 200);
    for _ in 0..3 {
        let (code, _, said) = run(url, &["create", "response", "slow", "items", "1s", "3s"]);
        assert_eq!(code, Some(0), "{said}");
        assert!(
            said.starts_with("applied by 1 of 1 app instance in "),
            "{said}"
        );
        let first = app.get("/items");
        assert_eq!(first.status, 200);
        assert!(
            first.elapsed >= Duration::from_secs(1),
            "first request not slowed: {first:?}"
        );
        admin_ok(url, &["delete", "--all", "--yes"]);
        assert!(
            app.get("/items").elapsed < Duration::from_secs(1),
            "delete applied at once"
        );

        admin_ok(
            url,
            &[
                "create",
                "return",
                "checkout",
                "401",
                "--body",
                "session expired",
            ],
        );
        let first = app.post("/checkout");
        assert_eq!(
            (first.status, first.body.as_str()),
            (401, "session expired")
        );
        admin_ok(url, &["disable", "--all", "response"]);
        assert_eq!(app.post("/checkout").status, 200, "disable applied at once");
        admin_ok(url, &["delete", "--all", "--yes"]);
    }
}

#[test]
fn a_stopped_instance_is_named_as_lagging_and_no_wait_skips_the_wait() {
    let store = TestStore::sqlite();
    let url = store.url();
    let running = DemoApp::start(url);
    let stopped = DemoApp::start(url);
    // Writes wait for the instances registered in the store: let both register first.
    wait_registered(url, 2);
    admin_ok(url, &["create", "return", "health", "418"]);
    assert_eq!(stopped.get("/health").status, 418);
    let status: Value = serde_json::from_str(&admin_ok(url, &["status", "--json"])).expect("json");
    let stopped_id = status["instances"]
        .as_array()
        .and_then(|all| all.iter().find(|i| i["pid"] == stopped.pid()))
        .and_then(|i| i["id"].as_str())
        .expect("the second instance is registered")
        .to_owned();
    let signal = |name: &str| {
        let ok = Command::new("kill")
            .args([name, &stopped.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {name}");
    };
    signal("-STOP");
    let (code, stdout, said) = run(
        url,
        &[
            "--wait-timeout",
            "300ms",
            "create",
            "return",
            "items",
            "503",
        ],
    );
    signal("-CONT");
    assert_eq!(code, Some(0), "the write succeeded: {said}");
    assert!(stdout.trim().parse::<i64>().is_ok(), "{stdout}");
    assert!(
        said.contains("warning: 1 of 2 app instances did not apply generation")
            && said.contains("within 300ms")
            && said.contains(&stopped_id),
        "{said}"
    );
    assert_eq!(running.get("/items").status, 503);
    // Continued, it catches up; --no-wait says nothing about applying.
    let (code, _, said) = run(url, &["--no-wait", "disable", "--all"]);
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(said, "", "--no-wait: {said}");
    let (code, _, said) = run(url, &["enable", "--all"]);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.starts_with("applied by 2 of 2 app instances"),
        "{said}"
    );
    assert_eq!(stopped.get("/items").status, 503);
}

#[test]
fn view_typos_in_storms_and_exercises_are_caught() {
    let store = TestStore::sqlite();
    let url = store.url();
    let _app = DemoApp::start(url);
    wait_registered(url, 1);
    admin_ok(url, &["create", "return", "health", "200"]);
    let (code, _, said) = run(
        url,
        &[
            "storm", "--user", "alice", "--view", "itms", "--for", "1m", "--seed", "1",
        ],
    );
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("warning: no live app instance serves the view 'itms' (did you mean items?)"),
        "{said}"
    );
    admin_ok(url, &["storm", "--end"]);
    let before = admin_ok(url, &["list", "--json"]);
    let (code, stdout, said) = run(url, &["exercise", "start", "--view", "itms", "--for", "1m"]);
    assert_eq!(code, Some(2), "{said}");
    assert_eq!(stdout, "");
    assert!(
        said.contains("'itms' (did you mean items?)") && said.contains("--force"),
        "{said}"
    );
    assert_eq!(
        admin_ok(url, &["list", "--json"]),
        before,
        "nothing written"
    );
    let (code, _, said) = run(
        url,
        &[
            "exercise", "start", "--view", "itms", "--for", "1m", "--force",
        ],
    );
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("warning: no live app instance serves the view 'itms'"),
        "{said}"
    );
    admin_ok(url, &["exercise", "end"]);
    // A served view needs no --force.
    let (code, _, said) = run(
        url,
        &["exercise", "start", "--view", "items", "--for", "1m"],
    );
    assert_eq!(code, Some(0), "{said}");
    assert!(said.starts_with("applied by 1 of 1"), "{said}");
}

#[test]
fn a_graceful_shutdown_ends_delays_and_deregisters_at_once() {
    let store = TestStore::sqlite();
    let url = store.url();
    let mut app = DemoApp::start(url);
    wait_registered(url, 1);
    admin_ok(url, &["create", "slow", "items", "25s", "25s"]);
    let port = app.port;
    let started = std::time::Instant::now();
    let request = std::thread::spawn(move || e2e::http_request(port, "GET", "/items", &[]));
    e2e::poll("the request to be held by the delay", || {
        let metrics = app.get("/metrics").body;
        metrics
            .lines()
            .any(|l| l.starts_with("chaos_active_delays ") && l.ends_with(" 1"))
            .then_some(())
    });
    let ok = Command::new("kill")
        .args(["-TERM", &app.pid().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -TERM");
    let response = request
        .join()
        .expect("joins")
        .expect("the held request is answered");
    assert_eq!(response.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the 25 s delay ended at shutdown ({:?})",
        started.elapsed()
    );
    let exit = app.wait_exit(Duration::from_secs(15));
    assert_eq!(exit, Some(0), "the app exits cleanly");
    // Gone from `status` at once, not after three missed heartbeats.
    let status: Value =
        serde_json::from_str(&admin_ok(url, &["status", "--json", "--all"])).expect("json");
    assert_eq!(status["instances"], serde_json::json!([]), "{status}");
}

#[test]
fn init_writes_an_experiment_that_tests_the_view_it_names() {
    let store = TestStore::sqlite();
    let url = store.url();
    let app = DemoApp::start(url);
    wait_registered(url, 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let base = format!("http://127.0.0.1:{}", app.port);
    let path = |name: &str| dir.path().join(name).display().to_string();
    // `discover` reads the views from the store's registry, with their methods.
    admin_ok(
        url,
        &["discover", "--url", &base, "-o", &path("discovery.json")],
    );
    let discovery: Value =
        serde_json::from_str(&std::fs::read_to_string(path("discovery.json")).expect("read"))
            .expect("json");
    let checkout = discovery["discovery"]["views"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["name"] == "checkout"))
        .cloned()
        .expect("checkout discovered");
    assert_eq!(checkout["methods"], serde_json::json!(["POST"]));
    // `init --view checkout` against this app, with a discovery file, writing `output`.
    let init = |discovery: &str, output: &str| {
        run(
            url,
            &[
                "init",
                "--view",
                "checkout",
                "--url",
                &base,
                "--discovery",
                &path(discovery),
                "-o",
                &path(output),
            ],
        )
    };
    // `init` probes a POST-only view with POST, and the run finds the weakness.
    let (code, _, said) = init("discovery.json", "checkout.json");
    assert_eq!(code, Some(0), "{said}");
    let experiment: Value =
        serde_json::from_str(&std::fs::read_to_string(path("checkout.json")).expect("read"))
            .expect("json");
    let probe = &experiment["steady-state-hypothesis"]["probes"][0];
    assert_eq!(probe["provider"]["method"], "POST");
    assert_eq!(probe["tolerance"], 200);
    let (code, _, said) = run(
        url,
        &[
            "run",
            &path("checkout.json"),
            "--journal-path",
            &path("j.json"),
        ],
    );
    assert_eq!(
        code,
        Some(1),
        "the forced 503 makes the run deviate: {said}"
    );
    assert!(said.contains("deviated"), "{said}");
    let journal: Value =
        serde_json::from_str(&std::fs::read_to_string(path("j.json")).expect("read"))
            .expect("json");
    assert_eq!(journal["steady_states"]["before"]["steady_state_met"], true);
    assert_eq!(
        admin_ok(url, &["list", "--json"]).trim(),
        "[]",
        "rolled back"
    );
    // A steady state that does not hold now is refused: it would skip the method.
    admin_ok(url, &["create", "return", "checkout", "401"]);
    let (code, _, said) = init("none.json", "bad.json");
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("answered 401") && said.contains("--no-check"),
        "{said}"
    );
    assert!(!std::path::Path::new(&path("bad.json")).exists());
}

#[test]
fn a_crashed_instance_on_this_host_is_not_waited_for() {
    let store = TestStore::sqlite();
    let url = store.url();
    let mut app = DemoApp::start(url);
    wait_registered(url, 1);
    let ok = Command::new("kill")
        .args(["-KILL", &app.pid().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -KILL");
    assert_eq!(
        app.wait_exit(Duration::from_secs(15)),
        None,
        "killed by a signal"
    );
    // Its row still looks live for three heartbeats, but its process is gone.
    let (code, _, said) = run(
        url,
        &["--wait-timeout", "20s", "create", "return", "items", "503"],
    );
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("warning: no running app instance uses the store"),
        "{said}"
    );
    assert!(!said.contains("did not apply"), "{said}");
}

#[test]
fn a_view_is_selected_by_its_name_and_its_route_alike() {
    let store = TestStore::sqlite();
    let url = store.url();
    let app = DemoApp::start(url);
    wait_registered(url, 1);
    for (created, selected) in [("/items", "items"), ("items", "/items")] {
        admin_ok(url, &["create", "return", created, "503"]);
        assert_eq!(app.get("/items").status, 503, "created on {created}");
        let (code, said, _) = run(url, &["disable", "response", selected]);
        assert_eq!(code, Some(0));
        assert_eq!(
            said, "disabled 1 action\n",
            "{created} selected by {selected}"
        );
        assert_eq!(app.get("/items").status, 200, "the fault is off");
        let (_, said, _) = run(url, &["delete", "response", selected]);
        assert_eq!(said, "deleted 1 action\n");
    }
}
