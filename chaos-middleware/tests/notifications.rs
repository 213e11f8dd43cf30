//! The notification queue on every backend: events are queued per interested webhook
//! (once-keys once), claimed by one deliverer at a time, retried with backoff and given up
//! after the last attempt; the counts `notify list` shows follow.

use chaos_middleware::Store;
use chaos_middleware::notification::{Event, EventKind, MAX_ATTEMPTS};
use chaos_middleware::store::backoff_ms;

chaos_middleware::per_backend!(deliveries_are_claimed_once_retried_and_given_up);

async fn deliveries_are_claimed_once_retried_and_given_up(url: &str) {
    let store = Store::connect(url).await.expect("store opens");
    let all = store
        .add_webhook("http://127.0.0.1:9/all", &[])
        .await
        .expect("add");
    let guards = store
        .add_webhook("https://example.invalid/g", &["guard.*".to_owned()])
        .await
        .expect("add");
    assert!(store.has_webhooks().await.expect("read"));
    let test = Event::new(EventKind::Test, "t");
    assert_eq!(
        store.emit(&test).await.expect("emit"),
        1,
        "only `all` wants it"
    );
    let expiry = Event::new(EventKind::ActionExpired, "x").once("expired:1:5");
    assert_eq!(store.emit(&expiry).await.expect("emit"), 1);
    assert_eq!(
        store.emit(&expiry).await.expect("emit"),
        0,
        "once per webhook"
    );
    let trip = Event::new(EventKind::GuardTripped, "g");
    assert_eq!(store.emit(&trip).await.expect("emit"), 2);
    assert_eq!(store.pending_deliveries().await.expect("read"), 4);

    let now = chaos_middleware::action::now_ms();
    // One at a time per webhook, oldest first: `all` gets the test event, `guards` its
    // trip; the rest of `all`'s queue waits behind its head (events stay in order).
    let claimed = store.claim_deliveries(now).await.expect("claim");
    let heads: Vec<(i64, i64)> = claimed.iter().map(|d| (d.webhook_id, d.attempts)).collect();
    assert_eq!(heads, [(all, 1), (guards, 1)]);
    assert!(
        store.claim_deliveries(now).await.expect("claim").is_empty(),
        "leased: nobody else gets them, and nothing overtakes a webhook's head"
    );
    store
        .finish_delivery(&claimed[1], Ok(()), now)
        .await
        .expect("finish");
    // The head of `all` fails every time: retried after 1 s, 2 s, 4 s, ... then given up.
    let mut delivery = claimed[0].clone();
    let mut at = now;
    loop {
        store
            .finish_delivery(&delivery, Err("HTTP 500".to_owned()), at)
            .await
            .expect("finish");
        if delivery.attempts == MAX_ATTEMPTS {
            break;
        }
        let wait = backoff_ms(delivery.attempts);
        assert!(
            store
                .claim_deliveries(at + wait - 1)
                .await
                .expect("claim")
                .is_empty(),
            "not before its backoff"
        );
        at += wait;
        let again = store.claim_deliveries(at).await.expect("claim");
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].id, delivery.id);
        assert_eq!(again[0].body, delivery.body, "the same body");
        assert_eq!(again[0].attempts, delivery.attempts + 1);
        delivery = again[0].clone();
    }
    // Given up: the next two of `all` follow, in order.
    for expected in ["x", "g"] {
        let next = store.claim_deliveries(at).await.expect("claim");
        assert_eq!(next.len(), 1, "{next:?}");
        assert!(
            next[0].body.contains(&format!("chaos-rs: {expected}")),
            "{next:?}"
        );
        store
            .finish_delivery(&next[0], Ok(()), at)
            .await
            .expect("finish");
    }
    assert!(
        store
            .claim_deliveries(at + 3_600_000)
            .await
            .expect("claim")
            .is_empty()
    );
    assert_eq!(store.pending_deliveries().await.expect("read"), 0);
    let hooks = store.webhooks().await.expect("list");
    let by_id = |id: i64| hooks.iter().find(|h| h.id == id).expect("listed");
    assert_eq!((by_id(all).delivered, by_id(all).failed), (2, 1));
    assert!(
        by_id(all)
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("HTTP 500") && e.contains("gave up after 6 attempts")),
        "{hooks:?}"
    );
    assert_eq!((by_id(guards).delivered, by_id(guards).failed), (1, 0));
    assert_eq!(by_id(guards).events, ["guard.*"]);
    // Removing: an unknown id is refused; removing drops the queue too.
    let err = store.remove_webhooks(Some(999)).await.expect_err("unknown");
    assert!(err.to_string().contains("unknown webhook id 999"), "{err}");
    assert_eq!(store.emit(&test).await.expect("emit"), 1);
    assert_eq!(store.remove_webhooks(None).await.expect("remove"), 2);
    assert_eq!(store.pending_deliveries().await.expect("read"), 0);
    assert!(!store.has_webhooks().await.expect("read"));
    // The same URL twice is refused (every event would arrive twice).
    let first = store
        .add_webhook("http://127.0.0.1:9/dup", &[])
        .await
        .expect("add");
    let err = store
        .add_webhook("http://127.0.0.1:9/dup", &["test".to_owned()])
        .await
        .expect_err("duplicate");
    assert!(
        err.to_string()
            .contains(&format!("webhook {first} already posts to")),
        "{err}"
    );
    // An event that happened before a webhook was added is not told to it.
    let old = Event::new(EventKind::ActionExpired, "old").happened_at(1_000);
    assert_eq!(store.emit(&old).await.expect("emit"), 0);
    // A row edited by hand into something unreadable is listed with its problem and
    // told nothing; the others go on.
    let second = store
        .add_webhook("http://127.0.0.1:9/ok", &[])
        .await
        .expect("add");
    store
        .raw_execute(&format!(
            "UPDATE chaos_webhooks SET events = 'not json' WHERE id = {first}"
        ))
        .await
        .expect("hand edit");
    let hooks = store.webhooks().await.expect("list despite the bad row");
    let broken = hooks.iter().find(|h| h.id == first).expect("listed");
    assert!(
        broken
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("'not json'")),
        "{hooks:?}"
    );
    assert_eq!(
        store.emit(&test).await.expect("emit"),
        1,
        "only the good one"
    );
    assert!(hooks.iter().any(|h| h.id == second && h.problem.is_none()));
    store.remove_webhooks(None).await.expect("remove");
    for bad in ["ftp://x", "nonsense"] {
        assert!(store.add_webhook(bad, &[]).await.is_err(), "{bad}");
    }
    assert!(
        store
            .add_webhook("http://x/", &["nope".to_owned()])
            .await
            .is_err()
    );
    assert!(
        store.webhooks().await.expect("list").is_empty(),
        "nothing half-written"
    );
}
