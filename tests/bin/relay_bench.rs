//! Relay benchmark (not a test): one `chaos-admin serve` as the fan-out for N instances.
//!
//! ```text
//! cargo build --release -p e2e --bin relay-bench && cargo build --release -p chaos-admin-cli
//! target/release/relay-bench [--instances 1000] [--trials 50] [--idle-seconds 20]
//! ```
//!
//! It starts a private PostgreSQL cluster (default settings), the real `chaos-admin
//! serve` binary on it, and N layers in this process whose store is the relay's
//! `http://` URL (each with its own HTTP client and connections, as N app processes
//! would; their default 10 s heartbeat registers them through the relay). It records:
//!
//! - the server's resident memory (and peak) before and with N subscribers, and its CPU
//!   time while idle and per change;
//! - the connections the server holds to PostgreSQL, and the database's transactions per
//!   second while idle;
//! - time from a write returning (`Store::create`, what `chaos-admin create` runs) until
//!   **all N** layers apply it: p50/p90/p99/max over the trials;
//! - errors in the server log.

use std::time::{Duration, Instant};

use chaos_middleware::{ChaosHandle, ChaosLayer, ChaosViews, Store};
use e2e::bench::{
    ProcessUsage, connections, database_counters, fail, positive, print_server_errors,
    process_usage, propagation_trials, wait_all,
};
use e2e::pg_cluster::PgCluster;
use e2e::{AdminServer, latency_summary, millis};
use sqlx::Connection;

const RELAY_TOKEN: &str = "relay-bench-instances-0123456789";
const ADMIN_TOKEN: &str = "relay-bench-admin-0123456789";

struct Options {
    instances: usize,
    trials: usize,
    idle: Duration,
}

fn parse_args() -> Options {
    let mut options = Options {
        instances: 1000,
        trials: 50,
        idle: Duration::from_secs(20),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| fail(&format!("{arg} needs a value")));
        match arg.as_str() {
            "--instances" => options.instances = positive(&arg, &value).min(10_000),
            "--trials" => options.trials = positive(&arg, &value),
            "--idle-seconds" => options.idle = Duration::from_secs(positive(&arg, &value) as u64),
            other => fail(&format!(
                "unknown argument '{other}': allowed are --instances, --trials, --idle-seconds"
            )),
        }
    }
    options
}

fn main() {
    let options = parse_args();
    let Some(cluster) = PgCluster::start() else {
        fail("no PostgreSQL server binaries (initdb) found");
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|err| fail(&format!("tokio runtime: {err}")));
    let database = "relay_bench";
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/{database}",
        cluster.port()
    );
    runtime.block_on(async {
        let mut admin = sqlx::PgConnection::connect(&cluster.url())
            .await
            .unwrap_or_else(|err| fail(&format!("connect: {err}")));
        let create = format!("CREATE DATABASE {database}");
        sqlx::query(sqlx::AssertSqlSafe(create.as_str()))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|err| fail(&format!("{create}: {err}")));
        let writer = Store::connect(&url)
            .await
            .unwrap_or_else(|err| fail(&format!("open {url}: {err}")));
        let server = AdminServer::start(
            &url,
            "127.0.0.1:0",
            &[
                ("CHAOS_ADMIN_TOKEN", ADMIN_TOKEN),
                ("CHAOS_RELAY_TOKEN", RELAY_TOKEN),
            ],
        );
        println!(
            "private PostgreSQL cluster on 127.0.0.1:{}; chaos-admin serve (pid {}) on 127.0.0.1:{}\n",
            cluster.port(),
            server.pid(),
            server.port
        );
        scenario(&mut admin, &writer, &server, database, &options).await;
        writer.close().await;
    });
    drop(runtime);
    print_server_errors(&cluster, "PostgreSQL log");
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn scenario(
    admin: &mut sqlx::PgConnection,
    writer: &Store,
    server: &AdminServer,
    database: &str,
    options: &Options,
) {
    let n = options.instances;
    let relay_url = format!("http://:{RELAY_TOKEN}@127.0.0.1:{}", server.port);
    let alone = process_usage(server.pid());
    let own_before = process_usage(std::process::id());

    let started = Instant::now();
    let layers: Vec<ChaosLayer> = (0..n)
        .map(|_| {
            let mut views = ChaosViews::new();
            let _: axum::Router = axum::Router::new()
                .route(
                    views.name("items", "/items"),
                    axum::routing::get(|| async { "" }),
                )
                .route(
                    views.name("checkout", "/checkout"),
                    axum::routing::post(|| async { "" }),
                );
            ChaosLayer::builder()
                .enabled(true)
                .database_url(&relay_url)
                .views(views)
                .build()
                .unwrap_or_else(|err| fail(&format!("layer: {err}")))
        })
        .collect();
    let handles: Vec<ChaosHandle> = layers.iter().map(ChaosLayer::handle).collect();
    let generation = writer.generation().await.unwrap_or(0);
    let loaded = wait_all(&handles, generation).await;
    // Every instance registered through the relay.
    let deadline = Instant::now() + e2e::bench::MAX_WAIT;
    let registered = loop {
        let count = writer.instances().await.map(|rows| rows.len()).unwrap_or(0);
        if count >= n || Instant::now() > deadline {
            break count;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("N = {n} subscribers through one relay");
    println!(
        "  start: all loaded in {:.0} ms, {registered} registered after {:.1} s",
        millis(loaded),
        started.elapsed().as_secs_f64()
    );

    // Idle: long polls renew every 25 s, heartbeats every 10 s.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let before = process_usage(server.pid());
    let counters_before = database_counters(admin, database).await;
    tokio::time::sleep(options.idle).await;
    let after = process_usage(server.pid());
    let counters_after = database_counters(admin, database).await;
    let seconds = options.idle.as_secs_f64();
    let held = connections(admin, database, None).await;
    let descriptors = std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .map(Iterator::count)
        .unwrap_or(0);
    println!(
        "  server memory: {:.1} MiB alone, {:.1} MiB with {n} subscribers ({:.1} KiB each); {descriptors} open file descriptors (sockets)",
        mib(alone.rss_kib),
        mib(after.rss_kib),
        (after.rss_kib.saturating_sub(alone.rss_kib)) as f64 / n as f64
    );
    println!(
        "  server idle over {seconds:.0} s: {:.1} % of one core; PostgreSQL {:.1} transactions/s; {held} connections to PostgreSQL in all (the server's and this benchmark's writer)",
        100.0 * (after.cpu - before.cpu).as_secs_f64() / seconds,
        (counters_after.commits - counters_before.commits).max(0) as f64 / seconds,
    );

    // Propagation of one change to all N.
    let cpu_before = process_usage(server.pid()).cpu;
    // The heartbeats every instance sends after a reload settle before the next one.
    let mut applied =
        propagation_trials(writer, &handles, options.trials, Duration::from_millis(500)).await;
    let usage: ProcessUsage = process_usage(server.pid());
    println!(
        "  one change, write returned -> all {n} applied: {}",
        latency_summary(&mut applied)
    );
    println!(
        "  server CPU per change (the change feed to {n} and their {n} heartbeats): {:.0} ms; peak memory {:.1} MiB",
        millis((usage.cpu - cpu_before) / options.trials as u32),
        mib(usage.peak_kib)
    );
    let own = process_usage(std::process::id());
    println!(
        "  subscribers (this process): {:.1} KiB of memory each",
        (own.rss_kib.saturating_sub(own_before.rss_kib)) as f64 / n as f64
    );
    for handle in &handles {
        handle.shutdown().await;
    }
    let left = writer.instances().await.map(|rows| rows.len()).unwrap_or(0);
    println!("  after a graceful shutdown of every subscriber: {left} still registered");
}
