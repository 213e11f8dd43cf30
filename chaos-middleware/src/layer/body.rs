//! The response of an `abort`: the server drops the connection without sending anything,
//! for every method, HEAD included.
//!
//! A tower service behind axum cannot fail a request (its error type is `Infallible`),
//! so the abort is a response that hyper refuses to send:
//! - its head frames the body twice (`content-length: 0` *and* `transfer-encoding:
//!   chunked`), which hyper's HTTP/1 encoder rejects as a user error before writing a
//!   byte, closing the connection. This holds for HEAD too, whose body axum replaces
//!   with an empty one before hyper sees it;
//! - its body fails on the first poll, for servers that would send the head anyway
//!   (HTTP/2 resets the stream).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Response, header};
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

/// The empty body of a 204 or 304 response: it is over before it starts, but says no
/// exact size, so axum adds no `Content-Length: 0` (RFC 9110 §8.6 forbids the field on
/// 204, and on 304 it would claim the resource is empty), for GET and HEAD alike.
#[derive(Debug)]
pub(crate) struct NoContent;

impl Body for NoContent {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        true
    }
}

/// The response that makes the server drop the connection (see the module docs).
pub(crate) fn abort_response(action_id: i64) -> Response<axum::body::Body> {
    let mut response = Response::new(axum::body::Body::new(AbortBody { action_id }));
    let headers = response.headers_mut();
    // In this order: hyper checks `transfer-encoding` against a length already written.
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    headers.insert(
        header::TRANSFER_ENCODING,
        HeaderValue::from_static("chunked"),
    );
    response
}
