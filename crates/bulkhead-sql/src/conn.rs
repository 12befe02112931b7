//! The one entry point both adapters' pools give the shared code: [`SqlPool::run`] runs a
//! closure on a [`SqlConn`] inside what the call may see ([`Access`]), reading or writing
//! ([`Mode`]), in one transaction; the connection runs the shared statements with
//! [`Param`]s and decodes rows through [`Columns`].
//!
//! How an adapter enters an [`Access`] is its own: SQLite sets the guard's workspace and
//! organization on the connection (its views and triggers then hold the call to them) or its
//! system mode; PostgreSQL sets transaction-local settings its row policies read, sent with
//! `BEGIN` and the first statement in one round trip.

use bulkhead_core::{ConnectionId, OrgId, Result, Schedule, Tenant, Timestamp, WorkspaceId};
use uuid::Uuid;

use crate::Sql;
use crate::columns::Columns;

/// What a call may see.
#[derive(Clone, Copy, Debug)]
pub enum Access<'a> {
    /// A lookup that runs for no tenant (see [`SystemCall`]).
    System(SystemCall<'a>),
    /// One organization's own rows.
    Org(OrgId),
    /// One tenant's rows of the tenant tables.
    Tenant(&'a Tenant),
    /// A tenant's rows, its own workspace row and its organization's row (SQLite enters the
    /// organization too, which costs a lock, so the hot reads of tenant tables go without).
    TenantRow(&'a Tenant),
}

/// The calls that run for no tenant, each seeing only what it needs (PostgreSQL sets a
/// setting per kind; SQLite enters its one system mode for all of them).
#[derive(Clone, Copy, Debug)]
pub enum SystemCall<'a> {
    /// The adapter's own metadata (`bulkhead_meta`).
    Meta,
    /// The operator's list of organizations.
    OrgList,
    /// The one org key with this SHA-256.
    KeyHash(&'a [u8; 32]),
    /// The one org key with this id, to record its use.
    KeyId(Uuid),
    /// The one signing key with this `kid`.
    Kid(&'a str),
}

/// Whether a call only reads or may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Reads only (SQLite: a `query_only` reader; PostgreSQL: `BEGIN READ ONLY`).
    Read,
    /// May write (SQLite: the writer, `BEGIN IMMEDIATE`; PostgreSQL: `BEGIN`).
    Write,
}

/// A bound parameter, as both databases store it (UUIDs as a 16-byte BLOB or `uuid`, times
/// as integer milliseconds).
#[derive(Clone, Copy, Debug)]
pub enum Param<'a> {
    /// A UUID.
    Uuid(Uuid),
    /// A 64-bit integer.
    Int(i64),
    /// Text.
    Text(&'a str),
    /// Binary.
    Bytes(&'a [u8]),
    /// A boolean.
    Bool(bool),
    /// SQL `NULL`.
    Null,
}

impl From<&Uuid> for Param<'_> {
    fn from(value: &Uuid) -> Self {
        Self::Uuid(*value)
    }
}

impl From<i64> for Param<'_> {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(value: &'a str) -> Self {
        Self::Text(value)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(value: &'a [u8]) -> Self {
        Self::Bytes(value)
    }
}

impl From<bool> for Param<'_> {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Null, Into::into)
    }
}

/// A connection inside one call's transaction.
pub trait SqlConn {
    /// A row of a result, read by the shared decoders.
    type Row<'r>: Columns;

    /// Runs a statement, returning the number of rows it changed.
    fn execute(&mut self, sql: &Sql, params: &[Param<'_>]) -> Result<u64>;

    /// Runs a query and decodes its first row, if any.
    fn query_first<T>(
        &mut self,
        sql: &Sql,
        params: &[Param<'_>],
        decode: impl Fn(&Self::Row<'_>) -> Result<T>,
    ) -> Result<Option<T>>;

    /// Runs a query and decodes every row.
    fn query_all<T>(
        &mut self,
        sql: &Sql,
        params: &[Param<'_>],
        decode: impl Fn(&Self::Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>>;

    /// The adapter's step before an audit append reads the chain's last event: serializes
    /// the appends of the organization `org` (SQLite's one writer does by itself).
    fn lock_audit_chain(&mut self, org: OrgId) -> Result<()>;

    /// The adapter's step after a connection is made or changed: sets when it is next due
    /// (removes it from the schedule when it is not `active`).
    fn schedule_connection(
        &mut self,
        tenant: (OrgId, WorkspaceId),
        id: ConnectionId,
        schedule: &Schedule,
        active: bool,
        now: Timestamp,
    ) -> Result<()>;

    /// The adapter's step when a workspace of `org` is deleted: removes the due times of its
    /// connections (a tenant table's rows, so inside that workspace).
    fn unschedule_workspace(&mut self, org: OrgId, workspace: WorkspaceId) -> Result<()>;
}

/// A pool of connections.
pub trait SqlPool {
    /// The connection a call runs on.
    type Conn<'c>: SqlConn;

    /// Runs `f` in one transaction inside `access`: commits when it returns `Ok`, rolls back
    /// otherwise.
    fn run<T>(
        &self,
        access: Access<'_>,
        mode: Mode,
        f: impl FnOnce(&mut Self::Conn<'_>) -> Result<T>,
    ) -> Result<T>;
}
