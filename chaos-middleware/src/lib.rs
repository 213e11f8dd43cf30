//! In-process chaos for axum and tower services.

pub mod action;
pub mod store;
#[doc(hidden)]
pub mod testing;

pub use action::{Action, ActionSpec, Fault, InvalidAction, Kind};
pub use store::{Listing, Selection, Store, StoreError};
