//! The admin server as a fan-out, with the real binaries: a demo-app whose store is
//! `http://` (the relay of `chaos-admin serve`) applies changes, counts in `status`,
//! keeps serving every request while the relay is killed and the store changes, catches
//! up when a new relay starts on the same address, and a relay shuts down at once on
//! Ctrl-C although instances hold long polls.

use std::time::{Duration, Instant};

use e2e::load::steady_stream;
use e2e::{AdminServer, DemoApp, TestStore, admin_ok, poll};
use serde_json::Value;

const ADMIN_TOKEN: &str = "relay-e2e-admin-0123456789";
const RELAY_TOKEN: &str = "relay-e2e-instances-0123456789";
/// Thousands of requests: log only warnings.
const QUIET: &[(&str, &str)] = &[("RUST_LOG", "warn")];

fn serve(store: &TestStore, bind: &str) -> AdminServer {
    AdminServer::start(
        store.url(),
        bind,
        &[
            ("CHAOS_ADMIN_TOKEN", ADMIN_TOKEN),
            ("CHAOS_RELAY_TOKEN", RELAY_TOKEN),
        ],
    )
}

fn relay_url(server: &AdminServer, token: &str) -> String {
    format!("http://:{token}@127.0.0.1:{}", server.port)
}

#[test]
fn sqlite_relay_restarts_under_load_fail_no_request() {
    relay_restarts_under_load_fail_no_request(&TestStore::sqlite());
}

#[test]
fn postgres_relay_restarts_under_load_fail_no_request() {
    if let Some(store) = TestStore::postgres() {
        relay_restarts_under_load_fail_no_request(&store);
    }
}

fn relay_restarts_under_load_fail_no_request(store: &TestStore) {
    let url = store.url();
    admin_ok(url, &["create", "return", "items", "503"]);
    let mut server = serve(store, "127.0.0.1:0");
    let port = server.port;
    let app = DemoApp::start_with_env(&relay_url(&server, RELAY_TOKEN), QUIET);
    poll("the 503 on items, through the relay", || {
        (app.get("/items").status == 503).then_some(())
    });
    // The instance registered through the relay: status counts it.
    poll("status to count the relay's instance as current", || {
        let status: Value = serde_json::from_str(&admin_ok(url, &["status", "--json"])).ok()?;
        let instances = status["instances"].as_array()?;
        (instances.len() == 1 && instances[0]["state"] == "current").then_some(())
    });

    let load = steady_stream(app.port);
    load.wait_for_more(50);
    // The relay dies (no graceful shutdown), the store changes meanwhile.
    server.kill();
    admin_ok(url, &["create", "return", "checkout", "401"]);
    let outage = Instant::now();
    poll("2 s of requests while the relay is down", || {
        (outage.elapsed() >= Duration::from_secs(2)).then_some(())
    });
    load.wait_for_more(50);
    assert_ne!(
        app.post("/checkout").status,
        401,
        "a change reached the app although the relay was down"
    );

    // A new relay on the same address: the app catches up by itself.
    let server = serve(store, &format!("127.0.0.1:{port}"));
    let (_, took) = poll("the change made while the relay was down", || {
        (app.post("/checkout").status == 401).then_some(())
    });
    println!("applied {took:?} after the relay came back");
    load.wait_for_more(50);
    let report = load.finish();
    assert!(
        report.failures.is_empty(),
        "{} of {} requests failed, first ones: {:#?}",
        report.failures.len(),
        report.requests,
        &report.failures[..report.failures.len().min(5)]
    );
    assert!(report.requests >= 150, "{} requests", report.requests);
    println!(
        "{} requests, none failed, slowest {:?}",
        report.requests, report.slowest
    );
    drop(server);
}

#[test]
fn a_relay_stops_at_once_and_refuses_wrong_tokens() {
    let store = TestStore::sqlite();
    let url = store.url();
    admin_ok(url, &["create", "return", "items", "503"]);
    let mut server = serve(&store, "127.0.0.1:0");
    // An instance with the admin's token instead of the relay token gets nothing.
    let wrong = DemoApp::start_with_env(&relay_url(&server, ADMIN_TOKEN), QUIET);
    let right = DemoApp::start_with_env(&relay_url(&server, RELAY_TOKEN), QUIET);
    poll("the 503 on items, through the relay", || {
        (right.get("/items").status == 503).then_some(())
    });
    // Both started at the same time and the right one is served: the wrong one is
    // refused (and serves its routes untouched).
    assert_eq!(wrong.get("/items").status, 200);
    let feed = server.request(
        "GET",
        "/api/v1/relay/changes",
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
        "",
    );
    assert_eq!(feed.status, 401, "the admin token does not open the feed");
    assert!(feed.body.contains("RELAY_TOKEN"), "{}", feed.body);
    let feed = server.request(
        "GET",
        "/api/v1/relay/changes",
        &[("Authorization", &format!("Bearer {RELAY_TOKEN}"))],
        "",
    );
    assert_eq!(feed.status, 200, "{}", feed.body);
    assert_eq!(feed.json()["actions"].as_array().map(Vec::len), Some(1));
    // A web page cannot drive the relay, token or not.
    let from_a_page = server.request(
        "POST",
        "/api/v1/relay/instances",
        &[
            ("Authorization", &format!("Bearer {RELAY_TOKEN}")),
            ("Origin", "http://evil.example"),
        ],
        "{}",
    );
    assert_eq!(from_a_page.status, 403, "{}", from_a_page.body);
    // A wrong relay path is the relay's 404, not the admin's login.
    let lost = server.request(
        "GET",
        "/api/v1/relay/",
        &[("Authorization", &format!("Bearer {RELAY_TOKEN}"))],
        "",
    );
    assert_eq!(lost.status, 404, "{}", lost.body);
    // The relay token does not open the admin.
    let actions = server.request(
        "GET",
        "/api/v1/actions",
        &[("Authorization", &format!("Bearer {RELAY_TOKEN}"))],
        "",
    );
    assert_eq!(actions.status, 401);

    // Ctrl-C: the long poll the instance holds ends at once, so the server exits well
    // before the poll's 25 s.
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &server.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(interrupted.success());
    assert_eq!(
        server.wait_exit(Duration::from_secs(10)),
        Some(0),
        "chaos-admin serve did not exit within 10 s of Ctrl-C"
    );
    // The instance keeps its snapshot.
    assert_eq!(right.get("/items").status, 503);
}
