//! `bulkhead init`: create or migrate the database, and set up its master key.
//!
//! The master key seals every secret at rest and never enters the database. A host keeps it
//! in its secret manager and passes it as `BULKHEAD_MASTER_KEY`; for local use, `init` writes
//! a key file next to the database (`<db>.key`, mode 0600) that every later command finds by
//! itself.

use std::path::{Path, PathBuf};

use bulkhead::{Config, Engine, MasterKey};
use serde::Serialize;

use crate::db::{self, Ctx};
use crate::error::CliError;
use crate::output;

const ENV_KEY: &str = "BULKHEAD_MASTER_KEY";
const ENV_KEY_FILE: &str = "BULKHEAD_MASTER_KEY_FILE";

/// Where the master key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum KeySource {
    /// `--master-key-file`.
    Option,
    /// `BULKHEAD_MASTER_KEY`.
    Environment,
    /// `BULKHEAD_MASTER_KEY_FILE`.
    EnvironmentFile,
    /// `<db>.key`, found or written by `init`.
    DefaultFile,
}

#[derive(Serialize)]
struct MasterKeyReport {
    source: KeySource,
    /// The key file, if the key came from one.
    file: Option<String>,
    /// Whether this run wrote the key file.
    created: bool,
    /// Not secret: tells keys apart.
    fingerprint: String,
}

#[derive(Serialize)]
struct InitReport {
    database: String,
    schema_version: i64,
    master_key: MasterKeyReport,
}

/// Where every command reads the master key from, in this order: `--master-key-file`,
/// `BULKHEAD_MASTER_KEY`, `BULKHEAD_MASTER_KEY_FILE`, then `<db>.key`; with the file, if the
/// key is in one.
pub(crate) fn locate(ctx: &Ctx) -> (KeySource, Option<PathBuf>) {
    if let Some(path) = &ctx.master_key_file {
        return (KeySource::Option, Some(path.clone()));
    }
    if std::env::var(ENV_KEY).is_ok() {
        return (KeySource::Environment, None);
    }
    if let Ok(path) = std::env::var(ENV_KEY_FILE) {
        return (KeySource::EnvironmentFile, Some(PathBuf::from(path)));
    }
    (
        KeySource::DefaultFile,
        Some(bulkhead::default_key_file(&ctx.db)),
    )
}

/// The current master key, read from where [`locate`] says. `None` for the default key file
/// when it does not exist.
pub(crate) fn load(source: KeySource, file: Option<&Path>) -> Result<Option<MasterKey>, CliError> {
    match (source, file) {
        (KeySource::Environment, _) => {
            let value = std::env::var(ENV_KEY).unwrap_or_default();
            Ok(Some(MasterKey::from_base64(&value, ENV_KEY)?))
        }
        (KeySource::DefaultFile, Some(path)) if !path.exists() => Ok(None),
        (_, Some(path)) => Ok(Some(MasterKey::load_file(path)?)),
        (_, None) => Ok(None),
    }
}

/// The master key `init` uses, from where [`locate`] says; `<db>.key` is written if missing.
fn resolve(ctx: &Ctx) -> Result<(MasterKey, KeySource, Option<PathBuf>, bool), CliError> {
    let (source, file) = locate(ctx);
    if let Some(key) = load(source, file.as_deref())? {
        return Ok((key, source, file, false));
    }
    if source != KeySource::DefaultFile {
        return Err(CliError::usage(
            "no master key was found where it was given",
        ));
    }
    let path = bulkhead::default_key_file(&ctx.db);
    let key = MasterKey::create_file(&path)?;
    Ok((key, KeySource::DefaultFile, Some(path), true))
}

pub(crate) fn run(ctx: &Ctx) -> Result<(), CliError> {
    // The environment is read (and a bad value refused) before any file is written.
    let config = Config::from_env()?;
    let (key, source, file, created) = resolve(ctx)?;
    let fingerprint = key.fingerprint().to_owned();
    match Engine::open(&ctx.db, config.with_master_key(key)) {
        Ok(engine) => drop(engine),
        Err(e) => {
            // A key file written for a database that refuses it (sealed under another key, or
            // not writable) would only mislead the next command: take it back.
            if created && let Some(path) = &file {
                remove_quietly(path);
            }
            return Err(e.into());
        }
    }
    let report = InitReport {
        database: db::display_path(&ctx.db),
        schema_version: bulkhead::sqlite::SCHEMA_VERSION,
        master_key: MasterKeyReport {
            source,
            file: file.as_deref().map(db::display_path),
            created,
            fingerprint,
        },
    };
    if created && let Some(file) = &report.master_key.file {
        output::note(&format!(
            "wrote a new master key to `{file}` (mode 0600); back it up: without it the \
             database's secrets cannot be opened"
        ));
    }
    if ctx.json {
        return output::json(&report);
    }
    let key = &report.master_key;
    let origin = match (&key.source, &key.file) {
        (KeySource::Environment, _) => format!("from {ENV_KEY}"),
        (KeySource::DefaultFile, Some(file)) if key.created => {
            format!("{file} (created now, mode 0600)")
        }
        (_, Some(file)) => file.clone(),
        (_, None) => "given".to_owned(),
    };
    output::lines([
        format!("database: {}", report.database),
        format!("schema version: {}", report.schema_version),
        format!("master key: {origin}"),
        format!("master key fingerprint: {}", key.fingerprint),
    ])
}

pub(crate) fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        output::note(&format!(
            "could not remove `{}` after the failure: {e}",
            path.display()
        ));
    }
}
