//! The admin server as a fan-out: instances that take their actions from `chaos-admin
//! serve` over HTTP instead of holding a database connection each.
//!
//! At thousands of instances no database should hold a connection per instance. The
//! relay holds the store's connection (one listener on PostgreSQL) and answers long polls
//! (the pattern of feature-flag and proxy control planes):
//!
//! - `GET {base}/api/v1/relay/changes?generation=G&epoch=E&wait=S` answers at once when
//!   the store moved past generation `G` of store `E` (or is another store), with only
//!   the actions changed since (see [`Store::changes_since`](crate::Store::changes_since)),
//!   and otherwise after at most `S` seconds (0–60, default 0) with `"changes":
//!   "unchanged"`. Without `generation` and `epoch` it answers with every action. Every
//!   waiting poll is woken by one shared watcher of the store's change counters, and one
//!   read of the store answers every poll that stands at the same position.
//! - `POST {base}/api/v1/relay/instances` registers an instance (or refreshes its
//!   heartbeat) in the store, so `chaos-admin status` and `views` count it.
//! - `DELETE {base}/api/v1/relay/instances/{id}` removes it (a clean shutdown).
//! - `POST {base}/api/v1/relay/guards/{id}/trip` records that an instance measured guard
//!   `id` exceeded (body: a [`crate::guard::Trip`]), which stops every instance.
//!
//! The layer subscribes with `ChaosLayer::builder().database_url("http://host:8900")`
//! (the token as the URL's password, `http://:TOKEN@host:8900`, or
//! [`relay_token`](crate::ChaosLayerBuilder::relay_token)) and keeps the same guarantees as
//! on a database: requests never wait on the relay, the last snapshot stays in force
//! while it is unreachable, and it reconnects with backoff (200 ms doubling to 5 s).
//! Relay servers keep no state of their own, so several can run behind a load balancer.
//!
//! The feed carries every action, hidden exercise actions included (the instances must
//! inject them): give instances their own token (`chaos-admin serve --relay-token-file`),
//! not the operators'.

pub(crate) mod client;
pub use client::RELAY_TOKEN_ENV;
#[cfg(feature = "admin")]
pub mod server;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::Action;
use crate::guard::Guard;
use crate::store::{Changes, CorruptRow, InstanceInfo, Listing, Position};

/// Whether a store URL names a relay (`http://` or `https://`, any case) rather than a
/// database.
pub fn is_relay_url(url: &str) -> bool {
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
}

/// The path of the change feed under the server's root.
pub const CHANGES_PATH: &str = "/api/v1/relay/changes";
/// The path instances register at (and, with `/{id}`, deregister).
pub const INSTANCES_PATH: &str = "/api/v1/relay/instances";
/// Where an instance reports a guard trip: `{GUARDS_PATH}/{id}/trip`.
pub const GUARDS_PATH: &str = "/api/v1/relay/guards";
/// The longest long poll a client may ask for (s).
pub const MAX_WAIT_SECONDS: u64 = 60;

/// One answer of the change feed.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChangesBody {
    /// The store generation the answer brings the reader to.
    pub generation: i64,
    /// The store's identity (a reader of another epoch must start over).
    pub epoch: i64,
    /// `unchanged`, `all` (replace everything) or `since` (apply on top).
    pub changes: ChangeKind,
    /// Actions written since (all actions for `all`), as the admin API shows them.
    #[serde(default)]
    pub actions: Vec<Value>,
    /// Rows that do not describe a valid action (drop the action they replace).
    #[serde(default)]
    pub corrupt: Vec<CorruptBody>,
    /// Ids of actions deleted since (`since` only).
    #[serde(default)]
    pub deleted: Vec<i64>,
    /// Every guard, when any changed (always for `all`; absent: keep the ones applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guards: Option<Vec<Guard>>,
}

/// What kind of answer a [`ChangesBody`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Nothing moved during the wait.
    Unchanged,
    /// Everything: replace what was applied.
    All,
    /// Only what changed: apply on top.
    Since,
}

/// A stored row that is not a valid action.
#[derive(Debug, Serialize, Deserialize)]
pub struct CorruptBody {
    /// The row's id, when it could be read.
    pub id: Option<i64>,
    /// What is wrong with it.
    pub reason: String,
}

impl ChangesBody {
    /// The answer for `changes`; `unchanged` answers carry `at`.
    #[cfg(feature = "admin")]
    pub(crate) fn from_changes(changes: &Changes, at: Position) -> Self {
        let body = |position: Position,
                    kind,
                    listing: &Listing,
                    deleted: &[i64],
                    guards: Option<&Vec<Guard>>| Self {
            generation: position.generation,
            epoch: position.epoch,
            changes: kind,
            actions: listing
                .actions
                .iter()
                .filter_map(|action| serde_json::to_value(action).ok())
                .collect(),
            corrupt: listing
                .corrupt
                .iter()
                .map(|row| CorruptBody {
                    id: row.id,
                    reason: row.reason.clone(),
                })
                .collect(),
            deleted: deleted.to_vec(),
            guards: guards.cloned(),
        };
        match changes {
            Changes::Unchanged => body(at, ChangeKind::Unchanged, &Listing::default(), &[], None),
            Changes::All {
                position,
                listing,
                guards,
            } => body(*position, ChangeKind::All, listing, &[], Some(guards)),
            Changes::Since {
                position,
                changed,
                deleted,
                guards,
            } => body(
                *position,
                ChangeKind::Since,
                changed,
                deleted,
                guards.as_ref(),
            ),
        }
    }

    /// The changes this answer describes, every action checked as a stored row is (one
    /// that does not parse or validate becomes a [`CorruptRow`] and is dropped).
    pub(crate) fn into_changes(self) -> Changes {
        let position = Position {
            generation: self.generation,
            epoch: self.epoch,
        };
        let mut listing = Listing::default();
        for value in self.actions {
            let id = value.get("id").and_then(Value::as_i64);
            let parsed = serde_json::from_value::<Action>(value)
                .map_err(|err| err.to_string())
                .and_then(|action| {
                    action
                        .spec
                        .validate_stored()
                        .map(|()| action)
                        .map_err(|err| err.to_string())
                });
            match parsed {
                Ok(action) => listing.actions.push(action),
                Err(reason) => listing.corrupt.push(CorruptRow { id, reason }),
            }
        }
        listing
            .corrupt
            .extend(self.corrupt.into_iter().map(|row| CorruptRow {
                id: row.id,
                reason: row.reason,
            }));
        // Guards checked as stored ones are: one that does not validate is dropped.
        let guards = self.guards.map(|guards| {
            guards
                .into_iter()
                .filter(|guard| guard.spec.validate().is_ok())
                .collect::<Vec<_>>()
        });
        match self.changes {
            ChangeKind::Unchanged => Changes::Unchanged,
            ChangeKind::All => Changes::All {
                position,
                listing,
                guards: guards.unwrap_or_default(),
            },
            ChangeKind::Since => Changes::Since {
                position,
                changed: listing,
                deleted: self.deleted,
                guards,
            },
        }
    }
}

/// What an instance reports at every heartbeat (the first one registers it).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    /// Who the instance is and what it serves.
    pub instance: InstanceInfo,
    /// The generation it applied last.
    pub generation: Option<i64>,
    /// When it applied it (Unix ms).
    pub applied_at: Option<i64>,
    /// Fault counts by action id: `[total, since the previous heartbeat]`.
    #[serde(default)]
    pub fired: Option<serde_json::Map<String, Value>>,
}
