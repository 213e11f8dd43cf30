//! Who a request is for. The layer never authenticates: the app says who the user is.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::{Extensions, HeaderMap, Method, Uri};

/// The identity chaos filters match against (`--user`, `--group`).
///
/// The default extractor reads this type from the request extensions, so an app's own
/// auth middleware only has to `request.extensions_mut().insert(ChaosUser::new(name))`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChaosUser {
    /// The user's name as actions name it.
    pub name: String,
    /// Groups the user belongs to.
    pub groups: Vec<String>,
}

impl ChaosUser {
    /// A user with no groups.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            groups: Vec::new(),
        }
    }

    /// The same user, in these groups.
    pub fn with_groups(mut self, groups: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.groups = groups.into_iter().map(Into::into).collect();
        self
    }
}

/// The parts of a request an extractor may look at.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    /// HTTP method.
    pub method: &'a Method,
    /// Request URI.
    pub uri: &'a Uri,
    /// Request headers (never trusted by default).
    pub headers: &'a HeaderMap,
    /// Request extensions, where the app's auth leaves its identity.
    pub extensions: &'a Extensions,
}

impl<'a> RequestInfo<'a> {
    /// The parts of `request`.
    pub fn of<B>(request: &'a http::Request<B>) -> Self {
        Self {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }
}

/// A function from request parts to the user, if any.
#[derive(Clone)]
pub struct UserExtractor(Source);

#[derive(Clone)]
enum Source {
    /// The `ChaosUser` extension, borrowed (no allocation on the request path).
    Extension,
    Custom(Arc<ExtractFn>),
}

type ExtractFn = dyn Fn(&RequestInfo<'_>) -> Option<ChaosUser> + Send + Sync;

impl UserExtractor {
    /// Wraps a closure.
    pub fn new(f: impl Fn(&RequestInfo<'_>) -> Option<ChaosUser> + Send + Sync + 'static) -> Self {
        Self(Source::Custom(Arc::new(f)))
    }

    /// Runs the extractor; the default one borrows the user from the request.
    pub fn extract<'r>(&self, info: &RequestInfo<'r>) -> Option<Cow<'r, ChaosUser>> {
        match &self.0 {
            Source::Extension => info.extensions.get::<ChaosUser>().map(Cow::Borrowed),
            Source::Custom(extract) => extract(info).map(Cow::Owned),
        }
    }
}

impl Default for UserExtractor {
    /// Reads a [`ChaosUser`] extension inserted by the app's auth.
    fn default() -> Self {
        Self(Source::Extension)
    }
}

impl fmt::Debug for UserExtractor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserExtractor(..)")
    }
}
