//! The command line's one error type, and how a failure is reported.

use std::error::Error as StdError;
use std::fmt;
use std::io;

/// Everything that can make a command fail.
#[derive(Debug)]
pub(crate) enum CliError {
    /// The engine refused or failed.
    Bulkhead(bulkhead::Error),
    /// The command cannot run as given (a missing option, a file in the way).
    Usage(String),
    /// The demo's isolation check did not get the not-found it must get.
    IsolationCheckFailed(String),
    /// `audit verify` found a broken link.
    AuditBroken(String),
    /// Reading or writing a file, or the terminal, failed.
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: io::Error,
    },
    /// Output could not be serialized as JSON.
    Json(serde_json::Error),
}

impl CliError {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    pub(crate) fn io(what: impl fmt::Display, source: io::Error) -> Self {
        Self::Io {
            what: what.to_string(),
            source,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bulkhead(e) => fmt::Display::fmt(e, f),
            Self::Usage(m) => f.write_str(m),
            Self::IsolationCheckFailed(m) => write!(f, "isolation check failed: {m}"),
            Self::AuditBroken(m) => f.write_str(m),
            Self::Io { what, .. } => f.write_str(what),
            Self::Json(_) => f.write_str("could not write JSON output"),
        }
    }
}

impl StdError for CliError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            // Transparent: the engine's message is ours, its causes follow.
            Self::Bulkhead(e) => e.source(),
            Self::Usage(_) | Self::IsolationCheckFailed(_) | Self::AuditBroken(_) => None,
            Self::Io { source, .. } => Some(source),
            Self::Json(e) => Some(e),
        }
    }
}

impl From<bulkhead::Error> for CliError {
    fn from(e: bulkhead::Error) -> Self {
        Self::Bulkhead(e)
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> Self {
        Self::Json(e)
    }
}

/// The error and its causes on one line: `a: b: c`. A cause whose text the message already
/// includes is skipped (storage errors repeat their cause so a log line is complete alone).
pub(crate) fn message(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !part.is_empty() && !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

/// Prints `error: <message>` on stderr.
pub(crate) fn report(err: &CliError) {
    crate::output::note(&format!("error: {}", message(err)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_walks_the_source_chain() {
        let err = CliError::io(
            "could not write `x`",
            io::Error::new(io::ErrorKind::PermissionDenied, "permission denied"),
        );
        assert_eq!(message(&err), "could not write `x`: permission denied");
    }

    #[test]
    fn message_skips_a_cause_already_in_the_text() {
        let inner = io::Error::other("disk full");
        let storage = bulkhead::StorageError::with_source("could not commit", inner);
        let err = CliError::from(bulkhead::Error::from(storage));
        assert_eq!(message(&err), "storage error: could not commit: disk full");
    }
}
