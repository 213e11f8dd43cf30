//! A private PostgreSQL cluster for one test: `initdb` in a temp dir, `pg_ctl` on a free
//! port of 127.0.0.1, trust authentication, user `postgres`. Tests can stop and start it
//! to simulate an outage; it is always stopped (and its files removed) on drop.
//!
//! The binaries are looked up in `/usr/lib/postgresql/<version>/bin` (newest first) or
//! `PG_BINDIR`. `initdb` refuses to run as root, so as root every command runs as the
//! `postgres` system user (`runuser -u postgres`) with the temp dir owned by it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running (or stopped) private cluster.
#[derive(Debug)]
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    run_as: Option<String>,
    running: bool,
    /// Extra `-c name=value` server settings.
    settings: String,
}

/// Where the PostgreSQL server binaries are, if installed.
pub fn find_bindir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        let dir = PathBuf::from(dir);
        return dir.join("initdb").exists().then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .is_some_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn id_of(user: &str, flag: &str) -> Option<u32> {
    let out = Command::new("id").args([flag, user]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

impl PgCluster {
    /// Creates and starts a cluster, or returns `None` (saying why on stderr) when the
    /// PostgreSQL server binaries are not installed. Panics if they are but fail.
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// [`PgCluster::start`] with extra server settings (`("max_connections", "150")`).
    pub fn start_with(settings: &[(&str, &str)]) -> Option<Self> {
        let Some(bin) = find_bindir() else {
            eprintln!(
                "skipping the private PostgreSQL cluster: no initdb in /usr/lib/postgresql/*/bin (set PG_BINDIR)"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir for the cluster");
        let run_as = is_root().then(|| "postgres".to_owned());
        if let Some(user) = &run_as {
            let uid = id_of(user, "-u").expect("initdb refuses root: a `postgres` user is needed");
            let gid = id_of(user, "-g").expect("the postgres user's group");
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("give the cluster dir to postgres");
        }
        let mut cluster = PgCluster {
            dir,
            bin,
            port: free_port(),
            run_as,
            running: false,
            settings: settings
                .iter()
                .map(|(name, value)| format!(" -c {name}={value}"))
                .collect(),
        };
        let data = cluster.data_dir();
        let init = cluster.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "--no-locale",
                "-E",
                "UTF8",
            ],
        );
        assert!(init.status.success(), "initdb failed: {}", describe(&init));
        cluster.start_again();
        Some(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let program = self.bin.join(tool);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&program);
                command
            }
            None => Command::new(&program),
        };
        command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|err| panic!("cannot run {}: {err}", program.display()))
    }

    /// The server's log so far.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of the `postgres` database as user `postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    pub fn start_again(&mut self) {
        let data = self.data_dir();
        let log = self.dir.path().join("server.log");
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off{}",
            self.port, self.settings
        );
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&data),
                "-l",
                path_str(&log),
                "-w",
                "-t",
                "60",
                "-o",
                &options,
                "start",
            ],
        );
        let server_log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\nserver log:\n{server_log}",
            describe(&out)
        );
        self.running = true;
    }

    /// Stops the server (fast shutdown: open connections are cut) and waits for it.
    pub fn stop(&mut self) {
        self.stop_with("fast");
    }

    fn stop_with(&mut self, mode: &str) {
        if !self.running {
            return;
        }
        let data = self.data_dir();
        let out = self.run(
            "pg_ctl",
            &["-D", path_str(&data), "-m", mode, "-w", "-t", "60", "stop"],
        );
        self.running = false;
        if !out.status.success() {
            eprintln!("warning: pg_ctl stop failed: {}", describe(&out));
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop_with("immediate");
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn describe(out: &Output) -> String {
    format!(
        "{:?}: {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
