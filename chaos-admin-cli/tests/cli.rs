//! Runs the real `chaos-admin` binary against a fresh SQLite file (and, when
//! `CHAOS_TEST_POSTGRES_URL` is set, a throwaway PostgreSQL database).

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::{BIN, Cli, on_every_backend};

/// Every bad input with the value its error line must name.
const BAD_INPUT: &[(&[&str], &str)] = &[
    (&["create", "response", "return", "items", "600"], "600"),
    (&["create", "response", "return", "items", "99"], "99"),
    (&["create", "return", "items", "-1"], "-1"),
    (&["create", "return", "items", "abc"], "'abc'"),
    (
        &["create", "response", "slow", "items", "300ms", "200ms"],
        "300ms",
    ),
    (
        &["create", "response", "slow", "items", "fast", "1s"],
        "'fast'",
    ),
    (&["create", "response", "slow", "items", "1s", "2h"], "2h"),
    (
        &["create", "return", "items", "500", "--probability", "150%"],
        "'150%'",
    ),
    (
        &["create", "return", "items", "500", "--probability", "1.5"],
        "'1.5'",
    ),
    (
        &["create", "return", "items", "500", "--probability", "-5%"],
        "'-5%'",
    ),
    (
        &["create", "return", "items", "500", "--probability", "lots"],
        "'lots'",
    ),
    (&["create", "response", "explode", "items"], "'explode'"),
    (
        &["create", "widget", "slow", "items", "1s", "2s"],
        "'widget'",
    ),
    (&["create"], "usage is"),
    (&["create", "response"], "slow, return"),
    (&["create", "response", "slow", "items", "1s"], "'items 1s'"),
    (&["create", "response", "return", "items"], "<status>"),
    (&["create", "return", "items", "500", "extra"], "extra"),
    (&["create", "point", "abort", "db.items"], "'abort'"),
    (
        &["create", "point", "return", "db.items", "500"],
        "'return'",
    ),
    (&["create", "response", "error", "items"], "'error'"),
    (
        &["create", "response", "abort", "items", "extra"],
        "'items extra'",
    ),
    (&["create", "point", "error"], "<name>"),
    (
        &[
            "create", "response", "slow", "items", "1s", "2s", "--phase", "during",
        ],
        "'during'",
    ),
    (
        &[
            "create", "point", "slow", "db", "1s", "2s", "--phase", "after",
        ],
        "--phase",
    ),
    (
        &["create", "return", "items", "500", "--phase", "after"],
        "--phase",
    ),
    (
        &[
            "create", "point", "slow", "db", "1s", "2s", "--method", "GET",
        ],
        "--method",
    ),
    (&["create", "abort", "items", "--message", "x"], "--message"),
    (&["create", "response", "slow", "items", "1s", "31s"], "31s"),
    (
        &[
            "create",
            "response",
            "slow",
            "items",
            "1s",
            "2s",
            "--max-delay",
            "1s",
        ],
        "2s",
    ),
    (&["create", "return", "items", "500", "--for", "0s"], "'0s'"),
    (
        &[
            "create",
            "return",
            "items",
            "500",
            "--until",
            "2001-01-01T00:00:00Z",
        ],
        "2001-01-01T00:00:00Z",
    ),
    (
        &["create", "return", "items", "500", "--until", "tomorrow"],
        "'tomorrow'",
    ),
    (&["disable", "1", "--for", "10m"], "--for"),
    (&["purge"], "--expired"),
    (
        &[
            "create", "response", "slow", "items", "1s", "2s", "--body", "x",
        ],
        "--body",
    ),
    (
        &["create", "return", "items", "500", "--user", ""],
        "--user",
    ),
    (
        &["create", "return", "items", "500", "--frobnicate"],
        "--frobnicate",
    ),
    (&["show"], "<ID>"),
    (&["show", "abc"], "'abc'"),
    (&["show", "99"], "99"),
    (&["enable"], "--all"),
    (&["enable", "99"], "99"),
    (&["enable", "1", "99"], "99"),
    (&["disable", "widget", "items"], "'widget'"),
    (&["disable", "response"], "<view>"),
    (&["disable", "1", "x"], "'x'"),
    (&["disable", "--all", "widget"], "'widget'"),
    (&["delete", "1", "99"], "99"),
    (&["delete", "0"], "unknown action id 0"),
    (&["delete", "--all"], "--yes"),
    (&["delete", "--all", "response"], "--yes"),
    (&["frobnicate"], "frobnicate"),
    // Filters that cannot be understood must never widen to "every method".
    (
        &["create", "return", "items", "503", "--method", "*"],
        "'*'",
    ),
    (
        &["create", "return", "items", "503", "--method", "POST "],
        "'POST '",
    ),
    (
        &["create", "return", "items", "503", "--method", "PUT,PATCH"],
        "'PUT,PATCH'",
    ),
    (
        &["create", "return", "items", "503", "--method", "G\u{c9}T"],
        "'G\u{c9}T'",
    ),
    (
        &["create", "return", "items", "503", "--method", ""],
        "--method",
    ),
    (
        &["create", "return", "items", "503", "--host", ""],
        "--host",
    ),
    (
        &["create", "return", "items", "503", "--group", " ops"],
        "\" ops\"",
    ),
    (
        &["create", "return", "items", "503", "--user", "alice "],
        "\"alice \"",
    ),
    // Statuses that cannot end a request, bodies that cannot be sent.
    (&["create", "return", "items", "100"], "status 100"),
    (&["create", "return", "items", "101"], "status 101"),
    (&["create", "return", "items", "199"], "status 199"),
    (
        &["create", "return", "items", "204", "--body", "x"],
        "status 204",
    ),
    (
        &["create", "return", "items", "304", "--body", "x"],
        "status 304",
    ),
    // Durations and times beyond what can be printed, times without an offset.
    (
        &["create", "return", "items", "503", "--for", "8000y"],
        "'8000y'",
    ),
    (
        &[
            "create",
            "return",
            "items",
            "503",
            "--for",
            "100000000000000000000y",
        ],
        "'100000000000000000000y'",
    ),
    (
        &[
            "create",
            "return",
            "items",
            "503",
            "--until",
            "2030-01-01T09:00:00",
        ],
        "no offset",
    ),
    (
        &[
            "create",
            "return",
            "items",
            "503",
            "--until",
            "10000-01-01T00:00:00Z",
        ],
        "'10000-01-01T00:00:00Z'",
    ),
    (&["enable", "--all", "--for", "8000y"], "'8000y'"),
    (
        &["enable", "1", "--until", "2030-01-01T09:00:00"],
        "no offset",
    ),
    (&["storm", "--user", "alice", "--for", "8000y"], "'8000y'"),
    (
        &[
            "storm", "--user", "alice", "--view", "items", "--for", "8000y",
        ],
        "'8000y'",
    ),
    (
        &["exercise", "start", "--view", "items", "--for", "8000y"],
        "'8000y'",
    ),
    (
        &["create", "abort", "items", "--between", "9-17"],
        "--between '9-17'",
    ),
    (
        &["create", "abort", "items", "--between", "09:00-09:00"],
        "--between '09:00-09:00'",
    ),
    (
        &["create", "abort", "items", "--between", "25:00-26:00"],
        "--between '25:00-26:00'",
    ),
    (
        &["create", "abort", "items", "--days", "weekdays"],
        "--days 'weekdays'",
    ),
    (
        &[
            "create",
            "abort",
            "items",
            "--days",
            "mon-fri",
            "--tz",
            "Mars/Base",
        ],
        "--tz 'Mars/Base'",
    ),
    (
        &["create", "abort", "items", "--tz", "Europe/Berlin"],
        "--tz 'Europe/Berlin' applies only with --between or --days",
    ),
    (
        &[
            "create",
            "abort",
            "items",
            "--start-at",
            "2001-01-01T00:00:00Z",
        ],
        "--start-at '2001-01-01T00:00:00Z' is in the past",
    ),
    (
        &["create", "abort", "items", "--start-at", "tomorrow"],
        "--start-at 'tomorrow'",
    ),
    (
        &[
            "create",
            "abort",
            "items",
            "--start-at",
            "2099-01-02T00:00:00Z",
            "--until",
            "2099-01-01T00:00:00Z",
        ],
        "starts at 2099-01-02T00:00:00Z but expires at 2099-01-01T00:00:00Z",
    ),
    (
        &["storm", "--user", "alice", "--between", "nine-five"],
        "--between 'nine-five'",
    ),
    (
        &["create", "abort", "items", "--between", ""],
        "empty --between value",
    ),
    (
        &["create", "abort", "items", "--days", "mon", "--tz", ""],
        "empty --tz value",
    ),
    (
        &["create", "abort", "items", "--start-at", ""],
        "empty --start-at value",
    ),
    (
        &["create", "abort", "items", "--for", ""],
        "empty --for value",
    ),
    (
        &["create", "abort", "items", "--until", " "],
        "empty --until value",
    ),
    (
        &["create", "abort", "items", "--probability", ""],
        "empty --probability value",
    ),
    (
        &["storm", "--user", "alice", "--days", ""],
        "empty --days value",
    ),
    (
        &["storm", "--user", "alice", "--for", ""],
        "empty --for value",
    ),
    (
        &["storm", "--user", "alice", "--intensity", ""],
        "empty --intensity value",
    ),
    (
        &["create", "slow", "items", "1s", "2s", "--phase", ""],
        "empty --phase value",
    ),
    (
        &["create", "return", "items", "503", "--tag", ""],
        "empty --tag value",
    ),
    (
        &[
            "create",
            "abort",
            "items",
            "--start-at",
            "2099-01-01T00:00:00Z",
            "--for",
            "1h",
            "--between",
            "12:00-12:30",
        ],
        "leave no time to inject before the expiry 2099-01-01T01:00:00Z",
    ),
    (
        &[
            "exercise",
            "start",
            "--view",
            "items",
            "--force",
            "--start-at",
            "2099-01-05T00:00:00Z",
            "--for",
            "2h",
            "--days",
            "sat,sun",
        ],
        "leave no time to inject",
    ),
    (
        &["exercise", "start", "--view", "items", "--days", "someday"],
        "--days 'someday'",
    ),
];

/// Runs every bad input against a store holding one action; nothing may change.
fn bad_input_changes_nothing(cli: &Cli) {
    let id = cli.create(&["response", "slow", "items", "200ms", "300ms"]);
    assert_eq!(id, 1, "the store should start empty");
    let before = cli.list();
    for (args, needle) in BAD_INPUT {
        cli.fails(args, 2, needle);
        assert_eq!(cli.list(), before, "chaos-admin {args:?} changed the store");
    }
}

#[test]
fn create_forms_are_listed() {
    let cli = Cli::sqlite();
    assert_eq!(cli.table(), "no chaos actions\n");
    assert_eq!(cli.ok(&["list", "--json"]).trim(), "[]");

    let slow = cli.create(&["response", "slow", "items", "200ms", "1s"]);
    let ret = cli.create(&["response", "return", "login", "401", "--body", "go away"]);
    let short = cli.create(&["return", "*", "503"]);
    assert_eq!((slow, ret, short), (1, 2, 3));

    let actions = cli.list();
    assert_eq!(actions.len(), 3);
    let slow = &actions[0];
    assert_eq!(slow["kind"], "response");
    assert_eq!(slow["verb"], "slow");
    assert_eq!(slow["target"], "items");
    assert_eq!(slow["min_ms"], 200);
    assert_eq!(slow["max_ms"], 1000);
    assert_eq!(slow["probability"], 1.0);
    assert_eq!(slow["enabled"], true);
    assert_eq!(slow["state"], "enabled");
    assert_eq!(slow["users"], serde_json::json!([]));
    let ret = &actions[1];
    assert_eq!(ret["verb"], "return");
    assert_eq!(ret["target"], "login");
    assert_eq!(ret["status"], 401);
    assert_eq!(ret["body"], "go away");
    let short = &actions[2];
    assert_eq!(short["kind"], "response");
    assert_eq!(short["verb"], "return");
    assert_eq!(short["target"], "*");
    assert_eq!(short["status"], 503);
    assert!(short.get("body").is_none(), "{short}");

    let table = cli.table();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    for column in [
        "ID", "STATE", "KIND", "VERB", "TARGET", "DETAIL", "PROB", "WHO", "METHODS", "HOSTS",
        "EXPIRES",
    ] {
        assert!(lines[0].contains(column), "{table}");
    }
    assert!(lines[1].contains("200ms..1s"), "{table}");
    assert!(lines[2].contains("401 \"go away\""), "{table}");
    assert!(lines[3].contains("503"), "{table}");
    assert!(
        lines[1].contains("100%") && lines[1].contains('*'),
        "{table}"
    );
    // Columns are aligned: DETAIL starts at the same place on every line.
    let at = lines[0].find("DETAIL").expect("DETAIL column");
    assert!(lines[1][at..].starts_with("200ms..1s"), "{table}");

    let show = cli.ok(&["show", "2"]);
    assert!(show.contains("status:"), "{show}");
    assert!(
        show.lines()
            .any(|l| l.starts_with("target:") && l.ends_with("login"))
    );
    let json: Value = serde_json::from_str(&cli.ok(&["show", "2", "--json"])).expect("JSON");
    assert_eq!(json["id"], 2);
    assert_eq!(json["state"], "enabled");
}

#[test]
fn create_options_are_stored() {
    let cli = Cli::sqlite();
    let percent = cli.create(&["return", "items", "500", "--probability", "25%"]);
    let fraction = cli.create(&["return", "items", "500", "--probability", "0.25"]);
    let users = cli.create(&[
        "response", "return", "items", "403", "--user", "alice", "--user", "bob",
    ]);
    let disabled = cli.create(&[
        "response",
        "slow",
        "items",
        "1s",
        "2s",
        "--disabled",
        "--note",
        "quiet one",
    ]);
    let expired = cli.create(&["return", "items", "500", "--for", "1ms"]);
    assert_eq!(cli.action(percent)["probability"], 0.25);
    assert_eq!(cli.action(fraction)["probability"], 0.25);
    assert_eq!(
        cli.action(users)["users"],
        serde_json::json!(["alice", "bob"])
    );
    assert_eq!(cli.action(percent)["users"], serde_json::json!([]));
    let quiet = cli.action(disabled);
    assert_eq!(quiet["enabled"], false);
    assert_eq!(quiet["state"], "disabled");
    assert_eq!(quiet["note"], "quiet one");
    // `--for 1ms` has passed by the time `list` runs (creation and listing are two
    // processes), so the action reads as expired without any sleep.
    assert_eq!(cli.action(expired)["state"], "expired");

    let table = cli.table();
    let row = |id: i64| {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&id.to_string()))
            .unwrap_or_else(|| panic!("no row {id} in {table}"))
            .to_owned()
    };
    assert!(row(percent).contains("25%"), "{table}");
    assert!(row(users).contains("alice,bob"), "{table}");
    assert!(row(disabled).contains("disabled"), "{table}");
    assert!(row(disabled).ends_with("quiet one"), "{table}");
    assert!(row(expired).contains("expired"), "{table}");
}

#[test]
fn enable_and_disable_select_by_id_target_and_all() {
    let cli = Cli::sqlite();
    let items_slow = cli.create(&["response", "slow", "items", "1s", "2s"]);
    let items_return = cli.create(&["return", "items", "500"]);
    let login = cli.create(&["return", "login", "401"]);
    let enabled = |id| cli.action(id)["enabled"] == true;

    assert_eq!(cli.ok(&["disable", "1"]), "disabled 1 action\n");
    assert!(!enabled(items_slow) && enabled(items_return) && enabled(login));
    assert_eq!(cli.ok(&["enable", "1"]), "enabled 1 action\n");
    assert!(enabled(items_slow));

    assert_eq!(
        cli.ok(&["disable", "response", "items"]),
        "disabled 2 actions\n"
    );
    assert!(!enabled(items_slow) && !enabled(items_return) && enabled(login));
    assert_eq!(
        cli.ok(&["enable", "response", "items"]),
        "enabled 2 actions\n"
    );
    assert!(enabled(items_slow) && enabled(items_return));

    assert_eq!(cli.ok(&["disable", "--all"]), "disabled 3 actions\n");
    assert!(!enabled(items_slow) && !enabled(items_return) && !enabled(login));
    assert_eq!(
        cli.ok(&["enable", "--all", "response"]),
        "enabled 3 actions\n"
    );
    assert!(enabled(items_slow) && enabled(items_return) && enabled(login));
    assert_eq!(
        cli.ok(&["disable", "--all", "point"]),
        "disabled 0 actions\n"
    );
    assert!(enabled(login));
    assert_eq!(cli.ok(&["disable", "2", "3"]), "disabled 2 actions\n");
    assert!(enabled(items_slow) && !enabled(items_return) && !enabled(login));
}

#[test]
fn fault_vocabulary_is_stored() {
    let cli = Cli::sqlite();
    let abort = cli.create(&["response", "abort", "checkout"]);
    let panic = cli.create(&["panic", "items"]);
    let after = cli.create(&[
        "response", "slow", "items", "1s", "2s", "--phase", "after", "--method", "get",
    ]);
    let point_slow = cli.create(&["point", "slow", "db.items", "100ms", "200ms"]);
    let point_error = cli.create(&["point", "error", "db.orders", "--message", "db gone"]);
    let wildcard = cli.create(&["return", "*", "503", "--group", "staff", "--host", "web-*"]);
    let abort = cli.action(abort);
    assert_eq!(
        (abort["kind"].as_str(), abort["verb"].as_str()),
        (Some("response"), Some("abort"))
    );
    assert_eq!(cli.action(panic)["verb"], "panic");
    let after = cli.action(after);
    assert_eq!(after["phase"], "after");
    assert_eq!(after["methods"], serde_json::json!(["GET"]));
    let point_slow = cli.action(point_slow);
    assert_eq!(
        (point_slow["kind"].as_str(), point_slow["phase"].as_str()),
        (Some("point"), Some("before"))
    );
    let point_error = cli.action(point_error);
    assert_eq!(point_error["verb"], "error");
    assert_eq!(point_error["message"], "db gone");
    let wildcard = cli.action(wildcard);
    assert_eq!(wildcard["target"], "*");
    assert_eq!(wildcard["groups"], serde_json::json!(["staff"]));
    assert_eq!(wildcard["hosts"], serde_json::json!(["web-*"]));
    let table = cli.table();
    assert!(table.contains("1s..2s after"), "{table}");
    assert!(table.contains("\"db gone\""), "{table}");
    assert!(
        cli.ok(&["show", &point_error["id"].to_string()])
            .contains("message:")
    );
}

#[test]
fn expiry_can_be_set_cleared_and_purged() {
    let cli = Cli::sqlite();
    let until = cli.create(&["return", "items", "500", "--until", "2999-01-01T00:00:00Z"]);
    assert_eq!(cli.action(until)["expires_at_ms"], 32_472_144_000_000_i64);
    // `--for 1ms` is in the past by the time the next process reads it: no sleep needed.
    let expired = cli.create(&["return", "checkout", "401", "--for", "1ms"]);
    let also_expired = cli.create(&["slow", "items", "1s", "2s", "--for", "1ms"]);
    assert_eq!(cli.action(expired)["state"], "expired");
    // enable --for gives a new expiry in the future.
    cli.ok(&["enable", &expired.to_string(), "--for", "10m"]);
    let renewed = cli.action(expired);
    assert_eq!(renewed["state"], "enabled");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    let expires_at = renewed["expires_at_ms"].as_i64().expect("expiry set");
    assert!(
        expires_at > now_ms + 9 * 60_000 && expires_at <= now_ms + 10 * 60_000,
        "{expires_at}"
    );
    // plain enable of an expired action clears its expiry; a future expiry is kept.
    cli.ok(&["enable", &also_expired.to_string(), &until.to_string()]);
    assert_eq!(cli.action(also_expired)["expires_at"], Value::Null);
    assert_eq!(cli.action(also_expired)["state"], "enabled");
    assert_eq!(cli.action(until)["expires_at_ms"], 32_472_144_000_000_i64);
    // purge removes only what has expired.
    let gone = cli.create(&["abort", "items", "--for", "1ms"]);
    assert_eq!(cli.ok(&["purge", "--expired"]).trim(), "purged 1 action");
    let ids: Vec<i64> = cli.list().iter().filter_map(|a| a["id"].as_i64()).collect();
    assert_eq!(ids, [until, expired, also_expired]);
    assert!(!ids.contains(&gone));
}

#[test]
fn unknown_id_changes_nothing() {
    let cli = Cli::sqlite();
    let id = cli.create(&["return", "items", "500", "--disabled"]);
    let before = cli.action(id);
    let line = cli.fails(&["enable", "1", "99"], 2, "99");
    assert!(!line.contains(" 1,"), "only 99 is unknown: {line}");
    assert_eq!(cli.action(id), before);
    assert_eq!(cli.action(id)["enabled"], false);
    cli.fails(&["delete", "99", "1"], 2, "99");
    assert_eq!(cli.list(), vec![before]);
}

#[test]
fn delete_by_id_and_all() {
    let cli = Cli::sqlite();
    for status in ["500", "501", "502", "503"] {
        cli.create(&["return", "items", status]);
    }
    assert_eq!(cli.ok(&["delete", "2", "3"]), "deleted 2 actions\n");
    let ids: Vec<Value> = cli.list().iter().map(|a| a["id"].clone()).collect();
    assert_eq!(ids, vec![Value::from(1), Value::from(4)]);

    // Not a terminal and no --yes: refuse, even if "y" is piped in.
    let mut child = cli
        .command(&["delete", "--all"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn chaos-admin");
    // The CLI may refuse (and exit) before reading: a broken pipe here is fine.
    let written = child.stdin.take().expect("piped stdin").write_all(b"y\n");
    if let Err(err) = written {
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
    }
    let output = child.wait_with_output().expect("wait for chaos-admin");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");
    assert_eq!(cli.list().len(), 2);

    assert_eq!(cli.ok(&["delete", "--all", "--yes"]), "deleted 2 actions\n");
    assert!(cli.list().is_empty());
    assert_eq!(cli.table(), "no chaos actions\n");
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    bad_input_changes_nothing(&Cli::sqlite());
}

#[test]
fn bad_input_is_rejected_before_connecting() {
    let cli = Cli::sqlite();
    let file = cli.file.clone().expect("SQLite file");
    cli.fails(&["create", "response", "return", "items", "600"], 2, "600");
    cli.fails(&["disable", "widget", "items"], 2, "widget");
    cli.fails(&["delete", "--all"], 2, "--yes");
    assert!(!file.exists(), "a rejected command opened the store");

    // The same holds for a store that cannot be reached: input errors come first.
    let down = Cli::at("postgres://postgres@127.0.0.1:1/nope");
    down.fails(&["create", "return", "items", "600"], 2, "600");
}

#[test]
fn database_url_errors() {
    let down = Cli::at("postgres://postgres@127.0.0.1:1/nope");
    let line = down.fails(&["list"], 1, "127.0.0.1:1");
    assert!(line.contains("cannot reach"), "{line}");
    let line =
        Cli::at("mongodb://localhost/chaos").fails(&["list"], 2, "mongodb://localhost/chaos");
    assert!(
        line.contains("sqlite://") && line.contains("postgres://") && line.contains("mysql://"),
        "names what is allowed: {line}"
    );
    // MySQL is a backend: a server that is not there is a connection error.
    let line = Cli::at("mysql://root@127.0.0.1:1/nope").fails(&["list"], 1, "127.0.0.1:1");
    assert!(line.contains("cannot reach"), "{line}");
}

#[test]
fn database_url_comes_from_the_environment() {
    let cli = Cli::sqlite();
    let output = Command::new(BIN)
        .args(["create", "return", "items", "418"])
        .env("CHAOS_DATABASE_URL", &cli.url)
        .stdin(Stdio::null())
        .output()
        .expect("run chaos-admin");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(cli.action(1)["status"], 418);
}

#[test]
fn help_documents_exit_codes() {
    let cli = Cli::sqlite();
    let help = cli.ok(&["--help"]);
    assert!(help.contains("Exit codes"), "{help}");
    assert!(help.contains("2  bad input"), "{help}");
}

#[test]
fn corrupt_rows_are_warned_about_and_skipped() {
    let cli = Cli::sqlite();
    for status in ["500", "501", "502"] {
        cli.create(&["return", "items", status]);
    }
    cli.execute_sql("UPDATE chaos_actions SET status = 999 WHERE id = 2");
    for args in [&["list"][..], &["list", "--json"][..]] {
        let output = cli.run(args);
        assert!(output.status.success(), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("warning: "), "{stderr}");
        assert!(
            stderr.contains("row 2") && stderr.contains("999"),
            "{stderr}"
        );
    }
    // The broken row is listed, with its id and what is wrong, so it can be deleted.
    let listed = cli.list();
    let ids: Vec<Value> = listed.iter().map(|a| a["id"].clone()).collect();
    assert_eq!(ids, vec![Value::from(1), Value::from(2), Value::from(3)]);
    assert_eq!(listed[1]["state"], "broken");
    assert!(
        listed[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("999")),
        "{}",
        listed[1]
    );
    let table = cli.table();
    assert_eq!(table.lines().count(), 4, "{table}");
    let broken_line = table.lines().nth(2).expect("row 2");
    assert!(
        broken_line.starts_with("2 ")
            && broken_line.contains("broken")
            && broken_line.contains("999"),
        "{table}"
    );
    let shown = cli.ok(&["show", "2"]);
    assert!(
        shown.contains("state: broken")
            && shown.contains("999")
            && shown.contains("chaos-admin delete 2"),
        "{shown}"
    );
    let shown = cli.json(&["show", "2", "--json"]);
    assert_eq!(
        (shown["id"].as_i64(), shown["state"].as_str()),
        (Some(2), Some("broken"))
    );
    assert_eq!(cli.ok(&["delete", "2"]), "deleted 1 action\n");
    assert_eq!(cli.list().len(), 2);
}

#[test]
fn hand_edited_rows_that_break_json_are_listed_as_broken() {
    let cli = Cli::sqlite();
    for status in ["500", "501", "502", "503"] {
        cli.create(&["return", "items", status]);
    }
    cli.execute_sql("UPDATE chaos_actions SET note = X'00FF' WHERE id = 2");
    cli.execute_sql("UPDATE chaos_actions SET probability = 1e999 WHERE id = 3");
    cli.execute_sql("UPDATE chaos_actions SET target = CAST(X'69FF74' AS TEXT) WHERE id = 4");
    let listed = cli.list();
    let states: Vec<(i64, &str)> = listed
        .iter()
        .map(|a| {
            (
                a["id"].as_i64().unwrap_or(0),
                a["state"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        states,
        [(1, "enabled"), (2, "broken"), (3, "broken"), (4, "broken")]
    );
    assert!(
        listed[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("note holds a BLOB"))
    );
    assert!(
        listed[2]["error"]
            .as_str()
            .is_some_and(|e| e.contains("probability"))
    );
    // Row 1 stays fully manageable.
    assert_eq!(cli.ok(&["disable", "1"]), "disabled 1 action\n");
    assert_eq!(cli.action(1)["state"], "disabled");
    assert_eq!(
        cli.ok(&["delete", "1", "2", "3", "4"]),
        "deleted 4 actions\n"
    );
    assert!(cli.list().is_empty());
}

#[test]
fn until_accepts_every_rfc3339_offset() {
    on_every_backend(|cli| {
        for (text, ms) in [
            ("2030-01-01T09:00:00+09:00", 1_893_456_000_000_i64),
            ("2029-12-31T19:00:00-05:00", 1_893_456_000_000),
            ("2030-01-01T00:00:00.5Z", 1_893_456_000_500),
        ] {
            let id = cli.create(&["return", "items", "503", "--until", text]);
            assert_eq!(cli.action(id)["expires_at_ms"], ms, "{text}");
            assert_eq!(
                cli.action(id)["expires_at"],
                "2030-01-01T00:00:00Z",
                "{text}"
            );
            let shown = cli.ok(&["show", &id.to_string()]);
            assert!(shown.contains("2030-01-01T00:00:00Z"), "{shown}");
        }
        // The longest lifetime that is still printable works end to end.
        let id = cli.create(&["return", "items", "503", "--until", "9999-12-29T00:00:00Z"]);
        assert!(
            cli.ok(&["show", &id.to_string()])
                .contains("9999-12-29T00:00:00Z")
        );
        assert!(cli.table().contains(&id.to_string()));
    });
}

#[test]
fn postgres_create_toggle_delete() {
    let Some(cli) = Cli::postgres() else {
        return;
    };
    assert!(cli.list().is_empty());
    let slow = cli.create(&["response", "slow", "items", "250ms", "1s", "-p", "25%"]);
    let ret = cli.create(&["return", "login", "401", "--user", "alice", "--user", "bob"]);
    let actions = cli.list();
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0]["min_ms"], 250);
    assert_eq!(actions[0]["probability"], 0.25);
    assert_eq!(actions[1]["users"], serde_json::json!(["alice", "bob"]));

    assert_eq!(
        cli.ok(&["disable", "response", "items"]),
        "disabled 1 action\n"
    );
    assert_eq!(cli.action(slow)["state"], "disabled");
    let before = cli.list();
    cli.fails(&["enable", "1", "99"], 2, "99");
    assert_eq!(cli.list(), before);
    assert_eq!(
        cli.ok(&["enable", "--all"]),
        "enabled 1 action (1 already enabled)\n"
    );
    assert_eq!(cli.action(slow)["state"], "enabled");
    assert_eq!(cli.ok(&["delete", &ret.to_string()]), "deleted 1 action\n");
    cli.fails(&["delete", "--all"], 2, "--yes");
    assert_eq!(cli.list().len(), 1);
    assert_eq!(cli.ok(&["delete", "--all", "--yes"]), "deleted 1 action\n");
    assert!(cli.list().is_empty());
}

#[test]
fn postgres_bad_input_changes_nothing() {
    let Some(cli) = Cli::postgres() else {
        return;
    };
    bad_input_changes_nothing(&cli);
}

/// Runs the binary in `dir` with no `CHAOS_DATABASE_URL` and no `--database-url`.
fn run_in(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("CHAOS_DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run chaos-admin");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn writes_name_the_store_nobody_uses_and_a_store_just_created() {
    let dir = tempfile::tempdir().expect("temp dir");
    let location = format!(
        "sqlite://{}",
        dir.path()
            .canonicalize()
            .expect("canonical")
            .join("chaos.db")
            .display()
    );
    let (code, stdout, said) = run_in(dir.path(), &["create", "return", "items", "503"]);
    assert_eq!((code, stdout.as_str()), (Some(0), "1\n"), "{said}");
    assert!(
        said.contains(&format!(
            "note: created a new, empty chaos store at {location}"
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "warning: no running app instance uses the store {location}"
        )),
        "{said}"
    );
    // The second time the file exists: no note; a read says nothing at all.
    let (code, _, said) = run_in(dir.path(), &["disable", "1"]);
    assert_eq!(code, Some(0));
    assert!(
        !said.contains("created") && said.contains("no running app instance"),
        "{said}"
    );
    let (code, _, said) = run_in(dir.path(), &["list"]);
    assert_eq!((code, said.as_str()), (Some(0), ""));
    // A write that changes nothing waits for nobody and warns about nothing.
    let (code, stdout, said) = run_in(dir.path(), &["disable", "1"]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout, "disabled 0 actions (1 already disabled)\n");
    assert_eq!(said, "");
}

#[test]
fn dotenv_in_the_current_directory_chooses_the_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/shared.db", elsewhere.path().display());
    std::fs::write(
        dir.path().join(".env"),
        format!("# the team's store\nCHAOS_DATABASE_URL={url}\n"),
    )
    .expect("write .env");
    let (code, stdout, said) = run_in(dir.path(), &["create", "return", "items", "503"]);
    assert_eq!((code, stdout.as_str()), (Some(0), "1\n"), "{said}");
    assert!(elsewhere.path().join("shared.db").exists());
    assert!(!dir.path().join("chaos.db").exists());
    assert_eq!(Cli::at(&url).list().len(), 1);
    // --no-dotenv ignores it (and so uses ./chaos.db).
    let (code, _, said) = run_in(dir.path(), &["--no-dotenv", "list"]);
    assert_eq!(code, Some(0));
    assert!(
        said.contains("note: there is no chaos store at sqlite://"),
        "{said}"
    );
    assert!(
        !dir.path().join("chaos.db").exists(),
        "a read creates no store"
    );
    // A broken .env is one clear error, before anything is written.
    std::fs::write(
        dir.path().join(".env"),
        "CHAOS_DATABASE_URL='unterminated\n",
    )
    .expect("write");
    let (code, stdout, said) = run_in(dir.path(), &["create", "return", "items", "503"]);
    assert_eq!((code, stdout.as_str()), (Some(2), ""), "{said}");
    assert!(
        said.starts_with("error: cannot read .env") && said.contains("--no-dotenv"),
        "{said}"
    );
    assert_eq!(said.lines().count(), 1, "{said}");
}

#[test]
fn connect_errors_say_what_is_wrong() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-folder");
    let url = format!("sqlite://{}/chaos.db", missing.display());
    let line = Cli::at(&url).fails(&["create", "return", "items", "503"], 1, "does not exist");
    assert!(
        line.contains(&format!("the folder {} does not exist", missing.display())),
        "{line}"
    );
    assert!(!missing.exists(), "nothing created");
    if let Some(cli) = Cli::postgres() {
        let url = cli
            .url
            .rsplit_once('/')
            .map(|(base, _)| format!("{base}/chaos_no_such_db"))
            .expect("url");
        let line =
            Cli::at(&url).fails(&["list"], 1, "database \"chaos_no_such_db\" does not exist");
        assert!(!line.contains("at line"), "{line}");
    }
}

#[test]
fn toggles_report_what_changed_and_nothing_matched() {
    on_every_backend(|cli| {
        let one = cli.create(&["return", "items", "503"]);
        cli.create(&["slow", "items", "1s", "2s"]);
        cli.create(&["return", "checkout", "401"]);
        let generation = || cli.json(&["status", "--json"])["generation"].as_i64();
        assert_eq!(
            cli.ok(&["disable", &one.to_string()]),
            "disabled 1 action\n"
        );
        let after_disable = generation();
        assert_eq!(
            cli.ok(&["disable", &one.to_string()]),
            "disabled 0 actions (1 already disabled)\n"
        );
        assert_eq!(generation(), after_disable, "nothing written");
        assert_eq!(
            cli.ok(&["enable", "response", "items"]),
            "enabled 1 action (1 already enabled)\n"
        );
        assert_eq!(
            cli.ok(&["enable", "--all"]),
            "enabled 0 actions (3 already enabled)\n"
        );
        assert_eq!(generation(), after_disable.map(|g| g + 1));
        for command in ["enable", "disable", "delete"] {
            let output = cli.run(&[command, "response", "itms"]);
            assert!(output.status.success(), "{output:?}");
            let said = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                said.trim_end(),
                "nothing matched: no response action targets 'itms' (did you mean items?)",
                "{command}"
            );
        }
        assert_eq!(cli.list().len(), 3);
    });
}

#[test]
fn tag_selects_what_to_enable_disable_and_delete() {
    on_every_backend(|cli| {
        cli.create(&["return", "items", "503", "--tag", "exp-1"]);
        cli.create(&["slow", "checkout", "1s", "2s", "--tag", "exp-1"]);
        let other = cli.create(&["return", "health", "500"]);
        assert_eq!(
            cli.ok(&["disable", "--tag", "exp-1"]),
            "disabled 2 actions\n"
        );
        assert_eq!(cli.action(other)["state"], "enabled");
        assert_eq!(cli.ok(&["enable", "--tag", "exp-1"]), "enabled 2 actions\n");
        assert_eq!(cli.ok(&["delete", "--tag", "exp-1"]), "deleted 2 actions\n");
        assert_eq!(cli.list().len(), 1);
        let output = cli.run(&["delete", "--tag", "exp-2"]);
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "deleted 0 actions\n"
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stderr).trim_end(),
            "nothing matched: no action is tagged 'exp-2'"
        );
        cli.refuses(&["delete", "--tag", "exp-1", &other.to_string()], "--tag");
        cli.refuses(&["disable", "--tag", "exp-1", "--all"], "--tag");
        cli.refuses(&["delete", "--tag", ""], "--tag");
    });
}

#[test]
fn list_shows_every_filter_time_left_and_one_time_format() {
    let cli = Cli::sqlite();
    cli.create(&[
        "return", "checkout", "503", "--method", "POST", "--host", "web-*", "--group", "staff",
        "--for", "10m",
    ]);
    cli.create(&["slow", "items", "150ms", "2010ms"]);
    let table = cli.table();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let first = lines[1];
    for cell in ["POST", "web-*", "group:staff", "in 9m"] {
        assert!(first.contains(cell), "{cell} missing: {table}");
    }
    // An action limited to nothing shows `*` for every filter, and no expiry.
    assert!(lines[2].contains("150ms..2.01s"), "{table}");
    let listed = cli.list();
    for action in &listed {
        for key in ["created_at", "updated_at"] {
            let text = action[key]
                .as_str()
                .unwrap_or_else(|| panic!("{key}: {action}"));
            assert!(text.ends_with('Z') && text.len() == 20, "{key}: {text}");
            assert!(action[format!("{key}_ms")].as_i64().is_some(), "{action}");
        }
    }
    assert!(
        listed[0]["expires_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert_eq!(listed[1]["expires_at"], Value::Null);
    assert_eq!(listed[1]["expires_at_ms"], Value::Null);
}

#[test]
fn hostile_rows_and_values_found_in_review_are_handled() {
    let cli = Cli::sqlite();
    // A note with a terminal escape sequence is shown escaped, never sent raw.
    let noted = cli.create(&["return", "items", "503", "--note", "\u{1b}]0;pwn\u{7}"]);
    for text in [cli.table(), cli.ok(&["show", &noted.to_string()])] {
        assert!(
            !text.contains('\u{1b}') && text.contains("\\u{1b}"),
            "{text:?}"
        );
    }
    // RFC 3339 allows any number of fraction digits.
    let id = cli.create(&[
        "return",
        "items",
        "503",
        "--until",
        "2030-01-01T00:00:00.5000000000000Z",
    ]);
    assert_eq!(cli.action(id)["expires_at_ms"], 1_893_456_000_500_i64);
    // A row whose id was edited to 0 or below stays addressable.
    cli.execute_sql(&format!("UPDATE chaos_actions SET id = -5 WHERE id = {id}"));
    assert!(cli.ok(&["show", "-5"]).contains("id:"));
    assert_eq!(cli.ok(&["disable", "-5"]), "disabled 1 action\n");
    assert_eq!(cli.ok(&["delete", "-5"]), "deleted 1 action\n");
    // A return row holding a slow-only column is broken, not applied.
    let ret = cli.create(&["return", "checkout", "503"]);
    cli.execute_sql(&format!(
        "UPDATE chaos_actions SET phase = 'after' WHERE id = {ret}"
    ));
    let listed = cli.action(ret);
    assert_eq!(listed["state"], "broken");
    assert!(
        listed["error"]
            .as_str()
            .is_some_and(|e| e.contains("phase")),
        "{listed}"
    );
    // An instance row edited by hand does not break `status` or `views`.
    cli.execute_sql(
        "INSERT INTO chaos_instances (id, host, pid, started_at, last_seen, heartbeat_ms) \
         VALUES ('bad', X'00', 1, 0, 'x', 10000)",
    );
    cli.ok(&["status", "--all"]);
    cli.ok(&["views", "--all"]);
}

#[test]
fn exercise_times_out_of_range_never_panic() {
    let cli = Cli::sqlite();
    cli.ok(&["exercise", "start", "--for", "1h", "--seed", "1"]);
    for at in [i64::MIN, -1, i64::MAX] {
        cli.execute_sql(&format!(
            "UPDATE chaos_exercises SET expires_at = {at}, started_at = {at}"
        ));
        for args in [&["exercise", "status"][..], &["exercise", "hint"][..]] {
            let output = cli.run(args);
            assert!(output.status.success(), "{args:?} with {at}: {output:?}");
        }
    }
    assert!(cli.run(&["exercise", "reveal"]).status.success());
    assert!(cli.run(&["exercise", "end"]).status.success());
}

#[test]
fn the_chaos_provider_never_revives_expired_actions_in_bulk() {
    let cli = Cli::sqlite();
    let expired = cli.create(&["return", "items", "503", "--for", "1ms", "--tag", "x"]);
    let live = cli.create(&["return", "checkout", "503", "--tag", "x", "--disabled"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let experiment = dir.path().join("e.json");
    std::fs::write(
        &experiment,
        r#"{"title": "t", "description": "d", "method": [
            {"type": "action", "name": "by-tag", "provider": {"type": "chaos", "action": "enable", "tag": "x"}},
            {"type": "action", "name": "by-view", "provider": {"type": "chaos", "action": "enable", "view": "items"}}
        ]}"#,
    )
    .expect("write");
    let journal = dir.path().join("j.json");
    let output = cli.run(&[
        "run",
        &experiment.display().to_string(),
        "--journal-path",
        &journal.display().to_string(),
    ]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(cli.action(expired)["state"], "expired");
    assert_eq!(cli.action(live)["state"], "enabled");
}

#[test]
fn the_chaos_provider_waits_as_the_cli_does_and_hints_cross_kind() {
    let cli = Cli::sqlite();
    let dir = tempfile::tempdir().expect("temp dir");
    let experiment = dir.path().join("e.json");
    std::fs::write(
        &experiment,
        r#"{"title": "t", "description": "d", "method": [
            {"type": "action", "name": "inject", "provider": {"type": "chaos", "action": "create", "verb": "return", "view": "items", "status": 503, "tag": "e1"}}
        ]}"#,
    )
    .expect("write");
    let journal = dir.path().join("j.json");
    let run = |extra: &[&str]| {
        let mut args = vec![];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[
            "run",
            experiment.to_str().expect("utf-8"),
            "--journal-path",
            journal.to_str().expect("utf-8"),
        ]);
        let output = cli.run(&args);
        assert!(output.status.success(), "{output:?}");
        let journal: Value =
            serde_json::from_str(&std::fs::read_to_string(&journal).expect("journal"))
                .expect("json");
        (
            journal["run"][0]["output"].clone(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    // No app: the write is confirmed against nobody, and the console says so.
    let (output, said) = run(&[]);
    assert_eq!(output["applied"]["instances"], 0, "{output}");
    assert!(
        said.contains("no running app instance uses the store"),
        "{said}"
    );
    // --no-wait: no waiting, no `applied`.
    let (output, _) = run(&["--no-wait"]);
    assert!(output.get("applied").is_none(), "{output}");
    // A point action is named when a response selection misses it.
    cli.create(&["point", "error", "db.items"]);
    let output = cli.run(&["disable", "response", "db.items"]);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("use `point db.items`"),
        "{output:?}"
    );
}

#[test]
fn a_probe_tolerance_records_its_input_in_the_journal() {
    let cli = Cli::sqlite();
    let dir = tempfile::tempdir().expect("temp dir");
    let experiment = dir.path().join("e.json");
    std::fs::write(
        &experiment,
        r#"{"title": "t", "description": "d",
            "steady-state-hypothesis": {"title": "h", "probes": [
              {"type": "probe", "name": "echo", "provider": {"type": "process", "path": "echo", "arguments": ["hi"]},
               "tolerance": {"type": "probe", "name": "check", "provider": {"type": "process", "path": "true"}}}]},
            "method": []}"#,
    )
    .expect("write");
    let journal = dir.path().join("j.json");
    let output = cli.run(&[
        "run",
        experiment.to_str().expect("utf-8"),
        "--journal-path",
        journal.to_str().expect("utf-8"),
    ]);
    assert!(output.status.code().is_some(), "{output:?}");
    let journal: Value =
        serde_json::from_str(&std::fs::read_to_string(&journal).expect("journal")).expect("json");
    let recorded = &journal["experiment"]["steady-state-hypothesis"]["probes"][0]["tolerance"]["provider"]
        ["arguments"]["value"];
    assert_eq!(recorded["stdout"], "hi\n", "{journal}");
    let in_activity = &journal["steady_states"]["before"]["probes"][0]["activity"]["tolerance"]["provider"]
        ["arguments"]["value"];
    assert_eq!(in_activity["stdout"], "hi\n", "{journal}");
}

#[test]
fn exercise_hints_and_reveals_reload_no_app() {
    let cli = Cli::sqlite();
    cli.ok(&["exercise", "start", "--for", "1h", "--seed", "1"]);
    let generation = || cli.json(&["status", "--json"])["generation"].as_i64();
    let started = generation();
    for args in [&["exercise", "hint"][..], &["exercise", "reveal"][..]] {
        let output = cli.run(args);
        assert!(output.status.success(), "{output:?}");
        assert!(
            !String::from_utf8_lossy(&output.stderr).contains("applied by"),
            "{output:?}"
        );
    }
    assert_eq!(generation(), started, "hints and reveals change no action");
    cli.ok(&["exercise", "end"]);
    assert!(generation() > started);
}

/// `--between`, `--days`, `--tz` and `--start-at` are stored, shown by `list` (WHEN),
/// `show` and `--json`, and taken by storms and exercises (whose `--for` counts from the
/// start).
#[test]
fn windows_and_starts_are_stored_and_shown() {
    let cli = Cli::sqlite();
    let office = cli.create(&[
        "abort",
        "items",
        "--between",
        "09:00-12:00",
        "--between",
        "13:00-17:00",
        "--days",
        "mon-fri",
        "--tz",
        "Europe/Berlin",
    ]);
    let later = cli.create(&[
        "abort",
        "checkout",
        "--start-at",
        "2099-01-01T09:00:00+01:00",
    ]);
    let always = cli.create(&["abort", "cart"]);
    let listed = cli.list();
    assert_eq!(
        listed[0]["window"],
        "09:00-12:00,13:00-17:00 mon-fri Europe/Berlin"
    );
    assert_eq!(listed[1]["starts_at"], "2099-01-01T08:00:00Z");
    assert_eq!(listed[1]["starts_at_ms"], 4_070_937_600_000_i64);
    let when = listed[0]["when"].as_str().expect("when");
    assert!(
        when.starts_with("active until ") || when.starts_with("active in "),
        "{when}"
    );
    assert!(
        listed[1]["when"]
            .as_str()
            .is_some_and(|w| w.starts_with("active in "))
    );
    assert_eq!(listed[2]["when"], "-");
    assert_eq!(listed[2]["window"], Value::Null);
    let table = cli.table();
    assert!(
        table.lines().next().is_some_and(|h| h.contains("WHEN")),
        "{table}"
    );
    assert!(table.contains(when), "{table}");
    let shown = cli.ok(&["show", &office.to_string()]);
    assert!(
        shown.contains("window:")
            && shown.contains("09:00-12:00,13:00-17:00 mon-fri Europe/Berlin"),
        "{shown}"
    );
    let shown = cli.ok(&["show", &later.to_string()]);
    assert!(
        shown.contains("starts_at:") && shown.contains("2099-01-01T08:00:00Z"),
        "{shown}"
    );
    let _ = always;
    // A storm booked ahead: inert until its start, expiring `--for` after it.
    let storm = cli.json(&[
        "storm",
        "--user",
        "alice",
        "--view",
        "items",
        "--seed",
        "1",
        "--start-at",
        "2099-01-01T09:00:00Z",
        "--for",
        "2h",
        "--json",
    ]);
    let first = &storm["actions"][0];
    assert_eq!(first["starts_at"], "2099-01-01T09:00:00Z");
    assert_eq!(first["expires_at"], "2099-01-01T11:00:00Z");
    cli.ok(&["storm", "--end"]);
    // An exercise in office hours: its (hidden) faults carry the window.
    cli.ok(&[
        "exercise",
        "start",
        "--view",
        "items",
        "--seed",
        "3",
        "--force",
        "--between",
        "09:00-17:00",
        "--days",
        "mon-fri",
    ]);
    cli.ok(&["exercise", "reveal"]);
    let faults: Vec<Value> = cli
        .list()
        .into_iter()
        .filter(|a| a["tag"] == "exercise")
        .collect();
    assert!(!faults.is_empty());
    for fault in faults {
        assert_eq!(fault["window"], "09:00-17:00 mon-fri UTC", "{fault}");
    }
}
