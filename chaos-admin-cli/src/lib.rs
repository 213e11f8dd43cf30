//! `chaos-admin` as a library: the command line ([`cli`]) and the Chaos Toolkit-compatible
//! experiment engine ([`experiment`]), so Rust teams can run experiment files in
//! `cargo test` (see [`experiment::ExperimentRun`]).

pub mod cli;
mod commands;
mod confirm;
mod error;
pub mod experiment;
use chaos_middleware::gameday::generate;
mod hidden;
mod output;
