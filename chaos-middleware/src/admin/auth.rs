//! Helpers for whoever authenticates requests to the admin (the app embedding it, or
//! `chaos-admin serve`): reading credentials and refusing requests that name another host.

use axum::http::{HeaderMap, header};

/// The credentials after `scheme ` in `Authorization` (`Bearer`, `Basic`), the scheme
/// matched without regard to case (RFC 9110 §11.1); `None` when absent or another scheme.
pub fn credentials<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// Whether the request names this machine in `Host` (`127.0.0.1`, `[::1]`, `localhost`,
/// with or without a port). An admin reachable without a secret (no token, or a public
/// demo password) must refuse the rest: a web page whose DNS name points at 127.0.0.1
/// (DNS rebinding) would otherwise drive it.
pub fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a path is the JSON API's (errors answered in JSON) rather than a page's (errors
/// answered as a page); nested or not, such a path holds `/api/`.
pub fn is_api(path: &str) -> bool {
    path.contains("/api/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn hosts_and_schemes() {
        for (host, loopback) in [
            ("127.0.0.1:8900", true),
            ("localhost:8900", true),
            ("[::1]:8900", true),
            ("[::1]", true),
            ("evil.example:8900", false),
            ("127.0.0.1.evil.example", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_static(host));
            assert_eq!(host_is_loopback(&headers), loopback, "{host}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  tok "),
        );
        assert_eq!(credentials(&headers, "Bearer"), Some("tok"));
        assert_eq!(credentials(&headers, "Basic"), None);
    }
}
