//! The admin's pages, rendered on the server with `maud` (which escapes everything
//! interpolated). Every form is a plain HTML form that works without JavaScript; the one
//! script (`admin.js`, same origin, no inline code) only refreshes the action table every
//! 2 s so changes made elsewhere (the CLI, another operator) show up, and pauses while
//! rows are ticked.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::api::{AuditQuery, Op, Read, read};
use super::select::{ActionFilter, Page, Row};
use super::{ApiError, Ctx};
use crate::action::describe::{self, detail, expires, percent, state, timestamp, who};
use crate::action::{ActionForm, Naming, now_ms};
use crate::store::Selection;

const CSS: &str = include_str!("assets/admin.css");
const JS: &str = include_str!("assets/admin.js");

pub(super) fn page(ctx: &Ctx, title: &str, body: Markup) -> Markup {
    let base = &ctx.base;
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · chaos admin" }
                link rel="stylesheet" href={ (base) "/assets/admin.css" };
                script src={ (base) "/assets/admin.js" } defer {}
            }
            body {
                header.top {
                    a.brand href=(ctx.home()) { "chaos admin" }
                    nav {
                        a href=(ctx.home()) { "Actions" }
                        a href={ (base) "/actions/new" } { "New action" }
                        a href={ (base) "/gameday" } { "Game day" }
                        a href={ (base) "/instances" } { "Instances" }
                        a href={ (base) "/audit" } { "Audit log" }
                        a href={ (base) "/guards" } { "Guards" }
                        a href={ (base) "/notifications" } { "Notifications" }
                        a.kill href={ (base) "/kill" } { "Kill switch" }
                    }
                    span.operator { "operator: " (ctx.operator.name()) }
                }
                main {
                    @for guard in &ctx.tripped {
                        @if let Some(trip) = &guard.tripped {
                            p.error.tripped role="alert" {
                                strong { "Guard tripped: all chaos is off. " }
                                (guard.describe()) " — " (trip.detail) " (instance " (trip.by) "). "
                                a href={ (base) "/guards" } { "Reset it" } " to resume."
                            }
                        }
                    }
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

pub(super) fn html_response(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        markup.into_string(),
    )
        .into_response()
}

/// An error as a page (the same message the API and the CLI give).
pub(super) fn error_page(ctx: &Ctx, err: &ApiError) -> Response {
    html_response(
        err.status(),
        page(
            ctx,
            "Something went wrong",
            html! {
                p.error role="alert" { (err.message()) }
                p { a href=(ctx.home()) { "Back to the actions" } }
            },
        ),
    )
}

/// The query string of a filter (for links that keep it), without `page`.
fn filter_query(filter: &ActionFilter) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    let state = filter.state.map(|s| s.as_str().to_owned());
    for (key, value) in [
        ("state", state.as_ref()),
        ("kind", filter.kind.as_ref()),
        ("verb", filter.verb.as_ref()),
        ("view", filter.view.as_ref()),
        ("tag", filter.tag.as_ref()),
        ("user", filter.user.as_ref()),
        ("group", filter.group.as_ref()),
        ("q", filter.q.as_ref()),
    ] {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            query.append_pair(key, value);
        }
    }
    if let Some(per_page) = filter.per_page {
        query.append_pair("per_page", &per_page.to_string());
    }
    query.finish()
}

fn selected(current: Option<&str>, value: &str) -> bool {
    current == Some(value)
}

fn filter_form(ctx: &Ctx, filter: &ActionFilter) -> Markup {
    let state = filter.state.map(|s| s.as_str().to_owned());
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    html! {
        form.filters method="get" action=(ctx.home()) {
            label { "State "
                select name="state" {
                    option value="" { "any" }
                    @for (s, label) in [("active", "active (enabled)"), ("disabled", "disabled"), ("expired", "expired"), ("hidden", "hidden"), ("broken", "broken")] {
                        option value=(s) selected[selected(state.as_deref(), s)] { (label) }
                    }
                }
            }
            label { "Kind "
                select name="kind" {
                    option value="" { "any" }
                    @for k in ["response", "point"] {
                        option value=(k) selected[selected(filter.kind.as_deref(), k)] { (k) }
                    }
                }
            }
            label { "Verb "
                select name="verb" {
                    option value="" { "any" }
                    @for v in ["slow", "return", "abort", "panic", "error"] {
                        option value=(v) selected[selected(filter.verb.as_deref(), v)] { (v) }
                    }
                }
            }
            label { "View " input name="view" value=(text(&filter.view)) size="12"; }
            label { "Tag " input name="tag" value=(text(&filter.tag)) size="10"; }
            label { "User " input name="user" value=(text(&filter.user)) size="10"; }
            label { "Group " input name="group" value=(text(&filter.group)) size="10"; }
            label { "Search " input type="search" name="q" value=(text(&filter.q)) size="14"; }
            button type="submit" { "Filter" }
            a href=(ctx.home()) { "Clear" }
        }
    }
}

fn table(ctx: &Ctx, page_rows: &Page<'_>, filter: &ActionFilter, now: i64, read: &Read) -> Markup {
    let fired = &read.fired;
    let changed = &read.changed;
    let base = &ctx.base;
    let query = filter_query(filter);
    let link = |page: usize| {
        let sep = if query.is_empty() { "" } else { "&" };
        format!("{}?{query}{sep}page={page}", ctx.home())
    };
    html! {
        div #live data-src={ (base) "/fragment/actions?" (query) "&page=" (page_rows.page) } {
            p.count { (page_rows.total) " matching · page " (page_rows.page) " of " (page_rows.pages()) }
            table.actions {
                thead { tr {
                    th { span.visually-hidden { "select" } }
                    th { "id" } th { "state" } th { "kind" } th { "verb" } th { "view / point" }
                    th { "detail" } th { "prob." } th { "who" } th { "expires" } th { "when" } th { "fired" } th { "tag" }
                    th { "changed" } th { span.visually-hidden { "operations" } }
                } }
                tbody {
                    @if page_rows.rows.is_empty() {
                        tr { td colspan="15" .empty { "No action matches." } }
                    }
                    @for row in &page_rows.rows {
                        @match row {
                            Row::Action(action) => {
                                @let spec = &action.spec;
                                @let st = state(action, now);
                                tr class=(st) {
                                    td { input type="checkbox" name="ids" value=(action.id) aria-label={ "select action " (action.id) }; }
                                    td { (action.id) }
                                    td { span class={ "badge " (st) } { (st) } }
                                    td { (spec.kind) }
                                    td { (spec.fault.verb()) }
                                    td.target { (spec.target) @if let Some(note) = &spec.note { br; span.note { (note) } } }
                                    td { (detail(&spec.fault, Some(30))) }
                                    td { (percent(spec.probability)) }
                                    td { (audience(spec)) }
                                    td { (expires(spec.expires_at, now)) }
                                    td { (describe::when(action, now)) }
                                    td.fired { (describe::fired(fired.get(&action.id).copied())) }
                                    td { (spec.tag.as_deref().unwrap_or("")) }
                                    td.when {
                                        @match changed.get(&action.id) {
                                            Some((at, by)) => { (timestamp(*at)) " by " (by.as_deref().unwrap_or("?")) },
                                            None => { (timestamp(action.updated_at)) @if let Some(by) = &action.created_by { " by " (by) } },
                                        }
                                    }
                                    td.ops {
                                        @if spec.enabled {
                                            button type="submit" formaction={ (base) "/actions/" (action.id) "/disable" } { "Disable" }
                                        } @else {
                                            button type="submit" formaction={ (base) "/actions/" (action.id) "/enable" } { "Enable" }
                                        }
                                        button.danger type="submit" formaction={ (base) "/actions/" (action.id) "/delete" } { "Delete" }
                                    }
                                }
                            }
                            Row::Hidden(action) => {
                                @let st = state(action, now);
                                tr.hidden {
                                    td { input type="checkbox" name="ids" value=(action.id) aria-label={ "select action " (action.id) }; }
                                    td { (action.id) }
                                    td { span class={ "badge " (st) } { (st) } }
                                    td colspan="10" { em { "hidden by the running exercise until it is revealed" } }
                                    td { (action.spec.tag.as_deref().unwrap_or("")) }
                                    td {}
                                    td.ops {}
                                }
                            }
                            Row::Broken(corrupt) => {
                                tr.broken {
                                    td { @if let Some(id) = corrupt.id { input type="checkbox" name="ids" value=(id) aria-label={ "select row " (id) }; } }
                                    td { (corrupt.id.map(|i| i.to_string()).unwrap_or_else(|| "?".into())) }
                                    td { span.badge.broken { "broken" } }
                                    td colspan="12" { (corrupt.reason) }
                                }
                            }
                        }
                    }
                }
            }
            nav.pages aria-label="pages" {
                @if page_rows.page > 1 { a href=(link(page_rows.page - 1)) rel="prev" { "← previous" } }
                @if page_rows.page < page_rows.pages() { a href=(link(page_rows.page + 1)) rel="next" { "next →" } }
            }
        }
    }
}

fn audience(spec: &crate::ActionSpec) -> String {
    let mut parts = Vec::new();
    if !spec.users.is_empty() {
        parts.push(format!("users {}", who(&spec.users)));
    }
    if !spec.groups.is_empty() {
        parts.push(format!("groups {}", who(&spec.groups)));
    }
    if !spec.hosts.is_empty() {
        parts.push(format!("hosts {}", who(&spec.hosts)));
    }
    if !spec.methods.is_empty() {
        parts.push(spec.methods.join(","));
    }
    if parts.is_empty() {
        "everyone".to_owned()
    } else {
        parts.join("; ")
    }
}

/// The notices a redirect may ask for (fixed texts: nothing from the URL is shown).
fn notice(code: Option<&str>, count: Option<u64>) -> Option<String> {
    let n = count.unwrap_or(0);
    let actions = if n == 1 { "action" } else { "actions" };
    Some(match code? {
        "created" => "Action created.".to_owned(),
        "enabled" => format!("Enabled {n} {actions}."),
        "disabled" => format!("Disabled {n} {actions}."),
        "deleted" => format!("Deleted {n} {actions}."),
        "killed" => format!("Kill switch: disabled {n} {actions}."),
        _ => return None,
    })
}

/// `GET /`: the action list with filters, bulk operations and live refresh.
pub(super) async fn actions(ctx: Ctx, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let filter = match ActionFilter::from_query(&query, false) {
        Ok(filter) => filter,
        Err(message) => {
            return error_page(&ctx, &ApiError::new(StatusCode::BAD_REQUEST, message));
        }
    };
    let flash = Flash::from_query(&query);
    let read = match read(&ctx).await {
        Ok(read) => read,
        Err(err) => return error_page(&ctx, &err),
    };
    let now = now_ms();
    let rows = filter.select(&read.listing, &read.hidden, now);
    let base = ctx.base.clone();
    let body = html! {
        @if let Some(text) = notice(flash.notice.as_deref(), flash.n) { p.notice role="status" { (text) } }
        (filter_form(&ctx, &filter))
        form.bulk method="post" action={ (base) "/actions/bulk" } {
            (table(&ctx, &rows, &filter, now, &read))
            fieldset.bulk-ops {
                legend { "With the ticked actions" }
                button type="submit" name="op" value="enable" { "Enable" }
                button type="submit" name="op" value="disable" { "Disable" }
                button.danger type="submit" name="op" value="delete" { "Delete" }
            }
        }
    };
    html_response(StatusCode::OK, page(&ctx, "Chaos actions", body))
}

/// Fixed notices after a redirect (`?notice=disabled&n=2`).
#[derive(Debug, Default)]
pub(super) struct Flash {
    notice: Option<String>,
    n: Option<u64>,
}

impl Flash {
    fn from_query(query: &str) -> Flash {
        let mut flash = Flash::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "notice" => flash.notice = Some(value.into_owned()),
                "n" => flash.n = value.parse().ok(),
                _ => {}
            }
        }
        flash
    }
}

/// `GET /fragment/actions`: the table alone, for the live refresh.
pub(super) async fn actions_fragment(ctx: Ctx, RawQuery(query): RawQuery) -> Response {
    let Ok(filter) = ActionFilter::from_query(query.as_deref().unwrap_or(""), false) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match read(&ctx).await {
        Ok(read) => {
            let now = now_ms();
            let rows = filter.select(&read.listing, &read.hidden, now);
            html_response(StatusCode::OK, table(&ctx, &rows, &filter, now, &read))
        }
        Err(err) => err.into_response(),
    }
}

/// The pairs of an `application/x-www-form-urlencoded` body.
pub(super) fn form_pairs(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn redirect_home(ctx: &Ctx, notice: &str, n: u64) -> Response {
    Redirect::to(&format!("{}?notice={notice}&n={n}", ctx.home())).into_response()
}

/// `POST /actions/bulk` (`ids=1&ids=2&op=disable`).
pub(super) async fn bulk(ctx: Ctx, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    let mut ids = Vec::new();
    let mut op = None;
    for (key, value) in &pairs {
        match key.as_str() {
            "ids" => match value.parse::<i64>() {
                Ok(id) => ids.push(id),
                Err(_) => {
                    let err = ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("invalid id '{value}': action ids are whole numbers"),
                    );
                    return error_page(&ctx, &err);
                }
            },
            "op" => op = Some(value.clone()),
            _ => {}
        }
    }
    let op = match op.as_deref().map(Op::parse) {
        Some(Ok(op)) => op,
        Some(Err(err)) => return error_page(&ctx, &err),
        None => {
            let err = ApiError::new(
                StatusCode::BAD_REQUEST,
                "no operation: choose enable, disable or delete",
            );
            return error_page(&ctx, &err);
        }
    };
    run_op(&ctx, op, ids).await
}

async fn run_op(ctx: &Ctx, op: Op, ids: Vec<i64>) -> Response {
    match op.apply(ctx, ids).await {
        Ok(n) => {
            let done = match op {
                Op::Enable => "enabled",
                Op::Disable => "disabled",
                Op::Delete => "deleted",
            };
            redirect_home(ctx, done, n)
        }
        Err(err) => error_page(ctx, &err),
    }
}

/// `POST /actions/{id}/enable|disable|delete`.
pub(super) async fn row_op(ctx: Ctx, Path((id, op)): Path<(String, String)>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        let err = ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no action '{id}': action ids are whole numbers"),
        );
        return error_page(&ctx, &err);
    };
    match Op::parse(&op) {
        Ok(op) => run_op(&ctx, op, vec![id]).await,
        Err(err) => error_page(&ctx, &err),
    }
}

/// The create form, with the values given and the error to show (if any).
fn action_form(ctx: &Ctx, form: &ActionForm, error: Option<&str>) -> Markup {
    let v = |field: &Option<String>| field.clone().unwrap_or_default();
    let list = |values: &[String]| values.join(", ");
    let kind = form.kind.as_deref().unwrap_or("response");
    html! {
        @if let Some(error) = error { p.error role="alert" { (error) } }
        form.create method="post" action={ (ctx.base) "/actions" } {
            fieldset {
                legend { "What" }
                label { "Kind "
                    select name="kind" {
                        @for k in ["response", "point"] { option value=(k) selected[kind == k] { (k) } }
                    }
                }
                label { "Verb "
                    select name="verb" required {
                        @for verb in ["slow", "return", "abort", "panic", "error"] {
                            option value=(verb) selected[form.verb == verb] { (verb) }
                        }
                    }
                }
                label { "View or point " input name="target" value=(form.target) required placeholder="items, /items/{id}, *"; }
            }
            fieldset {
                legend { "How (by verb)" }
                label { "Shortest delay (slow) " input name="min" value=(v(&form.min)) placeholder="200ms"; }
                label { "Longest delay (slow) " input name="max" value=(v(&form.max)) placeholder="1s"; }
                label { "Phase (response slow) "
                    select name="phase" {
                        option value="" { "before (default)" }
                        option value="after" selected[form.phase.as_deref() == Some("after")] { "after" }
                    }
                }
                label { "Status (return) " input name="status" value=(v(&form.status)) placeholder="503" inputmode="numeric"; }
                label { "Body (return) " textarea name="body" rows="2" { (v(&form.body)) } }
                label { "Message (point error) " input name="message" value=(v(&form.message)); }
            }
            fieldset {
                legend { "Who and when" }
                label { "Probability " input name="probability" value=(v(&form.probability)) placeholder="100%"; }
                label { "Users (comma-separated) " input name="users" value=(list(&form.users)); }
                label { "Groups " input name="groups" value=(list(&form.groups)); }
                label { "Hosts " input name="hosts" value=(list(&form.hosts)); }
                label { "Methods " input name="methods" value=(list(&form.methods)) placeholder="GET, POST"; }
                label { "Expire after " input name="for" value=(v(&form.for_duration)) placeholder="10m"; }
                label { "or at (RFC 3339) " input name="until" value=(v(&form.until)) placeholder="2030-01-01T18:00:00Z"; }
                (timing_inputs(&form.start_at, &form.between, &form.days, &form.tz))
                label.check { input type="checkbox" name="disabled" value="on" checked[form.disabled]; " Create it disabled" }
                label { "Tag " input name="tag" value=(v(&form.tag)); }
                label { "Note " input name="note" value=(v(&form.note)); }
            }
            button type="submit" { "Create action" }
        }
    }
}

/// The `notice` a redirect after a form put into the query (`?notice=added`).
pub(super) fn query_notice(query: Option<&str>) -> Option<String> {
    query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "notice")
            .map(|(_, v)| v.into_owned())
    })
}

/// The id in a path (`/guards/{id}`): a whole number, else 404 naming `what`.
pub(super) fn path_id(what: &str, text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no {what} '{text}': {what} ids are whole numbers"),
        )
    })
}

/// The inputs that limit when actions inject (action, storm and exercise forms): start
/// time, wall-clock ranges (comma-separated), days and time zone.
pub(super) fn timing_inputs(
    start_at: &Option<String>,
    between: &[String],
    days: &Option<String>,
    tz: &Option<String>,
) -> Markup {
    let v = |field: &Option<String>| field.clone().unwrap_or_default();
    html! {
        label { "Start at (RFC 3339) " input name="start_at" value=(v(start_at)) placeholder="2030-01-01T09:00:00+01:00"; }
        label { "Active between (comma-separated) " input name="between" value=(between.join(", ")) placeholder="09:00-17:00"; }
        label { "on days " input name="days" value=(v(days)) placeholder="mon-fri"; }
        label { "time zone " input name="tz" value=(v(tz)) placeholder="UTC"; }
    }
}

/// `GET /actions/new`.
pub(super) async fn new_action(ctx: Ctx) -> Response {
    let form = ActionForm {
        verb: "slow".to_owned(),
        ..ActionForm::default()
    };
    html_response(
        StatusCode::OK,
        page(&ctx, "New action", action_form(&ctx, &form, None)),
    )
}

/// A comma-separated form field as its non-empty items, trimmed (`a, b,` → `[a, b]`).
pub(super) fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The form's fields as an [`ActionForm`] (lists are comma-separated).
fn parse_form(pairs: &[(String, String)]) -> Result<ActionForm, String> {
    let mut form = ActionForm::default();
    for (key, value) in pairs {
        let text = Some(value.clone());
        match key.as_str() {
            "kind" => form.kind = text,
            "verb" => form.verb = value.clone(),
            "target" => form.target = value.clone(),
            "min" => form.min = text,
            "max" => form.max = text,
            "phase" => form.phase = text,
            "status" => form.status = text,
            "body" => form.body = text,
            "message" => form.message = text,
            "probability" => form.probability = text,
            "users" => form.users = comma_list(value),
            "groups" => form.groups = comma_list(value),
            "hosts" => form.hosts = comma_list(value),
            "methods" => form.methods = comma_list(value),
            "for" => form.for_duration = text,
            "until" => form.until = text,
            "start_at" => form.start_at = text,
            "between" => form.between.extend(comma_list(value)),
            "days" => form.days = text,
            "tz" => form.tz = text,
            "disabled" => form.disabled = value == "on",
            "tag" => form.tag = text,
            "note" => form.note = text,
            other => return Err(format!("unknown field '{other}'")),
        }
    }
    Ok(form)
}

/// `POST /actions`: creates the action, or shows the form again with the error (422).
pub(super) async fn create_action(ctx: Ctx, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    let form = match parse_form(&pairs) {
        Ok(form) => form,
        Err(message) => {
            return error_page(&ctx, &ApiError::new(StatusCode::BAD_REQUEST, message));
        }
    };
    let result = match form.build(Naming::Fields, now_ms()) {
        Ok(spec) => ctx.store.create(&spec).await.map_err(ApiError::from),
        Err(err) => Err(ApiError::from(err)),
    };
    match result {
        Ok(_) => redirect_home(&ctx, "created", 1),
        Err(err) => html_response(
            err.status(),
            page(
                &ctx,
                "New action",
                action_form(&ctx, &form, Some(err.message())),
            ),
        ),
    }
}

/// `GET /kill`: asks for confirmation.
pub(super) async fn kill_confirm(ctx: Ctx) -> Response {
    let count = match ctx.store.list().await {
        Ok(listing) => listing
            .actions
            .iter()
            .filter(|a| a.spec.enabled && !a.is_expired_at(now_ms()))
            .count(),
        Err(err) => return error_page(&ctx, &ApiError::from(err)),
    };
    let body = html! {
        p { "Disable every chaos action now? " strong { (count) " active" } " actions stop at once on every app instance; they stay stored and can be enabled again." }
        form method="post" action={ (ctx.base) "/kill" } {
            input type="hidden" name="confirm" value="yes";
            button.danger.big type="submit" { "Yes, disable every action" }
            " "
            a href=(ctx.home()) { "Cancel" }
        }
    };
    html_response(StatusCode::OK, page(&ctx, "Kill switch", body))
}

/// `POST /kill` with `confirm=yes`: disables every action.
pub(super) async fn kill(ctx: Ctx, body: Bytes) -> Response {
    let confirmed = form_pairs(&body)
        .iter()
        .any(|(k, v)| k == "confirm" && v == "yes");
    if !confirmed {
        return Redirect::to(&format!("{}/kill", ctx.base)).into_response();
    }
    match ctx
        .store
        .set_enabled(&Selection::All { kind: None }, false)
        .await
    {
        Ok(n) => redirect_home(&ctx, "killed", n),
        Err(err) => error_page(&ctx, &ApiError::from(err)),
    }
}

/// `GET /instances`: views and app instances, with the generation each applies.
pub(super) async fn instances(ctx: Ctx) -> Response {
    match instances_live(&ctx).await {
        Ok(body) => html_response(StatusCode::OK, page(&ctx, "Instances and views", body)),
        Err(err) => error_page(&ctx, &err),
    }
}

/// `GET /fragment/instances`: the instances and views alone, for the live refresh.
pub(super) async fn instances_fragment(ctx: Ctx) -> Response {
    match instances_live(&ctx).await {
        Ok(body) => html_response(StatusCode::OK, body),
        Err(err) => err.into_response(),
    }
}

/// The instances (with the generation each applies and the faults it injected) and the
/// views, in the block the page refreshes every 2 s.
async fn instances_live(ctx: &Ctx) -> Result<Markup, ApiError> {
    let generation = ctx.store.generation().await?;
    let instances = ctx.store.instances().await?;
    let views = ctx.store.registered_views().await?;
    let now = now_ms();
    Ok(html! {
            div #live data-src={ (ctx.base) "/fragment/instances" } {
            p { "The store is at generation " strong { (generation) } ". An instance that applies it has every change." }
            h2 { "App instances" }
            table {
                thead { tr { th { "instance" } th { "host" } th { "pid" } th { "started" } th { "last heartbeat" } th { "applies" } th { "state" } th { "faults injected" } } }
                tbody {
                    @if instances.is_empty() { tr { td colspan="8" .empty { "No app instance has registered with this store." } } }
                    @for instance in &instances {
                        @let live = instance.is_live_at(now);
                        @let current = instance.applied_generation == Some(generation);
    @let counts = instance.fired_total();
                        tr class=(if live { "live" } else { "stale" }) {
                            td { (instance.id) }
                            td { (instance.host) }
                            td { (instance.pid) }
                            td.when { (timestamp(instance.started_at)) }
                            td.when { (timestamp(instance.last_seen)) }
                            td { @match instance.applied_generation { Some(g) => { "generation " (g) @if current { " ✓" } }, None => { "not loaded yet" } } }
                            td { @if live { "live" } @else { "stale" } }
                            td { (describe::fired(Some(counts))) }
                        }
                    }
                }
            }
            h2 { "Views" }
            table {
                thead { tr { th { "view" } th { "route" } th { "methods" } th { "instance" } } }
                tbody {
                    @if views.is_empty() { tr { td colspan="4" .empty { "No view registered." } } }
                    @for view in &views {
                        tr { td { (view.name) } td { (view.pattern) } td { (view.methods.join(", ")) } td { (view.instance.id) } }
                    }
                }
            }
            }
        })
}

/// `GET /audit?actor=&operation=&action=&limit=N`: who changed what, filterable.
pub(super) async fn audit(ctx: Ctx, RawQuery(query): RawQuery) -> Response {
    let query = match AuditQuery::from_query(query.as_deref().unwrap_or(""), false) {
        Ok(query) => query,
        Err(err) => return error_page(&ctx, &err),
    };
    let entries = match query.entries(&ctx).await {
        Ok(entries) => entries,
        Err(err) => return error_page(&ctx, &err),
    };
    let text = |t: &Option<String>| t.clone().unwrap_or_default();
    let body = html! {
        form.filters method="get" action={ (ctx.base) "/audit" } {
            label { "Who " input name="actor" value=(text(&query.actor)) size="12"; }
            label { "Operation " input name="operation" value=(text(&query.operation)) size="12" placeholder="create, disable, exercise"; }
            label { "Action id " input name="action" value=(query.action.map(|a| a.to_string()).unwrap_or_default()) size="6" inputmode="numeric"; }
            button type="submit" { "Filter" }
            a href={ (ctx.base) "/audit" } { "Clear" }
        }
        table.audit {
            thead { tr { th { "when" } th { "who" } th { "operation" } th { "actions" } th { "detail" } } }
            tbody {
                @if entries.is_empty() { tr { td colspan="5" .empty { "No change matches." } } }
                @for entry in &entries {
                    tr {
                        td.when { (timestamp(entry.at)) }
                        td { (entry.actor.as_deref().unwrap_or("?")) }
                        td { (entry.operation) }
                        td { (entry.action_ids) }
                        td.detail { (entry.detail.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    };
    html_response(StatusCode::OK, page(&ctx, "Audit log", body))
}

/// `GET /assets/admin.css`.
pub(super) async fn stylesheet(_: Ctx) -> Response {
    asset("text/css; charset=utf-8", CSS)
}

/// `GET /assets/admin.js`.
pub(super) async fn script(_: Ctx) -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(content_type: &'static str, text: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        PreEscaped(text).into_string(),
    )
        .into_response()
}
