//! Propagation benchmark (not a test): how long from `chaos-admin create` returning to the
//! first request that shows the fault, on every app instance, over many trials; plus the
//! cost of one change check and of one reload of 10,000 stored actions.
//!
//! ```text
//! cargo build --release -p demo-app -p chaos-admin-cli -p e2e
//! CHAOS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     target/release/propagation-bench [--trials 100]
//! ```
//!
//! Scenarios: SQLite (one instance), PostgreSQL (one instance), PostgreSQL (two
//! instances: the time until both show the fault). PostgreSQL scenarios are skipped when
//! `CHAOS_TEST_POSTGRES_URL` is not set.

use std::time::{Duration, Instant};

use chaos_middleware::testing::TempPostgres;
use chaos_middleware::{ChaosLayer, Store};
use e2e::{DemoApp, admin, http_request, latency_summary};

const MAX_WAIT: Duration = Duration::from_secs(10);

fn main() {
    let mut trials: usize = 100;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--trials" => {
                trials = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .unwrap_or_else(|| fail("--trials needs a positive number"));
            }
            other => fail(&format!(
                "unknown argument '{other}': usage is propagation-bench [--trials N]"
            )),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|err| fail(&format!("tokio runtime: {err}")));

    println!("propagation: CLI exit -> first response showing the fault, {trials} trials\n");
    let dir = tempfile::tempdir().unwrap_or_else(|err| fail(&format!("temp dir: {err}")));
    let sqlite_url = chaos_middleware::testing::temp_sqlite_url(dir.path());
    propagation("SQLite, 1 instance", &sqlite_url, 1, trials);

    let postgres = runtime.block_on(TempPostgres::from_env());
    if let Some(db) = &postgres {
        propagation("PostgreSQL, 1 instance", db.url(), 1, trials);
        propagation("PostgreSQL, 2 instances", db.url(), 2, trials);
    }

    println!("\nreload: 10,000 stored actions, store.list() + compile + swap (median of 20)\n");
    let reload_dir = tempfile::tempdir().unwrap_or_else(|err| fail(&format!("temp dir: {err}")));
    let reload_url = chaos_middleware::testing::temp_sqlite_url(reload_dir.path());
    runtime.block_on(reload_cost("SQLite", &reload_url));
    if let Some(db) = &postgres {
        // A fresh database: the propagation runs above left instance rows behind.
        let fresh = runtime.block_on(async {
            let admin_url = std::env::var(chaos_middleware::testing::POSTGRES_URL_VAR).ok()?;
            TempPostgres::create(&admin_url).await.ok()
        });
        if let Some(fresh) = fresh {
            runtime.block_on(reload_cost("PostgreSQL", fresh.url()));
            runtime.block_on(fresh.drop_db());
        }
        let _ = db;
    }
    if let Some(db) = postgres {
        runtime.block_on(db.drop_db());
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2);
}

fn propagation(label: &str, url: &str, instances: usize, trials: usize) {
    let apps: Vec<DemoApp> = (0..instances)
        .map(|_| DemoApp::start_with_env(url, &[("RUST_LOG", "warn")]))
        .collect();
    // Warm-up: the apps have loaded the (empty) store.
    wait_all(&apps, 200);
    let mut applied = Vec::with_capacity(trials);
    let mut removed = Vec::with_capacity(trials);
    let mut from_start = Vec::with_capacity(trials);
    let mut cli = Vec::with_capacity(trials);
    for _ in 0..trials {
        // A random pause, so writes do not fall at the same phase of the poll interval.
        std::thread::sleep(Duration::from_millis(rand_below(100)));
        let started = Instant::now();
        run_admin(url, &["create", "return", "items", "503"]);
        let cli_took = started.elapsed();
        cli.push(cli_took);
        let seen = wait_all(&apps, 503);
        applied.push(seen);
        from_start.push(cli_took + seen);
        std::thread::sleep(Duration::from_millis(rand_below(100)));
        run_admin(url, &["delete", "--all", "--yes"]);
        removed.push(wait_all(&apps, 200));
    }
    println!("{label}:");
    println!(
        "  create applied (from CLI exit)  {}",
        latency_summary(&mut applied)
    );
    println!(
        "  delete applied (from CLI exit)  {}",
        latency_summary(&mut removed)
    );
    println!(
        "  create applied (from CLI start) {}",
        latency_summary(&mut from_start)
    );
    println!(
        "  CLI run itself                  {}",
        latency_summary(&mut cli)
    );
}

/// A pseudo-random number below `n` (good enough to spread pauses).
fn rand_below(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    u64::from(nanos.wrapping_mul(2_654_435_761) >> 7) % n
}

fn run_admin(url: &str, args: &[&str]) {
    let output = admin(url, args);
    if !output.status.success() {
        fail(&format!(
            "chaos-admin {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
}

/// Time from now until every app answers `GET /items` with `status`.
fn wait_all(apps: &[DemoApp], status: u16) -> Duration {
    let started = Instant::now();
    let mut pending: Vec<&DemoApp> = apps.iter().collect();
    while !pending.is_empty() {
        pending.retain(|app| {
            !http_request(app.port, "GET", "/items", &[]).is_ok_and(|r| r.status == status)
        });
        if started.elapsed() > MAX_WAIT {
            fail(&format!(
                "no instance showed status {status} within {MAX_WAIT:?}"
            ));
        }
    }
    started.elapsed()
}

async fn reload_cost(label: &str, url: &str) {
    let store = match Store::connect(url).await {
        Ok(store) => store,
        Err(err) => fail(&format!("{label}: {err}")),
    };
    let inserted = store
        .raw_execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) \
             INSERT INTO chaos_actions (kind, verb, target, min_ms, max_ms, created_at, updated_at) \
             SELECT 'response', 'slow', 'view_' || i, 1, 2, 0, 0 FROM n",
        )
        .await
        .unwrap_or_else(|err| fail(&format!("{label}: insert: {err}")));
    // A layer that is not watching any store: we apply by hand to time the steps.
    let layer = ChaosLayer::builder()
        .enabled(true)
        .build()
        .unwrap_or_else(|err| fail(&format!("layer: {err}")));
    let handle = layer.handle();
    let mut list = Vec::new();
    let mut compile = Vec::new();
    let mut total = Vec::new();
    for round in 0..21 {
        let started = Instant::now();
        let listing = store
            .list()
            .await
            .unwrap_or_else(|err| fail(&format!("{label}: list: {err}")));
        let listed = started.elapsed();
        handle.apply(Some(round), &listing.actions);
        let done = started.elapsed();
        if round > 0 {
            list.push(listed);
            compile.push(done - listed);
            total.push(done);
        }
        assert_eq!(handle.stats().rules, 10_000);
    }
    // The change check every instance runs at the poll interval.
    let mut check = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let _ = store.check_file();
        let _ = store.generation().await;
        check.push(started.elapsed());
    }
    println!("{label} ({inserted} actions):");
    println!("  list    {}", latency_summary(&mut list));
    println!("  compile {}", latency_summary(&mut compile));
    println!("  total   {}", latency_summary(&mut total));
    println!(
        "  change check (file stat + generation query): {}",
        latency_summary(&mut check)
    );
    store.close().await;
}
