//! The relay (`chaos_middleware::relay`) against a real store on every backend: a layer
//! whose store is `http://` applies changes (incrementally), deletions and hand edits,
//! registers through the relay, keeps its snapshot while the relay is down and resumes
//! when it is back; bad input to the relay gets one clear error.
//!
//! Conditions are polled with deadlines; nothing sleeps to synchronise.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use chaos_middleware::relay::server::RelayServer;
use chaos_middleware::{ActionSpec, ChaosHandle, ChaosLayer, ChaosViews, Fault, Kind, Store};
use tower::ServiceExt;

const DEADLINE: Duration = Duration::from_secs(15);

chaos_middleware::per_backend!(
    follows_the_store_through_the_relay,
    keeps_its_snapshot_while_the_relay_is_down,
);

fn ret(target: &str, status: u16) -> ActionSpec {
    ActionSpec::new(Kind::Response, target, Fault::Return { status, body: None })
}

async fn wait_for(what: &str, mut probe: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !probe().await {
        assert!(
            started.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn wait_applied(handle: &ChaosHandle, store: &Store) {
    let generation = store.generation().await.expect("generation");
    wait_for(&format!("generation {generation} applied"), async || {
        handle.stats().generation == Some(generation)
    })
    .await;
}

/// Serves `relay` on `addr` (port 0: any) until the returned task is aborted.
async fn serve(relay: &RelayServer, addr: SocketAddr) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    let local = listener.local_addr().expect("address");
    let app = relay.router();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (local, task)
}

fn subscriber(addr: SocketAddr) -> ChaosLayer {
    let mut views = ChaosViews::new();
    let _: Router = Router::new().route(views.name("items", "/items"), get(|| async { "items" }));
    ChaosLayer::builder()
        .enabled(true)
        .database_url(format!("http://{addr}"))
        .views(views)
        .heartbeat_interval(Duration::from_millis(200))
        .build()
        .expect("the layer builds")
}

async fn follows_the_store_through_the_relay(url: &str) {
    let store = Store::connect(url).await.expect("open the store");
    let first = store.create(&ret("items", 503)).await.expect("create");
    let relay = RelayServer::new(store.clone());
    let (addr, server) = serve(&relay, "127.0.0.1:0".parse().expect("addr")).await;
    let chaos = subscriber(addr);
    let handle = chaos.handle();
    wait_applied(&handle, &store).await;
    let stats = handle.stats();
    assert_eq!((stats.rules, stats.full_reloads), (1, 1), "{stats:?}");

    // A change is read incrementally: one row, not all.
    let second = store.create(&ret("checkout", 500)).await.expect("create");
    wait_applied(&handle, &store).await;
    let stats = handle.stats();
    assert_eq!(stats.rules, 2);
    assert_eq!(
        (
            stats.full_reloads,
            stats.incremental_reloads,
            stats.last_reload_rows
        ),
        (1, 1, 1)
    );

    // A deletion and a disable arrive too.
    store
        .delete(&chaos_middleware::Selection::Ids(vec![first]))
        .await
        .expect("delete");
    wait_applied(&handle, &store).await;
    assert_eq!(handle.stats().rules, 1);
    store
        .set_enabled(&chaos_middleware::Selection::Ids(vec![second]), false)
        .await
        .expect("disable");
    wait_applied(&handle, &store).await;
    assert_eq!(handle.stats().rules, 0);

    // The instance registered through the relay, with its views and generation.
    let generation = store.generation().await.expect("generation");
    wait_for("the instance to report its generation", async || {
        let instances = store.instances().await.expect("instances");
        instances.len() == 1 && instances[0].applied_generation == Some(generation)
    })
    .await;
    let views = store.registered_views().await.expect("views");
    assert_eq!(views.len(), 1);
    assert_eq!(
        (views[0].name.as_str(), views[0].pattern.as_str()),
        ("items", "/items")
    );

    // A clean shutdown deregisters it through the relay.
    handle.shutdown().await;
    assert!(store.instances().await.expect("instances").is_empty());
    server.abort();
}

async fn keeps_its_snapshot_while_the_relay_is_down(url: &str) {
    let store = Store::connect(url).await.expect("open the store");
    store.create(&ret("items", 503)).await.expect("create");
    let relay = RelayServer::new(store.clone());
    let (addr, server) = serve(&relay, "127.0.0.1:0".parse().expect("addr")).await;
    let chaos = subscriber(addr);
    let handle = chaos.handle();
    wait_applied(&handle, &store).await;

    // The relay goes away; the store changes meanwhile.
    relay.close();
    server.abort();
    let _ = server.await;
    store.create(&ret("checkout", 500)).await.expect("create");
    let down_at = handle.stats();
    assert_eq!(down_at.rules, 1, "the last snapshot stays in force");

    // A new relay on the same address: the layer catches up by itself.
    let relay = RelayServer::new(store.clone());
    let (_, server) = serve(&relay, addr).await;
    wait_applied(&handle, &store).await;
    assert_eq!(handle.stats().rules, 2);
    server.abort();
}

/// The relay's routes with hostile input: one JSON error naming the value, 4xx.
#[tokio::test]
async fn bad_input_gets_one_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::connect(&chaos_middleware::testing::temp_sqlite_url(dir.path()))
        .await
        .expect("open");
    let router = RelayServer::new(store.clone()).router();
    let call = async |method: &str, uri: &str, body: &str| {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body.to_owned()))
            .expect("request");
        let response = router.clone().oneshot(request).await.expect("answer");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        (status, json)
    };
    for (uri, says) in [
        (
            "/api/v1/relay/changes?generation=1",
            "generation and epoch go together",
        ),
        (
            "/api/v1/relay/changes?generation=1&epoch=2&wait=3600",
            "wait '3600' is out of range",
        ),
        ("/api/v1/relay/changes?since=1", "unknown parameter 'since'"),
    ] {
        let (status, json) = call("GET", uri, "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        let error = json["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{uri}: {error}");
    }
    let instance = |id: &str, heartbeat_ms: i64| {
        serde_json::json!({
            "instance": {"id": id, "host": "h", "pid": 1, "started_at": 0,
                         "heartbeat_ms": heartbeat_ms, "views": []},
            "generation": 0, "applied_at": 0
        })
        .to_string()
    };
    for (body, status, says) in [
        ("{", StatusCode::BAD_REQUEST, "the report is not valid"),
        (
            r#"{"instance": 1}"#,
            StatusCode::BAD_REQUEST,
            "the report is not valid",
        ),
        (
            &instance("", 1000),
            StatusCode::UNPROCESSABLE_ENTITY,
            "instance.id has 0 characters",
        ),
        (
            &instance("a\u{1b}b", 1000),
            StatusCode::UNPROCESSABLE_ENTITY,
            "control character",
        ),
        (
            &instance("ok", 0),
            StatusCode::UNPROCESSABLE_ENTITY,
            "heartbeat_ms 0 is out of range",
        ),
    ] {
        let (got, json) = call("POST", "/api/v1/relay/instances", body).await;
        assert_eq!(got, status, "{body}");
        let error = json["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{body}: {error}");
    }
    let with_views = |views: serde_json::Value| {
        serde_json::json!({
            "instance": {"id": "v", "host": "h", "pid": 1, "started_at": 0,
                         "heartbeat_ms": 1000, "views": views},
            "generation": 0, "applied_at": 0
        })
        .to_string()
    };
    for (body, says) in [
        (
            with_views(serde_json::json!([
                {"name": "a", "pattern": "/a", "methods": []},
                {"name": "b", "pattern": "/a", "methods": []}
            ])),
            "view pattern /a is listed twice",
        ),
        (
            with_views(serde_json::json!([{"name": "a", "pattern": "/a", "methods": ["GE T"]}])),
            "view /a:",
        ),
    ] {
        let (got, json) = call("POST", "/api/v1/relay/instances", &body).await;
        assert_eq!(got, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let error = json["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{body}: {error}");
    }
    for (method, uri, status, says) in [
        (
            "GET",
            "/api/v1/relay/nothing",
            StatusCode::NOT_FOUND,
            "no relay route /api/v1/relay/nothing",
        ),
        (
            "PUT",
            "/api/v1/relay/changes",
            StatusCode::METHOD_NOT_ALLOWED,
            "PUT is not allowed",
        ),
        (
            "DELETE",
            "/api/v1/relay/instances/%ff",
            StatusCode::BAD_REQUEST,
            "not UTF-8",
        ),
        (
            "DELETE",
            "/api/v1/relay/instances/a%00b",
            StatusCode::UNPROCESSABLE_ENTITY,
            "control character",
        ),
    ] {
        let (got, json) = call(method, uri, "").await;
        assert_eq!(got, status, "{method} {uri}");
        let error = json["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{method} {uri}: {error}");
    }
    // Nothing was half-written.
    assert!(store.instances().await.expect("instances").is_empty());
    let (status, json) = call("POST", "/api/v1/relay/instances", &instance("ok", 1000)).await;
    assert_eq!(
        (status, json["registered"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let (status, json) = call("POST", "/api/v1/relay/instances", &instance("ok", 1000)).await;
    assert_eq!(
        (status, json["registered"].as_bool()),
        (StatusCode::OK, Some(false))
    );
    assert_eq!(store.instances().await.expect("instances").len(), 1);
}

/// A relay that answers rows no store would hold: the layer skips those, applies the
/// rest, and a relay answering garbage changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_actions_from_the_relay_are_skipped() {
    let answer = serde_json::json!({
        "generation": 3, "epoch": 7, "changes": "all", "deleted": [],
        "actions": [
            {"id": 1, "kind": "response", "target": "items", "verb": "return", "status": 503,
             "probability": 1.0, "users": [], "groups": [], "hosts": [], "methods": [],
             "enabled": true, "expires_at": null, "tag": null, "note": null,
             "created_at": 0, "updated_at": 0, "created_by": null},
            {"id": 2, "kind": "response", "target": "items", "verb": "return", "status": 999,
             "probability": 1.0, "users": [], "groups": [], "hosts": [], "methods": [],
             "enabled": true, "expires_at": null, "tag": null, "note": null,
             "created_at": 0, "updated_at": 0, "created_by": null},
            {"id": 3, "kind": "response", "target": "items", "verb": "melt"}
        ]
    })
    .to_string();
    let app = Router::new().route(
        "/api/v1/relay/changes",
        get(move || {
            let answer = answer.clone();
            async move { ([("content-type", "application/json")], answer) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let chaos = ChaosLayer::builder()
        .enabled(true)
        .database_url(format!("http://{addr}"))
        .register_instance(false)
        .build()
        .expect("builds");
    let handle = chaos.handle();
    wait_for("generation 3", async || {
        handle.stats().generation == Some(3)
    })
    .await;
    assert_eq!(handle.stats().rules, 1, "only the valid action");
    // A server that answers at once (no long poll) is not hammered: at most 10 polls a
    // second. The reload count grows by one per poll (each answer is `all`).
    let before = handle.stats().full_reloads;
    let started = Instant::now();
    wait_for("a second of polls", async || {
        started.elapsed() >= Duration::from_secs(1)
    })
    .await;
    let polls = handle.stats().full_reloads - before;
    let allowed = started.elapsed().as_millis() as u64 / 100 + 2;
    assert!(polls <= allowed, "{polls} polls in {:?}", started.elapsed());
    server.abort();

    // A URL a relay cannot have: the app still builds (and injects nothing).
    let chaos = ChaosLayer::builder()
        .enabled(true)
        .database_url("https://relay.example:8900")
        .build()
        .expect("the layer builds");
    assert_eq!(chaos.handle().stats().generation, None);
}

/// A relay over a SQLite file that is deleted serves nothing from the lost file, and
/// follows the new store created at its URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_store_file_is_not_served() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = chaos_middleware::testing::temp_sqlite_url(dir.path());
    let store = Store::connect(&url).await.expect("open");
    store.create(&ret("items", 500)).await.expect("create");
    let relay = RelayServer::new(store.clone());
    let (addr, server) = serve(&relay, "127.0.0.1:0".parse().expect("addr")).await;
    let chaos = subscriber(addr);
    let handle = chaos.handle();
    wait_applied(&handle, &store).await;
    store.close().await;
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        std::fs::remove_file(entry.expect("entry").path()).expect("remove");
    }
    // A new store at the same URL, with two other actions: the relay serves it.
    let again = Store::connect(&url).await.expect("a new store");
    again.create(&ret("items", 418)).await.expect("create");
    again.create(&ret("checkout", 418)).await.expect("create");
    wait_for("the new store's two actions", async || {
        handle.stats().rules == 2
    })
    .await;
    server.abort();
}
