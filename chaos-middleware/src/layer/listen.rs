//! PostgreSQL: the one connection an idle instance holds.
//!
//! The listener task keeps a `LISTEN chaos_changes` connection and wakes the reloader on
//! every notification and after every (re)connection (notifications sent while nobody
//! listened are lost). The same connection serves the instance's other queries (the
//! reloader's reads of changes, the registration, the heartbeat), so an instance holds
//! one connection, from start-up on and also while changes arrive; the pool opens one
//! only while the listener is down, and closes it after a few idle seconds.
//!
//! While the listener is down, [`Session`] answers `None` at once and callers use the
//! pool, so nothing waits on a reconnecting listener.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};

use crate::store::{ChangeListener, Changes, InstanceInfo, Position, Store, StoreError};

/// Shortest wait between attempts of the listener to reconnect.
const MIN_LISTEN_BACKOFF: Duration = Duration::from_millis(200);
/// Longest wait between attempts of the listener to reconnect.
const MAX_LISTEN_BACKOFF: Duration = Duration::from_secs(5);
/// How long a caller waits for the listener's connection before using the pool.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A request served on the listener's connection.
enum Request {
    Changes {
        applied: Option<Position>,
        reply: oneshot::Sender<Result<Changes, StoreError>>,
    },
    Register {
        info: Box<InstanceInfo>,
        generation: Option<i64>,
        applied_at: Option<i64>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    Heartbeat {
        id: String,
        generation: Option<i64>,
        applied_at: Option<i64>,
        fired: Option<String>,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    HasWebhooks {
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
}

impl Request {
    /// Whether the caller stopped waiting for the answer.
    fn abandoned(&self) -> bool {
        match self {
            Request::Changes { reply, .. } => reply.is_closed(),
            Request::Register { reply, .. } => reply.is_closed(),
            Request::Heartbeat { reply, .. } => reply.is_closed(),
            Request::HasWebhooks { reply } => reply.is_closed(),
        }
    }

    async fn serve(self, listener: &mut ChangeListener) {
        match self {
            Request::Changes { applied, reply } => {
                let _ = reply.send(listener.changes_since(applied).await);
            }
            Request::Register {
                info,
                generation,
                applied_at,
                reply,
            } => {
                let done = listener
                    .register_instance(&info, generation, applied_at)
                    .await;
                let _ = reply.send(done);
            }
            Request::Heartbeat {
                id,
                generation,
                applied_at,
                fired,
                reply,
            } => {
                let done = listener
                    .heartbeat(&id, generation, applied_at, fired.as_deref())
                    .await;
                let _ = reply.send(done);
            }
            Request::HasWebhooks { reply } => {
                let _ = reply.send(listener.has_webhooks().await);
            }
        }
    }
}

/// The reloader's and heartbeat's way to the listener's connection. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Session {
    requests: mpsc::Sender<Request>,
    listening: Arc<AtomicBool>,
}

impl Session {
    /// Whether the `LISTEN` connection is up (notifications arrive).
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// [`Store::changes_since`] over the listener's connection; `None` when it is down.
    pub async fn changes_since(
        &self,
        applied: Option<Position>,
    ) -> Option<Result<Changes, StoreError>> {
        self.ask(|reply| Request::Changes { applied, reply }).await
    }

    /// [`Store::register_instance`] over the listener's connection; `None` when it is down.
    pub async fn register_instance(
        &self,
        info: &InstanceInfo,
        generation: Option<i64>,
        applied_at: Option<i64>,
    ) -> Option<Result<(), StoreError>> {
        self.ask(|reply| Request::Register {
            info: Box::new(info.clone()),
            generation,
            applied_at,
            reply,
        })
        .await
    }

    /// A heartbeat over the listener's connection; `None` when it is down.
    pub async fn heartbeat(
        &self,
        id: &str,
        generation: Option<i64>,
        applied_at: Option<i64>,
        fired: Option<&str>,
    ) -> Option<Result<bool, StoreError>> {
        self.ask(|reply| Request::Heartbeat {
            id: id.to_owned(),
            generation,
            applied_at,
            fired: fired.map(str::to_owned),
            reply,
        })
        .await
    }

    /// [`Store::has_webhooks`] over the listener's connection; `None` when it is down.
    pub async fn has_webhooks(&self) -> Option<Result<bool, StoreError>> {
        self.ask(|reply| Request::HasWebhooks { reply }).await
    }

    async fn ask<T>(&self, request: impl FnOnce(oneshot::Sender<T>) -> Request) -> Option<T> {
        if !self.listening() {
            return None;
        }
        let (reply, answer) = oneshot::channel();
        self.requests.try_send(request(reply)).ok()?;
        tokio::time::timeout(REQUEST_TIMEOUT, answer)
            .await
            .ok()?
            .ok()
    }
}

/// [`Store::changes_since`] over the listener's connection when it is up, else over the
/// store's pool.
pub(crate) async fn changes_since(
    session: Option<&Session>,
    store: &Store,
    applied: Option<Position>,
) -> Result<Changes, StoreError> {
    if let Some(session) = session
        && let Some(Ok(changes)) = session.changes_since(applied).await
    {
        return Ok(changes);
    }
    store.changes_since(applied).await
}

/// [`Store::register_instance`] over the listener's connection when it is up, else over
/// the store's pool.
pub(crate) async fn register_instance(
    session: Option<&Session>,
    store: &Store,
    info: &InstanceInfo,
    generation: Option<i64>,
    applied_at: Option<i64>,
) -> Result<(), StoreError> {
    if let Some(session) = session
        && let Some(Ok(())) = session
            .register_instance(info, generation, applied_at)
            .await
    {
        return Ok(());
    }
    store.register_instance(info, generation, applied_at).await
}

/// [`Store::heartbeat`] over the listener's connection when it is up, else over the
/// store's pool.
pub(crate) async fn heartbeat(
    session: Option<&Session>,
    store: &Store,
    id: &str,
    generation: Option<i64>,
    applied_at: Option<i64>,
    fired: Option<&str>,
) -> Result<bool, StoreError> {
    if let Some(session) = session
        && let Some(Ok(known)) = session.heartbeat(id, generation, applied_at, fired).await
    {
        return Ok(known);
    }
    store.heartbeat(id, generation, applied_at, fired).await
}

/// [`Store::has_webhooks`] over the listener's connection when it is up, else over the
/// store's pool.
pub(crate) async fn has_webhooks(
    session: Option<&Session>,
    store: &Store,
) -> Result<bool, StoreError> {
    if let Some(session) = session
        && let Some(Ok(any)) = session.has_webhooks().await
    {
        return Ok(any);
    }
    store.has_webhooks().await
}

/// Starts the listener task for `store` (PostgreSQL); it wakes `wake` on changes and ends
/// when every [`Session`] clone is dropped.
pub(crate) fn spawn(
    store: Store,
    wake: Arc<Notify>,
    url: String,
) -> (Session, tokio::task::JoinHandle<()>) {
    let (requests, receiver) = mpsc::channel(8);
    let listening = Arc::new(AtomicBool::new(false));
    let session = Session {
        requests,
        listening: Arc::clone(&listening),
    };
    let task = tokio::spawn(listen(store, wake, listening, url, receiver));
    (session, task)
}

async fn listen(
    store: Store,
    wake: Arc<Notify>,
    listening: Arc<AtomicBool>,
    url: String,
    mut requests: mpsc::Receiver<Request>,
) {
    let mut wait = Duration::ZERO;
    let mut failing = false;
    loop {
        tokio::time::sleep(wait).await;
        match store.listen_for_changes().await {
            Ok(Some(mut listener)) => {
                if failing {
                    tracing::info!(target: "chaos", store = %url, "listening for chaos changes again");
                }
                failing = false;
                wait = Duration::ZERO;
                listening.store(true, Ordering::Release);
                // Catch up on what changed while nobody listened.
                wake.notify_one();
                loop {
                    tokio::select! {
                        // Waiting for a notification is cancel-safe: a request is served
                        // between two waits, and notifications arriving meanwhile are
                        // buffered by the connection.
                        biased;
                        request = requests.recv() => match request {
                            // The caller gave up (timed out): skip it.
                            Some(request) if request.abandoned() => {}
                            Some(request) => {
                                // A query stuck on a black-holed network must not keep
                                // notifications waiting: rebuild the connection.
                                let served =
                                    tokio::time::timeout(REQUEST_TIMEOUT, request.serve(&mut listener))
                                        .await;
                                if served.is_err() {
                                    break;
                                }
                            }
                            None => return,
                        },
                        changed = listener.changed() => match changed {
                            Ok(()) => wake.notify_one(),
                            Err(_) => break,
                        },
                    }
                }
                // Back to polling at once (the reloader may be in its long safety wait).
                listening.store(false, Ordering::Release);
                wake.notify_one();
                tracing::debug!(target: "chaos", store = %url, "chaos change listener lost its connection");
            }
            Ok(None) => return,
            Err(err) => {
                // A reloader waiting for this connection's first load goes on without it.
                wake.notify_one();
                if !failing {
                    tracing::debug!(
                        target: "chaos",
                        store = %url,
                        error = %err,
                        "cannot listen for chaos changes: polling until it works"
                    );
                }
                failing = true;
            }
        }
        // Requests that came while the connection was down: their callers use the pool.
        while requests.try_recv().is_ok() {}
        wait = (wait * 2).clamp(MIN_LISTEN_BACKOFF, MAX_LISTEN_BACKOFF);
    }
}
