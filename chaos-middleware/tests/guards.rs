//! Guards against a real store on every backend: set, listed, tripped, reset and cleared
//! (each a new generation, all-or-nothing), and a layer that stops injecting when a guard
//! is tripped in the store or when it measures the app's own errors over the limit.
//!
//! Conditions are polled with deadlines; nothing sleeps to synchronise.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use chaos_middleware::guard::{GuardSpec, Trip};
use chaos_middleware::{
    ActionSpec, ChaosHandle, ChaosLayer, ChaosViews, Fault, Kind, Store, StoreError,
};
use tower::ServiceExt;

const DEADLINE: Duration = Duration::from_secs(15);

chaos_middleware::per_backend!(
    guards_round_trip,
    a_tripped_guard_stops_every_instance,
    measured_errors_trip_the_guard,
);

fn spec(view: Option<&str>, rate: Option<f64>) -> GuardSpec {
    GuardSpec {
        view: view.map(str::to_owned),
        max_error_rate: rate,
        max_p99_ms: None,
        window_ms: 10_000,
        min_requests: 10,
    }
}

async fn wait_for(what: &str, mut probe: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !probe().await {
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn guards_round_trip(url: &str) {
    let store = Store::connect(url).await.expect("open");
    let before = store.generation().await.expect("generation");
    let id = store
        .set_guard(&spec(Some("items"), Some(0.2)))
        .await
        .expect("set");
    assert_eq!(store.generation().await.expect("generation"), before + 1);
    let guards = store.guards().await.expect("guards");
    assert_eq!(guards.len(), 1);
    assert_eq!(guards[0].spec, spec(Some("items"), Some(0.2)));
    assert!(guards[0].tripped.is_none());
    // Invalid guards are refused and nothing is written.
    for (bad, says) in [
        (spec(None, None), "needs a limit"),
        (spec(None, Some(1.0)), "max error rate 100% is out of range"),
        (
            GuardSpec {
                window_ms: 1_000,
                ..spec(None, Some(0.1))
            },
            "window 1s is out of range",
        ),
    ] {
        let err = store.set_guard(&bad).await.expect_err(says);
        assert!(err.to_string().contains(says), "{err}");
    }
    assert_eq!(store.guards().await.expect("guards").len(), 1);
    // A trip is recorded once; a reset re-arms.
    let trip = Trip {
        at: 1,
        by: "web-1".into(),
        detail: "error rate 50%".into(),
    };
    assert!(store.trip_guard(id, &trip).await.expect("trip"));
    assert!(!store.trip_guard(id, &trip).await.expect("trip again"));
    // A tripped guard is not removed (that would resume chaos without a reset).
    let refused = store.clear_guards(Some(id)).await.expect_err("tripped");
    assert!(refused.to_string().contains("guard reset"), "{refused}");
    let refused = store.clear_guards(None).await.expect_err("tripped");
    assert!(
        refused.to_string().contains("1 guard(s) tripped"),
        "{refused}"
    );
    assert_eq!(
        store.guards().await.expect("guards")[0].tripped.as_ref(),
        Some(&trip)
    );
    assert_eq!(store.reset_guards().await.expect("reset"), 1);
    assert_eq!(store.reset_guards().await.expect("reset"), 0);
    assert!(store.guards().await.expect("guards")[0].tripped.is_none());
    // Clearing an unknown id changes nothing.
    let at = store.generation().await.expect("generation");
    let unknown = store.clear_guards(Some(id + 100)).await;
    assert!(
        matches!(&unknown, Err(StoreError::UnknownGuard(n)) if *n == id + 100),
        "{unknown:?}"
    );
    assert!(
        unknown
            .expect_err("unknown")
            .to_string()
            .contains("no such guard (see `chaos-admin guard list`)")
    );
    assert_eq!(store.generation().await.expect("generation"), at);
    assert_eq!(store.clear_guards(Some(id)).await.expect("clear"), 1);
    assert!(store.guards().await.expect("guards").is_empty());
}

fn views() -> ChaosViews {
    let mut views = ChaosViews::new();
    let _: Router = Router::new()
        .route(views.name("items", "/items"), get(|| async { "items" }))
        .route(views.name("broken", "/broken"), get(|| async { "broken" }));
    views
}

/// The app under test: `/items` answers 200, `/broken` its own 500, `/slow` 200.
fn app(chaos: &ChaosLayer) -> Router {
    Router::new()
        .route("/items", get(|| async { "items" }))
        .route(
            "/broken",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "the app failed") }),
        )
        .layer(chaos.clone())
}

async fn status(app: &Router, path: &str) -> StatusCode {
    let request = Request::get(path).body(Body::empty()).expect("request");
    app.clone().oneshot(request).await.expect("answer").status()
}

fn layer(store: &Store) -> ChaosLayer {
    ChaosLayer::builder()
        .enabled(true)
        .store(store.clone())
        .views(views())
        .poll_interval(Duration::from_millis(20))
        .build()
        .expect("builds")
}

async fn applied(handle: &ChaosHandle, store: &Store) {
    let generation = store.generation().await.expect("generation");
    wait_for(&format!("generation {generation}"), async || {
        handle.stats().generation >= Some(generation)
    })
    .await;
}

/// Two instances on `url` with `return STATUS` on items and a 20 % guard on every view,
/// both applying it: the store, the guard's id, the layers and their apps.
async fn two_guarded_instances(url: &str, status: u16) -> (Store, i64, [(ChaosLayer, Router); 2]) {
    let store = Store::connect(url).await.expect("open");
    store
        .create(&ActionSpec::new(
            Kind::Response,
            "items",
            Fault::Return { status, body: None },
        ))
        .await
        .expect("create");
    let id = store.set_guard(&spec(None, Some(0.2))).await.expect("set");
    let instances = [layer(&store), layer(&store)].map(|layer| {
        let app = app(&layer);
        (layer, app)
    });
    for (layer, _) in &instances {
        applied(&layer.handle(), &store).await;
    }
    (store, id, instances)
}

async fn a_tripped_guard_stops_every_instance(url: &str) {
    let (store, id, instances) = two_guarded_instances(url, 418).await;
    let [(one, app_one), (two, app_two)] = &instances;
    assert_eq!(status(app_one, "/items").await, StatusCode::IM_A_TEAPOT);
    assert!(one.handle().stats().guards_armed);
    // Tripped in the store (by another instance): both stop, counts kept.
    let trip = Trip {
        at: 1,
        by: "elsewhere".into(),
        detail: "measured".into(),
    };
    store.trip_guard(id, &trip).await.expect("trip");
    for (layer, app) in [(one, app_one), (two, app_two)] {
        applied(&layer.handle(), &store).await;
        assert!(layer.handle().stats().guard_tripped);
        assert_eq!(status(app, "/items").await, StatusCode::OK);
    }
    // A reset re-arms both.
    store.reset_guards().await.expect("reset");
    for (layer, app) in [(one, app_one), (two, app_two)] {
        applied(&layer.handle(), &store).await;
        assert!(!layer.handle().stats().guard_tripped);
        assert_eq!(status(app, "/items").await, StatusCode::IM_A_TEAPOT);
    }
}

async fn measured_errors_trip_the_guard(url: &str) {
    // Chaos on items; the app's own errors come from /broken.
    let (store, id, instances) = two_guarded_instances(url, 503).await;
    let [(one, app_one), (two, app_two)] = &instances;
    // Injected 503s are chaos, not the app's: they never trip the guard.
    for _ in 0..50 {
        assert_eq!(
            status(app_one, "/items").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    // The app's own 500s on one instance: it trips, and the store tells the other.
    for _ in 0..30 {
        assert_eq!(
            status(app_one, "/broken").await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    wait_for("the guard to trip in the store", async || {
        store.guards().await.expect("guards")[0].tripped.is_some()
    })
    .await;
    let guard = &store.guards().await.expect("guards")[0];
    assert_eq!(guard.id, id);
    let detail = &guard.tripped.as_ref().expect("tripped").detail;
    assert!(
        detail.starts_with("error rate 100% (30 of 30 responses on every view)"),
        "{detail}"
    );
    for (layer, app) in [(one, app_one), (two, app_two)] {
        applied(&layer.handle(), &store).await;
        assert_eq!(status(app, "/items").await, StatusCode::OK);
    }
    store.reset_guards().await.expect("reset");
    for (layer, app) in [(one, app_one), (two, app_two)] {
        applied(&layer.handle(), &store).await;
        assert_eq!(status(app, "/items").await, StatusCode::SERVICE_UNAVAILABLE);
    }
}

/// SQLite: hand edits. An unreadable guard row counts as tripped (chaos stays off, the
/// row is named); a guard on `*` measures every view; a point delay is not the app's
/// latency; expired actions are not chaos.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_are_safe_with_hand_edits_points_and_expiry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = chaos_middleware::testing::temp_sqlite_url(dir.path());
    let store = Store::connect(&url).await.expect("open");
    store
        .create(&ActionSpec::new(
            Kind::Response,
            "items",
            Fault::Return {
                status: 418,
                body: None,
            },
        ))
        .await
        .expect("create");
    store
        .raw_execute(
            "INSERT INTO chaos_guards (view, max_error_rate, window_ms, min_requests, created_at) \
             VALUES (NULL, 0.1, 'sixty', 20, 0)",
        )
        .await
        .expect("a hand edit");
    store
        .raw_execute("UPDATE chaos_meta SET generation = generation + 1 WHERE id = 1")
        .await
        .expect("publish it");
    let guards = store.guards().await.expect("guards");
    let trip = guards[0]
        .tripped
        .as_ref()
        .expect("unreadable counts as tripped");
    assert!(
        trip.detail
            .starts_with("guard row 1 cannot be read (window_ms"),
        "{}",
        trip.detail
    );
    let chaos = layer(&store);
    let app = app(&chaos);
    applied(&chaos.handle(), &store).await;
    assert!(chaos.handle().stats().guard_tripped);
    assert_eq!(
        status(&app, "/items").await,
        StatusCode::OK,
        "chaos stays off"
    );
    // Fixed by hand, and published with the next chaos-admin write: chaos resumes.
    store
        .raw_execute("UPDATE chaos_guards SET window_ms = 60000 WHERE id = 1")
        .await
        .expect("fix");
    store
        .create(&ActionSpec::new(
            Kind::Response,
            "broken",
            Fault::Return {
                status: 418,
                body: None,
            },
        ))
        .await
        .expect("create");
    applied(&chaos.handle(), &store).await;
    assert!(!chaos.handle().stats().guard_tripped);
    assert_eq!(status(&app, "/items").await, StatusCode::IM_A_TEAPOT);
    assert_eq!(store.reset_guards().await.expect("reset"), 0);
    store.clear_guards(None).await.expect("clear");
    // A guard on `*`: every view is measured.
    store
        .set_guard(&spec(Some("*"), Some(0.2)))
        .await
        .expect("set");
    applied(&chaos.handle(), &store).await;
    let broken = Router::new()
        .route(
            "/other",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "the app failed") }),
        )
        .layer(chaos.clone());
    for _ in 0..15 {
        assert_eq!(
            status(&broken, "/other").await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    wait_for("the guard on * to trip", async || {
        store.guards().await.expect("guards")[0].tripped.is_some()
    })
    .await;
    store.reset_guards().await.expect("reset");
    store.clear_guards(None).await.expect("clear");

    // A p99 guard of 50ms and a point that injects 100ms: not the app's latency.
    store
        .create(&ActionSpec::new(
            Kind::Point,
            "db.slow",
            Fault::Slow {
                min_ms: 100,
                max_ms: 100,
                phase: chaos_middleware::Phase::Before,
            },
        ))
        .await
        .expect("create");
    store
        .set_guard(&GuardSpec {
            max_p99_ms: Some(50),
            ..spec(None, None)
        })
        .await
        .expect("set");
    applied(&chaos.handle(), &store).await;
    let handle = chaos.handle();
    let slow_point = Router::new()
        .route(
            "/point",
            get(move || {
                let handle = handle.clone();
                async move {
                    let _ = handle.point("db.slow", None).await;
                    "done"
                }
            }),
        )
        .layer(chaos.clone());
    for _ in 0..12 {
        assert_eq!(status(&slow_point, "/point").await, StatusCode::OK);
    }
    // Two checks of the guard task (1 s apart) pass without a trip.
    let started = Instant::now();
    wait_for("two guard checks", async || {
        started.elapsed() >= Duration::from_millis(2_200)
    })
    .await;
    assert!(store.guards().await.expect("guards")[0].tripped.is_none());
    assert!(!chaos.handle().stats().guard_tripped);
}
