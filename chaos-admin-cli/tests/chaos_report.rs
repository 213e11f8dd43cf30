//! Our journals are readable by Chaos Toolkit's own tools: the real `chaos report`
//! (chaostoolkit-reporting, which picks its template from `chaoslib-version` and refuses
//! anything that is not semver) renders one to HTML. The tools are installed from PyPI
//! into a venv under cargo's test tmp dir the first time (about a minute), then reused.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_chaos-admin");

/// The pinned tools: the Chaos Toolkit release we reproduce, its reporting, and pandoc
/// (from a wheel, so no system package is needed).
const PACKAGES: &[&str] = &[
    "chaostoolkit==1.19.0",
    "chaostoolkit-lib==1.44.0",
    "jsonpath2==0.4.5",
    "chaostoolkit-reporting==0.18.0",
    "pypandoc_binary==1.17",
];

fn run(command: &mut Command) -> std::process::Output {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("{command:?}: {err}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The venv with `chaos` and `chaostoolkit-reporting`, created when missing.
fn chaos_toolkit() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chaostoolkit-venv");
    let chaos = venv.join("bin/chaos");
    let ready = venv.join("ready");
    if !ready.exists() {
        let _ = std::fs::remove_dir_all(&venv);
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(PACKAGES));
        std::fs::write(&ready, PACKAGES.join("\n")).expect("mark the venv ready");
    }
    chaos
}

#[test]
fn our_journal_renders_with_the_real_chaos_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let experiment = dir.path().join("experiment.json");
    std::fs::write(
        &experiment,
        r#"{"title": "The disk stays writable", "description": "d",
            "steady-state-hypothesis": {"title": "h", "probes": [
              {"type": "probe", "name": "writable", "tolerance": 0, "provider": {"type": "process", "path": "true"}}]},
            "method": [{"type": "action", "name": "noop", "provider": {"type": "process", "path": "true"}}]}"#,
    )
    .expect("write the experiment");
    let journal = dir.path().join("journal.json");
    run(Command::new(BIN)
        .current_dir(dir.path())
        .args(["run", "experiment.json", "--journal-path"])
        .arg(&journal));
    let chaos = chaos_toolkit();
    let report = dir.path().join("report.html");
    run(Command::new(&chaos)
        .current_dir(dir.path())
        .args(["--no-log-file", "report", "--export-format=html"])
        .arg(&journal)
        .arg(&report));
    let html = std::fs::read_to_string(&report).expect("the report is written");
    assert!(html.contains("The disk stays writable"), "{html}");
}
