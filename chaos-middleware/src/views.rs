//! Names for routes. axum has no route names, so the app names its routes as it declares
//! them and hands the names to the layer; actions can then target `checkout` instead of
//! `/checkout`.

/// Route pattern → view name pairs, collected while the router is built.
///
/// ```
/// use axum::{Router, routing::get};
/// use chaos_middleware::ChaosViews;
///
/// let mut views = ChaosViews::new();
/// let app: Router = Router::new()
///     .route(views.name("items", "/items"), get(|| async { "items" }))
///     .route(views.name("item_detail", "/items/{id}"), get(|| async { "one" }));
/// assert_eq!(views.name_of("/items/{id}"), Some("item_detail"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ChaosViews {
    entries: Vec<(String, String)>,
    /// Route pattern → HTTP methods, when the app said them (for `chaos-admin views`).
    methods: Vec<(String, Vec<String>)>,
}

impl ChaosViews {
    /// An empty set of names.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that the route `pattern` is the view `name`, and returns `pattern` so the
    /// call can sit inside `Router::route`.
    pub fn name<'p>(&mut self, name: &str, pattern: &'p str) -> &'p str {
        self.entries.retain(|(_, known)| known != pattern);
        self.entries.push((name.to_owned(), pattern.to_owned()));
        pattern
    }

    /// Like [`ChaosViews::name`], also recording the route's HTTP methods so that
    /// `chaos-admin views` can show them:
    /// `.route(views.name_with_methods("checkout", "/checkout", &["POST"]), post(pay))`.
    pub fn name_with_methods<'p>(
        &mut self,
        name: &str,
        pattern: &'p str,
        methods: &[&str],
    ) -> &'p str {
        self.methods.retain(|(known, _)| known != pattern);
        self.methods.push((
            pattern.to_owned(),
            methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
        ));
        self.name(name, pattern)
    }

    /// Takes in the names of a router nested under `prefix`, as `Router::nest(prefix,
    /// inner)` does with its routes: requests to a nested route carry the full pattern
    /// (`/api` + `/users/{id}` = `/api/users/{id}`), so that is the pattern the name
    /// stands for, and the one registered for `chaos-admin views`.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use chaos_middleware::ChaosViews;
    ///
    /// let mut api_views = ChaosViews::new();
    /// let api: Router = Router::new()
    ///     .route(api_views.name("user", "/users/{id}"), get(|| async { "user" }));
    /// let mut views = ChaosViews::new();
    /// let app: Router = Router::new()
    ///     .route(views.name("items", "/items"), get(|| async { "items" }))
    ///     .nest("/api", api);
    /// views.nest("/api", api_views);
    /// assert_eq!(views.name_of("/api/users/{id}"), Some("user"));
    /// ```
    ///
    /// `Router::nest_service(prefix, service)` and fallbacks have no route pattern (axum
    /// sets no `MatchedPath` for them): their requests' view key is the raw path, so
    /// actions target them by exact path (`/assets/app.css`), not by name.
    pub fn nest(&mut self, prefix: &str, inner: ChaosViews) {
        for (name, pattern) in inner.entries {
            let full = nested_pattern(prefix, &pattern);
            let methods = inner
                .methods
                .iter()
                .find(|(known, _)| *known == pattern)
                .map(|(_, methods)| methods.clone());
            if let Some(methods) = methods {
                self.methods.retain(|(known, _)| *known != full);
                self.methods.push((full.clone(), methods));
            }
            self.entries.retain(|(_, known)| *known != full);
            self.entries.push((name, full));
        }
    }

    /// The HTTP methods recorded for `pattern` (empty when not known).
    pub fn methods_of(&self, pattern: &str) -> &[String] {
        self.methods
            .iter()
            .find(|(known, _)| known == pattern)
            .map_or(&[], |(_, methods)| methods.as_slice())
    }

    /// The view name given to `pattern`, if any.
    pub fn name_of(&self, pattern: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(_, known)| known == pattern)
            .map(|(name, _)| name.as_str())
    }

    /// Route patterns named `name`.
    pub fn patterns_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(known, _)| known == name)
            .map(|(_, pattern)| pattern.as_str())
    }

    /// Every `(name, pattern)` pair, in the order they were named.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, p)| (n.as_str(), p.as_str()))
    }
}

/// The pattern requests to `pattern` carry once its router is nested under `prefix`,
/// joined exactly as axum 0.8 joins them (`path_for_nested_route`): `/api` + `/users` =
/// `/api/users`, `/api` + `/` = `/api`, `/api/` + `/` = `/api/`, `/api/` + `/users` =
/// `/api/users`.
fn nested_pattern(prefix: &str, pattern: &str) -> String {
    let pattern = if pattern.starts_with('/') {
        pattern.to_owned()
    } else {
        format!("/{pattern}")
    };
    if prefix.ends_with('/') {
        format!("{prefix}{}", pattern.trim_start_matches('/'))
    } else if pattern == "/" {
        prefix.to_owned()
    } else {
        format!("{prefix}{pattern}")
    }
}

#[cfg(test)]
mod tests {
    use super::nested_pattern;

    #[test]
    fn nested_patterns_join_as_axum_joins_them() {
        for (prefix, pattern, joined) in [
            ("/api", "/users/{id}", "/api/users/{id}"),
            ("/api", "/", "/api"),
            ("/api/", "/", "/api/"),
            ("/api/", "/users", "/api/users"),
            ("/a/b", "/c", "/a/b/c"),
        ] {
            assert_eq!(
                nested_pattern(prefix, pattern),
                joined,
                "{prefix} + {pattern}"
            );
        }
    }
}
