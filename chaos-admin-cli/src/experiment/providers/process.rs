//! The `process` provider: `arguments` as a list (items stringified, `null` and `""`
//! dropped), a mapping (flattened to key, value, ...) or a string (run through a shell).
//! A non-zero exit never fails the activity; only a timeout does. A missing program, one
//! that cannot start or a timeout that is not a number crashes it (the run is aborted).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use super::ActivityError;
use crate::experiment::runner::Ctx;
use crate::experiment::subst::py_str;

/// `shutil.which(os.path.expanduser(path))`.
pub fn which(path: &str) -> Option<PathBuf> {
    let expanded = match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    };
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.is_file()
            && p.metadata()
                .map(|m| m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
    };
    if expanded.components().count() > 1 || expanded.is_absolute() {
        return executable(&expanded).then_some(expanded);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(&expanded))
        .find(|candidate| executable(candidate))
}

/// Runs the program and returns `{status, stdout, stderr}`. A timeout fails the activity
/// (chaoslib's `ActivityFailed`); a program that cannot be found (only `--no-validation`
/// gets that far) or started crashes it ([`ActivityError::Crashed`]), as the Python
/// exception does in chaoslib — except with a string of arguments, where chaoslib runs
/// `None ARGUMENTS` in a shell, which exits 127.
pub async fn run(
    provider: &Value,
    _has_tolerance: bool,
    ctx: &Ctx,
) -> Result<Value, ActivityError> {
    let raw_path = provider.get("path").and_then(Value::as_str).unwrap_or("");
    let found = which(raw_path);
    let mut command = match provider.get("arguments") {
        Some(Value::String(line)) => {
            let program = found
                .as_ref()
                .map_or_else(|| "None".to_owned(), |p| p.display().to_string());
            let mut command = tokio::process::Command::new("/bin/sh");
            command.arg("-c").arg(format!("{program} {line}"));
            command
        }
        other => {
            let items: Vec<Value> = match other {
                Some(Value::Array(items)) => items.clone(),
                Some(Value::Object(map)) => map
                    .iter()
                    .flat_map(|(k, v)| [Value::String(k.clone()), v.clone()])
                    .collect(),
                _ => Vec::new(),
            };
            let path = found.as_ref().ok_or_else(|| {
                ActivityError::Crashed(format!("path '{raw_path}' cannot be found"))
            })?;
            let mut command = tokio::process::Command::new(path);
            for item in items {
                if item.is_null() || item.as_str() == Some("") {
                    continue;
                }
                command.arg(py_str(&item));
            }
            command
        }
    };
    command
        .envs(&ctx.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // `subprocess.run(timeout=...)`: a number (a boolean is 0 or 1), or None; another type
    // raises, uncaught by chaoslib. 0 or less times out at once.
    let timeout = match provider.get("timeout") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(Duration::from_secs(u64::from(*b))),
        Some(Value::Number(n)) => Some(
            n.as_f64()
                .filter(|s| s.is_finite())
                .map_or(Duration::ZERO, |s| Duration::from_secs_f64(s.max(0.0))),
        ),
        Some(other) => {
            return Err(ActivityError::Crashed(format!(
                "timeout {other} must be a number of seconds, as subprocess requires"
            )));
        }
    };
    let cannot_run =
        |err: std::io::Error| ActivityError::Crashed(format!("cannot run '{raw_path}': {err}"));
    let child = command.spawn().map_err(cannot_run)?;
    let output = child.wait_with_output();
    let output = match timeout {
        Some(limit) => tokio::time::timeout(limit, output).await.map_err(|_| {
            ActivityError::Failed("process activity took too long to complete".to_owned())
        })?,
        None => output.await,
    }
    .map_err(cannot_run)?;
    // Killed by a signal: Python reports -signal.
    let status = output.status.code().map(i64::from).unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        -i64::from(output.status.signal().unwrap_or(0))
    });
    Ok(serde_json::json!({
        "status": status,
        "stdout": String::from_utf8_lossy(&output.stdout),
        "stderr": String::from_utf8_lossy(&output.stderr),
    }))
}
