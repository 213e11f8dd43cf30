//! `init`: writes a ready-to-edit experiment for one view.

use std::path::PathBuf;

use serde_json::{Value, json};

use chaos_middleware::Store;

use crate::commands::discover::{KnownView, app_views, registry_views};
use crate::error::CliError;

/// Arguments of `init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The view to experiment on (a view name or a route pattern). Default: the first
    /// view other than `index` that is known.
    #[arg(long)]
    pub view: Option<String>,
    /// The app's base URL: where the probes go.
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
    /// Do not send the steady-state probe once to check that it holds now.
    #[arg(long)]
    pub no_check: bool,
}

/// The views known, in order of authority: the discovery file, the store's registry
/// (what `chaos-admin views` lists), the app's own `GET /` listing.
fn known_views(args: &Args, database_url: &str) -> Vec<KnownView> {
    let from_file: Vec<KnownView> = std::fs::read_to_string(&args.discovery)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|d| d.pointer("/discovery/views").cloned())
        .and_then(|views| views.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(KnownView::from_json)
        .collect();
    if !from_file.is_empty() {
        return from_file;
    }
    let from_store = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()
        .and_then(|runtime| {
            runtime.block_on(async {
                let store = Store::connect_for_reading(database_url).await.ok()?;
                let views = registry_views(&store).await.ok();
                store.close().await;
                views
            })
        })
        .unwrap_or_default();
    if !from_store.is_empty() {
        return from_store.into_iter().map(|(view, _)| view).collect();
    }
    app_views(&args.url)
        .unwrap_or_default()
        .iter()
        .filter_map(KnownView::from_json)
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

/// The method to probe a view with: GET when it serves GET (or nobody said), else its
/// first registered method.
fn probe_method(methods: &[String]) -> String {
    if methods.is_empty() || methods.iter().any(|m| m.eq_ignore_ascii_case("GET")) {
        "GET".to_owned()
    } else {
        methods[0].to_ascii_uppercase()
    }
}

/// The steady-state probe's provider: the view's method, and an empty JSON object as
/// the body of methods that carry one.
fn probe_provider(route: &str, method: &str) -> Value {
    let mut provider =
        json!({"type": "http", "url": format!("${{base_url}}{}", concrete(route)), "timeout": 5});
    if method != "GET" {
        provider["method"] = Value::from(method);
    }
    if matches!(method, "POST" | "PUT" | "PATCH") {
        provider["headers"] = json!({"Content-Type": "application/json"});
        provider["arguments"] = json!({});
    }
    provider
}

/// The experiment for `view` at `route`, probed with `method`, expecting `steady` before
/// and after the chaos action that forces `status`.
pub fn experiment(
    view: &str,
    route: &str,
    method: &str,
    steady: u16,
    base_url: &str,
    status: u16,
) -> Value {
    json!({
        "version": "1.0.0",
        "title": format!("Does the app cope when {view} answers {status}?"),
        "description": format!("Steady state: {method} {route} answers {steady}. Method: the chaos layer makes view '{view}' answer {status}. Rollback: the actions this experiment created are deleted."),
        "tags": ["chaos-admin", view],
        "configuration": {"base_url": base_url},
        "steady-state-hypothesis": {
            "title": format!("{view} answers {steady}"),
            "probes": [{
                "type": "probe",
                "name": format!("{view}-answers-{steady}"),
                "tolerance": steady,
                "provider": probe_provider(route, method)
            }]
        },
        "method": [{
            "type": "action",
            "name": format!("{view}-returns-{status}"),
            "provider": {"type": "chaos", "action": "create", "verb": "return", "view": view, "status": status, "tag": experiment_tag(view)}
        }],
        "rollbacks": [{
            "type": "action",
            "name": "remove-experiment-actions",
            "provider": {"type": "chaos", "action": "delete", "tag": experiment_tag(view)}
        }]
    })
}

/// The tag the experiment's actions carry, so its rollback deletes exactly those (not
/// the actions of other experiments sharing the store): `experiment-<view>`.
fn experiment_tag(view: &str) -> String {
    let slug: String = view
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("experiment-{}", slug.trim_matches('-'))
}

/// Sends the steady-state request once: `Ok(status)` when the app answered, `Err` when
/// it could not be reached.
fn check_steady_state(url: &str, method: &str) -> Result<u16, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into();
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(if method == "GET" || method == "HEAD" {
            String::new()
        } else {
            "{}".to_owned()
        })
        .map_err(|err| format!("cannot build {method} {url}: {err}"))?;
    agent
        .run(request)
        .map(|response| response.status().as_u16())
        .map_err(|err| format!("cannot reach {url}: {err}"))
}

/// Writes the experiment; returns the exit code.
pub fn main(args: Args, database_url: &str) -> Result<u8, CliError> {
    if args.output.exists() && !args.force {
        return Err(CliError::usage(format!(
            "{} already exists: pass --force to overwrite it, or -o another file",
            args.output.display()
        )));
    }
    chaos_middleware::action::validate_status(i64::from(args.status))?;
    let views = known_views(&args, database_url);
    let chosen = match &args.view {
        Some(view) if view.starts_with('/') => views
            .iter()
            .find(|v| v.route == *view)
            .cloned()
            .unwrap_or(KnownView { name: view.clone(), route: view.clone(), methods: Vec::new() }),
        Some(view) => match views.iter().find(|v| v.name == *view) {
            Some(known) => known.clone(),
            None if views.is_empty() => KnownView { name: view.clone(), route: format!("/{view}"), methods: Vec::new() },
            None => {
                return Err(CliError::usage(format!(
                    "unknown view '{view}': known views are {}",
                    views.iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
        },
        None => views.iter().find(|v| v.name != "index").cloned().ok_or_else(|| {
            CliError::usage(format!(
                "no view given and none known: pass --view NAME, start the app (its instances register their views in the store), or run `chaos-admin discover --url {}` first",
                args.url
            ))
        })?,
    };
    let method = probe_method(&chosen.methods);
    let base_url = args.url.trim_end_matches('/');
    let target = format!("{base_url}{}", concrete(&chosen.route));
    let mut steady = 200;
    if !args.no_check {
        match check_steady_state(&target, &method) {
            Ok(status) if (200..300).contains(&status) => steady = status,
            Ok(status) => {
                return Err(CliError::Runtime(anyhow::anyhow!(
                    "the steady state does not hold now: {method} {target} answered {status}, so the experiment would skip its method and end green without testing anything; pick another --view, fix the app (or remove the chaos actions on it), or pass --no-check"
                )));
            }
            Err(message) => eprintln!(
                "warning: {message}: the steady state could not be checked; the probe expects {method} {target} to answer 200"
            ),
        }
    }
    let experiment = experiment(
        &chosen.name,
        &chosen.route,
        &method,
        steady,
        base_url,
        args.status,
    );
    std::fs::write(
        &args.output,
        serde_json::to_string_pretty(&experiment)? + "\n",
    )?;
    eprintln!(
        "experiment for view '{}' ({method} {}) written to {}; run it with `chaos-admin run {}`",
        chosen.name,
        chosen.route,
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
        let e = experiment(
            "item_detail",
            "/items/{id}",
            "GET",
            200,
            "http://127.0.0.1:3000",
            503,
        );
        assert_eq!(crate::experiment::validate::validate(&e), vec![]);
        let provider = &e["steady-state-hypothesis"]["probes"][0]["provider"];
        assert_eq!(provider["url"], "${base_url}/items/1");
        assert_eq!(provider.get("method"), None);
        let e = experiment(
            "checkout",
            "/checkout",
            "POST",
            201,
            "http://127.0.0.1:3000",
            503,
        );
        assert_eq!(crate::experiment::validate::validate(&e), vec![]);
        let probe = &e["steady-state-hypothesis"]["probes"][0];
        assert_eq!(probe["tolerance"], 201);
        assert_eq!(probe["provider"]["method"], "POST");
        assert_eq!(probe["provider"]["arguments"], json!({}));
        assert_eq!(probe_method(&["POST".into()]), "POST");
        assert_eq!(probe_method(&["post".into(), "GET".into()]), "GET");
        assert_eq!(probe_method(&[]), "GET");
    }
}
