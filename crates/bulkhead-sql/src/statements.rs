//! The statements the two SQL adapters share, each written once (as SQLite reads it; see
//! [`crate::dialect`] for how the PostgreSQL text is made from it).
//!
//! Every tenant statement filters on `workspace_id = ?1` (and the organization where the row
//! has no workspace), with the ids bound as parameters: the database layer (SQLite's views and
//! triggers, PostgreSQL's row policies) enforces the tenant, the predicates keep each query
//! correct on its own and let it use the indexes. Reads of tenant tables name the `t_` views,
//! reads of the workspace and organization rows the `o_` views, writes the tables.

use bulkhead_core::store::EndpointKind;

use crate::Sql;
use crate::{
    connection_columns, endpoint_columns, listed_endpoint_columns, org_columns, org_key_columns,
    signing_key_columns, sync_run_columns, workspace_columns,
};

/// The statements of one endpoint table (`sources` or `destinations`).
#[derive(Debug)]
pub struct EndpointSql {
    /// Inserts a row of [`endpoint_columns!`].
    pub insert: Sql,
    /// Reads one row by id.
    pub get: Sql,
    /// The first page, by `(created_at, id)`, without `secrets`.
    pub list_first: Sql,
    /// The page after `(created_at, id)`, without `secrets`.
    pub list_after: Sql,
    /// `list_first` with `secrets`.
    pub sealed_first: Sql,
    /// `list_after` with `secrets`.
    pub sealed_after: Sql,
    /// Renames, reconfigures or reseals a row, returning it.
    pub update: Sql,
    /// Counts the connections that use a row.
    pub in_use: Sql,
    /// Deletes a row.
    pub delete: Sql,
    /// Whether a row exists in the workspace.
    pub exists: Sql,
}

macro_rules! endpoint_sql {
    ($table:literal, $reference:literal) => {
        EndpointSql {
            insert: crate::sql!(
                "INSERT INTO ",
                $table,
                " (",
                endpoint_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ),
            get: crate::sql!(
                "SELECT ",
                endpoint_columns!(),
                " FROM t_",
                $table,
                " WHERE workspace_id = ?1 AND id = ?2"
            ),
            list_first: crate::sql!(
                "SELECT ",
                listed_endpoint_columns!(),
                " FROM t_",
                $table,
                " WHERE workspace_id = ?1 ORDER BY created_at, id LIMIT ?2"
            ),
            list_after: crate::sql!(
                "SELECT ",
                listed_endpoint_columns!(),
                " FROM t_",
                $table,
                " WHERE workspace_id = ?1 AND (created_at, id) > (?2, ?3)",
                " ORDER BY created_at, id LIMIT ?4"
            ),
            sealed_first: crate::sql!(
                "SELECT ",
                endpoint_columns!(),
                " FROM t_",
                $table,
                " WHERE workspace_id = ?1 ORDER BY created_at, id LIMIT ?2"
            ),
            sealed_after: crate::sql!(
                "SELECT ",
                endpoint_columns!(),
                " FROM t_",
                $table,
                " WHERE workspace_id = ?1 AND (created_at, id) > (?2, ?3)",
                " ORDER BY created_at, id LIMIT ?4"
            ),
            update: crate::sql!(
                "UPDATE ",
                $table,
                " SET name = COALESCE(?3, name), config = COALESCE(?4, config),",
                " secrets = COALESCE(?5, secrets), updated_at = ?6",
                " WHERE workspace_id = ?1 AND id = ?2 RETURNING ",
                endpoint_columns!()
            ),
            in_use: crate::sql!(
                "SELECT count(*) FROM t_connections WHERE workspace_id = ?1 AND ",
                $reference,
                " = ?2"
            ),
            delete: crate::sql!(
                "DELETE FROM ",
                $table,
                " WHERE workspace_id = ?1 AND id = ?2"
            ),
            exists: crate::sql!(
                "SELECT 1 FROM t_",
                $table,
                " WHERE workspace_id = ?1 AND id = ?2"
            ),
        }
    };
}

/// The statements of `sources`.
pub const SOURCES: EndpointSql = endpoint_sql!("sources", "source_id");
/// The statements of `destinations`.
pub const DESTINATIONS: EndpointSql = endpoint_sql!("destinations", "destination_id");

/// The statements of the endpoint table of `kind`.
pub fn endpoint(kind: EndpointKind) -> &'static EndpointSql {
    match kind {
        EndpointKind::Source => &SOURCES,
        EndpointKind::Destination => &DESTINATIONS,
    }
}

/// A pipeline's destination, made from its template once per workspace.
pub const INSERT_PIPELINE_DESTINATION: Sql = crate::sql!(
    "INSERT INTO destinations (",
    endpoint_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    " ON CONFLICT (workspace_id, template_id) WHERE template_id IS NOT NULL",
    " DO NOTHING"
);

/// The workspace's destination made from a template.
pub const GET_TEMPLATE_DESTINATION: Sql = crate::sql!(
    "SELECT ",
    endpoint_columns!(),
    " FROM t_destinations WHERE workspace_id = ?1 AND template_id = ?2"
);

/// The tenant's own workspace row.
pub const LOAD_WORKSPACE: Sql = crate::sql!(
    "SELECT ",
    workspace_columns!(),
    " FROM o_workspaces WHERE id = ?1 AND org_id = ?2"
);

/// The tenant's workspace row with what checking a token needs (see
/// `columns::token_state`): `?3` the token's `jti`, `?4` its `kid`.
pub const LOAD_TOKEN_STATE: Sql = crate::sql!(
    "SELECT ",
    workspace_columns!(),
    ", (SELECT issuer FROM o_organizations WHERE id = o_workspaces.org_id)",
    ", (SELECT audience FROM o_organizations WHERE id = o_workspaces.org_id)",
    ", EXISTS (SELECT 1 FROM t_revoked_tokens",
    "   WHERE t_revoked_tokens.workspace_id = o_workspaces.id AND jti = ?3)",
    ", (SELECT max_ttl_secs FROM o_organizations WHERE id = o_workspaces.org_id)",
    ", EXISTS (SELECT 1 FROM o_signing_keys",
    "   WHERE kid = ?4 AND o_signing_keys.org_id = o_workspaces.org_id)",
    ", (SELECT retire_at FROM o_signing_keys",
    "   WHERE kid = ?4 AND o_signing_keys.org_id = o_workspaces.org_id)",
    " FROM o_workspaces WHERE id = ?1 AND org_id = ?2"
);

/// Records a revoked token (once).
pub const REVOKE_TOKEN: Sql = crate::sql!(
    "INSERT INTO revoked_tokens (workspace_id, jti, org_id, expires_at)",
    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (workspace_id, jti) DO NOTHING"
);

/// Forgets the workspace's revoked tokens that have expired.
pub const PRUNE_REVOKED_TOKENS: Sql =
    crate::sql!("DELETE FROM revoked_tokens WHERE workspace_id = ?1 AND expires_at < ?2");

/// The workspace's sealed data key, if it has one.
pub const GET_DATA_KEY: Sql =
    crate::sql!("SELECT sealed_dek FROM o_workspaces WHERE id = ?1 AND org_id = ?2");

/// Stores a data key unless one is there; returns the one that stays.
pub const SET_DATA_KEY: Sql = crate::sql!(
    "UPDATE workspaces SET sealed_dek = COALESCE(sealed_dek, ?3)",
    " WHERE id = ?1 AND org_id = ?2 RETURNING sealed_dek"
);

/// Inserts a row of [`connection_columns!`] and `paused_by_workspace`.
pub const INSERT_CONNECTION: Sql = crate::sql!(
    "INSERT INTO connections (",
    connection_columns!(),
    ", paused_by_workspace) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
);

/// One connection.
pub const GET_CONNECTION: Sql = crate::sql!(
    "SELECT ",
    connection_columns!(),
    " FROM t_connections WHERE workspace_id = ?1 AND id = ?2"
);

/// Whether a connection exists in the workspace.
pub const CONNECTION_EXISTS: Sql =
    crate::sql!("SELECT 1 FROM t_connections WHERE workspace_id = ?1 AND id = ?2");

/// The first page of connections.
pub const LIST_CONNECTIONS_FIRST: Sql = crate::sql!(
    "SELECT ",
    connection_columns!(),
    " FROM t_connections WHERE workspace_id = ?1",
    " ORDER BY created_at, id LIMIT ?2"
);

/// The page of connections after `(created_at, id)`.
pub const LIST_CONNECTIONS_AFTER: Sql = crate::sql!(
    "SELECT ",
    connection_columns!(),
    " FROM t_connections WHERE workspace_id = ?1",
    " AND (created_at, id) > (?2, ?3) ORDER BY created_at, id LIMIT ?4"
);

/// Every connection of the workspace.
pub const LIST_ALL_CONNECTIONS: Sql = crate::sql!(
    "SELECT ",
    connection_columns!(),
    " FROM t_connections WHERE workspace_id = ?1 ORDER BY created_at, id"
);

/// Renames, pauses, resumes or reschedules a connection, returning it.
pub const UPDATE_CONNECTION: Sql = crate::sql!(
    "UPDATE connections SET name = COALESCE(?3, name),",
    " status = COALESCE(?4, status), schedule = COALESCE(?5, schedule),",
    " updated_at = ?6 WHERE workspace_id = ?1 AND id = ?2 RETURNING ",
    connection_columns!()
);

/// Deletes a connection's sync history.
pub const DELETE_CONNECTION_RUNS: Sql =
    crate::sql!("DELETE FROM sync_runs WHERE workspace_id = ?1 AND connection_id = ?2");

/// Deletes a connection.
pub const DELETE_CONNECTION: Sql =
    crate::sql!("DELETE FROM connections WHERE workspace_id = ?1 AND id = ?2");

/// Inserts a row of [`sync_run_columns!`] unless its connection has a live run.
pub const INSERT_SYNC_RUN: Sql = crate::sql!(
    "INSERT INTO sync_runs (",
    sync_run_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    " ON CONFLICT (workspace_id, connection_id) WHERE status IN ('pending', 'running')",
    " DO NOTHING"
);

/// One sync run.
pub const GET_SYNC_RUN: Sql = crate::sql!(
    "SELECT ",
    sync_run_columns!(),
    " FROM t_sync_runs WHERE workspace_id = ?1 AND id = ?2"
);

/// The newest sync runs of a connection.
pub const LIST_SYNC_RUNS_FIRST: Sql = crate::sql!(
    "SELECT ",
    sync_run_columns!(),
    " FROM t_sync_runs WHERE workspace_id = ?1 AND connection_id = ?2",
    " ORDER BY started_at DESC, id DESC LIMIT ?3"
);

/// The sync runs of a connection before `(started_at, id)`.
pub const LIST_SYNC_RUNS_BEFORE: Sql = crate::sql!(
    "SELECT ",
    sync_run_columns!(),
    " FROM t_sync_runs WHERE workspace_id = ?1 AND connection_id = ?2",
    " AND (started_at, id) < (?3, ?4)",
    " ORDER BY started_at DESC, id DESC LIMIT ?5"
);

/// Ends a live sync run, returning it.
pub const FINISH_SYNC_RUN: Sql = crate::sql!(
    "UPDATE sync_runs SET status = ?3, finished_at = ?4, rows_synced = ?5,",
    " bytes_synced = ?6, error = ?7",
    " WHERE workspace_id = ?1 AND id = ?2 AND status IN ('pending', 'running')",
    " RETURNING ",
    sync_run_columns!()
);

/// The number of sources of the workspace.
pub const COUNT_SOURCES: Sql =
    crate::sql!("SELECT count(*) FROM t_sources WHERE workspace_id = ?1");

/// The newest run of each connection of the workspace, by connection id. PostgreSQL has
/// `DISTINCT ON`; SQLite asks for the runs with no newer one.
pub const LATEST_SYNC_RUNS: Sql = crate::sql!(
    sqlite: concat!(
        "SELECT ",
        sync_run_columns!(),
        " FROM t_sync_runs AS r WHERE workspace_id = ?1 AND NOT EXISTS (",
        "SELECT 1 FROM t_sync_runs AS n WHERE n.workspace_id = ?1",
        " AND n.connection_id = r.connection_id",
        " AND (n.started_at, n.id) > (r.started_at, r.id))",
        " ORDER BY connection_id"
    ),
    postgres: concat!(
        "SELECT DISTINCT ON (connection_id) ",
        sync_run_columns!(),
        " FROM sync_runs WHERE workspace_id = $1",
        " ORDER BY connection_id, started_at DESC, id DESC"
    ),
);

/// The rows and bytes the workspace's runs synced, in all and since `?2`. PostgreSQL's
/// `sum` of a `bigint` is a `numeric`, hence the casts, and it has `FILTER`.
pub const SYNC_TOTALS: Sql = crate::sql!(
    sqlite: concat!(
        "SELECT COALESCE(sum(rows_synced), 0), COALESCE(sum(bytes_synced), 0),",
        " COALESCE(sum(CASE WHEN started_at >= ?2 THEN rows_synced ELSE 0 END), 0),",
        " COALESCE(sum(CASE WHEN started_at >= ?2 THEN bytes_synced ELSE 0 END), 0)",
        " FROM t_sync_runs WHERE workspace_id = ?1"
    ),
    postgres: concat!(
        "SELECT COALESCE(sum(rows_synced), 0)::bigint,",
        " COALESCE(sum(bytes_synced), 0)::bigint,",
        " COALESCE(sum(rows_synced) FILTER (WHERE started_at >= $2), 0)::bigint,",
        " COALESCE(sum(bytes_synced) FILTER (WHERE started_at >= $2), 0)::bigint",
        " FROM sync_runs WHERE workspace_id = $1"
    ),
);

/// Inserts a row of [`org_columns!`].
pub const INSERT_ORGANIZATION: Sql = crate::sql!(
    "INSERT INTO organizations (",
    org_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
);

/// Replaces an organization's settings, returning its row.
pub const UPDATE_ORG_SETTINGS: Sql = crate::sql!(
    "UPDATE organizations SET token_algorithm = ?2, issuer = ?3, audience = ?4,",
    " default_ttl_secs = ?5, max_ttl_secs = ?6, workspace_creation_burst = ?7,",
    " workspace_creation_rate = ?8 WHERE id = ?1 RETURNING ",
    org_columns!()
);

/// Inserts a row of [`org_key_columns!`].
pub const INSERT_ORG_KEY: Sql = crate::sql!(
    "INSERT INTO org_keys (",
    org_key_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
);

/// The organization's keys, oldest first.
pub const LIST_ORG_KEYS: Sql = crate::sql!(
    "SELECT ",
    org_key_columns!(),
    " FROM o_org_keys WHERE org_id = ?1 ORDER BY created_at, id"
);

/// Revokes an org key (keeping the first revocation time), returning it.
pub const REVOKE_ORG_KEY: Sql = crate::sql!(
    "UPDATE org_keys SET revoked_at = COALESCE(revoked_at, ?3)",
    " WHERE org_id = ?1 AND id = ?2 RETURNING ",
    org_key_columns!()
);

/// Inserts a row of [`signing_key_columns!`].
pub const INSERT_SIGNING_KEY: Sql = crate::sql!(
    "INSERT INTO signing_keys (",
    signing_key_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
);

/// Schedules the retirement of the organization's signer.
pub const RETIRE_SIGNER: Sql =
    crate::sql!("UPDATE signing_keys SET retire_at = ?2 WHERE org_id = ?1 AND retire_at IS NULL");

/// Deletes the organization's signing keys retired by `?2`.
pub const DELETE_RETIRED_SIGNING_KEYS: Sql =
    crate::sql!("DELETE FROM signing_keys WHERE org_id = ?1 AND retire_at <= ?2");

/// Moves a signing key's retirement to `?3`, unless it retires earlier already.
pub const RETIRE_SIGNING_KEY: Sql = crate::sql!(
    "UPDATE signing_keys SET retire_at = ?3",
    " WHERE org_id = ?1 AND kid = ?2 AND (retire_at IS NULL OR retire_at > ?3)"
);

/// The organization's signing keys: the signer (no retirement time) first, even when a
/// rotation made it within the millisecond of the key it replaced.
pub const LIST_SIGNING_KEYS: Sql = crate::sql!(
    "SELECT ",
    signing_key_columns!(),
    " FROM o_signing_keys WHERE org_id = ?1",
    " ORDER BY retire_at IS NOT NULL, created_at DESC, kid"
);

/// Stores the master-key check value, unless one is stored.
pub const STORE_MASTER_KEY_CHECK: Sql = crate::sql!(
    "INSERT INTO bulkhead_meta (key, value) VALUES ('master_key_check', ?1)",
    " ON CONFLICT (key) DO NOTHING"
);

/// The stored master-key check value.
pub const GET_MASTER_KEY_CHECK: Sql =
    crate::sql!("SELECT value FROM bulkhead_meta WHERE key = 'master_key_check'");

/// One organization.
pub const GET_ORGANIZATION: Sql = crate::sql!(
    "SELECT ",
    org_columns!(),
    " FROM o_organizations WHERE id = ?1"
);

/// Every organization, oldest first (the operator's list, in system mode: no view).
pub const LIST_ORGANIZATIONS: Sql = crate::sql!(
    "SELECT ",
    org_columns!(),
    " FROM organizations ORDER BY created_at, id"
);

/// The org key with this SHA-256 (a credential lookup, in system mode: no view).
pub const FIND_ORG_KEY: Sql = crate::sql!(
    "SELECT ",
    org_key_columns!(),
    " FROM org_keys WHERE hash = ?1"
);

/// Records an org key's use.
pub const TOUCH_ORG_KEY: Sql = crate::sql!("UPDATE org_keys SET last_used_at = ?2 WHERE id = ?1");

/// The signing key with this `kid` (a credential lookup, in system mode: no view).
pub const FIND_SIGNING_KEY: Sql = crate::sql!(
    "SELECT ",
    signing_key_columns!(),
    " FROM signing_keys WHERE kid = ?1"
);

/// The last event of an organization's audit chain.
pub const LAST_AUDIT_EVENT: Sql =
    crate::sql!("SELECT seq, hash FROM o_audit_log WHERE org_id = ?1 ORDER BY seq DESC LIMIT 1");

/// Appends an event to an organization's audit chain.
pub const APPEND_AUDIT_EVENT: Sql = crate::sql!(
    "INSERT INTO audit_log (org_id, seq, at, actor, action, workspace_id, target, outcome,",
    " prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
);

/// The columns `audit::event` reads.
macro_rules! audit_columns {
    () => {
        "org_id, seq, at, actor, action, workspace_id, target, outcome, prev_hash, hash"
    };
}

/// Events of an organization matching a filter, after `?2`, in chain order. PostgreSQL needs
/// the optional filters' types spelled out.
pub const LIST_AUDIT: Sql = crate::sql!(
    sqlite: concat!(
        "SELECT ",
        audit_columns!(),
        " FROM o_audit_log WHERE org_id = ?1 AND seq > ?2",
        " AND (?3 IS NULL OR workspace_id = ?3) AND (?4 IS NULL OR action = ?4)",
        " AND (?5 IS NULL OR at >= ?5) AND (?6 IS NULL OR at < ?6)",
        " ORDER BY seq LIMIT ?7"
    ),
    postgres: concat!(
        "SELECT ",
        audit_columns!(),
        " FROM audit_log WHERE org_id = $1 AND seq > $2",
        " AND ($3::uuid IS NULL OR workspace_id = $3::uuid)",
        " AND ($4::text IS NULL OR action = $4::text)",
        " AND ($5::bigint IS NULL OR at >= $5::bigint)",
        " AND ($6::bigint IS NULL OR at < $6::bigint)",
        " ORDER BY seq LIMIT $7"
    ),
);

/// Events of an organization matching a filter, before `?2`, newest first.
pub const LIST_AUDIT_NEWEST: Sql = crate::sql!(
    sqlite: concat!(
        "SELECT ",
        audit_columns!(),
        " FROM o_audit_log WHERE org_id = ?1 AND seq < ?2",
        " AND (?3 IS NULL OR workspace_id = ?3) AND (?4 IS NULL OR action = ?4)",
        " AND (?5 IS NULL OR at >= ?5) AND (?6 IS NULL OR at < ?6)",
        " ORDER BY seq DESC LIMIT ?7"
    ),
    postgres: concat!(
        "SELECT ",
        audit_columns!(),
        " FROM audit_log WHERE org_id = $1 AND seq < $2",
        " AND ($3::uuid IS NULL OR workspace_id = $3::uuid)",
        " AND ($4::text IS NULL OR action = $4::text)",
        " AND ($5::bigint IS NULL OR at >= $5::bigint)",
        " AND ($6::bigint IS NULL OR at < $6::bigint)",
        " ORDER BY seq DESC LIMIT $7"
    ),
);

/// Makes a live workspace a tombstone, returning it.
pub const DELETE_WORKSPACE: Sql = crate::sql!(
    "UPDATE workspaces SET deleted_at = ?3, merged_into = ?4, updated_at = ?3",
    " WHERE org_id = ?1 AND id = ?2 AND deleted_at IS NULL RETURNING ",
    workspace_columns!()
);

/// One workspace of the organization.
pub const GET_WORKSPACE: Sql = crate::sql!(
    "SELECT ",
    workspace_columns!(),
    " FROM o_workspaces WHERE org_id = ?1 AND id = ?2"
);

/// The workspace of the organization with this external id.
pub const FIND_WORKSPACE: Sql = crate::sql!(
    "SELECT ",
    workspace_columns!(),
    " FROM o_workspaces WHERE org_id = ?1 AND external_id = ?2"
);

/// The organization's live workspaces, counted by status.
pub const COUNT_WORKSPACES: Sql = crate::sql!(
    "SELECT org_id, status, count(*) FROM o_workspaces",
    " WHERE org_id = ?1 AND deleted_at IS NULL",
    " GROUP BY org_id, status ORDER BY status"
);

/// The organization's workspaces created since `?2`, counted by hour.
pub const COUNT_WORKSPACE_CREATIONS: Sql = crate::sql!(
    "SELECT org_id, (created_at / 3600000) * 3600000 AS hour, count(*)",
    " FROM o_workspaces WHERE org_id = ?1 AND created_at >= ?2",
    " GROUP BY org_id, hour ORDER BY hour"
);

/// The organization's tombstones deleted by `?2`, oldest first.
pub const LIST_DELETED_WORKSPACES: Sql = crate::sql!(
    "SELECT ",
    workspace_columns!(),
    " FROM o_workspaces WHERE org_id = ?1 AND deleted_at IS NOT NULL",
    " AND deleted_at <= ?2 ORDER BY deleted_at, id LIMIT ?3"
);

/// Refuses the workspace's tokens issued before `?3` (keeping a later time), returning it.
/// SQLite's two-argument `max` is PostgreSQL's `GREATEST`.
pub const REVOKE_WORKSPACE_TOKENS: Sql = crate::sql!(
    sqlite: concat!(
        "UPDATE workspaces SET tokens_valid_after = MAX(COALESCE(tokens_valid_after, ?3), ?3),",
        " updated_at = ?3 WHERE org_id = ?1 AND id = ?2 RETURNING ",
        workspace_columns!()
    ),
    postgres: concat!(
        "UPDATE workspaces",
        " SET tokens_valid_after = GREATEST(COALESCE(tokens_valid_after, $3), $3),",
        " updated_at = $3 WHERE org_id = $1 AND id = $2 RETURNING ",
        workspace_columns!()
    ),
);
