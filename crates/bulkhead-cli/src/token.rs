//! `bulkhead token`: issue a scoped token for one customer, verify one, revoke one.
//!
//! A token is a bearer credential: it is printed only by the command that issues it, never in
//! a note or an error.

use std::io::Read as _;

use bulkhead::{
    Engine, ExternalId, OperationSet, ScopedClaims, ScopedTokenRequest, TagMode, TagSelection,
    Timestamp,
};
use serde::Serialize;

use crate::args::{IssueArgs, TokenArgs, TokenCommand};
use crate::db::Ctx;
use crate::error::CliError;
use crate::output;

/// `token revoke --json`.
#[derive(Serialize)]
struct Revoked {
    revoked: bool,
    /// The token's `jti`, when it is still within its lifetime.
    token_id: Option<String>,
}

pub(crate) fn run(ctx: &Ctx, args: TokenArgs) -> Result<(), CliError> {
    let engine = ctx.open()?;
    match args.command {
        None => issue(ctx, &engine, args.issue),
        Some(TokenCommand::Verify { token }) => verify(ctx, &engine, &read_token(token)?),
        Some(TokenCommand::Revoke { token }) => revoke(ctx, &engine, &read_token(token)?),
    }
}

fn issue(ctx: &Ctx, engine: &Engine, args: IssueArgs) -> Result<(), CliError> {
    let org = ctx.org(engine)?;
    let external_id: ExternalId = args
        .external_id
        .as_deref()
        .ok_or_else(|| CliError::usage("`bulkhead token` needs --external-id ID"))?
        .parse()?;
    let mut request = ScopedTokenRequest::new(external_id);
    if let Some(tags) = &args.source_tags {
        request = request.source_tags(selection(tags, args.source_tags_mode.as_deref())?);
    }
    if let Some(tags) = &args.connection_tags {
        request = request.connection_tags(selection(tags, args.connection_tags_mode.as_deref())?);
    }
    if let Some(ttl) = args.ttl {
        request = request.ttl(ttl);
    }
    if let Some(ops) = &args.ops {
        request = request.operations(OperationSet::parse(non_empty(ops))?);
    }
    let issued = org.scoped_token(&request)?;
    if ctx.json {
        return output::json(&issued);
    }
    // The token alone on stdout, so `TOKEN=$(bulkhead token --external-id ID)` works.
    output::lines([issued.token.expose().to_owned()])?;
    output::note(&format!(
        "scoped token for `{}` (workspace {}{}), expires at {}; hand it to that customer only",
        request.external_id,
        issued.workspace_id,
        if issued.workspace_created {
            ", created now"
        } else {
            ""
        },
        issued.expires_at
    ));
    Ok(())
}

/// The words of a comma-separated option, without empty ones: `--source-tags ''` clears a
/// selection rather than naming an empty tag.
pub(crate) fn non_empty(words: &[String]) -> impl Iterator<Item = &str> {
    words.iter().map(String::as_str).filter(|w| !w.is_empty())
}

pub(crate) fn selection(tags: &[String], mode: Option<&str>) -> Result<TagSelection, CliError> {
    let mode: TagMode = mode.unwrap_or("any").parse()?;
    Ok(TagSelection::parse(non_empty(tags), mode)?)
}

/// The token argument, or stdin when it is `-`.
fn read_token(arg: String) -> Result<String, CliError> {
    if arg != "-" {
        return Ok(arg);
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::io("could not read the token from stdin", e))?;
    Ok(text.trim().to_owned())
}

fn verify(ctx: &Ctx, engine: &Engine, token: &str) -> Result<(), CliError> {
    // What a service does with a token: the full check, workspace and revocation included.
    drop(engine.authenticate(token)?);
    let claims = engine.verify_token(token)?;
    if ctx.json {
        return output::json(&claims);
    }
    output::lines(claims_text(&claims))
}

fn claims_text(claims: &ScopedClaims) -> Vec<String> {
    let time = |secs: i64| Timestamp::from_unix_millis(secs.saturating_mul(1000)).to_string();
    vec![
        format!("workspace: {}", claims.workspace_id),
        format!("external id: {}", claims.external_id),
        format!("organization: {}", claims.org_id),
        format!("operations: {}", claims.operations),
        format!("issued at: {}", time(claims.issued_at)),
        format!("expires at: {}", time(claims.expires_at)),
        format!("issuer: {}", claims.issuer),
        format!("audience: {}", claims.audience),
        format!("token id: {}", claims.token_id),
    ]
}

fn revoke(ctx: &Ctx, engine: &Engine, token: &str) -> Result<(), CliError> {
    let org = ctx.org(engine)?;
    org.revoke_token(token)?;
    // After a successful revocation the token verifies unless it has expired (then there was
    // nothing to revoke); its claims only name it for the message.
    let claims = engine.verify_token(token).ok();
    if ctx.json {
        return output::json(&Revoked {
            revoked: true,
            token_id: claims.map(|c| c.token_id),
        });
    }
    output::lines([match claims {
        Some(c) => format!(
            "revoked token {} of `{}` (workspace {}); it is refused from now on",
            c.token_id, c.external_id, c.workspace_id
        ),
        None => "the token has expired already; it needs no revoking".to_owned(),
    }])
}
