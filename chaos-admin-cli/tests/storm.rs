//! `storm` and `exercise` through the real `chaos-admin` binary, on a fresh SQLite file
//! and (when `CHAOS_TEST_POSTGRES_URL` is set) a throwaway PostgreSQL database.

mod support;

use serde_json::Value;
use support::{Cli, on_every_backend};

#[test]
fn bad_storm_and_exercise_input_exits_2_and_writes_nothing() {
    on_every_backend(|cli| {
        cli.ok(&["create", "return", "items", "503"]);
        let bad: &[(&[&str], &str)] = &[
            (&["storm"], "--user"),
            (&["storm", "--view", "items"], "--group"),
            (
                &["storm", "--user", "alice", "--intensity", "extreme"],
                "'extreme'",
            ),
            (
                &["storm", "--user", "alice", "--probability", "150%"],
                "'150%'",
            ),
            (&["storm", "--user", "alice", "--for", "0s"], "'0s'"),
            (&["storm", "--user", "alice", "--for", "soon"], "'soon'"),
            (&["storm", "--user", ""], "--user"),
            (&["storm", "--user", "alice", "--seed", "abc"], "abc"),
            (&["storm", "--end", "--user", "alice"], "--end"),
            (&["exercise", "start", "--for", "0s"], "'0s'"),
            (&["exercise", "start", "--faults", "0"], "0"),
            (&["exercise", "start", "--probability", "150%"], "'150%'"),
            (&["exercise", "start", "--view", ""], "--view"),
            (&["exercise", "hint"], "no exercise"),
            (&["exercise", "reveal"], "no exercise"),
            (&["exercise", "end"], "no exercise"),
            (&["exercise", "frobnicate"], "frobnicate"),
        ];
        for (args, needle) in bad {
            cli.refuses(args, needle);
        }
        // One exercise at a time.
        cli.ok(&["exercise", "start", "--view", "items"]);
        cli.refuses(
            &["exercise", "start", "--view", "checkout"],
            "already running",
        );
        assert_eq!(cli.list().len(), 2);
    });
}

fn storm_json(cli: &Cli, args: &[&str]) -> Value {
    let mut full = vec!["storm", "--json"];
    full.extend_from_slice(args);
    cli.json(&full)
}

/// What a storm does, without ids or times.
fn faults(storm: &Value) -> Vec<Value> {
    storm["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            let mut a = a.clone();
            for key in [
                "id",
                "created_at",
                "updated_at",
                "expires_at",
                "created_at_ms",
                "updated_at_ms",
                "expires_at_ms",
                "created_by",
            ] {
                a.as_object_mut().expect("object").remove(key);
            }
            a
        })
        .collect()
}

#[test]
fn storms_target_only_their_users_are_tagged_and_end() {
    on_every_backend(|cli| {
        let plain = cli.ok(&["create", "return", "items", "503"]);
        let args = [
            "--user", "alice", "--seed", "42", "--view", "items", "--view", "checkout",
        ];
        let first = storm_json(cli, &args);
        let actions = first["actions"].as_array().expect("actions");
        assert_eq!(actions.len(), 4, "two views, medium intensity: 2 each");
        assert_eq!(
            first["seed"], "42",
            "the seed is a string: it must replay exactly"
        );
        for action in actions {
            assert_eq!(action["users"], serde_json::json!(["alice"]), "{action}");
            assert_eq!(action["groups"], serde_json::json!([]), "{action}");
            assert_eq!(action["tag"], "storm");
            assert!(action["expires_at_ms"].as_i64().is_some(), "{action}");
            assert_eq!(action["probability"], 0.03);
            assert!(["items", "checkout"].contains(&action["target"].as_str().unwrap_or("")));
        }
        // The same seed and views give the same storm; another seed another one.
        let again = storm_json(cli, &args);
        assert_eq!(faults(&again), faults(&first));
        let other = storm_json(
            cli,
            &[
                "--user", "alice", "--seed", "43", "--view", "items", "--view", "checkout",
            ],
        );
        assert_ne!(faults(&other), faults(&first));

        // Intensity and groups.
        let high = storm_json(
            cli,
            &["--group", "qa", "--intensity", "high", "--seed", "1"],
        );
        let high = high["actions"].as_array().expect("actions");
        assert_eq!(high.len(), 4, "one view (*), four actions");
        assert!(high.iter().all(|a| a["target"] == "*"
            && a["groups"] == serde_json::json!(["qa"])
            && a["users"] == serde_json::json!([])
            && a["probability"] == 0.06));

        // The table names the seed when it was chosen for us; list shows the TAG column.
        let table = cli.ok(&["storm", "--user", "bob", "--intensity", "low"]);
        assert!(table.contains("--seed "), "{table}");
        assert!(table.contains("user bob"), "{table}");
        let list = cli.table();
        let header = list.lines().next().expect("header");
        assert!(header.contains("TAG"), "{list}");
        let storm_rows = list.lines().filter(|l| l.contains(" storm ")).count();
        assert_eq!(storm_rows, 4 + 4 + 4 + 4 + 1, "{list}");

        assert_eq!(
            cli.ok(&["storm", "--end"]),
            "storm ended: removed 17 actions\n"
        );
        let left = cli.list();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0]["id"].to_string(), plain.trim());
        assert_eq!(
            cli.ok(&["storm", "--end"]),
            "no storm to end: no storm actions are stored\n"
        );
    });
}

#[test]
fn exercises_hide_details_until_revealed_and_end() {
    on_every_backend(|cli| {
        let start = cli.ok(&[
            "exercise",
            "start",
            "--view",
            "orders_zz",
            "--seed",
            "5",
            "--probability",
            "100%",
        ]);
        assert!(start.contains("1 hidden fault"), "{start}");
        assert!(!start.contains("orders_zz"), "start gives it away: {start}");
        let listed = cli.list();
        assert_eq!(listed.len(), 1);
        let id = listed[0]["id"].as_i64().expect("id");
        let hidden_outputs = [
            cli.table(),
            cli.ok(&["list", "--json"]),
            cli.ok(&["show", &id.to_string()]),
            cli.ok(&["show", &id.to_string(), "--json"]),
            cli.ok(&["exercise", "status"]),
        ];
        assert_eq!(
            listed[0],
            serde_json::json!({"id": id, "state": "enabled", "hidden": true, "tag": "exercise"})
        );
        assert!(
            hidden_outputs[0].contains("hidden"),
            "{}",
            hidden_outputs[0]
        );

        // Hints get more specific and are remembered.
        let hint1 = cli.ok(&["exercise", "hint"]);
        assert!(
            hint1.contains("hint 1 of 2") && hint1.contains("view orders_zz"),
            "{hint1}"
        );
        let hint2 = cli.ok(&["exercise", "hint"]);
        assert!(
            hint2.contains("hint 2 of 2") && hint2.contains("orders_zz:"),
            "{hint2}"
        );
        for _ in 0..2 {
            let more = cli.ok(&["exercise", "hint"]);
            assert!(
                more.contains("no more hints") && more.contains("reveal"),
                "{more}"
            );
        }
        assert!(
            cli.ok(&["exercise", "status"])
                .contains("hints given 2 of 2")
        );
        // Still hidden after the hints.
        assert_eq!(cli.list()[0]["hidden"], true);

        let reveal = cli.ok(&["exercise", "reveal"]);
        assert!(
            reveal.contains("orders_zz") && reveal.contains("seed 5"),
            "{reveal}"
        );
        let full = cli.list();
        let verb = full[0]["verb"].as_str().expect("revealed verb").to_owned();
        assert_eq!(full[0]["target"], "orders_zz");
        assert!(reveal.contains(&verb), "{reveal}");
        let mut secrets = vec![
            "orders_zz".to_owned(),
            format!("\"{verb}\""),
            format!(" {verb} "),
        ];
        if let Some(status) = full[0]["status"].as_u64() {
            secrets.push(status.to_string());
        }
        if let Some(min) = full[0]["min_ms"].as_u64() {
            secrets.push(min.to_string());
        }
        for output in &hidden_outputs {
            for secret in &secrets {
                assert!(
                    !output.contains(secret.as_str()),
                    "{secret:?} leaks in {output}"
                );
            }
            assert!(!output.contains(&verb), "verb {verb} leaks in {output}");
        }

        let end = cli.ok(&["exercise", "end"]);
        assert!(end.contains("ended") && end.contains("orders_zz"), "{end}");
        assert!(end.contains("left until its end"), "{end}");
        assert!(end.contains("removed 1 action"), "{end}");
        assert!(cli.list().is_empty());
        assert_eq!(cli.ok(&["exercise", "status"]), "no exercise is running\n");
        // A new exercise may start now.
        cli.ok(&["exercise", "start", "--faults", "2", "--point", "db.items"]);
        assert_eq!(cli.list().len(), 2);
        cli.ok(&["exercise", "end"]);
    });
}

/// Polls `list --json` until every action listed is expired (a deadline, no fixed sleep).
fn wait_all_expired(cli: &Cli) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let listed = cli.list();
        if !listed.is_empty() && listed.iter().all(|a| a["state"] == "expired") {
            return listed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "actions never expired: {listed:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn states(cli: &Cli) -> Vec<(i64, String)> {
    cli.list()
        .iter()
        .map(|a| {
            (
                a["id"].as_i64().unwrap_or(0),
                a["state"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn expired_storms_and_exercises_are_never_revived_by_enable() {
    on_every_backend(|cli| {
        let ordinary = cli.create(&["return", "items", "503", "--for", "1s"]);
        cli.ok(&[
            "storm",
            "--user",
            "alice",
            "--view",
            "items",
            "--probability",
            "100%",
            "--for",
            "1s",
            "--seed",
            "1",
        ]);
        cli.ok(&[
            "exercise", "start", "--view", "checkout", "--for", "1s", "--seed", "2",
        ]);
        let listed = wait_all_expired(cli);
        let storm_id = listed
            .iter()
            .find(|a| a["tag"] == "storm")
            .and_then(|a| a["id"].as_i64())
            .expect("a storm action");
        let exercise_id = listed
            .iter()
            .find(|a| a["tag"] == "exercise")
            .and_then(|a| a["id"].as_i64())
            .expect("an exercise action");
        let before = states(cli);
        // Bulk enables revive nothing: every expiry stays as it was.
        for args in [
            &["enable", "--all"][..],
            &["enable", "--all", "response"][..],
            &["enable", "response", "items"][..],
            &["enable", "--all", "--for", "10m"][..],
        ] {
            let said = cli.ok(args);
            assert!(said.starts_with("enabled 0 actions ("), "{args:?}: {said}");
            assert!(
                said.ends_with(" expired, left as they are)\n"),
                "{args:?}: {said}"
            );
            assert_eq!(states(cli), before, "{args:?} revived something");
        }
        // By id, a storm's or exercise's action is refused; nothing is written.
        cli.refuses(&["enable", &storm_id.to_string()], "storm");
        cli.refuses(&["enable", &exercise_id.to_string()], "exercise");
        cli.refuses(
            &["enable", &ordinary.to_string(), &storm_id.to_string()],
            "storm",
        );
        // An ordinary action comes back when enabled by id, as documented.
        assert_eq!(
            cli.ok(&["enable", &ordinary.to_string()]),
            "enabled 1 action\n"
        );
        assert_eq!(cli.action(ordinary)["state"], "enabled");
        assert_eq!(cli.action(ordinary)["expires_at"], Value::Null);
        let status = cli.ok(&["exercise", "status"]);
        assert!(status.contains("expired at"), "{status}");
    });
}

#[test]
fn enabling_a_running_storm_keeps_its_expiry() {
    on_every_backend(|cli| {
        let storm = storm_json(
            cli,
            &[
                "--user", "alice", "--view", "items", "--for", "10m", "--seed", "3",
            ],
        );
        let expires_at = storm["expires_at_ms"].as_i64().expect("storm expiry");
        let ordinary = cli.create(&["return", "checkout", "503"]);
        cli.ok(&["disable", "--all"]);
        cli.ok(&["enable", "--all", "--for", "1h"]);
        for action in cli.list() {
            assert_eq!(action["state"], "enabled", "{action}");
            if action["tag"] == "storm" {
                assert_eq!(
                    action["expires_at_ms"], expires_at,
                    "the storm's expiry is kept"
                );
            }
        }
        assert!(cli.action(ordinary)["expires_at_ms"].as_i64() > Some(expires_at));
        let storm_id = cli
            .list()
            .iter()
            .find(|a| a["tag"] == "storm")
            .and_then(|a| a["id"].as_i64())
            .expect("storm action");
        cli.refuses(&["enable", &storm_id.to_string(), "--for", "1h"], "storm");
        // Plain enable by id of a running storm action is fine.
        cli.ok(&["disable", &storm_id.to_string()]);
        assert_eq!(
            cli.ok(&["enable", &storm_id.to_string()]),
            "enabled 1 action\n"
        );
    });
}
