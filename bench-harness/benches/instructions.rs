//! Instructions per request of the chaos layer, counted by callgrind: deterministic (the
//! same binary and inputs give the same count, whatever else the machine does), unlike
//! wall-clock A/B runs on a shared machine.
//!
//! `cargo bench -p bench-harness --bench instructions [-- MODE...]`
//!
//! For each server mode of `bench-harness serve` (a hello-world axum server, one tokio
//! worker thread, loopback): start it under callgrind, send `WARMUP` (500) keep-alive
//! GETs to warm it up, zero the counters, send `REQUESTS` (5,000) more on a second
//! keep-alive connection (its accept and set-up are counted, about 4 instructions per
//! request), dump, and divide the instructions of the busiest thread (the tokio worker
//! that runs the requests) by `REQUESTS`. `bare` is always measured first: the last
//! column divides by it. A mode `M@N` (for `idle`, `router_idle`, `router_param`,
//! `user_miss`, `guard`)
//! stores N actions on other views instead of 10,000. `KEEP=1` keeps the callgrind files
//! (for `callgrind_annotate`) and prints where they are. Needs valgrind.
//!
//! Run without `--bench` (as `cargo test --all-targets` does) it measures nothing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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
    "router_param",
];

fn main() {
    if let Err(err) = run() {
        eprintln!("instructions: {err}");
        std::process::exit(1);
    }
}

/// The modes that store actions on other views (and so take `@N`).
const WITH_ACTIONS: &[&str] = &["idle", "router_idle", "router_param", "user_miss", "guard"];

fn run() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench targets
    // without it, and a test run must not take minutes under valgrind.
    if !args.iter().any(|arg| arg == "--bench") {
        return Ok(());
    }
    // Modes are the arguments that are not options (libtest's, passed on by cargo).
    let mut modes: Vec<String> = args
        .into_iter()
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    if modes.is_empty() {
        modes = DEFAULT_MODES.iter().map(|m| m.to_string()).collect();
    }
    for mode in &modes {
        if let Some((name, count)) = mode.split_once('@')
            && (!WITH_ACTIONS.contains(&name) || !count.parse::<u32>().is_ok_and(|n| n > 0))
        {
            return Err(format!(
                "{mode}: M@N takes a positive number of actions, for M in {}",
                WITH_ACTIONS.join(", ")
            )
            .into());
        }
    }
    if modes.first().is_none_or(|first| first != "bare") {
        modes.retain(|mode| mode != "bare");
        modes.insert(0, "bare".to_owned());
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
        // valgrind writes its last dump on the way out: give it 10 s.
        let _ = wait_or_kill(&mut self.0, Duration::from_secs(10));
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
        .stderr(std::fs::File::create(work.join(format!("{tag}.err")))?)
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
    let port = match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(port) => port,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            return Err("the server did not start within 120 s".into());
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let said = std::fs::read_to_string(work.join(format!("{tag}.err"))).unwrap_or_default();
            let tail: Vec<&str> = said.lines().rev().take(5).collect();
            return Err(format!(
                "the server exited before listening: {}",
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            )
            .into());
        }
    };
    let bin = Path::new(BIN);
    let requests_text = requests.to_string();
    let warmup_text = warmup.to_string();
    let pid_text = pid.to_string();
    run_bounded(bin, &["drive", "--port", &port, "--requests", &warmup_text])?;
    run_bounded(Path::new("callgrind_control"), &["-z", &pid_text])?;
    run_bounded(
        bin,
        &["drive", "--port", &port, "--requests", &requests_text],
    )?;
    run_bounded(Path::new("callgrind_control"), &["-d", &pid_text])?;
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

/// Runs `program args`, output discarded, killed after 300 s; fails unless it succeeds.
fn run_bounded(program: &Path, args: &[&str]) -> Result<(), Error> {
    let shown = format!("{} {}", program.display(), args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("{shown}: {err}"))?;
    match wait_or_kill(&mut child, Duration::from_secs(300))? {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(format!("{shown} failed: {status}").into()),
        None => Err(format!("{shown} did not finish within 300 s").into()),
    }
}

/// Waits for `child` to exit, polling every 20 ms (std has no wait with a timeout);
/// kills it after `limit`. `None`: it was killed.
fn wait_or_kill(child: &mut Child, limit: Duration) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait()?;
    Ok(None)
}

/// The `summary:` total of a callgrind file.
fn summary(path: &Path) -> Result<u64, Error> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .find_map(|line| line.strip_prefix("summary: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("{}: no `summary:` line", path.display()).into())
}
