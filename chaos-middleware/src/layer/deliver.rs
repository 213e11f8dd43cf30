//! The layer's notification deliverer: while the store is open, delivers the notifications
//! queued in it (see [`crate::notification`]) until shutdown; restarted when the store is
//! opened anew. Not for a relay store: `chaos-admin serve` delivers for its instances.

use tokio::sync::watch;

use super::listen::has_webhooks;
use super::reload::{AbortOnDrop, Published, Registry};
use crate::notification::deliver::Deliverer;

/// How long after the store opens the first check for webhooks waits (the listener's
/// connection is up by then, and start-up stays one connection).
const FIRST_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

pub(super) async fn deliver(
    mut published: watch::Receiver<Published>,
    stopped: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stopped);
    let mut current: Option<(String, bool)> = None;
    let mut _task: Option<AbortOnDrop> = None;
    loop {
        let open = match &published.borrow_and_update().registry {
            Some(Registry::Store { store, session }) => Some((store.clone(), session.clone())),
            Some(Registry::Relay(_)) | None => None,
        };
        let key = open
            .as_ref()
            .map(|(store, session)| (store.location().to_owned(), session.is_some()));
        if key != current {
            _task = open.map(|(store, session)| {
                let probe_store = store.clone();
                // Whether webhooks exist is asked over the listener's connection
                // (PostgreSQL), so an idle instance holds one connection, not two.
                let probe = move || {
                    let (store, session) = (probe_store.clone(), session.clone());
                    Box::pin(async move { has_webhooks(session.as_ref(), &store).await })
                        as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>
                };
                AbortOnDrop(tokio::spawn(Deliverer::new(store).run_probing(
                    std::future::pending(),
                    FIRST_CHECK,
                    probe,
                )))
            });
            current = key;
        }
        tokio::select! {
            changed = published.changed() => if changed.is_err() { return },
            () = &mut stopped => return,
        }
    }
}
