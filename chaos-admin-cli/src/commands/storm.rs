//! `storm`: random failures for chosen users or groups across the views, tagged `storm`,
//! created in one transaction and always expiring; `storm --end` removes them.

use std::io::{self, Write};

use chaos_middleware::action::now_ms;
use chaos_middleware::gameday::{StormForm, StormPlan};
use chaos_middleware::{Naming, Selection, Store};
use serde_json::{Value, json};

use crate::commands::count_actions;
use crate::error::CliError;
use crate::generate::{self, STORM_TAG, StormOptions};
use crate::output;

/// Arguments of `storm`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "A storm creates random actions aimed only at the named users and \
    groups (a storm never hits everyone): for each view, `slow` (100ms..1s minimum, up to 3s), \
    a forced 4xx/5xx `return` or an `abort`. Every action is tagged `storm` and expires.\n\n\
    Intensity: low = 1 action per view at half the probability, medium (default) = 2 at the \
    probability, high = 4 at twice the probability (at most 100%).\n\n\
    Without --view the storm covers every view (`*`).\n\n\
    Examples:\n  \
    chaos-admin storm --user alice --for 10m\n  \
    chaos-admin storm --group beta --intensity high --view items --view checkout\n  \
    chaos-admin storm --user alice --seed 42      # the same storm again\n  \
    chaos-admin storm --group beta --start-at 2026-12-01T10:00:00+01:00 --for 2h\n  \
    chaos-admin storm --end"
)]
pub struct Args {
    /// A user the storm hits (repeatable; --user or --group is required).
    #[arg(long = "user", value_name = "NAME")]
    users: Vec<String>,

    /// A group whose members the storm hits (repeatable).
    #[arg(long = "group", value_name = "NAME")]
    groups: Vec<String>,

    /// A view the storm covers (repeatable; default every view).
    #[arg(long = "view", value_name = "VIEW")]
    views: Vec<String>,

    /// Chance per request of each action: 3% or 0.03 (default 3%, times the intensity factor).
    #[arg(long, short = 'p', value_name = "P", allow_hyphen_values = true)]
    probability: Option<String>,

    /// How long the storm lasts (default 15m).
    #[arg(long = "for", value_name = "DURATION", allow_hyphen_values = true)]
    for_duration: Option<String>,

    /// Seed of the random generator: the same seed and views give the same storm.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,

    /// low, medium (default) or high: actions per view and probability factor.
    #[arg(long, value_name = "LEVEL")]
    intensity: Option<String>,

    #[command(flatten)]
    timing: super::TimingArgs,

    /// Print the storm as JSON (seed, expiry, actions) instead of a table.
    #[arg(long)]
    json: bool,

    /// Remove every storm action (tag `storm`) instead of starting a storm.
    #[arg(long, conflicts_with_all = [
        "users", "groups", "views", "probability", "for_duration", "seed", "intensity", "json",
        "between", "days", "tz", "start_at",
    ])]
    end: bool,
}

/// A checked storm, or the end of all storms.
#[derive(Debug)]
pub enum Plan {
    /// Create the storm's actions.
    Start {
        /// `--view`s given (empty: every view).
        views: Vec<String>,
        /// Who, how hard, until when, which seed.
        options: StormOptions,
        /// Whether the seed was chosen for the user.
        random_seed: bool,
        /// JSON output.
        json: bool,
    },
    /// Delete every storm action.
    End,
}

/// Checks every argument; picks a seed when none is given.
pub fn plan(args: Args) -> Result<Plan, CliError> {
    if args.end {
        return Ok(Plan::End);
    }
    let form = StormForm {
        users: args.users,
        groups: args.groups,
        views: args.views,
        probability: args.probability,
        for_duration: args.for_duration,
        seed: args.seed,
        intensity: args.intensity,
        start_at: args.timing.start_at,
        between: args.timing.between,
        days: args.timing.days,
        tz: args.timing.tz,
    };
    let StormPlan {
        views,
        options,
        random_seed,
    } = form.build(Naming::Flags, now_ms())?;
    Ok(Plan::Start {
        views,
        options,
        random_seed,
        json: args.json,
    })
}

/// The views a storm or an exercise covers when no `--view` is given (see
/// [`chaos_middleware::gameday::default_views`]).
pub async fn storm_views(store: &Store) -> Result<Vec<String>, CliError> {
    Ok(chaos_middleware::gameday::default_views(store).await?)
}

/// Creates the storm in one transaction and prints what it created, or ends every storm.
pub async fn run(plan: Plan, store: &Store) -> Result<(), CliError> {
    let (views, options, random_seed, json) = match plan {
        Plan::End => {
            let removed = store.delete(&Selection::Tag(STORM_TAG.to_owned())).await?;
            if removed == 0 {
                println!("no storm to end: no storm actions are stored");
            } else {
                println!("storm ended: removed {}", count_actions(removed));
            }
            return Ok(());
        }
        Plan::Start {
            views,
            options,
            random_seed,
            json,
        } => (views, options, random_seed, json),
    };
    let views = if views.is_empty() {
        storm_views(store).await?
    } else {
        for (name, close) in super::views::unknown_views(store, &views).await {
            eprintln!(
                "warning: no live app instance serves the view {}; the storm covers it anyway (see `chaos-admin views`)",
                super::views::describe_unknown(&name, &close)
            );
        }
        views
    };
    let specs = generate::storm(&views, &options);
    let ids = store.create_many(&specs).await?;
    let listing = store.list().await?;
    let actions: Vec<_> = listing
        .actions
        .into_iter()
        .filter(|action| ids.contains(&action.id))
        .collect();
    let now = now_ms();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if json {
        let actions = actions
            .iter()
            .map(|action| output::action_json(action, now))
            .collect::<Result<Vec<Value>, _>>()?;
        // The seed as a string: u64 seeds above 2^53 do not survive JSON readers
        // that use doubles (jq, JavaScript), and the seed must replay exactly.
        let mut value = json!({
            "seed": options.seed.to_string(),
            "intensity": options.intensity.as_str(),
            "expires_at": options.expires_at,
            "actions": actions,
        });
        output::rfc3339_fields(&mut value, &["expires_at"]);
        let text = serde_json::to_string_pretty(&value)?;
        output::ignore_broken_pipe(writeln!(out, "{text}"))?;
        return Ok(());
    }
    let mut whom = Vec::new();
    if !options.users.is_empty() {
        whom.push(format!("user {}", options.users.join(", ")));
    }
    if !options.groups.is_empty() {
        whom.push(format!("group {}", options.groups.join(", ")));
    }
    let left_ms = u64::try_from(options.expires_at.saturating_sub(now)).unwrap_or(0);
    let rows: Vec<Vec<String>> = actions
        .iter()
        .map(|action| {
            let spec = &action.spec;
            let who = if spec.users.is_empty() {
                format!("group {}", spec.groups.join(","))
            } else {
                format!("user {}", spec.users.join(","))
            };
            vec![
                action.id.to_string(),
                spec.target.clone(),
                spec.fault.verb().to_owned(),
                output::detail(&spec.fault, Some(output::MAX_BODY_CHARS)),
                output::percent(spec.probability),
                who,
            ]
        })
        .collect();
    let seed_note = if random_seed {
        format!(" (replay this storm with --seed {})", options.seed)
    } else {
        String::new()
    };
    let result = (|| {
        writeln!(
            out,
            "storm for {}: {}, intensity {}, until {} ({} left)",
            whom.join(" and "),
            count_actions(actions.len() as u64),
            options.intensity,
            output::timestamp(options.expires_at),
            output::millis(left_ms / 1000 * 1000),
        )?;
        writeln!(out, "seed {}{seed_note}", options.seed)?;
        if let Some(timing) = options.timing.describe() {
            writeln!(out, "{timing}")?;
        }
        output::write_table(
            &mut out,
            &["ID", "VIEW", "VERB", "DETAIL", "PROB", "FOR"],
            &rows,
        )?;
        writeln!(
            out,
            "it ends by itself; end it now with `chaos-admin storm --end`"
        )
    })();
    output::ignore_broken_pipe(result)?;
    Ok(())
}
