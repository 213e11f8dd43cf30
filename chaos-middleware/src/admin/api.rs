//! The JSON API, `/api/v1`: the admin's operations for scripts. Actions have the shape of
//! `chaos-admin list --json` (times in RFC 3339 plus `_ms`, a computed `state`); actions
//! an exercise hides are `{"id", "state", "hidden": true, "tag"}`; errors are
//! `{"error": "...", "status": N}` with 400 (malformed request), 401 (no operator), 403
//! (cross-site), 404 (no such action), 422 (an invalid action, with the CLI's message),
//! 503 (the store is unreachable).

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::select::{ActionFilter, Row};
use super::{ApiError, Ctx, ErrorBody};
use crate::action::describe::{action_json, action_json_fired, broken_json, hidden_json};
use crate::action::{ActionForm, Naming, now_ms};
use crate::store::{AuditEntry, Fired, Listing, Selection, fired_counts, last_changes};

/// What the action views need, read together: the listing, the ids a running exercise
/// hides, and how often each action fired on the live instances.
pub(super) struct Read {
    pub(super) listing: Listing,
    pub(super) hidden: Vec<i64>,
    pub(super) fired: HashMap<i64, Fired>,
    /// Who changed each action last (from the newest 1,000 audit entries).
    pub(super) changed: HashMap<i64, (i64, Option<String>)>,
}

pub(super) async fn read(ctx: &Ctx) -> Result<Read, ApiError> {
    let listing = ctx.store.list().await?;
    let hidden = ctx.store.hidden_action_ids().await?;
    let fired = fired_counts(&ctx.store.instances().await?, now_ms());
    let changed = last_changes(&ctx.store.audit(1000).await?);
    Ok(Read {
        listing,
        hidden,
        fired,
        changed,
    })
}

pub(super) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// A body axum could not read, with the status it chose (400, 413 too large, 415 not JSON,
/// 422 wrong shape).
pub(super) fn rejected(err: &JsonRejection) -> ApiError {
    let status = match err.status() {
        status @ (StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE) => status,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, err.body_text())
}

/// A row as JSON; a visible action also says how often it `fired` on the live instances
/// (`{"total", "recent"}`).
fn row_json(row: &Row<'_>, now: i64, fired: &HashMap<i64, Fired>) -> Value {
    match row {
        Row::Action(action) => {
            action_json_fired(action, now, fired.get(&action.id).copied()).unwrap_or(Value::Null)
        }
        Row::Hidden(action) => hidden_json(action, now),
        Row::Broken(corrupt) => broken_json(corrupt),
    }
}

/// `GET /api/v1/actions?...`: `{"actions": [...], "total", "page", "per_page", "pages"}`.
#[utoipa::path(get, path = "/api/v1/actions", tag = "actions",
    params(
        ("state" = Option<String>, Query, description = "active (or enabled), disabled, expired, hidden, broken"),
        ("kind" = Option<String>, Query, description = "response or point"),
        ("verb" = Option<String>, Query, description = "slow, return, abort, panic, error"),
        ("view" = Option<String>, Query, description = "view or point name, exactly"),
        ("tag" = Option<String>, Query), ("user" = Option<String>, Query), ("group" = Option<String>, Query),
        ("q" = Option<String>, Query, description = "free text"),
        ("page" = Option<u32>, Query, description = "1-based"),
        ("per_page" = Option<u32>, Query, description = "at most 500"),
    ),
    responses((status = 200, description = "One page of actions", body = Object), (status = 400, description = "An invalid filter", body = ErrorBody), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn list_actions(
    ctx: Ctx,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let filter =
        ActionFilter::from_query(query.as_deref().unwrap_or(""), true).map_err(bad_request)?;
    let read = read(&ctx).await?;
    let now = now_ms();
    let page = filter.select(&read.listing, &read.hidden, now);
    Ok(Json(json!({
        "actions": page.rows.iter().map(|row| row_json(row, now, &read.fired)).collect::<Vec<_>>(),
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
        "pages": page.pages(),
    })))
}

/// `POST /api/v1/actions` with an [`ActionForm`] as JSON (`{"verb": "slow", "target":
/// "items", "min": "200ms", "max": "1s", "probability": "50%"}`): 201 `{"id", "action"}`.
#[utoipa::path(post, path = "/api/v1/actions", tag = "actions", request_body = ActionForm,
    responses((status = 201, description = "Created: {id, action}", body = Object), (status = 400, description = "Malformed JSON or unknown field", body = ErrorBody), (status = 422, description = "An invalid action (the CLI's message)", body = ErrorBody), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn create_action(
    ctx: Ctx,
    form: Result<Json<ActionForm>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(form) = form.map_err(|err| rejected(&err))?;
    let spec = form.build(Naming::Fields, now_ms())?;
    let id = ctx.store.create(&spec).await?;
    let action = ctx.store.get(id).await?;
    let action = action
        .as_ref()
        .and_then(|a| action_json(a, now_ms()).ok())
        .unwrap_or(Value::Null);
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "action": action})),
    )
        .into_response())
}

fn parse_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no action '{text}': action ids are whole numbers"),
        )
    })
}

fn not_found(id: i64) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no action with id {id}"))
}

/// `GET /api/v1/actions/{id}`.
#[utoipa::path(get, path = "/api/v1/actions/{id}", tag = "actions", params(("id" = i64, Path, description = "action id")),
    responses((status = 200, description = "The action", body = Object), (status = 404, description = "No such action", body = ErrorBody), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn get_action(ctx: Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let read = read(&ctx).await?;
    let now = now_ms();
    if let Some(action) = read.listing.actions.iter().find(|a| a.id == id) {
        let row = if read.hidden.contains(&id) {
            Row::Hidden(action)
        } else {
            Row::Action(action)
        };
        return Ok(Json(row_json(&row, now, &read.fired)));
    }
    match read.listing.corrupt.iter().find(|c| c.id == Some(id)) {
        Some(corrupt) => Ok(Json(broken_json(corrupt))),
        None => Err(not_found(id)),
    }
}

/// `DELETE /api/v1/actions/{id}`: `{"deleted": 1}`.
#[utoipa::path(delete, path = "/api/v1/actions/{id}", tag = "actions", params(("id" = i64, Path, description = "action id")),
    responses((status = 200, description = "{deleted: 1}", body = Object), (status = 404, description = "No such action", body = ErrorBody), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn delete_action(
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let deleted = ctx.store.delete(&Selection::Ids(vec![id])).await?;
    Ok(Json(json!({"deleted": deleted})))
}

/// The most ids one bulk operation takes.
pub(super) const MAX_BULK_IDS: usize = 1000;

/// The operations on one or several actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum Op {
    Enable,
    Disable,
    Delete,
}

impl Op {
    pub(super) fn parse(text: &str) -> Result<Op, ApiError> {
        match text {
            "enable" => Ok(Op::Enable),
            "disable" => Ok(Op::Disable),
            "delete" => Ok(Op::Delete),
            other => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("unknown operation '{other}': allowed are enable, disable, delete"),
            )),
        }
    }

    /// Applies the operation; returns how many actions changed.
    pub(super) async fn apply(self, ctx: &Ctx, mut ids: Vec<i64>) -> Result<u64, ApiError> {
        if ids.is_empty() {
            return Err(bad_request("no action selected: give at least one id"));
        }
        ids.sort_unstable();
        ids.dedup();
        if ids.len() > MAX_BULK_IDS {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "{} actions selected: allowed are at most {MAX_BULK_IDS} at once (select by tag or view with the CLI for more)",
                    ids.len()
                ),
            ));
        }
        let selection = Selection::Ids(ids);
        Ok(match self {
            Op::Enable => ctx.store.set_enabled(&selection, true).await?,
            Op::Disable => ctx.store.set_enabled(&selection, false).await?,
            Op::Delete => ctx.store.delete(&selection).await?,
        })
    }
}

/// `POST /api/v1/actions/{id}/enable|disable`: `{"changed": 0|1}`.
#[utoipa::path(post, path = "/api/v1/actions/{id}/{op}", tag = "actions",
    params(("id" = i64, Path, description = "action id"), ("op" = String, Path, description = "enable or disable")),
    responses((status = 200, description = "{changed: 0 or 1}", body = Object), (status = 404, description = "No such action or operation", body = ErrorBody), (status = 422, description = "Refused (an expired storm or exercise action)", body = ErrorBody), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn toggle_action(
    ctx: Ctx,
    Path((id, op)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let op = match Op::parse(&op)? {
        Op::Delete => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown operation 'delete' here: use DELETE /api/v1/actions/{id}",
            ));
        }
        op => op,
    };
    let changed = op.apply(&ctx, vec![id]).await?;
    Ok(Json(json!({"changed": changed})))
}

/// The body of `POST /api/v1/actions/bulk`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Bulk {
    ids: Vec<i64>,
    op: Op,
}

/// `POST /api/v1/actions/bulk` `{"ids": [1, 2], "op": "disable"}`: `{"changed": N}`; an
/// unknown id changes nothing (404).
#[utoipa::path(post, path = "/api/v1/actions/bulk", tag = "actions", request_body = Bulk,
    responses((status = 200, description = "{changed: N}", body = Object), (status = 400, description = "Malformed request", body = ErrorBody), (status = 404, description = "An unknown id (nothing changed)", body = ErrorBody), (status = 422, description = "More than 1,000 ids", body = ErrorBody), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn bulk(
    ctx: Ctx,
    body: Result<Json<Bulk>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(bulk) = body.map_err(|err| rejected(&err))?;
    let changed = bulk.op.apply(&ctx, bulk.ids).await?;
    Ok(Json(json!({"changed": changed})))
}

/// `POST /api/v1/kill-switch`: disables every action; `{"disabled": N}`.
#[utoipa::path(post, path = "/api/v1/kill-switch", tag = "actions",
    responses((status = 200, description = "{disabled: N}", body = Object), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn kill_switch(ctx: Ctx) -> Result<Json<Value>, ApiError> {
    let disabled = ctx
        .store
        .set_enabled(&Selection::All { kind: None }, false)
        .await?;
    Ok(Json(json!({"disabled": disabled})))
}

/// `GET /api/v1/views`: `{"views": [...]}`, the views the app instances registered.
#[utoipa::path(get, path = "/api/v1/views", tag = "instances",
    responses((status = 200, description = "{views: [{name, pattern, methods, instance}]}", body = Object), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn views(ctx: Ctx) -> Result<Json<Value>, ApiError> {
    let views = ctx.store.registered_views().await?;
    Ok(Json(json!({"views": views})))
}

/// `GET /api/v1/instances`: the app instances, each with the generation it applies and
/// whether it is live; and the store's current generation.
#[utoipa::path(get, path = "/api/v1/instances", tag = "instances",
    responses((status = 200, description = "{generation, instances}", body = Object), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn instances(ctx: Ctx) -> Result<Json<Value>, ApiError> {
    let generation = ctx.store.generation().await?;
    let hidden = ctx.store.hidden_action_ids().await?;
    let now = now_ms();
    let instances: Vec<Value> = ctx
        .store
        .instances()
        .await?
        .iter()
        .map(|instance| {
            let mut value = serde_json::to_value(instance).unwrap_or(Value::Null);
            // Its fault counts as an object, without the faults an exercise hides.
            let fired: serde_json::Map<String, Value> =
                fired_counts(std::slice::from_ref(instance), instance.last_seen)
                    .into_iter()
                    .filter(|(id, _)| !hidden.contains(id))
                    .map(|(id, f)| {
                        (
                            id.to_string(),
                            json!({"total": f.total, "recent": f.recent}),
                        )
                    })
                    .collect();
            if let Value::Object(map) = &mut value {
                map.insert("live".to_owned(), Value::Bool(instance.is_live_at(now)));
                map.insert("fired".to_owned(), Value::Object(fired));
            }
            value
        })
        .collect();
    Ok(Json(
        json!({"generation": generation, "instances": instances}),
    ))
}

/// `?limit=N&actor=NAME&operation=OP&action=ID`: how many of the newest changes to read
/// (default 100, or 1000 when filtering; at most 1000), then only those by this actor, of
/// this operation (`create`, `disable`, …; a prefix matches: `exercise`), touching this
/// action. Empty values count as absent (a form sends every field).
#[derive(Debug, Default)]
pub(super) struct AuditQuery {
    pub(super) limit: Option<u32>,
    pub(super) actor: Option<String>,
    pub(super) operation: Option<String>,
    pub(super) action: Option<i64>,
}

impl AuditQuery {
    /// Parses a query string; with `strict`, an unknown parameter is an error.
    pub(super) fn from_query(query: &str, strict: bool) -> Result<AuditQuery, ApiError> {
        let mut out = AuditQuery::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.trim().to_owned();
            if value.is_empty() {
                continue;
            }
            let number = |what: &str| {
                bad_request(format!(
                    "invalid {what} '{value}': allowed are whole numbers"
                ))
            };
            match key.as_ref() {
                "limit" => out.limit = Some(value.parse().map_err(|_| number("limit"))?),
                "action" => out.action = Some(value.parse().map_err(|_| number("action"))?),
                "actor" => out.actor = Some(value),
                "operation" => out.operation = Some(value),
                other if strict => {
                    return Err(bad_request(format!(
                        "unknown parameter '{other}': allowed are limit, actor, operation, action"
                    )));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The matching entries of the newest `limit`.
    pub(super) async fn entries(&self, ctx: &Ctx) -> Result<Vec<AuditEntry>, ApiError> {
        let filtering = self.actor.is_some() || self.operation.is_some() || self.action.is_some();
        let default = if filtering { 1000 } else { 100 };
        let limit = self.limit.unwrap_or(default).clamp(1, 1000);
        let given = |t: &Option<String>| {
            t.as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        let (actor, operation) = (given(&self.actor), given(&self.operation));
        Ok(ctx
            .store
            .audit(limit)
            .await?
            .into_iter()
            .filter(|e| {
                actor
                    .as_deref()
                    .is_none_or(|a| e.actor.as_deref() == Some(a))
            })
            .filter(|e| {
                operation
                    .as_deref()
                    .is_none_or(|o| e.operation.starts_with(o))
            })
            .filter(|e| self.action.is_none_or(|id| e.ids().any(|x| x == id)))
            .collect())
    }
}

/// `GET /api/v1/audit?limit=N`: the most recent changes, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(("limit" = Option<u32>, Query, description = "the newest N changes read, 1-1000, default 100"), ("actor" = Option<String>, Query), ("operation" = Option<String>, Query, description = "a prefix: create, disable, exercise, ..."), ("action" = Option<i64>, Query, description = "changes touching this action id")),
    responses((status = 200, description = "{entries}", body = Object), (status = 400, description = "An invalid limit", body = ErrorBody), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn audit(ctx: Ctx, RawQuery(query): RawQuery) -> Result<Json<Value>, ApiError> {
    let query = AuditQuery::from_query(query.as_deref().unwrap_or(""), true)?;
    let entries = query.entries(&ctx).await?;
    Ok(Json(json!({"entries": entries})))
}
