//! The relay's server side: the change feed and instance registration over one store,
//! for `chaos-admin serve` (or an app that mounts [`RelayServer::router`] behind its own
//! authentication).
//!
//! One watcher task per server follows the store's change counters (on PostgreSQL a
//! `LISTEN` connection and a safety check every 30 s; elsewhere a poll every 200 ms, or
//! 50 ms on SQLite) and wakes every waiting poll. Answers are built once per reader
//! position and shared as bytes by every poll at that position, so a change read by
//! 1,000 subscribers costs one incremental read of the store. Heartbeats are written in
//! batches, one transaction for all that arrived while the previous batch was written, so
//! the heartbeats every instance sends after a change cost one commit, not one each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tokio::sync::{OnceCell, mpsc, oneshot, watch};

use super::{CHANGES_PATH, ChangesBody, GUARDS_PATH, INSTANCES_PATH, MAX_WAIT_SECONDS, ReportBody};
use crate::store::{Changes, Heartbeat, Position, Store, StoreError};

/// Poll interval of the watcher on PostgreSQL without a listener, and on MySQL.
const SERVER_POLL: Duration = Duration::from_millis(200);
/// Poll interval of the watcher on SQLite.
const SQLITE_SERVER_POLL: Duration = Duration::from_millis(50);
/// Safety check of the watcher while the PostgreSQL listener is up.
const LISTENING_CHECK: Duration = Duration::from_secs(30);
/// Positions answered from the cache at once; further ones are read uncached.
const MAX_CACHED_POSITIONS: usize = 1_024;
/// Longest instance id, host, view name and pattern (characters; the store's columns).
const MAX_NAME_CHARS: usize = 255;
/// Longest view pattern (characters; MySQL's key limit).
const MAX_PATTERN_CHARS: usize = 500;
/// Most views one instance may register.
const MAX_VIEWS: usize = 10_000;
/// Heartbeats waiting to be written, at most (beyond: 503, the instance retries).
const MAX_QUEUED_HEARTBEATS: usize = 20_000;
/// Most heartbeats written in one transaction.
const MAX_HEARTBEAT_BATCH: usize = 1_000;
/// Largest report (an instance with [`MAX_VIEWS`] long routes).
const MAX_REPORT_BYTES: usize = 16 * 1024 * 1024;

/// The relay over one store. Cheap to clone; the watcher task ends with the last clone
/// or at [`RelayServer::close`].
#[derive(Debug, Clone)]
pub struct RelayServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The store; replaced when a SQLite file that went away is back.
    store: Mutex<Store>,
    /// The store's position as the watcher last read it (`None`: not read yet).
    current: watch::Sender<Option<Position>>,
    /// Set by [`RelayServer::close`]: waiting polls answer at once.
    closed: watch::Sender<bool>,
    cache: Mutex<Cache>,
    /// To the task that writes heartbeats in batches.
    heartbeats: mpsc::Sender<QueuedHeartbeat>,
}

/// A heartbeat waiting for its batch, and where to say whether the instance is known.
#[derive(Debug)]
struct QueuedHeartbeat {
    heartbeat: Heartbeat,
    reply: oneshot::Sender<Result<bool, String>>,
}

/// Answers by reader position, valid while the watcher's position is `at`.
#[derive(Debug, Default)]
struct Cache {
    at: Option<Position>,
    answers: HashMap<Option<Position>, Arc<OnceCell<Answer>>>,
}

/// A serialized answer of the change feed.
#[derive(Debug, Clone)]
struct Answer {
    unchanged: bool,
    json: Bytes,
}

impl RelayServer {
    /// A relay over `store`; starts its watcher task (call inside a tokio runtime).
    pub fn new(store: Store) -> Self {
        let (heartbeats, queue) = mpsc::channel(MAX_QUEUED_HEARTBEATS);
        let inner = Arc::new(Inner {
            store: Mutex::new(store.clone()),
            current: watch::Sender::new(None),
            closed: watch::Sender::new(false),
            cache: Mutex::default(),
            heartbeats,
        });
        tokio::spawn(write_heartbeats(Arc::downgrade(&inner), queue));
        tokio::spawn(watch_counters(Arc::downgrade(&inner), store));
        Self { inner }
    }

    /// The relay's routes ([`CHANGES_PATH`], [`INSTANCES_PATH`]), to merge into a server
    /// behind authentication. Errors are JSON `{"error": "...", "status": N}`.
    pub fn router(&self) -> Router {
        Router::new()
            .route(CHANGES_PATH, get(changes))
            .route(INSTANCES_PATH, post(report))
            .route(&format!("{INSTANCES_PATH}/{{id}}"), delete(deregister))
            .route(&format!("{GUARDS_PATH}/{{id}}/trip"), post(trip_guard))
            .route(
                &format!("{RELAY_PREFIX}/{{*rest}}"),
                axum::routing::any(no_such_route),
            )
            .route(RELAY_PREFIX, axum::routing::any(no_such_route))
            .route(
                &format!("{RELAY_PREFIX}/"),
                axum::routing::any(no_such_route),
            )
            .method_not_allowed_fallback(wrong_method)
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(self.clone())
    }

    /// Ends every waiting poll at once (each answers `unchanged`) and stops the watcher,
    /// so a graceful shutdown does not wait for long polls.
    pub fn close(&self) {
        self.inner.closed.send_replace(true);
    }

    fn store(&self) -> Store {
        self.inner.store()
    }

    /// The answer for a reader at `applied`, read once per position and shared.
    async fn answer(&self, applied: Option<Position>) -> Result<Answer, StoreError> {
        let cell = {
            let mut cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
            let at = *self.inner.current.borrow();
            if cache.at != at {
                cache.at = at;
                cache.answers.clear();
            }
            if cache.answers.len() < MAX_CACHED_POSITIONS {
                Arc::clone(cache.answers.entry(applied).or_default())
            } else {
                Arc::default()
            }
        };
        cell.get_or_try_init(|| async {
            let store = self.store();
            // A SQLite file that is gone or replaced is not served.
            store.check_file()?;
            let changes = store.changes_since(applied).await?;
            let unchanged = matches!(changes, Changes::Unchanged);
            let at = applied.unwrap_or(Position {
                generation: 0,
                epoch: 0,
            });
            let body = ChangesBody::from_changes(&changes, at);
            let json = serde_json::to_vec(&body).unwrap_or_default();
            Ok(Answer {
                unchanged,
                json: Bytes::from(json),
            })
        })
        .await
        .cloned()
    }
}

impl Inner {
    fn store(&self) -> Store {
        self.store.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Writes queued heartbeats, all that wait (up to [`MAX_HEARTBEAT_BATCH`]) in one
/// transaction; ends with the relay.
async fn write_heartbeats(inner: Weak<Inner>, mut queue: mpsc::Receiver<QueuedHeartbeat>) {
    let mut batch = Vec::new();
    while queue.recv_many(&mut batch, MAX_HEARTBEAT_BATCH).await > 0 {
        let Some(store) = inner.upgrade().map(|inner| inner.store()) else {
            return;
        };
        let heartbeats: Vec<Heartbeat> = batch.iter().map(|q| q.heartbeat.clone()).collect();
        let written = match store.check_file() {
            Ok(()) => store.heartbeats(&heartbeats).await,
            Err(err) => Err(err),
        };
        for (index, queued) in batch.drain(..).enumerate() {
            let answer = match &written {
                Ok(known) => Ok(known.get(index).copied().unwrap_or(false)),
                Err(err) => Err(err.to_string()),
            };
            let _ = queued.reply.send(answer);
        }
    }
}

/// Follows the store's change counters for every waiting poll. A SQLite file that is
/// deleted or replaced counts as unreachable: polls answer 503 (subscribers keep their
/// snapshots) until a file is at the URL again, which is then opened (never created).
async fn watch_counters(inner: Weak<Inner>, mut store: Store) {
    let mut listener = None;
    let mut failing = false;
    let mut closed = match inner.upgrade() {
        Some(inner) => inner.closed.subscribe(),
        None => return,
    };
    loop {
        if *closed.borrow_and_update() {
            return;
        }
        // Gone, replaced, or closed by its owner (a clone shares the pool): open the
        // store at the URL again (never creating a SQLite file).
        let lost = store.check_file().is_err() || store.is_closed();
        if lost && let Ok(again) = store.reopen().await {
            store = again;
            if let Some(relay) = inner.upgrade() {
                *relay.store.lock().unwrap_or_else(|p| p.into_inner()) = store.clone();
            }
        }
        if listener.is_none() && store.backend_name() == "postgres" {
            listener = store.listen_for_changes().await.ok().flatten();
        }
        let read = match store.check_file() {
            Ok(()) => store.counters().await,
            Err(err) => Err(err),
        };
        let Some(relay) = inner.upgrade() else {
            return;
        };
        match read {
            Ok(counters) => {
                let position = Position {
                    generation: counters.generation,
                    epoch: counters.epoch,
                };
                relay.current.send_if_modified(|current| {
                    let moved = *current != Some(position);
                    *current = Some(position);
                    moved
                });
                if failing {
                    tracing::info!(target: "chaos", store = %store.display_url(), "relay: chaos store reachable again");
                }
                failing = false;
            }
            Err(err) => {
                // Polls read the store themselves, and fail while it is unreachable.
                relay.current.send_replace(None);
                if !failing {
                    tracing::warn!(target: "chaos", store = %store.display_url(), error = %err, "relay: chaos store unavailable; subscribers keep their snapshots");
                }
                failing = true;
            }
        }
        drop(relay);
        let interval = match (&listener, store.backend_name()) {
            (Some(_), _) => LISTENING_CHECK,
            (None, "sqlite") => SQLITE_SERVER_POLL,
            (None, _) => SERVER_POLL,
        };
        let lost = {
            let notified = async {
                match listener.as_mut() {
                    Some(listener) => listener.changed().await.is_err(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = tokio::time::sleep(interval) => false,
                lost = notified => lost,
                _ = closed.changed() => false,
            }
        };
        if lost {
            listener = None;
        }
    }
}

/// Where every relay route lives.
pub const RELAY_PREFIX: &str = "/api/v1/relay";

/// A path under [`RELAY_PREFIX`] the relay does not serve: 404 naming the routes.
async fn no_such_route(uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "no relay route {}: the relay serves GET {CHANGES_PATH}, POST {INSTANCES_PATH} and DELETE {INSTANCES_PATH}/ID",
            uri.path()
        ),
    )
}

/// A method a relay route does not take: 405 naming the route.
async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// An error answer: `{"error": message, "status": code}`, the admin's shape.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    crate::admin::ApiError::new(status, message).into_response()
}

fn json_bytes(json: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}

/// The parameters of a poll.
#[derive(Debug, PartialEq)]
struct PollQuery {
    applied: Option<Position>,
    wait: Duration,
}

fn parse_poll(query: Option<&str>) -> Result<PollQuery, String> {
    let (mut generation, mut epoch, mut wait) = (None, None, None);
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let slot = match key.as_ref() {
            "generation" => &mut generation,
            "epoch" => &mut epoch,
            "wait" => &mut wait,
            other => {
                return Err(format!(
                    "unknown parameter '{other}': allowed are generation, epoch and wait"
                ));
            }
        };
        if slot.is_some() {
            return Err(format!("parameter '{key}' is given twice: give it once"));
        }
        *slot = Some(value.into_owned());
    }
    let generation = generation
        .map(|text| match text.parse::<i64>() {
            Ok(g) if g >= 0 => Ok(g),
            _ => Err(format!(
                "generation '{text}' is not a generation: allowed is an integer from 0"
            )),
        })
        .transpose()?;
    let epoch = epoch
        .map(|text| {
            text.parse::<i64>()
                .map_err(|_| format!("epoch '{text}' is not an epoch: allowed is a 64-bit integer"))
        })
        .transpose()?;
    let applied = match (generation, epoch) {
        (Some(generation), Some(epoch)) => Some(Position { generation, epoch }),
        (None, None) => None,
        _ => {
            return Err(
                "generation and epoch go together: give both (or neither, for every action)"
                    .to_owned(),
            );
        }
    };
    let wait = match wait {
        None => 0,
        Some(text) => match text.parse::<u64>() {
            Ok(s) if s <= MAX_WAIT_SECONDS => s,
            _ => {
                return Err(format!(
                    "wait '{text}' is out of range: allowed are 0 to {MAX_WAIT_SECONDS} (seconds)"
                ));
            }
        },
    };
    Ok(PollQuery {
        applied,
        wait: Duration::from_secs(wait),
    })
}

/// `GET /api/v1/relay/changes`: see the [module documentation](super).
async fn changes(State(relay): State<RelayServer>, RawQuery(query): RawQuery) -> Response {
    let query = match parse_poll(query.as_deref()) {
        Ok(query) => query,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let deadline = tokio::time::Instant::now() + query.wait;
    let mut current = relay.inner.current.subscribe();
    let mut closed = relay.inner.closed.subscribe();
    let mut unchanged = None;
    loop {
        let known = *current.borrow_and_update();
        if query.applied.is_none() || known != query.applied {
            match relay.answer(query.applied).await {
                Ok(answer) if !answer.unchanged => return json_bytes(answer.json),
                Ok(answer) => unchanged = Some(answer.json),
                Err(err) => {
                    return error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("the relay cannot read its store: {err}"),
                    );
                }
            }
        }
        if *closed.borrow_and_update() {
            break;
        }
        tokio::select! {
            moved = current.changed() => if moved.is_err() { break },
            () = tokio::time::sleep_until(deadline) => break,
            _ = closed.changed() => break,
        }
    }
    let json = unchanged.unwrap_or_else(|| {
        let at = query.applied.unwrap_or(Position {
            generation: 0,
            epoch: 0,
        });
        let body = ChangesBody::from_changes(&Changes::Unchanged, at);
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
    });
    json_bytes(json)
}

/// Checks a name an instance gives (id, host, view): 1 to `max` printable characters.
fn check_name(what: &str, text: &str, max: usize) -> Result<(), String> {
    let length = text.chars().count();
    if length == 0 || length > max || text.chars().any(char::is_control) {
        Err(format!(
            "{what} has {length} characters or a control character: allowed are 1 to {max} printable characters"
        ))
    } else {
        Ok(())
    }
}

/// Checks what an instance says about itself (`store_generation`: the store's, when
/// known); the message names the field.
fn check_report(report: &ReportBody, store_generation: Option<i64>) -> Result<(), String> {
    let info = &report.instance;
    let name = check_name;
    name("instance.id", &info.id, MAX_NAME_CHARS)?;
    name("instance.host", &info.host, MAX_NAME_CHARS)?;
    if info.pid < 0 || info.started_at < 0 {
        return Err("instance.pid and instance.started_at must not be negative".to_owned());
    }
    if !(1..=86_400_000).contains(&info.heartbeat_ms) {
        return Err(format!(
            "instance.heartbeat_ms {} is out of range: allowed are 1 to 86400000 (ms)",
            info.heartbeat_ms
        ));
    }
    if info.views.len() > MAX_VIEWS {
        return Err(format!(
            "{} views: allowed are at most {MAX_VIEWS}",
            info.views.len()
        ));
    }
    let mut patterns = std::collections::HashSet::new();
    for view in &info.views {
        name("a view name", &view.name, MAX_PATTERN_CHARS)?;
        name("a view pattern", &view.pattern, MAX_PATTERN_CHARS)?;
        if !patterns.insert(view.pattern.as_str()) {
            return Err(format!(
                "view pattern {} is listed twice: list each route once",
                view.pattern
            ));
        }
        if view.methods.len() > 32 {
            return Err(format!(
                "view {} has {} methods: allowed are at most 32",
                view.pattern,
                view.methods.len()
            ));
        }
        for method in &view.methods {
            crate::action::validate_method(method)
                .map_err(|err| format!("view {}: {err}", view.pattern))?;
        }
    }
    if report.generation.is_some_and(|g| g < 0) || report.applied_at.is_some_and(|t| t < 0) {
        return Err("generation and applied_at must not be negative".to_owned());
    }
    if let (Some(reported), Some(store)) = (report.generation, store_generation)
        && reported > store
    {
        return Err(format!(
            "generation {reported} is ahead of the store's ({store}): allowed is a generation the relay served"
        ));
    }
    for (id, counts) in report.fired.iter().flatten() {
        let counts_ok = counts.as_array().is_some_and(|pair| {
            pair.len() == 2 && pair.iter().all(|n| n.as_i64().is_some_and(|n| n >= 0))
        });
        if id.parse::<i64>().is_err() || !counts_ok {
            return Err(format!(
                "fired entry '{id}' is not an action id with [total, recent]: allowed is {{\"ID\": [TOTAL, RECENT]}}"
            ));
        }
    }
    Ok(())
}

/// `POST /api/v1/relay/instances`: a heartbeat, registering the instance when the store
/// does not know it. Answers `{"registered": true}` when it registered it.
async fn report(State(relay): State<RelayServer>, body: axum::body::Body) -> Response {
    let Ok(body) = axum::body::to_bytes(body, MAX_REPORT_BYTES).await else {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the report is over {MAX_REPORT_BYTES} bytes: allowed are at most {MAX_REPORT_BYTES}"
            ),
        );
    };
    let report: ReportBody = match serde_json::from_slice(&body) {
        Ok(report) => report,
        Err(err) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("the report is not valid: {err}"),
            );
        }
    };
    let store_generation = relay.inner.current.borrow().map(|p| p.generation);
    if let Err(message) = check_report(&report, store_generation) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, message);
    }
    let store = relay.store();
    let store = &store;
    let fired = report
        .fired
        .map(|fired| serde_json::Value::Object(fired).to_string());
    let info = &report.instance;
    let (reply, answer) = oneshot::channel();
    let queued = QueuedHeartbeat {
        heartbeat: Heartbeat {
            id: info.id.clone(),
            applied_generation: report.generation,
            applied_at: report.applied_at,
            fired: fired.clone(),
        },
        reply,
    };
    if relay.inner.heartbeats.try_send(queued).is_err() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the relay has too many heartbeats waiting: try again later",
        );
    }
    let known = match answer.await {
        Ok(Ok(known)) => known,
        Ok(Err(err)) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the relay cannot write to its store: {err}"),
            );
        }
        Err(_) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the relay is shutting down",
            );
        }
    };
    let result = async {
        if !known {
            store
                .register_instance(info, report.generation, report.applied_at)
                .await?;
            store
                .heartbeat(
                    &info.id,
                    report.generation,
                    report.applied_at,
                    fired.as_deref(),
                )
                .await?;
        }
        Ok::<_, StoreError>(!known)
    }
    .await;
    match result {
        Ok(registered) => {
            axum::Json(serde_json::json!({ "registered": registered })).into_response()
        }
        Err(err) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the relay cannot write to its store: {err}"),
        ),
    }
}

/// `POST /api/v1/relay/guards/{id}/trip`: an instance measured guard `id` exceeded.
/// Answers `{"tripped": bool, "generation": G}` (the store's generation after it).
async fn trip_guard(
    State(relay): State<RelayServer>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    body: axum::body::Body,
) -> Response {
    let Some(id) = id.ok().and_then(|Path(id)| id.parse::<i64>().ok()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the guard id is not a number: allowed is a guard id (see `chaos-admin guard list`)",
        );
    };
    let Ok(body) = axum::body::to_bytes(body, 64 * 1024).await else {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the trip is over 65536 bytes: allowed are at most 65536",
        );
    };
    let trip: crate::guard::Trip = match serde_json::from_slice(&body) {
        Ok(trip) => trip,
        Err(err) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("the trip is not valid: {err}"),
            );
        }
    };
    if let Err(message) = check_name("the instance", &trip.by, MAX_NAME_CHARS)
        .and_then(|()| check_name("the detail", &trip.detail, 2_000))
    {
        return error(StatusCode::UNPROCESSABLE_ENTITY, message);
    }
    // The relay's clock, not the instance's.
    let trip = crate::guard::Trip {
        at: crate::action::now_ms(),
        ..trip
    };
    let store = relay.store();
    let result = async {
        if !store.guards().await?.iter().any(|g| g.id == id) {
            return Err(StoreError::UnknownGuard(id));
        }
        let tripped = store.trip_guard(id, &trip).await?;
        let generation = store.generation().await?;
        Ok::<_, StoreError>((tripped, generation))
    }
    .await;
    match result {
        Ok((tripped, generation)) => {
            axum::Json(serde_json::json!({"tripped": tripped, "generation": generation}))
                .into_response()
        }
        Err(err @ StoreError::UnknownGuard(_)) => error(StatusCode::NOT_FOUND, err.to_string()),
        Err(err) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the relay cannot write to its store: {err}"),
        ),
    }
}

/// `DELETE /api/v1/relay/instances/{id}`: an instance that stops cleanly.
async fn deregister(
    State(relay): State<RelayServer>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let Ok(Path(id)) = id else {
        return error(
            StatusCode::BAD_REQUEST,
            "the instance id is not UTF-8 text: allowed are 1 to 255 printable characters",
        );
    };
    if let Err(message) = check_name("the instance id", &id, MAX_NAME_CHARS) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, message);
    }
    match relay.store().deregister_instance(&id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the relay cannot write to its store: {err}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_parameters() {
        let at = |generation, epoch| Some(Position { generation, epoch });
        assert_eq!(
            parse_poll(Some("generation=4&epoch=-9&wait=25")),
            Ok(PollQuery {
                applied: at(4, -9),
                wait: Duration::from_secs(25)
            })
        );
        assert_eq!(
            parse_poll(None),
            Ok(PollQuery {
                applied: None,
                wait: Duration::ZERO
            })
        );
        for (query, says) in [
            ("generation=4", "go together"),
            ("epoch=4", "go together"),
            ("generation=-1&epoch=1", "generation '-1'"),
            ("generation=x&epoch=1", "generation 'x'"),
            ("generation=1&epoch=1.5", "epoch '1.5'"),
            ("wait=61", "wait '61' is out of range: allowed are 0 to 60"),
            ("wait=-1", "wait '-1'"),
            ("wait=1&wait=2", "'wait' is given twice"),
            ("since=3", "unknown parameter 'since'"),
        ] {
            let err = parse_poll(Some(query)).expect_err(query);
            assert!(err.contains(says), "{query}: {err}");
        }
    }
}
