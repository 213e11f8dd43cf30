//! One module per command. Each has clap `Args`, a `plan` that checks every argument
//! without touching the store, and a `run` that carries the plan out.

pub mod create;
pub mod delete;
pub mod discover;
pub mod exercise;
pub mod init;
pub mod list;
pub mod purge;
pub mod report;
pub mod run;
pub mod show;
pub mod status;
pub mod storm;
pub mod toggle;
pub mod validate;
pub mod views;

use chaos_middleware::action::{now_ms, parse_duration_ms};
use chaos_middleware::{Kind, Selection, time};

use crate::error::CliError;

/// Arguments of `views` and `status`, which list what the app instances registered.
#[derive(Debug, clap::Args)]
pub struct RegistryArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Include instances (and their views) that stopped sending heartbeats.
    #[arg(long)]
    pub all: bool,
}

/// Parses one action id (a positive integer).
pub fn parse_id(word: &str) -> Result<i64, CliError> {
    match word.trim().parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(CliError::usage(format!(
            "invalid action id '{word}': allowed are positive integers such as 3 (see `chaos-admin list`)"
        ))),
    }
}

/// Parses the words after `enable`, `disable` or `delete`:
/// `<id>...`, `<kind> <target>`, or (with `--all`) nothing or one kind.
pub fn parse_selection(command: &str, words: &[String], all: bool) -> Result<Selection, CliError> {
    if all {
        return match words {
            [] => Ok(Selection::All { kind: None }),
            [kind] => Ok(Selection::All {
                kind: Some(parse_kind(kind)?),
            }),
            [_, extra, ..] => Err(CliError::usage(format!(
                "unexpected argument '{extra}' after `{command} --all {}`: --all takes at most one kind (response or point)",
                words[0]
            ))),
        };
    }
    let Some(first) = words.first() else {
        return Err(CliError::usage(format!(
            "nothing to {command}: give action ids (`{command} 1 2`), a kind and view (`{command} response <view>`), or --all"
        )));
    };
    if let Ok(kind) = first.parse::<Kind>() {
        return match &words[1..] {
            [target] if !target.trim().is_empty() => Ok(Selection::Target {
                kind,
                target: target.clone(),
            }),
            [] | [_] => Err(CliError::usage(format!(
                "missing view after '{kind}': usage is `{command} {kind} <view>`"
            ))),
            [_, extra, ..] => Err(CliError::usage(format!(
                "unexpected argument '{extra}': usage is `{command} {kind} <view>` (one view at a time)"
            ))),
        };
    }
    if first.trim().parse::<i64>().is_err() {
        return Err(CliError::usage(format!(
            "unknown kind or action id '{first}': allowed are action ids such as 3, or a kind (response, point) followed by a view"
        )));
    }
    let mut ids = Vec::with_capacity(words.len());
    for word in words {
        let id = parse_id(word)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(Selection::Ids(ids))
}

/// The expiry from `--for DURATION` or `--until RFC3339` (at most one is given), as Unix
/// milliseconds; it must lie in the future and no later than `9999-12-31T23:59:59Z`
/// (see [`chaos_middleware::time`]).
pub fn parse_expiry(
    for_text: Option<&str>,
    until_text: Option<&str>,
) -> Result<Option<i64>, CliError> {
    if let Some(text) = for_text {
        let ms = parse_duration_ms(text)?;
        return Ok(Some(time::expiry_after(now_ms(), ms, "--for", text)?));
    }
    match until_text {
        Some(text) => Ok(Some(time::expiry_at(now_ms(), "--until", text)?)),
        None => Ok(None),
    }
}

fn parse_kind(word: &str) -> Result<Kind, CliError> {
    Ok(word.parse::<Kind>()?)
}

/// `1 action`, `3 actions`.
pub fn count_actions(count: u64) -> String {
    if count == 1 {
        "1 action".to_owned()
    } else {
        format!("{count} actions")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn selections_parse() {
        assert_eq!(
            parse_selection("disable", &words("1 2 1"), false).ok(),
            Some(Selection::Ids(vec![1, 2]))
        );
        assert_eq!(
            parse_selection("disable", &words("response items"), false).ok(),
            Some(Selection::Target {
                kind: Kind::Response,
                target: "items".into()
            })
        );
        assert_eq!(
            parse_selection("disable", &[], true).ok(),
            Some(Selection::All { kind: None })
        );
        assert_eq!(
            parse_selection("disable", &words("point"), true).ok(),
            Some(Selection::All {
                kind: Some(Kind::Point)
            })
        );
        for bad in ["", "response", "widget items", "1 x", "0", "response a b"] {
            assert!(
                parse_selection("disable", &words(bad), false).is_err(),
                "{bad}"
            );
        }
        assert!(parse_selection("disable", &words("widget"), true).is_err());
    }
}
