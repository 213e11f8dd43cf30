//! Chaos Toolkit-compatible experiments: loading, validation, substitution, tolerances,
//! providers, the runner and its journal, and reports.

pub mod config;
pub mod log;
pub mod providers;
pub mod report;
pub mod runner;
pub mod subst;
pub mod tolerance;
pub mod validate;

use std::path::Path;

use serde_json::Value;

/// Reads an experiment (or journal) file: YAML for `.yaml`/`.yml`, else JSON. The error
/// names the file, line and column.
pub fn load_file(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if matches!(ext, "yaml" | "yml") {
        serde_yaml_ng::from_str::<Value>(&text).map_err(|err| {
            let at = err
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            format!("{}{at}: invalid YAML: {err}", path.display())
        })
    } else {
        serde_json::from_str::<Value>(&text).map_err(|err| {
            format!(
                "{}:{}:{}: invalid JSON: {err}",
                path.display(),
                err.line(),
                err.column()
            )
        })
    }
}
