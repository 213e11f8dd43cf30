//! In-process chaos for axum and tower services.
//!
//! Chaos actions (slow responses, forced statuses, ...) live in a SQLite, PostgreSQL or
//! MySQL/MariaDB store, written by the `chaos-admin` CLI (instances may also follow the
//! store through `chaos-admin serve`, see [`relay`]). [`ChaosLayer`] keeps an in-memory snapshot of
//! them, refreshed in the background when the store changes, and injects them into the
//! matching routes without touching the database on the request path.

pub mod action;
#[cfg(feature = "admin")]
pub mod admin;
mod fast_rng;
pub mod gameday;
pub mod guard;
mod layer;
pub mod notification;
mod point;
pub mod relay;
pub mod schedule;
mod snapshot;
pub mod store;
#[doc(hidden)]
pub mod testing;
pub mod time;
mod user;
mod views;

pub use action::{Action, ActionForm, ActionSpec, Fault, InvalidAction, Kind, Naming, Phase};
pub use layer::{
    BoxError, BuildError, ChaosAbort, ChaosHandle, ChaosLayer, ChaosLayerBuilder, ChaosService,
    ChaosStats, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_MAX_ACTIVE_DELAYS, DEFAULT_POLL_INTERVAL,
    DEFAULT_SQLITE_POLL_INTERVAL, DISABLE_ENV, ResponseFuture,
};
pub use point::{ChaosPointError, chaos_point, chaos_point_as};
pub use store::{Listing, Selection, Store, StoreError};
pub use user::{ChaosUser, RequestInfo, UserExtractor};
pub use views::ChaosViews;

/// The README's Rust examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
