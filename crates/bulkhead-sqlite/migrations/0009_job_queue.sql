-- 9: the job queue (bulkhead_core::jobs). A job is a sync run; the queue tables hold ids
-- and counters only. At most one pending or running run per connection (a queued job
-- counts like a running run); runs left pending side by side are ended as cancelled, all
-- but the latest.

    UPDATE sync_runs SET status = 'cancelled', finished_at = unixepoch() * 1000
    WHERE status IN ('pending', 'running') AND EXISTS (
        SELECT 1 FROM sync_runs AS later
        WHERE later.workspace_id = sync_runs.workspace_id
          AND later.connection_id = sync_runs.connection_id
          AND later.status IN ('pending', 'running')
          AND (later.started_at > sync_runs.started_at
               OR (later.started_at = sync_runs.started_at AND later.id > sync_runs.id)));
    -- Pending runs from before the queue had no queue row: nothing would run them.
    UPDATE sync_runs SET status = 'cancelled', finished_at = unixepoch() * 1000
    WHERE status = 'pending';
    DROP INDEX sync_runs_one_running;
    CREATE UNIQUE INDEX sync_runs_one_live ON sync_runs (workspace_id, connection_id)
        WHERE status IN ('pending', 'running');

    -- The fencing-token counter and the organizations' virtual-time floor: one row.
    CREATE TABLE sched_global (
        id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
        last_token INTEGER NOT NULL CHECK (last_token >= 0),
        org_floor  INTEGER NOT NULL
    ) STRICT;
    INSERT INTO sched_global (id, last_token, org_floor) VALUES (1, 0, 0);

    CREATE TABLE sched_org (
        id       BLOB    NOT NULL PRIMARY KEY,
        weight   INTEGER NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
        cap      INTEGER CHECK (cap IS NULL OR cap > 0),
        vtime    INTEGER NOT NULL DEFAULT 0,
        ws_floor INTEGER NOT NULL DEFAULT 0,
        queued   INTEGER NOT NULL DEFAULT 0 CHECK (queued >= 0),
        running  INTEGER NOT NULL DEFAULT 0 CHECK (running >= 0)
    ) STRICT;
    CREATE INDEX sched_org_ready ON sched_org (vtime, id) WHERE queued > 0;

    CREATE TABLE sched_workspace (
        id      BLOB    NOT NULL PRIMARY KEY,
        org_id  BLOB    NOT NULL,
        weight  INTEGER NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
        cap     INTEGER CHECK (cap IS NULL OR cap > 0),
        vtime   INTEGER NOT NULL DEFAULT 0,
        queued  INTEGER NOT NULL DEFAULT 0 CHECK (queued >= 0),
        running INTEGER NOT NULL DEFAULT 0 CHECK (running >= 0)
    ) STRICT;
    CREATE INDEX sched_workspace_ready ON sched_workspace (org_id, vtime, id) WHERE queued > 0;

    CREATE TABLE sync_queue (
        id            BLOB    NOT NULL PRIMARY KEY,
        org_id        BLOB    NOT NULL,
        workspace_id  BLOB    NOT NULL,
        connection_id BLOB    NOT NULL,
        state         TEXT    NOT NULL CHECK (state IN ('scheduled', 'queued', 'running')),
        attempt       INTEGER NOT NULL CHECK (attempt >= 0),
        max_attempts  INTEGER NOT NULL CHECK (max_attempts > 0),
        run_at        INTEGER NOT NULL,
        lease_token   INTEGER,
        lease_until   INTEGER,
        worker        TEXT,
        CHECK ((state = 'running') = (lease_token IS NOT NULL AND lease_until IS NOT NULL))
    ) STRICT;
    CREATE UNIQUE INDEX sync_queue_one_live ON sync_queue (workspace_id, connection_id);
    CREATE INDEX sync_queue_ready ON sync_queue (workspace_id, run_at, id)
        WHERE state = 'queued';
    CREATE INDEX sync_queue_scheduled ON sync_queue (run_at) WHERE state = 'scheduled';
    CREATE INDEX sync_queue_leases ON sync_queue (lease_until) WHERE state = 'running';

    -- The counters follow the queue rows whatever writes them (a claim, a cancel, a
    -- connection or workspace deleted with its runs).
    CREATE TRIGGER sync_queue_added AFTER INSERT ON sync_queue BEGIN
        INSERT OR IGNORE INTO sched_org (id) VALUES (NEW.org_id);
        INSERT OR IGNORE INTO sched_workspace (id, org_id) VALUES (NEW.workspace_id, NEW.org_id);
        UPDATE sched_workspace SET queued = queued + (NEW.state = 'queued'),
            running = running + (NEW.state = 'running') WHERE id = NEW.workspace_id;
        UPDATE sched_org SET queued = queued + (NEW.state = 'queued'),
            running = running + (NEW.state = 'running') WHERE id = NEW.org_id;
    END;
    CREATE TRIGGER sync_queue_removed AFTER DELETE ON sync_queue BEGIN
        UPDATE sched_workspace SET queued = queued - (OLD.state = 'queued'),
            running = running - (OLD.state = 'running') WHERE id = OLD.workspace_id;
        UPDATE sched_org SET queued = queued - (OLD.state = 'queued'),
            running = running - (OLD.state = 'running') WHERE id = OLD.org_id;
    END;
    CREATE TRIGGER sync_queue_moved AFTER UPDATE OF state ON sync_queue
    WHEN OLD.state IS NOT NEW.state BEGIN
        UPDATE sched_workspace
            SET queued = queued - (OLD.state = 'queued') + (NEW.state = 'queued'),
                running = running - (OLD.state = 'running') + (NEW.state = 'running')
            WHERE id = NEW.workspace_id;
        UPDATE sched_org
            SET queued = queued - (OLD.state = 'queued') + (NEW.state = 'queued'),
                running = running - (OLD.state = 'running') + (NEW.state = 'running')
            WHERE id = NEW.org_id;
    END;
    -- Start-time fair queuing: a workspace or organization that had nothing queued re-enters
    -- at the virtual time of the last claim at its level, so idling banks no credit.
    CREATE TRIGGER sched_workspace_reenters AFTER UPDATE OF queued ON sched_workspace
    WHEN OLD.queued = 0 AND NEW.queued > 0 BEGIN
        UPDATE sched_workspace
            SET vtime = max(vtime,
                coalesce((SELECT ws_floor FROM sched_org WHERE id = NEW.org_id), vtime))
            WHERE id = NEW.id;
    END;
    CREATE TRIGGER sched_org_reenters AFTER UPDATE OF queued ON sched_org
    WHEN OLD.queued = 0 AND NEW.queued > 0 BEGIN
        UPDATE sched_org
            SET vtime = max(vtime, coalesce((SELECT org_floor FROM sched_global), vtime))
            WHERE id = NEW.id;
    END;
    -- A run that ends, however it ends, or is deleted leaves the queue.
    CREATE TRIGGER sync_runs_ended AFTER UPDATE OF status ON sync_runs
    WHEN NEW.status IN ('succeeded', 'failed', 'cancelled') BEGIN
        DELETE FROM sync_queue WHERE id = NEW.id;
    END;
    CREATE TRIGGER sync_runs_removed AFTER DELETE ON sync_runs BEGIN
        DELETE FROM sync_queue WHERE id = OLD.id;
    END;
    