//! The web admin (cargo feature `admin`, off by default): pages to manage chaos actions
//! from a browser and the same operations as a versioned JSON API under `/api/v1`, over
//! the app's own chaos store.
//!
//! Embed it in the app, behind the app's own login:
//!
//! ```no_run
//! # async fn demo(store: chaos_middleware::Store) {
//! use axum::{Router, extract::Request, middleware::{self, Next}, response::Response};
//! use chaos_middleware::admin::{self, Operator};
//!
//! async fn my_login(mut request: Request, next: Next) -> Response {
//!     // ... check the session; then say who the operator is (it goes into the audit log):
//!     request.extensions_mut().insert(Operator::new("alice"));
//!     next.run(request).await
//! }
//!
//! let app: Router = Router::new()
//!     .nest("/chaos", admin::router(store))
//!     .layer(middleware::from_fn(my_login));
//! # }
//! ```
//!
//! Every request must carry an [`Operator`] extension (the app's auth layer inserts it):
//! without one the admin answers 401, so mounting it without auth exposes nothing.
//! State-changing requests from another site are refused (403, tower-http's
//! [`CsrfLayer`](tower_http::csrf::CsrfLayer): `Sec-Fetch-Site`/`Origin` checks). Pages are
//! served with a Content-Security-Policy that allows no inline script and no other
//! origin; the stylesheet and script are compiled into the binary. Everything shown is
//! escaped. The actions an exercise hides stay hidden (id, state and tag only) in every
//! page and API response until it is revealed, as in the CLI.

mod api;
pub mod auth;
use auth::is_api;
mod gameday;
mod guards;
mod openapi;
mod pages;
mod select;
mod webhooks;

use axum::Router;
use axum::extract::{FromRequestParts, NestedPath};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::Store;

pub use select::{ActionFilter, StateFilter};

/// Who is operating the admin, as the app authenticated them: inserted as a request
/// extension by the app's auth layer (or by `chaos-admin serve`'s token check). Its name
/// is written into the audit log of every change made through the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator(String);

impl Operator {
    /// An operator by name (shown in the audit log).
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The operator's name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// The shared state of the admin's handlers: the store, or how to reach it.
#[derive(Debug, Clone)]
enum Admin {
    /// An open store.
    Ready(Store),
    /// A store opened on first use (and retried on every request until it opens), so an
    /// app starts even when its chaos store is down.
    Lazy {
        url: String,
        cell: std::sync::Arc<tokio::sync::OnceCell<Store>>,
    },
}

impl Admin {
    async fn store(&self) -> Result<Store, crate::StoreError> {
        match self {
            Admin::Ready(store) => Ok(store.clone()),
            Admin::Lazy { url, cell } => {
                cell.get_or_try_init(|| Store::connect(url)).await.cloned()
            }
        }
    }
}

/// What a handler gets per request: the store, acting as the operator, and where the
/// admin is mounted (for links).
#[derive(Debug, Clone)]
struct Ctx {
    /// The store; its changes are audited as the operator's.
    store: Store,
    /// The operator.
    operator: Operator,
    /// The path the admin is mounted at, without a trailing slash (`/chaos`, or empty).
    base: String,
    /// Pages: the tripped guards, shown on top of every page (chaos is off).
    tripped: Vec<crate::guard::Guard>,
}

impl Ctx {
    /// The admin's home page: the mount path itself (`/chaos`; a nested router does not
    /// answer `/chaos/`), or `/` at the root.
    fn home(&self) -> String {
        if self.base.is_empty() {
            "/".to_owned()
        } else {
            self.base.clone()
        }
    }
}

impl FromRequestParts<Admin> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Admin) -> Result<Self, Response> {
        let api = is_api(parts.uri.path());
        // A webhook pointed at the admin must not drive it (reset a guard after every
        // trip, flip the kill switch): deliveries carry this header.
        if parts
            .headers
            .contains_key(crate::notification::DELIVERY_HEADER)
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this is a chaos notification: webhooks cannot drive the chaos admin (point the webhook elsewhere)",
            )
            .respond(api));
        }
        let Some(operator) = parts.extensions.get::<Operator>().cloned() else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "no operator: the app must authenticate requests to the chaos admin and insert chaos_middleware::admin::Operator",
            )
            .respond(api));
        };
        // Where the app nested the admin (`/chaos`); empty at the root.
        let base = parts
            .extensions
            .get::<NestedPath>()
            .map(|nested| nested.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let store = state
            .store()
            .await
            .map_err(|err| ApiError::from(err).respond(api))?;
        // Pages say at once when a guard has stopped all chaos (one small read).
        let tripped = if api {
            Vec::new()
        } else {
            store
                .guards()
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|g| g.tripped.is_some())
                .collect()
        };
        Ok(Ctx {
            store: store.with_actor(operator.name()),
            operator,
            base,
            tripped,
        })
    }
}

/// The body of every error of the JSON API.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// One line, the same the CLI prints for the same input.
    pub error: String,
    /// The HTTP status code.
    pub status: u16,
}

/// An error of the admin: a status code that means what it says and one line (the same
/// line the CLI prints), as JSON `{"error": "..."}` for the API and as a page for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with this status and one-line message (also for routes outside the
    /// admin that answer in its shape, such as the relay's and `chaos-admin serve`'s).
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// JSON for the API, a small page for people (before a page with the admin's layout
    /// can be drawn: no operator, no store).
    fn respond(self, api: bool) -> Response {
        if api {
            return self.into_response();
        }
        let page = maud::html! {
            (maud::DOCTYPE)
            html lang="en" {
                head { meta charset="utf-8"; title { "chaos admin" } }
                body { h1 { "chaos admin" } p role="alert" { (self.message) } }
            }
        };
        (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            page.into_string(),
        )
            .into_response()
    }
}

/// A method a route does not take: 405, JSON under `/api/`.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let api = is_api(uri.path());
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
    .respond(api)
}

/// Anything the admin does not serve: 404, JSON under `/api/`.
async fn not_found(uri: axum::http::Uri) -> Response {
    let api = is_api(uri.path());
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such page: {}", uri.path()),
    )
    .respond(api)
}

impl From<crate::StoreError> for ApiError {
    fn from(err: crate::StoreError) -> Self {
        use crate::StoreError;
        let status = match &err {
            StoreError::UnknownIds(_)
            | StoreError::UnknownGuard(_)
            | StoreError::UnknownWebhook(_) => StatusCode::NOT_FOUND,
            StoreError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self::new(status, err.to_string())
    }
}

impl From<crate::InvalidAction> for ApiError {
    fn from(err: crate::InvalidAction) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
            status: self.status.as_u16(),
        };
        (self.status, axum::Json(body)).into_response()
    }
}

/// The Content-Security-Policy of every response: only this origin's script and style,
/// no inline script, no framing, forms only to this origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A cross-site state-changing request: refused with the admin's JSON error.
fn csrf_refusal(_: tower_http::csrf::ProtectionError) -> Response {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "cross-site request refused: changes are accepted only from the admin's own pages or API clients without an Origin",
    )
    .into_response()
}

/// The admin's routes over `store`, to nest wherever the app wants (see the module
/// documentation): the pages at `/`, the JSON API at `/api/v1/...`, assets at
/// `/assets/...`. Requests need an [`Operator`] extension.
pub fn router(store: Store) -> Router {
    routes(Admin::Ready(store))
}

/// Like [`router`], opening the store at `database_url` on first use: the app starts
/// even while its chaos store is unreachable (the admin then answers 503 until it opens).
pub fn router_for_url(database_url: impl Into<String>) -> Router {
    routes(Admin::Lazy {
        url: database_url.into(),
        cell: std::sync::Arc::default(),
    })
}

fn routes(state: Admin) -> Router {
    Router::new()
        .route("/", get(pages::actions))
        .route("/fragment/actions", get(pages::actions_fragment))
        .route("/actions/new", get(pages::new_action))
        .route("/actions", post(pages::create_action))
        .route("/actions/bulk", post(pages::bulk))
        .route("/actions/{id}/{op}", post(pages::row_op))
        .route("/kill", get(pages::kill_confirm).post(pages::kill))
        .route("/gameday", get(gameday::page_gameday))
        .route("/storm", post(gameday::page_start_storm))
        .route("/storm/end", post(gameday::page_end_storm))
        .route("/exercise", post(gameday::page_start_exercise))
        .route("/exercise/{op}", post(gameday::page_exercise_op))
        .route("/instances", get(pages::instances))
        .route("/fragment/instances", get(pages::instances_fragment))
        .route("/audit", get(pages::audit))
        .route(
            "/guards",
            get(guards::page_guards).post(guards::page_set_guard),
        )
        .route("/guards/reset", post(guards::page_reset_guards))
        .route("/guards/{id}/delete", post(guards::page_clear_guard))
        .route(
            "/notifications",
            get(webhooks::page_webhooks).post(webhooks::page_add_webhook),
        )
        .route("/notifications/test", post(webhooks::page_test_webhooks))
        .route(
            "/notifications/{id}/delete",
            post(webhooks::page_remove_webhook),
        )
        .route("/assets/admin.css", get(pages::stylesheet))
        .route("/assets/admin.js", get(pages::script))
        .route(
            "/api/v1/actions",
            get(api::list_actions).post(api::create_action),
        )
        .route("/api/v1/actions/bulk", post(api::bulk))
        .route(
            "/api/v1/actions/{id}",
            get(api::get_action).delete(api::delete_action),
        )
        .route("/api/v1/actions/{id}/{op}", post(api::toggle_action))
        .route("/api/v1/kill-switch", post(api::kill_switch))
        .route(
            "/api/v1/storm",
            post(gameday::api_start_storm).delete(gameday::api_end_storm),
        )
        .route(
            "/api/v1/exercise",
            get(gameday::api_exercise).post(gameday::api_start_exercise),
        )
        .route("/api/v1/exercise/hint", post(gameday::api_hint))
        .route("/api/v1/exercise/reveal", post(gameday::api_reveal))
        .route("/api/v1/exercise/end", post(gameday::api_end_exercise))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/views", get(api::views))
        .route("/api/v1/instances", get(api::instances))
        .route("/api/v1/audit", get(api::audit))
        .route(
            "/api/v1/guards",
            get(guards::api_guards).post(guards::api_set_guard),
        )
        .route("/api/v1/guards/reset", post(guards::api_reset_guards))
        .route(
            "/api/v1/guards/{id}",
            axum::routing::delete(guards::api_clear_guard),
        )
        .route(
            "/api/v1/webhooks",
            get(webhooks::api_webhooks).post(webhooks::api_add_webhook),
        )
        .route("/api/v1/webhooks/test", post(webhooks::api_test_webhooks))
        .route(
            "/api/v1/webhooks/{id}",
            axum::routing::delete(webhooks::api_remove_webhook),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(tower_http::csrf::CsrfLayer::new().with_rejection_response(csrf_refusal))
        // Outermost, so refusals carry the headers too.
        .layer(axum::middleware::map_response(security_headers))
}

/// The routes of [`router`], for tests that walk every one: (method, path).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/fragment/actions"),
    ("GET", "/actions/new"),
    ("POST", "/actions"),
    ("POST", "/actions/bulk"),
    ("POST", "/actions/1/disable"),
    ("GET", "/kill"),
    ("POST", "/kill"),
    ("GET", "/gameday"),
    ("POST", "/storm"),
    ("POST", "/storm/end"),
    ("POST", "/exercise"),
    ("POST", "/exercise/hint"),
    ("GET", "/instances"),
    ("GET", "/fragment/instances"),
    ("GET", "/audit"),
    ("GET", "/guards"),
    ("POST", "/guards"),
    ("POST", "/guards/reset"),
    ("POST", "/guards/1/delete"),
    ("GET", "/notifications"),
    ("POST", "/notifications"),
    ("POST", "/notifications/test"),
    ("POST", "/notifications/1/delete"),
    ("GET", "/assets/admin.css"),
    ("GET", "/assets/admin.js"),
    ("GET", "/api/v1/actions"),
    ("POST", "/api/v1/actions"),
    ("POST", "/api/v1/actions/bulk"),
    ("GET", "/api/v1/actions/1"),
    ("DELETE", "/api/v1/actions/1"),
    ("POST", "/api/v1/actions/1/enable"),
    ("POST", "/api/v1/kill-switch"),
    ("POST", "/api/v1/storm"),
    ("DELETE", "/api/v1/storm"),
    ("GET", "/api/v1/exercise"),
    ("POST", "/api/v1/exercise"),
    ("POST", "/api/v1/exercise/hint"),
    ("POST", "/api/v1/exercise/reveal"),
    ("POST", "/api/v1/exercise/end"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/views"),
    ("GET", "/api/v1/instances"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/guards"),
    ("POST", "/api/v1/guards"),
    ("POST", "/api/v1/guards/reset"),
    ("DELETE", "/api/v1/guards/1"),
    ("GET", "/api/v1/webhooks"),
    ("POST", "/api/v1/webhooks"),
    ("POST", "/api/v1/webhooks/test"),
    ("DELETE", "/api/v1/webhooks/1"),
];
