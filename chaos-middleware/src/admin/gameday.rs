//! Game days in the admin: start and end storms, start an exercise, give its hints,
//! reveal it and end it — as a page with plain forms and as `/api/v1/storm` and
//! `/api/v1/exercise`. The rules are the CLI's ([`StormForm`], [`ExerciseForm`]); an
//! exercise's faults stay hidden until it is revealed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::{Value, json};

use super::api::bad_request;
use super::pages::{comma_list, error_page, form_pairs, html_response, page};
use super::{ApiError, Ctx, ErrorBody};
use crate::action::describe::{action_json, detail, timestamp};
use crate::action::{Action, Naming, now_ms};
use crate::gameday::generate::{self, fault_kind};
use crate::gameday::{
    ExerciseForm, HINTS, StormForm, default_views, describe_target, hint_text, unserved_views,
};
use crate::store::{Exercise, ExerciseStart, STORM_TAG, Selection};

/// Starts a storm; returns its seed, expiry and action ids.
async fn start_storm(ctx: &Ctx, form: &StormForm) -> Result<Value, ApiError> {
    let plan = form.build(Naming::Fields, now_ms())?;
    let views = if plan.views.is_empty() {
        default_views(&ctx.store).await?
    } else {
        plan.views
    };
    let specs = generate::storm(&views, &plan.options);
    let ids = ctx.store.create_many(&specs).await?;
    Ok(json!({
        "seed": plan.options.seed.to_string(),
        "expires_at": timestamp(plan.options.expires_at),
        "expires_at_ms": plan.options.expires_at,
        "views": views,
        "ids": ids,
    }))
}

async fn end_storm(ctx: &Ctx) -> Result<u64, ApiError> {
    Ok(ctx
        .store
        .delete(&Selection::Tag(STORM_TAG.to_owned()))
        .await?)
}

/// The running exercise, or 409 saying there is none.
async fn running(ctx: &Ctx) -> Result<Exercise, ApiError> {
    match ctx.store.current_exercise().await? {
        Some(exercise) if exercise.is_running_at(now_ms()) => Ok(exercise),
        _ => Err(ApiError::new(
            StatusCode::CONFLICT,
            "no exercise is running: start one first",
        )),
    }
}

/// The latest exercise not ended, running or expired (ending an expired one closes it).
async fn not_ended(ctx: &Ctx) -> Result<Exercise, ApiError> {
    ctx.store
        .current_exercise()
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "no exercise to end: none is running"))
}

async fn exercise_faults(ctx: &Ctx, exercise: &Exercise) -> Result<Vec<Action>, ApiError> {
    Ok(ctx
        .store
        .list()
        .await?
        .actions
        .into_iter()
        .filter(|a| exercise.action_ids.contains(&a.id))
        .collect())
}

async fn start_exercise(ctx: &Ctx, form: &ExerciseForm) -> Result<Exercise, ApiError> {
    let plan = form.build(Naming::Fields, now_ms())?;
    let views = if plan.views.is_empty() {
        default_views(&ctx.store).await?
    } else {
        // The CLI's rule: the players must be able to see the fault.
        let unserved = unserved_views(&ctx.store, &plan.views).await;
        if !unserved.is_empty() && !form.force {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "no live app instance serves the view {}: the players would hunt for a fault nobody can see; fix the name (see Instances) or set force",
                    unserved.join(", ")
                ),
            ));
        }
        plan.views
    };
    let specs = generate::exercise(&views, &plan.points, &plan.options);
    match ctx
        .store
        .start_exercise(&specs, plan.options.seed, plan.options.expires_at)
        .await?
    {
        ExerciseStart::Started { exercise, .. } => Ok(exercise),
        ExerciseStart::AlreadyRunning(running) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "exercise {} is already running (ends {}): one exercise at a time, end it first",
                running.id,
                timestamp(running.expires_at)
            ),
        )),
    }
}

async fn next_hint(ctx: &Ctx) -> Result<String, ApiError> {
    let exercise = running(ctx).await?;
    if exercise.hints_given >= HINTS {
        return Ok(hint_text(HINTS + 1, &[]));
    }
    let faults = exercise_faults(ctx, &exercise).await?;
    let given = ctx.store.record_exercise_hint(exercise.id).await?;
    Ok(hint_text(given, &faults))
}

/// An exercise as JSON: its state, never its faults before the reveal.
/// Every hint given so far (hints are deterministic: the faults decide them).
fn hints_so_far(actions: &[Action], exercise: &Exercise) -> String {
    let faults: Vec<Action> = actions
        .iter()
        .filter(|a| exercise.action_ids.contains(&a.id))
        .cloned()
        .collect();
    (1..=exercise.hints_given.min(HINTS))
        .map(|n| hint_text(n, &faults))
        .collect()
}

fn exercise_json(exercise: &Exercise, faults: Option<&[Action]>) -> Value {
    let now = now_ms();
    let mut value = json!({
        "id": exercise.id,
        "running": exercise.is_running_at(now),
        "started_at": timestamp(exercise.started_at),
        "expires_at": timestamp(exercise.expires_at),
        "hints_given": exercise.hints_given,
        "revealed": exercise.revealed_at.is_some(),
        "faults": exercise.action_ids.len(),
    });
    if let (Some(faults), Value::Object(map)) = (faults, &mut value) {
        map.insert("seed".to_owned(), Value::from(exercise.seed.to_string()));
        map.insert(
            "actions".to_owned(),
            faults
                .iter()
                .filter_map(|a| action_json(a, now).ok())
                .collect(),
        );
    }
    value
}

// ---- JSON API ----

/// `POST /api/v1/storm` with a [`StormForm`]: 201 `{"seed", "expires_at", "views", "ids"}`.
#[utoipa::path(post, path = "/api/v1/storm", tag = "game day", request_body = StormForm,
    responses((status = 201, description = "{seed, expires_at, views, ids}", body = Object), (status = 400, description = "Malformed request", body = ErrorBody), (status = 422, description = "An invalid storm (the CLI's message)", body = ErrorBody), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn api_start_storm(
    ctx: Ctx,
    body: Result<Json<StormForm>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(form) = body.map_err(|err| super::api::rejected(&err))?;
    let started = start_storm(&ctx, &form).await?;
    Ok((StatusCode::CREATED, Json(started)).into_response())
}

/// `DELETE /api/v1/storm`: removes every storm action; `{"removed": N}`.
#[utoipa::path(delete, path = "/api/v1/storm", tag = "game day",
    responses((status = 200, description = "{removed: N}", body = Object), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn api_end_storm(ctx: Ctx) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"removed": end_storm(&ctx).await?})))
}

/// `GET /api/v1/exercise`: the latest exercise not ended (null when none); its faults
/// only once revealed.
#[utoipa::path(get, path = "/api/v1/exercise", tag = "game day",
    responses((status = 200, description = "{exercise} (null when none; faults only once revealed)", body = Object), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn api_exercise(ctx: Ctx) -> Result<Json<Value>, ApiError> {
    let Some(exercise) = ctx.store.current_exercise().await? else {
        return Ok(Json(json!({"exercise": null})));
    };
    let faults = if exercise.revealed_at.is_some() {
        Some(exercise_faults(&ctx, &exercise).await?)
    } else {
        None
    };
    Ok(Json(
        json!({"exercise": exercise_json(&exercise, faults.as_deref())}),
    ))
}

/// `POST /api/v1/exercise` with an [`ExerciseForm`]: 201 `{"exercise"}`; 409 when one runs.
#[utoipa::path(post, path = "/api/v1/exercise", tag = "game day", request_body = ExerciseForm,
    responses((status = 201, description = "{exercise}", body = Object), (status = 400, description = "Malformed request", body = ErrorBody), (status = 409, description = "An exercise is running", body = ErrorBody), (status = 422, description = "An invalid exercise", body = ErrorBody), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn api_start_exercise(
    ctx: Ctx,
    body: Result<Json<ExerciseForm>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(form) = body.map_err(|err| super::api::rejected(&err))?;
    let exercise = start_exercise(&ctx, &form).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"exercise": exercise_json(&exercise, None)})),
    )
        .into_response())
}

/// `POST /api/v1/exercise/hint`: `{"hint": "..."}`.
#[utoipa::path(post, path = "/api/v1/exercise/hint", tag = "game day",
    responses((status = 200, description = "{hint}", body = Object), (status = 409, description = "No exercise is running", body = ErrorBody), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn api_hint(ctx: Ctx) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"hint": next_hint(&ctx).await?})))
}

/// `POST /api/v1/exercise/reveal`: the exercise with its faults.
#[utoipa::path(post, path = "/api/v1/exercise/reveal", tag = "game day",
    responses((status = 200, description = "{exercise} with its faults", body = Object), (status = 409, description = "No exercise is running", body = ErrorBody), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn api_reveal(ctx: Ctx) -> Result<Json<Value>, ApiError> {
    let exercise = running(&ctx).await?;
    ctx.store.reveal_exercise(exercise.id).await?;
    let exercise = ctx.store.exercise(exercise.id).await?.unwrap_or(exercise);
    let faults = exercise_faults(&ctx, &exercise).await?;
    Ok(Json(
        json!({"exercise": exercise_json(&exercise, Some(&faults))}),
    ))
}

/// `POST /api/v1/exercise/end`: removes its faults; `{"removed": N}`.
#[utoipa::path(post, path = "/api/v1/exercise/end", tag = "game day",
    responses((status = 200, description = "{removed: N}", body = Object), (status = 409, description = "No exercise is running", body = ErrorBody), (status = 401, description = "No operator (embedded) or no valid token (serve)", body = ErrorBody), (status = 503, description = "The store is unreachable", body = ErrorBody)))]
pub(super) async fn api_end_exercise(ctx: Ctx) -> Result<Json<Value>, ApiError> {
    let exercise = not_ended(&ctx).await?;
    let removed = ctx.store.end_exercise(exercise.id).await?;
    Ok(Json(json!({"removed": removed})))
}

// ---- Page ----

/// Splits a comma-separated form field into names.
fn storm_form(pairs: &[(String, String)]) -> Result<StormForm, ApiError> {
    let mut form = StormForm::default();
    for (key, value) in pairs {
        let text = Some(value.clone()).filter(|v| !v.trim().is_empty());
        match key.as_str() {
            "users" => form.users = comma_list(value),
            "groups" => form.groups = comma_list(value),
            "views" => form.views.push(value.clone()),
            "probability" => form.probability = text,
            "for" => form.for_duration = text,
            "intensity" => form.intensity = text,
            "start_at" => form.start_at = text,
            "between" => form.between.extend(comma_list(value)),
            "days" => form.days = text,
            "tz" => form.tz = text,
            "seed" if !value.trim().is_empty() => {
                form.seed = Some(value.trim().parse().map_err(|_| {
                    bad_request(format!(
                        "invalid seed '{value}': allowed are whole numbers 0-18446744073709551615"
                    ))
                })?);
            }
            "seed" => {}
            other => return Err(bad_request(format!("unknown field '{other}'"))),
        }
    }
    Ok(form)
}

fn exercise_form(pairs: &[(String, String)]) -> Result<ExerciseForm, ApiError> {
    let mut form = ExerciseForm::default();
    for (key, value) in pairs {
        let text = Some(value.clone()).filter(|v| !v.trim().is_empty());
        match key.as_str() {
            "views" => form.views.push(value.clone()),
            "points" => form.points = comma_list(value),
            "probability" => form.probability = text,
            "for" => form.for_duration = text,
            "faults" if !value.trim().is_empty() => {
                form.faults = Some(value.trim().parse().map_err(|_| {
                    bad_request(format!("invalid faults '{value}': allowed are 1 to 20"))
                })?);
            }
            "seed" if !value.trim().is_empty() => {
                form.seed = Some(value.trim().parse().map_err(|_| {
                    bad_request(format!("invalid seed '{value}': allowed are whole numbers"))
                })?);
            }
            "force" => form.force = value == "on",
            "start_at" => form.start_at = text,
            "between" => form.between.extend(comma_list(value)),
            "days" => form.days = text,
            "tz" => form.tz = text,
            "faults" | "seed" => {}
            other => return Err(bad_request(format!("unknown field '{other}'"))),
        }
    }
    Ok(form)
}

/// `GET /gameday`: storms and the exercise, with their forms; after a change (a redirect,
/// so that reloading does not repeat it) a fixed notice.
pub(super) async fn page_gameday(ctx: Ctx, RawQuery(query): RawQuery) -> Response {
    let mut notice = None;
    let mut n = 0u64;
    let mut seed = None;
    for (key, value) in form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "notice" => notice = Some(value.into_owned()),
            "n" => n = value.parse().unwrap_or(0),
            "seed" => seed = value.parse::<u64>().ok(),
            _ => {}
        }
    }
    let plural = |one: &str, many: &str| {
        if n == 1 {
            one.to_owned()
        } else {
            many.to_owned()
        }
    };
    let message = match notice.as_deref() {
        Some("storm-started") => Some(format!(
            "Storm started: {n} {} (seed {}).",
            plural("action", "actions"),
            seed.map_or_else(|| "?".to_owned(), |s| s.to_string())
        )),
        Some("storm-ended") => Some(format!(
            "Storm ended: removed {n} {}.",
            plural("action", "actions")
        )),
        Some("exercise-started") => Some(format!(
            "Exercise started: {n} hidden {} for everyone.",
            plural("fault", "faults")
        )),
        Some("hint") => Some("Hint given (below).".to_owned()),
        Some("revealed") => Some("The faults are revealed below.".to_owned()),
        Some("exercise-ended") => Some(format!(
            "Exercise ended: removed {n} {}.",
            plural("fault", "faults")
        )),
        _ => None,
    };
    render(&ctx, message, None).await
}

fn after(ctx: &Ctx, query: &str) -> Response {
    axum::response::Redirect::to(&format!("{}/gameday?{query}", ctx.base)).into_response()
}

async fn render(ctx: &Ctx, message: Option<String>, error: Option<&ApiError>) -> Response {
    let data = async {
        let listing = ctx.store.list().await?;
        let exercise = ctx.store.current_exercise().await?;
        let views = default_views(&ctx.store).await?;
        Ok::<_, crate::StoreError>((listing, exercise, views))
    }
    .await;
    let (listing, exercise, views) = match data {
        Ok(data) => data,
        Err(err) => return error_page(ctx, &ApiError::from(err)),
    };
    let now = now_ms();
    let storm: Vec<&Action> = listing
        .actions
        .iter()
        .filter(|a| {
            a.spec.tag.as_deref() == Some(STORM_TAG) && a.spec.enabled && !a.is_expired_at(now)
        })
        .collect();
    let base = &ctx.base;
    let running = exercise.as_ref().filter(|e| e.is_running_at(now));
    let revealed: Vec<&Action> = match running {
        Some(e) if e.revealed_at.is_some() => listing
            .actions
            .iter()
            .filter(|a| e.action_ids.contains(&a.id))
            .collect(),
        _ => Vec::new(),
    };
    let body = html! {
        @if let Some(text) = &message { p.notice role="status" { (text) } }
        @if let Some(err) = error { p.error role="alert" { (err.message()) } }
        h2 { "Storm" }
        @if storm.is_empty() {
            p { "No storm is raging." }
        } @else {
            p { strong { (storm.len()) " storm actions" } " active, until "
                (timestamp(storm.iter().filter_map(|a| a.spec.expires_at).max().unwrap_or(now))) "." }
            form method="post" action={ (base) "/storm/end" } {
                button.danger type="submit" { "End the storm" }
            }
        }
        form.create method="post" action={ (base) "/storm" } {
            fieldset {
                legend { "Start a storm (random failures for chosen users only)" }
                label { "Users (comma-separated) " input name="users" placeholder="alice, bob"; }
                label { "Groups " input name="groups" placeholder="beta"; }
                fieldset.views {
                    legend { "Views (none ticked: all)" }
                    @for view in &views {
                        label.check { input type="checkbox" name="views" value=(view); " " (view) }
                    }
                }
                label { "Intensity "
                    select name="intensity" {
                        option value="low" { "low" }
                        option value="medium" selected { "medium" }
                        option value="high" { "high" }
                    }
                }
                label { "Probability " input name="probability" placeholder="3%"; }
                label { "Duration " input name="for" placeholder="15m"; }
                (super::pages::timing_inputs(&None, &[], &None, &None))
                label { "Seed (to replay a storm) " input name="seed" inputmode="numeric"; }
                button type="submit" { "Start the storm" }
            }
        }
        h2 { "Exercise" }
        @match running {
            Some(e) => {
                p { "Exercise " (e.id) " is running until " (timestamp(e.expires_at)) ": "
                    (e.action_ids.len()) @if e.action_ids.len() == 1 { " hidden fault" } @else { " hidden faults" } "; hints given " (e.hints_given) " of " (HINTS) "."
                    @if e.revealed_at.is_some() { " Revealed." } }
                div.actions-row {
                    form method="post" action={ (base) "/exercise/hint" } { button type="submit" { "Give a hint" } }
                    @if e.revealed_at.is_none() {
                        form method="post" action={ (base) "/exercise/reveal" } { button type="submit" { "Reveal the faults" } }
                    }
                    form method="post" action={ (base) "/exercise/end" } { button.danger type="submit" { "End the exercise" } }
                }
                @if e.hints_given > 0 {
                    pre.notice { (hints_so_far(&listing.actions, e)) }
                }
                @if !revealed.is_empty() {
                    table {
                        thead { tr { th { "id" } th { "where" } th { "fault" } th { "detail" } } }
                        tbody {
                            @for action in &revealed {
                                tr { td { (action.id) } td { (describe_target(action)) } td { (fault_kind(&action.spec.fault)) } td { (detail(&action.spec.fault, Some(30))) } }
                            }
                        }
                    }
                }
            }
            None => {
                p { "No exercise is running." }
                form.create method="post" action={ (base) "/exercise" } {
                    fieldset {
                        legend { "Start an exercise (hidden faults for everyone)" }
                        fieldset.views {
                            legend { "Views (none ticked: all)" }
                            @for view in &views {
                                label.check { input type="checkbox" name="views" value=(view); " " (view) }
                            }
                        }
                        label { "Fault points (comma-separated) " input name="points" placeholder="db.items"; }
                        label { "Faults " input name="faults" value="1" inputmode="numeric"; }
                        label { "Duration " input name="for" placeholder="1h"; }
                        (super::pages::timing_inputs(&None, &[], &None, &None))
                        label { "Probability (default: drawn per fault) " input name="probability"; }
                        label { "Seed " input name="seed" inputmode="numeric"; }
                        button type="submit" { "Start the exercise" }
                    }
                }
            }
        }
    };
    let status = error.map_or(StatusCode::OK, ApiError::status);
    html_response(status, page(ctx, "Game day", body))
}

/// `POST /storm` (form).
pub(super) async fn page_start_storm(ctx: Ctx, body: Bytes) -> Response {
    let result = match storm_form(&form_pairs(&body)) {
        Ok(form) => start_storm(&ctx, &form).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(started) => {
            let count = started["ids"].as_array().map_or(0, Vec::len);
            let seed = started["seed"].as_str().unwrap_or("").to_owned();
            after(&ctx, &format!("notice=storm-started&n={count}&seed={seed}"))
        }
        Err(err) => render(&ctx, None, Some(&err)).await,
    }
}

/// `POST /storm/end`.
pub(super) async fn page_end_storm(ctx: Ctx) -> Response {
    match end_storm(&ctx).await {
        Ok(n) => after(&ctx, &format!("notice=storm-ended&n={n}")),
        Err(err) => render(&ctx, None, Some(&err)).await,
    }
}

/// `POST /exercise` (form).
pub(super) async fn page_start_exercise(ctx: Ctx, body: Bytes) -> Response {
    let result = match exercise_form(&form_pairs(&body)) {
        Ok(form) => start_exercise(&ctx, &form).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(exercise) => after(
            &ctx,
            &format!("notice=exercise-started&n={}", exercise.action_ids.len()),
        ),
        Err(err) => render(&ctx, None, Some(&err)).await,
    }
}

/// `POST /exercise/hint|reveal|end`.
pub(super) async fn page_exercise_op(
    ctx: Ctx,
    axum::extract::Path(op): axum::extract::Path<String>,
) -> Response {
    let result = match op.as_str() {
        "hint" => next_hint(&ctx).await.map(|_| "notice=hint".to_owned()),
        "reveal" => match running(&ctx).await {
            Ok(e) => ctx
                .store
                .reveal_exercise(e.id)
                .await
                .map(|()| "notice=revealed".to_owned())
                .map_err(ApiError::from),
            Err(err) => Err(err),
        },
        "end" => match not_ended(&ctx).await {
            Ok(e) => ctx
                .store
                .end_exercise(e.id)
                .await
                .map(|n| format!("notice=exercise-ended&n={n}"))
                .map_err(ApiError::from),
            Err(err) => Err(err),
        },
        other => {
            return error_page(
                &ctx,
                &ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("unknown operation '{other}': allowed are hint, reveal, end"),
                ),
            );
        }
    };
    match result {
        Ok(query) => after(&ctx, &query),
        Err(err) => render(&ctx, None, Some(&err)).await,
    }
}
