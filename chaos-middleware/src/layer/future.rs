//! The response future: straight through, or with injected faults.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use http::Response;
use pin_project_lite::pin_project;
use tokio::time::Sleep;

use super::body::BoxError;
use super::state::{ActiveDelay, Shared};
use crate::guard::monitor::Measure;

pin_project! {
    /// Future of [`ChaosService`](super::ChaosService).
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        // No fault: the inner service's future, untouched.
        Inner { #[pin] future: F },
        // No fault, measured for the armed guards.
        Measured { #[pin] future: F, measure: Option<Measure> },
        // Faults, boxed so the common variant (and every future moved around) stays small.
        Faulted { faulted: Pin<Box<Faulted<F>>> },
    }
}

pin_project! {
    /// The steps of a faulted request; each is skipped when absent.
    pub(crate) struct Faulted<F> {
        // 1. `slow` before: the inner future exists but is not polled (so the handler
        //    does not start; an axum handler starts when polled) until this sleep ends.
        #[pin]
        before: Option<Sleep>,
        // 2. `panic`: panic here, inside the service.
        panic_action: Option<i64>,
        // 3. The inner future (absent for `return`/`abort`, whose response is ready).
        #[pin]
        future: Option<F>,
        // 4. `slow --phase after`: hold the response this long, if a slot under the
        //    cap on held requests is free when the handler has answered.
        after_ms: u64,
        #[pin]
        after: Option<Sleep>,
        response: Option<Response<Body>>,
        // Counts this request against the cap on held requests while, and only while,
        // it sleeps in a delay (not while its handler works).
        active: Option<ActiveDelay>,
        // Takes the slot for the `after` delay.
        shared: Option<Arc<Shared>>,
        // Resolves on the layer's graceful shutdown: the delays end at once.
        stop: Option<StopSignal>,
        // Measures the app's response for the armed guards (without the `before` delay).
        measure: Option<Measure>,
        before_ms: u64,
    }
}

/// The layer's graceful-shutdown signal, watched by delayed requests.
pub(crate) type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The faults to apply to one request (the inner future is added by
/// [`Faulted::set_future`]).
pub(crate) struct Faults {
    pub before_ms: u64,
    pub after_ms: u64,
    pub panic_action: Option<i64>,
    pub response: Option<Response<Body>>,
    /// The slot for the `before` delay (taken when the request was decided).
    pub active: Option<ActiveDelay>,
    /// Where to take a slot for the `after` delay (present when `after_ms > 0`).
    pub shared: Option<Arc<Shared>>,
    /// The shutdown signal (present when the request has a delay).
    pub stop: Option<StopSignal>,
    /// Measures the app's own response for the armed guards.
    pub measure: Option<Measure>,
}

fn sleep_for(ms: u64) -> Option<Sleep> {
    (ms > 0).then(|| tokio::time::sleep(Duration::from_millis(ms)))
}

impl<F> ResponseFuture<F> {
    #[inline]
    pub(crate) fn inner(future: F) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    /// The inner future, measured when `measure` is set.
    #[inline]
    pub(crate) fn measured(future: F, measure: Option<Measure>) -> Self {
        match measure {
            None => Self::inner(future),
            measure => Self {
                state: State::Measured { future, measure },
            },
        }
    }

    pub(crate) fn faulted(faulted: Pin<Box<Faulted<F>>>) -> Self {
        Self {
            state: State::Faulted { faulted },
        }
    }
}

impl<F> Faulted<F> {
    pub(crate) fn new(faults: Faults) -> Pin<Box<Self>> {
        Box::pin(Faulted {
            before: sleep_for(faults.before_ms),
            panic_action: faults.panic_action,
            future: None,
            after_ms: faults.after_ms,
            after: None,
            response: faults.response,
            active: faults.active,
            shared: faults.shared,
            stop: faults.stop,
            measure: faults.measure,
            before_ms: faults.before_ms,
        })
    }

    /// Whether the inner service answers (the layer has no response of its own to give
    /// and no panic to raise).
    pub(crate) fn needs_inner(&self) -> bool {
        self.response.is_none() && self.panic_action.is_none()
    }

    /// The inner service's future, polled after any `before` delay.
    pub(crate) fn set_future(self: Pin<&mut Self>, future: F) {
        self.project().future.set(Some(future));
    }
}

/// The inner response with axum's body type. `Body::new` does not allocate when the body
/// already is one (as behind an axum `Router`), so passing through costs nothing.
fn into_axum<B>(response: Response<B>) -> Response<Body>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    response.map(Body::new)
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(into_axum(response)))
            }
            StateProj::Measured { future, measure } => {
                let result = match measure.as_mut() {
                    Some(measure) => ready!(measure.poll(|| future.poll(cx))),
                    None => ready!(future.poll(cx)),
                };
                if let Some(measure) = measure.take() {
                    let error = result
                        .as_ref()
                        .map_or(true, |response| response.status().is_server_error());
                    measure.finish(error, 0);
                }
                Poll::Ready(result.map(into_axum))
            }
            StateProj::Faulted { faulted } => faulted.as_mut().poll(cx),
        }
    }
}

impl<F, B, E> Future for Faulted<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(stop) = this.stop.as_mut()
            && stop.as_mut().poll(cx).is_ready()
        {
            // Graceful shutdown: chaos delays are not work; let the request finish now.
            *this.stop = None;
            this.before.set(None);
            this.after.set(None);
            *this.after_ms = 0;
            *this.active = None;
        }
        if let Some(sleep) = this.before.as_mut().as_pin_mut() {
            ready!(sleep.poll(cx));
            this.before.set(None);
            // The `before` delay is over: the handler's own time is not chaos's.
            *this.active = None;
        }
        if let Some(action_id) = this.panic_action.take() {
            panic!("chaos: panic injected by action {action_id}");
        }
        if let Some(inner) = this.future.as_mut().as_pin_mut() {
            let result = match this.measure.as_mut() {
                Some(measure) => ready!(measure.poll(|| inner.poll(cx))),
                None => ready!(inner.poll(cx)),
            };
            if let Some(measure) = this.measure.take() {
                let error = result
                    .as_ref()
                    .map_or(true, |response| response.status().is_server_error());
                measure.finish(error, *this.before_ms);
            }
            let inner_response = result?;
            *this.response = Some(into_axum(inner_response));
            this.future.set(None);
            if *this.after_ms > 0 {
                // Over the cap (counted as skipped): the response goes out undelayed.
                *this.active = this.shared.take().and_then(|shared| shared.try_hold());
                if this.active.is_some() {
                    this.after.set(sleep_for(*this.after_ms));
                }
            }
        }
        if let Some(sleep) = this.after.as_mut().as_pin_mut() {
            ready!(sleep.poll(cx));
            this.after.set(None);
        }
        *this.active = None;
        match this.response.take() {
            Some(response) => Poll::Ready(Ok(response)),
            // Polled again after completion: a caller bug; stay pending, never panic.
            None => Poll::Pending,
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
