//! `bulkhead keys …`: the organization's token signing keys, and the database's master key.
//!
//! Signing keys' secrets stay sealed in the database; these commands show ids, algorithms and
//! times, and the public halves of EdDSA keys as a JWKS. `rotate-master` re-seals the database
//! under a new master key; it prints fingerprints, never a key.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use bulkhead::{Algorithm, MasterKey, OrgScope, SigningKeyInfo};
use serde::Serialize;

use crate::args::KeysCommand;
use crate::db::{self, Ctx};
use crate::error::CliError;
use crate::init::{self, KeySource};
use crate::output::{self, shell_quote};

#[derive(Serialize)]
struct SigningKeyList {
    signing_keys: Vec<SigningKeyInfo>,
}

/// `keys retire --json`.
#[derive(Serialize)]
struct KeyRetired {
    retired: String,
    /// The new signer, when the retired key was signing.
    new_signer: Option<SigningKeyInfo>,
}

/// `keys rotate-master --json`.
#[derive(Serialize)]
struct MasterKeyRotated {
    /// How many sealed values (data keys, signing keys, template secrets) were re-sealed.
    resealed: u64,
    /// The new key's fingerprint (not secret).
    fingerprint: String,
    /// The old key's fingerprint.
    previous_fingerprint: Option<String>,
    /// Where the old key came from.
    previous_source: KeySource,
    /// The file that holds the new key now.
    key_file: String,
    /// Where the old key file was moved (`<db>.key.old`), when it was the default file.
    previous_key_file: Option<String>,
    /// Whether the environment or a file must be updated before the next command.
    action_needed: Option<String>,
}

pub(crate) fn run(ctx: &Ctx, command: KeysCommand) -> Result<(), CliError> {
    // The organization's commands need its key; `rotate-master` needs the master key only.
    let org = || -> Result<OrgScope, CliError> { ctx.org(&ctx.open()?) };
    match command {
        KeysCommand::List => {
            let signing_keys = org()?.signing_keys()?;
            if ctx.json {
                return output::json(&SigningKeyList { signing_keys });
            }
            let rows: Vec<Vec<String>> = signing_keys
                .iter()
                .map(|k| {
                    vec![
                        k.kid.clone(),
                        k.algorithm.to_string(),
                        k.created_at.to_string(),
                        k.retire_at.map_or_else(
                            || "signing".to_owned(),
                            |at| format!("verifies until {at}"),
                        ),
                    ]
                })
                .collect();
            output::lines(output::table(&["KID", "ALG", "CREATED", "STATUS"], &rows))
        }
        KeysCommand::Rotate => {
            let key = org()?.rotate_signing_key()?;
            if ctx.json {
                return output::json(&key);
            }
            output::lines([format!(
                "new signing key {} ({}); older keys verify until their last token has expired",
                key.kid, key.algorithm
            )])
        }
        KeysCommand::Retire { kid } => {
            let signer = org()?.retire_signing_key(&kid)?;
            if ctx.json {
                return output::json(&KeyRetired {
                    retired: kid,
                    new_signer: signer,
                });
            }
            let mut lines = vec![format!(
                "signing key {kid} retired: its tokens are refused from now on"
            )];
            if let Some(signer) = signer {
                lines.push(format!(
                    "it was the signer: new signing key {} ({})",
                    signer.kid, signer.algorithm
                ));
            }
            output::lines(lines)
        }
        KeysCommand::Jwks => {
            let org = org()?;
            if org.organization().settings.token_algorithm == Algorithm::Hs256 {
                output::note(
                    "this organization signs with HS256, verified with a shared secret: its \
                     JWKS has no public keys (an organization created with --alg eddsa has)",
                );
            }
            // A JWKS is JSON whatever the output mode.
            output::json(&org.jwks()?)
        }
        KeysCommand::RotateMaster { new_key_file } => rotate_master(ctx, new_key_file),
    }
}

/// `path` with `suffix` appended to its file name: `b.db.key` → `b.db.key.new`.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Operator access: whoever holds the master key can read the whole database anyway.
fn rotate_master(ctx: &Ctx, new_key_file: Option<PathBuf>) -> Result<(), CliError> {
    if !ctx.db.exists() {
        return Err(CliError::usage(format!(
            "there is no database at `{}` to rotate the master key of",
            ctx.db.display()
        )));
    }
    let (source, current_file) = init::locate(ctx);
    // The key files move only when the key is the default file and the new one goes beside it.
    let swap = source == KeySource::DefaultFile && new_key_file.is_none();
    let default_file = bulkhead::default_key_file(&ctx.db);
    let new_path = new_key_file.unwrap_or_else(|| with_suffix(&default_file, ".new"));
    let old_path = with_suffix(&default_file, ".old");
    if new_path.exists() {
        return Err(CliError::usage(format!(
            "`{}` already exists: an earlier rotation may have stopped half-way; check which \
             key opens the database (`bulkhead --master-key-file {} org list`) before moving \
             it away, or pass --new-key-file PATH",
            new_path.display(),
            shell_quote(&new_path.display().to_string())
        )));
    }
    if swap && old_path.exists() {
        return Err(CliError::usage(format!(
            "`{}` already exists: it holds an earlier master key, which older backups of the \
             database may need; move it somewhere safe, then run this again",
            old_path.display()
        )));
    }
    // Opening checks the current key against the database before anything is written.
    let engine = ctx.open()?;
    let previous_fingerprint =
        init::load(source, current_file.as_deref())?.map(|k| k.fingerprint().to_owned());
    let new_key = MasterKey::create_file(&new_path)?;
    let fingerprint = new_key.fingerprint().to_owned();
    let resealed = match engine.rotate_master_key(new_key) {
        Ok(count) => count,
        Err(e) => {
            // Nothing was re-sealed: the old key still opens the database.
            init::remove_quietly(&new_path);
            return Err(e.into());
        }
    };
    drop(engine);

    let new_display = db::display_path(&new_path);
    let (key_file, previous_key_file, action_needed) = if swap {
        std::fs::rename(&default_file, &old_path).map_err(|e| {
            CliError::io(
                format!(
                    "the database is sealed under the new master key in `{new_display}`, but \
                     `{}` (the old key) could not be moved to `{}`; move it, then move the new \
                     key to `{}`",
                    default_file.display(),
                    old_path.display(),
                    default_file.display()
                ),
                e,
            )
        })?;
        std::fs::rename(&new_path, &default_file).map_err(|e| {
            CliError::io(
                format!(
                    "the database is sealed under the new master key in `{new_display}`, which \
                     could not be moved to `{}`; move it there by hand",
                    default_file.display()
                ),
                e,
            )
        })?;
        (
            db::display_path(&default_file),
            Some(db::display_path(&old_path)),
            None,
        )
    } else {
        let action = match source {
            KeySource::Environment => format!(
                "set BULKHEAD_MASTER_KEY to the contents of `{new_display}` (then delete that \
                 file), everywhere the database is opened"
            ),
            KeySource::EnvironmentFile => format!(
                "point BULKHEAD_MASTER_KEY_FILE at `{new_display}` (or replace the old file's \
                 contents with it), everywhere the database is opened"
            ),
            KeySource::Option => format!(
                "pass --master-key-file {} from now on (or replace the old file's contents \
                 with it)",
                shell_quote(&new_display)
            ),
            KeySource::DefaultFile => format!(
                "`{}` still holds the old key: pass --master-key-file {} from now on, or move \
                 the new key to `{}`",
                default_file.display(),
                shell_quote(&new_display),
                default_file.display()
            ),
        };
        (new_display, None, Some(action))
    };
    let report = MasterKeyRotated {
        resealed,
        fingerprint,
        previous_fingerprint,
        previous_source: source,
        key_file,
        previous_key_file,
        action_needed,
    };
    if ctx.json {
        output::json(&report)?;
    } else {
        let mut lines = vec![
            format!(
                "re-sealed {} values under the new master key",
                report.resealed
            ),
            format!("new master key fingerprint: {}", report.fingerprint),
        ];
        if let Some(previous) = &report.previous_fingerprint {
            lines.push(format!("previous master key fingerprint: {previous}"));
        }
        lines.push(format!("new master key file: {}", report.key_file));
        if let Some(old) = &report.previous_key_file {
            lines.push(format!(
                "previous master key file: {old} (keep it only as long as older backups need it)"
            ));
        }
        output::lines(lines)?;
    }
    if let Some(action) = &report.action_needed {
        output::note(&format!(
            "the database now opens with the new key only: {action}"
        ));
    }
    Ok(())
}
