//! Console lines in the spirit of Chaos Toolkit's: `[2024-05-01 10:00:00 INFO] message`,
//! on stderr, coloured on a terminal; debug lines only with `--verbose`.

use std::io::{IsTerminal, Write};
use std::time::SystemTime;

/// Log levels used by the runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Only with `--verbose`.
    Debug,
    /// Progress.
    Info,
    /// Something the user should look at.
    Warning,
    /// An activity or the experiment failed.
    Error,
    /// The experiment cannot go on as planned.
    Critical,
}

/// Where log lines go.
#[derive(Debug, Clone, Copy)]
pub struct Logger {
    verbose: bool,
    colour: bool,
}

impl Logger {
    /// A logger on stderr.
    pub fn new(verbose: bool) -> Self {
        Self {
            verbose,
            colour: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    /// Writes one line.
    pub fn log(&self, level: Level, message: &str) {
        if level == Level::Debug && !self.verbose {
            return;
        }
        let (name, colour) = match level {
            Level::Debug => ("DEBUG", "\x1b[34m"),
            Level::Info => ("INFO", "\x1b[32m"),
            Level::Warning => ("WARNING", "\x1b[33m"),
            Level::Error => ("ERROR", "\x1b[31m"),
            Level::Critical => ("CRITICAL", "\x1b[1;31m"),
        };
        let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let now = now.trim_end_matches('Z').replacen('T', " ", 1);
        let line = if self.colour {
            format!("{colour}[{now} {name}]\x1b[0m {message}\n")
        } else {
            format!("[{now} {name}] {message}\n")
        };
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    /// Debug line (`--verbose`).
    pub fn debug(&self, message: &str) {
        self.log(Level::Debug, message);
    }
    /// Info line.
    pub fn info(&self, message: &str) {
        self.log(Level::Info, message);
    }
    /// Warning line.
    pub fn warning(&self, message: &str) {
        self.log(Level::Warning, message);
    }
    /// Error line.
    pub fn error(&self, message: &str) {
        self.log(Level::Error, message);
    }
    /// Critical line.
    pub fn critical(&self, message: &str) {
        self.log(Level::Critical, message);
    }
}
