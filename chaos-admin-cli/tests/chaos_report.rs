//! Reports, checked with other people's tools. Our journals are readable by Chaos Toolkit's
//! own: the real `chaos report` (chaostoolkit-reporting, which picks its template from
//! `chaoslib-version` and refuses anything that is not semver) renders one to HTML. Our PDF
//! reports open in `pypdf` (strict mode) and hold the text the HTML report holds. The tools
//! are installed from PyPI into a venv under cargo's test tmp dir the first time (about a
//! minute), then reused.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_chaos-admin");

/// The pinned tools: the Chaos Toolkit release we reproduce, its reporting, pandoc (from a
/// wheel, so no system package is needed), and a PDF reader.
const PACKAGES: &[&str] = &[
    "chaostoolkit==1.19.0",
    "chaostoolkit-lib==1.44.0",
    "jsonpath2==0.4.5",
    "chaostoolkit-reporting==0.18.0",
    "pypandoc_binary==1.17",
    "pypdf==6.1.3",
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

/// The venv with the [`PACKAGES`], created when missing or pinned differently; its `bin`.
/// The tests of this file run in parallel threads: one of them creates it, the others
/// wait for it.
fn tools() -> PathBuf {
    static TOOLS: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    TOOLS.get_or_init(create_tools).clone()
}

fn create_tools() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chaostoolkit-venv");
    let ready = venv.join("ready");
    let wanted = PACKAGES.join("\n");
    if std::fs::read_to_string(&ready).ok().as_deref() != Some(wanted.as_str()) {
        let _ = std::fs::remove_dir_all(&venv);
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(PACKAGES));
        std::fs::write(&ready, wanted).expect("mark the venv ready");
    }
    venv.join("bin")
}

/// Writes the experiment (JSON text) into `dir` and runs it with `chaos-admin run`; the
/// journal's path.
fn journal_of(dir: &Path, name: &str, experiment: &str) -> PathBuf {
    let file = dir.join(format!("{name}.experiment.json"));
    std::fs::write(&file, experiment).expect("write the experiment");
    let journal = dir.join(format!("{name}.journal.json"));
    let output = Command::new(BIN)
        .current_dir(dir)
        .arg("run")
        .arg(&file)
        .arg("--journal-path")
        .arg(&journal)
        .output()
        .expect("run chaos-admin");
    assert!(journal.exists(), "no journal: {output:?}");
    journal
}

#[test]
fn our_journal_renders_with_the_real_chaos_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = journal_of(
        dir.path(),
        "disk",
        r#"{"title": "The disk stays writable", "description": "d",
            "steady-state-hypothesis": {"title": "h", "probes": [
              {"type": "probe", "name": "writable", "tolerance": 0, "provider": {"type": "process", "path": "true"}}]},
            "method": [{"type": "action", "name": "noop", "provider": {"type": "process", "path": "true"}}]}"#,
    );
    let report = dir.path().join("report.html");
    run(Command::new(tools().join("chaos"))
        .current_dir(dir.path())
        .args(["--no-log-file", "report", "--export-format=html"])
        .arg(&journal)
        .arg(&report));
    let html = std::fs::read_to_string(&report).expect("the report is written");
    assert!(html.contains("The disk stays writable"), "{html}");
}

/// The text of each page of a PDF, as `pypdf` (strict) extracts it.
fn pdf_pages(pdf: &Path) -> Vec<String> {
    let output = run(Command::new(tools().join("python"))
        .args([
            "-c",
            "import sys, json; from pypdf import PdfReader\n\
             r = PdfReader(sys.argv[1], strict=True)\n\
             print(json.dumps([p.extract_text() for p in r.pages]))",
        ])
        .arg(pdf));
    serde_json::from_slice(&output.stdout).expect("pages as JSON")
}

#[test]
fn pdf_report_holds_the_journals_in_chaos_toolkit_spelling() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kept = journal_of(
        dir.path(),
        "kept",
        r#"{"title": "Checkout survives a slow cart", "description": "The cart answers in 2 s; checkout still completes.",
            "steady-state-hypothesis": {"title": "h", "probes": [
              {"type": "probe", "name": "checkout-ok", "tolerance": 0, "provider": {"type": "process", "path": "true"}}]},
            "method": [{"type": "action", "name": "slow-cart", "provider": {"type": "process", "path": "true"}}],
            "rollbacks": [{"type": "action", "name": "restore-cart", "provider": {"type": "process", "path": "true"}}]}"#,
    );
    let deviated = journal_of(
        dir.path(),
        "deviated",
        r#"{"title": "Search degrades (gracefully?)", "description": "Search breaks and stays broken.",
            "steady-state-hypothesis": {"title": "h", "probes": [
              {"type": "probe", "name": "search-ok", "tolerance": 0,
               "provider": {"type": "process", "path": "sh", "arguments": ["-c", "test ! -e flag && touch flag"]}}]},
            "method": [{"type": "action", "name": "break-search", "provider": {"type": "process", "path": "true"}}]}"#,
    );
    let pdf = dir.path().join("report.pdf");
    let output = run(Command::new(BIN)
        .current_dir(dir.path())
        .args(["report", "--export-format=pdf"])
        .arg(&kept)
        .arg(&deviated)
        .arg(&pdf));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("report written to"),
        "{output:?}"
    );
    let pages = pdf_pages(&pdf);
    // The overview, then one page per journal.
    assert_eq!(pages.len(), 3, "{pages:#?}");
    for (i, page) in pages.iter().enumerate() {
        assert!(page.contains(&format!("page {} of 3", i + 1)), "{page}");
    }
    let overview = &pages[0];
    assert!(overview.contains("Overview"), "{overview}");
    assert!(
        overview.contains("Checkout survives a slow cart"),
        "{overview}"
    );
    assert!(
        overview.contains("Search degrades (gracefully?)"),
        "{overview}"
    );
    assert!(overview.contains("completed, deviated"), "{overview}");
    let first = &pages[1];
    for text in [
        "The cart answers in 2 s; checkout still completes.",
        "kept.journal.json",
        "probe checkout-ok",
        "action slow-cart",
        "action restore-cart",
        "Steady state before",
        "Timeline",
        "rollback",
    ] {
        assert!(first.contains(text), "{text:?} missing from {first}");
    }
    let second = &pages[2];
    assert!(second.contains("not met"), "{second}");
    assert!(second.contains("missed"), "{second}");
}

#[test]
fn pdf_goes_to_a_pipe_but_a_bad_format_or_journal_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = journal_of(
        dir.path(),
        "j",
        r#"{"title": "t", "description": "d", "method": [{"type": "action", "name": "a", "provider": {"type": "process", "path": "true"}}]}"#,
    );
    let piped = run(Command::new(BIN)
        .args(["report", "--format", "pdf"])
        .arg(&journal));
    assert!(piped.stdout.starts_with(b"%PDF-"), "{piped:?}");
    assert!(piped.stdout.ends_with(b"%%EOF\n") || piped.stdout.ends_with(b"%%EOF"));

    let bad = Command::new(BIN)
        .args(["report", "--export-format=docx"])
        .arg(&journal)
        .output()
        .expect("run chaos-admin");
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("'docx'") && stderr.contains("pdf"),
        "{stderr}"
    );

    let experiment = dir.path().join("j.experiment.json");
    let out = dir.path().join("never.pdf");
    let not_a_journal = Command::new(BIN)
        .args(["report", "-o"])
        .arg(&out)
        .arg(&experiment)
        .output()
        .expect("run chaos-admin");
    assert_ne!(not_a_journal.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&not_a_journal.stderr);
    assert!(stderr.contains("is not a journal"), "{stderr}");
    assert!(!out.exists(), "nothing is written for a bad journal");
}
