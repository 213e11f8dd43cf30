//! `init`: writes a ready-to-edit experiment for one view.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::commands::discover::app_views;
use crate::error::CliError;

/// Arguments of `init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The view to experiment on (a view name or a route pattern). Default: the first
    /// view other than `index` in the discovery.
    #[arg(long)]
    pub view: Option<String>,
    /// The app's base URL (its index lists view routes).
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// A discovery file from `chaos-admin discover` (read if it exists).
    #[arg(long, default_value = "discovery.json")]
    pub discovery: PathBuf,
    /// The status the chaos action forces.
    #[arg(long, default_value_t = 503)]
    pub status: u16,
    /// Where to write the experiment.
    #[arg(long, short, default_value = "experiment.json")]
    pub output: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

fn known_views(args: &Args) -> Vec<(String, String)> {
    let from_file = std::fs::read_to_string(&args.discovery)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|d| d.pointer("/discovery/apps").cloned())
        .and_then(|apps| apps.as_array().cloned())
        .map(|apps| {
            apps.iter()
                .filter_map(|a| a.get("views").and_then(Value::as_array).cloned())
                .flatten()
                .collect::<Vec<_>>()
        })
        .filter(|views| !views.is_empty());
    let views = from_file
        .or_else(|| app_views(&args.url).ok())
        .unwrap_or_default();
    views
        .iter()
        .filter_map(|v| {
            Some((
                v.get("name")?.as_str()?.to_owned(),
                v.get("route")?.as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// `/items/{id}` → `/items/1`: a concrete URL to probe.
fn concrete(route: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in route.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('1');
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// The experiment for `view` at `route`.
pub fn experiment(view: &str, route: &str, base_url: &str, status: u16) -> Value {
    json!({
        "version": "1.0.0",
        "title": format!("Does the app cope when {view} answers {status}?"),
        "description": format!("Steady state: GET {route} answers 200. Method: the chaos layer makes view '{view}' answer {status}. Rollback: the actions this experiment created are deleted."),
        "tags": ["chaos-admin", view],
        "configuration": {"base_url": base_url},
        "steady-state-hypothesis": {
            "title": format!("{view} answers 200"),
            "probes": [{
                "type": "probe",
                "name": format!("{view}-answers-200"),
                "tolerance": 200,
                "provider": {"type": "http", "url": format!("${{base_url}}{}", concrete(route)), "timeout": 5}
            }]
        },
        "method": [{
            "type": "action",
            "name": format!("{view}-returns-{status}"),
            "provider": {"type": "chaos", "action": "create", "verb": "return", "view": view, "status": status},
            "pauses": {"after": 1}
        }],
        "rollbacks": [{
            "type": "action",
            "name": "remove-experiment-actions",
            "provider": {"type": "chaos", "action": "delete", "tag": "experiment"}
        }]
    })
}

/// Writes the experiment; returns the exit code.
pub fn main(args: Args) -> Result<u8, CliError> {
    if args.output.exists() && !args.force {
        return Err(CliError::usage(format!(
            "{} already exists: pass --force to overwrite it, or -o another file",
            args.output.display()
        )));
    }
    chaos_middleware::action::validate_status(i64::from(args.status))?;
    let views = known_views(&args);
    let (view, route) = match &args.view {
        Some(view) if view.starts_with('/') => (view.clone(), view.clone()),
        Some(view) => match views.iter().find(|(name, _)| name == view) {
            Some((name, route)) => (name.clone(), route.clone()),
            None if views.is_empty() => (view.clone(), format!("/{view}")),
            None => {
                return Err(CliError::usage(format!(
                    "unknown view '{view}': known views are {}",
                    views.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
        },
        None => views
            .iter()
            .find(|(name, _)| name != "index")
            .cloned()
            .ok_or_else(|| {
                CliError::usage(format!(
                    "no view given and none discovered: pass --view NAME, or run `chaos-admin discover --url {}` first",
                    args.url
                ))
            })?,
    };
    let experiment = experiment(&view, &route, args.url.trim_end_matches('/'), args.status);
    std::fs::write(
        &args.output,
        serde_json::to_string_pretty(&experiment)? + "\n",
    )?;
    eprintln!(
        "experiment for view '{view}' written to {}; run it with `chaos-admin run {}`",
        args.output.display(),
        args.output.display()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_experiment_is_valid() {
        let e = experiment("item_detail", "/items/{id}", "http://127.0.0.1:3000", 503);
        assert_eq!(crate::experiment::validate::validate(&e), vec![]);
        assert_eq!(
            e["steady-state-hypothesis"]["probes"][0]["provider"]["url"],
            "${base_url}/items/1"
        );
    }
}
