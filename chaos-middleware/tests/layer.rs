//! Layer unit tests: every verb, filter and view-key fallback, through `oneshot`.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use chaos_middleware::{
    Action, ActionSpec, ChaosHandle, ChaosLayer, ChaosUser, ChaosViews, Fault, Kind, Phase,
    RequestInfo,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::{ServiceBuilder, ServiceExt};

fn action(id: i64, target: &str, fault: Fault) -> Action {
    Action::new(id, ActionSpec::new(Kind::Response, target, fault))
}

fn slow(id: i64, target: &str, min_ms: u64, max_ms: u64) -> Action {
    action(
        id,
        target,
        Fault::Slow {
            min_ms,
            max_ms,
            phase: Phase::Before,
        },
    )
}

fn ret(id: i64, target: &str, status: u16, body: Option<&str>) -> Action {
    action(
        id,
        target,
        Fault::Return {
            status,
            body: body.map(str::to_owned),
        },
    )
}

/// A router with named views whose handlers count how often they ran.
struct App {
    router: Router,
    handle: ChaosHandle,
    calls: Arc<AtomicUsize>,
}

fn app_with(layer: ChaosLayer) -> App {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = |calls: Arc<AtomicUsize>, text: &'static str| {
        move || {
            let calls = Arc::clone(&calls);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                text
            }
        }
    };
    let handle = layer.handle();
    let router = Router::new()
        .route("/items", get(counted(Arc::clone(&calls), "items")))
        .route("/items/{id}", get(counted(Arc::clone(&calls), "item")))
        .route(
            "/checkout",
            get(counted(Arc::clone(&calls), "checkout")).post(counted(Arc::clone(&calls), "paid")),
        )
        .layer(layer);
    App {
        router,
        handle,
        calls,
    }
}

/// An enabled layer, with no store, that knows `views`.
fn enabled_layer(views: ChaosViews) -> ChaosLayer {
    ChaosLayer::builder()
        .enabled(true)
        .views(views)
        .build()
        .expect("the layer builds")
}

fn named_views() -> ChaosViews {
    let mut views = ChaosViews::new();
    views.name("items", "/items");
    views.name("item_detail", "/items/{id}");
    views.name("checkout", "/checkout");
    views
}

fn app(actions: &[Action]) -> App {
    let layer = ChaosLayer::builder()
        .enabled(true)
        .views(named_views())
        .build()
        .expect("layer builds");
    let app = app_with(layer);
    app.handle.apply(Some(1), actions);
    app
}

fn request(method: Method, path: &str, user: Option<ChaosUser>) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .expect("valid request");
    if let Some(user) = user {
        request.extensions_mut().insert(user);
    }
    request
}

async fn send(app: &App, request: Request<Body>) -> (StatusCode, String) {
    let response = app
        .router
        .clone()
        .oneshot(request)
        .await
        .expect("router is infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body reads")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn get_path(app: &App, path: &str) -> (StatusCode, String) {
    send(app, request(Method::GET, path, None)).await
}

#[tokio::test]
async fn no_actions_pass_through() {
    let app = app(&[]);
    assert_eq!(
        get_path(&app, "/items").await,
        (StatusCode::OK, "items".into())
    );
    assert_eq!(app.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn return_short_circuits_with_status_and_body() {
    let app = app(&[ret(1, "checkout", 401, Some("no entry"))]);
    let (status, body) = send(&app, request(Method::POST, "/checkout", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, "no entry");
    assert_eq!(app.calls.load(Ordering::SeqCst), 0, "handler must not run");
    // Other views are untouched.
    assert_eq!(get_path(&app, "/items").await.0, StatusCode::OK);
    assert_eq!(app.handle.stats().injected_return, 1);
}

#[tokio::test]
async fn return_without_body_is_empty() {
    let app = app(&[ret(1, "items", 503, None)]);
    assert_eq!(
        get_path(&app, "/items").await,
        (StatusCode::SERVICE_UNAVAILABLE, String::new())
    );
}

#[tokio::test(start_paused = true)]
async fn slow_delays_within_range_then_runs_handler() {
    let app = app(&[slow(1, "items", 200, 300)]);
    for _ in 0..20 {
        let started = tokio::time::Instant::now();
        assert_eq!(get_path(&app, "/items").await.0, StatusCode::OK);
        let waited = started.elapsed().as_millis();
        assert!((200..=300).contains(&waited), "waited {waited} ms");
    }
    assert_eq!(app.calls.load(Ordering::SeqCst), 20);
    assert_eq!(app.handle.stats().injected_slow, 20);
}

#[tokio::test(start_paused = true)]
async fn slow_delays_do_not_block_other_requests() {
    let app = app(&[slow(1, "items", 1000, 1000)]);
    let started = tokio::time::Instant::now();
    let (a, b, c) = tokio::join!(
        get_path(&app, "/items"),
        get_path(&app, "/items"),
        get_path(&app, "/checkout"),
    );
    assert_eq!(
        (a.0, b.0, c.0),
        (StatusCode::OK, StatusCode::OK, StatusCode::OK)
    );
    // Two concurrent 1 s delays finish together, not one after the other.
    let waited = started.elapsed().as_millis();
    assert!((1000..1100).contains(&waited), "waited {waited} ms");
}

#[tokio::test(start_paused = true)]
async fn delays_add_up_and_first_return_wins() {
    let app = app(&[
        slow(1, "items", 100, 100),
        ret(2, "items", 418, Some("first")),
        ret(3, "items", 500, Some("second")),
        slow(4, "*", 50, 50),
    ]);
    let started = tokio::time::Instant::now();
    assert_eq!(
        get_path(&app, "/items").await,
        (StatusCode::IM_A_TEAPOT, "first".into())
    );
    // The return stops evaluation: the wildcard slow (after it) is not applied.
    assert_eq!(started.elapsed().as_millis(), 100);

    let app = self::app(&[slow(1, "items", 100, 100), slow(2, "*", 50, 50)]);
    let started = tokio::time::Instant::now();
    assert_eq!(get_path(&app, "/items").await.0, StatusCode::OK);
    assert_eq!(started.elapsed().as_millis(), 150);
}

#[tokio::test]
async fn view_key_uses_name_then_pattern_then_path() {
    // By name (given through ChaosViews).
    let app = app(&[ret(1, "item_detail", 404, None)]);
    assert_eq!(get_path(&app, "/items/7").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get_path(&app, "/items").await.0, StatusCode::OK);

    // By route pattern (axum's MatchedPath).
    let app = self::app(&[ret(1, "/items/{id}", 410, None)]);
    assert_eq!(get_path(&app, "/items/7").await.0, StatusCode::GONE);
    assert_eq!(get_path(&app, "/items").await.0, StatusCode::OK);

    // A raw path does not match a routed request (its key is the pattern).
    let app = self::app(&[ret(1, "/items/7", 410, None)]);
    assert_eq!(get_path(&app, "/items/7").await.0, StatusCode::OK);

    // Without axum routing there is no MatchedPath: the raw path is the key.
    let layer = ChaosLayer::builder().enabled(true).build().expect("builds");
    layer
        .handle()
        .apply(Some(1), &[ret(1, "/raw/path", 402, None)]);
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(tower::service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::from("inner")))
        }));
    let response = service
        .clone()
        .oneshot(request(Method::GET, "/raw/path", None))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    let response = service
        .oneshot(request(Method::GET, "/raw/other", None))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn unnamed_routes_only_match_by_pattern() {
    let layer = ChaosLayer::builder().enabled(true).build().expect("builds");
    let app = app_with(layer);
    app.handle.apply(
        Some(1),
        &[ret(1, "items", 500, None), ret(2, "/checkout", 503, None)],
    );
    assert_eq!(get_path(&app, "/items").await.0, StatusCode::OK);
    assert_eq!(
        get_path(&app, "/checkout").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn wildcard_hits_every_view() {
    let app = app(&[ret(1, "*", 500, None)]);
    for path in ["/items", "/items/3", "/checkout"] {
        assert_eq!(
            get_path(&app, path).await.0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}

#[tokio::test]
async fn user_filter_matches_only_listed_users() {
    let mut only_alice = ret(1, "items", 401, None);
    only_alice.spec.users = vec!["alice".into()];
    let app = app(&[only_alice]);
    let alice = send(
        &app,
        request(Method::GET, "/items", Some(ChaosUser::new("alice"))),
    )
    .await;
    let bob = send(
        &app,
        request(Method::GET, "/items", Some(ChaosUser::new("bob"))),
    )
    .await;
    let anonymous = get_path(&app, "/items").await;
    assert_eq!(alice.0, StatusCode::UNAUTHORIZED);
    assert_eq!(bob.0, StatusCode::OK);
    assert_eq!(anonymous.0, StatusCode::OK);
}

#[tokio::test]
async fn group_and_method_filters() {
    let mut staff_only = ret(1, "items", 403, None);
    staff_only.spec.groups = vec!["staff".into()];
    let mut post_only = ret(2, "checkout", 409, None);
    post_only.spec.methods = vec!["post".into()];
    let app = app(&[staff_only, post_only]);
    let staff = ChaosUser::new("carol").with_groups(["staff"]);
    let guest = ChaosUser::new("dan").with_groups(["guests"]);
    assert_eq!(
        send(&app, request(Method::GET, "/items", Some(staff)))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&app, request(Method::GET, "/items", Some(guest)))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, request(Method::POST, "/checkout", None)).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        send(&app, request(Method::GET, "/checkout", None)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn custom_user_extractor_is_used() {
    let layer = ChaosLayer::builder()
        .enabled(true)
        .views(named_views())
        .user_extractor(|info| {
            info.headers
                .get("x-test-user")
                .and_then(|v| v.to_str().ok())
                .map(ChaosUser::new)
        })
        .build()
        .expect("builds");
    let app = app_with(layer);
    let mut for_eve = ret(1, "items", 401, None);
    for_eve.spec.users = vec!["eve".into()];
    app.handle.apply(Some(1), &[for_eve]);
    let mut request = request(Method::GET, "/items", None);
    request
        .headers_mut()
        .insert("x-test-user", http::HeaderValue::from_static("eve"));
    assert_eq!(send(&app, request).await.0, StatusCode::UNAUTHORIZED);
    // The default ChaosUser extension is ignored by this extractor.
    let by_extension = request_with_user("eve");
    assert_eq!(send(&app, by_extension).await.0, StatusCode::OK);
}

fn request_with_user(name: &str) -> Request<Body> {
    request(Method::GET, "/items", Some(ChaosUser::new(name)))
}

#[tokio::test]
async fn disabled_actions_are_not_injected() {
    let mut off = ret(1, "items", 500, None);
    off.spec.enabled = false;
    let app = app(&[off]);
    assert_eq!(get_path(&app, "/items").await.0, StatusCode::OK);
    assert_eq!(app.handle.stats().rules, 0);
}

#[tokio::test]
async fn probability_zero_never_and_one_always() {
    let mut never = ret(1, "items", 500, None);
    never.spec.probability = 0.0;
    let always = ret(2, "checkout", 503, None);
    let app = app(&[never, always]);
    for _ in 0..500 {
        assert_eq!(get_path(&app, "/items").await.0, StatusCode::OK);
        assert_eq!(
            get_path(&app, "/checkout").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}

#[tokio::test]
async fn probability_half_injects_some_but_not_all() {
    let mut half = ret(1, "items", 500, None);
    half.spec.probability = 0.5;
    let app = app(&[half]);
    let mut injected = 0;
    for _ in 0..400 {
        if get_path(&app, "/items").await.0 == StatusCode::INTERNAL_SERVER_ERROR {
            injected += 1;
        }
    }
    // 400 draws at p = 0.5: mean 200, sd 10; 140..260 is six standard deviations.
    assert!(
        (140..=260).contains(&injected),
        "injected {injected} of 400"
    );
}

#[tokio::test]
async fn expired_actions_are_inert_without_a_reload() {
    let now = chaos_middleware::action::now_ms();
    let mut expired = ret(1, "items", 500, None);
    expired.spec.expires_at = Some(now - 1);
    let mut live = ret(2, "checkout", 503, None);
    live.spec.expires_at = Some(now + 3_600_000);
    let app = app(&[expired, live]);
    assert_eq!(get_path(&app, "/items").await.0, StatusCode::OK);
    assert_eq!(
        get_path(&app, "/checkout").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

/// A window `from_min..to_min` minutes from now in UTC, as `HH:MM-HH:MM` (wrapping
/// across midnight as the clock does).
fn window_from_now(from_min: i64, to_min: i64) -> chaos_middleware::schedule::Window {
    let clock = |offset: i64| {
        let minute = (chaos_middleware::action::now_ms() / 60_000 + offset).rem_euclid(1440);
        format!("{:02}:{:02}", minute / 60, minute % 60)
    };
    chaos_middleware::schedule::Window::parse(
        chaos_middleware::Naming::Flags,
        &[format!("{}-{}", clock(from_min), clock(to_min))],
        None,
        Some("UTC"),
    )
    .expect("valid window")
}

#[tokio::test]
async fn actions_outside_their_window_or_before_their_start_are_inert() {
    let now = chaos_middleware::action::now_ms();
    let mut open = ret(1, "items", 503, None);
    open.spec.window = Some(window_from_now(-60, 60));
    let mut closed = ret(2, "checkout", 503, None);
    closed.spec.window = Some(window_from_now(120, 180));
    let mut later = ret(3, "item_detail", 503, None);
    later.spec.starts_at = Some(now + 3_600_000);
    let mut point_closed = point(4, "db.items", Fault::Error { message: None });
    point_closed.spec.window = Some(window_from_now(120, 180));
    let app = app(&[open, closed, later, point_closed]);
    assert_eq!(
        get_path(&app, "/items").await.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "inside its window"
    );
    assert_eq!(
        get_path(&app, "/checkout").await.0,
        StatusCode::OK,
        "window ahead"
    );
    assert_eq!(
        get_path(&app, "/items/7").await.0,
        StatusCode::OK,
        "start ahead"
    );
    assert_eq!(
        app.handle.point("db.items", None).await,
        Ok(()),
        "point window ahead"
    );
}

/// A start that passes switches the action on without any reload: the cached transition
/// is re-checked on the request path.
#[tokio::test]
async fn a_start_that_passes_switches_the_action_on_without_a_reload() {
    let mut soon = ret(1, "items", 503, None);
    soon.spec.starts_at = Some(chaos_middleware::action::now_ms() + 1_000);
    let app = app(&[soon]);
    assert_eq!(get_path(&app, "/items").await.0, StatusCode::OK, "not yet");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if get_path(&app, "/items").await.0 == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never started");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn layer_is_opt_in() {
    let layer = ChaosLayer::builder()
        .views(named_views())
        .build()
        .expect("builds");
    let app = app_with(layer);
    app.handle.apply(Some(1), &[ret(1, "items", 500, None)]);
    assert_eq!(get_path(&app, "/items").await.0, StatusCode::OK);
    assert!(!app.handle.stats().enabled);
}

#[tokio::test]
async fn host_filter_is_resolved_at_compile_time() {
    let layer = ChaosLayer::builder()
        .enabled(true)
        .views(named_views())
        .host("web-1")
        .build()
        .expect("builds");
    let app = app_with(layer);
    let mut here = ret(1, "items", 500, None);
    here.spec.hosts = vec!["web-*".into()];
    let mut elsewhere = ret(2, "checkout", 500, None);
    elsewhere.spec.hosts = vec!["db-*".into()];
    app.handle.apply(Some(1), &[here, elsewhere]);
    assert_eq!(app.handle.stats().rules, 1);
    assert_eq!(
        get_path(&app, "/items").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(get_path(&app, "/checkout").await.0, StatusCode::OK);
}

fn fault(id: i64, target: &str, fault: Fault) -> Action {
    action(id, target, fault)
}

fn slow_after(id: i64, target: &str, ms: u64) -> Action {
    action(
        id,
        target,
        Fault::Slow {
            min_ms: ms,
            max_ms: ms,
            phase: Phase::After,
        },
    )
}

fn point(id: i64, name: &str, fault: Fault) -> Action {
    Action::new(id, ActionSpec::new(Kind::Point, name, fault))
}

#[tokio::test]
async fn abort_fails_the_body_so_the_server_drops_the_connection() {
    let app = app(&[fault(7, "items", Fault::Abort)]);
    let response = app
        .router
        .clone()
        .oneshot(request(Method::GET, "/items", None))
        .await
        .expect("router is infallible");
    let err = response
        .into_body()
        .collect()
        .await
        .expect_err("an aborted body errors");
    assert!(
        err.to_string().contains("aborted by chaos action 7"),
        "{err}"
    );
    assert_eq!(app.calls.load(Ordering::SeqCst), 0, "handler must not run");
    assert_eq!(app.handle.stats().injected_abort, 1);
}

#[tokio::test]
async fn panic_panics_inside_the_service() {
    let app = app(&[fault(3, "checkout", Fault::Panic)]);
    let router = app.router.clone();
    let outcome = tokio::spawn(async move {
        router
            .oneshot(request(Method::POST, "/checkout", None))
            .await
    })
    .await;
    let err = outcome.expect_err("the request panics");
    assert!(err.is_panic());
    assert_eq!(app.calls.load(Ordering::SeqCst), 0);
    assert_eq!(app.handle.stats().injected_panic, 1);
    // The layer itself is unharmed.
    assert_eq!(get_path(&app, "/items").await.0, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn slow_after_runs_the_handler_then_holds_the_response() {
    let handled_at = Arc::new(std::sync::Mutex::new(None));
    let seen = Arc::clone(&handled_at);
    let layer = ChaosLayer::builder().enabled(true).build().expect("builds");
    layer
        .handle()
        .apply(Some(1), &[slow_after(1, "/held", 500)]);
    let router = Router::new()
        .route(
            "/held",
            get(move || {
                let seen = Arc::clone(&seen);
                async move {
                    if let Ok(mut at) = seen.lock() {
                        *at = Some(tokio::time::Instant::now());
                    }
                    "done"
                }
            }),
        )
        .layer(layer);
    let started = tokio::time::Instant::now();
    let response = router
        .oneshot(request(Method::GET, "/held", None))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(started.elapsed().as_millis(), 500);
    let handled = handled_at
        .lock()
        .ok()
        .and_then(|at| *at)
        .expect("handler ran");
    assert_eq!(
        handled.duration_since(started).as_millis(),
        0,
        "handler ran first"
    );
}

#[tokio::test]
async fn terminal_faults_follow_id_order() {
    let app = app(&[
        fault(1, "items", Fault::Abort),
        ret(2, "items", 500, None),
        ret(3, "checkout", 409, None),
        fault(4, "checkout", Fault::Panic),
        ret(5, "*", 418, None),
    ]);
    // The view's abort (id 1) wins over its return (id 2).
    let response = app
        .router
        .clone()
        .oneshot(request(Method::GET, "/items", None))
        .await
        .expect("infallible");
    assert!(response.into_body().collect().await.is_err());
    // The view's return (id 3) stops evaluation before its panic (id 4) and the `*` rule.
    assert_eq!(
        send(&app, request(Method::POST, "/checkout", None)).await.0,
        StatusCode::CONFLICT
    );
    // The `*` rule applies where nothing specific matches.
    assert_eq!(get_path(&app, "/items/1").await.0, StatusCode::IM_A_TEAPOT);
}

#[tokio::test(start_paused = true)]
async fn delays_are_capped() {
    let layer = ChaosLayer::builder()
        .enabled(true)
        .views(named_views())
        .max_delay(std::time::Duration::from_millis(100))
        .build()
        .expect("builds");
    let app = app_with(layer);
    app.handle.apply(Some(1), &[slow(1, "items", 1000, 1000)]);
    let started = tokio::time::Instant::now();
    assert_eq!(get_path(&app, "/items").await.0, StatusCode::OK);
    assert_eq!(started.elapsed().as_millis(), 100);
    assert_eq!(app.handle.stats().clamped_delays, 1);
}

#[tokio::test(start_paused = true)]
async fn requests_over_the_active_delay_cap_pass_untouched() {
    let layer = ChaosLayer::builder()
        .enabled(true)
        .views(named_views())
        .max_active_delays(1)
        .build()
        .expect("builds");
    let app = app_with(layer);
    app.handle.apply(Some(1), &[slow(1, "items", 1000, 1000)]);
    let started = tokio::time::Instant::now();
    let first = {
        let router = app.router.clone();
        tokio::spawn(async move {
            let response = router.oneshot(request(Method::GET, "/items", None)).await;
            (response.map(|r| r.status()), tokio::time::Instant::now())
        })
    };
    // Let the first request take the only slot.
    tokio::task::yield_now().await;
    while app.handle.stats().active_delays == 0 {
        tokio::task::yield_now().await;
    }
    let second = get_path(&app, "/items").await;
    assert_eq!(second.0, StatusCode::OK);
    assert_eq!(
        started.elapsed().as_millis(),
        0,
        "second request was not held"
    );
    let (status, finished) = first.await.expect("first request completes");
    assert_eq!(status.ok(), Some(StatusCode::OK));
    assert_eq!(finished.duration_since(started).as_millis(), 1000);
    let stats = app.handle.stats();
    assert_eq!((stats.skipped_by_cap, stats.injected_slow), (1, 1));
    assert_eq!(stats.active_delays, 0, "the slot is given back");
}

#[tokio::test]
async fn an_action_expiring_between_reloads_stops_by_itself() {
    let mut brief = ret(1, "items", 500, None);
    brief.spec.expires_at = Some(chaos_middleware::action::now_ms() + 300);
    let app = app(&[brief]);
    assert_eq!(
        get_path(&app, "/items").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    // No reload happens: the layer checks expiry itself on each request.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if get_path(&app, "/items").await.0 == StatusCode::OK {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.handle.stats().generation, Some(1));
}

#[tokio::test(start_paused = true)]
async fn fault_points_delay_fail_and_filter_by_user() {
    let layer = ChaosLayer::builder().enabled(true).build().expect("builds");
    let handle = layer.handle();
    assert_eq!(handle.point("db.items", None).await, Ok(()));
    let mut for_alice = point(
        3,
        "db.orders",
        Fault::Error {
            message: Some("orders db gone".into()),
        },
    );
    for_alice.spec.users = vec!["alice".into()];
    handle.apply(
        Some(2),
        &[
            point(
                1,
                "db.items",
                Fault::Slow {
                    min_ms: 50,
                    max_ms: 50,
                    phase: Phase::Before,
                },
            ),
            point(2, "db.items", Fault::Error { message: None }),
            for_alice,
            // A response action with the same name is not a point action.
            ret(4, "db.cache", 500, None),
        ],
    );
    let started = tokio::time::Instant::now();
    let err = handle
        .point("db.items", None)
        .await
        .expect_err("error action fires");
    assert_eq!(started.elapsed().as_millis(), 50, "delay then error");
    assert_eq!((err.point.as_str(), err.action_id), ("db.items", 2));
    assert!(err.message.contains("injected chaos error"), "{err}");
    assert_eq!(handle.point("db.orders", None).await, Ok(()));
    let alice = ChaosUser::new("alice");
    let err = handle
        .point("db.orders", Some(&alice))
        .await
        .expect_err("alice's point fails");
    assert_eq!(err.message, "orders db gone");
    assert_eq!(handle.point("db.cache", None).await, Ok(()));
    let stats = handle.stats();
    assert_eq!(
        (
            stats.point_rules,
            stats.injected_point_slow,
            stats.injected_point_error
        ),
        (3, 1, 2)
    );
}

// ---- Trust: HEAD, methods, bodiless statuses, delay slots, nested views ----

/// Serves `router` on a loopback port; returns its address.
async fn serve(router: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// Sends one raw HTTP/1.1 request and returns every byte the server sent until it
/// closed the connection (`Connection: close`, so a normal answer ends too).
async fn raw_exchange(addr: std::net::SocketAddr, method: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!("{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("send");
    let mut bytes = Vec::new();
    // A reset counts as closed too: what matters is what arrived before it.
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut bytes),
    )
    .await
    .expect("the server answers or closes within 10 s");
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn abort_drops_the_connection_for_get_and_head_alike() {
    let app = app(&[fault(7, "items", Fault::Abort)]);
    let addr = serve(app.router.clone()).await;
    for method in ["GET", "HEAD"] {
        let answer = raw_exchange(addr, method, "/items").await;
        assert_eq!(answer, "", "{method} /items must get no byte at all");
    }
    // Other views still answer normally over the same server.
    let answer = raw_exchange(addr, "HEAD", "/checkout").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert_eq!(
        app.calls.load(Ordering::SeqCst),
        1,
        "only /checkout's handler ran"
    );
    assert_eq!(app.handle.stats().injected_abort, 2);
}

#[tokio::test]
async fn head_gets_every_verb_as_get_does() {
    let app = app(&[
        ret(1, "items", 503, Some("down")),
        fault(2, "checkout", Fault::Panic),
    ]);
    let (status, body) = send(&app, request(Method::HEAD, "/items", None)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "")
    );
    let (status, body) = send(&app, request(Method::GET, "/items", None)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "down")
    );
    let head = tokio::spawn(
        app.router
            .clone()
            .oneshot(request(Method::HEAD, "/checkout", None)),
    )
    .await;
    assert!(head.is_err_and(|e| e.is_panic()), "HEAD panics like GET");
    assert_eq!(app.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_get_method_filter_covers_head_and_nothing_else() {
    let mut get_only = ret(1, "checkout", 503, None);
    get_only.spec.methods = vec!["GET".into()];
    let app = app(&[get_only]);
    for (method, expected) in [
        (Method::GET, StatusCode::SERVICE_UNAVAILABLE),
        (Method::HEAD, StatusCode::SERVICE_UNAVAILABLE),
        (Method::POST, StatusCode::OK),
    ] {
        let (status, _) = send(&app, request(method.clone(), "/checkout", None)).await;
        assert_eq!(status, expected, "{method}");
    }
    let mut head_only = ret(1, "checkout", 503, None);
    head_only.spec.methods = vec!["HEAD".into()];
    app.handle.apply(Some(2), &[head_only]);
    assert_eq!(
        send(&app, request(Method::GET, "/checkout", None)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, request(Method::HEAD, "/checkout", None)).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn a_rule_with_a_method_it_cannot_parse_matches_nothing() {
    for bad in ["POST ", "PUT,PATCH", "G\u{c9}T", ""] {
        let mut rule = ret(1, "checkout", 503, None);
        rule.spec.methods = vec!["GET".into(), bad.to_owned()];
        let app = app(&[rule, ret(2, "items", 418, None)]);
        for method in [Method::GET, Method::POST, Method::HEAD] {
            let (status, _) = send(&app, request(method.clone(), "/checkout", None)).await;
            assert_eq!(status, StatusCode::OK, "{bad:?} must not widen to {method}");
        }
        // The other, valid rule still applies.
        assert_eq!(get_path(&app, "/items").await.0, StatusCode::IM_A_TEAPOT);
    }
}

#[tokio::test]
async fn bodiless_statuses_go_out_without_body_or_length() {
    // As a row edited by hand could say: 204 with a body.
    let app = app(&[
        ret(1, "items", 204, Some("x")),
        ret(2, "checkout", 304, Some("yz")),
        ret(3, "item_detail", 503, Some("down")),
    ]);
    let addr = serve(app.router.clone()).await;
    for (method, path, status) in [
        ("GET", "/items", "204 No Content"),
        ("HEAD", "/items", "204 No Content"),
        ("GET", "/checkout", "304 Not Modified"),
        ("HEAD", "/checkout", "304 Not Modified"),
    ] {
        let answer = raw_exchange(addr, method, path).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}\r\n")),
            "{answer}"
        );
        let lower = answer.to_ascii_lowercase();
        assert!(
            !lower.contains("content-length"),
            "{method} {path}: {answer}"
        );
        assert!(!lower.contains("content-type"), "{answer}");
        assert!(
            answer.ends_with("\r\n\r\n"),
            "no body after the head: {answer:?}"
        );
    }
    // 205 Reset Content: no body, and `Content-Length: 0` as RFC 9110 asks.
    app.handle
        .apply(Some(2), &[ret(1, "items", 205, Some("x"))]);
    for method in ["GET", "HEAD"] {
        let answer = raw_exchange(addr, method, "/items").await;
        assert!(
            answer.starts_with("HTTP/1.1 205 Reset Content\r\n"),
            "{answer}"
        );
        assert!(
            answer.to_ascii_lowercase().contains("content-length: 0"),
            "{answer}"
        );
        assert!(answer.ends_with("\r\n\r\n"), "{answer:?}");
    }
    app.handle
        .apply(Some(3), &[ret(3, "item_detail", 503, Some("down"))]);
    let answer = raw_exchange(addr, "GET", "/items/1").await;
    assert!(answer.ends_with("\r\n\r\ndown"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("content-length: 4"),
        "{answer}"
    );
}

/// A layer with one delay slot over `/busy` (its handler waits until `release` is
/// notified) and `/quick`.
fn one_slot_busy_and_quick() -> (Router, ChaosHandle, Arc<tokio::sync::Notify>) {
    let layer = ChaosLayer::builder()
        .enabled(true)
        .max_active_delays(1)
        .build()
        .expect("builds");
    let handle = layer.handle();
    let release = Arc::new(tokio::sync::Notify::new());
    let router = Router::new()
        .route(
            "/busy",
            get({
                let release = Arc::clone(&release);
                move || async move {
                    release.notified().await;
                    "busy"
                }
            }),
        )
        .route("/quick", get(|| async { "quick" }))
        .layer(layer);
    (router, handle, release)
}

#[tokio::test(start_paused = true)]
async fn a_delay_slot_is_held_only_during_the_delay() {
    let (router, handle, release) = one_slot_busy_and_quick();
    handle.apply(
        Some(1),
        &[
            slow(1, "/busy", 100, 100),
            slow(2, "/quick", 50, 50),
            slow_after(3, "/quick", 50),
        ],
    );
    let busy = tokio::spawn(router.clone().oneshot(request(Method::GET, "/busy", None)));
    while handle.stats().active_delays == 0 {
        tokio::task::yield_now().await;
    }
    // The 100 ms delay ends; the handler now waits, outside any delay.
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    assert_eq!(
        handle.stats().active_delays,
        0,
        "the slot was given back when the delay ended"
    );
    let started = tokio::time::Instant::now();
    let quick = router
        .clone()
        .oneshot(request(Method::GET, "/quick", None))
        .await
        .expect("infallible");
    assert_eq!(quick.status(), StatusCode::OK);
    assert_eq!(
        started.elapsed().as_millis(),
        100,
        "both of /quick's delays were applied"
    );
    let stats = handle.stats();
    assert_eq!((stats.skipped_by_cap, stats.injected_slow), (0, 3));
    release.notify_one();
    let busy = busy.await.expect("joins").expect("infallible");
    assert_eq!(busy.status(), StatusCode::OK);
    assert_eq!(handle.stats().active_delays, 0);
}

#[tokio::test(start_paused = true)]
async fn an_after_delay_takes_its_slot_only_when_the_handler_answered() {
    let (router, handle, release) = one_slot_busy_and_quick();
    handle.apply(
        Some(1),
        &[slow_after(1, "/busy", 100), slow(2, "/quick", 50, 50)],
    );
    let busy = tokio::spawn(router.clone().oneshot(request(Method::GET, "/busy", None)));
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    assert_eq!(
        handle.stats().active_delays,
        0,
        "the handler works: no slot yet"
    );
    // /quick takes the only slot while /busy's handler works.
    let quick = tokio::spawn(router.clone().oneshot(request(Method::GET, "/quick", None)));
    while handle.stats().active_delays == 0 {
        tokio::task::yield_now().await;
    }
    release.notify_one();
    // /busy answered while the slot was taken: its `after` delay is skipped and counted.
    let started = tokio::time::Instant::now();
    let busy = busy.await.expect("joins").expect("infallible");
    assert_eq!(busy.status(), StatusCode::OK);
    assert_eq!(
        started.elapsed().as_millis(),
        0,
        "no after delay over the cap"
    );
    assert_eq!(handle.stats().skipped_by_cap, 1);
    quick.await.expect("joins").expect("infallible");
    assert_eq!(handle.stats().active_delays, 0);
}

#[tokio::test]
async fn views_named_in_a_nested_router_match_their_full_pattern() {
    let mut api_views = ChaosViews::new();
    let api = Router::new()
        .route(
            api_views.name("user", "/users/{id}"),
            get(|| async { "user" }),
        )
        .route(api_views.name("api_root", "/"), get(|| async { "root" }));
    let mut views = ChaosViews::new();
    let outer = Router::new()
        .route(views.name("items", "/items"), get(|| async { "items" }))
        .nest("/api", api)
        .nest_service("/assets", get(|| async { "asset" }))
        .fallback(|| async { "fallback" });
    views.nest("/api", api_views);
    assert_eq!(views.name_of("/api/users/{id}"), Some("user"));
    assert_eq!(views.name_of("/api"), Some("api_root"));
    let layer = enabled_layer(views);
    let handle = layer.handle();
    let app = App {
        router: outer.layer(layer),
        handle,
        calls: Arc::new(AtomicUsize::new(0)),
    };
    app.handle.apply(
        Some(1),
        &[
            ret(1, "user", 503, None),
            ret(2, "api_root", 502, None),
            ret(3, "/assets/app.css", 504, None),
            ret(4, "/nowhere", 410, None),
        ],
    );
    assert_eq!(
        get_path(&app, "/api/users/7").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(get_path(&app, "/api").await.0, StatusCode::BAD_GATEWAY);
    assert_eq!(get_path(&app, "/items").await.0, StatusCode::OK);
    // nest_service and fallbacks carry no pattern: matched by exact raw path.
    assert_eq!(
        get_path(&app, "/assets/app.css").await.0,
        StatusCode::GATEWAY_TIMEOUT
    );
    assert_eq!(get_path(&app, "/assets/other.css").await.0, StatusCode::OK);
    assert_eq!(get_path(&app, "/nowhere").await.0, StatusCode::GONE);
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_delays_in_flight_and_stops_injecting() {
    let app = app(&[
        slow(1, "items", 10_000, 10_000),
        slow_after(2, "checkout", 10_000),
        ret(3, "item_detail", 503, None),
    ]);
    let started = tokio::time::Instant::now();
    let before = tokio::spawn(
        app.router
            .clone()
            .oneshot(request(Method::GET, "/items", None)),
    );
    let after = tokio::spawn(
        app.router
            .clone()
            .oneshot(request(Method::GET, "/checkout", None)),
    );
    while app.handle.stats().active_delays < 2 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    app.handle.shutdown().await;
    for task in [before, after] {
        let response = task.await.expect("joins").expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(
        started.elapsed().as_millis(),
        100,
        "the 10 s delays ended at shutdown"
    );
    assert_eq!(app.handle.stats().active_delays, 0);
    assert_eq!(app.calls.load(Ordering::SeqCst), 2, "both handlers ran");
    // No more faults, and a reload cannot bring them back.
    assert_eq!(get_path(&app, "/items/1").await.0, StatusCode::OK);
    app.handle
        .apply(Some(9), &[ret(3, "item_detail", 503, None)]);
    assert_eq!(get_path(&app, "/items/1").await.0, StatusCode::OK);
    assert_eq!(app.handle.stats().rules, 0);
}

#[tokio::test]
async fn views_nested_under_a_prefix_with_a_trailing_slash_match() {
    let mut api_views = ChaosViews::new();
    let api = Router::new()
        .route(api_views.name("api_root", "/"), get(|| async { "root" }))
        .route(
            api_views.name("user", "/users/{id}"),
            get(|| async { "user" }),
        );
    let mut views = ChaosViews::new();
    let outer = Router::new().nest("/api/", api);
    views.nest("/api/", api_views);
    let layer = enabled_layer(views);
    let app = App {
        handle: layer.handle(),
        router: outer.layer(layer),
        calls: Arc::new(AtomicUsize::new(0)),
    };
    app.handle.apply(
        Some(1),
        &[ret(1, "api_root", 502, None), ret(2, "user", 503, None)],
    );
    assert_eq!(get_path(&app, "/api/").await.0, StatusCode::BAD_GATEWAY);
    assert_eq!(
        get_path(&app, "/api/users/3").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

/// The layer around a whole `Router` (one service, no per-route wrapping): requests carry
/// no `MatchedPath` there, so the layer resolves the route pattern itself with axum's
/// matcher, from the named views (nested ones included) and the actions' patterns. The
/// view semantics are those of the route layer.
#[tokio::test]
async fn around_a_whole_router_views_resolve_as_on_routes() {
    // `ChaosLayer::around` (handlers turned into services once), `Layer::layer` on a
    // Router (the same service, axum converts the handlers per request) and the route
    // layer (`Router::layer`, views from axum's `MatchedPath`) agree.
    for wiring in [Wiring::Around, Wiring::LayerOnRouter, Wiring::RouteLayer] {
        whole_router_views(wiring).await;
    }
}

#[derive(Debug, Clone, Copy)]
enum Wiring {
    Around,
    LayerOnRouter,
    RouteLayer,
}

async fn whole_router_views(wiring: Wiring) {
    let mut api_views = ChaosViews::new();
    let api: Router = Router::new()
        .route(
            api_views.name("user", "/users/{id}"),
            get(|| async { "user" }),
        )
        .route("/orders/{id}", get(|| async { "order" }));
    let mut views = ChaosViews::new();
    let routes: Router = Router::new()
        .route(views.name("items", "/items"), get(|| async { "items" }))
        .route(
            views.name("item_detail", "/items/{id}"),
            get(|| async { "item" }),
        )
        .route("/plain", get(|| async { "plain" }))
        .nest("/api", api);
    views.nest("/api", api_views);
    let layer = enabled_layer(views);
    let handle = layer.handle();
    let service = match wiring {
        Wiring::Around => layer.around(routes),
        Wiring::LayerOnRouter => tower::Layer::layer(&layer, routes),
        Wiring::RouteLayer => ChaosLayer::builder()
            .build()
            .expect("an inert layer builds")
            .around(routes.layer(layer)),
    };
    let get = |path: &str| {
        let service = service.clone();
        let path = path.to_owned();
        async move {
            service
                .oneshot(request(Method::GET, &path, None))
                .await
                .expect("infallible")
                .status()
                .as_u16()
        }
    };
    handle.apply(
        Some(1),
        &[
            ret(1, "item_detail", 503, None),
            ret(2, "user", 418, None),
            ret(3, "/api/orders/{id}", 409, None),
            ret(4, "/plain", 402, None),
            // A parameter pattern no route has: only paths no route (or known pattern)
            // takes, as axum would route them.
            ret(5, "/{page}", 418, None),
        ],
    );
    for (path, expected, what) in [
        ("/items/7", 503, "a named parameterized view"),
        (
            "/items",
            200,
            "another view of the same prefix, beside /{page}",
        ),
        ("/api/users/3", 418, "a named view of a nested router"),
        (
            "/api/orders/5",
            409,
            "an unnamed pattern, targeted by pattern",
        ),
        ("/plain", 402, "a static route by its path"),
        ("/nowhere", 418, "no route: the parameter pattern"),
        ("/api/orders", 404, "no route, no rule"),
    ] {
        assert_eq!(get(path).await, expected, "{what} ({wiring:?})");
    }
    // With no request-level rule the layer passes everything through.
    handle.apply(Some(2), &[]);
    assert_eq!(get("/items/7").await, 200);
}

/// `axum::serve(listener, chaos.around(app))` over a real socket: the layer injects and
/// passes through as a route layer does, and a change reaches the next request.
#[tokio::test]
async fn around_serves_with_axum_serve() {
    let mut views = ChaosViews::new();
    let routes: Router = Router::new()
        .route(views.name("item", "/items/{id}"), get(|| async { "item" }))
        .route("/ok", get(|| async { "ok" }));
    let layer = enabled_layer(views);
    let handle = layer.handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(async move { axum::serve(listener, layer.around(routes)).await });
    let status = |path: &'static str| async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes())
            .await
            .expect("write");
        let mut answer = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut answer)
            .await
            .expect("read");
        answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .expect("a status line")
    };
    let changes = [
        (None, "/items/1", 200, "before any action"),
        (
            Some(vec![ret(1, "item", 503, None)]),
            "/items/1",
            503,
            "a named view, after a change",
        ),
        (None, "/ok", 200, "another route passes through"),
        (
            Some(Vec::new()),
            "/items/1",
            200,
            "the change back reaches it too",
        ),
    ];
    for (generation, (actions, path, expected, what)) in (1..).zip(changes) {
        if let Some(actions) = actions {
            handle.apply(Some(generation), &actions);
        }
        assert_eq!(status(path).await, expected, "{what}");
    }
    server.abort();
}

/// Each worker thread keeps copies of the snapshots of a few layers: with more layers
/// than it keeps, serving them in turn on one thread, every request still sees its own
/// layer's current actions, before and after each change.
#[tokio::test(flavor = "current_thread")]
async fn many_layers_on_one_thread_each_see_their_own_actions() {
    let layers: Vec<(ChaosHandle, _)> = (0..7)
        .map(|_| {
            let layer = ChaosLayer::builder()
                .enabled(true)
                .build()
                .expect("layer builds");
            let handle = layer.handle();
            let routes: Router = Router::new().route("/x", get(|| async { "x" }));
            (handle, layer.around(routes))
        })
        .collect();
    let status = |service: &chaos_middleware::ChaosService<Router>| {
        let service = service.clone();
        async move {
            service
                .oneshot(request(Method::GET, "/x", None))
                .await
                .expect("infallible")
                .status()
                .as_u16()
        }
    };
    // Layer i answers 500 + 10 × round + i, so a copy kept from an earlier round, or
    // another layer's, shows; round 3 has no actions (the idle path), round 4 rules again.
    let expected = |round: u16, i: usize| {
        if round == 3 {
            200
        } else {
            500 + 10 * round + i as u16
        }
    };
    for round in 0..5u16 {
        for (i, (handle, _)) in layers.iter().enumerate() {
            let actions = if round == 3 {
                Vec::new()
            } else {
                vec![ret(1, "/x", expected(round, i), None)]
            };
            handle.apply(Some(i64::from(round) + 1), &actions);
        }
        for _ in 0..2 {
            for (i, (_, service)) in layers.iter().enumerate() {
                assert_eq!(
                    status(service).await,
                    expected(round, i),
                    "layer {i}, round {round}"
                );
            }
        }
    }
}

/// A user extractor that panics fails only that request: the thread's copy of the snapshot
/// is not lost or left behind, and the next request on the same thread sees the actions
/// as they are then.
#[tokio::test(flavor = "current_thread")]
async fn a_panicking_user_extractor_leaves_the_next_request_current() {
    let layer = ChaosLayer::builder()
        .enabled(true)
        .user_extractor(|info: &RequestInfo<'_>| {
            if info.headers.contains_key("x-boom") {
                panic!("the app's extractor failed");
            }
            None
        })
        .build()
        .expect("layer builds");
    let handle = layer.handle();
    let service = layer.around(Router::new().route("/x", get(|| async { "x" })));
    let call = |boom: bool| {
        let service = service.clone();
        let mut request = request(Method::GET, "/x", None);
        if boom {
            request
                .headers_mut()
                .insert("x-boom", http::HeaderValue::from_static("1"));
        }
        // A task on this same thread (current_thread runtime): its panic is caught.
        tokio::spawn(async move { service.oneshot(request).await.map(|r| r.status().as_u16()) })
    };
    let mut for_alice = ret(1, "/x", 503, None);
    for_alice.spec.users = vec!["alice".into()];
    handle.apply(Some(1), &[for_alice.clone()]);
    let failed = call(true)
        .await
        .expect_err("the extractor's panic fails the request");
    assert!(failed.is_panic());
    assert_eq!(
        call(false).await.expect("no panic").expect("infallible"),
        200
    );
    handle.apply(Some(2), &[ret(2, "/x", 502, None)]);
    assert_eq!(
        call(false).await.expect("no panic").expect("infallible"),
        502
    );
    assert_eq!(
        call(true)
            .await
            .expect("an action for everyone needs no user")
            .expect("infallible"),
        502
    );
}
