//! Notifications in the web admin: the page at `/notifications` (add, remove, test) and
//! the JSON API under `/api/v1/webhooks`, with the CLI's rules and messages.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use serde_json::{Value, json};

use super::pages::{error_page, form_pairs, html_response, page};
use super::{ApiError, Ctx, ErrorBody};
use crate::notification::{Event, EventKind, parse_events, validate_url};

/// A webhook as the API and the form take it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookForm {
    /// Where to post (http:// or https://).
    pub url: String,
    /// Events wanted (`guard.tripped`, `storm.*`; empty or `*`: all).
    pub events: Vec<String>,
}

fn parse_webhook_id(text: &str) -> Result<i64, ApiError> {
    super::pages::path_id("webhook", text)
}

async fn add(ctx: &Ctx, form: &WebhookForm) -> Result<i64, ApiError> {
    if form.url.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing url: give the webhook's http:// or https:// URL",
        ));
    }
    let url = validate_url(&form.url).map_err(crate::StoreError::from)?;
    let events = parse_events(&form.events).map_err(crate::StoreError::from)?;
    Ok(ctx.store.add_webhook(&url, &events).await?)
}

async fn test(ctx: &Ctx) -> Result<u64, ApiError> {
    let event = Event::new(
        EventKind::Test,
        format!(
            "test notification from the web admin of {}",
            ctx.store.location()
        ),
    );
    Ok(ctx.store.emit(&event).await?)
}

/// `GET /api/v1/webhooks`: `{"webhooks": [...]}` with delivery counts and the last error.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "notifications",
    responses((status = 200, description = "{webhooks}", body = Object), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn api_webhooks(ctx: Ctx) -> Result<Json<Value>, ApiError> {
    let mut hooks = serde_json::to_value(ctx.store.webhooks().await?).unwrap_or(Value::Null);
    if let Some(items) = hooks.as_array_mut() {
        for item in items {
            crate::action::describe::rfc3339_fields(item, &["created_at", "last_error_at"]);
        }
    }
    Ok(Json(json!({"webhooks": hooks})))
}

/// `POST /api/v1/webhooks` with a [`WebhookForm`]: 201 `{"id"}`.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "notifications", request_body = WebhookForm,
    responses((status = 201, description = "{id}", body = Object), (status = 400, description = "Malformed JSON or unknown field", body = ErrorBody), (status = 422, description = "A bad URL or event (the CLI's message)", body = ErrorBody), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn api_add_webhook(
    ctx: Ctx,
    form: Result<Json<WebhookForm>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(form) = form.map_err(|err| super::api::rejected(&err))?;
    let id = add(&ctx, &form).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
}

/// `DELETE /api/v1/webhooks/{id}`: `{"removed": 1}`; 404 for an unknown id.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "notifications",
    responses((status = 200, description = "{removed: 1}", body = Object), (status = 404, description = "No such webhook", body = ErrorBody), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn api_remove_webhook(
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_webhook_id(&id)?;
    Ok(Json(
        json!({"removed": ctx.store.remove_webhooks(Some(id)).await?}),
    ))
}

/// `POST /api/v1/webhooks/test`: queues a `test` event; `{"queued": N}`.
#[utoipa::path(post, path = "/api/v1/webhooks/test", tag = "notifications",
    responses((status = 200, description = "{queued: N}", body = Object), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn api_test_webhooks(ctx: Ctx) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"queued": test(&ctx).await?})))
}

fn after(ctx: &Ctx, notice: &str) -> Response {
    Redirect::to(&format!("{}/notifications?notice={notice}", ctx.base)).into_response()
}

/// `GET /notifications`.
pub(super) async fn page_webhooks(ctx: Ctx, RawQuery(query): RawQuery) -> Response {
    let notice = super::pages::query_notice(query.as_deref());
    let message = match notice.as_deref() {
        Some("added") => Some("Webhook added: it hears about the next change."),
        Some("removed") => Some("Webhook removed."),
        Some("tested") => Some("Test event queued: the counts below show how it went."),
        _ => None,
    };
    render(&ctx, message, None).await
}

async fn render(ctx: &Ctx, message: Option<&str>, error: Option<&ApiError>) -> Response {
    let hooks = match ctx.store.webhooks().await {
        Ok(hooks) => hooks,
        Err(err) => return error_page(ctx, &ApiError::from(err)),
    };
    let base = &ctx.base;
    let now = crate::action::now_ms();
    let body = html! {
        @if let Some(text) = message { p.notice role="status" { (text) } }
        @if let Some(err) = error { p.error role="alert" { (err.message()) } }
        p { "Webhooks hear about every change to the chaos: actions, storms, exercises, guard trips, experiments. Each event is posted as JSON with a Slack-compatible text field and retried with backoff." }
        @if hooks.is_empty() {
            p { "No webhooks: nobody is told about chaos." }
        } @else {
            table {
                thead { tr { th { "id" } th { "URL" } th { "events" } th { "delivered" } th { "failed" } th { "pending" } th { "last error" } th {} } }
                tbody {
                    @for hook in &hooks {
                        tr {
                            td { (hook.id) }
                            td.target { (hook.url) @if let Some(problem) = &hook.problem { br; strong.tripped { "broken row: " (problem) } } }
                            td { @if hook.events.is_empty() { "all" } @else { (hook.events.join(", ")) } }
                            td { (hook.delivered) }
                            td { (hook.failed) }
                            td { (hook.pending) }
                            td {
                                @match (&hook.last_error, hook.last_error_at) {
                                    (Some(error), Some(at)) => { (crate::action::describe::ago(now, at)) ": " (error) },
                                    (Some(error), None) => (error),
                                    _ => "-",
                                }
                            }
                            td {
                                form method="post" action={ (base) "/notifications/" (hook.id) "/delete" } {
                                    button.danger type="submit" { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action={ (base) "/notifications/test" } {
                button type="submit" { "Send a test event" }
            }
        }
        h2 { "Add a webhook" }
        form method="post" action={ (base) "/notifications" } {
            p { label { "URL " input name="url" placeholder="https://hooks.slack.com/services/T000/B000/XXX" size="60"; } }
            p { label { "Events (comma-separated; empty: all) " input name="events" placeholder="guard.*, storm.*"; } }
            p { button type="submit" { "Add webhook" } }
        }
    };
    let status = error.map_or(StatusCode::OK, ApiError::status);
    html_response(status, page(ctx, "Notifications", body))
}

/// `POST /notifications` (form).
pub(super) async fn page_add_webhook(ctx: Ctx, body: Bytes) -> Response {
    let mut form = WebhookForm::default();
    for (key, value) in form_pairs(&body) {
        match key.as_str() {
            "url" => form.url = value,
            "events" => form.events.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(str::to_owned),
            ),
            _ => {}
        }
    }
    match add(&ctx, &form).await {
        Ok(_) => after(&ctx, "added"),
        Err(err) => render(&ctx, None, Some(&err)).await,
    }
}

/// `POST /notifications/{id}/delete`.
pub(super) async fn page_remove_webhook(ctx: Ctx, Path(id): Path<String>) -> Response {
    let result = async {
        Ok::<_, ApiError>(
            ctx.store
                .remove_webhooks(Some(parse_webhook_id(&id)?))
                .await?,
        )
    }
    .await;
    match result {
        Ok(_) => after(&ctx, "removed"),
        Err(err) => render(&ctx, None, Some(&err)).await,
    }
}

/// `POST /notifications/test`.
pub(super) async fn page_test_webhooks(ctx: Ctx) -> Response {
    match test(&ctx).await {
        Ok(_) => after(&ctx, "tested"),
        Err(err) => render(&ctx, None, Some(&err)).await,
    }
}
