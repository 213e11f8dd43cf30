//! `validate`: lists every problem of an experiment with its location.

use std::path::PathBuf;

use crate::error::CliError;
use crate::experiment::log::Logger;
use crate::experiment::{load_checked, overrides};

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 valid; 1 invalid (every problem is listed); 2 bad arguments."
)]
pub struct Args {
    /// The experiment: a Chaos Toolkit JSON or YAML file.
    pub experiment: PathBuf,
    /// Configuration value used while checking: key=value or key:type=value.
    #[arg(long = "var", value_name = "KEY[:TYPE]=VALUE")]
    pub vars: Vec<String>,
    /// JSON/YAML var file, or KEY=VALUE environment file.
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

/// Validates; returns the exit code.
pub fn main(args: Args) -> Result<u8, CliError> {
    let log = Logger::new(false);
    let overrides = overrides(&args.vars, &args.var_files).map_err(CliError::usage)?;
    Ok(
        match load_checked(&args.experiment, &overrides, true, &log) {
            Some(_) => 0,
            None => 1,
        },
    )
}
