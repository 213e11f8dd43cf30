//! Helpers for end-to-end tests: start the real `demo-app`, run the real `chaos-admin`,
//! talk HTTP over real sockets, and poll conditions with a deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chaos_middleware::testing::{TempPostgres, temp_sqlite_url};

pub mod bench;
pub mod load;
pub mod pg_cluster;

/// How long a test waits for the app to start or a change to show before failing.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// Path of a workspace binary next to this test executable (`target/<profile>/NAME`).
/// Run the tests with `cargo test --workspace` so the binaries are rebuilt first:
/// `cargo test -p e2e` alone would start whatever binaries were built last.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/e2e-<hash> -> target/<profile>/NAME; a binary of this crate
    // (the benchmark) lives in target/<profile> itself.
    let parent = exe.parent().expect("executable in a folder");
    let dir = if parent.ends_with("deps") {
        parent
            .parent()
            .expect("test executable lives in target/<profile>/deps")
    } else {
        parent
    };
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run the tests with `cargo test --workspace` so it is",
        path.display()
    );
    path
}

/// A store for one test: a SQLite file in a temp dir, or a throwaway PostgreSQL or
/// MySQL/MariaDB database.
#[derive(Debug)]
pub enum TestStore {
    /// SQLite file (the directory is removed on drop).
    Sqlite {
        /// Holds the directory alive.
        dir: tempfile::TempDir,
        /// `sqlite://...` URL.
        url: String,
    },
    /// A database created on the server named by `CHAOS_TEST_POSTGRES_URL` or
    /// `CHAOS_TEST_MYSQL_URL`.
    Server {
        /// Dropped (best effort) on drop.
        db: Option<TempPostgres>,
        /// `postgres://...` URL.
        url: String,
    },
}

impl TestStore {
    /// A fresh SQLite store.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = temp_sqlite_url(dir.path());
        TestStore::Sqlite { dir, url }
    }

    /// A fresh PostgreSQL database, or `None` (with a message) when
    /// `CHAOS_TEST_POSTGRES_URL` is not set.
    pub fn postgres() -> Option<Self> {
        let db = runtime().block_on(TempPostgres::from_env())?;
        let url = db.url().to_owned();
        Some(TestStore::Server { db: Some(db), url })
    }

    /// A fresh MySQL/MariaDB database, or `None` (with a message) when
    /// `CHAOS_TEST_MYSQL_URL` is not set.
    pub fn mysql() -> Option<Self> {
        let db = runtime().block_on(TempPostgres::mysql_from_env())?;
        let url = db.url().to_owned();
        Some(TestStore::Server { db: Some(db), url })
    }

    /// The store's URL.
    pub fn url(&self) -> &str {
        match self {
            TestStore::Sqlite { url, .. } | TestStore::Server { url, .. } => url,
        }
    }

    /// A directory tests may write scratch files to.
    pub fn scratch_dir(&self) -> Option<&Path> {
        match self {
            TestStore::Sqlite { dir, .. } => Some(dir.path()),
            TestStore::Server { .. } => None,
        }
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let TestStore::Server { db, .. } = self
            && let Some(db) = db.take()
        {
            runtime().block_on(db.drop_db());
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A running `demo-app` process, killed on drop.
#[derive(Debug)]
pub struct DemoApp {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// What it printed before its address.
    pub startup: Vec<String>,
}

impl DemoApp {
    /// Starts `demo-app --port 0` on `database_url` and waits until it prints its address.
    pub fn start(database_url: &str) -> Self {
        Self::start_with_env(database_url, &[])
    }

    /// Like [`DemoApp::start`], with extra environment variables.
    pub fn start_with_env(database_url: &str, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(binary("demo-app"));
        command
            .args(["--port", "0", "--database-url", database_url])
            .env_remove("CHAOS_DISABLED")
            .env("RUST_LOG", "warn")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("demo-app starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut startup = Vec::new();
        let port = loop {
            match receiver.recv_timeout(DEADLINE) {
                Ok(line) => {
                    if let Some(address) = line.strip_prefix("demo-app listening on http://") {
                        let port = address
                            .rsplit(':')
                            .next()
                            .and_then(|p| p.parse().ok())
                            .expect("port in the listening line");
                        break port;
                    }
                    startup.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    panic!("demo-app did not print its address within {DEADLINE:?}");
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait();
                    panic!("demo-app exited before printing its address: {status:?}");
                }
            }
        };
        DemoApp {
            child,
            port,
            startup,
        }
    }

    /// Waits up to `deadline` for the app to exit (after a signal); its exit code, or
    /// `None` when it is still running or was killed by a signal.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<i32> {
        wait_exit(&mut self.child, deadline)
    }

    /// The app's process id (to stop and continue it with signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one request and reads the whole response.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> std::io::Result<HttpResponse> {
        http_request(self.port, method, path, headers)
    }

    /// `GET path`, panicking on a connection error.
    pub fn get(&self, path: &str) -> HttpResponse {
        self.request("GET", path, &[])
            .unwrap_or_else(|err| panic!("GET {path} failed: {err}"))
    }

    /// `POST path` with an empty body, panicking on a connection error.
    pub fn post(&self, path: &str) -> HttpResponse {
        self.request("POST", path, &[])
            .unwrap_or_else(|err| panic!("POST {path} failed: {err}"))
    }

    /// The number of checkouts the handler has really processed (from `/health`).
    pub fn checkouts(&self) -> u64 {
        let health = self.get("/health");
        assert_eq!(health.status, 200, "health: {}", health.body);
        health.json()["checkouts"]
            .as_u64()
            .expect("checkouts counter in /health")
    }
}

impl Drop for DemoApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to `deadline` for `child` to exit; its exit code, or `None` when it is still
/// running or was killed by a signal.
fn wait_exit(child: &mut Child, deadline: Duration) -> Option<i32> {
    let started = Instant::now();
    while started.elapsed() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A running `chaos-admin serve`, killed on drop.
#[derive(Debug)]
pub struct AdminServer {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl AdminServer {
    /// Starts `chaos-admin serve --bind BIND` on the store with extra environment
    /// variables (`CHAOS_ADMIN_TOKEN`, `CHAOS_RELAY_TOKEN`: unset unless given); waits
    /// for the address it prints.
    pub fn start(database_url: &str, bind: &str, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(binary("chaos-admin"));
        command
            .args(["serve", "--bind", bind, "--database-url", database_url])
            .env_remove("CHAOS_ADMIN_TOKEN")
            .env_remove("CHAOS_RELAY_TOKEN")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("chaos-admin serve starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            // The first line to the test; the rest (warnings) to the test's stderr, so
            // the server never writes into a closed pipe.
            let mut sender = Some(sender);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                match sender.take() {
                    Some(first) => drop(first.send(line)),
                    None => eprintln!("chaos-admin serve: {line}"),
                }
            }
        });
        let line = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("serve prints its address");
        let port = line
            .strip_prefix("chaos admin on http://127.0.0.1:")
            .and_then(|rest| rest.split('/').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        AdminServer { child, port }
    }

    /// One request to the server; panics when it cannot be sent.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> HttpResponse {
        http_request_with_body(self.port, method, path, headers, body)
            .unwrap_or_else(|err| panic!("{method} {path}: {err}"))
    }

    /// The server's process id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `deadline` for the server to exit (after a signal); its exit code, or
    /// `None` when it is still running or was killed by a signal.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<i32> {
        wait_exit(&mut self.child, deadline)
    }

    /// Kills the server at once (SIGKILL: no graceful shutdown) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A whole HTTP response and how long it took.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Body as text.
    pub body: String,
    /// Header fields as sent (name, value), in order.
    pub headers: Vec<(String, String)>,
    /// Time from connecting to the end of the response.
    pub elapsed: Duration,
}

impl HttpResponse {
    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("body is not JSON ({err}): {}", self.body))
    }
}

/// A minimal HTTP/1.1 client (one request per connection) so tests see exactly what the
/// server sent, including a dropped connection.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<HttpResponse> {
    http_request_with_body(port, method, path, headers, "")
}

/// Like [`http_request`], with a request body.
pub fn http_request_with_body(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<HttpResponse> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("incomplete HTTP response: {text:?}"),
        )
    })?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad status line: {head:?}"),
            )
        })?;
    let chunked = head.lines().any(|line| {
        line.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Ok(HttpResponse {
        status,
        body,
        headers,
        elapsed,
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Runs `chaos-admin` against `database_url`.
pub fn admin(database_url: &str, args: &[&str]) -> Output {
    Command::new(binary("chaos-admin"))
        .args(args)
        .env("CHAOS_DATABASE_URL", database_url)
        .stdin(Stdio::null())
        .output()
        .expect("chaos-admin runs")
}

/// Runs `chaos-admin` and expects success; returns its stdout.
pub fn admin_ok(database_url: &str, args: &[&str]) -> String {
    let output = admin(database_url, args);
    assert!(
        output.status.success(),
        "chaos-admin {args:?} failed with {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Calls `probe` until it returns `Some`, or panics with `what` after [`DEADLINE`].
/// Returns the value and how long it took.
pub fn poll<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> (T, Duration) {
    let started = Instant::now();
    loop {
        if let Some(value) = probe() {
            return (value, started.elapsed());
        }
        assert!(
            started.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Percentiles of latency samples for the benchmarks (sorts `samples`):
/// `p50 … ms   p90 … ms   p99 … ms   max … ms   (n=…)`, nearest-rank on the sorted samples.
/// Empty input gives `no samples`.
pub fn latency_summary(samples: &mut [std::time::Duration]) -> String {
    if samples.is_empty() {
        return "no samples".to_owned();
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[index.min(samples.len() - 1)]
    };
    format!(
        "p50 {:>7.1} ms   p90 {:>7.1} ms   p99 {:>7.1} ms   max {:>7.1} ms   (n={})",
        millis(at(0.50)),
        millis(at(0.90)),
        millis(at(0.99)),
        millis(at(1.0)),
        samples.len()
    )
}

/// A duration in milliseconds, for printing.
pub fn millis(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One request a [`WebhookReceiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    /// `POST`, `GET`, ….
    pub method: String,
    /// The path (`/hook`).
    pub path: String,
    /// The request headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: serde_json::Value,
}

/// A webhook endpoint on a free loopback port that records every request. Paths starting
/// with `/fail` answer 500 (`nope`); the rest 200. Runs until the test ends.
#[derive(Debug, Clone)]
pub struct WebhookReceiver {
    /// The port (127.0.0.1).
    pub port: u16,
    received: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

impl WebhookReceiver {
    /// Starts it.
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind loopback");
        let port = listener.local_addr().expect("local address").port();
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = std::sync::Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = std::sync::Arc::clone(&log);
                std::thread::spawn(move || serve_webhook(stream, &log));
            }
        });
        Self { port, received }
    }

    /// The URL of `path` on it.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The bodies posted to `path`, in arrival order.
    pub fn bodies(&self, path: &str) -> Vec<serde_json::Value> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .map(|r| r.body)
            .collect()
    }
}

fn serve_webhook(stream: TcpStream, log: &std::sync::Mutex<Vec<Received>>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut headers = Vec::new();
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        line.clear();
    }
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut words = request_line.split_whitespace();
    let method = words.next().unwrap_or("").to_owned();
    let path = words.next().unwrap_or("/").to_owned();
    let fail = path.starts_with("/fail");
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Received {
            method,
            path,
            headers,
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        });
    let response = if fail {
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
    } else {
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    };
    let _ = writer.write_all(response.as_bytes());
}
