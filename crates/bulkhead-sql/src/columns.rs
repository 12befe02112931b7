//! Turning stored rows into core values, for both SQL adapters.
//!
//! An adapter implements [`Columns`] for its row type (reading one column by index, as the
//! database stores it; [`columns_by_get!`](crate::columns_by_get) writes the impl over one
//! generic getter) and selects the columns in the order of the `*_columns!` macros here; the
//! decoders below do the rest. A stored value that fails core's validation is a corrupt
//! row: it surfaces as a storage error naming the column, never as the caller's invalid
//! input.

use std::str::FromStr;
use std::time::Duration;

use uuid::Uuid;

use bulkhead_core::keys::{OrgKeyRow, SigningKeyRow};
use bulkhead_core::secrets::SealedSecrets;
use bulkhead_core::store::{
    ConnectionState, CreationCount, EndpointKind, EndpointRow, StatusCount, TemplateKind,
    TemplateRow, TokenState,
};
use bulkhead_core::{
    Algorithm, Connection, ConnectionId, Connector, ConnectorConfig, DestinationId, Error,
    ExternalId, Name, OrgId, OrgKeyId, OrgSettings, Organization, Result, Schedule, SourceId,
    StorageError, SyncRun, SyncRunId, TagInfo, TagSelection, Timestamp, Workspace, WorkspaceId,
};

/// One stored row, read column by column (by index; `name` is for error messages).
pub trait Columns {
    /// A text column.
    fn text(&self, index: usize, name: &str) -> Result<String>;
    /// A text column that may be NULL.
    fn opt_text(&self, index: usize, name: &str) -> Result<Option<String>>;
    /// An integer column.
    fn int(&self, index: usize, name: &str) -> Result<i64>;
    /// An integer column that may be NULL.
    fn opt_int(&self, index: usize, name: &str) -> Result<Option<i64>>;
    /// A UUID column.
    fn uuid(&self, index: usize, name: &str) -> Result<Uuid>;
    /// A UUID column that may be NULL.
    fn opt_uuid(&self, index: usize, name: &str) -> Result<Option<Uuid>>;
    /// A binary column.
    fn bytes(&self, index: usize, name: &str) -> Result<Vec<u8>>;
    /// A binary column that may be NULL.
    fn opt_bytes(&self, index: usize, name: &str) -> Result<Option<Vec<u8>>>;
    /// A boolean column.
    fn flag(&self, index: usize, name: &str) -> Result<bool>;
    /// Whether a text column is exactly `{}`, read without copying it (most rows have an
    /// empty secret map, and decoding one is the hot path of a list).
    fn is_empty_map(&self, index: usize, name: &str) -> Result<bool>;
}

/// Writes the [`Columns`] methods of a row type that has one generic getter,
/// `fn get<T: FromSql>(&self, index: usize, name: &str) -> Result<T>` (both drivers' rows read
/// every type but the empty-map test that way).
#[macro_export]
macro_rules! columns_by_get {
    () => {
        fn text(&self, index: usize, name: &str) -> $crate::__core::Result<String> {
            self.get(index, name)
        }
        fn opt_text(&self, index: usize, name: &str) -> $crate::__core::Result<Option<String>> {
            self.get(index, name)
        }
        fn int(&self, index: usize, name: &str) -> $crate::__core::Result<i64> {
            self.get(index, name)
        }
        fn opt_int(&self, index: usize, name: &str) -> $crate::__core::Result<Option<i64>> {
            self.get(index, name)
        }
        fn uuid(&self, index: usize, name: &str) -> $crate::__core::Result<$crate::__uuid::Uuid> {
            self.get(index, name)
        }
        fn opt_uuid(
            &self,
            index: usize,
            name: &str,
        ) -> $crate::__core::Result<Option<$crate::__uuid::Uuid>> {
            self.get(index, name)
        }
        fn bytes(&self, index: usize, name: &str) -> $crate::__core::Result<Vec<u8>> {
            self.get(index, name)
        }
        fn opt_bytes(&self, index: usize, name: &str) -> $crate::__core::Result<Option<Vec<u8>>> {
            self.get(index, name)
        }
        fn flag(&self, index: usize, name: &str) -> $crate::__core::Result<bool> {
            self.get(index, name)
        }
    };
}

/// The error of a stored value that core refuses.
pub fn corrupt(column: &str, e: Error) -> Error {
    Error::Storage(StorageError::new(format!(
        "stored column `{column}` is invalid: {e}"
    )))
}

fn parse<T: FromStr<Err = Error>>(row: &impl Columns, index: usize, name: &str) -> Result<T> {
    row.text(index, name)?.parse().map_err(|e| corrupt(name, e))
}

fn id<T>(row: &impl Columns, index: usize, name: &str, make: fn(Uuid) -> Result<T>) -> Result<T> {
    make(row.uuid(index, name)?).map_err(|e| corrupt(name, e))
}

fn name(row: &impl Columns, index: usize) -> Result<Name> {
    Name::parse_field("name", row.text(index, "name")?).map_err(|e| corrupt("name", e))
}

fn time(row: &impl Columns, index: usize, name: &str) -> Result<Timestamp> {
    Ok(Timestamp::from_unix_millis(row.int(index, name)?))
}

fn opt_time(row: &impl Columns, index: usize, name: &str) -> Result<Option<Timestamp>> {
    Ok(row.opt_int(index, name)?.map(Timestamp::from_unix_millis))
}

fn count(row: &impl Columns, index: usize, name: &str) -> Result<u64> {
    let n = row.int(index, name)?;
    u64::try_from(n).map_err(|_| corrupt(name, Error::invalid_input("count", "is negative")))
}

fn small(row: &impl Columns, index: usize, name: &str) -> Result<u32> {
    u32::try_from(count(row, index, name)?)
        .map_err(|_| corrupt(name, Error::invalid_input(name.to_owned(), "is too large")))
}

fn tags(row: &impl Columns, tags: usize, mode: usize) -> Result<TagSelection> {
    let list = row.text(tags, "tags")?;
    let mode = row.text(mode, "tags_mode")?;
    TagSelection::from_stored(&list, &mode).map_err(|e| corrupt("tags", e))
}

fn sealed(row: &impl Columns, index: usize) -> Result<SealedSecrets> {
    // Most rows have no secret: skip the copy and the JSON parse for them.
    if row.is_empty_map(index, "secrets")? {
        return Ok(SealedSecrets::default());
    }
    SealedSecrets::from_stored(&row.text(index, "secrets")?).map_err(|e| corrupt("secrets", e))
}

/// Columns of `organizations`, in the order [`organization`] reads them.
#[macro_export]
macro_rules! org_columns {
    () => {
        "id, name, created_at, token_algorithm, issuer, audience, default_ttl_secs, max_ttl_secs, workspace_creation_burst, workspace_creation_rate"
    };
}

/// A row of [`org_columns!`].
pub fn organization(row: &impl Columns) -> Result<Organization> {
    Ok(Organization {
        id: id(row, 0, "id", OrgId::from_uuid)?,
        name: name(row, 1)?,
        created_at: time(row, 2, "created_at")?,
        settings: OrgSettings {
            token_algorithm: parse(row, 3, "token_algorithm")?,
            issuer: row.text(4, "issuer")?,
            audience: row.text(5, "audience")?,
            default_token_ttl: Duration::from_secs(count(row, 6, "default_ttl_secs")?),
            max_token_ttl: Duration::from_secs(count(row, 7, "max_ttl_secs")?),
            workspace_creation_burst: small(row, 8, "workspace_creation_burst")?,
            workspace_creation_rate: small(row, 9, "workspace_creation_rate")?,
        },
    })
}

/// Columns of `workspaces`, in the order [`workspace`] reads them.
#[macro_export]
macro_rules! workspace_columns {
    () => {
        "id, org_id, external_id, name, status, created_at, updated_at, source_tags, source_tags_mode, connection_tags, connection_tags_mode, tokens_valid_after, deleted_at, merged_into"
    };
}

/// A row of [`workspace_columns!`].
pub fn workspace(row: &impl Columns) -> Result<Workspace> {
    Ok(Workspace {
        id: id(row, 0, "id", WorkspaceId::from_uuid)?,
        org_id: id(row, 1, "org_id", OrgId::from_uuid)?,
        external_id: ExternalId::new(row.text(2, "external_id")?)
            .map_err(|e| corrupt("external_id", e))?,
        name: name(row, 3)?,
        status: parse(row, 4, "status")?,
        created_at: time(row, 5, "created_at")?,
        updated_at: time(row, 6, "updated_at")?,
        source_tags: tags(row, 7, 8)?,
        connection_tags: tags(row, 9, 10)?,
        tokens_valid_after: opt_time(row, 11, "tokens_valid_after")?,
        deleted_at: opt_time(row, 12, "deleted_at")?,
        merged_into: row
            .opt_uuid(13, "merged_into")?
            .map(WorkspaceId::from_uuid)
            .transpose()
            .map_err(|e| corrupt("merged_into", e))?,
    })
}

/// A row of [`workspace_columns!`] followed by issuer, audience and the revoked flag.
pub fn token_state(row: &impl Columns) -> Result<TokenState> {
    Ok(TokenState {
        workspace: workspace(row)?,
        issuer: row.text(14, "issuer")?,
        audience: row.text(15, "audience")?,
        revoked: row.flag(16, "revoked")?,
        max_ttl_secs: row.int(17, "max_ttl_secs")?,
        signing_key: if row.flag(18, "signing_key")? {
            Some(opt_time(row, 19, "retire_at")?)
        } else {
            None
        },
    })
}

/// Columns of `org_keys`, in the order [`org_key`] reads them.
#[macro_export]
macro_rules! org_key_columns {
    () => {
        "id, org_id, prefix, hash, created_at, expires_at, last_used_at, revoked_at, role"
    };
}

/// A row of [`org_key_columns!`].
pub fn org_key(row: &impl Columns) -> Result<OrgKeyRow> {
    Ok(OrgKeyRow {
        id: id(row, 0, "id", OrgKeyId::from_uuid)?,
        org_id: id(row, 1, "org_id", OrgId::from_uuid)?,
        prefix: row.text(2, "prefix")?,
        hash: row
            .bytes(3, "hash")?
            .try_into()
            .map_err(|_| corrupt("hash", Error::invalid_input("hash", "is not 32 bytes")))?,
        created_at: time(row, 4, "created_at")?,
        expires_at: opt_time(row, 5, "expires_at")?,
        last_used_at: opt_time(row, 6, "last_used_at")?,
        revoked_at: opt_time(row, 7, "revoked_at")?,
        role: parse(row, 8, "role")?,
    })
}

/// Columns of `signing_keys`, in the order [`signing_key`] reads them.
#[macro_export]
macro_rules! signing_key_columns {
    () => {
        "kid, org_id, algorithm, sealed_secret, public_key, created_at, retire_at"
    };
}

/// A row of [`signing_key_columns!`].
pub fn signing_key(row: &impl Columns) -> Result<SigningKeyRow> {
    Ok(SigningKeyRow {
        kid: row.text(0, "kid")?,
        org_id: id(row, 1, "org_id", OrgId::from_uuid)?,
        algorithm: parse::<Algorithm>(row, 2, "algorithm")?,
        sealed_secret: row.bytes(3, "sealed_secret")?,
        public_key: row.opt_bytes(4, "public_key")?,
        created_at: time(row, 5, "created_at")?,
        retire_at: opt_time(row, 6, "retire_at")?,
    })
}

/// Columns of `sources` and `destinations`, in the order [`endpoint`] reads them.
#[macro_export]
macro_rules! endpoint_columns {
    () => {
        "id, org_id, workspace_id, name, connector, config, created_at, updated_at, template_id, secrets"
    };
}

/// [`endpoint_columns!`] but `secrets`, as a listing reads them ([`listed_endpoint`]).
#[macro_export]
macro_rules! listed_endpoint_columns {
    () => {
        "id, org_id, workspace_id, name, connector, config, created_at, updated_at, template_id"
    };
}

/// A row of [`endpoint_columns!`].
pub fn endpoint(kind: EndpointKind, row: &impl Columns) -> Result<EndpointRow> {
    let secrets = sealed(row, 9)?;
    Ok(listed_endpoint(kind, row)?.with_secrets(secrets))
}

/// A row of [`listed_endpoint_columns!`] (or the same first nine of [`endpoint_columns!`]).
pub fn listed_endpoint(kind: EndpointKind, row: &impl Columns) -> Result<EndpointRow<()>> {
    Ok(EndpointRow {
        kind,
        id: row.uuid(0, "id")?,
        org_id: id(row, 1, "org_id", OrgId::from_uuid)?,
        workspace_id: id(row, 2, "workspace_id", WorkspaceId::from_uuid)?,
        name: name(row, 3)?,
        connector: parse::<Connector>(row, 4, "connector")?,
        config: ConnectorConfig::from_stored(row.text(5, "config")?)
            .map_err(|e| corrupt("config", e))?,
        created_at: time(row, 6, "created_at")?,
        updated_at: time(row, 7, "updated_at")?,
        template_id: row.opt_uuid(8, "template_id")?,
        secrets: (),
    })
}

/// Columns of `source_templates` and `connection_templates`, in the order [`template`] reads
/// them.
#[macro_export]
macro_rules! template_columns {
    () => {
        "id, org_id, name, tags, body, secrets, created_at, updated_at"
    };
}

/// A row of [`template_columns!`].
pub fn template(kind: TemplateKind, row: &impl Columns) -> Result<TemplateRow> {
    Ok(TemplateRow {
        kind,
        id: row.uuid(0, "id")?,
        org_id: id(row, 1, "org_id", OrgId::from_uuid)?,
        name: name(row, 2)?,
        tags: serde_json::from_str(&row.text(3, "tags")?)
            .map_err(|e| corrupt("tags", Error::invalid_input("tags", e.to_string())))?,
        body: row.text(4, "body")?,
        secrets: sealed(row, 5)?,
        created_at: time(row, 6, "created_at")?,
        updated_at: time(row, 7, "updated_at")?,
    })
}

/// A row of `name, created_at` of `tags`.
pub fn tag(row: &impl Columns) -> Result<TagInfo> {
    Ok(TagInfo {
        name: parse(row, 0, "name")?,
        created_at: time(row, 1, "created_at")?,
    })
}

/// Columns of `connections`, in the order [`connection`] reads them.
#[macro_export]
macro_rules! connection_columns {
    () => {
        "id, org_id, workspace_id, name, source_id, destination_id, status, schedule, created_at, updated_at"
    };
}

/// A row of [`connection_columns!`].
pub fn connection(row: &impl Columns) -> Result<Connection> {
    Ok(Connection {
        id: id(row, 0, "id", ConnectionId::from_uuid)?,
        org_id: id(row, 1, "org_id", OrgId::from_uuid)?,
        workspace_id: id(row, 2, "workspace_id", WorkspaceId::from_uuid)?,
        name: name(row, 3)?,
        source_id: id(row, 4, "source_id", SourceId::from_uuid)?,
        destination_id: id(row, 5, "destination_id", DestinationId::from_uuid)?,
        status: parse(row, 6, "status")?,
        schedule: Schedule::parse(&row.text(7, "schedule")?).map_err(|e| corrupt("schedule", e))?,
        created_at: time(row, 8, "created_at")?,
        updated_at: time(row, 9, "updated_at")?,
    })
}

/// Columns of `connections` that say whether one may run, in the order [`connection_state`]
/// reads them.
#[macro_export]
macro_rules! connection_state_columns {
    () => {
        "id, status, paused_by_workspace"
    };
}

/// A row of [`connection_state_columns!`]: a connection's id and its state.
pub fn connection_state(row: &impl Columns) -> Result<(ConnectionId, ConnectionState)> {
    Ok((
        id(row, 0, "id", ConnectionId::from_uuid)?,
        ConnectionState {
            status: parse(row, 1, "status")?,
            paused_by_workspace: row.flag(2, "paused_by_workspace")?,
        },
    ))
}

/// Columns of `sync_runs`, in the order [`sync_run`] reads them.
#[macro_export]
macro_rules! sync_run_columns {
    () => {
        "id, org_id, workspace_id, connection_id, status, started_at, finished_at, rows_synced, bytes_synced, error"
    };
}

/// A row of [`sync_run_columns!`].
pub fn sync_run(row: &impl Columns) -> Result<SyncRun> {
    Ok(SyncRun {
        id: id(row, 0, "id", SyncRunId::from_uuid)?,
        org_id: id(row, 1, "org_id", OrgId::from_uuid)?,
        workspace_id: id(row, 2, "workspace_id", WorkspaceId::from_uuid)?,
        connection_id: id(row, 3, "connection_id", ConnectionId::from_uuid)?,
        status: parse(row, 4, "status")?,
        started_at: time(row, 5, "started_at")?,
        finished_at: opt_time(row, 6, "finished_at")?,
        rows_synced: count(row, 7, "rows_synced")?,
        bytes_synced: count(row, 8, "bytes_synced")?,
        error: row.opt_text(9, "error")?,
    })
}

/// A row of `org_id, status, count(*)` of a count of workspaces by status.
pub fn status_count(row: &impl Columns) -> Result<StatusCount> {
    Ok(StatusCount {
        org_id: id(row, 0, "org_id", OrgId::from_uuid)?,
        status: parse(row, 1, "status")?,
        count: count(row, 2, "count")?,
    })
}

/// A row of `org_id, hour, count(*)` of a count of workspace creations by hour (`hour` in
/// Unix milliseconds).
pub fn creation_count(row: &impl Columns) -> Result<CreationCount> {
    Ok(CreationCount {
        org_id: id(row, 0, "org_id", OrgId::from_uuid)?,
        hour: time(row, 1, "hour")?,
        count: count(row, 2, "count")?,
    })
}

/// A non-negative count as a database's 64-bit integer; core has already refused larger
/// ones.
pub fn sql_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
