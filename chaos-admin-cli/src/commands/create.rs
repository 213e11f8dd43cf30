//! `create`: `response slow|return|abort|panic ...`, `point slow|error ...`, and the
//! short forms that leave out `response`.

use chaos_middleware::action::{
    DEFAULT_MAX_DELAY, POINT_VERBS, RESPONSE_VERBS, VERBS, parse_duration_ms, parse_probability,
    validate_status,
};
use chaos_middleware::{ActionSpec, Fault, Kind, Phase, Store};

use crate::commands::parse_expiry;
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

/// Builds and validates the action from the arguments.
pub fn plan(args: Args) -> Result<Plan, CliError> {
    let (kind, rest) = split_kind(&args.words)?;
    let Some((verb, rest)) = rest.split_first() else {
        return Err(CliError::usage(format!(
            "missing verb after '{kind}': allowed are {VERBS}; {USAGE}"
        )));
    };
    let allowed = match kind {
        Kind::Response => RESPONSE_VERBS,
        Kind::Point => POINT_VERBS,
    };
    let (target, fault) = match (kind, verb.as_str()) {
        (_, "slow") => {
            let [view, min, max] = rest else {
                return Err(wrong_count("slow", "<view> <min> <max>", rest));
            };
            let min_ms = parse_duration_ms(min)?;
            let max_ms = parse_duration_ms(max)?;
            check_cap(max_ms, &args.max_delay)?;
            let phase = match &args.phase {
                Some(text) => text.parse::<Phase>()?,
                None => Phase::Before,
            };
            (
                view,
                Fault::Slow {
                    min_ms,
                    max_ms,
                    phase,
                },
            )
        }
        (Kind::Response, "return") => {
            let [view, status] = rest else {
                return Err(wrong_count("return", "<view> <status>", rest));
            };
            let status = parse_status(status)?;
            (
                view,
                Fault::Return {
                    status,
                    body: args.body.clone(),
                },
            )
        }
        (Kind::Response, verb @ ("abort" | "panic")) => {
            let [view] = rest else {
                return Err(wrong_count(verb, "<view>", rest));
            };
            let fault = if verb == "abort" {
                Fault::Abort
            } else {
                Fault::Panic
            };
            (view, fault)
        }
        (Kind::Point, "error") => {
            let [name] = rest else {
                return Err(wrong_count("error", "<name>", rest));
            };
            (
                name,
                Fault::Error {
                    message: args.message.clone(),
                },
            )
        }
        (_, other) if VERBS.split(", ").any(|v| v == other) => {
            return Err(CliError::usage(format!(
                "verb '{other}' does not apply to kind '{kind}': allowed are {allowed}"
            )));
        }
        (_, other) => {
            return Err(CliError::usage(format!(
                "unknown verb '{other}': allowed are {allowed}"
            )));
        }
    };
    reject_misplaced_options(&args, kind, &fault)?;
    let mut spec = ActionSpec::new(kind, target.clone(), fault);
    if let Some(probability) = &args.probability {
        spec.probability = parse_probability(probability)?;
    }
    spec.users = args.users;
    spec.groups = non_empty("--group", args.groups)?;
    spec.hosts = non_empty("--host", args.hosts)?;
    spec.methods = non_empty("--method", args.methods)?
        .into_iter()
        .map(|m| m.to_ascii_uppercase())
        .collect();
    spec.enabled = !args.disabled;
    spec.expires_at = parse_expiry(args.for_duration.as_deref(), args.until.as_deref())?;
    spec.tag = args.tag;
    spec.note = args.note;
    spec.validate()?;
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

/// Options that only make sense for some verbs are refused elsewhere, not ignored.
fn reject_misplaced_options(args: &Args, kind: Kind, fault: &Fault) -> Result<(), CliError> {
    let verb = fault.verb();
    if args.body.is_some() && !matches!(fault, Fault::Return { .. }) {
        return Err(CliError::usage(format!(
            "--body applies only to verb 'return', not '{verb}'"
        )));
    }
    if args.message.is_some() && !matches!(fault, Fault::Error { .. }) {
        return Err(CliError::usage(format!(
            "--message applies only to `point error`, not '{verb}'"
        )));
    }
    if args.phase.is_some() && !(kind == Kind::Response && verb == "slow") {
        return Err(CliError::usage(format!(
            "--phase applies only to `response slow`, not '{kind} {verb}'"
        )));
    }
    if kind == Kind::Point && !args.methods.is_empty() {
        return Err(CliError::usage(
            "--method applies only to response actions: fault points have no HTTP method",
        ));
    }
    Ok(())
}

/// Refuses a delay longer than the apps' cap (they would cut it anyway).
fn check_cap(max_ms: u64, cap_text: &str) -> Result<(), CliError> {
    let cap_ms = parse_duration_ms(cap_text).map_err(|_| {
        CliError::usage(format!(
            "invalid --max-delay '{cap_text}': allowed are durations such as 30s, 2m"
        ))
    })?;
    if max_ms > cap_ms {
        let shown = chaos_middleware::time::format_duration_ms;
        let default = shown(DEFAULT_MAX_DELAY.as_millis() as u64);
        return Err(CliError::usage(format!(
            "delay {} is above the delay cap {}: allowed is at most {} (the apps cut longer delays; raise the cap with --max-delay, default {default})",
            shown(max_ms),
            shown(cap_ms),
            shown(cap_ms)
        )));
    }
    Ok(())
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

fn parse_status(text: &str) -> Result<u16, CliError> {
    match text.trim().parse::<i64>() {
        Ok(status) => Ok(validate_status(status)?),
        Err(_) => Err(CliError::usage(format!(
            "invalid status '{text}': allowed is an HTTP status code 200-599"
        ))),
    }
}

fn non_empty(option: &str, values: Vec<String>) -> Result<Vec<String>, CliError> {
    if values.iter().any(|v| v.trim().is_empty()) {
        return Err(CliError::usage(format!(
            "empty {option} value: a {option} value must not be empty"
        )));
    }
    Ok(values)
}
