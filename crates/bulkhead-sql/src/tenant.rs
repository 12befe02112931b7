//! The port's [`TenantStore`](bulkhead_core::store::TenantStore), written once for both
//! adapters over [`SqlPool`]: each function is one method's body, and
//! [`tenant_store!`](crate::tenant_store) implements the trait for an adapter's store by
//! calling them on its pool.
//!
//! Every call runs inside the tenant ([`Access::Tenant`], or [`Access::TenantRow`] for the
//! reads of its own workspace row), so the adapter's database layer holds it to the tenant's
//! rows as well as the `workspace_id = ?1` predicates of the statements.

use bulkhead_core::store::{
    EndpointKind, EndpointPatch, EndpointRow, Keyset, Pipeline, SyncFinish, TokenState,
    WorkspaceActivity,
};
use bulkhead_core::{
    Connection, ConnectionId, ConnectionStatus, ConnectionUpdate, DestinationId, Error, ObjectKind,
    Result, StorageError, SyncRun, SyncRunId, Tenant, Timestamp, Workspace,
};
use uuid::Uuid;

use crate::audit;
use crate::columns::{self, Columns, sql_count};
use crate::statements::{self as st, endpoint};
use crate::{Access, Mode, Param, Sql, SqlConn, SqlPool};

/// Implements `TenantStore` for the adapter store `$store` by the functions of this module on
/// its pool, the field `$pool` (a [`SqlPool`]).
#[macro_export]
macro_rules! tenant_store {
    ($store:ty, $pool:ident) => {
        const _: () = {
            use $crate::__core::store::{
                EndpointKind, EndpointPatch, EndpointRow, Keyset, Pipeline, SyncFinish,
                TenantStore, TokenState, WorkspaceActivity,
            };
            use $crate::__core::{
                Connection, ConnectionId, ConnectionUpdate, Result, SyncRun, SyncRunId, Tenant,
                Timestamp, Workspace,
            };
            use $crate::__uuid::Uuid;
            use $crate::tenant as body;

            impl TenantStore for $store {
                fn load_workspace(&self, tenant: &Tenant) -> Result<Option<Workspace>> {
                    body::load_workspace(&self.$pool, tenant)
                }
                fn load_token_state(
                    &self,
                    tenant: &Tenant,
                    jti: &str,
                    kid: &str,
                ) -> Result<Option<TokenState>> {
                    body::load_token_state(&self.$pool, tenant, jti, kid)
                }
                fn revoke_token(
                    &self,
                    tenant: &Tenant,
                    jti: &str,
                    expires_at: Timestamp,
                    now: Timestamp,
                ) -> Result<()> {
                    body::revoke_token(&self.$pool, tenant, jti, expires_at, now)
                }
                fn workspace_data_key(
                    &self,
                    tenant: &Tenant,
                    make: &dyn Fn() -> Result<Vec<u8>>,
                ) -> Result<Option<Vec<u8>>> {
                    body::workspace_data_key(&self.$pool, tenant, make)
                }
                fn insert_source_with_pipelines(
                    &self,
                    tenant: &Tenant,
                    source: &EndpointRow,
                    pipelines: &[Pipeline],
                    check: &dyn Fn(&[Pipeline]) -> Result<()>,
                ) -> Result<Vec<Pipeline>> {
                    body::insert_source_with_pipelines(
                        &self.$pool,
                        tenant,
                        source,
                        pipelines,
                        check,
                    )
                }
                fn insert_endpoint(&self, tenant: &Tenant, row: &EndpointRow) -> Result<()> {
                    body::insert_endpoint(&self.$pool, tenant, row)
                }
                fn get_endpoint(
                    &self,
                    tenant: &Tenant,
                    kind: EndpointKind,
                    id: Uuid,
                ) -> Result<Option<EndpointRow>> {
                    body::get_endpoint(&self.$pool, tenant, kind, id)
                }
                fn list_endpoints(
                    &self,
                    tenant: &Tenant,
                    kind: EndpointKind,
                    after: Option<Keyset>,
                    limit: usize,
                ) -> Result<Vec<EndpointRow<()>>> {
                    body::list_endpoints(&self.$pool, tenant, kind, after, limit)
                }
                fn list_sealed_endpoints(
                    &self,
                    tenant: &Tenant,
                    kind: EndpointKind,
                    after: Option<Keyset>,
                    limit: usize,
                ) -> Result<Vec<EndpointRow>> {
                    body::list_sealed_endpoints(&self.$pool, tenant, kind, after, limit)
                }
                fn update_endpoint(
                    &self,
                    tenant: &Tenant,
                    kind: EndpointKind,
                    id: Uuid,
                    patch: &EndpointPatch,
                    now: Timestamp,
                ) -> Result<Option<EndpointRow>> {
                    body::update_endpoint(&self.$pool, tenant, kind, id, patch, now)
                }
                fn delete_endpoint(
                    &self,
                    tenant: &Tenant,
                    kind: EndpointKind,
                    id: Uuid,
                ) -> Result<bool> {
                    body::delete_endpoint(&self.$pool, tenant, kind, id)
                }
                fn insert_connection(&self, tenant: &Tenant, row: &Connection) -> Result<()> {
                    body::insert_connection(&self.$pool, tenant, row)
                }
                fn get_connection(
                    &self,
                    tenant: &Tenant,
                    id: ConnectionId,
                ) -> Result<Option<Connection>> {
                    body::get_connection(&self.$pool, tenant, id)
                }
                fn list_connections(
                    &self,
                    tenant: &Tenant,
                    after: Option<Keyset>,
                    limit: usize,
                ) -> Result<Vec<Connection>> {
                    body::list_connections(&self.$pool, tenant, after, limit)
                }
                fn update_connection(
                    &self,
                    tenant: &Tenant,
                    id: ConnectionId,
                    update: &ConnectionUpdate,
                    now: Timestamp,
                ) -> Result<Option<Connection>> {
                    body::update_connection(&self.$pool, tenant, id, update, now)
                }
                fn delete_connection(&self, tenant: &Tenant, id: ConnectionId) -> Result<bool> {
                    body::delete_connection(&self.$pool, tenant, id)
                }
                fn insert_sync_run(&self, tenant: &Tenant, row: &SyncRun) -> Result<()> {
                    body::insert_sync_run(&self.$pool, tenant, row)
                }
                fn get_sync_run(&self, tenant: &Tenant, id: SyncRunId) -> Result<Option<SyncRun>> {
                    body::get_sync_run(&self.$pool, tenant, id)
                }
                fn list_sync_runs(
                    &self,
                    tenant: &Tenant,
                    connection: ConnectionId,
                    before: Option<Keyset>,
                    limit: usize,
                ) -> Result<Vec<SyncRun>> {
                    body::list_sync_runs(&self.$pool, tenant, connection, before, limit)
                }
                fn workspace_activity(
                    &self,
                    tenant: &Tenant,
                    since: Timestamp,
                ) -> Result<WorkspaceActivity> {
                    body::workspace_activity(&self.$pool, tenant, since)
                }
                fn finish_sync_run(
                    &self,
                    tenant: &Tenant,
                    id: SyncRunId,
                    finish: &SyncFinish,
                ) -> Result<Option<SyncRun>> {
                    body::finish_sync_run(&self.$pool, tenant, id, finish)
                }
            }
        };
    };
}

/// A row count as a database's 64-bit integer.
fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The tenant's workspace id, the first parameter of every tenant statement.
fn ws(tenant: &Tenant) -> Param<'_> {
    Param::Uuid(*tenant.workspace_id().as_uuid())
}

/// See `TenantStore::load_workspace`.
pub fn load_workspace<P: SqlPool>(pool: &P, tenant: &Tenant) -> Result<Option<Workspace>> {
    pool.run(Access::TenantRow(tenant), Mode::Read, |conn| {
        conn.query_first(
            &st::LOAD_WORKSPACE,
            &[ws(tenant), tenant.org_id().as_uuid().into()],
            |r| columns::workspace(r),
        )
    })
}

/// See `TenantStore::load_token_state`.
pub fn load_token_state<P: SqlPool>(
    pool: &P,
    tenant: &Tenant,
    jti: &str,
    kid: &str,
) -> Result<Option<TokenState>> {
    pool.run(Access::TenantRow(tenant), Mode::Read, |conn| {
        conn.query_first(
            &st::LOAD_TOKEN_STATE,
            &[
                ws(tenant),
                tenant.org_id().as_uuid().into(),
                jti.into(),
                kid.into(),
            ],
            |r| columns::token_state(r),
        )
    })
}

/// See `TenantStore::revoke_token`.
pub fn revoke_token<P: SqlPool>(
    pool: &P,
    tenant: &Tenant,
    jti: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> Result<()> {
    pool.run(Access::Tenant(tenant), Mode::Write, |conn| {
        conn.execute(
            &st::REVOKE_TOKEN,
            &[
                ws(tenant),
                jti.into(),
                tenant.org_id().as_uuid().into(),
                expires_at.unix_millis().into(),
            ],
        )?;
        conn.execute(
            &st::PRUNE_REVOKED_TOKENS,
            &[ws(tenant), now.unix_millis().into()],
        )?;
        audit::append_if(conn, tenant.org_id(), tenant.audit())
    })
}

/// See `TenantStore::workspace_data_key`.
pub fn workspace_data_key<P: SqlPool>(
    pool: &P,
    tenant: &Tenant,
    make: &dyn Fn() -> Result<Vec<u8>>,
) -> Result<Option<Vec<u8>>> {
    let org = tenant.org_id();
    let stored = pool.run(Access::TenantRow(tenant), Mode::Read, |conn| {
        conn.query_first(
            &st::GET_DATA_KEY,
            &[ws(tenant), org.as_uuid().into()],
            |r| r.opt_bytes(0, "sealed_dek"),
        )
    })?;
    match stored {
        None => Ok(None),
        Some(Some(sealed)) => Ok(Some(sealed)),
        Some(None) => {
            let candidate = make()?;
            // Concurrent callers serialize on the row; the later one keeps the first key.
            pool.run(Access::TenantRow(tenant), Mode::Write, |conn| {
                conn.query_first(
                    &st::SET_DATA_KEY,
                    &[
                        ws(tenant),
                        org.as_uuid().into(),
                        candidate.as_slice().into(),
                    ],
                    |r| r.bytes(0, "sealed_dek"),
                )
            })
        }
    }
}

/// Stores an endpoint row of the tenant, in the caller's transaction.
pub fn insert_endpoint_in<C: SqlConn>(
    conn: &mut C,
    tenant: &Tenant,
    row: &EndpointRow,
) -> Result<()> {
    write_endpoint(conn, &endpoint(row.kind).insert, tenant, row)?;
    Ok(())
}

/// Runs `sql` with an endpoint row's ten parameters, in [`endpoint_columns!`] order.
fn write_endpoint<C: SqlConn>(
    conn: &mut C,
    sql: &crate::Sql,
    tenant: &Tenant,
    row: &EndpointRow,
) -> Result<u64> {
    let config = row.config.to_json();
    let secrets = row.secrets.to_stored();
    conn.execute(
        sql,
        &[
            (&row.id).into(),
            tenant.org_id().as_uuid().into(),
            ws(tenant),
            row.name.as_str().into(),
            row.connector.as_str().into(),
            config.as_str().into(),
            row.created_at.unix_millis().into(),
            row.updated_at.unix_millis().into(),
            row.template_id.as_ref().into(),
            secrets.as_str().into(),
        ],
    )
}

/// See `TenantStore::insert_endpoint`.
pub fn insert_endpoint<P: SqlPool>(pool: &P, tenant: &Tenant, row: &EndpointRow) -> Result<()> {
    pool.run(Access::Tenant(tenant), Mode::Write, |conn| {
        insert_endpoint_in(conn, tenant, row)?;
        audit::append_if(conn, tenant.org_id(), tenant.audit())
    })
}

/// See `TenantStore::insert_source_with_pipelines`.
pub fn insert_source_with_pipelines<P: SqlPool>(
    pool: &P,
    tenant: &Tenant,
    source: &EndpointRow,
    pipelines: &[Pipeline],
    check: &dyn Fn(&[Pipeline]) -> Result<()>,
) -> Result<Vec<Pipeline>> {
    pool.run(Access::Tenant(tenant), Mode::Write, |conn| {
        insert_endpoint_in(conn, tenant, source)?;
        let mut made = Vec::with_capacity(pipelines.len());
        for Pipeline {
            destination,
            connection,
        } in pipelines
        {
            let Some(template) = destination.template_id else {
                return Err(Error::conflict(
                    "a pipeline destination needs its template id",
                ));
            };
            write_endpoint(conn, &st::INSERT_PIPELINE_DESTINATION, tenant, destination)?;
            let stored = conn
                .query_first(
                    &st::GET_TEMPLATE_DESTINATION,
                    &[ws(tenant), (&template).into()],
                    |r| columns::endpoint(EndpointKind::Destination, r),
                )?
                .ok_or_else(|| Error::not_found(ObjectKind::Destination, template))?;
            let connection = Connection {
                destination_id: DestinationId::from_uuid(stored.id)?,
                ..connection.clone()
            };
            insert_connection_in(conn, tenant, &connection, false, connection.created_at)?;
            made.push(Pipeline {
                destination: stored,
                connection,
            });
        }
        check(&made)?;
        audit::append_if(conn, tenant.org_id(), tenant.audit())?;
        Ok(made)
    })
}

/// See `TenantStore::get_endpoint`.
pub fn get_endpoint<P: SqlPool>(
    pool: &P,
    tenant: &Tenant,
    kind: EndpointKind,
    id: Uuid,
) -> Result<Option<EndpointRow>> {
    pool.run(Access::Tenant(tenant), Mode::Read, |conn| {
        conn.query_first(&endpoint(kind).get, &[ws(tenant), (&id).into()], |r| {
            columns::endpoint(kind, r)
        })
    })
}

/// See `TenantStore::list_endpoints`.
pub fn list_endpoints<P: SqlPool>(
    pool: &P,
    tenant: &Tenant,
    kind: EndpointKind,
    after: Option<Keyset>,
    limit_rows: usize,
) -> Result<Vec<EndpointRow<()>>> {
    let sql = endpoint(kind);
    pool.run(Access::Tenant(tenant), Mode::Read, |conn| {
        keyset_page(
            conn,
            (&sql.list_first, &sql.list_after),
            &[ws(tenant)],
            after,
            limit_rows,
            |r| columns::listed_endpoint(kind, r),
        )
    })
}

/// See `TenantStore::list_sealed_endpoints`.
pub fn list_sealed_endpoints<P: SqlPool>(
    pool: &P,
    tenant: &Tenant,
    kind: EndpointKind,
    after: Option<Keyset>,
    limit_rows: usize,
) -> Result<Vec<EndpointRow>> {
    let sql = endpoint(kind);
    pool.run(Access::Tenant(tenant), Mode::Read, |conn| {
        keyset_page(
            conn,
            (&sql.sealed_first, &sql.sealed_after),
            &[ws(tenant)],
            after,
            limit_rows,
            |r| columns::endpoint(kind, r),
        )
    })
}

/// One page of a listing in keyset order: `first` when there is no position, else `next`
/// with the position's time and id bound after `keys` (the statement's leading parameters);
/// the limit is bound last in both.
fn keyset_page<C: SqlConn, T>(
    conn: &mut C,
    (first, next): (&Sql, &Sql),
    keys: &[Param<'_>],
    position: Option<Keyset>,
    limit_rows: usize,
    decode: impl Fn(&C::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut params = keys.to_vec();
    let sql = match position {
        None => first,
        Some(Keyset { at, id }) => {
            params.extend([Param::from(at.unix_millis()), Param::from(&id)]);
            next
        }
    };
    params.push(limit(limit_rows).into());
    conn.query_all(sql, &params, decode)
}

/// See `TenantStore::update_endpoint`.
pub fn update_endpoint<P: SqlPool>(
    pool: &P,
    tenant: &Tenant,
    kind: EndpointKind,
    id: Uuid,
    patch: &EndpointPatch,
    now: Timestamp,
) -> Result<Option<EndpointRow>> {
    let config = patch.config.as_ref().map(|(c, _)| c.to_json());
    let secrets = patch.config.as_ref().map(|(_, s)| s.to_stored());
    pool.run(Access::Tenant(tenant), Mode::Write, |conn| {
        let updated = conn.query_first(
            &endpoint(kind).update,
            &[
                ws(tenant),
                (&id).into(),
                patch.name.as_ref().map(|n| n.as_str()).into(),
                config.as_deref().into(),
                secrets.as_deref().into(),
                now.unix_millis().into(),
            ],
            |r| columns::endpoint(kind, r),
        )?;
        if updated.is_some() {
            audit::append_if(conn, tenant.org_id(), tenant.audit())?;
        }
        Ok(updated)
    })
}

/// See `TenantStore::delete_endpoint`.
pub fn delete_endpoint<P: SqlPool>(
    pool: &P,
    tenant: &Tenant,
    kind: EndpointKind,
    id: Uuid,
) -> Result<bool> {
    let sql = endpoint(kind);
    pool.run(Access::Tenant(tenant), Mode::Write, |conn| {
        let users = conn
            .query_first(&sql.in_use, &[ws(tenant), (&id).into()], |r| {
                r.int(0, "count")
            })?
            .unwrap_or(0);
        if users > 0 {
            let kind = kind.object_kind();
            return Err(Error::conflict(format!(
                "{kind} `{id}` is used by {users} connection(s); delete them first"
            )));
        }
        let deleted = conn.execute(&sql.delete, &[ws(tenant), (&id).into()])?;
        if deleted > 0 {
            audit::append_if(conn, tenant.org_id(), tenant.audit())?;
        }
        Ok(deleted > 0)
    })
}

/// Checks that `id` names a row inside the tenant (`sql` selects it by workspace and id),
/// inside the caller's transaction.
fn exists_in_tenant<C: SqlConn>(
    conn: &mut C,
    sql: &crate::Sql,
    tenant: &Tenant,
    id: &Uuid,
    kind: ObjectKind,
) -> Result<()> {
    conn.query_first(sql, &[ws(tenant), id.into()], |_| Ok(()))?
        .ok_or_else(|| Error::not_found(kind, id))
}

/// Stores a connection of the tenant and its due time, in the caller's transaction; its
/// source and destination are looked up inside the tenant (another workspace's are simply not
/// found).
pub fn insert_connection_in<C: SqlConn>(
    conn: &mut C,
    tenant: &Tenant,
    row: &Connection,
    paused_by_workspace: bool,
    now: Timestamp,
) -> Result<()> {
    let source = row.source_id.as_uuid();
    exists_in_tenant(
        conn,
        &st::SOURCES.exists,
        tenant,
        source,
        ObjectKind::Source,
    )?;
    let destination = row.destination_id.as_uuid();
    exists_in_tenant(
        conn,
        &st::DESTINATIONS.exists,
        tenant,
        destination,
        ObjectKind::Destination,
    )?;
    conn.execute(
        &st::INSERT_CONNECTION,
        &[
            row.id.as_uuid().into(),
            tenant.org_id().as_uuid().into(),
            ws(tenant),
            row.name.as_str().into(),
            source.into(),
            destination.into(),
            row.status.as_str().into(),
            row.schedule.as_text().into(),
            row.created_at.unix_millis().into(),
            row.updated_at.unix_millis().into(),
            paused_by_workspace.into(),
        ],
    )?;
    conn.schedule_connection(
        (tenant.org_id(), tenant.workspace_id()),
        row.id,
        &row.schedule,
        row.status == ConnectionStatus::Active,
        now,
    )
}

/// See `TenantStore::insert_connection`.
pub fn insert_connection<P: SqlPool>(pool: &P, tenant: &Tenant, row: &Connection) -> Result<()> {
    pool.run(Access::Tenant(tenant), Mode::Write, |conn| {
        insert_connection_in(conn, tenant, row, false, row.created_at)?;
        audit::append_if(conn, tenant.org_id(), tenant.audit())
    })
}

/// See `TenantStore::get_connection`.
pub fn get_connection<P: SqlPool>(
    pool: &P,
    tenant: &Tenant,
    id: ConnectionId,
) -> Result<Option<Connection>> {
    pool.run(Access::Tenant(tenant), Mode::Read, |conn| {
        conn.query_first(
            &st::GET_CONNECTION,
            &[ws(tenant), id.as_uuid().into()],
            |r| columns::connection(r),
        )
    })
}

/// See `TenantStore::list_connections`.
pub fn list_connections<P: SqlPool>(
    pool: &P,
    tenant: &Tenant,
    after: Option<Keyset>,
    limit_rows: usize,
) -> Result<Vec<Connection>> {
    pool.run(Access::Tenant(tenant), Mode::Read, |conn| {
        keyset_page(
            conn,
            (&st::LIST_CONNECTIONS_FIRST, &st::LIST_CONNECTIONS_AFTER),
            &[ws(tenant)],
            after,
            limit_rows,
            |r| columns::connection(r),
        )
    })
}

/// See `TenantStore::update_connection`.
pub fn update_connection<P: SqlPool>(
    pool: &P,
    tenant: &Tenant,
    id: ConnectionId,
    update: &ConnectionUpdate,
    now: Timestamp,
) -> Result<Option<Connection>> {
    pool.run(Access::Tenant(tenant), Mode::Write, |conn| {
        let updated = conn.query_first(
            &st::UPDATE_CONNECTION,
            &[
                ws(tenant),
                id.as_uuid().into(),
                update.name.as_ref().map(|n| n.as_str()).into(),
                update.status.map(|s| s.as_str()).into(),
                update.schedule.as_ref().map(|s| s.as_text()).into(),
                now.unix_millis().into(),
            ],
            |r| columns::connection(r),
        )?;
        if let Some(row) = &updated {
            // A new schedule or status sets the due time again; a rename keeps it.
            if update.schedule.is_some() || update.status.is_some() {
                conn.schedule_connection(
                    (tenant.org_id(), tenant.workspace_id()),
                    row.id,
                    &row.schedule,
                    row.status == ConnectionStatus::Active,
                    now,
                )?;
            }
            audit::append_if(conn, tenant.org_id(), tenant.audit())?;
        }
        Ok(updated)
    })
}

/// See `TenantStore::delete_connection`.
pub fn delete_connection<P: SqlPool>(pool: &P, tenant: &Tenant, id: ConnectionId) -> Result<bool> {
    pool.run(Access::Tenant(tenant), Mode::Write, |conn| {
        let params = [ws(tenant), id.as_uuid().into()];
        conn.execute(&st::DELETE_CONNECTION_RUNS, &params)?;
        let deleted = conn.execute(&st::DELETE_CONNECTION, &params)?;
        if deleted > 0 {
            audit::append_if(conn, tenant.org_id(), tenant.audit())?;
        }
        Ok(deleted > 0)
    })
}

/// Stores `row`; `false` (nothing stored) if it is live (pending or running) and its
/// connection already has a live run. The unique index `sync_runs_one_live` decides, inside
/// the write. In the caller's transaction; the caller has checked the connection.
pub fn insert_sync_run_row<C: SqlConn>(
    conn: &mut C,
    tenant: &Tenant,
    row: &SyncRun,
) -> Result<bool> {
    let inserted = conn.execute(
        &st::INSERT_SYNC_RUN,
        &[
            row.id.as_uuid().into(),
            tenant.org_id().as_uuid().into(),
            ws(tenant),
            row.connection_id.as_uuid().into(),
            row.status.as_str().into(),
            row.started_at.unix_millis().into(),
            row.finished_at.map(Timestamp::unix_millis).into(),
            sql_count(row.rows_synced).into(),
            sql_count(row.bytes_synced).into(),
            row.error.as_deref().into(),
        ],
    )?;
    Ok(inserted == 1)
}

/// See `TenantStore::insert_sync_run`.
pub fn insert_sync_run<P: SqlPool>(pool: &P, tenant: &Tenant, row: &SyncRun) -> Result<()> {
    pool.run(Access::Tenant(tenant), Mode::Write, |conn| {
        let connection = row.connection_id.as_uuid();
        exists_in_tenant(
            conn,
            &st::CONNECTION_EXISTS,
            tenant,
            connection,
            ObjectKind::Connection,
        )?;
        if !insert_sync_run_row(conn, tenant, row)? {
            return Err(Error::SyncAlreadyRunning {
                connection_id: row.connection_id,
            });
        }
        audit::append_if(conn, tenant.org_id(), tenant.audit())
    })
}

/// See `TenantStore::get_sync_run`.
pub fn get_sync_run<P: SqlPool>(
    pool: &P,
    tenant: &Tenant,
    id: SyncRunId,
) -> Result<Option<SyncRun>> {
    pool.run(Access::Tenant(tenant), Mode::Read, |conn| {
        conn.query_first(&st::GET_SYNC_RUN, &[ws(tenant), id.as_uuid().into()], |r| {
            columns::sync_run(r)
        })
    })
}

/// See `TenantStore::list_sync_runs`.
pub fn list_sync_runs<P: SqlPool>(
    pool: &P,
    tenant: &Tenant,
    connection: ConnectionId,
    before: Option<Keyset>,
    limit_rows: usize,
) -> Result<Vec<SyncRun>> {
    pool.run(Access::Tenant(tenant), Mode::Read, |conn| {
        keyset_page(
            conn,
            (&st::LIST_SYNC_RUNS_FIRST, &st::LIST_SYNC_RUNS_BEFORE),
            &[ws(tenant), connection.as_uuid().into()],
            before,
            limit_rows,
            |r| columns::sync_run(r),
        )
    })
}

/// See `TenantStore::workspace_activity`. Every read goes through the tenant (the SQLite
/// guard's views, PostgreSQL's policies): the dashboard reads one workspace at a time rather
/// than aggregating tenant tables across the organization.
pub fn workspace_activity<P: SqlPool>(
    pool: &P,
    tenant: &Tenant,
    since: Timestamp,
) -> Result<WorkspaceActivity> {
    pool.run(Access::Tenant(tenant), Mode::Read, |conn| {
        let sources = conn
            .query_first(&st::COUNT_SOURCES, &[ws(tenant)], |r| r.int(0, "count"))?
            .unwrap_or(0);
        let connections = conn.query_all(&st::LIST_ALL_CONNECTIONS, &[ws(tenant)], |r| {
            columns::connection(r)
        })?;
        let latest_runs = conn.query_all(&st::LATEST_SYNC_RUNS, &[ws(tenant)], |r| {
            columns::sync_run(r)
        })?;
        let (rows_synced, bytes_synced, rows_since, bytes_since) = conn
            .query_first(
                &st::SYNC_TOTALS,
                &[ws(tenant), since.unix_millis().into()],
                |r| {
                    Ok((
                        r.int(0, "rows_synced")?,
                        r.int(1, "bytes_synced")?,
                        r.int(2, "rows_since")?,
                        r.int(3, "bytes_since")?,
                    ))
                },
            )?
            .unwrap_or_default();
        let unsigned = |n: i64, what: &str| {
            u64::try_from(n).map_err(|_| Error::from(StorageError::new(format!("negative {what}"))))
        };
        Ok(WorkspaceActivity {
            sources: unsigned(sources, "source count")?,
            connections,
            latest_runs,
            rows_synced: unsigned(rows_synced, "row total")?,
            bytes_synced: unsigned(bytes_synced, "byte total")?,
            rows_since: unsigned(rows_since, "row total")?,
            bytes_since: unsigned(bytes_since, "byte total")?,
        })
    })
}

/// See `TenantStore::finish_sync_run`.
pub fn finish_sync_run<P: SqlPool>(
    pool: &P,
    tenant: &Tenant,
    id: SyncRunId,
    finish: &SyncFinish,
) -> Result<Option<SyncRun>> {
    pool.run(Access::Tenant(tenant), Mode::Write, |conn| {
        let finished = conn.query_first(
            &st::FINISH_SYNC_RUN,
            &[
                ws(tenant),
                id.as_uuid().into(),
                finish.status.as_str().into(),
                finish.finished_at.unix_millis().into(),
                sql_count(finish.rows_synced).into(),
                sql_count(finish.bytes_synced).into(),
                finish.error.as_deref().into(),
            ],
            |r| columns::sync_run(r),
        )?;
        if finished.is_some() {
            audit::append_if(conn, tenant.org_id(), tenant.audit())?;
        }
        Ok(finished)
    })
}
