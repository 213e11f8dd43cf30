//! Runs an experiment the way chaoslib 1.44 does: hypothesis before, method, hypothesis
//! after, rollbacks, and a journal in Chaos Toolkit's layout.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chaos_middleware::Store;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Mutex, watch};

use super::config;
use super::log::Logger;
use super::providers::{self, ActivityError};
use super::subst::{Vars, substitute, substitute_text};
use super::tolerance::{Check, truthy, within_tolerance};

/// `--dry`: what is not executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dry {
    /// Probes are not run (outputs null, tolerances met).
    Probes,
    /// Actions are not run.
    Actions,
    /// Nothing is run; pauses are skipped.
    Activities,
    /// Pauses are skipped.
    Pause,
}

impl Dry {
    fn as_str(self) -> &'static str {
        match self {
            Dry::Probes => "probes",
            Dry::Actions => "actions",
            Dry::Activities => "activities",
            Dry::Pause => "pause",
        }
    }
}

/// When rollbacks are played.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RollbackStrategy {
    /// Unless the run failed (chaos-admin also plays them after an interruption).
    Default,
    /// Always.
    Always,
    /// Never.
    Never,
    /// Only when the experiment deviated.
    Deviated,
}

impl RollbackStrategy {
    /// Parses the name used in files and on the command line.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "default" => Self::Default,
            "always" => Self::Always,
            "never" => Self::Never,
            "deviated" => Self::Deviated,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Always => "always",
            Self::Never => "never",
            Self::Deviated => "deviated",
        }
    }

    /// Whether rollbacks are played for this outcome.
    pub fn plays(self, status: Status, deviated: bool) -> bool {
        match self {
            // Chaos Toolkit skips rollbacks after an interruption too; we play them, so an
            // interrupted run does not leave its faults in a shared store.
            Self::Default => status != Status::Failed,
            Self::Always => true,
            Self::Never => false,
            Self::Deviated => deviated,
        }
    }
}

/// When the steady-state hypothesis is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HypothesisStrategy {
    /// Before and after the method.
    Default,
    /// Before the method only.
    BeforeMethodOnly,
    /// After the method only.
    AfterMethodOnly,
    /// Repeatedly while the method runs, only.
    DuringMethodOnly,
    /// Before, repeatedly during, and after the method.
    #[value(alias = "continously")]
    Continuously,
}

impl HypothesisStrategy {
    /// Parses the name used in files and on the command line.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "default" => Self::Default,
            "before-method-only" => Self::BeforeMethodOnly,
            "after-method-only" => Self::AfterMethodOnly,
            "during-method-only" => Self::DuringMethodOnly,
            "continuously" | "continously" => Self::Continuously,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::BeforeMethodOnly => "before-method-only",
            Self::AfterMethodOnly => "after-method-only",
            Self::DuringMethodOnly => "during-method-only",
            Self::Continuously => "continuously",
        }
    }

    fn before(self) -> bool {
        matches!(
            self,
            Self::Default | Self::BeforeMethodOnly | Self::Continuously
        )
    }
    fn after(self) -> bool {
        matches!(
            self,
            Self::Default | Self::AfterMethodOnly | Self::Continuously
        )
    }
    fn during(self) -> bool {
        matches!(self, Self::DuringMethodOnly | Self::Continuously)
    }
}

/// The journal's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Ran to the end (possibly deviated).
    Completed,
    /// A hypothesis probe could not run, or fail-fast stopped the run.
    Failed,
    /// An unexpected error stopped the method.
    Aborted,
    /// Stopped by a signal.
    Interrupted,
}

impl Status {
    /// The name in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Aborted => "aborted",
            Status::Interrupted => "interrupted",
        }
    }
}

/// The process exit code for a finished run: 0 only when completed and not deviated.
pub fn exit_code(status: Status, deviated: bool) -> u8 {
    u8::from(status != Status::Completed || deviated)
}

/// How the run behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rollback strategy (after CLI/experiment/default resolution).
    pub rollback: RollbackStrategy,
    /// Hypothesis strategy.
    pub hypothesis: HypothesisStrategy,
    /// Seconds between two hypothesis checks during the method.
    pub frequency: f64,
    /// Stop as soon as the hypothesis deviates during the method.
    pub fail_fast: bool,
    /// What is not executed.
    pub dry: Option<Dry>,
}

/// Signals received (Ctrl-C): the method stops at the first one; rollbacks stop at one
/// received while they play.
#[derive(Debug, Clone)]
pub struct Interrupt {
    count: watch::Receiver<u32>,
    baseline: Arc<std::sync::atomic::AtomicU32>,
}

impl Interrupt {
    /// A trigger and the interrupt it sets.
    pub fn new() -> (watch::Sender<u32>, Self) {
        let (sender, count) = watch::channel(0);
        (
            sender,
            Self {
                count,
                baseline: Arc::default(),
            },
        )
    }

    fn baseline(&self) -> u32 {
        self.baseline.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether a signal arrived since the last [`Interrupt::rebase`].
    pub fn is_set(&self) -> bool {
        *self.count.borrow() > self.baseline()
    }

    /// Only signals after now count.
    pub fn rebase(&self) {
        let now = *self.count.borrow();
        self.baseline
            .store(now, std::sync::atomic::Ordering::SeqCst);
    }

    /// Resolves when a signal arrives (never, if none can).
    pub async fn wait(&self) {
        let baseline = self.baseline();
        let mut count = self.count.clone();
        if count.wait_for(|n| *n > baseline).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// What every activity shares.
#[derive(Debug)]
pub struct Ctx {
    /// Substitution values.
    pub vars: Vars,
    /// Extra environment for process activities (from `.env` var files).
    pub env: BTreeMap<String, String>,
    /// The store of the CLI (`--database-url`).
    pub database_url: String,
    /// The default wait of `chaos` writes for the apps (`None`: `--no-wait`).
    pub wait_timeout: Option<Duration>,
    /// Connections by URL.
    pub stores: Mutex<HashMap<String, Store>>,
    /// Last output of each named activity (for `from_activity`).
    pub outputs: Mutex<HashMap<String, Value>>,
    /// Ctrl-C.
    pub interrupt: Interrupt,
    /// Console.
    pub log: Logger,
    dry: Option<Dry>,
    /// Activities by name, for `ref`.
    named: HashMap<String, Value>,
    /// Set by fail-fast during the method.
    failed_fast: std::sync::atomic::AtomicBool,
    /// Set when an activity crashed (an unexpected error, not an activity failure).
    aborted: std::sync::atomic::AtomicBool,
    /// Probe tolerances as last run (with `arguments.value`), by hypothesis probe index.
    tolerance_inputs: Mutex<HashMap<usize, Value>>,
}

/// One activity's record in the journal.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// The activity as run (references resolved).
    pub activity: Value,
    /// What the provider returned (null when dry or failed).
    pub output: Value,
    /// ISO 8601 start.
    pub start: String,
    /// `succeeded` or `failed`; none when the provider crashed (chaoslib journals no
    /// status then, and the run is aborted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    /// ISO 8601 end.
    pub end: String,
    /// Seconds.
    pub duration: f64,
    /// Why it failed, as lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<Vec<String>>,
    /// For hypothesis probes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerance_met: Option<bool>,
}

/// One check of the hypothesis.
#[derive(Debug, Clone, Serialize)]
pub struct State {
    /// Whether every probe ran and met its tolerance.
    pub steady_state_met: Option<bool>,
    /// The probes run, up to the first that missed.
    pub probes: Vec<Run>,
}

/// The hypothesis checks of a run.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SteadyStates {
    /// Before the method.
    pub before: Option<State>,
    /// After the method.
    pub after: Option<State>,
    /// During the method.
    pub during: Vec<State>,
}

/// The journal, keys in Chaos Toolkit's order.
#[derive(Debug, Clone, Serialize)]
pub struct Journal {
    /// Who wrote it (Chaos Toolkit writes its chaoslib version here).
    #[serde(rename = "chaoslib-version")]
    pub chaoslib_version: String,
    /// OS description.
    pub platform: String,
    /// Host name.
    pub node: String,
    /// The experiment as loaded, plus `dry`.
    pub experiment: Value,
    /// ISO 8601 start.
    pub start: String,
    /// Outcome.
    pub status: Status,
    /// Whether the hypothesis after the method was not met.
    pub deviated: bool,
    /// Hypothesis checks.
    pub steady_states: SteadyStates,
    /// Method activities.
    pub run: Vec<Run>,
    /// Rollback activities.
    pub rollbacks: Vec<Run>,
    /// ISO 8601 end.
    pub end: String,
    /// Seconds.
    pub duration: f64,
}

/// The journal's `chaoslib-version`: valid semver (Chaos Toolkit's reporting picks its
/// template from it) naming the chaoslib release we reproduce, with build metadata that
/// says the journal is ours: `1.44.0+chaos-admin.0.1.0`.
pub const CHAOSLIB_VERSION: &str = concat!("1.44.0+chaos-admin.", env!("CARGO_PKG_VERSION"));

/// Python's `datetime.now(timezone.utc).isoformat()`.
pub fn iso_now() -> String {
    iso(SystemTime::now())
}

fn iso(at: SystemTime) -> String {
    let text = humantime::format_rfc3339_micros(at).to_string();
    format!("{}+00:00", text.trim_end_matches('Z'))
}

fn platform() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let os = read("/proc/sys/kernel/ostype");
    let os = if os.is_empty() {
        std::env::consts::OS.to_owned()
    } else {
        os
    };
    let release = read("/proc/sys/kernel/osrelease");
    format!("{os}-{release}-{}", std::env::consts::ARCH)
}

fn node() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default()
}

/// Every named activity of the experiment (hypothesis probes, method, rollbacks; a later
/// one with the same name wins, as in chaoslib).
pub fn named_activities(experiment: &Value) -> HashMap<String, Value> {
    let mut named = HashMap::new();
    let lists = [
        experiment
            .get("steady-state-hypothesis")
            .and_then(|h| h.get("probes")),
        experiment.get("method"),
        experiment.get("rollbacks"),
    ];
    for list in lists.into_iter().flatten().filter_map(Value::as_array) {
        for activity in list {
            if let Some(name) = activity.get("name").and_then(Value::as_str)
                && activity.get("ref").is_none()
            {
                named.insert(name.to_owned(), activity.clone());
            }
        }
    }
    named
}

/// The run's options: strategies from the command line, else the experiment's
/// `runtime`, else `default`. An unknown rollback strategy in the file plays no rollbacks
/// (chaoslib matches none of its cases); `validate` accepts it, as Chaos Toolkit does.
pub fn options(
    experiment: &Value,
    rollback: Option<RollbackStrategy>,
    hypothesis: Option<HypothesisStrategy>,
    frequency: f64,
    fail_fast: bool,
    dry: Option<Dry>,
) -> Options {
    let runtime = experiment.get("runtime");
    let hypothesis = hypothesis
        .or_else(|| {
            runtime
                .and_then(|r| r.pointer("/hypothesis/strategy"))
                .and_then(Value::as_str)
                .and_then(HypothesisStrategy::parse)
        })
        .unwrap_or(HypothesisStrategy::Default);
    let rollback = rollback
        .or_else(|| {
            runtime
                .and_then(|r| r.pointer("/rollbacks/strategy"))
                .and_then(Value::as_str)
                .map(|name| RollbackStrategy::parse(name).unwrap_or(RollbackStrategy::Never))
        })
        .unwrap_or(RollbackStrategy::Default);
    Options {
        rollback,
        hypothesis,
        frequency,
        fail_fast,
        dry,
    }
}

/// Everything a run needs.
#[derive(Debug)]
pub struct Setup {
    /// The experiment as loaded.
    pub experiment: Value,
    /// Configuration and secrets.
    pub vars: Vars,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// The CLI's store URL.
    pub database_url: String,
    /// How long a `chaos` write waits for the apps by default (`--wait-timeout`;
    /// `None`: `--no-wait`).
    pub wait_timeout: Option<Duration>,
    /// Strategies and dry mode.
    pub options: Options,
    /// Ctrl-C.
    pub interrupt: Interrupt,
    /// Console.
    pub log: Logger,
}

/// Runs the dynamic configuration probes (chaoslib's `load_dynamic_configuration`), in the
/// order the experiment declares them, each substituted with the configuration before it:
/// a process probe's value is its stdout without surrounding whitespace (none when it exits
/// non-zero), an http probe's its body, a chaos probe's its output. A probe that fails
/// leaves its key out (a `${key}` then stays as written) and logs one warning, as chaoslib
/// does; the run goes on.
async fn load_dynamic_configuration(ctx: &mut Ctx) {
    if !ctx.vars.configuration.values().any(config::is_dynamic) {
        return;
    }
    let declared = std::mem::take(&mut ctx.vars.configuration);
    let mut failed = false;
    for (key, value) in declared {
        if !config::is_dynamic(&value) {
            ctx.vars.configuration.insert(key, value);
            continue;
        }
        let provider_type = value["provider"]["type"].as_str().unwrap_or("").to_owned();
        let output = match providers::run(&value, ctx).await {
            Ok(output) => output,
            Err(err) => {
                ctx.log
                    .debug(&format!("Failed to load configuration '{key}': {err}"));
                failed = true;
                continue;
            }
        };
        let loaded = match provider_type.as_str() {
            "process" if output["status"] == 0 => Some(Value::String(
                output["stdout"].as_str().unwrap_or("").trim().to_owned(),
            )),
            "process" => None,
            "http" => Some(output["body"].clone()),
            _ => Some(output),
        };
        match loaded {
            Some(loaded) => {
                ctx.vars.configuration.insert(key, loaded);
            }
            None => failed = true,
        }
    }
    if failed {
        ctx.log.warning(
            "Some of the dynamic configuration failed to be loaded. Run with --verbose to see why (chaos-admin writes no log file).",
        );
    }
}

/// Runs the experiment and returns its journal.
pub async fn run(setup: Setup) -> Journal {
    let Setup {
        experiment,
        vars,
        env,
        database_url,
        wait_timeout,
        options,
        interrupt,
        log,
    } = setup;
    let started = Instant::now();
    let mut journal_experiment = experiment.clone();
    if let Value::Object(map) = &mut journal_experiment {
        map.insert(
            "dry".to_owned(),
            options.dry.map_or(Value::Null, |d| Value::from(d.as_str())),
        );
    }
    let mut journal = Journal {
        chaoslib_version: CHAOSLIB_VERSION.to_owned(),
        platform: platform(),
        node: node(),
        experiment: journal_experiment,
        start: iso_now(),
        status: Status::Completed,
        deviated: false,
        steady_states: SteadyStates::default(),
        run: Vec::new(),
        rollbacks: Vec::new(),
        end: String::new(),
        duration: 0.0,
    };
    let mut ctx = Ctx {
        named: named_activities(&experiment),
        vars,
        env,
        database_url,
        wait_timeout,
        stores: Mutex::default(),
        outputs: Mutex::default(),
        interrupt,
        log,
        dry: options.dry,
        failed_fast: Default::default(),
        aborted: Default::default(),
        tolerance_inputs: Mutex::default(),
    };
    load_dynamic_configuration(&mut ctx).await;
    let ctx = Arc::new(ctx);
    let experiment = Arc::new(experiment);
    let title = experiment
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("");
    log.info(&format!(
        "Running experiment: {}",
        substitute_text(title, &ctx.vars)
    ));
    if let Some(dry) = options.dry {
        log.warning(&format!("Running experiment with dry {}", dry.as_str()));
    }
    log.info(&format!(
        "Steady-state strategy: {}",
        options.hypothesis.as_str()
    ));
    log.info(&format!(
        "Rollbacks strategy: {}",
        options.rollback.as_str()
    ));
    let with_ssh = experiment
        .get("steady-state-hypothesis")
        .and_then(|h| h.get("probes"))
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    if !with_ssh {
        log.info("No steady state hypothesis defined. That's ok, just exploring.");
    }

    let mut gate_open = true;
    if with_ssh && options.hypothesis.before() {
        let state = run_hypothesis(&experiment, &ctx).await;
        let met = state.steady_state_met == Some(true);
        if !met {
            journal.status = status_of_missed(&state);
            if !ctx.interrupt.is_set() {
                log_missed(&state, &log);
            }
            gate_open = false;
        }
        // A probe that crashed (chaoslib itself stops with no journal): aborted.
        if ctx.aborted.load(std::sync::atomic::Ordering::SeqCst) {
            journal.status = Status::Aborted;
            log.critical("Experiment ran into an unexpected fatal error, aborting now.");
        }
        journal.steady_states.before = Some(state);
    }
    if gate_open && !ctx.interrupt.is_set() {
        let during = (with_ssh && options.hypothesis.during()).then(|| {
            spawn_continuous(
                experiment.clone(),
                ctx.clone(),
                options.frequency,
                options.fail_fast,
            )
        });
        journal.run = run_method(&experiment, &ctx).await;
        if let Some((stop, task)) = during {
            let _ = stop.send(true);
            if let Ok(states) = task.await {
                journal.steady_states.during = states;
            }
            log.info("Continuous steady state hypothesis terminated");
        }
        let failed_fast = ctx.failed_fast.load(std::sync::atomic::Ordering::SeqCst);
        if failed_fast {
            // The hypothesis deviated during the method and --fail-fast stopped the
            // method after the activity that was running: the run is failed unless the
            // "after" check below deviates (then completed + deviated, as chaoslib).
            journal.status = Status::Failed;
        }
        if ctx.aborted.load(std::sync::atomic::Ordering::SeqCst) {
            journal.status = Status::Aborted;
            log.critical("Experiment ran into an unexpected fatal error, aborting now.");
        }
        if journal.status != Status::Aborted
            && !ctx.interrupt.is_set()
            && with_ssh
            && options.hypothesis.after()
        {
            let state = run_hypothesis(&experiment, &ctx).await;
            if state.steady_state_met != Some(true) && !ctx.interrupt.is_set() {
                journal.deviated = true;
                journal.status = status_of_missed(&state);
                log_missed(&state, &log);
            }
            journal.steady_states.after = Some(state);
        }
    }
    if ctx.interrupt.is_set() {
        journal.status = Status::Interrupted;
        log.warning("Received a termination signal (Ctrl-C)...");
    }

    let rollbacks = experiment
        .get("rollbacks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match options.rollback {
        RollbackStrategy::Always => log.warning("Rollbacks were explicitly requested to be played"),
        RollbackStrategy::Never => {
            log.warning("Rollbacks were explicitly requested to not be played")
        }
        RollbackStrategy::Deviated if journal.deviated => {
            log.warning("Rollbacks will be played only because the experiment deviated")
        }
        RollbackStrategy::Deviated => log.warning(
            "Rollbacks were explicitly requested to be played only if the experiment deviated. Since this is not the case, we will not play them.",
        ),
        RollbackStrategy::Default => {}
    }
    if options.rollback.plays(journal.status, journal.deviated) {
        // Only a signal received from now on stops the rollbacks; the method's
        // fail-fast does not.
        ctx.interrupt.rebase();
        ctx.failed_fast
            .store(false, std::sync::atomic::Ordering::SeqCst);
        // An aborted method (its status is kept) does not stop the rollbacks either.
        ctx.aborted
            .store(false, std::sync::atomic::Ordering::SeqCst);
        if rollbacks.is_empty() {
            log.info("No declared rollbacks, let's move on.");
        } else {
            log.info("Let's rollback...");
        }
        let (runs, stopped) = run_activities(&rollbacks, &ctx, ROLLBACK).await;
        journal.rollbacks = runs;
        // A rollback that crashed (chaoslib itself stops with no journal, leaving the
        // rest unplayed): every rollback still plays, and the run is aborted.
        if ctx.aborted.load(std::sync::atomic::Ordering::SeqCst) {
            journal.status = Status::Aborted;
            log.critical("A rollback ran into an unexpected fatal error; the run is aborted.");
        }
        if stopped {
            journal.status = Status::Interrupted;
            log.warning(
                "Received an exit signal. Terminating now without running the remaining rollbacks.",
            );
        }
    }

    for (index, tolerance) in ctx.tolerance_inputs.lock().await.drain() {
        if let Some(probe) = journal
            .experiment
            .pointer_mut(&format!("/steady-state-hypothesis/probes/{index}"))
            .and_then(Value::as_object_mut)
        {
            probe.insert("tolerance".to_owned(), tolerance);
        }
    }
    journal.end = iso_now();
    journal.duration = started.elapsed().as_secs_f64();
    let shown = if journal.deviated {
        "deviated"
    } else {
        journal.status.as_str()
    };
    log.info(&format!("Experiment ended with status: {shown}"));
    if journal.deviated {
        log.info("The steady-state has deviated, a weakness may have been discovered");
    }
    for store in ctx.stores.lock().await.values() {
        store.close().await;
    }
    journal
}

fn status_of_missed(state: &State) -> Status {
    if state.probes.iter().any(|p| p.status != Some("succeeded")) {
        Status::Failed
    } else {
        Status::Completed
    }
}

fn log_missed(state: &State, log: &Logger) {
    let name = state
        .probes
        .last()
        .and_then(|p| p.activity.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    log.critical(&format!(
        "Steady state probe '{name}' is not in the given tolerance so failing this experiment"
    ));
}

fn spawn_continuous(
    experiment: Arc<Value>,
    ctx: Arc<Ctx>,
    frequency: f64,
    fail_fast: bool,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<Vec<State>>) {
    let (stop, mut stopped) = watch::channel(false);
    let frequency = Duration::from_secs_f64(if frequency.is_finite() && frequency > 0.0 {
        frequency
    } else {
        1.0
    });
    ctx.log.info(&format!(
        "Executing the steady-state hypothesis continuously every {} seconds",
        frequency.as_secs_f64()
    ));
    let task = tokio::spawn(async move {
        let mut states = Vec::new();
        let (mut iteration, mut failed) = (0u32, 0u32);
        while !*stopped.borrow() && !ctx.interrupt.is_set() {
            iteration += 1;
            let state = run_hypothesis(&experiment, &ctx).await;
            let met = state.steady_state_met == Some(true);
            states.push(state);
            if !met {
                failed += 1;
                ctx.log
                    .warning("Continuous steady state probe is not in the given tolerance");
                if fail_fast {
                    let ratio = f64::from(failed) * 100.0 / f64::from(iteration);
                    ctx.log.info(&format!(
                        "Terminating immediately the experiment after {ratio:.1}% hypothesis deviated"
                    ));
                    ctx.failed_fast
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                    break;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(frequency) => {}
                _ = stopped.wait_for(|s| *s) => {}
                () = ctx.interrupt.wait() => {}
            }
        }
        states
    });
    (stop, task)
}

async fn run_method(experiment: &Value, ctx: &Arc<Ctx>) -> Vec<Run> {
    ctx.log.info("Playing your experiment's method now...");
    let method = experiment
        .get("method")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if method.is_empty() {
        ctx.log.info("No declared activities, let's move on.");
    }
    run_activities(&method, ctx, "").await.0
}

/// The label of rollback activities in the log.
const ROLLBACK: &str = "Rollback";

/// Runs activities in order (background ones concurrently); stops at a signal or a
/// fail-fast, and in the method (not in the rollbacks, which all play) at an abort.
/// Returns the runs, ordered by start, and whether a signal stopped them.
async fn run_activities(activities: &[Value], ctx: &Arc<Ctx>, label: &str) -> (Vec<Run>, bool) {
    let rollbacks = label == ROLLBACK;
    let mut runs = Vec::new();
    let mut background = tokio::task::JoinSet::new();
    for activity in activities {
        if ctx.interrupt.is_set()
            || ctx.failed_fast.load(std::sync::atomic::Ordering::SeqCst)
            || (!rollbacks && ctx.aborted.load(std::sync::atomic::Ordering::SeqCst))
        {
            break;
        }
        if !label.is_empty() {
            let name = activity
                .get("name")
                .or_else(|| activity.get("ref"))
                .and_then(Value::as_str)
                .unwrap_or("");
            ctx.log.info(&format!("{label}: {name}"));
        }
        if activity.get("background") == Some(&Value::Bool(true)) {
            let (activity, ctx) = (activity.clone(), ctx.clone());
            // Journaled at the time it was started here (chaoslib submits it to a
            // thread at once), not when the task first runs.
            let scheduled = SystemTime::now();
            background.spawn(async move {
                execute(&activity, &ctx).await.map(|mut run| {
                    run.start = iso(scheduled);
                    run
                })
            });
        } else if let Some(run) = execute(activity, ctx).await {
            runs.push(run);
        }
    }
    while let Some(done) = background.join_next().await {
        match done {
            Ok(Some(run)) => runs.push(run),
            Ok(None) => {}
            Err(_) => ctx.aborted.store(true, std::sync::atomic::Ordering::SeqCst),
        }
    }
    runs.sort_by(|a, b| a.start.cmp(&b.start));
    (runs, ctx.interrupt.is_set())
}

/// Whether a pause is a number. A pause of another type (a string, even one that came
/// from `--var wait=1`) makes chaoslib's `time.sleep` raise: the run is aborted (no
/// "after" check; rollbacks still play). Returns false after marking the abort.
fn pause_number(seconds: &Value, ctx: &Ctx) -> bool {
    // `time.sleep` also raises for a negative number.
    if seconds.as_f64().is_some_and(|s| s >= 0.0) {
        return true;
    }
    ctx.log.critical(&format!(
        "pause {seconds} is not a non-negative number of seconds: aborting the experiment"
    ));
    ctx.aborted.store(true, std::sync::atomic::Ordering::SeqCst);
    false
}

/// Sleeps unless interrupted; returns false when interrupted.
async fn pause(seconds: &Value, ctx: &Ctx) -> bool {
    let Some(secs) = seconds.as_f64().filter(|s| s.is_finite() && *s > 0.0) else {
        return !ctx.interrupt.is_set();
    };
    // A fail-fast does not cut a pause short: chaoslib stops the method only after the
    // activity (pauses included) that was running.
    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs_f64(secs)) => true,
        () = ctx.interrupt.wait() => false,
    }
}

fn resolve<'a>(activity: &'a Value, ctx: &'a Ctx) -> Result<&'a Value, String> {
    match activity.get("ref").and_then(Value::as_str) {
        Some(name) => ctx
            .named
            .get(name)
            .ok_or_else(|| format!("could not find referenced activity '{name}'")),
        None => Ok(activity),
    }
}

fn failed_run(activity: &Value, message: &str) -> Run {
    let now = iso_now();
    Run {
        activity: activity.clone(),
        output: Value::Null,
        start: now.clone(),
        status: Some("failed"),
        end: now,
        duration: 0.0,
        exception: Some(vec![format!("ActivityFailed: {message}\n")]),
        tolerance_met: None,
    }
}

/// chaoslib's `execute_activity`: pauses, dry mode, the provider call, timings.
/// `None` when a signal arrived before it started.
async fn execute(activity: &Value, ctx: &Ctx) -> Option<Run> {
    let activity = match resolve(activity, ctx) {
        Ok(activity) => activity,
        Err(message) => {
            ctx.log.error(&format!("  => failed: {message}"));
            return Some(failed_run(activity, &message));
        }
    };
    let kind = activity
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("activity");
    let name = activity.get("name").and_then(Value::as_str).unwrap_or("");
    let is_dry = match ctx.dry {
        Some(Dry::Actions) => kind == "action",
        Some(Dry::Probes) => kind == "probe",
        Some(Dry::Activities) => true,
        _ => false,
    };
    let skip_pauses = is_dry || ctx.dry == Some(Dry::Pause);
    let pauses = substitute(activity.get("pauses").unwrap_or(&Value::Null), &ctx.vars);
    if let Some(before) = pauses.get("before").filter(|p| !p.is_null()) {
        ctx.log
            .info(&format!("Pausing before next activity for {before}s..."));
        if !skip_pauses && !pause_number(before, ctx) {
            return None;
        }
        if !skip_pauses && !pause(before, ctx).await {
            return None;
        }
    }
    if ctx.interrupt.is_set() {
        return None;
    }
    let title = capitalize(kind);
    let background = if activity.get("background") == Some(&Value::Bool(true)) {
        " [in background]"
    } else {
        ""
    };
    ctx.log.info(&format!("{title}: {name}{background}"));
    let start_at = SystemTime::now();
    let started = Instant::now();
    let result = if is_dry {
        ctx.log.debug(&format!("Activity {name} is in dry mode"));
        Ok(Value::Null)
    } else {
        providers::run(activity, ctx).await
    };
    let duration = started.elapsed().as_secs_f64();
    let end = iso_now();
    let run = match result {
        Ok(output) => {
            if !name.is_empty() && !output.is_null() {
                ctx.outputs
                    .lock()
                    .await
                    .insert(name.to_owned(), output.clone());
            }
            ctx.log.info("  => succeeded");
            ctx.log.debug(&format!("     output: {output}"));
            Run {
                activity: activity.clone(),
                output,
                start: iso(start_at),
                status: Some("succeeded"),
                end,
                duration,
                exception: None,
                tolerance_met: None,
            }
        }
        Err(ActivityError::Failed(message)) => {
            ctx.log.error(&format!("  => failed: {message}"));
            Run {
                activity: activity.clone(),
                output: Value::Null,
                start: iso(start_at),
                status: Some("failed"),
                end,
                duration,
                exception: Some(vec![format!("ActivityFailed: {message}\n")]),
                tolerance_met: None,
            }
        }
        Err(ActivityError::Crashed(message)) => {
            ctx.log.error(&format!("  => crashed: {message}"));
            ctx.aborted.store(true, std::sync::atomic::Ordering::SeqCst);
            Run {
                activity: activity.clone(),
                output: Value::Null,
                start: iso(start_at),
                status: None,
                end,
                duration,
                exception: None,
                tolerance_met: None,
            }
        }
    };
    if let Some(after) = pauses.get("after").filter(|p| !p.is_null()) {
        ctx.log
            .info(&format!("Pausing after activity for {after}s..."));
        if !skip_pauses && pause_number(after, ctx) {
            pause(after, ctx).await;
        }
    }
    Some(run)
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// chaoslib's `run_steady_state_hypothesis`.
async fn run_hypothesis(experiment: &Value, ctx: &Ctx) -> State {
    let hypothesis = experiment
        .get("steady-state-hypothesis")
        .unwrap_or(&Value::Null);
    let title = hypothesis
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("");
    ctx.log.info(&format!("Steady state hypothesis: {title}"));
    let mut state = State {
        steady_state_met: None,
        probes: Vec::new(),
    };
    let probes = hypothesis
        .get("probes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (index, probe) in probes.iter().enumerate() {
        let Some(mut run) = execute(probe, ctx).await else {
            state.steady_state_met = Some(false);
            return state;
        };
        if run.status != Some("succeeded") {
            run.tolerance_met = Some(false);
            state.probes.push(run);
            state.steady_state_met = Some(false);
            ctx.log
                .warning("Probe terminated unexpectedly, so its tolerance could not be validated");
            return state;
        }
        run.tolerance_met = Some(true);
        if matches!(ctx.dry, Some(Dry::Probes | Dry::Activities)) {
            state.probes.push(run);
            continue;
        }
        // A `ref` entry's own tolerance wins over the referenced activity's (chaoslib
        // reads the tolerance from the hypothesis entry).
        let tolerance = probe
            .get("tolerance")
            .or_else(|| resolve(probe, ctx).ok().and_then(|p| p.get("tolerance")))
            .cloned()
            .unwrap_or(Value::Null);
        let met = match within_tolerance(&tolerance, &run.output, &ctx.vars) {
            Check::Met(met) => met,
            Check::RunProbe(tolerance_probe) => {
                // As chaoslib (which sets the value in place), the journal shows the
                // input in `tolerance.provider.arguments.value`, in the activity and in
                // the experiment.
                if let Value::Object(activity) = &mut run.activity {
                    activity.insert("tolerance".to_owned(), tolerance_probe.clone());
                }
                ctx.tolerance_inputs
                    .lock()
                    .await
                    .insert(index, tolerance_probe.clone());
                matches!(providers::run(&tolerance_probe, ctx).await, Ok(output) if truthy(&output))
            }
            Check::Crashed(message) => {
                ctx.log.error(&format!("  => crashed: {message}"));
                ctx.aborted.store(true, std::sync::atomic::Ordering::SeqCst);
                false
            }
        };
        if !met {
            ctx.log.debug(&format!("allowed tolerance is {tolerance}"));
            run.tolerance_met = Some(false);
            state.probes.push(run);
            state.steady_state_met = Some(false);
            return state;
        }
        state.probes.push(run);
    }
    state.steady_state_met = Some(true);
    ctx.log.info("Steady state hypothesis is met!");
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(Status::Completed, false), 0);
        assert_eq!(exit_code(Status::Completed, true), 1);
        assert_eq!(exit_code(Status::Failed, false), 1);
        assert_eq!(exit_code(Status::Interrupted, false), 1);
        assert_eq!(exit_code(Status::Aborted, false), 1);
    }

    #[test]
    fn rollback_strategies() {
        use RollbackStrategy::*;
        use Status::*;
        assert!(Default.plays(Completed, false));
        assert!(Default.plays(Completed, true));
        assert!(!Default.plays(Failed, false));
        // Deliberate difference from Chaos Toolkit: rollbacks still run after Ctrl-C.
        assert!(Default.plays(Interrupted, false));
        assert!(Always.plays(Failed, false));
        assert!(Always.plays(Interrupted, false));
        assert!(!Never.plays(Completed, true));
        assert!(Deviated.plays(Completed, true));
        assert!(!Deviated.plays(Completed, false));
        assert!(!Deviated.plays(Failed, false));
    }

    #[test]
    fn hypothesis_strategies() {
        use HypothesisStrategy::*;
        let phases = |s: HypothesisStrategy| (s.before(), s.during(), s.after());
        assert_eq!(phases(Default), (true, false, true));
        assert_eq!(phases(BeforeMethodOnly), (true, false, false));
        assert_eq!(phases(AfterMethodOnly), (false, false, true));
        assert_eq!(phases(DuringMethodOnly), (false, true, false));
        assert_eq!(phases(Continuously), (true, true, true));
        assert_eq!(HypothesisStrategy::parse("continously"), Some(Continuously));
        assert_eq!(RollbackStrategy::parse("sometimes"), None);
    }

    #[test]
    fn iso_times_look_like_python() {
        let text = iso(std::time::UNIX_EPOCH + Duration::from_micros(1_500_000));
        assert_eq!(text, "1970-01-01T00:00:01.500000+00:00");
    }
}

#[cfg(test)]
mod version_tests {
    #[test]
    fn the_journal_version_is_valid_semver_with_build_metadata() {
        let version = super::CHAOSLIB_VERSION;
        let (core, build) = version.split_once('+').expect("build metadata");
        let parts: Vec<&str> = core.split('.').collect();
        assert_eq!(parts.len(), 3, "{version}");
        assert!(parts.iter().all(|p| p.parse::<u64>().is_ok()), "{version}");
        assert!(
            build
                .split('.')
                .all(|id| !id.is_empty()
                    && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')),
            "{version}"
        );
        assert!(build.starts_with("chaos-admin."), "{version}");
    }
}
