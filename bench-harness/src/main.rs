//! Macro benchmarks of the chaos layer, on loopback only (127.0.0.1).
//!
//! `bench-harness run` starts hello-world axum servers (this same binary, `serve --mode`),
//! each in its own process, drives them with the small keep-alive HTTP/1.1 load generator
//! below and prints one table per scenario (see BENCHMARKS.md):
//!
//! 1. A/B: no layer vs layer with an empty snapshot vs layer with 10,000 actions that do
//!    not match the route (idle), alternating runs of the same length.
//! 2. Held delays: N requests (10,000 by default) held by a 1 s `slow` on `/slow` while
//!    `/hello` is under load, against the same load with the N connections open but idle;
//!    server memory per held request from its VmRSS.
//! 3. Delay accuracy: `slow 100ms 200ms` (range, uniformity by Kolmogorov–Smirnov) and
//!    `slow 100ms 100ms` (overshoot).
//! 4. Probability accuracy at 1 %, 10 %, 50 % over 100,000 decisions (in process).
//! 5. Reload: time to apply 10,000 actions, and the RSS it adds.
//!
//! Every loop is bounded by a request count and a deadline; servers exit when the harness
//! closes their stdin, and after 10 minutes whatever happens.

use std::convert::Infallible;
use std::future::Future;
use std::io::{BufRead, BufReader as StdBufReader};
use std::net::SocketAddr;
use std::pin::pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use chaos_middleware::{Action, ActionSpec, ChaosHandle, ChaosLayer, Fault, Kind};
use http::{Request, Response, Uri};
use http_body_util::Empty;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tower::{Layer, Service};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("run") => run(&Options::parse(&args[1..])?),
        Some("drive") => drive(&args[1..]),
        _ => {
            eprintln!(
                "usage: bench-harness run [--rounds N] [--secs S] [--conns C] [--held N] [--quick]\n       \
                 bench-harness serve --mode bare|noop|empty|idle|chaos|user_miss|return|guard|router_empty|router_idle|router_param [--workers N] [--hold-ms MS] [--actions N]\n       \
                 bench-harness drive --port P [--path /hello] [--requests N]"
            );
            std::process::exit(2);
        }
    }
}

fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, Error> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a value").into()),
        None => Ok(default),
    }
}

// ---------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------

fn action(id: i64, target: &str, fault: Fault) -> Action {
    Action::new(id, ActionSpec::new(Kind::Response, target, fault))
}

fn slow(id: i64, target: &str, min_ms: u64, max_ms: u64) -> Action {
    action(
        id,
        target,
        Fault::Slow {
            min_ms,
            max_ms,
            phase: chaos_middleware::Phase::Before,
        },
    )
}

/// `n` actions on views no request here goes to.
fn unrelated(n: usize) -> Vec<Action> {
    (0..n)
        .map(|i| {
            action(
                100 + i as i64,
                &format!("/other/{i}"),
                Fault::Return {
                    status: 503,
                    body: None,
                },
            )
        })
        .collect()
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn serve(args: &[String]) -> Result<(), Error> {
    let mode: String = flag(args, "--mode", "bare".to_owned())?;
    let workers: usize = flag(args, "--workers", 1)?;
    let hold_ms: u64 = flag(args, "--hold-ms", 1000)?;
    // How many actions on other views the idle modes store.
    let unrelated_count: usize = flag(args, "--actions", 10_000)?;
    // Exit when the harness goes away (stdin closes) or after 10 minutes in any case.
    std::thread::spawn(|| {
        let mut sink = String::new();
        while std::io::stdin()
            .read_line(&mut sink)
            .map(|n| n > 0)
            .unwrap_or(false)
        {}
        std::process::exit(0);
    });
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(600));
        std::process::exit(3);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let routes = Router::new()
            .route("/hello", get(|| async { "hello" }))
            .route("/slow", get(|| async { "slow" }))
            .route("/jitter", get(|| async { "jitter" }))
            .route("/fixed", get(|| async { "fixed" }))
            // The same waits done by the handler itself, without the layer's help: the
            // baselines for memory per held request and for delay accuracy.
            .route(
                "/sleep",
                get(move || async move {
                    tokio::time::sleep(Duration::from_millis(hold_ms)).await;
                    "slept"
                }),
            )
            .route(
                "/sleep100",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    "slept"
                }),
            );
        let (app, handle) = match mode.as_str() {
            "bare" => (routes, None),
            // axum boxes every route layer's service and future: the fair baseline for
            // what the chaos layer itself adds.
            "noop" => (routes.layer(tower::layer::util::Identity::new()), None),
            "empty" | "idle" | "chaos" | "user_miss" | "return" | "guard" => {
                let layer = ChaosLayer::builder().enabled(true).build()?;
                let handle = layer.handle();
                let mut actions = match mode.as_str() {
                    "empty" | "return" => Vec::new(),
                    _ => unrelated(unrelated_count),
                };
                // An action on /hello for alice only; the requests are anonymous.
                if mode == "user_miss" {
                    let mut for_alice = action(1, "/hello", Fault::Abort);
                    for_alice.spec.users = vec!["alice".into()];
                    actions.push(for_alice);
                }
                // Every /hello answered 503 by the layer.
                if mode == "return" {
                    actions.push(action(
                        1,
                        "/hello",
                        Fault::Return {
                            status: 503,
                            body: None,
                        },
                    ));
                }
                if mode == "guard" {
                    handle.apply_with_guards(
                        Some(1),
                        &actions,
                        &[chaos_middleware::testing::guard_on_every_view()],
                    );
                    return serve_app(routes.layer(layer), Some(handle)).await;
                }
                if mode == "chaos" {
                    actions.push(slow(1, "/slow", hold_ms, hold_ms));
                    actions.push(slow(2, "/jitter", 100, 200));
                    actions.push(slow(3, "/fixed", 100, 100));
                }
                handle.apply(Some(1), &actions);
                (routes.layer(layer), Some(handle))
            }
            // The layer around the whole Router: one service, no per-route wrapping.
            "router_empty" | "router_idle" | "router_param" => {
                let layer = ChaosLayer::builder().enabled(true).build()?;
                let handle = layer.handle();
                if mode != "router_empty" {
                    let mut actions = unrelated(unrelated_count);
                    // A parameterized pattern: requests are resolved with the matcher.
                    if mode == "router_param" {
                        actions.push(action(
                            1,
                            "/other/{id}/detail",
                            Fault::Return {
                                status: 503,
                                body: None,
                            },
                        ));
                    }
                    handle.apply(Some(1), &actions);
                }
                let listener = listen()?;
                axum::serve(listener, layer.around(routes)).await?;
                return Ok(());
            }
            other => return Err(format!("unknown mode {other}").into()),
        };
        serve_app(app, handle).await
    })
}

/// A listener on a free loopback port; prints `LISTENING <port>` for the harness.
fn listen() -> Result<tokio::net::TcpListener, Error> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind("127.0.0.1:0".parse()?)?;
    let listener = socket.listen(16_384)?;
    println!("LISTENING {}", listener.local_addr()?.port());
    Ok(listener)
}

/// Serves `app` (plus `/stats`) on a free loopback port, printing `LISTENING <port>`.
async fn serve_app(app: Router, handle: Option<ChaosHandle>) -> Result<(), Error> {
    let app = app.route(
        "/stats",
        get(move || {
            let stats = handle.as_ref().map(ChaosHandle::stats);
            async move {
                format!(
                    "rss_kb={} slow={} return={}",
                    rss_kb(),
                    stats.as_ref().map_or(0, |s| s.injected_slow),
                    stats.as_ref().map_or(0, |s| s.injected_return),
                )
            }
        }),
    );
    axum::serve(listen()?, app).await?;
    Ok(())
}

/// `drive --port P [--path /hello] [--requests N]`: N keep-alive GETs on one connection,
/// one after the other (for the instruction counts: see benches/instructions.rs).
fn drive(args: &[String]) -> Result<(), Error> {
    let port: u16 = flag(args, "--port", 0)?;
    let path: String = flag(args, "--path", "/hello".to_owned())?;
    let requests: u64 = flag(args, "--requests", 5_000)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(load(
        SocketAddr::from(([127, 0, 0, 1], port)),
        &path,
        1,
        Duration::from_secs(600),
        requests,
    ));
    println!(
        "sent {} answered {} not-200 {} errors {}",
        requests,
        result.latencies_us.len(),
        result.statuses_not_200,
        result.errors
    );
    if result.errors > 0 || result.latencies_us.len() as u64 != requests {
        return Err("not every request was answered".into());
    }
    Ok(())
}

/// A server process of this binary; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    mode: &'static str,
}

impl Server {
    fn start(mode: &'static str, workers: usize) -> Result<Self, Error> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", "--mode", mode, "--workers", &workers.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        StdBufReader::new(stdout).read_line(&mut line)?;
        let port: u16 = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("server {mode} did not start: {line:?}"))?;
        Ok(Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            mode,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Load generator: keep-alive HTTP/1.1 GETs over raw sockets
// ---------------------------------------------------------------------------------------

struct Conn {
    stream: BufReader<TcpStream>,
    line: String,
    body: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            line: String::new(),
            body: Vec::new(),
        })
    }

    /// Sends one GET and reads the whole response; returns the status.
    async fn get(&mut self, request: &[u8]) -> std::io::Result<u16> {
        self.stream.write_all(request).await?;
        self.read_response().await
    }

    async fn read_response(&mut self) -> std::io::Result<u16> {
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
        self.line.clear();
        if self.stream.read_line(&mut self.line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = self
            .line
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("status line"))?;
        let mut length = 0usize;
        loop {
            self.line.clear();
            if self.stream.read_line(&mut self.line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if self.line == "\r\n" {
                break;
            }
            if let Some((name, value)) = self.line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().map_err(|_| bad("content-length"))?;
            }
        }
        self.body.resize(length, 0);
        self.stream.read_exact(&mut self.body).await?;
        Ok(status)
    }
}

fn get_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
}

#[derive(Default)]
struct LoadResult {
    /// Latency of every successful request, in microseconds.
    latencies_us: Vec<u32>,
    statuses_not_200: u64,
    errors: u64,
    elapsed: Duration,
}

impl LoadResult {
    fn rps(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn merge(&mut self, other: LoadResult) {
        self.latencies_us.extend(other.latencies_us);
        self.statuses_not_200 += other.statuses_not_200;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
    }
}

/// Closed-loop load: `conns` connections, each sending its next request as soon as the
/// previous answer arrived, until `duration` has passed or `max_requests` were sent.
async fn load(
    addr: SocketAddr,
    path: &str,
    conns: usize,
    duration: Duration,
    max_requests: u64,
) -> LoadResult {
    let request: Arc<[u8]> = get_request(path).into();
    let sent = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        let request = Arc::clone(&request);
        let sent = Arc::clone(&sent);
        tasks.spawn(async move {
            let mut result = LoadResult::default();
            let Ok(mut conn) = Conn::open(addr).await else {
                result.errors += 1;
                return result;
            };
            while Instant::now() < deadline && sent.fetch_add(1, Ordering::Relaxed) < max_requests {
                let t0 = Instant::now();
                match tokio::time::timeout_at(deadline.into(), conn.get(&request)).await {
                    Ok(Ok(status)) => {
                        result.latencies_us.push(t0.elapsed().as_micros() as u32);
                        if status != 200 {
                            result.statuses_not_200 += 1;
                        }
                    }
                    Ok(Err(_)) => {
                        result.errors += 1;
                        break;
                    }
                    Err(_) => break, // the deadline cut an answer short: not counted
                }
            }
            result
        });
    }
    let mut total = LoadResult::default();
    while let Some(done) = tasks.join_next().await {
        if let Ok(result) = done {
            total.merge(result);
        }
    }
    total.elapsed = start.elapsed();
    total
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1])
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn ms(us: f64) -> String {
    format!("{:.3}", us / 1000.0)
}

async fn server_stats(addr: SocketAddr) -> Result<(u64, u64), Error> {
    let mut conn = Conn::open(addr).await?;
    conn.get(&get_request("/stats")).await?;
    let text = String::from_utf8_lossy(&conn.body).into_owned();
    let field = |name: &str| -> u64 {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok((field("rss_kb="), field("slow=")))
}

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Options {
    rounds: usize,
    secs: f64,
    conns: usize,
    held: usize,
    workers: usize,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, Error> {
        let quick = args.iter().any(|a| a == "--quick");
        Ok(Self {
            rounds: flag(args, "--rounds", if quick { 2 } else { 6 })?,
            secs: flag(args, "--secs", if quick { 1.0 } else { 1.5 })?,
            conns: flag(args, "--conns", 32)?,
            held: flag(args, "--held", 10_000)?,
            workers: flag(args, "--workers", 1)?,
        })
    }
}

fn run(options: &Options) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    println!(
        "bench-harness: loopback only; server {} worker thread(s), load generator 1 thread; {} rounds x {} s, {} connections\n",
        options.workers, options.rounds, options.secs, options.conns
    );
    runtime.block_on(ab(options))?;
    runtime.block_on(held_delays(options))?;
    runtime.block_on(delay_accuracy(options))?;
    probability_accuracy();
    reload_cost();
    println!("\ntotal {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn ab(options: &Options) -> Result<(), Error> {
    let servers = [
        Server::start("bare", options.workers)?,
        Server::start("noop", options.workers)?,
        Server::start("empty", options.workers)?,
        Server::start("idle", options.workers)?,
        Server::start("router_idle", options.workers)?,
    ];
    let duration = Duration::from_secs_f64(options.secs);
    let cap = 5_000_000;
    for server in &servers {
        load(server.addr, "/hello", options.conns, duration / 4, cap).await;
    }
    let mut totals: Vec<LoadResult> = servers.iter().map(|_| LoadResult::default()).collect();
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    let mut p99_ratios: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    // The chaos layer against the no-op route layer (index 1), round by round.
    let mut vs_noop: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    let mut p99_vs_noop: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    for round in 0..options.rounds {
        // Alternate the order each round so no arm always runs first.
        let mut order: Vec<usize> = (0..servers.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        let mut rps = vec![0.0; servers.len()];
        let mut p99 = vec![0.0; servers.len()];
        for i in order {
            let mut result = load(servers[i].addr, "/hello", options.conns, duration, cap).await;
            rps[i] = result.rps();
            result.latencies_us.sort_unstable();
            p99[i] = percentile(&result.latencies_us, 0.99);
            totals[i].merge(result);
        }
        for i in 0..servers.len() {
            ratios[i].push(rps[i] / rps[0]);
            p99_ratios[i].push(p99[i] / p99[0]);
            vs_noop[i].push(rps[i] / rps[1]);
            p99_vs_noop[i].push(p99[i] / p99[1]);
        }
    }
    println!("## A/B: GET /hello, no layer vs layer (idle)\n");
    println!(
        "| server | requests | req/s | throughput ratio: median of rounds (each round) | p50 ms | p99 ms | p99 ratio: median of rounds | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut p99s = Vec::new();
    for total in totals.iter_mut() {
        total.latencies_us.sort_unstable();
        p99s.push(percentile(&total.latencies_us, 0.99));
    }
    for (i, (server, total)) in servers.iter().zip(&totals).enumerate() {
        let label = match server.mode {
            "bare" => "no layer",
            "noop" => "no-op route layer (axum's cost of any layer)",
            "empty" => "layer, empty snapshot",
            "router_idle" => "`chaos.around(router)`, 10,000 non-matching actions",
            _ => "layer, 10,000 non-matching actions",
        };
        let per_round: Vec<String> = ratios[i].iter().map(|r| format!("{r:.3}")).collect();
        println!(
            "| {label} | {} | {:.0} | {:.3} ({}) | {} | {} | {:.3} | {} |",
            total.latencies_us.len(),
            total.rps(),
            median(&ratios[i]),
            per_round.join(", "),
            ms(percentile(&total.latencies_us, 0.50)),
            ms(p99s[i]),
            median(&p99_ratios[i]),
            total.errors + total.statuses_not_200,
        );
    }
    println!(
        "\nThe chaos layer against the no-op route layer (median of rounds): \
         throughput {:.3} (empty snapshot), {:.3} (10,000 actions); \
         p99 {:.3}, {:.3}.",
        median(&vs_noop[2]),
        median(&vs_noop[3]),
        median(&p99_vs_noop[2]),
        median(&p99_vs_noop[3]),
    );
    println!();
    Ok(())
}

fn open_files_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(1024)
}

async fn held_delays(options: &Options) -> Result<(), Error> {
    held_delays_on(options, "/slow", "held by `slow 1s` in the layer").await?;
    held_delays_on(
        options,
        "/sleep",
        "held by the handler's own 1 s async sleep, no fault (baseline)",
    )
    .await
}

async fn held_delays_on(options: &Options, path: &str, how: &str) -> Result<(), Error> {
    let limit = open_files_limit();
    let held = options.held.min(limit.saturating_sub(200));
    if held < options.held {
        println!(
            "note: open-files limit {limit} (ulimit -n): holding {held} requests instead of {}",
            options.held
        );
    }
    let server = Server::start("chaos", options.workers)?;
    let addr = server.addr;
    let (rss_start, _) = server_stats(addr).await?;

    // Open the connections that will carry the held requests, a few hundred at a time.
    let open_started = Instant::now();
    let mut slow_conns = Vec::with_capacity(held);
    while slow_conns.len() < held && open_started.elapsed() < Duration::from_secs(20) {
        let batch = (held - slow_conns.len()).min(250);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..batch {
            set.spawn(Conn::open(addr));
        }
        while let Some(done) = set.join_next().await {
            if let Ok(Ok(conn)) = done {
                slow_conns.push(conn);
            }
        }
    }
    let opened = slow_conns.len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (rss_open, slow_before) = server_stats(addr).await?;
    let window = Duration::from_millis(500);

    let mut baseline = LoadResult::default();
    let mut during = LoadResult::default();
    let mut held_latencies: Vec<u32> = Vec::new();
    let mut rss_held = 0;
    let mut held_ok = 0u64;
    let mut slow_seen = slow_before;
    let mut windows = Vec::new();
    for _round in 0..2 {
        // No-delay run: the same connections open, idle.
        baseline.merge(load(addr, "/hello", options.conns, window, 5_000_000).await);

        // Held run: every slow connection sends one request, held 1 s by the layer.
        let request: Arc<[u8]> = get_request(path).into();
        let sent_at = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for mut conn in slow_conns.drain(..) {
            let request = Arc::clone(&request);
            set.spawn(async move {
                let t0 = Instant::now();
                let result =
                    tokio::time::timeout(Duration::from_secs(10), conn.get(&request)).await;
                let ok = matches!(result, Ok(Ok(200)));
                (conn, ok, t0.elapsed())
            });
        }
        // Wait until the server has decided (and so holds) every one of them; for the
        // handler's own sleep there is no counter, so give it the layer case's time.
        let target = slow_seen + opened as u64;
        if path != "/slow" {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut rss = 0;
        while Instant::now() < deadline {
            let (r, s) = server_stats(addr).await?;
            rss = r;
            if s >= target || path != "/slow" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        slow_seen = target;
        let all_held_after = sent_at.elapsed();
        // Load /hello while they are held, stopping before the first one is released.
        let remaining = Duration::from_millis(950).saturating_sub(all_held_after);
        let this_window = remaining.min(window);
        windows.push((all_held_after, this_window));
        during.merge(load(addr, "/hello", options.conns, this_window, 5_000_000).await);
        let (r, _) = server_stats(addr).await?;
        rss_held = rss_held.max(rss.max(r));
        while let Some(done) = set.join_next().await {
            if let Ok((conn, ok, took)) = done {
                if ok {
                    held_ok += 1;
                    held_latencies.push(took.as_micros() as u32);
                }
                slow_conns.push(conn);
            }
        }
    }
    baseline.latencies_us.sort_unstable();
    during.latencies_us.sort_unstable();
    held_latencies.sort_unstable();
    let b99 = percentile(&baseline.latencies_us, 0.99);
    let d99 = percentile(&during.latencies_us, 0.99);
    println!(
        "## Held delays: {opened} requests on {path} {how}, while /hello is under load ({} connections)\n",
        options.conns
    );
    println!("| /hello run | requests | req/s | p50 ms | p99 ms | errors |");
    println!("|---|---|---|---|---|---|");
    for (label, r, p99) in [
        ("no delay (connections open, idle)", &baseline, b99),
        ("while held", &during, d99),
    ] {
        println!(
            "| {label} | {} | {:.0} | {} | {} | {} |",
            r.latencies_us.len(),
            r.rps(),
            ms(percentile(&r.latencies_us, 0.5)),
            ms(p99),
            r.errors + r.statuses_not_200
        );
    }
    println!();
    let per_conn = (rss_open.saturating_sub(rss_start)) as f64 * 1024.0 / opened.max(1) as f64;
    let per_held = (rss_held.saturating_sub(rss_open)) as f64 * 1024.0 / opened.max(1) as f64;
    println!("| measure | value |\n|---|---|");
    println!(
        "| throughput while held / no delay | {:.3} |",
        during.rps() / baseline.rps()
    );
    println!("| p99 while held / no delay | {:.3} |", d99 / b99);
    println!(
        "| held requests answered 200 | {held_ok} of {} |",
        2 * opened
    );
    println!(
        "| held latency min / p50 / max ms | {} / {} / {} |",
        ms(percentile(&held_latencies, 0.0)),
        ms(percentile(&held_latencies, 0.5)),
        ms(percentile(&held_latencies, 1.0))
    );
    println!(
        "| all held after (ms), load window (ms) | {} |",
        windows
            .iter()
            .map(|(a, w)| format!("{}, {}", a.as_millis(), w.as_millis()))
            .collect::<Vec<_>>()
            .join("; ")
    );
    println!(
        "| server RSS: start / {opened} idle conns / held (MiB) | {:.1} / {:.1} / {:.1} |",
        rss_start as f64 / 1024.0,
        rss_open as f64 / 1024.0,
        rss_held as f64 / 1024.0
    );
    println!("| memory per open idle connection | {per_conn:.0} bytes |");
    println!("| memory per held request (on top of its connection) | {per_held:.0} bytes |");
    println!(
        "| connections opened in | {:.2} s |\n",
        open_started.elapsed().as_secs_f64()
    );
    drop(slow_conns);
    Ok(())
}

/// Kolmogorov–Smirnov distance between the sample and U(a, b).
fn ks_uniform(sorted_ms: &[f64], a: f64, b: f64) -> f64 {
    let n = sorted_ms.len() as f64;
    sorted_ms
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let f = ((x - a) / (b - a)).clamp(0.0, 1.0);
            ((i as f64 + 1.0) / n - f).max(f - i as f64 / n)
        })
        .fold(0.0, f64::max)
}

async fn delay_accuracy(_options: &Options) -> Result<(), Error> {
    let server = Server::start("chaos", 1)?;
    let n = 3_000;
    let conns = 300;
    let rtt = {
        let mut r = load(server.addr, "/hello", 8, Duration::from_millis(300), 2_000).await;
        r.latencies_us.sort_unstable();
        percentile(&r.latencies_us, 0.5)
    };
    let mut jitter = load(
        server.addr,
        "/jitter",
        conns,
        Duration::from_secs(10),
        n as u64,
    )
    .await;
    let mut fixed = load(
        server.addr,
        "/fixed",
        conns,
        Duration::from_secs(10),
        n as u64,
    )
    .await;
    let mut handler = load(
        server.addr,
        "/sleep100",
        conns,
        Duration::from_secs(10),
        n as u64,
    )
    .await;
    // The load generator's own timer: 300 concurrent tokio sleeps of 100 ms, no server.
    let mut timer_us: Vec<u32> = {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..conns {
            set.spawn(async {
                let t0 = Instant::now();
                tokio::time::sleep(Duration::from_millis(100)).await;
                t0.elapsed().as_micros() as u32
            });
        }
        let mut all = Vec::new();
        while let Some(Ok(us)) = set.join_next().await {
            all.push(us);
        }
        all
    };
    timer_us.sort_unstable();
    jitter.latencies_us.sort_unstable();
    fixed.latencies_us.sort_unstable();
    handler.latencies_us.sort_unstable();
    let j_ms: Vec<f64> = jitter
        .latencies_us
        .iter()
        .map(|&us| f64::from(us) / 1000.0)
        .collect();
    let count = j_ms.len();
    let critical = 1.36 / (count as f64).sqrt();
    let inside = j_ms
        .iter()
        .filter(|&&x| (100.0..=205.0).contains(&x))
        .count();
    println!(
        "## Delay accuracy (client-side latency, {conns} concurrent, loopback RTT p50 {} ms)\n",
        ms(rtt)
    );
    println!("| measure | value |\n|---|---|");
    println!(
        "| `slow 100ms 200ms`: requests, min / p50 / max ms | {count}, {:.3} / {:.3} / {:.3} |",
        j_ms.first().copied().unwrap_or(f64::NAN),
        percentile(&jitter.latencies_us, 0.5) / 1000.0,
        j_ms.last().copied().unwrap_or(f64::NAN)
    );
    println!("| inside [100, 205] ms | {inside} of {count} |");
    println!(
        "| KS distance vs U(100, 200) | {:.4} (5 % critical value {critical:.4}) |",
        ks_uniform(&j_ms, 100.0, 200.0)
    );
    println!(
        "| KS distance vs U(100, 201) (1 ms timer resolution) | {:.4} |",
        ks_uniform(&j_ms, 100.0, 201.0)
    );
    let f = &fixed.latencies_us;
    println!(
        "| `slow 100ms 100ms`: requests, min / p50 / p99 / max ms | {}, {} / {} / {} / {} |",
        f.len(),
        ms(percentile(f, 0.0)),
        ms(percentile(f, 0.5)),
        ms(percentile(f, 0.99)),
        ms(percentile(f, 1.0))
    );
    println!(
        "| fixed 100 ms: p50 / p99 overshoot | {} / {} ms |",
        ms(percentile(f, 0.5) - 100_000.0),
        ms(percentile(f, 0.99) - 100_000.0)
    );
    let h = &handler.latencies_us;
    println!(
        "| baseline, handler's own 100 ms sleep (no layer involved): p50 / p99 overshoot | {} / {} ms |",
        ms(percentile(h, 0.5) - 100_000.0),
        ms(percentile(h, 0.99) - 100_000.0)
    );
    println!(
        "| baseline, load generator's own 100 ms sleeps ({conns}): p50 / p99 overshoot | {} / {} ms |",
        ms(percentile(&timer_us, 0.5) - 100_000.0),
        ms(percentile(&timer_us, 0.99) - 100_000.0)
    );
    println!(
        "| errors | {} |\n",
        jitter.errors
            + jitter.statuses_not_200
            + fixed.errors
            + fixed.statuses_not_200
            + handler.errors
            + handler.statuses_not_200
    );
    Ok(())
}

type Answer = std::future::Ready<Result<Response<Empty<Bytes>>, Infallible>>;

fn answer(_: Request<()>) -> Answer {
    std::future::ready(Ok(Response::new(Empty::new())))
}

fn probability_accuracy() {
    let decisions = 100_000u64;
    println!("## Probability accuracy ({decisions} decisions each, in process)\n");
    println!("| probability | faults | expected | std dev | z | within 3 sd |");
    println!("|---|---|---|---|---|---|");
    for p in [0.01, 0.10, 0.50] {
        let Ok(layer) = ChaosLayer::builder().enabled(true).build() else {
            return;
        };
        let handle = layer.handle();
        let mut fault = action(
            1,
            "/p",
            Fault::Return {
                status: 503,
                body: None,
            },
        );
        fault.spec.probability = p;
        handle.apply(Some(1), &[fault]);
        let mut service = layer.layer(tower::service_fn(answer));
        let mut cx = Context::from_waker(Waker::noop());
        let mut faults = 0u64;
        for _ in 0..decisions {
            let mut request = Request::new(());
            *request.uri_mut() = Uri::from_static("/p");
            let future = pin!(service.call(request));
            if let Poll::Ready(Ok(response)) = future.poll(&mut cx)
                && response.status() == 503
            {
                faults += 1;
            }
        }
        let expected = p * decisions as f64;
        let sd = (decisions as f64 * p * (1.0 - p)).sqrt();
        let z = (faults as f64 - expected) / sd;
        println!(
            "| {:.0} % | {faults} | {expected:.0} | {sd:.1} | {z:+.2} | {} |",
            p * 100.0,
            if z.abs() <= 3.0 { "yes" } else { "NO" }
        );
    }
    println!();
}

fn reload_cost() {
    let actions = unrelated(10_000);
    let Ok(layer) = ChaosLayer::builder().enabled(true).build() else {
        return;
    };
    let handle = layer.handle();
    let mut times = Vec::new();
    for generation in 0..7 {
        let t0 = Instant::now();
        handle.apply(Some(generation), &actions);
        times.push(t0.elapsed());
    }
    times.sort();
    println!("## Reload: apply 10,000 actions\n");
    println!("| measure | value |\n|---|---|");
    println!(
        "| time min / median / max of 7 | {:.2} / {:.2} / {:.2} ms |",
        times[0].as_secs_f64() * 1e3,
        times[3].as_secs_f64() * 1e3,
        times[6].as_secs_f64() * 1e3
    );
    println!(
        "| memory kept by the snapshot | exact figure: `cargo test -p chaos-middleware --test alloc -- --nocapture snapshot_memory` |"
    );
}
