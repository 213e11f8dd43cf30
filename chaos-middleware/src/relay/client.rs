//! The relay's client side: what a layer whose store is `http://...` asks the relay.
//!
//! One HTTP/1 client per layer (hyper-util's pooled client): the long poll holds one
//! connection, a heartbeat borrows a second one while it lasts. Every request has a
//! deadline, so a relay that stops answering is noticed like one that is gone.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::{CHANGES_PATH, ChangesBody, GUARDS_PATH, INSTANCES_PATH, ReportBody};
use crate::store::{Changes, Position, StoreError};

/// How long a connection attempt to the relay may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much longer than the asked wait a long poll may take before it counts as lost.
const POLL_GRACE: Duration = Duration::from_secs(10);
/// Deadline of a heartbeat or deregistration.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer accepted (every action of a big store, as JSON: 10,000 actions are
/// about 4 MB).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// The environment variable a layer reads its relay token from when neither the builder
/// nor the URL gives one.
pub const RELAY_TOKEN_ENV: &str = "CHAOS_RELAY_TOKEN";

/// A relay at a base URL, with its token.
#[derive(Debug, Clone)]
pub(crate) struct RelayClient {
    client: Client<HttpConnector, Full<Bytes>>,
    /// `http://host:port` and any path prefix, without a trailing slash.
    base: String,
    /// The URL without its password, for logs.
    display: String,
    authorization: Option<HeaderValue>,
}

impl RelayClient {
    /// A client for the relay at `url` (`http://[:TOKEN@]HOST[:PORT][/PREFIX]`); `token`,
    /// when given, wins over the URL's user info (its password, else its user name),
    /// which wins over `CHAOS_RELAY_TOKEN`. Errors name what is wrong.
    pub(crate) fn new(url: &str, token: Option<&str>) -> Result<Self, String> {
        let display = crate::store::redact_url(url);
        let parsed =
            url::Url::parse(url).map_err(|err| format!("invalid relay URL '{display}': {err}"))?;
        match parsed.scheme() {
            "http" => {}
            "https" => {
                return Err(format!(
                    "relay URL '{display}': https is not supported by the relay client: serve the relay on a private network or terminate TLS in a local sidecar and use http://"
                ));
            }
            other => return Err(format!("relay URL '{display}': unknown scheme '{other}'")),
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(format!(
                "relay URL '{display}' has a query or fragment: allowed is http://[:TOKEN@]HOST[:PORT][/PREFIX]"
            ));
        }
        let Some(host) = parsed.host_str() else {
            return Err(format!("relay URL '{display}' names no host"));
        };
        // The token as typed: percent-decoding only (a `+` stays a `+`).
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8_lossy()
                .into_owned()
        };
        let in_url = parsed
            .password()
            .or(Some(parsed.username()).filter(|user| !user.is_empty()))
            .map(decode);
        let token = token
            .map(str::to_owned)
            .or(in_url)
            .or_else(|| std::env::var(RELAY_TOKEN_ENV).ok());
        let authorization = match token {
            Some(token) => Some(
                HeaderValue::from_str(&format!("Bearer {}", token.trim()))
                    .map_err(|_| format!("the relay token for '{display}' holds characters a header cannot carry: allowed are visible ASCII characters"))?,
            ),
            None => None,
        };
        let port = parsed.port_or_known_default().unwrap_or(80);
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let base = format!(
            "http://{host}:{port}{}",
            parsed.path().trim_end_matches('/')
        );
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(2)
            .build(connector);
        Ok(Self {
            client,
            base,
            display,
            authorization,
        })
    }

    /// The URL without its password, for logs.
    pub(crate) fn display_url(&self) -> &str {
        &self.display
    }

    fn error(&self, message: impl Into<String>) -> StoreError {
        StoreError::Relay {
            url: self.display.clone(),
            message: message.into(),
        }
    }

    /// Sends one request; the answer's body when the status is `expected`.
    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
        expected: StatusCode,
    ) -> Result<Bytes, StoreError> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path_and_query}", self.base));
        if let Some(authorization) = &self.authorization {
            request = request.header(header::AUTHORIZATION, authorization.clone());
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|err| self.error(err.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|err| self.error(describe(&err)))?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|err| self.error(format!("reading the answer: {err}")))?
                .to_bytes();
            if status != expected {
                let said = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                    .unwrap_or_default();
                let said: String = said.chars().take(300).collect();
                let hint = match status {
                    StatusCode::UNAUTHORIZED => {
                        " (check the relay token: serve's --relay-token-file or CHAOS_RELAY_TOKEN)"
                    }
                    StatusCode::NOT_FOUND => {
                        " (no relay at this URL: is it `chaos-admin serve`, and is the path right?)"
                    }
                    _ => "",
                };
                let said = if said.is_empty() {
                    String::new()
                } else {
                    format!(": {said}")
                };
                return Err(self.error(format!("answered {status}{hint}{said}")));
            }
            Ok(bytes)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| self.error(format!("no answer within {timeout:?}")))?
    }

    /// What changed since `applied`, waiting up to `wait` for a change.
    pub(crate) async fn changes(
        &self,
        applied: Option<Position>,
        wait: Duration,
    ) -> Result<Changes, StoreError> {
        // Without a position the relay answers at once: no long wait for the deadline.
        let (query, wait) = match applied {
            Some(at) => (
                format!(
                    "?generation={}&epoch={}&wait={}",
                    at.generation,
                    at.epoch,
                    wait.as_secs()
                ),
                wait,
            ),
            None => (String::new(), Duration::ZERO),
        };
        let bytes = self
            .send(
                Method::GET,
                &format!("{CHANGES_PATH}{query}"),
                None,
                wait + POLL_GRACE,
                StatusCode::OK,
            )
            .await?;
        let body: ChangesBody = serde_json::from_slice(&bytes)
            .map_err(|err| self.error(format!("the answer is not a change feed: {err}")))?;
        if body.generation < 0 {
            return Err(self.error(format!(
                "the answer names generation {}: a relay's generations are 0 or more",
                body.generation
            )));
        }
        Ok(body.into_changes())
    }

    /// A heartbeat (registering the instance when the store does not know it).
    pub(crate) async fn report(&self, report: &ReportBody) -> Result<(), StoreError> {
        let body = serde_json::to_vec(report).map_err(|err| self.error(err.to_string()))?;
        self.send(
            Method::POST,
            INSTANCES_PATH,
            Some(body),
            REQUEST_TIMEOUT,
            StatusCode::OK,
        )
        .await
        .map(drop)
    }

    /// Records that guard `id` tripped; the store's generation after it.
    pub(crate) async fn trip_guard(
        &self,
        id: i64,
        trip: &crate::guard::Trip,
    ) -> Result<i64, StoreError> {
        let body = serde_json::to_vec(trip).map_err(|err| self.error(err.to_string()))?;
        let bytes = self
            .send(
                Method::POST,
                &format!("{GUARDS_PATH}/{id}/trip"),
                Some(body),
                REQUEST_TIMEOUT,
                StatusCode::OK,
            )
            .await?;
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|answer| answer.get("generation").and_then(serde_json::Value::as_i64))
            .ok_or_else(|| self.error("the answer to a guard trip names no generation"))
    }

    /// Removes the instance's registration.
    pub(crate) async fn deregister(&self, id: &str) -> Result<(), StoreError> {
        // The id as one path segment, percent-encoded.
        let mut path =
            url::Url::parse("http://relay").map_err(|err| self.error(err.to_string()))?;
        path.set_path(INSTANCES_PATH);
        path.path_segments_mut()
            .map_err(|()| self.error("no path"))?
            .push(id);
        self.send(
            Method::DELETE,
            path.path(),
            None,
            REQUEST_TIMEOUT,
            StatusCode::NO_CONTENT,
        )
        .await
        .map(drop)
    }
}

/// A client error with its cause (hyper-util's own text is only "client error").
fn describe(err: &hyper_util::client::legacy::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(client: &RelayClient) -> Option<&str> {
        client.authorization.as_ref().and_then(|v| v.to_str().ok())
    }

    #[test]
    fn urls_and_tokens() {
        let plus = RelayClient::new("http://:abc+d%26e%40@127.0.0.1:8900/chaos/", None)
            .expect("a relay URL");
        assert_eq!(
            header(&plus),
            Some("Bearer abc+d&e@"),
            "percent-decoding only"
        );
        assert_eq!(plus.base, "http://127.0.0.1:8900/chaos");
        assert_eq!(plus.display_url(), "http://***@127.0.0.1:8900/chaos/");
        let user = RelayClient::new("http://tok@relay:80", None).expect("a relay URL");
        assert_eq!(
            header(&user),
            Some("Bearer tok"),
            "the user name when no password"
        );
        let given = RelayClient::new("http://:url@relay", Some("builder")).expect("a relay URL");
        assert_eq!(header(&given), Some("Bearer builder"));
        for (url, says) in [
            ("https://relay.example:8900", "https is not supported"),
            ("http://relay.example:8900/?x=1", "query or fragment"),
            ("http://relay.example:8900/#x", "query or fragment"),
            ("http://:to%7Fken@relay.example:8900", "cannot carry"),
            ("http://", "invalid relay URL"),
        ] {
            let err = RelayClient::new(url, None).expect_err(url);
            assert!(err.contains(says), "{url}: {err}");
        }
    }
}
