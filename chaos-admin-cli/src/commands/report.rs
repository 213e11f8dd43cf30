//! `report`: a readable report of one or more journals.

use std::path::PathBuf;

use crate::error::CliError;
use crate::experiment::load_file;
use crate::experiment::report::{Format, render};

/// Arguments of `report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Journal files written by `run` (or by Chaos Toolkit).
    #[arg(required = true)]
    pub journals: Vec<PathBuf>,
    /// Output format (default: html when -o ends in .html, else markdown).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the report here instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Renders the report.
pub fn main(args: Args) -> Result<u8, CliError> {
    let mut journals = Vec::new();
    for path in &args.journals {
        let journal = load_file(path).map_err(CliError::usage)?;
        if journal.get("experiment").is_none() || journal.get("status").is_none() {
            return Err(CliError::usage(format!(
                "{} is not a journal: it has no `experiment` or `status` (write one with `chaos-admin run`)",
                path.display()
            )));
        }
        journals.push((path.display().to_string(), journal));
    }
    let format = args.format.unwrap_or_else(|| {
        match args
            .output
            .as_ref()
            .and_then(|o| o.extension())
            .and_then(|e| e.to_str())
        {
            Some("html" | "htm") => Format::Html,
            _ => Format::Markdown,
        }
    });
    let text = render(&journals, format);
    match &args.output {
        Some(path) => {
            std::fs::write(path, text)?;
            eprintln!("report written to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(0)
}
