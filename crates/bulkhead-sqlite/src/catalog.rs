//! Tags, templates, workspace deletion and master-key re-sealing: the organization-level
//! writes that touch many rows, each run inside one transaction of the caller. Only workspace
//! deletion touches tenant tables, and it enters the deleted workspace to do so.

use std::collections::BTreeSet;

use bulkhead_core::secrets::SealedSecrets;
use bulkhead_core::store::{SealedItem, TemplateKind, TemplateRow};
use bulkhead_core::{
    Error, OrgCtx, OrgId, Result, Tag, TagInfo, TagSelection, Timestamp, WorkspaceId,
};
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use crate::Ctx;
use crate::guard::Db;
use crate::rows::{self, collect, template_columns};

/// The statements of one template table.
pub(crate) struct TemplateSql {
    pub(crate) insert: &'static str,
    pub(crate) list: &'static str,
    pub(crate) get: &'static str,
    pub(crate) replace: &'static str,
    pub(crate) delete: &'static str,
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
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ),
            list: concat!(
                "SELECT ",
                template_columns!(),
                " FROM o_",
                $table,
                " WHERE org_id = ?1 ORDER BY created_at, id"
            ),
            get: concat!(
                "SELECT ",
                template_columns!(),
                " FROM o_",
                $table,
                " WHERE org_id = ?1 AND id = ?2"
            ),
            replace: concat!(
                "UPDATE ",
                $table,
                " SET name = ?3, tags = ?4, body = ?5, secrets = ?6, updated_at = ?7",
                " WHERE org_id = ?1 AND id = ?2"
            ),
            delete: concat!("DELETE FROM ", $table, " WHERE org_id = ?1 AND id = ?2"),
            tags_of_org: concat!(
                "SELECT id, tags FROM o_",
                $table,
                " WHERE org_id = ?1 AND EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?2)"
            ),
            set_tags: concat!("UPDATE ", $table, " SET tags = ?2 WHERE id = ?1"),
            all_secrets: concat!(
                "SELECT org_id, id, secrets FROM ",
                $table,
                " WHERE secrets <> '{}'"
            ),
            set_secrets: concat!("UPDATE ", $table, " SET secrets = ?2 WHERE id = ?1"),
        }
    };
}

const SOURCE_TEMPLATES: TemplateSql = template_sql!("source_templates");
const CONNECTION_TEMPLATES: TemplateSql = template_sql!("connection_templates");
const ALL_TEMPLATES: [&TemplateSql; 2] = [&SOURCE_TEMPLATES, &CONNECTION_TEMPLATES];

pub(crate) fn template_sql(kind: TemplateKind) -> &'static TemplateSql {
    match kind {
        TemplateKind::Source => &SOURCE_TEMPLATES,
        TemplateKind::Connection => &CONNECTION_TEMPLATES,
    }
}

fn tags_json(tags: &BTreeSet<Tag>) -> Result<String> {
    serde_json::to_string(tags).map_err(|e| Error::invalid_input("tags", e.to_string()))
}

/// Refuses a template whose tags are not all tags of the organization.
fn check_tags_exist(tx: &Db<'_>, org: &OrgCtx, tags: &BTreeSet<Tag>) -> Result<()> {
    let mut stmt = tx
        .prepare_cached("SELECT 1 FROM o_tags WHERE org_id = ?1 AND name = ?2")
        .ctx("could not prepare a query")?;
    for tag in tags {
        let found = stmt
            .query_row(params![org.org_id().as_uuid(), tag.as_str()], |_| Ok(()))
            .optional()
            .ctx("could not look up a tag")?;
        if found.is_none() {
            return Err(Error::invalid_input(
                "tags",
                format!("tag `{tag}` does not exist in this organization; create it first"),
            ));
        }
    }
    Ok(())
}

pub(crate) fn insert_template(tx: &Db<'_>, org: &OrgCtx, row: &TemplateRow) -> Result<()> {
    if row.org_id != org.org_id() {
        return Err(Error::conflict(
            "a template must belong to the calling organization",
        ));
    }
    check_tags_exist(tx, org, &row.tags)?;
    tx.prepare_cached(template_sql(row.kind).insert)
        .ctx("could not prepare an insert")?
        .execute(params![
            row.id,
            org.org_id().as_uuid(),
            row.name.as_str(),
            tags_json(&row.tags)?,
            row.body,
            row.secrets.to_stored(),
            row.created_at.unix_millis(),
            row.updated_at.unix_millis(),
        ])
        .ctx("could not store the template")?;
    Ok(())
}

pub(crate) fn replace_template(tx: &Db<'_>, org: &OrgCtx, row: &TemplateRow) -> Result<bool> {
    check_tags_exist(tx, org, &row.tags)?;
    let changed = tx
        .prepare_cached(template_sql(row.kind).replace)
        .ctx("could not prepare an update")?
        .execute(params![
            org.org_id().as_uuid(),
            row.id,
            row.name.as_str(),
            tags_json(&row.tags)?,
            row.body,
            row.secrets.to_stored(),
            row.updated_at.unix_millis(),
        ])
        .ctx("could not store the template")?;
    Ok(changed > 0)
}

pub(crate) fn list_templates(
    conn: &Db<'_>,
    org: &OrgCtx,
    kind: TemplateKind,
) -> Result<Vec<TemplateRow>> {
    conn.query_all(
        template_sql(kind).list,
        params![org.org_id().as_uuid()],
        |r| rows::template(kind, r),
    )
}

pub(crate) fn get_template(
    conn: &Db<'_>,
    org: &OrgCtx,
    kind: TemplateKind,
    id: Uuid,
) -> Result<Option<TemplateRow>> {
    conn.query_first(
        template_sql(kind).get,
        params![org.org_id().as_uuid(), id],
        |r| rows::template(kind, r),
    )
}

pub(crate) fn create_tag(tx: &Db<'_>, org: &OrgCtx, name: &Tag, now: Timestamp) -> Result<TagInfo> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO tags (org_id, name, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (org_id, name) DO NOTHING",
        )
        .ctx("could not prepare an insert")?
        .execute(params![
            org.org_id().as_uuid(),
            name.as_str(),
            now.unix_millis()
        ])
        .ctx("could not store the tag")?;
    if inserted == 0 {
        return Err(Error::conflict(format!("tag `{name}` already exists")));
    }
    Ok(TagInfo {
        name: name.clone(),
        created_at: now,
    })
}

/// Rewrites the tag sets of the organization's templates that carry `from`: `to` in its
/// place, or nothing.
fn rewrite_template_tags(tx: &Db<'_>, org: &OrgCtx, from: &Tag, to: Option<&Tag>) -> Result<()> {
    for sql in ALL_TEMPLATES {
        let mut stmt = tx
            .prepare_cached(sql.tags_of_org)
            .ctx("could not prepare a query")?;
        let rows = collect(
            &mut stmt,
            params![org.org_id().as_uuid(), from.as_str()],
            |r| {
                let id: Uuid = r.get(0).ctx("could not read a template id")?;
                let tags: String = r.get(1).ctx("could not read template tags")?;
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
            tx.prepare_cached(sql.set_tags)
                .ctx("could not prepare an update")?
                .execute(params![id, tags_json(&set)?])
                .ctx("could not update template tags")?;
        }
    }
    Ok(())
}

pub(crate) fn rename_tag(tx: &Db<'_>, org: &OrgCtx, from: &Tag, to: &Tag) -> Result<bool> {
    if from == to {
        return tx
            .prepare_cached("SELECT 1 FROM o_tags WHERE org_id = ?1 AND name = ?2")
            .ctx("could not prepare a query")?
            .query_row(params![org.org_id().as_uuid(), from.as_str()], |_| Ok(()))
            .optional()
            .ctx("could not look up a tag")
            .map(|found| found.is_some());
    }
    let taken = tx
        .prepare_cached("SELECT 1 FROM o_tags WHERE org_id = ?1 AND name = ?2")
        .ctx("could not prepare a query")?
        .query_row(params![org.org_id().as_uuid(), to.as_str()], |_| Ok(()))
        .optional()
        .ctx("could not look up a tag")?;
    if taken.is_some() {
        return Err(Error::conflict(format!("tag `{to}` already exists")));
    }
    let renamed = tx
        .prepare_cached("UPDATE tags SET name = ?3 WHERE org_id = ?1 AND name = ?2")
        .ctx("could not prepare an update")?
        .execute(params![org.org_id().as_uuid(), from.as_str(), to.as_str()])
        .ctx("could not rename the tag")?;
    if renamed == 0 {
        return Ok(false);
    }
    rewrite_template_tags(tx, org, from, Some(to))?;
    // Workspace selections follow the rename, so no workspace gains or loses a template.
    let mut stmt = tx
        .prepare_cached(
            "SELECT id, source_tags, source_tags_mode, connection_tags, connection_tags_mode
             FROM o_workspaces WHERE org_id = ?1 AND (
                 EXISTS (SELECT 1 FROM json_each(source_tags) WHERE value = ?2)
                 OR EXISTS (SELECT 1 FROM json_each(connection_tags) WHERE value = ?2))",
        )
        .ctx("could not prepare a query")?;
    let selections = collect(
        &mut stmt,
        params![org.org_id().as_uuid(), from.as_str()],
        |r| {
            let read = |i: usize| -> Result<String> { r.get(i).ctx("could not read a selection") };
            let id: Uuid = r.get(0).ctx("could not read a workspace id")?;
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
        tx.prepare_cached(
            "UPDATE workspaces SET source_tags = ?2, connection_tags = ?3 WHERE id = ?1",
        )
        .ctx("could not prepare an update")?
        .execute(params![id, swap(source), swap(connection)])
        .ctx("could not update a workspace's tags")?;
    }
    Ok(true)
}

pub(crate) fn delete_tag(tx: &Db<'_>, org: &OrgCtx, name: &Tag) -> Result<bool> {
    let deleted = tx
        .prepare_cached("DELETE FROM tags WHERE org_id = ?1 AND name = ?2")
        .ctx("could not prepare a delete")?
        .execute(params![org.org_id().as_uuid(), name.as_str()])
        .ctx("could not delete the tag")?;
    if deleted == 0 {
        return Ok(false);
    }
    rewrite_template_tags(tx, org, name, None)?;
    Ok(true)
}

pub(crate) fn purge_workspace(tx: &Db<'_>, org: &OrgCtx, id: WorkspaceId) -> Result<bool> {
    // The data key goes first, and only for a workspace of this organization: the deletes
    // below key on workspace_id alone, inside that workspace for the isolation guard.
    let shredded = tx
        .prepare_cached("UPDATE workspaces SET sealed_dek = NULL WHERE org_id = ?1 AND id = ?2")
        .ctx("could not prepare an update")?
        .execute(params![org.org_id().as_uuid(), id.as_uuid()])
        .ctx("could not destroy the data key")?;
    if shredded == 0 {
        return Ok(false);
    }
    let _scope = tx.tenant(id);
    for sql in [
        "DELETE FROM sync_runs WHERE workspace_id = ?1",
        "DELETE FROM connections WHERE workspace_id = ?1",
        "DELETE FROM sources WHERE workspace_id = ?1",
        "DELETE FROM destinations WHERE workspace_id = ?1",
        "DELETE FROM revoked_tokens WHERE workspace_id = ?1",
        "DELETE FROM workspaces WHERE id = ?1",
    ] {
        tx.prepare_cached(sql)
            .ctx("could not prepare a delete")?
            .execute(params![id.as_uuid()])
            .ctx("could not delete the workspace")?;
    }
    Ok(true)
}

pub(crate) fn reseal_all(
    tx: &Db<'_>,
    check: &[u8],
    reseal: &mut dyn FnMut(SealedItem<'_>) -> Result<Vec<u8>>,
) -> Result<u64> {
    let mut count = 0u64;
    let read_err = |what: &'static str| {
        move |e: rusqlite::Error| Error::from(bulkhead_core::StorageError::with_source(what, e))
    };

    let mut keys = tx
        .prepare_cached(
            "SELECT org_id, id, sealed_dek FROM workspaces WHERE sealed_dek IS NOT NULL",
        )
        .ctx("could not prepare a query")?;
    let mut rows = keys.query([]).ctx("could not read data keys")?;
    while let Some(row) = rows.next().ctx("could not read a data key")? {
        let org: Uuid = row.get(0).map_err(read_err("could not read an org id"))?;
        let ws: Uuid = row
            .get(1)
            .map_err(read_err("could not read a workspace id"))?;
        let sealed: Vec<u8> = row.get(2).map_err(read_err("could not read a data key"))?;
        let new = reseal(SealedItem::DataKey {
            org_id: OrgId::from_uuid(org)?,
            workspace_id: WorkspaceId::from_uuid(ws)?,
            sealed: &sealed,
        })?;
        tx.prepare_cached("UPDATE workspaces SET sealed_dek = ?2 WHERE id = ?1")
            .ctx("could not prepare an update")?
            .execute(params![ws, new])
            .ctx("could not store a data key")?;
        count += 1;
    }
    drop(rows);
    drop(keys);

    let mut keys = tx
        .prepare_cached("SELECT org_id, kid, sealed_secret FROM signing_keys")
        .ctx("could not prepare a query")?;
    let mut rows = keys.query([]).ctx("could not read signing keys")?;
    while let Some(row) = rows.next().ctx("could not read a signing key")? {
        let org: Uuid = row.get(0).map_err(read_err("could not read an org id"))?;
        let kid: String = row.get(1).map_err(read_err("could not read a kid"))?;
        let sealed: Vec<u8> = row
            .get(2)
            .map_err(read_err("could not read a signing key"))?;
        let new = reseal(SealedItem::SigningKey {
            org_id: OrgId::from_uuid(org)?,
            kid: &kid,
            sealed: &sealed,
        })?;
        tx.prepare_cached("UPDATE signing_keys SET sealed_secret = ?2 WHERE kid = ?1")
            .ctx("could not prepare an update")?
            .execute(params![kid, new])
            .ctx("could not store a signing key")?;
        count += 1;
    }
    drop(rows);
    drop(keys);

    for sql in ALL_TEMPLATES {
        let mut templates = tx
            .prepare_cached(sql.all_secrets)
            .ctx("could not prepare a query")?;
        let mut rows = templates.query([]).ctx("could not read template secrets")?;
        while let Some(row) = rows.next().ctx("could not read a template")? {
            let org: Uuid = row.get(0).map_err(read_err("could not read an org id"))?;
            let id: Uuid = row
                .get(1)
                .map_err(read_err("could not read a template id"))?;
            let stored: String = row
                .get(2)
                .map_err(read_err("could not read template secrets"))?;
            let new = reseal(SealedItem::TemplateSecrets {
                org_id: OrgId::from_uuid(org)?,
                template_id: id,
                stored: &stored,
            })?;
            let new = String::from_utf8(new)
                .map_err(|_| Error::crypto("re-sealed template secrets are not text"))?;
            SealedSecrets::from_stored(&new)?;
            tx.prepare_cached(sql.set_secrets)
                .ctx("could not prepare an update")?
                .execute(params![id, new])
                .ctx("could not store template secrets")?;
            count += 1;
        }
    }

    tx.prepare_cached("UPDATE bulkhead_meta SET value = ?1 WHERE key = 'master_key_check'")
        .ctx("could not prepare an update")?
        .execute(params![check])
        .ctx("could not store the master key check")?;
    Ok(count)
}
