//! `notify`: webhooks told about every change to the chaos (see
//! `chaos_middleware::notification`): `add`, `list`, `remove`, `test`, `deliver`.

use std::io::{self, Write};
use std::time::Duration;

use chaos_middleware::Store;
use chaos_middleware::notification::deliver::Deliverer;
use chaos_middleware::notification::{Event, EventKind, parse_events, validate_url};

use crate::error::CliError;
use crate::output;

/// The `notify` subcommands.
#[derive(Debug, clap::Subcommand)]
#[command(
    after_help = "Events: action.created, action.enabled, action.disabled, \
    action.deleted, action.expired, storm.started, storm.ended, exercise.started, \
    exercise.ended, guard.tripped, guard.reset, experiment.started, experiment.deviated, \
    experiment.ended, test; groups such as guard.* ; * for all (the default).\n\n\
    Each event is posted as JSON with a Slack-compatible `text` field, retried with \
    backoff (1s, 2s, 4s, ... 6 attempts). App instances, `chaos-admin serve` and a \
    short-lived process the CLI starts after a change deliver them; failures show in \
    `notify list`.\n\n\
    Examples:\n  \
    chaos-admin notify add https://hooks.slack.com/services/T000/B000/XXX --events guard.*,storm.*\n  \
    chaos-admin notify list\n  \
    chaos-admin notify test\n  \
    chaos-admin notify remove 2"
)]
pub enum Command {
    /// Store a webhook: events are posted to URL.
    Add(AddArgs),
    /// List the webhooks with their deliveries and last error.
    List(ListArgs),
    /// Remove one webhook (by id) or all of them.
    Remove(RemoveArgs),
    /// Send a `test` event to every webhook that wants it.
    Test,
    /// Deliver the queued notifications now, retrying failures until done or --for passes.
    Deliver(DeliverArgs),
}

/// Arguments of `notify add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Where to post (http:// or https://).
    #[arg(value_name = "URL")]
    pub url: String,
    /// Only these events (repeatable or comma-separated; default all).
    #[arg(long = "events", value_name = "EVENTS")]
    pub events: Vec<String>,
}

/// Arguments of `notify list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `notify remove`.
#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The webhook to remove.
    #[arg(
        value_name = "ID",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub id: Option<i64>,
    /// Remove every webhook.
    #[arg(long)]
    pub all: bool,
}

/// Arguments of `notify deliver`.
#[derive(Debug, clap::Args)]
pub struct DeliverArgs {
    /// Give up waiting for retries after this long (the queue keeps what is left).
    #[arg(long = "for", value_name = "DURATION", default_value = "2m")]
    pub for_duration: String,
    /// Print nothing (the CLI's own background delivery).
    #[arg(long)]
    pub quiet: bool,
}

/// A checked `notify` command.
#[derive(Debug)]
pub enum Plan {
    /// Store a webhook.
    Add {
        /// Checked URL.
        url: String,
        /// Checked event names.
        events: Vec<String>,
    },
    /// List (JSON when true).
    List(bool),
    /// Remove one or all.
    Remove(Option<i64>),
    /// Queue a test event.
    Test,
    /// Deliver for at most this long; quietly when true.
    Deliver(Duration, bool),
}

/// Checks the arguments without touching the store.
pub fn plan(command: Command) -> Result<Plan, CliError> {
    Ok(match command {
        Command::Add(args) => Plan::Add {
            url: validate_url(&args.url)?,
            events: parse_events(&args.events)?,
        },
        Command::List(args) => Plan::List(args.json),
        Command::Remove(args) => Plan::Remove(if args.all { None } else { args.id }),
        Command::Test => Plan::Test,
        Command::Deliver(args) => {
            let ms = chaos_middleware::time::parse_duration_ms(&args.for_duration)?;
            if ms > 3_600_000 {
                return Err(CliError::usage(format!(
                    "--for '{}' is too long: allowed is at most 1h (the app instances and `chaos-admin serve` deliver for as long as they run)",
                    args.for_duration
                )));
            }
            Plan::Deliver(Duration::from_millis(ms), args.quiet)
        }
    })
}

/// Whether the plan changes the store (and so needs it created).
pub fn writes(plan: &Plan) -> bool {
    !matches!(plan, Plan::List(_))
}

/// Whether the plan delivers by itself (no background delivery afterwards).
pub fn delivers(plan: &Plan) -> bool {
    matches!(plan, Plan::Deliver(..))
}

/// Runs the plan.
pub async fn run(plan: Plan, store: &Store) -> Result<(), CliError> {
    let text = match plan {
        Plan::Add { url, events } => {
            let id = store.add_webhook(&url, &events).await?;
            format!("{id}\n")
        }
        Plan::List(json) => list(store, json).await?,
        Plan::Remove(id) => {
            let removed = store.remove_webhooks(id).await?;
            format!("removed {removed} webhook(s)\n")
        }
        Plan::Test => {
            let event = Event::new(
                EventKind::Test,
                format!("test notification from {}", store.location()),
            );
            let queued = store.emit(&event).await?;
            if queued == 0 {
                "no webhook wants `test` events: add one with `chaos-admin notify add URL`\n"
                    .to_owned()
            } else {
                format!(
                    "queued a test event for {queued} webhook(s); `chaos-admin notify list` shows how it went\n"
                )
            }
        }
        Plan::Deliver(limit, quiet) => {
            let round = Deliverer::new(store.clone()).drain(limit).await?;
            let left = store.pending_deliveries().await?;
            if quiet {
                String::new()
            } else {
                format!(
                    "sent {}, failed attempts {}, still queued {left}\n",
                    round.sent, round.failed
                )
            }
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    output::ignore_broken_pipe(out.write_all(text.as_bytes()))?;
    Ok(())
}

async fn list(store: &Store, json: bool) -> Result<String, CliError> {
    let hooks = store.webhooks().await?;
    if json {
        let mut document = serde_json::to_value(&hooks)?;
        if let Some(items) = document.as_array_mut() {
            for item in items {
                output::rfc3339_fields(item, &["created_at", "last_error_at"]);
            }
        }
        return Ok(format!("{}\n", serde_json::to_string_pretty(&document)?));
    }
    if hooks.is_empty() {
        return Ok(
            "no webhooks: nobody is told about chaos (e.g. `chaos-admin notify add https://hooks.slack.com/services/...`)\n"
                .to_owned(),
        );
    }
    let now = chaos_middleware::action::now_ms();
    let rows: Vec<Vec<String>> = hooks
        .iter()
        .map(|hook| {
            let error = match (&hook.last_error, hook.last_error_at) {
                (Some(error), Some(at)) => format!("{} ({error})", output::ago(now, at)),
                (Some(error), None) => error.clone(),
                _ => "-".to_owned(),
            };
            let url = match &hook.problem {
                Some(problem) => format!("{} (broken row: {problem})", hook.url),
                None => hook.url.clone(),
            };
            vec![
                hook.id.to_string(),
                url,
                if hook.events.is_empty() {
                    "*".to_owned()
                } else {
                    hook.events.join(",")
                },
                hook.delivered.to_string(),
                hook.failed.to_string(),
                hook.pending.to_string(),
                error,
            ]
        })
        .collect();
    let mut out = Vec::new();
    output::write_table(
        &mut out,
        &[
            "ID",
            "URL",
            "EVENTS",
            "DELIVERED",
            "FAILED",
            "PENDING",
            "LAST ERROR",
        ],
        &rows,
    )?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Starts `chaos-admin notify deliver` in the background for `database_url` when this
/// command queued deliveries, so a command never waits for a webhook. It outlives this
/// process (its own process group, no terminal), stops after 40 s (five retries of a
/// failing webhook), and leaves what is left to the app instances or `serve`.
pub async fn deliver_in_background(store: &Store, database_url: &str) {
    // Only when this command queued something: a command that changed nothing, or a
    // queue someone else filled, starts no process.
    if store.queued_deliveries() == 0 {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut command = std::process::Command::new(exe);
    command
        .args([
            "notify",
            "deliver",
            "--quiet",
            "--no-dotenv",
            "--no-wait",
            "--for",
            "40s",
        ])
        // The URL in the environment, not on the command line (`ps` shows arguments).
        .env("CHAOS_DATABASE_URL", database_url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    if let Err(err) = command.spawn() {
        eprintln!(
            "warning: cannot start the notification delivery ({err}): the app instances deliver it, or run `chaos-admin notify deliver`"
        );
    }
}
