//! `enable` and `disable`: `<id>...`, `<kind> <view>`, or `--all [kind]`.

use chaos_middleware::{Selection, Store};

use crate::commands::{parse_expiry, parse_selection, selection_outcome, with_view_aliases};
use crate::error::CliError;

/// Arguments of `enable` and `disable`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Forms:\n  \
    <id>...            these actions (an unknown id changes nothing)\n  \
    response <view>    every response action aimed at <view>\n  \
    point <name>       every action on fault point <name>\n  \
    --all [KIND]       every action (of KIND: response or point)\n  \
    --tag LABEL        every action tagged LABEL (e.g. what an experiment created)\n\n\
    `enable <id>` makes an expired action live again (its expiry is cleared) unless\n\
    --for or --until sets a new one. Bulk enables leave expired actions expired, and\n\
    storm and exercise actions end with their storm or exercise.")]
pub struct Args {
    /// Action ids, or a kind and a view.
    #[arg(value_name = "ID|KIND VIEW", allow_negative_numbers = true)]
    words: Vec<String>,

    /// Every action (optionally of one kind).
    #[arg(long)]
    all: bool,

    /// Every action with this tag (`storm`, `exercise`, `experiment`, ...).
    #[arg(long, value_name = "LABEL")]
    tag: Option<String>,

    /// `enable` only: expire the actions after this long (e.g. 10m).
    #[arg(long = "for", value_name = "DURATION", allow_hyphen_values = true)]
    for_duration: Option<String>,

    /// `enable` only: expire the actions at this time (RFC 3339).
    #[arg(long, value_name = "TIME", conflicts_with = "for_duration")]
    until: Option<String>,
}

/// Which actions, switched which way.
#[derive(Debug)]
pub struct Plan {
    selection: Selection,
    enabled: bool,
    expires_at: Option<i64>,
}

/// Checks the selection.
pub fn plan(args: Args, enabled: bool) -> Result<Plan, CliError> {
    let command = if enabled { "enable" } else { "disable" };
    if !enabled && (args.for_duration.is_some() || args.until.is_some()) {
        return Err(CliError::usage(
            "--for and --until apply only to `enable` (and `create`), not `disable`",
        ));
    }
    Ok(Plan {
        selection: parse_selection(command, &args.words, args.all, args.tag.as_deref())?,
        enabled,
        expires_at: parse_expiry(args.for_duration.as_deref(), args.until.as_deref())?,
    })
}

/// Switches the actions and says how many changed (and why the others did not).
pub async fn run(plan: Plan, store: &Store) -> Result<(), CliError> {
    let before = store.list().await?;
    let selection = with_view_aliases(store, plan.selection).await;
    let changed = match plan.expires_at {
        Some(at) => store.enable_until(&selection, at).await?,
        None => store.set_enabled(&selection, plan.enabled).await?,
    };
    let done = if plan.enabled { "enabled" } else { "disabled" };
    let views = super::views::live_view_names(store).await;
    let (line, note) = selection_outcome(done, &selection, &before, changed, &views);
    println!("{line}");
    if let Some(note) = note {
        eprintln!("{note}");
    }
    Ok(())
}
