//! Experiments as Rust tests: the demo app runs in this process, and the Chaos Toolkit
//! experiment `examples/experiments/provider-down.json` runs against it through the
//! `chaos_admin_cli` library, as a team would check its own app in `cargo test`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chaos_admin_cli::experiment::ExperimentRun;
use chaos_middleware::{ChaosLayer, Store};

/// Serves the demo on a loopback port with the chaos layer on `database_url`; returns
/// its base URL once the instance has registered in the store (so a chaos action can be
/// confirmed applied).
async fn start_demo(database_url: &str) -> String {
    let chaos = ChaosLayer::builder()
        .enabled(true)
        .database_url(database_url)
        .views(demo_app::views())
        .build()
        .expect("the chaos layer builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let base_url = format!("http://{}", listener.local_addr().expect("address"));
    let app = demo_app::router(chaos, &base_url, demo_app::Wiring::default());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let store = Store::connect(database_url).await.expect("the store opens");
    let deadline = Instant::now() + Duration::from_secs(15);
    while store.instances().await.expect("instances").is_empty() {
        assert!(Instant::now() < deadline, "the demo never registered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    store.close().await;
    base_url
}

fn provider_down() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/experiments/provider-down.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_with_a_fallback_survives_the_provider_going_down() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}", dir.path().join("chaos.db").display());
    let base_url = start_demo(&database_url).await;

    let run_with = |consumer: &'static str| {
        ExperimentRun::new(provider_down())
            .var("base_url", base_url.as_str())
            .var("consumer", consumer)
            .database_url(&database_url)
            .run()
    };
    let journal = run_with("consumer_after")
        .await
        .expect("the experiment is valid");
    assert!(
        journal.succeeded(),
        "status {}, deviated {}",
        journal.status.as_str(),
        journal.deviated
    );
    assert!(
        !journal.run.is_empty() && journal.run.iter().all(|r| r.status == Some("succeeded")),
        "the method ran: {:?}",
        journal.run
    );

    // Without the fallback the same experiment finds the weakness: the test can fail.
    let journal = run_with("consumer_before")
        .await
        .expect("the experiment is valid");
    assert!(journal.deviated, "status {}", journal.status.as_str());
    assert!(!journal.succeeded());
}
