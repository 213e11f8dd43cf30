//! `create`: `response slow <view> <min> <max>`, `response return <view> <status>`, and
//! the short form `return <view> <status>`.

use chaos_middleware::action::{
    VERBS, now_ms, parse_duration_ms, parse_probability, validate_status,
};
use chaos_middleware::{ActionSpec, Fault, Kind, Store};

use crate::error::CliError;

const USAGE: &str = "usage is `create response slow <view> <min> <max>`, \
     `create response return <view> <status>` or `create return <view> <status>`";

/// Arguments of `create`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Forms:\n  \
    create response slow <view> <min> <max>   delay by a random duration in [min, max] (250ms, 1s, 2m)\n  \
    create response return <view> <status>    answer with <status> (100-599) instead of the view\n  \
    create return <view> <status>             short form of `create response return`\n\n\
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

    /// Response body for `return`.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    body: Option<String>,

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
    let (target, fault) = match verb.as_str() {
        "slow" => {
            let [view, min, max] = rest else {
                return Err(wrong_count("slow", "<view> <min> <max>", rest));
            };
            if args.body.is_some() {
                return Err(CliError::usage(
                    "--body applies only to verb 'return', not 'slow'",
                ));
            }
            let min_ms = parse_duration_ms(min)?;
            let max_ms = parse_duration_ms(max)?;
            (view, Fault::Slow { min_ms, max_ms })
        }
        "return" => {
            let [view, status] = rest else {
                return Err(wrong_count("return", "<view> <status>", rest));
            };
            let status = parse_status(status)?;
            (
                view,
                Fault::Return {
                    status,
                    body: args.body,
                },
            )
        }
        other => {
            return Err(CliError::usage(format!(
                "unknown verb '{other}': allowed are {VERBS}"
            )));
        }
    };
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
    if let Some(text) = &args.for_duration {
        let ms = parse_duration_ms(text)?;
        if ms == 0 {
            return Err(CliError::usage(format!(
                "--for '{text}' is zero: allowed is a positive duration such as 10m"
            )));
        }
        let ms = i64::try_from(ms).unwrap_or(i64::MAX);
        spec.expires_at = Some(now_ms().saturating_add(ms));
    }
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
    if matches!(first.as_str(), "slow" | "return") {
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

fn parse_status(text: &str) -> Result<u16, CliError> {
    match text.trim().parse::<i64>() {
        Ok(status) => Ok(validate_status(status)?),
        Err(_) => Err(CliError::usage(format!(
            "invalid status '{text}': allowed is an HTTP status code 100-599"
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
