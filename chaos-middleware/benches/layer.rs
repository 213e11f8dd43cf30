//! Micro benchmarks of the layer's per-request cost and of a snapshot reload.
//!
//! Run with `cargo bench -p chaos-middleware --bench layer` (see BENCHMARKS.md). Every
//! request case is measured next to its own baseline in one run:
//!
//! - `direct/*`: `poll_ready` + `call` + one poll with a no-op waker on a
//!   `tower::service_fn` that answers at once, with and without the layer. No runtime, no
//!   router: the view key is the raw path (the fallback when axum's `MatchedPath` is
//!   absent). This is the closest to the layer's own cost.
//! - `router/*`: the same through an axum `Router` (so the view key is `MatchedPath`),
//!   with the bare `Router` and a `Router` with a no-op layer as the baselines.
//! - `actions/*`: 1 vs 10,000 stored actions, none for the requested view.
//! - `reload/*`: `ChaosHandle::apply` of 10,000 actions (the snapshot compile).

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use chaos_middleware::{Action, ActionSpec, ChaosHandle, ChaosLayer, ChaosUser, Fault, Kind};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, Uri};
use http_body_util::Empty;
use tower::{Layer, Service};

fn action(id: i64, target: &str, fault: Fault) -> Action {
    Action::new(id, ActionSpec::new(Kind::Response, target, fault))
}

fn ret(id: i64, target: &str, status: u16) -> Action {
    action(id, target, Fault::Return { status, body: None })
}

/// `n` actions, none of which targets `/items`.
fn other_views(n: usize) -> Vec<Action> {
    (0..n)
        .map(|i| ret(i as i64 + 1, &format!("/other/{i}"), 503))
        .collect()
}

/// A guard on every view: error rate over 5 % in a minute.
fn guard() -> chaos_middleware::guard::Guard {
    chaos_middleware::testing::guard_on_every_view()
}

fn layer_with(actions: &[Action]) -> (ChaosLayer, ChaosHandle) {
    let layer = ChaosLayer::builder()
        .enabled(true)
        .build()
        .expect("a layer without a store builds");
    let handle = layer.handle();
    handle.apply(Some(1), actions);
    (layer, handle)
}

/// One request through `service`, driven by hand: the futures here never wait.
#[inline]
fn drive<S, B>(service: &mut S, request: Request<()>) -> Response<B>
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    match service.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        _ => unreachable!("service_fn and the layer are always ready"),
    }
    let future = pin!(service.call(request));
    match future.poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        _ => unreachable!("no case here waits"),
    }
}

fn request(path: &'static str) -> Request<()> {
    let mut request = Request::new(());
    *request.uri_mut() = Uri::from_static(path);
    request
}

type Inner = tower::util::ServiceFn<
    fn(Request<()>) -> std::future::Ready<Result<Response<Empty<Bytes>>, Infallible>>,
>;

fn bare() -> Inner {
    fn answer(_: Request<()>) -> std::future::Ready<Result<Response<Empty<Bytes>>, Infallible>> {
        std::future::ready(Ok(Response::new(Empty::new())))
    }
    tower::service_fn(answer as fn(_) -> _)
}

fn direct(c: &mut Criterion) {
    let mut group = c.benchmark_group("direct");
    let mut inner = bare();
    group.bench_function("bare", |b| {
        b.iter(|| black_box(drive(&mut inner, request("/items"))))
    });

    let (layer, _empty) = layer_with(&[]);
    let mut svc = layer.layer(bare());
    group.bench_function("layer_empty_snapshot", |b| {
        b.iter(|| black_box(drive(&mut svc, request("/items"))))
    });

    let (layer, _h) = layer_with(&other_views(10_000));
    let mut svc = layer.layer(bare());
    group.bench_function("layer_10k_actions_no_match", |b| {
        b.iter(|| black_box(drive(&mut svc, request("/items"))))
    });

    // The same with a guard armed (every response measured, for the error rate).
    let (layer, handle) = layer_with(&[]);
    handle.apply_with_guards(Some(1), &other_views(10_000), &[guard()]);
    let mut svc = layer.layer(bare());
    group.bench_function("layer_10k_actions_no_match_guard_armed", |b| {
        b.iter(|| black_box(drive(&mut svc, request("/items"))))
    });

    // A p99 guard times every response (two clock reads).
    let mut p99 = guard();
    p99.spec.max_p99_ms = Some(2_000);
    let (layer, handle) = layer_with(&[]);
    handle.apply_with_guards(Some(1), &other_views(10_000), &[p99]);
    let mut svc = layer.layer(bare());
    group.bench_function("layer_10k_actions_no_match_p99_guard_armed", |b| {
        b.iter(|| black_box(drive(&mut svc, request("/items"))))
    });

    let mut never = ret(1, "/items", 503);
    never.spec.probability = 0.0;
    let (layer, _h) = layer_with(&[never]);
    let mut svc = layer.layer(bare());
    group.bench_function("layer_match_probability_0", |b| {
        b.iter(|| black_box(drive(&mut svc, request("/items"))))
    });

    // A matching action outside its window (office hours 12 h from now): one clock read
    // and one comparison with the cached next transition, then inert.
    let mut closed = ret(1, "/items", 503);
    let minute = |offset: i64| {
        let m = (chaos_middleware::action::now_ms() / 60_000 + offset).rem_euclid(1440);
        format!("{:02}:{:02}", m / 60, m % 60)
    };
    closed.spec.window = Some(
        chaos_middleware::schedule::Window::parse(
            chaos_middleware::Naming::Flags,
            &[format!("{}-{}", minute(720), minute(780))],
            None,
            Some("Europe/Berlin"),
        )
        .expect("a valid window"),
    );
    let (layer, _h) = layer_with(&[closed]);
    let mut svc = layer.layer(bare());
    group.bench_function("layer_match_outside_window", |b| {
        b.iter(|| black_box(drive(&mut svc, request("/items"))))
    });

    // A user-filtered action for alice; the request is anonymous (the default extractor
    // finds no ChaosUser extension), so the filter rejects it.
    let mut for_alice = ret(1, "/items", 503);
    for_alice.spec.users = vec!["alice".into()];
    let (layer, _h) = layer_with(std::slice::from_ref(&for_alice));
    let mut svc = layer.layer(bare());
    group.bench_function("layer_user_filter_anonymous", |b| {
        b.iter(|| black_box(drive(&mut svc, request("/items"))))
    });

    // The same with bob as the user: the default extractor clones the ChaosUser out of
    // the extensions. The request (with its extension) is built in both the baseline and
    // the layered case, so the difference is the layer's.
    let bob_request = || {
        let mut request = request("/items");
        request.extensions_mut().insert(ChaosUser::new("bob"));
        request
    };
    group.bench_function("bare_with_user_extension", |b| {
        b.iter(|| black_box(drive(&mut inner, bob_request())))
    });
    group.bench_function("layer_user_filter_other_user", |b| {
        b.iter(|| black_box(drive(&mut svc, bob_request())))
    });

    let (layer, _h) = layer_with(&[ret(1, "/items", 503)]);
    let mut svc = layer.layer(bare());
    group.bench_function("layer_full_decision_return", |b| {
        b.iter(|| black_box(drive(&mut svc, request("/items"))))
    });
    group.finish();
}

fn router_with(layer: Option<ChaosLayer>) -> Router {
    let router = Router::new()
        .route("/items", get(|| async { "items" }))
        .route("/items/{id}", get(|| async { "item" }));
    let router = match layer {
        Some(layer) => router.layer(layer),
        None => router,
    };
    // As `axum::serve` does: turn the handlers into routes once, not on every call.
    router.with_state(())
}

fn routed_request(path: &'static str) -> Request<axum::body::Body> {
    let mut request = Request::new(axum::body::Body::empty());
    *request.uri_mut() = Uri::from_static(path);
    request
}

fn drive_router<S>(router: &mut S, request: Request<axum::body::Body>) -> Response<axum::body::Body>
where
    S: Service<Request<axum::body::Body>, Response = Response<axum::body::Body>>,
{
    let mut cx = Context::from_waker(Waker::noop());
    let future = pin!(router.call(request));
    match future.poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        _ => unreachable!("the handlers here never wait"),
    }
}

fn router(c: &mut Criterion) {
    let mut group = c.benchmark_group("router");
    let mut app = router_with(None);
    group.bench_function("bare_router", |b| {
        b.iter(|| black_box(drive_router(&mut app, routed_request("/items/7"))))
    });
    // axum boxes the service, the future and (unless it is axum's `Body`) the response
    // body of every route layer: a layer that does nothing shows that share.
    let mut app = Router::new()
        .route("/items", get(|| async { "items" }))
        .route("/items/{id}", get(|| async { "item" }))
        .layer(tower::layer::util::Identity::new())
        .with_state(());
    group.bench_function("noop_layer", |b| {
        b.iter(|| black_box(drive_router(&mut app, routed_request("/items/7"))))
    });
    let (layer, _h) = layer_with(&[]);
    let mut app = router_with(Some(layer));
    group.bench_function("layer_empty_snapshot", |b| {
        b.iter(|| black_box(drive_router(&mut app, routed_request("/items/7"))))
    });
    let (layer, _h) = layer_with(&other_views(10_000));
    let mut app = router_with(Some(layer));
    group.bench_function("layer_10k_actions_no_match", |b| {
        b.iter(|| black_box(drive_router(&mut app, routed_request("/items/7"))))
    });
    let mut never = ret(1, "/items/{id}", 503);
    never.spec.probability = 0.0;
    let (layer, _h) = layer_with(&[never]);
    let mut app = router_with(Some(layer));
    group.bench_function("layer_match_probability_0", |b| {
        b.iter(|| black_box(drive_router(&mut app, routed_request("/items/7"))))
    });
    let (layer, _h) = layer_with(&[ret(1, "/items/{id}", 503)]);
    let mut app = router_with(Some(layer));
    group.bench_function("layer_full_decision_return", |b| {
        b.iter(|| black_box(drive_router(&mut app, routed_request("/items/7"))))
    });
    // `ChaosLayer::around`: one service around the whole Router, no per-route boxing.
    let (layer, _h) = layer_with(&[]);
    let mut app = layer.around(router_with(None));
    group.bench_function("around_empty_snapshot", |b| {
        b.iter(|| black_box(drive_router(&mut app, routed_request("/items/7"))))
    });
    let (layer, _h) = layer_with(&other_views(10_000));
    let mut app = layer.around(router_with(None));
    group.bench_function("around_10k_actions_no_match", |b| {
        b.iter(|| black_box(drive_router(&mut app, routed_request("/items/7"))))
    });
    group.finish();
}

fn actions(c: &mut Criterion) {
    let mut group = c.benchmark_group("actions");
    for n in [1usize, 10_000] {
        let (layer, _h) = layer_with(&other_views(n));
        let mut svc = layer.layer(bare());
        group.bench_function(format!("no_match_{n}"), |b| {
            b.iter(|| black_box(drive(&mut svc, request("/items"))))
        });
    }
    group.finish();
}

fn reload(c: &mut Criterion) {
    let mut group = c.benchmark_group("reload");
    group.sample_size(10);
    let actions = other_views(10_000);
    let (_layer, handle) = layer_with(&[]);
    let mut generation = 1;
    group.bench_function("apply_10k_actions", |b| {
        b.iter(|| {
            generation += 1;
            handle.apply(Some(generation), black_box(&actions));
        })
    });
    group.finish();
}

fn short() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .noise_threshold(0.05)
}

criterion_group! {
    name = benches;
    config = short();
    targets = direct, router, actions, reload
}
criterion_main!(benches);
