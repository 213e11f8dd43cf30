//! `guard`: chaos that stops itself when the app's own users are hurt (see
//! `chaos_middleware::guard`): `set`, `list`, `clear`, `reset`.

use std::io::{self, Write};

use chaos_middleware::Store;
use chaos_middleware::guard::{
    DEFAULT_MIN_REQUESTS, DEFAULT_WINDOW_MS, Guard, GuardForm, GuardSpec,
};

use crate::error::CliError;
use crate::output;

/// The `guard` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Stop all chaos when the app's own error rate or p99 goes over a limit.
    Set(SetArgs),
    /// List the guards and whether one tripped.
    List(ListArgs),
    /// Remove one guard (by id) or all of them.
    Clear(ClearArgs),
    /// Re-arm tripped guards: chaos resumes on every instance.
    Reset,
}

/// Arguments of `guard set`.
#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// Trip when more than this share of the app's own responses are errors (status ≥
    /// 500): `5%`, `0.5%` or `0.05`.
    #[arg(long, allow_hyphen_values = true, value_name = "RATE")]
    pub max_error_rate: Option<String>,
    /// Trip when the p99 latency of the app's own responses (without injected delay)
    /// is above this: `2s`, `750ms`.
    #[arg(long, allow_hyphen_values = true, value_name = "DURATION")]
    pub max_p99: Option<String>,
    /// The sliding window the rate and p99 are measured over (5s to 1h).
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "DURATION",
        default_value = "60s"
    )]
    pub window: String,
    /// Only this view (a view name or route pattern); default: every response.
    #[arg(long, value_name = "VIEW")]
    pub view: Option<String>,
    /// Least number of responses in the window before the guard may trip.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MIN_REQUESTS)]
    pub min_requests: u64,
}

/// Arguments of `guard list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `guard clear`.
#[derive(Debug, clap::Args)]
pub struct ClearArgs {
    /// The guard to remove.
    #[arg(
        value_name = "ID",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub id: Option<i64>,
    /// Remove every guard.
    #[arg(long)]
    pub all: bool,
}

/// A checked `guard` command.
#[derive(Debug)]
pub enum Plan {
    /// Store this guard.
    Set(GuardSpec),
    /// List (JSON when true).
    List(bool),
    /// Remove one guard or all.
    Clear(Option<i64>),
    /// Re-arm.
    Reset,
}

/// Checks the arguments without touching the store.
pub fn plan(command: Command) -> Result<Plan, CliError> {
    Ok(match command {
        Command::Set(args) => Plan::Set(
            GuardForm {
                max_error_rate: args.max_error_rate,
                max_p99: args.max_p99,
                window: Some(args.window),
                view: args.view,
                min_requests: Some(args.min_requests),
            }
            .into_spec()?,
        ),
        Command::List(args) => Plan::List(args.json),
        Command::Clear(args) => Plan::Clear(if args.all { None } else { args.id }),
        Command::Reset => Plan::Reset,
    })
}

/// Whether the plan changes the store.
pub fn writes(plan: &Plan) -> bool {
    !matches!(plan, Plan::List(_))
}

/// The lines that say a guard tripped and chaos is off (empty when none did), for
/// `guard list`, `list` and `status`.
pub fn tripped_banner(guards: &[Guard]) -> String {
    let mut text = String::new();
    for guard in guards {
        if let Some(trip) = &guard.tripped {
            let source = if trip.by.is_empty() {
                String::new()
            } else {
                format!(" (instance {}, {})", trip.by, output::timestamp(trip.at))
            };
            text.push_str(&format!(
                "GUARD TRIPPED: {} — {}{source}. All chaos is off; `chaos-admin guard reset` re-arms it.\n",
                guard.describe(),
                trip.detail,
            ));
        }
    }
    text
}

/// Runs the plan.
pub async fn run(plan: Plan, store: &Store) -> Result<(), CliError> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let text = match plan {
        Plan::Set(spec) => {
            let id = store.set_guard(&spec).await?;
            format!("{id}\n")
        }
        Plan::List(json) => {
            let guards = store.guards().await?;
            if json {
                let mut document = serde_json::to_value(&guards)?;
                if let Some(items) = document.as_array_mut() {
                    for item in items {
                        output::rfc3339_fields(item, &["created_at"]);
                    }
                }
                format!("{}\n", serde_json::to_string_pretty(&document)?)
            } else if guards.is_empty() {
                format!(
                    "no guards: chaos does not stop by itself (e.g. `chaos-admin guard set --max-error-rate 5% --window {}s`)\n",
                    DEFAULT_WINDOW_MS / 1000
                )
            } else {
                let mut text = tripped_banner(&guards);
                for guard in &guards {
                    let state = if guard.tripped.is_some() {
                        "tripped"
                    } else {
                        "armed"
                    };
                    text.push_str(&format!("{} [{state}]\n", guard.describe()));
                }
                text
            }
        }
        Plan::Clear(id) => {
            let removed = store.clear_guards(id).await?;
            format!("removed {removed} guard(s)\n")
        }
        Plan::Reset => {
            let reset = store.reset_guards().await?;
            if reset == 0 {
                "no guard was tripped\n".to_owned()
            } else {
                format!("re-armed {reset} guard(s): chaos resumes on every instance\n")
            }
        }
    };
    output::ignore_broken_pipe(out.write_all(text.as_bytes()))?;
    Ok(())
}
