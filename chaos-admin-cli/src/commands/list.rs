//! `list`: every action as an aligned table, or a JSON array with `--json`.

use std::io::{self, Write};

use chaos_middleware::Store;
use chaos_middleware::action::now_ms;
use serde_json::Value;

use crate::error::CliError;
use crate::{hidden, output};

/// Arguments of `list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print a JSON array (each action with a computed "state") instead of a table.
    #[arg(long)]
    json: bool,
}

/// What to print.
#[derive(Debug)]
pub struct Plan {
    json: bool,
}

/// Nothing to check.
pub fn plan(args: Args) -> Plan {
    Plan { json: args.json }
}

const HEADER: [&str; 10] = [
    "ID", "STATE", "KIND", "VERB", "TARGET", "DETAIL", "PROB", "USERS", "TAG", "NOTE",
];

/// Prints the listing; rows the store cannot read are warned about on stderr.
pub async fn run(plan: Plan, store: &Store) -> Result<(), CliError> {
    let listing = store.list().await?;
    output::warn_corrupt(&listing.corrupt);
    // A running exercise's faults are listed as existing, with no details.
    let hidden_ids = store.hidden_action_ids().await?;
    let now = now_ms();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if plan.json {
        let actions = listing
            .actions
            .iter()
            .map(|action| {
                if hidden_ids.contains(&action.id) {
                    Ok(hidden::json(action, now))
                } else {
                    output::action_json(action, now)
                }
            })
            .collect::<Result<Vec<Value>, _>>()?;
        let result = serde_json::to_writer_pretty(&mut out, &actions)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out));
        output::ignore_broken_pipe(result)?;
        return Ok(());
    }
    if listing.actions.is_empty() {
        output::ignore_broken_pipe(writeln!(out, "no chaos actions"))?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = listing
        .actions
        .iter()
        .map(|action| {
            if hidden_ids.contains(&action.id) {
                return hidden::row(action, now, &HEADER);
            }
            let mut cells = output::action_cells(action, now);
            cells.extend([
                audience(&action.spec.users, &action.spec.groups),
                action.spec.tag.clone().unwrap_or_default(),
                action.spec.note.clone().unwrap_or_default(),
            ]);
            cells
        })
        .collect();
    output::ignore_broken_pipe(output::write_table(&mut out, &HEADER, &rows))?;
    Ok(())
}

/// The USERS cell: `*` for everyone, else the users and `group:NAME` for each group.
fn audience(users: &[String], groups: &[String]) -> String {
    if groups.is_empty() {
        return output::who(users);
    }
    users
        .iter()
        .cloned()
        .chain(groups.iter().map(|group| format!("group:{group}")))
        .collect::<Vec<_>>()
        .join(",")
}
