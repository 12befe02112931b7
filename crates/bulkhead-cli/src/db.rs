//! The database file: which one, opening it, and `bulkhead init`.

use std::path::{Path, PathBuf};

use bulkhead::{Config, Engine};
use serde::Serialize;

use crate::error::CliError;
use crate::output;

/// The database of every command but `demo` when `--db` is not given.
pub(crate) const DEFAULT_DB: &str = "./bulkhead.db";

/// `--db`, or [`DEFAULT_DB`].
pub(crate) fn path_or_default(db: Option<PathBuf>) -> PathBuf {
    db.unwrap_or_else(|| PathBuf::from(DEFAULT_DB))
}

/// Opens (creating and migrating as needed) the database at `path`, configured from the
/// environment (`BULKHEAD_SQLITE_*`).
pub(crate) fn open(path: &Path) -> Result<Engine, CliError> {
    Ok(Engine::open(path, Config::from_env()?)?)
}

/// `path` made absolute for display, or as given if the working directory is unknown.
pub(crate) fn display_path(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

#[derive(Serialize)]
struct InitReport {
    database: String,
    schema_version: i64,
}

/// `bulkhead init`: opening the database creates it or migrates it.
pub(crate) fn init(path: &Path, json: bool) -> Result<(), CliError> {
    drop(open(path)?);
    let report = InitReport {
        database: display_path(path),
        schema_version: bulkhead::sqlite::SCHEMA_VERSION,
    };
    if json {
        return output::json(&report);
    }
    output::lines([
        format!("database: {}", report.database),
        format!("schema version: {}", report.schema_version),
    ])
}
