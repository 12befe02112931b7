//! What every command works on: the database file, its master key, and the org key that opens
//! an organization.

use std::path::{Path, PathBuf};

use bulkhead::{Config, Engine, OrgScope, Worker};

use crate::error::CliError;

/// The database of every command but `demo` when `--db` is not given.
pub(crate) const DEFAULT_DB: &str = "./bulkhead.db";

/// The global options of a command, resolved.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// The database file.
    pub(crate) db: PathBuf,
    /// `--master-key-file`, which wins over the environment.
    pub(crate) master_key_file: Option<PathBuf>,
    /// `--org-key` or `BULKHEAD_ORG_KEY`.
    pub(crate) org_key: Option<String>,
    /// `--json`.
    pub(crate) json: bool,
}

impl Ctx {
    /// The engine's configuration: the environment (`BULKHEAD_MASTER_KEY`,
    /// `BULKHEAD_MASTER_KEY_FILE`, `BULKHEAD_SQLITE_*`), then `--master-key-file`. With no key
    /// given, the library looks for `<db>.key` and, if it is missing, says to run
    /// `bulkhead init`.
    pub(crate) fn config(&self) -> Result<Config, CliError> {
        let config = Config::from_env()?;
        Ok(match &self.master_key_file {
            Some(path) => config.with_master_key_file(path),
            None => config,
        })
    }

    /// Opens (creating and migrating as needed) the database.
    pub(crate) fn open(&self) -> Result<Engine, CliError> {
        Ok(Engine::open(&self.db, self.config()?)?)
    }

    /// The organization whose access key was given. Without one, says how to give it.
    pub(crate) fn org(&self, engine: &Engine) -> Result<OrgScope, CliError> {
        let key = self.org_key.as_deref().ok_or_else(|| {
            CliError::usage(
                "this command needs an org access key: set BULKHEAD_ORG_KEY or pass --org-key \
                 KEY (`bulkhead org create` prints the first one; for an organization that lost \
                 every key, see `bulkhead org keys create --help`)",
            )
        })?;
        // A key never contains whitespace; a trailing newline from a file is not part of it.
        Ok(engine.authenticate_org(key.trim())?)
    }

    /// A worker named `name` of the organization whose worker key (or org key) was given:
    /// `bulkhead worker`, the one command a worker key may run. Without a key, says how to
    /// give one.
    pub(crate) fn worker(&self, engine: &Engine, name: &str) -> Result<Worker, CliError> {
        let key = self.org_key.as_deref().ok_or_else(|| {
            CliError::usage(
                "a worker needs a worker key (or an org key): set BULKHEAD_ORG_KEY or pass \
                 --org-key KEY (`bulkhead org keys create --worker` makes a worker key)",
            )
        })?;
        Ok(engine.authenticate_worker(key.trim(), name)?)
    }
}

/// `--db`, or [`DEFAULT_DB`].
pub(crate) fn path_or_default(db: Option<PathBuf>) -> PathBuf {
    db.unwrap_or_else(|| PathBuf::from(DEFAULT_DB))
}

/// `path` made absolute for display, or as given if the working directory is unknown.
pub(crate) fn display_path(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
