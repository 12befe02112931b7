//! The schema, its Row Level Security policies, and the migrations that make them.
//!
//! Migrations run as the **owner** role, each in its own transaction under an advisory lock
//! (two processes starting at once apply a migration once). Queries run as the **restricted**
//! role, which owns nothing, has no `BYPASSRLS`, and is granted row access only; see
//! [`grant`].
//!
//! The schema means what the SQLite schema of `bulkhead-sqlite` means (same tables, columns,
//! keys and checks; times are milliseconds since the epoch in `bigint`, ids are `uuid`, sealed
//! values `bytea`; ordered text is `COLLATE "C"`, the byte order SQLite uses). The tenant
//! tables (`sources`, `destinations`, `connections`, `sync_runs`, `revoked_tokens`) have
//! primary and unique keys that all start with `workspace_id`, and reference each other by
//! keys that include it, so Citus can distribute them by `workspace_id` as they are; the
//! organization-level tables are small reference tables.
//!
//! # Policies
//!
//! Every table with tenant or organization rows has Row Level Security enabled **and forced**
//! (so the owner is held to it too). The policies read transaction-local settings that each
//! call sets with `set_config(..., true)` (see [`crate::pool`]); an unset setting is `''`,
//! which `NULLIF` turns into `NULL`, which matches no row:
//!
//! - tenant tables: `workspace_id = bulkhead.workspace_id`, for select, insert, update and
//!   delete, as `USING` and `WITH CHECK`;
//! - `workspaces`: the rows of `bulkhead.org_id`, and only the one of `bulkhead.workspace_id`
//!   when that is set;
//! - `organizations`: the row of `bulkhead.org_id`; an operator listing
//!   (`bulkhead.operator = 'list'`) may read every row, and write none;
//! - `org_keys`, `signing_keys`, `tags`, templates: the rows of `bulkhead.org_id`; a
//!   credential lookup may read the one key it names by hash (`bulkhead.key_hash`) or `kid`
//!   (`bulkhead.kid`), and record the use of the one org key it names (`bulkhead.key_id`);
//! - the job queue (migration 6, see [`crate::jobs`]): `sync_queue` is a tenant table; the
//!   scheduler's counters `sched_org` and `sched_workspace` are rows of `bulkhead.org_id` (a
//!   workspace's only to itself while `bulkhead.workspace_id` is set); a claim
//!   (`bulkhead.queue = 'claim'`) may read all three, ids and counters only, and write none.

use bulkhead_core::{Result, StorageError};
use postgres::Client;

use crate::Ctx;

/// The tables whose rows belong to one workspace (distributed by `workspace_id`).
pub const TENANT_TABLES: [&str; 7] = [
    "sources",
    "destinations",
    "connections",
    "sync_runs",
    "revoked_tokens",
    "sync_queue",
    "sched_connection",
];

/// The tables whose rows belong to one organization, or to none (Citus reference tables).
pub const REFERENCE_TABLES: [&str; 13] = [
    "bulkhead_migrations",
    "bulkhead_meta",
    "organizations",
    "workspaces",
    "org_keys",
    "signing_keys",
    "tags",
    "source_templates",
    "connection_templates",
    "audit_log",
    "sched_global",
    "sched_org",
    "sched_workspace",
];

/// The migrations, in order; `MIGRATIONS[n]` takes the schema to version `n + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: everything SQLite's migrations 1-4 make, and the policies.
    r#"
    CREATE TABLE bulkhead_meta (
        key   text  NOT NULL PRIMARY KEY,
        value bytea NOT NULL
    );

    CREATE TABLE organizations (
        id                       uuid   NOT NULL PRIMARY KEY,
        name                     text   NOT NULL,
        created_at               bigint NOT NULL,
        token_algorithm          text   NOT NULL DEFAULT 'HS256'
            CHECK (token_algorithm IN ('HS256', 'EdDSA')),
        issuer                   text   NOT NULL DEFAULT 'bulkhead',
        audience                 text   NOT NULL DEFAULT 'bulkhead-workspace',
        default_ttl_secs         bigint NOT NULL DEFAULT 1200,
        max_ttl_secs             bigint NOT NULL DEFAULT 3600,
        workspace_creation_burst bigint NOT NULL DEFAULT 100
            CHECK (workspace_creation_burst > 0),
        workspace_creation_rate  bigint NOT NULL DEFAULT 10
            CHECK (workspace_creation_rate > 0)
    );

    CREATE TABLE workspaces (
        id                   uuid   NOT NULL PRIMARY KEY,
        org_id               uuid   NOT NULL REFERENCES organizations (id),
        external_id          text   COLLATE "C" NOT NULL,
        name                 text   NOT NULL,
        status               text   NOT NULL CHECK (status IN ('active', 'inactive')),
        created_at           bigint NOT NULL,
        updated_at           bigint NOT NULL,
        source_tags          text   NOT NULL DEFAULT '[]',
        source_tags_mode     text   NOT NULL DEFAULT 'any'
            CHECK (source_tags_mode IN ('any', 'all')),
        connection_tags      text   NOT NULL DEFAULT '[]',
        connection_tags_mode text   NOT NULL DEFAULT 'any'
            CHECK (connection_tags_mode IN ('any', 'all')),
        tokens_valid_after   bigint,
        sealed_dek           bytea,
        UNIQUE (org_id, external_id),
        UNIQUE (org_id, id)
    );

    CREATE TABLE sources (
        workspace_id uuid   NOT NULL,
        id           uuid   NOT NULL,
        org_id       uuid   NOT NULL,
        name         text   NOT NULL,
        connector    text   NOT NULL,
        config       text   NOT NULL,
        created_at   bigint NOT NULL,
        updated_at   bigint NOT NULL,
        template_id  uuid,
        secrets      text   NOT NULL DEFAULT '{}',
        PRIMARY KEY (workspace_id, id),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id)
    );
    CREATE INDEX sources_by_created ON sources (workspace_id, created_at, id);

    CREATE TABLE destinations (
        workspace_id uuid   NOT NULL,
        id           uuid   NOT NULL,
        org_id       uuid   NOT NULL,
        name         text   NOT NULL,
        connector    text   NOT NULL,
        config       text   NOT NULL,
        created_at   bigint NOT NULL,
        updated_at   bigint NOT NULL,
        template_id  uuid,
        secrets      text   NOT NULL DEFAULT '{}',
        PRIMARY KEY (workspace_id, id),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id)
    );
    CREATE INDEX destinations_by_created ON destinations (workspace_id, created_at, id);
    -- One destination per connection template per workspace: what sources made from
    -- templates share.
    CREATE UNIQUE INDEX destinations_by_template ON destinations (workspace_id, template_id)
        WHERE template_id IS NOT NULL;

    CREATE TABLE connections (
        workspace_id   uuid   NOT NULL,
        id             uuid   NOT NULL,
        org_id         uuid   NOT NULL,
        name           text   NOT NULL,
        source_id      uuid   NOT NULL,
        destination_id uuid   NOT NULL,
        status         text   NOT NULL CHECK (status IN ('active', 'inactive')),
        schedule       text   NOT NULL,
        created_at     bigint NOT NULL,
        updated_at     bigint NOT NULL,
        PRIMARY KEY (workspace_id, id),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id),
        FOREIGN KEY (workspace_id, source_id) REFERENCES sources (workspace_id, id),
        FOREIGN KEY (workspace_id, destination_id) REFERENCES destinations (workspace_id, id)
    );
    CREATE INDEX connections_by_created ON connections (workspace_id, created_at, id);
    CREATE INDEX connections_by_source ON connections (workspace_id, source_id);
    CREATE INDEX connections_by_destination ON connections (workspace_id, destination_id);

    CREATE TABLE sync_runs (
        workspace_id  uuid   NOT NULL,
        id            uuid   NOT NULL,
        org_id        uuid   NOT NULL,
        connection_id uuid   NOT NULL,
        status        text   NOT NULL
            CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
        started_at    bigint NOT NULL,
        finished_at   bigint,
        rows_synced   bigint NOT NULL CHECK (rows_synced >= 0),
        bytes_synced  bigint NOT NULL CHECK (bytes_synced >= 0),
        error         text,
        PRIMARY KEY (workspace_id, id),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id),
        FOREIGN KEY (workspace_id, connection_id) REFERENCES connections (workspace_id, id)
    );
    CREATE INDEX sync_runs_by_connection
        ON sync_runs (workspace_id, connection_id, started_at, id);

    -- Only the SHA-256 of an org access key is stored, never the key.
    CREATE TABLE org_keys (
        id           uuid   NOT NULL PRIMARY KEY,
        org_id       uuid   NOT NULL REFERENCES organizations (id),
        prefix       text   NOT NULL,
        hash         bytea  NOT NULL UNIQUE,
        created_at   bigint NOT NULL,
        expires_at   bigint,
        last_used_at bigint,
        revoked_at   bigint
    );
    CREATE INDEX org_keys_by_org ON org_keys (org_id, created_at);

    -- Secrets are sealed under the master key (AES-256-GCM), bound to org id and kid.
    CREATE TABLE signing_keys (
        kid           text   COLLATE "C" NOT NULL PRIMARY KEY,
        org_id        uuid   NOT NULL REFERENCES organizations (id),
        algorithm     text   NOT NULL CHECK (algorithm IN ('HS256', 'EdDSA')),
        sealed_secret bytea  NOT NULL,
        public_key    bytea,
        created_at    bigint NOT NULL,
        retire_at     bigint
    );
    CREATE INDEX signing_keys_by_org ON signing_keys (org_id, created_at);

    CREATE TABLE revoked_tokens (
        workspace_id uuid   NOT NULL,
        jti          text   NOT NULL,
        org_id       uuid   NOT NULL,
        expires_at   bigint NOT NULL,
        PRIMARY KEY (workspace_id, jti),
        FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id)
    );

    CREATE TABLE tags (
        org_id     uuid   NOT NULL REFERENCES organizations (id),
        name       text   COLLATE "C" NOT NULL,
        created_at bigint NOT NULL,
        PRIMARY KEY (org_id, name)
    );

    -- Kind-specific fields are JSON in `body`; secret fields are sealed under the master key
    -- in `secrets` and masked in `body`.
    CREATE TABLE source_templates (
        id         uuid   NOT NULL PRIMARY KEY,
        org_id     uuid   NOT NULL REFERENCES organizations (id),
        name       text   NOT NULL,
        tags       text   NOT NULL,
        body       text   NOT NULL,
        secrets    text   NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL
    );
    CREATE INDEX source_templates_by_org ON source_templates (org_id, created_at);

    CREATE TABLE connection_templates (
        id         uuid   NOT NULL PRIMARY KEY,
        org_id     uuid   NOT NULL REFERENCES organizations (id),
        name       text   NOT NULL,
        tags       text   NOT NULL,
        body       text   NOT NULL,
        secrets    text   NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL
    );
    CREATE INDEX connection_templates_by_org ON connection_templates (org_id, created_at);

    -- Row Level Security. The settings are transaction-local; unset, they are '' -> NULL,
    -- which matches nothing.
    DO $policies$
    DECLARE
        t text;
        ws   constant text := $$(workspace_id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid)$$;
        org  constant text := $$(org_id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid)$$;
    BEGIN
        FOREACH t IN ARRAY ARRAY['sources', 'destinations', 'connections', 'sync_runs',
                                 'revoked_tokens'] LOOP
            EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
            EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
            EXECUTE format('CREATE POLICY tenant_select ON %I FOR SELECT USING %s', t, ws);
            EXECUTE format('CREATE POLICY tenant_insert ON %I FOR INSERT WITH CHECK %s', t, ws);
            EXECUTE format('CREATE POLICY tenant_update ON %I FOR UPDATE USING %s WITH CHECK %s',
                           t, ws, ws);
            EXECUTE format('CREATE POLICY tenant_delete ON %I FOR DELETE USING %s', t, ws);
        END LOOP;
        FOREACH t IN ARRAY ARRAY['org_keys', 'signing_keys', 'tags', 'source_templates',
                                 'connection_templates'] LOOP
            EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
            EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
            EXECUTE format('CREATE POLICY org_select ON %I FOR SELECT USING %s', t, org);
            EXECUTE format('CREATE POLICY org_insert ON %I FOR INSERT WITH CHECK %s', t, org);
            EXECUTE format('CREATE POLICY org_update ON %I FOR UPDATE USING %s WITH CHECK %s',
                           t, org, org);
            EXECUTE format('CREATE POLICY org_delete ON %I FOR DELETE USING %s', t, org);
        END LOOP;
    END
    $policies$;

    -- A workspace is seen by its organization, and only by itself when a workspace is set.
    ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
    ALTER TABLE workspaces FORCE ROW LEVEL SECURITY;
    CREATE POLICY org_all ON workspaces FOR ALL
        USING (org_id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid
               AND (NULLIF(current_setting('bulkhead.workspace_id', true), '') IS NULL
                    OR id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid))
        WITH CHECK (org_id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid
               AND (NULLIF(current_setting('bulkhead.workspace_id', true), '') IS NULL
                    OR id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid));

    ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
    ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
    CREATE POLICY org_all ON organizations FOR ALL
        USING (id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid)
        WITH CHECK (id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid);
    CREATE POLICY operator_list ON organizations FOR SELECT
        USING (current_setting('bulkhead.operator', true) = 'list');

    -- Credential lookups before any organization is known: exactly the key named.
    CREATE POLICY lookup_by_hash ON org_keys FOR SELECT
        USING (hash = decode(NULLIF(current_setting('bulkhead.key_hash', true), ''), 'hex'));
    CREATE POLICY lookup_by_id ON org_keys FOR SELECT
        USING (id = NULLIF(current_setting('bulkhead.key_id', true), '')::uuid);
    CREATE POLICY touch_by_id ON org_keys FOR UPDATE
        USING (id = NULLIF(current_setting('bulkhead.key_id', true), '')::uuid)
        WITH CHECK (id = NULLIF(current_setting('bulkhead.key_id', true), '')::uuid);
    CREATE POLICY lookup_by_kid ON signing_keys FOR SELECT
        USING (kid = NULLIF(current_setting('bulkhead.kid', true), ''));
    "#,
    // 2: the audit log, one hash chain per organization (see bulkhead_core::audit). Select
    // and insert only: no policy lets the restricted role change or delete an event.
    r#"
    CREATE TABLE audit_log (
        org_id       uuid   NOT NULL REFERENCES organizations (id),
        seq          bigint NOT NULL CHECK (seq > 0),
        at           bigint NOT NULL,
        actor        text   NOT NULL,
        action       text   NOT NULL,
        workspace_id uuid,
        target       text   NOT NULL,
        outcome      text   NOT NULL,
        prev_hash    bytea  NOT NULL,
        hash         bytea  NOT NULL,
        PRIMARY KEY (org_id, seq)
    );
    CREATE INDEX audit_log_by_workspace ON audit_log (org_id, workspace_id, seq);
    ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
    ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
    CREATE POLICY org_select ON audit_log FOR SELECT
        USING (org_id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid);
    CREATE POLICY org_insert ON audit_log FOR INSERT
        WITH CHECK (org_id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid);
    "#,
    // 3: workspace tombstones (kept with their rows until purged), and the connections a
    // workspace paused when it was made inactive, to resume exactly those.
    r#"
    ALTER TABLE workspaces ADD COLUMN deleted_at bigint;
    ALTER TABLE workspaces ADD COLUMN merged_into uuid;
    ALTER TABLE connections ADD COLUMN paused_by_workspace boolean NOT NULL DEFAULT false;
    CREATE INDEX workspaces_deleted ON workspaces (org_id, deleted_at)
        WHERE deleted_at IS NOT NULL;
    "#,
    // 4: at most one running sync per connection, kept by the database. Runs left running
    // side by side from before this rule are ended as cancelled, all but the latest. The
    // owner is held to the policies too (FORCE), so the clean-up lifts that for itself,
    // inside this transaction only.
    r#"
    ALTER TABLE sync_runs NO FORCE ROW LEVEL SECURITY;
    UPDATE sync_runs SET status = 'cancelled',
        finished_at = (extract(epoch FROM clock_timestamp()) * 1000)::bigint
    WHERE status = 'running' AND EXISTS (
        SELECT 1 FROM sync_runs AS later
        WHERE later.workspace_id = sync_runs.workspace_id
          AND later.connection_id = sync_runs.connection_id
          AND later.status = 'running'
          AND (later.started_at > sync_runs.started_at
               OR (later.started_at = sync_runs.started_at AND later.id > sync_runs.id)));
    ALTER TABLE sync_runs FORCE ROW LEVEL SECURITY;
    CREATE UNIQUE INDEX sync_runs_one_running ON sync_runs (workspace_id, connection_id)
        WHERE status = 'running';
    "#,
    // 5: workspace creations counted by hour over a recent range (the organization's
    // dashboard) read only the rows in the range.
    r#"
    CREATE INDEX workspaces_created ON workspaces (org_id, created_at);
    "#,
    // 6: the job queue (bulkhead_core::jobs, crate::jobs), what SQLite's migration 9 makes.
    // A job is a sync run; the queue tables hold ids and counters only. At most one pending
    // or running run per connection (a queued job counts like a running run): runs left
    // pending or running side by side are ended as cancelled, all but the latest, and
    // pending runs from before the queue (which nothing would run) too.
    r#"
    ALTER TABLE sync_runs NO FORCE ROW LEVEL SECURITY;
    UPDATE sync_runs SET status = 'cancelled',
        finished_at = (extract(epoch FROM clock_timestamp()) * 1000)::bigint
    WHERE status IN ('pending', 'running') AND EXISTS (
        SELECT 1 FROM sync_runs AS later
        WHERE later.workspace_id = sync_runs.workspace_id
          AND later.connection_id = sync_runs.connection_id
          AND later.status IN ('pending', 'running')
          AND (later.started_at > sync_runs.started_at
               OR (later.started_at = sync_runs.started_at AND later.id > sync_runs.id)));
    UPDATE sync_runs SET status = 'cancelled',
        finished_at = (extract(epoch FROM clock_timestamp()) * 1000)::bigint
    WHERE status = 'pending';
    ALTER TABLE sync_runs FORCE ROW LEVEL SECURITY;
    DROP INDEX sync_runs_one_running;
    CREATE UNIQUE INDEX sync_runs_one_live ON sync_runs (workspace_id, connection_id)
        WHERE status IN ('pending', 'running');

    -- Fencing tokens: a sequence only grows, across every process on the database.
    CREATE SEQUENCE sync_queue_tokens AS bigint MINVALUE 1 NO CYCLE;

    -- The organizations' virtual-time floor: one row.
    CREATE TABLE sched_global (
        id        integer NOT NULL PRIMARY KEY CHECK (id = 1),
        org_floor bigint  NOT NULL
    );
    INSERT INTO sched_global (id, org_floor) VALUES (1, 0);

    CREATE TABLE sched_org (
        id       uuid    NOT NULL PRIMARY KEY,
        weight   integer NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
        cap      integer CHECK (cap IS NULL OR cap > 0),
        vtime    bigint  NOT NULL DEFAULT 0,
        ws_floor bigint  NOT NULL DEFAULT 0,
        queued   bigint  NOT NULL DEFAULT 0 CHECK (queued >= 0),
        running  bigint  NOT NULL DEFAULT 0 CHECK (running >= 0)
    );
    CREATE INDEX sched_org_ready ON sched_org (vtime, id) WHERE queued > 0;

    CREATE TABLE sched_workspace (
        id      uuid    NOT NULL PRIMARY KEY,
        org_id  uuid    NOT NULL,
        weight  integer NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
        cap     integer CHECK (cap IS NULL OR cap > 0),
        vtime   bigint  NOT NULL DEFAULT 0,
        queued  bigint  NOT NULL DEFAULT 0 CHECK (queued >= 0),
        running bigint  NOT NULL DEFAULT 0 CHECK (running >= 0)
    );
    CREATE INDEX sched_workspace_ready ON sched_workspace (org_id, vtime, id) WHERE queued > 0;

    -- A tenant table: its run's key, and it leaves with its run.
    CREATE TABLE sync_queue (
        workspace_id  uuid    NOT NULL,
        id            uuid    NOT NULL,
        org_id        uuid    NOT NULL,
        connection_id uuid    NOT NULL,
        state         text    NOT NULL CHECK (state IN ('scheduled', 'queued', 'running')),
        attempt       integer NOT NULL CHECK (attempt >= 0),
        max_attempts  integer NOT NULL CHECK (max_attempts > 0),
        run_at        bigint  NOT NULL,
        lease_token   bigint,
        lease_until   bigint,
        worker        text,
        PRIMARY KEY (workspace_id, id),
        FOREIGN KEY (workspace_id, id) REFERENCES sync_runs (workspace_id, id) ON DELETE CASCADE,
        CHECK ((state = 'running') = (lease_token IS NOT NULL AND lease_until IS NOT NULL))
    );
    CREATE UNIQUE INDEX sync_queue_one_live ON sync_queue (workspace_id, connection_id);
    CREATE INDEX sync_queue_ready ON sync_queue (workspace_id, run_at, id)
        WHERE state = 'queued';
    CREATE INDEX sync_queue_scheduled ON sync_queue (run_at) WHERE state = 'scheduled';
    CREATE INDEX sync_queue_leases ON sync_queue (lease_until) WHERE state = 'running';

    -- The counters follow the queue rows whatever writes them (a claim, a cancel, a
    -- connection or workspace deleted with its runs). They run as the caller, under its
    -- scope: the job's own workspace.
    CREATE FUNCTION sync_queue_count() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
        dq bigint := 0;
        dr bigint := 0;
        ws uuid;
        org uuid;
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO sched_org (id) VALUES (NEW.org_id) ON CONFLICT (id) DO NOTHING;
            INSERT INTO sched_workspace (id, org_id) VALUES (NEW.workspace_id, NEW.org_id)
                ON CONFLICT (id) DO NOTHING;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            dq := dq + (NEW.state = 'queued')::int;
            dr := dr + (NEW.state = 'running')::int;
            ws := NEW.workspace_id;
            org := NEW.org_id;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            dq := dq - (OLD.state = 'queued')::int;
            dr := dr - (OLD.state = 'running')::int;
            ws := OLD.workspace_id;
            org := OLD.org_id;
        END IF;
        IF dq <> 0 OR dr <> 0 THEN
            UPDATE sched_workspace SET queued = queued + dq, running = running + dr
                WHERE id = ws;
            UPDATE sched_org SET queued = queued + dq, running = running + dr WHERE id = org;
        END IF;
        RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER sync_queue_added AFTER INSERT ON sync_queue
        FOR EACH ROW EXECUTE FUNCTION sync_queue_count();
    CREATE TRIGGER sync_queue_removed AFTER DELETE ON sync_queue
        FOR EACH ROW EXECUTE FUNCTION sync_queue_count();
    CREATE TRIGGER sync_queue_moved AFTER UPDATE OF state ON sync_queue
        FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
        EXECUTE FUNCTION sync_queue_count();

    -- Start-time fair queuing: a workspace or organization that had nothing queued re-enters
    -- at the virtual time of the last claim at its level, so idling banks no credit.
    CREATE FUNCTION sched_workspace_reenters() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        NEW.vtime := GREATEST(NEW.vtime,
            COALESCE((SELECT ws_floor FROM sched_org WHERE id = NEW.org_id), NEW.vtime));
        RETURN NEW;
    END
    $fn$;
    CREATE TRIGGER sched_workspace_reenters BEFORE UPDATE OF queued ON sched_workspace
        FOR EACH ROW WHEN (OLD.queued = 0 AND NEW.queued > 0)
        EXECUTE FUNCTION sched_workspace_reenters();
    CREATE FUNCTION sched_org_reenters() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        NEW.vtime := GREATEST(NEW.vtime,
            COALESCE((SELECT org_floor FROM sched_global WHERE id = 1), NEW.vtime));
        RETURN NEW;
    END
    $fn$;
    CREATE TRIGGER sched_org_reenters BEFORE UPDATE OF queued ON sched_org
        FOR EACH ROW WHEN (OLD.queued = 0 AND NEW.queued > 0)
        EXECUTE FUNCTION sched_org_reenters();

    -- A run that ends, however it ends, leaves the queue (one that is deleted leaves it by
    -- the foreign key).
    CREATE FUNCTION sync_runs_ended() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        DELETE FROM sync_queue WHERE workspace_id = NEW.workspace_id AND id = NEW.id;
        RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER sync_runs_ended AFTER UPDATE OF status ON sync_runs
        FOR EACH ROW WHEN (NEW.status IN ('succeeded', 'failed', 'cancelled'))
        EXECUTE FUNCTION sync_runs_ended();

    -- Row Level Security. The queue is a tenant table; the counters are organization rows
    -- (a workspace's only to itself while a workspace is set). A claim (`bulkhead.queue =
    -- 'claim'`) may read the queue and the counters of everyone, ids and counters only, and
    -- write none of them: it writes each job in the job's own workspace.
    ALTER TABLE sync_queue ENABLE ROW LEVEL SECURITY;
    ALTER TABLE sync_queue FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_select ON sync_queue FOR SELECT
        USING (workspace_id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid);
    CREATE POLICY tenant_insert ON sync_queue FOR INSERT
        WITH CHECK (workspace_id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid);
    CREATE POLICY tenant_update ON sync_queue FOR UPDATE
        USING (workspace_id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid)
        WITH CHECK (workspace_id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid);
    CREATE POLICY tenant_delete ON sync_queue FOR DELETE
        USING (workspace_id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid);
    CREATE POLICY queue_read ON sync_queue FOR SELECT
        USING (current_setting('bulkhead.queue', true) = 'claim');

    ALTER TABLE sched_workspace ENABLE ROW LEVEL SECURITY;
    ALTER TABLE sched_workspace FORCE ROW LEVEL SECURITY;
    CREATE POLICY org_all ON sched_workspace FOR ALL
        USING (org_id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid
               AND (NULLIF(current_setting('bulkhead.workspace_id', true), '') IS NULL
                    OR id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid))
        WITH CHECK (org_id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid
               AND (NULLIF(current_setting('bulkhead.workspace_id', true), '') IS NULL
                    OR id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid));
    CREATE POLICY queue_read ON sched_workspace FOR SELECT
        USING (current_setting('bulkhead.queue', true) = 'claim');

    ALTER TABLE sched_org ENABLE ROW LEVEL SECURITY;
    ALTER TABLE sched_org FORCE ROW LEVEL SECURITY;
    CREATE POLICY org_all ON sched_org FOR ALL
        USING (id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid)
        WITH CHECK (id = NULLIF(current_setting('bulkhead.org_id', true), '')::uuid);
    CREATE POLICY queue_read ON sched_org FOR SELECT
        USING (current_setting('bulkhead.queue', true) = 'claim');

    -- The floor holds no one's data: any call with an organization or a claim reads and
    -- moves it.
    ALTER TABLE sched_global ENABLE ROW LEVEL SECURITY;
    ALTER TABLE sched_global FORCE ROW LEVEL SECURITY;
    CREATE POLICY scheduler ON sched_global FOR ALL
        USING (NULLIF(current_setting('bulkhead.org_id', true), '') IS NOT NULL
               OR current_setting('bulkhead.queue', true) = 'claim')
        WITH CHECK (NULLIF(current_setting('bulkhead.org_id', true), '') IS NOT NULL
               OR current_setting('bulkhead.queue', true) = 'claim');
    "#,
    // 7: the scheduler's due times.
    SCHEDULES,
    // 8: worker keys. An organization's key has a role: `organization` (every key made
    // before, the organization's full power) or `worker` (the job protocol only; see
    // bulkhead_core::keys). The policies of `org_keys` are unchanged: a lookup by hash reads
    // the role with the row.
    r#"
    ALTER TABLE org_keys ADD COLUMN role text NOT NULL DEFAULT 'organization'
        CHECK (role IN ('organization', 'worker'));
    "#,
];

/// The scheduler (`bulkhead_core::schedules`): each active scheduled connection's next due
/// time, ids and times only. A tenant table (its key starts with `workspace_id`, it
/// references its connection and goes with it), with the tenant policies, plus one for the
/// tick: with `bulkhead.operator = 'scheduler'` a transaction reads every row and moves or
/// removes one, and inserts none. Existing scheduled connections are backfilled in the same
/// transaction ([`backfill_schedules`]).
const SCHEDULES: &str = r#"
    CREATE TABLE sched_connection (
        workspace_id  uuid   NOT NULL,
        connection_id uuid   NOT NULL,
        org_id        uuid   NOT NULL,
        schedule      text   NOT NULL CHECK (schedule <> 'manual'),
        due_at        bigint NOT NULL,
        PRIMARY KEY (workspace_id, connection_id),
        FOREIGN KEY (workspace_id, connection_id) REFERENCES connections (workspace_id, id)
            ON DELETE CASCADE
    );
    CREATE INDEX sched_connection_due ON sched_connection (due_at);
    CREATE INDEX sched_connection_org_due ON sched_connection (org_id, due_at);
    ALTER TABLE sched_connection ENABLE ROW LEVEL SECURITY;
    ALTER TABLE sched_connection FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_select ON sched_connection FOR SELECT
        USING (workspace_id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid);
    CREATE POLICY tenant_insert ON sched_connection FOR INSERT
        WITH CHECK (workspace_id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid);
    CREATE POLICY tenant_update ON sched_connection FOR UPDATE
        USING (workspace_id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid)
        WITH CHECK (workspace_id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid);
    CREATE POLICY tenant_delete ON sched_connection FOR DELETE
        USING (workspace_id = NULLIF(current_setting('bulkhead.workspace_id', true), '')::uuid);
    CREATE POLICY scheduler_select ON sched_connection FOR SELECT
        USING (current_setting('bulkhead.operator', true) = 'scheduler');
    CREATE POLICY scheduler_update ON sched_connection FOR UPDATE
        USING (current_setting('bulkhead.operator', true) = 'scheduler')
        WITH CHECK (current_setting('bulkhead.operator', true) = 'scheduler');
    CREATE POLICY scheduler_delete ON sched_connection FOR DELETE
        USING (current_setting('bulkhead.operator', true) = 'scheduler');
"#;

/// Gives each active scheduled connection its first due time from now, in the migration
/// that made `sched_connection`, as the owner (lifting the policies for itself inside this
/// transaction only, as migration 4 does).
fn backfill_schedules(tx: &mut postgres::Transaction<'_>) -> Result<()> {
    use bulkhead_core::{Clock, Schedule, SystemClock};
    tx.batch_execute(
        "ALTER TABLE connections NO FORCE ROW LEVEL SECURITY;
         ALTER TABLE sched_connection NO FORCE ROW LEVEL SECURITY;",
    )
    .ctx("could not start the schedules' backfill")?;
    let now = SystemClock.now();
    let rows = tx
        .query(
            "SELECT workspace_id, id, org_id, schedule FROM connections
             WHERE status = 'active' AND schedule <> 'manual'",
            &[],
        )
        .ctx("could not read the scheduled connections")?;
    for row in rows {
        let text: String = row.try_get(3).ctx("could not read a schedule")?;
        // A stored schedule that no longer parses stays unscheduled, as the engine would
        // refuse it.
        let Some(due) = Schedule::parse(&text).ok().and_then(|s| s.first_due(now)) else {
            continue;
        };
        let (workspace, id, org): (uuid::Uuid, uuid::Uuid, uuid::Uuid) = (
            row.try_get(0).ctx("could not read a connection")?,
            row.try_get(1).ctx("could not read a connection")?,
            row.try_get(2).ctx("could not read a connection")?,
        );
        tx.execute(
            "INSERT INTO sched_connection (workspace_id, connection_id, org_id, schedule, due_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[&workspace, &id, &org, &text, &due.unix_millis()],
        )
        .ctx("could not store a connection's first due time")?;
    }
    tx.batch_execute(
        "ALTER TABLE connections FORCE ROW LEVEL SECURITY;
         ALTER TABLE sched_connection FORCE ROW LEVEL SECURITY;",
    )
    .ctx("could not end the schedules' backfill")
}

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Checks that `name` is a plain lower-case SQL identifier (it is written into DDL).
pub(crate) fn check_identifier(field: &'static str, name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid = name.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(bulkhead_core::Error::invalid_input(
            field,
            format!(
                "`{name}` is not a plain identifier: use 1 to 63 of a-z, 0-9 and _, not starting with a digit"
            ),
        ))
    }
}

/// Brings the schema `schema` up to [`SCHEMA_VERSION`], as the owner on `client`, creating the
/// schema if it does not exist, and grants the restricted role `app` its rights ([`grant`]),
/// all under the schema's migration lock (concurrent grants on one table can fail with
/// "tuple concurrently updated"). Returns the version.
pub(crate) fn migrate(client: &mut Client, schema: &str, app: &str) -> Result<i64> {
    check_identifier("schema", schema)?;
    check_identifier("restricted role", app)?;
    for index in 0..=MIGRATIONS.len() {
        let mut tx = client.transaction().ctx("could not start a migration")?;
        // One migrating process per schema at a time, whatever the schema's state.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('bulkhead migrations: ' || $1::text))",
            &[&schema],
        )
        .ctx("could not take the migration lock")?;
        // `CREATE SCHEMA IF NOT EXISTS` needs the right to create schemas even when the
        // schema exists, which an owner given its schema by `provision` does not have.
        let exists = tx
            .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
            .ctx("could not look up the schema")?
            .is_some();
        if !exists {
            tx.batch_execute(&format!("CREATE SCHEMA {schema}"))
                .ctx("could not create the schema")?;
        }
        tx.batch_execute(&format!(
            "SET LOCAL search_path = {schema};
             CREATE TABLE IF NOT EXISTS bulkhead_migrations (
                 version    bigint NOT NULL PRIMARY KEY,
                 applied_at bigint NOT NULL
             );"
        ))
        .ctx("could not create the migrations table")?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM bulkhead_migrations",
                &[],
            )
            .ctx("could not read the schema version")?
            .try_get(0)
            .ctx("could not read the schema version")?;
        if current > SCHEMA_VERSION {
            return Err(newer(current));
        }
        let Some(sql) = MIGRATIONS.get(index) else {
            tx.batch_execute(&grants(schema, app))
                .ctx("could not grant the restricted role its rights")?;
            tx.commit().ctx("could not commit")?;
            return Ok(current);
        };
        let version = i64::try_from(index).unwrap_or(i64::MAX).saturating_add(1);
        if current >= version {
            tx.commit().ctx("could not commit")?;
            continue;
        }
        tx.batch_execute(sql)
            .ctx(format_args!("migration {version} failed"))?;
        if *sql == SCHEDULES {
            backfill_schedules(&mut tx)?;
        }
        tx.execute(
            "INSERT INTO bulkhead_migrations (version, applied_at)
             VALUES ($1, extract(epoch FROM now())::bigint)",
            &[&version],
        )
        .ctx("could not record a migration")?;
        tx.commit().ctx("could not commit a migration")?;
        tracing::info!(target: "bulkhead::postgres", version, schema, "applied migration");
    }
    Ok(SCHEMA_VERSION)
}

fn newer(current: i64) -> bulkhead_core::Error {
    StorageError::new(format!(
        "the database has schema version {current}, newer than this build of bulkhead understands ({SCHEMA_VERSION}); upgrade bulkhead"
    ))
    .into()
}

/// What the restricted role `app` gets in `schema` (both checked identifiers): use of the
/// schema, select, insert, update and delete on its tables (reading the migrations only,
/// appending to the audit log only), and numbers from its sequences (fencing tokens).
/// Nothing else: it cannot create, alter or own anything, so it cannot turn a policy off.
fn grants(schema: &str, app: &str) -> String {
    format!(
        "GRANT USAGE ON SCHEMA {schema} TO {app};
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app};
         REVOKE INSERT, UPDATE, DELETE ON {schema}.bulkhead_migrations FROM {app};
         REVOKE UPDATE, DELETE ON {schema}.audit_log FROM {app};
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {app};"
    )
}

/// The schema version as the restricted role sees it; an error when the schema is missing,
/// older or newer than this build.
pub(crate) fn check_version(client: &mut Client) -> Result<i64> {
    let current: i64 = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM bulkhead_migrations",
            &[],
        )
        .map_err(|e| {
            StorageError::with_source(
                "could not read the schema version (is the schema migrated? connect once with the owner's URL)",
                e,
            )
        })?
        .try_get(0)
        .ctx("could not read the schema version")?;
    if current > SCHEMA_VERSION {
        return Err(newer(current));
    }
    if current < SCHEMA_VERSION {
        return Err(StorageError::new(format!(
            "the database has schema version {current}, older than this build ({SCHEMA_VERSION}); connect once with the owner's URL to migrate it"
        ))
        .into());
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use postgres::NoTls;

    use super::*;
    use crate::test_server::{APP, OWNER};

    /// A new schema of the test server migrated to `version` as its owner, holding an
    /// organization, its workspace, a source and a destination (ids ending `01` to `04`):
    /// an administrator's client (a superuser, past the policies, its `search_path` on the
    /// schema), the owner's client, and the schema's name.
    fn schema_at(version: usize) -> (Client, Client, String) {
        let server = crate::test_server::server();
        let schema = format!(
            "bhm_{}_{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        let mut admin = Client::connect(server.admin_url(), NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema} AUTHORIZATION {OWNER}"))
            .unwrap();
        let mut owner = Client::connect(&server.url_for(OWNER), NoTls).unwrap();
        let mut tx = owner.transaction().unwrap();
        tx.batch_execute(&format!(
            "SET LOCAL search_path = {schema};
             CREATE TABLE bulkhead_migrations (
                 version bigint NOT NULL PRIMARY KEY, applied_at bigint NOT NULL)"
        ))
        .unwrap();
        for (index, sql) in MIGRATIONS.iter().take(version).enumerate() {
            tx.batch_execute(sql).unwrap();
            let version = i64::try_from(index).unwrap() + 1;
            tx.execute(
                "INSERT INTO bulkhead_migrations VALUES ($1, 0)",
                &[&version],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        let id = |n: u8| format!("'00000000-0000-4000-8000-0000000000{n:02x}'");
        let (org, ws, src, dst) = (id(1), id(2), id(3), id(4));
        admin
            .batch_execute(&format!(
                "SET search_path = {schema};
                 INSERT INTO organizations (id, name, created_at) VALUES ({org}, 'Acme', 5);
                 INSERT INTO workspaces (id, org_id, external_id, name, status, created_at, updated_at)
                     VALUES ({ws}, {org}, 'cust-1', 'cust-1', 'active', 6, 7);
                 INSERT INTO sources (workspace_id, id, org_id, name, connector, config, created_at, updated_at)
                     VALUES ({ws}, {src}, {org}, 's', 'faker', '{{}}', 8, 8);
                 INSERT INTO destinations (workspace_id, id, org_id, name, connector, config, created_at, updated_at)
                     VALUES ({ws}, {dst}, {org}, 'd', 'dev-null', '{{}}', 8, 8);"
            ))
            .unwrap();
        (admin, owner, schema)
    }

    /// A schema from before the one-running-sync rule (version 3) may hold several running
    /// runs of one connection: migrating, as the owner (held to the policies by FORCE),
    /// ends all but the latest as cancelled, keeps the others as they were, restores FORCE,
    /// and then the database refuses a second running run.
    #[test]
    fn version_3_schema_with_duplicate_running_runs_migrates() {
        let (mut admin, mut owner, schema) = schema_at(3);
        // Rows as the administrator (a superuser, past the policies).
        let id = |n: u8| format!("'00000000-0000-4000-8000-0000000000{n:02x}'");
        let (org, ws, src, dst, c, k) = (id(1), id(2), id(3), id(4), id(5), id(6));
        admin
            .batch_execute(&format!(
                "SET search_path = {schema};
                 INSERT INTO connections (workspace_id, id, org_id, name, source_id, destination_id, status, schedule, created_at, updated_at)
                     VALUES ({ws}, {c}, {org}, 'c', {src}, {dst}, 'active', 'manual', 9, 9),
                            ({ws}, {k}, {org}, 'k', {src}, {dst}, 'active', 'manual', 9, 9);
                 INSERT INTO sync_runs (workspace_id, id, org_id, connection_id, status, started_at, rows_synced, bytes_synced)
                     VALUES ({ws}, {r10}, {org}, {c}, 'running', 10, 0, 0),
                            ({ws}, {r11}, {org}, {c}, 'running', 12, 0, 0),
                            ({ws}, {r12}, {org}, {c}, 'running', 12, 0, 0),
                            ({ws}, {r13}, {org}, {c}, 'succeeded', 13, 1, 1),
                            ({ws}, {r14}, {org}, {k}, 'running', 11, 0, 0);",
                r10 = id(0x10),
                r11 = id(0x11),
                r12 = id(0x12),
                r13 = id(0x13),
                r14 = id(0x14),
            ))
            .unwrap();

        assert_eq!(migrate(&mut owner, &schema, APP).unwrap(), SCHEMA_VERSION);

        let runs: Vec<(String, String, bool)> = admin
            .query(
                "SELECT right(id::text, 2), status, finished_at IS NOT NULL FROM sync_runs ORDER BY id",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let expect =
            |id: &str, status: &str, finished: bool| (id.to_owned(), status.to_owned(), finished);
        assert_eq!(
            runs,
            vec![
                expect("10", "cancelled", true),
                expect("11", "cancelled", true),
                // The latest (by start, then id) runs on.
                expect("12", "running", false),
                expect("13", "succeeded", false),
                expect("14", "running", false),
            ]
        );
        let forced: bool = admin
            .query_one(
                "SELECT relforcerowsecurity FROM pg_class
                 WHERE oid = to_regclass($1)",
                &[&format!("{schema}.sync_runs")],
            )
            .unwrap()
            .get(0);
        assert!(
            forced,
            "the migration left sync_runs without FORCE ROW LEVEL SECURITY"
        );
        let second = admin.execute(
            &format!(
                "INSERT INTO sync_runs (workspace_id, id, org_id, connection_id, status, started_at, rows_synced, bytes_synced)
                 VALUES ({ws}, {r}, {org}, {k}, 'running', 14, 0, 0)",
                r = id(0x15)
            ),
            &[],
        );
        assert!(second.is_err(), "a second running run was stored");
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
    }

    /// A schema from before the queue (version 5) may hold pending runs, which nothing would
    /// run, and several live runs of one connection: migrating ends every pending run and
    /// all but the latest live run of a connection as cancelled, and then the database
    /// refuses a second live (pending or running) run.
    #[test]
    fn version_5_schema_with_pending_and_duplicate_live_runs_migrates() {
        let (mut admin, mut owner, schema) = schema_at(5);
        let id = |n: u8| format!("'00000000-0000-4000-8000-0000000000{n:02x}'");
        let (org, ws, src, dst, c, k) = (id(1), id(2), id(3), id(4), id(5), id(6));
        admin
            .batch_execute(&format!(
                "SET search_path = {schema};
                 INSERT INTO connections (workspace_id, id, org_id, name, source_id, destination_id, status, schedule, created_at, updated_at)
                     VALUES ({ws}, {c}, {org}, 'c', {src}, {dst}, 'active', 'manual', 9, 9),
                            ({ws}, {k}, {org}, 'k', {src}, {dst}, 'active', 'manual', 9, 9);
                 INSERT INTO sync_runs (workspace_id, id, org_id, connection_id, status, started_at, rows_synced, bytes_synced)
                     VALUES ({ws}, {r10}, {org}, {c}, 'pending', 10, 0, 0),
                            ({ws}, {r11}, {org}, {c}, 'running', 12, 0, 0),
                            ({ws}, {r12}, {org}, {c}, 'succeeded', 13, 1, 1),
                            ({ws}, {r13}, {org}, {k}, 'pending', 11, 0, 0);",
                r10 = id(0x10),
                r11 = id(0x11),
                r12 = id(0x12),
                r13 = id(0x13),
            ))
            .unwrap();

        assert_eq!(migrate(&mut owner, &schema, APP).unwrap(), SCHEMA_VERSION);

        let runs: Vec<(String, String)> = admin
            .query(
                "SELECT right(id::text, 2), status FROM sync_runs ORDER BY id",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let expect = |id: &str, status: &str| (id.to_owned(), status.to_owned());
        assert_eq!(
            runs,
            vec![
                // Pending beside a later running run, and pending with no queue row.
                expect("10", "cancelled"),
                expect("11", "running"),
                expect("12", "succeeded"),
                expect("13", "cancelled"),
            ]
        );
        let pending = admin.execute(
            &format!(
                "INSERT INTO sync_runs (workspace_id, id, org_id, connection_id, status, started_at, rows_synced, bytes_synced)
                 VALUES ({ws}, {r}, {org}, {c}, 'pending', 14, 0, 0)",
                r = id(0x15)
            ),
            &[],
        );
        assert!(
            pending.is_err(),
            "a pending run was stored beside a running one"
        );
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
    }

    /// A schema from before the scheduler (version 6) gets a due time for each active
    /// scheduled connection when it is migrated, from the migration's time, and none for a
    /// manual or inactive one.
    #[test]
    fn version_6_schema_gets_due_times_for_its_scheduled_connections() {
        let (mut admin, mut owner, schema) = schema_at(6);
        let id = |n: u8| format!("'00000000-0000-4000-8000-0000000000{n:02x}'");
        let (org, ws, src, dst) = (id(1), id(2), id(3), id(4));
        admin
            .batch_execute(&format!(
                "SET search_path = {schema};
                 INSERT INTO connections (workspace_id, id, org_id, name, source_id, destination_id, status, schedule, created_at, updated_at)
                     VALUES ({ws}, {c5}, {org}, 'cron', {src}, {dst}, 'active', '0 * * * *', 9, 9),
                            ({ws}, {c6}, {org}, 'manual', {src}, {dst}, 'active', 'manual', 9, 9),
                            ({ws}, {c7}, {org}, 'paused', {src}, {dst}, 'inactive', '0 * * * *', 9, 9),
                            ({ws}, {c8}, {org}, 'every', {src}, {dst}, 'active', 'every 2 hours', 9, 9);",
                c5 = id(5),
                c6 = id(6),
                c7 = id(7),
                c8 = id(8),
            ))
            .unwrap();

        let before = bulkhead_core::Clock::now(&bulkhead_core::SystemClock).unix_millis();
        assert_eq!(migrate(&mut owner, &schema, APP).unwrap(), SCHEMA_VERSION);
        let after = bulkhead_core::Clock::now(&bulkhead_core::SystemClock).unix_millis();

        let rows: Vec<(String, String, i64)> = admin
            .query(
                "SELECT right(connection_id::text, 2), schedule, due_at FROM sched_connection
                 ORDER BY connection_id",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        assert_eq!(rows.len(), 2, "{rows:?}");
        let (id5, text, due) = &rows[0];
        assert_eq!((id5.as_str(), text.as_str()), ("05", "0 * * * *"));
        // The next whole hour after the migration ran.
        assert_eq!(due % 3_600_000, 0);
        assert!(*due > before && *due <= after + 3_600_000, "{rows:?}");
        let (id8, text, due) = &rows[1];
        assert_eq!((id8.as_str(), text.as_str()), ("08", "every 2 hours"));
        assert!(
            *due >= before + 7_200_000 && *due <= after + 7_200_000,
            "{rows:?}"
        );
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
    }
}
