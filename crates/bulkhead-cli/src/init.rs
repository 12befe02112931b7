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
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum KeySource {
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

/// The master key `init` uses, in the order every command reads it: `--master-key-file`,
/// `BULKHEAD_MASTER_KEY`, `BULKHEAD_MASTER_KEY_FILE`, then `<db>.key`, which is written if
/// missing.
fn resolve(ctx: &Ctx) -> Result<(MasterKey, KeySource, Option<PathBuf>, bool), CliError> {
    if let Some(path) = &ctx.master_key_file {
        let key = MasterKey::load_file(path)?;
        return Ok((key, KeySource::Option, Some(path.clone()), false));
    }
    if let Ok(value) = std::env::var(ENV_KEY) {
        let key = MasterKey::from_base64(&value, ENV_KEY)?;
        return Ok((key, KeySource::Environment, None, false));
    }
    if let Ok(path) = std::env::var(ENV_KEY_FILE) {
        let path = PathBuf::from(path);
        let key = MasterKey::load_file(&path)?;
        return Ok((key, KeySource::EnvironmentFile, Some(path), false));
    }
    let path = bulkhead::default_key_file(&ctx.db);
    let (key, created) = if path.exists() {
        (MasterKey::load_file(&path)?, false)
    } else {
        (MasterKey::create_file(&path)?, true)
    };
    Ok((key, KeySource::DefaultFile, Some(path), created))
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

fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        output::note(&format!(
            "could not remove `{}` after the failure: {e}",
            path.display()
        ));
    }
}
