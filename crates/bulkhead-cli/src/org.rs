//! `bulkhead org …`: create and list organizations, and manage their access keys.

use bulkhead::{
    Algorithm, Clock as _, Engine, KeyRole, OrgKeyInfo, OrgKeySecret, OrgScope, OrgSettings,
    Organization, SystemClock, Timestamp,
};
use serde::Serialize;

use crate::args::{OrgCommand, OrgKeysCommand};
use crate::db::Ctx;
use crate::error::CliError;
use crate::output;

#[derive(Serialize)]
struct OrganizationList {
    organizations: Vec<Organization>,
}

/// `org create --json`.
#[derive(Serialize)]
struct Created<'a> {
    organization: &'a Organization,
    org_key: &'a str,
}

/// `org keys create --json`.
#[derive(Serialize)]
struct KeyCreated<'a> {
    key: &'a OrgKeyInfo,
    org_key: &'a str,
}

#[derive(Serialize)]
struct KeyList {
    keys: Vec<OrgKeyInfo>,
}

pub(crate) fn run(ctx: &Ctx, command: OrgCommand) -> Result<(), CliError> {
    let engine = ctx.open()?;
    match command {
        OrgCommand::Create { name, alg } => create(ctx, &engine, &name, alg.as_deref()),
        OrgCommand::List => list(ctx, &engine),
        OrgCommand::Keys(command) => keys(ctx, &engine, command),
    }
}

fn create(ctx: &Ctx, engine: &Engine, name: &str, alg: Option<&str>) -> Result<(), CliError> {
    let (org, key) = match alg {
        None => engine.create_organization(name)?,
        Some(alg) => engine.create_organization_with(
            name,
            OrgSettings {
                token_algorithm: alg.parse::<Algorithm>()?,
                ..OrgSettings::default()
            },
        )?,
    };
    if ctx.json {
        return output::json(&Created {
            organization: &org,
            org_key: key.expose(),
        });
    }
    // `KEY=VALUE` lines, so `export $(bulkhead org create Acme)` sets what other commands read.
    output::lines([
        format!("BULKHEAD_ORG_ID={}", org.id),
        format!("BULKHEAD_ORG_KEY={}", key.expose()),
    ])?;
    output::note(&format!(
        "created organization `{}` ({} tokens); its org key is shown only now: store it in a \
         secret manager and pass it as BULKHEAD_ORG_KEY",
        org.name, org.settings.token_algorithm
    ));
    Ok(())
}

fn list(ctx: &Ctx, engine: &Engine) -> Result<(), CliError> {
    let organizations = engine.organizations()?;
    if ctx.json {
        return output::json(&OrganizationList { organizations });
    }
    if organizations.is_empty() {
        return output::lines([
            "no organizations yet; create one with `bulkhead org create NAME`".to_owned(),
        ]);
    }
    let rows: Vec<Vec<String>> = organizations
        .iter()
        .map(|o| {
            vec![
                o.id.to_string(),
                o.created_at.to_string(),
                o.settings.token_algorithm.to_string(),
                o.name.to_string(),
            ]
        })
        .collect();
    output::lines(output::table(
        &["ORG ID", "CREATED", "TOKENS", "NAME"],
        &rows,
    ))
}

fn keys(ctx: &Ctx, engine: &Engine, command: OrgKeysCommand) -> Result<(), CliError> {
    match command {
        OrgKeysCommand::Create {
            expires_in,
            org,
            worker,
        } => {
            let scope = match org {
                Some(org_id) => recovery_scope(engine, &org_id)?,
                None => ctx.org(engine)?,
            };
            let expires_at = expires_in.map(|d| SystemClock.now().plus(d));
            let (info, secret) = if worker {
                scope.create_worker_key(expires_at)?
            } else {
                scope.create_key(expires_at)?
            };
            print_new_key(ctx, &info, &secret)
        }
        OrgKeysCommand::List => {
            let keys = ctx.org(engine)?.list_keys()?;
            if ctx.json {
                return output::json(&KeyList { keys });
            }
            let now = SystemClock.now();
            let rows: Vec<Vec<String>> = keys
                .iter()
                .map(|k| {
                    vec![
                        k.id.to_string(),
                        k.role.to_string(),
                        format!("{}…", k.prefix),
                        key_status(k, now).to_owned(),
                        k.created_at.to_string(),
                        optional_time(k.expires_at),
                        optional_time(k.last_used_at),
                    ]
                })
                .collect();
            output::lines(output::table(
                &[
                    "KEY ID",
                    "ROLE",
                    "PREFIX",
                    "STATUS",
                    "CREATED",
                    "EXPIRES",
                    "LAST USED",
                ],
                &rows,
            ))
        }
        OrgKeysCommand::Revoke { key_id } => {
            let scope = ctx.org(engine)?;
            let key_id = key_id.parse()?;
            // Listed first: once the scope's own key is revoked, the scope stops too.
            let keys = scope.list_keys()?;
            let revoked = scope.revoke_key(key_id)?;
            let now = SystemClock.now();
            // A worker key cannot manage the organization: only org keys count.
            if !keys.iter().any(|k| {
                k.id != key_id && k.role == KeyRole::Organization && key_status(k, now) == "active"
            }) {
                output::note(&format!(
                    "the organization has no usable key left; the database's operator can make \
                     one with `bulkhead org keys create --org {}`",
                    scope.org_id()
                ));
            }
            if ctx.json {
                return output::json(&revoked);
            }
            output::lines([format!(
                "revoked {} {} ({}…); it stops working now",
                kind(revoked.role),
                revoked.id,
                revoked.prefix
            )])
        }
    }
}

/// **Operator access**, for one purpose: a new key for an organization that lost all of its
/// own. Whoever runs this can read the database file anyway; the note says what happened.
fn recovery_scope(engine: &Engine, org_id: &str) -> Result<OrgScope, CliError> {
    let scope = engine.operator_org_scope(org_id.parse()?)?;
    output::note(&format!(
        "operator recovery: making an org key for `{}` ({}) without an org key",
        scope.organization().name,
        scope.org_id()
    ));
    Ok(scope)
}

fn print_new_key(ctx: &Ctx, info: &OrgKeyInfo, secret: &OrgKeySecret) -> Result<(), CliError> {
    if ctx.json {
        return output::json(&KeyCreated {
            key: info,
            org_key: secret.expose(),
        });
    }
    output::lines([
        format!("BULKHEAD_ORG_KEY_ID={}", info.id),
        format!("BULKHEAD_ORG_KEY={}", secret.expose()),
    ])?;
    let what = match info.role {
        KeyRole::Organization => "the org key is shown only now: store it",
        KeyRole::Worker => {
            "the worker key is shown only now: store it; it may only run jobs (give it to \
             `bulkhead worker` as BULKHEAD_ORG_KEY)"
        }
    };
    output::note(&match info.expires_at {
        Some(at) => format!("{what}; it expires at {at}"),
        None => what.to_owned(),
    });
    Ok(())
}

/// How a key of `role` is called.
fn kind(role: KeyRole) -> &'static str {
    match role {
        KeyRole::Organization => "org key",
        KeyRole::Worker => "worker key",
    }
}

fn key_status(key: &OrgKeyInfo, now: Timestamp) -> &'static str {
    if key.revoked_at.is_some() {
        "revoked"
    } else if key.expires_at.is_some_and(|at| at <= now) {
        "expired"
    } else {
        "active"
    }
}

fn optional_time(at: Option<Timestamp>) -> String {
    at.map_or_else(|| "-".to_owned(), |at| at.to_string())
}
