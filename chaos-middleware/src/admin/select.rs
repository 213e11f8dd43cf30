//! Which actions a page or an API call shows: filters from the query string, the
//! exercise's hidden actions masked, and pagination. One pass over the listing, so a
//! page of 10,000 actions costs one read of the store and a linear scan.

use crate::action::Action;
use crate::store::{CorruptRow, Listing};

/// The largest page.
pub const MAX_PER_PAGE: usize = 500;
/// The page size when none is asked for.
pub const DEFAULT_PER_PAGE: usize = 50;

/// An action's state, to filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    /// Enabled and not expired.
    Active,
    /// Disabled (and not expired).
    Disabled,
    /// Past its expiry.
    Expired,
    /// Hidden by a running exercise.
    Hidden,
    /// A row the store cannot read.
    Broken,
}

impl StateFilter {
    /// Parses a state as a query string writes it (`enabled` is `active`, as the CLI and
    /// the badges call it).
    pub fn parse(text: &str) -> Result<StateFilter, String> {
        match text {
            "active" | "enabled" => Ok(StateFilter::Active),
            "disabled" => Ok(StateFilter::Disabled),
            "expired" => Ok(StateFilter::Expired),
            "hidden" => Ok(StateFilter::Hidden),
            "broken" => Ok(StateFilter::Broken),
            other => Err(format!(
                "unknown state '{other}': allowed are active (or enabled), disabled, expired, hidden, broken"
            )),
        }
    }

    /// The state as written in a query string.
    pub fn as_str(self) -> &'static str {
        match self {
            StateFilter::Active => "active",
            StateFilter::Disabled => "disabled",
            StateFilter::Expired => "expired",
            StateFilter::Hidden => "hidden",
            StateFilter::Broken => "broken",
        }
    }
}

/// Filters of the action list (`?state=active&verb=slow&view=items&tag=t&user=u&group=g&q=text&page=2&per_page=50`).
/// Every filter is optional; text filters match exactly except `q`, which searches the
/// id, view, verb, tag, note and audience (case-insensitive). Hidden actions match only
/// `state=hidden` and their id or tag: nothing about them can be searched for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionFilter {
    /// State.
    pub state: Option<StateFilter>,
    /// `response` or `point`.
    pub kind: Option<String>,
    /// `slow`, `return`, `abort`, `panic`, `error`.
    pub verb: Option<String>,
    /// The view or point name, exactly as stored.
    pub view: Option<String>,
    /// The tag.
    pub tag: Option<String>,
    /// Actions aimed at this user.
    pub user: Option<String>,
    /// Actions aimed at this group.
    pub group: Option<String>,
    /// Free text.
    pub q: Option<String>,
    /// 1-based page.
    pub page: Option<usize>,
    /// Actions per page (at most [`MAX_PER_PAGE`]).
    pub per_page: Option<usize>,
}

/// One row of the list.
#[derive(Debug, Clone, PartialEq)]
pub enum Row<'a> {
    /// An action shown in full.
    Action(&'a Action),
    /// An action a running exercise hides: only its id, state and tag may be shown.
    Hidden(&'a Action),
    /// A row the store cannot read.
    Broken(&'a CorruptRow),
}

/// One page of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<'a> {
    /// The rows of this page.
    pub rows: Vec<Row<'a>>,
    /// How many rows match in all.
    pub total: usize,
    /// This page (1-based).
    pub page: usize,
    /// Rows per page.
    pub per_page: usize,
}

impl Page<'_> {
    /// How many pages the matching rows fill (at least 1).
    pub fn pages(&self) -> usize {
        self.total.div_ceil(self.per_page).max(1)
    }
}

impl ActionFilter {
    /// The filter of a query string (`state=active&q=items&page=2`). Empty values count as
    /// absent (a form sends every field). With `strict`, an unknown parameter is an error
    /// (the API); otherwise it is ignored (pages carry notices and the like).
    ///
    /// Errors: an unknown state, kind or verb, a page or page size that is not a whole
    /// number, an unknown parameter when strict.
    pub fn from_query(query: &str, strict: bool) -> Result<ActionFilter, String> {
        let mut filter = ActionFilter::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.trim().to_owned();
            if value.is_empty() {
                continue;
            }
            let number = |what: &str| {
                value.parse::<usize>().map_err(|_| {
                    format!("invalid {what} '{value}': allowed are whole numbers from 1")
                })
            };
            match key.as_ref() {
                "state" => filter.state = Some(StateFilter::parse(&value)?),
                "kind" => {
                    if !matches!(value.as_str(), "response" | "point") {
                        return Err(format!(
                            "unknown kind '{value}': allowed are response, point"
                        ));
                    }
                    filter.kind = Some(value);
                }
                "verb" => {
                    if !crate::action::VERBS.split(", ").any(|v| v == value) {
                        return Err(format!(
                            "unknown verb '{value}': allowed are {}",
                            crate::action::VERBS
                        ));
                    }
                    filter.verb = Some(value);
                }
                "view" => filter.view = Some(value),
                "tag" => filter.tag = Some(value),
                "user" => filter.user = Some(value),
                "group" => filter.group = Some(value),
                "q" => filter.q = Some(value),
                "page" => filter.page = Some(number("page")?),
                "per_page" => filter.per_page = Some(number("per_page")?),
                other if strict => {
                    return Err(format!(
                        "unknown parameter '{other}': allowed are state, kind, verb, view, tag, user, group, q, page, per_page"
                    ));
                }
                _ => {}
            }
        }
        Ok(filter)
    }
}

fn given(text: &Option<String>) -> Option<&str> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

impl ActionFilter {
    /// The rows of `listing` that match, on the page asked for; `hidden` are the ids a
    /// running exercise hides; `now_ms` decides what has expired.
    pub fn select<'a>(&self, listing: &'a Listing, hidden: &[i64], now_ms: i64) -> Page<'a> {
        let per_page = self
            .per_page
            .unwrap_or(DEFAULT_PER_PAGE)
            .clamp(1, MAX_PER_PAGE);
        let page = self.page.unwrap_or(1).max(1);
        let q = given(&self.q).map(str::to_lowercase);
        let mut matching: Vec<Row<'a>> = Vec::new();
        for action in &listing.actions {
            let is_hidden = hidden.contains(&action.id);
            let row = if is_hidden {
                Row::Hidden(action)
            } else {
                Row::Action(action)
            };
            if self.matches(&row, q.as_deref(), now_ms) {
                matching.push(row);
            }
        }
        for corrupt in &listing.corrupt {
            let row = Row::Broken(corrupt);
            if self.matches(&row, q.as_deref(), now_ms) {
                matching.push(row);
            }
        }
        let total = matching.len();
        // Past the last page (the actions went away): the last page.
        let page = page.min(total.div_ceil(per_page).max(1));
        let rows = matching
            .into_iter()
            .skip((page - 1).saturating_mul(per_page))
            .take(per_page)
            .collect();
        Page {
            rows,
            total,
            page,
            per_page,
        }
    }

    fn matches(&self, row: &Row<'_>, q: Option<&str>, now_ms: i64) -> bool {
        let action = match row {
            Row::Broken(corrupt) => {
                // Only the state and a search on the id or the reason find broken rows.
                let other_filters = [
                    &self.kind,
                    &self.verb,
                    &self.view,
                    &self.tag,
                    &self.user,
                    &self.group,
                ]
                .iter()
                .any(|f| given(f).is_some());
                let state_ok = matches!(self.state, None | Some(StateFilter::Broken));
                let q_ok = q.is_none_or(|q| {
                    corrupt.reason.to_lowercase().contains(q)
                        || corrupt.id.is_some_and(|id| id.to_string() == q)
                });
                return state_ok && q_ok && !other_filters;
            }
            Row::Hidden(action) => {
                let details_asked = [&self.kind, &self.verb, &self.view, &self.user, &self.group]
                    .iter()
                    .any(|f| given(f).is_some());
                let state_ok = match self.state {
                    None | Some(StateFilter::Hidden) => true,
                    Some(other) => state_of(action, now_ms) == Some(other),
                };
                let tag_ok = given(&self.tag).is_none_or(|t| action.spec.tag.as_deref() == Some(t));
                let q_ok = q.is_none_or(|q| {
                    action.id.to_string() == q
                        || action
                            .spec
                            .tag
                            .as_deref()
                            .is_some_and(|t| t.to_lowercase().contains(q))
                });
                return state_ok && tag_ok && q_ok && !details_asked;
            }
            Row::Action(action) => action,
        };
        let spec = &action.spec;
        if let Some(state) = self.state
            && state_of(action, now_ms) != Some(state)
        {
            return false;
        }
        let eq = |filter: &Option<String>, value: &str| given(filter).is_none_or(|f| f == value);
        if !eq(&self.kind, &spec.kind.to_string())
            || !eq(&self.verb, spec.fault.verb())
            || !eq(&self.view, &spec.target)
            || !eq(&self.tag, spec.tag.as_deref().unwrap_or(""))
        {
            return false;
        }
        if given(&self.user).is_some_and(|u| !spec.users.iter().any(|x| x == u))
            || given(&self.group).is_some_and(|g| !spec.groups.iter().any(|x| x == g))
        {
            return false;
        }
        q.is_none_or(|q| {
            let fields = [
                action.id.to_string(),
                spec.target.clone(),
                spec.fault.verb().to_owned(),
                spec.kind.to_string(),
                spec.tag.clone().unwrap_or_default(),
                spec.note.clone().unwrap_or_default(),
                spec.users.join(" "),
                spec.groups.join(" "),
            ];
            fields.iter().any(|f| f.to_lowercase().contains(q))
        })
    }
}

/// The filterable state of a readable action.
fn state_of(action: &Action, now_ms: i64) -> Option<StateFilter> {
    Some(if action.is_expired_at(now_ms) {
        StateFilter::Expired
    } else if action.spec.enabled {
        StateFilter::Active
    } else {
        StateFilter::Disabled
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{ActionSpec, Fault, Kind};

    fn listing(n: i64) -> Listing {
        Listing {
            actions: (1..=n)
                .map(|id| {
                    let mut spec = ActionSpec::new(
                        Kind::Response,
                        if id % 2 == 0 { "items" } else { "checkout" },
                        if id % 3 == 0 {
                            Fault::Abort
                        } else {
                            Fault::Panic
                        },
                    );
                    spec.enabled = id % 5 != 0;
                    spec.tag = (id == 7).then(|| "exercise".to_owned());
                    spec.users = if id == 4 {
                        vec!["alice".into()]
                    } else {
                        vec![]
                    };
                    Action::new(id, spec)
                })
                .collect(),
            corrupt: Vec::new(),
        }
    }

    #[test]
    fn filters_and_pages() {
        let listing = listing(120);
        let all = ActionFilter::default().select(&listing, &[], 0);
        assert_eq!((all.total, all.rows.len(), all.pages()), (120, 50, 3));
        let third = ActionFilter {
            page: Some(3),
            ..ActionFilter::default()
        }
        .select(&listing, &[], 0);
        assert_eq!(third.rows.len(), 20);
        let items = ActionFilter {
            view: Some("items".into()),
            verb: Some("abort".into()),
            ..ActionFilter::default()
        }
        .select(&listing, &[], 0);
        assert_eq!(items.total, 20); // even multiples of 3 up to 120
        let disabled = ActionFilter {
            state: Some(StateFilter::Disabled),
            ..ActionFilter::default()
        }
        .select(&listing, &[], 0);
        assert_eq!(disabled.total, 24);
        let alice = ActionFilter {
            user: Some("alice".into()),
            ..ActionFilter::default()
        }
        .select(&listing, &[], 0);
        assert_eq!(alice.total, 1);
        let huge = ActionFilter {
            per_page: Some(10_000),
            page: Some(usize::MAX),
            ..ActionFilter::default()
        }
        .select(&listing, &[], 0);
        // Past the end: the last page.
        assert_eq!(
            (huge.per_page, huge.page, huge.rows.len()),
            (MAX_PER_PAGE, 1, 120)
        );
    }

    #[test]
    fn query_strings_as_forms_send_them() {
        let filter = ActionFilter::from_query("state=&verb=slow&view=&q=+items+&page=2", true)
            .expect("empty fields are absent");
        assert_eq!(filter.state, None);
        assert_eq!(filter.verb.as_deref(), Some("slow"));
        assert_eq!(filter.q.as_deref(), Some("items"));
        assert_eq!(filter.page, Some(2));
        assert_eq!(
            ActionFilter::from_query("state=enabled", true).map(|f| f.state),
            Ok(Some(StateFilter::Active))
        );
        assert!(ActionFilter::from_query("notice=created&n=1", false).is_ok());
        for bad in [
            "notice=created",
            "state=sleepy",
            "kind=bogus",
            "verb=boom",
            "page=-1",
            "page=99999999999999999999999",
        ] {
            assert!(ActionFilter::from_query(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn hidden_actions_cannot_be_found_by_their_details() {
        let listing = listing(10);
        let hidden = [7];
        let by_view = ActionFilter {
            view: Some("checkout".into()),
            ..ActionFilter::default()
        }
        .select(&listing, &hidden, 0);
        assert!(by_view.rows.iter().all(|r| !matches!(r, Row::Hidden(_))));
        let searched = ActionFilter {
            q: Some("checkout".into()),
            ..ActionFilter::default()
        }
        .select(&listing, &hidden, 0);
        assert!(searched.rows.iter().all(|r| !matches!(r, Row::Hidden(_))));
        let hidden_only = ActionFilter {
            state: Some(StateFilter::Hidden),
            ..ActionFilter::default()
        }
        .select(&listing, &hidden, 0);
        assert_eq!(hidden_only.rows.len(), 1);
        assert!(matches!(hidden_only.rows[0], Row::Hidden(a) if a.id == 7));
    }
}
