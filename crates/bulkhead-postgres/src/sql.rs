//! The shared entry point of `bulkhead-sql` on this adapter's pool: [`SqlPool::run`] maps the
//! call's [`Access`] to the transaction-local settings the row policies read ([`Scope`]) and
//! its [`Mode`] to `BEGIN READ ONLY` or `BEGIN`, and goes through [`Pool::read`] or
//! [`Pool::write`], so the first statement still goes out with `BEGIN` and the settings in
//! one round trip. [`Tx`] runs a shared statement's PostgreSQL text.

use bulkhead_core::{ConnectionId, OrgId, Result, Schedule, Timestamp, WorkspaceId};
use bulkhead_sql::{Access, Mode, Param, Sql, SqlConn, SqlPool, SystemCall};
use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type};

use crate::pool::{Pool, Scope, Tx};
use crate::rows::Cols;

/// A [`Param`] as the driver binds it; each variant is checked against the column's type as
/// the value itself would be, and `NULL` fits any column.
#[derive(Debug)]
struct Bind<'p>(&'p Param<'p>);

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Bind<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match *self.0 {
            Param::Uuid(id) => id.to_sql(ty, out),
            Param::Int(n) => n.to_sql(ty, out),
            Param::Text(text) => text.to_sql(ty, out),
            Param::Bytes(bytes) => bytes.to_sql(ty, out),
            Param::Bool(b) => b.to_sql(ty, out),
            Param::Null => Ok(IsNull::Yes),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn to_sql_checked(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match *self.0 {
            Param::Uuid(id) => id.to_sql_checked(ty, out),
            Param::Int(n) => n.to_sql_checked(ty, out),
            Param::Text(text) => text.to_sql_checked(ty, out),
            Param::Bytes(bytes) => bytes.to_sql_checked(ty, out),
            Param::Bool(b) => b.to_sql_checked(ty, out),
            Param::Null => Ok(IsNull::Yes),
        }
    }
}

/// Runs `f` with `params` as the driver's parameter list.
fn with_params<T>(
    params: &[Param<'_>],
    f: impl FnOnce(&[&(dyn ToSql + Sync)]) -> Result<T>,
) -> Result<T> {
    let bound: Vec<Bind<'_>> = params.iter().map(Bind).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b as &(dyn ToSql + Sync)).collect();
    f(&refs)
}

impl SqlConn for Tx<'_> {
    type Row<'r> = Cols<'r>;

    fn execute(&mut self, sql: &Sql, params: &[Param<'_>]) -> Result<u64> {
        with_params(params, |params| Tx::execute(self, sql.postgres, params))
    }

    fn query_first<T>(
        &mut self,
        sql: &Sql,
        params: &[Param<'_>],
        decode: impl Fn(&Cols<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        with_params(params, |params| {
            Tx::query_first(self, sql.postgres, params, |row| decode(&Cols(row)))
        })
    }

    fn query_all<T>(
        &mut self,
        sql: &Sql,
        params: &[Param<'_>],
        decode: impl Fn(&Cols<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        with_params(params, |params| {
            Tx::query_all(self, sql.postgres, params, |row| decode(&Cols(row)))
        })
    }

    fn lock_audit_chain(&mut self, org: OrgId) -> Result<()> {
        crate::audit::lock_chain(self, org)
    }

    fn schedule_connection(
        &mut self,
        tenant: (OrgId, WorkspaceId),
        id: ConnectionId,
        schedule: &Schedule,
        active: bool,
        now: Timestamp,
    ) -> Result<()> {
        crate::schedules::schedule_connection(self, tenant, id, schedule, active, now)
    }

    fn unschedule_workspace(&mut self, org: OrgId, workspace: WorkspaceId) -> Result<()> {
        // Inside the workspace for its rows, then back in the organization.
        self.set_scope(Scope::Workspace(org, workspace))?;
        crate::schedules::unschedule_workspace(self, workspace)?;
        self.set_scope(Scope::Org(org))
    }
}

/// `bytes` in lower-case hexadecimal, as the policy on `org_keys` compares the hash.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

impl SqlPool for Pool {
    type Conn<'c> = Tx<'c>;

    fn run<T>(
        &self,
        access: Access<'_>,
        mode: Mode,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        let hash_hex;
        let scope = match access {
            Access::Tenant(tenant) | Access::TenantRow(tenant) => Scope::tenant(tenant),
            Access::Org(org) => Scope::Org(org),
            Access::System(SystemCall::Meta) => Scope::None,
            Access::System(SystemCall::OrgList) => Scope::OperatorList,
            Access::System(SystemCall::KeyHash(hash)) => {
                hash_hex = hex(hash);
                Scope::KeyHash(&hash_hex)
            }
            Access::System(SystemCall::KeyId(id)) => Scope::KeyId(id),
            Access::System(SystemCall::Kid(kid)) => Scope::Kid(kid),
        };
        match mode {
            Mode::Read => self.read(scope, f),
            Mode::Write => self.write(scope, f),
        }
    }
}
