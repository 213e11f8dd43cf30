//! `purge --expired`: remove actions whose expiry has passed.

use chaos_middleware::Store;

use crate::commands::count_actions;
use crate::error::CliError;

/// Arguments of `purge`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove every action whose expiry has passed (required: it says what is purged).
    #[arg(long)]
    expired: bool,
}

/// Nothing to choose beyond the flag.
#[derive(Debug)]
pub struct Plan;

/// Checks that `--expired` was given.
pub fn plan(args: Args) -> Result<Plan, CliError> {
    if !args.expired {
        return Err(CliError::usage(
            "purge needs --expired: it removes only actions whose expiry has passed",
        ));
    }
    Ok(Plan)
}

/// Deletes the expired actions and says how many.
pub async fn run(_plan: Plan, store: &Store) -> Result<(), CliError> {
    let purged = store.purge_expired().await?;
    println!("purged {}", count_actions(purged));
    Ok(())
}
