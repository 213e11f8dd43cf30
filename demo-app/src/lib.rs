//! The demo shop: a small axum service wired with the chaos layer.
//!
//! Views (name → route): `index` GET /, `items` GET /items, `item_detail`
//! GET /items/{id}, `checkout` POST /checkout, `health` GET /health, and the learning
//! loop's `provider` GET /provider, `consumer_before` GET /consumer_before and
//! `consumer_after` GET /consumer_after (see [`provider`]).

mod auth;
pub mod provider;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use chaos_middleware::{ChaosLayer, ChaosViews};
use serde::Serialize;
use serde_json::{Value, json};

pub use auth::{DEMO_USER_HEADER, demo_auth};

/// An item the shop sells.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// Identifier used in `/items/{id}`.
    pub id: u32,
    /// Display name.
    pub name: &'static str,
    /// Price in cents.
    pub price_cents: u32,
}

const ITEMS: [Item; 3] = [
    Item {
        id: 1,
        name: "chaos monkey plush",
        price_cents: 1999,
    },
    Item {
        id: 2,
        name: "latency socks",
        price_cents: 899,
    },
    Item {
        id: 3,
        name: "circuit breaker mug",
        price_cents: 1299,
    },
];

/// Counters that let tests see whether handlers really ran.
#[derive(Debug, Default)]
pub struct Counters {
    checkouts: AtomicU64,
}

/// The route names the layer is told about (so actions can say `checkout`).
pub fn views() -> ChaosViews {
    let mut views = ChaosViews::new();
    for (name, pattern) in ROUTES {
        views.name(name, pattern);
    }
    views
}

/// View name → route pattern, in one place for the router and the layer.
pub const ROUTES: [(&str, &str); 8] = [
    ("index", "/"),
    ("items", "/items"),
    ("item_detail", "/items/{id}"),
    ("checkout", "/checkout"),
    ("health", "/health"),
    ("provider", "/provider"),
    ("consumer_before", "/consumer_before"),
    ("consumer_after", "/consumer_after"),
];

/// Where the demo serves by default (the consumers call the provider there).
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:3000";

/// The demo router with `chaos` applied to every route and the demo auth outside it;
/// the consumers call the provider at [`DEFAULT_BASE_URL`].
pub fn router(chaos: ChaosLayer) -> Router {
    router_at(chaos, DEFAULT_BASE_URL)
}

/// Like [`router`], for an app serving at `base_url` (`http://127.0.0.1:PORT`), which
/// the consumer views call to reach the provider view.
pub fn router_at(chaos: ChaosLayer, base_url: &str) -> Router {
    let counters = Arc::new(Counters::default());
    let [
        index_route,
        items_route,
        detail_route,
        checkout_route,
        health_route,
        provider_route,
        before_route,
        after_route,
    ] = ROUTES.map(|(_, pattern)| pattern);
    let consumers = Router::new()
        .route(provider_route, get(provider::provider))
        .route(before_route, get(provider::consumer_before))
        .route(after_route, get(provider::consumer_after))
        .with_state(provider::Consumers::new(base_url));
    Router::new()
        .route(index_route, get(index))
        .route(items_route, get(list_items))
        .route(detail_route, get(item_detail))
        .route(checkout_route, post(checkout))
        .route(health_route, get(health))
        .with_state(counters)
        .merge(consumers)
        // Chaos runs after routing (so it knows the route) ...
        .layer(chaos)
        // ... and after auth (so it knows the user): later layers wrap earlier ones.
        .layer(middleware::from_fn(demo_auth))
}

async fn index() -> Json<Value> {
    Json(json!({
        "service": "demo-app",
        "views": ROUTES.iter().map(|(name, pattern)| json!({"name": name, "route": pattern})).collect::<Vec<_>>(),
    }))
}

async fn list_items() -> Json<Value> {
    Json(json!({ "items": ITEMS }))
}

async fn item_detail(Path(id): Path<u32>) -> Result<Json<Item>, (StatusCode, Json<Value>)> {
    ITEMS
        .iter()
        .find(|item| item.id == id)
        .cloned()
        .map(Json)
        .ok_or_else(|| {
            (
                StatusCode::NOT_FOUND,
                Json(json!({ "error": format!("no item {id}") })),
            )
        })
}

async fn checkout(State(counters): State<Arc<Counters>>) -> Json<Value> {
    let order = counters.checkouts.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({ "status": "paid", "order": order }))
}

async fn health(State(counters): State<Arc<Counters>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "checkouts": counters.checkouts.load(Ordering::SeqCst),
    }))
}
