//! The CLI's error type: it decides the exit code without looking at message text.

use std::fmt;

use chaos_middleware::{InvalidAction, StoreError};

/// Exit code for success.
pub const EXIT_OK: u8 = 0;
/// Exit code when the store cannot be reached or a query failed.
pub const EXIT_RUNTIME: u8 = 1;
/// Exit code for bad input: arguments, values, unknown ids, unsupported URLs.
pub const EXIT_USAGE: u8 = 2;

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// The user asked for something not allowed; nothing was written (exit 2).
    Usage(String),
    /// The store (or the terminal) failed us (exit 1).
    Runtime(anyhow::Error),
}

impl CliError {
    /// A bad-input error with this one-line message.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Runtime(_) => EXIT_RUNTIME,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Our messages are one line; keep them so whatever a driver put inside.
        let text = match self {
            CliError::Usage(message) => message.clone(),
            // The store's errors already include their cause in the message, so only the
            // outermost one is printed (the `{:#}` chain would repeat it).
            CliError::Runtime(err) => err.to_string(),
        };
        f.write_str(&one_line(&text))
    }
}

impl std::error::Error for CliError {}

/// Joins the non-empty lines of `text` with single spaces.
pub fn one_line(text: &str) -> String {
    if !text.contains(['\n', '\r']) {
        return text.to_owned();
    }
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl From<InvalidAction> for CliError {
    fn from(err: InvalidAction) -> Self {
        CliError::Usage(err.to_string())
    }
}

impl From<StoreError> for CliError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UnknownIds(_)
            | StoreError::UnknownGuard(_)
            | StoreError::UnknownWebhook(_)
            | StoreError::Invalid(_)
            | StoreError::UnsupportedUrl(_)
            | StoreError::InvalidUrl { .. } => CliError::Usage(err.to_string()),
            StoreError::Connect { .. }
            | StoreError::MissingFolder { .. }
            | StoreError::Migrate { .. }
            | StoreError::Query(_)
            | StoreError::Relay { .. } => CliError::Runtime(anyhow::Error::new(err)),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(err: std::io::Error) -> Self {
        CliError::Runtime(anyhow::Error::new(err))
    }
}

impl From<serde_json::Error> for CliError {
    fn from(err: serde_json::Error) -> Self {
        CliError::Runtime(anyhow::Error::new(err))
    }
}
