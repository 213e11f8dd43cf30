//! The "service down not visible to users" story: `provider` is a dependency, and two
//! consumers call it over HTTP on the app's own address. `consumer_before` has no
//! fallback (provider failure → 502); `consumer_after` retries once, then answers from
//! its cache of the last good answer (or a default) with 200.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// How long a consumer waits for the provider.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(2);

/// What the consumers share: where the provider is, and the last good answer.
#[derive(Debug)]
pub struct Consumers {
    base_url: String,
    agent: ureq::Agent,
    cache: Mutex<Option<Value>>,
}

impl Consumers {
    /// Consumers calling the provider at `base_url` (`http://127.0.0.1:PORT`).
    pub fn new(base_url: impl Into<String>) -> Arc<Self> {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(PROVIDER_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        Arc::new(Self {
            base_url: base_url.into(),
            agent,
            cache: Mutex::new(None),
        })
    }
}

/// The provider: a recommendation service.
pub async fn provider() -> Json<Value> {
    Json(json!({ "recommendation": "circuit breaker mug", "item_id": 3 }))
}

/// No fallback: a provider failure is the user's failure.
pub async fn consumer_before(State(consumers): State<Arc<Consumers>>) -> (StatusCode, Json<Value>) {
    match call_provider(&consumers).await {
        Ok(answer) => (
            StatusCode::OK,
            Json(json!({ "source": "provider", "provider": answer })),
        ),
        Err(why) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "error": format!("provider failed: {why}") })),
        ),
    }
}

/// With a fallback: one retry, then the cached (or a default) answer.
pub async fn consumer_after(State(consumers): State<Arc<Consumers>>) -> Json<Value> {
    let mut last_error = String::new();
    for attempt in 0..2 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        match call_provider(&consumers).await {
            Ok(answer) => {
                if let Ok(mut cache) = consumers.cache.lock() {
                    *cache = Some(answer.clone());
                }
                return Json(json!({ "source": "provider", "provider": answer }));
            }
            Err(why) => last_error = why,
        }
    }
    let cached = consumers.cache.lock().ok().and_then(|cache| cache.clone());
    let (source, answer) = match cached {
        Some(answer) => ("cache", answer),
        None => (
            "default",
            json!({ "recommendation": "latency socks", "item_id": 2 }),
        ),
    };
    Json(json!({ "source": source, "provider": answer, "degraded": last_error }))
}

/// `GET {base_url}/provider` (ureq, on the blocking pool); only a 200 with a JSON body
/// counts as an answer.
async fn call_provider(consumers: &Consumers) -> Result<Value, String> {
    let agent = consumers.agent.clone();
    let url = format!("{}/provider", consumers.base_url.trim_end_matches('/'));
    let call = move || {
        let mut response = agent
            .get(&url)
            .call()
            .map_err(|err| format!("cannot reach {url}: {err}"))?;
        if response.status() != 200 {
            return Err(format!("provider answered {}", response.status().as_u16()));
        }
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|err| format!("cannot read the provider's answer: {err}"))?;
        serde_json::from_str(&text).map_err(|err| format!("provider answer is not JSON: {err}"))
    };
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|err| format!("provider call did not finish: {err}"))?
}
