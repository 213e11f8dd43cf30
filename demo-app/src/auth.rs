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
