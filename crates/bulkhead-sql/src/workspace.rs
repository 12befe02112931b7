//! The bodies of the port's [`WorkspaceStore`](bulkhead_core::store::WorkspaceStore) that
//! both adapters share. Five methods stay per adapter, where the SQL or the locking really
//! differs: get-or-create (SQLite's group commit), the listing (its text search), the update
//! (pausing connections inside the workspace), the purge and the merge. Each adapter's impl
//! writes those and takes the others from [`workspace_methods!`](crate::workspace_methods).

use bulkhead_core::store::{CreationCount, StatusCount};
use bulkhead_core::{ExternalId, OrgCtx, Result, Timestamp, Workspace, WorkspaceId};

use crate::statements as st;
use crate::{Access, Mode, SqlConn, SqlPool, audit, columns};

/// The `WorkspaceStore` methods both adapters share, as items of an adapter's
/// `impl WorkspaceStore`: each calls this module's function on the pool, the field `$pool`.
#[macro_export]
macro_rules! workspace_methods {
    ($pool:ident) => {
        fn get_workspace(
            &self,
            org: &$crate::__core::OrgCtx,
            id: $crate::__core::WorkspaceId,
        ) -> $crate::__core::Result<Option<$crate::__core::Workspace>> {
            $crate::workspace::get_workspace(&self.$pool, org, id)
        }
        fn find_workspace(
            &self,
            org: &$crate::__core::OrgCtx,
            external_id: &$crate::__core::ExternalId,
        ) -> $crate::__core::Result<Option<$crate::__core::Workspace>> {
            $crate::workspace::find_workspace(&self.$pool, org, external_id)
        }
        fn count_workspaces(
            &self,
            org: &$crate::__core::OrgCtx,
        ) -> $crate::__core::Result<Vec<$crate::__core::store::StatusCount>> {
            $crate::workspace::count_workspaces(&self.$pool, org)
        }
        fn count_workspace_creations(
            &self,
            org: &$crate::__core::OrgCtx,
            since: $crate::__core::Timestamp,
        ) -> $crate::__core::Result<Vec<$crate::__core::store::CreationCount>> {
            $crate::workspace::count_workspace_creations(&self.$pool, org, since)
        }
        fn delete_workspace(
            &self,
            org: &$crate::__core::OrgCtx,
            id: $crate::__core::WorkspaceId,
            at: $crate::__core::Timestamp,
            merged_into: Option<$crate::__core::WorkspaceId>,
        ) -> $crate::__core::Result<Option<$crate::__core::Workspace>> {
            $crate::workspace::delete_workspace(&self.$pool, org, id, at, merged_into)
        }
        fn list_deleted_workspaces(
            &self,
            org: &$crate::__core::OrgCtx,
            before: $crate::__core::Timestamp,
            limit: usize,
        ) -> $crate::__core::Result<Vec<$crate::__core::Workspace>> {
            $crate::workspace::list_deleted_workspaces(&self.$pool, org, before, limit)
        }
        fn revoke_workspace_tokens(
            &self,
            org: &$crate::__core::OrgCtx,
            id: $crate::__core::WorkspaceId,
            at: $crate::__core::Timestamp,
        ) -> $crate::__core::Result<Option<$crate::__core::Workspace>> {
            $crate::workspace::revoke_workspace_tokens(&self.$pool, org, id, at)
        }
    };
}

/// See `WorkspaceStore::get_workspace`.
pub fn get_workspace<P: SqlPool>(
    pool: &P,
    org: &OrgCtx,
    id: WorkspaceId,
) -> Result<Option<Workspace>> {
    pool.run(Access::Org(org.org_id()), Mode::Read, |conn| {
        conn.query_first(
            &st::GET_WORKSPACE,
            &[org.org_id().as_uuid().into(), id.as_uuid().into()],
            |r| columns::workspace(r),
        )
    })
}

/// See `WorkspaceStore::find_workspace`.
pub fn find_workspace<P: SqlPool>(
    pool: &P,
    org: &OrgCtx,
    external_id: &ExternalId,
) -> Result<Option<Workspace>> {
    pool.run(Access::Org(org.org_id()), Mode::Read, |conn| {
        conn.query_first(
            &st::FIND_WORKSPACE,
            &[org.org_id().as_uuid().into(), external_id.as_str().into()],
            |r| columns::workspace(r),
        )
    })
}

/// See `WorkspaceStore::count_workspaces`: each count comes back with the stored `org_id` of
/// the rows it counts, which the engine checks.
pub fn count_workspaces<P: SqlPool>(pool: &P, org: &OrgCtx) -> Result<Vec<StatusCount>> {
    pool.run(Access::Org(org.org_id()), Mode::Read, |conn| {
        conn.query_all(
            &st::COUNT_WORKSPACES,
            &[org.org_id().as_uuid().into()],
            |r| columns::status_count(r),
        )
    })
}

/// See `WorkspaceStore::count_workspace_creations`: the index on `(org_id, created_at)` keeps
/// it to the counted rows; each hour comes back with the stored `org_id`, which the engine
/// checks.
pub fn count_workspace_creations<P: SqlPool>(
    pool: &P,
    org: &OrgCtx,
    since: Timestamp,
) -> Result<Vec<CreationCount>> {
    pool.run(Access::Org(org.org_id()), Mode::Read, |conn| {
        conn.query_all(
            &st::COUNT_WORKSPACE_CREATIONS,
            &[org.org_id().as_uuid().into(), since.unix_millis().into()],
            |r| columns::creation_count(r),
        )
    })
}

/// See `WorkspaceStore::list_deleted_workspaces`.
pub fn list_deleted_workspaces<P: SqlPool>(
    pool: &P,
    org: &OrgCtx,
    before: Timestamp,
    limit: usize,
) -> Result<Vec<Workspace>> {
    pool.run(Access::Org(org.org_id()), Mode::Read, |conn| {
        conn.query_all(
            &st::LIST_DELETED_WORKSPACES,
            &[
                org.org_id().as_uuid().into(),
                before.unix_millis().into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
            |r| columns::workspace(r),
        )
    })
}

/// See `WorkspaceStore::revoke_workspace_tokens`.
pub fn revoke_workspace_tokens<P: SqlPool>(
    pool: &P,
    org: &OrgCtx,
    id: WorkspaceId,
    at: Timestamp,
) -> Result<Option<Workspace>> {
    pool.run(Access::Org(org.org_id()), Mode::Write, |conn| {
        let updated = conn.query_first(
            &st::REVOKE_WORKSPACE_TOKENS,
            &[
                org.org_id().as_uuid().into(),
                id.as_uuid().into(),
                at.unix_millis().into(),
            ],
            |r| columns::workspace(r),
        )?;
        if updated.is_some() {
            audit::append_if(conn, org.org_id(), org.audit())?;
        }
        Ok(updated)
    })
}

/// See `WorkspaceStore::delete_workspace`: only a live workspace becomes a tombstone; its rows
/// stay until the purge, its connections leave the schedule now.
pub fn delete_workspace<P: SqlPool>(
    pool: &P,
    org: &OrgCtx,
    id: WorkspaceId,
    at: Timestamp,
    merged_into: Option<WorkspaceId>,
) -> Result<Option<Workspace>> {
    pool.run(Access::Org(org.org_id()), Mode::Write, |conn| {
        let tombstone = conn.query_first(
            &st::DELETE_WORKSPACE,
            &[
                org.org_id().as_uuid().into(),
                id.as_uuid().into(),
                at.unix_millis().into(),
                merged_into.as_ref().map(WorkspaceId::as_uuid).into(),
            ],
            |r| columns::workspace(r),
        )?;
        if tombstone.is_some() {
            conn.unschedule_workspace(org.org_id(), id)?;
            audit::append_if(conn, org.org_id(), org.audit())?;
        }
        Ok(tombstone)
    })
}
