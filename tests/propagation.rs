//! Live propagation end to end, with the real binaries: several app instances on one
//! PostgreSQL store, `chaos-admin status` and `views`, store outages under a steady
//! stream of requests (a private PostgreSQL cluster stopped and started again; a SQLite
//! store folder moved away and back), and a row corrupted by hand.

use std::path::Path;

use e2e::load::{LoadReport, steady_stream};
use e2e::pg_cluster::PgCluster;
use e2e::{DemoApp, TestStore, admin, admin_ok, poll};
use serde_json::Value;

/// The outage tests send thousands of requests: log only warnings (no line per fault).
const QUIET: &[(&str, &str)] = &[("RUST_LOG", "warn")];

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

fn status_json(url: &str) -> Value {
    json(&admin_ok(url, &["status", "--json"]))
}

/// `create` and what it wrote on stderr.
fn create(url: &str, args: &[&str]) -> String {
    let mut full = vec!["create"];
    full.extend_from_slice(args);
    let output = admin(url, &full);
    assert!(
        output.status.success(),
        "chaos-admin {full:?} failed with {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn postgres_two_instances_see_a_change_and_report_it() {
    if let Some(store) = TestStore::postgres() {
        two_instances_see_a_change_and_report_it(&store);
    }
}

/// MySQL/MariaDB has no notifications: the instances poll, and `create` still waits
/// until both apply the change.
#[test]
fn mysql_two_instances_see_a_change_and_report_it() {
    if let Some(store) = TestStore::mysql() {
        two_instances_see_a_change_and_report_it(&store);
    }
}

fn two_instances_see_a_change_and_report_it(store: &TestStore) {
    let url = store.url();
    let apps = [DemoApp::start(url), DemoApp::start(url)];
    for app in &apps {
        assert_eq!(app.get("/items").status, 200);
    }

    // Both instances register themselves and their views.
    let (instances, _) = poll("both instances in `status`", || {
        let status = status_json(url);
        let instances = status["instances"].as_array().cloned().unwrap_or_default();
        (instances.len() == 2).then_some(instances)
    });
    assert!(
        instances
            .iter()
            .all(|i| i["state"] == "current" || i["state"] == "loading")
    );

    // One CLI change is seen by both, on the very first request after `create` returns:
    // `create` waits until every live instance applied it, and says so.
    let said = create(url, &["return", "items", "503"]);
    assert!(
        !said.contains("warning"),
        "a known view gives no warning: {said}"
    );
    assert!(
        said.starts_with("applied by 2 of 2 app instances in "),
        "{said}"
    );
    for app in &apps {
        assert_eq!(
            app.get("/items").status,
            503,
            "first request on port {}",
            app.port
        );
    }
    let said = create(url, &["return", "itms", "503"]);
    assert!(
        said.contains("warning") && said.contains("'itms' (did you mean items?)"),
        "{said}"
    );
    // ... and `status` shows both applying the store's generation.
    let (status, _) = poll("both instances to report the new generation", || {
        let status = status_json(url);
        let generation = status["generation"].as_i64()?;
        let instances = status["instances"].as_array()?;
        let all_current = instances.len() == 2
            && instances.iter().all(|i| {
                i["applied_generation"].as_i64() == Some(generation) && i["state"] == "current"
            });
        all_current.then_some(status)
    });
    let backend = if url.starts_with("mysql") {
        "mysql"
    } else {
        "postgres"
    };
    assert_eq!(status["backend"], backend);
    assert_eq!(status["generation"], 2, "two creates");
    let text = admin_ok(url, &["status"]);
    assert!(
        text.contains("2 of 2 instances apply generation 2"),
        "{text}"
    );

    // `views` lists the demo's views, each served by both instances.
    let views = json(&admin_ok(url, &["views", "--json"]));
    let views = views.as_array().expect("a JSON array");
    let mut names: Vec<&str> = views.iter().filter_map(|v| v["name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "checkout",
            "consumer_after",
            "consumer_before",
            "health",
            "index",
            "item_detail",
            "items",
            "provider"
        ]
    );
    for view in views {
        assert_eq!(
            view["instances"].as_array().map(Vec::len),
            Some(2),
            "{view}"
        );
    }
    let detail = views
        .iter()
        .find(|v| v["name"] == "item_detail")
        .expect("item_detail");
    assert_eq!(detail["route"], "/items/{id}");
    assert_eq!(detail["methods"], serde_json::json!(["GET"]), "{detail}");
    let checkout = views
        .iter()
        .find(|v| v["name"] == "checkout")
        .expect("checkout");
    assert_eq!(
        checkout["methods"],
        serde_json::json!(["POST"]),
        "{checkout}"
    );
    let table = admin_ok(url, &["views"]);
    assert!(table.starts_with("VIEW"), "{table}");
    assert!(table.contains("/items/{id}"), "{table}");

    // `create` warns about a view no instance serves, but creates it (exit 0).
    let warned = create(url, &["return", "itemz", "503"]);
    assert!(
        warned.starts_with("warning:") && warned.contains("'itemz'") && warned.contains("items"),
        "{warned}"
    );
    let lines: Vec<&str> = warned.trim().lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "the warning, then the confirmation: {warned}"
    );
    assert!(lines[1].starts_with("applied by 2 of 2"), "{warned}");
    // Route patterns and `*` are known.
    for target in ["/items/{id}", "*"] {
        let said = create(url, &["return", target, "503", "--disabled"]);
        assert!(
            said.starts_with("applied by 2 of 2") && !said.contains("warning"),
            "{said}"
        );
    }
    let listed = json(&admin_ok(url, &["list", "--json"]));
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(5),
        "items, itms, itemz, /items/{{id}}, *"
    );
}

fn assert_no_failures(report: &LoadReport) {
    assert!(
        report.failures.is_empty(),
        "{} of {} requests failed, first ones: {:#?}",
        report.failures.len(),
        report.requests,
        &report.failures[..report.failures.len().min(5)]
    );
    println!(
        "{} requests, none failed, slowest {:?}",
        report.requests, report.slowest
    );
}

#[test]
fn postgres_outage_serves_every_request_and_recovers_without_restart() {
    let Some(mut cluster) = PgCluster::start() else {
        assert!(
            std::env::var(chaos_middleware::testing::POSTGRES_URL_VAR).is_err(),
            "PostgreSQL tests were asked for, but its server binaries are missing"
        );
        return;
    };
    let url = cluster.url();
    let app = DemoApp::start_with_env(&url, QUIET);
    admin_ok(&url, &["create", "return", "items", "503"]);
    poll("the 503 on items", || {
        (app.get("/items").status == 503).then_some(())
    });

    let load = steady_stream(app.port);
    load.wait_for_more(50);
    cluster.stop();
    // The store is really gone: the CLI cannot reach it.
    let down = admin(&url, &["list"]);
    assert_eq!(
        down.status.code(),
        Some(1),
        "chaos-admin list with the store down"
    );
    // Serve through the outage for a while (the reloader's connect attempts time out
    // after 5 s: spanning that shows they never hold a request).
    let outage = std::time::Instant::now();
    poll("6 s of requests while the store is down", || {
        (outage.elapsed() >= std::time::Duration::from_secs(6)).then_some(())
    });
    load.wait_for_more(50);

    cluster.start_again();
    load.wait_for_more(50);
    // A new change is applied without restarting the app.
    admin_ok(&url, &["create", "return", "checkout", "401"]);
    let (_, took) = poll("the change made after the outage", || {
        (app.post("/checkout").status == 401).then_some(())
    });
    println!("applied {took:?} after the CLI returned (store back up)");
    let report = load.finish();
    assert_no_failures(&report);
    assert!(report.requests >= 150, "{} requests", report.requests);
    assert!(
        report.slowest < std::time::Duration::from_secs(2),
        "a request took {:?}: the store outage stalled it",
        report.slowest
    );
    // The instance re-registers and reports the new generation.
    poll("status to show the instance current again", || {
        let status = status_json(&url);
        let instance = status["instances"].as_array()?.first()?.clone();
        (instance["state"] == "current").then_some(())
    });
}

#[test]
fn sqlite_outage_serves_every_request_and_recovers_without_restart() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("store");
    std::fs::create_dir(&dir).expect("store dir");
    let url = chaos_middleware::testing::temp_sqlite_url(&dir);
    let app = DemoApp::start_with_env(&url, QUIET);
    admin_ok(&url, &["create", "return", "items", "503"]);
    poll("the 503 on items", || {
        (app.get("/items").status == 503).then_some(())
    });

    let load = steady_stream(app.port);
    load.wait_for_more(50);
    // The store's folder goes away (as far as an embedded file can have an outage).
    let away = root.path().join("store.away");
    std::fs::rename(&dir, &away).expect("move the store away");
    let down = admin(&url, &["list"]);
    assert_eq!(
        down.status.code(),
        Some(1),
        "chaos-admin list with the store gone"
    );
    load.wait_for_more(200);
    assert!(
        !Path::new(&dir).exists(),
        "the app must not re-create the store"
    );

    std::fs::rename(&away, &dir).expect("move the store back");
    admin_ok(&url, &["create", "return", "checkout", "401"]);
    let (_, took) = poll("the change made after the outage", || {
        (app.post("/checkout").status == 401).then_some(())
    });
    println!("applied {took:?} after the CLI returned (store back)");
    let report = load.finish();
    assert_no_failures(&report);
}

#[test]
fn sqlite_corrupt_row_does_not_stop_the_other_actions() {
    let store = TestStore::sqlite();
    corrupt_row_does_not_stop_the_other_actions(&store);
}

#[test]
fn postgres_corrupt_row_does_not_stop_the_other_actions() {
    if let Some(store) = TestStore::postgres() {
        corrupt_row_does_not_stop_the_other_actions(&store);
    }
}

#[test]
fn mysql_corrupt_row_does_not_stop_the_other_actions() {
    if let Some(store) = TestStore::mysql() {
        corrupt_row_does_not_stop_the_other_actions(&store);
    }
}

fn corrupt_row_does_not_stop_the_other_actions(store: &TestStore) {
    let url = store.url();
    let app = DemoApp::start(url);
    let id = admin_ok(url, &["create", "return", "items", "503"]);
    assert_eq!(id.trim(), "1");
    poll("the 503 on items", || {
        (app.get("/items").status == 503).then_some(())
    });
    // Someone edits row 1 by hand into something the layer cannot understand.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let raw = chaos_middleware::Store::connect(url).await.expect("open");
        raw.raw_execute("UPDATE chaos_actions SET status = 999 WHERE id = 1")
            .await
            .expect("corrupt row 1");
        raw.close().await;
    });
    // A valid change still applies; the corrupt row is skipped (items back to 200).
    admin_ok(url, &["create", "return", "checkout", "401"]);
    poll("the 401 on checkout", || {
        (app.post("/checkout").status == 401).then_some(())
    });
    assert_eq!(
        app.get("/items").status,
        200,
        "the corrupt row is not applied"
    );
    let listed = admin(url, &["list"]);
    let warning = String::from_utf8_lossy(&listed.stderr);
    assert!(warning.contains("action row 1 is invalid"), "{warning}");
}
