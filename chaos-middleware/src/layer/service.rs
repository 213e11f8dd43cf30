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
use super::current::Current;
use super::future::{Faulted, Faults, ResponseFuture};
use super::state::Shared;
use crate::snapshot::{Decision, Effect, decide};
use crate::user::{ChaosUser, RequestInfo};

/// The service made by [`ChaosLayer`](super::ChaosLayer).
#[derive(Debug, Clone)]
pub struct ChaosService<S> {
    inner: S,
    shared: Arc<Shared>,
    /// Made by [`ChaosLayer::around`](super::ChaosLayer::around): the request cannot
    /// carry axum's `MatchedPath` yet, so it is not looked for.
    around: bool,
}

impl<S> ChaosService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>, around: bool) -> Self {
        Self {
            inner,
            shared,
            around,
        }
    }

    /// The request's view key: its route pattern when axum matched one (the layer is a
    /// route layer), else the known pattern its path matches (the layer wraps a whole
    /// `Router`), else its path. (Named views are resolved when the snapshot is compiled.)
    #[inline]
    fn view_key<'a, B>(
        &self,
        request: &'a Request<B>,
        snapshot: &'a crate::snapshot::Snapshot,
    ) -> &'a str {
        let matched = if self.around {
            None
        } else {
            request.extensions().get::<MatchedPath>()
        };
        match matched {
            Some(matched) => matched.as_str(),
            None => snapshot.resolve(request.uri().path()),
        }
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

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // Idle (no request-level rules, no guards measuring): two relaxed loads and out.
        let shared = &self.shared;
        let measuring = shared.measuring.load(Ordering::Relaxed);
        if !measuring && !shared.has_response_rules.load(Ordering::Relaxed) {
            return ResponseFuture::inner(self.inner.call(request));
        }
        // One lookup in this thread's copy of the snapshot: no rule for the request's
        // view is the common case, whatever the number of actions on other views.
        let verdict = shared.current.with(|current| {
            let snapshot = &current.snapshot;
            let view = self.view_key(&request, snapshot);
            let candidates = snapshot.response_candidates(view);
            if candidates.is_none() && !measuring {
                return None;
            }
            Some(self.verdict(&request, current, view, candidates, measuring))
        });
        match verdict {
            None => ResponseFuture::inner(self.inner.call(request)),
            Some(Verdict::Pass(measure)) => {
                ResponseFuture::measured(self.inner.call(request), measure)
            }
            Some(Verdict::Inject(mut faulted)) => {
                if faulted.needs_inner() {
                    faulted.as_mut().set_future(self.inner.call(request));
                }
                ResponseFuture::faulted(faulted)
            }
        }
    }
}

/// What to do with one request, decided without calling the inner service.
enum Verdict<F> {
    /// Call the inner service; measure its answer for the armed guards when set.
    Pass(Option<crate::guard::monitor::Measure>),
    /// Inject faults; the inner service is called at once and its future polled after
    /// any `before` delay (an axum handler starts when polled), unless the layer answers
    /// itself (`return`, `abort`, `panic`: [`Faulted::needs_inner`]).
    Inject(std::pin::Pin<Box<Faulted<F>>>),
}

impl<S> ChaosService<S> {
    /// Decides the request for `view` against `current`, given the rules that may
    /// apply to it: which fire, and how. (Out of line: the idle path stays small.)
    #[inline(never)]
    fn verdict<B, F>(
        &self,
        request: &Request<B>,
        current: &Current,
        view: &str,
        candidates: Option<(&[crate::snapshot::Rule], &[crate::snapshot::Rule])>,
        measuring: bool,
    ) -> Verdict<F> {
        let start = |view: &str| measuring.then(|| measure(current, view)).flatten();
        let Some((specific, wildcard)) = candidates else {
            return Verdict::Pass(start(view));
        };
        let info = RequestInfo::of(request);
        let extract_user = || self.shared.extract_user.extract(&info);
        let (decision, user) = decide(specific, wildcard, Some(request.method()), extract_user);
        if decision.is_empty() {
            drop(user);
            return Verdict::Pass(start(view));
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
                    return Verdict::Pass(start(view));
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
                let length = body.len();
                let body = if *bare {
                    Body::new(NoContent)
                } else {
                    Body::from(body.clone())
                };
                let mut response = Response::new(body);
                *response.status_mut() = *status;
                if !*bare && request.method() == http::Method::HEAD {
                    // A HEAD answer carries no body for hyper to measure, so the length
                    // GET would get is said outright (behind `Router::layer` axum adds
                    // it; around a whole Router, nothing would). GET needs no header.
                    response
                        .headers_mut()
                        .insert(header::CONTENT_LENGTH, http::HeaderValue::from(length));
                }
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
                faults.measure = start(view);
            }
        }
        Verdict::Inject(Faulted::new(faults))
    }
}

/// `axum::serve(listener, chaos.around(app))`: each connection gets a clone of the
/// service (an axum `Router` serves itself the same way).
impl<L> Service<axum::serve::IncomingStream<'_, L>> for ChaosService<axum::Router>
where
    L: axum::serve::Listener,
{
    type Response = Self;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _connection: axum::serve::IncomingStream<'_, L>) -> Self::Future {
        // As axum does for a bare Router: the handlers become services once per
        // connection, not on every request (`around` did it already; this covers
        // `tower::Layer::layer(&chaos, router)` too).
        let router = self.inner.clone().with_state(());
        std::future::ready(Ok(ChaosService::new(
            router,
            Arc::clone(&self.shared),
            self.around,
        )))
    }
}

/// Starts measuring the request for the armed guards, if any watch `view`.
#[inline]
fn measure(current: &Current, view: &str) -> Option<crate::guard::monitor::Measure> {
    current.monitor.as_ref()?.start(view)
}

impl<S> ChaosService<S> {
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
