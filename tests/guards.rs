//! Guards end to end, with the real binaries: a point `error` on the demo's data access
//! makes `/items` answer its own 503s (the app's, not injected by the layer); with a guard
//! at 20 % the instance that sees them trips it within the window, every action stops on
//! both instances, `status` and `list` say so, and `guard reset` re-arms them.

use e2e::{DemoApp, TestStore, admin, admin_ok, poll};
use serde_json::Value;

/// Thousands of requests: log only warnings.
const QUIET: &[(&str, &str)] = &[("RUST_LOG", "warn")];

#[test]
fn sqlite_a_guard_stops_chaos_on_every_instance_and_reset_rearms() {
    a_guard_stops_chaos_on_every_instance_and_reset_rearms(&TestStore::sqlite());
}

#[test]
fn postgres_a_guard_stops_chaos_on_every_instance_and_reset_rearms() {
    if let Some(store) = TestStore::postgres() {
        a_guard_stops_chaos_on_every_instance_and_reset_rearms(&store);
    }
}

fn a_guard_stops_chaos_on_every_instance_and_reset_rearms(store: &TestStore) {
    let url = store.url();
    let one = DemoApp::start_with_env(url, QUIET);
    let two = DemoApp::start_with_env(url, QUIET);
    admin_ok(
        url,
        &["guard", "set", "--max-error-rate", "20%", "--window", "10s"],
    );
    admin_ok(url, &["create", "point", "error", "db.items"]);
    admin_ok(url, &["create", "return", "checkout", "418"]);
    for app in [&one, &two] {
        poll("the point error on items", || {
            (app.get("/items").status == 503).then_some(())
        });
        poll("the 418 on checkout", || {
            (app.post("/checkout").status == 418).then_some(())
        });
    }
    // Only instance one sees its users hurt: its own 503s (from its data access).
    let (_, took) = poll("instance one to trip the guard", || {
        (one.get("/items").status == 200).then_some(())
    });
    println!("tripped {took:?} after the first 503s");
    // The store says so, naming instance one; instance two stops too.
    let guards: Value =
        serde_json::from_str(&admin_ok(url, &["guard", "list", "--json"])).expect("JSON");
    let trip = &guards[0]["tripped"];
    assert!(
        trip["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("error rate 100%")),
        "{guards}"
    );
    poll("instance two to stop", || {
        (two.get("/items").status == 200 && two.post("/checkout").status == 200).then_some(())
    });
    assert_eq!(one.post("/checkout").status, 200, "every action stopped");
    for command in [&["status"][..], &["list"][..], &["guard", "list"][..]] {
        let text = admin_ok(url, command);
        assert!(
            text.starts_with("GUARD TRIPPED: guard 1 on every view"),
            "{command:?}: {text}"
        );
    }
    // Bad input: one clear error, exit 2, nothing written.
    for (args, says) in [
        (
            &["guard", "set", "--max-error-rate", "150%"][..],
            "max error rate '150%' is not a rate",
        ),
        (&["guard", "set", "--window", "10s"][..], "needs a limit"),
        (
            &["guard", "set", "--max-p99", "2s", "--window", "2s"][..],
            "window 2s is out of range",
        ),
        (&["guard", "clear", "99"][..], "unknown"),
    ] {
        let output = admin(url, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // Reset: both inject again.
    let reset = admin_ok(url, &["guard", "reset"]);
    assert!(reset.starts_with("re-armed 1 guard(s)"), "{reset}");
    for app in [&one, &two] {
        poll("chaos to resume", || {
            (app.post("/checkout").status == 418).then_some(())
        });
    }
    assert!(!admin_ok(url, &["status"]).contains("GUARD TRIPPED"));
}
