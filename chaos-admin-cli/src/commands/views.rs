//! `views`: the views that running app instances registered, and which instances serve
//! them. Also the check behind `create`'s warning about an unknown view.

use std::collections::BTreeMap;
use std::io::{self, Write};

use chaos_middleware::action::now_ms;
use chaos_middleware::store::RegisteredView;
use chaos_middleware::{ActionSpec, Kind, Store};
use serde_json::{Value, json};

use crate::commands::RegistryArgs;
use crate::error::CliError;
use crate::output;

/// Arguments of `views` (the same as the other registry command's).
pub type Args = RegistryArgs;
/// Nothing to check: the arguments are the plan.
pub type Plan = RegistryArgs;

/// Nothing to check.
pub fn plan(args: Args) -> Plan {
    args
}

/// One view (name and route) with every instance that serves it.
struct Served<'a> {
    name: &'a str,
    pattern: &'a str,
    methods: Vec<String>,
    instances: Vec<&'a RegisteredView>,
}

fn group(views: &[RegisteredView]) -> Vec<Served<'_>> {
    let mut grouped: BTreeMap<(&str, &str), Served<'_>> = BTreeMap::new();
    for view in views {
        let entry = grouped
            .entry((view.name.as_str(), view.pattern.as_str()))
            .or_insert_with(|| Served {
                name: &view.name,
                pattern: &view.pattern,
                methods: Vec::new(),
                instances: Vec::new(),
            });
        for method in &view.methods {
            if !entry.methods.contains(method) {
                entry.methods.push(method.clone());
            }
        }
        entry.instances.push(view);
    }
    grouped.into_values().collect()
}

const HEADER: [&str; 5] = ["VIEW", "ROUTE", "METHODS", "LAST SEEN", "INSTANCES"];

/// Prints the registered views.
pub async fn run(plan: Plan, store: &Store) -> Result<(), CliError> {
    let now = now_ms();
    let views: Vec<RegisteredView> = store
        .registered_views()
        .await?
        .into_iter()
        .filter(|v| plan.all || v.instance.is_live_at(now))
        .collect();
    let served = group(&views);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if plan.json {
        let items: Vec<Value> = served
            .iter()
            .map(|s| {
                json!({
                    "name": s.name,
                    "route": s.pattern,
                    "methods": s.methods,
                    "instances": s.instances.iter().map(|v| {
                        let mut item = json!({
                            "id": v.instance.id,
                            "host": v.instance.host,
                            "last_seen": v.instance.last_seen,
                            "live": v.instance.is_live_at(now),
                        });
                        output::rfc3339_fields(&mut item, &["last_seen"]);
                        item
                    }).collect::<Vec<_>>(),
                })
            })
            .collect();
        let result = serde_json::to_writer_pretty(&mut out, &items)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out));
        output::ignore_broken_pipe(result)?;
        return Ok(());
    }
    if served.is_empty() {
        let text = if plan.all {
            "no views registered: no app instance with the chaos layer has reached this store"
        } else {
            "no views registered by a live app instance (`views --all` also shows stopped ones)"
        };
        output::ignore_broken_pipe(writeln!(out, "{text}"))?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = served
        .iter()
        .map(|s| {
            let last_seen = s
                .instances
                .iter()
                .map(|v| v.instance.last_seen)
                .max()
                .unwrap_or_default();
            vec![
                s.name.to_owned(),
                s.pattern.to_owned(),
                if s.methods.is_empty() {
                    "-".to_owned()
                } else {
                    s.methods.join(",")
                },
                output::ago(now, last_seen),
                s.instances
                    .iter()
                    .map(|v| v.instance.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    output::ignore_broken_pipe(output::write_table(&mut out, &HEADER, &rows))?;
    Ok(())
}

/// The names and route patterns of the views live app instances serve (empty when the
/// registry cannot be read), for suggestions.
pub async fn live_view_names(store: &Store) -> Vec<String> {
    chaos_middleware::gameday::live_view_names(store).await
}

/// The views in `names` that no live app instance serves, each with the served names
/// close to it. Empty when every name is served, for `*`, when no instance is live
/// (nothing to compare with), or when the registry cannot be read.
pub async fn unknown_views(store: &Store, names: &[String]) -> Vec<(String, Vec<String>)> {
    let unserved = chaos_middleware::gameday::unserved_views(store, names).await;
    if unserved.is_empty() {
        return Vec::new();
    }
    let served = live_view_names(store).await;
    unserved
        .into_iter()
        .map(|name| {
            let close = super::suggestions(&name, &served);
            (name, close)
        })
        .collect()
}

/// `'itms' (did you mean items?)`.
pub fn describe_unknown(name: &str, close: &[String]) -> String {
    if close.is_empty() {
        format!("'{name}'")
    } else {
        format!("'{name}' (did you mean {}?)", close.join(", "))
    }
}

/// After `create`: a one-line warning on stderr when live app instances are registered
/// but none of them serves the action's view (like Django's "could not reverse"). Says
/// nothing for `*`, for fault points, when no instance is live (nothing to compare
/// with), or when the lookup fails: it is advice, never a reason to fail.
pub async fn warn_if_unknown(store: &Store, spec: &ActionSpec) {
    if spec.kind != Kind::Response || spec.target == "*" {
        return;
    }
    if let Some((name, close)) = unknown_views(store, std::slice::from_ref(&spec.target))
        .await
        .first()
    {
        eprintln!(
            "warning: no live app instance serves a view named or routed {}; the action was created anyway (see `chaos-admin views`)",
            describe_unknown(name, close)
        );
    }
}
