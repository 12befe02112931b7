//! The organization itself: `/api/v1/organization/...` (org key, access token, or the
//! dashboard's session; a scoped token is refused with 401). What the dashboard's
//! organization page shows and does: counts, workspace creations per hour, refusals, the
//! audit log and its chain, org keys and signing keys. Everything is the caller's own
//! organization's: another organization's key id or `kid` is not found (404), like a
//! missing one.
//!
//! | method, path under `/api/v1/organization` | answer |
//! | --- | --- |
//! | `GET /stats` | `{workspaces: {active, inactive, total}, creations_per_hour: [{hour, count}], refusals: {...}, isolation_breaches, tokens_issued}` |
//! | `GET /audit?before=\|after=&limit=&action=&workspace_id=&from=&until=` | `{data: [event], next}` |
//! | `GET /audit/verify` | `{intact, verified, broken: {seq, reason} \| null}` |
//! | `GET /keys` | `{data: [org key]}` (prefixes and dates, never a key) |
//! | `POST /keys` `{expires_at?}` | 201 `{key, secret}`: the secret shown this once |
//! | `DELETE /keys/{key_id}` | the revoked key |
//! | `GET /signing-keys` | `{data: [signing key]}` (never an HS256 secret) |
//! | `POST /signing-keys/rotate` | the new signer |
//! | `DELETE /signing-keys/{kid}` | `{retired, signer}` (`signer`: the new one when the signer was retired) |
//!
//! **Stats.** `creations_per_hour` has 24 entries, the last 24 hours oldest first (the last
//! is the current hour so far), zeros included; `hour` is the start of the hour in Unix
//! seconds. It is counted by the store, in the database (one grouped query over an index),
//! never by reading the workspaces; workspaces deleted since still count. `refusals`,
//! `isolation_breaches` and `tokens_issued` are the engine's counters: **this process's
//! only**, since it started (another process serving the same database counts its own, and
//! a restart starts them at zero).
//!
//! **Audit.** Events come newest first, paged back in time by `before` (the `seq` of the
//! oldest event already seen: `next` of the previous page, a number; `null` on the last
//! page); with `after` (0 for the start) they come oldest first, in chain order, paged on by
//! `after` the same way. `after` and `before` together are a 400. A `workspace_id` the
//! organization does not have (another's, a deleted one) is a 404, like every foreign id.
//! `limit` 1 to 100 (default 20), `action` an exact action (`org_key.revoke`),
//! `workspace_id` the workspace an event concerns, `from` and `until` (RFC 3339) a time range,
//! `from` included. There is no filter by actor (the store's audit filter has none). An event carries who did what to what
//! and the outcome, never a secret. Any other parameter is a 400 naming it.
//!
//! **Keys.** Revoking the key the request is signed in with is allowed: it stops working at
//! once, and a dashboard session made with it ends at its next request.

use std::collections::BTreeSet;

use axum::extract::Path;
use axum::http::{StatusCode, Uri};
use bulkhead::{
    AuditEvent, AuditFilter, AuditVerification, Cursor, KeyRole, MAX_PAGE_LIMIT, OrgKeyId,
    OrgKeyInfo, Page, SigningKeyInfo, Timestamp, WorkspaceId,
};
use serde::{Deserialize, Serialize};

use crate::auth::OrgAuth;
use crate::blocking;
use crate::extract::{Json, path_id};
use crate::openapi::{
    BadRequest, NotFound, PayloadTooLarge, Unauthorized, Unavailable, UnsupportedMediaType,
};
use crate::problem::Problem;

/// `{data: [...]}`: a list that is not paged.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct List<T> {
    /// Every item.
    data: Vec<T>,
}

/// Refuses any query parameter on a route that takes none.
fn no_query(uri: &Uri) -> Result<(), Problem> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or_default())
        .map_err(|_| Problem::invalid("query", "the query string is not form-encoded"))?;
    match pairs.into_iter().next() {
        None => Ok(()),
        Some((key, _)) => Err(Problem::invalid(
            key.clone(),
            format!("unknown query parameter `{key}`"),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------------------------

/// The hours `creations_per_hour` covers.
const CREATION_HOURS: u32 = 24;

/// Live workspaces by status.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = OrganizationWorkspaceCounts)]
pub(crate) struct WorkspaceCounts {
    /// Active workspaces.
    active: u64,
    /// Inactive workspaces.
    inactive: u64,
    /// All live workspaces (deleted ones are not counted).
    total: u64,
}

/// Workspaces created in one hour.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CreationsInHour {
    /// The start of the hour, in Unix seconds.
    hour: i64,
    /// Workspaces created in it (including ones deleted since).
    count: u64,
}

/// Calls refused, by reason, in this process since it started.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Refusals {
    /// Calls refused because the credential lacked the operation or organization access.
    permission_denied: u64,
    /// The organization's scoped tokens refused: expired, revoked, wrong issuer or audience,
    /// inactive or missing workspace.
    invalid_tokens: u64,
    /// New workspaces refused by the creation rate limit.
    rate_limited: u64,
    /// Refusals not written to the audit chain because one of the same actor, action and
    /// reason was written less than a minute before.
    denials_not_logged: u64,
}

/// `GET /api/v1/organization/stats`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OrganizationStats {
    /// Live workspaces by status (from the database).
    workspaces: WorkspaceCounts,
    /// Workspaces created in each of the last 24 hours, oldest first, the current hour last
    /// (from the database).
    creations_per_hour: Vec<CreationsInHour>,
    /// Refusals in this process since it started.
    refusals: Refusals,
    /// Rows of another tenant that storage returned and the engine refused, in this process
    /// since it started. Anything but zero is a bug in a storage adapter.
    isolation_breaches: u64,
    /// Scoped tokens issued by this process since it started.
    tokens_issued: u64,
}

/// The organization's numbers
///
/// Workspaces by status and created per hour over the last day (from the database), and the
/// refusals, isolation breaches and tokens issued that this server process counted since it
/// started (per process: not shared between processes, zero after a restart).
#[utoipa::path(
    get,
    path = "/api/v1/organization/stats",
    tag = "organization",
    operation_id = "organization_stats",
    responses(
        (status = 200, description = "The numbers.", body = OrganizationStats),
        BadRequest, Unauthorized, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn stats(
    OrgAuth(org): OrgAuth,
    uri: Uri,
) -> Result<axum::Json<OrganizationStats>, Problem> {
    no_query(&uri)?;
    let (counts, creations, meter) = blocking(move || {
        Ok((
            org.workspace_stats()?,
            org.workspace_creations(CREATION_HOURS)?,
            org.stats(),
        ))
    })
    .await?;
    Ok(axum::Json(OrganizationStats {
        workspaces: WorkspaceCounts {
            active: counts.active,
            inactive: counts.inactive,
            total: counts.total,
        },
        creations_per_hour: creations
            .into_iter()
            .map(|c| CreationsInHour {
                hour: c.hour.unix_millis().div_euclid(1000),
                count: c.count,
            })
            .collect(),
        refusals: Refusals {
            permission_denied: meter.permission_denied,
            invalid_tokens: meter.invalid_tokens,
            rate_limited: meter.rate_limited,
            denials_not_logged: meter.denials_not_logged,
        },
        isolation_breaches: meter.isolation_breaches,
        tokens_issued: meter.tokens_issued,
    }))
}

// ---------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------

/// One event of the organization's audit chain.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AuditItem {
    /// Its place in the chain: 1, 2, 3, …
    seq: u64,
    /// When it happened.
    #[schema(value_type = crate::openapi::Timestamp)]
    at: Timestamp,
    /// Who: `org-key:<prefix>`, `worker-key:<prefix>`, `token:<jti>` or `operator`.
    actor: String,
    /// What, such as `source.create` or `org_key.revoke`.
    action: String,
    /// The workspace it concerns, if any.
    #[schema(value_type = Option<String>, format = "uuid")]
    workspace_id: Option<WorkspaceId>,
    /// What it was done to: `<kind>:<id>` or a name.
    target: String,
    /// `ok`, or `denied: <reason>`.
    outcome: String,
}

impl From<AuditEvent> for AuditItem {
    fn from(event: AuditEvent) -> Self {
        Self {
            seq: event.seq,
            at: event.draft.at,
            actor: event.draft.actor,
            action: event.draft.action,
            workspace_id: event.draft.workspace_id,
            target: event.draft.target,
            outcome: event.draft.outcome,
        }
    }
}

/// A page of audit events.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AuditPage {
    /// The events: newest first, or oldest first when the request gave `after`.
    data: Vec<AuditItem>,
    /// Where the next page starts (the last event's `seq`): its `before` newest first, its
    /// `after` oldest first; `null` on the last page.
    next: Option<u64>,
}

/// The query of `GET /api/v1/organization/audit`.
#[derive(Debug, Default, PartialEq)]
struct AuditQuery {
    after: Option<u64>,
    before: Option<u64>,
    limit: Option<u32>,
    filter: AuditFilter,
}

impl AuditQuery {
    /// Parses the query string; an unknown, repeated or malformed parameter is a 400 naming
    /// it.
    fn parse(query: Option<&str>) -> Result<Self, Problem> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
            .map_err(|_| Problem::invalid("query", "the query string is not form-encoded"))?;
        let mut parsed = Self::default();
        let mut seen = BTreeSet::new();
        for (key, value) in pairs {
            if !seen.insert(key.clone()) {
                return Err(Problem::invalid(
                    key.clone(),
                    format!("invalid {key}: given more than once"),
                ));
            }
            match key.as_str() {
                "after" => {
                    parsed.after = Some(value.parse().map_err(|_| {
                        Problem::invalid("after", "invalid after: must be an event's seq")
                    })?);
                }
                "before" => {
                    parsed.before = Some(value.parse().map_err(|_| {
                        Problem::invalid("before", "invalid before: must be an event's seq")
                    })?);
                }
                "limit" => {
                    parsed.limit = Some(
                        value
                            .parse()
                            .ok()
                            .filter(|l| (1..=MAX_PAGE_LIMIT).contains(l))
                            .ok_or_else(|| {
                                Problem::invalid(
                                    "limit",
                                    format!(
                                        "invalid limit: must be an integer from 1 to {MAX_PAGE_LIMIT}"
                                    ),
                                )
                            })?,
                    );
                }
                "action" => {
                    if value.is_empty() || value.len() > 100 {
                        return Err(Problem::invalid(
                            "action",
                            "invalid action: must be 1 to 100 characters",
                        ));
                    }
                    parsed.filter.action = Some(value);
                }
                "workspace_id" => {
                    parsed.filter.workspace_id = Some(path_id("workspace_id", &value)?);
                }
                "from" => parsed.filter.from = Some(time("from", &value)?),
                "until" => parsed.filter.until = Some(time("until", &value)?),
                _ => {
                    return Err(Problem::invalid(
                        key.clone(),
                        format!("unknown query parameter `{key}`"),
                    ));
                }
            }
        }
        if parsed.after.is_some() && parsed.before.is_some() {
            return Err(Problem::invalid(
                "before",
                "invalid before: give `after` (oldest first) or `before` (newest first), not both",
            ));
        }
        Ok(parsed)
    }
}

/// An RFC 3339 time in a query, or a 400 naming it.
fn time(field: &'static str, text: &str) -> Result<Timestamp, Problem> {
    crate::v1_jobs::rfc3339_millis(text)
        .map(Timestamp::from_unix_millis)
        .ok_or_else(|| {
            Problem::invalid(
                field,
                format!("invalid {field}: must be an RFC 3339 date and time"),
            )
        })
}

/// Events of a page, by default.
const DEFAULT_AUDIT_LIMIT: u32 = 20;

/// The organization's audit log
///
/// A page of the organization's audit events, newest first (paged back with `before`), or
/// oldest first in chain order when `after` is given (paged on with `after`); optionally only
/// one action's, one workspace's, or a time range's. `next` is the `before` (or `after`) of
/// the following page. A `workspace_id` the organization does not have (another
/// organization's, a deleted one) is not found.
#[utoipa::path(
    get,
    path = "/api/v1/organization/audit",
    tag = "organization",
    operation_id = "organization_audit",
    params(
        ("after" = Option<u64>, Query, description = "Oldest first: only events after this `seq` (0 for the first; the previous page's `next`)."),
        ("before" = Option<u64>, Query, description = "Newest first (the default): only events before this `seq` (the previous page's `next`)."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size, 20 by default."),
        ("action" = Option<String>, Query, description = "Only this action (exact, such as `org_key.revoke`)."),
        ("workspace_id" = Option<String>, Query, format = "uuid", description = "Only events about this workspace."),
        ("from" = Option<String>, Query, format = DateTime, description = "Only events at or after this time (RFC 3339)."),
        ("until" = Option<String>, Query, format = DateTime, description = "Only events before this time (RFC 3339)."),
    ),
    responses(
        (status = 200, description = "A page of events.", body = AuditPage),
        BadRequest, Unauthorized, NotFound, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn audit(
    OrgAuth(org): OrgAuth,
    uri: Uri,
) -> Result<axum::Json<AuditPage>, Problem> {
    let query = AuditQuery::parse(uri.query())?;
    let limit = query.limit.unwrap_or(DEFAULT_AUDIT_LIMIT);
    let oldest_first = query.after.is_some();
    let page = match query.after.or(query.before) {
        None => Page::first(limit),
        Some(seq) => Page::after(Cursor::after_sequence(seq), limit),
    };
    let filter = query.filter;
    let paged = blocking(move || {
        // Another organization's workspace is not found, not an empty log.
        if let Some(id) = filter.workspace_id {
            org.get_workspace(id)?;
        }
        if oldest_first {
            org.audit_events(&filter, &page)
        } else {
            org.latest_audit_events(&filter, &page)
        }
    })
    .await?;
    let next = paged
        .next
        .as_ref()
        .and_then(|_| paged.items.last().map(|e| e.seq));
    Ok(axum::Json(AuditPage {
        data: paged.items.into_iter().map(AuditItem::from).collect(),
        next,
    }))
}

/// Where the audit chain breaks.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Break {
    /// The sequence number where the chain breaks (the event expected there).
    seq: u64,
    /// Why: an event changed, deleted or moved.
    reason: String,
}

/// `GET /api/v1/organization/audit/verify`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Verification {
    /// Whether the whole chain verified.
    intact: bool,
    /// Events checked before the first broken link (all of them when intact).
    verified: u64,
    /// The first broken link; `null` when intact.
    broken: Option<Break>,
}

impl From<AuditVerification> for Verification {
    fn from(v: AuditVerification) -> Self {
        Self {
            intact: v.is_intact(),
            verified: v.verified,
            broken: v.broken.map(|b| Break {
                seq: b.seq,
                reason: b.reason,
            }),
        }
    }
}

/// Verify the audit chain
///
/// Checks the organization's whole audit chain, in order, and reports the first broken link:
/// an event changed, deleted or moved since it was written.
#[utoipa::path(
    get,
    path = "/api/v1/organization/audit/verify",
    tag = "organization",
    operation_id = "organization_audit_verify",
    responses(
        (status = 200, description = "The result.", body = Verification),
        BadRequest, Unauthorized, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn verify(
    OrgAuth(org): OrgAuth,
    uri: Uri,
) -> Result<axum::Json<Verification>, Problem> {
    no_query(&uri)?;
    let result = blocking(move || org.verify_audit()).await?;
    Ok(axum::Json(result.into()))
}

// ---------------------------------------------------------------------------------------------
// Org keys
// ---------------------------------------------------------------------------------------------

/// One of the organization's access keys: its public prefix, role and dates, never the key.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OrgKeyItem {
    /// Its id (for revoking it).
    #[schema(value_type = String, format = "uuid")]
    id: OrgKeyId,
    /// Its public prefix (the start of the key, to recognise it).
    prefix: String,
    /// What it may do: `organization` (an org key) or `worker` (a worker key: the job
    /// protocol only).
    #[schema(value_type = crate::openapi::KeyRole)]
    role: KeyRole,
    /// When it was made.
    #[schema(value_type = crate::openapi::Timestamp)]
    created_at: Timestamp,
    /// When it stops working; `null` if never.
    #[schema(value_type = Option<crate::openapi::Timestamp>)]
    expires_at: Option<Timestamp>,
    /// When it was last used (to the minute); `null` if never.
    #[schema(value_type = Option<crate::openapi::Timestamp>)]
    last_used_at: Option<Timestamp>,
    /// When it was revoked; `null` if it was not.
    #[schema(value_type = Option<crate::openapi::Timestamp>)]
    revoked_at: Option<Timestamp>,
}

impl From<OrgKeyInfo> for OrgKeyItem {
    fn from(key: OrgKeyInfo) -> Self {
        Self {
            id: key.id,
            prefix: key.prefix,
            role: key.role,
            created_at: key.created_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// The org keys
///
/// The organization's access keys, oldest first: prefixes and dates, never a key.
#[utoipa::path(
    get,
    path = "/api/v1/organization/keys",
    tag = "organization",
    operation_id = "list_org_keys",
    responses(
        (status = 200, description = "The keys.", body = List<OrgKeyItem>),
        BadRequest, Unauthorized, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn list_keys(
    OrgAuth(org): OrgAuth,
    uri: Uri,
) -> Result<axum::Json<List<OrgKeyItem>>, Problem> {
    no_query(&uri)?;
    let keys = blocking(move || org.list_keys()).await?;
    Ok(axum::Json(List {
        data: keys.into_iter().map(OrgKeyItem::from).collect(),
    }))
}

/// `POST /api/v1/organization/keys`.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKeyBody {
    /// When the key stops working (RFC 3339, in the future); absent or `null`: never.
    #[schema(value_type = Option<crate::openapi::Timestamp>)]
    expires_at: Option<String>,
    /// `organization` (the default: an org key, `bh_org_…`) or `worker` (a worker key,
    /// `bh_wkr_…`, that may only claim, heartbeat and complete jobs).
    #[schema(value_type = Option<crate::openapi::KeyRole>)]
    role: Option<String>,
}

/// A new key: shown once.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct NewKey {
    /// The key's prefix and dates.
    key: OrgKeyItem,
    /// The key itself. Shown this once: it is stored only as a digest.
    secret: String,
}

/// Create an org key or a worker key
///
/// A new access key of the organization, optionally expiring: an org key (`role`
/// `organization`, the default) or a worker key (`role` `worker`), whose only power is the job
/// protocol (`POST /api/v1/jobs/claim`, `.../heartbeat`, `.../complete`); every other route
/// refuses a worker key with a 403. The answer carries the key itself this once; it cannot be
/// read again.
#[utoipa::path(
    post,
    path = "/api/v1/organization/keys",
    tag = "organization",
    operation_id = "create_org_key",
    request_body = NewKeyBody,
    responses(
        (status = 201, description = "The new key and its secret, shown once.", body = NewKey),
        BadRequest, Unauthorized, PayloadTooLarge, UnsupportedMediaType, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn create_key(
    OrgAuth(org): OrgAuth,
    Json(body): Json<NewKeyBody>,
) -> Result<(StatusCode, axum::Json<NewKey>), Problem> {
    let expires_at = body
        .expires_at
        .map(|text| {
            crate::v1_jobs::rfc3339_millis(&text)
                .map(Timestamp::from_unix_millis)
                .ok_or_else(|| {
                    Problem::invalid(
                        "expires_at",
                        "invalid expires_at: must be an RFC 3339 date and time",
                    )
                })
        })
        .transpose()?;
    let role = match body.role.as_deref() {
        None => KeyRole::Organization,
        Some(text) => text
            .parse::<KeyRole>()
            .map_err(|_| Problem::invalid("role", "invalid role: `organization` or `worker`"))?,
    };
    let (info, secret) = blocking(move || match role {
        KeyRole::Organization => org.create_key(expires_at),
        KeyRole::Worker => org.create_worker_key(expires_at),
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(NewKey {
            key: info.into(),
            secret: secret.expose().to_owned(),
        }),
    ))
}

/// Revoke an org key
///
/// Revokes one of the organization's access keys: it stops working at once (the key this
/// request is signed in with too). Another organization's key is not found.
#[utoipa::path(
    delete,
    path = "/api/v1/organization/keys/{key_id}",
    tag = "organization",
    operation_id = "revoke_org_key",
    params(("key_id" = String, Path, format = "uuid", description = "The key's id.")),
    responses(
        (status = 200, description = "The revoked key.", body = OrgKeyItem),
        BadRequest, Unauthorized, NotFound, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn revoke_key(
    OrgAuth(org): OrgAuth,
    Path(id): Path<String>,
) -> Result<axum::Json<OrgKeyItem>, Problem> {
    let id: OrgKeyId = path_id("key_id", &id)?;
    let key = blocking(move || org.revoke_key(id)).await?;
    Ok(axum::Json(key.into()))
}

// ---------------------------------------------------------------------------------------------
// Signing keys
// ---------------------------------------------------------------------------------------------

/// One of the keys that sign the organization's scoped tokens: never its secret.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SigningKeyItem {
    /// Its id, the token header's `kid`.
    kid: String,
    /// Its algorithm: `HS256` or `EdDSA`.
    algorithm: String,
    /// When it was made.
    #[schema(value_type = crate::openapi::Timestamp)]
    created_at: Timestamp,
    /// When it stops verifying; `null` for the current signer.
    #[schema(value_type = Option<crate::openapi::Timestamp>)]
    retire_at: Option<Timestamp>,
    /// Whether it signs new tokens (the newest key with no retirement time).
    signer: bool,
}

impl From<SigningKeyInfo> for SigningKeyItem {
    fn from(key: SigningKeyInfo) -> Self {
        Self {
            signer: key.retire_at.is_none(),
            kid: key.kid,
            algorithm: key.algorithm.to_string(),
            created_at: key.created_at,
            retire_at: key.retire_at,
        }
    }
}

/// The signing keys
///
/// The keys that sign and verify the organization's scoped tokens, newest first: the signer,
/// then older keys that verify until they retire. Never a secret.
#[utoipa::path(
    get,
    path = "/api/v1/organization/signing-keys",
    tag = "organization",
    operation_id = "list_signing_keys",
    responses(
        (status = 200, description = "The keys.", body = List<SigningKeyItem>),
        BadRequest, Unauthorized, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn signing_keys(
    OrgAuth(org): OrgAuth,
    uri: Uri,
) -> Result<axum::Json<List<SigningKeyItem>>, Problem> {
    no_query(&uri)?;
    let keys = blocking(move || org.signing_keys()).await?;
    Ok(axum::Json(List {
        data: keys.into_iter().map(SigningKeyItem::from).collect(),
    }))
}

/// Rotate the signing key
///
/// A new key signs from now on; the old ones keep verifying until their last token can have
/// expired, then retire.
#[utoipa::path(
    post,
    path = "/api/v1/organization/signing-keys/rotate",
    tag = "organization",
    operation_id = "rotate_signing_key",
    responses(
        (status = 200, description = "The new signer.", body = SigningKeyItem),
        BadRequest, Unauthorized, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn rotate(
    OrgAuth(org): OrgAuth,
    uri: Uri,
) -> Result<axum::Json<SigningKeyItem>, Problem> {
    no_query(&uri)?;
    let key = blocking(move || org.rotate_signing_key()).await?;
    Ok(axum::Json(key.into()))
}

/// `DELETE /api/v1/organization/signing-keys/{kid}`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Retired {
    /// The retired key's `kid`.
    retired: String,
    /// The new signer when the retired key was the signer (a rotation came first); `null`
    /// otherwise.
    signer: Option<SigningKeyItem>,
}

/// Retire a signing key
///
/// Retires one of the organization's signing keys at once, for a key that may have leaked:
/// its tokens are refused from now on. Retiring the signer makes a new one first. Another
/// organization's key, or one already retired, is not found.
#[utoipa::path(
    delete,
    path = "/api/v1/organization/signing-keys/{kid}",
    tag = "organization",
    operation_id = "retire_signing_key",
    params(("kid" = String, Path, description = "The key's `kid`.")),
    responses(
        (status = 200, description = "The key is retired.", body = Retired),
        BadRequest, Unauthorized, NotFound, Unavailable,
    ),
    security(("org_key" = []), ("access_token" = []), ("client_credentials" = [])),
)]
pub(crate) async fn retire(
    OrgAuth(org): OrgAuth,
    Path(kid): Path<String>,
) -> Result<axum::Json<Retired>, Problem> {
    let retired = kid.clone();
    let signer = blocking(move || org.retire_signing_key(&kid)).await?;
    Ok(axum::Json(Retired {
        retired,
        signer: signer.map(SigningKeyItem::from),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_query_takes_its_filters_and_refuses_others() {
        let q = AuditQuery::parse(Some("after=7&limit=5&action=org_key.revoke")).unwrap();
        assert_eq!(q.after, Some(7));
        assert_eq!(q.limit, Some(5));
        assert_eq!(q.filter.action.as_deref(), Some("org_key.revoke"));
        for (query, field) in [
            ("after=x", "after"),
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("workspace_id=nope", "workspace_id"),
            ("actor=me", "actor"),
            ("after=1&after=2", "after"),
            ("after=1&before=9", "before"),
            ("before=x", "before"),
            ("from=yesterday", "from"),
        ] {
            let p = AuditQuery::parse(Some(query)).unwrap_err();
            let text = format!("{p:?}");
            assert!(
                text.contains(&format!("field: Some(\"{field}\")")),
                "{query}: {text}"
            );
        }
    }
}
