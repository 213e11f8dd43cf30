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

use super::{CHANGES_PATH, ChangesBody, INSTANCES_PATH, ReportBody};
use crate::store::{Changes, Position, StoreError};

/// How long a connection attempt to the relay may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much longer than the asked wait a long poll may take before it counts as lost.
const POLL_GRACE: Duration = Duration::from_secs(10);
/// Deadline of a heartbeat or deregistration.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer accepted (every action of a big store, as JSON).
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

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
    /// when given, wins over the URL's password. Errors name what is wrong.
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
        let password = parsed.password().map(|p| {
            url::form_urlencoded::parse(format!("p={p}").as_bytes())
                .next()
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default()
        });
        let token = token.map(str::to_owned).or(password);
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
                return Err(self.error(format!("answered {status} {said}").trim_end().to_owned()));
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
        let query = match applied {
            Some(at) => format!(
                "?generation={}&epoch={}&wait={}",
                at.generation,
                at.epoch,
                wait.as_secs()
            ),
            None => String::new(),
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
