//! Scale benchmark (not a test): N chaos layers on one PostgreSQL store.
//!
//! ```text
//! cargo build --release -p e2e --bin scale-bench
//! target/release/scale-bench [--instances 1,10,50,100] [--trials 50] [--idle-seconds 20]
//!                            [--max-connections 100]
//! ```
//!
//! It starts a private PostgreSQL cluster (`initdb` + `pg_ctl` from
//! `/usr/lib/postgresql/*/bin`, default settings except `max_connections`), then for each
//! N builds N layers in this process, each opening its own store from the URL (its own
//! pool and listener, as N app processes would), and records:
//!
//! - connections held once settled, and how many of them are listeners;
//! - idle transactions per second and heartbeat writes per second (from
//!   `pg_stat_database.xact_commit` and `pg_stat_user_tables.n_tup_upd` over the idle
//!   window);
//! - time from a write returning (`Store::create`, what `chaos-admin create` runs) until
//!   **all N** layers apply it: p50/p90/p99/max over the trials;
//! - one write of 10,000 actions: time until all N apply it and the rows PostgreSQL
//!   returned meanwhile (`tup_returned + tup_fetched`); then one change among those
//!   10,000 (time until all N apply it, rows read by each layer);
//! - errors and fatal messages in the server log.
//!
//! Then, unless `--max-connections` says otherwise, the same for N beyond what fits: how
//! many instances a default server (`max_connections = 100`) holds.

use std::time::{Duration, Instant};

use chaos_middleware::{ActionSpec, ChaosHandle, ChaosLayer, Fault, Kind, Selection, Store};
use e2e::bench::{
    connections, database_counters, fail, positive, print_server_errors, propagation_trials,
    wait_all,
};
use e2e::pg_cluster::PgCluster;
use e2e::{latency_summary, millis};
use sqlx::Connection;

use e2e::bench::MAX_WAIT;
/// How late PostgreSQL may report an idle backend's statistics (PGSTAT_IDLE_INTERVAL is
/// 10 s), plus a margin.
const STATS_FLUSH_DELAY: Duration = Duration::from_secs(11);

struct Options {
    instances: Vec<usize>,
    trials: usize,
    idle: Duration,
    max_connections: u32,
}

fn main() {
    let options = parse_args();
    let Some(cluster) =
        PgCluster::start_with(&[("max_connections", &options.max_connections.to_string())])
    else {
        fail("no PostgreSQL server binaries (initdb) found");
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|err| fail(&format!("tokio runtime: {err}")));
    println!(
        "private PostgreSQL cluster on 127.0.0.1:{}, max_connections = {}\n",
        cluster.port(),
        options.max_connections
    );
    for (index, &n) in options.instances.iter().enumerate() {
        let url = format!(
            "postgres://postgres@127.0.0.1:{}/scale_{index}_{n}",
            cluster.port()
        );
        runtime.block_on(scenario(&cluster, &url, n, &options));
    }
    print_server_errors(&cluster, "server log");
}

fn parse_args() -> Options {
    let mut options = Options {
        instances: vec![1, 10, 50, 100],
        trials: 50,
        idle: Duration::from_secs(20),
        max_connections: 100,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| fail(&format!("{arg} needs a value")));
        match arg.as_str() {
            "--instances" => {
                options.instances = value
                    .split(',')
                    .map(|n| match n.trim().parse::<usize>() {
                        Ok(n) if (1..=1000).contains(&n) => n,
                        _ => fail(&format!(
                            "--instances: '{n}' is not a number from 1 to 1000"
                        )),
                    })
                    .collect();
            }
            "--trials" => options.trials = positive(&arg, &value),
            "--idle-seconds" => options.idle = Duration::from_secs(positive(&arg, &value) as u64),
            "--max-connections" => {
                options.max_connections = u32::try_from(positive(&arg, &value))
                    .unwrap_or_else(|_| fail("--max-connections is too large"));
            }
            other => fail(&format!(
                "unknown argument '{other}': allowed are --instances, --trials, --idle-seconds, --max-connections"
            )),
        }
    }
    options
}

async fn scenario(cluster: &PgCluster, url: &str, n: usize, options: &Options) {
    let admin_url = cluster.url();
    let database = url.rsplit('/').next().unwrap_or_default().to_owned();
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|err| fail(&format!("connect: {err}")));
    let create = format!("CREATE DATABASE {database}");
    sqlx::query(sqlx::AssertSqlSafe(create.as_str()))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|err| fail(&format!("{create}: {err}")));
    // The writer: what the CLI does, with a pool of its own.
    let writer = Store::connect(url)
        .await
        .unwrap_or_else(|err| fail(&format!("open {url}: {err}")));
    let started = Instant::now();
    let layers: Vec<ChaosLayer> = (0..n)
        .map(|_| {
            ChaosLayer::builder()
                .enabled(true)
                .database_url(url)
                .build()
                .unwrap_or_else(|err| fail(&format!("layer: {err}")))
        })
        .collect();
    let handles: Vec<ChaosHandle> = layers.iter().map(ChaosLayer::handle).collect();
    let generation = writer.generation().await.unwrap_or(0);
    let loaded = wait_all(&handles, generation).await;
    let listeners = settle(&mut admin, &database, n).await;
    let held = connections(&mut admin, &database, None).await;
    println!("N = {n}");
    println!(
        "  start: all loaded in {:.0} ms; settled after {:.1} s",
        millis(loaded),
        started.elapsed().as_secs_f64()
    );
    println!(
        "  connections held while idle: {held} ({listeners} listeners, {} per instance; the writer's pool is idle-closed)",
        format_ratio(held, n)
    );

    // Idle footprint. PostgreSQL reports an idle backend's statistics up to 10 s late:
    // let the start-up's transactions arrive before the window opens.
    tokio::time::sleep(STATS_FLUSH_DELAY).await;
    let before = database_counters(&mut admin, &database).await;
    let updates_before = heartbeat_updates(url).await;
    tokio::time::sleep(options.idle).await;
    let after = database_counters(&mut admin, &database).await;
    let updates_after = heartbeat_updates(url).await;
    let seconds = options.idle.as_secs_f64();
    // The benchmark's own read of the heartbeat count is one of them.
    let transactions = (after.commits - before.commits - 1).max(0) as f64 / seconds;
    println!(
        "  idle over {seconds:.0} s: {transactions:.2} transactions/s ({:.3} per instance), {:.2} heartbeat writes/s",
        transactions / n as f64,
        (updates_after - updates_before) as f64 / seconds
    );

    // Propagation of one change to all N.
    let mut applied = propagation_trials(&writer, &handles, options.trials, Duration::ZERO).await;
    println!(
        "  one change, write returned -> all {n} applied: {}",
        latency_summary(&mut applied)
    );

    // 10,000 actions in one write, then one change among them.
    let before = database_counters(&mut admin, &database).await;
    let specs: Vec<ActionSpec> = (0..10_000)
        .map(|i| {
            ActionSpec::new(
                Kind::Response,
                format!("bulk_{i}"),
                Fault::Slow {
                    min_ms: 1,
                    max_ms: 2,
                    phase: chaos_middleware::Phase::Before,
                },
            )
        })
        .collect();
    let writing = Instant::now();
    let ids = writer
        .create_many(&specs)
        .await
        .unwrap_or_else(|err| fail(&format!("create 10,000: {err}")));
    let wrote = writing.elapsed();
    let generation = writer.generation().await.unwrap_or(0);
    wait_all(&handles, generation).await;
    let took = writing.elapsed() - wrote;
    let after = database_counters(&mut admin, &database).await;
    println!(
        "  10,000 actions in one write ({:.0} ms): all {n} applied {:.0} ms after it returned; PostgreSQL read {} rows meanwhile ({:.0} per instance; tup_returned + tup_fetched, catalog reads included)",
        millis(wrote),
        millis(took),
        after.rows - before.rows,
        (after.rows - before.rows) as f64 / n as f64
    );
    let middle = ids[ids.len() / 2];
    let before = database_counters(&mut admin, &database).await;
    if let Err(err) = writer
        .set_enabled(&Selection::Ids(vec![middle]), false)
        .await
    {
        fail(&format!("disable: {err}"));
    }
    let written = Instant::now();
    let generation = writer.generation().await.unwrap_or(0);
    wait_all(&handles, generation).await;
    let took = written.elapsed();
    let after = database_counters(&mut admin, &database).await;
    let rows_read: u64 = handles
        .iter()
        .map(|h| h.stats().last_reload_rows)
        .max()
        .unwrap_or(0);
    println!(
        "  one change among 10,000: all {n} applied {:.1} ms after the write returned; each read at most {rows_read} row(s); PostgreSQL read {} rows in all",
        millis(took),
        after.rows - before.rows
    );
    let log = cluster.server_log();
    let errors = log
        .lines()
        .filter(|line| line.contains("ERROR:") || line.contains("FATAL:"))
        .count();
    println!("  server log so far: {errors} ERROR/FATAL lines");
    println!();

    // Graceful shutdown: each layer stops its tasks and deregisters.
    for handle in &handles {
        handle.shutdown().await;
    }
    drop(handles);
    drop(layers);
    writer.close().await;
    // The layers' tasks end when dropped; wait for their connections to go.
    let deadline = Instant::now() + MAX_WAIT;
    while connections(&mut admin, &database, None).await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drop_sql = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
    let _ = sqlx::query(sqlx::AssertSqlSafe(drop_sql.as_str()))
        .execute(&mut admin)
        .await;
    let _ = admin.close().await;
}

/// Waits until every layer's listener is connected and the registration connections
/// have closed (or `MAX_WAIT`); returns the listeners counted.
async fn settle(admin: &mut sqlx::PgConnection, database: &str, n: usize) -> i64 {
    let started = Instant::now();
    loop {
        let listeners = connections(admin, database, Some("chaos-listener")).await;
        let all = connections(admin, database, None).await;
        let want = i64::try_from(n).unwrap_or(i64::MAX);
        if (listeners >= want && all <= want) || started.elapsed() > MAX_WAIT {
            return listeners;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Rows updated in `chaos_instances` so far (heartbeats).
async fn heartbeat_updates(url: &str) -> i64 {
    let Ok(mut conn) = sqlx::PgConnection::connect(url).await else {
        return 0;
    };
    let updates = sqlx::query_scalar(
        "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'chaos_instances'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap_or(0);
    let _ = conn.close().await;
    updates
}

fn format_ratio(held: i64, n: usize) -> String {
    format!("{:.2}", held as f64 / n as f64)
}
