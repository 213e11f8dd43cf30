//! `chaos_point` consults the last enabled layer built in the process. Alone in its own
//! test binary so no other test's layer replaces it.

use chaos_middleware::{Action, ActionSpec, ChaosLayer, Fault, Kind, chaos_point};

#[tokio::test]
async fn chaos_point_uses_the_enabled_layer() {
    // Before any layer exists, a point is a no-op.
    assert_eq!(chaos_point("db.items").await, Ok(()));
    let enabled = ChaosLayer::builder().enabled(true).build().expect("builds");
    let error = Action::new(
        9,
        ActionSpec::new(Kind::Point, "db.items", Fault::Error { message: None }),
    );
    enabled.handle().apply(Some(1), &[error]);
    let err = chaos_point("db.items").await.expect_err("fires");
    assert_eq!(err.action_id, 9);
    assert_eq!(chaos_point("db.other").await, Ok(()));
    // A disabled layer built later does not take over.
    let _disabled = ChaosLayer::builder().build().expect("builds");
    assert!(chaos_point("db.items").await.is_err());
}
