//! The response future: straight through, delayed, or a forced response.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;
use tokio::time::Sleep;

use super::body::ResponseBody;

pin_project! {
    /// Future of [`ChaosService`](super::ChaosService).
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        // No fault: the inner service's future, untouched.
        Inner { #[pin] future: F },
        // `slow`: the inner future was created but is not polled (so the handler does not
        // start) until the async sleep ends. The sleep is boxed so the common variants
        // stay small.
        Delayed { sleep: Pin<Box<Sleep>>, #[pin] future: F },
        // `return`: answer with this response, after the sleep if there is one.
        Respond { sleep: Option<Pin<Box<Sleep>>>, response: Option<Response<ResponseBody<B>>> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn inner(future: F) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    pub(crate) fn delayed(sleep: Sleep, future: F) -> Self {
        Self {
            state: State::Delayed {
                sleep: Box::pin(sleep),
                future,
            },
        }
    }

    pub(crate) fn respond(sleep: Option<Sleep>, response: Response<ResponseBody<B>>) -> Self {
        Self {
            state: State::Respond {
                sleep: sleep.map(Box::pin),
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(ResponseBody::inner)))
            }
            StateProj::Delayed { sleep, future } => {
                ready!(sleep.as_mut().poll(cx));
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(ResponseBody::inner)))
            }
            StateProj::Respond { sleep, response } => {
                if let Some(sleep) = sleep {
                    ready!(sleep.as_mut().poll(cx));
                }
                match response.take() {
                    Some(response) => Poll::Ready(Ok(response)),
                    // Polled again after completion: a caller bug; stay pending rather than panic.
                    None => Poll::Pending,
                }
            }
        }
    }
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
