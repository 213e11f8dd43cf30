//! The body of an `abort`: it fails at once, so the server drops the connection without
//! sending a response.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};

/// Errors a response body may yield.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The error an `abort` body fails with; the server then drops the connection.
#[derive(Debug, thiserror::Error)]
#[error("connection aborted by chaos action {action_id}")]
pub struct ChaosAbort {
    /// The action that aborted the connection.
    pub action_id: i64,
}

/// A body whose first frame is an error.
#[derive(Debug)]
pub(crate) struct AbortBody {
    pub action_id: i64,
}

impl Body for AbortBody {
    type Data = Bytes;
    type Error = ChaosAbort;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(Some(Err(ChaosAbort {
            action_id: self.action_id,
        })))
    }
}
