//! `exercise start|hint|reveal|end|status`: secretly injected faults that developers must
//! detect and diagnose. The faults are ordinary stored actions (every app instance applies
//! them; they expire with the exercise) tagged `exercise`; `list` and `show` hide their
//! details until the exercise is revealed or ended.

use std::io::{self, Write};

use chaos_middleware::action::{Action, now_ms};
use chaos_middleware::gameday::{ExerciseForm, ExercisePlan, HINTS, hint_text};
use chaos_middleware::store::{Exercise, ExerciseStart};
use chaos_middleware::{Naming, Store};

use crate::commands::count_actions;
use crate::commands::storm::storm_views;
use crate::error::CliError;
use crate::generate::{self, ExerciseOptions};
use crate::output;

/// `exercise` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Secretly inject random faults for everyone (one at a time: `exercise end` first).
    Start(Box<StartArgs>),
    /// Print the next hint: first which views are affected, then the kind of fault on each.
    Hint,
    /// Print the injected faults in full (and stop hiding them in `list` and `show`).
    Reveal,
    /// Remove the faults and print a summary of what was injected.
    End,
    /// Say whether an exercise is running and how long is left.
    Status,
}

/// Arguments of `exercise start`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Faults: slow responses (500ms..5s), a forced 5xx or 4xx status, or a \
    dropped connection on the views; an `error` on the fault points given with --point. \
    Without --view the faults may hit every view (`*`).\n\n\
    Examples:\n  \
    chaos-admin exercise start --view items --view checkout --for 1h\n  \
    chaos-admin exercise start --faults 2 --point db.items\n  \
    chaos-admin exercise start --start-at 2026-12-03T14:00:00+01:00 --for 2h   # a game day booked ahead\n  \
    chaos-admin exercise hint\n  \
    chaos-admin exercise reveal\n  \
    chaos-admin exercise end"
)]
pub struct StartArgs {
    /// A view the faults may hit (repeatable; default every view).
    #[arg(long = "view", value_name = "VIEW")]
    views: Vec<String>,

    /// A fault point that may return errors (repeatable).
    #[arg(long = "point", value_name = "NAME")]
    points: Vec<String>,

    /// How many faults to inject (1-20).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    faults: u32,

    /// How long the exercise lasts; its faults expire with it (default 1h).
    #[arg(long = "for", value_name = "DURATION", allow_hyphen_values = true)]
    for_duration: Option<String>,

    /// Chance per request of each fault (default: drawn per fault, 25% to 100%).
    #[arg(long, short = 'p', value_name = "P", allow_hyphen_values = true)]
    probability: Option<String>,

    /// Seed of the random generator (default random; shown by `reveal` and `end`).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,

    #[command(flatten)]
    timing: super::TimingArgs,

    /// Start even if a --view is not served by any live app instance (the players would
    /// hunt for a fault nobody can see).
    #[arg(long)]
    force: bool,
}

/// A checked `exercise` subcommand.
#[derive(Debug)]
pub enum Plan {
    /// Start an exercise.
    Start {
        /// `--view`s given (empty: every view).
        views: Vec<String>,
        /// `--point`s given.
        points: Vec<String>,
        /// How many, how likely, until when, which seed.
        options: ExerciseOptions,
        /// `--force`: start even on views no live instance serves.
        force: bool,
    },
    /// Give the next hint.
    Hint,
    /// Show the faults.
    Reveal,
    /// End the exercise.
    End,
    /// Say what runs.
    Status,
}

/// Checks the arguments of `exercise start` (the others take none).
pub fn plan(command: Command) -> Result<Plan, CliError> {
    let args = match command {
        Command::Start(args) => *args,
        Command::Hint => return Ok(Plan::Hint),
        Command::Reveal => return Ok(Plan::Reveal),
        Command::End => return Ok(Plan::End),
        Command::Status => return Ok(Plan::Status),
    };
    let form = ExerciseForm {
        views: args.views,
        points: args.points,
        faults: Some(args.faults),
        for_duration: args.for_duration,
        probability: args.probability,
        seed: args.seed,
        force: args.force,
        start_at: args.timing.start_at,
        between: args.timing.between,
        days: args.timing.days,
        tz: args.timing.tz,
    };
    let ExercisePlan {
        views,
        points,
        options,
    } = form.build(Naming::Flags, now_ms())?;
    Ok(Plan::Start {
        views,
        points,
        options,
        force: args.force,
    })
}

/// Carries out the subcommand.
pub async fn run(plan: Plan, store: &Store) -> Result<(), CliError> {
    let text = match plan {
        Plan::Start {
            views,
            points,
            options,
            force,
        } => start(store, views, &points, &options, force).await?,
        Plan::Hint => hint(store).await?,
        Plan::Reveal => reveal(store).await?,
        Plan::End => end(store).await?,
        Plan::Status => status(store).await?,
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    output::ignore_broken_pipe(write!(out, "{text}"))?;
    Ok(())
}

async fn start(
    store: &Store,
    views: Vec<String>,
    points: &[String],
    options: &ExerciseOptions,
    force: bool,
) -> Result<String, CliError> {
    let views = if views.is_empty() {
        storm_views(store).await?
    } else {
        let unknown = super::views::unknown_views(store, &views).await;
        if let Some((name, close)) = unknown.first() {
            let described = super::views::describe_unknown(name, close);
            if !force {
                return Err(CliError::usage(format!(
                    "no live app instance serves the view {described}: the players would hunt for a fault nobody can see; fix the name (see `chaos-admin views`) or pass --force"
                )));
            }
            eprintln!(
                "warning: no live app instance serves the view {described}; started anyway (--force)"
            );
        }
        views
    };
    let specs = generate::exercise(&views, points, options);
    let (exercise, closed) = match store
        .start_exercise(&specs, options.seed, options.expires_at)
        .await?
    {
        ExerciseStart::Started { exercise, closed } => (exercise, closed),
        ExerciseStart::AlreadyRunning(running) => {
            return Err(CliError::usage(format!(
                "exercise {} is already running (started {}, ends {}): one exercise at a time, \
                 end it first with `chaos-admin exercise end`",
                running.id,
                output::timestamp(running.started_at),
                output::timestamp(running.expires_at),
            )));
        }
    };
    let mut text = String::new();
    for id in closed {
        text.push_str(&format!(
            "closed exercise {id}: it had expired without `exercise end`\n"
        ));
    }
    let count = exercise.action_ids.len();
    let plural = if count == 1 { "fault" } else { "faults" };
    if let Some(timing) = options.timing.describe() {
        text.push_str(&format!("{timing}\n"));
    }
    text.push_str(&format!(
        "exercise {} started: {count} hidden {plural} for everyone until {} ({}).\n\
         Find out what is wrong from the app's behaviour, logs and metrics.\n  \
         chaos-admin exercise hint      a hint (first the views, then the kind of fault)\n  \
         chaos-admin exercise reveal    show the faults\n  \
         chaos-admin exercise end       remove them and print a summary\n",
        exercise.id,
        output::timestamp(exercise.expires_at),
        span(exercise.expires_at.saturating_sub(exercise.started_at)),
    ));
    Ok(text)
}

/// The latest exercise not ended, or exit 2 naming what to do.
async fn current(store: &Store, verb: &str) -> Result<Exercise, CliError> {
    store.current_exercise().await?.ok_or_else(|| {
        CliError::usage(format!(
            "no exercise to {verb}: none is running (start one with `chaos-admin exercise start`)"
        ))
    })
}

/// The exercise's actions still stored, in id order.
async fn faults(store: &Store, exercise: &Exercise) -> Result<Vec<Action>, CliError> {
    let listing = store.list().await?;
    Ok(listing
        .actions
        .into_iter()
        .filter(|action| exercise.action_ids.contains(&action.id))
        .collect())
}

async fn hint(store: &Store) -> Result<String, CliError> {
    let exercise = current(store, "hint at").await?;
    if exercise.hints_given >= HINTS {
        return Ok("no more hints: `chaos-admin exercise reveal` shows the faults\n".to_owned());
    }
    let actions = faults(store, &exercise).await?;
    if actions.is_empty() {
        return Ok(
            "the exercise has no faults left (they were deleted); `chaos-admin exercise end` closes it\n"
                .to_owned(),
        );
    }
    let given = store.record_exercise_hint(exercise.id).await?;
    Ok(hint_text(given, &actions))
}

async fn reveal(store: &Store) -> Result<String, CliError> {
    let exercise = current(store, "reveal").await?;
    store.reveal_exercise(exercise.id).await?;
    let actions = faults(store, &exercise).await?;
    let now = now_ms();
    let mut text = format!(
        "exercise {} (seed {}), started {}, {}; {}:\n",
        exercise.id,
        exercise.seed,
        output::timestamp(exercise.started_at),
        remaining(&exercise, now),
        injected(exercise.action_ids.len()),
    );
    text.push_str(&fault_table(&actions, now)?);
    Ok(text)
}

async fn end(store: &Store) -> Result<String, CliError> {
    let exercise = current(store, "end").await?;
    let actions = faults(store, &exercise).await?;
    let removed = store.end_exercise(exercise.id).await?;
    let now = now_ms();
    let left = if exercise.expires_at > now {
        format!(
            "had {} left until its end at {}",
            span(exercise.expires_at.saturating_sub(now)),
            output::timestamp(exercise.expires_at)
        )
    } else {
        format!("had expired at {}", output::timestamp(exercise.expires_at))
    };
    let mut text = format!(
        "exercise {} ended. It started {} ({} ago) and {left}.\n",
        exercise.id,
        output::timestamp(exercise.started_at),
        span(now.saturating_sub(exercise.started_at)),
    );
    text.push_str(&format!(
        "Injected (seed {}, hints given {} of {HINTS}):\n",
        exercise.seed, exercise.hints_given
    ));
    text.push_str(&fault_table(&actions, now)?);
    text.push_str(&format!("removed {}\n", count_actions(removed)));
    Ok(text)
}

async fn status(store: &Store) -> Result<String, CliError> {
    let Some(exercise) = store.current_exercise().await? else {
        return Ok("no exercise is running\n".to_owned());
    };
    let now = now_ms();
    let state = if exercise.is_running_at(now) {
        "running"
    } else {
        "expired (its faults are inert; `chaos-admin exercise end` prints the summary)"
    };
    let revealed = if exercise.revealed_at.is_some() {
        ", revealed"
    } else {
        ""
    };
    Ok(format!(
        "exercise {} {state}: {}, started {}, {}; hints given {} of {HINTS}{revealed}\n",
        exercise.id,
        injected(exercise.action_ids.len()),
        output::timestamp(exercise.started_at),
        remaining(&exercise, now),
        exercise.hints_given,
    ))
}

fn injected(count: usize) -> String {
    if count == 1 {
        "1 fault".to_owned()
    } else {
        format!("{count} faults")
    }
}

/// `runs until T (12m left)` or `expired at T (3m ago)`.
fn remaining(exercise: &Exercise, now: i64) -> String {
    if exercise.expires_at > now {
        format!(
            "runs until {} ({} left)",
            output::timestamp(exercise.expires_at),
            span(exercise.expires_at.saturating_sub(now))
        )
    } else {
        format!(
            "expired at {} ({} ago)",
            output::timestamp(exercise.expires_at),
            span(now.saturating_sub(exercise.expires_at))
        )
    }
}

/// A duration in whole seconds, as humantime writes it.
fn span(ms: i64) -> String {
    let seconds = u64::try_from(ms).unwrap_or(0) / 1000;
    output::millis(seconds * 1000)
}

fn fault_table(actions: &[Action], now: i64) -> Result<String, CliError> {
    if actions.is_empty() {
        return Ok("  (no faults left in the store)\n".to_owned());
    }
    let rows: Vec<Vec<String>> = actions
        .iter()
        .map(|action| output::action_cells(action, now))
        .collect();
    let mut buffer = Vec::new();
    output::write_table(
        &mut buffer,
        &["ID", "STATE", "KIND", "VERB", "TARGET", "DETAIL", "PROB"],
        &rows,
    )?;
    Ok(String::from_utf8_lossy(&buffer).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chaos_middleware::{ActionSpec, Fault, Kind, Phase};

    fn action(id: i64, kind: Kind, target: &str, fault: Fault) -> Action {
        Action {
            id,
            spec: ActionSpec::new(kind, target, fault),
            created_at: 0,
            updated_at: 0,
            created_by: None,
        }
    }

    #[test]
    fn hints_get_more_specific() {
        let actions = [
            action(
                1,
                Kind::Response,
                "items",
                Fault::Slow {
                    min_ms: 500,
                    max_ms: 900,
                    phase: Phase::Before,
                },
            ),
            action(
                2,
                Kind::Response,
                "checkout",
                Fault::Return {
                    status: 503,
                    body: None,
                },
            ),
            action(3, Kind::Point, "db.items", Fault::Error { message: None }),
        ];
        let first = hint_text(1, &actions);
        assert!(
            first.contains("view items, view checkout, fault point db.items"),
            "{first}"
        );
        assert!(!first.contains("slow") && !first.contains("5xx"), "{first}");
        let second = hint_text(2, &actions);
        assert!(second.contains("view items: slow responses"), "{second}");
        assert!(
            second.contains("view checkout: server errors (5xx)"),
            "{second}"
        );
        assert!(second.contains("fault point db.items: errors"), "{second}");
        assert!(
            !second.contains("503") && !second.contains("500ms"),
            "{second}"
        );
        assert!(hint_text(3, &actions).contains("exercise reveal"));
    }
}
