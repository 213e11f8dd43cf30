//! The real `chaos-admin` binary pointed at one store, for the CLI's integration tests.

#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use chaos_middleware::Store;
use chaos_middleware::testing::{TempPostgres, temp_sqlite_url};
use serde_json::Value;
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_chaos-admin");

/// The CLI pointed at one store (kept alive as long as this value).
pub struct Cli {
    pub url: String,
    /// The SQLite file, when the store is one.
    pub file: Option<PathBuf>,
    _dir: Option<TempDir>,
    _postgres: Option<TempPostgres>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

impl Cli {
    /// A fresh SQLite store (the file is created by the first command that writes).
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self {
            url: temp_sqlite_url(dir.path()),
            file: Some(dir.path().join("chaos.db")),
            _dir: Some(dir),
            _postgres: None,
        }
    }

    /// A throwaway PostgreSQL database (dropped with this value), or `None` with a note
    /// when `CHAOS_TEST_POSTGRES_URL` is not set.
    pub fn postgres() -> Option<Self> {
        let db = runtime().block_on(TempPostgres::from_env())?;
        Some(Self {
            url: db.url().to_owned(),
            file: None,
            _dir: None,
            _postgres: Some(db),
        })
    }

    /// Any URL, e.g. one that cannot be reached.
    pub fn at(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            file: None,
            _dir: None,
            _postgres: None,
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg("--database-url")
            .arg(&self.url)
            .args(args)
            .env_remove("CHAOS_DATABASE_URL")
            .env("CHAOS_ACTOR", "cli-test")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run chaos-admin")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "chaos-admin {args:?} failed with {:?}: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8 stdout")
    }

    /// Runs a command that must succeed and print JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let stdout = self.ok(args);
        serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("{args:?}: {err}: {stdout}"))
    }

    /// Creates an action; stdout must be exactly its id.
    pub fn create(&self, args: &[&str]) -> i64 {
        let mut full = vec!["create"];
        full.extend_from_slice(args);
        let stdout = self.ok(&full);
        stdout
            .trim_end_matches('\n')
            .parse()
            .unwrap_or_else(|_| panic!("create printed {stdout:?}, not just an id"))
    }

    /// `list` as a table, without its first line (which must name the store).
    pub fn table(&self) -> String {
        let text = self.ok(&["list"]);
        let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
        assert!(
            first.starts_with("store: "),
            "list names its store first: {text}"
        );
        rest.to_owned()
    }

    pub fn list(&self) -> Vec<Value> {
        match self.json(&["list", "--json"]) {
            Value::Array(actions) => actions,
            other => panic!("list --json printed {other}, not an array"),
        }
    }

    pub fn action(&self, id: i64) -> Value {
        self.list()
            .into_iter()
            .find(|a| a["id"] == id)
            .unwrap_or_else(|| panic!("no action {id} listed"))
    }

    /// Runs a command that must fail with `code` and exactly one stderr line naming
    /// `needle`, printing nothing on stdout; returns that line.
    pub fn fails(&self, args: &[&str], code: i32, needle: &str) -> String {
        let output = self.run(args);
        let stderr = String::from_utf8(output.stderr).expect("utf-8 stderr");
        assert_eq!(
            output.status.code(),
            Some(code),
            "chaos-admin {args:?}: stderr {stderr:?}"
        );
        assert_eq!(
            stderr.lines().count(),
            1,
            "chaos-admin {args:?}: want one stderr line, got {stderr:?}"
        );
        assert!(
            stderr.starts_with("error: "),
            "chaos-admin {args:?}: {stderr:?}"
        );
        assert!(
            stderr.contains(needle),
            "chaos-admin {args:?}: {stderr:?} does not name {needle:?}"
        );
        assert!(
            output.stdout.is_empty(),
            "chaos-admin {args:?} printed {:?}",
            String::from_utf8_lossy(&output.stdout)
        );
        stderr
    }

    /// Bad input: exit 2, one line naming `needle`, and the store unchanged.
    pub fn refuses(&self, args: &[&str], needle: &str) {
        let before = self.list();
        self.fails(args, 2, needle);
        assert_eq!(self.list(), before, "{args:?} changed the store");
    }

    /// Runs one statement on the store behind the CLI's back (rows edited by hand).
    pub fn execute_sql(&self, sql: &str) {
        runtime().block_on(async {
            let store = Store::connect(&self.url)
                .await
                .unwrap_or_else(|err| panic!("open {}: {err}", self.url));
            store
                .raw_execute(sql)
                .await
                .unwrap_or_else(|err| panic!("{sql}: {err}"));
            store.close().await;
        });
    }
}

/// Runs `case` against a fresh SQLite store and, when configured, a fresh PostgreSQL one.
pub fn on_every_backend(case: fn(&Cli)) {
    case(&Cli::sqlite());
    if let Some(cli) = Cli::postgres() {
        case(&cli);
    }
}
