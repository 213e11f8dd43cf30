//! `show <id>`: one action as `key: value` lines, or a JSON object with `--json`.

use std::io::{self, Write};

use chaos_middleware::action::now_ms;
use chaos_middleware::{Action, Fault, Store, StoreError};

use crate::commands::parse_id;
use crate::error::CliError;
use crate::{hidden, output};

/// Arguments of `show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The action's id (see `chaos-admin list`).
    #[arg(value_name = "ID", allow_negative_numbers = true)]
    id: String,

    /// Print a JSON object (with a computed "state") instead of key: value lines.
    #[arg(long)]
    json: bool,
}

/// Which action, printed how.
#[derive(Debug)]
pub struct Plan {
    id: i64,
    json: bool,
}

/// Checks the id.
pub fn plan(args: Args) -> Result<Plan, CliError> {
    Ok(Plan {
        id: parse_id(&args.id)?,
        json: args.json,
    })
}

/// Prints the action, or fails with exit 2 if there is no such id. A row that cannot be
/// read is shown as broken (id, state, what is wrong), exit 0, so it can be deleted.
pub async fn run(plan: Plan, store: &Store) -> Result<(), CliError> {
    let listing = store.list().await?;
    if let Some(broken) = listing.corrupt.iter().find(|c| c.id == Some(plan.id)) {
        let text = if plan.json {
            serde_json::to_string_pretty(&output::broken_json(broken))?
        } else {
            output::broken_lines(broken)
        };
        output::ignore_broken_pipe(writeln!(io::stdout().lock(), "{text}"))?;
        return Ok(());
    }
    let Some(action) = listing.actions.into_iter().find(|a| a.id == plan.id) else {
        return Err(StoreError::UnknownIds(vec![plan.id]).into());
    };
    let now = now_ms();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    // A running exercise's fault: that it exists, nothing more.
    let text = if store.hidden_action_ids().await?.contains(&action.id) {
        if plan.json {
            serde_json::to_string_pretty(&hidden::json(&action, now))?
        } else {
            hidden::lines(&action, now)
        }
    } else if plan.json {
        serde_json::to_string_pretty(&output::action_json(&action, now)?)?
    } else {
        render(&action, now)
    };
    output::ignore_broken_pipe(writeln!(out, "{text}"))?;
    Ok(())
}

fn render(action: &Action, now: i64) -> String {
    let spec = &action.spec;
    let mut lines: Vec<(&str, String)> = vec![
        ("id", action.id.to_string()),
        ("state", output::state(action, now).to_owned()),
        ("kind", spec.kind.to_string()),
        ("verb", spec.fault.verb().to_owned()),
        ("target", spec.target.clone()),
    ];
    match &spec.fault {
        Fault::Slow {
            min_ms,
            max_ms,
            phase,
        } => {
            lines.push(("min", output::short_millis(*min_ms)));
            lines.push(("max", output::short_millis(*max_ms)));
            lines.push(("phase", phase.as_str().to_owned()));
        }
        Fault::Error { message } => {
            if let Some(message) = message {
                lines.push(("message", format!("{message:?}")));
            }
        }
        Fault::Abort | Fault::Panic => {}
        Fault::Return { status, body } => {
            lines.push(("status", status.to_string()));
            if let Some(body) = body {
                lines.push(("body", format!("{body:?}")));
            }
        }
    }
    lines.push(("probability", output::percent(spec.probability)));
    lines.push(("users", output::who(&spec.users)));
    lines.push(("groups", output::who(&spec.groups)));
    lines.push(("hosts", output::who(&spec.hosts)));
    lines.push(("methods", output::who(&spec.methods)));
    lines.push(("enabled", spec.enabled.to_string()));
    if let Some(at) = spec.starts_at {
        lines.push(("starts_at", output::timestamp(at)));
    }
    if let Some(window) = &spec.window {
        lines.push(("window", window.to_string()));
    }
    if spec.starts_at.is_some() || spec.window.is_some() {
        lines.push((
            "when",
            chaos_middleware::action::describe::when(action, now),
        ));
    }
    if let Some(at) = spec.expires_at {
        lines.push(("expires_at", output::timestamp(at)));
    }
    if let Some(tag) = &spec.tag {
        lines.push(("tag", tag.clone()));
    }
    if let Some(note) = &spec.note {
        lines.push(("note", note.clone()));
    }
    lines.push(("created_at", output::timestamp(action.created_at)));
    lines.push(("updated_at", output::timestamp(action.updated_at)));
    if let Some(by) = &action.created_by {
        lines.push(("created_by", by.clone()));
    }
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    lines
        .iter()
        .map(|(key, value)| format!("{:<width$} {}", format!("{key}:"), output::printable(value)))
        .collect::<Vec<_>>()
        .join("\n")
}
