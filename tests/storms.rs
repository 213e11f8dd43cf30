//! Storms and exercises end to end: the real `demo-app` and `chaos-admin` over real
//! sockets.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use e2e::{DemoApp, HttpResponse, TestStore, admin_ok, poll};
use serde_json::Value;

/// The views a storm is aimed at in these tests: (view, method, path).
const STORM_VIEWS: [(&str, &str, &str); 3] = [
    ("items", "GET", "/items"),
    ("item_detail", "GET", "/items/1"),
    ("checkout", "POST", "/checkout"),
];

/// Requests per view within which alice must be hit, and the length of the clean runs.
const BOUNDED_REQUESTS: usize = 5;
const CLEAN_RUN: usize = 10;

fn as_user(app: &DemoApp, method: &str, path: &str, user: &str) -> std::io::Result<HttpResponse> {
    app.request(method, path, &[("x-demo-user", user)])
}

/// Whether a response shows an injected fault: no response at all, a status other than
/// 2xx, or a delay of at least `min_delay`.
fn is_hit(response: &std::io::Result<HttpResponse>, min_delay: Duration) -> bool {
    match response {
        Err(_) => true,
        Ok(r) => !(200..300).contains(&r.status) || r.elapsed >= min_delay,
    }
}

/// Whether `user` gets a clean answer. A slow answer is asked again once: a real fault at
/// 100% would be slow again, while a machine hiccup is not.
fn is_clean(app: &DemoApp, method: &str, path: &str, user: &str, min_delay: Duration) -> bool {
    for _ in 0..2 {
        match as_user(app, method, path, user) {
            Err(_) => return false,
            Ok(r) if !(200..300).contains(&r.status) => return false,
            Ok(r) if r.elapsed < min_delay => return true,
            Ok(_) => {}
        }
    }
    false
}

/// The shortest delay any `slow` action in `actions` can inject (or `fallback`).
fn shortest_delay(actions: &[Value], fallback: Duration) -> Duration {
    actions
        .iter()
        .filter_map(|a| a["min_ms"].as_u64())
        .min()
        .map_or(fallback, Duration::from_millis)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

#[test]
fn storm_hits_alice_on_several_views_never_bob_and_ends() {
    let store = TestStore::sqlite();
    let url = store.url();
    let app = DemoApp::start(url);
    let storm = json(&admin_ok(
        url,
        &[
            "storm",
            "--user",
            "alice",
            "--probability",
            "100%",
            "--intensity",
            "high",
            "--view",
            "items",
            "--view",
            "item_detail",
            "--view",
            "checkout",
            "--seed",
            "7",
            "--json",
        ],
    ));
    let actions = storm["actions"].as_array().expect("actions").clone();
    assert_eq!(actions.len(), 12, "three views, four actions each");
    let min_delay = shortest_delay(&actions, Duration::from_millis(100));
    assert!(min_delay >= Duration::from_millis(100), "{min_delay:?}");

    // The app picks the storm up.
    poll("the storm to reach the app", || {
        is_hit(&as_user(&app, "GET", "/items", "alice"), min_delay).then_some(())
    });

    // Alice: each view fails (or is slowed) within a bounded number of requests.
    let mut hit_views = Vec::new();
    for (view, method, path) in STORM_VIEWS {
        let hit =
            (0..BOUNDED_REQUESTS).any(|_| is_hit(&as_user(&app, method, path, "alice"), min_delay));
        if hit {
            hit_views.push(view);
        }
    }
    assert!(hit_views.len() >= 2, "alice was hit only on {hit_views:?}");

    // Bob, over the same number of requests per view: nothing at all.
    for (view, method, path) in STORM_VIEWS {
        for _ in 0..BOUNDED_REQUESTS {
            assert!(
                is_clean(&app, method, path, "bob", min_delay),
                "bob was hit on {view}"
            );
        }
    }
    // Alice's other views are untouched: the storm covers the views it was given.
    for _ in 0..BOUNDED_REQUESTS {
        assert!(is_clean(&app, "GET", "/", "alice", min_delay));
        assert!(is_clean(&app, "GET", "/health", "alice", min_delay));
    }

    let ended = admin_ok(url, &["storm", "--end"]);
    assert_eq!(ended, "storm ended: removed 12 actions\n");
    poll("alice to be left alone after storm --end", || {
        STORM_VIEWS
            .iter()
            .all(|(_, method, path)| is_clean(&app, method, path, "alice", min_delay))
            .then_some(())
    });
    for _ in 0..CLEAN_RUN {
        for (view, method, path) in STORM_VIEWS {
            assert!(
                is_clean(&app, method, path, "alice", min_delay),
                "alice still hit on {view} after storm --end"
            );
        }
    }
}

#[test]
fn storm_ends_by_itself() {
    let store = TestStore::sqlite();
    let url = store.url();
    let app = DemoApp::start(url);
    let storm = json(&admin_ok(
        url,
        &[
            "storm",
            "--user",
            "alice",
            "--for",
            "2s",
            "--probability",
            "100%",
            "--intensity",
            "high",
            "--view",
            "items",
            "--seed",
            "3",
            "--json",
        ],
    ));
    let actions = storm["actions"].as_array().expect("actions").clone();
    let min_delay = shortest_delay(&actions, Duration::from_millis(100));
    poll("the storm to reach the app", || {
        is_hit(&as_user(&app, "GET", "/items", "alice"), min_delay).then_some(())
    });
    // Nobody runs `storm --end`: the storm expires on its own.
    poll("the storm to end by itself", || {
        is_clean(&app, "GET", "/items", "alice", min_delay).then_some(())
    });
    for _ in 0..CLEAN_RUN {
        assert!(is_clean(&app, "GET", "/items", "alice", min_delay));
    }
    let listed = json(&admin_ok(url, &["list", "--json"]));
    let listed = listed.as_array().expect("array");
    assert_eq!(listed.len(), actions.len());
    assert!(listed.iter().all(|a| a["state"] == "expired"), "{listed:?}");
    // A bulk enable must not bring the ended storm back.
    let said = admin_ok(url, &["enable", "--all"]);
    assert!(
        said.starts_with("enabled 0 actions (") && said.ends_with(" expired, left as they are)\n"),
        "{said}"
    );
    let status = json(&admin_ok(url, &["status", "--json"]));
    let generation = status["generation"].clone();
    poll("the app to apply the enable", || {
        let status = json(&admin_ok(url, &["status", "--json"]));
        status["instances"]
            .as_array()
            .and_then(|i| i.first())
            .is_some_and(|i| i["applied_generation"] == generation)
            .then_some(())
    });
    for _ in 0..CLEAN_RUN {
        assert!(is_clean(&app, "GET", "/items", "alice", min_delay));
    }
}

/// The raw response head of `GET path` (empty when the connection was dropped).
fn raw_head(port: u16, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return String::new();
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

#[test]
fn exercise_is_hidden_until_revealed_and_end_stops_it() {
    let store = TestStore::sqlite();
    let url = store.url();
    let app = DemoApp::start(url);
    admin_ok(
        url,
        &[
            "exercise",
            "start",
            "--view",
            "items",
            "--probability",
            "100%",
            "--seed",
            "9",
        ],
    );
    let hidden = [
        admin_ok(url, &["list"]),
        admin_ok(url, &["list", "--json"]),
        admin_ok(url, &["show", "1"]),
        admin_ok(url, &["show", "1", "--json"]),
    ];
    // Exercise faults are at least 500ms slow when they are slow at all.
    let min_delay = Duration::from_millis(500);
    poll("the exercise to break /items", || {
        is_hit(&app.request("GET", "/items", &[]), min_delay).then_some(())
    });
    // Everyone is affected, and nothing in the response says it is chaos.
    assert!(!is_clean(&app, "GET", "/items", "carol", min_delay));
    let head = raw_head(app.port, "/items").to_ascii_lowercase();
    assert!(
        !head.contains("chaos"),
        "a chaos marker in the response: {head}"
    );

    let reveal = admin_ok(url, &["exercise", "reveal"]);
    let revealed = json(&admin_ok(url, &["list", "--json"]));
    let fault = &revealed[0];
    assert_eq!(fault["target"], "items");
    let verb = fault["verb"].as_str().expect("verb").to_owned();
    assert!(
        reveal.contains("items") && reveal.contains(&verb),
        "{reveal}"
    );
    for output in &hidden {
        assert!(output.contains("hidden"), "{output}");
        assert!(!output.contains("items"), "the view leaks: {output}");
        assert!(!output.contains(&verb), "the verb leaks: {output}");
    }

    let end = admin_ok(url, &["exercise", "end"]);
    assert!(end.contains("removed 1 action"), "{end}");
    poll("/items to recover after exercise end", || {
        is_clean(&app, "GET", "/items", "carol", min_delay).then_some(())
    });
    for _ in 0..CLEAN_RUN {
        assert!(is_clean(&app, "GET", "/items", "carol", min_delay));
        assert_eq!(app.get("/items").status, 200);
    }
    let listed = admin_ok(url, &["list"]);
    assert!(
        listed.starts_with("store: ") && listed.ends_with("\nno chaos actions\n"),
        "{listed}"
    );
}

#[test]
fn storm_without_views_covers_every_registered_view() {
    let store = TestStore::sqlite();
    let url = store.url();
    let _app = DemoApp::start(url);
    let (registered, _) = poll("the demo app to register its views", || {
        let views = json(&admin_ok(url, &["views", "--json"]));
        let mut names: Vec<String> = views
            .as_array()?
            .iter()
            .filter_map(|v| v["name"].as_str().map(str::to_owned))
            .collect();
        names.sort_unstable();
        names.dedup();
        (!names.is_empty()).then_some(names)
    });
    let storm = json(&admin_ok(
        url,
        &[
            "storm",
            "--user",
            "alice",
            "--seed",
            "5",
            "--intensity",
            "low",
            "--json",
        ],
    ));
    let mut targets: Vec<String> = storm["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a["target"].as_str().map(str::to_owned))
        .collect();
    targets.sort_unstable();
    targets.dedup();
    assert_eq!(targets, registered, "{storm}");
    assert!(!targets.contains(&"*".to_owned()));
}
