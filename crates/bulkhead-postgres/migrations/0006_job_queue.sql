-- 6: the job queue (bulkhead_core::jobs, crate::jobs), what SQLite's migration 9 makes.
-- A job is a sync run; the queue tables hold ids and counters only. At most one pending
-- or running run per connection (a queued job counts like a running run): runs left
-- pending or running side by side are ended as cancelled, all but the latest, and
-- pending runs from before the queue (which nothing would run) too.

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
    