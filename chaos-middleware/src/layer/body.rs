//! The response body: the inner service's own, a body the layer made up, or one that
//! fails at once so the server drops the connection (`abort`).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

/// Errors a [`ResponseBody`] can yield.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project! {
    /// Either the inner service's body, a forced `return` body, or an `abort`.
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    #[derive(Debug)]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Full { data: Option<Bytes> },
        Abort { action_id: i64 },
    }
}

/// The error an `abort` body fails with; the server then drops the connection.
#[derive(Debug, thiserror::Error)]
#[error("connection aborted by chaos action {action_id}")]
pub struct ChaosAbort {
    /// The action that aborted the connection.
    pub action_id: i64,
}

impl<B> ResponseBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    pub(crate) fn full(data: Bytes) -> Self {
        let data = (!data.is_empty()).then_some(data);
        Self {
            kind: Kind::Full { data },
        }
    }

    pub(crate) fn abort(action_id: i64) -> Self {
        Self {
            kind: Kind::Abort { action_id },
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx).map_err(Into::into),
            KindProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            KindProj::Abort { action_id } => Poll::Ready(Some(Err(Box::new(ChaosAbort {
                action_id: *action_id,
            })))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Full { data } => data.is_none(),
            Kind::Abort { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Abort { .. } => SizeHint::default(),
        }
    }
}
