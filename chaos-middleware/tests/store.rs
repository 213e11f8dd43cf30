//! The store suite: every case is written once as an `async fn(url)` and run against a
//! fresh SQLite file and a fresh PostgreSQL database (`CHAOS_TEST_POSTGRES_URL`; the
//! PostgreSQL cases say so and pass when it is not set).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use chaos_middleware::action::now_ms;
use chaos_middleware::store::{Changes, Position};
use chaos_middleware::testing::{TempPostgres, temp_sqlite_url};
use chaos_middleware::{Action, ActionSpec, Fault, Kind, Listing, Selection, Store, StoreError};

chaos_middleware::per_backend!(
    create_list_get_round_trip,
    create_rejects_invalid_and_writes_nothing,
    generation_grows_on_every_write_only,
    audit_row_for_every_write_only,
    select_by_ids,
    select_by_target,
    select_all,
    corrupt_rows_are_reported_apart,
    concurrent_connects_apply_schema_once,
    several_processes_connect_at_once,
    every_verb_round_trips,
    expiry_enable_until_and_purge,
    changes_since_reads_only_what_changed,
    changes_since_reads_everything_when_it_must,
    large_values_fit_every_backend,
    windows_round_trip,
);

// ---------------------------------------------------------------------------------------
// Helpers

async fn open(url: &str) -> Store {
    Store::connect(url)
        .await
        .unwrap_or_else(|err| panic!("open the store at {url}: {err}"))
}

fn slow(target: &str, min_ms: u64, max_ms: u64) -> ActionSpec {
    ActionSpec::new(
        Kind::Response,
        target,
        Fault::Slow {
            min_ms,
            max_ms,
            phase: chaos_middleware::Phase::Before,
        },
    )
}

fn ret(target: &str, status: u16, body: Option<&str>) -> ActionSpec {
    ActionSpec::new(
        Kind::Response,
        target,
        Fault::Return {
            status,
            body: body.map(str::to_owned),
        },
    )
}

async fn create(store: &Store, spec: &ActionSpec) -> i64 {
    store
        .create(spec)
        .await
        .unwrap_or_else(|err| panic!("create {spec:?}: {err}"))
}

async fn list(store: &Store) -> Listing {
    store.list().await.expect("list actions")
}

async fn action(store: &Store, id: i64) -> Action {
    store
        .get(id)
        .await
        .expect("get action")
        .unwrap_or_else(|| panic!("action {id} should exist"))
}

async fn enabled_of(store: &Store, id: i64) -> bool {
    action(store, id).await.spec.enabled
}

async fn ids(store: &Store) -> Vec<i64> {
    let listing = list(store).await;
    assert!(listing.corrupt.is_empty(), "{:?}", listing.corrupt);
    listing.actions.iter().map(|a| a.id).collect()
}

/// Counts and generation, to check that a failed write changed nothing.
#[derive(Debug, PartialEq)]
struct Snapshot {
    actions: i64,
    audit: i64,
    generation: i64,
    enabled: Vec<(i64, bool)>,
}

async fn snapshot(store: &Store) -> Snapshot {
    let listing = list(store).await;
    Snapshot {
        actions: store
            .raw_count("chaos_actions")
            .await
            .expect("count actions"),
        audit: store.raw_count("chaos_audit").await.expect("count audit"),
        generation: store.generation().await.expect("generation"),
        enabled: listing
            .actions
            .iter()
            .map(|a| (a.id, a.spec.enabled))
            .collect(),
    }
}

/// A row of kind `point` (the CLI cannot create one yet), made by editing a created row.
async fn create_point(store: &Store) -> i64 {
    let id = create(store, &slow("make-point", 1, 2)).await;
    let changed = store
        .raw_execute(
            "UPDATE chaos_actions SET kind = 'point', target = 'items' WHERE target = 'make-point'",
        )
        .await
        .expect("turn a row into a point action");
    assert_eq!(changed, 1);
    let point = action(store, id).await;
    assert_eq!(
        (point.spec.kind, point.spec.target.as_str()),
        (Kind::Point, "items")
    );
    id
}

fn migration_files(backend: &str) -> i64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("read {}: {err}", dir.display()))
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count() as i64
}

fn backend_of(url: &str) -> &'static str {
    if url.starts_with("sqlite:") {
        "sqlite"
    } else if url.starts_with("mysql:") {
        "mysql"
    } else {
        "postgres"
    }
}

// ---------------------------------------------------------------------------------------
// Cases run on both backends

async fn create_list_get_round_trip(url: &str) {
    let store = open(url).await;
    assert_eq!(store.backend_name(), backend_of(url));
    assert!(list(&store).await.actions.is_empty());

    let mut full = slow("items", 100, 250);
    full.users = vec!["alice".into(), "bob".into()];
    full.groups = vec!["staff".into()];
    full.hosts = vec!["web-1".into(), "web-2".into()];
    full.methods = vec!["GET".into(), "POST".into()];
    full.probability = 0.25;
    full.enabled = false;
    full.expires_at = Some(now_ms() + 3_600_000);
    full.tag = Some("storm".into());
    full.note = Some("it's a \"note\" with ünïcode".into());
    let mut returning = ret("/items/{id}", 503, Some("{\"error\":\"chaos\"}"));
    returning.probability = 0.5;
    returning.methods = vec!["DELETE".into()];
    returning.tag = Some("exercise".into());
    let bare = ret("*", 418, None);

    let before = now_ms();
    let specs = [full, returning, bare];
    let mut created = Vec::new();
    for spec in &specs {
        created.push(create(&store, spec).await);
    }
    let after = now_ms();
    assert!(
        created.windows(2).all(|w| w[0] < w[1]),
        "ids ascend: {created:?}"
    );

    let listing = list(&store).await;
    assert!(listing.corrupt.is_empty(), "{:?}", listing.corrupt);
    assert_eq!(listing.actions.len(), specs.len());
    let expected_actor = std::env::var("CHAOS_ACTOR")
        .or_else(|_| std::env::var("USER"))
        .ok();
    for ((listed, spec), id) in listing.actions.iter().zip(&specs).zip(&created) {
        assert_eq!(listed.id, *id);
        assert_eq!(&listed.spec, spec, "action {id} round-trips");
        assert!(
            (before..=after).contains(&listed.created_at),
            "created_at {} within {before}..={after}",
            listed.created_at
        );
        assert_eq!(listed.updated_at, listed.created_at);
        assert_eq!(listed.created_by, expected_actor);
        assert_eq!(&action(&store, *id).await, listed, "get agrees with list");
    }
    let unknown = created.iter().max().expect("created some") + 1000;
    assert!(store.get(unknown).await.expect("get unknown").is_none());

    // A second handle (a new pool) sees the same rows.
    let other = open(url).await;
    assert_eq!(list(&other).await.actions, listing.actions);

    // set_enabled moves updated_at, not created_at.
    let first = created[0];
    let before_enable = now_ms();
    let changed = store
        .set_enabled(&Selection::Ids(vec![first]), true)
        .await
        .expect("enable");
    assert_eq!(changed, 1);
    let enabled = action(&store, first).await;
    assert!(enabled.spec.enabled);
    assert_eq!(enabled.created_at, listing.actions[0].created_at);
    assert!(
        enabled.updated_at >= before_enable,
        "updated_at is refreshed"
    );
    other.close().await;
    store.close().await;
}

async fn create_rejects_invalid_and_writes_nothing(url: &str) {
    let store = open(url).await;
    create(&store, &slow("items", 1, 2)).await;
    let before = snapshot(&store).await;

    let mut bad_probability = ret("items", 500, None);
    bad_probability.probability = 1.5;
    let mut nan_probability = ret("items", 500, None);
    nan_probability.probability = f64::NAN;
    let cases = [
        (slow("items", 300, 200), "min delay"),
        (ret("items", 600, None), "status 600"),
        (bad_probability, "probability 1.5"),
        (nan_probability, "probability NaN"),
        (slow("   ", 1, 2), "empty view"),
    ];
    for (spec, needle) in cases {
        match store.create(&spec).await {
            Err(StoreError::Invalid(err)) => {
                assert!(err.to_string().contains(needle), "'{err}' names {needle}");
            }
            other => panic!("{spec:?} must be rejected as invalid, got {other:?}"),
        }
    }
    assert_eq!(
        snapshot(&store).await,
        before,
        "a rejected create writes nothing"
    );
    store.close().await;
}

async fn generation_grows_on_every_write_only(url: &str) {
    let store = open(url).await;
    let mut generation = store.generation().await.expect("generation");
    assert_eq!(generation, 0, "a fresh store starts at generation 0");

    let mut expect_growth = async |store: &Store, what: &str| {
        let now = store.generation().await.expect("generation");
        assert!(
            now > generation,
            "{what} bumps the generation ({generation} -> {now})"
        );
        generation = now;
    };
    let a = create(&store, &slow("items", 1, 2)).await;
    expect_growth(&store, "create").await;
    let b = create(&store, &ret("orders", 500, None)).await;
    expect_growth(&store, "second create").await;
    store
        .set_enabled(&Selection::Ids(vec![a]), false)
        .await
        .expect("disable");
    expect_growth(&store, "disable").await;
    store
        .set_enabled(&Selection::Ids(vec![a]), true)
        .await
        .expect("enable");
    expect_growth(&store, "enable").await;
    store
        .set_enabled(
            &Selection::Target {
                kind: Kind::Response,
                target: "orders".into(),
            },
            false,
        )
        .await
        .expect("disable by target");
    expect_growth(&store, "disable by target").await;
    store
        .delete(&Selection::Ids(vec![b]))
        .await
        .expect("delete");
    expect_growth(&store, "delete").await;

    let before = store.generation().await.expect("generation");
    assert!(store.create(&slow("items", 5, 1)).await.is_err());
    assert!(
        store
            .set_enabled(&Selection::Ids(vec![a, b]), false)
            .await
            .is_err()
    );
    assert!(store.delete(&Selection::Ids(vec![b])).await.is_err());
    assert_eq!(
        store.generation().await.expect("generation"),
        before,
        "failed writes leave the generation alone"
    );

    // Another handle sees the same counter.
    let other = open(url).await;
    assert_eq!(other.generation().await.expect("generation"), before);
    other.close().await;
    store.close().await;
}

async fn audit_row_for_every_write_only(url: &str) {
    let store = open(url).await;
    let audit = async |store: &Store| store.raw_count("chaos_audit").await.expect("count audit");
    assert_eq!(audit(&store).await, 0);
    let a = create(&store, &slow("items", 1, 2)).await;
    assert_eq!(audit(&store).await, 1, "create is audited");
    let b = create(&store, &ret("items", 502, None)).await;
    assert_eq!(audit(&store).await, 2);
    store
        .set_enabled(&Selection::Ids(vec![a, b]), false)
        .await
        .expect("disable");
    assert_eq!(
        audit(&store).await,
        3,
        "one audit row per disable, not per id"
    );
    store
        .set_enabled(&Selection::All { kind: None }, true)
        .await
        .expect("enable all");
    assert_eq!(audit(&store).await, 4, "enable is audited");
    store
        .delete(&Selection::Ids(vec![a]))
        .await
        .expect("delete");
    assert_eq!(audit(&store).await, 5, "delete is audited");

    assert!(store.create(&ret("items", 600, None)).await.is_err());
    assert!(
        store
            .set_enabled(&Selection::Ids(vec![a]), true)
            .await
            .is_err()
    );
    assert!(store.delete(&Selection::Ids(vec![a, b])).await.is_err());
    assert_eq!(audit(&store).await, 5, "failed writes are not audited");
    store.close().await;
}

async fn select_by_ids(url: &str) {
    let store = open(url).await;
    let a = create(&store, &slow("items", 1, 2)).await;
    let b = create(&store, &ret("items", 503, None)).await;
    let c = create(&store, &slow("orders", 3, 4)).await;

    let changed = store
        .set_enabled(&Selection::Ids(vec![a, c]), false)
        .await
        .expect("disable a, c");
    assert_eq!(changed, 2);
    assert!(!enabled_of(&store, a).await);
    assert!(enabled_of(&store, b).await, "b was not selected");
    assert!(!enabled_of(&store, c).await);

    // An unknown id changes nothing, not even the known ids of the same call.
    let unknown = c + 100;
    let before = snapshot(&store).await;
    match store
        .set_enabled(&Selection::Ids(vec![a, unknown, c]), true)
        .await
    {
        Err(StoreError::UnknownIds(missing)) => assert_eq!(missing, vec![unknown]),
        other => panic!("enable with an unknown id must fail, got {other:?}"),
    }
    assert_eq!(
        snapshot(&store).await,
        before,
        "failed enable changed nothing"
    );
    match store
        .delete(&Selection::Ids(vec![b, unknown, unknown + 1]))
        .await
    {
        Err(err @ StoreError::UnknownIds(_)) => {
            let StoreError::UnknownIds(missing) = &err else {
                unreachable!()
            };
            assert_eq!(missing, &vec![unknown, unknown + 1]);
            assert!(err.to_string().contains(&unknown.to_string()), "{err}");
        }
        other => panic!("delete with an unknown id must fail, got {other:?}"),
    }
    assert_eq!(
        snapshot(&store).await,
        before,
        "failed delete changed nothing"
    );
    assert_eq!(ids(&store).await, vec![a, b, c]);

    // The same id twice counts once and is not "unknown" the second time.
    let changed = store
        .set_enabled(&Selection::Ids(vec![b, b]), false)
        .await
        .expect("disable b twice over");
    assert_eq!(changed, 1);
    assert!(!enabled_of(&store, b).await);

    let removed = store
        .delete(&Selection::Ids(vec![c, a, c]))
        .await
        .expect("delete a, c");
    assert_eq!(removed, 2);
    assert_eq!(ids(&store).await, vec![b]);
    assert_eq!(store.raw_count("chaos_actions").await.expect("count"), 1);
    store.close().await;
}

async fn select_by_target(url: &str) {
    let store = open(url).await;
    let items1 = create(&store, &slow("items", 1, 2)).await;
    let items2 = create(&store, &ret("items", 500, None)).await;
    let orders = create(&store, &slow("orders", 1, 2)).await;
    let point = create_point(&store).await;
    let items_route = create(&store, &slow("/items/{id}", 1, 2)).await;
    let target = |kind, name: &str| Selection::Target {
        kind,
        target: name.to_owned(),
    };

    let changed = store
        .set_enabled(&target(Kind::Response, "items"), false)
        .await
        .expect("disable items");
    assert_eq!(changed, 2);
    for (id, enabled) in [
        (items1, false),
        (items2, false),
        (orders, true),
        (point, true),
        (items_route, true),
    ] {
        assert_eq!(enabled_of(&store, id).await, enabled, "action {id}");
    }
    let changed = store
        .set_enabled(&target(Kind::Point, "items"), false)
        .await
        .expect("disable point items");
    assert_eq!(changed, 1);
    assert!(!enabled_of(&store, point).await);
    assert!(enabled_of(&store, orders).await);

    let none = store
        .set_enabled(&target(Kind::Response, "nothing"), true)
        .await
        .expect("a target without actions is not an error");
    assert_eq!(none, 0);

    let removed = store
        .delete(&target(Kind::Response, "items"))
        .await
        .expect("delete items");
    assert_eq!(removed, 2);
    assert_eq!(ids(&store).await, vec![orders, point, items_route]);
    let removed = store
        .delete(&target(Kind::Response, "/items/{id}"))
        .await
        .expect("delete the route");
    assert_eq!(removed, 1);
    assert_eq!(ids(&store).await, vec![orders, point]);
    store.close().await;
}

async fn select_all(url: &str) {
    let store = open(url).await;
    let a = create(&store, &slow("items", 1, 2)).await;
    let b = create(&store, &ret("orders", 500, None)).await;
    let c = create(&store, &slow("*", 1, 2)).await;
    let point = create_point(&store).await;
    let all_responses = Selection::All {
        kind: Some(Kind::Response),
    };
    let everything = Selection::All { kind: None };

    let changed = store
        .set_enabled(&all_responses, false)
        .await
        .expect("disable responses");
    assert_eq!(changed, 3);
    for id in [a, b, c] {
        assert!(!enabled_of(&store, id).await, "action {id}");
    }
    assert!(enabled_of(&store, point).await, "points are not responses");

    let changed = store
        .set_enabled(&everything, false)
        .await
        .expect("disable all");
    assert_eq!(changed, 1, "only the point was still enabled");
    assert!(!enabled_of(&store, point).await);
    let changed = store
        .set_enabled(
            &Selection::All {
                kind: Some(Kind::Point),
            },
            true,
        )
        .await
        .expect("enable points");
    assert_eq!(changed, 1);
    assert!(enabled_of(&store, point).await);

    let removed = store
        .delete(&all_responses)
        .await
        .expect("delete responses");
    assert_eq!(removed, 3);
    assert_eq!(ids(&store).await, vec![point]);
    let removed = store.delete(&everything).await.expect("delete all");
    assert_eq!(removed, 1);
    assert!(ids(&store).await.is_empty());
    let removed = store.delete(&everything).await.expect("delete from empty");
    assert_eq!(removed, 0);
    store.close().await;
}

async fn corrupt_rows_are_reported_apart(url: &str) {
    let store = open(url).await;
    let good = create(&store, &slow("good", 1, 2)).await;
    let mut edits: Vec<(i64, &'static str, &'static str)> = Vec::new();
    for (target, spec, sql, needle) in [
        (
            "bad-verb",
            slow("bad-verb", 1, 2),
            "UPDATE chaos_actions SET verb = 'explode' WHERE target = 'bad-verb'",
            "unknown verb 'explode'",
        ),
        (
            "bad-users",
            slow("bad-users", 1, 2),
            "UPDATE chaos_actions SET users = 'alice' WHERE target = 'bad-users'",
            "users is 'alice'",
        ),
        (
            "bad-status",
            ret("bad-status", 500, None),
            "UPDATE chaos_actions SET status = 999 WHERE target = 'bad-status'",
            "status 999",
        ),
        (
            "bad-min",
            slow("bad-min", 1, 2),
            "UPDATE chaos_actions SET min_ms = -5 WHERE target = 'bad-min'",
            "min_ms is -5",
        ),
        (
            "bad-probability",
            slow("bad-probability", 1, 2),
            "UPDATE chaos_actions SET probability = 7 WHERE target = 'bad-probability'",
            "probability 7",
        ),
        (
            "bad-enabled",
            slow("bad-enabled", 1, 2),
            "UPDATE chaos_actions SET enabled = 5 WHERE target = 'bad-enabled'",
            "enabled is 5",
        ),
        (
            "bad-kind",
            slow("bad-kind", 1, 2),
            "UPDATE chaos_actions SET kind = 'request' WHERE target = 'bad-kind'",
            "unknown kind 'request'",
        ),
        (
            "bad-return",
            ret("bad-return", 500, None),
            "UPDATE chaos_actions SET status = NULL WHERE target = 'bad-return'",
            "status is missing",
        ),
    ] {
        let id = create(&store, &spec).await;
        let changed = store.raw_execute(sql).await.expect(sql);
        assert_eq!(changed, 1, "{target}: {sql}");
        edits.push((id, target, needle));
    }
    if store.backend_name() == "sqlite" {
        // SQLite keeps a text value in an INTEGER column as text.
        let id = create(&store, &slow("bad-text", 1, 2)).await;
        let sql = "UPDATE chaos_actions SET min_ms = 'abc' WHERE target = 'bad-text'";
        assert_eq!(store.raw_execute(sql).await.expect(sql), 1);
        edits.push((id, "bad-text", "min_ms"));
    }
    let good2 = create(&store, &ret("good2", 503, Some("x"))).await;

    let listing = list(&store).await;
    let good_ids: Vec<i64> = listing.actions.iter().map(|a| a.id).collect();
    assert_eq!(good_ids, vec![good, good2], "valid actions still list");
    assert_eq!(
        listing.corrupt.len(),
        edits.len(),
        "corrupt rows: {:?}",
        listing.corrupt
    );
    for (id, target, needle) in &edits {
        let corrupt = listing
            .corrupt
            .iter()
            .find(|c| c.id == Some(*id))
            .unwrap_or_else(|| panic!("{target} (id {id}) is reported: {:?}", listing.corrupt));
        assert!(
            corrupt.reason.contains(needle),
            "{target}: reason '{}' names '{needle}'",
            corrupt.reason
        );
        assert!(corrupt.to_string().contains(&id.to_string()));
        match store.get(*id).await {
            Err(StoreError::Invalid(err)) => assert!(err.to_string().contains(needle), "{err}"),
            other => panic!("get of corrupt row {target} must fail, got {other:?}"),
        }
    }

    // A corrupt row can still be disabled and deleted by id, so users can clean up.
    let (first_bad, _, _) = edits[0];
    assert_eq!(
        store
            .set_enabled(&Selection::Ids(vec![first_bad]), false)
            .await
            .expect("disable a corrupt row"),
        1
    );
    assert_eq!(
        store
            .delete(&Selection::Ids(vec![first_bad]))
            .await
            .expect("delete a corrupt row"),
        1
    );
    let listing = list(&store).await;
    assert_eq!(listing.corrupt.len(), edits.len() - 1);
    assert!(listing.corrupt.iter().all(|c| c.id != Some(first_bad)));
    assert_eq!(listing.actions.len(), 2);
    store.close().await;
}

async fn concurrent_connects_apply_schema_once(url: &str) {
    let backend = backend_of(url);
    let tasks = if backend == "sqlite" { 8 } else { 4 };
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let url = url.to_owned();
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                Store::connect(&url).await
            })
        })
        .collect();
    let mut stores = Vec::new();
    for (i, handle) in handles.into_iter().enumerate() {
        let result = handle.await.expect("connect task panicked");
        stores.push(result.unwrap_or_else(|err| panic!("connect #{i} failed: {err}")));
    }
    for store in &stores {
        assert_eq!(
            store
                .raw_count("_sqlx_migrations")
                .await
                .expect("count migrations"),
            migration_files(backend),
            "each migration is recorded once"
        );
        assert_eq!(store.raw_count("chaos_meta").await.expect("count meta"), 1);
        assert_eq!(store.generation().await.expect("generation"), 0);
    }

    // Every handle can write at the same moment too.
    let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
    let writes: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(i, store)| {
            let store = store.clone();
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                store.create(&slow(&format!("t{i}"), 1, 2)).await
            })
        })
        .collect();
    let mut created = Vec::new();
    for handle in writes {
        created.push(
            handle
                .await
                .expect("write task panicked")
                .expect("concurrent create"),
        );
    }
    created.sort_unstable();
    created.dedup();
    assert_eq!(created.len(), tasks, "every create got its own id");
    assert_eq!(
        stores[0].generation().await.expect("generation"),
        tasks as i64
    );
    assert_eq!(ids(&stores[0]).await, created);
    for store in &stores {
        store.close().await;
    }
}

/// The environment variable that turns [`child_connect_from_env`] into a real test.
const CHILD_URL_VAR: &str = "CHAOS_STORE_TEST_CHILD_URL";

async fn several_processes_connect_at_once(url: &str) {
    const PROCESSES: usize = 3;
    let exe = std::env::current_exe().expect("path of this test binary");
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "child_connect_from_env",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                ])
                .env(CHILD_URL_VAR, url)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start a child test process")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("wait for a child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "child failed: {}\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains("1 passed"),
            "the child ran its test:\n{stdout}"
        );
    }
    let store = open(url).await;
    assert_eq!(
        store.raw_count("_sqlx_migrations").await.expect("count"),
        migration_files(backend_of(url))
    );
    assert_eq!(store.raw_count("chaos_meta").await.expect("count"), 1);
    assert_eq!(ids(&store).await.len(), PROCESSES, "one action per child");
    assert_eq!(
        store.generation().await.expect("generation"),
        PROCESSES as i64
    );
    store.close().await;
}

/// Run by [`several_processes_connect_at_once`] in child processes: connects to the
/// store named by `CHAOS_STORE_TEST_CHILD_URL` and creates one action.
#[tokio::test]
#[ignore = "helper run in child processes by several_processes_connect_at_once"]
async fn child_connect_from_env() {
    let Ok(url) = std::env::var(CHILD_URL_VAR) else {
        return;
    };
    let store = open(&url).await;
    create(&store, &slow(&format!("pid-{}", std::process::id()), 1, 2)).await;
    store.close().await;
}

// ---------------------------------------------------------------------------------------
// Cases about connecting

#[tokio::test]
async fn unsupported_url_is_refused() {
    for url in ["mongodb://root:hunter2@localhost/chaos", "chaos.db"] {
        match Store::connect(url).await {
            Err(err @ StoreError::UnsupportedUrl(_)) => {
                let message = err.to_string();
                assert!(!message.contains("hunter2"), "password leaked: {message}");
                for allowed in ["sqlite://", "postgres://", "mysql://"] {
                    assert!(
                        message.contains(allowed),
                        "names what is allowed: {message}"
                    );
                }
            }
            other => panic!("{url} must be unsupported, got {other:?}"),
        }
    }
    // A relay URL is for app instances: the store says which URL it needs instead.
    for url in ["http://x", "HTTPS://:secret@relay:8900"] {
        match Store::connect(url).await {
            Err(err @ StoreError::InvalidUrl { .. }) => {
                let message = err.to_string();
                assert!(!message.contains("secret"), "token leaked: {message}");
                assert!(
                    message.contains("names a relay") && message.contains("sqlite://"),
                    "{message}"
                );
            }
            other => panic!("{url} must be refused as a relay URL, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn unreachable_postgres_is_a_connect_error_without_password() {
    // Tried at the same time: each waits for the store's connect timeout.
    let attempts: Vec<_> = [
        "postgres://postgres:hunter2@127.0.0.1:1/x",
        "postgresql://postgres:hunter2@127.0.0.1:1/x",
        "postgres://postgres@127.0.0.1:1/x?password=hunter2",
        "mysql://root:hunter2@127.0.0.1:1/x",
        "mariadb://root:hunter2@127.0.0.1:1/x",
    ]
    .into_iter()
    .map(|url| (url, tokio::spawn(Store::connect(url))))
    .collect();
    for (url, attempt) in attempts {
        match attempt.await.expect("connect task panicked") {
            Err(err @ StoreError::Connect { .. }) => {
                let message = err.to_string();
                assert!(
                    message.contains("127.0.0.1:1"),
                    "names the server: {message}"
                );
                assert!(!message.contains("hunter2"), "password leaked: {message}");
                let debug = format!("{err:?}");
                assert!(!debug.contains("hunter2"), "password leaked: {debug}");
            }
            other => panic!("{url} must fail to connect, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn sqlite_file_is_created_and_uses_wal() {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let url = temp_sqlite_url(dir.path());
    let file = dir.path().join("chaos.db");
    assert!(!file.exists());
    let store = open(&url).await;
    assert!(file.exists(), "{} is created on first use", file.display());
    assert_eq!(
        store
            .raw_sqlite_journal_mode()
            .await
            .expect("read journal mode")
            .as_deref(),
        Some("wal")
    );
    create(&store, &slow("items", 1, 2)).await;
    assert!(
        dir.path().join("chaos.db-wal").exists(),
        "writes go through the write-ahead log"
    );
    store.close().await;

    // Reopening finds the data and keeps WAL.
    let again = open(&url).await;
    assert_eq!(ids(&again).await.len(), 1);
    assert_eq!(
        again
            .raw_sqlite_journal_mode()
            .await
            .expect("read journal mode")
            .as_deref(),
        Some("wal")
    );
    again.close().await;
}

#[tokio::test]
async fn sqlite_in_a_missing_folder_is_a_connect_error() {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let url = temp_sqlite_url(&dir.path().join("no").join("such"));
    match Store::connect(&url).await {
        Err(err @ StoreError::MissingFolder { .. }) => {
            assert!(err.to_string().contains("chaos.db"), "{err}");
            let folder = dir.path().join("no").join("such");
            assert!(
                err.to_string()
                    .contains(&format!("the folder {} does not exist", folder.display())),
                "{err}"
            );
        }
        other => panic!("a missing folder must fail to connect, got {other:?}"),
    }
}

#[tokio::test]
async fn temp_postgres_is_dropped() {
    let Some(db) = TempPostgres::from_env().await else {
        return;
    };
    let name = db.name().to_owned();
    assert!(db.url().ends_with(&name), "{}", db.url());
    let store = open(db.url()).await;
    create(&store, &slow("items", 1, 2)).await;
    // The store's connections are still open: drop_db must force them closed.
    db.drop_db().await;
    assert!(
        store.list().await.is_err(),
        "the database is gone after drop_db"
    );
    store.close().await;

    // Dropping without drop_db removes the database too (best effort, synchronously).
    let db = TempPostgres::from_env().await.expect("the variable is set");
    let url = db.url().to_owned();
    drop(db);
    assert!(
        matches!(Store::connect(&url).await, Err(StoreError::Connect { .. })),
        "the database is gone after Drop"
    );
}

async fn every_verb_round_trips(url: &str) {
    let store = open(url).await;
    let specs = [
        ActionSpec::new(Kind::Response, "checkout", Fault::Abort),
        ActionSpec::new(Kind::Response, "*", Fault::Panic),
        ActionSpec::new(
            Kind::Response,
            "items",
            Fault::Slow {
                min_ms: 5,
                max_ms: 10,
                phase: chaos_middleware::Phase::After,
            },
        ),
        ActionSpec::new(Kind::Point, "db.items", Fault::Error { message: None }),
        ActionSpec::new(
            Kind::Point,
            "db.orders",
            Fault::Error {
                message: Some("gone".into()),
            },
        ),
        ActionSpec::new(
            Kind::Point,
            "db.items",
            Fault::Slow {
                min_ms: 1,
                max_ms: 2,
                phase: chaos_middleware::Phase::Before,
            },
        ),
    ];
    for spec in &specs {
        let id = create(&store, spec).await;
        assert_eq!(&action(&store, id).await.spec, spec);
    }
    // Verbs that do not fit the kind are refused and nothing is written.
    let before = snapshot(&store).await;
    for bad in [
        ActionSpec::new(Kind::Point, "db.items", Fault::Abort),
        ActionSpec::new(Kind::Response, "items", Fault::Error { message: None }),
        ActionSpec::new(
            Kind::Point,
            "db.items",
            Fault::Slow {
                min_ms: 1,
                max_ms: 2,
                phase: chaos_middleware::Phase::After,
            },
        ),
    ] {
        let err = store
            .create(&bad)
            .await
            .expect_err("verb does not fit kind");
        assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    }
    assert_eq!(snapshot(&store).await, before);
    // A hand-edited unknown phase is a corrupt row, not a crash.
    store
        .raw_execute("UPDATE chaos_actions SET phase = 'sideways' WHERE target = 'items'")
        .await
        .expect("edit phase");
    let listing = list(&store).await;
    assert_eq!(listing.corrupt.len(), 1, "{:?}", listing.corrupt);
    assert!(
        listing.corrupt[0].reason.contains("sideways"),
        "{:?}",
        listing.corrupt
    );
}

async fn expiry_enable_until_and_purge(url: &str) {
    let store = open(url).await;
    let now = chaos_middleware::action::now_ms();
    let mut past = ret("items", 500, None);
    past.expires_at = Some(now - 1_000);
    let past = create(&store, &past).await;
    let mut future = ret("checkout", 503, None);
    future.expires_at = Some(now + 3_600_000);
    let future = create(&store, &future).await;
    let mut also_past = slow("items", 1, 2);
    also_past.expires_at = Some(now - 1_000);
    also_past.enabled = false;
    let also_past = create(&store, &also_past).await;

    // Plain enable: a passed expiry is cleared, a future one kept (that row is enabled
    // already, so it is not written).
    let changed = store
        .set_enabled(&Selection::Ids(vec![past, future]), true)
        .await
        .expect("enable");
    assert_eq!(changed, 1);
    assert_eq!(action(&store, past).await.spec.expires_at, None);
    assert_eq!(
        action(&store, future).await.spec.expires_at,
        Some(now + 3_600_000)
    );

    // enable_until sets the expiry and enables.
    let until = now + 60_000;
    store
        .enable_until(&Selection::Ids(vec![future]), until)
        .await
        .expect("enable until");
    assert_eq!(action(&store, future).await.spec.expires_at, Some(until));
    let generation = store.generation().await.expect("generation");

    // purge removes only the expired row.
    assert_eq!(store.purge_expired().await.expect("purge"), 1);
    assert_eq!(ids(&store).await, vec![past, future]);
    assert!(store.generation().await.expect("generation") > generation);
    assert_eq!(store.purge_expired().await.expect("purge again"), 0);
    let _ = also_past;
}

// ---------------------------------------------------------------------------------------
// Storms and exercises: batches, deletion by tag, exercise state.

mod storms {
    use super::*;
    use chaos_middleware::store::{Exercise, ExerciseStart};

    chaos_middleware::per_backend!(
        create_many_is_all_or_nothing,
        delete_by_tag,
        exercise_state_round_trip,
        expired_exercise_is_closed_by_the_next_start,
    );

    fn tagged(mut spec: ActionSpec, tag: &str) -> ActionSpec {
        spec.tag = Some(tag.to_owned());
        spec
    }

    async fn create_many_is_all_or_nothing(url: &str) {
        let store = open(url).await;
        let first = create(&store, &slow("index", 1, 2)).await;
        let before = snapshot(&store).await;
        let batch = vec![
            tagged(slow("items", 100, 200), "storm"),
            tagged(ret("checkout", 503, None), "storm"),
            tagged(ret("*", 429, Some("slow down")), "storm"),
        ];
        let ids = store.create_many(&batch).await.expect("create a batch");
        assert_eq!(ids.len(), 3);
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]) && ids[0] > first,
            "{ids:?}"
        );
        let after = snapshot(&store).await;
        assert_eq!(
            after.generation,
            before.generation + 1,
            "one bump per batch"
        );
        assert_eq!(after.audit, before.audit + 1, "one audit row per batch");
        assert_eq!(after.actions, before.actions + 3);
        for (id, spec) in ids.iter().zip(&batch) {
            assert_eq!(&action(&store, *id).await.spec, spec);
        }

        // One bad spec (the third): nothing at all is written.
        let before = snapshot(&store).await;
        let bad = vec![
            slow("items", 1, 2),
            ret("items", 500, None),
            ret("items", 600, None),
        ];
        let err = store.create_many(&bad).await.expect_err("status 600");
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("action 3 of 3") && message.contains("600"),
            "{message}"
        );
        assert_eq!(snapshot(&store).await, before);
        // An empty batch writes nothing either.
        assert!(
            store
                .create_many(&[])
                .await
                .expect("empty batch")
                .is_empty()
        );
        assert_eq!(snapshot(&store).await, before);
        store.close().await;
    }

    async fn delete_by_tag(url: &str) {
        let store = open(url).await;
        let plain = create(&store, &slow("items", 1, 2)).await;
        let other = create(&store, &tagged(ret("items", 500, None), "stormy")).await;
        let storm = store
            .create_many(&[
                tagged(slow("items", 1, 2), "storm"),
                tagged(ret("*", 503, None), "storm"),
            ])
            .await
            .expect("storm");
        assert_eq!(storm.len(), 2);
        let before = snapshot(&store).await;
        let deleted = store
            .delete(&Selection::Tag("storm".into()))
            .await
            .expect("delete by tag");
        assert_eq!(deleted, 2);
        assert_eq!(
            ids(&store).await,
            vec![plain, other],
            "only tag `storm` goes"
        );
        let after = snapshot(&store).await;
        assert_eq!(after.generation, before.generation + 1);
        assert_eq!(after.audit, before.audit + 1);
        // Nothing left with the tag: a no-op that still succeeds.
        let none = store.delete(&Selection::Tag("storm".into())).await;
        assert_eq!(none.expect("delete nothing"), 0);
        store.close().await;
    }

    fn started(outcome: ExerciseStart) -> Exercise {
        match outcome {
            ExerciseStart::Started { exercise, closed } => {
                assert!(closed.is_empty(), "{closed:?}");
                exercise
            }
            ExerciseStart::AlreadyRunning(running) => {
                panic!("exercise {} unexpectedly running", running.id)
            }
        }
    }

    async fn exercise_state_round_trip(url: &str) {
        let store = open(url).await;
        assert_eq!(store.current_exercise().await.expect("none yet"), None);
        let plain = create(&store, &ret("items", 500, None)).await;
        let expires_at = now_ms() + 3_600_000;
        let faults = vec![
            tagged(slow("items", 500, 900), "exercise"),
            tagged(ret("checkout", 503, None), "exercise"),
        ];
        let seed = u64::MAX - 1; // does not fit a signed column
        let exercise = started(
            store
                .start_exercise(&faults, seed, expires_at)
                .await
                .expect("start"),
        );
        assert_eq!(exercise.action_ids.len(), 2);
        assert_eq!(exercise.hints_given, 0);
        assert!(exercise.is_running_at(now_ms()) && exercise.hides_actions());
        let stored = store
            .current_exercise()
            .await
            .expect("read")
            .expect("running");
        assert_eq!(stored, exercise, "round trip");
        assert_eq!(stored.seed, seed);
        for (id, spec) in exercise.action_ids.iter().zip(&faults) {
            assert_eq!(&action(&store, *id).await.spec, spec, "ordinary actions");
        }
        let mut hidden = store.hidden_action_ids().await.expect("hidden");
        hidden.sort_unstable();
        assert_eq!(hidden, exercise.action_ids);

        // A second start while one runs writes nothing.
        let before = snapshot(&store).await;
        let exercises = store.raw_count("chaos_exercises").await.expect("count");
        let second = store
            .start_exercise(
                &[tagged(ret("index", 500, None), "exercise")],
                1,
                expires_at,
            )
            .await
            .expect("second start");
        assert!(
            matches!(&second, ExerciseStart::AlreadyRunning(running) if running.id == exercise.id),
            "{second:?}"
        );
        assert_eq!(snapshot(&store).await, before);
        assert_eq!(
            store.raw_count("chaos_exercises").await.expect("count"),
            exercises
        );
        // An invalid fault: nothing written either.
        let err = store
            .start_exercise(&[ret("index", 700, None)], 1, expires_at)
            .await
            .expect_err("status 700");
        assert!(err.to_string().contains("700"), "{err}");

        assert_eq!(
            store.record_exercise_hint(exercise.id).await.expect("hint"),
            1
        );
        assert_eq!(
            store.record_exercise_hint(exercise.id).await.expect("hint"),
            2
        );
        store.reveal_exercise(exercise.id).await.expect("reveal");
        let revealed = store
            .exercise(exercise.id)
            .await
            .expect("read")
            .expect("one");
        assert_eq!(revealed.hints_given, 2);
        assert!(revealed.revealed_at.is_some() && !revealed.hides_actions());
        assert!(store.hidden_action_ids().await.expect("hidden").is_empty());

        let generation = store.generation().await.expect("generation");
        assert_eq!(store.end_exercise(exercise.id).await.expect("end"), 2);
        assert!(store.generation().await.expect("generation") > generation);
        assert_eq!(
            ids(&store).await,
            vec![plain],
            "the exercise's faults are gone"
        );
        assert_eq!(store.current_exercise().await.expect("read"), None);
        let ended = store
            .exercise(exercise.id)
            .await
            .expect("read")
            .expect("kept");
        assert!(ended.ended_at.is_some());
        assert!(matches!(
            store.end_exercise(999).await,
            Err(StoreError::UnknownIds(_))
        ));

        // Ended: a new one may start.
        started(
            store
                .start_exercise(
                    &[tagged(ret("index", 502, None), "exercise")],
                    3,
                    expires_at,
                )
                .await
                .expect("start again"),
        );
        store.close().await;
    }

    async fn expired_exercise_is_closed_by_the_next_start(url: &str) {
        let store = open(url).await;
        let past = now_ms() - 1;
        let mut fault = tagged(ret("items", 503, None), "exercise");
        fault.expires_at = Some(past);
        let old = started(
            store
                .start_exercise(&[fault], 1, past)
                .await
                .expect("start"),
        );
        assert!(!old.is_running_at(now_ms()));
        let outcome = store
            .start_exercise(
                &[tagged(ret("checkout", 500, None), "exercise")],
                2,
                now_ms() + 60_000,
            )
            .await
            .expect("start over an expired one");
        let ExerciseStart::Started { exercise, closed } = outcome else {
            panic!("an expired exercise must not block a new one: {outcome:?}");
        };
        assert_eq!(closed, vec![old.id]);
        assert_eq!(
            ids(&store).await,
            exercise.action_ids,
            "the old fault was removed"
        );
        let old = store.exercise(old.id).await.expect("read").expect("kept");
        assert!(old.ended_at.is_some());
        store.close().await;
    }
}

// ---------------------------------------------------------------------------------------
// Incremental reads

/// What `changes_since` returned, as (generation, changed ids, corrupt ids, deleted ids);
/// `None` for the generation when it read everything.
async fn delta(store: &Store, applied: i64) -> (Option<i64>, Vec<i64>, Vec<i64>, Vec<i64>) {
    let epoch = store.counters().await.expect("counters").epoch;
    let position = Position {
        generation: applied,
        epoch,
    };
    match store
        .changes_since(Some(position))
        .await
        .expect("changes since")
    {
        Changes::Unchanged => (Some(applied), vec![], vec![], vec![]),
        Changes::All { listing, .. } => (
            None,
            listing.actions.iter().map(|a| a.id).collect(),
            listing.corrupt.iter().filter_map(|c| c.id).collect(),
            vec![],
        ),
        Changes::Since {
            position,
            changed,
            mut deleted,
            ..
        } => {
            deleted.sort_unstable();
            (
                Some(position.generation),
                changed.actions.iter().map(|a| a.id).collect(),
                changed.corrupt.iter().filter_map(|c| c.id).collect(),
                deleted,
            )
        }
    }
}

async fn changes_since_reads_only_what_changed(url: &str) {
    let store = open(url).await;
    match store.changes_since(None).await.expect("first load") {
        Changes::All {
            position, listing, ..
        } => {
            assert_eq!(position.generation, 0);
            assert!(listing.actions.is_empty());
        }
        other => panic!("the first load reads everything: {other:?}"),
    }
    let start = Position {
        generation: 0,
        epoch: store.counters().await.expect("counters").epoch,
    };
    assert!(matches!(
        store.changes_since(Some(start)).await.expect("unchanged"),
        Changes::Unchanged
    ));
    let ids = store
        .create_many(&[slow("a", 1, 2), slow("b", 1, 2), ret("c", 503, None)])
        .await
        .expect("create three");
    let g1 = store.generation().await.expect("generation");
    assert_eq!(
        delta(&store, 0).await,
        (Some(g1), ids.clone(), vec![], vec![])
    );
    assert_eq!(delta(&store, g1).await, (Some(g1), vec![], vec![], vec![]));

    // One disable: one row, whatever else is stored.
    store
        .set_enabled(&Selection::Ids(vec![ids[1]]), false)
        .await
        .expect("disable");
    let g2 = store.generation().await.expect("generation");
    assert_eq!(
        delta(&store, g1).await,
        (Some(g2), vec![ids[1]], vec![], vec![])
    );
    // A reader two changes behind gets both.
    assert_eq!(
        delta(&store, 0).await,
        (Some(g2), ids.clone(), vec![], vec![])
    );

    // A delete is a tombstone.
    store
        .delete(&Selection::Ids(vec![ids[2]]))
        .await
        .expect("delete");
    let g3 = store.generation().await.expect("generation");
    assert_eq!(
        delta(&store, g2).await,
        (Some(g3), vec![], vec![], vec![ids[2]])
    );
    assert_eq!(
        delta(&store, g1).await,
        (Some(g3), vec![ids[1]], vec![], vec![ids[2]])
    );

    // An edit by hand without a bump is published by the next write.
    store
        .raw_execute(&format!(
            "UPDATE chaos_actions SET note = 'by hand' WHERE id = {}",
            ids[0]
        ))
        .await
        .expect("edit by hand");
    assert_eq!(delta(&store, g3).await, (Some(g3), vec![], vec![], vec![]));
    let d = create(&store, &slow("d", 1, 2)).await;
    let g4 = store.generation().await.expect("generation");
    assert_eq!(
        delta(&store, g3).await,
        (Some(g4), vec![ids[0], d], vec![], vec![])
    );
    assert_eq!(
        action(&store, ids[0]).await.spec.note.as_deref(),
        Some("by hand")
    );

    // A row edited by hand into nonsense, then bumped: reported as corrupt, by id.
    store
        .raw_execute(&format!(
            "UPDATE chaos_actions SET verb = 'explode' WHERE id = {d}"
        ))
        .await
        .expect("corrupt by hand");
    store
        .raw_execute("UPDATE chaos_meta SET generation = generation + 1 WHERE id = 1")
        .await
        .expect("bump");
    let g5 = store.generation().await.expect("generation");
    assert_eq!(delta(&store, g4).await, (Some(g5), vec![], vec![d], vec![]));

    // Storms and exercises write through the same triggers.
    let mut storm_action = slow("e", 1, 2);
    storm_action.tag = Some("storm".into());
    let storm = store.create_many(&[storm_action]).await.expect("storm");
    let g6 = store.generation().await.expect("generation");
    assert_eq!(
        delta(&store, g5).await,
        (Some(g6), storm.clone(), vec![], vec![])
    );
    store
        .delete(&Selection::Tag("storm".into()))
        .await
        .expect("end the storm");
    let g7 = store.generation().await.expect("generation");
    assert_eq!(delta(&store, g6).await, (Some(g7), vec![], vec![], storm));
    store.close().await;
}

async fn changes_since_reads_everything_when_it_must(url: &str) {
    let store = open(url).await;
    let a = create(&store, &slow("a", 1, 2)).await;
    let b = create(&store, &slow("b", 1, 2)).await;
    let g = store.generation().await.expect("generation");
    // A reader ahead of the store (the store was replaced or restored).
    assert_eq!(
        delta(&store, g + 5).await,
        (None, vec![a, b], vec![], vec![])
    );
    // A bump that publishes no row: something bypassed the triggers.
    store
        .raw_execute("UPDATE chaos_meta SET generation = generation + 1 WHERE id = 1")
        .await
        .expect("bump");
    assert_eq!(delta(&store, g).await, (None, vec![a, b], vec![], vec![]));

    // Tombstones live for 1,000 generations; a reader further behind reads everything.
    store
        .delete(&Selection::Ids(vec![a]))
        .await
        .expect("delete");
    let deleted_at = store.generation().await.expect("generation");
    assert_eq!(store.raw_count("chaos_tombstones").await.expect("count"), 1);
    store
        .raw_execute("UPDATE chaos_meta SET generation = generation + 998 WHERE id = 1")
        .await
        .expect("998 generations later");
    create(&store, &slow("c", 1, 2)).await;
    assert_eq!(
        store.raw_count("chaos_tombstones").await.expect("count"),
        1,
        "kept while within 1,000 generations"
    );
    store
        .set_enabled(&Selection::Ids(vec![b]), false)
        .await
        .expect("one more");
    assert_eq!(
        store.raw_count("chaos_tombstones").await.expect("count"),
        0,
        "pruned after 1,000 generations"
    );
    let (generation, ..) = delta(&store, deleted_at - 1).await;
    assert_eq!(
        generation, None,
        "a reader behind the pruned tombstones reads all"
    );
    let (generation, ..) = delta(&store, deleted_at + 1).await;
    assert!(
        generation.is_some(),
        "a reader within the kept ones does not"
    );

    // Another store at the same generation (recreated, or restored from elsewhere): its
    // epoch differs.
    let now = store.generation().await.expect("generation");
    let counters = store.counters().await.expect("counters");
    let elsewhere = Position {
        generation: now,
        epoch: counters.epoch.wrapping_add(1),
    };
    assert!(
        matches!(
            store.changes_since(Some(elsewhere)).await.expect("changes"),
            Changes::All { .. }
        ),
        "another epoch reads everything"
    );

    // An id changed by hand leaves a tombstone for the old id.
    let before = store.generation().await.expect("generation");
    store
        .raw_execute(&format!(
            "UPDATE chaos_actions SET id = 9999 WHERE id = {b}"
        ))
        .await
        .expect("renumber by hand");
    store
        .raw_execute("UPDATE chaos_meta SET generation = generation + 1 WHERE id = 1")
        .await
        .expect("bump");
    let (_, changed, _, deleted) = delta(&store, before).await;
    assert_eq!((changed, deleted), (vec![9999], vec![b]));

    // TRUNCATE fires no row trigger (PostgreSQL): every reader reads everything.
    if backend_of(url) == "postgres" {
        let before = store.generation().await.expect("generation");
        store
            .raw_execute("TRUNCATE chaos_actions")
            .await
            .expect("truncate");
        create(&store, &slow("after", 1, 2)).await;
        let (generation, ..) = delta(&store, before).await;
        assert_eq!(generation, None, "after a TRUNCATE, a reader reads all");
    }
    store.close().await;
}

/// What the CLI accepts, every backend stores (MySQL's TEXT holds only 64 KB): the
/// longest body, a body of 4-byte characters, hundreds of long user names, and one
/// audited write of 12,000 ids.
async fn large_values_fit_every_backend(url: &str) {
    let store = open(url).await;
    let longest = "a".repeat(65_536);
    let emoji = "\u{1F600}".repeat(16_384);
    for body in [&longest, &emoji] {
        let id = create(&store, &ret("health", 418, Some(body))).await;
        match action(&store, id).await.spec.fault {
            Fault::Return {
                body: Some(stored), ..
            } => assert_eq!(&stored, body),
            other => panic!("{other:?}"),
        }
    }
    let mut many_users = slow("items", 1, 2);
    many_users.users = (0..300)
        .map(|i| format!("{i:03}{}", "u".repeat(251)))
        .collect();
    let id = create(&store, &many_users).await;
    assert_eq!(action(&store, id).await.spec.users, many_users.users);

    let specs: Vec<ActionSpec> = (0..12_000).map(|i| slow(&format!("v{i}"), 1, 2)).collect();
    let ids = store.create_many(&specs).await.expect("create 12,000");
    let changed = store
        .set_enabled(&Selection::Ids(ids.clone()), false)
        .await
        .expect("disable 12,000 by id (one audit row naming them all)");
    assert_eq!(changed, 12_000);
    store.close().await;
}

/// MySQL: a user allowed only SELECT can read the store (opening it writes nothing when
/// the schema is up to date).
#[tokio::test]
async fn mysql_read_only_user_can_read() {
    use sqlx::Connection;
    let Some(db) = chaos_middleware::testing::TempDatabase::mysql_from_env().await else {
        return;
    };
    let store = open(db.url()).await;
    create(&store, &ret("items", 503, None)).await;
    store.close().await;
    let user = format!("ro{}", std::process::id());
    let admin_url = std::env::var(chaos_middleware::testing::MYSQL_URL_VAR).expect("url");
    let mut admin = sqlx::MySqlConnection::connect(&admin_url)
        .await
        .expect("admin connection");
    for sql in [
        format!("DROP USER IF EXISTS '{user}'@'%'"),
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'read-only'"),
        format!("GRANT SELECT ON `{}`.* TO '{user}'@'%'", db.name()),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
    }
    let url = format!("mysql://{user}:read-only@127.0.0.1:3306/{}", db.name());
    let reader = Store::connect_for_reading(&url)
        .await
        .unwrap_or_else(|err| panic!("a read-only user opens the store: {err}"));
    let listing = reader.list().await.expect("a read-only user lists");
    assert_eq!(listing.actions.len(), 1);
    reader.close().await;
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP USER '{user}'@'%'")))
        .execute(&mut admin)
        .await;
    let _ = admin.close().await;
    db.drop_db().await;
}

/// URLs of a supported backend that cannot work: bad input naming what is wrong, before
/// any connection is tried, password hidden.
#[tokio::test]
async fn malformed_urls_are_invalid() {
    for (url, reason) in [
        ("mysql://root:hunter2@127.0.0.1:1/", "names no database"),
        ("mysql://root:hunter2@127.0.0.1:1", "names no database"),
        ("mysql://root:hunter2@127.0.0.1:99999/x", "99999"),
        ("postgres://postgres:hunter2@127.0.0.1:99999/x", "99999"),
        ("mysql://root:hunter2@127.0.0.1/x?ssl-mode=bogus", "bogus"),
    ] {
        match Store::connect(url).await {
            Err(err @ StoreError::InvalidUrl { .. }) => {
                let message = err.to_string();
                assert!(!message.contains("hunter2"), "password leaked: {message}");
                assert!(message.contains(reason), "{url}: {message}");
                assert!(
                    !message.contains("error with configuration: error"),
                    "{message}"
                );
            }
            other => panic!("{url} must be invalid, got {other:?}"),
        }
    }
}

/// URL schemes are case-insensitive (RFC 3986, 3.1).
#[tokio::test]
async fn upper_case_schemes_are_accepted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url =
        chaos_middleware::testing::temp_sqlite_url(dir.path()).replacen("sqlite", "SQLite", 1);
    let store = open(&url).await;
    assert_eq!(store.backend_name(), "sqlite");
    store.close().await;
    if let Some(db) = chaos_middleware::testing::TempDatabase::from_env().await {
        let upper = db.url().replacen("postgres", "PostgreSQL", 1);
        let store = open(&upper).await;
        assert_eq!(store.backend_name(), "postgres");
        store.close().await;
        db.drop_db().await;
    }
}

/// A start and a window are stored and read back (the SQLite aggregate and the row by
/// row reader alike); a hand-edited window or a start after the expiry makes the row
/// broken, naming the column, and the other rows still load.
async fn windows_round_trip(url: &str) {
    let store = open(url).await;
    let mut spec = slow("office", 1, 2);
    spec.window = Some(
        chaos_middleware::schedule::Window::parse(
            chaos_middleware::Naming::Flags,
            &["09:00-12:00".to_owned(), "13:00-17:00".to_owned()],
            Some("mon-fri"),
            Some("Europe/Berlin"),
        )
        .expect("valid window"),
    );
    spec.starts_at = Some(4_070_908_800_000);
    let id = create(&store, &spec).await;
    let stored = action(&store, id).await;
    assert_eq!(stored.spec, spec);
    assert_eq!(
        stored.spec.window.map(|w| w.to_string()).as_deref(),
        Some("09:00-12:00,13:00-17:00 mon-fri Europe/Berlin")
    );
    let plain = create(&store, &slow("plain", 1, 2)).await;
    assert_eq!(action(&store, plain).await.spec.window, None);
    // A start after the expiry is refused on write.
    let mut backwards = slow("backwards", 1, 2);
    backwards.starts_at = Some(2_000_000_000_000);
    backwards.expires_at = Some(1_900_000_000_000);
    let err = store
        .create(&backwards)
        .await
        .expect_err("start after expiry");
    assert!(err.to_string().contains("starts at"), "{err}");
    for (sql, needle) in [
        (
            "UPDATE chaos_actions SET active_window = 'whenever' WHERE target = 'office'",
            "active_window is invalid: window 'whenever' is malformed",
        ),
        (
            "UPDATE chaos_actions SET active_window = '09:00-17:00 mon-fri Mars/Base' WHERE target = 'office'",
            "unknown tz 'Mars/Base'",
        ),
        (
            "UPDATE chaos_actions SET active_window = NULL, starts_at = 5, expires_at = 4 WHERE target = 'office'",
            "starts at",
        ),
    ] {
        store.raw_execute(sql).await.expect("hand edit");
        let listing = list(&store).await;
        assert_eq!(listing.corrupt.len(), 1, "{sql}: {:?}", listing.corrupt);
        assert_eq!(listing.corrupt[0].id, Some(id));
        assert!(
            listing.corrupt[0].reason.contains(needle),
            "{sql}: {:?}",
            listing.corrupt
        );
        assert_eq!(
            listing.actions.iter().map(|a| a.id).collect::<Vec<_>>(),
            [plain]
        );
    }
}
