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

/// Hands the header's user to the chaos layer as a [`ChaosUser`] extension.
pub async fn demo_auth(mut request: Request, next: Next) -> Response {
    let user = request
        .headers()
        .get(DEMO_USER_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(ChaosUser::new);
    if let Some(user) = user {
        request.extensions_mut().insert(user);
    }
    next.run(request).await
}
