//! `enable` and `disable`: `<id>...`, `<kind> <view>`, or `--all [kind]`.

use chaos_middleware::{Selection, Store};

use crate::commands::{count_actions, parse_selection};
use crate::error::CliError;

/// Arguments of `enable` and `disable`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Forms:\n  \
    <id>...            these actions (an unknown id changes nothing)\n  \
    response <view>    every response action aimed at <view>\n  \
    point <name>       every action on fault point <name>\n  \
    --all [KIND]       every action (of KIND: response or point)")]
pub struct Args {
    /// Action ids, or a kind and a view.
    #[arg(value_name = "ID|KIND VIEW", allow_negative_numbers = true)]
    words: Vec<String>,

    /// Every action (optionally of one kind).
    #[arg(long)]
    all: bool,
}

/// Which actions, switched which way.
#[derive(Debug)]
pub struct Plan {
    selection: Selection,
    enabled: bool,
}

/// Checks the selection.
pub fn plan(args: Args, enabled: bool) -> Result<Plan, CliError> {
    let command = if enabled { "enable" } else { "disable" };
    Ok(Plan {
        selection: parse_selection(command, &args.words, args.all)?,
        enabled,
    })
}

/// Switches the actions and says how many changed.
pub async fn run(plan: Plan, store: &Store) -> Result<(), CliError> {
    let changed = store.set_enabled(&plan.selection, plan.enabled).await?;
    let done = if plan.enabled { "enabled" } else { "disabled" };
    println!("{done} {}", count_actions(changed));
    Ok(())
}
