//! An action written as text fields — the CLI's arguments, the web admin's form, the JSON
//! API's body — and the one set of rules that turns it into a checked [`ActionSpec`]. Every
//! front end builds actions here, so they accept and refuse the same input with the same
//! message; only the way a field is named in those messages differs ([`Naming`]).

use serde::Deserialize;

use super::{
    ActionSpec, DEFAULT_MAX_DELAY, Fault, InvalidAction, Kind, POINT_VERBS, Phase, RESPONSE_VERBS,
    VERBS, parse_probability, validate_status,
};
use crate::time::{self, format_duration_ms, parse_duration_ms};

/// How a front end names the fields in its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// Command-line options: `--body`, `--phase`.
    Flags,
    /// Form and JSON fields: `body`, `phase`.
    Fields,
}

impl Naming {
    /// The field as the user typed it.
    pub fn name(self, field: &str) -> String {
        match self {
            Naming::Flags => format!("--{}", field.replace('_', "-")),
            Naming::Fields => field.to_owned(),
        }
    }
}

/// An action as text, before checking. Durations are `250ms`, `1s`, `2m`; the probability
/// `25%` or `0.25`; `for` an expiry delay, `until` an RFC 3339 time. Empty strings in the
/// optional fields count as absent (an HTML form sends every field).
#[cfg_attr(feature = "admin", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActionForm {
    /// `response` (default) or `point`.
    pub kind: Option<String>,
    /// `slow`, `return`, `abort`, `panic` (response) or `slow`, `error` (point).
    pub verb: String,
    /// View name, route pattern or `*` (response); fault point name (point).
    pub target: String,
    /// Shortest delay of `slow`.
    pub min: Option<String>,
    /// Longest delay of `slow`.
    pub max: Option<String>,
    /// `before` (default) or `after`, for `response slow`.
    pub phase: Option<String>,
    /// HTTP status of `return`, 200–599.
    pub status: Option<String>,
    /// Response body of `return`.
    pub body: Option<String>,
    /// Error message of `point error`.
    pub message: Option<String>,
    /// Chance per request (default 100%).
    pub probability: Option<String>,
    /// Only these users (default everyone).
    pub users: Vec<String>,
    /// Only these groups.
    pub groups: Vec<String>,
    /// Only these hosts.
    pub hosts: Vec<String>,
    /// Only these HTTP methods (response actions).
    pub methods: Vec<String>,
    /// Expire after this long (`10m`).
    #[serde(rename = "for")]
    pub for_duration: Option<String>,
    /// Expire at this time (RFC 3339).
    pub until: Option<String>,
    /// Inert before this time (RFC 3339).
    pub start_at: Option<String>,
    /// Active only in these wall-clock ranges (`09:00-17:00`; several allowed).
    pub between: Vec<String>,
    /// Active only on these days (`mon-fri`, `sat,sun`).
    pub days: Option<String>,
    /// The IANA time zone of `between` and `days` (default UTC).
    pub tz: Option<String>,
    /// Store it disabled.
    pub disabled: bool,
    /// Free text.
    pub note: Option<String>,
    /// Free label.
    pub tag: Option<String>,
    /// Refuse delays above this (the apps' cap; default 30s).
    pub max_delay: Option<String>,
}

/// A present, non-blank optional field.
fn given(field: &Option<String>) -> Option<&str> {
    field.as_deref().filter(|text| !text.trim().is_empty())
}

impl ActionForm {
    /// Checks every field and builds the action; `now_ms` anchors `for` (Unix ms).
    ///
    /// Errors: one message naming the value and what is allowed (unknown kind or verb, a
    /// missing or malformed duration, status or probability, a delay above the cap, an
    /// option that does not apply to the verb, an empty user/group/host/method, an expiry
    /// in the past, both `for` and `until`, a window or start [`crate::schedule::from_options`]
    /// refuses), and everything [`ActionSpec::validate`] checks.
    pub fn build(&self, naming: Naming, now_ms: i64) -> Result<ActionSpec, InvalidAction> {
        refuse_blank(
            naming,
            &[
                ("probability", self.probability.as_deref()),
                ("for", self.for_duration.as_deref()),
                ("until", self.until.as_deref()),
                ("phase", self.phase.as_deref()),
                ("tag", self.tag.as_deref()),
                ("max_delay", self.max_delay.as_deref()),
            ],
        )?;
        let kind = match given(&self.kind) {
            Some(text) => text.trim().parse::<Kind>()?,
            None => Kind::Response,
        };
        let verb = self.verb.trim();
        let allowed = match kind {
            Kind::Response => RESPONSE_VERBS,
            Kind::Point => POINT_VERBS,
        };
        let missing = |field: &str, what: &str| {
            InvalidAction::new(format!(
                "missing {}: `{kind} {verb}` needs {what}",
                naming.name(field)
            ))
        };
        let fault = match (kind, verb) {
            (_, "slow") => {
                let min = given(&self.min).ok_or_else(|| missing("min", "a shortest delay"))?;
                let max = given(&self.max).ok_or_else(|| missing("max", "a longest delay"))?;
                let min_ms = parse_duration_ms(min)?;
                let max_ms = parse_duration_ms(max)?;
                self.check_cap(max_ms, naming)?;
                let phase = match given(&self.phase) {
                    Some(text) => text.trim().parse::<Phase>()?,
                    None => Phase::Before,
                };
                Fault::Slow {
                    min_ms,
                    max_ms,
                    phase,
                }
            }
            (Kind::Response, "return") => {
                let status =
                    given(&self.status).ok_or_else(|| missing("status", "a status code"))?;
                let status = match status.trim().parse::<i64>() {
                    Ok(code) => validate_status(code)?,
                    Err(_) => {
                        return Err(InvalidAction::new(format!(
                            "invalid status '{status}': allowed is an HTTP status code 200-599"
                        )));
                    }
                };
                Fault::Return {
                    status,
                    body: self.body.clone().filter(|b| !b.is_empty()),
                }
            }
            (Kind::Response, "abort") => Fault::Abort,
            (Kind::Response, "panic") => Fault::Panic,
            (Kind::Point, "error") => Fault::Error {
                message: given(&self.message).map(str::to_owned),
            },
            (_, "") => {
                return Err(InvalidAction::new(format!(
                    "missing verb: allowed are {allowed}"
                )));
            }
            (_, other) if VERBS.split(", ").any(|v| v == other) => {
                return Err(InvalidAction::new(format!(
                    "verb '{other}' does not apply to kind '{kind}': allowed are {allowed}"
                )));
            }
            (_, other) => {
                return Err(InvalidAction::new(format!(
                    "unknown verb '{other}': allowed are {allowed}"
                )));
            }
        };
        self.reject_misplaced(kind, &fault, naming)?;
        let mut spec = ActionSpec::new(kind, self.target.trim(), fault);
        if let Some(probability) = given(&self.probability) {
            spec.probability = parse_probability(probability)?;
        }
        spec.users = non_empty(naming, "user", &self.users)?;
        spec.groups = non_empty(naming, "group", &self.groups)?;
        spec.hosts = non_empty(naming, "host", &self.hosts)?;
        spec.methods = non_empty(naming, "method", &self.methods)?
            .into_iter()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        spec.enabled = !self.disabled;
        let timing = crate::schedule::from_options(
            naming,
            now_ms,
            &self.between,
            self.days.as_deref(),
            self.tz.as_deref(),
            self.start_at.as_deref(),
        )?;
        timing.apply_to(&mut spec);
        // `for` counts from the start, as for storms and exercises.
        let from = timing.starts_at.unwrap_or(now_ms);
        spec.expires_at = match (given(&self.for_duration), given(&self.until)) {
            (Some(_), Some(_)) => {
                return Err(InvalidAction::new(format!(
                    "{} and {} both set an expiry: give one of them",
                    naming.name("for"),
                    naming.name("until")
                )));
            }
            (Some(text), None) => Some(time::expiry_after(
                from,
                parse_duration_ms(text)?,
                &naming.name("for"),
                text,
            )?),
            (None, Some(text)) => Some(time::expiry_at(now_ms, &naming.name("until"), text)?),
            (None, None) => None,
        };

        spec.tag = given(&self.tag).map(|t| t.trim().to_owned());
        spec.note = given(&self.note).map(str::to_owned);
        spec.validate()?;
        spec.schedule().check_ever_active(now_ms)?;
        Ok(spec)
    }

    /// Options that only make sense for some verbs are refused elsewhere, not ignored.
    fn reject_misplaced(
        &self,
        kind: Kind,
        fault: &Fault,
        naming: Naming,
    ) -> Result<(), InvalidAction> {
        let verb = fault.verb();
        if given(&self.body).is_some() && !matches!(fault, Fault::Return { .. }) {
            return Err(InvalidAction::new(format!(
                "{} applies only to verb 'return', not '{verb}'",
                naming.name("body")
            )));
        }
        if given(&self.message).is_some() && !matches!(fault, Fault::Error { .. }) {
            return Err(InvalidAction::new(format!(
                "{} applies only to `point error`, not '{verb}'",
                naming.name("message")
            )));
        }
        if given(&self.phase).is_some() && !(kind == Kind::Response && verb == "slow") {
            return Err(InvalidAction::new(format!(
                "{} applies only to `response slow`, not '{kind} {verb}'",
                naming.name("phase")
            )));
        }
        if kind == Kind::Point && !self.methods.is_empty() {
            return Err(InvalidAction::new(format!(
                "{} applies only to response actions: fault points have no HTTP method",
                naming.name("method")
            )));
        }
        for (field, value) in [("min", &self.min), ("max", &self.max)] {
            if given(value).is_some() && verb != "slow" {
                return Err(InvalidAction::new(format!(
                    "{} applies only to verb 'slow', not '{verb}'",
                    naming.name(field)
                )));
            }
        }
        if given(&self.status).is_some() && !matches!(fault, Fault::Return { .. }) {
            return Err(InvalidAction::new(format!(
                "{} applies only to verb 'return', not '{verb}'",
                naming.name("status")
            )));
        }
        Ok(())
    }

    /// Refuses a delay longer than the apps' cap (they would cut it anyway).
    fn check_cap(&self, max_ms: u64, naming: Naming) -> Result<(), InvalidAction> {
        let default_cap =
            format_duration_ms(u64::try_from(DEFAULT_MAX_DELAY.as_millis()).unwrap_or(u64::MAX));
        let cap_text = given(&self.max_delay).unwrap_or(&default_cap);
        let cap_ms = parse_duration_ms(cap_text).map_err(|_| {
            InvalidAction::new(format!(
                "invalid {} '{cap_text}': allowed are durations such as 30s, 2m",
                naming.name("max_delay")
            ))
        })?;
        if max_ms > cap_ms {
            return Err(InvalidAction::new(format!(
                "delay {} is above the delay cap {}: allowed is at most {} (the apps cut longer delays; raise the cap with {}, default {default_cap})",
                format_duration_ms(max_ms),
                format_duration_ms(cap_ms),
                format_duration_ms(cap_ms),
                naming.name("max_delay")
            )));
        }
        Ok(())
    }
}

/// Refuses an empty value on the command line ([`Naming::Flags`]): there it is a mistake
/// (an unset variable), never "not given" — `--for ""` must not make chaos last for ever.
/// Forms send every field, so for them a blank is "not given" and passes. The one rule for
/// actions, storms, exercises and their windows.
pub(crate) fn refuse_blank(
    naming: Naming,
    fields: &[(&str, Option<&str>)],
) -> Result<(), InvalidAction> {
    if naming != Naming::Flags {
        return Ok(());
    }
    match fields
        .iter()
        .find(|(_, value)| value.is_some_and(|v| v.trim().is_empty()))
    {
        Some((field, _)) => Err(blank_value(naming, field)),
        None => Ok(()),
    }
}

/// `empty --for value: give a value or leave --for out`.
pub(crate) fn blank_value(naming: Naming, field: &str) -> InvalidAction {
    let name = naming.name(field);
    InvalidAction::new(format!(
        "empty {name} value: give a value or leave {name} out"
    ))
}

/// The values as given; an empty one is refused, naming the field as the front end does.
pub(crate) fn non_empty(
    naming: Naming,
    field: &str,
    values: &[String],
) -> Result<Vec<String>, InvalidAction> {
    if values.iter().any(|v| v.trim().is_empty()) {
        let name = naming.name(field);
        return Err(InvalidAction::new(format!(
            "empty {name} value: a {name} value must not be empty"
        )));
    }
    // Kept as typed: `validate` refuses what is not a name (a method with a space, say).
    Ok(values.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(verb: &str, target: &str) -> ActionForm {
        ActionForm {
            verb: verb.to_owned(),
            target: target.to_owned(),
            ..ActionForm::default()
        }
    }

    #[test]
    fn builds_every_verb() {
        let mut slow = form("slow", "items");
        slow.min = Some("200ms".into());
        slow.max = Some("1s".into());
        slow.probability = Some("50%".into());
        let spec = slow.build(Naming::Fields, 0).expect("valid");
        assert_eq!(
            spec.fault,
            Fault::Slow {
                min_ms: 200,
                max_ms: 1000,
                phase: Phase::Before
            }
        );
        assert!((spec.probability - 0.5).abs() < 1e-12);

        let mut ret = form("return", "items");
        ret.status = Some("503".into());
        ret.body = Some(String::new());
        assert_eq!(
            ret.build(Naming::Fields, 0).expect("valid").fault,
            Fault::Return {
                status: 503,
                body: None
            }
        );
        let mut error = form("error", "db.items");
        error.kind = Some("point".into());
        assert_eq!(
            error.build(Naming::Fields, 0).expect("valid").kind,
            Kind::Point
        );
        let mut timed = form("abort", "*");
        timed.for_duration = Some("10m".into());
        assert_eq!(
            timed
                .build(Naming::Fields, 1_000)
                .expect("valid")
                .expires_at,
            Some(1_000 + 600_000)
        );
    }

    #[test]
    fn refuses_with_the_front_end_s_names() {
        let mut body_on_slow = form("slow", "items");
        body_on_slow.min = Some("1s".into());
        body_on_slow.max = Some("2s".into());
        body_on_slow.body = Some("x".into());
        let cli = body_on_slow
            .build(Naming::Flags, 0)
            .expect_err("body on slow");
        assert_eq!(
            cli.to_string(),
            "--body applies only to verb 'return', not 'slow'"
        );
        let web = body_on_slow
            .build(Naming::Fields, 0)
            .expect_err("body on slow");
        assert_eq!(
            web.to_string(),
            "body applies only to verb 'return', not 'slow'"
        );

        let cases: [(ActionForm, &str); 6] = [
            (
                form("slow", "items"),
                "missing min: `response slow` needs a shortest delay",
            ),
            (
                form("return", "items"),
                "missing status: `response return` needs a status code",
            ),
            (
                form("error", "items"),
                "verb 'error' does not apply to kind 'response'",
            ),
            (
                form("explode", "items"),
                "unknown verb 'explode': allowed are slow, return, abort, panic",
            ),
            (form("", "items"), "missing verb"),
            (form("abort", " "), "empty view"),
        ];
        for (form, expected) in cases {
            let err = form.build(Naming::Fields, 0).expect_err(expected);
            assert!(err.to_string().contains(expected), "{err} / {expected}");
        }
        let mut both = form("abort", "items");
        both.for_duration = Some("1m".into());
        both.until = Some("2030-01-01T00:00:00Z".into());
        assert!(both.build(Naming::Fields, 0).is_err());
        let mut capped = form("slow", "items");
        capped.min = Some("1s".into());
        capped.max = Some("31s".into());
        let err = capped.build(Naming::Fields, 0).expect_err("above the cap");
        assert!(err.to_string().contains("above the delay cap 30s"), "{err}");
    }
}
