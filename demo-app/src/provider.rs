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
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a consumer waits for the provider.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(2);

/// What the consumers share: where the provider is, and the last good answer.
#[derive(Debug)]
pub struct Consumers {
    base_url: String,
    cache: Mutex<Option<Value>>,
}

impl Consumers {
    /// Consumers calling the provider at `base_url` (`http://127.0.0.1:PORT`).
    pub fn new(base_url: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            base_url: base_url.into(),
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
    match call_provider(&consumers.base_url).await {
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
        match call_provider(&consumers.base_url).await {
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

/// `GET {base_url}/provider` over a plain HTTP/1.1 connection; only a 200 with a JSON
/// body counts as an answer.
async fn call_provider(base_url: &str) -> Result<Value, String> {
    let address = base_url
        .strip_prefix("http://")
        .ok_or_else(|| format!("unsupported base URL {base_url}"))?
        .trim_end_matches('/')
        .to_owned();
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(&address)
            .await
            .map_err(|err| format!("cannot connect to {address}: {err}"))?;
        let request = format!(
            "GET /provider HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|err| format!("cannot send to {address}: {err}"))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .map_err(|err| format!("cannot read from {address}: {err}"))?;
        Ok::<_, String>(raw)
    };
    let raw = tokio::time::timeout(PROVIDER_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {PROVIDER_TIMEOUT:?}"))??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("incomplete answer")?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!("provider answered {status}"));
    }
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    serde_json::from_str(&body).map_err(|err| format!("provider answer is not JSON: {err}"))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
