//! Instructions per request of the chaos layer, counted by callgrind: deterministic (the
//! same binary and inputs give the same count, whatever else the machine does), unlike
//! wall-clock A/B runs on a shared machine.
//!
//! `cargo bench -p bench-harness --bench instructions [-- MODE...]`
//!
//! For each server mode of `bench-harness serve` (a hello-world axum server, one tokio
//! worker thread, loopback): start it under callgrind, send `WARMUP` (500) keep-alive
//! GETs to warm it up, zero the counters, send `REQUESTS` (5,000) more on the same
//! connection, dump, and divide the instructions of the busiest thread (the tokio worker
//! that runs the requests) by `REQUESTS`. A mode `idle@N` or `router_idle@N` stores N
//! actions on other views instead of 10,000. `KEEP=1` keeps the callgrind files (for
//! `callgrind_annotate`) and prints where they are. Needs valgrind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

type Error = Box<dyn std::error::Error>;

const BIN: &str = env!("CARGO_BIN_EXE_bench-harness");
const DEFAULT_MODES: &[&str] = &[
    "bare",
    "noop",
    "empty",
    "idle@1",
    "idle",
    "user_miss",
    "return",
    "guard",
    "router_empty",
    "router_idle@1",
    "router_idle",
];

fn main() {
    if let Err(err) = run() {
        eprintln!("instructions: {err}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Error> {
    // cargo passes `--bench` (and libtest's options) to every bench target; modes are
    // the other arguments.
    let mut modes: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    if modes.is_empty() {
        modes = DEFAULT_MODES.iter().map(|m| m.to_string()).collect();
    }
    let requests = env_number("REQUESTS", 5_000)?;
    let warmup = env_number("WARMUP", 500)?;
    if Command::new("valgrind").arg("--version").output().is_err() {
        return Err("valgrind is needed (apt-get install -y valgrind)".into());
    }
    let work = std::env::temp_dir().join(format!("chaos-instructions-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let keep = std::env::var("KEEP").is_ok_and(|v| v == "1");
    if keep {
        eprintln!("callgrind files in {}", work.display());
    }
    println!("| mode | instructions / request | × bare |");
    println!("|---|---:|---:|");
    let mut first = None;
    let mut outcome = Ok(());
    for mode in &modes {
        match per_request(&work, mode, warmup, requests) {
            Ok(count) => {
                let base = *first.get_or_insert(count);
                println!("| {mode} | {count} | {:.3} |", count as f64 / base as f64);
            }
            Err(err) => {
                outcome = Err(format!("{mode}: {err}").into());
                break;
            }
        }
    }
    if !keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    outcome
}

fn env_number(name: &str, default: u64) -> Result<u64, Error> {
    match std::env::var(name) {
        Ok(value) => match value.parse() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{name}={value}: a positive whole number is needed").into()),
        },
        Err(_) => Ok(default),
    }
}

/// A server under callgrind; killed when dropped (its stdin closing stops it first).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        for _ in 0..100 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Instructions per request of the worker thread for `mode` (`name` or `name@actions`).
fn per_request(work: &Path, mode: &str, warmup: u64, requests: u64) -> Result<u64, Error> {
    let (name, actions) = match mode.split_once('@') {
        Some((name, n)) => (name, n),
        None => (mode, "10000"),
    };
    let tag = mode.replace('@', "-");
    let out = work.join(format!("cg.{tag}.%p"));
    let mut child = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--separate-threads=yes")
        .arg("--dump-instr=no")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(BIN)
        .args([
            "serve",
            "--mode",
            name,
            "--workers",
            "1",
            "--actions",
            actions,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("LISTENING ") {
                let _ = tx.send(port.trim().to_owned());
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(120))
        .map_err(|_| "the server did not start within 120 s (unknown mode?)")?;
    drive(&port, warmup)?;
    callgrind_control("-z", pid)?;
    drive(&port, requests)?;
    callgrind_control("-d", pid)?;
    drop(server);
    // The dump after zeroing is part 1, one file per thread; the busiest is the worker.
    let prefix = format!("cg.{tag}.{pid}.1-");
    let mut most = 0;
    for entry in std::fs::read_dir(work)? {
        let path: PathBuf = entry?.path();
        let is_part = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&prefix));
        if is_part {
            most = most.max(summary(&path)?);
        }
    }
    if most == 0 {
        return Err("callgrind wrote no dump".into());
    }
    Ok(most / requests)
}

fn drive(port: &str, requests: u64) -> Result<(), Error> {
    let status = Command::new(BIN)
        .args(["drive", "--port", port, "--requests", &requests.to_string()])
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("drive --requests {requests} failed: {status}").into());
    }
    Ok(())
}

fn callgrind_control(option: &str, pid: u32) -> Result<(), Error> {
    let status = Command::new("callgrind_control")
        .args([option, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("callgrind_control {option} {pid} failed: {status}").into());
    }
    Ok(())
}

/// The `summary:` total of a callgrind file.
fn summary(path: &Path) -> Result<u64, Error> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .find_map(|line| line.strip_prefix("summary: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}
