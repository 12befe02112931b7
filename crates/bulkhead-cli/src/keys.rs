//! `bulkhead keys …`: the organization's token signing keys.
//!
//! Their secrets stay sealed in the database; these commands show ids, algorithms and times,
//! and the public halves of EdDSA keys as a JWKS.

use bulkhead::{Algorithm, SigningKeyInfo};
use serde::Serialize;

use crate::args::KeysCommand;
use crate::db::Ctx;
use crate::error::CliError;
use crate::output;

#[derive(Serialize)]
struct SigningKeyList {
    signing_keys: Vec<SigningKeyInfo>,
}

pub(crate) fn run(ctx: &Ctx, command: KeysCommand) -> Result<(), CliError> {
    let engine = ctx.open()?;
    let org = ctx.org(&engine)?;
    match command {
        KeysCommand::List => {
            let signing_keys = org.signing_keys()?;
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
            let key = org.rotate_signing_key()?;
            if ctx.json {
                return output::json(&key);
            }
            output::lines([format!(
                "new signing key {} ({}); older keys verify until their last token has expired",
                key.kid, key.algorithm
            )])
        }
        KeysCommand::Jwks => {
            if org.organization().settings.token_algorithm == Algorithm::Hs256 {
                output::note(
                    "this organization signs with HS256, verified with a shared secret: its \
                     JWKS has no public keys (an organization created with --alg eddsa has)",
                );
            }
            // A JWKS is JSON whatever the output mode.
            output::json(&org.jwks()?)
        }
    }
}
