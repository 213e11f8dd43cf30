//! `discover`: what the store and the running apps know, written as `discovery.json`.

use std::path::PathBuf;
use std::time::Duration;

use chaos_middleware::Store;
use chaos_middleware::action::{VERBS, now_ms};
use serde_json::{Value, json};

use crate::error::CliError;
use crate::experiment::runner::iso_now;

/// Arguments of `discover`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A running app's base URL, probed for reachability (repeatable). Views come from
    /// the store's registry (what `chaos-admin views` lists); when no live instance has
    /// registered any, from the app's `GET /` listing (the demo's convention).
    #[arg(
        long = "url",
        value_name = "URL",
        default_value = "http://127.0.0.1:3000"
    )]
    pub urls: Vec<String>,
    /// Where to write the discovery.
    #[arg(long, short, default_value = "discovery.json")]
    pub output: PathBuf,
}

/// The views an app lists at `GET /` (`{"views": [{"name", "route"}]}`).
pub fn app_views(url: &str) -> Result<Vec<Value>, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into();
    let index = format!("{}/", url.trim_end_matches('/'));
    let mut response = agent
        .get(&index)
        .call()
        .map_err(|err| format!("cannot reach {index}: {err}"))?;
    if response.status() != 200 {
        return Err(format!("{index} answered {}", response.status()));
    }
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|err| format!("cannot read the answer of {index}: {err}"))?;
    let body: Value =
        serde_json::from_str(&text).map_err(|err| format!("{index} did not answer JSON: {err}"))?;
    Ok(body
        .get("views")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// One view a live app instance registered: `{"name", "route", "methods", "instances"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownView {
    /// View name.
    pub name: String,
    /// Route pattern.
    pub route: String,
    /// HTTP methods (empty: not known).
    pub methods: Vec<String>,
}

impl KnownView {
    fn json(&self, instances: &[String]) -> Value {
        json!({"name": self.name, "route": self.route, "methods": self.methods, "instances": instances})
    }

    /// From a discovery or index entry (`{"name", "route", "methods"?}`).
    pub fn from_json(value: &Value) -> Option<Self> {
        Some(Self {
            name: value.get("name")?.as_str()?.to_owned(),
            route: value.get("route")?.as_str()?.to_owned(),
            // `methods` (the registry, discovery files) or one `method` (an app index).
            methods: match (value.get("methods"), value.get("method")) {
                (Some(Value::Array(methods)), _) => methods
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                (_, Some(Value::String(method))) => vec![method.clone()],
                _ => Vec::new(),
            },
        })
    }
}

/// The views the live app instances registered in the store, each with the instances
/// that serve it, by name and route.
pub async fn registry_views(store: &Store) -> Result<Vec<(KnownView, Vec<String>)>, CliError> {
    let now = now_ms();
    let mut views: Vec<(KnownView, Vec<String>)> = Vec::new();
    for view in store.registered_views().await? {
        if !view.instance.is_live_at(now) {
            continue;
        }
        let known = KnownView {
            name: view.name,
            route: view.pattern,
            methods: view.methods,
        };
        match views
            .iter_mut()
            .find(|(k, _)| k.name == known.name && k.route == known.route)
        {
            Some((_, instances)) => instances.push(view.instance.id),
            None => views.push((known, vec![view.instance.id])),
        }
    }
    Ok(views)
}

/// Discovers and writes the file; returns the exit code.
pub fn main(args: Args, database_url: &str) -> Result<u8, CliError> {
    let mut apps = Vec::new();
    for url in &args.urls {
        match app_views(url) {
            Ok(views) => {
                eprintln!("{url}: {} views", views.len());
                apps.push(json!({"url": url, "reachable": true, "views": views}));
            }
            Err(message) => {
                eprintln!("warning: {message}");
                apps.push(json!({"url": url, "reachable": false, "error": message, "views": []}));
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let store = runtime.block_on(async {
        let store = Store::connect_for_reading(database_url).await?;
        let listing = store.list().await;
        let views = registry_views(&store).await;
        store.close().await;
        Ok::<_, CliError>((listing?, views?))
    });
    let mut views: Vec<Value> = Vec::new();
    let store = match store {
        Ok((listing, registered)) => {
            views = registered
                .iter()
                .map(|(v, instances)| v.json(instances))
                .collect();
            if views.is_empty() {
                // No live instance registered: the apps' own listings, if any.
                views = apps
                    .iter()
                    .filter_map(|a| a.get("views").and_then(Value::as_array))
                    .flatten()
                    .filter_map(KnownView::from_json)
                    .map(|v| v.json(&[]))
                    .collect();
            }
            eprintln!(
                "{} views ({})",
                views.len(),
                if registered.is_empty() {
                    "from the apps' listings: no live instance registered in the store"
                } else {
                    "registered by live app instances"
                }
            );
            let now = now_ms();
            let actions: Vec<Value> = listing
                .actions
                .iter()
                .filter_map(|a| crate::output::action_json(a, now).ok())
                .collect();
            eprintln!("store: {} actions", actions.len());
            json!({"url": redact(database_url), "reachable": true, "actions": actions})
        }
        Err(err) => {
            eprintln!("warning: {err}");
            json!({"url": redact(database_url), "reachable": false, "error": err.to_string(), "actions": []})
        }
    };
    let discovery = json!({
        "chaos-admin-version": env!("CARGO_PKG_VERSION"),
        "date": iso_now(),
        "discovery": {
            "views": views,
            "apps": apps,
            "store": store,
            "kinds": ["response", "point"],
            "verbs": VERBS.split(", ").collect::<Vec<_>>(),
        },
        "activities": [
            {"type": "action", "name": "chaos create", "provider": {"type": "chaos", "action": "create", "verb": "return", "view": "VIEW", "status": 503}},
            {"type": "action", "name": "chaos disable", "provider": {"type": "chaos", "action": "disable", "tag": "experiment"}},
            {"type": "action", "name": "chaos delete", "provider": {"type": "chaos", "action": "delete", "tag": "experiment"}},
            {"type": "probe", "name": "http", "provider": {"type": "http", "url": "URL"}},
            {"type": "probe", "name": "process", "provider": {"type": "process", "path": "PROGRAM"}}
        ]
    });
    std::fs::write(
        &args.output,
        serde_json::to_string_pretty(&discovery)? + "\n",
    )?;
    eprintln!("discovery written to {}", args.output.display());
    Ok(0)
}

/// The URL without a password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
