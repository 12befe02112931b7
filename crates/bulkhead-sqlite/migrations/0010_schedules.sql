-- 10: the scheduler (bulkhead_core::schedules): each active scheduled connection's next
-- due time, ids and times only; the tick reads it across tenants by due time. The
-- connections scheduled before this migration get their first due time from the
-- migration's time (`crate::schedules::backfill`).

    CREATE TABLE sched_connection (
        workspace_id  BLOB    NOT NULL,
        connection_id BLOB    NOT NULL,
        org_id        BLOB    NOT NULL,
        schedule      TEXT    NOT NULL CHECK (schedule <> 'manual'),
        due_at        INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, connection_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX sched_connection_due ON sched_connection (due_at);
    CREATE INDEX sched_connection_org_due ON sched_connection (org_id, due_at);
    -- A connection paused (by itself or with its workspace) or deleted, however it happens,
    -- has nothing due.
    CREATE TRIGGER connections_paused_unscheduled AFTER UPDATE OF status ON connections
    WHEN NEW.status <> 'active' BEGIN
        DELETE FROM sched_connection
        WHERE workspace_id = NEW.workspace_id AND connection_id = NEW.id;
    END;
    CREATE TRIGGER connections_removed_unscheduled AFTER DELETE ON connections BEGIN
        DELETE FROM sched_connection
        WHERE workspace_id = OLD.workspace_id AND connection_id = OLD.id;
    END;
    