//! `delete`: `<id>...`, `<kind> <view>`, or `--all [kind]` (confirmed, or `--yes`).

use std::io::{self, BufRead, IsTerminal, Write};

use chaos_middleware::{Selection, Store};

use crate::commands::{parse_selection, selection_outcome, with_view_aliases};
use crate::error::CliError;

/// Arguments of `delete`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Forms:\n  \
    <id>...            these actions (an unknown id deletes nothing)\n  \
    response <view>    every response action aimed at <view>\n  \
    point <name>       every action on fault point <name>\n  \
    --all [KIND]       every action (of KIND); asks first unless --yes\n  \
    --tag LABEL        every action tagged LABEL (e.g. an experiment's rollback)")]
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

    /// Do not ask for confirmation (required for --all when stdin is not a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
}

/// Which actions, and whether to ask first.
#[derive(Debug)]
pub struct Plan {
    selection: Selection,
    confirm: bool,
}

/// Checks the selection; `--all` without `--yes` needs a terminal to ask on.
pub fn plan(args: Args) -> Result<Plan, CliError> {
    let selection = parse_selection("delete", &args.words, args.all, args.tag.as_deref())?;
    let confirm = matches!(selection, Selection::All { .. }) && !args.yes;
    if confirm && !io::stdin().is_terminal() {
        return Err(CliError::usage(
            "refusing to delete all actions without confirmation: stdin is not a terminal, pass --yes",
        ));
    }
    Ok(Plan { selection, confirm })
}

/// Deletes the actions (after asking, for `--all`) and says how many went.
pub async fn run(plan: Plan, store: &Store) -> Result<(), CliError> {
    if plan.confirm {
        let Selection::All { kind } = &plan.selection else {
            return Err(CliError::usage("only --all asks for confirmation"));
        };
        let listing = store.list().await?;
        let count = match kind {
            Some(kind) => listing
                .actions
                .iter()
                .filter(|action| action.spec.kind == *kind)
                .count(),
            None => listing.actions.len() + listing.corrupt.len(),
        };
        let what = match kind {
            Some(kind) => format!("{kind} chaos action"),
            None => "chaos action".to_owned(),
        };
        let plural = if count == 1 { "" } else { "s" };
        if count == 0 {
            println!("no {what}s to delete");
            return Ok(());
        }
        if !ask(&format!("Delete all {count} {what}{plural}? [y/N] "))? {
            eprintln!("nothing deleted");
            return Ok(());
        }
    }
    let before = store.list().await?;
    let selection = with_view_aliases(store, plan.selection).await;
    let deleted = store.delete(&selection).await?;
    let views = super::views::live_view_names(store).await;
    let (line, note) = selection_outcome("deleted", &selection, &before, deleted, &views);
    println!("{line}");
    if let Some(note) = note {
        eprintln!("{note}");
    }
    Ok(())
}

/// Asks on stderr and reads one line from stdin; only `y` or `yes` agree.
fn ask(question: &str) -> Result<bool, CliError> {
    let mut stderr = io::stderr();
    write!(stderr, "{question}")?;
    stderr.flush()?;
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
