//! The per-request work: find the view, look up the snapshot, inject or pass through.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::MatchedPath;
use bytes::Bytes;
use http::{Request, Response, header};
use tower::Service;

use super::body::{BoxError, NoContent, abort_response};
use super::future::{Faults, ResponseFuture};
use super::state::Shared;
use crate::snapshot::{Decision, Effect, decide};
use crate::user::{ChaosUser, RequestInfo};

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

/// The request's view key: its route pattern when axum matched one (the layer is a
/// route layer), else the known pattern its path matches (the layer wraps a whole
/// `Router`), else its path. (Named views are resolved when the snapshot is compiled.)
#[inline]
fn view_key<'a, B>(request: &'a Request<B>, snapshot: &'a crate::snapshot::Snapshot) -> &'a str {
    match request.extensions().get::<MatchedPath>() {
        Some(matched) => matched.as_str(),
        None => snapshot.resolve(request.uri().path()),
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ChaosService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Idle (no request-level rules at all): one relaxed atomic load and out, or two
        // when guards measure the app's responses (chaos at fault points only).
        if !self.shared.has_response_rules.load(Ordering::Relaxed) {
            if !self.shared.measuring.load(Ordering::Relaxed) {
                return ResponseFuture::inner(self.inner.call(request));
            }
            let snapshot = self.shared.snapshot.load();
            let measure = self.measure(view_key(&request, &snapshot));
            drop(snapshot);
            return ResponseFuture::measured(self.inner.call(request), measure);
        }
        let snapshot = self.shared.snapshot.load();
        let view = view_key(&request, &snapshot);
        // The app's own answers are measured for the armed guards; injected ones are not,
        // so a measurement starts only where the inner service is called.
        let Some((specific, wildcard)) = snapshot.response_candidates(view) else {
            let measure = self.measure(view);
            return ResponseFuture::measured(self.inner.call(request), measure);
        };
        let info = RequestInfo::of(&request);
        let extract_user = || self.shared.extract_user.extract(&info);
        let (decision, user) = decide(specific, wildcard, Some(request.method()), extract_user);
        if decision.is_empty() {
            drop(user);
            let measure = self.measure(view);
            return ResponseFuture::measured(self.inner.call(request), measure);
        }
        let (before_ms, after_ms) = self
            .shared
            .clamp_delays(decision.before_ms, decision.after_ms);
        // A slot under the cap is held only while the request sleeps in a delay: now
        // for a `before` delay, later (by the future) for an `after` one.
        let active = if before_ms > 0 {
            match self.shared.try_hold() {
                Some(slot) => Some(slot),
                // Too many requests are held already: this one passes untouched.
                None => {
                    drop(user);
                    let measure = self.measure(view);
                    return ResponseFuture::measured(self.inner.call(request), measure);
                }
            }
        } else {
            None
        };
        // The user is only looked up for the log line when someone listens.
        let user = match user {
            None if tracing::enabled!(target: "chaos", tracing::Level::INFO) => {
                self.shared.extract_user.extract(&info)
            }
            user => user,
        };
        self.record(&decision, view, user.as_deref(), before_ms + after_ms);
        drop(user);
        let mut faults = Faults {
            before_ms,
            after_ms,
            panic_action: None,
            future: None,
            response: None,
            active,
            shared: (after_ms > 0).then(|| Arc::clone(&self.shared)),
            stop: (before_ms + after_ms > 0)
                .then(|| Box::pin(self.shared.shutdown.stopped()) as super::future::StopSignal),
            measure: None,
        };
        match decision.terminal.map(|rule| (rule.id, &rule.effect)) {
            Some((_, Effect::Return { status, body, bare })) => {
                // Bodiless statuses (204, 205, 304) were compiled with an empty body;
                // `bare` ones also go out without `Content-Length`.
                let has_content = !body.is_empty();
                let body = if *bare {
                    Body::new(NoContent)
                } else {
                    Body::from(body.clone())
                };
                let mut response = Response::new(body);
                *response.status_mut() = *status;
                if has_content {
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/plain; charset=utf-8"),
                    );
                }
                faults.response = Some(response);
            }
            Some((id, Effect::Abort)) => faults.response = Some(abort_response(id)),
            Some((id, Effect::Panic)) => faults.panic_action = Some(id),
            // The app answers (after any delay): its response is measured, without
            // the injected delay. Injected answers are not the app's.
            _ => {
                faults.measure = self.measure(view);
                faults.future = Some(self.inner.call(request));
            }
        }
        ResponseFuture::faulted(faults)
    }
}

impl<S> ChaosService<S> {
    /// Starts measuring the request for the armed guards, if any.
    #[inline]
    fn measure(&self, view: &str) -> Option<crate::guard::monitor::Measure> {
        if !self.shared.measuring.load(Ordering::Relaxed) {
            return None;
        }
        self.shared.monitor.load().as_ref()?.start(view)
    }

    fn record(
        &self,
        decision: &Decision<'_>,
        route: &str,
        user: Option<&ChaosUser>,
        delay_ms: u64,
    ) {
        for rule in &decision.fired {
            self.shared.counters.record(&rule.effect, false);
            rule.fired
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(
                target: "chaos",
                action_id = rule.id,
                verb = rule.effect.verb(),
                view = &*rule.target,
                route,
                user = user.map(|u| u.name.as_str()),
                delay_ms,
                "chaos fault injected"
            );
        }
    }
}
