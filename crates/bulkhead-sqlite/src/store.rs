//! The storage port on SQLite. Every statement is a literal (cached once prepared); every
//! tenant statement filters on `workspace_id = ?1` (and the organization where the row has
//! no workspace), with the ids bound as parameters.

use bulkhead_core::store::{After, EndpointKind, EndpointRow, Store, SyncFinish};
use bulkhead_core::{
    Connection, ConnectionId, ConnectionUpdate, ConnectorUpdate, Error, ExternalId, ObjectKind,
    OrgCtx, OrgId, Organization, Result, SyncRun, SyncRunId, Tenant, Timestamp, Workspace,
    WorkspaceFilter, WorkspaceId, WorkspaceUpdate,
};
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use crate::rows::{
    self, collect, connection_columns, endpoint_columns, first, org_columns, sql_count,
    sync_run_columns, workspace_columns,
};
use crate::{Ctx, SqliteStore};

/// The statements of one endpoint table (`sources` or `destinations`).
struct EndpointSql {
    insert: &'static str,
    get: &'static str,
    list_first: &'static str,
    list_after: &'static str,
    update: &'static str,
    in_use: &'static str,
    delete: &'static str,
}

macro_rules! endpoint_sql {
    ($table:literal, $reference:literal) => {
        EndpointSql {
            insert: concat!(
                "INSERT INTO ",
                $table,
                " (",
                endpoint_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ),
            get: concat!(
                "SELECT ",
                endpoint_columns!(),
                " FROM ",
                $table,
                " WHERE workspace_id = ?1 AND id = ?2"
            ),
            list_first: concat!(
                "SELECT ",
                endpoint_columns!(),
                " FROM ",
                $table,
                " WHERE workspace_id = ?1 ORDER BY created_at, id LIMIT ?2"
            ),
            list_after: concat!(
                "SELECT ",
                endpoint_columns!(),
                " FROM ",
                $table,
                " WHERE workspace_id = ?1 AND (created_at, id) > (?2, ?3)",
                " ORDER BY created_at, id LIMIT ?4"
            ),
            update: concat!(
                "UPDATE ",
                $table,
                " SET name = COALESCE(?3, name), config = COALESCE(?4, config), updated_at = ?5",
                " WHERE workspace_id = ?1 AND id = ?2 RETURNING ",
                endpoint_columns!()
            ),
            in_use: concat!(
                "SELECT count(*) FROM connections WHERE workspace_id = ?1 AND ",
                $reference,
                " = ?2"
            ),
            delete: concat!(
                "DELETE FROM ",
                $table,
                " WHERE workspace_id = ?1 AND id = ?2"
            ),
        }
    };
}

const SOURCES: EndpointSql = endpoint_sql!("sources", "source_id");
const DESTINATIONS: EndpointSql = endpoint_sql!("destinations", "destination_id");

fn endpoint_sql(kind: EndpointKind) -> &'static EndpointSql {
    match kind {
        EndpointKind::Source => &SOURCES,
        EndpointKind::Destination => &DESTINATIONS,
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Checks that `id` names a row of `table` inside the tenant, inside the caller's transaction.
fn exists_in_tenant(
    tx: &rusqlite::Transaction<'_>,
    sql: &'static str,
    tenant: &Tenant,
    id: &Uuid,
    kind: ObjectKind,
) -> Result<()> {
    let found = tx
        .prepare_cached(sql)
        .ctx("could not prepare a lookup")?
        .query_row(params![tenant.workspace_id().as_uuid(), id], |_| Ok(()))
        .optional()
        .ctx(format_args!("could not look up a {kind}"))?;
    found.ok_or_else(|| Error::not_found(kind, id))
}

impl Store for SqliteStore {
    fn insert_organization(&self, org: &Organization) -> Result<()> {
        self.pool.write(|tx| {
            tx.prepare_cached(concat!(
                "INSERT INTO organizations (",
                org_columns!(),
                ") VALUES (?1, ?2, ?3)"
            ))
            .ctx("could not prepare an insert")?
            .execute(params![
                org.id.as_uuid(),
                org.name.as_str(),
                org.created_at.unix_millis()
            ])
            .ctx("could not store the organization")?;
            Ok(())
        })
    }

    fn get_organization(&self, id: OrgId) -> Result<Option<Organization>> {
        self.pool.read(|conn| {
            let mut stmt = conn
                .prepare_cached(concat!(
                    "SELECT ",
                    org_columns!(),
                    " FROM organizations WHERE id = ?1"
                ))
                .ctx("could not prepare a query")?;
            first(&mut stmt, params![id.as_uuid()], rows::organization)
        })
    }

    fn list_organizations(&self) -> Result<Vec<Organization>> {
        self.pool.read(|conn| {
            let mut stmt = conn
                .prepare_cached(concat!(
                    "SELECT ",
                    org_columns!(),
                    " FROM organizations ORDER BY created_at, id"
                ))
                .ctx("could not prepare a query")?;
            collect(&mut stmt, [], rows::organization)
        })
    }

    fn get_or_create_workspace(
        &self,
        org: &OrgCtx,
        candidate: &Workspace,
    ) -> Result<(Workspace, bool)> {
        // Most calls are for customers that already exist: answer those from a reader without
        // taking the write lock.
        if let Some(existing) = self.find_workspace(org, &candidate.external_id)? {
            return Ok((existing, false));
        }
        self.pool.write(|tx| {
            let inserted = tx
                .prepare_cached(concat!(
                    "INSERT INTO workspaces (",
                    workspace_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    " ON CONFLICT (org_id, external_id) DO NOTHING"
                ))
                .ctx("could not prepare an insert")?
                .execute(params![
                    candidate.id.as_uuid(),
                    org.org_id().as_uuid(),
                    candidate.external_id.as_str(),
                    candidate.name.as_str(),
                    candidate.status.as_str(),
                    candidate.created_at.unix_millis(),
                    candidate.updated_at.unix_millis(),
                ])
                .ctx("could not store the workspace")?;
            let mut stmt = tx
                .prepare_cached(concat!(
                    "SELECT ",
                    workspace_columns!(),
                    " FROM workspaces WHERE org_id = ?1 AND external_id = ?2"
                ))
                .ctx("could not prepare a query")?;
            let workspace = first(
                &mut stmt,
                params![org.org_id().as_uuid(), candidate.external_id.as_str()],
                rows::workspace,
            )?
            .ok_or_else(|| Error::not_found(ObjectKind::Organization, org.org_id()))?;
            Ok((workspace, inserted == 1))
        })
    }

    fn get_workspace(&self, org: &OrgCtx, id: WorkspaceId) -> Result<Option<Workspace>> {
        self.pool.read(|conn| {
            let mut stmt = conn
                .prepare_cached(concat!(
                    "SELECT ",
                    workspace_columns!(),
                    " FROM workspaces WHERE org_id = ?1 AND id = ?2"
                ))
                .ctx("could not prepare a query")?;
            first(
                &mut stmt,
                params![org.org_id().as_uuid(), id.as_uuid()],
                rows::workspace,
            )
        })
    }

    fn find_workspace(&self, org: &OrgCtx, external_id: &ExternalId) -> Result<Option<Workspace>> {
        self.pool.read(|conn| {
            let mut stmt = conn
                .prepare_cached(concat!(
                    "SELECT ",
                    workspace_columns!(),
                    " FROM workspaces WHERE org_id = ?1 AND external_id = ?2"
                ))
                .ctx("could not prepare a query")?;
            first(
                &mut stmt,
                params![org.org_id().as_uuid(), external_id.as_str()],
                rows::workspace,
            )
        })
    }

    fn list_workspaces(
        &self,
        org: &OrgCtx,
        filter: &WorkspaceFilter,
        after: Option<&ExternalId>,
        limit_rows: usize,
    ) -> Result<Vec<Workspace>> {
        self.pool.read(|conn| {
            let mut stmt = conn
                .prepare_cached(concat!(
                    "SELECT ",
                    workspace_columns!(),
                    " FROM workspaces WHERE org_id = ?1",
                    " AND (?2 IS NULL OR external_id > ?2)",
                    " AND (?3 IS NULL OR status = ?3)",
                    " AND (?4 IS NULL OR substr(external_id, 1, length(?4)) = ?4)",
                    " ORDER BY external_id LIMIT ?5"
                ))
                .ctx("could not prepare a query")?;
            collect(
                &mut stmt,
                params![
                    org.org_id().as_uuid(),
                    after.map(ExternalId::as_str),
                    filter.status.map(|s| s.as_str()),
                    filter.external_id_prefix.as_deref(),
                    limit(limit_rows),
                ],
                rows::workspace,
            )
        })
    }

    fn update_workspace(
        &self,
        org: &OrgCtx,
        id: WorkspaceId,
        update: &WorkspaceUpdate,
        now: Timestamp,
    ) -> Result<Option<Workspace>> {
        self.pool.write(|tx| {
            let mut stmt = tx
                .prepare_cached(concat!(
                    "UPDATE workspaces SET name = COALESCE(?3, name),",
                    " status = COALESCE(?4, status), updated_at = ?5",
                    " WHERE org_id = ?1 AND id = ?2 RETURNING ",
                    workspace_columns!()
                ))
                .ctx("could not prepare an update")?;
            first(
                &mut stmt,
                params![
                    org.org_id().as_uuid(),
                    id.as_uuid(),
                    update.name.as_ref().map(|n| n.as_str()),
                    update.status.map(|s| s.as_str()),
                    now.unix_millis(),
                ],
                rows::workspace,
            )
        })
    }

    fn load_workspace(&self, tenant: &Tenant) -> Result<Option<Workspace>> {
        self.pool.read(|conn| {
            let mut stmt = conn
                .prepare_cached(concat!(
                    "SELECT ",
                    workspace_columns!(),
                    " FROM workspaces WHERE id = ?1 AND org_id = ?2"
                ))
                .ctx("could not prepare a query")?;
            first(
                &mut stmt,
                params![tenant.workspace_id().as_uuid(), tenant.org_id().as_uuid()],
                rows::workspace,
            )
        })
    }

    fn insert_endpoint(&self, tenant: &Tenant, row: &EndpointRow) -> Result<()> {
        let sql = endpoint_sql(row.kind);
        self.pool.write(|tx| {
            tx.prepare_cached(sql.insert)
                .ctx("could not prepare an insert")?
                .execute(params![
                    row.id,
                    tenant.org_id().as_uuid(),
                    tenant.workspace_id().as_uuid(),
                    row.name.as_str(),
                    row.connector.as_str(),
                    row.config.to_json(),
                    row.created_at.unix_millis(),
                    row.updated_at.unix_millis(),
                ])
                .ctx(format_args!(
                    "could not store the {}",
                    row.kind.object_kind()
                ))?;
            Ok(())
        })
    }

    fn get_endpoint(
        &self,
        tenant: &Tenant,
        kind: EndpointKind,
        id: Uuid,
    ) -> Result<Option<EndpointRow>> {
        self.pool.read(|conn| {
            let mut stmt = conn
                .prepare_cached(endpoint_sql(kind).get)
                .ctx("could not prepare a query")?;
            first(
                &mut stmt,
                params![tenant.workspace_id().as_uuid(), id],
                |r| rows::endpoint(kind, r),
            )
        })
    }

    fn list_endpoints(
        &self,
        tenant: &Tenant,
        kind: EndpointKind,
        after: After,
        limit_rows: usize,
    ) -> Result<Vec<EndpointRow>> {
        let sql = endpoint_sql(kind);
        let ws = tenant.workspace_id();
        self.pool.read(|conn| match after {
            None => {
                let mut stmt = conn
                    .prepare_cached(sql.list_first)
                    .ctx("could not prepare a query")?;
                collect(&mut stmt, params![ws.as_uuid(), limit(limit_rows)], |r| {
                    rows::endpoint(kind, r)
                })
            }
            Some((at, id)) => {
                let mut stmt = conn
                    .prepare_cached(sql.list_after)
                    .ctx("could not prepare a query")?;
                collect(
                    &mut stmt,
                    params![ws.as_uuid(), at.unix_millis(), id, limit(limit_rows)],
                    |r| rows::endpoint(kind, r),
                )
            }
        })
    }

    fn update_endpoint(
        &self,
        tenant: &Tenant,
        kind: EndpointKind,
        id: Uuid,
        update: &ConnectorUpdate,
        now: Timestamp,
    ) -> Result<Option<EndpointRow>> {
        self.pool.write(|tx| {
            let mut stmt = tx
                .prepare_cached(endpoint_sql(kind).update)
                .ctx("could not prepare an update")?;
            first(
                &mut stmt,
                params![
                    tenant.workspace_id().as_uuid(),
                    id,
                    update.name.as_ref().map(|n| n.as_str()),
                    update.config.as_ref().map(|c| c.to_json()),
                    now.unix_millis(),
                ],
                |r| rows::endpoint(kind, r),
            )
        })
    }

    fn delete_endpoint(&self, tenant: &Tenant, kind: EndpointKind, id: Uuid) -> Result<bool> {
        let sql = endpoint_sql(kind);
        let ws = tenant.workspace_id();
        self.pool.write(|tx| {
            let users: i64 = tx
                .prepare_cached(sql.in_use)
                .ctx("could not prepare a query")?
                .query_row(params![ws.as_uuid(), id], |r| r.get(0))
                .ctx("could not count connections")?;
            if users > 0 {
                let kind = kind.object_kind();
                return Err(Error::conflict(format!(
                    "{kind} `{id}` is used by {users} connection(s); delete them first"
                )));
            }
            let deleted = tx
                .prepare_cached(sql.delete)
                .ctx("could not prepare a delete")?
                .execute(params![ws.as_uuid(), id])
                .ctx("could not delete")?;
            Ok(deleted > 0)
        })
    }

    fn insert_connection(&self, tenant: &Tenant, row: &Connection) -> Result<()> {
        self.pool.write(|tx| {
            // Resolved inside the tenant: another workspace's id is simply not found.
            exists_in_tenant(
                tx,
                "SELECT 1 FROM sources WHERE workspace_id = ?1 AND id = ?2",
                tenant,
                row.source_id.as_uuid(),
                ObjectKind::Source,
            )?;
            exists_in_tenant(
                tx,
                "SELECT 1 FROM destinations WHERE workspace_id = ?1 AND id = ?2",
                tenant,
                row.destination_id.as_uuid(),
                ObjectKind::Destination,
            )?;
            tx.prepare_cached(concat!(
                "INSERT INTO connections (",
                connection_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ))
            .ctx("could not prepare an insert")?
            .execute(params![
                row.id.as_uuid(),
                tenant.org_id().as_uuid(),
                tenant.workspace_id().as_uuid(),
                row.name.as_str(),
                row.source_id.as_uuid(),
                row.destination_id.as_uuid(),
                row.status.as_str(),
                row.schedule.as_text(),
                row.created_at.unix_millis(),
                row.updated_at.unix_millis(),
            ])
            .ctx("could not store the connection")?;
            Ok(())
        })
    }

    fn get_connection(&self, tenant: &Tenant, id: ConnectionId) -> Result<Option<Connection>> {
        self.pool.read(|conn| {
            let mut stmt = conn
                .prepare_cached(concat!(
                    "SELECT ",
                    connection_columns!(),
                    " FROM connections WHERE workspace_id = ?1 AND id = ?2"
                ))
                .ctx("could not prepare a query")?;
            first(
                &mut stmt,
                params![tenant.workspace_id().as_uuid(), id.as_uuid()],
                rows::connection,
            )
        })
    }

    fn list_connections(
        &self,
        tenant: &Tenant,
        after: After,
        limit_rows: usize,
    ) -> Result<Vec<Connection>> {
        let ws = tenant.workspace_id();
        self.pool.read(|conn| match after {
            None => {
                let mut stmt = conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        connection_columns!(),
                        " FROM connections WHERE workspace_id = ?1",
                        " ORDER BY created_at, id LIMIT ?2"
                    ))
                    .ctx("could not prepare a query")?;
                collect(
                    &mut stmt,
                    params![ws.as_uuid(), limit(limit_rows)],
                    rows::connection,
                )
            }
            Some((at, id)) => {
                let mut stmt = conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        connection_columns!(),
                        " FROM connections WHERE workspace_id = ?1",
                        " AND (created_at, id) > (?2, ?3) ORDER BY created_at, id LIMIT ?4"
                    ))
                    .ctx("could not prepare a query")?;
                collect(
                    &mut stmt,
                    params![ws.as_uuid(), at.unix_millis(), id, limit(limit_rows)],
                    rows::connection,
                )
            }
        })
    }

    fn update_connection(
        &self,
        tenant: &Tenant,
        id: ConnectionId,
        update: &ConnectionUpdate,
        now: Timestamp,
    ) -> Result<Option<Connection>> {
        self.pool.write(|tx| {
            let mut stmt = tx
                .prepare_cached(concat!(
                    "UPDATE connections SET name = COALESCE(?3, name),",
                    " status = COALESCE(?4, status), schedule = COALESCE(?5, schedule),",
                    " updated_at = ?6 WHERE workspace_id = ?1 AND id = ?2 RETURNING ",
                    connection_columns!()
                ))
                .ctx("could not prepare an update")?;
            first(
                &mut stmt,
                params![
                    tenant.workspace_id().as_uuid(),
                    id.as_uuid(),
                    update.name.as_ref().map(|n| n.as_str()),
                    update.status.map(|s| s.as_str()),
                    update.schedule.as_ref().map(|s| s.as_text()),
                    now.unix_millis(),
                ],
                rows::connection,
            )
        })
    }

    fn delete_connection(&self, tenant: &Tenant, id: ConnectionId) -> Result<bool> {
        let ws = tenant.workspace_id();
        self.pool.write(|tx| {
            tx.prepare_cached(
                "DELETE FROM sync_runs WHERE workspace_id = ?1 AND connection_id = ?2",
            )
            .ctx("could not prepare a delete")?
            .execute(params![ws.as_uuid(), id.as_uuid()])
            .ctx("could not delete the sync history")?;
            let deleted = tx
                .prepare_cached("DELETE FROM connections WHERE workspace_id = ?1 AND id = ?2")
                .ctx("could not prepare a delete")?
                .execute(params![ws.as_uuid(), id.as_uuid()])
                .ctx("could not delete the connection")?;
            Ok(deleted > 0)
        })
    }

    fn insert_sync_run(&self, tenant: &Tenant, row: &SyncRun) -> Result<()> {
        self.pool.write(|tx| {
            exists_in_tenant(
                tx,
                "SELECT 1 FROM connections WHERE workspace_id = ?1 AND id = ?2",
                tenant,
                row.connection_id.as_uuid(),
                ObjectKind::Connection,
            )?;
            tx.prepare_cached(concat!(
                "INSERT INTO sync_runs (",
                sync_run_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ))
            .ctx("could not prepare an insert")?
            .execute(params![
                row.id.as_uuid(),
                tenant.org_id().as_uuid(),
                tenant.workspace_id().as_uuid(),
                row.connection_id.as_uuid(),
                row.status.as_str(),
                row.started_at.unix_millis(),
                row.finished_at.map(Timestamp::unix_millis),
                sql_count(row.rows_synced),
                sql_count(row.bytes_synced),
                row.error.as_deref(),
            ])
            .ctx("could not store the sync run")?;
            Ok(())
        })
    }

    fn get_sync_run(&self, tenant: &Tenant, id: SyncRunId) -> Result<Option<SyncRun>> {
        self.pool.read(|conn| {
            let mut stmt = conn
                .prepare_cached(concat!(
                    "SELECT ",
                    sync_run_columns!(),
                    " FROM sync_runs WHERE workspace_id = ?1 AND id = ?2"
                ))
                .ctx("could not prepare a query")?;
            first(
                &mut stmt,
                params![tenant.workspace_id().as_uuid(), id.as_uuid()],
                rows::sync_run,
            )
        })
    }

    fn list_sync_runs(
        &self,
        tenant: &Tenant,
        connection: ConnectionId,
        before: After,
        limit_rows: usize,
    ) -> Result<Vec<SyncRun>> {
        let ws = tenant.workspace_id();
        self.pool.read(|conn| match before {
            None => {
                let mut stmt = conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        sync_run_columns!(),
                        " FROM sync_runs WHERE workspace_id = ?1 AND connection_id = ?2",
                        " ORDER BY started_at DESC, id DESC LIMIT ?3"
                    ))
                    .ctx("could not prepare a query")?;
                collect(
                    &mut stmt,
                    params![ws.as_uuid(), connection.as_uuid(), limit(limit_rows)],
                    rows::sync_run,
                )
            }
            Some((at, id)) => {
                let mut stmt = conn
                    .prepare_cached(concat!(
                        "SELECT ",
                        sync_run_columns!(),
                        " FROM sync_runs WHERE workspace_id = ?1 AND connection_id = ?2",
                        " AND (started_at, id) < (?3, ?4)",
                        " ORDER BY started_at DESC, id DESC LIMIT ?5"
                    ))
                    .ctx("could not prepare a query")?;
                collect(
                    &mut stmt,
                    params![
                        ws.as_uuid(),
                        connection.as_uuid(),
                        at.unix_millis(),
                        id,
                        limit(limit_rows)
                    ],
                    rows::sync_run,
                )
            }
        })
    }

    fn finish_sync_run(
        &self,
        tenant: &Tenant,
        id: SyncRunId,
        finish: &SyncFinish,
    ) -> Result<Option<SyncRun>> {
        self.pool.write(|tx| {
            let mut stmt = tx
                .prepare_cached(concat!(
                    "UPDATE sync_runs SET status = ?3, finished_at = ?4, rows_synced = ?5,",
                    " bytes_synced = ?6, error = ?7",
                    " WHERE workspace_id = ?1 AND id = ?2 AND status IN ('pending', 'running')",
                    " RETURNING ",
                    sync_run_columns!()
                ))
                .ctx("could not prepare an update")?;
            first(
                &mut stmt,
                params![
                    tenant.workspace_id().as_uuid(),
                    id.as_uuid(),
                    finish.status.as_str(),
                    finish.finished_at.unix_millis(),
                    sql_count(finish.rows_synced),
                    sql_count(finish.bytes_synced),
                    finish.error.as_deref(),
                ],
                rows::sync_run,
            )
        })
    }
}
