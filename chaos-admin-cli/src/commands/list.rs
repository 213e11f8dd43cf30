//! `list`: every action as an aligned table, or a JSON array with `--json`.

use std::io::{self, Write};

use chaos_middleware::action::now_ms;
use chaos_middleware::store::CorruptRow;
use chaos_middleware::{Action, Listing, Store};
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

const HEADER: [&str; 15] = [
    "ID", "STATE", "KIND", "VERB", "TARGET", "DETAIL", "PROB", "WHO", "METHODS", "HOSTS",
    "EXPIRES", "WHEN", "FIRED", "TAG", "NOTE",
];

/// Prints the listing; rows the store cannot read are warned about on stderr.
pub async fn run(plan: Plan, store: &Store) -> Result<(), CliError> {
    let listing = store.list().await?;
    output::warn_corrupt(&listing.corrupt);
    // A running exercise's faults are listed as existing, with no details.
    let hidden_ids = store.hidden_action_ids().await?;
    let now = now_ms();
    // How often each action fired on the live instances (their heartbeats report it).
    let fired = chaos_middleware::store::fired_counts(&store.instances().await?, now);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    // Rows that cannot be read are listed too, as broken, in id order.
    let rows = merged(&listing);
    if plan.json {
        let actions = rows
            .iter()
            .map(|row| match row {
                Row::Broken(broken) => Ok(output::broken_json(broken)),
                Row::Action(action) if hidden_ids.contains(&action.id) => {
                    Ok(hidden::json(action, now))
                }
                Row::Action(action) => {
                    output::action_json_fired(action, now, fired.get(&action.id).copied())
                }
            })
            .collect::<Result<Vec<Value>, _>>()?;
        let result = serde_json::to_writer_pretty(&mut out, &actions)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out));
        output::ignore_broken_pipe(result)?;
        return Ok(());
    }
    // A tripped guard first: nothing listed below is being injected.
    let banner = crate::commands::guard::tripped_banner(&store.guards().await?);
    output::ignore_broken_pipe(out.write_all(banner.as_bytes()))?;
    // The table names the store it lists, so a wrong store shows at once.
    output::ignore_broken_pipe(writeln!(out, "store: {}", store.location()))?;
    if rows.is_empty() {
        output::ignore_broken_pipe(writeln!(out, "no chaos actions"))?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let action = match row {
                Row::Action(action) => action,
                Row::Broken(broken) => return broken_cells(broken),
            };
            if hidden_ids.contains(&action.id) {
                return hidden::row(action, now, &HEADER);
            }
            let mut cells = output::action_cells(action, now);
            cells.extend([
                audience(&action.spec.users, &action.spec.groups),
                output::who(&action.spec.methods),
                output::who(&action.spec.hosts),
                output::expires(action.spec.expires_at, now),
                chaos_middleware::action::describe::when(action, now),
                output::fired(fired.get(&action.id).copied()),
                action.spec.tag.clone().unwrap_or_default(),
                action.spec.note.clone().unwrap_or_default(),
            ]);
            cells
        })
        .collect();
    output::ignore_broken_pipe(output::write_table(&mut out, &HEADER, &rows))?;
    Ok(())
}

/// The WHO cell: `*` for everyone, else the users and `group:NAME` for each group.
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

/// One line of the listing: an action, or a row that cannot be read.
enum Row<'a> {
    Action(&'a Action),
    Broken(&'a CorruptRow),
}

/// Actions and broken rows together, by id (a row whose id is unreadable last).
fn merged(listing: &Listing) -> Vec<Row<'_>> {
    let mut rows: Vec<(i64, Row<'_>)> = listing
        .actions
        .iter()
        .map(|a| (a.id, Row::Action(a)))
        .chain(
            listing
                .corrupt
                .iter()
                .map(|c| (c.id.unwrap_or(i64::MAX), Row::Broken(c))),
        )
        .collect();
    rows.sort_by_key(|(id, _)| *id);
    rows.into_iter().map(|(_, row)| row).collect()
}

/// The table cells of a broken row: its id, `broken`, and what is wrong in DETAIL.
fn broken_cells(broken: &CorruptRow) -> Vec<String> {
    let mut cells = vec![String::new(); HEADER.len()];
    cells[0] = broken
        .id
        .map_or_else(|| "?".to_owned(), |id| id.to_string());
    cells[1] = "broken".to_owned();
    cells[5] = broken.reason.clone();
    cells
}
