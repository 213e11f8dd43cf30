//! Game days: storms (random failures for chosen users) and exercises (hidden faults for
//! everyone, found by the team). The forms a storm or an exercise is started with — the
//! CLI's arguments, the web admin's form, the JSON API's body — go through one set of
//! rules here ([`StormForm::build`], [`ExerciseForm::build`]); [`generate`] turns the
//! result into actions; [`hint_text`] gives an exercise's hints.

pub mod generate;

use serde::Deserialize;

use self::generate::{ExerciseOptions, Intensity, StormOptions};
use crate::action::{Action, InvalidAction, Kind, Naming, parse_probability};
use crate::time::{expiry_after, parse_duration_ms};

/// Default chance per request of each storm action, before the intensity factor.
pub const STORM_DEFAULT_PROBABILITY: &str = "3%";
/// Default storm length: a storm always ends by itself.
pub const STORM_DEFAULT_DURATION: &str = "15m";
/// Default exercise length.
pub const EXERCISE_DEFAULT_DURATION: &str = "1h";
/// The most faults one exercise injects.
pub const EXERCISE_MAX_FAULTS: u32 = 20;
/// How many hints an exercise gives: the targets, then the kind of fault on each.
pub const HINTS: u32 = 2;

fn given(field: &Option<String>) -> Option<&str> {
    field.as_deref().filter(|text| !text.trim().is_empty())
}

/// The values in order, each once; an empty one is refused (the action form's rule).
fn names(naming: Naming, field: &str, values: &[String]) -> Result<Vec<String>, InvalidAction> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in crate::action::non_empty(naming, field, values)? {
        if !out.contains(&value) {
            out.push(value);
        }
    }
    Ok(out)
}

/// The timing options and the expiry `for` after the start (or `now_ms`).
fn timing(
    naming: Naming,
    now_ms: i64,
    for_text: &str,
    form: (&[String], &Option<String>, &Option<String>, &Option<String>),
) -> Result<(crate::schedule::Timing, i64), InvalidAction> {
    let (between, days, tz, start_at) = form;
    let timing = crate::schedule::from_options(
        naming,
        now_ms,
        between,
        days.as_deref(),
        tz.as_deref(),
        start_at.as_deref(),
    )?;
    let from = timing.starts_at.unwrap_or(now_ms);
    let expires_at = expiry_after(
        from,
        parse_duration_ms(for_text)?,
        &naming.name("for"),
        for_text,
    )?;
    timing
        .schedule(Some(expires_at))
        .check_ever_active(now_ms)?;
    Ok((timing, expires_at))
}

/// A storm as text, before checking (`users`, `groups`, `views` as lists; `probability`
/// `3%` or `0.03`; `for` a duration; `intensity` `low`, `medium` or `high`).
#[cfg_attr(feature = "admin", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StormForm {
    /// Users hit.
    pub users: Vec<String>,
    /// Groups whose members are hit.
    pub groups: Vec<String>,
    /// Views covered (empty: every view the live instances registered).
    pub views: Vec<String>,
    /// Chance per request of each action (default 3%).
    pub probability: Option<String>,
    /// How long it lasts (default 15m).
    #[serde(rename = "for")]
    pub for_duration: Option<String>,
    /// Seed (default random).
    pub seed: Option<u64>,
    /// `low`, `medium` (default) or `high`.
    pub intensity: Option<String>,
    /// Inert before this time (RFC 3339): a game day booked in advance; `for` counts
    /// from it.
    pub start_at: Option<String>,
    /// Active only in these wall-clock ranges (`09:00-17:00`; several allowed).
    pub between: Vec<String>,
    /// Active only on these days (`mon-fri`).
    pub days: Option<String>,
    /// The IANA time zone of `between` and `days` (default UTC).
    pub tz: Option<String>,
}

/// A checked storm: the views asked for (empty: every view) and the options.
#[derive(Debug, Clone, PartialEq)]
pub struct StormPlan {
    /// Views given, each once (empty: every view).
    pub views: Vec<String>,
    /// Who, how hard, until when, which seed.
    pub options: StormOptions,
    /// Whether the seed was drawn (not given).
    pub random_seed: bool,
}

impl StormForm {
    /// Checks the form; `now_ms` anchors `for`.
    ///
    /// Errors: no user and no group (a storm never hits everyone), an empty name, a
    /// malformed probability, duration or intensity.
    pub fn build(&self, naming: Naming, now_ms: i64) -> Result<StormPlan, InvalidAction> {
        crate::action::refuse_blank(
            naming,
            &[
                ("for", self.for_duration.as_deref()),
                ("probability", self.probability.as_deref()),
                ("intensity", self.intensity.as_deref()),
            ],
        )?;
        if self.users.is_empty() && self.groups.is_empty() {
            return Err(InvalidAction::new(format!(
                "a storm needs {} NAME or {} NAME (repeatable): it never hits everyone",
                naming.name("user"),
                naming.name("group")
            )));
        }
        let users = names(naming, "user", &self.users)?;
        let groups = names(naming, "group", &self.groups)?;
        let views = names(naming, "view", &self.views)?;
        let probability =
            parse_probability(given(&self.probability).unwrap_or(STORM_DEFAULT_PROBABILITY))?;
        let intensity = match given(&self.intensity) {
            Some(text) => text.parse::<Intensity>().map_err(|_| {
                InvalidAction::new(format!(
                    "invalid {} '{text}': allowed are low, medium, high",
                    naming.name("intensity")
                ))
            })?,
            None => Intensity::default(),
        };
        let for_text = given(&self.for_duration).unwrap_or(STORM_DEFAULT_DURATION);
        let (timing, expires_at) = timing(
            naming,
            now_ms,
            for_text,
            (&self.between, &self.days, &self.tz, &self.start_at),
        )?;
        let (seed, random_seed) = match self.seed {
            Some(seed) => (seed, false),
            None => (rand::random::<u64>(), true),
        };
        Ok(StormPlan {
            views,
            options: StormOptions {
                users,
                groups,
                probability,
                intensity,
                expires_at,
                timing,
                seed,
            },
            random_seed,
        })
    }
}

/// An exercise as text, before checking.
#[cfg_attr(feature = "admin", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExerciseForm {
    /// Views covered (empty: every view the live instances registered).
    pub views: Vec<String>,
    /// Fault points that may return errors.
    pub points: Vec<String>,
    /// How many faults (1–20, default 1).
    pub faults: Option<u32>,
    /// How long it lasts (default 1h).
    #[serde(rename = "for")]
    pub for_duration: Option<String>,
    /// Chance per request of each fault (default: drawn per fault, 25%–100%).
    pub probability: Option<String>,
    /// Seed (default random).
    pub seed: Option<u64>,
    /// Start even on views no live app instance serves.
    pub force: bool,
    /// Inert before this time (RFC 3339): a game day booked in advance; `for` counts
    /// from it.
    pub start_at: Option<String>,
    /// Active only in these wall-clock ranges (`09:00-17:00`; several allowed).
    pub between: Vec<String>,
    /// Active only on these days (`mon-fri`).
    pub days: Option<String>,
    /// The IANA time zone of `between` and `days` (default UTC).
    pub tz: Option<String>,
}

/// A checked exercise.
#[derive(Debug, Clone, PartialEq)]
pub struct ExercisePlan {
    /// Views given, each once (empty: every view).
    pub views: Vec<String>,
    /// Points given, each once.
    pub points: Vec<String>,
    /// How many, how likely, until when, which seed.
    pub options: ExerciseOptions,
}

impl ExerciseForm {
    /// Checks the form; `now_ms` anchors `for`.
    ///
    /// Errors: an empty name, a fault count outside 1–20, a malformed probability or
    /// duration.
    pub fn build(&self, naming: Naming, now_ms: i64) -> Result<ExercisePlan, InvalidAction> {
        crate::action::refuse_blank(
            naming,
            &[
                ("for", self.for_duration.as_deref()),
                ("probability", self.probability.as_deref()),
            ],
        )?;
        let views = names(naming, "view", &self.views)?;
        let points = names(naming, "point", &self.points)?;
        let faults = self.faults.unwrap_or(1);
        if !(1..=EXERCISE_MAX_FAULTS).contains(&faults) {
            return Err(InvalidAction::new(format!(
                "{} {faults} is not allowed: allowed are 1 to {EXERCISE_MAX_FAULTS} faults",
                naming.name("faults")
            )));
        }
        let probability = given(&self.probability)
            .map(parse_probability)
            .transpose()?;
        let for_text = given(&self.for_duration).unwrap_or(EXERCISE_DEFAULT_DURATION);
        let (timing, expires_at) = timing(
            naming,
            now_ms,
            for_text,
            (&self.between, &self.days, &self.tz, &self.start_at),
        )?;
        Ok(ExercisePlan {
            views,
            points,
            options: ExerciseOptions {
                faults: faults as usize,
                probability,
                expires_at,
                timing,
                seed: self.seed.unwrap_or_else(rand::random::<u64>),
            },
        })
    }
}

/// The views a storm or an exercise covers when none is given: every view the live app
/// instances registered (by name, once each, sorted), or the wildcard `*` when no
/// instance is live (every app applies it to all of its views).
///
/// Errors: the store cannot be read.
pub async fn default_views(store: &crate::Store) -> Result<Vec<String>, crate::StoreError> {
    let now = crate::time::now_ms();
    let mut names: Vec<String> = store
        .registered_views()
        .await?
        .into_iter()
        .filter(|view| view.instance.is_live_at(now))
        .map(|view| view.name)
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        names.push("*".to_owned());
    }
    Ok(names)
}

/// The names (view names and route patterns) the live app instances serve, sorted; empty
/// when the registry cannot be read.
pub async fn live_view_names(store: &crate::Store) -> Vec<String> {
    let now = crate::time::now_ms();
    let Ok(views) = store.registered_views().await else {
        return Vec::new();
    };
    let mut names: Vec<String> = views
        .iter()
        .filter(|v| v.instance.is_live_at(now))
        .flat_map(|v| [v.name.clone(), v.pattern.clone()])
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The views in `names` no live app instance serves (an exercise on one would have the
/// players hunt for a fault nobody can see). Empty for `*`, when no instance is live
/// (nothing to compare with), or when the registry cannot be read.
pub async fn unserved_views(store: &crate::Store, names: &[String]) -> Vec<String> {
    let now = crate::time::now_ms();
    let Ok(instances) = store.instances().await else {
        return Vec::new();
    };
    if !instances.iter().any(|i| i.is_live_at(now)) {
        return Vec::new();
    }
    let served = live_view_names(store).await;
    names
        .iter()
        .filter(|name| name.as_str() != "*" && !served.contains(name))
        .cloned()
        .collect()
}

/// Where a fault is, for hints: `view items`, `every view`, `fault point db.items`.
pub fn describe_target(action: &Action) -> String {
    match (action.spec.kind, action.spec.target.as_str()) {
        (Kind::Response, "*") => "every view".to_owned(),
        (Kind::Response, view) => format!("view {view}"),
        (Kind::Point, name) => format!("fault point {name}"),
    }
}

/// Hint `number` (1-based) about an exercise's faults: 1 names the targets, 2 the kind of
/// fault on each; later ones say there are no more (`reveal` shows the faults).
pub fn hint_text(number: u32, actions: &[Action]) -> String {
    match number {
        1 => {
            let mut targets: Vec<String> = Vec::new();
            for action in actions {
                let target = describe_target(action);
                if !targets.contains(&target) {
                    targets.push(target);
                }
            }
            format!("hint 1 of {HINTS}: look at {}\n", targets.join(", "))
        }
        2 => {
            let mut text = format!("hint 2 of {HINTS}: what goes wrong\n");
            for action in actions {
                text.push_str(&format!(
                    "  {}: {}\n",
                    describe_target(action),
                    generate::fault_kind(&action.spec.fault)
                ));
            }
            text
        }
        _ => "no more hints: `chaos-admin exercise reveal` shows the faults\n".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storms_need_someone_and_check_their_values() {
        let nobody = StormForm::default()
            .build(Naming::Fields, 0)
            .expect_err("nobody");
        assert!(
            nobody.to_string().contains("user NAME or group NAME"),
            "{nobody}"
        );
        let cli = StormForm::default()
            .build(Naming::Flags, 0)
            .expect_err("nobody");
        assert!(
            cli.to_string().contains("--user NAME or --group NAME"),
            "{cli}"
        );
        let form = StormForm {
            users: vec!["alice".into(), "alice".into()],
            views: vec!["items".into()],
            intensity: Some("high".into()),
            seed: Some(7),
            ..StormForm::default()
        };
        let plan = form.build(Naming::Fields, 1_000).expect("valid");
        assert_eq!(plan.options.users, ["alice"]);
        assert_eq!(plan.options.expires_at, 1_000 + 15 * 60_000);
        assert!(!plan.random_seed);
        let bad = StormForm {
            intensity: Some("extreme".into()),
            ..form
        };
        assert!(bad.build(Naming::Fields, 0).is_err());
    }

    #[test]
    fn exercises_check_their_fault_count() {
        let plan = ExerciseForm::default()
            .build(Naming::Fields, 0)
            .expect("defaults");
        assert_eq!(plan.options.faults, 1);
        assert_eq!(plan.options.expires_at, 3_600_000);
        for faults in [0, 21] {
            let form = ExerciseForm {
                faults: Some(faults),
                ..ExerciseForm::default()
            };
            assert!(form.build(Naming::Fields, 0).is_err(), "{faults}");
        }
    }
}
