//! The storage port on PostgreSQL: the parts whose SQL or locking is this adapter's own.
//!
//! Most of the port is written once in `bulkhead-sql`, for both SQL adapters, and comes in
//! here through its macros (`system_store!`, `org_store!`, `audit_store!`, `tenant_store!`,
//! and `workspace_methods!` inside the `WorkspaceStore` impl), running on this crate's pool
//! through [`crate::sql`]. What stays here: get-or-create, the workspace listing, the update
//! that pauses a workspace's connections, the purge, the merge (`FOR UPDATE`, `= ANY`), the
//! catalog (tags and templates) and the master-key rotation's walk.
//!
//! Every statement is a literal (prepared once per connection); every tenant statement
//! filters on `workspace_id = $1` (and the organization where the row has no workspace), with
//! the ids bound as parameters.
//!
//! Each method is one transaction of [`Pool::run`] in the narrowest [`Scope`] that serves it,
//! so the Row Level Security policies hold every statement to it as well: the predicates keep
//! each query correct on its own and let it use the indexes, the policies enforce.
//!
//! [`Pool::run`]: crate::pool::Pool::run

use bulkhead_core::audit::AuditDraft;
use bulkhead_core::secrets::SealedSecrets;
use bulkhead_core::store::{
    CatalogStore, ConnectionState, MergeRows, RowCounts, SealedItem, TemplateKind, TemplateRow,
    WorkspaceStore,
};
use bulkhead_core::{
    Connection, ConnectionId, Error, ExternalId, GetOrCreated, ObjectKind, OrgCtx, OrgId, Result,
    Schedule, StorageError, Tag, TagInfo, TagSelection, Tenant, Timestamp, Workspace,
    WorkspaceFilter, WorkspaceId, WorkspaceStatus, WorkspaceUpdate,
};
use bulkhead_sql::tenant;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

use crate::pool::{Scope, Tx};
use crate::rows::{self, connection_state_columns, sql_count, template_columns, workspace_columns};
use crate::{Ctx, PostgresStore, audit};

/// The statements of one template table.
struct TemplateSql {
    insert: &'static str,
    list: &'static str,
    get: &'static str,
    replace: &'static str,
    delete: &'static str,
    tags_of_org: &'static str,
    set_tags: &'static str,
    all_secrets: &'static str,
    set_secrets: &'static str,
}

macro_rules! template_sql {
    ($table:literal) => {
        TemplateSql {
            insert: concat!(
                "INSERT INTO ",
                $table,
                " (",
                template_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ),
            list: concat!(
                "SELECT ",
                template_columns!(),
                " FROM ",
                $table,
                " WHERE org_id = $1 ORDER BY created_at, id"
            ),
            get: concat!(
                "SELECT ",
                template_columns!(),
                " FROM ",
                $table,
                " WHERE org_id = $1 AND id = $2"
            ),
            replace: concat!(
                "UPDATE ",
                $table,
                " SET name = $3, tags = $4, body = $5, secrets = $6, updated_at = $7",
                " WHERE org_id = $1 AND id = $2"
            ),
            delete: concat!("DELETE FROM ", $table, " WHERE org_id = $1 AND id = $2"),
            tags_of_org: concat!(
                "SELECT id, tags FROM ",
                $table,
                " WHERE org_id = $1 AND tags::jsonb ? $2"
            ),
            set_tags: concat!(
                "UPDATE ",
                $table,
                " SET tags = $3 WHERE org_id = $1 AND id = $2"
            ),
            all_secrets: concat!(
                "SELECT org_id, id, secrets FROM ",
                $table,
                " WHERE org_id = $1 AND secrets <> '{}'"
            ),
            set_secrets: concat!(
                "UPDATE ",
                $table,
                " SET secrets = $3 WHERE org_id = $1 AND id = $2"
            ),
        }
    };
}

const SOURCE_TEMPLATES: TemplateSql = template_sql!("source_templates");
const CONNECTION_TEMPLATES: TemplateSql = template_sql!("connection_templates");
const ALL_TEMPLATES: [&TemplateSql; 2] = [&SOURCE_TEMPLATES, &CONNECTION_TEMPLATES];

fn template_sql(kind: TemplateKind) -> &'static TemplateSql {
    match kind {
        TemplateKind::Source => &SOURCE_TEMPLATES,
        TemplateKind::Connection => &CONNECTION_TEMPLATES,
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn millis(t: Option<Timestamp>) -> Option<i64> {
    t.map(Timestamp::unix_millis)
}

fn tags_json(tags: &BTreeSet<Tag>) -> Result<String> {
    serde_json::to_string(tags).map_err(|e| Error::invalid_input("tags", e.to_string()))
}

fn unit(_: &postgres::Row) -> Result<()> {
    Ok(())
}

impl WorkspaceStore for PostgresStore {
    bulkhead_sql::workspace_methods!(pool);

    fn get_or_create_workspace(
        &self,
        org: &OrgCtx,
        candidate: &Workspace,
        update: &WorkspaceUpdate,
    ) -> Result<GetOrCreated> {
        // Most calls are for customers that already exist with the same tag selection:
        // answer those with one read. A tombstone is returned as it is.
        if !org.has_issuance()
            && let Some(existing) = self.find_workspace(org, &candidate.external_id)?
            && (existing.is_deleted() || !update.changes(&existing))
        {
            return Ok(GetOrCreated {
                workspace: existing,
                created: false,
            });
        }
        self.pool.write(Scope::Org(org.org_id()), |tx| {
            let GetOrCreated { workspace, created } = get_or_create_in(tx, org, candidate, update)?;
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
        self.pool.read(Scope::Org(org.org_id()), |tx| {
            tx.query_all(
                concat!(
                    "SELECT ",
                    workspace_columns!(),
                    // `external_id > $2` with no `OR`, so that a generic plan too starts
                    // the page at the cursor in the `(org_id, external_id)` index: the first
                    // page passes '', below every external id (never empty; `COLLATE "C"`).
                    " FROM workspaces WHERE org_id = $1 AND deleted_at IS NULL",
                    " AND external_id > $2::text",
                    " AND ($3::text IS NULL OR status = $3::text)",
                    " AND ($4::text IS NULL OR starts_with(external_id, $4::text))",
                    // ASCII letters only, as SQLite's lower() (the engine lowercases the text
                    // the same way): both adapters match alike whatever the locale.
                    " AND ($6::text IS NULL OR strpos(translate(name,",
                    " 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), $6::text) > 0)",
                    " ORDER BY external_id LIMIT $5"
                ),
                &[
                    org.org_id().as_uuid(),
                    &after.map_or("", ExternalId::as_str),
                    &filter.status.map(|s| s.as_str()),
                    &filter.external_id_prefix.as_deref(),
                    &limit(limit_rows),
                    &filter.name_contains.as_deref(),
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
        let org_id = org.org_id();
        self.pool.write(Scope::Org(org_id), |tx| {
            let updated = apply_workspace_update(tx, org, id, update, now)?;
            if updated.is_some() {
                // A status change pauses or resumes its connections, inside the workspace;
                // resuming brings back only the ones it paused.
                // Paused connections lose their due times; resumed ones are due from now.
                let connections = match update.status {
                    Some(WorkspaceStatus::Inactive) => Some(concat!(
                        "UPDATE connections SET status = 'inactive', paused_by_workspace = true",
                        " WHERE workspace_id = $1 AND status = 'active' RETURNING id, schedule"
                    )),
                    Some(WorkspaceStatus::Active) => Some(concat!(
                        "UPDATE connections SET status = 'active', paused_by_workspace = false",
                        " WHERE workspace_id = $1 AND paused_by_workspace RETURNING id, schedule"
                    )),
                    None => None,
                };
                if let Some(sql) = connections {
                    tx.set_scope(Scope::Workspace(org_id, id))?;
                    let changed = tx.query_all(sql, &[id.as_uuid()], |r| {
                        let id: Uuid = r.try_get(0).ctx("could not read a connection's id")?;
                        let text: String =
                            r.try_get(1).ctx("could not read a connection's schedule")?;
                        Ok((id, text))
                    })?;
                    if update.status == Some(WorkspaceStatus::Active) {
                        for (connection, text) in changed {
                            let schedule = Schedule::parse(&text).map_err(|e| {
                                StorageError::new(format!("a stored schedule is invalid: {e}"))
                            })?;
                            crate::schedules::schedule_connection(
                                tx,
                                (org_id, id),
                                ConnectionId::from_uuid(connection)?,
                                &schedule,
                                true,
                                now,
                            )?;
                        }
                    } else {
                        crate::schedules::unschedule_workspace(tx, id)?;
                    }
                    tx.set_scope(Scope::Org(org_id))?;
                }
                audit::append_if(tx, org_id, org.audit())?;
            }
            Ok(updated)
        })
    }

    fn purge_workspace(&self, org: &OrgCtx, id: WorkspaceId) -> Result<bool> {
        let org_id = org.org_id();
        self.pool.write(Scope::Org(org_id), |tx| {
            // The data key goes first, and only for a workspace of this organization.
            let shredded = tx.execute(
                "UPDATE workspaces SET sealed_dek = NULL WHERE org_id = $1 AND id = $2",
                &[org_id.as_uuid(), id.as_uuid()],
            )?;
            if shredded == 0 {
                return Ok(false);
            }
            // Inside the deleted workspace for its tenant rows.
            tx.set_scope(Scope::Workspace(org_id, id))?;
            for sql in [
                "DELETE FROM sync_runs WHERE workspace_id = $1",
                "DELETE FROM connections WHERE workspace_id = $1",
                "DELETE FROM sources WHERE workspace_id = $1",
                "DELETE FROM destinations WHERE workspace_id = $1",
                "DELETE FROM revoked_tokens WHERE workspace_id = $1",
                "DELETE FROM workspaces WHERE id = $1",
            ] {
                tx.execute(sql, &[id.as_uuid()])?;
            }
            tx.set_scope(Scope::Org(org_id))?;
            audit::append_if(tx, org_id, org.audit())?;
            Ok(true)
        })
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
        let (from_ws, into_ws) = (from.workspace_id(), into.workspace_id());
        self.pool.write(Scope::Org(org_id), |tx| {
            // Both live workspaces of the organization, locked (in id order) until the end.
            let ids = vec![*from_ws.as_uuid(), *into_ws.as_uuid()];
            let locked = tx.query_all(
                concat!(
                    "SELECT ",
                    workspace_columns!(),
                    " FROM workspaces WHERE org_id = $1 AND id = ANY($2)",
                    " AND deleted_at IS NULL ORDER BY id FOR UPDATE"
                ),
                &[org_id.as_uuid(), &ids],
                rows::workspace,
            )?;
            if locked.len() != 2 {
                return Ok(false);
            }
            let Some(target_status) = locked.iter().find(|w| w.id == into_ws).map(|w| w.status)
            else {
                return Ok(false);
            };

            // Inside `from`: refuse a workspace that changed since the engine read it, then
            // delete its rows, children first.
            tx.set_scope(Scope::tenant(from))?;
            let counts: [i64; 4] = tx.query_one(
                concat!(
                    "SELECT (SELECT count(*) FROM sources WHERE workspace_id = $1),",
                    " (SELECT count(*) FROM destinations WHERE workspace_id = $1),",
                    " (SELECT count(*) FROM connections WHERE workspace_id = $1),",
                    " (SELECT count(*) FROM sync_runs WHERE workspace_id = $1)"
                ),
                &[from_ws.as_uuid()],
                |r| {
                    let read = storage("could not count the workspace's rows");
                    Ok([
                        r.try_get(0).map_err(read)?,
                        r.try_get(1).map_err(read)?,
                        r.try_get(2).map_err(read)?,
                        r.try_get(3).map_err(read)?,
                    ])
                },
            )?;
            let RowCounts {
                sources,
                destinations,
                connections,
                sync_runs: runs,
            } = rows.from_counts;
            if counts != [sources, destinations, connections, runs].map(sql_count) {
                return Err(Error::conflict(format!(
                    "workspace `{from_ws}` changed while it was being merged; try again"
                )));
            }
            // Whether each connection runs, and why not, as of this transaction (both
            // workspaces are locked).
            let states: BTreeMap<ConnectionId, ConnectionState> = tx
                .query_all(
                    concat!(
                        "SELECT ",
                        connection_state_columns!(),
                        " FROM connections WHERE workspace_id = $1"
                    ),
                    &[from_ws.as_uuid()],
                    rows::connection_state,
                )?
                .into_iter()
                .collect();
            // A concurrent delete committed after the count shows in what these delete.
            for (sql, expected) in [
                ("DELETE FROM sync_runs WHERE workspace_id = $1", runs),
                (
                    "DELETE FROM connections WHERE workspace_id = $1",
                    connections,
                ),
                ("DELETE FROM sources WHERE workspace_id = $1", sources),
                (
                    "DELETE FROM destinations WHERE workspace_id = $1",
                    destinations,
                ),
            ] {
                if tx.execute(sql, &[from_ws.as_uuid()])? != expected {
                    return Err(Error::conflict(format!(
                        "workspace `{from_ws}` changed while it was being merged; try again"
                    )));
                }
            }

            // Inside `into`: endpoints before the connections that use them, connections
            // before their runs.
            tx.set_scope(Scope::tenant(into))?;
            for endpoint in &rows.endpoints {
                tenant::insert_endpoint_in(tx, into, endpoint)?;
            }
            for connection in &rows.connections {
                let state = states
                    .get(&connection.id)
                    .copied()
                    .unwrap_or(ConnectionState {
                        status: connection.status,
                        paused_by_workspace: false,
                    })
                    .merged_into(target_status);
                let connection = Connection {
                    status: state.status,
                    ..connection.clone()
                };
                tenant::insert_connection_in(tx, into, &connection, state.paused_by_workspace, at)?;
            }
            for run in &rows.sync_runs {
                // The connections moved with their runs, so this cannot collide; if it did,
                // the merge fails whole rather than drop a run.
                if !tenant::insert_sync_run_row(tx, into, run)? {
                    return Err(Error::SyncAlreadyRunning {
                        connection_id: run.connection_id,
                    });
                }
                crate::jobs::requeue_moved(tx, into, run)?;
            }

            // `from` becomes a tombstone merged into `into`, without its data key.
            tx.set_scope(Scope::Org(org_id))?;
            tx.execute(
                concat!(
                    "UPDATE workspaces SET deleted_at = $3, merged_into = $4, updated_at = $3,",
                    " sealed_dek = NULL WHERE org_id = $1 AND id = $2"
                ),
                &[
                    org_id.as_uuid(),
                    from_ws.as_uuid(),
                    &at.unix_millis(),
                    into_ws.as_uuid(),
                ],
            )?;
            audit::append_if(tx, org_id, org.audit())?;
            Ok(true)
        })
    }
}

impl CatalogStore for PostgresStore {
    fn create_tag(&self, org: &OrgCtx, name: &Tag, now: Timestamp) -> Result<TagInfo> {
        self.pool.write(Scope::Org(org.org_id()), |tx| {
            let inserted = tx.execute(
                "INSERT INTO tags (org_id, name, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (org_id, name) DO NOTHING",
                &[org.org_id().as_uuid(), &name.as_str(), &now.unix_millis()],
            )?;
            if inserted == 0 {
                return Err(Error::conflict(format!("tag `{name}` already exists")));
            }
            audit::append_if(tx, org.org_id(), org.audit())?;
            Ok(TagInfo {
                name: name.clone(),
                created_at: now,
            })
        })
    }

    fn list_tags(&self, org: &OrgCtx) -> Result<Vec<TagInfo>> {
        self.pool.read(Scope::Org(org.org_id()), |tx| {
            tx.query_all(
                "SELECT name, created_at FROM tags WHERE org_id = $1 ORDER BY name",
                &[org.org_id().as_uuid()],
                rows::tag,
            )
        })
    }

    fn rename_tag(&self, org: &OrgCtx, from: &Tag, to: &Tag) -> Result<bool> {
        self.pool.write(Scope::Org(org.org_id()), |tx| {
            let renamed = rename_tag(tx, org, from, to)?;
            if renamed && from != to {
                audit::append_if(tx, org.org_id(), org.audit())?;
            }
            Ok(renamed)
        })
    }

    fn delete_tag(&self, org: &OrgCtx, name: &Tag) -> Result<bool> {
        self.pool.write(Scope::Org(org.org_id()), |tx| {
            let deleted = tx.execute(
                "DELETE FROM tags WHERE org_id = $1 AND name = $2",
                &[org.org_id().as_uuid(), &name.as_str()],
            )?;
            if deleted == 0 {
                return Ok(false);
            }
            rewrite_template_tags(tx, org, name, None)?;
            audit::append_if(tx, org.org_id(), org.audit())?;
            Ok(true)
        })
    }

    fn insert_template(&self, org: &OrgCtx, row: &TemplateRow) -> Result<()> {
        if row.org_id != org.org_id() {
            return Err(Error::conflict(
                "a template must belong to the calling organization",
            ));
        }
        self.pool.write(Scope::Org(org.org_id()), |tx| {
            check_tags_exist(tx, org, &row.tags)?;
            tx.execute(
                template_sql(row.kind).insert,
                &[
                    &row.id,
                    org.org_id().as_uuid(),
                    &row.name.as_str(),
                    &tags_json(&row.tags)?,
                    &row.body,
                    &row.secrets.to_stored(),
                    &row.created_at.unix_millis(),
                    &row.updated_at.unix_millis(),
                ],
            )?;
            audit::append_if(tx, org.org_id(), org.audit())
        })
    }

    fn list_templates(&self, org: &OrgCtx, kind: TemplateKind) -> Result<Vec<TemplateRow>> {
        self.pool.read(Scope::Org(org.org_id()), |tx| {
            tx.query_all(template_sql(kind).list, &[org.org_id().as_uuid()], |r| {
                rows::template(kind, r)
            })
        })
    }

    fn get_template(
        &self,
        org: &OrgCtx,
        kind: TemplateKind,
        id: Uuid,
    ) -> Result<Option<TemplateRow>> {
        self.pool.read(Scope::Org(org.org_id()), |tx| {
            tx.query_first(
                template_sql(kind).get,
                &[org.org_id().as_uuid(), &id],
                |r| rows::template(kind, r),
            )
        })
    }

    fn replace_template(&self, org: &OrgCtx, row: &TemplateRow) -> Result<bool> {
        self.pool.write(Scope::Org(org.org_id()), |tx| {
            check_tags_exist(tx, org, &row.tags)?;
            let changed = tx.execute(
                template_sql(row.kind).replace,
                &[
                    org.org_id().as_uuid(),
                    &row.id,
                    &row.name.as_str(),
                    &tags_json(&row.tags)?,
                    &row.body,
                    &row.secrets.to_stored(),
                    &row.updated_at.unix_millis(),
                ],
            )?;
            if changed > 0 {
                audit::append_if(tx, org.org_id(), org.audit())?;
            }
            Ok(changed > 0)
        })
    }

    fn delete_template(&self, org: &OrgCtx, kind: TemplateKind, id: Uuid) -> Result<bool> {
        self.pool.write(Scope::Org(org.org_id()), |tx| {
            let deleted = tx.execute(template_sql(kind).delete, &[org.org_id().as_uuid(), &id])?;
            if deleted > 0 {
                audit::append_if(tx, org.org_id(), org.audit())?;
            }
            Ok(deleted > 0)
        })
    }
}

/// Maps a driver error reading a column into a storage error saying `what`.
fn storage(what: &'static str) -> impl Fn(postgres::Error) -> Error + Copy {
    move |e| crate::storage_error(what, e)
}

/// Applies `update` to the organization's live workspace `id` inside the caller's
/// transaction.
fn apply_workspace_update(
    tx: &mut Tx<'_>,
    org: &OrgCtx,
    id: WorkspaceId,
    update: &WorkspaceUpdate,
    now: Timestamp,
) -> Result<Option<Workspace>> {
    tx.query_first(
        concat!(
            "UPDATE workspaces SET name = COALESCE($3, name),",
            " status = COALESCE($4, status),",
            " source_tags = COALESCE($5, source_tags),",
            " source_tags_mode = COALESCE($6, source_tags_mode),",
            " connection_tags = COALESCE($7, connection_tags),",
            " connection_tags_mode = COALESCE($8, connection_tags_mode),",
            " updated_at = $9",
            // A tombstone is never updated.
            " WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING ",
            workspace_columns!()
        ),
        &[
            org.org_id().as_uuid(),
            id.as_uuid(),
            &update.name.as_ref().map(|n| n.as_str()),
            &update.status.map(|s| s.as_str()),
            &update.source_tags.as_ref().map(TagSelection::tags_json),
            &update.source_tags.as_ref().map(|t| t.mode.as_str()),
            &update.connection_tags.as_ref().map(TagSelection::tags_json),
            &update.connection_tags.as_ref().map(|t| t.mode.as_str()),
            &now.unix_millis(),
        ],
        rows::workspace,
    )
}

/// Refuses a template whose tags are not all tags of the organization.
fn check_tags_exist(tx: &mut Tx<'_>, org: &OrgCtx, tags: &BTreeSet<Tag>) -> Result<()> {
    for tag in tags {
        let found = tx.query_first(
            "SELECT 1 FROM tags WHERE org_id = $1 AND name = $2",
            &[org.org_id().as_uuid(), &tag.as_str()],
            unit,
        )?;
        if found.is_none() {
            return Err(Error::invalid_input(
                "tags",
                format!("tag `{tag}` does not exist in this organization; create it first"),
            ));
        }
    }
    Ok(())
}

/// Rewrites the tag sets of the organization's templates that carry `from`: `to` in its
/// place, or nothing.
fn rewrite_template_tags(
    tx: &mut Tx<'_>,
    org: &OrgCtx,
    from: &Tag,
    to: Option<&Tag>,
) -> Result<()> {
    for sql in ALL_TEMPLATES {
        let rows = tx.query_all(
            sql.tags_of_org,
            &[org.org_id().as_uuid(), &from.as_str()],
            |r| {
                let id: Uuid = r
                    .try_get(0)
                    .map_err(storage("could not read a template id"))?;
                let tags: String = r
                    .try_get(1)
                    .map_err(storage("could not read template tags"))?;
                Ok((id, tags))
            },
        )?;
        for (id, tags) in rows {
            let mut set: BTreeSet<Tag> = serde_json::from_str(&tags)
                .map_err(|e| Error::invalid_input("tags", e.to_string()))?;
            set.remove(from);
            if let Some(to) = to {
                set.insert(to.clone());
            }
            tx.execute(
                sql.set_tags,
                &[org.org_id().as_uuid(), &id, &tags_json(&set)?],
            )?;
        }
    }
    Ok(())
}

fn rename_tag(tx: &mut Tx<'_>, org: &OrgCtx, from: &Tag, to: &Tag) -> Result<bool> {
    const FIND: &str = "SELECT 1 FROM tags WHERE org_id = $1 AND name = $2";
    if from == to {
        return Ok(tx
            .query_first(FIND, &[org.org_id().as_uuid(), &from.as_str()], unit)?
            .is_some());
    }
    if tx
        .query_first(FIND, &[org.org_id().as_uuid(), &to.as_str()], unit)?
        .is_some()
    {
        return Err(Error::conflict(format!("tag `{to}` already exists")));
    }
    let renamed = tx.execute(
        "UPDATE tags SET name = $3 WHERE org_id = $1 AND name = $2",
        &[org.org_id().as_uuid(), &from.as_str(), &to.as_str()],
    )?;
    if renamed == 0 {
        return Ok(false);
    }
    rewrite_template_tags(tx, org, from, Some(to))?;
    // Workspace selections follow the rename, so no workspace gains or loses a template.
    let selections = tx.query_all(
        "SELECT id, source_tags, source_tags_mode, connection_tags, connection_tags_mode
         FROM workspaces WHERE org_id = $1
           AND (source_tags::jsonb ? $2 OR connection_tags::jsonb ? $2)",
        &[org.org_id().as_uuid(), &from.as_str()],
        |r| {
            let read = |i: usize| -> Result<String> {
                r.try_get(i).map_err(storage("could not read a selection"))
            };
            let id: Uuid = r
                .try_get(0)
                .map_err(storage("could not read a workspace id"))?;
            Ok((
                id,
                TagSelection::from_stored(&read(1)?, &read(2)?)?,
                TagSelection::from_stored(&read(3)?, &read(4)?)?,
            ))
        },
    )?;
    let swap = |mut selection: TagSelection| {
        if selection.tags.remove(from) {
            selection.tags.insert(to.clone());
        }
        selection.tags_json()
    };
    for (id, source, connection) in selections {
        tx.execute(
            "UPDATE workspaces SET source_tags = $3, connection_tags = $4
             WHERE org_id = $1 AND id = $2",
            &[
                org.org_id().as_uuid(),
                &id,
                &swap(source),
                &swap(connection),
            ],
        )?;
    }
    Ok(true)
}

/// Re-seals everything sealed under the master key, one organization at a time, each inside
/// its own organization's scope, all in the caller's one transaction.
fn reseal_all(
    tx: &mut Tx<'_>,
    check: &[u8],
    reseal: &mut dyn FnMut(SealedItem<'_>) -> Result<Vec<u8>>,
) -> Result<u64> {
    let orgs: Vec<Uuid> = tx.query_all("SELECT id FROM organizations ORDER BY id", &[], |r| {
        r.try_get(0).map_err(storage("could not read an org id"))
    })?;
    let mut count = 0u64;
    for org in orgs {
        let org_id = OrgId::from_uuid(org)?;
        tx.set_scope(Scope::Org(org_id))?;
        let keys = tx.query_all(
            "SELECT id, sealed_dek FROM workspaces WHERE org_id = $1 AND sealed_dek IS NOT NULL",
            &[&org],
            |r| {
                let id: Uuid = r
                    .try_get(0)
                    .map_err(storage("could not read a workspace id"))?;
                let sealed: Vec<u8> = r.try_get(1).map_err(storage("could not read a data key"))?;
                Ok((id, sealed))
            },
        )?;
        for (ws, sealed) in keys {
            let new = reseal(SealedItem::DataKey {
                org_id,
                workspace_id: WorkspaceId::from_uuid(ws)?,
                sealed: &sealed,
            })?;
            tx.execute(
                "UPDATE workspaces SET sealed_dek = $3 WHERE org_id = $1 AND id = $2",
                &[&org, &ws, &new],
            )?;
            count += 1;
        }
        let keys = tx.query_all(
            "SELECT kid, sealed_secret FROM signing_keys WHERE org_id = $1",
            &[&org],
            |r| {
                let kid: String = r.try_get(0).map_err(storage("could not read a kid"))?;
                let sealed: Vec<u8> = r
                    .try_get(1)
                    .map_err(storage("could not read a signing key"))?;
                Ok((kid, sealed))
            },
        )?;
        for (kid, sealed) in keys {
            let new = reseal(SealedItem::SigningKey {
                org_id,
                kid: &kid,
                sealed: &sealed,
            })?;
            tx.execute(
                "UPDATE signing_keys SET sealed_secret = $3 WHERE org_id = $1 AND kid = $2",
                &[&org, &kid, &new],
            )?;
            count += 1;
        }
        for sql in ALL_TEMPLATES {
            let templates = tx.query_all(sql.all_secrets, &[&org], |r| {
                let id: Uuid = r
                    .try_get(1)
                    .map_err(storage("could not read a template id"))?;
                let stored: String = r
                    .try_get(2)
                    .map_err(storage("could not read template secrets"))?;
                Ok((id, stored))
            })?;
            for (id, stored) in templates {
                let new = reseal(SealedItem::TemplateSecrets {
                    org_id,
                    template_id: id,
                    stored: &stored,
                })?;
                let new = String::from_utf8(new)
                    .map_err(|_| Error::crypto("re-sealed template secrets are not text"))?;
                SealedSecrets::from_stored(&new)?;
                tx.execute(sql.set_secrets, &[&org, &id, &new])?;
                count += 1;
            }
        }
    }
    tx.set_scope(Scope::None)?;
    tx.execute(
        "UPDATE bulkhead_meta SET value = $1 WHERE key = 'master_key_check'",
        &[&check],
    )?;
    Ok(count)
}

/// The body of `get_or_create_workspace`, inside its transaction: insert if absent, read, and
/// apply `update` to an existing live workspace, each change audited.
fn get_or_create_in(
    tx: &mut Tx<'_>,
    org: &OrgCtx,
    candidate: &Workspace,
    update: &WorkspaceUpdate,
) -> Result<GetOrCreated> {
    // Under READ COMMITTED, a concurrent insert of the same external id makes this
    // one wait for it and then do nothing; the select that follows sees its row.
    let inserted = tx.execute(
        concat!(
            "INSERT INTO workspaces (",
            workspace_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            " ON CONFLICT (org_id, external_id) DO NOTHING"
        ),
        &[
            candidate.id.as_uuid(),
            org.org_id().as_uuid(),
            &candidate.external_id.as_str(),
            &candidate.name.as_str(),
            &candidate.status.as_str(),
            &candidate.created_at.unix_millis(),
            &candidate.updated_at.unix_millis(),
            &candidate.source_tags.tags_json(),
            &candidate.source_tags.mode.as_str(),
            &candidate.connection_tags.tags_json(),
            &candidate.connection_tags.mode.as_str(),
            &millis(candidate.tokens_valid_after),
            &millis(candidate.deleted_at),
            &candidate.merged_into.map(|w| *w.as_uuid()),
        ],
    )?;
    let workspace = tx
        .query_first(
            concat!(
                "SELECT ",
                workspace_columns!(),
                " FROM workspaces WHERE org_id = $1 AND external_id = $2"
            ),
            &[org.org_id().as_uuid(), &candidate.external_id.as_str()],
            rows::workspace,
        )?
        .ok_or_else(|| Error::not_found(ObjectKind::Organization, org.org_id()))?;
    if inserted == 1 {
        audit::append_if(tx, org.org_id(), org.audit())?;
        return Ok(GetOrCreated {
            workspace,
            created: true,
        });
    }
    if workspace.is_deleted() || update.is_empty() || !update.changes(&workspace) {
        return Ok(GetOrCreated {
            workspace,
            created: false,
        });
    }
    let updated = apply_workspace_update(tx, org, workspace.id, update, candidate.updated_at)?
        .ok_or_else(|| Error::not_found(ObjectKind::Workspace, workspace.id))?;
    if let Some(draft) = org.audit() {
        let draft = AuditDraft {
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

bulkhead_sql::system_store!(PostgresStore, pool, reseal_all_items);
bulkhead_sql::org_store!(PostgresStore, pool);
bulkhead_sql::audit_store!(PostgresStore, pool);
bulkhead_sql::tenant_store!(PostgresStore, pool);

/// The master-key rotation's walk over every sealed value, in the operator's scope (see
/// [`reseal_all`]).
fn reseal_all_items(
    store: &PostgresStore,
    check: &[u8],
    reseal: &mut dyn FnMut(SealedItem<'_>) -> Result<Vec<u8>>,
) -> Result<u64> {
    store
        .pool
        .write(Scope::OperatorList, |tx| reseal_all(tx, check, reseal))
}
