//! The `chaos-admin` command line: arguments, dispatch, exit codes.

use std::process::ExitCode;

use crate::{commands, confirm, error};

use chaos_middleware::Store;
use clap::{Parser, Subcommand};

use crate::commands::{
    create, delete, discover, exercise, guard, init, list, notify, purge, report, serve, show,
    status, storm, toggle, validate, views,
};
use crate::error::{CliError, EXIT_OK, EXIT_USAGE};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the chaos store cannot be reached or failed (connection, migration, query)
  2  bad input: an argument or value that is not allowed, an unknown action id,
     an unsupported database URL; nothing was written";

const EXAMPLES: &str = "\
Examples:
  chaos-admin create response slow items 250ms 1s --probability 25%
  chaos-admin create response return login 401 --body 'no entry' --user alice
  chaos-admin create return items 503
  chaos-admin create response abort checkout --for 10m
  chaos-admin create point error db.items --message 'database is gone'
  chaos-admin create response slow items 2s 2s --phase after --method GET
  chaos-admin list
  chaos-admin disable 3 4
  chaos-admin disable response items
  chaos-admin enable --all response
  chaos-admin delete --all --yes
  chaos-admin purge --expired
  chaos-admin storm --user alice --for 10m
  chaos-admin storm --end
  chaos-admin exercise start --view items --view checkout --for 1h
  chaos-admin guard set --max-error-rate 5% --max-p99 2s --window 60s
  chaos-admin guard reset
  chaos-admin notify add https://hooks.slack.com/services/T000/B000/XXX --events guard.*
  chaos-admin views
  chaos-admin status";

/// Manage the chaos actions that the chaos middleware injects into running apps.
#[derive(Debug, Parser)]
#[command(
    name = "chaos-admin",
    version,
    after_help = EXIT_CODES,
    after_long_help = format!("{EXAMPLES}\n\n{EXIT_CODES}"),
)]
struct Cli {
    /// The chaos store: sqlite://PATH, postgres://USER@HOST:PORT/DB or mysql://USER@HOST:PORT/DB.
    #[arg(
        long,
        global = true,
        env = "CHAOS_DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://chaos.db",
        value_name = "URL"
    )]
    database_url: String,

    /// Do not read `CHAOS_DATABASE_URL` (or anything else) from a `.env` file in the
    /// current directory.
    #[arg(long, global = true)]
    no_dotenv: bool,

    /// Writing commands: return as soon as the change is stored, without waiting for the
    /// running app instances to apply it.
    #[arg(long, global = true)]
    no_wait: bool,

    /// Writing commands: wait at most this long for every live app instance to apply
    /// the change (then warn, naming the ones that lag; the change stays stored).
    #[arg(long, global = true, value_name = "DURATION", default_value = confirm::DEFAULT_WAIT_TIMEOUT)]
    wait_timeout: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing would only obscure the clap derive"
)]
enum Command {
    /// Create an action; prints only its id.
    Create(create::Args),
    /// List every action.
    List(list::Args),
    /// Show one action.
    Show(show::Args),
    /// Enable actions by id, by kind and target, or all of them.
    Enable(toggle::Args),
    /// Disable actions by id, by kind and target, or all of them.
    Disable(toggle::Args),
    /// Delete actions by id, by kind and target, or all of them.
    Delete(delete::Args),
    /// Remove actions whose expiry has passed.
    Purge(purge::Args),
    /// Random failures for chosen users or groups across the views; `storm --end` stops it.
    Storm(storm::Args),
    /// Secretly inject faults for a fault-finding exercise; hint, reveal, end.
    #[command(subcommand)]
    Exercise(exercise::Command),
    /// Stop all chaos when the app's own users are hurt: set, list, clear, reset.
    #[command(subcommand)]
    Guard(guard::Command),
    /// Tell the team: webhooks for every change to the chaos: add, list, remove, test.
    #[command(subcommand)]
    Notify(notify::Command),
    /// List the views running app instances serve, and which instances serve them.
    Views(views::Args),
    /// Show live app instances and whether each applies the store's latest generation.
    Status(status::Args),
    /// Run a Chaos Toolkit experiment (JSON or YAML) and write its journal.
    Run(commands::run::Args),
    /// Check an experiment; every problem is listed with its location.
    Validate(validate::Args),
    /// Write what the store and the running apps know to discovery.json.
    Discover(discover::Args),
    /// Write a ready-to-edit experiment for one view.
    Init(init::Args),
    /// Render journals as a Markdown, HTML or PDF report.
    Report(report::Args),
    /// Serve the web admin and its JSON API over the store (token required off loopback).
    Serve(serve::Args),
}

/// What is left to do once the arguments are checked.
#[allow(
    clippy::large_enum_variant,
    reason = "made once per process; boxing the plan would only add noise"
)]
enum Next {
    /// Run this plan against the store.
    Store(Plan),
    /// The command ran by itself (the experiment commands manage their own stores);
    /// exit with this code.
    Exit(u8),
}

/// A command whose arguments have been checked; running it needs the store.
enum Plan {
    Create(create::Plan),
    List(list::Plan),
    Show(show::Plan),
    Toggle(toggle::Plan),
    Delete(delete::Plan),
    Purge(purge::Plan),
    Storm(storm::Plan),
    Exercise(exercise::Plan),
    Guard(guard::Plan),
    Notify(notify::Plan),
    Views(views::Plan),
    Status(status::Plan),
}

impl Command {
    /// Checks every argument without touching the store (experiment commands run here,
    /// as a whole).
    fn plan(self, database_url: &str, wait: confirm::Wait) -> Result<Next, CliError> {
        Ok(Next::Store(match self {
            Command::Create(args) => Plan::Create(create::plan(args)?),
            Command::List(args) => Plan::List(list::plan(args)),
            Command::Show(args) => Plan::Show(show::plan(args)?),
            Command::Enable(args) => Plan::Toggle(toggle::plan(args, true)?),
            Command::Disable(args) => Plan::Toggle(toggle::plan(args, false)?),
            Command::Delete(args) => Plan::Delete(delete::plan(args)?),
            Command::Purge(args) => Plan::Purge(purge::plan(args)?),
            Command::Storm(args) => Plan::Storm(storm::plan(args)?),
            Command::Exercise(command) => Plan::Exercise(exercise::plan(command)?),
            Command::Guard(command) => Plan::Guard(guard::plan(command)?),
            Command::Notify(command) => Plan::Notify(notify::plan(command)?),
            Command::Views(args) => Plan::Views(views::plan(args)),
            Command::Status(args) => Plan::Status(status::plan(args)),
            Command::Run(args) => {
                return commands::run::main(args, database_url, wait).map(Next::Exit);
            }
            Command::Validate(args) => return validate::main(args).map(Next::Exit),
            Command::Discover(args) => {
                return discover::main(args, database_url).map(Next::Exit);
            }
            Command::Init(args) => return init::main(args, database_url).map(Next::Exit),
            Command::Report(args) => return report::main(args).map(Next::Exit),
            Command::Serve(args) => return serve::main(args, database_url).map(Next::Exit),
        }))
    }
}

impl Plan {
    /// Whether the command may change the actions (and so the apps' behaviour).
    fn writes(&self) -> bool {
        match self {
            Plan::Create(_)
            | Plan::Toggle(_)
            | Plan::Delete(_)
            | Plan::Purge(_)
            | Plan::Storm(_)
            | Plan::Exercise(_) => true,
            Plan::Guard(plan) => guard::writes(plan),
            Plan::Notify(plan) => notify::writes(plan),
            Plan::List(_) | Plan::Show(_) | Plan::Views(_) | Plan::Status(_) => false,
        }
    }

    async fn run(self, store: &Store) -> Result<(), CliError> {
        match self {
            Plan::Create(plan) => create::run(plan, store).await,
            Plan::List(plan) => list::run(plan, store).await,
            Plan::Show(plan) => show::run(plan, store).await,
            Plan::Toggle(plan) => toggle::run(plan, store).await,
            Plan::Delete(plan) => delete::run(plan, store).await,
            Plan::Purge(plan) => purge::run(plan, store).await,
            Plan::Storm(plan) => storm::run(plan, store).await,
            Plan::Exercise(plan) => exercise::run(plan, store).await,
            Plan::Guard(plan) => guard::run(plan, store).await,
            Plan::Notify(plan) => notify::run(plan, store).await,
            Plan::Views(plan) => views::run(plan, store).await,
            Plan::Status(plan) => status::run(plan, store).await,
        }
    }
}

/// Runs `chaos-admin` with the process's arguments; the exit code is documented in
/// `--help` (0 done, 1 store failure, 2 bad input; `run` 0/1 as Chaos Toolkit).
pub fn main() -> ExitCode {
    if let Err(err) = load_dotenv() {
        eprintln!("error: {err}");
        return ExitCode::from(err.exit_code());
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version.
            let _ = err.print();
            return ExitCode::from(EXIT_OK);
        }
        Err(err) => {
            eprintln!("{}", clap_error_line(&err));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// Reads `.env` in the current directory (as sqlx-cli does) unless `--no-dotenv` is
/// given; variables already set in the environment win.
fn load_dotenv() -> Result<(), CliError> {
    if std::env::args_os().any(|arg| arg == "--no-dotenv") {
        return Ok(());
    }
    let path = std::path::Path::new(".env");
    if !path.is_file() {
        return Ok(());
    }
    dotenvy::from_path(path).map_err(|err| {
        CliError::usage(format!(
            "cannot read .env in the current directory ({err}): fix it, or pass --no-dotenv"
        ))
    })
}

fn run(cli: Cli) -> Result<u8, CliError> {
    let wait = confirm::Wait::from_args(cli.no_wait, &cli.wait_timeout)?;
    let plan = match cli.command.plan(&cli.database_url, wait)? {
        Next::Store(plan) => plan,
        Next::Exit(code) => return Ok(code),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // A command that only reads never creates a store file where none is.
        let store = if plan.writes() {
            Store::connect(&cli.database_url).await?
        } else {
            Store::connect_for_reading(&cli.database_url).await?
        };
        if store.missing_file() {
            eprintln!(
                "note: there is no chaos store at {} (nothing was created; is your app's store elsewhere? see --database-url, CHAOS_DATABASE_URL, .env)",
                store.location()
            );
        }
        if store.created_file() {
            eprintln!(
                "note: created a new, empty chaos store at {} (no app has used it yet; is this the store your app uses?)",
                store.location()
            );
        }
        let before = if plan.writes() {
            Some(store.generation().await?)
        } else {
            None
        };
        let delivers = matches!(&plan, Plan::Notify(plan) if notify::delivers(plan));
        let result = plan.run(&store).await;
        if let (Ok(()), Some(before)) = (&result, before) {
            confirm::after_write(&store, before, wait).await;
            if !delivers {
                notify::deliver_in_background(&store, &cli.database_url).await;
            }
        }
        store.close().await;
        result.map(|()| EXIT_OK)
    })
}

/// clap's message without the usage block and tips, on one line.
fn clap_error_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let first_paragraph = text.split("\n\n").next().unwrap_or_default();
    let line = error::one_line(first_paragraph);
    let line = if line.starts_with("error:") {
        line
    } else {
        format!("error: {line}")
    };
    format!("{line} (see chaos-admin --help)")
}
