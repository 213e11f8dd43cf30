//! The compiled, immutable rule set the layer reads on every request.
//!
//! Rules are keyed by view (and fault points by name) so a request costs one hash lookup
//! whatever the number of stored actions; `*` rules are kept apart. Order within a
//! request: rules for the view (by ascending id), then `*` rules (by ascending id).
//! Delays of every matching `slow` add up; the first matching `return`, `abort` or
//! `panic` (for points: `error`) wins and stops the evaluation.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, StatusCode};
use rustc_hash::FxHashMap;

use crate::action::{
    Action, Fault, Kind, Phase, status_allows_body, status_forbids_content_length,
};
use crate::fast_rng;
use crate::user::ChaosUser;
use crate::views::ChaosViews;

/// A compiled action.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub id: i64,
    pub target: Arc<str>,
    pub effect: Effect,
    pub probability: f64,
    // Boxed slices: an empty one (the common case) allocates nothing.
    pub users: Box<[String]>,
    pub groups: Box<[String]>,
    pub methods: Box<[Method]>,
    pub expires_at_ms: Option<i64>,
    /// The start and windows, with their next transition cached (`None`: always on).
    /// Shared by every copy of the rule (one per view name the action is filed under).
    pub clock: Option<Arc<crate::schedule::WindowClock>>,
    /// How often this action injected its fault on this instance (shared by every copy
    /// of the rule and kept across reloads: see [`FiredCounters`]).
    pub fired: Arc<std::sync::atomic::AtomicU64>,
}

/// The per-action fault counters of one layer, by action id. Locked only when a snapshot
/// is compiled and when the heartbeat reads them; the request path increments the
/// counter its rule holds, without a lock.
#[derive(Debug, Default)]
pub(crate) struct FiredCounters(
    std::sync::Mutex<std::collections::HashMap<i64, Arc<std::sync::atomic::AtomicU64>>>,
);

impl FiredCounters {
    /// The counters of `ids` (created at 0), dropping those of actions no longer stored.
    fn for_actions(
        &self,
        ids: &[i64],
    ) -> std::collections::HashMap<i64, Arc<std::sync::atomic::AtomicU64>> {
        let mut map = match self.0.lock() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        // A set: with 10,000 stored actions a linear `contains` per entry would cost 10^8
        // steps on every reload.
        let keep: std::collections::HashSet<i64> = ids.iter().copied().collect();
        map.retain(|id, _| keep.contains(id));
        for id in ids {
            map.entry(*id).or_default();
        }
        map.clone()
    }

    /// Every counter's current value, by action id.
    pub fn read(&self) -> Vec<(i64, u64)> {
        let map = match self.0.lock() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut out: Vec<(i64, u64)> = map
            .iter()
            .map(|(id, n)| (*id, n.load(std::sync::atomic::Ordering::Relaxed)))
            .collect();
        out.sort_unstable();
        out
    }
}

/// What a rule does.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    Slow {
        min_ms: u64,
        max_ms: u64,
        phase: Phase,
    },
    Return {
        status: StatusCode,
        body: Bytes,
        /// 204 and 304: sent with no body and no `Content-Length` at all.
        bare: bool,
    },
    Abort,
    Panic,
    Error {
        message: Arc<str>,
    },
}

impl Effect {
    pub fn verb(&self) -> &'static str {
        match self {
            Effect::Slow { .. } => "slow",
            Effect::Return { .. } => "return",
            Effect::Abort => "abort",
            Effect::Panic => "panic",
            Effect::Error { .. } => "error",
        }
    }
}

/// Rules keyed by name, plus the `*` rules.
#[derive(Debug, Default)]
struct RuleSet {
    by_name: FxHashMap<Box<str>, Box<[Rule]>>,
    wildcard: Box<[Rule]>,
}

impl RuleSet {
    #[inline]
    fn candidates(&self, name: &str) -> Option<(&[Rule], &[Rule])> {
        let specific = self.by_name.get(name).map_or(&[][..], |rules| &rules[..]);
        if specific.is_empty() && self.wildcard.is_empty() {
            None
        } else {
            Some((specific, &self.wildcard))
        }
    }
}

/// Collects rules before they are frozen into a [`RuleSet`].
#[derive(Default)]
struct RuleSetBuilder {
    by_name: FxHashMap<Box<str>, Vec<Rule>>,
    wildcard: Vec<Rule>,
}

impl RuleSetBuilder {
    fn add(&mut self, keys: &[&str], rule: Rule) {
        if keys == ["*"] {
            self.wildcard.push(rule);
            return;
        }
        for key in keys {
            self.by_name
                .entry((*key).into())
                .or_default()
                .push(rule.clone());
        }
    }

    fn build(self) -> RuleSet {
        RuleSet {
            by_name: self
                .by_name
                .into_iter()
                .map(|(k, v)| (k, v.into_boxed_slice()))
                .collect(),
            wildcard: self.wildcard.into_boxed_slice(),
        }
    }
}

/// The rule set at one store generation.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub generation: Option<i64>,
    pub built_at: Instant,
    /// Request-level rules.
    pub rule_count: usize,
    /// Fault point rules.
    pub point_rule_count: usize,
    responses: RuleSet,
    points: RuleSet,
    /// The route patterns known (named views, and request-level action targets such as
    /// `/items/{id}`), for requests that carry no `MatchedPath` (the layer wraps a whole
    /// `Router`, or a fallback answers): `None` when none has a parameter.
    patterns: Option<matchit::Router<Box<str>>>,
}

/// What to do with one request or fault point.
#[derive(Debug, Default)]
pub(crate) struct Decision<'s> {
    /// Sum of the `slow` delays that hold the request before the handler, in ms.
    pub before_ms: u64,
    /// Sum of the `slow --phase after` delays that hold the response, in ms.
    pub after_ms: u64,
    /// The rules that fired (for logging and counters).
    pub fired: Vec<&'s Rule>,
    /// The first matching `return`/`abort`/`panic`/`error`, if any.
    pub terminal: Option<&'s Rule>,
}

impl Decision<'_> {
    pub fn is_empty(&self) -> bool {
        self.fired.is_empty()
    }
}

impl Snapshot {
    /// A snapshot with no rules (the state before the first load).
    pub fn empty() -> Self {
        Self {
            generation: None,
            built_at: Instant::now(),
            rule_count: 0,
            point_rule_count: 0,
            responses: RuleSet::default(),
            points: RuleSet::default(),
            patterns: None,
        }
    }

    /// A snapshot that injects nothing, at `generation` (a guard tripped).
    pub fn inert(generation: Option<i64>) -> Self {
        Self {
            generation,
            ..Self::empty()
        }
    }

    /// Compiles the enabled actions meant for this host.
    pub fn compile<'a>(
        generation: Option<i64>,
        actions: impl IntoIterator<Item = &'a Action>,
        views: &ChaosViews,
        host: &str,
        fired: &FiredCounters,
    ) -> Self {
        let mut responses = RuleSetBuilder::default();
        let mut points = RuleSetBuilder::default();
        let (mut rule_count, mut point_rule_count) = (0, 0);
        let stored: Vec<&Action> = actions.into_iter().collect();
        // Fault counts are kept for every stored action, so a disabled one keeps its count
        // and goes on from it when enabled again.
        let ids: Vec<i64> = stored.iter().map(|a| a.id).collect();
        let counters = fired.for_actions(&ids);
        let mut sorted: Vec<&Action> = stored
            .into_iter()
            .filter(|a| a.spec.enabled)
            .filter(|a| a.spec.hosts.is_empty() || a.spec.hosts.iter().any(|h| glob_match(h, host)))
            .collect();
        sorted.sort_by_key(|a| a.id);
        for action in sorted {
            let rule = match Rule::from_action(
                action,
                counters.get(&action.id).cloned().unwrap_or_default(),
            ) {
                Ok(rule) => rule,
                Err(reason) => {
                    tracing::warn!(target: "chaos", action_id = action.id, "skipping action {}: {reason}", action.id);
                    continue;
                }
            };
            let target = action.spec.target.as_str();
            match action.spec.kind {
                Kind::Response => {
                    rule_count += 1;
                    // A request's key is its route pattern (or raw path); an action may
                    // name the view instead, so file it under every pattern with that name.
                    let mut keys: Vec<&str> = vec![target];
                    keys.extend(views.patterns_of(target).filter(|p| *p != target));
                    responses.add(&keys, rule);
                }
                Kind::Point => {
                    point_rule_count += 1;
                    points.add(&[target], rule);
                }
            }
        }
        let responses = responses.build();
        let patterns = pattern_matcher(
            views
                .iter()
                .map(|(_, pattern)| pattern)
                .chain(responses.by_name.keys().map(|key| &**key)),
        );
        Self {
            generation,
            built_at: Instant::now(),
            rule_count,
            point_rule_count,
            responses,
            points: points.build(),
            patterns,
        }
    }

    /// The view key of a request to `path` that carries no `MatchedPath`: the known route
    /// pattern it matches (`/items/7` → `/items/{id}`), else the path itself.
    #[inline]
    pub fn resolve<'a>(&'a self, path: &'a str) -> &'a str {
        match &self.patterns {
            Some(router) => router.at(path).map_or(path, |found| &**found.value),
            None => path,
        }
    }

    /// True when no request-level rule could ever match (the fast path).
    #[inline]
    pub fn has_no_response_rules(&self) -> bool {
        self.rule_count == 0
    }

    /// The request-level rules that may apply to `view`: (for the view, `*`).
    #[inline]
    pub fn response_candidates(&self, view: &str) -> Option<(&[Rule], &[Rule])> {
        self.responses.candidates(view)
    }

    /// The rules that may apply to the fault point `name`: (for the point, `*`).
    #[inline]
    pub fn point_candidates(&self, name: &str) -> Option<(&[Rule], &[Rule])> {
        if self.point_rule_count == 0 {
            return None;
        }
        self.points.candidates(name)
    }
}

/// A matcher of the known route patterns (named views, action targets), with axum's own
/// priorities (a static segment before a parameter, a parameter before a catch-all):
/// `/health` stays `/health` beside `/{page}`, as axum routes it. `None` when no pattern
/// has a parameter (then a path is its own key and needs no matcher). A pattern axum's
/// matcher refuses, or one that conflicts with another (`/a/{x}` and `/a/{y}`), is left
/// out with a warning (once per pattern and process): its requests keep their path as key.
fn pattern_matcher<'a>(
    patterns: impl Iterator<Item = &'a str>,
) -> Option<matchit::Router<Box<str>>> {
    let mut seen = std::collections::BTreeSet::new();
    for pattern in patterns {
        if pattern.starts_with('/') {
            seen.insert(pattern);
        }
    }
    if !seen.iter().any(|pattern| pattern.contains('{')) {
        return None;
    }
    let mut router = matchit::Router::new();
    for pattern in seen {
        if let Err(err) = router.insert(pattern, Box::<str>::from(pattern)) {
            warn_once(pattern, &err);
        }
    }
    Some(router)
}

/// Warns about a pattern left out of the matcher, once per pattern and process (the
/// snapshot is compiled again on every change).
fn warn_once(pattern: &str, err: &matchit::InsertError) {
    static WARNED: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
    if warned.len() < 1_000 && warned.insert(pattern.to_owned()) {
        tracing::warn!(target: "chaos", pattern, error = %err, "route pattern left out of the view lookup for requests without a matched route (a layer around a whole Router, or a fallback): such requests keep their path as view");
    }
}

/// The methods a rule matches, upper-cased; `GET` also covers `HEAD` (axum serves HEAD
/// with the GET route). `Err` names a method that is not an HTTP method name: such a rule
/// must match nothing, never every method as an empty list would.
fn compile_methods(methods: &[String]) -> Result<Box<[Method]>, String> {
    let mut compiled = Vec::with_capacity(methods.len() + 1);
    for text in methods {
        let method = Method::from_bytes(text.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("invalid method '{text}'"))?;
        if !compiled.contains(&method) {
            compiled.push(method);
        }
    }
    if compiled.contains(&Method::GET) && !compiled.contains(&Method::HEAD) {
        compiled.push(Method::HEAD);
    }
    Ok(compiled.into_boxed_slice())
}

impl Rule {
    /// Compiles an action; `Err` (the reason) when a filter cannot be understood, and the
    /// action is then skipped rather than widened.
    fn from_action(
        action: &Action,
        fired: Arc<std::sync::atomic::AtomicU64>,
    ) -> Result<Self, String> {
        let effect = match &action.spec.fault {
            Fault::Slow {
                min_ms,
                max_ms,
                phase,
            } => Effect::Slow {
                min_ms: *min_ms,
                max_ms: *max_ms,
                phase: *phase,
            },
            Fault::Return { status, body } => Effect::Return {
                // The store validated 200-599, so this fallback is never taken.
                status: StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                // 204, 205 and 304 carry no content, whatever a hand-edited row says.
                body: match body {
                    Some(text) if status_allows_body(*status) => Bytes::from(text.clone()),
                    _ => Bytes::new(),
                },
                bare: status_forbids_content_length(*status),
            },
            Fault::Abort => Effect::Abort,
            Fault::Panic => Effect::Panic,
            Fault::Error { message } => Effect::Error {
                message: message.as_deref().unwrap_or("injected chaos error").into(),
            },
        };
        Ok(Self {
            id: action.id,
            target: action.spec.target.as_str().into(),
            effect,
            probability: action.spec.probability,
            users: action.spec.users.clone().into_boxed_slice(),
            groups: action.spec.groups.clone().into_boxed_slice(),
            methods: compile_methods(&action.spec.methods)?,
            expires_at_ms: action.spec.expires_at,
            clock: crate::schedule::WindowClock::new(
                action.spec.starts_at,
                action.spec.window.as_ref(),
            )
            .map(Arc::new),
            fired,
        })
    }

    fn needs_identity(&self) -> bool {
        !self.users.is_empty() || !self.groups.is_empty()
    }

    fn matches_identity(&self, user: Option<&ChaosUser>) -> bool {
        if !self.needs_identity() {
            return true;
        }
        let Some(user) = user else {
            return false;
        };
        (self.users.is_empty() || self.users.contains(&user.name))
            && (self.groups.is_empty() || self.groups.iter().any(|g| user.groups.contains(g)))
    }

    /// Expired, not started yet, or outside its window at the time in `now_ms` (read from
    /// the clock once per request, and only when a rule has a bound).
    #[inline]
    fn is_inert(&self, now_ms: &mut Option<i64>) -> bool {
        if let Some(at) = self.expires_at_ms
            && at <= *now_ms.get_or_insert_with(crate::action::now_ms)
        {
            return true;
        }
        match &self.clock {
            None => false,
            Some(clock) => !clock.is_active(*now_ms.get_or_insert_with(crate::action::now_ms)),
        }
    }
}

/// Decides what happens to one request (`method` given) or fault point (`None`: method
/// filters do not apply to points). `identity` is called at most once, and only when a
/// candidate rule filters by user or group; the user it returned (if called) is handed back.
pub(crate) fn decide<'s, 'u>(
    specific: &'s [Rule],
    wildcard: &'s [Rule],
    method: Option<&Method>,
    identity: impl FnOnce() -> Option<Cow<'u, ChaosUser>>,
) -> (Decision<'s>, Option<Cow<'u, ChaosUser>>) {
    let mut decision = Decision::default();
    let mut identity = Some(identity);
    let mut user: Option<Cow<'u, ChaosUser>> = None;
    let mut now_ms = None;
    for rule in specific.iter().chain(wildcard) {
        if rule.is_inert(&mut now_ms) {
            continue;
        }
        if let Some(method) = method
            && !rule.methods.is_empty()
            && !rule.methods.contains(method)
        {
            continue;
        }
        if rule.needs_identity() {
            if let Some(extract) = identity.take() {
                user = extract();
            }
            if !rule.matches_identity(user.as_deref()) {
                continue;
            }
        }
        if rule.probability < 1.0 && fast_rng::unit() >= rule.probability {
            continue;
        }
        decision.fired.push(rule);
        match &rule.effect {
            Effect::Slow {
                min_ms,
                max_ms,
                phase,
            } => {
                let delay = fast_rng::between(*min_ms, *max_ms);
                let total = match phase {
                    Phase::Before => &mut decision.before_ms,
                    Phase::After => &mut decision.after_ms,
                };
                *total = total.saturating_add(delay);
            }
            Effect::Return { .. } | Effect::Abort | Effect::Panic | Effect::Error { .. } => {
                decision.terminal = Some(rule);
                break;
            }
        }
    }
    (decision, user)
}

/// `*` matches any run of characters; everything else matches itself (ASCII case-insensitive).
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let text = text.to_ascii_lowercase();
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("web-*", "web-1"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("a*c*e", "abcde"));
        assert!(!glob_match("web-*", "db-1"));
        assert!(glob_match("Web-1", "web-1"));
        assert!(!glob_match("web", "web-1"));
        assert!(!glob_match("*-2", "web-1"));
    }

    /// A disabled action keeps its fault count, and an enabled-again one goes on from it;
    /// a deleted one's count is dropped.
    #[test]
    fn fault_counts_survive_disabling() {
        use crate::action::{Action, ActionSpec, Fault, Kind};
        let fired = FiredCounters::default();
        let views = ChaosViews::new();
        let mut action = Action::new(
            1,
            ActionSpec::new(
                Kind::Response,
                "items",
                Fault::Return {
                    status: 503,
                    body: None,
                },
            ),
        );
        let _ = Snapshot::compile(Some(1), [&action], &views, "host", &fired);
        fired.for_actions(&[1])[&1].fetch_add(7, std::sync::atomic::Ordering::Relaxed);
        action.spec.enabled = false;
        let _ = Snapshot::compile(Some(2), [&action], &views, "host", &fired);
        assert_eq!(fired.read(), [(1, 7)], "kept while disabled");
        action.spec.enabled = true;
        let _ = Snapshot::compile(Some(3), [&action], &views, "host", &fired);
        assert_eq!(fired.read(), [(1, 7)], "goes on when enabled again");
        let _ = Snapshot::compile(Some(4), [], &views, "host", &fired);
        assert!(fired.read().is_empty(), "dropped when deleted");
    }
}
