//! Guards end to end, with the real binaries: a point `error` on the demo's data access
//! makes `/items` answer its own 503s (the app's, not injected by the layer); with a guard
//! at 20 % the instance that sees them trips it within the window, every action stops on
//! both instances, `status` and `list` say so, and `guard reset` re-arms them.

use e2e::{DemoApp, TestStore, admin, admin_ok, poll};
use serde_json::Value;

/// Thousands of requests: log only warnings.
const QUIET: &[(&str, &str)] = &[("RUST_LOG", "warn")];

#[test]
fn sqlite_a_guard_stops_chaos_on_every_instance_and_reset_rearms() {
    a_guard_stops_chaos_on_every_instance_and_reset_rearms(&TestStore::sqlite());
}

#[test]
fn postgres_a_guard_stops_chaos_on_every_instance_and_reset_rearms() {
    if let Some(store) = TestStore::postgres() {
        a_guard_stops_chaos_on_every_instance_and_reset_rearms(&store);
    }
}

fn a_guard_stops_chaos_on_every_instance_and_reset_rearms(store: &TestStore) {
    let url = store.url();
    let one = DemoApp::start_with_env(url, QUIET);
    let two = DemoApp::start_with_env(url, QUIET);
    admin_ok(
        url,
        &["guard", "set", "--max-error-rate", "20%", "--window", "10s"],
    );
    admin_ok(url, &["create", "point", "error", "db.items"]);
    admin_ok(url, &["create", "return", "checkout", "418"]);
    for app in [&one, &two] {
        poll("the point error on items", || {
            (app.get("/items").status == 503).then_some(())
        });
        poll("the 418 on checkout", || {
            (app.post("/checkout").status == 418).then_some(())
        });
    }
    // Only instance one sees its users hurt: its own 503s (from its data access).
    let (_, took) = poll("instance one to trip the guard", || {
        (one.get("/items").status == 200).then_some(())
    });
    println!("tripped {took:?} after the first 503s");
    // The store says so, naming instance one; instance two stops too.
    let guards: Value =
        serde_json::from_str(&admin_ok(url, &["guard", "list", "--json"])).expect("JSON");
    let trip = &guards[0]["tripped"];
    assert!(
        trip["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("error rate 100%")),
        "{guards}"
    );
    poll("instance two to stop", || {
        (two.get("/items").status == 200 && two.post("/checkout").status == 200).then_some(())
    });
    assert_eq!(one.post("/checkout").status, 200, "every action stopped");
    for command in [&["status"][..], &["list"][..], &["guard", "list"][..]] {
        let text = admin_ok(url, command);
        assert!(
            text.starts_with("GUARD TRIPPED: guard 1 on every view"),
            "{command:?}: {text}"
        );
    }
    // Bad input: one clear error, exit 2, nothing written.
    for (args, says) in [
        (
            &["guard", "set", "--max-error-rate", "150%"][..],
            "max error rate '150%' is not a rate",
        ),
        (&["guard", "set", "--window", "10s"][..], "needs a limit"),
        (
            &["guard", "set", "--max-error-rate", "-5%"][..],
            "max error rate '-5%' is not a rate",
        ),
        (
            &["guard", "set", "--view", "", "--max-p99", "2s"][..],
            "the view is empty",
        ),
        (
            &["guard", "set", "--max-p99", "2s", "--window", "2s"][..],
            "window 2s is out of range",
        ),
        (&["guard", "clear", "99"][..], "unknown"),
    ] {
        let output = admin(url, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // Reset: both inject again.
    let reset = admin_ok(url, &["guard", "reset"]);
    assert!(reset.starts_with("re-armed 1 guard(s)"), "{reset}");
    for app in [&one, &two] {
        poll("chaos to resume", || {
            (app.post("/checkout").status == 418).then_some(())
        });
    }
    assert!(!admin_ok(url, &["status"]).contains("GUARD TRIPPED"));
}

const TOKEN: &str = "guards-e2e-token-0123456789";

fn api(server: &e2e::AdminServer, method: &str, path: &str, body: &str) -> e2e::HttpResponse {
    let bearer = format!("Bearer {TOKEN}");
    server.request(
        method,
        path,
        &[
            ("Authorization", bearer.as_str()),
            ("Content-Type", "application/json"),
        ],
        body,
    )
}

/// The web admin's guard API and pages: the CLI's rules and messages, the tripped banner
/// on every page, a reset.
#[test]
fn the_admin_sets_shows_and_resets_guards() {
    let store = TestStore::sqlite();
    let url = store.url();
    let server = e2e::AdminServer::start(url, "127.0.0.1:0", &[("CHAOS_ADMIN_TOKEN", TOKEN)]);
    for (body, status, says) in [
        (
            r#"{"max_error_rate": "150%"}"#,
            422,
            "max error rate '150%' is not a rate",
        ),
        (r#"{"window": "60s"}"#, 422, "needs a limit"),
        (r#"{"max_p99": "2s", "bogus": 1}"#, 400, "bogus"),
    ] {
        let answer = api(&server, "POST", "/api/v1/guards", body);
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        let error = answer.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(error.contains(says), "{body}: {error}");
    }
    let created = api(
        &server,
        "POST",
        "/api/v1/guards",
        r#"{"max_error_rate": "20%", "max_p99": "2s", "window": "30s", "view": "items"}"#,
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_i64().expect("id");
    // The CLI sees it as the API wrote it.
    let listed = admin_ok(url, &["guard", "list"]);
    assert!(
        listed.contains("guard 1 on items: error rate > 20%, p99 > 2s over 30s"),
        "{listed}"
    );
    // Tripped (as an instance would record it): every page says so.
    let store_handle = tokio::runtime::Runtime::new().expect("runtime");
    store_handle.block_on(async {
        let store = chaos_middleware::Store::connect(url).await.expect("open");
        let trip = chaos_middleware::guard::Trip {
            at: 1,
            by: "web-1".into(),
            detail: "error rate 40% (8 of 20 responses on items) is over the limit 20%".into(),
        };
        assert!(store.trip_guard(id, &trip).await.expect("trip"));
    });
    let guards = api(&server, "GET", "/api/v1/guards", "");
    assert_eq!(guards.json()["guards"][0]["tripped"]["by"], "web-1");
    let bearer = format!("Bearer {TOKEN}");
    for path in ["/", "/gameday", "/guards"] {
        let page = server.request("GET", path, &[("Authorization", &bearer)], "");
        assert_eq!(page.status, 200, "{path}");
        assert!(
            page.body.contains("Guard tripped: all chaos is off."),
            "{path}: {}",
            page.body
        );
    }
    let reset = api(&server, "POST", "/api/v1/guards/reset", "");
    assert_eq!(reset.json()["reset"], 1);
    let page = server.request("GET", "/", &[("Authorization", &bearer)], "");
    assert!(!page.body.contains("Guard tripped"));
    let removed = api(&server, "DELETE", &format!("/api/v1/guards/{id}"), "");
    assert_eq!(removed.json()["removed"], 1);
    let again = api(&server, "DELETE", &format!("/api/v1/guards/{id}"), "");
    assert_eq!(again.status, 404, "{}", again.body);
}
