//! The layer's background tasks against a real store, on SQLite and PostgreSQL: reloads
//! on change, change notifications (and their reconnection), instance and view
//! registration, corrupt rows, a lost SQLite file, 10,000 stored actions.
//!
//! Conditions are polled with deadlines; nothing sleeps to synchronise.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use chaos_middleware::store::InstanceInfo;
use chaos_middleware::{ActionSpec, ChaosHandle, ChaosLayer, ChaosViews, Fault, Kind, Store};

const DEADLINE: Duration = Duration::from_secs(15);

chaos_middleware::per_backend!(
    reloads_and_registers_the_instance,
    corrupt_row_does_not_stop_the_others,
    every_kind_of_hand_edit_skips_only_its_row,
    ten_thousand_actions_reload,
    instance_rows_round_trip,
);

async fn open(url: &str) -> Store {
    Store::connect(url)
        .await
        .unwrap_or_else(|err| panic!("open the store at {url}: {err}"))
}

fn ret(target: &str, status: u16) -> ActionSpec {
    ActionSpec::new(Kind::Response, target, Fault::Return { status, body: None })
}

fn views() -> ChaosViews {
    let mut views = ChaosViews::new();
    let _: Router = Router::new()
        .route(views.name("items", "/items"), get(|| async { "items" }))
        .route(
            views.name_with_methods("checkout", "/checkout", &["get"]),
            get(|| async { "paid" }),
        );
    views
}

/// A layer that opens its own store at `url`, with a heartbeat every 100 ms.
fn layer_on_url(url: &str) -> ChaosLayer {
    ChaosLayer::builder()
        .enabled(true)
        .database_url(url)
        .views(views())
        .heartbeat_interval(Duration::from_millis(100))
        .build()
        .expect("the layer builds")
}

/// A layer watching `store` (kept alive by the returned value).
fn layer(store: &Store, poll: Option<Duration>) -> ChaosLayer {
    let mut builder = ChaosLayer::builder()
        .enabled(true)
        .store(store.clone())
        .views(views());
    if let Some(poll) = poll {
        builder = builder.poll_interval(poll);
    }
    builder.build().expect("the layer builds")
}

/// Polls `probe` every 5 ms until it is true; panics after `deadline`. Returns the time
/// it took.
async fn wait_for(
    what: &str,
    deadline: Duration,
    mut probe: impl AsyncFnMut() -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        if probe().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn wait_applied(handle: &ChaosHandle, store: &Store, deadline: Duration) -> Duration {
    let generation = store.generation().await.expect("generation");
    wait_for(
        &format!("generation {generation} to be applied"),
        deadline,
        async || handle.stats().generation == Some(generation),
    )
    .await
}

async fn reloads_and_registers_the_instance(url: &str) {
    let store = open(url).await;
    let chaos = layer(&store, None);
    let handle = chaos.handle();
    wait_applied(&handle, &store, DEADLINE).await;
    assert_eq!(handle.stats().rules, 0);

    store.create(&ret("items", 503)).await.expect("create");
    let took = wait_applied(&handle, &store, DEADLINE).await;
    println!("{}: applied {took:?} after the write", store.backend_name());
    assert_eq!(handle.stats().rules, 1);

    // The instance registered itself and reports the generation it applies.
    let generation = store.generation().await.expect("generation");
    wait_for(
        "the instance to report its generation",
        DEADLINE,
        async || {
            let instances = store.instances().await.expect("instances");
            instances.len() == 1 && instances[0].applied_generation == Some(generation)
        },
    )
    .await;
    let instances = store.instances().await.expect("instances");
    let now = chaos_middleware::action::now_ms();
    assert!(instances[0].is_live_at(now));
    assert_eq!(instances[0].pid, i64::from(std::process::id()));
    let views = store.registered_views().await.expect("views");
    let names: Vec<(&str, &str)> = views
        .iter()
        .map(|v| (v.name.as_str(), v.pattern.as_str()))
        .collect();
    assert_eq!(names, [("checkout", "/checkout"), ("items", "/items")]);
    assert!(views.iter().all(|v| v.instance.id == instances[0].id));
    assert_eq!(
        views[0].methods,
        ["GET"],
        "methods recorded with name_with_methods"
    );
    assert!(views[1].methods.is_empty(), "methods not known");

    // Registration does not bump the generation (it would make every instance reload).
    assert_eq!(store.generation().await.expect("generation"), generation);

    // Dropping the layer stops the watcher, which deregisters the instance.
    drop(chaos);
    drop(handle);
    wait_for("the instance to deregister", DEADLINE, async || {
        store.instances().await.expect("instances").is_empty()
    })
    .await;
}

async fn corrupt_row_does_not_stop_the_others(url: &str) {
    let store = open(url).await;
    let chaos = layer(&store, None);
    let handle = chaos.handle();
    let first = store.create(&ret("items", 503)).await.expect("create");
    assert_eq!(first, 1);
    wait_applied(&handle, &store, DEADLINE).await;
    assert_eq!(handle.stats().rules, 1);
    // Someone edits row 1 by hand into nonsense; then a valid action is added.
    store
        .raw_execute("UPDATE chaos_actions SET verb = 'explode' WHERE id = 1")
        .await
        .expect("corrupt the row");
    store
        .create(&ret("checkout", 401))
        .await
        .expect("create the second action");
    wait_applied(&handle, &store, DEADLINE).await;
    assert_eq!(
        handle.stats().rules,
        1,
        "the corrupt row is skipped, the valid one applied"
    );
}

/// Hand edits SQLite or PostgreSQL accept into row 2 that no action can be: the row is
/// skipped and listed as broken; row 1 keeps applying, and writes to row 1 still reach the
/// layer (before the fix, a BLOB froze every reload and an infinite probability emptied
/// the snapshot).
async fn every_kind_of_hand_edit_skips_only_its_row(url: &str) {
    let sqlite = url.starts_with("sqlite");
    let mut edits: Vec<(&str, &str)> = vec![
        ("methods = '[\"POST \"]'", "invalid method 'POST '"),
        (
            "methods = '[\"GET\", \"PUT,PATCH\"]'",
            "invalid method 'PUT,PATCH'",
        ),
        ("users = '[\"\"]'", "empty user"),
        ("hosts = '[\"\"]'", "empty host"),
        ("groups = 'null'", "groups is 'null'"),
        ("status = 100", "status 100"),
        ("status = 101", "status 101"),
        (
            "expires_at = 9000000000000000000",
            "expiry 9000000000000000000",
        ),
        ("expires_at = -5", "expiry -5"),
        ("target = ''", "target is empty"),
    ];
    if sqlite {
        edits.extend([
            ("probability = 1e999", "probability inf"),
            ("probability = -1e999", "probability -inf"),
            ("note = X'00FF'", "note holds a BLOB"),
            ("target = X'6974'", "target holds a BLOB"),
            (
                "target = CAST(X'69FF74' AS TEXT)",
                "target holds a TEXT value that cannot be read",
            ),
            ("body = CAST(X'FF' AS TEXT)", "body"),
            ("users = X'5B5D'", "users holds a BLOB"),
            ("probability = 'often'", "probability"),
            ("status = 503.5", "status"),
            ("enabled = 'yes'", "enabled"),
            ("created_at = NULL", "created_at"),
            ("tag = X'00'", "tag holds a BLOB"),
        ]);
    } else if url.starts_with("mysql") {
        // MySQL stores no infinity or NaN, and refuses NULL in a NOT NULL column.
        edits.extend([("created_at = NULL", "created_at")]);
    } else {
        edits.extend([
            ("probability = 'Infinity'::float8", "probability"),
            ("probability = 'NaN'::float8", "probability"),
            ("created_at = NULL", "created_at"),
        ]);
    }
    for (edit, needle) in edits {
        let store = open(url).await;
        store
            .raw_execute("DELETE FROM chaos_actions")
            .await
            .expect("clear");
        let chaos = layer(&store, None);
        let handle = chaos.handle();
        let one = store.create(&ret("items", 503)).await.expect("create 1");
        let two = store.create(&ret("checkout", 503)).await.expect("create 2");
        let sql = format!("UPDATE chaos_actions SET {edit} WHERE id = {two}");
        match store.raw_execute(&sql).await {
            Ok(1) => {}
            // A NOT NULL column refuses NULL: nothing to test for this edit here.
            Err(_) if edit.contains("NULL") => continue,
            other => panic!("{sql}: {other:?}"),
        }
        // As after any hand edit, the generation is bumped for the apps to notice.
        store
            .raw_execute("UPDATE chaos_meta SET generation = generation + 1 WHERE id = 1")
            .await
            .expect("bump the generation");
        wait_applied(&handle, &store, DEADLINE).await;
        assert_eq!(handle.stats().rules, 1, "{edit}: row {one} alone applies");
        let listing = store
            .list()
            .await
            .unwrap_or_else(|e| panic!("{edit}: list: {e}"));
        assert_eq!(
            listing.actions.iter().map(|a| a.id).collect::<Vec<_>>(),
            [one],
            "{edit}"
        );
        assert_eq!(listing.corrupt.len(), 1, "{edit}: {:?}", listing.corrupt);
        assert_eq!(listing.corrupt[0].id, Some(two), "{edit}");
        assert!(
            listing.corrupt[0].reason.contains(needle),
            "{edit}: '{}' names '{needle}'",
            listing.corrupt[0].reason
        );
        // Disabling and deleting row 1 reach the layer.
        store
            .set_enabled(&chaos_middleware::Selection::Ids(vec![one]), false)
            .await
            .expect("disable 1");
        wait_applied(&handle, &store, DEADLINE).await;
        assert_eq!(handle.stats().rules, 0, "{edit}: disable 1 applied");
        store
            .delete(&chaos_middleware::Selection::Ids(vec![one, two]))
            .await
            .expect("delete 1 and the broken row");
        let listing = store.list().await.expect("list");
        assert!(
            listing.actions.is_empty() && listing.corrupt.is_empty(),
            "{edit}"
        );
        drop(chaos);
        store.close().await;
    }
}

async fn ten_thousand_actions_reload(url: &str) {
    let store = open(url).await;
    let chaos = layer(&store, None);
    let handle = chaos.handle();
    wait_applied(&handle, &store, DEADLINE).await;
    let insert = if url.starts_with("mysql") {
        // (MySQL limits recursive CTEs to 1,000 rows by default: digits instead.)
        "INSERT INTO chaos_actions (kind, verb, target, min_ms, max_ms, created_at, updated_at) \
         SELECT 'response', 'slow', CONCAT('view_', a.d * 1000 + b.d * 100 + c.d * 10 + e.d + 1), \
         1, 2, 0, 0 FROM (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
         UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 \
         UNION ALL SELECT 8 UNION ALL SELECT 9) a, \
         (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
         UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 \
         UNION ALL SELECT 8 UNION ALL SELECT 9) b, \
         (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
         UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 \
         UNION ALL SELECT 8 UNION ALL SELECT 9) c, \
         (SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
         UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 \
         UNION ALL SELECT 8 UNION ALL SELECT 9) e"
    } else {
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) \
         INSERT INTO chaos_actions (kind, verb, target, min_ms, max_ms, created_at, updated_at) \
         SELECT 'response', 'slow', 'view_' || i, 1, 2, 0, 0 FROM n"
    };
    store
        .raw_execute(insert)
        .await
        .expect("insert 10,000 actions");
    store
        .raw_execute("UPDATE chaos_meta SET generation = generation + 1 WHERE id = 1")
        .await
        .expect("bump the generation");
    let took = wait_applied(&handle, &store, DEADLINE).await;
    assert_eq!(handle.stats().rules, 10_000);
    // The cost of one reload, measured apart from the poll interval.
    let started = Instant::now();
    let listing = store.list().await.expect("list");
    let listed = started.elapsed();
    handle.apply(Some(0), &listing.actions);
    let total = started.elapsed();
    assert_eq!(handle.stats().rules, 10_000);
    println!(
        "{}: 10,000 actions applied {took:?} after the write; one reload = list {listed:?} + compile {:?} = {total:?}",
        store.backend_name(),
        total.saturating_sub(listed)
    );
    // One change among 10,000: the reloader reads that one row, not the table.
    let before = handle.stats();
    store
        .set_enabled(&chaos_middleware::Selection::Ids(vec![5_000]), false)
        .await
        .expect("disable one");
    wait_applied(&handle, &store, DEADLINE).await;
    let after = handle.stats();
    assert_eq!(after.rules, 9_999);
    assert_eq!(after.full_reloads, before.full_reloads, "no full re-read");
    assert_eq!(after.incremental_reloads, before.incremental_reloads + 1);
    assert_eq!(after.last_reload_rows, 1, "one row read");
    // A delete reads one tombstone.
    store
        .delete(&chaos_middleware::Selection::Ids(vec![7]))
        .await
        .expect("delete one");
    wait_applied(&handle, &store, DEADLINE).await;
    let after = handle.stats();
    assert_eq!(after.rules, 9_998);
    assert_eq!(after.last_reload_rows, 1, "one tombstone read");
    assert_eq!(after.full_reloads, before.full_reloads, "no full re-read");
}

async fn instance_rows_round_trip(url: &str) {
    let store = open(url).await;
    let info = InstanceInfo {
        id: "test-1".into(),
        host: "h".into(),
        pid: 42,
        started_at: 1,
        heartbeat_ms: 10_000,
        views: vec![chaos_middleware::store::ViewRoute {
            name: "items".into(),
            pattern: "/items".into(),
            methods: vec!["GET".into()],
        }],
    };
    assert!(
        !store
            .heartbeat("test-1", None, None, None)
            .await
            .expect("heartbeat")
    );
    store
        .register_instance(&info, None, None)
        .await
        .expect("register");
    // Registering twice replaces, not duplicates.
    store
        .register_instance(&info, Some(3), Some(5))
        .await
        .expect("register again");
    assert!(
        store
            .heartbeat(
                "test-1",
                Some(4),
                Some(6),
                Some(r#"{"7": [12, 3], "9": [1, 0]}"#)
            )
            .await
            .expect("heartbeat")
    );
    let instances = store.instances().await.expect("instances");
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0].applied_generation, Some(4));
    assert_eq!(instances[0].applied_at, Some(6));
    // The fault counts the heartbeat carried, read back over the live instances.
    let fired = chaos_middleware::store::fired_counts(&instances, instances[0].last_seen);
    assert_eq!(
        fired.get(&7).copied(),
        Some(chaos_middleware::store::Fired {
            total: 12,
            recent: 3
        })
    );
    assert_eq!(fired.get(&9).map(|f| f.total), Some(1));
    // A stale instance's counts no longer count.
    let stale = chaos_middleware::store::fired_counts(&instances, instances[0].last_seen + 36_000);
    assert!(stale.is_empty());
    assert!(instances[0].is_live_at(instances[0].last_seen + 35_000));
    assert!(!instances[0].is_live_at(instances[0].last_seen + 36_000));
    let views = store.registered_views().await.expect("views");
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].methods, ["GET"]);
    assert_eq!(store.generation().await.expect("generation"), 0);
    store
        .deregister_instance("test-1")
        .await
        .expect("deregister");
    assert!(store.instances().await.expect("instances").is_empty());
    assert!(store.registered_views().await.expect("views").is_empty());
}

/// PostgreSQL: with polling out of the picture (a one-minute interval), only the change
/// notification can make the layer reload; it still does when its listening connection
/// is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notification_reloads_and_listener_reconnects() {
    let Some(db) = chaos_middleware::testing::TempPostgres::from_env().await else {
        return;
    };
    let store = open(db.url()).await;
    let chaos = layer(&store, Some(Duration::from_secs(60)));
    let handle = chaos.handle();
    // The first load happens at once, whatever the interval.
    wait_applied(&handle, &store, DEADLINE).await;
    // Wait until the listener is connected (its LISTEN shows in pg_stat_activity).
    wait_for("the listener to connect", DEADLINE, async || {
        listeners(db.url()).await > 0
    })
    .await;
    store.create(&ret("items", 503)).await.expect("create");
    let took = wait_applied(&handle, &store, Duration::from_secs(5)).await;
    println!("notified reload {took:?} after the write");

    // Kill the listening connection: the listener must reconnect by itself.
    store
        .raw_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'chaos-listener'",
        )
        .await
        .expect("terminate the listener");
    wait_for("the listener to reconnect", DEADLINE, async || {
        listeners(db.url()).await > 0
    })
    .await;
    store.create(&ret("checkout", 401)).await.expect("create");
    wait_applied(&handle, &store, Duration::from_secs(10)).await;
    assert_eq!(handle.stats().rules, 2);
    drop(chaos);
    drop(handle);
    store.close().await;
    db.drop_db().await;
}

/// PostgreSQL: an instance holds one connection, the listener's, which also carries its
/// heartbeats and reads of changes (issue 14: at most one connection per idle instance).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_idle_instance_holds_one_connection() {
    use sqlx::Connection;
    let Some(db) = chaos_middleware::testing::TempPostgres::from_env().await else {
        return;
    };
    // The schema, then no pool of the test's own: the layer opens its own store and the
    // test reads through one plain connection.
    open(db.url()).await.close().await;
    let chaos = layer_on_url(db.url());
    let mut sampler = sqlx::PgConnection::connect(db.url())
        .await
        .expect("sampler connection");
    let others = "SELECT COUNT(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()";
    let last_seen = "SELECT COALESCE(MAX(last_seen), 0) FROM chaos_instances";
    // From start-up on: the first load and the registration run over the listener's
    // connection too, so no pool connection (`chaos-store`) opens. (The probe that checks
    // the schema, `chaos-schema-check`, is closed before the listener opens, but the
    // server may list it for a moment while its backend exits.)
    let pooled = "SELECT COUNT(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'chaos-store'";
    let started = Instant::now();
    loop {
        let pool: i64 = sqlx::query_scalar(pooled)
            .fetch_one(&mut sampler)
            .await
            .expect("count");
        assert_eq!(pool, 0, "a starting instance opened a pool connection");
        let count: i64 = sqlx::query_scalar(others)
            .fetch_one(&mut sampler)
            .await
            .expect("count");
        let seen: i64 = sqlx::query_scalar(last_seen)
            .fetch_one(&mut sampler)
            .await
            .expect("last seen");
        if count == 1 && seen > 0 {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the instance is not registered with one connection after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Ten heartbeats later it still holds one.
    let mut beats = 0;
    let mut previous: i64 = sqlx::query_scalar(last_seen)
        .fetch_one(&mut sampler)
        .await
        .expect("last seen");
    let started = Instant::now();
    while beats < 10 {
        let count: i64 = sqlx::query_scalar(others)
            .fetch_one(&mut sampler)
            .await
            .expect("count");
        assert_eq!(count, 1, "an idle instance holds one connection");
        let seen: i64 = sqlx::query_scalar(last_seen)
            .fetch_one(&mut sampler)
            .await
            .expect("last seen");
        if seen > previous {
            beats += 1;
            previous = seen;
            if beats == 5 {
                // A change arrives: read over the same connection too.
                for sql in [
                    "INSERT INTO chaos_actions (kind, verb, target, status, created_at, updated_at) \
                     VALUES ('response', 'return', 'items', 503, 0, 0)",
                    "UPDATE chaos_meta SET generation = generation + 1 WHERE id = 1",
                ] {
                    sqlx::query(sql)
                        .execute(&mut sampler)
                        .await
                        .expect("write by hand");
                }
            }
        }
        assert!(started.elapsed() < DEADLINE, "heartbeats stopped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_for("the change to apply", DEADLINE, async || {
        chaos.handle().stats().rules == 1
    })
    .await;
    let count: i64 = sqlx::query_scalar(others)
        .fetch_one(&mut sampler)
        .await
        .expect("count");
    assert_eq!(count, 1, "still one connection after the change");
    let _ = sampler.close().await;
    drop(chaos);
    db.drop_db().await;
}

/// MySQL/MariaDB: an instance polls on one connection (a pool of one), however long it
/// runs: the pool's round-robin would otherwise keep every pooled connection open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_instance_holds_one_connection() {
    use sqlx::Connection;
    let Some(db) = chaos_middleware::testing::TempDatabase::mysql_from_env().await else {
        return;
    };
    open(db.url()).await.close().await;
    let chaos = layer_on_url(db.url());
    let mut sampler = sqlx::MySqlConnection::connect(db.url())
        .await
        .expect("sampler connection");
    let others = "SELECT COUNT(*) FROM information_schema.processlist \
         WHERE db = DATABASE() AND id <> CONNECTION_ID()";
    let last_seen = "SELECT COALESCE(MAX(last_seen), 0) FROM chaos_instances";
    // Twenty heartbeats (and about ten polls between each two), one connection throughout.
    let mut beats = 0;
    let mut previous: i64 = 0;
    let started = Instant::now();
    while beats < 20 {
        let count: i64 = sqlx::query_scalar(others)
            .fetch_one(&mut sampler)
            .await
            .expect("count");
        assert!(count <= 1, "the instance holds {count} connections");
        let seen: i64 = sqlx::query_scalar(last_seen)
            .fetch_one(&mut sampler)
            .await
            .expect("last seen");
        if seen > previous {
            beats += 1;
            previous = seen;
        }
        assert!(started.elapsed() < DEADLINE, "heartbeats stopped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = sampler.close().await;
    drop(chaos);
    db.drop_db().await;
}

/// How many listener connections of this database are idle (named `chaos-listener`).
async fn listeners(url: &str) -> i64 {
    use sqlx::Connection;
    let Ok(mut conn) = sqlx::PgConnection::connect(url).await else {
        return 0;
    };
    let count = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'chaos-listener' \
         AND state = 'idle'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap_or(0);
    let _ = conn.close().await;
    count
}

/// SQLite: the file's folder is moved away and a new store file appears in its place;
/// the layer keeps its snapshot meanwhile and then follows the file now at the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_lost_file_keeps_the_snapshot_and_follows_the_new_file() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("store");
    std::fs::create_dir(&dir).expect("store dir");
    let url = chaos_middleware::testing::temp_sqlite_url(&dir);
    let store = open(&url).await;
    let chaos = layer(&store, None);
    let handle = chaos.handle();
    store.create(&ret("items", 503)).await.expect("create");
    wait_applied(&handle, &store, DEADLINE).await;
    assert_eq!(handle.stats().rules, 1);
    store.close().await;

    // The folder goes away: the layer keeps what it had.
    let away = root.path().join("store.away");
    std::fs::rename(&dir, &away).expect("move the store away");
    let before = handle.stats();
    // A fresh store at the same URL with two other actions (generation 2, like before
    // the rename plus one, so only a reopen can tell the difference).
    std::fs::create_dir(&dir).expect("a new store dir");
    let fresh = open(&url).await;
    fresh.create(&ret("checkout", 401)).await.expect("create");
    fresh.create(&ret("items", 500)).await.expect("create");
    assert_eq!(before.rules, 1);
    wait_for("the layer to follow the new file", DEADLINE, async || {
        handle.stats().rules == 2
    })
    .await;
    // And the instance registered itself in the new file.
    wait_for(
        "the instance to register in the new file",
        DEADLINE,
        async || fresh.instances().await.map(|i| i.len()).unwrap_or(0) == 1,
    )
    .await;
    drop(chaos);
    fresh.close().await;
}
