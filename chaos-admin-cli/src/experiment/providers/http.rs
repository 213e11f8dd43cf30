//! The `http` provider, as chaoslib runs it with `requests`: GET sends `arguments` as
//! the query string; other methods send JSON only when `headers["Content-Type"]` is
//! exactly `application/json`, else a form body. 4xx/5xx never fail the activity; only
//! connection errors and timeouts do. The body is parsed as JSON only when the response
//! content type is exactly `application/json`.

use std::time::Duration;

use serde_json::{Map, Value};

use super::ActivityError;
use crate::experiment::runner::Ctx;
use crate::experiment::subst::py_str;

/// The request an http provider describes.
#[derive(Debug, Clone)]
struct Request {
    url: String,
    method: String,
    headers: Vec<(String, String)>,
    arguments: Option<Value>,
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    verify_tls: bool,
}

/// One `requests` timeout, in s: a number above 0, or null for none. Anything else (a
/// string, a boolean, 0 or less) makes urllib3 raise, which chaoslib does not catch.
fn seconds(value: &Value) -> Result<Option<Duration>, ActivityError> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_f64()
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(|s| Some(Duration::from_secs_f64(s)))
            .ok_or_else(|| {
                ActivityError::Crashed(format!(
                    "timeout {n} must be above 0 (seconds), as requests requires"
                ))
            }),
        other => Err(ActivityError::Crashed(format!(
            "timeout {other} must be an int, float or None (seconds), as requests requires"
        ))),
    }
}

fn parse(provider: &Value) -> Result<Request, ActivityError> {
    // Without a URL chaoslib's provider raises a KeyError: only `--no-validation` gets here.
    let url = provider
        .get("url")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ActivityError::Crashed("a HTTP activity must have a URL".to_owned()))?;
    let url = normalize_url(url)?;
    let method = provider
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("GET")
        .to_ascii_uppercase();
    // `requests` drops headers whose value is None and raises (uncaught by chaoslib) on
    // one that is not a string — a whole-string `${n}` of an int configuration value, say.
    let mut headers = Vec::new();
    if let Some(Value::Object(map)) = provider.get("headers") {
        for (name, value) in map {
            match value {
                Value::Null => {}
                Value::String(text) => headers.push((name.clone(), text.clone())),
                other => {
                    return Err(ActivityError::Crashed(format!(
                        "header {name}: {} must be a string, as requests requires",
                        py_str(other)
                    )));
                }
            }
        }
    }
    let (connect_timeout, read_timeout) = match provider.get("timeout") {
        Some(Value::Array(pair)) if pair.len() == 2 => (seconds(&pair[0])?, seconds(&pair[1])?),
        Some(value) => (seconds(value)?, seconds(value)?),
        None => (None, None),
    };
    let verify_tls = provider
        .get("verify_tls")
        .map(|v| !matches!(v, Value::Bool(false) | Value::Null))
        .unwrap_or(true);
    Ok(Request {
        url,
        method,
        headers,
        arguments: provider.get("arguments").filter(|a| !a.is_null()).cloned(),
        connect_timeout,
        read_timeout,
        verify_tls,
    })
}

/// The URL as `requests` prepares it: a host in IDNA (`bücher.example` →
/// `xn--bcher-kva.example`), spaces and other characters outside URLs percent-encoded. A
/// URL it refuses (no scheme, a scheme other than http/https, an invalid host or port)
/// raises, uncaught by chaoslib: the activity crashes.
fn normalize_url(text: &str) -> Result<String, ActivityError> {
    let parsed = url::Url::parse(text.trim())
        .map_err(|err| ActivityError::Crashed(format!("invalid URL '{text}': {err}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(ActivityError::Crashed(format!(
            "invalid URL '{text}': allowed are http:// and https:// URLs with a host"
        )));
    }
    Ok(parsed.to_string())
}

/// `requests`' encoding of a params/data mapping: lists repeat the key, `None` is dropped.
fn pairs(arguments: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Value::Object(map) = arguments {
        for (key, value) in map {
            match value {
                Value::Null => {}
                Value::Array(items) => {
                    for item in items.iter().filter(|i| !i.is_null()) {
                        out.push((key.clone(), py_str(item)));
                    }
                }
                other => out.push((key.clone(), py_str(other))),
            }
        }
    }
    out
}

/// Sends the request and returns `{status, headers, body}`. Connection errors and timeouts
/// fail the activity (as `requests`' `ConnectionError` and `Timeout` do in chaoslib); an
/// invalid URL, too many redirects (more than `requests`' 30) or a body that is not the
/// JSON its `Content-Type: application/json` claims crash it ([`ActivityError::Crashed`]).
pub async fn run(
    provider: &Value,
    _has_tolerance: bool,
    _ctx: &Ctx,
) -> Result<Value, ActivityError> {
    let request = parse(provider)?;
    tokio::task::spawn_blocking(move || send(&request))
        .await
        .map_err(|err| ActivityError::Crashed(format!("the HTTP request did not finish: {err}")))?
}

/// `requests`' default limit of redirects followed.
const MAX_REDIRECTS: u32 = 30;

fn send(request: &Request) -> Result<Value, ActivityError> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if !request.verify_tls {
        tls = tls.disable_verification(true);
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(MAX_REDIRECTS)
        // `requests` sends any method (PURGE, PROPFIND, …).
        .allow_non_standard_methods(true)
        .timeout_connect(request.connect_timeout)
        .timeout_recv_response(request.read_timeout)
        .timeout_recv_body(request.read_timeout)
        .tls_config(tls.build())
        .build()
        .into();
    let url = &request.url;
    let fail = |err: ureq::Error| match err {
        ureq::Error::Timeout(_) => {
            ActivityError::Failed("activity took too long to complete".to_owned())
        }
        ureq::Error::Http(_)
        | ureq::Error::BadUri(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::RedirectFailed
        | ureq::Error::TooManyRedirects => {
            ActivityError::Crashed(format!("invalid request to {url}: {err}"))
        }
        other => ActivityError::Failed(format!("failed to connect to {url}: {other}")),
    };
    let mut builder = ureq::http::Request::builder()
        .method(request.method.as_str())
        .uri(url.as_str());
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let response = if request.method == "GET" {
        let mut uri = url.clone();
        let query = pairs(request.arguments.as_ref().unwrap_or(&Value::Null));
        if !query.is_empty() {
            let encoded = form_encode(&query);
            uri.push(if uri.contains('?') { '&' } else { '?' });
            uri.push_str(&encoded);
        }
        let req = builder
            .uri(uri.as_str())
            .body(())
            .map_err(|err| ActivityError::Crashed(format!("invalid request to {url}: {err}")))?;
        agent.run(req)
    } else {
        let json = request
            .headers
            .iter()
            .any(|(k, v)| k == "Content-Type" && v == "application/json");
        let body: Vec<u8> = match (&request.arguments, json) {
            (Some(arguments), true) => python_json(arguments),
            // `requests` sends no body for `json=None`.
            (None, true) => Vec::new(),
            (Some(arguments), false) => {
                let encoded = form_encode(&pairs(arguments));
                if !encoded.is_empty()
                    && !request
                        .headers
                        .iter()
                        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                {
                    builder = builder.header("Content-Type", "application/x-www-form-urlencoded");
                }
                encoded.into_bytes()
            }
            (None, false) => Vec::new(),
        };
        let req = builder
            .body(body)
            .map_err(|err| ActivityError::Crashed(format!("invalid request to {url}: {err}")))?;
        agent.run(req)
    };
    let mut response = response.map_err(fail)?;
    let status = response.status().as_u16();
    let mut headers = Map::new();
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let is_json = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes() == b"application/json");
    let bytes = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .map_err(fail)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = if is_json {
        // `r.json()` raises on a body that is not JSON, which chaoslib does not catch.
        serde_json::from_str(&text).map_err(|err| {
            ActivityError::Crashed(format!(
                "the response of {url} says Content-Type: application/json but its body is not JSON: {err}"
            ))
        })?
    } else {
        Value::String(text)
    };
    Ok(serde_json::json!({"status": status, "headers": headers, "body": body}))
}

/// JSON as Python's `json.dumps` writes it for `requests`: `", "` between items and
/// `": "` after keys (`{"a": 1, "b": [1, 2]}`).
fn python_json(value: &Value) -> Vec<u8> {
    struct PythonFormatter;
    fn item_separator<W: ?Sized + std::io::Write>(
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }
    impl serde_json::ser::Formatter for PythonFormatter {
        fn begin_array_value<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            item_separator(writer, first)
        }
        fn begin_object_key<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            item_separator(writer, first)
        }
        fn begin_object_value<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
        ) -> std::io::Result<()> {
            writer.write_all(b": ")
        }
    }
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    match serde::Serialize::serialize(value, &mut serializer) {
        Ok(()) => out,
        Err(_) => serde_json::to_vec(value).unwrap_or_default(),
    }
}

/// `application/x-www-form-urlencoded`, as `requests` writes it.
fn form_encode(pairs: &[(String, String)]) -> String {
    fn encode(text: &str) -> String {
        let mut out = String::new();
        for byte in text.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    out.push(byte as char)
                }
                b' ' => out.push('+'),
                other => out.push_str(&format!("%{other:02X}")),
            }
        }
        out
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {

    #[test]
    fn json_bodies_are_written_as_python_writes_them() {
        let value = serde_json::json!({"b": [1, 2.5, "x"], "a": 1, "c": {"d": null}});
        assert_eq!(
            String::from_utf8(python_json(&value)).expect("utf-8"),
            r#"{"b": [1, 2.5, "x"], "a": 1, "c": {"d": null}}"#
        );
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_encode_like_requests() {
        let args =
            json!({"q": "a b&c", "n": 3, "flag": true, "many": [1, null, "x"], "none": null});
        assert_eq!(
            form_encode(&pairs(&args)),
            // In the order written, as requests encodes a dict.
            "q=a+b%26c&n=3&flag=True&many=1&many=x"
        );
    }

    #[test]
    fn provider_fields() {
        let request = parse(
            &json!({"type": "http", "url": "http://h/x", "method": "post",
            "timeout": [1, 2.5], "verify_tls": false, "headers": {"X-A": "1", "X-B": null}}),
        )
        .expect("valid");
        assert_eq!(request.method, "POST");
        assert_eq!(request.connect_timeout, Some(Duration::from_secs(1)));
        assert_eq!(request.read_timeout, Some(Duration::from_millis(2500)));
        assert!(!request.verify_tls);
        assert_eq!(request.headers, vec![("X-A".to_owned(), "1".to_owned())]);
        assert!(parse(&json!({"type": "http"})).is_err());
        let url = |u: &str| parse(&json!({"url": u})).map(|r| r.url);
        assert_eq!(
            url("http://h/a b?q=x y").ok().as_deref(),
            Some("http://h/a%20b?q=x%20y")
        );
        assert_eq!(
            url("http://bücher.example/").ok().as_deref(),
            Some("http://xn--bcher-kva.example/")
        );
        for crashing in [
            json!({"url": "example.invalid/x"}),
            json!({"url": "http://h:99999/"}),
            json!({"url": "ftp://h/x"}),
            json!({"url": "http://h/", "headers": {"X-N": 5}}),
            json!({"url": "http://h/", "headers": {"X-N": true}}),
            json!({"url": "http://h/", "timeout": "2"}),
            json!({"url": "http://h/", "timeout": true}),
            json!({"url": "http://h/", "timeout": 0}),
            json!({"url": "http://h/", "timeout": [1, "2"]}),
        ] {
            assert!(
                matches!(parse(&crashing), Err(ActivityError::Crashed(_))),
                "{crashing}"
            );
        }
    }
}
