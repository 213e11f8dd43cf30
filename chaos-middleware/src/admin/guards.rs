//! Guards in the web admin: the page at `/guards` (set, remove, reset) and the JSON API
//! under `/api/v1/guards`, with the CLI's rules ([`GuardForm`]) and messages.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde_json::{Value, json};

use super::pages::{error_page, form_pairs, html_response, page};
use super::{ApiError, Ctx, ErrorBody};
use crate::guard::{Guard, GuardForm};

fn guard_json(guard: &Guard) -> Value {
    let mut value = serde_json::to_value(guard).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.insert("describe".into(), Value::String(guard.describe()));
    }
    value
}

fn parse_guard_id(text: &str) -> Result<i64, ApiError> {
    super::pages::path_id("guard", text)
}

/// `GET /api/v1/guards`: `{"guards": [...]}`, each with `tripped` (null while armed).
#[utoipa::path(get, path = "/api/v1/guards", tag = "guards",
    responses((status = 200, description = "{guards}", body = Object), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn api_guards(ctx: Ctx) -> Result<Json<Value>, ApiError> {
    let guards = ctx.store.guards().await?;
    Ok(Json(
        json!({"guards": guards.iter().map(guard_json).collect::<Vec<_>>()}),
    ))
}

/// `POST /api/v1/guards` with a [`GuardForm`] (`{"max_error_rate": "5%", "window": "60s"}`):
/// 201 `{"id", "guard"}`.
#[utoipa::path(post, path = "/api/v1/guards", tag = "guards", request_body = GuardForm,
    responses((status = 201, description = "{id, guard}", body = Object), (status = 400, description = "Malformed JSON or unknown field", body = ErrorBody), (status = 422, description = "An invalid guard (the CLI's message)", body = ErrorBody), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn api_set_guard(
    ctx: Ctx,
    form: Result<Json<GuardForm>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(form) = form.map_err(|err| super::api::rejected(&err))?;
    let id = set_guard(&ctx, form).await?;
    let guard = ctx.store.guards().await?.into_iter().find(|g| g.id == id);
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "guard": guard.as_ref().map(guard_json)})),
    )
        .into_response())
}

/// `DELETE /api/v1/guards/{id}`: `{"removed": 1}`; 404 for an unknown id.
#[utoipa::path(delete, path = "/api/v1/guards/{id}", tag = "guards",
    responses((status = 200, description = "{removed: 1}", body = Object), (status = 404, description = "No such guard", body = ErrorBody), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn api_clear_guard(
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_guard_id(&id)?;
    let removed = ctx.store.clear_guards(Some(id)).await?;
    Ok(Json(json!({"removed": removed})))
}

/// `POST /api/v1/guards/reset`: re-arms tripped guards; `{"reset": N}`.
#[utoipa::path(post, path = "/api/v1/guards/reset", tag = "guards",
    responses((status = 200, description = "{reset: N}", body = Object), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn api_reset_guards(ctx: Ctx) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"reset": ctx.store.reset_guards().await?})))
}

async fn set_guard(ctx: &Ctx, form: GuardForm) -> Result<i64, ApiError> {
    let spec = form.into_spec()?;
    Ok(ctx.store.set_guard(&spec).await?)
}

fn after(ctx: &Ctx, notice: &str) -> Response {
    Redirect::to(&format!("{}/guards?notice={notice}", ctx.base)).into_response()
}

/// `GET /guards`.
pub(super) async fn page_guards(ctx: Ctx, RawQuery(query): RawQuery) -> Response {
    let notice = super::pages::query_notice(query.as_deref());
    let message = match notice.as_deref() {
        Some("set") => {
            Some("Guard set: it measures the app's own responses while chaos is active.")
        }
        Some("removed") => Some("Guard removed."),
        Some("reset") => Some("Guards re-armed: chaos resumes on every instance."),
        _ => None,
    };
    render(&ctx, message, None).await
}

async fn render(ctx: &Ctx, message: Option<&str>, error: Option<&ApiError>) -> Response {
    let guards = match ctx.store.guards().await {
        Ok(guards) => guards,
        Err(err) => return error_page(ctx, &ApiError::from(err)),
    };
    let base = &ctx.base;
    let body = html! {
        @if let Some(text) = message { p.notice role="status" { (text) } }
        @if let Some(err) = error { p.error role="alert" { (err.message()) } }
        p { "A guard stops all chaos on every instance when the app's own responses (not the injected ones) get worse than its limit, until someone resets it." }
        @if guards.is_empty() {
            p { "No guards: chaos does not stop by itself." }
        } @else {
            table {
                thead { tr { th { "Guard" } th { "State" } th {} } }
                tbody {
                    @for guard in &guards {
                        tr {
                            td { (guard.describe()) }
                            td {
                                @match &guard.tripped {
                                    Some(trip) => strong.tripped { "tripped: " (trip.detail) " (instance " (trip.by) ")" },
                                    None => "armed",
                                }
                            }
                            td {
                                form method="post" action={ (base) "/guards/" (guard.id) "/delete" } {
                                    button type="submit" { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
            @if guards.iter().any(|g| g.tripped.is_some()) {
                form method="post" action={ (base) "/guards/reset" } {
                    button type="submit" { "Reset: re-arm and resume chaos" }
                }
            }
        }
        h2 { "Set a guard" }
        form method="post" action={ (base) "/guards" } {
            p { label { "Max error rate " input name="max_error_rate" placeholder="5%"; } }
            p { label { "Max p99 " input name="max_p99" placeholder="2s"; } }
            p { label { "Window " input name="window" value="60s"; } }
            p { label { "View (empty: every view) " input name="view"; } }
            p { label { "Min responses " input name="min_requests" value="20" inputmode="numeric"; } }
            p { button type="submit" { "Set guard" } }
        }
    };
    let status = error.map_or(StatusCode::OK, ApiError::status);
    html_response(status, page(ctx, "Guards", body))
}

/// `POST /guards` (form).
pub(super) async fn page_set_guard(ctx: Ctx, body: Bytes) -> Response {
    let mut form = GuardForm::default();
    let mut bad = None;
    for (key, value) in form_pairs(&body) {
        match key.as_str() {
            "max_error_rate" => form.max_error_rate = Some(value),
            "max_p99" => form.max_p99 = Some(value),
            "window" => form.window = Some(value),
            "view" => form.view = Some(value),
            "min_requests" if value.trim().is_empty() => {}
            "min_requests" => match value.trim().parse() {
                Ok(n) => form.min_requests = Some(n),
                Err(_) => {
                    bad = Some(format!(
                        "min responses '{value}' is not a number: allowed is 1 to 1000000"
                    ));
                }
            },
            _ => {}
        }
    }
    let result = match bad {
        Some(message) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)),
        None => set_guard(&ctx, form).await,
    };
    match result {
        Ok(_) => after(&ctx, "set"),
        Err(err) => render(&ctx, None, Some(&err)).await,
    }
}

/// `POST /guards/{id}/delete`.
pub(super) async fn page_clear_guard(ctx: Ctx, Path(id): Path<String>) -> Response {
    let result =
        async { Ok::<_, ApiError>(ctx.store.clear_guards(Some(parse_guard_id(&id)?)).await?) }
            .await;
    match result {
        Ok(_) => after(&ctx, "removed"),
        Err(err) => render(&ctx, None, Some(&err)).await,
    }
}

/// `POST /guards/reset`.
pub(super) async fn page_reset_guards(ctx: Ctx) -> Response {
    match ctx.store.reset_guards().await {
        Ok(_) => after(&ctx, "reset"),
        Err(err) => render(&ctx, None, Some(&ApiError::from(err))).await,
    }
}
