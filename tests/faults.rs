//! The fault vocabulary end to end: the real `demo-app` and `chaos-admin` over real sockets.

use std::time::Duration;

use e2e::{DemoApp, TestStore, admin_ok, poll};

/// Creates an action and waits until the app shows it (the probe says when).
fn create_and_wait<T>(url: &str, args: &[&str], what: &str, probe: impl FnMut() -> Option<T>) -> T {
    let mut full = vec!["create"];
    full.extend_from_slice(args);
    admin_ok(url, &full);
    poll(what, probe).0
}

#[test]
fn abort_drops_the_connection_without_a_status() {
    abort_drops_the_connection(&[]);
}

/// See [`abort_drops_the_connection_without_a_status`]; `env` chooses the demo's wiring.
fn abort_drops_the_connection(env: &[(&str, &str)]) {
    let store = TestStore::sqlite();
    let app = DemoApp::start_with_env(store.url(), env);
    let whole_router = env.contains(&("DEMO_WHOLE_ROUTER", "true"));
    let wiring = if whole_router {
        "chaos layer: around the whole Router (ChaosLayer::around)"
    } else {
        "chaos layer: on every route (Router::layer)"
    };
    assert!(
        app.startup.iter().any(|line| line == wiring),
        "{:?}",
        app.startup
    );
    let err = create_and_wait(
        store.url(),
        &["response", "abort", "items"],
        "the abort to apply",
        || app.request("GET", "/items", &[]).err(),
    );
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    // HEAD (served by the GET route) is dropped the same way: a HEAD health check must
    // not see 200 during the fault.
    let err = app
        .request("HEAD", "/items", &[])
        .expect_err("HEAD /items must be dropped too");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    // Only that view, and the server keeps serving.
    assert_eq!(app.get("/items/1").status, 200);
    assert_eq!(app.get("/health").status, 200);
    assert_eq!(
        app.request("HEAD", "/health", &[]).map(|r| r.status).ok(),
        Some(200)
    );
}

#[test]
fn a_get_only_return_covers_head_and_bodiless_statuses_send_no_body() {
    get_only_return_and_bodiless_statuses(&[]);
}

/// See [`a_get_only_return_covers_head_and_bodiless_statuses_send_no_body`]; `env` chooses the demo's wiring.
fn get_only_return_and_bodiless_statuses(env: &[(&str, &str)]) {
    let store = TestStore::sqlite();
    let app = DemoApp::start_with_env(store.url(), env);
    create_and_wait(
        store.url(),
        &[
            "return", "items", "503", "--method", "GET", "--body", "down",
        ],
        "the GET-only 503 to apply",
        || (app.get("/items").status == 503).then_some(()),
    );
    let head = app.request("HEAD", "/items", &[]).expect("HEAD answers");
    assert_eq!((head.status, head.body.as_str()), (503, ""));
    // HEAD says the length GET's body has ("down"), in both wirings.
    let length = head
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.as_str());
    assert_eq!(length, Some("4"), "{:?}", head.headers);
    // `create return health 204` answers 204 with no body and no length.
    create_and_wait(
        store.url(),
        &["return", "health", "204"],
        "the 204 to apply",
        || (app.get("/health").status == 204).then_some(()),
    );
    let response = app.get("/health");
    assert_eq!(response.body, "");
    assert!(
        !response
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-length")),
        "{:?}",
        response.headers
    );
}

#[test]
fn panic_becomes_the_apps_500_and_the_server_keeps_serving() {
    panic_becomes_500(&[]);
}

/// See [`panic_becomes_the_apps_500_and_the_server_keeps_serving`]; `env` chooses the demo's wiring.
fn panic_becomes_500(env: &[(&str, &str)]) {
    let store = TestStore::sqlite();
    let app = DemoApp::start_with_env(store.url(), env);
    let response = create_and_wait(
        store.url(),
        &["response", "panic", "checkout"],
        "the panic to apply",
        || {
            let response = app.post("/checkout");
            (response.status == 500).then_some(response)
        },
    );
    assert_eq!(response.status, 500);
    let checkouts = app.checkouts();
    for _ in 0..3 {
        assert_eq!(app.post("/checkout").status, 500);
        assert_eq!(app.get("/items").status, 200);
    }
    assert_eq!(app.checkouts(), checkouts, "the handler never ran");
}

#[test]
fn panic_without_a_panic_handler_drops_only_that_connection() {
    let store = TestStore::sqlite();
    let app = DemoApp::start_with_env(store.url(), &[("DEMO_NO_CATCH_PANIC", "true")]);
    create_and_wait(
        store.url(),
        &["response", "panic", "checkout"],
        "the panic to apply",
        || app.request("POST", "/checkout", &[]).err(),
    );
    for _ in 0..3 {
        assert!(app.request("POST", "/checkout", &[]).is_err());
        assert_eq!(app.get("/items").status, 200);
    }
}

#[test]
fn point_error_gets_the_apps_graceful_error() {
    let store = TestStore::sqlite();
    let app = DemoApp::start(store.url());
    let response = create_and_wait(
        store.url(),
        &[
            "point",
            "error",
            "db.items",
            "--message",
            "connection refused",
        ],
        "the point error to apply",
        || {
            let response = app.get("/items");
            (response.status == 503).then_some(response)
        },
    );
    let body = response.json();
    assert_eq!(
        body["error"],
        "the item database is unavailable, please try again later"
    );
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("connection refused")),
        "{body}"
    );
    // The same point guards item_detail; checkout uses another point and still works.
    assert_eq!(app.get("/items/1").status, 503);
    assert_eq!(app.post("/checkout").status, 200);
    let metrics = app.get("/metrics").body;
    assert!(
        metrics.contains("chaos_faults_injected_total{verb=\"point_error\"}"),
        "{metrics}"
    );
}

#[test]
fn slow_after_runs_the_handler_then_holds_the_response() {
    let store = TestStore::sqlite();
    let app = DemoApp::start(store.url());
    let held = Duration::from_millis(300);
    create_and_wait(
        store.url(),
        &[
            "response", "slow", "checkout", "300ms", "300ms", "--phase", "after",
        ],
        "the held response",
        || (app.post("/checkout").elapsed >= held).then_some(()),
    );
    let before = app.checkouts();
    let response = app.post("/checkout");
    assert_eq!(response.status, 200);
    assert!(response.elapsed >= held, "took {:?}", response.elapsed);
    assert_eq!(app.checkouts(), before + 1, "the handler did the work");
}

#[test]
fn an_action_created_for_two_seconds_stops_by_itself() {
    let store = TestStore::sqlite();
    let app = DemoApp::start(store.url());
    create_and_wait(
        store.url(),
        &["return", "items", "500", "--for", "2s"],
        "the brief 500",
        || (app.get("/items").status == 500).then_some(()),
    );
    let (_, took) = poll("the action to expire", || {
        (app.get("/items").status == 200).then_some(())
    });
    assert!(took < Duration::from_secs(3), "expired after {took:?}");
    let listed = admin_ok(store.url(), &["list"]);
    assert!(listed.contains("expired"), "{listed}");
    assert_eq!(
        admin_ok(store.url(), &["purge", "--expired"]).trim(),
        "purged 1 action"
    );
}

#[test]
fn chaos_disabled_injects_nothing() {
    let store = TestStore::sqlite();
    let disabled = DemoApp::start_with_env(store.url(), &[("CHAOS_DISABLED", "1")]);
    let control = DemoApp::start(store.url());
    create_and_wait(
        store.url(),
        &["return", "*", "503"],
        "the control app to apply the action",
        || (control.get("/items").status == 503).then_some(()),
    );
    for path in ["/", "/items", "/items/2", "/health"] {
        assert_eq!(disabled.get(path).status, 200, "{path}");
    }
    assert_eq!(disabled.post("/checkout").status, 200);
    let metrics = disabled.get("/metrics").body;
    assert!(metrics.contains("chaos_enabled 0"), "{metrics}");
}

#[test]
fn user_group_and_method_filters_from_the_cli() {
    user_group_and_method_filters(&[]);
}

/// See [`user_group_and_method_filters_from_the_cli`]; `env` chooses the demo's wiring.
fn user_group_and_method_filters(env: &[(&str, &str)]) {
    let store = TestStore::sqlite();
    let app = DemoApp::start_with_env(store.url(), env);
    let alice = [("x-demo-user", "alice")];
    let bob = [("x-demo-user", "bob")];
    create_and_wait(
        store.url(),
        &[
            "return", "items", "401", "--user", "alice", "--method", "GET",
        ],
        "alice's 401",
        || {
            let response = app.request("GET", "/items", &alice).ok()?;
            (response.status == 401).then_some(())
        },
    );
    let status = |headers: &[(&str, &str)]| {
        app.request("GET", "/items", headers)
            .map(|r| r.status)
            .unwrap_or(0)
    };
    assert_eq!(status(&bob), 200);
    assert_eq!(status(&[]), 200);
    assert_eq!(status(&alice), 401);
    // POST is not filtered in; a group filter matches members only.
    assert_eq!(app.post("/checkout").status, 200);
    let staff = [("x-demo-user", "carol"), ("x-demo-groups", "ops, staff")];
    let guest = [("x-demo-user", "dan"), ("x-demo-groups", "guests")];
    create_and_wait(
        store.url(),
        &["return", "item_detail", "403", "--group", "staff"],
        "the staff-only 403",
        || {
            let response = app.request("GET", "/items/1", &staff).ok()?;
            (response.status == 403).then_some(())
        },
    );
    let detail = |headers: &[(&str, &str)]| {
        app.request("GET", "/items/1", headers)
            .map(|r| r.status)
            .unwrap_or(0)
    };
    assert_eq!(detail(&guest), 200);
    assert_eq!(detail(&alice), 200);
}

/// `ChaosLayer::around` the demo's whole Router (`DEMO_WHOLE_ROUTER=true`): the layer finds
/// each request's view itself, and every fault above lands as with `Router::layer` —
/// named static and parameterized views, GET covering HEAD, bodiless statuses, user and
/// group filters from the auth outside it, a panic caught by the app's handler.
#[test]
fn the_whole_router_wiring_injects_as_the_route_layer_does() {
    let env = [("DEMO_WHOLE_ROUTER", "true")];
    abort_drops_the_connection(&env);
    get_only_return_and_bodiless_statuses(&env);
    panic_becomes_500(&env);
    user_group_and_method_filters(&env);
}
