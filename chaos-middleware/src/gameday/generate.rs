//! Random chaos, deterministic for a seed: the actions of a storm and the hidden faults
//! of an exercise. Pure functions (views, options, seed) → specs, so they can be tested
//! without a store; the same inputs always give the same specs.

use std::fmt;
use std::str::FromStr;

use crate::action::{ActionSpec, Fault, Kind, Phase};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};

/// The tags of storm and exercise actions (the store's: they end with their owner).
pub use crate::store::{EXERCISE_TAG, STORM_TAG};

/// Statuses a storm forces: client and server errors an app must cope with.
pub const STORM_STATUSES: [u16; 11] = [400, 401, 403, 404, 408, 409, 429, 500, 502, 503, 504];
/// Server errors an exercise may force.
pub const EXERCISE_5XX: [u16; 4] = [500, 502, 503, 504];
/// Client errors an exercise may force.
pub const EXERCISE_4XX: [u16; 5] = [400, 403, 404, 409, 429];

/// A storm's shortest `slow` minimum and longest maximum, in milliseconds.
pub const STORM_MIN_DELAY_MS: u64 = 100;
/// See [`STORM_MIN_DELAY_MS`].
pub const STORM_MAX_DELAY_MS: u64 = 3_000;

/// How hard a storm blows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Intensity {
    /// One action per view, half the probability.
    Low,
    /// Two actions per view, the probability as given.
    #[default]
    Medium,
    /// Four actions per view, twice the probability (at most 100%).
    High,
}

impl Intensity {
    /// Actions created for each view.
    pub fn actions_per_view(self) -> usize {
        match self {
            Intensity::Low => 1,
            Intensity::Medium => 2,
            Intensity::High => 4,
        }
    }

    /// Factor applied to `--probability` (the result is capped at 1.0).
    pub fn probability_factor(self) -> f64 {
        match self {
            Intensity::Low => 0.5,
            Intensity::Medium => 1.0,
            Intensity::High => 2.0,
        }
    }

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Intensity::Low => "low",
            Intensity::Medium => "medium",
            Intensity::High => "high",
        }
    }
}

impl fmt::Display for Intensity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Intensity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Intensity::Low),
            "medium" => Ok(Intensity::Medium),
            "high" => Ok(Intensity::High),
            _ => Err(format!(
                "invalid --intensity '{s}': allowed are low, medium, high"
            )),
        }
    }
}

/// Who a storm hits and how.
#[derive(Debug, Clone, PartialEq)]
pub struct StormOptions {
    /// Users hit (with `groups`: at least one of the two is non-empty).
    pub users: Vec<String>,
    /// Groups whose members are hit.
    pub groups: Vec<String>,
    /// Chance per request per action before the intensity factor.
    pub probability: f64,
    /// Actions per view and probability factor.
    pub intensity: Intensity,
    /// When every action expires (Unix milliseconds).
    pub expires_at: i64,
    /// When it starts and in which windows it is active (default: now, always).
    pub timing: crate::schedule::Timing,
    /// The generator's seed.
    pub seed: u64,
}

/// The actions of a storm over `views`. For each view, `intensity.actions_per_view()`
/// random faults (40% `slow` 100ms–3s, 45% a 4xx/5xx `return`, 15% `abort`). The layer
/// requires an action's users *and* groups to match, so when both `--user` and `--group`
/// are given each fault is stored twice — once for the users, once for the groups — and
/// the storm hits the named users and every member of the named groups. Every action is
/// tagged `storm`, expires at `expires_at` and never targets everyone.
pub fn storm(views: &[String], options: &StormOptions) -> Vec<ActionSpec> {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let probability = (options.probability * options.intensity.probability_factor()).min(1.0);
    let mut audiences: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    if !options.users.is_empty() {
        audiences.push((options.users.clone(), Vec::new()));
    }
    if !options.groups.is_empty() {
        audiences.push((Vec::new(), options.groups.clone()));
    }
    let mut specs = Vec::new();
    for view in views {
        for _ in 0..options.intensity.actions_per_view() {
            let fault = storm_fault(&mut rng);
            for (users, groups) in &audiences {
                let mut spec = ActionSpec::new(Kind::Response, view.clone(), fault.clone());
                spec.probability = probability;
                spec.users = users.clone();
                spec.groups = groups.clone();
                spec.expires_at = Some(options.expires_at);
                options.timing.apply_to(&mut spec);
                spec.tag = Some(STORM_TAG.to_owned());
                spec.note = Some(format!("storm seed {}", options.seed));
                specs.push(spec);
            }
        }
    }
    specs
}

fn storm_fault(rng: &mut StdRng) -> Fault {
    match rng.random_range(0..100u32) {
        0..40 => {
            // Whole tens of milliseconds: 100ms..1s for the minimum, up to 3s for the max.
            let min_ms = rng.random_range(STORM_MIN_DELAY_MS / 10..=100) * 10;
            let max_ms = rng.random_range(min_ms / 10..=STORM_MAX_DELAY_MS / 10) * 10;
            let phase = if rng.random_range(0..10u32) == 0 {
                Phase::After
            } else {
                Phase::Before
            };
            Fault::Slow {
                min_ms,
                max_ms,
                phase,
            }
        }
        40..85 => Fault::Return {
            status: *STORM_STATUSES.choose(rng).unwrap_or(&503),
            body: None,
        },
        _ => Fault::Abort,
    }
}

/// What an exercise injects.
#[derive(Debug, Clone, PartialEq)]
pub struct ExerciseOptions {
    /// How many faults.
    pub faults: usize,
    /// Fixed chance per request; `None` draws one per fault (25%, 50%, 75% or 100%).
    pub probability: Option<f64>,
    /// When every fault expires (Unix milliseconds).
    pub expires_at: i64,
    /// When it starts and in which windows it is active (default: now, always).
    pub timing: crate::schedule::Timing,
    /// The generator's seed.
    pub seed: u64,
}

/// The hidden faults of an exercise, for everyone, over `views` (response faults:
/// `slow` 500ms–5s, a 5xx or 4xx `return`, `abort`) and fault `points` (`error`). Targets
/// are drawn without repetition until each was used once. Tagged `exercise`, no note:
/// nothing in a fault says what it is beyond its own fields.
pub fn exercise(views: &[String], points: &[String], options: &ExerciseOptions) -> Vec<ActionSpec> {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let targets: Vec<(Kind, &String)> = views
        .iter()
        .map(|v| (Kind::Response, v))
        .chain(points.iter().map(|p| (Kind::Point, p)))
        .collect();
    let mut specs = Vec::with_capacity(options.faults);
    let mut unused: Vec<usize> = Vec::new();
    for _ in 0..options.faults {
        if unused.is_empty() {
            unused = (0..targets.len()).collect();
        }
        if unused.is_empty() {
            break;
        }
        let pick = unused.remove(rng.random_range(0..unused.len()));
        let (kind, target) = targets[pick];
        let fault = match kind {
            Kind::Point => Fault::Error { message: None },
            Kind::Response => match rng.random_range(0..4u32) {
                0 => {
                    let min_ms = rng.random_range(5..=20u64) * 100;
                    let max_ms = rng.random_range(min_ms / 100..=50) * 100;
                    Fault::Slow {
                        min_ms,
                        max_ms,
                        phase: Phase::Before,
                    }
                }
                1 => Fault::Return {
                    status: *EXERCISE_5XX.choose(&mut rng).unwrap_or(&503),
                    body: None,
                },
                2 => Fault::Return {
                    status: *EXERCISE_4XX.choose(&mut rng).unwrap_or(&409),
                    body: None,
                },
                _ => Fault::Abort,
            },
        };
        let probability = match options.probability {
            Some(p) => p,
            None => f64::from(rng.random_range(1..=4u32)) * 0.25,
        };
        let mut spec = ActionSpec::new(kind, target.clone(), fault);
        spec.probability = probability;
        spec.expires_at = Some(options.expires_at);
        options.timing.apply_to(&mut spec);
        spec.tag = Some(EXERCISE_TAG.to_owned());
        specs.push(spec);
    }
    specs
}

/// A human description of a fault's kind, without its numbers (for hints).
pub fn fault_kind(fault: &Fault) -> &'static str {
    match fault {
        Fault::Slow { .. } => "slow responses",
        Fault::Return { status, .. } if *status >= 500 => "server errors (5xx)",
        Fault::Return { status, .. } if *status >= 400 => "client errors (4xx)",
        Fault::Return { .. } => "unexpected statuses",
        Fault::Abort => "dropped connections (no response at all)",
        Fault::Panic => "panics in the service",
        Fault::Error { .. } => "errors from the fault point",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn views(names: &[&str]) -> Vec<String> {
        names.iter().map(|v| (*v).to_owned()).collect()
    }

    fn options(seed: u64, intensity: Intensity) -> StormOptions {
        StormOptions {
            users: vec!["alice".into()],
            groups: Vec::new(),
            probability: 0.03,
            intensity,
            expires_at: 1_000_000,
            timing: crate::schedule::Timing::default(),
            seed,
        }
    }

    #[test]
    fn storms_are_reproducible_with_a_seed() {
        let views = views(&["items", "checkout", "*"]);
        let a = storm(&views, &options(42, Intensity::Medium));
        let b = storm(&views, &options(42, Intensity::Medium));
        assert_eq!(a, b);
        let c = storm(&views, &options(43, Intensity::Medium));
        assert_ne!(
            a.iter().map(|s| &s.fault).collect::<Vec<_>>(),
            c.iter().map(|s| &s.fault).collect::<Vec<_>>(),
            "another seed should give other faults"
        );
    }

    #[test]
    fn storm_actions_target_only_the_named_users_and_groups() {
        let mut opts = options(7, Intensity::High);
        opts.groups = vec!["qa".into()];
        let specs = storm(&views(&["items", "checkout"]), &opts);
        assert_eq!(
            specs.len(),
            2 * 4 * 2,
            "two views, four each, two audiences"
        );
        for spec in &specs {
            assert!(
                spec.users == ["alice"] && spec.groups.is_empty()
                    || spec.users.is_empty() && spec.groups == ["qa"],
                "{spec:?}"
            );
            assert!(spec.hosts.is_empty() && spec.methods.is_empty());
            assert_eq!(spec.expires_at, Some(1_000_000), "every action expires");
            assert_eq!(spec.tag.as_deref(), Some(STORM_TAG));
            assert!(spec.validate().is_ok(), "{spec:?}");
        }
        // Only users: nothing for groups, and never for everyone.
        let specs = storm(&views(&["*"]), &options(7, Intensity::Low));
        assert!(
            specs
                .iter()
                .all(|s| s.users == ["alice"] && s.groups.is_empty())
        );
    }

    #[test]
    fn intensity_changes_count_and_probability() {
        let views = views(&["items", "checkout", "health"]);
        let low = storm(&views, &options(1, Intensity::Low));
        let medium = storm(&views, &options(1, Intensity::Medium));
        let high = storm(&views, &options(1, Intensity::High));
        assert_eq!((low.len(), medium.len(), high.len()), (3, 6, 12));
        assert!((low[0].probability - 0.015).abs() < 1e-9);
        assert!((medium[0].probability - 0.03).abs() < 1e-9);
        assert!((high[0].probability - 0.06).abs() < 1e-9);
        let mut capped = options(1, Intensity::High);
        capped.probability = 0.8;
        assert!(storm(&views, &capped).iter().all(|s| s.probability == 1.0));
    }

    #[test]
    fn storms_mix_verbs_within_the_delay_bounds() {
        let many: Vec<String> = (0..50).map(|i| format!("view{i}")).collect();
        let specs = storm(&many, &options(99, Intensity::High));
        let verbs: std::collections::BTreeSet<&str> =
            specs.iter().map(|s| s.fault.verb()).collect();
        assert_eq!(
            verbs.into_iter().collect::<Vec<_>>(),
            ["abort", "return", "slow"]
        );
        for spec in &specs {
            match &spec.fault {
                Fault::Slow { min_ms, max_ms, .. } => {
                    assert!(
                        *min_ms >= STORM_MIN_DELAY_MS && *min_ms <= 1_000,
                        "{spec:?}"
                    );
                    assert!(*max_ms >= *min_ms && *max_ms <= STORM_MAX_DELAY_MS);
                }
                Fault::Return { status, .. } => assert!(STORM_STATUSES.contains(status)),
                Fault::Abort => {}
                other => panic!("unexpected storm fault {other:?}"),
            }
        }
    }

    #[test]
    fn intensity_parses() {
        assert_eq!("HIGH".parse::<Intensity>(), Ok(Intensity::High));
        let err = "extreme".parse::<Intensity>().expect_err("not a level");
        assert!(err.contains("'extreme'") && err.contains("low, medium, high"));
    }

    #[test]
    fn exercises_are_reproducible_and_for_everyone() {
        let opts = ExerciseOptions {
            faults: 3,
            probability: None,
            expires_at: 5_000,
            timing: crate::schedule::Timing::default(),
            seed: 11,
        };
        let views = views(&["items", "checkout"]);
        let points = vec!["db.items".to_owned()];
        let a = exercise(&views, &points, &opts);
        assert_eq!(a, exercise(&views, &points, &opts));
        assert_eq!(a.len(), 3);
        let mut targets: Vec<&str> = a.iter().map(|s| s.target.as_str()).collect();
        targets.sort_unstable();
        assert_eq!(
            targets,
            ["checkout", "db.items", "items"],
            "each target once"
        );
        for spec in &a {
            assert!(spec.users.is_empty() && spec.groups.is_empty());
            assert_eq!(spec.tag.as_deref(), Some(EXERCISE_TAG));
            assert_eq!(spec.expires_at, Some(5_000));
            assert!(spec.note.is_none());
            assert!(spec.validate().is_ok(), "{spec:?}");
            assert!(!matches!(spec.fault, Fault::Panic));
        }
        let fixed = ExerciseOptions {
            faults: 5,
            probability: Some(1.0),
            ..opts
        };
        let b = exercise(&views, &[], &fixed);
        assert_eq!(b.len(), 5, "targets are reused once all were used");
        assert!(
            b.iter()
                .all(|s| s.probability == 1.0 && s.kind == Kind::Response)
        );
    }
}
