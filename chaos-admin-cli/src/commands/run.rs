//! `run`: runs a Chaos Toolkit experiment and writes its journal.

use std::path::PathBuf;

use crate::error::CliError;
use crate::experiment::log::Logger;
use crate::experiment::runner::{
    self, Dry, HypothesisStrategy, Interrupt, RollbackStrategy, Setup,
};
use crate::experiment::{load_checked, notify, overrides};

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 completed and not deviated; 1 deviated, failed, aborted, \
interrupted, or an invalid experiment (then no journal is written); 2 bad arguments."
)]
pub struct Args {
    /// The experiment: a Chaos Toolkit JSON or YAML file.
    pub experiment: PathBuf,
    /// Where to write the journal.
    #[arg(long, default_value = "./journal.json", value_name = "PATH")]
    pub journal_path: PathBuf,
    /// When to play rollbacks (default: experiment's `runtime`, else `default`).
    #[arg(long, value_enum)]
    pub rollback_strategy: Option<RollbackStrategy>,
    /// When to check the steady-state hypothesis.
    #[arg(long, value_enum)]
    pub hypothesis_strategy: Option<HypothesisStrategy>,
    /// Seconds between hypothesis checks during the method.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    pub hypothesis_frequency: f64,
    /// Stop as soon as the hypothesis deviates during the method.
    #[arg(long)]
    pub fail_fast: bool,
    /// Override a configuration value: key=value or key:type=value (str, int, float, bool, json).
    #[arg(long = "var", value_name = "KEY[:TYPE]=VALUE")]
    pub vars: Vec<String>,
    /// JSON/YAML file with `configuration` and `secrets`, or a file of KEY=VALUE
    /// environment variables.
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
    /// Run without executing probes, actions, activities, or pauses.
    #[arg(long, value_enum)]
    pub dry: Option<Dry>,
    /// Do not validate the experiment first.
    #[arg(long)]
    pub no_validation: bool,
    /// Chaos Toolkit settings whose `notifications` (type http) hear about the run
    /// (default ~/.chaostoolkit/settings.yaml when it exists).
    #[arg(long, value_name = "PATH")]
    pub settings: Option<PathBuf>,
    /// Also print debug lines (activity outputs).
    #[arg(long, short)]
    pub verbose: bool,
}

/// Runs the experiment; returns the exit code.
pub fn main(args: Args, database_url: &str, wait: crate::confirm::Wait) -> Result<u8, CliError> {
    let log = Logger::new(args.verbose);
    let overrides = overrides(&args.vars, &args.var_files).map_err(CliError::usage)?;
    if !(args.hypothesis_frequency.is_finite() && args.hypothesis_frequency > 0.0) {
        return Err(CliError::usage(format!(
            "invalid --hypothesis-frequency {}: allowed are positive numbers of seconds",
            args.hypothesis_frequency
        )));
    }
    let Some((experiment, vars)) =
        load_checked(&args.experiment, &overrides, !args.no_validation, &log)
    else {
        return Ok(1);
    };
    let channels = match (&args.settings, notify::default_settings_path()) {
        (Some(path), _) => notify::channels(path, true, &log).map_err(CliError::usage)?,
        (None, Some(path)) => notify::channels(&path, false, &log).unwrap_or_else(|err| {
            log.warning(&format!("{err}; its notifications are not sent"));
            Vec::new()
        }),
        (None, None) => Vec::new(),
    };
    let title = experiment
        .get("title")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("untitled")
        .to_owned();
    let mut sending = notify::send(&channels, &["run-started"], &experiment, log);
    let options = runner::options(
        &experiment,
        args.rollback_strategy,
        args.hypothesis_strategy,
        args.hypothesis_frequency,
        args.fail_fast,
        args.dry,
    );
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let journal = tokio.block_on(async {
        let (trigger, interrupt) = Interrupt::new();
        listen_for_signals(trigger, log)?;
        let setup = Setup {
            experiment,
            vars,
            env: overrides.env.clone(),
            database_url: database_url.to_owned(),
            wait_timeout: wait.timeout,
            options,
            interrupt,
            log,
        };
        let store = notify::store_to_tell(database_url).await;
        if let Some(store) = &store
            && let Err(err) = store.emit(&notify::started(&title)).await
        {
            log.warning(&format!("cannot queue the experiment notification: {err}"));
        }
        let journal = runner::run(setup).await;
        if let Some(store) = &store {
            for event in notify::finished(&title, &journal) {
                if let Err(err) = store.emit(&event).await {
                    log.warning(&format!("cannot queue the experiment notification: {err}"));
                }
            }
            crate::commands::notify::deliver_in_background(store, database_url).await;
            store.close().await;
        }
        Ok::<_, CliError>(journal)
    })?;
    let text = serde_json::to_string_pretty(&journal)?;
    std::fs::write(&args.journal_path, text + "\n").map_err(|err| {
        CliError::Runtime(anyhow::anyhow!(
            "cannot write the journal to {}: {err}",
            args.journal_path.display()
        ))
    })?;
    log.info(&format!(
        "Journal written to {}",
        args.journal_path.display()
    ));
    // Background HTTP calls cut short by a signal must not keep the process alive.
    tokio.shutdown_background();
    let payload = serde_json::to_value(&journal)?;
    // After run-started (Chaos Toolkit sends one event after the other).
    for thread in sending.drain(..) {
        let _ = thread.join();
    }
    sending.extend(notify::send(
        &channels,
        &notify::end_events(&journal),
        &payload,
        log,
    ));
    // Each send is bounded (2 s to connect, 5 s to answer).
    for thread in sending {
        let _ = thread.join();
    }
    Ok(runner::exit_code(journal.status, journal.deviated))
}

/// SIGINT and SIGTERM count as Ctrl-C (the handlers are installed before anything runs).
fn listen_for_signals(
    trigger: tokio::sync::watch::Sender<u32>,
    log: Logger,
) -> Result<(), CliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                got = interrupt.recv() => if got.is_none() { break },
                got = terminate.recv() => if got.is_none() { break },
            }
            log.warning("Received a termination signal; stopping (rollbacks still run, Ctrl-C again stops them)");
            trigger.send_modify(|count| *count += 1);
        }
    });
    Ok(())
}
