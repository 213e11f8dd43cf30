//! Helpers shared by the benchmark binaries (`scale-bench`, `relay-bench`): argument
//! checks, waiting for layers to apply a generation, PostgreSQL activity counters, and a
//! process's CPU time and memory from `/proc`.

use std::time::{Duration, Instant};

use chaos_middleware::{ActionSpec, ChaosHandle, Fault, Kind, Store};

/// Longest wait for layers to apply a change before a benchmark gives up.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// `value` as a number above zero, or exit 2 naming the argument `name`.
pub fn positive(name: &str, value: &str) -> usize {
    value
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .unwrap_or_else(|| fail(&format!("{name} needs a positive number, not '{value}'")))
}

/// Prints `error: MESSAGE` and exits with 2.
pub fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2);
}

/// Waits until every layer applies `generation` (or later); the time it took.
pub async fn wait_all(handles: &[ChaosHandle], generation: i64) -> Duration {
    let started = Instant::now();
    loop {
        if handles
            .iter()
            .all(|h| h.stats().generation.is_some_and(|g| g >= generation))
        {
            return started.elapsed();
        }
        if started.elapsed() > MAX_WAIT {
            let behind = handles
                .iter()
                .filter(|h| h.stats().generation.is_none_or(|g| g < generation))
                .count();
            fail(&format!(
                "{behind} of {} layers did not apply generation {generation} within {MAX_WAIT:?}",
                handles.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Connections to `database` (other than the benchmark's own), optionally only those
/// with this `application_name`.
pub async fn connections(
    admin: &mut sqlx::PgConnection,
    database: &str,
    application: Option<&str>,
) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() \
         AND ($2::text IS NULL OR application_name = $2)",
    )
    .bind(database)
    .bind(application)
    .fetch_one(admin)
    .await
    .unwrap_or(-1)
}

/// Activity counters of one database (`pg_stat_database`).
#[derive(Debug, Clone, Copy)]
pub struct DatabaseCounters {
    /// Committed transactions.
    pub commits: i64,
    /// Rows returned and fetched.
    pub rows: i64,
}

/// The activity counters of `database`, as of now.
pub async fn database_counters(admin: &mut sqlx::PgConnection, database: &str) -> DatabaseCounters {
    // Statistics are cached per transaction and flushed by backends about once a second.
    let _ = sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut *admin)
        .await;
    let row: (i64, i64) = sqlx::query_as(
        "SELECT xact_commit, tup_returned + tup_fetched FROM pg_stat_database WHERE datname = $1",
    )
    .bind(database)
    .fetch_one(admin)
    .await
    .unwrap_or((0, 0));
    DatabaseCounters {
        commits: row.0,
        rows: row.1,
    }
}

/// CPU time (user + system) and memory of a process, from `/proc/PID`.
#[derive(Debug, Clone, Copy)]
pub struct ProcessUsage {
    /// User + system CPU time so far.
    pub cpu: Duration,
    /// Resident memory now (KiB).
    pub rss_kib: u64,
    /// Peak resident memory (KiB).
    pub peak_kib: u64,
}

/// What `/proc/PID/stat` and `/proc/PID/status` say about `pid` (zeros when unreadable).
pub fn process_usage(pid: u32) -> ProcessUsage {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name in parentheses: state is the 1st, utime the 12th and
    // stime the 13th (proc(5) fields 14 and 15), in clock ticks.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let per_second = clock_ticks_per_second();
    let cpu = Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / per_second as f64);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    ProcessUsage {
        cpu,
        rss_kib: kib("VmRSS:"),
        peak_kib: kib("VmHWM:"),
    }
}

/// `getconf CLK_TCK` (100 on Linux unless told otherwise).
fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(100)
}

/// `trials` times: one new action (`return 503` on `view_<trial>`) written by `writer`,
/// and the time from the write returning until every layer of `handles` applies it;
/// `pause` between trials.
pub async fn propagation_trials(
    writer: &Store,
    handles: &[ChaosHandle],
    trials: usize,
    pause: Duration,
) -> Vec<Duration> {
    let mut applied = Vec::with_capacity(trials);
    for trial in 0..trials {
        let spec = ActionSpec::new(
            Kind::Response,
            format!("view_{trial}"),
            Fault::Return {
                status: 503,
                body: None,
            },
        );
        if let Err(err) = writer.create(&spec).await {
            fail(&format!("create: {err}"));
        }
        let written = Instant::now();
        let generation = writer.generation().await.unwrap_or(0);
        wait_all(handles, generation).await;
        applied.push(written.elapsed());
        tokio::time::sleep(pause).await;
    }
    applied
}

/// Prints how many ERROR and FATAL lines the cluster's server log holds, and the first 10.
pub fn print_server_errors(cluster: &crate::pg_cluster::PgCluster, label: &str) {
    let log = cluster.server_log();
    let errors: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("ERROR:") || line.contains("FATAL:"))
        .collect();
    println!("{label}: {} ERROR/FATAL lines", errors.len());
    for line in errors.iter().take(10) {
        println!("  {line}");
    }
}
