//! Turning SQLite rows into core values. A stored value that fails core's validation is a
//! corrupt row: it surfaces as a storage error, never as the caller's invalid input.

use std::str::FromStr;
use std::time::Duration;

use bulkhead_core::keys::{OrgKeyRow, SigningKeyRow};
use bulkhead_core::secrets::SealedSecrets;
use bulkhead_core::store::{
    EndpointKind, EndpointRow, StatusCount, TemplateKind, TemplateRow, TokenState,
};
use bulkhead_core::{
    Algorithm, Connection, ConnectionId, Connector, ConnectorConfig, DestinationId, Error,
    ExternalId, Name, OrgId, OrgKeyId, OrgSettings, Organization, Result, Schedule, SourceId,
    StorageError, SyncRun, SyncRunId, TagInfo, TagSelection, Timestamp, Workspace, WorkspaceId,
};
use rusqlite::types::FromSql;
use rusqlite::{Params, Row, Statement};
use uuid::Uuid;

use crate::Ctx;
use crate::guard::Db;

fn corrupt(column: &str, e: Error) -> Error {
    Error::Storage(StorageError::new(format!(
        "stored column `{column}` is invalid: {e}"
    )))
}

fn col<T: FromSql>(row: &Row<'_>, index: usize, name: &str) -> Result<T> {
    row.get(index)
        .ctx(format_args!("could not read column `{name}`"))
}

fn parse<T: FromStr<Err = Error>>(row: &Row<'_>, index: usize, name: &str) -> Result<T> {
    let text: String = col(row, index, name)?;
    text.parse().map_err(|e| corrupt(name, e))
}

fn id<T>(row: &Row<'_>, index: usize, name: &str, make: fn(Uuid) -> Result<T>) -> Result<T> {
    make(col(row, index, name)?).map_err(|e| corrupt(name, e))
}

fn name(row: &Row<'_>, index: usize) -> Result<Name> {
    let text: String = col(row, index, "name")?;
    Name::parse_field("name", text).map_err(|e| corrupt("name", e))
}

fn time(row: &Row<'_>, index: usize, name: &str) -> Result<Timestamp> {
    Ok(Timestamp::from_unix_millis(col(row, index, name)?))
}

fn count(row: &Row<'_>, index: usize, name: &str) -> Result<u64> {
    let n: i64 = col(row, index, name)?;
    u64::try_from(n).map_err(|_| corrupt(name, Error::invalid_input("count", "is negative")))
}

fn small(row: &Row<'_>, index: usize, name: &str) -> Result<u32> {
    u32::try_from(count(row, index, name)?)
        .map_err(|_| corrupt(name, Error::invalid_input(name.to_owned(), "is too large")))
}

impl Db<'_> {
    /// Prepares `sql` (cached, through the guard's statement mark) and decodes its first
    /// row, if any.
    pub(crate) fn query_first<T>(
        &self,
        sql: &str,
        params: impl Params,
        decode: impl Fn(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut stmt = self
            .prepare_cached(sql)
            .ctx("could not prepare a statement")?;
        first(&mut stmt, params, decode)
    }

    /// Prepares `sql` (cached, through the guard's statement mark) and decodes every row.
    pub(crate) fn query_all<T>(
        &self,
        sql: &str,
        params: impl Params,
        decode: impl Fn(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self
            .prepare_cached(sql)
            .ctx("could not prepare a statement")?;
        collect(&mut stmt, params, decode)
    }
}

/// Runs a prepared query and decodes every row with `decode`.
pub(crate) fn collect<T>(
    stmt: &mut Statement<'_>,
    params: impl Params,
    decode: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut rows = stmt.query(params).ctx("query failed")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("could not read a row")? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// Runs a prepared query that returns at most one row.
pub(crate) fn first<T>(
    stmt: &mut Statement<'_>,
    params: impl Params,
    decode: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let mut rows = stmt.query(params).ctx("query failed")?;
    match rows.next().ctx("could not read a row")? {
        Some(row) => decode(row).map(Some),
        None => Ok(None),
    }
}

/// Columns of `organizations`, in the order [`organization`] reads them.
macro_rules! org_columns {
    () => {
        "id, name, created_at, token_algorithm, issuer, audience, default_ttl_secs, max_ttl_secs, workspace_creation_burst, workspace_creation_rate"
    };
}
pub(crate) use org_columns;

pub(crate) fn organization(row: &Row<'_>) -> Result<Organization> {
    Ok(Organization {
        id: id(row, 0, "id", OrgId::from_uuid)?,
        name: name(row, 1)?,
        created_at: time(row, 2, "created_at")?,
        settings: OrgSettings {
            token_algorithm: parse(row, 3, "token_algorithm")?,
            issuer: col(row, 4, "issuer")?,
            audience: col(row, 5, "audience")?,
            default_token_ttl: Duration::from_secs(count(row, 6, "default_ttl_secs")?),
            max_token_ttl: Duration::from_secs(count(row, 7, "max_ttl_secs")?),
            workspace_creation_burst: small(row, 8, "workspace_creation_burst")?,
            workspace_creation_rate: small(row, 9, "workspace_creation_rate")?,
        },
    })
}

/// Columns of `workspaces`, in the order [`workspace`] reads them.
macro_rules! workspace_columns {
    () => {
        "id, org_id, external_id, name, status, created_at, updated_at, source_tags, source_tags_mode, connection_tags, connection_tags_mode, tokens_valid_after, deleted_at, merged_into"
    };
}
pub(crate) use workspace_columns;

pub(crate) fn workspace(row: &Row<'_>) -> Result<Workspace> {
    let external: String = col(row, 2, "external_id")?;
    Ok(Workspace {
        id: id(row, 0, "id", WorkspaceId::from_uuid)?,
        org_id: id(row, 1, "org_id", OrgId::from_uuid)?,
        external_id: ExternalId::new(external).map_err(|e| corrupt("external_id", e))?,
        name: name(row, 3)?,
        status: parse(row, 4, "status")?,
        created_at: time(row, 5, "created_at")?,
        updated_at: time(row, 6, "updated_at")?,
        source_tags: tags(row, 7, 8)?,
        connection_tags: tags(row, 9, 10)?,
        tokens_valid_after: col::<Option<i64>>(row, 11, "tokens_valid_after")?
            .map(Timestamp::from_unix_millis),
        deleted_at: opt_time(row, 12, "deleted_at")?,
        merged_into: col::<Option<Uuid>>(row, 13, "merged_into")?
            .map(WorkspaceId::from_uuid)
            .transpose()
            .map_err(|e| corrupt("merged_into", e))?,
    })
}

/// A workspace row followed by issuer, audience and the revoked flag.
pub(crate) fn token_state(row: &Row<'_>) -> Result<TokenState> {
    Ok(TokenState {
        workspace: workspace(row)?,
        issuer: col(row, 14, "issuer")?,
        audience: col(row, 15, "audience")?,
        revoked: col(row, 16, "revoked")?,
    })
}

fn tags(row: &Row<'_>, tags: usize, mode: usize) -> Result<TagSelection> {
    let list: String = col(row, tags, "tags")?;
    let mode: String = col(row, mode, "tags_mode")?;
    TagSelection::from_stored(&list, &mode).map_err(|e| corrupt("tags", e))
}

/// Columns of `org_keys`, in the order [`org_key`] reads them.
macro_rules! org_key_columns {
    () => {
        "id, org_id, prefix, hash, created_at, expires_at, last_used_at, revoked_at"
    };
}
pub(crate) use org_key_columns;

fn opt_time(row: &Row<'_>, index: usize, name: &str) -> Result<Option<Timestamp>> {
    Ok(col::<Option<i64>>(row, index, name)?.map(Timestamp::from_unix_millis))
}

pub(crate) fn org_key(row: &Row<'_>) -> Result<OrgKeyRow> {
    let hash: Vec<u8> = col(row, 3, "hash")?;
    Ok(OrgKeyRow {
        id: id(row, 0, "id", OrgKeyId::from_uuid)?,
        org_id: id(row, 1, "org_id", OrgId::from_uuid)?,
        prefix: col(row, 2, "prefix")?,
        hash: hash
            .try_into()
            .map_err(|_| corrupt("hash", Error::invalid_input("hash", "is not 32 bytes")))?,
        created_at: time(row, 4, "created_at")?,
        expires_at: opt_time(row, 5, "expires_at")?,
        last_used_at: opt_time(row, 6, "last_used_at")?,
        revoked_at: opt_time(row, 7, "revoked_at")?,
    })
}

/// Columns of `signing_keys`, in the order [`signing_key`] reads them.
macro_rules! signing_key_columns {
    () => {
        "kid, org_id, algorithm, sealed_secret, public_key, created_at, retire_at"
    };
}
pub(crate) use signing_key_columns;

pub(crate) fn signing_key(row: &Row<'_>) -> Result<SigningKeyRow> {
    Ok(SigningKeyRow {
        kid: col(row, 0, "kid")?,
        org_id: id(row, 1, "org_id", OrgId::from_uuid)?,
        algorithm: parse::<Algorithm>(row, 2, "algorithm")?,
        sealed_secret: col(row, 3, "sealed_secret")?,
        public_key: col(row, 4, "public_key")?,
        created_at: time(row, 5, "created_at")?,
        retire_at: opt_time(row, 6, "retire_at")?,
    })
}

/// Columns of `sources` and `destinations`, in the order [`endpoint`] reads them.
macro_rules! endpoint_columns {
    () => {
        "id, org_id, workspace_id, name, connector, config, created_at, updated_at, template_id, secrets"
    };
}
pub(crate) use endpoint_columns;

pub(crate) fn endpoint(kind: EndpointKind, row: &Row<'_>) -> Result<EndpointRow> {
    let config: String = col(row, 5, "config")?;
    Ok(EndpointRow {
        kind,
        id: col(row, 0, "id")?,
        org_id: id(row, 1, "org_id", OrgId::from_uuid)?,
        workspace_id: id(row, 2, "workspace_id", WorkspaceId::from_uuid)?,
        name: name(row, 3)?,
        connector: parse::<Connector>(row, 4, "connector")?,
        config: ConnectorConfig::from_json(&config).map_err(|e| corrupt("config", e))?,
        created_at: time(row, 6, "created_at")?,
        updated_at: time(row, 7, "updated_at")?,
        template_id: col(row, 8, "template_id")?,
        secrets: sealed(row, 9)?,
    })
}

fn sealed(row: &Row<'_>, index: usize) -> Result<SealedSecrets> {
    // Most rows have no secret: skip the JSON parse (and the allocation) for them.
    let text = row
        .get_ref(index)
        .ctx("could not read column `secrets`")?
        .as_str()
        .map_err(|e| corrupt("secrets", Error::crypto(e.to_string())))?;
    if text == "{}" {
        return Ok(SealedSecrets::default());
    }
    SealedSecrets::from_stored(text).map_err(|e| corrupt("secrets", e))
}

/// Columns of `source_templates` and `connection_templates`, in the order [`template`] reads
/// them.
macro_rules! template_columns {
    () => {
        "id, org_id, name, tags, body, secrets, created_at, updated_at"
    };
}
pub(crate) use template_columns;

pub(crate) fn template(kind: TemplateKind, row: &Row<'_>) -> Result<TemplateRow> {
    let tags: String = col(row, 3, "tags")?;
    Ok(TemplateRow {
        kind,
        id: col(row, 0, "id")?,
        org_id: id(row, 1, "org_id", OrgId::from_uuid)?,
        name: name(row, 2)?,
        tags: serde_json::from_str(&tags)
            .map_err(|e| corrupt("tags", Error::invalid_input("tags", e.to_string())))?,
        body: col(row, 4, "body")?,
        secrets: sealed(row, 5)?,
        created_at: time(row, 6, "created_at")?,
        updated_at: time(row, 7, "updated_at")?,
    })
}

pub(crate) fn tag(row: &Row<'_>) -> Result<TagInfo> {
    Ok(TagInfo {
        name: parse(row, 0, "name")?,
        created_at: time(row, 1, "created_at")?,
    })
}

/// Columns of `connections`, in the order [`connection`] reads them.
macro_rules! connection_columns {
    () => {
        "id, org_id, workspace_id, name, source_id, destination_id, status, schedule, created_at, updated_at"
    };
}
pub(crate) use connection_columns;

pub(crate) fn connection(row: &Row<'_>) -> Result<Connection> {
    let schedule: String = col(row, 7, "schedule")?;
    Ok(Connection {
        id: id(row, 0, "id", ConnectionId::from_uuid)?,
        org_id: id(row, 1, "org_id", OrgId::from_uuid)?,
        workspace_id: id(row, 2, "workspace_id", WorkspaceId::from_uuid)?,
        name: name(row, 3)?,
        source_id: id(row, 4, "source_id", SourceId::from_uuid)?,
        destination_id: id(row, 5, "destination_id", DestinationId::from_uuid)?,
        status: parse(row, 6, "status")?,
        schedule: Schedule::parse(&schedule).map_err(|e| corrupt("schedule", e))?,
        created_at: time(row, 8, "created_at")?,
        updated_at: time(row, 9, "updated_at")?,
    })
}

/// Columns of `sync_runs`, in the order [`sync_run`] reads them.
macro_rules! sync_run_columns {
    () => {
        "id, org_id, workspace_id, connection_id, status, started_at, finished_at, rows_synced, bytes_synced, error"
    };
}
pub(crate) use sync_run_columns;

pub(crate) fn sync_run(row: &Row<'_>) -> Result<SyncRun> {
    let finished: Option<i64> = col(row, 6, "finished_at")?;
    Ok(SyncRun {
        id: id(row, 0, "id", SyncRunId::from_uuid)?,
        org_id: id(row, 1, "org_id", OrgId::from_uuid)?,
        workspace_id: id(row, 2, "workspace_id", WorkspaceId::from_uuid)?,
        connection_id: id(row, 3, "connection_id", ConnectionId::from_uuid)?,
        status: parse(row, 4, "status")?,
        started_at: time(row, 5, "started_at")?,
        finished_at: finished.map(Timestamp::from_unix_millis),
        rows_synced: count(row, 7, "rows_synced")?,
        bytes_synced: count(row, 8, "bytes_synced")?,
        error: col(row, 9, "error")?,
    })
}

/// A non-negative count as SQLite's integer; core has already refused larger ones.
pub(crate) fn sql_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `org_id, status, count(*)` of a count of workspaces by status.
pub(crate) fn status_count(row: &Row<'_>) -> Result<StatusCount> {
    Ok(StatusCount {
        org_id: id(row, 0, "org_id", OrgId::from_uuid)?,
        status: parse(row, 1, "status")?,
        count: count(row, 2, "count")?,
    })
}
