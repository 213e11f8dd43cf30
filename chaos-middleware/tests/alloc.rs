//! Properties the benchmarks rely on, checked by counting rather than timing:
//!
//! - a request that nothing matches allocates nothing in the layer (the same count with
//!   and without the layer), whatever the number of stored actions;
//! - the snapshot lookup does not scan the stored actions: rules filed under other views
//!   are never looked at (a counting user extractor is never called for them).
//!
//! Allocations are counted by the `allocation-counter` dev-dependency, which installs a
//! counting global allocator (its `unsafe impl GlobalAlloc` lives in that crate: this
//! workspace forbids `unsafe_code`). It counts per thread, so the parallel test threads do
//! not disturb each other; every future here is polled by hand on the test's own thread.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use chaos_middleware::{Action, ActionSpec, ChaosLayer, Fault, Kind};
use http::{Request, Response, Uri};
use http_body_util::Empty;
use tower::{Layer, Service};

fn ret(id: i64, target: &str) -> Action {
    Action {
        id,
        spec: ActionSpec::new(
            Kind::Response,
            target,
            Fault::Return {
                status: 503,
                body: None,
            },
        ),
        created_at: 0,
        updated_at: 0,
        created_by: None,
    }
}

/// `n` user-filtered actions, none of which targets `/items`.
fn other_views(n: usize) -> Vec<Action> {
    (0..n)
        .map(|i| {
            let mut action = ret(i as i64 + 1, &format!("/other/{i}"));
            action.spec.users = vec!["alice".into()];
            action
        })
        .collect()
}

fn request(path: &'static str) -> Request<()> {
    let mut request = Request::new(());
    *request.uri_mut() = Uri::from_static(path);
    request
}

fn answer(_: Request<()>) -> std::future::Ready<Result<Response<Empty<Bytes>>, Infallible>> {
    std::future::ready(Ok(Response::new(Empty::new())))
}

/// One request through `service`, polled by hand (nothing here waits).
fn drive<S, B>(service: &mut S, request: Request<()>)
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let future = pin!(service.call(request));
    assert!(matches!(future.poll(&mut cx), Poll::Ready(Ok(_))));
}

/// Allocations made by one request through `service` (after a warm-up request, so
/// one-time thread-local set-up such as arc-swap's debt list is not counted).
fn allocations_per_request<S, B>(service: &mut S, path: &'static str) -> u64
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    drive(service, request(path));
    let mut total = 0;
    for _ in 0..10 {
        let req = request(path);
        total += allocation_counter::measure(|| drive(service, req)).count_total;
    }
    total / 10
}

/// A layer with `actions` installed and an extractor that counts its calls.
fn counting_layer(actions: &[Action]) -> (ChaosLayer, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let layer = ChaosLayer::builder()
        .enabled(true)
        .user_extractor(move |_| {
            seen.fetch_add(1, Ordering::Relaxed);
            None
        })
        .build()
        .expect("a layer without a store builds");
    layer.handle().apply(Some(1), actions);
    (layer, calls)
}

#[test]
fn a_request_nothing_matches_allocates_nothing_in_the_layer() {
    let mut bare = tower::service_fn(answer);
    let baseline = allocations_per_request(&mut bare, "/items");

    for n in [0, 1, 10_000] {
        let (layer, _) = counting_layer(&other_views(n));
        let mut service = layer.layer(tower::service_fn(answer));
        let with_layer = allocations_per_request(&mut service, "/items");
        assert_eq!(
            with_layer, baseline,
            "{n} stored actions: {with_layer} allocations per request with the layer, \
             {baseline} without"
        );
    }
}

#[test]
fn a_decision_that_injects_nothing_allocates_nothing() {
    let mut never = ret(1, "/items");
    never.spec.probability = 0.0;
    let mut for_alice = ret(2, "/items");
    for_alice.spec.users = vec!["alice".into()];
    let mut bare = tower::service_fn(answer);
    let baseline = allocations_per_request(&mut bare, "/items");
    let (layer, calls) = counting_layer(&[never, for_alice]);
    let mut service = layer.layer(tower::service_fn(answer));
    let with_layer = allocations_per_request(&mut service, "/items");
    assert_eq!(with_layer, baseline);
    assert!(
        calls.load(Ordering::Relaxed) > 0,
        "the user filter was evaluated"
    );
}

#[test]
fn the_lookup_never_looks_at_rules_of_other_views() {
    // 100,000 user-filtered rules on other views: if the lookup scanned them, the first
    // one would ask for the user. It must not, for any request to /items.
    let (layer, calls) = counting_layer(&other_views(100_000));
    let mut service = layer.layer(tower::service_fn(answer));
    for _ in 0..1_000 {
        drive(&mut service, request("/items"));
    }
    assert_eq!(calls.load(Ordering::Relaxed), 0);

    // One of them does target the requested view: the user is asked for exactly once per
    // request (and still nothing else is looked at: the count says once, not 100,000).
    drive(&mut service, request("/other/99999"));
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[test]
fn one_or_a_hundred_thousand_stored_actions_cost_the_same_allocations() {
    let mut counts = Vec::new();
    for n in [1, 100_000] {
        let (layer, _) = counting_layer(&other_views(n));
        let mut service = layer.layer(tower::service_fn(answer));
        counts.push(allocations_per_request(&mut service, "/items"));
    }
    assert_eq!(counts[0], counts[1], "1 vs 100,000 actions: {counts:?}");
}

#[test]
fn snapshot_memory_for_ten_thousand_actions_is_reported() {
    // Not a timing: the bytes the compiled snapshot keeps, for BENCHMARKS.md
    // (`cargo test -p chaos-middleware --test alloc -- --nocapture`).
    let actions: Vec<Action> = (0..10_000)
        .map(|i| ret(i + 1, &format!("/view/{i}")))
        .collect();
    let (layer, _) = counting_layer(&[]);
    let handle = layer.handle();
    let info = allocation_counter::measure(|| handle.apply(Some(2), &actions));
    println!(
        "snapshot of 10,000 actions: {} bytes kept ({} allocations kept), {} bytes peak, \
         {} allocations made",
        info.bytes_current, info.count_current, info.bytes_max, info.count_total
    );
    assert!(info.bytes_current > 0);
    assert_eq!(handle.stats().rules, 10_000);
}

#[test]
fn a_routed_request_nothing_matches_allocates_as_much_as_with_a_no_op_layer() {
    use axum::Router;
    use axum::routing::get;

    fn per_request(router: &mut Router) -> u64 {
        let mut one = || {
            let mut request = Request::new(axum::body::Body::empty());
            *request.uri_mut() = Uri::from_static("/items/7");
            allocation_counter::measure(|| {
                let mut cx = Context::from_waker(Waker::noop());
                let future = pin!(router.call(request));
                assert!(matches!(future.poll(&mut cx), Poll::Ready(Ok(_))));
            })
            .count_total
        };
        one();
        (0..10).map(|_| one()).sum::<u64>() / 10
    }
    let app = || Router::new().route("/items/{id}", get(|| async { "item" }));
    // Finalised the way `axum::serve` does it.
    let done = |router: Router| router.with_state::<()>(());
    let bare = per_request(&mut done(app()));
    let no_op = per_request(&mut done(app().layer(tower::layer::util::Identity::new())));
    let (layer, _) = counting_layer(&other_views(10_000));
    let with_layer = per_request(&mut done(app().layer(layer)));
    assert_eq!(
        with_layer, no_op,
        "through a Router: {with_layer} allocations per request with the chaos layer, \
         {no_op} with a no-op layer, {bare} with no layer"
    );
}

#[test]
fn a_user_filter_that_rejects_the_user_allocates_nothing_with_the_default_extractor() {
    use chaos_middleware::ChaosUser;

    let mut for_alice = ret(1, "/items");
    for_alice.spec.users = vec!["alice".into()];
    let layer = ChaosLayer::builder().enabled(true).build().expect("builds");
    layer.handle().apply(Some(1), &[for_alice]);
    let bob = || {
        let mut request = request("/items");
        request.extensions_mut().insert(ChaosUser::new("bob"));
        request
    };
    let count = |service: &mut dyn FnMut(Request<()>)| {
        service(bob());
        let request = bob();
        allocation_counter::measure(|| service(request)).count_total
    };
    let mut bare = tower::service_fn(answer);
    let baseline = count(&mut |r| drive(&mut bare, r));
    let mut service = layer.layer(tower::service_fn(answer));
    let with_layer = count(&mut |r| drive(&mut service, r));
    assert_eq!(with_layer, baseline);
}
