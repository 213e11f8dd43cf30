//! The demo binary on its own: it serves every named view, and it serves even when its
//! chaos store cannot be reached. (Being an integration test of this package also makes
//! `cargo test --workspace` build the `demo-app` binary the end-to-end tests start.)

use e2e::{DemoApp, TestStore};

#[test]
fn serves_every_view() {
    // CARGO_BIN_EXE_ is only set for this package's own tests; the helper finds the same file.
    assert!(std::path::Path::new(env!("CARGO_BIN_EXE_demo-app")).exists());
    let store = TestStore::sqlite();
    let app = DemoApp::start(store.url());
    let index = app.get("/");
    assert_eq!(index.status, 200);
    let views: Vec<String> = index.json()["views"]
        .as_array()
        .expect("views list")
        .iter()
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        views,
        [
            "index",
            "items",
            "item_detail",
            "checkout",
            "health",
            "provider",
            "consumer_before",
            "consumer_after"
        ]
    );
    assert_eq!(app.get("/provider").json()["item_id"], 3);
    let before = app.get("/consumer_before");
    assert_eq!(
        (before.status, before.json()["source"].clone()),
        (200, "provider".into())
    );
    let after = app.get("/consumer_after");
    assert_eq!(
        (after.status, after.json()["source"].clone()),
        (200, "provider".into())
    );
    assert_eq!(
        app.get("/items").json()["items"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(app.get("/items/2").json()["name"], "latency socks");
    assert_eq!(app.get("/items/99").status, 404);
    assert_eq!(app.post("/checkout").json()["order"], 1);
    assert_eq!(app.get("/health").json()["checkouts"], 1);
    assert_eq!(app.get("/nowhere").status, 404);
}

#[test]
fn serves_without_a_reachable_store() {
    // Port 1 on loopback refuses connections: no chaos, but the shop works.
    let app = DemoApp::start("postgres://postgres@127.0.0.1:1/nowhere");
    for _ in 0..3 {
        assert_eq!(app.get("/items").status, 200);
    }
}
