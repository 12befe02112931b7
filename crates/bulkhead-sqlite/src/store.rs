//! The storage port on SQLite: the parts whose SQL or locking is this adapter's own.
//!
//! Most of the port is written once in `bulkhead-sql`, for both SQL adapters, and comes in
//! here through its macros (`system_store!`, `org_store!`, `audit_store!`, `tenant_store!`,
//! and `workspace_methods!` inside the `WorkspaceStore` impl), running on this crate's pool
//! through [`crate::sql`]. What stays here: get-or-create (SQLite's group commit), the
//! workspace listing (its text search in SQLite's functions), the update that pauses a
//! workspace's connections, the purge (and the WAL checkpoint after it), the merge, the
//! catalog ([`crate::catalog`]) and the master-key rotation's walk.
//!
//! Every statement is a literal (cached once prepared); every tenant statement filters on
//! `workspace_id = ?1` (and the organization where the row has no workspace), with the ids
//! bound as parameters. Tenant methods run inside the tenant's workspace
//! ([`Pool::read_tenant`], [`Pool::write_tenant`]), so the isolation guard
//! ([`crate::guard`]) holds them to it as well: reads of tenant tables name the guard views
//! (`FROM t_sources`), writes go to the tables and pass the guard triggers.
//!
//! [`Pool::read_tenant`]: crate::pool::Pool::read_tenant
//! [`Pool::write_tenant`]: crate::pool::Pool::write_tenant

use std::collections::BTreeMap;

use bulkhead_core::store::{
    CatalogStore, ConnectionState, MergeRows, RowCounts, SealedItem, TemplateKind, TemplateRow,
    WorkspaceStore,
};
use bulkhead_core::{
    Connection, ConnectionId, Error, ExternalId, GetOrCreated, ObjectKind, OrgCtx, Result,
    Schedule, StorageError, SyncRun, Tag, TagInfo, TagSelection, Tenant, Timestamp, Workspace,
    WorkspaceFilter, WorkspaceId, WorkspaceStatus, WorkspaceUpdate,
};
use bulkhead_sql::tenant;
use rusqlite::params;
use uuid::Uuid;

use crate::guard::Db;
use crate::rows::{self, collect, connection_state_columns, first, workspace_columns};
use crate::sql::Conn;
use crate::{Ctx, SqliteStore, audit, catalog};

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl WorkspaceStore for SqliteStore {
    bulkhead_sql::workspace_methods!(pool);

    fn get_or_create_workspace(
        &self,
        org: &OrgCtx,
        candidate: &Workspace,
        update: &WorkspaceUpdate,
    ) -> Result<GetOrCreated> {
        // Most calls are for customers that already exist with the same tag selection:
        // answer those from a reader without taking the write lock.
        if !org.has_issuance()
            && let Some(existing) = self.find_workspace(org, &candidate.external_id)?
            && (existing.is_deleted() || !update.changes(&existing))
        {
            return Ok(GetOrCreated {
                workspace: existing,
                created: false,
            });
        }
        if !org.has_issuance() {
            return self.pool.write_org(org.org_id(), |tx| {
                get_or_create_in(tx, org, candidate, update)
            });
        }
        // Every scoped token issued writes its event: concurrent issuances share one
        // transaction (group commit), each in a savepoint of its own, and each caller gets
        // its workspace only once that transaction has committed, its event with it.
        let (org, candidate, update) = (org.clone_for_write(), candidate.clone(), update.clone());
        self.pool.write_grouped(org.org_id(), move |tx| {
            let GetOrCreated { workspace, created } =
                get_or_create_in(tx, &org, &candidate, &update)?;
            if let Some(draft) = org.issuance_for(&workspace) {
                audit::append(tx, org.org_id(), &draft)?;
            }
            Ok(GetOrCreated { workspace, created })
        })
    }

    fn list_workspaces(
        &self,
        org: &OrgCtx,
        filter: &WorkspaceFilter,
        after: Option<&ExternalId>,
        limit_rows: usize,
    ) -> Result<Vec<Workspace>> {
        self.pool.read_org(org.org_id(), |conn| {
            let mut stmt = conn
                .prepare_cached(concat!(
                    "SELECT ",
                    workspace_columns!(),
                    // `external_id > ?2` with no `OR`, so that the index on
                    // `(org_id, external_id)` starts the page at the cursor: the first page
                    // passes '', below every external id (they are never empty). With
                    // `?2 IS NULL OR ...` a deep page scanned every row before it.
                    " FROM o_workspaces WHERE org_id = ?1 AND deleted_at IS NULL",
                    " AND external_id > ?2",
                    " AND (?3 IS NULL OR status = ?3)",
                    " AND (?4 IS NULL OR substr(external_id, 1, length(?4)) = ?4)",
                    // SQLite's own lower() folds ASCII letters only: the engine passes the
                    // text lowercased the same way.
                    " AND (?6 IS NULL OR instr(lower(name), ?6) > 0)",
                    " ORDER BY external_id LIMIT ?5"
                ))
                .ctx("could not prepare a query")?;
            collect(
                &mut stmt,
                params![
                    org.org_id().as_uuid(),
                    after.map_or("", ExternalId::as_str),
                    filter.status.map(|s| s.as_str()),
                    filter.external_id_prefix.as_deref(),
                    limit(limit_rows),
                    filter.name_contains.as_deref(),
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
        self.pool.write_org(org.org_id(), |tx| {
            let updated = apply_workspace_update(tx, org, id, update, now)?;
            if updated.is_none() {
                return Ok(None);
            }
            // Pausing and resuming connections writes tenant rows: inside the workspace. A
            // paused connection loses its due time (trigger); a resumed one gets its first
            // due time from now.
            let pause = match update.status {
                Some(WorkspaceStatus::Inactive) => Some(
                    "UPDATE connections SET status = 'inactive', paused_by_workspace = 1
                     WHERE workspace_id = ?1 AND status = 'active' RETURNING id, schedule",
                ),
                Some(WorkspaceStatus::Active) => Some(
                    "UPDATE connections SET status = 'active', paused_by_workspace = 0
                     WHERE workspace_id = ?1 AND paused_by_workspace = 1
                     RETURNING id, schedule",
                ),
                None => None,
            };
            if let Some(sql) = pause {
                let _scope = tx.tenant(id);
                let changed = tx.query_all(sql, params![id.as_uuid()], |r| {
                    let id: Uuid = r.get(0).ctx("could not read a connection's id")?;
                    let text: String = r.get(1).ctx("could not read a connection's schedule")?;
                    Ok((id, text))
                })?;
                if update.status == Some(WorkspaceStatus::Active) {
                    for (connection, text) in changed {
                        let schedule = Schedule::parse(&text).map_err(|e| {
                            StorageError::new(format!("a stored schedule is invalid: {e}"))
                        })?;
                        crate::schedules::schedule_connection(
                            tx,
                            (org.org_id(), id),
                            ConnectionId::from_uuid(connection)?,
                            &schedule,
                            true,
                            now,
                        )?;
                    }
                }
            }
            audit::append_if(tx, org.org_id(), org.audit())?;
            Ok(updated)
        })
    }

    fn purge_workspace(&self, org: &OrgCtx, id: WorkspaceId) -> Result<bool> {
        let deleted = self.pool.write_org(org.org_id(), |tx| {
            let deleted = catalog::purge_workspace(tx, org, id)?;
            if deleted {
                audit::append_if(tx, org.org_id(), org.audit())?;
            }
            Ok(deleted)
        })?;
        if deleted {
            // Crypto-shredding: the sealed data key must leave the files now, not at the next
            // automatic checkpoint or when the store closes. The purge has committed, so a
            // checkpoint that cannot finish (a reader on an old snapshot past the busy
            // timeout) is logged, not turned into the caller's error; the next one finishes.
            if let Err(e) = self.pool.checkpoint() {
                tracing::warn!(target: "bulkhead::sqlite", workspace = %id, error = %e, "could not checkpoint the WAL after purging a workspace; its sealed data key may stay in the database files until the next checkpoint");
            }
        }
        Ok(deleted)
    }

    fn merge_workspace(
        &self,
        org: &OrgCtx,
        from: &Tenant,
        into: &Tenant,
        rows: &MergeRows,
        at: Timestamp,
    ) -> Result<bool> {
        let org_id = org.org_id();
        if from.org_id() != org_id || into.org_id() != org_id {
            return Ok(false);
        }
        self.pool.write_org(org_id, |tx| {
            let live = |tenant: &Tenant| {
                tx.query_first(
                    concat!(
                        "SELECT ",
                        workspace_columns!(),
                        " FROM o_workspaces WHERE org_id = ?1 AND id = ?2 AND deleted_at IS NULL"
                    ),
                    params![org_id.as_uuid(), tenant.workspace_id().as_uuid()],
                    rows::workspace,
                )
            };
            let (Some(_), Some(target)) = (live(from)?, live(into)?) else {
                return Ok(false);
            };
            let source = from.workspace_id();
            let states: BTreeMap<ConnectionId, ConnectionState>;
            {
                let _scope = tx.tenant(source);
                let counts = tx
                    .query_first(
                        "SELECT (SELECT count(*) FROM t_sources WHERE workspace_id = ?1),
                                (SELECT count(*) FROM t_destinations WHERE workspace_id = ?1),
                                (SELECT count(*) FROM t_connections WHERE workspace_id = ?1),
                                (SELECT count(*) FROM t_sync_runs WHERE workspace_id = ?1)",
                        params![source.as_uuid()],
                        |r| {
                            let read = |i: usize| -> Result<i64> {
                                r.get(i).ctx("could not count a workspace's rows")
                            };
                            let count = |i: usize| -> Result<u64> {
                                Ok(u64::try_from(read(i)?).unwrap_or(u64::MAX))
                            };
                            Ok(RowCounts {
                                sources: count(0)?,
                                destinations: count(1)?,
                                connections: count(2)?,
                                sync_runs: count(3)?,
                            })
                        },
                    )?
                    .unwrap_or_default();
                if counts != rows.from_counts {
                    return Err(Error::conflict(format!(
                        "workspace `{source}` changed while it was being merged; try again"
                    )));
                }
                // Whether each connection runs, and why not, as of this transaction.
                states = tx
                    .query_all(
                        concat!(
                            "SELECT ",
                            connection_state_columns!(),
                            " FROM t_connections WHERE workspace_id = ?1"
                        ),
                        params![source.as_uuid()],
                        rows::connection_state,
                    )?
                    .into_iter()
                    .collect();
                for sql in [
                    "DELETE FROM sync_runs WHERE workspace_id = ?1",
                    "DELETE FROM connections WHERE workspace_id = ?1",
                    "DELETE FROM sources WHERE workspace_id = ?1",
                    "DELETE FROM destinations WHERE workspace_id = ?1",
                ] {
                    tx.prepare_cached(sql)
                        .ctx("could not prepare a delete")?
                        .execute(params![source.as_uuid()])
                        .ctx("could not move the merged workspace's rows")?;
                }
            }
            {
                let _scope = tx.tenant(into.workspace_id());
                for row in &rows.endpoints {
                    tenant::insert_endpoint_in(&mut Conn(tx), into, row)?;
                }
                for row in &rows.connections {
                    let state = states
                        .get(&row.id)
                        .copied()
                        .unwrap_or(ConnectionState {
                            status: row.status,
                            paused_by_workspace: false,
                        })
                        .merged_into(target.status);
                    let row = Connection {
                        status: state.status,
                        ..row.clone()
                    };
                    tenant::insert_connection_in(
                        &mut Conn(tx),
                        into,
                        &row,
                        state.paused_by_workspace,
                        at,
                    )?;
                }
                for row in &rows.sync_runs {
                    // The connections moved with their runs, so this cannot collide; if it
                    // did, the merge fails whole rather than drop a run.
                    if !tenant::insert_sync_run_row(&mut Conn(tx), into, row)? {
                        return Err(Error::SyncAlreadyRunning {
                            connection_id: row.connection_id,
                        });
                    }
                    crate::jobs::requeue_moved(tx, into, row)?;
                }
            }
            tx.prepare_cached(
                "UPDATE workspaces SET deleted_at = ?3, merged_into = ?4, updated_at = ?3,
                 sealed_dek = NULL WHERE org_id = ?1 AND id = ?2",
            )
            .ctx("could not prepare an update")?
            .execute(params![
                org_id.as_uuid(),
                source.as_uuid(),
                at.unix_millis(),
                into.workspace_id().as_uuid()
            ])
            .ctx("could not leave the merged workspace's tombstone")?;
            audit::append_if(tx, org_id, org.audit())?;
            Ok(true)
        })
    }
}

impl CatalogStore for SqliteStore {
    fn create_tag(&self, org: &OrgCtx, name: &Tag, now: Timestamp) -> Result<TagInfo> {
        self.pool.write_org(org.org_id(), |tx| {
            let tag = catalog::create_tag(tx, org, name, now)?;
            audit::append_if(tx, org.org_id(), org.audit())?;
            Ok(tag)
        })
    }

    fn list_tags(&self, org: &OrgCtx) -> Result<Vec<TagInfo>> {
        self.pool.read_org(org.org_id(), |conn| {
            conn.query_all(
                "SELECT name, created_at FROM o_tags WHERE org_id = ?1 ORDER BY name",
                params![org.org_id().as_uuid()],
                rows::tag,
            )
        })
    }

    fn rename_tag(&self, org: &OrgCtx, from: &Tag, to: &Tag) -> Result<bool> {
        self.pool.write_org(org.org_id(), |tx| {
            let renamed = catalog::rename_tag(tx, org, from, to)?;
            if renamed && from != to {
                audit::append_if(tx, org.org_id(), org.audit())?;
            }
            Ok(renamed)
        })
    }

    fn delete_tag(&self, org: &OrgCtx, name: &Tag) -> Result<bool> {
        self.pool.write_org(org.org_id(), |tx| {
            let deleted = catalog::delete_tag(tx, org, name)?;
            if deleted {
                audit::append_if(tx, org.org_id(), org.audit())?;
            }
            Ok(deleted)
        })
    }

    fn insert_template(&self, org: &OrgCtx, row: &TemplateRow) -> Result<()> {
        self.pool.write_org(org.org_id(), |tx| {
            catalog::insert_template(tx, org, row)?;
            audit::append_if(tx, org.org_id(), org.audit())
        })
    }

    fn list_templates(&self, org: &OrgCtx, kind: TemplateKind) -> Result<Vec<TemplateRow>> {
        self.pool.read_org(org.org_id(), |conn| {
            catalog::list_templates(conn, org, kind)
        })
    }

    fn get_template(
        &self,
        org: &OrgCtx,
        kind: TemplateKind,
        id: Uuid,
    ) -> Result<Option<TemplateRow>> {
        self.pool.read_org(org.org_id(), |conn| {
            catalog::get_template(conn, org, kind, id)
        })
    }

    fn replace_template(&self, org: &OrgCtx, row: &TemplateRow) -> Result<bool> {
        self.pool.write_org(org.org_id(), |tx| {
            let replaced = catalog::replace_template(tx, org, row)?;
            if replaced {
                audit::append_if(tx, org.org_id(), org.audit())?;
            }
            Ok(replaced)
        })
    }

    fn delete_template(&self, org: &OrgCtx, kind: TemplateKind, id: Uuid) -> Result<bool> {
        self.pool.write_org(org.org_id(), |tx| {
            let deleted = tx
                .prepare_cached(catalog::template_sql(kind).delete)
                .ctx("could not prepare a delete")?
                .execute(params![org.org_id().as_uuid(), id])
                .ctx("could not delete the template")?;
            if deleted > 0 {
                audit::append_if(tx, org.org_id(), org.audit())?;
            }
            Ok(deleted > 0)
        })
    }
}

/// Applies `update` to the organization's workspace `id` inside the caller's transaction.
fn apply_workspace_update(
    tx: &Db<'_>,
    org: &OrgCtx,
    id: WorkspaceId,
    update: &WorkspaceUpdate,
    now: Timestamp,
) -> Result<Option<Workspace>> {
    tx.query_first(
        concat!(
            "UPDATE workspaces SET name = COALESCE(?3, name),",
            " status = COALESCE(?4, status),",
            " source_tags = COALESCE(?5, source_tags),",
            " source_tags_mode = COALESCE(?6, source_tags_mode),",
            " connection_tags = COALESCE(?7, connection_tags),",
            " connection_tags_mode = COALESCE(?8, connection_tags_mode),",
            " updated_at = ?9",
            " WHERE org_id = ?1 AND id = ?2 AND deleted_at IS NULL RETURNING ",
            workspace_columns!()
        ),
        params![
            org.org_id().as_uuid(),
            id.as_uuid(),
            update.name.as_ref().map(|n| n.as_str()),
            update.status.map(|s| s.as_str()),
            update.source_tags.as_ref().map(TagSelection::tags_json),
            update.source_tags.as_ref().map(|t| t.mode.as_str()),
            update.connection_tags.as_ref().map(TagSelection::tags_json),
            update.connection_tags.as_ref().map(|t| t.mode.as_str()),
            now.unix_millis(),
        ],
        rows::workspace,
    )
}

/// The body of `get_or_create_workspace`, inside its transaction: read, insert if absent (and
/// read again), and apply `update` to an existing live workspace, each change audited.
///
/// The read comes first: most calls (every scoped token of a known customer) find the
/// workspace, and then make no insert attempt. It is race-free because the transaction holds
/// the database's one write lock (`IMMEDIATE`) from its start, so nobody inserts between the
/// read and the insert; the `ON CONFLICT` stays as a second line of defence.
fn get_or_create_in(
    tx: &Db<'_>,
    org: &OrgCtx,
    candidate: &Workspace,
    update: &WorkspaceUpdate,
) -> Result<GetOrCreated> {
    let read = || -> Result<Option<Workspace>> {
        let mut stmt = tx
            .prepare_cached(concat!(
                "SELECT ",
                workspace_columns!(),
                " FROM o_workspaces WHERE org_id = ?1 AND external_id = ?2"
            ))
            .ctx("could not prepare a query")?;
        first(
            &mut stmt,
            params![org.org_id().as_uuid(), candidate.external_id.as_str()],
            rows::workspace,
        )
    };
    let workspace = match read()? {
        Some(existing) => existing,
        None => {
            let inserted = tx
                .prepare_cached(concat!(
                    "INSERT INTO workspaces (",
                    workspace_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
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
                    candidate.source_tags.tags_json(),
                    candidate.source_tags.mode.as_str(),
                    candidate.connection_tags.tags_json(),
                    candidate.connection_tags.mode.as_str(),
                    candidate.tokens_valid_after.map(Timestamp::unix_millis),
                    candidate.deleted_at.map(Timestamp::unix_millis),
                    candidate.merged_into.map(|w| *w.as_uuid()),
                ])
                .ctx("could not store the workspace")?;
            let workspace =
                read()?.ok_or_else(|| Error::not_found(ObjectKind::Organization, org.org_id()))?;
            if inserted == 1 {
                audit::append_if(tx, org.org_id(), org.audit())?;
                return Ok(GetOrCreated {
                    workspace,
                    created: true,
                });
            }
            workspace
        }
    };
    if workspace.is_deleted() || update.is_empty() || !update.changes(&workspace) {
        return Ok(GetOrCreated {
            workspace,
            created: false,
        });
    }
    let updated = apply_workspace_update(tx, org, workspace.id, update, candidate.updated_at)?
        .ok_or_else(|| Error::not_found(ObjectKind::Workspace, workspace.id))?;
    if let Some(draft) = org.audit() {
        let draft = bulkhead_core::audit::AuditDraft {
            action: "workspace.update".to_owned(),
            workspace_id: Some(updated.id),
            ..draft.clone()
        };
        audit::append(tx, org.org_id(), &draft)?;
    }
    Ok(GetOrCreated {
        workspace: updated,
        created: false,
    })
}

bulkhead_sql::system_store!(SqliteStore, pool, reseal_all);
bulkhead_sql::org_store!(SqliteStore, pool);
bulkhead_sql::audit_store!(SqliteStore, pool);
bulkhead_sql::tenant_store!(SqliteStore, pool);

/// Stores a sync run of the tenant (see [`tenant::insert_sync_run_row`]), for the job queue.
pub(crate) fn insert_sync_run_row(tx: &Db<'_>, into: &Tenant, row: &SyncRun) -> Result<bool> {
    tenant::insert_sync_run_row(&mut Conn(tx), into, row)
}

/// The master-key rotation's walk over every sealed value, in system mode (see
/// [`catalog::reseal_all`]).
fn reseal_all(
    store: &SqliteStore,
    check: &[u8],
    reseal: &mut dyn FnMut(SealedItem<'_>) -> Result<Vec<u8>>,
) -> Result<u64> {
    store
        .pool
        .write_system(|tx| catalog::reseal_all(tx, check, reseal))
}
