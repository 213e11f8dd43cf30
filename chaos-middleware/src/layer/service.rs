//! The per-request work: find the view, look up the snapshot, inject or pass through.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::MatchedPath;
use bytes::Bytes;
use http::{Request, Response, header};
use http_body::Body;
use tower::Service;

use super::body::ResponseBody;
use super::future::ResponseFuture;
use super::state::Shared;
use crate::snapshot::{Effect, decide};
use crate::user::RequestInfo;

/// The service made by [`ChaosLayer`](super::ChaosLayer).
#[derive(Debug, Clone)]
pub struct ChaosService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> ChaosService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }
}

/// The request's view key: its route pattern when axum matched one, else its path.
/// (Named views are resolved when the snapshot is compiled, not here.)
#[inline]
fn view_key<B>(request: &Request<B>) -> &str {
    match request.extensions().get::<MatchedPath>() {
        Some(matched) => matched.as_str(),
        None => request.uri().path(),
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ChaosService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body<Data = Bytes>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let snapshot = self.shared.snapshot.load();
        if snapshot.is_empty() {
            return ResponseFuture::inner(self.inner.call(request));
        }
        let Some((specific, wildcard)) = snapshot.candidates(view_key(&request)) else {
            return ResponseFuture::inner(self.inner.call(request));
        };
        let (decision, user) = decide(specific, wildcard, request.method(), || {
            self.shared.extract_user.extract(&RequestInfo::of(&request))
        });
        if decision.fired.is_empty() {
            return ResponseFuture::inner(self.inner.call(request));
        }
        let user = user.or_else(|| self.shared.extract_user.extract(&RequestInfo::of(&request)));
        let view = view_key(&request);
        for rule in &decision.fired {
            let verb = rule.effect.verb();
            self.shared.counters.record(&rule.effect);
            tracing::info!(
                target: "chaos",
                action_id = rule.id,
                verb,
                view = &*rule.target,
                route = view,
                user = user.as_ref().map(|u| u.name.as_str()),
                delay_ms = decision.delay_ms,
                "chaos fault injected"
            );
        }
        let sleep = (decision.delay_ms > 0)
            .then(|| tokio::time::sleep(Duration::from_millis(decision.delay_ms)));
        match decision.respond.map(|rule| &rule.effect) {
            Some(Effect::Return { status, body }) => {
                let mut response = Response::new(ResponseBody::full(body.clone()));
                *response.status_mut() = *status;
                if !body.is_empty() {
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/plain; charset=utf-8"),
                    );
                }
                ResponseFuture::respond(sleep, response)
            }
            _ => {
                let future = self.inner.call(request);
                match sleep {
                    Some(sleep) => ResponseFuture::delayed(sleep, future),
                    None => ResponseFuture::inner(future),
                }
            }
        }
    }
}
