//! `report`: a readable report of one or more journals, as Markdown, HTML or PDF.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use crate::error::CliError;
use crate::experiment::load_file;
use crate::experiment::report::{Format, render};

/// Arguments of `report`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Chaos Toolkit's spelling works too: \
    `chaos-admin report --export-format=pdf journal.json report.pdf` (the last path is the \
    report when it ends in .pdf, .html, .htm, .md or .markdown and -o is not given).")]
pub struct Args {
    /// Journal files written by `run` (or by Chaos Toolkit); several are reported one after
    /// the other, after an overview.
    #[arg(required = true)]
    pub journals: Vec<PathBuf>,
    /// Output format (default: from the output's extension, else markdown). PDF needs an
    /// output file or a redirected stdout.
    #[arg(long, value_enum, alias = "export-format")]
    pub format: Option<Format>,
    /// Write the report here instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Renders the report.
pub fn main(mut args: Args) -> Result<u8, CliError> {
    // Chaos Toolkit's `chaos report JOURNAL... REPORT`: a last path named like a report.
    if args.output.is_none()
        && args.journals.len() > 1
        && args
            .journals
            .last()
            .and_then(|l| Format::from_path(l))
            .is_some()
    {
        args.output = args.journals.pop();
    }
    // `-o -` is stdout, as usual.
    if args.output.as_deref() == Some(std::path::Path::new("-")) {
        args.output = None;
    }
    let format = args
        .format
        .or_else(|| args.output.as_deref().and_then(Format::from_path))
        .unwrap_or(Format::Markdown);
    if format.is_binary() && args.output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::usage(
            "a PDF report is not written to a terminal: give -o report.pdf (or redirect stdout)",
        ));
    }
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
    let bytes = render(&journals, format);
    match &args.output {
        Some(path) => {
            std::fs::write(path, bytes).map_err(|err| {
                CliError::usage(format!("cannot write {}: {err}", path.display()))
            })?;
            eprintln!("report written to {}", path.display());
        }
        None => std::io::stdout().write_all(&bytes)?,
    }
    Ok(0)
}
