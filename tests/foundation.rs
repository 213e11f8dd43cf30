//! Foundation end to end: the real `demo-app` and `chaos-admin` binaries over real sockets,
//! on SQLite and on PostgreSQL. A change made by the CLI reaches the running app without
//! a restart.

use std::time::Duration;

use e2e::{DemoApp, TestStore, admin, admin_ok, poll};

const SLOW_MIN: Duration = Duration::from_millis(200);

fn slow_then_return_then_disable(store: &TestStore) {
    let url = store.url();
    let app = DemoApp::start(url);
    let baseline = app.get("/items");
    assert_eq!(baseline.status, 200, "{}", baseline.body);

    // slow: GET /items takes 200-300 ms once the change is applied.
    let id = admin_ok(
        url,
        &["create", "response", "slow", "items", "200ms", "300ms"],
    );
    let id: i64 = id.trim().parse().expect("create prints the new id");
    assert!(id > 0);
    let (_, applied_after) = poll("the slow action to apply", || {
        let response = app.get("/items");
        (response.elapsed >= SLOW_MIN).then_some(response)
    });
    println!("slow applied {applied_after:?} after the CLI returned ({url})");
    for _ in 0..5 {
        let response = app.get("/items");
        assert_eq!(response.status, 200);
        // The lower bound is exact (an async sleep never ends early); the exact upper bound
        // is covered with paused time in the layer tests, here we only rule out a hang.
        assert!(
            response.elapsed >= SLOW_MIN && response.elapsed < Duration::from_secs(2),
            "GET /items took {:?}",
            response.elapsed
        );
    }
    // Other views are not slowed.
    let detail = app.get("/items/1");
    assert_eq!(detail.status, 200);
    assert!(
        detail.elapsed < SLOW_MIN,
        "item_detail took {:?}",
        detail.elapsed
    );

    // return: POST /checkout answers 401 and the handler does not run.
    admin_ok(url, &["create", "return", "checkout", "401"]);
    poll("the forced 401 on checkout", || {
        (app.post("/checkout").status == 401).then_some(())
    });
    let checkouts_before = app.checkouts();
    for _ in 0..3 {
        assert_eq!(app.post("/checkout").status, 401);
    }
    assert_eq!(
        app.checkouts(),
        checkouts_before,
        "the checkout handler ran despite the forced 401"
    );

    // disable --all response: back to normal.
    let said = admin_ok(url, &["disable", "--all", "response"]);
    assert!(said.contains('2'), "disable output: {said}");
    poll("checkout to answer 200 again", || {
        (app.post("/checkout").status == 200).then_some(())
    });
    poll("items to be fast again", || {
        let response = app.get("/items");
        (response.status == 200 && response.elapsed < SLOW_MIN).then_some(())
    });
    assert_eq!(app.checkouts(), checkouts_before + 1);
}

fn invalid_commands_write_nothing(store: &TestStore) {
    let url = store.url();
    admin_ok(url, &["create", "return", "items", "503", "--disabled"]);
    let before = admin_ok(url, &["list", "--json"]);
    let bad: [&[&str]; 6] = [
        &["create", "response", "slow", "items", "300ms", "200ms"],
        &["create", "response", "slow", "items", "soon", "1s"],
        &["create", "return", "checkout", "600"],
        &["create", "response", "explode", "items"],
        &["create", "return", "items", "503", "--probability", "150%"],
        &["enable", "1", "999"],
    ];
    for args in bad {
        let output = admin(url, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
    assert_eq!(admin_ok(url, &["list", "--json"]), before);
}

#[test]
fn sqlite_slow_return_disable() {
    slow_then_return_then_disable(&TestStore::sqlite());
}

#[test]
fn sqlite_invalid_commands_write_nothing() {
    invalid_commands_write_nothing(&TestStore::sqlite());
}

#[test]
fn postgres_slow_return_disable() {
    if let Some(store) = TestStore::postgres() {
        slow_then_return_then_disable(&store);
    }
}

#[test]
fn postgres_invalid_commands_write_nothing() {
    if let Some(store) = TestStore::postgres() {
        invalid_commands_write_nothing(&store);
    }
}

#[test]
fn mysql_slow_return_disable() {
    if let Some(store) = TestStore::mysql() {
        slow_then_return_then_disable(&store);
    }
}

#[test]
fn mysql_invalid_commands_write_nothing() {
    if let Some(store) = TestStore::mysql() {
        invalid_commands_write_nothing(&store);
    }
}
