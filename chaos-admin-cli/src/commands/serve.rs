//! `serve`: the web admin and its JSON API (`chaos_middleware::admin`) as a standalone
//! server over the store, for teams that keep it out of the app.
//!
//! Every route needs the token (`--token-file F` or `CHAOS_ADMIN_TOKEN`): API clients send
//! `Authorization: Bearer TOKEN` (and may name themselves for the audit log with
//! `X-Chaos-Operator: NAME`); people log in on `/login` with their name and the token,
//! which sets HttpOnly, `SameSite=Strict` cookies. Tokens are compared in constant time.
//! Without a token the server only binds to a loopback address (every local user is then
//! trusted, and changes are audited as the OS user).
//!
//! It is also the relay (`chaos_middleware::relay`) for app instances whose store is
//! `http://HOST:PORT`: they long-poll `/api/v1/relay/changes` with `Authorization: Bearer
//! RELAY_TOKEN` (`--relay-token-file` or `CHAOS_RELAY_TOKEN`; the admin token when none is
//! given). The relay token opens only the relay's routes, and the admin token's login
//! sessions never open them (the feed carries hidden exercise actions).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use chaos_middleware::Store;
use chaos_middleware::admin::auth::{credentials, host_is_loopback, is_api};
use chaos_middleware::admin::{self, ApiError, Operator};
use chaos_middleware::relay::server::RelayServer;
use subtle::ConstantTimeEq;

use crate::error::CliError;

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (a non-loopback address needs a token).
    #[arg(long, default_value = "127.0.0.1:8900", value_name = "ADDR:PORT")]
    pub bind: String,
    /// File holding the access token (its first line; 16 to 256 visible ASCII characters
    /// other than `;`, `,`, `"` and `\`). Wins over CHAOS_ADMIN_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// File holding the token app instances present to the relay (same rules as the
    /// admin token). Wins over CHAOS_RELAY_TOKEN; without either, the admin token.
    #[arg(long, value_name = "FILE")]
    pub relay_token_file: Option<PathBuf>,
}

/// The environment variables holding the tokens (a flag would show in `ps`).
const TOKEN_ENV: &str = "CHAOS_ADMIN_TOKEN";
const RELAY_TOKEN_ENV: &str = "CHAOS_RELAY_TOKEN";

/// The shortest token accepted.
const MIN_TOKEN_CHARS: usize = 16;
/// The longest token accepted.
const MAX_TOKEN_CHARS: usize = 256;
/// Cookie holding the session a login opened (a random id, never the token: cookies are
/// not kept apart by port, so other services on the host would see it).
const SESSION_COOKIE: &str = "chaos_admin_session";

/// Who may use the server.
#[derive(Debug, Clone)]
enum Access {
    /// Anyone who presents this token, or the session cookie a login with it gave.
    Token {
        token: String,
        /// Session id → operator name; in memory, so a restart logs everyone out.
        sessions: Arc<Mutex<HashMap<String, String>>>,
    },
    /// Anyone who can reach the loopback address, as this OS user.
    Local(String),
}

/// A token from `--FLAG FILE` (its first line) or else the environment variable `env`,
/// checked: `what` names it in errors.
fn read_token(
    file: Option<&PathBuf>,
    flag: &str,
    env: &str,
    what: &str,
) -> Result<Option<String>, CliError> {
    let token = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|err| {
                CliError::usage(format!("cannot read {flag} {}: {err}", path.display()))
            })?;
            Some(text.lines().next().unwrap_or("").trim().to_owned())
        }
        None => std::env::var(env).ok().map(|t| t.trim().to_owned()),
    };
    if let Some(token) = &token {
        let length = token.chars().count();
        if !(MIN_TOKEN_CHARS..=MAX_TOKEN_CHARS).contains(&length) {
            return Err(CliError::usage(format!(
                "the {what} has {length} characters: allowed are {MIN_TOKEN_CHARS} to {MAX_TOKEN_CHARS} (e.g. `openssl rand -hex 32`)"
            )));
        }
        if let Some(bad) = token
            .chars()
            .find(|c| !c.is_ascii_graphic() || matches!(c, ';' | ',' | '"' | '\\'))
        {
            return Err(CliError::usage(format!(
                "the {what} holds {bad:?}: allowed are visible ASCII characters other than ; , \" \\ (e.g. `openssl rand -hex 32`)"
            )));
        }
    }
    Ok(token)
}

/// Checks the arguments, then serves until Ctrl-C; returns the exit code.
pub fn main(args: Args, database_url: &str) -> Result<u8, CliError> {
    let addr: SocketAddr = args.bind.parse().map_err(|_| {
        CliError::usage(format!(
            "invalid --bind '{}': allowed is ADDRESS:PORT, e.g. 127.0.0.1:8900 or 0.0.0.0:8900",
            args.bind
        ))
    })?;
    let admin_token = read_token(
        args.token_file.as_ref(),
        "--token-file",
        TOKEN_ENV,
        "admin token",
    )?;
    let relay_token = read_token(
        args.relay_token_file.as_ref(),
        "--relay-token-file",
        RELAY_TOKEN_ENV,
        "relay token",
    )?;
    if relay_token.is_some() && admin_token.is_none() {
        return Err(CliError::usage(
            "a relay token needs an admin token too (--token-file FILE or CHAOS_ADMIN_TOKEN): without one the server answers only on loopback, to every local user",
        ));
    }
    let relay_access = match (&relay_token, &admin_token) {
        (Some(token), _) | (None, Some(token)) => RelayAccess::Token(token.clone()),
        (None, None) => RelayAccess::Local,
    };
    let access = match admin_token {
        Some(token) => Access::Token {
            token,
            sessions: Arc::default(),
        },
        None if addr.ip().is_loopback() => {
            Access::Local(std::env::var("USER").unwrap_or_else(|_| "local".to_owned()))
        }
        None => {
            return Err(CliError::usage(format!(
                "--bind {addr} is not a loopback address: give a token (--token-file FILE or CHAOS_ADMIN_TOKEN) so that not everyone who reaches it can change the chaos"
            )));
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let store = Store::connect(database_url).await?;
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|err| {
            CliError::Runtime(anyhow::anyhow!("cannot listen on {addr}: {err}"))
        })?;
        let local = listener.local_addr()?;
        match &access {
            Access::Token { .. } => eprintln!(
                "chaos admin on http://{local}/ (token required; store {})",
                store.location()
            ),
            Access::Local(user) => eprintln!(
                "chaos admin on http://{local}/ without a token: every local user can use it, audited as {user} (store {})",
                store.location()
            ),
        }
        let relay = RelayServer::new(store.clone());
        // Notifications queued by every front end and instance (they deliver too; a
        // delivery is claimed, so none is sent twice). Ends with the process.
        tokio::spawn(
            chaos_middleware::notification::deliver::Deliverer::new(store.clone())
                .run(std::future::pending()),
        );
        let app = app(store, access, &relay, relay_access);
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown_signal().await;
                // Waiting long polls answer at once, so shutting down does not wait 25 s.
                relay.close();
            })
            .await?;
        Ok::<_, CliError>(0)
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut terminate) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Who may use the relay's routes.
#[derive(Debug, Clone)]
enum RelayAccess {
    /// Instances presenting this token (`Authorization: Bearer`).
    Token(String),
    /// Anyone who can reach the loopback address.
    Local,
}

/// The server's routes: `/login`, `/logout`, the admin behind the token check, and the
/// relay behind its own.
fn app(store: Store, access: Access, relay: &RelayServer, relay_access: RelayAccess) -> Router {
    let guarded =
        admin::router(store).layer(middleware::from_fn_with_state(access.clone(), authenticate));
    let relay = relay.router().layer(middleware::from_fn_with_state(
        relay_access,
        authenticate_relay,
    ));
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", get(logout))
        .with_state(access)
        .merge(relay)
        .merge(guarded)
        .layer(middleware::map_response(security_headers))
}

/// Lets an instance through to the relay with the relay token (no cookies: a browser
/// session of an operator never reads the feed), or answers 401.
async fn authenticate_relay(
    State(access): State<RelayAccess>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    // Instances are programs: a request a browser sent for another site (it names an
    // Origin or a fetch site) is refused, whoever it names as the operator.
    let from_a_page = headers.contains_key(header::ORIGIN)
        || headers
            .get("sec-fetch-site")
            .is_some_and(|site| site.as_bytes() != b"none");
    if from_a_page {
        return ApiError::new(StatusCode::FORBIDDEN, "the relay serves app instances, not web pages: requests with Origin or Sec-Fetch-Site are refused")
            .into_response();
    }
    let allowed = match &access {
        RelayAccess::Token(token) => {
            credentials(headers, "Bearer").is_some_and(|given| token_matches(token, given))
        }
        RelayAccess::Local if host_is_loopback(headers) => true,
        RelayAccess::Local => return misdirected(),
    };
    if allowed {
        return next.run(request).await;
    }
    (
        [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
        ApiError::new(StatusCode::UNAUTHORIZED, "the relay needs Authorization: Bearer RELAY_TOKEN (the relay token of `chaos-admin serve`, or its admin token when it has none)"),
    )
        .into_response()
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The headers every response of the server carries (the admin's pages set a stricter
/// policy of their own, which is kept).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn token_matches(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// An operator name from a header or cookie: printable, at most 64 characters.
fn operator_name(text: Option<&str>, default: &str) -> String {
    let name: String = text
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    let name = name.trim();
    if name.is_empty() {
        default.to_owned()
    } else {
        name.to_owned()
    }
}

fn unauthorized(api: bool) -> Response {
    if api {
        (
            [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
            ApiError::new(StatusCode::UNAUTHORIZED, "authentication required: send Authorization: Bearer TOKEN (the token of `chaos-admin serve`)"),
        )
            .into_response()
    } else {
        // The login form itself, with the status that says why.
        (StatusCode::UNAUTHORIZED, login_form(None)).into_response()
    }
}

/// Lets a request through with its [`Operator`], or answers 401: JSON for the API, the
/// login form for pages.
async fn authenticate(State(access): State<Access>, mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let operator = match &access {
        Access::Local(user) => {
            if !host_is_loopback(headers) {
                return misdirected();
            }
            Some(Operator::new(user.clone()))
        }
        Access::Token { token, sessions } => {
            if let Some(given) = credentials(headers, "Bearer") {
                token_matches(token, given).then(|| {
                    let name = headers
                        .get("x-chaos-operator")
                        .and_then(|v| v.to_str().ok());
                    Operator::new(operator_name(name, "api"))
                })
            } else {
                let session = cookie(headers, SESSION_COOKIE).unwrap_or("");
                let known = match sessions.lock() {
                    Ok(map) => map.get(session).cloned(),
                    Err(poisoned) => poisoned.into_inner().get(session).cloned(),
                };
                known.filter(|_| !session.is_empty()).map(Operator::new)
            }
        }
    };
    match operator {
        Some(operator) => {
            request.extensions_mut().insert(operator);
            next.run(request).await
        }
        None => unauthorized(is_api(request.uri().path())),
    }
}

/// A request for another host name while the server runs without a token: 421.
fn misdirected() -> Response {
    ApiError::new(StatusCode::MISDIRECTED_REQUEST, "this server answers only requests for 127.0.0.1, [::1] or localhost (it runs without a token)")
        .into_response()
}

fn login_form(error: Option<&str>) -> Html<String> {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{e}</p>"))
        .unwrap_or_default();
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Log in · chaos admin</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head><body>\
         <main><h1>chaos admin</h1>{error}<form method=\"post\" action=\"/login\">\
         <p><label>Your name (for the audit log) <input name=\"name\" required autocomplete=\"username\"></label></p>\
         <p><label>Token <input name=\"token\" type=\"password\" required autocomplete=\"current-password\"></label></p>\
         <p><button type=\"submit\">Log in</button></p></form></main></body></html>"
    ))
}

async fn login_page(State(access): State<Access>) -> Response {
    match access {
        // Without a token there is nothing to log in to.
        Access::Local(_) => Redirect::to("/").into_response(),
        Access::Token { .. } => login_form(None).into_response(),
    }
}

/// `POST /login` (`name`, `token`): opens a session (an HttpOnly, `SameSite=Strict`
/// cookie) and goes to the admin.
async fn login(State(access): State<Access>, body: Bytes) -> Response {
    let mut name = None;
    let mut given = None;
    for (key, value) in form_urlencoded::parse(&body) {
        match key.as_ref() {
            "name" => name = Some(value.into_owned()),
            "token" => given = Some(value.into_owned()),
            _ => {}
        }
    }
    let Access::Token { token, sessions } = &access else {
        // Without a token there is nothing to log in to.
        return Redirect::to("/").into_response();
    };
    if !given
        .as_deref()
        .is_some_and(|t| token_matches(token, t.trim()))
    {
        let page = login_form(Some("That token is not the server's token."));
        return (StatusCode::UNAUTHORIZED, page).into_response();
    }
    let name = operator_name(name.as_deref(), "web");
    let session: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    match sessions.lock() {
        Ok(mut map) => map.insert(session.clone(), name),
        Err(poisoned) => poisoned.into_inner().insert(session.clone(), name),
    };
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/"
    )) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /logout`: ends the session.
async fn logout(State(access): State<Access>, headers: HeaderMap) -> Response {
    if let (Access::Token { sessions, .. }, Some(session)) =
        (&access, cookie(&headers, SESSION_COOKIE))
    {
        match sessions.lock() {
            Ok(mut map) => map.remove(session),
            Err(poisoned) => poisoned.into_inner().remove(session),
        };
    }
    let mut response = Redirect::to("/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    )) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_names() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; chaos_admin_session=abc"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(operator_name(Some(" \u{1b}[31mbob "), "x"), "[31mbob");
        assert_eq!(operator_name(Some("  "), "web"), "web");
        assert!(token_matches("0123456789abcdef", "0123456789abcdef"));
        assert!(!token_matches("0123456789abcdef", "0123456789abcdeF"));
        assert!(!token_matches("0123456789abcdef", ""));
    }
}
