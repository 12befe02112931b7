//! The shared entry point of `bulkhead-sql` on this adapter's pool: [`SqlPool::run`] enters
//! the call's [`Access`] the way the pool's own `read_*`/`write_*` methods do (the guard's
//! workspace, organization or system mode), and [`Conn`] runs a shared statement's SQLite
//! text through the guard's statement mark, like every other statement of the crate.

use bulkhead_core::{ConnectionId, OrgId, Result, Schedule, Timestamp, WorkspaceId};
use bulkhead_sql::{Access, Mode, Param, Sql, SqlConn, SqlPool};
use rusqlite::ToSql;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};

use crate::Ctx;
use crate::guard::Db;
use crate::pool::Pool;
use crate::rows::Cols;

/// A guarded connection inside one call, as the shared code sees it.
pub(crate) struct Conn<'a>(pub(crate) &'a Db<'a>);

/// A [`Param`] as rusqlite binds it: UUIDs as 16-byte BLOBs, as `rusqlite`'s `uuid` feature
/// stores them.
struct Bind<'p>(&'p Param<'p>);

impl ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Param::Uuid(id) => ToSqlOutput::Borrowed(ValueRef::Blob(id.as_bytes())),
            Param::Int(n) => ToSqlOutput::Owned(Value::Integer(*n)),
            Param::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Param::Bytes(bytes) => ToSqlOutput::Borrowed(ValueRef::Blob(bytes)),
            Param::Bool(b) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
            Param::Null => ToSqlOutput::Owned(Value::Null),
        })
    }
}

fn bind<'p>(params: &'p [Param<'p>]) -> impl rusqlite::Params + 'p {
    rusqlite::params_from_iter(params.iter().map(Bind))
}

impl SqlConn for Conn<'_> {
    type Row<'r> = Cols<'r, 'r>;

    fn execute(&mut self, sql: &Sql, params: &[Param<'_>]) -> Result<u64> {
        let changed = self
            .0
            .prepare_cached(sql.sqlite)
            .ctx("could not prepare a statement")?
            .execute(bind(params))
            .ctx("statement failed")?;
        Ok(u64::try_from(changed).unwrap_or(u64::MAX))
    }

    fn query_first<T>(
        &mut self,
        sql: &Sql,
        params: &[Param<'_>],
        decode: impl Fn(&Self::Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        self.0
            .query_first(sql.sqlite, bind(params), |row| decode(&Cols(row)))
    }

    fn query_all<T>(
        &mut self,
        sql: &Sql,
        params: &[Param<'_>],
        decode: impl Fn(&Self::Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.0
            .query_all(sql.sqlite, bind(params), |row| decode(&Cols(row)))
    }

    fn lock_audit_chain(&mut self, _org: OrgId) -> Result<()> {
        // The call holds the one writer connection: appends are serialized already.
        Ok(())
    }

    fn schedule_connection(
        &mut self,
        tenant: (OrgId, WorkspaceId),
        id: ConnectionId,
        schedule: &Schedule,
        active: bool,
        now: Timestamp,
    ) -> Result<()> {
        crate::schedules::schedule_connection(self.0, tenant, id, schedule, active, now)
    }

    fn unschedule_workspace(&mut self, _org: OrgId, workspace: WorkspaceId) -> Result<()> {
        crate::schedules::unschedule_workspace(self.0, workspace)
    }
}

impl SqlPool for Pool {
    type Conn<'c> = Conn<'c>;

    fn run<T>(
        &self,
        access: Access<'_>,
        mode: Mode,
        f: impl FnOnce(&mut Conn<'_>) -> Result<T>,
    ) -> Result<T> {
        let f = |db: &Db<'_>| f(&mut Conn(db));
        match (access, mode) {
            (Access::Tenant(tenant), Mode::Read) => self.read_tenant(tenant, f),
            (Access::TenantRow(tenant), Mode::Read) => self.read_tenant_row(tenant, f),
            (Access::Tenant(tenant) | Access::TenantRow(tenant), Mode::Write) => {
                self.write_tenant(tenant, f)
            }
            (Access::Org(org), Mode::Read) => self.read_org(org, f),
            (Access::Org(org), Mode::Write) => self.write_org(org, f),
            (Access::System(_), Mode::Read) => self.read_system(f),
            (Access::System(_), Mode::Write) => self.write_system(f),
        }
    }
}
