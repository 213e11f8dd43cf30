//! `serve`: the web admin and its JSON API (`chaos_middleware::admin`) as a standalone
//! server over the store, for teams that keep it out of the app.
//!
//! Every route needs the token (`--token-file F` or `CHAOS_ADMIN_TOKEN`): API clients send
//! `Authorization: Bearer TOKEN` (and may name themselves for the audit log with
//! `X-Chaos-Operator: NAME`); people log in on `/login` with their name and the token,
//! which sets HttpOnly, `SameSite=Strict` cookies. Tokens are compared in constant time.
//! Without a token the server only binds to a loopback address (every local user is then
//! trusted, and changes are audited as the OS user).

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use chaos_middleware::Store;
use chaos_middleware::admin::{self, Operator};
use subtle::ConstantTimeEq;

use crate::error::CliError;

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (a non-loopback address needs a token).
    #[arg(long, default_value = "127.0.0.1:8900", value_name = "ADDR:PORT")]
    pub bind: String,
    /// File holding the access token (its first line; at least 16 characters).
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// The access token itself (prefer --token-file: the environment is visible to the
    /// user's other processes).
    #[arg(
        long,
        env = "CHAOS_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
}

/// The shortest token accepted.
const MIN_TOKEN_CHARS: usize = 16;
/// Cookie holding the token after a login.
const TOKEN_COOKIE: &str = "chaos_admin_token";
/// Cookie holding the operator's name after a login.
const NAME_COOKIE: &str = "chaos_admin_operator";

/// Who may use the server.
#[derive(Debug, Clone)]
enum Access {
    /// Anyone who presents this token.
    Token(String),
    /// Anyone who can reach the loopback address, as this OS user.
    Local(String),
}

fn read_token(args: &Args) -> Result<Option<String>, CliError> {
    let token = match (&args.token_file, &args.token) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|err| {
                CliError::usage(format!(
                    "cannot read --token-file {}: {err}",
                    path.display()
                ))
            })?;
            Some(text.lines().next().unwrap_or("").trim().to_owned())
        }
        (None, Some(token)) => Some(token.trim().to_owned()),
        (None, None) => None,
    };
    if let Some(token) = &token
        && token.chars().count() < MIN_TOKEN_CHARS
    {
        return Err(CliError::usage(format!(
            "the admin token has {} characters: allowed are tokens of at least {MIN_TOKEN_CHARS} (e.g. `openssl rand -hex 32`)",
            token.chars().count()
        )));
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
    let access = match read_token(&args)? {
        Some(token) => Access::Token(token),
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
            Access::Token(_) => eprintln!("chaos admin on http://{local}/ (token required; store {})", store.location()),
            Access::Local(user) => eprintln!(
                "chaos admin on http://{local}/ without a token: every local user can use it, audited as {user} (store {})",
                store.location()
            ),
        }
        axum::serve(listener, app(store, access))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok::<_, CliError>(0)
    })
}

/// The server's routes: `/login`, `/logout`, and the admin behind the token check.
fn app(store: Store, access: Access) -> Router {
    let guarded =
        admin::router(store).layer(middleware::from_fn_with_state(access.clone(), authenticate));
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", get(logout))
        .with_state(access)
        .merge(guarded)
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
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
            axum::Json(serde_json::json!({
                "error": "authentication required: send Authorization: Bearer TOKEN (the token of `chaos-admin serve`)",
                "status": 401
            })),
        )
            .into_response()
    } else {
        // The login form itself, with the status that says why.
        with_login_headers((StatusCode::UNAUTHORIZED, login_form(None)).into_response())
    }
}

/// Lets a request through with its [`Operator`], or answers 401: JSON for the API, the
/// login form for pages.
async fn authenticate(State(access): State<Access>, mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let operator = match &access {
        Access::Local(user) => Some(Operator::new(user.clone())),
        Access::Token(expected) => {
            let bearer = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if let Some(given) = bearer {
                token_matches(expected, given.trim()).then(|| {
                    let name = headers
                        .get("x-chaos-operator")
                        .and_then(|v| v.to_str().ok());
                    Operator::new(operator_name(name, "api"))
                })
            } else {
                cookie(headers, TOKEN_COOKIE)
                    .filter(|given| token_matches(expected, given))
                    .map(|_| {
                        let name = cookie(headers, NAME_COOKIE).map(decode_cookie);
                        Operator::new(operator_name(name.as_deref(), "web"))
                    })
            }
        }
    };
    match operator {
        Some(operator) => {
            request.extensions_mut().insert(operator);
            next.run(request).await
        }
        None => unauthorized(request.uri().path().starts_with("/api/")),
    }
}

fn decode_cookie(text: &str) -> String {
    form_urlencoded::parse(format!("n={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
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

async fn login_page() -> Response {
    with_login_headers(login_form(None).into_response())
}

fn with_login_headers(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; form-action 'self'; frame-ancestors 'none'"),
    );
    response
}

/// `POST /login` (`name`, `token`): sets the cookies and goes to the admin.
async fn login(State(access): State<Access>, body: Bytes) -> Response {
    let mut name = None;
    let mut token = None;
    for (key, value) in form_urlencoded::parse(&body) {
        match key.as_ref() {
            "name" => name = Some(value.into_owned()),
            "token" => token = Some(value.into_owned()),
            _ => {}
        }
    }
    let ok = match &access {
        Access::Local(_) => true,
        Access::Token(expected) => token
            .as_deref()
            .is_some_and(|t| token_matches(expected, t.trim())),
    };
    if !ok {
        let page = login_form(Some("That token is not the server's token."));
        return with_login_headers((StatusCode::UNAUTHORIZED, page).into_response());
    }
    let name = operator_name(name.as_deref(), "web");
    let encoded: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let token_value = match &access {
        Access::Token(expected) => expected.clone(),
        Access::Local(_) => String::new(),
    };
    let mut response = Redirect::to("/").into_response();
    for cookie in [
        format!("{TOKEN_COOKIE}={token_value}; HttpOnly; SameSite=Strict; Path=/"),
        format!("{NAME_COOKIE}={encoded}; HttpOnly; SameSite=Strict; Path=/"),
    ] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// `GET /logout`: forgets the cookies.
async fn logout() -> Response {
    let mut response = Redirect::to("/login").into_response();
    for name in [TOKEN_COOKIE, NAME_COOKIE] {
        if let Ok(value) = HeaderValue::from_str(&format!(
            "{name}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
        )) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
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
            HeaderValue::from_static("a=1; chaos_admin_token=abc; chaos_admin_operator=Ann%20Lee"),
        );
        assert_eq!(cookie(&headers, TOKEN_COOKIE), Some("abc"));
        assert_eq!(
            decode_cookie(cookie(&headers, NAME_COOKIE).unwrap_or_default()),
            "Ann Lee"
        );
        assert_eq!(operator_name(Some(" \u{1b}[31mbob "), "x"), "[31mbob");
        assert_eq!(operator_name(Some("  "), "web"), "web");
        assert!(token_matches("0123456789abcdef", "0123456789abcdef"));
        assert!(!token_matches("0123456789abcdef", "0123456789abcdeF"));
        assert!(!token_matches("0123456789abcdef", ""));
    }
}
