//! One module per command. Each has clap `Args`, a `plan` that checks every argument
//! without touching the store, and a `run` that carries the plan out.

pub mod create;
pub mod delete;
pub mod discover;
pub mod exercise;
pub mod guard;
pub mod init;
pub mod list;
pub mod notify;
pub mod purge;
pub mod report;
pub mod run;
pub mod serve;
pub mod show;
pub mod status;
pub mod storm;
pub mod toggle;
pub mod validate;
pub mod views;

use chaos_middleware::action::{now_ms, parse_duration_ms};
use chaos_middleware::{Action, Kind, Listing, Selection, Store, time};

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

/// The options that limit when actions inject (`create`, `storm`, `exercise start`); the
/// rules are [`chaos_middleware::schedule::from_options`]'s.
#[derive(Debug, Default, clap::Args)]
pub struct TimingArgs {
    /// Active only between these wall-clock times, HH:MM-HH:MM (repeatable; 22:00-02:00
    /// runs across midnight, 24:00 ends the day).
    #[arg(long, value_name = "HH:MM-HH:MM")]
    pub between: Vec<String>,
    /// Active only on these days: mon-fri, sat,sun, mon,wed-fri (default every day).
    #[arg(long, value_name = "DAYS")]
    pub days: Option<String>,
    /// The time zone of --between and --days: an IANA name such as Europe/Berlin
    /// (default UTC; daylight-saving changes are followed).
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Inert until this time (RFC 3339, e.g. 2026-12-01T09:00:00+01:00).
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
}

/// Parses one action id: an integer. The store hands out 1, 2, 3, ..., but a row edited
/// by hand may carry 0 or a negative id, and must stay addressable (to delete it).
pub fn parse_id(word: &str) -> Result<i64, CliError> {
    word.trim().parse::<i64>().map_err(|_| {
        CliError::usage(format!(
            "invalid action id '{word}': allowed are integers such as 3 (see `chaos-admin list`)"
        ))
    })
}

/// Parses the words after `enable`, `disable` or `delete`:
/// `<id>...`, `<kind> <target>`, (with `--all`) nothing or one kind, or (with `--tag T`)
/// nothing.
pub fn parse_selection(
    command: &str,
    words: &[String],
    all: bool,
    tag: Option<&str>,
) -> Result<Selection, CliError> {
    if let Some(tag) = tag {
        if all || !words.is_empty() {
            return Err(CliError::usage(format!(
                "--tag selects by itself: use `{command} --tag {tag}` without ids, a view or --all"
            )));
        }
        if tag.trim().is_empty() {
            return Err(CliError::usage(format!(
                "empty --tag: give the label the actions carry, e.g. `{command} --tag experiment`"
            )));
        }
        return Ok(Selection::Tag(tag.to_owned()));
    }
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
/// milliseconds; it must lie in the future and no later than `9999-12-30T00:00:00Z`
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

/// What a selected write did, for the operator: the line for stdout (`disabled 1 action
/// (2 already disabled)`) and, when nothing matched at all, a note for stderr naming the
/// targets that are close to the one typed.
pub fn selection_outcome(
    done: &str,
    selection: &Selection,
    before: &Listing,
    changed: u64,
    known_views: &[String],
) -> (String, Option<String>) {
    let now = now_ms();
    let matched: Vec<&Action> = before
        .actions
        .iter()
        .filter(|a| selection.matches(a))
        .collect();
    let mut line = format!("{done} {}", count_actions(changed));
    let unchanged = u64::try_from(matched.len())
        .unwrap_or(u64::MAX)
        .saturating_sub(changed);
    if unchanged > 0 && done != "deleted" {
        let expired = matched.iter().filter(|a| a.is_expired_at(now)).count();
        let mut reasons = Vec::new();
        let already = usize::try_from(unchanged)
            .unwrap_or(usize::MAX)
            .saturating_sub(if done == "enabled" { expired } else { 0 });
        if already > 0 {
            reasons.push(format!("{already} already {done}"));
        }
        if done == "enabled" && expired > 0 {
            reasons.push(format!("{expired} expired, left as they are"));
        }
        if !reasons.is_empty() {
            line.push_str(&format!(" ({})", reasons.join(", ")));
        }
    }
    let typed = match selection {
        Selection::Targets { kind, targets } => targets.first().map(|t| (*kind, t)),
        Selection::Target { kind, target } => Some((*kind, target)),
        _ => None,
    };
    let note = match (selection, typed) {
        _ if !matched.is_empty() => None,
        (Selection::Target { .. } | Selection::Targets { .. }, Some((kind, target))) => {
            let kind = &kind;
            let mut names: Vec<&str> = before
                .actions
                .iter()
                .filter(|a| a.spec.kind == *kind)
                .map(|a| a.spec.target.as_str())
                .chain(known_views.iter().map(String::as_str))
                .collect();
            names.sort_unstable();
            names.dedup();
            let names: Vec<String> = names.into_iter().map(str::to_owned).collect();
            let close = suggestions(target, &names);
            let hint = if close.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", close.join(", "))
            };
            // The same name under the other kind (`response db.items` for a point).
            let other_kind = before
                .actions
                .iter()
                .find(|a| a.spec.kind != *kind && a.spec.target == *target)
                .map(|a| a.spec.kind);
            let hint = match other_kind {
                Some(other) => {
                    format!(" ({other} actions target '{target}': use `{other} {target}`)")
                }
                None => hint,
            };
            Some(format!(
                "nothing matched: no {kind} action targets '{target}'{hint}"
            ))
        }
        (Selection::Tag(tag), _) => Some(format!("nothing matched: no action is tagged '{tag}'")),
        _ => None,
    };
    (line, note)
}

/// `response <view>` selects the view by every name it has: when app instances
/// registered the view under a name and route pattern(s), actions stored against any of
/// them are selected (`disable response items` also stops an action on `/items`), in
/// one transaction. Other selections are returned as they are.
pub async fn with_view_aliases(store: &Store, selection: Selection) -> Selection {
    let Selection::Target {
        kind: Kind::Response,
        target,
    } = &selection
    else {
        return selection;
    };
    let Ok(views) = store.registered_views().await else {
        return selection;
    };
    let mut targets = vec![target.clone()];
    for view in views {
        let alias = if view.name == *target {
            view.pattern
        } else if view.pattern == *target {
            view.name
        } else {
            continue;
        };
        if !targets.contains(&alias) {
            targets.push(alias);
        }
    }
    if targets.len() == 1 {
        selection
    } else {
        Selection::Targets {
            kind: Kind::Response,
            targets,
        }
    }
}

/// Known names close to `typed`: route patterns when it looks like one (`/itms`), view
/// names otherwise.
pub fn suggestions(typed: &str, known: &[String]) -> Vec<String> {
    let pattern_like = typed.starts_with('/');
    let candidates: Vec<&str> = known
        .iter()
        .map(String::as_str)
        .filter(|name| name.starts_with('/') == pattern_like)
        .collect();
    close_to(typed, &candidates)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// The names within two edits of `typed` (or that contain it, or it them), closest first.
pub fn close_to<'a>(typed: &str, names: &[&'a str]) -> Vec<&'a str> {
    let typed_lower = typed.to_lowercase();
    let mut scored: Vec<(usize, &'a str)> = names
        .iter()
        .filter(|name| **name != typed)
        .filter_map(|name| {
            let lower = name.to_lowercase();
            let distance = strsim::levenshtein(&typed_lower, &lower);
            let related = distance <= 2
                || (typed_lower.len() >= 3
                    && (lower.contains(&typed_lower) || typed_lower.contains(&lower)));
            related.then_some((distance, *name))
        })
        .collect();
    scored.sort();
    scored.into_iter().map(|(_, name)| name).take(5).collect()
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
            parse_selection("disable", &words("1 2 1"), false, None).ok(),
            Some(Selection::Ids(vec![1, 2]))
        );
        assert_eq!(
            parse_selection("disable", &words("response items"), false, None).ok(),
            Some(Selection::Target {
                kind: Kind::Response,
                target: "items".into()
            })
        );
        assert_eq!(
            parse_selection("disable", &[], true, None).ok(),
            Some(Selection::All { kind: None })
        );
        assert_eq!(
            parse_selection("disable", &words("point"), true, None).ok(),
            Some(Selection::All {
                kind: Some(Kind::Point)
            })
        );
        assert_eq!(
            parse_selection("delete", &words("0 -5"), false, None).ok(),
            Some(Selection::Ids(vec![0, -5]))
        );
        for bad in ["", "response", "widget items", "1 x", "1.5", "response a b"] {
            assert!(
                parse_selection("disable", &words(bad), false, None).is_err(),
                "{bad}"
            );
        }
        assert!(parse_selection("disable", &words("widget"), true, None).is_err());
        assert_eq!(
            parse_selection("delete", &[], false, Some("experiment")).ok(),
            Some(Selection::Tag("experiment".into()))
        );
        assert!(parse_selection("delete", &words("1"), false, Some("x")).is_err());
        assert!(parse_selection("delete", &[], true, Some("x")).is_err());
        assert!(parse_selection("delete", &[], false, Some(" ")).is_err());
    }

    #[test]
    fn close_names_are_suggested() {
        let names = ["items", "item_detail", "checkout", "health"];
        assert_eq!(close_to("itms", &names), ["items"]);
        assert_eq!(close_to("item", &names), ["items", "item_detail"]);
        assert_eq!(close_to("Checkout", &names), ["checkout"]);
        assert!(close_to("zzz", &names).is_empty());
    }
}
