//! Chaos Toolkit-compatible experiments: loading, validation, substitution, tolerances,
//! providers, the runner and its journal, and reports.

pub mod config;
pub mod jsonpath2;
pub mod log;
pub mod notify;
pub mod providers;
pub mod pynum;
pub mod report;
pub mod runner;
pub mod subst;
pub mod tolerance;
pub mod validate;
pub mod yaml;

use std::path::{Path, PathBuf};

use serde_json::Value;

use self::config::Overrides;
use self::log::Logger;
use self::runner::{HypothesisStrategy, Interrupt, Journal, RollbackStrategy, Setup, Status};

/// Reads an experiment (or journal) file: YAML for `.yaml`/`.yml` (as PyYAML reads it:
/// [`yaml`]), else JSON. The error names the file, line and column.
pub fn load_file(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if matches!(ext, "yaml" | "yml") {
        yaml_file(path, &text)
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

/// `text`, read from `path`, as YAML (as PyYAML reads it); the error names the file, line
/// and column.
pub fn yaml_file(path: &Path, text: &str) -> Result<Value, String> {
    yaml::from_str(text).map_err(|err| {
        format!(
            "{}:{}:{}: invalid YAML: {}",
            path.display(),
            err.line,
            err.column,
            err.message
        )
    })
}

/// `--var` and `--var-file` into overrides (a `--var` wins over a file).
pub fn overrides(vars: &[String], files: &[PathBuf]) -> Result<Overrides, String> {
    let mut overrides = Overrides::default();
    for file in files {
        config::load_var_file(file, &mut overrides)?;
    }
    for var in vars {
        let (key, value) = config::parse_var(var)?;
        overrides.configuration.insert(key, value);
    }
    Ok(overrides)
}

/// Loads and checks an experiment; logs every problem. `None` when it cannot run.
pub fn load_checked(
    path: &Path,
    overrides: &Overrides,
    validate_it: bool,
    log: &Logger,
) -> Option<(Value, crate::experiment::subst::Vars)> {
    let experiment = match load_file(path) {
        Ok(experiment) => experiment,
        Err(message) => {
            log.error(&message);
            return None;
        }
    };
    let mut problems: Vec<String> = Vec::new();
    if validate_it {
        log.info("Validating the experiment's syntax");
        problems.extend(
            validate::validate(&experiment)
                .iter()
                .map(ToString::to_string),
        );
        // Chaos Toolkit validates the file's configuration and secrets before `--var`
        // and var-file values apply: an env entry whose variable is unset is invalid
        // even when `--var` gives it (only `--no-validation` runs it).
        let file_only = config::Overrides {
            env: overrides.env.clone(),
            ..config::Overrides::default()
        };
        if let Err(found) = config::load(&experiment, &file_only) {
            problems.extend(
                found
                    .into_iter()
                    .map(|(at, message)| format!("{at}: {message}")),
            );
        }
    }
    let vars = match config::load(&experiment, overrides) {
        Ok(vars) => Some(vars),
        // Already reported by the validation above.
        Err(_) if !problems.is_empty() => None,
        Err(found) => {
            problems.extend(
                found
                    .into_iter()
                    .map(|(at, message)| format!("{at}: {message}")),
            );
            None
        }
    };
    if !problems.is_empty() {
        for problem in &problems {
            log.error(&format!("{}: {problem}", path.display()));
        }
        log.error(&format!(
            "{}: the experiment is invalid ({} problem{})",
            path.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        ));
        return None;
    }
    if validate_it {
        log.info("Experiment looks valid");
    }
    vars.map(|vars| (experiment, vars))
}

/// Runs an experiment file in-process, as `chaos-admin run` does, so a Rust team can keep
/// its resilience checks in `cargo test`: load the file, override configuration, run it
/// against a chaos store, get the journal and the outcome.
///
/// ```no_run
/// # async fn check() -> Result<(), String> {
/// use chaos_admin_cli::experiment::ExperimentRun;
///
/// let journal = ExperimentRun::new("examples/experiments/provider-down.json")
///     .var("base_url", "http://127.0.0.1:3000")
///     .var("consumer", "consumer_after")
///     .database_url("sqlite://chaos.db")
///     .run()
///     .await?;
/// assert!(journal.succeeded(), "status {}, deviated {}", journal.status.as_str(), journal.deviated);
/// # Ok(())
/// # }
/// ```
///
/// Errors: the file cannot be read or is invalid (every problem, one per line), or a
/// `var` names a key the experiment does not declare.
#[derive(Debug, Clone)]
pub struct ExperimentRun {
    path: PathBuf,
    vars: Vec<(String, Value)>,
    database_url: String,
    rollback: Option<RollbackStrategy>,
    hypothesis: Option<HypothesisStrategy>,
    verbose: bool,
}

impl ExperimentRun {
    /// The experiment at `path` (JSON, or YAML for `.yaml`/`.yml`), store
    /// `sqlite://chaos.db`, strategies from the file (else `default`).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            vars: Vec::new(),
            database_url: "sqlite://chaos.db".to_owned(),
            rollback: None,
            hypothesis: None,
            verbose: false,
        }
    }

    /// Overrides the configuration value `key` (as `--var key=value`; only keys the
    /// experiment declares).
    pub fn var(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.vars.push((key.into(), value.into()));
        self
    }

    /// The chaos store the `chaos` provider writes to (`sqlite://...`, `postgres://...`).
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = url.into();
        self
    }

    /// The rollback strategy (as `--rollback-strategy`).
    pub fn rollback_strategy(mut self, strategy: RollbackStrategy) -> Self {
        self.rollback = Some(strategy);
        self
    }

    /// The hypothesis strategy (as `--hypothesis-strategy`).
    pub fn hypothesis_strategy(mut self, strategy: HypothesisStrategy) -> Self {
        self.hypothesis = Some(strategy);
        self
    }

    /// Log activity outputs too (as `--verbose`); the log goes to stderr.
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// Validates and runs the experiment; returns its journal (Chaos Toolkit's layout).
    pub async fn run(self) -> Result<Journal, String> {
        let log = Logger::new(self.verbose);
        let mut overrides = Overrides::default();
        for (key, value) in self.vars {
            overrides.configuration.insert(key, value);
        }
        let (experiment, vars) =
            load_checked(&self.path, &overrides, true, &log).ok_or_else(|| {
                format!(
                    "{}: the experiment is invalid (see the log)",
                    self.path.display()
                )
            })?;
        let options = runner::options(
            &experiment,
            self.rollback,
            self.hypothesis,
            1.0,
            false,
            None,
        );
        let (_trigger, interrupt) = Interrupt::new();
        let setup = Setup {
            experiment,
            vars,
            env: overrides.env,
            database_url: self.database_url,
            // `chaos` activities wait for the apps as `chaos-admin run` does by default.
            wait_timeout: crate::confirm::Wait::from_args(
                false,
                crate::confirm::DEFAULT_WAIT_TIMEOUT,
            )
            .ok()
            .and_then(|wait| wait.timeout),
            options,
            interrupt,
            log,
        };
        Ok(runner::run(setup).await)
    }
}

impl Journal {
    /// Whether the run is a success as `chaos run`'s exit code 0 means it: status
    /// `completed` and not deviated.
    pub fn succeeded(&self) -> bool {
        self.status == Status::Completed && !self.deviated
    }
}
