//! Demo-only authentication: the user name comes from a request header.
//!
//! Never do this in a real app — anyone can send the header. A real app's auth middleware
//! would insert `ChaosUser` from its verified session instead.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use chaos_middleware::ChaosUser;

/// The header the demo trusts as the user name.
pub const DEMO_USER_HEADER: &str = "x-demo-user";
/// The header the demo trusts as the user's groups (comma-separated).
pub const DEMO_GROUPS_HEADER: &str = "x-demo-groups";

/// Hands the headers' user (and groups) to the chaos layer as a [`ChaosUser`] extension.
pub async fn demo_auth(mut request: Request, next: Next) -> Response {
    if let Some(user) = user_from_headers(&request) {
        request.extensions_mut().insert(user);
    }
    next.run(request).await
}

fn user_from_headers(request: &Request) -> Option<ChaosUser> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|text| !text.is_empty())
    };
    let groups: Vec<&str> = header(DEMO_GROUPS_HEADER)
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .collect()
        })
        .unwrap_or_default();
    header(DEMO_USER_HEADER).map(|name| ChaosUser::new(name).with_groups(groups))
}

/// The demo's login for the chaos admin under `/chaos`: HTTP Basic authentication with
/// any user name (it becomes the operator in the audit log) and the password
/// `DEMO_ADMIN_PASSWORD` (default `chaos`). A real app would use its own login.
pub async fn admin_auth(
    axum::extract::State(password): axum::extract::State<std::sync::Arc<str>>,
    mut request: Request,
    next: Next,
) -> Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    use base64::Engine;

    let credentials = chaos_middleware::admin::auth::credentials(request.headers(), "Basic")
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .and_then(|bytes| String::from_utf8(bytes).ok());
    // The demo binds to 127.0.0.1 and its password is public: answer only requests that
    // name this machine, so a web page cannot reach the admin by DNS rebinding.
    let loopback = chaos_middleware::admin::auth::host_is_loopback(request.headers());
    if !loopback {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            [(header::CONTENT_SECURITY_POLICY, "default-src 'none'")],
            "the demo's chaos admin answers only requests for 127.0.0.1, [::1] or localhost",
        )
            .into_response();
    }
    let operator = credentials.as_deref().and_then(|text| {
        let (user, given) = text.split_once(':')?;
        (!user.trim().is_empty() && given == &*password).then(|| user.trim().to_owned())
    });
    match operator {
        Some(name) => {
            request
                .extensions_mut()
                .insert(chaos_middleware::admin::Operator::new(name));
            next.run(request).await
        }
        None => (
            StatusCode::UNAUTHORIZED,
            [
                (
                    header::WWW_AUTHENTICATE,
                    "Basic realm=\"chaos admin\", charset=\"UTF-8\"",
                ),
                (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
            ],
            "log in to the chaos admin (demo: any user name, password DEMO_ADMIN_PASSWORD, default chaos)",
        )
            .into_response(),
    }
}
