//! `create`: `response slow|return|abort|panic ...`, `point slow|error ...`, and the
//! short forms that leave out `response`.

use chaos_middleware::action::{VERBS, now_ms};
use chaos_middleware::{ActionForm, ActionSpec, Kind, Naming, Store};

use crate::error::CliError;

const USAGE: &str = "usage is `create response slow <view> <min> <max>`, \
     `create response return <view> <status>`, `create response abort|panic <view>`, \
     `create point slow <name> <min> <max>` or `create point error <name>`";

/// Arguments of `create`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Forms:\n  \
    create response slow <view> <min> <max>   delay by a random duration in [min, max] (250ms, 1s, 2m)\n  \
    create response return <view> <status>    answer with <status> (200-599) instead of the view\n  \
    create response abort <view>              drop the connection without a response\n  \
    create response panic <view>              panic inside the service\n  \
    create point slow <name> <min> <max>      delay the fault point <name>\n  \
    create point error <name>                 make the fault point <name> return an error\n  \
    create return|slow|abort|panic ...        short forms of `create response ...`\n\n\
    Windows: `--between 09:00-17:00 --days mon-fri --tz Europe/Berlin` limits the action to \
    office hours (outside them it is inert); `--start-at TIME` delays its start.\n\n\
    <view> is a view name, a route pattern such as /items/{id}, or * for every view.")]
pub struct Args {
    /// [KIND] VERB VIEW ARGS...: see the forms below.
    #[arg(value_name = "WORDS", allow_negative_numbers = true)]
    words: Vec<String>,

    /// Chance per request: a percentage (25%) or a fraction (0.25). Default 100%.
    #[arg(long, short = 'p', value_name = "P", allow_hyphen_values = true)]
    probability: Option<String>,

    /// Only for this user (repeatable; default everyone).
    #[arg(long = "user", value_name = "NAME")]
    users: Vec<String>,

    /// Only for members of this group (repeatable; default everyone).
    #[arg(long = "group", value_name = "NAME")]
    groups: Vec<String>,

    /// Only on this host (repeatable; default everywhere).
    #[arg(long = "host", value_name = "HOST")]
    hosts: Vec<String>,

    /// Only for this HTTP method (repeatable; default all).
    #[arg(long = "method", value_name = "METHOD")]
    methods: Vec<String>,

    /// Expire the action after this long (e.g. 10m).
    #[arg(long = "for", value_name = "DURATION", allow_hyphen_values = true)]
    for_duration: Option<String>,

    /// Expire the action at this time (RFC 3339, e.g. 2026-11-22T18:00:00Z).
    #[arg(long, value_name = "TIME", conflicts_with = "for_duration")]
    until: Option<String>,

    /// Response body for `return`.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    body: Option<String>,

    /// Error message for `point error`.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    message: Option<String>,

    /// For `response slow`: hold the request `before` the handler (default) or its
    /// response `after` it.
    #[arg(long, value_name = "PHASE")]
    phase: Option<String>,

    /// Refuse delays longer than this (the apps' delay cap; default 30s).
    #[arg(
        long,
        env = "CHAOS_MAX_DELAY",
        value_name = "DURATION",
        default_value = "30s"
    )]
    max_delay: String,

    #[command(flatten)]
    timing: super::TimingArgs,

    /// Create the action disabled.
    #[arg(long)]
    disabled: bool,

    /// Free text for humans.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    note: Option<String>,

    /// Free label (e.g. exercise).
    #[arg(long, value_name = "LABEL")]
    tag: Option<String>,
}

/// A checked action, ready to be stored.
#[derive(Debug)]
pub struct Plan {
    spec: ActionSpec,
}

/// Builds and validates the action from the arguments (the rules are
/// [`ActionForm::build`]'s, shared with the web admin and the JSON API).
pub fn plan(args: Args) -> Result<Plan, CliError> {
    let (kind, rest) = split_kind(&args.words)?;
    let Some((verb, rest)) = rest.split_first() else {
        return Err(CliError::usage(format!(
            "missing verb after '{kind}': allowed are {VERBS}; {USAGE}"
        )));
    };
    let mut form = ActionForm {
        kind: Some(kind.to_string()),
        verb: verb.clone(),
        body: args.body,
        message: args.message,
        phase: args.phase,
        probability: args.probability,
        users: args.users,
        groups: args.groups,
        hosts: args.hosts,
        methods: args.methods,
        for_duration: args.for_duration,
        until: args.until,
        start_at: args.timing.start_at,
        between: args.timing.between,
        days: args.timing.days,
        tz: args.timing.tz,
        disabled: args.disabled,
        note: args.note,
        tag: args.tag,
        max_delay: Some(args.max_delay),
        ..ActionForm::default()
    };
    // The positional words after the verb, by verb (their count is the CLI's own rule).
    let expected: &[&str] = match (kind, verb.as_str()) {
        (_, "slow") => &["<view>", "<min>", "<max>"],
        (Kind::Response, "return") => &["<view>", "<status>"],
        (Kind::Point, "error") => &["<name>"],
        (Kind::Response, "abort" | "panic") => &["<view>"],
        // Unknown or misplaced verbs: the form says which are allowed.
        _ => &[],
    };
    if !expected.is_empty() {
        if rest.len() != expected.len() {
            return Err(wrong_count(verb, &expected.join(" "), rest));
        }
        form.target = rest[0].clone();
        match verb.as_str() {
            "slow" => {
                form.min = Some(rest[1].clone());
                form.max = Some(rest[2].clone());
            }
            "return" => form.status = Some(rest[1].clone()),
            _ => {}
        }
    }
    let spec = form.build(Naming::Flags, now_ms())?;
    Ok(Plan { spec })
}

/// Stores the action and prints its id (and nothing else) on stdout.
pub async fn run(plan: Plan, store: &Store) -> Result<(), CliError> {
    let id = store.create(&plan.spec).await?;
    println!("{id}");
    super::views::warn_if_unknown(store, &plan.spec).await;
    Ok(())
}

/// The kind word, or `response` when the words start with a verb (the short form).
fn split_kind(words: &[String]) -> Result<(Kind, &[String]), CliError> {
    let Some(first) = words.first() else {
        return Err(CliError::usage(format!("missing kind and verb: {USAGE}")));
    };
    if let Ok(kind) = first.parse::<Kind>() {
        return Ok((kind, &words[1..]));
    }
    if matches!(first.as_str(), "slow" | "return" | "abort" | "panic") {
        return Ok((Kind::Response, words));
    }
    Err(CliError::usage(format!(
        "unknown kind '{first}': allowed are response, point (or a verb directly: {VERBS})"
    )))
}

fn wrong_count(verb: &str, expected: &str, got: &[String]) -> CliError {
    let got = if got.is_empty() {
        "nothing".to_owned()
    } else {
        format!("'{}'", got.join(" "))
    };
    CliError::usage(format!(
        "wrong arguments for '{verb}': expected {expected}, got {got}"
    ))
}
