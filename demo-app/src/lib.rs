//! The demo shop: a small axum service wired with the chaos layer.
//!
//! Views (name → route): `index` GET /, `items` GET /items, `item_detail`
//! GET /items/{id}, `checkout` POST /checkout, `health` GET /health, and the learning
//! loop's `provider` GET /provider, `consumer_before` GET /consumer_before and
//! `consumer_after` GET /consumer_after (see [`provider`]).

mod auth;
mod metrics;
pub mod provider;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use chaos_middleware::{ChaosLayer, ChaosPointError, ChaosViews, chaos_point};
use serde::Serialize;
use serde_json::{Value, json};
use tower_http::catch_panic::CatchPanicLayer;

pub use auth::{DEMO_GROUPS_HEADER, DEMO_USER_HEADER, demo_auth};

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
    for (name, method, pattern) in ROUTES {
        views.name_with_methods(name, pattern, &[method]);
    }
    views
}

/// View name, HTTP method and route pattern, in one place for the router and the layer.
pub const ROUTES: [(&str, &str, &str); 8] = [
    ("index", "GET", "/"),
    ("items", "GET", "/items"),
    ("item_detail", "GET", "/items/{id}"),
    ("checkout", "POST", "/checkout"),
    ("health", "GET", "/health"),
    ("provider", "GET", "/provider"),
    ("consumer_before", "GET", "/consumer_before"),
    ("consumer_after", "GET", "/consumer_after"),
];

/// Where the demo serves by default (the consumers call the provider there).
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:3000";

/// How the demo wires the chaos layer.
#[derive(Debug, Clone, Copy)]
pub struct Wiring {
    /// A panic (e.g. one injected by a `panic` action) becomes a 500 from tower-http's
    /// `CatchPanic`; without it the connection drops and the server goes on.
    pub catch_panics: bool,
    /// `ChaosLayer::around` the shop's whole `Router` (one service; the layer resolves
    /// the view itself) instead of `Router::layer` (every route wrapped).
    pub whole_router: bool,
}

impl Default for Wiring {
    fn default() -> Self {
        Self {
            catch_panics: true,
            whole_router: false,
        }
    }
}

/// The demo router with `chaos` applied to every route and the demo auth outside it.
/// The consumer views call the provider view at `base_url` (`http://127.0.0.1:PORT`).
pub fn router(chaos: ChaosLayer, base_url: &str, wiring: Wiring) -> Router {
    let counters = Arc::new(Counters::default());
    let handle = chaos.handle();
    let [
        index_route,
        items_route,
        detail_route,
        checkout_route,
        health_route,
        provider_route,
        before_route,
        after_route,
    ] = ROUTES.map(|(_, _, pattern)| pattern);
    let consumers = Router::new()
        .route(provider_route, get(provider::provider))
        .route(before_route, get(provider::consumer_before))
        .route(after_route, get(provider::consumer_after))
        .with_state(provider::Consumers::new(base_url));
    let shop = Router::new()
        .route(index_route, get(index))
        .route(items_route, get(list_items))
        .route(detail_route, get(item_detail))
        .route(checkout_route, post(checkout))
        .route(health_route, get(health))
        .with_state(counters)
        .merge(consumers);
    let app = if wiring.whole_router {
        // One service around the shop; the outer router only adds /metrics and auth.
        Router::new().fallback_service(chaos.around(shop))
    } else {
        // Chaos runs after routing (so it knows the route) ...
        shop.layer(chaos)
    };
    let app = if wiring.catch_panics {
        app.layer(CatchPanicLayer::new())
    } else {
        app
    };
    // /metrics is added after the chaos layer, so chaos never breaks the monitoring.
    app.route("/metrics", get(metrics::render).with_state(handle))
        // Auth runs first (so chaos knows the user): later layers wrap earlier ones.
        .layer(middleware::from_fn(demo_auth))
}

/// The demo router with the chaos admin mounted at `/chaos`, behind the demo's admin
/// login ([`auth::admin_auth`]: HTTP Basic, any user name, `password`). The admin is
/// outside the chaos layer, so chaos never breaks the tool that turns it off.
pub fn with_admin(app: Router, database_url: &str, password: &str) -> Router {
    let password: std::sync::Arc<str> = std::sync::Arc::from(password);
    // `/chaos/` (as typed, and as some proxies rewrite it) goes to the admin too, outside
    // the chaos layer.
    app.route(
        "/chaos/",
        axum::routing::get(|uri: axum::http::Uri| async move {
            // Keep the query (`/chaos/?state=active`).
            let target = match uri.query() {
                Some(query) => format!("/chaos?{query}"),
                None => "/chaos".to_owned(),
            };
            axum::response::Redirect::permanent(&target)
        }),
    )
    .nest(
        "/chaos",
        // Opened on first use: the shop starts even while the chaos store is down.
        chaos_middleware::admin::router_for_url(database_url)
            .layer(middleware::from_fn_with_state(password, auth::admin_auth)),
    )
}

/// What a handler answers when its data access fails: a clear 503, not a crash.
fn data_unavailable(what: &str, err: &ChaosPointError) -> (StatusCode, Json<Value>) {
    tracing::warn!(error = %err, "{what} unavailable");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({
            "error": format!("the {what} is unavailable, please try again later"),
            "detail": err.to_string(),
        })),
    )
}

async fn index() -> Json<Value> {
    Json(json!({
        "service": "demo-app",
        "views": ROUTES.iter().map(|(name, method, pattern)| json!({"name": name, "method": method, "route": pattern})).collect::<Vec<_>>(),
    }))
}

/// The demo's "database": a fault point stands where the real query would be.
async fn load_items() -> Result<&'static [Item], (StatusCode, Json<Value>)> {
    chaos_point("db.items")
        .await
        .map_err(|err| data_unavailable("item database", &err))?;
    Ok(&ITEMS)
}

async fn list_items() -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let items = load_items().await?;
    Ok(Json(json!({ "items": items })))
}

async fn item_detail(Path(id): Path<u32>) -> Result<Json<Item>, (StatusCode, Json<Value>)> {
    load_items()
        .await?
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

async fn checkout(
    State(counters): State<Arc<Counters>>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    chaos_point("db.orders")
        .await
        .map_err(|err| data_unavailable("order database", &err))?;
    let order = counters.checkouts.fetch_add(1, Ordering::SeqCst) + 1;
    Ok(Json(json!({ "status": "paid", "order": order })))
}

async fn health(State(counters): State<Arc<Counters>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "checkouts": counters.checkouts.load(Ordering::SeqCst),
    }))
}
