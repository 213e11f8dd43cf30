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
            for key in ["id", "created_at", "updated_at", "expires_at", "created_by"] {
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
        assert_eq!(first["seed"], 42);
        for action in actions {
            assert_eq!(action["users"], serde_json::json!(["alice"]), "{action}");
            assert_eq!(action["groups"], serde_json::json!([]), "{action}");
            assert_eq!(action["tag"], "storm");
            assert!(action["expires_at"].as_i64().is_some(), "{action}");
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
        let list = cli.ok(&["list"]);
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
            "storm ended: removed 0 actions\n"
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
            cli.ok(&["list"]),
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
